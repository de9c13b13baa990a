/* test_msg_header: header capture up to the empty line with its size and
 * field-count caps (independent of how the input is chunked), and field
 * lookup with unfolding. */
#include <stdlib.h>

#include "msg_header.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Scanning: a message, the length of its header block (through the empty
 * line, or all of it when there is none) and its number of fields. */
static const struct {
	const char *msg;
	size_t hdrlen;
	size_t fields;
} scan_cases[] = {
	{ "From: a\r\nSubject: hi\r\n\r\nbody\r\n", 24, 2 },
	{ "From: a\r\n\r\n", 11, 1 },
	{ "\r\nbody only\r\n", 2, 0 },
	{ "Subject: a\r\n b\r\n\tc\r\nTo: x\r\n\r\n\r\n", 29, 2 },
	{ "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nX: not a field\r\n", 26, 4 },
	{ "A: 1\r\n B: folded\r\n  C: folded\r\nD: 4\r\n\r\n", 39, 2 },
	/* no body: everything is header */
	{ "From: a\r\nSubject: b\r\n", 21, 2 },
	{ "From: a\r\nSubject: b", 19, 2 },
	{ "", 0, 0 },
};

/* Feed msg cut at a and b; then finish. */
static void
scan_split(struct msg_header_scan *s, const char *msg, size_t a, size_t b,
    size_t cap, size_t max_fields)
{
	size_t n = strlen(msg);

	msg_header_scan_init(s, cap, max_fields);
	msg_header_scan_feed(s, msg, a);
	msg_header_scan_feed(s, msg + a, b - a);
	msg_header_scan_feed(s, msg + b, n - b);
	msg_header_scan_finish(s);
}

static void
test_scan(void)
{
	for (size_t i = 0; i < N(scan_cases); i++) {
		const char *m = scan_cases[i].msg;
		size_t n = strlen(m), h = scan_cases[i].hdrlen,
		    f = scan_cases[i].fields;

		for (size_t a = 0; a <= n; a++)
			for (size_t b = a; b <= n; b++) {
				struct msg_header_scan s;
				int before = unit_failures;

				/* roomy caps: the whole header is captured */
				scan_split(&s, m, a, b, 1024, 100);
				CHECK(s.complete && !s.over_limit);
				CHECK(s.len == h && memcmp(s.buf, m, h) == 0);
				CHECK(s.buf[s.len] == '\0');
				msg_header_scan_free(&s);
				CHECK(s.buf == NULL);

				/* exactly at both caps: still fine */
				scan_split(&s, m, a, b, h, f);
				CHECK(s.complete && !s.over_limit && s.len == h);
				msg_header_scan_free(&s);

				/* one byte short */
				if (h > 0) {
					scan_split(&s, m, a, b, h - 1, f);
					CHECK(!s.complete && s.over_limit);
					CHECK(s.len <= h - 1);
					msg_header_scan_free(&s);
				}
				/* one field short */
				if (f > 0) {
					scan_split(&s, m, a, b, 1024, f - 1);
					CHECK(!s.complete && s.over_limit);
					msg_header_scan_free(&s);
				}
				if (unit_failures != before) {
					fprintf(stderr, "  case %zu split %zu,%zu\n", i, a, b);
					return;
				}
			}
	}
}

