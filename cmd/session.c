/* One run as respond, rollback and resume drive it: hosts, view, trail. */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "session.h"
#include "spamstop/shquote.h"

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

/* Writes one JSON object as a line on stdout (the --json event stream). */
static void print_json_line(json_t *o)
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
static void print_json_event(struct session *s, const struct engine_event *ev)
{
    json_t *o;
    size_t i;

    if (strcmp(ev->what, "state") == 0) {
        for (i = 0; i < s->n; i++)
            if (strcmp(s->hosts[i].target.name, ev->host) == 0) {
                o = host_json(&s->hosts[i], "host-end");
                json_object_set_new(o, "dry_run", json_boolean(s->dry_run));
                print_json_line(o);
            }
        return;
    }
    o = json_object();
    if (strcmp(ev->what, "connected") == 0) {
        json_object_set_new(o, "event", json_string("host-start"));
        json_object_set_new(o, "host", json_string(ev->host));
        json_object_set_new(o, "fingerprint", json_string(ev->detail));
        print_json_line(o);
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
    print_json_line(o);
}

/* engine: progress lines on stderr (or the --json stream on stdout). */
static void on_event(void *arg, const struct engine_event *ev)
{
    struct session *s = arg;
    struct buf line = BUF_INIT;

    progress_syslog_event(s->rd->info.run_id, ev);
    if (s->json) {
        print_json_event(s, ev);
        return;
    }
    if (s->prog != NULL)
        progress_event(s->prog, ev);
    if (s->live)
        return;
    /* one line, one write: lines of hosts never mix */
    if (buf_printf(&line, "%s: ", ev->host) < 0 ||
        (ev->step != NULL &&
         (buf_adds(&line, "step '") < 0 || cmd_add_clean(&line, ev->step) < 0 ||
          buf_adds(&line, "' ") < 0)) ||
        cmd_add_clean(&line, ev->what) < 0 ||
        (ev->detail != NULL && *ev->detail &&
         (buf_addc(&line, ' ') < 0 || cmd_add_clean(&line, ev->detail) < 0)) ||
        buf_addc(&line, '\n') < 0)
        buf_reset(&line);
    if (line.len > 0)
        fwrite(line.data, 1, line.len, stderr);
    buf_release(&line);
}

/* Syncs the trail and copies its anchor (count, head) into run.json's info. */
static void take_anchor(struct session *s)
{
    struct audit_anchor an;
    struct errbuf e = ERRBUF_INIT;

    if (s->audit == NULL)
        return;
    if (audit_sync(s->audit, &e) < 0)
        cmd_error("cannot sync the audit trail: %s", e.msg);
    audit_get_anchor(s->audit, &an);
    s->rd->info.audit_records = an.records;
    memcpy(s->rd->info.audit_head, an.head, sizeof(an.head));
}

/* engine (under its lock): records a host's state in run.json. */
static void on_host_end(void *arg, size_t i)
{
    struct session *s = arg;
    struct errbuf e = ERRBUF_INIT;
    size_t k;
    char *state;

    if (!s->save || s->hosts[i].state == HOST_NOTHING)
        return;
    take_anchor(s);
    for (k = 0; k < s->rd->info.hosts.n; k++) {
        if (strcmp(s->rd->info.hosts.v[k], s->hosts[i].target.name) != 0)
            continue;
        if ((state = strdup(host_state_name(s->hosts[i].state))) == NULL)
            return;
        free(s->rd->info.host_states.v[k]);
        s->rd->info.host_states.v[k] = state;
    }
    if (rundir_save(s->rd, &e) < 0)
        cmd_error("%s", e.msg);
}

bool session_interrupted(void)
{
    return stop_flag != 0;
}

const char *session_outcome(const struct engine_host *h, size_t n, bool dry_run)
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
    if (stop_flag != 0)
        return "interrupted";
    if (contained)
        return "contained";
    if (all_ok)
        return "committed";
    if (all_back)
        return "rolled-back";
    return "partial";
}

int session_exit(const struct engine_host *h, size_t n, bool rolled_back_ok)
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
    if (stop_flag != 0)
        return EXIT_INTERRUPTED;
    if (contained)
        return EXIT_CONTAINED;
    return failed ? EXIT_ROLLED_BACK : EXIT_OK;
}

/*
 * One line with how long Postfix was down on each host that reported it
 * (the mail_down_ms fact of the service action), hosts in run order.
 */
