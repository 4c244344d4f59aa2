/* Action "identify": finds the stolen accounts in one pass over the queue. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook.h"
#include "spamstop/accounts.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"
#include "spamstop/text.h"

/* The parsed "with": thresholds as templates, rendered at run time. */
struct identify_params {
    char *min_messages; /* "50" or "{{params.min_messages}}" */
    char *min_share;    /* "0.2" or "{{params.min_share}}" */
};

/* Frees what identify_parse made. */
static void identify_free(void *p)
{
    struct identify_params *ip = p;

    if (ip == NULL)
        return;
    free(ip->min_messages);
    free(ip->min_share);
    free(ip);
}

/* Copies a number or a string of "with" as text. */
static char *identify_scalar(json_t *v)
{
    char num[64];

    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return strdup(num);
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        return strdup(num);
    }
    return NULL;
}

/* Checks "with": {"min_messages": N|"...", "min_share": X|"..."}. */
static int identify_parse(void **out, const char *with_json, struct errbuf *err)
{
    struct identify_params *ip = NULL;
    json_t *root = NULL, *v;
    const char *key;
    char **dst;
    int r = SS_EINVAL;

    *out = NULL;
    if ((root = json_loads(with_json, 0, NULL)) == NULL)
        return errbuf_set(err, SS_EINVAL, "'with' is not valid JSON");
    if ((ip = calloc(1, sizeof(*ip))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "min_messages") == 0)
            dst = &ip->min_messages;
        else if (strcmp(key, "min_share") == 0)
            dst = &ip->min_share;
        else {
            errbuf_set(err, SS_EINVAL, "unknown key 'with.%.64s'", key);
            goto out;
        }
        if ((*dst = identify_scalar(v)) == NULL) {
            errbuf_set(err, SS_EINVAL,
                       "'with.%s' must be a number or a template", key);
            goto out;
        }
    }
    *out = ip;
    ip = NULL;
    r = 0;
out:
    identify_free(ip);
    json_decref(root);
    return r;
}

/* Renders and checks the thresholds (defaults for what "with" omits). */
static int identify_thresholds(struct postfix_thresholds *out,
                               struct action_ctx *ctx,
                               const struct identify_params *ip,
                               struct errbuf *err)
{
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    char *s = NULL, *end;
    unsigned long long n;
    double d;
    int r = 0;

    if (ip->min_messages != NULL) {
        if ((r = runbook_scalar(&s, ctx, ip->min_messages, err)) < 0)
            goto out;
        n = strtoull(s, &end, 10);
        if (*s == '\0' || *end != '\0' || s[0] == '-' || n > 100000000ull) {
            r = errbuf_set(err, SS_EINVAL,
                           "min_messages '%.64s' is not a count", s);
            goto out;
        }
        t.min_messages = (size_t)n;
        free(s);
        s = NULL;
    }
    if (ip->min_share != NULL) {
        if ((r = runbook_scalar(&s, ctx, ip->min_share, err)) < 0)
            goto out;
        d = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || !(d >= 0.0 && d <= 1.0)) {
            r = errbuf_set(err, SS_EINVAL,
                           "min_share '%.64s' is not a share from 0 to 1", s);
            goto out;
        }
        t.min_share = d;
    }
    *out = t;
out:
    free(s);
    return r;
}

/*
 * Writes text to RUN/evidence/<host>/name (0600); keeps its digest, also
 * in the audit trail.
 */
static int identify_save(struct action_ctx *ctx, const char *name,
                         const char *text, size_t len,
                         char sha[SHA256_HEX_LEN + 1], struct errbuf *err)
{
    struct buf path = BUF_INIT;
    int r;

    if ((r = runbook_evidence_path(&path, ctx, name, true, err)) == 0)
        r = fsio_write_atomic(path.data, text, len, 0600, err);
    if (r == 0 && sha256_hex(sha, text, len) < 0)
        r = errbuf_set(err, SS_ERR, "cannot hash '%s'", path.data);
    if (r == 0 && (r = action_audit_evidence(ctx, path.data, len, sha)) < 0)
        errbuf_set(err, r, "cannot record evidence '%s' in the audit trail",
                   path.data);
    buf_release(&path);
    return r;
}

/* The step's register, or its name: what its evidence files are named. */
static const char *identify_reg(const struct action_ctx *ctx)
{
    return ctx->step->register_name != NULL ? ctx->step->register_name
                                            : ctx->step->name;
}

