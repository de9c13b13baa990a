/*
 * smtp_data: the DATA decoder state machine (policy in smtp_data.h).
 *
 *   BOL    start of a line          "." -> DOT, else as INLINE
 *   BOLLF  start of a line that a bare LF began, with strict_end: as
 *          INLINE ("." is data)
 *   DOT    "." at start of line     CR -> DOTCR, LF -> end (strict_end:
 *          emit ".", CRLF, BOLLF), else unstuff
 *   DOTCR  "." CR                   LF -> end, else emit CR, as INLINE
 *   INLINE inside a line            CR -> CR, LF -> emit CRLF, BOL
 *   CR     after a CR               LF -> emit CRLF, BOL, else keep CR
 */
#include "smtp_data.h"

#include <string.h>

enum { S_BOL, S_BOLLF, S_DOT, S_DOTCR, S_INLINE, S_CR };

void
smtp_data_init(struct smtp_data *d, bool raw)
{
	memset(d, 0, sizeof(*d));
	d->state = S_BOL;
	d->raw = raw;
}

/* One byte in the INLINE state; returns the new state. */
static int
smtp_data_inline(struct smtp_data *d, char c, char *out, size_t *o)
{
	switch (c) {
	case '\r':
		return S_CR;
	case '\n':
		out[(*o)++] = '\r';
		out[(*o)++] = '\n';
		return d->strict_end ? S_BOLLF : S_BOL;
	case '\0':
		d->nuls++;
		/* FALLTHROUGH */
	default:
		out[(*o)++] = c;
		return S_INLINE;
	}
}

size_t
smtp_data_finish(struct smtp_data *d, char *out)
{
	size_t o = 0;

	if (d->state == S_CR)
		out[o++] = '\r';
	d->state = S_BOL;
	return o;
}

size_t
smtp_data_decode(struct smtp_data *d, const char *in, size_t inlen, char *out,
    size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < inlen && !d->done; i++) {
		char c = in[i];
		switch (d->state) {
		case S_BOL:
			d->state = c == '.' && !d->raw ? S_DOT
			                               : smtp_data_inline(d, c, out, &o);
			break;
		case S_DOT:
			if (c == '\r') {
				d->state = S_DOTCR;
			} else if (c == '\n' && d->strict_end) {
				out[o++] = '.';
				d->state = smtp_data_inline(d, c, out, &o);
			} else if (c == '\n') {
				d->done = true;
			} else
				d->state = smtp_data_inline(d, c, out, &o);
			break;
		case S_DOTCR:
			if (c == '\n') {
				d->done = true;
				break;
			}
			out[o++] = '\r';
			d->state = smtp_data_inline(d, c, out, &o);
			break;
		case S_CR:
			if (c == '\n') {
				out[o++] = '\r';
				out[o++] = '\n';
				d->state = S_BOL;
				break;
			}
			out[o++] = '\r';
			d->state = smtp_data_inline(d, c, out, &o);
			break;
		default:
			d->state = smtp_data_inline(d, c, out, &o);
			break;
		}
	}
	*outlen = o;
	return i;
}
