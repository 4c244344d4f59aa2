/* Fuzz target: the inventory parsers (INI and JSON) and --limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first line of the input is a --limit pattern, the rest the
 * inventory; every selected host must have a name.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    struct inventory *inv = NULL;
    struct exec_target *t = NULL;
    struct errbuf err = ERRBUF_INIT;
    char pattern[256];
    size_t plen = nl != NULL ? (size_t)(nl - data) : 0, n = 0, i;

    if (plen >= sizeof(pattern))
        plen = sizeof(pattern) - 1;
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    if (nl != NULL) {
        size -= (size_t)(nl - data) + 1;
        data = nl + 1;
    }
    if (inventory_parse_string(&inv, (const char *)data, size, "fuzz", &err) !=
        0) {
        if (err.code != SS_EINVAL && err.code != SS_ERR)
            abort();
        return 0;
    }
    if (inventory_select(&t, &n, inv,
                         strlen(pattern) != strspn(pattern, "\r\n") ? pattern
                                                                    : NULL,
                         &err) == 0) {
        for (i = 0; i < n; i++)
            if (t[i].name == NULL || t[i].name[0] == '\0')
                abort();
        inventory_targets_free(t, n);
    }
    inventory_free(inv);
    return 0;
}
