/*
 * net: listener set-up and capped line reading (see net.h).
 */
#include "net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

/* What a listener calls back; kept on a list so that a listener freed
 * before exit (net_listener_free) takes its context along. */
struct net_accept_ctx {
	net_accept_cb *cb;
	void *arg;
	struct evconnlistener *listener;
	struct event *pause;            /* after an accept error: resume */
	struct net_accept_ctx *next;
};

/* How long a listener rests after accept() failed for want of resources
 * (EMFILE, ENFILE, ENOBUFS): libevent would otherwise call it again at
 * once, for ever, while the connection waits in the backlog. */
#define NET_ACCEPT_PAUSE_MS 200

static struct net_accept_ctx *net_contexts;

static void
net_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net_accept_ctx *ctx = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(ctx->listener);
}

static void
net_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct net_accept_ctx *ctx = arg;
	struct timeval tv = { 0, NET_ACCEPT_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("accept: %s; pausing the listener %d ms", strerror(err),
	    NET_ACCEPT_PAUSE_MS);
	evconnlistener_disable(l);
	if (ctx->pause == NULL)
		ctx->pause = evtimer_new(evconnlistener_get_base(l),
		    net_accept_resume, ctx);
	evtimer_add(ctx->pause, &tv);
}

bool
net_split_hostport(const char *hostport, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = hostport;
	size_t n;

	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (close == NULL || close[1] != ':')
			return false;
		h++;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(h, ':');
		if (colon == NULL)
			return false;
		n = (size_t)(colon - h);
	}
	/* strtol alone would take " 25" and "+25". */
	if (n == 0 || n >= hostlen || !isdigit((unsigned char)colon[1]))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p > 65535)
		return false;
	*port = (int)p;
	return true;
}

static void
net_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct net_accept_ctx *ctx = arg;
	int one = 1;

	(void)l;
	/* Replies often go out in several writes (a FETCH literal, then the
	 * tagged OK): without this, Nagle holds the last one back until the
	 * client's delayed ACK, some 40 ms. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ctx->cb(ctx->arg, fd, sa, (socklen_t)salen);
}

struct evconnlistener *
net_listen(struct event_base *base, const char *hostport, net_accept_cb *cb,
    void *arg, char **err)
{
	char host[256], portstr[8];
	int port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res;

	*err = NULL;
	if (!net_split_hostport(hostport, host, sizeof(host), &port)) {
		*err = xasprintf("listen \"%s\": expected host:port", hostport);
		return NULL;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	int rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr,
	    &hints, &res);
	if (rc != 0) {
		*err = xasprintf("listen \"%s\": %s", hostport, gai_strerror(rc));
		return NULL;
	}
	struct net_accept_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->cb = cb;
	ctx->arg = arg;
	struct evconnlistener *l = evconnlistener_new_bind(base, net_on_accept,
	    ctx, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (l == NULL) {
		*err = xasprintf("bind(\"%s\"): %s", hostport, strerror(errno));
		free(ctx);
		return NULL;
	}
	ctx->listener = l;
	evconnlistener_set_error_cb(l, net_on_accept_error);
	ctx->next = net_contexts;
	net_contexts = ctx;
	return l;
}

void
net_listener_free(struct evconnlistener *l)
{
	for (struct net_accept_ctx **p = &net_contexts; *p != NULL;
	    p = &(*p)->next) {
		if ((*p)->listener == l) {
			struct net_accept_ctx *ctx = *p;
			*p = ctx->next;
			if (ctx->pause != NULL)
				event_free(ctx->pause);
			free(ctx);
			break;
		}
	}
	evconnlistener_free(l);
}

void
net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
}

static char
net_last_byte(struct evbuffer *in)
{
	struct evbuffer_ptr pos;
	char c = '\0';

	if (evbuffer_ptr_set(in, &pos, evbuffer_get_length(in) - 1,
	    EVBUFFER_PTR_SET) == 0)
		(void)evbuffer_copyout_from(in, &pos, &c, 1);
	return c;
}

/* Keep the last bytes of in[0..upto) as the skipped line's tail. */
static void
net_keep_tail(struct net_line *st, struct evbuffer *in, size_t upto)
{
	char buf[NET_LINE_TAIL];
	size_t n = upto < NET_LINE_TAIL ? upto : NET_LINE_TAIL;
	struct evbuffer_ptr pos;

	if (n == 0 || evbuffer_ptr_set(in, &pos, upto - n, EVBUFFER_PTR_SET) != 0)
		return;
	evbuffer_copyout_from(in, &pos, buf, n);
	/* Append, keeping the last NET_LINE_TAIL bytes overall. */
	size_t keep = st->taillen + n > NET_LINE_TAIL ? NET_LINE_TAIL - n : st->taillen;
	memmove(st->tail, st->tail + st->taillen - keep, keep);
	memcpy(st->tail + keep, buf, n);
	st->taillen = keep + n;
	st->tail[st->taillen] = '\0';
}

