/*
 * mailload: a load client for the benchmarks (t/bench/run), one thread,
 * one epoll loop, many connections, each running a scripted session.
 *
 *   mailload MODE HOST PORT -u USERS [options]
 *
 * MODE
 *   imap-login    per session: connect, greeting, LOGIN, SELECT INBOX,
 *                 FETCH 1:10 (FLAGS ENVELOPE), LOGOUT, wait for the close.
 *                 -n sessions in all, -c at a time.  With -L: LOGIN and
 *                 LOGOUT only.
 *   imap-fetch    per connection: LOGIN, SELECT INBOX once; when all -c
 *                 connections are selected the clock starts and they
 *                 repeat UID FETCH <-m> <-f> until -n fetches in all (or
 *                 -t seconds); then LOGOUT.  body_bytes counts the octets
 *                 of the literals received (the message bodies).
 *   imap-idle     -c connections logged in (-p logins at a time), then
 *                 "READY ..." on stdout, then held, idle, until stdin
 *                 reaches end of file; then closed.
 *   pop3-session  per session: greeting, USER, PASS, STAT, RETR 1 (when
 *                 the drop is not empty), DELE 1 (with -D), QUIT.
 *
 * USERS is a file of "user password" lines.  imap-*: session k uses line
 * k mod the number of lines (round robin).  pop3-session: a session takes
 * the user at the head of a queue of free users and puts it back at the
 * tail when its connection is closed, so that no two sessions of one user
 * ever run at once (a POP3 server locks the maildrop: the second would get
 * -ERR [IN-USE]), however slow one session is, and every user gets the
 * same number of sessions, give or take one or two; with fewer users than
 * connections only as many sessions as users run at a time.
 *
 * Options
 *   -c N   concurrent connections (20)
 *   -n N   sessions (imap-login, pop3-session) or fetches (imap-fetch) (1000)
 *   -t S   time limit in seconds (120): no new session or fetch after it
 *   -T S   per-connection I/O timeout in seconds (30)
 *   -m UID message to fetch in imap-fetch (1)
 *   -f ITEM  fetch item in imap-fetch ("BODY[]")
 *   -p N   logins in progress at a time in imap-idle (20)
 *   -D     pop3-session: DELE 1 after RETR 1
 *   -U FILE  pop3-session: at the end write "user deleted" lines to FILE,
 *          the messages deleted per user (DELE 1 then QUIT answered +OK)
 *   -L     imap-login: no SELECT and FETCH
 *   -e N   print the first N error descriptions on stderr (5)
 *
 * Output: one line on stdout at the end (in imap-idle also one "READY"
 * line when every connection is logged in):
 *
 *   mode=M ok=N errors=E secs=S per_s=R bytes=B body_bytes=L fetched=F
 *   cpu=C [dropped=D] [deleted=X]
 *
 * ok counts completed sessions (fetches in imap-fetch, logged-in
 * connections in imap-idle); secs is the wall time of the measured part;
 * bytes everything read from the server, body_bytes the literal (IMAP) or
 * RETR (POP3) octets, fetched the untagged FETCH responses, cpu the user +
 * system seconds of this process; in pop3-session fetched counts the RETR
 * answers and deleted the sessions whose DELE 1 and QUIT were both
 * answered +OK.  Exit status 0 when errors=0.
 *
 * The MMP benchmarks need no new mode: point imap-* or pop3-session at
 * the proxy.  Adding a protocol: a mode (enum mode, main's name table),
 * its states (enum state), a feed function that consumes complete lines
 * from c->in and returns how much it used (imap_feed skips literals
 * without copying them; pop3_feed), called from on_readable, and a
 * per-reply handler that sends the next command with conn_send(), counts
 * ok++ and moves to S_CLOSING on the last reply (the server closes, then
 * the slot is reused by refill()), or calls session_fail().  Every server
 * speaks first, so a new connection just waits in S_GREETING.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_IMAP_LOGIN, M_IMAP_FETCH, M_IMAP_IDLE, M_POP3 };

enum state {
	S_FREE,             /* slot without a connection */
	S_CONNECTING,
	S_GREETING,
	S_LOGIN,
	S_SELECT,
	S_FETCH,
	S_READY,            /* imap-fetch: selected, waiting for the start */
	S_IDLE,             /* imap-idle: logged in, held */
	S_LOGOUT,
	S_CLOSING,          /* logged out, waiting for the server to close */
	/* POP3 */
	S_P_USER,
	S_P_PASS,
	S_P_STAT,
	S_P_RETR,
	S_P_DELE,
	S_P_QUIT,
};

