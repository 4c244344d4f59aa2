/* spamstop respond: run the playbook on the hosts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"
#include "session.h"
#include "spamstop/engine.h"
#include "spamstop/inventory.h"
#include "spamstop/rundir.h"

enum respond_opt {
    OPT_MAX_FAIL = OPT_COMMON_LAST + 1,
    OPT_PARAM,
    OPT_SYSLOG,
    OPT_ACCOUNT,
    OPT_WATCH,
};

static const char respond_help[] =
    "usage: spamstop respond [OPTIONS] [-p PLAYBOOK] [-i INVENTORY] "
    "[HOST...]\n"
    "\n"
    "Runs the playbook on every HOST in parallel, each host as a saga: every\n"
    "change is journaled before it is made.  A host that fails, or an\n"
    "interrupt, undoes what is not containment; once a new password or the\n"
    "hold may be in place the host ends 'contained' (Postfix running) and\n"
    "'resume' finishes it.  Exit status: 0 all committed, 1 some host rolled\n"
    "back, unreachable or skipped, 6 some host contained, 3 some host needs\n"
    "attention, 2 usage, 5 not started, 130 interrupted (see\n"
    "docs/exit-codes.md).\n"
    "\n"
    "Options:\n"
    "  -p, --playbook FILE     the playbook (default: compromised-account)\n"
    "  -i, --inventory FILE    hosts from an Ansible INI or JSON inventory\n"
    "                          (with HOSTs: both)\n"
    "  -l, --limit PATTERN     only these hosts or groups (Ansible syntax,\n"
    "                          see docs/inventory.md)\n"
    "      --param K=V         set a playbook parameter (repeatable)\n"
    "  -n, --dry-run           run read-only steps and probes only; print\n"
    "                          what each host would get; change nothing\n"
    "  -C, --check             the same as --dry-run (Ansible's name)\n"
    "  -y, --yes               do not ask for confirmation (needed when\n"
    "                          there is no terminal to ask on)\n"
    "  -v, --verbose           show each remote command as it starts\n"
    "                          (-vv: also an excerpt of its output)\n"
    "      --syslog            also log every step's outcome to syslog\n"
    "                          (LOG_AUTHPRIV)\n"
    "      --account ADDR      flag this account on every host whatever the\n"
    "                          counts (repeatable; an abuse report)\n"
    "      --watch SECONDS     after the new passwords are confirmed, watch\n"
    "                          the mail log this long (at most 3600) for\n"
    "                          logins of the accounts since the rotation\n"
    "      --max-fail N|P%     start no new host once more than N hosts\n"
    "                          (or P% of them) failed\n"
    "  -h, --help              show this help\n"
    "\n";

/* Parses --max-fail N or P%. */
static int parse_max_fail(struct engine_opts *eo, const char *arg)
{
    size_t n = strlen(arg);
    char num[16];
    int v;

    eo->max_fail_percent = n > 0 && arg[n - 1] == '%';
    if (eo->max_fail_percent) {
        if (n - 1 >= sizeof(num))
            return -1;
        memcpy(num, arg, n - 1);
        num[n - 1] = '\0';
        v = cmd_parse_int("--max-fail", num, 0, 100);
    } else {
        v = cmd_parse_int("--max-fail", arg, 0, 1000000);
    }
    if (v < 0)
        return -1;
    eo->max_fail = v;
    return 0;
}

/* Applies --param K=V options to pb; -1 when one is bad. */
static int apply_params(struct playbook *pb, char **params, size_t n)
{
    struct errbuf e = ERRBUF_INIT;
    size_t i;

    for (i = 0; i < n; i++) {
        char *eq = strchr(params[i], '=');
        if (eq == NULL) {
            cmd_error("--param wants K=V, not '%s'", params[i]);
            return -1;
        }
        *eq = '\0';
        if (playbook_set_param(pb, params[i], eq + 1, &e) < 0) {
            cmd_error("%s", e.msg);
            return -1;
        }
    }
    return 0;
}

/*
 * Copies --user, --port and --become into every target, so run.json records
 * how the hosts were reached and rollback or resume reach them the same way.
 */
