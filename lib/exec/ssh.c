/* The libssh executor: one blocking session per worker thread, own deadlines.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "exec/ssh_internal.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/shquote.h"

/* Largest known_hosts file read to name the recorded key in an error. */
#define KNOWN_HOSTS_READ_MAX (4u * 1024 * 1024)

/* How long one wait for channel traffic may last before re-checking. */
#define RUN_POLL_SLICE_MS 1000

/* ssh_session_update_known_hosts appends unlocked: one writer at a time. */
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

/* The executor's private state: a deep copy of the options. */
struct sshx_executor {
    struct executor base;
    struct exec_options opts;
    char *ssh_config;
    char *identity;
    char *known_hosts;
    char *user;
};

/* One connected host; base must stay the first member. */
struct sshx_conn {
    struct exec_conn base;
    ssh_session session;
    char *name;
    bool become;
    char fingerprint[128];
};

/* What the channel callbacks collect while a command runs. */
struct run_state {
    struct exec_result *res;
    const struct exec_cmd *cmd;
    struct sha256_ctx out_md;
    struct sha256_ctx err_md;
    bool eof;
    bool closed;
    bool got_status;
    bool too_big;
    bool write_failed;
    int write_errno;
    int status;
    int sink_rc;            /* < 0: the stdout sink refused data */
    struct errbuf sink_err; /* and why */
};

/* Monotonic milliseconds, for deadlines and durations. */
static long long now_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC always exists on Linux: this cannot fail. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int exec_ssh_wrap_command(struct buf *out, const char *command, bool become)
{
    int r;

    if (!become)
        return buf_adds(out, command);
    if ((r = buf_adds(out, "sudo -n -- sh -c ")) < 0)
        return r;
    return shquote_add(out, command);
}

int exec_ssh_check_hostname(const char *host, struct errbuf *err)
{
    unsigned char addr[16];
    const char *p;

    if (host == NULL || *host == '\0')
        return errbuf_set(err, SS_EINVAL, "empty host name");
    if (inet_pton(AF_INET, host, addr) == 1 ||
        inet_pton(AF_INET6, host, addr) == 1)
        return 0;
    if (strchr(host, '_') != NULL)
        return errbuf_set(err, SS_EINVAL,
                          "host name '%s' contains '_', which libssh 0.10 "
                          "rejects: use its address, or an alias of letters, "
                          "digits, '-' and '.'",
                          host);
    if (strchr(host, ':') != NULL)
        return errbuf_set(err, SS_EINVAL,
                          "host name '%s' holds a ':': give the port with "
                          "--port or in the ssh config",
                          host);
    if (host[0] == '-' || host[0] == '.')
        return errbuf_set(err, SS_EINVAL,
                          "host name '%s' must start with a letter or digit",
                          host);
    for (p = host; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return errbuf_set(err, SS_EINVAL,
                              "host name '%s' holds a character libssh "
                              "rejects (letters, digits, '-' and '.' only)",
                              host);
    }
    return 0;
}

/* Sets the connect timeout (and libssh's bound on other blocking calls). */
static int set_timeout_ms(ssh_session session, long ms)
{
    long sec = ms / 1000, usec = (ms % 1000) * 1000;

    if (ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &sec) < 0 ||
        ssh_options_set(session, SSH_OPTIONS_TIMEOUT_USEC, &usec) < 0)
        return SS_ERR;
    return 0;
}

