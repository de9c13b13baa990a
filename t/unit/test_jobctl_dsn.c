/* test_jobctl_dsn: delivery status notifications.  Every built report is
 * checked for form (CRLF only, header lines under 998 octets, text lines
 * under 78, a multipart/report that mime_parse splits into the expected
 * parts); then each case checks its own fields: a failure to two
 * recipients against golden text, a delay, a success, what is returned
 * for each RET, ENVID and ORCPT present and absent, Status derivation, the
 * caps, a boundary found in the message, and the RFC 3461 tables of
 * dsn_wanted and dsn_sendable.  DSN_SHOW=1 prints the failure report. */
#include <stdbool.h>
#include <stdlib.h>

#include "dsn.h"
#include "mime.h"
#include "msg_header.h"
#include "queue.h"
#include "unit.h"
#include "xmalloc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define NOW         1700000000LL    /* Tue, 14 Nov 2023 22:13:20 +0000 */
#define NOW_DATE    "Tue, 14 Nov 2023 22:13:20 +0000"
#define ARRIVAL     (NOW - 10000)   /* 19:26:40 */
#define ATTEMPT     (NOW - 1000)    /* 21:56:40 */
#define UNTIL       (NOW + 5 * 86400)

static const char sample[] =
	"Received: from client.example.org by mx.example.com\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com, carol@example.com\r\n"
	"Subject: lunch\r\n"
	"\r\n"
	"Shall we?\r\n";
#define SAMPLE_HDR_LEN 123      /* through "Subject: lunch\r\n" */

/* A built report, parsed. */
struct built {
	char *msg;
	size_t len;
	struct mime_tree *tree;
	const struct mime_part *root;
	const struct mime_part *part[3];
	size_t nparts;
};

static char *
dup_range(const char *msg, size_t off, size_t len)
{
	return xstrndup(msg + off, len);
}

static char *
part_body(const struct built *b, size_t i)
{
	if (i >= b->nparts)
		return xstrdup("(no such part)");
	return dup_range(b->msg, b->part[i]->body_off, b->part[i]->body_len);
}

/* Lines of msg[from, to): CRLF ends only, each under max octets. */
static bool
lines_ok(const char *msg, size_t from, size_t to, size_t max)
{
	size_t start = from;

	for (size_t i = from; i < to; i++) {
		if (msg[i] == '\r' && (i + 1 >= to || msg[i + 1] != '\n'))
			return false;
		if (msg[i] == '\n' && (i == from || msg[i - 1] != '\r'))
			return false;
		if (msg[i] == '\n') {
			if (i - 1 - start >= max)
				return false;
			start = i + 1;
		}
	}
	return to - start < max;
}

/* Build, and check what every report must satisfy. */
static void
build(struct built *b, const struct dsn_report *r)
{
	const struct mime_part *p;
	size_t end;

	memset(b, 0, sizeof *b);
	b->msg = dsn_build(r, &b->len);
	CHECK(b->msg != NULL && strlen(b->msg) == b->len);
	b->tree = mime_parse(b->msg, b->len);
	b->root = mime_root(b->tree);
	CHECK(!mime_truncated(b->tree));
	CHECK_STR(b->root->type, "multipart");
	CHECK_STR(b->root->subtype, "report");
	CHECK_STR(mime_param_get(b->root->params, b->root->nparams,
	    "report-type"), "delivery-status");
	CHECK(mime_param_get(b->root->params, b->root->nparams, "boundary"));
	for (p = b->root->children; p && b->nparts < 3; p = p->next)
		b->part[b->nparts++] = p;
	CHECK(b->root->nchildren == 2 || b->root->nchildren == 3);
	CHECK(b->nparts >= 2);
	if (b->nparts < 2)
		return;
	CHECK_STR(b->part[0]->type, "text");
	CHECK_STR(b->part[0]->subtype, "plain");
	CHECK_STR(b->part[1]->type, "message");
	CHECK_STR(b->part[1]->subtype, "delivery-status");
	CHECK(b->part[0]->description && b->part[1]->description);
	/* everything we wrote: CRLF lines under 998 octets; the text under
	 * 78 columns; the returned message is the sender's own */
	end = b->nparts == 3 ? b->part[2]->body_off : b->len;
	CHECK(lines_ok(b->msg, 0, end, 998));
	if (b->nparts == 3)
		CHECK(lines_ok(b->msg, b->part[2]->body_off + b->part[2]->body_len,
		    b->len, 998));
	CHECK(lines_ok(b->msg, b->part[0]->body_off,
	    b->part[0]->body_off + b->part[0]->body_len, 78));
	CHECK(b->len >= 2 && memcmp(b->msg + b->len - 2, "\r\n", 2) == 0);
}

static void
built_free(struct built *b)
{
	mime_free(&b->tree);
	free(b->msg);
	memset(b, 0, sizeof *b);
}

/* The unfolded value of a top-level header field ("" when absent). */
static const char *
hdr(const struct built *b, const char *name)
{
	static char out[2048];

	if (!msg_header_get(b->msg, b->len, name, out, sizeof out))
		return "";
	return out;
}

