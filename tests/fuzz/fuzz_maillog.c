/* Fuzz target: the log evidence parser over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/postfix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data; every account's counts must add up. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postfix_maillog m;
    struct errbuf err = ERRBUF_INIT;
    size_t i, total = 0;

    if (postfix_maillog_parse(&m, (const char *)data, size, 0, &err) == 0) {
        for (i = 0; i < m.naccounts; i++) {
            const struct postfix_log_account *a = &m.accounts[i];
            if (a->name == NULL || a->accepted == 0 || a->ips == 0 ||
                a->ips > a->accepted || a->top_ip == NULL ||
                a->top_ip_count > a->accepted || a->first > a->last ||
                a->sent + a->deferred + a->bounced > a->accepted)
                abort();
            total += a->accepted;
        }
        if (total > m.records)
            abort();
    }
    postfix_maillog_release(&m);
    return 0;
}
