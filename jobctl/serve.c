/*
 * serve: the job controller daemon.
 *
 * Start-up: the queue root becomes the working directory (jobs run
 * there), the whole queue is scanned into the index, the notification
 * socket is bound (the mta announces each new entry there, the operator's
 * `queue release|retry` too; "rescan" when announcements were lost,
 * "status" from `jobctl status`), then the loop runs the scheduler whenever
 * something changes and when the next entry falls due.  The queue is
 * scanned again every jobctl.rescaninterval, so an entry nobody announced
 * (jobctl was down, a datagram was lost) is found anyway.
 *
 * SIGTERM/SIGINT: no new jobs; running jobs get their input closed and
 * finish what they hold (at most JOBCTL_DRAIN_SECS), then jobctl exits.
 * SIGKILL at any moment loses nothing: the files are the truth.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "durable.h"
#include "jobctl.h"
#include "log.h"
#include "proc.h"
#include "track.h"
#include "xmalloc.h"

#define JOBCTL_DRAIN_SECS 30

static void
serve_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct jobctl *jc = arg;
	long long now = time(NULL);
	long long next = sched_run(jc, now);

	(void)fd;
	(void)what;
	if (jc->stopping) {
		if (jc->jobs == NULL || now >= jc->stop_deadline)
			event_base_loopexit(jc->base, NULL);
		struct timeval tv = { 0, 200000 };
		event_add(jc->tick, &tv);
		return;
	}
	if (next != 0) {
		struct timeval tv = { next > now ? next - now : 0, 0 };
		event_add(jc->tick, &tv);   /* 0: again once other events ran */
	}
}

static void
serve_kick(struct jobctl *jc)
{
	event_active(jc->tick, EV_TIMEOUT, 0);
}

/* "CHANNEL/SS/ID": a new entry, or one to try now. */
static void
serve_announced(struct jobctl *jc, const char *path)
{
	struct jc_entry *e = index_load(&jc->ix, path);

	if (e != NULL && e->job == NULL)
		e->retry = 0;
}

/* `jobctl status` asked: the answer goes back to its socket. */
static void
serve_status(struct jobctl *jc, bool tsv, int fd,
    const struct sockaddr_un *to, socklen_t tolen)
{
	size_t len;
	char *text = status_text(jc, tsv, &len);

	if (sendto(fd, text, len, MSG_DONTWAIT, (const struct sockaddr *)to,
	    tolen) == -1)
		log_warn("status: sendto: %s", strerror(errno));
	free(text);
}

static void
serve_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct jobctl *jc = arg;
	char buf[CHANNEL_JOB_PATH_MAX + 2];
	struct sockaddr_un from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;

	(void)what;
	while ((n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT,
	    (struct sockaddr *)&from, &fromlen)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, "status") == 0 || strcmp(buf, "status tsv") == 0)
			serve_status(jc, buf[6] != '\0', fd, &from, fromlen);
		else if (strcmp(buf, "rescan") == 0)
			log_info("rescan asked: %zu entries", index_scan(&jc->ix));
		else
			serve_announced(jc, buf);
		fromlen = sizeof(from);
	}
	serve_kick(jc);
}

