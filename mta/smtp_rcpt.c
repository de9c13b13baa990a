/*
 * smtp_rcpt: RCPT TO, its DSN parameters (RFC 3461 NOTIFY and ORCPT),
 * its routing (route.c) and its access checks:
 *
 *   ORIG_SEND_ACCESS / ORIG_MAIL_ACCESS on the rewritten address, before
 *   the directory is asked (a relay attempt costs no lookup);
 *   SEND_ACCESS / MAIL_ACCESS on every address the expansion gives ($B
 *   sends that one to the bitbucket channel, $H to the hold channel).
 *
 * Limits: recipients per transaction (service.smtp.maxrecipients and the
 * source channel's `recipientlimit`: 452 4.5.3, RFC 5321 4.5.3.1.10), and
 * the addresses they expand to together (what one queue entry can hold:
 * 452 4.5.3 for the RCPT that would pass it).  A RCPT between BDAT chunks
 * is refused (503): the envelopes are written when the message starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtp.h"
#include "xmalloc.h"

/* NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY. */
static bool
rcpt_notify(const char *v, unsigned *out)
{
	char buf[64];

	if (v == NULL || strlen(v) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", v);
	*out = 0;
	for (char *save = NULL, *w = strtok_r(buf, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(w, "NEVER") == 0)
			*out |= QUEUE_NOTIFY_NEVER;
		else if (strcasecmp(w, "SUCCESS") == 0)
			*out |= QUEUE_NOTIFY_SUCCESS;
		else if (strcasecmp(w, "FAILURE") == 0)
			*out |= QUEUE_NOTIFY_FAILURE;
		else if (strcasecmp(w, "DELAY") == 0)
			*out |= QUEUE_NOTIFY_DELAY;
		else
			return false;
	}
	/* NEVER stands alone. */
	return *out != 0 &&
	    (!(*out & QUEUE_NOTIFY_NEVER) || *out == QUEUE_NOTIFY_NEVER);
}

/* ORCPT=addr-type;xtext, kept decoded ("rfc822;a@b"). */
static char *
rcpt_orcpt(const char *v)
{
	const char *semi = v ? strchr(v, ';') : NULL;

	if (semi == NULL || semi == v || strlen(v) > 500)
		return NULL;
	return smtp_xtext_decode(v);
}

static const char *
rcpt_params(struct smtp_session *s, const struct smtp_path *p)
{
	for (size_t i = 0; i < p->nparams; i++) {
		const char *kw = p->params[i].keyword, *v = p->params[i].value;
		if (strcmp(kw, "NOTIFY") == 0) {
			if (!rcpt_notify(v, &s->pending.notify))
				return "501 5.5.4 Bad NOTIFY parameter";
		} else if (strcmp(kw, "ORCPT") == 0) {
			free(s->pending.orcpt);
			if ((s->pending.orcpt = rcpt_orcpt(v)) == NULL)
				return "501 5.5.4 Bad ORCPT parameter";
		} else {
			return "555 5.5.4 Unsupported RCPT parameter";
		}
	}
	return NULL;
}

static size_t
rcpt_limit(const struct smtp_session *s)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(s->cfg->imta,
	    s->src_channel);
	size_t limit = (size_t)s->cfg->max_rcpts;

	if (ch != NULL && ch->kw.recipientlimit > 0 &&
	    (size_t)ch->kw.recipientlimit < limit)
		limit = (size_t)ch->kw.recipientlimit;
	return limit;
}

/* A refusal of the access tables as the reply line, kept in the session. */
static const char *
rcpt_refusal(struct smtp_session *s, struct access_verdict *v)
{
	free(s->refusal_text);
	s->refusal_text = access_reply(v, "Recipient refused");
	s->delay = v->delay;
	return s->refusal_text;
}

/* route.c's orig_check: ORIG_SEND_ACCESS and ORIG_MAIL_ACCESS; $B and $H
 * divert every address the recipient expands to. */
static const char *
rcpt_orig_check(void *arg, const char *channel, const char *address)
{
	struct smtp_session *s = arg;
	struct access_ctx ax;
	struct access_verdict v = { 0 };
	const char *reply = NULL;

	smtp_access_ctx(s, &ax);
	if (!access_send(&ax, true, channel, address, &v))
		reply = rcpt_refusal(s, &v);
	else if (v.discard || v.hold)
		s->pending.divert = v.discard ? SMTP_BITBUCKET_CHANNEL :
		    SMTP_HOLD_CHANNEL;
	access_verdict_clear(&v);
	return reply;
}

