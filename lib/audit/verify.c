/* Reading the audit trail: verifying its chain and showing its timeline. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit_int.h"
#include "spamstop/audit.h"
#include "spamstop/text.h"
#include "spamstop/fsio.h"

json_t *audit_json_text(const char *s, size_t n, size_t *replaced)
{
    static const char fffd[] = "\xef\xbf\xbd";
    const unsigned char *p = (const unsigned char *)s;
    struct buf b = BUF_INIT;
    size_t i = 0, bad = 0;
    json_t *v = NULL;

    while (i < n) {
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0) {
            if (buf_add(&b, fffd, 3) < 0)
                goto out;
            bad++;
            i++;
            continue;
        }
        if (buf_add(&b, p + i, k) < 0)
            goto out;
        i += k;
    }
    v = json_stringn(b.data != NULL ? b.data : "", b.len);
    if (replaced != NULL)
        *replaced = bad;
out:
    buf_release(&b);
    return v;
}

/* One line of the trail as found in memory. */
struct audit_line {
    const char *p;
    size_t len;
};

/* What a scan needs of one parsed record. */
struct audit_fields {
    json_int_t seq;
    char prev[SHA256_HEX_LEN + 1];
    char run[256];
};

/* Records the first failure in out; always returns 0 (for tail calls). */
static int audit_fail(struct audit_verify_result *out, size_t line,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int audit_fail(struct audit_verify_result *out, size_t line,
                      const char *fmt, ...)
{
    va_list ap;

    out->ok = false;
    out->bad_line = line;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
    return 0;
}

/*
 * Parses one line into f.  Returns 0, or -1 with a short reason in why
 * when the line is not a well-formed record.
 */
static int audit_parse_line(struct audit_fields *f, const struct audit_line *l,
                            char *why, size_t whylen)
{
    static const char *const strings[] = {"time", "run", "event", "prev"};
    json_error_t jerr;
    json_t *o, *v;
    size_t i;
    int r = -1;

    o = json_loadb(l->p, l->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                   &jerr);
    if (o == NULL) {
        snprintf(why, whylen, "not JSON (%.100s at column %d)", jerr.text,
                 jerr.column);
        return -1;
    }
    if (!json_is_object(o)) {
        snprintf(why, whylen, "not a JSON object");
        goto out;
    }
    v = json_object_get(o, "seq");
    if (!json_is_integer(v)) {
        snprintf(why, whylen, "no integer 'seq'");
        goto out;
    }
    f->seq = json_integer_value(v);
    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (!json_is_string(json_object_get(o, strings[i]))) {
            snprintf(why, whylen, "no string '%s'", strings[i]);
            goto out;
        }
    }
    v = json_object_get(o, "prev");
    if (json_string_length(v) != SHA256_HEX_LEN ||
        strspn(json_string_value(v), "0123456789abcdef") != SHA256_HEX_LEN) {
        snprintf(why, whylen, "'prev' is not 64 hex digits");
        goto out;
    }
    memcpy(f->prev, json_string_value(v), sizeof(f->prev));
    snprintf(f->run, sizeof(f->run), "%s",
             json_string_value(json_object_get(o, "run")));
    r = 0;
out:
    json_decref(o);
    return r;
}

/* Splits data into lines; *out_incomplete when the last has no newline. */
static int audit_split(struct audit_line **out, size_t *out_n,
                       bool *out_incomplete, const char *data, size_t len)
{
    struct audit_line *lines = NULL;
    size_t n = 0, alloc = 0, pos = 0;

    *out_incomplete = false;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - data) : len;
        if (n == alloc) {
            size_t na = alloc ? alloc * 2 : 64;
            struct audit_line *p = realloc(lines, na * sizeof(*p));
            if (p == NULL) {
                free(lines);
                return SS_ERR;
            }
            lines = p;
            alloc = na;
        }
        lines[n].p = data + pos;
        lines[n].len = end - pos;
        n++;
        if (nl == NULL)
            *out_incomplete = true;
        pos = end + 1;
    }
    *out = lines;
    *out_n = n;
    return 0;
}

/* Hex SHA-256 of one line. */
static int audit_hash_line(char out[SHA256_HEX_LEN + 1],
                           const struct audit_line *l)
{
    return sha256_hex(out, l->p, l->len);
}

/*
 * True when line i (0-based) is known intact from outside it: the next
 * line's prev is its hash, or the anchor names it.
 */
