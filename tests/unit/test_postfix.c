/* Unit tests of lib/postfix: parsers, identify, remote command texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../fuzz/envelopes_same.h"
#include "fake_tool.h"
#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"

/* Reads tests/fixtures/postfix/name (caller frees). */
static char *fixture(const char *name, size_t *len)
{
    struct errbuf err = ERRBUF_INIT;
    char path[512];
    char *data = NULL;

    snprintf(path, sizeof(path), "%s/postfix/%s", FIXTURES_DIR, name);
    if (fsio_read_file(&data, len, path, 64u << 20, &err) < 0)
        fail_msg("%s", err.msg);
    return data;
}

/* The lab's postqueue -j: 40 deferred messages, all fields read. */
static void test_queue_lab(void **state)
{
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t len, i, with_reason = 0;
    char *text = fixture("postqueue-lab.jsonl", &len);

    (void)state;
    assert_int_equal(postfix_queue_parse_string(&q, text, len, &err), 0);
    assert_int_equal(q.n, 40);
    assert_int_equal(q.malformed, 0);
    for (i = 0; i < q.n; i++) {
        assert_string_equal(q.entries[i].queue_name, "deferred");
        assert_true(postfix_queue_id_valid(q.entries[i].queue_id));
        assert_true(q.entries[i].arrival_time > 1700000000);
        assert_true(q.entries[i].message_size > 0);
        assert_true(q.entries[i].n_recipients >= 1);
        if (q.entries[i].recipients[0].delay_reason != NULL &&
            strstr(q.entries[i].recipients[0].delay_reason, "refused"))
            with_reason++;
    }
    assert_int_equal(with_reason, 40);
    postfix_queue_release(&q);
    free(text);
}

/* Odd lines are skipped and counted; the rest is still read. */
static void test_queue_malformed(void **state)
{
    static const char text[] =
        "{\"queue_name\": \"hold\", \"queue_id\": \"ABC123\", "
        "\"arrival_time\": 5, \"message_size\": 7, \"future\": {\"x\": 1}, "
        "\"sender\": \"\", \"recipients\": [{\"address\": \"a@b\"}]}\r\n"
        "not json\n"
        "\n"
        "{\"queue_name\": \"deferred\", \"queue_id\": \"../etc\"}\n"
        "{\"queue_name\": \"nowhere\", \"queue_id\": \"ABC\"}\n"
        "[1, 2]\n"
        "{\"queue_name\": \"deferred\", \"queue_id\": \"4Xb5Zp0qRTz8Kd\", "
        "\"sender\": \"caf\xe9@x\\u0001y\"}";
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    struct errbuf err = ERRBUF_INIT;

    (void)state;
    assert_int_equal(
        postfix_queue_parse_string(&q, text, sizeof(text) - 1, &err), 0);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.malformed, 4);
    assert_int_equal(q.first_malformed_line, 2);
    assert_string_equal(q.entries[0].queue_name, "hold");
    assert_string_equal(q.entries[0].sender, "");
    assert_int_equal(q.entries[0].arrival_time, 5);
    assert_int_equal(q.entries[0].n_recipients, 1);
    assert_null(q.entries[0].recipients[0].delay_reason);
    /* Latin-1 byte and a control character made visible, not fatal */
    assert_string_equal(q.entries[1].sender, "caf?@x?y");
    assert_int_equal(q.entries[1].arrival_time, -1);
    postfix_queue_release(&q);
    assert_int_equal(postfix_queue_parse_string(&q, "", 0, &err), 0);
    assert_int_equal(q.n, 0);
    postfix_queue_release(&q);
}

/* A line over 64 KiB fails the whole parse with SS_ETOOBIG. */
static void test_queue_too_big(void **state)
{
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t n = POSTFIX_LINE_MAX + 10;
    char *text = malloc(n);

    (void)state;
    memset(text, 'x', n);
    assert_int_equal(postfix_queue_parse_string(&q, text, n, &err), SS_ETOOBIG);
    assert_non_null(strstr(err.msg, "line 1"));
    postfix_queue_release(&q);
    free(text);
}

/* Short hex ids and long ids pass; anything else does not. */
static void test_queue_id_syntax(void **state)
{
    (void)state;
    assert_true(postfix_queue_id_valid("C92481E53E3"));
    assert_true(postfix_queue_id_valid("654D1F6"));
    assert_true(postfix_queue_id_valid("4Xb5Zp0qRTz8Kd"));
    assert_false(postfix_queue_id_valid(""));
    assert_false(postfix_queue_id_valid(NULL));
    assert_false(postfix_queue_id_valid("abcdef")); /* vowels, lower hex */
    assert_false(postfix_queue_id_valid("ABC-123"));
    assert_false(postfix_queue_id_valid("ABC 123"));
    assert_false(postfix_queue_id_valid("A';rm -rf /;'"));
    assert_false(postfix_queue_id_valid("ALL"));
    /* bytes next to the allowed ranges, and vowels of both cases */
    assert_false(postfix_queue_id_valid("B@C"));
    assert_false(postfix_queue_id_valid("B[C"));
    assert_false(postfix_queue_id_valid("B`C"));
    assert_false(postfix_queue_id_valid("B{C"));
    assert_false(postfix_queue_id_valid("B/C"));
    assert_false(postfix_queue_id_valid("B:C"));
    assert_false(postfix_queue_id_valid("BcE"));
    assert_false(postfix_queue_id_valid("Bcu"));
    assert_false(postfix_queue_id_valid("B\xc3\x89"
                                        "C"));
    assert_true(postfix_queue_id_valid("BcDfZz09"));
    assert_true(postfix_queue_id_valid(
        "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"));
    assert_false(postfix_queue_id_valid(
        "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0"));
}

/* Finds a message by id or fails the test. */
static const struct postfix_message *find_msg(const struct postfix_envelopes *e,
                                              const char *id)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        if (strcmp(e->msgs[i].queue_id, id) == 0)
            return &e->msgs[i];
    fail_msg("no message %s", id);
    return NULL;
}

/* The identify output captured on a lab host: 40 messages, all evidence. */
static void test_envelopes_lab(void **state)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t len, i, alice = 0, scripts = 0, complete = 0;
    char *text = fixture("identify-lab.txt", &len);
    const struct postfix_message *m;

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, text, len, &err), 0);
    assert_int_equal(e.n, 40);
    assert_int_equal(e.anomalies, 0);
    assert_true(e.end_seen);
    for (i = 0; i < e.n; i++) {
        m = &e.msgs[i];
        complete += m->complete;
        assert_string_equal(m->queue_name, "deferred");
        assert_true(m->n_recipients >= 1);
        assert_int_equal(m->n_recipients, m->recipients_total);
        if (m->sasl_username != NULL &&
            strcmp(m->sasl_username, "alice@example.test") == 0) {
            alice++;
            assert_non_null(m->client_address);
            assert_non_null(m->helo_name);
        }
        if (m->x_php_script != NULL) {
            scripts++;
            assert_string_equal(m->x_php_script, "33:mailer.php");
            assert_null(m->sasl_username);
        }
    }
    assert_int_equal(complete, 40);
    assert_int_equal(alice, 30);
    assert_int_equal(scripts, 3);
    m = find_msg(&e, "50DEEF3");
    assert_string_equal(m->sasl_username, "carol@example.test");
    assert_string_equal(m->client_address, "10.80.0.1");
    assert_string_equal(m->helo_name, "workstation.example.test");
    assert_string_equal(m->subject, "legit note 1");
    assert_string_equal(m->recipients[0], "ww00ixi@remote.test");
    /* Sat Nov 28 09:33:03 2026 UTC */
    assert_int_equal(m->arrival_time, 1795858383LL);
    postfix_envelopes_release(&e);
    free(text);
}

/* Raw postcat -e -h output (every record and header) parses the same way. */
static void test_envelopes_raw_postcat(void **state)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t len, i;
    char *text = fixture("postcat-raw.txt", &len);
    size_t rcpts = 0;

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, text, len, &err), 0);
    assert_int_equal(e.n, 12);
    assert_int_equal(e.anomalies, 0);
    assert_false(e.end_seen);
    for (i = 0; i < e.n; i++) {
        assert_true(e.msgs[i].complete);
        assert_non_null(e.msgs[i].subject);
        assert_true(e.msgs[i].recipients_total >= 1);
        rcpts += e.msgs[i].recipients_total;
    }
    assert_int_equal(rcpts, 26); /* grep -c ^recipient: on the file */
    postfix_envelopes_release(&e);
    free(text);
}

static const char article[] =
    "*** ENVELOPE RECORDS deferred/C/C92481E53E3 ***\n"
    "message_size:           51990             761               1\n"
    "message_arrival_time: Wed Mar  4 18:51:02 2015\n"
    "named_attribute: sasl_method=CRAM-MD5\n"
    "named_attribute: sasl_username=utente@mioserver.it\n"
    "sender: packagetechsupport@package.lt\n"
    "named_attribute: log_client_address=79.59.237.73\n"
    "named_attribute: log_helo_name=User\n"
    "recipient: a@x.example\n"
    "recipient: b@x.example\n"
    "spamstop_recipients: 250\n"
    "*** MESSAGE CONTENTS deferred/C/C92481E53E3 ***\n"
    "Subject: =?utf-8?B?SGVsbG8=?=\n"
    "\t folded part\n"
    "Received: from x\n"
    "\tby y\n"
    "SUBJECT: second subject is ignored\n"
    "*** HEADER EXTRACTED deferred/C/C92481E53E3 ***\n"
    "*** MESSAGE FILE END deferred/C/C92481E53E3 ***\n";

/* The article's envelope: SASL evidence, folded headers, recipient count. */
static void test_envelopes_article(void **state)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    const struct postfix_message *m;

    (void)state;
    assert_int_equal(
        postfix_envelopes_parse(&e, article, sizeof(article) - 1, &err), 0);
    assert_int_equal(e.n, 1);
    m = &e.msgs[0];
    assert_string_equal(m->queue_id, "C92481E53E3");
    assert_string_equal(m->sasl_username, "utente@mioserver.it");
    assert_string_equal(m->client_address, "79.59.237.73");
    assert_string_equal(m->sender, "packagetechsupport@package.lt");
    assert_int_equal(m->arrival_time, 1425495062LL);
    assert_int_equal(m->n_recipients, 2);
    assert_int_equal(m->recipients_total, 250);
    assert_string_equal(m->subject, "=?utf-8?B?SGVsbG8=?=\t folded part");
    assert_true(m->complete);
    postfix_envelopes_release(&e);
}

/* A batch re-read after a vanished id lists messages twice: kept once. */
static void test_envelopes_duplicates(void **state)
{
    static const char text[] = "*** ENVELOPE RECORDS deferred/A/AAA111 ***\n"
                               "named_attribute: sasl_username=first@x\n"
                               "*** ENVELOPE RECORDS deferred/B/BBB222 ***\n"
                               "sender: b@x\n"
                               "*** MESSAGE FILE END deferred/B/BBB222 ***\n"
                               "*** ENVELOPE RECORDS deferred/A/AAA111 ***\n"
                               "named_attribute: sasl_username=again@x\n"
                               "*** MESSAGE FILE END deferred/A/AAA111 ***\n"
                               "*** ENVELOPE RECORDS deferred/B/BBB222 ***\n"
                               "sender: b2@x\n"
                               "*** MESSAGE FILE END deferred/B/BBB222 ***\n"
                               "*** SPAMSTOP IDENTIFY END ***\n";
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, text, sizeof(text) - 1, &err),
                     0);
    assert_int_equal(e.n, 2);
    assert_true(e.end_seen);
    assert_string_equal(find_msg(&e, "AAA111")->sasl_username, "again@x");
    assert_true(find_msg(&e, "AAA111")->complete);
    assert_string_equal(find_msg(&e, "BBB222")->sender, "b2@x");
    /* the first AAA111 was cut short by the next marker */
    assert_int_equal(e.anomalies, 1);
    postfix_envelopes_release(&e);
}

/*
 * Text imitating markers (a forged envelope inside a record, stray
 * markers, bad ids) shows up as anomalies; bad paths are never messages.
 */
static void test_envelopes_hostile(void **state)
{
    static const char text[] =
        "garbage before\n"
        "*** ENVELOPE RECORDS deferred/A/AB12 ***\n"
        "sender: x\n"
        "*** ENVELOPE RECORDS deferred/F/FKK1 ***\n"
        "named_attribute: sasl_username=victim@x\n"
        "*** MESSAGE FILE END deferred/F/FKK1 ***\n"
        "*** MESSAGE CONTENTS deferred/A/AB12 ***\n"
        "*** ENVELOPE RECORDS deferred/A/../../etc/passwd ***\n"
        "named_attribute: sasl_username=ghost@x\n"
        "*** MESSAGE FILE END deferred/A/../../etc/passwd ***\n"
        "*** ENVELOPE RECORDS nowhere/A1 ***\n"
        "*** ENVELOPE RECORDS deferred/E/E1 ***\n"
        "message_arrival_time: Xyz Abc 99 99:99:99 1\n"
        "sender: \x01\x7f\n"
        "*** MESSAGE FILE END deferred/E/E1 ***\n"
        "*** ENVELOPE RECORDS deferred/E/E2 ***\n"
        "recipient: cut";
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    const struct postfix_message *m;

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, text, sizeof(text) - 1, &err),
                     0);
    assert_false(e.end_seen);
    /* AB12 (cut), FKK1 (lives, but flagged by anomalies), E1, E2 (cut) */
    assert_int_equal(e.n, 4);
    assert_true(e.anomalies >= 5);
    assert_false(find_msg(&e, "AB12")->complete);
    m = find_msg(&e, "E1");
    assert_int_equal(m->arrival_time, -1);
    assert_string_equal(m->sender, "??");
    assert_false(find_msg(&e, "E2")->complete);
    assert_string_equal(find_msg(&e, "E2")->recipients[0], "cut");
    postfix_envelopes_release(&e);
}

