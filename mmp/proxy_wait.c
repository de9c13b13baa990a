/*
 * proxy_wait: a connection from a balancer of mmp.proxyprotocolfrom
 * starts with a PROXY header (v1 or v2, common/proxy_proto) naming the
 * real client.  It is read straight from the socket, before any
 * bufferevent exists, so that nothing after it (a TLS ClientHello, a
 * command) is taken: bytes are only peeked until the header is complete,
 * and exactly the header is consumed.  No header, a bad one, or none
 * within mmp.preauthtimeout: the connection is closed.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mmp.h"
#include "proxy_proto.h"
#include "xmalloc.h"

struct mmp_pending {
	struct mmp_server *srv;
	const struct mmp_accept *acc;
	struct mmp_peer peer;
	struct event *ev;
	unsigned char buf[PROXY_V2_MAX];
	size_t have;                    /* header bytes consumed so far */
	struct mmp_pending *prev, *next;
};

static void
pending_free(struct mmp_pending *pw, bool close_fd)
{
	struct mmp_server *srv = pw->srv;

	if (pw->prev)
		pw->prev->next = pw->next;
	else
		srv->pending = pw->next;
	if (pw->next)
		pw->next->prev = pw->prev;
	srv->npending--;
	event_free(pw->ev);
	if (close_fd)
		close(pw->peer.fd);
	free(pw);
}

static void
pending_fail(struct mmp_pending *pw, const char *why)
{
	log_info("%s peer=%s closed: %s", mmp_proto_name(pw->acc->proto),
	    pw->peer.addr, why);
	pending_free(pw, true);
}

/* Take n bytes off the socket (they were peeked: they are there). */
static bool
pending_consume(struct mmp_pending *pw, size_t n)
{
	unsigned char sink[PROXY_V2_MAX];

	return n == 0 || recv(pw->peer.fd, sink, n, 0) == (ssize_t)n;
}

static void
pending_done(struct mmp_pending *pw, const struct proxy_info *info)
{
	struct mmp_server *srv = pw->srv;
	const struct mmp_accept *acc = pw->acc;
	struct mmp_peer peer = pw->peer;

	if (!info->local) {
		memset(&peer.sa, 0, sizeof(peer.sa));
		memcpy(&peer.sa, &info->src, info->srclen);
		mmp_peer_describe(&peer);
	}
	log_debug("%s balancer=%s client=%s", mmp_proto_name(acc->proto),
	    pw->peer.addr, peer.addr);
	pending_free(pw, false);
	mmp_session_admit(srv, acc, &peer);
}

static void
pending_readable(evutil_socket_t fd, short what, void *arg)
{
	struct mmp_pending *pw = arg;
	struct proxy_info info;
	size_t used = 0;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		pending_fail(pw, "no PROXY header in time");
		return;
	}
	n = recv(fd, pw->buf + pw->have, sizeof(pw->buf) - pw->have, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pending_fail(pw, "gone before its PROXY header");
		return;
	}
	switch (proxy_parse(pw->buf, pw->have + (size_t)n, &info, &used)) {
	case PROXY_MORE:
		/* All of it belongs to the header: take it, wait for more. */
		if (!pending_consume(pw, (size_t)n))
			pending_fail(pw, "read error");
		else
			pw->have += (size_t)n;
		return;
	case PROXY_DONE:
		if (!pending_consume(pw, used - pw->have))
			pending_fail(pw, "read error");
		else
			pending_done(pw, &info);
		return;
	case PROXY_BAD:
		pending_fail(pw, "bad or missing PROXY header");
		return;
	}
}

void
mmp_proxy_header_wait(struct mmp_server *srv, const struct mmp_accept *acc,
    const struct mmp_peer *p)
{
	struct mmp_pending *pw = xcalloc(1, sizeof(*pw));
	struct timeval tv = { .tv_sec = srv->cfg->preauth_timeout };

	pw->srv = srv;
	pw->acc = acc;
	pw->peer = *p;
	pw->ev = event_new(srv->base, p->fd, EV_READ | EV_PERSIST,
	    pending_readable, pw);
	pw->next = srv->pending;
	if (srv->pending)
		srv->pending->prev = pw;
	srv->pending = pw;
	srv->npending++;
	event_add(pw->ev, &tv);
}

void
mmp_proxy_pending_free_all(struct mmp_server *srv)
{
	while (srv->pending != NULL)
		pending_free(srv->pending, true);
}
