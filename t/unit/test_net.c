/* test_net: capped line reading out of an evbuffer (CRLF and LF lines, the
 * cap, over-long lines reported once and skipped however they arrive), and
 * host:port splitting. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "net.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CAP 8

enum { OK = NET_LINE_OK, MORE = NET_LINE_MORE, LONG = NET_LINE_TOOLONG,
       END = -1 };

/* A script: each step optionally adds bytes, then reads once. */
struct step {
	const char *add;
	int want;
	const char *line;       /* for OK */
};

static const struct {
	const char *name;
	struct step steps[12];
} scripts[] = {
	{ "crlf", { { "abc\r\n", OK, "abc" }, { NULL, MORE, NULL },
	    { NULL, END, NULL } } },
	{ "lf", { { "abc\n", OK, "abc" }, { NULL, MORE, NULL },
	    { NULL, END, NULL } } },
	{ "several", { { "a\r\nb\nc", OK, "a" }, { NULL, OK, "b" },
	    { NULL, MORE, NULL }, { "\r\n", OK, "c" }, { NULL, MORE, NULL },
	    { NULL, END, NULL } } },
	{ "empty lines", { { "\r\n\n", OK, "" }, { NULL, OK, "" },
	    { NULL, MORE, NULL }, { NULL, END, NULL } } },
	{ "nothing", { { "", MORE, NULL }, { NULL, END, NULL } } },
	{ "bare cr kept", { { "a\rb\r\n", OK, "a\rb" }, { "\r\r\n", OK, "\r" },
	    { NULL, END, NULL } } },
	{ "partial", { { "abc", MORE, NULL }, { "de", MORE, NULL },
	    { "\r", MORE, NULL }, { "\n", OK, "abcde" }, { NULL, END, NULL } } },
	{ "at cap", { { "12345678\r\n", OK, "12345678" },
	    { "12345678\n", OK, "12345678" }, { NULL, END, NULL } } },
	{ "at cap, CR waits", { { "12345678\r", MORE, NULL },
	    { "\n", OK, "12345678" }, { NULL, END, NULL } } },
	{ "cap+1", { { "123456789\r\nnext\r\n", LONG, NULL },
	    { NULL, OK, "next" }, { NULL, MORE, NULL }, { NULL, END, NULL } } },
	{ "cap+1 lf", { { "123456789\nnext\n", LONG, NULL },
	    { NULL, OK, "next" }, { NULL, END, NULL } } },
	{ "cap+1 cr inside", { { "1234567\r\r\n", OK, "1234567\r" },
	    { "12345678\r\r\n", LONG, NULL }, { NULL, MORE, NULL },
	    { NULL, END, NULL } } },
	{ "cap+1 no eol yet", { { "123456789", LONG, NULL },
	    { "\r\n", MORE, NULL }, { "next\r\n", OK, "next" },
	    { NULL, END, NULL } } },
	/* reported once however many pieces the rest comes in; the line after
	 * it comes out of the same call that sees its end */
	{ "long in pieces", { { "1234", MORE, NULL }, { "56789", LONG, NULL },
	    { "abcdef", MORE, NULL }, { NULL, MORE, NULL },
	    { "ghijklmnopqrstu", MORE, NULL }, { "vw\r", MORE, NULL },
	    { "\nnext\r\n", OK, "next" }, { NULL, MORE, NULL },
	    { NULL, END, NULL } } },
	{ "long then two", { { "0123456789abc", LONG, NULL },
	    { "x\r\nnext\r\nsecond\n", OK, "next" }, { NULL, OK, "second" },
	    { NULL, MORE, NULL }, { NULL, END, NULL } } },
	{ "long then partial", { { "0123456789abc", LONG, NULL },
	    { "x\nne", MORE, NULL }, { "xt\n", OK, "next" },
	    { NULL, END, NULL } } },
	{ "long then long", { { "0123456789abc", LONG, NULL },
	    { "\n0123456789abc\n", LONG, NULL }, { "ok\n", OK, "ok" },
	    { NULL, END, NULL } } },
	{ "long then empty", { { "0123456789abc", LONG, NULL },
	    { "\r\n\r\n", OK, "" }, { NULL, END, NULL } } },
};

