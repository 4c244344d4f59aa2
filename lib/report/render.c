/* Renders the report model as Markdown or one self-contained HTML file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report_int.h"
#include "spamstop/report.h"

/* A writer: the structure comes from here, every text is escaped. */
struct rw {
    struct buf *b;
    enum report_format f;
    unsigned flags; /* report_flags */
    int rc;         /* the first failure; later calls do nothing */
    /* plain text: a table's cells, head first, laid out at its end */
    struct strlist cells;
    size_t ncols;
};

/* Appends s (already escaped or ours) unless an earlier call failed. */
static void rw_raw(struct rw *w, const char *s)
{
    if (w->rc == 0 && buf_adds(w->b, s) < 0)
        w->rc = SS_ERR;
}

/* Keeps the failure r of an append to a scratch buffer: the report fails. */
static void rw_ok(struct rw *w, int r)
{
    if (r < 0 && w->rc == 0)
        w->rc = r;
}

/* Appends text escaped for the format, cleaned of control bytes first. */
static void rw_esc(struct rw *w, const char *text)
{
    char *c = report_clean(text != NULL ? text : "");
    const char *p;
    char one[3] = {'\\', 0, 0};

    if (c == NULL) {
        w->rc = SS_ERR;
        return;
    }
    for (p = c; *p != '\0' && w->rc == 0; p++) {
        if (w->f == REPORT_HTML) {
            switch (*p) {
            case '&': rw_raw(w, "&amp;"); continue;
            case '<': rw_raw(w, "&lt;"); continue;
            case '>': rw_raw(w, "&gt;"); continue;
            case '"': rw_raw(w, "&quot;"); continue;
            case '\'': rw_raw(w, "&#39;"); continue;
            default: break;
            }
        } else if (w->f == REPORT_MD &&
                   strchr("\\`*_[]<>|~&!#{}", *p) != NULL) {
            one[1] = *p;
            rw_raw(w, one);
            continue;
        }
        if (buf_addc(w->b, *p) < 0)
            w->rc = SS_ERR;
    }
    free(c);
}

