/* Action "purge": holds the flagged accounts' mail, deletes it at commit. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runbook.h"
#include "spamstop/accounts.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"

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

/*
 * Undo data {"ids_file": NAME.ids, "ids_sha256": SHA, "accounts": [...],
 * "snapshot": TAR}: the messages are those of the accounts in the ids
 * file identify wrote (evidence, its digest checked when read back), so
 * a rollback can release one account's.  A million ids stay in the file,
 * not in the journal (they were 4.5 million JSON values there).
 */
static int purge_data(char **undo, struct action_ctx *ctx, const char *name,
                      const char *ids_sha, struct errbuf *err)
{
    const struct strlist *accounts = action_result(ctx, name);
    struct buf tar = BUF_INIT, file = BUF_INIT;
    json_t *u = NULL, *acc = json_array();
    size_t i;
    int r;

    *undo = NULL;
    if ((r = runbook_host_dir(&tar, ctx, "snapshot/queue.tar", err)) < 0)
        goto out;
    for (i = 0; acc != NULL && accounts != NULL && i < accounts->n; i++)
        if (json_array_append_new(acc, json_string(accounts->v[i])) < 0)
            break;
    if (buf_printf(&file, "%s.ids", name) == 0)
        u = json_pack("{s:s,s:s,s:o*,s:s}", "ids_file", file.data, "ids_sha256",
                      ids_sha, "accounts", acc, "snapshot", tar.data);
    acc = NULL;
    if (u != NULL)
        *undo = json_dumps(u, JSON_COMPACT);
    r = *undo == NULL ? errbuf_set(err, SS_ERR, "out of memory") : 0;
out:
    json_decref(acc);
    json_decref(u);
    buf_release(&tar);
    buf_release(&file);
    return r;
}

/* Orders messages by queue id (for bsearch). */
static int purge_msg_cmp(const void *a, const void *b)
{
    return strcmp(((const struct runbook_msg *)a)->queue_id,
                  ((const struct runbook_msg *)b)->queue_id);
}

/* True when s is n > 0 digits, with one inner '.' when dot. */
static bool purge_number(const char *s, size_t n, bool dot)
{
    size_t i, dots = 0;

    if (n == 0 || n > 32 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (i = 0; i < n; i++)
        if (s[i] == '.' && dot)
            dots++;
        else if (s[i] < '0' || s[i] > '9')
            return false;
    return dots <= 1;
}

/*
 * Checks one "ID INODE SIZE CTIME" line of a hold record, s..nl: true
 * with its id (at most idsize - 1 bytes) in id.
 */
static bool purge_record_line(const char *s, const char *nl, char *id,
                              size_t idsize)
{
    const char *f[4];
    size_t fl[4], k;

    for (k = 0; k < 4 && s <= nl; k++) {
        f[k] = s;
        while (s < nl && *s != ' ')
            s++;
        fl[k] = (size_t)(s - f[k]);
        s++;
    }
    if (k < 4 || s <= nl || fl[0] >= idsize ||
        !purge_number(f[1], fl[1], false) ||
        !purge_number(f[2], fl[2], false) || !purge_number(f[3], fl[3], true))
        return false;
    memcpy(id, f[0], fl[0]);
    id[fl[0]] = '\0';
    return postfix_queue_id_valid(id);
}

/*
 * The hold's record ("ID INODE SIZE CTIME" lines), each line checked and
 * of a message of msgs (sorted by id here), kept with the message's
 * account ("ID INODE SIZE CTIME ACCOUNT") as the evidence file NAME.held;
 * commit data {"held_file": NAME.held, "sha256": SHA, "held": N} names
 * it, and the commit and the report read it back (its digest checked by
 * the commit).  A million records stay in that file, not in the journal.
 */
static int purge_held_data(char **commit, size_t *n, struct action_ctx *ctx,
                           const char *name, struct runbook_msgs *msgs,
                           const char *text, size_t len, struct errbuf *err)
{
    const char *s = text, *end = text + len, *nl;
    struct runbook_msg key, *m;
    struct buf file = BUF_INIT, rec = BUF_INIT;
    char id[64], sha[SHA256_HEX_LEN + 1];
    json_t *c = NULL;
    int r;

    *commit = NULL;
    *n = 0;
    qsort(msgs->v, msgs->n, sizeof(*msgs->v), purge_msg_cmp);
    for (; len > 0 && s < end; s = nl + 1) {
        if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL) {
            r = errbuf_set(err, SS_EREMOTE, "the hold record is cut");
            goto out;
        }
        if (!purge_record_line(s, nl, id, sizeof(id))) {
            r = errbuf_set(err, SS_EREMOTE, "bad hold record '%.*s'",
                           (int)(nl - s < 80 ? nl - s : 80), s);
            goto out;
        }
        key.queue_id = id;
        m = msgs->n > 0 ? bsearch(&key, msgs->v, msgs->n, sizeof(*msgs->v),
                                  purge_msg_cmp)
                        : NULL;
        if (m == NULL) {
            r = errbuf_set(err, SS_EREMOTE,
                           "hold record of '%.64s', a message not flagged", id);
            goto out;
        }
        if (buf_add(&rec, s, (size_t)(nl - s)) < 0 ||
            buf_printf(&rec, " %s\n", m->account) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
        (*n)++;
    }
    if (buf_printf(&file, "%s.held", name) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = runbook_evidence_save(ctx, file.data,
                                   rec.data != NULL ? rec.data : "", rec.len,
                                   sha, err)) < 0)
        goto out;
    c = json_pack("{s:s,s:s,s:I}", "held_file", file.data, "sha256", sha,
                  "held", (json_int_t)*n);
    if (c == NULL || (*commit = json_dumps(c, JSON_COMPACT)) == NULL)
        r = errbuf_set(err, SS_ERR, "out of memory");
out:
    json_decref(c);
    buf_release(&file);
    buf_release(&rec);
    return r;
}

