/* Unit tests of the audit trail: writing, chaining, tampering, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>

#include "spamstop/audit.h"
#include "spamstop/fsio.h"

#define NREC 10

/* A scratch folder per test, removed by audit_teardown. */
struct fixture {
    char dir[64];
    char path[128];
};

/* Creates the scratch folder. */
static int audit_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ss-audit-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/audit.jsonl", fx->dir);
    *state = fx;
    return 0;
}

/* Removes the scratch folder. */
static int audit_teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

/* Reads the whole trail. */
static char *slurp(const char *path, size_t *len)
{
    char *data = NULL;
    struct errbuf err = ERRBUF_INIT;

    assert_int_equal(fsio_read_file(&data, len, path, 1 << 26, &err), 0);
    return data;
}

/* Appends the sample record number i (1-based) with varied content. */
static void append_sample(struct audit *a, int i)
{
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct exec_result res;
    struct errbuf err = ERRBUF_INIT;
    char host[32], cmd[64];
    int k;

    exec_result_init(&res);
    snprintf(host, sizeof(host), "mx%d.example.net", i % 3);
    snprintf(cmd, sizeof(cmd), "postqueue -j # %d", i);
    rec.event = i == 1 ? "run-start" : "command";
    rec.host = i == 1 ? NULL : host;
    rec.fingerprint = i == 1 ? NULL : "SHA256:abcdef";
    rec.step = "identify";
    rec.phase = "probe";
    rec.command = i == 1 ? NULL : cmd;
    if (i % 2 == 0) {
        /* Output that is not UTF-8 and holds a NUL. */
        assert_int_equal(buf_add(&res.out, "ok\xff\xfe\0x\xc3\xa9", 8), 0);
        res.out_bytes = 8;
    } else if (i % 3 == 0) {
        /* More than the excerpt keeps, cut inside a UTF-8 sequence. */
        for (k = 0; k < 1500; k++)
            assert_int_equal(buf_adds(&res.out, "\xc3\xa9"), 0);
        res.out_bytes = res.out.len + 100;
    }
    assert_int_equal(buf_adds(&res.err, "warning\n"), 0);
    res.err_bytes = res.err.len;
    res.exit_status = i == 5 ? -1 : i % 2;
    if (i == 5)
        snprintf(res.exit_signal, sizeof(res.exit_signal), "KILL");
    res.duration_ms = 10 * i;
    rec.result = i == 1 ? NULL : &res;
    rec.rc = i == 7 ? SS_ETIMEOUT : 0;
    rec.detail = "a detail";
    rec.extra_json = i == 4 ? "{\"messages\":3,\"ids\":[\"A1\",\"B2\"]}" : NULL;
    assert_int_equal(audit_append(a, &rec, &err), 0);
    exec_result_release(&res);
}

/* Writes the NREC-record sample trail and returns its anchor. */
static void write_sample(const char *path, struct audit_anchor *anchor)
{
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    int i;

    assert_int_equal(audit_open(&a, path, "run-1", &err), 0);
    for (i = 1; i <= NREC; i++)
        append_sample(a, i);
    audit_get_anchor(a, anchor);
    audit_close(a);
}

/* Start offset of each line, plus one past the end at index n. */
static size_t line_starts(size_t *starts, const char *data, size_t len)
{
    size_t n = 0, i;

    starts[n++] = 0;
    for (i = 0; i < len; i++)
        if (data[i] == '\n')
            starts[n++] = i + 1;
    return n - 1;
}

/* The 1-based line holding byte offset off. */
static size_t line_of(const size_t *starts, size_t n, size_t off)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (off >= starts[i] && off < starts[i + 1])
            return i + 1;
    return 0;
}

