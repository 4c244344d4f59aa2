/* Fuzz target: the playbook parser and checker on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "spamstop/engine.h"
#include "spamstop/playbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    if (playbook_parse_string(&pb, (const char *)data, size, "fuzz.json",
                              engine_action_lookup, &e) == 0)
        playbook_free(pb);
    return 0;
}
