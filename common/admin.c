/*
 * admin: health and metrics over HTTP (see admin.h).
 */
#include "admin.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "xmalloc.h"

#define ADMIN_MAX_HEADERS 8192
#define ADMIN_TIMEOUT_SECS 10

struct admin {
	struct evhttp *http;
	admin_metrics_cb *cb;
	void *arg;
};

static void
admin_reply(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *body, const char *type)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_send_reply(req, code, reason, body);
}

static void
admin_on_request(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *body = evbuffer_new();

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evbuffer_add_printf(body, "method not allowed\n");
		admin_reply(req, 405, "Method Not Allowed", body, "text/plain");
	} else if (path != NULL && strcmp(path, "/health") == 0) {
		evbuffer_add_printf(body, "ok\n");
		admin_reply(req, 200, "OK", body, "text/plain");
	} else if (path != NULL && strcmp(path, "/metrics") == 0) {
		a->cb(a->arg, body);
		admin_reply(req, 200, "OK", body,
		    "text/plain; version=0.0.4; charset=utf-8");
	} else {
		evbuffer_add_printf(body, "not found\n");
		admin_reply(req, 404, "Not Found", body, "text/plain");
	}
	evbuffer_free(body);
}

struct admin *
admin_start(struct event_base *base, const char *hostport,
    admin_metrics_cb *cb, void *arg, char **err)
{
	char host[256];
	int port;
	struct admin *a;

	*err = NULL;
	if (!net_split_hostport(hostport, host, sizeof(host), &port)) {
		*err = xasprintf("admin listen \"%s\": expected host:port", hostport);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->cb = cb;
	a->arg = arg;
	a->http = evhttp_new(base);
	evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
	evhttp_set_max_body_size(a->http, 0);
	evhttp_set_timeout(a->http, ADMIN_TIMEOUT_SECS);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_gencb(a->http, admin_on_request, a);
	if (evhttp_bind_socket(a->http, strcmp(host, "*") == 0 ? "0.0.0.0" : host,
	    (ev_uint16_t)port) != 0) {
		*err = xasprintf("admin bind(\"%s\") failed", hostport);
		admin_stop(&a);
		return NULL;
	}
	return a;
}

void
admin_stop(struct admin **ap)
{
	struct admin *a = *ap;

	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	free(a);
	*ap = NULL;
}

void
admin_metric_help(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

void
admin_metric(struct evbuffer *out, const char *name, const char *labels,
    unsigned long long value)
{
	if (labels != NULL)
		evbuffer_add_printf(out, "%s{%s} %llu\n", name, labels, value);
	else
		evbuffer_add_printf(out, "%s %llu\n", name, value);
}

void
admin_metric_one(struct evbuffer *out, const char *name, const char *type,
    const char *help, unsigned long long value)
{
	admin_metric_help(out, name, type, help);
	admin_metric(out, name, NULL, value);
}
