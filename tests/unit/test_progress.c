/* Unit tests of cmd/progress.c: counting, cleaning, colours. */
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

/* Sends one event for host h. */
static void ev(struct progress *p, const char *h, const char *step,
               const char *what, const char *detail)
{
    struct engine_event e = {h, step, what, detail};

    progress_event(p, &e);
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
    char *out = NULL;
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
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_want_color),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
