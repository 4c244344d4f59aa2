/* Unit tests of lib/util: buffers, quoting, files, the pool, digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "spamstop/buf.h"
#include "spamstop/digest.h"
#include "spamstop/error.h"
#include "spamstop/fsio.h"
#include "spamstop/hmap.h"
#include "spamstop/pool.h"
#include "spamstop/shquote.h"
#include "spamstop/text.h"

/* A buffer with a cap takes exactly cap bytes and refuses one more. */
static void test_buf_cap(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_add(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10);
    assert_false(b.overflow);
    assert_int_equal(buf_addc(&b, 'x'), SS_ETOOBIG);
    assert_true(b.overflow);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(buf_printf(&b, "%d", 1), SS_ETOOBIG);
    buf_reset(&b);
    assert_false(b.overflow);
    assert_int_equal(buf_adds(&b, "01234567890"), SS_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_release(&b);
    assert_int_equal(b.cap, 10);
    assert_null(b.data);
}

/* A cap near SIZE_MAX must not wrap the length check. */
static void test_buf_cap_overflow_math(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4);
    assert_int_equal(buf_add(&b, "ab", 2), 0);
    assert_int_equal(buf_add(&b, "x", SIZE_MAX), SS_ETOOBIG);
    assert_int_equal(buf_add(&b, "x", SIZE_MAX - 1), SS_ETOOBIG);
    assert_int_equal(b.len, 2);
    buf_release(&b);
}

/* Unlimited buffers grow, keep a NUL, and hand their memory over. */
static void test_buf_grow_detach(void **state)
{
    struct buf b = BUF_INIT;
    char *s;
    int i;

    (void)state;
    for (i = 0; i < 10000; i++)
        assert_int_equal(buf_printf(&b, "%04d", i % 10000), 0);
    assert_int_equal(b.len, 40000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 39996, "9999", 4);
    s = buf_detach(&b);
    assert_non_null(s);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(strlen(s), 40000);
    free(s);
    s = buf_detach(&b);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(buf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    buf_wipe(&b);
    assert_null(b.data);
}

/* Runs /bin/sh -c "printf %s <quoted>" and returns its stdout (caller frees).
 */
static char *sh_roundtrip(const char *s)
{
    struct buf cmd = BUF_INIT, out = BUF_INIT;
    int pipefd[2];
    pid_t pid;
    char chunk[4096];
    ssize_t n;
    int status;

    assert_int_equal(buf_adds(&cmd, "printf %s "), 0);
    assert_int_equal(shquote_add(&cmd, s), 0);
    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl("/bin/sh", "sh", "-c", cmd.data, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0)
        assert_int_equal(buf_add(&out, chunk, (size_t)n), 0);
    close(pipefd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    buf_release(&cmd);
    return buf_detach(&out);
}

/* Hostile strings come back byte for byte through a real shell. */
static void test_shquote_roundtrip(void **state)
{
    static const char *const hostile[] = {
        "",
        "plain",
        "it's",
        "'",
        "''''",
        "a b\tc\nd",
        "$(touch /tmp/spamstop-pwned)",
        "`id`",
        "${HOME}$HOME",
        "; rm -rf / #",
        "\"double\" \\back\\slash\\",
        "*?[a-z]~",
        "-n",
        "--",
        "x'; touch /tmp/spamstop-pwned; echo '",
        "\x01\x02\x7f\xff\xfe high bytes \xc3\xa9",
        "!event !! history",
        "a\\'b",
        "%s%n%x",
        "line1\r\nline2",
    };
    size_t i;

    (void)state;
    unlink("/tmp/spamstop-pwned");
    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        char *back = sh_roundtrip(hostile[i]);
        assert_string_equal(back, hostile[i]);
        free(back);
    }
    assert_int_equal(access("/tmp/spamstop-pwned", F_OK), -1);
}

/* The quoted form is exactly POSIX single quoting. */
static void test_shquote_form(void **state)
{
    char *q;
    struct buf b;

    (void)state;
    q = shquote("a'b");
    assert_string_equal(q, "'a'\\''b'");
    free(q);
    q = shquote("");
    assert_string_equal(q, "''");
    free(q);
    /* A capped buffer reports the overflow instead of truncating. */
    buf_init(&b, 4);
    assert_int_equal(shquote_add(&b, "abcdef"), SS_ETOOBIG);
    buf_release(&b);
}

/* Makes a fresh private temporary folder; caller removes it. */
static void make_tmpdir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/spamstop-test-util-XXXXXX");
    assert_non_null(mkdtemp(out));
}

