/* Mail account backends: new passwords, hashes, Plesk and Dovecot scripts. */
#ifndef SPAMSTOP_ACCOUNTS_H
#define SPAMSTOP_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/error.h"

/*
 * Secrets (new and old passwords) only ever travel in memory and on a
 * command's stdin.  Buffers holding them are wiped by the caller with
 * explicit_bzero; no function here logs or copies them elsewhere.
 */

#define ACCOUNTS_PASSWORD_LEN 20  /* characters of a new password */
#define ACCOUNTS_HASH_MAX     256 /* room for "{SHA512-CRYPT}$6$..." */
#define ACCOUNTS_ADDRESS_MAX  320 /* longest account name accepted */

/* The unambiguous alphabet new passwords are drawn from (no 0O1lI). */
extern const char accounts_password_alphabet[];

/*
 * Writes a new password of ACCOUNTS_PASSWORD_LEN characters and a NUL into
 * out (out_size > ACCOUNTS_PASSWORD_LEN), drawn from the CSPRNG by
 * rejection sampling (no modulo bias), with at least one lowercase and one
 * uppercase letter and one digit (drawn again until so), so that a
 * server's password policy (Plesk's "strong") takes it.  The caller wipes
 * it after use.
 */
int accounts_password_generate(char *out, size_t out_size, struct errbuf *err);

/*
 * Hashes password as Dovecot's SHA512-CRYPT ("{SHA512-CRYPT}$6$salt$hash",
 * random salt) into out (out_size >= ACCOUNTS_HASH_MAX).  Computed here, on
 * the controller: only the hash reaches the host.
 */
int accounts_hash_password(char *out, size_t out_size, const char *password,
                           struct errbuf *err);

/* True when password matches hash (with or without the scheme prefix). */
bool accounts_password_matches(const char *password, const char *hash);

/*
 * True when addr can be an account name in a command's stdin and in a
 * passwd-file: 1..ACCOUNTS_ADDRESS_MAX bytes, no control characters, no
 * ':' and no blank.  Remote-derived names are checked with this first.
 */
bool accounts_address_valid(const char *addr);

enum accounts_backend {
    ACCOUNTS_BACKEND_NONE = 0,
    ACCOUNTS_BACKEND_PLESK,
    ACCOUNTS_BACKEND_DOVECOT,
};

/* What the look found on a host. */
struct accounts_host {
    enum accounts_backend backend;
    /*
     * The old password or hash can be put back: Dovecot always; Plesk
     * decides per account (accounts_look_storage), this says "every
     * account asked about"
     */
    bool recoverable;
    char passwd_file[1024]; /* Dovecot: the passwd-file; else "" */
};

/* How the backend stores one account's password. */
enum accounts_storage {
    ACCOUNTS_STORAGE_OTHER = 0, /* Dovecot: a hash kept in a file we copy */
    ACCOUNTS_STORAGE_SYM,       /* Plesk: readable back, can be put back */
    ACCOUNTS_STORAGE_HASHED,    /* Plesk: hashed, can only be reset */
};

/*
 * The look at a host, one script: prints "backend plesk|dovecot|none" and,
 * for Dovecot, "recoverable yes" and "passwd_file PATH" (from doveconf
 * -n); then, for each account name on its stdin (accounts_look_input),
 * "account ADDR yes|no": whether the backend knows it (plesk bin mail
 * --info; exactly once in the passwd-file), and for a known Plesk account
 * how its password is stored: "account ADDR yes sym|hashed", read from
 * mail_auth_view's table (any padding, its flags) on the host: the table
 * never leaves it.  Caller frees.
 */
char *accounts_look_command(void);

/* What the eviction after a rotation did (accounts_evict_parse). */
struct accounts_evict {
    int cache; /* 1 Dovecot's auth cache flushed, 0 no Dovecot, -1 failed */
    size_t sessions; /* IMAP/POP sessions ended */
    size_t failed;   /* accounts whose kick failed */
    size_t accounts; /* accounts answered for */
    long long now;   /* the host's clock when it ran, or -1 */
};

/*
 * The command that, where Dovecot runs, flushes its auth cache and ends
 * the IMAP/POP sessions of the accounts given on stdin, one a line
 * (lib/accounts/scripts/evict.sh).  NULL when out of memory.
 */
char *accounts_evict_command(void);

/* Reads what that command printed (unknown lines are skipped). */
void accounts_evict_parse(struct accounts_evict *out, const char *text,
                          size_t len);

/*
 * The check after a rotation (lib/accounts/scripts/auth-check.sh): for
 * each "ADDR\nPASSWORD\n" on its stdin, whether the host's own SMTP AUTH
 * path takes the password: `doveadm auth test` where Postfix's SASL is
 * Dovecot, an SMTP AUTH PLAIN against smtpd on 127.0.0.1 where it is
 * Cyrus (Plesk), on the first of the n ports whose EHLO offers AUTH
 * (STARTTLS when offered; 465 is TLS from the first byte).  Its stdin is
 * a secret.  Caller frees.
 */
int accounts_auth_command(char **out, const unsigned *ports, size_t n,
                          struct errbuf *err);

/* How that check reached smtpd under Cyrus (its "smtp PORT MODE" line). */
enum accounts_smtp_mode {
    ACCOUNTS_SMTP_PLAIN = 0,
    ACCOUNTS_SMTP_STARTTLS,
    ACCOUNTS_SMTP_TLS, /* TLS from the first byte (smtps, 465) */
};

