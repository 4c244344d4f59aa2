/* Action "service": stops or starts Postfix the way the host runs it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runbook.h"
#include "spamstop/postfix.h"

/* Seconds start and stop wait for postfix status to agree. */
#define SERVICE_WAIT_DEFAULT 30

/*
 * The parsed "with": {"state": "stopped"|"started", "wait": seconds,
 * "via": "auto"|"systemd"|"sysv"|"postfix" or a template}.
 */
struct service_params {
    bool start;
    int wait_s;
    char *via; /* NULL = auto */
};

/* Frees what service_parse made. */
static void service_free(void *p)
{
    struct service_params *sp = p;

    if (sp != NULL)
        free(sp->via);
    free(sp);
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
 * leaves Postfix down, or a stop that leaves it up, fails.
 */
static int service_set(struct action_ctx *ctx, enum postfix_service svc,
                       bool start, int wait_s, struct errbuf *err)
{
    struct service_memo m;
    struct exec_result res;
    enum postfix_service used;
    char *cmd = NULL;
    int r;

    service_memo_keep(ctx, NULL);
    r = postfix_service_command(&cmd, svc, start ? POSTFIX_START : POSTFIX_STOP,
                                wait_s, runbook_dirs(ctx), err);
    if (r < 0)
        return r;
    r = runbook_run(ctx, start ? "postfix start" : "postfix stop", cmd, NULL, 0,
                    false, &res, err);
    /* the script exits 0 only once postfix status agrees */
    if (r == 0)
        r = postfix_service_parse(&used, res.out.data ? res.out.data : "",
                                  res.out.len, err);
    if (r == 0) {
        m.used = used;
        m.running = start;
        service_memo_keep(ctx, &m);
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
    const char *how = "";
    char undo[160];
    static const char *const left[] = {"; it is stopped, as an earlier step "
                                       "left it",
                                       "; it runs, as an earlier step left it"};
    int r;

    if ((r = service_via(&svc, ctx, sp, err)) < 0)
        return r;
    if (m != NULL && (svc == POSTFIX_SERVICE_NONE || svc == m->used)) {
        /* no look: the state an earlier step of this run set and checked */
        used = m->used;
        running = m->running;
        how = left[running];
    } else if ((r = service_look(&used, &running, ctx, svc, err)) < 0) {
        return r;
    }
    if (running == sp->start)
        action_describe(ctx, "postfix is already %s: nothing to do%s",
                        running ? "running" : "stopped", how);
    else
        action_describe(ctx, "would %s postfix (via %s), then check it %s%s",
                        sp->start ? "start" : "stop",
                        postfix_service_name(used),
                        sp->start ? "runs" : "stopped", how);
    /*
     * undo puts back the state found here, except that undoing a start
     * never stops Postfix: no rollback or failure takes mail down
     */
    snprintf(undo, sizeof(undo),
             "{\"service\":\"%s\",\"state\":\"%s\",\"wait\":%d}",
             postfix_service_name(used),
             running || sp->start ? "started" : "stopped", sp->wait_s);
    return action_set_undo(ctx, undo, false) < 0
               ? errbuf_set(err, SS_ERR, "out of memory")
               : 0;
}

/* Stops or starts Postfix (idempotent) and checks the outcome. */
static int service_apply(struct action_ctx *ctx, const void *params,
                         struct errbuf *err)
{
    const struct service_params *sp = params;
    enum postfix_service svc;
    int r;

    if ((r = service_via(&svc, ctx, sp, err)) < 0)
        return r;
    return service_set(ctx, svc, sp->start, sp->wait_s, err);
}

/* Puts back the state prepare found (idempotent). */
static int service_undo(struct action_ctx *ctx, const char *undo_json,
                        struct errbuf *err)
{
    enum postfix_service svc;
    json_t *root = json_loads(undo_json, 0, NULL);
    const char *name, *state;
    int r = SS_ECORRUPT, wait_s;

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
    r = service_set(ctx, svc, strcmp(state, "started") == 0, wait_s, err);
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
