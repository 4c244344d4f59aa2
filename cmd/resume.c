/* spamstop resume: finish an interrupted run from its journal. */
#include "cmd.h"

int cmd_resume(int argc, char **argv)
{
    return cmd_run_again(argc, argv, "resume");
}