/* An over-long line ended at in[n]: note its tail (CR dropped). */
static void
net_skipped_end(struct net_line *st, struct evbuffer *in, size_t n)
{
	net_keep_tail(st, in, n);
	if (st->taillen > 0 && st->tail[st->taillen - 1] == '\r')
		st->tail[--st->taillen] = '\0';
	st->skipped_line_ended = true;
}

enum net_line_status
net_readline(struct net_line *st, struct evbuffer *in, char *buf, size_t cap,
    size_t *len)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len,
	    EVBUFFER_EOL_LF);

	if (p.pos == -1) {
		size_t have = evbuffer_get_length(in);
		if (st->skipping) {
			net_keep_tail(st, in, have);
			evbuffer_drain(in, have);
			return NET_LINE_MORE;
		}
		/* A line of exactly cap bytes may have its CR here and its LF
		 * still on the way. */
		if (have <= cap || (have == cap + 1 && net_last_byte(in) == '\r'))
			return NET_LINE_MORE;
		st->taillen = 0;
		net_keep_tail(st, in, have);
		evbuffer_drain(in, have);
		st->skipping = true;
		return NET_LINE_TOOLONG;
	}
	size_t n = (size_t)p.pos;
	if (st->skipping) {
		/* The tail of a line already reported: drop it, try the next. */
		net_skipped_end(st, in, n);
		evbuffer_drain(in, n + eol_len);
		st->skipping = false;
		return net_readline(st, in, buf, cap, len);
	}
	if (n > cap + 1) {
		st->taillen = 0;
		net_skipped_end(st, in, n);
		evbuffer_drain(in, n + eol_len);
		return NET_LINE_TOOLONG;
	}
	evbuffer_remove(in, buf, n);
	evbuffer_drain(in, eol_len);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > cap) {
		size_t k = n < NET_LINE_TAIL ? n : NET_LINE_TAIL;
		memcpy(st->tail, buf + n - k, k);
		st->tail[k] = '\0';
		st->taillen = k;
		st->skipped_line_ended = true;
		return NET_LINE_TOOLONG;
	}
	buf[n] = '\0';
	*len = n;
	return NET_LINE_OK;
}

bool
net_addr_canonical(const char *in, char out[46])
{
	unsigned char bin[sizeof(struct in6_addr)];
	int af = strchr(in, ':') != NULL ? AF_INET6 : AF_INET;

	return inet_pton(af, in, bin) == 1 &&
	    inet_ntop(af, bin, out, INET6_ADDRSTRLEN) != NULL;
}

bool
net_port_canonical(const char *in, char out[6])
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < 5 && in[i] >= '0' && in[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(in[i] - '0');
	if (i == 0 || in[i] != '\0' || v < 1 || v > 65535)
		return false;
	snprintf(out, 6, "%lu", v);
	return true;
}

const char *
net_origin_log(const struct net_origin *o, char *buf, size_t len)
{
	if (*o->addr == '\0')
		return "";
	snprintf(buf, len, " client=%s%s%s", o->addr,
	    *o->port ? " client_port=" : "", o->port);
	return buf;
}

void
net_vline(struct evbuffer *out, const char *fmt, va_list ap)
{
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

const char *
net_printable(const char *s, char *out, size_t outlen, size_t max)
{
	size_t n = 0;

	for (; *s != '\0' && n + 4 < outlen && n < max; s++)
		out[n++] = isprint((unsigned char)*s) ? *s : '?';
	if (*s != '\0')
		out[n++] = '.', out[n++] = '.', out[n++] = '.';
	out[n] = '\0';
	return out;
}