/* Builds a message list for identify from a compact description. */
static struct postfix_message mk(const char *id, const char *user,
                                 const char *client, const char *script,
                                 long long t)
{
    struct postfix_message m;

    memset(&m, 0, sizeof(m));
    m.queue_name = "deferred";
    m.queue_id = id;
    m.sasl_username = user;
    m.sender = user != NULL ? user : "www-data@h";
    m.client_address = client;
    m.helo_name = client != NULL ? "helo" : NULL;
    m.x_php_script = script;
    m.arrival_time = t;
    m.complete = true;
    return m;
}

/* Bounces of flagged spam to a forged sender go with it; others stay. */
static void test_identify_backscatter(void **state)
{
    struct postfix_message msgs[80];
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    struct errbuf err = ERRBUF_INIT;
    static const char *to_forged[] = {"Victim@Forged.test"};
    static const char *to_alice[] = {"alice@x.test"};
    static const char *to_other[] = {"someone@else.test"};
    static char ids[80][16];
    size_t i, n = 0, bs = 0;
    char *js = NULL;

    (void)state;
    for (i = 0; i < 60; i++, n++) { /* alice's spam, forged sender */
        snprintf(ids[n], sizeof(ids[n]), "A%05zX", i);
        msgs[n] = mk(ids[n], "alice@x.test", "1.2.3.4", NULL, 5);
        msgs[n].sender = i < 50 ? "victim@forged.test" : "alice@x.test";
    }
    for (i = 0; i < 12; i++, n++) { /* bounces */
        snprintf(ids[n], sizeof(ids[n]), "B%05zX", i);
        msgs[n] = mk(ids[n], NULL, NULL, NULL, 6);
        msgs[n].sender = "";
        msgs[n].recipients = i < 7 ? to_forged : i < 9 ? to_alice : to_other;
        msgs[n].n_recipients = 1;
    }
    for (i = 0; i < 8; i++, n++) { /* to that address, not bounces */
        snprintf(ids[n], sizeof(ids[n]), "C%05zX", i);
        msgs[n] = mk(ids[n], NULL, NULL, NULL, 7);
        msgs[n].recipients = to_forged;
        msgs[n].n_recipients = 1;
    }
    assert_int_equal(postfix_identify(&f, msgs, n, &t, &err), 0);
    assert_int_equal(f.n_flagged, 1);
    assert_int_equal(f.flagged_messages, 60);
    assert_int_equal(f.backscatter, 7); /* to the forged sender only */
    assert_int_equal(f.accounts[0].backscatter, 7);
    assert_int_equal(f.accounts[0].n_refs, 67);
    for (i = 0; i < f.accounts[0].n_refs; i++)
        bs += f.accounts[0].refs[i].queue_id[0] == 'B';
    assert_int_equal(bs, 7);
    assert_int_equal(f.remainder, 80 - 60 - 7);
    assert_int_equal(postfix_findings_to_json(&js, &f, &err), 0);
    assert_non_null(strstr(js, "\"backscatter\":7"));
    free(js);
    postfix_findings_release(&f);
}

/*
 * Distinct subjects are counted up to a cap: one account's 10,005
 * distinct subjects list the top ones, count the rest, and say the count
 * of distinct ones is a floor; its findings JSON lists its first 10,000
 * queue ids and counts them all.
 */
static void test_identify_subjects_capped(void **state)
{
    enum { N = POSTFIX_JSON_IDS_MAX + 5 };
    static struct postfix_message msgs[N];
    static char ids[N][12], subjects[N][24];
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    struct errbuf err = ERRBUF_INIT;
    const struct postfix_account *a;
    char *js = NULL;
    json_t *o, *acc;
    size_t i, listed = 0;

    (void)state;
    for (i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "S%05zX", i);
        snprintf(subjects[i], sizeof(subjects[i]), "cheap watches %zu", i);
        msgs[i] = mk(ids[i], "alice@x.test", "1.2.3.4", NULL, 5);
        msgs[i].subject = subjects[i];
    }
    assert_int_equal(postfix_identify(&f, msgs, N, &t, &err), 0);
    assert_int_equal(f.n_accounts, 1);
    a = &f.accounts[0];
    assert_true(a->flagged);
    assert_int_equal(a->subjects.distinct, 4096);
    assert_true(a->subjects.capped);
    for (i = 0; i < a->subjects.n; i++)
        listed += a->subjects.items[i].count;
    assert_int_equal(listed + a->subjects.other, N);
    assert_false(a->clients.capped);
    assert_int_equal(postfix_findings_to_json(&js, &f, &err), 0);
    assert_non_null(strstr(js, "\"distinct\":4096,\"other\":"));
    assert_non_null(strstr(js, "\"capped\":true"));
    /* the flagged account's ids: the first ones listed, all counted */
    o = json_loads(js, 0, NULL);
    acc = json_array_get(json_object_get(o, "suspects"), 0);
    assert_int_equal(json_array_size(json_object_get(acc, "queue_ids")),
                     POSTFIX_JSON_IDS_MAX);
    assert_int_equal(json_integer_value(json_object_get(acc, "queue_id_count")),
                     N);
    json_decref(o);
    free(js);
    postfix_findings_release(&f);
}

/* Appends n log submissions of user from ips addresses to b. */
static void log_lines(struct buf *b, const char *user, size_t n, size_t ips,
                      const char *status)
{
    static unsigned qid;
    size_t i;

    for (i = 0; i < n; i++) {
        qid++;
        assert_int_equal(buf_printf(b,
                                    "A 2026-12-05T08:00:00Z L%u %s 10.0.%zu.1\n"
                                    "S 2026-12-05T08:00:01Z L%u %s\n",
                                    qid, user, i % ips, qid, status),
                         0);
    }
}

/* Log evidence and named accounts flag too; near misses are on watch. */
static void test_identify_log_and_named(void **state)
{
    struct postfix_message msgs[100];
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    struct postfix_maillog log;
    struct strlist named = STRLIST_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct buf text = BUF_INIT;
    static char ids[100][16];
    const struct postfix_account *a;
    char why[512];
    size_t i;

    (void)state;
    for (i = 0; i < 100; i++) { /* bob 10 queued: under 50 */
        snprintf(ids[i], sizeof(ids[i]), "%c%05zX", i < 10 ? 'B' : 'Z', i);
        msgs[i] = mk(ids[i], i < 10 ? "bob@x.test" : NULL, "9.9.9.9", NULL, 5);
    }
    assert_int_equal(buf_adds(&text, "now 1796458686 +0000\n"), 0);
    log_lines(&text, "bob@x.test", 300, 20, "sent");
    log_lines(&text, "carol@x.test", 250, 8, "deferred");
    log_lines(&text, "erin@x.test", 120, 3, "sent");  /* watch */
    log_lines(&text, "frank@x.test", 400, 1, "sent"); /* one client */
    assert_int_equal(buf_adds(&text, "end\n"), 0);
    assert_int_equal(postfix_maillog_parse(&log, text.data, text.len, 0, &err),
                     0);
    assert_int_equal(strlist_push(&named, "dave@x.test"), 0);
    t.log = &log;
    t.log_min_clients = 5;
    t.named = &named;
    assert_int_equal(postfix_identify(&f, msgs, 100, &t, &err), 0);
    assert_int_equal(f.n_flagged, 3);
    assert_int_equal(f.n_watch, 1); /* erin; frank: one client */
    assert_string_equal(f.accounts[0].username, "bob@x.test");
    a = &f.accounts[0];
    assert_int_equal(a->flags, POSTFIX_FLAG_LOG);
    assert_int_equal(a->n_refs, 10);
    assert_int_equal(a->log.sent, 300);
    postfix_account_reason(why, sizeof(why), &f, a);
    assert_string_equal(why, "10 queued (10.0% of 100); 300 submitted in the "
                             "last 24 h from 20 client addresses (300 sent, 0 "
                             "deferred, 0 bounced); flagged on the logs");
    for (i = 0; i < f.n_accounts; i++) {
        a = &f.accounts[i];
        if (strcmp(a->username, "carol@x.test") == 0) {
            assert_int_equal(a->flags, POSTFIX_FLAG_LOG);
            assert_int_equal(a->messages, 0);
            assert_int_equal(a->n_refs, 0);
            assert_int_equal(a->log.deferred, 250);
        } else if (strcmp(a->username, "dave@x.test") == 0) {
            assert_int_equal(a->flags, POSTFIX_FLAG_NAMED);
            assert_false(a->has_log);
        } else if (strcmp(a->username, "erin@x.test") == 0) {
            assert_false(a->flagged);
            assert_true(a->watch);
            postfix_account_reason(why, sizeof(why), &f, a);
            assert_non_null(strstr(why, "; watch, not acted on"));
        }
    }
    assert_int_equal(f.flagged_messages, 10);
    assert_int_equal(f.n_accounts, 4); /* frank is neither */
    postfix_findings_release(&f);
    postfix_maillog_release(&log);
    strlist_release(&named);
    buf_release(&text);
}

/* Thresholds: both count and share must hold; ranking; refs; scripts. */
static void test_identify_flags(void **state)
{
    struct postfix_message msgs[200];
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    struct errbuf err = ERRBUF_INIT;
    static char ids[200][16];
    size_t i, n = 0;

    (void)state;
    for (i = 0; i < 120; i++) { /* alice: 120, from two clients */
        snprintf(ids[n], sizeof(ids[n]), "A%05zX", i);
        msgs[n] = mk(ids[n], "alice@x.test", i % 3 ? "1.2.3.4" : "5.6.7.8",
                     NULL, 1000 + (long long)i);
        n++;
    }
    for (i = 0; i < 55; i++) { /* bob: 55 >= 50 but 27.5% of 200 ... */
        snprintf(ids[n], sizeof(ids[n]), "B%05zX", i);
        msgs[n] = mk(ids[n], "bob@x.test", "9.9.9.9", NULL, 5);
        n++;
    }
    for (i = 0; i < 10; i++) {
        snprintf(ids[n], sizeof(ids[n]), "C%05zX", i);
        msgs[n] = mk(ids[n], "carol@x.test", "8.8.8.8", NULL, 5);
        n++;
    }
    for (i = 0; i < 12; i++) {
        snprintf(ids[n], sizeof(ids[n]), "D%05zX", i);
        msgs[n] = mk(ids[n], NULL, NULL, "33:mailer.php", 7);
        n++;
    }
    for (i = 0; i < 3; i++) {
        snprintf(ids[n], sizeof(ids[n]), "E%05zX", i);
        msgs[n] = mk(ids[n], NULL, NULL, NULL, 7);
        n++;
    }
    assert_int_equal(n, 200);
    t.min_share = 0.3;
    assert_int_equal(postfix_identify(&f, msgs, n, &t, &err), 0);
    assert_int_equal(f.total, 200);
    assert_int_equal(f.authenticated, 185);
    assert_int_equal(f.scripted, 12);
    assert_int_equal(f.other, 3);
    assert_int_equal(f.n_accounts, 3);
    assert_int_equal(f.n_flagged, 1);
    assert_string_equal(f.accounts[0].username, "alice@x.test");
    assert_true(f.accounts[0].flagged);
    assert_int_equal(f.accounts[0].n_refs, 120);
    assert_string_equal(f.accounts[0].refs[0].queue_id, "A00000");
    assert_int_equal(f.accounts[0].first_arrival, 1000);
    assert_int_equal(f.accounts[0].last_arrival, 1119);
    assert_int_equal(f.accounts[0].clients.distinct, 2);
    assert_string_equal(f.accounts[0].clients.items[0].value, "1.2.3.4");
    assert_int_equal(f.accounts[0].clients.items[0].count, 80);
    assert_int_equal(f.accounts[0].sender_domains.items[0].count, 120);
    assert_string_equal(f.accounts[1].username, "bob@x.test");
    assert_false(f.accounts[1].flagged); /* 27.5% < 30% */
    assert_int_equal(f.accounts[1].n_refs, 0);
    assert_int_equal(f.flagged_messages, 120);
    assert_int_equal(f.remainder, 80);
    assert_int_equal(f.n_scripts, 1);
    assert_string_equal(f.scripts[0].script, "33:mailer.php");
    assert_int_equal(f.scripts[0].messages, 12);
    postfix_findings_release(&f);

    /* lower share: bob too; higher count: nobody */
    t.min_share = 0.2;
    assert_int_equal(postfix_identify(&f, msgs, n, &t, &err), 0);
    assert_int_equal(f.n_flagged, 2);
    assert_int_equal(f.flagged_messages, 175);
    postfix_findings_release(&f);
    t.min_messages = 121;
    assert_int_equal(postfix_identify(&f, msgs, n, &t, &err), 0);
    assert_int_equal(f.n_flagged, 0);
    assert_int_equal(f.remainder, 200);
    postfix_findings_release(&f);
    t.min_share = 1.5;
    assert_int_equal(postfix_identify(&f, msgs, n, &t, &err), SS_EINVAL);
    postfix_findings_release(&f);
    /* an empty queue is fine */
    assert_int_equal(postfix_identify(&f, NULL, 0, NULL, &err), 0);
    assert_int_equal(f.n_accounts, 0);
    postfix_findings_release(&f);
}

