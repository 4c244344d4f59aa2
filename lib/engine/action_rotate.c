/* Action "rotate": new passwords for the flagged accounts, secrets on stdin
 * only. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_scripts.h"
#include "runbook.h"
#include "spamstop/accounts.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/shquote.h"

/* The parsed "with": {"accounts": "{{suspects}}", "backend": "auto"}. */
struct rotate_params {
    char result[PLAYBOOK_NAME_MAX + 1];
    enum accounts_backend backend; /* NONE = detect per host */
};

/* What prepare found on the host; also the undo data. */
struct rotate_plan {
    struct accounts_host host;
    struct strlist accounts;
    /*
     * Plesk: the accounts whose password is stored hashed (the old one
     * cannot be put back: their rotate is a pivot for them alone)
     */
    struct strlist hashed;
    char backup_dir[300];
};

/* Frees the plan's lists. */
static void rotate_plan_release(struct rotate_plan *p)
{
    strlist_release(&p->accounts);
    strlist_release(&p->hashed);
}

/* Whether addr's password is stored hashed (cannot be put back). */
static bool rotate_hashed(const struct rotate_plan *p, const char *addr)
{
    size_t i;

    for (i = 0; i < p->hashed.n; i++)
        if (strcmp(p->hashed.v[i], addr) == 0)
            return true;
    return false;
}

/* Frees what rotate_parse made. */
static void rotate_free(void *p)
{
    free(p);
}

