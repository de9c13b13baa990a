/* imap_client: a blocking IMAP client (see imap_client.h). */
#include "imap_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "net.h"
#include "proc.h"
#include "tls_blocking.h"
#include "xmalloc.h"

#define IMC_TIMEOUT_MS  (120 * 1000)
#define IMC_CMD_MAX     8192
#define IMC_CHUNK       (64 * 1024)

/* Record why, close the connection, return false. */
bool
imc_fail(struct imap_client *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof(c->err), "%s: ", c->label);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(c->err))
		vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
	tls_blocking_free(&c->tls);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return false;
}

/* Wait for events until deadline; a timeout or poll error fails c. */
static bool
imc_wait(struct imap_client *c, short events, long long deadline, const char *doing)
{
	for (;;) {
		long long left = deadline - proc_monotonic_ms();
		if (left <= 0)
			return imc_fail(c, "timeout after %ds %s", IMC_TIMEOUT_MS / 1000,
			    doing);
		struct pollfd p = { .fd = c->fd, .events = events };
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return imc_fail(c, "poll: %s", strerror(errno));
	}
}

/* One address, non-blocking connect bounded by the timeout: 0 or errno. */
static int
imc_try(struct imap_client *c, const struct addrinfo *ai)
{
	int e = 0;
	socklen_t elen = sizeof(e);
	struct pollfd p;

	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd < 0)
		return errno;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		e = errno;
		p = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
		if (e == EINPROGRESS) {
			int n = poll(&p, 1, IMC_TIMEOUT_MS);
			e = n == 0 ? ETIMEDOUT : n < 0 ? errno :
			    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 ?
			    errno : e;
		}
	}
	if (e != 0) {
		close(c->fd);
		c->fd = -1;
	}
	return e;
}

bool
imc_connect(struct imap_client *c, const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char service[16];
	int e = 0, gai;

	snprintf(service, sizeof(service), "%d", port);
	if ((gai = getaddrinfo(host, service, &hints, &res)) != 0)
		return imc_fail(c, "getaddrinfo(\"%s\"): %s", host,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next)
		e = imc_try(c, ai);
	freeaddrinfo(res);
	if (c->fd < 0)
		return imc_fail(c, "connect: %s", strerror(e));
	return true;
}

/* Some bytes into rbuf at rend (through TLS when on), by deadline. */
static bool
imc_fill(struct imap_client *c, long long deadline)
{
	size_t got = 0;

	for (;;) {
		enum tls_blocking_want want = TLS_BLOCKING_READ;
		if (c->fd < 0)
			return false;
		if (c->tls != NULL) {
			want = tls_blocking_read(c->tls, c->rbuf + c->rend,
			    sizeof(c->rbuf) - c->rend, &got);
		} else {
			ssize_t r = recv(c->fd, c->rbuf + c->rend,
			    sizeof(c->rbuf) - c->rend, 0);
			if (r > 0)
				got = (size_t)r, want = TLS_BLOCKING_DONE;
			else if (r == 0)
				want = TLS_BLOCKING_EOF;
			else if (errno != EAGAIN && errno != EINTR)
				return imc_fail(c, "recv: %s", strerror(errno));
		}
		if (want == TLS_BLOCKING_DONE) {
			c->rend += got;
			return true;
		}
		if (want == TLS_BLOCKING_EOF)
			return imc_fail(c, "connection closed by the server%s%s",
			    *c->bye ? ": " : "", c->bye);
		if (want == TLS_BLOCKING_ERROR)
			return imc_fail(c, "TLS: %s", tls_blocking_error(c->tls));
		if (!imc_wait(c, want == TLS_BLOCKING_WRITE ? POLLOUT : POLLIN,
		    deadline, "waiting for the server"))
			return false;
	}
}

static bool
imc_write(struct imap_client *c, const char *buf, size_t len)
{
	long long deadline = proc_monotonic_ms() + IMC_TIMEOUT_MS;
	size_t n = 0;

	while (len > 0) {
		enum tls_blocking_want want = TLS_BLOCKING_WRITE;
		if (c->fd < 0)
			return false;
		if (c->tls != NULL) {
			want = tls_blocking_write(c->tls, buf, len, &n);
		} else {
			ssize_t r = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (r > 0)
				n = (size_t)r, want = TLS_BLOCKING_DONE;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				return imc_fail(c, "send: %s", errno == EPIPE ?
				    "connection closed by the server" : strerror(errno));
		}
		if (want == TLS_BLOCKING_DONE) {
			buf += n;
			len -= n;
		} else if (want == TLS_BLOCKING_ERROR || want == TLS_BLOCKING_EOF) {
			return imc_fail(c, "TLS: %s", tls_blocking_error(c->tls));
		} else if (!imc_wait(c, want == TLS_BLOCKING_READ ? POLLIN : POLLOUT,
		    deadline, "sending")) {
			return false;
		}
	}
	return true;
}

