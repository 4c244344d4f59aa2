/* A growable list of owned strings (results, parameters, names). */
#include <stdlib.h>
#include <string.h>

#include "spamstop/error.h"
#include "spamstop/strlist.h"

int strlist_pushn(struct strlist *l, const char *s, size_t n)
{
    char *copy;

    if (l->n == l->alloc) {
        size_t na = l->alloc ? l->alloc * 2 : 8;
        char **v = realloc(l->v, na * sizeof(*v));
        if (v == NULL)
            return SS_ERR;
        l->v = v;
        l->alloc = na;
    }
    if ((copy = malloc(n + 1)) == NULL)
        return SS_ERR;
    memcpy(copy, s, n);
    copy[n] = '\0';
    l->v[l->n++] = copy;
    return 0;
}

int strlist_push(struct strlist *l, const char *s)
{
    return strlist_pushn(l, s, strlen(s));
}

void strlist_release(struct strlist *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->alloc = 0;
}

int strlist_copy(struct strlist *out, const struct strlist *in)
{
    size_t i;

    for (i = 0; i < in->n; i++) {
        if (strlist_push(out, in->v[i]) < 0) {
            strlist_release(out);
            return SS_ERR;
        }
    }
    return 0;
}
