/*
 * smtp_client: a blocking SMTP/LMTP client conversation (smtp_client.h).
 *
 * Owns its socket (non-blocking, every wait a poll() bounded by the
 * timeout) and a read buffer of fixed size: a reply line longer than
 * SMTP_CLIENT_LINE_MAX or a reply of more than SMTP_CLIENT_REPLY_LINES
 * lines ends the conversation as a protocol error.  Timeouts: connecting
 * to one address, reading one whole reply, and each write's progress.
 * The first failure closes the socket; later calls fail with the same
 * reason, so a caller may check only at the end of a sequence.  After
 * STARTTLS every byte goes through a tls_blocking session on the same
 * socket; the waits are the same polls.  Commands wait in a small buffer
 * until a reply is read (or a body sent): pipelined commands (RFC 2920)
 * leave in one write, so the server reads and answers them at once.
 */
#include "smtp_client.h"

#include "queue.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "proc.h"
#include "tls_blocking.h"
#include "xmalloc.h"

#define SMTP_CLIENT_RBUF    (SMTP_CLIENT_LINE_MAX + 2 + 4096)
#define SMTP_CLIENT_CHUNK   (64 * 1024)

struct smtp_client {
	char *label;
	int timeout_ms;
	int fd;                         /* -1: not connected, or failed */
	struct tls_blocking *tls;       /* NULL: plain */
	unsigned ext;                   /* enum smtp_client_ext bits */
	uint64_t max_size;
	char err[SMTP_CLIENT_ERROR_MAX];
	size_t rstart, rend;            /* unread bytes of rbuf */
	char rbuf[SMTP_CLIENT_RBUF];
	size_t wlen;                    /* commands not yet sent */
	char wbuf[SMTP_CLIENT_LINE_MAX + 2];
};

static const struct {
	const char *keyword;
	enum smtp_client_ext ext;
} smtp_client_exts[] = {
	{ "PIPELINING", SMTP_EXT_PIPELINING },
	{ "8BITMIME", SMTP_EXT_8BITMIME },
	{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
	{ "DSN", SMTP_EXT_DSN },
	{ "SIZE", SMTP_EXT_SIZE },
	{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
	{ "CHUNKING", SMTP_EXT_CHUNKING },
	{ "STARTTLS", SMTP_EXT_STARTTLS },
};

struct smtp_client *
smtp_client_new(const char *label, int timeout_s)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->label = xstrdup(label);
	c->timeout_ms = (timeout_s > 0 ? timeout_s : 300) * 1000;
	c->fd = -1;
	snprintf(c->err, sizeof(c->err), "%s: not connected", label);
	return c;
}

void
smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	tls_blocking_free(&c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c->label);
	free(c);
}

void
smtp_client_set_timeout(struct smtp_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms >= 1000 ? timeout_ms : 1000;
}

const char *
smtp_client_error(const struct smtp_client *c)
{
	return c->err;
}

bool
smtp_client_has(const struct smtp_client *c, enum smtp_client_ext ext)
{
	return (c->ext & (unsigned)ext) != 0;
}

uint64_t
smtp_client_max_size(const struct smtp_client *c)
{
	return c->max_size;
}

/* Record why, close the socket, return false. */
static bool __attribute__((format(printf, 2, 3)))
smtp_client_fail(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof(c->err), "%s: ", c->label);

	if (n >= 0 && (size_t)n < sizeof(c->err)) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	tls_blocking_free(&c->tls);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->wlen = 0;
	return false;
}

/* "after 300s", "after 1.5s": the timeout, for error messages. */
static void
smtp_client_after(const struct smtp_client *c, char *buf, size_t len)
{
	if (c->timeout_ms % 1000 == 0)
		snprintf(buf, len, "%ds", c->timeout_ms / 1000);
	else
		snprintf(buf, len, "%d.%ds", c->timeout_ms / 1000,
		    c->timeout_ms % 1000 / 100);
}