int exec_ssh_configure(ssh_session session, const struct exec_options *opts,
                       const struct exec_target *target, struct errbuf *err)
{
    const char *host = target->address ? target->address : target->name;
    unsigned int port;
    int nodelay = 1;
    int r;

    if ((r = exec_ssh_check_hostname(host, err)) < 0)
        return r;
    if (ssh_options_set(session, SSH_OPTIONS_HOST, host) < 0)
        return errbuf_set(err, SS_EINVAL, "bad host '%s': %s", host,
                          ssh_get_error(session));
    if (opts->verbosity > 0 &&
        ssh_options_set(session, SSH_OPTIONS_LOG_VERBOSITY, &opts->verbosity) <
            0)
        return errbuf_set(err, SS_ERR, "cannot set log level: %s",
                          ssh_get_error(session));
    /* A default the config file's ConnectTimeout may override. */
    if (set_timeout_ms(session, EXEC_DEFAULT_CONNECT_TIMEOUT_MS) < 0)
        return errbuf_set(err, SS_ERR, "cannot set timeout: %s",
                          ssh_get_error(session));
    if (opts->ssh_config != NULL && access(opts->ssh_config, R_OK) < 0)
        return errbuf_errno(err, SS_EINVAL, "cannot read ssh config '%s'",
                            opts->ssh_config);
    if (ssh_options_parse_config(session, opts->ssh_config) < 0)
        return errbuf_set(err, SS_EINVAL, "bad ssh config '%s': %s",
                          opts->ssh_config ? opts->ssh_config : "~/.ssh/config",
                          ssh_get_error(session));
    if (target->port > 0) {
        port = (unsigned int)target->port;
        if (ssh_options_set(session, SSH_OPTIONS_PORT, &port) < 0)
            return errbuf_set(err, SS_EINVAL, "bad port %d for '%s'",
                              target->port, target->name);
    }
    if (target->user != NULL &&
        ssh_options_set(session, SSH_OPTIONS_USER, target->user) < 0)
        return errbuf_set(err, SS_EINVAL, "bad user '%s' for '%s'",
                          target->user, target->name);
    if (opts->user != NULL &&
        ssh_options_set(session, SSH_OPTIONS_USER, opts->user) < 0)
        return errbuf_set(err, SS_EINVAL, "bad user '%s'", opts->user);
    if (opts->port > 0) {
        port = (unsigned int)opts->port;
        if (ssh_options_set(session, SSH_OPTIONS_PORT, &port) < 0)
            return errbuf_set(err, SS_EINVAL, "bad port %d", opts->port);
    }
    if (opts->known_hosts != NULL &&
        ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, opts->known_hosts) < 0)
        return errbuf_set(err, SS_EINVAL, "bad known_hosts file '%s'",
                          opts->known_hosts);
    if (opts->connect_timeout_ms > 0 &&
        set_timeout_ms(session, opts->connect_timeout_ms) < 0)
        return errbuf_set(err, SS_ERR, "cannot set timeout: %s",
                          ssh_get_error(session));
    /*
     * Nagle off: a command is a few small packets each way, and each could
     * wait for the server's delayed ACK (docs/performance.md, "Why the SSH
     * layer does X").
     */
    if (ssh_options_set(session, SSH_OPTIONS_NODELAY, &nodelay) < 0)
        return errbuf_set(err, SS_ERR, "cannot set TCP_NODELAY: %s",
                          ssh_get_error(session));
    return 0;
}

/* Frees a connection in any state; NULL-safe. */
static void sshx_conn_free(struct sshx_conn *c)
{
    if (c == NULL)
        return;
    if (c->session != NULL) {
        ssh_disconnect(c->session);
        ssh_free(c->session);
    }
    free(c->name);
    free(c);
}

/* "host" or "[host]:port", the form known_hosts files record. */
static void known_hosts_name(char *out, size_t size, ssh_session session)
{
    char *host = NULL;
    unsigned int port = 22;

    /* For a message only: without them, "" and port 22 are shown. */
    (void)ssh_options_get(session, SSH_OPTIONS_HOST, &host);
    (void)ssh_options_get_port(session, &port);
    if (port == 22)
        snprintf(out, size, "%s", host ? host : "");
    else
        snprintf(out, size, "[%s]:%u", host ? host : "", port);
    ssh_string_free_char(host);
}

/* SHA256 fingerprint of key into out; "" when it cannot be computed. */
static void key_fingerprint(char *out, size_t size, ssh_key key)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;

    out[0] = '\0';
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) <
        0)
        return;
    fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp != NULL)
        snprintf(out, size, "%s", fp);
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
}

/*
 * Describes the keys known_hosts records for the host ("ssh-ed25519
 * SHA256:..."), so a changed-key error can show both sides.
 */
