/* The host lock: its command, its script run locally, and its answers. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/hostlock.h"
#include "fake_exec.h"
#include "spamstop/engine.h"
#include "spamstop/fsio.h"

#define RUN_A "20261205-041502-ab12"
#define RUN_B "20261205-050000-cd34"
/* 2026-12-05 04:15:02 UTC */
#define SINCE_A "1796444102"

/* ---- answers ---------------------------------------------------------- */

/* An exec_result with exit status st, stdout out and stderr err. */
static void result_set(struct exec_result *res, int st, const char *out,
                       size_t out_len, const char *err)
{
    exec_result_init(res);
    res->exit_status = st;
    if (out_len > 0)
        assert_int_equal(buf_add(&res->out, out, out_len), 0);
    if (err != NULL)
        assert_int_equal(buf_adds(&res->err, err), 0);
}

/* hostlock_answer of a take that exited st with stdout out. */
static int answer(struct errbuf *e, int st, const char *out, const char *err)
{
    struct exec_result res;
    int r;

    result_set(&res, st, out, out != NULL ? strlen(out) : 0, err);
    errbuf_clear(e);
    r = hostlock_answer(HOSTLOCK_TAKE, 0, &res, NULL, e);
    exec_result_release(&res);
    return r;
}

static void test_answer_taken_and_released(void **state)
{
    struct exec_result res;
    struct errbuf e = ERRBUF_INIT, run_err = ERRBUF_INIT;

    (void)state;
    assert_int_equal(answer(&e, 0, "taken\n", NULL), 0);
    result_set(&res, 0, "released\n", 9, NULL);
    assert_int_equal(hostlock_answer(HOSTLOCK_RELEASE, 0, &res, NULL, &e), 0);
    exec_result_release(&res);
    result_set(&res, 0, "not-held\n", 9, NULL);
    assert_int_equal(hostlock_answer(HOSTLOCK_RELEASE, 0, &res, NULL, &e), 0);
    exec_result_release(&res);
    /* a take's answer is not a release's, nor the other way round */
    result_set(&res, 0, "taken\n", 6, NULL);
    assert_int_equal(hostlock_answer(HOSTLOCK_RELEASE, 0, &res, NULL, &e),
                     SS_EREMOTE);
    exec_result_release(&res);
    assert_int_equal(answer(&e, 0, "released\n", NULL), SS_EREMOTE);
    /* a command that did not run to its end passes its code on */
    result_set(&res, -1, NULL, 0, NULL);
    errbuf_set(&run_err, SS_ETIMEOUT, "deadline passed");
    assert_int_equal(
        hostlock_answer(HOSTLOCK_TAKE, SS_ETIMEOUT, &res, &run_err, &e),
        SS_ETIMEOUT);
    assert_string_equal(e.msg, "cannot take the host lock: deadline passed");
    exec_result_release(&res);
}

static void test_answer_held_names_holder(void **state)
{
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(
        answer(&e, 3, "held " RUN_A " root@ctl1 " SINCE_A "\n", NULL),
        SS_ELOCKED);
    assert_string_equal(e.msg, "host locked by run " RUN_A
                               " of root@ctl1 since 2026-12-05 04:15:02 UTC");
}

