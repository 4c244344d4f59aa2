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

/*
 * The pass reads each kind of record on its own (maillog.sh): the A records,
 * then the S records, each in the log's order, count as the same records
 * interleaved.
 */
static void test_kinds_apart(void **state)
{
    static const char mixed[] =
        "now " NOW " +0000\n"
        "A Dec_5_08:15:00 D1 fay@example.test 10.77.0.6\n"
        "S Dec_5_08:15:01 D1 deferred\n"
        "A Dec_5_08:15:02 D2 fay@example.test 10.77.0.7\n"
        "S Dec_5_08:15:03 D1 sent\n"
        "S Dec_5_08:15:03 D2 bounced\n"
        "A Dec_5_08:15:04 D3 gus@example.test 10.77.0.8\n"
        "S Dec_5_08:15:03 D2 deferred\n"
        "end\n";
    static const char apart[] =
        "now " NOW " +0000\n"
        "A Dec_5_08:15:00 D1 fay@example.test 10.77.0.6\n"
        "A Dec_5_08:15:02 D2 fay@example.test 10.77.0.7\n"
        "A Dec_5_08:15:04 D3 gus@example.test 10.77.0.8\n"
        "S Dec_5_08:15:01 D1 deferred\n"
        "S Dec_5_08:15:03 D1 sent\n"
        "S Dec_5_08:15:03 D2 bounced\n"
        "S Dec_5_08:15:03 D2 deferred\n"
        "end\n";
    struct postfix_maillog a, b;
    size_t i;

    (void)state;
    parse(&a, mixed, 0);
    parse(&b, apart, 0);
    assert_int_equal(a.records, b.records);
    assert_int_equal(a.naccounts, 2);
    assert_int_equal(b.naccounts, a.naccounts);
    for (i = 0; i < a.naccounts; i++) {
        const struct postfix_log_account *x = &a.accounts[i],
                                         *y = &b.accounts[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->accepted, y->accepted);
        assert_int_equal(x->ips, y->ips);
        /* a tie: the address seen first stays the top one */
        assert_string_equal(x->top_ip, y->top_ip);
        assert_int_equal(x->first, y->first);
        assert_int_equal(x->last, y->last);
        assert_int_equal(x->sent, y->sent);
        assert_int_equal(x->deferred, y->deferred);
        assert_int_equal(x->bounced, y->bounced);
    }
    /* two statuses in one second: the later line counts */
    assert_int_equal(find(&b, "fay@example.test")->sent, 1);
    assert_int_equal(find(&b, "fay@example.test")->deferred, 1);
    assert_string_equal(find(&b, "fay@example.test")->top_ip, "10.77.0.6");
    postfix_maillog_release(&a);
    postfix_maillog_release(&b);
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

/*
 * The watch after a rotation at 08:20:00 (1796458800): logins strictly
 * after it, per account, the first one's time, address and service; one
 * before or in the rotation's second does not count; odd lines are
 * counted, not fatal; a host without a clock leaves syslog times unread.
 */
static void test_logins(void **state)
{
    static const char text[] =
        "now 1796458862 +0100\n"
        "source /var/log/mail.log\n"
        "L 2026-12-05T08:20:30+00:00 smtp bob@x.test 203.0.113.5\n"
        "L Dec_5_09:20:10 imap bob@x.test 2001:db8::1\n"
        "L 2026-12-05T08:20:00+00:00 imap bob@x.test 10.0.0.1\n"
        "L 2026-12-05T08:19:00+00:00 imap alice@x.test 10.0.0.2\n"
        "L 2026-12-05T08:21:00+00:00 pop3 carol@x.test -\n"
        "L 2026-12-05T08:21:00+00:00 imap carol@x.test $(reboot)\n"
        "L 2026-12-05T08:21:00+00:00 IMAP carol@x.test 1.2.3.4\n"
        "garbage\n"
        "end\n";
    struct postfix_logins l;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(
        postfix_logins_parse(&l, text, strlen(text), 1796458800, &e), 0);
    assert_true(l.complete);
    assert_int_equal(l.now, 1796458862);
    assert_int_equal(l.sources.n, 1);
    assert_int_equal(l.naccounts, 2);
    assert_string_equal(l.accounts[0].account, "bob@x.test");
    assert_int_equal(l.accounts[0].logins, 2);
    /* the syslog time is the host's (+0100): 08:20:10 UTC, the first */
    assert_int_equal(l.accounts[0].first, 1796458810);
    assert_string_equal(l.accounts[0].first_ip, "2001:db8::1");
    assert_string_equal(l.accounts[0].first_service, "imap");
    assert_string_equal(l.accounts[1].account, "carol@x.test");
    assert_int_equal(l.accounts[1].logins, 1);
    assert_string_equal(l.accounts[1].first_ip, "-");
    assert_int_equal(l.older, 2);
    assert_int_equal(l.odd, 3);
    postfix_logins_release(&l);

    /* cut at its cap: no "end"; no clock: records are odd */
    assert_int_equal(
        postfix_logins_parse(&l, "L Dec_5_09:20:10 imap bob@x.test 1.2.3.4\n",
                             40, 1796458800, &e),
        0);
    assert_false(l.complete);
    assert_int_equal(l.naccounts, 0);
    assert_int_equal(l.odd, 1);
    postfix_logins_release(&l);
}

/* The watch's command: its inputs quoted, the part, then the program. */
static void test_logins_command(void **state)
{
    char *c = postfix_logins_command(1796458800, 4096);

    (void)state;
    assert_non_null(c);
    assert_non_null(strstr(c, "since='1796458800'\n"));
    assert_non_null(strstr(c, "cap=4096\n"));
    assert_non_null(strstr(c, "log_grep()"));
    assert_true(strstr(c, "log_grep()") < strstr(c, "Login: user=<"));
    free(c);
}

/* Two parses come to the same figures (the account order included). */
static void assert_same_log(const struct postfix_maillog *a,
                            const struct postfix_maillog *b)
{
    size_t i;

    assert_int_equal(a->naccounts, b->naccounts);
    assert_int_equal(a->records, b->records);
    assert_int_equal(a->older, b->older);
    assert_int_equal(a->odd, b->odd);
    assert_int_equal(a->complete, b->complete);
    assert_int_equal(a->sources.n, b->sources.n);
    for (i = 0; i < a->naccounts; i++) {
        const struct postfix_log_account *x = &a->accounts[i],
                                         *y = &b->accounts[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->accepted, y->accepted);
        assert_int_equal(x->ips, y->ips);
        assert_string_equal(x->top_ip, y->top_ip);
        assert_int_equal(x->top_ip_count, y->top_ip_count);
        assert_int_equal(x->first, y->first);
        assert_int_equal(x->last, y->last);
        assert_int_equal(x->sent, y->sent);
        assert_int_equal(x->deferred, y->deferred);
        assert_int_equal(x->bounced, y->bounced);
    }
}

/*
 * The output as it arrives, cut anywhere (every piece size from 1 byte):
 * the same figures as the whole text; a line past the longest one read
 * is odd, and a last line without its newline still counts.
 */
static void test_stream_pieces(void **state)
{
    static const char text[] =
        "now " NOW " +0000\n"
        "source /var/log/mail.log\n"
        "A Dec_5_08:15:00 4ABC123 bob@example.test 10.77.0.2\n"
        "S Dec_5_08:15:01 4ABC123 sent\n"
        "\n"
        "A Dec_5_08:15:02 4ABC124 bob@example.test 10.77.0.3\n"
        "A Dec_5_08:15:02 4ABC125 bob@example.test 10.77.0.3\n"
        "A Dec_5_08:15:03 5DEF456 alice@example.test ::1\n"
        "S Dec_5_08:15:04 5DEF456 deferred\n"
        "A Dec_5_08:15:05 4ABC1\0 bob@example.test 10.77.0.2\n"
        "S Dec_5_08:15:09 4ABC124 bounced";
    struct postfix_maillog whole, part;
    struct postfix_maillog_stream *ps;
    struct errbuf e = ERRBUF_INIT;
    size_t len = sizeof(text) - 1, piece, at, n;
    char *longline;

    (void)state;
    assert_int_equal(postfix_maillog_parse(&whole, text, len, 0, &e), 0);
    assert_int_equal(whole.naccounts, 2);
    assert_string_equal(whole.accounts[0].top_ip, "10.77.0.3");
    assert_int_equal(whole.accounts[0].bounced, 1); /* the unended line */
    assert_int_equal(whole.odd, 1);                 /* the NUL's line */
    for (piece = 1; piece <= len; piece++) {
        assert_int_equal(postfix_maillog_stream_new(&ps, &part, 0, &e), 0);
        for (at = 0; at < len; at += n) {
            n = len - at < piece ? len - at : piece;
            assert_int_equal(postfix_maillog_stream_feed(ps, text + at, n, &e),
                             0);
        }
        assert_int_equal(postfix_maillog_stream_end(ps, &e), 0);
        postfix_maillog_stream_free(ps);
        assert_same_log(&whole, &part);
        postfix_maillog_release(&part);
    }
    postfix_maillog_release(&whole);

    /* a line of 5,000 bytes: odd, and the next line is read */
    assert_non_null(longline = malloc(5000 + sizeof(text)));
    memset(longline, 'x', 5000);
    memcpy(longline + 5000, "\n", 1);
    memcpy(longline + 5001, text, sizeof(text) - 1);
    assert_int_equal(postfix_maillog_stream_new(&ps, &part, 0, &e), 0);
    assert_int_equal(postfix_maillog_stream_feed(ps, longline, 3000, &e), 0);
    assert_int_equal(
        postfix_maillog_stream_feed(ps, longline + 3000, 2001 + len, &e), 0);
    assert_int_equal(postfix_maillog_stream_end(ps, &e), 0);
    postfix_maillog_stream_free(ps);
    assert_int_equal(part.odd, 2); /* the long line and the NUL's */
    assert_int_equal(part.naccounts, 2);
    assert_int_equal(part.accounts[0].bounced, 1);
    postfix_maillog_release(&part);
    free(longline);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_account),
        cmocka_unit_test(test_window_zones_and_odd_lines),
        cmocka_unit_test(test_same_line_twice),
        cmocka_unit_test(test_kinds_apart),
        cmocka_unit_test(test_stream_pieces),
        cmocka_unit_test(test_command),
        cmocka_unit_test(test_logins),
        cmocka_unit_test(test_logins_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
