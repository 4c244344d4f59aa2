/* Per-host sagas: journal before acting, roll back or finish forward. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "spamstop/digest.h"
#include "action.h"
#include "spamstop/fsio.h"
#include "spamstop/pool.h"
#include "spamstop/shquote.h"
#include "spamstop/text.h"

#include "hostlock.h"

/* stdout kept from one step; its lines become the step's result. */
#define ENGINE_OUT_CAP (16u * 1024 * 1024)
/* Notes a step may leave per host (they quote remote output). */
#define ENGINE_NOTES_MAX 64
/* Lines of a command's output an "exec-output" event shows (-vv). */
#define ENGINE_EXCERPT_LINES 10

enum engine_mode { MODE_RESPOND, MODE_ROLLBACK, MODE_RESUME };

/* What the hosts of one run share. */
struct run {
    const struct engine_opts *o;
    struct engine_host *hosts;
    size_t n;
    enum engine_mode mode;
    pthread_mutex_t lock;
    size_t failed;
};

/*
 * Memos a host keeps at once: identify's pass, rotate's look, the Postfix
 * directories and the service state take four; two to spare.
 */
#define HOST_MEMO_SLOTS 6

/* One host's saga. */
struct hostrun {
    struct run *run;
    const struct engine_opts *o;
    const struct playbook *pb;
    struct engine_host *h;
    struct exec_conn *conn;
    struct journal *j;
    int lock_fd;
    bool dead;               /* the journal or trail failed: hands off */
    struct journal_state js; /* each step's state, replayed or built */
    /* the step being worked on */
    size_t cur;
    const char *phase;
    struct strlist cur_results;
    bool cur_has_results;
    char *undo_data;
    bool undo_secret;
    char *commit_data;
    char *evidence;
    char *pivot_why;   /* action_set_pivot: a pivot on this host, and why */
    bool *skipped;     /* per step: its "when" kept it from running */
    bool placeholders; /* dry-run: show results no step produced */
    bool redo;         /* resume of a contained host: see saga_forward */
    struct buf kept;   /* rollback: what undos kept on purpose, and why */
    bool kept_others;  /* ... some for accounts the rollback is not for */
    bool missing;      /* render met such a result */
    struct {
        void *p; /* action_memo_keep: kept until the host is done */
        void (*free_fn)(void *);
    } memo[HOST_MEMO_SLOTS];
};

static const char *const state_names[] = {
    "pending", "committed", "rolled-back", "needs-attention", "unreachable",
    "refused", "skipped",   "dry-run",     "nothing-to-do",   "contained",
};

const char *host_state_name(enum host_state s)
{
    if ((size_t)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "?";
    return state_names[s];
}

int host_state_parse(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(state_names[i], s) == 0)
            return (int)i;
    return -1;
}

static const char *const step_status_names[] = {
    "not-run", "planned", "read",        "skipped",   "done",          "failed",
    "undone",  "kept",    "undo-failed", "committed", "commit-failed",
};

const char *engine_step_status_name(enum engine_step_status s)
{
    if ((size_t)s >= sizeof(step_status_names) / sizeof(step_status_names[0]))
        return "?";
    return step_status_names[s];
}

void engine_host_init(struct engine_host *h)
{
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf e = ERRBUF_INIT;

    memset(h, 0, sizeof(*h));
    h->target = t;
    h->err = e;
    h->failed_step = -1;
}

/* Frees a values list's strings and array. */
static void engine_values_release(struct engine_values *v)
{
    size_t i;

    for (i = 0; i < v->n; i++)
        free(v->v[i].value);
    free(v->v);
    memset(v, 0, sizeof(*v));
}

void engine_survey_free(struct engine_survey *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->naccounts; i++) {
        free(s->accounts[i].address);
        free(s->accounts[i].top_client);
        free(s->accounts[i].why);
        engine_values_release(&s->accounts[i].top_clients);
        engine_values_release(&s->accounts[i].helos);
        engine_values_release(&s->accounts[i].subjects);
    }
    free(s->accounts);
    free(s->log_source);
    free(s->log_missing);
    free(s);
}

/* Frees what one step's record holds. */
static void step_rec_release(struct engine_step_rec *r)
{
    size_t i;

    for (i = 0; i < r->nnotes; i++) {
        free(r->notes[i].subject);
        free(r->notes[i].text);
    }
    free(r->notes);
    free(r->why);
    free(r->pivot_why);
    engine_survey_free(r->survey);
    memset(r, 0, sizeof(*r));
}

void engine_host_reset(struct engine_host *h)
{
    size_t i;

    for (i = 0; i < h->nsteps; i++)
        step_rec_release(&h->steps[i]);
    free(h->steps);
    h->steps = NULL;
    h->nsteps = 0;
    h->state = HOST_PENDING;
    errbuf_clear(&h->err);
    h->failed_step = -1;
    h->interrupted = false;
    h->nfacts = 0;
    h->start_ms = h->end_ms = 0;
    free(h->checks);
    h->checks = NULL;
    h->nchecks = 0;
}

void engine_host_release(struct engine_host *h)
{
    if (h == NULL)
        return;
    engine_host_reset(h);
    exec_target_release(&h->target);
}

const struct engine_survey *engine_host_survey(const struct engine_host *h)
{
    size_t i;

    for (i = h->nsteps; i > 0; i--)
        if (h->steps[i - 1].survey != NULL)
            return h->steps[i - 1].survey;
    return NULL;
}

void engine_opts_init(struct engine_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->forks = 1;
    o->max_fail = -1;
}

/* The wall clock in milliseconds since the epoch. */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The record of the step called name on this host, or NULL. */
static struct engine_step_rec *rec_of(struct hostrun *hr, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < hr->h->nsteps; i++)
        if (strcmp(hr->pb->steps[i].name, name) == 0)
            return &hr->h->steps[i];
    return NULL;
}

/* Sets a record's status and why (copied; NULL clears it). */
static void rec_set(struct engine_step_rec *r, enum engine_step_status st,
                    const char *why)
{
    free(r->why);
    r->why = why != NULL && why[0] != '\0' ? strdup(why) : NULL;
    r->status = st;
}

/* What an engine event word makes of a step's record. */
static const struct {
    const char *what;
    enum engine_step_status status;
    bool why;
} rec_events[] = {
    {"failed", ENGINE_STEP_FAILED, true},
    {"skipped", ENGINE_STEP_SKIPPED, true},
    {"undone", ENGINE_STEP_UNDONE, false},
    {"uncommitted", ENGINE_STEP_UNDONE, false},
    {"kept", ENGINE_STEP_KEPT, true},
    {"uncommit-kept", ENGINE_STEP_KEPT, true},
    {"undo-failed", ENGINE_STEP_UNDO_FAILED, true},
    {"uncommit-failed", ENGINE_STEP_UNDO_FAILED, true},
    {"committed", ENGINE_STEP_COMMITTED, false},
    {"commit-failed", ENGINE_STEP_COMMIT_FAILED, true},
};

/* Keeps in the step's record what an event says happened to it. */
static void record(struct hostrun *hr, const char *step, const char *what,
                   const char *detail)
{
    struct engine_step_rec *r = rec_of(hr, step);
    size_t i;

    if (r == NULL)
        return;
    if (strcmp(what, "start") == 0) {
        r->start_ms = now_ms();
        r->end_ms = 0;
        return;
    }
    if (strcmp(what, "done") == 0) {
        r->end_ms = now_ms();
        rec_set(r,
                hr->pb->steps[r - hr->h->steps].kind == STEP_READ_ONLY
                    ? ENGINE_STEP_READ
                    : ENGINE_STEP_DONE,
                NULL);
        return;
    }
    for (i = 0; i < sizeof(rec_events) / sizeof(rec_events[0]); i++)
        if (strcmp(rec_events[i].what, what) == 0) {
            if (rec_events[i].status == ENGINE_STEP_FAILED ||
                rec_events[i].status == ENGINE_STEP_SKIPPED)
                r->end_ms = now_ms();
            rec_set(r, rec_events[i].status, rec_events[i].why ? detail : NULL);
        }
}

/* Reports progress to the caller, if it listens. */
static void emit(struct hostrun *hr, const char *step, const char *what,
                 const char *detail)
{
    struct engine_event ev;

    record(hr, step, what, detail);
    if (hr->o->on_event == NULL)
        return;
    ev.host = hr->h->target.name;
    ev.step = step;
    ev.what = what;
    ev.detail = detail;
    hr->o->on_event(hr->o->event_arg, &ev);
}

/* True once SIGINT/SIGTERM asked us to stop starting things. */
static bool stopping(const struct hostrun *hr)
{
    return hr->o->stop != NULL && *hr->o->stop != 0;
}

/* Marks the host dead (journal or trail failed) and keeps the reason. */
static int go_dead(struct hostrun *hr, int r, const struct errbuf *e)
{
    hr->dead = true;
    hr->h->state = HOST_ATTENTION;
    errbuf_set(&hr->h->err, r < 0 ? r : SS_ERR,
               "stopped: %s (the journal holds the state up to here)", e->msg);
    return r < 0 ? r : SS_ERR;
}

/* Appends a journal record (nothing in dry-run); a failure is fatal. */
static int jwrite(struct hostrun *hr, struct journal_record *rec)
{
    struct errbuf e = ERRBUF_INIT;
    int r;

    if (hr->dead)
        return SS_ERR;
    if (hr->j == NULL)
        return 0;
    if ((r = journal_append(hr->j, rec, &e)) < 0)
        return go_dead(hr, r, &e);
    return 0;
}

/* Records a command in the audit trail; a failure is fatal like jwrite. */
static int audit_cmd(struct hostrun *hr, const char *phase, const char *command,
                     size_t stdin_bytes, bool secret,
                     const struct exec_result *res, int rc,
                     const struct errbuf *cmd_err)
{
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct errbuf e = ERRBUF_INIT;
    int r;

    if (hr->o->audit == NULL)
        return 0;
    rec.event = "command";
    rec.host = hr->h->target.name;
    rec.fingerprint = hr->conn != NULL ? exec_fingerprint(hr->conn) : NULL;
    rec.step = hr->cur < hr->pb->nsteps ? hr->pb->steps[hr->cur].name : NULL;
    rec.phase = phase;
    rec.command = command;
    rec.stdin_bytes = stdin_bytes;
    rec.stdin_secret = secret;
    rec.result = res;
    rec.rc = rc;
    rec.detail = rc < 0 ? cmd_err->msg : NULL;
    if ((r = audit_append(hr->o->audit, &rec, &e)) < 0)
        return go_dead(hr, r, &e);
    return 0;
}

/*
 * Records a host-level event ("host-end", ...) in the trail; on failure
 * err says why (the caller decides: the host's state is final by then).
 */
static int audit_event(struct hostrun *hr, const char *event,
                       const char *detail, struct errbuf *err)
{
    struct audit_record rec = AUDIT_RECORD_INIT;

    if (hr->o->audit == NULL)
        return 0;
    rec.event = event;
    rec.host = hr->h->target.name;
    rec.fingerprint = hr->conn != NULL ? exec_fingerprint(hr->conn) : NULL;
    rec.detail = detail;
    return audit_append(hr->o->audit, &rec, err);
}

/* Records a step-level event ("pivot", ...); a failure is fatal like jwrite. */
static int audit_step_note(struct hostrun *hr, const char *event,
                           const char *detail)
{
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct errbuf e = ERRBUF_INIT;
    int r;

    if (hr->o->audit == NULL)
        return 0;
    rec.event = event;
    rec.host = hr->h->target.name;
    rec.fingerprint = hr->conn != NULL ? exec_fingerprint(hr->conn) : NULL;
    rec.step = hr->cur < hr->pb->nsteps ? hr->pb->steps[hr->cur].name : NULL;
    rec.detail = detail;
    if ((r = audit_append(hr->o->audit, &rec, &e)) < 0)
        return go_dead(hr, r, &e);
    return 0;
}

