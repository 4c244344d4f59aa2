/* The incident report: a model read from a run folder, in three formats. */
#ifndef SPAMSTOP_REPORT_H
#define SPAMSTOP_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/buf.h"
#include "spamstop/digest.h"
#include "spamstop/error.h"
#include "spamstop/playbook.h"

/*
 * Every string in the model went through report_clean: valid UTF-8, no
 * control characters, at most REPORT_VALUE_MAX bytes.  Renderers still
 * escape for their format: remote data is hostile.  The model never holds
 * a password: the readers never open the run's credentials file nor its
 * secrets/ folder.
 */
#define REPORT_VALUE_MAX 1024
#define REPORT_FILE_MAX  (512u * 1024 * 1024) /* largest file read */
#define REPORT_NQUEUES   5  /* maildrop incoming active deferred hold */
#define REPORT_NAGES     10 /* qshape's age buckets, see report_age_label */
#define REPORT_SHAPE_MAX 10 /* sender domains shown; the rest in one row */

/* A value seen in evidence and how many messages carried it. */
struct report_value {
    char *value;
    size_t count;
};

/* The most frequent values of one kind (identify keeps the top 10). */
struct report_values {
    struct report_value *v;
    size_t n;
    size_t distinct; /* distinct values in all */
    size_t other;    /* messages whose value is not listed */
    bool capped;     /* counting stopped at a cap: distinct is a floor */
};

/* An account's submissions in the host's mail logs (findings' "log"). */
struct report_log {
    bool present;
    size_t messages; /* submitted in the window */
    size_t clients;  /* distinct client addresses */
    char *top_client;
    size_t top_client_messages;
    long long first, last;          /* epoch; 0 unknown */
    size_t sent, deferred, bounced; /* by each message's latest status */
};

/* One SASL account that queued mail, with its evidence. */
struct report_suspect {
    char *username;
    size_t messages;
    double share;
    bool flagged;
    bool watch;           /* at half a threshold: listed, not acted on */
    struct strlist flags; /* why flagged: "queue", "log", "named" */
    char *reason;         /* identify's words: why (not) flagged */
    size_t foreign_senders;
    size_t backscatter; /* bounces of its spam to third parties */
    long long first_arrival, last_arrival; /* epoch; -1 unknown */
    struct report_values clients, helos, sender_domains, subjects;
    struct report_values recipient_domains; /* absent in older findings */
    struct report_log log;
    size_t n_queue_ids; /* messages listed for hold (flagged only) */
};

/* A web script (no SASL, X-PHP-Originating-Script) that queued mail. */
struct report_script {
    char *script;
    size_t messages;
    long long first_arrival, last_arrival;
    struct report_values sender_domains;
};

/* One identify pass (postfix_findings_to_json), as the report needs it. */
struct report_findings {
    bool present;
    char *step; /* the step whose evidence it is */
    size_t total, authenticated, scripted, other;
    size_t flagged_messages, backscatter, remainder, incomplete, anomalies;
    size_t min_messages;
    double min_share;
    struct report_suspect *suspects;
    size_t n_suspects;
    struct report_script *scripts;
    size_t n_scripts;
};

/* One row of the age-by-sender-domain table (qshape -s). */
struct report_shape_row {
    char *domain;
    size_t total;
    size_t ages[REPORT_NAGES];
};

/* A queue listing (postqueue -j), counted. */
struct report_queue {
    bool present;
    bool derived;       /* computed from the journal, not listed on the host */
    bool from_snapshot; /* an older run's postqueue -j taken by the snapshot */
    size_t counts[REPORT_NQUEUES];
    size_t total;
    size_t malformed; /* listing lines that could not be read */
    long long at;     /* epoch the ages are measured from; 0 unknown */
    struct report_shape_row *rows; /* by total, descending; the last one
                                      may be "(other domains)" */
    size_t n_rows;
    size_t ages[REPORT_NAGES]; /* all rows together */
};

/* One playbook step on one host, as its journal tells it. */
struct report_step {
    char *name;
    char *action; /* built-in action, or "shell" */
    char *kind;   /* read-only, compensable, pivot */
    char *reg;    /* the result name it registers, or NULL */
    char *status; /* "not started", "read", "done", "failed", "undone", ... */
    char *commit; /* "", "committed", "commit failed", "uncommitted", ... */
    char *error;  /* the last error journaled for it, or NULL */
    long long at; /* epoch of its last journal record; 0 none */
    struct strlist results;
    /*
     * What the audit trail holds of it (a dry run keeps no journal): a
     * command run to read, a result or evidence kept (REPORT_TRAIL_READ),
     * a probe of a step that would change the host (REPORT_TRAIL_PROBE).
     */
    unsigned trail;
    long long trail_at; /* epoch of its last trail record; 0 none */
};

