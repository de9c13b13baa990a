/*
 * dsn: delivery status notifications (RFC 3464, RFC 6522), and whether a
 * recipient (RFC 3461 NOTIFY) and a sender (not the null sender) get one.
 *
 * The report is put together in three parts, each in its own buffer (the
 * human text, the delivery-status fields, the returned message or its
 * header); a boundary is then chosen that occurs in none of them, and the
 * message is assembled.  Owns nothing past the call: the caller frees the
 * result.  Never fails; what a peer sent is cleaned and capped (dsn.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "queue.h"
#include "xmalloc.h"

#define DSN_FOLD_AT     78      /* fold header lines past this */
#define DSN_LINE_HARD   990     /* never a header line longer (RFC 5322: 998) */
#define DSN_TEXT_WIDTH  76      /* human text: octets per line */
#define DSN_SEED_MAX    64      /* seed characters kept in the Message-ID */
#define DSN_DATE_SIZE   160     /* "Thu, 16 Nov 2023 22:13:20 +0000", with room
                                 * for any year the compiler imagines */

static const char *
dsn_nz(const char *s)
{
	return s != NULL ? s : "";
}

/* ---- a growing buffer: sizes are bounded by the caller's inputs ---- */

struct dsn_buf {
	char *p;
	size_t len, cap;
};

