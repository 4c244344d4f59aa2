/* The scripted fake executor shared by the unit tests. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_exec.h"

struct fake_rule {
    char *host;
    char *match;
    int nth;
    int seen;
    int rc;
    int exit_status;
    char *out;
    char *err;
};

struct fake_hostcfg {
    char *host;
    int connect_rc;
    char *fingerprint;
};

struct fake_log {
    char *host;
    char *command;
    char *input;
};

struct fake {
    pthread_mutex_t lock;
    struct fake_rule *rules;
    size_t nrules;
    struct fake_hostcfg *hosts;
    size_t nhosts;
    struct fake_log *log;
    size_t nlog;
    size_t connects;
    int inflight;
    int max_inflight;
    int delay_ms;
    size_t chunk; /* bytes per call of a command's stdout sink; 0: all */
    char *root;
    int (*handler)(void *arg, const char *host, const struct exec_cmd *cmd,
                   struct exec_result *res, struct errbuf *err);
    void *handler_arg;
};

struct fake_conn {
    struct exec_conn base;
    struct fake *f;
    char *host;
    char fingerprint[128];
};

/* strdup keeping NULL; aborts on ENOMEM (tests). */
static char *xstrdup(const char *s)
{
    char *c;

    if (s == NULL)
        return NULL;
    if ((c = strdup(s)) == NULL)
        abort();
    return c;
}

/* Grows an array by one element; aborts on ENOMEM. */
static void *grow(void *v, size_t n, size_t size)
{
    void *p = realloc(v, (n + 1) * size);

    if (p == NULL)
        abort();
    return p;
}

static struct fake *fake_of(struct executor *ex)
{
    return ex->priv;
}

