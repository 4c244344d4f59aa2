/* Engine sagas on the fake executor: rollback order, pivots, crashes. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_exec.h"
#include "spamstop/engine.h"
#include "spamstop/fsio.h"

/* A scratch folder per test: run/ and hosts/. */
struct scratch {
    char root[256];
    char run[300];
    char hosts[300];
    char locks[300];
};

static void scratch_make(struct scratch *s)
{
    struct errbuf e = ERRBUF_INIT;
    char journal[400];

    /* tmpfs when there is one: the journal fsyncs every record */
    snprintf(s->root, sizeof(s->root), "%s/ss-engine-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    assert_non_null(mkdtemp(s->root));
    snprintf(s->run, sizeof(s->run), "%s/run", s->root);
    snprintf(s->hosts, sizeof(s->hosts), "%s/hosts", s->root);
    snprintf(s->locks, sizeof(s->locks), "%s/locks", s->root);
    snprintf(journal, sizeof(journal), "%s/journal", s->run);
    assert_int_equal(fsio_mkdirs(journal, 0700, &e), 0);
    assert_int_equal(fsio_mkdirs(s->hosts, 0700, &e), 0);
}

static void scratch_rm(struct scratch *s)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->root);
    assert_int_equal(system(cmd), 0);
}

static struct playbook *parse(const char *text)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    if (playbook_parse_string(&pb, text, strlen(text), "t.json",
                              engine_action_lookup, &e) < 0)
        fail_msg("playbook: %s", e.msg);
    return pb;
}

/* n hosts named h1..hn. */
static struct engine_host *hosts_new(size_t n)
{
    struct engine_host *h = calloc(n, sizeof(*h));
    char name[32];
    size_t i;

    for (i = 0; i < n; i++) {
        engine_host_init(&h[i]);
        snprintf(name, sizeof(name), "h%zu", i + 1);
        h[i].target.name = strdup(name);
    }
    return h;
}

static void hosts_free(struct engine_host *h, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        engine_host_release(&h[i]);
    free(h);
}

static void opts_for(struct engine_opts *o, struct executor *ex,
                     const struct playbook *pb, const struct scratch *s)
{
    engine_opts_init(o);
    o->ex = ex;
    o->pb = pb;
    o->run_dir = s->run;
    o->run_id = "test-run";
    o->lock_dir = s->locks;
}

/* Runs mode (0 respond, 1 rollback, 2 resume) on one fresh host h1. */
static enum host_state run1(int mode, struct executor *ex,
                            const struct playbook *pb, const struct scratch *s,
                            struct engine_opts *o_in)
{
    struct engine_host *h = hosts_new(1);
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    enum host_state st;

    if (o_in != NULL)
        o = *o_in;
    else
        opts_for(&o, ex, pb, s);
    if (mode == 0)
        assert_int_equal(engine_respond(h, 1, &o, &e), 0);
    else if (mode == 1)
        assert_int_equal(engine_rollback(h, 1, &o, &e), 0);
    else
        assert_int_equal(engine_resume(h, 1, &o, &e), 0);
    st = h[0].state;
    hosts_free(h, 1);
    return st;
}

/* The text of the first note called key of step i of h, or NULL. */
static const char *note_text(const struct engine_host *h, size_t i,
                             const char *key)
{
    size_t k;

    for (k = 0; i < h->nsteps && k < h->steps[i].nnotes; k++)
        if (strcmp(h->steps[i].notes[k].key, key) == 0)
            return h->steps[i].notes[k].text;
    return NULL;
}

/* Five compensable steps: run "do sK", undo "undo sK". */
static const char five[] =
    "{\"name\":\"five\",\"steps\":["
    "{\"name\":\"s1\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s1\","
    "\"undo\":\"undo s1\"}},"
    "{\"name\":\"s2\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s2\","
    "\"undo\":\"undo s2\"}},"
    "{\"name\":\"r\",\"kind\":\"read-only\",\"shell\":{\"run\":\"look\"}},"
    "{\"name\":\"s3\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s3\","
    "\"undo\":\"undo s3\"}},"
    "{\"name\":\"s4\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s4\","
    "\"undo\":\"undo s4\"}},"
    "{\"name\":\"s5\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s5\","
    "\"undo\":\"undo s5\"}}]}";

static void test_all_succeed(void **state)
{
    struct playbook *pb = parse(five);
    struct executor *ex = fake_exec_new();
    struct scratch s;

    (void)state;
    scratch_make(&s);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
    assert_int_equal(fake_exec_count(ex), 6);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo"), 0);
    /* resume after a committed run: nothing to do, nothing sent */
    fake_exec_clear_log(ex);
    assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_NOTHING);
    assert_int_equal(fake_exec_count(ex), 0);
    /* rollback of the committed run undoes all, newest first; again: 0 */
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count(ex), 5);
    assert_string_equal(fake_exec_command(ex, 0), "undo s5");
    assert_string_equal(fake_exec_command(ex, 4), "undo s1");
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_NOTHING);
    assert_int_equal(fake_exec_count(ex), 0);
    assert_int_equal(fake_exec_connects(ex), 0);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_fail_every_position(void **state)
{
    static const char *const mutating[] = {"s1", "s2", "s3", "s4", "s5"};
    struct playbook *pb = parse(five);
    size_t k, j, n;

    (void)state;
    for (k = 0; k < 5; k++) {
        struct executor *ex = fake_exec_new();
        struct scratch s;
        char failing[32], want[32];

        scratch_make(&s);
        snprintf(failing, sizeof(failing), "do %s", mutating[k]);
        fake_exec_rule(ex, NULL, failing, 0, 0, 1, NULL, "no");
        assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ROLLED_BACK);
        /* the commands after the failing one are its predecessors' undos,
         * newest first, and nothing else */
        n = fake_exec_count(ex);
        for (j = 0; j < n; j++)
            if (strcmp(fake_exec_command(ex, j), failing) == 0)
                break;
        assert_int_equal(n - j - 1, k);
        for (size_t u = 0; u < k; u++) {
            snprintf(want, sizeof(want), "undo %s", mutating[k - 1 - u]);
            assert_string_equal(fake_exec_command(ex, j + 1 + u), want);
        }
        /* rollback afterwards: nothing left to undo */
        assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_NOTHING);
        executor_free(ex);
        scratch_rm(&s);
    }
    playbook_free(pb);
}