static void recorded_keys(char *out, size_t size, ssh_session session)
{
    char *path = NULL, *data = NULL, *line, *save = NULL;
    char name[600], fp[128];
    size_t used = 0;

    out[0] = '\0';
    known_hosts_name(name, sizeof(name), session);
    if (ssh_options_get(session, SSH_OPTIONS_KNOWNHOSTS, &path) < 0)
        return;
    if (fsio_read_file(&data, NULL, path, KNOWN_HOSTS_READ_MAX, NULL) < 0)
        goto out;
    for (line = strtok_r(data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        struct ssh_knownhosts_entry *e = NULL;
        int n;

        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (ssh_known_hosts_parse_line(name, line, &e) != SSH_OK || e == NULL ||
            e->publickey == NULL) {
            ssh_knownhosts_entry_free(e);
            continue;
        }
        key_fingerprint(fp, sizeof(fp), e->publickey);
        n = snprintf(out + used, size - used, "%s%s %s", used ? ", " : "",
                     ssh_key_type_to_char(ssh_key_type(e->publickey)), fp);
        ssh_knownhosts_entry_free(e);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
out:
    free(data);
    ssh_string_free_char(path);
}

/* Records the server's key with the file lock held (first use only). */
static int accept_new_key(struct sshx_conn *c, const char *type,
                          struct errbuf *err)
{
    enum ssh_known_hosts_e state;
    int r = 0;

    pthread_mutex_lock(&known_hosts_lock);
    /* Another thread may have recorded the same host meanwhile. */
    state = ssh_session_is_known_server(c->session);
    if (state == SSH_KNOWN_HOSTS_OK)
        goto out;
    if (state != SSH_KNOWN_HOSTS_UNKNOWN &&
        state != SSH_KNOWN_HOSTS_NOT_FOUND) {
        r = errbuf_set(err, SS_EHOSTKEY,
                       "host key of '%s' changed while it was being "
                       "accepted: %s key %s",
                       c->name, type, c->fingerprint);
        goto out;
    }
    if (ssh_session_update_known_hosts(c->session) != SSH_OK)
        r = errbuf_set(err, SS_EHOSTKEY,
                       "cannot record the host key of '%s': %s", c->name,
                       ssh_get_error(c->session));
out:
    pthread_mutex_unlock(&known_hosts_lock);
    return r;
}

/*
 * Checks the server's key against known_hosts; runs before any
 * authentication so a refused host never sees a key or a command.
 */
static int check_host_key(struct sshx_conn *c, bool accept_new,
                          struct errbuf *err)
{
    ssh_key key = NULL;
    char recorded[512];
    const char *type;
    int r = SS_EHOSTKEY;

    if (ssh_get_server_publickey(c->session, &key) < 0) {
        r = errbuf_set(err, SS_ECONNECT, "no host key from '%s': %s", c->name,
                       ssh_get_error(c->session));
        goto out;
    }
    type = ssh_key_type_to_char(ssh_key_type(key));
    key_fingerprint(c->fingerprint, sizeof(c->fingerprint), key);
    switch (ssh_session_is_known_server(c->session)) {
    case SSH_KNOWN_HOSTS_OK: r = 0; break;
    case SSH_KNOWN_HOSTS_CHANGED:
        recorded_keys(recorded, sizeof(recorded), c->session);
        errbuf_set(err, SS_EHOSTKEY,
                   "host key of '%s' has changed: it offers %s key %s, "
                   "known_hosts records %s; refusing the host (if the "
                   "change is expected, remove the old entry with "
                   "ssh-keygen -R)",
                   c->name, type, c->fingerprint,
                   recorded[0] ? recorded : "another key");
        break;
    case SSH_KNOWN_HOSTS_OTHER:
        recorded_keys(recorded, sizeof(recorded), c->session);
        errbuf_set(err, SS_EHOSTKEY,
                   "host key of '%s' has changed: it offers %s key %s, "
                   "known_hosts records only other key types (%s); refusing "
                   "the host",
                   c->name, type, c->fingerprint,
                   recorded[0] ? recorded : "unknown");
        break;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        if (accept_new) {
            r = accept_new_key(c, type, err);
            break;
        }
        errbuf_set(err, SS_EHOSTKEY,
                   "unknown host key for '%s': %s key %s (use --accept-new "
                   "to trust it on first use)",
                   c->name, type, c->fingerprint);
        break;
    case SSH_KNOWN_HOSTS_ERROR:
    default:
        errbuf_set(err, SS_EHOSTKEY, "cannot check the host key of '%s': %s",
                   c->name, ssh_get_error(c->session));
        break;
    }
out:
    ssh_key_free(key);
    return r;
}

/* Set by the passphrase callback, so the error can say what happened. */
struct prompt_state {
    bool asked;
};

/* Refuses every passphrase prompt: spamstop never reads the TTY. */
static int refuse_prompt(const char *prompt, char *buf, size_t len, int echo,
                         int verify, void *userdata)
{
    struct prompt_state *ps = userdata;

    (void)prompt;
    (void)echo;
    (void)verify;
    if (len > 0)
        buf[0] = '\0';
    ps->asked = true;
    return -1;
}

/* The login name libssh will use, for messages. */
static void session_user(char *out, size_t size, ssh_session session)
{
    char *user = NULL;

    /* For a message only: without it, "?" is shown. */
    (void)ssh_options_get(session, SSH_OPTIONS_USER, &user);
    snprintf(out, size, "%s", user ? user : "?");
    ssh_string_free_char(user);
}

/* Authenticates with the given key file, else the agent and default keys. */
static int authenticate(struct sshx_conn *c, const char *identity,
                        struct errbuf *err)
{
    struct prompt_state ps = {false};
    ssh_key key = NULL;
    char user[256];
    int rc, r = SS_EAUTH;

    session_user(user, sizeof(user), c->session);
    if (identity != NULL) {
        rc = ssh_pki_import_privkey_file(identity, NULL, refuse_prompt, &ps,
                                         &key);
        if (rc != SSH_OK) {
            if (ps.asked)
                errbuf_set(err, SS_EAUTH,
                           "key '%s' needs a passphrase and spamstop never "
                           "prompts: load it into ssh-agent and drop "
                           "--identity",
                           identity);
            else
                errbuf_set(err, SS_EAUTH, "cannot read key '%s'", identity);
            goto out;
        }
        rc = ssh_userauth_publickey(c->session, NULL, key);
    } else {
        rc = ssh_userauth_publickey_auto(c->session, NULL, NULL);
    }
    if (rc == SSH_AUTH_SUCCESS) {
        r = 0;
    } else if (rc == SSH_AUTH_ERROR) {
        r = errbuf_set(err, SS_ECONNECT,
                       "authentication as '%s' on '%s' failed: %s", user,
                       c->name, ssh_get_error(c->session));
    } else {
        errbuf_set(err, SS_EAUTH,
                   "authentication as '%s' on '%s' refused (tried %s)", user,
                   c->name, identity ? identity : "the agent and ~/.ssh/id_*");
    }
out:
    ssh_key_free(key);
    return r;
}

/* Sends the ACK the kernel is holding back for data received, now. */
static void ack_now(socket_t fd)
{
    int one = 1;

    /* Only a hint: refused, the ACK goes out late and nothing breaks. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/*
 * Right after authentication sshd sends unasked a packet of its own
 * (hostkeys-00@openssh.com) with Nagle on, and its reply to our first
 * channel open would wait for our delayed ACK of it.  So the ACK of what
 * came with the success goes out at once, we wait up to SETTLE_MS for that
 * packet and ACK it at once too; a server that sends nothing costs
 * SETTLE_MS once (figures: docs/performance.md, "Why the SSH layer does X").
 */
#define SETTLE_MS 10
static void settle_after_auth(ssh_session session)
{
    struct pollfd p;

    p.fd = ssh_get_fd(session);
    if (p.fd == SSH_INVALID_SOCKET)
        return;
    ack_now(p.fd);
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, SETTLE_MS) == 1)
        ack_now(p.fd);
}

/* connect op: configure, connect, check the host key, authenticate. */
static int sshx_connect_op(struct exec_conn **out, struct executor *ex,
                           const struct exec_target *target, struct errbuf *err)
{
    struct sshx_executor *sx = ex->priv;
    struct sshx_conn *c = NULL;
    char where[600];
    int r = SS_ERR;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->name = strdup(target->name)) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    c->base.ex = ex;
    c->become = target->become || sx->opts.become;
    if ((c->session = ssh_new()) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = exec_ssh_configure(c->session, &sx->opts, target, err)) < 0)
        goto out;
    if (ssh_connect(c->session) != SSH_OK) {
        known_hosts_name(where, sizeof(where), c->session);
        r = errbuf_set(err, SS_ECONNECT, "cannot connect to '%s' (%s): %s",
                       c->name, where, ssh_get_error(c->session));
        goto out;
    }
    if ((r = check_host_key(c, sx->opts.accept_new, err)) < 0)
        goto out;
    if ((r = authenticate(c, sx->opts.identity, err)) < 0)
        goto out;
    settle_after_auth(c->session);
    *out = &c->base;
    c = NULL;
    r = 0;
