/* A string arena for the Postfix parsers: many small strings, one free. */
#ifndef SPAMSTOP_POSTFIX_ARENA_H
#define SPAMSTOP_POSTFIX_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct postfix_arena_block;

/* Strings live until postfix_arena_free; blocks grow as needed. */
struct postfix_arena {
    struct postfix_arena_block *head;
    size_t used; /* bytes handed out, for tests and limits */
};

#define POSTFIX_ARENA_INIT                                                     \
    {                                                                          \
        NULL, 0                                                                \
    }

/* Returns n bytes aligned for any pointer, or NULL when out of memory. */
void *postfix_arena_alloc(struct postfix_arena *a, size_t n);

/*
 * Copies at most max bytes of s[0..n) as a NUL-terminated string, control
 * bytes (and NUL) replaced by '?'.  NULL when out of memory.
 */
char *postfix_arena_strndup(struct postfix_arena *a, const char *s, size_t n,
                            size_t max);

/*
 * Copies n bytes from src to dst (same size), bytes that are not valid
 * UTF-8 replaced by '?' (jansson reads and writes UTF-8 only).
 */
void postfix_utf8_clean(char *dst, const char *src, size_t n);

/*
 * True when none of the 8 bytes of w is a control byte (below 0x20 or
 * 0x7f), so they can be copied as they are: the parsers' fast path.
 */
static inline bool postfix_arena_word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = ones * 0x80;
    uint64_t del = w ^ (ones * 0x7f);

    return (((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs ? false
                                                                      : true;
}

/*
 * The queue named by s[0..n) as a constant string (it outlives any list),
 * or NULL when s names none of the five queues.
 */
const char *postfix_queue_name_static(const char *s, size_t n);

/*
 * Gives the n bytes at p back when they were the arena's last allocation
 * (a copy that turned out not to be needed); otherwise does nothing.
 */
void postfix_arena_unalloc_last(struct postfix_arena *a, const char *p,
                                size_t n);

/* Frees every block (NULL-safe). */
void postfix_arena_free(struct postfix_arena *a);

#endif
