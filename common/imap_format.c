/*
 * imap_format: IMAP output syntax, ENVELOPE, BODY[STRUCTURE], sections and
 * dates (see imap_format.h for the scope and the failure policy).
 *
 * Writers append to the caller's evbuffer and allocate nothing that
 * outlives the call.  The grammar each writer or parser follows is quoted
 * above it, from RFC 3501 section 9 unless said otherwise.
 */
#include "imap_format.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "mime.h"
#include "msg_header.h"
#include "xmalloc.h"

/* ---- strings ---- */

/*
 * quoted     = DQUOTE *QUOTED-CHAR DQUOTE
 * QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
 * TEXT-CHAR  = <any CHAR except CR and LF>
 * CHAR       = %x01-7F
 */
static bool
imap_quotable(const char *s, size_t n)
{
	if (n > IMAP_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

/* literal = "{" number "}" CRLF *CHAR8 */
static void
imap_write_literal(struct evbuffer *out, const char *s, size_t n)
{
	evbuffer_add_printf(out, "{%zu}\r\n", n);
	evbuffer_add(out, s, n);
}

/* Quoted (or literal) string; upper: in upper case, for the type names
 * BODYSTRUCTURE shows as RFC 3501's examples do. */
static void
imap_write_str(struct evbuffer *out, const char *s, size_t n, bool upper)
{
	if (!imap_quotable(s, n)) {
		if (!upper) {
			imap_write_literal(out, s, n);
			return;
		}
		char *u = xstrndup(s, n);
		for (size_t i = 0; i < n; i++)
			u[i] = (char)toupper((unsigned char)u[i]);
		imap_write_literal(out, u, n);
		free(u);
		return;
	}
	char buf[2 * IMAP_QUOTED_MAX + 2];
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		char c = upper ? (char)toupper((unsigned char)s[i]) : s[i];
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = c;
	}
	buf[o++] = '"';
	evbuffer_add(out, buf, o);
}

void
imap_write_string(struct evbuffer *out, const char *s)
{
	imap_write_str(out, s, strlen(s), false);
}

void
imap_write_nstring(struct evbuffer *out, const char *s)
{
	if (s == NULL)
		evbuffer_add(out, "NIL", 3);
	else
		imap_write_string(out, s);
}

static void
imap_write_nstring_upper(struct evbuffer *out, const char *s)
{
	if (s == NULL)
		evbuffer_add(out, "NIL", 3);
	else
		imap_write_str(out, s, strlen(s), true);
}

/*
 * ASTRING-CHAR = ATOM-CHAR / resp-specials
 * ATOM-CHAR    = <any CHAR except atom-specials>
 * atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                 quoted-specials / resp-specials
 */
static bool
imap_is_astring_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

void
imap_write_astring(struct evbuffer *out, const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n && imap_is_astring_char((unsigned char)s[i]))
		i++;
	if (n > 0 && i == n)
		evbuffer_add(out, s, n);
	else
		imap_write_string(out, s);
}

/* ---- ENVELOPE ---- */

static const char *const imap_env_names[IMAP_ENV_NFIELDS] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID",
};

const char *
imap_env_field_name(enum imap_env_field f)
{
	return (unsigned)f < IMAP_ENV_NFIELDS ? imap_env_names[f] : NULL;
}

bool
imap_env_split(const char *blob, size_t len, const char *f[IMAP_ENV_NFIELDS])
{
	size_t pos = 0;

	for (size_t i = 0; i < IMAP_ENV_NFIELDS; i++) {
		const char *nul = pos < len ? memchr(blob + pos, '\0', len - pos)
		                            : NULL;
		if (nul == NULL) {
			for (; i < IMAP_ENV_NFIELDS; i++)
				f[i] = NULL;
			return false;
		}
		f[i] = nul > blob + pos ? blob + pos : NULL;
		pos = (size_t)(nul - blob) + 1;
	}
	return true;
}

