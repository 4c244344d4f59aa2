/* spamstop rollback and resume: act again on a run from its journal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "session.h"
#include "spamstop/accounts.h"
#include "spamstop/engine.h"
#include "spamstop/rundir.h"

enum again_opt {
    OPT_HOST = OPT_COMMON_LAST + 1,
    OPT_SYSLOG,
    OPT_ACCOUNT,
    OPT_RESTORE_PASSWORD,
};

static const char rollback_help[] =
    "Undoes what run RUN-ID changed, host by host, newest step first (a\n"
    "committed step by its uncommit): held mail is released (after the\n"
    "commit, the deleted spam comes back on hold), a stopped Postfix is\n"
    "started.  A new password stays: the stolen one comes back only with\n"
    "--account ADDR --restore-password.\n"
    "\n"
    "      --account ADDR      only this account (repeatable; a false\n"
    "                          positive): its held mail is released, the\n"
    "                          other accounts stay contained\n"
    "      --restore-password  with --account: put back the account's old\n"
    "                          password -- the one that was stolen";

static const char again_help[] =
    "usage: spamstop %s [OPTIONS] RUN-ID\n"
    "\n"
    "%s\n"
    "Works from the run's journal and its copy of the playbook, also after\n"
    "the controller was killed; running it twice does no harm.\n"
    "\n"
    "Options:\n"
    "      --host H            only this host (repeatable)\n"
    "  -y, --yes               do not ask for confirmation (needed when\n"
    "                          there is no terminal to ask on)\n"
    "      --syslog            also log every step's outcome to syslog\n"
    "                          (LOG_AUTHPRIV)\n"
    "  -h, --help              show this help\n"
    "\n"
    "Find RUN-ID with 'spamstop audit list'; 'last' is the newest run.\n"
    "\n";

/* The plain words before a stolen password is put back. */
static void print_restore_warning(const struct strlist *accounts)
{
    size_t i;

    printf("WARNING: --restore-password puts back the OLD password of:\n");
    for (i = 0; i < accounts->n; i++)
        printf("  %s\n", accounts->v[i]);
    printf("That is the password that was stolen: whoever stole it can log "
           "in and send\nmail again.  Do this only for a false positive "
           "(the account was never\ncompromised).\n");
    fflush(stdout);
}

/* What the command line asks of rollback or resume. */
struct again_args {
    const char *mode; /* "rollback" or "resume" */
    bool rollback;
    const char *run_id;
    char **only; /* --host, nonly of them */
    size_t nonly;
    struct strlist accounts; /* --account */
    bool yes;
    bool use_syslog;
};

/* Takes one --account ADDR (rollback only). */
static int again_account(struct again_args *a, const char *addr)
{
    if (!a->rollback) {
        cmd_error("%s: --account is for rollback only", a->mode);
        return -1;
    }
    if (!cmd_account_named(addr)) {
        cmd_error("rollback: '%s' is not an account address (user@domain)",
                  addr);
        return -1;
    }
    if (strlist_push(&a->accounts, addr) < 0) {
        cmd_error("out of memory");
        return -1;
    }
    return 0;
}

/* Prints the help of rollback or resume. */
static void again_usage(const struct again_args *a, FILE *f, bool full)
{
    if (!full) {
        fprintf(f, again_help, a->mode, "");
        return;
    }
    fprintf(f, again_help, a->mode,
            a->rollback ? rollback_help
                        : "Finishes an interrupted run: what was going "
                          "forward goes on (steps,\nthen commit), what "
                          "was rolling back is rolled back.");
    fputs(cmd_common_help, f);
}

/*
 * Reads the options into a, co and eo.  0 to go on, 1 when done (--help),
 * -1 on a bad option (message printed).
 */
static int again_args(struct again_args *a, struct cmd_opts *co,
                      struct engine_opts *eo, int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_COMMON_LONG_OPTIONS,
        {"host", required_argument, NULL, OPT_HOST},
        {"yes", no_argument, NULL, 'y'},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"restore-password", no_argument, NULL, OPT_RESTORE_PASSWORD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, k;

    optind = 1;
    while ((c = getopt_long(argc, argv, "F:yh", longopts, NULL)) != -1) {
        if ((k = cmd_common_option(co, c, optarg)) != 0) {
            if (k < 0)
                return -1;
            continue;
        }
        switch (c) {
        case OPT_HOST: a->only[a->nonly++] = optarg; break;
        case OPT_SYSLOG: a->use_syslog = true; break;
        case OPT_ACCOUNT:
            if (again_account(a, optarg) < 0)
                return -1;
            break;
        case OPT_RESTORE_PASSWORD:
            if (!a->rollback) {
                cmd_error("%s: --restore-password is for rollback only",
                          a->mode);
                return -1;
            }
            eo->restore_password = true;
            break;
        case 'y': a->yes = true; break;
        case 'h': again_usage(a, stdout, true); return 1;
        default: again_usage(a, stderr, false); return -1;
        }
    }
    if (argc - optind != 1) {
        cmd_error("%s: name one run id (list them with 'spamstop audit "
                  "list')",
                  a->mode);
        return -1;
    }
    if (eo->restore_password && a->accounts.n == 0) {
        cmd_error("rollback: --restore-password needs --account ADDR: a "
                  "stolen password comes back only for an account named");
        return -1;
    }
    a->run_id = argv[optind];
    return 0;
}

/* Opens the run and its playbook copy: the exit code when it cannot (or
 * there is nothing to do), -1 to go on. */