static void
run_script(size_t i)
{
	struct evbuffer *in = evbuffer_new();
	struct net_line st = { false };
	char buf[CAP + 1];

	for (const struct step *s = scripts[i].steps; s->want != END; s++) {
		size_t len = 12345;

		if (s->add != NULL)
			evbuffer_add(in, s->add, strlen(s->add));
		memset(buf, 'Z', sizeof(buf));
		int got = net_readline(&st, in, buf, CAP, &len);
		CHECK(got == s->want);
		if (got == OK && s->want == OK) {
			CHECK(len == strlen(s->line));
			CHECK(len <= CAP && buf[len] == '\0');
			CHECK_STR(buf, s->line);
		}
		if (got != s->want) {
			fprintf(stderr, "  script \"%s\" step %zu: got %d want %d\n",
			    scripts[i].name, (size_t)(s - scripts[i].steps), got,
			    s->want);
			break;
		}
	}
	evbuffer_free(in);
}

static void
test_scripts(void)
{
	for (size_t i = 0; i < N(scripts); i++)
		run_script(i);
}

/* Read everything available; record results as a string: "L" for
 * TOOLONG, the line in brackets for OK; stop at MORE. */
static void
drain(struct net_line *st, struct evbuffer *in, char *log, size_t loglen)
{
	char buf[CAP + 1];
	size_t len;
	int r;

	while ((r = net_readline(st, in, buf, CAP, &len)) != NET_LINE_MORE) {
		size_t used = strlen(log);
		if (r == NET_LINE_TOOLONG)
			snprintf(log + used, loglen - used, "L");
		else
			snprintf(log + used, loglen - used, "[%.*s]", (int)len, buf);
	}
}

/* A line of every length around the cap, with CRLF or LF, followed by a
 * short line; fed in two pieces split at every byte.  Lines up to the cap
 * come back whole, longer ones give exactly one TOOLONG; the short line
 * always follows. */
static void
test_every_split(void)
{
	for (size_t L = 0; L <= CAP + 4; L++)
		for (int crlf = 0; crlf <= 1; crlf++) {
			char input[64], want[64];
			size_t n = 0;

			for (size_t k = 0; k < L; k++)
				input[n++] = (char)('a' + k);
			if (crlf)
				input[n++] = '\r';
			memcpy(input + n, "\nz\r\n", 4);
			n += 4;
			if (L <= CAP)
				snprintf(want, sizeof(want), "[%.*s][z]", (int)L, input);
			else
				snprintf(want, sizeof(want), "L[z]");
			for (size_t cut = 0; cut <= n; cut++) {
				struct evbuffer *in = evbuffer_new();
				struct net_line st = { false };
				char log[128] = "";

				evbuffer_add(in, input, cut);
				drain(&st, in, log, sizeof(log));
				evbuffer_add(in, input + cut, n - cut);
				drain(&st, in, log, sizeof(log));
				CHECK_STR(log, want);
				CHECK(evbuffer_get_length(in) == 0);
				evbuffer_free(in);
			}
		}
}

/* Byte by byte: an over-long line is reported once, and memory held in
 * the evbuffer never exceeds the cap plus one pending CR. */
static void
test_byte_by_byte(void)
{
	static const char input[] = "ok\r\n0123456789012345678901234567890\r\n"
	    "12345678\r\n123456789\r\nend\n";
	struct evbuffer *in = evbuffer_new();
	struct net_line st = { false };
	char log[128] = "";

	for (size_t k = 0; k < sizeof(input) - 1; k++) {
		evbuffer_add(in, input + k, 1);
		drain(&st, in, log, sizeof(log));
		CHECK(evbuffer_get_length(in) <= CAP + 1);
	}
	CHECK_STR(log, "[ok]L[12345678]L[end]");
	evbuffer_free(in);
}

static void
test_nul_in_line(void)
{
	struct evbuffer *in = evbuffer_new();
	struct net_line st = { false };
	char buf[CAP + 1];
	size_t len = 0;

	evbuffer_add(in, "a\0b\r\n", 5);
	CHECK(net_readline(&st, in, buf, CAP, &len) == NET_LINE_OK);
	CHECK(len == 3 && memcmp(buf, "a\0b", 4) == 0);
	evbuffer_free(in);
}

