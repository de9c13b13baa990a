/*
 * report: what jobctl tells about an entry's recipients -- a line in the
 * tracking log for each, and delivery status notifications (dsn.c) for
 * those that failed, are delayed or were delivered, as RFC 3461 NOTIFY
 * asks (a success report only when asked), gathered per entry into one
 * report of each kind.
 *
 * A report is a new queue entry of the reprocess channel, from the null
 * sender, to the entry's sender (or to jobctl.postmaster when that sender
 * is the null one: a report about a report goes to the postmaster, never
 * back and forth); the reprocess channel's program routes it like mail
 * that came in.  It is written durably before the entry it reports on
 * changes, so a crash may repeat a report, never lose one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "durable.h"
#include "jobctl.h"
#include "log.h"
#include "track.h"
#include "xmalloc.h"

#define REPORT_CHANNEL "reprocess"
#define REPORT_MAX_RETURNED (256 * 1024)
#define REPORT_RCPTS_MAX 10000

struct jc_report {
	const struct queue_env *env;
	const char *msg;
	size_t len;
	struct dsn_rcpt *rcpts[3];          /* failed, delayed, delivered */
	size_t n[3];
};

void
track_event(struct jobctl *jc, char event, const struct queue_env *env,
    const struct queue_rcpt *r, const char *channel, int code,
    const char *text)
{
	char *line = track_rcpt_line(event, env, r, channel, code, text);

	(void)jc;
	track_write(line);
	free(line);
	log_info("id=%s chan=%s to=<%s> %s code=%d %s", env->id, channel,
	    r->address, event == 'D' ? "delivered" : event == 'F' ? "failed" :
	    event == 'R' ? "returned" : "deferred", code, text ? text : "");
}

void
report_begin(struct jobctl *jc, const struct queue_env *env)
{
	jc->report = xcalloc(1, sizeof(*jc->report));
	jc->report->env = env;
}

bool
report_wanted(const struct jobctl *jc)
{
	const struct jc_report *rep = jc->report;

	return rep != NULL && rep->n[0] + rep->n[1] + rep->n[2] > 0;
}

void
report_set_message(struct jobctl *jc, const char *msg, size_t len)
{
	if (jc->report == NULL)
		return;
	jc->report->msg = msg;
	jc->report->len = len;
}

void
report_add(struct jobctl *jc, const struct queue_env *env,
    const struct queue_rcpt *r, enum dsn_action action, int code,
    const char *text)
{
	struct jc_report *rep = jc->report;
	int k = action == DSN_FAILED ? 0 : action == DSN_DELAYED ? 1 : 2;

	if (rep == NULL || !dsn_wanted(r->notify, action) ||
	    rep->n[k] >= REPORT_RCPTS_MAX)
		return;
	rep->rcpts[k] = xrealloc(rep->rcpts[k], (rep->n[k] + 1) *
	    sizeof(*rep->rcpts[k]));
	rep->rcpts[k][rep->n[k]++] = (struct dsn_rcpt){
		.final = r->address, .original = r->original, .orcpt = r->orcpt,
		.action = action, .code = code,
		.diagnostic = code != 0 ? xasprintf("%d %s", code, text) :
		    xstrdup(text),
		.status = code == 0 ? xstrndup(text, strcspn(text, " ")) : NULL,
		.last_attempt = (long long)time(NULL),
	};
	(void)env;
}

/* The report's own entry: from <>, to who must read it. */
static void
report_enqueue(struct jobctl *jc, const char *to, const char *text,
    size_t len)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(jc->cfg->imta,
	    REPORT_CHANNEL);
	struct queue_rcpt rcpt = { .address = (char *)to };
	struct queue_env env = {
		.created = (long long)time(NULL), .channel = REPORT_CHANNEL,
		.source = (char *)REPORT_CHANNEL, .from = "", .rcpts = &rcpt,
		.nrcpts = 1,
	};
	char id[QUEUE_ID_LEN + 1], dir[64], path[CHANNEL_JOB_PATH_MAX + 1];
	int ss;

	queue_id_new(id);
	env.id = id;
	ss = queue_subdir(id, ch ? ch->kw.subdirs : 0);
	if (ss >= 0)
		snprintf(dir, sizeof(dir), "%s/%02d", REPORT_CHANNEL, ss);
	else
		snprintf(dir, sizeof(dir), "%s", REPORT_CHANNEL);
	snprintf(path, sizeof(path), "%s/%s", dir, id);
	if (durable_mkdirs(dir, 0700) != 0 ||
	    entry_write(path, &env, text, len) != 0) {
		log_err("report to <%s>: not queued", to);
		return;
	}
	jc->reports++;
	log_info("report id=%s to=<%s> queued as %s", jc->report->env->id, to,
	    path);
	(void)index_load(&jc->ix, path);
}

static void
report_send(struct jobctl *jc, int k)
{
	struct jc_report *rep = jc->report;
	const struct queue_env *env = rep->env;
	char *postmaster = NULL;
	const char *to = env->from;
	size_t len;

	if (!dsn_sendable(env->from)) {
		postmaster = jc->cfg->postmaster ? xstrdup(jc->cfg->postmaster) :
		    xasprintf("postmaster@%s", jc->cfg->local.hostname);
		to = postmaster;
		/* The postmaster's own report failed: nobody is left to tell. */
		for (size_t i = 0; i < rep->n[k]; i++)
			if (strcasecmp(rep->rcpts[k][i].final, postmaster) == 0) {
				log_err("report id=%s to the postmaster failed: "
				    "dropped", env->id);
				free(postmaster);
				return;
			}
	}
	struct dsn_report r = {
		.reporting_mta = jc->cfg->local.hostname, .envid = env->envid,
		.ret = env->ret, .postmaster = postmaster ? postmaster : "",
		.to = to, .queue_id = env->id, .arrival = env->created,
		.rcpts = rep->rcpts[k], .nrcpts = rep->n[k], .message = rep->msg,
		.message_len = rep->len, .max_returned = REPORT_MAX_RETURNED,
		.now = (long long)time(NULL), .boundary_seed = env->id,
	};
	char *pm = NULL;
	if (postmaster == NULL)
		r.postmaster = pm = xasprintf("postmaster@%s", jc->cfg->local.hostname);
	char *text = dsn_build(&r, &len);
	if (text != NULL)
		report_enqueue(jc, to, text, len);
	free(text);
	free(pm);
	free(postmaster);
}

void
report_end(struct jobctl *jc)
{
	struct jc_report *rep = jc->report;

	if (rep == NULL)
		return;
	for (int k = 0; k < 3; k++) {
		/* A report about a report, to a sender that cannot get one,
		 * still reaches the postmaster, once.  Without the message
		 * (it could not be read) there is nothing to send. */
		if (rep->n[k] > 0 && rep->msg != NULL &&
		    (k == 0 || dsn_sendable(rep->env->from)))
			report_send(jc, k);
		for (size_t i = 0; i < rep->n[k]; i++) {
			free((char *)rep->rcpts[k][i].diagnostic);
			free((char *)rep->rcpts[k][i].status);
		}
		free(rep->rcpts[k]);
	}
	free(rep);
	jc->report = NULL;
}