static void test_answer_hostile(void **state)
{
    static const char *const held[] = {
        "held " RUN_A " root@ctl1 " SINCE_A,            /* no newline */
        "held " RUN_A " root@ctl1 " SINCE_A "\n\n",     /* two lines */
        "held " RUN_A " root@ctl1 " SINCE_A " x\n",     /* extra field */
        "held " RUN_A " root@ctl1\n",                   /* missing field */
        "held " RUN_A "  root@ctl1 " SINCE_A "\n",      /* empty field */
        "held \x1b[2J root@ctl1 " SINCE_A "\n",         /* escape in id */
        "held " RUN_A " r\x1b]0;x\x07@c " SINCE_A "\n", /* escape in op */
        "held " RUN_A " root@ctl1 12a4\n",              /* since not digits */
        "held " RUN_A " root@ctl1 1234567890123\n",     /* since too long */
        "held ../../etc root@ctl1 " SINCE_A "\n",       /* not a run id */
        "held " RUN_A " root;rm@ctl1 " SINCE_A "\n",    /* op charset */
        "gone " RUN_A " root@ctl1 " SINCE_A "\n",       /* not "held" */
        "",
    };
    static const char nul[] = "held " RUN_A "\0 root@ctl1 " SINCE_A "\n";
    struct exec_result res;
    struct errbuf e = ERRBUF_INIT;
    char big[HOSTLOCK_OUT_CAP + 64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        assert_int_equal(answer(&e, 3, held[i], NULL), SS_ELOCKED);
        assert_string_equal(e.msg, "host locked by another run (its holder "
                                   "record is unreadable)");
    }
    /* a NUL inside */
    result_set(&res, 3, nul, sizeof(nul) - 1, NULL);
    assert_int_equal(hostlock_answer(HOSTLOCK_TAKE, 0, &res, NULL, &e),
                     SS_ELOCKED);
    assert_null(strstr(e.msg, RUN_A));
    exec_result_release(&res);
    /* a line longer than any answer */
    memset(big, 'a', sizeof(big));
    memcpy(big, "held ", 5);
    big[sizeof(big) - 1] = '\n';
    result_set(&res, 3, big, sizeof(big), NULL);
    assert_int_equal(hostlock_answer(HOSTLOCK_TAKE, 0, &res, NULL, &e),
                     SS_ELOCKED);
    exec_result_release(&res);
    /* exit 0 but not exactly "taken" */
    assert_int_equal(answer(&e, 0, "taken\nrm -rf /\n", NULL), SS_EREMOTE);
    assert_null(strstr(e.msg, "rm"));
    assert_int_equal(answer(&e, 0, "taken", NULL), SS_EREMOTE);
    result_set(&res, 0, "taken\n\0", 7, NULL);
    assert_int_equal(hostlock_answer(HOSTLOCK_TAKE, 0, &res, NULL, &e),
                     SS_EREMOTE);
    exec_result_release(&res);
    /* a failure's stderr reaches the message as printable ASCII only */
    assert_int_equal(
        answer(&e, 4, NULL, "cannot lock \x1b[31m'x'\nsecond line\n"),
        SS_EREMOTE);
    assert_string_equal(e.msg, "cannot take the host lock: exit 4: cannot lock "
                               "?[31m'x'");
}

/* ---- the command ------------------------------------------------------ */

static void test_command_quotes_and_checks(void **state)
{
    struct buf b = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(hostlock_command(&b, HOSTLOCK_TAKE, "/run/it's", RUN_A,
                                      "root@ctl1", &e),
                     0);
    assert_non_null(strstr(b.data, "lk_dir='/run/it'\\''s'\n"));
    assert_non_null(strstr(b.data, "lk_act=take\n"));
    assert_non_null(strstr(b.data, "lk_id='" RUN_A "'\n"));
    assert_non_null(strstr(b.data, "lk_op='root@ctl1'\n"));
    assert_int_equal(
        hostlock_command(&b, HOSTLOCK_RELEASE, HOSTLOCK_DIR, RUN_A, NULL, &e),
        0);
    assert_non_null(strstr(b.data, "lk_act=release\n"));
    assert_non_null(strstr(b.data, "lk_op=''\n"));
    /* values that could break the record or the command are refused */
    assert_int_equal(hostlock_command(&b, HOSTLOCK_TAKE, HOSTLOCK_DIR,
                                      "x'; rm -rf /", "root@ctl1", &e),
                     SS_EINVAL);
    assert_int_equal(hostlock_command(&b, HOSTLOCK_TAKE, HOSTLOCK_DIR, RUN_A,
                                      "root @ctl1", &e),
                     SS_EINVAL);
    assert_int_equal(
        hostlock_command(&b, HOSTLOCK_TAKE, HOSTLOCK_DIR, RUN_A, "a\nb", &e),
        SS_EINVAL);
    assert_int_equal(
        hostlock_command(&b, HOSTLOCK_TAKE, HOSTLOCK_DIR, RUN_A, "", &e),
        SS_EINVAL);
    assert_int_equal(
        hostlock_command(&b, HOSTLOCK_TAKE, "relative", RUN_A, "root@ctl1", &e),
        SS_EINVAL);
    buf_release(&b);
}

