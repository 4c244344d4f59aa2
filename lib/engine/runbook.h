/* Shared by the runbook actions (service, identify, snapshot, rotate, purge).
 */
#ifndef SPAMSTOP_ENGINE_RUNBOOK_H
#define SPAMSTOP_ENGINE_RUNBOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/buf.h"
#include "spamstop/digest.h"
#include "action.h"
#include "spamstop/error.h"

struct postfix_dirs;

/* Where a run keeps its files on a host: RUNBOOK_HOST_DIR/<run-id>/<host>/. */
#define RUNBOOK_HOST_DIR "/var/lib/spamstop"

/*
 * Largest identify output taken: it goes to disk as it arrives, only its
 * values stay in memory (a million messages are ~0.6 GB of text).
 */
#define RUNBOOK_IDENTIFY_CAP (4ull * 1024 * 1024 * 1024)

/*
 * stderr kept per command: postsuper prints a line per message it moves
 * (about 45 bytes), so a million ids fit.
 */
#define RUNBOOK_ERR_CAP (64u * 1024 * 1024)

/* Largest ids file or undo data read back. */
#define RUNBOOK_IDS_MAX (256u * 1024 * 1024)

/* One flagged message: where it is, and whose it is. */
struct runbook_msg {
    char *queue_name;
    char *queue_id;
    char *account;
};

/*
 * The flagged messages of the accounts of one result.  Read from an ids
 * file, the strings lie in its text (kept in text: no copy per message, a
 * million of them); pushed, each is a copy.
 */
struct runbook_msgs {
    struct runbook_msg *v;
    size_t n;
    size_t alloc;
    size_t total; /* every message of the pass, flagged or not */
    char *text;   /* the ids file read, its lines split in place */
};

#define RUNBOOK_MSGS_INIT                                                      \
    {                                                                          \
        NULL, 0, 0, 0, NULL                                                    \
    }

void runbook_msgs_release(struct runbook_msgs *m);

/*
 * Writes "/var/lib/spamstop/<run-id>/<host>[/sub]" into out (reset first),
 * the host name made file-safe; the run id must be [a-z0-9-] (rundir's
 * ids are).
 */
int runbook_host_dir(struct buf *out, const struct action_ctx *ctx,
                     const char *sub, struct errbuf *err);

/*
 * Writes "RUN/evidence/<host>/<name>" into out (reset first), the host
 * name made file-safe; with make, creates the folder (0700).
 */
int runbook_evidence_path(struct buf *out, const struct action_ctx *ctx,
                          const char *name, bool make, struct errbuf *err);

/*
 * An evidence file written as it arrives, through fsio: open creates the
 * temporary of RUN/evidence/<host>/NAME (0600, fsio_open_temp), the caller
 * writes fd (fsio_append, or an exec_cmd's out_fd), then
 * runbook_evfile_commit syncs it, renames it to NAME (fsio_commit_temp)
 * and records it in the audit trail; release closes and removes a file
 * that was not committed.  NAME never holds part of a file.
 */
struct runbook_evfile {
    int fd;          /* the temporary, until commit or release; else -1 */
    struct buf path; /* RUN/evidence/<host>/NAME */
};

#define RUNBOOK_EVFILE_INIT                                                    \
    {                                                                          \
        -1, BUF_INIT                                                           \
    }

int runbook_evfile_open(struct runbook_evfile *f, const struct action_ctx *ctx,
                        const char *name, struct errbuf *err);
int runbook_evfile_commit(struct runbook_evfile *f, struct action_ctx *ctx,
                          size_t bytes, const char *sha, struct errbuf *err);
void runbook_evfile_release(struct runbook_evfile *f);

/*
 * Runs cmd (secret marks its stdin for the audit trail; err_cap is set
 * when 0) and fails with SS_EREMOTE, naming what and quoting stderr's
 * first line, when it exits non-zero.  res is left for the caller to read
 * and release.
 */
int runbook_exec(struct action_ctx *ctx, const char *what, struct exec_cmd *cmd,
                 bool secret, struct exec_result *res, struct errbuf *err);

/* runbook_exec of command with stdin in, in_len. */
int runbook_run(struct action_ctx *ctx, const char *what, const char *command,
                const void *in, size_t in_len, bool secret,
                struct exec_result *res, struct errbuf *err);

/*
 * The result name a "with" string names: "name" or "{{name}}".  *out
 * points into s (n bytes).  SS_EINVAL when it is neither.
 */
int runbook_result_name(char *out, size_t size, const char *s,
                        struct errbuf *err);

/* The "with" of snapshot and purge: {"accounts": "{{suspects}}"}. */
struct runbook_accounts_with {
    char result[PLAYBOOK_NAME_MAX + 1]; /* identify's result name */
};

/* Parses that "with" into a struct runbook_accounts_with (free()). */
int runbook_accounts_parse(void **out, const char *with_json,
                           struct errbuf *err);

/*
 * Renders a "with" scalar (a template such as "{{params.min_share}}") and
 * strips the quotes the engine puts around every value.  Caller frees.
 */
int runbook_scalar(char **out, struct action_ctx *ctx, const char *tmpl,
                   struct errbuf *err);

/*
 * Loads the flagged messages that identify wrote for result name on this
 * host (RUN/evidence/<host>/<name>.ids), keeping those whose account is
 * in the result now.  Every id and account is checked again.
 */
int runbook_msgs_load(struct runbook_msgs *out, struct action_ctx *ctx,
                      const char *name, struct errbuf *err);

/*
 * runbook_msgs_load of the ids file of result name (RUN/evidence/<host>/
 * <name>.ids), keeping the messages of accounts; with want (64 hex digits)
 * the file must have that SHA-256, else SS_ECORRUPT; with sha, the file's
 * digest is written there.
 */
int runbook_msgs_read(struct runbook_msgs *out, const struct action_ctx *ctx,
                      const char *name, const struct strlist *accounts,
                      const char *want, char *sha, struct errbuf *err);

/* Drops message i of m: the last message takes its place. */
void runbook_msgs_drop(struct runbook_msgs *m, size_t i);

/*
 * Writes text (len bytes) as the evidence file RUN/evidence/<host>/name
 * and records it, with its SHA-256 (written to sha), in the audit trail.
 */
int runbook_evidence_save(struct action_ctx *ctx, const char *name,
                          const char *text, size_t len,
                          char sha[SHA256_HEX_LEN + 1], struct errbuf *err);

/*
 * The ".ids" file text of f's flagged accounts (identify writes it):
 * "total N", then "QUEUE ID ACCOUNT" a message.
 */
struct postfix_findings;
int runbook_ids_format(struct buf *out, const struct postfix_findings *f);

/* Appends one message (copies the strings). */
int runbook_msgs_push(struct runbook_msgs *m, const char *queue_name,
                      const char *queue_id, const char *account);

/*
 * The host's Postfix directories, as an identify pass of this run printed
 * them (a host memo), or NULL: the commands then ask postconf.  keep
 * stores a copy when d names them (nothing else in a run changes
 * main.cf, so they hold for the rest of it).
 */
const struct postfix_dirs *runbook_dirs(struct action_ctx *ctx);
void runbook_dirs_keep(struct action_ctx *ctx, const struct postfix_dirs *d);

/* True (and a plan line) when result name is absent or empty here. */
bool runbook_nothing(struct action_ctx *ctx, const char *name);

#endif
