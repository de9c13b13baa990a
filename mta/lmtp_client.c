/*
 * lmtp_client: deliver one queue entry of the lmtp channel to the stores
 * (lmtp_client.h).
 *
 * For an entry: read and parse its envelope (the file is never changed),
 * look every pending recipient up in the directory (a few lookups at a
 * time on the caller's event loop, which runs only inside this module's
 * calls), group the deliverable ones by mailHost, and hold one LMTP
 * transaction (RFC 2033) per store with the blocking smtp_client.  Every
 * pending recipient ends with exactly one verdict, written as a
 * channel_job rcpt line and logged; then the entry's done line.
 *
 * Failure policy: whatever the directory, a store or the network does
 * becomes a verdict (defer unless a permanent answer was given: 5xx, no
 * such user, deleted account).  An entry that cannot be read or parsed,
 * or that belongs to another channel, gets only its done line (jobctl
 * defers its recipients) and a log line.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel_job.h"
#include "chanprog.h"
#include "dir.h"
#include "lmtp_client.h"
#include "log.h"
#include "mta.h"
#include "smtp_client.h"
#include "smtp_path.h"
#include "xmalloc.h"

/* Directory lookups in flight at once for one entry. */
#define LMTP_CLIENT_LOOKUPS     32
/* An envelope bigger than this is refused (QUEUE_ENV_RCPTS_MAX lines of
 * an ordinary length fit easily). */
/* Recipients per transaction: the least a server must take (RFC 5321
 * 4.5.3.1.8).  A store set lower answers the rest 452: deferred. */
#define LMTP_CLIENT_TXN_RCPTS   100

struct lmtp_host {
	char *mailhost;
	char host[256];
	int port;
};

struct lmtp_client {
	const struct mta_config *cfg;   /* borrowed */
	struct event_base *base;        /* borrowed: dir's loop */
	struct dir *dir;                /* borrowed */
	FILE *out;                      /* borrowed */
	char *channel;
	struct lmtp_host *hosts;        /* mta.lmtp.hosts, parsed */
	size_t nhosts;
};

struct lmtp_entry;

/* One pending recipient of the entry. */
struct lmtp_rcpt {
	struct lmtp_entry *entry;
	size_t index;                   /* among the envelope's rcpt lines */
	const char *address;            /* points into entry->env */
	char *mailhost;                 /* NULL: not (yet) deliverable */
	struct dir_req *req;
	bool looking, answered;
	enum channel_job_result result;
	int code;
	char *text;
};

struct lmtp_entry {
	struct lmtp_client *lc;
	const char *path;
	struct queue_env env;
	int fd;
	size_t body_offset;
	struct lmtp_rcpt *rcpts;
	size_t nrcpts, lookups;
};

/* ---- set-up ---- */

static void
lmtp_client_hosts(struct lmtp_client *lc)
{
	char **h = lc->cfg->lmtp_hosts;
	size_t n = 0;

	while (h != NULL && h[n] != NULL)
		n++;
	lc->hosts = xcalloc(n + 1, sizeof(*lc->hosts));
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(h[i], '=');
		struct lmtp_host *x = &lc->hosts[i];
		if (eq == NULL || eq == h[i] ||
		    !net_split_hostport(eq + 1, x->host, sizeof(x->host), &x->port) ||
		    x->port <= 0 || x->port > 65535)
			log_fatal("mta.lmtp.hosts: \"%s\" is not "
			    "mailhost=address:port", h[i]);
		x->mailhost = xstrndup(h[i], (size_t)(eq - h[i]));
	}
	lc->nhosts = n;
}

struct lmtp_client *
lmtp_client_new(const struct mta_config *cfg, struct event_base *base,
    struct dir *dir, const char *channel, FILE *out)
{
	struct lmtp_client *lc = xcalloc(1, sizeof(*lc));

