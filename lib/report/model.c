/* The report model: readers that take memory (run.json, journal, evidence). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spamstop/fsio.h"
#include "spamstop/journal.h"
#include "spamstop/postfix.h"
#include "spamstop/report.h"
#include "spamstop/text.h"
#include "spamstop/rundir.h"
#include "report/report_int.h"

static const char *const report_queues[REPORT_NQUEUES] = {
    "maildrop", "incoming", "active", "deferred", "hold"};

/* qshape's columns: minutes up to which a message falls in a bucket. */
static const long long report_age_limits[REPORT_NAGES - 1] = {
    5, 10, 20, 40, 80, 160, 320, 640, 1280};
static const char *const report_age_labels[REPORT_NAGES] = {
    "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"};

/* Names the format; see report.h. */
int report_format_parse(enum report_format *out, const char *s)
{
    if (strcmp(s, "md") == 0 || strcmp(s, "markdown") == 0)
        *out = REPORT_MD;
    else if (strcmp(s, "text") == 0 || strcmp(s, "txt") == 0)
        *out = REPORT_TEXT;
    else if (strcmp(s, "html") == 0)
        *out = REPORT_HTML;
    else if (strcmp(s, "json") == 0)
        *out = REPORT_JSON;
    else
        return SS_EINVAL;
    return 0;
}

/* Names queue i. */
const char *report_queue_name(size_t i)
{
    return i < REPORT_NQUEUES ? report_queues[i] : "?";
}

/* Names age bucket i. */
const char *report_age_label(size_t i)
{
    return i < REPORT_NAGES ? report_age_labels[i] : "?";
}

/* Length of the UTF-8 sequence at s, 0 if invalid or a C1 control. */
static size_t report_utf8_len(const unsigned char *s, size_t n)
{
    size_t k = utf8_seq_len(s, n);

    /* U+0080..U+009F are C1 controls: not text for a reader. */
    if (k == 2 && s[0] == 0xc2 && s[1] <= 0x9f)
        return 0;
    return k;
}

/* Copies s as clean text; see report.h. */
char *report_clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t n = strlen((const char *)p), i = 0, o = 0, k;
    char *out = malloc((n < REPORT_VALUE_MAX ? n : REPORT_VALUE_MAX) + 1);

    if (out == NULL)
        return NULL;
    while (i < n) {
        k = report_utf8_len(p + i, n - i);
        if (o + (k > 0 ? k : 1) > REPORT_VALUE_MAX)
            break;
        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, p + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    return out;
}

/* Replaces *dst by a clean copy of s (NULL stays NULL); SS_ERR on ENOMEM. */
int report_set(char **dst, const char *s)
{
    char *c = NULL;

    if (s != NULL && (c = report_clean(s)) == NULL)
        return SS_ERR;
    free(*dst);
    *dst = c;
    return 0;
}

/* Pushes a clean copy of s. */
int report_push(struct strlist *l, const char *s)
{
    char *c = report_clean(s);
    int r;

    if (c == NULL)
        return SS_ERR;
    r = strlist_push(l, c);
    free(c);
    return r;
}

/* Frees a values list; see report_int.h. */
void report_values_release(struct report_values *v)
{
    size_t i;

    for (i = 0; i < v->n; i++)
        free(v->v[i].value);
    free(v->v);
    memset(v, 0, sizeof(*v));
}

static void report_findings_release(struct report_findings *f)
{
    size_t i;

    for (i = 0; i < f->n_suspects; i++) {
        struct report_suspect *s = &f->suspects[i];
        free(s->username);
        free(s->reason);
        report_values_release(&s->clients);
        report_values_release(&s->helos);
        report_values_release(&s->sender_domains);
        report_values_release(&s->subjects);
        report_values_release(&s->recipient_domains);
        strlist_release(&s->flags);
        free(s->log.top_client);
    }
    for (i = 0; i < f->n_scripts; i++) {
        free(f->scripts[i].script);
        report_values_release(&f->scripts[i].sender_domains);
    }
    free(f->suspects);
    free(f->scripts);
    free(f->step);
    memset(f, 0, sizeof(*f));
}

static void report_queue_release(struct report_queue *q)
{
    size_t i;

    for (i = 0; i < q->n_rows; i++)
        free(q->rows[i].domain);
    free(q->rows);
    memset(q, 0, sizeof(*q));
}

