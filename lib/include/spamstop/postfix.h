/* Postfix knowledge: queue parsers, the identify analysis, remote commands. */
#ifndef SPAMSTOP_POSTFIX_H
#define SPAMSTOP_POSTFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/strlist.h"

/* Limits on remote output; past them parsing fails with SS_ETOOBIG. */
#define POSTFIX_LINE_MAX     (64u * 1024) /* one postqueue -j line */
#define POSTFIX_ENTRIES_MAX  1000000u     /* messages in one listing */
#define POSTFIX_FIELD_MAX    1024u        /* longer values are cut */
#define POSTFIX_RCPT_KEEP    32u          /* recipients kept per message */
#define POSTFIX_QUEUE_ID_MAX 64u          /* longest queue id accepted */

/*
 * Strings in the structs below point into memory owned by the enclosing
 * list (struct postfix_queue, struct postfix_envelopes, struct
 * postfix_findings) and live until its _release.  Control characters in
 * remote values are replaced by '?', so they are safe to print.
 */

/* One recipient of a postqueue -j entry. */
struct postfix_recipient {
    const char *address;
    const char *delay_reason; /* NULL when absent */
};

/* One line of postqueue -j. */
struct postfix_queue_entry {
    const char *queue_name; /* maildrop, incoming, active, deferred, hold */
    const char *queue_id;   /* syntax checked by postfix_queue_id_valid */
    long long arrival_time; /* epoch seconds; -1 when absent */
    long long message_size; /* bytes; -1 when absent */
    const char *sender;     /* "" for the null sender */
    struct postfix_recipient *recipients;
    size_t n_recipients;
};

/*
 * A parsed postqueue -j listing.  Malformed lines (not JSON, not an
 * object, no valid queue_name or queue_id) are skipped and counted, so one
 * odd message cannot stop an incident response; first_malformed_line says
 * where to look (1-based, 0 when none).
 */
struct postfix_queue {
    struct postfix_queue_entry *entries;
    size_t n;
    size_t malformed;
    size_t first_malformed_line;
    void *mem; /* private: the string arena */
};

#define POSTFIX_QUEUE_INIT                                                     \
    {                                                                          \
        NULL, 0, 0, 0, NULL                                                    \
    }

/*
 * Parses postqueue -j output from memory into out (caller releases it,
 * also on failure).  Returns 0, SS_ETOOBIG for a line over
 * POSTFIX_LINE_MAX or more than POSTFIX_ENTRIES_MAX entries, SS_ERR when
 * out of memory.
 */
int postfix_queue_parse_string(struct postfix_queue *out, const char *text,
                               size_t len, struct errbuf *err);
void postfix_queue_release(struct postfix_queue *q);

/*
 * True when id has Postfix queue id syntax: a short id (upper-case hex) or
 * a long id ([0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]+), 1 to
 * POSTFIX_QUEUE_ID_MAX characters.  Only such ids reach a remote command.
 */
bool postfix_queue_id_valid(const char *id);

/* True for the five queue names Postfix lists. */
bool postfix_queue_name_valid(const char *name);

/*
 * Where Postfix keeps its queue and its daemons (queue_directory,
 * daemon_directory), as a pass's "SPAMSTOP DIRS" line gave them.  Every
 * remote command needs both; one that is given them does not start
 * postconf for them (about 15 ms of CPU each on the lab).  Empty queue:
 * unknown, and the command asks postconf.
 */
#define POSTFIX_DIR_MAX 255
struct postfix_dirs {
    char queue[POSTFIX_DIR_MAX + 1];
    char daemon[POSTFIX_DIR_MAX + 1];
};

/*
 * True when s (n bytes) may be such a directory: absolute, at most
 * POSTFIX_DIR_MAX bytes of [A-Za-z0-9/._+-] (the script prints no other).
 */
bool postfix_dir_valid(const char *s, size_t n);

