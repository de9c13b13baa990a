/*
 * smtp_session: the mta's SMTP listeners and sessions (RFC 5321).
 *
 * Each session is a bufferevent on the loop thread.  Input is processed
 * strictly in order: while a command waits (the directory, a delay from
 * an access table, AUTH, the queue's commit) pipelined input stays in the
 * buffer, bounded by the read watermark, so replies keep command order.
 * Limits: sessions in all and per client address (421 at connect), the
 * command line (500 5.5.2), protocol errors (421 and close), idle time
 * (421, RFC 5321 4.5.3.2's five minutes by default).
 *
 * A session's source channel is its listener's (service.smtp.channel,
 * service.submit.channel); an INTERNAL_IP client of a channel with
 * `switchchannel` moves to tcp_intranet, and AUTH moves it on to the
 * channel's `saslswitchchannel`.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir.h"
#include "dns.h"
#include "listen.h"
#include "log.h"
#include "smtp.h"
#include "tls.h"
#include "xmalloc.h"

#define SMTP_INPUT_HIGHWATER (256 * 1024)
#define SMTP_INTRANET_CHANNEL "tcp_intranet"

struct mta_stats mta_stats;

static void smtp_process(struct smtp_session *s);
static void smtp_set_callbacks(struct smtp_session *s);
static void smtp_pick_channel(struct smtp_session *s, const char *channel);

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	net_vline(out, fmt, ap);
	va_end(ap);
}

static void
smtp_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;

	smtp_reset(s);
	smtp_auth_cancel(s);
	if (s->commit != NULL)
		s->commit->s = NULL;    /* the queue's callback frees it */
	if (s->delay_ev != NULL)
		event_free(s->delay_ev);
	if (s->close_ev != NULL)
		event_free(s->close_ev);
	free(s->delayed_reply);
	free(s->refusal_text);
	tls_free(&s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->nsessions--;
	log_debug("smtp session=%lu closed", s->id);
	mta_config_unref(&s->cfg);
	free(s->auth_user);
	free(s->port_probe);
	free(s->linebuf);
	free(s);
}

static void
smtp_on_close(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	smtp_free(arg);
}

/* Whatever was waiting stops: a late answer must not revive a session
 * that said goodbye. */
void
smtp_close(struct smtp_session *s)
{
	route_cancel(&s->route);
	dns_cancel(&s->dns_req);
	smtp_auth_cancel(s);
	if (s->delay_ev != NULL)
		evtimer_del(s->delay_ev);
	s->state = SMTP_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;                 /* smtp_on_write frees it */
	if (s->close_ev == NULL)
		s->close_ev = event_new(s->srv->base, -1, 0, smtp_on_close, s);
	event_active(s->close_ev, EV_TIMEOUT, 0);
}

bool
smtp_error(struct smtp_session *s)
{
	if (++s->errors <= s->cfg->max_errors)
		return true;
	smtp_reply(s, "421 4.7.0 %s Too many errors, closing connection",
	    s->cfg->local.hostname);
	log_info("smtp session=%lu peer=%s closed: too many errors", s->id,
	    s->peer);
	smtp_close(s);
	return false;
}

static void
smtp_start_tls(struct smtp_session *s)
{
	s->starttls = false;
	if (!listen_starttls(s->srv->tls, &s->bev, "smtp", s->id, s->peer)) {
		s->bev = NULL;
		smtp_free(s);
		return;
	}
	s->tls = true;
	/* RFC 3207 4.2: everything known before the handshake is forgotten,
	 * what the client earned in plaintext too. */
	s->helo[0] = '\0';
	s->esmtp = false;
	free(s->auth_user);
	s->auth_user = NULL;
	smtp_pick_channel(s, s->listener_channel);
	memset(&s->line, 0, sizeof(s->line));
	smtp_set_callbacks(s);
	bufferevent_enable(s->bev, EV_READ);
	s->state = SMTP_COMMAND;
}

static void
smtp_on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (s->state == SMTP_CLOSING)
		smtp_free(s);
	else if (s->starttls)
		smtp_start_tls(s);
	else if (s->out_paused) {
		s->out_paused = false;
		smtp_process(s);
	}
}

