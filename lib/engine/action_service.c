/* Action "service": stops or starts Postfix the way the host runs it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook.h"
#include "spamstop/postfix.h"

/* Seconds start and stop wait for postfix status to agree. */
#define SERVICE_WAIT_DEFAULT 30

/*
 * The parsed "with": {"state": "stopped"|"started", "wait": seconds,
 * "via": "auto"|"systemd"|"sysv"|"postfix" or a template,
 * "restart_after": seconds or a template}.
 */
struct service_params {
    bool start;
    int wait_s;
    char *via;           /* NULL = auto */
    char *restart_after; /* NULL = 0: a stop arms no restart timer */
};

/* Frees what service_parse made. */
static void service_free(void *p)
{
    struct service_params *sp = p;

    if (sp != NULL) {
        free(sp->via);
        free(sp->restart_after);
    }
    free(sp);
}

/* Reads a restart_after value: whole seconds, 0 to POSTFIX_RESTART_MAX. */
static bool service_seconds(int *out, const char *s)
{
    long v = 0;
    size_t i, n = strlen(s);

    if (n == 0 || n > 6)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > POSTFIX_RESTART_MAX)
        return false;
    *out = (int)v;
    return true;
}

/* Checks "with". */
static int service_parse(void **out, const char *with_json, struct errbuf *err)
{
    struct service_params *sp = NULL;
    json_t *root = NULL, *v;
    const char *key, *state = NULL;
    int r = SS_EINVAL;

    *out = NULL;
    if ((root = json_loads(with_json, 0, NULL)) == NULL)
        return errbuf_set(err, SS_EINVAL, "'with' is not valid JSON");
    if ((sp = calloc(1, sizeof(*sp))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    sp->wait_s = SERVICE_WAIT_DEFAULT;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "state") == 0 && json_is_string(v)) {
            state = json_string_value(v);
        } else if (strcmp(key, "via") == 0 && json_is_string(v)) {
            free(sp->via);
            if ((sp->via = strdup(json_string_value(v))) == NULL) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
        } else if (strcmp(key, "wait") == 0 && json_is_integer(v) &&
                   json_integer_value(v) >= 1 &&
                   json_integer_value(v) <= 3600) {
            sp->wait_s = (int)json_integer_value(v);
        } else if (strcmp(key, "restart_after") == 0 &&
                   (json_is_string(v) ||
                    (json_is_integer(v) && json_integer_value(v) >= 0 &&
                     json_integer_value(v) <= POSTFIX_RESTART_MAX))) {
            char num[24];
            if (json_is_integer(v))
                snprintf(num, sizeof(num), "%d", (int)json_integer_value(v));
            free(sp->restart_after);
            if ((sp->restart_after = strdup(
                     json_is_string(v) ? json_string_value(v) : num)) == NULL) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                goto out;
            }
        } else {
            errbuf_set(err, SS_EINVAL, "bad or unknown key 'with.%.64s'", key);
            goto out;
        }
    }
    if (state == NULL ||
        (strcmp(state, "stopped") != 0 && strcmp(state, "started") != 0)) {
        errbuf_set(err, SS_EINVAL,
                   "'with.state' must be \"stopped\" or \"started\"");
        goto out;
    }
    sp->start = strcmp(state, "started") == 0;
    *out = sp;
    sp = NULL;
    r = 0;
out:
    service_free(sp);
    json_decref(root);
    return r;
}

/*
 * The manager the playbook names (svc), or POSTFIX_SERVICE_NONE when the
 * host's is detected by the service command itself (e.g. --param
 * service=postfix where an init script exists but is not what runs
 * Postfix).
 */
static int service_via(enum postfix_service *out, struct action_ctx *ctx,
                       const struct service_params *sp, struct errbuf *err)
{
    char *via = NULL;
    int r = 0;

    *out = POSTFIX_SERVICE_NONE;
    if (sp->via == NULL)
        return 0;
    if ((r = runbook_scalar(&via, ctx, sp->via, err)) < 0)
        return r;
    if (strcmp(via, "auto") != 0) {
        r = postfix_service_parse(out, via, strlen(via), err);
        if (r < 0 || *out == POSTFIX_SERVICE_NONE)
            r = errbuf_set(err, SS_EINVAL,
                           "service 'via' must be auto, systemd, sysv or "
                           "postfix, not '%.64s'",
                           via);
    }
    free(via);
    return r;
}

/*
 * The step's restart_after (its template rendered) in seconds; 0 when
 * "with" has none.
 */
