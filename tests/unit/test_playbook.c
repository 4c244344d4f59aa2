/* Playbook parser: a valid file, and every kind of bad file named right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "spamstop/engine.h"
#include "spamstop/playbook.h"

/* Parses text expecting failure; checks the message holds want. */
static void expect_bad(const char *text, const char *want)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;
    int r;

    r = playbook_parse_string(&pb, text, strlen(text), "x.json",
                              engine_action_lookup, &e);
    if (r != SS_EINVAL || strstr(e.msg, want) == NULL)
        fail_msg("for %s\nwanted SS_EINVAL with '%s', got %d '%s'", text, want,
                 r, e.msg);
    assert_null(pb);
}

#define STEP0                                                                  \
    "{\"name\":\"a\",\"kind\":\"read-only\",\"shell\":{\"run\":\"ls\"}"

static void test_good_fixture(void **state)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(playbook_load(&pb, FIXTURES_DIR "/playbooks/good.json",
                                   engine_action_lookup, &e),
                     0);
    assert_string_equal(pb->name, "fixture-good");
    assert_int_equal(pb->nsteps, 4);
    assert_non_null(pb->steps[0].ops);
    assert_non_null(pb->steps[0].ops);
    assert_string_equal(pb->steps[0].action, "require");
    assert_int_equal(pb->steps[2].kind, STEP_COMPENSABLE);
    assert_string_equal(pb->steps[2].undo, "rm -f {{found}}");
    assert_string_equal(pb->steps[2].when, "found");
    assert_int_equal(pb->steps[3].kind, STEP_PIVOT);
    assert_int_equal(pb->steps[3].timeout_ms, 30000);
    assert_int_equal(playbook_first_pivot(pb), 3);
    assert_string_equal(playbook_param(pb, "tag"), "incident 42");
    assert_int_equal(playbook_set_param(pb, "tag", "other", &e), 0);
    assert_string_equal(playbook_param(pb, "tag"), "other");
    assert_int_equal(playbook_set_param(pb, "nope", "x", &e), SS_EINVAL);
    assert_int_equal(strlen(pb->sha256), 64);
    playbook_free(pb);
}

static void test_example_marker(void **state)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(playbook_load(&pb, PLAYBOOK_DIR "/examples/marker.json",
                                   engine_action_lookup, &e),
                     0);
    assert_int_equal(playbook_first_pivot(pb), -1);
    playbook_free(pb);
}

static void test_bad_fixtures(void **state)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(
        playbook_load(&pb, FIXTURES_DIR "/playbooks/bad-unknown-key.json",
                      engine_action_lookup, &e),
        SS_EINVAL);
    assert_non_null(strstr(e.msg, "bad-unknown-key.json: step 3 'purge': "
                                  "unknown key 'undoo'"));
    assert_int_equal(
        playbook_load(&pb, FIXTURES_DIR "/playbooks/bad-unknown-result.json",
                      engine_action_lookup, &e),
        SS_EINVAL);
    assert_non_null(strstr(e.msg, "step 1 'use': 'shell.run' refers to "
                                  "result 'accounts'"));
    assert_int_equal(playbook_load(&pb, FIXTURES_DIR "/playbooks/none.json",
                                   engine_action_lookup, &e),
                     SS_EINVAL);
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_bad("{\"name\": ", "x.json: line 1");
    expect_bad("[1,2]", "must be a JSON object");
    expect_bad("{\"name\":\"a\",\"name\":\"b\",\"steps\":[]}", "duplicate");
}

static void test_bad_top(void **state)
{
    (void)state;
    expect_bad("{\"name\":\"a\",\"steps\":[" STEP0 "}],\"extra\":1}",
               "x.json: unknown key 'extra'");
    expect_bad("{\"steps\":[" STEP0 "}]}", "missing key 'name'");
    expect_bad("{\"name\":\"a\",\"steps\":[]}", "non-empty array");
    expect_bad("{\"name\":\"a\",\"params\":{\"x\":1},\"steps\":[" STEP0 "}]}",
               "'params.x' must be a string");
}

static void test_bad_steps(void **state)
{
    (void)state;
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 ",\"undoo\":1}]}",
               "x.json: step 1 'a': unknown key 'undoo'");
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 "}," STEP0 "}]}",
               "step 2 'a': duplicate step name (also step 1)");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":\"x\","
               "\"shell\":{\"run\":\"ls\"}}]}",
               "'kind' must be read-only, compensable or pivot");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"compensable\",\"shell\":{\"run\":\"ls\"}}]}",
               "step 1 'a': a compensable step needs 'shell.undo'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"read-only\",\"shell\":{\"run\":\"ls\",\"undo\":\"x\"}}]}",
               "a read-only step cannot have 'shell.undo'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"run\":\"ls\",\"undo\":\"x\"}}]}",
               "a pivot step cannot have 'shell.undo'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"rn\":\"ls\"}}]}",
               "step 1 'a': unknown key 'shell.rn'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{}}]}",
               "missing key 'shell.run'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\"}]}",
               "missing key 'action' or 'shell'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"kind\":\"pivot\"}]}",
               "step 1: missing key 'name'");
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 ",\"timeout\":0}]}",
               "'timeout' must be seconds");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"compensable\",\"shell\":{\"run\":\"x\",\"undo\":\"y\","
               "\"uncommit\":\"z\"}}]}",
               "step 1 'a': 'shell.uncommit' needs 'shell.commit'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"run\":\"x\",\"commit\":\"y\","
               "\"uncommit\":\"z\"}}]}",
               "a pivot step cannot have 'shell.uncommit'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"compensable\",\"shell\":{\"run\":\"x\",\"undo\":\"y\","
               "\"commit\":\"c\",\"uncommit\":\"z {{nope}}\"}}]}",
               "'shell.uncommit' refers to result 'nope'");
}

