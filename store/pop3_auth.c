/*
 * pop3_auth: the AUTHORIZATION state (RFC 1939 7, RFC 5034): USER/PASS,
 * APOP, AUTH with SASL PLAIN (proxy logins for store.admins through the
 * authorization identity) and LOGIN through libsasl2
 * (common/sasl_exchange), then the maildrop lock and the
 * snapshot of INBOX the session works on.
 *
 * Passwords are refused before TLS unless service.pop.plaintextmincipher
 * is 0; APOP, where the password never crosses the wire, is offered
 * whenever the directory can give clear secrets.  A failed login is
 * answered after a delay that grows with the session's failures (1 s per
 * failure so far, at most 5 s); after service.pop.maxbadlogins failures
 * the session ends.  A directory that does not answer is -ERR [SYS/TEMP].
 * XCLIENT lets a proxy name the real client before the login; that claim
 * is only logged (beside the socket's peer, never instead of it), so any
 * client may make it.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sasl.h"
#include "sasl_exchange.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "pop3.h"
#include "xmalloc.h"

void
pop3_auth_reset(struct pop3_session *s)
{
	sasl_exchange_free(&s->sasl);
}

static void
pop3_login_failed_reply(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;
	char origin[NET_ORIGIN_LOG_MAX];

	(void)fd;
	(void)what;
	event_free(s->delay);
	s->delay = NULL;
	pop3_reply(s, "-ERR [AUTH] Authentication failed");
	if (s->auth_failures >= s->srv->svc.cfg->pop_max_bad_logins) {
		log_info("pop session=%lu peer=%s%s closed: too many failed logins",
		    s->id, s->peer, net_origin_log(&s->origin, origin, sizeof(origin)));
		pop3_close(s);
		return;
	}
	pop3_done(s);
}

/* Answer a failed login after the session's penalty delay. */
static void
pop3_login_failed(struct pop3_session *s)
{
	struct timeval tv = { .tv_sec = s->auth_failures < 5 ? s->auth_failures : 5 };

	s->auth_failures++;
	s->delay = evtimer_new(s->srv->svc.base, pop3_login_failed_reply, s);
	evtimer_add(s->delay, &tv);
}

static void
pop3_unlock(struct pop3_session *s)
{
	free(s->user);
	s->user = NULL;
}

/* Take the snapshot: INBOX's UIDs and the size of each message. */
static bool
pop3_open_maildrop(struct pop3_session *s)
{
	struct midx_message m;
	uint64_t total = 0;

	if (mbox_view_open(s->srv->svc.db, s->part, s->user, "INBOX", &s->view) != 0)
		return false;
	s->sizes = xcalloc(s->view->n + 1, sizeof(*s->sizes));
	s->deleted = xcalloc(s->view->n + 1, sizeof(*s->deleted));
	for (size_t i = 0; i < s->view->n; i++) {
		/* A message expunged since the view was read keeps size 0;
		 * RETR then says it is gone. */
		if (mbox_message_get(s->srv->svc.db, s->view->id, s->view->uids[i], &m,
		    NULL, 0, NULL) == 0)
			s->sizes[i] = m.size;
		total += s->sizes[i];
	}
	s->state = POP3_TRANSACTION;
	pop3_set_timeout(s);
	pop3_reply(s, "+OK Maildrop locked and ready, %zu messages (%llu octets)",
	    s->view->n, (unsigned long long)total);
	return true;
}

static void
pop3_login_ready(struct mbox_op *op, void *arg)
{
	struct pop3_session *s = arg;
	bool ok = op->status == MOP_OK;

	s->op = NULL;
	mbox_op_free(&op);
	if (!ok || !pop3_open_maildrop(s)) {
		log_warn("pop session=%lu user=%s maildrop unavailable", s->id,
		    s->user);
		mbox_view_close(&s->view);
		pop3_unlock(s);
		pop3_reply(s, "-ERR [SYS/TEMP] Maildrop unavailable, try later");
	}
	pop3_done(s);
}

