/* The log evidence pass: its command, and the parser of what it prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postfix/arena.h"
#include "postfix_scripts.h"
#include "spamstop/buf.h"
#include "spamstop/hmap.h"
#include "spamstop/postfix.h"
#include "spamstop/shquote.h"

/* The latest host clock believed: the year 5000 (times stay in range). */
#define MAILLOG_NOW_MAX 95617584000LL

/* Where the mail logs of Debian, RHEL and Plesk hosts are. */
static const char maillog_files[] =
    "/var/log/mail.log /var/log/maillog /usr/local/psa/var/log/maillog";

/* A program over the mail logs: its inputs, the part, then program. */
static char *maillog_program(long long since, size_t cap, const char *program)
{
    struct buf b = BUF_INIT;
    char num[64];

    snprintf(num, sizeof(num), "%lld", since);
    if (buf_adds(&b, "since=") < 0 || shquote_add(&b, num) < 0 ||
        buf_adds(&b, "\nlogs=") < 0 || shquote_add(&b, maillog_files) < 0 ||
        buf_printf(&b, "\ncap=%zu\n", cap) < 0 ||
        buf_adds(&b, script_logfiles_sh) < 0 || buf_adds(&b, program) < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

char *postfix_maillog_command(long long since, size_t cap)
{
    return maillog_program(since, cap, script_maillog_sh);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* The year of epoch t (UTC). */
static long long year_of(long long t)
{
    long long y = 1970 + t / 31556952;

    while (days_from_civil(y, 1, 1) * 86400 > t)
        y--;
    while (days_from_civil(y + 1, 1, 1) * 86400 <= t)
        y++;
    return y;
}

/* Reads exactly n digits at *p into *out; false when they are not. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (; n > 0; n--, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return true;
}

/* Reads "HH:MM:SS" at *p into seconds of the day. */
static bool clock_of(const char **p, long long *out)
{
    int h, m, s;

    if (!digits(p, 2, &h) || *(*p)++ != ':' || !digits(p, 2, &m) ||
        *(*p)++ != ':' || !digits(p, 2, &s) || h > 23 || m > 59 || s > 60)
        return false;
    *out = h * 3600LL + m * 60 + s;
    return true;
}

/* Reads a zone "Z", "+HH:MM" or "+HHMM" at p into seconds east of UTC. */
static bool zone_of(const char *p, long long *out)
{
    int h, m, sign;

    if (*p == 'Z' || *p == '\0') {
        *out = 0;
        return true;
    }
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &h))
        return false;
    if (*p == ':')
        p++;
    if (!digits(&p, 2, &m))
        return false;
    *out = sign * (h * 3600LL + m * 60);
    return true;
}

/*
 * The epoch of a time as the pass prints it: ISO 8601 with a zone, or
 * syslog's "Mon_DD_HH:MM:SS" in the host's local time (its offset and
 * clock from the "now" line; a date after the host's today is last
 * year's).  -1 when it is neither.
 */
static long long maillog_time(const char *s, long long now, long long offset)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = s, *mon;
    int y, mo, d;
    long long day, sec, zone, yr, t;

    if (digits(&p, 4, &y)) {
        if (*p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
            !digits(&p, 2, &d) || *p++ != 'T' || !clock_of(&p, &sec) ||
            mo < 1 || mo > 12 || d < 1 || d > 31)
            return -1;
        if (*p == '.' || *p == ',')
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
        if (!zone_of(p, &zone))
            return -1;
        return days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + sec -
               zone;
    }
    if (strlen(s) < 8 || s[3] != '_' ||
        (mon = strstr(months, (char[4]){s[0], s[1], s[2], '\0'})) == NULL ||
        (mon - months) % 3 != 0)
        return -1;
    p = s + 4;
    if (*p == '_')
        p++; /* "Dec  5" */
    for (d = 0; *p >= '0' && *p <= '9' && d < 100; p++)
        d = d * 10 + (*p - '0');
    if (d < 1 || d > 31 || *p++ != '_' || !clock_of(&p, &sec) || *p != '\0')
        return -1;
    mo = (int)(mon - months) / 3 + 1;
    yr = year_of(now + offset);
    day = days_from_civil(yr, (unsigned)mo, (unsigned)d);
    t = day * 86400 + sec - offset;
    if (t > now + 86400) /* December's lines read in January */
        t = days_from_civil(yr - 1, (unsigned)mo, (unsigned)d) * 86400 + sec -
            offset;
    return t;
}