/* A fresh trail verifies, and its records hold what was handed over. */
static void test_audit_sample_ok(void **state)
{
    struct fixture *fx = *state;
    struct audit_anchor anchor;
    struct audit_verify_result vr;
    struct errbuf err = ERRBUF_INIT;
    size_t len, starts[NREC + 1];
    char *data;
    json_t *o, *data_obj;
    const char *s;

    write_sample(fx->path, &anchor);
    assert_int_equal(anchor.records, NREC);
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, NREC);
    assert_int_equal(vr.bad_line, 0);
    assert_string_equal(vr.head, anchor.head);
    assert_int_equal(audit_verify_file_anchor(&vr, fx->path, &anchor, &err), 0);
    assert_true(vr.ok);

    data = slurp(fx->path, &len);
    assert_int_equal(line_starts(starts, data, len), NREC);
    /* Record 1: the first prev is 64 zeros. */
    o = json_loadb(data, starts[1] - 1, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "prev")),
                        "00000000000000000000000000000000"
                        "00000000000000000000000000000000");
    assert_string_equal(json_string_value(json_object_get(o, "run")), "run-1");
    assert_true(strlen(json_string_value(json_object_get(o, "operator"))) > 0);
    s = json_string_value(json_object_get(o, "time"));
    assert_int_equal(strlen(s), 24);
    assert_int_equal(s[10], 'T');
    assert_int_equal(s[19], '.');
    assert_int_equal(s[23], 'Z');
    assert_null(json_object_get(o, "stdout_sha256"));
    json_decref(o);
    /* Record 4: non-UTF-8 bytes replaced and counted, data merged. */
    o = json_loadb(data + starts[3], starts[4] - starts[3] - 1, JSON_ALLOW_NUL,
                   NULL);
    assert_non_null(o);
    assert_int_equal(json_string_length(json_object_get(o, "stdout_excerpt")),
                     2 + 3 + 3 + 1 + 1 + 2);
    assert_int_equal(json_integer_value(json_object_get(o, "stdout_replaced")),
                     2);
    assert_false(json_is_true(json_object_get(o, "stdout_truncated")));
    assert_int_equal(json_integer_value(json_object_get(o, "stdout_bytes")), 8);
    data_obj = json_object_get(o, "data");
    assert_int_equal(json_integer_value(json_object_get(data_obj, "messages")),
                     3);
    assert_string_equal(json_string_value(json_object_get(o, "rc")), "ok");
    json_decref(o);
    /* Record 3: long output is cut to the excerpt on a character edge. */
    o = json_loadb(data + starts[2], starts[3] - starts[2] - 1, 0, NULL);
    assert_non_null(o);
    assert_true(json_is_true(json_object_get(o, "stdout_truncated")));
    assert_int_equal(json_string_length(json_object_get(o, "stdout_excerpt")),
                     AUDIT_EXCERPT_MAX);
    assert_null(json_object_get(o, "stdout_replaced"));
    json_decref(o);
    /* Record 5: killed by a signal; record 7: a timeout. */
    o = json_loadb(data + starts[4], starts[5] - starts[4] - 1, 0, NULL);
    assert_true(json_is_null(json_object_get(o, "exit")));
    assert_string_equal(json_string_value(json_object_get(o, "signal")),
                        "KILL");
    json_decref(o);
    o = json_loadb(data + starts[6], starts[7] - starts[6] - 1, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "rc")), "timeout");
    json_decref(o);
    free(data);
}

/* Flipping any single byte is caught, at the line that holds it. */
static void test_audit_every_byte_edit(void **state)
{
    struct fixture *fx = *state;
    struct audit_anchor anchor;
    struct audit_verify_result vr;
    size_t len, i, n, starts[NREC + 1], tried = 0;
    char *data;

    write_sample(fx->path, &anchor);
    data = slurp(fx->path, &len);
    n = line_starts(starts, data, len);
    for (i = 0; i < len; i++) {
        size_t line = line_of(starts, n, i);
        char saved = data[i];
        if (data[i] == '\n')
            continue;
        data[i] = (char)(data[i] ^ 0x01);
        if (data[i] == '\n')
            data[i] = 'x';
        assert_int_equal(audit_verify_string_anchor(&vr, data, len, &anchor),
                         0);
        if (vr.ok || vr.bad_line != line)
            fail_msg("byte %zu (line %zu) edited: ok=%d bad_line=%zu (%s)", i,
                     line, vr.ok, vr.bad_line, vr.reason);
        /* Without the anchor every edit but the last record's is found,
         * at its line or the next. */
        assert_int_equal(audit_verify_string(&vr, data, len), 0);
        if (line < n) {
            assert_false(vr.ok);
            assert_true(vr.bad_line == line || vr.bad_line == line + 1);
        }
        data[i] = saved;
        tried++;
    }
    assert_true(tried > NREC * 200);
    free(data);
}

