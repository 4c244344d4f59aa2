/* spamstop exec: one shell command on many hosts at once, for diagnostics. */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "spamstop/digest.h"
#include "spamstop/pool.h"

/* Most bytes --stdin reads from our own standard input. */
#define EXEC_STDIN_MAX (16u * 1024 * 1024)

/* Options of exec beyond the common ones. */
enum exec_opt {
    OPT_COMMAND = OPT_COMMON_LAST + 1,
    OPT_TIMEOUT,
    OPT_OUT_CAP,
    OPT_STDIN,
};

static const char exec_help[] =
    "usage: spamstop exec [OPTIONS] -c COMMAND HOST...\n"
    "\n"
    "Runs COMMAND (an sh command line) on every HOST in parallel and prints\n"
    "each host's exit status, duration, stdout and stderr.  Exit status: 0\n"
    "when every host ran it with status 0, 1 when a host failed or was\n"
    "unreachable, 2 for a bad command line.\n"
    "\n"
    "Options:\n"
    "  -c, --command CMD       the command to run (required)\n"
    "      --stdin             send our standard input to the command's\n"
    "                          (read once, at most 16 MiB; never logged)\n"
    "      --timeout S         deadline for the command (default 120)\n"
    "      --out-cap BYTES     most stdout bytes kept per host (default 64\n"
    "                          MiB); more is an error\n"
    "  -h, --help              show this help\n"
    "\n";

/* One host's job and what came of it. */
struct exec_job {
    struct exec_target target;
    struct exec_result res;
    struct errbuf err;
    char fingerprint[128];
    bool ran; /* the command was started: digests mean something */
    int rc;
};

/* What every worker shares. */
struct exec_run {
    struct executor *ex;
    struct exec_cmd cmd;
    struct exec_job *jobs;
    bool json;
    pthread_mutex_t print_lock;
};

/* Copies s into b, replacing invalid UTF-8 with U+FFFD, for JSON output. */
static void utf8_clean(struct buf *b, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        size_t len = ch < 0x80           ? 1
                     : (ch >> 5) == 0x6  ? 2
                     : (ch >> 4) == 0xe  ? 3
                     : (ch >> 3) == 0x1e ? 4
                                         : 0;
        size_t k;
        bool ok = len > 0 && i + len <= n;

        for (k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 0x2;
        if (ok && len == 2 && ch < 0xc2)
            ok = false;
        if (ok) {
            buf_add(b, s + i, len);
            i += len;
        } else {
            buf_adds(b, "\xef\xbf\xbd");
            i++;
        }
    }
}

/* A JSON string of n bytes of remote output (jansson wants UTF-8). */
static json_t *json_output(const char *s, size_t n)
{
    struct buf b = BUF_INIT;
    json_t *j;

    utf8_clean(&b, s ? s : "", s ? n : 0);
    j = json_stringn(b.data ? b.data : "", b.len);
    buf_release(&b);
    return j;
}