/*
 * One queued message as the identify pass read it (postcat -e -h): only
 * what identify, its listing and the later steps use (a million of them
 * are held at once); the pass's whole text is the evidence.
 */
struct postfix_message {
    const char *queue_name;
    const char *queue_id;
    const char *sasl_username;  /* NULL: not an authenticated submission */
    const char *sender;         /* envelope sender; "" for the null sender */
    const char *client_address; /* log_client_address */
    const char *helo_name;      /* log_helo_name */
    const char *subject;        /* NULL when absent */
    const char *x_php_script;   /* X-PHP-Originating-Script */
    const char **recipients;    /* first POSTFIX_RCPT_KEEP recipients */
    long long arrival_time;     /* epoch (postcat ran with TZ=UTC); -1 */
    uint32_t recipients_total;
    uint16_t n_recipients; /* at most POSTFIX_RCPT_KEEP */
    bool complete;         /* its MESSAGE FILE END marker was seen */
};

/*
 * A queue file as the identify pass found it before postcat read it: its
 * fingerprint, for a later pass to tell whether the file changed since.
 */
struct postfix_file {
    const char *queue_name;
    const char *queue_id;
    const char *path;  /* as found, relative to the queue: "deferred/A/ID" */
    const char *stamp; /* "INODE SIZE CTIME" (ctime to the nanosecond) */
};

/*
 * The messages of one identify pass.  A message listed twice (postcat
 * re-run after an id vanished) is kept once, the later copy winning.
 * anomalies counts text that does not fit postcat's structure (records
 * outside a message, a message started inside another, markers naming
 * another file or an invalid queue id): zero on a genuine queue, non-zero
 * when a file was corrupt or a value tried to imitate a marker.
 */
struct postfix_envelopes {
    struct postfix_message *msgs;
    size_t n;
    struct postfix_file *files; /* the pass's "SPAMSTOP FILE" markers */
    size_t n_files;
    size_t anomalies;
    bool end_seen; /* the command's end marker: the output is whole */
    void *mem;     /* private: arena, recipient vector, index */
    struct postfix_dirs dirs; /* its "SPAMSTOP DIRS" line; queue "": none */
};

#define POSTFIX_ENVELOPES_INIT                                                 \
    {                                                                          \
        NULL, 0, NULL, 0, 0, false, NULL,                                      \
        {                                                                      \
            "", ""                                                             \
        }                                                                      \
    }

/*
 * Parses the output of postfix_identify_command() (postcat -e -h text,
 * possibly filtered) into out (caller releases it, also on failure).
 * Returns 0, SS_ETOOBIG for more than POSTFIX_ENTRIES_MAX messages or a
 * line over POSTFIX_LINE_MAX, SS_ERR when out of memory.
 */
int postfix_envelopes_parse(struct postfix_envelopes *out, const char *text,
                            size_t len, struct errbuf *err);

/*
 * postfix_envelopes_parse without copying: values are made printable and
 * NUL-terminated where they lie, so text (len bytes plus one writable
 * byte at text[len], as struct buf keeps) is changed and must outlive out.
 * Same results without a copy of any value: for the identify action.
 */
int postfix_envelopes_parse_in_place(struct postfix_envelopes *out, char *text,
                                     size_t len, struct errbuf *err);
void postfix_envelopes_release(struct postfix_envelopes *e);

/*
 * Longest line a push parse takes: postcat prints a header as one line,
 * and Postfix keeps at most header_size_limit (102,400 bytes by default)
 * of a message's headers; envelope records are shorter still.
 */
#define POSTFIX_STREAM_LINE_MAX (128u * 1024)

/*
 * A push parser of the same text as postfix_envelopes_parse, for output
 * that arrives in pieces cut anywhere (an executor sink): nothing of the
 * text is kept but the line being cut, values are copied as by
 * postfix_envelopes_parse, and the results are the same.  new empties
 * env and fills it as the text comes (the caller releases env, also on
 * failure); feed takes the next len bytes; end takes the last line and
 * closes the last message.  SS_ETOOBIG for a line over
 * POSTFIX_STREAM_LINE_MAX or more than POSTFIX_ENTRIES_MAX messages,
 * SS_ERR when out of memory; after a failure every call fails.  free
 * frees the parser, not env (NULL-safe).
 */