/* Changing one field's value in each record is caught at that record. */
static void test_audit_every_field_edit(void **state)
{
    static const char *const fields[] = {"host", "detail", "time", "operator",
                                         "event"};
    struct fixture *fx = *state;
    struct audit_anchor anchor;
    struct audit_verify_result vr;
    size_t len, k, f, n, starts[NREC + 1];
    char *data;

    write_sample(fx->path, &anchor);
    data = slurp(fx->path, &len);
    n = line_starts(starts, data, len);
    for (k = 0; k < n; k++) {
        for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            struct buf b = BUF_INIT;
            json_t *o =
                json_loadb(data + starts[k], starts[k + 1] - starts[k] - 1,
                           JSON_ALLOW_NUL, NULL);
            char *line;
            assert_non_null(o);
            json_object_set_new(o, fields[f], json_string("forged"));
            line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            assert_int_equal(buf_add(&b, data, starts[k]), 0);
            assert_int_equal(buf_adds(&b, line), 0);
            assert_int_equal(
                buf_add(&b, data + starts[k + 1] - 1, len - starts[k + 1] + 1),
                0);
            assert_int_equal(
                audit_verify_string_anchor(&vr, b.data, b.len, &anchor), 0);
            assert_false(vr.ok);
            assert_int_equal(vr.bad_line, k + 1);
            assert_non_null(strstr(vr.reason, "edited"));
            free(line);
            json_decref(o);
            buf_release(&b);
        }
    }
    free(data);
}

/* Deleting any one record is caught at its line. */
static void test_audit_every_deletion(void **state)
{
    struct fixture *fx = *state;
    struct audit_anchor anchor;
    struct audit_verify_result vr;
    size_t len, k, n, starts[NREC + 1];
    char *data;

    write_sample(fx->path, &anchor);
    data = slurp(fx->path, &len);
    n = line_starts(starts, data, len);
    for (k = 0; k < n; k++) {
        struct buf b = BUF_INIT;
        assert_int_equal(buf_add(&b, data, starts[k]), 0);
        assert_int_equal(buf_add(&b, data + starts[k + 1], len - starts[k + 1]),
                         0);
        assert_int_equal(audit_verify_string_anchor(&vr, b.data ? b.data : "",
                                                    b.len, &anchor),
                         0);
        assert_false(vr.ok);
        assert_int_equal(vr.bad_line, k + 1);
        assert_int_equal(audit_verify_string(&vr, b.data ? b.data : "", b.len),
                         0);
        if (k + 1 < n) {
            assert_false(vr.ok);
            assert_int_equal(vr.bad_line, k + 1);
        } else {
            /* A cut tail is invisible to the chain alone: the anchor is
             * what catches it (docs/audit.md). */
            assert_true(vr.ok);
            assert_int_equal(vr.records, n - 1);
        }
        buf_release(&b);
    }
    free(data);
}

/* Swapping any two neighbours is caught at the first of them. */
static void test_audit_every_swap(void **state)
{
    struct fixture *fx = *state;
    struct audit_anchor anchor;
    struct audit_verify_result vr;
    size_t len, k, n, starts[NREC + 1];
    char *data;

    write_sample(fx->path, &anchor);
    data = slurp(fx->path, &len);
    n = line_starts(starts, data, len);
    for (k = 0; k + 1 < n; k++) {
        struct buf b = BUF_INIT;
        assert_int_equal(buf_add(&b, data, starts[k]), 0);
        assert_int_equal(
            buf_add(&b, data + starts[k + 1], starts[k + 2] - starts[k + 1]),
            0);
        assert_int_equal(
            buf_add(&b, data + starts[k], starts[k + 1] - starts[k]), 0);
        assert_int_equal(buf_add(&b, data + starts[k + 2], len - starts[k + 2]),
                         0);
        assert_int_equal(b.len, len);
        assert_int_equal(audit_verify_string(&vr, b.data, b.len), 0);
        assert_false(vr.ok);
        assert_int_equal(vr.bad_line, k + 1);
        assert_non_null(strstr(vr.reason, "reordered"));
        buf_release(&b);
    }
    free(data);
}

