/*
 * net: listeners and line-oriented input with hard limits.
 *
 * Listeners are bound while the daemon is still privileged and handed to
 * libevent.  Input lines are read out of a libevent evbuffer into a
 * caller-sized buffer: a peer can never make us hold more than the cap.  A
 * line over the cap is reported once and its remainder skipped up to the
 * end of line, so the session can answer with an error and carry on.
 */
#ifndef COMMON_NET_H
#define COMMON_NET_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct evbuffer;
struct evconnlistener;

typedef void net_accept_cb(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen);

/* Bind "host:port" ("[v6]:port", "*:port" for any); NULL and *err on
 * failure.  Accepted TCP sockets get TCP_NODELAY. */
struct evconnlistener *net_listen(struct event_base *base, const char *hostport,
    net_accept_cb *cb, void *arg, char **err);
/* Close a listener net_listen made, and free what it held. */
void net_listener_free(struct evconnlistener *l);
/* Split "host:port" into its parts; false when malformed. */
bool net_split_hostport(const char *hostport, char *host, size_t hostlen,
    int *port);
/* "1.2.3.4" or "::1" (no port) of a peer address. */
void net_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* Replies waiting for a peer beyond this stop a session from reading more
 * commands until they drain: a client that pipelines without reading
 * cannot make a server hold its replies without bound. */
#define NET_OUTPUT_HIGHWATER (256 * 1024)

enum net_line_status {
	NET_LINE_OK,        /* a line is in buf, without its CRLF/LF */
	NET_LINE_MORE,      /* need more input */
	NET_LINE_TOOLONG,   /* a line exceeded the cap; skipped to its end */
};

#define NET_LINE_TAIL 24

struct net_line {
	bool skipping;      /* inside an over-long line */
	/* When an over-long line has ended: its last bytes (without CR LF),
	 * so a protocol can tell what it announced (an IMAP literal {n+}).
	 * The flag is the caller's to clear. */
	bool skipped_line_ended;
	char tail[NET_LINE_TAIL + 1];
	size_t taillen;
};

/* Append a protocol line, fmt's text and CRLF, to out: every reply of
 * every line protocol goes through here. */
void net_vline(struct evbuffer *out, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A peer's text made fit for a log line or an error message: unprintable
 * bytes as '?', cut after max bytes with "...".  Returns out. */
const char *net_printable(const char *s, char *out, size_t outlen,
    size_t max);

/* Take one line out of in.  buf has room for cap bytes plus a NUL. */
enum net_line_status net_readline(struct net_line *st, struct evbuffer *in,
    char *buf, size_t cap, size_t *len);

/*
 * The real client a proxy (the mmp) names to a server behind it (IMAP ID
 * x-originating-ip/-port, POP3 XCLIENT ADDR=/PORT=).  Any client may make
 * the claim, so servers only log it, beside the socket's peer, never
 * instead of it.  Empty strings when none.
 */
struct net_origin {
	char addr[46];              /* INET6_ADDRSTRLEN, inet_ntop's form */
	char port[6];               /* 1..65535, or "" */
};
/* An IPv4 or IPv6 address as inet_pton takes it, into out in inet_ntop's
 * form (46 bytes); false for anything else. */
bool net_addr_canonical(const char *in, char out[46]);
/* A port of 1 to 5 digits, 1..65535, into out without leading zeros. */
bool net_port_canonical(const char *in, char out[6]);
/* For log lines after "peer=%s": " client=ADDR[ client_port=PORT]", or
 * "" without an origin.  buf: NET_ORIGIN_LOG_MAX bytes. */
#define NET_ORIGIN_LOG_MAX 80
const char *net_origin_log(const struct net_origin *o, char *buf, size_t len);

#endif
