/*
 * durable: fsync helpers and the sync pool (see durable.h).
 *
 * The pool is a fixed set of threads taking jobs from one queue; the caller
 * of durable_sync_many() blocks until every fd of its batch is done.  It is
 * meant for a dedicated commit thread, never for an event loop thread.
 */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

#define DURABLE_POOL_DEFAULT 8
#define DURABLE_POOL_MAX     64

/* Jobs 0..nfds-1 are descriptors, the rest directory paths. */
struct durable_batch {
	const int *fds;
	const char *const *paths;
	int *fd_errs, *path_errs;
	size_t nfds, n, next, done;
	pthread_cond_t finished;
};

static pthread_mutex_t durable_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t durable_work = PTHREAD_COND_INITIALIZER;
static struct durable_batch *durable_current;
static int durable_threads;

int
durable_fsync(int fd)
{
	while (fsync(fd) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

int
durable_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	int rc = durable_fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
durable_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return durable_fsync_dir(".");
	if ((size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return durable_fsync_dir(slash == path ? "/" : dir);
}

static bool
durable_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int
durable_mkdirs(const char *path, int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) == 0) {
			if (durable_fsync_parent(buf) == -1)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		} else if (saved == '\0' && !durable_is_dir(buf)) {
			/* mkdir -p fails on a file in the way; inner levels get
			 * ENOTDIR from the next mkdir. */
			errno = EEXIST;
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

static int
durable_job(const struct durable_batch *b, size_t i)
{
	if (i < b->nfds)
		return b->fds[i] < 0 || durable_fsync(b->fds[i]) == 0 ? 0 : errno;
	return durable_fsync_dir(b->paths[i - b->nfds]) == 0 ? 0 : errno;
}

static int *
durable_err_slot(struct durable_batch *b, size_t i)
{
	return i < b->nfds ? &b->fd_errs[i] : &b->path_errs[i - b->nfds];
}

static void *
durable_worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&durable_lock);
	for (;;) {
		struct durable_batch *b = durable_current;
		if (b == NULL || b->next == b->n) {
			pthread_cond_wait(&durable_work, &durable_lock);
			continue;
		}
		size_t i = b->next++;
		pthread_mutex_unlock(&durable_lock);
		int err = durable_job(b, i);
		pthread_mutex_lock(&durable_lock);
		*durable_err_slot(b, i) = err;
		if (++b->done == b->n)
			pthread_cond_signal(&b->finished);
	}
	return NULL;
}

void
durable_pool_start(int nthreads)
{
	pthread_mutex_lock(&durable_lock);
	if (nthreads <= 0)
		nthreads = DURABLE_POOL_DEFAULT;
	if (nthreads > DURABLE_POOL_MAX)
		nthreads = DURABLE_POOL_MAX;
	for (; durable_threads < nthreads; durable_threads++) {
		pthread_t t;
		if (pthread_create(&t, NULL, durable_worker, NULL) != 0)
			break;
		pthread_detach(t);
	}
	pthread_mutex_unlock(&durable_lock);
}

static int
durable_run(struct durable_batch *b)
{
	int failures = 0;

	if (durable_threads == 0 || b->n == 1) {
		for (size_t i = 0; i < b->n; i++)
			*durable_err_slot(b, i) = durable_job(b, i);
	} else {
		/* One batch at a time: callers are serialised on the lock. */
		pthread_cond_init(&b->finished, NULL);
		pthread_mutex_lock(&durable_lock);
		while (durable_current != NULL)
			pthread_cond_wait(&durable_work, &durable_lock);
		durable_current = b;
		pthread_cond_broadcast(&durable_work);
		while (b->done < b->n)
			pthread_cond_wait(&b->finished, &durable_lock);
		durable_current = NULL;
		pthread_cond_broadcast(&durable_work);
		pthread_mutex_unlock(&durable_lock);
		pthread_cond_destroy(&b->finished);
	}
	for (size_t i = 0; i < b->n; i++)
		failures += *durable_err_slot(b, i) != 0;
	return failures;
}

int
durable_sync_mixed(const int *fds, int *fd_errs, size_t nfds,
    const char *const *paths, int *path_errs, size_t npaths)
{
	struct durable_batch b = { .fds = fds, .fd_errs = fd_errs, .nfds = nfds,
	    .paths = paths, .path_errs = path_errs, .n = nfds + npaths };
	return b.n == 0 ? 0 : durable_run(&b);
}

int
durable_sync_many(const int *fds, int *errs, size_t n)
{
	return durable_sync_mixed(fds, errs, n, NULL, NULL, 0);
}

int
durable_sync_dirs(const char *const *paths, int *errs, size_t n)
{
	return durable_sync_mixed(NULL, NULL, 0, paths, errs, n);
}

int
durable_write_file(const char *path, const void *buf, size_t len, int mode)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd == -1)
		return -1;
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (durable_fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1)
		goto fail_closed;
	if (rename(tmp, path) == -1)
		goto fail_closed;
	return durable_fsync_parent(path);
fail:
	saved = errno;
	close(fd);
	errno = saved;
fail_closed:
	saved = errno;
	unlink(tmp);
	errno = saved;
	return -1;
}