out:
    sshx_conn_free(c);
    return r;
}

/*
 * How an error names a command: its first line, at most CMD_SHOWN bytes
 * (the scripts are pages long), "..." when cut.  The fact the error
 * states comes before it, so a cut message never loses it.
 */
#define CMD_SHOWN     60
#define CMD_FMT       "'%.*s%s'"
#define CMD_ARGS(cmd) (int)cmd_shown(cmd), (cmd), cmd_cut(cmd) ? "..." : ""

static size_t cmd_shown(const char *cmd)
{
    size_t n = strcspn(cmd, "\n");

    return n < CMD_SHOWN ? n : CMD_SHOWN;
}

static bool cmd_cut(const char *cmd)
{
    return cmd[cmd_shown(cmd)] != '\0';
}

/* Stdout for the command's sink: its head kept, the rest handed on. */
static int on_data_sink(struct run_state *st, const char *data, uint32_t len)
{
    struct buf *head = &st->res->out;
    size_t keep =
        head->len < EXEC_STREAM_HEAD ? EXEC_STREAM_HEAD - head->len : 0;

    if (st->sink_rc < 0)
        return (int)len;
    /* within its cap (EXEC_STREAM_HEAD): cannot overflow */
    if (keep > 0 && buf_add(head, data, keep < len ? keep : len) < 0)
        st->too_big = true;
    st->sink_rc =
        st->cmd->on_out.fn(st->cmd->on_out.arg, data, len, &st->sink_err);
    if (st->sink_rc < 0 && st->sink_err.code == 0)
        errbuf_set(&st->sink_err, st->sink_rc,
                   "the output was refused, of " CMD_FMT,
                   CMD_ARGS(st->cmd->command));
    return (int)len;
}

