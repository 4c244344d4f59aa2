/* The draft notice to a customer: one per account, whatever the hosts. */
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "spamstop/report.h"

/* "h1", "h1 and h2", "h1, h2 and h3" into out. */
static int notice_hosts(struct buf *out, const struct strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (buf_printf(out, "%s%s",
                       i == 0          ? ""
                       : i + 1 == l->n ? " and "
                                       : ", ",
                       l->v[i]) < 0)
            return SS_ERR;
    return 0;
}

/* "less than a second", "4 seconds", "about 12 minutes" into out. */
static int notice_duration(struct buf *out, long long ms)
{
    long long s = (ms + 500) / 1000;

    if (ms < 1000)
        return buf_adds(out, "less than a second");
    if (s < 120)
        return buf_printf(out, "%lld second%s", s, s == 1 ? "" : "s");
    return buf_printf(out, "about %lld minutes", (s + 30) / 60);
}

/* What happened: where, when, how many messages, from how many places. */
static int notice_what(struct buf *out, const struct report *r,
                       const struct report_acct *a, const char *acct,
                       unsigned flags)
{
    const struct strlist *where = a->hosts.n > 0 ? &a->hosts : &a->rotated_on;
    char t1[40], t2[40];

    if (buf_printf(out,
                   "On %.10s we found that the mailbox %s was being used "
                   "to send unsolicited mail (spam) through our mail "
                   "server%s",
                   report_time_text(t1, r->started), acct,
                   where->n > 1 ? "s" : "") < 0)
        return SS_ERR;
    if ((flags & REPORT_NOTICE_HOSTS) &&
        (buf_adds(out, " ") < 0 || notice_hosts(out, where) < 0))
        return SS_ERR;
    if (buf_adds(out, ".") < 0)
        return SS_ERR;
    if (a->submitted == 0)
        return 0;
    if (a->first < 0 ? buf_adds(out, " ") < 0
        : a->first == a->last
            ? buf_printf(out, " At %s, ", report_time_text(t1, a->first)) < 0
            : buf_printf(out, " Between %s and %s, ",
                         report_time_text(t1, a->first),
                         report_time_text(t2, a->last)) < 0)
        return SS_ERR;
    if (buf_printf(out,
                   "%s%zu messages were handed to our server%s with this "
                   "mailbox's own password, from %s%zu different network "
                   "address%s.",
                   a->first < 0 ? "In all, " : "", a->submitted,
                   where->n > 1 ? "s" : "", where->n > 1 ? "at least " : "",
                   a->clients, a->clients == 1 ? "" : "es") < 0)
        return SS_ERR;
    if (a->sent > 0 &&
        buf_printf(out,
                   " %zu of them had already been delivered before we "
                   "stopped it.",
                   a->sent) < 0)
        return SS_ERR;
    return 0;
}

/* The service pause and the spam held, in the customer's terms. */
static int notice_done(struct buf *out, const struct report_acct *a)
{
    bool deleted;

    if (a->stopped &&
        (buf_printf(out, "- We paused all outgoing mail on the server%s",
                    a->hosts.n > 1 ? "s" : "") < 0 ||
         (a->down_ms >= 0 && (buf_adds(out, " for ") < 0 ||
                              notice_duration(out, a->down_ms) < 0)) ||
         buf_adds(out,
                  a->down_ms >= 0
                      ? " while we dealt with this. Mail waiting to be sent "
                        "then, yours included, was delayed, not lost: it "
                        "is sent as usual.\n"
                      : " for a short time while we dealt with this. Mail "
                        "waiting to be sent then, yours included, was "
                        "delayed, not lost: it is sent as usual.\n") < 0))
        return SS_ERR;
    if (buf_adds(out, "- We reset the password of the mailbox. The old "
                      "password no longer works, so whoever stole it "
                      "cannot use it any more.\n") < 0)
        return SS_ERR;
    deleted = a->fate != NULL && strcmp(a->fate, "deleted") == 0;
    if (a->held == 0 ||
        (!deleted && (a->fate == NULL || strcmp(a->fate, "on hold") != 0)))
        return 0;
    return buf_printf(out,
                      "- We %s the %zu spam messages sent with your password "
                      "that were still waiting in our queue%s. Other mail in "
                      "the queue was kept and is sent as usual.\n",
                      deleted ? "deleted" : "put", a->held,
                      deleted ? "" : " on hold: they will not be sent");
}

