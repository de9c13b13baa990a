/*
 * queue: the queue directory, entry files and group commit (see queue.h
 * for the layout, the order of operations and the envelope format).
 *
 * Owns: root/tmp and everything a request creates until its callback has
 * run.  The loop thread formats the envelopes and writes the message
 * (buffered) behind the first one; the commit thread takes every request
 * waiting at that moment (up to QUEUE_BATCH_ENTRIES entries, to bound the
 * descriptors held) as one batch, makes the other entries' files, and makes
 * them all durable in two parallel fsync rounds of the durable pool, then
 * hands the results back to the loop thread through an event, where each
 * callback runs.  A failure fails its request only (or every request
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
#define QUEUE_COPY_MAX      (1u << 30)  /* bytes per copy_file_range */
#define QUEUE_FILE_MODE     0600
#define QUEUE_DIR_MODE      0700

/* One destination channel of a message: its entry file. */
struct queue_entry {
	char *tmp;                  /* root/tmp/ID, or root/tmp/ID.K for K >= 1 */
	char *dir;                  /* root/CHANNEL or root/CHANNEL/SS */
	char *path;                 /* dir/ID: the entry's name */
	const char *rel;            /* in path: CHANNEL[/SS]/ID, the notice */
	char *head;                 /* the envelope and the empty line */
	size_t head_len, dir_idx;
	int fd;                     /* the open tmp file, -1: none */
	bool made, linked;          /* tmp, path exist */
};

struct queue_msg {
	struct queue *q;
	char id[QUEUE_ID_LEN + 1];
	struct queue_entry *entries;    /* entries[0]'s file is being written */
	size_t nentries;
	char *buf;                  /* QUEUE_MSG_BUFSIZE */
	size_t buflen;
	uint64_t size;              /* message bytes */
	int err;                    /* sticky write error */
	struct queue_msg *next;     /* commit thread: spent messages */
};

struct queue_req {
	struct queue_req *next;
	struct queue_msg *m;        /* freed by the commit thread */
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
	bool notify_lost;               /* commit thread only */
	size_t inflight;                            /* loop thread */
	pthread_t thread;
	struct event *done_ev;
};

/* ---- names ------------------------------------------------------------ */

