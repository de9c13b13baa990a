/*
 * entry: what a job's answers do to a queue entry (jobctl owns the queue:
 * jobs never change files).
 *
 *   every recipient answered (delivered, handed on, or failed): reports
 *     for the failures (and successes asked for: "delivered", or
 *     "relayed" for a next hop without DSN; none for one that took the
 *     DSN request along), then the file is removed;
 *   some still pending: the attempt is counted and the next retry set by
 *     the channel's backoff; past the last `notices` mark the pending ones
 *     fail ("4.4.7 delivery time expired") and the message is returned;
 *     past an earlier mark a delay warning goes out once.
 *
 * A changed entry is written whole under a hidden name in its own
 * directory, fsync'd, renamed over the old one and the directory fsync'd:
 * a crash leaves the old entry or the new one, never a mix.  Every step
 * has its line in the tracking log (D delivered, F failed, Q deferred,
 * R returned); reports are entries of their own (report.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobctl.h"
#include "log.h"
#include "queue_entry.h"
#include "xmalloc.h"

/* An entry file: its envelope, and its message once it is needed (a
 * rewrite, a report); a delivered entry is removed without reading it. */
struct entry_file {
	const char *path;
	struct queue_env env;
	size_t body;
	char *msg;
	size_t len;
};

static bool
entry_read(const char *path, struct entry_file *f)
{
	char *err = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(f, 0, sizeof(*f));
	f->path = path;
	if (fd == -1) {
		log_err("entry %s: open: %s", path, strerror(errno));
		return false;
	}
	bool ok = queue_entry_envelope(fd, &f->env, &f->body, &err);
	close(fd);
	if (!ok)
		log_err("entry %s: %s", path, err ? err : "unreadable");
	free(err);
	return ok;
}

/* The message, read now; false (logged) when it cannot be. */
static bool
entry_read_message(struct entry_file *f)
{
	char *err = NULL;
	int fd;
	bool ok;

	if (f->msg != NULL)
		return true;
	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_err("entry %s: open: %s", f->path, strerror(errno));
		return false;
	}
	ok = queue_entry_message(fd, f->body, f->env.size, &f->msg, &err);
	close(fd);
	if (ok)
		f->len = f->env.size;
	else
		log_err("entry %s: %s", f->path, err);
	free(err);
	return ok;
}

static void
entry_file_clear(struct entry_file *f)
{
	queue_env_clear(&f->env);
	free(f->msg);
	f->msg = NULL;
}

int
entry_write(const char *path, const struct queue_env *env, const char *msg,
    size_t len)
{
	char *err = NULL;
	int rc = queue_entry_write(path, env, msg, len, &err);

	if (rc != 0)
		log_err("entry %s: %s", path, err);
	free(err);
	return rc;
}

static const struct jc_result *
entry_result(const struct jc_result *r, size_t n, size_t index)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].index == index)
			return &r[i];
	return NULL;
}

/* Delivered, or handed to a next hop (channel_job.h): done with here. */
static bool
entry_delivered(enum channel_job_result r)
{
	return r == CJ_OK || r == CJ_RELAYED || r == CJ_PASSED;
}

/* Apply the answers: states change, counts come back. */
static void
entry_apply(struct jobctl *jc, struct jc_entry *e, struct entry_file *f,
    const struct jc_result *res, size_t n, const char *unanswered,
    size_t *pending)
{
	*pending = 0;
	for (size_t i = 0; i < f->env.nrcpts; i++) {
		struct queue_rcpt *r = &f->env.rcpts[i];
		const struct jc_result *a = entry_result(res, n, i);
		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		if (a != NULL && entry_delivered(a->result)) {
			r->state = QUEUE_RCPT_DELIVERED;
			jc->delivered++;
			track_event(jc, 'D', &f->env, r, e->chan->name, a->code, a->text);
			if (a->result != CJ_PASSED)     /* the next hop reports */
				report_add(jc, &f->env, r, a->result == CJ_RELAYED ?
				    DSN_RELAYED : DSN_DELIVERED, a->code, a->text);
		} else if (a != NULL && a->result == CJ_FAIL) {
			r->state = QUEUE_RCPT_FAILED;
			jc->failed++;
			track_event(jc, 'F', &f->env, r, e->chan->name, a->code, a->text);
			report_add(jc, &f->env, r, DSN_FAILED, a->code, a->text);
		} else {
			(*pending)++;
			jc->deferred++;
			track_event(jc, 'Q', &f->env, r, e->chan->name,
			    a ? a->code : 0, a ? a->text : unanswered);
		}
	}
}

/* Past the last notices mark: every pending recipient fails. */
static bool
entry_expire(struct jobctl *jc, struct jc_entry *e, struct entry_file *f,
    long long now)
{
	long long expiry = sched_expiry(jc, e);

	if (expiry == 0 || now < expiry)
		return false;
	for (size_t i = 0; i < f->env.nrcpts; i++) {
		struct queue_rcpt *r = &f->env.rcpts[i];
		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		r->state = QUEUE_RCPT_FAILED;
		jc->failed++;
		track_event(jc, 'R', &f->env, r, e->chan->name, 0,
		    "4.4.7 delivery time expired");
		report_add(jc, &f->env, r, DSN_FAILED, 0,
		    "4.4.7 delivery time expired");
	}
	return true;
}

/* An earlier notices mark passed since the last warning: warn once. */
static void
entry_warn(struct jobctl *jc, struct jc_entry *e, struct entry_file *f,
    long long now)
{
	int n, passed = 0;
	const int *marks = imta_channel_notices(jc->cfg->imta, e->chan->ch,
	    class_imta_prio(e->priority), &n);

	while (passed < n - 1 &&
	    now - f->env.created >= (long long)marks[passed] * 86400)
		passed++;
	if (passed <= f->env.warned)
		return;
	f->env.warned = passed;
	for (size_t i = 0; i < f->env.nrcpts; i++)
		if (f->env.rcpts[i].state == QUEUE_RCPT_PENDING)
			report_add(jc, &f->env, &f->env.rcpts[i], DSN_DELAYED, 0,
			    "4.4.7 delivery delayed, still trying");
}

void
entry_settle(struct jobctl *jc, struct jc_entry *e,
    const struct jc_result *results, size_t nresults, const char *unanswered)
{
	struct entry_file f;
	long long now = time(NULL);
	size_t pending;

	if (!entry_read(e->path, &f)) {
		index_remove(&jc->ix, e);
		return;
	}
	report_begin(jc, &f.env);
	entry_apply(jc, e, &f, results, nresults, unanswered, &pending);
	bool rewrite = pending > 0 && !entry_expire(jc, e, &f, now);
	if (rewrite)
		entry_warn(jc, e, &f, now);
	if ((rewrite || report_wanted(jc)) && !entry_read_message(&f)) {
		report_end(jc);         /* nothing to return: no report */
		entry_file_clear(&f);
		e->retry = now + 60;
		return;
	}
	report_set_message(jc, f.msg, f.len);
	report_end(jc);         /* the reports are on disk before the entry changes */
	if (rewrite) {
		f.env.attempts++;
		f.env.retry = sched_next_retry(e, f.env.attempts, now);
		if (entry_write(e->path, &f.env, f.msg, f.len) == 0) {
			e->attempts = f.env.attempts;
			e->retry = f.env.retry;
		} else {
			e->retry = now + 60;    /* the file is as it was */
		}
	} else if (unlink(e->path) == 0 || errno == ENOENT) {
		/* Not synced: a crash may bring the entry back and deliver it
		 * twice, never lose it. */
		index_remove(&jc->ix, e);
	}
	entry_file_clear(&f);
}
