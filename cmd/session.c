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
#include "render.h"
#include "session.h"

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

/* Appends the UTC time now, "2026-11-28T10:36:07.123Z". */
static int add_now(struct buf *b)
{
    struct timespec ts;
    struct tm tm;
    char s[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    return buf_printf(b, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

void session_write(FILE *f, bool stamp, const char *text, size_t len)
{
    struct buf line = BUF_INIT;
    const char *p = text, *end = text + len, *nl;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (stamp && nl == p) {
            p++; /* a log needs no blank line */
            continue;
        }
        buf_reset(&line);
        if (stamp && (add_now(&line) < 0 || buf_addc(&line, ' ') < 0))
            break;
        if (buf_add(&line, p, (size_t)((nl != NULL ? nl : end) - p)) < 0 ||
            buf_addc(&line, '\n') < 0)
            break;
        fwrite(line.data, 1, line.len, f);
        p = nl != NULL ? nl + 1 : end;
    }
    fflush(f);
    buf_release(&line);
}

/* Writes one JSON object as a line on stdout (the --json event stream). */
static void print_json_line(json_t *o)
{
    struct buf now = BUF_INIT;
    char *text;

    /* every event says when: a stream kept as a log stands alone */
    if (o != NULL && add_now(&now) == 0)
        json_object_set_new(o, "time", json_string(now.data));
    buf_release(&now);
    text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    if (text != NULL) {
        flockfile(stdout);
        printf("%s\n", text);
        fflush(stdout);
        funlockfile(stdout);
    }
    free(text);
    json_decref(o);
}

/* The verify step's checks of a host, for --json (see engine_check). */
static json_t *checks_json(const struct engine_host *h)
{
    static const char *const pw[] = {"unknown", "confirmed", "refused"};
    json_t *a = json_array(), *c;
    struct buf b = BUF_INIT;
    size_t i;

    for (i = 0; a != NULL && i < h->nchecks; i++) {
        const struct engine_check *k = &h->checks[i];
        if (engine_check_text(&b, k) < 0)
            break;
        c = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s}", "account", k->account,
                      "password", pw[k->password], "since",
                      (json_int_t)k->since, "watched_s",
                      (json_int_t)k->watched_s, "logins", (json_int_t)k->logins,
                      "text", b.data);
        if (c != NULL && k->first_at >= 0) {
            json_object_set_new(c, "first_login", json_integer(k->first_at));
            json_object_set_new(c, "first_client",
                                json_string(k->first_client));
        }
        json_array_append_new(a, c);
    }
    buf_release(&b);
    return a;
}

/* A string or null. */
static json_t *json_str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* An account's top values of one kind, for --json: [{value, messages}]. */
static json_t *values_json(const struct engine_values *v)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < v->n; i++)
        json_array_append_new(a, json_pack("{s:s,s:I}", "value", v->v[i].value,
                                           "messages",
                                           (json_int_t)v->v[i].messages));
    return a;
}

/* The --json form of a survey (what identify read). */
static json_t *survey_json(const struct engine_survey *sv)
{
    json_t *o, *a = json_array(), *x;
    size_t i;

    for (i = 0; i < sv->naccounts; i++) {
        const struct engine_account *ac = &sv->accounts[i];
        static const char *const level[] = {"seen", "watch", "flagged"};
        x = json_pack("{s:s,s:s,s:I,s:f,s:I,s:o,s:I,s:o}", "account",
                      ac->address, "level", level[ac->level], "messages",
                      (json_int_t)ac->messages, "share",
                      ac->share_permille / 1000.0, "clients",
                      (json_int_t)ac->clients, "top_client",
                      json_str_or_null(ac->top_client), "top_client_messages",
                      (json_int_t)ac->top_client_messages, "why",
                      json_str_or_null(ac->why));
        /* flagged: the evidence the fleet picture compares across hosts */
        if (x != NULL && ac->level == ENGINE_ACCOUNT_FLAGGED) {
            json_object_set_new(x, "top_clients",
                                values_json(&ac->top_clients));
            json_object_set_new(x, "helos", values_json(&ac->helos));
            json_object_set_new(x, "subjects", values_json(&ac->subjects));
        }
        json_array_append_new(a, x);
    }
    o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "queued",
        (json_int_t)sv->queued, "authenticated", (json_int_t)sv->authenticated,
        "scripted", (json_int_t)sv->scripted, "other", (json_int_t)sv->other,
        "to_hold", (json_int_t)sv->to_hold, "backscatter",
        (json_int_t)sv->backscatter, "stay", (json_int_t)sv->stay, "flagged",
        (json_int_t)sv->flagged, "log_source", json_str_or_null(sv->log_source),
        "log_records", (json_int_t)sv->log_records);
    if (o != NULL)
        json_object_set_new(o, "accounts", a);
    else
        json_decref(a);
    return o;
}