/*
 * -vv: an "exec-output" event with the exit status and the first lines of
 * what the command wrote (stdout, then stderr).
 */
static void emit_excerpt(struct hostrun *hr, const struct exec_result *res,
                         int r, const struct errbuf *err)
{
    struct buf b = BUF_INIT;
    const struct buf *src[2] = {&res->out, &res->err};
    size_t k, lines = 0, n;
    const char *p, *end, *nl;

    if (r < 0)
        buf_printf(&b, "failed: %s", err->msg);
    else
        buf_printf(&b, "exit %d", res->exit_status);
    for (k = 0; k < 2; k++) {
        p = src[k]->data;
        end = p != NULL ? p + src[k]->len : NULL;
        while (p != NULL && p < end && lines < ENGINE_EXCERPT_LINES) {
            nl = memchr(p, '\n', (size_t)(end - p));
            n = (size_t)((nl != NULL ? nl : end) - p);
            buf_printf(&b, "\n%s%.*s", k == 0 ? "| " : "! ",
                       (int)(n > 200 ? 200 : n), p);
            lines++;
            p = nl != NULL ? nl + 1 : end;
        }
    }
    emit(hr, hr->cur < hr->pb->nsteps ? hr->pb->steps[hr->cur].name : NULL,
         "exec-output", b.data != NULL ? b.data : "");
    buf_release(&b);
}

/* Runs one command on the host and audits it; returns like exec_run. */
static int host_exec(struct hostrun *hr, const char *phase,
                     const struct exec_cmd *cmd, bool secret,
                     struct exec_result *res, struct errbuf *err)
{
    struct exec_cmd c = *cmd;
    int r, ra;

    if (hr->dead)
        return errbuf_set(err, SS_ERR, "the journal or trail failed");
    if (c.out_cap == 0)
        c.out_cap = ENGINE_OUT_CAP;
    if (c.timeout_ms == 0 && hr->cur < hr->pb->nsteps)
        c.timeout_ms = hr->pb->steps[hr->cur].timeout_ms;
    exec_result_init(res);
    if (hr->o->verbose > 0)
        emit(hr, hr->cur < hr->pb->nsteps ? hr->pb->steps[hr->cur].name : NULL,
             "exec", c.command);
    r = exec_run(hr->conn, &c, res, err);
    if (hr->o->verbose > 1)
        emit_excerpt(hr, res, r, err);
    ra = audit_cmd(hr, phase, c.command, c.input_len, secret, res, r, err);
    if (ra < 0)
        return errbuf_set(err, ra, "%s", hr->h->err.msg);
    return r;
}

/*
 * Splits stdout into lines (the step's result items).  A NUL byte or
 * bytes that are not UTF-8 are refused: such a value could not be passed
 * on safely nor journaled.
 */
static int split_lines(struct strlist *out, const struct buf *b,
                       struct errbuf *err)
{
    const char *p = b->data, *end, *nl;
    size_t line = 0;

    if (p == NULL)
        return 0;
    end = p + b->len;
    if (memchr(p, '\0', b->len) != NULL)
        return errbuf_set(err, SS_EINVAL, "the output holds a NUL byte");
    if (!utf8_valid(p, b->len))
        return errbuf_set(err, SS_EINVAL, "the output is not UTF-8");
    while (p < end) {
        line++;
        nl = memchr(p, '\n', end - p);
        if (nl == NULL)
            nl = end;
        if (strlist_pushn(out, p, nl - p) < 0)
            return errbuf_set(err, SS_ERR, "out of memory");
        p = nl + 1;
    }
    return 0;
}

/* Index of the step that registers name, or -1. */
static int result_step(const struct playbook *pb, const char *name)
{
    size_t i;

    for (i = 0; i < pb->nsteps; i++)
        if (pb->steps[i].register_name != NULL &&
            strcmp(pb->steps[i].register_name, name) == 0)
            return (int)i;
    return -1;
}

/* The results of the step registering name; NULL when none (yet). */
static const struct strlist *host_result(struct hostrun *hr, const char *name)
{
    int i = result_step(hr->pb, name);

    if (i < 0 || (size_t)i >= hr->js.nsteps || !hr->js.steps[i].has_results)
        return NULL;
    return &hr->js.steps[i].results;
}

/* What a render needs. */
struct render {
    struct hostrun *hr;
    struct buf *out;
    struct errbuf *err;
};

/* tmpl_walk: copies literal text. */
static int render_lit(void *arg, const char *s, size_t n)
{
    struct render *rd = arg;

    return buf_add(rd->out, s, n) < 0 ? SS_ERR : 0;
}

/* Appends one value shell-quoted (an empty value becomes ''). */
static int render_value(struct render *rd, const char *v)
{
    return shquote_add(rd->out, v) < 0 ? SS_ERR : 0;
}

/* tmpl_walk: expands one reference, every value quoted. */
static int render_ref(void *arg, enum tmpl_ref_type type, const char *name)
{
    struct render *rd = arg;
    const struct strlist *l;
    const char *v;
    size_t i;

    switch (type) {
    case TMPL_HOST: return render_value(rd, rd->hr->h->target.name);
    case TMPL_PARAM:
        v = playbook_param(rd->hr->pb, name);
        if (v == NULL)
            return errbuf_set(rd->err, SS_EINVAL, "unknown parameter '%s'",
                              name);
        return render_value(rd, v);
    case TMPL_RESULT:
        l = host_result(rd->hr, name);
        if (l == NULL && rd->hr->placeholders) {
            rd->hr->missing = true;
            return buf_printf(rd->out, "<%s>", name) < 0 ? SS_ERR : 0;
        }
        for (i = 0; l != NULL && i < l->n; i++) {
            if (i > 0 && buf_addc(rd->out, ' ') < 0)
                return SS_ERR;
            if (render_value(rd, l->v[i]) < 0)
                return SS_ERR;
        }
        return 0;
    }
    return SS_ERR;
}

/* Expands tmpl into out (reset first), every value quoted. */
static int render(struct hostrun *hr, struct buf *out, const char *tmpl,
                  struct errbuf *err)
{
    struct render rd;
    int r;

    buf_reset(out);
    rd.hr = hr;
    rd.out = out;
    rd.err = err;
    r = tmpl_walk(tmpl, render_lit, render_ref, &rd, err);
    if (r < 0 && err->code == 0)
        errbuf_set(err, SS_ERR, "out of memory rendering a command");
    if (r == 0 && out->data == NULL)
        r = buf_adds(out, "");
    return r;
}

/* Renders tmpl into a new string (*out NULL when tmpl is NULL). */
static int render_dup(struct hostrun *hr, char **out, const char *tmpl,
                      struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if (tmpl == NULL)
        return 0;
    if ((r = render(hr, &b, tmpl, err)) < 0) {
        buf_release(&b);
        return r;
    }
    *out = buf_detach(&b);
    return *out == NULL ? SS_ERR : 0;
}

/* The record of the step being worked on, or NULL. */
static struct engine_step_rec *cur_rec(struct hostrun *hr)
{
    return hr->cur < hr->h->nsteps ? &hr->h->steps[hr->cur] : NULL;
}

/* Adds a note to step i's record (strings copied). */
static int note_add(struct hostrun *hr, size_t i, const char *key,
                    const char *subject, long long value, const char *text)
{
    struct engine_step_rec *r;
    struct engine_note *nt, *grown;
    size_t n = key != NULL ? strlen(key) : 0;

    if (n == 0 || n > ENGINE_NOTE_KEY_MAX)
        return SS_EINVAL;
    if (i >= hr->h->nsteps)
        return 0;
    r = &hr->h->steps[i];
    if (r->nnotes >= ENGINE_NOTES_MAX)
        return 0; /* notes only tell: the rest is in the trail */
    grown = realloc(r->notes, (r->nnotes + 1) * sizeof(*r->notes));
    if (grown == NULL)
        return SS_ERR;
    r->notes = grown;
    nt = &r->notes[r->nnotes];
    memset(nt, 0, sizeof(*nt));
    memcpy(nt->key, key, n + 1);
    nt->value = value;
    if ((subject != NULL && (nt->subject = strdup(subject)) == NULL) ||
        (text != NULL && (nt->text = strdup(text)) == NULL)) {
        free(nt->subject);
        return SS_ERR;
    }
    r->nnotes++;
    return 0;
}

/* Forgets step i's notes and survey (a step run again says it again). */
static void rec_restart(struct hostrun *hr, size_t i)
{
    struct engine_step_rec *r;

    if (i >= hr->h->nsteps)
        return;
    r = &hr->h->steps[i];
    step_rec_release(r);
}

/* ---- the action context ---------------------------------------------- */

/* The hostrun behind an action context. */
static struct hostrun *ctx_host(struct action_ctx *ctx)
{
    return ctx->engine;
}

int action_run(struct action_ctx *ctx, const struct exec_cmd *cmd,
               bool secret_stdin, struct exec_result *res, struct errbuf *err)
{
    struct hostrun *hr = ctx_host(ctx);

    return host_exec(hr, hr->phase, cmd, secret_stdin, res, err);
}

const struct strlist *action_result(struct action_ctx *ctx, const char *name)
{
    return host_result(ctx_host(ctx), name);
}

void *action_memo(struct action_ctx *ctx, void (*free_fn)(void *))
{
    struct hostrun *hr = ctx_host(ctx);
    size_t i;

    for (i = 0; i < HOST_MEMO_SLOTS; i++)
        if (hr->memo[i].free_fn == free_fn)
            return hr->memo[i].p;
    return NULL;
}

void action_memo_keep(struct action_ctx *ctx, void *memo,
                      void (*free_fn)(void *))
{
    struct hostrun *hr = ctx_host(ctx);
    size_t i, slot = HOST_MEMO_SLOTS;

    assert(free_fn != NULL);
    for (i = 0; i < HOST_MEMO_SLOTS; i++)
        if (hr->memo[i].free_fn == free_fn ||
            (slot == HOST_MEMO_SLOTS && hr->memo[i].free_fn == NULL))
            slot = i;
    if (slot == HOST_MEMO_SLOTS) {
        free_fn(memo); /* all slots taken: a memo only saves work */
        return;
    }
    if (hr->memo[slot].free_fn != NULL)
        hr->memo[slot].free_fn(hr->memo[slot].p);
    hr->memo[slot].p = memo;
    hr->memo[slot].free_fn = free_fn;
}

int action_add_result(struct action_ctx *ctx, const char *item)
{
    struct hostrun *hr = ctx_host(ctx);

    if (!utf8_valid(item, strlen(item)))
        return SS_EINVAL;
    hr->cur_has_results = true;
    return strlist_push(&hr->cur_results, item);
}

/* Replaces *dst with a copy of s. */
static int set_str(char **dst, const char *s)
{
    char *copy = s != NULL ? strdup(s) : NULL;

    if (s != NULL && copy == NULL)
        return SS_ERR;
    free(*dst);
    *dst = copy;
    return 0;
}

int action_set_undo(struct action_ctx *ctx, const char *json, bool secret)
{
    struct hostrun *hr = ctx_host(ctx);

    if (hr->undo_data != NULL && hr->undo_secret)
        explicit_bzero(hr->undo_data, strlen(hr->undo_data));
    hr->undo_secret = secret;
    return set_str(&hr->undo_data, json);
}

int action_set_commit(struct action_ctx *ctx, const char *json)
{
    return set_str(&ctx_host(ctx)->commit_data, json);
}

int action_set_evidence(struct action_ctx *ctx, const char *json)
{
    return set_str(&ctx_host(ctx)->evidence, json);
}

