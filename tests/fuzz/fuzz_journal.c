/* Fuzz target: journal replay on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "spamstop/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct journal_state s;
    struct errbuf e = ERRBUF_INIT;

    if (journal_replay_string(&s, (const char *)data, size, &e) == 0)
        journal_state_release(&s);
    return 0;
}
