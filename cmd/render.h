/* Words for the engine's records: the plan, each host's result, the recap. */
#ifndef SPAMSTOP_CMD_RENDER_H
#define SPAMSTOP_CMD_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/buf.h"
#include "spamstop/engine.h"
#include "spamstop/fleet.h"
#include "spamstop/playbook.h"

/*
 * What a host is called in the output: its state, except "clean" for a
 * host where no change was (or, dry-run, would be) made.
 */
const char *render_host_label(const struct engine_host *h,
                              const struct playbook *pb);

/*
 * Appends host h's block to out: the accounts once, then per step what
 * will be done (a plan) or what was done, with times (a result).  Remote
 * text is shown cleaned.  verbose 1 adds the commands and the steps that
 * did not run.  -1 when out of memory.
 */
int render_host(struct buf *out, const struct engine_host *h,
                const struct playbook *pb, int verbose);

/*
 * Appends the confirmation summary of a plan pass: per host the
 * passwords to set, the messages to hold and keep, the pivots.
 */
int render_plan_summary(struct buf *out, const struct engine_host *hosts,
                        size_t n, const struct playbook *pb);

/* A host's counts for the recap, from its records. */
struct render_counts {
    unsigned ok, changed, contained, failed, unreachable, skipped;
};

void render_count(struct render_counts *out, const struct engine_host *h,
                  const struct playbook *pb);

/*
 * Appends the recap: a heading with the run id, one line per host
 * (label, coloured with color, counts, time); follow(arg, host) appends the
 * command that finishes a host that is not finished (NULL: none).
 */
int render_recap(struct buf *out, const char *what, const char *run_id,
                 const struct engine_host *hosts, size_t n,
                 const struct playbook *pb, bool color,
                 int (*follow)(struct buf *out, void *arg,
                               const struct engine_host *h),
                 void *arg);

/* How much of the fleet picture the terminal gets (--json gets more). */
#define RENDER_FLEET_LINES 10 /* accounts and values, then "and N more" */
#define RENDER_FLEET_SEEN  4  /* hosts and accounts named per value */
#define RENDER_FLEET_HOSTS 8  /* hosts named per account */
#define RENDER_FLEET_CUT   80 /* bytes of a value, a subject, a name */

/*
 * Appends the fleet picture f (engine_fleet), nothing when it is empty:
 * "Fleet: ...", the accounts flagged on several hosts ("one notice"),
 * then the values they share, at most RENDER_FLEET_LINES lines.  Remote
 * text cleaned and cut.  -1 when out of memory.
 */
int render_fleet(struct buf *out, const struct fleet *f);

/* Appends "HH:MM:SS" (UTC) of a wall clock time in milliseconds. */
int render_clock(struct buf *out, long long ms);

#endif