struct user {
	char *name;
	char *pass;
};

struct conn {
	int fd;
	enum state state;
	unsigned user;
	unsigned tag;           /* number of the command in flight */
	char *in;               /* unparsed input */
	size_t inlen, incap;
	size_t lit;             /* literal octets still to skip */
	int midresp;            /* the response goes on after a literal */
	int resp_kind;          /* 't' ours, '*' untagged, '+' continuation, '?' */
	int resp_fetch;         /* untagged FETCH */
	int resp_bye;
	int multiline;          /* POP3: in a multi-line reply */
	unsigned nfetch;        /* FETCH responses to the command in flight */
	long msgs;              /* POP3 STAT count */
	int has_user;           /* pop3-session: holds c->user from the queue */
	int deleted;            /* pop3-session: DELE 1 answered +OK */
	char *out;
	size_t outlen, outoff, outcap;
	double last;            /* last I/O, for the timeout */
	int want_out;           /* EPOLLOUT registered */
	unsigned gen;           /* bumped by conn_close */
};

/* ---- globals: one run of one mode ---- */

static enum mode mode;
static const char *mode_name;
static struct addrinfo *server;
static struct user *users;
static unsigned nusers;
static struct conn *conns;
static int nconns = 20;
static long total = 1000;
static double time_limit = 120, io_timeout = 30;
static unsigned fetch_uid = 1;
static const char *fetch_item = "BODY[]";
static int par_logins = 20;
static int pop3_dele;
static const char *deleted_path;
static unsigned *user_deleted;  /* pop3-session: per user */
static unsigned *user_queue;    /* pop3-session: free users, a ring */
static unsigned uq_head, uq_len;
static long deleted;
static int login_only;
static int max_errmsgs = 5;
static int epfd;

static long started, ok, errors, dropped, fetched;
static unsigned long long bytes_in, body_bytes;
static unsigned long next_user;
static double t_start, t_end, t_deadline, t_last_ok;
static int measuring;           /* imap-fetch: clock started */
static int stopping;            /* no new sessions or fetches */
static int logins_inflight;     /* imap-idle */
static int idle_ready;          /* imap-idle: READY printed */
static int stdin_eof;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "mailload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- connections ---- */

static void start_session(struct conn *c);


static void
conn_events(struct conn *c, int out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0),
	    .data.ptr = c };

	if (out == c->want_out)
		return;
	c->want_out = out;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void
user_release(struct conn *c)
{
	if (!c->has_user)
		return;
	c->has_user = 0;
	user_queue[(uq_head + uq_len++) % nusers] = c->user;
}

static void
conn_close(struct conn *c)
{
	user_release(c);        /* the server has closed, or we have */
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->gen++;
	c->state = S_FREE;
	c->inlen = c->outlen = c->outoff = 0;
	c->lit = 0;
	c->midresp = c->multiline = 0;
	c->want_out = 0;
}

static void
conn_flush(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_events(c, 1);
				return;
			}
			return;         /* the read side sees the error */
		}
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	conn_events(c, 0);
}

static void
conn_send(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = c->outcap - c->outlen;
		va_start(ap, fmt);
		n = vsnprintf(c->out + c->outlen, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf");
		if ((size_t)n < room)
			break;
		c->outcap = c->outcap * 2 + (size_t)n + 64;
		c->out = xrealloc(c->out, c->outcap);
	}
	c->outlen += (size_t)n;
	c->last = now();
	if (c->state != S_CONNECTING)
		conn_flush(c);
}

