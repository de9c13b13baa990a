/*
 * queue: the queue directory, message files and group commit (see queue.h
 * for the layout, the order of operations and the envelope format).
 *
 * Owns: root/tmp and everything a request creates until its callback has
 * run.  The loop thread writes messages (buffered) and formats envelopes;
 * the commit thread takes every request waiting at that moment (up to
 * QUEUE_BATCH_ENTRIES entries, to bound the descriptors held) as one batch
 * and makes it durable in two parallel fsync rounds of the durable pool,
 * then hands the results back to the loop thread through an event, where
 * each callback runs.  A failure fails its request only (or every request
 * sharing a directory whose fsync failed) and undoes what it made.
 */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "xmalloc.h"

#define QUEUE_BATCH_ENTRIES 512
#define QUEUE_FILE_MODE     0600
#define QUEUE_DIR_MODE      0700

struct queue_msg {
	struct queue *q;
	char id[QUEUE_ID_LEN + 1];
	char *path;                 /* root/tmp/ID */
	int fd;
	char *buf;                  /* QUEUE_MSG_BUFSIZE */
	size_t buflen;
	uint64_t size;
	int err;                    /* sticky write error */
};

/* One destination channel of a request. */
struct queue_entry {
	char *dir;                  /* root/CHANNEL or root/CHANNEL/SS */
	char *rel;                  /* CHANNEL[/SS]/ID, the notice */
	char *env_text;
	size_t env_len, dir_idx;
	int env_fd;
	bool linked, tmp_made, renamed;
};

struct queue_req {
	struct queue_req *next;
	struct queue_msg *m;        /* freed by the commit thread */
	struct queue_entry *entries;
	size_t nentries;
	int err;
	queue_commit_cb *cb;
	void *arg;
};

struct queue {
	char *root;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct queue_req *pending, **pending_tail;  /* guarded by lock */
	struct queue_req *done, **done_tail;        /* guarded by lock */
	bool stopping;                              /* guarded by lock */
	unsigned long long batches, reqs;           /* guarded by lock */
	char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* lock */
	int notify_fd;
	size_t inflight;                            /* loop thread */
	pthread_t thread;
	struct event *done_ev;
};

/* ---- names ------------------------------------------------------------ */

static const char queue_b32[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

/* The ID layout is in queue.h. */
static void
queue_make_id(char out[QUEUE_ID_LEN + 1])
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t last_sec, last_usec;
	static unsigned counter;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	uint64_t sec = (uint64_t)tv.tv_sec, usec = (uint64_t)tv.tv_usec;
	pthread_mutex_lock(&lock);
	if (sec < last_sec || (sec == last_sec && usec <= last_usec)) {
		sec = last_sec;
		usec = last_usec;
		if (++counter == 16) {
			counter = 0;
			if (++usec == 1000000) {
				usec = 0;
				sec++;
			}
		}
	} else {
		counter = 0;
	}
	last_sec = sec;
	last_usec = usec;
	uint64_t lo = ((uint64_t)getpid() & ((1u << 22) - 1)) << 4 | counter;
	pthread_mutex_unlock(&lock);
	uint64_t hi = (sec & ((UINT64_C(1) << 34) - 1)) << 20 | usec;
	for (int i = QUEUE_ID_LEN - 1; i >= 0; i--) {
		out[i] = queue_b32[lo & 31];
		lo = (lo >> 5) | (hi & 31) << 21;
		hi >>= 5;
	}
	out[QUEUE_ID_LEN] = '\0';
}

bool
queue_id_valid(const char *id)
{
	size_t i = 0;

	for (; id[i] != '\0'; i++)
		if (i == QUEUE_ID_LEN || strchr(queue_b32, id[i]) == NULL)
			return false;
	return i == QUEUE_ID_LEN;
}

bool
queue_channel_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > QUEUE_CHANNEL_MAX || name[0] == '.' ||
	    strcmp(name, "tmp") == 0)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

int
queue_subdir(const char *id, int subdirs)
{
	uint32_t h = 2166136261u;

	if (subdirs <= 1)
		return -1;
	if (subdirs > QUEUE_SUBDIRS_MAX)
		subdirs = QUEUE_SUBDIRS_MAX;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return (int)(h % (uint32_t)subdirs);
}