static void report_host_release(struct report_host *h)
{
    size_t i;

    free(h->name);
    free(h->state);
    free(h->trail_state);
    free(h->trail_error);
    free(h->end_state);
    free(h->end_phase);
    free(h->last_error);
    for (i = 0; i < h->n_steps; i++) {
        free(h->steps[i].name);
        free(h->steps[i].action);
        free(h->steps[i].kind);
        free(h->steps[i].reg);
        free(h->steps[i].status);
        free(h->steps[i].commit);
        free(h->steps[i].error);
        strlist_release(&h->steps[i].results);
    }
    free(h->steps);
    report_findings_release(&h->findings);
    report_queue_release(&h->before);
    report_queue_release(&h->after);
    strlist_release(&h->rotated);
    strlist_release(&h->restored);
    strlist_release(&h->hashed);
    free(h->backend);
    strlist_release(&h->purged_ids);
    strlist_release(&h->purged_accounts);
    free(h->purged_counts);
    free(h->purge_fate);
    free(h->purge_held_file);
    for (i = 0; i < h->n_checks; i++) {
        free(h->checks[i].account);
        free(h->checks[i].password);
        free(h->checks[i].via);
        free(h->checks[i].why);
        free(h->checks[i].first_client);
    }
    free(h->checks);
    for (i = 0; i < h->n_files; i++)
        free(h->files[i].path);
    free(h->files);
    strlist_release(&h->notes);
    memset(h, 0, sizeof(*h));
}

void report_init(struct report *r)
{
    memset(r, 0, sizeof(*r));
}

void report_release(struct report *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->run_id);
    free(r->playbook);
    free(r->outcome);
    free(r->audit_reason);
    strlist_release(&r->param_names);
    strlist_release(&r->param_values);
    for (i = 0; i < r->n_hosts; i++)
        report_host_release(&r->hosts[i]);
    free(r->hosts);
    report_init(r);
}

/* Reads run.json through rundir's parser; see report.h. */
int report_parse_run(struct report *r, const char *text, size_t len,
                     struct errbuf *err)
{
    struct run_info ri;
    size_t i;
    int rc;

    if ((rc = run_info_parse(&ri, text, len, err)) < 0)
        return rc;
    rc = SS_ERR;
    if (report_set(&r->run_id, ri.run_id) < 0 ||
        report_set(&r->playbook, ri.playbook) < 0 ||
        report_set(&r->outcome, ri.outcome) < 0)
        goto out;
    /* a run not confirmed on the terminal stayed a dry run */
    r->dry_run = ri.dry_run ||
                 (ri.outcome != NULL && strcmp(ri.outcome, "dry-run") == 0);
    r->started = (long long)ri.started;
    r->finished = (long long)ri.finished;
    r->anchor_records = (size_t)ri.audit_records;
    memcpy(r->anchor_head, ri.audit_head, sizeof(r->anchor_head));
    for (i = 0; i < ri.param_names.n; i++)
        if (report_push(&r->param_names, ri.param_names.v[i]) < 0 ||
            report_push(&r->param_values, ri.param_values.v[i]) < 0)
            goto out;
    if (ri.hosts.n > 0 &&
        (r->hosts = calloc(ri.hosts.n, sizeof(*r->hosts))) == NULL)
        goto out;
    for (i = 0; i < ri.hosts.n; i++) {
        r->n_hosts++;
        /* the raw name: it finds the journal; renderers escape it */
        if ((r->hosts[i].name = strdup(ri.hosts.v[i])) == NULL ||
            report_set(&r->hosts[i].state, ri.host_states.v[i]) < 0)
            goto out;
    }
    rc = 0;
out:
    run_info_release(&ri);
    if (rc < 0)
        errbuf_set(err, rc, "out of memory reading run.json");
    return rc;
}

/* Reads the steps of the playbook copy into every host. */
int report_parse_playbook(struct report *r, const char *text, size_t len,
                          struct errbuf *err)
{
    json_t *root = json_loadb(text, len, 0, NULL), *steps, *s;
    size_t i, k, n;
    int rc = SS_ERR;