static void test_undo_fails(void **state)
{
    struct playbook *pb = parse(five);
    struct executor *ex = fake_exec_new();
    struct journal_state js;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;
    char path[512];

    (void)state;
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "do s4", 0, 0, 1, NULL, NULL);
    fake_exec_rule(ex, NULL, "undo s2", 0, 0, 3, NULL, "stuck");
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ATTENTION);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo s1"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo s3"), 1);
    /* the journal says exactly where it stopped */
    assert_int_equal(journal_path(path, sizeof(path), s.run, "h1"), 0);
    assert_int_equal(journal_replay_file(&js, path, &e), 0);
    assert_int_equal(js.steps[0].status, JSTEP_DONE);
    assert_int_equal(js.steps[1].status, JSTEP_UNDO_FAILED);
    assert_int_equal(js.steps[3].status, JSTEP_UNDONE);
    assert_int_equal(js.steps[4].status, JSTEP_FAILED);
    assert_string_equal(js.end_state, "needs-attention");
    journal_state_release(&js);
    executor_free(ex);
    /* once the undo works again, rollback finishes the job */
    ex = fake_exec_new();
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count(ex), 2);
    assert_string_equal(fake_exec_command(ex, 0), "undo s2");
    assert_string_equal(fake_exec_command(ex, 1), "undo s1");
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static const char pivot[] =
    "{\"name\":\"pivot\",\"steps\":["
    "{\"name\":\"c1\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do c1\","
    "\"undo\":\"undo c1\"}},"
    "{\"name\":\"p\",\"kind\":\"pivot\",\"shell\":{\"run\":\"do p\"}},"
    "{\"name\":\"c2\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do c2\","
    "\"undo\":\"undo c2\"}},"
    "{\"name\":\"c3\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do c3\","
    "\"undo\":\"undo c3\"}}]}";

static void test_pivot_stops_rollback(void **state)
{
    struct playbook *pb = parse(pivot);
    struct executor *ex = fake_exec_new();
    struct scratch s;

    (void)state;
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "do c3", 1, 0, 1, NULL, NULL);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ATTENTION);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo"), 0);
    /* rollback past a pivot changes nothing: undoing c2 alone would
     * leave the host half-way; it says so, twice alike */
    fake_exec_clear_log(ex);
    {
        struct engine_host *h = hosts_new(1);
        struct engine_opts o;
        struct errbuf e = ERRBUF_INIT;
        int k;

        opts_for(&o, ex, pb, &s);
        for (k = 0; k < 2; k++) {
            assert_int_equal(engine_rollback(h, 1, &o, &e), 0);
            assert_int_equal(h[0].state, HOST_ATTENTION);
            assert_non_null(strstr(h[0].err.msg, "step 2 'p' ran and is a "
                                                 "pivot here"));
            assert_non_null(strstr(h[0].err.msg, "'resume' finishes it"));
        }
        hosts_free(h, 1);
    }
    assert_int_equal(fake_exec_count(ex), 0);
    assert_int_equal(fake_exec_connects(ex), 0);
    executor_free(ex);
    scratch_rm(&s);

    /* resume finishes forward instead (the rule fails c3 only once) */
    ex = fake_exec_new();
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "do c3", 1, 0, 1, NULL, NULL);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ATTENTION);
    fake_exec_clear_log(ex);
    assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_COMMITTED);
    assert_int_equal(fake_exec_count(ex), 1);
    assert_string_equal(fake_exec_command(ex, 0), "do c3");
    executor_free(ex);
    scratch_rm(&s);

    /* a pivot that fails did not happen: roll back what came before */
    ex = fake_exec_new();
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "do p", 0, 0, 1, NULL, NULL);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo c1"), 1);
    executor_free(ex);
    scratch_rm(&s);
    playbook_free(pb);
}

static void test_unknown_outcome_is_undone(void **state)
{
    struct playbook *pb = parse(five);
    struct executor *ex = fake_exec_new();
    struct scratch s;

    (void)state;
    scratch_make(&s);
    /* a timeout leaves s3's outcome unknown: undo it too */
    fake_exec_rule(ex, NULL, "do s3", 1, SS_ETIMEOUT, -1, NULL, NULL);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo s3"), 1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo s1"), 1);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

/* The hostile values a remote host could hand back, one per line. */
#define HOSTILE                                                                \
    "printf '%s\\\\n' alpha \\\"b'c\\\" '$(touch PWNED1)' "                    \
    "'`touch PWNED2`' \\\"a';touch PWNED3;'@x\\\" '; touch PWNED4' "           \
    "'-rf' '*'"

/* Uses the hostile values as file names, for real, under /bin/sh. */
static const char real[] =
    "{\"name\":\"real\",\"params\":{\"tag\":\"x y;touch PWNED5\"},"
    "\"steps\":["
    "{\"name\":\"list\",\"kind\":\"read-only\",\"register\":\"items\","
    "\"shell\":{\"run\":\"" HOSTILE "\"}},"
    "{\"name\":\"m1\",\"kind\":\"compensable\",\"shell\":{\"run\":\"touch "
    "m1\",\"undo\":\"rm -f m1\"}},"
    "{\"name\":\"m2\",\"kind\":\"compensable\",\"shell\":{\"run\":\"mkdir -p "
    "d && cd d && touch -- {{items}}\",\"undo\":\"rm -rf d\"}},"
    "{\"name\":\"m3\",\"kind\":\"compensable\",\"shell\":{\"run\":\"echo "
    "{{params.tag}} {{host}} > tag\",\"undo\":\"rm -f tag\"}},"
    "{\"name\":\"ls\",\"kind\":\"read-only\",\"register\":\"files\","
    "\"shell\":{\"run\":\"ls d\"}},"
    "{\"name\":\"m4\",\"kind\":\"compensable\",\"shell\":{\"run\":\"printf "
    "'%s\\\\n' {{files}} > files.txt\",\"undo\":\"rm -f "
    "files.txt\"@COMMIT@}}]}";