/* Bits of struct report_step's trail. */
enum report_trail_bits {
    REPORT_TRAIL_READ = 1 << 0,
    REPORT_TRAIL_PROBE = 1 << 1,
};

/* An evidence file of a host and its digest. */
struct report_file {
    char *path; /* relative to the run folder */
    char sha256[SHA256_HEX_LEN + 1];
    long long bytes;
    bool in_trail; /* the same digest is recorded in the audit trail */
};

/*
 * What the verify step found for one account (its evidence, written also
 * when the step failed): whether the new password is the one in force,
 * and what the log watch saw since the rotation.
 */
struct report_check {
    char *account;
    char *password;        /* "confirmed", "refused", "unknown" */
    char *via;             /* the host's path: doveadm auth test, smtp auth */
    char *why;             /* unknown: what the host said */
    long long since;       /* epoch of the rotation, -1 unknown */
    long long watched_s;   /* 0: no watch */
    long long logins;      /* since the rotation; -1 the log was not read */
    long long first_login; /* epoch, -1 none */
    char *first_client;
};

/* What the run did on one host. */
struct report_host {
    char *name;
    char *state;       /* run.json host_states, else the trail's host-end */
    bool journaled;    /* a journal exists */
    char *end_state;   /* the journal's last "end" record, or NULL */
    char *end_phase;   /* forward, rollback, commit */
    char *last_error;  /* the journal's last error, or NULL */
    char *trail_state; /* the state the trail's host-end record gives */
    char *trail_error; /* and the error it gives with it, or NULL */
    bool rollback_begun;
    bool commit_begun;
    long long begun_at, ended_at; /* epoch of first and last record; 0 */
    struct report_step *steps;
    size_t n_steps;
    struct report_findings findings; /* the pass the run acted on */
    struct report_queue before;      /* the snapshot's listing */
    struct report_queue after;       /* derived: before minus the purge */
    struct strlist rotated;          /* accounts whose new password stands */
    struct strlist restored;   /* accounts whose old password was put back */
    char *backend;             /* plesk, dovecot, or NULL */
    bool recoverable;          /* the old passwords could be put back */
    struct strlist hashed;     /* plesk: accounts whose old one cannot */
    struct strlist purged_ids; /* queue ids purge held */
    struct strlist purged_accounts; /* per account held by purge ... */
    size_t *purged_counts;          /* ... and how many messages */
    char *purge_fate; /* "deleted", "on hold", "released", "restored to
                         hold", or NULL when purge did not run */
    size_t purged_total;
    /* the purge's hold record file (evidence), read for purged_ids */
    char *purge_held_file;
    /*
     * How long Postfix was down, stop to start, taken on the host (the
     * last service step's evidence, mail_down_ms); the restart timer, not
     * the run, may have started it.
     */
    bool mail_down_known;
    long long mail_down_ms;
    bool mail_down_by_timer;
    struct report_check *checks; /* the verify step's, n_checks of them */
    size_t n_checks;
    struct report_file *files;
    size_t n_files;
    struct strlist notes; /* what the run folder does not say */
};

/* A whole report. */
struct report {
    char *run_id;
    char *playbook;
    char *outcome;
    bool dry_run;
    long long started, finished; /* epoch; 0 unknown */
    struct strlist param_names, param_values;
    bool audit_present;
    bool audit_ok;
    size_t audit_records;
    char *audit_reason; /* verify's words when not ok */
    char audit_head[SHA256_HEX_LEN + 1];
    size_t anchor_records; /* run.json's anchor; 0 none */
    char anchor_head[SHA256_HEX_LEN + 1];
    long long generated; /* when the report was made */
    struct report_host *hosts;
    size_t n_hosts;
};

enum report_format {
    REPORT_MD = 0,
    REPORT_HTML,
    REPORT_JSON,
    REPORT_TEXT, /* plain text: no markup, no escapes, aligned columns */
};

/* "md"/"markdown", "text"/"txt", "html", "json"; SS_EINVAL otherwise. */
int report_format_parse(enum report_format *out, const char *s);

