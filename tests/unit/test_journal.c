/* Journal: durable appends, torn last lines, and refused damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spamstop/fsio.h"
#include "spamstop/journal.h"

static const char good[] =
    "{\"seq\":1,\"type\":\"begin\",\"host\":\"h\",\"run_id\":\"r\"}\n"
    "{\"seq\":2,\"type\":\"read\",\"step\":0,\"results\":[\"a\",\"b\"]}\n"
    "{\"seq\":3,\"type\":\"intent\",\"step\":1,\"kind\":\"compensable\","
    "\"command\":\"do\",\"undo\":\"undo\"}\n"
    "{\"seq\":4,\"type\":\"done\",\"step\":1,\"exit\":0}\n"
    "{\"seq\":5,\"type\":\"intent\",\"step\":2,\"kind\":\"pivot\","
    "\"command\":\"p\"}\n";

static void test_replay_good(void **state)
{
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(journal_replay_string(&s, good, strlen(good), &e), 0);
    assert_int_equal(s.records, 5);
    assert_false(s.torn);
    assert_int_equal(s.steps[0].status, JSTEP_READ);
    assert_int_equal(s.steps[0].results.n, 2);
    assert_int_equal(s.steps[1].status, JSTEP_DONE);
    assert_string_equal(s.steps[1].undo, "undo");
    assert_int_equal(s.steps[2].status, JSTEP_INTENT);
    journal_state_release(&s);
}

static void test_torn_last_line(void **state)
{
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;
    char text[1024];
    size_t cut;

    (void)state;
    /* every cut inside the last line is tolerated */
    for (cut = 1; cut < 40; cut++) {
        snprintf(text, sizeof(text),
                 "%s{\"seq\":6,\"type\":\"done\","
                 "\"step\":2,\"exit\":0}\n",
                 good);
        text[strlen(text) - cut] = '\0';
        assert_int_equal(journal_replay_string(&s, text, strlen(text), &e), 0);
        assert_true(s.torn);
        assert_int_equal(s.records, 5);
        assert_int_equal(s.valid_len, strlen(good));
        assert_int_equal(s.steps[2].status, JSTEP_INTENT);
        journal_state_release(&s);
    }
}

/* Replaces the first occurrence of from in good by to; must be corrupt. */
static void expect_corrupt(const char *from, const char *to)
{
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;
    char text[2048];
    const char *at = strstr(good, from);

    assert_non_null(at);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, to,
             at + strlen(from));
    if (journal_replay_string(&s, text, strlen(text), &e) != SS_ECORRUPT)
        fail_msg("not refused: %s", text);
    assert_non_null(strstr(e.msg, "journal line"));
}

static void test_damage_refused(void **state)
{
    (void)state;
    /* a damaged line in the middle is not a torn write */
    expect_corrupt("{\"seq\":2", "{\"seq\"2");
    /* a removed record */
    expect_corrupt("{\"seq\":2,\"type\":\"read\",\"step\":0,\"results\":"
                   "[\"a\",\"b\"]}\n",
                   "");
    /* impossible transitions and unknown types */
    expect_corrupt("\"type\":\"done\"", "\"type\":\"undone\"");
    expect_corrupt("\"type\":\"done\"", "\"type\":\"finished\"");
    expect_corrupt("\"type\":\"begin\"", "\"type\":\"done\"");
    expect_corrupt("\"step\":1,\"exit\"", "\"step\":-1,\"exit\"");
    expect_corrupt(",\"kind\":\"compensable\"", "");
}

/* A committed step, then its rollback by uncommit. */
static const char uncommitted[] =
    "{\"seq\":1,\"type\":\"begin\",\"host\":\"h\",\"run_id\":\"r\"}\n"
    "{\"seq\":2,\"type\":\"intent\",\"step\":0,\"kind\":\"compensable\","
    "\"command\":\"hold\",\"undo\":\"release\",\"commit\":\"delete\","
    "\"uncommit\":\"restore\"}\n"
    "{\"seq\":3,\"type\":\"done\",\"step\":0,\"exit\":0}\n"
    "{\"seq\":4,\"type\":\"commit\"}\n"
    "{\"seq\":5,\"type\":\"commit-intent\",\"step\":0}\n"
    "{\"seq\":6,\"type\":\"commit-done\",\"step\":0,\"exit\":0}\n"
    "{\"seq\":7,\"type\":\"end\",\"state\":\"committed\"}\n"
    "{\"seq\":8,\"type\":\"rollback\"}\n"
    "{\"seq\":9,\"type\":\"uncommit-intent\",\"step\":0}\n"
    "{\"seq\":10,\"type\":\"uncommitted\",\"step\":0,\"exit\":0}\n";

