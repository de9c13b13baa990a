/*
 * smtp_message: the message of a transaction (DATA, or BDAT chunks, RFC
 * 3030) streamed into the queue (queue.c), then committed as one entry
 * per destination channel; 250 only once the commit is durable.  The
 * recipients are all known when the message starts: the envelopes are
 * written then, ahead of the message in its queue file.
 *
 * The message starts with our Received: field (RFC 5321 4.4, with RFC
 * 3848's protocol names: ESMTP, ESMTPS, ESMTPA, ESMTPSA).  Refusals after
 * the data (every reply in msg_intake.h, plus these):
 *   more Received: fields than service.smtp.maxhops   554 5.4.6 (a loop)
 *   bigger than a destination channel's blocklimit    552 5.3.4
 *   the queue cannot take it (disk full, I/O error)   452 4.3.1
 * Only CRLF "." CRLF ends DATA (smtp_data.h's strict_end: no smuggling).
 * A refused or abandoned message leaves nothing in the queue.
 *
 * Where the message goes is settled at its start: FROM_ACCESS's $B or $H
 * send every destination to bitbucket or hold, and so does the source
 * channel's `holdlimit` (hold) when the recipients expand to more
 * addresses than it allows.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "smtp.h"
#include "tls.h"
#include "xmalloc.h"

#define MESSAGE_BLOCK 1024      /* the seed's BLOCK_SIZE: blocklimit's unit */

/* Destinations grouped by channel, each group's recipients in order: the
 * queue entries.  Made when the message starts, kept until its commit for
 * the tracking lines; the strings are the session's recipients'.  An
 * address reached twice in one channel (directly and through a group)
 * gets one copy, the first recipient's DSN parameters: a hash set of
 * (group, address) keeps that linear in the number of addresses. */
struct message_groups {
	struct queue_dest *dests;
	struct queue_rcpt **rcpts;
	size_t n;
	size_t nrcpts;                  /* s->nrcpts when made */
	struct message_seen {
		size_t group;
		const char *address;
	} *seen;
	size_t nseen, capseen;          /* capseen: a power of two */
};

static uint32_t
message_hash(size_t group, const char *address)
{
	uint32_t h = 2166136261u ^ (uint32_t)group;

	for (const char *p = address; *p; p++)
		h = (h ^ (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p)) *
		    16777619u;
	return h;
}

static void
message_seen_grow(struct message_groups *g)
{
	struct message_seen *old = g->seen;
	size_t oldcap = g->capseen;

	g->capseen = oldcap ? oldcap * 2 : 64;
	g->seen = xcalloc(g->capseen, sizeof(*g->seen));
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].address == NULL)
			continue;
		size_t j = message_hash(old[i].group, old[i].address) &
		    (g->capseen - 1);
		while (g->seen[j].address != NULL)
			j = (j + 1) & (g->capseen - 1);
		g->seen[j] = old[i];
	}
	free(old);
}

/* Note (group, address); false when it was there already. */
static bool
message_seen_add(struct message_groups *g, size_t group, const char *address)
{
	if (2 * (g->nseen + 1) > g->capseen)
		message_seen_grow(g);
	size_t j = message_hash(group, address) & (g->capseen - 1);
	for (; g->seen[j].address != NULL; j = (j + 1) & (g->capseen - 1))
		if (g->seen[j].group == group &&
		    strcasecmp(g->seen[j].address, address) == 0)
			return false;
	g->seen[j] = (struct message_seen){ group, address };
	g->nseen++;
	return true;
}

static size_t
message_group_of(struct message_groups *g, const struct mta_config *cfg,
    const char *channel)
{
	size_t i;

	for (i = 0; i < g->n && strcmp(g->dests[i].channel, channel); i++)
		;
	if (i == g->n) {
		const struct imta_channel *ch =
		    imta_conf_channel_by_name(cfg->imta, channel);
		g->dests = xrealloc(g->dests, (g->n + 1) * sizeof(*g->dests));
		g->rcpts = xrealloc(g->rcpts, (g->n + 1) * sizeof(*g->rcpts));
		g->dests[i] = (struct queue_dest){ channel,
		    ch ? ch->kw.subdirs : 0, NULL, 0 };
		g->rcpts[i] = NULL;
		g->n++;
	}
	return i;
}

