/*
 * status: `jobctl status`, what the running daemon is doing -- its pools,
 * channels (entries, due now, jobs and their limits, the next retry) and
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

static void
status_channel(FILE *f, const struct jc_channel *c, long long now)
{
	size_t due = 0, running = 0;
	long long next = 0;

	for (size_t i = 0; i < c->nentries; i++) {
		const struct jc_entry *e = c->entries[i];
		if (e->job != NULL)
			running++;
		else if (e->retry <= now)
			due++;
		else if (next == 0 || e->retry < next)
			next = e->retry;
	}
	fprintf(f, "  %-16s entries %-8zu due %-8zu in-jobs %-6zu jobs %d/%d "
	    "pool %s", c->name, c->nentries, due, running, c->njobs, c->maxjobs,
	    c->pool->name);
	if (next != 0)
		fprintf(f, " next-retry %llds", next - now);
	if (c->prog == NULL)
		fprintf(f, " (no program: entries wait)");
	fputc('\n', f);
}

char *
status_text(const struct jobctl *jc, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	long long now = time(NULL);

	fprintf(f, "jobctl pid %ld: %zu entries indexed, %llu jobs started, "
	    "%llu delivered, %llu deferred, %llu failed, %llu reports%s\n",
	    (long)getpid(), jc->ix.nentries, jc->jobs_started, jc->delivered,
	    jc->deferred, jc->failed, jc->reports, jc->stopping ?
	    " (stopping)" : "");
	fprintf(f, "pools:\n");
	for (size_t i = 0; i < jc->ix.npools; i++)
		fprintf(f, "  %-16s jobs %d/%d\n", jc->ix.pools[i].name,
		    jc->ix.pools[i].njobs, jc->ix.pools[i].limit);
	fprintf(f, "channels:\n");
	for (const struct jc_channel *c = jc->ix.channels; c != NULL; c = c->next)
		status_channel(f, c, now);
	fprintf(f, "jobs:\n");
	for (const struct jc_job *j = jc->jobs; j != NULL; j = j->next)
		fprintf(f, "  pid %-8ld %-16s holding %zu%s\n", (long)j->pid,
		    j->chan->name, j->ngiven, j->in == NULL ? " (finishing)" : "");
	fclose(f);
	if (*len > STATUS_MAX) {
		(*len) = STATUS_MAX;
		memcpy(text + STATUS_MAX - 12, "\n(cut)\n\n\n\n\n", 12);
	}
	return text;
}

int
status_main(const struct jobctl_config *cfg)
{
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
	    sizeof(sa_family_t)) == -1 || sendto(fd, "status\n", 7, 0,
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
