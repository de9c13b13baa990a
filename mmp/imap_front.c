/*
 * imap_front: the IMAP commands the mmp answers itself, before login
 * (RFC 3501 6.1, 6.2): CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN and
 * AUTHENTICATE PLAIN or LOGIN (with SASL-IR, RFC 4959).  Anything else
 * before login is BAD; mmp.maxbadlogins failed logins, or MAX_ERRORS
 * protocol errors, end the session.
 *
 * Commands are read whole, literals included ({n} and LITERAL+'s {n+}),
 * within mmp.maxlinelength bytes: a synchronising literal over that is
 * refused before its bytes come, a non-synchronising one ends the session
 * (its bytes are already on the way).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_parse.h"
#include "log.h"
#include "mmp.h"
#include "sasl_exchange.h"
#include "xmalloc.h"

#define MAX_ERRORS 20

static const char *
imap_caps(const struct mmp_session *s)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s%s", s->srv->cfg->capability,
	    s->srv->tls != NULL && !s->tls ? " STARTTLS" : "",
	    mmp_plaintext_ok(s) ? " AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED");
	return buf;
}

void
mmp_imap_greet(struct mmp_session *s)
{
	mmp_reply(s, "* OK [CAPABILITY %s] %s IMAP4rev1 proxy ready",
	    imap_caps(s), s->srv->cfg->local.hostname);
}

static void
imap_tagged(struct mmp_session *s, const char *text)
{
	mmp_reply(s, "%s %s", s->tag, text);
}

/* A protocol error; too many end the session.  false: it ended. */
static bool
imap_error(struct mmp_session *s, const char *tagged_text)
{
	if (*s->tag != '\0')
		mmp_reply(s, "%s BAD %s", s->tag, tagged_text);
	else
		mmp_reply(s, "* BAD %s", tagged_text);
	if (++s->errors < MAX_ERRORS)
		return true;
	mmp_reply(s, "* BYE Too many errors");
	mmp_close_after_reply(s);
	return false;
}

/* ---- reading one command ---- */

/* tag = 1*<any ASTRING-CHAR except "+">, followed by SP: from the start
 * of text (len bytes) into s->tag; false (and no tag) when there is none. */
static bool
imap_take_tag(struct mmp_session *s, const char *text, size_t len)
{
	const char *sp = memchr(text, ' ', len);
	size_t taglen = sp ? (size_t)(sp - text) : 0;

	*s->tag = '\0';
	for (size_t i = 0; i < taglen; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c <= ' ' || c >= 127 || strchr("+(){%*\"\\]", c) != NULL)
			return false;
	}
	if (taglen == 0 || taglen >= sizeof(s->tag))
		return false;
	memcpy(s->tag, text, taglen);
	s->tag[taglen] = '\0';
	return true;
}

static void
imap_command_reset(struct mmp_session *s)
{
	s->cmdlen = 0;
	s->literal_left = 0;
}

/* Literal bytes into the command; true once all have come. */
static bool
imap_take_literal(struct mmp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);

	if (n > s->literal_left)
		n = s->literal_left;
	evbuffer_remove(in, s->cmd + s->cmdlen, n);
	s->cmdlen += n;
	s->literal_left -= n;
	return s->literal_left == 0;
}

/* The line announced a literal of n bytes; false when the session must
 * stop reading (it ended). */
static bool
imap_literal_begin(struct mmp_session *s, unsigned long long n, bool sync)
{
	size_t cap = (size_t)s->srv->cfg->max_line;

	if (n > cap || s->cmdlen + 2 + n > cap) {
		if (!sync) {
			imap_command_reset(s);
			mmp_reply(s, "* BYE [TOOBIG] Literal too large");
			mmp_close_after_reply(s);
			return false;
		}
		/* The client waits for "+" or for the end of its command:
		 * only a tagged answer tells it the command is over. */
		imap_take_tag(s, s->cmd, s->cmdlen);
		imap_command_reset(s);
		return imap_error(s, "[TOOBIG] Literal too large");
	}
	memcpy(s->cmd + s->cmdlen, "\r\n", 2);
	s->cmdlen += 2;
	s->literal_left = (size_t)n;
	if (sync)
		mmp_reply(s, "+ Ready for literal data");
	return true;
}