/* ---- messages (loop thread) ------------------------------------------- */

static int
queue_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
queue_msg_flush(struct queue_msg *m)
{
	if (m->err == 0 && m->buflen > 0 &&
	    queue_write_all(m->fd, m->buf, m->buflen) == -1) {
		m->err = errno;
		log_err("queue: write(\"%s\"): %s", m->path, strerror(errno));
	}
	m->buflen = 0;
	errno = m->err;
	return m->err == 0 ? 0 : -1;
}

struct queue_msg *
queue_msg_new(struct queue *q, char **err)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	m->q = q;
	queue_make_id(m->id);
	m->path = xasprintf("%s/tmp/%s", q->root, m->id);
	m->fd = open(m->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    QUEUE_FILE_MODE);
	if (m->fd == -1) {
		*err = xasprintf("open(\"%s\"): %s", m->path, strerror(errno));
		free(m->path);
		free(m);
		return NULL;
	}
	m->buf = xmalloc(QUEUE_MSG_BUFSIZE);
	return m;
}

const char *
queue_msg_id(const struct queue_msg *m)
{
	return m->id;
}

uint64_t
queue_msg_size(const struct queue_msg *m)
{
	return m->size;
}

int
queue_msg_write(struct queue_msg *m, const void *buf, size_t len)
{
	const char *p = buf;

	while (m->err == 0 && len > 0) {
		if (m->buflen == 0 && len >= QUEUE_MSG_BUFSIZE) {
			if (queue_write_all(m->fd, p, len) == -1) {
				m->err = errno;
				log_err("queue: write(\"%s\"): %s", m->path,
				    strerror(errno));
				break;
			}
			m->size += len;
			return 0;
		}
		size_t n = QUEUE_MSG_BUFSIZE - m->buflen;
		if (n > len)
			n = len;
		memcpy(m->buf + m->buflen, p, n);
		m->buflen += n;
		m->size += n;
		p += n;
		len -= n;
		if (m->buflen == QUEUE_MSG_BUFSIZE)
			queue_msg_flush(m);
	}
	errno = m->err;
	return m->err == 0 ? 0 : -1;
}

/* Close, unlink tmp/ID, free: on abort, and by the commit thread when a
 * request is over (on success the links hold the data). */
static void
queue_msg_free(struct queue_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (unlink(m->path) == -1 && errno != ENOENT)
		log_err("queue: unlink(\"%s\"): %s", m->path, strerror(errno));
	free(m->path);
	free(m->buf);
	free(m);
}

void
queue_msg_abort(struct queue_msg **mp)
{
	if (*mp == NULL)
		return;
	queue_msg_free(*mp);
	*mp = NULL;
}

/* ---- the commit thread ------------------------------------------------ */

struct queue_batch {
	const char **dirs;          /* the entries' dir strings, distinct */
	size_t ndirs, capdirs;
	int *fds;                   /* round 1 */
	struct queue_req **fd_owner;
	size_t nfds, capfds;
};

static size_t
queue_batch_dir(struct queue_batch *b, const char *dir)
{
	for (size_t i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i], dir) == 0)
			return i;
	if (b->ndirs == b->capdirs) {
		b->capdirs = b->capdirs ? b->capdirs * 2 : 32;
		b->dirs = xrealloc(b->dirs, b->capdirs * sizeof(*b->dirs));
	}
	b->dirs[b->ndirs] = dir;
	return b->ndirs++;
}

static void
queue_batch_fd(struct queue_batch *b, int fd, struct queue_req *owner)
{
	if (b->nfds == b->capfds) {
		b->capfds = b->capfds ? b->capfds * 2 : 64;
		b->fds = xrealloc(b->fds, b->capfds * sizeof(*b->fds));
		b->fd_owner = xrealloc(b->fd_owner, b->capfds * sizeof(*b->fd_owner));
	}
	b->fds[b->nfds] = fd;
	b->fd_owner[b->nfds++] = owner;
}

static void
queue_req_fail(struct queue_req *req, int err)
{
	if (req->err == 0)
		req->err = err != 0 ? err : EIO;
}