struct postfix_envelopes_stream;
int postfix_envelopes_stream_new(struct postfix_envelopes_stream **out,
                                 struct postfix_envelopes *env,
                                 struct errbuf *err);
int postfix_envelopes_stream_feed(struct postfix_envelopes_stream *s,
                                  const char *data, size_t len,
                                  struct errbuf *err);
int postfix_envelopes_stream_end(struct postfix_envelopes_stream *s,
                                 struct errbuf *err);
void postfix_envelopes_stream_free(struct postfix_envelopes_stream *s);

/*
 * What a push parse does with the pass's "*** SPAMSTOP FILE PATH STAMP
 * ***" lines (set before the first feed; KEEP by default):
 *   KEEP    keeps each in env->files;
 *   STAMPS  keeps none, and appends "PATH STAMP\n" of each file whose
 *           message the pass read whole to *stamps (the stdin of a later
 *           pass: the caller drains it between feeds; over its cap the
 *           feed fails with SS_ETOOBIG);
 *   DROP    keeps none (a later pass: its GONE lines say what changed).
 * A malformed line is an anomaly whatever the mode.
 */
enum postfix_files {
    POSTFIX_FILES_KEEP,
    POSTFIX_FILES_STAMPS,
    POSTFIX_FILES_DROP,
};
void postfix_envelopes_stream_files(struct postfix_envelopes_stream *s,
                                    enum postfix_files mode,
                                    struct buf *stamps);

/*
 * Completes env, a later pass given an earlier pass's stamps and ended,
 * with the earlier pass's messages of the files it did not read again:
 * a push parse (fed and ended as above) of the earlier pass's own output
 * that adds a message of it when the earlier pass read it whole, listed
 * its file (a FILE line, same queue), env's pass did not read its id
 * again, and env's pass did not report that file and stamp "*** SPAMSTOP
 * GONE PATH STAMP ***" (the script prints those for stamps it was given
 * and no longer found so).  A file neither read again nor found unchanged
 * is left out, as in a single pass.  The earlier text's anomalies, FILE
 * and DIRS lines and end marker leave env's as they were; values are
 * copied, so nothing of the earlier pass need stay in memory: memory for
 * a million messages is that of one pass.  postfix_envelopes_stream_reused
 * then counts the messages added.
 */
int postfix_envelopes_reuse_new(struct postfix_envelopes_stream **out,
                                struct postfix_envelopes *env,
                                struct errbuf *err);
size_t
postfix_envelopes_stream_reused(const struct postfix_envelopes_stream *s);

/*
 * The one batched remote command of the identify pass (caller frees):
 * reads every message file of the queue with postcat -e -h in batches,
 * re-reading a batch file by file when an id vanished, keeps only the
 * headers identify needs, then prints a "*** SPAMSTOP FILE PATH STAMP ***"
 * fingerprint line (taken before the read) per file, a "*** SPAMSTOP DIRS
 * QUEUE DAEMON ***" line (when both directories are plain paths), and
 * ends with an end marker.  Files whose "PATH STAMP" line is on stdin
 * (the stamps of an earlier pass, POSTFIX_FILES_STAMPS) are not read
 * again, and each such line whose file it no longer finds with that stamp
 * comes back as a "*** SPAMSTOP GONE PATH STAMP ***" line; empty stdin
 * reads every file.
 *
 * This and every command below take dirs: NULL (or an empty queue) asks
 * postconf on the host; else the script uses those directories (the
 * host's own, from an earlier pass of the same run).
 */
char *postfix_identify_command(const struct postfix_dirs *dirs);

/* ---- log evidence ---------------------------------------------------- */

