/* Fuzz helper: two identify parses of the same text must agree. */
#ifndef SPAMSTOP_FUZZ_ENVELOPES_SAME_H
#define SPAMSTOP_FUZZ_ENVELOPES_SAME_H

#include <stdlib.h>
#include <string.h>

#include "spamstop/postfix.h"

/* True when both strings are NULL or equal. */
static inline int same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Aborts unless c holds exactly what e holds. */
static inline void envelopes_same(const struct postfix_envelopes *c,
                                  const struct postfix_envelopes *e)
{
    size_t i, j;

    if (c->n != e->n || c->anomalies != e->anomalies ||
        c->end_seen != e->end_seen || c->n_files != e->n_files ||
        strcmp(c->dirs.queue, e->dirs.queue) != 0 ||
        strcmp(c->dirs.daemon, e->dirs.daemon) != 0)
        abort();
    for (i = 0; i < c->n_files; i++)
        if (!same(c->files[i].path, e->files[i].path) ||
            !same(c->files[i].stamp, e->files[i].stamp))
            abort();
    for (i = 0; i < c->n; i++) {
        const struct postfix_message *x = &c->msgs[i], *y = &e->msgs[i];
        if (!same(x->queue_name, y->queue_name) ||
            !same(x->queue_id, y->queue_id) ||
            !same(x->sasl_username, y->sasl_username) ||
            !same(x->sender, y->sender) ||
            !same(x->client_address, y->client_address) ||
            !same(x->helo_name, y->helo_name) ||
            !same(x->subject, y->subject) ||
            !same(x->x_php_script, y->x_php_script) ||
            x->arrival_time != y->arrival_time ||
            x->n_recipients != y->n_recipients ||
            x->recipients_total != y->recipients_total ||
            x->complete != y->complete)
            abort();
        for (j = 0; j < x->n_recipients; j++)
            if (!same(x->recipients[j], y->recipients[j]))
                abort();
    }
}

#endif
