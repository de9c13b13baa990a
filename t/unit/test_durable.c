/* test_durable: atomic durable file writes, mkdir -p, and batched fsync
 * with and without the thread pool, including the errors of bad
 * descriptors and of a failing fsync (injected below). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "durable.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * fsync is interposed: the test's definition is the one durable.c calls.
 * fsync_fail_errno != 0 makes the next fsync_fail_count calls fail with it.
 */
static int fsync_fail_errno, fsync_fail_count;
static pthread_mutex_t fsync_lock = PTHREAD_MUTEX_INITIALIZER;

int
fsync(int fd)
{
	int err = 0;

	pthread_mutex_lock(&fsync_lock);
	if (fsync_fail_count > 0) {
		fsync_fail_count--;
		err = fsync_fail_errno;
	}
	pthread_mutex_unlock(&fsync_lock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

static void
fsync_fail(int err, int count)
{
	pthread_mutex_lock(&fsync_lock);
	fsync_fail_errno = err;
	fsync_fail_count = count;
	pthread_mutex_unlock(&fsync_lock);
}

static char tmpdir[64];

static const char *
at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, rel);
	return p;
}

/* The lowest free descriptor: it rises if something leaked one. */
static int
lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);
	close(fd);
	return fd;
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static bool
file_is(const char *path, const char *want, size_t len)
{
	char buf[64];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)len && memcmp(buf, want, len) == 0;
}

static const struct {
	const char *content;
	int mode;
} write_cases[] = {
	{ "hello\n", 0640 },
	{ "replaced, longer than before\n", 0600 },
	{ "", 0644 },
	{ "short", 0600 },
};

static void
test_write_file(void)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s", at("w/file"));

	CHECK(durable_mkdirs(at("w"), 0700) == 0);
	for (size_t i = 0; i < N(write_cases); i++) {
		size_t len = strlen(write_cases[i].content);

		CHECK(durable_write_file(path, write_cases[i].content, len,
		    write_cases[i].mode) == 0);
		CHECK(file_is(path, write_cases[i].content, len));
		CHECK(stat(path, &st) == 0 &&
		    (st.st_mode & 0777) == (mode_t)write_cases[i].mode);
		CHECK(count_entries(at("w")) == 1);     /* no temp file left */
	}
	/* replacing keeps exactly one file with the new content */
	CHECK(durable_write_file(path, "one", 3, 0600) == 0);
	CHECK(durable_write_file(path, "two", 3, 0600) == 0);
	CHECK(file_is(path, "two", 3));
	CHECK(count_entries(at("w")) == 1);

	/* a large write */
	size_t big = 4 << 20;
	char *buf = malloc(big);
	for (size_t k = 0; k < big; k++)
		buf[k] = (char)(k * 7);
	CHECK(durable_write_file(at("w/big"), buf, big, 0600) == 0);
	CHECK(stat(at("w/big"), &st) == 0 && (size_t)st.st_size == big);
	free(buf);
	unlink(at("w/big"));
}

static void
test_write_file_errors(void)
{
	int fd0 = lowest_free_fd();

	/* a missing directory */
	errno = 0;
	CHECK(durable_write_file(at("nodir/file"), "x", 1, 0600) == -1);
	CHECK(errno == ENOENT);

	/* the target is a directory: rename fails, the temp file goes */
	CHECK(durable_mkdirs(at("e/isdir"), 0700) == 0);
	errno = 0;
	CHECK(durable_write_file(at("e/isdir"), "x", 1, 0600) == -1);
	CHECK(errno == EISDIR);
	CHECK(count_entries(at("e")) == 1);

	/* fsync fails: -1 with its errno, no temp file, no descriptor kept,
	 * the old content untouched */
	CHECK(durable_write_file(at("e/f"), "old", 3, 0600) == 0);
	fd0 = lowest_free_fd();
	fsync_fail(EIO, 1);
	errno = 0;
	CHECK(durable_write_file(at("e/f"), "new", 3, 0600) == -1);
	CHECK(errno == EIO);
	fsync_fail(0, 0);
	CHECK(file_is(at("e/f"), "old", 3));
	CHECK(count_entries(at("e")) == 2);
	CHECK(lowest_free_fd() == fd0);

	/* a name too long for the temp file */
	char longname[PATH_MAX + 8];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	errno = 0;
	CHECK(durable_write_file(longname, "x", 1, 0600) == -1);
	CHECK(errno == ENAMETOOLONG);
	CHECK(lowest_free_fd() == fd0);
}