/* Formats (our text, remote values as arguments) and escapes the result. */
static void rw_escf(struct rw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rw_escf(struct rw *w, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
        w->rc = SS_ERR;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rw_esc(w, s);
    free(s);
}

/* Characters (not bytes) of UTF-8 text s: for plain-text layout. */
static size_t rw_width(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Appends c n times. */
static void rw_repeat(struct rw *w, char c, size_t n)
{
    while (n-- > 0 && w->rc == 0)
        if (buf_addc(w->b, c) < 0)
            w->rc = SS_ERR;
}

/* A plain-text heading: underlined with = - ~, level 4 ends with ':'. */
static void rw_text_heading(struct rw *w, int level, const char *text)
{
    char *c = report_clean(text);

    if (c == NULL) {
        w->rc = SS_ERR;
        return;
    }
    rw_raw(w, "\n");
    rw_raw(w, c);
    if (level >= 4) {
        rw_raw(w, ":\n\n");
    } else {
        rw_raw(w, "\n");
        rw_repeat(w, "=-~"[level - 1], rw_width(c));
        rw_raw(w, "\n\n");
    }
    free(c);
}

/* A heading of level 1-4. */
static void rw_h(struct rw *w, int level, const char *text)
{
    char tag[8];

    if (w->f == REPORT_HTML) {
        snprintf(tag, sizeof(tag), "<h%d>", level);
        rw_raw(w, tag);
        rw_esc(w, text);
        snprintf(tag, sizeof(tag), "</h%d>\n", level);
        rw_raw(w, tag);
    } else if (w->f == REPORT_TEXT) {
        rw_text_heading(w, level, text);
    } else {
        rw_raw(w, "\n");
        rw_raw(w, &"####"[4 - level]);
        rw_raw(w, " ");
        rw_esc(w, text);
        rw_raw(w, "\n\n");
    }
}

/* Starts a paragraph (class is for HTML: "note", "warn", or NULL). */
static void rw_p_begin(struct rw *w, const char *cls)
{
    if (w->f != REPORT_HTML)
        return;
    rw_raw(w, cls != NULL ? "<p class=\"" : "<p>");
    if (cls != NULL) {
        rw_raw(w, cls);
        rw_raw(w, "\">");
    }
}

static void rw_p_end(struct rw *w)
{
    rw_raw(w, w->f == REPORT_HTML ? "</p>\n" : "\n\n");
}

static void rw_ul_begin(struct rw *w)
{
    if (w->f == REPORT_HTML)
        rw_raw(w, "<ul>\n");
}

static void rw_ul_end(struct rw *w)
{
    rw_raw(w, w->f == REPORT_HTML ? "</ul>\n" : "\n");
}

static void rw_li_begin(struct rw *w)
{
    rw_raw(w, w->f == REPORT_HTML ? "<li>" : "- ");
}

static void rw_li_end(struct rw *w)
{
    rw_raw(w, w->f == REPORT_HTML ? "</li>\n" : "\n");
}

/* Bold our own label ("Client IPs: "). */
static void rw_label(struct rw *w, const char *label)
{
    if (w->f == REPORT_TEXT) {
        rw_esc(w, label);
        rw_raw(w, " ");
        return;
    }
    rw_raw(w, w->f == REPORT_HTML ? "<b>" : "**");
    rw_esc(w, label);
    rw_raw(w, w->f == REPORT_HTML ? "</b> " : "** ");
}

/* A table with n columns and their heads. */
static void rw_table(struct rw *w, size_t n, const char *const *heads)
{
    size_t i;

    if (w->f == REPORT_TEXT) {
        strlist_release(&w->cells);
        w->ncols = n;
        for (i = 0; i < n; i++)
            rw_ok(w, report_push(&w->cells, heads[i]));
        return;
    }
    if (w->f == REPORT_HTML) {
        rw_raw(w, "<table>\n<tr>");
        for (i = 0; i < n; i++) {
            rw_raw(w, "<th>");
            rw_esc(w, heads[i]);
            rw_raw(w, "</th>");
        }
        rw_raw(w, "</tr>\n");
        return;
    }
    rw_raw(w, "|");
    for (i = 0; i < n; i++) {
        rw_raw(w, " ");
        rw_esc(w, heads[i]);
        rw_raw(w, " |");
    }
    rw_raw(w, "\n|");
    for (i = 0; i < n; i++)
        rw_raw(w, "---|");
    rw_raw(w, "\n");
}

/* True when a cell is a number (right-aligned). */
static bool rw_numeric(const char *cell)
{
    return cell[0] != '\0' && strspn(cell, "0123456789.%") == strlen(cell);
}

/* One row of n cells (numbers right-aligned in HTML by class "n"). */
static void rw_row(struct rw *w, size_t n, const char *const *cells)
{
    size_t i;
    bool num;

    if (w->f == REPORT_TEXT) {
        for (i = 0; i < n && i < w->ncols; i++)
            rw_ok(w, report_push(&w->cells, cells[i]));
        for (; i < w->ncols; i++)
            rw_ok(w, report_push(&w->cells, ""));
        return;
    }
    rw_raw(w, w->f == REPORT_HTML ? "<tr>" : "|");
    for (i = 0; i < n; i++) {
        num = rw_numeric(cells[i]);
        if (w->f == REPORT_HTML) {
            rw_raw(w, num ? "<td class=\"n\">" : "<td>");
            rw_esc(w, cells[i]);
            rw_raw(w, "</td>");
        } else {
            rw_raw(w, " ");
            rw_esc(w, cells[i]);
            rw_raw(w, " |");
        }
    }
    rw_raw(w, w->f == REPORT_HTML ? "</tr>\n" : "\n");
}

/* Lays out the plain-text table kept in w->cells: aligned columns. */
static void rw_text_table(struct rw *w)
{
    size_t *width = calloc(w->ncols ? w->ncols : 1, sizeof(*width));
    size_t i, k, cw;

    if (width == NULL) {
        w->rc = SS_ERR;
        return;
    }
    for (i = 0; i < w->cells.n; i++) {
        cw = rw_width(w->cells.v[i]);
        if (cw > width[i % w->ncols])
            width[i % w->ncols] = cw;
    }
    for (i = 0; i < w->cells.n; i += w->ncols) {
        for (k = 0; k < w->ncols; k++) {
            const char *c = w->cells.v[i + k];
            cw = width[k] - rw_width(c);
            if (k > 0)
                rw_raw(w, "  ");
            if (i > 0 && rw_numeric(c))
                rw_repeat(w, ' ', cw);
            rw_raw(w, c);
            if ((i == 0 || !rw_numeric(c)) && k + 1 < w->ncols)
                rw_repeat(w, ' ', cw);
        }
        while (w->b->len > 0 && w->b->data[w->b->len - 1] == ' ')
            w->b->data[--w->b->len] = '\0';
        rw_raw(w, "\n");
        for (k = 0; i == 0 && k < w->ncols; k++) {
            if (k > 0)
                rw_raw(w, "  ");
            rw_repeat(w, '-', width[k]);
        }
        if (i == 0)
            rw_raw(w, "\n");
    }
    free(width);
    strlist_release(&w->cells);
}

static void rw_table_end(struct rw *w)
{
    if (w->f == REPORT_TEXT)
        rw_text_table(w);
    rw_raw(w, w->f == REPORT_HTML ? "</table>\n" : "\n");
}

/* A block of preformatted text (the notices). */
static void rw_pre(struct rw *w, const char *text)
{
    size_t run = 0, most = 3, i;
    char fence[64];

    if (w->f == REPORT_HTML) {
        const char *nl;
        char *line;
        rw_raw(w, "<pre class=\"notice\">");
        while (*text != '\0' && w->rc == 0) {
            nl = strchr(text, '\n');
            i = nl != NULL ? (size_t)(nl - text) : strlen(text);
            if ((line = strndup(text, i)) == NULL) {
                w->rc = SS_ERR;
                break;
            }
            rw_esc(w, line);
            free(line);
            if (nl == NULL)
                break;
            rw_raw(w, "\n");
            text = nl + 1;
        }
        rw_raw(w, "</pre>\n");
        return;
    }
    if (w->f == REPORT_TEXT) {
        rw_repeat(w, '-', 72);
        rw_raw(w, "\n");
        rw_raw(w, text);
        rw_repeat(w, '-', 72);
        rw_raw(w, "\n\n");
        return;
    }
    /* a fence longer than any run of '~' inside cannot be closed early */
    for (i = 0; text[i] != '\0'; i++) {
        run = text[i] == '~' ? run + 1 : 0;
        if (run > most)
            most = run;
    }
    if (most + 1 >= sizeof(fence))
        most = sizeof(fence) - 2;
    memset(fence, '~', most + 1);
    fence[most + 1] = '\0';
    rw_raw(w, fence);
    rw_raw(w, "text\n");
    rw_raw(w, text);
    rw_raw(w, "\n");
    rw_raw(w, fence);
    rw_raw(w, "\n\n");
}

/* "2026-11-28 09:58:50 UTC", or "unknown". */
const char *report_time_text(char out[40], long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
        return strcpy(out, "unknown");
    strftime(out, 40, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return out;
}

/* A decimal number as text (cells are strings). */
static const char *rw_num(char out[32], size_t n)
{
    snprintf(out, 32, "%zu", n);
    return out;
}

/* A mail-down time "0.93 s" (from ms; out holds 40), or "-" unknown. */
static const char *rw_down(char out[40], const struct report_host *h)
{
    if (!h->mail_down_known)
        return "-";
    snprintf(out, 40, "%lld.%02lld s%s", h->mail_down_ms / 1000,
             h->mail_down_ms % 1000 / 10,
             h->mail_down_by_timer ? " (timer)" : "");
    return out;
}

/* "v1 (n1), v2 (n2), ... and K more distinct" (escaped by the caller). */
static int rw_values_text(struct buf *t, const struct report_values *v)
{
    size_t i;

    if (v->n == 0)
        return buf_adds(t, "none recorded");
    for (i = 0; i < v->n; i++)
        if (buf_printf(t, "%s%s (%zu)", i > 0 ? ", " : "", v->v[i].value,
                       v->v[i].count) < 0)
            return SS_ERR;
    if ((v->distinct > v->n || v->capped) &&
        buf_printf(t, "; %s%zu more distinct values in %zu messages",
                   v->capped ? "at least " : "", v->distinct - v->n,
                   v->other) < 0)
        return SS_ERR;
    return 0;
}

/* One labelled list item of values. */
static void rw_values(struct rw *w, const char *label,
                      const struct report_values *v)
{
    struct buf t = BUF_INIT;

    rw_li_begin(w);
    rw_label(w, label);
    rw_ok(w, rw_values_text(&t, v));
    rw_esc(w, t.data != NULL ? t.data : "");
    rw_li_end(w);
    buf_release(&t);
}

static const char rw_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "max-width:1100px;margin:2em auto;padding:0 1em;color:#1b1f24;"
    "line-height:1.45}"
    "h1{border-bottom:3px solid #b42318;padding-bottom:.3em}"
    "h2{margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}"
    "h3{margin-top:1.5em}"
    "table{border-collapse:collapse;margin:.5em 0 1em;font-size:.92em}"
    "th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;"
    "vertical-align:top;overflow-wrap:anywhere}"
    "th{background:#f3f5f7}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "tr:nth-child(even) td{background:#fafbfc}"
    "code,pre{font-family:ui-monospace,Menlo,Consolas,monospace}"
    "pre.notice{background:#f6f8fa;border:1px solid #d0d7de;padding:1em;"
    "white-space:pre-wrap}"
    "p.note{color:#57606a;font-size:.92em}"
    "p.warn{background:#fff4e5;border-left:4px solid #d97706;"
    "padding:.4em .8em}"
    "p.bad{background:#fde8e8;border-left:4px solid #b42318;"
    "padding:.4em .8em}"
    "li{margin:.15em 0}";

/* The page head (HTML) or nothing. */
static void rw_begin(struct rw *w, const struct report *r)
{
    if (w->f != REPORT_HTML)
        return;
    rw_raw(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
              "<meta charset=\"utf-8\">\n"
              "<meta http-equiv=\"Content-Security-Policy\" "
              "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
              "<meta name=\"viewport\" content=\"width=device-width\">\n"
              "<title>");
    rw_escf(w, "Incident report %s", r->run_id != NULL ? r->run_id : "");
    rw_raw(w, "</title>\n<style>");
    rw_raw(w, rw_css);
    rw_raw(w, "</style>\n</head>\n<body>\n");
}

static void rw_end(struct rw *w)
{
    if (w->f == REPORT_HTML)
        rw_raw(w, "</body>\n</html>\n");
}

/* The run's facts and the audit trail's state. */
static void rw_run(struct rw *w, const struct report *r)
{
    static const char *const heads[] = {"Run", ""};
    struct buf t = BUF_INIT;
    char a[40], b[40], n[32];
    size_t i;
    const char *cells[2];

    rw_h(w, 1, "Incident report: spam from stolen mailbox passwords");
    rw_table(w, 2, heads);
    cells[0] = "Run id";
    cells[1] = r->run_id;
    rw_row(w, 2, cells);
    cells[0] = "Playbook";
    cells[1] = r->playbook;
    rw_row(w, 2, cells);
    cells[0] = "Started";
    cells[1] = report_time_text(a, r->started);
    rw_row(w, 2, cells);
    cells[0] = "Finished";
    cells[1] = report_time_text(b, r->finished);
    rw_row(w, 2, cells);
    cells[0] = "Outcome";
    cells[1] = r->outcome;
    rw_row(w, 2, cells);
    cells[0] = "Dry run";
    cells[1] = r->dry_run ? "yes: nothing was changed" : "no";
    rw_row(w, 2, cells);
    for (i = 0; i < r->param_names.n; i++)
        rw_ok(w, buf_printf(&t, "%s%s=%s", i > 0 ? ", " : "",
                            r->param_names.v[i], r->param_values.v[i]));
    cells[0] = "Parameters";
    cells[1] = t.data != NULL ? t.data : "";
    rw_row(w, 2, cells);
    buf_reset(&t);
    if (!r->audit_present)
        rw_ok(w, buf_adds(&t, "MISSING: the run has no audit trail"));
    else if (!r->audit_ok)
        rw_ok(w, buf_printf(&t, "ALTERED: %s",
                            r->audit_reason != NULL ? r->audit_reason : ""));
    else
        rw_ok(w, buf_printf(&t, "intact: %s records, head %s%s%s",
                            rw_num(n, r->audit_records), r->audit_head,
                            r->audit_reason != NULL ? "; " : "",
                            r->audit_reason != NULL ? r->audit_reason : ""));
    cells[0] = "Audit trail";
    cells[1] = t.data != NULL ? t.data : "";
    rw_row(w, 2, cells);
    cells[0] = "Report made";
    cells[1] = report_time_text(a, r->generated);
    rw_row(w, 2, cells);
    rw_table_end(w);
    buf_release(&t);
}

/* The number of flagged suspects of a host. */
static size_t rw_flagged(const struct report_host *h)
{
    size_t i, n = 0;

    for (i = 0; i < h->findings.n_suspects; i++)
        n += h->findings.suspects[i].flagged;
    return n;
}

/*
 * A host's state as the summary says it: "clean" for a committed host
 * where identify flagged nothing and nothing was changed (as the recap).
 */
static const char *rw_state_label(const struct report_host *h)
{
    if (h->state == NULL)
        return "";
    if (strcmp(h->state, "committed") == 0 && h->findings.present &&
        rw_flagged(h) == 0 && h->rotated.n == 0 && h->purged_total == 0)
        return "clean";
    return h->state;
}

/* One line per host. */
static void rw_summary(struct rw *w, const struct report *r)
{
    static const char *const heads[] = {"Host",
                                        "State",
                                        "Queued (identify)",
                                        "Flagged accounts",
                                        "Passwords reset",
                                        "Spam purged",
                                        "Queue before",
                                        "Queue after",
                                        "Mail down"};
    char c[6][32], down[40];
    const char *cells[9];
    size_t i;

    rw_h(w, 2, "Summary");
    rw_table(w, 9, heads);
    for (i = 0; i < r->n_hosts; i++) {
        const struct report_host *h = &r->hosts[i];
        cells[0] = h->name;
        cells[1] = rw_state_label(h);
        cells[2] = h->findings.present ? rw_num(c[0], h->findings.total) : "-";
        cells[3] = h->findings.present ? rw_num(c[1], rw_flagged(h)) : "-";
        cells[4] = rw_num(c[2], h->rotated.n);
        cells[5] = rw_num(c[3], h->purged_total);
        cells[6] = h->before.present ? rw_num(c[4], h->before.total) : "-";
        cells[7] = h->after.present ? rw_num(c[5], h->after.total) : "-";
        cells[8] = rw_down(down, h);
        rw_row(w, 9, cells);
    }
    rw_table_end(w);
}

/* Joins a list as "a, b, c" into t; a failed append fails the report. */
static void rw_join(struct rw *w, struct buf *t, const struct strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        rw_ok(w, buf_printf(t, "%s%s", i > 0 ? ", " : "", l->v[i]));
}

/* "t" or "first to last" of an abuse window into t. */
static int rw_window(struct buf *t, long long first, long long last)
{
    char a[40], b[40];

    if (first < 0)
        return buf_adds(t, "unknown");
    if (first == last)
        return buf_adds(t, report_time_text(a, first));
    return buf_printf(t, "%s to %s", report_time_text(a, first),
                      report_time_text(b, last));
}

/* One account's row of the damage table. */
static void rw_damage_row(struct rw *w, const struct report_acct *a)
{
    struct buf hosts = BUF_INIT, held = BUF_INIT, win = BUF_INIT,
               dom = BUF_INIT;
    char c[5][32];
    const char *cells[10];

    rw_join(w, &hosts, &a->hosts);
    rw_ok(w, a->fate != NULL ? buf_printf(&held, "%zu %s", a->held, a->fate)
                             : buf_adds(&held, "-"));
    rw_ok(w, rw_window(&win, a->first, a->last));
    rw_ok(w, rw_values_text(&dom, &a->rcpt_domains));
    cells[0] = a->account;
    cells[1] = hosts.data != NULL ? hosts.data : "";
    cells[2] = rw_num(c[0], a->submitted);
    cells[3] = a->log_seen ? rw_num(c[1], a->sent) : "-";
    cells[4] = a->log_seen ? rw_num(c[2], a->deferred) : "-";
    cells[5] = a->log_seen ? rw_num(c[3], a->bounced) : "-";
    cells[6] = rw_num(c[4], a->queued);
    cells[7] = held.data != NULL ? held.data : "-";
    cells[8] = win.data != NULL ? win.data : "";
    cells[9] = dom.data != NULL ? dom.data : "";
    rw_row(w, 10, cells);
    buf_release(&hosts);
    buf_release(&held);
    buf_release(&win);
    buf_release(&dom);
}

/* Per flagged account, all hosts together: what left, what was held. */
static void rw_damage(struct rw *w, const struct report *r)
{
    static const char *const heads[] = {
        "Account",      "Hosts",
        "Submitted",    "Already left",
        "Deferred",     "Bounced",
        "Queued",       "Held",
        "Abuse window", "Top recipient domains"};
    struct strlist accts = STRLIST_INIT;
    struct report_acct a;
    size_t i;

    memset(&a, 0, sizeof(a));
    rw_ok(w, report_accounts(&accts, r, false));
    rw_h(w, 2, "Damage per account");
    rw_p_begin(w, "note");
    rw_esc(w, accts.n == 0
                  ? "No account was flagged."
                  : "Flagged accounts, every host together. Submitted: the "
                    "messages handed over with the account's password (per "
                    "host the larger of the queue's and the logs' count). "
                    "Already left, deferred and bounced: the mail logs, "
                    "each message once by its latest status (- when no "
                    "host had logs). Queued: read by identify. Held: what "
                    "purge held and what became of it. Recipient domains: "
                    "of the first 32 recipients of each queued message.");
    rw_p_end(w);
    if (accts.n > 0)
        rw_table(w, 10, heads);
    for (i = 0; i < accts.n; i++) {
        report_acct_release(&a);
        if (report_acct_collect(&a, r, accts.v[i]) < 0) {
            w->rc = SS_ERR;
            break;
        }
        rw_damage_row(w, &a);
    }
    if (accts.n > 0)
        rw_table_end(w);
    report_acct_release(&a);
    strlist_release(&accts);
}

/* One shared value: "V (kind): for A on H (N) and for B on G (M)." */
static void rw_shared(struct rw *w, const struct fleet_value *x)
{
    struct buf t = BUF_INIT;
    size_t i;

    rw_ok(w, buf_printf(&t, "%s (%s) sent for ", x->value,
                        fleet_kind_name(x->kind)));
    for (i = 0; i < x->n_seen; i++)
        rw_ok(w, buf_printf(&t, "%s%s on %s (%zu)",
                            i == 0               ? ""
                            : i + 1 == x->n_seen ? " and for "
                                                 : ", for ",
                            x->seen[i].account, x->seen[i].host,
                            x->seen[i].count));
    rw_li_begin(w);
    rw_esc(w, t.data != NULL ? t.data : "");
    rw_li_end(w);
    buf_release(&t);
}

/* Client IPs, HELO names and subjects of flagged accounts on several hosts. */
static void rw_fleet(struct rw *w, const struct report *r)
{
    struct fleet l;
    size_t i;

    if (r->n_hosts < 2)
        return;
    rw_ok(w, report_fleet(&l, r));
    rw_h(w, 2, "Across hosts");
    rw_p_begin(w, "note");
    rw_esc(w, "Each host's findings keep the 10 most frequent values per "
              "account and kind: rarer ones are not compared. ");
    rw_esc(w, l.n_values == 0
                  ? "No client IP, HELO name or subject of a flagged "
                    "account was seen on more than one host."
                  : "Client IPs, HELO names and subjects of flagged "
                    "accounts seen on more than one host (messages in "
                    "brackets):");
    rw_p_end(w);
    rw_ul_begin(w);
    for (i = 0; i < l.n_values; i++)
        rw_shared(w, &l.values[i]);
    rw_ul_end(w);
    fleet_release(&l);
}

/* Counts by queue, before and after. */
static void rw_queues(struct rw *w, const struct report_host *h)
{
    static const char *const heads[] = {"Queue", "Before", "After"};
    char c[2][32], t[40];
    const char *cells[3];
    size_t i;

    rw_h(w, 3, "Queue before and after");
    if (!h->before.present) {
        rw_p_begin(w, "note");
        if (h->findings.present)
            rw_escf(w,
                    "No queue listing was kept on this host. The identify "
                    "pass read %zu queued messages.",
                    h->findings.total);
        else
            rw_esc(w, "No queue listing was kept on this host.");
        rw_p_end(w);
        return;
    }
    rw_table(w, 3, heads);
    for (i = 0; i < REPORT_NQUEUES; i++) {
        cells[0] = report_queue_name(i);
        cells[1] = rw_num(c[0], h->before.counts[i]);
        cells[2] =
            h->after.present ? rw_num(c[1], h->after.counts[i]) : "unknown";
        rw_row(w, 3, cells);
    }
    cells[0] = "total";
    cells[1] = rw_num(c[0], h->before.total);
    cells[2] = h->after.present ? rw_num(c[1], h->after.total) : "unknown";
    rw_row(w, 3, cells);
    rw_table_end(w);
    rw_p_begin(w, "note");
    rw_escf(w,
            h->before.from_snapshot
                ? "Before: the postqueue -j listing of the snapshot, at %s"
                : "Before: the queue as the last identify pass read it, at %s",
            report_time_text(t, h->before.at));
    if (h->before.malformed > 0)
        rw_escf(w, " (%zu lines could not be read)", h->before.malformed);
    rw_esc(w, h->after.derived
                  ? ". After: derived from it and the purge step's journal "
                    "(the queue was not listed again after the run)."
                  : ". After: unknown (purge did not run).");
    rw_p_end(w);
}

/* The age-by-sender-domain table, like qshape -s. */
static void rw_shape(struct rw *w, const struct report_queue *q)
{
    const char *heads[REPORT_NAGES + 2];
    const char *cells[REPORT_NAGES + 2];
    char c[REPORT_NAGES + 1][32];
    size_t i, k;

    if (!q->present || q->n_rows == 0)
        return;
    rw_h(w, 4, "Queue age by sender domain (minutes, like qshape -s)");
    heads[0] = "Sender domain";
    heads[1] = "T";
    for (k = 0; k < REPORT_NAGES; k++)
        heads[k + 2] = report_age_label(k);
    rw_table(w, REPORT_NAGES + 2, heads);
    cells[0] = "TOTAL";
    cells[1] = rw_num(c[0], q->total);
    for (k = 0; k < REPORT_NAGES; k++)
        cells[k + 2] = rw_num(c[k + 1], q->ages[k]);
    rw_row(w, REPORT_NAGES + 2, cells);
    for (i = 0; i < q->n_rows; i++) {
        cells[0] = q->rows[i].domain;
        cells[1] = rw_num(c[0], q->rows[i].total);
        for (k = 0; k < REPORT_NAGES; k++)
            cells[k + 2] = rw_num(c[k + 1], q->rows[i].ages[k]);
        rw_row(w, REPORT_NAGES + 2, cells);
    }
    rw_table_end(w);
}

/* One suspect in detail. */
static void rw_suspect(struct rw *w, const struct report_suspect *s)
{
    char a[40], b[40];

    rw_h(w, 4, s->username);
    rw_ul_begin(w);
    rw_li_begin(w);
    rw_label(w, s->flagged ? "FLAGGED:" : "Not flagged:");
    rw_escf(w, "%zu queued messages (%.1f%% of the queue)%s%s", s->messages,
            s->share * 100.0, s->reason != NULL ? "; " : "",
            s->reason != NULL ? s->reason : "");
    rw_li_end(w);
    rw_li_begin(w);
    rw_label(w, "Seen:");
    rw_escf(w, "first %s, last %s", report_time_text(a, s->first_arrival),
            report_time_text(b, s->last_arrival));
    rw_li_end(w);
    rw_li_begin(w);
    rw_label(w, "Envelope sender not the account:");
    rw_escf(w, "%zu messages", s->foreign_senders);
    rw_li_end(w);
    rw_values(w, "Client IPs:", &s->clients);
    rw_values(w, "HELO names:", &s->helos);
    rw_values(w, "Sender domains:", &s->sender_domains);
    rw_values(w, "Subjects:", &s->subjects);
    rw_values(w, "Recipient domains:", &s->recipient_domains);
    if (s->log.present) {
        rw_li_begin(w);
        rw_label(w, "Mail logs:");
        rw_escf(w,
                "%zu submitted from %zu client addresses (most from %s, "
                "%zu); %zu already left, %zu deferred, %zu bounced",
                s->log.messages, s->log.clients,
                s->log.top_client != NULL ? s->log.top_client : "?",
                s->log.top_client_messages, s->log.sent, s->log.deferred,
                s->log.bounced);
        rw_li_end(w);
    }
    rw_ul_end(w);
}

/* Suspects: the flagged ones in detail, the others in a table. */
static void rw_suspects(struct rw *w, const struct report *r,
                        const struct report_host *h)
{
    static const char *const heads[] = {"Account", "Messages",   "Share",
                                        "Clients", "First seen", "Last seen"};
    const struct report_findings *f = &h->findings;
    const char *cells[6];
    char c[3][32], a[40], b[40];
    size_t i, shown = 0, others = 0;

    rw_h(w, 3, "Suspects and their evidence");
    if (!f->present) {
        rw_p_begin(w, "note");
        rw_esc(w, r->dry_run ? "No identify pass left findings on this "
                               "host: it was not read."
                             : "No identify findings were kept for this "
                               "host.");
        rw_p_end(w);
        return;
    }
    rw_p_begin(w, NULL);
    rw_escf(w,
            "The identify pass (step '%s') read %zu queued messages: %zu "
            "sent with a mailbox login (SASL), %zu from web scripts, %zu "
            "other. An account is flagged with at least %zu messages and "
            "%.0f%% of the queue.",
            f->step != NULL ? f->step : "?", f->total, f->authenticated,
            f->scripted, f->other, f->min_messages, f->min_share * 100.0);
    rw_p_end(w);
    if (f->anomalies > 0 || f->incomplete > 0) {
        rw_p_begin(w, "warn");
        rw_escf(w,
                "%zu anomalies and %zu incomplete messages in the queue "
                "files: a corrupt file, or a value imitating postcat's "
                "markers. Look at the queue by hand.",
                f->anomalies, f->incomplete);
        rw_p_end(w);
    }
    for (i = 0; i < f->n_suspects; i++)
        if (f->suspects[i].flagged)
            rw_suspect(w, &f->suspects[i]);
    for (i = 0; i < f->n_suspects; i++)
        others += !f->suspects[i].flagged;
    if (others == 0)
        return;
    rw_p_begin(w, NULL);
    rw_escf(w, "%zu other accounts had queued mail (not flagged):", others);
    rw_p_end(w);
    rw_table(w, 6, heads);
    for (i = 0; i < f->n_suspects && shown < 20; i++) {
        const struct report_suspect *s = &f->suspects[i];
        if (s->flagged)
            continue;
        shown++;
        cells[0] = s->username;
        cells[1] = rw_num(c[0], s->messages);
        snprintf(c[1], sizeof(c[1]), "%.1f%%", s->share * 100.0);
        cells[2] = c[1];
        cells[3] = rw_num(c[2], s->clients.distinct);
        cells[4] = report_time_text(a, s->first_arrival);
        cells[5] = report_time_text(b, s->last_arrival);
        rw_row(w, 6, cells);
    }
    rw_table_end(w);
    if (others > shown) {
        rw_p_begin(w, "note");
        rw_escf(w, "and %zu more (see the JSON report).", others - shown);
        rw_p_end(w);
    }
}

/* Web scripts that queued mail (reported, never acted on). */
static void rw_scripts(struct rw *w, const struct report_host *h)
{
    static const char *const heads[] = {"Script", "Messages", "First seen",
                                        "Last seen", "Sender domains"};
    const char *cells[5];
    char c[32], a[40], b[40];
    struct buf t = BUF_INIT;
    size_t i;

    if (!h->findings.present)
        return;
    rw_h(w, 3, "Web-script findings");
    if (h->findings.n_scripts == 0) {
        rw_p_begin(w, "note");
        rw_esc(w, "No queued message carried X-PHP-Originating-Script.");
        rw_p_end(w);
        return;
    }
    rw_p_begin(w, "warn");
    rw_esc(w, "Mail queued by web scripts (no mailbox login): a vulnerable "
              "or malicious script on the server. spamstop reports these "
              "and does not act on them; check the scripts by hand.");
    rw_p_end(w);
    rw_table(w, 5, heads);
    for (i = 0; i < h->findings.n_scripts; i++) {
        const struct report_script *s = &h->findings.scripts[i];
        buf_reset(&t);
        rw_ok(w, rw_values_text(&t, &s->sender_domains));
        cells[0] = s->script;
        cells[1] = rw_num(c, s->messages);
        cells[2] = report_time_text(a, s->first_arrival);
        cells[3] = report_time_text(b, s->last_arrival);
        cells[4] = t.data != NULL ? t.data : "";
        rw_row(w, 5, cells);
    }
    rw_table_end(w);
    buf_release(&t);
}

/* The step of h running action, or NULL. */
static const struct report_step *rw_step(const struct report_host *h,
                                         const char *action, bool last)
{
    const struct report_step *found = NULL;
    size_t i;

    for (i = 0; i < h->n_steps; i++)
        if (strcmp(h->steps[i].action, action) == 0) {
            found = &h->steps[i];
            if (!last)
                break;
        }
    return found;
}

/* True when a step may have changed the host and was not undone. */
static bool rw_changed(const struct report_step *s)
{
    return s != NULL && (strcmp(s->status, "done") == 0 ||
                         strncmp(s->status, "begun", 5) == 0 ||
                         strcmp(s->status, "failed, outcome unknown") == 0 ||
                         strcmp(s->status, "undo failed") == 0 ||
                         strncmp(s->status, "undo begun", 10) == 0);
}

/* The stop and start of Postfix, and how long mail was down. */
static void rw_changes_service(struct rw *w, const struct report_host *h)
{
    const struct report_step *stop = rw_step(h, "service", false);
    const struct report_step *start = rw_step(h, "service", true);

    if (rw_changed(stop) && stop != start) {
        rw_li_begin(w);
        rw_escf(w, "Postfix was stopped (step '%s')", stop->name);
        if (rw_changed(start))
            rw_escf(w, " and started again (step '%s').", start->name);
        else
            rw_escf(w, "; the start step '%s' is %s.",
                    start != NULL ? start->name : "?",
                    start != NULL ? start->status : "missing");
        rw_li_end(w);
    }
    if (h->mail_down_known) {
        rw_li_begin(w);
        rw_escf(w,
                "Postfix was down for %lld.%02lld s (stop to start, taken "
                "on the host)%s",
                h->mail_down_ms / 1000, h->mail_down_ms % 1000 / 10,
                h->mail_down_by_timer
                    ? ": the restart timer started it again before the run "
                      "did."
                    : ".");
        rw_li_end(w);
    }
}

/* The passwords set, and those put back by a rollback. */
static void rw_changes_passwords(struct rw *w, const struct report_host *h)
{
    struct buf t = BUF_INIT;

    if (h->rotated.n > 0) {
        rw_join(w, &t, &h->rotated);
        rw_li_begin(w);
        rw_escf(w,
                "New password set for: %s (%s%s). The new passwords are "
                "only in the run's credentials file (mode 0600), never in "
                "this report.",
                t.data != NULL ? t.data : "",
                h->backend != NULL ? h->backend : "backend unknown",
                h->recoverable ? "; the old ones are kept on the host for a "
                                 "rollback"
                : h->hashed.n > 0 && h->hashed.n < h->rotated.n
                    ? "; the old ones are kept on the host for a rollback, "
                      "except where plesk stores them hashed"
                    : "; the old ones cannot be put back");
        if (h->hashed.n > 0 && h->hashed.n < h->rotated.n) {
            buf_reset(&t);
            rw_join(w, &t, &h->hashed);
            rw_escf(w, " Stored hashed (cannot be put back): %s.",
                    t.data != NULL ? t.data : "");
        }
        rw_li_end(w);
    }
    if (h->restored.n > 0) {
        buf_reset(&t);
        rw_join(w, &t, &h->restored);
        rw_li_begin(w);
        rw_escf(w, "Old password put back (rolled back) for: %s",
                t.data != NULL ? t.data : "");
        rw_li_end(w);
    }
    buf_release(&t);
}

/* "03:20:08 UTC on 2026-12-05" of t. */
static void rw_utc(char *out, size_t size, long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t < 0 || gmtime_r(&tt, &tm) == NULL)
        snprintf(out, size, "an unknown time");
    else
        strftime(out, size, "%H:%M:%S UTC on %Y-%m-%d", &tm);
}

/* Whether the attacker is out: the verify step's checks, per account. */
static void rw_changes_checks(struct rw *w, const struct report_host *h)
{
    char since[48], first[48];
    size_t i;

    for (i = 0; i < h->n_checks; i++) {
        const struct report_check *c = &h->checks[i];
        rw_li_begin(w);
        rw_utc(since, sizeof(since), c->since);
        rw_utc(first, sizeof(first), c->first_login);
        if (strcmp(c->password, "confirmed") == 0)
            rw_escf(w,
                    "%s: new password confirmed through the host's own "
                    "authentication (%s).",
                    c->account, c->via != NULL ? c->via : "?");
        else
            rw_escf(w,
                    "%s: new password NOT confirmed (%s%s%s): the host "
                    "was left contained, its held mail kept.",
                    c->account, c->password,
                    c->why != NULL && c->why[0] != '\0' ? ": " : "",
                    c->why != NULL ? c->why : "");
        if (c->watched_s > 0 && c->logins == 0)
            rw_escf(w, " No login of %s since %s, watched %lld s.", c->account,
                    since, c->watched_s);
        else if (c->watched_s > 0 && c->logins > 0)
            rw_escf(w,
                    " %lld login(s) of %s since %s, the first at %s "
                    "from %s (watched %lld s).",
                    c->logins, c->account, since, first,
                    c->first_client != NULL ? c->first_client : "?",
                    c->watched_s);
        else if (c->watched_s > 0)
            rw_escf(w,
                    " The mail log could not be read after a %lld s "
                    "watch.",
                    c->watched_s);
        rw_li_end(w);
    }
}

/* What became of each flagged account's queued messages. */
static void rw_changes_purged(struct rw *w, const struct report_host *h)
{
    size_t i;

    for (i = 0; i < h->purged_accounts.n; i++) {
        rw_li_begin(w);
        rw_escf(w, "%zu queued messages of %s: %s", h->purged_counts[i],
                h->purged_accounts.v[i],
                strcmp(h->purge_fate, "deleted") == 0
                    ? "put on hold, then deleted when the run committed"
                : strcmp(h->purge_fate, "on hold") == 0
                    ? "put on hold (not delivered; deleted only at commit)"
                : strcmp(h->purge_fate, "released") == 0
                    ? "put on hold, then released by the rollback"
                    : "deleted, then restored to hold from the snapshot by "
                      "the rollback");
        rw_li_end(w);
    }
}

/* What changed on the host. */
static void rw_changes(struct rw *w, const struct report *r,
                       const struct report_host *h)
{
    rw_h(w, 3, "What was changed");
    rw_ul_begin(w);
    rw_changes_service(w, h);
    rw_changes_passwords(w, h);
    rw_changes_checks(w, h);
    rw_changes_purged(w, h);
    if (!rw_changed(rw_step(h, "service", false)) && h->rotated.n == 0 &&
        h->purged_total == 0 && h->restored.n == 0) {
        rw_li_begin(w);
        rw_esc(w, r->dry_run ? "Nothing: this was a dry run." : "Nothing.");
        rw_li_end(w);
    }
    rw_ul_end(w);
}

/* The flagged accounts of h's findings as "a, b" into t. */
static void rw_flagged_names(struct rw *w, struct buf *t,
                             const struct report_host *h)
{
    size_t i;

    for (i = 0; i < h->findings.n_suspects; i++)
        if (h->findings.suspects[i].flagged)
            rw_ok(w, buf_printf(t, "%s%s", t->len > 0 ? ", " : "",
                                h->findings.suspects[i].username));
}

/* What purge would hold, per flagged account, into t. */
static void rw_would_hold(struct rw *w, struct buf *t,
                          const struct report_findings *f)
{
    size_t i;

    for (i = 0; i < f->n_suspects; i++)
        if (f->suspects[i].flagged)
            rw_ok(w, buf_printf(t, "%s%zu of %s", t->len > 0 ? ", " : "",
                                f->suspects[i].n_queue_ids,
                                f->suspects[i].username));
}

/* One step of a dry run's plan, from the findings (flagged accounts). */
static void rw_would_step(struct rw *w, const struct report_host *h,
                          const struct report_step *s, bool first_service)
{
    const struct report_findings *f = &h->findings;
    struct buf t = BUF_INIT;

    if (strcmp(s->action, "service") == 0)
        rw_escf(w, "%s Postfix (step '%s').", first_service ? "Stop" : "Start",
                s->name);
    else if (strcmp(s->action, "rotate") == 0) {
        rw_flagged_names(w, &t, h);
        rw_escf(w, "Set a new password for %s (step '%s').", t.data, s->name);
    } else if (strcmp(s->action, "purge") == 0) {
        rw_would_hold(w, &t, f);
        rw_escf(w,
                "Hold %zu queued messages (%s), deleted when the run "
                "commits; %zu other messages stay queued (step '%s').",
                f->flagged_messages + f->backscatter, t.data, f->remainder,
                s->name);
    } else if (strcmp(s->action, "snapshot") == 0)
        rw_escf(w,
                "Keep a tar of the held messages on the host and in the "
                "evidence folder (step '%s').",
                s->name);
    else
        rw_escf(w, "Run step '%s' (%s, %s).", s->name, s->action, s->kind);
    buf_release(&t);
}

/* A dry run's plan: what a real run would change, from the findings. */
static void rw_would(struct rw *w, const struct report_host *h)
{
    const struct report_findings *f = &h->findings;
    bool service = false;
    size_t i;

    rw_h(w, 3, "What a real run would do");
    rw_p_begin(w, "note");
    if (!f->present)
        rw_esc(w, "Unknown: no identify pass left findings on this host.");
    else if (rw_flagged(h) == 0)
        rw_escf(w,
                "Nothing: no account over the thresholds in step '%s' (the "
                "steps that change the host run only for flagged accounts).",
                f->step);
    else
        rw_escf(w,
                "For the %zu flagged account%s of step '%s' (from its "
                "findings; the plan the dry run printed is the exact word):",
                rw_flagged(h), rw_flagged(h) == 1 ? "" : "s", f->step);
    rw_p_end(w);
    if (!f->present || rw_flagged(h) == 0)
        return;
    rw_ul_begin(w);
    for (i = 0; i < h->n_steps; i++) {
        const struct report_step *s = &h->steps[i];
        if (strcmp(s->kind, "read-only") == 0)
            continue;
        rw_li_begin(w);
        rw_would_step(w, h, s, !service);
        service |= strcmp(s->action, "service") == 0;
        rw_li_end(w);
    }
    rw_li_begin(w);
    rw_esc(w, "Draft a notice to the customer of each account whose "
              "password was reset.");
    rw_li_end(w);
    rw_ul_end(w);
}

/* What the run read on the host: the identify passes and their files. */
static void rw_looked(struct rw *w, const struct report_host *h)
{
    size_t i, k, shown = 0;

    rw_h(w, 3, "What was looked at");
    rw_ul_begin(w);
    for (i = 0; i < h->n_steps; i++) {
        const struct report_step *s = &h->steps[i];
        if (strcmp(s->kind, "read-only") != 0 || strcmp(s->status, "read"))
            continue;
        rw_li_begin(w);
        rw_escf(w, "Step '%s' (%s) ran, read-only", s->name, s->action);
        if (h->findings.present && h->findings.step != NULL &&
            strcmp(h->findings.step, s->name) == 0)
            rw_escf(w,
                    ": %zu queued messages read; its findings are the "
                    "suspects above",
                    h->findings.total);
        rw_esc(w, ".");
        rw_li_end(w);
        shown++;
    }
    for (k = 0; k < h->n_files; k++) {
        size_t n = strlen(h->files[k].path);
        if (n > 8 && strcmp(h->files[k].path + n - 8, ".maillog") == 0) {
            rw_li_begin(w);
            rw_escf(w, "The mail logs: %s (%lld bytes).", h->files[k].path,
                    h->files[k].bytes);
            rw_li_end(w);
            shown++;
        }
    }
    if (shown == 0) {
        rw_li_begin(w);
        rw_esc(w, "Nothing: no read-only step ran on this host.");
        rw_li_end(w);
    }
    rw_ul_end(w);
}

/* What was deliberately kept: other mail, accounts under the thresholds. */
static void rw_kept(struct rw *w, const struct report_host *h)
{
    const struct report_findings *f = &h->findings;
    size_t i, kept = 0;

    rw_h(w, 3, "What was kept");
    rw_ul_begin(w);
    if (f->present) {
        rw_li_begin(w);
        rw_escf(w, "%zu queued messages of other senders stay in the queue.",
                h->purged_total <= f->total ? f->total - h->purged_total
                                            : f->remainder);
        rw_li_end(w);
        for (i = 0; i < f->n_suspects; i++)
            kept += !f->suspects[i].flagged;
        if (kept > 0) {
            rw_li_begin(w);
            rw_escf(w, "%zu accounts under the thresholds were not touched.",
                    kept);
            rw_li_end(w);
        }
        if (f->n_scripts > 0) {
            rw_li_begin(w);
            rw_escf(w,
                    "%zu messages of %zu web scripts were reported, not "
                    "acted on.",
                    f->scripted, f->n_scripts);
            rw_li_end(w);
        }
    }
    if (rw_changed(rw_step(h, "snapshot", true))) {
        rw_li_begin(w);
        rw_esc(w, "The snapshot (a tar of the flagged messages) stays on "
                  "the host and in the evidence folder.");
        rw_li_end(w);
    } else if (!f->present) {
        rw_li_begin(w);
        rw_esc(w, "Everything: the run changed nothing on this host.");
        rw_li_end(w);
    }
    rw_ul_end(w);
}

/* Every step's journaled state, and what a rollback would still do. */
static void rw_steps(struct rw *w, const struct report *r,
                     const struct report_host *h)
{
    static const char *const heads[] = {"#",      "Step",   "Action", "Kind",
                                        "Status", "Commit", "Error"};
    const char *cells[7];
    char c[32], ta[40], tb[40];
    struct buf t = BUF_INIT;
    size_t i;

    rw_h(w, 3, "Rollback state");
    rw_p_begin(w, strcmp(h->state, "needs-attention") == 0 ? "bad" : NULL);
    rw_escf(w, "Host state: %s.", h->state);
    if (h->end_state != NULL)
        rw_escf(w, " The journal ends with '%s' in the %s phase.", h->end_state,
                h->end_phase != NULL ? h->end_phase : "?");
    if (h->rollback_begun)
        rw_esc(w, " A rollback was begun.");
    if (h->last_error != NULL)
        rw_escf(w, " Last error: %s", h->last_error);
    if (h->begun_at > 0)
        rw_escf(w, " Journal from %s to %s.", report_time_text(ta, h->begun_at),
                report_time_text(tb, h->ended_at));
    rw_p_end(w);
    for (i = h->n_steps; i-- > 0;)
        if (rw_changed(&h->steps[i]) && strcmp(h->steps[i].kind, "read-only"))
            rw_ok(w, buf_printf(&t, "%s%s", t.len > 0 ? ", " : "",
                                h->steps[i].name));
    rw_p_begin(w, NULL);
    if (t.len > 0)
        rw_escf(w,
                "'spamstop rollback %s' would undo, newest first: %s "
                "(stopping at a pivot that cannot be undone).",
                r->run_id, t.data);
    else
        rw_esc(w, r->dry_run ? "Nothing was changed on this host (dry run): "
                               "nothing to undo."
                             : "Nothing on this host is left to undo.");
    rw_p_end(w);
    rw_table(w, 7, heads);
    for (i = 0; i < h->n_steps; i++) {
        const struct report_step *s = &h->steps[i];
        snprintf(c, sizeof(c), "%zu", i + 1);
        cells[0] = c;
        cells[1] = s->name;
        cells[2] = s->action;
        cells[3] = s->kind;
        cells[4] = s->status;
        cells[5] = s->commit;
        cells[6] = s->error != NULL ? s->error : "";
        rw_row(w, 7, cells);
    }
    rw_table_end(w);
    buf_release(&t);
}

/* The host's evidence files and their digests. */
static void rw_files(struct rw *w, const struct report_host *h)
{
    static const char *const heads[] = {"File", "Bytes", "SHA-256",
                                        "In audit trail"};
    const char *cells[4];
    char c[32];
    size_t i;

    rw_h(w, 3, "Evidence files");
    if (h->n_files == 0) {
        rw_p_begin(w, "note");
        rw_esc(w, "None.");
        rw_p_end(w);
        return;
    }
    rw_table(w, 4, heads);
    for (i = 0; i < h->n_files; i++) {
        snprintf(c, sizeof(c), "%lld", h->files[i].bytes);
        cells[0] = h->files[i].path;
        cells[1] = c;
        cells[2] = h->files[i].sha256;
        cells[3] = h->files[i].in_trail ? "yes" : "not in trail";
        rw_row(w, 4, cells);
    }
    rw_table_end(w);
}

/* Everything about one host. */
static void rw_host(struct rw *w, const struct report *r,
                    const struct report_host *h)
{
    struct buf t = BUF_INIT;
    size_t i;

    rw_ok(w, buf_printf(&t, "Host %s", h->name));
    rw_h(w, 2, t.data != NULL ? t.data : "Host");
    rw_queues(w, h);
    rw_shape(w, &h->before);
    rw_suspects(w, r, h);
    rw_scripts(w, h);
    rw_changes(w, r, h);
    if (r->dry_run) {
        rw_would(w, h);
        rw_looked(w, h);
    } else {
        rw_kept(w, h);
    }
    rw_steps(w, r, h);
    rw_files(w, h);
    if (h->notes.n > 0) {
        rw_h(w, 3, "What this report cannot tell");
        rw_ul_begin(w);
        for (i = 0; i < h->notes.n; i++) {
            rw_li_begin(w);
            rw_esc(w, h->notes.v[i]);
            rw_li_end(w);
        }
        rw_ul_end(w);
    }
    buf_release(&t);
}

/* One draft notice per account whose new password stands on a host. */
static void rw_notices(struct rw *w, const struct report *r)
{
    struct strlist accts = STRLIST_INIT;
    struct buf t = BUF_INIT;
    size_t i;

    rw_ok(w, report_accounts(&accts, r, true));
    if (accts.n == 0)
        goto out;
    rw_h(w, 2, "Draft notices to customers");
    rw_p_begin(w, "note");
    rw_esc(w, (w->flags & REPORT_NOTICE_HOSTS)
                  ? "One per account, whatever the hosts it was found on. "
                    "They name the hosts (--notice-hosts)."
                  : "One per account, whatever the hosts it was found on. "
                    "They name no host (--notice-hosts names them).");
    rw_p_end(w);
    for (i = 0; i < accts.n; i++) {
        buf_reset(&t);
        rw_ok(w,
              buf_printf(&t, "Draft notice to the customer: %s", accts.v[i]));
        rw_h(w, 3, t.data != NULL ? t.data : "Draft notice");
        buf_reset(&t);
        rw_ok(w, report_notice(&t, r, accts.v[i], w->flags));
        rw_pre(w, t.data != NULL ? t.data : "");
    }
out:
    strlist_release(&accts);
    buf_release(&t);
}

/* Renders Markdown or HTML. */
static int rw_document(struct buf *out, const struct report *r,
                       enum report_format f, unsigned flags, struct errbuf *err)
{
    struct rw w = {out, f, flags, 0, STRLIST_INIT, 0};
    size_t i;

    rw_begin(&w, r);
    rw_run(&w, r);
    if (r->dry_run) {
        rw_p_begin(&w, "warn");
        rw_esc(&w, "This was a dry run: the hosts were read (read-only "
                   "steps and probes), nothing was changed. Each host's "
                   "\"What a real run would do\" is the plan.");
        rw_p_end(&w);
    }
    rw_summary(&w, r);
    rw_damage(&w, r);
    rw_fleet(&w, r);
    for (i = 0; i < r->n_hosts; i++)
        rw_host(&w, r, &r->hosts[i]);
    rw_notices(&w, r);
    rw_end(&w);
    strlist_release(&w.cells);
    if (w.rc < 0)
        return errbuf_set(err, w.rc, "out of memory rendering the report");
    return 0;
}

/* Renders in any format; see report.h. */
int report_render(struct buf *out, const struct report *r, enum report_format f,
                  unsigned flags, struct errbuf *err)
{
    if (f == REPORT_JSON)
        return report_render_json(out, r, flags, err);
    return rw_document(out, r, f, flags, err);
}
