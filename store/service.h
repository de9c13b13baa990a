/*
 * service: what every protocol server of the store (LMTP, IMAP, POP3) is
 * made of besides its sessions: the loop, the configuration in force, the
 * directory and the index, TLS, its listeners, and its session count.
 * main.c manages servers through this part alone.
 */
#ifndef STORE_SERVICE_H
#define STORE_SERVICE_H

#include <stdbool.h>

struct db;
struct dir;
struct event_base;
struct evconnlistener;
struct sockaddr;
struct store_config;
struct tls_ctx;

/* A connection accepted for arg; tls: on one of the implicit-TLS ports. */
typedef void service_accept_cb(void *arg, int fd, const struct sockaddr *sa,
    bool tls);

struct service {
	const char *name;           /* "lmtp", "imap", "pop": for logs */
	struct event_base *base;
	const struct store_config *cfg;
	struct dir *dir;
	struct db *db;
	struct tls_ctx *tls;        /* NULL: no TLS configured */
	struct evconnlistener **listeners;
	int nlisteners;
	service_accept_cb *accept;
	void *accept_arg;
	int nsessions;
	unsigned long next_id;
	bool draining;
};

void service_init(struct service *svc, const char *name,
    struct event_base *base, const struct store_config *cfg);
/* The directory and index, opened after the listeners (and the fork). */
void service_attach(struct service *svc, struct dir *dir, struct db *db);
/* A reloaded configuration (the old one stays valid: never freed). */
void service_set_config(struct service *svc, const struct store_config *cfg);
/* Listen on the "host:port" lists plain and secure (implicit TLS, which
 * needs tls), handing each connection to accept(arg, ...).  false and
 * *err on the first failure. */
bool service_listen(struct service *svc, struct tls_ctx *tls, char **plain,
    char **secure, service_accept_cb *accept, void *arg, char **err);
/* Stop accepting. */
void service_stop_listening(struct service *svc);

#endif
