/*
 * Micro-benchmark of the identify pass's parser and analysis, in memory:
 * a postcat fixture repeated (ids renamed) to the wanted size, parsed
 * copying and in place, then identify; median and fastest of the rounds.
 * Build (against a build folder's libraries) and run, as in
 * docs/performance.md, "Parser fast paths":
 *   cmake --build build --target ss_postfix ss_util
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
 *      -Ilib/include -Ilib bench/parse_bench.c build/libss_postfix.a \
 *      build/libss_util.a -ljansson -lcrypto -lpthread -o /tmp/parse_bench
 *   /tmp/parse_bench tests/fixtures/postfix/identify-lab.txt 50000 11
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"

#define ROUNDS_MAX 101

/* Seconds since an arbitrary start. */
static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Orders doubles ascending. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/*
 * Appends copy c of the fixture: each marker's queue id gets c as four
 * more hex digits, so every copy's ids are new, and so does each subject
 * (spam subjects are mostly distinct: tests/lab/smtp_stage.py).
 */
static int repeat(struct buf *b, const char *text, size_t len, unsigned c)
{
    const char *s = text, *end = text + len, *nl;
    size_t n;

    for (; s < end; s = nl + 1) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            nl = end;
        n = (size_t)(nl - s);
        if (n > 8 && memcmp(s, "*** ", 4) == 0 &&
            memcmp(s + n - 4, " ***", 4) == 0 && memchr(s, '/', n) != NULL &&
            memcmp(s, "*** SPAMSTOP", 12) != 0) {
            if (buf_printf(b, "%.*s%04X ***\n", (int)(n - 4), s, c) < 0)
                return -1;
        } else if (n > 9 && memcmp(s, "Subject: ", 9) == 0) {
            if (buf_printf(b, "%.*s %04X\n", (int)n, s, c) < 0)
                return -1;
        } else if (buf_add(b, s, n) < 0 || buf_addc(b, '\n') < 0) {
            return -1;
        }
        if (nl == end)
            break;
    }
    return 0;
}

/* Prints the median and fastest of n timings, with MB/s over bytes. */
static void report(const char *what, double *t, size_t n, size_t bytes)
{
    qsort(t, n, sizeof(*t), cmp_double);
    printf("%-16s median %8.2f ms  fastest %8.2f ms", what, t[n / 2] * 1e3,
           t[0] * 1e3);
    if (bytes > 0)
        printf("  %6.0f MB/s", (double)bytes / 1e6 / t[n / 2]);
    printf("\n");
}

int main(int argc, char **argv)
{
    struct errbuf err = ERRBUF_INIT;
    struct buf in = BUF_INIT;
    double copying[ROUNDS_MAX], in_place[ROUNDS_MAX], ident[ROUNDS_MAX], t0;
    char *fixture = NULL, *text = NULL;
    size_t len, want, per_copy, rounds, r, n = 0;
    unsigned c;

    if (argc < 2) {
        fprintf(stderr, "usage: parse_bench FIXTURE [MESSAGES] [ROUNDS]\n");
        return 2;
    }
    want = argc > 2 ? strtoul(argv[2], NULL, 10) : 50000;
    rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 11;
    if (rounds < 1 || rounds > ROUNDS_MAX || want < 1 || want > 1000000) {
        fprintf(stderr, "parse_bench: 1-%d rounds, 1-1000000 messages\n",
                ROUNDS_MAX);
        return 2;
    }
    if (fsio_read_file(&fixture, &len, argv[1], 64u << 20, &err) < 0) {
        fprintf(stderr, "parse_bench: %s\n", err.msg);
        return 1;
    }
    per_copy = 0;
    for (const char *p = fixture; (p = strstr(p, "*** ENVELOPE RECORDS")); p++)
        per_copy++;
    if (per_copy == 0 || (want + per_copy - 1) / per_copy > 0xffff) {
        fprintf(stderr, "parse_bench: no messages, or too many copies\n");
        return 1;
    }
    for (c = 0; n < want; c++, n += per_copy)
        if (repeat(&in, fixture, len, c) < 0)
            return 1;
    if ((text = malloc(in.len + 1)) == NULL)
        return 1;
    for (r = 0; r < rounds; r++) {
        struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
        struct postfix_findings f = POSTFIX_FINDINGS_INIT;

        t0 = now();
        if (postfix_envelopes_parse(&e, in.data, in.len, &err) < 0)
            return 1;
        copying[r] = now() - t0;
        postfix_envelopes_release(&e);
        memcpy(text, in.data, in.len + 1);
        t0 = now();
        if (postfix_envelopes_parse_in_place(&e, text, in.len, &err) < 0)
            return 1;
        in_place[r] = now() - t0;
        t0 = now();
        if (postfix_identify_envelopes(&f, &e, NULL, &err) < 0)
            return 1;
        ident[r] = now() - t0;
        if (r == 0)
            printf("%zu bytes, %zu messages, %zu accounts, %zu anomalies, "
                   "%zu rounds\n",
                   in.len, e.n, f.n_accounts, e.anomalies, rounds);
        postfix_findings_release(&f);
        postfix_envelopes_release(&e);
    }
    report("parse (copying)", copying, rounds, in.len);
    report("parse (in place)", in_place, rounds, in.len);
    report("identify", ident, rounds, 0);
    free(text);
    free(fixture);
    buf_release(&in);
    return 0;
}