/*
 * Reads the port and mode the check used; 0, or -1 when the output has
 * no such line (not Cyrus, or no port offered AUTH) or a bad one.
 */
int accounts_auth_smtp(unsigned *out_port, enum accounts_smtp_mode *out_mode,
                       const char *text, size_t len);

/* One account's answer in that command's output. */
enum accounts_auth {
    ACCOUNTS_AUTH_UNKNOWN = 0, /* no answer, or the host could not tell */
    ACCOUNTS_AUTH_OK,
    ACCOUNTS_AUTH_REFUSED,
};

/*
 * Reads addr's answer from the check's output; for UNKNOWN, why gets the
 * host's reason (or "no answer"), cut to why_size and made printable.
 */
enum accounts_auth accounts_auth_parse(const char *text, size_t len,
                                       const char *addr, char *why,
                                       size_t why_size);

/* The "sasl TYPE" the check printed into out ("" when none). */
void accounts_auth_sasl(char *out, size_t size, const char *text, size_t len);

/* The stdin of the look: the names, a line each (caller frees). */
int accounts_look_input(char **out, size_t *out_len, const char *const *addrs,
                        size_t n, struct errbuf *err);

/*
 * From the look's output: 1 when the backend knows addr, 0 when not,
 * SS_EINVAL when the output has no answer for it.
 */
int accounts_look_known(const char *text, size_t len, const char *addr,
                        struct errbuf *err);

/*
 * From the look's output: how addr's password is stored (a Plesk answer
 * without "sym" counts as hashed: never take a hash for a password).
 * SS_EINVAL when the output has no answer for it or does not know it.
 */
int accounts_look_storage(enum accounts_storage *out, const char *text,
                          size_t len, const char *addr, struct errbuf *err);

/*
 * Reads the backend lines of the look's output.  SS_EINVAL when it is not
 * understood, or the passwd-file path holds Dovecot variables (%d...): not
 * supported.
 */
int accounts_look_parse(struct accounts_host *out, const char *text, size_t len,
                        struct errbuf *err);

const char *accounts_backend_name(enum accounts_backend backend);

/*
 * Dovecot passwd-file rotation: reads "ADDR\nHASH\n" on stdin, keeps a
 * copy of the file in backup_dir (once per run: the first copy is the
 * state before the run), then rewrites ADDR's hash atomically (temporary
 * file in the same folder with the same owner and mode, rename).  Exits 2
 * on bad input, 3 when a file cannot be read or written, 4 when ADDR is
 * not exactly once in the file (nothing changed).  Caller frees.
 */
int accounts_dovecot_rotate_command(char **out, const char *passwd_file,
                                    const char *backup_dir, struct errbuf *err);

/*
 * Undo of the rotation: reads "ADDR\n" on stdin and puts ADDR's hash from
 * the backup back into the live file (other accounts' lines untouched).
 * The old hash never leaves the host.  Exit codes as for rotation.
 */
int accounts_dovecot_restore_command(char **out, const char *passwd_file,
                                     const char *backup_dir,
                                     struct errbuf *err);

/* The stdin of the rotation: "ADDR\nHASH\n" (caller frees). */
int accounts_dovecot_input(char **out, size_t *out_len, const char *addr,
                           const char *hash, struct errbuf *err);

/* The stdin of restore: "ADDR\n" (caller frees). */
int accounts_address_input(char **out, size_t *out_len, const char *addr,
                           struct errbuf *err);

/*
 * Plesk: sets addr's password to the line read on stdin, through
 * PSA_PASSWORD, never argv (plesk bin mail --update ADDR -passwd '').
 * Caller frees.
 */
int accounts_plesk_set_command(char **out, const char *addr,
                               struct errbuf *err);

/*
 * The stdin of accounts_plesk_set_command: "PASSWORD\n".  A secret: the
 * caller wipes *out with explicit_bzero before freeing it.
 */
int accounts_plesk_input(char **out, size_t *out_len, const char *password,
                         struct errbuf *err);

/*
 * Plesk: prints addr's current password (from mail_auth_view) on stdout,
 * exit 3 when not exactly one match or when it is stored hashed.  ITS STDOUT IS
 * A SECRET: the caller must keep it out of the audit trail, the journal and any
 * log.
 */
int accounts_plesk_read_command(char **out, const char *addr,
                                struct errbuf *err);

/*
 * Plesk: keeps addr's current password in the root-only file on the host
 * (made in backup_dir), once: an existing non-empty file stays.  The
 * password never crosses the wire.  Exit 3 when it cannot be read or
 * kept.  Caller frees.
 */
int accounts_plesk_keep_command(char **out, const char *addr,
                                const char *backup_dir, const char *file,
                                struct errbuf *err);

/*
 * Plesk: sets addr's password back to the one kept in file (see
 * accounts_plesk_keep_command); no file means it was never rotated: it
 * prints "not rotated: nothing to put back" and exits 0.  Caller frees.
 */
int accounts_plesk_restore_command(char **out, const char *addr,
                                   const char *file, struct errbuf *err);

/*
 * Takes the password from accounts_plesk_read_command's stdout (first
 * line).  *out is a secret: wipe and free it.
 */
int accounts_plesk_parse_password(char **out, const char *text, size_t len,
                                  struct errbuf *err);

#endif
