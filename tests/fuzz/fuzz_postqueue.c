/* Fuzz target: the postqueue -j parser over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/postfix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data; every entry kept must have a valid queue name and id. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postfix_queue q = POSTFIX_QUEUE_INIT;
    struct errbuf err = ERRBUF_INIT;
    size_t i, j;

    if (postfix_queue_parse_string(&q, (const char *)data, size, &err) == 0) {
        for (i = 0; i < q.n; i++) {
            const struct postfix_queue_entry *e = &q.entries[i];
            if (!postfix_queue_name_valid(e->queue_name) ||
                !postfix_queue_id_valid(e->queue_id) || e->sender == NULL)
                abort();
            for (j = 0; j < e->n_recipients; j++)
                if (strlen(e->recipients[j].address) > POSTFIX_FIELD_MAX)
                    abort();
        }
    }
    postfix_queue_release(&q);
    return 0;
}
