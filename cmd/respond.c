/* spamstop respond (and the driver rollback and resume share). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"
#include "spamstop/audit.h"
#include "spamstop/engine.h"
#include "spamstop/inventory.h"
#include "spamstop/rundir.h"
#include "spamstop/shquote.h"
#include "spamstop/accounts.h"

enum respond_opt {
    OPT_DRY_RUN = OPT_COMMON_LAST + 1,
    OPT_YES,
    OPT_MAX_FAIL,
    OPT_PARAM,
    OPT_HOST,
    OPT_LIMIT,
    OPT_SYSLOG,
    OPT_ACCOUNT,
    OPT_RESTORE_PASSWORD,
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
    "  -y, --yes               do not ask for confirmation (needed when\n"
    "                          there is no terminal to ask on)\n"
    "      --syslog            also log every step's outcome to syslog\n"
    "                          (LOG_AUTHPRIV)\n"
    "      --max-fail N|P%     start no new host once more than N hosts\n"
    "                          (or P% of them) failed\n"
    "  -h, --help              show this help\n"
    "\n";

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

/* Whether s names a mailbox: local@domain, both parts present. */
static bool account_named(const char *s)
{
    const char *at = strchr(s, '@');

    return accounts_address_valid(s) && at != NULL && at != s &&
           at[1] != '\0' && strchr(at + 1, '@') == NULL;
}

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
    "Find RUN-ID with 'spamstop audit list'.\n"
    "\n";

static volatile sig_atomic_t stop_flag;

/*
 * SIGINT/SIGTERM: the first starts no new step and brings the hosts in
 * flight to their safe state (containment kept, Postfix started); a second
 * leaves at once (the on-host timer starts a stopped Postfix).
 */
static void on_signal(int sig)
{
    static const char first[] =
        "\nspamstop: interrupted: no new step starts; hosts in flight are "
        "brought to a safe state (interrupt again to leave at once)\n";
    static const char again[] =
        "\nspamstop: interrupted again: leaving now; the journal is "
        "consistent, 'spamstop resume' finishes the run\n";
    ssize_t w;

    (void)sig;
    if (stop_flag) {
        w = write(2, again, sizeof(again) - 1);
        (void)w;
        _exit(EXIT_INTERRUPTED);
    }
    stop_flag = 1;
    w = write(2, first, sizeof(first) - 1);
    (void)w;
}

/* Installs on_signal for SIGINT and SIGTERM. */
static void catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Appends s to b with control characters (remote data) made visible. */
static int add_clean(struct buf *b, const char *s)
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
static void put_clean(FILE *f, const char *s)
{
    struct buf b = BUF_INIT;

    if (add_clean(&b, s) == 0 && b.len > 0)
        fwrite(b.data, 1, b.len, f);
    buf_release(&b);
}

/* What the progress and host-end callbacks need. */
struct ui {
    struct rundir *rd;
    struct audit *audit; /* its anchor goes into run.json */
    struct engine_host *hosts;
    size_t n;
    bool json;
    bool dry_run;          /* the engine pass running now is a dry run */
    bool save;             /* update run.json as hosts end */
    struct progress *prog; /* counts for the recap; live view on a TTY */
    bool live;             /* stderr is a terminal: live view, recap table */
    bool color;            /* stdout may be coloured */
    const char *state_dir; /* --state-dir as given, for the resume hint */
};

/* Writes one JSON object as a line on stdout (the --json event stream). */
static void json_line(json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    if (text != NULL) {
        flockfile(stdout);
        printf("%s\n", text);
        fflush(stdout);
        funlockfile(stdout);
    }
    free(text);
    json_decref(o);
}

/* The --json object for a host that ended (from its engine_host). */
static json_t *host_json(const struct engine_host *h, const char *event)
{
    json_t *o = json_object(), *facts;
    size_t i;

    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "host", json_string(h->target.name));
    json_object_set_new(o, "state", json_string(host_state_name(h->state)));
    json_object_set_new(o, "failed_step",
                        h->failed_step >= 0 ? json_integer(h->failed_step + 1)
                                            : json_null());
    json_object_set_new(
        o, "error", h->err.code != 0 ? json_string(h->err.msg) : json_null());
    json_object_set_new(
        o, "plan", h->plan.len > 0 ? json_string(h->plan.data) : json_null());
    facts = json_object();
    for (i = 0; i < h->nfacts; i++)
        json_object_set_new(facts, h->facts[i].key,
                            json_integer((json_int_t)h->facts[i].value));
    json_object_set_new(o, "facts", facts);
    return o;
}

/* How an engine event word reads in the --json stream. */
struct event_map {
    const char *what;
    const char *event; /* "step-start" or "step-end" */
    const char *phase; /* "run", "undo", "commit", "uncommit" */
    int ok;            /* step-end: 1 ok, 0 failed, -1 skipped */
};

