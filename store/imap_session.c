/*
 * imap_session: the store's IMAP listeners and sessions (RFC 3501).
 *
 * Reading: command lines go through a capped line reader; a line ending in
 * a literal announcement {n} or {n+} is followed by n raw bytes, which are
 * kept in the command buffer (capped by service.imap.maxcommandsize) or,
 * for APPEND, spooled into a file of the user's partition (capped by the
 * maximum message size).  Over a cap: a synchronising literal is refused
 * with a tagged NO [TOOBIG] before any byte is sent; a non-synchronising
 * one (LITERAL+) ends the session with BYE, since its bytes are already on
 * the way.
 * Limits: line length and command size, protocol errors (BYE), sessions
 * per server and per client address, idle time (shorter before login).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acl.h"
#include "countmap.h"
#include "dir.h"
#include "imap.h"
#include "imap_cmds.h"
#include "listen.h"
#include "log.h"
#include "tls.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "sasl_exchange.h"
#include "xmalloc.h"

#define IMAP_INPUT_HIGHWATER (256 * 1024)
/* Literals up to this size stay in memory even for APPEND. */
#define IMAP_INLINE_LITERAL (64 * 1024)

static void imap_read(struct imap_session *s);

struct evbuffer *
imap_out(struct imap_session *s)
{
	return bufferevent_get_output(s->bev);
}

void
imap_reply(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_vline(imap_out(s), fmt, ap);
	va_end(ap);
}

void
imap_tagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	evbuffer_add_printf(imap_out(s), "%s ", s->tag);
	va_start(ap, fmt);
	net_vline(imap_out(s), fmt, ap);
	va_end(ap);
}

static void
imap_spool_clear(struct imap_session *s)
{
	if (s->literal_fd >= 0) {
		close(s->literal_fd);
		s->literal_fd = -1;
	}
	for (size_t i = 0; i < sizeof(s->spool) / sizeof(s->spool[0]); i++) {
		if (s->spool[i].path != NULL) {
			unlink(s->spool[i].path);
			free(s->spool[i].path);
		}
		memset(&s->spool[i], 0, sizeof(s->spool[i]));
	}
}

/* Forget the command being assembled or run. */
static void
imap_command_reset(struct imap_session *s)
{
	imap_args_free(&s->args);
	imap_spool_clear(s);
	s->cmdlen = 0;
	s->literal_left = 0;
	s->tag[0] = '\0';
	s->uid_cmd = false;
	s->store_silent = false;
	s->spool_failed = false;
}