static bool audit_vouched(const struct audit_line *lines, size_t n, size_t i,
                          const char hash[SHA256_HEX_LEN + 1],
                          const struct audit_anchor *anchor)
{
    struct audit_fields next;
    char why[128];

    if (i + 1 < n) {
        if (audit_parse_line(&next, &lines[i + 1], why, sizeof(why)) < 0)
            return false;
        return strcmp(next.prev, hash) == 0;
    }
    return anchor != NULL && anchor->records == i + 1 &&
           anchor->head[0] != '\0' && strcmp(anchor->head, hash) == 0;
}

/* What a scan carries from one line to the next. */
struct audit_walk {
    const struct audit_line *lines;
    size_t n;
    bool incomplete; /* the last line has no newline */
    const struct audit_anchor *anchor;
    char expect[SHA256_HEX_LEN + 1]; /* the prev the next line must hold */
    struct audit_fields first;
};

/* Says why line i's seq is not its line number: which edit explains it. */
static void audit_fail_seq(struct audit_verify_result *out,
                           const struct audit_walk *w, size_t i,
                           const struct audit_fields *f,
                           const char hash[SHA256_HEX_LEN + 1])
{
    struct audit_fields g;
    char why[160];
    size_t ln = i + 1;
    bool next_ok = i + 1 < w->n && audit_parse_line(&g, &w->lines[i + 1], why,
                                                    sizeof(why)) == 0;

    if (f->seq == (json_int_t)ln + 1 && next_ok && g.seq == (json_int_t)ln)
        audit_fail(out, ln,
                   "records %zu and %zu are swapped (line %zu holds "
                   "record %zu) -- reordered",
                   ln, ln + 1, ln, ln + 1);
    else if (f->seq == (json_int_t)ln - 1 && i > 0 &&
             audit_vouched(w->lines, w->n, i, hash, w->anchor))
        audit_fail(out, ln - 1,
                   "record at line %zu was inserted: line %zu holds "
                   "seq %zu too and the chain continues from it",
                   ln - 1, ln, ln - 1);
    else if (f->seq > (json_int_t)ln)
        audit_fail(out, ln,
                   "record %zu (line %zu) is missing: the line holds "
                   "seq %" JSON_INTEGER_FORMAT " -- deleted, or its seq edited",
                   ln, ln, f->seq);
    else
        audit_fail(out, ln,
                   "record %zu (line %zu) has seq %" JSON_INTEGER_FORMAT
                   " -- inserted, reordered or edited",
                   ln, ln, f->seq);
}

/* Says why line i's prev breaks the chain: it, or the line before, changed. */
static void audit_fail_prev(struct audit_verify_result *out,
                            const struct audit_walk *w, size_t i,
                            const char hash[SHA256_HEX_LEN + 1])
{
    size_t ln = i + 1;

    if (i > 0 && audit_vouched(w->lines, w->n, i, hash, w->anchor))
        audit_fail(out, ln - 1,
                   "record %zu (line %zu) was edited: line %zu's prev "
                   "does not match its hash",
                   ln - 1, ln - 1, ln);
    else
        audit_fail(out, ln,
                   "record %zu (line %zu): prev does not match line "
                   "%zu -- edited, deleted or reordered",
                   ln, ln, ln - 1);
}

/*
 * Checks line i against the chain so far and advances it.  Returns 0
 * (out->ok false when the line fails), or SS_ERR when it cannot be hashed.
 */
static int audit_check_line(struct audit_verify_result *out,
                            struct audit_walk *w, size_t i)
{
    struct audit_fields f;
    char hash[SHA256_HEX_LEN + 1], why[160];
    size_t ln = i + 1;

    if (audit_hash_line(hash, &w->lines[i]) < 0)
        return SS_ERR;
    if (i + 1 == w->n && w->incomplete)
        return audit_fail(out, ln,
                          "line %zu is incomplete (no newline): the trail was "
                          "cut during a write or truncated",
                          ln);
    if (audit_parse_line(&f, &w->lines[i], why, sizeof(why)) < 0)
        return audit_fail(out, ln,
                          "record %zu (line %zu) is damaged: %s -- edited", ln,
                          ln, why);
    if (f.seq != (json_int_t)ln) {
        audit_fail_seq(out, w, i, &f, hash);
        return 0;
    }
    if (strcmp(f.prev, w->expect) != 0) {
        audit_fail_prev(out, w, i, hash);
        return 0;
    }
    if (i == 0)
        w->first = f;
    else if (strcmp(f.run, w->first.run) != 0)
        return audit_fail(out, ln,
                          "record %zu (line %zu) belongs to run '%.60s', not "
                          "'%.60s' -- inserted from another trail",
                          ln, ln, f.run, w->first.run);
    if (w->anchor != NULL && w->anchor->records == ln &&
        w->anchor->head[0] != '\0' && strcmp(w->anchor->head, hash) != 0)
        return audit_fail(out, ln,
                          "record %zu (line %zu) does not match the anchor's "
                          "head hash -- edited",
                          ln, ln);
    memcpy(w->expect, hash, sizeof(w->expect));
    out->records = ln;
    return 0;
}