static int fold_command_line(struct exec_target *t, size_t n,
                             const struct exec_options *eo)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (eo->user != NULL) {
            free(t[i].user);
            if ((t[i].user = strdup(eo->user)) == NULL)
                return -1;
        }
        if (eo->port > 0)
            t[i].port = eo->port;
        t[i].become = t[i].become || eo->become;
    }
    return 0;
}

/*
 * The hosts to act on: the inventory's (-i) and the named ones, narrowed
 * by --limit.  Prints the error and returns -1 when there is one.  The
 * caller frees *out with inventory_targets_free.
 */
static int select_targets(struct exec_target **out, size_t *out_n,
                          const char *inv_path, char *const *names,
                          size_t nnames, const char *limit)
{
    struct inventory *inv = NULL;
    struct errbuf e = ERRBUF_INIT;
    size_t i;
    int r = -1;

    *out = NULL;
    *out_n = 0;
    if (inv_path != NULL) {
        if (inventory_load(&inv, inv_path, &e) < 0) {
            cmd_error("%s", e.msg);
            goto out;
        }
    } else if ((inv = inventory_new()) == NULL) {
        cmd_error("out of memory");
        goto out;
    }
    for (i = 0; i < nnames; i++) {
        if (inventory_add_host(inv, names[i], &e) < 0) {
            cmd_error("%s", e.msg);
            goto out;
        }
    }
    if (inventory_count(inv) == 0) {
        cmd_error("respond: no hosts (name some, or give an inventory with "
                  "-i)");
        goto out;
    }
    if (inventory_select(out, out_n, inv, limit, &e) < 0) {
        cmd_error("%s", e.msg);
        goto out;
    }
    r = 0;
out:
    inventory_free(inv);
    return r;
}

/* What the command line asks of respond. */
struct respond_args {
    const char *pbpath;
    const char *inv_path;
    const char *limit;
    char **params; /* --param K=V, nparams of them */
    size_t nparams;
    struct buf accounts; /* --account ADDR, blank-separated */
    const char *watch;   /* --watch SECONDS, or NULL */
    char *const *names;  /* HOSTs */
    size_t nnames;
    bool dry_run;
    bool yes;
    bool use_syslog;
    int verbose; /* -v, -vv */
};

/* Takes one --account ADDR: flagged on every host whatever the counts. */
static int respond_account(struct respond_args *a, const char *addr)
{
    const char *p;

    if (!cmd_account_named(addr)) {
        cmd_error("respond: '%s' is not an account address (user@domain)",
                  addr);
        return -1;
    }
    if (a->accounts.len > 0 && buf_addc(&a->accounts, ' ') < 0)
        return -1;
    for (p = addr; *p != '\0'; p++)
        if (buf_addc(&a->accounts,
                     *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p) < 0)
            return -1;
    return 0;
}

/*
 * Reads respond's options into a, co and eo.  0 to go on, 1 when done
 * (--help), -1 on a bad option (message printed).
 */
static int respond_args(struct respond_args *a, struct cmd_opts *co,
                        struct engine_opts *eo, int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_COMMON_LONG_OPTIONS,
        {"playbook", required_argument, NULL, 'p'},
        {"inventory", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, 'l'},
        {"dry-run", no_argument, NULL, 'n'},
        {"check", no_argument, NULL, 'C'},
        {"yes", no_argument, NULL, 'y'},
        {"verbose", no_argument, NULL, 'v'},
        {"max-fail", required_argument, NULL, OPT_MAX_FAIL},
        {"param", required_argument, NULL, OPT_PARAM},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"watch", required_argument, NULL, OPT_WATCH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, k;

    optind = 1;
    while ((c = getopt_long(argc, argv, "F:p:i:l:nCyvh", longopts, NULL)) !=
           -1) {
        if ((k = cmd_common_option(co, c, optarg)) != 0) {
            if (k < 0)
                return -1;
            continue;
        }
        switch (c) {
        case 'p': a->pbpath = optarg; break;
        case 'i': a->inv_path = optarg; break;
        case 'l': a->limit = optarg; break;
        case 'n':
        case 'C': a->dry_run = true; break;
        case 'y': a->yes = true; break;
        case 'v': a->verbose++; break;
        case OPT_MAX_FAIL:
            if (parse_max_fail(eo, optarg) < 0)
                return -1;
            break;
        case OPT_PARAM: a->params[a->nparams++] = optarg; break;
        case OPT_SYSLOG: a->use_syslog = true; break;
        case OPT_WATCH: a->watch = optarg; break;
        case OPT_ACCOUNT:
            if (respond_account(a, optarg) < 0)
                return -1;
            break;
        case 'h':
            fputs(respond_help, stdout);
            fputs(cmd_common_help, stdout);
            return 1;
        default: fputs(respond_help, stderr); return -1;
        }
    }
    a->names = argv + optind;
    a->nnames = (size_t)(argc - optind);
    if (a->nnames == 0 && a->inv_path == NULL) {
        cmd_error("respond: name at least one host, or an inventory (-i); "
                  "start with 'spamstop respond --dry-run HOST...'");
        return -1;
    }
    return 0;
}