static void
imap_free(struct imap_session *s)
{
	struct imap_server *srv = s->srv;

	auth_cancel(&s->auth_req);
	imap_fetch_free(s);
	imap_idle_watch(s, false);
	if (s->op != NULL)
		mbox_op_detach(s->op);
	if (s->acl_op != NULL)
		acl_detach(s->acl_op);
	if (s->delay != NULL)
		event_free(s->delay);
	sasl_exchange_free(&s->sasl);
	mbox_view_close(&s->view);
	imap_command_reset(s);
	tls_free(&s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->svc.nsessions--;
	countmap_add(&srv->peer_counts, s->peer, -1);
	log_debug("imap session=%lu closed", s->id);
	imap_set_user(s, NULL);
	free(s->login);
	free(s->linebuf);
	free(s->cmd);
	free(s);
}

static void imap_on_read(struct bufferevent *bev, void *arg);
static void imap_on_event(struct bufferevent *bev, short what, void *arg);
static void imap_on_write(struct bufferevent *bev, void *arg);

static void
imap_setup_bev(struct imap_session *s)
{
	bufferevent_setcb(s->bev, imap_on_read, imap_on_write, imap_on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, IMAP_INPUT_HIGHWATER);
	imap_set_timeout(s);
}

/* The OK to STARTTLS is out: the socket goes to TLS. */
static void
imap_start_tls(struct imap_session *s)
{
	s->starttls = false;
	if (!listen_starttls(s->srv->svc.tls, &s->bev, "imap", s->id, s->peer)) {
		s->io = IMAP_IO_CLOSING;
		imap_free(s);
		return;
	}
	s->tls = true;
	imap_setup_bev(s);
	bufferevent_enable(s->bev, EV_READ);
	imap_done(s);
}

static void
imap_on_write(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;

	/* A TLS bufferevent may call this late, after more was queued. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (s->io == IMAP_IO_CLOSING)
		imap_free(s);
	else if (s->starttls)
		imap_start_tls(s);
	else if (s->fetch != NULL)
		imap_fetch_continue(s);
	else if (s->out_paused) {
		s->out_paused = false;
		imap_read(s);
	}
}

void
imap_close(struct imap_session *s)
{
	s->io = IMAP_IO_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(imap_out(s)) == 0)
		imap_free(s);
}

bool
imap_error(struct imap_session *s)
{
	char origin[NET_ORIGIN_LOG_MAX];

	if (++s->errors <= s->srv->svc.cfg->imap_max_errors)
		return true;
	imap_reply(s, "* BYE Too many errors");
	log_info("imap session=%lu peer=%s%s closed: too many errors", s->id,
	    s->peer, net_origin_log(&s->origin, origin, sizeof(origin)));
	imap_close(s);
	return false;
}

static void
imap_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct imap_session *s = arg;
	enum listen_event ev = listen_event(s->srv->svc.name, bev, what, s->tls,
	    s->id, s->peer);
	char origin[NET_ORIGIN_LOG_MAX];

	if (ev == LISTEN_EV_NONE)
		return;
	if (ev == LISTEN_EV_IDLE && s->io != IMAP_IO_CLOSING) {
		imap_reply(s, "* BYE Autologout; idle for too long");
		log_info("imap session=%lu peer=%s%s user=%s idle timeout", s->id,
		    s->peer, net_origin_log(&s->origin, origin, sizeof(origin)),
		    s->user ? s->user : "-");
		imap_close(s);
		return;
	}
	if (ev == LISTEN_EV_EOF && s->io != IMAP_IO_CLOSING) {
		s->peer_eof = true;
		imap_read(s);
		return;
	}
	imap_free(s);
}

void
imap_set_timeout(struct imap_session *s)
{
	const struct store_config *cfg = s->srv->svc.cfg;
	struct timeval tv = { .tv_sec = s->state == IMAP_NOTAUTH ?
	    cfg->imap_preauth_timeout : cfg->imap_idle_timeout };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* The tag: 1*<any ASTRING-CHAR except "+">. */
static bool
imap_take_tag(struct imap_session *s, char **rest)
{
	char *p = s->cmd;
	size_t n = 0;

	while (p[n] != '\0' && p[n] != ' ' && p[n] > ' ' && p[n] < 127 &&
	    strchr("(){%*\"\\+", p[n]) == NULL)
		n++;
	if (n == 0 || n >= sizeof(s->tag) || p[n] != ' ') {
		snprintf(s->tag, sizeof(s->tag), "*");
		return false;
	}
	memcpy(s->tag, p, n);
	s->tag[n] = '\0';
	*rest = p + n + 1;
	return true;
}

/* A complete command is in s->cmd: split and dispatch it. */
static void
imap_run(struct imap_session *s)
{
	char *rest, *name;
	const char *err;

	s->cmd[s->cmdlen] = '\0';
	s->io = IMAP_IO_BUSY;
	if (!imap_take_tag(s, &rest)) {
		imap_reply(s, "* BAD Missing or invalid tag");
		if (imap_error(s))
			imap_done(s);
		return;
	}
	name = rest;
	while (*rest != '\0' && *rest != ' ')
		rest++;
	if (*rest == ' ')
		*rest++ = '\0';
	if (*name == '\0') {
		imap_tagged(s, "BAD Missing command");
		if (imap_error(s))
			imap_done(s);
		return;
	}
	/* Spool offsets count from the start of the command; the tokenizer
	 * counts from the arguments. */
	for (size_t i = 0; i < sizeof(s->spool) / sizeof(s->spool[0]); i++)
		if (s->spool[i].path != NULL)
			s->spool[i].at -= (size_t)(rest - s->cmd);
	err = imap_parse_args(rest, s->cmdlen - (size_t)(rest - s->cmd), s->spool,
	    &s->args);
	if (err != NULL) {
		imap_tagged(s, "BAD %s", err);
		if (imap_error(s))
			imap_done(s);
		return;
	}
	imap_command(s, name, s->args.top);
}

void
imap_done(struct imap_session *s)
{
	if (s->io == IMAP_IO_CLOSING)
		return;
	imap_command_reset(s);
	if (s->srv->svc.draining) {
		/* A command running when the drain began ends the session. */
		imap_reply(s, "* BYE Server shutting down");
		imap_close(s);
		return;
	}
	bool resume = s->io != IMAP_IO_LINE && !s->reading;
	s->io = IMAP_IO_LINE;
	if (resume)
		imap_read(s);
}

static bool
imap_cmd_append(struct imap_session *s, size_t n)
{
	char name[32];

	if (s->state == IMAP_NOTAUTH || n <= IMAP_INLINE_LITERAL)
		return false;
	/* tag SP APPEND ... */
	return sscanf(s->cmd, "%*s %31s", name) == 1 &&
	    strcasecmp(name, "APPEND") == 0;
}

/* Open the spool file for an APPEND literal; false on failure. */
static bool
imap_spool_open(struct imap_session *s, size_t n)
{
	static unsigned long seq;
	char dir[4096];
	size_t i = s->spool[0].path == NULL ? 0 : 1;

	if (i == 1 && s->spool[1].path != NULL)
		return false;           /* one message per APPEND */
	userarea_tmp_dir(s->part, dir, sizeof(dir));
	s->spool[i].path = xasprintf("%s/append.%ld.%lu.%lu", dir, (long)getpid(),
	    s->id, ++seq);
	s->spool[i].at = s->cmdlen + 2;     /* after the "{n}" CRLF */
	s->spool[i].len = n;
	s->literal_fd = open(s->spool[i].path, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (s->literal_fd == -1) {
		log_err("open(\"%s\"): %s", s->spool[i].path, strerror(errno));
		return false;
	}
	return true;
}

/* Refuse a literal over its cap; false if the session had to close. */
static bool
imap_literal_refuse(struct imap_session *s, bool sync, const char *why)
{
	char *rest;

	if (!sync) {
		imap_reply(s, "* BYE [TOOBIG] %s", why);
		imap_close(s);
		return false;
	}
	s->cmd[s->cmdlen] = '\0';
	if (!imap_take_tag(s, &rest))
		imap_reply(s, "* BAD [TOOBIG] %s", why);
	else
		imap_tagged(s, "NO [TOOBIG] %s", why);
	imap_command_reset(s);
	return imap_error(s);
}

/* The line ends in "{n}" or "{n+}": set up reading n bytes. */
static void
imap_literal_begin(struct imap_session *s, unsigned long long n, bool sync)
{
	const struct store_config *cfg = s->srv->svc.cfg;

	if (imap_cmd_append(s, (size_t)n)) {
		if (n > cfg->max_msg_size) {
			imap_literal_refuse(s, sync, "Message too large");
			return;
		}
		if (!imap_spool_open(s, (size_t)n)) {
			imap_literal_refuse(s, sync, "Cannot accept the message now");
			return;
		}
	} else if (s->cmdlen + n + 2 > s->cmdcap) {
		imap_literal_refuse(s, sync, "Command too large");
		return;
	}
	memcpy(s->cmd + s->cmdlen, "\r\n", 2);
	s->cmdlen += 2;
	s->literal_left = (size_t)n;
	s->io = IMAP_IO_LITERAL;
	if (sync)
		imap_reply(s, "+ Ready for literal data");
}

static void
imap_line(struct imap_session *s, const char *line, size_t len)
{
	unsigned long long n;
	bool sync;

	if (s->cmdlen + len + 2 > s->cmdcap) {
		s->cmd[s->cmdlen] = '\0';
		imap_literal_refuse(s, true, "Command too large");
		return;
	}
	memcpy(s->cmd + s->cmdlen, line, len);
	s->cmdlen += len;
	if (imap_line_literal(line, len, &n, &sync))
		imap_literal_begin(s, n, sync);
	else
		imap_run(s);
}

/* Literal bytes: into the command buffer or the spool file. */
static void
imap_literal_input(struct imap_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);

	if (n > s->literal_left)
		n = s->literal_left;
	if (s->literal_fd >= 0) {
		while (n > 0) {
			unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(n < 65536 ? n : 65536));
			size_t chunk = n < 65536 ? n : 65536;
			if (write(s->literal_fd, p, chunk) != (ssize_t)chunk)
				s->spool_failed = true;
			evbuffer_drain(in, chunk);
			n -= chunk;
			s->literal_left -= chunk;
		}
	} else {
		evbuffer_remove(in, s->cmd + s->cmdlen, n);
		s->cmdlen += n;
		s->literal_left -= n;
	}
	if (s->literal_left > 0)
		return;
	if (s->literal_fd >= 0) {
		close(s->literal_fd);
		s->literal_fd = -1;
	}
	s->io = IMAP_IO_LINE;
}

/* An over-long line ended announcing a non-synchronising literal: its
 * bytes are already on their way and cannot be told from commands. */
static bool
imap_skipped_nonsync(struct imap_session *s)
{
	unsigned long long n;
	bool sync;

	s->line.skipped_line_ended = false;
	if (!imap_line_literal(s->line.tail, s->line.taillen, &n, &sync) || sync)
		return false;
	imap_reply(s, "* BYE [TOOBIG] Line too long, with a literal following");
	imap_close(s);
	return true;
}

/* Too long a line: answered in the terms of what the session was doing. */
static void
imap_line_too_long(struct imap_session *s)
{
	char *rest;

	switch (s->io) {
	case IMAP_IO_IDLE:
		imap_reply(s, "* BAD [TOOBIG] Line too long");
		imap_error(s);          /* still idling */
		return;
	case IMAP_IO_AUTH:
		imap_auth_abort(s, "BAD [TOOBIG] Line too long");
		return;
	default:
		break;
	}
	s->cmd[s->cmdlen] = '\0';
	/* Inside a command (after a literal) its tag is known. */
	if (s->cmdlen > 0 && imap_take_tag(s, &rest))
		imap_tagged(s, "BAD [TOOBIG] Line too long");
	else
		imap_reply(s, "* BAD [TOOBIG] Line too long");
	imap_command_reset(s);
	s->io = IMAP_IO_LINE;
	imap_error(s);
}

static void
imap_read(struct imap_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len;

	s->reading = true;
	while (s->io == IMAP_IO_LINE || s->io == IMAP_IO_LITERAL ||
	    s->io == IMAP_IO_IDLE || s->io == IMAP_IO_AUTH) {
		if (evbuffer_get_length(imap_out(s)) > NET_OUTPUT_HIGHWATER) {
			s->out_paused = true;   /* imap_on_write resumes */
			break;
		}
		if (s->io == IMAP_IO_LITERAL) {
			imap_literal_input(s);
			if (s->io == IMAP_IO_LITERAL)
				break;
			continue;
		}
		enum net_line_status st = net_readline(&s->line, in, s->linebuf,
		    s->line_cap, &len);
		/* Checked before any line that follows it is run: the bytes
		 * after an over-long line announcing {n+} are literal data. */
		if (s->line.skipped_line_ended && imap_skipped_nonsync(s))
			break;
		if (st == NET_LINE_MORE)
			break;
		if (st == NET_LINE_TOOLONG) {
			imap_line_too_long(s);
			if (s->io == IMAP_IO_CLOSING)
				break;
			continue;
		}
		if (s->io == IMAP_IO_IDLE)
			imap_idle_line(s, s->linebuf);
		else if (s->io == IMAP_IO_AUTH)
			imap_auth_line(s, s->linebuf);
		else
			imap_line(s, s->linebuf, len);
	}
	s->reading = false;
	/* After EOF, waiting for input means all of it has been answered;
	 * a running command comes back here through imap_done. */
	if (s->peer_eof && !s->out_paused && s->io != IMAP_IO_BUSY &&
	    s->io != IMAP_IO_CLOSING)
		imap_close(s);
}

static void
imap_on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	imap_read(arg);
}

