/*
 * mime: MIME structure of a message in memory (see mime.h for what a part
 * records, ownership and the failure policy).
 *
 * The parser works top-down on byte ranges: a part's range is split into
 * header and body at the first blank line; a multipart body is cut at its
 * own delimiter lines only, so an inner part that never closes ends where
 * its parent's next delimiter starts; a message/rfc822 body is parsed as a
 * message.  Recursion follows the nesting of the message and stops at
 * MIME_DEPTH_MAX.  Everything is allocated from one arena per tree.
 *
 *   body-part  = MIME-part-headers [CRLF *OCTET]
 *   multipart-body = [preamble CRLF] dash-boundary transport-padding CRLF
 *                    body-part *encapsulation close-delimiter
 *                    transport-padding [CRLF epilogue]
 *   encapsulation  = delimiter transport-padding CRLF body-part
 *   delimiter      = CRLF dash-boundary
 *   dash-boundary  = "--" boundary
 *   close-delimiter = delimiter "--"
 */
#include "mime.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define MIME_CHUNK 16384

struct mime_chunk {
	struct mime_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct mime_tree {
	struct mime_part *root;
	size_t size;
	size_t nparts;
	bool truncated;
	struct mime_chunk *chunks;
};

/* State of one mime_parse() call. */
struct mime_ctx {
	const char *msg;
	struct mime_tree *t;
	char val[MIME_VALUE_MAX];       /* the field being parsed, unfolded */
};

/* ---- arena ---- */

static void *
mime_alloc(struct mime_tree *t, size_t n)
{
	size_t a = sizeof(max_align_t);
	struct mime_chunk *ch = t->chunks;

	n = (n + a - 1) / a * a;
	if (ch == NULL || ch->cap - ch->used < n) {
		size_t cap = n > MIME_CHUNK ? n : MIME_CHUNK;
		ch = xmalloc(sizeof(*ch) + cap);
		ch->next = t->chunks;
		ch->used = 0;
		ch->cap = cap;
		t->chunks = ch;
	}
	void *r = (char *)ch->data + ch->used;
	ch->used += n;
	memset(r, 0, n);
	return r;
}

static char *
mime_strndup(struct mime_tree *t, const char *s, size_t n, bool lower)
{
	char *r = mime_alloc(t, n + 1);

	for (size_t i = 0; i < n; i++)
		r[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
	r[n] = '\0';
	return r;
}

/* ---- header fields ---- */

static bool
mime_is_blank_line(const char *h, size_t len, size_t pos)
{
	return h[pos] == '\n' ||
	    (h[pos] == '\r' && (pos + 1 == len || h[pos + 1] == '\n'));
}

/* End of the field starting at pos: after the line end of its last
 * continuation line. */
static size_t
mime_field_end(const char *h, size_t len, size_t pos)
{
	for (;;) {
		const char *nl = memchr(h + pos, '\n', len - pos);
		if (nl == NULL)
			return len;
		pos = (size_t)(nl - h) + 1;
		if (pos == len || (h[pos] != ' ' && h[pos] != '\t'))
			return pos;
	}
}

/*
 * field      = field-name ":" unstructured CRLF
 * field-name = 1*ftext            (obs: white space before the colon)
 */
bool
mime_header_next(const char *hdr, size_t len, size_t *pos,
    struct mime_field *f)
{
	size_t p = *pos;

	if (p >= len || mime_is_blank_line(hdr, len, p))
		return false;
	size_t end = mime_field_end(hdr, len, p);
	const char *raw = hdr + p;
	size_t raw_len = end - p;
	const char *nl = memchr(raw, '\n', raw_len);
	size_t first = nl ? (size_t)(nl - raw) : raw_len;
	const char *colon = memchr(raw, ':', first);

	memset(f, 0, sizeof(*f));
	f->raw = raw;
	f->raw_len = raw_len;
	f->name = raw;
	if (colon != NULL) {
		f->name_len = (size_t)(colon - raw);
		while (f->name_len > 0 && (raw[f->name_len - 1] == ' ' ||
		    raw[f->name_len - 1] == '\t'))
			f->name_len--;
		f->value = colon + 1;
		f->value_len = raw_len - (size_t)(f->value - raw);
	} else {
		f->value = raw;
		f->value_len = raw_len;
	}
	while (f->value_len > 0 && (f->value[f->value_len - 1] == '\n' ||
	    f->value[f->value_len - 1] == '\r'))
		f->value_len--;
	*pos = end;
	return true;
}

static bool
mime_is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t
mime_unfold(const char *v, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	while (n > 0 && mime_is_wsp(*v)) {
		v++;
		n--;
	}
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0')
			out[o++] = v[i];
	while (o > 0 && mime_is_wsp(out[o - 1]))
		o--;
	if (cap > 0)
		out[o] = '\0';
	return o;
}

/* ---- a lexer for structured MIME fields (RFC 2045 5.1) ---- */

/*
 * token    = 1*<any CHAR except SPACE, CTLs, or tspecials>
 * tspecials = "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "\" / <">
 *             / "/" / "[" / "]" / "?" / "="
 * 8-bit octets are let into tokens: they happen.
 */
struct mime_lex {
	const char *p, *end;
};

static bool
mime_is_tchar(unsigned char c)
{
	return c > ' ' && c != 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skip white space and (nested) comments. */
static void
mime_lex_cfws(struct mime_lex *lx)
{
	int depth = 0;

	for (; lx->p < lx->end; lx->p++) {
		char c = *lx->p;
		if (depth > 0 && c == '\\' && lx->p + 1 < lx->end)
			lx->p++;
		else if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && !mime_is_wsp(c))
			return;
	}
}

static bool
mime_lex_token(struct mime_lex *lx, const char **s, size_t *n)
{
	mime_lex_cfws(lx);
	*s = lx->p;
	while (lx->p < lx->end && mime_is_tchar((unsigned char)*lx->p))
		lx->p++;
	*n = (size_t)(lx->p - *s);
	return *n > 0;
}

static bool
mime_lex_char(struct mime_lex *lx, char c)
{
	mime_lex_cfws(lx);
	if (lx->p < lx->end && *lx->p == c) {
		lx->p++;
		return true;
	}
	return false;
}

/* value = token / quoted-string, leniently: an unquoted value runs to
 * white space, ";" or a comment ("name=my file.pdf" keeps "my"). */
static char *
mime_lex_value(struct mime_ctx *c, struct mime_lex *lx)
{
	mime_lex_cfws(lx);
	if (lx->p < lx->end && *lx->p == '"') {
		char *r = mime_alloc(c->t, (size_t)(lx->end - lx->p));
		size_t n = 0;
		for (lx->p++; lx->p < lx->end && *lx->p != '"'; lx->p++) {
			if (*lx->p == '\\' && lx->p + 1 < lx->end)
				lx->p++;
			r[n++] = *lx->p;
		}
		if (lx->p < lx->end)
			lx->p++;
		r[n] = '\0';
		return r;
	}
	const char *s = lx->p;
	while (lx->p < lx->end && !mime_is_wsp(*lx->p) &&
	    strchr(";(\"", *lx->p) == NULL)
		lx->p++;
	return mime_strndup(c->t, s, (size_t)(lx->p - s), false);
}

static void
mime_lex_skip_to(struct mime_lex *lx, char stop)
{
	while (lx->p < lx->end && *lx->p != stop) {
		if (*lx->p == '"') {
			for (lx->p++; lx->p < lx->end && *lx->p != '"'; lx->p++)
				if (*lx->p == '\\' && lx->p + 1 < lx->end)
					lx->p++;
		}
		if (lx->p < lx->end)
			lx->p++;
	}
}

/* ---- parameters (RFC 2045 5.1, RFC 2231) ---- */

/* A parameter as written, with its RFC 2231 name split: "title*1*". */
struct mime_rawparam {
	char *name;         /* lower case, whole */
	size_t base_len;    /* up to the first "*" */
	int section;        /* -1: none */
	bool extended;      /* ends in "*" */
	bool rfc2231;
	char *value;
};

static void
mime_rawparam_split(struct mime_rawparam *r)
{
	char *star = strchr(r->name, '*');

	r->section = -1;
	r->base_len = strlen(r->name);
	if (star == NULL || star == r->name)
		return;
	char *s = star + 1, *end;
	if (*s == '\0') {
		r->extended = true;
	} else {
		if (!isdigit((unsigned char)*s))
			return;
		long n = strtol(s, &end, 10);
		if (n > MIME_PARAMS_MAX ||
		    (*end != '\0' && strcmp(end, "*") != 0) ||
		    (s[0] == '0' && end - s > 1))
			return;
		r->section = (int)n;
		r->extended = *end == '*';
	}
	r->rfc2231 = true;
	r->base_len = (size_t)(star - r->name);
}

static size_t
mime_read_params(struct mime_ctx *c, struct mime_lex *lx,
    struct mime_rawparam *raw)
{
	size_t n = 0;

	while (n < MIME_PARAMS_MAX) {
		const char *a;
		size_t alen;
		mime_lex_cfws(lx);
		if (lx->p == lx->end)
			break;
		if (mime_lex_char(lx, ';'))
			continue;
		if (!mime_lex_token(lx, &a, &alen) || !mime_lex_char(lx, '=')) {
			mime_lex_skip_to(lx, ';');
			continue;
		}
		struct mime_rawparam *r = &raw[n++];
		memset(r, 0, sizeof(*r));
		r->name = mime_strndup(c->t, a, alen, true);
		r->value = mime_lex_value(c, lx);
		mime_rawparam_split(r);
		mime_lex_skip_to(lx, ';');
	}
	if (n == MIME_PARAMS_MAX)
		c->t->truncated = true;
	return n;
}

/* Percent-encode what RFC 2231 does not allow raw in an extended value. */
static size_t
mime_pct_encode(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (mime_is_tchar(ch) && ch < 0x80 && ch != '*' && ch != '\'' &&
		    ch != '%') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	return o;
}

static const struct mime_rawparam *
mime_find_section(const struct mime_rawparam *raw, size_t n,
    const struct mime_rawparam *base, int section)
{
	for (size_t i = 0; i < n; i++)
		if (raw[i].rfc2231 && raw[i].section == section &&
		    raw[i].base_len == base->base_len &&
		    memcmp(raw[i].name, base->name, base->base_len) == 0)
			return &raw[i];
	return NULL;
}

/* Join the sections 0, 1, ... of the RFC 2231 parameter base. */
static void
mime_join_sections(struct mime_ctx *c, const struct mime_rawparam *raw,
    size_t n, const struct mime_rawparam *base, struct mime_param *out)
{
	const struct mime_rawparam *sec[MIME_PARAMS_MAX + 1];
	size_t nsec = 0, total = 3;
	bool ext = false;

	for (int k = 0; k <= MIME_PARAMS_MAX; k++) {
		const struct mime_rawparam *r = mime_find_section(raw, n, base, k);
		if (r == NULL)
			break;
		sec[nsec++] = r;
		ext |= r->extended;
		total += 3 * strlen(r->value);
	}
	char *v = mime_alloc(c->t, total + 1), *o = v;
	if (ext && !sec[0]->extended) {
		memcpy(o, "''", 2);         /* no charset, no language */
		o += 2;
	}
	for (size_t i = 0; i < nsec; i++) {
		if (ext && !sec[i]->extended) {
			o += mime_pct_encode(sec[i]->value, o);
		} else {
			size_t l = strlen(sec[i]->value);
			memcpy(o, sec[i]->value, l);
			o += l;
		}
	}
	*o = '\0';
	/* name[base_len] is the "*" that marks an extended value */
	out->name = mime_strndup(c->t, base->name, base->base_len + ext, false);
	out->value = v;
}

static bool
mime_base_seen(const struct mime_rawparam *raw, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (raw[j].rfc2231 && raw[j].section >= 0 &&
		    raw[j].base_len == raw[i].base_len &&
		    memcmp(raw[j].name, raw[i].name, raw[i].base_len) == 0)
			return true;
	return false;
}

/* parameter *(";" parameter) after the lexer's position, into *out. */
static void
mime_parse_params(struct mime_ctx *c, struct mime_lex *lx,
    const struct mime_param **out, size_t *nout)
{
	struct mime_rawparam raw[MIME_PARAMS_MAX];
	size_t n = mime_read_params(c, lx, raw), o = 0;
	struct mime_param *v = mime_alloc(c->t, (n + 1) * sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		if (!raw[i].rfc2231 || raw[i].section < 0) {
			v[o].name = raw[i].name;
			v[o++].value = raw[i].value;
		} else if (!mime_base_seen(raw, i)) {
			if (mime_find_section(raw, n, &raw[i], 0) != NULL)
				mime_join_sections(c, raw, n, &raw[i], &v[o++]);
		}
	}
	*out = v;
	*nout = o;
}

static void
mime_param_add(struct mime_ctx *c, struct mime_part *p, const char *name,
    const char *value)
{
	struct mime_param *v = mime_alloc(c->t, (p->nparams + 1) * sizeof(*v));

	if (p->nparams > 0)
		memcpy(v, p->params, p->nparams * sizeof(*v));
	v[p->nparams].name = name;
	v[p->nparams].value = value;
	p->params = v;
	p->nparams++;
}

/* ---- the Content-* fields ---- */

/* Content-Type := type "/" subtype *(";" parameter) */
static void
mime_field_type(struct mime_ctx *c, struct mime_part *p, struct mime_lex *lx)
{
	const char *t, *s;
	size_t tn, sn;

	if (!mime_lex_token(lx, &t, &tn) || !mime_lex_char(lx, '/') ||
	    !mime_lex_token(lx, &s, &sn))
		return;     /* invalid: the default applies (RFC 2045 5.2) */
	p->type = mime_strndup(c->t, t, tn, true);
	p->subtype = mime_strndup(c->t, s, sn, true);
	mime_parse_params(c, lx, &p->params, &p->nparams);
}

/* Content-Transfer-Encoding := mechanism */
static void
mime_field_encoding(struct mime_ctx *c, struct mime_part *p,
    struct mime_lex *lx)
{
	const char *t;
	size_t n;

	if (mime_lex_token(lx, &t, &n))
		p->encoding = mime_strndup(c->t, t, n, true);
}

/* Content-Disposition := disposition-type *(";" disposition-parm) */
static void
mime_field_disposition(struct mime_ctx *c, struct mime_part *p,
    struct mime_lex *lx)
{
	const char *t;
	size_t n;

	if (!mime_lex_token(lx, &t, &n))
		return;
	p->disposition = mime_strndup(c->t, t, n, true);
	mime_parse_params(c, lx, &p->disp_params, &p->ndisp_params);
}

/* Content-Language := Language-tag *("," Language-tag)  (RFC 3282) */
static void
mime_field_language(struct mime_ctx *c, struct mime_part *p,
    struct mime_lex *lx)
{
	const char **v = mime_alloc(c->t, MIME_LANGUAGES_MAX * sizeof(*v));
	const char *t;
	size_t n, count = 0;

	while (count < MIME_LANGUAGES_MAX && mime_lex_token(lx, &t, &n)) {
		v[count++] = mime_strndup(c->t, t, n, false);
		if (!mime_lex_char(lx, ','))
			break;
	}
	p->languages = v;
	p->nlanguages = count;
}

static const char *
mime_field_text(struct mime_ctx *c, const struct mime_lex *lx)
{
	size_t n = (size_t)(lx->end - lx->p);

	return n > 0 ? mime_strndup(c->t, lx->p, n, false) : NULL;
}

static void
mime_field_id(struct mime_ctx *c, struct mime_part *p, struct mime_lex *lx)
{
	p->id = mime_field_text(c, lx);
}

static void
mime_field_description(struct mime_ctx *c, struct mime_part *p,
    struct mime_lex *lx)
{
	p->description = mime_field_text(c, lx);
}

static void
mime_field_md5(struct mime_ctx *c, struct mime_part *p, struct mime_lex *lx)
{
	p->md5 = mime_field_text(c, lx);
}

static void
mime_field_location(struct mime_ctx *c, struct mime_part *p,
    struct mime_lex *lx)
{
	p->location = mime_field_text(c, lx);
}

typedef void mime_field_fn(struct mime_ctx *, struct mime_part *,
    struct mime_lex *);

/* The first occurrence of each field counts. */
static const struct {
	const char *name;
	mime_field_fn *parse;
} mime_fields[] = {
	{ "Content-Type", mime_field_type },
	{ "Content-Transfer-Encoding", mime_field_encoding },
	{ "Content-ID", mime_field_id },
	{ "Content-Description", mime_field_description },
	{ "Content-Disposition", mime_field_disposition },
	{ "Content-Language", mime_field_language },
	{ "Content-Location", mime_field_location },
	{ "Content-MD5", mime_field_md5 },
};
#define MIME_NFIELDS (sizeof(mime_fields) / sizeof(mime_fields[0]))

static void
mime_parse_fields(struct mime_ctx *c, struct mime_part *p)
{
	const char *h = c->msg + p->hdr_off;
	size_t pos = 0;
	unsigned seen = 0;
	struct mime_field f;

	while (mime_header_next(h, p->hdr_len, &pos, &f)) {
		if (f.name_len < 8 || strncasecmp(f.name, "Content-", 8) != 0)
			continue;
		for (size_t i = 0; i < MIME_NFIELDS; i++) {
			if (strlen(mime_fields[i].name) != f.name_len ||
			    strncasecmp(f.name, mime_fields[i].name, f.name_len) != 0 ||
			    (seen & (1u << i)))
				continue;
			seen |= 1u << i;
			if (f.value_len >= MIME_VALUE_MAX)
				c->t->truncated = true;
			size_t n = mime_unfold(f.value, f.value_len, c->val,
			    sizeof(c->val));
			struct mime_lex lx = { c->val, c->val + n };
			mime_fields[i].parse(c, p, &lx);
		}
	}
}

/* RFC 2045 5.2 and RFC 2046 5.1.5 defaults. */
static void
mime_defaults(struct mime_ctx *c, struct mime_part *p, bool digest)
{
	if (p->type == NULL) {
		p->type = digest ? "message" : "text";
		p->subtype = digest ? "rfc822" : "plain";
		p->params = NULL;
		p->nparams = 0;
	}
	if (strcmp(p->type, "text") == 0 &&
	    mime_param_get(p->params, p->nparams, "charset") == NULL)
		mime_param_add(c, p, "charset", "us-ascii");
	if (p->encoding == NULL)
		p->encoding = "7bit";
}

/* ---- structure ---- */

/* Offset just after the blank line that ends the header starting at off,
 * or end when there is none. */
static size_t
mime_header_end(const char *m, size_t off, size_t end)
{
	size_t pos = off;

	while (pos < end) {
		if (mime_is_blank_line(m + off, end - off, pos - off))
			return m[pos] == '\n' ? pos + 1 : (pos + 2 <= end ? pos + 2 : end);
		const char *nl = memchr(m + pos, '\n', end - pos);
		if (nl == NULL)
			return end;
		pos = (size_t)(nl - m) + 1;
	}
	return end;
}

static size_t
mime_count_lines(const char *p, size_t n)
{
	const char *q = p, *e = p + n;
	size_t lines = 0;

	while (q < e && (q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
		lines++;
		q++;
	}
	if (n > 0 && p[n - 1] != '\n')
		lines++;
	return lines;
}

struct mime_delim {
	size_t at;          /* the "--" */
	size_t after;       /* past the line end */
	bool close;         /* "--boundary--" */
};

/* Is there a delimiter line for boundary b at pos (a line start)?  After
 * "--boundary" only transport padding may follow, so that a boundary that
 * is a prefix of a nested one does not match; after the close delimiter
 * anything may. */
static bool
mime_is_delim(const char *m, size_t pos, size_t end, const char *b,
    size_t blen, struct mime_delim *d)
{
	if (end - pos < blen + 2 || m[pos] != '-' || m[pos + 1] != '-' ||
	    memcmp(m + pos + 2, b, blen) != 0)
		return false;
	size_t q = pos + 2 + blen;
	d->close = end - q >= 2 && m[q] == '-' && m[q + 1] == '-';
	if (d->close)
		q += 2;
	while (q < end && (m[q] == ' ' || m[q] == '\t'))
		q++;
	if (q < end && m[q] != '\r' && m[q] != '\n' && !d->close)
		return false;
	const char *nl = memchr(m + q, '\n', end - q);
	d->at = pos;
	d->after = nl ? (size_t)(nl - m) + 1 : end;
	return true;
}

static bool
mime_find_delim(const char *m, size_t pos, size_t end, const char *b,
    size_t blen, struct mime_delim *d)
{
	while (pos < end) {
		if (mime_is_delim(m, pos, end, b, blen, d))
			return true;
		const char *nl = memchr(m + pos, '\n', end - pos);
		if (nl == NULL)
			return false;
		pos = (size_t)(nl - m) + 1;
	}
	return false;
}

/* A part ends before the line end that precedes the next delimiter. */
static size_t
mime_part_end(const char *m, size_t start, size_t at)
{
	if (at == start)
		return start;
	size_t e = at - 1;                  /* the LF */
	if (e > start && m[e - 1] == '\r')
		e--;
	return e;
}

static struct mime_part *mime_parse_part(struct mime_ctx *c,
    struct mime_part *parent, size_t off, size_t end, bool digest,
    bool opaque);

static void
mime_parse_multipart(struct mime_ctx *c, struct mime_part *p)
{
	const char *b = mime_param_get(p->params, p->nparams, "boundary");
	size_t blen = b ? strlen(b) : 0, end = p->body_off + p->body_len;
	bool digest = strcmp(p->subtype, "digest") == 0;
	struct mime_part **tail = &p->children;
	struct mime_delim d, nd;

	if (blen == 0 || blen > MIME_BOUNDARY_MAX ||
	    !mime_find_delim(c->msg, p->body_off, end, b, blen, &d))
		return;
	while (!d.close) {
		size_t start = d.after;
		bool more = mime_find_delim(c->msg, start, end, b, blen, &nd);
		size_t stop = more ? mime_part_end(c->msg, start, nd.at) : end;
		if (c->t->nparts >= MIME_PARTS_MAX) {
			c->t->truncated = true;
			break;
		}
		bool last = c->t->nparts + 1 == MIME_PARTS_MAX;
		if (last) {
			stop = end;
			more = false;
			c->t->truncated = true;
		}
		*tail = mime_parse_part(c, p, start, stop, digest, last);
		tail = &(*tail)->next;
		p->nchildren++;
		if (!more)
			break;
		d = nd;
	}
}

/* Encodings under which a message/rfc822 body is readable as is. */
static bool
mime_identity_encoding(const char *enc)
{
	return strcmp(enc, "7bit") == 0 || strcmp(enc, "8bit") == 0 ||
	    strcmp(enc, "binary") == 0;
}

static bool
mime_type_is(const struct mime_part *p, const char *type, const char *sub)
{
	return strcmp(p->type, type) == 0 &&
	    (sub == NULL || strcmp(p->subtype, sub) == 0);
}

/* Look inside a composite part, unless a cap or the encoding forbids. */
static void
mime_descend(struct mime_ctx *c, struct mime_part *p, bool opaque)
{
	bool multi = mime_type_is(p, "multipart", NULL);
	bool msg = mime_type_is(p, "message", "rfc822") ||
	    mime_type_is(p, "message", "global");

	if (!multi && !msg)
		return;
	if (opaque || p->depth >= MIME_DEPTH_MAX ||
	    c->t->nparts >= MIME_PARTS_MAX || !mime_identity_encoding(p->encoding)) {
		if (!opaque && mime_identity_encoding(p->encoding))
			c->t->truncated = true;
		p->opaque = true;
		return;
	}
	if (multi)
		mime_parse_multipart(c, p);
	else
		p->message = mime_parse_part(c, p, p->body_off,
		    p->body_off + p->body_len, false, false);
}

static struct mime_part *
mime_parse_part(struct mime_ctx *c, struct mime_part *parent, size_t off,
    size_t end, bool digest, bool opaque)
{
	struct mime_part *p = mime_alloc(c->t, sizeof(*p));

	c->t->nparts++;
	p->parent = parent;
	p->depth = parent ? parent->depth + 1 : 0;
	p->hdr_off = off;
	p->body_off = mime_header_end(c->msg, off, end);
	p->hdr_len = p->body_off - off;
	p->body_len = end - p->body_off;
	p->body_lines = mime_count_lines(c->msg + p->body_off, p->body_len);
	mime_parse_fields(c, p);
	mime_defaults(c, p, digest);
	mime_descend(c, p, opaque);
	return p;
}

struct mime_tree *
mime_parse(const char *msg, size_t len)
{
	struct mime_tree *t = xcalloc(1, sizeof(*t));
	struct mime_ctx *c = xmalloc(sizeof(*c));

	c->msg = msg != NULL ? msg : "";    /* an empty file maps to nothing */
	c->t = t;
	t->size = len;
	t->root = mime_parse_part(c, NULL, 0, len, false, false);
	free(c);
	return t;
}

void
mime_free(struct mime_tree **tp)
{
	struct mime_tree *t = *tp;

	if (t == NULL)
		return;
	while (t->chunks != NULL) {
		struct mime_chunk *next = t->chunks->next;
		free(t->chunks);
		t->chunks = next;
	}
	free(t);
	*tp = NULL;
}

const struct mime_part *
mime_root(const struct mime_tree *t)
{
	return t->root;
}

size_t
mime_part_count(const struct mime_tree *t)
{
	return t->nparts;
}

bool
mime_truncated(const struct mime_tree *t)
{
	return t->truncated;
}

bool
mime_is_multipart(const struct mime_part *p)
{
	return !p->opaque && strcmp(p->type, "multipart") == 0;
}

bool
mime_is_message(const struct mime_part *p)
{
	return p->message != NULL;
}

bool
mime_is_text(const struct mime_part *p)
{
	return strcmp(p->type, "text") == 0;
}

const char *
mime_param_get(const struct mime_param *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

/* Part k (1-based) of p; as_message: p is a message, whose single body is
 * its part 1. */
static const struct mime_part *
mime_subpart(const struct mime_part *p, unsigned k, bool as_message)
{
	if (!as_message && p->message != NULL) {
		p = p->message;
		as_message = true;
	}
	if (mime_is_multipart(p)) {
		const struct mime_part *ch = p->children;
		for (unsigned i = 1; ch != NULL && i < k; i++)
			ch = ch->next;
		return k > 0 ? ch : NULL;
	}
	return as_message && k == 1 ? p : NULL;
}

const struct mime_part *
mime_section_part(const struct mime_tree *t, const unsigned *nums, size_t n)
{
	const struct mime_part *p = t->root;

	for (size_t i = 0; i < n && p != NULL; i++)
		p = mime_subpart(p, nums[i], i == 0);
	return p;
}
