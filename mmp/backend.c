/*
 * backend: the mmp's connection to the user's store and its login there.
 *
 *   IMAP   greeting "* OK"; [STARTTLS]; then, pipelined,
 *          M1 ID ("x-originating-ip" ADDR "x-originating-port" PORT)
 *          M2 AUTHENTICATE PLAIN base64(user NUL admin NUL password)
 *   POP3   greeting "+OK"; [STLS]; then, pipelined,
 *          XCLIENT ADDR=ADDR PORT=PORT
 *          AUTH PLAIN base64(user NUL admin NUL password)
 *
 * The administrator is mmp.backend.login, which the stores must list in
 * store.admins; the user is the entry's mail address.  ID and XCLIENT let
 * the store log the real client; their answers are not needed.
 *
 *   store unreachable, slow (mmp.backend.timeout, the TLS handshake
 *   included), not speaking, or its certificate not verifying against
 *   mmp.backend.cafile for the mailHost name:
 *                             temporary, the client may retry; the
 *                             reason in the log
 *   the administrator refused (not in store.admins, or the store wants
 *   TLS first): temporary for the client, an error in the log (the
 *                             configuration is wrong)
 *   the store refuses the user ([IN-USE], [CONTACTADMIN], ...): its own
 *                             words go to the client
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "log.h"
#include "mmp.h"
#include "tls.h"
#include "xmalloc.h"

#define BACK_LINE_MAX 16384

enum {
	BACK_GREETING = 1,
	BACK_STARTTLS,
	BACK_XCLIENT,               /* POP3: the answer to XCLIENT */
	BACK_LOGIN,                 /* the answer to the login */
};

static void back_read(struct bufferevent *bev, void *arg);
static void back_event(struct bufferevent *bev, short what, void *arg);

void
mmp_backend_cancel(struct mmp_session *s)
{
	tls_free(&s->back);
	s->back_step = 0;
}

static void
back_fail(struct mmp_session *s, const char *why)
{
	log_warn("%s session=%lu user=%s mailhost=%s store: %s",
	    mmp_proto_name(s->proto), s->id, s->user, s->mailhost, why);
	mmp_backend_cancel(s);
	mmp_login_backend_done(s, MMP_LOGIN_UNAVAILABLE,
	    "Mailbox server unavailable, try later");
}

/* The origin, then the proxy login, in one write. */
static void
back_send_login(struct mmp_session *s)
{
	const struct mmp_config *cfg = s->srv->cfg;
	size_t ulen = strlen(s->user), alen = strlen(cfg->backend_login);
	size_t plen = strlen(cfg->backend_password), n = ulen + alen + plen + 2;
	char *plain = xmalloc(n), *b64 = xmalloc((n + 2) / 3 * 4 + 1);

	memcpy(plain, s->user, ulen + 1);
	memcpy(plain + ulen + 1, cfg->backend_login, alen + 1);
	memcpy(plain + ulen + alen + 2, cfg->backend_password, plen);
	base64_encode(plain, n, b64);
	struct evbuffer *out = bufferevent_get_output(s->back);
	if (s->proto == MMP_IMAP) {
		evbuffer_add_printf(out, "M1 ID (\"x-originating-ip\" \"%s\" "
		    "\"x-originating-port\" \"%d\")\r\n"
		    "M2 AUTHENTICATE PLAIN %s\r\n", s->peer, s->peer_port, b64);
		s->back_step = BACK_LOGIN;
	} else {
		evbuffer_add_printf(out, "XCLIENT ADDR=%s PORT=%d\r\n"
		    "AUTH PLAIN %s\r\n", s->peer, s->peer_port, b64);
		s->back_step = BACK_XCLIENT;
	}
	explicit_bzero(plain, n);
	explicit_bzero(b64, strlen(b64));
	free(plain);
	free(b64);
}

static void
back_greeting(struct mmp_session *s, const char *line)
{
	bool ok = s->proto == MMP_IMAP ? strncmp(line, "* OK", 4) == 0 :
	    strncmp(line, "+OK", 3) == 0;

	if (!ok) {
		back_fail(s, "no greeting");
		return;
	}
	if (s->srv->backend_tls == NULL) {
		back_send_login(s);
		return;
	}
	evbuffer_add_printf(bufferevent_get_output(s->back), "%s\r\n",
	    s->proto == MMP_IMAP ? "M0 STARTTLS" : "STLS");
	s->back_step = BACK_STARTTLS;
}

static void
back_set_timeouts(struct mmp_session *s)
{
	struct timeval tv = { .tv_sec = s->srv->cfg->backend_timeout };

	bufferevent_set_timeouts(s->back, &tv, &tv);
}