/* Prints one host's outcome as a JSON line. */
static void print_json(const struct exec_job *job)
{
    char out_hex[SHA256_HEX_LEN + 1], err_hex[SHA256_HEX_LEN + 1];
    json_t *o = json_object();
    char *text;

    hex_encode(out_hex, job->res.out_sha256, SHA256_LEN);
    hex_encode(err_hex, job->res.err_sha256, SHA256_LEN);
    json_object_set_new(o, "host", json_string(job->target.name));
    json_object_set_new(
        o, "ok", json_boolean(job->rc == 0 && job->res.exit_status == 0));
    json_object_set_new(o, "fingerprint",
                        job->fingerprint[0] ? json_string(job->fingerprint)
                                            : json_null());
    json_object_set_new(o, "exit",
                        job->rc == 0 && job->res.exit_status >= 0
                            ? json_integer(job->res.exit_status)
                            : json_null());
    json_object_set_new(o, "signal",
                        job->res.exit_signal[0]
                            ? json_string(job->res.exit_signal)
                            : json_null());
    json_object_set_new(o, "duration_ms", json_integer(job->res.duration_ms));
    json_object_set_new(o, "stdout",
                        json_output(job->res.out.data, job->res.out.len));
    json_object_set_new(o, "stderr",
                        json_output(job->res.err.data, job->res.err.len));
    json_object_set_new(o, "stdout_bytes",
                        json_integer((json_int_t)job->res.out_bytes));
    json_object_set_new(o, "stderr_bytes",
                        json_integer((json_int_t)job->res.err_bytes));
    json_object_set_new(o, "stdout_sha256",
                        job->ran ? json_string(out_hex) : json_null());
    json_object_set_new(o, "stderr_sha256",
                        job->ran ? json_string(err_hex) : json_null());
    json_object_set_new(o, "error",
                        job->rc < 0 ? json_string(job->err.msg) : json_null());
    json_object_set_new(o, "error_kind",
                        job->rc < 0 ? json_string(ss_code_name(job->rc))
                                    : json_null());
    text = json_dumps(o, JSON_COMPACT);
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(o);
}

/* Prints one host's outcome for a human: header, stdout, stderr. */
static void print_human(const struct exec_job *job)
{
    double secs = (double)job->res.duration_ms / 1000.0;

    if (job->rc < 0)
        printf("== %s (failed: %s, %.2fs) ==\n", job->target.name,
               ss_code_name(job->rc), secs);
    else if (job->res.exit_signal[0] != '\0')
        printf("== %s (signal %s, %.2fs) ==\n", job->target.name,
               job->res.exit_signal, secs);
    else
        printf("== %s (exit %d, %.2fs) ==\n", job->target.name,
               job->res.exit_status, secs);
    if (job->rc == SS_ETOOBIG) {
        printf("(output discarded after %llu bytes of stdout, %llu of "
               "stderr)\n",
               (unsigned long long)job->res.out_bytes,
               (unsigned long long)job->res.err_bytes);
    } else if (job->res.out.len > 0) {
        fwrite(job->res.out.data, 1, job->res.out.len, stdout);
        if (job->res.out.data[job->res.out.len - 1] != '\n')
            putchar('\n');
    }
    fflush(stdout);
    if (job->res.err.len > 0 && job->rc != SS_ETOOBIG) {
        fprintf(stderr, "== %s stderr ==\n", job->target.name);
        fwrite(job->res.err.data, 1, job->res.err.len, stderr);
        if (job->res.err.data[job->res.err.len - 1] != '\n')
            fputc('\n', stderr);
    }
    if (job->rc < 0)
        cmd_error("%s: %s", job->target.name, job->err.msg);
    fflush(stderr);
}

/* Worker: connect, run, close, then print while holding the lock. */
static void exec_one(void *arg, size_t i)
{
    struct exec_run *run = arg;
    struct exec_job *job = &run->jobs[i];
    struct exec_conn *conn = NULL;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    job->rc = exec_connect(&conn, run->ex, &job->target, &job->err);
    if (job->rc == 0) {
        snprintf(job->fingerprint, sizeof(job->fingerprint), "%s",
                 exec_fingerprint(conn));
        job->ran = true;
        job->rc = exec_run(conn, &run->cmd, &job->res, &job->err);
    }
    exec_close(conn);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* The duration the user sees includes connecting. */
    job->res.duration_ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 +
                                  (t1.tv_nsec - t0.tv_nsec) / 1000000);
    pthread_mutex_lock(&run->print_lock);
    if (run->json)
        print_json(job);
    else
        print_human(job);
    pthread_mutex_unlock(&run->print_lock);
}