/* What the parse keeps of one message (queue id). */
struct maillog_msg {
    size_t account; /* index in accounts, or SIZE_MAX: not submitted */
    int status;     /* 0 none, 1 sent, 2 deferred, 3 bounced, 4 other */
    long long when; /* of that status */
};

/*
 * The parse's working state: a line at a time, so that only what the
 * records add up to is kept, never the text (the arena owns every key).
 */
struct maillog_parse {
    struct postfix_maillog *out;
    struct postfix_arena keys; /* queue ids, names and addresses seen */
    struct buf line;           /* the line being read, cut at a piece's end */
    bool skipping;             /* the line passed MAILLOG_LINE_MAX: odd */
    struct hmap ids;           /* queue id -> index in msgs */
    struct hmap names;         /* account -> index in out->accounts */
    struct hmap *ips;          /* per account: address -> count */
    struct maillog_msg *msgs;
    size_t nmsgs, msgs_alloc, accounts_alloc;
    size_t nips; /* per-account address maps set up */
    long long now, offset, since;
};

/* A copy of key in the parse's arena; NULL when out of memory. */
static const char *maillog_key(struct maillog_parse *p, const char *key)
{
    size_t n = strlen(key);
    char *k = postfix_arena_alloc(&p->keys, n + 1);

    if (k != NULL)
        memcpy(k, key, n + 1);
    return k;
}

/* The message of queue id q, added when new; NULL on a cap or ENOMEM. */
static struct maillog_msg *msg_of(struct maillog_parse *p, const char *q,
                                  int *err)
{
    size_t i, *v;
    int r;

    if (hmap_get(&i, &p->ids, q) == 0)
        return &p->msgs[i];
    if ((q = maillog_key(p, q)) == NULL ||
        (r = hmap_put(&v, &p->ids, q, p->nmsgs)) < 0) {
        *err = q == NULL ? SS_ERR : r;
        return NULL;
    }
    if (p->nmsgs == p->msgs_alloc) {
        size_t na = p->msgs_alloc ? p->msgs_alloc * 2 : 256;
        struct maillog_msg *m = realloc(p->msgs, na * sizeof(*m));
        if (m == NULL) {
            *err = SS_ERR;
            return NULL;
        }
        p->msgs = m;
        p->msgs_alloc = na;
    }
    p->msgs[p->nmsgs] = (struct maillog_msg){SIZE_MAX, 0, 0};
    return &p->msgs[p->nmsgs++];
}

/* The index of account name in out->accounts, added when new; < 0 on error. */
static long long account_of(struct maillog_parse *p, const char *name)
{
    struct postfix_maillog *m = p->out;
    size_t i, *v;
    int r;

    if (hmap_get(&i, &p->names, name) == 0)
        return (long long)i;
    if (m->naccounts == p->accounts_alloc) {
        size_t na = p->accounts_alloc ? p->accounts_alloc * 2 : 16;
        struct postfix_log_account *a = realloc(m->accounts, na * sizeof(*a));
        struct hmap *h = realloc(p->ips, na * sizeof(*h));
        if (a != NULL)
            m->accounts = a;
        if (h != NULL)
            p->ips = h;
        if (a == NULL || h == NULL)
            return SS_ERR;
        p->accounts_alloc = na;
    }
    if ((name = maillog_key(p, name)) == NULL)
        return SS_ERR;
    if ((r = hmap_put(&v, &p->names, name, m->naccounts)) < 0)
        return r;
    memset(&m->accounts[m->naccounts], 0, sizeof(m->accounts[0]));
    if ((m->accounts[m->naccounts].name = strdup(name)) == NULL)
        return SS_ERR;
    hmap_init(&p->ips[m->naccounts], POSTFIX_ENTRIES_MAX);
    p->nips = m->naccounts + 1;
    return (long long)m->naccounts++;
}

