/* Where respond finds its default playbook when no -p FILE is given. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "spamstop/error.h"
#include "spamstop/playbook.h"

#define PLAYBOOK_FILE "compromised-account.json"

/* Writes DIR/compromised-account.json to out; true when that file exists. */
static bool playbook_path_in(char *out, size_t size, const char *dir)
{
    struct stat st;
    int n = snprintf(out, size, "%s/" PLAYBOOK_FILE, dir);

    return n > 0 && (size_t)n < size && stat(out, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* The installed folder next to the running binary: EXE/../share/... */
static bool playbook_path_beside_exe(char *out, size_t size)
{
    char exe[PATH_MAX], dir[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return false;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) == NULL)
        return false;
    *slash = '\0';
    snprintf(dir, sizeof(dir), "%s/../share/spamstop/playbooks", exe);
    return playbook_path_in(out, size, dir);
}

/*
 * Finds the default playbook: $SPAMSTOP_PLAYBOOK_DIR when set (and only
 * there), else BIN/../share/spamstop/playbooks beside the running binary,
 * else the compile-time folder, else the source tree.
 */
int cmd_default_playbook(char *out, size_t size, struct errbuf *err)
{
    const char *env = getenv("SPAMSTOP_PLAYBOOK_DIR");

    if (env != NULL && env[0] != '\0') {
        if (playbook_path_in(out, size, env))
            return 0;
        return errbuf_set(err, SS_ENOENT,
                          "no playbook '" PLAYBOOK_FILE "' in '%.512s' "
                          "($SPAMSTOP_PLAYBOOK_DIR; use -p FILE)",
                          env);
    }
    if (playbook_path_beside_exe(out, size))
        return 0;
    return playbook_default_path(out, size, err);
}
