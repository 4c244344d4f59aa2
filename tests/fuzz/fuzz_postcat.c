/* Fuzz target: the identify pass's postcat parser and the analysis. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelopes_same.h"
#include "spamstop/buf.h"
#include "spamstop/postfix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when s holds no control character (values are made printable). */
static int printable(const char *s)
{
    if (s == NULL)
        return 1;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return 0;
    return 1;
}

/* Aborts unless the copying parse of data finds exactly what e holds. */
static void check_copying(const uint8_t *data, size_t size,
                          const struct postfix_envelopes *e)
{
    struct postfix_envelopes c = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;

    if (postfix_envelopes_parse(&c, (const char *)data, size, &err) < 0)
        abort(); /* the in-place parse of the same text succeeded */
    envelopes_same(&c, e);
    postfix_envelopes_release(&c);
}

/*
 * Aborts unless a push parse of data that gives its stamps instead of a
 * file table finds e's messages, and a later pass that found every
 * stamped file unchanged gets, from a reuse stream of data, exactly one
 * message per distinct stamped id, each e's.
 */
static void check_reuse(const uint8_t *data, size_t size,
                        const struct postfix_envelopes *e)
{
    struct postfix_envelopes first = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes later = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes_stream *s = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf stamps = BUF_INIT, text = BUF_INIT;
    const char *p, *nl;
    size_t n = 0, reused = 0, i;

    for (i = 0; i < e->n_files; i++)
        if (!postfix_queue_name_valid(e->files[i].queue_name) ||
            !postfix_queue_id_valid(e->files[i].queue_id) ||
            !printable(e->files[i].path) || !printable(e->files[i].stamp))
            abort();
    if (postfix_envelopes_stream_new(&s, &first, &err) < 0)
        goto out;
    postfix_envelopes_stream_files(s, POSTFIX_FILES_STAMPS, &stamps);
    if (postfix_envelopes_stream_feed(s, (const char *)data, size, &err) < 0 ||
        postfix_envelopes_stream_end(s, &err) < 0)
        goto out;
    postfix_envelopes_stream_free(s);
    s = NULL;
    if (first.n != e->n || first.n_files != 0 ||
        first.anomalies != e->anomalies)
        abort();
    for (p = stamps.data; p != NULL && *p != '\0'; p = nl + 1, n++) {
        if ((nl = strchr(p, '\n')) == NULL)
            abort();
        if (buf_printf(&text, "*** SPAMSTOP FILE %.*s ***\n", (int)(nl - p),
                       p) < 0)
            goto out;
    }
    if (buf_adds(&text, "*** SPAMSTOP IDENTIFY END ***\n") < 0 ||
        postfix_envelopes_parse(&later, text.data, text.len, &err) < 0)
        goto out;
    if (later.n_files != n || later.n != 0 || later.anomalies != 0)
        abort();
    if (postfix_envelopes_reuse_new(&s, &later, &err) < 0 ||
        postfix_envelopes_stream_feed(s, (const char *)data, size, &err) < 0 ||
        postfix_envelopes_stream_end(s, &err) < 0)
        abort(); /* the same text parsed whole above */
    /*
     * a stamp goes out when its FILE line comes (the script prints them
     * after every message): a copy of the message after it, which only a
     * mangled text has, leaves that message out; never anything else
     */
    reused = postfix_envelopes_stream_reused(s);
    if (later.n != reused || reused > n || later.anomalies != 0)
        abort();
    for (i = 0; i < later.n; i++)
        if (!later.msgs[i].complete)
            abort();
out:
    postfix_envelopes_stream_free(s);
    postfix_envelopes_release(&later);
    postfix_envelopes_release(&first);
    buf_release(&stamps);
    buf_release(&text);
}

/*
 * Parses a copy of data in place (the controller's way), checks the
 * invariants and, for fuzzer-sized inputs, that the copying parse agrees;
 * then runs identify and renders JSON.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = POSTFIX_THRESHOLDS_INIT;
    struct errbuf err = ERRBUF_INIT;
    char *js = NULL, *text = malloc(size + 1);
    size_t i, j, refs = 0;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (postfix_envelopes_parse_in_place(&e, text, size, &err) < 0)
        goto out;
    /* large inputs are benchmarks (bench/run): one parse is timed */
    if (size <= 256 * 1024) {
        check_copying(data, size, &e);
        check_reuse(data, size, &e);
    }
    for (i = 0; i < e.n; i++) {
        const struct postfix_message *m = &e.msgs[i];
        if (!postfix_queue_name_valid(m->queue_name) ||
            !postfix_queue_id_valid(m->queue_id) ||
            m->n_recipients > POSTFIX_RCPT_KEEP ||
            m->n_recipients > m->recipients_total || !printable(m->sender) ||
            !printable(m->sasl_username) || !printable(m->subject))
            abort();
        for (j = 0; j < m->n_recipients; j++)
            if (strlen(m->recipients[j]) > POSTFIX_FIELD_MAX)
                abort();
        for (j = i + 1; j < e.n && j < i + 8; j++)
            if (strcmp(m->queue_id, e.msgs[j].queue_id) == 0)
                abort(); /* an id is listed once */
    }
    t.min_messages = 1;
    t.min_share = 0.0;
    if (postfix_identify_envelopes(&f, &e, &t, &err) < 0)
        abort();
    for (i = 0; i < f.n_accounts; i++)
        refs += f.accounts[i].n_refs;
    if (refs != f.flagged_messages || f.flagged_messages != f.authenticated ||
        f.total != f.authenticated + f.scripted + f.other)
        abort();
    if (postfix_findings_to_json(&js, &f, &err) < 0)
        abort();
out:
    free(js);
    postfix_findings_release(&f);
    postfix_envelopes_release(&e);
    free(text);
    return 0;
}
