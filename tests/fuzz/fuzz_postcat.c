/* Fuzz target: the identify pass's postcat parser and the analysis. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Parses data, checks the invariants, runs identify and renders JSON. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postfix_envelopes e = POSTFIX_ENVELOPES_INIT;
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct postfix_thresholds t = {1, 0.0};
    struct errbuf err = ERRBUF_INIT;
    char *js = NULL;
    size_t i, j, refs = 0;

    if (postfix_envelopes_parse(&e, (const char *)data, size, &err) < 0)
        goto out;
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
    return 0;
}
