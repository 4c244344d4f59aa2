/* Remote scripts of the Plesk and Dovecot passwd-file backends. */
#include <stdlib.h>
#include <string.h>

#include "spamstop/accounts.h"
#include "spamstop/buf.h"
#include "spamstop/shquote.h"

#define PREAMBLE "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin\"; export PATH\n"

/*
 * Plesk wins when both exist (Plesk runs Dovecot too).  mail_auth_view
 * shows "| address | flags | password |" rows; passwords in clear mean the
 * old one can be put back.  Its output is consumed by awk on the host.
 * Then one line "account ADDR yes|no" per name on stdin (checked again
 * here).  Every tool reads /dev/null: stdin holds only the names.
 */
static const char look_script[] = PREAMBLE
    "be=none f=\n"
    "if command -v plesk >/dev/null 2>&1; then\n"
    "  be=plesk; echo 'backend plesk'\n"
    "  if plesk sbin mail_auth_view 2>/dev/null </dev/null | awk -F'|' "
    "'NF >= 5 { a = $2; p = $4; gsub(/^[ \\t]+|[ \\t]+$/, \"\", a); "
    "gsub(/^[ \\t]+|[ \\t]+$/, \"\", p); "
    "if (index(a, \"@\") && p != \"\" && p !~ /^[$]/) n++ } "
    "END { exit n > 0 ? 0 : 1 }'; then echo 'recoverable yes'; "
    "else echo 'recoverable no'; fi\n"
    "elif command -v doveconf >/dev/null 2>&1; then\n"
    "  f=$(doveconf -n 2>/dev/null </dev/null | awk '"
    "$1 == \"passdb\" && index($0, \"{\") { p = 1; d = \"\"; a = \"\"; next } "
    "p && $1 == \"driver\" { d = $3; next } "
    "p && $1 == \"args\" { a = $NF; next } "
    "p && $1 == \"}\" { p = 0; if (d == \"passwd-file\" && f == \"\") f = a } "
    "END { print f }')\n"
    "  if [ -n \"$f\" ]; then be=dovecot; echo 'backend dovecot'; "
    "echo 'recoverable yes'; printf 'passwd_file %s\\n' \"$f\"\n"
    "  else echo 'backend none'; fi\n"
    "else echo 'backend none'; fi\n"
    "while IFS= read -r addr; do\n"
    "  case $addr in ''|*:*|*' '*) echo 'bad account name' >&2; exit 2;; "
    "esac\n"
    "  k=no\n"
    "  case $be in\n"
    "  plesk) plesk bin mail --info \"$addr\" >/dev/null 2>&1 </dev/null && "
    "k=yes;;\n"
    "  dovecot) [ -f \"$f\" ] && U=\"$addr\" awk 'BEGIN { FS = \":\" } "
    "$1 == ENVIRON[\"U\"] { n++ } END { exit n == 1 ? 0 : 4 }' \"$f\" "
    "</dev/null && k=yes;;\n"
    "  esac\n"
    "  printf 'account %s %s\\n' \"$addr\" \"$k\"\n"
    "done\n";