static const struct event_map event_maps[] = {
    {"start", "step-start", "run", 1},
    {"done", "step-end", "run", 1},
    {"failed", "step-end", "run", 0},
    {"skipped", "step-end", "run", -1},
    {"undo", "step-start", "undo", 1},
    {"undone", "step-end", "undo", 1},
    {"undo-failed", "step-end", "undo", 0},
    {"commit", "step-start", "commit", 1},
    {"committed", "step-end", "commit", 1},
    {"commit-failed", "step-end", "commit", 0},
    {"uncommit", "step-start", "uncommit", 1},
    {"uncommitted", "step-end", "uncommit", 1},
    {"uncommit-failed", "step-end", "uncommit", 0},
    {"kept", "step-end", "undo", 1},
    {"uncommit-kept", "step-end", "uncommit", 1},
};

/* engine (--json): one event object per line on stdout. */
static void json_event(struct ui *ui, const struct engine_event *ev)
{
    json_t *o;
    size_t i;

    if (strcmp(ev->what, "state") == 0) {
        for (i = 0; i < ui->n; i++)
            if (strcmp(ui->hosts[i].target.name, ev->host) == 0) {
                o = host_json(&ui->hosts[i], "host-end");
                json_object_set_new(o, "dry_run", json_boolean(ui->dry_run));
                json_line(o);
            }
        return;
    }
    o = json_object();
    if (strcmp(ev->what, "connected") == 0) {
        json_object_set_new(o, "event", json_string("host-start"));
        json_object_set_new(o, "host", json_string(ev->host));
        json_object_set_new(o, "fingerprint", json_string(ev->detail));
        json_line(o);
        return;
    }
    for (i = 0; i < sizeof(event_maps) / sizeof(event_maps[0]); i++)
        if (strcmp(event_maps[i].what, ev->what) == 0)
            break;
    if (i == sizeof(event_maps) / sizeof(event_maps[0])) {
        json_object_set_new(o, "event", json_string("progress"));
        json_object_set_new(o, "what", json_string(ev->what));
    } else {
        json_object_set_new(o, "event", json_string(event_maps[i].event));
        json_object_set_new(o, "phase", json_string(event_maps[i].phase));
        if (strcmp(event_maps[i].event, "step-end") == 0)
            json_object_set_new(o, "ok",
                                event_maps[i].ok < 0
                                    ? json_null()
                                    : json_boolean(event_maps[i].ok));
    }
    json_object_set_new(o, "host", json_string(ev->host));
    if (ev->step != NULL)
        json_object_set_new(o, "step", json_string(ev->step));
    if (ev->detail != NULL)
        json_object_set_new(o, "detail", json_string(ev->detail));
    json_line(o);
}

/* engine: progress lines on stderr (or the --json stream on stdout). */
static void on_event(void *arg, const struct engine_event *ev)
{
    struct ui *ui = arg;
    struct buf line = BUF_INIT;

    progress_syslog_event(ui->rd->info.run_id, ev);
    if (ui->json) {
        json_event(ui, ev);
        return;
    }
    if (ui->prog != NULL)
        progress_event(ui->prog, ev);
    if (ui->live)
        return;
    /* one line, one write: lines of hosts never mix */
    if (buf_printf(&line, "%s: ", ev->host) < 0 ||
        (ev->step != NULL &&
         (buf_adds(&line, "step '") < 0 || add_clean(&line, ev->step) < 0 ||
          buf_adds(&line, "' ") < 0)) ||
        add_clean(&line, ev->what) < 0 ||
        (ev->detail != NULL && *ev->detail &&
         (buf_addc(&line, ' ') < 0 || add_clean(&line, ev->detail) < 0)) ||
        buf_addc(&line, '\n') < 0)
        buf_reset(&line);
    if (line.len > 0)
        fwrite(line.data, 1, line.len, stderr);
    buf_release(&line);
}

/* Syncs the trail and copies its anchor (count, head) into run.json's info. */
static void take_anchor(struct ui *ui)
{
    struct audit_anchor an;
    struct errbuf e = ERRBUF_INIT;

    if (ui->audit == NULL)
        return;
    if (audit_sync(ui->audit, &e) < 0)
        cmd_error("cannot sync the audit trail: %s", e.msg);
    audit_get_anchor(ui->audit, &an);
    ui->rd->info.audit_records = an.records;
    memcpy(ui->rd->info.audit_head, an.head, sizeof(an.head));
}