/* mkdir -p; each path relative to the test directory. */
static const struct {
	const char *path;
	int rc;
	int err;
	const char *isdir;      /* checked afterwards, NULL: path itself */
} mkdirs_cases[] = {
	{ "m/a", 0, 0, NULL },
	{ "m/a/b/c/d", 0, 0, NULL },
	{ "m/a/b/c/d", 0, 0, NULL },            /* already there */
	{ "m/a", 0, 0, NULL },
	{ "m/x//y", 0, 0, "m/x/y" },
	{ "m/t/", 0, 0, "m/t" },
	{ "m/file/sub", -1, ENOTDIR, "m" },     /* m/file is a regular file */
	{ "m/file", -1, EEXIST, "m" },          /* exists, but not a dir */
};

static void
test_mkdirs(void)
{
	CHECK(durable_mkdirs(tmpdir, 0700) == 0);       /* absolute, exists */
	CHECK(durable_mkdirs(at("m"), 0700) == 0);
	CHECK(durable_write_file(at("m/file"), "x", 1, 0600) == 0);
	for (size_t i = 0; i < N(mkdirs_cases); i++) {
		struct stat st;

		errno = 0;
		int rc = durable_mkdirs(at(mkdirs_cases[i].path), 0750);
		CHECK(rc == mkdirs_cases[i].rc);
		if (mkdirs_cases[i].err != 0)
			CHECK(errno == mkdirs_cases[i].err);
		if (rc != mkdirs_cases[i].rc)
			fprintf(stderr, "  \"%s\": rc %d errno %d\n",
			    mkdirs_cases[i].path, rc, errno);
		const char *d = mkdirs_cases[i].isdir ? mkdirs_cases[i].isdir
		                                      : mkdirs_cases[i].path;
		CHECK(stat(at(d), &st) == 0 && S_ISDIR(st.st_mode));
	}
	char longpath[PATH_MAX + 8];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	errno = 0;
	CHECK(durable_mkdirs(longpath, 0700) == -1 && errno == ENAMETOOLONG);
}

enum { NFILES = 6 };

/* fds[0..NFILES-1] good files, then -1 (skipped), a closed fd, a pipe. */
struct fdset {
	int fds[NFILES + 4];
	int want[NFILES + 4];
	size_t n;
	int pipe[2];
};

/* No CHECK or at() here: committer threads call it (neither is
 * thread-safe); returns false if something could not be set up. */
static bool
fdset_open(struct fdset *s)
{
	char name[128];         /* not at(): its buffers are shared */
	bool ok = true;

	s->n = 0;
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "%s/s/f%d", tmpdir, i);
		s->fds[s->n] = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		ok = ok && s->fds[s->n] >= 0 &&
		    write(s->fds[s->n], name, strlen(name)) > 0;
		s->want[s->n++] = 0;
	}
	s->fds[s->n] = -1;
	s->want[s->n++] = 0;
	/* never open (a just-closed fd could be reused by another thread) */
	s->fds[s->n] = 1 << 30;
	s->want[s->n++] = EBADF;
	ok = ok && pipe(s->pipe) == 0;
	s->fds[s->n] = s->pipe[0];
	s->want[s->n++] = EINVAL;
	return ok;
}

static void
fdset_close(struct fdset *s)
{
	for (int i = 0; i < NFILES; i++)
		close(s->fds[i]);
	close(s->pipe[0]);
	close(s->pipe[1]);
}