/* Lookup in a header block. want NULL: absent. */
static const struct {
	const char *hdr;
	const char *name;
	size_t outcap;
	const char *want;
} get_cases[] = {
	{ "Subject: hello\r\n\r\n", "Subject", 64, "hello" },
	{ "Subject: hello\r\n\r\n", "subject", 64, "hello" },
	{ "SUBJECT: hello\r\n\r\n", "Subject", 64, "hello" },
	{ "From: a\r\nSubject: hello\r\n", "subject", 64, "hello" },
	{ "Subject: hello", "Subject", 64, "hello" },    /* no CRLF at end */
	{ "Subject:hello\r\n", "Subject", 64, "hello" },
	{ "Subject: \t  spaced out \t\r\n", "Subject", 64, "spaced out" },
	{ "Subject:\r\n\r\n", "Subject", 64, "" },
	{ "To: a:b <c@d>\r\n", "To", 64, "a:b <c@d>" },
	/* folded fields unfold: CRLF removed, the white space kept */
	{ "Subject: a\r\n b\r\n\tc\r\nTo: x\r\n", "Subject", 64, "a b\tc" },
	{ "Subject:\r\n folded\r\n", "Subject", 64, "folded" },
	{ "Subject: a\r\n b\r\n", "To", 64, NULL },
	{ "A: x\r\n B: y\r\n", "B", 64, NULL },         /* inside a fold */
	/* first occurrence wins */
	{ "X: 1\r\nX: 2\r\n", "X", 64, "1" },
	{ "x: 1\r\nX: 2\r\n", "X", 64, "1" },
	/* names match whole */
	{ "Subject: s\r\n", "Subj", 64, NULL },
	{ "Subj: s\r\n", "Subject", 64, NULL },
	{ "Subjectx: s\r\nSubject: t\r\n", "Subject", 64, "t" },
	{ "Subject : s\r\n", "Subject", 64, NULL },
	/* the body is not the header */
	{ "A: 1\r\n\r\nB: 2\r\n", "B", 64, NULL },
	{ "\r\nB: 2\r\n", "B", 64, NULL },
	{ "", "B", 64, NULL },
	/* truncation to outcap - 1 */
	{ "Subject: hello\r\n", "Subject", 4, "hel" },
	{ "Subject: hello\r\n", "Subject", 6, "hello" },
	{ "Subject: hello\r\n", "Subject", 2, "h" },
	{ "Subject: hello\r\n", "Subject", 1, "" },
	{ "Subject: abc\r\n def\r\n", "Subject", 6, "abc d" },
};

static void
test_get(void)
{
	for (size_t i = 0; i < N(get_cases); i++) {
		size_t cap = get_cases[i].outcap;
		/* exactly outcap bytes, so ASan sees any overrun */
		char *out = malloc(cap);
		bool found = msg_header_get(get_cases[i].hdr,
		    strlen(get_cases[i].hdr), get_cases[i].name, out, cap);

		CHECK(found == (get_cases[i].want != NULL));
		if (found && get_cases[i].want != NULL)
			CHECK_STR(out, get_cases[i].want);
		if (found != (get_cases[i].want != NULL))
			fprintf(stderr, "  case %zu: found=%d\n", i, found);
		free(out);
	}
}

/* The block handed to msg_header_get is the one the scanner kept; the
 * length given bounds the search (the buffer is not read beyond it). */
static void
test_scan_then_get(void)
{
	static const char msg[] = "Received: from x\r\n\tby y\r\n"
	    "Message-ID: <1@x>\r\n\r\nMessage-ID: <body@x>\r\n";
	struct msg_header_scan s;
	char out[64];

	msg_header_scan_init(&s, 256, 10);
	for (size_t k = 0; k < sizeof(msg) - 1; k++)
		msg_header_scan_feed(&s, msg + k, 1);
	CHECK(s.complete);
	msg_header_scan_finish(&s);
	CHECK(s.complete && !s.over_limit);
	CHECK(msg_header_get(s.buf, s.len, "message-id", out, sizeof(out)));
	CHECK_STR(out, "<1@x>");
	CHECK(msg_header_get(s.buf, s.len, "Received", out, sizeof(out)));
	CHECK_STR(out, "from x\tby y");
	/* a length that stops inside a field */
	CHECK(msg_header_get(s.buf, 18, "Received", out, sizeof(out)));
	CHECK_STR(out, "from x");
	CHECK(!msg_header_get(s.buf, 18, "Message-ID", out, sizeof(out)));
	msg_header_scan_free(&s);

	/* over the limit stays so: finish does not make it complete */
	msg_header_scan_init(&s, 8, 10);
	msg_header_scan_feed(&s, msg, sizeof(msg) - 1);
	CHECK(s.over_limit && !s.complete && s.len <= 8);
	msg_header_scan_finish(&s);
	CHECK(s.over_limit && !s.complete);
	msg_header_scan_free(&s);
}

int
main(void)
{
	UNIT_RUN(test_scan);
	UNIT_RUN(test_get);
	UNIT_RUN(test_scan_then_get);
	return unit_done();
}