/* What the mail logs say of one account that authenticated (SASL). */
struct postfix_log_account {
    char *name;          /* the sasl_username */
    size_t accepted;     /* messages it submitted (queue ids) */
    size_t ips;          /* distinct client addresses they came from */
    char *top_ip;        /* the commonest of them, or NULL */
    size_t top_ip_count; /* and how many messages came from it */
    long long first;     /* epoch of its first and last submission */
    long long last;
    /* its messages by their latest delivery status in the logs */
    size_t sent;
    size_t deferred;
    size_t bounced;
};

/* A host's log evidence.  Owns everything. */
struct postfix_maillog {
    struct strlist sources; /* the files read, or "journald" */
    struct postfix_log_account *accounts;
    size_t naccounts;
    size_t records; /* records inside the window */
    size_t older;   /* records before it (a rotated file's older lines) */
    size_t odd;     /* lines that were not records */
    bool complete;  /* the pass ended ("end"): all written, not cut */
};

/*
 * The read-only pass over the host's mail logs since epoch since
 * (lib/postfix/scripts/maillog.sh: /var/log/mail.log, /var/log/maillog,
 * /usr/local/psa/var/log/maillog and their rotated copies, else
 * journald), its output at most cap bytes.  NULL when out of memory.
 */
char *postfix_maillog_command(long long since, size_t cap);

/*
 * Parses that pass's output: per account the messages submitted since
 * since, their client addresses, first and last time, and, joined by queue
 * id, how many were sent, deferred or bounced (each message counted once,
 * by its latest status).  Only the order of the records of one kind
 * counts (the pass prints the kinds apart), not how A and S interleave.
 * Lines that are not records are counted, not fatal.  SS_ETOOBIG for more than
 * POSTFIX_ENTRIES_MAX messages or accounts, SS_ERR when out of memory; *out is
 * empty then.
 */
int postfix_maillog_parse(struct postfix_maillog *out, const char *text,
                          size_t len, long long since, struct errbuf *err);

/*
 * The same parse, given the output a piece at a time as it arrives (cut
 * anywhere): keeps what the records add up to, never the text.  new
 * empties *m, which the stream fills; end counts a last line without its
 * newline and joins the statuses.  A failed feed or end empties *m (codes
 * as postfix_maillog_parse).  free is NULL-safe; *m stays the caller's.
 */
struct postfix_maillog_stream;
int postfix_maillog_stream_new(struct postfix_maillog_stream **out,
                               struct postfix_maillog *m, long long since,
                               struct errbuf *err);
int postfix_maillog_stream_feed(struct postfix_maillog_stream *s,
                                const char *data, size_t len,
                                struct errbuf *err);
int postfix_maillog_stream_end(struct postfix_maillog_stream *s,
                               struct errbuf *err);
void postfix_maillog_stream_free(struct postfix_maillog_stream *s);

/* NULL-safe. */
void postfix_maillog_release(struct postfix_maillog *m);

/* The logins of one account the watch saw (postfix_logins_parse). */
struct postfix_login {
    char *account;       /* as the command was given it */
    size_t logins;       /* since the rotation */
    long long first;     /* epoch of the first, or -1 */
    char *first_ip;      /* its client address ("-": none named) */
    char *first_service; /* smtp, imap, pop3, ... */
};

/* What the watch saw on a host.  Owns everything. */
struct postfix_logins {
    struct strlist sources; /* the files read, or "journald" */
    struct postfix_login *accounts;
    size_t naccounts;
    long long now; /* the host's clock, -1 when it printed none */
    size_t older;  /* logins at or before since */
    size_t odd;    /* lines that were not records */
    bool complete; /* the command ended ("end"): not cut at its cap */
};

/* Distinct accounts a watch keeps (more are counted as odd). */
#define POSTFIX_LOGINS_ACCOUNTS_MAX 1024

/*
 * The read-only watch after a rotation (lib/postfix/scripts/logins.sh):
 * the successful SMTP (sasl_username=) and IMAP/POP (Dovecot "Login:")
 * logins of the accounts given on its stdin, one a line, in the mail logs
 * written since epoch since; its output at most cap bytes.  NULL when out
 * of memory.
 */
