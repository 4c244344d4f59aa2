/* Action "identify": finds the stolen accounts in one pass over the queue. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runbook.h"
#include "spamstop/accounts.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"
#include "spamstop/text.h"

/* The parsed "with": thresholds as templates, rendered at run time. */
struct identify_params {
    char *min_messages;     /* "50" or "{{params.min_messages}}" */
    char *min_share;        /* "0.2" or "{{params.min_share}}" */
    char *log_hours;        /* the log window, hours */
    char *log_min_messages; /* log evidence: submissions in the window */
    char *log_min_clients;  /* ... from this many client addresses */
    char *accounts;         /* named accounts, blank or comma separated */
};

/* The keys of "with", and where each goes. */
static const struct {
    const char *key;
    size_t offset;
} identify_keys[] = {
    {"min_messages", offsetof(struct identify_params, min_messages)},
    {"min_share", offsetof(struct identify_params, min_share)},
    {"log_hours", offsetof(struct identify_params, log_hours)},
    {"log_min_messages", offsetof(struct identify_params, log_min_messages)},
    {"log_min_clients", offsetof(struct identify_params, log_min_clients)},
    {"accounts", offsetof(struct identify_params, accounts)},
};
#define IDENTIFY_NKEYS (sizeof(identify_keys) / sizeof(identify_keys[0]))

/* The field of ip that key k fills. */
static char **identify_field(struct identify_params *ip, size_t k)
{
    return (char **)(void *)((char *)ip + identify_keys[k].offset);
}

