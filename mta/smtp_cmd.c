/*
 * smtp_cmd: the SMTP commands (RFC 5321) as a table of name, handler and
 * preconditions, and the transaction commands other than RCPT, DATA, BDAT
 * and AUTH (files of their own).
 *
 * Extensions: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
 * DSN (RFC 3461: RET, ENVID, NOTIFY, ORCPT go into the queue), STARTTLS,
 * AUTH, CHUNKING.  The source channel's `musttlsserver` and
 * `mustsaslserver` make MAIL wait for STARTTLS and AUTH (530 5.7.0).
 */
#include <ctype.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "log.h"
#include "smtp.h"
#include "tls.h"
#include "xmalloc.h"

enum {
	NEED_HELO = 1,      /* after EHLO/HELO */
	NEED_MAIL = 2,      /* inside a transaction */
	NO_ARGS = 4,        /* takes no argument */
};

struct smtp_cmd {
	const char *name;
	void (*fn)(struct smtp_session *s, char *args);
	int flags;
};

void
smtp_rcpt_clear(struct smtp_rcpt *r)
{
	free(r->original);
	free(r->orcpt);
	for (size_t i = 0; i < r->ndests; i++) {
		free(r->dests[i].channel);
		free(r->dests[i].address);
	}
	free(r->dests);
	memset(r, 0, sizeof(*r));
}

void
smtp_reset(struct smtp_session *s)
{
	route_cancel(&s->route);
	dns_cancel(&s->dns_req);
	smtp_rcpt_clear(&s->pending);
	smtp_message_abort(s);
	for (size_t i = 0; i < s->nrcpts; i++)
		smtp_rcpt_clear(&s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = s->caprcpts = s->rcpt_cmds = 0;
	free(s->from);
	s->from = NULL;
	free(s->envid);
	s->envid = NULL;
	s->ret = QUEUE_RET_NONE;
	s->priority = QUEUE_PRIORITY_NORMAL;
	s->has_mail = s->smtputf8 = false;
	s->bdat_refusal = NULL;
	s->divert = NULL;
	s->ndests = 0;
}

static const struct imta_channel *
smtp_channel(const struct smtp_session *s)
{
	return imta_conf_channel_by_name(s->cfg->imta, s->src_channel);
}

static void
cmd_ehlo_common(struct smtp_session *s, char *args, bool esmtp)
{
	const struct mta_config *cfg = s->cfg;
	const struct imta_channel *ch = smtp_channel(s);

	if (!smtp_helo_valid(args)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		smtp_error(s);
		return;
	}
	smtp_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%s", args);
	s->esmtp = esmtp;
	if (!esmtp) {
		smtp_reply(s, "250 %s", cfg->local.hostname);
		return;
	}
	smtp_reply(s, "250-%s", cfg->local.hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)cfg->max_msg_size);
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-DSN");
	if (ch == NULL || ch->kw.chunking_server)
		smtp_reply(s, "250-CHUNKING");
	if (!s->tls && s->srv->tls != NULL &&
	    (ch == NULL || ch->kw.tls_server != IMTA_NO))
		smtp_reply(s, "250-STARTTLS");
	if (*smtp_auth_mechanisms(s) != '\0')
		smtp_reply(s, "250-AUTH %s", smtp_auth_mechanisms(s));
	smtp_reply(s, "250 HELP");
}

static void
cmd_ehlo(struct smtp_session *s, char *args)
{
	cmd_ehlo_common(s, args, true);
}

static void
cmd_helo(struct smtp_session *s, char *args)
{
	cmd_ehlo_common(s, args, false);
}

/* RFC 3461 4.3: RET=FULL|HDRS; ENVID=xtext (kept decoded; the queue
 * encodes it again). */
static const char *
cmd_mail_dsn(struct smtp_session *s, const char *kw, const char *v)
{
	if (strcmp(kw, "RET") == 0) {
		if (v == NULL || s->ret != QUEUE_RET_NONE)
			return "501 5.5.4 Bad RET parameter";
		if (strcasecmp(v, "FULL") == 0)
			s->ret = QUEUE_RET_FULL;
		else if (strcasecmp(v, "HDRS") == 0)
			s->ret = QUEUE_RET_HDRS;
		else
			return "501 5.5.4 RET must be FULL or HDRS";
		return NULL;
	}
	if (v == NULL || *v == '\0' || strlen(v) > 100 || s->envid != NULL ||
	    (s->envid = smtp_xtext_decode(v)) == NULL)
		return "501 5.5.4 Bad ENVID parameter";
	return NULL;
}

/* AUTH=<mailbox> or <> (RFC 4954 5): checked and dropped; the sender's
 * identity is what this session proved, not what a relay claims. */
static const char *
cmd_mail_auth(const char *v)
{
	char *decoded = v != NULL && *v != '\0' ? smtp_xtext_decode(v) : NULL;

	free(decoded);
	return decoded == NULL ? "501 5.5.4 Bad AUTH parameter" : NULL;
}

