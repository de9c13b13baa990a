/*
 * test_smtp_client: dot-stuffing and line ends of a body, reply lines,
 * xtext, and whole replies read from a canned server on loopback (a
 * forked child): multi-line, over-long, too many lines, early close.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smtp_client.h"
#include "unit.h"

static void
test_stuff_table(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", ".\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },
		{ "a\nb\n", "a\r\nb\r\n.\r\n" },
		{ ".\r\n", "..\r\n.\r\n" },
		{ ".a\r\n..b\r\nc.\r\n", "..a\r\n...b\r\nc.\r\n.\r\n" },
		{ "x\r\n.", "x\r\n..\r\n.\r\n" },
		{ "a\rb\r\n", "a\rb\r\n.\r\n" },        /* bare CR kept */
		{ "a\r", "a\r\n.\r\n" },                /* completed */
		{ "\r\n.\n", "\r\n..\r\n.\r\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_stuff st = { 0 };
		char out[64];
		size_t n = smtp_stuff(&st, cases[i].in, strlen(cases[i].in), out);
		n += smtp_stuff_end(&st, out + n);
		out[n] = '\0';
		CHECK_STR(out, cases[i].out);
	}
}

/* The same result whatever the chunking: state carries across calls. */
static void
test_stuff_chunks(void)
{
	const char *in = "a\r\n.b\r\n\r\n..\nend";
	const char *want = "a\r\n..b\r\n\r\n...\r\nend\r\n.\r\n";

	for (size_t cut = 0; cut <= strlen(in); cut++) {
		for (size_t cut2 = cut; cut2 <= strlen(in); cut2++) {
			struct smtp_stuff st = { 0 };
			char out[64];
			size_t n = smtp_stuff(&st, in, cut, out);
			n += smtp_stuff(&st, in + cut, cut2 - cut, out + n);
			n += smtp_stuff(&st, in + cut2, strlen(in) - cut2, out + n);
			n += smtp_stuff_end(&st, out + n);
			out[n] = '\0';
			CHECK_STR(out, want);
		}
	}
}

