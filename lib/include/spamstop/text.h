/* Small text checks shared by every module that handles remote bytes. */
#ifndef SPAMSTOP_TEXT_H
#define SPAMSTOP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/buf.h"

/*
 * Length of the valid UTF-8 sequence at s (n > 0 bytes left), or 0 when it
 * is not one: truncated, overlong, a surrogate, or past U+10FFFF.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* True when all n bytes are valid UTF-8 (JSON text must be). */
bool utf8_valid(const void *s, size_t n);

/*
 * Appends name to b as a file name: every byte outside [A-Za-z0-9._-], and
 * a leading '.', as %XX.  Host names become file names this way.
 */
int fsname_escape(struct buf *b, const char *name);

#endif
