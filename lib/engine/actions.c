/* The table of built-in actions: add a line here for each new action. */
#include <string.h>

#include "action.h"

/* Each is defined in its own lib/engine/action_NAME.c. */
extern const struct action_ops action_require;
extern const struct action_ops action_service;
extern const struct action_ops action_identify;
extern const struct action_ops action_snapshot;
extern const struct action_ops action_rotate;
extern const struct action_ops action_purge;
extern const struct action_ops action_verify;

static const struct action_ops *const actions[] = {
    &action_require, &action_service, &action_identify, &action_snapshot,
    &action_rotate,  &action_purge,   &action_verify,
};

const struct action_ops *action_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i]->name, name) == 0)
            return actions[i];
    return NULL;
}

int engine_action_lookup(struct playbook_action *out, const char *name)
{
    const struct action_ops *ops = action_find(name);

    memset(out, 0, sizeof(*out));
    if (ops == NULL)
        return SS_ENOENT;
    out->ops = ops;
    out->kinds = ops->kinds;
    out->parse = ops->parse;
    out->free = ops->free;
    return 0;
}