/*
 * address   = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
 * A group start is (NIL NIL "name" NIL), its end (NIL NIL NIL NIL).  A
 * mailbox without local part or domain gets Dovecot's placeholders, since
 * a NIL host would read as a group marker.
 */
static void
imap_write_address(struct evbuffer *out, const struct addr *a)
{
	switch (a->kind) {
	case ADDR_GROUP_START:
		evbuffer_add(out, "(NIL NIL ", 9);
		imap_write_string(out, a->mailbox);
		evbuffer_add(out, " NIL)", 5);
		return;
	case ADDR_GROUP_END:
		evbuffer_add(out, "(NIL NIL NIL NIL)", 17);
		return;
	case ADDR_MAILBOX:
		break;
	}
	evbuffer_add(out, "(", 1);
	imap_write_nstring(out, a->name);
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, a->adl);
	evbuffer_add(out, " ", 1);
	imap_write_string(out, a->mailbox ? a->mailbox : "MISSING_MAILBOX");
	evbuffer_add(out, " ", 1);
	imap_write_string(out, a->host ? a->host : "MISSING_DOMAIN");
	evbuffer_add(out, ")", 1);
}

/* env-from = "(" 1*address ")" / nil */
static void
imap_write_addrs(struct evbuffer *out, const struct addr_list *l)
{
	if (l->n == 0) {
		evbuffer_add(out, "NIL", 3);
		return;
	}
	evbuffer_add(out, "(", 1);
	for (size_t i = 0; i < l->n; i++)
		imap_write_address(out, &l->v[i]);
	evbuffer_add(out, ")", 1);
}

static void
imap_parse_addrs(const char *value, struct addr_list *l)
{
	addr_list_parse(value ? value : "", value ? strlen(value) : 0, l);
}

void
imap_write_address_list(struct evbuffer *out, const char *value)
{
	struct addr_list l;

	imap_parse_addrs(value, &l);
	imap_write_addrs(out, &l);
	addr_list_free(&l);
}

static const char *
imap_env_value(const char *const f[IMAP_ENV_NFIELDS], enum imap_env_field i)
{
	return f[i] != NULL && f[i][0] != '\0' ? f[i] : NULL;
}

void
imap_write_envelope(struct evbuffer *out,
    const char *const f[IMAP_ENV_NFIELDS])
{
	struct addr_list from;

	imap_parse_addrs(imap_env_value(f, IMAP_ENV_FROM), &from);
	evbuffer_add(out, "(", 1);
	imap_write_nstring(out, imap_env_value(f, IMAP_ENV_DATE));
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, imap_env_value(f, IMAP_ENV_SUBJECT));
	for (int i = IMAP_ENV_FROM; i <= IMAP_ENV_BCC; i++) {
		struct addr_list l;
		evbuffer_add(out, " ", 1);
		if (i == IMAP_ENV_FROM) {
			imap_write_addrs(out, &from);
			continue;
		}
		imap_parse_addrs(imap_env_value(f, i), &l);
		/* RFC 3501 7.4.2: absent or empty Sender and Reply-To are From */
		bool dflt = l.n == 0 && (i == IMAP_ENV_SENDER ||
		    i == IMAP_ENV_REPLY_TO);
		imap_write_addrs(out, dflt ? &from : &l);
		addr_list_free(&l);
	}
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, imap_env_value(f, IMAP_ENV_IN_REPLY_TO));
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, imap_env_value(f, IMAP_ENV_MESSAGE_ID));
	evbuffer_add(out, ")", 1);
	addr_list_free(&from);
}

