/*
 * sched: which entries go to which jobs, and when.
 *
 * An entry is due when its retry time has come (and, for a channel with
 * `after`, that long after it was queued) and no job holds it.  Due
 * entries go to an idle job of the channel first, then to a new job
 * while the channel is under its maxjobs (imta.cnf; 100 when unset) and
 * its pool under JOB_LIMIT (job_controller.cnf): the smaller limit wins;
 * past that to the running job with the least in hand (each holds at
 * most JOB_OUTSTANDING at a time).  Jobs work one entry at a time, so
 * spreading entries over jobs is what delivers them in parallel; the
 * seed's keywords for more threads map onto jobs: `filesperjob N` starts
 * a new job only for each N entries in hand or waiting, `threaddepth N`
 * keeps up to N entries of one destination (dest.c) in the job that has
 * some before the destination gets another.  Higher
 * priority first (urgent, normal, non-urgent), then the oldest.  A job
 * with nothing to do for JOB_IDLE_SECS gets its input closed and ends;
 * so does an idle one whose pool slot another channel needs.
 *
 * The entry's class (class.h) adds waits: a non-urgent one without
 * immnonurgent, or one past nonurgentblocklimit, first goes at the next
 * periodic run (every jobctl.rescaninterval, aligned to the clock: the
 * seed's periodic job); one with a Deferred-delivery: date to come, in a
 * channel with `deferred`, waits for it, or is returned at its last
 * notices mark if that comes first.
 *
 * Retries follow the channel's backoff for the entry's priority (the
 * seed's defaults otherwise); the last interval repeats.
 */
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"
#include "log.h"

#define SCHED_LOAD_BATCH 2000   /* envelopes read per scheduler run */

long long
sched_next_retry(const struct jc_entry *e, int attempts, long long now)
{
	int n;
	const long long *sched = imta_channel_backoff(e->chan->ch,
	    class_imta_prio(e->priority), &n);
	int k = attempts < 1 ? 0 : attempts - 1;

	if (n == 0)
		return now + 3600;
	return now + sched[k < n ? k : n - 1];
}

long long
sched_expiry(const struct jobctl *jc, const struct jc_entry *e)
{
	int n;
	const int *marks = imta_channel_notices(jc->cfg->imta, e->chan->ch,
	    class_imta_prio(e->priority), &n);

	return n == 0 ? 0 : e->created + (long long)marks[n - 1] * 86400;
}

/* The latest of its retry time, `after`, the periodic run it waits for
 * and its Deferred-delivery: date -- but no later than its expiry, when
 * a message held for a date too far off is returned undelivered. */
long long
sched_due_at(const struct jobctl *jc, const struct jc_entry *e)
{
	long long after = e->chan->ch ? e->chan->ch->kw.after : 0;
	long long t = e->retry;

	if (after > 0 && e->created + after > t)
		t = e->created + after;
	if (e->periodic) {
		long long run = class_periodic_at(e->created,
		    jc->cfg->rescan_interval);
		t = run > t ? run : t;
	}
	if (e->not_before > t) {
		long long expiry = sched_expiry(jc, e);
		t = expiry != 0 && expiry < e->not_before ? expiry : e->not_before;
	}
	return t;
}

/* Higher priority, then older, first. */
static int
sched_compare(const void *a, const void *b)
{
	const struct jc_entry *x = *(const struct jc_entry *const *)a;
	const struct jc_entry *y = *(const struct jc_entry *const *)b;

	if (x->priority != y->priority)
		return y->priority - x->priority;
	return strcmp(x->id, y->id);
}

static bool
sched_can_start(const struct jc_channel *c)
{
	return c->prog != NULL && c->njobs < c->maxjobs &&
	    (c->pool->limit <= 0 || c->pool->njobs < c->pool->limit);
}

/* Does the job still take entries? */
static bool
sched_job_open(const struct jc_job *j)
{
	return j->in != NULL && !j->closing_in;
}

