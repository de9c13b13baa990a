/*
 * durable: making writes survive a crash (DESIGN.md section 9: "250 means
 * on disk").  A file is durable once its data is fsync'd and the directory
 * entry that names it is fsync'd too.
 *
 * durable_sync_many() fsyncs a batch of descriptors concurrently on a small
 * pool of threads: a journaling file system folds concurrent fsyncs into one
 * journal commit, which is what makes group commit pay off.
 */
#ifndef COMMON_DURABLE_H
#define COMMON_DURABLE_H

#include <stdbool.h>
#include <stddef.h>

/* fsync(fd); on failure errno is set and -1 returned. */
int durable_fsync(int fd);
/* Open a directory read-only, fsync it, close it. */
int durable_fsync_dir(const char *path);
/* fsync the directory that contains path. */
int durable_fsync_parent(const char *path);
/* mkdir -p with each newly made level fsync'd into its parent. */
int durable_mkdirs(const char *path, int mode);

/* Start the sync pool (idempotent); nthreads 0 picks a default. */
void durable_pool_start(int nthreads);
/*
 * fsync every fd in fds (fds[i] < 0 are skipped), using the pool when it
 * runs.  errs[i] receives 0 or the errno of fds[i]'s fsync.  Returns the
 * number of failures.
 */
int durable_sync_many(const int *fds, int *errs, size_t n);
/* The same for directories by path. */
int durable_sync_dirs(const char *const *paths, int *errs, size_t n);
/* Both at once, in one round of the pool. */
int durable_sync_mixed(const int *fds, int *fd_errs, size_t nfds,
    const char *const *paths, int *path_errs, size_t npaths);

/* Write buf to path atomically and durably: temp file, fsync, rename,
 * fsync the directory. */
int durable_write_file(const char *path, const void *buf, size_t len, int mode);

#endif
