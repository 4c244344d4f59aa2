/* Across hosts: one account's facts put together, and values shared. */
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "spamstop/report.h"

/* The suspect record of account on h, or NULL. */
const struct report_suspect *report_suspect_of(const struct report_host *h,
                                               const char *account)
{
    size_t i;

    for (i = 0; i < h->findings.n_suspects; i++)
        if (strcmp(h->findings.suspects[i].username, account) == 0)
            return &h->findings.suspects[i];
    return NULL;
}

/* True when l holds s. */
static bool report_has(const struct strlist *l, const char *s)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

/* Adds l's values to the merged top list m (by value; counts summed). */
static int report_values_merge(struct report_values *m,
                               const struct report_values *l)
{
    struct report_value *nv;
    size_t i, k;

    for (i = 0; i < l->n; i++) {
        for (k = 0; k < m->n; k++)
            if (strcmp(m->v[k].value, l->v[i].value) == 0)
                break;
        if (k < m->n) {
            m->v[k].count += l->v[i].count;
            continue;
        }
        if ((nv = realloc(m->v, (m->n + 1) * sizeof(*nv))) == NULL)
            return SS_ERR;
        m->v = nv;
        if ((m->v[m->n].value = strdup(l->v[i].value)) == NULL)
            return SS_ERR;
        m->v[m->n++].count = l->v[i].count;
    }
    m->other += l->other;
    if (l->distinct > m->distinct)
        m->distinct = l->distinct;
    return 0;
}

static int report_value_cmp(const void *a, const void *b)
{
    const struct report_value *x = a, *y = b;

    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->value, y->value);
}

/* Sorts a merged list by count and keeps the top 10, the rest in other. */
static void report_values_top(struct report_values *m)
{
    size_t i;

    if (m->n > 1)
        qsort(m->v, m->n, sizeof(*m->v), report_value_cmp);
    if (m->n > m->distinct)
        m->distinct = m->n;
    for (i = REPORT_TOP; i < m->n; i++) {
        m->other += m->v[i].count;
        free(m->v[i].value);
    }
    if (m->n > REPORT_TOP)
        m->n = REPORT_TOP;
}

/* True when h's first service step stopped Postfix (and it was not
 * merely probed). */
static bool report_stopped(const struct report_host *h)
{
    static const char *const changed[] = {"done",
                                          "undone",
                                          "begun, outcome unknown",
                                          "undo failed",
                                          "failed, outcome unknown",
                                          "undo begun, outcome unknown"};
    size_t i, k;

    for (i = 0; i < h->n_steps; i++) {
        if (strcmp(h->steps[i].action, "service") != 0)
            continue;
        for (k = 0; k < sizeof(changed) / sizeof(changed[0]); k++)
            if (strcmp(h->steps[i].status, changed[k]) == 0)
                return true;
        return false;
    }
    return false;
}

/* Adds what host h knows of a->account. */
static int report_acct_host(struct report_acct *a, const struct report_host *h)
{
    const struct report_suspect *s = report_suspect_of(h, a->account);
    size_t i, clients;

    if (report_has(&h->rotated, a->account) &&
        report_push(&a->rotated_on, h->name) < 0)
        return SS_ERR;
    if (s == NULL || !s->flagged)
        return 0;
    if (report_push(&a->hosts, h->name) < 0)
        return SS_ERR;
    a->queued += s->messages;
    a->submitted +=
        s->log.messages > s->messages ? s->log.messages : s->messages;
    a->sent += s->log.sent;
    a->deferred += s->log.deferred;
    a->bounced += s->log.bounced;
    a->log_seen |= s->log.present;
    clients = s->clients.distinct > s->log.clients ? s->clients.distinct
                                                   : s->log.clients;
    if (clients > a->clients)
        a->clients = clients;
    if (s->first_arrival >= 0 && (a->first < 0 || s->first_arrival < a->first))
        a->first = s->first_arrival;
    if (s->log.first > 0 && (a->first < 0 || s->log.first < a->first))
        a->first = s->log.first;
    if (s->last_arrival > a->last)
        a->last = s->last_arrival;
    if (s->log.last > a->last)
        a->last = s->log.last;
    for (i = 0; i < h->purged_accounts.n; i++)
        if (strcmp(h->purged_accounts.v[i], a->account) == 0) {
            a->held += h->purged_counts[i];
            if (a->fate == NULL || strcmp(h->purge_fate, "deleted") != 0)
                a->fate = h->purge_fate;
        }
    if (report_stopped(h)) {
        a->stopped = true;
        if (h->mail_down_known && h->mail_down_ms > a->down_ms)
            a->down_ms = h->mail_down_ms;
    }
    if (report_values_merge(&a->clients_seen, &s->clients) < 0 ||
        report_values_merge(&a->rcpt_domains, &s->recipient_domains) < 0)
        return SS_ERR;
    return 0;
}