/* The temporary fsio_open_temp makes for path. */
static void temp_of(char *out, size_t size, const char *path)
{
    snprintf(out, size, "%s.%ld.tmp", path, (long)getpid());
}

/* Atomic write leaves the data with the mode, no temporary file. */
static void test_fsio_write_read(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], path[128], tmp[160];
    char *data = NULL;
    size_t len = 0;
    struct stat st;

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(fsio_write_atomic(path, "hello", 5, 0600, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fsio_read_file(&data, &len, path, 100, &err), 0);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    free(data);
    data = NULL;
    snprintf(tmp, sizeof(tmp), "%s/missing", dir);
    assert_int_equal(fsio_read_file(&data, &len, tmp, 4, &err), SS_ENOENT);
    assert_non_null(strstr(err.msg, "missing"));
    unlink(path);
    rmdir(dir);
}

/* A file over the limit is SS_ETOOBIG, the code callers act on. */
static void test_fsio_read_cap_code(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], path[128];
    char *data = NULL;
    size_t len = 0;
    int r;

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(fsio_write_atomic(path, "hello", 5, 0600, &err), 0);
    r = fsio_read_file(&data, &len, path, 4, &err);
    unlink(path);
    rmdir(dir);
    assert_null(data);
    assert_int_equal(err.code, SS_ETOOBIG);
    assert_non_null(strstr(err.msg, "larger than 4 bytes"));
    assert_int_equal(r, SS_ETOOBIG);
}

/* An injected failure keeps the old content and leaves no temporary. */
static void test_fsio_fail_after(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], path[128];
    char *data = NULL;
    int fd = -1;

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(fsio_write_atomic(path, "old", 3, 0600, &err), 0);
    fsio_fail_after = 1;
    assert_int_equal(fsio_write_atomic(path, "new", 3, 0600, &err), SS_ERR);
    assert_non_null(strstr(err.msg, "No space left"));
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "old");
    free(data);
    /* Only f is left in the folder: the temporary was removed. */
    assert_int_equal(files_in(dir), 1);
    /* A failed commit (the second operation) keeps the old content too. */
    fsio_fail_after = 2;
    assert_int_equal(fsio_write_atomic(path, "new", 3, 0600, &err), SS_ERR);
    assert_int_equal(fsio_fail_after, 0);
    assert_non_null(strstr(err.msg, "No space left"));
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "old");
    free(data);
    assert_int_equal(files_in(dir), 1);
    /* The third append from now fails; the first two land. */
    unlink(path);
    assert_int_equal(fsio_open_append(&fd, path, &err), 0);
    fsio_fail_after = 3;
    assert_int_equal(fsio_append(fd, "a", 1, 1, &err), 0);
    assert_int_equal(fsio_append(fd, "b", 1, 0, &err), 0);
    assert_int_equal(fsio_append(fd, "c", 1, 1, &err), SS_ERR);
    assert_int_equal(fsio_append(fd, "d", 1, 1, &err), 0);
    assert_int_equal(fsio_fail_after, 0);
    close(fd);
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "abd");
    free(data);
    unlink(path);
    rmdir(dir);
}

/* mkdirs makes nested folders; the private-folder check refuses others. */
static void test_fsio_dirs(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], sub[160], top[128];

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(top, sizeof(top), "%s/a", dir);
    snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
    assert_int_equal(fsio_mkdirs(sub, 0700, &err), 0);
    assert_int_equal(fsio_mkdirs(sub, 0700, &err), 0);
    assert_int_equal(fsio_check_private_dir(sub, &err), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    assert_int_equal(fsio_check_private_dir(sub, &err), SS_EINVAL);
    assert_non_null(strstr(err.msg, "writable by others"));
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    rmdir(sub);
    rmdir(top);
    rmdir(dir);
}