/* The queue name of index i (0 .. REPORT_NQUEUES-1). */
const char *report_queue_name(size_t i);

/* The column head of age bucket i: "5", "10", ... "1280", "1280+". */
const char *report_age_label(size_t i);

/* ---- building the model ---------------------------------------------- */

void report_init(struct report *r);
void report_release(struct report *r);

/*
 * Copies at most REPORT_VALUE_MAX bytes of s as valid UTF-8 with control
 * characters replaced by '?'.  Caller frees; NULL when out of memory.
 */
char *report_clean(const char *s);

/* Fills run-level fields and one host per run host from run.json text. */
int report_parse_run(struct report *r, const char *text, size_t len,
                     struct errbuf *err);

/*
 * Gives every host the steps of the run's playbook copy (names, actions,
 * kinds).  Call after report_parse_run.
 */
int report_parse_playbook(struct report *r, const char *text, size_t len,
                          struct errbuf *err);

/*
 * Replays one host's journal into its steps and state; also reads the
 * rotate and purge steps' journaled data.  Call after report_parse_playbook.
 */
int report_parse_journal(struct report_host *h, const char *text, size_t len,
                         struct errbuf *err);

/*
 * Reads the purge's hold record file that the journal named (ev: the
 * host's evidence folder) into h's purged ids and counts.
 */
int report_load_purged(struct report_host *h, const char *ev,
                       struct errbuf *err);

/* Largest hold record read: ~60 bytes a message for a million. */
#define REPORT_HELD_MAX (128u * 1024 * 1024)

/* Reads identify's findings JSON (postfix_findings_to_json). */
int report_parse_findings(struct report_findings *out, const char *text,
                          size_t len, struct errbuf *err);

/*
 * Reads a service step's evidence JSON into h's mail-down time: an
 * integer mail_down_ms from 0 to 31 days (a null or absent one leaves it
 * unknown).  A value out of bounds or of another type is not believed:
 * h gets a note instead.  SS_EINVAL when text is not a JSON object.
 */
int report_parse_service(struct report_host *h, const char *text, size_t len,
                         struct errbuf *err);

/*
 * Reads the verify step's evidence JSON into h's checks (strings made
 * clean).  SS_EINVAL when text is not the object the step writes.
 */
int report_parse_verify(struct report_host *h, const char *text, size_t len,
                        struct errbuf *err);

/*
 * Counts a postqueue -j listing by queue and by sender domain and age,
 * ages measured from at (epoch; 0 = from the newest arrival).
 */
int report_parse_queue(struct report_queue *out, const char *text, size_t len,
                       long long at, struct errbuf *err);

/*
 * The queue after the run, derived from before and the purge step's
 * journaled queue ids and fate (nothing lists the queue after a run).
 * Needs the listing text again to find each purged id's queue.
 */
int report_derive_after(struct report_host *h, const char *listing, size_t len,
                        struct errbuf *err);

/*
 * Reads the host's records of the audit trail text: marks the files whose
 * digest appears in them (stdout_sha256 or data.sha256), notes what each
 * step left there (report_step's trail) and the host-end record's state.
 */
int report_match_trail(struct report_host *h, const char *trail, size_t len,
                       struct errbuf *err);

/*
 * Reads the run folder run_dir (run.json, playbook.json, journals,
 * evidence, audit trail) into *out.  Caller frees with report_free.
 */
int report_load(struct report **out, const char *run_dir, struct errbuf *err);

void report_free(struct report *r);

/* ---- rendering --------------------------------------------------------- */

/* How to render (bits). */
enum report_flags {
    /* name the hosts in the customer notices (internal names otherwise
       stay out of what the customer reads) */
    REPORT_NOTICE_HOSTS = 1 << 0,
};

/* Appends the whole report in format f to out (flags: report_flags). */
int report_render(struct buf *out, const struct report *r, enum report_format f,
                  unsigned flags, struct errbuf *err);

/*
 * Appends the plain-text draft notice for account: one for the whole run,
 * whatever the hosts it was flagged on (what happened and when, what was
 * stopped and for how long, that the password was reset, how to get the
 * new one, advice).  Host names only with REPORT_NOTICE_HOSTS.  It never
 * holds a password.
 */
int report_notice(struct buf *out, const struct report *r, const char *account,
                  unsigned flags);

#endif
