/* The parser of the identify pass's output: postcat -e -h envelopes. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "postfix/arena.h"
#include "spamstop/buf.h"
#include "spamstop/hmap.h"
#include "spamstop/postfix.h"

/* Where in a message the parser is. */
enum envelope_state {
    ENVELOPE_NONE,    /* between messages */
    ENVELOPE_SKIP,    /* inside a message whose marker was refused */
    ENVELOPE_RECORDS, /* envelope or extracted records */
    ENVELOPE_HEADERS, /* message headers */
};

/* The headers identify keeps. */
enum envelope_header { HDR_NONE = -1, HDR_SUBJECT, HDR_XPHP, HDR_COUNT };

/*
 * The queue id index: open addressing over the messages' own ids, 8 bytes
 * a slot (the id's 32-bit hash and its message's index plus one; 0 is a
 * free slot), at most half full.  A million messages take 16 MB, where a
 * map with a key pointer and a value per slot took 48.
 */
struct envelope_index {
    uint64_t *slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
};

/* FNV-1a of a queue id. */
static uint32_t envelope_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/*
 * Finds id among msgs: returns its slot, *found set when it is there (its
 * message index in *k), else the free slot where it goes.
 */
static size_t envelope_index_slot(const struct envelope_index *x,
                                  const struct postfix_message *msgs,
                                  const char *id, uint32_t h, bool *found,
                                  size_t *k)
{
    size_t i = h & (x->cap - 1);

    *found = false;
    for (;; i = (i + 1) & (x->cap - 1)) {
        uint64_t v = x->slots[i];
        if (v == 0)
            return i;
        if ((uint32_t)(v >> 32) == h &&
            strcmp(msgs[(v & 0xffffffffu) - 1].queue_id, id) == 0) {
            *found = true;
            *k = (size_t)(v & 0xffffffffu) - 1;
            return i;
        }
    }
}

/* Doubles the table, every entry placed again by its kept hash. */
static int envelope_index_grow(struct envelope_index *x)
{
    size_t want = x->cap ? x->cap * 2 : 1024, i, j;
    uint64_t *slots = calloc(want, sizeof(*slots));

    if (slots == NULL)
        return SS_ERR;
    for (i = 0; i < x->cap; i++) {
        if (x->slots[i] == 0)
            continue;
        for (j = (x->slots[i] >> 32) & (want - 1); slots[j] != 0;
             j = (j + 1) & (want - 1))
            ;
        slots[j] = x->slots[i];
    }
    free(x->slots);
    x->slots = slots;
    x->cap = want;
    return 0;
}

/* The index of the message with id, when one has it: 0, else -1. */
static int envelope_index_get(size_t *k, const struct envelope_index *x,
                              const struct postfix_message *msgs,
                              const char *id)
{
    bool found;

    if (x->cap == 0)
        return -1;
    envelope_index_slot(x, msgs, id, envelope_hash(id), &found, k);
    return found ? 0 : -1;
}

/*
 * Indexes message k of msgs under its id: 1 when added, 0 when another
 * message has that id (its index in *k), SS_ERR when out of memory.
 */
static int envelope_index_put(size_t *k, struct envelope_index *x,
                              const struct postfix_message *msgs)
{
    const char *id = msgs[*k].queue_id;
    uint32_t h = envelope_hash(id);
    bool found;
    size_t i;

    if ((x->n + 1) * 2 > x->cap && envelope_index_grow(x) < 0)
        return SS_ERR;
    i = envelope_index_slot(x, msgs, id, h, &found, k);
    if (found)
        return 0;
    x->slots[i] = (uint64_t)h << 32 | (uint64_t)(*k + 1);
    x->n++;
    return 1;
}

static void envelope_index_release(struct envelope_index *x)
{
    free(x->slots);
    memset(x, 0, sizeof(*x));
}

/* Private memory of struct postfix_envelopes. */
struct envelope_mem {
    struct postfix_arena arena;
    const char **rcpts; /* all kept recipients, message after message */
    size_t n_rcpts, alloc_rcpts;
    uint32_t *rcpt_first; /* per message: its first recipient in rcpts */
    size_t alloc_msgs;
    struct envelope_index ids; /* queue id -> index in msgs */
    size_t alloc_files;
    struct hmap interned; /* streaming: value -> its one kept copy */
    /*
     * Per message: ENVELOPE_READ (this pass read it), or, while a reuse
     * stream adds an earlier pass's messages, ENVELOPE_REUSED (added, its
     * file not yet seen) and ENVELOPE_KEPT (its file is unchanged).
     */
    unsigned char *mark;
    struct hmap gone; /* "PATH STAMP" of the pass's GONE lines */
};

enum { ENVELOPE_READ, ENVELOPE_REUSED, ENVELOPE_KEPT };

/*
 * Distinct values a push parse keeps once (an account, its client
 * addresses, HELO names, senders, subjects); past it new values are
 * simply copied.
 */
#define ENVELOPE_INTERN_MAX 65536u

/* The parser's state while it walks the text. */
struct envelope_parser {
    struct postfix_envelopes *out;
    struct envelope_mem *mem;
    struct postfix_message *cur; /* == &out->msgs[out->n] while open */
    enum envelope_state state;
    const char *path; /* the open message's marker path, in the text */
    size_t path_len;
    enum envelope_header hdr; /* header being collected */
    const char *hdr_start, *hdr_end;
    bool in_place;         /* values are kept in the (writable) text */
    const char *time_text; /* the last arrival time parsed, in the text */
    size_t time_len;
    long long time_value;
    /*
     * Streaming (lines come one at a time, each gone after its call):
     * what outlives a line is copied here.
     */
    bool stream;
    enum postfix_files files; /* what becomes of FILE lines */
    struct buf *stamps;       /* POSTFIX_FILES_STAMPS: where they go */
    bool reuse;               /* adding an earlier pass's messages */
    size_t reused;            /* the earlier messages kept, at its end */
    struct buf path_copy;     /* the open message's marker path */
    struct buf hdr_val;       /* the header being collected, unfolded so far */
    char time_copy[64];       /* the last arrival time's text */
};