/* Data from the channel: hash, cap, buffer or stream. */
static int on_data(ssh_session session, ssh_channel channel, void *data,
                   uint32_t len, int is_stderr, void *userdata)
{
    struct run_state *st = userdata;
    struct exec_result *res = st->res;

    (void)session;
    (void)channel;
    if (st->too_big || st->write_failed)
        return (int)len;
    if (is_stderr) {
        res->err_bytes += len;
        sha256_update(&st->err_md, data, len);
        if (buf_add(&res->err, data, len) < 0)
            st->too_big = true;
        return (int)len;
    }
    res->out_bytes += len;
    sha256_update(&st->out_md, data, len);
    if (st->cmd->on_out.fn != NULL)
        return on_data_sink(st, data, len);
    if (st->cmd->out_fd < 0) {
        if (buf_add(&res->out, data, len) < 0)
            st->too_big = true;
        return (int)len;
    }
    /* Through fsio, so its fault injection reaches a streamed fetch too. */
    if (fsio_append(st->cmd->out_fd, data, len, 0, NULL) < 0) {
        st->write_failed = true;
        st->write_errno = errno;
    }
    return (int)len;
}

/* The remote closed its stdout and stderr. */
static void on_eof(ssh_session session, ssh_channel channel, void *userdata)
{
    struct run_state *st = userdata;

    (void)session;
    (void)channel;
    st->eof = true;
}

/* The remote closed the channel. */
static void on_close(ssh_session session, ssh_channel channel, void *userdata)
{
    struct run_state *st = userdata;

    (void)session;
    (void)channel;
    st->closed = true;
}

/* The command's exit status arrived. */
static void on_exit_status(ssh_session session, ssh_channel channel,
                           int exit_status, void *userdata)
{
    struct run_state *st = userdata;

    (void)session;
    (void)channel;
    st->got_status = true;
    st->status = exit_status;
}

/* The command was killed by a signal: its name, for the result. */
static void on_exit_signal(ssh_session session, ssh_channel channel,
                           const char *signal, int core, const char *errmsg,
                           const char *lang, void *userdata)
{
    struct run_state *st = userdata;

    (void)session;
    (void)channel;
    (void)core;
    (void)errmsg;
    (void)lang;
    snprintf(st->res->exit_signal, sizeof(st->res->exit_signal), "%s",
             signal ? signal : "?");
}

