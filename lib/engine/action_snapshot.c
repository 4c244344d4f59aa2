/* Action "snapshot": keeps the flagged messages as evidence, on the host and
 * here. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runbook.h"
#include "spamstop/digest.h"
#include "spamstop/postfix.h"

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
    (void)action_note(ctx, "snapshot", dir.data, (long long)msgs.n, NULL);
    if (buf_adds(&ev, "queue.tar") == 0)
        (void)action_note(ctx, "evidence_copy", ev.data, -1, NULL);
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

/*
 * Makes the tar on the host and copies it into RUN/evidence/<host>/ in the
 * same audited command (the trail keeps the stream's SHA-256): written to
 * a temporary file, synced, renamed.
 */
static int snapshot_apply(struct action_ctx *ctx, const void *params,
                          struct errbuf *err)
{
    const struct runbook_accounts_with *sp = params;
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct runbook_evfile f = RUNBOOK_EVFILE_INIT;
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    struct buf dir = BUF_INIT;
    const char **ids = NULL;
    char *cmd = NULL, *in = NULL, *text = NULL, got[SHA256_HEX_LEN + 1];
    json_t *ev = NULL;
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
        (r = postfix_snapshot_command(&cmd, dir.data, false, runbook_dirs(ctx),
                                      err)) < 0 ||
        (r = runbook_evfile_open(&f, ctx, "queue.tar", err)) < 0)
        goto out;
    c.command = cmd;
    c.input = in;
    c.input_len = in_len;
    c.out_fd = f.fd;
    if ((r = runbook_exec(ctx, "the snapshot", &c, false, &res, err)) < 0)
        goto out;
    hex_encode(got, res.out_sha256, SHA256_LEN);
    got[SHA256_HEX_LEN] = '\0';
    if ((r = runbook_evfile_commit(&f, ctx, res.out_bytes, got, err)) < 0)
        goto out;
    ev = json_pack("{s:s,s:I,s:[{s:s,s:s,s:I}]}", "host_dir", dir.data,
                   "messages", (json_int_t)msgs.n, "files", "path", f.path.data,
                   "sha256", got, "bytes", (json_int_t)res.out_bytes);
    text = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (text == NULL || action_set_evidence(ctx, text) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
out:
    runbook_evfile_release(&f);
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    buf_release(&dir);
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
