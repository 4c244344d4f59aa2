/* Fuzz target: the audit trail verifier over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"
#include "spamstop/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Verifies data with and without an anchor, and round-trips an excerpt. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct audit_verify_result vr;
    struct audit_anchor anchor;
    json_t *text;
    char *dumped;

    if (audit_verify_string(&vr, (const char *)data, size) == 0 && vr.ok &&
        vr.bad_line != 0)
        abort();
    memset(&anchor, 0, sizeof(anchor));
    anchor.records = size % 7;
    if (size >= SHA256_HEX_LEN)
        memcpy(anchor.head, data, SHA256_HEX_LEN);
    (void)audit_verify_string_anchor(&vr, (const char *)data, size, &anchor);
    /* Any bytes become a valid JSON string. */
    text = audit_json_text((const char *)data, size, NULL);
    if (text == NULL)
        abort();
    dumped = json_dumps(text, JSON_ENCODE_ANY | JSON_COMPACT);
    if (dumped == NULL)
        abort();
    free(dumped);
    json_decref(text);
    return 0;
}