int action_set_pivot(struct action_ctx *ctx, const char *why)
{
    if (ctx->step->kind == STEP_READ_ONLY)
        return SS_EINVAL;
    return set_str(&ctx_host(ctx)->pivot_why, why != NULL && why[0] != '\0'
                                                  ? why
                                                  : "cannot be undone here");
}

/* The path of an evidence file relative to the run folder, or NULL. */
static const char *evidence_rel(const char *run_dir, const char *path)
{
    size_t n = strlen(run_dir);

    if (strncmp(path, run_dir, n) == 0 && path[n] == '/')
        path += n + 1;
    if (path[0] == '/' || path[0] == '\0' || strncmp(path, "../", 3) == 0 ||
        strstr(path, "/../") != NULL || strcmp(path, "..") == 0 ||
        (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
        return NULL;
    return path;
}

int action_audit_evidence(struct action_ctx *ctx, const char *path,
                          uint64_t size, const char *sha256_hex)
{
    struct hostrun *hr = ctx_host(ctx);
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct errbuf e = ERRBUF_INIT;
    const char *rel = evidence_rel(ctx->run_dir, path);
    char detail[1024], *data = NULL;
    json_t *o = NULL;
    int r = SS_EINVAL;

    if (rel == NULL || strlen(sha256_hex) != SHA256_HEX_LEN ||
        strspn(sha256_hex, "0123456789abcdef") != SHA256_HEX_LEN ||
        !utf8_valid(rel, strlen(rel)))
        return SS_EINVAL;
    if (hr->dead)
        return SS_ERR;
    if (hr->o->audit == NULL)
        return 0;
    o = json_pack("{s:s,s:I,s:s}", "path", rel, "size", (json_int_t)size,
                  "sha256", sha256_hex);
    if (o == NULL || (data = json_dumps(o, JSON_COMPACT)) == NULL) {
        r = SS_ERR;
        goto out;
    }
    snprintf(detail, sizeof(detail), "%.800s: %llu bytes, sha256 %s", rel,
             (unsigned long long)size, sha256_hex);
    rec.event = "evidence";
    rec.host = hr->h->target.name;
    rec.fingerprint = hr->conn != NULL ? exec_fingerprint(hr->conn) : NULL;
    rec.step = hr->cur < hr->pb->nsteps ? hr->pb->steps[hr->cur].name : NULL;
    rec.phase = hr->phase;
    rec.detail = detail;
    rec.extra_json = data;
    if ((r = audit_append(hr->o->audit, &rec, &e)) < 0)
        r = go_dead(hr, r, &e);
out:
    json_decref(o);
    free(data);
    return r;
}

int action_set_fact(struct action_ctx *ctx, const char *key, long long value)
{
    struct hostrun *hr = ctx_host(ctx);
    struct engine_host *h = hr->h;
    size_t i, n = key != NULL ? strlen(key) : 0;

    if (n == 0 || n > ENGINE_FACT_KEY_MAX)
        return SS_EINVAL;
    for (i = 0; i < h->nfacts; i++)
        if (strcmp(h->facts[i].key, key) == 0)
            break;
    if (i == ENGINE_FACTS_MAX)
        return SS_EINVAL;
    memcpy(h->facts[i].key, key, n + 1);
    h->facts[i].value = value;
    if (i == h->nfacts)
        h->nfacts++;
    /* the step that found it says it too, in its result */
    return note_add(hr, hr->cur, key, NULL, value, NULL);
}

int action_add_check(struct action_ctx *ctx, const struct engine_check *c)
{
    struct engine_host *h = ctx_host(ctx)->h;
    struct engine_check *v;
    size_t i;

    for (i = 0; i < h->nchecks; i++)
        if (strcmp(h->checks[i].account, c->account) == 0) {
            h->checks[i] = *c;
            return 0;
        }
    if (h->nchecks >= ENGINE_CHECKS_MAX)
        return SS_EINVAL;
    if ((v = realloc(h->checks, (h->nchecks + 1) * sizeof(*v))) == NULL)
        return SS_ERR;
    h->checks = v;
    h->checks[h->nchecks++] = *c;
    return 0;
}

bool action_stopping(struct action_ctx *ctx)
{
    return stopping(ctx_host(ctx));
}

int action_note(struct action_ctx *ctx, const char *key, const char *subject,
                long long value, const char *text)
{
    struct hostrun *hr = ctx_host(ctx);

    return note_add(hr, hr->cur, key, subject, value, text);
}

void action_set_survey(struct action_ctx *ctx, struct engine_survey *survey)
{
    struct engine_step_rec *r = cur_rec(ctx_host(ctx));

    if (r == NULL) {
        engine_survey_free(survey);
        return;
    }
    engine_survey_free(r->survey);
    r->survey = survey;
}

int action_render(struct buf *out, struct action_ctx *ctx, const char *tmpl,
                  struct errbuf *err)
{
    return render(ctx_host(ctx), out, tmpl, err);
}

/* Fills an action context for the current step. */
static void ctx_fill(struct action_ctx *ctx, struct hostrun *hr)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->conn = hr->conn;
    ctx->host = hr->h->target.name;
    ctx->run_dir = hr->o->run_dir;
    ctx->run_id = hr->o->run_id;
    ctx->pb = hr->pb;
    ctx->step = &hr->pb->steps[hr->cur];
    ctx->step_index = hr->cur;
    ctx->dry_run = hr->o->dry_run;
    ctx->accounts = hr->o->accounts;
    ctx->restore_password = hr->o->restore_password;
    ctx->engine = hr;
}

bool action_for_account(const struct action_ctx *ctx, const char *addr)
{
    size_t i;

    if (ctx->accounts == NULL)
        return true;
    for (i = 0; i < ctx->accounts->n; i++)
        if (strcmp(ctx->accounts->v[i], addr) == 0)
            return true;
    return false;
}

/* Forgets the per-step scratch, wiping a secret undo. */
static void step_reset(struct hostrun *hr, size_t i, const char *phase)
{
    hr->cur = i;
    hr->phase = phase;
    strlist_release(&hr->cur_results);
    hr->cur_has_results = false;
    if (hr->undo_data != NULL && hr->undo_secret)
        explicit_bzero(hr->undo_data, strlen(hr->undo_data));
    free(hr->undo_data);
    free(hr->commit_data);
    free(hr->evidence);
    free(hr->pivot_why);
    hr->undo_data = hr->commit_data = hr->evidence = hr->pivot_why = NULL;
    hr->undo_secret = false;
}

/* ---- running one step ------------------------------------------------ */

/* The outcome of running something. */
struct outcome {
    bool ok;
    bool kept;    /* undo/uncommit: left the change in place on purpose */
    bool others;  /* ... for accounts the rollback is not for */
    bool unknown; /* may have happened (timeout, connection lost) */
    int exit_status;
    struct errbuf err;
};

/* Classifies a command's return and result into o. */
static void classify(struct outcome *o, int r, const struct exec_result *res,
                     const char *what, const struct errbuf *e)
{
    o->exit_status = res->exit_status;
    o->ok = r == 0 && res->exit_status == 0;
    o->unknown = r == SS_ETIMEOUT || r == SS_ECONNECT || r == SS_ETOOBIG;
    if (o->ok)
        return;
    if (r == 0 && res->exit_signal[0] != '\0')
        errbuf_set(&o->err, SS_EREMOTE, "%s was killed by signal %s", what,
                   res->exit_signal);
    else if (r == 0)
        errbuf_set(&o->err, SS_EREMOTE, "%s exited with status %d%s%.200s",
                   what, res->exit_status, res->err.len > 0 ? ": " : "",
                   res->err.data != NULL ? res->err.data : "");
    else
        errbuf_set(&o->err, r, "%s: %s", what, e->msg);
    /* stderr may end with a newline; keep messages on one line */
    o->err.msg[strcspn(o->err.msg, "\n")] = '\0';
}

/* Runs a rendered shell command for the current step. */
static void run_shell(struct hostrun *hr, const char *phase,
                      const char *command, bool keep_results, struct outcome *o)
{
    struct exec_cmd cmd = EXEC_CMD_INIT;
    struct exec_result res;
    struct errbuf e = ERRBUF_INIT;
    int r;

    memset(o, 0, sizeof(*o));
    cmd.command = command;
    r = host_exec(hr, phase, &cmd, false, &res, &e);
    classify(o, r, &res, phase, &e);
    if (o->ok && keep_results) {
        if (split_lines(&hr->cur_results, &res.out, &o->err) < 0) {
            o->ok = false;
        } else {
            hr->cur_has_results = true;
        }
    }
    exec_result_release(&res);
}

/* Calls an action's function pointer result into an outcome. */
static void action_outcome(struct outcome *o, int r, const struct errbuf *e)
{
    memset(o, 0, sizeof(*o));
    o->ok = r >= 0;
    o->kept = r == ACTION_KEPT || r == ACTION_KEPT_OTHERS;
    o->others = r == ACTION_KEPT_OTHERS;
    o->exit_status = r >= 0 ? 0 : -1;
    o->unknown = r == SS_ETIMEOUT || r == SS_ECONNECT || r == SS_ETOOBIG;
    if (r < 0 || o->kept)
        errbuf_set(&o->err, r < 0 ? r : SS_ERR, "%s", e->msg);
}

/*
 * Names step i's results in the trail ("suspects: a@x, b@x"), so the
 * accounts a run found and acted on are there whatever the excerpts of
 * the commands' output happen to show (a Dovecot rotation sends the
 * address on stdin only).  At most RESULT_NOTE_MAX bytes of names.
 */
#define RESULT_NOTE_MAX 4096
static int audit_results(struct hostrun *hr, size_t i)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct buf b = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;
    size_t k;
    int r = 0;

    if (!hr->cur_has_results || hr->cur_results.n == 0)
        return 0;
    r = buf_printf(
        &b, "%s:", s->register_name != NULL ? s->register_name : s->name);
    for (k = 0; r == 0 && k < hr->cur_results.n && b.len < RESULT_NOTE_MAX; k++)
        r = buf_printf(&b, "%s %s", k > 0 ? "," : "", hr->cur_results.v[k]);
    if (r == 0 && k < hr->cur_results.n)
        r = buf_printf(&b, " and %zu more", hr->cur_results.n - k);
    if (r < 0) {
        errbuf_set(&e, SS_ERR, "out of memory");
        r = go_dead(hr, r, &e);
    } else {
        r = audit_step_note(hr, "result", b.data);
    }
    buf_release(&b);
    return r;
}

/*
 * Moves the step's results into the host state (step i) and names them in
 * the trail; < 0 when the trail failed (the host is dead).
 */
static int keep_results(struct hostrun *hr, size_t i)
{
    struct jstep *st = &hr->js.steps[i];
    int r;

    if (!hr->cur_has_results && hr->pb->steps[i].register_name == NULL)
        return 0;
    r = audit_results(hr, i);
    strlist_release(&st->results);
    st->results = hr->cur_results;
    st->has_results = true;
    memset(&hr->cur_results, 0, sizeof(hr->cur_results));
    hr->cur_has_results = false;
    return r;
}

/*
 * Whether step i's "when" lets it run; when not, why (into why).  A dry
 * run shows a step whose result only a real run can make, and skips it
 * like the real run when the step making the result was itself skipped.
 */
