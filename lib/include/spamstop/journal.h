/* The rollback journal: one JSON Lines file per host, every line fsynced. */
#ifndef SPAMSTOP_JOURNAL_H
#define SPAMSTOP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/error.h"
#include "spamstop/strlist.h"

/* Largest journal read back. */
#define JOURNAL_MAX_BYTES (256u * 1024 * 1024)

/* Record types; their names in the file are in docs/journal.md. */
enum journal_type {
    JOURNAL_BEGIN = 0,       /* "begin": the host's saga started */
    JOURNAL_READ,            /* "read": a read-only step ran (its results) */
    JOURNAL_INTENT,          /* "intent": a mutating step is about to run */
    JOURNAL_DONE,            /* "done": it succeeded (results, commit data) */
    JOURNAL_FAILED,          /* "failed": it failed (unknown: maybe done) */
    JOURNAL_ROLLBACK,        /* "rollback": rolling back begins (why) */
    JOURNAL_UNDO_INTENT,     /* "undo-intent": an undo is about to run */
    JOURNAL_UNDONE,          /* "undone" */
    JOURNAL_UNDO_FAILED,     /* "undo-failed" */
    JOURNAL_COMMIT,          /* "commit": the commit phase begins */
    JOURNAL_COMMIT_INTENT,   /* "commit-intent": a step's commit runs */
    JOURNAL_COMMIT_DONE,     /* "commit-done" */
    JOURNAL_COMMIT_FAILED,   /* "commit-failed" */
    JOURNAL_END,             /* "end": the host's state (may be followed by
                                more records from rollback or resume) */
    JOURNAL_UNCOMMIT_INTENT, /* "uncommit-intent": rollback of a step whose
                                commit ran, instead of its undo */
    JOURNAL_UNCOMMITTED,     /* "uncommitted" */
    JOURNAL_UNCOMMIT_FAILED, /* "uncommit-failed" */
    JOURNAL_CONTAIN,         /* "contain": a failure or an interrupt after
                                containment: undoing the rest begins (why) */
    JOURNAL_KEPT,            /* "kept": an undo or uncommit left the change
                                (or part of it) on purpose; the step stays
                                done (why) */
    JOURNAL_TYPE_COUNT
};

const char *journal_type_name(enum journal_type t);

/*
 * One record as written.  Unused strings stay NULL.  No field may hold a
 * secret: actions hand secret undo data over as a file (undo_file).
 */
struct journal_record {
    enum journal_type type;
    int step;                /* step index, -1 for host-level records */
    const char *name;        /* step name */
    const char *kind;        /* step kind name (intent) */
    const char *command;     /* intent: the rendered command, or the action */
    const char *undo;        /* intent: the rendered undo command */
    const char *undo_data;   /* intent: action undo information (JSON) */
    const char *undo_file;   /* intent: secret undo data, relative path */
    const char *commit;      /* intent: the rendered commit command */
    const char *uncommit;    /* intent: the rendered uncommit command */
    const char *commit_data; /* done: action commit data (JSON) */
    const struct strlist *results; /* read/done: the step's results */
    const char *register_name;     /* read/done */
    int exit_status;               /* done/failed/...: -1 when none */
    bool unknown;                  /* failed: outcome unknown (timeout, lost) */
    bool settled;                  /* kept: a plain rollback keeps all of it:
                                      another plain one has nothing to do */
    const char *error;             /* failed/rollback/end: why */
    const char *state;             /* end: host state name */
    const char *phase;             /* end: "forward", "rollback", "commit" */
    const char *host;              /* begin */
    const char *run_id;            /* begin */
    const char *playbook_sha256;   /* begin */
    const char *fingerprint;       /* begin */
};

void journal_record_init(struct journal_record *r, enum journal_type type,
                         int step);

struct journal;

/*
 * Opens (creating 0600, folder fsynced) a journal for appending.  A torn
 * last line left by a crash is cut off first, so appends follow whole
 * records.  Anything else damaged is SS_ECORRUPT.
 */
int journal_open(struct journal **out, const char *path, struct errbuf *err);