static int service_restart_after(int *out, struct action_ctx *ctx,
                                 const struct service_params *sp,
                                 struct errbuf *err)
{
    char *s = NULL;
    int r;

    *out = 0;
    if (sp->restart_after == NULL)
        return 0;
    if ((r = runbook_scalar(&s, ctx, sp->restart_after, err)) < 0)
        return r;
    if (!service_seconds(out, s))
        r = errbuf_set(err, SS_EINVAL,
                       "service 'restart_after' must be whole seconds from 0 "
                       "to %d, not '%.64s'",
                       POSTFIX_RESTART_MAX, s);
    free(s);
    return r;
}

/*
 * This run's timer on the host (id: the run id, or the one a journaled
 * timer name holds) in *t, its name in name; false when the id is not a
 * run id (no timer, no mail-down clock).
 */
static bool service_timer(struct postfix_timer *t, char *name, size_t size,
                          const char *id, int restart_after)
{
    memset(t, 0, sizeof(*t));
    if (id == NULL || postfix_timer_name(name, size, id) < 0)
        return false;
    t->id = id;
    t->restart_after = restart_after;
    return true;
}

/*
 * One command: the manager (detected unless svc names it) into *used and
 * *running from postfix status's exit code (never its text).
 */
static int service_look(enum postfix_service *used, bool *running,
                        struct action_ctx *ctx, enum postfix_service svc,
                        struct errbuf *err)
{
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    char *cmd = NULL;
    int r;

    if ((r = postfix_service_command(&cmd, svc, POSTFIX_STATUS, 0,
                                     runbook_dirs(ctx), err)) < 0)
        return r;
    c.command = cmd;
    r = action_run(ctx, &c, false, &res, err);
    if (r == 0 && res.exit_status != 0 && res.exit_status != 1)
        r = errbuf_set(err, SS_EREMOTE, "%s",
                       res.exit_status == 3
                           ? "no way to control postfix was found on the host"
                           : "postfix status failed");
    if (r == 0)
        r = postfix_service_parse(used, res.out.data ? res.out.data : "",
                                  res.out.len, err);
    if (r == 0)
        *running = res.exit_status == 0;
    exec_result_release(&res);
    free(cmd);
    return r;
}

/*
 * What the last service step of the run did on the host (a host memo):
 * the manager it used and the state it left and checked.  Every other
 * action either leaves Postfix alone or refuses to act while it runs, so
 * a later service step's look would find the same; it reads this instead
 * of running another command.  Dropped when a step starts to change the
 * state and set again once that step checked the outcome.
 */
struct service_memo {
    enum postfix_service used;
    bool running;
};

static void service_memo_free(void *p)
{
    free(p);
}

/* Keeps (or with m NULL, drops) what the host's Postfix is now. */
static void service_memo_keep(struct action_ctx *ctx,
                              const struct service_memo *m)
{
    struct service_memo *copy = NULL;

    if (m != NULL && (copy = malloc(sizeof(*copy))) != NULL)
        *copy = *m;
    action_memo_keep(ctx, copy, service_memo_free);
}

/*
 * Stops or starts in one command that detects (unless svc names the
 * manager), acts and waits until postfix status agrees: a start that
 * leaves Postfix down, or a stop that leaves it up, fails.  With t, the
 * stop arms the run's restart timer first and the start disarms it (see
 * postfix_service_command_timer); what they printed of it goes to *info
 * (left empty when the host's lines are malformed: they only inform).
 * *used is the manager that acted.
 */
static int service_set(struct action_ctx *ctx, enum postfix_service svc,
                       bool start, int wait_s, const struct postfix_timer *t,
                       enum postfix_service *used,
                       struct postfix_service_info *info, struct errbuf *err)
{
    struct service_memo m;
    struct exec_result res;
    struct errbuf ignored = ERRBUF_INIT;
    char *cmd = NULL;
    int r;

    memset(info, 0, sizeof(*info));
    service_memo_keep(ctx, NULL);
    r = postfix_service_command_timer(&cmd, svc,
                                      start ? POSTFIX_START : POSTFIX_STOP,
                                      wait_s, runbook_dirs(ctx), t, err);
    if (r < 0)
        return r;
    r = runbook_run(ctx, start ? "postfix start" : "postfix stop", cmd, NULL, 0,
                    false, &res, err);
    /* the script exits 0 only once postfix status agrees */
    if (r == 0)
        r = postfix_service_parse(used, res.out.data ? res.out.data : "",
                                  res.out.len, err);
    if (r == 0) {
        m.used = *used;
        m.running = start;
        service_memo_keep(ctx, &m);
        if (t != NULL &&
            postfix_service_info_parse(info, res.out.data ? res.out.data : "",
                                       res.out.len, &ignored) < 0)
            (void)action_note(ctx, "down_time_unknown", NULL, -1,
                              "the host's timer or down-time line was "
                              "malformed");
    }
    exec_result_release(&res);
    free(cmd);
    return r;
}