static void test_operator(void **state)
{
    char op[HOSTLOCK_OPERATOR_MAX + 1], small[4];
    size_t n;

    (void)state;
    hostlock_operator(op, sizeof(op));
    n = strlen(op);
    assert_true(n >= 3);
    assert_non_null(strchr(op, '@'));
    assert_int_equal(strspn(op, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-"),
                     n);
    hostlock_operator(small, sizeof(small));
    assert_int_equal(strlen(small), 3);
}

/* The script passes shellcheck, as sh, when shellcheck is there. */
static void test_script_shellcheck(void **state)
{
    struct buf b = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;
    char path[] = "/tmp/ss-hostlock-sc-XXXXXX", cmd[128];
    int fd;

    (void)state;
    if (system("command -v shellcheck >/dev/null 2>&1") != 0)
        skip();
    assert_int_equal(hostlock_command(&b, HOSTLOCK_TAKE, HOSTLOCK_DIR, RUN_A,
                                      "root@ctl1", &e),
                     0);
    assert_true((fd = mkstemp(path)) >= 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    snprintf(cmd, sizeof(cmd), "shellcheck -s sh %s", path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "shellcheck -s bash %s", path);
    assert_int_equal(system(cmd), 0);
    unlink(path);
    buf_release(&b);
}

/* ---- the script, run here --------------------------------------------- */

/*
 * A scratch folder with the lock folder D/lk inside.  The script runs
 * under the fake executor's shell root, a child of this process: no sshd
 * above it (or the one of the session the tests run in), so its holder
 * is this process or that sshd, alive either way while the test runs.
 */
struct box {
    char root[128];
    char dir[160];
    char holder[180];
    struct executor *ex;
    struct exec_conn *conn;
};

static void box_make(struct box *bx)
{
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf e = ERRBUF_INIT;

    snprintf(bx->root, sizeof(bx->root), "/tmp/ss-hostlock-XXXXXX");
    assert_non_null(mkdtemp(bx->root));
    snprintf(bx->dir, sizeof(bx->dir), "%s/lk", bx->root);
    snprintf(bx->holder, sizeof(bx->holder), "%s/holder", bx->dir);
    bx->ex = fake_exec_new();
    fake_exec_shell_root(bx->ex, bx->root);
    t.name = (char *)"h1";
    assert_int_equal(exec_connect(&bx->conn, bx->ex, &t, &e), 0);
}

static void box_rm(struct box *bx)
{
    char cmd[200];

    exec_close(bx->conn);
    executor_free(bx->ex);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bx->root);
    assert_int_equal(system(cmd), 0);
}

/* Runs take or release for run_id in the box; returns hostlock_answer. */
static int box_run(struct box *bx, enum hostlock_op op, const char *run_id,
                   struct errbuf *e)
{
    struct buf b = BUF_INIT;
    struct exec_cmd c;
    struct exec_result res;
    struct errbuf re = ERRBUF_INIT;
    int r;

    assert_int_equal(hostlock_command(&b, op, bx->dir, run_id,
                                      op == HOSTLOCK_TAKE ? "ops@ctl1" : NULL,
                                      e),
                     0);
    hostlock_cmd(&c, b.data);
    exec_result_init(&res);
    r = exec_run(bx->conn, &c, &res, &re);
    errbuf_clear(e);
    r = hostlock_answer(op, r, &res, &re, e);
    exec_result_release(&res);
    buf_release(&b);
    return r;
}

/* The holder record's text ("" when there is none). */
static void read_holder(const struct box *bx, char *out, size_t size)
{
    FILE *f = fopen(bx->holder, "r");

    out[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(out, (int)size, f) == NULL)
        out[0] = '\0';
    fclose(f);
}

static void write_holder(const struct box *bx, const char *text)
{
    FILE *f = fopen(bx->holder, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Field 22 of /proc/PID/stat: the process's start time. */
static unsigned long long start_time(long pid)
{
    char path[64], buf[1024], *p;
    unsigned long long v = 0;
    FILE *f;
    int i;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    assert_non_null(f = fopen(path, "r"));
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_non_null(p = strrchr(buf, ')'));
    p += 2; /* field 3 */
    for (i = 3; i < 22; i++) {
        assert_non_null(p = strchr(p, ' '));
        p++;
    }
    sscanf(p, "%llu", &v);
    return v;
}

static void test_script_take_hold_release(void **state)
{
    struct box bx;
    struct errbuf e = ERRBUF_INIT;
    struct stat st;
    char rec[512], id[80], op[80];
    long since, pid;
    unsigned long long start;

    (void)state;
    box_make(&bx);
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_A, &e), 0);
    assert_int_equal(stat(bx.dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    read_holder(&bx, rec, sizeof(rec));
    assert_int_equal(
        sscanf(rec, "%79s %79s %ld %ld %llu", id, op, &since, &pid, &start), 5);
    assert_string_equal(id, RUN_A);
    assert_string_equal(op, "ops@ctl1");
    assert_true(since > 1700000000);
    assert_int_equal(start, start_time(pid));
    /* another run is refused, naming the holder */
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_B, &e), SS_ELOCKED);
    assert_non_null(strstr(e.msg, "host locked by run " RUN_A " of ops@ctl1"
                                  " since 20"));
    assert_non_null(strstr(e.msg, " UTC"));
    /* ... and cannot release it */
    assert_int_equal(box_run(&bx, HOSTLOCK_RELEASE, RUN_B, &e), 0);
    read_holder(&bx, rec, sizeof(rec));
    assert_non_null(strstr(rec, RUN_A));
    /* the same run takes it again (resume, rollback) */
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_A, &e), 0);
    /* released by its run, then free for another */
    assert_int_equal(box_run(&bx, HOSTLOCK_RELEASE, RUN_A, &e), 0);
    read_holder(&bx, rec, sizeof(rec));
    assert_string_equal(rec, "");
    assert_int_equal(box_run(&bx, HOSTLOCK_RELEASE, RUN_A, &e), 0);
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_B, &e), 0);
    read_holder(&bx, rec, sizeof(rec));
    assert_non_null(strstr(rec, RUN_B));
    box_rm(&bx);
}

