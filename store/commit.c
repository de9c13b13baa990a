/*
 * commit: group commit of deliveries (DESIGN.md section 9: 250 means on
 * disk).
 *
 * Sessions hand over a received message (written, not yet synced) with its
 * resolved recipients.  The commit thread takes every request waiting at
 * that moment as one batch and, in one LMDB write transaction:
 *   1. per recipient: checks quota against the authoritative usage,
 *      allocates a UID, links the file into the mailbox directory, and
 *      records the message;
 *   2. fsyncs the batch's message files and every mailbox directory that
 *      got a link, all in one parallel round (durable pool);
 *   3. commits.
 * Only then are the replies posted back to the loop thread.  If anything
 * fails the links are undone and the batch's deliveries answer 452 4.3.1:
 * nothing half-written becomes visible.
 *
 * A link left by a crash between link and commit has a UID at or above the
 * mailbox's committed UIDNEXT, so it is known to be unacknowledged and is
 * replaced (the MTA will retry that message).
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "durable.h"
#include "commit.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"


static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct commit_req *pending, **pending_tail;
	struct commit_req *done;
	bool stopping, running;
	size_t inflight;
	pthread_t thread;
	struct event *done_ev;
	struct db *db;
	const struct store_config *cfg;     /* guarded by lock */
	const struct store_config *batch_cfg;   /* the commit thread's copy */
	unsigned long long batches, reqs;       /* guarded by lock */
	commit_notify_cb *notify;               /* loop thread only */
	void *notify_arg;
} commit = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
};

void
commit_req_free(struct commit_req **reqp)
{
	struct commit_req *req = *reqp;

	if (req == NULL)
		return;
	if (req->fd >= 0)
		close(req->fd);
	if (req->tmp_path != NULL) {
		unlink(req->tmp_path);
		free(req->tmp_path);
	}
	for (size_t i = 0; i < req->nrcpts; i++)
		free(req->rcpts[i].user);
	free(req->rcpts);
	free(req->envelope);
	free(req);
	*reqp = NULL;
}

void
commit_batch_add_dir(struct commit_batch *b, const char *dir)
{
	for (size_t i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i], dir) == 0)
			return;
	if (b->ndirs == b->capdirs) {
		b->capdirs = b->capdirs ? b->capdirs * 2 : 32;
		b->dirs = xrealloc(b->dirs, b->capdirs * sizeof(*b->dirs));
	}
	b->dirs[b->ndirs++] = xstrdup(dir);
}

void
commit_batch_add_unlink(struct commit_batch *b, const char *path)
{
	if (b->nunlinks == b->capunlinks) {
		b->capunlinks = b->capunlinks ? b->capunlinks * 2 : 32;
		b->unlinks = xrealloc(b->unlinks, b->capunlinks * sizeof(*b->unlinks));
	}
	snprintf(b->unlinks[b->nunlinks++].path, COMMIT_PATH, "%s", path);
}

void
commit_batch_add_link(struct commit_batch *b, const char *path)
{
	if (b->nlinks == b->caplinks) {
		b->caplinks = b->caplinks ? b->caplinks * 2 : 32;
		b->links = xrealloc(b->links, b->caplinks * sizeof(*b->links));
	}
	snprintf(b->links[b->nlinks++].path, COMMIT_PATH, "%s", path);
}

static void
commit_batch_reset(struct commit_batch *b)
{
	for (size_t i = 0; i < b->ndirs; i++)
		free(b->dirs[i]);
	b->ndirs = 0;
	b->nlinks = 0;
	b->nunlinks = 0;
}

static void
commit_undo_links(struct commit_batch *b)
{
	for (size_t i = 0; i < b->nlinks; i++)
		unlink(b->links[i].path);
	b->nlinks = 0;
}

