/*
 * The memory of the identify step on one host of N queued messages, in
 * process and without a lab: the two passes of a run as the identify
 * action makes them, through the library's own calls, with the peak RSS
 * after each phase.
 *   parsed    the first pass streamed (every file read), its stamps
 *             given out as the pass goes;
 *   survey    that pass analysed (its findings made, then both freed);
 *   second    the second pass streamed, given those stamps (held in
 *             memory while it runs): every file unchanged, so only its
 *             FILE lines come back (Postfix stopped);
 *   reuse     the second pass completed with the first's messages, read
 *             again from the first pass's text (the evidence file);
 *   identify  the analysis of the whole queue.
 * Messages are made like the lab's outbreak (tests/lab/smtp_stage.py):
 * 90% from one stolen account with distinct subjects and one recipient
 * each, 10% from 50 legitimate accounts.  The text is made piece by piece
 * and fed in 64 KiB pieces, so it is never whole in memory.
 * Build (against a build folder's libraries) and run, as in
 * docs/performance.md, "Controller memory":
 *   cmake --build build --target ss_postfix ss_util
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
 *      -Ilib/include -Ilib bench/identify_memory.c build/libss_postfix.a \
 *      build/libss_util.a -ljansson -lcrypto -lpthread -o /tmp/idmem
 *   /tmp/idmem 1000000
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "spamstop/buf.h"
#include "spamstop/error.h"
#include "spamstop/postfix.h"

#define PIECE (64u * 1024)

/* Peak resident set so far, in MB. */
static double peak_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void phase(const char *what, size_t n)
{
    double mb = peak_mb();

    printf("%-9s peak %8.1f MB  %6.0f bytes/message\n", what, mb,
           mb * 1048576.0 / (double)n);
    fflush(stdout);
}

/* Message i's queue id: upper-case hex, as a short Postfix id. */
static void qid(char *out, size_t i)
{
    snprintf(out, 16, "%lX", (unsigned long)(0x1000000 + i));
}

/* Appends message i (or only its FILE line when files_only). */
static int message(struct buf *b, size_t i, int part)
{
    char id[16];
    unsigned acct = i % 10 == 9 ? (unsigned)(i / 10 % 50) : 0u;

    qid(id, i);
    if (part == 0 && acct == 0)
        return buf_printf(b,
                          "*** ENVELOPE RECORDS deferred/%c/%s ***\n"
                          "message_arrival_time: Sat Nov 28 09:33:03 2026\n"
                          "named_attribute: sasl_method=PLAIN\n"
                          "named_attribute: sasl_username=bob@example.test\n"
                          "sender: bob@example.test\n"
                          "named_attribute: log_client_address=198.51.100.%zu\n"
                          "named_attribute: log_helo_name=bot.example.net\n"
                          "*** MESSAGE CONTENTS deferred/%c/%s ***\n"
                          "From: bob@example.test\n"
                          "Subject: cheap watches %zx\n"
                          "Message-ID: <%zx.%s@bot.example.net>\n"
                          "*** HEADER EXTRACTED deferred/%c/%s ***\n"
                          "recipient: t%zx@remote%zu.test\n"
                          "*** MESSAGE FILE END deferred/%c/%s ***\n",
                          id[5], id, i % 41 + 1, id[5], id, i * 7919, i, id,
                          id[5], id, i, i % 300, id[5], id);
    if (part == 0)
        return buf_printf(
            b,
            "*** ENVELOPE RECORDS deferred/%c/%s ***\n"
            "message_arrival_time: Sat Nov 28 09:33:03 2026\n"
            "named_attribute: sasl_method=PLAIN\n"
            "named_attribute: sasl_username=user%u@example.test\n"
            "sender: user%u@example.test\n"
            "named_attribute: log_client_address=10.80.0.%u\n"
            "named_attribute: log_helo_name=workstation.example.test\n"
            "*** MESSAGE CONTENTS deferred/%c/%s ***\n"
            "From: user%u@example.test\n"
            "Subject: minutes of the meeting %u\n"
            "Message-ID: <%zx.%s@example.test>\n"
            "*** HEADER EXTRACTED deferred/%c/%s ***\n"
            "recipient: colleague%zu@remote.test\n"
            "*** MESSAGE FILE END deferred/%c/%s ***\n",
            id[5], id, acct, acct, acct, id[5], id, acct, acct, i, id, id[5],
            id, i % 1000, id[5], id);
    return buf_printf(
        b, "*** SPAMSTOP FILE deferred/%c/%s %zu %zu %zu.%09zu ***\n", id[5],
        id, 1000000 + i, 1500 + i % 3000, 1764322383 + i / 1000,
        i * 997 % 1000000000);
}