    steps = json_object_get(root, "steps");
    if (!json_is_array(steps)) {
        json_decref(root);
        return errbuf_set(err, SS_ECORRUPT, "playbook.json is damaged");
    }
    n = json_array_size(steps);
    for (k = 0; k < r->n_hosts; k++) {
        struct report_host *h = &r->hosts[k];
        if (n > 0 && (h->steps = calloc(n, sizeof(*h->steps))) == NULL)
            goto out;
        json_array_foreach(steps, i, s)
        {
            const char *name = json_string_value(json_object_get(s, "name"));
            const char *action =
                json_string_value(json_object_get(s, "action"));
            const char *kind = json_string_value(json_object_get(s, "kind"));
            const char *reg = json_string_value(json_object_get(s, "register"));
            struct report_step *st = &h->steps[h->n_steps++];
            if (report_set(&st->name, name != NULL ? name : "?") < 0 ||
                report_set(&st->action, action != NULL ? action : "shell") <
                    0 ||
                report_set(&st->kind, kind != NULL ? kind : "?") < 0 ||
                report_set(&st->reg, reg) < 0 ||
                report_set(&st->status, "not started") < 0 ||
                report_set(&st->commit, "") < 0)
                goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        errbuf_set(err, rc, "out of memory reading playbook.json");
    return rc;
}

/* Words for a step's replayed status. */
static const char *report_status_name(const struct jstep *s)
{
    switch (s->status) {
    case JSTEP_NONE: return "not started";
    case JSTEP_READ: return "read";
    case JSTEP_INTENT: return "begun, outcome unknown";
    case JSTEP_DONE: return "done";
    case JSTEP_FAILED: return s->unknown ? "failed, outcome unknown" : "failed";
    case JSTEP_UNDO_INTENT: return "undo begun, outcome unknown";
    case JSTEP_UNDONE: return "undone";
    case JSTEP_UNDO_FAILED: return "undo failed";
    }
    return "?";
}

/* Words for a step's replayed commit status. */
static const char *report_commit_name(enum jcommit_status c)
{
    switch (c) {
    case JCOMMIT_NONE: return "";
    case JCOMMIT_INTENT: return "commit begun, outcome unknown";
    case JCOMMIT_DONE: return "committed";
    case JCOMMIT_FAILED: return "commit failed";
    case JCOMMIT_UNCOMMIT_INTENT: return "uncommit begun, outcome unknown";
    case JCOMMIT_UNCOMMITTED: return "uncommitted";
    case JCOMMIT_UNCOMMIT_FAILED: return "uncommit failed";
    }
    return "?";
}

/* Keeps, per step, the time of its last record and its last error. */
static int report_journal_lines(struct report_host *h, const char *text,
                                size_t len)
{
    const char *p = text, *end = text + len, *nl;
    json_t *o;
    long long t;
    json_int_t step;

    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        p = nl + 1;
        if (o == NULL)
            continue;
        t = json_is_integer(json_object_get(o, "time"))
                ? (long long)json_integer_value(json_object_get(o, "time"))
                : 0;
        if (t > 0 && h->begun_at == 0)
            h->begun_at = t;
        if (t > 0)
            h->ended_at = t;
        step = json_is_integer(json_object_get(o, "step"))
                   ? json_integer_value(json_object_get(o, "step"))
                   : -1;
        if (step >= 0 && (size_t)step < h->n_steps) {
            struct report_step *st = &h->steps[step];
            const char *e = json_string_value(json_object_get(o, "error"));
            if (t > 0)
                st->at = t;
            const char *type = json_string_value(json_object_get(o, "type"));
            if ((e != NULL && report_set(&st->error, e) < 0) ||
                (type != NULL && strcmp(type, "failed") == 0 &&
                 strcmp(st->kind, "read-only") == 0 &&
                 report_set(&st->status, "failed") < 0)) {
                json_decref(o);
                return SS_ERR;
            }
        }
        json_decref(o);
    }
    return 0;
}

/* The accounts a rotate step acted on: its results, else its undo data. */
static int report_rotate(struct report_host *h, const struct jstep *js)
{
    json_t *u = js->undo_data ? json_loads(js->undo_data, 0, NULL) : NULL;
    struct strlist *dst = NULL;
    json_t *a, *v;
    size_t i;
    int r = 0;

    if (js->status == JSTEP_DONE || js->status == JSTEP_INTENT ||
        js->status == JSTEP_UNDO_INTENT || js->status == JSTEP_UNDO_FAILED ||
        (js->status == JSTEP_FAILED && js->unknown))
        dst = &h->rotated;
    else if (js->status == JSTEP_UNDONE)
        dst = &h->restored;
    if (u != NULL) {
        const char *b = json_string_value(json_object_get(u, "backend"));
        if (b != NULL && report_set(&h->backend, b) < 0)
            r = SS_ERR;
        h->recoverable = json_is_true(json_object_get(u, "recoverable"));
        json_array_foreach(json_object_get(u, "hashed"), i, v)
        {
            if (json_is_string(v) && r == 0)
                r = report_push(&h->hashed, json_string_value(v));
        }
    }
    if (dst == NULL)
        goto out;
    if (js->has_results && js->results.n > 0) {
        for (i = 0; i < js->results.n && r == 0; i++)
            r = report_push(dst, js->results.v[i]);
    } else if ((a = json_object_get(u, "accounts")) != NULL) {
        json_array_foreach(a, i, v)
        {
            if (json_is_string(v) && r == 0)
                r = report_push(dst, json_string_value(v));
        }
    }
    if (r == 0 && dst == &h->rotated && js->status != JSTEP_DONE)
        r = report_push(&h->notes, "the rotate step's outcome is unknown: a "
                                   "password may or may not have been reset");
out:
    json_decref(u);
    return r;
}

/* Counts one held message of account. */
static int report_purge_count(struct report_host *h, const char *account)
{
    size_t i, *c;

    for (i = 0; i < h->purged_accounts.n; i++)
        if (strcmp(h->purged_accounts.v[i], account) == 0) {
            h->purged_counts[i]++;
            return 0;
        }
    c = realloc(h->purged_counts,
                (h->purged_accounts.n + 1) * sizeof(*h->purged_counts));
    if (c == NULL)
        return SS_ERR;
    h->purged_counts = c;
    c[h->purged_accounts.n] = 1;
    return report_push(&h->purged_accounts, account);
}

/*
 * The purge's hold record file (ev: the host's evidence folder), lines
 * "ID INODE SIZE CTIME ACCOUNT": the held ids and whose they were.  A
 * missing or odd file leaves a note; the journal still says the fate.
 */
int report_load_purged(struct report_host *h, const char *ev,
                       struct errbuf *err)
{
    struct buf path = BUF_INIT;
    char *text = NULL, *line, *nl, *sp, *id_end;
    size_t len = 0, bad = 0;
    int r;

