/*
 * lmtp_session: the store's LMTP listeners and sessions (RFC 2033).
 *
 * Each session is a bufferevent on the loop thread.  Input is processed
 * strictly in order: while a command waits for the directory or a message
 * waits for its commit, pipelined input stays in the buffer (bounded by
 * the read watermark), so replies always come in command order.
 * Limits: sessions per server (421 at accept), command line length (500
 * 5.5.2), protocol errors per session (421 and close), idle time (421).
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
#include "log.h"
#include "listen.h"
#include "lmtp.h"
#include "xmalloc.h"

#define LMTP_INPUT_HIGHWATER (256 * 1024)

static void lmtp_process(struct lmtp_session *s);

void
lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	net_vline(out, fmt, ap);
	va_end(ap);
}

static void
lmtp_free(struct lmtp_session *s)
{
	lmtp_reset(s);
	if (s->commit != NULL)
		s->commit->arg = NULL;  /* commit.c frees it when done */
	bufferevent_free(s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->srv->svc.nsessions--;
	log_debug("lmtp session=%lu closed", s->id);
	free(s->linebuf);
	free(s);
}

static void
lmtp_on_write(struct bufferevent *bev, void *arg)
{
	struct lmtp_session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (s->state == LMTP_CLOSING)
		lmtp_free(s);
	else if (s->out_paused) {
		s->out_paused = false;
		lmtp_process(s);
	}
}

void
lmtp_close(struct lmtp_session *s)
{
	s->state = LMTP_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		lmtp_free(s);
}

bool
lmtp_error(struct lmtp_session *s)
{
	if (++s->errors <= s->srv->svc.cfg->max_errors)
		return true;
	lmtp_reply(s, "421 4.7.0 %s Too many errors, closing connection",
	    s->srv->svc.cfg->hostname);
	log_info("lmtp session=%lu peer=%s closed: too many errors", s->id,
	    s->peer);
	lmtp_close(s);
	return false;
}

static void
lmtp_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct lmtp_session *s = arg;
	enum listen_event ev = listen_event(s->srv->svc.name, bev, what, false,
	    s->id, s->peer);

	if (ev == LISTEN_EV_NONE)
		return;
	if (ev == LISTEN_EV_IDLE && s->state != LMTP_CLOSING) {
		lmtp_reply(s, "421 4.4.2 %s Idle timeout, closing connection",
		    s->srv->svc.cfg->hostname);
		log_info("lmtp session=%lu peer=%s idle timeout", s->id, s->peer);
		lmtp_close(s);
		return;
	}
	if (ev == LISTEN_EV_EOF && s->state != LMTP_CLOSING) {
		s->peer_eof = true;
		lmtp_process(s);
		return;
	}
	lmtp_free(s);
}

/* Read command lines until one needs to wait. */
static void
lmtp_read_commands(struct lmtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len;

	while (s->state == LMTP_COMMAND) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    NET_OUTPUT_HIGHWATER) {
			s->out_paused = true;   /* lmtp_on_write resumes */
			return;
		}
		switch (net_readline(&s->line, in, s->linebuf,
		    (size_t)s->line_cap, &len)) {
		case NET_LINE_MORE:
			return;
		case NET_LINE_TOOLONG:
			lmtp_reply(s, "500 5.5.2 Line too long (limit %d)",
			    s->line_cap);
			if (!lmtp_error(s))
				return;
			break;
		case NET_LINE_OK:
			lmtp_command(s, s->linebuf);
			break;
		}
	}
}

static void
lmtp_process_input(struct lmtp_session *s)
{
	for (;;) {
		enum lmtp_state before = s->state;
		switch (s->state) {
		case LMTP_COMMAND:
			lmtp_read_commands(s);
			break;
		case LMTP_DATA:
			lmtp_data_input(s);
			break;
		case LMTP_BDAT:
			lmtp_bdat_input(s);
			break;
		default:
			return;
		}
		if (s->state == before)
			return;     /* waiting for more input */
	}
}