static int
serve_bind_notify(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		log_fatal("mta.jobctl.socket \"%s\": too long", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		log_fatal("bind(\"%s\"): %s", path, strerror(errno));
	return fd;
}

static void
serve_on_rescan(evutil_socket_t fd, short what, void *arg)
{
	struct jobctl *jc = arg;

	(void)fd;
	(void)what;
	log_debug("rescan: %zu entries", index_scan(&jc->ix));
	serve_kick(jc);
}

static void
serve_on_child(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	job_reap(arg);
}

static void
serve_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct jobctl *jc = arg;

	(void)what;
	if (jc->stopping)
		return;
	log_info("signal=%d stopping jobs=%s", (int)sig, jc->jobs ? "running" :
	    "none");
	jc->stopping = true;
	jc->stop_deadline = time(NULL) + JOBCTL_DRAIN_SECS;
	for (struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		job_finish_input(j);
	serve_kick(jc);
}

static void
serve_metrics(void *arg, struct evbuffer *out)
{
	struct jobctl *jc = arg;
	unsigned long long running = 0;

	for (struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		running++;
	admin_metric_one(out, "jobctl_entries", "gauge", "Queue entries indexed.",
	    jc->ix.nentries);
	admin_metric_one(out, "jobctl_jobs", "gauge", "Delivery jobs running.",
	    running);
	admin_metric_one(out, "jobctl_jobs_started_total", "counter",
	    "Delivery jobs started.", jc->jobs_started);
	admin_metric_one(out, "jobctl_delivered_total", "counter",
	    "Recipients delivered.", jc->delivered);
	admin_metric_one(out, "jobctl_deferred_total", "counter",
	    "Recipients deferred (each attempt).", jc->deferred);
	admin_metric_one(out, "jobctl_failed_total", "counter",
	    "Recipients failed.", jc->failed);
	admin_metric_one(out, "jobctl_reports_total", "counter",
	    "Delivery status notifications queued.", jc->reports);
}

/* Jobs get msg.conf's absolute path: they run in the queue root.
 * Returns that path (the caller frees it when it stops). */
static char *
serve_enter_queue(struct jobctl_config *cfg)
{
	char *abs = realpath(cfg->path, NULL);

	if (abs == NULL)
		log_fatal("realpath(\"%s\"): %s", cfg->path, strerror(errno));
	cfg->path = abs;
	if (durable_mkdirs(cfg->queue_path, 0700) != 0 ||
	    chdir(cfg->queue_path) == -1)
		log_fatal("chdir(\"%s\"): %s", cfg->queue_path, strerror(errno));
	return abs;
}

int
jobctl_serve(struct jobctl_config *cfg, bool foreground)
{
	struct jobctl jc = { .cfg = cfg };
	struct admin *admin = NULL;
	char *err = NULL;
	int nfd = -1;

	const char *given_path = cfg->path;
	char *abs_path = serve_enter_queue(cfg);
	jc.base = event_base_new();
	if (*cfg->admin_listen != '\0' && (admin = admin_start(jc.base,
	    cfg->admin_listen, serve_metrics, &jc, &err)) == NULL)
		log_fatal("%s", err);
	if (*cfg->notify_socket != '\0')
		nfd = serve_bind_notify(cfg->notify_socket);
	if (!foreground && daemon(1, 0) == -1)
		log_fatal("daemon: %s", strerror(errno));
	event_reinit(jc.base);
	const char *paths[] = { cfg->queue_path, NULL };
	if (!proc_drop_privileges(cfg->local.run_user, paths, &err))
		log_fatal("%s", err);
	if (!track_open(cfg->track_path, &err))
		log_fatal("%s", err);
	index_init(&jc.ix, cfg);
	log_info("jobctl started queue=%s entries=%zu", cfg->queue_path,
	    index_scan(&jc.ix));
	jc.tick = event_new(jc.base, -1, 0, serve_on_tick, &jc);
	struct timeval every = { cfg->rescan_interval, 0 };
	struct event *evs[] = {
		nfd >= 0 ? event_new(jc.base, nfd, EV_READ | EV_PERSIST,
		    serve_on_notify, &jc) : NULL,
		event_new(jc.base, -1, EV_PERSIST, serve_on_rescan, &jc),
		evsignal_new(jc.base, SIGCHLD, serve_on_child, &jc),
		evsignal_new(jc.base, SIGTERM, serve_on_stop, &jc),
		evsignal_new(jc.base, SIGINT, serve_on_stop, &jc),
	};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_add(evs[i], i == 1 ? &every : NULL);
	serve_kick(&jc);
	event_base_dispatch(jc.base);
	job_kill_all(&jc);
	log_info("jobctl stopped");
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	event_free(jc.tick);
	admin_stop(&admin);
	index_clear(&jc.ix);
	track_close();
	if (nfd >= 0)
		close(nfd);
	event_base_free(jc.base);
	cfg->path = given_path;
	free(abs_path);
	return 0;
}