/* One line, read in place at the command's end; true when the command
 * is complete.  Room for the CRLF before a literal is checked when one
 * is announced: a final line may fill the command up to the cap. */
static bool
imap_take_line(struct mmp_session *s, size_t len, bool *stop)
{
	const char *line = s->cmd + s->cmdlen;
	unsigned long long n;
	bool sync;

	s->cmdlen += len;
	if (imap_line_literal(line, len, &n, &sync)) {
		*stop = !imap_literal_begin(s, n, sync);
		return false;
	}
	s->cmd[s->cmdlen] = '\0';
	return true;
}

bool
mmp_imap_read_command(struct mmp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	bool stop = false;
	size_t len;

	while (!stop && s->state == MMP_PREAUTH) {
		if (s->literal_left > 0 && !imap_take_literal(s))
			return false;
		/* The rest of the command's room is the line's cap. */
		switch (net_readline(&s->line, in, s->cmd + s->cmdlen,
		    (size_t)s->srv->cfg->max_line - s->cmdlen, &len)) {
		case NET_LINE_MORE:
			return false;
		case NET_LINE_TOOLONG:
			imap_command_reset(s);
			*s->tag = '\0';
			stop = !imap_error(s, "[TOOBIG] Line too long");
			break;
		case NET_LINE_OK:
			if (imap_take_line(s, len, &stop))
				return true;
			break;
		}
	}
	return false;
}

/* ---- the commands ---- */

static void
cmd_capability(struct mmp_session *s, struct imap_arg *args)
{
	(void)args;
	mmp_reply(s, "* CAPABILITY %s", imap_caps(s));
	imap_tagged(s, "OK CAPABILITY completed");
}

static void
cmd_noop(struct mmp_session *s, struct imap_arg *args)
{
	(void)args;
	imap_tagged(s, "OK NOOP completed");
}

static void
cmd_logout(struct mmp_session *s, struct imap_arg *args)
{
	(void)args;
	mmp_reply(s, "* BYE Logging out");
	imap_tagged(s, "OK LOGOUT completed");
	mmp_close_after_reply(s);
}

/* ID (RFC 2971): ours; what the client says goes to the store with the
 * login, where it is logged. */
static void
cmd_id(struct mmp_session *s, struct imap_arg *args)
{
	(void)args;
	mmp_reply(s, "* ID (\"name\" \"mailsuite mmp\" \"version\" \"0.1\")");
	imap_tagged(s, "OK ID completed");
}

static void
cmd_starttls(struct mmp_session *s, struct imap_arg *args)
{
	(void)args;
	if (s->srv->tls == NULL || s->tls) {
		imap_error(s, s->tls ? "TLS already active" : "STARTTLS not available");
		return;
	}
	imap_tagged(s, "OK Begin TLS negotiation now");
	mmp_session_starttls(s);
}

