/* Every file spamstop writes goes through here: atomic, fsynced, owner-only. */
#ifndef SPAMSTOP_FSIO_H
#define SPAMSTOP_FSIO_H

#include <stddef.h>
#include <sys/types.h>

#include "spamstop/error.h"

/*
 * Test hook: when set (to N > 0), the Nth write operation from now fails
 * with ENOSPC.  Each fsio_append, fsio_truncate and fsio_commit_temp is
 * one operation; fsio_write_atomic is two (its write, then its commit).
 * Lets unit tests fail a write at any point.  Not thread-safe: set it
 * only in single-threaded tests.
 */
extern int fsio_fail_after;

/*
 * Writes data to path via a temporary file, fsync, rename, fsync(dir):
 * after a crash path holds its old content or all of data.
 */
int fsio_write_atomic(const char *path, const void *data, size_t len,
                      mode_t mode, struct errbuf *err);

/*
 * A file written piece by piece that must never show half-written under
 * its name: fsio_open_temp creates "<path>.<pid>.tmp" (truncated, with
 * mode, never through a symlink) and hands its fd to the caller, who
 * writes it with fsio_append, then gives the fd back to exactly one of
 * fsio_commit_temp or fsio_abort_temp.
 */
int fsio_open_temp(int *out_fd, const char *path, mode_t mode,
                   struct errbuf *err);

/*
 * Makes the temporary of path its content: fsync, close, rename over
 * path, fsync of the folder.  Takes *fd in every case (closed, set to
 * -1); on failure the temporary is removed and path keeps its old content.
 */
int fsio_commit_temp(int *fd, const char *path, struct errbuf *err);

/* Closes *fd (when >= 0; set to -1) and removes path's temporary. */
void fsio_abort_temp(int *fd, const char *path);

/*
 * Appends len bytes to an open fd (the caller keeps it); with sync,
 * fdatasync follows.
 */
int fsio_append(int fd, const void *data, size_t len, int sync,
                struct errbuf *err);

/*
 * Cuts the file open as fd to len bytes and fsyncs it, e.g. to drop a
 * torn last record.
 */
int fsio_truncate(int fd, off_t len, struct errbuf *err);

/* Opens path for appending (created 0600), fsyncing its folder when new. */
int fsio_open_append(int *out_fd, const char *path, struct errbuf *err);

/* fsync of a folder, so a new or renamed entry in it survives a crash. */
int fsio_sync_dir(const char *dir, struct errbuf *err);

/*
 * mkdir -p with mode for the folders it creates (0700 for ours), each
 * new one's parent fsynced.
 */
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
