/* What the subcommands share: the table entry, exit codes, common options. */
#ifndef SPAMSTOP_CMD_H
#define SPAMSTOP_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "spamstop/exec.h"

/*
 * Exit codes: the one table, documented in docs/spamstop.1 and
 * docs/exit-codes.md.  Keep the three in step.
 */
enum exit_code {
    EXIT_OK = 0,           /* everything done (dry-run: plan shown) */
    EXIT_ROLLED_BACK = 1,  /* some host failed; it was rolled back or
                              unreachable, nothing left half-done */
    EXIT_USAGE = 2,        /* bad command line, playbook or inventory;
                              nothing connected anywhere */
    EXIT_ATTENTION = 3,    /* some host needs attention: an undo failed or
                              a step after a pivot failed */
    EXIT_TAMPERED = 4,     /* audit verify: the trail was altered, or a
                              journal is corrupt */
    EXIT_NOT_STARTED = 5,  /* could not start: state folder, lock held,
                              confirmation refused, run not found */
    EXIT_CONTAINED = 6,    /* some host failed after containment began: it
                              is contained (new password, spam on hold,
                              Postfix running); resume finishes it */
    EXIT_INTERRUPTED = 130 /* stopped by SIGINT/SIGTERM; journal kept */
};

/* Options every subcommand that talks to hosts accepts. */
struct cmd_opts {
    struct exec_options exec;
    const char *state_dir; /* --state-dir, else $SPAMSTOP_STATE_DIR */
    int forks;             /* --forks N */
    bool json;             /* --json */
};

void cmd_opts_init(struct cmd_opts *o);

/* getopt_long values for the common long options. */
enum common_opt {
    OPT_STATE_DIR = 1000,
    OPT_KNOWN_HOSTS,
    OPT_IDENTITY,
    OPT_USER,
    OPT_PORT,
    OPT_ACCEPT_NEW,
    OPT_FORKS,
    OPT_BECOME,
    OPT_CONNECT_TIMEOUT,
    OPT_JSON,
    OPT_COMMON_LAST
};

/* Expands inside a struct option array; -F is handled through 'F'. */
#define CMD_COMMON_LONG_OPTIONS                                                \
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},                     \
        {"known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS},             \
        {"identity", required_argument, NULL, OPT_IDENTITY},                   \
        {"user", required_argument, NULL, OPT_USER},                           \
        {"port", required_argument, NULL, OPT_PORT},                           \
        {"accept-new", no_argument, NULL, OPT_ACCEPT_NEW},                     \
        {"forks", required_argument, NULL, OPT_FORKS},                         \
        {"become", no_argument, NULL, OPT_BECOME},                             \
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},     \
        {"json", no_argument, NULL, OPT_JSON},                                 \
    {                                                                          \
        "ssh-config", required_argument, NULL, 'F'                             \
    }

/* The help text for the common options. */
extern const char cmd_common_help[];

/*
 * Handles one common option.  Returns 1 if c was one (stored in o), 0 if
 * not, -1 if its value is bad (the message is printed).
 */
int cmd_common_option(struct cmd_opts *o, int c, const char *arg);

/* The state folder: --state-dir, $SPAMSTOP_STATE_DIR, $XDG_STATE_HOME/
 * spamstop, ~/.local/state/spamstop.  Returns a static string. */
const char *cmd_state_dir(const struct cmd_opts *o);

/* Prints "spamstop: " + message to stderr. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a positive integer option; -1 (and a message) when bad. */
int cmd_parse_int(const char *name, const char *arg, int min, int max);

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    unsigned flags;
    const char *summary;
};

enum cmd_flags {
    CMD_DESTRUCTIVE = 1 << 0, /* never matched by an abbreviation */
};

int cmd_exec(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_playbook(int argc, char **argv);
int cmd_respond(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_report(int argc, char **argv);

struct errbuf;
/* The default playbook's path (docs/playbooks.md: lookup order) into out. */
int cmd_default_playbook(char *out, size_t size, struct errbuf *err);

/* rollback and resume share their driver (cmd/again.c); mode is
 * "rollback" or "resume". */
int cmd_run_again(int argc, char **argv, const char *mode);

struct buf;

/* Appends s to b with control characters (remote data) made visible. */
int cmd_add_clean(struct buf *b, const char *s);

/* Appends a word of a shell command line, quoted only when it must be. */
int cmd_add_word(struct buf *b, const char *w);

/* Writes s to f with control characters made visible, in one write. */
void cmd_put_clean(FILE *f, const char *s);

/* Whether s names a mailbox: local@domain, both parts present. */
bool cmd_account_named(const char *s);

/* Asks question on the terminal; true only for an explicit yes. */
bool cmd_confirm(const char *question);

#endif