/* An IMAP command with the next tag. */
static void
imap_cmd(struct conn *c, enum state next, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->tag++;
	c->nfetch = 0;
	c->state = next;
	conn_send(c, "a%u %s\r\n", c->tag, buf);
}

static int
user_literal_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s == '"' || *s == '\\' || *s == '(' ||
		    *s == ')' || *s == '{' || *s == '%' || *s == '*' ||
		    (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static void
note_error(struct conn *c, const char *what, const char *line, size_t len)
{
	static int printed;

	if (printed++ < max_errmsgs)
		fprintf(stderr, "mailload: error (user %s, state %d): %s%s%.*s\n",
		    users[c->user].name, (int)c->state, what,
		    line ? ": " : "", line ? (int)(len > 200 ? 200 : len) : 0,
		    line ? line : "");
}

/* The session in c failed: count it, drop the connection, go on. */
static void
session_fail(struct conn *c, const char *what, const char *line, size_t len)
{
	int was_login = c->state == S_LOGIN || c->state == S_GREETING ||
	    c->state == S_CONNECTING;

	note_error(c, what, line, len);
	if (c->state == S_IDLE || (mode == M_IMAP_FETCH &&
	    (c->state == S_READY || c->state == S_FETCH)))
		dropped++;
	errors++;
	if (mode == M_IMAP_IDLE && was_login)
		logins_inflight--;
	conn_close(c);          /* refill() starts the next session, if any */
}

/* The session in c ended well (the server closed after LOGOUT/QUIT). */
static void
session_done(struct conn *c)
{
	conn_close(c);
}

static int
open_conn(struct conn *c)
{
	int fd = socket(server->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->state = S_CONNECTING;
	c->want_out = 1;
	c->last = now();
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl add: %s", strerror(errno));
	if (connect(fd, server->ai_addr, server->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		session_fail(c, strerror(errno), NULL, 0);
		return -1;
	}
	return 0;
}

/* Start sessions in free slots, as far as the mode allows.  Called from
 * the loop only, never from inside a session's handlers. */
static void
refill(void)
{
	switch (mode) {
	case M_IMAP_LOGIN:
	case M_POP3:
		for (int i = 0; i < nconns; i++)
			if (conns[i].state == S_FREE)
				start_session(&conns[i]);
		break;
	case M_IMAP_FETCH:
	case M_IMAP_IDLE:
		/* one session per slot, never restarted: slot i is session i */
		while (started < nconns && !measuring && (mode == M_IMAP_FETCH ||
		    logins_inflight < par_logins))
			start_session(&conns[started]);
		break;
	}
}

static void
start_session(struct conn *c)
{
	if (stopping)
		return;
	switch (mode) {
	case M_IMAP_LOGIN:
		if (started >= total || now() >= t_deadline)
			return;
		break;
	case M_POP3:
		if (started >= total || now() >= t_deadline || uq_len == 0)
			return;
		break;
	case M_IMAP_FETCH:
		break;
	case M_IMAP_IDLE:
		logins_inflight++;
		break;
	}
	started++;
	if (mode == M_POP3) {
		c->user = user_queue[uq_head];
		uq_head = (uq_head + 1) % nusers;
		uq_len--;
		c->has_user = 1;
		c->deleted = 0;
	} else {
		c->user = (unsigned)(next_user++ % nusers);
	}
	c->tag = 0;
	open_conn(c);
}

/* ---- IMAP ---- */

static int
prefix(const char *line, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && strncasecmp(line, p, n) == 0;
}

/* Classify the first line of a response. */
static void
imap_classify(struct conn *c, const char *line, size_t len)
{
	char tag[16];
	int n = snprintf(tag, sizeof(tag), "a%u ", c->tag);

	c->resp_fetch = c->resp_bye = 0;
	if (len >= 2 && line[0] == '*' && line[1] == ' ') {
		c->resp_kind = '*';
		const char *p = line + 2, *e = line + len;
		if (prefix(p, (size_t)(e - p), "BYE"))
			c->resp_bye = 1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p > line + 2 && prefix(p, (size_t)(e - p), " FETCH"))
			c->resp_fetch = 1;
	} else if (len >= 1 && line[0] == '+') {
		c->resp_kind = '+';
	} else if (len >= (size_t)n && memcmp(line, tag, (size_t)n) == 0) {
		c->resp_kind = 't';
	} else {
		c->resp_kind = '?';
	}
}

/* A whole response (all its lines and literals) has been read; line is its
 * first line when it is a single line, or its last line otherwise (the
 * state decisions only need tagged lines and greetings, which have no
 * literals). */
static void
imap_response(struct conn *c, const char *line, size_t len)
{
	if (c->resp_kind == '*') {
		if (c->resp_fetch) {
			c->nfetch++;
			fetched++;
		}
		if (c->state == S_GREETING) {
			if (c->resp_bye) {
				session_fail(c, "BYE at greeting", line, len);
				return;
			}
			if (user_literal_ok(users[c->user].name) &&
			    user_literal_ok(users[c->user].pass))
				imap_cmd(c, S_LOGIN, "LOGIN %s %s",
				    users[c->user].name, users[c->user].pass);
			else
				imap_cmd(c, S_LOGIN, "LOGIN \"%s\" \"%s\"",
				    users[c->user].name, users[c->user].pass);
			return;
		}
		if (c->resp_bye && c->state != S_LOGOUT && c->state != S_CLOSING) {
			session_fail(c, "unexpected BYE", line, len);
			return;
		}
		return;
	}
	if (c->resp_kind == '+') {
		session_fail(c, "unexpected continuation", line, len);
		return;
	}
	if (c->resp_kind != 't') {
		session_fail(c, "unexpected response", line, len);
		return;
	}
	/* tagged: "aN OK ..." */
	const char *st = memchr(line, ' ', len);
	size_t rest = len - (size_t)(st + 1 - line);
	if (!prefix(st + 1, rest, "OK")) {
		session_fail(c, "command failed", line, len);
		return;
	}
	switch (c->state) {
	case S_LOGIN:
		if (mode == M_IMAP_IDLE) {
			c->state = S_IDLE;
			logins_inflight--;
			ok++;
			return;
		}
		if (login_only && mode == M_IMAP_LOGIN)
			imap_cmd(c, S_LOGOUT, "LOGOUT");
		else
			imap_cmd(c, S_SELECT, "SELECT INBOX");
		return;
	case S_SELECT:
		if (mode == M_IMAP_FETCH) {
			c->state = S_READY;
			return;         /* main() starts the fetches */
		}
		imap_cmd(c, S_FETCH, "FETCH 1:10 (FLAGS ENVELOPE)");
		return;
	case S_FETCH:
		if (mode == M_IMAP_LOGIN) {
			if (c->nfetch != 10) {
				char why[64];
				snprintf(why, sizeof(why), "%u FETCH responses, not 10",
				    c->nfetch);
				session_fail(c, why, line, len);
				return;
			}
			imap_cmd(c, S_LOGOUT, "LOGOUT");
			return;
		}
		/* imap-fetch */
		if (c->nfetch < 1) {    /* a separate FLAGS (\Seen) one may come too */
			session_fail(c, "no FETCH response", line, len);
			return;
		}
		ok++;
		t_last_ok = now();
		if (!stopping && started < total && t_last_ok < t_deadline) {
			started++;
			imap_cmd(c, S_FETCH, "UID FETCH %u %s", fetch_uid, fetch_item);
		} else {
			imap_cmd(c, S_LOGOUT, "LOGOUT");
		}
		return;
	case S_LOGOUT:
		if (mode == M_IMAP_LOGIN)
			ok++;
		c->state = S_CLOSING;
		return;
	default:
		session_fail(c, "tagged response in wrong state", line, len);
		return;
	}
}

/* An IMAP response line ends with {N} (or {N+}): a literal follows. */
static int
imap_literal(const char *line, size_t len, size_t *n)
{
	if (len < 3 || line[len - 1] != '}')
		return 0;
	size_t i = len - 2, v = 0, mul = 1;
	if (line[i] == '+')
		i--;
	size_t end = i;
	while (i > 0 && line[i] >= '0' && line[i] <= '9') {
		v += (size_t)(line[i] - '0') * mul;
		mul *= 10;
		i--;
	}
	if (i == end || line[i] != '{')
		return 0;
	*n = v;
	return 1;
}

/* Consume what can be consumed of c->in; returns the offset reached.
 * Literals are skipped without being copied. */
static size_t
imap_feed(struct conn *c)
{
	size_t pos = 0;
	unsigned gen = c->gen;

	while (pos < c->inlen && c->gen == gen) {
		if (c->lit > 0) {
			size_t k = c->inlen - pos;
			if (k > c->lit)
				k = c->lit;
			c->lit -= k;
			body_bytes += k;
			pos += k;
			continue;
		}
		char *line = c->in + pos;
		char *nl = memchr(line, '\n', c->inlen - pos);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - line);
		pos += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (!c->midresp)
			imap_classify(c, line, len);
		size_t n;
		if (imap_literal(line, len, &n)) {
			c->lit = n;
			c->midresp = 1;
			continue;
		}
		c->midresp = 0;
		imap_response(c, line, len);
	}
	return pos;
}

/* ---- POP3 ---- */

static void
pop3_on_line(struct conn *c, const char *line, size_t len)
{
	if (c->multiline) {
		if (len == 1 && line[0] == '.') {
			c->multiline = 0;
			if (pop3_dele) {
				c->state = S_P_DELE;
				conn_send(c, "DELE 1\r\n");
			} else {
				c->state = S_P_QUIT;
				conn_send(c, "QUIT\r\n");
			}
		} else {
			body_bytes += len + 2;
		}
		return;
	}
	if (!prefix(line, len, "+OK")) {
		session_fail(c, "-ERR", line, len);
		return;
	}
	switch (c->state) {
	case S_GREETING:
		c->state = S_P_USER;
		conn_send(c, "USER %s\r\n", users[c->user].name);
		return;
	case S_P_USER:
		c->state = S_P_PASS;
		conn_send(c, "PASS %s\r\n", users[c->user].pass);
		return;
	case S_P_PASS:
		c->state = S_P_STAT;
		conn_send(c, "STAT\r\n");
		return;
	case S_P_STAT:
		c->msgs = len > 4 ? strtol(line + 4, NULL, 10) : 0;
		if (c->msgs > 0) {
			c->state = S_P_RETR;
			conn_send(c, "RETR 1\r\n");
		} else {
			c->state = S_P_QUIT;
			conn_send(c, "QUIT\r\n");
		}
		return;
	case S_P_RETR:
		c->multiline = 1;
		fetched++;
		return;
	case S_P_DELE:
		c->deleted = 1;
		c->state = S_P_QUIT;
		conn_send(c, "QUIT\r\n");
		return;
	case S_P_QUIT:
		ok++;
		if (c->deleted) {
			deleted++;
			user_deleted[c->user]++;
		}
		c->state = S_CLOSING;
		return;
	default:
		session_fail(c, "reply in wrong state", line, len);
		return;
	}
}

static size_t
pop3_feed(struct conn *c)
{
	size_t pos = 0;
	unsigned gen = c->gen;

	while (pos < c->inlen && c->gen == gen) {
		char *line = c->in + pos;
		char *nl = memchr(line, '\n', c->inlen - pos);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - line);
		pos += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		pop3_on_line(c, line, len);
	}
	return pos;
}

