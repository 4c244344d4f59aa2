/* Action "require": checks that the commands a playbook needs exist. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "spamstop/shquote.h"

/* The parsed "with": {"commands": ["postqueue", ...]}. */
struct require_params {
    struct strlist commands;
};

/* Frees what require_parse made. */
static void require_free(void *p)
{
    struct require_params *rp = p;

    if (rp == NULL)
        return;
    strlist_release(&rp->commands);
    free(rp);
}

/* Checks "with": a non-empty list of plain command names. */
static int require_parse(void **out, const char *with_json, struct errbuf *err)
{
    struct require_params *rp = NULL;
    json_t *root = NULL, *list, *v;
    const char *key;
    size_t i;
    int r = SS_EINVAL;

    *out = NULL;
    if ((root = json_loads(with_json, 0, NULL)) == NULL)
        return errbuf_set(err, SS_EINVAL, "'with' is not valid JSON");
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "commands") != 0) {
            errbuf_set(err, SS_EINVAL, "unknown key 'with.%.64s'", key);
            goto out;
        }
    }
    list = json_object_get(root, "commands");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        errbuf_set(err, SS_EINVAL,
                   "'with.commands' must be a non-empty array of names");
        goto out;
    }
    if ((rp = calloc(1, sizeof(*rp))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    json_array_foreach(list, i, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (*s == '\0' || strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789._-+") != strlen(s)) {
            errbuf_set(err, SS_EINVAL,
                       "'with.commands' item %zu must be a command name",
                       i + 1);
            goto out;
        }
        if (strlist_push(&rp->commands, s) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    }
    *out = rp;
    rp = NULL;
    r = 0;
out:
    require_free(rp);
    json_decref(root);
    return r;
}

/* Runs `command -v` for every name; the missing ones fail the step. */
static int require_apply(struct action_ctx *ctx, const void *params,
                         struct errbuf *err)
{
    const struct require_params *rp = params;
    struct exec_cmd cmd = EXEC_CMD_INIT;
    struct exec_result res;
    struct buf line = BUF_INIT;
    size_t i;
    int r = 0;

    for (i = 0; i < rp->commands.n && r == 0; i++) {
        buf_reset(&line);
        if (buf_adds(&line, "command -v ") < 0 ||
            shquote_add(&line, rp->commands.v[i]) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            break;
        }
        cmd.command = line.data;
        r = action_run(ctx, &cmd, false, &res, err);
        if (r == 0 && res.exit_status != 0)
            r = errbuf_set(err, SS_EREMOTE, "command '%s' not found",
                           rp->commands.v[i]);
        if (r == 0)
            r = action_add_result(ctx, rp->commands.v[i]);
        exec_result_release(&res);
    }
    buf_release(&line);
    return r;
}

const struct action_ops action_require = {
    "require",     STEP_KIND_BIT(STEP_READ_ONLY),
    require_parse, require_free,
    NULL,          require_apply,
    NULL,          NULL,
    NULL,
};