/* Says, per account, how many messages go on hold and what stays. */
static int purge_prepare(struct action_ctx *ctx, const void *params,
                         struct errbuf *err)
{
    const struct runbook_accounts_with *pp = params;
    const struct strlist *accounts = action_result(ctx, pp->result);
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    char *undo = NULL, sha[SHA256_HEX_LEN + 1];
    size_t i, k, n;
    int r;

    if (runbook_nothing(ctx, pp->result))
        return 0;
    if ((r = runbook_msgs_read(&msgs, ctx, pp->result, accounts, NULL, sha,
                               err)) < 0)
        return r;
    for (i = 0; accounts != NULL && i < accounts->n; i++) {
        for (k = n = 0; k < msgs.n; k++)
            n += strcmp(msgs.v[k].account, accounts->v[i]) == 0;
        (void)action_note(ctx, "hold", accounts->v[i], (long long)n, NULL);
    }
    (void)action_note(ctx, "hold_total", NULL, (long long)msgs.n, NULL);
    (void)action_note(
        ctx, "stay", NULL,
        (long long)(msgs.total >= msgs.n ? msgs.total - msgs.n : 0), NULL);
    if ((r = purge_data(&undo, ctx, pp->result, sha, err)) == 0 &&
        action_set_undo(ctx, undo, false) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
    free(undo);
    runbook_msgs_release(&msgs);
    return r;
}

/*
 * Longest line of the hold's record, "ID INODE SIZE CTIME": its stdout is
 * a line per message put on hold (46 bytes on the lab), so its cap is
 * that many lines, not the engine's 16 MiB a step (350,000 messages).
 */
#define PURGE_RECORD_LINE_MAX 128u

/*
 * Puts the flagged messages on hold, refusing while Postfix runs, and
 * keeps the identity (inode, size, ctime) of each held file, read in the
 * same command, as the commit data: the commit deletes only unchanged
 * files.
 */
static int purge_apply(struct action_ctx *ctx, const void *params,
                       struct errbuf *err)
{
    const struct runbook_accounts_with *pp = params;
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    char *cmd = NULL, *in = NULL, *commit = NULL;
    size_t in_len = 0, held = 0, recorded = 0;
    int r;

