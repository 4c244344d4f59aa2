/* Quoting values for POSIX sh: the only way remote data enters a command. */
#ifndef SPAMSTOP_SHQUOTE_H
#define SPAMSTOP_SHQUOTE_H

#include "spamstop/buf.h"

/*
 * Appends s to b as one single-quoted sh word: 'a'\''b'.  Any byte but NUL
 * is safe inside; a NUL cannot be passed in a command at all, so strings
 * holding one are refused by callers before they get here.
 */
int shquote_add(struct buf *b, const char *s);

/* Returns a newly allocated quoted copy of s (caller frees), NULL on ENOMEM. */
char *shquote(const char *s);

#endif