static bool
smtp_client_timeout(struct smtp_client *c, int w, const char *doing)
{
	char after[32];

	if (w < 0)
		return smtp_client_fail(c, "poll: %s", strerror(errno));
	smtp_client_after(c, after, sizeof(after));
	return smtp_client_fail(c, "timeout after %s %s", after, doing);
}

/* Wait for events on the socket until deadline: 1 ready, 0 timeout,
 * -1 error (errno). */
static int
smtp_client_wait(struct smtp_client *c, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - proc_monotonic_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = c->fd, .events = events };
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* ---- connecting ---- */

static void
smtp_client_addr(const struct addrinfo *ai, int port, char *buf, size_t len)
{
	char host[64];

	net_addr_str(ai->ai_addr, host, sizeof(host));
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Commands, a message body and its final "." often leave in separate
 * writes before a reply is awaited: with Nagle's algorithm the last small
 * write waits for the server's delayed ACK (40 ms on Linux), which would
 * bound a client at some 20 transactions a second. */
static void
smtp_client_nodelay(const struct smtp_client *c, const struct addrinfo *ai)
{
	int one = 1;

	if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
}

/* One address within the timeout; 0 or an errno (ETIMEDOUT). */
static int
smtp_client_try(struct smtp_client *c, const struct addrinfo *ai)
{
	int e;
	socklen_t elen = sizeof(e);

	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd < 0)
		return errno;
	smtp_client_nodelay(c, ai);
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		e = errno;
	else if ((e = smtp_client_wait(c, POLLOUT,
	    proc_monotonic_ms() + c->timeout_ms)) == 1)
		e = getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 ?
		    errno : e;
	else
		e = e == 0 ? ETIMEDOUT : errno;
	if (e != 0) {
		close(c->fd);
		c->fd = -1;
	}
	return e;
}

static bool
smtp_client_connect_flags(struct smtp_client *c, const char *host, int port,
    int flags)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV | flags };
	struct addrinfo *res, *ai;
	char service[16], where[96];
	int e, gai;

	if (c->fd >= 0)
		return smtp_client_fail(c, "already connected");
	snprintf(service, sizeof(service), "%d", port);
	if ((gai = getaddrinfo(host, service, &hints, &res)) != 0)
		return smtp_client_fail(c, "getaddrinfo(\"%s\"): %s", host,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	c->rstart = c->rend = c->wlen = 0;
	c->ext = 0;
	c->max_size = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		smtp_client_addr(ai, port, where, sizeof(where));
		if ((e = smtp_client_try(c, ai)) == 0)
			break;
		/* Keep the last address's reason; try the next. */
		smtp_client_fail(c, "connect(%s): %s", where,
		    e == ETIMEDOUT ? "Connection timed out" : strerror(e));
	}
	freeaddrinfo(res);
	return c->fd >= 0;
}

bool
smtp_client_connect(struct smtp_client *c, const char *host, int port)
{
	return smtp_client_connect_flags(c, host, port, AI_ADDRCONFIG);
}

bool
smtp_client_connect_addr(struct smtp_client *c, const char *addr, int port)
{
	return smtp_client_connect_flags(c, addr, port, AI_NUMERICHOST);
}

/* ---- replies ---- */

static bool smtp_client_flush(struct smtp_client *c);

