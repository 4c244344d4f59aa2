/* Shared inside lib/report: clean string helpers. */
#ifndef SPAMSTOP_REPORT_INT_H
#define SPAMSTOP_REPORT_INT_H

#include "spamstop/playbook.h"
#include "spamstop/report.h"

/* Replaces *dst by a clean copy of s (NULL stays NULL); SS_ERR on ENOMEM. */
int report_set(char **dst, const char *s);

/* Appends a clean copy of s to l; SS_ERR on ENOMEM. */
int report_push(struct strlist *l, const char *s);

/* Appends the report as one JSON object (json.c). */
int report_render_json(struct buf *out, const struct report *r,
                       struct errbuf *err);

#endif
