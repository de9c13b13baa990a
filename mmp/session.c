/*
 * session: a client connection of the mmp from accept to close.
 *
 *   accept        mmp.maxsessions, mmp.deny/mmp.allow, then (from the
 *                 balancers of mmp.proxyprotocolfrom) the PROXY header,
 *                 then mmp.maxsessionsperclient on the real address
 *   before login  lines of at most mmp.maxlinelength (IMAP: literals
 *                 included), handed to the front end, read only while
 *                 the answers go out; idle for mmp.preauthtimeout: BYE;
 *                 the client's end of input: what it sent is answered,
 *                 then close
 *   login         nothing is read: what the client pipelined after its
 *                 login waits, and goes to the store once relaying
 *   relay         relay.c, with mmp.{imap,pop}.idletimeout
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "countmap.h"
#include "dir.h"
#include "dns.h"
#include "listen.h"
#include "log.h"
#include "mmp.h"
#include "proxy_proto.h"
#include "sasl_exchange.h"
#include "tls.h"
#include "xmalloc.h"

static void session_read(struct bufferevent *bev, void *arg);
static void session_write(struct bufferevent *bev, void *arg);
static void session_event(struct bufferevent *bev, short what, void *arg);

const char *
mmp_proto_name(enum mmp_proto p)
{
	return p == MMP_IMAP ? "imap" : "pop";
}

void
mmp_reply(struct mmp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	net_vline(out, fmt, ap);
	va_end(ap);
}

bool
mmp_plaintext_ok(const struct mmp_session *s)
{
	int min = s->srv->cfg->plaintext_min_cipher;

	return min == 0 || (s->tls && tls_cipher_at_least(s->bev, min));
}

/* Before login, the client is read only while its answers go out:
 * commands wait in the socket, not in our memory, when the client sends
 * and does not read (the loop below stops at a full output).  Two lines'
 * worth is enough for net_readline to finish or skip any line.  The cap
 * stays harmlessly in relay, which moves all input at each read. */
static void
session_set_watermarks(struct mmp_session *s)
{
	bufferevent_setwatermark(s->bev, EV_WRITE, NET_OUTPUT_HIGHWATER / 2, 0);
	bufferevent_setwatermark(s->bev, EV_READ, 0,
	    2 * ((size_t)s->srv->cfg->max_line + 2));
}