bool
smtp_reply_parse_line(const char *line, int *code, bool *last,
    const char **text)
{
	if (line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return false;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	switch (line[3]) {
	case '\0':
		*last = true;
		*text = line + 3;
		return true;
	case ' ':
	case '-':
		*last = line[3] == ' ';
		*text = line + 4;
		return true;
	default:
		return false;
	}
}

/* Some bytes from the plain socket: a want (as TLS would say), *n; a
 * socket error fails the conversation here (ERROR, the socket closed). */
static enum tls_blocking_want
smtp_client_recv_some(struct smtp_client *c, char *buf, size_t len,
    size_t *n)
{
	ssize_t r = recv(c->fd, buf, len, 0);

	if (r > 0) {
		*n = (size_t)r;
		return TLS_BLOCKING_DONE;
	}
	if (r == 0)
		return TLS_BLOCKING_EOF;
	if (errno == EAGAIN || errno == EINTR)
		return TLS_BLOCKING_READ;
	smtp_client_fail(c, "recv: %s", strerror(errno));
	return TLS_BLOCKING_ERROR;
}

/* Some bytes at rbuf + rend (through TLS when on), by deadline. */
static bool
smtp_client_fill(struct smtp_client *c, long long deadline)
{
	size_t room = sizeof(c->rbuf) - c->rend, got = 0;
	enum tls_blocking_want want;
	int w;

	for (;;) {
		want = c->tls != NULL ?
		    tls_blocking_read(c->tls, c->rbuf + c->rend, room, &got) :
		    smtp_client_recv_some(c, c->rbuf + c->rend, room, &got);
		switch (want) {
		case TLS_BLOCKING_DONE:
			c->rend += got;
			return true;
		case TLS_BLOCKING_EOF:
			return smtp_client_fail(c, "connection closed by the "
			    "server while waiting for a reply");
		case TLS_BLOCKING_ERROR:
			return c->tls == NULL ? false : smtp_client_fail(c,
			    "TLS: %s", tls_blocking_error(c->tls));
		case TLS_BLOCKING_READ:
		case TLS_BLOCKING_WRITE:
			w = smtp_client_wait(c, want == TLS_BLOCKING_WRITE ?
			    POLLOUT : POLLIN, deadline);
			if (w <= 0)
				return smtp_client_timeout(c, w,
				    "waiting for a reply");
			break;
		}
	}
}

/* One line into *line (NUL-terminated in rbuf, CR LF stripped), valid
 * until the next read; the whole reply must come by deadline. */
static bool
smtp_client_line(struct smtp_client *c, long long deadline, char **line)
{
	for (;;) {
		char *p = c->rbuf + c->rstart;
		size_t have = c->rend - c->rstart;
		char *lf = memchr(p, '\n', have);
		if (lf != NULL) {
			size_t len = (size_t)(lf - p);
			c->rstart += len + 1;
			if (len > 0 && p[len - 1] == '\r')
				len--;
			if (len > SMTP_CLIENT_LINE_MAX)
				break;
			p[len] = '\0';
			*line = p;
			return true;
		}
		if (have > SMTP_CLIENT_LINE_MAX + 1)
			break;
		memmove(c->rbuf, p, have);
		c->rstart = 0;
		c->rend = have;
		if (!smtp_client_fill(c, deadline))
			return false;
	}
	return smtp_client_fail(c, "reply line longer than %d bytes",
	    SMTP_CLIENT_LINE_MAX);
}

/* An EHLO/LHLO line after the first: "KEYWORD [params]". */
static void
smtp_client_ext_line(struct smtp_client *c, const char *text)
{
	size_t kwlen = strcspn(text, " ");

	for (size_t i = 0; i < sizeof(smtp_client_exts) /
	    sizeof(smtp_client_exts[0]); i++) {
		const char *kw = smtp_client_exts[i].keyword;
		if (strlen(kw) != kwlen || strncasecmp(text, kw, kwlen) != 0)
			continue;
		c->ext |= (unsigned)smtp_client_exts[i].ext;
		if (smtp_client_exts[i].ext == SMTP_EXT_SIZE && text[kwlen] == ' ')
			c->max_size = strtoull(text + kwlen + 1, NULL, 10);
	}
}

static void
smtp_client_text_add(struct smtp_reply *r, size_t *len, const char *text)
{
	int n = snprintf(r->text + *len, sizeof(r->text) - *len, "%s%s",
	    r->nlines > 1 ? "\n" : "", text);

	if (n > 0)
		*len += (size_t)n < sizeof(r->text) - *len ? (size_t)n :
		    sizeof(r->text) - *len - 1;
}

static bool
smtp_client_reply(struct smtp_client *c, struct smtp_reply *r, bool hello)
{
	long long deadline = proc_monotonic_ms() + c->timeout_ms;
	size_t len = 0;
	char *line = NULL, quoted[80];
	const char *text;
	bool last = false;
	int code;

	memset(r, 0, sizeof(*r) - sizeof(r->text));
	r->text[0] = '\0';
	if (!smtp_client_flush(c))
		return false;
	while (!last) {
		if (c->fd < 0)
			return false;
		if (!smtp_client_line(c, deadline, &line))
			return false;
		if (!smtp_reply_parse_line(line, &code, &last, &text) ||
		    (r->nlines > 0 && code != r->code)) {
			net_printable(line, quoted, sizeof(quoted), 60);
			return smtp_client_fail(c, "malformed reply \"%s\"", quoted);
		}
		if (++r->nlines > SMTP_CLIENT_REPLY_LINES)
			return smtp_client_fail(c, "reply of more than %d lines",
			    SMTP_CLIENT_REPLY_LINES);
		r->code = code;
		smtp_client_text_add(r, &len, text);
		if (hello && r->nlines > 1)
			smtp_client_ext_line(c, text);
	}
	return true;
}

bool
smtp_client_read_reply(struct smtp_client *c, struct smtp_reply *r)
{
	return smtp_client_reply(c, r, false);
}

/* ---- writing ---- */

/* Some of buf into the plain socket: like smtp_client_recv_some. */
static enum tls_blocking_want
smtp_client_send_some(struct smtp_client *c, const char *buf, size_t len,
    size_t *n)
{
	ssize_t r = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (r > 0) {
		*n = (size_t)r;
		return TLS_BLOCKING_DONE;
	}
	if (r < 0 && errno != EAGAIN && errno != EINTR) {
		smtp_client_fail(c, "send: %s", errno == EPIPE ?
		    "connection closed by the server" : strerror(errno));
		return TLS_BLOCKING_ERROR;
	}
	return TLS_BLOCKING_WRITE;
}

static bool
smtp_client_write(struct smtp_client *c, const char *buf, size_t len)
{
	enum tls_blocking_want want;
	size_t n = 0;
	int w;

	while (len > 0) {
		if (c->fd < 0)
			return false;
		want = c->tls != NULL ? tls_blocking_write(c->tls, buf, len, &n) :
		    smtp_client_send_some(c, buf, len, &n);
		switch (want) {
		case TLS_BLOCKING_DONE:
			buf += n;
			len -= n;
			break;
		case TLS_BLOCKING_EOF:
		case TLS_BLOCKING_ERROR:
			return c->tls == NULL ? false : smtp_client_fail(c,
			    "TLS: %s", tls_blocking_error(c->tls));
		case TLS_BLOCKING_READ:
		case TLS_BLOCKING_WRITE:
			w = smtp_client_wait(c, want == TLS_BLOCKING_READ ?
			    POLLIN : POLLOUT, proc_monotonic_ms() + c->timeout_ms);
			if (w <= 0)
				return smtp_client_timeout(c, w, "sending");
			break;
		}
	}
	return true;
}

/* The commands waiting in wbuf go out. */
static bool
smtp_client_flush(struct smtp_client *c)
{
	size_t len = c->wlen;

	c->wlen = 0;
	return smtp_client_write(c, c->wbuf, len);
}

bool
smtp_client_command(struct smtp_client *c, const char *line)
{
	size_t len = strlen(line);

	if (c->fd < 0)
		return false;
	if (strpbrk(line, "\r\n") != NULL || len > SMTP_CLIENT_LINE_MAX)
		return smtp_client_fail(c, "command not sent: %s",
		    len > SMTP_CLIENT_LINE_MAX ? "too long" : "holds CR or LF");
	if (c->wlen + len + 2 > sizeof(c->wbuf) && !smtp_client_flush(c))
		return false;
	memcpy(c->wbuf + c->wlen, line, len);
	memcpy(c->wbuf + c->wlen + len, "\r\n", 2);
	c->wlen += len + 2;
	return true;
}

bool
smtp_client_cmd_reply(struct smtp_client *c, const char *line,
    struct smtp_reply *r)
{
	return smtp_client_command(c, line) && smtp_client_reply(c, r, false);
}

bool
smtp_client_hello(struct smtp_client *c, const char *verb, const char *name,
    struct smtp_reply *r)
{
	char line[SMTP_CLIENT_LINE_MAX + 1];

	snprintf(line, sizeof(line), "%s %s", verb, name);
	c->ext = 0;
	c->max_size = 0;
	if (!smtp_client_command(c, line) || !smtp_client_reply(c, r, true))
		return false;
	if (r->code / 100 != 2)
		c->ext = 0;
	return true;
}

/* ---- TLS ---- */

bool
smtp_client_starttls(struct smtp_client *c, struct tls_blocking_ctx *ctx,
    const char *name)
{
	long long deadline = proc_monotonic_ms() + c->timeout_ms;
	enum tls_blocking_want want;
	int w;

	if (c->fd < 0)
		return false;
	if (c->tls != NULL)
		return smtp_client_fail(c, "STARTTLS: TLS is on already");
	if (c->wlen > 0)        /* a caller's bug: never send them in clear */
		return smtp_client_fail(c, "STARTTLS: commands not sent");
	/* Whatever came after the go-ahead in plaintext is an injection
	 * (CVE-2011-0411), never a reply of the TLS session. */
	c->rstart = c->rend = 0;
	c->ext = 0;
	c->max_size = 0;
	c->tls = tls_blocking_new(ctx, c->fd, name);
	while ((want = tls_blocking_handshake(c->tls)) != TLS_BLOCKING_DONE) {
		if (want == TLS_BLOCKING_ERROR || want == TLS_BLOCKING_EOF)
			return smtp_client_fail(c, "TLS handshake: %s",
			    tls_blocking_error(c->tls));
		w = smtp_client_wait(c, want == TLS_BLOCKING_WRITE ? POLLOUT :
		    POLLIN, deadline);
		if (w <= 0)
			return smtp_client_timeout(c, w, "in the TLS handshake");
	}
	return true;
}

bool
smtp_client_tls_active(const struct smtp_client *c)
{
	return c->tls != NULL;
}

void
smtp_client_tls_describe(const struct smtp_client *c, char *buf, size_t len)
{
	if (c->tls == NULL)
		snprintf(buf, len, "no");
	else
		tls_blocking_describe(c->tls, buf, len);
}

/* ---- the body ---- */

size_t
smtp_stuff(struct smtp_stuff *st, const char *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		if (ch == '\n') {
			if (!st->after_cr)
				out[n++] = '\r';
			out[n++] = '\n';
			st->mid_line = false;
		} else {
			/* RFC 5321 4.5.2: a line's leading period doubled. */
			if (ch == '.' && !st->mid_line)
				out[n++] = '.';
			out[n++] = ch;
			st->mid_line = true;
		}
		st->after_cr = ch == '\r';
	}
	return n;
}

