/* Unit tests of cmd/progress.c: counting, the recap, cleaning, colours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmd/ is not a library: the view is compiled into this test. */
#include "../../cmd/progress.c"

static const char pb_text[] =
    "{\"name\":\"t\",\"steps\":["
    "{\"name\":\"look\",\"kind\":\"read-only\",\"shell\":{\"run\":"
    "\"true\"}},"
    "{\"name\":\"change\",\"kind\":\"compensable\",\"shell\":{\"run\":"
    "\"true\",\"undo\":\"true\",\"probe\":\"true\"}}]}";

/* Sends one event for host h. */
static void ev(struct progress *p, const char *h, const char *step,
               const char *what, const char *detail)
{
    struct engine_event e = {h, step, what, detail};

    progress_event(p, &e);
}

/* Runs f and returns what the recap wrote (caller frees). */
static char *recap_text(struct progress *p, bool color)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    progress_recap(p, f, "respond", "RUN-1", color);
    fclose(f);
    return text;
}

/* Steps count as ok, changed (mutating, not dry-run) and failed. */
static void test_recap_counts(void **state)
{
    static const char *const hosts[] = {"h1", "h2", "h3"};
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;
    struct progress *p = NULL;
    char *text;

    (void)state;
    assert_int_equal(playbook_parse_string(&pb, pb_text, strlen(pb_text), "t",
                                           engine_action_lookup, &e),
                     0);
    assert_int_equal(progress_new(&p, stderr, hosts, 3, pb, false, false), 0);
    progress_reset(p, false);
    ev(p, "h1", NULL, "connected", "SHA256:x");
    ev(p, "h1", "look", "start", NULL);
    ev(p, "h1", "look", "done", NULL);
    ev(p, "h1", "change", "start", NULL);
    ev(p, "h1", "change", "done", NULL);
    ev(p, "h1", NULL, "state", "committed");
    ev(p, "h2", "look", "done", NULL);
    ev(p, "h2", "change", "failed", "apply exited with status 1");
    ev(p, "h2", "look", "undone", NULL);
    ev(p, "h2", NULL, "state", "rolled-back: step 2 'change': apply failed");
    ev(p, "nobody", "look", "done", NULL);
    text = recap_text(p, false);
    assert_non_null(strstr(text, "RECAP respond run RUN-1\n"));
    assert_non_null(strstr(text, "HOST"));
    assert_non_null(strstr(text, "h1                       committed        "
                                 "   2        1       0"));
    assert_non_null(strstr(text, "h2                       rolled-back      "
                                 "   1        1       1"));
    assert_non_null(strstr(text, "h3                       not-started      "
                                 "   0        0       0"));
    assert_null(strchr(text, '\033'));
    free(text);

    /* a dry run changes nothing, and colour marks the state */
    progress_reset(p, true);
    ev(p, "h1", "change", "done", NULL);
    ev(p, "h1", NULL, "state", "dry-run");
    text = recap_text(p, true);
    assert_non_null(strstr(text, "\033[36mdry-run"));
    assert_non_null(strstr(text, "   1        0       0"));
    free(text);
    progress_free(p);
    playbook_free(pb);
}

/* One worker per host, all at once: no lost counts. */
static void *worker(void *arg)
{
    void **a = arg;
    int i;

    for (i = 0; i < 500; i++)
        ev(a[0], a[1], "look", "done", NULL);
    return NULL;
}

/* Events from many threads are counted exactly (a live view draws too). */
static void test_threads(void **state)
{
    static const char *const hosts[] = {"a", "b", "c", "d"};
    pthread_t t[4];
    void *args[4][2];
    struct progress *p = NULL;
    char *out = NULL, *text;
    size_t len = 0, i;
    FILE *f = open_memstream(&out, &len);

    (void)state;
    assert_int_equal(progress_new(&p, f, hosts, 4, NULL, true, true), 0);
    progress_start(p);
    for (i = 0; i < 4; i++) {
        args[i][0] = p;
        args[i][1] = (void *)hosts[i];
        assert_int_equal(pthread_create(&t[i], NULL, worker, args[i]), 0);
    }
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < 4; i++)
        ev(p, hosts[i], NULL, "state", "committed");
    progress_stop(p);
    text = recap_text(p, false);
    assert_non_null(strstr(text, "a                        committed        "
                                 " 500"));
    assert_non_null(strstr(text, "d                        committed        "
                                 " 500"));
    free(text);
    progress_free(p);
    fclose(f);
    /* the live drawing moved the cursor up and left the last state */
    assert_non_null(strstr(out, "\033[4A"));
    assert_non_null(strstr(out, "500 ok, 0 changed, 0 failed"));
    free(out);
}

/* Remote text loses control bytes and is cut to fit. */
static void test_clean(void **state)
{
    char out[8];

    (void)state;
    progress_clean(out, sizeof(out), "a\033[2Jb\n\xc3\xa9xyz");
    assert_string_equal(out, "a?[2Jb?");
    progress_clean(out, sizeof(out), NULL);
    assert_string_equal(out, "");
}

/* NO_COLOR (any value) and TERM=dumb turn colours off. */
static void test_want_color(void **state)
{
    (void)state;
    setenv("TERM", "xterm", 1);
    setenv("NO_COLOR", "", 1);
    assert_false(progress_want_color(0));
    unsetenv("NO_COLOR");
    setenv("TERM", "dumb", 1);
    assert_false(progress_want_color(0));
    assert_false(progress_want_live(0));
    /* not a terminal */
    setenv("TERM", "xterm", 1);
    assert_false(progress_want_color(-1));
    assert_false(progress_want_live(-1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recap_counts),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_want_color),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
