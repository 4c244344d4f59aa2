/* Run folders: ids in the order runs started, and "last". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spamstop/engine.h"
#include "spamstop/playbook.h"
#include "spamstop/rundir.h"

static const char pb_text[] =
    "{\"name\": \"t\", \"steps\": [{\"name\": \"s\", \"kind\": "
    "\"read-only\", \"shell\": {\"run\": \"true\"}}]}";

/* A fresh private state folder in out. */
static void state_make(char *out, size_t size)
{
    snprintf(out, size, "/tmp/ss-rundir-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void state_rm(const char *dir)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Creates one run in state and copies its id to id. */
static void new_run(char id[RUNDIR_ID_MAX], const char *state,
                    const struct playbook *pb, bool dry_run)
{
    static const char *const hosts[] = {"h1"};
    struct errbuf e = ERRBUF_INIT;
    struct rundir *rd = NULL;

    assert_int_equal(rundir_create(&rd, state, pb, hosts, 1, dry_run, &e), 0);
    snprintf(id, RUNDIR_ID_MAX, "%s", rd->info.run_id);
    rundir_free(rd);
}

/* Runs started in one second sort in the order they started; last. */
static void test_ids_in_start_order(void **state)
{
    struct errbuf e = ERRBUF_INIT;
    struct playbook *pb = NULL;
    char dir[64], ids[5][RUNDIR_ID_MAX], got[RUNDIR_ID_MAX];
    int i;

    (void)state;
    state_make(dir, sizeof(dir));
    assert_int_equal(playbook_parse_string(&pb, pb_text, strlen(pb_text),
                                           "t.json", engine_action_lookup, &e),
                     0);
    for (i = 0; i < 5; i++) {
        new_run(ids[i], dir, pb, i % 2 == 0);
        assert_true(rundir_valid_id(ids[i]));
        if (i > 0)
            assert_true(strcmp(ids[i - 1], ids[i]) < 0);
        assert_int_equal(rundir_resolve(got, dir, "last", &e), 0);
        assert_string_equal(got, ids[i]);
    }
    /* the same second (a 1 in 5 chance otherwise): numbered in order */
    if (strncmp(ids[0], ids[1], 15) == 0) {
        assert_memory_equal(ids[0] + 15, "-0001-", 6);
        assert_memory_equal(ids[1] + 15, "-0002-", 6);
    }
    /* STAMP-NNNN-RRRRRR: 24 random bits tell two controllers' runs apart */
    assert_int_equal(strlen(ids[0]), 27);
    assert_int_equal(strspn(ids[0] + 21, "0123456789abcdef"), 6);
    assert_int_equal(rundir_resolve(got, dir, ids[2], &e), 0);
    assert_string_equal(got, ids[2]);
    playbook_free(pb);
    state_rm(dir);
}

/* "last" with no run, and a name that is no run id, are refused. */
static void test_resolve_refuses(void **state)
{
    struct errbuf e = ERRBUF_INIT;
    char dir[64], got[RUNDIR_ID_MAX];

    (void)state;
    state_make(dir, sizeof(dir));
    assert_int_equal(rundir_resolve(got, dir, "last", &e), SS_ENOENT);
    assert_non_null(strstr(e.msg, "no runs in"));
    assert_int_equal(rundir_resolve(got, dir, "../x", &e), SS_EINVAL);
    assert_non_null(strstr(e.msg, "'../x' is not a run id"));
    state_rm(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_in_start_order),
        cmocka_unit_test(test_resolve_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