/* A temporary stays apart from path until committed, then replaces it. */
static void test_fsio_temp_commit(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], path[128], tmp[160];
    char *data = NULL;
    struct stat st;
    int fd = -1;

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/ev", dir);
    temp_of(tmp, sizeof(tmp), path);
    assert_int_equal(fsio_open_temp(&fd, path, 0600, &err), 0);
    assert_true(fd >= 0);
    assert_int_equal(fsio_append(fd, "part one, ", 10, 0, &err), 0);
    assert_int_equal(fsio_append(fd, "part two", 8, 0, &err), 0);
    /* Half-way, the final name does not exist: only the temporary does. */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_equal(fsio_commit_temp(&fd, path, &err), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "part one, part two");
    free(data);
    /* An aborted one leaves path as it was and nothing else. */
    assert_int_equal(fsio_open_temp(&fd, path, 0600, &err), 0);
    assert_int_equal(fsio_append(fd, "other", 5, 0, &err), 0);
    fsio_abort_temp(&fd, path);
    assert_int_equal(fd, -1);
    fsio_abort_temp(&fd, path); /* twice is harmless */
    assert_int_equal(files_in(dir), 1);
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "part one, part two");
    free(data);
    unlink(path);
    rmdir(dir);
}

/*
 * Failing each operation of a temporary's life in turn (two appends, then
 * the commit): the failure is reported, path keeps its old content, and
 * no temporary is left.
 */
static void test_fsio_temp_faults(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], path[128];
    char *data = NULL;
    int k, r, fd;

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/ev", dir);
    assert_int_equal(fsio_write_atomic(path, "old", 3, 0600, &err), 0);
    for (k = 1; k <= 3; k++) {
        errbuf_clear(&err);
        fd = -1;
        assert_int_equal(fsio_open_temp(&fd, path, 0600, &err), 0);
        fsio_fail_after = k;
        r = fsio_append(fd, "new ", 4, 0, &err);
        if (r == 0)
            r = fsio_append(fd, "content", 7, 0, &err);
        if (r == 0)
            r = fsio_commit_temp(&fd, path, &err);
        else
            fsio_abort_temp(&fd, path);
        assert_int_equal(r, SS_ERR);
        assert_int_equal(fsio_fail_after, 0);
        assert_int_equal(fd, -1);
        assert_non_null(strstr(err.msg, "No space left"));
        assert_int_equal(files_in(dir), 1);
        assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
        assert_string_equal(data, "old");
        free(data);
        data = NULL;
    }
    unlink(path);
    rmdir(dir);
}

/* A truncation cuts and reports an injected failure, changing nothing. */
static void test_fsio_truncate(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char dir[64], path[128];
    char *data = NULL;
    int fd = -1;

    (void)state;
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/log", dir);
    assert_int_equal(fsio_open_append(&fd, path, &err), 0);
    assert_int_equal(fsio_append(fd, "whole\ntorn", 10, 1, &err), 0);
    fsio_fail_after = 1;
    assert_int_equal(fsio_truncate(fd, 6, &err), SS_ERR);
    assert_non_null(strstr(err.msg, "No space left"));
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "whole\ntorn");
    free(data);
    assert_int_equal(fsio_truncate(fd, 6, &err), 0);
    assert_int_equal(fsio_read_file(&data, NULL, path, 100, &err), 0);
    assert_string_equal(data, "whole\n");
    free(data);
    close(fd);
    unlink(path);
    rmdir(dir);
}

/* Counters the pool tests share between threads. */
struct pool_probe {
    pthread_mutex_t lock;
    int running;
    int max_running;
    int calls[64];
    size_t n;
};

static void pool_job(void *arg, size_t i)
{
    struct pool_probe *p = arg;

    pthread_mutex_lock(&p->lock);
    p->calls[i]++;
    p->running++;
    if (p->running > p->max_running)
        p->max_running = p->running;
    pthread_mutex_unlock(&p->lock);
    usleep(20000);
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_mutex_unlock(&p->lock);
}

/* Skips every odd job. */
static int pool_even_only(void *arg, size_t i)
{
    (void)arg;
    return (i % 2) == 0;
}

/* Each job runs once, never more than forks at a time, and in parallel. */
static void test_pool_bounds(void **state)
{
    struct pool_probe p;
    size_t i;

    (void)state;
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.lock, NULL);
    assert_int_equal(pool_run(40, 4, pool_job, NULL, &p), 0);
    for (i = 0; i < 40; i++)
        assert_int_equal(p.calls[i], 1);
    assert_true(p.max_running <= 4);
    assert_true(p.max_running >= 2);
    memset(p.calls, 0, sizeof(p.calls));
    p.max_running = 0;
    assert_int_equal(pool_run(10, 0, pool_job, NULL, &p), 0);
    assert_int_equal(p.max_running, 1);
    memset(p.calls, 0, sizeof(p.calls));
    assert_int_equal(pool_run(10, 3, pool_job, pool_even_only, &p), 0);
    for (i = 0; i < 10; i++)
        assert_int_equal(p.calls[i], i % 2 == 0 ? 1 : 0);
    assert_int_equal(pool_run(0, 3, pool_job, NULL, &p), 0);
    pthread_mutex_destroy(&p.lock);
}