void
imap_write_envelope_header(struct evbuffer *out, const char *hdr, size_t len)
{
	char *buf = xmalloc(IMAP_ENV_NFIELDS * IMAP_ENV_FIELD_MAX);
	const char *f[IMAP_ENV_NFIELDS];

	/* msg_header_get(), as the store's index does, so that an embedded
	 * message reads the same as a top-level one. */
	for (size_t i = 0; i < IMAP_ENV_NFIELDS; i++) {
		char *v = buf + i * IMAP_ENV_FIELD_MAX;
		f[i] = msg_header_get(hdr, len, imap_env_names[i], v,
		    IMAP_ENV_FIELD_MAX) ? v : NULL;
	}
	imap_write_envelope(out, f);
	free(buf);
}

/* ---- BODY and BODYSTRUCTURE ---- */

struct imap_body_ctx {
	struct evbuffer *out;
	const char *msg;
	bool extended;
};

/* What a multipart without any part is shown as (Dovecot does the same). */
#define IMAP_EMPTY_BODY \
	"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)"

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / nil */
static void
imap_write_params(struct evbuffer *out, const struct mime_param *v, size_t n)
{
	if (n == 0) {
		evbuffer_add(out, "NIL", 3);
		return;
	}
	evbuffer_add(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			evbuffer_add(out, " ", 1);
		imap_write_str(out, v[i].name, strlen(v[i].name), true);
		evbuffer_add(out, " ", 1);
		imap_write_string(out, v[i].value);
	}
	evbuffer_add(out, ")", 1);
}

/* body-fld-dsp = "(" string SP body-fld-param ")" / nil */
static void
imap_write_disposition(struct evbuffer *out, const struct mime_part *p)
{
	if (p->disposition == NULL) {
		evbuffer_add(out, "NIL", 3);
		return;
	}
	evbuffer_add(out, "(", 1);
	imap_write_nstring_upper(out, p->disposition);
	evbuffer_add(out, " ", 1);
	imap_write_params(out, p->disp_params, p->ndisp_params);
	evbuffer_add(out, ")", 1);
}

/* body-fld-lang = nstring / "(" string *(SP string) ")" */
static void
imap_write_languages(struct evbuffer *out, const struct mime_part *p)
{
	if (p->nlanguages == 0) {
		evbuffer_add(out, "NIL", 3);
		return;
	}
	evbuffer_add(out, "(", 1);
	for (size_t i = 0; i < p->nlanguages; i++) {
		if (i > 0)
			evbuffer_add(out, " ", 1);
		imap_write_string(out, p->languages[i]);
	}
	evbuffer_add(out, ")", 1);
}

/* SP body-fld-dsp SP body-fld-lang SP body-fld-loc: the tail both
 * body-ext-1part and body-ext-mpart share. */
static void
imap_write_ext_tail(struct evbuffer *out, const struct mime_part *p)
{
	evbuffer_add(out, " ", 1);
	imap_write_disposition(out, p);
	evbuffer_add(out, " ", 1);
	imap_write_languages(out, p);
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, p->location);
}

static void imap_write_part(const struct imap_body_ctx *c,
    const struct mime_part *p);

/*
 * body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 * body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
 *                   [SP body-fld-loc *(SP body-extension)]]]
 */
static void
imap_write_multipart(const struct imap_body_ctx *c, const struct mime_part *p)
{
	for (const struct mime_part *ch = p->children; ch; ch = ch->next)
		imap_write_part(c, ch);
	if (p->children == NULL)
		evbuffer_add(c->out, IMAP_EMPTY_BODY, strlen(IMAP_EMPTY_BODY));
	evbuffer_add(c->out, " ", 1);
	imap_write_nstring_upper(c->out, p->subtype);
	if (!c->extended)
		return;
	evbuffer_add(c->out, " ", 1);
	imap_write_params(c->out, p->params, p->nparams);
	imap_write_ext_tail(c->out, p);
}

/*
 * body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
 *               body-fld-enc SP body-fld-octets
 * A composite part that was not looked into is shown as what it is to a
 * client: opaque octets.
 */