/* How the "real" playbook's m4 ends. */
enum real_commit {
    REAL_NO_COMMIT = 0,
    REAL_COMMIT,          /* commit, no uncommit */
    REAL_COMMIT_UNCOMMIT, /* commit and uncommit */
};

/* Builds the "real" playbook, with a commit (and uncommit) on m4 or not. */
static struct playbook *real_playbook(enum real_commit how)
{
    const char *at = strstr(real, "@COMMIT@");
    const char *extra = "";
    char text[4096];

    if (how == REAL_COMMIT)
        extra = ",\"commit\":\"touch committed\"";
    else if (how == REAL_COMMIT_UNCOMMIT)
        extra = ",\"commit\":\"touch committed\","
                "\"uncommit\":\"rm -f committed files.txt\"";
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - real), real, extra,
             at + strlen("@COMMIT@"));
    return parse(text);
}

/* Appends a listing of dir (names and contents, sorted by find) to b. */
static void snapshot(struct buf *b, const char *dir)
{
    char cmd[600], line[4096];
    FILE *p;

    buf_reset(b);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' 2>/dev/null && find . -print0 | sort -z | "
             "xargs -0 -I{} sh -c 'printf \"%%s:\" \"$1\"; "
             "test -f \"$1\" && cat -- \"$1\"; echo' _ {}",
             dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL)
        buf_adds(b, line);
    pclose(p);
    if (b->data == NULL)
        buf_adds(b, "");
}

