/* test_imap_format: IMAP strings, ENVELOPE and BODY[STRUCTURE] compared
 * with strings written by hand from RFC 3501's examples, section specs
 * mapped onto a nested sample, the date formats both ways, and a mutation
 * loop checking that whatever the message, the output stays well-formed
 * IMAP (balanced parentheses, exact literals) and sections stay inside
 * the message. */
#include <event2/buffer.h>
#include <stdlib.h>

#include "imap_format.h"
#include "mime.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The buffer's contents as a string, which the buffer then owns no more;
 * the previous result is freed (all of it with b NULL). */
static const char *
take(struct evbuffer *b)
{
	static char *last;

	free(last);
	last = NULL;
	if (b == NULL)
		return NULL;
	size_t n = evbuffer_get_length(b);
	last = malloc(n + 1);
	evbuffer_remove(b, last, n);
	last[n] = '\0';
	return last;
}

/* ---- strings ---- */

static const struct {
	const char *in;
	const char *nstring, *astring;
} string_cases[] = {
	{ NULL, "NIL", NULL },
	{ "", "\"\"", "\"\"" },
	{ "abc", "\"abc\"", "abc" },
	{ "INBOX", "\"INBOX\"", "INBOX" },
	{ "NIL", "\"NIL\"", "NIL" },
	{ "a b", "\"a b\"", "\"a b\"" },
	{ "say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"", "\"say \\\"hi\\\"\\\\\"" },
	{ "a]b", "\"a]b\"", "a]b" },
	{ "a%b", "\"a%b\"", "\"a%b\"" },
	{ "a*b", "\"a*b\"", "\"a*b\"" },
	{ "a{b", "\"a{b\"", "\"a{b\"" },
	{ "a(b)", "\"a(b)\"", "\"a(b)\"" },
	{ "tab\there", "\"tab\there\"", "\"tab\there\"" },
	{ "two\r\nlines", "{10}\r\ntwo\r\nlines", "{10}\r\ntwo\r\nlines" },
	{ "lf\n", "{3}\r\nlf\n", "{3}\r\nlf\n" },
	{ "J\xc3\xb6rg", "{5}\r\nJ\xc3\xb6rg", "{5}\r\nJ\xc3\xb6rg" },
};

static void
test_strings(void)
{
	struct evbuffer *b = evbuffer_new();

	for (size_t i = 0; i < N(string_cases); i++) {
		imap_write_nstring(b, string_cases[i].in);
		CHECK_STR(take(b), string_cases[i].nstring);
		if (string_cases[i].in == NULL)
			continue;
		imap_write_astring(b, string_cases[i].in);
		CHECK_STR(take(b), string_cases[i].astring);
	}
	/* length: quoted up to IMAP_QUOTED_MAX, a literal beyond */
	char *s = malloc(IMAP_QUOTED_MAX + 2);
	memset(s, 'x', IMAP_QUOTED_MAX + 1);
	s[IMAP_QUOTED_MAX] = '\0';
	imap_write_string(b, s);
	const char *got = take(b);
	CHECK(got[0] == '"' && strlen(got) == IMAP_QUOTED_MAX + 2);
	s[IMAP_QUOTED_MAX] = 'x';
	s[IMAP_QUOTED_MAX + 1] = '\0';
	imap_write_string(b, s);
	got = take(b);
	CHECK(strncmp(got, "{1025}\r\nxxx", 11) == 0 && strlen(got) == 8 + 1025);
	free(s);
	evbuffer_free(b);
}

/* ---- ENVELOPE ---- */

/* RFC 3501 7.4.2's example message. */
static const char *const rfc3501_env[IMAP_ENV_NFIELDS] = {
	[IMAP_ENV_DATE] = "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
	[IMAP_ENV_SUBJECT] = "IMAP4rev1 WG mtg summary and minutes",
	[IMAP_ENV_FROM] = "Terry Gray <gray@cac.washington.edu>",
	[IMAP_ENV_TO] = "imap@cac.washington.edu",
	[IMAP_ENV_CC] = "minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>",
	[IMAP_ENV_MESSAGE_ID] = "<B27397-0100000@cac.washington.edu>",
};