/* More distinct values than kept: the rest is counted as other. */
static void test_identify_bounded_lists(void **state)
{
    struct postfix_message msgs[40];
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct errbuf err = ERRBUF_INIT;
    static char ids[40][16], ips[40][16];
    size_t i;

    (void)state;
    for (i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof(ids[i]), "F%05zX", i);
        snprintf(ips[i], sizeof(ips[i]), "10.0.0.%zu", i < 11 ? 1 : i);
        msgs[i] = mk(ids[i], "u@x", ips[i], NULL, 1);
    }
    assert_int_equal(postfix_identify(&f, msgs, 40, NULL, &err), 0);
    assert_int_equal(f.accounts[0].clients.distinct, 30);
    assert_int_equal(f.accounts[0].clients.n, POSTFIX_TOP_VALUES);
    assert_int_equal(f.accounts[0].clients.items[0].count, 11);
    assert_int_equal(f.accounts[0].clients.other, 40 - 11 - 9);
    assert_false(f.accounts[0].flagged); /* 40 < 50 */
    postfix_findings_release(&f);
}

/*
 * Recipient domains per account: every kept recipient counted, domains
 * lower-cased, in the findings' JSON; past 4096 distinct domains the
 * recipients are counted in "other", not kept.
 */
static void test_identify_recipient_domains(void **state)
{
    enum { N = 4200 };
    static const char *two[] = {"a@Gmail.COM", "b@victim.example"};
    static const char *one[] = {"c@gmail.com"};
    static char ids[N][16], rcpt[N][32];
    static const char *lone[N][1];
    struct postfix_message *msgs = calloc(N, sizeof(*msgs));
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct errbuf err = ERRBUF_INIT;
    const struct postfix_value_list *d;
    char *js = NULL;
    size_t i;

    (void)state;
    assert_non_null(msgs);
    for (i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof(ids[i]), "R%05zX", i);
        msgs[i] = mk(ids[i], "u@x", "10.0.0.1", NULL, 1);
        msgs[i].recipients = i < 2 ? two : one;
        msgs[i].n_recipients = i < 2 ? 2 : 1;
    }
    assert_int_equal(postfix_identify(&f, msgs, 3, NULL, &err), 0);
    d = &f.accounts[0].recipient_domains;
    assert_int_equal(d->distinct, 2);
    assert_string_equal(d->items[0].value, "gmail.com");
    assert_int_equal(d->items[0].count, 3);
    assert_string_equal(d->items[1].value, "victim.example");
    assert_int_equal(d->items[1].count, 2);
    assert_int_equal(postfix_findings_to_json(&js, &f, &err), 0);
    assert_non_null(strstr(js, "\"recipient_domains\":{\"top\":[{\"value\":"
                               "\"gmail.com\",\"count\":3}"));
    free(js);
    postfix_findings_release(&f);
    /* a domain per message, more than the cap */
    for (i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "S%05zX", i);
        snprintf(rcpt[i], sizeof(rcpt[i]), "v@d%zu.example", i);
        lone[i][0] = rcpt[i];
        msgs[i] = mk(ids[i], "u@x", "10.0.0.1", NULL, 1);
        msgs[i].recipients = lone[i];
        msgs[i].n_recipients = 1;
    }
    assert_int_equal(postfix_identify(&f, msgs, N, NULL, &err), 0);
    d = &f.accounts[0].recipient_domains;
    assert_int_equal(d->distinct, 4096);
    assert_int_equal(d->n, POSTFIX_TOP_VALUES);
    assert_int_equal(d->other, N - POSTFIX_TOP_VALUES);
    postfix_findings_release(&f);
    free(msgs);
}

/* The slots of the expected order: count descending, then value. */
static int cmp_value_count(const void *a, const void *b)
{
    const struct postfix_value_count *x = a, *y = b;

    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->value, y->value);
}

/* The kept values are the best POSTFIX_TOP_VALUES in order, ties by name. */
static void test_identify_top_order(void **state)
{
    struct postfix_message msgs[400];
    struct postfix_value_count want[25];
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct errbuf err = ERRBUF_INIT;
    static char ids[400][16], ips[25][16];
    size_t i, k = 0, j, kept = 0;

    (void)state;
    for (i = 0; i < 25; i++) {
        snprintf(ips[i], sizeof(ips[i]), "10.0.%zu.%zu", (i * 7) % 25, i);
        want[i].value = ips[i];
        want[i].count = 1 + (i * 13) % 6; /* many ties */
        for (j = 0; j < want[i].count; j++, k++) {
            snprintf(ids[k], sizeof(ids[k]), "C%05zX", k);
            msgs[k] = mk(ids[k], "u@x", ips[i], NULL, 1);
        }
    }
    qsort(want, 25, sizeof(want[0]), cmp_value_count);
    assert_int_equal(postfix_identify(&f, msgs, k, NULL, &err), 0);
    assert_int_equal(f.accounts[0].clients.n, POSTFIX_TOP_VALUES);
    for (i = 0; i < POSTFIX_TOP_VALUES; i++) {
        assert_string_equal(f.accounts[0].clients.items[i].value,
                            want[i].value);
        assert_int_equal(f.accounts[0].clients.items[i].count, want[i].count);
        kept += want[i].count;
    }
    assert_int_equal(f.accounts[0].clients.other, k - kept);
    postfix_findings_release(&f);
}

/*
 * Text that tests every path of the parsers: a message listed twice, CRLF,
 * control bytes, a folded header, values over POSTFIX_FIELD_MAX, a last
 * line without its newline.
 */
static void tricky_text(struct buf *b)
{
    size_t i;

    buf_adds(b, "*** ENVELOPE RECORDS deferred/A/AB12 ***\n"
                "named_attribute: sasl_username=old@x\n"
                "*** MESSAGE FILE END deferred/A/AB12 ***\n"
                "*** ENVELOPE RECORDS deferred/A/AB12 ***\r\n"
                "message_arrival_time: Sat Nov 28 12:58:02 2026\r\n"
                "named_attribute: sasl_username=eve\x01@x\r\n"
                "sender: a\tb@x\r\n"
                "recipient: r1@x\r\n"
                "*** MESSAGE CONTENTS deferred/A/AB12 ***\r\n"
                "Subject: first part\r\n"
                "\tsecond\x7fpart 12345678901234567890\r\n"
                "Message-ID: <m1@x>\r\n"
                "*** HEADER EXTRACTED deferred/A/AB12 ***\r\n"
                "*** MESSAGE FILE END deferred/A/AB12 ***\r\n"
                "*** ENVELOPE RECORDS hold/C/CD34 ***\n"
                "message_arrival_time: Sat Nov 28 12:58:02 2026\n"
                "*** MESSAGE CONTENTS hold/C/CD34 ***\n"
                "Subject: ");
    for (i = 0; i < POSTFIX_FIELD_MAX + 100; i++)
        buf_adds(b, i % 50 == 49 ? "\n " : "f");
    buf_adds(b, "\n*** HEADER EXTRACTED hold/C/CD34 ***\n"
                "sender: ");
    for (i = 0; i < POSTFIX_FIELD_MAX + 10; i++)
        buf_adds(b, "s");
    buf_adds(b, "\nrecipient: last");
}

/*
 * The in-place parse finds what the copying one finds (folded and cut
 * headers, control bytes, CRLF, a re-read id, a last line without its
 * newline), with its strings inside the text.
 */
static void test_envelopes_in_place(void **state)
{
    struct buf b = BUF_INIT;
    struct postfix_envelopes c = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    char *text;
    size_t i, j, len;

    (void)state;
    tricky_text(&b);
    len = b.len;
    assert_int_equal(postfix_envelopes_parse(&c, b.data, len, &err), 0);
    text = strdup(b.data);
    assert_non_null(text);
    assert_int_equal(postfix_envelopes_parse_in_place(&e, text, len, &err), 0);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.n, c.n);
    assert_int_equal(e.anomalies, c.anomalies);
    assert_int_equal(e.end_seen, c.end_seen);
    for (i = 0; i < e.n; i++) {
        const struct postfix_message *x = &c.msgs[i], *y = &e.msgs[i];
        const char *const xs[] = {x->queue_id,  x->sender,
                                  x->subject,   x->sasl_username,
                                  x->helo_name, x->client_address};
        const char *const ys[] = {y->queue_id,  y->sender,
                                  y->subject,   y->sasl_username,
                                  y->helo_name, y->client_address};
        for (j = 0; j < sizeof(xs) / sizeof(xs[0]); j++) {
            if (xs[j] == NULL) {
                assert_null(ys[j]);
                continue;
            }
            assert_string_equal(xs[j], ys[j]);
            /* in place: the strings are the text's own bytes */
            assert_true(ys[j] >= text && ys[j] <= text + len);
        }
        assert_string_equal(x->queue_name, y->queue_name);
        assert_true(x->arrival_time == y->arrival_time);
        assert_int_equal(x->n_recipients, y->n_recipients);
        for (j = 0; j < x->n_recipients; j++)
            assert_string_equal(x->recipients[j], y->recipients[j]);
    }
    assert_string_equal(find_msg(&e, "AB12")->sasl_username, "eve?@x");
    assert_string_equal(find_msg(&e, "AB12")->sender, "a?b@x");
    assert_string_equal(find_msg(&e, "AB12")->subject,
                        "first part\tsecond?part 12345678901234567890");
    assert_int_equal(strlen(find_msg(&e, "CD34")->subject), POSTFIX_FIELD_MAX);
    assert_int_equal(strlen(find_msg(&e, "CD34")->sender), POSTFIX_FIELD_MAX);
    assert_string_equal(find_msg(&e, "CD34")->recipients[0], "last");
    assert_string_equal(find_msg(&e, "CD34")->queue_name, "hold");
    assert_true(find_msg(&e, "CD34")->arrival_time == 1795870682);
    postfix_envelopes_release(&e);
    postfix_envelopes_release(&c);
    free(text);
    buf_release(&b);
}

/* Push-parses text in pieces of the sizes cut() gives; compares. */
static void stream_compare(const char *text, size_t len,
                           size_t (*cut)(size_t at, size_t arg), size_t arg)
{
    struct postfix_envelopes whole = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes pushed = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes_stream *s = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t at = 0, n;

    assert_int_equal(postfix_envelopes_parse(&whole, text, len, &err), 0);
    assert_int_equal(postfix_envelopes_stream_new(&s, &pushed, &err), 0);
    while (at < len) {
        n = cut(at, arg);
        if (n == 0 || n > len - at)
            n = len - at;
        assert_int_equal(postfix_envelopes_stream_feed(s, text + at, n, &err),
                         0);
        at += n;
    }
    assert_int_equal(postfix_envelopes_stream_end(s, &err), 0);
    envelopes_same(&pushed, &whole); /* aborts on any difference */
    postfix_envelopes_stream_free(s);
    postfix_envelopes_release(&pushed);
    postfix_envelopes_release(&whole);
}

/* Pieces of arg bytes. */
static size_t cut_fixed(size_t at, size_t arg)
{
    (void)at;
    return arg;
}

/* Two pieces: the first arg bytes, then the rest. */
static size_t cut_at(size_t at, size_t arg)
{
    return at == 0 && arg > 0 ? arg : 0;
}

/* Pseudo-random pieces of 1 to 4,096 bytes, seeded by arg. */
static size_t cut_random(size_t at, size_t arg)
{
    uint64_t x = (at + 1) * 0x9E3779B97F4A7C15ull ^ arg;

    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (size_t)(x % 4096) + 1;
}

/*
 * The push parser finds what the whole-text parse finds, whatever the
 * cuts: every split of the tricky text in two, pieces of every size up to
 * 64 bytes, random pieces of the lab captures.
 */
static void test_envelopes_stream(void **state)
{
    static const char *const names[] = {"identify-lab.txt", "postcat-raw.txt"};
    struct buf b = BUF_INIT;
    size_t i, k, len;
    char *text;

    (void)state;
    tricky_text(&b);
    for (i = 0; i <= b.len; i++)
        stream_compare(b.data, b.len, cut_at, i);
    for (k = 1; k <= 64; k++)
        stream_compare(b.data, b.len, cut_fixed, k);
    buf_release(&b);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        text = fixture(names[i], &len);
        for (k = 1; k <= 16; k++)
            stream_compare(text, len, cut_fixed, k);
        for (k = 0; k < 32; k++)
            stream_compare(text, len, cut_random, k);
        stream_compare(text, len, cut_fixed, len);
        free(text);
    }
}

