/*
 * admin: the tiny HTTP endpoint every daemon answers on its admin port
 * (DESIGN.md section 3), bound to loopback unless configured otherwise.
 *
 *   GET /health   200 "ok" while the daemon serves
 *   GET /metrics  Prometheus text format, written by the daemon's callback
 *
 * Built on libevent's evhttp with small caps on headers and bodies; any
 * other path is 404, any other method 405.
 */
#ifndef COMMON_ADMIN_H
#define COMMON_ADMIN_H

#include <stdbool.h>

struct event_base;
struct evbuffer;
struct admin;

/* Write the daemon's metrics into out. */
typedef void admin_metrics_cb(void *arg, struct evbuffer *out);

/* Listen on "host:port"; NULL and *err on failure. */
struct admin *admin_start(struct event_base *base, const char *hostport,
    admin_metrics_cb *cb, void *arg, char **err);
void admin_stop(struct admin **admin);

/* Helpers for the callback: one sample line, with optional labels
 * ("result=\"ok\"" or NULL).  Type lines are written once by the caller
 * with admin_metric_help(). */
void admin_metric_help(struct evbuffer *out, const char *name,
    const char *type, const char *help);
void admin_metric(struct evbuffer *out, const char *name, const char *labels,
    unsigned long long value);
/* A metric of one sample: its help and type lines, then the value. */
void admin_metric_one(struct evbuffer *out, const char *name, const char *type,
    const char *help, unsigned long long value);

#endif