/* Reserves the slot out->msgs[out->n] for the next message. */
static int envelope_reserve(struct envelope_parser *p)
{
    struct postfix_envelopes *e = p->out;
    struct envelope_mem *m = p->mem;
    struct postfix_message *msgs;
    unsigned char *mark;
    uint32_t *first;
    size_t want;

    if (e->n < m->alloc_msgs)
        return 0;
    want = m->alloc_msgs ? m->alloc_msgs * 2 : 256;
    msgs = realloc(e->msgs, want * sizeof(*msgs));
    if (msgs == NULL)
        return SS_ERR;
    e->msgs = msgs;
    first = realloc(m->rcpt_first, want * sizeof(*first));
    if (first == NULL)
        return SS_ERR;
    m->rcpt_first = first;
    mark = realloc(m->mark, want);
    if (mark == NULL)
        return SS_ERR;
    m->mark = mark;
    m->alloc_msgs = want;
    return 0;
}

/*
 * Commits the open message: a new id takes the reserved slot, a known id
 * replaces the earlier copy (postcat re-ran that file).
 */
static int envelope_commit(struct envelope_parser *p)
{
    struct postfix_envelopes *e = p->out;
    struct envelope_mem *m = p->mem;
    size_t k = e->n;
    int r = envelope_index_put(&k, &m->ids, e->msgs);

    if (r < 0)
        return r;
    if (r == 0) {
        e->msgs[k] = *p->cur;
        m->rcpt_first[k] = m->rcpt_first[e->n];
        m->mark[k] = p->reuse ? ENVELOPE_REUSED : ENVELOPE_READ;
    } else {
        m->mark[e->n] = p->reuse ? ENVELOPE_REUSED : ENVELOPE_READ;
        e->n++;
    }
    p->cur = NULL;
    p->state = ENVELOPE_NONE;
    return 0;
}

/*
 * Copies a header span, unfolding line breaks, into the arena, or compacts
 * it where it lies when parsing in place (the copy is never longer).
 */
static const char *envelope_unfold(struct envelope_parser *p, const char *s,
                                   const char *end)
{
    size_t n = (size_t)(end - s), k = 0;
    char *d;

    if (p->in_place)
        d = (char *)s;
    else
        d = postfix_arena_alloc(
            &p->mem->arena,
            (n < POSTFIX_FIELD_MAX ? n : POSTFIX_FIELD_MAX) + 1);
    if (d == NULL)
        return NULL;
    for (; s < end && k < POSTFIX_FIELD_MAX; s++) {
        unsigned char c = (unsigned char)*s;
        uint64_t w;
        /* 8 plain bytes at a time while they fit */
        if (end - s >= 8 && POSTFIX_FIELD_MAX - k >= 8) {
            memcpy(&w, s, 8);
            if (postfix_arena_word_plain(w)) {
                memcpy(d + k, &w, 8);
                k += 8;
                s += 7;
                continue;
            }
        }
        /* one rarely taken branch for every byte that needs a look */
        if (c < 0x20 || c == 0x7f) {
            if (c == '\n' || c == '\r')
                continue;
            if (c != '\t')
                c = '?';
        }
        d[k++] = (char)c;
    }
    d[k] = '\0';
    return d;
}

/*
 * Streaming: unfolds n more bytes of the header being collected into
 * hdr_val, as envelope_unfold does over the whole span (line breaks
 * dropped, control bytes but tab made '?', cut at POSTFIX_FIELD_MAX).
 */
static int envelope_hdr_add(struct envelope_parser *p, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n && p->hdr_val.len < POSTFIX_FIELD_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            if (c == '\n' || c == '\r')
                continue;
            if (c != '\t')
                c = '?';
        }
        if (buf_addc(&p->hdr_val, (char)c) < 0)
            return SS_ERR;
    }
    return 0;
}

/* Streaming: the collected header value, copied to the arena. */
static const char *envelope_hdr_value(struct envelope_parser *p)
{
    char *d = postfix_arena_alloc(&p->mem->arena, p->hdr_val.len + 1);

    if (d == NULL)
        return NULL;
    if (p->hdr_val.len > 0)
        memcpy(d, p->hdr_val.data, p->hdr_val.len);
    d[p->hdr_val.len] = '\0';
    return d;
}

/*
 * Streaming: the one kept copy of value v (just copied to the arena):
 * an earlier equal value's, v's own bytes given back, or v itself.  A
 * million messages of one stolen account repeat the same few values.
 */
static const char *envelope_intern(struct envelope_parser *p, const char *v)
{
    size_t *slot;
    int r;

    if (v == NULL || !p->stream)
        return v;
    r = hmap_put(&slot, &p->mem->interned, v, (size_t)(uintptr_t)v);
    if (r == 0) {
        postfix_arena_unalloc_last(&p->mem->arena, v, strlen(v) + 1);
        return (const char *)(uintptr_t)*slot;
    }
    return r == SS_ERR ? NULL : v; /* SS_ETOOBIG: the table is full */
}

/*
 * A value of n bytes at v, cut at max, control bytes made '?': copied to
 * the arena, or in place (terminated where it ends) when parsing in place.
 */