static void
smtp_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	enum listen_event ev = listen_event("smtp", bev, what, s->tls, s->id,
	    s->peer);

	if (ev == LISTEN_EV_NONE)
		return;
	if (ev == LISTEN_EV_IDLE && s->state != SMTP_CLOSING) {
		smtp_reply(s, "421 4.4.2 %s Idle timeout, closing connection",
		    s->cfg->local.hostname);
		log_info("smtp session=%lu peer=%s idle timeout", s->id, s->peer);
		smtp_close(s);
		return;
	}
	if (ev == LISTEN_EV_EOF && s->state != SMTP_CLOSING) {
		s->peer_eof = true;
		smtp_process(s);
		return;
	}
	smtp_free(s);
}

/* Read command lines until one needs to wait. */
static void
smtp_read_commands(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len;

	while (s->state == SMTP_COMMAND || s->state == SMTP_AUTH) {
		if (s->starttls)
			return;         /* the rest is read over TLS */
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    NET_OUTPUT_HIGHWATER) {
			s->out_paused = true;   /* smtp_on_write resumes */
			return;
		}
		bool auth = s->state == SMTP_AUTH;
		switch (net_readline(&s->line, in, s->linebuf,
		    auth ? SMTP_AUTH_LINE_MAX : (size_t)s->line_cap, &len)) {
		case NET_LINE_MORE:
			return;
		case NET_LINE_TOOLONG:
			smtp_reply(s, "500 %s Line too long (limit %d)",
			    auth ? "5.5.6" : "5.5.2",
			    auth ? SMTP_AUTH_LINE_MAX : s->line_cap);
			if (auth)
				smtp_auth_cancel(s);
			if (!smtp_error(s))
				return;
			break;
		case NET_LINE_OK:
			if (s->state == SMTP_AUTH)
				smtp_auth_input(s, s->linebuf);
			else
				smtp_command(s, s->linebuf);
			break;
		}
	}
}

static void
smtp_process_input(struct smtp_session *s)
{
	for (;;) {
		enum smtp_state before = s->state;
		switch (s->state) {
		case SMTP_COMMAND:
		case SMTP_AUTH:
			smtp_read_commands(s);
			break;
		case SMTP_DATA:
			smtp_data_input(s);
			break;
		case SMTP_BDAT:
			smtp_bdat_input(s);
			break;
		default:
			return;
		}
		if (s->state == before)
			return;     /* waiting for more input */
	}
}

static void
smtp_process(struct smtp_session *s)
{
	smtp_process_input(s);
	if (s->state == SMTP_CLOSING)
		return;
	/* After the client's EOF, needing more input means everything it
	 * sent is answered. */
	if (s->peer_eof && !s->out_paused && !s->starttls &&
	    (s->state == SMTP_COMMAND || s->state == SMTP_AUTH ||
	     s->state == SMTP_DATA || s->state == SMTP_BDAT))
		smtp_close(s);
}

static void
smtp_on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	smtp_process(arg);
}

static void
smtp_set_callbacks(struct smtp_session *s)
{
	struct timeval idle = { .tv_sec = s->cfg->idle_timeout };

	bufferevent_setcb(s->bev, smtp_on_read, smtp_on_write, smtp_on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGHWATER);
	bufferevent_set_timeouts(s->bev, &idle, &idle);
}

/* Between transactions a draining server says goodbye. */
static bool
smtp_drained(struct smtp_session *s)
{
	if (!s->srv->draining || s->has_mail || s->state != SMTP_COMMAND)
		return false;
	smtp_reply(s, "421 4.3.2 %s Shutting down", s->cfg->local.hostname);
	smtp_close(s);
	return true;
}

void
smtp_resume(struct smtp_session *s)
{
	if (s->state == SMTP_CLOSING || smtp_drained(s))
		return;
	smtp_process(s);
}

static void
smtp_on_delay(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	smtp_reply(s, "%s", s->delayed_reply);
	free(s->delayed_reply);
	s->delayed_reply = NULL;
	s->state = SMTP_COMMAND;
	smtp_resume(s);
}