/* Frees what identify_parse made. */
static void identify_free(void *p)
{
    struct identify_params *ip = p;
    size_t k;

    if (ip == NULL)
        return;
    for (k = 0; k < IDENTIFY_NKEYS; k++)
        free(*identify_field(ip, k));
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

/* Checks "with": the keys above, each a number or a template. */
static int identify_parse(void **out, const char *with_json, struct errbuf *err)
{
    struct identify_params *ip = NULL;
    json_t *root = NULL, *v;
    const char *key;
    size_t k;
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
        for (k = 0; k < IDENTIFY_NKEYS; k++)
            if (strcmp(key, identify_keys[k].key) == 0)
                break;
        if (k == IDENTIFY_NKEYS) {
            errbuf_set(err, SS_EINVAL, "unknown key 'with.%.64s'", key);
            goto out;
        }
        if ((*identify_field(ip, k) = identify_scalar(v)) == NULL) {
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

/* What one pass flags by: thresholds and the named accounts they point to. */
struct identify_rules {
    struct postfix_thresholds t;
    struct strlist named;
};

/* Renders tmpl (NULL: keep *out) as a count from min to max into *out. */
static int identify_count(size_t *out, struct action_ctx *ctx, const char *tmpl,
                          const char *what, size_t min, size_t max,
                          struct errbuf *err)
{
    char *s = NULL, *end;
    unsigned long long n;
    int r;

    if (tmpl == NULL)
        return 0;
    if ((r = runbook_scalar(&s, ctx, tmpl, err)) < 0)
        return r;
    n = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || s[0] == '-' || n < min || n > max)
        r = errbuf_set(err, SS_EINVAL, "%s '%.64s' is not a count from %zu",
                       what, s, min);
    else
        *out = (size_t)n;
    free(s);
    return r;
}

/* Renders the share threshold (0..1) into *out. */
static int identify_share(double *out, struct action_ctx *ctx, const char *tmpl,
                          struct errbuf *err)
{
    char *s = NULL, *end;
    double d;
    int r;

    if (tmpl == NULL)
        return 0;
    if ((r = runbook_scalar(&s, ctx, tmpl, err)) < 0)
        return r;
    d = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(d >= 0.0 && d <= 1.0))
        r = errbuf_set(err, SS_EINVAL,
                       "min_share '%.64s' is not a share from 0 to 1", s);
    else
        *out = d;
    free(s);
    return r;
}

/*
 * Renders the named accounts (blank or comma separated, or a result) into
 * l, lower case.
 */
static int identify_named(struct strlist *l, struct action_ctx *ctx,
                          const char *tmpl, struct errbuf *err)
{
    struct buf b = BUF_INIT;
    char *s = NULL, *w, *save = NULL, *p;
    int r;

    if (tmpl == NULL)
        return 0;
    if ((r = action_render(&b, ctx, tmpl, err)) < 0 ||
        (s = strdup(b.data != NULL ? b.data : "")) == NULL) {
        buf_release(&b);
        return r < 0 ? r : errbuf_set(err, SS_ERR, "out of memory");
    }
    buf_release(&b);
    /* quoted words ({{params.x}}, {{result}}): an address holds no quote */
    for (p = s; *p != '\0'; p++)
        if (*p == '\'')
            *p = ' ';
    for (w = strtok_r(s, " ,\t", &save); w != NULL && r == 0;
         w = strtok_r(NULL, " ,\t", &save)) {
        for (p = w; *p != '\0'; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        if (!accounts_address_valid(w) || strchr(w, '@') == NULL)
            r = errbuf_set(err, SS_EINVAL,
                           "named account '%.80s' is not an address", w);
        else if (strlist_push(l, w) < 0)
            r = errbuf_set(err, SS_ERR, "out of memory");
    }
    free(s);
    return r;
}

/* Renders and checks the rules (defaults for what "with" omits). */
static int identify_rules_make(struct identify_rules *out,
                               struct action_ctx *ctx,
                               const struct identify_params *ip,
                               struct errbuf *err)
{
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    size_t hours = t.log_hours;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = identify_count(&t.min_messages, ctx, ip->min_messages,
                            "min_messages", 1, 100000000, err)) < 0 ||
        (r = identify_share(&t.min_share, ctx, ip->min_share, err)) < 0 ||
        (r = identify_count(&hours, ctx, ip->log_hours, "log_hours", 1,
                            24 * 366, err)) < 0 ||
        (r = identify_count(&t.log_min_messages, ctx, ip->log_min_messages,
                            "log_min_messages", 1, 100000000, err)) < 0 ||
        (r = identify_count(&t.log_min_clients, ctx, ip->log_min_clients,
                            "log_min_clients", 1, 100000000, err)) < 0 ||
        (r = identify_named(&out->named, ctx, ip->accounts, err)) < 0) {
        strlist_release(&out->named);
        return r;
    }
    t.log_hours = (unsigned)hours;
    out->t = t;
    return 0;
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

/* Copies the first ENGINE_VALUES_MAX values of l into out (owned). */
static int identify_values(struct engine_values *out,
                           const struct postfix_value_list *l)
{
    size_t i, n = l->n < ENGINE_VALUES_MAX ? l->n : ENGINE_VALUES_MAX;

    if (n == 0)
        return 0;
    if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
        return SS_ERR;
    for (; out->n < n; out->n++) {
        i = out->n;
        if ((out->v[i].value = strdup(l->items[i].value)) == NULL)
            return SS_ERR;
        out->v[i].messages = (long long)l->items[i].count;
    }
    return 0;
}

/* Copies account a of f into out (strings owned by out). */
static int identify_account(struct engine_account *out,
                            const struct postfix_findings *f,
                            const struct postfix_account *a)
{
    char why[512];

    out->level = a->flagged ? ENGINE_ACCOUNT_FLAGGED
                 : a->watch ? ENGINE_ACCOUNT_WATCH
                            : ENGINE_ACCOUNT_SEEN;
    out->messages = (long long)a->messages;
    out->share_permille = (int)(a->share * 1000.0 + 0.5);
    out->clients = (long long)a->clients.distinct;
    out->top_client_messages =
        a->clients.n > 0 ? (long long)a->clients.items[0].count : 0;
    if ((out->address = strdup(a->username)) == NULL)
        return SS_ERR;
    if (a->clients.n > 0 &&
        (out->top_client = strdup(a->clients.items[0].value)) == NULL)
        return SS_ERR;
    if (a->flagged || a->watch) {
        postfix_account_reason(why, sizeof(why), f, a);
        if ((out->why = strdup(why)) == NULL)
            return SS_ERR;
    }
    if (a->flagged && (identify_values(&out->top_clients, &a->clients) < 0 ||
                       identify_values(&out->helos, &a->helos) < 0 ||
                       identify_values(&out->subjects, &a->subjects) < 0))
        return SS_ERR;
    return 0;
}

/* Copies the log pass's counts into s. */
static int identify_survey_log(struct engine_survey *s,
                               const struct postfix_maillog *log,
                               unsigned hours)
{
    if (log == NULL)
        return 0;
    if (log->sources.n == 0)
        return (s->log_missing = strdup("none found (mail.log, maillog, "
                                        "journald)")) == NULL
                   ? SS_ERR
                   : 0;
    s->log_records = (long long)log->records;
    s->log_hours = hours;
    s->log_accounts = (long long)log->naccounts;
    s->log_cut = !log->complete;
    s->log_source = malloc(strlen(log->sources.v[0]) + 16);
    if (s->log_source == NULL)
        return SS_ERR;
    /* one name stands for them all, as the plan has always said */
    sprintf(s->log_source, "%s%s", log->sources.v[0],
            log->sources.n > 1 ? " and more" : "");
    return 0;
}

/* Most accounts a survey lists (flagged ones first). */
#define IDENTIFY_SURVEY_ACCOUNTS 10

/*
 * Tells the plan what was found, as data: the counts, the accounts and
 * why, the logs; web scripts and anomalies as notes.
 */
static int identify_survey(struct action_ctx *ctx,
                           const struct postfix_findings *f,
                           const struct postfix_maillog *log, unsigned hours,
                           long long unchanged)
{
    struct engine_survey *s = calloc(1, sizeof(*s));
    size_t i, n = f->n_accounts;
    int r = SS_ERR;

    if (n > IDENTIFY_SURVEY_ACCOUNTS)
        n = IDENTIFY_SURVEY_ACCOUNTS;
    if (s == NULL ||
        (n > 0 && (s->accounts = calloc(n, sizeof(*s->accounts))) == NULL))
        goto out;
    s->queued = (long long)f->total;
    s->authenticated = (long long)f->authenticated;
    s->scripted = (long long)f->scripted;
    s->other = (long long)f->other;
    s->unchanged = unchanged;
    s->to_hold = (long long)(f->flagged_messages + f->backscatter);
    s->backscatter = (long long)f->backscatter;
    s->stay = (long long)f->remainder;
    s->flagged = (long long)f->n_flagged;
    s->anomalies = (long long)f->anomalies;
    s->incomplete = (long long)f->incomplete;
    s->min_messages = (long long)f->thresholds.min_messages;
    s->min_share_pct = (long long)(f->thresholds.min_share * 100.0 + 0.5);
    s->log_min_messages = (long long)f->thresholds.log_min_messages;
    s->log_min_clients = (long long)f->thresholds.log_min_clients;
    /* counted first: a copy that fails half-way is freed with the rest */
    for (i = 0; i < n; i++)
        if ((s->naccounts = i + 1,
             identify_account(&s->accounts[i], f, &f->accounts[i])) < 0)
            goto out;
    if (identify_survey_log(s, log, hours) < 0)
        goto out;
    for (i = 0; i < f->n_scripts && i < 5; i++)
        if (action_note(ctx, "web_script", f->scripts[i].script,
                        (long long)f->scripts[i].messages, NULL) < 0)
            goto out;
    action_set_survey(ctx, s);
    s = NULL;
    r = 0;
out:
    engine_survey_free(s);
    return r;
}

/*
 * Keeps the findings as evidence, the flagged messages for snapshot and
 * purge (<register>.ids), and the flagged accounts as the step's result.
 */
static int identify_keep(struct action_ctx *ctx,
                         const struct postfix_findings *f, struct errbuf *err)
{
    const char *reg = identify_reg(ctx);
    struct buf ids = BUF_INIT, name = BUF_INIT, ev = BUF_INIT;
    char sha_json[SHA256_HEX_LEN + 1], sha_ids[SHA256_HEX_LEN + 1];
    char *json = NULL;
    json_t *evj = NULL;
    size_t i;
    int r;

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
    }
    if ((r = postfix_findings_to_json(&json, f, err)) < 0)
        goto out;
    if (runbook_ids_format(&ids, f) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    buf_printf(&name, "%s.json", reg);
    if ((r = runbook_evidence_save(ctx, name.data, json, strlen(json), sha_json,
                                   err)) < 0)
        goto out;
    buf_reset(&name);
    buf_printf(&name, "%s.ids", reg);
    if ((r = runbook_evidence_save(ctx, name.data, ids.data, ids.len, sha_ids,
                                   err)) < 0)
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
    buf_release(&ids);
    buf_release(&name);
    buf_release(&ev);
    json_decref(evj);
    free(json);
    return r;
}

/*
 * A pass that read the whole queue itself, kept for later passes on the
 * host (action_memo): its output, the evidence file the pass streamed to
 * disk (RUN/evidence/<host>/<register>.identify), not memory (a host
 * would otherwise hold ~0.7 KB per queued message from the survey to the
 * end of its run), parsed again from the file when a later pass needs
 * it; and the log evidence, read once (a later pass runs with Postfix
 * stopped: reading the logs again would keep the mail down longer).
 */
struct identify_memo {
    char *path;   /* the pass's output */
    char *stamps; /* its "PATH STAMP" lines: the next pass's stdin */
    struct postfix_maillog log;
    bool has_log;
};

static void identify_memo_free(void *p)
{
    struct identify_memo *m = p;

    if (m == NULL)
        return;
    free(m->path); /* the files are evidence: they stay */
    free(m->stamps);
    postfix_maillog_release(&m->log);
    free(m);
}

/* Keeps the evidence files of a whole pass as the host's memo. */
static int identify_memo_keep(struct action_ctx *ctx, const char *path,
                              const char *stamps, struct errbuf *err)
{
    struct identify_memo *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->path = strdup(path)) == NULL ||
        (m->stamps = strdup(stamps)) == NULL) {
        if (m != NULL)
            free(m->path);
        free(m);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    action_memo_keep(ctx, m, identify_memo_free);
    return 0;
}

