/* Unit tests of the libssh executor's parts that need no remote host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/ssh_internal.h"
#include "fake_exec.h"
#include "files.h"
#include "spamstop/digest.h"
#include "spamstop/exec.h"
#include "spamstop/fsio.h"

/* The ssh_config every precedence test reads. */
static const char test_config[] = "Host alias1\n"
                                  "  HostName 127.0.0.1\n"
                                  "  Port 2201\n"
                                  "  User cfguser\n"
                                  "Host *\n"
                                  "  ConnectTimeout 3\n";

static char config_path[64];

static int setup(void **state)
{
    FILE *f;
    int fd;

    (void)state;
    snprintf(config_path, sizeof(config_path), "/tmp/spamstop-test-ssh-XXXXXX");
    fd = mkstemp(config_path);
    if (fd < 0)
        return -1;
    f = fdopen(fd, "w");
    if (f == NULL)
        return -1;
    fputs(test_config, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(config_path);
    return 0;
}

/* What libssh would connect to after exec_ssh_configure. */
struct effective {
    char host[256];
    char user[256];
    char known_hosts[256];
    unsigned int port;
};

/* Configures a fresh session and reads back host, user and port. */
static int configure(struct effective *out, const struct exec_options *opts,
                     const struct exec_target *target, struct errbuf *err)
{
    ssh_session s = ssh_new();
    char *v = NULL;
    int r;

    assert_non_null(s);
    memset(out, 0, sizeof(*out));
    r = exec_ssh_configure(s, opts, target, err);
    if (r == 0) {
        assert_int_equal(ssh_options_get(s, SSH_OPTIONS_HOST, &v), SSH_OK);
        snprintf(out->host, sizeof(out->host), "%s", v);
        ssh_string_free_char(v);
        v = NULL;
        if (ssh_options_get(s, SSH_OPTIONS_USER, &v) == SSH_OK)
            snprintf(out->user, sizeof(out->user), "%s", v);
        ssh_string_free_char(v);
        v = NULL;
        if (ssh_options_get(s, SSH_OPTIONS_KNOWNHOSTS, &v) == SSH_OK)
            snprintf(out->known_hosts, sizeof(out->known_hosts), "%s", v);
        ssh_string_free_char(v);
        assert_int_equal(ssh_options_get_port(s, &out->port), SSH_OK);
    }
    ssh_free(s);
    return r;
}

/* The config file supplies HostName, Port and User for an alias. */
static void test_config_applies(void **state)
{
    struct exec_options opts = EXEC_OPTIONS_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct effective e;

    (void)state;
    opts.ssh_config = config_path;
    t.name = (char *)"alias1";
    assert_int_equal(configure(&e, &opts, &t, &err), 0);
    assert_string_equal(e.host, "127.0.0.1");
    assert_int_equal(e.port, 2201);
    assert_string_equal(e.user, "cfguser");
}

/* Per-host values win over the config file. */
static void test_target_wins_over_config(void **state)
{
    struct exec_options opts = EXEC_OPTIONS_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct effective e;

    (void)state;
    opts.ssh_config = config_path;
    t.name = (char *)"alias1";
    t.port = 2202;
    t.user = (char *)"tuser";
    assert_int_equal(configure(&e, &opts, &t, &err), 0);
    assert_int_equal(e.port, 2202);
    assert_string_equal(e.user, "tuser");
    assert_string_equal(e.host, "127.0.0.1");
}

/* Command-line user, port and known_hosts win over everything. */
static void test_options_win_over_all(void **state)
{
    struct exec_options opts = EXEC_OPTIONS_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct effective e;

    (void)state;
    opts.ssh_config = config_path;
    opts.user = "ouser";
    opts.port = 2203;
    opts.known_hosts = "/tmp/spamstop-kh";
    t.name = (char *)"alias1";
    t.port = 2202;
    t.user = (char *)"tuser";
    assert_int_equal(configure(&e, &opts, &t, &err), 0);
    assert_int_equal(e.port, 2203);
    assert_string_equal(e.user, "ouser");
    assert_string_equal(e.known_hosts, "/tmp/spamstop-kh");
}

/* The address, when given, is where we connect; the name is for humans. */
static void test_address_over_name(void **state)
{
    struct exec_options opts = EXEC_OPTIONS_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct effective e;

    (void)state;
    opts.ssh_config = config_path;
    t.name = (char *)"web_01";
    t.address = (char *)"10.1.2.3";
    assert_int_equal(configure(&e, &opts, &t, &err), 0);
    assert_string_equal(e.host, "10.1.2.3");
    assert_int_equal(e.port, 22);
}

/* A missing -F file is an input error, not silently ignored. */
static void test_missing_config(void **state)
{
    struct exec_options opts = EXEC_OPTIONS_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct effective e;

    (void)state;
    opts.ssh_config = "/nonexistent/spamstop/ssh_config";
    t.name = (char *)"h1";
    assert_int_equal(configure(&e, &opts, &t, &err), SS_EINVAL);
    assert_non_null(strstr(err.msg, "/nonexistent/spamstop/ssh_config"));
}

/* Host names libssh 0.10.6 rejects get a message that says why. */
static void test_hostname_check(void **state)
{
    struct errbuf err = ERRBUF_INIT;

    (void)state;
    assert_int_equal(exec_ssh_check_hostname("mx-1.example.net", &err), 0);
    assert_int_equal(exec_ssh_check_hostname("10.77.0.11", &err), 0);
    assert_int_equal(exec_ssh_check_hostname("::1", &err), 0);
    assert_int_equal(exec_ssh_check_hostname("fe80::1", &err), 0);
    assert_int_equal(exec_ssh_check_hostname("my_host", &err), SS_EINVAL);
    assert_non_null(strstr(err.msg, "'my_host'"));
    assert_non_null(strstr(err.msg, "'_'"));
    assert_int_equal(exec_ssh_check_hostname("h1:2222", &err), SS_EINVAL);
    assert_non_null(strstr(err.msg, "--port"));
    assert_int_equal(exec_ssh_check_hostname("-oProxyCommand=x", &err),
                     SS_EINVAL);
    assert_int_equal(exec_ssh_check_hostname("a b", &err), SS_EINVAL);
    assert_int_equal(exec_ssh_check_hostname("", &err), SS_EINVAL);
    assert_int_equal(exec_ssh_check_hostname(NULL, &err), SS_EINVAL);
}

/* Runs `sh -c LINE` with sudo replaced by a function printing its args. */
static char *run_with_fake_sudo(const char *line)
{
    static const char fake[] = "sudo() { for a; do printf '<%s>' \"$a\"; "
                               "done; }; ";
    struct buf script = BUF_INIT;
    char out[4096];
    size_t len = 0;
    ssize_t n;
    int pipefd[2], status;
    pid_t pid;

    assert_int_equal(buf_adds(&script, fake), 0);
    assert_int_equal(buf_adds(&script, line), 0);
    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl("/bin/sh", "sh", "-c", script.data, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    while ((n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    buf_release(&script);
    return strdup(out);
}

/* Without become the command goes as is; with it, sudo gets it intact. */
static void test_wrap_for_sudo(void **state)
{
    static const char *const cmds[] = {
        "postqueue -j",
        "echo 'it'\\''s' \"$HOME\" `id` $(id); exit 3",
        "read -r PSA_PASSWORD; export PSA_PASSWORD; exec plesk bin mail",
        "'",
        "",
    };
    struct buf b = BUF_INIT;
    size_t i;

    (void)state;
    assert_int_equal(exec_ssh_wrap_command(&b, "postqueue -j", false), 0);
    assert_string_equal(b.data, "postqueue -j");
    buf_reset(&b);
    assert_int_equal(exec_ssh_wrap_command(&b, "a'b", true), 0);
    assert_string_equal(b.data, "sudo -n -- sh -c 'a'\\''b'");
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char want[1024];
        char *got;

        buf_reset(&b);
        assert_int_equal(exec_ssh_wrap_command(&b, cmds[i], true), 0);
        got = run_with_fake_sudo(b.data);
        snprintf(want, sizeof(want), "<-n><--><sh><-c><%s>", cmds[i]);
        assert_string_equal(got, want);
        free(got);
    }
    buf_release(&b);
}

/* Connecting to a closed loopback port fails fast with SS_ECONNECT. */
static void test_connect_refused(void **state)
{
    struct exec_options opts = EXEC_OPTIONS_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct exec_conn *conn = (struct exec_conn *)&opts;
    struct executor *ex;
    struct sockaddr_in sa;
    socklen_t slen = sizeof(sa);
    struct timespec t0, t1;
    int fd, port;

    (void)state;
    /* A port that was free a moment ago: bind, read it, close. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    opts.ssh_config = config_path;
    opts.port = port;
    opts.connect_timeout_ms = 3000;
    opts.known_hosts = "/dev/null";
    t.name = (char *)"127.0.0.1";
    ex = exec_ssh_new(&opts);
    assert_non_null(ex);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(exec_connect(&conn, ex, &t, &err), SS_ECONNECT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(conn);
    assert_non_null(strstr(err.msg, "'127.0.0.1'"));
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    /* A rejected host name never reaches the network. */
    t.name = (char *)"bad_name";
    assert_int_equal(exec_connect(&conn, ex, &t, &err), SS_EINVAL);
    assert_non_null(strstr(err.msg, "'_'"));
    executor_free(ex);
}

/* What the fetch handler sends, and how the command exits. */
struct fetch_script {
    int exit_status;
    int runs;
};

/*
 * A fetched command as the libssh executor runs it: its stdout streamed
 * into out_fd through fsio_append, in two pieces; a failed write fails
 * the run.
 */
static int fetch_handler(void *arg, const char *host,
                         const struct exec_cmd *cmd, struct exec_result *res,
                         struct errbuf *err)
{
    static const char *const pieces[] = {"first piece, ", "second piece"};
    struct fetch_script *fs = arg;
    size_t i;

    (void)host;
    fs->runs++;
    assert_true(cmd->out_fd >= 0);
    for (i = 0; i < 2; i++)
        if (fsio_append(cmd->out_fd, pieces[i], strlen(pieces[i]), 0, err) < 0)
            return SS_ERR;
    return fake_exec_fill(res, cmd, fs->exit_status,
                          "first piece, second piece", 25, "no such file",
                          fs->exit_status != 0 ? 12 : 0);
}

/*
 * exec_fetch: the file appears whole under its name, or not at all.  Each
 * of its writes (two pieces, then the commit) is failed in turn, and a
 * remote failure too: each is reported and leaves path as it was (an
 * older copy here) with no temporary beside it.
 */
static void test_fetch_faults(void **state)
{
    struct fetch_script fs = {0, 0};
    struct exec_target t = EXEC_TARGET_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct exec_conn *conn = NULL;
    struct executor *ex = fake_exec_new();
    char dir[] = "/tmp/ss-fetch-XXXXXX", path[64], sha[SHA256_HEX_LEN + 1];
    char *data = NULL;
    uint64_t size = 0;
    int k;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/got", dir);
    fake_exec_set_handler(ex, fetch_handler, &fs);
    t.name = (char *)"h1";
    assert_int_equal(exec_connect(&conn, ex, &t, &err), 0);
    assert_int_equal(exec_fetch(conn, "cat f", path, 0, &size, sha, &err), 0);
    assert_int_equal(size, 25);
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "first piece, second piece");
    free(data);
    data = NULL;
    assert_int_equal(files_in(dir), 1);
    for (k = 1; k <= 4; k++) {
        errbuf_clear(&err);
        assert_int_equal(fsio_write_atomic(path, "older", 5, 0600, &err), 0);
        if (k <= 3)
            fsio_fail_after = k;
        else
            fs.exit_status = 1;
        assert_true(exec_fetch(conn, "cat f", path, 0, &size, sha, &err) < 0);
        assert_int_equal(fsio_fail_after, 0);
        if (k <= 3)
            assert_non_null(strstr(err.msg, "No space left"));
        else
            assert_non_null(strstr(err.msg, "exited with status 1"));
        assert_int_equal(files_in(dir), 1);
        assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
        assert_string_equal(data, "older");
        free(data);
        data = NULL;
    }
    assert_int_equal(fs.runs, 5);
    exec_close(conn);
    executor_free(ex);
    unlink(path);
    rmdir(dir);
}

/* A stdout sink that keeps everything, or refuses at refuse_at bytes. */
struct sink_log {
    struct buf got;
    size_t calls;
    size_t refuse_at; /* 0: never */
};

static int sink_keep(void *arg, const char *data, size_t len,
                     struct errbuf *err)
{
    struct sink_log *l = arg;

    assert_true(len > 0);
    l->calls++;
    if (l->refuse_at > 0 && l->got.len + len >= l->refuse_at)
        return errbuf_set(err, SS_ETOOBIG, "sink: enough at %zu",
                          l->got.len + len);
    return buf_add(&l->got, data, len);
}

/* A sample with every byte value but NUL (the fake keeps C strings). */
static void sink_sample(struct buf *b)
{
    size_t i;

    for (i = 0; i < EXEC_STREAM_HEAD + 777; i++)
        buf_addc(b, (char)(i * 7 % 255 + 1));
}

/* Checks what a run through a sink left: all of it delivered, a head kept. */
static void sink_check(const struct sink_log *l, const struct exec_result *res,
                       const struct buf *sample)
{
    char want[SHA256_HEX_LEN + 1], got[SHA256_HEX_LEN + 1];

    assert_int_equal(l->got.len, sample->len);
    assert_memory_equal(l->got.data, sample->data, sample->len);
    assert_int_equal(res->out_bytes, sample->len);
    assert_int_equal(res->out.len, EXEC_STREAM_HEAD);
    assert_memory_equal(res->out.data, sample->data, EXEC_STREAM_HEAD);
    assert_int_equal(sha256_hex(want, sample->data, sample->len), 0);
    hex_encode(got, res->out_sha256, SHA256_LEN);
    got[SHA256_HEX_LEN] = '\0';
    assert_string_equal(got, want);
}

/*
 * Stdout through a sink, cut in pieces of every size from 1 byte to all
 * of it (so in two at every byte boundary), by the libssh executor's data
 * callback and by the fake: every byte arrives once, in order; only the
 * head is kept; the digest covers all; a refusing sink stops the run
 * with its code and message.
 */
static void test_stdout_sink(void **state)
{
    struct buf sample = BUF_INIT;
    struct sink_log l;
    struct exec_cmd cmd = EXEC_CMD_INIT;
    struct exec_result res;
    struct errbuf err = ERRBUF_INIT;
    struct exec_target t = EXEC_TARGET_INIT;
    struct exec_conn *conn = NULL;
    struct executor *ex = fake_exec_new();
    size_t k;

    (void)state;
    sink_sample(&sample);
    cmd.command = "cat big";
    cmd.out_cap = 10; /* not used with a sink */
    cmd.on_out.fn = sink_keep;
    cmd.on_out.arg = &l;
    /* every size: from half the sample on, two pieces cut at byte k */
    for (k = 1; k <= sample.len; k++) {
        memset(&l, 0, sizeof(l));
        exec_result_init(&res);
        assert_int_equal(
            exec_ssh_feed(&cmd, &res, sample.data, sample.len, k, &err), 0);
        sink_check(&l, &res, &sample);
        assert_int_equal(l.calls, (sample.len + k - 1) / k);
        exec_result_release(&res);
        buf_release(&l.got);
    }
    memset(&l, 0, sizeof(l));
    l.refuse_at = 3500;
    exec_result_init(&res);
    assert_int_equal(
        exec_ssh_feed(&cmd, &res, sample.data, sample.len, 1000, &err),
        SS_ETOOBIG);
    assert_string_equal(err.msg, "sink: enough at 4000");
    assert_int_equal(l.calls, 4);
    exec_result_release(&res);
    buf_release(&l.got);

    /* the fake, as the unit tests of the actions use it */
    fake_exec_rule(ex, NULL, "cat big", 0, 0, 0, sample.data, NULL);
    t.name = (char *)"h1";
    assert_int_equal(exec_connect(&conn, ex, &t, &err), 0);
    for (k = 1; k <= 300; k++) {
        memset(&l, 0, sizeof(l));
        fake_exec_chunk(ex, k);
        assert_int_equal(exec_run(conn, &cmd, &res, &err), 0);
        sink_check(&l, &res, &sample);
        assert_int_equal(l.calls, (sample.len + k - 1) / k);
        exec_result_release(&res);
        buf_release(&l.got);
    }
    memset(&l, 0, sizeof(l));
    l.refuse_at = 300;
    assert_int_equal(exec_run(conn, &cmd, &res, &err), SS_ETOOBIG);
    assert_string_equal(err.msg, "sink: enough at 300");
    exec_result_release(&res);
    buf_release(&l.got);
    exec_close(conn);
    executor_free(ex);
    buf_release(&sample);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_applies),
        cmocka_unit_test(test_target_wins_over_config),
        cmocka_unit_test(test_options_win_over_all),
        cmocka_unit_test(test_address_over_name),
        cmocka_unit_test(test_missing_config),
        cmocka_unit_test(test_hostname_check),
        cmocka_unit_test(test_wrap_for_sudo),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_fetch_faults),
        cmocka_unit_test(test_stdout_sink),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
