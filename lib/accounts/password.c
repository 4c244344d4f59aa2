/* New passwords from the CSPRNG and their SHA512-CRYPT hashes. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/accounts.h"
#include "spamstop/digest.h"

/* 56 characters: no 0/O, 1/l/I, so a password can be read aloud. */
const char accounts_password_alphabet[] =
    "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

#define ALPHABET_LEN (sizeof(accounts_password_alphabet) - 1)
/* Bytes at or above this are rejected: 256 is not a multiple of 56. */
#define ACCEPT_BELOW (256 / ALPHABET_LEN * ALPHABET_LEN)

/* Rejection sampling over random bytes: one draw of the password. */
static int password_draw(char *out, size_t out_size, struct errbuf *err)
{
    unsigned char pool[64];
    size_t have = 0, used = 0, i = 0;
    int r = SS_ERR;

    if (out_size <= ACCOUNTS_PASSWORD_LEN)
        return errbuf_set(err, SS_EINVAL, "password buffer too small");
    while (i < ACCOUNTS_PASSWORD_LEN) {
        if (used == have) {
            if (random_bytes(pool, sizeof(pool)) < 0) {
                r = errbuf_set(err, SS_ERR, "the random generator failed");
                goto out;
            }
            have = sizeof(pool);
            used = 0;
        }
        if (pool[used] < ACCEPT_BELOW)
            out[i++] = accounts_password_alphabet[pool[used] % ALPHABET_LEN];
        used++;
    }
    out[i] = '\0';
    r = 0;
out:
    explicit_bzero(pool, sizeof(pool));
    if (r < 0)
        explicit_bzero(out, out_size);
    return r;
}

/* True when s holds a lowercase and an uppercase letter and a digit. */
static bool password_mixed(const char *s)
{
    bool lower = false, upper = false, digit = false;

    for (; *s != '\0'; s++) {
        lower = lower || (*s >= 'a' && *s <= 'z');
        upper = upper || (*s >= 'A' && *s <= 'Z');
        digit = digit || (*s >= '0' && *s <= '9');
    }
    return lower && upper && digit;
}

/*
 * Draws until the password mixes letters of both cases and digits (about
 * one draw in twenty lacks a digit), so password policies take it; see
 * accounts.h.
 */
int accounts_password_generate(char *out, size_t out_size, struct errbuf *err)
{
    int r, tries;

    for (tries = 0; tries < 64; tries++) {
        if ((r = password_draw(out, out_size, err)) < 0)
            return r;
        if (password_mixed(out))
            return 0;
    }
    explicit_bzero(out, out_size);
    return errbuf_set(err, SS_ERR, "the random generator looks broken");
}

#define SCHEME_PREFIX "{SHA512-CRYPT}"

/* crypt_r with a fresh $6$ salt, on the controller; see accounts.h. */
int accounts_hash_password(char *out, size_t out_size, const char *password,
                           struct errbuf *err)
{
    struct crypt_data *cd = NULL;
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    const char *h;
    int r = SS_ERR;

    if (out_size < ACCOUNTS_HASH_MAX)
        return errbuf_set(err, SS_EINVAL, "hash buffer too small");
    cd = calloc(1, sizeof(*cd));
    if (cd == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    if (crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
        r = errbuf_set(err, SS_ERR, "cannot make a SHA512-CRYPT salt");
        goto out;
    }
    h = crypt_r(password, salt, cd);
    if (h == NULL || strncmp(h, "$6$", 3) != 0 ||
        strlen(SCHEME_PREFIX) + strlen(h) + 1 > out_size) {
        r = errbuf_set(err, SS_ERR, "SHA512-CRYPT hashing failed");
        goto out;
    }
    strcpy(out, SCHEME_PREFIX);
    strcat(out, h);
    r = 0;
out:
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return r;
}

/* Recomputes the hash with hash's own salt and compares. */
bool accounts_password_matches(const char *password, const char *hash)
{
    struct crypt_data *cd;
    const char *h;
    bool ok;

    if (strncmp(hash, SCHEME_PREFIX, strlen(SCHEME_PREFIX)) == 0)
        hash += strlen(SCHEME_PREFIX);
    cd = calloc(1, sizeof(*cd));
    if (cd == NULL)
        return false;
    h = crypt_r(password, hash, cd);
    ok = h != NULL && h[0] != '*' && strcmp(h, hash) == 0;
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}
