/* Atomic, durable, owner-only file writes; the one place we touch disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spamstop/fsio.h"

int fsio_fail_after;

/* The test hook: true when this write must fail with ENOSPC. */
static int fsio_injected_failure(void)
{
    if (fsio_fail_after <= 0)
        return 0;
    if (--fsio_fail_after == 0) {
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies the folder part of path into dir (at least "."). */
static void dir_of(char *dir, size_t size, const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        snprintf(dir, size, ".");
    } else if (slash == path) {
        snprintf(dir, size, "/");
    } else {
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
    }
}

int fsio_sync_dir(const char *dir, struct errbuf *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return errbuf_errno(err, SS_ERR, "cannot open folder '%s'", dir);
    if (fsync(fd) < 0) {
        close(fd);
        return errbuf_errno(err, SS_ERR, "cannot sync folder '%s'", dir);
    }
    close(fd);
    return 0;
}

int fsio_write_atomic(const char *path, const void *data, size_t len,
                      mode_t mode, struct errbuf *err)
{
    char tmp[4096], dir[4096];
    int fd = -1, r = SS_ERR;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return errbuf_set(err, SS_ERR, "path too long '%s'", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        errbuf_errno(err, SS_ERR, "cannot create '%s'", tmp);
        goto out;
    }
    if (fchmod(fd, mode) < 0 || fsio_injected_failure() ||
        write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        errbuf_errno(err, SS_ERR, "cannot write '%s'", tmp);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        errbuf_errno(err, SS_ERR, "cannot write '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        errbuf_errno(err, SS_ERR, "cannot rename '%s'", tmp);
        goto out;
    }
    dir_of(dir, sizeof(dir), path);
    r = fsio_sync_dir(dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (r < 0)
        unlink(tmp);
    return r;
}

int fsio_append(int fd, const void *data, size_t len, int sync,
                struct errbuf *err)
{
    if (fsio_injected_failure() || write_all(fd, data, len) < 0)
        return errbuf_errno(err, SS_ERR, "cannot append");
    if (sync && fdatasync(fd) < 0)
        return errbuf_errno(err, SS_ERR, "cannot sync");
    return 0;
}

int fsio_open_append(int *out_fd, const char *path, struct errbuf *err)
{
    char dir[4096];
    struct stat st;
    int existed = stat(path, &st) == 0;
    int fd;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0)
        return errbuf_errno(err, SS_ERR, "cannot open '%s'", path);
    if (!existed) {
        dir_of(dir, sizeof(dir), path);
        if (fsio_sync_dir(dir, err) < 0) {
            close(fd);
            return err ? err->code : SS_ERR;
        }
    }
    *out_fd = fd;
    return 0;
}

int fsio_mkdirs(const char *path, mode_t mode, struct errbuf *err)
{
    char tmp[4096];
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(tmp))
        return errbuf_set(err, SS_EINVAL, "bad folder name '%s'", path);
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return errbuf_errno(err, SS_ERR, "cannot create folder '%s'", tmp);
        if (i < n)
            tmp[i] = '/';
    }
    return 0;
}

int fsio_read_file(char **out, size_t *out_len, const char *path, size_t max,
                   struct errbuf *err)
{
    char *data = NULL;
    size_t len = 0, alloc = 0;
    int fd, r = SS_ERR;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errbuf_errno(err, errno == ENOENT ? SS_ENOENT : SS_ERR,
                            "cannot open '%s'", path);
    for (;;) {
        ssize_t n;
        if (alloc - len < 4096) {
            size_t na = alloc ? alloc * 2 : 8192;
            char *p = realloc(data, na + 1);
            if (p == NULL) {
                r = errbuf_set(err, SS_ERR, "out of memory reading '%s'", path);
                goto out;
            }
            data = p;
            alloc = na;
        }
        n = read(fd, data + len, alloc - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            errbuf_errno(err, SS_ERR, "cannot read '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            r = errbuf_set(err, SS_ETOOBIG, "'%s' is larger than %zu bytes",
                           path, max);
            goto out;
        }
    }
    if (data == NULL && (data = malloc(1)) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory reading '%s'", path);
        goto out;
    }
    data[len] = '\0';
    *out = data;
    data = NULL;
    if (out_len != NULL)
        *out_len = len;
    r = 0;
out:
    free(data);
    close(fd);
    return r;
}

int fsio_check_private_dir(const char *path, struct errbuf *err)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return errbuf_errno(err, SS_ERR, "cannot use state folder '%s'", path);
    if (!S_ISDIR(st.st_mode))
        return errbuf_set(err, SS_EINVAL, "state folder '%s' is not a folder",
                          path);
    if (st.st_uid != geteuid())
        return errbuf_set(err, SS_EINVAL,
                          "state folder '%s' belongs to another user", path);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return errbuf_set(err, SS_EINVAL,
                          "state folder '%s' is writable by others (chmod "
                          "700 it)",
                          path);
    return 0;
}