/* link(2) tmp/ID into the entry's directory, making it when missing. */
static int
queue_entry_link(struct queue_msg *m, struct queue_entry *e)
{
	char *dst = xasprintf("%s/%s.msg", e->dir, m->id);
	int rc = link(m->path, dst);

	if (rc == -1 && errno == ENOENT) {
		if (durable_mkdirs(e->dir, QUEUE_DIR_MODE) == 0)
			rc = link(m->path, dst);
		else
			log_err("queue: mkdir(\"%s\"): %s", e->dir, strerror(errno));
	}
	if (rc == 0)
		e->linked = true;
	else
		log_err("queue: link(\"%s\", \"%s\"): %s", m->path, dst,
		    strerror(errno));
	int saved = errno;
	free(dst);
	errno = saved;
	return rc;
}

static int
queue_entry_write_env(struct queue_msg *m, struct queue_entry *e)
{
	char *tmp = xasprintf("%s/.%s.env.tmp", e->dir, m->id);
	int rc = -1;

	e->env_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    QUEUE_FILE_MODE);
	if (e->env_fd >= 0) {
		e->tmp_made = true;
		rc = queue_write_all(e->env_fd, e->env_text, e->env_len);
	}
	if (rc == -1)
		log_err("queue: %s(\"%s\"): %s", e->env_fd >= 0 ? "write" : "open",
		    tmp, strerror(errno));
	int saved = errno;
	free(tmp);
	errno = saved;
	return rc;
}

/* Step 1 (queue.h): flush, link, write the envelopes. */
static void
queue_req_prepare(struct queue_req *req, struct queue_batch *b)
{
	struct queue_msg *m = req->m;

	if (queue_msg_flush(m) == -1) {
		queue_req_fail(req, errno);
		return;
	}
	queue_batch_fd(b, m->fd, req);
	for (size_t i = 0; i < req->nentries; i++) {
		struct queue_entry *e = &req->entries[i];
		if (queue_entry_link(m, e) == -1 ||
		    queue_entry_write_env(m, e) == -1) {
			queue_req_fail(req, errno);
			return;
		}
		queue_batch_fd(b, e->env_fd, req);
		e->dir_idx = queue_batch_dir(b, e->dir);
	}
}

/* Fail every live request with an entry in a directory that failed. */
static void
queue_fail_dirs(struct queue_req *reqs, const size_t *idx_of_dir,
    const int *errs, const struct queue_batch *b)
{
	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		for (size_t i = 0; r->err == 0 && i < r->nentries; i++) {
			size_t k = idx_of_dir[r->entries[i].dir_idx];
			if (k != SIZE_MAX && errs[k] != 0)
				queue_req_fail(r, errs[k]);
		}
	for (size_t i = 0; i < b->ndirs; i++)
		if (idx_of_dir[i] != SIZE_MAX && errs[idx_of_dir[i]] != 0)
			log_err("queue: fsync(\"%s\"): %s", b->dirs[i],
			    strerror(errs[idx_of_dir[i]]));
}

/* Step 2: message and envelope data, and the links, in one round. */
static void
queue_batch_round1(struct queue_req *reqs, struct queue_batch *b)
{
	int *fd_errs = xcalloc(b->nfds + 1, sizeof(int));
	int *dir_errs = xcalloc(b->ndirs + 1, sizeof(int));
	size_t *ident = xcalloc(b->ndirs + 1, sizeof(size_t));

	for (size_t i = 0; i < b->ndirs; i++)
		ident[i] = i;
	durable_sync_mixed(b->fds, fd_errs, b->nfds, b->dirs, dir_errs, b->ndirs);
	for (size_t i = 0; i < b->nfds; i++)
		if (fd_errs[i] != 0) {
			log_err("queue: fsync(%s): %s", b->fd_owner[i]->m->id,
			    strerror(fd_errs[i]));
			queue_req_fail(b->fd_owner[i], fd_errs[i]);
		}
	queue_fail_dirs(reqs, ident, dir_errs, b);
	free(fd_errs);
	free(dir_errs);
	free(ident);
}

