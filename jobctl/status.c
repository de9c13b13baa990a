/*
 * status: `jobctl status [--tsv]`, what the running daemon is doing -- its
 * pools, channels (entries, due now, jobs and their limits, the next
 * retry), the same backlog per destination of each channel (dest.c), and
 * jobs.  The client asks over the daemon's notification socket: a
 * datagram "status" from a socket of its own (Linux autobind), answered
 * with one datagram of text to that socket.  The queue files are not
 * read: `jobctl queue` does that.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "jobctl.h"
#include "xmalloc.h"

#define STATUS_MAX (192 * 1024)        /* one datagram */
#define STATUS_TIMEOUT_MS 5000
#define STATUS_DESTS_MAX 100            /* per channel, the largest first */

/* The backlog of a channel, or of one destination of it. */
struct status_row {
	const char *name;
	size_t entries, due, in_jobs;
	long long next;                 /* the next entry due later, 0: none */
};

static void
status_count(struct status_row *r, const struct jobctl *jc,
    const struct jc_entry *e, long long now)
{
	long long at;

	r->entries++;
	if (e->job != NULL)
		r->in_jobs++;
	else if (!e->loaded || (at = sched_due_at(jc, e)) <= now)
		r->due++;
	else if (r->next == 0 || at < r->next)
		r->next = at;
}

static int
status_by_dest(const void *a, const void *b)
{
	const struct jc_entry *x = *(const struct jc_entry *const *)a;
	const struct jc_entry *y = *(const struct jc_entry *const *)b;

	return strcmp(dest_name(x->dest), dest_name(y->dest));
}

static int
status_by_size(const void *a, const void *b)
{
	const struct status_row *x = a, *y = b;

	if (x->entries != y->entries)
		return x->entries < y->entries ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* c's destinations, the largest backlog first (*n of them, malloc'd);
 * entries not read yet count under "-". */
static struct status_row *
status_dests(const struct jobctl *jc, const struct jc_channel *c,
    long long now, size_t *n)
{
	const struct jc_entry **v = xcalloc(c->nentries + 1, sizeof(*v));
	struct status_row *rows = xcalloc(c->nentries + 1, sizeof(*rows));

	memcpy(v, c->entries, c->nentries * sizeof(*v));
	qsort(v, c->nentries, sizeof(*v), status_by_dest);
	*n = 0;
	for (size_t i = 0; i < c->nentries; i++) {
		const char *name = dest_name(v[i]->dest);
		if (*n == 0 || strcmp(rows[*n - 1].name, name) != 0)
			rows[(*n)++].name = name;
		status_count(&rows[*n - 1], jc, v[i], now);
	}
	free(v);
	qsort(rows, *n, sizeof(*rows), status_by_size);
	return rows;
}

static void
status_row_text(FILE *f, const struct status_row *r, long long now)
{
	fprintf(f, "entries %-8zu due %-8zu in-jobs %zu", r->entries, r->due,
	    r->in_jobs);
	if (r->next != 0)
		fprintf(f, " next-retry %llds", r->next - now);
}

static void
status_channel_text(FILE *f, const struct jobctl *jc,
    const struct jc_channel *c, long long now)
{
	struct status_row all = { .name = c->name }, *rows;
	size_t n;

	for (size_t i = 0; i < c->nentries; i++)
		status_count(&all, jc, c->entries[i], now);
	fprintf(f, "  %-16s jobs %d/%d pool %s ", c->name, c->njobs,
	    c->maxjobs, c->pool->name);
	status_row_text(f, &all, now);
	fprintf(f, "%s\n", c->slave ? " (slave: entries wait)" :
	    c->prog == NULL ? " (no program: entries wait)" : "");
	rows = status_dests(jc, c, now, &n);
	for (size_t i = 0; i < n && i < STATUS_DESTS_MAX; i++) {
		fprintf(f, "    %-30s ", rows[i].name);
		status_row_text(f, &rows[i], now);
		fputc('\n', f);
	}
	if (n > STATUS_DESTS_MAX)
		fprintf(f, "    (%zu more destinations)\n", n - STATUS_DESTS_MAX);
	free(rows);
}