/* Looks at the host; the undo puts back the state found here. */
static int service_prepare(struct action_ctx *ctx, const void *params,
                           struct errbuf *err)
{
    const struct service_params *sp = params;
    const struct service_memo *m = action_memo(ctx, service_memo_free);
    enum postfix_service svc, used;
    bool running = false;
    char undo[320], name[sizeof(POSTFIX_TIMER_PREFIX) + 64];
    struct postfix_timer t;
    int ra = 0;
    int r;

    if ((r = service_via(&svc, ctx, sp, err)) < 0 ||
        (r = service_restart_after(&ra, ctx, sp, err)) < 0)
        return r;
    if (!service_timer(&t, name, sizeof(name), ctx->run_id, ra)) {
        if (ra > 0)
            return errbuf_set(err, SS_EINVAL,
                              "no restart timer without a run id ('%.64s')",
                              ctx->run_id != NULL ? ctx->run_id : "");
        name[0] = '\0';
    }
    if (m != NULL && (svc == POSTFIX_SERVICE_NONE || svc == m->used)) {
        /* no look: the state an earlier step of this run set and checked */
        used = m->used;
        running = m->running;
    } else if ((r = service_look(&used, &running, ctx, svc, err)) < 0) {
        return r;
    }
    /* "service_start"/"service_stop": what it does, and how */
    (void)action_note(ctx,
                      running == sp->start ? "service_already"
                      : sp->start          ? "service_start"
                                           : "service_stop",
                      "postfix", -1,
                      running == sp->start ? (running ? "running" : "stopped")
                                           : postfix_service_name(used));
    if (ctx->dry_run && running != sp->start) {
        /* a dry run plans the next service step on the state this leaves */
        struct service_memo planned;
        planned.used = used;
        planned.running = sp->start;
        service_memo_keep(ctx, &planned);
    }
    if (!sp->start && running && ra > 0)
        (void)action_note(ctx, "restart_timer", name, ra, NULL);
    else if (!sp->start && running)
        (void)action_note(ctx, "no_restart_timer", NULL, -1, NULL);
    else if (sp->start && name[0] != '\0')
        (void)action_note(ctx, "disarm_timer", name, -1, NULL);
    /*
     * undo puts back the state found here, except that undoing a start
     * never stops Postfix: no rollback or failure takes mail down
     */
    /* the timer's name is journaled: a rollback's start disarms it */
    snprintf(undo, sizeof(undo),
             "{\"service\":\"%s\",\"state\":\"%s\",\"wait\":%d,"
             "\"restart_after\":%d,\"timer\":\"%s\"}",
             postfix_service_name(used),
             running || sp->start ? "started" : "stopped", sp->wait_s, ra,
             name);
    return action_set_undo(ctx, undo, false) < 0
               ? errbuf_set(err, SS_ERR, "out of memory")
               : 0;
}

/*
 * The step's evidence: the state set, the manager, and the timer the stop
 * armed or the time mail was down that the start measured.
 */
static int service_evidence(struct action_ctx *ctx, bool start,
                            enum postfix_service used, int ra, const char *name,
                            const struct postfix_service_info *info)
{
    static const char *const kinds[] = {"none", "process", "systemd"};
    json_t *o = json_object();
    char *text = NULL;
    int bad, r = SS_ERR;

    if (o == NULL)
        return SS_ERR;
    bad = json_object_set_new(o, "state",
                              json_string(start ? "started" : "stopped"));
    bad |= json_object_set_new(o, "service",
                               json_string(postfix_service_name(used)));
    if (name[0] != '\0')
        bad |= json_object_set_new(o, "timer", json_string(name));
    if (!start) {
        bad |= json_object_set_new(o, "restart_after", json_integer(ra));
        bad |= json_object_set_new(o, "timer_kind",
                                   json_string(kinds[info->timer]));
        if (info->timer == POSTFIX_TIMER_PROCESS)
            bad |= json_object_set_new(o, "timer_pid", json_integer(info->pid));
    } else {
        bad |= json_object_set_new(
            o, "mail_down_ms",
            info->down_known ? json_integer(info->down_ms) : json_null());
        if (info->down_known)
            bad |= json_object_set_new(
                o, "restarted_by",
                json_string(info->down_by_timer ? "timer" : "start"));
    }
    if (bad == 0 && (text = json_dumps(o, JSON_COMPACT)) != NULL &&
        action_set_evidence(ctx, text) == 0)
        r = 0;
    free(text);
    json_decref(o);
    return r;
}