/* The --json form of one step's record. */
static json_t *step_json(const struct engine_step_rec *r, const char *name)
{
    json_t *o, *notes = json_array();
    size_t k;

    for (k = 0; k < r->nnotes; k++) {
        const struct engine_note *nt = &r->notes[k];
        json_array_append_new(
            notes,
            json_pack("{s:s,s:o,s:o,s:o}", "key", nt->key, "subject",
                      json_str_or_null(nt->subject), "value",
                      nt->value >= 0 ? json_integer(nt->value) : json_null(),
                      "text", json_str_or_null(nt->text)));
    }
    o = json_pack(
        "{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "step", name, "status",
        engine_step_status_name(r->status), "why", json_str_or_null(r->why),
        "pivot", json_str_or_null(r->pivot_why), "start_ms",
        r->start_ms > 0 ? json_integer(r->start_ms) : json_null(), "end_ms",
        r->end_ms > 0 ? json_integer(r->end_ms) : json_null(), "notes", notes);
    if (o != NULL && r->survey != NULL)
        json_object_set_new(o, "survey", survey_json(r->survey));
    return o;
}

/* The --json object for a host that ended (from its engine_host). */
static json_t *host_json(const struct session *s, const struct engine_host *h,
                         const char *event)
{
    json_t *o = json_object(), *facts, *steps = json_array();
    size_t i;

    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "host", json_string(h->target.name));
    json_object_set_new(o, "state", json_string(host_state_name(h->state)));
    json_object_set_new(o, "label", json_string(render_host_label(h, s->pb)));
    json_object_set_new(o, "failed_step",
                        h->failed_step >= 0 ? json_integer(h->failed_step + 1)
                                            : json_null());
    json_object_set_new(
        o, "error", h->err.code != 0 ? json_string(h->err.msg) : json_null());
    for (i = 0; i < h->nsteps && i < s->pb->nsteps; i++)
        json_array_append_new(steps,
                              step_json(&h->steps[i], s->pb->steps[i].name));
    json_object_set_new(o, "steps", steps);
    facts = json_object();
    for (i = 0; i < h->nfacts; i++)
        json_object_set_new(facts, h->facts[i].key,
                            json_integer((json_int_t)h->facts[i].value));
    json_object_set_new(o, "facts", facts);
    json_object_set_new(o, "checks", checks_json(h));
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
                o = host_json(s, &s->hosts[i], "host-end");
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

/*
 * A command as -v and -vv show it: its first line, and how many more
 * there are (the whole of it is in the audit trail, or with -vvv).
 */
static int add_command(struct buf *b, const char *cmd, int verbose)
{
    const char *nl = strchr(cmd, '\n');
    size_t n = nl != NULL ? (size_t)(nl - cmd) : strlen(cmd), more = 0;
    char first[200];

    if (verbose > 2 || nl == NULL)
        return -2; /* shown whole, by the caller */
    for (; nl != NULL; nl = strchr(nl + 1, '\n'))
        more += nl[1] != '\0';
    snprintf(first, sizeof(first), "%.*s", (int)(n < 160 ? n : 160), cmd);
    if (buf_adds(b, " ") < 0 || cmd_add_clean(b, first) < 0 ||
        buf_printf(b, " [+%zu line%s]\n", more, more == 1 ? "" : "s") < 0)
        return -1;
    return 0;
}