/* A line over POSTFIX_STREAM_LINE_MAX fails, whole or cut; then all fails. */
static void test_envelopes_stream_long_line(void **state)
{
    struct postfix_envelopes env = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes_stream *s = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t n = POSTFIX_STREAM_LINE_MAX + 2, split;
    char *line = malloc(n);

    (void)state;
    assert_non_null(line);
    memset(line, 's', n);
    memcpy(line, "Subject: ", 9);
    line[n - 1] = '\n';
    for (split = 0; split <= 1; split++) {
        assert_int_equal(postfix_envelopes_stream_new(&s, &env, &err), 0);
        assert_int_equal(
            postfix_envelopes_stream_feed(
                s, "*** ENVELOPE RECORDS deferred/A/AB ***\n", 39, &err),
            0);
        if (split)
            assert_int_equal(postfix_envelopes_stream_feed(s, line, 100, &err),
                             0);
        assert_int_equal(postfix_envelopes_stream_feed(s, line + 100 * split,
                                                       n - 100 * split, &err),
                         SS_ETOOBIG);
        assert_non_null(strstr(err.msg, "over 131072 bytes"));
        assert_int_equal(postfix_envelopes_stream_feed(s, "x\n", 2, &err),
                         SS_ETOOBIG);
        assert_int_equal(postfix_envelopes_stream_end(s, &err), SS_ETOOBIG);
        postfix_envelopes_stream_free(s);
        postfix_envelopes_release(&env);
    }
    /* a line of exactly the maximum is taken */
    line[POSTFIX_STREAM_LINE_MAX] = '\n';
    assert_int_equal(postfix_envelopes_stream_new(&s, &env, &err), 0);
    assert_int_equal(postfix_envelopes_stream_feed(
                         s, line, POSTFIX_STREAM_LINE_MAX + 1, &err),
                     0);
    assert_int_equal(postfix_envelopes_stream_end(s, &err), 0);
    assert_int_equal(env.anomalies, 1);
    postfix_envelopes_stream_free(s);
    postfix_envelopes_release(&env);
    free(line);
}

/* The lab capture end to end: parse, identify, render, read back. */
static void test_identify_lab_json(void **state)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t len;
    char *text = fixture("identify-lab.txt", &len), *js = NULL;
    json_t *root, *s0;
    json_error_t jerr;

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, text, len, &err), 0);
    t.min_messages = 20;
    assert_int_equal(postfix_identify_envelopes(&f, &e, &t, &err), 0);
    assert_int_equal(f.n_flagged, 1);
    assert_string_equal(f.accounts[0].username, "alice@example.test");
    assert_int_equal(f.accounts[0].messages, 30);
    assert_int_equal(f.remainder, 10);
    assert_int_equal(f.scripted, 3);
    assert_int_equal(f.other, 2);
    assert_int_equal(postfix_findings_to_json(&js, &f, &err), 0);
    root = json_loads(js, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "total")), 40);
    s0 = json_array_get(json_object_get(root, "suspects"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "username")),
                        "alice@example.test");
    assert_true(json_is_true(json_object_get(s0, "flagged")));
    assert_int_equal(json_array_size(json_object_get(s0, "queue_ids")), 30);
    assert_non_null(strstr(json_string_value(json_object_get(s0, "reason")),
                           "30 queued (75.0% of 40); flagged on the queue"));
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(s0, "flags"), 0)),
        "queue");
    assert_true(json_is_null(json_object_get(s0, "log")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(root, "scripts"), 0), "script")),
        "33:mailer.php");
    json_decref(root);
    free(js);
    postfix_findings_release(&f);
    postfix_envelopes_release(&e);
    free(text);
}

/* Runs sh script in dir with fake tools first on PATH; returns status. */
static int run_sh(const char *dir, const char *script, const char *input,
                  char **out)
{
    struct errbuf err = ERRBUF_INIT;
    char path[512], cmd[2048];
    size_t len;
    int st;

    snprintf(path, sizeof(path), "%s/script.sh", dir);
    assert_int_equal(
        fsio_write_atomic(path, script, strlen(script), 0600, &err), 0);
    snprintf(path, sizeof(path), "%s/stdin", dir);
    assert_int_equal(fsio_write_atomic(path, input, strlen(input), 0600, &err),
                     0);
    snprintf(cmd, sizeof(cmd),
             "cd %s && PATH=%s/bin:$PATH sh script.sh <stdin >stdout "
             "2>stderr",
             dir, dir);
    st = system(cmd);
    snprintf(path, sizeof(path), "%s/stdout", dir);
    assert_int_equal(fsio_read_file(out, &len, path, 1 << 24, &err), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Writes queue file dir/q/rel holding "user<i>@x" (the fake postcat prints
 * it as the sasl_username), and a postconf naming dir/q as the queue.
 */
static void fake_queue_file(const char *dir, const char *rel, size_t i)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/q/%s", dir, rel);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "user%zu@x\n", i);
    fclose(f);
    snprintf(path, sizeof(path), "echo %s/q\n", dir);
    assert_int_equal(fake_tool(dir, "postconf", path), 0);
}

/*
 * The identify script with a fake postcat that loses a file in the middle
 * of a batch (as when a message is delivered between find and read): every
 * other message is still read, each once.
 */
static void test_identify_command_vanished(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", path[600];
    char *script = postfix_identify_command(NULL), *out = NULL;
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    const char *ids[] = {"1A01", "1A02", "2B03", "2B04", "3C05"};
    size_t i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path),
             "mkdir -p %s/q/deferred/1 %s/q/deferred/2 "
             "%s/q/hold %s/q/active",
             dir, dir, dir, dir);
    assert_int_equal(system(path), 0);
    for (i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s%s",
                 i == 4  ? "hold/"
                 : i < 2 ? "deferred/1/"
                         : "deferred/2/",
                 ids[i]);
        fake_queue_file(dir, path, i);
    }
    /* deletes 2B03 on its first multi-file call, then dies on it */
    assert_int_equal(
        fake_tool(
            dir, "postcat",
            "shift 2\n"
            "if [ $# -gt 1 ] && [ -f deferred/2/2B03 ]; then "
            "rm deferred/2/2B03; fi\n"
            "for f do\n"
            "  [ -f \"$f\" ] || { echo \"fatal: open $f\" >&2; exit 1; }\n"
            "  echo \"*** ENVELOPE RECORDS $f ***\"\n"
            "  echo \"named_attribute: sasl_username=$(cat $f)\"\n"
            "  echo \"named_attribute: client_port=1\"\n"
            "  echo \"*** MESSAGE CONTENTS $f ***\"\n"
            "  echo \"Received: x\"\n"
            "  echo \"Subject: s $f\"\n"
            "  echo \"*** HEADER EXTRACTED $f ***\"\n"
            "  echo \"*** MESSAGE FILE END $f ***\"\n"
            "done\n"),
        0);
    assert_int_equal(run_sh(dir, script, "", &out), 0);
    assert_null(strstr(out, "Received"));    /* filtered on the host */
    assert_null(strstr(out, "client_port")); /* idem */
    assert_int_equal(postfix_envelopes_parse(&e, out, strlen(out), &err), 0);
    assert_true(e.end_seen);
    assert_int_equal(e.n, 4);
    for (i = 0; i < e.n; i++)
        assert_true(e.msgs[i].complete);
    assert_string_equal(find_msg(&e, "3C05")->queue_name, "hold");
    assert_string_equal(find_msg(&e, "1A02")->sasl_username, "user1@x");
    assert_string_equal(find_msg(&e, "1A02")->subject, "s deferred/1/1A02");
    postfix_envelopes_release(&e);
    free(out);
    free(script);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* Times needle occurs in hay. */
static size_t occurrences(const char *hay, const char *needle)
{
    size_t k = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        k++;
        hay += strlen(needle);
    }
    return k;
}

/*
 * The pass prints the directories it ran with, and a pass given them runs
 * without postconf (here: one that fails) and prints the same.
 */
static void test_identify_command_dirs(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", path[600];
    char *script = postfix_identify_command(NULL), *again = NULL, *out = NULL;
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes e2 = POSTFIX_ENVELOPES_INIT;
    struct postfix_dirs d;
    struct errbuf err = ERRBUF_INIT;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "mkdir -p %s/q/deferred/1", dir);
    assert_int_equal(system(path), 0);
    fake_queue_file(dir, "deferred/1/1A01", 0);
    fake_queue_file(dir, "deferred/1/1A02", 1);
    snprintf(path, sizeof(path), "echo %s/q; echo %s/sbin\n", dir, dir);
    assert_int_equal(fake_tool(dir, "postconf", path), 0);
    assert_int_equal(
        fake_tool(dir, "postcat",
                  "shift 2\n"
                  "for f do\n"
                  "  echo \"*** ENVELOPE RECORDS $f ***\"\n"
                  "  echo \"named_attribute: sasl_username=$(cat $f)\"\n"
                  "  echo \"*** MESSAGE FILE END $f ***\"\n"
                  "done\n"),
        0);
    assert_int_equal(run_sh(dir, script, "", &out), 0);
    assert_int_equal(postfix_envelopes_parse(&e, out, strlen(out), &err), 0);
    assert_true(e.end_seen);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.anomalies, 0);
    snprintf(path, sizeof(path), "%s/q", dir);
    assert_string_equal(e.dirs.queue, path);
    snprintf(path, sizeof(path), "%s/sbin", dir);
    assert_string_equal(e.dirs.daemon, path);
    free(out);
    out = NULL;

    /* given the directories, no postconf runs */
    assert_int_equal(fake_tool(dir, "postconf", "exit 1\n"), 0);
    again = postfix_identify_command(&e.dirs);
    assert_null(strstr(again, "postconf")); /* no dirs.sh */
    snprintf(path, sizeof(path), "q='%s/q'\n", dir);
    assert_non_null(strstr(again, path));
    assert_int_equal(run_sh(dir, again, "", &out), 0);
    assert_int_equal(postfix_envelopes_parse(&e2, out, strlen(out), &err), 0);
    assert_true(e2.end_seen);
    assert_int_equal(e2.n, 2);
    assert_string_equal(e2.dirs.queue, e.dirs.queue);
    assert_string_equal(e2.dirs.daemon, e.dirs.daemon);
    postfix_envelopes_release(&e2);
    free(out);
    out = NULL;

    /* a directory outside the plain set: no line, and the next asks */
    snprintf(path, sizeof(path), "mv %s/q '%s/q x'", dir, dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "echo '%s/q x'; echo %s/sbin\n", dir, dir);
    assert_int_equal(fake_tool(dir, "postconf", path), 0);
    assert_int_equal(run_sh(dir, script, "", &out), 0);
    assert_int_equal(postfix_envelopes_parse(&e2, out, strlen(out), &err), 0);
    assert_true(e2.end_seen);
    assert_int_equal(e2.n, 2);
    assert_string_equal(e2.dirs.queue, "");
    assert_null(strstr(out, "SPAMSTOP DIRS"));
    postfix_envelopes_release(&e2);

    /* such directories are never pasted into a command */
    memset(&d, 0, sizeof(d));
    snprintf(d.queue, sizeof(d.queue), "/var/spool/$(reboot)");
    snprintf(d.daemon, sizeof(d.daemon), "/usr/lib/postfix/sbin");
    free(again);
    again = postfix_held_delete_command(&d);
    assert_null(strstr(again, "reboot"));
    assert_non_null(strstr(again, "postconf -h queue_directory"));

    postfix_envelopes_release(&e);
    free(out);
    free(again);
    free(script);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* Only one plain "SPAMSTOP DIRS" line counts; any other is an anomaly. */
static void test_envelopes_dirs_line(void **state)
{
    static const char *const bad[] = {
        "*** SPAMSTOP DIRS /var/spool/postfix ***\n",
        "*** SPAMSTOP DIRS /var/spool/postfix usr/lib ***\n",
        "*** SPAMSTOP DIRS /a b c ***\n",
        "*** SPAMSTOP DIRS /var/$(x) /usr/lib ***\n",
        "*** SPAMSTOP DIRS /a /b ***\n*** SPAMSTOP DIRS /a /b ***\n",
    };
    const char *good = "*** ENVELOPE RECORDS deferred/1/1A01 ***\n"
                       "named_attribute: sasl_username=u@x\n"
                       "*** MESSAGE FILE END deferred/1/1A01 ***\n"
                       "*** SPAMSTOP DIRS /var/spool/postfix "
                       "/usr/lib/postfix/sbin ***\n"
                       "*** SPAMSTOP IDENTIFY END ***\n";
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t i;

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, good, strlen(good), &err), 0);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.anomalies, 0);
    assert_string_equal(e.dirs.queue, "/var/spool/postfix");
    assert_string_equal(e.dirs.daemon, "/usr/lib/postfix/sbin");
    postfix_envelopes_release(&e);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            postfix_envelopes_parse(&e, bad[i], strlen(bad[i]), &err), 0);
        assert_true(e.anomalies >= 1);
        assert_string_equal(e.dirs.queue, "");
        assert_string_equal(e.dirs.daemon, "");
        postfix_envelopes_release(&e);
    }
}

