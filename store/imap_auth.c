/*
 * imap_auth: LOGIN and AUTHENTICATE (PLAIN and LOGIN, with SASL-IR,
 * RFC 4959) and what follows a successful login.
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

#include "base64.h"
#include "sasl.h"
#include "dir.h"
#include "imap_cmds.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "xmalloc.h"

enum { MECH_PLAIN = 1, MECH_LOGIN = 2, MECH_CRAM = 3 };

#define AUTH_LINE_MAX 4096

static void
imap_auth_wipe(struct imap_session *s)
{
	if (s->auth_user != NULL) {
		explicit_bzero(s->auth_user, strlen(s->auth_user));
		free(s->auth_user);
		s->auth_user = NULL;
	}
	s->auth_mech = 0;
	s->auth_step = 0;
}

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

static int
imap_user_sessions(const struct imap_server *srv, const char *user)
{
	int n = 0;

	for (const struct imap_session *o = srv->sessions; o; o = o->next)
		n += o->user != NULL && strcmp(o->user, user) == 0;
	return n;
}

static void
imap_login_ready(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	if (op->status != MOP_OK) {
		mbox_op_free(&op);
		free(s->user);
		s->user = NULL;
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

	s->auth_req = NULL;
	log_info("imap session=%lu peer=%s login=%s result=%s", s->id, s->peer,
	    s->login, r->why);
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
	if (imap_user_sessions(s->srv, r->user.key) >=
	    s->srv->svc.cfg->imap_max_per_user) {
		imap_finish(s, "NO [LIMIT] Too many sessions for this user");
		return;
	}
	s->user = xstrdup(r->user.key);
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

/* PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616). */
static void
imap_auth_plain(struct imap_session *s, const char *data, size_t len)
{
	const char *authz, *authc, *pass;

	if (!sasl_plain_parse(data, len, &authz, &authc, &pass)) {
		imap_finish(s, "BAD Malformed PLAIN response");
		return;
	}
	if (*authz != '\0' && strcmp(authz, authc) != 0) {
		/* A proxy (store.admins) logging in for a user. */
		free(s->login);
		s->login = xasprintf("%s(for %s)", authc, authz);
		s->auth_req = auth_proxy(s->srv->svc.dir, s->srv->svc.cfg, authc, pass, authz,
		    imap_login_done, s);
		return;
	}
	imap_login_start(s, authc, pass);
}

/* One client response of the SASL exchange, base64. */
static void
imap_auth_step(struct imap_session *s, const char *b64)
{
	size_t len = strlen(b64), n;
	char *data;

	s->io = IMAP_IO_BUSY;
	if (strcmp(b64, "*") == 0) {
		imap_auth_wipe(s);
		imap_finish(s, "BAD Authentication cancelled");
		return;
	}
	data = xmalloc(len / 4 * 3 + 2);
	if (!base64_decode(b64, len, data, &n) || (s->auth_mech == MECH_LOGIN &&
	    memchr(data, '\0', n) != NULL)) {
		free(data);
		imap_auth_wipe(s);
		imap_finish(s, "BAD Malformed response");
		return;
	}
	if (s->auth_mech == MECH_LOGIN && s->auth_step == 0) {
		s->auth_user = data;
		s->auth_step = 1;
		s->io = IMAP_IO_AUTH;
		imap_reply(s, "+ UGFzc3dvcmQ6");       /* "Password:" */
		return;
	}
	if (s->auth_mech == MECH_CRAM) {
		/* "user SP digest" (RFC 2195) */
		char *sp = strrchr(data, ' ');
		char *challenge = s->auth_user;
		s->auth_user = NULL;
		imap_auth_wipe(s);
		if (sp == NULL) {
			free(challenge);
			free(data);
			imap_finish(s, "BAD Malformed CRAM-MD5 response");
			return;
		}
		*sp = '\0';
		free(s->login);
		s->login = xstrdup(data);
		s->auth_req = auth_digest(s->srv->svc.dir, s->srv->svc.cfg, data,
		    SASL_CRAM_MD5, challenge, sp + 1, imap_login_done, s);
		free(challenge);
	} else if (s->auth_mech == MECH_LOGIN) {
		char *user = s->auth_user;
		s->auth_user = NULL;
		imap_auth_wipe(s);
		imap_login_start(s, user, data);
		free(user);
	} else {
		imap_auth_wipe(s);
		imap_auth_plain(s, data, n);
	}
	explicit_bzero(data, n);
	free(data);
}

void
imap_auth_abort(struct imap_session *s, const char *reply)
{
	imap_auth_wipe(s);
	s->io = IMAP_IO_BUSY;
	imap_finish(s, "%s", reply);
}

void
imap_auth_line(struct imap_session *s, const char *line)
{
	imap_auth_step(s, line);
}

/* CRAM-MD5 (RFC 2195): the password never crosses the wire, so it is
 * offered before TLS too.  No initial response is possible. */
static void
imap_cram_start(struct imap_session *s, const struct imap_arg *ir)
{
	char challenge[300], b64[512];

	if (ir->type != IMAP_ARG_END) {
		imap_finish(s, "BAD CRAM-MD5 takes no initial response");
		return;
	}
	s->auth_mech = MECH_CRAM;
	s->auth_step = 1;
	free(s->auth_user);
	sasl_challenge(challenge, sizeof(challenge), s->srv->svc.cfg->hostname);
	s->auth_user = xstrdup(challenge);
	base64_encode(s->auth_user, strlen(s->auth_user), b64);
	s->io = IMAP_IO_AUTH;
	imap_reply(s, "+ %s", b64);
}

void
cmd_authenticate(struct imap_session *s, struct imap_arg *args)
{
	const char *mech;

	if (!imap_arg_astring(&args[0], &mech) || (args[1].type != IMAP_ARG_END &&
	    (args[1].type != IMAP_ARG_ATOM || args[2].type != IMAP_ARG_END))) {
		imap_bad(s, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		s->auth_mech = MECH_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0)
		s->auth_mech = MECH_LOGIN;
	else if (strcasecmp(mech, "CRAM-MD5") == 0 &&
	    auth_digest_supported(s->srv->svc.dir)) {
		imap_cram_start(s, &args[1]);
		return;
	} else {
		imap_finish(s, "NO Unsupported authentication mechanism");
		return;
	}
	if (!imap_plaintext_ok(s)) {
		s->auth_mech = 0;
		imap_finish(s, "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	s->auth_step = 0;
	if (args[1].type == IMAP_ARG_ATOM) {
		/* SASL-IR; "=" is an empty initial response. */
		imap_auth_step(s, strcmp(args[1].str, "=") == 0 ? "" : args[1].str);
		return;
	}
	s->io = IMAP_IO_AUTH;
	imap_reply(s, s->auth_mech == MECH_LOGIN ? "+ VXNlcm5hbWU6" : "+ ");
}