/* A duplicated record, and a forged one chained in, are found. */
static void test_audit_insertion(void **state)
{
    struct fixture *fx = *state;
    struct audit_anchor anchor;
    struct audit_verify_result vr;
    size_t len, k, n, starts[NREC + 1];
    char *data;

    write_sample(fx->path, &anchor);
    data = slurp(fx->path, &len);
    n = line_starts(starts, data, len);
    for (k = 0; k < n; k++) {
        struct buf b = BUF_INIT;
        assert_int_equal(buf_add(&b, data, starts[k + 1]), 0);
        assert_int_equal(buf_add(&b, data + starts[k], len - starts[k]), 0);
        assert_int_equal(audit_verify_string(&vr, b.data, b.len), 0);
        assert_false(vr.ok);
        assert_true(vr.bad_line == k + 1 || vr.bad_line == k + 2);
        buf_release(&b);
    }
    /* A forged record 3 with the right prev, before the real record 3. */
    {
        struct buf b = BUF_INIT;
        char prevhex[SHA256_HEX_LEN + 1];
        json_t *o =
            json_loadb(data + starts[2], starts[3] - starts[2] - 1, 0, NULL);
        char *line;
        assert_int_equal(
            sha256_hex(prevhex, data + starts[1], starts[2] - starts[1] - 1),
            0);
        json_object_set_new(o, "command", json_string("rm -rf /"));
        json_object_set_new(o, "prev", json_string(prevhex));
        line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_int_equal(buf_add(&b, data, starts[2]), 0);
        assert_int_equal(buf_adds(&b, line), 0);
        assert_int_equal(buf_addc(&b, '\n'), 0);
        assert_int_equal(buf_add(&b, data + starts[2], len - starts[2]), 0);
        assert_int_equal(audit_verify_string(&vr, b.data, b.len), 0);
        assert_false(vr.ok);
        assert_int_equal(vr.bad_line, 3);
        assert_non_null(strstr(vr.reason, "inserted"));
        free(line);
        json_decref(o);
        buf_release(&b);
    }
    free(data);
}

/* Reopening continues the chain; a damaged or foreign trail is refused. */
static void test_audit_reopen(void **state)
{
    struct fixture *fx = *state;
    struct audit_anchor anchor, anchor2;
    struct audit_verify_result vr;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    char *data;
    size_t len;
    FILE *f;

    write_sample(fx->path, &anchor);
    assert_int_equal(audit_open(&a, fx->path, "run-1", &err), 0);
    audit_get_anchor(a, &anchor2);
    assert_int_equal(anchor2.records, NREC);
    assert_string_equal(anchor2.head, anchor.head);
    append_sample(a, 11);
    append_sample(a, 12);
    audit_close(a);
    assert_int_equal(audit_verify_file_anchor(&vr, fx->path, &anchor, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, NREC + 2);

    a = NULL;
    assert_int_equal(audit_open(&a, fx->path, "run-2", &err), SS_ECORRUPT);
    assert_null(a);
    assert_non_null(strstr(err.msg, "belongs to run 'run-1'"));

    /*
     * A half-written last line (a crash mid-write) is what a killed
     * controller leaves: verify reports it, reopening cuts it and says so
     * in a note, and the chain goes on intact.
     */
    f = fopen(fx->path, "a");
    assert_non_null(f);
    fputs("{\"seq\":13,", f);
    fclose(f);
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    assert_false(vr.ok);
    assert_non_null(strstr(vr.reason, "line 13 is incomplete"));
    assert_int_equal(audit_open(&a, fx->path, "run-1", &err), 0);
    audit_close(a);
    a = NULL;
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, NREC + 3);
    data = slurp(fx->path, &len);
    assert_non_null(strstr(data, "\"event\":\"note\""));
    assert_non_null(strstr(data, "cut 10 bytes"));
    assert_null(strstr(data, "{\"seq\":13,{"));
    free(data);

    /* An edited record is refused. */
    data = slurp(fx->path, &len);
    data[20] ^= 1;
    assert_int_equal(fsio_write_atomic(fx->path, data, len - 10, 0600, &err),
                     0);
    assert_int_equal(audit_open(&a, fx->path, "run-1", &err), SS_ECORRUPT);
    free(data);
}