static void
back_starttls(struct mmp_session *s, const char *line)
{
	size_t discarded = 0;
	char *err = NULL;

	if (strncmp(line, s->proto == MMP_IMAP ? "M0 OK" : "+OK",
	    s->proto == MMP_IMAP ? 5 : 3) != 0) {
		back_fail(s, "STARTTLS refused");
		return;
	}
	s->back = tls_client_starttls(s->srv->backend_tls, &s->back, s->mailhost,
	    &discarded, &err);
	if (s->back == NULL) {
		back_fail(s, err ? err : "TLS failed");
		free(err);
		return;
	}
	/* Nothing may follow the go-ahead in plaintext; what did is gone. */
	if (discarded > 0)
		log_warn("%s session=%lu mailhost=%s store: starttls "
		    "discarded=%zu bytes sent before the handshake",
		    mmp_proto_name(s->proto), s->id, s->mailhost, discarded);
	bufferevent_setcb(s->back, back_read, NULL, back_event, s);
	/* The new bufferevent has no timeouts of its own: without these a
	 * store that stalls in the handshake would hold the login for ever. */
	back_set_timeouts(s);
	bufferevent_enable(s->back, EV_READ | EV_WRITE);
	back_send_login(s);
}

/* Why the store refused the administrator (NULL: it did not).  It is the
 * mmp's configuration, never the user's doing: the client hears
 * "unavailable", the log says what to fix. */
static const char *
back_admin_refusal(const struct mmp_session *s, const char *line)
{
	if (strstr(line, "[PRIVACYREQUIRED]") != NULL)
		return "the store wants TLS first: set mmp.backend.starttls";
	if (strstr(line, "[AUTHENTICATIONFAILED]") == NULL &&
	    strstr(line, "[AUTH]") == NULL)
		return NULL;
	/* POP3 has no code for "TLS first": [AUTH] covers both. */
	return s->srv->backend_tls == NULL ? "is it in the store's "
	    "store.admins, or does the store want TLS first "
	    "(mmp.backend.starttls)?" : "is it in the store's store.admins?";
}

/* The store's answer to the login. */
static void
back_login_answer(struct mmp_session *s, const char *line)
{
	bool imap = s->proto == MMP_IMAP;
	const char *text = imap ? line + 3 : line, *why;

	if (imap ? strncmp(line, "M2 OK", 5) == 0 : strncmp(line, "+OK", 3) == 0) {
		s->back_step = 0;
		bufferevent_setcb(s->back, NULL, NULL, NULL, NULL);
		mmp_login_backend_done(s, MMP_LOGIN_OK, text);
		return;
	}
	if ((why = back_admin_refusal(s, line)) != NULL) {
		log_err("%s store at mailhost=%s refused the proxy login of "
		    "%s: %s", mmp_proto_name(s->proto), s->mailhost,
		    s->srv->cfg->backend_login, why);
		back_fail(s, "proxy login refused");
		return;
	}
	if (strstr(line, "[UNAVAILABLE]") != NULL || (imap &&
	    strncmp(line, "M2 NO", 5) != 0)) {
		back_fail(s, line);
		return;
	}
	char *copy = xstrdup(text);
	mmp_backend_cancel(s);
	mmp_login_backend_done(s, MMP_LOGIN_STORE_NO, copy);
	free(copy);
}

/* One line from the store while logging in. */
static void
back_line(struct mmp_session *s, const char *line)
{
	switch (s->back_step) {
	case BACK_GREETING:
		back_greeting(s, line);
		break;
	case BACK_STARTTLS:
		back_starttls(s, line);
		break;
	case BACK_XCLIENT:
		s->back_step = BACK_LOGIN;
		break;
	case BACK_LOGIN:
		/* IMAP: the untagged ID answer and M1's result come first. */
		if (s->proto == MMP_POP || strncmp(line, "M2 ", 3) == 0)
			back_login_answer(s, line);
		break;
	}
}

static void
back_read(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (s->back_step != 0 && s->back == bev &&
	    (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		back_line(s, line);
		free(line);
	}
	if (s->back_step != 0 && s->back == bev &&
	    evbuffer_get_length(in) > BACK_LINE_MAX)
		back_fail(s, "line too long");
}

static void
back_event(struct bufferevent *bev, short what, void *arg)
{
	struct mmp_session *s = arg;
	char why[300], detail[256];

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timed out");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "closed the connection");
	else {
		/* The operator needs the reason: TLS's own (a certificate
		 * that does not verify), else the socket's (refused). */
		tls_error(bev, detail, sizeof(detail));
		snprintf(why, sizeof(why), "connection failed: %s", detail);
	}
	back_fail(s, why);
}

static bool
back_sockaddr(const char *addr, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return true;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return true;
	}
	return false;
}

void
mmp_backend_start(struct mmp_session *s, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!back_sockaddr(addr, port, &ss, &len)) {
		back_fail(s, "not an address");
		return;
	}
	s->back = bufferevent_socket_new(s->srv->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->back, back_read, NULL, back_event, s);
	back_set_timeouts(s);
	s->back_step = BACK_GREETING;
	if (bufferevent_socket_connect(s->back, (struct sockaddr *)&ss,
	    (int)len) != 0) {
		back_fail(s, "connect failed");
		return;
	}
	bufferevent_enable(s->back, EV_READ | EV_WRITE);
}