#define TERRY "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\"))"
static const char rfc3501_env_want[] =
	"(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	"\"IMAP4rev1 WG mtg summary and minutes\" " TERRY " " TERRY " " TERRY
	" ((NIL NIL \"imap\" \"cac.washington.edu\")) "
	"((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	"(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
	"\"<B27397-0100000@cac.washington.edu>\")";

static void
test_envelope(void)
{
	struct evbuffer *b = evbuffer_new();

	imap_write_envelope(b, rfc3501_env);
	CHECK_STR(take(b), rfc3501_env_want);

	/* the same from the store's blob, and from a header block */
	char blob[1024];
	size_t len = 0;
	for (size_t i = 0; i < IMAP_ENV_NFIELDS; i++) {
		const char *v = rfc3501_env[i] ? rfc3501_env[i] : "";
		memcpy(blob + len, v, strlen(v) + 1);
		len += strlen(v) + 1;
	}
	const char *f[IMAP_ENV_NFIELDS];
	CHECK(imap_env_split(blob, len, f));
	CHECK(f[IMAP_ENV_SENDER] == NULL);
	imap_write_envelope(b, f);
	CHECK_STR(take(b), rfc3501_env_want);
	CHECK(!imap_env_split(blob, len - 1, f));
	CHECK(f[IMAP_ENV_MESSAGE_ID] == NULL);

	const char *hdr =
	    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
	    "From: Terry Gray <gray@cac.washington.edu>\r\n"
	    "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
	    "To: imap@cac.washington.edu\r\n"
	    "cc: minutes@CNRI.Reston.VA.US,\r\n"
	    "    John Klensin <KLENSIN@MIT.EDU>\r\n"
	    "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
	    "MIME-Version: 1.0\r\n\r\n";
	imap_write_envelope_header(b, hdr, strlen(hdr));
	CHECK_STR(take(b), rfc3501_env_want);
	CHECK_STR(imap_env_field_name(IMAP_ENV_REPLY_TO), "Reply-To");
	CHECK(imap_env_field_name(IMAP_ENV_NFIELDS) == NULL);
	evbuffer_free(b);
}

/* Address fields as ENVELOPE shows them. */
static const struct {
	const char *in;
	const char *want;
} addr_cases[] = {
	{ NULL, "NIL" },
	{ "", "NIL" },
	{ ",,", "NIL" },
	{ "Undisclosed recipients:;",
	  "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL))" },
	{ "Team: a@b.c, \"Ann Lee\" <ann@d.e>;, z@y.x",
	  "((NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"b.c\")"
	  "(\"Ann Lee\" NIL \"ann\" \"d.e\")(NIL NIL NIL NIL)"
	  "(NIL NIL \"z\" \"y.x\"))" },
	{ "<@relay.net:joe@x.org>", "((NIL \"@relay.net\" \"joe\" \"x.org\"))" },
	{ "joe", "((NIL NIL \"joe\" \"MISSING_DOMAIN\"))" },
	{ "<>", "((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))" },
	{ "=?utf-8?q?J=C3=B6rg?= <j@x.de>",
	  "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.de\"))" },
	{ "J\xc3\xb6rg <j@x.de>", "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.de\"))" },
	{ "\"a \\\"b\\\"\" <c@d>", "((\"a \\\"b\\\"\" NIL \"c\" \"d\"))" },
};

static void
test_addresses(void)
{
	struct evbuffer *b = evbuffer_new();

	for (size_t i = 0; i < N(addr_cases); i++) {
		imap_write_address_list(b, addr_cases[i].in);
		CHECK_STR(take(b), addr_cases[i].want);
	}
	/* Sender and Reply-To fall back to From when empty of addresses;
	 * an 8-bit subject is a literal. */
	const char *f[IMAP_ENV_NFIELDS] = {
		[IMAP_ENV_SUBJECT] = "Gr\xc3\xbc\xc3\x9f" "e",
		[IMAP_ENV_FROM] = "a@b",
		[IMAP_ENV_SENDER] = ",",
		[IMAP_ENV_REPLY_TO] = "r@s",
		[IMAP_ENV_BCC] = "Undisclosed:;",
		[IMAP_ENV_IN_REPLY_TO] = "<x@y>",
	};
	imap_write_envelope(b, f);
	CHECK_STR(take(b),
	    "(NIL {7}\r\nGr\xc3\xbc\xc3\x9f" "e ((NIL NIL \"a\" \"b\")) "
	    "((NIL NIL \"a\" \"b\")) ((NIL NIL \"r\" \"s\")) NIL NIL "
	    "((NIL NIL \"Undisclosed\" NIL)(NIL NIL NIL NIL)) \"<x@y>\" NIL)");
	const char *none[IMAP_ENV_NFIELDS] = { NULL };
	imap_write_envelope(b, none);
	CHECK_STR(take(b), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	evbuffer_free(b);
}

/* ---- BODY and BODYSTRUCTURE ---- */

/* A body of exactly size octets in lines lines, CRLF-terminated. */
static char *
text_body(size_t size, size_t lines)
{
	char *s = malloc(size + 1), *p = s;
	size_t each = size / lines;

	for (size_t i = 0; i < lines; i++) {
		size_t n = i + 1 == lines ? size - (size_t)(p - s) : each;
		memset(p, 'a' + (char)(i % 26), n - 2);
		memcpy(p + n - 2, "\r\n", 2);
		p += n;
	}
	*p = '\0';
	return s;
}

static const char *
bodystructure(struct evbuffer *b, const char *msg, bool extended)
{
	struct mime_tree *t = mime_parse(msg, strlen(msg));

	imap_write_body(b, t, msg, extended);
	mime_free(&t);
	return take(b);
}

/* RFC 3501 7.4.2's two BODYSTRUCTURE examples, rebuilt as messages. */
static void
test_rfc3501_examples(void)
{
	struct evbuffer *b = evbuffer_new();
	char *text = text_body(3028, 92), *msg;

	msg = malloc(4096);
	snprintf(msg, 4096, "Subject: x\r\nContent-Type: TEXT/PLAIN; "
	    "CHARSET=US-ASCII\r\n\r\n%s", text);
	CHECK_STR(bodystructure(b, msg, false),
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "3028 92)");
	CHECK_STR(bodystructure(b, msg, true),
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "3028 92 NIL NIL NIL NIL)");
	free(msg);
	free(text);

	char *p1 = text_body(1152, 23), *p2 = text_body(4554, 73);
	msg = malloc(8192);
	snprintf(msg, 8192,
	    "Content-Type: MULTIPART/MIXED; BOUNDARY=\"x\"\r\n\r\n"
	    "--x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n%s\r\n"
	    "--x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
	    "Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
	    "Content-Description: Compiler diff\r\n"
	    "Content-Transfer-Encoding: BASE64\r\n\r\n%s\r\n--x--\r\n", p1, p2);
	CHECK_STR(bodystructure(b, msg, false),
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" "
	    "\"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" "
	    "\"Compiler diff\" \"BASE64\" 4554 73) \"MIXED\")");
	free(msg);
	free(p1);
	free(p2);
	evbuffer_free(b);
}

/* multipart/alternative with a nested multipart/mixed holding a
 * forwarded multipart message (the sample of test_mime). */
static const char nested[] =
	"From: Alice <alice@example.com>\r\n"
	"To: Bob <bob@example.com>\r\n"
	"Subject: Test\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"outer\"\r\n"
	"\r\n"
	"This is a preamble.\r\n"
	"--outer\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Hello Bob=\r\n"
	"\r\n"
	"--outer\r\n"
	"Content-Type: multipart/mixed; boundary=inner\r\n"
	"\r\n"
	"--inner\r\n"
	"Content-Type: text/html; charset=\"utf-8\"\r\n"
	"\r\n"
	"<p>Hello</p>\r\n"
	"--inner\r\n"
	"Content-Type: message/rfc822\r\n"
	"Content-Disposition: attachment; filename=\"fwd.eml\"\r\n"
	"\r\n"
	"From: Carol <carol@example.com>\r\n"
	"Subject: Fwd\r\n"
	"Content-Type: multipart/mixed; boundary=\"deep\"\r\n"
	"\r\n"
	"--deep\r\n"
	"\r\n"
	"deep text\r\n"
	"--deep\r\n"
	"Content-Type: application/pdf; name=x.pdf\r\n"
	"Content-Transfer-Encoding: BASE64\r\n"
	"\r\n"
	"JVBERi0=\r\n"
	"--deep--\r\n"
	"--inner--\r\n"
	"--outer--\r\n"
	"epilogue\r\n";

#define CAROL "((\"Carol\" NIL \"carol\" \"example.com\"))"
#define CAROL_ENV "(NIL \"Fwd\" " CAROL " " CAROL " " CAROL \
	" NIL NIL NIL NIL NIL)"

static void
test_nested(void)
{
	struct evbuffer *b = evbuffer_new();

	CHECK_STR(bodystructure(b, nested, true),
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
	    "\"QUOTED-PRINTABLE\" 12 1 NIL NIL NIL NIL)"
	    "((\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 1 "
	    "NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 224 " CAROL_ENV " "
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 9 1 "
	    "NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"x.pdf\") NIL "
	    "NIL \"BASE64\" 8 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"deep\") "
	    "NIL NIL NIL) 13 NIL (\"ATTACHMENT\" (\"FILENAME\" \"fwd.eml\")) NIL "
	    "NIL) \"MIXED\" (\"BOUNDARY\" \"inner\") NIL NIL NIL) \"ALTERNATIVE\" "
	    "(\"BOUNDARY\" \"outer\") NIL NIL NIL)");
	CHECK_STR(bodystructure(b, nested, false),
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
	    "\"QUOTED-PRINTABLE\" 12 1)"
	    "((\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 1)"
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 224 " CAROL_ENV " "
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 9 1)"
	    "(\"APPLICATION\" \"PDF\" (\"NAME\" \"x.pdf\") NIL NIL \"BASE64\" 8) "
	    "\"MIXED\") 13) \"MIXED\") \"ALTERNATIVE\")");
	evbuffer_free(b);
}

/* Odd messages and their BODYSTRUCTURE. */
static const struct {
	const char *msg;
	const char *want;
} body_cases[] = {
	/* no Content-Type at all */
	{ "From: a@b\r\n\r\nhello\r\nworld\r\n",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2 "
	  "NIL NIL NIL NIL)" },
	/* no header, no body */
	{ "", "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 "
	  "NIL NIL NIL NIL)" },
	/* a multipart without parts shows one empty text part */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\nno parts\r\n",
	  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) "
	  "\"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)" },
	/* broken boundaries: the last part runs to the end */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nA\r\n"
	  "--b\r\nContent-Type: image/gif\r\n\r\nGIF89a",
	  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 1 1 "
	  "NIL NIL NIL NIL)(\"IMAGE\" \"GIF\" NIL NIL NIL \"7BIT\" 6 NIL NIL NIL "
	  "NIL) \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)" },
	/* an encoded message/rfc822 is opaque octets */
	{ "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
	  "\r\nU3ViamVjdDogeA0KDQp4\r\n",
	  "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 22 NIL NIL NIL "
	  "NIL)" },
	/* every extension field; 8-bit values become literals */
	{ "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
	  "Content-Description: Caf\xc3\xa9\r\n"
	  "Content-Disposition: inline; filename*=utf-8''caf%C3%A9.txt\r\n"
	  "Content-Language: en, fr\r\n"
	  "Content-Location: http://x/y\r\n"
	  "Content-MD5: abc=\r\n\r\nx",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\") NIL "
	  "{5}\r\nCaf\xc3\xa9 \"7BIT\" 1 1 \"abc=\" (\"INLINE\" (\"FILENAME*\" "
	  "\"utf-8''caf%C3%A9.txt\")) (\"en\" \"fr\") \"http://x/y\")" },
	/* message/global is a message too */
	{ "Content-Type: message/global\r\n\r\nSubject: \xc3\xa9\r\n\r\nhi",
	  "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 17 (NIL {2}\r\n\xc3\xa9 "
	  "NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
	  "\"us-ascii\") NIL NIL \"7BIT\" 2 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)" },
};