/* A failed write leaves the chain where it was; a bad data object too. */
static void test_audit_write_failure(void **state)
{
    struct fixture *fx = *state;
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct audit_verify_result vr;
    struct audit_anchor anchor;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;

    assert_int_equal(audit_open(&a, fx->path, "run-w", &err), 0);
    rec.event = "note";
    assert_int_equal(audit_append(a, &rec, &err), 0);
    fsio_fail_after = 1;
    assert_int_equal(audit_append(a, &rec, &err), SS_ERR);
    assert_non_null(strstr(err.msg, "cannot write audit trail"));
    rec.extra_json = "[1,2]";
    assert_int_equal(audit_append(a, &rec, &err), SS_EINVAL);
    rec.extra_json = "{broken";
    assert_int_equal(audit_append(a, &rec, &err), SS_EINVAL);
    rec.extra_json = NULL;
    assert_int_equal(audit_append(a, &rec, &err), 0);
    audit_get_anchor(a, &anchor);
    assert_int_equal(anchor.records, 2);
    audit_close(a);
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, 2);
}

/*
 * A short write (the disk fills in the middle of a record, here a file
 * size limit) is cut off: when space comes back, the next record follows
 * the last whole one and the trail still verifies.
 */
static void test_audit_short_write_is_cut(void **state)
{
    struct fixture *fx = *state;
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct audit_verify_result vr;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct rlimit old, lim;
    struct stat st;
    void (*prev)(int);

    assert_int_equal(audit_open(&a, fx->path, "run-s", &err), 0);
    rec.event = "note";
    rec.detail = "a record of some length, longer than the room left";
    assert_int_equal(audit_append(a, &rec, &err), 0);
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 40;
    prev = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(audit_append(a, &rec, &err), SS_ERR);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_size, (off_t)lim.rlim_cur - 40); /* cut back */
    assert_int_equal(audit_append(a, &rec, &err), 0);
    audit_close(a);
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, 2);
}

struct thread_arg {
    struct audit *a;
    int id;
};

/* Appends 200 records from one thread. */
static void *append_many(void *p)
{
    struct thread_arg *t = p;
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct exec_result res;
    struct errbuf err = ERRBUF_INIT;
    char host[32];
    int i;

    snprintf(host, sizeof(host), "host%d", t->id);
    for (i = 0; i < 200; i++) {
        exec_result_init(&res);
        if (buf_adds(&res.out, "some output of the command\n") < 0)
            return (void *)1;
        res.out_bytes = res.out.len;
        res.exit_status = 0;
        rec.event = "command";
        rec.host = host;
        rec.command = "postcat -e -q ABC";
        rec.result = &res;
        if (audit_append(t->a, &rec, &err) != 0)
            return (void *)1;
        exec_result_release(&res);
    }
    return NULL;
}

/* Eight threads appending at once still give one valid chain. */
static void test_audit_threads(void **state)
{
    struct fixture *fx = *state;
    struct audit_verify_result vr;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    pthread_t th[8];
    struct thread_arg args[8];
    void *rv;
    int i;

    assert_int_equal(audit_open(&a, fx->path, "run-t", &err), 0);
    for (i = 0; i < 8; i++) {
        args[i].a = a;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, append_many, &args[i]),
                         0);
    }
    for (i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], &rv), 0);
        assert_null(rv);
    }
    audit_close(a);
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    if (!vr.ok)
        fail_msg("%s", vr.reason);
    assert_int_equal(vr.records, 1600);
}

/* The timeline shows the records, with terminal escapes defused. */
static void test_audit_show(void **state)
{
    struct fixture *fx = *state;
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct exec_result res;
    char out[8192];
    size_t n;
    FILE *f;

    assert_int_equal(audit_open(&a, fx->path, "run-s", &err), 0);
    exec_result_init(&res);
    res.exit_status = 3;
    res.duration_ms = 42;
    rec.event = "command";
    rec.host = "mx1";
    rec.step = "stop-smtp";
    rec.phase = "apply";
    rec.command = "echo \x1b]0;pwned\x07";
    rec.result = &res;
    assert_int_equal(audit_append(a, &rec, &err), 0);
    audit_close(a);
    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(audit_show(f, fx->path, &err), 0);
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    assert_non_null(strstr(out, "mx1"));
    assert_non_null(strstr(out, "stop-smtp"));
    assert_non_null(strstr(out, "apply"));
    assert_non_null(strstr(out, " 3 "));
    assert_non_null(strstr(out, "42"));
    assert_non_null(strstr(out, "echo \\x1b]0;pwned\\x07"));
    assert_null(strchr(out, '\x1b'));
    assert_non_null(strstr(out, "1 records, chain intact"));
    assert_int_equal(audit_show(stdout, "/nonexistent/x", &err), SS_ENOENT);
}