/* Stops or starts Postfix (idempotent) and checks the outcome. */
static int service_apply(struct action_ctx *ctx, const void *params,
                         struct errbuf *err)
{
    const struct service_params *sp = params;
    struct postfix_service_info info;
    struct postfix_timer t;
    enum postfix_service svc, used = POSTFIX_SERVICE_NONE;
    char name[sizeof(POSTFIX_TIMER_PREFIX) + 64];
    bool timed;
    int r, ra = 0;

    if ((r = service_via(&svc, ctx, sp, err)) < 0 ||
        (r = service_restart_after(&ra, ctx, sp, err)) < 0)
        return r;
    timed = service_timer(&t, name, sizeof(name), ctx->run_id, ra);
    if (!timed)
        name[0] = '\0';
    if (!timed && ra > 0)
        return errbuf_set(err, SS_EINVAL, "no restart timer without a run id");
    r = service_set(ctx, svc, sp->start, sp->wait_s, timed ? &t : NULL, &used,
                    &info, err);
    if (r < 0)
        return r;
    /* data for --json and the recap; failing only loses the display */
    if (info.down_known)
        (void)action_set_fact(ctx, "mail_down_ms", info.down_ms);
    if (info.down_known && info.down_by_timer)
        (void)action_note(ctx, "started_by_timer", "postfix", -1, name);
    if (service_evidence(ctx, sp->start, used, ra, name, &info) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/* Puts back the state prepare found (idempotent). */
static int service_undo(struct action_ctx *ctx, const char *undo_json,
                        struct errbuf *err)
{
    enum postfix_service svc, used;
    struct postfix_service_info info;
    struct postfix_timer t;
    json_t *root = json_loads(undo_json, 0, NULL), *v;
    const char *name, *state, *timer, *id = NULL;
    char tname[sizeof(POSTFIX_TIMER_PREFIX) + 64];
    int r = SS_ECORRUPT, wait_s, ra = 0;
    bool timed;

    if (root == NULL)
        return errbuf_set(err, SS_ECORRUPT, "service undo data is not JSON");
    name = json_string_value(json_object_get(root, "service"));
    state = json_string_value(json_object_get(root, "state"));
    wait_s = (int)json_integer_value(json_object_get(root, "wait"));
    if (name == NULL || state == NULL || wait_s < 1 || wait_s > 3600 ||
        postfix_service_parse(&svc, name, strlen(name), err) < 0) {
        errbuf_set(err, SS_ECORRUPT, "service undo data is incomplete");
        goto out;
    }
    /*
     * The timer the journal names (an older journal names none: this
     * run's); restart_after arms one if this undo stops Postfix.
     */
    if ((v = json_object_get(root, "restart_after")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > POSTFIX_RESTART_MAX) {
            errbuf_set(err, SS_ECORRUPT, "service undo data is malformed");
            goto out;
        }
        ra = (int)json_integer_value(v);
    }
    timer = json_string_value(json_object_get(root, "timer"));
    if (timer != NULL && strncmp(timer, POSTFIX_TIMER_PREFIX,
                                 sizeof(POSTFIX_TIMER_PREFIX) - 1) == 0)
        id = timer + sizeof(POSTFIX_TIMER_PREFIX) - 1;
    else if (timer == NULL || timer[0] == '\0')
        id = ctx->run_id;
    timed = service_timer(&t, tname, sizeof(tname), id, ra);
    r = service_set(ctx, svc, strcmp(state, "started") == 0, wait_s,
                    timed ? &t : NULL, &used, &info, err);
    if (r == 0 && info.down_known)
        (void)action_set_fact(ctx, "mail_down_ms", info.down_ms);
out:
    json_decref(root);
    return r;
}

const struct action_ops action_service = {
    "service",
    STEP_KIND_BIT(STEP_COMPENSABLE),
    service_parse,
    service_free,
    service_prepare,
    service_apply,
    service_undo,
    NULL,
    NULL,
};
