/*
 * pop3_session: the store's POP3 listeners and sessions (RFC 1939).
 *
 * Reading: command lines go through a capped line reader
 * (service.pop.maxlinelength); a longer line is answered -ERR and skipped.
 * Limits: protocol errors (-ERR, then hang-up past service.pop.maxerrors),
 * sessions per server and per client address (-ERR [SYS/TEMP] and close),
 * idle time (shorter before login), failed logins (pop3_auth.c).
 * The maildrop lock lives here: a session that owns a user's maildrop
 * has s->user set, from the login until the session is freed (after the
 * UPDATE state's commit, or at a dropped connection, which deletes
 * nothing).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "countmap.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "pop3.h"
#include "tls.h"
#include "xmalloc.h"

#define POP3_INPUT_HIGHWATER (64 * 1024)

static void pop3_read(struct pop3_session *s);

struct evbuffer *
pop3_out(struct pop3_session *s)
{
	return bufferevent_get_output(s->bev);
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_vline(pop3_out(s), fmt, ap);
	va_end(ap);
}

bool
pop3_plaintext_ok(struct pop3_session *s)
{
	int min = s->srv->svc.cfg->pop_plaintext_min;

	return min <= 0 || (s->tls && tls_cipher_at_least(s->bev, min));
}

bool
pop3_lock(struct pop3_session *s, const char *user)
{
	for (const struct pop3_session *o = s->srv->sessions; o; o = o->next)
		if (o != s && o->user != NULL && strcmp(o->user, user) == 0)
			return false;
	s->user = xstrdup(user);
	return true;
}

static void
pop3_free(struct pop3_session *s)
{
	struct pop3_server *srv = s->srv;

	auth_cancel(&s->auth_req);
	if (s->delay != NULL)
		event_free(s->delay);
	if (s->op != NULL)
		mbox_op_detach(s->op);      /* a QUIT's commit still completes */
	pop3_retr_free(s);
	pop3_auth_reset(s);
	mbox_view_close(&s->view);
	tls_free(&s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->svc.nsessions--;
	countmap_add(&srv->peer_counts, s->peer, -1);
	log_debug("pop session=%lu closed", s->id);
	free(s->sizes);
	free(s->deleted);
	free(s->user_arg);
	free(s->user);
	free(s->login);
	free(s->linebuf);
	free(s);
}

static void pop3_on_read(struct bufferevent *bev, void *arg);
static void pop3_on_write(struct bufferevent *bev, void *arg);
static void pop3_on_event(struct bufferevent *bev, short what, void *arg);

static void
pop3_setup_bev(struct pop3_session *s)
{
	bufferevent_setcb(s->bev, pop3_on_read, pop3_on_write, pop3_on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, POP3_INPUT_HIGHWATER);
	pop3_set_timeout(s);
}

/* The +OK to STLS is out: the socket goes to TLS. */
static void
pop3_start_tls(struct pop3_session *s)
{
	s->starttls = false;
	if (!listen_starttls(s->srv->svc.tls, &s->bev, "pop", s->id, s->peer)) {
		s->io = POP3_IO_CLOSING;
		pop3_free(s);
		return;
	}
	s->tls = true;
	pop3_setup_bev(s);
	bufferevent_enable(s->bev, EV_READ);
	pop3_done(s);
}

static void
pop3_on_write(struct bufferevent *bev, void *arg)
{
	struct pop3_session *s = arg;

	/* A TLS bufferevent may call this late, after more was queued. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (s->io == POP3_IO_CLOSING)
		pop3_free(s);
	else if (s->starttls)
		pop3_start_tls(s);
	else if (s->retr != NULL)
		pop3_retr_continue(s);
	else if (s->out_paused) {
		s->out_paused = false;
		pop3_read(s);
	}
}

void
pop3_close(struct pop3_session *s)
{
	s->io = POP3_IO_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(pop3_out(s)) == 0)
		pop3_free(s);
}

void
pop3_error(struct pop3_session *s, const char *text)
{
	char origin[NET_ORIGIN_LOG_MAX];

	pop3_reply(s, "-ERR %s", text);
	if (++s->errors <= s->srv->svc.cfg->pop_max_errors) {
		pop3_done(s);
		return;
	}
	log_info("pop session=%lu peer=%s%s closed: too many errors", s->id,
	    s->peer, net_origin_log(&s->origin, origin, sizeof(origin)));
	pop3_close(s);
}

static void
pop3_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pop3_session *s = arg;
	enum listen_event ev = listen_event(s->srv->svc.name, bev, what, s->tls,
	    s->id, s->peer);
	char origin[NET_ORIGIN_LOG_MAX];

	if (ev == LISTEN_EV_NONE)
		return;
	if (ev == LISTEN_EV_IDLE && s->io != POP3_IO_CLOSING) {
		pop3_reply(s, "-ERR Disconnected for inactivity");
		log_info("pop session=%lu peer=%s%s user=%s idle timeout", s->id,
		    s->peer, net_origin_log(&s->origin, origin, sizeof(origin)),
		    s->user ? s->user : "-");
		pop3_close(s);
		return;
	}
	if (ev == LISTEN_EV_EOF && s->io != POP3_IO_CLOSING) {
		s->peer_eof = true;
		pop3_read(s);
		return;
	}
	pop3_free(s);
}

void
pop3_set_timeout(struct pop3_session *s)
{
	const struct store_config *cfg = s->srv->svc.cfg;
	struct timeval tv = { .tv_sec = s->state == POP3_AUTHORIZATION ?
	    cfg->pop_preauth_timeout : cfg->pop_idle_timeout };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void
pop3_done(struct pop3_session *s)
{
	if (s->io == POP3_IO_CLOSING)
		return;
	if (s->srv->svc.draining && s->io != POP3_IO_SASL) {
		/* A command running when the drain began ends the session;
		 * nothing is deleted without QUIT. */
		pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down");
		pop3_close(s);
		return;
	}
	bool resume = s->io != POP3_IO_LINE && !s->reading;
	if (s->io != POP3_IO_SASL)
		s->io = POP3_IO_LINE;
	if (resume)
		pop3_read(s);
}