static bool when_ok(struct hostrun *hr, size_t i, char *why, size_t size)
{
    const char *w = hr->pb->steps[i].when, *name;
    const struct strlist *l;
    bool neg, ok;
    int p;

    if (w == NULL)
        return true;
    neg = w[0] == '!';
    name = neg ? w + 1 : w;
    l = host_result(hr, name);
    p = result_step(hr->pb, name);
    if (l == NULL && hr->placeholders &&
        !(p >= 0 && hr->skipped != NULL && hr->skipped[p]))
        return true; /* dry-run without the data: show it */
    ok = neg ? (l == NULL || l->n == 0) : (l != NULL && l->n > 0);
    if (ok)
        return true;
    if (l != NULL)
        snprintf(why, size, "result '%s' is %s here", name,
                 neg ? "not empty" : "empty");
    else if (p >= 0)
        snprintf(why, size,
                 "result '%s' was not produced here (step %d '%s' did "
                 "not run)",
                 name, p + 1, hr->pb->steps[p].name);
    else
        snprintf(why, size, "result '%s' was not produced here", name);
    return false;
}

/*
 * Keeps the evidence an action left for step i as
 * RUN/evidence/<host>/<step>.evidence.json (0600) and records its digest
 * in the trail; a failure stops the host like a journal failure.
 */
static int save_evidence(struct hostrun *hr, size_t i)
{
    struct buf dir = BUF_INIT, path = BUF_INIT;
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    char sha[SHA256_HEX_LEN + 1];
    size_t len;
    int r;

    if (hr->evidence == NULL)
        return 0;
    len = strlen(hr->evidence);
    if (buf_printf(&dir, "%s/evidence/", hr->o->run_dir) < 0 ||
        fsname_escape(&dir, hr->h->target.name) < 0 ||
        buf_printf(&path, "%s/", dir.data) < 0 ||
        fsname_escape(&path, hr->pb->steps[i].name) < 0 ||
        buf_adds(&path, ".evidence.json") < 0 ||
        sha256_hex(sha, hr->evidence, len) < 0) {
        r = go_dead(hr, errbuf_set(&e, SS_ERR, "out of memory"), &e);
        goto out;
    }
    if ((r = fsio_mkdirs(dir.data, 0700, &e)) < 0 ||
        (r = fsio_write_atomic(path.data, hr->evidence, len, 0600, &e)) < 0) {
        r = go_dead(hr, r, &e);
        goto out;
    }
    ctx_fill(&ctx, hr);
    r = action_audit_evidence(&ctx, path.data, len, sha);
out:
    buf_release(&dir);
    buf_release(&path);
    return r;
}

/* Runs read-only step i (also in dry-run) and journals its results. */
static int step_read(struct hostrun *hr, size_t i, struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct journal_record rec;
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    char *cmd = NULL;
    int r;

    step_reset(hr, i, "read");
    rec_restart(hr, i);
    memset(o, 0, sizeof(*o));
    emit(hr, s->name, "start", NULL);
    if (s->ops != NULL) {
        ctx_fill(&ctx, hr);
        r = s->ops->prepare != NULL ? s->ops->prepare(&ctx, s->params, &e) : 0;
        if (r == 0 && s->ops->apply != NULL)
            r = s->ops->apply(&ctx, s->params, &e);
        action_outcome(o, r, &e);
    } else {
        if ((r = render_dup(hr, &cmd, s->run, &o->err)) < 0) {
            emit(hr, s->name, "failed", o->err.msg);
            return r;
        }
        if (hr->missing) {
            emit(hr, s->name, "skipped", "needs results of a real run");
            free(cmd);
            return 1;
        }
        run_shell(hr, "read", cmd, s->register_name != NULL, o);
        free(cmd);
    }
    if (hr->dead)
        return SS_ERR;
    emit(hr, s->name, o->ok ? "done" : "failed", o->ok ? NULL : o->err.msg);
    if (!o->ok)
        return 0;
    if ((r = save_evidence(hr, i)) < 0)
        return r;
    if ((r = keep_results(hr, i)) < 0)
        return r;
    hr->js.steps[i].status = JSTEP_READ;
    journal_record_init(&rec, JOURNAL_READ, (int)i);
    rec.name = s->name;
    if (hr->js.steps[i].has_results) {
        rec.results = &hr->js.steps[i].results;
        rec.register_name = s->register_name;
    }
    return jwrite(hr, &rec);
}

/* A shell step's templates rendered for this host (NULL: not set). */
struct step_cmds {
    char *run;
    char *undo;
    char *commit;
    char *uncommit;
};

static void step_cmds_release(struct step_cmds *c)
{
    free(c->run);
    free(c->undo);
    free(c->commit);
    free(c->uncommit);
    memset(c, 0, sizeof(*c));
}

/* Renders step s's run, undo, commit and uncommit templates into c. */
static int step_cmds_render(struct hostrun *hr, const struct playbook_step *s,
                            struct step_cmds *c, struct errbuf *err)
{
    int r;

    if ((r = render_dup(hr, &c->run, s->run, err)) < 0 ||
        (r = render_dup(hr, &c->undo, s->undo, err)) < 0 ||
        (r = render_dup(hr, &c->commit, s->commit, err)) < 0 ||
        (r = render_dup(hr, &c->uncommit, s->uncommit, err)) < 0)
        return r;
    return 0;
}

/* Notes that a rollback after step i's commit stops at it. */
static void note_no_uncommit(struct hostrun *hr, size_t i)
{
    (void)note_add(hr, i, "no_uncommit", NULL, -1, NULL);
}

/* Keeps a pivot on this host (action_set_pivot) in step i's record. */
static void rec_pivot(struct hostrun *hr, size_t i)
{
    struct engine_step_rec *r = i < hr->h->nsteps ? &hr->h->steps[i] : NULL;

    if (r == NULL || hr->pivot_why == NULL)
        return;
    free(r->pivot_why);
    r->pivot_why = strdup(hr->pivot_why);
}

/* Dry-run of an action step: its prepare says what apply would do. */
static int step_dry_action(struct hostrun *hr, size_t i)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    char cmd[1024];
    int r;

    ctx_fill(&ctx, hr);
    snprintf(cmd, sizeof(cmd), "action %s %s", s->action, s->with_json);
    (void)note_add(hr, i, "command", NULL, -1, cmd);
    if (s->ops->prepare != NULL &&
        (r = s->ops->prepare(&ctx, s->params, &e)) < 0) {
        rec_set(&hr->h->steps[i], ENGINE_STEP_FAILED, e.msg);
        errbuf_set(&hr->h->err, r, "step '%s': %s", s->name, e.msg);
        return hr->dead ? SS_ERR : r;
    }
    if (s->kind != STEP_PIVOT)
        rec_pivot(hr, i);
    if (s->ops->commit != NULL && s->ops->uncommit == NULL &&
        s->kind != STEP_PIVOT)
        note_no_uncommit(hr, i);
    return keep_results(hr, i);
}

/* Runs a shell step's probe (also without "register": the plan shows it). */
static int step_dry_probe(struct hostrun *hr, size_t i, const char *probe)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct outcome o;
    size_t k;

    run_shell(hr, "probe", probe, true, &o);
    if (hr->dead)
        return SS_ERR;
    if (!o.ok) {
        rec_set(&hr->h->steps[i], ENGINE_STEP_FAILED, o.err.msg);
        return errbuf_set(&hr->h->err, o.err.code, "step '%s': %s", s->name,
                          o.err.msg);
    }
    (void)note_add(hr, i, "probe", NULL, (long long)hr->cur_results.n, probe);
    for (k = 0; k < hr->cur_results.n && k < 20; k++)
        (void)note_add(hr, i, "probe_output", NULL, -1, hr->cur_results.v[k]);
    return keep_results(hr, i);
}

/* Notes a shell step's commands (shown with -v). */
static void note_cmds(struct hostrun *hr, size_t i, const struct step_cmds *c)
{
    (void)note_add(hr, i, "command", NULL, -1, c->run);
    if (c->undo != NULL)
        (void)note_add(hr, i, "undo_command", NULL, -1, c->undo);
    if (c->commit != NULL)
        (void)note_add(hr, i, "commit_command", NULL, -1, c->commit);
    if (c->uncommit != NULL)
        (void)note_add(hr, i, "uncommit_command", NULL, -1, c->uncommit);
}

/* Dry-run of a shell step: its probe, then the commands it would run. */
static int step_dry_shell(struct hostrun *hr, size_t i)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct step_cmds c = {0};
    struct errbuf e = ERRBUF_INIT;
    char *probe = NULL;
    int r = 0;

    if (s->probe != NULL) {
        if ((r = render_dup(hr, &probe, s->probe, &e)) < 0)
            goto out;
        if (!hr->missing && (r = step_dry_probe(hr, i, probe)) < 0)
            goto out;
    }
    if ((r = step_cmds_render(hr, s, &c, &e)) < 0)
        goto out;
    note_cmds(hr, i, &c);
    if (c.uncommit == NULL && c.commit != NULL && s->kind != STEP_PIVOT)
        note_no_uncommit(hr, i);
out:
    if (r < 0 && hr->h->err.code == 0)
        errbuf_set(&hr->h->err, r, "step '%s': %s", s->name, e.msg);
    step_cmds_release(&c);
    free(probe);
    return r;
}

/* Dry-run of mutating step i: its probe, and what it would do. */
static int step_dry(struct hostrun *hr, size_t i)
{
    const struct playbook_step *s = &hr->pb->steps[i];

    step_reset(hr, i, "probe");
    rec_restart(hr, i);
    hr->missing = false;
    if (i < hr->h->nsteps)
        hr->h->steps[i].status = ENGINE_STEP_PLANNED;
    return s->ops != NULL ? step_dry_action(hr, i) : step_dry_shell(hr, i);
}

/* Writes a secret undo to RUN/secrets/ (0600); returns its relative name. */
static int save_secret_undo(struct hostrun *hr, size_t i, char **out,
                            struct errbuf *err)
{
    struct buf rel = BUF_INIT, path = BUF_INIT;
    int r;

