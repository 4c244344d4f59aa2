/* Capped growable buffers. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/buf.h"
#include "spamstop/error.h"

void buf_init(struct buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void buf_release(struct buf *b)
{
    size_t cap = b->cap;

    free(b->data);
    buf_init(b, cap);
}

void buf_wipe(struct buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->alloc);
    buf_release(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->overflow = false;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL. */
static int buf_grow(struct buf *b, size_t n)
{
    size_t want, alloc;
    char *p;

    if (b->cap != 0 && (n > b->cap || b->len > b->cap - n)) {
        b->overflow = true;
        return SS_ETOOBIG;
    }
    if (n > SIZE_MAX - b->len - 1)
        return SS_ERR;
    want = b->len + n + 1;
    if (want <= b->alloc)
        return 0;
    alloc = b->alloc ? b->alloc : 64;
    while (alloc < want)
        alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
    p = realloc(b->data, alloc);
    if (p == NULL)
        return SS_ERR;
    b->data = p;
    b->alloc = alloc;
    return 0;
}

int buf_add(struct buf *b, const void *data, size_t n)
{
    int r = buf_grow(b, n);

    if (r < 0)
        return r;
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SS_ERR;
    r = buf_grow(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *buf_detach(struct buf *b)
{
    char *s = b->data;
    size_t cap = b->cap;

    if (s == NULL)
        s = calloc(1, 1);
    buf_init(b, cap);
    return s;
}
