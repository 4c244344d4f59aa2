/* spamstop playbook check: validate a playbook and print its plan. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "spamstop/engine.h"
#include "spamstop/playbook.h"

static const char playbook_help[] =
    "usage: spamstop playbook check FILE...\n"
    "\n"
    "Checks each playbook (JSON, see docs/playbooks.md) and prints its plan:\n"
    "the steps in order, their kinds, what a failure undoes and keeps, and\n"
    "what cannot be undone.  Connects nowhere.  Exit status 0 when every\n"
    "file is valid, 2 otherwise.\n";

/* Prints one template line when it is set. */
static void show(const char *label, const char *value)
{
    if (value != NULL)
        printf("      %-8s %s\n", label, value);
}

/* Prints the plan of a checked playbook. */
static void print_plan(const struct playbook *pb)
{
    int pivot = playbook_first_pivot(pb);
    size_t i, kept = 0;

    printf("playbook '%s' (%s): %zu steps\n", pb->name, pb->source, pb->nsteps);
    if (pb->description != NULL)
        printf("  %s\n", pb->description);
    for (i = 0; i < pb->param_names.n; i++)
        printf("  param %s = '%s'\n", pb->param_names.v[i],
               pb->param_values.v[i]);
    for (i = 0; i < pb->nsteps; i++) {
        const struct playbook_step *s = &pb->steps[i];
        printf("  [%zu] %s (%s)%s\n", i + 1, s->name, step_kind_name(s->kind),
               s->kind == STEP_PIVOT ? ": PIVOT, cannot be undone; after it "
                                       "a failure finishes forward"
                                     : "");
        if (s->ops != NULL)
            printf("      action   %s %s\n", s->action, s->with_json);
        show("run", s->run);
        show("undo", s->undo);
        show("probe", s->probe);
        show("commit", s->commit);
        show("uncommit", s->uncommit);
        show("register", s->register_name);
        show("when", s->when);
        if (s->kind != STEP_READ_ONLY)
            show("failure", s->keep ? "keep: containment, never undone by a "
                                      "failure or an interrupt"
                                    : "undo");
    }
    for (i = 0; i < pb->nsteps; i++)
        kept += pb->steps[i].keep;
    if (kept > 0)
        printf("  once a 'keep' step may have run, a failure or an "
               "interrupt undoes only the\n  other steps: the host ends "
               "'contained' and 'resume' finishes it\n");
    if (pivot >= 0)
        printf("  a failure before step %d rolls the host back; from step %d "
               "on the host finishes forward\n",
               pivot + 1, pivot + 1);
    else if (kept > 0)
        printf("  an explicit 'spamstop rollback' undoes every change, kept "
               "steps too, as far\n  as their actions allow (rotate keeps "
               "new passwords unless an account is\n  named with "
               "--restore-password)\n");
    else
        printf("  every change can be rolled back\n");
}

int cmd_playbook(int argc, char **argv)
{
    struct errbuf e = ERRBUF_INIT;
    struct playbook *pb = NULL;
    int i, code = EXIT_OK;

    if (argc >= 2 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(playbook_help, stdout);
        return EXIT_OK;
    }
    if (argc < 3 || strcmp(argv[1], "check") != 0) {
        fputs(playbook_help, stderr);
        return EXIT_USAGE;
    }
    for (i = 2; i < argc; i++) {
        if (playbook_load(&pb, argv[i], engine_action_lookup, &e) < 0) {
            cmd_error("%s", e.msg);
            code = EXIT_USAGE;
            continue;
        }
        print_plan(pb);
        playbook_free(pb);
        pb = NULL;
    }
    return code;
}
