/* The executor: how the rest of spamstop runs commands on a host. */
#ifndef SPAMSTOP_EXEC_H
#define SPAMSTOP_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spamstop/buf.h"
#include "spamstop/digest.h"
#include "spamstop/error.h"

/* Default caps and deadlines. */
#define EXEC_DEFAULT_OUT_CAP            (64u * 1024 * 1024)
#define EXEC_DEFAULT_ERR_CAP            (1u * 1024 * 1024)
#define EXEC_DEFAULT_TIMEOUT_MS         120000
#define EXEC_DEFAULT_CONNECT_TIMEOUT_MS 10000

/* One host as the user named it, with its per-host connection settings. */
struct exec_target {
    char *name;    /* as written by the user or the inventory */
    char *address; /* where to connect (ansible_host); NULL = name */
    int port;      /* 0 = from ssh config, else 22 */
    char *user;    /* NULL = from ssh config, else the local user */
    bool become;   /* wrap commands in sudo -n */
};

#define EXEC_TARGET_INIT                                                       \
    {                                                                          \
        NULL, NULL, 0, NULL, false                                             \
    }
void exec_target_release(struct exec_target *t);
/* Deep copy; returns 0 or SS_ERR. */
int exec_target_copy(struct exec_target *out, const struct exec_target *in);

/*
 * Settings that apply to every connection.  Command-line values win over
 * ~/.ssh/config (or the -F file), which wins over defaults.  Per-host
 * values in exec_target win over the config file; user and port given
 * here win over both.
 */
struct exec_options {
    const char *ssh_config;  /* -F FILE; NULL = ~/.ssh/config */
    const char *identity;    /* --identity FILE; NULL = agent + defaults */
    const char *known_hosts; /* --known-hosts FILE; NULL = ~/.ssh/... */
    const char *user;        /* --user: wins over everything */
    int port;                /* --port: wins over everything; 0 = unset */
    bool accept_new;         /* trust on first use for unknown hosts */
    bool become;             /* --become: sudo -n on every host */
    int connect_timeout_ms;  /* 0 = EXEC_DEFAULT_CONNECT_TIMEOUT_MS */
    int verbosity;           /* libssh log level; 0 = quiet */
};

#define EXEC_OPTIONS_INIT                                                      \
    {                                                                          \
        NULL, NULL, NULL, NULL, 0, false, false, 0, 0                          \
    }

/* Stdout kept in res->out when it goes to on_out: an excerpt's worth. */
#define EXEC_STREAM_HEAD 4096u

/*
 * Receives stdout as it arrives: len > 0 bytes at a time, in order, cut
 * anywhere (a line may span calls).  Called in the thread that runs the
 * command (the host's worker), never after run returned.  Returns 0, or
 * < 0 with err set to stop the command: run then closes the channel and
 * returns that code and message.
 */
struct exec_sink {
    int (*fn)(void *arg, const char *data, size_t len, struct errbuf *err);
    void *arg;
};

/* One command to run on a connected host. */
struct exec_cmd {
    const char *command; /* an sh command line; remote data is quoted */
    const void *input;   /* stdin bytes (may be a secret) or NULL */
    size_t input_len;
    int timeout_ms; /* deadline for the whole command; 0 = default */
    size_t out_cap; /* stdout cap when buffered; 0 = default */
    size_t err_cap; /* stderr cap; 0 = default */
    int out_fd;     /* >= 0: stream stdout here (fetch), no cap */
    /*
     * fn set: stdout goes to the sink as it arrives and is not
     * accumulated: res->out keeps only its first EXEC_STREAM_HEAD bytes
     * (for the audit excerpt), out_cap and out_fd are not used, and the
     * sink bounds whatever it keeps.  out_bytes and out_sha256 still
     * cover all of stdout.
     */
    struct exec_sink on_out;
};

#define EXEC_CMD_INIT                                                          \
    {                                                                          \
        NULL, NULL, 0, 0, 0, 0, -1,                                            \
        {                                                                      \
            NULL, NULL                                                         \
        }                                                                      \
    }

/* What a command did.  exec_result_release frees it. */
struct exec_result {
    struct buf out;       /* stdout (empty when streamed to out_fd, its head
                             when streamed to on_out) */
    struct buf err;       /* stderr */
    int exit_status;      /* -1 when none: signal or error */
    char exit_signal[32]; /* e.g. "KILL" when killed by a signal */
    uint64_t out_bytes;   /* all stdout bytes, buffered or streamed */
    uint64_t err_bytes;
    unsigned char out_sha256[SHA256_LEN]; /* of all stdout bytes */
    unsigned char err_sha256[SHA256_LEN];
    long duration_ms;
};

void exec_result_init(struct exec_result *r);
void exec_result_release(struct exec_result *r);

struct exec_conn;
struct executor;

/*
 * The interface.  Implementations: the libssh one (exec_ssh_new) and the
 * scripted fake in the unit tests.
 *
 * run returns 0 when the command ran to its end whatever its exit status
 * (the caller reads res->exit_status), SS_ETIMEOUT when the deadline
 * passed (the channel is closed), SS_ETOOBIG when stdout or stderr passed
 * its cap (reading stops, the channel is closed), SS_ECONNECT when the
 * connection broke, or the code of a sink (on_out) that refused data
 * (the channel is closed).  res is filled as far as it got in every case.
 */
struct executor_ops {
    int (*connect)(struct exec_conn **out, struct executor *ex,
                   const struct exec_target *target, struct errbuf *err);
    int (*run)(struct exec_conn *conn, const struct exec_cmd *cmd,
               struct exec_result *res, struct errbuf *err);
    /* "SHA256:..." of the host key, valid while connected. */
    const char *(*fingerprint)(struct exec_conn *conn);
    void (*close)(struct exec_conn *conn);
    void (*free)(struct executor *ex);
};

struct executor {
    const struct executor_ops *ops;
    void *priv;
};

/* Thin wrappers over ops, so callers read naturally. */
int exec_connect(struct exec_conn **out, struct executor *ex,
                 const struct exec_target *target, struct errbuf *err);
int exec_run(struct exec_conn *conn, const struct exec_cmd *cmd,
             struct exec_result *res, struct errbuf *err);
const char *exec_fingerprint(struct exec_conn *conn);
void exec_close(struct exec_conn *conn);
void executor_free(struct executor *ex);

/*
 * Runs command and streams its stdout into the local file path (0600,
 * written through fsio: a temporary, fsynced, renamed), returning its size
 * and SHA-256.  On any failure (a non-zero exit is SS_EREMOTE) path is
 * left as it was.
 */
int exec_fetch(struct exec_conn *conn, const char *command, const char *path,
               int timeout_ms, uint64_t *out_size,
               char out_sha256_hex[SHA256_HEX_LEN + 1], struct errbuf *err);

/* Every connection remembers which executor made it. */
struct exec_conn {
    struct executor *ex;
};

/*
 * The libssh executor.  opts is copied.  Returns NULL on ENOMEM.
 * Thread use: one exec_conn per thread; connect may be called from many
 * threads at once.
 */
struct executor *exec_ssh_new(const struct exec_options *opts);

#endif