static void
session_set_timeout(struct mmp_session *s, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* Before login, IMAP reads whole commands (lines and literals) into
 * s->cmd, POP3 lines into s->linebuf, within mmp.maxlinelength.  Made at
 * the first input, so that a connection that never speaks costs little;
 * freed when relaying starts. */
static void
session_alloc_buffer(struct mmp_session *s)
{
	size_t cap = (size_t)s->srv->cfg->max_line;

	if (s->proto == MMP_IMAP && s->cmd == NULL)
		s->cmd = xmalloc(cap + 3);
	else if (s->proto == MMP_POP && s->linebuf == NULL)
		s->linebuf = xmalloc(cap + 1);
}

static void
session_link(struct mmp_server *srv, struct mmp_session *s)
{
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	countmap_add(&srv->peer_counts, s->peer, 1);
}

/* A connection that passed the checks: its session starts. */
static void
session_begin(struct mmp_server *srv, const struct mmp_accept *acc,
    const struct mmp_peer *p)
{
	struct mmp_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->id = ++srv->next_id;
	s->proto = acc->proto;
	s->tls = acc->tls;
	memcpy(s->peer, p->addr, sizeof(s->peer));
	s->peer_port = p->port;
	s->peer_sa = p->sa;
	s->bev = acc->tls ? tls_server_accept(srv->tls, srv->base, p->fd) :
	    bufferevent_socket_new(srv->base, p->fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, session_read, session_write, session_event, s);
	session_set_watermarks(s);
	session_set_timeout(s, srv->cfg->preauth_timeout);
	session_link(srv, s);
	srv->stats.accepted++;
	log_info("%s session=%lu peer=%s port=%d connected%s",
	    mmp_proto_name(s->proto), s->id, s->peer, s->peer_port,
	    s->tls ? " tls" : "");
	if (s->proto == MMP_IMAP)
		mmp_imap_greet(s);
	else
		mmp_pop_greet(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* Refuse before any session exists: a plain connection hears why. */
static void
refuse(const struct mmp_accept *acc, int fd, const char *why)
{
	char line[160];

	if (!acc->tls) {
		snprintf(line, sizeof(line), acc->proto == MMP_IMAP ?
		    "* BYE %s\r\n" : "-ERR [SYS/TEMP] %s\r\n", why);
		(void)!send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	close(fd);
}

/* The real client is known (from the socket or a PROXY header). */
void
mmp_session_admit(struct mmp_server *srv, const struct mmp_accept *acc,
    struct mmp_peer *p)
{
	const struct sockaddr *sa = (const struct sockaddr *)&p->sa;

	if (cidr_list_match(srv->deny, srv->ndeny, sa) ||
	    (srv->nallow > 0 && !cidr_list_match(srv->allow, srv->nallow, sa))) {
		log_info("%s peer=%s refused: access rules",
		    mmp_proto_name(acc->proto), p->addr);
		srv->stats.refused++;
		refuse(acc, p->fd, "Access denied");
		return;
	}
	if (countmap_get(&srv->peer_counts, p->addr) >= srv->cfg->max_per_client) {
		log_info("%s peer=%s refused: too many sessions from it",
		    mmp_proto_name(acc->proto), p->addr);
		srv->stats.refused++;
		refuse(acc, p->fd, "Too many connections from your address");
		return;
	}
	session_begin(srv, acc, p);
}

void
mmp_on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct mmp_accept *acc = arg;
	struct mmp_server *srv = acc->srv;
	struct mmp_peer p = { .fd = fd };

	if (srv->draining || srv->nsessions + srv->npending >=
	    srv->cfg->max_sessions) {
		srv->stats.refused++;
		refuse(acc, fd, "Too many connections, try later");
		return;
	}
	memcpy(&p.sa, sa, salen < sizeof(p.sa) ? salen : sizeof(p.sa));
	mmp_peer_describe(&p);
	if (cidr_list_match(srv->proxy_from, srv->nproxy_from, sa)) {
		mmp_proxy_header_wait(srv, acc, &p);
		return;
	}
	mmp_session_admit(srv, acc, &p);
}

void
mmp_session_free(struct mmp_session *s)
{
	struct mmp_server *srv = s->srv;

	mmp_login_cancel(s);
	tls_free(&s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->nsessions--;
	countmap_add(&srv->peer_counts, s->peer, -1);
	log_info("%s session=%lu peer=%s closed", mmp_proto_name(s->proto),
	    s->id, s->peer);
	free(s->linebuf);
	free(s->cmd);
	free(s->pop_user);
	free(s);
}

void
mmp_close_after_reply(struct mmp_session *s)
{
	s->state = MMP_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		mmp_session_free(s);
}

void
mmp_session_starttls(struct mmp_session *s)
{
	s->starttls = true;
	bufferevent_disable(s->bev, EV_READ);
}

/* The go-ahead is out: the same socket speaks TLS from now on. */
static void
session_switch_tls(struct mmp_session *s)
{
	s->starttls = false;
	if (!listen_starttls(s->srv->tls, &s->bev, mmp_proto_name(s->proto),
	    s->id, s->peer)) {
		mmp_session_free(s);
		return;
	}
	s->tls = true;
	bufferevent_setcb(s->bev, session_read, session_write, session_event, s);
	session_set_watermarks(s);
	session_set_timeout(s, s->srv->cfg->preauth_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static bool
session_output_full(const struct mmp_session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev)) >
	    NET_OUTPUT_HIGHWATER;
}

/* Lines before login, while the session stays there. */
static void
session_read_lines(struct mmp_session *s)
{
	session_alloc_buffer(s);
	while (s->state == MMP_PREAUTH && !s->starttls && !session_output_full(s)) {
		if (s->proto == MMP_IMAP) {
			if (!mmp_imap_read_command(s))
				return;
			mmp_imap_input(s);
			continue;
		}
		struct evbuffer *in = bufferevent_get_input(s->bev);
		size_t len;
		enum net_line_status st = net_readline(&s->line, in, s->linebuf,
		    (size_t)s->srv->cfg->max_line, &len);
		if (st == NET_LINE_MORE)
			return;
		/* NULL: the line was too long (an error that counts). */
		mmp_pop_line(s, st == NET_LINE_TOOLONG ? NULL : s->linebuf);
	}
}

/* The client has shut down its side, before login: once what it sent
 * is answered, the session ends. */
static bool
session_input_ended(const struct mmp_session *s)
{
	return s->peer_eof && s->state == MMP_PREAUTH && !s->starttls;
}

/* May free s (a client that has finished). */
void
mmp_session_resume(struct mmp_session *s)
{
	if (s->reading || s->state != MMP_PREAUTH)
		return;
	s->reading = true;
	session_read_lines(s);
	s->reading = false;
	/* All it sent before its end is answered (or waits for the output
	 * to drain: session_write comes back here). */
	if (session_input_ended(s) && !session_output_full(s))
		mmp_close_after_reply(s);
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;

	(void)bev;
	if (s->state == MMP_CLOSING) {
		evbuffer_drain(bufferevent_get_input(s->bev), (size_t)-1);
		return;
	}
	mmp_session_resume(s);
}

static void
session_write(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;
	bool empty = evbuffer_get_length(bufferevent_get_output(bev)) == 0;

	if (s->state == MMP_CLOSING) {
		if (empty)
			mmp_session_free(s);
		return;
	}
	if (s->starttls && empty) {
		session_switch_tls(s);
		return;
	}
	mmp_session_resume(s);
}

/* The client shut down its side (nc -N, scripts): what it sent is still
 * answered, in order, then the session ends (mmp_session_resume).  A TLS
 * switch can no longer happen. */
static void
session_peer_eof(struct mmp_session *s)
{
	s->peer_eof = true;
	if (s->starttls)
		mmp_close_after_reply(s);
	else
		mmp_session_resume(s);
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct mmp_session *s = arg;

	switch (listen_event(mmp_proto_name(s->proto), bev, what, s->tls,
	    s->id, s->peer)) {
	case LISTEN_EV_NONE:
		return;
	case LISTEN_EV_IDLE:
		if (s->state == MMP_CLOSING) {
			mmp_session_free(s);
			return;
		}
		mmp_reply(s, s->proto == MMP_IMAP ?
		    "* BYE Autologout; idle for too long" :
		    "-ERR Idle for too long, closing");
		mmp_close_after_reply(s);
		return;
	case LISTEN_EV_EOF:
		session_peer_eof(s);
		return;
	case LISTEN_EV_GONE:
		mmp_session_free(s);
		return;
	}
}

/* ---- draining ---- */

void
mmp_drain(struct mmp_server *srv)
{
	struct mmp_session *s, *next;

	srv->draining = true;
	listen_disable_all(srv->listeners, srv->nlisteners);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == MMP_RELAY || s->state == MMP_CLOSING)
			continue;
		/* A login in flight must not bring the session back. */
		mmp_login_cancel(s);
		mmp_reply(s, s->proto == MMP_IMAP ? "* BYE Server shutting down" :
		    "-ERR [SYS/TEMP] Server shutting down");
		mmp_close_after_reply(s);
	}
}
