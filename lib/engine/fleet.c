/* The fleet picture of a pass: what the hosts' surveys have in common. */
#include "spamstop/engine.h"
#include "spamstop/error.h"
#include "spamstop/fleet.h"

/* Adds a flagged account's listed values of one kind, seen on host. */
static int engine_fleet_values(struct fleet *f, enum fleet_kind kind,
                               const struct engine_values *v, const char *host,
                               const char *account)
{
    size_t i;
    int r;

    for (i = 0; i < v->n; i++)
        if ((r = fleet_add_value(f, kind, v->v[i].value, host, account,
                                 v->v[i].messages > 0 ? (size_t)v->v[i].messages
                                                      : 0)) < 0)
            return r;
    return 0;
}

/* Adds what host's survey sv says of its flagged accounts. */
static int engine_fleet_host(struct fleet *f, const char *host,
                             const struct engine_survey *sv)
{
    size_t i;
    int r;

    for (i = 0; i < sv->naccounts; i++) {
        const struct engine_account *a = &sv->accounts[i];
        if (a->level != ENGINE_ACCOUNT_FLAGGED)
            continue;
        if ((r = fleet_add_flagged(f, host, a->address)) < 0 ||
            (r = engine_fleet_values(f, FLEET_CLIENT, &a->top_clients, host,
                                     a->address)) < 0 ||
            (r = engine_fleet_values(f, FLEET_HELO, &a->helos, host,
                                     a->address)) < 0 ||
            (r = engine_fleet_values(f, FLEET_SUBJECT, &a->subjects, host,
                                     a->address)) < 0)
            return r;
    }
    return 0;
}

int engine_fleet(struct fleet *out, const struct engine_host *hosts, size_t n)
{
    const struct engine_survey *sv;
    size_t i;
    int r;

    fleet_init(out);
    for (i = 0; i < n; i++)
        if ((sv = engine_host_survey(&hosts[i])) != NULL &&
            (r = engine_fleet_host(out, hosts[i].target.name, sv)) < 0)
            return r;
    fleet_finish(out);
    return 0;
}
