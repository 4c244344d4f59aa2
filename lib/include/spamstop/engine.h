/* The run engine: per-host sagas over a playbook, rollback and resume. */
#ifndef SPAMSTOP_ENGINE_H
#define SPAMSTOP_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spamstop/audit.h"
#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/exec.h"
#include "spamstop/fleet.h"
#include "spamstop/journal.h"
#include "spamstop/playbook.h"

/*
 * The built-in actions, for playbook_load and playbook_parse_string:
 * fills *out for the action called name; SS_ENOENT when there is none.
 */
int engine_action_lookup(struct playbook_action *out, const char *name);

/* Where a host ended. */
enum host_state {
    HOST_PENDING = 0, /* not started (yet) */
    HOST_COMMITTED,   /* every step and the commit phase succeeded */
    HOST_ROLLED_BACK, /* a step failed; every change was undone */
    HOST_ATTENTION,   /* an undo or commit failed, a step after a pivot
                         failed, or the journal could not be written */
    HOST_UNREACHABLE, /* could not connect or log in */
    HOST_REFUSED,     /* host key refused or locked by another run */
    HOST_SKIPPED,     /* not started: --max-fail or interrupted */
    HOST_DRY_RUN,     /* dry-run done: plan shown, nothing changed */
    HOST_NOTHING,     /* rollback/resume: nothing left to do */
    HOST_CONTAINED,   /* failed or interrupted after containment began:
                         containment kept (new passwords, spam on hold),
                         the rest undone; resume finishes it */
};

/* "committed", "rolled-back", "needs-attention", ... */
const char *host_state_name(enum host_state s);
/* Inverse of host_state_name; -1 when unknown. */
int host_state_parse(const char *s);

/* A number about a host (action_set_fact). */
#define ENGINE_FACTS_MAX    8
#define ENGINE_FACT_KEY_MAX 31
struct engine_fact {
    char key[ENGINE_FACT_KEY_MAX + 1];
    long long value;
};

/*
 * One thing a step states about a host, as data (action_note), for the
 * CLI to put in words: the plan's future or the result's past, --json, the
 * report.  A key the CLI does not know is shown as it is, so a new
 * action's notes need no change in cmd/.
 */
#define ENGINE_NOTE_KEY_MAX 31
struct engine_note {
    char key[ENGINE_NOTE_KEY_MAX + 1]; /* "hold", "password", "service", .. */
    char *subject;   /* what it is about (an account, a service), or NULL */
    long long value; /* a count (milliseconds when key ends in "_ms"); -1
                        when it has none */
    char *text;      /* a word or short phrase (remote text: show it
                        cleaned), or NULL */
};

/* How closely identify looked at an account. */
enum engine_account_level {
    ENGINE_ACCOUNT_SEEN = 0, /* listed for its numbers only */
    ENGINE_ACCOUNT_WATCH,    /* at half a threshold: listed, not acted on */
    ENGINE_ACCOUNT_FLAGGED,  /* acted on: password, hold */
};

/* A value identify counted for an account, with its messages. */
struct engine_value {
    char *value;
    long long messages;
};

/* An account's most frequent values of one kind, most messages first. */
#define ENGINE_VALUES_MAX 10
struct engine_values {
    struct engine_value *v;
    size_t n; /* at most ENGINE_VALUES_MAX */
};

/* An account that queued mail on a host, as identify counted it. */
struct engine_account {
    char *address;
    enum engine_account_level level;
    long long messages; /* queued */
    int share_permille; /* of the queue */
    long long clients;  /* distinct client addresses */
    char *top_client;   /* the most frequent one, or NULL */
    long long top_client_messages;
    char *why; /* watched or flagged: the reason with its numbers */
    /* flagged: its most frequent client addresses, HELO names and
       subjects (remote text: show it cleaned), for the fleet picture */
    struct engine_values top_clients, helos, subjects;
};

/* What one identify pass read on a host (the last pass is the one shown). */
struct engine_survey {
    long long queued, authenticated, scripted, other;
    long long unchanged;   /* a later pass: files not read again; -1 first */
    long long to_hold;     /* flagged accounts' messages and backscatter */
    long long backscatter; /* bounces of that spam, held with it */
    long long stay;        /* every other queued message: stays */
    long long flagged;     /* accounts flagged */
    long long anomalies, incomplete;
    char *log_source;  /* the mail log read, or NULL */
    char *log_missing; /* NULL, or why no log was read */
    long long log_records, log_hours, log_accounts;
    bool log_cut; /* the log was cut at its cap: lower bounds */
    /* the thresholds that flag an account */
    long long min_messages, min_share_pct, log_min_messages, log_min_clients;
    struct engine_account *accounts; /* flagged first, then by messages */
    size_t naccounts;
};

