/*
 * queue_entry: one entry file, read and written whole (see queue_entry.h).
 */
#include "queue_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "xmalloc.h"

#define QUEUE_ENTRY_READ 16384

bool
queue_entry_envelope(int fd, struct queue_env *env, size_t *body, char **err)
{
	size_t len = 0, cap = 0, scanned = 0;
	char *buf = NULL;
	struct stat st;
	bool ok;

	for (;;) {
		/* The empty line may straddle two reads. */
		size_t from = scanned > 0 ? scanned - 1 : 0;
		if (len > from && memmem(buf + from, len - from, "\n\n", 2))
			break;
		scanned = len;
		if (len >= QUEUE_ENTRY_ENVELOPE_MAX) {
			*err = xasprintf("envelope larger than %d bytes",
			    QUEUE_ENTRY_ENVELOPE_MAX);
			free(buf);
			return false;
		}
		if (cap - len < QUEUE_ENTRY_READ)
			buf = xrealloc(buf, cap += QUEUE_ENTRY_READ);
		ssize_t n = read(fd, buf + len, QUEUE_ENTRY_READ);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = xasprintf("read: %s", strerror(errno));
			free(buf);
			return false;
		}
		if (n == 0)
			break;          /* the parser names what is missing */
		len += (size_t)n;
	}
	ok = queue_env_parse(buf ? buf : "", len, env, body, err);
	if (ok && fstat(fd, &st) == 0 && (uint64_t)st.st_size >= *body)
		env->size = (uint64_t)st.st_size - *body;
	free(buf);
	return ok;
}

bool
queue_entry_message(int fd, size_t body, uint64_t size, char **msg,
    char **err)
{
	size_t got = 0;

	*msg = xmalloc(size + 1);
	while (got < size) {
		ssize_t n = pread(fd, *msg + got, size - got, (off_t)(body + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = xasprintf("read: %s", n == 0 ? "short file" :
			    strerror(errno));
			free(*msg);
			*msg = NULL;
			return false;
		}
		got += (size_t)n;
	}
	return true;
}

bool
queue_entry_read(const char *path, struct queue_env *env, char **msg,
    size_t *len, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t body = 0;
	bool ok;

	*msg = NULL;
	*len = 0;
	if (fd == -1) {
		*err = xasprintf("open(\"%s\"): %s", path, strerror(errno));
		return false;
	}
	ok = queue_entry_envelope(fd, env, &body, err) &&
	    queue_entry_message(fd, body, env->size, msg, err);
	close(fd);
	if (!ok) {
		queue_env_clear(env);
		return false;
	}
	*len = env->size;
	return true;
}

static int
queue_entry_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
queue_entry_write(const char *path, const struct queue_env *env,
    const char *msg, size_t len, char **err)
{
	const char *slash = strrchr(path, '/');
	char *tmp = slash ? xasprintf("%.*s/.%s.new", (int)(slash - path), path,
	    slash + 1) : xasprintf(".%s.new", path);
	char *text = queue_env_format(env);
	int fd = -1, rc = -1;

	if (text == NULL) {
		*err = xasprintf("%s: envelope cannot be written: %s", path,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd != -1 && queue_entry_write_all(fd, text, strlen(text)) == 0 &&
	    queue_entry_write_all(fd, msg, len) == 0 && durable_fsync(fd) == 0 &&
	    rename(tmp, path) == 0 && durable_fsync_parent(path) == 0)
		rc = 0;
	if (rc != 0) {
		*err = xasprintf("writing \"%s\": %s", tmp, strerror(errno));
		unlink(tmp);
	}
	if (fd != -1)
		close(fd);
	free(text);
	free(tmp);
	return rc;
}