static int again_open(struct session *s, const struct again_args *a,
                      const struct cmd_opts *co)
{
    struct errbuf e = ERRBUF_INIT;
    char id[RUNDIR_ID_MAX];

    if (rundir_resolve(id, cmd_state_dir(co), a->run_id, &e) < 0 ||
        rundir_open(&s->rd, cmd_state_dir(co), id, &e) < 0 ||
        rundir_load_playbook(&s->pb, s->rd, engine_action_lookup, &e) < 0) {
        cmd_error("%s%s", e.msg,
                  e.code == SS_ENOENT ? " (list the runs with 'spamstop "
                                        "audit list', check --state-dir)"
                                      : "");
        if (e.code == SS_ECORRUPT)
            return EXIT_TAMPERED;
        return e.code == SS_EINVAL ? EXIT_USAGE : EXIT_NOT_STARTED;
    }
    if (s->rd->info.dry_run) {
        cmd_error("%s: run '%s' was a dry run: nothing to do", a->mode,
                  s->rd->info.run_id);
        return EXIT_OK;
    }
    return -1;
}

/* Whether --host names host (every host without --host). */
static bool again_wants(const struct again_args *a, const char *host)
{
    size_t k;

    for (k = 0; k < a->nonly; k++)
        if (strcmp(a->only[k], host) == 0)
            return true;
    return a->nonly == 0;
}

/*
 * The run's hosts that --host names, with the states run.json recorded.
 * The exit code when one is not in the run or on ENOMEM, else -1.
 */
static int again_hosts(struct session *s, const struct again_args *a)
{
    const struct run_info *ri = &s->rd->info;
    size_t i, k;
    int st;

    if (session_reserve(s, ri->hosts.n) < 0)
        return EXIT_NOT_STARTED;
    for (i = 0; i < ri->hosts.n; i++) {
        if (!again_wants(a, ri->hosts.v[i]))
            continue;
        st = host_state_parse(ri->host_states.v[i]);
        if (session_add_host(s, ri->targets != NULL ? &ri->targets[i] : NULL,
                             ri->hosts.v[i],
                             st < 0 ? HOST_PENDING : (enum host_state)st) < 0)
            return EXIT_NOT_STARTED;
    }
    for (k = 0; k < a->nonly; k++) {
        for (i = 0; i < s->n; i++)
            if (strcmp(s->hosts[i].target.name, a->only[k]) == 0)
                break;
        if (i == s->n) {
            cmd_error("%s: run '%s' has no host '%s'", a->mode, ri->run_id,
                      a->only[k]);
            return EXIT_USAGE;
        }
    }
    return -1;
}

/* Without --yes: shows the hosts' states and asks; 0 to go ahead. */
static int again_confirm(const struct session *s, const struct again_args *a,
                         bool restore)
{
    char question[256];
    size_t i;

    if (a->yes) {
        if (restore)
            print_restore_warning(&a->accounts);
        return 0;
    }
    if (!isatty(0)) {
        cmd_error("%s: not started: no --yes and no terminal to ask "
                  "for confirmation on (add --yes to go ahead)",
                  a->mode);
        return -1;
    }
    printf("%s of run %s (%s, playbook '%s'):\n", a->mode, s->rd->info.run_id,
           s->rd->info.outcome != NULL ? s->rd->info.outcome : "unfinished",
           s->pb->name);
    for (i = 0; i < s->n; i++)
        printf("  %-24s now %s\n", s->hosts[i].target.name,
               host_state_name(s->hosts[i].state));
    fflush(stdout);
    if (restore)
        print_restore_warning(&a->accounts);
    snprintf(question, sizeof(question), "%s run %s on %zu host(s)?", a->mode,
             s->rd->info.run_id, s->n);
    if (!cmd_confirm(question)) {
        cmd_error("%s: not started: not confirmed; nothing was changed",
                  a->mode);
        return -1;
    }
    return 0;
}

/* The run's outcome, from every host's latest state in run.json. */
static const char *again_outcome(const struct run_info *ri)
{
    struct engine_host *all = calloc(ri->hosts.n + 1, sizeof(*all));
    const char *outcome;
    size_t i;
    int st;

    if (all == NULL)
        return "partial";
    for (i = 0; i < ri->hosts.n; i++) {
        st = host_state_parse(ri->host_states.v[i]);
        all[i].state = st < 0 ? HOST_PENDING : (enum host_state)st;
    }
    outcome = session_outcome(all, ri->hosts.n, false);
    free(all);
    return outcome;
}

int cmd_run_again(int argc, char **argv, const char *mode)
{
    struct again_args a;
    struct cmd_opts co;
    struct session s;
    int code = EXIT_USAGE, r;

    memset(&a, 0, sizeof(a));
    a.mode = mode;
    a.rollback = strcmp(mode, "rollback") == 0;
    cmd_opts_init(&co);
    session_init(&s);
    if ((a.only = calloc((size_t)argc + 1, sizeof(*a.only))) == NULL)
        goto out;
    if ((r = again_args(&a, &co, &s.eo, argc, argv)) != 0) {
        code = r > 0 ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if (a.accounts.n > 0)
        s.eo.accounts = &a.accounts;
    if ((r = again_open(&s, &a, &co)) >= 0 || (r = again_hosts(&s, &a)) >= 0) {
        code = r;
        goto out;
    }
    code = EXIT_NOT_STARTED;
    if (again_confirm(&s, &a, s.eo.restore_password) < 0 ||
        session_start(&s, &co, a.use_syslog) < 0)
        goto out;
    s.save = true;
    if (session_pass(&s, mode, false,
                     a.rollback ? engine_rollback : engine_resume) < 0)
        goto out;
    code = session_exit(s.hosts, s.n, a.rollback);
    session_finish(&s, mode, again_outcome(&s.rd->info), code);
out:
    session_release(&s);
    free(a.only);
    strlist_release(&a.accounts);
    return code;
}
