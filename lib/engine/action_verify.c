/*
 * Action "verify": after the start, proves the attacker is out: each new
 * password is the one in force (asked through the host's own SMTP AUTH
 * path, the secret on stdin only), and, with a watch, no login of the
 * account shows in the mail log after the rotation.  Read-only.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runbook.h"
#include "spamstop/accounts.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"
#include "spamstop/text.h"

/*
 * smtpd's ports on loopback where the Cyrus (Plesk) check may log in, in
 * the order tried: the first whose EHLO offers AUTH is used (AUTH is
 * often on submission only; 465 is smtps, TLS from the first byte).
 */
static const unsigned verify_smtp_ports[] = {25, 587, 465};
#define VERIFY_NPORTS (sizeof(verify_smtp_ports) / sizeof(verify_smtp_ports[0]))

/* Largest check and watch outputs read, and the credentials file. */
#define VERIFY_OUT_CAP     (256u * 1024)
#define VERIFY_LOG_CAP     (4u * 1024 * 1024)
#define VERIFY_CREDS_MAX   (64u * 1024 * 1024)
#define VERIFY_ROTATE_MAX  (1u << 20)
#define VERIFY_WATCH_SLICE 1 /* seconds between looks at the stop flag */

/* The parsed "with": {"accounts": "{{rotated}}", "watch": "..."}. */
struct verify_params {
    char result[PLAYBOOK_NAME_MAX + 1];
    char *watch; /* a template; "" or absent: no watch */
};

int engine_watch_parse(long long *out, const char *s, struct errbuf *err)
{
    long long v = 0;
    size_t i, n = s != NULL ? strlen(s) : 0;

    *out = 0;
    for (i = 0; i < n && s[i] >= '0' && s[i] <= '9' && v <= ENGINE_WATCH_MAX;
         i++)
        v = v * 10 + (s[i] - '0');
    if (n == 0 || i < n || v > ENGINE_WATCH_MAX)
        return errbuf_set(err, SS_EINVAL,
                          "bad watch time '%.32s': seconds from 0 to %d", s,
                          ENGINE_WATCH_MAX);
    *out = v;
    return 0;
}

bool engine_check_failed(const struct engine_check *c)
{
    return c->password != ENGINE_PASSWORD_CONFIRMED || c->logins > 0;
}

/* "03:20:08 UTC" (or "2026-12-05 03:20:08 UTC" when not today) of t. */
static void verify_time(char *out, size_t size, long long t, long long now)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t < 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, size, "an unknown time");
        return;
    }
    strftime(out, size,
             now - t < 86400 && t - now < 86400 ? "%H:%M:%S UTC"
                                                : "%Y-%m-%d %H:%M:%S UTC",
             &tm);
}

int engine_check_text(struct buf *out, const struct engine_check *c)
{
    char since[40], first[40];
    int r;

    buf_reset(out);
    verify_time(since, sizeof(since), c->since, c->since);
    verify_time(first, sizeof(first), c->first_at, c->since);
    if (c->password == ENGINE_PASSWORD_CONFIRMED)
        r = buf_printf(out, "%s: password confirmed (%s)", c->account, c->via);
    else if (c->password == ENGINE_PASSWORD_REFUSED)
        r = buf_printf(out,
                       "%s: password NOT confirmed: the host refused it "
                       "(%s)",
                       c->account, c->via);
    else
        r = buf_printf(out, "%s: password NOT confirmed: %s", c->account,
                       c->why);
    if (r == 0 && c->watch_s > 0 && c->logins == 0)
        r = buf_printf(out, "; no login of %s since %s, watched %lld s",
                       c->account, since, c->watched_s);
    else if (r == 0 && c->watch_s > 0 && c->logins > 0)
        r = buf_printf(out,
                       "; %lld LOGIN%s of %s since %s (first at %s from "
                       "%s), watched %lld s",
                       c->logins, c->logins == 1 ? "" : "S", c->account, since,
                       first, c->first_client, c->watched_s);
    else if (r == 0 && c->watch_s > 0)
        r = buf_printf(out, "; the mail log was not read");
    return r < 0 ? -1 : 0;
}