/* Pieces of an evidence file read back at a time. */
#define IDENTIFY_READ_PIECE (1u << 20)

/*
 * Completes env, a later pass, with the memo's pass: its file read back a
 * piece at a time through a reuse stream, which keeps of it only the
 * messages of the files env's pass found unchanged (*reused of them).
 */
static int identify_memo_reuse(struct postfix_envelopes *env, size_t *reused,
                               const struct identify_memo *m,
                               struct errbuf *err)
{
    struct postfix_envelopes_stream *ps = NULL;
    char *piece = malloc(IDENTIFY_READ_PIECE);
    ssize_t n = 0;
    int fd = -1, r;

    *reused = 0;
    if (piece == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot open '%s'", m->path);
        goto out;
    }
    if ((r = postfix_envelopes_reuse_new(&ps, env, err)) < 0)
        goto out;
    while ((n = read(fd, piece, IDENTIFY_READ_PIECE)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = errbuf_errno(err, SS_ERR, "cannot read '%s'", m->path);
            goto out;
        }
        if ((r = postfix_envelopes_stream_feed(ps, piece, (size_t)n, err)) < 0)
            goto out;
    }
    if ((r = postfix_envelopes_stream_end(ps, err)) == 0)
        *reused = postfix_envelopes_stream_reused(ps);
out:
    postfix_envelopes_stream_free(ps);
    if (fd >= 0)
        close(fd);
    free(piece);
    return r;
}