/*
 * A batch whose postcat fails after printing (as when a file vanishes at
 * its end) is read again from scratch, so its messages come out once, not
 * once per try; and no postcat is given more than 2,000 files.
 */
static void test_identify_command_batches(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", path[700];
    char *script = postfix_identify_command(NULL), *out = NULL, *log = NULL;
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    const size_t n = 2101;
    size_t i, len, calls = 0;
    const char *p;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "mkdir -p %s/q/deferred/A %s/q/deferred/B",
             dir, dir);
    assert_int_equal(system(path), 0);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "deferred/%c/%c%05zX", "AB"[i % 2],
                 "AB"[i % 2], i);
        fake_queue_file(dir, path, i);
    }
    /* the first call given several files prints them all, then fails */
    snprintf(
        path, sizeof(path),
        "shift 2\n"
        "echo $# >>%s/calls.log\n"
        "for f do\n"
        "  read -r u <\"$f\"\n"
        "  echo \"*** ENVELOPE RECORDS $f ***\"\n"
        "  echo \"named_attribute: sasl_username=$u\"\n"
        "  echo \"*** MESSAGE CONTENTS $f ***\"\n"
        "  echo \"*** HEADER EXTRACTED $f ***\"\n"
        "  echo \"*** MESSAGE FILE END $f ***\"\n"
        "done\n"
        "if [ $# -gt 1 ] && mkdir %s/failed 2>/dev/null; then exit 1; fi\n",
        dir, dir);
    assert_int_equal(fake_tool(dir, "postcat", path), 0);
    assert_int_equal(run_sh(dir, script, "", &out), 0);
    assert_int_equal(occurrences(out, "*** ENVELOPE RECORDS "), n);
    assert_int_equal(
        occurrences(out, "*** ENVELOPE RECORDS deferred/B/B00001 "), 1);
    assert_int_equal(postfix_envelopes_parse(&e, out, strlen(out), &err), 0);
    assert_true(e.end_seen);
    assert_int_equal(e.n, n);
    assert_string_equal(find_msg(&e, "B00833")->sasl_username, "user2099@x");
    snprintf(path, sizeof(path), "%s/calls.log", dir);
    assert_int_equal(fsio_read_file(&log, &len, path, 4096, &err), 0);
    for (p = log; *p != '\0'; p = strchr(p, '\n') + 1) {
        assert_true(atoi(p) >= 1 && atoi(p) <= 2000);
        calls++;
    }
    assert_true(calls >= 3); /* two batches at least, one read twice */
    postfix_envelopes_release(&e);
    free(log);
    free(out);
    free(script);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/*
 * postcat that exits 0 with part of its output missing (as when its writes
 * fail on a full disk and it never notices) fails the pass: no end marker,
 * and stderr says why; the same postcat printing everything passes.
 */
static void test_identify_command_cut_output(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", path[700];
    char *script = postfix_identify_command(NULL), *out = NULL, *errs = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t i, len;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "mkdir -p %s/q/deferred/A", dir);
    assert_int_equal(system(path), 0);
    for (i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "deferred/A/A%02zu", i);
        fake_queue_file(dir, path, i);
    }
    /* prints the messages whose file holds no "3" while cut exists */
    snprintf(path, sizeof(path),
             "shift 2\n"
             "for f do\n"
             "  read -r u <\"$f\"\n"
             "  if [ -f %s/cut ]; then case $u in *3*) continue ;; esac; fi\n"
             "  echo \"*** ENVELOPE RECORDS $f ***\"\n"
             "  echo \"named_attribute: sasl_username=$u\"\n"
             "  echo \"*** MESSAGE FILE END $f ***\"\n"
             "done\n",
             dir);
    assert_int_equal(fake_tool(dir, "postcat", path), 0);
    snprintf(path, sizeof(path), "touch %s/cut", dir);
    assert_int_equal(system(path), 0);
    assert_int_not_equal(run_sh(dir, script, "", &out), 0);
    assert_null(strstr(out, "*** SPAMSTOP IDENTIFY END ***"));
    snprintf(path, sizeof(path), "%s/stderr", dir);
    assert_int_equal(fsio_read_file(&errs, &len, path, 4096, &err), 0);
    assert_non_null(strstr(errs, "output was cut"));
    free(errs);
    free(out);
    snprintf(path, sizeof(path), "rm %s/cut", dir);
    assert_int_equal(system(path), 0);
    assert_int_equal(run_sh(dir, script, "", &out), 0);
    assert_non_null(strstr(out, "*** SPAMSTOP IDENTIFY END ***"));
    assert_int_equal(occurrences(out, "*** ENVELOPE RECORDS "), 6);
    free(out);
    free(script);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* One message of postcat text for the reuse tests. */
static void reuse_msg(struct buf *b, const char *path, const char *user,
                      bool end)
{
    buf_printf(b,
               "*** ENVELOPE RECORDS %s ***\n"
               "named_attribute: sasl_username=%s\n"
               "*** MESSAGE CONTENTS %s ***\n"
               "Subject: from %s\n"
               "*** HEADER EXTRACTED %s ***\n",
               path, user, path, user, path);
    if (end)
        buf_printf(b, "*** MESSAGE FILE END %s ***\n", path);
}

/*
 * The stamps a first pass gives for text (POSTFIX_FILES_STAMPS), fed in
 * pieces of 7 bytes; its messages go to *e (caller releases).
 */
static char *stamps_of(struct postfix_envelopes *e, const char *text,
                       size_t len)
{
    struct postfix_envelopes_stream *s = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf st = BUF_INIT;
    size_t i, k;

    assert_int_equal(postfix_envelopes_stream_new(&s, e, &err), 0);
    postfix_envelopes_stream_files(s, POSTFIX_FILES_STAMPS, &st);
    for (i = 0; i < len; i += k) {
        k = len - i < 7 ? len - i : 7;
        assert_int_equal(postfix_envelopes_stream_feed(s, text + i, k, &err),
                         0);
    }
    assert_int_equal(postfix_envelopes_stream_end(s, &err), 0);
    postfix_envelopes_stream_free(s);
    assert_int_equal(e->n_files, 0);
    if (st.data == NULL)
        return strdup("");
    return buf_detach(&st);
}

/*
 * Completes e, a later pass, with the earlier pass's text through a reuse
 * stream fed in pieces of 5 bytes; returns the messages it kept.
 */
static size_t reuse_from(struct postfix_envelopes *e, const char *earlier,
                         size_t len)
{
    struct postfix_envelopes_stream *s = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t i, k, reused;

    assert_int_equal(postfix_envelopes_reuse_new(&s, e, &err), 0);
    for (i = 0; i < len; i += k) {
        k = len - i < 5 ? len - i : 5;
        assert_int_equal(postfix_envelopes_stream_feed(s, earlier + i, k, &err),
                         0);
    }
    assert_int_equal(postfix_envelopes_stream_end(s, &err), 0);
    reused = postfix_envelopes_stream_reused(s);
    postfix_envelopes_stream_free(s);
    return reused;
}

/*
 * The listing a pass keeps reads back with the postqueue -j parser: every
 * message, its queue, id, sender and arrival time; an odd sender byte
 * becomes '?', and a message without a valid id is left out.
 */
static void test_envelopes_listing(void **state)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    size_t len, i;
    char *text = fixture("identify-lab.txt", &len);

    (void)state;
    assert_int_equal(postfix_envelopes_parse(&e, text, len, &err), 0);
    assert_true(e.n > 10);
    e.msgs[0].sender = "caf\xe9@example.test";
    e.msgs[1].queue_id = "no;id";
    /* in two slices, as identify writes it */
    assert_int_equal(postfix_messages_listing(&b, e.msgs, 5, &err), 0);
    assert_int_equal(postfix_messages_listing(&b, e.msgs + 5, e.n - 5, &err),
                     0);
    assert_int_equal(postfix_queue_parse_string(&q, b.data, b.len, &err), 0);
    assert_int_equal(q.malformed, 0);
    assert_int_equal(q.n, e.n - 1);
    assert_string_equal(q.entries[0].sender, "caf?@example.test");
    for (i = 1; i < q.n; i++) {
        const struct postfix_message *m = &e.msgs[i + 1];
        assert_string_equal(q.entries[i].queue_name, m->queue_name);
        assert_string_equal(q.entries[i].queue_id, m->queue_id);
        assert_string_equal(q.entries[i].sender, m->sender);
        assert_int_equal(q.entries[i].arrival_time, m->arrival_time);
        assert_int_equal(q.entries[i].n_recipients, m->n_recipients);
    }
    postfix_queue_release(&q);
    postfix_envelopes_release(&e);
    buf_release(&b);
    free(text);
}

/*
 * A later pass reads only the new and changed files: the earlier pass's
 * messages of the unchanged ones are added, a changed or vanished file
 * never gets its old message, and odd markers are anomalies.
 */
static void test_envelopes_reuse(void **state)
{
    struct postfix_envelopes a = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes b = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes a2 = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct buf ta = BUF_INIT, tb = BUF_INIT;
    char *stamps = NULL, *earlier;
    size_t len;

    (void)state;
    /* earlier: A, B and C read whole, D cut (no end marker) */
    reuse_msg(&ta, "deferred/A/A1", "alice@x", true);
    reuse_msg(&ta, "deferred/B/B2", "bob@x", true);
    reuse_msg(&ta, "active/C3", "carol@x", true);
    /* D4 is cut: the file lines after it (as the script prints them) end it */
    reuse_msg(&ta, "deferred/D/D4", "dave@x", false);
    buf_adds(&ta, "*** SPAMSTOP FILE deferred/A/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP FILE deferred/B/B2 12 200 2.5 ***\n"
                  "*** SPAMSTOP FILE active/C3 13 300 3 ***\n"
                  "*** SPAMSTOP FILE deferred/D/D4 14 400 4.5 ***\n"
                  "*** SPAMSTOP FILE deferred/E/E5 15 x 5.5 ***\n"
                  "*** SPAMSTOP FILE deferred/E/E;6 16 600 6.5 ***\n");
    buf_adds(&ta, "*** SPAMSTOP FILE deferred/F\001/F7 17 700 7.5 ***\n"
                  "*** SPAMSTOP IDENTIFY END ***\n");
    /* stamps only of files read whole, the file table left empty */
    stamps = stamps_of(&a2, ta.data, ta.len);
    assert_string_equal(stamps, "deferred/A/A1 11 100 1.5\n"
                                "deferred/B/B2 12 200 2.5\n"
                                "active/C3 13 300 3\n");
    assert_int_equal(a2.n, 4);
    free(stamps);
    earlier = strndup(ta.data, ta.len);
    assert_non_null(earlier);
    assert_int_equal(postfix_envelopes_parse(&a, earlier, ta.len, &err), 0);
    assert_int_equal(a2.anomalies, a.anomalies); /* as with a file table */
    postfix_envelopes_release(&a);
    free(earlier);
    postfix_envelopes_release(&a2);
    earlier = strndup(ta.data, ta.len);
    assert_non_null(earlier);
    assert_int_equal(
        postfix_envelopes_parse_in_place(&a, ta.data, ta.len, &err), 0);
    assert_int_equal(a.n_files, 4); /* E5's stamp and E;6's id refused */
    assert_string_equal(a.files[0].path, "deferred/A/A1");
    assert_string_equal(a.files[0].queue_id, "A1");
    assert_string_equal(a.files[0].queue_name, "deferred");
    assert_string_equal(a.files[0].stamp, "11 100 1.5");
    assert_string_equal(a.files[2].queue_name, "active");
    assert_true(a.anomalies >= 4);
    assert_int_equal(a.n, 4);
    assert_false(find_msg(&a, "D4")->complete);

    /*
     * later: A unchanged (not read), B changed (read again), C rewritten
     * but gone before postcat (not read, new stamp), D unchanged but was
     * cut, G new; the script says B's and C's stamps are gone
     */
    buf_adds(&tb, "*** SPAMSTOP FILE deferred/A/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP FILE deferred/B/B2 12 210 9.5 ***\n"
                  "*** SPAMSTOP FILE active/C3 13 300 3.25 ***\n"
                  "*** SPAMSTOP FILE deferred/D/D4 14 400 4.5 ***\n"
                  "*** SPAMSTOP FILE hold/G8 18 800 8.5 ***\n"
                  "*** SPAMSTOP GONE deferred/B/B2 12 200 2.5 ***\n"
                  "*** SPAMSTOP GONE active/C3 13 300 3 ***\n"
                  "*** SPAMSTOP GONE active/C3 13 x 3 ***\n");
    reuse_msg(&tb, "deferred/B/B2", "mallory@x", true);
    reuse_msg(&tb, "hold/G8", "gina@x", true);
    buf_adds(&tb, "*** SPAMSTOP IDENTIFY END ***\n");
    assert_int_equal(postfix_envelopes_parse(&b, tb.data, tb.len, &err), 0);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.anomalies, 1); /* the malformed GONE line */
    assert_int_equal(reuse_from(&b, earlier, strlen(earlier)), 1);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.anomalies, 1); /* the earlier pass's are its own */
    assert_true(b.end_seen);
    assert_string_equal(find_msg(&b, "A1")->sasl_username, "alice@x");
    assert_string_equal(find_msg(&b, "A1")->subject, "from alice@x");
    assert_true(find_msg(&b, "A1")->complete);
    assert_string_equal(find_msg(&b, "B2")->sasl_username, "mallory@x");
    assert_string_equal(find_msg(&b, "G8")->queue_name, "hold");
    for (len = 0; len < b.n; len++)
        assert_true(strcmp(b.msgs[len].queue_id, "C3") != 0 &&
                    strcmp(b.msgs[len].queue_id, "D4") != 0);
    /* the same file under another queue is another file */
    postfix_envelopes_release(&b);
    buf_reset(&tb);
    buf_adds(&tb, "*** SPAMSTOP FILE active/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP GONE deferred/A/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP GONE deferred/B/B2 12 200 2.5 ***\n"
                  "*** SPAMSTOP GONE active/C3 13 300 3 ***\n"
                  "*** SPAMSTOP IDENTIFY END ***\n");
    assert_int_equal(postfix_envelopes_parse(&b, tb.data, tb.len, &err), 0);
    assert_int_equal(reuse_from(&b, earlier, strlen(earlier)), 0);
    assert_int_equal(b.n, 0);
    postfix_envelopes_release(&b);
    postfix_envelopes_release(&a);
    free(earlier);
    buf_release(&ta);
    buf_release(&tb);
}