static void
message_group_add(struct message_groups *g, const struct mta_config *cfg,
    const struct smtp_rcpt *r, const struct route_dest *d,
    const char *divert)
{
	size_t i = message_group_of(g, cfg, divert ? divert : d->channel);
	struct queue_dest *qd = &g->dests[i];

	if (!message_seen_add(g, i, d->address))
		return;
	g->rcpts[i] = xrealloc(g->rcpts[i], (qd->nrcpts + 1) *
	    sizeof(*g->rcpts[i]));
	g->rcpts[i][qd->nrcpts++] = (struct queue_rcpt){
		.address = d->address, .original = r->original,
		.orcpt = r->orcpt, .notify = r->notify,
	};
	qd->rcpts = g->rcpts[i];
}

/* Where the whole message goes instead, if anywhere: FROM_ACCESS's
 * verdict, then the source channel's holdlimit. */
static const char *
message_divert(const struct smtp_session *s)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(s->cfg->imta,
	    s->src_channel);

	if (s->divert != NULL)
		return s->divert;
	if (ch != NULL && ch->kw.holdlimit > 0 &&
	    s->ndests > (size_t)ch->kw.holdlimit) {
		log_info("smtp session=%lu from=<%s> %zu addresses, over the "
		    "holdlimit of %s: held", s->id, s->from, s->ndests,
		    s->src_channel);
		return SMTP_HOLD_CHANNEL;
	}
	return NULL;
}

static struct message_groups *
message_groups_new(const struct smtp_session *s)
{
	struct message_groups *g = xcalloc(1, sizeof(*g));
	const char *divert = message_divert(s);

	for (size_t i = 0; i < s->nrcpts; i++)
		for (size_t j = 0; j < s->rcpts[i].ndests; j++)
			message_group_add(g, s->cfg, &s->rcpts[i],
			    &s->rcpts[i].dests[j], divert);
	g->nrcpts = s->nrcpts;
	return g;
}

static void
message_groups_free(struct message_groups **gp)
{
	struct message_groups *g = *gp;

	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n; i++)
		free(g->rcpts[i]);
	free(g->rcpts);
	free(g->dests);
	free(g->seen);
	free(g);
	*gp = NULL;
}

static void
message_env(struct smtp_session *s, struct queue_env *env)
{
	*env = (struct queue_env){
		.source = s->src_channel, .from = s->from, .ret = s->ret,
		.envid = s->envid, .priority = s->priority,
		.client_addr = s->peer, .client_name = s->peer,
		.helo = s->helo, .auth = s->auth_user,
	};
}

void
smtp_message_abort(struct smtp_session *s)
{
	if (s->in_active) {
		msg_intake_free(&s->in);
		s->in_active = false;
	}
	queue_msg_abort(&s->qmsg);
	message_groups_free(&s->groups);
}

static int
message_sink(void *arg, const char *data, size_t n)
{
	struct smtp_session *s = arg;

	return queue_msg_write(s->qmsg, data, n) == 0 ? 0 : errno;
}

static const char *
message_protocol(const struct smtp_session *s)
{
	if (!s->esmtp)
		return "SMTP";
	if (s->tls)
		return s->auth_user ? "ESMTPSA" : "ESMTPS";
	return s->auth_user ? "ESMTPA" : "ESMTP";
}

/* Our trace field; "for" names the recipient only when there is one. */
static void
message_received(struct smtp_session *s)
{
	char date[64], tlsinfo[256] = "", auth[320] = "", forpart[300] = "";
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (s->tls) {
		tls_received_clause(s->bev, tlsinfo + 1, sizeof(tlsinfo) - 1);
		if (tlsinfo[1] != '\0')
			tlsinfo[0] = ' ';
	}
	if (s->auth_user != NULL)
		snprintf(auth, sizeof(auth), " (authenticated as %s)",
		    s->auth_user);
	if (s->nrcpts == 1)
		snprintf(forpart, sizeof(forpart), "\r\n\tfor <%s>",
		    s->rcpts[0].original);
	char *trace = xasprintf("Received: from %s ([%s])%s%s\r\n"
	    "\tby %s (mta) with %s id %s%s;\r\n\t%s\r\n", s->helo, s->peer,
	    tlsinfo, auth, s->cfg->local.hostname, message_protocol(s),
	    queue_msg_id(s->qmsg), forpart, date);
	msg_intake_add(&s->in, trace, strlen(trace));
	free(trace);
}