static void test_replay_uncommit(void **state)
{
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;
    char text[2048];
    size_t n;

    (void)state;
    assert_int_equal(
        journal_replay_string(&s, uncommitted, strlen(uncommitted), &e), 0);
    assert_string_equal(s.steps[0].uncommit, "restore");
    assert_int_equal(s.steps[0].commit_status, JCOMMIT_UNCOMMITTED);
    assert_int_equal(s.steps[0].status, JSTEP_UNDONE);
    assert_true(s.rollback_begun);
    journal_state_release(&s);
    /* without its outcome: the uncommit may have run */
    n = strstr(uncommitted, "{\"seq\":10") - uncommitted;
    assert_int_equal(journal_replay_string(&s, uncommitted, n, &e), 0);
    assert_int_equal(s.steps[0].commit_status, JCOMMIT_UNCOMMIT_INTENT);
    assert_int_equal(s.steps[0].status, JSTEP_DONE);
    journal_state_release(&s);
    /* an uncommit of a step whose commit never began is corrupt */
    n = strstr(uncommitted, "{\"seq\":4") - uncommitted;
    snprintf(text, sizeof(text),
             "%.*s{\"seq\":4,\"type\":\"uncommit-intent\",\"step\":0}\n",
             (int)n, uncommitted);
    assert_int_equal(journal_replay_string(&s, text, strlen(text), &e),
                     SS_ECORRUPT);
    /* and so is an outcome without its intent */
    n = strstr(uncommitted, "{\"seq\":9") - uncommitted;
    snprintf(text, sizeof(text),
             "%.*s{\"seq\":9,\"type\":\"uncommit-failed\",\"step\":0}\n",
             (int)n, uncommitted);
    assert_int_equal(journal_replay_string(&s, text, strlen(text), &e),
                     SS_ECORRUPT);
    /* after an uncommit the step cannot be uncommitted again */
    snprintf(text, sizeof(text),
             "%s{\"seq\":11,\"type\":\"uncommit-intent\",\"step\":0}\n",
             uncommitted);
    assert_int_equal(journal_replay_string(&s, text, strlen(text), &e),
                     SS_ECORRUPT);
}

static int tear_at_3(void *arg, size_t n)
{
    (void)arg;
    return n == 3 ? JOURNAL_HOOK_TEAR : JOURNAL_HOOK_WRITE;
}

static void test_write_tear_reopen(void **state)
{
    char dir[] = "/tmp/ss-journal-XXXXXX", path[64];
    struct journal *j = NULL;
    struct journal_record rec;
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;
    struct strlist res = STRLIST_INIT;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/h.jsonl", dir);
    assert_int_equal(journal_open(&j, path, &e), 0);
    journal_set_hook(j, tear_at_3, NULL);
    journal_record_init(&rec, JOURNAL_BEGIN, -1);
    rec.host = "h";
    assert_int_equal(journal_append(j, &rec, &e), 0);
    strlist_push(&res, "x'y");
    journal_record_init(&rec, JOURNAL_READ, 0);
    rec.results = &res;
    assert_int_equal(journal_append(j, &rec, &e), 0);
    journal_record_init(&rec, JOURNAL_INTENT, 1);
    rec.kind = "compensable";
    rec.undo = "u";
    assert_true(journal_append(j, &rec, &e) < 0);
    /* dead after a failure */
    journal_record_init(&rec, JOURNAL_END, -1);
    rec.state = "committed";
    assert_true(journal_append(j, &rec, &e) < 0);
    journal_close(j);
    assert_int_equal(journal_replay_file(&s, path, &e), 0);
    assert_true(s.torn);
    assert_int_equal(s.records, 2);
    assert_string_equal(s.steps[0].results.v[0], "x'y");
    journal_state_release(&s);
    /* reopening cuts the torn line; appends continue the sequence */
    assert_int_equal(journal_open(&j, path, &e), 0);
    journal_record_init(&rec, JOURNAL_INTENT, 1);
    rec.kind = "compensable";
    rec.undo = "u";
    assert_int_equal(journal_append(j, &rec, &e), 0);
    journal_close(j);
    assert_int_equal(journal_replay_file(&s, path, &e), 0);
    assert_false(s.torn);
    assert_int_equal(s.records, 3);
    assert_int_equal(s.steps[1].status, JSTEP_INTENT);
    journal_state_release(&s);
    /* a disk error fails the append too */
    assert_int_equal(journal_open(&j, path, &e), 0);
    fsio_fail_after = 1;
    journal_record_init(&rec, JOURNAL_DONE, 1);
    assert_true(journal_append(j, &rec, &e) < 0);
    fsio_fail_after = 0;
    journal_close(j);
    strlist_release(&res);
    unlink(path);
    rmdir(dir);
}