static const char queue_b32[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

/* The ID layout is in queue.h. */
void
queue_id_new(char out[QUEUE_ID_LEN + 1])
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

static void
queue_unlink_quiet(const char *path)
{
	if (unlink(path) == -1 && errno != ENOENT)
		log_err("queue: unlink(\"%s\"): %s", path, strerror(errno));
}

/* A write to tmp/ID failed: the error sticks. */
static void
queue_msg_write_failed(struct queue_msg *m)
{
	m->err = errno;
	log_err("queue: write(\"%s\"): %s", m->entries[0].tmp, strerror(m->err));
}

static int
queue_msg_flush(struct queue_msg *m)
{
	if (m->err == 0 && m->buflen > 0 &&
	    queue_write_all(m->entries[0].fd, m->buf, m->buflen) == -1)
		queue_msg_write_failed(m);
	m->buflen = 0;
	errno = m->err;
	return m->err == 0 ? 0 : -1;
}

/* Append to tmp/ID through the buffer; 0, or -1 with errno. */
static int
queue_msg_put(struct queue_msg *m, const char *p, size_t len)
{
	while (m->err == 0 && len > 0) {
		if (m->buflen == 0 && len >= QUEUE_MSG_BUFSIZE) {
			if (queue_write_all(m->entries[0].fd, p, len) == -1)
				queue_msg_write_failed(m);
			break;
		}
		size_t n = QUEUE_MSG_BUFSIZE - m->buflen;
		if (n > len)
			n = len;
		memcpy(m->buf + m->buflen, p, n);
		m->buflen += n;
		p += n;
		len -= n;
		if (m->buflen == QUEUE_MSG_BUFSIZE)
			queue_msg_flush(m);
	}
	errno = m->err;
	return m->err == 0 ? 0 : -1;
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

/* One entry per dest, names made and envelopes formatted; 0 or an errno. */
static int
queue_msg_entries(struct queue_msg *m, const struct queue_env *env,
    const struct queue_dest *dests, size_t ndests)
{
	const char *root = m->q->root;
	struct queue_env e = *env;

	if (!queue_dests_valid(dests, ndests))
		return EINVAL;
	e.id = m->id;
	if (e.created == 0)
		e.created = (long long)time(NULL);
	m->entries = xcalloc(ndests, sizeof(*m->entries));
	for (size_t k = 0; k < ndests; k++) {
		struct queue_entry *qe = &m->entries[m->nentries++];
		int ss = queue_subdir(m->id, dests[k].subdirs);
		char sub[16] = "";

		qe->fd = -1;
		if (ss >= 0)
			snprintf(sub, sizeof(sub), "/%02d", ss);
		qe->tmp = k == 0 ? xasprintf("%s/tmp/%s", root, m->id) :
		    xasprintf("%s/tmp/%s.%zu", root, m->id, k);
		qe->dir = xasprintf("%s/%s%s", root, dests[k].channel, sub);
		qe->path = xasprintf("%s/%s", qe->dir, m->id);
		qe->rel = qe->path + strlen(root) + 1;
		e.channel = (char *)dests[k].channel;
		e.rcpts = (struct queue_rcpt *)dests[k].rcpts;
		e.nrcpts = dests[k].nrcpts;
		if ((qe->head = queue_env_format(&e)) == NULL)
			return errno;
		qe->head_len = strlen(qe->head);
	}
	return 0;
}

/* Close the files, unlink the tmp names, free: on abort, and by the commit
 * thread when a request is over (an entry keeps its own link). */
static void
queue_msg_free(struct queue_msg *m)
{
	for (size_t k = 0; k < m->nentries; k++) {
		struct queue_entry *e = &m->entries[k];
		if (e->fd >= 0)
			close(e->fd);
		if (e->made)
			queue_unlink_quiet(e->tmp);
		free(e->tmp);
		free(e->dir);
		free(e->path);
		free(e->head);
	}
	free(m->entries);
	free(m->buf);
	free(m);
}

struct queue_msg *
queue_msg_new(struct queue *q, const struct queue_env *env,
    const struct queue_dest *dests, size_t ndests, char **err)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));
	struct queue_entry *first;
	int rc;

	m->q = q;
	queue_id_new(m->id);
	m->buf = xmalloc(QUEUE_MSG_BUFSIZE);
	if ((rc = queue_msg_entries(m, env, dests, ndests)) != 0) {
		*err = xasprintf("queue: id=%s envelope refused: %s", m->id,
		    strerror(rc));
		goto fail;
	}
	first = &m->entries[0];
	first->fd = open(first->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    QUEUE_FILE_MODE);                   /* read by queue_entry_copy */
	if (first->fd == -1) {
		rc = errno;
		*err = xasprintf("open(\"%s\"): %s", first->tmp, strerror(rc));
		goto fail;
	}
	first->made = true;
	if (queue_msg_put(m, first->head, first->head_len) == -1) {
		rc = errno;
		*err = xasprintf("write(\"%s\"): %s", first->tmp, strerror(rc));
		goto fail;
	}
	return m;
fail:
	queue_msg_free(m);
	errno = rc;
	return NULL;
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
	if (queue_msg_put(m, buf, len) == -1)
		return -1;
	m->size += len;
	return 0;
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
	int *fds;                   /* step 2: every file of the batch */
	struct queue_entry **fd_entry;
	struct queue_req **fd_req;
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
queue_batch_file(struct queue_batch *b, struct queue_entry *e,
    struct queue_req *req)
{
	if (b->nfds == b->capfds) {
		b->capfds = b->capfds ? b->capfds * 2 : 64;
		b->fds = xrealloc(b->fds, b->capfds * sizeof(*b->fds));
		b->fd_entry = xrealloc(b->fd_entry, b->capfds * sizeof(*b->fd_entry));
		b->fd_req = xrealloc(b->fd_req, b->capfds * sizeof(*b->fd_req));
	}
	b->fds[b->nfds] = e->fd;
	b->fd_entry[b->nfds] = e;
	b->fd_req[b->nfds++] = req;
	e->dir_idx = queue_batch_dir(b, e->dir);
}

