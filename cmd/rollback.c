/* spamstop rollback: undo a run from its journal. */
#include "cmd.h"

int cmd_rollback(int argc, char **argv)
{
    return cmd_run_again(argc, argv, "rollback");
}
