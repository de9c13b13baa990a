/*
 * listen: listeners and the STARTTLS hand-over shared by the store's IMAP
 * and POP3 servers (see listen.h).  Failures at start-up are returned to
 * the caller (fatal there); a failed hand-over costs only its session.
 */
#include "listen.h"

#include <event2/listener.h>
#include <stdlib.h>

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
