/* Unit tests of cmd/render.c: the plan, the result, the summary, the recap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmd/ is not a library: the renderer is compiled into this test. */
#include "../../cmd/common.c"
#include "../../cmd/progress.c"
#include "../../cmd/render.c"

static const char pb_text[] =
    "{\"name\":\"t\",\"steps\":["
    "{\"name\":\"survey\",\"kind\":\"read-only\",\"shell\":{\"run\":\"true\"}},"
    "{\"name\":\"stop\",\"kind\":\"compensable\",\"shell\":{\"run\":\"true\","
    "\"undo\":\"true\"}},"
    "{\"name\":\"identify\",\"kind\":\"read-only\",\"shell\":{\"run\":"
    "\"true\"}},"
    "{\"name\":\"rotate\",\"kind\":\"compensable\",\"on_failure\":\"keep\","
    "\"shell\":"
    "{\"run\":\"true\",\"undo\":\"true\"}},"
    "{\"name\":\"purge\",\"kind\":\"compensable\",\"on_failure\":\"keep\","
    "\"shell\":"
    "{\"run\":\"true\",\"undo\":\"true\"}},"
    "{\"name\":\"verify\",\"kind\":\"compensable\",\"shell\":{\"run\":"
    "\"true\",\"undo\":\"true\"}}]}";

/* Adds a note to step r (strings copied). */
static void note(struct engine_step_rec *r, const char *key,
                 const char *subject, long long value, const char *text)
{
    struct engine_note *nt;

    r->notes = realloc(r->notes, (r->nnotes + 1) * sizeof(*r->notes));
    assert_non_null(r->notes);
    nt = &r->notes[r->nnotes++];
    memset(nt, 0, sizeof(*nt));
    snprintf(nt->key, sizeof(nt->key), "%s", key);
    nt->subject = subject != NULL ? strdup(subject) : NULL;
    nt->value = value;
    nt->text = text != NULL ? strdup(text) : NULL;
}

/* A survey with one flagged account (alice) and one seen (bob). */
static struct engine_survey *survey(void)
{
    struct engine_survey *sv = calloc(1, sizeof(*sv));

    assert_non_null(sv);
    sv->queued = sv->authenticated = 320;
    sv->unchanged = -1;
    sv->flagged = 1;
    sv->stay = 20;
    sv->naccounts = 2;
    sv->accounts = calloc(2, sizeof(*sv->accounts));
    sv->accounts[0].address = strdup("alice@example.test");
    sv->accounts[0].level = ENGINE_ACCOUNT_FLAGGED;
    sv->accounts[0].messages = 300;
    sv->accounts[0].share_permille = 938;
    sv->accounts[0].clients = 4;
    sv->accounts[0].top_client = strdup("10.0.0.2");
    sv->accounts[0].top_client_messages = 80;
    sv->accounts[0].why = strdup("300 queued");
    sv->accounts[1].address = strdup("bob@example.test");
    sv->accounts[1].messages = 1;
    sv->accounts[1].share_permille = 3;
    sv->accounts[1].clients = 1;
    sv->accounts[1].top_client = strdup("10.0.0.1");
    sv->accounts[1].top_client_messages = 1;
    return sv;
}

/*
 * Host h1 as a pass left it: statuses st for the mutating steps (planned
 * in a dry run, committed after a run); both reading steps surveyed.
 */
static void host_make(struct engine_host *h, const struct playbook *pb,
                      enum engine_step_status st, enum host_state state)
{
    engine_host_init(h);
    h->target.name = strdup("h1");
    h->state = state;
    h->nsteps = pb->nsteps;
    h->steps = calloc(h->nsteps, sizeof(*h->steps));
    h->start_ms = 1000;
    h->end_ms = 4500;
    h->steps[0].status = h->steps[2].status = ENGINE_STEP_READ;
    h->steps[0].survey = survey();
    h->steps[2].survey = survey();
    h->steps[1].status = h->steps[3].status = st;
    h->steps[4].status = h->steps[5].status = st;
    h->steps[1].end_ms = 12 * 3600 * 1000LL + 20 * 60 * 1000 + 8000;
    note(&h->steps[1], "service_stop", "postfix", -1, "systemctl");
    note(&h->steps[3], "password", "alice@example.test", 1, "plesk");
    note(&h->steps[4], "hold", "alice@example.test", 300, NULL);
    note(&h->steps[4], "stay", NULL, 20, NULL);
    if (st != ENGINE_STEP_PLANNED)
        note(&h->steps[5], "password_confirmed", "alice@example.test", 1, NULL);
    note(&h->steps[5], "logins_watched_ms", NULL, 1500, NULL);
}

