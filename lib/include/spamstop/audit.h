/* The audit trail: append-only JSON Lines, each record chained by SHA-256. */
#ifndef SPAMSTOP_AUDIT_H
#define SPAMSTOP_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "spamstop/error.h"
#include "spamstop/exec.h"

/* Bytes of stdout/stderr kept verbatim in a record (the digest covers all). */
#define AUDIT_EXCERPT_MAX 2048

struct audit;

/*
 * One record as the engine hands it over.  Strings may be NULL (omitted).
 * The trail adds: seq, time, run id, operator, sudo user, prev (SHA-256 of
 * the previous record's line) -- the caller never sets those.
 */
struct audit_record {
    const char *event;       /* "run-start", "command", "evidence",
                                "host-end", "run-end", "note", ... */
    const char *host;        /* host name as the user wrote it */
    const char *fingerprint; /* the host key, "SHA256:..." */
    const char *step;        /* playbook step name */
    const char *phase;       /* "probe", "apply", "undo", "commit", ... */
    const char *command;     /* as run; never holds a secret (they go on
                                stdin, see stdin_bytes) */
    size_t stdin_bytes;      /* bytes sent on stdin (content never kept) */
    bool stdin_secret;       /* stdin held a secret */
    const struct exec_result *result; /* exit, signal, duration, digests
                                         and excerpts come from here */
    int rc;                 /* the executor's return code (0, timeout..) */
    const char *detail;     /* free text, e.g. an error message or a
                               file's path and digest for "evidence" */
    const char *extra_json; /* a JSON object text merged in as "data", or
                               NULL; must not hold secrets */
};

#define AUDIT_RECORD_INIT                                                      \
    {                                                                          \
        NULL, NULL, NULL, NULL, NULL, NULL, 0, false, NULL, 0, NULL, NULL      \
    }

/*
 * Opens (creating 0600 if needed) the trail at path for run_id, reading the
 * last record to continue the chain.  Refuses a damaged trail
 * (SS_ECORRUPT).  The caller frees with audit_close.
 */
int audit_open(struct audit **out, const char *path, const char *run_id,
               struct errbuf *err);

/* Appends one record; safe to call from many threads at once. */
int audit_append(struct audit *a, const struct audit_record *rec,
                 struct errbuf *err);

/* Flushes to disk (fdatasync) and frees; NULL-safe. */
void audit_close(struct audit *a);

/* What audit_verify found. */
struct audit_verify_result {
    size_t records;   /* records read */
    bool ok;          /* the chain is intact */
    size_t bad_line;  /* 1-based line of the first bad record, 0 if ok */
    char reason[256]; /* e.g. "record 7 was edited or removed: ..." */
    char head[SHA256_HEX_LEN + 1]; /* SHA-256 of the last line read, ""
                                      when the trail is empty */
};

/*
 * Verifies the trail in memory: every record parses, seq runs 1, 2, ...,
 * and each prev is the SHA-256 of the line before.  Returns 0 when it
 * could be read (then look at out->ok), an error code otherwise.
 */
int audit_verify_string(struct audit_verify_result *out, const char *data,
                        size_t len);
int audit_verify_file(struct audit_verify_result *out, const char *path,
                      struct errbuf *err);

/*
 * An anchor kept outside the trail (run.json's "audit_records" and
 * "audit_head", the run recap): the trail must still hold at least
 * records lines and line records must hash to head.  Catches a truncated
 * tail and an edit of the last record, which the chain alone cannot.
 */
struct audit_anchor {
    uint64_t records;
    char head[SHA256_HEX_LEN + 1]; /* "" = check only the count */
};

/* The current head of an open trail (under its lock). */
void audit_get_anchor(struct audit *a, struct audit_anchor *out);

/* Fsyncs the records appended so far (audit_append does not). */
int audit_sync(struct audit *a, struct errbuf *err);

/* Parses "N:HEX" (or "N") into an anchor; SS_EINVAL when malformed. */
int audit_anchor_parse(struct audit_anchor *out, const char *s);

/* audit_verify_string/_file, also checking an anchor (NULL = none). */
int audit_verify_string_anchor(struct audit_verify_result *out,
                               const char *data, size_t len,
                               const struct audit_anchor *anchor);
int audit_verify_file_anchor(struct audit_verify_result *out, const char *path,
                             const struct audit_anchor *anchor,
                             struct errbuf *err);

/* Largest trail the readers accept. */
#define AUDIT_FILE_MAX (1024u * 1024 * 1024)

/*
 * Writes a human timeline of the trail at path to f (flushed; SS_ERR when
 * f could not take it all).
 */
int audit_show(FILE *f, const char *path, struct errbuf *err);

#endif