/* "A TIME QID USER IP": an authenticated submission. */
static int maillog_submission(struct maillog_parse *p, char **f, long long t)
{
    struct postfix_log_account *a;
    struct maillog_msg *msg;
    const char *ip;
    long long k;
    size_t *count, seen;
    int r = 0;

    if ((msg = msg_of(p, f[2], &r)) == NULL)
        return r;
    if (msg->account != SIZE_MAX)
        return 0; /* the same line in two files (a copied log) */
    if ((k = account_of(p, f[3])) < 0)
        return (int)k;
    msg->account = (size_t)k;
    a = &p->out->accounts[k];
    a->accepted++;
    if (a->accepted == 1 || t < a->first)
        a->first = t;
    if (t > a->last)
        a->last = t;
    if (hmap_get(&seen, &p->ips[k], f[4]) == 0)
        ip = f[4]; /* put finds it: the key is not needed again */
    else if ((ip = maillog_key(p, f[4])) == NULL)
        return SS_ERR;
    if ((r = hmap_put(&count, &p->ips[k], ip, 0)) < 0)
        return r;
    a->ips += r;
    if (++*count > a->top_ip_count) {
        a->top_ip_count = *count;
        if (a->top_ip == NULL || strcmp(a->top_ip, ip) != 0) {
            char *top = strdup(ip);
            if (top == NULL)
                return SS_ERR;
            free(a->top_ip);
            a->top_ip = top;
        }
    }
    return 0;
}

/* "S TIME QID STATUS": a delivery attempt; the latest one counts. */
static int maillog_status(struct maillog_parse *p, char **f, long long t)
{
    static const char *const names[] = {"sent", "deferred", "bounced"};
    struct maillog_msg *msg;
    int r = 0, s = 4;
    size_t i;

    for (i = 0; i < 3; i++)
        if (strcmp(f[3], names[i]) == 0)
            s = (int)i + 1;
    if ((msg = msg_of(p, f[2], &r)) == NULL)
        return r;
    if (msg->status == 0 || t >= msg->when) {
        msg->status = s;
        msg->when = t;
    }
    return 0;
}

/* Splits line into at most n blank-separated fields; their number. */
static size_t fields(char *line, char **f, size_t n)
{
    size_t k = 0;
    char *save = NULL, *w;

    for (w = strtok_r(line, " ", &save); w != NULL && k < n;
         w = strtok_r(NULL, " ", &save))
        f[k++] = w;
    return w == NULL ? k : n + 1;
}

/* One line of the pass's output. */
static int maillog_line(struct maillog_parse *p, char *line)
{
    struct postfix_maillog *m = p->out;
    char *f[6];
    size_t n;
    long long t;

    if (strncmp(line, "source ", 7) == 0)
        return strlist_push(&m->sources, line + 7);
    if (strcmp(line, "end") == 0) {
        m->complete = true;
        return 0;
    }
    n = fields(line, f, 5);
    if (n == 3 && strcmp(f[0], "now") == 0) {
        /* a clock before 1970 or after 5000 is no clock: keep none */
        long long now = strtoll(f[1], NULL, 10);
        if (now < 0 || now > MAILLOG_NOW_MAX || !zone_of(f[2], &p->offset))
            m->odd++;
        else
            p->now = now;
        return 0;
    }
    if ((n != 5 || strcmp(f[0], "A") != 0) &&
        (n != 4 || strcmp(f[0], "S") != 0)) {
        m->odd++;
        return 0;
    }
    if (!postfix_queue_id_valid(f[2]) ||
        (t = maillog_time(f[1], p->now, p->offset)) < 0) {
        m->odd++;
        return 0;
    }
    if (t < p->since) {
        m->older++;
        return 0;
    }
    m->records++;
    return f[0][0] == 'A' ? maillog_submission(p, f, t)
                          : maillog_status(p, f, t);
}

/* Counts each submitted message's latest status into its account. */
static void maillog_join(struct maillog_parse *p)
{
    size_t i;

    for (i = 0; i < p->nmsgs; i++) {
        struct maillog_msg *msg = &p->msgs[i];
        struct postfix_log_account *a;
        if (msg->account == SIZE_MAX)
            continue;
        a = &p->out->accounts[msg->account];
        a->sent += msg->status == 1;
        a->deferred += msg->status == 2;
        a->bounced += msg->status == 3;
    }
}

/* Longest line read (records are short: a longer one is odd). */
#define MAILLOG_LINE_MAX 4096u

struct postfix_maillog_stream {
    struct maillog_parse p;
    bool failed; /* a feed failed: *out was emptied, the rest is refused */
};