void
smtp_reply_later(struct smtp_session *s, long delay, const char *reply)
{
	struct timeval tv = { delay / 100, (delay % 100) * 10000 };

	if (delay <= 0) {
		smtp_reply(s, "%s", reply);
		return;
	}
	if (s->delay_ev == NULL)
		s->delay_ev = evtimer_new(s->srv->base, smtp_on_delay, s);
	free(s->delayed_reply);
	s->delayed_reply = xstrdup(reply);
	s->state = SMTP_WAIT;
	evtimer_add(s->delay_ev, &tv);
}

void
smtp_access_ctx(struct smtp_session *s, struct access_ctx *ax)
{
	*ax = (struct access_ctx){
		.cfg = s->cfg, .port_probe = s->port_probe, .helo = s->helo,
		.src_channel = s->src_channel, .from = s->from ? s->from : "",
		.auth_user = s->auth_user, .tls = s->tls, .esmtp = s->esmtp,
	};
}

static int
smtp_sessions_from(const struct smtp_server *srv, const char *peer)
{
	int n = 0;

	for (const struct smtp_session *t = srv->sessions; t != NULL; t = t->next)
		if (strcmp(t->peer, peer) == 0)
			n++;
	return n;
}

/* The connect-time checks: limits, then PORT_ACCESS.  NULL: welcome. */
static char *
smtp_connect_refusal(struct smtp_session *s)
{
	struct access_verdict v = { 0 };
	char *reply = NULL;

	if (s->srv->nsessions > s->cfg->max_sessions || s->srv->draining)
		return xasprintf("421 4.3.2 %s Too many sessions, try again later",
		    s->cfg->local.hostname);
	if (smtp_sessions_from(s->srv, s->peer) > s->cfg->max_per_client)
		return xasprintf("421 4.7.0 %s Too many sessions from %s",
		    s->cfg->local.hostname, s->peer);
	if (!access_port(s->cfg, s->port_probe, &v))
		reply = v.tempfail ?
		    xasprintf("421 4.3.0 %s Access check failed, try again later",
		    s->cfg->local.hostname) :
		    xasprintf("554 5.7.1 %s", v.text ? v.text : "Access denied");
	access_verdict_clear(&v);
	return reply;
}

/* INTERNAL_IP moves an internal client of a switching channel. */
static void
smtp_pick_channel(struct smtp_session *s, const char *channel)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(s->cfg->imta,
	    channel);

	snprintf(s->src_channel, sizeof(s->src_channel), "%s", channel);
	if (ch != NULL && ch->kw.switching == IMTA_SWITCH &&
	    imta_conf_channel_by_name(s->cfg->imta, SMTP_INTRANET_CHANNEL) &&
	    access_internal(s->cfg, s->peer))
		snprintf(s->src_channel, sizeof(s->src_channel), "%s",
		    SMTP_INTRANET_CHANNEL);
}

static void
smtp_addr_of(int fd, bool local, char *buf, size_t len, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int r = local ? getsockname(fd, (struct sockaddr *)&ss, &sl) :
	    getpeername(fd, (struct sockaddr *)&ss, &sl);

	*port = 0;
	snprintf(buf, len, "unknown");
	if (r == -1)
		return;
	net_addr_str((struct sockaddr *)&ss, buf, len);
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static struct smtp_session *
smtp_session_new(struct smtp_server *srv, int fd, bool tls)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->cfg = mta_config_ref(srv->cfg);
	s->id = ++srv->next_id;
	s->line_cap = s->cfg->max_line;
	s->linebuf = xmalloc((size_t)(s->line_cap > SMTP_AUTH_LINE_MAX ?
	    s->line_cap : SMTP_AUTH_LINE_MAX) + 2);
	smtp_addr_of(fd, false, s->peer, sizeof(s->peer), &s->peer_port);
	smtp_addr_of(fd, true, s->local, sizeof(s->local), &s->local_port);
	s->port_probe = xasprintf("TCP|%s|%d|%s|%d", s->local, s->local_port,
	    s->peer, s->peer_port);
	s->bev = tls ? tls_server_accept(srv->tls, srv->base, fd) :
	    bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->tls = tls;
	srv->nsessions++;
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;
	smtp_set_callbacks(s);
	return s;
}