static void
status_human(FILE *f, const struct jobctl *jc, long long now)
{
	fprintf(f, "jobctl pid %ld: %zu entries indexed, %llu jobs started, "
	    "%llu delivered, %llu deferred, %llu failed, %llu reports%s\n",
	    (long)getpid(), jc->ix.nentries, jc->jobs_started, jc->delivered,
	    jc->deferred, jc->failed, jc->reports, jc->stopping ?
	    " (stopping)" : "");
	fprintf(f, "pools:\n");
	for (size_t i = 0; i < jc->ix.npools; i++)
		fprintf(f, "  %-16s jobs %d/%d\n", jc->ix.pools[i].name,
		    jc->ix.pools[i].njobs, jc->ix.pools[i].limit);
	fprintf(f, "channels (then their destinations, the largest backlog "
	    "first):\n");
	for (const struct jc_channel *c = jc->ix.channels; c != NULL; c = c->next)
		status_channel_text(f, jc, c, now);
	fprintf(f, "jobs:\n");
	for (const struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		fprintf(f, "  pid %-8ld %-16s holding %zu%s\n", (long)j->pid,
		    j->chan->name, j->ngiven, j->in == NULL ? " (finishing)" : "");
}

/* One record a line, its kind first, tab-separated; times as Unix times
 * (0: none).  Destinations are all there, not only the largest. */
static void
status_tsv(FILE *f, const struct jobctl *jc, long long now)
{
	for (size_t i = 0; i < jc->ix.npools; i++)
		fprintf(f, "pool\t%s\t%d\t%d\n", jc->ix.pools[i].name,
		    jc->ix.pools[i].njobs, jc->ix.pools[i].limit);
	for (const struct jc_channel *c = jc->ix.channels; c != NULL; c = c->next) {
		struct status_row all = { .name = c->name }, *rows;
		size_t n;
		for (size_t i = 0; i < c->nentries; i++)
			status_count(&all, jc, c->entries[i], now);
		fprintf(f, "channel\t%s\t%zu\t%zu\t%zu\t%lld\t%d\t%d\t%s\t%s\n",
		    c->name, all.entries, all.due, all.in_jobs, all.next, c->njobs,
		    c->maxjobs, c->pool->name, c->slave ? "slave" :
		    c->prog != NULL ? "yes" : "no");
		rows = status_dests(jc, c, now, &n);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "dest\t%s\t%s\t%zu\t%zu\t%zu\t%lld\n", c->name,
			    rows[i].name, rows[i].entries, rows[i].due,
			    rows[i].in_jobs, rows[i].next);
		free(rows);
	}
	for (const struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		fprintf(f, "job\t%ld\t%s\t%zu\t%s\n", (long)j->pid, j->chan->name,
		    j->ngiven, j->in == NULL ? "finishing" : "running");
}

char *
status_text(const struct jobctl *jc, bool tsv, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	long long now = time(NULL);

	if (tsv)
		status_tsv(f, jc, now);
	else
		status_human(f, jc, now);
	fclose(f);
	if (*len > STATUS_MAX) {
		(*len) = STATUS_MAX;
		memcpy(text + STATUS_MAX - 12, "\n(cut)\n\n\n\n\n", 12);
	}
	return text;
}

int
status_main(const struct jobctl_config *cfg, bool tsv)
{
	const char *ask = tsv ? "status tsv\n" : "status\n";
	struct sockaddr_un to = { .sun_family = AF_UNIX }, self = {
		.sun_family = AF_UNIX };
	char *buf;
	int fd;

	if (*cfg->notify_socket == '\0') {
		fprintf(stderr, "jobctl status: mta.jobctl.socket is not set\n");
		return 2;
	}
	snprintf(to.sun_path, sizeof(to.sun_path), "%s", cfg->notify_socket);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/* An address of its own for the answer: autobind. */
	if (fd == -1 || bind(fd, (struct sockaddr *)&self,
	    sizeof(sa_family_t)) == -1 || sendto(fd, ask, strlen(ask), 0,
	    (struct sockaddr *)&to, sizeof(to)) == -1) {
		fprintf(stderr, "jobctl status: %s: %s (is jobctl running?)\n",
		    cfg->notify_socket, strerror(errno));
		return 1;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, STATUS_TIMEOUT_MS) != 1) {
		fprintf(stderr, "jobctl status: no answer from %s\n",
		    cfg->notify_socket);
		close(fd);
		return 1;
	}
	buf = xmalloc(STATUS_MAX + 1);
	ssize_t n = recv(fd, buf, STATUS_MAX, 0);
	close(fd);
	if (n > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	free(buf);
	return n > 0 ? 0 : 1;
}