/* Most log evidence read from a host: about a million records. */
#define IDENTIFY_LOG_CAP (64u * 1024 * 1024)

/* Where the log pass's output goes as it arrives: its file, the parser. */
struct identify_log_sink {
    int fd;
    struct postfix_maillog_stream *ps;
    uint64_t bytes;
};

/* The sink of the log pass's stdout (exec_cmd on_out). */
static int identify_log_data(void *arg, const char *data, size_t len,
                             struct errbuf *err)
{
    struct identify_log_sink *s = arg;
    int r;

    if (len > IDENTIFY_LOG_CAP - s->bytes)
        return errbuf_set(err, SS_ETOOBIG, "the mail log pass is over %u MiB",
                          IDENTIFY_LOG_CAP >> 20);
    s->bytes += len;
    if ((r = fsio_append(s->fd, data, len, 0, err)) < 0)
        return r;
    return postfix_maillog_stream_feed(s->ps, data, len, err);
}

/*
 * The log evidence pass: parsed into *out as it arrives, its raw output
 * streamed to the evidence file <register>.maillog (the text is never
 * held: a day of a busy server's log is millions of lines).  A failed or
 * missing pass is said in the plan and leaves *out empty: the queue alone
 * decides then.  < 0 only for a failure of the run itself (trail,
 * evidence, memory).
 */