void
imap_set_user(struct imap_session *s, const char *user)
{
	if (s->user != NULL) {
		countmap_add(&s->srv->user_counts, s->user, -1);
		free(s->user);
		s->user = NULL;
	}
	if (user != NULL) {
		s->user = xstrdup(user);
		countmap_add(&s->srv->user_counts, s->user, 1);
	}
}

int
imap_user_count(const struct imap_server *srv, const char *user)
{
	return countmap_get(&srv->user_counts, user);
}

static void
imap_on_accept(void *arg, int fd, const struct sockaddr *sa, bool tls)
{
	struct imap_server *srv = arg;
	const struct store_config *cfg = srv->svc.cfg;
	struct imap_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->id = ++srv->svc.next_id;
	s->literal_fd = -1;
	s->tls = tls;
	s->line_cap = (size_t)cfg->imap_max_line;
	s->linebuf = xmalloc(s->line_cap + 2);
	s->cmdcap = (size_t)cfg->imap_max_command;
	s->cmd = xmalloc(s->cmdcap + 1);
	net_addr_str(sa, s->peer, sizeof(s->peer));
	s->bev = tls ? tls_server_accept(srv->svc.tls, srv->svc.base, fd) :
	    bufferevent_socket_new(srv->svc.base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;
	srv->svc.nsessions++;
	countmap_add(&srv->peer_counts, s->peer, 1);
	imap_setup_bev(s);
	if (srv->svc.nsessions > cfg->imap_max_sessions || srv->svc.draining ||
	    (countmap_get(&srv->peer_counts, s->peer) > cfg->imap_max_per_client &&
	    !config_trusted_proxy(cfg, sa))) {
		imap_reply(s, "* BYE Too many connections, try again later");
		log_warn("imap peer=%s refused: too many sessions", s->peer);
		imap_close(s);
		return;
	}
	log_debug("imap session=%lu peer=%s connected", s->id, s->peer);
	imap_reply(s, "* OK [CAPABILITY %s] %s IMAP4rev1 store ready",
	    imap_capabilities(s), cfg->hostname);
	bufferevent_enable(s->bev, EV_READ);
}

/* IDLE sessions are woken by the commit thread's notices (imap_server_
 * changed); this slow look is only a safety net, one index read of the
 * mailbox record when nothing changed. */
#define IMAP_IDLE_POLL_MS 30000

static void
imap_idle_tick(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;

	(void)fd;
	(void)what;
	if (s->io == IMAP_IO_IDLE)
		imap_sync_view(s);
}

void
imap_idle_watch(struct imap_session *s, bool on)
{
	struct timeval tv = { 0, IMAP_IDLE_POLL_MS * 1000 };

	if (on && s->idle_timer == NULL) {
		s->idle_timer = event_new(s->srv->svc.base, -1, EV_PERSIST,
		    imap_idle_tick, s);
		event_add(s->idle_timer, &tv);
	} else if (!on && s->idle_timer != NULL) {
		event_free(s->idle_timer);
		s->idle_timer = NULL;
	}
}

void
imap_server_changed(struct imap_server *srv, const char *user)
{
	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next)
		if (s->io == IMAP_IO_IDLE && s->view != NULL &&
		    strcmp(s->view->user, user) == 0)
			imap_sync_view(s);
}