static void test_hostile_values_stay_data(void **state)
{
    struct playbook *pb = real_playbook(REAL_COMMIT);
    struct executor *ex = fake_exec_new();
    struct buf snap = BUF_INIT;
    struct scratch s;
    char dir[400];

    (void)state;
    scratch_make(&s);
    fake_exec_shell_root(ex, s.hosts);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
    snprintf(dir, sizeof(dir), "%s/h1", s.hosts);
    snapshot(&snap, dir);
    assert_null(strstr(snap.data, "PWNED1:"));
    assert_null(strstr(snap.data, "./PWNED"));
    assert_null(strstr(snap.data, "/d/PWNED"));
    assert_non_null(strstr(snap.data, "./d/$(touch PWNED1):"));
    assert_non_null(strstr(snap.data, "./d/`touch PWNED2`:"));
    assert_non_null(strstr(snap.data, "./d/a';touch PWNED3;'@x:"));
    assert_non_null(strstr(snap.data, "./d/-rf:"));
    assert_non_null(strstr(snap.data, "./d/*:"));
    assert_non_null(strstr(snap.data, "./tag:x y;touch PWNED5 h1"));
    assert_non_null(strstr(snap.data, "./committed:"));
    buf_release(&snap);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_nul_in_output_refused(void **state)
{
    static const char text[] =
        "{\"name\":\"nul\",\"steps\":["
        "{\"name\":\"list\",\"kind\":\"read-only\",\"register\":\"items\","
        "\"shell\":{\"run\":\"printf 'a\\\\000b'\"}},"
        "{\"name\":\"m\",\"kind\":\"pivot\",\"shell\":{\"run\":\"touch "
        "{{items}}\"}}]}";
    struct playbook *pb = parse(text);
    struct executor *ex = fake_exec_new();
    struct scratch s;

    (void)state;
    scratch_make(&s);
    fake_exec_shell_root(ex, s.hosts);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count(ex), 1);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

/* Crash test hook: crash (or tear) at write number at. */
struct crash {
    size_t at;
    int how;
    size_t seen;
};

static int crash_hook(void *arg, const char *host, size_t write_no)
{
    struct crash *c = arg;

    (void)host;
    c->seen = write_no;
    return write_no == c->at ? c->how : JOURNAL_HOOK_WRITE;
}

/*
 * For every journal write of an uninterrupted run: crash there (nothing
 * written, or half a line), then rollback must give the state before the
 * run and resume the state of an uninterrupted run.  Returns the count.
 */
static size_t crash_matrix(enum real_commit how_commit)
{
    struct playbook *pb = real_playbook(how_commit);
    bool with_commit = how_commit == REAL_COMMIT;
    struct buf before = BUF_INIT, after = BUF_INIT, snap = BUF_INIT;
    struct engine_opts o;
    struct crash c;
    size_t writes, k, tested = 0;
    int how, mode;
    char dir[400];

    /* the uninterrupted run, counting its writes */
    {
        struct executor *ex = fake_exec_new();
        struct scratch s;

        scratch_make(&s);
        fake_exec_shell_root(ex, s.hosts);
        snprintf(dir, sizeof(dir), "%s/h1", s.hosts);
        mkdir(dir, 0700);
        snapshot(&before, dir);
        memset(&c, 0, sizeof(c));
        opts_for(&o, ex, pb, &s);
        o.journal_hook = crash_hook;
        o.journal_hook_arg = &c;
        assert_int_equal(run1(0, ex, pb, &s, &o), HOST_COMMITTED);
        writes = c.seen;
        snapshot(&after, dir);
        executor_free(ex);
        scratch_rm(&s);
    }
    assert_true(writes >= 10);
    for (k = 1; k <= writes; k++) {
        for (how = JOURNAL_HOOK_CRASH; how <= JOURNAL_HOOK_TEAR; how++) {
            for (mode = 1; mode <= 2; mode++) {
                struct executor *ex = fake_exec_new();
                struct scratch s;
                enum host_state st;
                bool commit_started;

                scratch_make(&s);
                fake_exec_shell_root(ex, s.hosts);
                snprintf(dir, sizeof(dir), "%s/h1", s.hosts);
                mkdir(dir, 0700);
                c.at = k;
                c.how = how;
                opts_for(&o, ex, pb, &s);
                o.journal_hook = crash_hook;
                o.journal_hook_arg = &c;
                assert_int_equal(run1(0, ex, pb, &s, &o), HOST_ATTENTION);
                /* after the crash, nothing more was sent */
                st = run1(mode, ex, pb, &s, NULL);
                snapshot(&snap, dir);
                /* with a commit step, the crash may have come after the
                 * commit phase began: then rollback must refuse */
                commit_started = with_commit && k >= writes - 1;
                if (mode == 2) {
                    if (strcmp(snap.data, after.data) != 0)
                        fail_msg("resume after crash at write %zu (%d): "
                                 "state differs:\n%s\nwant\n%s",
                                 k, how, snap.data, after.data);
                    assert_true(st == HOST_COMMITTED || st == HOST_NOTHING);
                } else if (!commit_started) {
                    if (strcmp(snap.data, before.data) != 0)
                        fail_msg("rollback after crash at write %zu (%d): "
                                 "state differs:\n%s\nwant\n%s",
                                 k, how, snap.data, before.data);
                    assert_true(st == HOST_ROLLED_BACK || st == HOST_NOTHING);
                } else {
                    assert_int_equal(st, HOST_ATTENTION);
                }
                /* doing it again changes nothing */
                st = run1(mode, ex, pb, &s, NULL);
                if (mode == 2 || !commit_started)
                    assert_int_equal(st, HOST_NOTHING);
                executor_free(ex);
                scratch_rm(&s);
                tested++;
            }
        }
    }
    buf_release(&before);
    buf_release(&after);
    buf_release(&snap);
    playbook_free(pb);
    print_message("crash matrix (%s): %zu writes, %zu crash runs\n",
                  how_commit == REAL_NO_COMMIT ? "without commit"
                  : with_commit                ? "with commit"
                                               : "with commit and uncommit",
                  writes, tested);
    return tested;
}

static void test_crash_every_write(void **state)
{
    (void)state;
    assert_true(crash_matrix(REAL_NO_COMMIT) > 0);
}

static void test_crash_every_write_commit(void **state)
{
    (void)state;
    assert_true(crash_matrix(REAL_COMMIT) > 0);
}

/* With an uncommit, rollback restores the host after a crash anywhere. */
static void test_crash_every_write_uncommit(void **state)
{
    (void)state;
    assert_true(crash_matrix(REAL_COMMIT_UNCOMMIT) > 0);
}

/* A crash in the middle of a rollback; the next rollback finishes it. */
static void test_crash_during_rollback(void **state)
{
    struct playbook *pb = real_playbook(REAL_NO_COMMIT);
    struct buf before = BUF_INIT, snap = BUF_INIT;
    struct engine_opts o;
    struct crash c;
    size_t k;
    char dir[400];

    (void)state;
    for (k = 1; k <= 12; k++) {
        struct executor *ex = fake_exec_new();
        struct scratch s;

        scratch_make(&s);
        fake_exec_shell_root(ex, s.hosts);
        snprintf(dir, sizeof(dir), "%s/h1", s.hosts);
        mkdir(dir, 0700);
        snapshot(&before, dir);
        assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
        memset(&c, 0, sizeof(c));
        c.at = k;
        c.how = JOURNAL_HOOK_TEAR;
        opts_for(&o, ex, pb, &s);
        o.journal_hook = crash_hook;
        o.journal_hook_arg = &c;
        run1(1, ex, pb, &s, &o);
        run1(1, ex, pb, &s, NULL);
        snapshot(&snap, dir);
        assert_string_equal(snap.data, before.data);
        executor_free(ex);
        scratch_rm(&s);
    }
    buf_release(&before);
    buf_release(&snap);
    playbook_free(pb);
}

/* Steps with commits: b and c can be uncommitted, x cannot. */
static const char committing[] =
    "{\"name\":\"committing\",\"steps\":["
    "{\"name\":\"a\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do a\","
    "\"undo\":\"undo a\"}},"
    "{\"name\":\"b\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do b\","
    "\"undo\":\"undo b\",\"commit\":\"commit b\",\"uncommit\":\"uncommit "
    "b\"}},"
    "{\"name\":\"r\",\"kind\":\"read-only\",\"shell\":{\"run\":\"look\"}},"
    "@X@"
    "{\"name\":\"c\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do c\","
    "\"undo\":\"undo c\",\"commit\":\"commit c\",\"uncommit\":\"uncommit "
    "c\"}},"
    "{\"name\":\"d\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do d\","
    "\"undo\":\"undo d\"}}]}";

/* The committing playbook, with step x (commit, no uncommit) or not. */
static struct playbook *committing_playbook(bool with_x)
{
    const char *at = strstr(committing, "@X@");
    char text[4096];

    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - committing), committing,
             with_x ? "{\"name\":\"x\",\"kind\":\"compensable\",\"shell\":{"
                      "\"run\":\"do x\",\"undo\":\"undo x\",\"commit\":"
                      "\"commit x\"}},"
                    : "",
             at + 3);
    return parse(text);
}

/* Asserts that the fake's log is exactly the NULL-terminated list want. */
static void assert_log(struct executor *ex, const char *const *want)
{
    size_t i;

    for (i = 0; want[i] != NULL; i++) {
        if (fake_exec_command(ex, i) == NULL)
            fail_msg("command %zu: none, want '%s'", i, want[i]);
        assert_string_equal(fake_exec_command(ex, i), want[i]);
    }
    assert_int_equal(fake_exec_count(ex), i);
}

