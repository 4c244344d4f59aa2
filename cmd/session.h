/* One run as respond, rollback and resume drive it: hosts, view, trail. */
#ifndef SPAMSTOP_CMD_SESSION_H
#define SPAMSTOP_CMD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cmd.h"
#include "spamstop/audit.h"
#include "spamstop/engine.h"
#include "spamstop/playbook.h"
#include "spamstop/rundir.h"

struct progress;

/*
 * What one command's engine passes share; also the argument of the
 * engine's callbacks.  session_release frees what it points to.
 */
struct session {
    struct rundir *rd;
    struct playbook *pb;
    struct audit *audit; /* its anchor goes into run.json */
    struct executor *ex;
    struct engine_host *hosts;
    size_t n;
    size_t cap; /* hosts allocated (session_reserve) */
    char **names;
    struct engine_opts eo;
    /* the view */
    bool json;
    bool dry_run;          /* the engine pass running now is a dry run */
    bool save;             /* update run.json as hosts end */
    struct progress *prog; /* counts for the recap; live view on a TTY */
    bool live;             /* stderr is a terminal: live view, recap table */
    bool color;            /* stdout may be coloured */
    const char *state_dir; /* --state-dir as given, for the resume hint */
    int verbose;           /* -v: remote commands; -vv: their output */
    bool stamp_out;        /* stdout is no terminal: UTC time per line */
    bool stamp_err;        /* the same for stderr */
    /* respond: its command line without the hosts (a host that must run
       again is appended); NULL for rollback and resume */
    char *rerun;
};

void session_init(struct session *s);
void session_release(struct session *s);

/* Makes room for max hosts; -1 (message printed) when out of memory. */
int session_reserve(struct session *s, size_t max);

/*
 * Adds a host, reached as t says (copied), or by name alone when t is
 * NULL (runs recorded before targets were); -1 (printed) on ENOMEM.
 */
int session_add_host(struct session *s, const struct exec_target *t,
                     const char *name, enum host_state state);

/*
 * With s->rd, s->pb and the hosts set: opens the trail, makes the
 * executor, catches SIGINT/SIGTERM, sets up the view and the engine's
 * options.  -1 with the message printed.
 */
int session_start(struct session *s, const struct cmd_opts *co,
                  bool use_syslog);

/* An engine entry point: engine_respond, engine_rollback, engine_resume. */
typedef int (*session_engine_fn)(struct engine_host *hosts, size_t n,
                                 const struct engine_opts *o,
                                 struct errbuf *err);

/* Runs one engine pass in the view; -1 with the message printed. */
int session_pass(struct session *s, const char *what, bool dry_run,
                 session_engine_fn fn);

/* Whether SIGINT or SIGTERM came. */
bool session_interrupted(void);

/* The run's outcome word for run.json ("committed", "contained", ...). */
const char *session_outcome(const struct engine_host *h, size_t n,
                            bool dry_run);

/* The exit code for the hosts' states (docs/exit-codes.md). */
int session_exit(const struct engine_host *h, size_t n, bool rolled_back_ok);

/* Records the outcome, the end time and the trail's anchor in run.json. */
void session_save(struct session *s, const char *outcome);

/* Prints each host's outcome and the recap (--json: the run-end event). */
void session_recap(const struct session *s, const char *what,
                   const char *outcome, int code);

/* Prints the confirmation summary of the plan pass; -1 on ENOMEM. */
int session_plan_summary(const struct session *s);

/*
 * Writes text on f, each line after the UTC time when stamp (a log
 * without a terminal); one write per line.
 */
void session_write(FILE *f, bool stamp, const char *text, size_t len);

/* session_save, then the recap, then the syslog line. */
void session_finish(struct session *s, const char *what, const char *outcome,
                    int code);

#endif