static struct playbook *pb_load(void)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    assert_int_equal(playbook_parse_string(&pb, pb_text, strlen(pb_text), "t",
                                           engine_action_lookup, &e),
                     0);
    return pb;
}

/* Occurrences of s in text. */
static int count(const char *text, const char *s)
{
    int n = 0;

    for (; (text = strstr(text, s)) != NULL; text += strlen(s))
        n++;
    return n;
}

/* The plan speaks in the future and shows the accounts once. */
static void test_plan(void **state)
{
    struct playbook *pb = pb_load();
    struct engine_host h;
    struct buf b = BUF_INIT;

    (void)state;
    host_make(&h, pb, ENGINE_STEP_PLANNED, HOST_DRY_RUN);
    assert_int_equal(render_host(&b, &h, pb, 0), 0);
    assert_non_null(strstr(b.data, "h1: plan\n"));
    assert_non_null(strstr(b.data, "[2] stop: will stop postfix (via "
                                   "systemctl)\n"));
    assert_non_null(strstr(b.data, "will set a new password for "
                                   "alice@example.test (plesk)"));
    assert_non_null(strstr(b.data, "will hold 300 messages of "
                                   "alice@example.test"));
    assert_non_null(strstr(b.data, "20 other queued messages stay"));
    /* the analysis of two passes, once; singular and the top count */
    assert_int_equal(count(b.data, "FLAGGED alice@example.test"), 1);
    assert_non_null(strstr(b.data, "4 client addresses, top 10.0.0.2 (80 "
                                   "messages)"));
    assert_non_null(strstr(b.data, "bob@example.test: 1 message (0% of the "
                                   "queue), 1 client address, top 10.0.0.1 "
                                   "(1 message)"));
    assert_null(strstr(b.data, "would"));
    assert_null(strstr(b.data, "{{"));
    assert_string_equal(render_host_label(&h, pb), "dry-run");
    buf_release(&b);
    engine_host_release(&h);
    playbook_free(pb);
}

/* The result speaks in the past, with times, and says each thing once. */
static void test_result(void **state)
{
    struct playbook *pb = pb_load();
    struct engine_host h;
    struct buf b = BUF_INIT;

    (void)state;
    host_make(&h, pb, ENGINE_STEP_COMMITTED, HOST_COMMITTED);
    assert_int_equal(render_host(&b, &h, pb, 0), 0);
    assert_non_null(strstr(b.data, "[2] stop 12:20:08: stopped postfix (via "
                                   "systemctl)\n"));
    assert_non_null(strstr(b.data, "new password for alice@example.test "
                                   "(plesk), the old one destroyed at "
                                   "commit"));
    assert_non_null(strstr(b.data, "held 300 messages of alice@example.test, "
                                   "deleted at commit"));
    /* a new action's facts read without cmd/ knowing them */
    assert_non_null(strstr(b.data, "password confirmed alice@example.test: "
                                   "1"));
    assert_non_null(strstr(b.data, "logins watched: 1.50 s"));
    assert_null(strstr(b.data, "will "));
    assert_null(strstr(b.data, "would"));
    assert_int_equal(count(b.data, "FLAGGED alice@example.test"), 1);
    assert_int_equal(count(b.data, "committed"), 0); /* the recap's word */
    buf_release(&b);
    engine_host_release(&h);
    playbook_free(pb);
}

