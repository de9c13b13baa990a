/*
 * reprocess: the reprocess channel's program (chanprog.h).  Each pending
 * recipient is routed again, as RCPT TO would route it (route.c: rewrite
 * rules, the directory, aliases, groups), and the message is queued anew
 * under the same id, one entry per destination channel, then announced to
 * jobctl.  It carries the job controller's reports (jobctl queues them
 * here) and recipients whose expansion expandlimit deferred.
 *
 * The new entries are written (queue_entry_write: whole, fsync'd) before
 * the recipients are answered ok; a crash in between makes jobctl try the
 * entry again, which writes the same files again (same id): nothing is
 * lost or doubled.  A recipient routing refuses fails with the reply
 * (5xx) or is deferred (4xx, the directory down).  No access table is
 * asked: the message was accepted when it came in.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "chanprog.h"
#include "dir.h"
#include "durable.h"
#include "log.h"
#include "queue_entry.h"
#include "xmalloc.h"

struct reprocess {
	struct event_base *base;
	struct dir *dir;
	/* the route in progress */
	bool answered;
	char *reply;
	struct route_dest *dests;
	size_t ndests;
};

static void
reprocess_on_route(void *arg, const struct route_answer *ans)
{
	struct reprocess *rp = arg;

	rp->answered = true;
	rp->reply = ans->reply ? xstrdup(ans->reply) : NULL;
	rp->ndests = ans->ndests;
	rp->dests = xcalloc(ans->ndests + 1, sizeof(*rp->dests));
	for (size_t i = 0; i < ans->ndests; i++) {
		rp->dests[i].channel = xstrdup(ans->dests[i].channel);
		rp->dests[i].address = xstrdup(ans->dests[i].address);
	}
	event_base_loopbreak(rp->base);
}

static void
reprocess_route(struct chanprog *p, struct reprocess *rp, const char *address)
{
	struct route_params params = {
		.cfg = p->cfg, .dir = rp->dir, .src_channel = p->channel,
		.address = address, .arg = rp,
	};

	rp->answered = false;
	if (route_resolve(&params, reprocess_on_route) != NULL)
		while (!rp->answered)
			event_base_loop(rp->base, EVLOOP_ONCE);
}

static void
reprocess_route_clear(struct reprocess *rp)
{
	for (size_t i = 0; i < rp->ndests; i++) {
		free(rp->dests[i].channel);
		free(rp->dests[i].address);
	}
	free(rp->dests);
	free(rp->reply);
	rp->dests = NULL;
	rp->reply = NULL;
	rp->ndests = 0;
}

/* The recipients routed, grouped by channel. */
struct reprocess_group {
	char *channel;
	struct queue_rcpt *rcpts;
	size_t n;
};

static void
reprocess_group_add(struct reprocess_group **g, size_t *ng,
    const struct route_dest *d, const struct queue_rcpt *orig)
{
	size_t i;

	for (i = 0; i < *ng && strcmp((*g)[i].channel, d->channel) != 0; i++)
		;
	if (i == *ng) {
		*g = xrealloc(*g, (*ng + 1) * sizeof(**g));
		(*g)[i] = (struct reprocess_group){ xstrdup(d->channel), NULL, 0 };
		(*ng)++;
	}
	for (size_t k = 0; k < (*g)[i].n; k++)
		if (strcasecmp((*g)[i].rcpts[k].address, d->address) == 0)
			return;
	(*g)[i].rcpts = xrealloc((*g)[i].rcpts, ((*g)[i].n + 1) *
	    sizeof(*(*g)[i].rcpts));
	(*g)[i].rcpts[(*g)[i].n++] = (struct queue_rcpt){
		.address = xstrdup(d->address),
		.original = orig->original ? xstrdup(orig->original) : NULL,
		.orcpt = orig->orcpt ? xstrdup(orig->orcpt) : NULL,
		.notify = orig->notify,
	};
}

/* Tell jobctl of a new entry; nobody listening is fine. */
static void
reprocess_announce(const struct mta_config *cfg, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (*cfg->jobctl_socket == '\0' ||
	    strlen(cfg->jobctl_socket) >= sizeof(sun.sun_path))
		return;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cfg->jobctl_socket);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	char *line = xasprintf("%s\n", path);
	(void)sendto(fd, line, strlen(line), MSG_DONTWAIT,
	    (struct sockaddr *)&sun, sizeof(sun));
	free(line);
	close(fd);
}