int audit_scan_string(struct audit_verify_result *out, struct audit_scan *scan,
                      const char *data, size_t len,
                      const struct audit_anchor *anchor)
{
    struct audit_line *lines = NULL;
    struct audit_walk w;
    size_t n = 0, i;
    int r = 0;

    memset(out, 0, sizeof(*out));
    memset(&w, 0, sizeof(w));
    out->ok = true;
    if (scan != NULL)
        memset(scan, 0, sizeof(*scan));
    if (audit_split(&lines, &n, &w.incomplete, data, len) < 0)
        return SS_ERR;
    w.lines = lines;
    w.n = n;
    w.anchor = anchor;
    memset(w.expect, '0', SHA256_HEX_LEN);
    w.expect[SHA256_HEX_LEN] = '\0';
    for (i = 0; i < n && out->ok && r == 0; i++)
        r = audit_check_line(out, &w, i);
    if (r < 0)
        goto out;
    if (out->ok && anchor != NULL && anchor->records > n)
        audit_fail(out, n + 1,
                   "the trail ends at record %zu but its anchor says %" PRIu64
                   " -- the tail was truncated",
                   n, anchor->records);
    if (out->ok) {
        out->records = n;
        if (n > 0)
            memcpy(out->head, w.expect, sizeof(out->head));
    }
    if (scan != NULL)
        memcpy(scan->run, w.first.run, sizeof(scan->run));
out:
    free(lines);
    return r;
}

int audit_verify_string_anchor(struct audit_verify_result *out,
                               const char *data, size_t len,
                               const struct audit_anchor *anchor)
{
    return audit_scan_string(out, NULL, data, len, anchor);
}

int audit_verify_string(struct audit_verify_result *out, const char *data,
                        size_t len)
{
    return audit_scan_string(out, NULL, data, len, NULL);
}

int audit_verify_file_anchor(struct audit_verify_result *out, const char *path,
                             const struct audit_anchor *anchor,
                             struct errbuf *err)
{
    char *data = NULL;
    size_t len = 0;
    int r;

    memset(out, 0, sizeof(*out));
    r = fsio_read_file(&data, &len, path, AUDIT_FILE_MAX, err);
    if (r < 0)
        return r;
    r = audit_scan_string(out, NULL, data, len, anchor);
    if (r < 0)
        errbuf_set(err, r, "out of memory verifying '%s'", path);
    free(data);
    return r;
}

int audit_verify_file(struct audit_verify_result *out, const char *path,
                      struct errbuf *err)
{
    return audit_verify_file_anchor(out, path, NULL, err);
}

int audit_anchor_parse(struct audit_anchor *out, const char *s)
{
    const char *colon = strchr(s, ':');
    char *end = NULL;
    unsigned long long n;

    memset(out, 0, sizeof(*out));
    if (*s < '0' || *s > '9')
        return SS_EINVAL;
    n = strtoull(s, &end, 10);
    if (end == s || (colon == NULL && *end != '\0') ||
        (colon != NULL && end != colon))
        return SS_EINVAL;
    out->records = n;
    if (colon == NULL)
        return 0;
    if (strlen(colon + 1) != SHA256_HEX_LEN ||
        strspn(colon + 1, "0123456789abcdef") != SHA256_HEX_LEN)
        return SS_EINVAL;
    memcpy(out->head, colon + 1, sizeof(out->head));
    return 0;
}

/*
 * Writes s to f with control characters (C0, DEL, C1) escaped, so remote
 * text cannot drive the operator's terminal; at most max bytes of s.
 */