static void
imap_write_fields(const struct imap_body_ctx *c, const struct mime_part *p)
{
	struct evbuffer *out = c->out;

	if (p->opaque) {
		evbuffer_add(out, "\"APPLICATION\" \"OCTET-STREAM\"", 28);
	} else {
		imap_write_nstring_upper(out, p->type);
		evbuffer_add(out, " ", 1);
		imap_write_nstring_upper(out, p->subtype);
	}
	evbuffer_add(out, " ", 1);
	imap_write_params(out, p->params, p->nparams);
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, p->id);
	evbuffer_add(out, " ", 1);
	imap_write_nstring(out, p->description);
	evbuffer_add(out, " ", 1);
	imap_write_nstring_upper(out, p->encoding);
	evbuffer_add_printf(out, " %zu", p->body_len);
}

/*
 * body-type-1part = (body-type-basic / body-type-msg / body-type-text)
 *                   [SP body-ext-1part]
 * body-type-msg   = media-message SP body-fields SP envelope SP body SP
 *                   body-fld-lines
 * body-type-text  = media-text SP body-fields SP body-fld-lines
 * body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
 *                   [SP body-fld-loc *(SP body-extension)]]]
 */
static void
imap_write_leaf(const struct imap_body_ctx *c, const struct mime_part *p)
{
	imap_write_fields(c, p);
	if (p->message != NULL) {
		const struct mime_part *m = p->message;
		evbuffer_add(c->out, " ", 1);
		imap_write_envelope_header(c->out, c->msg + m->hdr_off, m->hdr_len);
		evbuffer_add(c->out, " ", 1);
		imap_write_part(c, m);
		evbuffer_add_printf(c->out, " %zu", p->body_lines);
	} else if (mime_is_text(p) && !p->opaque) {
		evbuffer_add_printf(c->out, " %zu", p->body_lines);
	}
	if (!c->extended)
		return;
	evbuffer_add(c->out, " ", 1);
	imap_write_nstring(c->out, p->md5);
	imap_write_ext_tail(c->out, p);
}

/* body = "(" (body-type-1part / body-type-mpart) ")" */
static void
imap_write_part(const struct imap_body_ctx *c, const struct mime_part *p)
{
	evbuffer_add(c->out, "(", 1);
	if (mime_is_multipart(p))
		imap_write_multipart(c, p);
	else
		imap_write_leaf(c, p);
	evbuffer_add(c->out, ")", 1);
}

void
imap_write_body(struct evbuffer *out, const struct mime_tree *t,
    const char *msg, bool extended)
{
	struct imap_body_ctx c = { out, msg != NULL ? msg : "", extended };

	imap_write_part(&c, mime_root(t));
}

/* ---- BODY[section] ---- */

static bool
imap_keyword(const char **s, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(*s, kw, n) != 0)
		return false;
	*s += n;
	return true;
}

/* nz-number, at most 2^31 - 1 */
static bool
imap_nz_number(const char **s, unsigned *v)
{
	unsigned long n = 0;
	const char *p = *s;

	if (*p < '1' || *p > '9')
		return false;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (unsigned long)(*p++ - '0');
		if (n > 0x7fffffffUL)
			return false;
	}
	*v = (unsigned)n;
	*s = p;
	return true;
}