/* n bytes (or up to and including the next LF, with line) appended to
 * resp; a response longer than IMC_RESP_MAX fails the connection. */
static bool
imc_take(struct imap_client *c, size_t n, bool line, long long deadline)
{
	for (;;) {
		char *p = c->rbuf + c->rstart;
		size_t have = c->rend - c->rstart;
		char *lf = line ? memchr(p, '\n', have) : NULL;
		size_t take = line ? (lf ? (size_t)(lf - p) + 1 : have) :
		    (have < n ? have : n);
		if (c->resplen + take > IMC_RESP_MAX)
			return imc_fail(c, "response longer than %d bytes",
			    IMC_RESP_MAX);
		memcpy(c->resp + c->resplen, p, take);
		c->resplen += take;
		c->rstart += take;
		n -= line ? 0 : take;
		if (line ? lf != NULL : n == 0)
			return true;
		c->rstart = c->rend = 0;
		if (!imc_fill(c, deadline))
			return false;
	}
}

/* A line ending "{n}" or "{n+}" (CRLF already cut at end) announces a
 * literal of n bytes: literal = "{" number ["+"] "}" CRLF *CHAR8 */
static bool
imc_literal_size(const char *line, size_t len, size_t *n)
{
	size_t i = len, digits = 0;
	unsigned long long v = 0, scale = 1;

	if (i == 0 || line[--i] != '}')
		return false;
	if (i > 0 && line[i - 1] == '+')
		i--;
	while (i > 0 && isdigit((unsigned char)line[i - 1]) && digits < 10) {
		v += (unsigned long long)(line[--i] - '0') * scale;
		scale *= 10;
		digits++;
	}
	if (digits == 0 || i == 0 || line[i - 1] != '{')
		return false;
	*n = (size_t)v;
	return true;
}

/* One whole response (its literals inline) into resp, CRLF cut off. */
static bool
imc_response(struct imap_client *c)
{
	long long deadline = proc_monotonic_ms() + IMC_TIMEOUT_MS;
	size_t start, n;

	c->resplen = 0;
	for (;;) {
		start = c->resplen;
		if (!imc_take(c, 0, true, deadline))
			return false;
		size_t end = c->resplen - 1;
		if (end > start && c->resp[end - 1] == '\r')
			end--;
		if (!imc_literal_size(c->resp + start, end - start, &n)) {
			c->resplen = end;
			c->resp[end] = '\0';
			return true;
		}
		if (n > 0 && !imc_take(c, n, false, deadline))
			return false;
	}
}

/* Read responses until the tagged one of the command just sent;
 * untagged ones go to cb.  A continuation ends the wait when plus_ok. */
static enum imc_status
imc_wait_tagged(struct imap_client *c, imc_untagged_cb *cb, void *arg, bool plus_ok)
{
	char tag[16];
	int tl = snprintf(tag, sizeof(tag), "A%u ", c->tag);

	for (;;) {
		if (!imc_response(c))
			return IMC_ERR;
		if (c->resp[0] == '+' && plus_ok)
			return IMC_OK;
		if (strncmp(c->resp, "* BYE", 5) == 0)
			net_printable(c->resp, c->bye, sizeof(c->bye), 200);
		if (strncmp(c->resp, "* ", 2) == 0) {
			if (cb != NULL)
				cb(arg, c->resp);
			continue;
		}
		if (strncmp(c->resp, tag, (size_t)tl) != 0) {
			char buf[300];
			imc_fail(c, "unexpected response: %s",
			    net_printable(c->resp, buf, sizeof(buf), 200));
			return IMC_ERR;
		}
		c->text = c->resp + tl;
		if (strncasecmp(c->text, "OK", 2) == 0)
			return IMC_OK;
		return strncasecmp(c->text, "NO", 2) == 0 ? IMC_NO : IMC_BAD;
	}
}

/* Send a command line (the tag is added), no wait. */
static bool __attribute__((format(printf, 2, 0)))
imc_vsend(struct imap_client *c, const char *fmt, va_list ap)
{
	char line[IMC_CMD_MAX];
	int n = snprintf(line, sizeof(line), "A%u ", ++c->tag);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);

	if (m < 0 || (size_t)(n + m) + 2 >= sizeof(line))
		return imc_fail(c, "command too long");
	if (strpbrk(line, "\r\n") != NULL)
		return imc_fail(c, "command holds CR or LF");
	memcpy(line + n + m, "\r\n", 2);
	return c->fd >= 0 && imc_write(c, line, (size_t)(n + m) + 2);
}

static bool __attribute__((format(printf, 2, 3)))
imc_send(struct imap_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bool sent = imc_vsend(c, fmt, ap);
	va_end(ap);
	return sent;
}

