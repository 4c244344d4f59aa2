/* Error messages owned by a host or a run. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spamstop/error.h"

int errbuf_set(struct errbuf *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

int errbuf_errno(struct errbuf *e, int code, const char *fmt, ...)
{
    int saved = errno;
    size_t n;
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
    return code;
}

void errbuf_prefix(struct errbuf *e, const char *fmt, ...)
{
    char old[ERRBUF_MSG_MAX];
    size_t n;
    va_list ap;

    if (e == NULL)
        return;
    memcpy(old, e->msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    if (n + 2 < sizeof(e->msg)) {
        memcpy(e->msg + n, ": ", 2);
        n += 2;
        memcpy(e->msg + n, old, strnlen(old, sizeof(e->msg) - n - 1));
        e->msg[n + strnlen(old, sizeof(e->msg) - n - 1)] = '\0';
    }
}

void errbuf_append(struct errbuf *e, const char *fmt, ...)
{
    size_t n;
    va_list ap;

    if (e == NULL)
        return;
    n = strnlen(e->msg, sizeof(e->msg) - 1);
    va_start(ap, fmt);
    vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
    va_end(ap);
}

void errbuf_clear(struct errbuf *e)
{
    if (e == NULL)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

const char *ss_code_name(int code)
{
    switch (code) {
    case SS_OK: return "ok";
    case SS_EAUTH: return "authentication";
    case SS_EHOSTKEY: return "host key";
    case SS_ETIMEOUT: return "timeout";
    case SS_ECORRUPT: return "corrupt";
    case SS_EREMOTE: return "remote command failed";
    case SS_ECONNECT: return "unreachable";
    case SS_ETOOBIG: return "output too big";
    case SS_EINVAL: return "invalid input";
    case SS_ELOCKED: return "locked";
    case SS_ENOENT: return "not found";
    default: return "error";
    }
}
