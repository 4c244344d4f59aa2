/* The terminal view of a run: live per-host lines, the recap, syslog. */
#ifndef SPAMSTOP_PROGRESS_H
#define SPAMSTOP_PROGRESS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "spamstop/engine.h"
#include "spamstop/playbook.h"

struct progress;

/* Least time between two redraws of the live view, in milliseconds. */
#define PROGRESS_REDRAW_MS 100

/*
 * Whether to colour output on fd: a terminal, NO_COLOR unset (any value
 * turns colour off, also empty) and TERM set and not "dumb".
 */
bool progress_want_color(int fd);

/* Whether fd can hold a live view (a terminal whose TERM is not "dumb"). */
bool progress_want_live(int fd);

/*
 * A view of n hosts (names copied) for playbook pb.  With live, it draws
 * one line per host on f and redraws them in place; without, it only
 * counts.  The caller frees it with progress_free.
 */
int progress_new(struct progress **out, FILE *f, const char *const *hosts,
                 size_t n, const struct playbook *pb, bool live, bool color);

/*
 * The live view also says "interrupted" once *stop is set (the first
 * SIGINT); stop may be NULL.
 */
void progress_watch_stop(struct progress *p, volatile sig_atomic_t *stop);

/* Clears the counters and states for another engine pass (plan, then run). */
void progress_reset(struct progress *p, bool dry_run);

/* Starts the ticker that keeps elapsed times moving (live views only). */
void progress_start(struct progress *p);

/* Takes one engine event (any thread). */
void progress_event(struct progress *p, const struct engine_event *ev);

/* Stops the ticker and draws the final state of every host. */
void progress_stop(struct progress *p);

/* The colour escape for a host's final state or label ("clean"). */
const char *progress_state_color(const char *state);

/* NULL-safe. */
void progress_free(struct progress *p);

/*
 * Copies s into out (size > 0) with control and non-ASCII bytes shown as
 * '?', cut to fit.  For remote text on a terminal or in syslog.
 */
void progress_clean(char *out, size_t size, const char *s);

/* Opens syslog for --syslog (ident "spamstop", LOG_AUTHPRIV). */
void progress_syslog_open(void);

/*
 * Sends one engine event to syslog as one line (run, host, step, phase,
 * result); events that are not step or host ends are not sent.
 */
void progress_syslog_event(const char *run_id, const struct engine_event *ev);

/* Sends one line about the run itself (start or end) to syslog. */
void progress_syslog_run(const char *run_id, const char *what,
                         const char *outcome, int exit_code);

/* Closes syslog; harmless when it was not opened. */
void progress_syslog_close(void);

#endif