/* engine (under its lock): records a host's state in run.json. */
static void on_host_end(void *arg, size_t i)
{
    struct ui *ui = arg;
    struct errbuf e = ERRBUF_INIT;
    size_t k;
    char *s;

    if (!ui->save || ui->hosts[i].state == HOST_NOTHING)
        return;
    take_anchor(ui);
    for (k = 0; k < ui->rd->info.hosts.n; k++) {
        if (strcmp(ui->rd->info.hosts.v[k], ui->hosts[i].target.name) != 0)
            continue;
        if ((s = strdup(host_state_name(ui->hosts[i].state))) == NULL)
            return;
        free(ui->rd->info.host_states.v[k]);
        ui->rd->info.host_states.v[k] = s;
    }
    if (rundir_save(ui->rd, &e) < 0)
        cmd_error("%s", e.msg);
}

/* The run's outcome word for run.json. */
static const char *outcome_of(const struct engine_host *h, size_t n,
                              bool dry_run, bool interrupted)
{
    bool attention = false, all_ok = true, all_back = true, contained = false;
    size_t i;

    for (i = 0; i < n; i++) {
        if (h[i].state == HOST_ATTENTION)
            attention = true;
        if (h[i].state == HOST_CONTAINED)
            contained = true;
        if (h[i].state != HOST_COMMITTED && h[i].state != HOST_NOTHING)
            all_ok = false;
        if (h[i].state != HOST_ROLLED_BACK && h[i].state != HOST_NOTHING)
            all_back = false;
    }
    if (dry_run)
        return "dry-run";
    if (attention)
        return "attention";
    if (interrupted)
        return "interrupted";
    if (contained)
        return "contained";
    if (all_ok)
        return "committed";
    if (all_back)
        return "rolled-back";
    return "partial";
}

/* The exit code for the hosts' states. */
static int exit_of(const struct engine_host *h, size_t n, bool interrupted,
                   bool rolled_back_ok)
{
    bool attention = false, failed = false, contained = false;
    size_t i;

    for (i = 0; i < n; i++) {
        switch (h[i].state) {
        case HOST_ATTENTION: attention = true; break;
        case HOST_CONTAINED:
            /* a rollback for some accounts leaves the others contained */
            if (!rolled_back_ok)
                contained = true;
            break;
        case HOST_COMMITTED:
        case HOST_DRY_RUN:
        case HOST_NOTHING: break;
        case HOST_ROLLED_BACK:
            if (!rolled_back_ok)
                failed = true;
            break;
        default: failed = true; break;
        }
    }
    if (attention)
        return EXIT_ATTENTION;
    if (interrupted)
        return EXIT_INTERRUPTED;
    if (contained)
        return EXIT_CONTAINED;
    return failed ? EXIT_ROLLED_BACK : EXIT_OK;
}

/*
 * One line with how long Postfix was down on each host that reported it
 * (the mail_down_ms fact of the service action), hosts in run order.
 */
static void print_mail_down(const struct ui *ui)
{
    const char *sep = "mail down (stop to start, host clock):";
    size_t i, k;

    for (i = 0; i < ui->n; i++) {
        const struct engine_host *h = &ui->hosts[i];
        for (k = 0; k < h->nfacts; k++)
            if (strcmp(h->facts[k].key, "mail_down_ms") == 0)
                break;
        if (k == h->nfacts || h->facts[k].value < 0)
            continue;
        printf("%s %s %lld.%02lld s", sep, h->target.name,
               h->facts[k].value / 1000, h->facts[k].value % 1000 / 10);
        sep = ",";
    }
    if (strcmp(sep, ",") == 0)
        putchar('\n');
}

/* Prints each host's outcome and the recap (--json: the run-end event). */
static void print_recap(const struct ui *ui, const char *what,
                        const char *outcome, int code)
{
    json_t *o;
    size_t i;

    if (ui->json) {
        o = json_object();
        json_object_set_new(o, "event", json_string("run-end"));
        json_object_set_new(o, "run_id", json_string(ui->rd->info.run_id));
        json_object_set_new(o, "command", json_string(what));
        json_object_set_new(o, "outcome", json_string(outcome));
        json_object_set_new(o, "exit", json_integer(code));
        json_object_set_new(
            o, "audit_records",
            json_integer((json_int_t)ui->rd->info.audit_records));
        json_object_set_new(o, "audit_head",
                            ui->rd->info.audit_records > 0
                                ? json_string(ui->rd->info.audit_head)
                                : json_null());
        json_line(o);
        return;
    }
    for (i = 0; i < ui->n; i++) {
        const struct engine_host *h = &ui->hosts[i];
        if (h->plan.len > 0) {
            printf("== %s: plan ==\n", h->target.name);
            put_clean(stdout, h->plan.data);
        }
        if (ui->live && h->err.code == 0)
            continue; /* the recap table says it */
        printf("%-24s %s", h->target.name, host_state_name(h->state));
        if (h->err.code != 0) {
            fputs(": ", stdout);
            put_clean(stdout, h->err.msg);
        }
        putchar('\n');
    }
    if (ui->live && ui->prog != NULL && strcmp(what, "plan") != 0)
        progress_recap(ui->prog, stdout, what, ui->rd->info.run_id, ui->color);
    print_mail_down(ui);
    printf("%s: run %s: %s (exit %d)\n", what, ui->rd->info.run_id, outcome,
           code);
    if (code == EXIT_CONTAINED || code == EXIT_INTERRUPTED) {
        struct buf b = BUF_INIT;

        if (ui->state_dir != NULL && (buf_adds(&b, " --state-dir ") < 0 ||
                                      shquote_add(&b, ui->state_dir) < 0))
            buf_reset(&b);
        printf("finish it with: spamstop resume %s%s\n", ui->rd->info.run_id,
               b.data != NULL ? b.data : "");
        buf_release(&b);
    }
    if (ui->rd->info.audit_records > 0)
        printf("audit: %" PRIu64 ":%s\n", ui->rd->info.audit_records,
               ui->rd->info.audit_head);
    fflush(stdout);
}