static void test_rollback_after_commit(void **state)
{
    static const char *const forward[] = {
        "do a", "do b", "look", "do c", "do d", "commit b", "commit c", NULL};
    static const char *const back[] = {"undo d", "uncommit c", "uncommit b",
                                       "undo a", NULL};
    struct playbook *pb = committing_playbook(false);
    struct executor *ex = fake_exec_new();
    struct journal_state js;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;
    char path[512];

    (void)state;
    scratch_make(&s);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
    assert_log(ex, forward);
    /* rollback: uncommit instead of undo where the commit ran, every
     * other mutating step undone, newest first */
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_log(ex, back);
    assert_int_equal(journal_path(path, sizeof(path), s.run, "h1"), 0);
    assert_int_equal(journal_replay_file(&js, path, &e), 0);
    assert_int_equal(js.steps[1].status, JSTEP_UNDONE);
    assert_int_equal(js.steps[1].commit_status, JCOMMIT_UNCOMMITTED);
    assert_int_equal(js.steps[3].commit_status, JCOMMIT_UNCOMMITTED);
    assert_int_equal(js.steps[0].status, JSTEP_UNDONE);
    assert_string_equal(js.end_state, "rolled-back");
    journal_state_release(&js);
    /* again, and resume: nothing to do, nothing connected */
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_NOTHING);
    assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_NOTHING);
    assert_int_equal(fake_exec_connects(ex), 0);
    executor_free(ex);
    scratch_rm(&s);

    /* a commit that failed may have done part of its work: uncommit it */
    ex = fake_exec_new();
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "commit c", 1, 0, 1, NULL, "half");
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_ATTENTION);
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_log(ex, back);
    executor_free(ex);
    scratch_rm(&s);
    playbook_free(pb);
}

static void test_rollback_committed_without_uncommit(void **state)
{
    struct playbook *pb = committing_playbook(true);
    struct executor *ex = fake_exec_new();
    struct engine_host *h = hosts_new(1);
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;

    (void)state;
    scratch_make(&s);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
    fake_exec_clear_log(ex);
    opts_for(&o, ex, pb, &s);
    assert_int_equal(engine_rollback(h, 1, &o, &e), 0);
    assert_int_equal(h[0].state, HOST_ATTENTION);
    assert_non_null(strstr(h[0].err.msg, "step 4 'x'"));
    assert_non_null(strstr(h[0].err.msg, "no uncommit"));
    {
        static const char *const want[] = {"undo d", "uncommit c", NULL};
        assert_log(ex, want);
    }
    /* b and a stay as they are: x is in the way; a second rollback stops
     * at the same place without touching anything else */
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ATTENTION);
    assert_int_equal(fake_exec_count(ex), 0);
    hosts_free(h, 1);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_uncommit_fails_then_retried(void **state)
{
    static const char *const retry[] = {"uncommit b", "undo a", NULL};
    struct playbook *pb = committing_playbook(false);
    struct executor *ex = fake_exec_new();
    struct scratch s;

    (void)state;
    scratch_make(&s);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
    fake_exec_rule(ex, NULL, "uncommit b", 1, 0, 2, NULL, "busy");
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ATTENTION);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo a"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "undo b"), 0);
    fake_exec_clear_log(ex);
    assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_ROLLED_BACK);
    assert_log(ex, retry);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * A committed run with an uncommit: crash (nothing written or half a line)
 * at every journal write of its rollback, then rollback or resume again:
 * the host must be as before the run, and a third time changes nothing.
 */
static void test_crash_during_uncommit_rollback(void **state)
{
    struct playbook *pb = real_playbook(REAL_COMMIT_UNCOMMIT);
    struct buf before = BUF_INIT, committed = BUF_INIT, snap = BUF_INIT;
    struct engine_opts o;
    struct crash c;
    size_t k, writes = 0, tested = 0;
    int how, mode;
    char dir[400];

    (void)state;
    for (k = 0; k == 0 || k <= writes; k++) {
        for (how = JOURNAL_HOOK_CRASH; how <= JOURNAL_HOOK_TEAR; how++) {
            for (mode = 1; mode <= 2; mode++) {
                struct executor *ex = fake_exec_new();
                struct scratch s;
                enum host_state st;

                scratch_make(&s);
                fake_exec_shell_root(ex, s.hosts);
                snprintf(dir, sizeof(dir), "%s/h1", s.hosts);
                mkdir(dir, 0700);
                snapshot(&before, dir);
                assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
                snapshot(&committed, dir);
                assert_non_null(strstr(committed.data, "./committed:"));
                memset(&c, 0, sizeof(c));
                c.at = k; /* 0: no crash, counts the rollback's writes */
                c.how = how;
                opts_for(&o, ex, pb, &s);
                o.journal_hook = crash_hook;
                o.journal_hook_arg = &c;
                st = run1(1, ex, pb, &s, &o);
                if (k == 0) {
                    assert_int_equal(st, HOST_ROLLED_BACK);
                    writes = c.seen;
                } else {
                    assert_int_equal(st, HOST_ATTENTION);
                    st = run1(mode, ex, pb, &s, NULL);
                    tested++;
                }
                if (mode == 2 && k >= 1 && k <= 2) {
                    /* the crash came before the "rollback" record: as far
                     * as the journal knows, the run is committed, and
                     * resume leaves it so (or finds the commits done) */
                    assert_true(st == HOST_NOTHING || st == HOST_COMMITTED);
                    snapshot(&snap, dir);
                    assert_string_equal(snap.data, committed.data);
                    st = run1(1, ex, pb, &s, NULL);
                }
                assert_true(st == HOST_ROLLED_BACK || st == HOST_NOTHING);
                snapshot(&snap, dir);
                if (strcmp(snap.data, before.data) != 0)
                    fail_msg("%s after a crash at rollback write %zu (%d): "
                             "state differs:\n%s\nwant\n%s",
                             mode == 1 ? "rollback" : "resume", k, how,
                             snap.data, before.data);
                assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_NOTHING);
                assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_NOTHING);
                executor_free(ex);
                scratch_rm(&s);
                if (k == 0)
                    break;
            }
            if (k == 0)
                break;
        }
    }
    assert_true(writes >= 8);
    print_message("crash during the rollback of a committed run: %zu "
                  "writes, %zu crash runs\n",
                  writes, tested);
    buf_release(&before);
    buf_release(&committed);
    buf_release(&snap);
    playbook_free(pb);
}