char *postfix_logins_command(long long since, size_t cap);

/*
 * Parses that command's output: per account the logins strictly after
 * since (a log time has whole seconds: one in the rotation's own second
 * counts as before it), the first one's time, address and service.
 * Lines that are not records are counted, not fatal.  SS_ERR when out of
 * memory; *out is empty then.
 */
int postfix_logins_parse(struct postfix_logins *out, const char *text,
                         size_t len, long long since, struct errbuf *err);

/* NULL-safe. */
void postfix_logins_release(struct postfix_logins *l);

/*
 * When an account is flagged: on queue evidence (both min_ conditions),
 * on log evidence (both log_ conditions), or named.
 */
struct postfix_thresholds {
    size_t min_messages; /* at least this many queued messages */
    double min_share;    /* and at least this share of the queue (0..1) */
    /*
     * Log evidence (NULL: none): an account is also flagged at
     * log_min_messages submissions in the window (the last log_hours)
     * from at least log_min_clients client addresses.
     */
    const struct postfix_maillog *log;
    size_t log_min_messages;
    size_t log_min_clients;
    unsigned log_hours;
    const struct strlist *named; /* flagged whatever the counts */
};

#define POSTFIX_THRESHOLDS_INIT                                                \
    {                                                                          \
        50, 0.2, NULL, 200, 10, 24, NULL                                       \
    }

/* Why an account is flagged (struct postfix_account's flags). */
enum postfix_flag {
    POSTFIX_FLAG_QUEUE = 1 << 0, /* its queued messages reach the thresholds */
    POSTFIX_FLAG_LOG = 1 << 1,   /* its submissions in the logs do */
    POSTFIX_FLAG_NAMED = 1 << 2, /* named by the operator (--account) */
};
#define POSTFIX_TOP_VALUES 10 /* distinct values kept per evidence list */

/* A value seen in evidence, with how many messages carried it. */
struct postfix_value_count {
    const char *value;
    size_t count;
};

/* The most frequent values of one kind, plus what did not fit. */
struct postfix_value_list {
    struct postfix_value_count *items; /* by count, descending */
    size_t n;
    size_t distinct; /* distinct values in all (counted up to a cap) */
    size_t other;    /* messages whose value is not in items */
    bool capped;     /* more distinct values than distinct: it is a floor */
};

/* A queued message named by queue and id (for hold and snapshot). */
struct postfix_queue_ref {
    const char *queue_name;
    const char *queue_id;
};

/* One SASL account that submitted queued mail, with its evidence. */
struct postfix_account {
    const char *username;
    size_t messages;
    double share; /* messages / all queued messages */
    bool flagged;
    unsigned flags; /* enum postfix_flag bits: why it is flagged */
    bool watch;     /* not flagged but at half a threshold: listed only */
    bool has_log;   /* log holds its log evidence (name: username) */
    struct postfix_log_account log;
    size_t foreign_senders; /* envelope sender is not the account */
    long long first_arrival, last_arrival; /* -1 when unknown */
    struct postfix_value_list clients, helos, sender_domains, subjects;
    /* recipients' domains, counted per recipient over the kept ones
       (POSTFIX_RCPT_KEEP a message); at most 4096 distinct, recipients
       past that in other */
    struct postfix_value_list recipient_domains;
    size_t backscatter; /* bounces of its spam to third parties (null
                           sender, to a forged sender of its messages) */
    struct postfix_queue_ref *refs; /* flagged: its messages and their
                                       backscatter, to hold and delete */
    size_t n_refs;
};

/* A web script (no SASL, X-PHP-Originating-Script) that queued mail. */
struct postfix_script {
    const char *script;
    size_t messages;
    long long first_arrival, last_arrival;
    struct postfix_value_list sender_domains;
};