static void
test_bodies(void)
{
	struct evbuffer *b = evbuffer_new();

	for (size_t i = 0; i < N(body_cases); i++)
		CHECK_STR(bodystructure(b, body_cases[i].msg, true),
		    body_cases[i].want);

	/* an empty file maps to no memory at all */
	struct mime_tree *t = mime_parse(NULL, 0);
	struct imap_section sec;
	size_t off, len;
	imap_write_body(b, t, NULL, false);
	CHECK_STR(take(b), "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
	    "\"7BIT\" 0 0)");
	CHECK(imap_section_parse("HEADER.FIELDS (From)", &sec));
	CHECK(imap_section_locate(&sec, t, NULL, &off, &len, b) ==
	    IMAP_SECTION_SYNTH);
	CHECK_STR(take(b), "\r\n");
	mime_free(&t);
	evbuffer_free(b);
}

/* ---- sections ---- */

/* spec; the expected bytes, or NULL for no such part */
static const struct {
	const char *spec;
	const char *want;
} section_cases[] = {
	{ "1", "Hello Bob=\r\n" },
	{ "1.MIME", "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n" },
	{ "2.1", "<p>Hello</p>" },
	{ "2.2.HEADER", "From: Carol <carol@example.com>\r\nSubject: Fwd\r\n"
	  "Content-Type: multipart/mixed; boundary=\"deep\"\r\n\r\n" },
	{ "2.2.1", "deep text" },
	{ "2.2.2", "JVBERi0=" },
	{ "2.2.1.MIME", "\r\n" },
	{ "2.2.2.MIME", "Content-Type: application/pdf; name=x.pdf\r\n"
	  "Content-Transfer-Encoding: BASE64\r\n\r\n" },
	{ "2.2.HEADER.FIELDS (From Subject)",
	  "From: Carol <carol@example.com>\r\nSubject: Fwd\r\n\r\n" },
	{ "2.2.header.fields (\"subject\" X-None)", "Subject: Fwd\r\n\r\n" },
	{ "HEADER.FIELDS.NOT (From To Subject MIME-Version)",
	  "Content-Type: multipart/alternative; boundary=\"outer\"\r\n\r\n" },
	{ "HEADER.FIELDS (X-Absent)", "\r\n" },
	{ "1.HEADER", NULL },           /* not a message/rfc822 part */
	{ "1.TEXT", NULL },
	{ "3", NULL },
	{ "2.3", NULL },
	{ "2.2.3", NULL },
	{ "2.1.1", NULL },
};