static const char *envelope_str(struct envelope_parser *p, const char *v,
                                size_t n, size_t max)
{
    char *d = (char *)v; /* in place, the text is the caller's to change */
    size_t i;

    if (!p->in_place)
        return postfix_arena_strndup(&p->mem->arena, v, n, max);
    if (n > max)
        n = max;
    for (i = 0; i < n; i++) {
        uint64_t w;
        if (n - i >= 8) {
            memcpy(&w, d + i, 8);
            if (postfix_arena_word_plain(w)) {
                i += 7;
                continue;
            }
        }
        if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
            d[i] = '?';
    }
    d[n] = '\0';
    return d;
}

/* Stores the header collected so far (first occurrence wins). */
static int envelope_header_flush(struct envelope_parser *p)
{
    const char **field = NULL;
    const char *s = p->hdr_start;

    if (p->hdr == HDR_NONE)
        return 0;
    switch (p->hdr) {
    case HDR_SUBJECT: field = &p->cur->subject; break;
    case HDR_XPHP: field = &p->cur->x_php_script; break;
    default: break;
    }
    p->hdr = HDR_NONE;
    if (field == NULL || *field != NULL)
        return 0;
    if (p->stream) {
        *field = envelope_intern(p, envelope_hdr_value(p));
        return *field == NULL ? SS_ERR : 0;
    }
    /* skip "Name:" and the blanks after it */
    s = memchr(s, ':', (size_t)(p->hdr_end - s));
    assert(s != NULL);
    for (s++; s < p->hdr_end && (*s == ' ' || *s == '\t'); s++)
        ;
    *field = envelope_unfold(p, s, p->hdr_end);
    return *field == NULL ? SS_ERR : 0;
}

/* Closes the open message; without its end marker it is incomplete. */
static int envelope_close(struct envelope_parser *p, bool complete)
{
    if (p->state == ENVELOPE_SKIP) {
        p->state = ENVELOPE_NONE;
        return 0;
    }
    if (p->cur == NULL)
        return 0;
    if (envelope_header_flush(p) < 0)
        return SS_ERR;
    p->cur->complete = complete;
    if (!complete)
        p->out->anomalies++;
    return envelope_commit(p);
}

/*
 * Splits a marker path ("deferred/A/ID", or absolute) into queue name and
 * id: the id is the last part, the queue the nearest parent named like a
 * queue.  Returns false when either is not valid.
 */
static bool envelope_split(struct envelope_parser *p, const char *path,
                           size_t n, const char **queue_name,
                           const char **queue_id)
{
    const char *end = path + n, *slash = NULL, *s, *comp_end;
    size_t len;

    for (s = end; s > path; s--)
        if (s[-1] == '/') {
            slash = s - 1;
            break;
        }
    if (slash == NULL || end - (slash + 1) == 0 ||
        (size_t)(end - (slash + 1)) > POSTFIX_QUEUE_ID_MAX)
        return false;
    *queue_id = envelope_str(p, slash + 1, (size_t)(end - (slash + 1)),
                             POSTFIX_QUEUE_ID_MAX);
    if (*queue_id == NULL || !postfix_queue_id_valid(*queue_id))
        return false;
    comp_end = slash;
    while (comp_end > path) {
        for (s = comp_end; s > path && s[-1] != '/'; s--)
            ;
        len = (size_t)(comp_end - s);
        if ((*queue_name = postfix_queue_name_static(s, len)) != NULL)
            return true;
        comp_end = s > path ? s - 1 : path;
    }
    return false;
}

/* envelope_split into the open message. */
static bool envelope_path(struct envelope_parser *p, const char *path, size_t n)
{
    return envelope_split(p, path, n, &p->cur->queue_name, &p->cur->queue_id);
}

/* True for "INODE SIZE CTIME": digits, digits, digits with a fraction. */
static bool envelope_stamp_valid(const char *s, size_t n)
{
    size_t i = 0, field = 0, digits = 0;
    bool dot = false;

    if (n == 0 || n > 80)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digits++;
        } else if (s[i] == ' ' && digits > 0 && !dot && field < 2) {
            field++;
            digits = 0;
        } else if (s[i] == '.' && digits > 0 && !dot && field == 2) {
            dot = true;
            digits = 0;
        } else {
            return false;
        }
    }
    return field == 2 && digits > 0;
}

/*
 * Checks a "PATH STAMP" value (of a FILE or GONE line): the path as the
 * script prints them (find -regex), naming a queue and an id, and a valid
 * stamp.  Returns 1 with f's queue, id and the path's length (in stream
 * mode the id is the arena's last allocation), 0 when malformed (an
 * anomaly), SS_ERR when out of memory.
 */
