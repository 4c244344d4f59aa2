/* The libssh executor's pure helpers, exposed for its unit tests. */
#ifndef SPAMSTOP_EXEC_SSH_INTERNAL_H
#define SPAMSTOP_EXEC_SSH_INTERNAL_H

#include <stdbool.h>

#include <libssh/libssh.h>

#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/exec.h"

/*
 * Appends to out the command line sent to the host: command itself, or
 * with become `sudo -n -- sh -c '<command>'` so the whole sh line runs as
 * root and sudo never prompts.
 */
int exec_ssh_wrap_command(struct buf *out, const char *command, bool become);

/*
 * Refuses a host name libssh 0.10.6 would reject (it accepts letters,
 * digits, '-' and '.', or an IP address), with a message saying why.
 */
int exec_ssh_check_hostname(const char *host, struct errbuf *err);

/*
 * Sets up session for target in the documented order: host, then the
 * ssh_config file (opts->ssh_config, or the user's and system's files),
 * then the target's own port and user, then the command-line user and
 * port, known_hosts file and connect timeout.  Makes no connection.
 */
int exec_ssh_configure(ssh_session session, const struct exec_options *opts,
                       const struct exec_target *target, struct errbuf *err);

/*
 * For tests: hands len bytes of stdout to the channel data callback in
 * pieces of chunk bytes, as a run of cmd would receive them, and fills
 * res as run does (head, byte count, digests).  Returns what run would
 * (0, or the sink's code with its message in err).
 */
int exec_ssh_feed(const struct exec_cmd *cmd, struct exec_result *res,
                  const char *data, size_t len, size_t chunk,
                  struct errbuf *err);

#endif