/*
 * What identify found on one host.  accounts is the ranked suspect list:
 * flagged accounts first, then by message count, descending.  Scripts are
 * a separate finding, reported, never acted on.
 */
struct postfix_findings {
    size_t total;            /* messages read */
    size_t authenticated;    /* with sasl_username */
    size_t scripted;         /* no SASL, with X-PHP-Originating-Script */
    size_t other;            /* neither (local mail, bounces, relayed) */
    size_t flagged_messages; /* of flagged accounts: the spam to purge */
    size_t backscatter;      /* bounces of that spam: purged with it */
    size_t remainder;        /* everything else: stays queued */
    size_t incomplete;       /* messages read without their end marker */
    size_t anomalies;        /* from the envelopes (identify_envelopes) */
    struct postfix_thresholds thresholds;
    struct postfix_account *accounts;
    size_t n_accounts;
    size_t n_flagged;
    size_t n_watch;
    struct postfix_script *scripts; /* by message count, descending */
    size_t n_scripts;
    void *mem; /* private */
};

#define POSTFIX_FINDINGS_INIT                                                  \
    {                                                                          \
        0, 0, 0, 0, 0, 0, 0, 0, 0, POSTFIX_THRESHOLDS_INIT, NULL, 0, 0, 0,     \
            NULL, 0, NULL                                                      \
    }

/*
 * Counts msgs per sasl_username and web script and flags accounts over
 * thresholds (NULL = defaults).  out owns copies of every string (caller
 * releases it, also on failure).  Returns 0, SS_EINVAL for thresholds out
 * of range, SS_ERR when out of memory.
 */
int postfix_identify(struct postfix_findings *out,
                     const struct postfix_message *msgs, size_t n,
                     const struct postfix_thresholds *thresholds,
                     struct errbuf *err);
void postfix_findings_release(struct postfix_findings *f);

/* postfix_identify over a parsed pass, with its anomalies copied in. */
int postfix_identify_envelopes(struct postfix_findings *out,
                               const struct postfix_envelopes *env,
                               const struct postfix_thresholds *thresholds,
                               struct errbuf *err);

/*
 * Why account a of f is flagged, on watch or neither, in words with its
 * numbers ("300 queued (12.0% of 2500); 1930 submitted in the last 24 h
 * from 41 client addresses (...); flagged: queue, log"), into out.
 */
void postfix_account_reason(char *out, size_t size,
                            const struct postfix_findings *f,
                            const struct postfix_account *a);

/*
 * Queue ids a flagged account lists in the findings JSON ("queue_ids";
 * "queue_id_count" says how many it has): a million of them were 70 MB
 * of JSON values to write the file; the run's ids file has them all.
 */
#define POSTFIX_JSON_IDS_MAX 10000u

/*
 * The findings as one JSON object (compact, newly allocated; caller
 * frees), for the journal and the report.  No secret is involved.
 */
int postfix_findings_to_json(char **out, const struct postfix_findings *f,
                             struct errbuf *err);

/*
 * The queue as a pass read it, as a listing in postqueue -j's format (one
 * JSON object a line: queue_name, queue_id, arrival_time when known,
 * sender, the recipients kept, and recipient_count): n messages from msgs
 * (a pass's, in slices if need be), appended to out.
 * postfix_queue_parse_string reads it back.  Messages without a valid
 * queue name or id are left out.  Remote strings are made valid UTF-8.
 * SS_ERR when out of memory.
 */
int postfix_messages_listing(struct buf *out,
                             const struct postfix_message *msgs, size_t n,
                             struct errbuf *err);

/* How a host runs Postfix. */
enum postfix_service {
    POSTFIX_SERVICE_NONE = 0,
    POSTFIX_SERVICE_SYSTEMD,
    POSTFIX_SERVICE_SYSV,
    POSTFIX_SERVICE_POSTFIX, /* the postfix command itself */
};

enum postfix_service_op {
    POSTFIX_STOP,
    POSTFIX_START,
    POSTFIX_STATUS,
};