/* A host where nothing changes is "clean"; skipped steps need -v. */
static void test_clean(void **state)
{
    struct playbook *pb = pb_load();
    struct engine_host h;
    struct buf b = BUF_INIT;
    size_t i;

    (void)state;
    host_make(&h, pb, ENGINE_STEP_SKIPPED, HOST_COMMITTED);
    for (i = 1; i < h.nsteps; i++)
        if (h.steps[i].status == ENGINE_STEP_SKIPPED)
            h.steps[i].why = strdup("result 'seen' is empty here");
    h.steps[0].survey->flagged = h.steps[2].survey->flagged = 0;
    assert_string_equal(render_host_label(&h, pb), "clean");
    assert_int_equal(render_host(&b, &h, pb, 0), 0);
    assert_non_null(strstr(b.data, "h1: clean\n"));
    assert_non_null(strstr(b.data, "no account over the thresholds"));
    assert_null(strstr(b.data, "result 'seen'"));
    buf_reset(&b);
    assert_int_equal(render_host(&b, &h, pb, 1), 0);
    assert_non_null(strstr(b.data, "skipped: result 'seen' is empty here"));
    buf_release(&b);
    engine_host_release(&h);
    playbook_free(pb);
}

/* render_recap: a host that must run again gets its command. */
static int follow(struct buf *out, void *arg, const struct engine_host *h)
{
    (void)arg;
    if (h->state != HOST_ROLLED_BACK)
        return 0;
    return buf_printf(out, "  %s: run it again\n", h->target.name);
}

/* One recap line per host, with counts as ansible-playbook's. */
static void test_recap(void **state)
{
    struct playbook *pb = pb_load();
    struct engine_host h[2];
    struct buf b = BUF_INIT;

    (void)state;
    host_make(&h[0], pb, ENGINE_STEP_COMMITTED, HOST_COMMITTED);
    host_make(&h[1], pb, ENGINE_STEP_UNDONE, HOST_ROLLED_BACK);
    free(h[1].target.name);
    h[1].target.name = strdup("h2");
    h[1].steps[5].status = ENGINE_STEP_FAILED;
    assert_int_equal(
        render_recap(&b, "respond", "RUN-1", h, 2, pb, false, follow, NULL), 0);
    assert_non_null(strstr(b.data, "RECAP respond run RUN-1\n"));
    assert_non_null(strstr(b.data, "h1                   committed       "
                                   "ok=6   changed=4   contained=0   "
                                   "failed=0   unreachable=0   skipped=0   "
                                   "3.5s\n"));
    assert_non_null(strstr(b.data, "h2                   rolled-back     "
                                   "ok=5   changed=3   contained=0   "
                                   "failed=1"));
    assert_non_null(strstr(b.data, "  h2: run it again\n"));
    assert_null(strstr(b.data, "h1: run it again"));
    buf_release(&b);
    engine_host_release(&h[0]);
    engine_host_release(&h[1]);
    playbook_free(pb);
}

/* The confirmation is made from the records, not from prose. */
static void test_summary(void **state)
{
    struct playbook *pb = pb_load();
    struct engine_host h;
    struct buf b = BUF_INIT;

    (void)state;
    host_make(&h, pb, ENGINE_STEP_PLANNED, HOST_DRY_RUN);
    h.steps[3].pivot_why = strdup("plesk hashes mail passwords here");
    assert_int_equal(render_plan_summary(&b, &h, 1, pb), 0);
    assert_non_null(strstr(b.data, "Plan: playbook 't' on 1 host:\n"));
    assert_non_null(strstr(b.data, "    rotate password: alice@example.test "
                                   "(plesk)\n"));
    assert_non_null(strstr(b.data, "    purge (hold, delete at commit): 300 "
                                   "messages of alice@example.test\n"));
    assert_non_null(strstr(b.data, "    keep queued: 20 messages\n"));
    assert_non_null(strstr(b.data, "    [4] rotate: PIVOT on this host, "
                                   "cannot be undone: plesk hashes"));
    assert_non_null(strstr(b.data, "Pivots: only the PIVOT steps named "
                                   "above\n"));
    buf_release(&b);
    engine_host_release(&h);
    playbook_free(pb);
}