/*
 * The identify script given an earlier pass's stamps: postcat reads only
 * the files that are new or changed, and the merged pass has every
 * message as it is now.
 */
static void test_identify_command_reuse(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", path[700];
    char *script = postfix_identify_command(NULL), *out1 = NULL, *out2 = NULL;
    char *stamps = NULL, *log = NULL;
    struct postfix_envelopes e1 = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes e2 = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    const char *ids[] = {"1A01", "1A02", "2B03", "2B04"};
    size_t i, len;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "mkdir -p %s/q/deferred/1 %s/q/deferred/2",
             dir, dir);
    assert_int_equal(system(path), 0);
    for (i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "deferred/%c/%s", ids[i][0], ids[i]);
        fake_queue_file(dir, path, i);
    }
    snprintf(path, sizeof(path),
             "shift 2\n"
             "for f do\n"
             "  echo \"$f\" >>%s/read.log\n"
             "  echo \"*** ENVELOPE RECORDS $f ***\"\n"
             "  echo \"named_attribute: sasl_username=$(cat $f)\"\n"
             "  echo \"*** MESSAGE CONTENTS $f ***\"\n"
             "  echo \"*** HEADER EXTRACTED $f ***\"\n"
             "  echo \"*** MESSAGE FILE END $f ***\"\n"
             "done\n",
             dir);
    assert_int_equal(fake_tool(dir, "postcat", path), 0);
    assert_int_equal(run_sh(dir, script, "", &out1), 0);
    stamps = stamps_of(&e1, out1, strlen(out1));
    assert_true(e1.end_seen);
    assert_int_equal(e1.n, 4);
    for (i = 0, len = 0; stamps[i] != '\0'; i++)
        len += stamps[i] == '\n';
    assert_int_equal(len, 4);
    postfix_envelopes_release(&e1);

    /* 1A02 rewritten (size and ctime), 2B04 gone, 3C05 new */
    snprintf(path, sizeof(path),
             "cd %s/q && sleep 0.05 && echo mallory@x >deferred/1/1A02 && "
             "rm deferred/2/2B04 && mkdir -p deferred/3 && "
             "echo new@x >deferred/3/3C05 && rm -f %s/read.log",
             dir, dir);
    assert_int_equal(system(path), 0);
    assert_int_equal(run_sh(dir, script, stamps, &out2), 0);
    snprintf(path, sizeof(path), "%s/read.log", dir);
    assert_int_equal(fsio_read_file(&log, &len, path, 4096, &err), 0);
    assert_non_null(strstr(log, "deferred/1/1A02\n"));
    assert_non_null(strstr(log, "deferred/3/3C05\n"));
    assert_null(strstr(log, "1A01"));
    assert_null(strstr(log, "2B03"));
    assert_int_equal(postfix_envelopes_parse(&e2, out2, strlen(out2), &err), 0);
    assert_true(e2.end_seen);
    assert_int_equal(e2.n, 2);
    /* the script names the stamps it no longer found so */
    assert_non_null(strstr(out2, "*** SPAMSTOP GONE deferred/1/1A02 "));
    assert_non_null(strstr(out2, "*** SPAMSTOP GONE deferred/2/2B04 "));
    assert_null(strstr(out2, "*** SPAMSTOP GONE deferred/1/1A01 "));
    assert_int_equal(reuse_from(&e2, out1, strlen(out1)), 2);
    assert_int_equal(e2.n, 4);
    assert_string_equal(find_msg(&e2, "1A01")->sasl_username, "user0@x");
    assert_string_equal(find_msg(&e2, "1A02")->sasl_username, "mallory@x");
    assert_string_equal(find_msg(&e2, "2B03")->sasl_username, "user2@x");
    assert_string_equal(find_msg(&e2, "3C05")->sasl_username, "new@x");
    for (i = 0; i < e2.n; i++)
        assert_string_not_equal(e2.msgs[i].queue_id, "2B04");
    postfix_envelopes_release(&e2);
    postfix_envelopes_release(&e1);
    free(log);
    free(stamps);
    free(out1);
    free(out2);
    free(script);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* Remote values enter commands only quoted; ids only on stdin. */
static void test_commands_quoting(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    const char *ids[] = {"ABC123", "4Xb5Zp0qRTz8Kd"};
    const char *bad[] = {"ABC123", "A;reboot"};
    char *s = NULL, *in = NULL;
    size_t len;

    (void)state;
    assert_int_equal(postfix_snapshot_command(&s, "/var/lib/spamstop/r'1",
                                              false, NULL, &err),
                     0);
    assert_non_null(strstr(s, "d='/var/lib/spamstop/r'\\''1'\n"));
    assert_non_null(strstr(s, "--numeric-owner"));
    assert_non_null(strstr(s, "grep -E '^[0-9A-Za-z]+$'"));
    free(s);
    assert_int_equal(postfix_snapshot_command(&s, "relative", true, NULL, &err),
                     SS_EINVAL);
    assert_null(s);
    assert_int_equal(postfix_snapshot_command(&s, "/x\ny", false, NULL, &err),
                     SS_EINVAL);
    assert_null(s);
    assert_int_equal(postfix_restore_command(&s, "/x/$(reboot)/queue.tar",
                                             POSTFIX_RESTORE_TO_HOLD, NULL,
                                             &err),
                     0);
    assert_non_null(strstr(s, "t='/x/$(reboot)/queue.tar'\n"));
    free(s);
    assert_int_equal(
        postfix_postsuper_command(&s, POSTFIX_DELETE, true, NULL, &err), 0);
    assert_non_null(strstr(s, "postsuper -d - hold"));
    assert_non_null(strstr(s, "stopped='1'\n"));
    assert_non_null(strstr(s, "exit 75"));
    free(s);
    assert_int_equal(
        postfix_postsuper_command(&s, POSTFIX_HOLD, false, NULL, &err), 0);
    assert_non_null(strstr(s, "postsuper -h -"));
    assert_null(strstr(s, "exit 75"));
    free(s);
    assert_int_equal(postfix_ids_input(&in, &len, ids, 2, &err), 0);
    assert_string_equal(in, "ABC123\n4Xb5Zp0qRTz8Kd\n");
    assert_int_equal(len, 22);
    free(in);
    assert_int_equal(postfix_ids_input(&in, &len, bad, 2, &err), SS_EINVAL);
    assert_null(in);
    assert_non_null(strstr(err.msg, "A;reboot"));
}

/*
 * The snapshot on a fake queue: the tar it streams is the tar it keeps on
 * the host, holds the messages named on stdin (and their logs), and a
 * second run (a resume) streams the kept tar again, not a new one.
 */
static void test_snapshot_run(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", cmd[1024];
    struct errbuf err = ERRBUF_INIT;
    char *s = NULL, *out = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/q/deferred/A %s/q/defer/A %s/q/active/B", dir, dir,
             dir);
    assert_int_equal(system(cmd), 0);
    fake_queue_file(dir, "deferred/A/ABC1", 1);
    fake_queue_file(dir, "defer/A/ABC1", 2);
    fake_queue_file(dir, "active/B/BCD2", 3);
    fake_queue_file(dir, "deferred/A/CDE3", 4);
    snprintf(cmd, sizeof(cmd), "%s/snap", dir);
    assert_int_equal(postfix_snapshot_command(&s, cmd, false, NULL, &err), 0);
    assert_int_equal(run_sh(dir, s, "ABC1\nBCD2\n", &out), 0);
    free(out);
    snprintf(cmd, sizeof(cmd),
             "cd %s && cmp stdout snap/queue.tar && cp stdout first.tar && "
             "tar -tf stdout | sort | tr '\\n' ' ' >list && "
             "[ \"$(cat list)\" = 'active/B/BCD2 defer/A/ABC1 "
             "deferred/A/ABC1 ' ]",
             dir);
    assert_int_equal(system(cmd), 0);
    /* a resume streams the tar it made before, whatever stdin says now */
    assert_int_equal(run_sh(dir, s, "CDE3\n", &out), 0);
    free(out);
    free(s);
    snprintf(cmd, sizeof(cmd), "cd %s && cmp stdout first.tar && rm -rf %s",
             dir, dir);
    assert_int_equal(system(cmd), 0);
}

/* Service detection, start/stop/status texts and postsuper totals. */
static void test_commands_service(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    enum postfix_service svc;
    const char *totals = "postsuper: warning: x\n"
                         "postsuper: Placed on hold: 412 messages\n"
                         "postsuper: Deleted: 1 message\n";
    char *s = NULL;
    size_t n;

    (void)state;
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_NONE,
                                             POSTFIX_STATUS, 20, NULL, &err),
                     0);
    assert_non_null(strstr(s, "elif [ -x /etc/init.d/postfix ]; then v=sysv"));
    assert_non_null(strstr(s, "echo \"$v\""));
    free(s);
    assert_int_equal(postfix_service_parse(&svc, "sysv\n", 5, &err), 0);
    assert_int_equal(svc, POSTFIX_SERVICE_SYSV);
    assert_int_equal(postfix_service_parse(&svc, "postfix", 7, &err), 0);
    assert_int_equal(svc, POSTFIX_SERVICE_POSTFIX);
    assert_int_equal(postfix_service_parse(&svc, "none\n", 5, &err), SS_EINVAL);
    assert_int_equal(postfix_service_parse(&svc, "", 0, &err), SS_EINVAL);
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_SYSTEMD,
                                             POSTFIX_STOP, 20, NULL, &err),
                     0);
    assert_non_null(strstr(s, "systemctl stop postfix.service"));
    assert_non_null(strstr(s, "ticks='200'\n")); /* tenths of a second */
    free(s);
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_SYSV,
                                             POSTFIX_START, 5, NULL, &err),
                     0);
    assert_non_null(strstr(s, "\nsettle start\n"));
    assert_non_null(strstr(s, "/etc/init.d/postfix start"));
    /* a manager is asked to act only when the state disagrees */
    assert_non_null(strstr(s, "v='sysv'\n"));
    assert_non_null(strstr(s, "\nif ! running; then\n"));
    assert_true(strstr(s, "\nif ! running; then\n") <
                strstr(s, "sysv) /etc/init.d/postfix start"));
    /* one postconf, and master -t instead of postfix status */
    assert_non_null(strstr(s, "postconf -h queue_directory daemon_directory"));
    assert_non_null(strstr(s, "\"$pdd/master\" -t"));
    free(s);
    /* the bare postfix command stops with abort and our own wait */
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_POSTFIX,
                                             POSTFIX_STOP, 5, NULL, &err),
                     0);
    assert_non_null(strstr(s, "v='postfix'\n"));
    assert_non_null(strstr(s, "*) postfix abort;;"));
    assert_null(strstr(s, "*) postfix stop"));
    assert_non_null(strstr(s, "\nsettle stop\n"));
    free(s);
    /* NONE: detected on the host, in the same command */
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_NONE,
                                             POSTFIX_STOP, 5, NULL, &err),
                     0);
    assert_non_null(strstr(s, "systemctl cat postfix.service"));
    assert_non_null(strstr(s, "case $v in"));
    assert_non_null(strstr(s, "sysv) /etc/init.d/postfix stop;;"));
    assert_non_null(strstr(s, "*) postfix abort;;"));
    free(s);
    assert_int_equal(postfix_service_command(&s, (enum postfix_service)9,
                                             POSTFIX_STOP, 5, NULL, &err),
                     SS_EINVAL);
    assert_int_equal(
        postfix_postsuper_parse_count(&n, totals, strlen(totals), &err), 0);
    assert_int_equal(n, 413);
    assert_int_equal(postfix_postsuper_parse_count(&n, "", 0, &err), 0);
    assert_int_equal(n, 0);
}

