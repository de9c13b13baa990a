/*
 * listen: listeners, session events and the STARTTLS hand-over shared by
 * the suite's protocol servers (see listen.h).  Failures at start-up are returned to
 * the caller (fatal there); a failed hand-over costs only its session.
 */
#include "listen.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tls.h"
#include "xmalloc.h"

bool
listen_open_list(struct event_base *base, struct tls_ctx *tls,
    const char *proto, char **list, bool use_tls, net_accept_cb *cb,
    void *arg, struct evconnlistener ***ls, int *n, char **err)
{
	if (use_tls && list != NULL && *list != NULL && tls == NULL) {
		*err = xasprintf("service.%s.tlslisten needs local.tls.certfile "
		    "and local.tls.keyfile", proto);
		return false;
	}
	for (char **l = list; l != NULL && *l != NULL; l++) {
		struct evconnlistener *el = net_listen(base, *l, cb, arg, err);
		if (el == NULL)
			return false;
		*ls = xrealloc(*ls, (size_t)(*n + 1) * sizeof(**ls));
		(*ls)[(*n)++] = el;
		log_info("%s listening on %s%s", proto, *l, use_tls ? " (TLS)" : "");
	}
	return true;
}

void
listen_disable_all(struct evconnlistener **ls, int n)
{
	for (int i = 0; i < n; i++)
		evconnlistener_disable(ls[i]);
}

bool
listen_starttls(struct tls_ctx *tls, struct bufferevent **bev,
    const char *proto, unsigned long id, const char *peer)
{
	size_t discarded = 0;
	char *err = NULL;

	*bev = tls_server_starttls(tls, bev, &discarded, &err);
	if (*bev == NULL) {
		log_warn("%s session=%lu peer=%s starttls failed: %s", proto, id,
		    peer, err ? err : "?");
		free(err);
		return false;
	}
	if (discarded > 0)
		log_warn("%s session=%lu peer=%s starttls discarded=%zu bytes "
		    "sent before the handshake", proto, id, peer, discarded);
	return true;
}

enum listen_event
listen_event(const char *proto, struct bufferevent *bev, short what,
    bool tls, unsigned long id, const char *peer)
{
	if (what == BEV_EVENT_CONNECTED)
		return LISTEN_EV_NONE;
	if ((what & BEV_EVENT_ERROR) && tls) {
		char why[256];
		tls_error(bev, why, sizeof(why));
		log_info("%s session=%lu peer=%s tls error: %s", proto, id,
		    peer, why);
	} else if (what & BEV_EVENT_ERROR) {
		log_debug("%s session=%lu peer=%s error: %s", proto, id, peer,
		    strerror(errno));
	}
	/* A write timeout means the peer stopped reading: a goodbye could
	 * never drain (and with EV_WRITE off, would keep the session alive
	 * for ever).  Only an idle read timeout gets one. */
	if ((what & BEV_EVENT_TIMEOUT) && !(what & BEV_EVENT_WRITING))
		return LISTEN_EV_IDLE;
	/* A client may pipeline its last commands and shut down its side
	 * (nc -N, scripts): what it sent is still answered, in order.  Over
	 * TLS the end of input ends the session. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !tls)
		return LISTEN_EV_EOF;
	return LISTEN_EV_GONE;
}
