/* The fleet picture: values and accounts of flagged accounts on many hosts. */
#include <stdlib.h>
#include <string.h>

#include "spamstop/error.h"
#include "spamstop/fleet.h"

const char *fleet_kind_name(enum fleet_kind k)
{
    static const char *const names[] = {"client IP", "HELO name", "subject"};

    return k < FLEET_KINDS ? names[k] : "?";
}

void fleet_init(struct fleet *f)
{
    size_t k;

    memset(f, 0, sizeof(*f));
    for (k = 0; k < FLEET_KINDS; k++)
        hmap_init(&f->index[k], FLEET_MAX);
    hmap_init(&f->by_account, FLEET_MAX);
}

void fleet_release(struct fleet *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->n_values; i++) {
        free(f->values[i].value);
        free(f->values[i].seen);
    }
    for (i = 0; i < f->n_accounts; i++)
        free(f->accounts[i].hosts);
    for (i = 0; i < FLEET_KINDS; i++)
        hmap_release(&f->index[i]);
    hmap_release(&f->by_account);
    free(f->values);
    free(f->accounts);
    memset(f, 0, sizeof(*f));
}

/* Grows *v (of *n elements of size sz) by one; NULL when out of memory. */
static void *fleet_grow(void *v, size_t n, size_t sz)
{
    return n + 1 > (size_t)-1 / sz ? NULL : realloc(v, (n + 1) * sz);
}

/* The value of kind in f, added when new; NULL (*rc set) on failure. */
static struct fleet_value *fleet_value_of(struct fleet *f, enum fleet_kind kind,
                                          const char *value, int *rc)
{
    struct fleet_value *nv, *x;
    char *copy = NULL;
    size_t *at, ix;
    int r;

    *rc = SS_ERR;
    if (hmap_get(&ix, &f->index[kind], value) == 0)
        return &f->values[ix];
    if ((copy = strdup(value)) == NULL ||
        (nv = fleet_grow(f->values, f->n_values, sizeof(*nv))) == NULL) {
        free(copy);
        return NULL;
    }
    f->values = nv;
    if ((r = hmap_put(&at, &f->index[kind], copy, f->n_values)) < 0) {
        free(copy);
        *rc = r;
        return NULL;
    }
    x = &f->values[f->n_values];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->value = copy;
    x->order = f->n_values++;
    return x;
}

int fleet_add_value(struct fleet *f, enum fleet_kind kind, const char *value,
                    const char *host, const char *account, size_t count)
{
    struct fleet_sighting *ns;
    struct fleet_value *x;
    int rc;

    if (kind >= FLEET_KINDS)
        return SS_ERR;
    if ((x = fleet_value_of(f, kind, value, &rc)) == NULL)
        return rc;
    if ((ns = fleet_grow(x->seen, x->n_seen, sizeof(*ns))) == NULL)
        return SS_ERR;
    x->seen = ns;
    /* a host's sightings come together: a new host differs from the last */
    if (x->n_seen == 0 || strcmp(x->seen[x->n_seen - 1].host, host) != 0)
        x->n_hosts++;
    x->seen[x->n_seen].host = host;
    x->seen[x->n_seen].account = account;
    x->seen[x->n_seen].count = count;
    x->n_seen++;
    x->messages += count;
    return 0;
}

int fleet_add_flagged(struct fleet *f, const char *host, const char *account)
{
    struct fleet_account *na, *a;
    const char **nh;
    size_t *at, ix;
    int r;

    if (hmap_get(&ix, &f->by_account, account) < 0) {
        if ((na = fleet_grow(f->accounts, f->n_accounts, sizeof(*na))) == NULL)
            return SS_ERR;
        f->accounts = na;
        if ((r = hmap_put(&at, &f->by_account, account, f->n_accounts)) < 0)
            return r;
        ix = f->n_accounts++;
        memset(&f->accounts[ix], 0, sizeof(f->accounts[ix]));
        f->accounts[ix].account = account;
    }
    a = &f->accounts[ix];
    if (a->n_hosts > 0 && strcmp(a->hosts[a->n_hosts - 1], host) == 0)
        return 0;
    if ((nh = fleet_grow(a->hosts, a->n_hosts, sizeof(*nh))) == NULL)
        return SS_ERR;
    a->hosts = nh;
    a->hosts[a->n_hosts++] = host;
    return 0;
}

/* On more hosts first, then in the order first added. */
static int fleet_value_cmp(const void *a, const void *b)
{
    const struct fleet_value *x = a, *y = b;

    if (x->n_hosts != y->n_hosts)
        return x->n_hosts < y->n_hosts ? 1 : -1;
    return x->order < y->order ? -1 : x->order > y->order;
}

void fleet_finish(struct fleet *f)
{
    size_t i, n = 0;

    /* the indexes point at values about to move or go */
    for (i = 0; i < FLEET_KINDS; i++)
        hmap_release(&f->index[i]);
    hmap_release(&f->by_account);
    for (i = 0; i < f->n_values; i++) {
        if (f->values[i].n_hosts < 2) {
            free(f->values[i].value);
            free(f->values[i].seen);
            continue;
        }
        f->values[n++] = f->values[i];
    }
    f->n_values = n;
    if (n > 1)
        qsort(f->values, n, sizeof(*f->values), fleet_value_cmp);
    for (i = n = 0; i < f->n_accounts; i++) {
        if (f->accounts[i].n_hosts < 2) {
            free(f->accounts[i].hosts);
            continue;
        }
        f->accounts[n++] = f->accounts[i];
    }
    f->n_accounts = n;
}