static void test_dry_run_skips_like_the_real_run(void **state)
{
    /* survey finds nothing, so ident does not run and "act" has no input:
     * the plan must skip it as the real run does, in one line each */
    static const char text[] =
        "{\"name\":\"skip\",\"steps\":["
        "{\"name\":\"survey\",\"kind\":\"read-only\",\"register\":"
        "\"seen\",\"shell\":{\"run\":\"READ survey\"}},"
        "{\"name\":\"ident\",\"kind\":\"read-only\",\"register\":"
        "\"suspects\",\"when\":\"seen\",\"shell\":{\"run\":\"READ "
        "ident\"}},"
        "{\"name\":\"act\",\"kind\":\"compensable\",\"when\":"
        "\"suspects\",\"shell\":{\"run\":\"MUTATE act {{suspects}}\","
        "\"undo\":\"MUTATE unact\"}},"
        "{\"name\":\"hold\",\"kind\":\"compensable\",\"register\":"
        "\"held\",\"shell\":{\"run\":\"MUTATE hold\",\"undo\":"
        "\"MUTATE release\"}},"
        "{\"name\":\"drop\",\"kind\":\"compensable\",\"when\":\"held\","
        "\"shell\":{\"run\":\"MUTATE drop {{held}}\",\"undo\":"
        "\"MUTATE undrop\"}}]}";
    struct playbook *pb = parse(text);
    struct executor *ex = fake_exec_new();
    struct engine_host *h = hosts_new(1);
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;

    (void)state;
    scratch_make(&s);
    opts_for(&o, ex, pb, &s);
    o.dry_run = true;
    assert_int_equal(engine_respond(h, 1, &o, &e), 0);
    assert_int_equal(h[0].state, HOST_DRY_RUN);
    assert_int_equal(h[0].nsteps, 5);
    assert_int_equal(h[0].steps[1].status, ENGINE_STEP_SKIPPED);
    assert_string_equal(h[0].steps[1].why, "result 'seen' is empty here");
    assert_int_equal(h[0].steps[2].status, ENGINE_STEP_SKIPPED);
    assert_string_equal(h[0].steps[2].why,
                        "result 'suspects' was not produced here (step 2 "
                        "'ident' did not run)");
    assert_null(note_text(&h[0], 2, "command"));
    /* a result only a real run makes is still shown, with a placeholder */
    assert_int_equal(h[0].steps[4].status, ENGINE_STEP_PLANNED);
    assert_string_equal(note_text(&h[0], 4, "command"), "MUTATE drop <held>");
    assert_int_equal(fake_exec_count_matching(ex, NULL, "READ ident"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "MUTATE"), 0);
    /* the real run skips the same steps */
    o.dry_run = false;
    assert_int_equal(engine_respond(h, 1, &o, &e), 0);
    assert_int_equal(h[0].state, HOST_COMMITTED);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "READ ident"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "MUTATE act"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "MUTATE hold"), 1);
    hosts_free(h, 1);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_dry_run_sends_no_change(void **state)
{
    static const char text[] =
        "{\"name\":\"dry\",\"steps\":["
        "{\"name\":\"find\",\"kind\":\"read-only\",\"register\":\"ids\","
        "\"shell\":{\"run\":\"READ find\"}},"
        "{\"name\":\"hold\",\"kind\":\"compensable\",\"register\":\"held\","
        "\"shell\":{\"run\":\"MUTATE hold {{ids}}\",\"undo\":\"MUTATE "
        "release {{ids}}\",\"probe\":\"READ probe {{ids}}\"}},"
        "{\"name\":\"after\",\"kind\":\"read-only\",\"shell\":{\"run\":"
        "\"READ after {{held}}\"}},"
        "{\"name\":\"drop\",\"kind\":\"pivot\",\"shell\":{\"run\":"
        "\"MUTATE drop {{held}}\"}}]}";
    struct playbook *pb = parse(text);
    struct executor *ex = fake_exec_new();
    struct engine_host *h = hosts_new(2);
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;
    size_t i;

    (void)state;
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "READ find", 0, 0, 0, "Q1\nQ'2\n", NULL);
    fake_exec_rule(ex, NULL, "READ probe", 0, 0, 0, "Q1\n", NULL);
    opts_for(&o, ex, pb, &s);
    o.dry_run = true;
    assert_int_equal(engine_respond(h, 2, &o, &e), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(h[i].state, HOST_DRY_RUN);
        assert_string_equal(note_text(&h[i], 1, "command"),
                            "MUTATE hold 'Q1' 'Q'\\''2'");
        assert_int_equal(h[i].steps[1].status, ENGINE_STEP_PLANNED);
        assert_int_equal(h[i].steps[3].status, ENGINE_STEP_PLANNED);
    }
    assert_int_equal(fake_exec_count_matching(ex, NULL, "MUTATE"), 0);
    assert_int_equal(fake_exec_count(ex),
                     fake_exec_count_matching(ex, NULL, "READ"));
    /* the probe stood in for hold's result, so "after" ran on it */
    assert_int_equal(fake_exec_count_matching(ex, NULL, "READ after 'Q1'"), 2);
    /* no journal in a dry run */
    assert_int_equal(access("/nonexistent", F_OK), -1);
    hosts_free(h, 2);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_parallel_hosts(void **state)
{
    struct playbook *pb = parse(five);
    struct executor *ex = fake_exec_new();
    struct engine_host *h = hosts_new(6);
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;
    size_t i;

    (void)state;
    scratch_make(&s);
    fake_exec_delay(ex, 20);
    fake_exec_rule(ex, "h4", "do s3", 0, 0, 1, NULL, NULL);
    opts_for(&o, ex, pb, &s);
    o.forks = 3;
    assert_int_equal(engine_respond(h, 6, &o, &e), 0);
    for (i = 0; i < 6; i++)
        assert_int_equal(h[i].state,
                         i == 3 ? HOST_ROLLED_BACK : HOST_COMMITTED);
    assert_true(fake_exec_max_parallel(ex) <= 3);
    assert_true(fake_exec_max_parallel(ex) >= 2);
    assert_int_equal(fake_exec_count_matching(ex, "h4", "undo"), 2);
    hosts_free(h, 6);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_max_fail(void **state)
{
    struct playbook *pb = parse(five);
    struct errbuf e = ERRBUF_INIT;
    struct engine_opts o;
    struct scratch s;
    size_t i;
    int pct;

    (void)state;
    for (pct = 0; pct <= 1; pct++) {
        struct executor *ex = fake_exec_new();
        struct engine_host *h = hosts_new(5);

        scratch_make(&s);
        fake_exec_host(ex, "h1", SS_ECONNECT, NULL);
        fake_exec_host(ex, "h2", SS_EHOSTKEY, NULL);
        opts_for(&o, ex, pb, &s);
        o.forks = 1;
        o.max_fail = pct ? 20 : 1; /* 20% of 5 hosts = 1 */
        o.max_fail_percent = pct;
        assert_int_equal(engine_respond(h, 5, &o, &e), 0);
        assert_int_equal(h[0].state, HOST_UNREACHABLE);
        assert_int_equal(h[1].state, HOST_REFUSED);
        for (i = 2; i < 5; i++)
            assert_int_equal(h[i].state, HOST_SKIPPED);
        assert_int_equal(fake_exec_count(ex), 0);
        hosts_free(h, 5);
        executor_free(ex);
        scratch_rm(&s);
    }
    playbook_free(pb);
}

static void test_lock_refuses(void **state)
{
    struct playbook *pb = parse(five);
    struct executor *ex = fake_exec_new();
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;
    char path[400];
    int fd;

    (void)state;
    scratch_make(&s);
    assert_int_equal(fsio_mkdirs(s.locks, 0700, &e), 0);
    snprintf(path, sizeof(path), "%s/h1.lock", s.locks);
    fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_REFUSED);
    assert_int_equal(fake_exec_count(ex), 0);
    assert_int_equal(fake_exec_connects(ex), 0);
    close(fd);
    assert_int_equal(run1(0, ex, pb, &s, NULL), HOST_COMMITTED);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_stop_flag_rolls_back(void **state)
{
    struct playbook *pb = parse(five);
    struct executor *ex = fake_exec_new();
    struct engine_host *h = hosts_new(3);
    volatile sig_atomic_t stop = 0;
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;

    (void)state;
    scratch_make(&s);
    opts_for(&o, ex, pb, &s);
    o.stop = &stop;
    stop = 1;
    assert_int_equal(engine_respond(h, 3, &o, &e), 0);
    assert_int_equal(h[0].state, HOST_SKIPPED);
    assert_int_equal(fake_exec_count(ex), 0);
    hosts_free(h, 3);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

/* five with s2 and s3 containment: kept when the host fails. */
static const char kept[] =
    "{\"name\":\"kept\",\"steps\":["
    "{\"name\":\"s1\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s1\","
    "\"undo\":\"undo s1\"}},"
    "{\"name\":\"s2\",\"kind\":\"compensable\",\"on_failure\":\"keep\","
    "\"shell\":{\"run\":\"do s2\",\"undo\":\"undo s2\"}},"
    "{\"name\":\"r\",\"kind\":\"read-only\",\"shell\":{\"run\":\"look\"}},"
    "{\"name\":\"s3\",\"kind\":\"compensable\",\"on_failure\":\"keep\","
    "\"shell\":{\"run\":\"do s3\",\"undo\":\"undo s3\"}},"
    "{\"name\":\"s4\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s4\","
    "\"undo\":\"undo s4\"}},"
    "{\"name\":\"s5\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s5\","
    "\"undo\":\"undo s5\"}}]}";

/* The commands logged after index from, joined with ",". */
static void joined_after(char *out, size_t size, struct executor *ex,
                         size_t from)
{
    size_t j, n = fake_exec_count(ex), len = 0;

    out[0] = '\0';
    for (j = from; j < n && len < size; j++)
        len += (size_t)snprintf(out + len, size - len, "%s%s",
                                j > from ? "," : "", fake_exec_command(ex, j));
}

/*
 * A failure at every position: before the first kept step the host rolls
 * back; from there on kept steps stay and only the others are undone, the
 * host ends contained, and resume finishes it without running a kept step
 * that was done again.
 */
static void test_keep_every_position(void **state)
{
    static const char *const mutating[] = {"s1", "s2", "s3", "s4", "s5"};
    static const char *const undos[] = {"", "undo s1", "undo s1", "undo s1",
                                        "undo s4,undo s1"};
    struct playbook *pb = parse(kept);
    char failing[32], got[256];
    size_t k, j;

    (void)state;
    for (k = 0; k < 5; k++) {
        struct executor *ex = fake_exec_new();
        struct scratch s;

        scratch_make(&s);
        snprintf(failing, sizeof(failing), "do %s", mutating[k]);
        fake_exec_rule(ex, NULL, failing, 1, 0, 1, NULL, "no");
        assert_int_equal(run1(0, ex, pb, &s, NULL),
                         k == 0 ? HOST_ROLLED_BACK : HOST_CONTAINED);
        for (j = 0; j < fake_exec_count(ex); j++)
            if (strcmp(fake_exec_command(ex, j), failing) == 0)
                break;
        joined_after(got, sizeof(got), ex, j + 1);
        assert_string_equal(got, undos[k]);
        if (k == 0) {
            assert_int_equal(run1(1, ex, pb, &s, NULL), HOST_NOTHING);
        } else {
            fake_exec_clear_log(ex);
            assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_COMMITTED);
            assert_int_equal(fake_exec_count_matching(ex, NULL, "undo"), 0);
            assert_int_equal(fake_exec_count_matching(ex, NULL, "do s2"),
                             k <= 1);
            assert_int_equal(fake_exec_count_matching(ex, NULL, "do s3"),
                             k <= 2);
            /* Postfix-like disruption before them is redone only while a
             * kept step is left */
            assert_int_equal(fake_exec_count_matching(ex, NULL, "do s1"),
                             k <= 2);
            assert_int_equal(fake_exec_count_matching(ex, NULL, "do s5"), 1);
            assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_NOTHING);
        }
        executor_free(ex);
        scratch_rm(&s);
    }
    playbook_free(pb);
}