/* --json: the run-start event. */
static void print_start(const struct ui *ui, const char *what)
{
    json_t *o, *a;
    size_t i;

    if (!ui->json)
        return;
    o = json_object();
    a = json_array();
    for (i = 0; i < ui->n; i++)
        json_array_append_new(a, json_string(ui->hosts[i].target.name));
    json_object_set_new(o, "event", json_string("run-start"));
    json_object_set_new(o, "run_id", json_string(ui->rd->info.run_id));
    json_object_set_new(o, "command", json_string(what));
    json_object_set_new(o, "playbook", json_string(ui->rd->info.playbook));
    json_object_set_new(o, "dry_run", json_boolean(ui->dry_run));
    json_object_set_new(o, "hosts", a);
    json_line(o);
}

/* Prints the words after marker on each plan line holding it, joined. */
static void plan_pick(FILE *f, const char *plan, const char *marker,
                      const char *label)
{
    const char *p = plan, *q, *end;
    char item[160];
    int n = 0;

    while ((q = strstr(p, marker)) != NULL) {
        q += strlen(marker);
        end = q + strcspn(q, "\n");
        snprintf(item, sizeof(item), "%.*s", (int)(end - q), q);
        progress_clean(item, sizeof(item), item);
        fprintf(f, "%s%s", n++ == 0 ? label : ", ", item);
        p = end;
    }
    if (n > 0)
        fputc('\n', f);
}

/* Prints each plan line that makes a step a pivot on this host; counts. */
static int plan_pivots(FILE *f, const char *plan)
{
    const char *p = plan, *q, *start, *end;
    char line[256];
    int n = 0;

    while ((q = strstr(p, "PIVOT on this host")) != NULL) {
        start = q;
        while (start > plan && start[-1] != '\n')
            start--;
        while (*start == ' ')
            start++;
        end = q + strcspn(q, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)(end - start), start);
        progress_clean(line, sizeof(line), line);
        fprintf(f, "    %s\n", line);
        n++;
        p = end;
    }
    return n;
}

/*
 * Prints what the run will change, host by host (accounts, messages held
 * and kept, from the dry run's plan), and the steps that cannot be undone.
 */
static void print_plan_summary(FILE *f, const struct ui *ui,
                               const struct playbook *pb)
{
    const char *plan, *stay;
    size_t i;
    long keep;
    int pivots = 0, host_pivots = 0;

    fprintf(f, "\nPlan: playbook '%s' on %zu host(s):\n", pb->name, ui->n);
    for (i = 0; i < ui->n; i++) {
        const struct engine_host *h = &ui->hosts[i];
        plan = h->plan.len > 0 ? h->plan.data : "";
        if (h->state == HOST_DRY_RUN)
            fprintf(f, "  %s:\n", h->target.name);
        else
            fprintf(f, "  %s: %s\n", h->target.name, host_state_name(h->state));
        if (h->err.code != 0) {
            fputs("    problem: ", f);
            put_clean(f, h->err.msg);
            fputs(" (the run will roll this host back or skip it)\n", f);
        }
        plan_pick(f, plan, "would set a new password for ",
                  "    rotate password: ");
        plan_pick(f, plan, "would hold ",
                  "    purge (hold, delete at "
                  "commit): ");
        stay = strstr(plan, "other queued messages stay");
        keep = -1;
        if (stay != NULL) {
            while (stay > plan && stay[-1] == ' ')
                stay--;
            while (stay > plan && stay[-1] >= '0' && stay[-1] <= '9')
                stay--;
            keep = strtol(stay, NULL, 10);
        }
        if (keep >= 0)
            fprintf(f, "    keep queued: %ld message(s)\n", keep);
        host_pivots += plan_pivots(f, plan);
        if (strstr(plan, "would ") == NULL && h->err.code == 0)
            fputs("    nothing to change\n", f);
    }
    for (i = 0; i < pb->nsteps; i++) {
        if (pb->steps[i].kind != STEP_PIVOT)
            continue;
        fprintf(f, "%s step %zu '%s'",
                pivots++ == 0 ? "Pivots (cannot be "
                                "undone):"
                              : ",",
                i + 1, pb->steps[i].name);
    }
    if (pivots > 0)
        fputc('\n', f);
    else if (host_pivots > 0)
        fputs("Pivots: only the PIVOT steps named above\n", f);
    else
        fputs("Pivots: none (every change can be undone with 'spamstop "
              "rollback')\n",
              f);
    fflush(f);
}