    *out = NULL;
    r = buf_adds(&rel, "secrets/");
    if (r == 0)
        r = fsname_escape(&rel, hr->h->target.name);
    if (r == 0)
        r = buf_printf(&rel, ".step%zu.json", i + 1);
    if (r == 0)
        r = buf_printf(&path, "%s/secrets", hr->o->run_dir);
    if (r < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    if ((r = fsio_mkdirs(path.data, 0700, err)) < 0)
        goto out;
    buf_reset(&path);
    if (buf_printf(&path, "%s/%s", hr->o->run_dir, rel.data) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    r = fsio_write_atomic(path.data, hr->undo_data, strlen(hr->undo_data), 0600,
                          err);
    if (r == 0)
        *out = buf_detach(&rel);
out:
    buf_release(&rel);
    buf_release(&path);
    return r;
}

/*
 * Makes step i ready to run: the action's prepare (a secret undo goes to
 * its own file, undo_file), or the shell templates rendered.  1 when the
 * step failed before changing anything (o says why), 0 when ready, < 0
 * when the host must stop dead.
 */
static int step_ready(struct hostrun *hr, size_t i, struct step_cmds *c,
                      char **undo_file, struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    int r;

    if (s->ops == NULL) {
        if (step_cmds_render(hr, s, c, &o->err) < 0) {
            o->ok = false;
            return 1;
        }
        note_cmds(hr, i, c);
        return 0;
    }
    ctx_fill(&ctx, hr);
    if (s->ops->prepare != NULL &&
        (r = s->ops->prepare(&ctx, s->params, &e)) < 0) {
        action_outcome(o, r, &e);
        o->unknown = false; /* prepare changes nothing */
        return hr->dead ? SS_ERR : 1;
    }
    if (hr->undo_data != NULL && hr->undo_secret &&
        (r = save_secret_undo(hr, i, undo_file, &e)) < 0)
        return go_dead(hr, r, &e);
    c->run = malloc(strlen(s->action) + strlen(s->with_json) + 16);
    if (c->run == NULL) {
        errbuf_set(&e, SS_ERR, "out of memory");
        return go_dead(hr, SS_ERR, &e);
    }
    sprintf(c->run, "action %s %s", s->action, s->with_json);
    (void)note_add(hr, i, "command", NULL, -1, c->run);
    rec_pivot(hr, i);
    /* a fresh prepare may have cleared results; keep them per run */
    strlist_release(&hr->cur_results);
    hr->cur_has_results = false;
    return 0;
}

/* Keeps in memory what rollback and resume need of step i. */
static int step_remember(struct hostrun *hr, size_t i, const char *kind,
                         const struct step_cmds *c, const char *undo_file)
{
    struct jstep *st = &hr->js.steps[i];
    struct errbuf e = ERRBUF_INIT;

    if (set_str(&st->kind, kind) < 0 ||
        set_str(&st->name, hr->pb->steps[i].name) < 0 ||
        set_str(&st->command, c->run) < 0 || set_str(&st->undo, c->undo) < 0 ||
        set_str(&st->commit, c->commit) < 0 ||
        set_str(&st->uncommit, c->uncommit) < 0 ||
        set_str(&st->undo_file, undo_file) < 0 ||
        set_str(&st->undo_data, hr->undo_secret ? NULL : hr->undo_data) < 0) {
        errbuf_set(&e, SS_ERR, "out of memory");
        return go_dead(hr, SS_ERR, &e);
    }
    return 0;
}

/* Journals the intent of step i, before anything changes on the host. */
static int step_intent(struct hostrun *hr, size_t i, const struct step_cmds *c,
                       const char *undo_file)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct journal_record rec;
    const char *kind;
    int r;

    /* a per-host pivot (action_set_pivot) is journaled as a pivot */
    kind = hr->pivot_why != NULL ? "pivot" : step_kind_name(s->kind);
    if (hr->pivot_why != NULL &&
        (r = audit_step_note(hr, "pivot", hr->pivot_why)) < 0)
        return r;
    if ((r = step_remember(hr, i, kind, c, undo_file)) < 0)
        return r;
    journal_record_init(&rec, JOURNAL_INTENT, (int)i);
    rec.name = s->name;
    rec.kind = kind;
    rec.command = c->run;
    rec.undo = c->undo;
    rec.commit = c->commit;
    rec.uncommit = c->uncommit;
    rec.undo_file = undo_file;
    rec.undo_data = hr->js.steps[i].undo_data;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    hr->js.steps[i].status = JSTEP_INTENT;
    return 0;
}

/* Journals that step i succeeded, with its results and commit data. */
static int step_done(struct hostrun *hr, size_t i, const struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct jstep *st = &hr->js.steps[i];
    struct journal_record rec;
    struct errbuf e = ERRBUF_INIT;
    int r;

    if ((r = save_evidence(hr, i)) < 0)
        return r;
    if ((r = keep_results(hr, i)) < 0)
        return r;
    if (set_str(&st->commit_data, hr->commit_data) < 0) {
        errbuf_set(&e, SS_ERR, "out of memory");
        return go_dead(hr, SS_ERR, &e);
    }
    journal_record_init(&rec, JOURNAL_DONE, (int)i);
    rec.exit_status = o->exit_status;
    rec.commit_data = hr->commit_data;
    if (st->has_results) {
        rec.results = &st->results;
        rec.register_name = s->register_name;
    }
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    st->status = JSTEP_DONE;
    emit(hr, s->name, "done", NULL);
    return 0;
}

/* Journals that step i failed (unknown: it may have happened). */
static int step_failed(struct hostrun *hr, size_t i, const struct outcome *o)
{
    struct jstep *st = &hr->js.steps[i];
    struct journal_record rec;
    int r;

    journal_record_init(&rec, JOURNAL_FAILED, (int)i);
    rec.exit_status = o->exit_status;
    rec.unknown = o->unknown;
    rec.error = o->err.msg;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    st->status = JSTEP_FAILED;
    st->unknown = o->unknown;
    emit(hr, hr->pb->steps[i].name, "failed", o->err.msg);
    return 0;
}

/*
 * Runs mutating step i for real: journal the intent with its undo, run,
 * journal the outcome.  Returns < 0 only when the host must stop dead.
 */
static int step_mutate(struct hostrun *hr, size_t i, struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct step_cmds c = {0};
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    char *undo_file = NULL;
    int r;

    step_reset(hr, i, "prepare");
    rec_restart(hr, i);
    memset(o, 0, sizeof(*o));
    if ((r = step_ready(hr, i, &c, &undo_file, o)) != 0) {
        if (r > 0)
            rec_set(&hr->h->steps[i], ENGINE_STEP_FAILED, o->err.msg);
        r = r < 0 ? r : 0;
        goto out;
    }
    if ((r = step_intent(hr, i, &c, undo_file)) < 0)
        goto out;
    emit(hr, s->name, "start", NULL);
    hr->phase = "apply";
    if (s->ops != NULL) {
        ctx_fill(&ctx, hr);
        r = s->ops->apply(&ctx, s->params, &e);
        action_outcome(o, r, &e);
    } else {
        run_shell(hr, "apply", c.run, s->register_name != NULL, o);
    }
    if (hr->dead)
        r = SS_ERR;
    else
        r = o->ok ? step_done(hr, i, o) : step_failed(hr, i, o);
out:
    step_cmds_release(&c);
    free(undo_file);
    return r;
}

/* Writes the host's "end" record and sets its state. */
static int host_end(struct hostrun *hr, enum host_state state,
                    const char *phase)
{
    struct journal_record rec;

    hr->h->state = state;
    journal_record_init(&rec, JOURNAL_END, -1);
    rec.state = host_state_name(state);
    rec.phase = phase;
    rec.error = hr->h->err.code != 0 ? hr->h->err.msg : NULL;
    return jwrite(hr, &rec);
}

/* Reads a step's secret undo file back (caller wipes and frees). */
static int read_secret_undo(struct hostrun *hr, const char *rel, char **out,
                            struct errbuf *err)
{
    char path[4096];

    if (strstr(rel, "..") != NULL || rel[0] == '/')
        return errbuf_set(err, SS_ECORRUPT, "bad undo file name '%s'", rel);
    snprintf(path, sizeof(path), "%s/%s", hr->o->run_dir, rel);
    return fsio_read_file(out, NULL, path, 1024 * 1024, err);
}

/* Runs the undo of step i as the journal recorded it. */
static void run_undo(struct hostrun *hr, size_t i, struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct jstep *st = &hr->js.steps[i];
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    char *data = NULL;
    int r;

    step_reset(hr, i, "undo");
    if (st->undo != NULL) {
        run_shell(hr, "undo", st->undo, false, o);
        return;
    }
    if (s->ops == NULL || s->ops->undo == NULL) {
        memset(o, 0, sizeof(*o));
        errbuf_set(&o->err, SS_ERR, "no undo recorded for step '%s'", s->name);
        return;
    }
    if (st->undo_file != NULL) {
        if ((r = read_secret_undo(hr, st->undo_file, &data, &e)) < 0) {
            action_outcome(o, r, &e);
            return;
        }
    }
    ctx_fill(&ctx, hr);
    r = s->ops->undo(
        &ctx, data != NULL ? data : (st->undo_data ? st->undo_data : "{}"), &e);
    action_outcome(o, r, &e);
    if (data != NULL) {
        explicit_bzero(data, strlen(data));
        free(data);
    }
}

/*
 * Runs the uncommit of step i (whose commit ran or may have run) as the
 * journal recorded it.  Built-in actions get the undo and commit JSON.
 */
static void run_uncommit(struct hostrun *hr, size_t i, struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct jstep *st = &hr->js.steps[i];
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    char *data = NULL;
    int r;

    step_reset(hr, i, "uncommit");
    if (st->uncommit != NULL) {
        run_shell(hr, "uncommit", st->uncommit, false, o);
        return;
    }
    if (s->ops == NULL || s->ops->uncommit == NULL) {
        memset(o, 0, sizeof(*o));
        errbuf_set(&o->err, SS_ERR, "no uncommit for step '%s'", s->name);
        return;
    }
    if (st->undo_file != NULL &&
        (r = read_secret_undo(hr, st->undo_file, &data, &e)) < 0) {
        action_outcome(o, r, &e);
        return;
    }
    ctx_fill(&ctx, hr);
    r = s->ops->uncommit(
        &ctx, data != NULL ? data : (st->undo_data ? st->undo_data : "{}"),
        st->commit_data ? st->commit_data : "{}", &e);
    action_outcome(o, r, &e);
    if (data != NULL) {
        explicit_bzero(data, strlen(data));
        free(data);
    }
}

/* True when step i's commit ran, may have run, or its uncommit is due. */
static bool commit_touched(const struct jstep *st)
{
    return st->commit_status != JCOMMIT_NONE &&
           st->commit_status != JCOMMIT_UNCOMMITTED;
}

/* Whether step i has an uncommit (journaled command or action's). */
static bool has_uncommit(struct hostrun *hr, size_t i)
{
    const struct playbook_step *s = &hr->pb->steps[i];

    if (hr->js.steps[i].uncommit != NULL)
        return true;
    return hr->js.steps[i].commit == NULL && s->ops != NULL &&
           s->ops->uncommit != NULL;
}

/*
 * Journals that step i's undo or uncommit left its change in place on
 * purpose (o says why): the step stays done, and the host's kept note
 * says so.
 */
static int step_kept(struct hostrun *hr, size_t i, const struct outcome *o,
                     bool *ok)
{
    struct jstep *st = &hr->js.steps[i];
    const char *name = hr->pb->steps[i].name;
    struct journal_record rec;
    int r;

    journal_record_init(&rec, JOURNAL_KEPT, (int)i);
    rec.name = name;
    rec.error = o->err.msg;
    /* kept whole by a rollback for every account: the next one would too */
    rec.settled = !o->others && hr->o->accounts == NULL;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    if (st->commit_status == JCOMMIT_UNCOMMIT_INTENT) {
        st->commit_status = JCOMMIT_DONE;
        emit(hr, name, "uncommit-kept", o->err.msg);
    } else {
        st->status = JSTEP_DONE;
        emit(hr, name, "kept", o->err.msg);
    }
    hr->kept_others |= o->others;
    st->settled = rec.settled;
    if (buf_printf(&hr->kept, "%s%s", hr->kept.len > 0 ? "; " : "",
                   o->err.msg) < 0) {
        hr->h->state = HOST_ATTENTION;
        return errbuf_set(&hr->h->err, SS_ERR, "out of memory");
    }
    *ok = true;
    return 0;
}

/* Uncommits step i, journaled; *ok says whether it worked. */
static int step_uncommit(struct hostrun *hr, size_t i, bool *ok)
{
    struct jstep *st = &hr->js.steps[i];
    const char *name = hr->pb->steps[i].name;
    struct journal_record rec;
    struct outcome o;
    int r;

    *ok = false;
    journal_record_init(&rec, JOURNAL_UNCOMMIT_INTENT, (int)i);
    rec.name = name;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    st->commit_status = JCOMMIT_UNCOMMIT_INTENT;
    emit(hr, name, "uncommit", NULL);
    run_uncommit(hr, i, &o);
    if (hr->dead)
        return SS_ERR;
    if (o.kept)
        return step_kept(hr, i, &o, ok);
    journal_record_init(
        &rec, o.ok ? JOURNAL_UNCOMMITTED : JOURNAL_UNCOMMIT_FAILED, (int)i);
    rec.name = name;
    rec.exit_status = o.exit_status;
    rec.error = o.ok ? NULL : o.err.msg;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    if (o.ok) {
        st->commit_status = JCOMMIT_UNCOMMITTED;
        st->status = JSTEP_UNDONE;
        emit(hr, name, "uncommitted", NULL);
        *ok = true;
        return 0;
    }
    st->commit_status = JCOMMIT_UNCOMMIT_FAILED;
    emit(hr, name, "uncommit-failed", o.err.msg);
    errbuf_set(&hr->h->err, o.err.code, "uncommit of step %zu '%s' failed: %s",
               i + 1, name, o.err.msg);
    return 0;
}

/* True when step i may have changed the host and is not undone. */
static bool maybe_done(const struct jstep *st)
{
    switch (st->status) {
    case JSTEP_DONE:
    case JSTEP_INTENT:
    case JSTEP_UNDO_INTENT:
    case JSTEP_UNDO_FAILED: return true;
    case JSTEP_FAILED: return st->unknown;
    default: return false;
    }
}

/* The kind a step ran as: the journal's word, else the playbook's. */
static enum step_kind step_kind_of(struct hostrun *hr, size_t i)
{
    const char *k = hr->js.steps[i].kind;