/* ---- the loop ---- */

static void
on_readable(struct conn *c)
{
	for (;;) {
		if (c->incap - c->inlen < 16384) {
			if (c->incap >= (8u << 20)) {
				session_fail(c, "line over 8 MiB", NULL, 0);
				return;
			}
			c->incap = c->incap ? c->incap * 2 : 65536;
			c->in = xrealloc(c->in, c->incap);
		}
		ssize_t n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			if (c->state == S_CLOSING) {
				session_done(c);
				return;
			}
			session_fail(c, strerror(errno), NULL, 0);
			return;
		}
		if (n == 0) {
			if (c->state == S_CLOSING) {
				session_done(c);
				return;
			}
			session_fail(c, "connection closed by the server", c->in,
			    c->inlen);
			return;
		}
		bytes_in += (size_t)n;
		c->inlen += (size_t)n;
		c->last = now();
		unsigned gen = c->gen;
		size_t used = mode == M_POP3 ? pop3_feed(c) : imap_feed(c);
		if (c->gen != gen)
			return;         /* the session ended in there */
		if (used > 0) {
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
		}
		if ((size_t)n < 16384)
			return;         /* probably drained; epoll tells us if not */
	}
}

static void
on_event(struct conn *c, uint32_t ev)
{
	if (c->fd < 0)
		return;
	if (c->state == S_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0) {
			session_fail(c, strerror(err), NULL, 0);
			return;
		}
		if (!(ev & (EPOLLOUT | EPOLLIN | EPOLLHUP | EPOLLERR)))
			return;
		c->state = S_GREETING;
		conn_flush(c);
		if (c->fd < 0)
			return;
	}
	if (ev & EPOLLOUT)
		conn_flush(c);
	if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		on_readable(c);
}