/* Path of a host's journal in run_dir (host names are made file-safe). */
int journal_path(char *out, size_t size, const char *run_dir, const char *host);

/*
 * Appends one record and fdatasyncs.  Any failure leaves the journal dead:
 * every later append fails too, and the caller must stop acting on the host
 * (what it does next could not be journaled).
 */
int journal_append(struct journal *j, const struct journal_record *rec,
                   struct errbuf *err);

/* Closes; NULL-safe. */
void journal_close(struct journal *j);

/* Writes appended so far (also those refused by the hook). */
size_t journal_writes(const struct journal *j);

/*
 * Crash test hook: called before write number write_no (1-based); return
 * JOURNAL_HOOK_WRITE to write, JOURNAL_HOOK_CRASH to fail it with nothing
 * written, JOURNAL_HOOK_TEAR to write half the line, then fail: both make
 * the journal dead, as if the process had died there.
 */
enum journal_hook_verdict {
    JOURNAL_HOOK_WRITE = 0,
    JOURNAL_HOOK_CRASH,
    JOURNAL_HOOK_TEAR,
};

void journal_set_hook(struct journal *j,
                      int (*hook)(void *arg, size_t write_no), void *arg);

/* ---- replay ----------------------------------------------------------- */

/* Where one step is, as far as the journal knows. */
enum jstep_status {
    JSTEP_NONE = 0, /* not started */
    JSTEP_READ,     /* read-only step ran */
    JSTEP_INTENT,   /* intent written, no outcome: maybe done */
    JSTEP_DONE,
    JSTEP_FAILED,      /* failed; see unknown */
    JSTEP_UNDO_INTENT, /* undo begun, no outcome: maybe undone */
    JSTEP_UNDONE,
    JSTEP_UNDO_FAILED,
};

enum jcommit_status {
    JCOMMIT_NONE = 0,
    JCOMMIT_INTENT,
    JCOMMIT_DONE,
    JCOMMIT_FAILED,
    JCOMMIT_UNCOMMIT_INTENT, /* uncommit begun, no outcome: maybe done */
    JCOMMIT_UNCOMMITTED,     /* the step is then JSTEP_UNDONE too */
    JCOMMIT_UNCOMMIT_FAILED,
};

/* One step's replayed state.  Owns its strings. */
struct jstep {
    enum jstep_status status;
    enum jcommit_status commit_status;
    bool unknown; /* the last failure left the outcome unknown */
    char *name;
    char *kind;
    char *command;
    char *undo;
    char *undo_data;
    char *undo_file;
    char *commit;
    char *uncommit;
    char *commit_data;
    char *register_name;
    struct strlist results;
    bool has_results;
    bool settled; /* a "kept" with settled since the last intent */
};

/* A host's journal, replayed. */
struct journal_state {
    bool begun;
    char *host;
    char *run_id;
    char *playbook_sha256;
    struct jstep *steps; /* nsteps entries, indexed by step */
    size_t nsteps;
    bool rollback_begun; /* a "rollback" record since the last forward */
    bool commit_begun;
    bool contain_begun; /* a "contain" record since the last forward */
    bool ended;         /* the last host-level record is an "end" */
    char *end_state;    /* that end's state name */
    char *end_phase;
    char *last_error;
    size_t records;   /* whole records read */
    size_t valid_len; /* bytes up to the end of the last whole record */
    bool torn;        /* a torn last line was ignored */
};

void journal_state_init(struct journal_state *s);
void journal_state_release(struct journal_state *s);

/*
 * Replays journal text into *out (initialised here).  A record counts only
 * with its newline: a last line without one is a torn write and ignored
 * (torn is set).  Any other damage,
 * an unknown record or an impossible transition is SS_ECORRUPT naming the
 * line.
 */
int journal_replay_string(struct journal_state *out, const char *data,
                          size_t len, struct errbuf *err);

/* Reads path and replays it; SS_ENOENT when it does not exist. */
int journal_replay_file(struct journal_state *out, const char *path,
                        struct errbuf *err);

#endif