static void
cmd_login(struct mmp_session *s, struct imap_arg *args)
{
	const char *user, *pass;

	if (!imap_arg_astring(&args[0], &user) ||
	    !imap_arg_astring(&args[1], &pass) || args[2].type != IMAP_ARG_END) {
		imap_error(s, "Syntax: LOGIN user password");
		return;
	}
	if (!mmp_plaintext_ok(s)) {
		imap_tagged(s, "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	mmp_login_start(s, user, pass);
}

/* A step of AUTHENTICATE: the initial response (or NULL), then each
 * continuation line. */
static void
imap_auth_advance(struct mmp_session *s, const char *b64)
{
	const char *challenge;

	switch (mmp_sasl_step(s, b64, &challenge)) {
	case MMP_SASL_CHALLENGE:
		mmp_reply(s, "+ %s", challenge);
		break;
	case MMP_SASL_MALFORMED:
		imap_error(s, "Malformed authentication response");
		break;
	case MMP_SASL_AUTHZ:
		imap_tagged(s, "NO [AUTHORIZATIONFAILED] Acting for another "
		    "user is not allowed here");
		break;
	case MMP_SASL_LOGIN:
		break;
	}
}

static void
cmd_authenticate(struct mmp_session *s, struct imap_arg *args)
{
	const char *name;
	enum sasl_mech mech;

	if (!imap_arg_astring(&args[0], &name) || (args[1].type != IMAP_ARG_END &&
	    (args[1].type != IMAP_ARG_ATOM || args[2].type != IMAP_ARG_END))) {
		imap_error(s, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	mech = sasl_mech_named(name);
	if (!sasl_mech_sends_password(mech)) {
		imap_tagged(s, "NO Unsupported authentication mechanism");
		return;
	}
	if (!mmp_plaintext_ok(s)) {
		imap_tagged(s, "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if ((s->sasl = sasl_exchange_new(mech, "imap",
	    s->srv->cfg->local.hostname)) == NULL) {
		imap_tagged(s, "NO [UNAVAILABLE] Authentication unavailable");
		return;
	}
	imap_auth_advance(s, args[1].type == IMAP_ARG_ATOM ? args[1].str : NULL);
}

static const struct {
	const char *name;
	void (*fn)(struct mmp_session *, struct imap_arg *);
} imap_commands[] = {
	{ "CAPABILITY", cmd_capability },
	{ "NOOP", cmd_noop },
	{ "LOGOUT", cmd_logout },
	{ "ID", cmd_id },
	{ "STARTTLS", cmd_starttls },
	{ "LOGIN", cmd_login },
	{ "AUTHENTICATE", cmd_authenticate },
};

/* "tag SP command [SP args]": the tag into s->tag, the rest split. */
static bool
imap_split(struct mmp_session *s, char **cmd, char **rest)
{
	char *sp;

	if (!imap_take_tag(s, s->cmd, strlen(s->cmd)))
		return false;
	sp = strchr(s->cmd, ' ');
	*cmd = sp + 1;
	*rest = strchr(*cmd, ' ');
	if (*rest != NULL)
		*(*rest)++ = '\0';
	return **cmd != '\0';
}

static void
imap_dispatch(struct mmp_session *s, const char *name, char *rest,
    size_t restlen)
{
	struct imap_args args;
	const char *err;

	for (size_t i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]); i++) {
		if (strcasecmp(name, imap_commands[i].name) != 0)
			continue;
		if ((err = imap_parse_args(rest, restlen, NULL, &args)) != NULL) {
			imap_error(s, err);
			return;
		}
		imap_commands[i].fn(s, args.top);
		imap_args_free(&args);
		return;
	}
	imap_error(s, "Command unknown or not valid before login");
}

void
mmp_imap_input(struct mmp_session *s)
{
	size_t len = s->cmdlen;
	char *name, *rest;

	imap_command_reset(s);
	if (s->sasl != NULL) {
		if (strcmp(s->cmd, "*") == 0) {
			sasl_exchange_free(&s->sasl);
			imap_error(s, "Authentication cancelled");
		} else {
			imap_auth_advance(s, s->cmd);
		}
		return;
	}
	if (!imap_split(s, &name, &rest)) {
		imap_error(s, "Missing or bad tag");
		return;
	}
	if (rest == NULL)
		rest = s->cmd + len;        /* the NUL at the end: no args */
	imap_dispatch(s, name, rest, len - (size_t)(rest - s->cmd));
}

void
mmp_imap_login_done(struct mmp_session *s, enum mmp_login_result r,
    const char *text)
{
	switch (r) {
	case MMP_LOGIN_OK:
		mmp_reply(s, "%s %s", s->tag, text);
		mmp_relay_start(s);
		return;
	case MMP_LOGIN_FAILED:
		imap_tagged(s, "NO [AUTHENTICATIONFAILED] Authentication failed");
		if (++s->bad_logins >= s->srv->cfg->max_bad_logins) {
			mmp_reply(s, "* BYE Too many failed logins");
			mmp_close_after_reply(s);
			return;
		}
		break;
	case MMP_LOGIN_REFUSED:
		imap_tagged(s, "NO [CONTACTADMIN] Login refused");
		break;
	case MMP_LOGIN_UNAVAILABLE:
		mmp_reply(s, "%s NO [UNAVAILABLE] %s", s->tag, text);
		break;
	case MMP_LOGIN_STORE_NO:
		mmp_reply(s, "%s %s", s->tag, text);
		break;
	}
	mmp_session_resume(s);
}