static void
queue_req_fail(struct queue_req *req, int err)
{
	if (req->err == 0)
		req->err = err != 0 ? err : EIO;
}

/* Log a failed step of a copy; the errno to report (n == 0: tmp/ID ended
 * early, EIO). */
static int
queue_copy_error(const char *call, const char *path, ssize_t n)
{
	int rc = n == 0 ? EIO : errno;

	log_err("queue: %s(\"%s\"): %s", call, path,
	    n == 0 ? "file ended early" : strerror(rc));
	return rc;
}

/* The rest of the copy through m->buf (flushed, so free), where the kernel
 * will not copy between these files.  0 or an errno. */
static int
queue_entry_copy_slow(struct queue_msg *m, struct queue_entry *e, off_t off,
    uint64_t left)
{
	const struct queue_entry *first = &m->entries[0];

	while (left > 0) {
		size_t want = left < QUEUE_MSG_BUFSIZE ? (size_t)left :
		    QUEUE_MSG_BUFSIZE;
		ssize_t n = pread(first->fd, m->buf, want, off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return queue_copy_error("pread", first->tmp, n);
		if (queue_write_all(e->fd, m->buf, (size_t)n) == -1)
			return queue_copy_error("write", e->tmp, -1);
		off += n;
		left -= (uint64_t)n;
	}
	return 0;
}

/* Append the message (tmp/ID past its head) to e's file, in the kernel
 * when it can.  0 or an errno. */
static int
queue_entry_copy(struct queue_msg *m, struct queue_entry *e)
{
	const struct queue_entry *first = &m->entries[0];
	off_t off = (off_t)first->head_len;
	uint64_t left = m->size;

	while (left > 0) {
		size_t want = left < QUEUE_COPY_MAX ? (size_t)left : QUEUE_COPY_MAX;
		ssize_t n = copy_file_range(first->fd, &off, e->fd, NULL, want, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EXDEV || errno == EINVAL ||
		    errno == ENOSYS || errno == EOPNOTSUPP))
			return queue_entry_copy_slow(m, e, off, left);
		if (n <= 0)
			return queue_copy_error("copy_file_range", e->tmp, n);
		left -= (uint64_t)n;
	}
	return 0;
}

/* Step 1 for a further destination: tmp/ID.K, its head and the message.
 * 0 or an errno. */
static int
queue_entry_make(struct queue_msg *m, struct queue_entry *e)
{
	int rc;

	e->fd = open(e->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    QUEUE_FILE_MODE);
	if (e->fd == -1) {
		rc = errno;
		log_err("queue: open(\"%s\"): %s", e->tmp, strerror(rc));
		return rc;
	}
	e->made = true;
	if (queue_write_all(e->fd, e->head, e->head_len) == -1) {
		rc = errno;
		log_err("queue: write(\"%s\"): %s", e->tmp, strerror(rc));
		return rc;
	}
	return queue_entry_copy(m, e);
}

/* Step 1 (queue.h): flush the message, make the other entries' files. */
static void
queue_req_prepare(struct queue_req *req, struct queue_batch *b)
{
	struct queue_msg *m = req->m;

	if (queue_msg_flush(m) == -1) {
		queue_req_fail(req, errno);
		return;
	}
	for (size_t k = 0; k < m->nentries; k++) {
		int rc = k == 0 ? 0 : queue_entry_make(m, &m->entries[k]);
		if (rc != 0) {
			queue_req_fail(req, rc);
			return;
		}
		queue_batch_file(b, &m->entries[k], req);
	}
}

/* Step 2: every file of the batch in one round. */
static void
queue_batch_sync_files(const struct queue_batch *b)
{
	int *errs = xcalloc(b->nfds + 1, sizeof(int));

	durable_sync_many(b->fds, errs, b->nfds);
	for (size_t i = 0; i < b->nfds; i++)
		if (errs[i] != 0) {
			log_err("queue: fsync(\"%s\"): %s", b->fd_entry[i]->tmp,
			    strerror(errs[i]));
			queue_req_fail(b->fd_req[i], errs[i]);
		}
	free(errs);
}