/* The job of c with the least in hand, or NULL. */
static struct jc_job *
sched_least_busy(struct jobctl *jc, struct jc_channel *c)
{
	struct jc_job *best = NULL;

	for (struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		if (j->chan == c && sched_job_open(j) &&
		    (best == NULL || j->ngiven < best->ngiven))
			best = j;
	return best;
}

/* threaddepth: the job of c already holding entries for e's destination
 * and fewer than the channel's threaddepth of them, to keep them
 * together (one session, one after the other); NULL when there is none,
 * or the channel has no threaddepth. */
static struct jc_job *
sched_same_dest(struct jobctl *jc, struct jc_channel *c,
    const struct jc_entry *e)
{
	int depth = c->ch != NULL ? c->ch->kw.threaddepth : 0;

	if (depth <= 0 || e->dest == NULL)
		return NULL;
	for (struct jc_job *j = jc->jobs; j != NULL; j = j->next) {
		int n = 0;
		if (j->chan != c || !sched_job_open(j))
			continue;
		for (size_t i = 0; i < j->ngiven; i++)
			n += j->given[i].entry->dest == e->dest;
		if (n > 0 && n < depth && j->ngiven < JOB_OUTSTANDING)
			return j;
	}
	return NULL;
}

/* filesperjob: with waiting entries still to hand out, does c want
 * another job?  One per filesperjob entries in hand or waiting; without
 * the keyword, whenever every job is busy. */
static bool
sched_wants_job(const struct jobctl *jc, const struct jc_channel *c,
    size_t waiting)
{
	int per = c->ch != NULL ? c->ch->kw.filesperjob : 0;
	size_t held = 0;

	if (per <= 0 || c->njobs == 0)
		return true;
	for (const struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		if (j->chan == c)
			held += j->ngiven;
	return held + waiting > (size_t)per * (size_t)c->njobs;
}

/* The job for e (waiting: due entries not handed out yet, e among them):
 * a job with its destination below threaddepth, an idle job, a new one
 * when the limits and filesperjob allow, or the least busy one with
 * room; NULL when every job is full. */
static struct jc_job *
sched_job_for(struct jobctl *jc, struct jc_channel *c,
    const struct jc_entry *e, size_t waiting)
{
	struct jc_job *j = sched_same_dest(jc, c, e);

	if (j != NULL)
		return j;
	j = sched_least_busy(jc, c);
	if ((j == NULL || (j->ngiven > 0 && sched_wants_job(jc, c, waiting))) &&
	    sched_can_start(c) && !jc->stopping) {
		struct jc_job *fresh = job_start(jc, c);
		if (fresh != NULL)
			return fresh;
	}
	return j != NULL && j->ngiven < JOB_OUTSTANDING ? j : NULL;
}

/* c waits for a job while its pool is full: an idle job of another
 * channel of the pool ends, so that its slot is not held for the rest
 * of its JOB_IDLE_SECS; c's job starts once it is reaped. */
static void
sched_reclaim(struct jobctl *jc, struct jc_channel *c)
{
	if (c->prog == NULL || c->njobs >= c->maxjobs || jc->stopping)
		return;
	for (struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		if (j->chan != c && j->chan->pool == c->pool &&
		    sched_job_open(j) && j->ngiven == 0) {
			job_finish_input(j);
			return;
		}
}

/* Hand c's due entries out; the earliest time one will be due (now when
 * entries found by name only are still to be read). */
static long long
sched_channel(struct jobctl *jc, struct jc_channel *c, long long now)
{
	long long next = 0;
	size_t ndue = 0;

	/* Only a channel that runs jobs needs its envelopes; a batch per
	 * run keeps the loop answering while a large queue is read. */
	if (c->prog != NULL && index_load_some(&jc->ix, c, SCHED_LOAD_BATCH))
		next = now;
	struct jc_entry **due = calloc(c->nentries + 1, sizeof(*due));
	for (size_t i = 0; due != NULL && i < c->nentries; i++) {
		struct jc_entry *e = c->entries[i];
		long long at = sched_due_at(jc, e);
		if (e->job != NULL || !e->loaded)
			continue;
		if (at <= now)
			due[ndue++] = e;
		else if (next == 0 || at < next)
			next = at;
	}
	qsort(due, ndue, sizeof(*due), sched_compare);
	for (size_t i = 0; i < ndue; i++) {
		if (due[i]->not_before > now) {         /* expired while held */
			entry_settle(jc, due[i], NULL, 0, "4.4.0 held until its "
			    "Deferred-delivery: date");
			next = now;     /* its report is a new entry to schedule */
			continue;
		}
		struct jc_job *j = sched_job_for(jc, c, due[i], ndue - i);
		if (j == NULL) {
			sched_reclaim(jc, c);
			break;
		}
		job_give(j, due[i]);
	}
	free(due);
	return next;
}

/* Jobs idle for JOB_IDLE_SECS end; the earlier of next and when the
 * next idle one will have waited that long. */
static long long
sched_end_idle(struct jobctl *jc, long long now, long long next)
{
	for (struct jc_job *j = jc->jobs; j != NULL; j = j->next) {
		if (j->ngiven > 0 || j->in == NULL)
			continue;
		long long end = j->idle_since + JOB_IDLE_SECS;
		if (end <= now || jc->stopping)
			job_finish_input(j);
		else if (next == 0 || end < next)
			next = end;
	}
	return next;
}

long long
sched_run(struct jobctl *jc, long long now)
{
	long long next = 0;

	for (struct jc_channel *c = jc->ix.channels; c != NULL; c = c->next) {
		long long t = sched_channel(jc, c, now);
		if (t != 0 && (next == 0 || t < next))
			next = t;
	}
	return sched_end_idle(jc, now, next);
}
