/*
 * mime_decode: encoded words, transfer encodings and charsets turned into
 * UTF-8, and the case-insensitive match searches use (mime_decode.h).
 *
 * iconv is wrapped here once: a descriptor is opened per conversion (glibc
 * caches the modules it loads), E2BIG grows the output up to its cap,
 * EILSEQ and EINVAL become U+FFFD.  Nothing here fails or reads outside
 * the bytes it was given.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime_decode.h"
#include "xmalloc.h"

#define MD_REPLACEMENT "\xef\xbf\xbd"       /* U+FFFD */

/* ---- the capped text ---- */

void
mime_text_init(struct mime_text *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
}

void
mime_text_free(struct mime_text *t)
{
	free(t->p);
	t->p = NULL;
	t->len = t->cap = 0;
}

/* Room for want more octets (and the NUL), as far as max allows; the
 * room there is. */
static size_t
md_reserve(struct mime_text *t, size_t want)
{
	size_t room = t->max - t->len;

	if (want < room)
		room = want;
	if (t->len + room + 1 > t->cap) {
		size_t cap = t->cap < 256 ? 256 : t->cap;
		while (cap < t->len + room + 1)
			cap = cap > SIZE_MAX / 2 ? t->len + room + 1 : cap * 2;
		if (cap > t->max + 1)
			cap = t->max + 1;
		t->p = xrealloc(t->p, cap);
		t->cap = cap;
		t->p[t->len] = '\0';
	}
	return room;
}

void
mime_text_add(struct mime_text *t, const char *s, size_t n)
{
	size_t room = md_reserve(t, n);

	if (room < n)
		t->truncated = true;
	if (t->p == NULL)
		return;
	memcpy(t->p + t->len, s, room);
	t->len += room;
	t->p[t->len] = '\0';
}

/* ---- charsets ---- */

static bool
md_is(const char *cs, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(cs, name, n) == 0;
}

/* Charsets whose octets are kept as they are. */
static bool
md_passthrough(const char *cs, size_t n)
{
	return n == 0 || md_is(cs, n, "utf-8") || md_is(cs, n, "utf8") ||
	    md_is(cs, n, "us-ascii") || md_is(cs, n, "ascii");
}

/* A name iconv may be given: letters, digits and "-_.:" only, so that no
 * "//TRANSLIT" suffix or path reaches it. */
static bool
md_charset_name(const char *cs, size_t n, char name[MIME_CHARSET_MAX + 1])
{
	if (n == 0 || n > MIME_CHARSET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)cs[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
			return false;
		name[i] = (char)c;
	}
	name[n] = '\0';
	return true;
}

/* iconv from cd into t until the input is used up or t is full. */
static void
md_iconv(iconv_t cd, const char *in, size_t n, struct mime_text *t)
{
	char *ip = (char *)(uintptr_t)in;
	size_t ileft = n;

	while (ileft > 0 && !t->truncated) {
		size_t want = ileft * 4 + 16;
		size_t room = md_reserve(t, want);
		if (room == 0) {
			t->truncated = true;
			break;
		}
		char *op = t->p + t->len;
		size_t oleft = room;
		size_t rc = iconv(cd, &ip, &ileft, &op, &oleft);
		t->len += room - oleft;
		t->p[t->len] = '\0';
		if (rc != (size_t)-1)
			break;
		if (errno == E2BIG) {
			if (room < want)
				t->truncated = true;    /* at max */
			continue;
		}
		/* EILSEQ: skip the octet; EINVAL: a sequence cut at the end. */
		int err = errno;
		mime_text_add(t, MD_REPLACEMENT, 3);
		if (err != EILSEQ)
			break;
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
}

void
mime_charset_to_utf8(const char *cs, size_t cslen, const char *in,
    size_t n, struct mime_text *t)
{
	char name[MIME_CHARSET_MAX + 1];
	iconv_t cd;

	if (md_passthrough(cs, cslen) || !md_charset_name(cs, cslen, name) ||
	    (cd = iconv_open("UTF-8", name)) == (iconv_t)-1) {
		mime_text_add(t, in, n);
		return;
	}
	md_iconv(cd, in, n, t);
	iconv_close(cd);
}

/* ---- transfer encodings ---- */

static int
md_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)toupper(c);
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * quoted-printable (RFC 2045 6.7):
 *   qp-line    = *(qp-segment transport-padding CRLF) qp-part
 *                transport-padding
 *   qp-segment = qp-section *(SPACE / TAB) "="        ; a soft line break
 * White space before a line end is transport padding and goes.
 */