enum imc_status
imc_command(struct imap_client *c, imc_untagged_cb *cb, void *arg, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	bool sent = imc_vsend(c, fmt, ap);
	va_end(ap);
	return sent ? imc_wait_tagged(c, cb, arg, false) : IMC_ERR;
}

/* The last tagged reply's text, for messages ("NO [OVERQUOTA] ..."). */
const char *
imc_reply_text(struct imap_client *c, enum imc_status st)
{
	static char buf[300];

	return st == IMC_ERR ? c->err :
	    net_printable(c->text, buf, sizeof(buf), 200);
}

/* STARTTLS, then the handshake; bytes that came after the go-ahead in
 * plaintext are dropped, never read as TLS replies (CVE-2011-0411). */
bool
imc_starttls(struct imap_client *c, struct tls_blocking_ctx *ctx, const char *host)
{
	long long deadline = proc_monotonic_ms() + IMC_TIMEOUT_MS;
	enum imc_status st = imc_command(c, NULL, NULL, "STARTTLS");
	enum tls_blocking_want want;

	if (st != IMC_OK)
		return st == IMC_ERR ? false : imc_fail(c, "STARTTLS refused: %s",
		    imc_reply_text(c, st));
	c->rstart = c->rend = 0;
	c->tls = tls_blocking_new(ctx, c->fd, host);
	while ((want = tls_blocking_handshake(c->tls)) != TLS_BLOCKING_DONE) {
		if (want == TLS_BLOCKING_ERROR || want == TLS_BLOCKING_EOF)
			return imc_fail(c, "TLS handshake: %s",
			    tls_blocking_error(c->tls));
		if (!imc_wait(c, want == TLS_BLOCKING_WRITE ? POLLOUT : POLLIN,
		    deadline, "in the TLS handshake"))
			return false;
	}
	return true;
}

/* AUTHENTICATE PLAIN with SASL-IR (RFC 4959, RFC 4616):
 * message = [authzid] UTF8NUL authcid UTF8NUL passwd */
bool
imc_login(struct imap_client *c, const char *user, const char *admin,
    const char *password)
{
	size_t ul = strlen(user), al = strlen(admin), pl = strlen(password);
	size_t len = ul + al + pl + 2;
	char *msg = xmalloc(len), *b64 = xmalloc((len + 2) / 3 * 4 + 1);

	memcpy(msg, user, ul + 1);
	memcpy(msg + ul + 1, admin, al + 1);
	memcpy(msg + ul + al + 2, password, pl);
	base64_encode(msg, len, b64);
	explicit_bzero(msg, len);
	free(msg);
	enum imc_status st = imc_command(c, NULL, NULL, "AUTHENTICATE PLAIN %s", b64);
	explicit_bzero(b64, strlen(b64));
	free(b64);
	if (st == IMC_OK)
		return true;
	return st == IMC_ERR ? false : imc_fail(c, "login as %s for %s refused: "
	    "%s", admin, user, imc_reply_text(c, st));
}

/* The greeting must be OK (PREAUTH would be someone else's session). */
bool
imc_greeting(struct imap_client *c)
{
	char buf[300];

	if (!imc_response(c))
		return false;
	if (strncasecmp(c->resp, "* OK", 4) != 0)
		return imc_fail(c, "unexpected greeting: %s",
		    net_printable(c->resp, buf, sizeof(buf), 200));
	return true;
}

/* APPEND with a synchronising literal: the server may say NO (TOOBIG,
 * OVERQUOTA) before the bytes go. */
enum imc_status
imc_append(struct imap_client *c, const char *qbox, const char *flags,
    const char *date, int fd, size_t size)
{
	char buf[IMC_CHUNK];
	off_t off = 0;

	if (!imc_send(c, "APPEND %s (%s) \"%s\" {%zu}", qbox, flags, date,
	    size))
		return IMC_ERR;
	enum imc_status st = imc_wait_tagged(c, NULL, NULL, true);
	if (st != IMC_OK)
		return st;
	if (c->resp[0] != '+') {
		imc_fail(c, "APPEND completed before its literal was sent");
		return IMC_ERR;
	}
	while ((size_t)off < size) {
		size_t want = size - (size_t)off < sizeof(buf) ?
		    size - (size_t)off : sizeof(buf);
		ssize_t r = pread(fd, buf, want, off);
		if (r <= 0) {
			/* The literal is half sent: the session cannot go on. */
			imc_fail(c, "pread: %s", r < 0 ? strerror(errno) :
			    "the message file shrank");
			return IMC_ERR;
		}
		if (!imc_write(c, buf, (size_t)r))
			return IMC_ERR;
		off += r;
	}
	if (!imc_write(c, "\r\n", 2))
		return IMC_ERR;
	return imc_wait_tagged(c, NULL, NULL, false);
}