size_t
smtp_stuff_end(const struct smtp_stuff *st, char *out)
{
	size_t n = 0;

	if (st->after_cr)
		out[n++] = '\n';
	else if (st->mid_line)
		out[n++] = '\r', out[n++] = '\n';
	memcpy(out + n, ".\r\n", 3);
	return n + 3;
}

/* Up to len bytes of fd at offset into buf; -1 (the conversation
 * failed) on a read error. */
static ssize_t
smtp_client_pread(struct smtp_client *c, int fd, char *buf, size_t len,
    off_t offset)
{
	ssize_t n;

	while ((n = pread(fd, buf, len, offset)) < 0 && errno == EINTR)
		;
	if (n < 0)
		smtp_client_fail(c, "reading the message: %s", strerror(errno));
	return n;
}

bool
smtp_client_send_body(struct smtp_client *c, int fd, off_t offset)
{
	struct smtp_stuff st = { 0 };
	char *in = xmalloc(SMTP_CLIENT_CHUNK);
	/* Room for a stuffed chunk and the end: a small message, the usual
	 * case, leaves in one write, its "." with it. */
	char *out = xmalloc(2 * SMTP_CLIENT_CHUNK + SMTP_STUFF_END_MAX);
	size_t have = 0;
	bool ok = smtp_client_flush(c);
	ssize_t n;

	while (ok && (n = smtp_client_pread(c, fd, in, SMTP_CLIENT_CHUNK,
	    offset)) != 0) {
		if (n < 0) {
			ok = false;
			break;
		}
		offset += n;
		/* The chunk before goes out now: this one may be the last. */
		ok = smtp_client_write(c, out, have);
		have = smtp_stuff(&st, in, (size_t)n, out);
	}
	if (ok) {
		have += smtp_stuff_end(&st, out + have);
		ok = smtp_client_write(c, out, have);
	}
	free(in);
	free(out);
	return ok;
}

