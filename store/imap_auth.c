/*
 * imap_auth: LOGIN and AUTHENTICATE (PLAIN and LOGIN through libsasl2,
 * CRAM-MD5 where the directory gives clear secrets; SASL-IR, RFC 4959;
 * common/sasl_exchange) and what follows a successful login.
 *
 * Passwords are refused before TLS unless service.imap.plaintextmincipher
 * is 0 (LOGINDISABLED is then advertised and LOGIN answers NO
 * [PRIVACYREQUIRED]).  A failed login is answered after a delay that grows
 * with the session's failures (1 s per failure so far, at most 5 s); after
 * service.imap.maxbadlogins failures the session ends with BYE.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sasl.h"
#include "sasl_exchange.h"
#include "dir.h"
#include "imap_cmds.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "xmalloc.h"

static void
imap_login_failed_reply(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;

	(void)fd;
	(void)what;
	event_free(s->delay);
	s->delay = NULL;
	if (s->auth_failures >= s->srv->svc.cfg->imap_max_bad_logins) {
		imap_tagged(s, "NO [AUTHENTICATIONFAILED] Authentication failed");
		imap_reply(s, "* BYE Too many failed logins");
		imap_close(s);
		return;
	}
	imap_finish(s, "NO [AUTHENTICATIONFAILED] Authentication failed");
}

/* Answer a failed login after the session's penalty delay. */
static void
imap_login_failed(struct imap_session *s)
{
	struct timeval tv = { .tv_sec = s->auth_failures < 5 ? s->auth_failures : 5 };

	s->auth_failures++;
	s->delay = evtimer_new(s->srv->svc.base, imap_login_failed_reply, s);
	evtimer_add(s->delay, &tv);
}

static void
imap_login_ready(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	if (op->status != MOP_OK) {
		mbox_op_free(&op);
		imap_set_user(s, NULL);
		imap_finish(s, "NO [UNAVAILABLE] Mailboxes unavailable, try later");
		return;
	}
	mbox_op_free(&op);
	s->state = IMAP_AUTH;
	imap_set_timeout(s);
	imap_finish(s, "OK [CAPABILITY %s] Logged in", imap_capabilities(s));
}

static void
imap_login_done(void *arg, const struct auth_result *r)
{
	struct imap_session *s = arg;
	char origin[NET_ORIGIN_LOG_MAX];

	s->auth_req = NULL;
	log_info("imap session=%lu peer=%s%s login=%s result=%s", s->id, s->peer,
	    net_origin_log(&s->origin, origin, sizeof(origin)), s->login, r->why);
	switch (r->status) {
	case AUTH_FAILED:
		imap_login_failed(s);
		return;
	case AUTH_UNAVAILABLE:
		imap_finish(s, "NO [UNAVAILABLE] Directory unavailable, try later");
		return;
	case AUTH_REFUSED:
		imap_finish(s, "NO [%s] Login refused: %s", r->temporary ?
		    "UNAVAILABLE" : "CONTACTADMIN", r->why);
		return;
	case AUTH_OK:
		break;
	}
	if (imap_user_count(s->srv, r->user.key) >=
	    s->srv->svc.cfg->imap_max_per_user) {
		imap_finish(s, "NO [LIMIT] Too many sessions for this user");
		return;
	}
	imap_set_user(s, r->user.key);
	s->part = r->user.part;
	s->quota = r->user.quota;
	/* INBOX and the special-use folders exist before the first command
	 * (done once per user; a no-op afterwards). */
	/* The answer may come at once, and the session may have gone on to
	 * its next command (and operation) by the time this returns. */
	struct commit_req *req = mbox_op_init_user(s->srv->svc.db, s->user, s->part,
	    imap_login_ready, s);
	if (req != NULL)
		s->op = req;
}

static void
imap_login_start(struct imap_session *s, const char *login,
    const char *password)
{
	free(s->login);
	s->login = xstrdup(login);
	s->auth_req = auth_password(s->srv->svc.dir, s->srv->svc.cfg, login, password,
	    imap_login_done, s);
}

