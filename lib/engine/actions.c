/* The table of built-in actions: add a line here for each new action. */
#include <string.h>

#include "spamstop/engine.h"

/* Each is defined in its own lib/engine/action_NAME.c. */
extern const struct action_ops action_require;
extern const struct action_ops action_service;
extern const struct action_ops action_identify;
extern const struct action_ops action_snapshot;
extern const struct action_ops action_rotate;
extern const struct action_ops action_purge;

static const struct action_ops *const actions[] = {
    &action_require,  &action_service, &action_identify,
    &action_snapshot, &action_rotate,  &action_purge,
};

const struct action_ops *action_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i]->name, name) == 0)
            return actions[i];
    return NULL;
}