static void audit_put_safe(FILE *f, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n = strlen(s);

    if (n > max)
        n = max;
    while (i < n) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            fprintf(f, "\\x%02x", p[i]);
            i++;
        } else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
                   p[i + 1] <= 0x9f) {
            fprintf(f, "\\u%04x", p[i + 1]);
            i += 2;
        } else {
            fputc(p[i], f);
            i++;
        }
    }
    if (strlen(s) > max)
        fputs("...", f);
}

/* A record's string field, or "-". */
static const char *audit_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL && s[0] != '\0' ? s : "-";
}

/* Prints a padded column of a string field. */
static void audit_col(FILE *f, const char *s, int width)
{
    int len = (int)strlen(s);

    audit_put_safe(f, s, (size_t)width);
    if (len < width)
        fprintf(f, "%*s", width - len, "");
    fputc(' ', f);
}

/* One timeline row for one parsed record. */
static void audit_show_record(FILE *f, json_t *o)
{
    json_t *ex = json_object_get(o, "exit");
    json_t *dur = json_object_get(o, "duration_ms");
    const char *sig = json_string_value(json_object_get(o, "signal"));
    const char *rc = json_string_value(json_object_get(o, "rc"));
    const char *what = json_string_value(json_object_get(o, "command"));
    char exitbuf[32], durbuf[32];

    if (json_is_integer(ex))
        snprintf(exitbuf, sizeof(exitbuf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(ex));
    else if (sig != NULL)
        snprintf(exitbuf, sizeof(exitbuf), "SIG%.20s", sig);
    else
        snprintf(exitbuf, sizeof(exitbuf), "-");
    if (json_is_integer(dur))
        snprintf(durbuf, sizeof(durbuf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(dur));
    else
        snprintf(durbuf, sizeof(durbuf), "-");
    fprintf(f, "%4" JSON_INTEGER_FORMAT " ",
            json_integer_value(json_object_get(o, "seq")));
    audit_col(f, audit_str(o, "time"), 24);
    audit_col(f, audit_str(o, "host"), 20);
    audit_col(f, audit_str(o, "step"), 14);
    audit_col(f, audit_str(o, "phase"), 8);
    fprintf(f, "%5s %7s ", exitbuf, durbuf);
    audit_put_safe(f, audit_str(o, "event"), 32);
    if (rc != NULL && strcmp(rc, "ok") != 0) {
        fputs(" [", f);
        audit_put_safe(f, rc, 32);
        fputc(']', f);
    }
    if (what == NULL)
        what = json_string_value(json_object_get(o, "detail"));
    if (what != NULL) {
        fputs(": ", f);
        audit_put_safe(f, what, 400);
    }
    fputc('\n', f);
}

int audit_show(FILE *f, const char *path, struct errbuf *err)
{
    struct audit_verify_result vr;
    struct audit_line *lines = NULL;
    char *data = NULL;
    bool incomplete;
    size_t len = 0, n = 0, i;
    int r;

    r = fsio_read_file(&data, &len, path, AUDIT_FILE_MAX, err);
    if (r < 0)
        return r;
    r = audit_split(&lines, &n, &incomplete, data, len);
    if (r < 0) {
        errbuf_set(err, r, "out of memory reading '%s'", path);
        goto out;
    }
    fprintf(f, "%4s %-24s %-20s %-14s %-8s %5s %7s %s\n", "SEQ", "TIME", "HOST",
            "STEP", "PHASE", "EXIT", "MS", "EVENT: COMMAND");
    for (i = 0; i < n; i++) {
        json_t *o = json_loadb(lines[i].p, lines[i].len, JSON_ALLOW_NUL, NULL);
        if (json_is_object(o))
            audit_show_record(f, o);
        else
            fprintf(f, "   ? line %zu is not a readable record\n", i + 1);
        json_decref(o);
    }
    r = audit_scan_string(&vr, NULL, data, len, NULL);
    if (r < 0) {
        errbuf_set(err, r, "out of memory verifying '%s'", path);
        goto out;
    }
    if (vr.ok)
        fprintf(f, "%zu records, chain intact, head %s\n", vr.records,
                vr.records > 0 ? vr.head : "-");
    else
        fprintf(f, "CHAIN BROKEN: %s\n", vr.reason);
    /* The rows' own fprintf results are checked once here, via the stream. */
    if (fflush(f) != 0 || ferror(f))
        r = errbuf_errno(err, SS_ERR, "cannot print the timeline of '%s'",
                         path);
out:
    free(lines);
    free(data);
    return r;
}
