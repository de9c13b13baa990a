/*
 * relay: after the login, bytes both ways between the client and the
 * store, unparsed.  Each direction holds at most NET_OUTPUT_HIGHWATER
 * bytes waiting for the slower side: past that, the faster side is not
 * read until the slower one has taken half of it (back-pressure, so a
 * large FETCH to a slow phone costs the mmp a bounded buffer).
 *
 * The client going away ends both connections at once.  A client that
 * only shuts down its side (nc -N, scripts: "LOGOUT" and end of input)
 * still gets the store's answers to what it sent; the session ends when
 * the store does, or after RELAY_LINGER_SECS of the store's silence.  The
 * store going away (its LOGOUT, its idle timeout, its shutdown) lets what
 * it said reach the client first, then closes.  A client silent for
 * mmp.{imap,pop}.idletimeout is closed (the store has its own timer).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>

#include "listen.h"
#include "log.h"
#include "mmp.h"
#include "tls.h"

#define RELAY_LINGER_SECS 10
/* Bytes moved per read or write call (libevent's default is 16 KiB): a
 * large FETCH then costs a quarter of the system calls. */
#define RELAY_IO_MAX (64 * 1024)

static bool
relay_full(struct bufferevent *to)
{
	return evbuffer_get_length(bufferevent_get_output(to)) >
	    NET_OUTPUT_HIGHWATER;
}

/* Move what from has read to to's output; pause from when to is full. */
static size_t
relay_move(struct bufferevent *from, struct bufferevent *to)
{
	struct evbuffer *in = bufferevent_get_input(from);
	size_t n = evbuffer_get_length(in);

	evbuffer_add_buffer(bufferevent_get_output(to), in);
	if (relay_full(to))
		bufferevent_disable(from, EV_READ);
	return n;
}

static void
relay_client_read(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;

	s->srv->stats.relayed_in += relay_move(bev, s->back);
}

static void
relay_back_read(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;

	if (s->state == MMP_CLOSING) {
		evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
		return;
	}
	s->srv->stats.relayed_out += relay_move(bev, s->bev);
}

/* The client took some: read the store again; or, closing, finish. */
static void
relay_client_write(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;

	if (s->state == MMP_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			mmp_session_free(s);
		return;
	}
	if (!relay_full(bev))
		bufferevent_enable(s->back, EV_READ);
}

static void
relay_back_write(struct bufferevent *bev, void *arg)
{
	struct mmp_session *s = arg;

	if (s->state != MMP_CLOSING && !s->peer_eof && !relay_full(bev))
		bufferevent_enable(s->bev, EV_READ);
}

/* The client sent all it will send: the store's answers still go to it,
 * until the store ends or falls silent. */
static void
relay_client_done_sending(struct mmp_session *s)
{
	struct timeval linger = { .tv_sec = RELAY_LINGER_SECS };

	s->peer_eof = true;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_set_timeouts(s->back, &linger, NULL);
}

static void
relay_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct mmp_session *s = arg;

	switch (listen_event(mmp_proto_name(s->proto), bev, what, s->tls,
	    s->id, s->peer)) {
	case LISTEN_EV_NONE:
		return;
	case LISTEN_EV_EOF:
		relay_client_done_sending(s);
		return;
	case LISTEN_EV_IDLE:
		log_info("%s session=%lu user=%s idle for too long",
		    mmp_proto_name(s->proto), s->id, s->user);
		break;
	case LISTEN_EV_GONE:
		break;
	}
	mmp_session_free(s);
}

/* The store ended: its last words reach the client, then close. */
static void
relay_back_event(struct bufferevent *bev, short what, void *arg)
{
	struct mmp_session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (s->state != MMP_CLOSING)
		relay_move(bev, s->bev);
	s->state = MMP_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	tls_free(&s->back);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		mmp_session_free(s);
}

void
mmp_relay_start(struct mmp_session *s)
{
	struct timeval idle = { .tv_sec = s->srv->cfg->idle_timeout[s->proto] };

	s->state = MMP_RELAY;
	/* The command buffers served their purpose: an idle relayed session
	 * holds only its two connections. */
	free(s->linebuf);
	free(s->cmd);
	s->linebuf = s->cmd = NULL;
	bufferevent_setcb(s->bev, relay_client_read, relay_client_write,
	    relay_client_event, s);
	bufferevent_setcb(s->back, relay_back_read, relay_back_write,
	    relay_back_event, s);
	bufferevent_setwatermark(s->back, EV_WRITE, NET_OUTPUT_HIGHWATER / 2, 0);
	bufferevent_set_timeouts(s->bev, &idle, NULL);
	bufferevent_set_timeouts(s->back, NULL, NULL);
	bufferevent_set_max_single_read(s->bev, RELAY_IO_MAX);
	bufferevent_set_max_single_read(s->back, RELAY_IO_MAX);
	bufferevent_set_max_single_write(s->bev, RELAY_IO_MAX);
	bufferevent_set_max_single_write(s->back, RELAY_IO_MAX);
	/* What either side sent during the login (a pipelined command, an
	 * untagged line) goes first. */
	relay_move(s->bev, s->back);
	relay_move(s->back, s->bev);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	bufferevent_enable(s->back, EV_READ | EV_WRITE);
	if (s->peer_eof)
		relay_client_done_sending(s);
}
