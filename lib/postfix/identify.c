/* The identify analysis: who queued the mail, who to flag, and why. */
#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "postfix/arena.h"
#include "spamstop/buf.h"
#include "spamstop/hmap.h"
#include "spamstop/postfix.h"

/* An account or script being counted. */
struct identify_group {
    const char *name;
    size_t messages, foreign;
    long long first, last;
    /* value -> count; a key per message at most, so no cap of their own */
    struct hmap clients, helos, domains;
    /* subject -> count: spam subjects are mostly distinct (a million of
       them would take 72 MB of map), so a cap; messages past it are
       counted in subject_over */
    struct hmap subjects;
    size_t subject_over;
    /* recipient domain -> recipients: up to POSTFIX_RCPT_KEEP keys per
       message, so a cap; recipients past it are counted in rcpt_over */
    struct hmap rcpts;
    size_t rcpt_over;
};

/* Distinct recipient domains counted per account (or script). */
#define IDENTIFY_RCPT_DOMAINS_MAX 4096

/* A message's account index when it has none (4 bytes a message). */
#define IDENTIFY_NO_OWNER UINT32_MAX

/* Distinct subjects counted per account (or script). */
#define IDENTIFY_SUBJECTS_MAX 4096

/* Counts one occurrence of key (NULL keys are not evidence). */
static int identify_count(struct hmap *m, const char *key)
{
    size_t *count;

    if (key == NULL)
        return 0;
    if (hmap_put(&count, m, key, 0) < 0)
        return SS_ERR;
    (*count)++;
    return 0;
}

/*
 * identify_count in a map with a cap: a key new past the cap is counted
 * in *over instead.
 */
static int identify_count_capped(struct hmap *m, size_t *over, const char *key)
{
    size_t *count;
    int r;

    if (key == NULL)
        return 0;
    r = hmap_put(&count, m, key, 0);
    if (r == SS_ETOOBIG) {
        (*over)++;
        return 0;
    }
    if (r < 0)
        return SS_ERR;
    (*count)++;
    return 0;
}

/* Orders values by count, descending, then by value. */
static int identify_cmp_slot(const struct hmap_slot *x,
                             const struct hmap_slot *y)
{
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    return strcmp(x->key, y->key);
}

/*
 * Turns a map into a bounded list whose strings live in arena: one pass
 * keeps the POSTFIX_TOP_VALUES best in order, no sort of every value.
 */
static int identify_list(struct postfix_value_list *out,
                         struct postfix_arena *arena, const struct hmap *m)
{
    struct hmap_slot top[POSTFIX_TOP_VALUES];
    const struct hmap_slot *s;
    size_t i, j, keep = 0, all = 0, pos = 0;

    memset(out, 0, sizeof(*out));
    out->distinct = m->n;
    if (m->n == 0)
        return 0;
    while (hmap_next(&s, m, &pos)) {
        all += s->value;
        if (keep == POSTFIX_TOP_VALUES &&
            identify_cmp_slot(s, &top[keep - 1]) >= 0)
            continue;
        if (keep < POSTFIX_TOP_VALUES)
            keep++;
        for (j = keep - 1; j > 0 && identify_cmp_slot(s, &top[j - 1]) < 0; j--)
            top[j] = top[j - 1];
        top[j] = *s;
    }
    out->items = postfix_arena_alloc(arena, keep * sizeof(*out->items));
    if (out->items == NULL)
        return SS_ERR;
    for (i = 0; i < keep; i++) {
        out->items[i].value = postfix_arena_strndup(
            arena, top[i].key, strlen(top[i].key), POSTFIX_FIELD_MAX);
        if (out->items[i].value == NULL)
            return SS_ERR;
        out->items[i].count = top[i].value;
        out->n++;
        all -= top[i].value;
    }
    out->other = all;
    return 0;
}

/*
 * The lower-cased domain of an address ("<>" for the null sender): the
 * address's own text when it has no capitals (no memory per message for
 * the common case), else a lower-cased copy in tmp.
 */
static const char *identify_domain(struct postfix_arena *tmp, const char *addr)
{
    const char *at;
    char *d;
    size_t i, n;

    if (addr == NULL || addr[0] == '\0')
        return "<>";
    at = strrchr(addr, '@');
    at = at != NULL ? at + 1 : addr;
    if (strpbrk(at, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == NULL)
        return at;
    n = strlen(at);
    d = postfix_arena_alloc(tmp, n + 1);
    if (d == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)at[i]);
    d[n] = '\0';
    return d;
}