/*
 * Streams a pass into env (part 0: the messages, then the FILE lines; 1:
 * the FILE lines only), its FILE lines given as stamps (*stamps, drained
 * as the engine drains them, counted in *stamps_len) or dropped; or, with
 * reuse, adds the pass's messages to env, a later pass.
 */
static int pass(struct postfix_envelopes *env, size_t n, int files_only,
                size_t *stamps_len, bool reuse, struct errbuf *err)
{
    struct postfix_envelopes_stream *s = NULL;
    struct buf b = BUF_INIT, stamps = BUF_INIT;
    size_t i;
    int part, r;

    r = reuse ? postfix_envelopes_reuse_new(&s, env, err)
              : postfix_envelopes_stream_new(&s, env, err);
    if (r < 0)
        goto out;
    if (!reuse)
        postfix_envelopes_stream_files(
            s, stamps_len != NULL ? POSTFIX_FILES_STAMPS : POSTFIX_FILES_DROP,
            &stamps);
    for (part = files_only; part < 2; part++)
        for (i = 0; i < n; i++) {
            if (message(&b, i, part) < 0) {
                r = SS_ERR;
                goto out;
            }
            if (b.len >= PIECE || i + 1 == n) {
                if ((r = postfix_envelopes_stream_feed(s, b.data, b.len, err)) <
                    0)
                    goto out;
                b.len = 0;
                if (stamps_len != NULL)
                    *stamps_len += stamps.len;
                buf_reset(&stamps);
            }
        }
    if (buf_adds(&b, "*** SPAMSTOP DIRS /var/spool/postfix "
                     "/usr/lib/postfix/sbin ***\n"
                     "*** SPAMSTOP IDENTIFY END ***\n") < 0 ||
        (r = postfix_envelopes_stream_feed(s, b.data, b.len, err)) < 0)
        goto out;
    r = postfix_envelopes_stream_end(s, err);
    if (reuse)
        printf("reused %zu\n", postfix_envelopes_stream_reused(s));
out:
    postfix_envelopes_stream_free(s);
    buf_release(&b);
    buf_release(&stamps);
    return r;
}

int main(int argc, char **argv)
{
    struct errbuf err = ERRBUF_INIT;
    struct postfix_envelopes survey = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes fresh = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    char *stdin_copy = NULL;
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000, stamps_len = 0;

    if (n < 10 || n > POSTFIX_ENTRIES_MAX) {
        fprintf(stderr, "identify_memory: 10 to %u messages\n",
                POSTFIX_ENTRIES_MAX);
        return 2;
    }
    phase("start", n);
    if (pass(&survey, n, 0, &stamps_len, false, &err) < 0)
        goto fail;
    phase("parsed", n);
    if (postfix_identify_envelopes(&f, &survey, NULL, &err) < 0)
        goto fail;
    printf("%zu messages, %zu accounts, %zu bytes of stamps\n", survey.n,
           f.n_accounts, stamps_len);
    postfix_envelopes_release(&survey);
    postfix_findings_release(&f);
    phase("survey", n);
    /* the stamps are the second pass's stdin: in memory while it runs */
    if ((stdin_copy = malloc(stamps_len + 1)) == NULL)
        goto fail;
    memset(stdin_copy, 'x', stamps_len);
    if (pass(&fresh, n, 1, NULL, false, &err) < 0)
        goto fail;
    free(stdin_copy);
    phase("second", n);
    if (pass(&fresh, n, 0, NULL, true, &err) < 0)
        goto fail;
    phase("reuse", n);
    if (postfix_identify_envelopes(&f, &fresh, NULL, &err) < 0)
        goto fail;
    phase("identify", n);
    printf("%zu messages, flagged %zu of %zu accounts\n", fresh.n, f.n_flagged,
           f.n_accounts);
    postfix_findings_release(&f);
    postfix_envelopes_release(&fresh);
    return 0;
fail:
    fprintf(stderr, "identify_memory: %s\n", err.msg[0] ? err.msg : "failed");
    return 1;
}