static void
smtp_accept(struct smtp_server *srv, int fd, const char *service,
    const char *channel, bool tls)
{
	struct smtp_session *s = smtp_session_new(srv, fd, tls);
	char *refusal;

	s->service = service;
	s->listener_channel = channel;
	if ((refusal = smtp_connect_refusal(s)) != NULL) {
		smtp_reply(s, "%s", refusal);
		log_info("smtp peer=%s refused at connect: %s", s->peer, refusal);
		free(refusal);
		smtp_close(s);
		return;
	}
	smtp_pick_channel(s, channel);
	mta_stats.sessions++;
	log_info("smtp session=%lu peer=%s service=%s channel=%s%s connected",
	    s->id, s->peer, service, s->src_channel, tls ? " tls" : "");
	smtp_reply(s, "220 %s ESMTP ready", s->cfg->local.hostname);
	bufferevent_enable(s->bev, EV_READ);
}

static void
smtp_on_accept_relay(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct smtp_server *srv = arg;

	(void)sa;
	(void)salen;
	smtp_accept(srv, fd, "smtp", srv->cfg->smtp_channel, false);
}

static void
smtp_on_accept_tls(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct smtp_server *srv = arg;

	(void)sa;
	(void)salen;
	smtp_accept(srv, fd, "smtps", srv->cfg->submit_channel, true);
}

static void
smtp_on_accept_submit(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct smtp_server *srv = arg;

	(void)sa;
	(void)salen;
	smtp_accept(srv, fd, "submit", srv->cfg->submit_channel, false);
}

struct smtp_server *
smtp_server_new(struct event_base *base, struct mta_config *cfg,
    struct tls_ctx *tls)
{
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->cfg = mta_config_ref(cfg);
	srv->tls = tls;
	return srv;
}

bool
smtp_server_listen(struct smtp_server *srv, char **err)
{
	const struct mta_config *c = srv->cfg;

	return listen_open_list(srv->base, srv->tls, "smtp", c->smtp_listen,
	    false, smtp_on_accept_relay, srv, &srv->listeners, &srv->nlisteners,
	    err) &&
	    listen_open_list(srv->base, srv->tls, "smtp", c->smtp_tls_listen,
	    true, smtp_on_accept_tls, srv, &srv->listeners, &srv->nlisteners,
	    err) &&
	    listen_open_list(srv->base, srv->tls, "submit", c->submit_listen,
	    false, smtp_on_accept_submit, srv, &srv->listeners,
	    &srv->nlisteners, err);
}

void
smtp_server_attach(struct smtp_server *srv, struct queue *queue,
    struct dir *dir, struct dns *dns)
{
	srv->queue = queue;
	srv->dir = dir;
	srv->dns = dns;
}

void
smtp_server_set_config(struct smtp_server *srv, struct mta_config *cfg)
{
	mta_config_unref(&srv->cfg);
	srv->cfg = mta_config_ref(cfg);
}

void
smtp_server_drain(struct smtp_server *srv)
{
	struct smtp_session *s, *next;

	listen_disable_all(srv->listeners, srv->nlisteners);
	srv->draining = true;
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state != SMTP_CLOSING)
			smtp_drained(s);
	}
}

int
smtp_server_sessions(const struct smtp_server *srv)
{
	return srv->nsessions;
}

void
smtp_server_free(struct smtp_server **srvp)
{
	struct smtp_server *srv = *srvp;

	if (srv == NULL)
		return;
	while (srv->sessions != NULL)
		smtp_free(srv->sessions);
	for (int i = 0; i < srv->nlisteners; i++)
		net_listener_free(srv->listeners[i]);
	free(srv->listeners);
	mta_config_unref(&srv->cfg);
	free(srv);
	*srvp = NULL;
}