void
cmd_login(struct imap_session *s, struct imap_arg *args)
{
	const char *user, *pass;

	if (!imap_arg_astring(&args[0], &user) ||
	    !imap_arg_astring(&args[1], &pass) || args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: LOGIN user password");
		return;
	}
	if (!imap_plaintext_ok(s)) {
		imap_finish(s, "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	imap_login_start(s, user, pass);
}

/* The exchange gave credentials: check them against the directory. */
static void
imap_auth_check(struct imap_session *s, const struct sasl_creds *c)
{
	struct dir *dir = s->srv->svc.dir;
	const struct store_config *cfg = s->srv->svc.cfg;

	free(s->login);
	if (c->mech == SASL_MECH_CRAM_MD5) {
		s->login = xstrdup(c->authc);
		s->auth_req = auth_digest(dir, cfg, c->authc, SASL_CRAM_MD5,
		    c->challenge, c->digest, imap_login_done, s);
	} else if (*c->authz != '\0') {
		/* A proxy (store.admins) logging in for a user. */
		s->login = xasprintf("%s(for %s)", c->authc, c->authz);
		s->auth_req = auth_proxy(dir, cfg, c->authc, c->pass, c->authz,
		    imap_login_done, s);
	} else {
		s->login = xstrdup(c->authc);
		s->auth_req = auth_password(dir, cfg, c->authc, c->pass,
		    imap_login_done, s);
	}
}

/* One step of the exchange: the initial response (or NULL), then each
 * continuation line. */
static void
imap_auth_advance(struct imap_session *s, const char *b64)
{
	struct sasl_exchange *x;
	const char *challenge;

	s->io = IMAP_IO_BUSY;
	switch (sasl_exchange_step(s->sasl, b64, &challenge)) {
	case SASL_NEED_MORE:
		s->io = IMAP_IO_AUTH;
		imap_reply(s, "+ %s", challenge);
		break;
	case SASL_GOT_CREDS:
		/* The answer may come at once and the session go on to its
		 * next command: the exchange is off the session first. */
		x = s->sasl;
		s->sasl = NULL;
		imap_auth_check(s, sasl_exchange_creds(x));
		sasl_exchange_free(&x);
		break;
	case SASL_MALFORMED:
		sasl_exchange_free(&s->sasl);
		imap_finish(s, "BAD Malformed authentication response");
		break;
	}
}

void
imap_auth_abort(struct imap_session *s, const char *reply)
{
	sasl_exchange_free(&s->sasl);
	s->io = IMAP_IO_BUSY;
	imap_finish(s, "%s", reply);
}

void
imap_auth_line(struct imap_session *s, const char *line)
{
	if (strcmp(line, "*") == 0)
		imap_auth_abort(s, "BAD Authentication cancelled");
	else
		imap_auth_advance(s, line);
}

void
cmd_authenticate(struct imap_session *s, struct imap_arg *args)
{
	const char *name;
	enum sasl_mech mech;

	if (!imap_arg_astring(&args[0], &name) || (args[1].type != IMAP_ARG_END &&
	    (args[1].type != IMAP_ARG_ATOM || args[2].type != IMAP_ARG_END))) {
		imap_bad(s, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	mech = sasl_mech_named(name);
	if (mech == SASL_MECH_NONE || (mech == SASL_MECH_CRAM_MD5 &&
	    !auth_digest_supported(s->srv->svc.dir))) {
		imap_finish(s, "NO Unsupported authentication mechanism");
		return;
	}
	/* CRAM-MD5 keeps the password off the wire: it needs no TLS. */
	if (sasl_mech_sends_password(mech) && !imap_plaintext_ok(s)) {
		imap_finish(s, "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	s->sasl = sasl_exchange_new(mech, "imap", s->srv->svc.cfg->hostname);
	if (s->sasl == NULL) {
		imap_finish(s, "NO [UNAVAILABLE] Authentication unavailable");
		return;
	}
	/* SASL-IR (RFC 4959); "=" is an empty initial response. */
	imap_auth_advance(s, args[1].type == IMAP_ARG_ATOM ? args[1].str : NULL);
}
