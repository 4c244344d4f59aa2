/* SHA-256 and random bytes, from libcrypto. */
#ifndef SPAMSTOP_DIGEST_H
#define SPAMSTOP_DIGEST_H

#include <stddef.h>

#define SHA256_LEN     32
#define SHA256_HEX_LEN 64

struct sha256_ctx {
    void *md; /* EVP_MD_CTX */
};

int sha256_begin(struct sha256_ctx *c);
int sha256_update(struct sha256_ctx *c, const void *data, size_t n);
/* Writes the digest and frees the context. */
int sha256_end(struct sha256_ctx *c, unsigned char out[SHA256_LEN]);
/* Frees a context that will not be finished (NULL-safe). */
void sha256_abort(struct sha256_ctx *c);

/* One-shot digest as 64 lower-case hex digits plus NUL. */
int sha256_hex(char out[SHA256_HEX_LEN + 1], const void *data, size_t n);
void hex_encode(char *out, const unsigned char *in, size_t n);

/* n bytes from the CSPRNG (RAND_bytes). */
int random_bytes(void *out, size_t n);

#endif