/* Step 3: the entries appear. */
static void
queue_req_rename(struct queue_req *req)
{
	for (size_t i = 0; req->err == 0 && i < req->nentries; i++) {
		struct queue_entry *e = &req->entries[i];
		char *tmp = xasprintf("%s/.%s.env.tmp", e->dir, req->m->id);
		char *env = xasprintf("%s/%s.env", e->dir, req->m->id);
		if (rename(tmp, env) == 0) {
			e->renamed = true;
		} else {
			log_err("queue: rename(\"%s\", \"%s\"): %s", tmp, env,
			    strerror(errno));
			queue_req_fail(req, errno);
		}
		free(tmp);
		free(env);
	}
}

/* Step 4: the directories of the requests still alive. */
static void
queue_batch_round2(struct queue_req *reqs, const struct queue_batch *b)
{
	size_t *idx = xmalloc((b->ndirs + 1) * sizeof(size_t)), n = 0;
	const char **paths = xcalloc(b->ndirs + 1, sizeof(*paths));
	int *errs = xcalloc(b->ndirs + 1, sizeof(int));

	for (size_t i = 0; i < b->ndirs; i++)
		idx[i] = SIZE_MAX;
	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		for (size_t i = 0; r->err == 0 && i < r->nentries; i++) {
			size_t d = r->entries[i].dir_idx;
			if (idx[d] == SIZE_MAX) {
				idx[d] = n;
				paths[n++] = b->dirs[d];
			}
		}
	durable_sync_dirs(paths, errs, n);
	queue_fail_dirs(reqs, idx, errs, b);
	free(idx);
	free(paths);
	free(errs);
}

static void
queue_unlink_quiet(const char *path)
{
	if (unlink(path) == -1 && errno != ENOENT)
		log_err("queue: unlink(\"%s\"): %s", path, strerror(errno));
}

/* Undo what a failed request made, newest first. */
static void
queue_req_undo(struct queue_req *req)
{
	for (size_t i = 0; i < req->nentries; i++) {
		struct queue_entry *e = &req->entries[i];
		char *path;
		if (e->renamed) {
			path = xasprintf("%s/%s.env", e->dir, req->m->id);
			queue_unlink_quiet(path);
			free(path);
		} else if (e->tmp_made) {
			path = xasprintf("%s/.%s.env.tmp", e->dir, req->m->id);
			queue_unlink_quiet(path);
			free(path);
		}
		if (e->linked) {
			path = xasprintf("%s/%s.msg", e->dir, req->m->id);
			queue_unlink_quiet(path);
			free(path);
		}
		e->renamed = e->tmp_made = e->linked = false;
	}
}

static void
queue_close_env_fds(struct queue_req *req)
{
	for (size_t i = 0; i < req->nentries; i++)
		if (req->entries[i].env_fd >= 0) {
			close(req->entries[i].env_fd);
			req->entries[i].env_fd = -1;
		}
}

/* One datagram per entry to jobctl; nobody listening is normal. */
static void
queue_notify_send(struct queue *q, const struct queue_req *req)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	pthread_mutex_lock(&q->lock);
	memcpy(sun.sun_path, q->notify_path, sizeof(sun.sun_path));
	pthread_mutex_unlock(&q->lock);
	if (sun.sun_path[0] == '\0' || q->notify_fd < 0)
		return;
	for (size_t i = 0; i < req->nentries; i++) {
		char line[QUEUE_CHANNEL_MAX + QUEUE_ID_LEN + 8];
		int n = snprintf(line, sizeof(line), "%s\n", req->entries[i].rel);
		if (sendto(q->notify_fd, line, (size_t)n, MSG_NOSIGNAL,
		    (struct sockaddr *)&sun, sizeof(sun)) != -1)
			continue;
		if (errno == ENOENT || errno == ECONNREFUSED || errno == EAGAIN ||
		    errno == EWOULDBLOCK)
			log_debug("queue: notify path=%s entry=%s: %s", sun.sun_path,
			    req->entries[i].rel, strerror(errno));
		else
			log_warn("queue: sendto(\"%s\"): %s", sun.sun_path,
			    strerror(errno));
	}
}

