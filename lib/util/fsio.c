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

/* write() until all of data is out, retrying interrupted calls. */
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

/* One counted write: the test hook's failure, or write_all's. */
static int write_counted(int fd, const void *data, size_t len)
{
    if (fsio_injected_failure())
        return -1;
    return write_all(fd, data, len);
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
    int r = 0;

    if (fd < 0)
        return errbuf_errno(err, SS_ERR, "cannot open folder '%s'", dir);
    if (fsync(fd) < 0)
        r = errbuf_errno(err, SS_ERR, "cannot sync folder '%s'", dir);
    (void)close(fd); /* read-only: the fsync above said all there is */
    return r;
}

/* Writes the temporary name of path, "<path>.<pid>.tmp", into out. */
static int temp_name(char *out, size_t size, const char *path,
                     struct errbuf *err)
{
    int n = snprintf(out, size, "%s.%ld.tmp", path, (long)getpid());

    if (n < 0 || (size_t)n >= size)
        return errbuf_set(err, SS_EINVAL, "path too long '%s'", path);
    return 0;
}

int fsio_open_temp(int *out_fd, const char *path, mode_t mode,
                   struct errbuf *err)
{
    char tmp[4096];
    int fd, r;

    *out_fd = -1;
    if ((r = temp_name(tmp, sizeof(tmp), path, err)) < 0)
        return r;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return errbuf_errno(err, SS_ERR, "cannot create '%s'", tmp);
    /* A temporary left by a crash may have another mode; umask may too. */
    if (fchmod(fd, mode) < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot set the mode of '%s'", tmp);
        fsio_abort_temp(&fd, path);
        return r;
    }
    *out_fd = fd;
    return 0;
}

int fsio_commit_temp(int *fd, const char *path, struct errbuf *err)
{
    char tmp[4096], dir[4096];
    int r;

    if ((r = temp_name(tmp, sizeof(tmp), path, err)) < 0)
        goto out;
    r = SS_ERR;
    if (fsio_injected_failure() || fsync(*fd) < 0) {
        errbuf_errno(err, SS_ERR, "cannot write '%s'", tmp);
        goto out;
    }
    /* close is where some file systems report a failed write. */
    if (close(*fd) < 0) {
        *fd = -1;
        errbuf_errno(err, SS_ERR, "cannot write '%s'", tmp);
        goto out;
    }
    *fd = -1;
    if (rename(tmp, path) < 0) {
        errbuf_errno(err, SS_ERR, "cannot rename '%s'", tmp);
        goto out;
    }
    dir_of(dir, sizeof(dir), path);
    r = fsio_sync_dir(dir, err);
out:
    if (r < 0)
        fsio_abort_temp(fd, path);
    return r;
}

void fsio_abort_temp(int *fd, const char *path)
{
    char tmp[4096];

    if (*fd >= 0)
        (void)close(*fd); /* the file is dropped: its errors do not matter */
    *fd = -1;
    /* Gone already when the rename happened or the open failed: fine. */
    if (temp_name(tmp, sizeof(tmp), path, NULL) == 0)
        (void)unlink(tmp);
}

int fsio_write_atomic(const char *path, const void *data, size_t len,
                      mode_t mode, struct errbuf *err)
{
    int fd = -1, r;

    if ((r = fsio_open_temp(&fd, path, mode, err)) < 0)
        return r;
    if (write_counted(fd, data, len) < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot write '%s'", path);
        fsio_abort_temp(&fd, path);
        return r;
    }
    return fsio_commit_temp(&fd, path, err);
}

int fsio_append(int fd, const void *data, size_t len, int sync,
                struct errbuf *err)
{
    if (write_counted(fd, data, len) < 0)
        return errbuf_errno(err, SS_ERR, "cannot append");
    if (sync && fdatasync(fd) < 0)
        return errbuf_errno(err, SS_ERR, "cannot sync");
    return 0;
}

int fsio_truncate(int fd, off_t len, struct errbuf *err)
{
    if (fsio_injected_failure() || ftruncate(fd, len) < 0)
        return errbuf_errno(err, SS_ERR, "cannot truncate");
    if (fsync(fd) < 0)
        return errbuf_errno(err, SS_ERR, "cannot sync");
    return 0;
}

int fsio_open_append(int *out_fd, const char *path, struct errbuf *err)
{
    char dir[4096];
    struct stat st;
    int existed = stat(path, &st) == 0;
    int fd, r;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0)
        return errbuf_errno(err, SS_ERR, "cannot open '%s'", path);
    if (!existed) {
        dir_of(dir, sizeof(dir), path);
        if ((r = fsio_sync_dir(dir, err)) < 0) {
            (void)close(fd); /* nothing was written to it */
            return r;
        }
    }
    *out_fd = fd;
    return 0;
}

int fsio_mkdirs(const char *path, mode_t mode, struct errbuf *err)
{
    char tmp[4096], dir[4096];
    size_t i, n = strlen(path);
    int r;

    if (n == 0 || n >= sizeof(tmp))
        return errbuf_set(err, SS_EINVAL, "bad folder name '%s'", path);
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, mode) == 0) {
            /* A new folder survives a crash once its parent is synced. */
            dir_of(dir, sizeof(dir), tmp);
            if ((r = fsio_sync_dir(dir, err)) < 0)
                return r;
        } else if (errno != EEXIST) {
            return errbuf_errno(err, SS_ERR, "cannot create folder '%s'", tmp);
        }
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
    (void)close(fd); /* read-only: nothing to lose */
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