int postfix_maillog_stream_new(struct postfix_maillog_stream **out,
                               struct postfix_maillog *m, long long since,
                               struct errbuf *err)
{
    struct postfix_maillog_stream *s = calloc(1, sizeof(*s));

    *out = NULL;
    memset(m, 0, sizeof(*m));
    if (s == NULL)
        return errbuf_set(err, SS_ERR, "mail log: out of memory");
    s->p.out = m;
    s->p.since = since;
    buf_init(&s->p.line, MAILLOG_LINE_MAX + 1);
    hmap_init(&s->p.ids, POSTFIX_ENTRIES_MAX);
    hmap_init(&s->p.names, POSTFIX_ENTRIES_MAX);
    *out = s;
    return 0;
}

/* Empties *out after a failure and says why. */
static int maillog_fail(struct postfix_maillog_stream *s, int r,
                        struct errbuf *err)
{
    s->failed = true;
    postfix_maillog_release(s->p.out);
    return errbuf_set(err, r,
                      r == SS_ETOOBIG ? "mail log: more than %u entries"
                                      : "mail log: out of memory (%u)",
                      POSTFIX_ENTRIES_MAX);
}

/* The line gathered so far, ended: parsed, or counted odd when too long. */
static int maillog_line_end(struct maillog_parse *p)
{
    int r = 0;

    if (p->skipping)
        p->out->odd++;
    else if (p->line.len > 0)
        r = maillog_line(p, p->line.data); /* the buf ends it with a NUL */
    p->skipping = false;
    buf_reset(&p->line);
    return r;
}

int postfix_maillog_stream_feed(struct postfix_maillog_stream *s,
                                const char *data, size_t len,
                                struct errbuf *err)
{
    struct maillog_parse *p = &s->p;
    const char *nl, *end = data + len;
    size_t n, i;
    int r;

    if (s->failed)
        return errbuf_set(err, SS_ERR, "mail log: the parse failed before");
    while (data < end) {
        nl = memchr(data, '\n', (size_t)(end - data));
        n = (size_t)((nl != NULL ? nl : end) - data);
        if (!p->skipping && p->line.len + n > MAILLOG_LINE_MAX)
            p->skipping = true;
        if (!p->skipping) {
            size_t at = p->line.len;
            if (buf_add(&p->line, data, n) < 0)
                return maillog_fail(s, SS_ERR, err);
            for (i = at; i < p->line.len; i++)
                if (p->line.data[i] == '\0')
                    p->line.data[i] = '?'; /* a NUL makes its line odd */
        }
        data += n;
        if (nl == NULL)
            break;
        data++;
        if ((r = maillog_line_end(p)) < 0)
            return maillog_fail(s, r, err);
    }
    return 0;
}

int postfix_maillog_stream_end(struct postfix_maillog_stream *s,
                               struct errbuf *err)
{
    int r;

    if (s->failed)
        return errbuf_set(err, SS_ERR, "mail log: the parse failed before");
    if ((r = maillog_line_end(&s->p)) < 0)
        return maillog_fail(s, r, err);
    maillog_join(&s->p);
    return 0;
}

void postfix_maillog_stream_free(struct postfix_maillog_stream *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->p.nips; i++)
        hmap_release(&s->p.ips[i]);
    free(s->p.ips);
    hmap_release(&s->p.ids);
    hmap_release(&s->p.names);
    free(s->p.msgs);
    buf_release(&s->p.line);
    postfix_arena_free(&s->p.keys);
    free(s);
}
int postfix_maillog_parse(struct postfix_maillog *out, const char *text,
                          size_t len, long long since, struct errbuf *err)
{
    struct postfix_maillog_stream *ps = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = postfix_maillog_stream_new(&ps, out, since, err)) == 0 &&
        (r = postfix_maillog_stream_feed(ps, text, len, err)) == 0)
        r = postfix_maillog_stream_end(ps, err);
    postfix_maillog_stream_free(ps);
    return r;
}

void postfix_maillog_release(struct postfix_maillog *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->naccounts; i++) {
        free(m->accounts[i].name);
        free(m->accounts[i].top_ip);
    }
    free(m->accounts);
    strlist_release(&m->sources);
    memset(m, 0, sizeof(*m));
}

char *postfix_logins_command(long long since, size_t cap)
{
    return maillog_program(since, cap, script_logins_sh);
}