static void
queue_batch_run(struct queue *q, struct queue_req *reqs)
{
	struct queue_batch b = { 0 };

	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		if (r->err == 0)
			queue_req_prepare(r, &b);
	queue_batch_round1(reqs, &b);
	for (struct queue_req *r = reqs; r != NULL; r = r->next) {
		queue_close_env_fds(r);
		queue_req_rename(r);
	}
	queue_batch_round2(reqs, &b);
	for (struct queue_req *r = reqs; r != NULL; r = r->next) {
		if (r->err != 0)
			queue_req_undo(r);
		else
			queue_notify_send(q, r);
		queue_msg_free(r->m);
		r->m = NULL;
	}
	free(b.dirs);
	free(b.fds);
	free(b.fd_owner);
}

/* Detach the next batch from q->pending; called with q->lock held. */
static struct queue_req *
queue_take_batch(struct queue *q)
{
	struct queue_req *batch = q->pending, **tail = &q->pending;
	size_t entries = 0;

	while (*tail != NULL && (entries == 0 ||
	    entries + (*tail)->nentries <= QUEUE_BATCH_ENTRIES)) {
		entries += (*tail)->nentries;
		tail = &(*tail)->next;
	}
	q->pending = *tail;
	if (q->pending == NULL)
		q->pending_tail = &q->pending;
	*tail = NULL;
	return batch;
}

static void *
queue_thread_main(void *arg)
{
	struct queue *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->pending == NULL && !q->stopping)
			pthread_cond_wait(&q->wake, &q->lock);
		if (q->pending == NULL)
			break;
		struct queue_req *batch = queue_take_batch(q);
		pthread_mutex_unlock(&q->lock);

		queue_batch_run(q, batch);

		pthread_mutex_lock(&q->lock);
		q->batches++;
		for (struct queue_req *r = batch; r != NULL; r = r->next)
			q->reqs++;
		*q->done_tail = batch;
		while (*q->done_tail != NULL)
			q->done_tail = &(*q->done_tail)->next;
		event_active(q->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* ---- requests (loop thread) ------------------------------------------- */

static void
queue_req_free(struct queue_req *req)
{
	for (size_t i = 0; i < req->nentries; i++) {
		free(req->entries[i].dir);
		free(req->entries[i].rel);
		free(req->entries[i].env_text);
	}
	free(req->entries);
	free(req);
}

static void
queue_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&q->lock);
	struct queue_req *list = q->done;
	q->done = NULL;
	q->done_tail = &q->done;
	pthread_mutex_unlock(&q->lock);
	while (list != NULL) {
		struct queue_req *req = list;
		list = list->next;
		q->inflight--;
		req->cb(req->arg, req->err);
		queue_req_free(req);
	}
}

static bool
queue_dests_valid(const struct queue_dest *dests, size_t ndests)
{
	if (ndests == 0)
		return false;
	for (size_t i = 0; i < ndests; i++) {
		if (dests[i].channel == NULL || !queue_channel_valid(dests[i].channel))
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(dests[i].channel, dests[j].channel) == 0)
				return false;
	}
	return true;
}

/* Copy everything the commit thread needs; 0 or an errno. */
static int
queue_req_build(struct queue_req *req, const struct queue_env *env,
    const struct queue_dest *dests, size_t ndests)
{
	struct queue_msg *m = req->m;
	struct queue_env e = *env;

	if (!queue_dests_valid(dests, ndests))
		return EINVAL;
	e.id = m->id;
	e.size = m->size;
	if (e.created == 0)
		e.created = (long long)time(NULL);
	req->entries = xcalloc(ndests, sizeof(*req->entries));
	for (size_t i = 0; i < ndests; i++) {
		struct queue_entry *qe = &req->entries[req->nentries++];
		int ss = queue_subdir(m->id, dests[i].subdirs);
		char sub[16] = "";

		if (ss >= 0)
			snprintf(sub, sizeof(sub), "/%02d", ss);
		qe->env_fd = -1;
		qe->dir = xasprintf("%s/%s%s", m->q->root, dests[i].channel, sub);
		qe->rel = xasprintf("%s%s/%s", dests[i].channel, sub, m->id);
		e.channel = (char *)dests[i].channel;
		e.rcpts = (struct queue_rcpt *)dests[i].rcpts;
		e.nrcpts = dests[i].nrcpts;
		if ((qe->env_text = queue_env_format(&e)) == NULL)
			return errno;
		qe->env_len = strlen(qe->env_text);
	}
	return 0;
}

