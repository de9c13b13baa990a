/*
 * jobctl: private to the job controller's files.
 *
 *   config.c        msg.conf keys, job_controller.cnf and imta.cnf
 *   index.c         the in-memory index of the queue, rebuilt by a scan
 *   sched.c         which entries go to which jobs, when (pools, maxjobs,
 *                   backoff, notices)
 *   dest.c          where an entry goes (threaddepth, status)
 *   class.c         an entry's priority, periodic wait and
 *                   Deferred-delivery: date (class.h)
 *   job.c           delivery jobs: processes, their pipes, their answers
 *   entry.c         applying a job's answers to an entry file
 *   dsn.c           delivery status notifications (RFC 3464)
 *   queue_admin.c   the operator's `jobctl queue ...` commands
 *   status.c        `jobctl status`: the daemon's pools, channels, jobs
 *   main.c          start-up, signals, the notification socket
 */
#ifndef JOBCTL_JOBCTL_H
#define JOBCTL_JOBCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "channel_job.h"
#include "class.h"
#include "imta_conf.h"
#include "jobctl_conf.h"
#include "local.h"
#include "queue.h"

/* ---- configuration (config.c) ---- */

struct jobctl_config {
	const char *path;               /* msg.conf, handed to jobs (-c) */
	struct conf *conf;
	struct conf_key *keys;
	struct local_config local;
	struct imta_conf *imta;
	struct jobctl_conf *jc;
	const char *queue_path;         /* mta.queue.path */
	const char *notify_socket;      /* mta.jobctl.socket ("" none) */
	const char *track_path;         /* mta.tracklog ("" none) */
	const char *admin_listen;       /* jobctl.admin.listen ("" none) */
	const char *postmaster;         /* jobctl.postmaster */
	int rescan_interval;            /* jobctl.rescaninterval, seconds */
};

/* NULL and "file:line: message" lines in *errs on any error. */
struct jobctl_config *jobctl_config_load(const char *path, char **errs);
void jobctl_config_free(struct jobctl_config **cfg);

/* ---- the index of the queue (index.c) ---- */

struct jc_job;
struct jc_dest;

/* One queue entry, as far as scheduling needs it (the file has the rest). */
struct jc_entry {
	char *path;                     /* relative to the queue root */
	const char *id;                 /* its last part */
	struct jc_channel *chan;
	long long created, retry;
	int attempts;
	int priority;                   /* its class (class.h), not just the
	                                 * envelope's */
	bool periodic;                  /* waits for the next periodic run */
	long long not_before;           /* Deferred-delivery:, 0: none */
	uint64_t size;
	struct jc_dest *dest;           /* where it goes (dest.c); NULL until
	                                 * loaded */
	struct jc_job *job;             /* running in it, or NULL */
	bool seen;                      /* found by the scan in progress */
	bool loaded;                    /* its envelope was read */
	size_t slot;                    /* in chan->entries */
	struct jc_entry *hnext;         /* in its hash bucket */
};

struct jc_pool {
	char name[JOBCTL_NAME_MAX + 1];
	int limit;                      /* JOB_LIMIT; 0: none */
	int njobs;
};

struct jc_channel {
	char name[QUEUE_CHANNEL_MAX + 1];
	const struct imta_channel *ch;  /* NULL: not in imta.cnf */
	const struct jobctl_channel *prog;  /* NULL: no program (or slave) */
	bool slave;                     /* imta.cnf's `slave`: no jobs */
	struct jc_pool *pool;
	struct jc_entry **entries;
	size_t nentries, capentries;
	int njobs, maxjobs;
	struct jc_channel *next;
};

struct jc_index {
	const struct jobctl_config *cfg;
	struct jc_channel *channels;
	struct jc_pool *pools;
	size_t npools;
	struct jc_entry **buckets;
	size_t nbuckets, nentries;
	struct jc_dest **dests;         /* dest.c's hash, NULL until used */
};

void index_init(struct jc_index *ix, const struct jobctl_config *cfg);
void index_clear(struct jc_index *ix);
struct jc_channel *index_channel(struct jc_index *ix, const char *name);
struct jc_entry *index_find(struct jc_index *ix, const char *path);
/* Read the entry file at path (relative) and index it, or refresh it;
 * NULL when it is not a valid entry (gone, held, broken: logged). */
struct jc_entry *index_load(struct jc_index *ix, const char *path);
/* Read the envelopes of up to max entries of c the scan found by name
 * only; true when more are left. */
bool index_load_some(struct jc_index *ix, struct jc_channel *c, size_t max);
void index_remove(struct jc_index *ix, struct jc_entry *e);
/* Walk the whole queue; entries whose file went are dropped (unless a
 * job holds them).  New ones are indexed by name only: their envelopes
 * are read when their channel's turn comes (index_load_some), so that
 * starting over a large queue takes a directory walk, not a read of
 * every file.  Returns the entries indexed. */
size_t index_scan(struct jc_index *ix);

/* ---- destinations (dest.c) ---- */

/* Point e at the destination its envelope says (a reference taken, the
 * old one dropped). */
void dest_set(struct jc_index *ix, struct jc_entry *e,
    const struct queue_env *env);
