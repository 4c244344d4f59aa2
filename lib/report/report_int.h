/* Shared inside lib/report: clean string helpers. */
#ifndef SPAMSTOP_REPORT_INT_H
#define SPAMSTOP_REPORT_INT_H

#include "spamstop/fleet.h"
#include "spamstop/playbook.h"
#include "spamstop/report.h"

/* Replaces *dst by a clean copy of s (NULL stays NULL); SS_ERR on ENOMEM. */
int report_set(char **dst, const char *s);

/* Appends a clean copy of s to l; SS_ERR on ENOMEM. */
int report_push(struct strlist *l, const char *s);

/* Appends the report as one JSON object (json.c). */
int report_render_json(struct buf *out, const struct report *r, unsigned flags,
                       struct errbuf *err);

/* Frees a values list's strings and array, and zeroes it. */
void report_values_release(struct report_values *v);

/* Values shown per list, as identify keeps them. */
#define REPORT_TOP 10

/*
 * What every host of a run tells of one account, put together: the
 * hosts that flagged it, the damage (messages, already left, bounced),
 * the abuse window, what was done.
 */
struct report_acct {
    char *account;
    struct strlist hosts;      /* hosts whose findings flag it */
    struct strlist rotated_on; /* hosts where its new password stands */
    size_t queued;             /* queued messages (identify) */
    size_t submitted; /* per host the larger of queued and logged, summed */
    size_t sent, deferred, bounced;    /* the mail logs' latest statuses */
    bool log_seen;                     /* some host had log evidence */
    size_t clients;                    /* distinct client addresses, at least */
    long long first, last;             /* the abuse window; -1 unknown */
    size_t held;                       /* its messages purge held */
    const char *fate;                  /* purge's fate (borrowed), or NULL */
    bool stopped;                      /* Postfix was stopped on a host */
    long long down_ms;                 /* the longest stop; -1 unknown */
    struct report_values clients_seen; /* merged top lists */
    struct report_values rcpt_domains;
};

/* Fills out for account (caller releases, also on failure). */
int report_acct_collect(struct report_acct *out, const struct report *r,
                        const char *account);
void report_acct_release(struct report_acct *a);

/*
 * The run's accounts, each once, in host order: those whose new password
 * stands on a host (rotated), or those flagged on a host.
 */
int report_accounts(struct strlist *out, const struct report *r, bool rotated);

/* The suspect record of account on h, or NULL. */
const struct report_suspect *report_suspect_of(const struct report_host *h,
                                               const char *account);

/*
 * The values that flagged accounts' evidence lists (each host's top 10
 * per kind) on more than one host, and the accounts flagged on more than
 * one (fleet.h); names borrowed from r.  Caller fleet_releases, also on
 * failure.
 */
int report_fleet(struct fleet *out, const struct report *r);

/* "2026-11-28 09:58:50 UTC", or "unknown"; out holds 40. */
const char *report_time_text(char out[40], long long t);

#endif
