/* Fuzz target: the log watch's login parser over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/postfix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data (since: the first clock the corpus uses); checks the sums. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postfix_logins l;
    struct errbuf err = ERRBUF_INIT;
    size_t i, j;

    if (postfix_logins_parse(&l, (const char *)data, size, 1796458800, &err) ==
        0) {
        if (l.naccounts > POSTFIX_LOGINS_ACCOUNTS_MAX)
            abort();
        for (i = 0; i < l.naccounts; i++) {
            const struct postfix_login *a = &l.accounts[i];
            if (a->account == NULL || a->logins == 0 ||
                a->first <= 1796458800 || a->first_ip == NULL ||
                a->first_service == NULL || strlen(a->first_ip) > 45)
                abort();
            for (j = 0; j < i; j++)
                if (strcmp(l.accounts[j].account, a->account) == 0)
                    abort();
        }
    }
    postfix_logins_release(&l);
    return 0;
}