/* Checks "with". */
static int rotate_parse(void **out, const char *with_json, struct errbuf *err)
{
    struct rotate_params *rp = NULL;
    json_t *root = NULL, *v;
    const char *key, *s;
    int r = SS_EINVAL;

    *out = NULL;
    if ((root = json_loads(with_json, 0, NULL)) == NULL)
        return errbuf_set(err, SS_EINVAL, "'with' is not valid JSON");
    if ((rp = calloc(1, sizeof(*rp))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        s = json_is_string(v) ? json_string_value(v) : NULL;
        if (strcmp(key, "accounts") == 0 && s != NULL) {
            if ((r = runbook_result_name(rp->result, sizeof(rp->result), s,
                                         err)) < 0)
                goto out;
            r = SS_EINVAL;
        } else if (strcmp(key, "backend") == 0 && s != NULL &&
                   (strcmp(s, "auto") == 0 || strcmp(s, "plesk") == 0 ||
                    strcmp(s, "dovecot") == 0)) {
            rp->backend = strcmp(s, "plesk") == 0     ? ACCOUNTS_BACKEND_PLESK
                          : strcmp(s, "dovecot") == 0 ? ACCOUNTS_BACKEND_DOVECOT
                                                      : ACCOUNTS_BACKEND_NONE;
        } else {
            errbuf_set(err, SS_EINVAL, "bad or unknown key 'with.%.64s'", key);
            goto out;
        }
    }
    if (rp->result[0] == '\0') {
        errbuf_set(err, SS_EINVAL,
                   "'with.accounts' must name identify's result");
        goto out;
    }
    *out = rp;
    rp = NULL;
    r = 0;
out:
    free(rp);
    json_decref(root);
    return r;
}

/* Plesk: notes addr in out->hashed when the look says it is not "sym". */
static int rotate_storage(struct rotate_plan *out, const char *text, size_t len,
                          const char *addr, struct errbuf *err)
{
    enum accounts_storage st;
    int r;

    if (out->host.backend != ACCOUNTS_BACKEND_PLESK)
        return 0;
    if ((r = accounts_look_storage(&st, text, len, addr, err)) < 0)
        return r;
    if (st != ACCOUNTS_STORAGE_SYM && strlist_push(&out->hashed, addr) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/*
 * One command: the backend (the playbook's override applied), whether it
 * knows every account of out->accounts and, for Plesk, which of them are
 * stored hashed.
 */
static int rotate_ask(struct rotate_plan *out, struct action_ctx *ctx,
                      const struct rotate_params *rp, struct errbuf *err)
{
    struct accounts_host *h = &out->host;
    struct exec_result res;
    char *cmd = accounts_look_command(), *in = NULL;
    const char *text;
    size_t in_len = 0, i;
    int r;

    exec_result_init(&res);
    if (cmd == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = accounts_look_input(&in, &in_len,
                                 (const char *const *)out->accounts.v,
                                 out->accounts.n, err)) < 0 ||
        (r = runbook_run(ctx, "the account look", cmd, in, in_len, false, &res,
                         err)) < 0)
        goto out;
    text = res.out.data != NULL ? res.out.data : "";
    if ((r = accounts_look_parse(h, text, res.out.len, err)) < 0)
        goto out;
    if (rp->backend != ACCOUNTS_BACKEND_NONE && rp->backend != h->backend) {
        r = errbuf_set(err, SS_EINVAL,
                       "the playbook asks for the %s backend, the host has %s",
                       accounts_backend_name(rp->backend),
                       accounts_backend_name(h->backend));
        goto out;
    }
    if (h->backend == ACCOUNTS_BACKEND_NONE) {
        r = errbuf_set(err, SS_EREMOTE,
                       "no account backend (plesk or a dovecot passwd-file) "
                       "on the host");
        goto out;
    }
    for (i = 0; i < out->accounts.n; i++) {
        r = accounts_look_known(text, res.out.len, out->accounts.v[i], err);
        if (r < 0)
            goto out;
        if (r == 0) {
            r = errbuf_set(err, SS_EREMOTE, "account '%s' is not in %s",
                           out->accounts.v[i],
                           h->backend == ACCOUNTS_BACKEND_PLESK
                               ? "plesk"
                               : h->passwd_file);
            goto out;
        }
        if ((r = rotate_storage(out, text, res.out.len, out->accounts.v[i],
                                err)) < 0)
            goto out;
    }
    if (h->backend == ACCOUNTS_BACKEND_PLESK)
        h->recoverable = out->hashed.n == 0;
    r = 0;
out:
    exec_result_release(&res);
    free(cmd);
    free(in);
    return r;
}

/* A JSON array of l's strings (NULL when out of memory). */
static json_t *rotate_json_list(const struct strlist *l)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < l->n; i++)
        if (json_array_append_new(a, json_string(l->v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/*
 * The undo data: backend, files, accounts and the hashed ones; never a
 * secret.
 */
static char *rotate_undo_json(const struct rotate_plan *p)
{
    json_t *o, *a, *hs;
    char *s;

    o = json_pack("{s:s,s:b,s:s,s:s}", "backend",
                  accounts_backend_name(p->host.backend), "recoverable",
                  p->host.recoverable, "passwd_file", p->host.passwd_file,
                  "backup_dir", p->backup_dir);
    a = rotate_json_list(&p->accounts);
    hs = rotate_json_list(&p->hashed);
    if (o == NULL || a == NULL || hs == NULL) {
        json_decref(o);
        json_decref(a);
        json_decref(hs);
        return NULL;
    }
    json_object_set_new(o, "accounts", a);
    json_object_set_new(o, "hashed", hs);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Appends the account names of the JSON array a to out. */
static int rotate_parse_list(struct strlist *out, const json_t *a,
                             struct errbuf *err)
{
    const json_t *v;
    size_t i;

    if (!json_is_array(a))
        return errbuf_set(err, SS_ECORRUPT, "rotate undo data is incomplete");
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !accounts_address_valid(json_string_value(v)))
            return errbuf_set(err, SS_ECORRUPT,
                              "rotate undo data is incomplete");
        if (strlist_push(out, json_string_value(v)) < 0)
            return errbuf_set(err, SS_ERR, "out of memory");
    }
    return 0;
}

/* Reads the undo data back into p (p's lists freed on failure). */
static int rotate_undo_parse(struct rotate_plan *p, const char *text,
                             struct errbuf *err)
{
    json_t *o = json_loads(text, 0, NULL), *a;
    const char *b, *f, *d;
    int r = SS_ECORRUPT;

    memset(p, 0, sizeof(*p));
    if (o == NULL)
        return errbuf_set(err, SS_ECORRUPT, "rotate undo data is not JSON");
    b = json_string_value(json_object_get(o, "backend"));
    f = json_string_value(json_object_get(o, "passwd_file"));
    d = json_string_value(json_object_get(o, "backup_dir"));
    a = json_object_get(o, "accounts");
    if (b == NULL || f == NULL || d == NULL || !json_is_array(a) ||
        strlen(f) >= sizeof(p->host.passwd_file) ||
        strlen(d) >= sizeof(p->backup_dir))
        goto bad;
    p->host.backend = strcmp(b, "plesk") == 0     ? ACCOUNTS_BACKEND_PLESK
                      : strcmp(b, "dovecot") == 0 ? ACCOUNTS_BACKEND_DOVECOT
                                                  : ACCOUNTS_BACKEND_NONE;
    if (p->host.backend == ACCOUNTS_BACKEND_NONE)
        goto bad;
    p->host.recoverable = json_is_true(json_object_get(o, "recoverable"));
    strcpy(p->host.passwd_file, f);
    strcpy(p->backup_dir, d);
    if ((r = rotate_parse_list(&p->accounts, a, err)) < 0)
        goto out;
    /* undo data from before per-account storage: the host's word */
    a = json_object_get(o, "hashed");
    if (a != NULL)
        r = rotate_parse_list(&p->hashed, a, err);
    else if (p->host.backend == ACCOUNTS_BACKEND_PLESK && !p->host.recoverable)
        r = strlist_copy(&p->hashed, &p->accounts) < 0
                ? errbuf_set(err, SS_ERR, "out of memory")
                : 0;
    goto out;
bad:
    errbuf_set(err, SS_ECORRUPT, "rotate undo data is incomplete");
out:
    if (r < 0)
        rotate_plan_release(p);
    json_decref(o);
    return r;
}

/* Looks at the host: backend, recoverability, every account known. */
static int rotate_look(struct rotate_plan *out, struct action_ctx *ctx,
                       const struct rotate_params *rp, struct errbuf *err)
{
    const struct strlist *l = action_result(ctx, rp->result);
    struct buf dir = BUF_INIT;
    size_t i;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = runbook_host_dir(&dir, ctx, "accounts", err)) < 0)
        goto out;
    snprintf(out->backup_dir, sizeof(out->backup_dir), "%s", dir.data);
    for (i = 0; l != NULL && i < l->n; i++) {
        if (!accounts_address_valid(l->v[i])) {
            r = errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                           l->v[i]);
            goto out;
        }
        if (strlist_push(&out->accounts, l->v[i]) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    }
    if (out->accounts.n == 0)
        goto out;
    r = rotate_ask(out, ctx, rp, err);
out:
    if (r < 0)
        rotate_plan_release(out);
    buf_release(&dir);
    return r;
}

/*
 * What prepare looked up on the host, for the apply of the same step
 * (action_memo): the look is not sent again.  A
 * resumed run has none and looks again.  The set commands check the
 * account themselves (exactly once in the passwd-file; Plesk refuses an
 * unknown address), so nothing is lost in the milliseconds between.
 */
struct rotate_memo {
    size_t step_index;
    struct rotate_plan plan;
};

static void rotate_memo_free(void *p)
{
    struct rotate_memo *m = p;

    if (m == NULL)
        return;
    rotate_plan_release(&m->plan);
    free(m);
}

/*
 * Says per account what apply would do ("password": the backend, value 1
 * when the old password stays on the host until the commit, 0 when it
 * cannot be put back: a Plesk account stored hashed is a pivot for that
 * account alone), and where the new passwords go.
 */
static void rotate_describe(struct action_ctx *ctx, const struct rotate_plan *p)
{
    char backend[4200];
    const char *a;
    size_t i;

    for (i = 0; i < p->accounts.n; i++) {
        a = p->accounts.v[i];
        if (p->host.backend == ACCOUNTS_BACKEND_DOVECOT)
            snprintf(backend, sizeof(backend), "dovecot passwd-file %s",
                     p->host.passwd_file);
        else
            snprintf(backend, sizeof(backend), "plesk");
        (void)action_note(ctx, "password", a,
                          p->host.backend != ACCOUNTS_BACKEND_DOVECOT &&
                                  rotate_hashed(p, a)
                              ? 0
                              : 1,
                          backend);
    }
    if (p->accounts.n > 0) {
        snprintf(backend, sizeof(backend), "%s/credentials", ctx->run_dir);
        (void)action_note(ctx, "credentials", NULL, -1, backend);
    }
}

/*
 * Plans the rotation.  On a Plesk host where every flagged account is
 * stored hashed the step is a pivot on the host; where only some are, a
 * pivot for those accounts (rotate_describe), and the others roll back.
 */
static int rotate_prepare(struct action_ctx *ctx, const void *params,
                          struct errbuf *err)
{
    struct rotate_memo *old = action_memo(ctx, rotate_memo_free);
    struct rotate_plan p;
    char *undo = NULL;
    int r;

    if (old != NULL) /* only this prepare's own look may serve apply */
        old->step_index = (size_t)-1;
    if (runbook_nothing(ctx, ((const struct rotate_params *)params)->result))
        return 0;
    if ((r = rotate_look(&p, ctx, params, err)) < 0)
        return r;
    if (p.accounts.n > 0 && p.hashed.n == p.accounts.n &&
        action_set_pivot(ctx, "plesk hashes mail passwords here, the old ones "
                              "cannot be put back: the new ones stay, also "
                              "after a rollback") < 0) {
        rotate_plan_release(&p);
        return errbuf_set(err, SS_EINVAL,
                          "step 'rotate' cannot be read-only: it is a pivot "
                          "on this host");
    }
    rotate_describe(ctx, &p);
    if ((undo = rotate_undo_json(&p)) == NULL ||
        action_set_undo(ctx, undo, false) < 0 ||
        action_set_commit(ctx, undo) < 0)
        r = errbuf_set(err, SS_ERR, "out of memory");
    free(undo);
    if (r == 0 && !ctx->dry_run) {
        struct rotate_memo *m = calloc(1, sizeof(*m));
        if (m != NULL) {
            m->step_index = ctx->step_index;
            m->plan = p;
            memset(&p.accounts, 0, sizeof(p.accounts));
            memset(&p.hashed, 0, sizeof(p.hashed));
            action_memo_keep(ctx, m, rotate_memo_free);
        }
    }
    rotate_plan_release(&p);
    return r;
}

/*
 * Appends "HOST ACCOUNT PASSWORD" to RUN/credentials (0600, locked,
 * fsynced) before the password is set, so a crash cannot lose it.
 */
static int rotate_credential(struct action_ctx *ctx, const char *addr,
                             const char *password, struct errbuf *err)
{
    struct buf path = BUF_INIT, line = BUF_INIT;
    int fd = -1, r = 0;

    if (buf_printf(&path, "%s/credentials", ctx->run_dir) < 0 ||
        buf_printf(&line, "%s %s %s\n", ctx->host, addr, password) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    /* through fsio, so fault injection covers it; locked: hosts share it */
    if ((r = fsio_open_append(&fd, path.data, err)) < 0)
        goto out;
    if (fchmod(fd, 0600) < 0 || flock(fd, LOCK_EX) < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot write '%s'", path.data);
        goto out;
    }
    if ((r = fsio_append(fd, line.data, line.len, 1, err)) < 0)
        errbuf_prefix(err, "cannot write '%s'", path.data);
out:
    if (fd >= 0)
        close(fd);
    buf_release(&path);
    buf_wipe(&line);
    return r;
}

/* The Plesk backup file of addr: named by its SHA-256, not its text. */
static int rotate_plesk_file(struct buf *out, const struct rotate_plan *p,
                             const char *addr, struct errbuf *err)
{
    char hex[SHA256_HEX_LEN + 1];

    buf_reset(out);
    if (sha256_hex(hex, addr, strlen(addr)) < 0 ||
        buf_printf(out, "%s/plesk-%s", p->backup_dir, hex) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/*
 * Plesk: keeps addr's current password in a root-only file on the host
 * (once per run), so it never crosses the wire nor enters the trail.
 */
static int rotate_plesk_backup(struct action_ctx *ctx,
                               const struct rotate_plan *p, const char *addr,
                               struct errbuf *err)
{
    struct buf k = BUF_INIT;
    struct exec_result res;
    char *cmd = NULL;
    int r;

    if ((r = rotate_plesk_file(&k, p, addr, err)) < 0 ||
        (r = accounts_plesk_keep_command(&cmd, addr, p->backup_dir, k.data,
                                         err)) < 0)
        goto out;
    r = runbook_run(ctx, "keeping the old plesk password", cmd, NULL, 0, false,
                    &res, err);
    exec_result_release(&res);
out:
    buf_release(&k);
    free(cmd);
    return r;
}

/* Sets one account's new password (or hash) through stdin. */
static int rotate_one(struct action_ctx *ctx, const struct rotate_plan *p,
                      const char *addr, struct errbuf *err)
{
    char password[ACCOUNTS_PASSWORD_LEN + 1], hash[ACCOUNTS_HASH_MAX];
    struct exec_result res;
    char *cmd = NULL, *in = NULL;
    size_t in_len = 0;
    int r;

    exec_result_init(&res);
    if ((r = accounts_password_generate(password, sizeof(password), err)) < 0)
        goto out;
    if (p->host.backend == ACCOUNTS_BACKEND_DOVECOT) {
        if ((r = accounts_hash_password(hash, sizeof(hash), password, err)) <
                0 ||
            (r = accounts_dovecot_rotate_command(&cmd, p->host.passwd_file,
                                                 p->backup_dir, err)) < 0 ||
            (r = accounts_dovecot_input(&in, &in_len, addr, hash, err)) < 0)
            goto out;
    } else {
        if (!rotate_hashed(p, addr) &&
            (r = rotate_plesk_backup(ctx, p, addr, err)) < 0)
            goto out;
        if ((r = accounts_plesk_set_command(&cmd, addr, err)) < 0 ||
            (r = accounts_plesk_input(&in, &in_len, password, err)) < 0)
            goto out;
    }
    if ((r = rotate_credential(ctx, addr, password, err)) < 0)
        goto out;
    exec_result_release(&res);
    r = runbook_run(ctx, "the password change", cmd, in, in_len, true, &res,
                    err);
out:
    exec_result_release(&res);
    explicit_bzero(password, sizeof(password));
    explicit_bzero(hash, sizeof(hash));
    if (in != NULL) {
        explicit_bzero(in, in_len);
        free(in);
    }
    free(cmd);
    return r;
}

/* Rotates every flagged account of this host. */
/*
 * After the new passwords: flushes Dovecot's auth cache and ends the
 * accounts' IMAP/POP sessions, so that neither an old password nor an open
 * session keeps the attacker in; kept as the step's evidence.  A failure
 * there does not undo the rotation: the evidence says it.
 */
static int rotate_evict(struct action_ctx *ctx, const struct strlist *accounts,
                        struct errbuf *err)
{
    struct accounts_evict ev;
    struct exec_result res;
    struct buf in = BUF_INIT, json = BUF_INIT;
    char *cmd = NULL;
    size_t i;
    int r = SS_ERR;

    exec_result_init(&res);
    if ((cmd = accounts_evict_command()) == NULL)
        goto nomem;
    for (i = 0; i < accounts->n; i++)
        if (buf_printf(&in, "%s\n", accounts->v[i]) < 0)
            goto nomem;
    r = runbook_run(ctx, "the session eviction", cmd, in.data, in.len, false,
                    &res, err);
    if (r < 0 && r != SS_EREMOTE)
        goto out; /* the host is gone: the step fails like any command */
    accounts_evict_parse(&ev, res.out.data != NULL ? res.out.data : "",
                         res.out.len);
    if (buf_printf(&json,
                   "{\"at\":%lld,\"auth_cache\":\"%s\",\"sessions_ended\":%zu,"
                   "\"kick_failed\":%zu,\"evicted\":%s}",
                   ev.now,
                   ev.cache > 0    ? "flushed"
                   : ev.cache == 0 ? "none"
                                   : "failed",
                   ev.sessions, ev.failed,
                   r == 0 && ev.cache >= 0 && ev.failed == 0 ? "true"
                                                             : "false") < 0 ||
        action_set_evidence(ctx, json.data) < 0)
        goto nomem;
    errbuf_clear(err);
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory");
out:
    exec_result_release(&res);
    buf_release(&in);
    buf_release(&json);
    free(cmd);
    return r;
}

static int rotate_apply(struct action_ctx *ctx, const void *params,
                        struct errbuf *err)
{
    struct rotate_memo *m = action_memo(ctx, rotate_memo_free);
    struct rotate_plan p;
    size_t i;
    int r = 0;

    if (m != NULL && m->step_index == ctx->step_index) {
        /* prepare's look, taken over: the memo keeps no accounts */
        p = m->plan;
        memset(&m->plan.accounts, 0, sizeof(m->plan.accounts));
        memset(&m->plan.hashed, 0, sizeof(m->plan.hashed));
        m->step_index = (size_t)-1;
    } else if ((r = rotate_look(&p, ctx, params, err)) < 0) {
        return r;
    }
    for (i = 0; i < p.accounts.n && r == 0; i++) {
        r = rotate_one(ctx, &p, p.accounts.v[i], err);
        if (r == 0)
            r = action_add_result(ctx, p.accounts.v[i]) < 0
                    ? errbuf_set(err, SS_ERR, "out of memory")
                    : 0;
    }
    if (r == 0 && p.accounts.n > 0)
        r = rotate_evict(ctx, &p.accounts, err);
    rotate_plan_release(&p);
    return r;
}

/* Puts one account's old secret back from the host's backup. */
static int rotate_restore_one(struct action_ctx *ctx,
                              const struct rotate_plan *p, const char *addr,
                              struct errbuf *err)
{
    struct buf k = BUF_INIT;
    struct exec_result res;
    char *cmd = NULL, *in = NULL;
    size_t in_len = 0;
    int r;

    exec_result_init(&res);
    if (p->host.backend == ACCOUNTS_BACKEND_DOVECOT) {
        if ((r = accounts_dovecot_restore_command(&cmd, p->host.passwd_file,
                                                  p->backup_dir, err)) < 0 ||
            (r = accounts_address_input(&in, &in_len, addr, err)) < 0)
            goto out;
    } else {
        assert(!rotate_hashed(p, addr)); /* rotate_undo keeps those */
        /* the kept password goes from its file to the set's stdin */
        if ((r = rotate_plesk_file(&k, p, addr, err)) < 0 ||
            (r = accounts_plesk_restore_command(&cmd, addr, k.data, err)) < 0)
            goto out;
    }
    r = runbook_run(ctx, "the password restore", cmd, in, in_len, false, &res,
                    err);
    /* e.g. Plesk's password policy refusing the old, weak one: its words */
    if (r == SS_EREMOTE && p->host.backend == ACCOUNTS_BACKEND_PLESK)
        errbuf_prefix(err, "plesk did not take back the old password of '%s'",
                      addr);
out:
    exec_result_release(&res);
    buf_release(&k);
    free(cmd);
    free(in);
    return r;
}

/* strlist_push that says "out of memory" in err. */
static int rotate_push(struct strlist *l, const char *s, struct errbuf *err)
{
    return strlist_push(l, s) < 0 ? errbuf_set(err, SS_ERR, "out of memory")
                                  : 0;
}

/* Appends l's names to b, comma-separated. */
static void rotate_join(struct buf *b, const struct strlist *l)
{
    size_t i;

    buf_reset(b);
    for (i = 0; i < l->n; i++)
        buf_printf(b, "%s%s", i > 0 ? ", " : "", l->v[i]);
    if (b->data == NULL)
        buf_adds(b, "?");
}

/*
 * Says which accounts keep their new password and why (ACTION_KEPT), or
 * returns 0 when there are none: kept by this rollback's choice or the
 * commit, lost (Plesk stores the old one hashed: a pivot for them).
 */
static int rotate_kept(const struct strlist *kept, const struct strlist *lost,
                       bool committed, const struct action_ctx *ctx,
                       struct errbuf *err)
{
    struct buf b = BUF_INIT, m = BUF_INIT;

    if (kept->n == 0 && lost->n == 0)
        return 0;
    if (lost->n > 0) {
        rotate_join(&b, lost);
        buf_printf(&m,
                   "the old password of %s cannot be put back: plesk stores "
                   "it hashed (a pivot for that account; the new one is in "
                   "the run's credentials file)%s",
                   b.data, kept->n > 0 ? "; " : "");
    }
    rotate_join(&b, kept);
    if (kept->n > 0 && committed)
        buf_printf(&m,
                   "the new password of %s stays: the old one was destroyed "
                   "when the run committed",
                   b.data);
    else if (kept->n > 0 && ctx->restore_password)
        buf_printf(&m,
                   "this rollback leaves the password of %s as it is (not "
                   "named)",
                   b.data);
    else if (kept->n > 0)
        buf_printf(&m,
                   "this rollback leaves the password of %s as it is (the "
                   "stolen one comes back only with --account ADDR "
                   "--restore-password)",
                   b.data);
    errbuf_set(err, SS_ERR, "%s", m.data != NULL ? m.data : "?");
    buf_release(&b);
    buf_release(&m);
    return ACTION_KEPT;
}

/*
 * Puts the old password or hash back, only for the accounts the rollback
 * names with restore_password: a stolen password never comes back by
 * itself.  The others keep their new one (ACTION_KEPT), as do Plesk
 * accounts stored hashed: their old one is gone.  Idempotent.
 */
static int rotate_undo(struct action_ctx *ctx, const char *undo_json,
                       struct errbuf *err)
{
    struct strlist kept = STRLIST_INIT, lost = STRLIST_INIT;
    struct rotate_plan p;
    bool others = false;
    const char *a;
    size_t i;
    int r;

    if (strcmp(undo_json, "{}") == 0)
        return 0; /* prepare found nothing to rotate */
    if ((r = rotate_undo_parse(&p, undo_json, err)) < 0)
        return r;
    for (i = 0; i < p.accounts.n && r == 0; i++) {
        a = p.accounts.v[i];
        if (!action_for_account(ctx, a))
            others = true;
        if (!ctx->restore_password || !action_for_account(ctx, a))
            r = rotate_push(&kept, a, err);
        else if (rotate_hashed(&p, a))
            r = rotate_push(&lost, a, err);
        else
            r = rotate_restore_one(ctx, &p, a, err);
    }
    if (r == 0)
        r = rotate_kept(&kept, &lost, false, ctx, err);
    if (r == ACTION_KEPT && others)
        r = ACTION_KEPT_OTHERS;
    strlist_release(&kept);
    strlist_release(&lost);
    rotate_plan_release(&p);
    return r;
}

/*
 * At commit: destroys what undo kept of the old passwords (the Plesk
 * copies, the passwd-file backup).  A committed run leaves no password on
 * the host.  Idempotent.
 */
static int rotate_commit(struct action_ctx *ctx, const char *commit_json,
                         struct errbuf *err)
{
    struct exec_result res;
    struct rotate_plan p;
    struct buf b = BUF_INIT;
    int r;

    if (strcmp(commit_json, "{}") == 0)
        return 0;
    if ((r = rotate_undo_parse(&p, commit_json, err)) < 0)
        return r;
    if (buf_adds(&b, "b=") < 0 || shquote_add(&b, p.backup_dir) < 0 ||
        buf_addc(&b, '\n') < 0 ||
        buf_adds(&b, script_forget_passwords_sh) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    r = runbook_run(ctx, "destroying the kept old passwords", b.data, NULL, 0,
                    false, &res, err);
    exec_result_release(&res);
out:
    buf_release(&b);
    rotate_plan_release(&p);
    return r;
}

/*
 * Rollback after the commit: the old passwords are gone, every account
 * keeps its new one (ACTION_KEPT says so).
 */
static int rotate_uncommit(struct action_ctx *ctx, const char *undo_json,
                           const char *commit_json, struct errbuf *err)
{
    struct strlist kept = STRLIST_INIT, none = STRLIST_INIT;
    struct rotate_plan p;
    size_t i;
    int r;

    (void)commit_json;
    if (strcmp(undo_json, "{}") == 0)
        return 0;
    if ((r = rotate_undo_parse(&p, undo_json, err)) < 0)
        return r;
    for (i = 0; i < p.accounts.n && r == 0; i++)
        r = strlist_push(&kept, p.accounts.v[i]) < 0
                ? errbuf_set(err, SS_ERR, "out of memory")
                : 0;
    if (r == 0)
        r = rotate_kept(&kept, &none, true, ctx, err);
    strlist_release(&kept);
    rotate_plan_release(&p);
    return r;
}

const struct action_ops action_rotate = {
    "rotate",
    STEP_KIND_BIT(STEP_COMPENSABLE) | STEP_KIND_BIT(STEP_PIVOT),
    rotate_parse,
    rotate_free,
    rotate_prepare,
    rotate_apply,
    rotate_undo,
    rotate_commit,
    rotate_uncommit,
};
