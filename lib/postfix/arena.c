/* The string arena behind the Postfix parsers' results. */
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

/* Hands out n bytes from the newest block, starting a new one when full. */
void *postfix_arena_alloc(struct postfix_arena *a, size_t n)
{
    struct postfix_arena_block *b = a->head;
    size_t align = sizeof(max_align_t), size;
    char *p;

    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    if (b == NULL || b->size - b->used < n) {
        size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
        b = malloc(sizeof(*b) + size);
        if (b == NULL)
            return NULL;
        b->size = size;
        b->used = 0;
        /* keep filling the old head when the new block is a big one-off */
        if (a->head != NULL && size > ARENA_BLOCK_MIN) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    p = (char *)b->data + b->used;
    b->used += n;
    a->used += n;
    return p;
}

/* Copies a remote value, cut at max bytes, control bytes made visible. */
char *postfix_arena_strndup(struct postfix_arena *a, const char *s, size_t n,
                            size_t max)
{
    char *p;
    size_t i;

    if (n > max)
        n = max;
    p = postfix_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        p[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    p[n] = '\0';
    return p;
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