/* link(2) the entry's file to its name, making the directory when
 * missing; 0 or an errno. */
static int
queue_entry_link(struct queue_entry *e)
{
	int rc = link(e->tmp, e->path);

	if (rc == -1 && errno == ENOENT) {
		if (durable_mkdirs(e->dir, QUEUE_DIR_MODE) == -1) {
			rc = errno;
			log_err("queue: mkdir(\"%s\"): %s", e->dir, strerror(rc));
			return rc;
		}
		rc = link(e->tmp, e->path);
	}
	if (rc == -1) {
		rc = errno;
		log_err("queue: link(\"%s\", \"%s\"): %s", e->tmp, e->path,
		    strerror(rc));
		return rc;
	}
	e->linked = true;
	return 0;
}

/* Step 3: the entries appear, complete and durable. */
static void
queue_req_link(struct queue_req *req)
{
	for (size_t k = 0; req->err == 0 && k < req->m->nentries; k++) {
		int rc = queue_entry_link(&req->m->entries[k]);
		if (rc != 0)
			queue_req_fail(req, rc);
	}
}

/* Fail every live request with an entry in a directory that failed;
 * errs[idx_of_dir[d]] is the result of b->dirs[d] (SIZE_MAX: not synced). */
static void
queue_fail_dirs(struct queue_req *reqs, const size_t *idx_of_dir,
    const int *errs, const struct queue_batch *b)
{
	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		for (size_t k = 0; r->err == 0 && k < r->m->nentries; k++) {
			size_t i = idx_of_dir[r->m->entries[k].dir_idx];
			if (i != SIZE_MAX && errs[i] != 0)
				queue_req_fail(r, errs[i]);
		}
	for (size_t d = 0; d < b->ndirs; d++)
		if (idx_of_dir[d] != SIZE_MAX && errs[idx_of_dir[d]] != 0)
			log_err("queue: fsync(\"%s\"): %s", b->dirs[d],
			    strerror(errs[idx_of_dir[d]]));
}

/* Step 4: the directories of the requests still alive, in one round (a
 * directory made in step 3 was synced into its parent by durable_mkdirs). */