/*
 * Counts the domains of a message's kept recipients.  The key is the
 * recipient's own text after '@' (no copy), lower-cased into tmp only
 * when it has capitals: no memory per recipient for the common case.
 */
static int identify_rcpts(struct identify_group *g, struct postfix_arena *tmp,
                          const struct postfix_message *m)
{
    const char *d;
    size_t k, *count;
    int r;

    for (k = 0; k < m->n_recipients; k++) {
        if (m->recipients[k] == NULL)
            continue;
        d = strrchr(m->recipients[k], '@');
        d = d != NULL ? d + 1 : m->recipients[k];
        if (strpbrk(d, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL &&
            (d = identify_domain(tmp, d)) == NULL)
            return SS_ERR;
        r = hmap_put(&count, &g->rcpts, d, 0);
        if (r == SS_ETOOBIG) {
            g->rcpt_over++;
            continue;
        }
        if (r < 0)
            return SS_ERR;
        (*count)++;
    }
    return 0;
}

/* Adds one message to a group's counts. */
static int identify_add(struct identify_group *g, struct postfix_arena *tmp,
                        const struct postfix_message *m)
{
    const char *domain = identify_domain(tmp, m->sender);

    if (domain == NULL)
        return SS_ERR;
    g->messages++;
    if (m->arrival_time >= 0) {
        if (g->first < 0 || m->arrival_time < g->first)
            g->first = m->arrival_time;
        if (m->arrival_time > g->last)
            g->last = m->arrival_time;
    }
    if (strchr(g->name, '@') != NULL && m->sender != NULL &&
        strcasecmp(m->sender, g->name) != 0)
        g->foreign++;
    if (identify_count(&g->clients, m->client_address) < 0 ||
        identify_count(&g->helos, m->helo_name) < 0 ||
        identify_count(&g->domains, domain) < 0 ||
        identify_count_capped(&g->subjects, &g->subject_over, m->subject) < 0 ||
        identify_rcpts(g, tmp, m) < 0)
        return SS_ERR;
    return 0;
}

/* Finds or starts the group for name in map (name -> index in groups). */
static struct identify_group *identify_group(struct hmap *map,
                                             struct identify_group **groups,
                                             size_t *n, size_t *alloc,
                                             const char *name)
{
    struct identify_group *g;
    size_t *index;
    int r;

    /* room first: a name in the map always has its group */
    if (*n == *alloc) {
        size_t want = *alloc ? *alloc * 2 : 16;
        g = realloc(*groups, want * sizeof(*g));
        if (g == NULL)
            return NULL;
        *groups = g;
        *alloc = want;
    }
    if ((r = hmap_put(&index, map, name, *n)) < 0)
        return NULL;
    if (r == 0)
        return &(*groups)[*index];
    g = &(*groups)[(*n)++];
    memset(g, 0, sizeof(*g));
    hmap_init(&g->rcpts, IDENTIFY_RCPT_DOMAINS_MAX);
    hmap_init(&g->subjects, IDENTIFY_SUBJECTS_MAX);
    g->name = name;
    g->first = g->last = -1;
    return g;
}

static void identify_groups_free(struct identify_group *g, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        hmap_release(&g[i].clients);
        hmap_release(&g[i].helos);
        hmap_release(&g[i].domains);
        hmap_release(&g[i].subjects);
        hmap_release(&g[i].rcpts);
    }
    free(g);
}

/* Ranks suspects: flagged first, then by messages, then by name. */
static int identify_cmp_account(const void *a, const void *b)
{
    const struct postfix_account *x = a, *y = b;

    if (x->flagged != y->flagged)
        return x->flagged ? -1 : 1;
    if (x->messages != y->messages)
        return x->messages < y->messages ? 1 : -1;
    return strcmp(x->username, y->username);
}

/* Orders scripts by messages, then by name. */
static int identify_cmp_script(const void *a, const void *b)
{
    const struct postfix_script *x = a, *y = b;

    if (x->messages != y->messages)
        return x->messages < y->messages ? 1 : -1;
    return strcmp(x->script, y->script);
}