static void
test_sections(void)
{
	struct mime_tree *t = mime_parse(nested, strlen(nested));
	struct evbuffer *b = evbuffer_new();
	struct imap_section sec;
	size_t off, len;

	for (size_t i = 0; i < N(section_cases); i++) {
		const char *want = section_cases[i].want;
		CHECK(imap_section_parse(section_cases[i].spec, &sec));
		enum imap_section_rc rc = imap_section_locate(&sec, t, nested, &off,
		    &len, b);
		if (rc == IMAP_SECTION_RANGE)
			evbuffer_add(b, nested + off, len);
		CHECK(want ? rc != IMAP_SECTION_NONE : rc == IMAP_SECTION_NONE);
		CHECK_STR(take(b), want ? want : "");
	}
	/* the whole message, its header and text */
	CHECK(imap_section_parse("", &sec));
	CHECK(imap_section_locate(&sec, t, nested, &off, &len, b) ==
	    IMAP_SECTION_RANGE && off == 0 && len == strlen(nested));
	CHECK(imap_section_parse("HEADER", &sec));
	CHECK(imap_section_locate(&sec, t, nested, &off, &len, b) ==
	    IMAP_SECTION_RANGE && off == 0 && len == 151);
	CHECK(imap_section_parse("TEXT", &sec));
	CHECK(imap_section_locate(&sec, t, nested, &off, &len, b) ==
	    IMAP_SECTION_RANGE && off == 151 && off + len == strlen(nested));
	CHECK(imap_section_parse("2.2", &sec));
	CHECK(imap_section_locate(&sec, t, nested, &off, &len, b) ==
	    IMAP_SECTION_RANGE && strncmp(nested + off, "From: Carol", 11) == 0);
	mime_free(&t);
	evbuffer_free(b);
}