/* A fleet of n accounts on two hosts and n values seen on three. */
static void fleet_make(struct fleet *f, size_t n, const char *subject)
{
    static const char *const hosts[] = {"mx1", "mx2", "mx3", "mx4", "mx5",
                                        "mx6", "mx7", "mx8", "mx9", "mx10"};
    static char names[24][48];
    size_t i, k;

    fleet_init(f);
    for (i = 0; i < 10; i++)
        for (k = 0; k < n; k++) {
            snprintf(names[k], sizeof(names[k]), "user%zu@example.com", k);
            if (i < 2)
                assert_int_equal(fleet_add_flagged(f, hosts[i], names[k]), 0);
            if (i < 3 || k == 0)
                assert_int_equal(fleet_add_value(f, FLEET_CLIENT, names[k] + 4,
                                                 hosts[i], names[k], 10 + i),
                                 0);
        }
    if (subject != NULL)
        for (i = 0; i < 2; i++)
            assert_int_equal(fleet_add_value(f, FLEET_SUBJECT, subject,
                                             hosts[i], names[0], 7),
                             0);
    fleet_finish(f);
}

/*
 * The fleet picture: accounts on several hosts get one notice, shared
 * values name who sent them where; bounded, remote text cleaned and cut.
 */
static void test_fleet(void **state)
{
    struct buf b = BUF_INIT;
    struct fleet f;
    char subject[200];

    (void)state;
    fleet_init(&f);
    assert_int_equal(render_fleet(&b, &f), 0);
    assert_int_equal(b.len, 0); /* nothing shared: nothing said */
    fleet_release(&f);

    memset(subject, 'S', sizeof(subject));
    memcpy(subject, "Win\n\x1b[31m", 9);
    subject[sizeof(subject) - 1] = '\0';
    fleet_make(&f, 1, subject);
    assert_int_equal(render_fleet(&b, &f), 0);
    assert_string_equal(
        b.data,
        "\nFleet: what flagged accounts share across hosts\n"
        "  user0@example.com flagged on mx1, mx2: one notice\n"
        "  0@example.com (client IP) sent for user0@example.com on mx1 (10), "
        "for user0@example.com on mx2 (11), for user0@example.com on mx3 "
        "(12), for user0@example.com on mx4 (13) and 6 more, on 10 hosts in "
        "all\n"
        /* 9 bytes of the subject, then 71 of its S: 80 bytes */
        "  Win\\x0a\\x1b[31m"
        "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS"
        "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS"
        "... (subject) sent for user0@example.com on mx1 "
        "(7) and for user0@example.com on mx2 (7)\n");
    fleet_release(&f);

    /* 8 accounts and 8 values: 10 lines, then how many more */
    buf_reset(&b);
    fleet_make(&f, 8, NULL);
    assert_int_equal(render_fleet(&b, &f), 0);
    assert_int_equal(count(b.data, "\n"), 1 + 1 + 10 + 1);
    assert_int_equal(count(b.data, ": one notice\n"), 8);
    assert_non_null(strstr(b.data, "  1@example.com (client IP) sent for "
                                   "user1@example.com on mx1 (10), for "
                                   "user1@example.com on mx2 (11) and for "
                                   "user1@example.com on mx3 (12)\n"));
    assert_non_null(strstr(b.data, "  and 6 more (the run's report lists "
                                   "them all)\n"));
    fleet_release(&f);

    /* a cut falls between characters, not inside one */
    buf_reset(&b);
    memset(subject, 'a', 79);
    strcpy(subject + 79, "\xc3\xa9tc");
    assert_int_equal(add_cut(&b, subject, 80), 0);
    assert_int_equal(b.len, 79 + 3);
    assert_string_equal(b.data + 79, "...");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan),    cmocka_unit_test(test_result),
        cmocka_unit_test(test_clean),   cmocka_unit_test(test_recap),
        cmocka_unit_test(test_summary), cmocka_unit_test(test_fleet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