static void
pop3_read(struct pop3_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len;

	s->reading = true;
	while (s->io == POP3_IO_LINE || s->io == POP3_IO_SASL) {
		if (evbuffer_get_length(pop3_out(s)) > NET_OUTPUT_HIGHWATER) {
			s->out_paused = true;   /* pop3_on_write resumes */
			break;
		}
		enum net_line_status st = net_readline(&s->line, in, s->linebuf,
		    s->line_cap, &len);
		if (st == NET_LINE_MORE)
			break;
		bool sasl = s->io == POP3_IO_SASL;
		s->io = POP3_IO_BUSY;
		if (st == NET_LINE_TOOLONG) {
			if (sasl)
				pop3_auth_reset(s);
			pop3_error(s, "Line too long");
		} else if (sasl) {
			pop3_auth_line(s, s->linebuf);
		} else {
			pop3_command(s, s->linebuf);
		}
	}
	s->reading = false;
	/* After EOF, waiting for input means all of it has been answered;
	 * a running command comes back here through pop3_done. */
	if (s->peer_eof && !s->out_paused &&
	    (s->io == POP3_IO_LINE || s->io == POP3_IO_SASL))
		pop3_close(s);
}

static void
pop3_on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pop3_read(arg);
}

/* RFC 1939 7: the APOP timestamp, a msg-id unique to this greeting. */
static void
pop3_make_stamp(struct pop3_session *s)
{
	if (s->srv->svc.dir == NULL || !auth_digest_supported(s->srv->svc.dir))
		return;
	sasl_challenge(s->apop_stamp, sizeof(s->apop_stamp),
	    s->srv->svc.cfg->hostname);
}

static void
pop3_on_accept(void *arg, int fd, const struct sockaddr *sa, bool tls)
{
	struct pop3_server *srv = arg;
	const struct store_config *cfg = srv->svc.cfg;
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->id = ++srv->svc.next_id;
	s->tls = tls;
	s->line_cap = (size_t)cfg->pop_max_line;
	s->linebuf = xmalloc(s->line_cap + 2);
	net_addr_str(sa, s->peer, sizeof(s->peer));
	s->bev = tls ? tls_server_accept(srv->svc.tls, srv->svc.base, fd) :
	    bufferevent_socket_new(srv->svc.base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;
	srv->svc.nsessions++;
	countmap_add(&srv->peer_counts, s->peer, 1);
	pop3_setup_bev(s);
	if (srv->svc.nsessions > cfg->pop_max_sessions || srv->svc.draining ||
	    (countmap_get(&srv->peer_counts, s->peer) > cfg->pop_max_per_client &&
	    !config_trusted_proxy(cfg, sa))) {
		pop3_reply(s, "-ERR [SYS/TEMP] Too many connections, try again "
		    "later");
		log_warn("pop peer=%s refused: too many sessions", s->peer);
		pop3_close(s);
		return;
	}
	pop3_make_stamp(s);
	log_debug("pop session=%lu peer=%s connected", s->id, s->peer);
	pop3_reply(s, "+OK %s POP3 store ready%s%s", cfg->hostname,
	    *s->apop_stamp ? " " : "", s->apop_stamp);
	bufferevent_enable(s->bev, EV_READ);
}

struct pop3_server *
pop3_server_new(struct event_base *base, const struct store_config *cfg)
{
	struct pop3_server *srv = xcalloc(1, sizeof(*srv));

	service_init(&srv->svc, "pop", base, cfg);
	return srv;
}

bool
pop3_server_listen(struct pop3_server *srv, struct tls_ctx *tls, char **err)
{
	return service_listen(&srv->svc, tls, srv->svc.cfg->pop_listen,
	    srv->svc.cfg->pop_tls_listen, pop3_on_accept, srv, err);
}

/* Sessions waiting for a command end now, deleting nothing (they never
 * sent QUIT); a QUIT being committed finishes first. */
void
pop3_server_drain(struct pop3_server *srv)
{
	struct pop3_session *s, *next;

	service_stop_listening(&srv->svc);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->io == POP3_IO_LINE || s->io == POP3_IO_SASL) {
			pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down");
			pop3_close(s);
		}
	}
}


struct service *
pop3_server_service(struct pop3_server *srv)
{
	return &srv->svc;
}
