/* Fake host tools for unit tests; see fake_tool.h. */
#include <stdio.h>
#include <sys/stat.h>

#include "fake_tool.h"

int fake_tool(const char *dir, const char *name, const char *body)
{
    char path[512];
    FILE *f;
    int r;

    snprintf(path, sizeof(path), "%s/bin", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/bin/%s", dir, name);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    r = fprintf(f, "#!/bin/sh\n%s", body) < 0 ? -1 : 0;
    if (fclose(f) != 0 || chmod(path, 0700) != 0)
        r = -1;
    return r;
}
