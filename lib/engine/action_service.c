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
 * Finds how the host runs Postfix (one command), unless the playbook says
 * (e.g. --param service=postfix where an init script exists but is not
 * what runs Postfix).
 */
static int service_detect(enum postfix_service *out, struct action_ctx *ctx,
                          const struct service_params *sp, struct errbuf *err)
{
    struct exec_result res;
    char *cmd = NULL, *via = NULL;
    int r;

    if (sp->via != NULL) {
        if ((r = runbook_scalar(&via, ctx, sp->via, err)) < 0)
            return r;
        if (strcmp(via, "auto") != 0) {
            r = postfix_service_parse(out, via, strlen(via), err);
            if (r < 0 || *out == POSTFIX_SERVICE_NONE)
                r = errbuf_set(err, SS_EINVAL,
                               "service 'via' must be auto, systemd, sysv or "
                               "postfix, not '%.64s'",
                               via);
            free(via);
            return r;
        }
        free(via);
    }
    if ((cmd = postfix_service_detect_command()) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    r = runbook_run(ctx, "service detection", cmd, NULL, 0, false, &res, err);
    if (r == 0 || r == SS_EREMOTE)
        r = postfix_service_parse(out, res.out.data ? res.out.data : "",
                                  res.out.len, err);
    exec_result_release(&res);
    free(cmd);
    return r;
}

/* Sets *running from postfix status's exit code (never its text). */
static int service_running(bool *running, struct action_ctx *ctx,
                           enum postfix_service svc, struct errbuf *err)
{
    struct exec_cmd c = EXEC_CMD_INIT;
    struct exec_result res;
    char *cmd = NULL;
    int r;

    if ((r = postfix_service_command(&cmd, svc, POSTFIX_STATUS, 0, err)) < 0)
        return r;
    c.command = cmd;
    r = action_run(ctx, &c, false, &res, err);
    if (r == 0 && res.exit_status != 0 && res.exit_status != 1)
        r = errbuf_set(err, SS_EREMOTE, "postfix status exited with %d",
                       res.exit_status);
    if (r == 0)
        *running = res.exit_status == 0;
    exec_result_release(&res);
    free(cmd);
    return r;
}

/* Stops or starts; with start, checks afterwards that Postfix runs. */
static int service_set(struct action_ctx *ctx, enum postfix_service svc,
                       bool start, int wait_s, struct errbuf *err)
{
    struct exec_result res;
    char *cmd = NULL;
    bool running = false;
    int r;

    r = postfix_service_command(&cmd, svc, start ? POSTFIX_START : POSTFIX_STOP,
                                wait_s, err);
    if (r < 0)
        return r;
    r = runbook_run(ctx, start ? "postfix start" : "postfix stop", cmd, NULL, 0,
                    false, &res, err);
    exec_result_release(&res);
    free(cmd);
    if (r < 0)
        return r;
    if ((r = service_running(&running, ctx, svc, err)) < 0)
        return r;
    if (running != start)
        return errbuf_set(err, SS_EREMOTE, "postfix %s after %s",
                          running ? "still runs" : "does not run",
                          start ? "start" : "stop");
    return 0;
}

/* Looks at the host; the undo puts back the state found here. */
static int service_prepare(struct action_ctx *ctx, const void *params,
                           struct errbuf *err)
{
    const struct service_params *sp = params;
    enum postfix_service svc;
    bool running = false;
    char undo[160];
    int r;

    if ((r = service_detect(&svc, ctx, sp, err)) < 0 ||
        (r = service_running(&running, ctx, svc, err)) < 0)
        return r;
    if (running == sp->start)
        action_describe(ctx, "postfix is already %s: nothing to do",
                        running ? "running" : "stopped");
    else
        action_describe(ctx, "would %s postfix (via %s), then check it %s",
                        sp->start ? "start" : "stop", postfix_service_name(svc),
                        sp->start ? "runs" : "stopped");
    snprintf(
        undo, sizeof(undo), "{\"service\":\"%s\",\"state\":\"%s\",\"wait\":%d}",
        postfix_service_name(svc), running ? "started" : "stopped", sp->wait_s);
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

    if ((r = service_detect(&svc, ctx, sp, err)) < 0)
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
