/* Action "snapshot": keeps the flagged messages as evidence, on the host and
 * here. */
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook.h"
#include "spamstop/digest.h"
#include "spamstop/postfix.h"

/* The files a snapshot makes on the host. */
static const char *const snapshot_files[] = {"queue.json", "queue.tar"};

/* Says what the snapshot will hold; its undo keeps the evidence. */
static int snapshot_prepare(struct action_ctx *ctx, const void *params,
                            struct errbuf *err)
{
    const struct runbook_accounts_with *sp = params;
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct buf dir = BUF_INIT, ev = BUF_INIT;
    json_t *undo = NULL;
    char *text = NULL;
    int r;

    if (runbook_nothing(ctx, sp->result))
        return 0;
    if ((r = runbook_msgs_load(&msgs, ctx, sp->result, err)) < 0 ||
        (r = runbook_host_dir(&dir, ctx, "snapshot", err)) < 0 ||
        (r = runbook_evidence_path(&ev, ctx, "", false, err)) < 0)
        goto out;
    action_describe(ctx,
                    "would save the queue listing and a tar of %zu message "
                    "files (with their logs) in %s",
                    msgs.n, dir.data);
    action_describe(ctx, "and copy both to %s with their SHA-256", ev.data);
    undo = json_pack("{s:s}", "dir", dir.data);
    text = undo != NULL ? json_dumps(undo, JSON_COMPACT) : NULL;
    if (text == NULL || action_set_undo(ctx, text, false) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
out:
    runbook_msgs_release(&msgs);
    buf_release(&dir);
    buf_release(&ev);
    json_decref(undo);
    free(text);
    return r;
}

/* Finds "SHA256  NAME" for name in sha256sum's output. */
static bool snapshot_remote_sha(char out[SHA256_HEX_LEN + 1], const char *text,
                                const char *name)
{
    const char *p = text;
    size_t n = strlen(name);

    while (p != NULL && *p != '\0') {
        if (strspn(p, "0123456789abcdef") == SHA256_HEX_LEN &&
            strncmp(p + SHA256_HEX_LEN, "  ", 2) == 0 &&
            strncmp(p + SHA256_HEX_LEN + 2, name, n) == 0 &&
            (p[SHA256_HEX_LEN + 2 + n] == '\n' ||
             p[SHA256_HEX_LEN + 2 + n] == '\0')) {
            memcpy(out, p, SHA256_HEX_LEN);
            out[SHA256_HEX_LEN] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

/*
 * Streams one snapshot file into RUN/evidence/<host>/ through an audited
 * command (the trail keeps the stream's SHA-256) and checks it against the
 * digest the host computed.
 */
static int snapshot_fetch(struct action_ctx *ctx, const char *dir,
                          const char *name, const char *want_sha, json_t *files,
                          struct errbuf *err)
{
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    struct buf path = BUF_INIT, tmp = BUF_INIT;
    char *cmd = NULL, got[SHA256_HEX_LEN + 1];
    int fd = -1, r;

    exec_result_init(&res);
    if ((r = postfix_snapshot_fetch_command(&cmd, dir, name, err)) < 0 ||
        (r = runbook_evidence_path(&path, ctx, name, true, err)) < 0)
        goto out;
    if (buf_printf(&tmp, "%s.tmp", path.data) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot create '%s'", tmp.data);
        goto out;
    }
    exec_result_release(&res);
    c.command = cmd;
    c.out_fd = fd;
    if ((r = action_run(ctx, &c, false, &res, err)) < 0)
        goto out;
    if (res.exit_status != 0) {
        r = errbuf_set(err, SS_EREMOTE, "copying '%s' exited with status %d",
                       name, res.exit_status);
        goto out;
    }
    hex_encode(got, res.out_sha256, SHA256_LEN);
    got[SHA256_HEX_LEN] = '\0';
    if (strcmp(got, want_sha) != 0) {
        r = errbuf_set(err, SS_EREMOTE,
                       "the copy of '%s' has SHA-256 %s, the host said %s",
                       name, got, want_sha);
        goto out;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        r = errbuf_errno(err, SS_ERR, "cannot write '%s'", tmp.data);
        goto out;
    }
    fd = -1;
    if (rename(tmp.data, path.data) < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot rename '%s'", tmp.data);
        goto out;
    }
    if ((r = action_audit_evidence(ctx, path.data, res.out_bytes, got)) < 0) {
        errbuf_set(err, r, "cannot record evidence '%s' in the audit trail",
                   path.data);
        goto out;
    }
    json_array_append_new(files, json_pack("{s:s,s:s,s:I}", "path", path.data,
                                           "sha256", got, "bytes",
                                           (json_int_t)res.out_bytes));
    r = 0;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp.data);
    }
    exec_result_release(&res);
    buf_release(&path);
    buf_release(&tmp);
    free(cmd);
    return r;
}

/* Saves listing and tar on the host, then copies both here. */
static int snapshot_apply(struct action_ctx *ctx, const void *params,
                          struct errbuf *err)
{
    const struct runbook_accounts_with *sp = params;
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct exec_result res;
    struct buf dir = BUF_INIT;
    const char **ids = NULL;
    char *cmd = NULL, *in = NULL, *text = NULL, sha[SHA256_HEX_LEN + 1];
    json_t *ev = NULL, *files = NULL;
    size_t in_len = 0, i;
    int r;

    exec_result_init(&res);
    if ((r = runbook_msgs_load(&msgs, ctx, sp->result, err)) < 0 ||
        (r = runbook_host_dir(&dir, ctx, "snapshot", err)) < 0)
        goto out;
    if ((ids = calloc(msgs.n + 1, sizeof(*ids))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    for (i = 0; i < msgs.n; i++)
        ids[i] = msgs.v[i].queue_id;
    if ((r = postfix_ids_input(&in, &in_len, ids, msgs.n, err)) < 0 ||
        (r = postfix_snapshot_command(&cmd, dir.data, false, err)) < 0)
        goto out;
    exec_result_release(&res);
    if ((r = runbook_run(ctx, "the snapshot", cmd, in, in_len, false, &res,
                         err)) < 0)
        goto out;
    ev = json_object();
    files = json_array();
    if (ev == NULL || files == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    for (i = 0; i < sizeof(snapshot_files) / sizeof(snapshot_files[0]); i++) {
        if (!snapshot_remote_sha(sha, res.out.data ? res.out.data : "",
                                 snapshot_files[i])) {
            r = errbuf_set(err, SS_EREMOTE,
                           "the snapshot printed no SHA-256 "
                           "for '%s'",
                           snapshot_files[i]);
            goto out;
        }
        if ((r = snapshot_fetch(ctx, dir.data, snapshot_files[i], sha, files,
                                err)) < 0)
            goto out;
    }
    json_object_set_new(ev, "host_dir", json_string(dir.data));
    json_object_set_new(ev, "messages", json_integer((json_int_t)msgs.n));
    json_object_set(ev, "files", files);
    text = json_dumps(ev, JSON_COMPACT);
    if (text == NULL || action_set_evidence(ctx, text) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
out:
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    buf_release(&dir);
    json_decref(files);
    json_decref(ev);
    free(ids);
    free(cmd);
    free(in);
    free(text);
    return r;
}

/*
 * The snapshot changes no mail: undo keeps it (it is evidence, and purge's
 * rollback after the commit restores from it).
 */
static int snapshot_undo(struct action_ctx *ctx, const char *undo_json,
                         struct errbuf *err)
{
    (void)ctx;
    (void)undo_json;
    (void)err;
    return 0;
}

const struct action_ops action_snapshot = {
    "snapshot",
    STEP_KIND_BIT(STEP_COMPENSABLE),
    runbook_accounts_parse,
    free,
    snapshot_prepare,
    snapshot_apply,
    snapshot_undo,
    NULL,
    NULL,
};
