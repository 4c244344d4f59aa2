/* The postqueue -j parser and the queue id syntax check. */
#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "postfix/arena.h"
#include "spamstop/postfix.h"
#include "spamstop/text.h"

static const char *const queue_names[] = {"maildrop", "incoming", "active",
                                          "deferred", "hold"};

/* True for the queue names postqueue and postcat print. */
bool postfix_queue_name_valid(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(queue_names) / sizeof(queue_names[0]); i++)
        if (strcmp(name, queue_names[i]) == 0)
            return true;
    return false;
}

/* The queue named by s[0..n), from the one list; see arena.h. */
const char *postfix_queue_name_static(const char *s, size_t n)
{
    size_t i;

    /* a NUL inside s cannot match: the lengths differ */
    for (i = 0; i < sizeof(queue_names) / sizeof(queue_names[0]); i++)
        if (strlen(queue_names[i]) == n && memcmp(s, queue_names[i], n) == 0)
            return queue_names[i];
    return NULL;
}

/* Vowels as bits of (letter | 0x20) - 'a': long ids never use them. */
#define QUEUE_VOWELS                                                           \
    ((1u << 0) | (1u << ('e' - 'a')) | (1u << ('i' - 'a')) |                   \
     (1u << ('o' - 'a')) | (1u << ('u' - 'a')))

/* Short ids are upper-case hex; long ids use the vowel-free alphabet. */
bool postfix_queue_id_valid(const char *id)
{
    const unsigned char *u = (const unsigned char *)id;
    bool hex = true, lng = true;
    size_t i;

    if (id == NULL)
        return false;
    for (i = 0; u[i] != '\0'; i++) {
        unsigned c = u[i], l = (c | 0x20u) - 'a';
        bool digit = c - '0' < 10u;
        if (i >= POSTFIX_QUEUE_ID_MAX)
            return false;
        hex = hex && (digit || c - 'A' < 6u);
        lng = lng && (digit || (l < 26u && ((QUEUE_VOWELS >> l) & 1u) == 0));
        if (!hex && !lng)
            return false;
    }
    return i > 0;
}

/*
 * Copies a line into dst replacing bytes that are not UTF-8 by '?': Postfix
 * prints 8-bit envelope data as it is, and jansson refuses non-UTF-8, so a
 * Latin-1 sender must not make a whole line unreadable.
 */
void postfix_utf8_clean(char *dst, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, k;

    while (i < n) {
        k = utf8_seq_len(s + i, n - i);
        if (k == 0) {
            dst[i++] = '?';
            continue;
        }
        memcpy(dst + i, s + i, k);
        i += k;
    }
}

/* A JSON string member copied into the arena; NULL when absent or wrong. */
static const char *queue_member_str(struct postfix_arena *a, json_t *obj,
                                    const char *key, bool *nomem)
{
    json_t *v = json_object_get(obj, key);
    const char *s;

    if (!json_is_string(v))
        return NULL;
    s = postfix_arena_strndup(a, json_string_value(v), json_string_length(v),
                              POSTFIX_FIELD_MAX);
    if (s == NULL)
        *nomem = true;
    return s;
}

/* An integer member, or -1 when absent or not an integer. */
static long long queue_member_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/*
 * Fills e from one decoded line.  Returns 1 when the line is malformed, 0
 * when filled, SS_ERR when out of memory.
 */
static int queue_entry_fill(struct postfix_queue_entry *e,
                            struct postfix_arena *a, json_t *obj)
{
    json_t *rcpts, *r;
    bool nomem = false;
    size_t i, n;