/*
 * A torn end that cannot be cut (the disk fails the truncation) fails the
 * open and leaves the file as it was; once the disk is back, the open
 * cuts it and notes the cut.
 */
static void test_audit_cut_failure(void **state)
{
    struct fixture *fx = *state;
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct audit_verify_result vr;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct stat before, after;
    FILE *f;

    assert_int_equal(audit_open(&a, fx->path, "run-c", &err), 0);
    rec.event = "note";
    assert_int_equal(audit_append(a, &rec, &err), 0);
    audit_close(a);
    assert_non_null(f = fopen(fx->path, "a"));
    assert_true(fputs("{\"seq\":2,{", f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(stat(fx->path, &before), 0);
    fsio_fail_after = 1;
    assert_int_equal(audit_open(&a, fx->path, "run-c", &err), SS_ERR);
    assert_int_equal(fsio_fail_after, 0);
    assert_null(a);
    assert_non_null(strstr(err.msg, "cannot cut the torn end"));
    assert_non_null(strstr(err.msg, "No space left"));
    assert_int_equal(stat(fx->path, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(audit_open(&a, fx->path, "run-c", &err), 0);
    audit_close(a);
    assert_int_equal(audit_verify_file(&vr, fx->path, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, 2);
}

/* A timeline the output stream cannot take is an error, not a success. */
static void test_audit_show_full(void **state)
{
    struct fixture *fx = *state;
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct audit *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    FILE *f;

    assert_int_equal(audit_open(&a, fx->path, "run-f", &err), 0);
    rec.event = "note";
    assert_int_equal(audit_append(a, &rec, &err), 0);
    audit_close(a);
    f = fopen("/dev/full", "w");
    if (f == NULL)
        skip();
    assert_int_equal(audit_show(f, fx->path, &err), SS_ERR);
    assert_non_null(strstr(err.msg, "cannot print the timeline"));
    fclose(f);
}

/* Anchors parse from "N:HEX" and "N" only. */
static void test_audit_anchor_parse(void **state)
{
    struct audit_anchor an;
    char s[80];

    (void)state;
    snprintf(s, sizeof(s), "12:%064d", 0);
    assert_int_equal(audit_anchor_parse(&an, s), 0);
    assert_int_equal(an.records, 12);
    assert_int_equal(strlen(an.head), 64);
    assert_int_equal(audit_anchor_parse(&an, "7"), 0);
    assert_int_equal(an.head[0], '\0');
    assert_int_equal(audit_anchor_parse(&an, "x"), SS_EINVAL);
    assert_int_equal(audit_anchor_parse(&an, "7:abc"), SS_EINVAL);
    assert_int_equal(audit_anchor_parse(&an, "-1"), SS_EINVAL);
    assert_int_equal(audit_anchor_parse(&an, "3x:"), SS_EINVAL);
}

/* Odd inputs: empty, blank lines, non-objects. */
static void test_audit_odd_inputs(void **state)
{
    struct audit_verify_result vr;

    (void)state;
    assert_int_equal(audit_verify_string(&vr, "", 0), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.records, 0);
    assert_int_equal(audit_verify_string(&vr, "\n", 1), 0);
    assert_false(vr.ok);
    assert_int_equal(vr.bad_line, 1);
    assert_int_equal(audit_verify_string(&vr, "[1]\n", 4), 0);
    assert_false(vr.ok);
    assert_int_equal(audit_verify_string(&vr, "{\"seq\":1}\n", 10), 0);
    assert_false(vr.ok);
    assert_non_null(strstr(vr.reason, "damaged"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audit_sample_ok, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_every_byte_edit, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_every_field_edit,
                                        audit_setup, audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_every_deletion, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_every_swap, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_insertion, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_reopen, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_write_failure, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_short_write_is_cut,
                                        audit_setup, audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_threads, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_show, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_cut_failure, audit_setup,
                                        audit_teardown),
        cmocka_unit_test_setup_teardown(test_audit_show_full, audit_setup,
                                        audit_teardown),
        cmocka_unit_test(test_audit_anchor_parse),
        cmocka_unit_test(test_audit_odd_inputs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
