/* The host lock kept on the host itself: one responder per host. */
#ifndef SPAMSTOP_ENGINE_HOSTLOCK_H
#define SPAMSTOP_ENGINE_HOSTLOCK_H

#include <stddef.h>

#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/exec.h"

/*
 * Where the lock lives on a host: HOSTLOCK_DIR/lock (flock) guards
 * HOSTLOCK_DIR/holder, one line "RUNID OPERATOR SINCE PID STARTTIME":
 * the run, who started it, when (epoch seconds), and the sshd process of
 * the SSH connection holding it with its start time (field 22 of
 * /proc/PID/stat).  A holder whose process is gone, or another process
 * now, is stale: the connection died, and the lock with it.
 */
#define HOSTLOCK_DIR "/run/spamstop"

/* Deadline of a lock command (the script waits up to 10 s for flock). */
#define HOSTLOCK_TIMEOUT_MS 30000

/* Output kept from a lock command: its answer is one short line. */
#define HOSTLOCK_OUT_CAP 4096

/* Longest operator name ("user@host") kept and accepted back. */
#define HOSTLOCK_OPERATOR_MAX 128

enum hostlock_op {
    HOSTLOCK_TAKE,    /* take, or take over from a stale holder */
    HOSTLOCK_RELEASE, /* remove the holder record when it is ours */
};

/*
 * Writes "user@hostname" of this process into out (NUL-terminated), every
 * byte outside [A-Za-z0-9._-] of either part as '_'.  Thread-safe.
 */
void hostlock_operator(char *out, size_t size);

/*
 * Writes into out (reset first) the sh command that takes or releases the
 * lock in dir (HOSTLOCK_DIR on hosts; tests pass a scratch folder): the
 * values as quoted assignments, then the script.  SS_EINVAL when run_id
 * is not a run id or operator_name (take only; NULL for release) is not
 * 1..HOSTLOCK_OPERATOR_MAX bytes of [A-Za-z0-9._@-].
 */
int hostlock_command(struct buf *out, enum hostlock_op op, const char *dir,
                     const char *run_id, const char *operator_name,
                     struct errbuf *err);

/*
 * Fills cmd to run command with the lock's deadline and output caps
 * (command is borrowed).
 */
void hostlock_cmd(struct exec_cmd *cmd, const char *command);

/*
 * Reads the answer of a lock command that returned rc (run_err its
 * message when rc < 0): 0 when taken or released; SS_ELOCKED when another
 * live run holds the host, naming it ("host locked by run R of OP since
 * 2026-12-05 04:15:02 UTC") when the holder's fields check out; rc itself
 * when the command did not run to its end; SS_EREMOTE for any other exit
 * or answer.  Nothing the host printed reaches err unchecked.
 */
int hostlock_answer(enum hostlock_op op, int rc, const struct exec_result *res,
                    const struct errbuf *run_err, struct errbuf *err);

#endif
