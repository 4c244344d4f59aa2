/* SHA-256 and CSPRNG bytes through libcrypto. */
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "spamstop/digest.h"
#include "spamstop/error.h"

int sha256_begin(struct sha256_ctx *c)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    c->md = NULL;
    if (md == NULL)
        return SS_ERR;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return SS_ERR;
    }
    c->md = md;
    return 0;
}

int sha256_update(struct sha256_ctx *c, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    return EVP_DigestUpdate(c->md, data, n) == 1 ? 0 : SS_ERR;
}

int sha256_end(struct sha256_ctx *c, unsigned char out[SHA256_LEN])
{
    unsigned int n = 0;
    int r = EVP_DigestFinal_ex(c->md, out, &n) == 1 ? 0 : SS_ERR;

    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    return r;
}

void sha256_abort(struct sha256_ctx *c)
{
    if (c == NULL || c->md == NULL)
        return;
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

void hex_encode(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int sha256_hex(char out[SHA256_HEX_LEN + 1], const void *data, size_t n)
{
    unsigned char md[SHA256_LEN];
    unsigned int len = 0;

    if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1)
        return SS_ERR;
    hex_encode(out, md, SHA256_LEN);
    return 0;
}

int random_bytes(void *out, size_t n)
{
    if (n > (size_t)2147483647)
        return SS_ERR;
    return RAND_bytes(out, (int)n) == 1 ? 0 : SS_ERR;
}