static int fake_connect(struct exec_conn **out, struct executor *ex,
                        const struct exec_target *t, struct errbuf *err)
{
    struct fake *f = fake_of(ex);
    struct fake_conn *c;
    const char *fp = "SHA256:fakefakefake";
    int rc = 0;
    size_t i;

    *out = NULL;
    pthread_mutex_lock(&f->lock);
    f->connects++;
    for (i = 0; i < f->nhosts; i++) {
        if (strcmp(f->hosts[i].host, t->name) == 0) {
            rc = f->hosts[i].connect_rc;
            if (f->hosts[i].fingerprint != NULL)
                fp = f->hosts[i].fingerprint;
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (rc < 0)
        return errbuf_set(err, rc, "fake: cannot connect to '%s'", t->name);
    if ((c = calloc(1, sizeof(*c))) == NULL)
        abort();
    c->base.ex = ex;
    c->f = f;
    c->host = xstrdup(t->name);
    snprintf(c->fingerprint, sizeof(c->fingerprint), "%s", fp);
    *out = &c->base;
    return 0;
}

/* Hands out[0..len) to cmd's sink, chunk bytes at a time (0: at once). */
static int fake_sink(const struct exec_cmd *cmd, const char *out, size_t len,
                     size_t chunk, struct errbuf *err)
{
    size_t at = 0, n;
    int r;

    while (at < len) {
        n = chunk == 0 || len - at < chunk ? len - at : chunk;
        if ((r = cmd->on_out.fn(cmd->on_out.arg, out + at, n, err)) < 0) {
            if (err->code == 0)
                errbuf_set(err, r, "fake: the sink refused the output");
            return r;
        }
        at += n;
    }
    return 0;
}

int fake_exec_fill_sink(struct exec_result *res, const struct exec_cmd *cmd,
                        int exit_status, const char *out, size_t out_len,
                        const char *err, size_t err_len, size_t chunk,
                        struct errbuf *eb)
{
    struct sha256_ctx c;
    bool sink = cmd->on_out.fn != NULL;
    int r = 0;

    res->out.cap = sink           ? EXEC_STREAM_HEAD
                   : cmd->out_cap ? cmd->out_cap
                                  : EXEC_DEFAULT_OUT_CAP;
    res->err.cap = cmd->err_cap ? cmd->err_cap : EXEC_DEFAULT_ERR_CAP;
    if (sink)
        buf_add(&res->out, out,
                out_len < EXEC_STREAM_HEAD ? out_len : EXEC_STREAM_HEAD);
    else if (out_len > 0 && buf_add(&res->out, out, out_len) < 0)
        r = SS_ETOOBIG;
    if (err_len > 0 && buf_add(&res->err, err, err_len) < 0)
        r = SS_ETOOBIG;
    res->out_bytes = out_len;
    res->err_bytes = err_len;
    sha256_begin(&c);
    sha256_update(&c, out != NULL ? out : "", out_len);
    sha256_end(&c, res->out_sha256);
    sha256_begin(&c);
    sha256_update(&c, err != NULL ? err : "", err_len);
    sha256_end(&c, res->err_sha256);
    if (r == 0 && sink && out_len > 0)
        r = fake_sink(cmd, out, out_len, chunk, eb);
    if (r == SS_ETOOBIG && eb->code == 0)
        errbuf_set(eb, r, "fake: output over its cap");
    res->exit_status = r == 0 ? exit_status : -1;
    return r;
}

int fake_exec_fill(struct exec_result *res, const struct exec_cmd *cmd,
                   int exit_status, const char *out, size_t out_len,
                   const char *err, size_t err_len)
{
    struct errbuf eb = ERRBUF_INIT;

    return fake_exec_fill_sink(res, cmd, exit_status, out, out_len, err,
                               err_len, 0, &eb);
}

/* Reads all of fd into b (no cap: tests only). */
static void slurp(struct buf *b, int fd)
{
    char tmp[4096];
    ssize_t n;

    while ((n = read(fd, tmp, sizeof(tmp))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        buf_add(b, tmp, (size_t)n);
    }
}

/* Runs cmd under /bin/sh in root/host; stderr goes into stdout's file. */
static int run_shell(struct fake *f, const char *host,
                     const struct exec_cmd *cmd, struct exec_result *res,
                     struct errbuf *eb)
{
    struct buf dir = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    int in[2], po[2], pe[2], status = 0, r;
    pid_t pid;

    buf_printf(&dir, "%s/%s", f->root, host);
    mkdir(dir.data, 0700);
    if (pipe(in) < 0 || pipe(po) < 0 || pipe(pe) < 0)
        abort();
    pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(in[1]);
        close(po[0]);
        close(pe[0]);
        if (chdir(dir.data) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd->command, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(po[1]);
    close(pe[1]);
    if (cmd->input_len > 0 &&
        write(in[1], cmd->input, cmd->input_len) != (ssize_t)cmd->input_len)
        abort();
    close(in[1]);
    slurp(&out, po[0]);
    slurp(&err, pe[0]);
    close(po[0]);
    close(pe[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r = fake_exec_fill_sink(res, cmd,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                            out.data, out.len, err.data, err.len, f->chunk, eb);
    buf_release(&dir);
    buf_release(&out);
    buf_release(&err);
    return r;
}

static int fake_run(struct exec_conn *conn, const struct exec_cmd *cmd,
                    struct exec_result *res, struct errbuf *err)
{
    struct fake_conn *c = (struct fake_conn *)conn;
    struct fake *f = c->f;
    struct fake_rule *hit = NULL;
    struct fake_rule copy = {NULL, NULL, 0, 0, 0, 0, NULL, NULL};
    size_t i;
    int r;

    pthread_mutex_lock(&f->lock);
    f->log = grow(f->log, f->nlog, sizeof(*f->log));
    f->log[f->nlog].host = xstrdup(c->host);
    f->log[f->nlog].command = xstrdup(cmd->command);
    f->log[f->nlog].input = NULL;
    if (cmd->input != NULL) {
        f->log[f->nlog].input = calloc(1, cmd->input_len + 1);
        memcpy(f->log[f->nlog].input, cmd->input, cmd->input_len);
    }
    f->nlog++;
    for (i = 0; i < f->nrules && hit == NULL; i++) {
        struct fake_rule *ru = &f->rules[i];
        if (ru->host != NULL && strcmp(ru->host, c->host) != 0)
            continue;
        if (ru->match != NULL && strstr(cmd->command, ru->match) == NULL)
            continue;
        ru->seen++;
        if (ru->nth == 0 || ru->nth == ru->seen)
            hit = ru;
    }
    if (hit != NULL)
        copy = *hit;
    if (++f->inflight > f->max_inflight)
        f->max_inflight = f->inflight;
    pthread_mutex_unlock(&f->lock);
    if (f->delay_ms > 0) {
        struct timespec ts = {f->delay_ms / 1000,
                              (f->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (hit != NULL) {
        r = fake_exec_fill_sink(res, cmd, copy.exit_status, copy.out,
                                copy.out ? strlen(copy.out) : 0, copy.err,
                                copy.err ? strlen(copy.err) : 0, f->chunk, err);
        if (copy.rc < 0)
            r = errbuf_set(err, copy.rc, "fake: rule returned %s",
                           ss_code_name(copy.rc));
    } else if (f->handler != NULL) {
        r = f->handler(f->handler_arg, c->host, cmd, res, err);
    } else if (f->root != NULL) {
        r = run_shell(f, c->host, cmd, res, err);
    } else {
        r = fake_exec_fill_sink(res, cmd, 0, NULL, 0, NULL, 0, f->chunk, err);
    }
    pthread_mutex_lock(&f->lock);
    f->inflight--;
    pthread_mutex_unlock(&f->lock);
    return r;
}

static const char *fake_fingerprint(struct exec_conn *conn)
{
    return ((struct fake_conn *)conn)->fingerprint;
}

static void fake_close(struct exec_conn *conn)
{
    struct fake_conn *c = (struct fake_conn *)conn;

    free(c->host);
    free(c);
}

static void fake_free(struct executor *ex)
{
    struct fake *f = fake_of(ex);
    size_t i;

    for (i = 0; i < f->nrules; i++) {
        free(f->rules[i].host);
        free(f->rules[i].match);
        free(f->rules[i].out);
        free(f->rules[i].err);
    }
    for (i = 0; i < f->nhosts; i++) {
        free(f->hosts[i].host);
        free(f->hosts[i].fingerprint);
    }
    fake_exec_clear_log(ex);
    free(f->rules);
    free(f->hosts);
    free(f->root);
    pthread_mutex_destroy(&f->lock);
    free(f);
    free(ex);
}

static const struct executor_ops fake_ops = {
    fake_connect, fake_run, fake_fingerprint, fake_close, fake_free,
};

struct executor *fake_exec_new(void)
{
    struct executor *ex = calloc(1, sizeof(*ex));
    struct fake *f = calloc(1, sizeof(*f));

    if (ex == NULL || f == NULL)
        abort();
    pthread_mutex_init(&f->lock, NULL);
    ex->ops = &fake_ops;
    ex->priv = f;
    return ex;
}

void fake_exec_rule(struct executor *ex, const char *host, const char *match,
                    int nth, int rc, int exit_status, const char *out,
                    const char *err)
{
    struct fake *f = fake_of(ex);
    struct fake_rule *ru;

    pthread_mutex_lock(&f->lock);
    f->rules = grow(f->rules, f->nrules, sizeof(*f->rules));
    ru = &f->rules[f->nrules++];
    memset(ru, 0, sizeof(*ru));
    ru->host = xstrdup(host);
    ru->match = xstrdup(match);
    ru->nth = nth;
    ru->rc = rc;
    ru->exit_status = exit_status;
    ru->out = xstrdup(out);
    ru->err = xstrdup(err);
    pthread_mutex_unlock(&f->lock);
}

void fake_exec_host(struct executor *ex, const char *host, int connect_rc,
                    const char *fingerprint)
{
    struct fake *f = fake_of(ex);

    pthread_mutex_lock(&f->lock);
    f->hosts = grow(f->hosts, f->nhosts, sizeof(*f->hosts));
    f->hosts[f->nhosts].host = xstrdup(host);
    f->hosts[f->nhosts].connect_rc = connect_rc;
    f->hosts[f->nhosts].fingerprint = xstrdup(fingerprint);
    f->nhosts++;
    pthread_mutex_unlock(&f->lock);
}

void fake_exec_set_handler(struct executor *ex,
                           int (*fn)(void *arg, const char *host,
                                     const struct exec_cmd *cmd,
                                     struct exec_result *res,
                                     struct errbuf *err),
                           void *arg)
{
    fake_of(ex)->handler = fn;
    fake_of(ex)->handler_arg = arg;
}

void fake_exec_shell_root(struct executor *ex, const char *root)
{
    free(fake_of(ex)->root);
    fake_of(ex)->root = xstrdup(root);
}

void fake_exec_delay(struct executor *ex, int ms)
{
    fake_of(ex)->delay_ms = ms;
}

void fake_exec_chunk(struct executor *ex, size_t n)
{
    fake_of(ex)->chunk = n;
}

size_t fake_exec_count(struct executor *ex)
{
    return fake_of(ex)->nlog;
}

const char *fake_exec_command(struct executor *ex, size_t i)
{
    return i < fake_of(ex)->nlog ? fake_of(ex)->log[i].command : NULL;
}

const char *fake_exec_cmd_host(struct executor *ex, size_t i)
{
    return i < fake_of(ex)->nlog ? fake_of(ex)->log[i].host : NULL;
}

const char *fake_exec_stdin(struct executor *ex, size_t i)
{
    return i < fake_of(ex)->nlog ? fake_of(ex)->log[i].input : NULL;
}

size_t fake_exec_count_matching(struct executor *ex, const char *host,
                                const char *s)
{
    struct fake *f = fake_of(ex);
    size_t i, n = 0;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nlog; i++)
        if ((host == NULL || strcmp(f->log[i].host, host) == 0) &&
            strstr(f->log[i].command, s) != NULL)
            n++;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t fake_exec_connects(struct executor *ex)
{
    return fake_of(ex)->connects;
}

int fake_exec_max_parallel(struct executor *ex)
{
    return fake_of(ex)->max_inflight;
}

void fake_exec_clear_log(struct executor *ex)
{
    struct fake *f = fake_of(ex);
    size_t i;

    for (i = 0; i < f->nlog; i++) {
        free(f->log[i].host);
        free(f->log[i].command);
        free(f->log[i].input);
    }
    free(f->log);
    f->log = NULL;
    f->nlog = 0;
    f->connects = 0;
    f->max_inflight = 0;
}