static void print_mail_down(const struct session *s)
{
    const char *sep = "mail down (stop to start, host clock):";
    size_t i, k;

    for (i = 0; i < s->n; i++) {
        const struct engine_host *h = &s->hosts[i];
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

void session_recap(const struct session *s, const char *what,
                   const char *outcome, int code)
{
    json_t *o;
    size_t i;

    if (s->json) {
        o = json_object();
        json_object_set_new(o, "event", json_string("run-end"));
        json_object_set_new(o, "run_id", json_string(s->rd->info.run_id));
        json_object_set_new(o, "command", json_string(what));
        json_object_set_new(o, "outcome", json_string(outcome));
        json_object_set_new(o, "exit", json_integer(code));
        json_object_set_new(
            o, "audit_records",
            json_integer((json_int_t)s->rd->info.audit_records));
        json_object_set_new(o, "audit_head",
                            s->rd->info.audit_records > 0
                                ? json_string(s->rd->info.audit_head)
                                : json_null());
        print_json_line(o);
        return;
    }
    for (i = 0; i < s->n; i++) {
        const struct engine_host *h = &s->hosts[i];
        if (h->plan.len > 0) {
            printf("== %s: plan ==\n", h->target.name);
            cmd_put_clean(stdout, h->plan.data);
        }
        if (s->live && h->err.code == 0)
            continue; /* the recap table says it */
        printf("%-24s %s", h->target.name, host_state_name(h->state));
        if (h->err.code != 0) {
            fputs(": ", stdout);
            cmd_put_clean(stdout, h->err.msg);
        }
        putchar('\n');
    }
    if (s->live && s->prog != NULL && strcmp(what, "plan") != 0)
        progress_recap(s->prog, stdout, what, s->rd->info.run_id, s->color);
    print_mail_down(s);
    printf("%s: run %s: %s (exit %d)\n", what, s->rd->info.run_id, outcome,
           code);
    if (code == EXIT_CONTAINED || code == EXIT_INTERRUPTED) {
        struct buf b = BUF_INIT;

        if (s->state_dir != NULL && (buf_adds(&b, " --state-dir ") < 0 ||
                                     shquote_add(&b, s->state_dir) < 0))
            buf_reset(&b);
        printf("finish it with: spamstop resume %s%s\n", s->rd->info.run_id,
               b.data != NULL ? b.data : "");
        buf_release(&b);
    }
    if (s->rd->info.audit_records > 0)
        printf("audit: %" PRIu64 ":%s\n", s->rd->info.audit_records,
               s->rd->info.audit_head);
    fflush(stdout);
}

/* --json: the run-start event. */
static void print_start(const struct session *s, const char *what)
{
    json_t *o, *a;
    size_t i;

    if (!s->json)
        return;
    o = json_object();
    a = json_array();
    for (i = 0; i < s->n; i++)
        json_array_append_new(a, json_string(s->hosts[i].target.name));
    json_object_set_new(o, "event", json_string("run-start"));
    json_object_set_new(o, "run_id", json_string(s->rd->info.run_id));
    json_object_set_new(o, "command", json_string(what));
    json_object_set_new(o, "playbook", json_string(s->rd->info.playbook));
    json_object_set_new(o, "dry_run", json_boolean(s->dry_run));
    json_object_set_new(o, "hosts", a);
    print_json_line(o);
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

/*
 * Sets up the terminal view (live on a TTY unless --json) and syslog.
 * Returns -1 (message printed) when out of memory.
 */
static int setup_view(struct session *s, const char *const *names,
                      const struct playbook *pb, bool use_syslog)
{
    s->live = !s->json && progress_want_live(STDERR_FILENO);
    s->color = s->live && progress_want_color(STDOUT_FILENO);
    if (progress_new(&s->prog, stderr, names, s->n, pb, s->live,
                     s->live && progress_want_color(STDERR_FILENO)) < 0) {
        cmd_error("out of memory");
        return -1;
    }
    progress_watch_stop(s->prog, &stop_flag);
    if (use_syslog)
        progress_syslog_open();
    return 0;
}

/* Starts one engine pass in the view (and says so in syslog). */
static void view_begin(struct session *s, bool dry_run, const char *what)
{
    progress_reset(s->prog, dry_run);
    progress_syslog_run(s->rd->info.run_id, what, NULL, 0);
    /* first, also in a log: what a resume or a report will need */
    if (!s->json)
        fprintf(stderr, "%s: run %s on %zu host%s\n", what, s->rd->info.run_id,
                s->n, s->n == 1 ? "" : "s");
    if (s->live)
        progress_start(s->prog);
}

/* Ends an engine pass: the live view's last drawing. */
static void view_end(struct session *s)
{
    progress_stop(s->prog);
}

void session_init(struct session *s)
{
    memset(s, 0, sizeof(*s));
    engine_opts_init(&s->eo);
}

void session_release(struct session *s)
{
    size_t i;

    progress_free(s->prog);
    progress_syslog_close();
    for (i = 0; s->hosts != NULL && i < s->n; i++)
        engine_host_release(&s->hosts[i]);
    free(s->hosts);
    free(s->names);
    audit_close(s->audit);
    executor_free(s->ex);
    rundir_free(s->rd);
    playbook_free(s->pb);
    memset(s, 0, sizeof(*s));
}

int session_reserve(struct session *s, size_t max)
{
    if ((s->hosts = calloc(max + 1, sizeof(*s->hosts))) == NULL ||
        (s->names = calloc(max + 1, sizeof(*s->names))) == NULL) {
        cmd_error("out of memory");
        return -1;
    }
    s->cap = max;
    return 0;
}

int session_add_host(struct session *s, const struct exec_target *t,
                     const char *name, enum host_state state)
{
    struct engine_host *h = &s->hosts[s->n];

    if (s->n == s->cap)
        return -1;
    engine_host_init(h);
    s->n++; /* released by session_release also when the copy fails */
    if (t != NULL ? exec_target_copy(&h->target, t) < 0
                  : (h->target.name = strdup(name)) == NULL) {
        cmd_error("out of memory");
        return -1;
    }
    h->state = state;
    s->names[s->n - 1] = h->target.name;
    return 0;
}

int session_start(struct session *s, const struct cmd_opts *co, bool use_syslog)
{
    if ((s->audit = open_audit(s->rd)) == NULL)
        return -1;
    if ((s->ex = exec_ssh_new(&co->exec)) == NULL) {
        cmd_error("out of memory");
        return -1;
    }
    catch_signals();
    s->json = co->json;
    s->state_dir = co->state_dir;
    if (setup_view(s, (const char *const *)s->names, s->pb, use_syslog) < 0)
        return -1;
    s->eo.ex = s->ex;
    s->eo.pb = s->pb;
    s->eo.run_dir = s->rd->path;
    s->eo.run_id = s->rd->info.run_id;
    s->eo.lock_dir = s->rd->lock_dir;
    s->eo.audit = s->audit;
    s->eo.forks = co->forks;
    s->eo.stop = &stop_flag;
    s->eo.remote_lock = true;
    s->eo.on_event = on_event;
    s->eo.event_arg = s;
    s->eo.on_host_end = on_host_end;
    s->eo.host_end_arg = s;
    return 0;
}

int session_pass(struct session *s, const char *what, bool dry_run,
                 session_engine_fn fn)
{
    struct errbuf e = ERRBUF_INIT;
    int r;

    s->eo.dry_run = dry_run;
    s->dry_run = dry_run;
    print_start(s, what);
    view_begin(s, dry_run, what);
    r = fn(s->hosts, s->n, &s->eo, &e);
    view_end(s);
    if (r < 0) {
        cmd_error("%s", e.msg);
        return -1;
    }
    return 0;
}

void session_save(struct session *s, const char *outcome)
{
    struct errbuf e = ERRBUF_INIT;
    size_t i;

    for (i = 0; s->save && i < s->n; i++)
        on_host_end(s, i);
    free(s->rd->info.outcome);
    s->rd->info.outcome = strdup(outcome);
    s->rd->info.finished = time(NULL);
    take_anchor(s);
    if (s->rd->info.outcome == NULL)
        cmd_error("cannot update run.json: out of memory");
    else if (rundir_save(s->rd, &e) < 0)
        cmd_error("cannot update run.json: %s", e.msg);
}

void session_finish(struct session *s, const char *what, const char *outcome,
                    int code)
{
    session_save(s, outcome);
    session_recap(s, what, outcome, code);
    progress_syslog_run(s->rd->info.run_id, what, outcome, code);
}