static int identify_log_pass(struct postfix_maillog *out, bool *has,
                             struct action_ctx *ctx, unsigned hours,
                             struct errbuf *err)
{
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    struct runbook_evfile f = RUNBOOK_EVFILE_INIT;
    struct identify_log_sink sink = {-1, NULL, 0};
    struct buf name = BUF_INIT;
    char sha[SHA256_HEX_LEN + 1], *cmd = NULL;
    long long since = (long long)time(NULL) - (long long)hours * 3600;
    int r;

    memset(out, 0, sizeof(*out));
    *has = false;
    exec_result_init(&res);
    if ((cmd = postfix_maillog_command(since, IDENTIFY_LOG_CAP)) == NULL ||
        buf_printf(&name, "%s.maillog", identify_reg(ctx)) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = runbook_evfile_open(&f, ctx, name.data, err)) < 0 ||
        (r = postfix_maillog_stream_new(&sink.ps, out, since, err)) < 0)
        goto out;
    sink.fd = f.fd;
    c.command = cmd;
    c.on_out.fn = identify_log_data;
    c.on_out.arg = &sink;
    r = action_run(ctx, &c, false, &res, err);
    if (r == SS_ETOOBIG || (r == 0 && res.exit_status != 0)) {
        (void)action_note(ctx, "log_unread", NULL, -1,
                          r < 0 ? err->msg : "the pass failed");
        errbuf_clear(err);
        postfix_maillog_release(out);
        r = 0;
        goto out;
    }
    if (r < 0 || (r = postfix_maillog_stream_end(sink.ps, err)) < 0)
        goto out;
    hex_encode(sha, res.out_sha256, SHA256_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    if ((r = runbook_evfile_commit(&f, ctx, (size_t)res.out_bytes, sha, err)) <
        0)
        goto out;
    *has = true;
out:
    if (r < 0 || !*has)
        postfix_maillog_release(out);
    postfix_maillog_stream_free(sink.ps);
    runbook_evfile_release(&f);
    exec_result_release(&res);
    buf_release(&name);
    free(cmd);
    return r;
}

/*
 * Where the queue pass's output goes as it arrives: its evidence file on
 * disk and the push parser.  Nothing keeps the text in memory.
 */
struct identify_sink {
    int fd;
    struct postfix_envelopes_stream *ps;
    uint64_t bytes;
    /* a first pass: the stamps the parser gives, drained to their file */
    int stamps_fd;
    struct buf stamps;
    struct sha256_ctx stamps_sha;
};

/* Most stamps the parser gives between two drains (one piece's worth). */
#define IDENTIFY_STAMPS_CAP (16u * 1024 * 1024)

/* Moves the stamps the parser gave so far to their file. */
static int identify_sink_drain(struct identify_sink *s, struct errbuf *err)
{
    int r;

    if (s->stamps_fd < 0 || s->stamps.len == 0)
        return 0;
    if ((r = fsio_append(s->stamps_fd, s->stamps.data, s->stamps.len, 0, err)) <
        0)
        return r;
    if (sha256_update(&s->stamps_sha, s->stamps.data, s->stamps.len) < 0)
        return errbuf_set(err, SS_ERR, "cannot hash the stamps");
    buf_reset(&s->stamps);
    return 0;
}

/* The sink of the queue pass's stdout (exec_cmd on_out). */
static int identify_sink_data(void *arg, const char *data, size_t len,
                              struct errbuf *err)
{
    struct identify_sink *s = arg;
    int r;

    if (len > RUNBOOK_IDENTIFY_CAP - s->bytes)
        return errbuf_set(err, SS_ETOOBIG,
                          "the identify pass output is over %llu MiB",
                          (unsigned long long)(RUNBOOK_IDENTIFY_CAP >> 20));
    s->bytes += len;
    if ((r = fsio_append(s->fd, data, len, 0, err)) < 0 ||
        (r = postfix_envelopes_stream_feed(s->ps, data, len, err)) < 0)
        return r;
    return identify_sink_drain(s, err);
}

