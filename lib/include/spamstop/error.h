/* Error codes and the per-host (or per-run) error message holder. */
#ifndef SPAMSTOP_ERROR_H
#define SPAMSTOP_ERROR_H

#include <stddef.h>

/*
 * Every library function returns 0 or one of these.  Named codes are the
 * failures a caller acts on; everything else is SS_ERR.
 */
enum ss_code {
    SS_OK = 0,
    SS_ERR = -1,      /* anything else; the message says what */
    SS_EAUTH = -2,    /* ssh authentication refused */
    SS_EHOSTKEY = -3, /* host key changed, other type, or unknown */
    SS_ETIMEOUT = -4, /* a deadline passed */
    SS_ECORRUPT = -5, /* a journal or audit file is damaged */
    SS_EREMOTE = -6,  /* a remote command exited non-zero */
    SS_ECONNECT = -7, /* host unreachable, connection refused or lost */
    SS_ETOOBIG = -8,  /* remote output over its cap */
    SS_EINVAL = -9,   /* bad user input: playbook, inventory, option */
    SS_ELOCKED = -10, /* another run holds the host's lock */
    SS_ENOENT = -11,  /* no such run, file or host */
};

#define ERRBUF_MSG_MAX 1024

/*
 * The message of the last failure.  One per host or per run, never global:
 * hosts run in parallel.
 */
struct errbuf {
    int code;
    char msg[ERRBUF_MSG_MAX];
};

#define ERRBUF_INIT                                                            \
    {                                                                          \
        0,                                                                     \
        {                                                                      \
            0                                                                  \
        }                                                                      \
    }

/* Sets code and message (printf-style) and returns code, for tail calls. */
int errbuf_set(struct errbuf *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like errbuf_set, appending ": strerror(errno)" to the message. */
int errbuf_errno(struct errbuf *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the current message with "prefix: " (keeps the code). */
void errbuf_prefix(struct errbuf *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends to the current message, cut at the buffer (keeps the code). */
void errbuf_append(struct errbuf *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void errbuf_clear(struct errbuf *e);

/* A short lower-case name for a code ("timeout", "host key", ...). */
const char *ss_code_name(int code);

#endif