/* Sets the stop flag before journal write stop_at (Ctrl-C mid-run). */
struct stop_at {
    volatile sig_atomic_t *flag;
    size_t at;
};

static int stop_hook(void *arg, const char *host, size_t write_no)
{
    struct stop_at *sa = arg;

    (void)host;
    if (write_no == sa->at)
        *sa->flag = 1;
    return JOURNAL_HOOK_WRITE;
}

/*
 * SIGINT after the first kept step: no new step starts, s1 is undone, s2
 * stays; resume runs s1 again (the kept step left needs it) and finishes.
 */
static void test_interrupt_keeps_containment(void **state)
{
    struct playbook *pb = parse(kept);
    struct executor *ex = fake_exec_new();
    volatile sig_atomic_t stop = 0;
    struct stop_at sa = {&stop, 5}; /* begin, s1 intent+done, s2 intent+done */
    struct engine_host *h = hosts_new(1);
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    struct scratch s;
    char got[256];

    (void)state;
    scratch_make(&s);
    opts_for(&o, ex, pb, &s);
    o.stop = &stop;
    o.journal_hook = stop_hook;
    o.journal_hook_arg = &sa;
    assert_int_equal(engine_respond(h, 1, &o, &e), 0);
    assert_int_equal(h[0].state, HOST_CONTAINED);
    assert_true(h[0].interrupted);
    assert_non_null(strstr(h[0].err.msg, "kept: s2; left: s1, r, s3, s4, s5"));
    joined_after(got, sizeof(got), ex, 0);
    assert_string_equal(got, "do s1,do s2,undo s1");
    hosts_free(h, 1);
    fake_exec_clear_log(ex);
    assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_COMMITTED);
    joined_after(got, sizeof(got), ex, 0);
    assert_string_equal(got, "do s1,look,do s3,do s4,do s5");
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * A controller that dies in the middle of a containment (s5 failed, s4
 * undone, the undo of s1 not journaled yet): one resume finishes the
 * containment and goes on forward to the commit, not a second resume.
 */