static void
dsn_buf_add(struct dsn_buf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
dsn_buf_str(struct dsn_buf *b, const char *s)
{
	dsn_buf_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
dsn_buf_printf(struct dsn_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		s = xstrdup("");        /* out of memory: lose the line, not the report */
	dsn_buf_str(b, s);
	free(s);
}

/* ---- cleaning what peers sent ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
dsn_utf8_len(const unsigned char *s, size_t n)
{
	size_t want;
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		want = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		want = 3;
		if (s[0] == 0xE0)
			lo = 0xA0;          /* overlong */
		else if (s[0] == 0xED)
			hi = 0x9F;          /* surrogates */
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		want = 4;
		if (s[0] == 0xF0)
			lo = 0x90;
		else if (s[0] == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < want || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < want; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return want;
}

/*
 * A copy of s fit for a header field or a line of text: control
 * characters (CR and LF among them) become spaces, invalid UTF-8 '?', white
 * space is trimmed at both ends, and the result is cut at max octets on a
 * character boundary.  NULL gives "".
 */
static char *
dsn_clean(const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)u), o = 0;
	char *out = xmalloc(n + 1);

	for (size_t i = 0; i < n;) {
		size_t k = dsn_utf8_len(u + i, n - i);

		if (k == 0) {
			k = 1;
			if (o + 1 > max)
				break;
			out[o++] = '?';
		} else if (k == 1) {
			if (o + 1 > max)
				break;
			out[o++] = u[i] < 0x20 || u[i] == 0x7f ? ' ' : (char)u[i];
		} else {
			if (o + k > max)
				break;
			memcpy(out + o, u + i, k);
			o += k;
		}
		i += k;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	size_t lead = strspn(out, " ");
	memmove(out, out + lead, o - lead + 1);
	return out;
}

/* How many of the n octets at s to take so as not to split a UTF-8
 * character (at least one). */
static size_t
dsn_char_cut(const char *s, size_t n)
{
	size_t k = n;

	while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	return k ? k : n;
}

/* ---- header fields, folded ---- */

/*
 * "name: value" and CRLF, value already clean (no control characters).
 * Folds before a space once a line passes DSN_FOLD_AT; a run without
 * spaces that would pass DSN_LINE_HARD is split with CRLF SP, the one
 * case where folding adds a character.
 */
static void
dsn_field(struct dsn_buf *b, const char *name, const char *value)
{
	size_t line = strlen(name) + 2;
	const char *p = value;
	bool text = false;      /* the line holds more than white space */

	dsn_buf_str(b, name);
	dsn_buf_str(b, ": ");
	while (*p != '\0') {
		size_t seg = strcspn(p + 1, " ") + 1;
		bool word = seg > 1 || *p != ' ';

		if (*p == ' ' && text && line + seg > DSN_FOLD_AT) {
			dsn_buf_str(b, "\r\n");
			line = 0;
			text = false;
		}
		while (line + seg > DSN_LINE_HARD) {
			size_t take = dsn_char_cut(p, DSN_LINE_HARD - line);

			dsn_buf_add(b, p, take);
			dsn_buf_str(b, "\r\n ");
			line = 1;
			p += take;
			seg -= take;
		}
		dsn_buf_add(b, p, seg);
		line += seg;
		p += seg;
		text = text || word;
	}
	dsn_buf_str(b, "\r\n");
}

/* A field whose value is made from raw, unclean parts. */
static void __attribute__((format(printf, 3, 4)))
dsn_fieldf(struct dsn_buf *b, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *raw = NULL, *clean;

	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		raw = NULL;
	va_end(ap);
	clean = dsn_clean(raw, SIZE_MAX);
	dsn_field(b, name, clean);
	free(clean);
	free(raw);
}

/* ---- the human text, wrapped ---- */

/* Append clean text as lines of at most DSN_TEXT_WIDTH octets, the first
 * indented by ind1 spaces and the others by ind2, breaking at spaces (a
 * longer word is split). */
static void
dsn_wrap(struct dsn_buf *b, const char *text, size_t ind1, size_t ind2)
{
	const char *p = text;
	size_t ind = ind1;

	while (*p == ' ')
		p++;
	do {
		size_t room = DSN_TEXT_WIDTH - ind, n = strlen(p), take;

		if (n <= room)
			take = n;
		else {
			take = room;
			while (take > 0 && p[take] != ' ')
				take--;
			if (take == 0)
				take = dsn_char_cut(p, room);
		}
		dsn_buf_printf(b, "%*s", (int)ind, "");
		while (take > 0 && p[take - 1] == ' ')
			take--;
		dsn_buf_add(b, p, take);
		dsn_buf_str(b, "\r\n");
		p += take;
		while (*p == ' ')
			p++;
		ind = ind2;
	} while (*p != '\0');
}

static void __attribute__((format(printf, 4, 5)))
dsn_wrapf(struct dsn_buf *b, size_t ind1, size_t ind2, const char *fmt, ...)
{
	va_list ap;
	char *raw = NULL, *clean;

	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		raw = NULL;
	va_end(ap);
	clean = dsn_clean(raw, SIZE_MAX);
	dsn_wrap(b, clean, ind1, ind2);
	free(clean);
	free(raw);
}

/* ---- small values ---- */

/* RFC 5322 date-time, in UTC. */
static void
dsn_date(long long t, char out[DSN_DATE_SIZE])
{
	static const char days[][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	snprintf(out, DSN_DATE_SIZE, "%s, %d %s %d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The length of an RFC 3463 status code at s ("5.1.1": class 2, 4 or 5,
 * subject and detail 1 to 3 digits), 0 if there is none. */
static size_t
dsn_status_len(const char *s)
{
	size_t i = 1;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;

		if (s[i++] != '.')
			return 0;
		while (d < 4 && s[i + d] >= '0' && s[i + d] <= '9')
			d++;
		if (d < 1 || d > 3)
			return 0;
		i += d;
	}
	return i;
}

/* The Status of rc into out (dsn.h says the order). */
static void
dsn_status(const struct dsn_rcpt *rc, char out[16])
{
	const char *d = rc->diagnostic;
	size_t n;
	int cls = rc->code / 100;

	if (rc->status && (n = dsn_status_len(rc->status)) > 0 &&
	    rc->status[n] == '\0') {
		memcpy(out, rc->status, n + 1);
		return;
	}
	if (d != NULL) {
		/* "550 5.1.1 text" or "550-5.1.1 text" or "5.1.1 text" */
		if (strspn(d, "0123456789") == 3 && (d[3] == ' ' || d[3] == '-'))
			d += 4;
		n = dsn_status_len(d);
		if (n > 0 && (d[n] == '\0' || d[n] == ' ') &&
		    (rc->code == 0 || d[0] - '0' == cls)) {
			memcpy(out, d, n);
			out[n] = '\0';
			return;
		}
	}
	if (rc->code >= 200 && rc->code < 600 && cls != 3) {
		snprintf(out, 16, "%d.0.0", cls);
		return;
	}
	strcpy(out, rc->action == DSN_FAILED ? "5.0.0" :
	    rc->action == DSN_DELAYED ? "4.0.0" : "2.0.0");
}

/* FNV-1a, 64 bits, continued from h over s and a NUL. */
static uint64_t
dsn_hash_add(uint64_t h, const char *s)
{
	for (;; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
		if (*s == '\0')
			return h;
	}
}

/*
 * What the boundary and Message-ID are made from: the seed, and what sets
 * this report apart from others made with the same seed (a caller may
 * seed with the queue ID alone, and one entry can bring a failure report,
 * a delay report and later delay warnings): the time, the actions and
 * the recipients.
 */
static uint64_t
dsn_hash(const struct dsn_report *r, const char *seed)
{
	uint64_t h = dsn_hash_add(0xcbf29ce484222325ULL, seed);
	char now[32];

	snprintf(now, sizeof now, "%lld", r->now);
	h = dsn_hash_add(h, now);
	for (size_t i = 0; i < r->nrcpts; i++) {
		snprintf(now, sizeof now, "%d", (int)r->rcpts[i].action);
		h = dsn_hash_add(h, now);
		h = dsn_hash_add(h, dsn_nz(r->rcpts[i].final));
	}
	return h;
}

/* ---- what each action says ---- */

static const struct dsn_kind {
	const char *name;           /* Action: */
	const char *subject;
	const char *intro;          /* a paragraph of the human text */
	const char *said;           /* before a recipient's details */
	int gravity;                /* the gravest action makes the Subject */
} dsn_kinds[] = {
	[DSN_FAILED] = { "failed", "Undelivered Mail Returned to Sender",
	    "Your message could not be delivered to the recipients below. "
	    "This is a permanent error: the mail system has given up on them.",
	    "could not be delivered", 4 },
	[DSN_DELAYED] = { "delayed", "Delayed Mail (still being retried)",
	    "Your message has not yet been delivered to the recipients below. "
	    "The mail system is still trying; you do not need to send it "
	    "again.",
	    "not delivered yet", 3 },
	[DSN_DELIVERED] = { "delivered", "Successful Mail Delivery Report",
	    "Your message was delivered to the recipients below, as you "
	    "asked.",
	    "delivered", 1 },
	[DSN_RELAYED] = { "relayed", "Mail Relayed: Delivery Status Unknown",
	    "Your message was passed on to a mail system that does not send "
	    "delivery reports, so no further report may come for the "
	    "recipients below.",
	    "relayed", 2 },
	[DSN_EXPANDED] = { "expanded", "Successful Mail Delivery Report",
	    "Your message was delivered to the addresses below, which passed "
	    "it on to further addresses (a mailing list or a forwarding, for "
	    "instance).",
	    "delivered and expanded", 0 },
};

#define DSN_NKINDS (sizeof(dsn_kinds) / sizeof(dsn_kinds[0]))

static const struct dsn_kind *
dsn_kind(enum dsn_action a)
{
	return (size_t)a < DSN_NKINDS ? &dsn_kinds[a] : &dsn_kinds[DSN_FAILED];
}

/* What an enhanced status code's subject.detail means (RFC 3463), for the
 * human text. */
static const struct {
	const char *code;
	const char *meaning;
} dsn_meanings[] = {
	{ "1.1", "the mailbox does not exist" },
	{ "1.2", "the destination domain does not exist" },
	{ "1.3", "the address is malformed" },
	{ "1.6", "the mailbox has moved" },
	{ "1.10", "the domain accepts no mail" },
	{ "2.1", "the mailbox is disabled" },
	{ "2.2", "the mailbox is full" },
	{ "2.3", "the message is too large for the mailbox" },
	{ "3.4", "the message is too large" },
	{ "4.1", "no answer from the destination's server" },
	{ "4.2", "the connection was broken" },
	{ "4.4", "no route to the destination" },
	{ "4.6", "the message was looping" },
	{ "4.7", "the message was too long in the queue" },
	{ "7.1", "delivery was refused by policy" },
};

static const char *
dsn_meaning(const char *status)
{
	const char *sd = strchr(status, '.') + 1;

	for (size_t i = 0; i < sizeof(dsn_meanings) / sizeof(dsn_meanings[0]);
	    i++)
		if (strcmp(sd, dsn_meanings[i].code) == 0)
			return dsn_meanings[i].meaning;
	return NULL;
}

/* ---- the three parts ---- */

static bool
dsn_any(const struct dsn_report *r, enum dsn_action a)
{
	for (size_t i = 0; i < r->nrcpts; i++)
		if (r->rcpts[i].action == a)
			return true;
	return false;
}

/* One recipient's entry in the human text. */
static void
dsn_text_rcpt(struct dsn_buf *b, const struct dsn_rcpt *rc)
{
	char status[16], date[DSN_DATE_SIZE], *diag;
	const char *meaning;

	dsn_status(rc, status);
	meaning = dsn_meaning(status);
	if (rc->original && strcmp(rc->original, rc->final ? rc->final : "") != 0)
		dsn_wrapf(b, 0, 4, "<%s> (given as <%s>): %s (%s%s%s).",
		    dsn_nz(rc->final), rc->original, dsn_kind(rc->action)->said, status,
		    meaning ? ", " : "", meaning ? meaning : "");
	else
		dsn_wrapf(b, 0, 4, "<%s>: %s (%s%s%s).", dsn_nz(rc->final),
		    dsn_kind(rc->action)->said, status, meaning ? ", " : "",
		    meaning ? meaning : "");
	diag = rc->diagnostic ? dsn_clean(rc->diagnostic, DSN_DIAG_MAX) : NULL;
	if (diag && *diag && rc->code != 0 && rc->remote_mta)
		dsn_wrapf(b, 4, 4, "The server %s answered: %s", rc->remote_mta,
		    diag);
	else if (diag && *diag && rc->code != 0)
		dsn_wrapf(b, 4, 4, "The server answered: %s", diag);
	else if (diag && *diag)
		dsn_wrapf(b, 4, 4, "Reason: %s", diag);
	if (rc->action == DSN_DELAYED && rc->retry_until != 0) {
		dsn_date(rc->retry_until, date);
		dsn_wrapf(b, 4, 4, "The mail system will keep trying until %s.",
		    date);
	}
	free(diag);
}

static void
dsn_text(struct dsn_buf *b, const struct dsn_report *r, const char *returned)
{
	size_t listed = 0;

	dsn_wrapf(b, 0, 0, "This is the mail delivery system at %s.",
	    dsn_nz(r->reporting_mta));
	for (size_t k = 0; k < DSN_NKINDS; k++) {
		bool intro = false;

		for (size_t i = 0; i < r->nrcpts; i++) {
			if ((size_t)r->rcpts[i].action != k)
				continue;
			if (listed == DSN_TEXT_RCPTS_MAX)
				break;
			if (!intro) {
				dsn_buf_str(b, "\r\n");
				dsn_wrap(b, dsn_kinds[k].intro, 0, 0);
				intro = true;
			}
			dsn_buf_str(b, "\r\n");
			dsn_text_rcpt(b, &r->rcpts[i]);
			listed++;
		}
	}
	if (r->nrcpts > listed) {
		dsn_buf_str(b, "\r\n");
		dsn_wrapf(b, 0, 0, "... and %zu more recipients, all listed in the "
		    "delivery report attached.", r->nrcpts - listed);
	}
	dsn_buf_str(b, "\r\n");
	if (returned != NULL)
		dsn_wrapf(b, 0, 0, "%s", returned);
	if (r->queue_id != NULL)
		dsn_wrapf(b, 0, 0, "For the postmaster: the message's queue ID "
		    "was %s.", r->queue_id);
}

/* The message/delivery-status part (RFC 3464 section 2). */
static void
dsn_status_part(struct dsn_buf *b, const struct dsn_report *r)
{
	char date[DSN_DATE_SIZE], status[16], *diag;

	if (r->envid != NULL)
		dsn_fieldf(b, "Original-Envelope-Id", "%s", r->envid);
	dsn_fieldf(b, "Reporting-MTA", "dns;%s", dsn_nz(r->reporting_mta));
	if (r->arrival != 0) {
		dsn_date(r->arrival, date);
		dsn_field(b, "Arrival-Date", date);
	}
	if (r->queue_id != NULL)
		dsn_fieldf(b, "X-Mailsuite-Queue-Id", "%s", r->queue_id);
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		dsn_buf_str(b, "\r\n");
		if (rc->orcpt != NULL && *rc->orcpt != '\0')
			dsn_fieldf(b, "Original-Recipient", "%s%s",
			    strchr(rc->orcpt, ';') ? "" : "rfc822;", rc->orcpt);
		dsn_fieldf(b, "Final-Recipient", "rfc822;%s", dsn_nz(rc->final));
		dsn_field(b, "Action", dsn_kind(rc->action)->name);
		dsn_status(rc, status);
		dsn_field(b, "Status", status);
		if (rc->remote_mta != NULL)
			dsn_fieldf(b, "Remote-MTA", "dns;%s", rc->remote_mta);
		diag = rc->diagnostic ? dsn_clean(rc->diagnostic, DSN_DIAG_MAX)
		    : NULL;
		if (diag != NULL && *diag != '\0')
			dsn_fieldf(b, "Diagnostic-Code", "%s;%s",
			    rc->code != 0 ? "smtp" : "x-mailsuite", diag);
		free(diag);
		if (rc->last_attempt != 0) {
			dsn_date(rc->last_attempt, date);
			dsn_field(b, "Last-Attempt-Date", date);
		}
		if (rc->action == DSN_DELAYED && rc->retry_until != 0) {
			dsn_date(rc->retry_until, date);
			dsn_field(b, "Will-Retry-Until", date);
		}
	}
}

/* The length of msg's header: up to and including the line end before
 * the first empty line; all of it when there is none. */
static size_t
dsn_header_len(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && msg[i - 1] != '\n')
			continue;
		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < len &&
		    msg[i + 1] == '\n'))
			return i;
	}
	return len;
}