/* The entry of account name, added when new; NULL on the cap or ENOMEM. */
static struct postfix_login *logins_of(struct postfix_logins *l,
                                       const char *name, int *r)
{
    struct postfix_login *v, *a;
    size_t i;

    for (i = 0; i < l->naccounts; i++)
        if (strcmp(l->accounts[i].account, name) == 0)
            return &l->accounts[i];
    if (l->naccounts >= POSTFIX_LOGINS_ACCOUNTS_MAX)
        return NULL;
    v = realloc(l->accounts, (l->naccounts + 1) * sizeof(*v));
    if (v == NULL) {
        *r = SS_ERR;
        return NULL;
    }
    l->accounts = v;
    a = &v[l->naccounts];
    memset(a, 0, sizeof(*a));
    a->first = -1;
    if ((a->account = strdup(name)) == NULL) {
        *r = SS_ERR;
        return NULL;
    }
    l->naccounts++;
    return a;
}

/* One "L TIME SERVICE ACCOUNT IP" record at or after since. */
static int logins_record(struct postfix_logins *l, char **f, long long t)
{
    struct postfix_login *a;
    int r = 0;

    if ((a = logins_of(l, f[3], &r)) == NULL) {
        l->odd += r == 0;
        return r;
    }
    a->logins++;
    if (a->first >= 0 && a->first <= t)
        return 0;
    free(a->first_ip);
    free(a->first_service);
    a->first = t;
    a->first_ip = strdup(f[4]);
    a->first_service = strdup(f[2]);
    return a->first_ip != NULL && a->first_service != NULL ? 0 : SS_ERR;
}

/* One line of the watch's output (offset: the host's, from "now"). */
static int logins_line(struct postfix_logins *l, char *line, long long since,
                       long long *offset)
{
    char *f[6];
    size_t n;
    long long t, now;

    if (strncmp(line, "source ", 7) == 0)
        return strlist_push(&l->sources, line + 7) < 0 ? SS_ERR : 0;
    if (strcmp(line, "end") == 0) {
        l->complete = true;
        return 0;
    }
    n = fields(line, f, 5);
    if (n == 3 && strcmp(f[0], "now") == 0) {
        now = strtoll(f[1], NULL, 10);
        if (now < 0 || now > MAILLOG_NOW_MAX || !zone_of(f[2], offset))
            l->odd++;
        else
            l->now = now;
        return 0;
    }
    if (n != 5 || strcmp(f[0], "L") != 0 || l->now < 0 ||
        (t = maillog_time(f[1], l->now, *offset)) < 0 || strlen(f[3]) > 320 ||
        strlen(f[4]) > 45 || strlen(f[2]) > 32 ||
        strspn(f[4], "0123456789abcdefABCDEF.:-") != strlen(f[4]) ||
        strspn(f[2], "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(f[2])) {
        l->odd++;
        return 0;
    }
    if (t <= since) {
        l->older++;
        return 0;
    }
    return logins_record(l, f, t);
}

int postfix_logins_parse(struct postfix_logins *out, const char *text,
                         size_t len, long long since, struct errbuf *err)
{
    char *copy, *line, *save = NULL;
    long long offset = 0;
    size_t i;
    int r = 0;

    memset(out, 0, sizeof(*out));
    out->now = -1;
    if ((copy = malloc(len + 1)) == NULL)
        return errbuf_set(err, SS_ERR, "mail log: out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    for (i = 0; i < len; i++)
        if ((unsigned char)copy[i] < 0x20 && copy[i] != '\n')
            copy[i] = '?'; /* a NUL or a control byte makes its line odd */
    for (line = strtok_r(copy, "\n", &save); line != NULL && r == 0;
         line = strtok_r(NULL, "\n", &save))
        r = logins_line(out, line, since, &offset);
    free(copy);
    if (r < 0) {
        postfix_logins_release(out);
        return errbuf_set(err, SS_ERR, "mail log: out of memory");
    }
    return 0;
}

void postfix_logins_release(struct postfix_logins *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->naccounts; i++) {
        free(l->accounts[i].account);
        free(l->accounts[i].first_ip);
        free(l->accounts[i].first_service);
    }
    free(l->accounts);
    strlist_release(&l->sources);
    memset(l, 0, sizeof(*l));
    l->now = -1;
}