/* Messages written to the listing at a time: ~80 KB of text. */
#define IDENTIFY_LISTING_SLICE 256

/*
 * Keeps the queue as this pass read it, as <register>.queue.json in
 * postqueue -j's format: the report's "queue before".  The pass after the
 * stop reads the queue as the snapshot step would list it (Postfix stays
 * stopped in between), so the snapshot asks no postqueue -j of its own
 * (showq reading every queue file a third time).  Written and hashed a
 * slice at a time (a temporary file, fsync, rename), so a host never holds
 * its whole listing in memory.
 */
static int identify_listing(struct action_ctx *ctx,
                            const struct postfix_envelopes *env,
                            struct errbuf *err)
{
    struct runbook_evfile f = RUNBOOK_EVFILE_INIT;
    struct buf text = BUF_INIT, name = BUF_INIT;
    struct sha256_ctx sc;
    unsigned char digest[SHA256_LEN];
    char sha[SHA256_HEX_LEN + 1];
    size_t i, k, bytes = 0;
    bool hashing = false;
    int r;

    if (buf_printf(&name, "%s.queue.json", identify_reg(ctx)) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = runbook_evfile_open(&f, ctx, name.data, err)) < 0)
        goto out;
    if (sha256_begin(&sc) < 0) {
        r = errbuf_set(err, SS_ERR, "cannot hash '%s'", f.path.data);
        goto out;
    }
    hashing = true;
    for (i = 0; i < env->n; i += k) {
        k = env->n - i < IDENTIFY_LISTING_SLICE ? env->n - i
                                                : IDENTIFY_LISTING_SLICE;
        buf_reset(&text);
        if ((r = postfix_messages_listing(&text, env->msgs + i, k, err)) < 0)
            goto out;
        if (text.len == 0)
            continue;
        if ((r = fsio_append(f.fd, text.data, text.len, 0, err)) < 0)
            goto out;
        sha256_update(&sc, text.data, text.len);
        bytes += text.len;
    }
    hashing = false;
    if (sha256_end(&sc, digest) < 0) {
        r = errbuf_set(err, SS_ERR, "cannot hash '%s'", f.path.data);
        goto out;
    }
    hex_encode(sha, digest, SHA256_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    r = runbook_evfile_commit(&f, ctx, bytes, sha, err);
out:
    if (hashing)
        sha256_abort(&sc);
    runbook_evfile_release(&f);
    buf_release(&text);
    buf_release(&name);
    return r;
}

/* Tells the plan what was found: suspects, counts, scripts. */
static void identify_describe(struct action_ctx *ctx,
                              const struct postfix_findings *f)
{
    size_t i, shown = 0;

    action_describe(ctx,
                    "%zu queued messages read: %zu authenticated, %zu from "
                    "web scripts, %zu other",
                    f->total, f->authenticated, f->scripted, f->other);
    for (i = 0; i < f->n_accounts && shown < 10; i++, shown++) {
        const struct postfix_account *a = &f->accounts[i];
        action_describe(
            ctx, "%s %s: %zu messages (%.0f%% of the queue), %zu clients%s%s",
            a->flagged ? "FLAGGED" : "account", a->username, a->messages,
            a->share * 100.0, a->clients.distinct,
            a->clients.n > 0 ? ", top " : "",
            a->clients.n > 0 ? a->clients.items[0].value : "");
    }
    for (i = 0; i < f->n_scripts && i < 5; i++)
        action_describe(ctx,
                        "web script %s: %zu messages (reported, not acted on)",
                        f->scripts[i].script, f->scripts[i].messages);
    if (f->n_flagged > 0)
        action_describe(ctx,
                        "%zu messages of %zu flagged account(s) to purge, "
                        "%zu stay queued",
                        f->flagged_messages, f->n_flagged, f->remainder);
    else
        action_describe(ctx,
                        "no account over the thresholds (%zu messages "
                        "and %.0f%% of the queue)",
                        f->thresholds.min_messages,
                        f->thresholds.min_share * 100.0);
    if (f->anomalies > 0 || f->incomplete > 0)
        action_describe(ctx,
                        "WARNING: %zu anomalies and %zu incomplete messages "
                        "in the queue files",
                        f->anomalies, f->incomplete);
}