static void
test_reply_line(void)
{
	static const struct {
		const char *line;
		bool ok, last;
		int code;
		const char *text;
	} cases[] = {
		{ "250 2.1.5 Ok", true, true, 250, "2.1.5 Ok" },
		{ "250-PIPELINING", true, false, 250, "PIPELINING" },
		{ "354", true, true, 354, "" },
		{ "421 ", true, true, 421, "" },
		{ "550-", true, false, 550, "" },
		{ "199 x", false, false, 0, NULL },
		{ "600 x", false, false, 0, NULL },
		{ "25 x", false, false, 0, NULL },
		{ "2500 x", false, false, 0, NULL },
		{ "25a x", false, false, 0, NULL },
		{ "", false, false, 0, NULL },
		{ "abc", false, false, 0, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int code = 0;
		bool last = false;
		const char *text = NULL;
		bool ok = smtp_reply_parse_line(cases[i].line, &code, &last, &text);
		CHECK(ok == cases[i].ok);
		if (!ok || !cases[i].ok)
			continue;
		CHECK(code == cases[i].code);
		CHECK(last == cases[i].last);
		CHECK_STR(text, cases[i].text);
	}
}

static void
test_xtext(void)
{
	char *x = smtp_client_xtext("a+b=c d\xc3\xa9");
	CHECK_STR(x, "a+2Bb+3Dc+20d+C3+A9");
	free(x);
	x = smtp_client_xtext("");
	CHECK_STR(x, "");
	free(x);
}

/* A server on 127.0.0.1 that sends script to its first client, then
 * reads until the client closes (hold) or closes at once.  Returns the
 * port; *pid the child. */
static int
serve_how(const char *script, size_t len, bool hold, pid_t *pid)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&sa, &salen) < 0)
		abort();
	if ((*pid = fork()) == 0) {
		int fd = accept(l, NULL, NULL);
		char buf[4096];
		if (fd < 0 || write(fd, script, len) != (ssize_t)len)
			_exit(1);
		while (hold && read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(l);
	return ntohs(sa.sin_port);
}

static int
serve(const char *script, size_t len, pid_t *pid)
{
	return serve_how(script, len, true, pid);
}

static struct smtp_client *
connect_to(const char *script, size_t len, pid_t *pid)
{
	struct smtp_client *c = smtp_client_new("test", 2);
	int port = serve(script, len, pid);

	CHECK(smtp_client_connect(c, "127.0.0.1", port));
	return c;
}

static void
finish(struct smtp_client **c, pid_t pid)
{
	int status;

	smtp_client_free(c);
	waitpid(pid, &status, 0);
}

static void
test_replies(void)
{
	const char script[] = "220 ready\r\n"
	    "250-store.example.com\r\n250-DSN\r\n250-size 1000\r\n250 8BITMIME\r\n"
	    "550-5.1.1 first\r\n550 5.1.1 second\r\n"
	    "250-a\r\n251 b\r\n";
	struct smtp_reply r;
	pid_t pid;
	struct smtp_client *c = connect_to(script, sizeof(script) - 1, &pid);

	CHECK(smtp_client_read_reply(c, &r));
	CHECK(r.code == 220 && r.nlines == 1);
	CHECK_STR(r.text, "ready");
	CHECK(smtp_client_hello(c, "LHLO", "me.example.com", &r));
	CHECK(r.code == 250 && r.nlines == 4);
	CHECK(smtp_client_has(c, SMTP_EXT_DSN));
	CHECK(smtp_client_has(c, SMTP_EXT_SIZE));
	CHECK(smtp_client_has(c, SMTP_EXT_8BITMIME));
	CHECK(!smtp_client_has(c, SMTP_EXT_SMTPUTF8));
	CHECK(smtp_client_max_size(c) == 1000);
	CHECK(smtp_client_read_reply(c, &r));
	CHECK(r.code == 550);
	CHECK_STR(r.text, "5.1.1 first\n5.1.1 second");
	/* The codes of one reply's lines must agree. */
	CHECK(!smtp_client_read_reply(c, &r));
	CHECK(strstr(smtp_client_error(c), "malformed reply \"251 b\"") != NULL);
	CHECK(!smtp_client_command(c, "NOOP"));
	finish(&c, pid);
}

static void
test_limits(void)
{
	struct smtp_reply r;
	pid_t pid;
	char *big = malloc(SMTP_CLIENT_LINE_MAX + 16);

	/* A line at the cap is fine; one byte more is not. */
	memcpy(big, "250 ", 4);
	memset(big + 4, 'x', SMTP_CLIENT_LINE_MAX - 4);
	memcpy(big + SMTP_CLIENT_LINE_MAX, "\r\n", 2);
	struct smtp_client *c = connect_to(big, SMTP_CLIENT_LINE_MAX + 2, &pid);
	CHECK(smtp_client_read_reply(c, &r));
	CHECK(r.code == 250 && strlen(r.text) == SMTP_CLIENT_LINE_MAX - 4);
	finish(&c, pid);

	memset(big + 4, 'x', SMTP_CLIENT_LINE_MAX - 3);
	memcpy(big + SMTP_CLIENT_LINE_MAX + 1, "\r\n", 2);
	c = connect_to(big, SMTP_CLIENT_LINE_MAX + 3, &pid);
	CHECK(!smtp_client_read_reply(c, &r));
	CHECK(strstr(smtp_client_error(c), "longer than") != NULL);
	finish(&c, pid);
	free(big);

	char many[20 * (SMTP_CLIENT_REPLY_LINES + 2)] = "";
	for (int i = 0; i < SMTP_CLIENT_REPLY_LINES; i++)
		strcat(many, "250-x\r\n");
	strcat(many, "250 y\r\n");
	c = connect_to(many, strlen(many), &pid);
	CHECK(!smtp_client_read_reply(c, &r));
	CHECK(strstr(smtp_client_error(c), "more than 100 lines") != NULL);
	finish(&c, pid);
}

static void
test_close_and_refused(void)
{
	struct smtp_reply r;
	pid_t pid;
	int port = serve("220 x\r\n", 7, &pid);
	struct smtp_client *c = smtp_client_new("peer", 2);

	/* The child exits once we close; then nobody listens on the port. */
	CHECK(smtp_client_connect(c, "127.0.0.1", port));
	smtp_client_free(&c);
	waitpid(pid, NULL, 0);
	c = smtp_client_new("peer", 2);
	CHECK(!smtp_client_connect(c, "127.0.0.1", port));
	CHECK(strstr(smtp_client_error(c), "peer: connect(127.0.0.1:") != NULL);
	CHECK(strstr(smtp_client_error(c), "Connection refused") != NULL);
	CHECK(!smtp_client_read_reply(c, &r));
	smtp_client_free(&c);

	c = smtp_client_new("peer", 2);
	CHECK(smtp_client_connect(c, "127.0.0.1",
	    serve_how("250-half\r\n", 10, false, &pid)));
	CHECK(!smtp_client_read_reply(c, &r));
	CHECK(strstr(smtp_client_error(c), "connection closed") != NULL);
	finish(&c, pid);
}

/* A server that says nothing: the reply's deadline ends the wait. */
static void
test_timeout(void)
{
	struct smtp_reply r;
	pid_t pid;
	struct smtp_client *c = smtp_client_new("slow", 1);

	CHECK(smtp_client_connect(c, "127.0.0.1", serve("", 0, &pid)));
	CHECK(!smtp_client_read_reply(c, &r));
	CHECK_STR(smtp_client_error(c), "slow: timeout after 1s waiting for a reply");
	finish(&c, pid);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	UNIT_RUN(test_stuff_table);
	UNIT_RUN(test_stuff_chunks);
	UNIT_RUN(test_reply_line);
	UNIT_RUN(test_xtext);
	UNIT_RUN(test_replies);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_close_and_refused);
	UNIT_RUN(test_timeout);
	return unit_done();
}
