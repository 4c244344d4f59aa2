/* Helpers the runbook actions share: paths, checked runs, the ids file. */
#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runbook.h"
#include "spamstop/accounts.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"
#include "spamstop/text.h"

/* Frees every message and the array; NULL-safe. */
void runbook_msgs_release(struct runbook_msgs *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; m->text == NULL && i < m->n; i++) {
        free(m->v[i].queue_name);
        free(m->v[i].queue_id);
        free(m->v[i].account);
    }
    free(m->v);
    free(m->text);
    memset(m, 0, sizeof(*m));
}

/* Drops message i; see runbook.h. */
void runbook_msgs_drop(struct runbook_msgs *m, size_t i)
{
    if (m->text == NULL) {
        free(m->v[i].queue_name);
        free(m->v[i].queue_id);
        free(m->v[i].account);
    }
    m->v[i] = m->v[--m->n];
}

/* Appends one message with the strings given (not copied). */
static int runbook_msgs_add(struct runbook_msgs *m, char *q, char *id,
                            char *acct)
{
    struct runbook_msg *v;

    if (m->n == m->alloc) {
        size_t na = m->alloc ? m->alloc * 2 : 64;
        if ((v = realloc(m->v, na * sizeof(*v))) == NULL)
            return SS_ERR;
        m->v = v;
        m->alloc = na;
    }
    m->v[m->n].queue_name = q;
    m->v[m->n].queue_id = id;
    m->v[m->n++].account = acct;
    return 0;
}

/* Appends one message with copies of its strings. */
int runbook_msgs_push(struct runbook_msgs *m, const char *queue_name,
                      const char *queue_id, const char *account)
{
    char *q = strdup(queue_name), *id = strdup(queue_id), *a = strdup(account);

    assert(m->text == NULL); /* read messages are never mixed with copies */
    if (q == NULL || id == NULL || a == NULL ||
        runbook_msgs_add(m, q, id, a) < 0) {
        free(q);
        free(id);
        free(a);
        return SS_ERR;
    }
    return 0;
}

