/* Action "purge": holds the flagged accounts' mail, deletes it at commit. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runbook.h"
#include "spamstop/postfix.h"

/*
 * The commit: deletes a held message only when its envelope still names
 * the account identify flagged it for.  Reads "ID ACCOUNT" lines on stdin;
 * one find and batched postcat calls, whatever the number of ids.  Only
 * the hold queue is touched (postsuper -d - hold), where a message keeps
 * its id: its file holds the inode a short id is made from.
 */
static const char purge_delete_script[] =
    "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin\"; export PATH\n"
    "LC_ALL=C; export LC_ALL\n"
    "q=$(postconf -h queue_directory 2>/dev/null) && cd \"$q\" || "
    "{ echo 'cannot enter the postfix queue directory' >&2; exit 3; }\n"
    "umask 077\n"
    "t=$(mktemp) || exit 3\n"
    "trap 'rm -f \"$t\" \"$t.seen\" \"$t.del\"' EXIT\n"
    "grep -E '^[0-9A-Za-z]+ [^ :]+$' >\"$t\"\n"
    "find hold -type f 2>/dev/null | awk 'NR == FNR { split($0, x, \" \"); "
    "want[x[1]] = 1; next } { n = split($0, p, \"/\"); if (p[n] in want) "
    "print }' \"$t\" - | tr '\\n' '\\0' | xargs -0 -r postcat -e "
    "2>/dev/null | awk '/^\\*\\*\\* ENVELOPE RECORDS / "
    "{ n = split($4, p, \"/\"); id = p[n]; next } "
    "index($0, \"named_attribute: sasl_username=\") == 1 "
    "{ print id \" \" substr($0, 32) }' >\"$t.seen\"\n"
    "awk 'NR == FNR { want[$0] = 1; next } ($0 in want) { print $1 }' "
    "\"$t\" \"$t.seen\" >\"$t.del\"\n"
    "echo \"checked $(wc -l <\"$t.seen\") matched $(wc -l <\"$t.del\")\"\n"
    "postsuper -d - hold <\"$t.del\"\n";