/*
 * The command line that runs a host again: respond's options as given
 * (getopt put them before the hosts), without --limit; with an inventory
 * it ends in "-l" so that the host's name completes it.  NULL on ENOMEM.
 */
static char *respond_rerun(char **argv, int nopts, bool inventory)
{
    struct buf b = BUF_INIT;
    int i;

    if (buf_adds(&b, "spamstop respond") < 0)
        goto fail;
    for (i = 1; i < nopts; i++) {
        if (strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--limit") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--limit=", 8) == 0 ||
            (strncmp(argv[i], "-l", 2) == 0 && argv[i][2] != '\0'))
            continue;
        if (buf_addc(&b, ' ') < 0 || cmd_add_word(&b, argv[i]) < 0)
            goto fail;
    }
    if (inventory && buf_adds(&b, " -l") < 0)
        goto fail;
    return buf_detach(&b);
fail:
    buf_release(&b);
    return NULL;
}

/*
 * --watch SECONDS is the playbook's watch_seconds; that value (also from
 * --param) is checked before anything connects.  -1 when bad (said).
 */
static int respond_watch(struct playbook *pb, const char *watch)
{
    struct errbuf e = ERRBUF_INIT;
    const char *v;
    long long s;

    if (watch != NULL && playbook_param(pb, "watch_seconds") == NULL) {
        cmd_error("respond: playbook '%s' takes no --watch (it declares no "
                  "'watch_seconds' parameter)",
                  pb->name);
        return -1;
    }
    if (watch != NULL &&
        playbook_set_param(pb, "watch_seconds", watch, &e) < 0) {
        cmd_error("%s", e.msg);
        return -1;
    }
    v = playbook_param(pb, "watch_seconds");
    if (v != NULL && engine_watch_parse(&s, v, &e) < 0) {
        cmd_error("respond: %s (--watch)", e.msg);
        return -1;
    }
    return 0;
}

/* Loads the playbook (-p, else the default) with the --params applied. */
static int respond_playbook(struct playbook **out, const struct respond_args *a)
{
    struct errbuf e = ERRBUF_INIT;
    const char *path = a->pbpath;
    char defpath[4096];

    if (path == NULL) {
        if (cmd_default_playbook(defpath, sizeof(defpath), &e) < 0) {
            cmd_error("%s", e.msg);
            return -1;
        }
        path = defpath;
    }
    if (playbook_load(out, path, engine_action_lookup, &e) < 0) {
        cmd_error("%s", e.msg);
        return -1;
    }
    if (apply_params(*out, a->params, a->nparams) < 0 ||
        respond_watch(*out, a->watch) < 0)
        return -1;
    if (a->accounts.len == 0)
        return 0;
    if (playbook_param(*out, "accounts") == NULL) {
        cmd_error("respond: playbook '%s' takes no --account (it declares no "
                  "'accounts' parameter)",
                  (*out)->name);
        return -1;
    }
    if (playbook_set_param(*out, "accounts", a->accounts.data, &e) < 0) {
        cmd_error("%s", e.msg);
        return -1;
    }
    return 0;
}

