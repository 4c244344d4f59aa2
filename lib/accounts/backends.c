/* Remote scripts of the Plesk and Dovecot passwd-file backends. */
#include <stdlib.h>
#include <string.h>

#include "accounts_scripts.h"
#include "spamstop/accounts.h"
#include "spamstop/buf.h"
#include "spamstop/shquote.h"

/*
 * Each command is shell-quoted assignments of its inputs, the parts
 * (functions) it uses, then one of the programs of lib/accounts/scripts
 * (embedded at build time, the preamble at its top).  Account names and secrets
 * travel only on stdin, or quoted.
 */

/* Returns the look script, after the part reading Plesk's table. */
char *accounts_look_command(void)
{
    struct buf b = BUF_INIT;

    if (buf_adds(&b, script_plesk_sh) < 0 || buf_adds(&b, script_look_sh) < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

static const char *const backend_names[] = {"none", "plesk", "dovecot"};

/* The word the look prints for backend. */
const char *accounts_backend_name(enum accounts_backend backend)
{
    if ((size_t)backend >= sizeof(backend_names) / sizeof(backend_names[0]))
        return "none";
    return backend_names[backend];
}

/* True when line[0..n) is "key value" with the given key; sets *v, *vn. */
static bool backends_kv(const char *line, size_t n, const char *key,
                        const char **v, size_t *vn)
{
    size_t k = strlen(key);

    if (n <= k || memcmp(line, key, k) != 0 || line[k] != ' ')
        return false;
    *v = line + k + 1;
    *vn = n - k - 1;
    return true;
}

char *accounts_evict_command(void)
{
    return strdup(script_evict_sh);
}

/* Reads what evict.sh printed; see accounts.h. */
void accounts_evict_parse(struct accounts_evict *out, const char *text,
                          size_t len)
{
    const char *s = text, *end = text + len, *nl, *v;
    size_t n, vn;

    memset(out, 0, sizeof(*out));
    out->now = -1;
    for (; s < end; s = nl + 1) {
        if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
            nl = end;
        n = (size_t)(nl - s);
        if (backends_kv(s, n, "now", &v, &vn) && vn > 0 && vn < 20 &&
            strspn(v, "0123456789") >= vn)
            out->now = strtoll(v, NULL, 10);
        else if (backends_kv(s, n, "cache", &v, &vn))
            out->cache = vn == 7 && memcmp(v, "flushed", 7) == 0 ? 1
                         : vn == 4 && memcmp(v, "none", 4) == 0  ? 0
                                                                 : -1;
        else if (backends_kv(s, n, "kicked", &v, &vn) &&
                 (v = memchr(v, ' ', vn)) != NULL) {
            out->sessions += strtoul(v + 1, NULL, 10);
            out->accounts++;
        } else if (backends_kv(s, n, "kick-failed", &v, &vn)) {
            out->failed++;
            out->accounts++;
        }
    }
}

/* Reads the look's backend lines; see accounts.h. */
int accounts_look_parse(struct accounts_host *out, const char *text, size_t len,
                        struct errbuf *err)
{
    const char *s = text, *end = len > 0 ? text + len : text, *nl, *v;
    bool have_backend = false;
    size_t n, vn, i;

    memset(out, 0, sizeof(*out));
    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            nl = end;
        n = (size_t)(nl - s);
        if (backends_kv(s, n, "backend", &v, &vn)) {
            for (i = 0; i < sizeof(backend_names) / sizeof(backend_names[0]);
                 i++)
                if (strlen(backend_names[i]) == vn &&
                    memcmp(v, backend_names[i], vn) == 0) {
                    out->backend = (enum accounts_backend)i;
                    have_backend = true;
                }
        } else if (backends_kv(s, n, "recoverable", &v, &vn)) {
            out->recoverable = vn == 3 && memcmp(v, "yes", 3) == 0;
        } else if (backends_kv(s, n, "passwd_file", &v, &vn)) {
            if (vn == 0 || vn >= sizeof(out->passwd_file) || v[0] != '/' ||
                memchr(v, '%', vn) != NULL)
                return errbuf_set(err, SS_EINVAL,
                                  "unsupported dovecot passwd-file '%.*s'",
                                  (int)(vn > 200 ? 200 : vn), v);
            memcpy(out->passwd_file, v, vn);
            out->passwd_file[vn] = '\0';
        }
        s = nl < end ? nl + 1 : end;
    }
    if (!have_backend)
        return errbuf_set(err, SS_EINVAL,
                          "the account look printed no backend");
    if (out->backend == ACCOUNTS_BACKEND_DOVECOT && out->passwd_file[0] == 0)
        return errbuf_set(err, SS_EINVAL, "dovecot without a passwd-file");
    return 0;
}

/* No control characters, ':' or blanks; see accounts.h. */
bool accounts_address_valid(const char *addr)
{
    size_t i;

    if (addr == NULL || addr[0] == '\0')
        return false;
    for (i = 0; addr[i] != '\0'; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (i >= ACCOUNTS_ADDRESS_MAX || c < 0x21 || c == 0x7f || c == ':')
            return false;
    }
    return true;
}

/* Checks a host path we put in a script. */
static int backends_check_path(const char *path, const char *what,
                               struct errbuf *err)
{
    if (path == NULL || path[0] != '/' || strchr(path, '\n') != NULL ||
        strlen(path) > 1024)
        return errbuf_set(err, SS_EINVAL, "%s '%s' is not an absolute path",
                          what, path != NULL ? path : "");
    return 0;
}

/* Appends "name=QUOTED\n". */
static int backends_assign(struct buf *b, const char *name, const char *value)
{
    if (buf_adds(b, name) < 0 || buf_addc(b, '=') < 0 ||
        shquote_add(b, value) < 0)
        return SS_ERR;
    return buf_addc(b, '\n');
}

/* f=FILE, b=DIR, dovecot.sh, then script. */
static int backends_script(char **out, const char *passwd_file,
                           const char *backup_dir, const char *script,
                           struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if ((r = backends_check_path(passwd_file, "passwd-file", err)) < 0 ||
        (r = backends_check_path(backup_dir, "backup folder", err)) < 0)
        return r;
    if (backends_assign(&b, "f", passwd_file) < 0 ||
        backends_assign(&b, "b", backup_dir) < 0 ||
        buf_adds(&b, script_dovecot_sh) < 0 || buf_adds(&b, script) < 0) {
        buf_release(&b);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = buf_detach(&b);
    return 0;
}

/* See accounts.h. */
int accounts_dovecot_rotate_command(char **out, const char *passwd_file,
                                    const char *backup_dir, struct errbuf *err)
{
    if (backup_dir == NULL)
        return errbuf_set(err, SS_EINVAL, "rotation needs a backup folder");
    return backends_script(out, passwd_file, backup_dir,
                           script_dovecot_rotate_sh, err);
}

/* See accounts.h. */
int accounts_dovecot_restore_command(char **out, const char *passwd_file,
                                     const char *backup_dir, struct errbuf *err)
{
    if (backup_dir == NULL)
        return errbuf_set(err, SS_EINVAL, "restore needs a backup folder");
    return backends_script(out, passwd_file, backup_dir,
                           script_dovecot_restore_sh, err);
}

/* Joins checked lines into a stdin text. */
static int backends_input(char **out, size_t *out_len, const char *a,
                          const char *b, struct errbuf *err)
{
    struct buf in = BUF_INIT;

    *out = NULL;
    *out_len = 0;
    if (buf_adds(&in, a) < 0 || buf_addc(&in, '\n') < 0 ||
        (b != NULL && (buf_adds(&in, b) < 0 || buf_addc(&in, '\n') < 0))) {
        buf_wipe(&in);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out_len = in.len;
    *out = buf_detach(&in);
    return 0;
}

/* See accounts.h. */
int accounts_dovecot_input(char **out, size_t *out_len, const char *addr,
                           const char *hash, struct errbuf *err)
{
    if (!accounts_address_valid(addr))
        return errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                          addr != NULL ? addr : "");
    if (hash == NULL || strncmp(hash, "{SHA512-CRYPT}$6$", 17) != 0 ||
        strpbrk(hash, ": \n") != NULL)
        return errbuf_set(err, SS_EINVAL, "not a SHA512-CRYPT hash");
    return backends_input(out, out_len, addr, hash, err);
}

/* See accounts.h. */
int accounts_address_input(char **out, size_t *out_len, const char *addr,
                           struct errbuf *err)
{
    if (!accounts_address_valid(addr))
        return errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                          addr != NULL ? addr : "");
    return backends_input(out, out_len, addr, NULL, err);
}

/*
 * A=ADDR, then k=FILE and b=DIR when given (keeping or restoring), then
 * the part reading Plesk's table when the script reads it, then script:
 * the Plesk commands.
 */
static int backends_plesk(char **out, const char *addr, const char *file,
                          const char *dir, const char *script,
                          struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r = 0;

    *out = NULL;
    if (!accounts_address_valid(addr))
        return errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                          addr != NULL ? addr : "");
    if ((file != NULL &&
         (r = backends_check_path(file, "password file", err)) < 0) ||
        (dir != NULL &&
         (r = backends_check_path(dir, "backup folder", err)) < 0))
        return r;
    if (backends_assign(&b, "A", addr) < 0 ||
        backends_assign(&b, "k", file != NULL ? file : "") < 0 ||
        backends_assign(&b, "b", dir != NULL ? dir : "") < 0 ||
        (script == script_plesk_read_sh && buf_adds(&b, script_plesk_sh) < 0) ||
        buf_adds(&b, script) < 0) {
        buf_release(&b);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = buf_detach(&b);
    return 0;
}

/* See accounts.h and plesk-set.sh. */
int accounts_plesk_set_command(char **out, const char *addr, struct errbuf *err)
{
    return backends_plesk(out, addr, NULL, NULL, script_plesk_set_sh, err);
}

/* See accounts.h and plesk-set.sh. */
int accounts_plesk_restore_command(char **out, const char *addr,
                                   const char *file, struct errbuf *err)
{
    if (file == NULL)
        return errbuf_set(err, SS_EINVAL, "restore needs a password file");
    return backends_plesk(out, addr, file, NULL, script_plesk_set_sh, err);
}

/* See accounts.h. */
int accounts_plesk_input(char **out, size_t *out_len, const char *password,
                         struct errbuf *err)
{
    if (password == NULL || password[0] == '\0' ||
        strchr(password, '\n') != NULL)
        return errbuf_set(err, SS_EINVAL, "unusable password");
    return backends_input(out, out_len, password, NULL, err);
}

/* See accounts.h and plesk-read.sh. */
int accounts_plesk_read_command(char **out, const char *addr,
                                struct errbuf *err)
{
    return backends_plesk(out, addr, NULL, NULL, script_plesk_read_sh, err);
}

/* See accounts.h and plesk-read.sh. */
int accounts_plesk_keep_command(char **out, const char *addr,
                                const char *backup_dir, const char *file,
                                struct errbuf *err)
{
    if (backup_dir == NULL || file == NULL)
        return errbuf_set(err, SS_EINVAL, "keeping needs a password file");
    return backends_plesk(out, addr, file, backup_dir, script_plesk_read_sh,
                          err);
}

/* See accounts.h. */
int accounts_plesk_parse_password(char **out, const char *text, size_t len,
                                  struct errbuf *err)
{
    const char *nl = memchr(text, '\n', len);
    size_t n = nl != NULL ? (size_t)(nl - text) : len;
    char *p;

    *out = NULL;
    if (n > 0 && text[n - 1] == '\r')
        n--;
    if (n == 0 || n > 1024 || memchr(text, '\0', n) != NULL)
        return errbuf_set(err, SS_EINVAL, "no password in the output");
    p = malloc(n + 1);
    if (p == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    memcpy(p, text, n);
    p[n] = '\0';
    *out = p;
    return 0;
}

/* See accounts.h. */
int accounts_look_input(char **out, size_t *out_len, const char *const *addrs,
                        size_t n, struct errbuf *err)
{
    struct buf in = BUF_INIT;
    size_t i;

    *out = NULL;
    *out_len = 0;
    for (i = 0; i < n; i++) {
        if (!accounts_address_valid(addrs[i])) {
            buf_release(&in);
            return errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                              addrs[i] != NULL ? addrs[i] : "");
        }
        if (buf_adds(&in, addrs[i]) < 0 || buf_addc(&in, '\n') < 0) {
            buf_release(&in);
            return errbuf_set(err, SS_ERR, "out of memory");
        }
    }
    *out_len = in.len;
    if ((*out = buf_detach(&in)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/*
 * The answer of "account ADDR ANSWER" in the look's output: *v, *vn; false
 * when there is none.
 */
static bool backends_answer(const char *text, size_t len, const char *addr,
                            const char **v, size_t *vn)
{
    const char *s = text, *end = len > 0 ? text + len : text, *nl;
    size_t n, an = strlen(addr);

    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            nl = end;
        n = (size_t)(nl - s);
        if (backends_kv(s, n, "account", v, vn) && *vn > an &&
            memcmp(*v, addr, an) == 0 && (*v)[an] == ' ') {
            *v += an + 1;
            *vn -= an + 1;
            return true;
        }
        s = nl < end ? nl + 1 : end;
    }
    return false;
}

/* Finds "account ADDR yes[ ...]|no" in the look's output; see accounts.h. */
int accounts_look_known(const char *text, size_t len, const char *addr,
                        struct errbuf *err)
{
    const char *v;
    size_t vn;

    if (backends_answer(text, len, addr, &v, &vn)) {
        if (vn >= 3 && memcmp(v, "yes", 3) == 0 && (vn == 3 || v[3] == ' '))
            return 1;
        if (vn == 2 && memcmp(v, "no", 2) == 0)
            return 0;
    }
    return errbuf_set(err, SS_EINVAL,
                      "the account look printed no answer for '%.80s'", addr);
}

/* Reads "account ADDR yes [sym|hashed]"; see accounts.h. */
int accounts_look_storage(enum accounts_storage *out, const char *text,
                          size_t len, const char *addr, struct errbuf *err)
{
    const char *v;
    size_t vn;

    *out = ACCOUNTS_STORAGE_OTHER;
    if (!backends_answer(text, len, addr, &v, &vn) || vn < 3 ||
        memcmp(v, "yes", 3) != 0 || (vn > 3 && v[3] != ' '))
        return errbuf_set(err, SS_EINVAL,
                          "the account look does not know '%.80s'", addr);
    if (vn == 3)
        return 0;
    v += 4;
    vn -= 4;
    *out = vn == 3 && memcmp(v, "sym", 3) == 0 ? ACCOUNTS_STORAGE_SYM
                                               : ACCOUNTS_STORAGE_HASHED;
    return 0;
}

int accounts_auth_command(char **out, const unsigned *ports, size_t n,
                          struct errbuf *err)
{
    struct buf b = BUF_INIT;
    size_t i;
    int r;

    *out = NULL;
    if (n == 0)
        return errbuf_set(err, SS_EINVAL, "no smtp port to try");
    for (i = 0; i < n; i++)
        if (ports[i] == 0 || ports[i] > 65535)
            return errbuf_set(err, SS_EINVAL, "bad smtp port %u", ports[i]);
    r = buf_adds(&b, "ports='");
    for (i = 0; i < n && r == 0; i++)
        r = buf_printf(&b, "%s%u", i > 0 ? " " : "", ports[i]);
    if (r < 0 || buf_adds(&b, "'\n") < 0 ||
        buf_adds(&b, script_auth_check_sh) < 0) {
        buf_release(&b);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = buf_detach(&b);
    return 0;
}

/* Copies v[0..n) into out (size > 0), bytes outside ASCII's printable
 * ones as '?' (the text reaches JSON and the terminal). */
static void backends_copy_clean(char *out, size_t size, const char *v, size_t n)
{
    size_t i;

    if (n >= size)
        n = size - 1;
    for (i = 0; i < n; i++)
        out[i] = (unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f
                     ? '?'
                     : v[i];
    out[n] = '\0';
}

/* Reads addr's "auth ok|refused|unknown ADDR [why]" line; see accounts.h. */
enum accounts_auth accounts_auth_parse(const char *text, size_t len,
                                       const char *addr, char *why,
                                       size_t why_size)
{
    static const char *const words[] = {"unknown", "ok", "refused"};
    const char *s = text, *end = text + len, *nl, *v, *w;
    size_t n, vn, an = strlen(addr), i, wn;

    if (why_size > 0)
        backends_copy_clean(why, why_size, "no answer", 9);
    for (; text != NULL && s < end; s = nl + 1) {
        if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
            nl = end;
        n = (size_t)(nl - s);
        if (!backends_kv(s, n, "auth", &v, &vn))
            continue;
        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            wn = strlen(words[i]);
            if (vn <= wn + an || memcmp(v, words[i], wn) != 0 || v[wn] != ' ' ||
                memcmp(v + wn + 1, addr, an) != 0)
                continue;
            w = v + wn + 1 + an;
            if (w < v + vn && *w != ' ')
                continue;
            if (i == 0 && why_size > 0) {
                w += w < v + vn ? 1 : 0;
                backends_copy_clean(why, why_size, w, (size_t)(v + vn - w));
            }
            return (enum accounts_auth)i;
        }
    }
    return ACCOUNTS_AUTH_UNKNOWN;
}

/* The value of text's first "KEY VALUE" line into v, vn; false: none. */
static bool backends_first(const char *text, size_t len, const char *key,
                           const char **v, size_t *vn)
{
    const char *s = text, *end = text + len, *nl;

    for (; text != NULL && s < end; s = nl + 1) {
        if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
            nl = end;
        if (backends_kv(s, (size_t)(nl - s), key, v, vn))
            return true;
    }
    return false;
}

/* Reads the check's "smtp PORT MODE" line; see accounts.h. */
int accounts_auth_smtp(unsigned *out_port, enum accounts_smtp_mode *out_mode,
                       const char *text, size_t len)
{
    static const char *const modes[] = {"plain", "starttls", "tls"};
    const char *v;
    size_t vn, i, k;
    unsigned port = 0;

    *out_port = 0;
    *out_mode = ACCOUNTS_SMTP_PLAIN;
    if (!backends_first(text, len, "smtp", &v, &vn))
        return -1;
    for (i = 0; i < vn && i < 5 && v[i] >= '0' && v[i] <= '9'; i++)
        port = port * 10 + (unsigned)(v[i] - '0');
    if (i == 0 || i >= vn || v[i] != ' ' || port == 0 || port > 65535)
        return -1;
    v += i + 1;
    vn -= i + 1;
    for (k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
        if (vn == strlen(modes[k]) && memcmp(v, modes[k], vn) == 0) {
            *out_port = port;
            *out_mode = (enum accounts_smtp_mode)k;
            return 0;
        }
    return -1;
}

void accounts_auth_sasl(char *out, size_t size, const char *text, size_t len)
{
    const char *v;
    size_t vn;

    if (size == 0)
        return;
    out[0] = '\0';
    if (backends_first(text, len, "sasl", &v, &vn))
        backends_copy_clean(out, size, v, vn);
}
