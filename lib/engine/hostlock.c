/* The host lock kept on the host itself: one responder per host. */
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_scripts.h"
#include "hostlock.h"
#include "spamstop/rundir.h"
#include "spamstop/shquote.h"

/* Appends s to out, every byte outside [A-Za-z0-9._-] as '_', at most max. */
static void name_part(char *out, size_t size, const char *s, size_t max)
{
    size_t n = strlen(out);

    for (; *s != '\0' && max > 0 && n + 1 < size; s++, max--) {
        char c = *s;

        out[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                           c == '-'
                       ? c
                       : '_';
    }
    out[n] = '\0';
}

void hostlock_operator(char *out, size_t size)
{
    struct passwd pw, *res = NULL;
    char pwbuf[4096], host[256], uid[32];
    const char *user = NULL;

    if (size == 0)
        return;
    out[0] = '\0';
    if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
        res != NULL && pw.pw_name != NULL && pw.pw_name[0] != '\0')
        user = pw.pw_name;
    if (user == NULL) {
        snprintf(uid, sizeof(uid), "uid%ld", (long)geteuid());
        user = uid;
    }
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    name_part(out, size, user, 32);
    if (strlen(out) + 1 < size) {
        strcat(out, "@");
        name_part(out, size, host, 64);
    }
}

/* True when s is 1..max bytes of [A-Za-z0-9._@-]. */
static bool operator_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n > 0 && n <= max &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._@-") == n;
}

/* See hostlock.h: the values as quoted assignments, then hostlock.sh. */
int hostlock_command(struct buf *out, enum hostlock_op op, const char *dir,
                     const char *run_id, const char *operator_name,
                     struct errbuf *err)
{
    bool take = op == HOSTLOCK_TAKE;

    buf_reset(out);
    if (dir == NULL || dir[0] != '/')
        return errbuf_set(err, SS_EINVAL, "host lock folder must be absolute");
    if (run_id == NULL || !rundir_valid_id(run_id))
        return errbuf_set(err, SS_EINVAL, "host lock: bad run id");
    if (take && (operator_name == NULL ||
                 !operator_ok(operator_name, HOSTLOCK_OPERATOR_MAX)))
        return errbuf_set(err, SS_EINVAL, "host lock: bad operator name");
    if (buf_adds(out, "lk_dir=") < 0 || shquote_add(out, dir) < 0 ||
        buf_adds(out, take ? "\nlk_act=take\nlk_id="
                           : "\nlk_act=release\n"
                             "lk_id=") < 0 ||
        shquote_add(out, run_id) < 0 || buf_adds(out, "\nlk_op=") < 0 ||
        shquote_add(out, take ? operator_name : "") < 0 ||
        buf_adds(out, "\n") < 0 || buf_adds(out, script_hostlock_sh) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

void hostlock_cmd(struct exec_cmd *cmd, const char *command)
{
    struct exec_cmd c = EXEC_CMD_INIT;

    c.command = command;
    c.timeout_ms = HOSTLOCK_TIMEOUT_MS;
    c.out_cap = HOSTLOCK_OUT_CAP;
    c.err_cap = HOSTLOCK_OUT_CAP;
    *cmd = c;
}

/*
 * Splits "held RUNID OPERATOR SINCE\n" (nothing more) and checks each
 * field; writes the holder's description into out.  false when any field
 * is missing, too long or holds a byte it may not.
 */
static bool parse_held(char *out, size_t size, const struct buf *b)
{
    char line[HOSTLOCK_OUT_CAP], *f[4], *save = NULL, *tok;
    char when[64];
    struct tm tm;
    time_t t;
    size_t n = 0;

    if (b->data == NULL || b->len == 0 || b->len >= sizeof(line) ||
        memchr(b->data, '\0', b->len) != NULL || b->data[b->len - 1] != '\n')
        return false;
    memcpy(line, b->data, b->len - 1);
    line[b->len - 1] = '\0';
    if (strchr(line, '\n') != NULL || strstr(line, "  ") != NULL)
        return false;
    for (tok = strtok_r(line, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        if (n == 4)
            return false;
        f[n++] = tok;
    }
    if (n != 4 || strcmp(f[0], "held") != 0 || !rundir_valid_id(f[1]) ||
        !operator_ok(f[2], HOSTLOCK_OPERATOR_MAX) || strlen(f[3]) > 12 ||
        strspn(f[3], "0123456789") != strlen(f[3]))
        return false;
    t = (time_t)strtoll(f[3], NULL, 10);
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        return false;
    snprintf(out, size, "run %s of %s since %s", f[1], f[2], when);
    return true;
}

/* The first line of b as printable ASCII (others as '?'), at most 160. */
static void first_line(char *out, size_t size, const struct buf *b)
{
    size_t i, n = 0;

    for (i = 0; b->data != NULL && i < b->len && b->data[i] != '\n' &&
                n < 160 && n + 1 < size;
         i++) {
        unsigned char c = (unsigned char)b->data[i];

        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
}

/* True when b holds exactly the bytes of s. */
static bool out_is(const struct buf *b, const char *s)
{
    size_t n = strlen(s);

    return b->data != NULL && b->len == n && memcmp(b->data, s, n) == 0;
}

int hostlock_answer(enum hostlock_op op, int rc, const struct exec_result *res,
                    const struct errbuf *run_err, struct errbuf *err)
{
    const char *what = op == HOSTLOCK_TAKE ? "take" : "release";
    char holder[512], line[200];

    if (rc < 0)
        return errbuf_set(err, rc, "cannot %s the host lock: %s", what,
                          run_err != NULL ? run_err->msg : ss_code_name(rc));
    if (op == HOSTLOCK_TAKE && res->exit_status == 3) {
        if (parse_held(holder, sizeof(holder), &res->out))
            return errbuf_set(err, SS_ELOCKED, "host locked by %s", holder);
        return errbuf_set(err, SS_ELOCKED,
                          "host locked by another run (its holder record "
                          "is unreadable)");
    }
    if (res->exit_status == 0 &&
        ((op == HOSTLOCK_TAKE && out_is(&res->out, "taken\n")) ||
         (op == HOSTLOCK_RELEASE && (out_is(&res->out, "released\n") ||
                                     out_is(&res->out, "not-held\n")))))
        return 0;
    if (res->exit_status == 0)
        return errbuf_set(err, SS_EREMOTE,
                          "cannot %s the host lock: unexpected answer", what);
    first_line(line, sizeof(line), &res->err);
    if (res->exit_status < 0)
        return errbuf_set(err, SS_EREMOTE,
                          "cannot %s the host lock: killed%s%s", what,
                          line[0] != '\0' ? ": " : "", line);
    return errbuf_set(err, SS_EREMOTE, "cannot %s the host lock: exit %d%s%s",
                      what, res->exit_status, line[0] != '\0' ? ": " : "",
                      line);
}
