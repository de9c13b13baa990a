/* test_mime: MIME structure of messages in memory: defaults, Content-*
 * fields with RFC 2231 parameters, a real-world nesting of multipart and
 * message/rfc822 with offsets checked against the text, broken boundaries,
 * the depth and part caps, IMAP part numbering, and a mutation loop that
 * checks the tree's invariants on damaged copies of the samples. */
#include <stdlib.h>

#include "mime.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* multipart/alternative holding text/plain and a multipart/mixed with an
 * HTML part and a forwarded message, itself multipart. */
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

static struct mime_tree *
parse(const char *msg)
{
	return mime_parse(msg, strlen(msg));
}

static bool
range_is(const char *msg, size_t off, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(msg + off, want, len) == 0;
}

/* The part at section "1.2.3" (or "" for the root). */
static const struct mime_part *
section(const struct mime_tree *t, const char *spec)
{
	unsigned nums[64];
	size_t n = 0;

	for (const char *p = spec; *p != '\0' && n < 64; ) {
		nums[n++] = (unsigned)strtoul(p, (char **)&p, 10);
		if (*p == '.')
			p++;
	}
	return mime_section_part(t, nums, n);
}

static void
test_defaults(void)
{
	const char *m = "From: a@b\r\nSubject: x\r\n\r\nhello\r\nworld\r\n";
	struct mime_tree *t = parse(m);
	const struct mime_part *p = mime_root(t);

	CHECK_STR(p->type, "text");
	CHECK_STR(p->subtype, "plain");
	CHECK(p->nparams == 1);
	CHECK_STR(mime_param_get(p->params, p->nparams, "charset"), "us-ascii");
	CHECK_STR(p->encoding, "7bit");
	CHECK(p->id == NULL && p->description == NULL && p->md5 == NULL &&
	    p->disposition == NULL && p->nlanguages == 0 && p->location == NULL);
	CHECK(p->hdr_off == 0 && p->hdr_len == 25);
	CHECK(range_is(m, p->body_off, p->body_len, "hello\r\nworld\r\n"));
	CHECK(p->body_lines == 2);
	CHECK(mime_part_count(t) == 1 && !mime_truncated(t));
	CHECK(section(t, "1") == p && section(t, "") == p);
	CHECK(section(t, "2") == NULL && section(t, "1.1") == NULL);
	mime_free(&t);
	CHECK(t == NULL);
	mime_free(&t);

	/* an empty file maps to no memory at all */
	t = mime_parse(NULL, 0);
	p = mime_root(t);
	CHECK(p->hdr_len == 0 && p->body_len == 0 && mime_is_text(p));
	mime_free(&t);
}

/* Header and body boundaries of odd messages. */
static const struct {
	const char *msg;
	size_t hdr_len;
	size_t body_len, lines;
} split_cases[] = {
	{ "", 0, 0, 0 },
	{ "\r\n", 2, 0, 0 },
	{ "\r\nbody", 2, 4, 1 },
	{ "A: b\r\n", 6, 0, 0 },            /* no blank line: all header */
	{ "A: b", 4, 0, 0 },
	{ "A: b\n\nbody\n", 6, 5, 1 },      /* bare LF */
	{ "A: b\r\n\r\nx\r\ny", 8, 4, 2 },  /* last line without CRLF */
	{ "A: b\r\n \r\nX: c\r\n\r\n", 17, 0, 0 },  /* " " line folds */
	{ "A: b\r\n\r", 7, 0, 0 },          /* a lone CR at the end */
};

static void
test_split(void)
{
	for (size_t i = 0; i < N(split_cases); i++) {
		struct mime_tree *t = parse(split_cases[i].msg);
		const struct mime_part *p = mime_root(t);
		CHECK(p->hdr_len == split_cases[i].hdr_len);
		CHECK(p->body_off == p->hdr_len);
		CHECK(p->body_len == split_cases[i].body_len);
		CHECK(p->body_lines == split_cases[i].lines);
		mime_free(&t);
	}
}

