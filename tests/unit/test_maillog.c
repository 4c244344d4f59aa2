/* The log evidence pass: its command and its parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spamstop/postfix.h"

/* 2026-12-05T08:18:06Z, the hosts' "now" in these tests. */
#define NOW "1796458686"

static const struct postfix_log_account *find(const struct postfix_maillog *m,
                                              const char *name)
{
    size_t i;

    for (i = 0; i < m->naccounts; i++)
        if (strcmp(m->accounts[i].name, name) == 0)
            return &m->accounts[i];
    return NULL;
}

static void parse(struct postfix_maillog *m, const char *text, long long since)
{
    struct errbuf e = ERRBUF_INIT;

    assert_int_equal(postfix_maillog_parse(m, text, strlen(text), since, &e),
                     0);
}

/* Submissions, addresses, times and the join by queue id. */
static void test_counts_per_account(void **state)
{
    static const char text[] =
        "now " NOW " +0000\n"
        "source /var/log/mail.log\n"
        "source /var/log/mail.log.2.gz\n"
        "A Dec_5_08:15:00 4ABC123 bob@example.test 10.77.0.2\n"
        "S Dec_5_08:15:01 4ABC123 sent\n"
        "A Dec_5_08:15:02 4ABC124 bob@example.test 10.77.0.2\n"
        "S Dec_5_08:15:03 4ABC124 deferred\n"
        "S Dec_5_08:16:03 4ABC124 sent\n"
        "A Dec_5_08:15:03 5DEF456 alice@example.test ::1\n"
        "S Dec_5_08:20:04 5DEF456 bounced\n"
        "S Dec_5_08:15:04 5DEF456 deferred\n"
        "A 2026-12-05T07:00:00.123+00:00 7AAA bob@example.test 10.0.0.9\n"
        "S Dec_5_08:15:09 9999 sent\n"
        "end\n";
    struct postfix_maillog m;
    const struct postfix_log_account *a;

    (void)state;
    parse(&m, text, 0);
    assert_true(m.complete);
    assert_int_equal(m.sources.n, 2);
    assert_string_equal(m.sources.v[1], "/var/log/mail.log.2.gz");
    assert_int_equal(m.naccounts, 2);
    assert_non_null(a = find(&m, "bob@example.test"));
    assert_int_equal(a->accepted, 3);
    assert_int_equal(a->ips, 2);
    assert_string_equal(a->top_ip, "10.77.0.2");
    assert_int_equal(a->top_ip_count, 2);
    assert_int_equal(a->first, 1796454000); /* 07:00:00 */
    assert_int_equal(a->last, 1796458502);  /* 08:15:02 */
    /* the deferred one was sent later: its latest status counts */
    assert_int_equal(a->sent, 2);
    assert_int_equal(a->deferred, 0);
    assert_non_null(a = find(&m, "alice@example.test"));
    assert_int_equal(a->ips, 1);
    assert_string_equal(a->top_ip, "::1");
    /* bounced at 08:20, read before the earlier deferral: time decides */
    assert_int_equal(a->bounced, 1);
    assert_int_equal(a->deferred, 0);
    assert_int_equal(m.records, 10);
    postfix_maillog_release(&m);
}

/* The window, the host's zone, last year's December, odd and cut lines. */
static void test_window_zones_and_odd_lines(void **state)
{
    static const char text[] =
        "now " NOW " -0500\n" /* 03:18:06 on the host */
        "source journald\n"
        "A Dec_5_03:15:00 B1 carol@example.test 10.77.0.3\n" /* 08:15Z */
        "A 2026-12-05T03:10:00-05:00 B2 carol@example.test 10.77.0.3\n"
        "A Dec_4_03:15:00 B3 carol@example.test 10.77.0.3\n" /* too old */
        "A Dec_31_23:00:00 B4 dave@example.test 10.77.0.4\n" /* 2025 */
        "A Jan_1_00:00:00 NOQUEUE x@y 1.2.3.4\n"
        "A Xyz_1_00:00:00 B5 x@y 1.2.3.4\n"
        "A Dec_5_03:15:00 B6 x@y\n"
        "S Dec_5_03:1\n";
    struct postfix_maillog m;
    const struct postfix_log_account *a;

    (void)state;
    parse(&m, text, 1796458686 - 3600); /* the last hour */
    assert_false(m.complete);
    assert_int_equal(m.naccounts, 1);
    assert_non_null(a = find(&m, "carol@example.test"));
    assert_int_equal(a->accepted, 2);
    assert_int_equal(a->first, 1796458200); /* 08:10Z */
    assert_int_equal(a->last, 1796458500);  /* 08:15Z */
    assert_int_equal(m.older, 2);
    assert_int_equal(m.odd, 4);
    postfix_maillog_release(&m);
    parse(&m, text, 0);
    assert_non_null(a = find(&m, "dave@example.test"));
    assert_int_equal(a->first, 1767240000); /* 2026-01-01T04:00Z */
    postfix_maillog_release(&m);
}

/* One line read twice (a log copied beside its rotation) counts once. */
static void test_same_line_twice(void **state)
{
    static const char text[] =
        "now " NOW " +0000\n"
        "A Dec_5_08:15:00 C1 erin@example.test 10.77.0.5\n"
        "A Dec_5_08:15:00 C1 erin@example.test 10.77.0.5\n"
        "end\n";
    struct postfix_maillog m;

    (void)state;
    parse(&m, text, 0);
    assert_int_equal(m.naccounts, 1);
    assert_int_equal(m.accounts[0].accepted, 1);
    postfix_maillog_release(&m);
}

/* The command assigns its inputs quoted and carries the program. */
static void test_command(void **state)
{
    char *c = postfix_maillog_command(1796372286, 1u << 20);

    (void)state;
    assert_non_null(c);
    assert_non_null(strstr(c, "since='1796372286'\n"));
    assert_non_null(strstr(c, "logs='/var/log/mail.log /var/log/maillog "
                              "/usr/local/psa/var/log/maillog'\n"));
    assert_non_null(strstr(c, "cap=1048576\n"));
    assert_non_null(strstr(c, "sasl_username="));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_account),
        cmocka_unit_test(test_window_zones_and_odd_lines),
        cmocka_unit_test(test_same_line_twice),
        cmocka_unit_test(test_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