/* Runs the queue pass with its output going to sink; checks its ending. */
static int identify_queue_run(struct exec_result *res, struct action_ctx *ctx,
                              const char *cmd, const char *stamps,
                              size_t stamps_len, struct identify_sink *sink,
                              struct errbuf *err)
{
    struct exec_cmd c = EXEC_CMD_INIT;
    int r;

    c.command = cmd;
    c.input = stamps;
    c.input_len = stamps_len;
    c.on_out.fn = identify_sink_data;
    c.on_out.arg = sink;
    if ((r = action_run(ctx, &c, false, res, err)) < 0)
        return r;
    if (res->exit_status != 0)
        return errbuf_set(err, SS_EREMOTE,
                          "the identify pass exited with status %d",
                          res->exit_status);
    if ((r = postfix_envelopes_stream_end(sink->ps, err)) < 0)
        return r;
    return identify_sink_drain(sink, err);
}

/* Opens the first pass's stamps file, its digest begun. */
static int identify_stamps_open(struct runbook_evfile *f,
                                struct identify_sink *sink,
                                struct action_ctx *ctx, struct errbuf *err)
{
    struct buf name = BUF_INIT;
    int r;

    if (buf_printf(&name, "%s.stamps", identify_reg(ctx)) < 0) {
        buf_release(&name);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    r = runbook_evfile_open(f, ctx, name.data, err);
    buf_release(&name);
    if (r < 0)
        return r;
    if (sha256_begin(&sink->stamps_sha) < 0)
        return errbuf_set(err, SS_ERR, "cannot hash the stamps");
    sink->stamps_fd = f->fd;
    postfix_envelopes_stream_files(sink->ps, POSTFIX_FILES_STAMPS,
                                   &sink->stamps);
    return 0;
}

/* Commits the stamps file (its digest ended, the sink's bytes). */
static int identify_stamps_commit(struct runbook_evfile *f,
                                  struct identify_sink *sink,
                                  struct action_ctx *ctx, struct errbuf *err)
{
    unsigned char d[SHA256_LEN];
    char sha[SHA256_HEX_LEN + 1];
    struct stat st;

    sink->stamps_fd = -1;
    if (sha256_end(&sink->stamps_sha, d) < 0)
        return errbuf_set(err, SS_ERR, "cannot hash the stamps");
    if (fstat(f->fd, &st) < 0)
        return errbuf_errno(err, SS_ERR, "cannot stat '%s'", f->path.data);
    hex_encode(sha, d, SHA256_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    return runbook_evfile_commit(f, ctx, (size_t)st.st_size, sha, err);
}

/* Most stamps a later pass sends: ~60 bytes for each of a million files. */
#define IDENTIFY_STAMPS_MAX (128u * 1024 * 1024)

/*
 * The queue pass: one batched remote command, parsed into env as its
 * output arrives, the output itself streamed to the evidence file
 * <register>.identify (its SHA-256 in the audit trail).  The first pass
 * on a host reads every queue file; its file is kept as the memo, with
 * <register>.stamps, the stamps of the files it read whole.  A later one
 * is given those stamps and reads again only the files that are new or
 * changed since; the memo's pass then gives it the messages of the rest
 * (*unchanged of them).  Only one pass's messages are ever in memory.
 */
static int identify_queue_pass(struct postfix_envelopes *env,
                               long long *unchanged, struct action_ctx *ctx,
                               struct identify_memo *memo, struct errbuf *err)
{
    struct runbook_evfile f = RUNBOOK_EVFILE_INIT;
    struct runbook_evfile sf = RUNBOOK_EVFILE_INIT;
    struct identify_sink sink = {-1, NULL, 0, -1, BUF_INIT, {NULL}};
    struct exec_result res;
    struct buf name = BUF_INIT;
    char *cmd = NULL, *stamps = NULL, sha[SHA256_HEX_LEN + 1];
    size_t stamps_len = 0, reused = 0;
    int r = SS_ERR;