static void verify_free(void *p)
{
    struct verify_params *vp = p;

    if (vp != NULL)
        free(vp->watch);
    free(vp);
}

/* Checks "with". */
static int verify_parse(void **out, const char *with_json, struct errbuf *err)
{
    struct verify_params *vp = NULL;
    json_t *root = NULL, *v;
    const char *key, *s;
    int r = SS_EINVAL;

    *out = NULL;
    if ((root = json_loads(with_json, 0, NULL)) == NULL)
        return errbuf_set(err, SS_EINVAL, "'with' is not valid JSON");
    if ((vp = calloc(1, sizeof(*vp))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        s = json_is_string(v) ? json_string_value(v) : NULL;
        if (strcmp(key, "accounts") == 0 && s != NULL) {
            if ((r = runbook_result_name(vp->result, sizeof(vp->result), s,
                                         err)) < 0)
                goto out;
            r = SS_EINVAL;
        } else if (strcmp(key, "watch") == 0 && s != NULL) {
            if ((vp->watch = strdup(s)) == NULL) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
        } else {
            errbuf_set(err, SS_EINVAL, "bad or unknown key 'with.%.64s'", key);
            goto out;
        }
    }
    if (vp->result[0] == '\0') {
        errbuf_set(err, SS_EINVAL, "'with.accounts' must name rotate's result");
        goto out;
    }
    *out = vp;
    vp = NULL;
    r = 0;
out:
    verify_free(vp);
    json_decref(root);
    return r;
}

/* The watch time the step asks for (its template rendered), checked. */
static int verify_watch(long long *out, struct action_ctx *ctx,
                        const struct verify_params *vp, struct errbuf *err)
{
    char *s = NULL;
    int r;

    *out = 0;
    if (vp->watch == NULL || vp->watch[0] == '\0')
        return 0;
    if ((r = runbook_scalar(&s, ctx, vp->watch, err)) < 0)
        return r;
    r = s[0] == '\0' ? 0 : engine_watch_parse(out, s, err);
    free(s);
    return r;
}

/* The ports the Cyrus check tries, in words: "25, 587 or 465". */
static int verify_ports_text(struct buf *out)
{
    size_t i;
    int r = 0;

    for (i = 0; i < VERIFY_NPORTS && r == 0; i++)
        r = buf_printf(out, "%s%u",
                       i == 0                   ? ""
                       : i + 1 == VERIFY_NPORTS ? " or "
                                                : ", ",
                       verify_smtp_ports[i]);
    return r;
}

/* Says what apply will do; a bad watch time fails here, before anything. */
static int verify_prepare(struct action_ctx *ctx, const void *params,
                          struct errbuf *err)
{
    const struct verify_params *vp = params;
    struct buf ports = BUF_INIT;
    long long watch;
    int r;

    if ((r = verify_watch(&watch, ctx, vp, err)) < 0)
        return r;
    /* the plan (a dry run rotates nothing) says what the check will do;
     * after a run, the checks themselves say what it found */
    if (!ctx->dry_run)
        return 0;
    if (verify_ports_text(&ports) < 0 ||
        action_note(ctx, "verify_password", ports.data, 0, vp->result) < 0 ||
        (watch > 0 && action_note(ctx, "verify_watch", NULL, watch, NULL) < 0))
        r = errbuf_set(err, SS_ERR, "out of memory");
    buf_release(&ports);
    return r;
}

/*
 * Appends "ADDR\nPASSWORD\n" to in for each of the n accounts whose new
 * password RUN/credentials holds for this host (its last line for the
 * account: "HOST ACCOUNT PASSWORD"); the others get their reason in
 * checks[i].why.  The file's text is wiped before it is freed.
 */
static int verify_secrets(struct buf *in, struct engine_check *checks, size_t n,
                          struct action_ctx *ctx, struct errbuf *err)
{
    struct buf path = BUF_INIT;
    char *text = NULL, *line, *save = NULL, *pw, *acct;
    const char *pws[ENGINE_CHECKS_MAX] = {NULL};
    size_t len = 0, i;
    int r;

    if (buf_printf(&path, "%s/credentials", ctx->run_dir) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    r = fsio_read_file(&text, &len, path.data, VERIFY_CREDS_MAX, err);
    buf_release(&path);
    if (r < 0 && r != SS_ENOENT)
        return r;
    for (line = text != NULL ? strtok_r(text, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if ((pw = strrchr(line, ' ')) == NULL)
            continue;
        *pw++ = '\0';
        if ((acct = strrchr(line, ' ')) == NULL)
            continue;
        *acct++ = '\0';
        for (i = 0; i < n; i++)
            if (strcmp(line, ctx->host) == 0 &&
                strcmp(acct, checks[i].account) == 0)
                pws[i] = pw;
    }
    for (i = 0, r = 0; i < n && r == 0; i++) {
        if (pws[i] == NULL)
            snprintf(checks[i].why, sizeof(checks[i].why),
                     "no new password for it in the run's credentials file");
        else if (buf_printf(in, "%s\n%s\n", checks[i].account, pws[i]) < 0)
            r = errbuf_set(err, SS_ERR, "out of memory");
    }
    if (text != NULL)
        explicit_bzero(text, len);
    free(text);
    return r;
}

/* What the check went through, for the check line ("smtp auth on ..."). */
static void verify_via(char *out, size_t size, const char *sasl,
                       const char *text, size_t len)
{
    static const char *const tls[] = {"", " with STARTTLS", " over TLS"};
    enum accounts_smtp_mode mode;
    unsigned port;

    if (strcmp(sasl, "dovecot") == 0)
        snprintf(out, size, "doveadm auth test");
    else if (strcmp(sasl, "cyrus") != 0)
        snprintf(out, size, "no sasl path");
    else if (accounts_auth_smtp(&port, &mode, text, len) == 0)
        snprintf(out, size, "smtp auth on 127.0.0.1:%u%s", port, tls[mode]);
    else
        snprintf(out, size, "smtp auth on loopback");
}

/* The check through the host's own SMTP AUTH path, into checks. */
static int verify_passwords(struct engine_check *checks, size_t n,
                            struct action_ctx *ctx, struct errbuf *err)
{
    struct exec_cmd cmd = EXEC_CMD_INIT;
    struct exec_result res;
    struct buf in = BUF_INIT;
    char *command = NULL, sasl[24], why[160], via[sizeof(checks->via)];
    const char *out;
    size_t i;
    int r;

    exec_result_init(&res);
    if ((r = verify_secrets(&in, checks, n, ctx, err)) < 0 || in.len == 0 ||
        (r = accounts_auth_command(&command, verify_smtp_ports, VERIFY_NPORTS,
                                   err)) < 0)
        goto out;
    cmd.command = command;
    cmd.input = in.data;
    cmd.input_len = in.len;
    cmd.out_cap = VERIFY_OUT_CAP;
    /* finding the port: up to two 20 s sessions a port (plain, STARTTLS) */
    cmd.timeout_ms =
        (int)(30000 + 40000 * VERIFY_NPORTS + 25000 * (n < 100 ? n : 100));
    if ((r = runbook_exec(ctx, "the password check", &cmd, true, &res, err)) <
        0)
        goto out;
    out = res.out.data != NULL ? res.out.data : "";
    accounts_auth_sasl(sasl, sizeof(sasl), out, res.out.len);
    verify_via(via, sizeof(via), sasl, out, res.out.len);
    for (i = 0; i < n; i++) {
        struct engine_check *c = &checks[i];
        if (strncmp(c->why, "no new password", 15) == 0)
            continue;
        switch (accounts_auth_parse(out, res.out.len, c->account, why,
                                    sizeof(why))) {
        case ACCOUNTS_AUTH_OK: c->password = ENGINE_PASSWORD_CONFIRMED; break;
        case ACCOUNTS_AUTH_REFUSED:
            c->password = ENGINE_PASSWORD_REFUSED;
            break;
        default: memcpy(c->why, why, sizeof(c->why)); break;
        }
        memcpy(c->via, via, sizeof(c->via));
    }
out:
    exec_result_release(&res);
    buf_wipe(&in);
    free(command);
    return r;
}

/*
 * When the new passwords came in force: the host clock the rotate step's
 * eviction printed (its evidence, "at"), found through the step that
 * registers result; -1 when there is none (a run made before it).
 */
static long long verify_rotated_at(struct action_ctx *ctx, const char *result)
{
    struct buf name = BUF_INIT, path = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;
    json_t *o = NULL, *at;
    char *text = NULL;
    long long t = -1;
    size_t k;

    for (k = 0; k < ctx->pb->nsteps; k++)
        if (ctx->pb->steps[k].register_name != NULL &&
            strcmp(ctx->pb->steps[k].register_name, result) == 0)
            break;
    if (k == ctx->pb->nsteps ||
        fsname_escape(&name, ctx->pb->steps[k].name) < 0 ||
        buf_adds(&name, ".evidence.json") < 0 ||
        runbook_evidence_path(&path, ctx, name.data, false, &e) < 0 ||
        fsio_read_file(&text, NULL, path.data, VERIFY_ROTATE_MAX, &e) < 0)
        goto out;
    o = json_loads(text, 0, NULL);
    at = json_object_get(o, "at");
    if (json_is_integer(at) && json_integer_value(at) > 0)
        t = (long long)json_integer_value(at);
out:
    json_decref(o);
    free(text);
    buf_release(&name);
    buf_release(&path);
    return t;
}

/* Waits watch seconds (less when the run is told to stop); the seconds. */
static long long verify_wait(struct action_ctx *ctx, long long watch)
{
    struct timespec slice = {VERIFY_WATCH_SLICE, 0}, left;
    long long done = 0;

    while (done < watch && !action_stopping(ctx)) {
        left = slice;
        while (nanosleep(&left, &left) < 0 && errno == EINTR &&
               !action_stopping(ctx))
            ;
        done += VERIFY_WATCH_SLICE;
    }
    return done;
}

/*
 * Reads the host's mail log for logins of the accounts since the
 * rotation into checks (logins, first_at, first_client); sources gets
 * the files read.  A log that cannot be read leaves logins at -1.
 */
static int verify_logins(struct engine_check *checks, size_t n,
                         struct strlist *sources, struct action_ctx *ctx,
                         long long since, struct errbuf *err)
{
    struct postfix_logins l;
    struct exec_cmd cmd = EXEC_CMD_INIT;
    struct exec_result res;
    struct buf in = BUF_INIT;
    char *command = postfix_logins_command(since, VERIFY_LOG_CAP);
    size_t i, k;
    int r = SS_ERR;

    exec_result_init(&res);
    memset(&l, 0, sizeof(l));
    for (i = 0; i < n; i++)
        if (buf_printf(&in, "%s\n", checks[i].account) < 0)
            command = (free(command), NULL);
    if (command == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    cmd.command = command;
    cmd.input = in.data;
    cmd.input_len = in.len;
    cmd.out_cap = VERIFY_LOG_CAP + 4096;
    cmd.timeout_ms = 300000;
    if ((r = runbook_exec(ctx, "the log watch", &cmd, false, &res, err)) < 0 ||
        (r = postfix_logins_parse(&l, res.out.data != NULL ? res.out.data : "",
                                  res.out.len, since, err)) < 0)
        goto out;
    for (i = 0; i < l.sources.n; i++)
        if (strlist_push(sources, l.sources.v[i]) < 0)
            r = errbuf_set(err, SS_ERR, "out of memory");
    for (i = 0; i < n; i++) {
        checks[i].logins = l.complete ? 0 : -1;
        for (k = 0; k < l.naccounts; k++)
            if (strcmp(l.accounts[k].account, checks[i].account) == 0) {
                checks[i].logins = (long long)l.accounts[k].logins;
                checks[i].first_at = l.accounts[k].first;
                snprintf(checks[i].first_client, sizeof(checks[i].first_client),
                         "%s", l.accounts[k].first_ip);
            }
    }
out:
    postfix_logins_release(&l);
    exec_result_release(&res);
    buf_release(&in);
    free(command);
    return r;
}

/* The step's evidence: what each check found, as JSON (NULL: ENOMEM). */
static char *verify_json(const struct engine_check *checks, size_t n,
                         const struct strlist *sources, long long watch)
{
    static const char *const pw[] = {"unknown", "confirmed", "refused"};
    json_t *o = json_object(), *a = json_array(), *s = json_array(), *c;
    char *text = NULL;
    size_t i;

    for (i = 0; o != NULL && a != NULL && s != NULL && i < n; i++) {
        const struct engine_check *k = &checks[i];
        c = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "account", k->account,
                      "password", pw[k->password], "via", k->via, "why", k->why,
                      "since", (json_int_t)k->since, "watched_s",
                      (json_int_t)k->watched_s, "logins",
                      (json_int_t)k->logins);
        if (c != NULL && k->first_at >= 0) {
            json_object_set_new(c, "first_login", json_integer(k->first_at));
            json_object_set_new(c, "first_client",
                                json_string(k->first_client));
        }
        if (c == NULL || json_array_append_new(a, c) < 0)
            goto out;
    }
    for (i = 0; s != NULL && i < sources->n; i++)
        json_array_append_new(s, json_string(sources->v[i]));
    if (o == NULL || a == NULL || s == NULL)
        goto out;
    /* set_new takes its value also when it fails: dumps then says so */
    json_object_set_new(o, "watch_s", json_integer(watch));
    json_object_set_new(o, "log_sources", s);
    json_object_set_new(o, "accounts", a);
    s = a = NULL;
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(o);
    json_decref(a);
    json_decref(s);
    return text;
}

/* Writes the evidence as RUN/evidence/<host>/<step>.evidence.json. */
static int verify_evidence(struct action_ctx *ctx, const char *json,
                           struct errbuf *err)
{
    struct runbook_evfile f = RUNBOOK_EVFILE_INIT;
    struct buf name = BUF_INIT;
    char sha[SHA256_HEX_LEN + 1];
    size_t len = strlen(json);
    int r;

    if (fsname_escape(&name, ctx->step->name) < 0 ||
        buf_adds(&name, ".evidence.json") < 0 ||
        sha256_hex(sha, json, len) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = runbook_evfile_open(&f, ctx, name.data, err)) < 0 ||
        (r = fsio_append(f.fd, json, len, 0, err)) < 0 ||
        (r = runbook_evfile_commit(&f, ctx, len, sha, err)) < 0)
        goto out;
out:
    runbook_evfile_release(&f);
    buf_release(&name);
    return r;
}

/*
 * Records the checks: per account (action_add_check), the counts as facts
 * and the evidence file; then fails the step, naming each account, when a
 * password is not confirmed or a login was seen (the host stays
 * contained: nothing is undone, the held mail stays held).
 */
static int verify_record(struct action_ctx *ctx, struct engine_check *checks,
                         size_t n, const struct strlist *sources,
                         long long watch, struct errbuf *err)
{
    struct buf msg = BUF_INIT, one = BUF_INIT;
    long long bad = 0, logins = 0;
    char *json = verify_json(checks, n, sources, watch);
    size_t i;
    int r = 0;

    if (json == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    for (i = 0; i < n && r == 0; i++) {
        r = action_add_check(ctx, &checks[i]);
        bad += checks[i].password != ENGINE_PASSWORD_CONFIRMED;
        logins += checks[i].logins > 0 ? checks[i].logins : 0;
        if (engine_check_failed(&checks[i]) &&
            (engine_check_text(&one, &checks[i]) < 0 ||
             buf_printf(&msg, "%s%s", msg.len > 0 ? "; " : "", one.data) < 0))
            r = SS_ERR;
    }
    if (r < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    (void)action_set_fact(ctx, "passwords_not_confirmed", bad);
    if (watch > 0)
        (void)action_set_fact(ctx, "logins_after_rotation", logins);
    if ((r = verify_evidence(ctx, json, err)) < 0)
        goto out;
    if (msg.len > 0)
        r = errbuf_set(err, SS_EREMOTE,
                       "%s%s (kept: new passwords and held mail; the new "
                       "passwords are in %s/credentials)",
                       bad > 0 ? "password not confirmed: " : "login seen: ",
                       msg.data, ctx->run_dir);
out:
    free(json);
    buf_release(&msg);
    buf_release(&one);
    return r;
}

/* The checks of this host's rotated accounts (caller frees *out). */
static int verify_start(struct engine_check **out, size_t *out_n,
                        const struct strlist *l, struct errbuf *err)
{
    struct engine_check *checks;
    size_t i;

    *out = NULL;
    *out_n = 0;
    if (l->n > ENGINE_CHECKS_MAX)
        return errbuf_set(err, SS_EINVAL,
                          "%zu rotated accounts: at most %d are checked", l->n,
                          ENGINE_CHECKS_MAX);
    if ((checks = calloc(l->n, sizeof(*checks))) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    for (i = 0; i < l->n; i++) {
        if (!accounts_address_valid(l->v[i]) ||
            strlen(l->v[i]) >= sizeof(checks[i].account)) {
            free(checks);
            return errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                              l->v[i]);
        }
        memcpy(checks[i].account, l->v[i], strlen(l->v[i]) + 1);
        checks[i].since = -1;
        checks[i].logins = -1;
        checks[i].first_at = -1;
    }
    *out = checks;
    *out_n = l->n;
    return 0;
}

/* Checks the new passwords, then watches; see the top of the file. */
static int verify_apply(struct action_ctx *ctx, const void *params,
                        struct errbuf *err)
{
    const struct verify_params *vp = params;
    const struct strlist *l = action_result(ctx, vp->result);
    struct strlist sources = STRLIST_INIT;
    struct engine_check *checks = NULL;
    long long watch, since, watched = 0;
    size_t n = 0, i;
    bool all_ok = true;
    int r;

    if (ctx->dry_run || l == NULL || l->n == 0)
        return 0;
    if ((r = verify_watch(&watch, ctx, vp, err)) < 0 ||
        (r = verify_start(&checks, &n, l, err)) < 0 ||
        (r = verify_passwords(checks, n, ctx, err)) < 0)
        goto out;
    if ((since = verify_rotated_at(ctx, vp->result)) < 0)
        since = (long long)time(NULL); /* the controller's clock: said */
    for (i = 0; i < n; i++)
        all_ok = all_ok && checks[i].password == ENGINE_PASSWORD_CONFIRMED;
    if (watch > 0 && all_ok) {
        watched = verify_wait(ctx, watch);
        r = verify_logins(checks, n, &sources, ctx, since, err);
        if (r < 0 && r != SS_EREMOTE)
            goto out; /* the host is gone: the step fails like any command */
        errbuf_clear(err); /* a log that cannot be read is said per account */
    }
    for (i = 0; i < n; i++) {
        checks[i].since = since;
        checks[i].watch_s = all_ok ? watch : 0;
        checks[i].watched_s = watched;
    }
    r = verify_record(ctx, checks, n, &sources, watch, err);
out:
    strlist_release(&sources);
    free(checks);
    return r;
}

const struct action_ops action_verify = {
    "verify",       STEP_KIND_BIT(STEP_READ_ONLY),
    verify_parse,   verify_free,
    verify_prepare, verify_apply,
    NULL,           NULL,
    NULL,
};
