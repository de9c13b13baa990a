/*
 * server: the mmp's listeners, its client addresses and its metrics.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "dir.h"
#include "listen.h"
#include "mmp.h"
#include "xmalloc.h"

void
mmp_peer_describe(struct mmp_peer *p)
{
	const struct sockaddr *sa = (const struct sockaddr *)&p->sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		/* ::ffff:a.b.c.d is a.b.c.d, for the logs and the limits. */
		inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, p->addr,
		    sizeof(p->addr));
		p->port = ntohs(in6->sin6_port);
		return;
	}
	net_addr_str(sa, p->addr, sizeof(p->addr));
	p->port = sa->sa_family == AF_INET6 ? ntohs(in6->sin6_port) :
	    sa->sa_family == AF_INET ?
	    ntohs(((const struct sockaddr_in *)sa)->sin_port) : 0;
}

bool
mmp_listen(struct mmp_server *srv, char **err)
{
	const struct mmp_config *cfg = srv->cfg;

	for (int p = MMP_IMAP; p <= MMP_POP; p++) {
		for (int t = 0; t < 2; t++) {
			struct mmp_accept *acc = &srv->accept[p * 2 + t];
			char **list = t ? cfg->tls_listen[p] : cfg->listen[p];
			acc->srv = srv;
			acc->proto = (enum mmp_proto)p;
			acc->tls = t == 1;
			if (t && list[0] != NULL && srv->tls == NULL) {
				*err = xasprintf("mmp.%s.tlslisten needs "
				    "local.tls.certfile and local.tls.keyfile",
				    mmp_proto_name(acc->proto));
				return false;
			}
			if (!listen_open_list(srv->base, srv->tls,
			    mmp_proto_name(acc->proto), list, acc->tls,
			    mmp_on_accept, acc, &srv->listeners,
			    &srv->nlisteners, err))
				return false;
		}
	}
	return true;
}

void
mmp_server_close(struct mmp_server *srv)
{
	while (srv->sessions != NULL)
		mmp_session_free(srv->sessions);
	mmp_proxy_pending_free_all(srv);
	for (int i = 0; i < srv->nlisteners; i++)
		net_listener_free(srv->listeners[i]);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}

void
mmp_metrics(void *arg, struct evbuffer *out)
{
	const struct mmp_server *srv = arg;
	int relaying = 0;

	for (const struct mmp_session *s = srv->sessions; s; s = s->next)
		relaying += s->state == MMP_RELAY;
	admin_metric_one(out, "mmp_sessions", "gauge",
	    "client sessions open", (unsigned long long)srv->nsessions);
	admin_metric_one(out, "mmp_sessions_relaying", "gauge",
	    "sessions logged in and relayed to a store",
	    (unsigned long long)relaying);
	admin_metric_one(out, "mmp_accepted_total", "counter",
	    "connections accepted", srv->stats.accepted);
	admin_metric_one(out, "mmp_refused_total", "counter",
	    "connections refused (limits, access rules)", srv->stats.refused);
	admin_metric_help(out, "mmp_logins_total", "counter", "logins by result");
	admin_metric(out, "mmp_logins_total", "result=\"ok\"",
	    srv->stats.logins_ok);
	admin_metric(out, "mmp_logins_total", "result=\"failed\"",
	    srv->stats.logins_failed);
	admin_metric(out, "mmp_logins_total", "result=\"unavailable\"",
	    srv->stats.logins_unavailable);
	admin_metric_one(out, "mmp_backend_failures_total", "counter",
	    "stores unreachable or refusing", srv->stats.backend_failed);
	admin_metric_help(out, "mmp_relayed_bytes_total", "counter",
	    "bytes relayed, by direction");
	admin_metric(out, "mmp_relayed_bytes_total", "direction=\"in\"",
	    srv->stats.relayed_in);
	admin_metric(out, "mmp_relayed_bytes_total", "direction=\"out\"",
	    srv->stats.relayed_out);
}
