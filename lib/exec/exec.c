/* Executor-independent parts: wrappers over the ops, results, fetch. */
#include <stdlib.h>
#include <string.h>

#include "spamstop/exec.h"
#include "spamstop/fsio.h"

void exec_target_release(struct exec_target *t)
{
    if (t == NULL)
        return;
    free(t->name);
    free(t->address);
    free(t->user);
    memset(t, 0, sizeof(*t));
}

/* strdup that keeps NULL. */
static int dup_opt(char **out, const char *s)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    *out = strdup(s);
    return *out == NULL ? SS_ERR : 0;
}

int exec_target_copy(struct exec_target *out, const struct exec_target *in)
{
    memset(out, 0, sizeof(*out));
    if (dup_opt(&out->name, in->name) < 0 ||
        dup_opt(&out->address, in->address) < 0 ||
        dup_opt(&out->user, in->user) < 0) {
        exec_target_release(out);
        return SS_ERR;
    }
    out->port = in->port;
    out->become = in->become;
    return 0;
}

void exec_result_init(struct exec_result *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->out, 0);
    buf_init(&r->err, 0);
    r->exit_status = -1;
}

void exec_result_release(struct exec_result *r)
{
    if (r == NULL)
        return;
    buf_release(&r->out);
    buf_release(&r->err);
    exec_result_init(r);
}

int exec_connect(struct exec_conn **out, struct executor *ex,
                 const struct exec_target *target, struct errbuf *err)
{
    return ex->ops->connect(out, ex, target, err);
}

int exec_run(struct exec_conn *conn, const struct exec_cmd *cmd,
             struct exec_result *res, struct errbuf *err)
{
    return conn->ex->ops->run(conn, cmd, res, err);
}

const char *exec_fingerprint(struct exec_conn *conn)
{
    const char *fp = conn->ex->ops->fingerprint(conn);

    return fp != NULL ? fp : "";
}

void exec_close(struct exec_conn *conn)
{
    if (conn != NULL)
        conn->ex->ops->close(conn);
}

void executor_free(struct executor *ex)
{
    if (ex != NULL)
        ex->ops->free(ex);
}

int exec_fetch(struct exec_conn *conn, const char *command, const char *path,
               int timeout_ms, uint64_t *out_size,
               char out_sha256_hex[SHA256_HEX_LEN + 1], struct errbuf *err)
{
    struct exec_cmd cmd = EXEC_CMD_INIT;
    struct exec_result res;
    int fd = -1, r;

    if ((r = fsio_open_temp(&fd, path, 0600, err)) < 0)
        return r;
    exec_result_init(&res);
    cmd.command = command;
    cmd.timeout_ms = timeout_ms;
    cmd.out_fd = fd;
    r = exec_run(conn, &cmd, &res, err);
    if (r == 0 && res.exit_status != 0)
        r = errbuf_set(err, SS_EREMOTE, "'%s' exited with status %d: %.200s",
                       command, res.exit_status,
                       res.err.data ? res.err.data : "");
    if (r == 0)
        r = fsio_commit_temp(&fd, path, err);
    else
        fsio_abort_temp(&fd, path);
    if (r == 0) {
        if (out_size != NULL)
            *out_size = res.out_bytes;
        if (out_sha256_hex != NULL)
            hex_encode(out_sha256_hex, res.out_sha256, SHA256_LEN);
    }
    exec_result_release(&res);
    return r;
}