/*
 * Reads the manager's word ("systemd", "sysv", "postfix") that a service
 * command prints first.  SS_EINVAL when unrecognised.
 */
int postfix_service_parse(enum postfix_service *out, const char *text,
                          size_t len, struct errbuf *err);

const char *postfix_service_name(enum postfix_service svc);

/*
 * The stop, start or status command for svc (caller frees), one round
 * trip: with POSTFIX_SERVICE_NONE it detects the manager on the host first
 * (exit 3 and "none" when there is none).  It prints the manager's word
 * (as the detection script does), then: stop and start are idempotent and
 * poll the master's state every 0.1 s (up to wait_s seconds) until it
 * agrees, exiting 1 otherwise; status exits 0 when Postfix runs, 1 when
 * not.  The state is postfix status's: its test, master -t, run directly.
 */
int postfix_service_command(char **out, enum postfix_service svc,
                            enum postfix_service_op op, int wait_s,
                            const struct postfix_dirs *dirs,
                            struct errbuf *err);

/* Where a host keeps a run's restart timer and mail-down clock. */
#define POSTFIX_TIMER_DIR "/run/spamstop"
/* Longest restart_after (s), and longest mail-down time believed (ms). */
#define POSTFIX_RESTART_MAX 86400
#define POSTFIX_DOWN_MAX_MS (31LL * 86400 * 1000)
/* The unit (systemd) or token prefix of a run's timer: NAME-<run id>. */
#define POSTFIX_TIMER_PREFIX "spamstop-restart-"

/*
 * A run's dead-man timer on a host: a stop arms it (before Postfix
 * stops) so that the host starts Postfix again restart_after seconds later
 * unless a start of the same run disarmed it first.
 */
struct postfix_timer {
    const char *id;    /* the run id: 1-63 of [a-z0-9-] */
    int restart_after; /* seconds; 0: a stop arms no timer */
    const char *dir;   /* NULL: POSTFIX_TIMER_DIR (tests name another) */
};

/*
 * Writes the timer's name, POSTFIX_TIMER_PREFIX and the run id, into out.
 * SS_EINVAL when id is not a run id or out is too small.
 */
int postfix_timer_name(char *out, size_t size, const char *id);

/*
 * postfix_service_command, and with t (not NULL) for stop and start:
 * the stop records the host's clock (/proc/uptime) in DIR/<id>.down right
 * before Postfix stops and, when restart_after > 0, first arms the timer:
 * a transient systemd timer unit spamstop-restart-<id> where systemd is
 * PID 1 (/run/systemd/system), else a detached process (setsid, stdio on
 * /dev/null); DIR/<id>.timer holds "systemd" or its pid, and a token.
 * It exits 4 when no timer can be armed, Postfix left running.  Its
 * output then holds "*** SPAMSTOP TIMER systemd|PID ***".  The timer
 * runs DIR/<id>.sh: unless the .timer file no longer holds its token,
 * the same idempotent start through the manager found, noting its own
 * clock in the .down file when it started Postfix.  The start, once
 * Postfix runs, disarms the timer (stops the unit, or kills the process
 * group only when the pid's command line holds the token; a timer gone,
 * fired or never armed is fine), prints
 * "*** SPAMSTOP DOWN STOPPED STARTED start|timer ***" (host clock
 * readings, s) when it knows them, and removes the three files.
 */
int postfix_service_command_timer(char **out, enum postfix_service svc,
                                  enum postfix_service_op op, int wait_s,
                                  const struct postfix_dirs *dirs,
                                  const struct postfix_timer *t,
                                  struct errbuf *err);

enum postfix_timer_kind {
    POSTFIX_TIMER_NONE = 0,
    POSTFIX_TIMER_PROCESS,
    POSTFIX_TIMER_SYSTEMD,
};