/* Known SHA-256 vectors, one-shot and streamed in pieces. */
static void test_digest_vectors(void **state)
{
    static const char abc_hex[] =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    static const char empty_hex[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    char hex[SHA256_HEX_LEN + 1];
    unsigned char md[SHA256_LEN];
    struct sha256_ctx c;
    unsigned char r1[32], r2[32];

    (void)state;
    assert_int_equal(sha256_hex(hex, "abc", 3), 0);
    assert_string_equal(hex, abc_hex);
    assert_int_equal(sha256_hex(hex, "", 0), 0);
    assert_string_equal(hex, empty_hex);
    assert_int_equal(sha256_begin(&c), 0);
    assert_int_equal(sha256_update(&c, "a", 1), 0);
    assert_int_equal(sha256_update(&c, "", 0), 0);
    assert_int_equal(sha256_update(&c, "bc", 2), 0);
    assert_int_equal(sha256_end(&c, md), 0);
    assert_null(c.md);
    hex_encode(hex, md, SHA256_LEN);
    assert_string_equal(hex, abc_hex);
    assert_int_equal(sha256_begin(&c), 0);
    sha256_abort(&c);
    sha256_abort(&c);
    assert_int_equal(random_bytes(r1, sizeof(r1)), 0);
    assert_int_equal(random_bytes(r2, sizeof(r2)), 0);
    assert_memory_not_equal(r1, r2, sizeof(r1));
}

/* Messages keep the code, format, prefix and errno text. */
static void test_errbuf(void **state)
{
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(errbuf_set(&e, SS_ETIMEOUT, "x '%s'", "h1"), SS_ETIMEOUT);
    assert_string_equal(e.msg, "x 'h1'");
    errbuf_prefix(&e, "host '%s'", "h1");
    assert_string_equal(e.msg, "host 'h1': x 'h1'");
    assert_int_equal(e.code, SS_ETIMEOUT);
    errno = ENOENT;
    assert_int_equal(errbuf_errno(&e, SS_ERR, "open 'f'"), SS_ERR);
    assert_string_equal(e.msg, "open 'f': No such file or directory");
    errbuf_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(e.msg, "");
    assert_int_equal(errbuf_set(NULL, SS_EAUTH, "ignored"), SS_EAUTH);
    assert_string_equal(ss_code_name(SS_EHOSTKEY), "host key");
    assert_string_equal(ss_code_name(-999), "error");
}

/* UTF-8: valid sequences pass, every malformed kind is refused. */
static void test_utf8(void **state)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"plain ascii", true},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", true},
        {"\xc3", false},             /* truncated */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong, 3 bytes */
        {"\xed\xa0\x80", false},     /* surrogate */
        {"\xf4\x90\x80\x80", false}, /* past U+10FFFF */
        {"\xff", false},
        {"ok \x80 then", false}, /* lone continuation byte */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(utf8_valid(cases[i].s, strlen(cases[i].s)),
                         cases[i].ok);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
}

/* Host names become file names: nothing can climb out of the folder. */
static void test_fsname_escape(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(fsname_escape(&b, "mx1.example-net_2"), 0);
    assert_string_equal(b.data, "mx1.example-net_2");
    buf_reset(&b);
    assert_int_equal(fsname_escape(&b, "../etc/passwd"), 0);
    assert_string_equal(b.data, "%2E.%2Fetc%2Fpasswd");
    buf_reset(&b);
    assert_int_equal(fsname_escape(&b, "a b:c"), 0);
    assert_string_equal(b.data, "a%20b%3Ac");
    buf_release(&b);
}