/* NULL, or the reply when the queue cannot take the message: an
 * envelope it refuses (EINVAL, E2BIG) is permanent, anything else
 * temporary. */
static const char *
message_start(struct smtp_session *s, bool raw)
{
	char *err = NULL;
	struct queue_env env;
	struct msg_intake_limits lim = {
		.max_size = s->cfg->max_msg_size,
		.max_header = (size_t)s->cfg->max_header_size,
		.max_fields = (size_t)s->cfg->max_header_fields,
		.strict_end = true,
	};

	s->groups = message_groups_new(s);
	message_env(s, &env);
	s->qmsg = queue_msg_new(s->srv->queue, &env, s->groups->dests,
	    s->groups->n, &err);
	if (s->qmsg == NULL) {
		int e = errno;
		log_err("smtp session=%lu %s", s->id, err);
		free(err);
		message_groups_free(&s->groups);
		return e == EINVAL || e == E2BIG ?
		    "554 5.3.4 Envelope too large for the queue" :
		    "451 4.3.0 Queue unavailable, try again later";
	}
	msg_intake_init(&s->in, raw, &lim, message_sink, s);
	s->in_active = true;
	message_received(s);
	return NULL;
}

/* Received: fields the client's message carried (ours, the first, is not
 * counted): more than max_hops is a loop (RFC 5321 6.3). */
static int
message_hops(const struct msg_header_scan *h)
{
	int n = -1;

	for (size_t i = 0; i + 9 <= h->len; i++)
		if ((i == 0 || h->buf[i - 1] == '\n') &&
		    strncasecmp(h->buf + i, "Received:", 9) == 0)
			n++;
	return n;
}

static const char *
message_refusal(struct smtp_session *s)
{
	const char *r = msg_intake_refusal(&s->in);

	if (r != NULL)
		return r;
	if (message_hops(&s->in.hdr) > s->cfg->max_hops)
		return "554 5.4.6 Too many hops: mail loop detected";
	for (size_t i = 0; i < s->groups->n; i++) {
		const struct imta_channel *ch = imta_conf_channel_by_name(
		    s->cfg->imta, s->groups->dests[i].channel);
		if (ch != NULL && ch->kw.blocklimit > 0 &&
		    s->in.size > (uint64_t)ch->kw.blocklimit * MESSAGE_BLOCK)
			return "552 5.3.4 Message too big for a destination "
			    "channel (blocklimit)";
	}
	if (s->nrcpts != s->groups->nrcpts)
		return "503 5.5.1 RCPT between BDAT chunks: message not queued";
	return NULL;
}

static void
message_reply_done(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	smtp_reset(s);
	s->state = SMTP_COMMAND;
}

static void
message_on_committed(void *arg, int err)
{
	struct smtp_commit *c = arg;
	struct smtp_session *s = c->s;

	if (err == 0)
		track_write(c->track);
	free(c->track);
	free(c);
	if (s == NULL)
		return;     /* the client left: the entries stay queued */
	s->commit = NULL;
	if (s->state == SMTP_CLOSING)
		return;     /* it said goodbye (idle): no reply after that */
	if (err != 0) {
		log_err("smtp session=%lu queue commit failed: %s", s->id,
		    strerror(err));
		mta_stats.tempfails++;
		message_reply_done(s, "452 4.3.1 Insufficient system storage");
	} else {
		char reply[64];
		snprintf(reply, sizeof(reply), "250 2.0.0 Ok: queued as %s",
		    s->queued_id);
		message_reply_done(s, reply);
		mta_stats.messages++;
	}
	smtp_resume(s);
}

static char *
message_track(const struct queue_env *env, const char *id,
    const struct message_groups *g)
{
	char *all = NULL;

	for (size_t i = 0; i < g->n; i++) {
		char *line = track_enqueue_line(env, id, &g->dests[i]);
		char *both = xasprintf("%s%s", all ? all : "", line);
		free(all);
		free(line);
		all = both;
	}
	return all;
}