/*
 * Keeps the findings as evidence, the flagged messages for snapshot and
 * purge (<register>.ids), and the flagged accounts as the step's result.
 */
static int identify_keep(struct action_ctx *ctx,
                         const struct postfix_findings *f, struct errbuf *err)
{
    const char *reg = identify_reg(ctx);
    struct runbook_msgs msgs = RUNBOOK_MSGS_INIT;
    struct buf ids = BUF_INIT, name = BUF_INIT, ev = BUF_INIT;
    char sha_json[SHA256_HEX_LEN + 1], sha_ids[SHA256_HEX_LEN + 1];
    char *json = NULL;
    json_t *evj = NULL;
    size_t i, k;
    int r;

    msgs.total = f->total;
    for (i = 0; i < f->n_accounts; i++) {
        const struct postfix_account *a = &f->accounts[i];
        if (!a->flagged)
            continue;
        if (!accounts_address_valid(a->username)) {
            r = errbuf_set(err, SS_EINVAL,
                           "flagged account '%.80s' has a name spamstop "
                           "cannot act on safely: handle it by hand",
                           a->username);
            goto out;
        }
        for (k = 0; k < a->n_refs; k++)
            if (runbook_msgs_push(&msgs, a->refs[k].queue_name,
                                  a->refs[k].queue_id, a->username) < 0) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
    }
    if ((r = postfix_findings_to_json(&json, f, err)) < 0)
        goto out;
    if (runbook_msgs_format(&ids, &msgs) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    buf_printf(&name, "%s.json", reg);
    if ((r = identify_save(ctx, name.data, json, strlen(json), sha_json, err)) <
        0)
        goto out;
    buf_reset(&name);
    buf_printf(&name, "%s.ids", reg);
    if ((r = identify_save(ctx, name.data, ids.data, ids.len, sha_ids, err)) <
        0)
        goto out;
    for (i = 0; i < f->n_accounts; i++)
        if (f->accounts[i].flagged &&
            (r = action_add_result(ctx, f->accounts[i].username)) < 0) {
            r = errbuf_set(err, SS_ERR, "cannot keep the result");
            goto out;
        }
    buf_reset(&name);
    buf_printf(&name, "%s.json", reg);
    if ((r = runbook_evidence_path(&ev, ctx, name.data, false, err)) < 0)
        goto out;
    evj = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "findings", ev.data,
                    "findings_sha256", sha_json, "ids_sha256", sha_ids, "total",
                    (json_int_t)f->total, "flagged", (json_int_t)f->n_flagged,
                    "flagged_messages", (json_int_t)f->flagged_messages,
                    "scripts", (json_int_t)f->n_scripts);
    free(json);
    json = evj != NULL ? json_dumps(evj, JSON_COMPACT) : NULL;
    if (json == NULL || action_set_evidence(ctx, json) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
out:
    runbook_msgs_release(&msgs);
    buf_release(&ids);
    buf_release(&name);
    buf_release(&ev);
    json_decref(evj);
    free(json);
    return r;
}

/*
 * A pass that read the whole queue itself, kept for later passes on the
 * host (action_memo): its output, in a file of the run folder rather than
 * in memory (a host would otherwise hold ~0.7 KB per queued message from
 * the survey to the end of its run), parsed again when a later pass needs
 * it.  The file goes when the host is done.
 */
struct identify_memo {
    char *path;
};

static void identify_memo_free(void *p)
{
    struct identify_memo *m = p;

    if (m == NULL)
        return;
    unlink(m->path);
    free(m->path);
    free(m);
}

/* Keeps the raw output of a whole pass as the host's memo. */
static int identify_memo_keep(struct action_ctx *ctx, const struct buf *out,
                              struct errbuf *err)
{
    struct identify_memo *m = NULL;
    struct buf path = BUF_INIT;
    int r = SS_ERR;

    if (buf_printf(&path, "%s/cache", ctx->run_dir) < 0)
        goto out;
    if ((r = fsio_mkdirs(path.data, 0700, err)) < 0)
        goto out;
    r = SS_ERR;
    if (buf_addc(&path, '/') < 0 || fsname_escape(&path, ctx->host) < 0 ||
        buf_adds(&path, ".identify") < 0 || (m = calloc(1, sizeof(*m))) == NULL)
        goto out;
    if ((r = fsio_write_atomic(path.data, out->data, out->len, 0600, err)) < 0)
        goto out;
    m->path = buf_detach(&path);
    action_memo_keep(ctx, m, identify_memo_free);
    m = NULL;
    r = 0;
out:
    if (r == SS_ERR && err->code == 0)
        errbuf_set(err, r, "out of memory");
    buf_release(&path);
    free(m);
    return r;
}

/*
 * Reads and parses the memo's pass into env (caller releases it).  The
 * copying parse keeps only the values, about a third of the text, which
 * is freed before the next pass's output arrives.
 */
static int identify_memo_load(struct postfix_envelopes *env,
                              const struct identify_memo *m, struct errbuf *err)
{
    char *text = NULL;
    size_t len = 0;
    int r;

    r = fsio_read_file(&text, &len, m->path, RUNBOOK_IDENTIFY_CAP, err);
    if (r == 0)
        r = postfix_envelopes_parse(env, text, len, err);
    free(text);
    return r;
}

/*
 * One batched remote pass, then the analysis on the controller.  The first
 * pass on a host reads every queue file and is kept; a later one (identify
 * after the survey, Postfix now stopped) is given its file stamps and
 * reads again only the files that are new or changed since.
 */
static int identify_apply(struct action_ctx *ctx, const void *params,
                          struct errbuf *err)
{
    struct identify_memo *memo = action_memo(ctx, identify_memo_free);
    struct postfix_thresholds t;
    struct postfix_envelopes env = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes earlier = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    char *cmd = NULL, *stamps = NULL;
    size_t stamps_len = 0, reused = 0;
    int r;

    exec_result_init(&res);
    if ((r = identify_thresholds(&t, ctx, params, err)) < 0)
        goto out;
    if ((cmd = postfix_identify_command(runbook_dirs(ctx))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if (memo != NULL && ((r = identify_memo_load(&earlier, memo, err)) < 0 ||
                         (r = postfix_envelopes_stamps(&stamps, &stamps_len,
                                                       &earlier, err)) < 0))
        goto out;
    exec_result_release(&res);
    c.command = cmd;
    c.input = stamps;
    c.input_len = stamps_len;
    c.out_cap = RUNBOOK_IDENTIFY_CAP;
    if ((r = action_run(ctx, &c, false, &res, err)) < 0)
        goto out;
    if (res.exit_status != 0) {
        r = errbuf_set(err, SS_EREMOTE,
                       "the identify pass exited with status %d",
                       res.exit_status);
        goto out;
    }
    if (res.out.data == NULL) {
        r = errbuf_set(err, SS_EREMOTE,
                       "the identify pass output is cut (no end marker)");
        goto out;
    }
    /* a whole pass is kept as it came, before the parse changes it */
    if (memo == NULL && (r = identify_memo_keep(ctx, &res.out, err)) < 0)
        goto out;
    /* parsed where it lies (the buf keeps a NUL after it): no copy */
    if ((r = postfix_envelopes_parse_in_place(&env, res.out.data, res.out.len,
                                              err)) < 0)
        goto out;
    if (!env.end_seen) {
        r = errbuf_set(err, SS_EREMOTE,
                       "the identify pass output is cut (no end marker)");
        goto out;
    }
    if (memo != NULL &&
        (r = postfix_envelopes_reuse(&env, &earlier, &reused, err)) < 0)
        goto out;
    runbook_dirs_keep(ctx, &env.dirs);
    if ((r = identify_listing(ctx, &env, err)) < 0 ||
        (r = postfix_identify_envelopes(&f, &env, &t, err)) < 0)
        goto out;
    /* the findings own their strings: the output can go before the JSON */
    postfix_envelopes_release(&env);
    postfix_envelopes_release(&earlier);
    exec_result_release(&res);
    identify_describe(ctx, &f);
    if (memo != NULL)
        action_describe(ctx,
                        "%zu of them unchanged since the earlier pass (same "
                        "inode, size and ctime): not read again",
                        reused);
    r = identify_keep(ctx, &f, err);
out:
    postfix_findings_release(&f);
    postfix_envelopes_release(&env);
    postfix_envelopes_release(&earlier);
    exec_result_release(&res);
    free(cmd);
    free(stamps);
    return r;
}

const struct action_ops action_identify = {
    "identify",     STEP_KIND_BIT(STEP_READ_ONLY),
    identify_parse, identify_free,
    NULL,           identify_apply,
    NULL,           NULL,
    NULL,
};