uint32_t
imap_recent_floor(struct imap_server *srv, uint64_t mailbox,
    uint32_t index_floor)
{
	for (size_t i = 0; i < srv->nrecent; i++)
		if (srv->recent[i].mailbox == mailbox)
			return srv->recent[i].uid > index_floor ? srv->recent[i].uid :
			    index_floor;
	return index_floor;
}

void
imap_recent_claim(struct imap_server *srv, uint64_t mailbox, uint32_t uid)
{
	for (size_t i = 0; i < srv->nrecent; i++)
		if (srv->recent[i].mailbox == mailbox) {
			if (uid > srv->recent[i].uid)
				srv->recent[i].uid = uid;
			return;
		}
	if (srv->nrecent == srv->caprecent) {
		srv->caprecent = srv->caprecent ? srv->caprecent * 2 : 64;
		srv->recent = xrealloc(srv->recent,
		    srv->caprecent * sizeof(*srv->recent));
	}
	srv->recent[srv->nrecent].mailbox = mailbox;
	srv->recent[srv->nrecent++].uid = uid;
}

void
imap_recent_release(struct imap_server *srv, uint64_t mailbox, uint32_t uid)
{
	for (size_t i = 0; i < srv->nrecent; i++)
		if (srv->recent[i].mailbox == mailbox) {
			if (srv->recent[i].uid <= uid)
				srv->recent[i] = srv->recent[--srv->nrecent];
			return;
		}
}

struct imap_server *
imap_server_new(struct event_base *base, const struct store_config *cfg)
{
	struct imap_server *srv = xcalloc(1, sizeof(*srv));

	service_init(&srv->svc, "imap", base, cfg);
	return srv;
}

bool
imap_server_listen(struct imap_server *srv, struct tls_ctx *tls, char **err)
{
	return service_listen(&srv->svc, tls, srv->svc.cfg->imap_listen,
	    srv->svc.cfg->imap_tls_listen, imap_on_accept, srv, err);
}

void
imap_server_drain(struct imap_server *srv)
{
	struct imap_session *s, *next;

	service_stop_listening(&srv->svc);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->io == IMAP_IO_LINE || s->io == IMAP_IO_IDLE) {
			imap_reply(s, "* BYE Server shutting down");
			imap_close(s);
		}
	}
}


struct service *
imap_server_service(struct imap_server *srv)
{
	return &srv->svc;
}
