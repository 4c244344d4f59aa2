/* Every file spamstop writes goes through here: atomic, fsynced, owner-only. */
#ifndef SPAMSTOP_FSIO_H
#define SPAMSTOP_FSIO_H

#include <stddef.h>
#include <sys/types.h>

#include "spamstop/error.h"

/*
 * Test hook: when set (to N > 0), the Nth write operation from now fails
 * with ENOSPC.  Lets unit tests fail a write at any point.
 */
extern int fsio_fail_after;

/* Writes data to path via a temporary file, fsync, rename, fsync(dir). */
int fsio_write_atomic(const char *path, const void *data, size_t len,
                      mode_t mode, struct errbuf *err);

/* Appends len bytes to an open fd; with sync, fdatasync follows. */
int fsio_append(int fd, const void *data, size_t len, int sync,
                struct errbuf *err);

/* Opens path for appending (created 0600), fsyncing its folder when new. */
int fsio_open_append(int *out_fd, const char *path, struct errbuf *err);

/* fsync of a folder, so a new or renamed entry in it survives a crash. */
int fsio_sync_dir(const char *dir, struct errbuf *err);

/* mkdir -p with mode for the folders it creates (0700 for ours). */
int fsio_mkdirs(const char *path, mode_t mode, struct errbuf *err);

/* Reads a whole file into *out (NUL-terminated, caller frees), max bytes. */
int fsio_read_file(char **out, size_t *out_len, const char *path, size_t max,
                   struct errbuf *err);

/*
 * Refuses a folder that a user other than the owner can write, or that is
 * not owned by us: the state directory must be ours alone.
 */
int fsio_check_private_dir(const char *path, struct errbuf *err);

#endif