/*
 * The log line of an event: "HOST: step 'NAME' WHAT [DETAIL]"; a host's
 * end is "HOST: finished" (the recap says how); a command's output (-vv)
 * gets one indented line per line.
 */
static int event_line(struct buf *b, const struct engine_event *ev, int verbose)
{
    const char *p, *nl;
    int r;

    if (buf_printf(b, "%s: ", ev->host) < 0)
        return -1;
    if (strcmp(ev->what, "state") == 0)
        return buf_adds(b, "finished\n");
    if ((ev->step != NULL &&
         (buf_adds(b, "step '") < 0 || cmd_add_clean(b, ev->step) < 0 ||
          buf_adds(b, "' ") < 0)) ||
        cmd_add_clean(b, strcmp(ev->what, "exec") == 0          ? "runs:"
                         : strcmp(ev->what, "exec-output") == 0 ? "output:"
                                                                : ev->what) < 0)
        return -1;
    if (strcmp(ev->what, "exec") == 0 && ev->detail != NULL &&
        (r = add_command(b, ev->detail, verbose)) != -2)
        return r;
    for (p = ev->detail; p != NULL && *p != '\0';
         p = nl != NULL ? nl + 1 : NULL) {
        char part[1024];
        size_t n;
        nl = strchr(p, '\n');
        n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        snprintf(part, sizeof(part), "%.*s", (int)(n < 1000 ? n : 1000), p);
        if (buf_adds(b, p == ev->detail ? " " : "\n    ") < 0 ||
            cmd_add_clean(b, part) < 0)
            return -1;
    }
    return buf_addc(b, '\n');
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
    if (event_line(&line, ev, s->verbose) < 0)
        buf_reset(&line);
    if (line.len > 0) {
        flockfile(stderr);
        session_write(stderr, s->stamp_err, line.data, line.len);
        funlockfile(stderr);
    }
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

/* The --json run-end event. */
static void print_run_end(const struct session *s, const char *what,
                          const char *outcome, int code)
{
    json_t *o = json_object();

    json_object_set_new(o, "event", json_string("run-end"));
    json_object_set_new(o, "run_id", json_string(s->rd->info.run_id));
    json_object_set_new(o, "command", json_string(what));
    json_object_set_new(o, "outcome", json_string(outcome));
    json_object_set_new(o, "exit", json_integer(code));
    json_object_set_new(o, "audit_records",
                        json_integer((json_int_t)s->rd->info.audit_records));
    json_object_set_new(o, "audit_head",
                        s->rd->info.audit_records > 0
                            ? json_string(s->rd->info.audit_head)
                            : json_null());
    print_json_line(o);
}

/* How much of the fleet picture one --json event carries. */
#define SESSION_FLEET_JSON_VALUES 100
#define SESSION_FLEET_JSON_SEEN   100

/* One value of the fleet picture, for --json (sightings capped). */
static json_t *fleet_value_json(const struct fleet_value *x)
{
    json_t *o, *seen = json_array();
    size_t i;

    for (i = 0; seen != NULL && i < x->n_seen && i < SESSION_FLEET_JSON_SEEN;
         i++)
        json_array_append_new(seen, json_pack("{s:s,s:s,s:I}", "host",
                                              x->seen[i].host, "account",
                                              x->seen[i].account, "messages",
                                              (json_int_t)x->seen[i].count));
    o = json_pack("{s:s,s:s,s:I,s:I,s:o,s:I}", "kind", fleet_kind_name(x->kind),
                  "value", x->value, "hosts", (json_int_t)x->n_hosts,
                  "messages", (json_int_t)x->messages, "seen", seen,
                  "seen_more", (json_int_t)(x->n_seen - json_array_size(seen)));
    return o;
}

/*
 * --json: the "fleet" event, what flagged accounts share across hosts;
 * none when they share nothing.
 */
static void print_fleet(const struct fleet *f, const char *what)
{
    json_t *o, *values = json_array(), *accounts = json_array(), *hosts;
    size_t i, k;

    if (f->n_values == 0 && f->n_accounts == 0) {
        json_decref(values);
        json_decref(accounts);
        return;
    }
    for (i = 0; i < f->n_accounts; i++) {
        hosts = json_array();
        for (k = 0; k < f->accounts[i].n_hosts; k++)
            json_array_append_new(hosts, json_string(f->accounts[i].hosts[k]));
        json_array_append_new(accounts, json_pack("{s:s,s:o}", "account",
                                                  f->accounts[i].account,
                                                  "hosts", hosts));
    }
    for (i = 0; i < f->n_values && i < SESSION_FLEET_JSON_VALUES; i++)
        json_array_append_new(values, fleet_value_json(&f->values[i]));
    o = json_pack("{s:s,s:s,s:o,s:o,s:I}", "event", "fleet", "command", what,
                  "accounts", accounts, "values", values, "values_more",
                  (json_int_t)(f->n_values - json_array_size(values)));
    print_json_line(o);
}

/*
 * The fleet picture of the hosts' surveys: as text into out, or (out
 * NULL, --json) as its event.  A picture that cannot be made is said and
 * left out: the run goes on without it.
 */
static int add_fleet(struct buf *out, const struct session *s, const char *what)
{
    struct fleet f;
    int r;

    if ((r = engine_fleet(&f, s->hosts, s->n)) < 0) {
        fleet_release(&f);
        cmd_error("no fleet picture: %s",
                  r == SS_ETOOBIG ? "too many values" : "out of memory");
        return 0;
    }
    if (out == NULL)
        print_fleet(&f, what);
    else
        r = render_fleet(out, &f);
    fleet_release(&f);
    return r;
}

/* Appends " --state-dir DIR" when the run's state folder was named. */
static int add_state_dir(struct buf *b, const struct session *s)
{
    if (s->state_dir == NULL)
        return 0;
    return buf_adds(b, " --state-dir ") < 0 || cmd_add_word(b, s->state_dir) < 0
               ? -1
               : 0;
}

/*
 * render_recap: the command that finishes host h when it is not finished
 * (a respond host that must run again; resume's hosts are named once, on
 * the run's own line).
 */
static int follow_up(struct buf *out, void *arg, const struct engine_host *h)
{
    const struct session *s = arg;

    switch (h->state) {
    case HOST_ROLLED_BACK:
    case HOST_UNREACHABLE:
    case HOST_REFUSED:
        if (s->rerun == NULL || s->dry_run)
            return 0;
        return buf_printf(out, "  %s: run it again with: %s ", h->target.name,
                          s->rerun) < 0 ||
                       cmd_add_word(out, h->target.name) < 0 ||
                       buf_addc(out, '\n') < 0
                   ? -1
                   : 0;
    case HOST_ATTENTION:
        return buf_printf(out, "  %s: needs attention: spamstop audit show %s",
                          h->target.name, s->rd->info.run_id) < 0 ||
                       add_state_dir(out, s) < 0 ||
                       buf_adds(out, " (then fix by hand, or resume)\n") < 0
                   ? -1
                   : 0;
    default: return 0;
    }
}

/*
 * Whether 'spamstop resume' finishes host h: contained, needing
 * attention, or never started (a rolled-back host is run again).
 */
static bool resumed(const struct session *s, const struct engine_host *h)
{
    if (s->dry_run)
        return false;
    return h->state == HOST_CONTAINED || h->state == HOST_ATTENTION ||
           h->state == HOST_SKIPPED || h->state == HOST_PENDING;
}

/* Appends the run's last lines: outcome, the resume command, the trail. */
static int add_run_end(struct buf *b, const struct session *s, const char *what,
                       const char *outcome, int code)
{
    size_t i, named = 0;

    if (buf_printf(b, "%s: run %s: %s (exit %d)\n", what, s->rd->info.run_id,
                   strcmp(outcome, "dry-run") == 0 ? "nothing changed"
                                                   : outcome,
                   code) < 0)
        return -1;
    for (i = 0; i < s->n; i++)
        named += resumed(s, &s->hosts[i]);
    if (named > 0 || code == EXIT_CONTAINED || code == EXIT_INTERRUPTED) {
        named = 0;
        if (buf_printf(b, "finish it with: spamstop resume %s",
                       s->rd->info.run_id) < 0 ||
            add_state_dir(b, s) < 0)
            return -1;
        for (i = 0; i < s->n; i++) {
            if (!resumed(s, &s->hosts[i]))
                continue;
            if (buf_printf(b, "%s%s", named++ == 0 ? " (for " : ", ",
                           s->hosts[i].target.name) < 0)
                return -1;
        }
        if (buf_adds(b, named > 0 ? ")\n" : "\n") < 0)
            return -1;
    }
    if (s->rd->info.audit_records > 0 &&
        buf_printf(b, "audit: %" PRIu64 ":%s\n", s->rd->info.audit_records,
                   s->rd->info.audit_head) < 0)
        return -1;
    return 0;
}

int session_plan_summary(const struct session *s)
{
    struct buf b = BUF_INIT;
    int r = render_plan_summary(&b, s->hosts, s->n, s->pb);

    if (r == 0)
        session_write(stdout, s->stamp_out, b.data, b.len);
    buf_release(&b);
    return r < 0 ? -1 : 0;
}

/* One line per account the verify step checked: the attacker is out. */
static int add_checks(struct buf *out, const struct session *s)
{
    struct buf b = BUF_INIT;
    size_t i, k;
    int r = 0;

    for (i = 0; i < s->n && r == 0; i++)
        for (k = 0; k < s->hosts[i].nchecks && r == 0; k++) {
            const struct engine_check *c = &s->hosts[i].checks[k];

            if ((r = engine_check_text(&b, c)) < 0 ||
                (r = buf_printf(out, "%s %s: ", s->hosts[i].target.name,
                                engine_check_failed(c) ? "FAILED check"
                                                       : "check")) < 0 ||
                (r = cmd_add_clean(out, b.data)) < 0 ||
                (r = buf_addc(out, '\n')) < 0)
                break;
        }
    buf_release(&b);
    return r;
}

void session_recap(const struct session *s, const char *what,
                   const char *outcome, int code)
{
    struct buf b = BUF_INIT;
    size_t i;
    int r = 0;

    if (s->json) {
        add_fleet(NULL, s, what);
        print_run_end(s, what, outcome, code);
        return;
    }
    /* each host once: the plan before a run, what was done after it */
    for (i = 0; i < s->n && r == 0; i++)
        r = render_host(&b, &s->hosts[i], s->pb, s->verbose);
    /* then what the hosts have in common: one notice per account */
    if (r == 0)
        r = add_fleet(&b, s, what);
    /* the plan's summary and question follow; the recap is the run's */
    if (r == 0 && strcmp(what, "plan") != 0)
        r = render_recap(&b, what, s->rd->info.run_id, s->hosts, s->n, s->pb,
                         s->color, follow_up, (void *)s);
    if (r == 0 && strcmp(what, "plan") != 0)
        r = add_checks(&b, s);
    if (r == 0 && strcmp(what, "plan") != 0)
        r = add_run_end(&b, s, what, outcome, code);
    if (r < 0)
        cmd_error("out of memory writing the recap");
    session_write(stdout, s->stamp_out, b.data != NULL ? b.data : "", b.len);
    buf_release(&b);
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
    /* -v prints each command: lines, not a view redrawn over them */
    s->live = !s->json && s->verbose == 0 && progress_want_live(STDERR_FILENO);
    s->stamp_out = !s->json && !isatty(STDOUT_FILENO);
    s->stamp_err = !s->json && !isatty(STDERR_FILENO);
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
    if (!s->json) {
        struct buf b = BUF_INIT;
        if (buf_printf(&b, "%s: run %s on %zu host%s\n", what,
                       s->rd->info.run_id, s->n, s->n == 1 ? "" : "s") == 0)
            session_write(stderr, s->stamp_err, b.data, b.len);
        buf_release(&b);
    }
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
    free(s->rerun);
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
    s->eo.verbose = s->verbose;
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