/* Makes the run folder for the hosts and records how they are reached. */
static int respond_rundir(struct session *s, const struct cmd_opts *co,
                          const struct exec_target *targets, size_t n,
                          bool dry_run)
{
    struct errbuf e = ERRBUF_INIT;
    size_t i;

    if (session_reserve(s, n) < 0)
        return -1;
    for (i = 0; i < n; i++)
        if (session_add_host(s, &targets[i], NULL, HOST_PENDING) < 0)
            return -1;
    if (rundir_create(&s->rd, cmd_state_dir(co), s->pb,
                      (const char *const *)s->names, n, dry_run, &e) < 0) {
        cmd_error("%s", e.msg);
        return -1;
    }
    if (run_info_set_targets(&s->rd->info, targets, n) < 0 ||
        rundir_save(s->rd, &e) < 0) {
        cmd_error("cannot record the hosts in run.json: %s", e.msg);
        return -1;
    }
    return 0;
}

/*
 * On a terminal without --yes: a dry run from the real data, its plan,
 * and the question.  0 to go ahead (hosts reset for the real pass), -1
 * when not (message printed; the run stays a dry run).
 */
static int respond_confirm(struct session *s)
{
    size_t i;

    s->save = false;
    if (session_pass(s, "plan", true, engine_respond) < 0)
        return -1;
    session_recap(s, "plan", "dry-run", EXIT_OK);
    if (!s->json && session_plan_summary(s) < 0)
        return -1;
    if (!cmd_confirm("proceed?")) {
        cmd_error("respond: not started: not confirmed; nothing was "
                  "changed (run %s kept as a dry run)",
                  s->rd->info.run_id);
        session_save(s, "dry-run");
        return -1;
    }
    for (i = 0; i < s->n; i++)
        engine_host_reset(&s->hosts[i]);
    s->save = true;
    return 0;
}

int cmd_respond(int argc, char **argv)
{
    struct respond_args a;
    struct cmd_opts co;
    struct session s;
    struct exec_target *targets = NULL;
    const char *what, *outcome;
    size_t n = 0;
    int code = EXIT_USAGE, r;

    memset(&a, 0, sizeof(a));
    cmd_opts_init(&co);
    session_init(&s);
    if ((a.params = calloc((size_t)argc + 1, sizeof(*a.params))) == NULL)
        goto out;
    if ((r = respond_args(&a, &co, &s.eo, argc, argv)) != 0) {
        code = r > 0 ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if (select_targets(&targets, &n, a.inv_path, a.names, a.nnames, a.limit) <
        0)
        goto out;
    if (fold_command_line(targets, n, &co.exec) < 0) {
        cmd_error("out of memory");
        goto out;
    }
    /* before the --params are applied: that cuts them at their '=' */
    if ((s.rerun = respond_rerun(argv, (int)(a.names - argv),
                                 a.inv_path != NULL)) == NULL) {
        cmd_error("out of memory");
        goto out;
    }
    if (respond_playbook(&s.pb, &a) < 0)
        goto out;
    s.verbose = a.verbose;
    code = EXIT_NOT_STARTED;
    if (!a.dry_run && !a.yes && !isatty(0)) {
        cmd_error("respond: not started: no --yes and no terminal to ask "
                  "for confirmation on (check the plan with --dry-run, then "
                  "run again with --yes)");
        goto out;
    }
    if (respond_rundir(&s, &co, targets, n, a.dry_run) < 0 ||
        session_start(&s, &co, a.use_syslog) < 0)
        goto out;
    if (!a.dry_run && !a.yes && respond_confirm(&s) < 0)
        goto out;
    s.save = true; /* a dry run's host states too: the report reads them */
    what = a.dry_run ? "dry-run" : "respond";
    if (session_pass(&s, what, a.dry_run, engine_respond) < 0)
        goto out;
    outcome = session_outcome(s.hosts, s.n, a.dry_run);
    code = session_exit(s.hosts, s.n, false);
    session_finish(&s, what, outcome, code);
out:
    session_release(&s);
    free(a.params);
    buf_release(&a.accounts);
    inventory_targets_free(targets, n);
    return code;
}
