/* Options, exit codes and messages shared by the subcommands. */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "spamstop/accounts.h"
#include "spamstop/buf.h"
#include "spamstop/shquote.h"

const char cmd_common_help[] =
    "Connection options:\n"
    "  -F, --ssh-config FILE   ssh_config file instead of ~/.ssh/config\n"
    "      --identity FILE     private key to use (default: agent, then\n"
    "                          ~/.ssh/id_*)\n"
    "      --known-hosts FILE  known_hosts file (default ~/.ssh/known_hosts)\n"
    "      --accept-new        trust an unknown host's key on first use and\n"
    "                          record it (a changed key is still refused)\n"
    "      --user USER         log in as USER on every host\n"
    "      --port N            connect to port N on every host\n"
    "      --become            run commands through 'sudo -n'\n"
    "      --connect-timeout S seconds to wait for a connection (default 10)\n"
    "      --forks N           hosts worked on at once (default 10)\n"
    "      --state-dir DIR     where runs are kept (default\n"
    "                          $SPAMSTOP_STATE_DIR, else\n"
    "                          $XDG_STATE_HOME/spamstop)\n"
    "      --json              one JSON object per line on stdout\n";

void cmd_opts_init(struct cmd_opts *o)
{
    struct exec_options init = EXEC_OPTIONS_INIT;

    memset(o, 0, sizeof(*o));
    o->exec = init;
    o->forks = 10;
}

void cmd_error(const char *fmt, ...)
{
    va_list ap;

    fputs("spamstop: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cmd_parse_int(const char *name, const char *arg, int min, int max)
{
    char *end = NULL;
    long v;

    v = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || v < min || v > max) {
        cmd_error("bad value '%s' for %s: expected a number from %d to %d", arg,
                  name, min, max);
        return -1;
    }
    return (int)v;
}

int cmd_common_option(struct cmd_opts *o, int c, const char *arg)
{
    int v;

    switch (c) {
    case 'F': o->exec.ssh_config = arg; return 1;
    case OPT_STATE_DIR: o->state_dir = arg; return 1;
    case OPT_KNOWN_HOSTS: o->exec.known_hosts = arg; return 1;
    case OPT_IDENTITY: o->exec.identity = arg; return 1;
    case OPT_USER: o->exec.user = arg; return 1;
    case OPT_PORT:
        if ((v = cmd_parse_int("--port", arg, 1, 65535)) < 0)
            return -1;
        o->exec.port = v;
        return 1;
    case OPT_ACCEPT_NEW: o->exec.accept_new = true; return 1;
    case OPT_FORKS:
        if ((v = cmd_parse_int("--forks", arg, 1, 1000)) < 0)
            return -1;
        o->forks = v;
        return 1;
    case OPT_BECOME: o->exec.become = true; return 1;
    case OPT_CONNECT_TIMEOUT:
        if ((v = cmd_parse_int("--connect-timeout", arg, 1, 3600)) < 0)
            return -1;
        o->exec.connect_timeout_ms = v * 1000;
        return 1;
    case OPT_JSON: o->json = true; return 1;
    default: return 0;
    }
}

const char *cmd_state_dir(const struct cmd_opts *o)
{
    static char path[PATH_MAX];
    const char *s;

    if (o->state_dir != NULL)
        return o->state_dir;
    if ((s = getenv("SPAMSTOP_STATE_DIR")) != NULL && *s != '\0')
        return s;
    if ((s = getenv("XDG_STATE_HOME")) != NULL && *s == '/') {
        snprintf(path, sizeof(path), "%s/spamstop", s);
        return path;
    }
    s = getenv("HOME");
    snprintf(path, sizeof(path), "%s/.local/state/spamstop",
             s != NULL && *s != '\0' ? s : "/root");
    return path;
}

int cmd_add_word(struct buf *b, const char *w)
{
    if (*w != '\0' && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789@%+=:,./_-") == strlen(w))
        return buf_adds(b, w);
    return shquote_add(b, w);
}

/* Appends s to b with control characters (remote data) made visible. */
int cmd_add_clean(struct buf *b, const char *s)
{
    const unsigned char *p;
    int r = 0;

    for (p = (const unsigned char *)s; *p != '\0' && r == 0; p++) {
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            r = buf_printf(b, "\\x%02x", *p);
        else
            r = buf_addc(b, (char)*p);
    }
    return r;
}

/*
 * Writes s to f made clean, in one piece: stderr is unbuffered, and a write
 * a character is a packet a character when the operator's terminal is
 * itself over SSH.
 */
void cmd_put_clean(FILE *f, const char *s)
{
    struct buf b = BUF_INIT;

    if (cmd_add_clean(&b, s) == 0 && b.len > 0)
        fwrite(b.data, 1, b.len, f);
    buf_release(&b);
}

/* Asks on the terminal; true only for an explicit yes. */
bool cmd_confirm(const char *question)
{
    char line[64];

    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 ||
           strcmp(line, "Y\n") == 0;
}

/* Whether s names a mailbox: local@domain, both parts present. */
bool cmd_account_named(const char *s)
{
    const char *at = strchr(s, '@');

    return accounts_address_valid(s) && at != NULL && at != s &&
           at[1] != '\0' && strchr(at + 1, '@') == NULL;
}