static void
queue_batch_sync_dirs(struct queue_req *reqs, const struct queue_batch *b)
{
	size_t *idx = xmalloc((b->ndirs + 1) * sizeof(size_t)), n = 0;
	const char **paths = xcalloc(b->ndirs + 1, sizeof(*paths));
	int *errs = xcalloc(b->ndirs + 1, sizeof(int));

	for (size_t d = 0; d < b->ndirs; d++)
		idx[d] = SIZE_MAX;
	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		for (size_t k = 0; r->err == 0 && k < r->m->nentries; k++) {
			size_t d = r->m->entries[k].dir_idx;
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

/* Unlink the names a failed request linked (its tmp files go when its
 * message is freed). */
static void
queue_req_undo(struct queue_req *req)
{
	for (size_t k = 0; k < req->m->nentries; k++) {
		struct queue_entry *e = &req->m->entries[k];
		if (e->linked)
			queue_unlink_quiet(e->path);
		e->linked = false;
	}
}

static bool
queue_notify_line(struct queue *q, const struct sockaddr_un *sun,
    const char *line)
{
	if (sendto(q->notify_fd, line, strlen(line), MSG_NOSIGNAL,
	    (const struct sockaddr *)sun, sizeof(*sun)) != -1)
		return true;
	if (errno == ENOENT || errno == ECONNREFUSED || errno == EAGAIN ||
	    errno == EWOULDBLOCK)
		log_debug("queue: notify path=%s: %s", sun->sun_path,
		    strerror(errno));
	else
		log_warn("queue: sendto(\"%s\"): %s", sun->sun_path,
		    strerror(errno));
	return false;
}

/* One datagram per entry to jobctl; nobody listening is normal.  An
 * announcement that could not go (jobctl too busy to read) is made up
 * for by asking jobctl to rescan with the next one that goes. */
static void
queue_notify_send(struct queue *q, const struct queue_req *req)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	pthread_mutex_lock(&q->lock);
	memcpy(sun.sun_path, q->notify_path, sizeof(sun.sun_path));
	pthread_mutex_unlock(&q->lock);
	if (sun.sun_path[0] == '\0' || q->notify_fd < 0)
		return;
	if (q->notify_lost && queue_notify_line(q, &sun, "rescan\n"))
		q->notify_lost = false;
	for (size_t k = 0; k < req->m->nentries; k++) {
		char line[QUEUE_CHANNEL_MAX + QUEUE_ID_LEN + 8];
		snprintf(line, sizeof(line), "%s\n", req->m->entries[k].rel);
		if (!queue_notify_line(q, &sun, line) && errno != ENOENT &&
		    errno != ECONNREFUSED)
			q->notify_lost = true;
	}
}

/*
 * Steps 1 to 4 for a batch.  A failed request is undone and its message
 * freed now, so that its client hears of it with nothing left behind; a
 * request that succeeded has its notices sent and its message returned in
 * the list of spent ones: step 5 frees them after the callbacks are on
 * their way.
 */
static struct queue_msg *
queue_batch_run(struct queue *q, struct queue_req *reqs)
{
	struct queue_batch b = { 0 };
	struct queue_msg *spent = NULL;

	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		queue_req_prepare(r, &b);
	queue_batch_sync_files(&b);
	for (struct queue_req *r = reqs; r != NULL; r = r->next)
		queue_req_link(r);
	queue_batch_sync_dirs(reqs, &b);
	for (struct queue_req *r = reqs; r != NULL; r = r->next) {
		if (r->err != 0) {
			queue_req_undo(r);
			queue_msg_free(r->m);
		} else {
			queue_notify_send(q, r);
			r->m->next = spent;
			spent = r->m;
		}
		r->m = NULL;
	}
	free(b.dirs);
	free(b.fds);
	free(b.fd_entry);
	free(b.fd_req);
	return spent;
}

/* Detach the next batch from q->pending; called with q->lock held. */
static struct queue_req *
queue_take_batch(struct queue *q)
{
	struct queue_req *batch = q->pending, **tail = &q->pending;
	size_t entries = 0;

	while (*tail != NULL && (entries == 0 ||
	    entries + (*tail)->m->nentries <= QUEUE_BATCH_ENTRIES)) {
		entries += (*tail)->m->nentries;
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

		struct queue_msg *spent = queue_batch_run(q, batch);

		pthread_mutex_lock(&q->lock);
		q->batches++;
		for (struct queue_req *r = batch; r != NULL; r = r->next)
			q->reqs++;
		*q->done_tail = batch;
		while (*q->done_tail != NULL)
			q->done_tail = &(*q->done_tail)->next;
		event_active(q->done_ev, EV_READ, 0);
		pthread_mutex_unlock(&q->lock);

		/* Step 5: the tmp names, while the callbacks run. */
		while (spent != NULL) {
			struct queue_msg *m = spent;
			spent = m->next;
			queue_msg_free(m);
		}
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* ---- requests (loop thread) ------------------------------------------- */

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
		free(req);
	}
}

void
queue_commit(struct queue_msg **mp, queue_commit_cb *cb, void *arg)
{
	struct queue_msg *m = *mp;
	struct queue *q = m->q;
	struct queue_req *req = xcalloc(1, sizeof(*req));

	*mp = NULL;
	req->m = m;
	req->cb = cb;
	req->arg = arg;
	q->inflight++;
	pthread_mutex_lock(&q->lock);
	*q->pending_tail = req;
	q->pending_tail = &req->next;
	pthread_cond_signal(&q->wake);
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
	/* Blocking, with a short limit: jobctl's queue of datagrams is small
	 * (net.unix.max_dgram_qlen, 10 by default), and in a burst the commit
	 * thread waits a little for it rather than lose announcements. */
	q->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval limit = { 0, QUEUE_NOTIFY_WAIT_MS * 1000 };
	if (q->notify_fd >= 0)
		(void)setsockopt(q->notify_fd, SOL_SOCKET, SO_SNDTIMEO, &limit,
		    sizeof(limit));
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