    if (k != NULL && strcmp(k, "pivot") == 0)
        return STEP_PIVOT;
    if (k != NULL && strcmp(k, "compensable") == 0)
        return STEP_COMPENSABLE;
    return hr->pb->steps[i].kind;
}

/*
 * Whether step i was kept whole by an earlier rollback for every account
 * (a new password), and this is one too: it would keep it again.
 */
static bool settled(const struct hostrun *hr, size_t i)
{
    return hr->js.steps[i].settled && hr->o->accounts == NULL;
}

/* Whether rollback has anything to do on this host. */
static bool needs_undo(struct hostrun *hr)
{
    size_t i;

    for (i = 0; i < hr->js.nsteps; i++)
        if (maybe_done(&hr->js.steps[i]) && !settled(hr, i))
            return true;
    return false;
}

/* Undoes step i, journaled; *ok says whether it worked (or was kept). */
static int step_undo(struct hostrun *hr, size_t i, bool *ok)
{
    struct jstep *st = &hr->js.steps[i];
    const char *name = hr->pb->steps[i].name;
    struct journal_record rec;
    struct outcome o;
    int r;

    *ok = false;
    journal_record_init(&rec, JOURNAL_UNDO_INTENT, (int)i);
    rec.name = name;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    st->status = JSTEP_UNDO_INTENT;
    emit(hr, name, "undo", NULL);
    run_undo(hr, i, &o);
    if (hr->dead)
        return SS_ERR;
    if (o.kept)
        return step_kept(hr, i, &o, ok);
    journal_record_init(&rec, o.ok ? JOURNAL_UNDONE : JOURNAL_UNDO_FAILED,
                        (int)i);
    rec.name = name;
    rec.exit_status = o.exit_status;
    rec.error = o.ok ? NULL : o.err.msg;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    st->status = o.ok ? JSTEP_UNDONE : JSTEP_UNDO_FAILED;
    if (o.ok) {
        emit(hr, name, "undone", NULL);
        *ok = true;
        return 0;
    }
    emit(hr, name, "undo-failed", o.err.msg);
    errbuf_set(&hr->h->err, o.err.code, "undo of step %zu '%s' failed: %s",
               i + 1, name, o.err.msg);
    return 0;
}

/* Whether step i is containment, kept when the host fails. */
static bool step_keep(const struct hostrun *hr, size_t i)
{
    return hr->pb->steps[i].keep;
}

static int redo_from(struct hostrun *hr);

/*
 * Appends to the host's message what a contained host kept and what is
 * left for resume: "; kept: rotate, purge; left: snapshot, the commit".
 */
static void contained_note(struct hostrun *hr)
{
    struct buf b = BUF_INIT;
    const char *sep = "";
    size_t i;

    buf_adds(&b, "kept:");
    for (i = 0; i < hr->js.nsteps; i++)
        if (step_keep(hr, i) && (maybe_done(&hr->js.steps[i]) ||
                                 hr->js.steps[i].status == JSTEP_FAILED)) {
            buf_printf(&b, "%s %s%s", sep, hr->pb->steps[i].name,
                       hr->js.steps[i].status == JSTEP_DONE
                           ? ""
                           : " (may be partial)");
            sep = ",";
        }
    buf_adds(&b, "; left:");
    sep = "";
    for (i = redo_from(hr) < 0 ? hr->js.nsteps : (size_t)redo_from(hr);
         i < hr->js.nsteps; i++)
        if (hr->js.steps[i].status != JSTEP_DONE &&
            hr->js.steps[i].status != JSTEP_READ &&
            (hr->skipped == NULL || !hr->skipped[i])) {
            buf_printf(&b, "%s %s", sep, hr->pb->steps[i].name);
            sep = ",";
        }
    buf_printf(&b, "%s the commit; 'resume' finishes it", sep);
    if (b.data != NULL)
        errbuf_append(&hr->h->err, "; %s", b.data);
    buf_release(&b);
}

/*
 * Undoes, newest first, every step that may have changed the host; a step
 * whose commit ran (or may have) gets its uncommit instead of its undo.
 * With contain (a failure or an interrupt after containment began), steps
 * marked keep are left as they are and the host ends contained.  Stops at
 * a pivot that is not kept, at a committed step without an uncommit, or
 * at the first failing undo or uncommit: the host then needs attention
 * and the journal says where it stopped.
 */
static int saga_rollback(struct hostrun *hr, bool contain)
{
    const char *phase = contain ? "contain" : "rollback";
    enum host_state end = contain ? HOST_CONTAINED : HOST_ROLLED_BACK;
    size_t i;
    bool ok;
    int r;

    for (i = hr->js.nsteps; i-- > 0;) {
        struct jstep *st = &hr->js.steps[i];
        const char *name = hr->pb->steps[i].name;

        if (!maybe_done(st) || (contain && step_keep(hr, i)) ||
            (!contain && settled(hr, i)))
            continue;
        if (step_kind_of(hr, i) == STEP_PIVOT && !step_keep(hr, i)) {
            errbuf_set(&hr->h->err, SS_ERR,
                       "cannot roll back past pivot step %zu '%s'", i + 1,
                       name);
            return host_end(hr, HOST_ATTENTION, phase);
        }
        if (commit_touched(st)) {
            if (!has_uncommit(hr, i)) {
                errbuf_set(&hr->h->err, SS_ERR,
                           "step %zu '%s' was committed and has no "
                           "uncommit: it cannot be rolled back",
                           i + 1, name);
                return host_end(hr, HOST_ATTENTION, phase);
            }
            if ((r = step_uncommit(hr, i, &ok)) < 0)
                return r;
        } else if ((r = step_undo(hr, i, &ok)) < 0) {
            return r;
        }
        if (!ok)
            return host_end(hr, HOST_ATTENTION, phase);
    }
    if (contain)
        contained_note(hr);
    else if (hr->kept.len > 0) {
        /* a rollback for some accounts leaves the others contained */
        if (hr->kept_others)
            end = HOST_CONTAINED;
        errbuf_set(&hr->h->err, SS_ERR, "kept: %s", hr->kept.data);
    }
    return host_end(hr, end, phase);
}

/* Runs the commit of step i as journaled. */
static void run_commit(struct hostrun *hr, size_t i, struct outcome *o)
{
    const struct playbook_step *s = &hr->pb->steps[i];
    struct jstep *st = &hr->js.steps[i];
    struct action_ctx ctx;
    struct errbuf e = ERRBUF_INIT;
    int r;

    step_reset(hr, i, "commit");
    if (st->commit != NULL) {
        run_shell(hr, "commit", st->commit, false, o);
        return;
    }
    ctx_fill(&ctx, hr);
    r = s->ops->commit(&ctx, st->commit_data ? st->commit_data : "{}", &e);
    action_outcome(o, r, &e);
}

/* Whether step i has something to run at commit. */
static bool has_commit(struct hostrun *hr, size_t i)
{
    const struct playbook_step *s = &hr->pb->steps[i];

    if (hr->js.steps[i].status != JSTEP_DONE)
        return false;
    if (hr->js.steps[i].commit != NULL)
        return true;
    return s->ops != NULL && s->ops->commit != NULL;
}

/* The commit phase: every done step's commit, in step order. */
static int saga_commit(struct hostrun *hr)
{
    struct journal_record rec;
    struct outcome o;
    size_t i;
    int r;

    journal_record_init(&rec, JOURNAL_COMMIT, -1);
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    hr->js.commit_begun = true;
    for (i = 0; i < hr->js.nsteps; i++) {
        struct jstep *st = &hr->js.steps[i];
        const char *name = hr->pb->steps[i].name;

        if (!has_commit(hr, i) || st->commit_status == JCOMMIT_DONE)
            continue;
        journal_record_init(&rec, JOURNAL_COMMIT_INTENT, (int)i);
        rec.name = name;
        if ((r = jwrite(hr, &rec)) < 0)
            return r;
        st->commit_status = JCOMMIT_INTENT;
        emit(hr, name, "commit", NULL);
        run_commit(hr, i, &o);
        if (hr->dead)
            return SS_ERR;
        journal_record_init(
            &rec, o.ok ? JOURNAL_COMMIT_DONE : JOURNAL_COMMIT_FAILED, (int)i);
        rec.name = name;
        rec.exit_status = o.exit_status;
        rec.error = o.ok ? NULL : o.err.msg;
        if ((r = jwrite(hr, &rec)) < 0)
            return r;
        st->commit_status = o.ok ? JCOMMIT_DONE : JCOMMIT_FAILED;
        emit(hr, name, o.ok ? "committed" : "commit-failed",
             o.ok ? NULL : o.err.msg);
        if (!o.ok) {
            errbuf_set(&hr->h->err, o.err.code,
                       "commit of step %zu '%s' failed: %s", i + 1, name,
                       o.err.msg);
            return host_end(hr, HOST_ATTENTION, "commit");
        }
    }
    return host_end(hr, HOST_COMMITTED, "commit");
}

/* Index of a pivot (not kept: see step_keep) that may have run, or -1. */
static int pivot_passed(struct hostrun *hr)
{
    size_t i;

    for (i = 0; i < hr->js.nsteps; i++)
        if (step_kind_of(hr, i) == STEP_PIVOT && !step_keep(hr, i) &&
            maybe_done(&hr->js.steps[i]))
            return (int)i;
    return -1;
}

/*
 * Whether a containment step (keep) may have run: one that failed counts,
 * since it may have done part of its work (one account of two).
 */
static bool kept_passed(struct hostrun *hr)
{
    size_t i;

    for (i = 0; i < hr->js.nsteps; i++)
        if (step_keep(hr, i) && (maybe_done(&hr->js.steps[i]) ||
                                 hr->js.steps[i].status == JSTEP_FAILED))
            return true;
    return false;
}

/*
 * After a failure or an interrupt (the host's message says why): once
 * containment may have begun, keep it and undo the rest (contained);
 * after a pivot that is not kept, stop forward (needs attention); else
 * roll back.  The first record says which, so a resume goes on with it.
 */
static int saga_after_failure(struct hostrun *hr)
{
    struct journal_record rec;
    bool contain = kept_passed(hr);
    int p, r;

    if (!contain && (p = pivot_passed(hr)) >= 0) {
        errbuf_prefix(&hr->h->err,
                      "after pivot step %d '%s' (finish with resume)", p + 1,
                      hr->pb->steps[p].name);
        return host_end(hr, HOST_ATTENTION, "forward");
    }
    journal_record_init(&rec, contain ? JOURNAL_CONTAIN : JOURNAL_ROLLBACK, -1);
    rec.error = hr->h->err.msg;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    if (contain)
        hr->js.contain_begun = true;
    else
        hr->js.rollback_begun = true;
    return saga_rollback(hr, contain);
}

/* A step failed (or we were told to stop): contain, roll back or stop. */
static int saga_failed(struct hostrun *hr, size_t i, const struct errbuf *why)
{
    hr->h->failed_step = (int)i;
    errbuf_set(&hr->h->err, why->code ? why->code : SS_ERR, "step %zu '%s': %s",
               i + 1, hr->pb->steps[i].name, why->msg);
    if (hr->o->dry_run) {
        hr->h->state = HOST_ROLLED_BACK;
        return 0;
    }
    return saga_after_failure(hr);
}

/*
 * The first step a contained host's resume runs: when every kept step is
 * done, the first step after them that is not; else the first step not
 * done (the kept steps that are left may need what was undone, Postfix
 * stopped).  From there on, read-only steps run again (Postfix ran in
 * between, so their view is old) and undone steps run again; done steps
 * stay done.  -1 when nothing is left but the commit.
 */
static int redo_from(struct hostrun *hr)
{
    size_t i, after = 0;

    for (i = 0; i < hr->js.nsteps; i++) {
        if (!step_keep(hr, i))
            continue;
        if (hr->js.steps[i].status != JSTEP_DONE) {
            after = 0;
            break;
        }
        after = i + 1;
    }
    for (i = after; i < hr->js.nsteps; i++)
        if (hr->js.steps[i].status != JSTEP_DONE &&
            hr->js.steps[i].status != JSTEP_READ)
            return (int)i;
    return -1;
}

/* True when a mutating step comes before step i. */
static bool mutating_before(const struct playbook *pb, size_t i)
{
    size_t k;

    for (k = 0; k < i; k++)
        if (pb->steps[k].kind != STEP_READ_ONLY)
            return true;
    return false;
}

/* The forward saga from the first step not yet done, then the commit. */
static int saga_forward(struct hostrun *hr)
{
    const struct playbook *pb = hr->pb;
    struct errbuf why = ERRBUF_INIT;
    struct outcome o;
    char skip[256];
    int from = hr->redo ? redo_from(hr) : -1;
    size_t i;
    int r;

    for (i = 0; i < pb->nsteps; i++) {
        const struct playbook_step *s = &pb->steps[i];
        enum jstep_status stt = hr->js.steps[i].status;

        if (stt == JSTEP_DONE || (hr->redo && (from < 0 || (int)i < from)) ||
            (stt == JSTEP_READ && (from < 0 || (int)i < from)))
            continue;
        if (stopping(hr)) {
            hr->h->interrupted = true;
            errbuf_set(&why, SS_ERR, "interrupted");
            return saga_failed(hr, i, &why);
        }
        hr->missing = false;
        if (!when_ok(hr, i, skip, sizeof(skip))) {
            if (hr->skipped != NULL)
                hr->skipped[i] = true;
            if (i < hr->h->nsteps)
                rec_set(&hr->h->steps[i], ENGINE_STEP_SKIPPED, skip);
            continue;
        }
        if (s->kind == STEP_READ_ONLY) {
            if ((r = step_read(hr, i, &o)) < 0)
                return r;
            if (r == 0 && !o.ok && hr->o->dry_run && mutating_before(pb, i)) {
                /* it may need the changes a dry run does not make */
                (void)note_add(hr, i, "needs_changes_above", NULL, -1, NULL);
                continue;
            }
            if (r == 0 && !o.ok)
                return saga_failed(hr, i, &o.err);
        } else if (hr->o->dry_run) {
            if ((r = step_dry(hr, i)) < 0) {
                if (hr->dead)
                    return r;
                hr->h->failed_step = (int)i;
                hr->h->state = HOST_ROLLED_BACK;
                return 0;
            }
        } else {
            if ((r = step_mutate(hr, i, &o)) < 0)
                return r;
            if (!o.ok)
                return saga_failed(hr, i, &o.err);
        }
    }
    if (hr->o->dry_run) {
        hr->h->state = HOST_DRY_RUN;
        return 0;
    }
    return saga_commit(hr);
}

/* ---- hosts ----------------------------------------------------------- */

/* Takes STATE/locks/<host>.lock; SS_ELOCKED when another run has it. */
static int host_lock(struct hostrun *hr, struct errbuf *err)
{
    struct buf path = BUF_INIT;
    int fd = -1, r = SS_ERR;

    hr->lock_fd = -1;
    if (hr->o->lock_dir == NULL)
        return 0;
    if ((r = fsio_mkdirs(hr->o->lock_dir, 0700, err)) < 0)
        return r;
    if (buf_printf(&path, "%s/", hr->o->lock_dir) < 0 ||
        fsname_escape(&path, hr->h->target.name) < 0 ||
        buf_adds(&path, ".lock") < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot open lock '%s'", path.data);
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            r = errbuf_set(err, SS_ELOCKED,
                           "another run is acting on '%s' (lock '%s')",
                           hr->h->target.name, path.data);
        else
            r = errbuf_errno(err, SS_ERR, "cannot lock '%s'", path.data);
        goto out;
    }
    hr->lock_fd = fd;
    fd = -1;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    buf_release(&path);
    return r;
}

/*
 * Takes the lock on the host itself (hostlock.h) before anything else runs
 * there; a lock held by a live run refuses the host.  A host whose lock was
 * not taken is left unconnected: while hr->conn is set, the run holds it.
 */
static int host_lock_remote(struct hostrun *hr)
{
    struct errbuf e = ERRBUF_INIT, e2 = ERRBUF_INIT;
    struct exec_result res;
    struct exec_cmd c;
    struct buf cmd = BUF_INIT;
    char op[HOSTLOCK_OPERATOR_MAX + 1];
    int r;

    hostlock_operator(op, sizeof(op));
    exec_result_init(&res);
    r = hostlock_command(&cmd, HOSTLOCK_TAKE, HOSTLOCK_DIR, hr->o->run_id, op,
                         &e2);
    if (r == 0) {
        hostlock_cmd(&c, cmd.data);
        r = host_exec(hr, "lock", &c, false, &res, &e);
        if (!hr->dead)
            r = hostlock_answer(HOSTLOCK_TAKE, r, &res, &e, &e2);
    }
    exec_result_release(&res);
    buf_release(&cmd);
    if (r < 0) {
        /* a dead trail already set the state (go_dead) */
        if (!hr->dead) {
            hr->h->state = r == SS_ETIMEOUT || r == SS_ECONNECT
                               ? HOST_UNREACHABLE
                               : HOST_REFUSED;
            errbuf_set(&hr->h->err, r, "%s", e2.msg);
        }
        /* a lock we may have taken goes with the connection */
        exec_close(hr->conn);
        hr->conn = NULL;
    }
    return r;
}

/*
 * Releases the host's lock when the host ended, so the next run may have
 * it.  Its result is deliberately ignored: a lock left behind goes stale
 * when the connection closes right after.
 */
static void host_unlock_remote(struct hostrun *hr)
{
    struct errbuf e = ERRBUF_INIT;
    struct exec_result res;
    struct exec_cmd c;
    struct buf cmd = BUF_INIT;

    exec_result_init(&res);
    if (hostlock_command(&cmd, HOSTLOCK_RELEASE, HOSTLOCK_DIR, hr->o->run_id,
                         NULL, &e) == 0) {
        hostlock_cmd(&c, cmd.data);
        (void)host_exec(hr, "unlock", &c, false, &res, &e);
    }
    exec_result_release(&res);
    buf_release(&cmd);
}

/*
 * Connects and, with remote_lock, takes the lock on the host; a refused
 * key or a held lock (local or on the host) refuses the host.
 */
static int host_connect(struct hostrun *hr)
{
    struct errbuf e = ERRBUF_INIT;
    int r;

    if (!hr->o->dry_run && (r = host_lock(hr, &e)) < 0) {
        hr->h->state = HOST_REFUSED;
        errbuf_set(&hr->h->err, r, "%s", e.msg);
        return r;
    }
    r = exec_connect(&hr->conn, hr->o->ex, &hr->h->target, &e);
    if (r < 0) {
        hr->conn = NULL;
        hr->h->state = r == SS_EHOSTKEY ? HOST_REFUSED : HOST_UNREACHABLE;
        errbuf_set(&hr->h->err, r, "%s", e.msg);
        return r;
    }
    if (!hr->o->remote_lock || hr->o->dry_run)
        return 0;
    return host_lock_remote(hr);
}

/* Passes the journal's test hook on with the host's name. */
static int hook_adapter(void *arg, size_t write_no)
{
    struct hostrun *hr = arg;

    return hr->o->journal_hook(hr->o->journal_hook_arg, hr->h->target.name,
                               write_no);
}

/* Opens the host's journal (not in dry-run) and writes "begin". */
static int host_journal(struct hostrun *hr)
{
    struct journal_record rec;
    struct errbuf e = ERRBUF_INIT;
    char path[4096];
    int r;

    if (hr->o->dry_run)
        return 0;
    if (journal_path(path, sizeof(path), hr->o->run_dir, hr->h->target.name) <
        0) {
        errbuf_set(&hr->h->err, SS_ERR, "host name too long");
        hr->h->state = HOST_ATTENTION;
        return SS_ERR;
    }
    if ((r = journal_open(&hr->j, path, &e)) < 0) {
        errbuf_set(&hr->h->err, r, "%s", e.msg);
        hr->h->state = HOST_ATTENTION;
        return r;
    }
    if (hr->o->journal_hook != NULL)
        journal_set_hook(hr->j, hook_adapter, hr);
    journal_record_init(&rec, JOURNAL_BEGIN, -1);
    rec.host = hr->h->target.name;
    rec.run_id = hr->o->run_id;
    rec.playbook_sha256 = hr->pb->sha256;
    rec.fingerprint = exec_fingerprint(hr->conn);
    return jwrite(hr, &rec);
}

/* Sizes the step states to the playbook; a longer journal is corrupt. */
static int js_fit(struct hostrun *hr)
{
    struct jstep *v;
    size_t n = hr->pb->nsteps;

    if (hr->js.nsteps > n)
        return errbuf_set(&hr->h->err, SS_ECORRUPT,
                          "the journal has steps the playbook has not");
    if (hr->js.nsteps == n)
        return 0;
    v = realloc(hr->js.steps, n * sizeof(*v));
    if (v == NULL)
        return errbuf_set(&hr->h->err, SS_ERR, "out of memory");
    memset(v + hr->js.nsteps, 0, (n - hr->js.nsteps) * sizeof(*v));
    hr->js.steps = v;
    hr->js.nsteps = n;
    return 0;
}

/* Reads the host's journal into hr->js; 1 when there is none. */
static int load_journal(struct hostrun *hr)
{
    struct errbuf e = ERRBUF_INIT;
    char path[4096];
    int r;

    if (journal_path(path, sizeof(path), hr->o->run_dir, hr->h->target.name) <
        0)
        return errbuf_set(&hr->h->err, SS_ERR, "host name too long");
    r = journal_replay_file(&hr->js, path, &e);
    if (r == SS_ENOENT) {
        journal_state_init(&hr->js);
        return 1;
    }
    if (r < 0)
        return errbuf_set(&hr->h->err, r, "%s", e.msg);
    if (hr->js.playbook_sha256 != NULL &&
        strcmp(hr->js.playbook_sha256, hr->pb->sha256) != 0)
        return errbuf_set(&hr->h->err, SS_ECORRUPT,
                          "the journal was written for another playbook");
    return js_fit(hr);
}

/* respond: the whole saga on one host. */
static void host_respond(struct hostrun *hr)
{
    if (js_fit(hr) < 0) {
        hr->h->state = HOST_ATTENTION;
        return;
    }
    if (host_connect(hr) < 0 || host_journal(hr) < 0)
        return;
    emit(hr, NULL, "connected", exec_fingerprint(hr->conn));
    saga_forward(hr);
}

/* Writes the "rollback" record and rolls back. */
static int start_rollback(struct hostrun *hr, const char *why)
{
    struct journal_record rec;
    int r;

    journal_record_init(&rec, JOURNAL_ROLLBACK, -1);
    rec.error = why;
    if ((r = jwrite(hr, &rec)) < 0)
        return r;
    hr->js.rollback_begun = true;
    return saga_rollback(hr, false);
}

/* rollback: undo what the journal says may have been done. */
static void host_rollback(struct hostrun *hr)
{
    int p, r = load_journal(hr);

    if (r < 0) {
        hr->h->state = HOST_ATTENTION;
        return;
    }
    if (r == 1 || !needs_undo(hr)) {
        hr->h->state = HOST_NOTHING;
        return;
    }
    if ((p = pivot_passed(hr)) >= 0) {
        /* undoing only what came after it would leave the host half-way */
        hr->h->state = HOST_ATTENTION;
        errbuf_set(&hr->h->err, SS_ERR,
                   "not rolled back, nothing changed: step %d '%s' %s and "
                   "is a pivot here (it cannot be undone); the host stays "
                   "as the run left it%s",
                   p + 1, hr->pb->steps[p].name,
                   hr->js.steps[p].status == JSTEP_DONE ? "ran"
                                                        : "may have run",
                   hr->js.ended && hr->js.end_state != NULL &&
                           strcmp(hr->js.end_state, "committed") == 0
                       ? " (committed)"
                       : "; 'resume' finishes it forward");
        return;
    }
    if (host_connect(hr) < 0 || host_journal(hr) < 0)
        return;
    start_rollback(hr, "rollback requested");
}

/* Whether the journal's last record is an "end" with state name. */
static bool ended_as(const struct hostrun *hr, const char *name)
{
    return hr->js.ended && hr->js.end_state != NULL &&
           strcmp(hr->js.end_state, name) == 0;
}

/* True when some step failed (the run was on its way to roll back). */
static bool any_failed(struct hostrun *hr)
{
    size_t i;

    for (i = 0; i < hr->js.nsteps; i++)
        if (hr->js.steps[i].status == JSTEP_FAILED)
            return true;
    return false;
}

/*
 * resume, once it has finished a containment the crash had cut off (or
 * the one a failed step called for): the host goes forward at once, as
 * the resume of a contained host does, instead of waiting for another
 * resume.
 */
static void resume_contained(struct hostrun *hr)
{
    if (hr->dead || hr->h->state != HOST_CONTAINED || stopping(hr))
        return;
    errbuf_clear(&hr->h->err);
    hr->h->failed_step = -1;
    hr->redo = true;
    saga_forward(hr);
}

/* resume: finish what the run was doing on this host. */
static void host_resume(struct hostrun *hr)
{
    enum host_state before = hr->h->state;
    int r = load_journal(hr);

    if (r < 0) {
        hr->h->state = HOST_ATTENTION;
        return;
    }
    if (r == 1) {
        /* never started here: run it now if the run meant to */
        if (before == HOST_PENDING || before == HOST_SKIPPED) {
            host_respond(hr);
            return;
        }
        hr->h->state = HOST_NOTHING;
        return;
    }
    if (ended_as(hr, "committed") || ended_as(hr, "rolled-back")) {
        hr->h->state = HOST_NOTHING;
        return;
    }
    if (hr->js.rollback_begun && !needs_undo(hr)) {
        /* a rollback that was cut just before its "end" */
        hr->h->state = HOST_NOTHING;
        return;
    }
    if (host_connect(hr) < 0 || host_journal(hr) < 0)
        return;
    if (ended_as(hr, "contained")) {
        /* forward again: containment stays, the rest runs anew */
        hr->redo = true;
        saga_forward(hr);
    } else if (hr->js.rollback_begun || hr->js.contain_begun) {
        if (saga_rollback(hr, hr->js.contain_begun) == 0)
            resume_contained(hr);
    } else if (hr->js.commit_begun) {
        saga_commit(hr);
    } else if (any_failed(hr) && (kept_passed(hr) || pivot_passed(hr) < 0)) {
        errbuf_set(&hr->h->err, SS_ERR,
                   "a step had failed before the interruption: %s",
                   hr->js.last_error != NULL ? hr->js.last_error : "?");
        if (saga_after_failure(hr) == 0)
            resume_contained(hr);
    } else if (saga_forward(hr) == 0 && !hr->redo) {
        /* e.g. the dead-man timer started Postfix while the controller
         * was dead: the hold refused, the host was contained; once more
         * from the stop */
        resume_contained(hr);
    }
}

/* Whether a host's end counts against --max-fail. */
static bool state_failed(enum host_state s)
{
    return s == HOST_ROLLED_BACK || s == HOST_ATTENTION ||
           s == HOST_UNREACHABLE || s == HOST_REFUSED || s == HOST_CONTAINED;
}

/* pool: one host's job. */
static void host_job(void *arg, size_t i)
{
    struct run *run = arg;
    struct hostrun hr;
    struct errbuf e = ERRBUF_INIT;
    char detail[ERRBUF_MSG_MAX + 64];
    enum host_state before;

    memset(&hr, 0, sizeof(hr));
    hr.run = run;
    hr.o = run->o;
    hr.pb = run->o->pb;
    hr.h = &run->hosts[i];
    hr.lock_fd = -1;
    hr.cur = (size_t)-1;
    hr.placeholders = run->o->dry_run;
    hr.skipped = calloc(hr.pb->nsteps + 1, sizeof(*hr.skipped));
    journal_state_init(&hr.js);
    before = hr.h->state; /* resume starts from what run.json says */
    engine_host_reset(hr.h);
    hr.h->state = before;
    hr.h->start_ms = now_ms();
    if ((hr.h->steps = calloc(hr.pb->nsteps + 1, sizeof(*hr.h->steps))) != NULL)
        hr.h->nsteps = hr.pb->nsteps;
    if (run->mode == MODE_ROLLBACK)
        host_rollback(&hr);
    else if (run->mode == MODE_RESUME)
        host_resume(&hr);
    else
        host_respond(&hr);
    if (hr.h->state == HOST_PENDING) {
        /* a dead journal leaves no end state; say so */
        hr.h->state = HOST_ATTENTION;
    }
    snprintf(detail, sizeof(detail), "%s%s%s", host_state_name(hr.h->state),
             hr.h->err.code != 0 ? ": " : "",
             hr.h->err.code != 0 ? hr.h->err.msg : "");
    hr.cur = (size_t)-1;
    hr.h->end_ms = now_ms();
    if (hr.conn != NULL && run->o->remote_lock && !run->o->dry_run)
        host_unlock_remote(&hr);
    if ((hr.conn != NULL || hr.h->state != HOST_NOTHING) &&
        audit_event(&hr, "host-end", detail, &e) < 0) {
        /* the state is final and journaled: say the trail lacks its end */
        errbuf_append(&hr.h->err, "%sthe audit trail could not record it: %s",
                      hr.h->err.code != 0 ? "; " : "", e.msg);
        if (hr.h->err.code == 0)
            hr.h->err.code = SS_ERR;
    }
    emit(&hr, NULL, "state", detail);
    step_reset(&hr, (size_t)-1, NULL);
    journal_close(hr.j);
    exec_close(hr.conn);
    if (hr.lock_fd >= 0)
        close(hr.lock_fd);
    journal_state_release(&hr.js);
    buf_release(&hr.kept);
    free(hr.skipped);
    for (size_t m = 0; m < HOST_MEMO_SLOTS; m++)
        if (hr.memo[m].free_fn != NULL)
            hr.memo[m].free_fn(hr.memo[m].p);
    pthread_mutex_lock(&run->lock);
    /* a rollback that rolled back (or kept others contained) did its job */
    if (state_failed(hr.h->state) &&
        !(run->mode == MODE_ROLLBACK &&
          (hr.h->state == HOST_ROLLED_BACK || hr.h->state == HOST_CONTAINED)))
        run->failed++;
    if (run->o->on_host_end != NULL)
        run->o->on_host_end(run->o->host_end_arg, i);
    pthread_mutex_unlock(&run->lock);
}

/* pool: --max-fail and the stop flag decide whether host i starts. */
static int should_start(void *arg, size_t i)
{
    struct run *run = arg;
    const struct engine_opts *o = run->o;
    bool go = true;

    pthread_mutex_lock(&run->lock);
    if (o->stop != NULL && *o->stop != 0)
        go = false;
    else if (o->max_fail >= 0 && !o->max_fail_percent &&
             run->failed > (size_t)o->max_fail)
        go = false;
    else if (o->max_fail >= 0 && o->max_fail_percent &&
             run->failed * 100 > (size_t)o->max_fail * run->n)
        go = false;
    if (!go) {
        run->hosts[i].state = HOST_SKIPPED;
        errbuf_set(&run->hosts[i].err, SS_ERR, "%s",
                   o->stop != NULL && *o->stop != 0
                       ? "not started: interrupted"
                       : "not started: too many hosts failed (--max-fail)");
        if (o->on_host_end != NULL)
            o->on_host_end(o->host_end_arg, i);
    }
    pthread_mutex_unlock(&run->lock);
    return go;
}

/* Records a run-level event in the trail. */
static int audit_run(const struct engine_opts *o, const char *event,
                     const char *detail, struct errbuf *err)
{
    struct audit_record rec = AUDIT_RECORD_INIT;

    if (o->audit == NULL)
        return 0;
    rec.event = event;
    rec.detail = detail;
    return audit_append(o->audit, &rec, err);
}

/* Runs mode over every host. */
static int engine_run(struct engine_host *hosts, size_t n,
                      const struct engine_opts *o, enum engine_mode mode,
                      struct errbuf *err)
{
    static const char *const mode_names[] = {"respond", "rollback", "resume"};
    struct errbuf e = ERRBUF_INIT;
    char detail[512];
    struct run run;
    int r;