/* Copies a string into the findings' arena. */
static const char *identify_dup(struct postfix_arena *a, const char *s)
{
    return postfix_arena_strndup(a, s, strlen(s), POSTFIX_FIELD_MAX);
}

/* At least half of x (for "watch"), rounded up. */
static size_t half(size_t x)
{
    return x / 2 + x % 2;
}

/*
 * Flags a (or puts it on watch) on its queue and log evidence and on the
 * names given; its log evidence comes from logmap (name -> index).
 */
static int identify_flag(struct postfix_account *a, struct postfix_arena *arena,
                         const struct postfix_thresholds *t,
                         const struct hmap *logmap)
{
    const struct postfix_log_account *l = NULL;
    size_t k, i;

    if (t->log != NULL && hmap_get(&k, logmap, a->username) == 0)
        l = &t->log->accounts[k];
    if (a->messages > 0 && a->messages >= t->min_messages &&
        a->share >= t->min_share)
        a->flags |= POSTFIX_FLAG_QUEUE;
    if (l != NULL && l->accepted >= t->log_min_messages &&
        l->ips >= t->log_min_clients)
        a->flags |= POSTFIX_FLAG_LOG;
    for (i = 0; t->named != NULL && i < t->named->n; i++)
        if (strcasecmp(t->named->v[i], a->username) == 0)
            a->flags |= POSTFIX_FLAG_NAMED;
    a->flagged = a->flags != 0;
    a->watch = !a->flagged &&
               ((a->messages >= half(t->min_messages) &&
                 a->share >= t->min_share / 2) ||
                (l != NULL && l->accepted >= half(t->log_min_messages) &&
                 l->ips >= half(t->log_min_clients)));
    if (l == NULL)
        return 0;
    a->has_log = true;
    a->log = *l;
    a->log.name = NULL; /* it is a->username */
    if (l->top_ip != NULL &&
        (a->log.top_ip = (char *)identify_dup(arena, l->top_ip)) == NULL)
        return SS_ERR;
    return 0;
}

/* Fills out->accounts from the counted groups and flags them. */
static int identify_accounts(struct postfix_findings *out,
                             struct postfix_arena *arena,
                             struct identify_group *g, size_t n,
                             const struct hmap *logmap)
{
    size_t i;

    if (n == 0)
        return 0;
    out->accounts = calloc(n, sizeof(*out->accounts));
    if (out->accounts == NULL)
        return SS_ERR;
    for (i = 0; i < n; i++) {
        struct postfix_account *a = &out->accounts[i];
        a->username = identify_dup(arena, g[i].name);
        if (a->username == NULL)
            return SS_ERR;
        a->messages = g[i].messages;
        a->share =
            out->total > 0 ? (double)g[i].messages / (double)out->total : 0.0;
        if (identify_flag(a, arena, &out->thresholds, logmap) < 0)
            return SS_ERR;
        out->n_watch += a->watch;
        a->foreign_senders = g[i].foreign;
        a->first_arrival = g[i].first;
        a->last_arrival = g[i].last;
        if (identify_list(&a->clients, arena, &g[i].clients) < 0 ||
            identify_list(&a->helos, arena, &g[i].helos) < 0 ||
            identify_list(&a->sender_domains, arena, &g[i].domains) < 0 ||
            identify_list(&a->subjects, arena, &g[i].subjects) < 0 ||
            identify_list(&a->recipient_domains, arena, &g[i].rcpts) < 0)
            return SS_ERR;
        a->recipient_domains.other += g[i].rcpt_over;
        a->recipient_domains.capped = g[i].rcpt_over > 0;
        a->subjects.other += g[i].subject_over;
        a->subjects.capped = g[i].subject_over > 0;
        if (a->flagged) {
            out->n_flagged++;
            out->flagged_messages += a->messages;
        }
    }
    out->n_accounts = n;
    return 0;
}

/* The queue name as a constant string when it is one of the five. */
static const char *identify_queue_name(struct postfix_arena *a, const char *s)
{
    const char *name = postfix_queue_name_static(s, strlen(s));

    return name != NULL ? name : identify_dup(a, s);
}