/* Where a step of a host got to in one pass. */
enum engine_step_status {
    ENGINE_STEP_NOT_RUN = 0,  /* not reached */
    ENGINE_STEP_PLANNED,      /* dry-run: a change it would make */
    ENGINE_STEP_READ,         /* a read-only step ran */
    ENGINE_STEP_SKIPPED,      /* not run: its "when" (why) */
    ENGINE_STEP_DONE,         /* a change was made */
    ENGINE_STEP_FAILED,       /* failed (why) */
    ENGINE_STEP_UNDONE,       /* done, then undone */
    ENGINE_STEP_KEPT,         /* done, and its undo kept it on purpose */
    ENGINE_STEP_UNDO_FAILED,  /* its undo failed (why) */
    ENGINE_STEP_COMMITTED,    /* done, and its commit ran */
    ENGINE_STEP_COMMIT_FAILED /* its commit failed (why) */
};

/* "planned", "read", "skipped", "done", ... (--json). */
const char *engine_step_status_name(enum engine_step_status s);

/* What one step did (or, dry-run, would do) on one host in this pass. */
struct engine_step_rec {
    enum engine_step_status status;
    char *why;       /* skipped, failed: why; NULL */
    char *pivot_why; /* a pivot on this host only: why; NULL */
    /* wall clock, milliseconds since the epoch; 0 when it did not run */
    long long start_ms, end_ms;
    struct engine_note *notes;
    size_t nnotes;
    struct engine_survey *survey; /* identify: what it read; NULL */
};

/*
 * What the verify action found for one rotated account (action_add_check):
 * whether the new password is the one in force, asked through the host's
 * own SMTP AUTH path, and, with a watch, the logins of the account the
 * host's mail log shows since the rotation.
 */
#define ENGINE_CHECKS_MAX 256 /* accounts per host that get a check */
enum engine_password {
    ENGINE_PASSWORD_UNKNOWN = 0, /* the host could not tell (why says) */
    ENGINE_PASSWORD_CONFIRMED,   /* the new password was accepted */
    ENGINE_PASSWORD_REFUSED,     /* the new password was refused */
};
struct engine_check {
    char account[321];
    enum engine_password password;
    char via[48];          /* "doveadm auth test", "smtp auth on ..." */
    char why[160];         /* UNKNOWN: what the host said */
    long long since;       /* epoch of the rotation (host clock), or -1 */
    long long watch_s;     /* seconds asked to watch; 0: no watch */
    long long watched_s;   /* seconds watched (less when interrupted) */
    long long logins;      /* logins since the rotation, -1 not read */
    long long first_at;    /* epoch of the first of them, or -1 */
    char first_client[64]; /* its client address, or "" */
};

/*
 * One line for c: "bob@x: password confirmed; no login since 03:20:08
 * UTC, watched 60 s" (out reset first).  -1 when out of memory.
 */
int engine_check_text(struct buf *out, const struct engine_check *c);

/* Whether c is a failure: a password not confirmed, or a login seen. */
bool engine_check_failed(const struct engine_check *c);

/* The most seconds --watch may ask for. */
#define ENGINE_WATCH_MAX 3600

/*
 * Reads a watch time in seconds (digits only, 0 to ENGINE_WATCH_MAX) from
 * s into *out.  SS_EINVAL with a message in err when it is not one.
 */
int engine_watch_parse(long long *out, const char *s, struct errbuf *err);

/* One host of a run and what happened there. */
struct engine_host {
    struct exec_target target;
    enum host_state state;
    struct errbuf err; /* why it is not committed */
    int failed_step;   /* index, or -1 */
    bool interrupted;  /* stopped by the stop flag */
    struct engine_fact facts[ENGINE_FACTS_MAX];
    size_t nfacts;
    /* per playbook step (nsteps of them, NULL before the host ran) */
    struct engine_step_rec *steps;
    size_t nsteps;
    long long start_ms, end_ms;  /* wall clock of this pass on the host */
    struct engine_check *checks; /* verify's, nchecks of them; owned */
    size_t nchecks;
};