static const struct {
	const char *in;
	bool ok;
	const char *host;
	int port;
} hostport_cases[] = {
	{ "127.0.0.1:25", true, "127.0.0.1", 25 },
	{ "localhost:65535", true, "localhost", 65535 },
	{ "[::1]:2525", true, "::1", 2525 },
	{ "[2001:db8::1]:143", true, "2001:db8::1", 143 },
	{ "*:143", true, "*", 143 },
	{ "127.0.0.1:0", true, "127.0.0.1", 0 },
	{ "h:007", true, "h", 7 },
	{ "h:65536", false, NULL, 0 },
	{ "h:-1", false, NULL, 0 },
	{ "h:+25", false, NULL, 0 },
	{ "h: 25", false, NULL, 0 },
	{ "h:25 ", false, NULL, 0 },
	{ "h:25x", false, NULL, 0 },
	{ "h:0x19", false, NULL, 0 },
	{ "h:", false, NULL, 0 },
	{ "h", false, NULL, 0 },
	{ "", false, NULL, 0 },
	{ "h:99999999999999999999", false, NULL, 0 },
	{ ":25", false, NULL, 0 },
	{ "[]:25", false, NULL, 0 },
	{ "[::1]", false, NULL, 0 },
	{ "[::1]25", false, NULL, 0 },
	{ "[::1]:", false, NULL, 0 },
	{ "[::1:25", false, NULL, 0 },
	{ "[::1]:x", false, NULL, 0 },
};

static void
test_split_hostport(void)
{
	for (size_t i = 0; i < N(hostport_cases); i++) {
		char host[64];
		int port = -7;
		bool ok = net_split_hostport(hostport_cases[i].in, host,
		    sizeof(host), &port);

		CHECK(ok == hostport_cases[i].ok);
		if (ok != hostport_cases[i].ok)
			fprintf(stderr, "  \"%s\": got %d\n", hostport_cases[i].in, ok);
		if (ok && hostport_cases[i].ok) {
			CHECK_STR(host, hostport_cases[i].host);
			CHECK(port == hostport_cases[i].port);
		}
	}
	/* the host buffer's size is respected */
	char host[10];
	int port;
	CHECK(net_split_hostport("123456789:1", host, sizeof(host), &port));
	CHECK_STR(host, "123456789");
	CHECK(!net_split_hostport("1234567890:1", host, sizeof(host), &port));
	CHECK(!net_split_hostport("[1234567890]:1", host, sizeof(host), &port));
}

static void
test_addr_str(void)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	struct sockaddr un = { .sa_family = AF_UNIX };
	char buf[64];

	inet_pton(AF_INET, "192.0.2.1", &v4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
	net_addr_str((struct sockaddr *)&v4, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.1");
	net_addr_str((struct sockaddr *)&v6, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db8::1");
	net_addr_str(&un, buf, sizeof(buf));
	CHECK_STR(buf, "unknown");
	net_addr_str((struct sockaddr *)&v4, buf, 4);   /* too small */
	CHECK_STR(buf, "unk");
}

static void
on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
	(void)arg;
	(void)fd;
	(void)sa;
	(void)salen;
}

/* Listeners live for the process (net.h): keep them reachable (volatile:
 * stores to never-read statics may be dropped, and LeakSanitizer would
 * then report the listener). */
static struct event_base *volatile kept_base;
static struct evconnlistener *volatile kept;

static void
test_listen_errors(void)
{
	struct event_base *base = kept_base = event_base_new();
	char *err;

	CHECK(net_listen(base, "nonsense", on_accept, NULL, &err) == NULL);
	CHECK(err && strstr(err, "expected host:port"));
	free(err);
	CHECK(net_listen(base, "256.1.1.1:25", on_accept, NULL, &err) == NULL);
	CHECK(err && strstr(err, "256.1.1.1:25"));
	free(err);
	kept = net_listen(base, "127.0.0.1:0", on_accept, NULL, &err);
	CHECK(kept != NULL && err == NULL);
}

int
main(void)
{
	UNIT_RUN(test_scripts);
	UNIT_RUN(test_every_split);
	UNIT_RUN(test_byte_by_byte);
	UNIT_RUN(test_nul_in_line);
	UNIT_RUN(test_split_hostport);
	UNIT_RUN(test_addr_str);
	UNIT_RUN(test_listen_errors);
	return unit_done();
}