/* SEND_ACCESS and MAIL_ACCESS on each destination; NULL when all pass. */
static const char *
rcpt_send_check(struct smtp_session *s, struct route_dest *d, size_t n)
{
	struct access_ctx ax;

	smtp_access_ctx(s, &ax);
	for (size_t i = 0; i < n; i++) {
		struct access_verdict v = { 0 };
		if (!access_send(&ax, false, d[i].channel, d[i].address, &v)) {
			const char *reply = rcpt_refusal(s, &v);
			access_verdict_clear(&v);
			return reply;
		}
		if (v.discard || v.hold) {
			free(d[i].channel);
			d[i].channel = xstrdup(v.discard ? SMTP_BITBUCKET_CHANNEL :
			    SMTP_HOLD_CHANNEL);
		}
		access_verdict_clear(&v);
	}
	return NULL;
}

static void
rcpt_accept(struct smtp_session *s, const struct route_answer *ans)
{
	struct smtp_rcpt *r;

	if (s->nrcpts == s->caprcpts) {
		s->caprcpts = s->caprcpts ? s->caprcpts * 2 : 8;
		s->rcpts = xrealloc(s->rcpts, s->caprcpts * sizeof(*s->rcpts));
	}
	r = &s->rcpts[s->nrcpts++];
	*r = s->pending;
	memset(&s->pending, 0, sizeof(s->pending));
	r->dests = xcalloc(ans->ndests, sizeof(*r->dests));
	r->ndests = ans->ndests;
	for (size_t i = 0; i < ans->ndests; i++) {
		r->dests[i].channel = xstrdup(r->divert ? r->divert :
		    ans->dests[i].channel);
		r->dests[i].address = xstrdup(ans->dests[i].address);
	}
	s->ndests += ans->ndests;
}

static void
rcpt_answer(void *arg, const struct route_answer *ans)
{
	struct smtp_session *s = arg;
	const char *reply = ans->reply;
	long delay = reply != NULL && reply == s->refusal_text ? s->delay : 0;
	bool async = s->route != NULL;

	s->route = NULL;
	if (reply == NULL &&
	    (reply = rcpt_send_check(s, ans->dests, ans->ndests)) != NULL)
		delay = s->delay;
	if (reply == NULL && s->ndests + ans->ndests > QUEUE_ENV_RCPTS_MAX)
		reply = "452 4.5.3 Too many recipients for one message";
	log_info("smtp session=%lu from=<%s> to=<%s> channel=%s %s", s->id,
	    s->from, s->pending.original,
	    ans->first_channel ? ans->first_channel : "-",
	    reply ? reply : "accepted");
	if (reply == NULL) {
		rcpt_accept(s, ans);
		reply = "250 2.1.5 Ok";
	} else {
		mta_stats.refused_rcpts++;
		smtp_rcpt_clear(&s->pending);
	}
	s->state = SMTP_COMMAND;
	smtp_reply_later(s, delay, reply);
	/* Refused recipients count as errors (Postfix's hard error limit):
	 * harvesting addresses, or probing relay rules, ends the session. */
	if (*reply == '5' && !smtp_error(s))
		return;
	/* A cache hit answers inside smtp_cmd_rcpt: the command loop that
	 * called it goes on by itself.  Only a later answer restarts it. */
	if (async && s->state == SMTP_COMMAND)
		smtp_resume(s);
}

/* UTF-8 in an address only after MAIL ... SMTPUTF8 (RFC 6531 3.5). */
static const char *
rcpt_path(struct smtp_session *s, char *arg, struct smtp_path *p)
{
	if (smtp_path_is_8bit(arg) && !s->smtputf8)
		return "553 5.6.7 Non-ASCII address needs SMTPUTF8";
	return smtp_path_parse(arg, SMTP_PATH_POSTMASTER |
	    (s->smtputf8 ? SMTP_PATH_UTF8 : 0), p);
}

void
smtp_cmd_rcpt(struct smtp_session *s, char *args)
{
	struct smtp_path p;
	const char *err;

	if (strncasecmp(args, "TO:", 3) != 0) {
		smtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		smtp_error(s);
		return;
	}
	if (s->rcpt_cmds >= rcpt_limit(s)) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (s->qmsg != NULL) {
		smtp_reply(s, "503 5.5.1 RCPT not allowed between BDAT chunks");
		smtp_error(s);
		return;
	}
	smtp_rcpt_clear(&s->pending);
	if ((err = rcpt_path(s, args + 3, &p)) != NULL ||
	    (err = rcpt_params(s, &p)) != NULL) {
		smtp_reply(s, "%s", err);
		smtp_rcpt_clear(&s->pending);
		smtp_error(s);
		return;
	}
	s->rcpt_cmds++;
	s->pending.original = xstrdup(p.mailbox);
	s->state = SMTP_WAIT;
	struct route_params rp = {
		.cfg = s->cfg, .dir = s->srv->dir, .src_channel = s->src_channel,
		.address = p.mailbox, .orig_check = rcpt_orig_check, .arg = s,
	};
	s->route = route_resolve(&rp, rcpt_answer);
}