static void test_script_stale_holders(void **state)
{
    struct box bx;
    struct errbuf e = ERRBUF_INIT;
    char rec[512];
    pid_t child;
    int status;
    size_t i;

    (void)state;
    box_make(&bx);
    assert_int_equal(mkdir(bx.dir, 0700), 0);
    /* a process that is gone */
    child = fork();
    if (child == 0)
        _exit(0);
    assert_true(child > 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    snprintf(rec, sizeof(rec), RUN_A " x@y " SINCE_A " %ld 1\n", (long)child);
    write_holder(&bx, rec);
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_B, &e), 0);
    /* a live pid that is another process now (other start time) */
    snprintf(rec, sizeof(rec), RUN_A " x@y " SINCE_A " %ld %llu\n",
             (long)getpid(), start_time(getpid()) + 1);
    write_holder(&bx, rec);
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_B, &e), 0);
    /* records no holder could have written */
    {
        static const char *const junk[] = {
            "",
            "\n",
            "a b c\n",
            RUN_A " x@y " SINCE_A " ../../self 1\n",
            RUN_A " x@y " SINCE_A " 1;reboot 1\n",
            RUN_A " x@y " SINCE_A " 999999999 1\n",
        };

        for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
            write_holder(&bx, junk[i]);
            assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_B, &e), 0);
        }
    }
    /* a live holder whose fields are hostile: refused, fields not shown */
    snprintf(rec, sizeof(rec), "evil\x1b[2J x@y " SINCE_A " %ld %llu\n",
             (long)getpid(), start_time(getpid()));
    write_holder(&bx, rec);
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_B, &e), SS_ELOCKED);
    assert_null(strchr(e.msg, '\x1b'));
    assert_non_null(strstr(e.msg, "unreadable"));
    box_rm(&bx);
}

