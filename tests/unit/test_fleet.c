/* Unit tests of the fleet picture: lib/fleet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_keeps_what_hosts_share),
        cmocka_unit_test(test_fleet_one_host_is_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