/*
 * Service commands against a fake postfix whose state is a file: stop and
 * start are idempotent and wait for the state to agree.  With master_t,
 * the state comes from a fake DAEMON_DIR/master -t (postconf names the
 * folder) and a postfix status would fail: it must not be asked; without,
 * postconf knows no daemon directory and postfix status is asked.  The
 * verb runs only when the state disagrees (the fake fails a second one).
 */
static void service_run(bool master_t)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", cmd[2048], path[128];
    struct errbuf err = ERRBUF_INIT;
    char *s = NULL, *out = NULL;
    size_t len;

    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "case $1 in status) %s[ -f %s/running ];;\n"
             "start) echo start >>%s/verbs; [ -f %s/running ] && exit 1; "
             "touch %s/running;;\n"
             "abort) echo abort >>%s/verbs; [ -f %s/running ] || exit 1; "
             "rm %s/running;;\n"
             "esac\n",
             master_t ? "exit 9; " : "", dir, dir, dir, dir, dir, dir, dir);
    assert_int_equal(fake_tool(dir, "postfix", cmd), 0);
    if (master_t) {
        snprintf(cmd, sizeof(cmd), "echo %s/q; echo %s/sbin\n", dir, dir);
        assert_int_equal(fake_tool(dir, "postconf", cmd), 0);
        snprintf(path, sizeof(path), "%s/sbin", dir);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/sbin/master", dir);
        snprintf(
            cmd, sizeof(cmd),
            "printf '#!/bin/sh\\n[ \"$1\" = -t ] && [ ! -f %s/running ]\\n' "
            ">%s && chmod 700 %s",
            dir, path, path);
        assert_int_equal(system(cmd), 0);
    } else {
        assert_int_equal(fake_tool(dir, "postconf", "echo /nowhere\n"), 0);
    }
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_POSTFIX,
                                             POSTFIX_STATUS, 0, NULL, &err),
                     0);
    assert_int_equal(run_sh(dir, s, "", &out), 1);
    free(out);
    free(s);
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_POSTFIX,
                                             POSTFIX_START, 2, NULL, &err),
                     0);
    assert_int_equal(run_sh(dir, s, "", &out), 0);
    free(out);
    assert_int_equal(run_sh(dir, s, "", &out), 0); /* again: no harm */
    free(out);
    free(s);
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_POSTFIX,
                                             POSTFIX_STOP, 2, NULL, &err),
                     0);
    assert_int_equal(run_sh(dir, s, "", &out), 0);
    free(out);
    assert_int_equal(run_sh(dir, s, "", &out), 0);
    free(out);
    free(s);
    /* one start and one abort: the second of each found the state right */
    snprintf(path, sizeof(path), "%s/verbs", dir);
    assert_int_equal(fsio_read_file(&out, &len, path, 4096, &err), 0);
    assert_string_equal(out, "start\nabort\n");
    free(out);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_commands_service_run(void **state)
{
    (void)state;
    service_run(true);
    service_run(false);
}

/* The dead-man timer's texts: where each piece sits, what is quoted. */
static void test_commands_service_timer(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    struct postfix_timer t = {"20261128-101500-ab12", 600, NULL};
    char name[96], *s = NULL;
    const char *arm, *clock, *verb, *poll, *disarm;

    (void)state;
    assert_int_equal(postfix_timer_name(name, sizeof(name), t.id), 0);
    assert_string_equal(name, "spamstop-restart-20261128-101500-ab12");
    assert_int_equal(postfix_timer_name(name, sizeof(name), "a'b"), SS_EINVAL);
    assert_int_equal(postfix_timer_name(name, sizeof(name), "-x"), SS_EINVAL);
    assert_int_equal(postfix_timer_name(name, sizeof(name), ""), SS_EINVAL);
    assert_int_equal(postfix_timer_name(name, 20, t.id), SS_EINVAL);
    /* the stop: arm, then the clock, then the verb, in one command */
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     0);
    assert_non_null(strstr(s, "u='spamstop-restart-20261128-101500-ab12'\n"));
    assert_non_null(strstr(s, "ra='600'\n"));
    assert_non_null(strstr(s, "T='/run/spamstop/20261128-101500-ab12.timer'"));
    assert_non_null(strstr(s, "D='/run/spamstop/20261128-101500-ab12.down'"));
    /* systemd only where it is PID 1; a timer that fires on time */
    assert_non_null(strstr(s, "if [ -d /run/systemd/system ] && command -v "
                              "systemd-run >/dev/null 2>&1; then\n"));
    assert_non_null(strstr(s, "systemd-run --quiet --collect "
                              "--unit=\"$u\" --on-active=\"$ra\" "
                              "--timer-property=AccuracySec=1s /bin/sh "
                              "\"$X\" \"$u\" 0 \"$pdd\""));
    assert_non_null(strstr(s, "echo \"systemd $k\" >\"$T\""));
    /* elsewhere a detached process, its pid and token recorded */
    arm = strstr(s, "setsid /bin/sh \"$X\" \"$u\" \"$ra\" \"$pdd\" \"$T\" "
                    "\"$D\" \"$v\" \"$k\" </dev/null >/dev/null 2>&1 &\n");
    assert_non_null(arm);
    assert_non_null(strstr(arm, "echo \"$! $k\" >\"$T\""));
    clock = strstr(s, "</proc/uptime && echo \"$t\" 2>/dev/null >\"$D\"");
    verb = strstr(s, "*) postfix abort;;");
    poll = strstr(s, "\nsettle stop\n");
    assert_non_null(arm);
    assert_non_null(clock);
    assert_non_null(verb);
    assert_non_null(poll);
    assert_true(strstr(s, "\nmanager\nif running; then") < arm && arm < clock &&
                clock < verb && verb < poll);
    assert_non_null(strstr(s, "exit 4; }"));
    assert_non_null(strstr(poll, "echo \"*** SPAMSTOP TIMER $a ***\""));
    /* the timer's script: the same idempotent start, only if still armed */
    assert_non_null(strstr(s, "[ \"$k\" = \"$tk\" ]; }\nmine || exit 0"));
    assert_non_null(strstr(s, "if ! running; then s=1; case $m in systemd) "
                              "systemctl start postfix.service;;"));
    /* a disarm kills by pid only what holds the token, never by name */
    assert_non_null(strstr(s, "grep -qF -e \"$b\" \"/proc/$a/cmdline\""));
    assert_null(strstr(s, "pkill"));
    assert_null(strstr(s, "killall"));
    free(s);
    /* restart_after 0: no timer, still the clock */
    t.restart_after = 0;
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_POSTFIX,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     0);
    assert_non_null(strstr(s, "ra=''\nR=''\n"));
    assert_non_null(strstr(s, "echo \"$t\" 2>/dev/null >\"$D\""));
    free(s);
    /* the start: the disarm and the down time once Postfix runs */
    t.dir = "/var/tmp/x";
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_SYSTEMD,
                                                   POSTFIX_START, 30, NULL, &t,
                                                   &err),
                     0);
    assert_non_null(strstr(s, "T='/var/tmp/x/20261128-101500-ab12.timer'"));
    assert_null(strstr(s, "setsid"));
    poll = strstr(s, "\nsettle start\n");
    assert_non_null(poll);
    assert_non_null(strstr(s, "w=1\n        if [ -f \"$D\" ] && "
                              "[ -n \"$q\" ]; then true >\"$q/quick-start\""));
    assert_true(strstr(s, "quick-start") <
                strstr(s, "systemd) systemctl start postfix.service"));
    disarm = strstr(poll, "\ndisarm\n");
    assert_non_null(disarm);
    assert_non_null(
        strstr(disarm, "echo \"*** SPAMSTOP DOWN $a $t start ***\""));
    assert_non_null(strstr(disarm, "rm -f \"$T\" \"$D\" \"$X\""));
    assert_non_null(strstr(s, "systemd) systemctl stop \"$u.timer\""));
    free(s);
    /* status has nothing of it; nor has a command without a timer */
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STATUS, 0, NULL, &t,
                                                   &err),
                     0);
    assert_non_null(strstr(s, "T=''\n"));
    assert_null(strstr(s, "/run/spamstop"));
    free(s);
    assert_int_equal(postfix_service_command(&s, POSTFIX_SERVICE_NONE,
                                             POSTFIX_STOP, 30, NULL, &err),
                     0);
    assert_non_null(strstr(s, "T=''\n"));
    assert_null(strstr(s, "/run/spamstop"));
    free(s);
    /* refused: a bad id, folder or deadline */
    t.id = "x;reboot";
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     SS_EINVAL);
    assert_null(s);
    t.id = "r1";
    t.dir = "run/spamstop";
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     SS_EINVAL);
    t.dir = "/run/spam stop";
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     SS_EINVAL);
    t.dir = NULL;
    t.restart_after = POSTFIX_RESTART_MAX + 1;
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     SS_EINVAL);
    t.restart_after = -1;
    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_NONE,
                                                   POSTFIX_STOP, 30, NULL, &t,
                                                   &err),
                     SS_EINVAL);
}

/* The TIMER and DOWN lines are remote text: only sane numbers pass. */
static void test_service_info_parse(void **state)
{
    static const char *const bad[] = {
        "*** SPAMSTOP DOWN abc 12.5 start ***\n",
        "*** SPAMSTOP DOWN -1 12.5 start ***\n",
        "*** SPAMSTOP DOWN 12.5 -1 start ***\n",
        "*** SPAMSTOP DOWN 12.5 11.5 start ***\n", /* negative */
        "*** SPAMSTOP DOWN 1e3 2e3 start ***\n",
        "*** SPAMSTOP DOWN 99999999999.00 99999999999.50 start ***\n",
        "*** SPAMSTOP DOWN 10.00 2678410.01 start ***\n", /* > 31 days */
        "*** SPAMSTOP DOWN 10. 11 start ***\n",
        "*** SPAMSTOP DOWN 10.0000000001 11 start ***\n",
        "*** SPAMSTOP DOWN 10 11 later ***\n",
        "*** SPAMSTOP DOWN 10 11 start\n",
        "*** SPAMSTOP DOWN 10 11 start *** x\n",
        "*** SPAMSTOP DOWN 10 11 ***\n",
        "*** SPAMSTOP DOWN 1 2 start ***\n*** SPAMSTOP DOWN 1 2 start ***\n",
        "*** SPAMSTOP TIMER 0 ***\n",
        "*** SPAMSTOP TIMER 99999999 ***\n",
        "*** SPAMSTOP TIMER 12a ***\n",
        "*** SPAMSTOP TIMER -5 ***\n",
        "*** SPAMSTOP TIMER ***\n",
        "*** SPAMSTOP TIMER systemd x ***\n",
        "*** SPAMSTOP TIMER 5 ***\n*** SPAMSTOP TIMER 6 ***\n",
    };
    struct postfix_service_info in;
    struct errbuf err = ERRBUF_INIT;
    const char *ok;
    size_t i;

    (void)state;
    ok = "postfix\n*** SPAMSTOP DOWN 975.32 976.25 start ***\n";
    assert_int_equal(postfix_service_info_parse(&in, ok, strlen(ok), &err), 0);
    assert_true(in.down_known);
    assert_false(in.down_by_timer);
    assert_int_equal(in.down_ms, 930);
    assert_int_equal(in.timer, POSTFIX_TIMER_NONE);
    ok = "postfix\n*** SPAMSTOP DOWN 7 607.123456789 timer ***";
    assert_int_equal(postfix_service_info_parse(&in, ok, strlen(ok), &err), 0);
    assert_true(in.down_by_timer);
    assert_int_equal(in.down_ms, 600123);
    ok = "sysv\n*** SPAMSTOP TIMER 4242 ***\n";
    assert_int_equal(postfix_service_info_parse(&in, ok, strlen(ok), &err), 0);
    assert_int_equal(in.timer, POSTFIX_TIMER_PROCESS);
    assert_int_equal(in.pid, 4242);
    assert_false(in.down_known);
    ok = "systemd\n*** SPAMSTOP TIMER systemd ***\n";
    assert_int_equal(postfix_service_info_parse(&in, ok, strlen(ok), &err), 0);
    assert_int_equal(in.timer, POSTFIX_TIMER_SYSTEMD);
    assert_int_equal(postfix_service_info_parse(&in, "postfix\n", 8, &err), 0);
    assert_int_equal(in.timer, POSTFIX_TIMER_NONE);
    assert_false(in.down_known);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (postfix_service_info_parse(&in, bad[i], strlen(bad[i]), &err) !=
            SS_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_false(in.down_known);
        assert_int_equal(in.timer, POSTFIX_TIMER_NONE);
    }
}