static void
message_commit(struct smtp_session *s)
{
	struct queue_env env;
	const char *id = queue_msg_id(s->qmsg);

	message_env(s, &env);
	env.size = queue_msg_size(s->qmsg);     /* for the tracking lines */
	snprintf(s->queued_id, sizeof(s->queued_id), "%s", id);
	log_info("smtp session=%lu id=%s from=<%s> rcpts=%zu size=%llu "
	    "channels=%zu", s->id, id, s->from, s->nrcpts,
	    (unsigned long long)env.size, s->groups->n);
	s->commit = xcalloc(1, sizeof(*s->commit));
	s->commit->s = s;
	s->commit->track = message_track(&env, id, s->groups);
	mta_stats.recipients += s->nrcpts;
	mta_stats.bytes += env.size;
	s->state = SMTP_COMMIT;
	s->transactions++;
	msg_intake_free(&s->in);
	s->in_active = false;
	queue_commit(&s->qmsg, message_on_committed, s->commit);
	message_groups_free(&s->groups);
}

/* The whole message is in: refuse it, or commit it. */
static void
message_end(struct smtp_session *s)
{
	const char *refusal;

	msg_intake_finish(&s->in);
	if ((refusal = message_refusal(s)) != NULL) {
		mta_stats.refused_messages++;
		log_info("smtp session=%lu from=<%s> message refused: %s", s->id,
		    s->from, refusal);
		message_reply_done(s, refusal);
		return;
	}
	message_commit(s);
}

void
smtp_cmd_data(struct smtp_session *s, char *args)
{
	(void)args;
	if (s->nrcpts == 0) {
		smtp_reply(s, "554 5.5.1 No valid recipients");
		smtp_error(s);
		return;
	}
	if (s->qmsg != NULL || s->bdat_refusal != NULL) {
		smtp_reply(s, "503 5.5.1 BDAT in progress: DATA not allowed");
		smtp_error(s);
		return;
	}
	const char *refusal = message_start(s, false);
	if (refusal != NULL) {
		smtp_reply(s, "%s", refusal);
		return;
	}
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = SMTP_DATA;
}

void
smtp_data_input(struct smtp_session *s)
{
	msg_intake_read(&s->in, bufferevent_get_input(s->bev), SIZE_MAX);
	if (msg_intake_done(&s->in))
		message_end(s);
}

/* BDAT size [LAST]: the chunk is read even when it will be refused
 * (RFC 3030 2: the octets are part of the command). */
void
smtp_cmd_bdat(struct smtp_session *s, char *args)
{
	char *end, *last;
	unsigned long long n = strtoull(args, &end, 10);

	s->bdat_last = false;
	if (end == args || (*end != '\0' && *end != ' ')) {
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		smtp_error(s);
		return;     /* the chunk size is unknown: nothing can be skipped */
	}
	last = end + strspn(end, " ");
	if (*last != '\0' && strcasecmp(last, "LAST") != 0) {
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		smtp_error(s);
		return;
	}
	s->bdat_last = *last != '\0';
	s->bdat_left = n;
	s->state = SMTP_BDAT;
	if (s->bdat_refusal != NULL)
		return;
	if (!s->has_mail || s->nrcpts == 0)
		s->bdat_refusal = !s->has_mail ? "503 5.5.1 Send MAIL first" :
		    "554 5.5.1 No valid recipients";
	else if (s->qmsg == NULL)
		s->bdat_refusal = message_start(s, true);
}

static void
bdat_chunk_done(struct smtp_session *s)
{
	s->state = SMTP_COMMAND;
	if (s->bdat_refusal != NULL) {
		smtp_reply(s, "%s", s->bdat_refusal);
		smtp_message_abort(s);
		if (s->bdat_last)
			smtp_reset(s);
	} else if (s->bdat_last) {
		message_end(s);
	} else if (s->in.too_big) {
		/* RFC 3030: the client must not send more chunks; any that
		 * come are dropped until LAST or RSET. */
		s->bdat_refusal = "552 5.3.4 Message size exceeds fixed limit";
		smtp_reply(s, "%s", s->bdat_refusal);
		smtp_message_abort(s);
	} else {
		smtp_reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)s->in.size);
	}
}

void
smtp_bdat_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < s->bdat_left ? avail : (size_t)s->bdat_left;

	if (s->bdat_refusal != NULL || !s->in_active)
		evbuffer_drain(in, n);
	else
		n = msg_intake_read(&s->in, in, n);
	s->bdat_left -= n;
	if (s->bdat_left == 0)
		bdat_chunk_done(s);
}