/* Reads all of stdin into b (capped). */
static int read_stdin(struct buf *b)
{
    char chunk[65536];
    ssize_t n;

    buf_init(b, EXEC_STDIN_MAX);
    while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            cmd_error("cannot read standard input");
            return -1;
        }
        if (buf_add(b, chunk, (size_t)n) < 0) {
            cmd_error("standard input is larger than %u bytes", EXEC_STDIN_MAX);
            return -1;
        }
    }
    explicit_bzero(chunk, sizeof(chunk));
    return 0;
}

/*
 * Reads exec's options into run->cmd and o.  0 to go on, 1 when done
 * (--help), -1 on a bad option (message printed).
 */
static int exec_args(struct exec_run *run, struct cmd_opts *o, bool *use_stdin,
                     int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_COMMON_LONG_OPTIONS,
        {"command", required_argument, NULL, 'c'},
        {"stdin", no_argument, NULL, OPT_STDIN},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"out-cap", required_argument, NULL, OPT_OUT_CAP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, v;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:F:h", longopts, NULL)) != -1) {
        if ((v = cmd_common_option(o, c, optarg)) != 0) {
            if (v < 0)
                return -1;
            continue;
        }
        switch (c) {
        case 'c': run->cmd.command = optarg; break;
        case OPT_STDIN: *use_stdin = true; break;
        case OPT_TIMEOUT:
            if ((v = cmd_parse_int("--timeout", optarg, 1, 86400)) < 0)
                return -1;
            run->cmd.timeout_ms = v * 1000;
            break;
        case OPT_OUT_CAP:
            if ((v = cmd_parse_int("--out-cap", optarg, 1, 1 << 30)) < 0)
                return -1;
            run->cmd.out_cap = (size_t)v;
            break;
        case 'h':
            fputs(exec_help, stdout);
            fputs(cmd_common_help, stdout);
            return 1;
        default: fprintf(stderr, "try 'spamstop exec --help'\n"); return -1;
        }
    }
    if (run->cmd.command == NULL || optind >= argc) {
        cmd_error("exec needs -c COMMAND and at least one HOST (try "
                  "'spamstop exec --help')");
        return -1;
    }
    return 0;
}

int cmd_exec(int argc, char **argv)
{
    struct cmd_opts o;
    struct exec_run run;
    struct exec_cmd init = EXEC_CMD_INIT;
    struct buf input = BUF_INIT;
    bool use_stdin = false;
    size_t i, nhosts = 0;
    int v, ret = EXIT_USAGE;

    cmd_opts_init(&o);
    memset(&run, 0, sizeof(run));
    run.cmd = init;
    pthread_mutex_init(&run.print_lock, NULL);
    if ((v = exec_args(&run, &o, &use_stdin, argc, argv)) != 0) {
        ret = v > 0 ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if (use_stdin) {
        if (read_stdin(&input) < 0)
            goto out;
        run.cmd.input = input.data;
        run.cmd.input_len = input.len;
    }
    nhosts = (size_t)(argc - optind);
    run.jobs = calloc(nhosts, sizeof(*run.jobs));
    run.ex = exec_ssh_new(&o.exec);
    if (run.jobs == NULL || run.ex == NULL) {
        cmd_error("out of memory");
        ret = EXIT_NOT_STARTED;
        goto out;
    }
    run.json = o.json;
    for (i = 0; i < nhosts; i++) {
        exec_result_init(&run.jobs[i].res);
        run.jobs[i].target.name = argv[optind + (int)i];
    }
    pool_run(nhosts, o.forks, exec_one, NULL, &run);
    ret = EXIT_OK;
    for (i = 0; i < nhosts; i++)
        if (run.jobs[i].rc < 0 || run.jobs[i].res.exit_status != 0)
            ret = EXIT_ROLLED_BACK;
out:
    for (i = 0; run.jobs != NULL && i < nhosts; i++)
        exec_result_release(&run.jobs[i].res);
    free(run.jobs);
    executor_free(run.ex);
    buf_wipe(&input);
    pthread_mutex_destroy(&run.print_lock);
    return ret;
}