/* Content-* fields: value, the field that holds it in a rendering. */
static void
test_fields(void)
{
	const char *m =
	    "Content-Type: Text/HTML ; (comment) Charset = \"ISO-8859-1\" ;"
	    "\r\n\tFormat=flowed;;junk; name=\"a \\\"q\\\" b\"\r\n"
	    "Content-Transfer-Encoding:  Quoted-Printable (qp)\r\n"
	    "content-id: <part1@example.com>\r\n"
	    "Content-Description: Caf\xc3\xa9 menu\r\n"
	    "Content-Disposition: INLINE; filename=menu.html;\r\n"
	    " size=1234\r\n"
	    "Content-Language: en-GB, (British) fr\r\n"
	    "Content-Location: http://example.com/\r\n  menu.html\r\n"
	    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\nx";
	struct mime_tree *t = parse(m);
	const struct mime_part *p = mime_root(t);

	CHECK_STR(p->type, "text");
	CHECK_STR(p->subtype, "html");
	CHECK(p->nparams == 3);
	CHECK_STR(p->params[0].name, "charset");
	CHECK_STR(p->params[0].value, "ISO-8859-1");
	CHECK_STR(p->params[1].name, "format");
	CHECK_STR(p->params[1].value, "flowed");
	CHECK_STR(p->params[2].name, "name");
	CHECK_STR(p->params[2].value, "a \"q\" b");
	CHECK_STR(p->encoding, "quoted-printable");
	CHECK_STR(p->id, "<part1@example.com>");
	CHECK_STR(p->description, "Caf\xc3\xa9 menu");
	CHECK_STR(p->disposition, "inline");
	CHECK(p->ndisp_params == 2);
	CHECK_STR(mime_param_get(p->disp_params, p->ndisp_params, "filename"),
	    "menu.html");
	CHECK_STR(mime_param_get(p->disp_params, p->ndisp_params, "size"),
	    "1234");
	CHECK(p->nlanguages == 2);
	CHECK_STR(p->languages[0], "en-GB");
	CHECK_STR(p->languages[1], "fr");
	CHECK_STR(p->location, "http://example.com/  menu.html");
	CHECK_STR(p->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
	mime_free(&t);
}

/* Content-Type values and what becomes of them. */
static const struct {
	const char *ct;
	const char *type, *subtype;
	const char *params;         /* "name=value;" each */
} type_cases[] = {
	{ "text/plain", "text", "plain", "charset=us-ascii;" },
	{ "TEXT/PLAIN; CHARSET=US-ASCII", "text", "plain", "charset=US-ASCII;" },
	{ "image/png", "image", "png", "" },
	{ "text", "text", "plain", "charset=us-ascii;" },         /* invalid */
	{ "/plain", "text", "plain", "charset=us-ascii;" },
	{ "text/", "text", "plain", "charset=us-ascii;" },
	{ "", "text", "plain", "charset=us-ascii;" },
	{ "application/x-foo; a=1; b", "application", "x-foo", "a=1;" },
	{ "application/x; a=\"unterminated", "application", "x",
	  "a=unterminated;" },
	{ "text/plain; charset=us-ascii (Plain text)", "text", "plain",
	  "charset=us-ascii;" },
	{ "text/plain; name=my file.txt; x=y", "text", "plain",
	  "name=my;x=y;charset=us-ascii;" },
	/* RFC 2231 continuations, charsets, languages */
	{ "application/x; title*0=\"abc \"; title*1=def; title*2=\"g\"",
	  "application", "x", "title=abc defg;" },
	{ "application/x; title*2=c; title*1=b; title*0=a", "application", "x",
	  "title=abc;" },
	{ "application/x; title*0=a; title*2=c", "application", "x",
	  "title=a;" },
	{ "application/x; title*=us-ascii'en-us'This%20is", "application", "x",
	  "title*=us-ascii'en-us'This%20is;" },
	{ "application/x; title*0*=us-ascii'en'This%20is; title*1=\" fun\"",
	  "application", "x", "title*=us-ascii'en'This%20is%20fun;" },
	{ "application/x; title*0=\"a b\"; title*1*=%E2%82%AC", "application",
	  "x", "title*=''a%20b%E2%82%AC;" },
	{ "application/x; title*1=b", "application", "x", "" },
	{ "application/x; a*x=1; *=2", "application", "x", "a*x=1;*=2;" },
	{ "application/x; a*01=1; a*0=2", "application", "x", "a*01=1;a=2;" },
	{ "multipart/mixed; boundary=\"=_a b\"", "multipart", "mixed",
	  "boundary==_a b;" },
};

static void
test_types(void)
{
	for (size_t i = 0; i < N(type_cases); i++) {
		char msg[512], got[512] = "";
		snprintf(msg, sizeof(msg), "Content-Type: %s\r\n\r\n",
		    type_cases[i].ct);
		struct mime_tree *t = parse(msg);
		const struct mime_part *p = mime_root(t);
		for (size_t k = 0; k < p->nparams; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s=%s;", p->params[k].name, p->params[k].value);
		CHECK_STR(p->type, type_cases[i].type);
		CHECK_STR(p->subtype, type_cases[i].subtype);
		CHECK_STR(got, type_cases[i].params);
		mime_free(&t);
	}
}

/* section, type/subtype, body as text (NULL: don't check), lines */
static const struct {
	const char *section;
	const char *type;
	const char *body;
	size_t lines;
} nested_parts[] = {
	{ "1", "text/plain", "Hello Bob=\r\n", 1 },
	{ "2", "multipart/mixed", NULL, 22 },
	{ "2.1", "text/html", "<p>Hello</p>", 1 },
	{ "2.2", "message/rfc822", NULL, 13 },
	{ "2.2.1", "text/plain", "deep text", 1 },
	{ "2.2.2", "application/pdf", "JVBERi0=", 1 },
};

static void
test_nested(void)
{
	struct mime_tree *t = parse(nested);
	const struct mime_part *root = mime_root(t);

	CHECK(mime_is_multipart(root) && root->nchildren == 2);
	CHECK_STR(root->subtype, "alternative");
	CHECK(mime_part_count(t) == 8);     /* 6 numbered, root, embedded */
	for (size_t i = 0; i < N(nested_parts); i++) {
		const struct mime_part *p = section(t, nested_parts[i].section);
		char type[64];
		CHECK(p != NULL);
		if (p == NULL)
			continue;
		snprintf(type, sizeof(type), "%s/%s", p->type, p->subtype);
		CHECK_STR(type, nested_parts[i].type);
		if (nested_parts[i].body)
			CHECK(range_is(nested, p->body_off, p->body_len,
			    nested_parts[i].body));
		CHECK(p->body_lines == nested_parts[i].lines);
	}
	const struct mime_part *fwd = section(t, "2.2");
	CHECK(mime_is_message(fwd) && mime_is_multipart(fwd->message));
	CHECK(range_is(nested, fwd->hdr_off, fwd->hdr_len,
	    "Content-Type: message/rfc822\r\n"
	    "Content-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n"));
	CHECK(fwd->message->hdr_off == fwd->body_off);
	CHECK(range_is(nested, fwd->message->hdr_off, 31,
	    "From: Carol <carol@example.com>"));
	CHECK(range_is(nested, fwd->body_off + fwd->body_len - 8, 8,
	    "--deep--"));
	CHECK_STR(fwd->disposition, "attachment");
	CHECK_STR(section(t, "2.2.2")->encoding, "base64");
	CHECK(section(t, "2.2.3") == NULL && section(t, "3") == NULL);
	CHECK(section(t, "2.1.1") == NULL && section(t, "0") == NULL);
	/* the first part's MIME header */
	const struct mime_part *p1 = section(t, "1");
	CHECK(range_is(nested, p1->hdr_off, p1->hdr_len,
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
	mime_free(&t);
}

/* Broken multiparts: the message, its number of children, the body of
 * the last child (NULL: don't check). */
static const struct {
	const char *msg;
	size_t nchildren;
	const char *last;
} broken_cases[] = {
	/* no final boundary: the last part runs to the end */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n", 2, "two\r\n" },
	/* no boundary parameter: no parts */
	{ "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\none\r\n--b--\r\n",
	  0, NULL },
	/* a boundary that never occurs */
	{ "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--b\r\n\r\n1\r\n",
	  0, NULL },
	/* "--bX" is not a delimiter of "b"; padding after one is fine */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b \t\r\n\r\n--bX\r\n--b--garbage\r\n", 1, "--bX" },
	/* an empty part between two delimiters, and a last one at the end */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\n--b\r\n\r\nx\r\n--b", 3, "" },
	/* bare LF line ends */
	{ "Content-Type: multipart/mixed; boundary=b\n\npre\n--b\n\none\n"
	  "--b\n\ntwo\n--b--\n", 2, "two" },
	/* the inner multipart never closes: its parent's delimiter ends it */
	{ "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	  "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"
	  "--i\r\n\r\ninner\r\n--o\r\n\r\nlast\r\n--o--\r\n", 2, "last" },
	/* delimiter without line end at the very end */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--",
	  1, "x" },
	/* a boundary longer than MIME_BOUNDARY_MAX is ignored */
	{ "Content-Type: multipart/mixed; boundary=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "\r\n\r\n--b\r\n", 0, NULL },
};

static void
test_broken(void)
{
	for (size_t i = 0; i < N(broken_cases); i++) {
		const char *m = broken_cases[i].msg;
		struct mime_tree *t = parse(m);
		const struct mime_part *p = mime_root(t), *last = p->children;
		CHECK(p->nchildren == broken_cases[i].nchildren);
		while (last && last->next)
			last = last->next;
		if (broken_cases[i].last && last)
			CHECK(range_is(m, last->body_off, last->body_len,
			    broken_cases[i].last));
		mime_free(&t);
	}
}

/* multipart/digest parts default to message/rfc822; a message/rfc822 in
 * base64 is not looked into. */
static void
test_digest(void)
{
	const char *m =
	    "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n"
	    "--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
	    "--d\r\nContent-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n"
	    "--d--\r\n";
	struct mime_tree *t = parse(m);
	const struct mime_part *p1 = section(t, "1"), *p3 = section(t, "3");

	CHECK(p1 && strcmp(p1->type, "message") == 0 && mime_is_message(p1));
	CHECK(p1 && range_is(m, p1->message->body_off, p1->message->body_len,
	    "body one"));
	CHECK(p1 && section(t, "1.1") == p1->message);
	CHECK_STR(section(t, "2")->type, "text");
	CHECK(p3 && p3->opaque && !mime_is_message(p3) && p3->message == NULL);
	CHECK(!mime_truncated(t));
	mime_free(&t);
}

/* A message/rfc822 nested past MIME_DEPTH_MAX. */
static void
test_depth(void)
{
	size_t levels = 3 * MIME_DEPTH_MAX, cap = levels * 80 + 16;
	char *m = malloc(cap), *p = m;

	for (size_t i = 0; i < levels; i++)
		p += sprintf(p, "Content-Type: message/rfc822\r\n\r\n");
	p += sprintf(p, "\r\ninnermost\r\n");
	struct mime_tree *t = mime_parse(m, (size_t)(p - m));
	const struct mime_part *q = mime_root(t);
	size_t depth = 0;
	while (q->message) {
		q = q->message;
		depth++;
	}
	CHECK(depth == MIME_DEPTH_MAX);
	CHECK(q->opaque && q->depth == MIME_DEPTH_MAX);
	CHECK(mime_truncated(t));
	mime_free(&t);

	/* nested multiparts */
	p = m;
	for (size_t i = 0; i < levels; i++)
		p += sprintf(p, "Content-Type: multipart/mixed; boundary=%zu\r\n"
		    "\r\n--%zu\r\n", i, i);
	struct mime_tree *t2 = mime_parse(m, (size_t)(p - m));
	CHECK(mime_part_count(t2) == MIME_DEPTH_MAX + 1);
	CHECK(mime_truncated(t2));
	mime_free(&t2);
	free(m);
}

/* More parts than MIME_PARTS_MAX: the last one allowed takes the rest. */
static void
test_part_cap(void)
{
	size_t nparts = 2 * MIME_PARTS_MAX;
	char *m = malloc(nparts * 16 + 128), *p = m;

	p += sprintf(p, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (size_t i = 0; i < nparts; i++)
		p += sprintf(p, "--b\r\n\r\n%zu\r\n", i);
	p += sprintf(p, "--b--\r\n");
	struct mime_tree *t = mime_parse(m, (size_t)(p - m));
	const struct mime_part *root = mime_root(t), *last = root->children;
	CHECK(mime_part_count(t) == MIME_PARTS_MAX);
	CHECK(root->nchildren == MIME_PARTS_MAX - 1);
	while (last->next)
		last = last->next;
	CHECK(last->body_off + last->body_len == root->body_off + root->body_len);
	CHECK(mime_truncated(t));
	unsigned n = MIME_PARTS_MAX - 1;
	CHECK(mime_section_part(t, &n, 1) == last);
	mime_free(&t);
	free(m);
}

/* The header iterator and unfolding. */
static void
test_header_iter(void)
{
	const char *h = "A: 1\r\nB : two\r\n  lines\r\nno colon\r\nC:\r\n\r\nD: x\r\n";
	struct mime_field f;
	size_t pos = 0;
	char buf[64];

	CHECK(mime_header_next(h, strlen(h), &pos, &f));
	CHECK(f.name_len == 1 && f.name[0] == 'A' && f.raw_len == 6);
	CHECK(mime_header_next(h, strlen(h), &pos, &f));
	CHECK(f.name_len == 1 && f.name[0] == 'B' && f.raw_len == 18);
	mime_unfold(f.value, f.value_len, buf, sizeof(buf));
	CHECK_STR(buf, "two  lines");
	CHECK(mime_header_next(h, strlen(h), &pos, &f));
	CHECK(f.name_len == 0);
	CHECK(mime_header_next(h, strlen(h), &pos, &f));
	CHECK(f.name_len == 1 && f.value_len == 0);
	CHECK(!mime_header_next(h, strlen(h), &pos, &f));
	CHECK(mime_unfold("  abc  ", 7, buf, 3) == 2);
	CHECK_STR(buf, "ab");
}

/* Walk the tree checking every range lies inside its parent's body and
 * siblings follow each other; returns the number of parts seen. */
static size_t
check_tree(const struct mime_part *p, size_t lo, size_t hi, int *bad)
{
	size_t n = 1, prev = lo;

	*bad += p->hdr_off < lo || p->hdr_off + p->hdr_len != p->body_off ||
	    p->body_off + p->body_len > hi || p->depth > MIME_DEPTH_MAX ||
	    p->type == NULL || p->subtype == NULL || p->encoding == NULL;
	for (const struct mime_part *c = p->children; c; c = c->next) {
		*bad += c->hdr_off < prev || c->parent != p;
		n += check_tree(c, p->body_off, p->body_off + p->body_len, bad);
		prev = c->body_off + c->body_len;
	}
	if (p->message) {
		*bad += p->message->hdr_off != p->body_off || p->children != NULL;
		n += check_tree(p->message, p->body_off, p->body_off + p->body_len,
		    bad);
	}
	return n;
}

/* A digest with an embedded message, RFC 2231 parameters and a group. */
static const char digest[] =
	"From: Undisclosed: a@b.c, \"D\xc3\xa9j\xc3\xa0\" <d@e.f>;\r\n"
	"Content-Type: multipart/digest; boundary=d\r\n\r\n"
	"--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n"
	"--d\r\nContent-Type: message/rfc822\r\n\r\n"
	"Content-Type: text/plain; title*0*=us-ascii'en'a%20b; title*1=c\r\n"
	"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC\r\n"
	"\r\nx\r\n--d--\r\n";

/* Damaged copies of the samples: truncated, bytes flipped or replaced by
 * the characters that matter to the parser. */
static void
test_mutations(void)
{
	static const char noise[] = "-\r\n:;\"=\\()*'%bd";
	static const char *const samples[] = { nested, digest };

	srand(4242);
	for (int iter = 0; iter < 6000; iter++) {
		const char *sample = samples[iter % N(samples)];
		size_t len = strlen(sample);
		size_t n = len - (size_t)rand() % (len / 2 + 1);
		/* exactly n bytes, so that ASan sees any overread */
		char *m = malloc(n ? n : 1);
		memcpy(m, sample, n);
		for (int k = rand() % 8; k > 0 && n > 0; k--)
			m[(size_t)rand() % n] = rand() % 2 ? (char)(rand() % 256)
			    : noise[rand() % (int)(sizeof(noise) - 1)];
		struct mime_tree *t = mime_parse(m, n);
		int bad = 0;
		size_t seen = check_tree(mime_root(t), 0, n, &bad);
		CHECK(bad == 0 && seen == mime_part_count(t) &&
		    seen <= MIME_PARTS_MAX);
		mime_free(&t);
		free(m);
	}
}

int
main(void)
{
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_split);
	UNIT_RUN(test_fields);
	UNIT_RUN(test_types);
	UNIT_RUN(test_nested);
	UNIT_RUN(test_broken);
	UNIT_RUN(test_digest);
	UNIT_RUN(test_depth);
	UNIT_RUN(test_part_cap);
	UNIT_RUN(test_header_iter);
	UNIT_RUN(test_mutations);
	return unit_done();
}