static void
check_timeouts(double t)
{
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		if (c->fd < 0 || c->state == S_IDLE || c->state == S_READY)
			continue;
		if (t - c->last > io_timeout) {
			if (c->state == S_CLOSING)
				session_done(c);
			else
				session_fail(c, "timeout", NULL, 0);
		}
	}
}

static int
active(void)
{
	int n = 0;
	for (int i = 0; i < nconns; i++)
		if (conns[i].fd >= 0 && conns[i].state != S_IDLE)
			n++;
	return n;
}

static void
load_users(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t cap = 0;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *u = strtok(line, " \t\r\n");
		char *p = strtok(NULL, " \t\r\n");
		if (u == NULL || *u == '#')
			continue;
		if (p == NULL)
			die("%s: \"%s\" has no password", path, u);
		if (nusers == cap) {
			cap = cap ? cap * 2 : 256;
			users = xrealloc(users, cap * sizeof(*users));
		}
		users[nusers].name = strdup(u);
		users[nusers].pass = strdup(p);
		nusers++;
	}
	fclose(f);
	if (nusers == 0)
		die("%s: no users", path);
}

static void
usage(void)
{
	fprintf(stderr, "usage: mailload imap-login|imap-fetch|imap-idle|"
	    "pop3-session HOST PORT -u USERS [-c conns] [-n count] [-t secs]\n"
	    "       [-T io_timeout] [-m uid] [-f item] [-p logins] [-D] [-U file]\n"
	    "       [-L] [-e n]\n");
	exit(2);
}