    *unchanged = -1;
    exec_result_init(&res);
    buf_init(&sink.stamps, IDENTIFY_STAMPS_CAP);
    if ((cmd = postfix_identify_command(runbook_dirs(ctx))) == NULL ||
        buf_printf(&name, "%s.identify", identify_reg(ctx)) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if (memo != NULL && (r = fsio_read_file(&stamps, &stamps_len, memo->stamps,
                                            IDENTIFY_STAMPS_MAX, err)) < 0)
        goto out;
    if ((r = runbook_evfile_open(&f, ctx, name.data, err)) < 0 ||
        (r = postfix_envelopes_stream_new(&sink.ps, env, err)) < 0)
        goto out;
    sink.fd = f.fd;
    if (memo != NULL)
        postfix_envelopes_stream_files(sink.ps, POSTFIX_FILES_DROP, NULL);
    else if ((r = identify_stamps_open(&sf, &sink, ctx, err)) < 0)
        goto out;
    if ((r = identify_queue_run(&res, ctx, cmd, stamps, stamps_len, &sink,
                                err)) < 0)
        goto out;
    if (!env->end_seen) {
        r = errbuf_set(err, SS_EREMOTE,
                       "the identify pass output is cut (no end marker)");
        goto out;
    }
    hex_encode(sha, res.out_sha256, SHA256_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    if ((r = runbook_evfile_commit(&f, ctx, (size_t)res.out_bytes, sha, err)) <
        0)
        goto out;
    if (memo == NULL) {
        if ((r = identify_stamps_commit(&sf, &sink, ctx, err)) == 0)
            r = identify_memo_keep(ctx, f.path.data, sf.path.data, err);
        goto out;
    }
    free(stamps); /* the memo's pass, read back, takes its place */
    stamps = NULL;
    if ((r = identify_memo_reuse(env, &reused, memo, err)) == 0)
        *unchanged = (long long)reused;
out:
    if (sink.stamps_fd >= 0)
        sha256_abort(&sink.stamps_sha);
    postfix_envelopes_stream_free(sink.ps);
    runbook_evfile_release(&f);
    runbook_evfile_release(&sf);
    exec_result_release(&res);
    buf_release(&sink.stamps);
    buf_release(&name);
    free(cmd);
    free(stamps);
    return r;
}

/*
 * One batched queue pass, the log evidence (read once per host, kept in
 * the memo: a later pass runs with Postfix stopped), then the analysis on
 * the controller.
 */
static int identify_apply(struct action_ctx *ctx, const void *params,
                          struct errbuf *err)
{
    struct identify_memo *memo = action_memo(ctx, identify_memo_free);
    struct identify_rules rules;
    struct postfix_maillog fresh;
    struct postfix_envelopes env = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    bool has_log = false;
    long long unchanged = -1;
    int r;

    memset(&fresh, 0, sizeof(fresh));
    if ((r = identify_rules_make(&rules, ctx, params, err)) < 0)
        return r;
    if ((r = identify_queue_pass(&env, &unchanged, ctx, memo, err)) < 0)
        goto out;
    runbook_dirs_keep(ctx, &env.dirs);
    if (memo == NULL && (r = identify_log_pass(&fresh, &has_log, ctx,
                                               rules.t.log_hours, err)) < 0)
        goto out;
    if (memo != NULL && memo->has_log)
        rules.t.log = &memo->log;
    else if (has_log)
        rules.t.log = &fresh;
    rules.t.named = &rules.named;
    if ((r = identify_listing(ctx, &env, err)) < 0 ||
        (r = postfix_identify_envelopes(&f, &env, &rules.t, err)) < 0)
        goto out;
    /* the findings own their strings: the output can go before the JSON */
    postfix_envelopes_release(&env);
    if (identify_survey(ctx, &f, rules.t.log, rules.t.log_hours, unchanged) <
        0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    r = identify_keep(ctx, &f, err);
    /* the log evidence goes with the pass just kept, for later passes */
    if (r == 0 && has_log &&
        (memo = action_memo(ctx, identify_memo_free)) != NULL &&
        !memo->has_log) {
        memo->log = fresh;
        memo->has_log = true;
        memset(&fresh, 0, sizeof(fresh));
    }
out:
    postfix_findings_release(&f);
    postfix_envelopes_release(&env);
    postfix_maillog_release(&fresh);
    strlist_release(&rules.named);
    return r;
}

const struct action_ops action_identify = {
    "identify",     STEP_KIND_BIT(STEP_READ_ONLY),
    identify_parse, identify_free,
    NULL,           identify_apply,
    NULL,           NULL,
    NULL,
};
