/* Unit tests of the fleet picture: lib/fleet and engine_fleet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/engine.h"
#include "spamstop/error.h"
#include "spamstop/fleet.h"

/* Only what two hosts share stays, each host counted once per value. */
static void test_fleet_keeps_what_hosts_share(void **state)
{
    struct fleet f;

    (void)state;
    fleet_init(&f);
    /* h1: alice and bob share 10.0.0.9 on one host: that is not a fleet */
    assert_int_equal(fleet_add_flagged(&f, "h1", "alice@x"), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.9", "h1", "alice@x", 30), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_SUBJECT, "Cheap", "h1", "alice@x", 30), 0);
    assert_int_equal(fleet_add_flagged(&f, "h1", "bob@x"), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.9", "h1", "bob@x", 5), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.1", "h1", "bob@x", 5), 0);
    /* h2: dave from 10.0.0.7 and 10.0.0.1; "Cheap" only as a HELO name */
    assert_int_equal(fleet_add_flagged(&f, "h2", "dave@y"), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.7", "h2", "dave@y", 20), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.1", "h2", "dave@y", 20), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_HELO, "Cheap", "h2", "dave@y", 20), 0);
    /* h3: alice again, from 10.0.0.7 and 10.0.0.1 */
    assert_int_equal(fleet_add_flagged(&f, "h3", "alice@x"), 0);
    assert_int_equal(fleet_add_flagged(&f, "h3", "alice@x"), 0); /* twice */
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.7", "h3", "alice@x", 3), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.1", "h3", "alice@x", 4), 0);
    fleet_finish(&f);

    /* 10.0.0.1 on three hosts first, then 10.0.0.7 on two; 10.0.0.9 (one
       host, two accounts) and "Cheap" (two kinds) are not shared */
    assert_int_equal(f.n_values, 2);
    assert_string_equal(f.values[0].value, "10.0.0.1");
    assert_int_equal(f.values[0].kind, FLEET_CLIENT);
    assert_int_equal(f.values[0].n_hosts, 3);
    assert_int_equal(f.values[0].n_seen, 3);
    assert_int_equal(f.values[0].messages, 29);
    assert_string_equal(f.values[0].seen[0].host, "h1");
    assert_string_equal(f.values[0].seen[0].account, "bob@x");
    assert_string_equal(f.values[0].seen[1].host, "h2");
    assert_string_equal(f.values[0].seen[1].account, "dave@y");
    assert_int_equal(f.values[0].seen[1].count, 20);
    assert_string_equal(f.values[1].value, "10.0.0.7");
    assert_int_equal(f.values[1].n_hosts, 2);
    /* alice, flagged on h1 and h3: one notice; bob and dave on one host */
    assert_int_equal(f.n_accounts, 1);
    assert_string_equal(f.accounts[0].account, "alice@x");
    assert_int_equal(f.accounts[0].n_hosts, 2);
    assert_string_equal(f.accounts[0].hosts[0], "h1");
    assert_string_equal(f.accounts[0].hosts[1], "h3");
    assert_string_equal(fleet_kind_name(FLEET_CLIENT), "client IP");
    assert_string_equal(fleet_kind_name(FLEET_HELO), "HELO name");
    assert_string_equal(fleet_kind_name(FLEET_SUBJECT), "subject");
    fleet_release(&f);
    fleet_release(&f); /* twice: nothing left */
    fleet_release(NULL);
}

