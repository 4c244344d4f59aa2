/* spamstop: the command table and dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Every subcommand, in the order `spamstop help` lists them. */
static const struct cmd commands[] = {
    {"audit", cmd_audit, 0,
     "list runs, show a run's audit trail, verify its integrity"},
    {"exec", cmd_exec, CMD_DESTRUCTIVE,
     "run one shell command on hosts in parallel (diagnostics)"},
    {"help", cmd_help, 0, "show this help"},
    {"playbook", cmd_playbook, 0, "check a playbook and print its plan"},
    {"respond", cmd_respond, CMD_DESTRUCTIVE,
     "run a playbook on hosts as a transaction (default: compromised "
     "account)"},
    {"report", cmd_report, 0,
     "write a run's incident report (md, html or json)"},
    {"resume", cmd_resume, CMD_DESTRUCTIVE, "finish an interrupted run"},
    {"rollback", cmd_rollback, CMD_DESTRUCTIVE,
     "undo what a run changed, newest step first"},
    {"version", cmd_version, 0, "print the version"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("spamstop %s\n", SPAMSTOP_VERSION);
    return EXIT_OK;
}

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: spamstop COMMAND [OPTIONS] [ARGS]\n\n"
               "Contain an outbreak of spam from stolen mailbox passwords on "
               "Postfix/Plesk servers, over SSH, as a transaction.\n\n"
               "Commands:\n");
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'spamstop COMMAND --help' tells more; see also "
               "spamstop(1).\n");
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return EXIT_OK;
}

/* Finds a command by name, or by an unambiguous prefix of a safe one. */
static const struct cmd *find_command(const char *name)
{
    const struct cmd *found = NULL;
    size_t i, n = strlen(name);

    for (i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    for (i = 0; i < NCOMMANDS; i++) {
        if (commands[i].flags & CMD_DESTRUCTIVE)
            continue;
        if (strncmp(commands[i].name, name, n) == 0) {
            if (found != NULL)
                return NULL;
            found = &commands[i];
        }
    }
    return found;
}

int main(int argc, char **argv)
{
    const struct cmd *c;

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cmd_version(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cmd_help(argc - 1, argv + 1);
    c = find_command(argv[1]);
    if (c == NULL) {
        cmd_error("unknown command '%s' (try 'spamstop help')", argv[1]);
        return EXIT_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}