/* ---- xtext ---- */

char *
smtp_client_xtext(const char *s)
{
	char *out = xmalloc(3 * strlen(s) + 1), *p = out;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			p += sprintf(p, "+%02X", ch);
		else
			*p++ = (char)ch;
	}
	*p = '\0';
	return out;
}

char *
smtp_client_mail_cmd(const struct smtp_client *c, const struct queue_env *env,
    bool body_8bit, bool utf8)
{
	bool dsn = smtp_client_has(c, SMTP_EXT_DSN);
	char *envid = dsn && env->envid ? smtp_client_xtext(env->envid) : NULL;
	char size[32] = "";

	if (smtp_client_has(c, SMTP_EXT_SIZE))
		snprintf(size, sizeof(size), " SIZE=%llu",
		    (unsigned long long)env->size);
	char *cmd = xasprintf("MAIL FROM:<%s>%s%s%s%s%s%s", env->from,
	    body_8bit && smtp_client_has(c, SMTP_EXT_8BITMIME) ?
	    " BODY=8BITMIME" : "", utf8 ? " SMTPUTF8" : "",
	    dsn && env->ret == QUEUE_RET_FULL ? " RET=FULL" :
	    dsn && env->ret == QUEUE_RET_HDRS ? " RET=HDRS" : "",
	    envid ? " ENVID=" : "", envid ? envid : "", size);
	free(envid);
	return cmd;
}