/* Puts together what every host knows of account; see report_int.h. */
int report_acct_collect(struct report_acct *out, const struct report *r,
                        const char *account)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->first = out->last = -1;
    out->down_ms = -1;
    if ((out->account = strdup(account)) == NULL)
        return SS_ERR;
    for (i = 0; i < r->n_hosts; i++)
        if (report_acct_host(out, &r->hosts[i]) < 0)
            return SS_ERR;
    report_values_top(&out->clients_seen);
    report_values_top(&out->rcpt_domains);
    /* distinct values listed on any host are a floor for the whole run */
    if (out->clients_seen.n > out->clients)
        out->clients = out->clients_seen.n;
    return 0;
}

void report_acct_release(struct report_acct *a)
{
    free(a->account);
    strlist_release(&a->hosts);
    strlist_release(&a->rotated_on);
    report_values_release(&a->clients_seen);
    report_values_release(&a->rcpt_domains);
    memset(a, 0, sizeof(*a));
}

/* The accounts of the run, each once: flagged on a host, or rotated. */
int report_accounts(struct strlist *out, const struct report *r, bool rotated)
{
    size_t i, k;

    for (i = 0; i < r->n_hosts; i++) {
        const struct report_host *h = &r->hosts[i];
        for (k = 0; rotated && k < h->rotated.n; k++)
            if (!report_has(out, h->rotated.v[k]) &&
                report_push(out, h->rotated.v[k]) < 0)
                return SS_ERR;
        for (k = 0; !rotated && k < h->findings.n_suspects; k++) {
            const struct report_suspect *s = &h->findings.suspects[k];
            if (s->flagged && !report_has(out, s->username) &&
                report_push(out, s->username) < 0)
                return SS_ERR;
        }
    }
    return 0;
}

/* Adds a flagged suspect's listed values of one kind. */
static int report_fleet_values(struct fleet *f, enum fleet_kind kind,
                               const struct report_values *v,
                               const struct report_host *h,
                               const struct report_suspect *s)
{
    size_t i;
    int r;

    for (i = 0; i < v->n; i++)
        if ((r = fleet_add_value(f, kind, v->v[i].value, h->name, s->username,
                                 v->v[i].count)) < 0)
            return r;
    return 0;
}

/* What flagged accounts share across hosts; see report_int.h. */
int report_fleet(struct fleet *out, const struct report *r)
{
    size_t i, k;
    int rc;

    fleet_init(out);
    for (i = 0; i < r->n_hosts; i++) {
        const struct report_host *h = &r->hosts[i];
        for (k = 0; k < h->findings.n_suspects; k++) {
            const struct report_suspect *s = &h->findings.suspects[k];
            if (!s->flagged)
                continue;
            if ((rc = fleet_add_flagged(out, h->name, s->username)) < 0 ||
                (rc = report_fleet_values(out, FLEET_CLIENT, &s->clients, h,
                                          s)) < 0 ||
                (rc = report_fleet_values(out, FLEET_HELO, &s->helos, h, s)) <
                    0 ||
                (rc = report_fleet_values(out, FLEET_SUBJECT, &s->subjects, h,
                                          s)) < 0)
                return rc;
        }
    }
    fleet_finish(out);
    return 0;
}