/* text with each CRLF and the indentation after it made one space, so
 * that wrapped sentences can be searched. */
static char *
unwrap(const char *text)
{
	char *out = xmalloc(strlen(text) + 1), *o = out;

	for (const char *p = text; *p;) {
		if (p[0] == '\r' && p[1] == '\n') {
			p += 2;
			while (*p == ' ')
				p++;
			*o++ = ' ';
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* Header-style unfolding: each CRLF followed by a space removed. */
static char *
unfold(const char *text)
{
	char *out = xmalloc(strlen(text) + 1), *o = out;

	for (const char *p = text; *p;) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] == ' ')
			p += 2;
		else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* The rest of the line after the first prefix in s ("" if absent). */
static char *
after(const char *s, const char *prefix)
{
	const char *p = strstr(s, prefix);

	if (p == NULL)
		return xstrdup("");
	p += strlen(prefix);
	return xstrndup(p, strcspn(p, "\r\n"));
}

/* Does the text part hold s once unwrapped? */
static bool
text_holds(const struct built *b, const char *s)
{
	char *t = part_body(b, 0), *u = unwrap(t);
	bool found = strstr(u, s) != NULL;

	free(t);
	free(u);
	return found;
}

static bool
text_has(const struct built *b, const char *s)
{
	bool found = text_holds(b, s);

	if (!found) {
		char *t = part_body(b, 0);

		fprintf(stderr, "  text lacks \"%s\":\n%s\n", s, t);
		free(t);
	}
	return found;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* ---- a failure to two recipients, golden ---- */

static const struct dsn_rcpt two_failed[] = {
	{ .final = "bob@example.com", .original = "Bob@example.com",
	  .orcpt = "rfc822;Bob@example.com", .action = DSN_FAILED,
	  .code = 550, .diagnostic = "550 5.1.1 No such user",
	  .remote_mta = "store1.example.com", .last_attempt = ATTEMPT },
	{ .final = "carol@example.com", .action = DSN_FAILED,
	  .status = "5.2.2", .code = 552,
	  .diagnostic = "552 Mailbox full",
	  .remote_mta = "store2.example.com", .last_attempt = ATTEMPT },
};

static const char two_failed_status[] =
	"Original-Envelope-Id: env-42\r\n"
	"Reporting-MTA: dns;mx.example.com\r\n"
	"Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\r\n"
	"X-Mailsuite-Queue-Id: 0123456789ABCDEF\r\n"
	"\r\n"
	"Original-Recipient: rfc822;Bob@example.com\r\n"
	"Final-Recipient: rfc822;bob@example.com\r\n"
	"Action: failed\r\n"
	"Status: 5.1.1\r\n"
	"Remote-MTA: dns;store1.example.com\r\n"
	"Diagnostic-Code: smtp;550 5.1.1 No such user\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822;carol@example.com\r\n"
	"Action: failed\r\n"
	"Status: 5.2.2\r\n"
	"Remote-MTA: dns;store2.example.com\r\n"
	"Diagnostic-Code: smtp;552 Mailbox full\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000";

static struct dsn_report
base_report(const struct dsn_rcpt *rcpts, size_t n)
{
	return (struct dsn_report){
		.reporting_mta = "mx.example.com",
		.envid = "env-42",
		.ret = QUEUE_RET_NONE,
		.postmaster = "postmaster@mx.example.com",
		.to = "alice@example.org",
		.queue_id = "0123456789ABCDEF",
		.arrival = ARRIVAL,
		.rcpts = rcpts,
		.nrcpts = n,
		.message = sample,
		.message_len = sizeof(sample) - 1,
		.max_returned = 1 << 20,
		.now = NOW,
		.boundary_seed = "0123456789ABCDEF.1700000000",
	};
}

static void
test_failure(void)
{
	struct dsn_report r = base_report(two_failed, N(two_failed));
	struct built b;
	const char *mid;
	char *s, *boundary;
	size_t ml;

	build(&b, &r);
	if (getenv("DSN_SHOW") && strcmp(getenv("DSN_SHOW"), "1") == 0)
		fwrite(b.msg, 1, b.len, stdout);
	CHECK_STR(hdr(&b, "From"),
	    "Mail Delivery System <postmaster@mx.example.com>");
	CHECK_STR(hdr(&b, "To"), "<alice@example.org>");
	CHECK_STR(hdr(&b, "Subject"), "Undelivered Mail Returned to Sender");
	CHECK_STR(hdr(&b, "Date"), NOW_DATE);
	CHECK_STR(hdr(&b, "Auto-Submitted"), "auto-replied");
	CHECK_STR(hdr(&b, "MIME-Version"), "1.0");
	CHECK_STR(hdr(&b, "X-Mailsuite-Queue-Id"), "0123456789ABCDEF");
	CHECK_STR(hdr(&b, "Content-Transfer-Encoding"), "");
	mid = hdr(&b, "Message-ID");
	ml = strlen(mid);
	CHECK(strncmp(mid, "<dsn.", 5) == 0);
	CHECK(ml > 20 && strcmp(mid + ml - 16, "@mx.example.com>") == 0);
	CHECK(strstr(mid, ".0123456789ABCDEF-1700000000@") != NULL);
	/* the boundary: where the parts start, and the close delimiter */
	boundary = xstrdup(mime_param_get(b.root->params, b.root->nparams,
	    "boundary"));
	s = xasprintf("\r\n--%s--\r\n", boundary);
	CHECK(b.len > strlen(s) && strcmp(b.msg + b.len - strlen(s), s) == 0);
	free(s);
	CHECK(strlen(boundary) <= 70);
	/* same seed, same report */
	{
		size_t len2;
		char *again = dsn_build(&r, &len2);

		CHECK(len2 == b.len && memcmp(again, b.msg, len2) == 0);
		free(again);
	}
	free(boundary);

	CHECK(b.nparts == 3);
	CHECK_STR(b.part[0]->description, "Notification");
	CHECK_STR(mime_param_get(b.part[0]->params, b.part[0]->nparams,
	    "charset"), "us-ascii");
	CHECK(text_has(&b, "This is the mail delivery system at "
	    "mx.example.com."));
	CHECK(text_has(&b, "could not be delivered to the recipients below"));
	CHECK(text_has(&b, "<bob@example.com> (given as <Bob@example.com>): "
	    "could not be delivered (5.1.1, the mailbox does not exist). The "
	    "server store1.example.com answered: 550 5.1.1 No such user"));
	CHECK(text_has(&b, "<carol@example.com>: could not be delivered "
	    "(5.2.2, the mailbox is full). The server store2.example.com "
	    "answered: 552 Mailbox full"));
	CHECK(text_has(&b, "Your message is attached below."));
	CHECK(text_has(&b, "queue ID was 0123456789ABCDEF."));

	s = part_body(&b, 1);
	CHECK_STR(s, two_failed_status);
	free(s);

	/* RET absent, failures: the whole message */
	if (b.nparts == 3) {
		CHECK_STR(b.part[2]->type, "message");
		CHECK_STR(b.part[2]->subtype, "rfc822");
		CHECK(b.part[2]->message != NULL);
		s = part_body(&b, 2);
		CHECK(strlen(s) == sizeof(sample) - 3 &&
		    memcmp(s, sample, sizeof(sample) - 3) == 0);
		free(s);
	}
	built_free(&b);
}

/* ---- a delay ---- */

static const struct dsn_rcpt delayed[] = {
	{ .final = "dave@example.net", .action = DSN_DELAYED,
	  .diagnostic = "connect to mx.example.net[192.0.2.1]:25: "
	  "Connection refused",
	  .last_attempt = ATTEMPT, .retry_until = UNTIL },
	{ .final = "erin@example.net", .action = DSN_DELAYED, .code = 421,
	  .diagnostic = "421 Service not available",
	  .remote_mta = "mx.example.net" },
};

static const char delayed_status[] =
	"Original-Envelope-Id: env-42\r\n"
	"Reporting-MTA: dns;mx.example.com\r\n"
	"Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\r\n"
	"X-Mailsuite-Queue-Id: 0123456789ABCDEF\r\n"
	"\r\n"
	"Final-Recipient: rfc822;dave@example.net\r\n"
	"Action: delayed\r\n"
	"Status: 4.0.0\r\n"
	"Diagnostic-Code: x-mailsuite;connect to mx.example.net[192.0.2.1]:25:\r\n"
	" Connection refused\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\r\n"
	"Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822;erin@example.net\r\n"
	"Action: delayed\r\n"
	"Status: 4.0.0\r\n"
	"Remote-MTA: dns;mx.example.net\r\n"
	"Diagnostic-Code: smtp;421 Service not available";

static void
test_delay(void)
{
	struct dsn_report r = base_report(delayed, N(delayed));
	struct built b;
	char *s;

	build(&b, &r);
	CHECK_STR(hdr(&b, "Subject"), "Delayed Mail (still being retried)");
	s = part_body(&b, 1);
	CHECK_STR(s, delayed_status);
	free(s);
	CHECK(text_has(&b, "has not yet been delivered"));
	CHECK(text_has(&b, "<dave@example.net>: not delivered yet (4.0.0). "
	    "Reason: connect to mx.example.net[192.0.2.1]:25: Connection "
	    "refused The mail system will keep trying until Sun, 19 Nov 2023 "
	    "22:13:20 +0000."));
	CHECK(text_has(&b, "<erin@example.net>: not delivered yet (4.0.0). "
	    "The server mx.example.net answered: 421 Service not available"));
	CHECK(text_has(&b, "The header of your message is attached below."));
	/* RET absent, no failure: the header alone */
	CHECK(b.nparts == 3);
	if (b.nparts == 3) {
		CHECK_STR(b.part[2]->type, "text");
		CHECK_STR(b.part[2]->subtype, "rfc822-headers");
	}
	built_free(&b);
}

/* ---- a success, without ENVID, ORCPT or arrival ---- */

static void
test_success(void)
{
	static const struct dsn_rcpt ok[] = {
		{ .final = "frank@example.com", .action = DSN_DELIVERED,
		  .code = 250, .diagnostic = "250 2.1.5 Ok",
		  .remote_mta = "store1.example.com", .last_attempt = ATTEMPT },
	};
	struct dsn_report r = base_report(ok, N(ok));
	struct built b;
	char *s;

	r.envid = NULL;
	r.arrival = 0;
	r.queue_id = NULL;
	build(&b, &r);
	CHECK_STR(hdr(&b, "Subject"), "Successful Mail Delivery Report");
	CHECK_STR(hdr(&b, "X-Mailsuite-Queue-Id"), "");
	s = part_body(&b, 1);
	CHECK_STR(s,
	    "Reporting-MTA: dns;mx.example.com\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822;frank@example.com\r\n"
	    "Action: delivered\r\n"
	    "Status: 2.1.5\r\n"
	    "Remote-MTA: dns;store1.example.com\r\n"
	    "Diagnostic-Code: smtp;250 2.1.5 Ok\r\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000");
	free(s);
	CHECK(text_has(&b, "was delivered to the recipients below"));
	CHECK(text_has(&b, "<frank@example.com>: delivered (2.1.5)."));
	CHECK(!text_holds(&b, "queue ID"));
	CHECK(b.nparts == 3 && strcmp(b.part[2]->subtype, "rfc822-headers") == 0);
	built_free(&b);
}

/* ---- subjects: the gravest action wins ---- */

static const struct {
	enum dsn_action a[3];
	size_t n;
	const char *subject;
} subject_cases[] = {
	{ { DSN_DELIVERED }, 1, "Successful Mail Delivery Report" },
	{ { DSN_EXPANDED }, 1, "Successful Mail Delivery Report" },
	{ { DSN_RELAYED }, 1, "Mail Relayed: Delivery Status Unknown" },
	{ { DSN_DELAYED }, 1, "Delayed Mail (still being retried)" },
	{ { DSN_FAILED }, 1, "Undelivered Mail Returned to Sender" },
	{ { DSN_DELIVERED, DSN_FAILED, DSN_DELAYED }, 3,
	  "Undelivered Mail Returned to Sender" },
	{ { DSN_DELIVERED, DSN_DELAYED }, 2,
	  "Delayed Mail (still being retried)" },
	{ { DSN_EXPANDED, DSN_RELAYED }, 2,
	  "Mail Relayed: Delivery Status Unknown" },
};

static void
test_subjects(void)
{
	static const char *const names[] = {
		"failed", "delayed", "delivered", "relayed", "expanded"
	};

	for (size_t i = 0; i < N(subject_cases); i++) {
		struct dsn_rcpt rc[3] = { { 0 } };
		struct dsn_report r = base_report(rc, subject_cases[i].n);
		struct built b;
		char *s;

		for (size_t k = 0; k < subject_cases[i].n; k++) {
			rc[k].final = "x@example.com";
			rc[k].action = subject_cases[i].a[k];
		}
		build(&b, &r);
		CHECK_STR(hdr(&b, "Subject"), subject_cases[i].subject);
		s = part_body(&b, 1);
		for (size_t k = 0; k < subject_cases[i].n; k++) {
			char *line = xasprintf("Action: %s\r\n",
			    names[subject_cases[i].a[k]]);

			CHECK(strstr(s, line) != NULL);
			free(line);
		}
		CHECK(count(s, "Final-Recipient:") == subject_cases[i].n);
		free(s);
		built_free(&b);
	}
}

/* ---- what is returned ---- */

static const struct {
	int ret;
	enum dsn_action action;
	const char *msg;            /* NULL: no message */
	size_t max;
	const char *subtype;        /* NULL: no third part */
	const char *body;           /* the part's body as parsed */
} ret_cases[] = {
	/* RET=HDRS: the header alone, whatever the size */
	{ QUEUE_RET_HDRS, DSN_FAILED, "From: a\r\nSubject: b\r\n\r\nbody\r\n",
	  1000, "rfc822-headers", "From: a\r\nSubject: b" },
	{ QUEUE_RET_HDRS, DSN_FAILED, "From: a\r\nSubject: b\r\n\r\n\r\nX: y\r\n",
	  1000, "rfc822-headers", "From: a\r\nSubject: b" },
	/* no body: all header; with or without the last line end */
	{ QUEUE_RET_HDRS, DSN_FAILED, "From: a\r\nSubject: b\r\n", 1000,
	  "rfc822-headers", "From: a\r\nSubject: b" },
	{ QUEUE_RET_HDRS, DSN_FAILED, "From: a\r\nSubject: b", 1000,
	  "rfc822-headers", "From: a\r\nSubject: b" },
	/* no header: nothing to return */
	{ QUEUE_RET_HDRS, DSN_FAILED, "\r\nbody only\r\n", 1000, NULL, NULL },
	{ QUEUE_RET_FULL, DSN_FAILED, NULL, 1000, NULL, NULL },
	/* bare LF lines are split all the same */
	{ QUEUE_RET_HDRS, DSN_FAILED, "A: 1\nB: 2\n\nbody\n", 1000,
	  "rfc822-headers", "A: 1\nB: 2\n" },
	/* RET=FULL: whole up to max_returned, else the header */
	{ QUEUE_RET_FULL, DSN_FAILED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822", "From: a\r\n\r\nbody" },
	{ QUEUE_RET_FULL, DSN_FAILED, "From: a\r\n\r\nbody\r\n", 17,
	  "rfc822", "From: a\r\n\r\nbody" },
	{ QUEUE_RET_FULL, DSN_FAILED, "From: a\r\n\r\nbody\r\n", 16,
	  "rfc822-headers", "From: a" },
	{ QUEUE_RET_FULL, DSN_FAILED, "From: a\r\n\r\nbody", 1000,
	  "rfc822", "From: a\r\n\r\nbody" },
	{ QUEUE_RET_FULL, DSN_DELAYED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822", "From: a\r\n\r\nbody" },
	{ QUEUE_RET_FULL, DSN_DELIVERED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822", "From: a\r\n\r\nbody" },
	/* RET absent: whole for failures, the header otherwise */
	{ QUEUE_RET_NONE, DSN_FAILED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822", "From: a\r\n\r\nbody" },
	{ QUEUE_RET_NONE, DSN_FAILED, "From: a\r\n\r\nbody\r\n", 5,
	  "rfc822-headers", "From: a" },
	{ QUEUE_RET_NONE, DSN_DELAYED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822-headers", "From: a" },
	{ QUEUE_RET_NONE, DSN_DELIVERED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822-headers", "From: a" },
	{ QUEUE_RET_NONE, DSN_RELAYED, "From: a\r\n\r\nbody\r\n", 1000,
	  "rfc822-headers", "From: a" },
};

static void
test_returned(void)
{
	for (size_t i = 0; i < N(ret_cases); i++) {
		struct dsn_rcpt rc = { .final = "x@example.com",
		    .action = ret_cases[i].action };
		struct dsn_report r = base_report(&rc, 1);
		struct built b;
		int before = unit_failures;

		r.ret = ret_cases[i].ret;
		r.message = ret_cases[i].msg;
		r.message_len = ret_cases[i].msg ? strlen(ret_cases[i].msg) : 0;
		r.max_returned = ret_cases[i].max;
		build(&b, &r);
		CHECK(b.nparts == (ret_cases[i].subtype ? 3u : 2u));
		if (ret_cases[i].subtype && b.nparts == 3) {
			char *s = part_body(&b, 2);

			CHECK_STR(b.part[2]->type, strcmp(ret_cases[i].subtype,
			    "rfc822") ? "text" : "message");
			CHECK_STR(b.part[2]->subtype, ret_cases[i].subtype);
			CHECK_STR(s, ret_cases[i].body);
			free(s);
			CHECK(text_has(&b, strcmp(ret_cases[i].subtype, "rfc822") ?
			    "The header of your message is attached" :
			    "Your message is attached"));
		} else
			CHECK(!text_holds(&b, "attached below"));
		if (unit_failures != before)
			fprintf(stderr, "  ret case %zu\n", i);
		built_free(&b);
	}
}

/* ---- ENVID and ORCPT ---- */

static const struct {
	const char *envid;
	const char *orcpt;
	const char *want_envid;     /* NULL: no such line */
	const char *want_orcpt;
} id_cases[] = {
	{ NULL, NULL, NULL, NULL },
	{ "QQ314159", NULL, "Original-Envelope-Id: QQ314159\r\n", NULL },
	{ NULL, "rfc822;Bob@example.com", NULL,
	  "Original-Recipient: rfc822;Bob@example.com\r\n" },
	{ "x y", "utf-8;b\xc3\xb6@example.com", "Original-Envelope-Id: x y\r\n",
	  "Original-Recipient: utf-8;b\xc3\xb6@example.com\r\n" },
	/* no address type: rfc822 is assumed */
	{ "", "bob@example.com", "Original-Envelope-Id: \r\n",
	  "Original-Recipient: rfc822;bob@example.com\r\n" },
	/* an empty ORCPT is absent */
	{ NULL, "", NULL, NULL },
};

static void
test_ids(void)
{
	for (size_t i = 0; i < N(id_cases); i++) {
		struct dsn_rcpt rc = { .final = "bob@example.com",
		    .orcpt = id_cases[i].orcpt, .action = DSN_FAILED };
		struct dsn_report r = base_report(&rc, 1);
		struct built b;
		char *s;
		int before = unit_failures;

		r.envid = id_cases[i].envid;
		build(&b, &r);
		s = part_body(&b, 1);
		if (id_cases[i].want_envid)
			CHECK(strncmp(s, id_cases[i].want_envid,
			    strlen(id_cases[i].want_envid)) == 0);
		else
			CHECK(strstr(s, "Original-Envelope-Id") == NULL);
		if (id_cases[i].want_orcpt) {
			char *want = xasprintf("\r\n\r\n%sFinal-Recipient: "
			    "rfc822;bob@example.com\r\n", id_cases[i].want_orcpt);

			CHECK(strstr(s, want) != NULL);
			free(want);
		} else
			CHECK(strstr(s, "Original-Recipient") == NULL);
		CHECK(strstr(s, "Reporting-MTA: dns;mx.example.com\r\n") != NULL);
		if (unit_failures != before)
			fprintf(stderr, "  id case %zu:\n%s\n", i, s);
		free(s);
		built_free(&b);
	}
}

/* ---- Status ---- */

static const struct {
	const char *status;
	int code;
	const char *diag;
	enum dsn_action action;
	const char *want;
} status_cases[] = {
	{ "5.1.1", 550, "550 5.7.1 refused", DSN_FAILED, "5.1.1" },  /* given */
	{ NULL, 550, "550 5.1.1 No such user", DSN_FAILED, "5.1.1" },
	{ NULL, 550, "550-5.1.1 No such user", DSN_FAILED, "5.1.1" },
	{ NULL, 550, "550 5.1.10 no MX", DSN_FAILED, "5.1.10" },
	{ NULL, 550, "550 No such user", DSN_FAILED, "5.0.0" },
	{ NULL, 550, "550 4.2.2 class disagrees", DSN_FAILED, "5.0.0" },
	{ NULL, 550, "550 5.1.1.1 too many parts", DSN_FAILED, "5.0.0" },
	{ NULL, 550, "550 5.1234.1 too long", DSN_FAILED, "5.0.0" },
	{ NULL, 550, "550 5.1.1x glued", DSN_FAILED, "5.0.0" },
	{ NULL, 554, NULL, DSN_FAILED, "5.0.0" },
	{ NULL, 451, "451 4.3.0 try later", DSN_DELAYED, "4.3.0" },
	{ NULL, 421, NULL, DSN_DELAYED, "4.0.0" },
	{ NULL, 250, "250 2.1.5 Ok", DSN_DELIVERED, "2.1.5" },
	{ NULL, 250, "250 Ok", DSN_DELIVERED, "2.0.0" },
	/* a 4xx reply on a recipient that failed for good (expired) */
	{ NULL, 451, "451 4.4.1 no answer", DSN_FAILED, "4.4.1" },
	/* no reply: the text's code of any class, else the action's */
	{ NULL, 0, "5.4.4 no route to host", DSN_FAILED, "5.4.4" },
	{ NULL, 0, "connection refused", DSN_FAILED, "5.0.0" },
	{ NULL, 0, "connection refused", DSN_DELAYED, "4.0.0" },
	{ NULL, 0, NULL, DSN_DELIVERED, "2.0.0" },
	{ NULL, 0, NULL, DSN_RELAYED, "2.0.0" },
	{ NULL, 0, NULL, DSN_EXPANDED, "2.0.0" },
	{ NULL, 354, "354 go ahead", DSN_FAILED, "5.0.0" },
	/* a malformed given status is not written */
	{ "bogus", 550, NULL, DSN_FAILED, "5.0.0" },
	{ "", 450, NULL, DSN_DELAYED, "4.0.0" },
	{ "3.1.1", 550, NULL, DSN_FAILED, "5.0.0" },
	{ "5.1", 550, NULL, DSN_FAILED, "5.0.0" },
	{ "5.1.1 ", 550, NULL, DSN_FAILED, "5.0.0" },
	{ "4.7.0", 0, NULL, DSN_DELAYED, "4.7.0" },
};

static void
test_status(void)
{
	for (size_t i = 0; i < N(status_cases); i++) {
		struct dsn_rcpt rc = { .final = "bob@example.com",
		    .status = status_cases[i].status, .code = status_cases[i].code,
		    .diagnostic = status_cases[i].diag,
		    .action = status_cases[i].action };
		struct dsn_report r = base_report(&rc, 1);
		struct built b;
		char *s, *want;

		build(&b, &r);
		want = part_body(&b, 1);
		s = xasprintf("%s\r\n", want);     /* the last field's line end */
		free(want);
		want = xasprintf("\r\nStatus: %s\r\n", status_cases[i].want);
		CHECK(strstr(s, want) != NULL);
		if (strstr(s, want) == NULL)
			fprintf(stderr, "  status case %zu:\n%s\n", i, s);
		free(want);
		free(s);
		built_free(&b);
	}
}

/* ---- caps and cleaning ---- */

static void
test_caps(void)
{
	enum { NR = 150 };
	struct dsn_rcpt *rc = xcalloc(NR, sizeof *rc);
	char addrs[NR][32], *diag = xmalloc(2001), *longaddr = xmalloc(1600);
	struct dsn_report r;
	struct built b;
	char *s, *t, *u;

	for (size_t i = 0; i < 2000; i++)
		diag[i] = i % 10 == 4 ? ' ' : 'a' + i % 26;
	memcpy(diag, "550 5.1.1 ", 10);
	diag[2000] = '\0';
	memset(longaddr, 'l', 1500);
	strcpy(longaddr + 1500, "@example.com");
	for (size_t i = 0; i < NR; i++) {
		snprintf(addrs[i], sizeof addrs[i], "user%zu@example.com", i);
		rc[i] = (struct dsn_rcpt){ .final = addrs[i], .action = DSN_FAILED,
		    .code = 550, .diagnostic = "550 5.1.1 No such user" };
	}
	rc[0].diagnostic = diag;
	rc[1].final = longaddr;
	rc[2].diagnostic = "550 5.1.1 bad\r\nInjected: yes\r\n\r\n--x";
	rc[3].final = "j\xc3\xb6rg@example.com";
	rc[4].diagnostic = "550 5.1.1 caf\xc3\xa9 \xff ok";
	r = base_report(rc, NR);
	r.to = "\xc3\xa5sa@example.org";
	build(&b, &r);

	/* all 150 in the delivery-status part, 100 in the text */
	s = part_body(&b, 1);
	CHECK(count(s, "Final-Recipient: rfc822;") == NR);
	CHECK(count(s, "Action: failed\r\n") == NR);
	u = part_body(&b, 0);
	t = unwrap(u);
	free(u);
	CHECK(count(t, ": could not be delivered (5.1.1") == 100);
	CHECK(text_has(&b, "... and 50 more recipients"));
	CHECK(strstr(t, "user99@") != NULL && strstr(t, "user100@") == NULL);

	/* a diagnostic cut at 900 octets */
	u = unfold(s);
	{
		char *v = after(u, "Diagnostic-Code: smtp;");

		CHECK(strlen(v) == 900 && memcmp(v, diag, 900) == 0);
		free(v);
	}
	/* the long address split, under 998 octets a line (build checked);
	 * unfolded it reads whole but for the added spaces */
	CHECK(strstr(s, "Final-Recipient: rfc822;lll") != NULL);
	/* control characters do not make lines */
	CHECK(strstr(b.msg, "\r\nInjected") == NULL);
	CHECK(strstr(u, "smtp;550 5.1.1 bad  Injected: yes    --x") != NULL);
	/* UTF-8 kept raw, invalid octets replaced */
	CHECK(strstr(s, "Final-Recipient: rfc822;j\xc3\xb6rg@example.com\r\n"));
	CHECK(strstr(u, "smtp;550 5.1.1 caf\xc3\xa9 ? ok") != NULL);
	CHECK(strstr(b.msg, "\xff") == NULL);
	CHECK_STR(hdr(&b, "To"), "<\xc3\xa5sa@example.org>");
	CHECK_STR(mime_param_get(b.part[0]->params, b.part[0]->nparams,
	    "charset"), "utf-8");
	CHECK_STR(b.part[0]->encoding, "8bit");
	CHECK_STR(b.part[1]->encoding, "8bit");
	CHECK_STR(hdr(&b, "Content-Transfer-Encoding"), "8bit");
	free(u);
	free(t);
	free(s);
	built_free(&b);

	/* a diagnostic is cut on a character boundary */
	memset(diag, 'a', 899);
	memcpy(diag, "550 ", 4);
	strcpy(diag + 899, "\xc3\xa9z");
	rc[0].diagnostic = diag;
	r = base_report(rc, 1);
	build(&b, &r);
	s = part_body(&b, 1);
	u = unfold(s);
	t = after(u, "Diagnostic-Code: smtp;");
	CHECK(strlen(t) == 899 && memcmp(t, diag, 899) == 0);
	CHECK(strstr(b.msg, "\xc3") == NULL);
	free(t);
	free(u);
	free(s);
	built_free(&b);

	free(longaddr);
	free(diag);
	free(rc);
}

/* ---- a boundary the message already holds ---- */

static void
test_boundary(void)
{
	struct dsn_rcpt rc = { .final = "x@example.com", .action = DSN_FAILED };
	struct dsn_report r = base_report(&rc, 1);
	struct built b;
	char *first, *msg, *s;

	r.ret = QUEUE_RET_FULL;
	build(&b, &r);
	first = xstrdup(mime_param_get(b.root->params, b.root->nparams,
	    "boundary"));
	built_free(&b);

	/* a bounce of a bounce made from the same seed */
	msg = xasprintf("Subject: x\r\n\r\n--%s\r\nnot a part\r\n--%s--\r\n",
	    first, first);
	r.message = msg;
	r.message_len = strlen(msg);
	build(&b, &r);
	CHECK(strcmp(mime_param_get(b.root->params, b.root->nparams,
	    "boundary"), first) != 0);
	CHECK(b.nparts == 3);
	s = part_body(&b, 2);
	CHECK(strlen(s) == strlen(msg) - 2 &&
	    memcmp(s, msg, strlen(msg) - 2) == 0);
	free(s);
	built_free(&b);
	free(msg);
	free(first);

	/* one seed (a queue ID), different reports: different Message-IDs */
	{
		struct dsn_rcpt rc2 = rc;
		struct dsn_report r2;
		struct built c;

		r.message = sample;
		r.message_len = sizeof(sample) - 1;
		r2 = r;
		build(&b, &r);
		first = xstrdup(hdr(&b, "Message-ID"));
		built_free(&b);
		r2.now = NOW + 1;
		build(&c, &r2);
		CHECK(strcmp(hdr(&c, "Message-ID"), first) != 0);
		built_free(&c);
		rc2.action = DSN_DELAYED;
		r2.now = NOW;
		r2.rcpts = &rc2;
		build(&c, &r2);
		CHECK(strcmp(hdr(&c, "Message-ID"), first) != 0);
		built_free(&c);
		r2.rcpts = &rc;
		build(&c, &r2);
		CHECK_STR(hdr(&c, "Message-ID"), first);
		built_free(&c);
		free(first);
	}

	/* no seed: still a report, and two of them differ */
	r.boundary_seed = NULL;
	r.message = sample;
	r.message_len = sizeof(sample) - 1;
	{
		struct built c;

		build(&b, &r);
		build(&c, &r);
		CHECK(strcmp(hdr(&b, "Message-ID"), "") != 0);
		s = xstrdup(hdr(&b, "Message-ID"));
		CHECK(strcmp(s, hdr(&c, "Message-ID")) != 0);
		free(s);
		built_free(&c);
		built_free(&b);
	}
}

/* ---- RFC 3461 NOTIFY: every combination of the four bits ---- */

#define NV QUEUE_NOTIFY_NEVER
#define SU QUEUE_NOTIFY_SUCCESS
#define FA QUEUE_NOTIFY_FAILURE
#define DE QUEUE_NOTIFY_DELAY

static const struct {
	unsigned notify;
	/* failed, delayed, delivered, relayed, expanded */
	bool want[5];
} wanted_cases[] = {
	{ 0, { 1, 1, 0, 0, 0 } },                   /* not given */
	{ NV, { 0, 0, 0, 0, 0 } },
	{ SU, { 0, 0, 1, 1, 1 } },
	{ FA, { 1, 0, 0, 0, 0 } },
	{ DE, { 0, 1, 0, 0, 0 } },
	{ SU | FA, { 1, 0, 1, 1, 1 } },
	{ SU | DE, { 0, 1, 1, 1, 1 } },
	{ FA | DE, { 1, 1, 0, 0, 0 } },
	{ SU | FA | DE, { 1, 1, 1, 1, 1 } },
	/* NEVER with a keyword cannot be in an envelope (queue.h); the
	 * keywords decide */
	{ NV | SU, { 0, 0, 1, 1, 1 } },
	{ NV | FA, { 1, 0, 0, 0, 0 } },
	{ NV | DE, { 0, 1, 0, 0, 0 } },
	{ NV | SU | FA, { 1, 0, 1, 1, 1 } },
	{ NV | SU | DE, { 0, 1, 1, 1, 1 } },
	{ NV | FA | DE, { 1, 1, 0, 0, 0 } },
	{ NV | SU | FA | DE, { 1, 1, 1, 1, 1 } },
};

static void
test_wanted(void)
{
	static const enum dsn_action actions[] = {
		DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED
	};
	bool seen[16] = { false };

	for (size_t i = 0; i < N(wanted_cases); i++) {
		seen[wanted_cases[i].notify] = true;
		for (size_t a = 0; a < N(actions); a++) {
			bool got = dsn_wanted(wanted_cases[i].notify, actions[a]);

			CHECK(got == wanted_cases[i].want[a]);
			if (got != wanted_cases[i].want[a])
				fprintf(stderr, "  notify %u action %zu\n",
				    wanted_cases[i].notify, a);
		}
	}
	for (size_t n = 0; n < 16; n++)
		CHECK(seen[n]);
	CHECK(!dsn_wanted(0, (enum dsn_action)99));
}

static void
test_sendable(void)
{
	static const struct {
		const char *from;
		bool want;
	} cases[] = {
		{ "alice@example.org", true },
		{ "postmaster@example.org", true },
		{ "MAILER-DAEMON@example.org", true },
		{ "x", true },
		{ "", false },
		{ "<>", false },
		{ NULL, false },
	};

	for (size_t i = 0; i < N(cases); i++)
		CHECK(dsn_sendable(cases[i].from) == cases[i].want);
}

int
main(void)
{
	UNIT_RUN(test_failure);
	UNIT_RUN(test_delay);
	UNIT_RUN(test_success);
	UNIT_RUN(test_subjects);
	UNIT_RUN(test_returned);
	UNIT_RUN(test_ids);
	UNIT_RUN(test_status);
	UNIT_RUN(test_caps);
	UNIT_RUN(test_boundary);
	UNIT_RUN(test_wanted);
	UNIT_RUN(test_sendable);
	return unit_done();
}
