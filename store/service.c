/*
 * service: the common part of the store's protocol servers (see
 * service.h).
 */
#include "service.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <string.h>

#include "listen.h"
#include "log.h"
#include "tls.h"

void
service_init(struct service *svc, const char *name, struct event_base *base,
    const struct store_config *cfg)
{
	memset(svc, 0, sizeof(*svc));
	svc->name = name;
	svc->base = base;
	svc->cfg = cfg;
}

void
service_attach(struct service *svc, struct dir *dir, struct db *db)
{
	svc->dir = dir;
	svc->db = db;
}

void
service_set_config(struct service *svc, const struct store_config *cfg)
{
	svc->cfg = cfg;
}

static void
service_on_accept_plain(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct service *svc = arg;

	(void)salen;
	svc->accept(svc->accept_arg, fd, sa, false);
}

static void
service_on_accept_tls(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct service *svc = arg;

	(void)salen;
	svc->accept(svc->accept_arg, fd, sa, true);
}

bool
service_listen(struct service *svc, struct tls_ctx *tls, char **plain,
    char **secure, service_accept_cb *accept, void *arg, char **err)
{
	svc->tls = tls;
	svc->accept = accept;
	svc->accept_arg = arg;
	return listen_open_list(svc->base, tls, svc->name, plain, false,
	    service_on_accept_plain, svc, &svc->listeners, &svc->nlisteners,
	    err) &&
	    listen_open_list(svc->base, tls, svc->name, secure, true,
	    service_on_accept_tls, svc, &svc->listeners, &svc->nlisteners, err);
}

void
service_stop_listening(struct service *svc)
{
	listen_disable_all(svc->listeners, svc->nlisteners);
	svc->draining = true;
}

enum service_event
service_event(const struct service *svc, struct bufferevent *bev, short what,
    bool tls, unsigned long id, const char *peer)
{
	if (what == BEV_EVENT_CONNECTED)
		return SERVICE_EV_NONE;
	if ((what & BEV_EVENT_ERROR) && tls) {
		char why[256];
		tls_error(bev, why, sizeof(why));
		log_info("%s session=%lu peer=%s tls error: %s", svc->name, id,
		    peer, why);
	} else if (what & BEV_EVENT_ERROR) {
		log_debug("%s session=%lu peer=%s error: %s", svc->name, id, peer,
		    strerror(errno));
	}
	/* A write timeout means the peer stopped reading: a goodbye could
	 * never drain (and with EV_WRITE off, would keep the session alive
	 * for ever).  Only an idle read timeout gets one. */
	if ((what & BEV_EVENT_TIMEOUT) && !(what & BEV_EVENT_WRITING))
		return SERVICE_EV_IDLE;
	/* A client may pipeline its last commands and shut down its side
	 * (nc -N, scripts): what it sent is still answered, in order.  Over
	 * TLS the end of input ends the session. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !tls)
		return SERVICE_EV_EOF;
	return SERVICE_EV_GONE;
}