    if (h->purge_held_file == NULL)
        return 0;
    if (strchr(h->purge_held_file, '/') != NULL ||
        buf_printf(&path, "%s/%s", ev, h->purge_held_file) < 0) {
        buf_release(&path);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    if ((r = fsio_read_file(&text, &len, path.data, REPORT_HELD_MAX, err)) <
        0) {
        errbuf_clear(err);
        r = report_push(&h->notes, "the purge's hold record is not in the "
                                   "evidence folder: its messages are not "
                                   "listed") < 0
                ? errbuf_set(err, SS_ERR, "out of memory")
                : 0;
        goto out;
    }
    for (line = text; line < text + len; line = nl + 1) {
        if ((nl = memchr(line, '\n', (size_t)(text + len - line))) == NULL)
            nl = text + len;
        *nl = '\0';
        id_end = strchr(line, ' ');
        sp = strrchr(line, ' ');
        if (id_end == NULL || sp == id_end) {
            bad++;
            continue;
        }
        *id_end = '\0';
        if (report_push(&h->purged_ids, line) < 0 ||
            report_purge_count(h, sp + 1) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
        h->purged_total++;
    }
    r = bad > 0 && report_push(&h->notes, "the purge's hold record has "
                                          "malformed lines, left out") < 0
            ? errbuf_set(err, SS_ERR, "out of memory")
            : 0;
out:
    free(text);
    buf_release(&path);
    return r;
}

/* What became of the messages a purge step held, and whose they were. */
static int report_purge(struct report_host *h, const struct jstep *js)
{
    json_t *c, *pairs, *v;
    const char *fate = NULL;
    size_t i;
    int r = 0;

    if (js->status == JSTEP_DONE && js->commit_status == JCOMMIT_DONE)
        fate = "deleted";
    else if (js->status == JSTEP_DONE)
        fate = "on hold";
    else if (js->commit_status == JCOMMIT_UNCOMMITTED)
        fate = "restored to hold";
    else if (js->status == JSTEP_UNDONE)
        fate = "released";
    if (fate == NULL || js->commit_data == NULL)
        return 0;
    if ((c = json_loads(js->commit_data, 0, NULL)) == NULL)
        return 0;
    /* the hold record in its own evidence file: read with the evidence */
    if (json_is_string(json_object_get(c, "held_file")) &&
        report_set(&h->purge_held_file,
                   json_string_value(json_object_get(c, "held_file"))) < 0)
        r = SS_ERR;
    /* "held" rows [ID, ACCOUNT, INODE, SIZE, CTIME]; older runs "pairs" */
    if ((pairs = json_object_get(c, "held")) == NULL)
        pairs = json_object_get(c, "pairs");
    json_array_foreach(pairs, i, v)
    {
        const char *id = json_string_value(json_array_get(v, 0));
        const char *acct = json_string_value(json_array_get(v, 1));
        if (id == NULL || acct == NULL || r < 0)
            continue;
        if (report_push(&h->purged_ids, id) < 0 ||
            report_purge_count(h, acct) < 0)
            r = SS_ERR;
        h->purged_total++;
    }
    json_decref(c);
    if (r == 0)
        r = report_set(&h->purge_fate, fate);
    return r;
}

/* Replays a host's journal; see report.h. */
int report_parse_journal(struct report_host *h, const char *text, size_t len,
                         struct errbuf *err)
{
    struct journal_state js;
    size_t i, k;
    int r;

    if ((r = journal_replay_string(&js, text, len, err)) < 0)
        return r;
    h->journaled = true;
    r = SS_ERR;
    h->rollback_begun = js.rollback_begun;
    h->commit_begun = js.commit_begun;
    if ((js.ended && report_set(&h->end_state, js.end_state) < 0) ||
        (js.ended && report_set(&h->end_phase, js.end_phase) < 0) ||
        report_set(&h->last_error, js.last_error) < 0)
        goto out;
    for (i = 0; i < js.nsteps && i < h->n_steps; i++) {
        const struct jstep *s = &js.steps[i];
        struct report_step *st = &h->steps[i];
        if (report_set(&st->status, report_status_name(s)) < 0 ||
            report_set(&st->commit, report_commit_name(s->commit_status)) < 0)
            goto out;
        for (k = 0; s->has_results && k < s->results.n; k++)
            if (report_push(&st->results, s->results.v[k]) < 0)
                goto out;
        if (strcmp(st->action, "rotate") == 0 && report_rotate(h, s) < 0)
            goto out;
        if (strcmp(st->action, "purge") == 0 && report_purge(h, s) < 0)
            goto out;
    }
    if (report_journal_lines(h, text, len) < 0)
        goto out;
    r = 0;
out:
    journal_state_release(&js);
    if (r < 0)
        errbuf_set(err, r, "out of memory reading the journal");
    return r;
}

/* A non-negative JSON integer as size_t (0 when absent). */
static size_t report_size(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0
               ? (size_t)json_integer_value(v)
               : 0;
}

/* A JSON integer epoch (-1 when absent). */
static long long report_epoch(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Reads {"top": [{"value", "count"}], "distinct", "other"[, "capped"]}. */
static int report_values_read(struct report_values *out, json_t *o)
{
    json_t *top = json_object_get(o, "top"), *it;
    size_t i, n = json_array_size(top);

    memset(out, 0, sizeof(*out));
    out->distinct = report_size(o, "distinct");
    out->other = report_size(o, "other");
    out->capped = json_is_true(json_object_get(o, "capped"));
    if (n == 0)
        return 0;
    if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
        return SS_ERR;
    json_array_foreach(top, i, it)
    {
        const char *v = json_string_value(json_object_get(it, "value"));
        if (v == NULL)
            continue;
        if ((out->v[out->n].value = report_clean(v)) == NULL)
            return SS_ERR;
        out->v[out->n++].count = report_size(it, "count");
    }
    return 0;
}

/* Reads a suspect's log evidence (null or absent: not present). */
static int report_log_read(struct report_log *l, json_t *o)
{
    const char *top = json_string_value(json_object_get(o, "top_client"));

    if (!json_is_object(o))
        return 0;
    l->present = true;
    l->messages = report_size(o, "messages");
    l->clients = report_size(o, "clients");
    l->top_client_messages = report_size(o, "top_client_messages");
    l->first = report_epoch(o, "first") > 0 ? report_epoch(o, "first") : 0;
    l->last = report_epoch(o, "last") > 0 ? report_epoch(o, "last") : 0;
    l->sent = report_size(o, "sent");
    l->deferred = report_size(o, "deferred");
    l->bounced = report_size(o, "bounced");
    return report_set(&l->top_client, top);
}

/* Reads one suspect object. */
static int report_suspect_read(struct report_suspect *s, json_t *o)
{
    json_t *share = json_object_get(o, "share"), *v;
    size_t i;
    const char *u = json_string_value(json_object_get(o, "username"));
    const char *why = json_string_value(json_object_get(o, "reason"));

    if (report_set(&s->username, u != NULL ? u : "?") < 0 ||
        report_set(&s->reason, why) < 0)
        return SS_ERR;
    s->messages = report_size(o, "messages");
    s->share = json_is_number(share) ? json_number_value(share) : 0.0;
    s->flagged = json_is_true(json_object_get(o, "flagged"));
    s->foreign_senders = report_size(o, "foreign_senders");
    s->first_arrival = report_epoch(o, "first_arrival");
    s->last_arrival = report_epoch(o, "last_arrival");
    s->n_queue_ids = json_is_integer(json_object_get(o, "queue_id_count"))
                         ? report_size(o, "queue_id_count")
                         : json_array_size(json_object_get(o, "queue_ids"));
    s->watch = json_is_true(json_object_get(o, "watch"));
    s->backscatter = report_size(o, "backscatter");
    json_array_foreach(json_object_get(o, "flags"), i, v)
    {
        if (json_is_string(v) && report_push(&s->flags, json_string_value(v)))
            return SS_ERR;
    }
    if (report_log_read(&s->log, json_object_get(o, "log")) < 0 ||
        report_values_read(&s->recipient_domains,
                           json_object_get(o, "recipient_domains")) < 0 ||
        report_values_read(&s->clients, json_object_get(o, "clients")) < 0 ||
        report_values_read(&s->helos, json_object_get(o, "helos")) < 0 ||
        report_values_read(&s->sender_domains,
                           json_object_get(o, "sender_domains")) < 0 ||
        report_values_read(&s->subjects, json_object_get(o, "subjects")) < 0)
        return SS_ERR;
    return 0;
}

/* Reads a service step's mail-down time; see report.h. */
int report_parse_service(struct report_host *h, const char *text, size_t len,
                         struct errbuf *err)
{
    json_t *root = json_loadb(text, len, 0, NULL), *v;
    json_int_t ms;

    if (!json_is_object(root)) {
        json_decref(root);
        return errbuf_set(err, SS_EINVAL,
                          "service evidence is not a JSON object");
    }
    v = json_object_get(root, "mail_down_ms");
    if (v != NULL && !json_is_null(v)) {
        ms = json_is_integer(v) ? json_integer_value(v) : -1;
        if (ms < 0 || ms > POSTFIX_DOWN_MAX_MS) {
            json_decref(root);
            return report_push(&h->notes,
                               "a service step's evidence holds a mail-down "
                               "time that is not a number of milliseconds "
                               "from 0 to 31 days: not shown") < 0
                       ? errbuf_set(err, SS_ERR, "out of memory")
                       : 0;
        }
        h->mail_down_known = true;
        h->mail_down_ms = (long long)ms;
        v = json_object_get(root, "restarted_by");
        h->mail_down_by_timer =
            json_is_string(v) && strcmp(json_string_value(v), "timer") == 0;
    }
    json_decref(root);
    return 0;
}

/* An integer member of o, or dflt when absent or of another type. */
static long long report_int(const json_t *o, const char *key, long long dflt)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* One account of the verify evidence into c (clean copies). */
static int report_check_of(struct report_check *c, const json_t *o)
{
    static const char *const keys[] = {"account", "password", "via", "why",
                                       "first_client"};
    char **dst[] = {&c->account, &c->password, &c->via, &c->why,
                    &c->first_client};
    size_t k;

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        if (report_set(dst[k], json_string_value(json_object_get(o, keys[k]))) <
            0)
            return SS_ERR;
    c->since = report_int(o, "since", -1);
    c->watched_s = report_int(o, "watched_s", 0);
    c->logins = report_int(o, "logins", -1);
    c->first_login = report_int(o, "first_login", -1);
    return c->account != NULL && c->password != NULL ? 0 : SS_EINVAL;
}

/* Reads the verify step's evidence; see report.h. */
int report_parse_verify(struct report_host *h, const char *text, size_t len,
                        struct errbuf *err)
{
    json_t *root = json_loadb(text, len, 0, NULL), *a, *v;
    struct report_check *c;
    size_t i;
    int r = 0;

    a = json_object_get(root, "accounts");
    if (!json_is_array(a) || json_array_size(a) > 4096) {
        json_decref(root);
        return errbuf_set(err, SS_EINVAL,
                          "verify evidence is not the "
                          "step's object");
    }
    json_array_foreach(a, i, v)
    {
        c = realloc(h->checks, (h->n_checks + 1) * sizeof(*c));
        if (c == NULL) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            break;
        }
        h->checks = c;
        c = &h->checks[h->n_checks++];
        memset(c, 0, sizeof(*c));
        if ((r = report_check_of(c, v)) < 0) {
            r = r == SS_ERR ? errbuf_set(err, SS_ERR, "out of memory")
                            : errbuf_set(err, SS_EINVAL,
                                         "verify evidence: an account "
                                         "without its name or verdict");
            break;
        }
    }
    json_decref(root);
    return r;
}

/* Reads identify's findings; see report.h. */
int report_parse_findings(struct report_findings *out, const char *text,
                          size_t len, struct errbuf *err)
{
    json_t *root = json_loadb(text, len, 0, NULL), *a, *v, *th;
    size_t i, n;
    int r = SS_ERR;

    if (!json_is_object(root)) {
        json_decref(root);
        return errbuf_set(err, SS_ECORRUPT,
                          "the findings are not a JSON "
                          "object");
    }
    th = json_object_get(root, "thresholds");
    out->min_messages = report_size(th, "min_messages");
    v = json_object_get(th, "min_share");
    out->min_share = json_is_number(v) ? json_number_value(v) : 0.0;
    out->total = report_size(root, "total");
    out->authenticated = report_size(root, "authenticated");
    out->scripted = report_size(root, "scripted");
    out->other = report_size(root, "other");
    out->flagged_messages = report_size(root, "flagged_messages");
    out->backscatter = report_size(root, "backscatter");
    out->remainder = report_size(root, "remainder");
    out->incomplete = report_size(root, "incomplete");
    out->anomalies = report_size(root, "anomalies");
    a = json_object_get(root, "suspects");
    n = json_array_size(a);
    if (n > 0 && (out->suspects = calloc(n, sizeof(*out->suspects))) == NULL)
        goto out;
    json_array_foreach(a, i, v)
    {
        if (!json_is_object(v))
            continue;
        if (report_suspect_read(&out->suspects[out->n_suspects++], v) < 0)
            goto out;
    }
    a = json_object_get(root, "scripts");
    n = json_array_size(a);
    if (n > 0 && (out->scripts = calloc(n, sizeof(*out->scripts))) == NULL)
        goto out;
    json_array_foreach(a, i, v)
    {
        struct report_script *s;
        const char *name = json_string_value(json_object_get(v, "script"));
        if (!json_is_object(v))
            continue;
        s = &out->scripts[out->n_scripts++];
        if (report_set(&s->script, name != NULL ? name : "?") < 0)
            goto out;
        s->messages = report_size(v, "messages");
        s->first_arrival = report_epoch(v, "first_arrival");
        s->last_arrival = report_epoch(v, "last_arrival");
        if (report_values_read(&s->sender_domains,
                               json_object_get(v, "sender_domains")) < 0)
            goto out;
    }
    out->present = true;
    r = 0;
out:
    json_decref(root);
    if (r < 0)
        errbuf_set(err, r, "out of memory reading the findings");
    return r;
}

/* The index of a queue name, or REPORT_NQUEUES. */
static size_t report_queue_index(const char *name)
{
    size_t i;

    for (i = 0; i < REPORT_NQUEUES; i++)
        if (strcmp(report_queues[i], name) == 0)
            return i;
    return REPORT_NQUEUES;
}

/* The age bucket of a message that arrived at t, seen at now. */
static size_t report_age_bucket(long long now, long long t)
{
    long long min = t >= 0 && now > t ? (now - t) / 60 : 0;
    size_t i;

    for (i = 0; i < REPORT_NAGES - 1; i++)
        if (min < report_age_limits[i])
            return i;
    return REPORT_NAGES - 1;
}

/* One message for the age table: its sender domain and bucket. */
struct report_dom {
    char *domain;
    size_t bucket;
};

static int report_dom_cmp(const void *a, const void *b)
{
    return strcmp(((const struct report_dom *)a)->domain,
                  ((const struct report_dom *)b)->domain);
}

static int report_row_cmp(const void *a, const void *b)
{
    const struct report_shape_row *x = a, *y = b;

    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->domain, y->domain);
}

/* The lower-cased domain of a sender, "<>" for the null sender. */
static char *report_sender_domain(const char *sender)
{
    const char *at;
    char *d;
    size_t i;

    if (sender == NULL || sender[0] == '\0')
        return report_clean("<>");
    at = strrchr(sender, '@');
    d = report_clean(at != NULL ? at + 1 : sender);
    for (i = 0; d != NULL && d[i] != '\0'; i++)
        if (d[i] >= 'A' && d[i] <= 'Z')
            d[i] = (char)(d[i] - 'A' + 'a');
    return d;
}

/* Groups the messages by domain into rows, the top ones kept. */
static int report_shape(struct report_queue *out, struct report_dom *d,
                        size_t n)
{
    struct report_shape_row *rows = NULL;
    size_t i, k, nrows = 0;

    if (n == 0)
        return 0;
    qsort(d, n, sizeof(*d), report_dom_cmp);
    if ((rows = calloc(n, sizeof(*rows))) == NULL)
        return SS_ERR;
    for (i = 0; i < n; i++) {
        if (nrows == 0 || strcmp(rows[nrows - 1].domain, d[i].domain) != 0) {
            rows[nrows].domain = d[i].domain;
            d[i].domain = NULL;
            nrows++;
        }
        rows[nrows - 1].total++;
        rows[nrows - 1].ages[d[i].bucket]++;
    }
    qsort(rows, nrows, sizeof(*rows), report_row_cmp);
    if (nrows > REPORT_SHAPE_MAX) {
        struct report_shape_row *o = &rows[REPORT_SHAPE_MAX];
        for (i = REPORT_SHAPE_MAX + 1; i < nrows; i++) {
            o->total += rows[i].total;
            for (k = 0; k < REPORT_NAGES; k++)
                o->ages[k] += rows[i].ages[k];
            free(rows[i].domain);
        }
        free(o->domain);
        o->domain = report_clean("(other domains)");
        nrows = REPORT_SHAPE_MAX + 1;
        if (o->domain == NULL) {
            for (i = 0; i < nrows; i++)
                free(rows[i].domain);
            free(rows);
            return SS_ERR;
        }
    }
    out->rows = rows;
    out->n_rows = nrows;
    return 0;
}

/* Counts a postqueue -j listing; see report.h. */
int report_parse_queue(struct report_queue *out, const char *text, size_t len,
                       long long at, struct errbuf *err)
{
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    struct report_dom *d = NULL;
    size_t i, k, nd = 0;
    int r;

    if ((r = postfix_queue_parse_string(&q, text, len, err)) < 0)
        goto out;
    r = SS_ERR;
    if (at <= 0)
        for (i = 0; i < q.n; i++)
            if (q.entries[i].arrival_time > at)
                at = q.entries[i].arrival_time;
    out->at = at;
    out->malformed = q.malformed;
    if (q.n > 0 && (d = calloc(q.n, sizeof(*d))) == NULL)
        goto out;
    for (i = 0; i < q.n; i++) {
        const struct postfix_queue_entry *e = &q.entries[i];
        k = report_queue_index(e->queue_name);
        if (k < REPORT_NQUEUES)
            out->counts[k]++;
        out->total++;
        d[nd].bucket = report_age_bucket(at, e->arrival_time);
        out->ages[d[nd].bucket]++;
        if ((d[nd].domain = report_sender_domain(e->sender)) == NULL)
            goto out;
        nd++;
    }
    if (report_shape(out, d, nd) < 0)
        goto out;
    out->present = true;
    r = 0;
out:
    for (i = 0; i < nd; i++)
        free(d[i].domain);
    free(d);
    postfix_queue_release(&q);
    if (r == SS_ERR)
        errbuf_set(err, r, "out of memory counting the queue");
    return r;
}

static int report_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Derives the queue after the run; see report.h. */
int report_derive_after(struct report_host *h, const char *listing, size_t len,
                        struct errbuf *err)
{
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    char **ids = NULL;
    size_t i, k, hold = report_queue_index("hold"),
                 deferred = report_queue_index("deferred");
    int r;