/* A process's state letter (/proc/PID/stat), or 0 when it is gone. */
static char proc_state(long pid)
{
    char path[64], buf[512], *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

static bool proc_alive(long pid)
{
    char c = proc_state(pid);

    return c != 0 && c != 'Z' && c != 'X';
}

/* Waits up to tenths * 0.1 s for dir/name to exist (want) or not. */
static bool wait_file(const char *dir, const char *name, bool want, int tenths)
{
    char path[512];
    int i;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    for (i = 0; i < tenths; i++) {
        if ((access(path, F_OK) == 0) == want)
            return true;
        usleep(100 * 1000);
    }
    return (access(path, F_OK) == 0) == want;
}

/* Runs the service command op with timer t against the fake; its info. */
static void timer_step(const char *dir, enum postfix_service_op op,
                       const struct postfix_timer *t,
                       struct postfix_service_info *info)
{
    struct errbuf err = ERRBUF_INIT;
    char *s = NULL, *out = NULL;

    assert_int_equal(postfix_service_command_timer(&s, POSTFIX_SERVICE_POSTFIX,
                                                   op, 5, NULL, t, &err),
                     0);
    assert_int_equal(run_sh(dir, s, "", &out), 0);
    assert_int_equal(postfix_service_info_parse(info, out, strlen(out), &err),
                     0);
    free(out);
    free(s);
}

/*
 * The timer for real (the detached-process branch) against a fake
 * postfix: it starts Postfix again when nobody disarms it, a start
 * disarms it (the process gone, nothing started later), the down times
 * come back, and a timer file naming another process kills nothing.
 */
static void test_commands_service_timer_run(void **state)
{
    char dir[] = "/tmp/test_postfix.XXXXXX", cmd[2048], path[256];
    char tdir[128], *out = NULL;
    struct postfix_timer t;
    struct postfix_service_info in;
    struct errbuf err = ERRBUF_INIT;
    size_t len;
    pid_t bystander;
    long armed;
    int i;

    (void)state;
    if (access("/run/systemd/system", F_OK) == 0)
        skip(); /* the timer would be a real systemd unit here */
    assert_non_null(mkdtemp(dir));
    /* the fake's start says whether it found the quick-start marker */
    snprintf(cmd, sizeof(cmd),
             "case $1 in start) q=; [ ! -f %s/q/quick-start ] || q=-quick\n"
             "rm -f %s/q/quick-start; echo start$q >>%s/verbs; "
             "touch %s/running;;\n"
             "abort) echo abort >>%s/verbs; rm -f %s/running;;\n"
             "esac\n",
             dir, dir, dir, dir, dir, dir);
    assert_int_equal(fake_tool(dir, "postfix", cmd), 0);
    snprintf(path, sizeof(path), "%s/q", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(cmd, sizeof(cmd), "echo %s/q; echo %s/sbin\n", dir, dir);
    assert_int_equal(fake_tool(dir, "postconf", cmd), 0);
    snprintf(path, sizeof(path), "%s/sbin", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(cmd, sizeof(cmd),
             "printf '#!/bin/sh\\n[ \"$1\" = -t ] && [ ! -f %s/running ]\\n' "
             ">%s/master && chmod 700 %s/master && touch %s/running",
             dir, path, path, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(tdir, sizeof(tdir), "%s/run", dir);
    t.id = "run-1";
    t.dir = tdir;

    /* 1. nobody starts Postfix: the timer does, after 1 s */
    t.restart_after = 1;
    timer_step(dir, POSTFIX_STOP, &t, &in);
    assert_int_equal(in.timer, POSTFIX_TIMER_PROCESS);
    assert_true(proc_alive(in.pid));
    assert_true(wait_file(dir, "running", false, 1));
    assert_true(wait_file(dir, "running", true, 50));
    assert_true(wait_file(tdir, "run-1.timer", false, 20));
    assert_true(wait_file(tdir, "run-1.sh", false, 1));
    for (i = 0; i < 50 && proc_alive(in.pid); i++)
        usleep(100 * 1000);
    assert_false(proc_alive(in.pid));
    /* the start finds it running: the down time is the timer's */
    timer_step(dir, POSTFIX_START, &t, &in);
    assert_true(in.down_known);
    assert_true(in.down_by_timer);
    assert_true(in.down_ms >= 900 && in.down_ms < 10000);
    assert_true(wait_file(tdir, "run-1.down", false, 1));

    /* 2. the start disarms: the process goes, nothing starts later */
    t.restart_after = 2;
    timer_step(dir, POSTFIX_STOP, &t, &in);
    assert_int_equal(in.timer, POSTFIX_TIMER_PROCESS);
    usleep(200 * 1000);
    assert_true(proc_alive(in.pid));
    armed = in.pid;
    timer_step(dir, POSTFIX_START, &t, &in);
    assert_true(in.down_known);
    assert_false(in.down_by_timer);
    assert_true(in.down_ms >= 0 && in.down_ms < 10000);
    for (i = 0; i < 20 && proc_alive(armed); i++)
        usleep(100 * 1000);
    assert_false(proc_alive(armed));
    assert_true(wait_file(tdir, "run-1.timer", false, 1));
    assert_true(wait_file(tdir, "run-1.down", false, 1));
    assert_true(wait_file(tdir, "run-1.sh", false, 1));
    usleep(2500 * 1000); /* past the deadline */
    snprintf(path, sizeof(path), "%s/verbs", dir);
    assert_int_equal(fsio_read_file(&out, &len, path, 4096, &err), 0);
    /* the timer's start checks; the run's own start after its stop skips
     * the checks, and leaves no marker behind */
    assert_string_equal(out, "abort\nstart\nabort\nstart-quick\n");
    assert_true(wait_file(dir, "q/quick-start", false, 1));
    free(out);

    /* 3. restart_after 0: no timer, still a down time */
    t.restart_after = 0;
    timer_step(dir, POSTFIX_STOP, &t, &in);
    assert_int_equal(in.timer, POSTFIX_TIMER_NONE);
    assert_true(wait_file(tdir, "run-1.down", true, 1));
    timer_step(dir, POSTFIX_START, &t, &in);
    assert_true(in.down_known);

    /* 4. a timer file naming another process: left alone */
    bystander = fork();
    assert_true(bystander >= 0);
    if (bystander == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    usleep(100 * 1000);
    snprintf(cmd, sizeof(cmd), "%ld spamstop-restart-run-1:1.00\n",
             (long)bystander);
    snprintf(path, sizeof(path), "%s/run-1.timer", tdir);
    assert_int_equal(fsio_write_atomic(path, cmd, strlen(cmd), 0600, &err), 0);
    timer_step(dir, POSTFIX_START, &t, &in);
    assert_true(proc_alive(bystander));
    assert_true(wait_file(tdir, "run-1.timer", false, 1));
    kill(bystander, SIGKILL);
    waitpid(bystander, NULL, 0);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/*
 * A path listed twice with two stamps (a hostile or confused host): a
 * later pass's file matches either stamp, as when earlier's files were
 * searched one by one.
 */
static void test_envelopes_reuse_same_path(void **state)
{
    struct postfix_envelopes a = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes b = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct buf ta = BUF_INIT, tb = BUF_INIT;
    char *stamps;

    (void)state;
    reuse_msg(&ta, "deferred/A/A1", "alice@x", true);
    buf_adds(&ta, "*** SPAMSTOP FILE deferred/A/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP FILE deferred/A/A1 11 100 2.5 ***\n"
                  "*** SPAMSTOP FILE active/A1 11 100 2.5 ***\n");
    buf_adds(&ta, "*** SPAMSTOP IDENTIFY END ***\n");
    assert_int_equal(postfix_envelopes_parse(&a, ta.data, ta.len, &err), 0);
    assert_int_equal(a.n_files, 3);
    assert_int_equal(a.n, 1);
    postfix_envelopes_release(&a);
    stamps = stamps_of(&a, ta.data, ta.len);
    assert_string_equal(stamps, "deferred/A/A1 11 100 1.5\n"
                                "deferred/A/A1 11 100 2.5\n");
    free(stamps);
    /* the file is there with the second stamp: the first is gone */
    buf_adds(&tb, "*** SPAMSTOP FILE deferred/A/A1 11 100 2.5 ***\n"
                  "*** SPAMSTOP GONE deferred/A/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP IDENTIFY END ***\n");
    assert_int_equal(postfix_envelopes_parse(&b, tb.data, tb.len, &err), 0);
    assert_int_equal(reuse_from(&b, ta.data, ta.len), 1);
    assert_string_equal(find_msg(&b, "A1")->sasl_username, "alice@x");
    /* the same id under another queue is not the message read */
    postfix_envelopes_release(&b);
    buf_reset(&tb);
    buf_adds(&tb, "*** SPAMSTOP FILE active/A1 11 100 2.5 ***\n"
                  "*** SPAMSTOP GONE deferred/A/A1 11 100 1.5 ***\n"
                  "*** SPAMSTOP GONE deferred/A/A1 11 100 2.5 ***\n"
                  "*** SPAMSTOP IDENTIFY END ***\n");
    assert_int_equal(postfix_envelopes_parse(&b, tb.data, tb.len, &err), 0);
    assert_int_equal(reuse_from(&b, ta.data, ta.len), 0);
    assert_int_equal(b.n, 0);
    postfix_envelopes_release(&b);
    postfix_envelopes_release(&a);
    buf_release(&ta);
    buf_release(&tb);
}

/* Builds n synthetic messages of postcat text like the identify output. */
static void synth(struct buf *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char p[32];
        snprintf(p, sizeof(p), "deferred/%X/%zX", (unsigned)(i % 16),
                 (size_t)0x100000 + i);
        buf_printf(b,
                   "*** ENVELOPE RECORDS %s ***\n"
                   "message_arrival_time: Sat Nov 28 09:33:03 2026\n"
                   "named_attribute: sasl_method=PLAIN\n"
                   "named_attribute: sasl_username=user%zu@example.test\n"
                   "sender: user%zu@example.test\n"
                   "named_attribute: log_client_address=10.0.%zu.%zu\n"
                   "named_attribute: log_helo_name=helo%zu.example\n"
                   "*** MESSAGE CONTENTS %s ***\n"
                   "From: <user%zu@example.test>\n"
                   "Subject: Cheap watches number %zu for you\n"
                   "Message-ID: <%zu.abcdef@example.test>\n"
                   "*** HEADER EXTRACTED %s ***\n"
                   "recipient: rcpt%zu@remote.example\n"
                   "*** MESSAGE FILE END %s ***\n",
                   p, i % 7, i % 7, i % 200, i % 250, i % 5, p, i % 7, i, i, p,
                   i, p);
    }
    buf_adds(b, "*** SPAMSTOP IDENTIFY END ***\n");
}

/* 50,000 messages: parse and identify; prints MB/s (not asserted). */
static void test_throughput(void **state)
{
    struct buf b = BUF_INIT;
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct timespec t0, t1, t2;
    double parse_s, ident_s;

    (void)state;
    synth(&b, 50000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(postfix_envelopes_parse(&e, b.data, b.len, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(postfix_identify_envelopes(&f, &e, NULL, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    assert_int_equal(e.n, 50000);
    assert_int_equal(e.anomalies, 0);
    assert_int_equal(f.n_accounts, 7);
    assert_int_equal(f.n_flagged, 0); /* 1/7 of the queue < 20% */
    parse_s = (double)(t1.tv_sec - t0.tv_sec) +
              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ident_s = (double)(t2.tv_sec - t1.tv_sec) +
              (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
    printf("postcat parse: %zu bytes, 50000 messages in %.3f s = %.0f MB/s; "
           "identify %.3f s\n",
           b.len, parse_s, (double)b.len / 1e6 / parse_s, ident_s);
    postfix_findings_release(&f);
    postfix_envelopes_release(&e);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_lab),
        cmocka_unit_test(test_queue_malformed),
        cmocka_unit_test(test_queue_too_big),
        cmocka_unit_test(test_queue_id_syntax),
        cmocka_unit_test(test_envelopes_lab),
        cmocka_unit_test(test_envelopes_raw_postcat),
        cmocka_unit_test(test_envelopes_article),
        cmocka_unit_test(test_envelopes_duplicates),
        cmocka_unit_test(test_envelopes_hostile),
        cmocka_unit_test(test_identify_flags),
        cmocka_unit_test(test_identify_log_and_named),
        cmocka_unit_test(test_identify_backscatter),
        cmocka_unit_test(test_identify_subjects_capped),
        cmocka_unit_test(test_identify_bounded_lists),
        cmocka_unit_test(test_identify_recipient_domains),
        cmocka_unit_test(test_identify_lab_json),
        cmocka_unit_test(test_identify_command_vanished),
        cmocka_unit_test(test_identify_command_batches),
        cmocka_unit_test(test_identify_command_dirs),
        cmocka_unit_test(test_envelopes_dirs_line),
        cmocka_unit_test(test_identify_command_cut_output),
        cmocka_unit_test(test_commands_quoting),
        cmocka_unit_test(test_snapshot_run),
        cmocka_unit_test(test_envelopes_listing),
        cmocka_unit_test(test_commands_service),
        cmocka_unit_test(test_commands_service_run),
        cmocka_unit_test(test_commands_service_timer),
        cmocka_unit_test(test_service_info_parse),
        cmocka_unit_test(test_commands_service_timer_run),
        cmocka_unit_test(test_identify_top_order),
        cmocka_unit_test(test_envelopes_in_place),
        cmocka_unit_test(test_envelopes_stream),
        cmocka_unit_test(test_envelopes_stream_long_line),
        cmocka_unit_test(test_envelopes_reuse),
        cmocka_unit_test(test_envelopes_reuse_same_path),
        cmocka_unit_test(test_identify_command_reuse),
        cmocka_unit_test(test_throughput),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
