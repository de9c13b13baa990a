/*
 * tlsecho: a line server on an event loop that exercises common/tls the
 * way the daemons will, for the integration tests (t/integration/
 * test_tls.py) and for poking at TLS settings by hand.
 *
 *   tlsecho [-v] -c CERT -k KEY [-C CA] [-m MINPROTO] [-T IDLE_SECONDS]
 *           [-i HOST:PORT] HOST:PORT
 *
 * HOST:PORT speaks plaintext until STARTTLS; -i HOST:PORT is implicit TLS.
 * Each connection is greeted with "OK tlsecho ready", then one reply per
 * line (lines capped at 1000 bytes):
 *   STARTTLS   "OK begin TLS", then the handshake (plain port only)
 *   INFO       "tls=no" or "tls=yes protocol=P cipher=C bits=N verified=V"
 *   QUIT       "OK bye", then close
 *   other      the line itself
 * SIGHUP rebuilds the TLS context from the same files (connections keep
 * the old one); SIGTERM/SIGINT stop.  Log lines go to stderr; the tests
 * read "starttls discarded=N", "tls error: REASON", "reload ...".
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "net.h"
#include "tls.h"
#include "xmalloc.h"

#define ECHO_LINE_MAX   1000
#define ECHO_HIGHWATER  (64 * 1024)

enum echo_state { ECHO_COMMAND, ECHO_STARTTLS, ECHO_CLOSING };

struct echo_session {
	struct bufferevent *bev;
	unsigned long id;
	char peer[64];
	enum echo_state state;
	struct net_line line;
	char linebuf[ECHO_LINE_MAX + 1];
	struct echo_session *prev, *next;
};

static struct {
	struct event_base *base;
	struct tls_server_config cfg;
	struct tls_ctx *ctx;
	struct timeval idle;
	struct evconnlistener *listeners[2];    /* live until exit (net.c) */
	struct echo_session *sessions;
	unsigned long next_id;
} echo;

struct echo_cmd {
	const char *name;
	void (*fn)(struct echo_session *s, const char *line);
};

static void echo_starttls_cmd(struct echo_session *s, const char *line);
static void echo_info_cmd(struct echo_session *s, const char *line);
static void echo_quit_cmd(struct echo_session *s, const char *line);

static const struct echo_cmd echo_cmds[] = {
	{ "STARTTLS", echo_starttls_cmd },
	{ "INFO", echo_info_cmd },
	{ "QUIT", echo_quit_cmd },
};

static void echo_on_read(struct bufferevent *bev, void *arg);
static void echo_on_write(struct bufferevent *bev, void *arg);
static void echo_on_event(struct bufferevent *bev, short what, void *arg);