void engine_host_init(struct engine_host *h);
void engine_host_release(struct engine_host *h);
/* Clears what a pass left (state, error, records) for another pass. */
void engine_host_reset(struct engine_host *h);

/*
 * The survey of the last identify pass that ran on h, or NULL: what the
 * CLI shows once per host.  Borrowed from h.
 */
const struct engine_survey *engine_host_survey(const struct engine_host *h);

/*
 * The fleet picture of a pass, from each host's last identify survey
 * (engine_host_survey): the client addresses, HELO names and subjects of
 * flagged accounts seen on more than one host, and the accounts flagged
 * on more than one host (one customer notice each).  Empty with fewer
 * than two surveyed hosts.  out borrows host names and accounts from
 * hosts: fleet_release it before the hosts are reset or released.
 * SS_ETOOBIG past FLEET_MAX values, SS_ERR when out of memory; out is
 * to be released also then.
 */
int engine_fleet(struct fleet *out, const struct engine_host *hosts, size_t n);

/* Progress events for the terminal (called from worker threads). */
struct engine_event {
    const char *host;
    const char *step; /* NULL for host-level events */
    /* "connected" (detail: fingerprint), "start", "done", "failed",
       "skipped", "undo", "undone", "undo-failed", "commit", "committed",
       "commit-failed", "uncommit", "uncommitted", "uncommit-failed",
       "kept", "uncommit-kept" (an undo or uncommit kept the change on
       purpose; detail: what and why),
       "state" (detail: "STATE[: why]", the host ended);
       with engine_opts.verbose: "exec" (detail: the command, secrets
       never in it) as a command starts on the host, and at 2 also
       "exec-output" (detail: an excerpt of what it wrote) */
    const char *what;
    const char *detail;
};

/* What a run needs.  Everything is borrowed for the run's duration. */
struct engine_opts {
    struct executor *ex;
    const struct playbook *pb;
    const char *run_dir; /* RUN folder (journal/, evidence/, ...) */
    const char *run_id;
    const char *lock_dir; /* STATE/locks; NULL = no locking (tests) */
    /*
     * also lock each host on the host itself (/run/spamstop, held by the
     * run's SSH connection), not in dry-run; false in tests with the fake
     * executor
     */
    bool remote_lock;
    struct audit *audit; /* NULL = no audit trail (tests) */
    bool dry_run;
    int forks;
    int verbose; /* 1: "exec" events; 2: also "exec-output" */
    /* rollback: only these accounts (NULL: all); see action_ctx */
    const struct strlist *accounts;
    bool restore_password;
    int max_fail;                /* -1 = no limit */
    bool max_fail_percent;       /* max_fail is a percentage of the hosts */
    volatile sig_atomic_t *stop; /* set by SIGINT/SIGTERM; may be NULL */
    void (*on_event)(void *arg, const struct engine_event *ev);
    void *event_arg;
    /* after a host ends (worker thread): e.g. update run.json */
    void (*on_host_end)(void *arg, size_t i);
    void *host_end_arg;
    /* test hook on every journal of the run; see journal_set_hook */
    int (*journal_hook)(void *arg, const char *host, size_t write_no);
    void *journal_hook_arg;
};

void engine_opts_init(struct engine_opts *o);

/*
 * Runs the playbook on every host (in parallel, at most forks at once),
 * or only its read-only part and probes with dry_run.  Fills each host's
 * state.  Returns 0 when the run could be made (whatever the hosts'
 * states), an error when nothing could start.
 */
int engine_respond(struct engine_host *hosts, size_t n,
                   const struct engine_opts *o, struct errbuf *err);

/*
 * Undoes, from the journals in the run folder, what the run changed on the
 * hosts (newest step first): a step whose commit ran gets its uncommit
 * instead of its undo.  Stops at a pivot, at a committed step without an
 * uncommit, or at a failing undo (HOST_ATTENTION).  A host with nothing
 * left to undo is not contacted (state HOST_NOTHING).
 */
int engine_rollback(struct engine_host *hosts, size_t n,
                    const struct engine_opts *o, struct errbuf *err);

/*
 * Finishes what the run was doing on each host: forward (steps, then
 * commit), or the rollback it had begun.  Hosts never started run from the
 * start; finished hosts get HOST_NOTHING.
 */
int engine_resume(struct engine_host *hosts, size_t n,
                  const struct engine_opts *o, struct errbuf *err);

#endif
