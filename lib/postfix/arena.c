/* The string arena behind the Postfix parsers' results. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "postfix/arena.h"

#define ARENA_BLOCK_MIN (64u * 1024)

struct postfix_arena_block {
    struct postfix_arena_block *next;
    size_t size;
    size_t used;
    /* data follows, max_align_t aligned */
    max_align_t data[];
};

/* Hands out n bytes aligned to align from the newest block. */
static void *arena_take(struct postfix_arena *a, size_t n, size_t align)
{
    struct postfix_arena_block *b = a->head;
    size_t start = 0, size;
    char *p;

    if (b != NULL)
        start = (b->used + align - 1) & ~(align - 1);
    if (b == NULL || start > b->size || b->size - start < n) {
        size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
        b = malloc(sizeof(*b) + size);
        if (b == NULL)
            return NULL;
        b->size = size;
        b->used = 0;
        start = 0;
        /* keep filling the old head when the new block is a big one-off */
        if (a->head != NULL && size > ARENA_BLOCK_MIN) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    p = (char *)b->data + start;
    b->used = start + n;
    a->used += n;
    return p;
}

/* Hands out n bytes from the newest block, starting a new one when full. */
void *postfix_arena_alloc(struct postfix_arena *a, size_t n)
{
    return arena_take(a, n == 0 ? 1 : n, sizeof(max_align_t));
}

/* Copies a remote value, cut at max bytes, control bytes made visible. */
char *postfix_arena_strndup(struct postfix_arena *a, const char *s, size_t n,
                            size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    char *p;
    size_t i;

    if (n > max)
        n = max;
    /* strings need no alignment: packed, they take less memory */
    p = arena_take(a, n + 1, 1);
    if (p == NULL)
        return NULL;
    for (i = 0; i < n;) {
        uint64_t w;
        if (n - i >= 8) {
            memcpy(&w, u + i, 8);
            if (postfix_arena_word_plain(w)) {
                memcpy(p + i, &w, 8);
                i += 8;
                continue;
            }
        }
        p[i] = (u[i] < 0x20 || u[i] == 0x7f) ? '?' : (char)u[i];
        i++;
    }
    p[n] = '\0';
    return p;
}

/* Gives back the newest n bytes if p was the last taken; see arena.h. */
void postfix_arena_unalloc_last(struct postfix_arena *a, const char *p,
                                size_t n)
{
    struct postfix_arena_block *b = a->head;

    if (b != NULL && b->used >= n && (const char *)b->data + b->used - n == p) {
        b->used -= n;
        a->used -= n;
    }
}

/* Frees the blocks; the arena is empty again. */
void postfix_arena_free(struct postfix_arena *a)
{
    struct postfix_arena_block *b = a->head, *next;

    while (b != NULL) {
        next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