static void
lmtp_process(struct lmtp_session *s)
{
	lmtp_process_input(s);
	/* After the client's EOF, needing more input means it is all
	 * answered; waits for the directory, a commit or a full output
	 * buffer come back here when they end. */
	if (s->peer_eof && !s->out_paused &&
	    (s->state == LMTP_COMMAND || s->state == LMTP_DATA ||
	     s->state == LMTP_BDAT))
		lmtp_close(s);
}

static void
lmtp_on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	lmtp_process(arg);
}

/* Between transactions a draining server says goodbye. */
static bool
lmtp_drained(struct lmtp_session *s)
{
	if (!s->srv->svc.draining || s->has_mail || s->state != LMTP_COMMAND)
		return false;
	lmtp_reply(s, "421 4.3.2 %s Shutting down", s->srv->svc.cfg->hostname);
	lmtp_close(s);
	return true;
}

void
lmtp_resume(struct lmtp_session *s)
{
	if (s->state == LMTP_CLOSING || lmtp_drained(s))
		return;
	lmtp_process(s);
}

static void
lmtp_on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t salen,
    bool guaranteed)
{
	struct lmtp_server *srv = arg;
	const struct store_config *cfg = srv->svc.cfg;
	struct lmtp_session *s = xcalloc(1, sizeof(*s));
	struct timeval idle = { .tv_sec = cfg->idle_timeout };

	(void)salen;
	s->srv = srv;
	s->id = ++srv->svc.next_id;
	s->guaranteed_listener = guaranteed;
	s->line_cap = cfg->max_line;
	s->linebuf = xmalloc((size_t)s->line_cap + 2);
	net_addr_str(sa, s->peer, sizeof(s->peer));
	s->bev = bufferevent_socket_new(srv->svc.base, fd, BEV_OPT_CLOSE_ON_FREE);
	srv->svc.nsessions++;
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;
	bufferevent_setcb(s->bev, lmtp_on_read, lmtp_on_write, lmtp_on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, LMTP_INPUT_HIGHWATER);
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	if (srv->svc.nsessions > cfg->max_sessions || srv->svc.draining) {
		store_stats.sessions_refused++;
		lmtp_reply(s, "421 4.3.2 %s Too many sessions, try again later",
		    cfg->hostname);
		log_warn("lmtp peer=%s refused: %d sessions", s->peer,
		    srv->svc.nsessions - 1);
		lmtp_close(s);
		return;
	}
	store_stats.sessions++;
	log_debug("lmtp session=%lu peer=%s connected", s->id, s->peer);
	lmtp_reply(s, "220 %s LMTP store ready", cfg->hostname);
	bufferevent_enable(s->bev, EV_READ);
}

static void
lmtp_on_accept_normal(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	lmtp_on_accept(arg, fd, sa, salen, false);
}

static void
lmtp_on_accept_guaranteed(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	lmtp_on_accept(arg, fd, sa, salen, true);
}

struct lmtp_server *
lmtp_server_new(struct event_base *base, const struct store_config *cfg)
{
	struct lmtp_server *srv = xcalloc(1, sizeof(*srv));

	service_init(&srv->svc, "lmtp", base, cfg);
	return srv;
}

bool
lmtp_server_listen(struct lmtp_server *srv, char **err)
{
	struct service *v = &srv->svc;

	/* The guaranteed-delivery listeners are told apart in the log by
	 * their own service name. */
	return listen_open_list(v->base, NULL, "lmtp", v->cfg->lmtp_listen, false,
	    lmtp_on_accept_normal, srv, &v->listeners, &v->nlisteners, err) &&
	    listen_open_list(v->base, NULL, "lmtp (guaranteed delivery)",
	    v->cfg->lmtp_guaranteed_listen, false, lmtp_on_accept_guaranteed, srv,
	    &v->listeners, &v->nlisteners, err);
}

void
lmtp_server_drain(struct lmtp_server *srv)
{
	struct lmtp_session *s, *next;

	service_stop_listening(&srv->svc);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state != LMTP_CLOSING)
			lmtp_drained(s);
	}
}


struct service *
lmtp_server_service(struct lmtp_server *srv)
{
	return &srv->svc;
}
