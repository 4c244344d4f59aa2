/* A growable list of owned strings. */
#ifndef SPAMSTOP_STRLIST_H
#define SPAMSTOP_STRLIST_H

#include <stddef.h>

/* A growable list of owned strings (results, parameters). */
struct strlist {
    char **v;
    size_t n;
    size_t alloc;
};

#define STRLIST_INIT                                                           \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Appends a copy of s; SS_ERR on ENOMEM. */
int strlist_push(struct strlist *l, const char *s);
/* Appends the first n bytes of s as one string. */
int strlist_pushn(struct strlist *l, const char *s, size_t n);
/* Frees every string and the array; NULL-safe. */
void strlist_release(struct strlist *l);
/* Deep copy into an empty out. */
int strlist_copy(struct strlist *out, const struct strlist *in);

#endif
