/*
 * job: the delivery jobs jobctl runs -- one process of the channel's
 * MASTER_COMMAND each, fed entries on its stdin and answering on its
 * stdout (common/channel_job.h).  A job holds at most JOB_OUTSTANDING
 * entries at a time; its answers are settled entry by entry (entry.c).
 * A job that dies, or says something malformed, is killed; what it held
 * without a done line is deferred, so nothing is lost: at worst a message
 * is delivered twice.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobctl.h"
#include "log.h"
#include "xmalloc.h"

static void job_free(struct jc_job *job);

static struct jc_given *
job_given_find(struct jc_job *job, const char *path)
{
	for (size_t i = 0; i < job->ngiven; i++)
		if (strcmp(job->given[i].entry->path, path) == 0)
			return &job->given[i];
	return NULL;
}

static void
job_given_drop(struct jc_job *job, struct jc_given *g)
{
	for (size_t i = 0; i < g->nresults; i++)
		free(g->results[i].text);
	free(g->results);
	g->entry->job = NULL;
	*g = job->given[--job->ngiven];
	if (job->ngiven == 0)
		job->idle_since = time(NULL);
}

/* Settle what the job held and drop it (it is done, or it died). */
static void
job_settle(struct jc_job *job, struct jc_given *g)
{
	struct jc_entry *e = g->entry;
	struct jc_result *results = g->results;
	size_t n = g->nresults;

	g->results = NULL;
	g->nresults = 0;
	job_given_drop(job, g);
	entry_settle(job->jc, e, results, n, "no answer from the job");
	for (size_t i = 0; i < n; i++)
		free(results[i].text);
	free(results);
}

static void
job_add_result(struct jc_given *g, const struct channel_job_line *l)
{
	g->results = xrealloc(g->results, (g->nresults + 1) * sizeof(*g->results));
	g->results[g->nresults++] = (struct jc_result){
		.index = l->index, .result = l->result, .code = l->code,
		.text = xstrdup(l->text),
	};
}

/* A job that broke the protocol: it is stopped, its entries deferred. */
static void
job_kill(struct jc_job *job, const char *why)
{
	log_err("job pid=%ld channel=%s killed: %s", (long)job->pid,
	    job->chan->name, why);
	if (job->pid > 0 && !job->reaped)
		kill(job->pid, SIGKILL);
	job_finish_input(job);
}

static void
job_line(struct jc_job *job, const char *line)
{
	struct channel_job_line l;
	struct jc_given *g;

	if (!channel_job_parse(line, &l) || l.kind == CJ_ENTRY) {
		job_kill(job, "malformed answer");
		return;
	}
	if ((g = job_given_find(job, l.path)) == NULL) {
		log_warn("job pid=%ld answered for %s, which it does not hold",
		    (long)job->pid, l.path);
		return;
	}
	if (l.kind == CJ_RCPT)
		job_add_result(g, &l);
	else
		job_settle(job, g);
}

static void
job_on_read(struct bufferevent *bev, void *arg)
{
	struct jc_job *job = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
		job_line(job, line);
		free(line);
		if (job->out_closed)
			return;
	}
	if (evbuffer_get_length(in) > CHANNEL_JOB_LINE_MAX)
		job_kill(job, "answer line too long");
	event_active(job->jc->tick, EV_TIMEOUT, 0);
}

static void
job_check_gone(struct jc_job *job)
{
	if (!job->out_closed || !job->reaped)
		return;
	while (job->ngiven > 0)
		job_settle(job, &job->given[0]);
	job_free(job);
}

static void
job_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct jc_job *job = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		job->out_closed = true;
		bufferevent_disable(job->out, EV_READ);
		job_check_gone(job);
	}
}

static void
job_on_in_event(struct bufferevent *bev, short what, void *arg)
{
	struct jc_job *job = arg;

	(void)bev;
	if ((what & BEV_EVENT_ERROR) && job->in != NULL) {
		bufferevent_free(job->in);     /* it stopped reading: EPIPE */
		job->in = NULL;
	}
}

static void
job_exec(const struct jc_job *job, const char *conf, int in, int out)
{
	const char *cmd = job->chan->prog->master_command;

	if (dup2(in, 0) == -1 || dup2(out, 1) == -1)
		_exit(127);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	execl(cmd, cmd, "-c", conf, job->chan->name, (char *)NULL);
	fprintf(stderr, "jobctl: exec(\"%s\"): %s\n", cmd, strerror(errno));
	_exit(127);
}