	lc->cfg = cfg;
	lc->base = base;
	lc->dir = dir;
	lc->out = out;
	lc->channel = xstrdup(channel);
	lmtp_client_hosts(lc);
	return lc;
}

void
lmtp_client_free(struct lmtp_client **lcp)
{
	struct lmtp_client *lc = *lcp;

	*lcp = NULL;
	if (lc == NULL)
		return;
	for (size_t i = 0; i < lc->nhosts; i++)
		free(lc->hosts[i].mailhost);
	free(lc->hosts);
	free(lc->channel);
	free(lc);
}

/* ---- reading the entry ---- */

/* Open and parse; the envelope must name our channel. */
static bool
lmtp_entry_open(struct lmtp_entry *en)
{
	en->fd = chanprog_open(en->lc->channel, en->path, &en->env,
	    &en->body_offset);
	return en->fd >= 0;
}

/* ---- verdicts ---- */

/* The first verdict of a recipient stands. */
static void
lmtp_rcpt_answer(struct lmtp_rcpt *r, enum channel_job_result result,
    int code, const char *text)
{
	if (r->answered)
		return;
	r->answered = true;
	r->result = result;
	r->code = code;
	r->text = xstrdup(text);
	for (char *p = r->text; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
}

/* A store's reply: 2xx ok, 4xx defer, 5xx fail. */
static void
lmtp_rcpt_reply(struct lmtp_rcpt *r, const struct smtp_reply *rep)
{
	lmtp_rcpt_answer(r, channel_job_result_of(rep->code), rep->code,
	    rep->text);
}

/* ---- the directory ---- */

static void
lmtp_rcpt_check_entry(struct lmtp_rcpt *r, const struct dir_entry *e)
{
	const char *host;

	if (dir_entry_has_class(e, "inetMailGroup") &&
	    !dir_entry_has_class(e, "inetMailUser")) {
		lmtp_rcpt_answer(r, CJ_FAIL, 550,
		    "5.1.1 not a mailbox (a group is expanded by the mta)");
		return;
	}
	switch (dir_entry_user_state(e)) {
	case DIR_USER_ACTIVE:
		break;
	case DIR_USER_DELETED:
		lmtp_rcpt_answer(r, CJ_FAIL, 550, "5.2.1 mailbox disabled");
		return;
	case DIR_USER_HOLD:
		lmtp_rcpt_answer(r, CJ_DEFER, 450, "4.2.1 mailbox on hold");
		return;
	case DIR_USER_INACTIVE:
		lmtp_rcpt_answer(r, CJ_DEFER, 450,
		    "4.2.1 mailbox temporarily disabled");
		return;
	}
	host = dir_entry_get(e, "mailHost");
	if (host == NULL || *host == '\0')
		lmtp_rcpt_answer(r, CJ_DEFER, 0,
		    "4.3.5 the directory entry has no mailHost");
	else
		r->mailhost = xstrdup(host);
}

static void
lmtp_rcpt_looked_up(void *arg, enum dir_status status,
    const struct dir_entry *const *entries, size_t n)
{
	struct lmtp_rcpt *r = arg;

	r->req = NULL;
	r->looking = false;
	r->entry->lookups--;
	switch (status) {
	case DIR_OK:
		if (n == 1)
			lmtp_rcpt_check_entry(r, entries[0]);
		else
			lmtp_rcpt_answer(r, CJ_DEFER, 0,
			    "4.4.3 directory answer unusable");
		break;
	case DIR_NOTFOUND:
		lmtp_rcpt_answer(r, CJ_FAIL, 550,
		    "5.1.1 no such user in the directory");
		break;
	case DIR_AMBIGUOUS:
		lmtp_rcpt_answer(r, CJ_DEFER, 0,
		    "4.1.4 address matches several directory entries");
		break;
	case DIR_UNAVAILABLE:
		lmtp_rcpt_answer(r, CJ_DEFER, 0, "4.4.3 directory unavailable");
		break;
	}
}

/* Give up the lookups in flight (the loop cannot run). */
static void
lmtp_entry_cancel_lookups(struct lmtp_entry *en)
{
	for (size_t i = 0; i < en->nrcpts; i++) {
		struct lmtp_rcpt *r = &en->rcpts[i];
		if (!r->looking)
			continue;
		dir_cancel(&r->req);
		r->looking = false;
		en->lookups--;
		lmtp_rcpt_answer(r, CJ_DEFER, 0, "4.4.3 directory unavailable");
	}
}

/* Look every recipient up, LMTP_CLIENT_LOOKUPS at a time; the loop runs
 * until their callbacks (bounded by the directory's timeout) have run. */
static void
lmtp_entry_lookup(struct lmtp_entry *en)
{
	struct lmtp_client *lc = en->lc;
	size_t next = 0;

	while (next < en->nrcpts || en->lookups > 0) {
		while (next < en->nrcpts && en->lookups < LMTP_CLIENT_LOOKUPS) {
			struct lmtp_rcpt *r = &en->rcpts[next++];
			r->looking = true;
			en->lookups++;
			/* A cache hit answers inside the call (NULL handle). */
			struct dir_req *req = dir_find_user(lc->dir, r->address,
			    lmtp_rcpt_looked_up, r);
			if (r->looking)
				r->req = req;
		}
		if (en->lookups == 0)
			continue;
		if (event_base_loop(lc->base, EVLOOP_ONCE) != 0) {
			log_err("id=%s: the event loop stopped with directory "
			    "lookups pending", en->env.id);
			lmtp_entry_cancel_lookups(en);
		}
	}
}

/* ---- one store ---- */

/* Where mailhost's LMTP server is: mta.lmtp.hosts, else the name itself
 * on mta.lmtp.port. */
static void
lmtp_client_where(const struct lmtp_client *lc, const char *mailhost,
    const char **host, int *port)
{
	for (size_t i = 0; i < lc->nhosts; i++)
		if (strcasecmp(lc->hosts[i].mailhost, mailhost) == 0) {
			*host = lc->hosts[i].host;
			*port = lc->hosts[i].port;
			return;
		}
	*host = mailhost;
	*port = lc->cfg->lmtp_port;
}

/* The recipients of one store, in envelope order, and the slice of them
 * in the current transaction. */
struct lmtp_group {
	struct lmtp_entry *en;
	const char *mailhost;
	struct lmtp_rcpt **rcpts;
	size_t n;
	struct lmtp_rcpt **txn;
	size_t ntxn;
	struct smtp_client *c;
};

/* The conversation broke: every recipient not yet answered waits. */
static void
lmtp_group_broken(struct lmtp_group *g, const char *status)
{
	char *text = xasprintf("%s %s", status, smtp_client_error(g->c));

	for (size_t i = 0; i < g->n; i++)
		lmtp_rcpt_answer(g->rcpts[i], CJ_DEFER, 0, text);
	free(text);
}

/* A store that will not talk (greeting, LHLO) is a store to try again. */
static void
lmtp_group_defer(struct lmtp_group *g, const struct smtp_reply *rep)
{
	for (size_t i = 0; i < g->n; i++)
		lmtp_rcpt_answer(g->rcpts[i], CJ_DEFER, rep->code, rep->text);
}

static char *
lmtp_group_mail_cmd(struct lmtp_group *g)
{
	const struct queue_env *env = &g->en->env;
	bool utf8 = smtp_path_is_8bit(env->from);

	for (size_t i = 0; i < g->ntxn && !utf8; i++)
		utf8 = smtp_path_is_8bit(g->txn[i]->address);
	/* A store takes every message as 8BITMIME when it says so. */
	return smtp_client_mail_cmd(g->c, env, true,
	    utf8 && smtp_client_has(g->c, SMTP_EXT_SMTPUTF8));
}

static char *
lmtp_group_rcpt_cmd(struct lmtp_group *g, const struct lmtp_rcpt *r)
{
	return smtp_client_rcpt_cmd(g->c, r->address,
	    &g->en->env.rcpts[r->index]);
}

/* Greeting and LHLO: false when the group was answered. */
static bool
lmtp_group_hello(struct lmtp_group *g)
{
	struct smtp_reply rep;

	if (!smtp_client_read_reply(g->c, &rep)) {
		lmtp_group_broken(g, "4.4.2");
		return false;
	}
	if (rep.code != 220) {
		lmtp_group_defer(g, &rep);
		return false;
	}
	if (!smtp_client_hello(g->c, "LHLO", g->en->lc->cfg->local.hostname,
	    &rep)) {
		lmtp_group_broken(g, "4.4.2");
		return false;
	}
	if (rep.code / 100 != 2) {
		lmtp_group_defer(g, &rep);
		return false;
	}
	return true;
}

/* MAIL and the RCPTs; the accepted ones go to acc (*nacc). */
static bool
lmtp_group_envelope(struct lmtp_group *g, struct lmtp_rcpt **acc,
    size_t *nacc)
{
	struct smtp_reply rep;
	char *cmd = lmtp_group_mail_cmd(g);
	bool sent = smtp_client_cmd_reply(g->c, cmd, &rep);

	free(cmd);
	if (!sent) {
		lmtp_group_broken(g, "4.4.2");
		return false;
	}
	if (rep.code / 100 != 2) {
		for (size_t i = 0; i < g->ntxn; i++)
			lmtp_rcpt_reply(g->txn[i], &rep);
		return false;
	}
	*nacc = 0;
	for (size_t i = 0; i < g->ntxn; i++) {
		cmd = lmtp_group_rcpt_cmd(g, g->txn[i]);
		sent = smtp_client_cmd_reply(g->c, cmd, &rep);
		free(cmd);
		if (!sent) {
			lmtp_group_broken(g, "4.4.2");
			return false;
		}
		if (rep.code / 100 == 2)
			acc[(*nacc)++] = g->txn[i];
		else
			lmtp_rcpt_reply(g->txn[i], &rep);
	}
	return *nacc > 0;
}

/* DATA, the message, one reply per accepted recipient (RFC 2033 4.2). */
static void
lmtp_group_data(struct lmtp_group *g, struct lmtp_rcpt **acc, size_t nacc)
{
	struct smtp_reply rep;

	if (!smtp_client_cmd_reply(g->c, "DATA", &rep)) {
		lmtp_group_broken(g, "4.4.2");
		return;
	}
	if (rep.code != 354) {
		for (size_t i = 0; i < nacc; i++)
			if (rep.code / 100 == 2 || rep.code / 100 == 3)
				lmtp_rcpt_answer(acc[i], CJ_DEFER, rep.code,
				    "4.5.0 unexpected reply to DATA");
			else
				lmtp_rcpt_reply(acc[i], &rep);
		return;
	}
	if (!smtp_client_send_body(g->c, g->en->fd, (off_t)g->en->body_offset)) {
		lmtp_group_broken(g, "4.4.2");
		return;
	}
	for (size_t i = 0; i < nacc; i++) {
		if (!smtp_client_read_reply(g->c, &rep)) {
			lmtp_group_broken(g, "4.4.2");
			return;
		}
		lmtp_rcpt_reply(acc[i], &rep);
	}
}

/* One connection per store; transactions of at most
 * LMTP_CLIENT_TXN_RCPTS recipients on it. */
static void
lmtp_group_deliver(struct lmtp_group *g)
{
	struct lmtp_client *lc = g->en->lc;
	struct lmtp_rcpt **acc = xcalloc(LMTP_CLIENT_TXN_RCPTS, sizeof(*acc));
	struct smtp_reply rep;
	const char *host;
	size_t nacc = 0;
	int port;

	lmtp_client_where(lc, g->mailhost, &host, &port);
	g->c = smtp_client_new(g->mailhost, lc->cfg->lmtp_timeout);
	if (!smtp_client_connect(g->c, host, port))
		lmtp_group_broken(g, "4.4.1");
	else if (lmtp_group_hello(g)) {
		for (size_t i = 0; i < g->n; i += g->ntxn) {
			g->txn = g->rcpts + i;
			g->ntxn = g->n - i < LMTP_CLIENT_TXN_RCPTS ?
			    g->n - i : LMTP_CLIENT_TXN_RCPTS;
			/* A transaction left open (no recipient taken) ends. */
			if (i > 0 && !smtp_client_cmd_reply(g->c, "RSET", &rep)) {
				lmtp_group_broken(g, "4.4.2");
				break;
			}
			if (lmtp_group_envelope(g, acc, &nacc))
				lmtp_group_data(g, acc, nacc);
		}
		/* The verdicts are in: QUIT is a courtesy. */
		smtp_client_cmd_reply(g->c, "QUIT", &rep);
	}
	smtp_client_free(&g->c);
	free(acc);
}

/* One transaction per mailHost (case-insensitively), in envelope order. */
static void
lmtp_entry_deliver(struct lmtp_entry *en)
{
	struct lmtp_group g = { .en = en };

	g.rcpts = xcalloc(en->nrcpts, sizeof(*g.rcpts));
	for (size_t i = 0; i < en->nrcpts; i++) {
		struct lmtp_rcpt *first = &en->rcpts[i];
		if (first->answered || first->mailhost == NULL)
			continue;
		g.mailhost = first->mailhost;
		g.n = 0;
		for (size_t j = i; j < en->nrcpts; j++) {
			struct lmtp_rcpt *r = &en->rcpts[j];
			if (!r->answered && r->mailhost != NULL &&
			    strcasecmp(r->mailhost, g.mailhost) == 0)
				g.rcpts[g.n++] = r;
		}
		lmtp_group_deliver(&g);
	}
	free(g.rcpts);
}

/* ---- the entry ---- */

static void
lmtp_entry_report(struct lmtp_entry *en)
{
	for (size_t i = 0; i < en->nrcpts; i++) {
		struct lmtp_rcpt *r = &en->rcpts[i];
		if (!r->answered)   /* a bug: never leave one unanswered */
			lmtp_rcpt_answer(r, CJ_DEFER, 0, "4.3.0 internal error");
		channel_job_write_rcpt(en->lc->out, en->path, r->index, r->result,
		    r->code, r->text);
		log_info("id=%s rcpt=<%s> index=%zu store=%s result=%s code=%d "
		    "text=\"%s\"", en->env.id, r->address, r->index,
		    r->mailhost ? r->mailhost : "-",
		    channel_job_result_name(r->result), r->code, r->text);
	}
}

void
lmtp_client_entry(struct lmtp_client *lc, const char *path)
{
	struct lmtp_entry en = { .lc = lc, .path = path, .fd = -1 };

	if (lmtp_entry_open(&en)) {
		en.rcpts = xcalloc(en.env.nrcpts, sizeof(*en.rcpts));
		for (size_t i = 0; i < en.env.nrcpts; i++) {
			if (en.env.rcpts[i].state != QUEUE_RCPT_PENDING)
				continue;
			struct lmtp_rcpt *r = &en.rcpts[en.nrcpts++];
			r->entry = &en;
			r->index = i;
			r->address = en.env.rcpts[i].address;
		}
		lmtp_entry_lookup(&en);
		lmtp_entry_deliver(&en);
		lmtp_entry_report(&en);
	}
	for (size_t i = 0; i < en.nrcpts; i++) {
		free(en.rcpts[i].mailhost);
		free(en.rcpts[i].text);
	}
	free(en.rcpts);
	queue_env_clear(&en.env);
	if (en.fd >= 0)
		close(en.fd);
}
