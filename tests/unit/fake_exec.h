/* A scripted fake executor for unit tests: rules, a command log, faults. */
#ifndef SPAMSTOP_TEST_FAKE_EXEC_H
#define SPAMSTOP_TEST_FAKE_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/exec.h"

/*
 * Makes a fake executor.  What a command does is decided, in order, by:
 * 1. the first rule (fake_exec_rule) whose host and substring match and
 *    whose occurrence count fits;
 * 2. the handler (fake_exec_set_handler), if set;
 * 3. with a shell root (fake_exec_shell_root), the command really runs
 *    under /bin/sh -c in ROOT/<host>/ on this machine (stdin passed on), so
 *    tests can look at a "host" as files;
 * 4. otherwise it succeeds with no output.
 * Free it with executor_free.  Thread-safe.
 */
struct executor *fake_exec_new(void);

/*
 * Adds a rule: a command on host (NULL = any) containing match (NULL =
 * any) gets rc from run (0, SS_ETIMEOUT, SS_ECONNECT...), exit_status,
 * stdout and stderr (NULL = empty).  nth > 0 makes the rule apply only to
 * the nth matching command (1-based, counted per rule), 0 to all.
 */
void fake_exec_rule(struct executor *ex, const char *host, const char *match,
                    int nth, int rc, int exit_status, const char *out,
                    const char *err);

/* What connect does for host: rc (0 = fine) and the key's fingerprint. */
void fake_exec_host(struct executor *ex, const char *host, int connect_rc,
                    const char *fingerprint);

/* A handler for commands no rule matched; returns like executor run. */
void fake_exec_set_handler(struct executor *ex,
                           int (*fn)(void *arg, const char *host,
                                     const struct exec_cmd *cmd,
                                     struct exec_result *res,
                                     struct errbuf *err),
                           void *arg);

/* Runs unmatched commands for real under ROOT/<host> (see above). */
void fake_exec_shell_root(struct executor *ex, const char *root);

/* Each command takes at least ms milliseconds (parallelism tests). */
void fake_exec_delay(struct executor *ex, int ms);

/*
 * A command's stdout sink (exec_cmd on_out) gets its output n bytes at a
 * time (0, the default: in one call), as a network would cut it.
 */
void fake_exec_chunk(struct executor *ex, size_t n);

/* The log: commands run so far, in order, with host and stdin. */
size_t fake_exec_count(struct executor *ex);
const char *fake_exec_command(struct executor *ex, size_t i);
const char *fake_exec_cmd_host(struct executor *ex, size_t i);
const char *fake_exec_stdin(struct executor *ex, size_t i);
/* Commands whose text contains s (on host, NULL = any). */
size_t fake_exec_count_matching(struct executor *ex, const char *host,
                                const char *s);
/* Connections made so far, and the most commands in flight at once. */
size_t fake_exec_connects(struct executor *ex);
int fake_exec_max_parallel(struct executor *ex);
/* Forgets the log (rules stay). */
void fake_exec_clear_log(struct executor *ex);

/*
 * Fills res as a real run would: stdout/stderr with caps, digests; stdout
 * goes to cmd's sink when it has one (in one call).
 */
int fake_exec_fill(struct exec_result *res, const struct exec_cmd *cmd,
                   int exit_status, const char *out, size_t out_len,
                   const char *err, size_t err_len);

/* fake_exec_fill, the sink fed chunk bytes at a time, its error in eb. */
int fake_exec_fill_sink(struct exec_result *res, const struct exec_cmd *cmd,
                        int exit_status, const char *out, size_t out_len,
                        const char *err, size_t err_len, size_t chunk,
                        struct errbuf *eb);

#endif
