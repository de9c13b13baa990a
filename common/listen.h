/*
 * listen: what every protocol server of the suite (the store's LMTP, IMAP
 * and POP3, the mta's SMTP) shares about its sockets: opening a configured
 * list of listeners, reading what a bufferevent event asks of a session,
 * and handing a plain session over to TLS once the reply to
 * STARTTLS/STLS is out.
 */
#ifndef COMMON_LISTEN_H
#define COMMON_LISTEN_H

#include <stdbool.h>

#include "net.h"

struct bufferevent;
struct event_base;
struct evconnlistener;
struct tls_ctx;

/* Open a listener for each "host:port" of list and append it to *ls (count in *n);
 * proto names the service in logs and errors ("imap", "pop").  A TLS list
 * needs a context.  false and *err on the first failure. */
bool listen_open_list(struct event_base *base, struct tls_ctx *tls,
    const char *proto, char **list, bool use_tls, net_accept_cb *cb,
    void *arg, struct evconnlistener ***ls, int *n, char **err);
void listen_disable_all(struct evconnlistener **ls, int n);

/* STARTTLS/STLS: the go-ahead reply is out (call from the write callback
 * with an empty output buffer).  *bev is replaced by the TLS bufferevent
 * (callbacks to be set by the caller); false when it failed, *bev is then
 * NULL and the socket closed.  Logs with proto, session id and peer. */
bool listen_starttls(struct tls_ctx *tls, struct bufferevent **bev,
    const char *proto, unsigned long id, const char *peer);

/* What a session's bufferevent event asks of it. */
enum listen_event {
	LISTEN_EV_NONE,             /* nothing (a TLS handshake finished) */
	LISTEN_EV_IDLE,             /* the read timeout: say goodbye, close */
	LISTEN_EV_EOF,              /* the client half-closed a plain
	                               connection: answer what it sent */
	LISTEN_EV_GONE,             /* error, write timeout, TLS end: free */
};
/* Classify what, logging a TLS or socket error for session id of proto. */
enum listen_event listen_event(const char *proto, struct bufferevent *bev,
    short what, bool tls, unsigned long id, const char *peer);

#endif