static void test_script_refuses_symlink(void **state)
{
    struct box bx;
    struct errbuf e = ERRBUF_INIT;
    char target[200];

    (void)state;
    box_make(&bx);
    snprintf(target, sizeof(target), "%s/elsewhere", bx.root);
    assert_int_equal(mkdir(target, 0700), 0);
    assert_int_equal(symlink(target, bx.dir), 0);
    assert_int_equal(box_run(&bx, HOSTLOCK_TAKE, RUN_A, &e), SS_EREMOTE);
    assert_non_null(strstr(e.msg, "exit 4"));
    assert_non_null(strstr(e.msg, "is not a folder"));
    box_rm(&bx);
}

/* ---- in the engine (fake executor) ------------------------------------ */

static const char two_steps[] =
    "{\"name\":\"two\",\"steps\":["
    "{\"name\":\"s1\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s1\","
    "\"undo\":\"undo s1\"}},"
    "{\"name\":\"s2\",\"kind\":\"compensable\",\"shell\":{\"run\":\"do s2\","
    "\"undo\":\"undo s2\"}}]}";

struct eng {
    char root[128];
    char run[160];
    struct playbook *pb;
    struct executor *ex;
    struct engine_host h;
    struct engine_opts o;
};

static void eng_make(struct eng *g)
{
    struct errbuf e = ERRBUF_INIT;
    char journal[200];

    snprintf(g->root, sizeof(g->root), "/tmp/ss-hostlock-eng-XXXXXX");
    assert_non_null(mkdtemp(g->root));
    snprintf(g->run, sizeof(g->run), "%s/run", g->root);
    snprintf(journal, sizeof(journal), "%s/journal", g->run);
    assert_int_equal(fsio_mkdirs(journal, 0700, &e), 0);
    g->pb = NULL;
    assert_int_equal(playbook_parse_string(&g->pb, two_steps, strlen(two_steps),
                                           "t.json", engine_action_lookup, &e),
                     0);
    g->ex = fake_exec_new();
    engine_host_init(&g->h);
    g->h.target.name = strdup("h1");
    engine_opts_init(&g->o);
    g->o.ex = g->ex;
    g->o.pb = g->pb;
    g->o.run_dir = g->run;
    g->o.run_id = RUN_A;
    g->o.remote_lock = true;
}

static void eng_free(struct eng *g)
{
    char cmd[200];

    engine_host_release(&g->h);
    executor_free(g->ex);
    playbook_free(g->pb);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g->root);
    assert_int_equal(system(cmd), 0);
}