static void
pop3_login_done(void *arg, const struct auth_result *r)
{
	struct pop3_session *s = arg;
	char origin[NET_ORIGIN_LOG_MAX];

	s->auth_req = NULL;
	log_info("pop session=%lu peer=%s%s login=%s result=%s", s->id, s->peer,
	    net_origin_log(&s->origin, origin, sizeof(origin)), s->login, r->why);
	switch (r->status) {
	case AUTH_FAILED:
		pop3_login_failed(s);
		return;
	case AUTH_UNAVAILABLE:
		pop3_reply(s, "-ERR [SYS/TEMP] Directory unavailable, try later");
		pop3_done(s);
		return;
	case AUTH_REFUSED:
		pop3_reply(s, "-ERR [%s] Login refused: %s", r->temporary ?
		    "SYS/TEMP" : "SYS/PERM", r->why);
		pop3_done(s);
		return;
	case AUTH_OK:
		break;
	}
	if (!pop3_lock(s, r->user.key)) {
		log_info("pop session=%lu user=%s maildrop in use", s->id,
		    r->user.key);
		pop3_reply(s, "-ERR [IN-USE] Maildrop already locked by another "
		    "session");
		pop3_done(s);
		return;
	}
	s->part = r->user.part;
	/* INBOX exists before the first look (a no-op after the first login). */
	/* The answer may come at once (and the session move on). */
	struct commit_req *req = mbox_op_init_user(s->srv->svc.db, s->user, s->part,
	    pop3_login_ready, s);
	if (req != NULL)
		s->op = req;
}

static void
pop3_login_start(struct pop3_session *s, const char *login,
    const char *password)
{
	free(s->login);
	s->login = xstrdup(login);
	s->auth_req = auth_password(s->srv->svc.dir, s->srv->svc.cfg, login, password,
	    pop3_login_done, s);
}

/* Passwords in the clear need TLS (or the operator's consent). */
static bool
pop3_plaintext_check(struct pop3_session *s)
{
	if (pop3_plaintext_ok(s))
		return true;
	pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on "
	    "non-secure connections; use STLS");
	pop3_done(s);
	return false;
}

void
cmd_user(struct pop3_session *s, char *arg)
{
	if (*arg == '\0') {
		pop3_error(s, "Syntax: USER name");
		return;
	}
	if (!pop3_plaintext_check(s))
		return;
	free(s->user_arg);
	s->user_arg = xstrdup(arg);
	pop3_reply(s, "+OK Send PASS");
	pop3_done(s);
}

/* The password is the rest of the line: it may hold spaces. */
void
cmd_pass(struct pop3_session *s, char *arg)
{
	char *user = s->user_arg;

	if (user == NULL) {
		pop3_error(s, "USER first");
		return;
	}
	s->user_arg = NULL;
	if (pop3_plaintext_check(s))
		pop3_login_start(s, user, arg);
	free(user);
	explicit_bzero(arg, strlen(arg));
}

/* APOP name digest (RFC 1939 7): digest is MD5(timestamp password) in hex. */
void
cmd_apop(struct pop3_session *s, char *arg)
{
	char *sp = strrchr(arg, ' ');

	if (*s->apop_stamp == '\0') {
		pop3_error(s, "APOP not available");
		return;
	}
	if (sp == NULL || sp == arg || strlen(sp + 1) != 32) {
		pop3_error(s, "Syntax: APOP name digest");
		return;
	}
	*sp = '\0';
	free(s->login);
	s->login = xstrdup(arg);
	s->auth_req = auth_digest(s->srv->svc.dir, s->srv->svc.cfg, arg, SASL_APOP,
	    s->apop_stamp, sp + 1, pop3_login_done, s);
}

/* The exchange gave credentials: check them against the directory. */
static void
pop3_auth_check(struct pop3_session *s, const struct sasl_creds *c)
{
	if (*c->authz != '\0') {
		/* A proxy (store.admins) logging in for a user. */
		free(s->login);
		s->login = xasprintf("%s(for %s)", c->authc, c->authz);
		s->auth_req = auth_proxy(s->srv->svc.dir, s->srv->svc.cfg, c->authc,
		    c->pass, c->authz, pop3_login_done, s);
		return;
	}
	pop3_login_start(s, c->authc, c->pass);
}