struct jc_job *
job_start(struct jobctl *jc, struct jc_channel *chan)
{
	int to_job[2], from_job[2];
	struct jc_job *job = xcalloc(1, sizeof(*job));

	job->jc = jc;
	job->chan = chan;
	job->idle_since = time(NULL);
	if (pipe2(to_job, O_CLOEXEC) == -1 || pipe2(from_job, O_CLOEXEC) == -1) {
		log_err("pipe: %s", strerror(errno));
		free(job);
		return NULL;
	}
	job->pid = fork();
	if (job->pid == 0)
		job_exec(job, jc->cfg->path, to_job[0], from_job[1]);
	close(to_job[0]);
	close(from_job[1]);
	if (job->pid == -1) {
		log_err("fork: %s", strerror(errno));
		close(to_job[1]);
		close(from_job[0]);
		free(job);
		return NULL;
	}
	evutil_make_socket_nonblocking(to_job[1]);
	evutil_make_socket_nonblocking(from_job[0]);
	job->in = bufferevent_socket_new(jc->base, to_job[1], BEV_OPT_CLOSE_ON_FREE);
	job->out = bufferevent_socket_new(jc->base, from_job[0],
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(job->in, NULL, NULL, job_on_in_event, job);
	bufferevent_setcb(job->out, job_on_read, NULL, job_on_event, job);
	bufferevent_enable(job->in, EV_WRITE);
	bufferevent_enable(job->out, EV_READ);
	job->next = jc->jobs;
	jc->jobs = job;
	chan->njobs++;
	chan->pool->njobs++;
	jc->jobs_started++;
	log_info("job pid=%ld channel=%s started (%s)", (long)job->pid,
	    chan->name, chan->prog->master_command);
	return job;
}

void
job_give(struct jc_job *job, struct jc_entry *e)
{
	if (job->ngiven == job->capgiven) {
		job->capgiven = job->capgiven ? 2 * job->capgiven : JOB_OUTSTANDING;
		job->given = xrealloc(job->given, job->capgiven * sizeof(*job->given));
	}
	job->given[job->ngiven++] = (struct jc_given){ .entry = e };
	e->job = job;
	evbuffer_add_printf(bufferevent_get_output(job->in), "entry %s\n",
	    e->path);
}

static void
job_on_in_drained(struct bufferevent *bev, void *arg)
{
	struct jc_job *job = arg;

	(void)bev;
	if (evbuffer_get_length(bufferevent_get_output(job->in)) > 0)
		return;
	bufferevent_free(job->in);     /* the job reads EOF */
	job->in = NULL;
}

/* Close the job's input once what was written to it is out. */
void
job_finish_input(struct jc_job *job)
{
	if (job->in == NULL || job->closing_in)
		return;
	job->closing_in = true;
	bufferevent_setcb(job->in, NULL, job_on_in_drained, job_on_in_event, job);
	job_on_in_drained(job->in, job);
}

static void
job_free(struct jc_job *job)
{
	struct jc_job **p = &job->jc->jobs;

	while (*p != job)
		p = &(*p)->next;
	*p = job->next;
	if (job->in != NULL)
		bufferevent_free(job->in);
	bufferevent_free(job->out);
	job->chan->njobs--;
	job->chan->pool->njobs--;
	free(job->given);
	free(job);
}

void
job_reap(struct jobctl *jc)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct jc_job *job = jc->jobs; job != NULL; job = job->next) {
			if (job->pid != pid)
				continue;
			job->reaped = true;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
			    job->ngiven > 0)
				log_warn("job pid=%ld channel=%s exited status=%d with "
				    "%zu entries unanswered", (long)pid, job->chan->name,
				    WIFEXITED(status) ? WEXITSTATUS(status) :
				    128 + WTERMSIG(status), job->ngiven);
			else
				log_info("job pid=%ld channel=%s done", (long)pid,
				    job->chan->name);
			job_check_gone(job);
			break;
		}
	}
	event_active(jc->tick, EV_TIMEOUT, 0);
}

void
job_kill_all(struct jobctl *jc)
{
	for (struct jc_job *job = jc->jobs; job != NULL; job = job->next) {
		job_finish_input(job);
		if (!job->reaped)
			kill(job->pid, SIGTERM);
	}
}
