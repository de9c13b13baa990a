/*
 * msg_header: header block capture and field lookup (see msg_header.h).
 *
 *   header-field = field-name ":" unstructured CRLF
 *   folding      = CRLF followed by WSP continues the field
 */
#include "msg_header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

void
msg_header_scan_init(struct msg_header_scan *s, size_t cap, size_t max_fields)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->max_fields = max_fields;
	s->buf = xmalloc(cap + 1);
}

void
msg_header_scan_free(struct msg_header_scan *s)
{
	free(s->buf);
	s->buf = NULL;
}

void
msg_header_scan_feed(struct msg_header_scan *s, const char *data, size_t n)
{
	for (size_t i = 0; i < n && !s->complete && !s->over_limit; i++) {
		if (s->len == s->cap) {
			s->over_limit = true;
			break;
		}
		char c = data[i];
		/* A line not starting with white space (nor empty) starts a new
		 * field.  Decided on the first byte of the line, from what is
		 * already kept, so that chunk boundaries do not matter. */
		if ((s->len == 0 || s->buf[s->len - 1] == '\n') && c != ' ' &&
		    c != '\t' && c != '\r' && c != '\n' &&
		    ++s->fields > s->max_fields) {
			s->over_limit = true;
			break;
		}
		s->buf[s->len++] = c;
		if (c != '\n')
			continue;
		/* A line just ended: the empty line ends the header. */
		if (s->len == 2 || (s->len >= 4 &&
		    memcmp(s->buf + s->len - 4, "\r\n\r\n", 4) == 0))
			s->complete = true;
	}
	s->buf[s->len] = '\0';
}

void
msg_header_scan_finish(struct msg_header_scan *s)
{
	if (!s->over_limit)
		s->complete = true;
}

/* Length of the field starting at p (through the CRLF ending its last
 * line). */
static size_t
msg_header_field_len(const char *p, const char *end)
{
	const char *q = p;

	for (;;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL)
			return (size_t)(end - p);
		q = nl + 1;
		if (q >= end || (*q != ' ' && *q != '\t'))
			return (size_t)(q - p);
	}
}

static void
msg_header_unfold(const char *v, size_t n, char *out, size_t outcap)
{
	size_t o = 0;

	/* "Subject:" CRLF " text": the value starts after the fold too. */
	while (n > 0 && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')) {
		v++;
		n--;
	}
	for (size_t i = 0; i < n && o + 1 < outcap; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		out[o++] = v[i];
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
}

bool
msg_header_get(const char *hdr, size_t len, const char *name, char *out,
    size_t outcap)
{
	const char *p = hdr, *end = hdr + len;
	size_t nlen = strlen(name);

	while (p < end && !(*p == '\r' || *p == '\n')) {
		size_t flen = msg_header_field_len(p, end);
		if (flen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			msg_header_unfold(p + nlen + 1, flen - nlen - 1, out, outcap);
			return true;
		}
		p += flen;
	}
	return false;
}
