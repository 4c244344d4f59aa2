/* Single-quote quoting for POSIX sh. */
#include <string.h>

#include "spamstop/error.h"
#include "spamstop/shquote.h"

int shquote_add(struct buf *b, const char *s)
{
    const char *p;
    int r;

    if ((r = buf_addc(b, '\'')) < 0)
        return r;
    for (p = s; *p != '\0'; p++) {
        if (*p == '\'')
            r = buf_adds(b, "'\\''");
        else
            r = buf_addc(b, *p);
        if (r < 0)
            return r;
    }
    return buf_addc(b, '\'');
}

char *shquote(const char *s)
{
    struct buf b = BUF_INIT;

    if (shquote_add(&b, s) < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}