/* header-fld-name = astring: an atom or a quoted string, into out. */
static bool
imap_field_name(const char **s, char out[IMAP_SECTION_FIELD_LEN + 1])
{
	const char *p = *s;
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			if (*p == '\0' || *p == '\r' || *p == '\n' ||
			    n == IMAP_SECTION_FIELD_LEN)
				return false;
			out[n++] = *p;
		}
		p++;
	} else {
		for (; imap_is_astring_char((unsigned char)*p) && *p != ')'; p++) {
			if (n == IMAP_SECTION_FIELD_LEN)
				return false;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	*s = p;
	return n > 0;
}

/* SP header-list */
static bool
imap_header_list(const char **s, struct imap_section *sec)
{
	const char *p = *s;

	if (*p++ != ' ' || *p++ != '(')
		return false;
	for (;;) {
		if (sec->nfields == IMAP_SECTION_FIELDS_MAX ||
		    !imap_field_name(&p, sec->fields[sec->nfields]))
			return false;
		sec->nfields++;
		if (*p == ')')
			break;
		if (*p++ != ' ')
			return false;
	}
	*s = p + 1;
	return true;
}

/* section-msgtext, or with mime also "MIME" */
static bool
imap_section_text(const char **s, struct imap_section *sec, bool mime)
{
	if (imap_keyword(s, "HEADER.FIELDS.NOT")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		return imap_header_list(s, sec);
	}
	if (imap_keyword(s, "HEADER.FIELDS")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS;
		return imap_header_list(s, sec);
	}
	if (imap_keyword(s, "HEADER"))
		sec->text = IMAP_SECTION_HEADER;
	else if (imap_keyword(s, "TEXT"))
		sec->text = IMAP_SECTION_TEXT;
	else if (mime && imap_keyword(s, "MIME"))
		sec->text = IMAP_SECTION_MIME;
	else
		return false;
	return true;
}

bool
imap_section_parse(const char *spec, struct imap_section *sec)
{
	const char *s = spec;

	memset(sec, 0, sizeof(*sec));
	while (isdigit((unsigned char)*s)) {
		if (sec->nparts == IMAP_SECTION_PARTS_MAX ||
		    !imap_nz_number(&s, &sec->part[sec->nparts]))
			return false;
		sec->nparts++;
		if (*s != '.')
			break;
		s++;
		if (!isdigit((unsigned char)*s))
			return imap_section_text(&s, sec, true) && *s == '\0';
	}
	if (sec->nparts == 0 && *s != '\0' && !imap_section_text(&s, sec, false))
		return false;
	return *s == '\0';
}

/* Does the field name n/len appear in names? */
static bool
imap_name_listed(const char *n, size_t len,
    const char (*names)[IMAP_SECTION_FIELD_LEN + 1], size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(names[i]) == len && strncasecmp(names[i], n, len) == 0)
			return true;
	return false;
}

void
imap_header_filter(struct evbuffer *out, const char *hdr, size_t len,
    const char (*names)[IMAP_SECTION_FIELD_LEN + 1], size_t n, bool exclude)
{
	struct mime_field f;
	size_t pos = 0;

	while (mime_header_next(hdr, len, &pos, &f)) {
		if (f.name_len == 0 ||
		    imap_name_listed(f.name, f.name_len, names, n) == exclude)
			continue;
		/* the field as written, ending in CRLF whatever it had */
		evbuffer_add(out, f.raw, (size_t)(f.value + f.value_len - f.raw));
		evbuffer_add(out, "\r\n", 2);
	}
	evbuffer_add(out, "\r\n", 2);
}

static enum imap_section_rc
imap_range(size_t o, size_t l, size_t *off, size_t *len)
{
	*off = o;
	*len = l;
	return IMAP_SECTION_RANGE;
}

enum imap_section_rc
imap_section_locate(const struct imap_section *sec, const struct mime_tree *t,
    const char *msg, size_t *off, size_t *len, struct evbuffer *synth)
{
	const struct mime_part *p = mime_section_part(t, sec->part, sec->nparts);

	if (p == NULL)
		return IMAP_SECTION_NONE;
	switch (sec->text) {
	case IMAP_SECTION_ALL:
		if (sec->nparts == 0)
			return imap_range(0, p->hdr_len + p->body_len, off, len);
		return imap_range(p->body_off, p->body_len, off, len);
	case IMAP_SECTION_MIME:
		return imap_range(p->hdr_off, p->hdr_len, off, len);
	default:
		break;
	}
	/* HEADER, HEADER.FIELDS, TEXT: of the message, or of the message
	 * embedded in a message/rfc822 part. */
	if (sec->nparts > 0)
		p = p->message;
	if (p == NULL)
		return IMAP_SECTION_NONE;
	if (sec->text == IMAP_SECTION_HEADER)
		return imap_range(p->hdr_off, p->hdr_len, off, len);
	if (sec->text == IMAP_SECTION_TEXT)
		return imap_range(p->body_off, p->body_len, off, len);
	if (msg == NULL)                    /* an empty message */
		msg = "";
	imap_header_filter(synth, msg + p->hdr_off, p->hdr_len, sec->fields,
	    sec->nfields, sec->text == IMAP_SECTION_HEADER_FIELDS_NOT);
	return IMAP_SECTION_SYNTH;
}