size_t
mime_decode_qp(const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int hi, lo;
		if (c == ' ' || c == '\t') {
			size_t j = i;
			while (j < n && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j == n || in[j] == '\r' || in[j] == '\n') {
				i = j - 1;          /* padding before a line end */
				continue;
			}
			memcpy(out + o, in + i, j - i);
			o += j - i;
			i = j - 1;
		} else if (c != '=')
			out[o++] = (char)c;
		else if (i + 2 < n && (hi = md_hex((unsigned char)in[i + 1])) >= 0 &&
		    (lo = md_hex((unsigned char)in[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			/* "=" padding line end: a soft break; "=" at the end of
			 * the body goes as well. */
			size_t j = i + 1;
			while (j < n && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j == n) {
				i = j - 1;
			} else if (in[j] == '\n') {
				i = j;
			} else if (in[j] == '\r') {
				i = j + 1 < n && in[j + 1] == '\n' ? j + 1 : j;
			} else
				out[o++] = '=';     /* stray: kept */
		}
	}
	return o;
}

static int
md_b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

size_t
mime_decode_base64(const char *in, size_t n, char *out)
{
	size_t o = 0;
	unsigned acc = 0, bits = 0;

	for (size_t i = 0; i < n; i++) {
		int v = md_b64((unsigned char)in[i]);
		if (in[i] == '=') {
			acc = bits = 0;         /* the quantum is over */
			continue;
		}
		if (v < 0)
			continue;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	return o;
}

void
mime_decode_body(const char *body, size_t n, const char *cte,
    const char *charset, struct mime_text *out)
{
	const char *cs = charset != NULL ? charset : "";
	char *tmp = NULL;

	if (cte != NULL && strcasecmp(cte, "quoted-printable") == 0) {
		tmp = xmalloc(n + 1);
		n = mime_decode_qp(body, n, tmp);
		body = tmp;
	} else if (cte != NULL && strcasecmp(cte, "base64") == 0) {
		tmp = xmalloc(n + 1);
		n = mime_decode_base64(body, n, tmp);
		body = tmp;
	}
	mime_charset_to_utf8(cs, strlen(cs), body, n, out);
	free(tmp);
}

/* ---- encoded words ---- */

struct md_word {
	const char *cs;             /* charset, without "*language" */
	size_t cslen;
	char enc;                   /* 'B' or 'Q' */
	const char *text;
	size_t tlen;
	const char *next;           /* past "?=" */
};

/*
 * encoded-word = "=?" charset ["*" language] "?" encoding "?"
 *                encoded-text "?="                   (RFC 2047, RFC 2231)
 * No white space anywhere in it; B text only of the base64 alphabet.
 */
static bool
md_word_parse(const char *p, const char *end, struct md_word *w)
{
	const char *q = p + 2;

	if (end - p < 2 || p[0] != '=' || p[1] != '?')
		return false;
	w->cs = q;
	while (q < end && *q != '?' && !isspace((unsigned char)*q))
		q++;
	if (end - q < 3 || *q != '?' || q[2] != '?' || q == w->cs)
		return false;
	w->enc = (char)toupper((unsigned char)q[1]);
	if (w->enc != 'B' && w->enc != 'Q')
		return false;
	w->cslen = (size_t)(q - w->cs);
	const char *star = memchr(w->cs, '*', w->cslen);
	if (star != NULL)
		w->cslen = (size_t)(star - w->cs);
	w->text = q + 3;
	const char *te = w->text;
	while (te + 1 < end && !(te[0] == '?' && te[1] == '=')) {
		unsigned char c = (unsigned char)*te;
		if (isspace(c) || c < 0x20 || c >= 0x7f ||
		    (w->enc == 'B' && md_b64(c) < 0 && c != '='))
			return false;
		te++;
	}
	if (te + 1 >= end)
		return false;
	w->tlen = (size_t)(te - w->text);
	w->next = te + 2;
	return true;
}

/* Q encoded-text: "_" is a space, "=XX" an octet, the rest as it is. */
static size_t
md_q_decode(const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (in[i] == '_')
			out[o++] = ' ';
		else if (in[i] == '=' && i + 2 < n &&
		    (hi = md_hex((unsigned char)in[i + 1])) >= 0 &&
		    (lo = md_hex((unsigned char)in[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[o++] = in[i];
	}
	return o;
}

/* Words decoded but not yet converted: a run in one charset. */
struct md_pending {
	const char *cs;
	size_t cslen;
	char *buf;                  /* room for the whole input */
	size_t len;
};

static void
md_flush(struct md_pending *pd, struct mime_text *t)
{
	if (pd->len > 0)
		mime_charset_to_utf8(pd->cs, pd->cslen, pd->buf, pd->len, t);
	pd->len = 0;
}

static void
md_word_add(struct md_pending *pd, const struct md_word *w,
    struct mime_text *t)
{
	if (pd->len > 0 && (pd->cslen != w->cslen ||
	    strncasecmp(pd->cs, w->cs, w->cslen) != 0))
		md_flush(pd, t);
	pd->cs = w->cs;
	pd->cslen = w->cslen;
	if (w->enc == 'B')
		pd->len += mime_decode_base64(w->text, w->tlen, pd->buf + pd->len);
	else
		pd->len += md_q_decode(w->text, w->tlen, pd->buf + pd->len);
}

/* Cut t's text to at most cap - 1 octets, not inside a UTF-8 sequence
 * (looking back at most three octets), into out. */
static size_t
md_copy_out(const struct mime_text *t, char *out, size_t cap)
{
	size_t len = t->len;

	if (len > cap - 1) {
		/* t->p[len] is the first octet left out: when it continues a
		 * sequence, that sequence's lead goes too. */
		size_t k = len = cap - 1;
		for (int b = 0; b < 3 && k > 0 &&
		    ((unsigned char)t->p[k] & 0xc0) == 0x80; b++)
			k--;
		if (((unsigned char)t->p[k] & 0xc0) == 0xc0)
			len = k;
	}
	if (len > 0)
		memcpy(out, t->p, len);
	out[len] = '\0';
	return len;
}

size_t
mime_decode_words(const char *in, size_t n, char *out, size_t cap)
{
	struct mime_text t;
	struct md_pending pd = { .buf = xmalloc(n + 1) };
	const char *p = in, *end = in + n;
	struct md_word w;
	bool after_word = false;

	if (cap == 0) {
		free(pd.buf);
		return 0;
	}
	mime_text_init(&t, cap);
	while (p < end && !t.truncated) {
		if (md_word_parse(p, end, &w)) {
			md_word_add(&pd, &w, &t);
			p = w.next;
			after_word = true;
			continue;
		}
		const char *q = p;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
			q++;
		if (q > p && after_word && md_word_parse(q, end, &w)) {
			p = q;              /* white space between two words goes */
			continue;
		}
		md_flush(&pd, &t);
		after_word = false;
		if (q == p)
			q++;
		while (q < end && *q != '=' && *q != ' ' && *q != '\t')
			q++;
		mime_text_add(&t, p, (size_t)(q - p));
		p = q;
	}
	md_flush(&pd, &t);
	free(pd.buf);
	if (t.p == NULL) {
		out[0] = '\0';
		return 0;
	}
	size_t len = md_copy_out(&t, out, cap);
	mime_text_free(&t);
	return len;
}

/* ---- case-insensitive match ---- */

/* The code point at s (n > 0 octets), its length in *len; -1 with *len 1
 * for an octet that does not start a well-formed sequence. */
static long
md_utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	unsigned c = s[0];
	size_t k;
	unsigned min;

	*len = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2, min = 0x80, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3, min = 0x800, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4, min = 0x10000, c &= 0x07;
	else
		return -1;
	if (n < k)
		return -1;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*len = k;
	return (long)c;
}

unsigned
mime_fold_char(unsigned c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 0x20 : c;
	if (c >= 0xc0 && c <= 0xde)
		return c == 0xd7 ? c : c + 0x20;
	if (c >= 0x100 && c <= 0x17f) {
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 ||
		    c == 0x17f)
			return c;
		if (c == 0x178)
			return 0xff;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x386 && c <= 0x3c2) {
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 0x25;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 0x3f;
		if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
			return c + 0x20;
		if (c == 0x3c2)
			return 0x3c3;
		return c;
	}
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	if (c >= 0x410 && c <= 0x42f)
		return c + 0x20;
	return c;
}

void
mime_utf8_fold(char *s, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		unsigned char *u = (unsigned char *)s + i;
		long c = md_utf8_next(u, n - i, &len);
		if (c >= 0 && len <= 2) {
			unsigned f = mime_fold_char((unsigned)c);
			if (len == 1)
				u[0] = (unsigned char)f;
			else {
				u[0] = (unsigned char)(0xc0 | f >> 6);
				u[1] = (unsigned char)(0x80 | (f & 0x3f));
			}
		}
		i += len;
	}
}

/* needle[0..m) starts hay[0..n), both folded. */
static bool
md_match_at(const unsigned char *h, size_t n, const unsigned char *nd,
    size_t m)
{
	size_t i = 0, j = 0, hl, nl;

	while (j < m) {
		if (i >= n)
			return false;
		long hc = md_utf8_next(h + i, n - i, &hl);
		long nc = md_utf8_next(nd + j, m - j, &nl);
		if (hc < 0 || nc < 0) {
			if (h[i] != nd[j])
				return false;
			hl = nl = 1;
		} else if (mime_fold_char((unsigned)hc) != mime_fold_char((unsigned)nc))
			return false;
		i += hl;
		j += nl;
	}
	return true;
}

bool
mime_utf8_contains(const char *hay, size_t n, const char *needle)
{
	const unsigned char *h = (const unsigned char *)hay;
	const unsigned char *nd = (const unsigned char *)needle;
	size_t m = strlen(needle);

	if (m == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (md_match_at(h + i, n - i, nd, m))
			return true;
	return false;
}
