/*
 * service: the common part of the store's protocol servers (see
 * service.h).
 */
#include "service.h"

#include <string.h>

#include "listen.h"

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

void
service_stop_listening(struct service *svc)
{
	listen_disable_all(svc->listeners, svc->nlisteners);
	svc->draining = true;
}
