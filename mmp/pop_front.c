/*
 * pop_front: the POP3 AUTHORIZATION state, answered by the mmp itself
 * (RFC 1939 4, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): CAPA, NOOP,
 * QUIT, STLS, USER and PASS, AUTH PLAIN or LOGIN (with an initial
 * response).  APOP is not offered: the mmp has no clear secret to check
 * it with.  mmp.maxbadlogins failed logins, or MAX_ERRORS errors, end the
 * session.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mmp.h"
#include "sasl_exchange.h"
#include "xmalloc.h"

#define MAX_ERRORS 10

void
mmp_pop_greet(struct mmp_session *s)
{
	mmp_reply(s, "+OK %s POP3 proxy ready", s->srv->cfg->local.hostname);
}

static void
pop_error(struct mmp_session *s, const char *text)
{
	mmp_reply(s, "-ERR %s", text);
	if (++s->errors < MAX_ERRORS)
		return;
	mmp_close_after_reply(s);
}

static bool
pop_plaintext_check(struct mmp_session *s)
{
	if (mmp_plaintext_ok(s))
		return true;
	mmp_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on "
	    "non-secure connections; use STLS");
	return false;
}

static void
cmd_capa(struct mmp_session *s, char *arg)
{
	(void)arg;
	mmp_reply(s, "+OK Capability list follows");
	mmp_reply(s, "TOP");
	mmp_reply(s, "UIDL");
	mmp_reply(s, "RESP-CODES");
	mmp_reply(s, "AUTH-RESP-CODE");
	mmp_reply(s, "PIPELINING");
	if (mmp_plaintext_ok(s)) {
		mmp_reply(s, "USER");
		mmp_reply(s, "SASL PLAIN LOGIN");
	}
	if (s->srv->tls != NULL && !s->tls)
		mmp_reply(s, "STLS");
	mmp_reply(s, ".");
}

static void
cmd_noop(struct mmp_session *s, char *arg)
{
	(void)arg;
	mmp_reply(s, "+OK");
}

static void
cmd_quit(struct mmp_session *s, char *arg)
{
	(void)arg;
	mmp_reply(s, "+OK Bye");
	mmp_close_after_reply(s);
}

static void
cmd_stls(struct mmp_session *s, char *arg)
{
	(void)arg;
	if (s->srv->tls == NULL || s->tls) {
		pop_error(s, s->tls ? "TLS already active" : "STLS not available");
		return;
	}
	mmp_reply(s, "+OK Begin TLS negotiation");
	mmp_session_starttls(s);
}

static void
cmd_user(struct mmp_session *s, char *arg)
{
	if (*arg == '\0') {
		pop_error(s, "Syntax: USER name");
		return;
	}
	if (!pop_plaintext_check(s))
		return;
	free(s->pop_user);
	s->pop_user = xstrdup(arg);
	mmp_reply(s, "+OK Send PASS");
}

/* The password is the rest of the line: it may hold spaces. */
static void
cmd_pass(struct mmp_session *s, char *arg)
{
	char *user = s->pop_user;

	if (user == NULL) {
		pop_error(s, "USER first");
		return;
	}
	s->pop_user = NULL;
	if (pop_plaintext_check(s))
		mmp_login_start(s, user, arg);
	free(user);
	explicit_bzero(arg, strlen(arg));
}

static void
pop_auth_advance(struct mmp_session *s, const char *b64)
{
	const char *challenge;

	switch (mmp_sasl_step(s, b64, &challenge)) {
	case MMP_SASL_CHALLENGE:
		mmp_reply(s, "+ %s", challenge);
		break;
	case MMP_SASL_MALFORMED:
		pop_error(s, "Malformed authentication response");
		break;
	case MMP_SASL_AUTHZ:
		mmp_reply(s, "-ERR [AUTH] Acting for another user is not "
		    "allowed here");
		break;
	case MMP_SASL_LOGIN:
		break;
	}
}

static void
cmd_auth(struct mmp_session *s, char *arg)
{
	char *ir = strchr(arg, ' ');
	enum sasl_mech mech;

	if (*arg == '\0') {
		mmp_reply(s, "+OK Mechanisms follow");
		if (mmp_plaintext_ok(s)) {
			mmp_reply(s, "PLAIN");
			mmp_reply(s, "LOGIN");
		}
		mmp_reply(s, ".");
		return;
	}
	if (ir != NULL)
		*ir++ = '\0';
	mech = sasl_mech_named(arg);
	if (!sasl_mech_sends_password(mech)) {
		pop_error(s, "Unsupported authentication mechanism");
		return;
	}
	if (!pop_plaintext_check(s))
		return;
	if ((s->sasl = sasl_exchange_new(mech, "pop",
	    s->srv->cfg->local.hostname)) == NULL) {
		mmp_reply(s, "-ERR [SYS/TEMP] Authentication unavailable");
		return;
	}
	pop_auth_advance(s, ir);
}

static const struct {
	const char *name;
	void (*fn)(struct mmp_session *, char *);
} pop_commands[] = {
	{ "CAPA", cmd_capa },
	{ "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
	{ "STLS", cmd_stls },
	{ "USER", cmd_user },
	{ "PASS", cmd_pass },
	{ "AUTH", cmd_auth },
};

/* One line before login; NULL when the line was over mmp.maxlinelength
 * (session.c skipped it): a protocol error like any other. */
void
mmp_pop_line(struct mmp_session *s, char *line)
{
	char *arg;

	if (line == NULL) {
		pop_error(s, "Line too long");
		return;
	}
	if (s->sasl != NULL) {
		if (strcmp(line, "*") == 0) {
			sasl_exchange_free(&s->sasl);
			pop_error(s, "Authentication cancelled");
		} else {
			pop_auth_advance(s, line);
		}
		return;
	}
	arg = strchr(line, ' ');
	if (arg != NULL)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	for (size_t i = 0; i < sizeof(pop_commands) / sizeof(pop_commands[0]); i++) {
		if (strcasecmp(line, pop_commands[i].name) == 0) {
			pop_commands[i].fn(s, arg);
			return;
		}
	}
	pop_error(s, "Command unknown or not valid before login");
}

void
mmp_pop_login_done(struct mmp_session *s, enum mmp_login_result r,
    const char *text)
{
	switch (r) {
	case MMP_LOGIN_OK:
		mmp_reply(s, "%s", text);
		mmp_relay_start(s);
		return;
	case MMP_LOGIN_FAILED:
		mmp_reply(s, "-ERR [AUTH] Authentication failed");
		if (++s->bad_logins >= s->srv->cfg->max_bad_logins) {
			mmp_close_after_reply(s);
			return;
		}
		break;
	case MMP_LOGIN_REFUSED:
		mmp_reply(s, "-ERR [SYS/PERM] Login refused");
		break;
	case MMP_LOGIN_UNAVAILABLE:
		mmp_reply(s, "-ERR [SYS/TEMP] %s", text);
		break;
	case MMP_LOGIN_STORE_NO:
		mmp_reply(s, "%s", text);
		break;
	}
	mmp_session_resume(s);
}