/* ---- assembly ---- */

static bool
dsn_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

struct dsn_part {
	const char *description;
	const char *type;
	const char *body;
	size_t len;
};

/* A boundary found in none of the parts. */
static char *
dsn_boundary(uint64_t h, const struct dsn_part *parts, size_t n)
{
	for (unsigned k = 0;; k++) {
		char *bd = k ? xasprintf("=_dsn_%016llx_%u", (unsigned long long)h, k)
		    : xasprintf("=_dsn_%016llx", (unsigned long long)h);
		size_t i;

		for (i = 0; i < n; i++)
			if (memmem(parts[i].body, parts[i].len, bd, strlen(bd)))
				break;
		if (i == n)
			return bd;
		free(bd);
	}
}

static void
dsn_header(struct dsn_buf *b, const struct dsn_report *r, const char *seed,
    uint64_t h, const char *boundary, bool eightbit)
{
	enum dsn_action grave = DSN_EXPANDED;
	char date[DSN_DATE_SIZE], safe[DSN_SEED_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < r->nrcpts; i++)
		if (dsn_kind(r->rcpts[i].action)->gravity >
		    dsn_kind(grave)->gravity)
			grave = r->rcpts[i].action;
	/* the seed kept readable in the Message-ID as dot-atom-text */
	for (const char *s = seed; *s && n < DSN_SEED_MAX; s++)
		safe[n++] = (*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= 'a' && *s <= 'z') || *s == '-' || *s == '_' ? *s : '-';
	safe[n] = '\0';
	dsn_fieldf(b, "From", "Mail Delivery System <%s>", dsn_nz(r->postmaster));
	dsn_fieldf(b, "To", "<%s>", dsn_nz(r->to));
	dsn_field(b, "Subject", dsn_kind(grave)->subject);
	dsn_date(r->now, date);
	dsn_field(b, "Date", date);
	dsn_fieldf(b, "Message-ID", "<dsn.%016llx%s%s@%s>",
	    (unsigned long long)h, n ? "." : "", safe,
	    r->reporting_mta && *r->reporting_mta ? r->reporting_mta
	    : "localhost");
	dsn_field(b, "Auto-Submitted", "auto-replied");
	if (r->queue_id != NULL)
		dsn_fieldf(b, "X-Mailsuite-Queue-Id", "%s", r->queue_id);
	dsn_field(b, "MIME-Version", "1.0");
	dsn_fieldf(b, "Content-Type", "multipart/report; "
	    "report-type=delivery-status; boundary=\"%s\"", boundary);
	if (eightbit)
		dsn_field(b, "Content-Transfer-Encoding", "8bit");
}