/* One step of the exchange (RFC 5034 4): the initial response (or NULL),
 * then each continuation line. */
static void
pop3_auth_advance(struct pop3_session *s, const char *b64)
{
	struct sasl_exchange *x;
	const char *challenge;

	switch (sasl_exchange_step(s->sasl, b64, &challenge)) {
	case SASL_NEED_MORE:
		s->io = POP3_IO_SASL;
		pop3_reply(s, "+ %s", challenge);
		break;
	case SASL_GOT_CREDS:
		/* The answer may come at once and the session go on: the
		 * exchange is off the session first. */
		x = s->sasl;
		s->sasl = NULL;
		pop3_auth_check(s, sasl_exchange_creds(x));
		sasl_exchange_free(&x);
		break;
	case SASL_MALFORMED:
		pop3_auth_reset(s);
		pop3_error(s, "Malformed authentication response");
		break;
	}
}

void
pop3_auth_line(struct pop3_session *s, const char *b64)
{
	if (strcmp(b64, "*") == 0) {
		pop3_auth_reset(s);
		pop3_reply(s, "-ERR Authentication cancelled");
		pop3_done(s);
		return;
	}
	pop3_auth_advance(s, b64);
}

/* AUTH alone lists the mechanisms (as many clients expect);
 * AUTH mech [initial-response] starts an exchange. */
void
cmd_auth(struct pop3_session *s, char *arg)
{
	char *ir = strchr(arg, ' ');
	enum sasl_mech mech;

	if (*arg == '\0') {
		pop3_reply(s, "+OK Mechanisms follow");
		if (pop3_plaintext_ok(s))
			evbuffer_add_printf(pop3_out(s), "PLAIN\r\nLOGIN\r\n");
		pop3_reply(s, ".");
		pop3_done(s);
		return;
	}
	if (ir != NULL)
		*ir++ = '\0';
	/* APOP is POP3's digest login; AUTH offers the two that send the
	 * password. */
	mech = sasl_mech_named(arg);
	if (!sasl_mech_sends_password(mech)) {
		pop3_error(s, "Unsupported authentication mechanism");
		return;
	}
	if (!pop3_plaintext_check(s))
		return;
	if ((s->sasl = sasl_exchange_new(mech, "pop", s->srv->svc.cfg->hostname))
	    == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication unavailable");
		pop3_done(s);
		return;
	}
	/* "=" is an empty initial response. */
	pop3_auth_advance(s, ir);
}

/*
 * XCLIENT, as Dovecot's POP3 proxy sends it (Postfix's XCLIENT syntax):
 *
 *   xclient = "XCLIENT" 1*(SP name "=" value)
 *
 * ADDR (an IPv4 or IPv6 address) and PORT (1..65535) name the client a
 * proxy speaks for, in any order; other names, and a PORT that does not
 * parse, are ignored.  Without a valid ADDR the command fails and the
 * origin stays as it was; with one, it replaces an earlier origin.
 */
void
cmd_xclient(struct pop3_session *s, char *arg)
{
	struct net_origin o = { "", "" };
	char origin[NET_ORIGIN_LOG_MAX];
	char *save = NULL;

	for (char *p = strtok_r(arg, " ", &save); p != NULL;
	    p = strtok_r(NULL, " ", &save)) {
		if (strncasecmp(p, "ADDR=", 5) == 0)
			(void)net_addr_canonical(p + 5, o.addr);
		else if (strncasecmp(p, "PORT=", 5) == 0)
			(void)net_port_canonical(p + 5, o.port);
	}
	if (*o.addr == '\0') {
		pop3_error(s, "Invalid XCLIENT");
		return;
	}
	s->origin = o;
	log_info("pop session=%lu peer=%s%s xclient", s->id, s->peer,
	    net_origin_log(&s->origin, origin, sizeof(origin)));
	pop3_reply(s, "+OK");
	pop3_done(s);
}