static const char *const bad_specs[] = {
	"0", "1.", "1..2", ".1", "MIME", "HEADER.FIELDS", "HEADER.FIELDS ()",
	"HEADER.FIELDS (From", "HEADER.FIELDS(From)", "HEADER.FIELDS (From )",
	"HEADER.FIELDS (\"\")", "TEXT.MIME", "1.TEXT5", "1.2.3x", "HEADERX",
	" 1", "1 ", "TEXT ", "2147483648", "1.MIME.TEXT", "HEADER.FIELDS.NOT",
	"HEADER.FIELDS (a\"b)", "x",
};

static void
test_section_syntax(void)
{
	struct imap_section sec;

	for (size_t i = 0; i < N(bad_specs); i++) {
		bool ok = imap_section_parse(bad_specs[i], &sec);
		CHECK(!ok);
		if (ok)
			fprintf(stderr, "  accepted \"%s\"\n", bad_specs[i]);
	}
	CHECK(imap_section_parse("1.2.HEADER.FIELDS (From To)", &sec));
	CHECK(sec.nparts == 2 && sec.part[0] == 1 && sec.part[1] == 2);
	CHECK(sec.text == IMAP_SECTION_HEADER_FIELDS && sec.nfields == 2);
	CHECK_STR(sec.fields[1], "To");
	CHECK(imap_section_parse("2147483647.MIME", &sec));
	CHECK(sec.part[0] == 2147483647u && sec.text == IMAP_SECTION_MIME);

	/* caps on part numbers and field names */
	char spec[1024] = "1";
	for (int i = 1; i < IMAP_SECTION_PARTS_MAX; i++)
		strcat(spec, ".1");
	CHECK(imap_section_parse(spec, &sec));
	strcat(spec, ".1");
	CHECK(!imap_section_parse(spec, &sec));
	strcpy(spec, "HEADER.FIELDS (A");
	for (int i = 1; i < IMAP_SECTION_FIELDS_MAX; i++)
		strcat(spec, " A");
	CHECK(imap_section_parse(strcat(spec, ")"), &sec));
	CHECK(sec.nfields == IMAP_SECTION_FIELDS_MAX);
	strcpy(spec + strlen(spec) - 1, " A)");
	CHECK(!imap_section_parse(spec, &sec));
	strcpy(spec, "HEADER.FIELDS (");
	memset(spec + 15, 'x', IMAP_SECTION_FIELD_LEN);
	strcpy(spec + 15 + IMAP_SECTION_FIELD_LEN, ")");
	CHECK(imap_section_parse(spec, &sec));
	strcpy(spec + 15 + IMAP_SECTION_FIELD_LEN, "x)");
	CHECK(!imap_section_parse(spec, &sec));
}