/* Drop the reference *d holds and clear it. */
void dest_put(struct jc_index *ix, struct jc_dest **d);
void dest_clear(struct jc_index *ix);
/* Its name ("-" for NULL). */
const char *dest_name(const struct jc_dest *d);

/* ---- delivery jobs (job.c) ---- */

/* A job's answer for one recipient of an entry. */
struct jc_result {
	size_t index;
	enum channel_job_result result;
	int code;
	char *text;
};

/* An entry handed to a job, and the answers so far. */
struct jc_given {
	struct jc_entry *entry;
	struct jc_result *results;
	size_t nresults;
};

struct jc_job {
	struct jobctl *jc;
	pid_t pid;
	struct jc_channel *chan;
	struct bufferevent *in;         /* the job's stdin; NULL once closed */
	struct bufferevent *out;        /* the job's stdout */
	struct jc_given *given;         /* handed over, not done */
	size_t ngiven, capgiven;
	bool out_closed, reaped, closing_in;
	long long idle_since;           /* when it last had nothing in hand */
	struct jc_job *next;
};

/* The daemon's state. */
struct jobctl {
	struct jobctl_config *cfg;
	struct event_base *base;
	struct jc_index ix;
	struct jc_job *jobs;
	struct event *tick;             /* runs the scheduler: now or when due */
	bool stopping;
	long long stop_deadline;
	unsigned long long delivered, deferred, failed, jobs_started, reports;
	struct jc_report *report;       /* the settling in progress */
};

#define JOB_OUTSTANDING 8       /* entries a job holds at a time */
/* A job with nothing in hand waits this long for more before its input
 * is closed: starting a job (exec, configuration, a new connection) costs
 * far more than delivering a message, and mail comes in bursts. */
#define JC_MAXJOBS_DEFAULT 100   /* the seed's, for a channel without maxjobs */
#define JOB_IDLE_SECS 5

/* Start a job for chan; NULL (logged) when it cannot run. */
struct jc_job *job_start(struct jobctl *jc, struct jc_channel *chan);
/* Hand an entry to a job. */
void job_give(struct jc_job *job, struct jc_entry *e);
/* No more work for it: close its input. */
void job_finish_input(struct jc_job *job);
/* A child exited (SIGCHLD): reap what exited and settle their entries. */
void job_reap(struct jobctl *jc);
void job_kill_all(struct jobctl *jc);

/* ---- applying answers to entries (entry.c) ---- */

/* The job answered every recipient it will (done, or it died: then
 * results may be partial, the rest deferred, logged with unanswered).
 * Rewrites or removes the entry file and updates or drops e. */
void entry_settle(struct jobctl *jc, struct jc_entry *e,
    const struct jc_result *results, size_t nresults, const char *unanswered);

/* Write an entry file whole: a hidden name in its directory, fsync,
 * rename over path, fsync the directory.  0 or -1 (logged). */
int entry_write(const char *path, const struct queue_env *env,
    const char *msg, size_t len);

/* ---- reports and the tracking log (report.c) ---- */

#include "dsn.h"

/* One line in the tracking log and the log for a recipient's fate. */
void track_event(struct jobctl *jc, char event, const struct queue_env *env,
    const struct queue_rcpt *r, const char *channel, int code,
    const char *text);
/* Reports for one entry's settling: begin, add per recipient, end (the
 * reports are written as new entries of the reprocess channel, which
 * routes them to the sender, or the postmaster when the sender is the
 * null one). */
void report_begin(struct jobctl *jc, const struct queue_env *env);
/* Whether a report will be made (then the message is needed). */
bool report_wanted(const struct jobctl *jc);
void report_set_message(struct jobctl *jc, const char *msg, size_t len);
void report_add(struct jobctl *jc, const struct queue_env *env,
    const struct queue_rcpt *r, enum dsn_action action, int code,
    const char *text);
void report_end(struct jobctl *jc);

/* ---- the scheduler (sched.c) ---- */

/* Start jobs and hand them due entries, within the limits; when the next
 * entry will be due (0: nothing waits). */
long long sched_run(struct jobctl *jc, long long now);
/* When the entry may go next (retry, after, its class's waits). */
long long sched_due_at(const struct jobctl *jc, const struct jc_entry *e);
/* When the entry's last notices mark passes (0: never). */
long long sched_expiry(const struct jobctl *jc, const struct jc_entry *e);
/* When an entry deferred for the attempts-th time may be tried again. */
long long sched_next_retry(const struct jc_entry *e, int attempts,
    long long now);

/* ---- the daemon (serve.c) ---- */

/* Run until SIGTERM; the exit status. */
int jobctl_serve(struct jobctl_config *cfg, bool foreground);

/* ---- jobctl status (status.c) ---- */

/* The daemon's state as text (malloc'd), for people or (tsv) scripts. */
char *status_text(const struct jobctl *jc, bool tsv, size_t *len);
/* The client: ask the running daemon and print its answer. */
int status_main(const struct jobctl_config *cfg, bool tsv);

/* ---- the operator's commands (queue_admin.c) ---- */

/* jobctl -c msg.conf queue list|show|counts|hold|release|retry|delete ...;
 * returns the exit status. */
int queue_admin_main(const struct jobctl_config *cfg, int argc, char **argv);

#endif