static void test_resume_after_cut_containment(void **state)
{
    struct playbook *pb = parse(kept);
    struct executor *ex = fake_exec_new();
    struct crash c = {0, JOURNAL_HOOK_CRASH, 0};
    struct engine_opts o;
    struct scratch s;
    char got[256];

    (void)state;
    scratch_make(&s);
    fake_exec_rule(ex, NULL, "do s5", 1, 0, 1, NULL, "no");
    /* begin, 2 x s1, 2 x s2, read r, 2 x s3, 2 x s4, s5 intent+failed,
     * contain, undo-intent and undone of s4 (15): the crash comes at
     * write 16, the undo-intent of s1 */
    c.at = 16;
    opts_for(&o, ex, pb, &s);
    o.journal_hook = crash_hook;
    o.journal_hook_arg = &c;
    assert_int_equal(run1(0, ex, pb, &s, &o), HOST_ATTENTION);
    fake_exec_clear_log(ex);
    assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_COMMITTED);
    joined_after(got, sizeof(got), ex, 0);
    /* the containment's last undo, the kept steps left alone; then
     * forward: only what is left after the kept steps (s4, s5) */
    assert_string_equal(got, "undo s1,do s4,do s5");
    assert_int_equal(run1(2, ex, pb, &s, NULL), HOST_NOTHING);
    executor_free(ex);
    playbook_free(pb);
    scratch_rm(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_succeed),
        cmocka_unit_test(test_fail_every_position),
        cmocka_unit_test(test_undo_fails),
        cmocka_unit_test(test_pivot_stops_rollback),
        cmocka_unit_test(test_dry_run_skips_like_the_real_run),
        cmocka_unit_test(test_unknown_outcome_is_undone),
        cmocka_unit_test(test_hostile_values_stay_data),
        cmocka_unit_test(test_nul_in_output_refused),
        cmocka_unit_test(test_crash_every_write),
        cmocka_unit_test(test_crash_every_write_commit),
        cmocka_unit_test(test_crash_every_write_uncommit),
        cmocka_unit_test(test_crash_during_rollback),
        cmocka_unit_test(test_rollback_after_commit),
        cmocka_unit_test(test_rollback_committed_without_uncommit),
        cmocka_unit_test(test_uncommit_fails_then_retried),
        cmocka_unit_test(test_crash_during_uncommit_rollback),
        cmocka_unit_test(test_dry_run_sends_no_change),
        cmocka_unit_test(test_parallel_hosts),
        cmocka_unit_test(test_max_fail),
        cmocka_unit_test(test_lock_refuses),
        cmocka_unit_test(test_stop_flag_rolls_back),
        cmocka_unit_test(test_keep_every_position),
        cmocka_unit_test(test_interrupt_keeps_containment),
        cmocka_unit_test(test_resume_after_cut_containment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