/*
 * A failed journal write (the disk full at any append) is reported, leaves
 * the journal dead and the file holding whole records only.
 */
static void test_write_fault(void **state)
{
    char dir[] = "/tmp/ss-journal-XXXXXX", path[64];
    struct journal *j = NULL;
    struct journal_record rec;
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;
    int k, i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/h.jsonl", dir);
    for (k = 1; k <= 3; k++) {
        unlink(path);
        assert_int_equal(journal_open(&j, path, &e), 0);
        fsio_fail_after = k;
        for (i = 0; i < 3; i++) {
            journal_record_init(&rec, i == 0 ? JOURNAL_BEGIN : JOURNAL_READ,
                                i == 0 ? -1 : i);
            rec.host = "h";
            errbuf_clear(&e);
            if (i + 1 < k) {
                assert_int_equal(journal_append(j, &rec, &e), 0);
                continue;
            }
            assert_int_equal(journal_append(j, &rec, &e), SS_ERR);
            if (i + 1 == k) {
                assert_non_null(strstr(e.msg, "cannot write the journal"));
                assert_non_null(strstr(e.msg, "No space left"));
            } else {
                assert_non_null(strstr(e.msg, "failed earlier"));
            }
        }
        assert_int_equal(fsio_fail_after, 0);
        journal_close(j);
        assert_int_equal(journal_replay_file(&s, path, &e), 0);
        assert_false(s.torn);
        assert_int_equal(s.records, (size_t)(k - 1));
        journal_state_release(&s);
    }
    unlink(path);
    rmdir(dir);
}

/* A torn end that cannot be cut fails the open, and the file keeps it. */
static void test_cut_fault(void **state)
{
    char dir[] = "/tmp/ss-journal-XXXXXX", path[64];
    const char torn[] = "{\"seq\":6,\"type\":\"done\",\"st";
    struct journal *j = NULL;
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/h.jsonl", dir);
    assert_non_null(f = fopen(path, "w"));
    assert_int_equal(fputs(good, f) >= 0 && fputs(torn, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    fsio_fail_after = 1;
    assert_int_equal(journal_open(&j, path, &e), SS_ERR);
    assert_null(j);
    assert_non_null(strstr(e.msg, "cannot cut the torn end"));
    assert_non_null(strstr(e.msg, "No space left"));
    assert_int_equal(journal_replay_file(&s, path, &e), 0);
    assert_true(s.torn);
    assert_int_equal(s.records, 5);
    journal_state_release(&s);
    /* with the disk back, the open cuts it */
    assert_int_equal(journal_open(&j, path, &e), 0);
    journal_close(j);
    assert_int_equal(journal_replay_file(&s, path, &e), 0);
    assert_false(s.torn);
    assert_int_equal(s.records, 5);
    journal_state_release(&s);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_good),
        cmocka_unit_test(test_torn_last_line),
        cmocka_unit_test(test_damage_refused),
        cmocka_unit_test(test_replay_uncommit),
        cmocka_unit_test(test_write_tear_reopen),
        cmocka_unit_test(test_write_fault),
        cmocka_unit_test(test_cut_fault),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