/* ---- dates ---- */

static void
test_datetime(void)
{
	char buf[IMAP_DATETIME_SIZE];
	time_t t;
	int tz;

	imap_datetime_format(837595405, -420, buf);
	CHECK_STR(buf, "17-Jul-1996 02:23:25 -0700");
	imap_datetime_format(946684800, 0, buf);
	CHECK_STR(buf, " 1-Jan-2000 00:00:00 +0000");
	imap_datetime_format(946684800, 330, buf);
	CHECK_STR(buf, " 1-Jan-2000 05:30:00 +0530");

	CHECK(imap_datetime_parse("17-Jul-1996 02:23:25 -0700", &t, &tz));
	CHECK(t == 837595405 && tz == -420);
	CHECK(imap_datetime_parse(" 1-Jan-2000 05:30:00 +0530", &t, &tz));
	CHECK(t == 946684800 && tz == 330);
	CHECK(imap_datetime_parse("1-jan-2000 00:00:00 +0000", &t, NULL));
	CHECK(t == 946684800);
	CHECK(imap_datetime_parse("01-Jan-2000 00:00:00 -0000", &t, &tz));
	CHECK(imap_datetime_parse("29-Feb-2000 00:00:00 +0000", &t, &tz));
	static const char *const bad[] = {
		"", "17-Jul-96 02:23:25 -0700", "32-Jul-1996 02:23:25 -0700",
		"17-Foo-1996 02:23:25 -0700", "17-Jul-1996 24:00:00 +0000",
		"17-Jul-1996 02:23:25 -07000", "17-Jul-1996 02:23:25 -0760",
		"29-Feb-2001 00:00:00 +0000", "17-Jul-1996 02:23 -0700",
		"17-Jul-1996  02:23:25 -0700", "\"17-Jul-1996 02:23:25 -0700\"",
		"17-Jul-1996 02:23:25 0700", "123-Jul-1996 02:23:25 -0700",
		"17-Jul-1996", "17-Jul-1996 02:23:25",
	};
	for (size_t i = 0; i < N(bad); i++)
		CHECK(!imap_datetime_parse(bad[i], &t, &tz));

	/* round trip */
	srand(7);
	for (int i = 0; i < 2000; i++) {
		time_t in = (time_t)(rand() % 2000000000) * (rand() % 2 ? 1 : 2);
		int zone = (rand() % (2 * 14 * 60 + 1)) - 12 * 60;
		imap_datetime_format(in, zone, buf);
		CHECK(imap_datetime_parse(buf, &t, &tz) && t == in && tz == zone);
	}

	CHECK(imap_date_parse("1-Feb-1994", &t) && t == 760060800);
	CHECK(imap_date_parse("01-feb-1994", &t) && t == 760060800);
	CHECK(!imap_date_parse("1-Feb-94", &t));
	CHECK(!imap_date_parse("1-Feb-1994 ", &t));
	CHECK(!imap_date_parse("30-Feb-1994", &t));
}