/* Parameters of MAIL FROM: known ones checked, others refused. */
static const char *
cmd_mail_params(struct smtp_session *s, const struct smtp_path *p)
{
	for (size_t i = 0; i < p->nparams; i++) {
		const char *kw = p->params[i].keyword, *v = p->params[i].value;
		const char *err = NULL;
		if (strcmp(kw, "SIZE") == 0) {
			char *end;
			unsigned long long n = v ? strtoull(v, &end, 10) : 0;
			if (v == NULL || *v == '\0' || *end != '\0')
				err = "501 5.5.4 Bad SIZE parameter";
			else if (n > s->cfg->max_msg_size)
				err = "552 5.3.4 Message size exceeds fixed limit";
		} else if (strcmp(kw, "BODY") == 0) {
			if (v == NULL || (strcasecmp(v, "7BIT") != 0 &&
			    strcasecmp(v, "8BITMIME") != 0))
				err = "501 5.5.4 BODY must be 7BIT or 8BITMIME";
		} else if (strcmp(kw, "RET") == 0 || strcmp(kw, "ENVID") == 0) {
			err = cmd_mail_dsn(s, kw, v);
		} else if (strcmp(kw, "AUTH") == 0) {
			err = cmd_mail_auth(v);
		} else if (strcmp(kw, "SMTPUTF8") == 0 && (v == NULL || *v == '\0')) {
			s->smtputf8 = true;
		} else {
			err = "555 5.5.4 Unsupported MAIL parameter";
		}
		if (err != NULL)
			return err;
	}
	return NULL;
}

/* What the source channel demands before a transaction. */
static const char *
cmd_mail_precondition(struct smtp_session *s)
{
	const struct imta_channel *ch = smtp_channel(s);

	if (s->srv->draining)
		return "421 4.3.2 Shutting down";
	if (s->transactions >= s->cfg->max_transactions ||
	    (ch != NULL && ch->kw.transactionlimit > 0 &&
	    s->transactions >= ch->kw.transactionlimit))
		return "421 4.7.0 Too many messages in one session";
	if (ch == NULL)
		return NULL;
	if (ch->kw.tls_server == IMTA_MUST && !s->tls)
		return "530 5.7.0 Must issue a STARTTLS command first";
	if (ch->kw.sasl_server == IMTA_MUST && s->auth_user == NULL)
		return "530 5.7.0 Authentication required";
	return NULL;
}

static bool
cmd_mail_checked(struct smtp_session *s, char *args, struct smtp_path *p)
{
	const char *err;
	int flags = SMTP_PATH_NULL_OK;

	if (strncasecmp(args, "FROM:", 5) != 0) {
		smtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return false;
	}
	/* SMTPUTF8 decides what the path may contain: look for it first. */
	if (strcasestr(args, " SMTPUTF8") != NULL)
		flags |= SMTP_PATH_UTF8;
	if ((err = smtp_path_parse(args + 5, flags, p)) != NULL ||
	    (err = cmd_mail_params(s, p)) != NULL) {
		smtp_reply(s, "%s", err);
		return false;
	}
	return true;
}

/* FROM_ACCESS; true when the sender is allowed (maybe replaced). */
static bool
cmd_mail_access(struct smtp_session *s)
{
	struct access_ctx ax;
	struct access_verdict v = { 0 };
	bool ok;

	smtp_access_ctx(s, &ax);
	if ((ok = access_from(&ax, &v))) {
		if (v.discard || v.hold)
			s->divert = v.discard ? SMTP_BITBUCKET_CHANNEL :
			    SMTP_HOLD_CHANNEL;
		if (v.new_from != NULL) {
			log_info("smtp session=%lu from=<%s> replaced by <%s> "
			    "(FROM_ACCESS)", s->id, s->from, v.new_from);
			free(s->from);
			s->from = xstrdup(v.new_from);
		}
	} else {
		char *reply = access_reply(&v, "Sender refused");
		log_info("smtp session=%lu peer=%s from=<%s> refused: %s", s->id,
		    s->peer, s->from, reply);
		smtp_reset(s);
		smtp_reply_later(s, v.delay, reply);
		free(reply);
	}
	access_verdict_clear(&v);
	return ok;
}

static void
cmd_mail_verified(void *arg, enum dns_status st)
{
	struct smtp_session *s = arg;
	const char *reply = "250 2.1.0 Ok";

	s->dns_req = NULL;
	if (st == DNS_NXDOMAIN || st == DNS_NODATA)
		reply = "553 5.1.8 Sender domain does not exist";
	else if (st == DNS_TEMPFAIL)
		reply = "451 4.1.8 Sender domain could not be verified, try "
		    "again later";
	if (*reply != '2') {
		log_info("smtp session=%lu peer=%s from=<%s> refused: %s (dns %s)",
		    s->id, s->peer, s->from, reply, dns_status_name(st));
		smtp_reset(s);
	}
	smtp_reply(s, "%s", reply);
	s->state = SMTP_COMMAND;
	smtp_resume(s);
}

/* mailfromdnsverify: the sender's domain must be able to take mail
 * back (MX, or an address).  true: the answer will come later. */