/* link(2), replacing an unacknowledged leftover (see the file comment). */
int
commit_link(const char *src, const char *dst)
{
	if (link(src, dst) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	log_warn("replacing unacknowledged leftover path=%s", dst);
	if (unlink(dst) == -1)
		return -1;
	return link(src, dst);
}

/* Link one message into a mailbox and record it; updates *mb and *u. */
int
commit_add_message(MDB_txn *txn, struct commit_batch *b, const char *dir, struct midx_mailbox *mb, struct midx_user *u,
    const struct commit_msg *m, uint32_t *uid_out)
{
	char path[COMMIT_PATH];
	uint32_t uid = mb->uidnext;
	struct midx_message rec = {
		.flags = m->flags, .keywords = m->keywords,
		.header_size = m->header_size,
		.internaldate = m->internaldate, .size = m->size,
		.modseq = mb->highestmodseq + 1,
	};

	snprintf(path, sizeof(path), "%s/%u", dir, uid);
	if (commit_link(m->src, path) == -1) {
		log_err("link(\"%s\", \"%s\"): %s", m->src, path, strerror(errno));
		return -1;
	}
	commit_batch_add_link(b, path);
	commit_batch_add_dir(b, dir);
	int rc = mindex_message_put(b->db, txn, mb->id, uid, &rec,
	    m->envelope, m->envlen);
	if (rc != 0)
		return rc;
	mb->uidnext = uid + 1;
	mb->highestmodseq = rec.modseq;
	mb->exists++;
	u->bytes += m->size;
	u->messages++;
	*uid_out = uid;
	return 0;
}

int
commit_open_mailbox(MDB_txn *txn, struct commit_batch *b,
    const struct partition *part, const char *user, const char *name,
    bool create, struct midx_mailbox *mb, char *dir, size_t dirlen)
{
	int rc = mindex_mailbox_get(b->db, txn, user, name, mb);

	if (rc == 0) {
		userarea_mailbox_dir(part, user, mb->id, dir, dirlen);
		return 0;
	}
	if (rc != MDB_NOTFOUND || !create)
		return rc;
	memset(mb, 0, sizeof(*mb));
	if ((rc = mindex_next_mailbox_id(b->db, txn, &mb->id)) != 0)
		return rc;
	userarea_mailbox_dir(part, user, mb->id, dir, dirlen);
	if (!userarea_mailbox_create(dir, name, (uint32_t)b->now,
	    &mb->uidvalidity))
		return -1;
	mb->uidnext = 1;
	return mindex_mailbox_put(b->db, txn, user, name, mb);
}

/*
 * Make the batch durable before the index commit: the received files and
 * every directory that got a link, in one parallel round.  The links were
 * made first; until the commit they are unacknowledged leftovers.
 */
static int
commit_sync(struct commit_batch *b)
{
	size_t nfds = 0, i = 0;

	for (struct commit_req *r = b->reqs; r != NULL; r = r->next)
		nfds += r->fd >= 0;
	/* Operations without a file and without links (flags, logins)
	 * need no fsync at all: don't wake the pool for them. */
	if (nfds == 0 && b->ndirs == 0)
		return 0;
	int *fds = xcalloc(nfds, sizeof(int)), *fd_errs = xcalloc(nfds, sizeof(int));
	int *dir_errs = xcalloc(b->ndirs, sizeof(int));
	for (struct commit_req *r = b->reqs; r != NULL; r = r->next)
		if (r->fd >= 0)
			fds[i++] = r->fd;
	int failed = durable_sync_mixed(fds, fd_errs, nfds,
	    (const char *const *)b->dirs, dir_errs, b->ndirs);
	i = 0;
	for (struct commit_req *r = b->reqs; r != NULL; r = r->next)
		if (r->fd >= 0 && fd_errs[i++] != 0)
			log_err("fsync(\"%s\"): %s", r->tmp_path ? r->tmp_path : "?",
			    strerror(fd_errs[i - 1]));
	for (i = 0; i < b->ndirs; i++)
		if (dir_errs[i] != 0)
			log_err("fsync(\"%s\"): %s", b->dirs[i], strerror(dir_errs[i]));
	free(fds);
	free(fd_errs);
	free(dir_errs);
	return failed ? EIO : 0;
}

static int
commit_txn(MDB_txn *txn, void *arg)
{
	struct commit_batch *b = arg;
	int rc;

	commit_undo_links(b);
	commit_batch_reset(b);
	for (struct commit_req *req = b->reqs; req != NULL; req = req->next) {
		rc = req->op != NULL ? req->op(txn, b, req) : deliver_req(txn, b, req);
		if (rc != 0)
			return rc;
	}
	return commit_sync(b);
}

/* After a failed transaction every delivery of the batch is undone. */
static void
commit_fail_delivered(struct commit_req *reqs, bool txn_failed)
{
	for (struct commit_req *req = reqs; req != NULL; req = req->next) {
		req->failed = txn_failed;
		for (size_t i = 0; i < req->nrcpts; i++) {
			struct commit_rcpt *r = &req->rcpts[i];
			if (r->code == 0 || (txn_failed && r->code == 250)) {
				r->code = 452;
				snprintf(r->text, sizeof(r->text),
				    "4.3.1 Insufficient system storage");
			}
		}
	}
}

static void
commit_run(struct commit_req *reqs)
{
	struct commit_batch b = { .reqs = reqs, .now = time(NULL),
	    .db = commit.db, .cfg = commit.batch_cfg };

	int rc = db_write(b.db, commit_txn, &b);
	if (rc != 0) {
		log_err("commit failed: %s", rc > 0 && rc < 200 ? strerror(rc) :
		    mdb_strerror(rc));
		commit_undo_links(&b);
	} else {
		for (size_t i = 0; i < b.nunlinks; i++)
			if (unlink(b.unlinks[i].path) == -1 && errno != ENOENT)
				log_err("unlink(\"%s\"): %s", b.unlinks[i].path,
				    strerror(errno));
	}
	commit_fail_delivered(reqs, rc != 0);
	commit_batch_reset(&b);
	free(b.dirs);
	free(b.links);
	free(b.unlinks);
}

static void *
commit_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&commit.lock);
	for (;;) {
		while (commit.pending == NULL && !commit.stopping)
			pthread_cond_wait(&commit.wake, &commit.lock);
		if (commit.pending == NULL)
			break;
		struct commit_req *batch = commit.pending;
		commit.batch_cfg = commit.cfg;
		commit.pending = NULL;
		commit.pending_tail = &commit.pending;
		pthread_mutex_unlock(&commit.lock);

		commit_run(batch);

		pthread_mutex_lock(&commit.lock);
		commit.batches++;
		commit.reqs++;
		struct commit_req *last = batch;
		while (last->next != NULL) {
			last = last->next;
			commit.reqs++;
		}
		last->next = commit.done;
		commit.done = batch;
		event_active(commit.done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&commit.lock);
	return NULL;
}