/* hmap: a key is added once, found after, absent keys are not found. */
static void test_hmap_put_get(void **state)
{
    struct hmap m = HMAP_INIT;
    char key[] = "alpha";
    size_t *v, got = 99;

    (void)state;
    assert_int_equal(hmap_get(&got, &m, "alpha"), SS_ENOENT);
    assert_int_equal(got, 99);
    assert_int_equal(hmap_put(&v, &m, key, 7), 1);
    assert_int_equal(*v, 7);
    (*v)++;
    assert_int_equal(hmap_put(&v, &m, "beta", 1), 1);
    /* an equal string, not the same pointer, finds the entry */
    assert_int_equal(hmap_put(&v, &m, "alpha", 100), 0);
    assert_int_equal(*v, 8);
    assert_int_equal(hmap_get(&got, &m, "alpha"), 0);
    assert_int_equal(got, 8);
    assert_int_equal(hmap_get(&got, &m, "alph"), SS_ENOENT);
    assert_int_equal(hmap_get(&got, &m, ""), SS_ENOENT);
    assert_int_equal(hmap_put(&v, &m, "", 3), 1);
    assert_int_equal(hmap_get(&got, &m, ""), 0);
    assert_int_equal(got, 3);
    assert_int_equal(m.n, 3);
    hmap_release(&m);
    assert_int_equal(m.n, 0);
    assert_int_equal(hmap_get(&got, &m, "alpha"), SS_ENOENT);
    hmap_release(&m);
    hmap_release(NULL);
}

/* hmap: 20,000 keys across many growths, each found, each visited once. */
static void test_hmap_many(void **state)
{
    enum { N = 20000 };
    struct hmap m;
    const struct hmap_slot *s;
    char(*keys)[16] = calloc(N, sizeof(*keys));
    unsigned char *seen = calloc(N, 1);
    size_t i, got, *v, pos = 0, visited = 0;

    (void)state;
    assert_non_null(keys);
    assert_non_null(seen);
    hmap_init(&m, N);
    for (i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%zu", i * 7919);
        assert_int_equal(hmap_put(&v, &m, keys[i], i), 1);
    }
    assert_int_equal(m.n, N);
    assert_true(m.cap >= 2 * N && (m.cap & (m.cap - 1)) == 0);
    for (i = 0; i < N; i++) {
        char probe[16];
        snprintf(probe, sizeof(probe), "k%zu", i * 7919);
        assert_int_equal(hmap_get(&got, &m, probe), 0);
        assert_int_equal(got, i);
    }
    while (hmap_next(&s, &m, &pos)) {
        assert_true(s->value < N);
        assert_false(seen[s->value]);
        assert_ptr_equal(s->key, keys[s->value]);
        seen[s->value] = 1;
        visited++;
    }
    assert_int_equal(visited, N);
    assert_false(hmap_next(&s, &m, &pos));
    hmap_release(&m);
    free(seen);
    free(keys);
}

/* hmap: past max a new key is refused, known keys are still found. */
static void test_hmap_cap(void **state)
{
    struct hmap m;
    size_t *v, got;
    const struct hmap_slot *s;
    size_t pos = 0;

    (void)state;
    hmap_init(&m, 2);
    assert_false(hmap_next(&s, &m, &pos));
    assert_int_equal(hmap_put(&v, &m, "a", 1), 1);
    assert_int_equal(hmap_put(&v, &m, "b", 2), 1);
    assert_int_equal(hmap_put(&v, &m, "c", 3), SS_ETOOBIG);
    assert_int_equal(hmap_get(&got, &m, "c"), SS_ENOENT);
    assert_int_equal(hmap_put(&v, &m, "b", 9), 0);
    assert_int_equal(*v, 2);
    assert_int_equal(m.n, 2);
    /* release empties the map and keeps its cap */
    hmap_release(&m);
    assert_int_equal(m.max, 2);
    assert_int_equal(hmap_put(&v, &m, "c", 3), 1);
    hmap_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_fsname_escape),
        cmocka_unit_test(test_buf_cap_overflow_math),
        cmocka_unit_test(test_buf_grow_detach),
        cmocka_unit_test(test_shquote_roundtrip),
        cmocka_unit_test(test_shquote_form),
        cmocka_unit_test(test_fsio_write_read),
        cmocka_unit_test(test_fsio_read_cap_code),
        cmocka_unit_test(test_fsio_fail_after),
        cmocka_unit_test(test_fsio_dirs),
        cmocka_unit_test(test_fsio_temp_commit),
        cmocka_unit_test(test_fsio_temp_faults),
        cmocka_unit_test(test_fsio_truncate),
        cmocka_unit_test(test_pool_bounds),
        cmocka_unit_test(test_digest_vectors),
        cmocka_unit_test(test_errbuf),
        cmocka_unit_test(test_hmap_put_get),
        cmocka_unit_test(test_hmap_many),
        cmocka_unit_test(test_hmap_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