static int envelope_file_check(struct envelope_parser *p, const char *v,
                               size_t n, struct postfix_file *f, size_t *plen)
{
    const char *sp = memchr(v, ' ', n);
    size_t i;

    if (sp == NULL || !envelope_stamp_valid(sp + 1, n - (size_t)(sp + 1 - v)))
        return 0;
    *plen = (size_t)(sp - v);
    for (i = 0; i < *plen; i++)
        if (!(v[i] == '/' || (v[i] >= '0' && v[i] <= '9') ||
              (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z')))
            return 0;
    memset(f, 0, sizeof(*f));
    /* in place the id's NUL ends the path too: the id is its last part */
    return envelope_split(p, v, *plen, &f->queue_name, &f->queue_id) ? 1 : 0;
}

/* Gives back the id envelope_file_check copied (stream mode). */
static void envelope_file_forget(struct envelope_parser *p,
                                 const struct postfix_file *f)
{
    if (p->stream && f->queue_id != NULL)
        postfix_arena_unalloc_last(&p->mem->arena, f->queue_id,
                                   strlen(f->queue_id) + 1);
}

/* Keeps f in the pass's file table. */
static int envelope_file_keep(struct envelope_parser *p, struct postfix_file *f,
                              const char *v, size_t n, size_t plen)
{
    struct envelope_mem *m = p->mem;
    struct postfix_envelopes *e = p->out;

    f->path = p->in_place ? v : envelope_str(p, v, plen, plen);
    f->stamp = envelope_str(p, v + plen + 1, n - plen - 1, n - plen - 1);
    if (f->path == NULL || f->stamp == NULL)
        return SS_ERR;
    if (e->n_files >= POSTFIX_ENTRIES_MAX)
        return SS_ETOOBIG;
    if (e->n_files == m->alloc_files) {
        size_t want = m->alloc_files ? m->alloc_files * 2 : 256;
        struct postfix_file *files = realloc(e->files, want * sizeof(*files));
        if (files == NULL)
            return SS_ERR;
        e->files = files;
        m->alloc_files = want;
    }
    e->files[e->n_files++] = *f;
    return 0;
}

static const struct postfix_message *
envelope_lookup(const struct postfix_envelopes *e, const char *id);

/* The message of file f if e read it whole, from the queue f names. */
static const struct postfix_message *
envelope_file_message(const struct postfix_envelopes *e,
                      const struct postfix_file *f)
{
    const struct postfix_message *msg = envelope_lookup(e, f->queue_id);

    return msg != NULL && msg->complete &&
                   strcmp(msg->queue_name, f->queue_name) == 0
               ? msg
               : NULL;
}

/*
 * A reuse stream's FILE line (the earlier pass's): the earlier message of
 * that file is kept when this pass did not report the file GONE, i.e.
 * found it with this very stamp.
 */
static int envelope_file_reused(struct envelope_parser *p,
                                const struct postfix_file *f, const char *v,
                                size_t n)
{
    struct envelope_mem *m = p->mem;
    const struct postfix_message *msg = envelope_file_message(p->out, f);
    size_t k, gone;
    char *key;

    if (msg == NULL || m->mark[msg - p->out->msgs] == ENVELOPE_READ)
        return 0;
    k = (size_t)(msg - p->out->msgs);
    if ((key = malloc(n + 1)) == NULL)
        return SS_ERR;
    memcpy(key, v, n);
    key[n] = '\0';
    if (hmap_get(&gone, &m->gone, key) < 0)
        m->mark[k] = ENVELOPE_KEPT;
    free(key);
    return 0;
}

/*
 * A "*** SPAMSTOP FILE PATH STAMP ***" line: the fingerprint of a file
 * before postcat read it.  The script prints them after the messages; a
 * message still open there was cut (as at any marker that starts a new
 * part).  A malformed line is an anomaly, never a file.  What becomes of
 * it is the parse's choice (postfix_envelopes_stream_files); a reuse
 * stream marks the earlier message of an unchanged file as kept.
 */
static int envelope_file(struct envelope_parser *p, const char *v, size_t n)
{
    struct postfix_file f;
    size_t plen;
    int r;

    if (p->state != ENVELOPE_NONE && envelope_close(p, false) < 0)
        return SS_ERR;
    if ((r = envelope_file_check(p, v, n, &f, &plen)) <= 0) {
        if (r == 0)
            p->out->anomalies++;
        return r;
    }
    if (!p->reuse && p->files == POSTFIX_FILES_KEEP)
        return envelope_file_keep(p, &f, v, n, plen);
    r = 0;
    if (p->reuse)
        r = envelope_file_reused(p, &f, v, n);
    else if (p->files == POSTFIX_FILES_STAMPS &&
             envelope_file_message(p->out, &f) != NULL &&
             (buf_add(p->stamps, v, n) < 0 || buf_addc(p->stamps, '\n') < 0))
        r = SS_ETOOBIG;
    envelope_file_forget(p, &f);
    return r;
}

/*
 * A "*** SPAMSTOP GONE PATH STAMP ***" line: a file whose stamp an earlier
 * pass gave the script and that it no longer found so (changed, moved or
 * removed).  Kept for a reuse stream; a malformed one is an anomaly.
 */
static int envelope_gone(struct envelope_parser *p, const char *v, size_t n)
{
    struct envelope_mem *m = p->mem;
    struct postfix_file f;
    const char *key;
    size_t plen, *slot;
    int r;

    if (p->state != ENVELOPE_NONE && envelope_close(p, false) < 0)
        return SS_ERR;
    if (p->reuse)
        return 0;
    if ((r = envelope_file_check(p, v, n, &f, &plen)) <= 0) {
        if (r == 0)
            p->out->anomalies++;
        return r;
    }
    envelope_file_forget(p, &f);
    if ((key = postfix_arena_strndup(&m->arena, v, n, n)) == NULL)
        return SS_ERR;
    r = hmap_put(&slot, &m->gone, key, 0);
    if (r == 0)
        postfix_arena_unalloc_last(&m->arena, key, n + 1);
    return r < 0 ? r : 0;
}

/*
 * A "*** SPAMSTOP DIRS QUEUE DAEMON ***" line: the directories the pass
 * ran with, printed after the fingerprints.  Only plain paths count
 * (postfix_dir_valid), and only the first such line: anything else is an
 * anomaly and leaves the directories unknown, so later commands ask
 * postconf again.
 */
static int envelope_dirs(struct envelope_parser *p, const char *v, size_t n)
{
    struct postfix_dirs *d = &p->out->dirs;
    const char *sp = memchr(v, ' ', n);
    size_t qn, dn;

    if (p->state != ENVELOPE_NONE && envelope_close(p, false) < 0)
        return SS_ERR;
    qn = sp != NULL ? (size_t)(sp - v) : 0;
    dn = sp != NULL ? n - qn - 1 : 0;
    if (sp == NULL || d->queue[0] != '\0' || !postfix_dir_valid(v, qn) ||
        !postfix_dir_valid(sp + 1, dn)) {
        p->out->anomalies++;
        memset(d, 0, sizeof(*d));
        return 0;
    }
    memcpy(d->queue, v, qn);
    d->queue[qn] = '\0';
    memcpy(d->daemon, sp + 1, dn);
    d->daemon[dn] = '\0';
    return 0;
}

/* Opens a message at an ENVELOPE RECORDS marker. */
static int envelope_open(struct envelope_parser *p, const char *path, size_t n)
{
    struct postfix_message *m;
    size_t k;
    int r;

    if (p->state != ENVELOPE_NONE) {
        if (envelope_close(p, false) < 0)
            return SS_ERR;
    }
    if (p->out->n >= POSTFIX_ENTRIES_MAX)
        return SS_ETOOBIG;
    if ((r = envelope_reserve(p)) < 0)
        return r;
    m = &p->out->msgs[p->out->n];
    memset(m, 0, sizeof(*m));
    m->arrival_time = -1;
    m->sender = "";
    p->mem->rcpt_first[p->out->n] = (uint32_t)p->mem->n_rcpts;
    p->cur = m;
    if (p->stream) {
        buf_reset(&p->path_copy);
        if (buf_add(&p->path_copy, path, n) < 0)
            return SS_ERR;
        path = p->path_copy.data != NULL ? p->path_copy.data : "";
    }
    p->path = path;
    p->path_len = n;
    p->hdr = HDR_NONE;
    if (!envelope_path(p, path, n)) {
        p->out->anomalies++;
        p->cur = NULL;
        p->state = ENVELOPE_SKIP;
        return 0;
    }
    if (p->reuse &&
        envelope_index_get(&k, &p->mem->ids, p->out->msgs, m->queue_id) == 0 &&
        p->mem->mark[k] == ENVELOPE_READ) {
        /* this pass read the file again: its copy is the one */
        postfix_arena_unalloc_last(&p->mem->arena, m->queue_id,
                                   strlen(m->queue_id) + 1);
        p->cur = NULL;
        p->state = ENVELOPE_SKIP;
        return 0;
    }
    p->state = ENVELOPE_RECORDS;
    return 0;
}

/* Parses asctime text ("Wed Mar  4 18:51:02 2015") as UTC; -1 if not. */
static long long envelope_time(const char *s, size_t n)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *end = s + n;
    long long v[5] = {0, 0, 0, 0, 0}; /* day hour min sec year */
    long long y, mo, doy, era, yoe, doe;
    int i, mon = -1, digits;

    if (n < 20)
        return -1;
    for (i = 0; i < 12; i++)
        if (memcmp(s + 4, months + 3 * i, 3) == 0)
            mon = i + 1;
    if (mon < 0)
        return -1;
    s += 7;
    for (i = 0; i < 5; i++) {
        while (s < end && (*s == ' ' || *s == ':'))
            s++;
        for (digits = 0; s < end && *s >= '0' && *s <= '9' && digits < 5;
             s++, digits++)
            v[i] = v[i] * 10 + (*s - '0');
        if (digits == 0)
            return -1;
    }
    if (v[0] < 1 || v[0] > 31 || v[1] > 23 || v[2] > 59 || v[3] > 60 ||
        v[4] < 1970)
        return -1;
    /* days from civil (Howard Hinnant's algorithm) */
    y = v[4] - (mon <= 2);
    mo = mon;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + v[0] - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return ((era * 146097 + doe - 719468) * 86400) + v[1] * 3600 + v[2] * 60 +
           v[3];
}

/* envelope_time, remembering the last text: queued mail comes in bursts. */
static long long envelope_arrival(struct envelope_parser *p, const char *s,
                                  size_t n)
{
    if (p->time_text == NULL || n != p->time_len ||
        memcmp(s, p->time_text, n) != 0) {
        p->time_value = envelope_time(s, n);
        p->time_text = s;
        p->time_len = n;
        if (p->stream && n <= sizeof(p->time_copy)) {
            memcpy(p->time_copy, s, n);
            p->time_text = p->time_copy;
        } else if (p->stream) {
            p->time_text = NULL; /* too long to keep: not remembered */
        }
    }
    return p->time_value;
}

/* Keeps a recipient (the first POSTFIX_RCPT_KEEP) and counts it. */
static int envelope_recipient(struct envelope_parser *p, const char *v,
                              size_t n)
{
    struct envelope_mem *m = p->mem;
    const char *s;

    p->cur->recipients_total++;
    if (p->cur->n_recipients >= POSTFIX_RCPT_KEEP)
        return 0;
    if (m->n_rcpts == m->alloc_rcpts) {
        size_t want = m->alloc_rcpts ? m->alloc_rcpts * 2 : 1024;
        const char **r = realloc(m->rcpts, want * sizeof(*r));
        if (r == NULL)
            return SS_ERR;
        m->rcpts = r;
        m->alloc_rcpts = want;
    }
    s = envelope_str(p, v, n, POSTFIX_FIELD_MAX);
    if (s == NULL)
        return SS_ERR;
    m->rcpts[m->n_rcpts++] = s;
    p->cur->n_recipients++;
    return 0;
}

/* True when line[0..n) starts with the literal prefix. */
static bool envelope_prefix(const char *line, size_t n, const char *prefix,
                            size_t plen)
{
    return n >= plen && memcmp(line, prefix, plen) == 0;
}

#define PREFIX(line, n, lit) envelope_prefix(line, n, lit, sizeof(lit) - 1)

/* Stores a value once (the first record of its kind wins). */
static int envelope_set(struct envelope_parser *p, const char **field,
                        const char *v, size_t n)
{
    if (*field != NULL && **field != '\0')
        return 0;
    *field = envelope_intern(p, envelope_str(p, v, n, POSTFIX_FIELD_MAX));
    return *field == NULL ? SS_ERR : 0;
}

/* A recipient count the identify script printed instead of the list. */
static int envelope_rcpt_total(struct postfix_message *m, const char *v,
                               size_t n)
{
    size_t total = 0, k;

    for (k = 0; k < n && v[k] >= '0' && v[k] <= '9' &&
                total < POSTFIX_ENTRIES_MAX * 1000ul;
         k++)
        total = total * 10 + (size_t)(v[k] - '0');
    if (total > m->recipients_total)
        m->recipients_total = total;
    return 0;
}

/* One envelope record line: "type: value"; the rest are not kept. */
static int envelope_record(struct envelope_parser *p, const char *line,
                           size_t n)
{
    struct postfix_message *m = p->cur;

    if (PREFIX(line, n, "named_attribute: sasl_username="))
        return envelope_set(p, &m->sasl_username, line + 31, n - 31);
    if (PREFIX(line, n, "named_attribute: log_client_address="))
        return envelope_set(p, &m->client_address, line + 36, n - 36);
    if (PREFIX(line, n, "named_attribute: log_helo_name="))
        return envelope_set(p, &m->helo_name, line + 31, n - 31);
    if (PREFIX(line, n, "recipient: "))
        return envelope_recipient(p, line + 11, n - 11);
    if (PREFIX(line, n, "sender: "))
        return envelope_set(p, &m->sender, line + 8, n - 8);
    if (PREFIX(line, n, "spamstop_recipients: "))
        return envelope_rcpt_total(m, line + 21, n - 21);
    if (PREFIX(line, n, "message_arrival_time: ") && m->arrival_time < 0)
        m->arrival_time = envelope_arrival(p, line + 22, n - 22);
    return 0;
}

/* Streaming: a kept header's first line, from after its colon. */
static int envelope_hdr_start(struct envelope_parser *p, const char *s,
                              const char *end)
{
    buf_reset(&p->hdr_val);
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return envelope_hdr_add(p, s, (size_t)(end - s));
}

/* One header line: starts, continues or ends a kept header. */
static int envelope_header_line(struct envelope_parser *p, const char *line,
                                size_t n)
{
    static const char *const names[HDR_COUNT] = {"subject",
                                                 "x-php-originating-script"};
    enum envelope_header hdr;
    const char *colon;
    size_t name_len;

    if (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
        if (p->hdr != HDR_NONE && p->stream)
            return envelope_hdr_add(p, line, n);
        if (p->hdr != HDR_NONE)
            p->hdr_end = line + n;
        return 0;
    }
    if (envelope_header_flush(p) < 0)
        return SS_ERR;
    colon = memchr(line, ':', n < 64 ? n : 64);
    if (colon == NULL)
        return 0;
    name_len = (size_t)(colon - line);
    while (name_len > 0 &&
           (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
        name_len--;
    for (hdr = 0; hdr < HDR_COUNT; hdr++)
        if (strlen(names[hdr]) == name_len &&
            strncasecmp(line, names[hdr], name_len) == 0) {
            p->hdr = hdr;
            p->hdr_start = line;
            p->hdr_end = line + n;
            break;
        }
    if (p->stream && p->hdr != HDR_NONE)
        return envelope_hdr_start(p, colon + 1, line + n);
    return 0;
}

/* True when the marker's path is the open message's path. */
static bool envelope_same(const struct envelope_parser *p, const char *path,
                          size_t n)
{
    return p->cur != NULL && n == p->path_len && memcmp(path, p->path, n) == 0;
}

/* A "*** WORDS path ***" line; returns 1 when it was not a marker. */
static int envelope_marker(struct envelope_parser *p, const char *line,
                           size_t n)
{
    const char *in = line + 4;
    size_t k = n - 8;
    enum envelope_state next;

    if (PREFIX(in, k, "ENVELOPE RECORDS "))
        return envelope_open(p, in + 17, k - 17);
    if (PREFIX(in, k, "SPAMSTOP IDENTIFY END")) {
        if (envelope_close(p, false) < 0)
            return SS_ERR;
        if (!p->reuse)
            p->out->end_seen = true;
        return 0;
    }
    if (PREFIX(in, k, "SPAMSTOP FILE "))
        return envelope_file(p, in + 14, k - 14);
    if (PREFIX(in, k, "SPAMSTOP GONE "))
        return envelope_gone(p, in + 14, k - 14);
    if (PREFIX(in, k, "SPAMSTOP DIRS "))
        return p->reuse ? envelope_close(p, false)
                        : envelope_dirs(p, in + 14, k - 14);
    /* the three markers inside a message: same length, then its path */
    if (PREFIX(in, k, "MESSAGE CONTENTS "))
        next = ENVELOPE_HEADERS;
    else if (PREFIX(in, k, "HEADER EXTRACTED "))
        next = ENVELOPE_RECORDS;
    else if (PREFIX(in, k, "MESSAGE FILE END "))
        next = ENVELOPE_NONE;
    else
        return 1;
    if (p->state == ENVELOPE_SKIP)
        return 0;
    if (!envelope_same(p, in + 17, k - 17)) {
        p->out->anomalies++;
        return 0;
    }
    if (envelope_header_flush(p) < 0)
        return SS_ERR;
    if (next == ENVELOPE_NONE)
        return envelope_close(p, true);
    p->state = next;
    return 0;
}

/* Dispatches one line (without its newline). */
static int envelope_line(struct envelope_parser *p, const char *line, size_t n)
{
    int r;

    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n >= 8 && memcmp(line, "*** ", 4) == 0 &&
        memcmp(line + n - 4, " ***", 4) == 0) {
        r = envelope_marker(p, line, n);
        if (r <= 0)
            return r;
    }
    switch (p->state) {
    case ENVELOPE_RECORDS: return envelope_record(p, line, n);
    case ENVELOPE_HEADERS: return envelope_header_line(p, line, n);
    case ENVELOPE_SKIP: return 0;
    case ENVELOPE_NONE:
    default:
        if (n > 0)
            p->out->anomalies++;
        return 0;
    }
}

/* Says what a parse or merge failure r was; returns r. */
static int envelope_error(struct errbuf *err, int r)
{
    if (r == SS_ETOOBIG)
        errbuf_set(err, r, "the queue holds more than %u messages",
                   POSTFIX_ENTRIES_MAX);
    else if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/* Readies p to parse into out (emptied first): the private memory. */
static int envelope_begin(struct envelope_parser *p,
                          struct postfix_envelopes *out, bool in_place)
{
    struct envelope_mem *m;

    memset(out, 0, sizeof(*out));
    memset(p, 0, sizeof(*p));
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return SS_ERR;
    out->mem = m;
    hmap_init(&m->interned, ENVELOPE_INTERN_MAX);
    hmap_init(&m->gone, POSTFIX_ENTRIES_MAX);
    p->out = out;
    p->mem = m;
    p->hdr = HDR_NONE;
    p->in_place = in_place;
    buf_init(&p->path_copy, POSTFIX_STREAM_LINE_MAX);
    buf_init(&p->hdr_val, POSTFIX_FIELD_MAX);
    return envelope_reserve(p);
}

/*
 * Ends a reuse stream: drops the earlier messages whose file this pass
 * did not find unchanged (or that had no FILE line), re-indexing the ids
 * when any went, and counts the ones kept.
 */
static int envelope_reuse_end(struct envelope_parser *p)
{
    struct postfix_envelopes *out = p->out;
    struct envelope_mem *m = p->mem;
    size_t i, j, k = 0;

    p->reused = 0;
    for (i = 0; i < out->n; i++) {
        if (m->mark[i] == ENVELOPE_REUSED)
            continue;
        p->reused += m->mark[i] == ENVELOPE_KEPT;
        out->msgs[k] = out->msgs[i];
        m->rcpt_first[k] = m->rcpt_first[i];
        m->mark[k++] = ENVELOPE_READ;
    }
    if (k == out->n)
        return 0;
    out->n = k;
    envelope_index_release(&m->ids);
    for (i = 0; i < out->n; i++) {
        j = i;
        if (envelope_index_put(&j, &m->ids, out->msgs) < 0)
            return SS_ERR;
    }
    return 0;
}

/* Closes the last message and points each message at its recipients. */
static int envelope_finish(struct envelope_parser *p)
{
    struct postfix_envelopes *out = p->out;
    size_t i;
    int r;

    if ((r = envelope_close(p, false)) < 0)
        return r;
    if (p->reuse && (r = envelope_reuse_end(p)) < 0)
        return r;
    for (i = 0; i < out->n; i++)
        out->msgs[i].recipients = out->msgs[i].n_recipients
                                      ? p->mem->rcpts + p->mem->rcpt_first[i]
                                      : NULL;
    return 0;
}

/* Frees what the parser itself holds (not out). */
static void envelope_parser_release(struct envelope_parser *p)
{
    buf_release(&p->path_copy);
    buf_release(&p->hdr_val);
}

/* Walks the text line by line, copying values or keeping them in place. */
static int envelope_parse(struct postfix_envelopes *out, const char *text,
                          size_t len, bool in_place, struct errbuf *err)
{
    struct envelope_parser p;
    const char *s = text, *end, *nl;
    int r = SS_ERR;

    assert(out != NULL && (text != NULL || len == 0));
    if ((r = envelope_begin(&p, out, in_place)) < 0)
        goto out;
    end = len > 0 ? text + len : text;
    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            nl = end;
        if ((r = envelope_line(&p, s, (size_t)(nl - s))) < 0)
            goto out;
        s = nl < end ? nl + 1 : end;
    }
    r = envelope_finish(&p);
out:
    envelope_parser_release(&p);
    return envelope_error(err, r);
}

/* Walks the text line by line; see postfix.h for what it keeps. */
int postfix_envelopes_parse(struct postfix_envelopes *out, const char *text,
                            size_t len, struct errbuf *err)
{
    return envelope_parse(out, text, len, false, err);
}

/* The same walk, values left where they are in text; see postfix.h. */
int postfix_envelopes_parse_in_place(struct postfix_envelopes *out, char *text,
                                     size_t len, struct errbuf *err)
{
    assert(text != NULL);
    return envelope_parse(out, text, len, true, err);
}

/* A push parser: the same walk over text that comes in pieces. */
struct postfix_envelopes_stream {
    struct envelope_parser p;
    struct buf line;  /* a line cut by a piece's end, until its newline */
    int failed;       /* the first failure: every later call returns it */
    size_t anomalies; /* reuse: the pass's own, before the earlier text */
};

/* Starts a push parse into out; see postfix.h. */
int postfix_envelopes_stream_new(struct postfix_envelopes_stream **out,
                                 struct postfix_envelopes *env,
                                 struct errbuf *err)
{
    struct postfix_envelopes_stream *s;
    int r;

    *out = NULL;
    memset(env, 0, sizeof(*env));
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    if ((r = envelope_begin(&s->p, env, false)) < 0) {
        envelope_parser_release(&s->p);
        free(s);
        return envelope_error(err, r);
    }
    s->p.stream = true;
    buf_init(&s->line, POSTFIX_STREAM_LINE_MAX);
    *out = s;
    return 0;
}

/* One whole line of the stream, refused past POSTFIX_STREAM_LINE_MAX. */
static int stream_line(struct postfix_envelopes_stream *s, const char *line,
                       size_t n, struct errbuf *err)
{
    int r;

    if (n > POSTFIX_STREAM_LINE_MAX) {
        s->failed = SS_ETOOBIG;
        return errbuf_set(err, SS_ETOOBIG,
                          "a line of the identify output is over %u bytes",
                          POSTFIX_STREAM_LINE_MAX);
    }
    if ((r = envelope_line(&s->p, line, n)) < 0) {
        s->failed = r;
        return envelope_error(err, r);
    }
    return 0;
}

/* Feeds the next len bytes; see postfix.h. */
int postfix_envelopes_stream_feed(struct postfix_envelopes_stream *s,
                                  const char *data, size_t len,
                                  struct errbuf *err)
{
    const char *end = data + len, *nl;
    int r;

    if (s->failed < 0)
        return errbuf_set(err, s->failed, "the identify output parse failed");
    while (data < end) {
        nl = memchr(data, '\n', (size_t)(end - data));
        if (nl == NULL) {
            if (buf_add(&s->line, data, (size_t)(end - data)) < 0)
                return stream_line(s, NULL, POSTFIX_STREAM_LINE_MAX + 1u, err);
            return 0;
        }
        if (s->line.len == 0) {
            /* a whole line in this piece: parsed where it lies */
            r = stream_line(s, data, (size_t)(nl - data), err);
        } else if (buf_add(&s->line, data, (size_t)(nl - data)) < 0) {
            r = stream_line(s, NULL, POSTFIX_STREAM_LINE_MAX + 1u, err);
        } else {
            r = stream_line(s, s->line.data, s->line.len, err);
            buf_reset(&s->line);
        }
        if (r < 0)
            return r;
        data = nl + 1;
    }
    return 0;
}

/* Ends the stream: its last line, then the last message; see postfix.h. */
int postfix_envelopes_stream_end(struct postfix_envelopes_stream *s,
                                 struct errbuf *err)
{
    int r;

    if (s->failed < 0)
        return errbuf_set(err, s->failed, "the identify output parse failed");
    if (s->line.len > 0 &&
        (r = stream_line(s, s->line.data, s->line.len, err)) < 0)
        return r;
    buf_reset(&s->line);
    if ((r = envelope_finish(&s->p)) < 0) {
        s->failed = r;
        return envelope_error(err, r);
    }
    if (s->p.reuse)
        s->p.out->anomalies = s->anomalies; /* the earlier pass's are its own */
    s->failed = SS_ERR;                     /* ended: nothing more may come */
    return 0;
}

/* Frees the parser (not the envelopes it filled); NULL-safe. */
void postfix_envelopes_stream_free(struct postfix_envelopes_stream *s)
{
    if (s == NULL)
        return;
    envelope_parser_release(&s->p);
    buf_release(&s->line);
    free(s);
}

/* Frees everything the parse allocated. */
void postfix_envelopes_release(struct postfix_envelopes *e)
{
    struct envelope_mem *m;

    if (e == NULL)
        return;
    m = e->mem;
    if (m != NULL) {
        postfix_arena_free(&m->arena);
        free(m->rcpts);
        free(m->rcpt_first);
        envelope_index_release(&m->ids);
        hmap_release(&m->interned);
        hmap_release(&m->gone);
        free(m->mark);
        free(m);
    }
    free(e->msgs);
    free(e->files);
    memset(e, 0, sizeof(*e));
}

/* The message of e with id, or NULL (through the parser's id index). */
static const struct postfix_message *
envelope_lookup(const struct postfix_envelopes *e, const char *id)
{
    const struct envelope_mem *m = e->mem;
    size_t k;

    if (m == NULL || envelope_index_get(&k, &m->ids, e->msgs, id) < 0)
        return NULL;
    return &e->msgs[k];
}

/* What becomes of the FILE lines; see postfix.h. */
void postfix_envelopes_stream_files(struct postfix_envelopes_stream *s,
                                    enum postfix_files mode, struct buf *stamps)
{
    assert(mode != POSTFIX_FILES_STAMPS || stamps != NULL);
    s->p.files = mode;
    s->p.stamps = stamps;
}

/* Starts adding an earlier pass's messages to env; see postfix.h. */
int postfix_envelopes_reuse_new(struct postfix_envelopes_stream **out,
                                struct postfix_envelopes *env,
                                struct errbuf *err)
{
    struct postfix_envelopes_stream *s;
    struct envelope_parser *p;

    *out = NULL;
    assert(env->mem != NULL);
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    p = &s->p;
    p->out = env;
    p->mem = env->mem;
    p->hdr = HDR_NONE;
    p->stream = true;
    p->reuse = true;
    p->files = POSTFIX_FILES_DROP;
    s->anomalies = env->anomalies;
    buf_init(&p->path_copy, POSTFIX_STREAM_LINE_MAX);
    buf_init(&p->hdr_val, POSTFIX_FIELD_MAX);
    buf_init(&s->line, POSTFIX_STREAM_LINE_MAX);
    *out = s;
    return 0;
}

/* The earlier messages a reuse stream kept; see postfix.h. */
size_t postfix_envelopes_stream_reused(const struct postfix_envelopes_stream *s)
{
    return s->p.reused;
}