/* True when the session lost its connection. */
static bool session_broken(ssh_session session)
{
    return !ssh_is_connected(session) ||
           (ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

/*
 * Drives the session until the command ends, a cap or the deadline is hit,
 * or the connection breaks.  Both streams arrive through on_data, so a full
 * stderr can never stall stdout.
 */
static int pump(struct sshx_conn *c, ssh_channel channel, struct run_state *st,
                long long deadline, struct errbuf *err)
{
    ssh_event ev = NULL;
    int r = SS_ERR;

    if ((ev = ssh_event_new()) == NULL ||
        ssh_event_add_session(ev, c->session) != SSH_OK) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    for (;;) {
        long long left;
        int rc;

        if (st->too_big) {
            r = errbuf_set(err, SS_ETOOBIG,
                           "output on '%s' over its cap (stdout %zu, "
                           "stderr %zu bytes), of " CMD_FMT,
                           c->name, st->res->out.cap, st->res->err.cap,
                           CMD_ARGS(st->cmd->command));
            goto out;
        }
        if (st->sink_rc < 0) {
            r = errbuf_set(err, st->sink_rc, "%s", st->sink_err.msg);
            goto out;
        }
        if (st->write_failed) {
            errno = st->write_errno;
            r = errbuf_errno(err, SS_ERR, "cannot write output of " CMD_FMT,
                             CMD_ARGS(st->cmd->command));
            goto out;
        }
        /* Done when the remote closed, or sent EOF and its exit status. */
        if (st->closed || (st->eof && st->got_status) ||
            ssh_channel_is_closed(channel)) {
            r = 0;
            goto out;
        }
        left = deadline - now_ms();
        if (left <= 0) {
            r = errbuf_set(
                err, SS_ETIMEOUT,
                "a command on '%s' did not finish within %.1f s: " CMD_FMT,
                c->name,
                (double)(st->cmd->timeout_ms > 0 ? st->cmd->timeout_ms
                                                 : EXEC_DEFAULT_TIMEOUT_MS) /
                    1000.0,
                CMD_ARGS(st->cmd->command));
            goto out;
        }
        rc = ssh_event_dopoll(ev, left < RUN_POLL_SLICE_MS ? (int)left
                                                           : RUN_POLL_SLICE_MS);
        if (rc == SSH_ERROR || session_broken(c->session)) {
            r = errbuf_set(
                err, SS_ECONNECT,
                "connection to '%s' broke (%s) while running " CMD_FMT, c->name,
                ssh_get_error(c->session), CMD_ARGS(st->cmd->command));
            goto out;
        }
    }
out:
    if (ev != NULL) {
        /* Fails only when the session was never added: nothing to undo. */
        (void)ssh_event_remove_session(ev, c->session);
        ssh_event_free(ev);
    }
    return r;
}

/* Readies st and res for cmd: caps and the two digests. */
static int run_start(struct run_state *st, const struct exec_cmd *cmd,
                     struct exec_result *res, struct errbuf *err)
{
    memset(st, 0, sizeof(*st));
    st->res = res;
    st->cmd = cmd;
    res->out.cap = cmd->on_out.fn != NULL ? EXEC_STREAM_HEAD
                   : cmd->out_fd >= 0     ? 0
                   : cmd->out_cap         ? cmd->out_cap
                                          : EXEC_DEFAULT_OUT_CAP;
    res->err.cap = cmd->err_cap ? cmd->err_cap : EXEC_DEFAULT_ERR_CAP;
    if (sha256_begin(&st->out_md) < 0 || sha256_begin(&st->err_md) < 0)
        return errbuf_set(err, SS_ERR, "cannot start a digest");
    return 0;
}

/* Ends both digests into res; a failure only matters to a run that worked. */
static int run_end_digests(struct run_state *st, struct exec_result *res, int r,
                           struct errbuf *err)
{
    int bad = 0;

    if (st->out_md.md != NULL && sha256_end(&st->out_md, res->out_sha256) < 0)
        bad = 1;
    if (st->err_md.md != NULL && sha256_end(&st->err_md, res->err_sha256) < 0)
        bad = 1;
    if (bad && r == 0)
        return errbuf_set(err, SS_ERR, "cannot finish a digest");
    return r;
}

/*
 * Opens a session channel on c with cb hooked up before any data can
 * come, and starts the command line on it, both within the command's
 * deadline.  *out is set as soon as the channel exists, so the caller
 * cleans up whatever happens.  libssh waits for each answer only its
 * session timeout (the connect timeout) and then returns SSH_AGAIN with no
 * error set; the call picks up where it was, so it is made again: a host
 * whose sshd is slow to start a session (a busy machine, hundreds of
 * sessions at once) is waited for, not failed with an empty reason.
 */
static int run_open_channel(ssh_channel *out, struct sshx_conn *c,
                            struct ssh_channel_callbacks_struct *cb,
                            const struct exec_cmd *cmd, const char *line,
                            long long deadline, struct errbuf *err)
{
    ssh_channel channel;
    int rc;

    if ((channel = ssh_channel_new(c->session)) == NULL)
        return errbuf_set(err, SS_ERR, "cannot make a channel to '%s': %s",
                          c->name, ssh_get_error(c->session));
    *out = channel;
    ssh_callbacks_init(cb);
    if (ssh_set_channel_callbacks(channel, cb) != SSH_OK)
        return errbuf_set(err, SS_ERR, "cannot watch a channel to '%s': %s",
                          c->name, ssh_get_error(c->session));
    while ((rc = ssh_channel_open_session(channel)) == SSH_AGAIN &&
           now_ms() < deadline)
        ;
    if (rc == SSH_OK)
        while ((rc = ssh_channel_request_exec(channel, line)) == SSH_AGAIN &&
               now_ms() < deadline)
            ;
    if (rc == SSH_AGAIN)
        return errbuf_set(err, SS_ETIMEOUT,
                          "cannot start a command on '%s' (no answer before "
                          "its deadline): " CMD_FMT,
                          c->name, CMD_ARGS(cmd->command));
    if (rc != SSH_OK)
        return errbuf_set(
            err, session_broken(c->session) ? SS_ECONNECT : SS_ERR,
            "cannot start a command on '%s' (%s): " CMD_FMT, c->name,
            ssh_get_error(c->session), CMD_ARGS(cmd->command));
    return 0;
}

/* Sends cmd's stdin in chunks, within the deadline, then EOF. */
static int run_send_input(struct sshx_conn *c, ssh_channel channel,
                          const struct exec_cmd *cmd, long long deadline,
                          struct errbuf *err)
{
    const char *p = cmd->input;
    size_t left = cmd->input != NULL ? cmd->input_len : 0;

    while (left > 0) {
        uint32_t chunk = left > 32768 ? 32768 : (uint32_t)left;
        int n = ssh_channel_write(channel, p, chunk);
        /*
         * 0: the remote's window stayed shut for libssh's own timeout (the
         * connect timeout): a command that reads its stdin late, e.g. after
         * listing a big queue.  Wait on, within the command's deadline.
         */
        if (n < 0 || (n == 0 && (session_broken(c->session) ||
                                 ssh_channel_is_closed(channel))))
            return errbuf_set(
                err, SS_ECONNECT, "cannot send input on '%s' (%s) to " CMD_FMT,
                c->name, ssh_get_error(c->session), CMD_ARGS(cmd->command));
        p += n;
        left -= (size_t)n;
        if (now_ms() >= deadline)
            return errbuf_set(err, SS_ETIMEOUT,
                              "a command on '%s' did not take its input in "
                              "time: " CMD_FMT,
                              c->name, CMD_ARGS(cmd->command));
    }
    if (ssh_channel_send_eof(channel) != SSH_OK)
        return errbuf_set(err, SS_ECONNECT, "cannot end input on '%s': %s",
                          c->name, ssh_get_error(c->session));
    return 0;
}

/*
 * Closes and frees channel; a command abandoned (r < 0) is told to stop
 * first.  cb is unhooked before the free: libssh keeps a freed channel
 * in the session until the server's close arrives and would then call
 * back into cb, whose frame is gone by then.
 */
static void run_close_channel(struct sshx_conn *c, ssh_channel channel,
                              struct ssh_channel_callbacks_struct *cb, int r)
{
    bool broken = session_broken(c->session);

    /* Best effort: the command may ignore TERM, and we stop waiting. */
    if (r < 0 && !broken && !ssh_channel_is_closed(channel))
        (void)ssh_channel_request_send_signal(channel, "TERM");
    /* The channel is freed next whatever the server answers. */
    if (!broken)
        (void)ssh_channel_close(channel);
    /* Fails only when cb was never hooked, which leaves nothing to undo. */
    (void)ssh_remove_channel_callbacks(channel, cb);
    ssh_channel_free(channel);
}

/* run op: one exec channel with stdin, both streams, status, deadline. */
static int sshx_run_op(struct exec_conn *conn, const struct exec_cmd *cmd,
                       struct exec_result *res, struct errbuf *err)
{
    struct sshx_conn *c = (struct sshx_conn *)conn;
    struct ssh_channel_callbacks_struct cb;
    struct run_state st;
    struct buf line = BUF_INIT;
    ssh_channel channel = NULL;
    long long start = now_ms(), deadline;
    int r;

    deadline = start + (cmd->timeout_ms > 0 ? cmd->timeout_ms
                                            : EXEC_DEFAULT_TIMEOUT_MS);
    /* Lives for the channel's whole life: run_close_channel unhooks it. */
    memset(&cb, 0, sizeof(cb));
    cb.userdata = &st;
    cb.channel_data_function = on_data;
    cb.channel_eof_function = on_eof;
    cb.channel_close_function = on_close;
    cb.channel_exit_status_function = on_exit_status;
    cb.channel_exit_signal_function = on_exit_signal;
    if ((r = run_start(&st, cmd, res, err)) < 0)
        goto out;
    if ((r = exec_ssh_wrap_command(&line, cmd->command, c->become)) < 0) {
        errbuf_set(err, r, "cannot build the command line");
        goto out;
    }
    if ((r = run_open_channel(&channel, c, &cb, cmd, line.data, deadline,
                              err)) < 0 ||
        (r = run_send_input(c, channel, cmd, deadline, err)) < 0 ||
        (r = pump(c, channel, &st, deadline, err)) < 0)
        goto out;
    res->exit_status =
        st.got_status ? st.status : ssh_channel_get_exit_status(channel);
    if (res->exit_signal[0] != '\0')
        res->exit_status = -1;
out:
    if (channel != NULL)
        run_close_channel(c, channel, &cb, r);
    r = run_end_digests(&st, res, r, err);
    buf_release(&line);
    res->duration_ms = (long)(now_ms() - start);
    return r;
}

/* The data callback driven without a channel; see ssh_internal.h. */
int exec_ssh_feed(const struct exec_cmd *cmd, struct exec_result *res,
                  const char *data, size_t len, size_t chunk,
                  struct errbuf *err)
{
    struct run_state st;
    size_t at = 0, n;
    int r;

    if ((r = run_start(&st, cmd, res, err)) < 0)
        return run_end_digests(&st, res, r, err);
    while (at < len && st.sink_rc == 0 && !st.too_big) {
        n = chunk == 0 || len - at < chunk ? len - at : chunk;
        on_data(NULL, NULL, (void *)(uintptr_t)(data + at), (uint32_t)n, 0,
                &st);
        at += n;
    }
    if (st.sink_rc < 0)
        r = errbuf_set(err, st.sink_rc, "%s", st.sink_err.msg);
    else if (st.too_big)
        r = errbuf_set(err, SS_ETOOBIG, "output over its cap");
    return run_end_digests(&st, res, r, err);
}

/* fingerprint op: the host key seen at connect. */
static const char *sshx_fingerprint_op(struct exec_conn *conn)
{
    return ((struct sshx_conn *)conn)->fingerprint;
}

/* close op: disconnects and frees the connection. */
static void sshx_close_op(struct exec_conn *conn)
{
    sshx_conn_free((struct sshx_conn *)conn);
}

/* free op: frees the executor and its copy of the options. */
static void sshx_free_op(struct executor *ex)
{
    struct sshx_executor *sx;

    if (ex == NULL)
        return;
    sx = ex->priv;
    free(sx->ssh_config);
    free(sx->identity);
    free(sx->known_hosts);
    free(sx->user);
    free(sx);
}

static const struct executor_ops sshx_ops = {
    sshx_connect_op, sshx_run_op,  sshx_fingerprint_op,
    sshx_close_op,   sshx_free_op,
};

/* strdup that keeps NULL; sets *failed on ENOMEM. */
static char *dup_or_null(const char *s, bool *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    if ((d = strdup(s)) == NULL)
        *failed = true;
    return d;
}

/*
 * Keeps big buffers (a host's command output, megabytes) out of the malloc
 * arenas: glibc would raise its mmap threshold after the first one freed,
 * and each worker thread's arena would then keep the pages of the next
 * ones (figures: docs/performance.md, "Why the SSH layer does X").
 */
static void sshx_malloc_tune(void)
{
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    /* Only a tuning: refused, memory use is higher and nothing breaks. */
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    (void)mallopt(M_TRIM_THRESHOLD, 256 * 1024);
#endif
}

struct executor *exec_ssh_new(const struct exec_options *opts)
{
    struct sshx_executor *sx = calloc(1, sizeof(*sx));
    bool failed = false;

    if (sx == NULL)
        return NULL;
    sshx_malloc_tune();
    sx->base.ops = &sshx_ops;
    sx->base.priv = sx;
    sx->opts = *opts;
    sx->opts.ssh_config = sx->ssh_config =
        dup_or_null(opts->ssh_config, &failed);
    sx->opts.identity = sx->identity = dup_or_null(opts->identity, &failed);
    sx->opts.known_hosts = sx->known_hosts =
        dup_or_null(opts->known_hosts, &failed);
    sx->opts.user = sx->user = dup_or_null(opts->user, &failed);
    if (failed) {
        sshx_free_op(&sx->base);
        return NULL;
    }
    return &sx->base;
}