static void test_engine_takes_and_releases(void **state)
{
    struct eng g;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    eng_make(&g);
    fake_exec_rule(g.ex, NULL, "lk_act=take", 0, 0, 0, "taken\n", NULL);
    fake_exec_rule(g.ex, NULL, "lk_act=release", 0, 0, 0, "released\n", NULL);
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_COMMITTED);
    /* the lock first, then the steps, the release last */
    assert_int_equal(fake_exec_count(g.ex), 4);
    assert_non_null(strstr(fake_exec_command(g.ex, 0), "lk_act=take"));
    assert_non_null(
        strstr(fake_exec_command(g.ex, 0), "lk_dir='" HOSTLOCK_DIR "'"));
    assert_non_null(strstr(fake_exec_command(g.ex, 0), "lk_id='" RUN_A "'"));
    assert_string_equal(fake_exec_command(g.ex, 1), "do s1");
    assert_string_equal(fake_exec_command(g.ex, 2), "do s2");
    assert_non_null(strstr(fake_exec_command(g.ex, 3), "lk_act=release"));
    /* rollback of the same run takes and releases it too */
    fake_exec_clear_log(g.ex);
    assert_int_equal(engine_rollback(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count(g.ex), 4);
    assert_non_null(strstr(fake_exec_command(g.ex, 0), "lk_act=take"));
    assert_string_equal(fake_exec_command(g.ex, 1), "undo s2");
    assert_non_null(strstr(fake_exec_command(g.ex, 3), "lk_act=release"));
    /* a failed step: rolled back, and the lock released all the same */
    eng_free(&g);
    eng_make(&g);
    fake_exec_rule(g.ex, NULL, "lk_act=take", 0, 0, 0, "taken\n", NULL);
    fake_exec_rule(g.ex, NULL, "do s2", 0, 0, 1, NULL, "no");
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_ROLLED_BACK);
    assert_non_null(strstr(fake_exec_command(g.ex, fake_exec_count(g.ex) - 1),
                           "lk_act=release"));
    eng_free(&g);
}

static void test_engine_held_refuses(void **state)
{
    struct eng g;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    eng_make(&g);
    fake_exec_rule(g.ex, NULL, "lk_act=take", 0, 0, 3,
                   "held " RUN_B " alice@ctl2 " SINCE_A "\n", NULL);
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_REFUSED);
    assert_int_equal(g.h.err.code, SS_ELOCKED);
    assert_string_equal(g.h.err.msg,
                        "host locked by run " RUN_B
                        " of alice@ctl2 since 2026-12-05 04:15:02 UTC");
    /* nothing but the lock was sent: no step, no release */
    assert_int_equal(fake_exec_count(g.ex), 1);
    eng_free(&g);
}

static void test_engine_lock_failures(void **state)
{
    struct eng g;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    /* the lock command times out: unreachable, nothing else sent */
    eng_make(&g);
    fake_exec_rule(g.ex, NULL, "lk_act=take", 0, SS_ETIMEOUT, -1, NULL, NULL);
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_UNREACHABLE);
    assert_int_equal(fake_exec_count(g.ex), 1);
    eng_free(&g);
    /* the script cannot work there (no flock): refused */
    eng_make(&g);
    fake_exec_rule(g.ex, NULL, "lk_act=take", 0, 0, 4, NULL,
                   "flock not found\n");
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_REFUSED);
    assert_string_equal(g.h.err.msg, "cannot take the host lock: exit 4: "
                                     "flock not found");
    assert_int_equal(fake_exec_count(g.ex), 1);
    eng_free(&g);
}

static void test_engine_no_lock_in_dry_run_or_off(void **state)
{
    struct eng g;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    eng_make(&g);
    g.o.dry_run = true;
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_DRY_RUN);
    assert_int_equal(fake_exec_count_matching(g.ex, NULL, "lk_act"), 0);
    eng_free(&g);
    eng_make(&g);
    g.o.remote_lock = false;
    assert_int_equal(engine_respond(&g.h, 1, &g.o, &e), 0);
    assert_int_equal(g.h.state, HOST_COMMITTED);
    assert_int_equal(fake_exec_count(g.ex), 2);
    eng_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_taken_and_released),
        cmocka_unit_test(test_answer_held_names_holder),
        cmocka_unit_test(test_answer_hostile),
        cmocka_unit_test(test_command_quotes_and_checks),
        cmocka_unit_test(test_operator),
        cmocka_unit_test(test_script_shellcheck),
        cmocka_unit_test(test_script_take_hold_release),
        cmocka_unit_test(test_script_stale_holders),
        cmocka_unit_test(test_script_refuses_symlink),
        cmocka_unit_test(test_engine_takes_and_releases),
        cmocka_unit_test(test_engine_held_refuses),
        cmocka_unit_test(test_engine_lock_failures),
        cmocka_unit_test(test_engine_no_lock_in_dry_run_or_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