static void
echo_reply(struct echo_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
echo_reply(struct echo_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
echo_free(struct echo_session *s)
{
	tls_free(&s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		echo.sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	log_debug("session=%lu closed", s->id);
	free(s);
}

static void
echo_close(struct echo_session *s)
{
	s->state = ECHO_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		echo_free(s);
}

/* Callbacks, limits and timeouts of a session's (new) bufferevent. */
static void
echo_attach(struct echo_session *s)
{
	bufferevent_setcb(s->bev, echo_on_read, echo_on_write, echo_on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, ECHO_HIGHWATER);
	bufferevent_set_timeouts(s->bev, &echo.idle, &echo.idle);
	bufferevent_enable(s->bev, EV_READ);
}

static void
echo_starttls_cmd(struct echo_session *s, const char *line)
{
	(void)line;
	if (bufferevent_openssl_get_ssl(s->bev) != NULL) {
		echo_reply(s, "ERR TLS already active");
		return;
	}
	/* Read nothing more in plaintext; the write callback hands over. */
	echo_reply(s, "OK begin TLS");
	s->state = ECHO_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
}

static void
echo_info_cmd(struct echo_session *s, const char *line)
{
	(void)line;
	if (!tls_active(s->bev)) {
		echo_reply(s, "tls=no");
		return;
	}
	echo_reply(s, "tls=yes protocol=%s cipher=%s bits=%d verified=%s",
	    tls_protocol(s->bev), tls_cipher(s->bev), tls_cipher_bits(s->bev),
	    tls_peer_verified(s->bev) ? "yes" : "no");
}

static void
echo_quit_cmd(struct echo_session *s, const char *line)
{
	(void)line;
	echo_reply(s, "OK bye");
	echo_close(s);
}

static void
echo_command(struct echo_session *s, const char *line)
{
	log_debug("session=%lu command=\"%s\"", s->id, line);
	for (size_t i = 0; i < sizeof(echo_cmds) / sizeof(echo_cmds[0]); i++)
		if (strcasecmp(line, echo_cmds[i].name) == 0) {
			echo_cmds[i].fn(s, line);
			return;
		}
	echo_reply(s, "%s", line);
}

static void
echo_on_read(struct bufferevent *bev, void *arg)
{
	struct echo_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;

	while (s->state == ECHO_COMMAND) {
		switch (net_readline(&s->line, in, s->linebuf, ECHO_LINE_MAX,
		    &len)) {
		case NET_LINE_MORE:
			return;
		case NET_LINE_TOOLONG:
			echo_reply(s, "ERR line too long (limit %d)", ECHO_LINE_MAX);
			break;
		case NET_LINE_OK:
			echo_command(s, s->linebuf);
			break;
		}
	}
}

/* The go-ahead is out: move the socket to TLS. */
static void
echo_starttls(struct echo_session *s)
{
	size_t discarded;
	char *err;

	s->bev = tls_server_starttls(echo.ctx, &s->bev, &discarded, &err);
	if (s->bev == NULL) {
		log_warn("session=%lu peer=%s %s", s->id, s->peer, err);
		free(err);
		echo_free(s);
		return;
	}
	log_info("session=%lu starttls discarded=%zu", s->id, discarded);
	s->state = ECHO_COMMAND;
	echo_attach(s);
}

static void
echo_on_write(struct bufferevent *bev, void *arg)
{
	struct echo_session *s = arg;

	/* A TLS bufferevent may run this late, with output queued since. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (s->state == ECHO_STARTTLS)
		echo_starttls(s);
	else if (s->state == ECHO_CLOSING)
		echo_free(s);
}

static void
echo_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct echo_session *s = arg;
	int saved = errno;
	char buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		tls_log_fields(bev, buf, sizeof(buf));
		log_info("session=%lu peer=%s tls established %s", s->id, s->peer,
		    buf);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("session=%lu peer=%s timeout", s->id, s->peer);
	else if ((what & BEV_EVENT_ERROR) && bufferevent_openssl_get_ssl(bev)) {
		tls_error(bev, buf, sizeof(buf));
		log_info("session=%lu peer=%s tls error: %s", s->id, s->peer, buf);
	} else if (what & BEV_EVENT_ERROR)
		log_info("session=%lu peer=%s error: %s", s->id, s->peer,
		    strerror(saved));
	echo_free(s);
}

static void
echo_accept(int fd, const struct sockaddr *sa, bool implicit)
{
	struct echo_session *s = xcalloc(1, sizeof(*s));

	s->id = ++echo.next_id;
	net_addr_str(sa, s->peer, sizeof(s->peer));
	s->bev = implicit ? tls_server_accept(echo.ctx, echo.base, fd)
	    : bufferevent_socket_new(echo.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		log_panic("bufferevent_socket_new: out of memory");
	s->next = echo.sessions;
	if (s->next != NULL)
		s->next->prev = s;
	echo.sessions = s;
	log_debug("session=%lu peer=%s connected implicit=%d", s->id, s->peer,
	    implicit);
	echo_attach(s);
	echo_reply(s, "OK tlsecho ready");  /* sent after an implicit handshake */
}

static void
echo_on_accept_plain(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	(void)arg;
	(void)salen;
	echo_accept(fd, sa, false);
}

static void
echo_on_accept_tls(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	(void)arg;
	(void)salen;
	echo_accept(fd, sa, true);
}

/* SIGHUP: a new context for new connections, or the old one stays. */
static void
echo_on_reload(evutil_socket_t sig, short what, void *arg)
{
	char *err;
	struct tls_ctx *ctx;

	(void)sig;
	(void)what;
	(void)arg;
	if ((ctx = tls_server_ctx_new(&echo.cfg, &err)) == NULL) {
		log_err("reload refused: %s", err);
		free(err);
		return;
	}
	tls_ctx_free(&echo.ctx);
	echo.ctx = ctx;
	log_info("reload done");
}

static void
echo_on_stop(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopexit(echo.base, NULL);
}

static void
echo_usage(void)
{
	fprintf(stderr, "usage: tlsecho [-v] -c CERT -k KEY [-C CA] [-m MINPROTO] "
	    "[-T IDLE_SECONDS] [-i HOST:PORT] HOST:PORT\n");
	exit(2);
}

static struct evconnlistener *
echo_listen(const char *hostport, net_accept_cb *cb)
{
	char *err;
	struct evconnlistener *l = net_listen(echo.base, hostport, cb, NULL, &err);

	if (l == NULL)
		log_fatal("%s", err);
	return l;
}

static void
echo_run(const char *plain, const char *implicit)
{
	struct event *sig[3];

	echo.listeners[0] = echo_listen(plain, echo_on_accept_plain);
	if (implicit != NULL)
		echo.listeners[1] = echo_listen(implicit, echo_on_accept_tls);
	sig[0] = evsignal_new(echo.base, SIGTERM, echo_on_stop, NULL);
	sig[1] = evsignal_new(echo.base, SIGINT, echo_on_stop, NULL);
	sig[2] = evsignal_new(echo.base, SIGHUP, echo_on_reload, NULL);
	for (int i = 0; i < 3; i++)
		event_add(sig[i], NULL);
	log_info("listening plain=%s implicit=%s", plain,
	    implicit != NULL ? implicit : "-");
	event_base_dispatch(echo.base);
	while (echo.sessions != NULL)
		echo_free(echo.sessions);
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
}

int
main(int argc, char **argv)
{
	const char *implicit = NULL;
	char *err;
	int c;

	log_init("tlsecho", true);
	echo.idle.tv_sec = 30;
	while ((c = getopt(argc, argv, "c:k:C:m:T:i:v")) != -1) {
		switch (c) {
		case 'c': echo.cfg.cert_file = optarg; break;
		case 'k': echo.cfg.key_file = optarg; break;
		case 'C': echo.cfg.ca_file = optarg; break;
		case 'm': echo.cfg.min_protocol = optarg; break;
		case 'T': echo.idle.tv_sec = atoi(optarg); break;
		case 'i': implicit = optarg; break;
		case 'v': log_set_level(LOG_LEVEL_DEBUG); break;
		default: echo_usage();
		}
	}
	if (optind + 1 != argc || echo.idle.tv_sec <= 0)
		echo_usage();
	signal(SIGPIPE, SIG_IGN);
	if ((echo.ctx = tls_server_ctx_new(&echo.cfg, &err)) == NULL)
		log_fatal("%s", err);
	if ((echo.base = event_base_new()) == NULL)
		log_fatal("event_base_new failed");
	echo_run(argv[optind], implicit);
	tls_ctx_free(&echo.ctx);
	log_info("stopped");
	return 0;
}
