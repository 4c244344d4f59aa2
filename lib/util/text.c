/* UTF-8 validation and file-safe names. */
#include <stdint.h>

#include "spamstop/text.h"

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need, i;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* No overlong forms, no surrogates, nothing past U+10FFFF. */
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

bool utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t i = 0, k;

    while (i < n) {
        if ((k = utf8_seq_len(p + i, n - i)) == 0)
            return false;
        i += k;
    }
    return true;
}

int fsname_escape(struct buf *b, const char *name)
{
    const unsigned char *p;
    int r = 0;

    for (p = (const unsigned char *)name; *p != '\0' && r == 0; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
            (*p == '.' && p != (const unsigned char *)name))
            r = buf_addc(b, (char)*p);
        else
            r = buf_printf(b, "%%%02X", *p);
    }
    return r;
}