static void test_uncommit_kept(void **state)
{
    static const char text[] =
        "{\"name\":\"p\",\"steps\":[" STEP0 ",\"register\":\"ids\"},"
        "{\"name\":\"b\",\"kind\":\"compensable\",\"shell\":{\"run\":"
        "\"hold {{ids}}\",\"undo\":\"release {{ids}}\",\"commit\":"
        "\"delete {{ids}}\",\"uncommit\":\"restore {{ids}}\"}}]}";
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(playbook_parse_string(&pb, text, strlen(text), "x.json",
                                           engine_action_lookup, &e),
                     0);
    assert_string_equal(pb->steps[1].uncommit, "restore {{ids}}");
    assert_null(pb->steps[0].uncommit);
    playbook_free(pb);
}

static void test_bad_refs(void **state)
{
    (void)state;
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"run\":\"rm {{ghost}}\"}}]}",
               "step 1 'a': 'shell.run' refers to result 'ghost' that no "
               "earlier step registers");
    /* a step cannot use its own result: the undo is journaled first */
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"compensable\",\"register\":\"r\",\"shell\":{\"run\":"
               "\"mktemp\",\"undo\":\"rm {{r}}\"}}]}",
               "'shell.undo' refers to result 'r'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"run\":\"echo {{params.nope}}\"}}]}",
               "unknown parameter 'params.nope'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"run\":\"echo {{oops\"}}]}",
               "'{{' without '}}'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"shell\":{\"run\":\"echo {{a b}}\"}}]}",
               "bad reference");
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 ",\"when\":\"zz\"}]}",
               "'when' refers to result 'zz'");
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 ",\"register\":\"r\"},"
               "{\"name\":\"b\",\"kind\":\"read-only\",\"register\":\"r\","
               "\"shell\":{\"run\":\"ls\"}}]}",
               "step 2 'b': 'register': result 'r' is already registered");
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 ",\"register\":\"a b\"}]}",
               "'register' must be");
}

static void test_bad_actions(void **state)
{
    (void)state;
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"pivot\",\"action\":\"launch\"}]}",
               "step 1 'a': unknown action 'launch'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"compensable\",\"action\":\"require\",\"with\":{"
               "\"commands\":[\"ls\"]}}]}",
               "action 'require' cannot be a compensable step");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"read-only\",\"action\":\"require\",\"with\":{"
               "\"commandz\":[\"ls\"]}}]}",
               "step 1 'a': unknown key 'with.commandz'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"read-only\",\"action\":\"require\",\"with\":{"
               "\"commands\":[\"ls;rm\"]}}]}",
               "'with.commands' item 1");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"read-only\",\"action\":\"require\",\"with\":{"
               "\"commands\":[\"{{x}}\"]}}]}",
               "'with' refers to result 'x'");
    expect_bad("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"kind\":"
               "\"read-only\",\"action\":\"require\",\"shell\":{\"run\":"
               "\"ls\"}}]}",
               "either 'action' or 'shell'");
    expect_bad("{\"name\":\"p\",\"steps\":[" STEP0 ",\"with\":{}}]}",
               "'with' needs 'action'");
}

/* Collects what tmpl_walk sees. */
static int collect_ref(void *arg, enum tmpl_ref_type type, const char *name)
{
    struct buf *b = arg;

    return buf_printf(b, "[%d:%s]", (int)type, name);
}

static int collect_lit(void *arg, const char *s, size_t n)
{
    return buf_add(arg, s, n);
}

static void test_tmpl_walk(void **state)
{
    struct buf b = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(tmpl_walk("a {{ x }}b{{params.y}}{{host}} {c}",
                               collect_lit, collect_ref, &b, &e),
                     0);
    assert_string_equal(b.data, "a [0:x]b[1:y][2:host] {c}");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fixture),
        cmocka_unit_test(test_example_marker),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_top),
        cmocka_unit_test(test_bad_steps),
        cmocka_unit_test(test_uncommit_kept),
        cmocka_unit_test(test_bad_refs),
        cmocka_unit_test(test_bad_actions),
        cmocka_unit_test(test_tmpl_walk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