/* A fleet of one host, or of none, is empty. */
static void test_fleet_one_host_is_empty(void **state)
{
    struct fleet f;

    (void)state;
    fleet_init(&f);
    fleet_finish(&f);
    assert_int_equal(f.n_values + f.n_accounts, 0);
    fleet_release(&f);
    fleet_init(&f);
    assert_int_equal(fleet_add_flagged(&f, "h1", "alice@x"), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.9", "h1", "alice@x", 3), 0);
    assert_int_equal(
        fleet_add_value(&f, FLEET_CLIENT, "10.0.0.9", "h1", "bob@x", 3), 0);
    fleet_finish(&f);
    assert_int_equal(f.n_values + f.n_accounts, 0);
    fleet_release(&f);
}

/* Copies list[0..n) into v (value, messages pairs). */
static void values_set(struct engine_values *v, const char *const *list,
                       size_t n)
{
    size_t i;

    v->v = calloc(n, sizeof(*v->v));
    assert_non_null(v->v);
    for (i = 0; i < n; i++) {
        v->v[i].value = strdup(list[i]);
        v->v[i].messages = 10 * (long long)(n - i);
    }
    v->n = n;
}

/* Sets account a of sv: flagged or only seen, from clients. */
static void account_set(struct engine_account *a, const char *address,
                        enum engine_account_level level,
                        const char *const *clients, size_t n,
                        const char *subject)
{
    a->address = strdup(address);
    a->level = level;
    a->messages = 10;
    values_set(&a->top_clients, clients, n);
    if (subject != NULL)
        values_set(&a->subjects, &subject, 1);
}

/* Host name after a pass with survey sv as step 2's (NULL: no survey). */
static void host_set(struct engine_host *h, const char *name,
                     struct engine_survey *sv)
{
    engine_host_init(h);
    h->target.name = strdup(name);
    h->nsteps = 3;
    h->steps = calloc(3, sizeof(*h->steps));
    assert_non_null(h->steps);
    h->steps[1].survey = sv;
    h->state = HOST_DRY_RUN;
}

/* A survey of n accounts, to fill with account_set. */
static struct engine_survey *survey_new(size_t n)
{
    struct engine_survey *sv = calloc(1, sizeof(*sv));

    assert_non_null(sv);
    sv->accounts = calloc(n, sizeof(*sv->accounts));
    assert_non_null(sv->accounts);
    sv->naccounts = n;
    return sv;
}

/*
 * The plan's picture comes from each host's survey: the example,
 * 198.51.100.7 sent for bob@ on mx1 and for dave@ on mx3, and bob
 * flagged on mx1 and mx2 gets one notice.  Accounts only seen, and a
 * host without a survey, add nothing.
 */
static void test_engine_fleet_from_surveys(void **state)
{
    static const char *const c1[] = {"198.51.100.7", "10.0.0.1"};
    static const char *const c2[] = {"203.0.113.5"};
    static const char *const c3[] = {"198.51.100.7"};
    static const char *const seen[] = {"10.0.0.1"};
    struct engine_host h[4];
    struct engine_survey *sv;
    struct fleet f;
    size_t i;

    (void)state;
    sv = survey_new(2);
    account_set(&sv->accounts[0], "bob@example.com", ENGINE_ACCOUNT_FLAGGED, c1,
                2, "Invoice overdue");
    account_set(&sv->accounts[1], "carol@example.com", ENGINE_ACCOUNT_SEEN,
                seen, 1, NULL);
    host_set(&h[0], "mx1", sv);
    sv = survey_new(1);
    account_set(&sv->accounts[0], "bob@example.com", ENGINE_ACCOUNT_FLAGGED, c2,
                1, "Invoice overdue");
    host_set(&h[1], "mx2", sv);
    sv = survey_new(2);
    account_set(&sv->accounts[0], "dave@example.org", ENGINE_ACCOUNT_FLAGGED,
                c3, 1, NULL);
    /* 10.0.0.1 is bob's on mx1 too, but erin is only watched here */
    account_set(&sv->accounts[1], "erin@example.org", ENGINE_ACCOUNT_WATCH,
                seen, 1, NULL);
    host_set(&h[2], "mx3", sv);
    host_set(&h[3], "mx4", NULL); /* unreachable: no survey */
    h[3].state = HOST_UNREACHABLE;

    assert_int_equal(engine_fleet(&f, h, 4), 0);
    assert_int_equal(f.n_values, 2);
    assert_int_equal(f.values[0].kind, FLEET_CLIENT);
    assert_string_equal(f.values[0].value, "198.51.100.7");
    assert_int_equal(f.values[0].n_seen, 2);
    assert_string_equal(f.values[0].seen[0].account, "bob@example.com");
    assert_string_equal(f.values[0].seen[0].host, "mx1");
    assert_int_equal(f.values[0].seen[0].count, 20);
    assert_string_equal(f.values[0].seen[1].account, "dave@example.org");
    assert_string_equal(f.values[0].seen[1].host, "mx3");
    assert_int_equal(f.values[1].kind, FLEET_SUBJECT);
    assert_string_equal(f.values[1].value, "Invoice overdue");
    assert_int_equal(f.n_accounts, 1);
    assert_string_equal(f.accounts[0].account, "bob@example.com");
    assert_int_equal(f.accounts[0].n_hosts, 2);
    assert_string_equal(f.accounts[0].hosts[0], "mx1");
    assert_string_equal(f.accounts[0].hosts[1], "mx2");
    fleet_release(&f);

    /* one host alone shares nothing */
    assert_int_equal(engine_fleet(&f, h, 1), 0);
    assert_int_equal(f.n_values + f.n_accounts, 0);
    fleet_release(&f);
    for (i = 0; i < 4; i++)
        engine_host_release(&h[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_keeps_what_hosts_share),
        cmocka_unit_test(test_fleet_one_host_is_empty),
        cmocka_unit_test(test_engine_fleet_from_surveys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
