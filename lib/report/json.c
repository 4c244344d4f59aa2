/* Renders the report model as one machine-readable JSON object. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "spamstop/report.h"

/* A JSON string of clean text (null for NULL). */
static json_t *rj_str(const char *s)
{
    char *c;
    json_t *j;

    if (s == NULL)
        return json_null();
    if ((c = report_clean(s)) == NULL)
        return NULL;
    j = json_string(c);
    free(c);
    return j;
}

/* An epoch, or null when unknown. */
static json_t *rj_time(long long t)
{
    return t > 0 ? json_integer((json_int_t)t) : json_null();
}

static json_t *rj_size(size_t n)
{
    return json_integer((json_int_t)n);
}

/* Sets key to value, consuming it; false when anything failed. */
static bool rj_set(json_t *o, const char *key, json_t *value)
{
    return o != NULL && value != NULL &&
           json_object_set_new(o, key, value) == 0;
}

static json_t *rj_list(const struct strlist *l)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < l->n; i++)
        if (json_array_append_new(a, rj_str(l->v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *rj_values(const struct report_values *v)
{
    json_t *o = json_object(), *top = json_array();
    size_t i;

    for (i = 0; top != NULL && i < v->n; i++) {
        json_t *it = json_object();
        if (!rj_set(it, "value", rj_str(v->v[i].value)) ||
            !rj_set(it, "count", rj_size(v->v[i].count)) ||
            json_array_append_new(top, it) < 0) {
            json_decref(top);
            top = NULL;
        }
    }
    if (!rj_set(o, "top", top) ||
        !rj_set(o, "distinct", rj_size(v->distinct)) ||
        !rj_set(o, "other", rj_size(v->other)) ||
        (v->capped && !rj_set(o, "capped", json_true()))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A suspect's log evidence, or null. */
static json_t *rj_log(const struct report_log *l)
{
    json_t *o;

    if (!l->present)
        return json_null();
    o = json_object();
    if (!rj_set(o, "messages", rj_size(l->messages)) ||
        !rj_set(o, "clients", rj_size(l->clients)) ||
        !rj_set(o, "top_client", rj_str(l->top_client)) ||
        !rj_set(o, "top_client_messages", rj_size(l->top_client_messages)) ||
        !rj_set(o, "first", rj_time(l->first)) ||
        !rj_set(o, "last", rj_time(l->last)) ||
        !rj_set(o, "sent", rj_size(l->sent)) ||
        !rj_set(o, "deferred", rj_size(l->deferred)) ||
        !rj_set(o, "bounced", rj_size(l->bounced))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *rj_findings(const struct report_findings *f)
{
    json_t *o, *a, *s;
    size_t i;

    if (!f->present)
        return json_null();
    o = json_object();
    if (!rj_set(o, "step", rj_str(f->step)) ||
        !rj_set(o, "total", rj_size(f->total)) ||
        !rj_set(o, "authenticated", rj_size(f->authenticated)) ||
        !rj_set(o, "scripted", rj_size(f->scripted)) ||
        !rj_set(o, "other", rj_size(f->other)) ||
        !rj_set(o, "flagged_messages", rj_size(f->flagged_messages)) ||
        !rj_set(o, "remainder", rj_size(f->remainder)) ||
        !rj_set(o, "incomplete", rj_size(f->incomplete)) ||
        !rj_set(o, "anomalies", rj_size(f->anomalies)) ||
        !rj_set(o, "min_messages", rj_size(f->min_messages)) ||
        !rj_set(o, "min_share", json_real(f->min_share)) ||
        !rj_set(o, "suspects", a = json_array()))
        goto fail;
    for (i = 0; i < f->n_suspects; i++) {
        const struct report_suspect *x = &f->suspects[i];
        s = json_object();
        if (json_array_append_new(a, s) < 0 ||
            !rj_set(s, "username", rj_str(x->username)) ||
            !rj_set(s, "messages", rj_size(x->messages)) ||
            !rj_set(s, "share", json_real(x->share)) ||
            !rj_set(s, "flagged", json_boolean(x->flagged)) ||
            !rj_set(s, "reason", rj_str(x->reason)) ||
            !rj_set(s, "foreign_senders", rj_size(x->foreign_senders)) ||
            !rj_set(s, "first_arrival", rj_time(x->first_arrival)) ||
            !rj_set(s, "last_arrival", rj_time(x->last_arrival)) ||
            !rj_set(s, "clients", rj_values(&x->clients)) ||
            !rj_set(s, "helos", rj_values(&x->helos)) ||
            !rj_set(s, "sender_domains", rj_values(&x->sender_domains)) ||
            !rj_set(s, "subjects", rj_values(&x->subjects)) ||
            !rj_set(s, "recipient_domains", rj_values(&x->recipient_domains)) ||
            !rj_set(s, "watch", json_boolean(x->watch)) ||
            !rj_set(s, "flags", rj_list(&x->flags)) ||
            !rj_set(s, "backscatter", rj_size(x->backscatter)) ||
            !rj_set(s, "log", rj_log(&x->log)) ||
            !rj_set(s, "queue_ids", rj_size(x->n_queue_ids)))
            goto fail;
    }
    if (!rj_set(o, "scripts", a = json_array()))
        goto fail;
    for (i = 0; i < f->n_scripts; i++) {
        const struct report_script *x = &f->scripts[i];
        s = json_object();
        if (json_array_append_new(a, s) < 0 ||
            !rj_set(s, "script", rj_str(x->script)) ||
            !rj_set(s, "messages", rj_size(x->messages)) ||
            !rj_set(s, "first_arrival", rj_time(x->first_arrival)) ||
            !rj_set(s, "last_arrival", rj_time(x->last_arrival)) ||
            !rj_set(s, "sender_domains", rj_values(&x->sender_domains)))
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *rj_queue(const struct report_queue *q)
{
    json_t *o, *c, *rows, *row, *ages;
    size_t i, k;

    if (!q->present)
        return json_null();
    o = json_object();
    c = json_object();
    if (!rj_set(o, "derived", json_boolean(q->derived)) ||
        !rj_set(o, "at", rj_time(q->at)) || !rj_set(o, "counts", c) ||
        !rj_set(o, "total", rj_size(q->total)) ||
        !rj_set(o, "malformed", rj_size(q->malformed)) ||
        !rj_set(o, "age_buckets", ages = json_array()) ||
        !rj_set(o, "by_sender_domain", rows = json_array()))
        goto fail;
    for (i = 0; i < REPORT_NQUEUES; i++)
        if (!rj_set(c, report_queue_name(i), rj_size(q->counts[i])))
            goto fail;
    for (k = 0; k < REPORT_NAGES; k++)
        if (json_array_append_new(ages, json_string(report_age_label(k))) < 0)
            goto fail;
    for (i = 0; i < q->n_rows; i++) {
        json_t *a = json_array();
        row = json_object();
        if (json_array_append_new(rows, row) < 0 ||
            !rj_set(row, "domain", rj_str(q->rows[i].domain)) ||
            !rj_set(row, "total", rj_size(q->rows[i].total)) ||
            !rj_set(row, "ages", a))
            goto fail;
        for (k = 0; k < REPORT_NAGES; k++)
            if (json_array_append_new(a, rj_size(q->rows[i].ages[k])) < 0)
                goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* The verify step's checks, one object per account. */
static json_t *rj_checks(const struct report_host *h)
{
    json_t *a = json_array(), *c;
    size_t i;

    for (i = 0; a != NULL && i < h->n_checks; i++) {
        const struct report_check *k = &h->checks[i];
        c = json_object();
        if (c == NULL || json_array_append_new(a, c) < 0 ||
            !rj_set(c, "account", rj_str(k->account)) ||
            !rj_set(c, "password", rj_str(k->password)) ||
            !rj_set(c, "via", rj_str(k->via)) ||
            !rj_set(c, "why", rj_str(k->why)) ||
            !rj_set(c, "since", rj_time(k->since)) ||
            !rj_set(c, "watched_s", json_integer(k->watched_s)) ||
            !rj_set(c, "logins",
                    k->logins >= 0 ? json_integer(k->logins) : json_null()) ||
            !rj_set(c, "first_login", rj_time(k->first_login)) ||
            !rj_set(c, "first_client", rj_str(k->first_client))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *rj_host(const struct report_host *h)
{
    json_t *o = json_object(), *a, *s, *p;
    size_t i;

    if (!rj_set(o, "host", rj_str(h->name)) ||
        !rj_set(o, "state", rj_str(h->state)) ||
        !rj_set(o, "journaled", json_boolean(h->journaled)) ||
        !rj_set(o, "end_state", rj_str(h->end_state)) ||
        !rj_set(o, "end_phase", rj_str(h->end_phase)) ||
        !rj_set(o, "last_error", rj_str(h->last_error)) ||
        !rj_set(o, "rollback_begun", json_boolean(h->rollback_begun)) ||
        !rj_set(o, "commit_begun", json_boolean(h->commit_begun)) ||
        !rj_set(o, "begun_at", rj_time(h->begun_at)) ||
        !rj_set(o, "ended_at", rj_time(h->ended_at)) ||
        !rj_set(o, "queue_before", rj_queue(&h->before)) ||
        !rj_set(o, "queue_after", rj_queue(&h->after)) ||
        !rj_set(o, "findings", rj_findings(&h->findings)) ||
        !rj_set(o, "rotated", rj_list(&h->rotated)) ||
        !rj_set(o, "restored", rj_list(&h->restored)) ||
        !rj_set(o, "backend", rj_str(h->backend)) ||
        !rj_set(o, "recoverable", json_boolean(h->recoverable)) ||
        !rj_set(o, "mail_down_ms",
                h->mail_down_known ? json_integer(h->mail_down_ms)
                                   : json_null()) ||
        !rj_set(o, "mail_down_by_timer", json_boolean(h->mail_down_by_timer)) ||
        !rj_set(o, "checks", rj_checks(h)) ||
        !rj_set(o, "purge", p = json_object()) ||
        !rj_set(o, "steps", a = json_array()))
        goto fail;
    if (!rj_set(p, "fate", rj_str(h->purge_fate)) ||
        !rj_set(p, "total", rj_size(h->purged_total)) ||
        !rj_set(p, "by_account", s = json_object()))
        goto fail;
    for (i = 0; i < h->purged_accounts.n; i++)
        if (!rj_set(s, h->purged_accounts.v[i], rj_size(h->purged_counts[i])))
            goto fail;
    for (i = 0; i < h->n_steps; i++) {
        const struct report_step *st = &h->steps[i];
        s = json_object();
        if (json_array_append_new(a, s) < 0 ||
            !rj_set(s, "name", rj_str(st->name)) ||
            !rj_set(s, "action", rj_str(st->action)) ||
            !rj_set(s, "kind", rj_str(st->kind)) ||
            !rj_set(s, "status", rj_str(st->status)) ||
            !rj_set(s, "commit", rj_str(st->commit)) ||
            !rj_set(s, "error", rj_str(st->error)) ||
            !rj_set(s, "at", rj_time(st->at)) ||
            !rj_set(s, "results", rj_list(&st->results)))
            goto fail;
    }
    if (!rj_set(o, "evidence", a = json_array()))
        goto fail;
    for (i = 0; i < h->n_files; i++) {
        s = json_object();
        if (json_array_append_new(a, s) < 0 ||
            !rj_set(s, "path", rj_str(h->files[i].path)) ||
            !rj_set(s, "bytes", json_integer(h->files[i].bytes)) ||
            !rj_set(s, "sha256", json_string(h->files[i].sha256)) ||
            !rj_set(s, "in_trail", json_boolean(h->files[i].in_trail)))
            goto fail;
    }
    if (!rj_set(o, "notes", rj_list(&h->notes)))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* An abuse window's end as an epoch, or null (-1: unknown). */
static json_t *rj_epoch(long long t)
{
    return t >= 0 ? json_integer((json_int_t)t) : json_null();
}

/* One account, every host together (the damage). */
static json_t *rj_acct(const struct report_acct *a)
{
    json_t *o = json_object();

    if (!rj_set(o, "account", rj_str(a->account)) ||
        !rj_set(o, "hosts", rj_list(&a->hosts)) ||
        !rj_set(o, "rotated_on", rj_list(&a->rotated_on)) ||
        !rj_set(o, "submitted", rj_size(a->submitted)) ||
        !rj_set(o, "queued", rj_size(a->queued)) ||
        !rj_set(o, "logs", json_boolean(a->log_seen)) ||
        !rj_set(o, "sent", rj_size(a->sent)) ||
        !rj_set(o, "deferred", rj_size(a->deferred)) ||
        !rj_set(o, "bounced", rj_size(a->bounced)) ||
        !rj_set(o, "held", rj_size(a->held)) ||
        !rj_set(o, "held_fate", rj_str(a->fate)) ||
        !rj_set(o, "clients_at_least", rj_size(a->clients)) ||
        !rj_set(o, "first", rj_epoch(a->first)) ||
        !rj_set(o, "last", rj_epoch(a->last)) ||
        !rj_set(o, "mail_down_ms",
                a->down_ms >= 0 ? json_integer(a->down_ms) : json_null()) ||
        !rj_set(o, "recipient_domains", rj_values(&a->rcpt_domains))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The flagged accounts, every host together: [{account, ...}]. */
static json_t *rj_accounts(const struct report *r)
{
    struct strlist accts = STRLIST_INIT;
    struct report_acct acct;
    json_t *a = json_array();
    size_t i;

    memset(&acct, 0, sizeof(acct));
    if (a == NULL || report_accounts(&accts, r, false) < 0)
        goto fail;
    for (i = 0; i < accts.n; i++) {
        report_acct_release(&acct);
        if (report_acct_collect(&acct, r, accts.v[i]) < 0 ||
            json_array_append_new(a, rj_acct(&acct)) < 0)
            goto fail;
    }
    goto out;
fail:
    json_decref(a);
    a = NULL;
out:
    report_acct_release(&acct);
    strlist_release(&accts);
    return a;
}

/* Values of flagged accounts seen on several hosts: [{kind, value, seen}]. */
static json_t *rj_fleet(const struct report *r)
{
    struct fleet l;
    json_t *a = json_array(), *x, *seen, *s;
    size_t i, k;

    fleet_init(&l); /* released at out: also when a is NULL */
    if (a == NULL || report_fleet(&l, r) < 0)
        goto fail;
    for (i = 0; i < l.n_values; i++) {
        if (json_array_append_new(a, x = json_object()) < 0 ||
            !rj_set(x, "kind", rj_str(fleet_kind_name(l.values[i].kind))) ||
            !rj_set(x, "value", rj_str(l.values[i].value)) ||
            !rj_set(x, "seen", seen = json_array()))
            goto fail;
        for (k = 0; k < l.values[i].n_seen; k++)
            if (json_array_append_new(seen, s = json_object()) < 0 ||
                !rj_set(s, "host", rj_str(l.values[i].seen[k].host)) ||
                !rj_set(s, "account", rj_str(l.values[i].seen[k].account)) ||
                !rj_set(s, "messages", rj_size(l.values[i].seen[k].count)))
                goto fail;
    }
    goto out;
fail:
    json_decref(a);
    a = NULL;
out:
    fleet_release(&l);
    return a;
}

/* The notices, one per account: [{account, hosts, text}]. */
static json_t *rj_notices(const struct report *r, unsigned flags)
{
    struct strlist accts = STRLIST_INIT;
    struct report_acct acct;
    struct buf t = BUF_INIT;
    json_t *a = json_array(), *n;
    size_t i;

    memset(&acct, 0, sizeof(acct));
    if (a == NULL || report_accounts(&accts, r, true) < 0)
        goto fail;
    for (i = 0; i < accts.n; i++) {
        buf_reset(&t);
        report_acct_release(&acct);
        if (report_notice(&t, r, accts.v[i], flags) < 0 ||
            report_acct_collect(&acct, r, accts.v[i]) < 0 ||
            json_array_append_new(a, n = json_object()) < 0 ||
            !rj_set(n, "account", rj_str(accts.v[i])) ||
            !rj_set(n, "hosts", rj_list(&acct.rotated_on)) ||
            !rj_set(n, "text", json_string(t.data)))
            goto fail;
    }
    goto out;
fail:
    json_decref(a);
    a = NULL;
out:
    report_acct_release(&acct);
    strlist_release(&accts);
    buf_release(&t);
    return a;
}

/* Renders JSON; see report_int.h. */
int report_render_json(struct buf *out, const struct report *r, unsigned flags,
                       struct errbuf *err)
{
    json_t *o = json_object(), *a, *params, *audit, *h;
    char *text = NULL;
    size_t i;
    int rc = SS_ERR;

    if (!rj_set(o, "report_version", json_integer(2)) ||
        !rj_set(o, "run_id", rj_str(r->run_id)) ||
        !rj_set(o, "playbook", rj_str(r->playbook)) ||
        !rj_set(o, "outcome", rj_str(r->outcome)) ||
        !rj_set(o, "dry_run", json_boolean(r->dry_run)) ||
        !rj_set(o, "started", rj_time(r->started)) ||
        !rj_set(o, "finished", rj_time(r->finished)) ||
        !rj_set(o, "generated", rj_time(r->generated)) ||
        !rj_set(o, "params", params = json_object()) ||
        !rj_set(o, "audit", audit = json_object()) ||
        !rj_set(o, "hosts", a = json_array()))
        goto out;
    for (i = 0; i < r->param_names.n; i++)
        if (!rj_set(params, r->param_names.v[i], rj_str(r->param_values.v[i])))
            goto out;
    if (!rj_set(audit, "present", json_boolean(r->audit_present)) ||
        !rj_set(audit, "ok", json_boolean(r->audit_ok)) ||
        !rj_set(audit, "records", rj_size(r->audit_records)) ||
        !rj_set(audit, "head", json_string(r->audit_head)) ||
        !rj_set(audit, "reason", rj_str(r->audit_reason)))
        goto out;
    for (i = 0; i < r->n_hosts; i++)
        if ((h = rj_host(&r->hosts[i])) == NULL ||
            json_array_append_new(a, h) < 0)
            goto out;
    if (!rj_set(o, "accounts", rj_accounts(r)) ||
        !rj_set(o, "fleet", rj_fleet(r)) ||
        !rj_set(o, "notices", rj_notices(r, flags)))
        goto out;
    if ((text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL ||
        buf_adds(out, text) < 0 || buf_addc(out, '\n') < 0)
        goto out;
    rc = 0;
out:
    json_decref(o);
    free(text);
    if (rc < 0)
        errbuf_set(err, rc, "out of memory rendering the report as JSON");
    return rc;
}