    exec_result_init(&res);
    if ((r = runbook_msgs_load(&msgs, ctx, pp->result, err)) < 0 ||
        (r = purge_ids_input(&in, &in_len, &msgs, err)) < 0)
        goto out;
    if ((cmd = postfix_hold_record_command(runbook_dirs(ctx))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    exec_result_release(&res);
    c.command = cmd;
    c.input = in;
    c.input_len = in_len;
    c.out_cap = PURGE_RECORD_LINE_MAX * msgs.n + PURGE_RECORD_LINE_MAX;
    if ((r = runbook_exec(ctx, "postsuper -h", &c, false, &res, err)) < 0)
        goto out;
    postfix_postsuper_parse_count(&held, res.err.data ? res.err.data : "",
                                  res.err.len, err);
    if ((r = purge_held_data(&commit, &recorded, ctx, pp->result, &msgs,
                             res.out.data ? res.out.data : "", res.out.len,
                             err)) < 0)
        goto out;
    /* every file just put on hold must have been recorded */
    if (recorded < held) {
        r = errbuf_set(err, SS_EREMOTE,
                       "recorded %zu of the %zu messages put on hold", recorded,
                       held);
        goto out;
    }
    if (action_set_commit(ctx, commit) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    (void)action_note(ctx, "held", NULL, (long long)held, NULL);
out:
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    free(cmd);
    free(in);
    free(commit);
    return r;
}

/*
 * The messages of undo data and its snapshot's path (*tar, caller frees):
 * from the ids file it names, its digest checked, or, in undo data of an
 * older run, from its "ids" and "accounts" lists.
 */
static int purge_undo_ids(struct runbook_msgs *out, struct action_ctx *ctx,
                          const char *undo_json, char **tar, struct errbuf *err)
{
    json_t *o = json_loads(undo_json, 0, NULL), *ids, *accounts, *v;
    struct strlist acc = STRLIST_INIT;
    const char *t, *file, *sha;
    char name[256];
    size_t i, n;
    int r = SS_ECORRUPT;

    memset(out, 0, sizeof(*out));
    *tar = NULL;
    if (o == NULL)
        return errbuf_set(err, SS_ECORRUPT, "purge undo data is not JSON");
    ids = json_object_get(o, "ids");
    accounts = json_object_get(o, "accounts");
    file = json_string_value(json_object_get(o, "ids_file"));
    sha = json_string_value(json_object_get(o, "ids_sha256"));
    t = json_string_value(json_object_get(o, "snapshot"));
    if (t == NULL || (file == NULL && !json_is_array(ids)) ||
        (accounts != NULL && !json_is_array(accounts)) ||
        (file != NULL && (sha == NULL || !json_is_array(accounts))) ||
        (file == NULL && accounts != NULL &&
         json_array_size(accounts) != json_array_size(ids))) {
        errbuf_set(err, SS_ECORRUPT, "purge undo data is incomplete");
        goto out;
    }
    if (file != NULL) {
        n = strlen(file);
        if (n <= 4 || n - 4 >= sizeof(name) || strcmp(file + n - 4, ".ids") ||
            strchr(file, '/') != NULL) {
            errbuf_set(err, SS_ECORRUPT, "purge undo data names no ids file");
            goto out;
        }
        memcpy(name, file, n - 4);
        name[n - 4] = '\0';
        json_array_foreach(accounts, i, v)
        {
            if (json_string_value(v) == NULL ||
                strlist_push(&acc, json_string_value(v)) < 0) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
        }
        if ((r = runbook_msgs_read(out, ctx, name, &acc, sha, NULL, err)) < 0)
            goto out;
        for (i = 0; i < out->n; i++)
            out->v[i].queue_name = (char *)"hold";
    } else {
        json_array_foreach(ids, i, v)
        {
            const char *id = json_string_value(v);
            const char *a = accounts != NULL
                                ? json_string_value(json_array_get(accounts, i))
                                : "-";
            if (id == NULL || !postfix_queue_id_valid(id) || a == NULL) {
                errbuf_set(err, SS_ECORRUPT, "purge undo data has a bad id");
                goto out;
            }
            if (runbook_msgs_push(out, "hold", id, a) < 0) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
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
    strlist_release(&acc);
    json_decref(o);
    return r;
}

/* Whether account is one of the ", "-joined names in list. */
static bool purge_listed(const struct buf *list, const char *account)
{
    size_t n = strlen(account);
    const char *p = list->data;

    while (p != NULL && (p = strstr(p, account)) != NULL) {
        if ((p == list->data || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return true;
        p += n;
    }
    return false;
}

/*
 * Keeps in msgs only the messages of the accounts the rollback names;
 * the other accounts, whose held mail stays, go to *left (", "-joined,
 * each once).  SS_EINVAL when undo data from before accounts were kept
 * meets a named rollback.
 */
static int purge_for_accounts(struct runbook_msgs *msgs, struct buf *left,
                              const struct action_ctx *ctx, struct errbuf *err)
{
    size_t i, k = 0;

    if (ctx->accounts == NULL)
        return 0;
    for (i = 0; i < msgs->n; i++) {
        struct runbook_msg m = msgs->v[i];

        if (strcmp(m.account, "-") == 0)
            return errbuf_set(err, SS_EINVAL,
                              "this run's journal does not say whose each "
                              "held message is: roll it back without "
                              "--account");
        if (action_for_account(ctx, m.account)) {
            msgs->v[i] = msgs->v[k];
            msgs->v[k++] = m;
        } else if (!purge_listed(left, m.account) &&
                   buf_printf(left, "%s%s", left->len > 0 ? ", " : "",
                              m.account) < 0) {
            return errbuf_set(err, SS_ERR, "out of memory");
        }
    }
    while (msgs->n > k)
        runbook_msgs_drop(msgs, msgs->n - 1);
    return 0;
}

/*
 * Releases the held messages (postsuper -H: idempotent); a rollback that
 * names accounts releases only theirs and keeps the rest (ACTION_KEPT).
 */
static int purge_undo(struct action_ctx *ctx, const char *undo_json,
                      struct errbuf *err)
{
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct exec_result res;
    char *cmd = NULL, *in = NULL, *tar = NULL;
    struct buf left = BUF_INIT;
    size_t in_len = 0;
    int r;

    if (strcmp(undo_json, "{}") == 0)
        return 0; /* prepare found nothing to hold */
    exec_result_init(&res);
    if ((r = purge_undo_ids(&msgs, ctx, undo_json, &tar, err)) < 0 ||
        (r = purge_for_accounts(&msgs, &left, ctx, err)) < 0 ||
        (r = purge_ids_input(&in, &in_len, &msgs, err)) < 0 ||
        (r = postfix_postsuper_command(&cmd, POSTFIX_RELEASE, false,
                                       runbook_dirs(ctx), err)) < 0)
        goto out;
    exec_result_release(&res);
    if (msgs.n > 0)
        r = runbook_run(ctx, "postsuper -H", cmd, in, in_len, false, &res, err);
    if (r == 0 && left.len > 0) {
        errbuf_set(err, SS_ERR,
                   "this rollback leaves the held mail of %s as it is (not "
                   "named)",
                   left.data);
        r = ACTION_KEPT_OTHERS;
    }
out:
    buf_release(&left);
    runbook_msgs_release(&msgs);
    exec_result_release(&res);
    free(cmd);
    free(in);
    free(tar);
    return r;
}

/*
 * The delete's stdin from the commit data, "ID INODE SIZE CTIME" lines:
 * the hold record file it names, its digest and every line checked, or,
 * in commit data of an older run, its "held" list.
 */
static int purge_commit_input(struct buf *in, struct action_ctx *ctx,
                              const json_t *o, struct errbuf *err)
{
    const json_t *held = json_object_get(o, "held");
    const char *file = json_string_value(json_object_get(o, "held_file"));
    const char *sha = json_string_value(json_object_get(o, "sha256"));
    const char *f[5], *s, *nl;
    struct buf path = BUF_INIT;
    char *text = NULL, got[SHA256_HEX_LEN + 1], id[64];
    size_t i, k, len = 0;
    json_t *v;
    int r;

    if (file != NULL) {
        if (sha == NULL || strchr(file, '/') != NULL)
            return errbuf_set(err, SS_ECORRUPT,
                              "purge commit data names no hold record");
        if ((r = runbook_evidence_path(&path, ctx, file, false, err)) < 0 ||
            (r = fsio_read_file(&text, &len, path.data, RUNBOOK_IDS_MAX, err)) <
                0)
            goto out;
        if (sha256_hex(got, text, len) < 0 || strcmp(got, sha) != 0) {
            r = errbuf_set(err, SS_ECORRUPT,
                           "'%s' is not the hold record this run kept",
                           path.data);
            goto out;
        }
        /* "ID INODE SIZE CTIME ACCOUNT": the delete takes the first four */
        for (s = text; s < text + len; s = nl + 1) {
            char *end = memchr(s, '\n', (size_t)(text + len - s));
            const char *sp = NULL;
            if (end != NULL) {
                *end = '\0';
                sp = strrchr(s, ' ');
            }
            nl = end;
            if (sp == NULL || !accounts_address_valid(sp + 1) ||
                !purge_record_line(s, sp, id, sizeof(id))) {
                r = errbuf_set(err, SS_ECORRUPT, "'%s' has a bad line",
                               path.data);
                goto out;
            }
            if (buf_add(in, s, (size_t)(sp - s)) < 0 ||
                buf_addc(in, '\n') < 0) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
        }
        r = 0;
        goto out;
    }
    if (held == NULL && json_object_get(o, "pairs") != NULL)
        return errbuf_set(err, SS_ECORRUPT,
                          "purge commit data from before hold records "
                          "(\"pairs\"): this version cannot commit it");
    if (!json_is_array(held))
        return errbuf_set(err, SS_ECORRUPT, "purge commit data is incomplete");
    json_array_foreach(held, i, v)
    {
        for (k = 0; k < 5; k++)
            f[k] = json_string_value(json_array_get(v, k));
        for (k = 0; k < 5; k++)
            if (f[k] == NULL || f[k][0] == '\0' ||
                strpbrk(f[k], " :\n\r\t") != NULL)
                break;
        if (k < 5 || json_array_size(v) != 5 || !postfix_queue_id_valid(f[0]))
            return errbuf_set(err, SS_ECORRUPT,
                              "purge commit data has a bad entry");
        if (buf_printf(in, "%s %s %s %s\n", f[0], f[2], f[3], f[4]) < 0)
            return errbuf_set(err, SS_ERR, "out of memory");
    }
    return 0;
out:
    free(text);
    buf_release(&path);
    return r;
}

/*
 * Deletes the held messages whose hold file is the one recorded at the
 * hold (same inode, size and ctime).
 */
static int purge_commit(struct action_ctx *ctx, const char *commit_json,
                        struct errbuf *err)
{
    json_t *o = json_loads(commit_json, 0, NULL);
    struct buf in = BUF_INIT;
    struct exec_result res;
    char *script = NULL;
    const char *p;
    size_t matched, deleted = 0;
    int r;

    exec_result_init(&res);
    if (o == NULL)
        return errbuf_set(err, SS_ECORRUPT, "purge commit data is not JSON");
    if ((r = purge_commit_input(&in, ctx, o, err)) < 0)
        goto out;
    if ((script = postfix_held_delete_command(runbook_dirs(ctx))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = runbook_run(ctx, "the delete of held spam", script, in.data,
                         in.len, false, &res, err)) < 0)
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
    free(script);
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
    if ((r = purge_undo_ids(&msgs, ctx, undo_json, &tar, err)) < 0 ||
        (r = postfix_restore_command(&cmd, tar, POSTFIX_RESTORE_TO_HOLD,
                                     runbook_dirs(ctx), err)) < 0)
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