/* Write one entry per group; false when one could not be written. */
static bool
reprocess_write(struct chanprog *p, const struct queue_env *env,
    struct reprocess_group *g, size_t ng, const char *msg, size_t len)
{
	for (size_t i = 0; i < ng; i++) {
		const struct imta_channel *ch = imta_conf_channel_by_name(
		    p->cfg->imta, g[i].channel);
		int ss = queue_subdir(env->id, ch ? ch->kw.subdirs : 0);
		char *dir = ss >= 0 ? xasprintf("%s/%02d", g[i].channel, ss) :
		    xstrdup(g[i].channel);
		char *path = xasprintf("%s/%s", dir, env->id), *err = NULL;
		struct queue_env e = *env;
		e.channel = g[i].channel;
		e.rcpts = g[i].rcpts;
		e.nrcpts = g[i].n;
		e.attempts = e.warned = 0;
		e.retry = 0;
		bool ok = durable_mkdirs(dir, 0700) == 0 &&
		    queue_entry_write(path, &e, msg, len, &err) == 0;
		if (ok)
			reprocess_announce(p->cfg, path);
		else
			log_err("id=%s: %s", env->id, err ? err : "mkdir failed");
		free(err);
		free(path);
		free(dir);
		if (!ok)
			return false;
	}
	return true;
}

static void
reprocess_groups_free(struct reprocess_group *g, size_t ng)
{
	for (size_t i = 0; i < ng; i++) {
		for (size_t k = 0; k < g[i].n; k++) {
			free(g[i].rcpts[k].address);
			free(g[i].rcpts[k].original);
			free(g[i].rcpts[k].orcpt);
		}
		free(g[i].rcpts);
		free(g[i].channel);
	}
	free(g);
}

static void
reprocess_routed(struct chanprog *p, struct reprocess *rp, const char *path,
    struct queue_env *env, const char *msg, size_t len)
{
	struct reprocess_group *g = NULL;
	size_t ng = 0;
	char **replies = xcalloc(env->nrcpts + 1, sizeof(*replies));

	for (size_t i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i].state != QUEUE_RCPT_PENDING)
			continue;
		reprocess_route(p, rp, env->rcpts[i].address);
		for (size_t k = 0; rp->reply == NULL && k < rp->ndests; k++)
			reprocess_group_add(&g, &ng, &rp->dests[k], &env->rcpts[i]);
		replies[i] = rp->reply ? xstrdup(rp->reply) : NULL;
		reprocess_route_clear(rp);
	}
	bool written = reprocess_write(p, env, g, ng, msg, len);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const char *r = replies[i];
		if (env->rcpts[i].state != QUEUE_RCPT_PENDING)
			continue;
		/* passed: the new entries carry NOTIFY along, and theirs is
		 * the report to make (one, not one per hop). */
		if (r == NULL)
			channel_job_write_rcpt(p->out, path, i, written ? CJ_PASSED :
			    CJ_DEFER, written ? 250 : 0, written ?
			    "2.0.0 routed again" : "4.3.0 queue write failed");
		else
			channel_job_write_rcpt(p->out, path, i, *r == '5' ? CJ_FAIL :
			    CJ_DEFER, atoi(r), r + 4);
		free(replies[i]);
	}
	free(replies);
	reprocess_groups_free(g, ng);
}

static void
reprocess_entry(struct chanprog *p, void *arg, const char *path)
{
	struct queue_env env = { 0 };
	char *msg = NULL;
	size_t len;

	if (!chanprog_read(p, path, &env, &msg, &len))
		return;
	reprocess_routed(p, arg, path, &env, msg, len);
	queue_env_clear(&env);
	free(msg);
}

int
main(int argc, char **argv)
{
	struct chanprog p;
	struct reprocess rp = { 0 };

	chanprog_init(&p, "reprocess", argc, argv);
	rp.base = event_base_new();
	rp.dir = local_dir_open(rp.base, &p.cfg->local);
	chanprog_run(&p, reprocess_entry, &rp);
	dir_free(&rp.dir);
	event_base_free(rp.base);
	chanprog_done(&p);
	return 0;
}