/* A copy of s in lower case, in arena. */
static const char *identify_lower(struct postfix_arena *arena, const char *s)
{
    size_t i, n = strlen(s);
    char *d = postfix_arena_alloc(arena, n + 1);

    if (d == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

/*
 * Finds the backscatter of the flagged spam: bounces (null sender, no SASL,
 * no script) to an address that a flagged account's message gave as its
 * envelope sender, other than the account itself (the bounces of a forged
 * sender go to third parties; the account's own go to the customer).
 * Each is given to that account (owner[i]) and counted apart.
 */
static int identify_backscatter(struct postfix_findings *out,
                                struct postfix_arena *tmp, uint32_t *owner,
                                const struct postfix_message *msgs, size_t n)
{
    struct hmap senders = HMAP_INIT;
    const struct postfix_message *m;
    const char *key;
    size_t i, k, *v, who;
    int r = 0;

    for (i = 0; i < n && r == 0; i++) {
        m = &msgs[i];
        if (owner[i] == IDENTIFY_NO_OWNER || !out->accounts[owner[i]].flagged ||
            m->sender == NULL || m->sender[0] == '\0' ||
            strcasecmp(m->sender, out->accounts[owner[i]].username) == 0)
            continue;
        if ((key = identify_lower(tmp, m->sender)) == NULL ||
            hmap_put(&v, &senders, key, owner[i]) < 0)
            r = SS_ERR;
    }
    for (i = 0; i < n && r == 0 && senders.n > 0; i++) {
        m = &msgs[i];
        if (owner[i] != IDENTIFY_NO_OWNER || m->sender == NULL ||
            m->sender[0] != '\0' ||
            (m->sasl_username != NULL && m->sasl_username[0] != '\0') ||
            (m->x_php_script != NULL && m->x_php_script[0] != '\0'))
            continue;
        for (k = 0; k < m->n_recipients; k++) {
            if ((key = identify_lower(tmp, m->recipients[k])) == NULL) {
                r = SS_ERR;
                break;
            }
            if (hmap_get(&who, &senders, key) == 0) {
                owner[i] = (uint32_t)who;
                out->accounts[who].backscatter++;
                out->backscatter++;
                break;
            }
        }
    }
    hmap_release(&senders);
    return r;
}

/*
 * Lists each flagged account's messages (and its backscatter) by queue
 * and id; runs before the accounts are ranked, while account i is still
 * group i.  owner[i] is message i's account, IDENTIFY_NO_OWNER for none.
 */
static int identify_refs(struct postfix_findings *out,
                         struct postfix_arena *arena, const uint32_t *owner,
                         const struct postfix_message *msgs, size_t n)
{
    size_t i, want;

    for (i = 0; i < out->n_accounts; i++) {
        struct postfix_account *a = &out->accounts[i];
        want = a->messages + a->backscatter;
        if (!a->flagged || want == 0)
            continue;
        a->refs = postfix_arena_alloc(arena, want * sizeof(*a->refs));
        if (a->refs == NULL)
            return SS_ERR;
    }
    for (i = 0; i < n; i++) {
        struct postfix_account *a;
        struct postfix_queue_ref *ref;
        if (owner[i] == IDENTIFY_NO_OWNER)
            continue;
        a = &out->accounts[owner[i]];
        if (!a->flagged)
            continue;
        ref = &a->refs[a->n_refs++];
        ref->queue_name = identify_queue_name(arena, msgs[i].queue_name);
        ref->queue_id = identify_dup(arena, msgs[i].queue_id);
        if (ref->queue_name == NULL || ref->queue_id == NULL)
            return SS_ERR;
    }
    return 0;
}

/* Fills out->scripts from the counted script groups. */
static int identify_scripts(struct postfix_findings *out,
                            struct postfix_arena *arena,
                            struct identify_group *g, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    out->scripts = calloc(n, sizeof(*out->scripts));
    if (out->scripts == NULL)
        return SS_ERR;
    for (i = 0; i < n; i++) {
        struct postfix_script *s = &out->scripts[i];
        s->script = identify_dup(arena, g[i].name);
        if (s->script == NULL)
            return SS_ERR;
        s->messages = g[i].messages;
        s->first_arrival = g[i].first;
        s->last_arrival = g[i].last;
        if (identify_list(&s->sender_domains, arena, &g[i].domains) < 0)
            return SS_ERR;
    }
    out->n_scripts = n;
    qsort(out->scripts, n, sizeof(*out->scripts), identify_cmp_script);
    return 0;
}

/*
 * Indexes the log's accounts in logmap, and adds a group (no queued
 * message) for each that comes near the log thresholds and each name
 * given, when the queue did not show it: such accounts may be flagged too.
 */
static int identify_extras(struct hmap *map, struct identify_group **g,
                           size_t *n, size_t *alloc, struct hmap *logmap,
                           const struct postfix_thresholds *t)
{
    const struct postfix_log_account *l;
    size_t *v, i;

    for (i = 0; t->log != NULL && i < t->log->naccounts; i++) {
        l = &t->log->accounts[i];
        if (hmap_put(&v, logmap, l->name, i) < 0)
            return SS_ERR;
        if (l->accepted >= half(t->log_min_messages) &&
            l->ips >= half(t->log_min_clients) &&
            identify_group(map, g, n, alloc, l->name) == NULL)
            return SS_ERR;
    }
    for (i = 0; t->named != NULL && i < t->named->n; i++)
        if (identify_group(map, g, n, alloc, t->named->v[i]) == NULL)
            return SS_ERR;
    return 0;
}

/* Counts, flags and ranks; see postfix.h. */
int postfix_identify(struct postfix_findings *out,
                     const struct postfix_message *msgs, size_t n,
                     const struct postfix_thresholds *thresholds,
                     struct errbuf *err)
{
    struct postfix_thresholds defaults = POSTFIX_THRESHOLDS_INIT;
    struct postfix_arena tmp = POSTFIX_ARENA_INIT, *arena = NULL;
    struct hmap acc_map = HMAP_INIT, script_map = HMAP_INIT, logmap = HMAP_INIT;
    struct identify_group *accs = NULL, *scripts = NULL, *g;
    size_t n_accs = 0, a_accs = 0, n_scripts = 0, a_scripts = 0, i;
    uint32_t *owner = NULL;
    int r = SS_ERR;

    assert(out != NULL && (msgs != NULL || n == 0));
    memset(out, 0, sizeof(*out));
    out->thresholds = thresholds != NULL ? *thresholds : defaults;
    if (out->thresholds.min_messages < 1 || !(out->thresholds.min_share >= 0) ||
        out->thresholds.min_share > 1 || out->thresholds.log_min_messages < 1 ||
        out->thresholds.log_min_clients < 1)
        return errbuf_set(err, SS_EINVAL,
                          "identify thresholds need min_messages, "
                          "log_min_messages and log_min_clients >= 1 and "
                          "min_share within 0..1");
    arena = calloc(1, sizeof(*arena));
    if (arena == NULL)
        goto out;
    out->mem = arena;
    out->total = n;
    if (n > 0 && (owner = malloc(n * sizeof(*owner))) == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        const struct postfix_message *m = &msgs[i];
        owner[i] = IDENTIFY_NO_OWNER;
        if (!m->complete)
            out->incomplete++;
        if (m->sasl_username != NULL && m->sasl_username[0] != '\0') {
            out->authenticated++;
            g = identify_group(&acc_map, &accs, &n_accs, &a_accs,
                               m->sasl_username);
            if (g != NULL)
                owner[i] = (uint32_t)(g - accs);
        } else if (m->x_php_script != NULL && m->x_php_script[0] != '\0') {
            out->scripted++;
            g = identify_group(&script_map, &scripts, &n_scripts, &a_scripts,
                               m->x_php_script);
        } else {
            out->other++;
            continue;
        }
        if (g == NULL || identify_add(g, &tmp, m) < 0)
            goto out;
    }
    if (identify_extras(&acc_map, &accs, &n_accs, &a_accs, &logmap,
                        &out->thresholds) < 0 ||
        identify_accounts(out, arena, accs, n_accs, &logmap) < 0 ||
        identify_scripts(out, arena, scripts, n_scripts) < 0)
        goto out;
    if (out->n_flagged > 0 &&
        (identify_backscatter(out, &tmp, owner, msgs, n) < 0 ||
         identify_refs(out, arena, owner, msgs, n) < 0))
        goto out;
    if (out->n_accounts > 0)
        qsort(out->accounts, out->n_accounts, sizeof(*out->accounts),
              identify_cmp_account);
    out->remainder = out->total - out->flagged_messages - out->backscatter;
    r = 0;
out:
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    free(owner);
    identify_groups_free(accs, n_accs);
    identify_groups_free(scripts, n_scripts);
    hmap_release(&acc_map);
    hmap_release(&script_map);
    hmap_release(&logmap);
    postfix_arena_free(&tmp);
    return r;
}

/* Runs postfix_identify over a parsed pass, carrying its anomalies. */
int postfix_identify_envelopes(struct postfix_findings *out,
                               const struct postfix_envelopes *env,
                               const struct postfix_thresholds *thresholds,
                               struct errbuf *err)
{
    int r = postfix_identify(out, env->msgs, env->n, thresholds, err);

    out->anomalies = env->anomalies;
    return r;
}

/* Frees the findings (NULL-safe members). */
void postfix_findings_release(struct postfix_findings *f)
{
    if (f == NULL)
        return;
    if (f->mem != NULL) {
        postfix_arena_free(f->mem);
        free(f->mem);
    }
    free(f->accounts);
    free(f->scripts);
    memset(f, 0, sizeof(*f));
}

/* A JSON string of a remote value, made valid UTF-8 first. */
static json_t *identify_jstr(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    json_t *j;

    if (c == NULL)
        return NULL;
    postfix_utf8_clean(c, s, n);
    j = json_stringn(c, n);
    free(c);
    return j;
}

/* Adds key: value to obj, consuming value; false when anything failed. */
static bool identify_jset(json_t *obj, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new(obj, key, value) == 0;
}

/* {"top": [{"value", "count"}...], "distinct", "other"[, "capped"]} */
static json_t *identify_jlist(const struct postfix_value_list *l)
{
    json_t *o = json_object(), *top = json_array();
    size_t i;

    if (o == NULL || top == NULL)
        goto fail;
    for (i = 0; i < l->n; i++) {
        json_t *it = json_object();
        if (it == NULL || json_array_append_new(top, it) < 0 ||
            !identify_jset(it, "value", identify_jstr(l->items[i].value)) ||
            !identify_jset(it, "count",
                           json_integer((json_int_t)l->items[i].count)))
            goto fail;
    }
    if (!identify_jset(o, "top", top)) {
        top = NULL;
        goto fail;
    }
    if (!identify_jset(o, "distinct", json_integer((json_int_t)l->distinct)) ||
        !identify_jset(o, "other", json_integer((json_int_t)l->other)) ||
        (l->capped && !identify_jset(o, "capped", json_true())))
        goto fail;
    return o;
fail:
    json_decref(top);
    json_decref(o);
    return NULL;
}

void postfix_account_reason(char *out, size_t size,
                            const struct postfix_findings *f,
                            const struct postfix_account *a)
{
    const struct postfix_thresholds *t = &f->thresholds;
    const struct postfix_log_account *l = &a->log;
    size_t n;

    n = (size_t)snprintf(out, size, "%zu queued (%.1f%% of %zu)", a->messages,
                         a->share * 100.0, f->total);
    if (a->has_log && n < size)
        n += (size_t)snprintf(
            out + n, size - n,
            "; %zu submitted in the last %u h from %zu client address%s "
            "(%zu sent, %zu deferred, %zu bounced)",
            l->accepted, t->log_hours, l->ips, l->ips == 1 ? "" : "es", l->sent,
            l->deferred, l->bounced);
    if (n >= size)
        return;
    if (a->flagged)
        snprintf(out + n, size - n, "; flagged on%s%s%s",
                 a->flags & POSTFIX_FLAG_QUEUE ? " the queue" : "",
                 a->flags & POSTFIX_FLAG_LOG
                     ? (a->flags & POSTFIX_FLAG_QUEUE ? " and the logs"
                                                      : " the logs")
                     : "",
                 a->flags & POSTFIX_FLAG_NAMED
                     ? (a->flags & (POSTFIX_FLAG_QUEUE | POSTFIX_FLAG_LOG)
                            ? ", and named"
                            : " the operator's word (named)")
                     : "");
    else
        snprintf(out + n, size - n,
                 "; %s: thresholds %zu queued and %.1f%%, or %zu submitted "
                 "from %zu addresses",
                 a->watch ? "watch, not acted on" : "under the thresholds",
                 t->min_messages, t->min_share * 100.0, t->log_min_messages,
                 t->log_min_clients);
}

/* Why an account is (not) flagged, in words for the plan and report. */
static json_t *identify_reason(const struct postfix_findings *f,
                               const struct postfix_account *a)
{
    char text[512];

    postfix_account_reason(text, sizeof(text), f, a);
    return json_string(text);
}

/* The account's flags as a JSON array of words. */
static json_t *identify_jflags(const struct postfix_account *a)
{
    json_t *v = json_array();

    if (v == NULL)
        return NULL;
    if (((a->flags & POSTFIX_FLAG_QUEUE) &&
         json_array_append_new(v, json_string("queue")) < 0) ||
        ((a->flags & POSTFIX_FLAG_LOG) &&
         json_array_append_new(v, json_string("log")) < 0) ||
        ((a->flags & POSTFIX_FLAG_NAMED) &&
         json_array_append_new(v, json_string("named")) < 0)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* The account's log evidence as JSON, or null. */
static json_t *identify_jlog(const struct postfix_account *a)
{
    const struct postfix_log_account *l = &a->log;

    if (!a->has_log)
        return json_null();
    return json_pack("{s:I,s:I,s:s?,s:I,s:I,s:I,s:I,s:I,s:I}", "messages",
                     (json_int_t)l->accepted, "clients", (json_int_t)l->ips,
                     "top_client", l->top_ip, "top_client_messages",
                     (json_int_t)l->top_ip_count, "first", (json_int_t)l->first,
                     "last", (json_int_t)l->last, "sent", (json_int_t)l->sent,
                     "deferred", (json_int_t)l->deferred, "bounced",
                     (json_int_t)l->bounced);
}

/* One suspect's JSON object. */
static json_t *identify_jaccount(const struct postfix_findings *f,
                                 const struct postfix_account *a)
{
    json_t *o = json_object(), *ids = NULL;
    size_t i;

    if (o == NULL)
        return NULL;
    if (!identify_jset(o, "username", identify_jstr(a->username)) ||
        !identify_jset(o, "messages", json_integer((json_int_t)a->messages)) ||
        !identify_jset(o, "share", json_real(a->share)) ||
        !identify_jset(o, "flagged", json_boolean(a->flagged)) ||
        !identify_jset(o, "flags", identify_jflags(a)) ||
        !identify_jset(o, "watch", json_boolean(a->watch)) ||
        !identify_jset(o, "log", identify_jlog(a)) ||
        !identify_jset(o, "reason", identify_reason(f, a)) ||
        !identify_jset(o, "backscatter",
                       json_integer((json_int_t)a->backscatter)) ||
        !identify_jset(o, "foreign_senders",
                       json_integer((json_int_t)a->foreign_senders)) ||
        !identify_jset(o, "first_arrival", json_integer(a->first_arrival)) ||
        !identify_jset(o, "last_arrival", json_integer(a->last_arrival)) ||
        !identify_jset(o, "clients", identify_jlist(&a->clients)) ||
        !identify_jset(o, "helos", identify_jlist(&a->helos)) ||
        !identify_jset(o, "sender_domains",
                       identify_jlist(&a->sender_domains)) ||
        !identify_jset(o, "subjects", identify_jlist(&a->subjects)) ||
        !identify_jset(o, "recipient_domains",
                       identify_jlist(&a->recipient_domains)))
        goto fail;
    if (a->flagged) {
        ids = json_array();
        if (!identify_jset(o, "queue_ids", ids) ||
            !identify_jset(o, "queue_id_count",
                           json_integer((json_int_t)a->n_refs)))
            goto fail;
        /* the first ones: all of them are in the run's .ids file */
        for (i = 0; i < a->n_refs && i < POSTFIX_JSON_IDS_MAX; i++)
            if (json_array_append_new(ids, json_string(a->refs[i].queue_id)) <
                0)
                goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* One web script's JSON object. */
static json_t *identify_jscript(const struct postfix_script *s)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    if (!identify_jset(o, "script", identify_jstr(s->script)) ||
        !identify_jset(o, "messages", json_integer((json_int_t)s->messages)) ||
        !identify_jset(o, "first_arrival", json_integer(s->first_arrival)) ||
        !identify_jset(o, "last_arrival", json_integer(s->last_arrival)) ||
        !identify_jset(o, "sender_domains",
                       identify_jlist(&s->sender_domains))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Renders the findings; see postfix.h. */
int postfix_findings_to_json(char **out, const struct postfix_findings *f,
                             struct errbuf *err)
{
    json_t *root = json_object(), *th = json_object(), *arr = NULL;
    size_t i;
    int r = SS_ERR;

    *out = NULL;
    if (root == NULL || th == NULL)
        goto out;
    if (!identify_jset(th, "min_messages",
                       json_integer((json_int_t)f->thresholds.min_messages)) ||
        !identify_jset(th, "min_share", json_real(f->thresholds.min_share)))
        goto out;
    if (!identify_jset(root, "thresholds", th)) {
        th = NULL;
        goto out;
    }
    th = NULL;
    if (!identify_jset(root, "total", json_integer((json_int_t)f->total)) ||
        !identify_jset(root, "authenticated",
                       json_integer((json_int_t)f->authenticated)) ||
        !identify_jset(root, "scripted",
                       json_integer((json_int_t)f->scripted)) ||
        !identify_jset(root, "other", json_integer((json_int_t)f->other)) ||
        !identify_jset(root, "flagged_messages",
                       json_integer((json_int_t)f->flagged_messages)) ||
        !identify_jset(root, "backscatter",
                       json_integer((json_int_t)f->backscatter)) ||
        !identify_jset(root, "remainder",
                       json_integer((json_int_t)f->remainder)) ||
        !identify_jset(root, "incomplete",
                       json_integer((json_int_t)f->incomplete)) ||
        !identify_jset(root, "anomalies",
                       json_integer((json_int_t)f->anomalies)))
        goto out;
    arr = json_array();
    if (!identify_jset(root, "suspects", arr))
        goto out;
    for (i = 0; i < f->n_accounts; i++)
        if (json_array_append_new(arr, identify_jaccount(f, &f->accounts[i])) <
            0)
            goto out;
    arr = json_array();
    if (!identify_jset(root, "scripts", arr))
        goto out;
    for (i = 0; i < f->n_scripts; i++)
        if (json_array_append_new(arr, identify_jscript(&f->scripts[i])) < 0)
            goto out;
    *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (*out != NULL)
        r = 0;
out:
    json_decref(th);
    json_decref(root);
    if (r < 0)
        errbuf_set(err, r, "out of memory rendering the findings");
    return r;
}

/* Writes the listing of messages; see postfix.h. */
int postfix_messages_listing(struct buf *out,
                             const struct postfix_message *msgs, size_t n,
                             struct errbuf *err)
{
    json_t *o = NULL, *rc = NULL;
    char *line = NULL;
    size_t i, k;
    int r = SS_ERR;

    for (i = 0; i < n; i++) {
        const struct postfix_message *m = &msgs[i];

        if (m->queue_name == NULL || m->queue_id == NULL ||
            !postfix_queue_name_valid(m->queue_name) ||
            !postfix_queue_id_valid(m->queue_id))
            continue;
        if ((o = json_object()) == NULL || (rc = json_array()) == NULL ||
            !identify_jset(o, "queue_name", json_string(m->queue_name)) ||
            !identify_jset(o, "queue_id", json_string(m->queue_id)) ||
            (m->arrival_time >= 0 &&
             !identify_jset(o, "arrival_time",
                            json_integer((json_int_t)m->arrival_time))) ||
            !identify_jset(o, "sender",
                           identify_jstr(m->sender != NULL ? m->sender : "")))
            goto out;
        for (k = 0; k < m->n_recipients; k++) {
            json_t *a = json_object();
            if (a == NULL || json_array_append_new(rc, a) < 0 ||
                !identify_jset(a, "address", identify_jstr(m->recipients[k])))
                goto out;
        }
        if (json_object_set_new(o, "recipients", rc) < 0) {
            rc = NULL;
            goto out;
        }
        rc = NULL;
        if (!identify_jset(o, "recipient_count",
                           json_integer((json_int_t)m->recipients_total)) ||
            (line = json_dumps(o, JSON_COMPACT)) == NULL ||
            buf_adds(out, line) < 0 || buf_addc(out, '\n') < 0)
            goto out;
        free(line);
        line = NULL;
        json_decref(o);
        o = NULL;
    }
    r = 0;
out:
    free(line);
    json_decref(rc);
    json_decref(o);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}