/* What a service command with a timer printed beyond the manager's word. */
struct postfix_service_info {
    enum postfix_timer_kind timer; /* the stop's timer, as armed */
    long pid;                      /* POSTFIX_TIMER_PROCESS: its pid */
    bool down_known;               /* the start printed a valid down time */
    long long down_ms;             /* stopped to running, host clock */
    bool down_by_timer;            /* the timer, not this start, started */
};

/*
 * Reads the TIMER and DOWN lines of a service command's output.  Remote
 * text: every number is checked (digits only, pid 1..4194304, clock
 * readings at most 10^10 s, a down time from 0 to POSTFIX_DOWN_MAX_MS);
 * SS_EINVAL, with out left empty, for a malformed or repeated line.
 */
int postfix_service_info_parse(struct postfix_service_info *out,
                               const char *text, size_t len,
                               struct errbuf *err);

/*
 * Queue snapshot into the host folder dir (created 0700): a tar (mode
 * bits, numeric owners) of the message files and their defer/bounce/trace
 * logs as dir/queue.tar, kept when it exists already, then streamed to
 * stdout (the evidence copy).  With all, every queued message; else the
 * ids read from stdin (see postfix_ids_input).  Caller frees.
 */
int postfix_snapshot_command(char **out, const char *dir, bool all,
                             const struct postfix_dirs *dirs,
                             struct errbuf *err);

enum postfix_restore_mode {
    POSTFIX_RESTORE_IN_PLACE, /* Postfix stopped: files back where they were */
    POSTFIX_RESTORE_TO_HOLD,  /* Postfix running or not: messages into hold */
};

/*
 * Restores the snapshot tar at path: in place (refused while Postfix
 * runs) or as held messages via a staging folder next to the tar; then
 * postsuper -s.  Prints "restored N" on stdout.  Caller frees.
 */
int postfix_restore_command(char **out, const char *tar_path,
                            enum postfix_restore_mode mode,
                            const struct postfix_dirs *dirs,
                            struct errbuf *err);

enum postfix_postsuper_op {
    POSTFIX_HOLD,    /* postsuper -h - : deferred/active/incoming -> hold */
    POSTFIX_RELEASE, /* postsuper -H - : hold -> deferred */
    POSTFIX_DELETE,  /* postsuper -d - hold : only held messages */
};

/*
 * postsuper with the ids on stdin (postfix_ids_input); with
 * require_stopped the command refuses (exit 75) while Postfix runs, since
 * queue ids can be reused.  Caller frees.
 */
int postfix_postsuper_command(char **out, enum postfix_postsuper_op op,
                              bool require_stopped,
                              const struct postfix_dirs *dirs,
                              struct errbuf *err);

/*
 * Hold with a record (caller frees): the ids on stdin go on hold
 * (postsuper -h -, refused with exit 75 while Postfix runs), then one line
 * "ID INODE SIZE CTIME" per file of those ids in hold/ (CTIME as
 * seconds.nanoseconds), the identity of each held file right after the
 * hold.
 */
char *postfix_hold_record_command(const struct postfix_dirs *dirs);

/*
 * Deletes held messages whose file is unchanged (caller frees): reads
 * "ID INODE SIZE CTIME" lines (postfix_hold_record_command's) on stdin,
 * deletes with postsuper -d - hold only the ids whose hold/ file still has
 * that inode, size and ctime, and prints "checked N matched M".
 */
char *postfix_held_delete_command(const struct postfix_dirs *dirs);

/*
 * The stdin for postsuper and snapshot: one id per line.  Every id is
 * checked with postfix_queue_id_valid; one bad id fails the whole call with
 * SS_EINVAL.  Caller frees *out.
 */
int postfix_ids_input(char **out, size_t *out_len, const char *const *ids,
                      size_t n, struct errbuf *err);

/*
 * Reads postsuper's totals from its stderr ("postsuper: Placed on hold: 3
 * messages"); *out is 0 when no total was printed (no message matched).
 */
int postfix_postsuper_parse_count(size_t *out, const char *text, size_t len,
                                  struct errbuf *err);

#endif