/* Which of the message to return: its length (0: nothing), and whether
 * whole. */
static size_t
dsn_returned(const struct dsn_report *r, bool *whole)
{
	bool full = r->ret == QUEUE_RET_FULL ||
	    (r->ret == QUEUE_RET_NONE && dsn_any(r, DSN_FAILED));

	*whole = false;
	if (r->message == NULL || r->message_len == 0)
		return 0;
	if (full && r->message_len <= r->max_returned) {
		*whole = true;
		return r->message_len;
	}
	return dsn_header_len(r->message, r->message_len);
}

char *
dsn_build(const struct dsn_report *r, size_t *len)
{
	struct dsn_buf text = { 0 }, ds = { 0 }, out = { 0 };
	struct dsn_part parts[3];
	size_t nparts = 2, ret_len;
	bool whole, eightbit = false;
	char *boundary, *seed;
	uint64_t h;
	static unsigned counter;

	seed = r->boundary_seed ? xstrdup(r->boundary_seed)
	    : xasprintf("%lld.%ld.%u", r->now, (long)getpid(), counter++);
	ret_len = dsn_returned(r, &whole);
	dsn_text(&text, r, ret_len == 0 ? NULL : whole
	    ? "Your message is attached below."
	    : "The header of your message is attached below.");
	dsn_status_part(&ds, r);
	parts[0] = (struct dsn_part){ "Notification", NULL, text.p, text.len };
	parts[1] = (struct dsn_part){ "Delivery report",
	    "message/delivery-status", ds.p, ds.len };
	if (ret_len > 0)
		parts[nparts++] = (struct dsn_part){ whole ? "Returned message"
		    : "Returned message header", whole ? "message/rfc822"
		    : "text/rfc822-headers", r->message, ret_len };
	for (size_t i = 0; i < nparts; i++)
		eightbit |= dsn_8bit(parts[i].body, parts[i].len);
	h = dsn_hash(r, seed);
	boundary = dsn_boundary(h, parts, nparts);
	dsn_header(&out, r, seed, h, boundary, eightbit);
	dsn_buf_str(&out, "\r\nThis is a MIME-encapsulated message.\r\n");
	for (size_t i = 0; i < nparts; i++) {
		const struct dsn_part *p = &parts[i];

		dsn_buf_printf(&out, "\r\n--%s\r\n", boundary);
		dsn_field(&out, "Content-Description", p->description);
		if (p->type != NULL)
			dsn_field(&out, "Content-Type", p->type);
		else
			dsn_fieldf(&out, "Content-Type", "text/plain; charset=%s",
			    dsn_8bit(p->body, p->len) ? "utf-8" : "us-ascii");
		if (dsn_8bit(p->body, p->len))
			dsn_field(&out, "Content-Transfer-Encoding", "8bit");
		dsn_buf_str(&out, "\r\n");
		dsn_buf_add(&out, p->body, p->len);
		/* the CRLF before a boundary belongs to the boundary */
		if (p->len >= 2 && memcmp(p->body + p->len - 2, "\r\n", 2) == 0)
			out.len -= 2;
	}
	dsn_buf_printf(&out, "\r\n--%s--\r\n", boundary);

	free(boundary);
	free(seed);
	free(text.p);
	free(ds.p);
	*len = out.len;
	return out.p;
}

/* ---- whom to tell ---- */

/* RFC 3461 section 4.1: the NOTIFY keyword that asks for each action, and
 * whether the action is reported when NOTIFY was not given. */
static const struct {
	unsigned bit;
	bool by_default;
} dsn_notify_rules[] = {
	[DSN_FAILED] = { QUEUE_NOTIFY_FAILURE, true },
	[DSN_DELAYED] = { QUEUE_NOTIFY_DELAY, true },
	[DSN_DELIVERED] = { QUEUE_NOTIFY_SUCCESS, false },
	[DSN_RELAYED] = { QUEUE_NOTIFY_SUCCESS, false },
	[DSN_EXPANDED] = { QUEUE_NOTIFY_SUCCESS, false },
};

bool
dsn_wanted(unsigned notify, enum dsn_action action)
{
	if ((size_t)action >= sizeof(dsn_notify_rules) /
	    sizeof(dsn_notify_rules[0]))
		return false;
	if (notify == 0)
		return dsn_notify_rules[action].by_default;
	return (notify & dsn_notify_rules[action].bit) != 0;
}

bool
dsn_sendable(const char *envelope_from)
{
	return envelope_from != NULL && *envelope_from != '\0' &&
	    strcmp(envelope_from, "<>") != 0;
}