    if (o->ex == NULL || o->pb == NULL || o->run_dir == NULL)
        return errbuf_set(err, SS_EINVAL, "engine: missing options");
    memset(&run, 0, sizeof(run));
    run.o = o;
    run.hosts = hosts;
    run.n = n;
    run.mode = mode;
    snprintf(detail, sizeof(detail), "%s%s playbook '%s' on %zu hosts",
             mode_names[mode], o->dry_run ? " --dry-run" : "", o->pb->name, n);
    if ((r = audit_run(o, "run-start", detail, err)) < 0) {
        errbuf_prefix(err, "nothing started: cannot write the audit trail");
        return r;
    }
    pthread_mutex_init(&run.lock, NULL);
    pool_run(n, o->forks, host_job, should_start, &run);
    snprintf(detail, sizeof(detail), "%s: %zu of %zu hosts failed",
             mode_names[mode], run.failed, n);
    /*
     * Ignored on purpose: every host's end is final, journaled and in the
     * trail by now (or its failure is in that host's error); run-end only
     * repeats the count that run.json holds.
     */
    (void)audit_run(o, "run-end", detail, &e);
    pthread_mutex_destroy(&run.lock);
    return 0;
}

int engine_respond(struct engine_host *hosts, size_t n,
                   const struct engine_opts *o, struct errbuf *err)
{
    return engine_run(hosts, n, o, MODE_RESPOND, err);
}

int engine_rollback(struct engine_host *hosts, size_t n,
                    const struct engine_opts *o, struct errbuf *err)
{
    if (o->dry_run)
        return errbuf_set(err, SS_EINVAL, "rollback has no dry-run");
    return engine_run(hosts, n, o, MODE_ROLLBACK, err);
}

int engine_resume(struct engine_host *hosts, size_t n,
                  const struct engine_opts *o, struct errbuf *err)
{
    if (o->dry_run)
        return errbuf_set(err, SS_EINVAL, "resume has no dry-run");
    return engine_run(hosts, n, o, MODE_RESUME, err);
}