/* RFC 5322 Date: values; want 0 with ok false: unreadable. */
static const struct {
	const char *in;
	bool ok;
	long long t;
	int tz;
} date_cases[] = {
	{ "Fri, 21 Nov 1997 09:55:06 -0600", true, 880127706, -360 },
	{ "Tue, 1 Jul 2003 10:52:37 +0200", true, 1057049557, 120 },
	{ "Thu, 13 Feb 1969 23:32:54 -0330", true, -27723426, -210 },
	{ "21 Nov 97 09:55:06 GMT", true, 880106106, 0 },
	{ "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)", true, 837595405, -420 },
	{ "17 Jul 1996 02:23 PDT", true, 837595380, -420 },
	{ "Wed Jul 17 02:23:25 1996", true, 837570205, 0 },
	{ "Wed, 17-Jul-1996 02:23:25 EST", true, 837588205, -300 },
	{ "1 Jan 2000 00:00:00 Z", true, 946684800, 0 },
	{ "1 Jan 2000 00:00:00 A", true, 946684800, 0 },
	{ "Sat, 1 Jan 00 00:00 +0000", true, 946684800, 0 },
	{ "1 Jan 49 00:00:00 +0000", true, 2493072000LL, 0 },
	{ "1 Jan 50 00:00:00 +0000", true, -631152000, 0 },
	{ "1 Jan 100 00:00:00 +0000", true, 946684800, 0 },
	{ "Mon, 3 Mar 2008 12:00:00 GMT+0100", true, 1204542000, 60 },
	{ "3 Sept 2008 12:00 +0000", true, 1220443200, 0 },
	{ "  17   Jul   1996  ", true, 837561600, 0 },
	{ "Mon, 30 Jun 2008 12:00:00 +0000 (UTC)", true, 1214827200, 0 },
	{ "Mon,30 Jun 2008 12:00:00 +0000", true, 1214827200, 0 },
	{ "mon, 30 jun. 2008 12:00:00 ut", true, 1214827200, 0 },
	{ "30 June 2008 14:00:00 CEST", true, 1214827200, 120 },
	{ "", false, 0, 0 },
	{ "garbage", false, 0, 0 },
	{ "Wed, 17 1996 02:23:25 +0000", false, 0, 0 },
	{ "32 Jul 1996 00:00 +0000", false, 0, 0 },
	{ "30 Feb 2000 00:00 +0000", false, 0, 0 },
	{ "17 Jul 1996 25:00 +0000", false, 0, 0 },
	{ "((((((", false, 0, 0 },
};