/* The ids of msgs as postsuper's stdin (checked). */
static int purge_ids_input(char **out, size_t *out_len,
                           const struct runbook_msgs *msgs, struct errbuf *err)
{
    const char **ids = calloc(msgs->n + 1, sizeof(*ids));
    size_t i;
    int r;

    if (ids == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    for (i = 0; i < msgs->n; i++)
        ids[i] = msgs->v[i].queue_id;
    r = postfix_ids_input(out, out_len, ids, msgs->n, err);
    free(ids);
    return r;
}

/* Undo data {"ids": [...], "snapshot": TAR}; commit data {"pairs": [...]}. */
static int purge_data(char **undo, char **commit, struct action_ctx *ctx,
                      const struct runbook_msgs *msgs, struct errbuf *err)
{
    struct buf tar = BUF_INIT;
    json_t *u = NULL, *c = NULL, *ids, *pairs;
    size_t i;
    int r;

    *undo = *commit = NULL;
    if ((r = runbook_host_dir(&tar, ctx, "snapshot/queue.tar", err)) < 0)
        return r;
    ids = json_array();
    pairs = json_array();
    for (i = 0; ids != NULL && pairs != NULL && i < msgs->n; i++) {
        json_array_append_new(ids, json_string(msgs->v[i].queue_id));
        json_array_append_new(
            pairs, json_pack("[ss]", msgs->v[i].queue_id, msgs->v[i].account));
    }
    u = json_pack("{s:o*,s:s}", "ids", ids, "snapshot", tar.data);
    c = json_pack("{s:o*}", "pairs", pairs);
    if (u != NULL)
        *undo = json_dumps(u, JSON_COMPACT);
    if (c != NULL)
        *commit = json_dumps(c, JSON_COMPACT);
    if (*undo == NULL || *commit == NULL) {
        free(*undo);
        free(*commit);
        *undo = *commit = NULL;
        r = errbuf_set(err, SS_ERR, "out of memory");
    }
    json_decref(u);
    json_decref(c);
    buf_release(&tar);
    return r;
}

/* Says, per account, how many messages go on hold and what stays. */
static int purge_prepare(struct action_ctx *ctx, const void *params,
                         struct errbuf *err)
{
    const struct runbook_accounts_with *pp = params;
    const struct strlist *accounts = action_result(ctx, pp->result);
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    char *undo = NULL, *commit = NULL;
    size_t i, k, n;
    int r;

    if (runbook_nothing(ctx, pp->result))
        return 0;
    if ((r = runbook_msgs_load(&msgs, ctx, pp->result, err)) < 0)
        return r;
    for (i = 0; accounts != NULL && i < accounts->n; i++) {
        for (k = n = 0; k < msgs.n; k++)
            n += strcmp(msgs.v[k].account, accounts->v[i]) == 0;
        action_describe(ctx, "would hold %zu messages of %s", n,
                        accounts->v[i]);
    }
    action_describe(ctx,
                    "%zu messages on hold in all, deleted when the run "
                    "commits; %zu other queued messages stay",
                    msgs.n, msgs.total >= msgs.n ? msgs.total - msgs.n : 0);
    if ((r = purge_data(&undo, &commit, ctx, &msgs, err)) == 0 &&
        action_set_undo(ctx, undo, false) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
    free(undo);
    free(commit);
    runbook_msgs_release(&msgs);
    return r;
}

/* Puts the flagged messages on hold, refusing while Postfix runs. */
static int purge_apply(struct action_ctx *ctx, const void *params,
                       struct errbuf *err)
{
    const struct runbook_accounts_with *pp = params;
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct exec_result res;
    char *cmd = NULL, *in = NULL, *undo = NULL, *commit = NULL;
    size_t in_len = 0, held = 0;
    int r;

    exec_result_init(&res);
    if ((r = runbook_msgs_load(&msgs, ctx, pp->result, err)) < 0 ||
        (r = purge_ids_input(&in, &in_len, &msgs, err)) < 0 ||
        (r = postfix_postsuper_command(&cmd, POSTFIX_HOLD, true, err)) < 0 ||
        (r = purge_data(&undo, &commit, ctx, &msgs, err)) < 0)
        goto out;
    if (action_set_commit(ctx, commit) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    exec_result_release(&res);
    if ((r = runbook_run(ctx, "postsuper -h", cmd, in, in_len, false, &res,
                         err)) < 0)
        goto out;
    postfix_postsuper_parse_count(&held, res.err.data ? res.err.data : "",
                                  res.err.len, err);
    action_describe(ctx,
                    "held %zu of %zu messages (the others were on hold "
                    "already or gone)",
                    held, msgs.n);
out:
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    free(cmd);
    free(in);
    free(undo);
    free(commit);
    return r;
}

/* Reads the ids of the undo data (checked again). */
static int purge_undo_ids(struct runbook_msgs *out, const char *undo_json,
                          char **tar, struct errbuf *err)
{
    json_t *o = json_loads(undo_json, 0, NULL), *ids, *v;
    const char *t;
    size_t i;
    int r = SS_ECORRUPT;

    memset(out, 0, sizeof(*out));
    *tar = NULL;
    if (o == NULL)
        return errbuf_set(err, SS_ECORRUPT, "purge undo data is not JSON");
    ids = json_object_get(o, "ids");
    t = json_string_value(json_object_get(o, "snapshot"));
    if (!json_is_array(ids) || t == NULL) {
        errbuf_set(err, SS_ECORRUPT, "purge undo data is incomplete");
        goto out;
    }
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v);
        if (id == NULL || !postfix_queue_id_valid(id)) {
            errbuf_set(err, SS_ECORRUPT, "purge undo data has a bad id");
            goto out;
        }
        if (runbook_msgs_push(out, "hold", id, "-") < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    }
    if ((*tar = strdup(t)) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    r = 0;
out:
    if (r < 0)
        runbook_msgs_release(out);
    json_decref(o);
    return r;
}

/* Releases the held messages (postsuper -H: idempotent). */
static int purge_undo(struct action_ctx *ctx, const char *undo_json,
                      struct errbuf *err)
{
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct exec_result res;
    char *cmd = NULL, *in = NULL, *tar = NULL;
    size_t in_len = 0;
    int r;

    if (strcmp(undo_json, "{}") == 0)
        return 0; /* prepare found nothing to hold */
    exec_result_init(&res);
    if ((r = purge_undo_ids(&msgs, undo_json, &tar, err)) < 0 ||
        (r = purge_ids_input(&in, &in_len, &msgs, err)) < 0 ||
        (r = postfix_postsuper_command(&cmd, POSTFIX_RELEASE, false, err)) < 0)
        goto out;
    exec_result_release(&res);
    r = runbook_run(ctx, "postsuper -H", cmd, in, in_len, false, &res, err);
out:
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    free(cmd);
    free(in);
    free(tar);
    return r;
}

/* Deletes the held messages whose envelope still names their account. */
static int purge_commit(struct action_ctx *ctx, const char *commit_json,
                        struct errbuf *err)
{
    json_t *o = json_loads(commit_json, 0, NULL), *pairs, *v;
    struct buf in = BUF_INIT;
    struct exec_result res;
    const char *p;
    size_t i, matched, deleted = 0;
    int r = SS_ECORRUPT;

    exec_result_init(&res);
    if (o == NULL)
        return errbuf_set(err, SS_ECORRUPT, "purge commit data is not JSON");
    pairs = json_object_get(o, "pairs");
    if (!json_is_array(pairs)) {
        errbuf_set(err, SS_ECORRUPT, "purge commit data is incomplete");
        goto out;
    }
    json_array_foreach(pairs, i, v)
    {
        const char *id = json_string_value(json_array_get(v, 0));
        const char *acct = json_string_value(json_array_get(v, 1));
        if (id == NULL || acct == NULL || !postfix_queue_id_valid(id) ||
            acct[0] == '\0' || strpbrk(acct, " :\n\r\t") != NULL) {
            errbuf_set(err, SS_ECORRUPT, "purge commit data has a bad pair");
            goto out;
        }
        if (buf_printf(&in, "%s %s\n", id, acct) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    }
    if ((r = runbook_run(ctx, "the delete of held spam", purge_delete_script,
                         in.data, in.len, false, &res, err)) < 0)
        goto out;
    /* every held message that still matched must be gone */
    p = res.out.data != NULL ? strstr(res.out.data, " matched ") : NULL;
    matched = p != NULL ? strtoul(p + 9, NULL, 10) : 0;
    postfix_postsuper_parse_count(&deleted, res.err.data ? res.err.data : "",
                                  res.err.len, err);
    if (p == NULL || deleted < matched)
        r = errbuf_set(err, SS_EREMOTE,
                       "deleted %zu of the %zu held messages that matched",
                       deleted, matched);
out:
    exec_result_release(&res);
    buf_release(&in);
    json_decref(o);
    return r;
}

/*
 * Rollback after the commit deleted the spam: the snapshot's copies go
 * back on hold (never delivered); messages still held stay held.
 */
static int purge_uncommit(struct action_ctx *ctx, const char *undo_json,
                          const char *commit_json, struct errbuf *err)
{
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct exec_result res;
    char *cmd = NULL, *tar = NULL;
    int r;

    (void)commit_json;
    exec_result_init(&res);
    if ((r = purge_undo_ids(&msgs, undo_json, &tar, err)) < 0 ||
        (r = postfix_restore_command(&cmd, tar, POSTFIX_RESTORE_TO_HOLD, err)) <
            0)
        goto out;
    exec_result_release(&res);
    r = runbook_run(ctx, "the restore of the purged mail", cmd, NULL, 0, false,
                    &res, err);
out:
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    free(cmd);
    free(tar);
    return r;
}

const struct action_ops action_purge = {
    "purge",
    STEP_KIND_BIT(STEP_COMPENSABLE),
    runbook_accounts_parse,
    free,
    purge_prepare,
    purge_apply,
    purge_undo,
    purge_commit,
    purge_uncommit,
};