/* Asks on the terminal; true only for an explicit yes. */
static bool confirm(const char *question)
{
    char line[64];

    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 ||
           strcmp(line, "Y\n") == 0;
}

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

/* Opens the run's audit trail (NULL and a warning if it cannot). */
static struct audit *open_audit(const struct rundir *rd)
{
    struct audit *a = NULL;
    struct errbuf e = ERRBUF_INIT;
    char path[4096];

    snprintf(path, sizeof(path), "%s/audit.jsonl", rd->path);
    if (audit_open(&a, path, rd->info.run_id, &e) < 0) {
        cmd_error("cannot open the audit trail: %s", e.msg);
        return NULL;
    }
    return a;
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

/*
 * Sets up the terminal view (live on a TTY unless --json) and syslog.
 * Returns -1 (message printed) when out of memory.
 */
static int setup_view(struct ui *ui, const char *const *names,
                      const struct playbook *pb, bool use_syslog)
{
    ui->live = !ui->json && progress_want_live(STDERR_FILENO);
    ui->color = ui->live && progress_want_color(STDOUT_FILENO);
    if (progress_new(&ui->prog, stderr, names, ui->n, pb, ui->live,
                     ui->live && progress_want_color(STDERR_FILENO)) < 0) {
        cmd_error("out of memory");
        return -1;
    }
    progress_watch_stop(ui->prog, &stop_flag);
    if (use_syslog)
        progress_syslog_open();
    return 0;
}

/* Starts one engine pass in the view (and says so in syslog). */
static void view_begin(struct ui *ui, bool dry_run, const char *what)
{
    progress_reset(ui->prog, dry_run);
    progress_syslog_run(ui->rd->info.run_id, what, NULL, 0);
    if (ui->live) {
        fprintf(stderr, "%s: run %s on %zu host(s)\n", what,
                ui->rd->info.run_id, ui->n);
        progress_start(ui->prog);
    }
}

/* Ends an engine pass: the live view's last drawing. */
static void view_end(struct ui *ui)
{
    progress_stop(ui->prog);
}

int cmd_respond(int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_COMMON_LONG_OPTIONS,
        {"playbook", required_argument, NULL, 'p'},
        {"inventory", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, 'l'},
        {"dry-run", no_argument, NULL, 'n'},
        {"yes", no_argument, NULL, 'y'},
        {"max-fail", required_argument, NULL, OPT_MAX_FAIL},
        {"param", required_argument, NULL, OPT_PARAM},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts co;
    struct engine_opts eo;
    struct errbuf e = ERRBUF_INIT;
    struct playbook *pb = NULL;
    struct rundir *rd = NULL;
    struct executor *ex = NULL;
    struct audit *audit = NULL;
    struct engine_host *hosts = NULL;
    struct exec_target *targets = NULL;
    struct ui ui;
    const char *pbpath = NULL, *outcome, *inv_path = NULL, *limit = NULL;
    char defpath[4096];
    char **params = NULL, **names = NULL;
    size_t nparams = 0, n = 0, i;
    bool dry_run = false, yes = false, use_syslog = false;
    int c, code = EXIT_USAGE, r;

    cmd_opts_init(&co);
    engine_opts_init(&eo);
    memset(&ui, 0, sizeof(ui));
    params = calloc((size_t)argc + 1, sizeof(*params));
    optind = 1;
    while ((c = getopt_long(argc, argv, "F:p:i:l:nyh", longopts, NULL)) != -1) {
        int k = cmd_common_option(&co, c, optarg);
        if (k < 0)
            goto out;
        if (k > 0)
            continue;
        switch (c) {
        case 'p': pbpath = optarg; break;
        case 'i': inv_path = optarg; break;
        case 'l': limit = optarg; break;
        case 'n': dry_run = true; break;
        case 'y': yes = true; break;
        case OPT_MAX_FAIL:
            if (parse_max_fail(&eo, optarg) < 0)
                goto out;
            break;
        case OPT_PARAM: params[nparams++] = optarg; break;
        case OPT_SYSLOG: use_syslog = true; break;
        case 'h':
            fputs(respond_help, stdout);
            fputs(cmd_common_help, stdout);
            code = EXIT_OK;
            goto out;
        default: fputs(respond_help, stderr); goto out;
        }
    }
    if (argc == optind && inv_path == NULL) {
        cmd_error("respond: name at least one host, or an inventory (-i); "
                  "start with 'spamstop respond --dry-run HOST...'");
        goto out;
    }
    if (select_targets(&targets, &n, inv_path, argv + optind,
                       (size_t)(argc - optind), limit) < 0)
        goto out;
    if (fold_command_line(targets, n, &co.exec) < 0 ||
        (names = calloc(n + 1, sizeof(*names))) == NULL) {
        cmd_error("out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        names[i] = targets[i].name;
    if (pbpath == NULL) {
        if (cmd_default_playbook(defpath, sizeof(defpath), &e) < 0) {
            cmd_error("%s", e.msg);
            goto out;
        }
        pbpath = defpath;
    }
    if (playbook_load(&pb, pbpath, engine_action_lookup, &e) < 0) {
        cmd_error("%s", e.msg);
        goto out;
    }
    if (apply_params(pb, params, nparams) < 0)
        goto out;
    code = EXIT_NOT_STARTED;
    if (!dry_run && !yes && !isatty(0)) {
        cmd_error("respond: not started: no --yes and no terminal to ask "
                  "for confirmation on (check the plan with --dry-run, then "
                  "run again with --yes)");
        goto out;
    }
    if (rundir_create(&rd, cmd_state_dir(&co), pb, (const char *const *)names,
                      n, dry_run, &e) < 0) {
        cmd_error("%s", e.msg);
        goto out;
    }
    if (run_info_set_targets(&rd->info, targets, n) < 0 ||
        rundir_save(rd, &e) < 0) {
        cmd_error("cannot record the hosts in run.json: %s", e.msg);
        goto out;
    }
    if ((audit = open_audit(rd)) == NULL)
        goto out;
    if ((ex = exec_ssh_new(&co.exec)) == NULL ||
        (hosts = calloc(n, sizeof(*hosts))) == NULL) {
        cmd_error("out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        engine_host_init(&hosts[i]);
        if (exec_target_copy(&hosts[i].target, &targets[i]) < 0) {
            cmd_error("out of memory");
            goto out;
        }
    }
    catch_signals();
    ui.rd = rd;
    ui.audit = audit;
    ui.hosts = hosts;
    ui.n = n;
    ui.json = co.json;
    ui.save = !dry_run;
    ui.state_dir = co.state_dir;
    if (setup_view(&ui, (const char *const *)names, pb, use_syslog) < 0)
        goto out;
    eo.ex = ex;
    eo.pb = pb;
    eo.run_dir = rd->path;
    eo.run_id = rd->info.run_id;
    eo.lock_dir = rd->lock_dir;
    eo.audit = audit;
    eo.forks = co.forks;
    eo.stop = &stop_flag;
    eo.remote_lock = true;
    eo.on_event = on_event;
    eo.event_arg = &ui;
    eo.on_host_end = on_host_end;
    eo.host_end_arg = &ui;
    if (!dry_run && !yes) {
        /* on a terminal: show the plan from the real data, then ask */
        eo.dry_run = true;
        ui.save = false;
        ui.dry_run = true;
        print_start(&ui, "plan");
        view_begin(&ui, true, "plan");
        engine_respond(hosts, n, &eo, &e);
        view_end(&ui);
        print_recap(&ui, "plan", "dry-run", EXIT_OK);
        if (!co.json)
            print_plan_summary(stdout, &ui, pb);
        if (!confirm("proceed?")) {
            cmd_error("respond: not started: not confirmed; nothing was "
                      "changed (run %s kept as a dry run)",
                      rd->info.run_id);
            free(rd->info.outcome);
            rd->info.outcome = strdup("dry-run");
            rd->info.finished = time(NULL);
            take_anchor(&ui);
            rundir_save(rd, &e);
            goto out;
        }
        for (i = 0; i < n; i++) {
            hosts[i].state = HOST_PENDING;
            errbuf_clear(&hosts[i].err);
            buf_reset(&hosts[i].plan);
        }
        eo.dry_run = false;
        ui.save = true;
    }
    eo.dry_run = dry_run;
    ui.dry_run = dry_run;
    print_start(&ui, dry_run ? "dry-run" : "respond");
    view_begin(&ui, dry_run, dry_run ? "dry-run" : "respond");
    r = engine_respond(hosts, n, &eo, &e);
    view_end(&ui);
    if (r < 0) {
        cmd_error("%s", e.msg);
        goto out;
    }
    outcome = outcome_of(hosts, n, dry_run, stop_flag != 0);
    code = exit_of(hosts, n, stop_flag != 0, false);
    free(rd->info.outcome);
    rd->info.outcome = strdup(outcome);
    rd->info.finished = time(NULL);
    for (i = 0; i < n && !dry_run; i++)
        on_host_end(&ui, i);
    take_anchor(&ui);
    if (rd->info.outcome == NULL || rundir_save(rd, &e) < 0)
        cmd_error("cannot update run.json: %s", e.msg);
    print_recap(&ui, dry_run ? "dry-run" : "respond", outcome, code);
    progress_syslog_run(rd->info.run_id, dry_run ? "dry-run" : "respond",
                        outcome, code);
out:
    progress_free(ui.prog);
    progress_syslog_close();
    for (i = 0; hosts != NULL && i < n; i++)
        engine_host_release(&hosts[i]);
    free(hosts);
    audit_close(audit);
    executor_free(ex);
    rundir_free(rd);
    playbook_free(pb);
    free(params);
    free(names);
    inventory_targets_free(targets, n);
    return code;
}

int cmd_run_again(int argc, char **argv, const char *mode)
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
    bool rollback = strcmp(mode, "rollback") == 0;
    struct strlist accounts = STRLIST_INIT;
    struct cmd_opts co;
    struct engine_opts eo;
    struct errbuf e = ERRBUF_INIT;
    struct playbook *pb = NULL;
    struct rundir *rd = NULL;
    struct executor *ex = NULL;
    struct audit *audit = NULL;
    struct engine_host *hosts = NULL;
    struct ui ui;
    char **only = NULL, **names = NULL, question[256];
    size_t nonly = 0, n = 0, i, k;
    bool yes = false, use_syslog = false;
    const char *outcome;
    int c, code = EXIT_USAGE, st;

    cmd_opts_init(&co);
    engine_opts_init(&eo);
    memset(&ui, 0, sizeof(ui));
    only = calloc((size_t)argc + 1, sizeof(*only));
    optind = 1;
    while ((c = getopt_long(argc, argv, "F:yh", longopts, NULL)) != -1) {
        int r = cmd_common_option(&co, c, optarg);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        switch (c) {
        case OPT_HOST: only[nonly++] = optarg; break;
        case OPT_SYSLOG: use_syslog = true; break;
        case OPT_ACCOUNT:
            if (!rollback || !account_named(optarg)) {
                cmd_error(rollback ? "rollback: '%s' is not an account "
                                     "address (user@domain)"
                                   : "%s: --account is for rollback only",
                          rollback ? optarg : mode);
                goto out;
            }
            if (strlist_push(&accounts, optarg) < 0)
                goto out;
            break;
        case OPT_RESTORE_PASSWORD:
            if (!rollback) {
                cmd_error("%s: --restore-password is for rollback only", mode);
                goto out;
            }
            eo.restore_password = true;
            break;
        case 'y': yes = true; break;
        case 'h':
            printf(again_help, mode,
                   rollback ? rollback_help
                            : "Finishes an interrupted run: what was going "
                              "forward goes on (steps,\nthen commit), what "
                              "was rolling back is rolled back.");
            fputs(cmd_common_help, stdout);
            code = EXIT_OK;
            goto out;
        default: fprintf(stderr, again_help, mode, ""); goto out;
        }
    }
    if (argc - optind != 1) {
        cmd_error("%s: name one run id (list them with 'spamstop audit "
                  "list')",
                  mode);
        goto out;
    }
    if (eo.restore_password && accounts.n == 0) {
        cmd_error("rollback: --restore-password needs --account ADDR: a "
                  "stolen password comes back only for an account named");
        goto out;
    }
    if (accounts.n > 0)
        eo.accounts = &accounts;
    code = EXIT_NOT_STARTED;
    if (rundir_open(&rd, cmd_state_dir(&co), argv[optind], &e) < 0 ||
        rundir_load_playbook(&pb, rd, engine_action_lookup, &e) < 0) {
        cmd_error("%s%s", e.msg,
                  e.code == SS_ENOENT ? " (list the runs with 'spamstop "
                                        "audit list', check --state-dir)"
                                      : "");
        if (e.code == SS_ECORRUPT)
            code = EXIT_TAMPERED;
        if (e.code == SS_EINVAL)
            code = EXIT_USAGE;
        goto out;
    }
    if (rd->info.dry_run) {
        cmd_error("%s: run '%s' was a dry run: nothing to do", mode,
                  rd->info.run_id);
        code = EXIT_OK;
        goto out;
    }
    if ((hosts = calloc(rd->info.hosts.n + 1, sizeof(*hosts))) == NULL)
        goto out;
    for (i = 0; i < rd->info.hosts.n; i++) {
        const char *name = rd->info.hosts.v[i];
        bool take = nonly == 0;
        for (k = 0; k < nonly; k++)
            take = take || strcmp(only[k], name) == 0;
        if (!take)
            continue;
        engine_host_init(&hosts[n]);
        if (rd->info.targets != NULL
                ? exec_target_copy(&hosts[n].target, &rd->info.targets[i]) < 0
                : (hosts[n].target.name = strdup(name)) == NULL) {
            cmd_error("out of memory");
            n++;
            goto out;
        }
        st = host_state_parse(rd->info.host_states.v[i]);
        hosts[n].state = st < 0 ? HOST_PENDING : (enum host_state)st;
        n++;
    }
    for (k = 0; k < nonly; k++) {
        for (i = 0; i < n; i++)
            if (strcmp(hosts[i].target.name, only[k]) == 0)
                break;
        if (i == n) {
            cmd_error("%s: run '%s' has no host '%s'", mode, rd->info.run_id,
                      only[k]);
            code = EXIT_USAGE;
            goto out;
        }
    }
    if (!yes) {
        if (!isatty(0)) {
            cmd_error("%s: not started: no --yes and no terminal to ask "
                      "for confirmation on (add --yes to go ahead)",
                      mode);
            goto out;
        }
        printf("%s of run %s (%s, playbook '%s'):\n", mode, rd->info.run_id,
               rd->info.outcome != NULL ? rd->info.outcome : "unfinished",
               pb->name);
        for (i = 0; i < n; i++)
            printf("  %-24s now %s\n", hosts[i].target.name,
                   host_state_name(hosts[i].state));
        fflush(stdout);
        if (eo.restore_password)
            print_restore_warning(&accounts);
        snprintf(question, sizeof(question), "%s run %s on %zu host(s)?", mode,
                 rd->info.run_id, n);
        if (!confirm(question)) {
            cmd_error("%s: not started: not confirmed; nothing was changed",
                      mode);
            goto out;
        }
    }
    if (yes && eo.restore_password)
        print_restore_warning(&accounts);
    if ((audit = open_audit(rd)) == NULL)
        goto out;
    if ((ex = exec_ssh_new(&co.exec)) == NULL)
        goto out;
    catch_signals();
    ui.rd = rd;
    ui.audit = audit;
    ui.hosts = hosts;
    ui.n = n;
    ui.json = co.json;
    ui.save = true;
    ui.state_dir = co.state_dir;
    if ((names = calloc(n + 1, sizeof(*names))) == NULL)
        goto out;
    for (i = 0; i < n; i++)
        names[i] = hosts[i].target.name;
    if (setup_view(&ui, (const char *const *)names, pb, use_syslog) < 0)
        goto out;
    eo.ex = ex;
    eo.pb = pb;
    eo.run_dir = rd->path;
    eo.run_id = rd->info.run_id;
    eo.lock_dir = rd->lock_dir;
    eo.audit = audit;
    eo.forks = co.forks;
    eo.stop = &stop_flag;
    eo.remote_lock = true;
    eo.on_event = on_event;
    eo.event_arg = &ui;
    eo.on_host_end = on_host_end;
    eo.host_end_arg = &ui;
    print_start(&ui, mode);
    view_begin(&ui, false, mode);
    st = rollback ? engine_rollback(hosts, n, &eo, &e)
                  : engine_resume(hosts, n, &eo, &e);
    view_end(&ui);
    if (st < 0) {
        cmd_error("%s", e.msg);
        goto out;
    }
    code = exit_of(hosts, n, stop_flag != 0, rollback);
    /* the run's outcome, from every host's latest state */
    {
        struct engine_host *all = calloc(rd->info.hosts.n + 1, sizeof(*all));
        for (i = 0; all != NULL && i < rd->info.hosts.n; i++) {
            st = host_state_parse(rd->info.host_states.v[i]);
            all[i].state = st < 0 ? HOST_PENDING : (enum host_state)st;
        }
        outcome = all != NULL
                      ? outcome_of(all, rd->info.hosts.n, false, stop_flag != 0)
                      : "partial";
        free(rd->info.outcome);
        rd->info.outcome = strdup(outcome);
        rd->info.finished = time(NULL);
        take_anchor(&ui);
        if (rd->info.outcome == NULL || rundir_save(rd, &e) < 0)
            cmd_error("cannot update run.json: %s", e.msg);
        print_recap(&ui, mode, rd->info.outcome ? rd->info.outcome : "?", code);
        progress_syslog_run(rd->info.run_id, mode,
                            rd->info.outcome ? rd->info.outcome : "?", code);
        free(all);
    }
out:
    free(names);
    progress_free(ui.prog);
    progress_syslog_close();
    for (i = 0; hosts != NULL && i < n; i++)
        engine_host_release(&hosts[i]);
    free(hosts);
    audit_close(audit);
    executor_free(ex);
    rundir_free(rd);
    playbook_free(pb);
    free(only);
    strlist_release(&accounts);
    return code;
}