static void
print_result(double secs)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if (secs <= 0)
		secs = 1e-9;
	printf("mode=%s ok=%ld errors=%ld secs=%.3f per_s=%.1f bytes=%llu "
	    "body_bytes=%llu fetched=%ld cpu=%.3f", mode_name, ok, errors, secs,
	    ok / secs, bytes_in, body_bytes, fetched, cpu);
	if (mode == M_IMAP_IDLE || mode == M_IMAP_FETCH)
		printf(" dropped=%ld", dropped);
	if (mode == M_POP3)
		printf(" deleted=%ld", deleted);
	printf("\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	const char *userfile = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "c:n:t:T:u:m:f:p:DU:Le:")) != -1) {
		switch (opt) {
		case 'c': nconns = atoi(optarg); break;
		case 'n': total = atol(optarg); break;
		case 't': time_limit = atof(optarg); break;
		case 'T': io_timeout = atof(optarg); break;
		case 'u': userfile = optarg; break;
		case 'm': fetch_uid = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': fetch_item = optarg; break;
		case 'p': par_logins = atoi(optarg); break;
		case 'D': pop3_dele = 1; break;
		case 'U': deleted_path = optarg; break;
		case 'L': login_only = 1; break;
		case 'e': max_errmsgs = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 3 || userfile == NULL || nconns < 1 || total < 1 ||
	    par_logins < 1)
		usage();
	mode_name = argv[optind];
	if (strcmp(mode_name, "imap-login") == 0)
		mode = M_IMAP_LOGIN;
	else if (strcmp(mode_name, "imap-fetch") == 0)
		mode = M_IMAP_FETCH;
	else if (strcmp(mode_name, "imap-idle") == 0)
		mode = M_IMAP_IDLE;
	else if (strcmp(mode_name, "pop3-session") == 0)
		mode = M_POP3;
	else
		usage();
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(argv[optind + 1], argv[optind + 2], &hints, &server);
	if (rc != 0)
		die("%s:%s: %s", argv[optind + 1], argv[optind + 2], gai_strerror(rc));
	load_users(userfile);
	user_deleted = calloc(nusers, sizeof(*user_deleted));
	user_queue = calloc(nusers, sizeof(*user_queue));
	if (user_deleted == NULL || user_queue == NULL)
		die("out of memory");
	for (unsigned i = 0; i < nusers; i++)
		user_queue[i] = i;
	uq_len = nusers;
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	conns = calloc((size_t)nconns, sizeof(*conns));
	if (conns == NULL)
		die("out of memory");
	for (int i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].outcap = 1024;
		conns[i].out = xrealloc(NULL, conns[i].outcap);
	}
	if (mode == M_IMAP_IDLE) {
		int fl = fcntl(0, F_GETFL);
		fcntl(0, F_SETFL, fl | O_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0)
			stdin_eof = 1;      /* not pollable (a file): no hold */
	}

	t_start = now();
	t_deadline = t_start + time_limit;
	refill();

	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(epfd, evs, 256, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {          /* stdin */
				char buf[4096];
				ssize_t r = read(0, buf, sizeof(buf));
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					stdin_eof = 1;
					epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
				}
				continue;
			}
			on_event(evs[i].data.ptr, evs[i].events);
		}
		double t = now();
		check_timeouts(t);
		refill();
		if (mode == M_IMAP_FETCH && !measuring) {
			int ready = 0, live = 0;
			for (int i = 0; i < nconns; i++) {
				if (conns[i].fd >= 0)
					live++;
				if (conns[i].state == S_READY)
					ready++;
			}
			if (started >= nconns && ready == live) {
				if (live == 0)
					break;
				measuring = 1;
				started = 0;
				t_start = t;
				t_deadline = t + time_limit;
				for (int i = 0; i < nconns; i++)
					if (conns[i].state == S_READY) {
						started++;
						imap_cmd(&conns[i], S_FETCH, "UID FETCH %u %s",
						    fetch_uid, fetch_item);
					}
			}
			continue;
		}
		if (mode == M_IMAP_IDLE) {
			if (!idle_ready && started >= nconns && logins_inflight == 0) {
				idle_ready = 1;
				t_end = t;
				printf("READY ");
				print_result(t_end - t_start);
			}
			if (idle_ready && stdin_eof)
				break;
			if (t > t_deadline + io_timeout && !idle_ready)
				break;
			continue;
		}
		if (t >= t_deadline && !stopping) {
			/* let what is in flight finish, start nothing more */
			stopping = 1;
		}
		if (active() == 0)
			break;
	}
	if (mode == M_IMAP_FETCH)
		t_end = t_last_ok > t_start ? t_last_ok : t_start;  /* LOGOUTs not timed */
	else if (mode != M_IMAP_IDLE)
		t_end = now();
	for (int i = 0; i < nconns; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	print_result(t_end - t_start);
	if (deleted_path != NULL) {
		FILE *f = fopen(deleted_path, "w");
		if (f == NULL)
			die("%s: %s", deleted_path, strerror(errno));
		for (unsigned i = 0; i < nusers; i++)
			fprintf(f, "%s %u\n", users[i].name, user_deleted[i]);
		if (fclose(f) != 0)
			die("%s: %s", deleted_path, strerror(errno));
	}
	return errors == 0 ? 0 : 1;
}