/* Returns a copy of the look script. */
char *accounts_look_command(void)
{
    return strdup(look_script);
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

/* Reads and checks the account name on stdin (again, on the host). */
#define READ_ADDR                                                              \
    "IFS= read -r addr || { echo 'no account on stdin' >&2; exit 2; }\n"       \
    "case $addr in ''|*:*|*' '*) echo 'bad account name' >&2; exit 2;; "       \
    "esac\n"

/* The backup copy of f in b: the path with '/' made '_'. */
#define BACKUP_NAME "k=\"$b/$(printf '%s' \"$f\" | tr '/' '_')\"\n"

/*
 * Rewrites addr's hash to $new in $f atomically: a temporary file in the
 * same folder made by cp -p (owner, mode), awk into it, sync, rename.
 */
#define REWRITE                                                                \
    "[ -f \"$f\" ] || { echo \"no passwd-file at $f\" >&2; exit 3; }\n"        \
    "t=\"$f.spamstop.$$\"\n"                                                   \
    "trap 'rm -f \"$t\"' EXIT\n"                                               \
    "cp -p \"$f\" \"$t\" || exit 3\n"                                          \
    "U=\"$addr\" H=\"$new\" awk 'BEGIN { FS = OFS = \":\" } "                  \
    "$1 == ENVIRON[\"U\"] { $2 = ENVIRON[\"H\"]; n++ } { print } "             \
    "END { exit n == 1 ? 0 : 4 }' \"$f\" >\"$t\"\n"                            \
    "rc=$?\n"                                                                  \
    "if [ $rc -eq 4 ]; then echo \"account not exactly once in $f\" >&2; "     \
    "exit 4; fi\n"                                                             \
    "[ $rc -eq 0 ] || exit 3\n"                                                \
    "sync \"$t\" 2>/dev/null || sync\n"                                        \
    "mv -f \"$t\" \"$f\" || exit 3\n"

static const char rotate_body[] =
    "umask 077\n" READ_ADDR
    "IFS= read -r new || { echo 'no hash on stdin' >&2; exit 2; }\n"
    "case $new in *:*|*' '*) echo 'bad hash' >&2; exit 2;; "
    "'{SHA512-CRYPT}$6$'*) ;; *) echo 'bad hash' >&2; exit 2;; esac\n"
    "mkdir -p \"$b\" || exit 3\n" BACKUP_NAME
    "if [ ! -f \"$k\" ]; then cp -p \"$f\" \"$k.tmp\" && "
    "mv -f \"$k.tmp\" \"$k\" || exit 3; fi\n" REWRITE;

/*
 * The rotation copies f to its backup before it changes anything, so no
 * backup means it never ran: nothing to put back (a controller killed
 * between journaling the intent and sending the command).
 */
static const char restore_body[] = READ_ADDR BACKUP_NAME
    "[ -f \"$k\" ] || { echo 'not rotated: nothing to put back'; exit 0; }\n"
    "new=$(U=\"$addr\" awk 'BEGIN { FS = \":\" } "
    "$1 == ENVIRON[\"U\"] { n++; h = $2 } "
    "END { if (n != 1) exit 4; print h }' \"$k\") || "
    "{ echo \"account not exactly once in the backup\" >&2; exit 4; }\n"
    "[ -n \"$new\" ] || exit 4\n" REWRITE;

/* PREAMBLE, f=FILE, optionally b=DIR, then body. */
static int backends_script(char **out, const char *passwd_file,
                           const char *backup_dir, const char *body,
                           struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if ((r = backends_check_path(passwd_file, "passwd-file", err)) < 0)
        return r;
    if (backup_dir != NULL &&
        (r = backends_check_path(backup_dir, "backup folder", err)) < 0)
        return r;
    r = SS_ERR;
    if (buf_adds(&b, PREAMBLE "f=") < 0 || shquote_add(&b, passwd_file) < 0 ||
        buf_addc(&b, '\n') < 0)
        goto out;
    if (backup_dir != NULL &&
        (buf_adds(&b, "b=") < 0 || shquote_add(&b, backup_dir) < 0 ||
         buf_addc(&b, '\n') < 0))
        goto out;
    if (buf_adds(&b, body) < 0)
        goto out;
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/* See accounts.h. */
int accounts_dovecot_rotate_command(char **out, const char *passwd_file,
                                    const char *backup_dir, struct errbuf *err)
{
    if (backup_dir == NULL)
        return errbuf_set(err, SS_EINVAL, "rotation needs a backup folder");
    return backends_script(out, passwd_file, backup_dir, rotate_body, err);
}

/* See accounts.h. */
int accounts_dovecot_restore_command(char **out, const char *passwd_file,
                                     const char *backup_dir, struct errbuf *err)
{
    if (backup_dir == NULL)
        return errbuf_set(err, SS_EINVAL, "restore needs a backup folder");
    return backends_script(out, passwd_file, backup_dir, restore_body, err);
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

/* Builds PREAMBLE + head + quoted addr + tail for the Plesk commands. */
static int backends_plesk(char **out, const char *head, const char *addr,
                          const char *tail, struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r = SS_ERR;

    *out = NULL;
    if (!accounts_address_valid(addr))
        return errbuf_set(err, SS_EINVAL, "'%.80s' is not an account name",
                          addr != NULL ? addr : "");
    if (buf_adds(&b, PREAMBLE) < 0 || buf_adds(&b, head) < 0 ||
        shquote_add(&b, addr) < 0 || buf_adds(&b, tail) < 0)
        goto out;
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/* See accounts.h: the secret goes stdin -> shell variable -> environment. */
int accounts_plesk_set_command(char **out, const char *addr, struct errbuf *err)
{
    return backends_plesk(
        out,
        "IFS= read -r PSA_PASSWORD || [ -n \"$PSA_PASSWORD\" ] || "
        "{ echo 'no password on stdin' >&2; exit 2; }\n"
        "export PSA_PASSWORD\n"
        "exec plesk bin mail --update ",
        addr, " -passwd ''\n", err);
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

/* See accounts.h. */
int accounts_plesk_read_command(char **out, const char *addr,
                                struct errbuf *err)
{
    return backends_plesk(
        out, "A=", addr,
        "\nplesk sbin mail_auth_view 2>/dev/null </dev/null | "
        "A=\"$A\" awk '{ a = tolower(ENVIRON[\"A\"]) } "
        "index(tolower($0), \"| \" a \" \") == 1 { "
        "r = substr($0, length(a) + 4); "
        "if (sub(/^ *\\| [^|]* \\| /, \"\", r) != 1) next; "
        "sub(/ *\\|[ \\t\\r]*$/, \"\", r); p = r; n++ } "
        "END { if (n != 1 || p == \"\") exit 3; print p }'\n",
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

/* Finds "account ADDR yes|no" in the look's output; see accounts.h. */
int accounts_look_known(const char *text, size_t len, const char *addr,
                        struct errbuf *err)
{
    const char *s = text, *end = len > 0 ? text + len : text, *nl, *v;
    size_t n, vn, an = strlen(addr);

    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            nl = end;
        n = (size_t)(nl - s);
        if (backends_kv(s, n, "account", &v, &vn) && vn > an &&
            memcmp(v, addr, an) == 0 && v[an] == ' ') {
            v += an + 1;
            vn -= an + 1;
            if (vn == 3 && memcmp(v, "yes", 3) == 0)
                return 1;
            if (vn == 2 && memcmp(v, "no", 2) == 0)
                return 0;
            break;
        }
        s = nl < end ? nl + 1 : end;
    }
    return errbuf_set(err, SS_EINVAL,
                      "the account look printed no answer for '%.80s'", addr);
}