char *
smtp_client_rcpt_cmd(const struct smtp_client *c, const char *address,
    const struct queue_rcpt *q)
{
	char notify[40] = "", *orcpt = NULL, *cmd;
	const char *semi = q->orcpt ? strchr(q->orcpt, ';') : NULL;

	if (smtp_client_has(c, SMTP_EXT_DSN)) {
		if (q->notify & QUEUE_NOTIFY_NEVER)
			strcpy(notify, " NOTIFY=NEVER");
		else if (q->notify != 0)
			snprintf(notify, sizeof(notify), " NOTIFY=%s%s%s",
			    q->notify & QUEUE_NOTIFY_SUCCESS ? "SUCCESS," : "",
			    q->notify & QUEUE_NOTIFY_FAILURE ? "FAILURE," : "",
			    q->notify & QUEUE_NOTIFY_DELAY ? "DELAY," : "");
		if (notify[0] != '\0' && notify[strlen(notify) - 1] == ',')
			notify[strlen(notify) - 1] = '\0';
		if (semi != NULL)
			orcpt = smtp_client_xtext(semi + 1);
	}
	if (orcpt != NULL)
		cmd = xasprintf("RCPT TO:<%s>%s ORCPT=%.*s;%s", address, notify,
		    (int)(semi - q->orcpt), q->orcpt, orcpt);
	else
		cmd = xasprintf("RCPT TO:<%s>%s", address, notify);
	free(orcpt);
	return cmd;
}