static const char notice_advice[] =
    "\nHow to get your new password:\n"
    "For your safety we never send passwords by e-mail. Please call our "
    "support team or open a ticket in your customer control panel: once "
    "we have checked who you are, we give you the new password, or you "
    "can set one of your own in the control panel.\n"
    "\nWhat we advise:\n"
    "- Scan every computer and phone that uses this mailbox for malware "
    "before you enter the new password on it.\n"
    "- Enter the new password in every mail program and phone that uses "
    "the mailbox.\n"
    "- Choose a password you use nowhere else, and change the old one on "
    "any other site where you used it.\n"
    "- Check the mailbox for forwarding rules or automatic replies you did "
    "not set up.\n"
    "- We will never ask for your password by e-mail: treat such messages "
    "as phishing.\n"
    "\nKind regards,\nYour hosting support team\n";

#define NOTICE_WIDTH 72

/*
 * True when the line may break at s: a space, but not the one inside a
 * time ("2026-12-05 10:24:33 UTC" stays on one line).
 */
static bool notice_break(const char *s)
{
    return *s == ' ' &&
           !(s[-1] >= '0' && s[-1] <= '9' &&
             ((s[1] >= '0' && s[1] <= '9') || strncmp(s + 1, "UTC", 3) == 0));
}

/*
 * Appends text wrapped at NOTICE_WIDTH columns (bytes: the values are
 * mostly ASCII), a list item's continuation lines indented by two.
 */
static int notice_wrap(struct buf *out, const char *text)
{
    const char *p = text, *nl, *cut, *sp;
    size_t width;
    bool item;

    while (*p != '\0') {
        nl = strchr(p, '\n');
        if (nl == NULL)
            nl = p + strlen(p);
        item = p[0] == '-' && p[1] == ' ';
        width = NOTICE_WIDTH;
        while ((size_t)(nl - p) > width) {
            cut = p + width;
            for (sp = cut; sp > p && !notice_break(sp); sp--)
                ;
            if (sp == p) /* one long word: leave it whole */
                sp = memchr(cut, ' ', (size_t)(nl - cut));
            if (sp == NULL)
                break;
            if (buf_add(out, p, (size_t)(sp - p)) < 0 ||
                buf_adds(out, item ? "\n  " : "\n") < 0)
                return SS_ERR;
            p = sp + 1;
            width = item ? NOTICE_WIDTH - 2 : NOTICE_WIDTH;
        }
        if (buf_add(out, p, (size_t)(nl - p)) < 0 ||
            (*nl == '\n' && buf_addc(out, '\n') < 0))
            return SS_ERR;
        p = *nl == '\n' ? nl + 1 : nl;
    }
    return 0;
}

/* Writes the customer notice; see report.h. */
int report_notice(struct buf *out, const struct report *r, const char *account,
                  unsigned flags)
{
    struct report_acct a;
    struct buf t = BUF_INIT;
    char *acct = report_clean(account);
    int rc = SS_ERR;

    memset(&a, 0, sizeof(a));
    if (acct == NULL || report_acct_collect(&a, r, account) < 0)
        goto out;
    if (buf_printf(&t,
                   "Subject: Security notice: the password of %s was reset\n"
                   "\nHello,\n\n",
                   acct) < 0 ||
        notice_what(&t, r, &a, acct, flags) < 0 ||
        buf_adds(&t, "\n\nThis almost always means the password was stolen: by "
                     "malware on a computer or phone that uses the mailbox, by "
                     "a phishing message, or because the same password was "
                     "used on another site that was breached.\n\n"
                     "What we have done:\n") < 0 ||
        notice_done(&t, &a) < 0 || buf_adds(&t, notice_advice) < 0 ||
        notice_wrap(out, t.data) < 0)
        goto out;
    rc = 0;
out:
    buf_release(&t);
    report_acct_release(&a);
    free(acct);
    return rc;
}