void
commit_set_notify(commit_notify_cb *cb, void *arg)
{
	commit.notify = cb;
	commit.notify_arg = arg;
}

/* Whose mailboxes a committed request changed. */
static void
commit_tell(const struct commit_req *req)
{
	if (commit.notify == NULL || req->failed)
		return;
	if (req->op != NULL) {
		if (req->notify_user != NULL)
			commit.notify(commit.notify_arg, req->notify_user);
		return;
	}
	for (size_t i = 0; i < req->nrcpts; i++)
		if (req->rcpts[i].code == 250)
			commit.notify(commit.notify_arg, req->rcpts[i].user);
}

/* On the loop thread: hand finished requests back to their sessions. */
static void
commit_on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	pthread_mutex_lock(&commit.lock);
	struct commit_req *list = commit.done;
	commit.done = NULL;
	pthread_mutex_unlock(&commit.lock);
	while (list != NULL) {
		struct commit_req *req = list;
		list = list->next;
		req->next = NULL;
		commit.inflight--;
		commit_tell(req);
		if (req->arg != NULL)
			req->done(req, req->arg);
		else
			commit_req_free(&req);
	}
}

bool
commit_start(struct event_base *base, struct db *db,
    const struct store_config *cfg)
{
	commit.db = db;
	commit.cfg = cfg;
	commit.pending_tail = &commit.pending;
	commit.done_ev = event_new(base, -1, 0, commit_on_done, NULL);
	durable_pool_start(cfg->fsync_threads);
	if (pthread_create(&commit.thread, NULL, commit_main, NULL) != 0)
		return false;
	commit.running = true;
	return true;
}

void
commit_counts(unsigned long long *batches, unsigned long long *reqs)
{
	pthread_mutex_lock(&commit.lock);
	*batches = commit.batches;
	*reqs = commit.reqs;
	pthread_mutex_unlock(&commit.lock);
}

void
commit_set_config(const struct store_config *cfg)
{
	pthread_mutex_lock(&commit.lock);
	commit.cfg = cfg;
	pthread_mutex_unlock(&commit.lock);
}

void
commit_submit(struct commit_req *req)
{
	req->next = NULL;
	commit.inflight++;
	pthread_mutex_lock(&commit.lock);
	*commit.pending_tail = req;
	commit.pending_tail = &req->next;
	pthread_cond_signal(&commit.wake);
	pthread_mutex_unlock(&commit.lock);
}

void
commit_stop(void)
{
	if (!commit.running)
		return;
	pthread_mutex_lock(&commit.lock);
	commit.stopping = true;
	pthread_cond_signal(&commit.wake);
	pthread_mutex_unlock(&commit.lock);
	pthread_join(commit.thread, NULL);
	commit.running = false;
	commit_on_done(-1, 0, NULL);
	event_free(commit.done_ev);
}