static void
test_message_dates(void)
{
	for (size_t i = 0; i < N(date_cases); i++) {
		time_t t = 0;
		int tz = 12345;
		bool ok = imap_message_date_parse(date_cases[i].in, &t, &tz);
		CHECK(ok == date_cases[i].ok);
		if (ok && date_cases[i].ok)
			CHECK(t == (time_t)date_cases[i].t && tz == date_cases[i].tz);
		if (ok != date_cases[i].ok || (ok && (t != date_cases[i].t ||
		    tz != date_cases[i].tz)))
			fprintf(stderr, "  \"%s\": %d %lld %d\n", date_cases[i].in, ok,
			    (long long)t, tz);
	}
	/* a very long value is read up to its first 255 octets */
	char *s = malloc(10000);
	memset(s, ' ', 9999);
	s[9999] = '\0';
	memcpy(s, "1 Jan 2000", 10);
	time_t t;
	CHECK(imap_message_date_parse(s, &t, NULL) && t == 946684800);
	free(s);
}

/* ---- well-formedness under damage ---- */

/* Is s/len one well-formed IMAP parenthesised value: balanced, quoted
 * strings closed, literals exactly as long as they say? */
static bool
well_formed(const char *s, size_t len)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth < 0)
				return false;
		} else if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\')
					i++;
				if (i >= len || s[i] == '\r' || s[i] == '\n' ||
				    (unsigned char)s[i] >= 0x80)
					return false;
			}
			if (i >= len)
				return false;
		} else if (c == '{') {
			char *end;
			unsigned long n = strtoul(s + i + 1, &end, 10);
			if (end[0] != '}' || end[1] != '\r' || end[2] != '\n')
				return false;
			i = (size_t)(end + 2 - s) + n;
			if (i >= len)
				return false;
		} else if (c == '\r' || c == '\n' || (unsigned char)c >= 0x80) {
			return false;
		}
	}
	return depth == 0;
}

static void
test_mutations(void)
{
	static const char noise[] = "-\r\n:;\"=\\()<>@,{}b";
	static const char *const specs[] = {
		"", "HEADER", "TEXT", "1", "1.MIME", "2", "2.1", "2.2", "2.2.TEXT",
		"2.2.HEADER", "2.2.1", "2.2.2.MIME", "1.1", "3",
		"HEADER.FIELDS (From Content-Type)", "2.2.HEADER.FIELDS.NOT (From)",
	};
	size_t len = strlen(nested);
	struct evbuffer *b = evbuffer_new();
	int bad = 0;

	srand(99);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = len - (size_t)rand() % (len / 2 + 1);
		char *m = malloc(n + 1);
		memcpy(m, nested, n);
		for (int k = rand() % 8; k > 0; k--)
			m[(size_t)rand() % n] = rand() % 2 ? (char)(rand() % 256)
			    : noise[rand() % (int)(sizeof(noise) - 1)];
		struct mime_tree *t = mime_parse(m, n);
		for (int ext = 0; ext < 2; ext++) {
			imap_write_body(b, t, m, ext);
			size_t olen = evbuffer_get_length(b);
			bad += !well_formed((const char *)evbuffer_pullup(b, -1), olen);
			evbuffer_drain(b, olen);
		}
		for (size_t i = 0; i < N(specs); i++) {
			struct imap_section sec;
			size_t off = 0, slen = 0;
			imap_section_parse(specs[i], &sec);
			if (imap_section_locate(&sec, t, m, &off, &slen, b) ==
			    IMAP_SECTION_RANGE)
				bad += off + slen > n;
			evbuffer_drain(b, evbuffer_get_length(b));
		}
		mime_free(&t);
		free(m);
	}
	CHECK(bad == 0);
	evbuffer_free(b);
}

int
main(void)
{
	UNIT_RUN(test_strings);
	UNIT_RUN(test_envelope);
	UNIT_RUN(test_addresses);
	UNIT_RUN(test_rfc3501_examples);
	UNIT_RUN(test_nested);
	UNIT_RUN(test_bodies);
	UNIT_RUN(test_sections);
	UNIT_RUN(test_section_syntax);
	UNIT_RUN(test_datetime);
	UNIT_RUN(test_message_dates);
	UNIT_RUN(test_mutations);
	take(NULL);
	return unit_done();
}
