/* What the audit writer and reader share inside lib/audit. */
#ifndef SPAMSTOP_AUDIT_INT_H
#define SPAMSTOP_AUDIT_INT_H

#include <stddef.h>

#include <jansson.h>

#include "spamstop/audit.h"

/* Facts a scan collects beyond the verify result. */
struct audit_scan {
    char run[256]; /* run id of the first record */
};

/*
 * The verifier behind audit_verify_string*, also filling scan (may be
 * NULL).  Returns 0 when the data could be examined, SS_ERR on ENOMEM.
 */
int audit_scan_string(struct audit_verify_result *out, struct audit_scan *scan,
                      const char *data, size_t len,
                      const struct audit_anchor *anchor);

/*
 * A JSON string of n bytes at s with every byte that is not part of valid
 * UTF-8 replaced by U+FFFD (count in *replaced, may be NULL).  New
 * reference, NULL on ENOMEM.
 */
json_t *audit_json_text(const char *s, size_t n, size_t *replaced);

#endif