/* ---- dates ---- */

static const char imap_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), free of the process's time zone. */
static int64_t
imap_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
imap_days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* A broken-down time, as parsed; tz in minutes east of UTC. */
struct imap_tm {
	int year, mon, day, hour, min, sec, tz;
};

static bool
imap_tm_to_time(const struct imap_tm *tm, time_t *t)
{
	if (tm->year < 1 || tm->year > 9999 || tm->mon < 1 || tm->mon > 12 ||
	    tm->day < 1 || tm->day > imap_days_in_month(tm->year, tm->mon) ||
	    tm->hour > 23 || tm->min > 59 || tm->sec > 60 ||
	    tm->hour < 0 || tm->min < 0 || tm->sec < 0)
		return false;
	int64_t days = imap_days_from_civil(tm->year, (unsigned)tm->mon,
	    (unsigned)tm->day);
	*t = (time_t)(days * 86400 + tm->hour * 3600 + tm->min * 60 + tm->sec -
	    (int64_t)tm->tz * 60);
	return true;
}

void
imap_datetime_format(time_t t, int tzoff, char buf[IMAP_DATETIME_SIZE])
{
	time_t local = t + (time_t)tzoff * 60;
	struct tm tm;
	int a = tzoff < 0 ? -tzoff : tzoff;

	if (gmtime_r(&local, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1 || a > 99 * 60 + 59) {
		memcpy(buf, " 1-Jan-1970 00:00:00 +0000", IMAP_DATETIME_SIZE);
		return;
	}
	snprintf(buf, IMAP_DATETIME_SIZE, "%2d-%s-%04d %02d:%02d:%02d %c%02d%02d",
	    tm.tm_mday, imap_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, tzoff < 0 ? '-' : '+', a / 60, a % 60);
}

/* Exactly n digits (n > 0) into *v. */
static bool
imap_digits(const char **s, int n, int *v)
{
	int r = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return false;
		r = r * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*v = r;
	return true;
}

static bool
imap_month(const char **s, int *mon)
{
	for (int i = 0; i < 12; i++)
		if (strncasecmp(*s, imap_months[i], 3) == 0) {
			*mon = i + 1;
			*s += 3;
			return true;
		}
	return false;
}

/* date-day "-" date-month "-" date-year, with date-day 1*2DIGIT or, with
 * fixed, also SP DIGIT. */
static bool
imap_date_part(const char **s, struct imap_tm *tm, bool fixed)
{
	if (fixed && **s == ' ')
		(*s)++;
	if (!imap_digits(s, 1, &tm->day))
		return false;
	if (isdigit((unsigned char)**s)) {
		int d;
		imap_digits(s, 1, &d);
		tm->day = tm->day * 10 + d;
	}
	return *(*s)++ == '-' && imap_month(s, &tm->mon) && *(*s)++ == '-' &&
	    imap_digits(s, 4, &tm->year);
}

/*
 * date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
 *             SP time SP zone DQUOTE
 * time      = 2DIGIT ":" 2DIGIT ":" 2DIGIT
 * zone      = ("+" / "-") 4DIGIT
 */
bool
imap_datetime_parse(const char *s, time_t *t, int *tzoff)
{
	struct imap_tm tm;
	int zh, zm;

	memset(&tm, 0, sizeof(tm));
	if (!imap_date_part(&s, &tm, true) || *s++ != ' ' ||
	    !imap_digits(&s, 2, &tm.hour) || *s++ != ':' ||
	    !imap_digits(&s, 2, &tm.min) || *s++ != ':' ||
	    !imap_digits(&s, 2, &tm.sec) || *s++ != ' ' ||
	    (*s != '+' && *s != '-'))
		return false;
	char sign = *s++;
	if (!imap_digits(&s, 2, &zh) || !imap_digits(&s, 2, &zm) || zm > 59 ||
	    *s != '\0')
		return false;
	tm.tz = (sign == '-' ? -1 : 1) * (zh * 60 + zm);
	if (!imap_tm_to_time(&tm, t))
		return false;
	if (tzoff != NULL)
		*tzoff = tm.tz;
	return true;
}

bool
imap_date_parse(const char *s, time_t *day)
{
	struct imap_tm tm;

	memset(&tm, 0, sizeof(tm));
	return imap_date_part(&s, &tm, false) && *s == '\0' &&
	    imap_tm_to_time(&tm, day);
}

/* ---- RFC 5322 Date: ---- */

/* Zone names of RFC 5322 4.3 (obs-zone), and a few common unambiguous
 * ones; minutes east of UTC. */
static const struct {
	const char *name;
	int off;
} imap_zones[] = {
	{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
	{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
	{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
	{ "CET", 60 }, { "CEST", 120 }, { "MET", 60 }, { "MEST", 120 },
	{ "EET", 120 }, { "EEST", 180 }, { "JST", 540 },
};

/* What the tokens of a Date: value told so far. */
struct imap_date_scan {
	struct imap_tm tm;
	bool have_day, have_mon, have_year, have_time, have_zone;
};

/* time-of-day = hour ":" minute [ ":" second ] */
static void
imap_date_time(struct imap_date_scan *d, const char *tok)
{
	int v[3] = { 0, 0, 0 }, n = 0;
	const char *p = tok;

	while (n < 3) {
		if (!isdigit((unsigned char)*p))
			return;
		int x = 0;
		for (int k = 0; k < 2 && isdigit((unsigned char)*p); k++)
			x = x * 10 + (*p++ - '0');
		v[n++] = x;
		if (*p != ':')
			break;
		p++;
	}
	if (n < 2 || *p != '\0' || d->have_time)
		return;
	d->tm.hour = v[0];
	d->tm.min = v[1];
	d->tm.sec = v[2];
	d->have_time = true;
}

static bool
imap_date_zone_num(struct imap_date_scan *d, const char *tok)
{
	int zh, zm;
	const char *p = tok + 1;

	if ((tok[0] != '+' && tok[0] != '-') || strlen(tok) != 5 ||
	    !imap_digits(&p, 2, &zh) || !imap_digits(&p, 2, &zm) || zm > 59)
		return false;
	if (!d->have_zone)
		d->tm.tz = (tok[0] == '-' ? -1 : 1) * (zh * 60 + zm);
	d->have_zone = true;
	return true;
}

/* A word: a month (any prefix of at least three letters, "Sept" too), a
 * zone name, a weekday or noise. */
static void
imap_date_word(struct imap_date_scan *d, const char *tok)
{
	const char *p = tok;
	int mon;

	if (strlen(tok) >= 3 && imap_month(&p, &mon)) {
		if (!d->have_mon) {
			d->tm.mon = mon;
			d->have_mon = true;
		}
		return;
	}
	if (strncasecmp(tok, "GMT", 3) == 0 && (tok[3] == '+' || tok[3] == '-')) {
		imap_date_zone_num(d, tok + 3);
		return;
	}
	for (size_t i = 0; i < sizeof(imap_zones) / sizeof(imap_zones[0]); i++)
		if (strcasecmp(tok, imap_zones[i].name) == 0) {
			if (!d->have_zone)
				d->tm.tz = imap_zones[i].off;
			d->have_zone = true;
			return;
		}
	/* Military zones: RFC 5322 says to take them as -0000. */
	if (strlen(tok) == 1 && isalpha((unsigned char)tok[0]))
		d->have_zone = true;
}

/* A number: the day comes first (unless a year of 3+ digits), the year
 * next. */
static void
imap_date_number(struct imap_date_scan *d, const char *tok)
{
	size_t len = strlen(tok);

	if (len > 4)
		return;
	int v = atoi(tok);
	if (len <= 2 && !d->have_day && v >= 1 && v <= 31) {
		d->tm.day = v;
		d->have_day = true;
	} else if (!d->have_year) {
		/* obs-year: 2 digits are 1950-2049, 3 digits add 1900 */
		if (len <= 2)
			v += v < 50 ? 2000 : 1900;
		else if (len == 3)
			v += 1900;
		d->tm.year = v;
		d->have_year = true;
	}
}

static bool
imap_all(const char *s, int (*pred)(int))
{
	for (; *s != '\0'; s++)
		if (!pred((unsigned char)*s))
			return false;
	return true;
}

static void imap_date_token(struct imap_date_scan *d, char *tok, int depth);

/* "17-Jul-1996": the pieces are tokens of their own. */
static void
imap_date_split(struct imap_date_scan *d, char *tok, int depth)
{
	char *save = NULL;

	for (char *p = strtok_r(tok, "-/", &save); p != NULL;
	    p = strtok_r(NULL, "-/", &save))
		imap_date_token(d, p, depth + 1);
}

static void
imap_date_token(struct imap_date_scan *d, char *tok, int depth)
{
	size_t len = strlen(tok);

	while (len > 0 && tok[len - 1] == '.')     /* "Jul." */
		tok[--len] = '\0';
	if (len == 0)
		return;
	if (strchr(tok, ':') != NULL)
		imap_date_time(d, tok);
	else if (imap_date_zone_num(d, tok))
		return;
	else if (strncasecmp(tok, "GMT", 3) == 0 && len > 3)
		imap_date_word(d, tok);         /* "GMT+0200" */
	else if (depth == 0 && strpbrk(tok + 1, "-/") != NULL)
		imap_date_split(d, tok, depth);
	else if (imap_all(tok, isdigit))
		imap_date_number(d, tok);
	else if (imap_all(tok, isalpha))
		imap_date_word(d, tok);
}

/* Comments become white space: "+0200 (CEST)". */
static void
imap_strip_comments(char *s)
{
	int depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '(')
			depth++;
		if (depth > 0) {
			if (*s == ')')
				depth--;
			*s = ' ';
		}
	}
}

/*
 * date-time   = [ day-of-week "," ] date time [CFWS]
 * date        = day month year
 * time        = time-of-day zone
 * time-of-day = hour ":" minute [ ":" second ]
 * zone        = (FWS ( "+" / "-" ) 4DIGIT) / obs-zone
 * Read as a bag of tokens told apart by their shape, which also covers
 * the asctime order and "dd-Mon-yyyy".
 */
bool
imap_message_date_parse(const char *s, time_t *t, int *tzoff)
{
	struct imap_date_scan d;
	char buf[256], *save = NULL;

	memset(&d, 0, sizeof(d));
	snprintf(buf, sizeof(buf), "%s", s);
	imap_strip_comments(buf);
	for (char *tok = strtok_r(buf, " \t\r\n,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t\r\n,", &save))
		imap_date_token(&d, tok, 0);
	if (!d.have_day || !d.have_mon || !d.have_year)
		return false;
	if (!imap_tm_to_time(&d.tm, t))
		return false;
	if (tzoff != NULL)
		*tzoff = d.tm.tz;
	return true;
}