    if (!json_is_object(obj))
        return 1;
    e->queue_name = queue_member_str(a, obj, "queue_name", &nomem);
    e->queue_id = queue_member_str(a, obj, "queue_id", &nomem);
    e->sender = queue_member_str(a, obj, "sender", &nomem);
    if (nomem)
        return SS_ERR;
    if (e->queue_name == NULL || !postfix_queue_name_valid(e->queue_name) ||
        !postfix_queue_id_valid(e->queue_id))
        return 1;
    if (e->sender == NULL)
        e->sender = "";
    e->arrival_time = queue_member_int(obj, "arrival_time");
    e->message_size = queue_member_int(obj, "message_size");
    rcpts = json_object_get(obj, "recipients");
    n = json_is_array(rcpts) ? json_array_size(rcpts) : 0;
    e->recipients = NULL;
    e->n_recipients = 0;
    if (n == 0)
        return 0;
    e->recipients = postfix_arena_alloc(a, n * sizeof(*e->recipients));
    if (e->recipients == NULL)
        return SS_ERR;
    json_array_foreach(rcpts, i, r)
    {
        struct postfix_recipient *pr = &e->recipients[e->n_recipients];
        if (!json_is_object(r))
            continue;
        pr->address = queue_member_str(a, r, "address", &nomem);
        pr->delay_reason = queue_member_str(a, r, "delay_reason", &nomem);
        if (nomem)
            return SS_ERR;
        if (pr->address == NULL)
            continue;
        e->n_recipients++;
    }
    return 0;
}

/* Appends one entry slot, doubling the array. */
static int queue_grow(struct postfix_queue *q, size_t *alloc)
{
    struct postfix_queue_entry *p;
    size_t want;

    if (q->n < *alloc)
        return 0;
    want = *alloc ? *alloc * 2 : 256;
    p = realloc(q->entries, want * sizeof(*p));
    if (p == NULL)
        return SS_ERR;
    q->entries = p;
    *alloc = want;
    return 0;
}

/* Records a skipped line. */
static void queue_malformed(struct postfix_queue *q, size_t lineno)
{
    if (q->malformed++ == 0)
        q->first_malformed_line = lineno;
}

/* Parses one JSON object per line; see postfix.h for the policy. */
int postfix_queue_parse_string(struct postfix_queue *out, const char *text,
                               size_t len, struct errbuf *err)
{
    struct postfix_arena *a = NULL;
    char *line = NULL;
    const char *p = text, *end = text + len, *nl, *line_start;
    size_t alloc = 0, lineno = 0, n;
    json_error_t jerr;
    json_t *obj;
    int r = SS_ERR;

    assert(out != NULL && (text != NULL || len == 0));
    memset(out, 0, sizeof(*out));
    a = calloc(1, sizeof(*a));
    line = malloc(POSTFIX_LINE_MAX);
    if (a == NULL || line == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    out->mem = a;
    while (p < end) {
        lineno++;
        nl = memchr(p, '\n', (size_t)(end - p));
        n = (size_t)((nl != NULL ? nl : end) - p);
        if (n > POSTFIX_LINE_MAX) {
            r = errbuf_set(err, SS_ETOOBIG,
                           "postqueue line %zu is longer than %u bytes", lineno,
                           POSTFIX_LINE_MAX);
            goto out;
        }
        line_start = p;
        p = nl != NULL ? nl + 1 : end;
        if (n > 0 && line_start[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        if (out->n >= POSTFIX_ENTRIES_MAX) {
            r = errbuf_set(err, SS_ETOOBIG,
                           "postqueue lists more than %u messages",
                           POSTFIX_ENTRIES_MAX);
            goto out;
        }
        if (queue_grow(out, &alloc) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
        postfix_utf8_clean(line, line_start, n);
        obj =
            json_loadb(line, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
        if (obj == NULL) {
            queue_malformed(out, lineno);
        } else {
            int fr = queue_entry_fill(&out->entries[out->n], a, obj);
            json_decref(obj);
            if (fr < 0) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
            if (fr > 0)
                queue_malformed(out, lineno);
            else
                out->n++;
        }
    }
    r = 0;
out:
    free(line);
    return r;
}

/* Frees the listing (NULL-safe members). */
void postfix_queue_release(struct postfix_queue *q)
{
    if (q == NULL)
        return;
    if (q->mem != NULL) {
        postfix_arena_free(q->mem);
        free(q->mem);
    }
    free(q->entries);
    memset(q, 0, sizeof(*q));
}
