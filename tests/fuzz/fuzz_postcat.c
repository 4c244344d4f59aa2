/* Fuzz target: the identify pass's postcat parser and the analysis. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelopes_same.h"
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
 * The files of e and a later pass that found every stamped file unchanged:
 * it gets exactly one message per distinct stamped id, each e's.
 */
static void check_reuse(const struct postfix_envelopes *e)
{
    struct postfix_envelopes later = POSTFIX_ENVELOPES_INIT;
    struct errbuf err = ERRBUF_INIT;
    char *stamps = NULL, *text = NULL, *p, *nl;
    size_t len, n = 0, reused = 0, k = 0, i;

    for (i = 0; i < e->n_files; i++)
        if (!postfix_queue_name_valid(e->files[i].queue_name) ||
            !postfix_queue_id_valid(e->files[i].queue_id) ||
            !printable(e->files[i].path) || !printable(e->files[i].stamp))
            abort();
    if (postfix_envelopes_stamps(&stamps, &len, e, &err) < 0)
        abort();
    if ((text = malloc(len * 4 + 64)) == NULL)
        goto out;
    for (p = stamps; p != NULL && *p != '\0'; p = nl + 1, n++) {
        if ((nl = strchr(p, '\n')) == NULL)
            abort();
        k += (size_t)sprintf(text + k, "*** SPAMSTOP FILE %.*s ***\n",
                             (int)(nl - p), p);
    }
    k += (size_t)sprintf(text + k, "*** SPAMSTOP IDENTIFY END ***\n");
    if (postfix_envelopes_parse(&later, text, k, &err) < 0 ||
        later.n_files != n || later.n != 0 || later.anomalies != 0)
        abort();
    if (postfix_envelopes_reuse(&later, e, &reused, &err) < 0)
        abort();
    if (later.n != reused || reused > n || (n > 0 && reused == 0))
        abort();
out:
    postfix_envelopes_release(&later);
    free(text);
    free(stamps);
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
        check_reuse(&e);
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