static void
check_sync_many(void)
{
	struct fdset s;
	int errs[NFILES + 4];

	CHECK(fdset_open(&s));
	memset(errs, 0x55, sizeof(errs));
	CHECK(durable_sync_many(s.fds, errs, s.n) == 2);
	for (size_t i = 0; i < s.n; i++) {
		CHECK(errs[i] == s.want[i]);
		if (errs[i] != s.want[i])
			fprintf(stderr, "  fd[%zu]=%d: errs %d want %d\n", i, s.fds[i],
			    errs[i], s.want[i]);
	}
	/* all good */
	memset(errs, 0x55, sizeof(errs));
	CHECK(durable_sync_many(s.fds, errs, NFILES) == 0);
	for (size_t i = 0; i < NFILES; i++)
		CHECK(errs[i] == 0);
	/* one fd: the caller's thread does it */
	CHECK(durable_sync_many(s.fds + NFILES + 1, errs, 1) == 1);
	CHECK(errs[0] == EBADF);
	CHECK(durable_sync_many(s.fds, errs, 0) == 0);
	/* an injected EIO is reported for its fd; EINTR is retried */
	fsync_fail(EIO, 1);
	CHECK(durable_sync_many(s.fds, errs, 1) == 1 && errs[0] == EIO);
	fsync_fail(EINTR, 3);
	CHECK(durable_sync_many(s.fds, errs, NFILES) == 0);
	fsync_fail(0, 0);
	fdset_close(&s);
}

static void
check_sync_dirs(void)
{
	const char *paths[] = { at("s"), at("nonexistent"), tmpdir,
	    at("s/f0") };
	int errs[4];

	memset(errs, 0x55, sizeof(errs));
	CHECK(durable_sync_dirs(paths, errs, 4) == 2);
	CHECK(errs[0] == 0);
	CHECK(errs[1] == ENOENT);
	CHECK(errs[2] == 0);
	CHECK(errs[3] == ENOTDIR);
	CHECK(durable_fsync_parent(at("s/f0")) == 0);
	CHECK(durable_fsync_parent("relative") == 0);   /* "." */
	CHECK(durable_fsync_parent("/etc") == 0);       /* "/" */
	CHECK(durable_fsync_dir(at("nonexistent")) == -1 && errno == ENOENT);
}

static void
test_sync_no_pool(void)
{
	CHECK(durable_mkdirs(at("s"), 0700) == 0);
	check_sync_many();
	check_sync_dirs();
}

static void
test_sync_pool(void)
{
	durable_pool_start(4);
	durable_pool_start(4);          /* idempotent */
	durable_pool_start(0);          /* default size, adds threads */
	check_sync_many();
	check_sync_dirs();
}

/* Several committers at once: batches are serialised, none is lost. */
static void *
committer(void *arg)
{
	int *bad = arg;

	for (int round = 0; round < 50; round++) {
		struct fdset s;
		int errs[NFILES + 4];

		*bad += !fdset_open(&s);
		int n = durable_sync_many(s.fds, errs, s.n);
		for (size_t i = 0; i < s.n; i++)
			*bad += errs[i] != s.want[i];
		*bad += n != 2;
		fdset_close(&s);
	}
	return NULL;
}

static void
test_sync_pool_concurrent(void)
{
	pthread_t t[4];
	int bad[4] = { 0 };

	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, committer, &bad[i]) == 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(bad[i] == 0);
	}
}

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[PATH_MAX];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_durable.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	umask(022);
	UNIT_RUN(test_write_file);
	UNIT_RUN(test_write_file_errors);
	UNIT_RUN(test_mkdirs);
	UNIT_RUN(test_sync_no_pool);
	UNIT_RUN(test_sync_pool);
	UNIT_RUN(test_sync_pool_concurrent);
	rm_rf(tmpdir);
	return unit_done();
}