static bool
cmd_mail_verify(struct smtp_session *s)
{
	const struct imta_channel *ch = smtp_channel(s);
	const char *at = strrchr(s->from, '@');

	if (ch == NULL || !ch->kw.mailfromdnsverify || at == NULL ||
	    at[1] == '[' || s->srv->dns == NULL)
		return false;
	s->state = SMTP_WAIT;
	s->dns_req = dns_mail_domain(s->srv->dns, at + 1, cmd_mail_verified, s);
	return true;
}

static void
cmd_mail(struct smtp_session *s, char *args)
{
	struct smtp_path p;
	const char *pre;

	if (s->has_mail) {
		smtp_reply(s, "503 5.5.1 Sender already given");
		smtp_error(s);
		return;
	}
	if ((pre = cmd_mail_precondition(s)) != NULL) {
		smtp_reply(s, "%s", pre);
		if (*pre == '4' && pre[1] == '2')
			smtp_close(s);
		return;
	}
	s->ret = QUEUE_RET_NONE;
	s->smtputf8 = false;
	s->bdat_refusal = NULL;
	if (!cmd_mail_checked(s, args, &p)) {
		free(s->envid);
		s->envid = NULL;
		smtp_error(s);
		return;
	}
	s->has_mail = true;
	s->from = xstrdup(p.mailbox);
	if (cmd_mail_access(s) && !cmd_mail_verify(s))
		smtp_reply(s, "250 2.1.0 Ok");
}

static void
cmd_rset(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reply(s, "221 2.0.0 %s Bye", s->cfg->local.hostname);
	smtp_close(s);
}

/* RFC 5321 3.5.3: VRFY may be answered 252 without verifying; telling
 * which users exist would help harvesters. */
static void
cmd_vrfy(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reply(s, "252 2.5.2 Cannot verify, but will accept and attempt "
	    "delivery");
}

static void
cmd_help(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reply(s, "214 2.0.0 See RFC 5321; commands: EHLO HELO MAIL RCPT "
	    "DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

static void
cmd_starttls(struct smtp_session *s, char *args)
{
	(void)args;
	if (s->tls || s->srv->tls == NULL) {
		smtp_reply(s, s->tls ? "503 5.5.1 TLS already active" :
		    "454 4.7.0 TLS not available");
		smtp_error(s);
		return;
	}
	smtp_reset(s);
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* No more plaintext: the hand-over runs when the reply is out. */
	bufferevent_disable(s->bev, EV_READ);
	s->starttls = true;
}

static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO", cmd_ehlo, 0 },
	{ "HELO", cmd_helo, 0 },
	{ "MAIL", cmd_mail, NEED_HELO },
	{ "RCPT", smtp_cmd_rcpt, NEED_HELO | NEED_MAIL },
	{ "DATA", smtp_cmd_data, NEED_HELO | NEED_MAIL | NO_ARGS },
	{ "BDAT", smtp_cmd_bdat, 0 },       /* its octets are read whatever */
	{ "RSET", cmd_rset, NO_ARGS },
	{ "NOOP", cmd_noop, 0 },
	{ "QUIT", cmd_quit, NO_ARGS },
	{ "VRFY", cmd_vrfy, 0 },
	{ "HELP", cmd_help, 0 },
	{ "STARTTLS", cmd_starttls, NEED_HELO | NO_ARGS },
	{ "AUTH", smtp_cmd_auth, NEED_HELO },
	{ NULL, NULL, 0 },
};

static const struct smtp_cmd *
smtp_cmd_find(const char *name)
{
	for (const struct smtp_cmd *c = smtp_cmds; c->name != NULL; c++)
		if (strcasecmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* A line that looks like HTTP or proxy chatter: an attack on a relay. */
static bool
smtp_cmd_is_http(const char *line)
{
	return strncmp(line, "GET ", 4) == 0 || strncmp(line, "POST ", 5) == 0 ||
	    strncmp(line, "CONNECT ", 8) == 0;
}

void
smtp_command(struct smtp_session *s, char *line)
{
	char *args = line;
	const struct smtp_cmd *c;

	if (smtp_cmd_is_http(line)) {
		log_info("smtp session=%lu peer=%s closed: HTTP request",
		    s->id, s->peer);
		smtp_close(s);
		return;
	}
	while (*args != '\0' && *args != ' ')
		args++;
	if (*args == ' ')
		*args++ = '\0';
	if ((c = smtp_cmd_find(line)) == NULL) {
		smtp_reply(s, "500 5.5.1 Unknown command");
		smtp_error(s);
		return;
	}
	if ((c->flags & NO_ARGS) && *args != '\0') {
		smtp_reply(s, "501 5.5.4 %s takes no arguments", c->name);
		smtp_error(s);
	} else if ((c->flags & NEED_HELO) && s->helo[0] == '\0') {
		smtp_reply(s, "503 5.5.1 Send EHLO first");
		smtp_error(s);
	} else if ((c->flags & NEED_MAIL) && !s->has_mail) {
		smtp_reply(s, "503 5.5.1 Send MAIL first");
		smtp_error(s);
	} else {
		c->fn(s, args);
	}
}
