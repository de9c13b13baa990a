/*
 * service: the common part of the store's protocol servers (see
 * service.h).
 */
#include "service.h"

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