void
queue_commit(struct queue_msg **mp, const struct queue_env *env,
    const struct queue_dest *dests, size_t ndests, queue_commit_cb *cb,
    void *arg)
{
	struct queue_msg *m = *mp;
	struct queue *q = m->q;
	struct queue_req *req = xcalloc(1, sizeof(*req));

	*mp = NULL;
	req->m = m;
	req->cb = cb;
	req->arg = arg;
	req->err = queue_req_build(req, env, dests, ndests);
	q->inflight++;
	pthread_mutex_lock(&q->lock);
	if (req->err != 0) {
		/* Refused before any work; still answered from the loop. */
		log_err("queue: commit id=%s refused: %s", m->id,
		    strerror(req->err));
		queue_msg_free(m);
		req->m = NULL;
		*q->done_tail = req;
		q->done_tail = &req->next;
		event_active(q->done_ev, EV_READ, 0);
	} else {
		*q->pending_tail = req;
		q->pending_tail = &req->next;
		pthread_cond_signal(&q->wake);
	}
	pthread_mutex_unlock(&q->lock);
}

/* ---- the queue -------------------------------------------------------- */

/* Remove the messages a dead process left in tmp/ (see queue.h). */
static bool
queue_clean_tmp(const char *tmpdir, char **err)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int removed = 0;

	if (d == NULL) {
		*err = xasprintf("opendir(\"%s\"): %s", tmpdir, strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
		else
			log_warn("queue: unlink(\"%s/%s\"): %s", tmpdir, de->d_name,
			    strerror(errno));
	}
	closedir(d);
	if (removed > 0)
		log_info("queue: removed unacknowledged messages dir=%s count=%d",
		    tmpdir, removed);
	return true;
}

struct queue *
queue_open(struct event_base *base, const char *root, char **err)
{
	char *tmpdir = xasprintf("%s/tmp", root);

	*err = NULL;
	if (durable_mkdirs(tmpdir, QUEUE_DIR_MODE) == -1) {
		*err = xasprintf("mkdir(\"%s\"): %s", tmpdir, strerror(errno));
		free(tmpdir);
		return NULL;
	}
	bool ok = queue_clean_tmp(tmpdir, err);
	free(tmpdir);
	if (!ok)
		return NULL;

	struct queue *q = xcalloc(1, sizeof(*q));
	q->root = xstrdup(root);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	q->pending_tail = &q->pending;
	q->done_tail = &q->done;
	q->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	q->done_ev = event_new(base, -1, 0, queue_on_done, q);
	durable_pool_start(0);
	if (q->done_ev == NULL ||
	    (errno = pthread_create(&q->thread, NULL, queue_thread_main, q)) != 0) {
		*err = xasprintf("queue: cannot start the commit thread: %s",
		    q->done_ev == NULL ? "event_new failed" : strerror(errno));
		if (q->done_ev != NULL)
			event_free(q->done_ev);
		if (q->notify_fd >= 0)
			close(q->notify_fd);
		free(q->root);
		free(q);
		return NULL;
	}
	return q;
}

void
queue_set_notify(struct queue *q, const char *socket_path)
{
	pthread_mutex_lock(&q->lock);
	if (socket_path == NULL ||
	    strlen(socket_path) >= sizeof(q->notify_path)) {
		if (socket_path != NULL)
			log_err("queue: notify socket path too long: %s", socket_path);
		q->notify_path[0] = '\0';
	} else {
		snprintf(q->notify_path, sizeof(q->notify_path), "%s", socket_path);
	}
	pthread_mutex_unlock(&q->lock);
}

void
queue_counts(struct queue *q, unsigned long long *batches,
    unsigned long long *reqs)
{
	pthread_mutex_lock(&q->lock);
	*batches = q->batches;
	*reqs = q->reqs;
	pthread_mutex_unlock(&q->lock);
}

void
queue_close(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	queue_on_done(-1, 0, q);
	if (q->inflight != 0)
		log_panic("queue: %zu commits lost at close", q->inflight);
	event_free(q->done_ev);
	if (q->notify_fd >= 0)
		close(q->notify_fd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->wake);
	free(q->root);
	free(q);
	*qp = NULL;
}