    if (!h->before.present || h->purge_fate == NULL)
        return 0;
    if ((r = postfix_queue_parse_string(&q, listing, len, err)) < 0)
        goto out;
    r = SS_ERR;
    if (h->purged_ids.n > 0) {
        if ((ids = malloc(h->purged_ids.n * sizeof(*ids))) == NULL)
            goto out;
        memcpy(ids, h->purged_ids.v, h->purged_ids.n * sizeof(*ids));
        qsort(ids, h->purged_ids.n, sizeof(*ids), report_str_cmp);
    }
    memcpy(h->after.counts, h->before.counts, sizeof(h->after.counts));
    h->after.total = h->before.total;
    for (i = 0; i < q.n && ids != NULL; i++) {
        const char *id = q.entries[i].queue_id;
        if (bsearch(&id, ids, h->purged_ids.n, sizeof(*ids), report_str_cmp) ==
            NULL)
            continue;
        k = report_queue_index(q.entries[i].queue_name);
        if (k >= REPORT_NQUEUES)
            continue;
        h->after.counts[k]--;
        if (strcmp(h->purge_fate, "deleted") == 0)
            h->after.total--;
        else if (strcmp(h->purge_fate, "released") == 0)
            h->after.counts[k == hold ? hold : deferred]++;
        else
            h->after.counts[hold]++;
    }
    h->after.present = true;
    h->after.derived = true;
    h->after.at = h->ended_at;
    r = 0;
out:
    free(ids);
    postfix_queue_release(&q);
    if (r == SS_ERR)
        errbuf_set(err, r, "out of memory deriving the queue after the run");
    return r;
}

/* An audit record's "time" ("2026-11-28T09:58:50.123Z") as an epoch; 0. */
static long long report_trail_time(json_t *o)
{
    const char *s = json_string_value(json_object_get(o, "time"));
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm);
}

/* Notes what one of h's trail records tells of a step or of the host. */
static int report_trail_record(struct report_host *h, json_t *o)
{
    const char *ev = json_string_value(json_object_get(o, "event"));
    const char *step = json_string_value(json_object_get(o, "step"));
    const char *phase = json_string_value(json_object_get(o, "phase"));
    const char *detail = json_string_value(json_object_get(o, "detail"));
    size_t i;

    if (ev == NULL)
        return 0;
    if (strcmp(ev, "host-end") == 0 && detail != NULL) {
        size_t n = strcspn(detail, ":");
        free(h->trail_state);
        if ((h->trail_state = strndup(detail, n)) == NULL ||
            report_set(&h->trail_error,
                       detail[n] == ':'
                           ? detail + n + 1 + (detail[n + 1] == ' ')
                           : NULL) < 0)
            return SS_ERR;
        return 0;
    }
    for (i = 0; step != NULL && i < h->n_steps; i++) {
        struct report_step *st = &h->steps[i];
        if (strcmp(st->name, step) != 0)
            continue;
        if (strcmp(ev, "result") == 0 || strcmp(ev, "evidence") == 0 ||
            (strcmp(ev, "command") == 0 && phase != NULL &&
             strcmp(phase, "read") == 0))
            st->trail |= REPORT_TRAIL_READ;
        else if (strcmp(ev, "command") == 0 && phase != NULL &&
                 strcmp(phase, "probe") == 0)
            st->trail |= REPORT_TRAIL_PROBE;
        st->trail_at = report_trail_time(o);
        break;
    }
    return 0;
}

/* Reads h's part of the trail; see report.h. */
int report_match_trail(struct report_host *h, const char *trail, size_t len,
                       struct errbuf *err)
{
    const char *p = trail, *end = trail + len, *nl;
    const char *sums[2];
    json_t *o;
    size_t i, k;
    int r = 0;

    while (p < end && r == 0) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        p = nl + 1;
        if (o == NULL)
            continue;
        if (json_is_string(json_object_get(o, "host")) &&
            strcmp(json_string_value(json_object_get(o, "host")), h->name) !=
                0) {
            json_decref(o);
            continue;
        }
        sums[0] = json_string_value(json_object_get(o, "stdout_sha256"));
        sums[1] = json_string_value(
            json_object_get(json_object_get(o, "data"), "sha256"));
        for (i = 0; i < h->n_files; i++)
            for (k = 0; k < 2; k++)
                if (sums[k] != NULL && strcmp(sums[k], h->files[i].sha256) == 0)
                    h->files[i].in_trail = true;
        if (json_is_string(json_object_get(o, "host")))
            r = report_trail_record(h, o);
        json_decref(o);
    }
    return r < 0 ? errbuf_set(err, SS_ERR, "out of memory reading the trail")
                 : 0;
}
