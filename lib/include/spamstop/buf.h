/* Growable byte buffers with a hard cap, for remote output and text. */
#ifndef SPAMSTOP_BUF_H
#define SPAMSTOP_BUF_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A NUL-terminated byte buffer that never grows past cap bytes (0 = no
 * cap, only for data we produce ourselves).  Remote output always gets a cap:
 * a hostile host must not exhaust the operator's memory.
 */
struct buf {
    char *data; /* NULL until the first append; always NUL-terminated */
    size_t len;
    size_t alloc;
    size_t cap;    /* maximum len; 0 = unlimited */
    bool overflow; /* an append was refused because of cap */
};

#define BUF_INIT                                                               \
    {                                                                          \
        NULL, 0, 0, 0, false                                                   \
    }

void buf_init(struct buf *b, size_t cap);
/* Frees the memory and resets to empty (keeps cap). */
void buf_release(struct buf *b);
/* Like buf_release, wiping the bytes first (for secrets). */
void buf_wipe(struct buf *b);
/* Empties without freeing. */
void buf_reset(struct buf *b);

/* Appends n bytes; returns SS_ETOOBIG (and sets overflow) past cap. */
int buf_add(struct buf *b, const void *data, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hands the string over to the caller (who frees it); b is left empty. */
char *buf_detach(struct buf *b);

#endif