/* Builds the host folder of this run; see runbook.h. */
int runbook_host_dir(struct buf *out, const struct action_ctx *ctx,
                     const char *sub, struct errbuf *err)
{
    const char *id = ctx->run_id != NULL ? ctx->run_id : "";
    size_t n = strlen(id);

    buf_reset(out);
    if (n == 0 || n > 64 || id[0] == '-' ||
        strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz-") != n)
        return errbuf_set(err, SS_EINVAL, "run id '%.64s' cannot name a folder",
                          id);
    /* the host's name too: hosts may share a file system (the lab) */
    if (buf_printf(out, RUNBOOK_HOST_DIR "/%s/", id) < 0 ||
        fsname_escape(out, ctx->host) < 0 ||
        (sub != NULL && buf_printf(out, "/%s", sub) < 0))
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/* Builds RUN/evidence/<host>/<name>; see runbook.h. */
int runbook_evidence_path(struct buf *out, const struct action_ctx *ctx,
                          const char *name, bool make, struct errbuf *err)
{
    int r;

    buf_reset(out);
    if (buf_printf(out, "%s/evidence/", ctx->run_dir) < 0 ||
        fsname_escape(out, ctx->host) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    if (make && (r = fsio_mkdirs(out->data, 0700, err)) < 0)
        return r;
    if (buf_printf(out, "/%s", name) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/* Creates NAME's temporary in the host's evidence folder; see runbook.h. */
int runbook_evfile_open(struct runbook_evfile *f, const struct action_ctx *ctx,
                        const char *name, struct errbuf *err)
{
    int r;

    if ((r = runbook_evidence_path(&f->path, ctx, name, true, err)) < 0)
        return r;
    return fsio_open_temp(&f->fd, f->path.data, 0600, err);
}

/* Syncs, renames and records the file; see runbook.h. */
int runbook_evfile_commit(struct runbook_evfile *f, struct action_ctx *ctx,
                          size_t bytes, const char *sha, struct errbuf *err)
{
    int r;

    if ((r = fsio_commit_temp(&f->fd, f->path.data, err)) < 0)
        return r;
    if ((r = action_audit_evidence(ctx, f->path.data, bytes, sha)) < 0)
        return errbuf_set(err, r,
                          "cannot record evidence '%s' in the audit trail",
                          f->path.data);
    return 0;
}

/* Closes; removes the temporary of a file not committed. */
void runbook_evfile_release(struct runbook_evfile *f)
{
    if (f->fd >= 0)
        fsio_abort_temp(&f->fd, f->path.data);
    buf_release(&f->path);
}

/* Runs a command and turns a non-zero exit into SS_EREMOTE. */
int runbook_exec(struct action_ctx *ctx, const char *what, struct exec_cmd *cmd,
                 bool secret, struct exec_result *res, struct errbuf *err)
{
    const char *e;
    size_t n;
    int r;

    if (cmd->err_cap == 0)
        cmd->err_cap = RUNBOOK_ERR_CAP;
    if ((r = action_run(ctx, cmd, secret, res, err)) < 0)
        return r;
    if (res->exit_status == 0)
        return 0;
    e = res->err.data != NULL ? res->err.data : "";
    n = strcspn(e, "\n");
    if (n > 200)
        n = 200;
    if (res->exit_signal[0] != '\0')
        return errbuf_set(err, SS_EREMOTE, "%s was killed by signal %s", what,
                          res->exit_signal);
    return errbuf_set(err, SS_EREMOTE, "%s exited with status %d%s%.*s", what,
                      res->exit_status, n > 0 ? ": " : "", (int)n, e);
}

/* Runs command with stdin; see runbook.h. */
int runbook_run(struct action_ctx *ctx, const char *what, const char *command,
                const void *in, size_t in_len, bool secret,
                struct exec_result *res, struct errbuf *err)
{
    struct exec_cmd cmd = EXEC_CMD_INIT;

    cmd.command = command;
    cmd.input = in;
    cmd.input_len = in_len;
    return runbook_exec(ctx, what, &cmd, secret, res, err);
}

/* Reads "name" or "{{name}}"; see runbook.h. */
int runbook_result_name(char *out, size_t size, const char *s,
                        struct errbuf *err)
{
    size_t n = strlen(s), i;

    if (n > 4 && strncmp(s, "{{", 2) == 0 && strcmp(s + n - 2, "}}") == 0) {
        s += 2;
        n -= 4;
    }
    if (n == 0 || n >= size)
        return errbuf_set(err, SS_EINVAL, "'%.64s' does not name a result", s);
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return errbuf_set(err, SS_EINVAL, "'%.64s' does not name a result",
                              s);
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* Renders a template scalar and strips its quotes; see runbook.h. */
int runbook_scalar(char **out, struct action_ctx *ctx, const char *tmpl,
                   struct errbuf *err)
{
    struct buf b = BUF_INIT;
    char *s = NULL;
    size_t n;
    int r;

    *out = NULL;
    if ((r = action_render(&b, ctx, tmpl, err)) < 0)
        goto out;
    n = b.len;
    if (n >= 2 && b.data[0] == '\'' && b.data[n - 1] == '\'') {
        if (memchr(b.data + 1, '\'', n - 2) != NULL) {
            r = errbuf_set(err, SS_EINVAL, "'%.64s' is not a plain value",
                           tmpl);
            goto out;
        }
        s = strndup(b.data + 1, n - 2);
    } else {
        s = strdup(b.data != NULL ? b.data : "");
    }
    if (s == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    *out = s;
    r = 0;
out:
    buf_release(&b);
    return r;
}

/* True when account is one of the items of l. */
static bool runbook_in_list(const struct strlist *l, const char *account)
{
    size_t i;

    for (i = 0; l != NULL && i < l->n; i++)
        if (strcmp(l->v[i], account) == 0)
            return true;
    return false;
}

/* Splits one "QUEUE ID ACCOUNT" line in place; false when malformed. */
static bool runbook_split(char *line, char **q, char **id, char **acct)
{
    char *a = strchr(line, ' '), *b;

    if (a == NULL)
        return false;
    *a++ = '\0';
    if ((b = strchr(a, ' ')) == NULL)
        return false;
    *b++ = '\0';
    *q = line;
    *id = a;
    *acct = b;
    return postfix_queue_name_valid(*q) && postfix_queue_id_valid(*id) &&
           accounts_address_valid(*acct);
}

/* Loads the ids file of result name; see runbook.h. */
int runbook_msgs_load(struct runbook_msgs *out, struct action_ctx *ctx,
                      const char *name, struct errbuf *err)
{
    memset(out, 0, sizeof(*out));
    return runbook_msgs_read(out, ctx, name, action_result(ctx, name), NULL,
                             NULL, err);
}

/* Reads an ids file, checked, its strings left in its text. */
int runbook_msgs_read(struct runbook_msgs *out, const struct action_ctx *ctx,
                      const char *name, const struct strlist *accounts,
                      const char *want, char *sha, struct errbuf *err)
{
    struct buf path = BUF_INIT, file = BUF_INIT;
    char *text = NULL, *line, *nl, *q, *id, *acct, got[SHA256_HEX_LEN + 1];
    size_t len = 0, lineno = 0;
    int r;

    memset(out, 0, sizeof(*out));
    if (want == NULL && sha == NULL && (accounts == NULL || accounts->n == 0))
        return 0;
    if (buf_printf(&file, "%s.ids", name) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = runbook_evidence_path(&path, ctx, file.data, false, err)) < 0)
        goto out;
    if ((r = fsio_read_file(&text, &len, path.data, RUNBOOK_IDS_MAX, err)) <
        0) {
        errbuf_prefix(err, "the queue ids identify found for '%s'", name);
        goto out;
    }
    if ((want != NULL || sha != NULL) && sha256_hex(got, text, len) < 0) {
        r = errbuf_set(err, SS_ERR, "cannot hash '%s'", path.data);
        goto out;
    }
    if (want != NULL && strcmp(got, want) != 0) {
        r = errbuf_set(err, SS_ECORRUPT,
                       "'%s' is not the file this run recorded (SHA-256 %s, "
                       "recorded %.64s)",
                       path.data, got, want);
        goto out;
    }
    if (sha != NULL)
        memcpy(sha, got, sizeof(got));
    out->text = text;
    for (line = text; line < text + len; line = nl + 1) {
        lineno++;
        if ((nl = memchr(line, '\n', (size_t)(text + len - line))) == NULL) {
            r = errbuf_set(err, SS_ECORRUPT, "'%s': line %zu is cut", path.data,
                           lineno);
            goto out;
        }
        *nl = '\0';
        if (lineno == 1 && strncmp(line, "total ", 6) == 0) {
            out->total = strtoul(line + 6, NULL, 10);
            continue;
        }
        if (!runbook_split(line, &q, &id, &acct)) {
            r = errbuf_set(err, SS_ECORRUPT, "'%s': line %zu is malformed",
                           path.data, lineno);
            goto out;
        }
        if (!runbook_in_list(accounts, acct))
            continue;
        if (runbook_msgs_add(out, q, id, acct) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    }
    r = 0;
out:
    if (r < 0) {
        if (out->text == NULL)
            free(text);
        runbook_msgs_release(out);
    }
    buf_release(&path);
    buf_release(&file);
    return r;
}

/* Writes and records one evidence file; see runbook.h. */
int runbook_evidence_save(struct action_ctx *ctx, const char *name,
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

/* The ".ids" file text of f's flagged accounts; see runbook.h. */
int runbook_ids_format(struct buf *out, const struct postfix_findings *f)
{
    size_t i, k;

    if (buf_printf(out, "total %zu\n", f->total) < 0)
        return SS_ERR;
    for (i = 0; i < f->n_accounts; i++) {
        const struct postfix_account *a = &f->accounts[i];
        for (k = 0; a->flagged && k < a->n_refs; k++)
            if (buf_printf(out, "%s %s %s\n", a->refs[k].queue_name,
                           a->refs[k].queue_id, a->username) < 0)
                return SS_ERR;
    }
    return 0;
}

/* Says so in the plan when result name is absent or empty here. */
bool runbook_nothing(struct action_ctx *ctx, const char *name)
{
    const struct strlist *l = action_result(ctx, name);

    if (l == NULL || l->n == 0)
        (void)action_note(ctx, "nothing_to_do", name, -1,
                          l == NULL ? "not produced" : "empty");
    return l == NULL || l->n == 0;
}

int runbook_accounts_parse(void **out, const char *with_json,
                           struct errbuf *err)
{
    struct runbook_accounts_with *w = NULL;
    json_t *root = NULL, *v;
    const char *key;
    int r = SS_EINVAL;

    *out = NULL;
    if ((root = json_loads(with_json, 0, NULL)) == NULL)
        return errbuf_set(err, SS_EINVAL, "'with' is not valid JSON");
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "accounts") != 0 || !json_is_string(v)) {
            errbuf_set(err, SS_EINVAL, "bad or unknown key 'with.%.64s'", key);
            goto out;
        }
        if ((r = runbook_result_name(w->result, sizeof(w->result),
                                     json_string_value(v), err)) < 0)
            goto out;
        r = SS_EINVAL;
    }
    if (w->result[0] == '\0') {
        errbuf_set(err, SS_EINVAL,
                   "'with.accounts' must name identify's result");
        goto out;
    }
    *out = w;
    w = NULL;
    r = 0;
out:
    free(w);
    json_decref(root);
    return r;
}

/* The memo's key: action_memo finds a memo by its free function. */
static void runbook_dirs_free(void *p)
{
    free(p);
}

const struct postfix_dirs *runbook_dirs(struct action_ctx *ctx)
{
    return action_memo(ctx, runbook_dirs_free);
}

void runbook_dirs_keep(struct action_ctx *ctx, const struct postfix_dirs *d)
{
    struct postfix_dirs *copy = NULL;

    /* a pass without them drops what an earlier one said */
    if (d->queue[0] != '\0' && d->daemon[0] != '\0' &&
        (copy = malloc(sizeof(*copy))) != NULL)
        *copy = *d;
    action_memo_keep(ctx, copy, runbook_dirs_free);
}
