/*
 * mime_decode: turn what a message holds into the text its reader sees,
 * for searching and sorting.
 *
 *   - RFC 2047 encoded words (B and Q, any charset glibc's iconv knows,
 *     RFC 2231 "*language" suffixes ignored) decoded to UTF-8;
 *   - a MIME body's transfer encoding (quoted-printable, base64; 7bit,
 *     8bit, binary and unknown ones as they are) undone and its charset
 *     converted to UTF-8;
 *   - a case-insensitive substring match on UTF-8 text.
 *
 * Everything is a pure function of its arguments.  Output is bounded by
 * the caller: a fixed buffer, or a struct mime_text whose cap (max) is set
 * when it is made; what does not fit is dropped and the text is marked
 * truncated.  Failure policy: decoding never fails.  A malformed encoded
 * word stays as written; text in a charset iconv does not know, or given
 * by a name that is not a plain charset name, is kept as raw octets
 * (US-ASCII and UTF-8 are never converted); a sequence invalid in its
 * charset becomes U+FFFD and conversion carries on after it.
 */
#ifndef COMMON_MIME_DECODE_H
#define COMMON_MIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest charset name handed to iconv; longer ones count as unknown. */
#define MIME_CHARSET_MAX 63

/* A growing text with a hard cap.  p is NUL-terminated once anything was
 * added (NULL before); len never passes max. */
struct mime_text {
	char *p;
	size_t len, cap;
	size_t max;
	bool truncated;             /* something was dropped at max */
};

void mime_text_init(struct mime_text *t, size_t max);
/* Append n octets, as many as fit under max. */
void mime_text_add(struct mime_text *t, const char *s, size_t n);
void mime_text_free(struct mime_text *t);

/* Convert n octets in charset cs (cslen octets, not NUL-terminated) to
 * UTF-8, appended to t. */
void mime_charset_to_utf8(const char *cs, size_t cslen, const char *in,
    size_t n, struct mime_text *t);

/*
 * Decode the encoded words of a header value in[0..n) into out: UTF-8,
 * NUL-terminated, cut at cap - 1 octets (never inside a UTF-8 sequence).
 * White space between two adjacent encoded words goes; adjacent words in
 * the same charset are converted together, so a character split across
 * them survives.  Everything else is copied as it is.  Returns the length
 * written; 0 with nothing written when cap is 0.
 */
size_t mime_decode_words(const char *in, size_t n, char *out, size_t cap);

/*
 * The text of one body part: body[0..n) in transfer encoding cte (NULL:
 * 7bit) and charset (NULL: US-ASCII), decoded and converted to UTF-8,
 * appended to out (which caps it).  Quoted-printable (RFC 2045 6.7): "=XX"
 * in either case, soft line breaks (with trailing white space) removed,
 * white space at line ends dropped, a stray "=" kept.  Base64: octets
 * outside the alphabet are skipped and "=" ends a quantum, so wrapped,
 * dirty or concatenated encodings decode.
 */
void mime_decode_body(const char *body, size_t n, const char *cte,
    const char *charset, struct mime_text *out);

/* The transfer decodings alone; out has room for n octets.  Return the
 * decoded length. */
size_t mime_decode_qp(const char *in, size_t n, char *out);
size_t mime_decode_base64(const char *in, size_t n, char *out);

/*
 * Case folding for searches, upper to lower case: ASCII; Latin-1
 * Supplement (U+00C0..U+00DE but U+00D7); Latin Extended-A (U+0100..
 * U+017E pairs; U+0178 to U+00FF; U+0130, U+0131, U+0138, U+0149 and
 * U+017F unchanged); basic Greek (U+0386..U+03AB, final sigma folded to
 * sigma); basic Cyrillic (U+0400..U+042F).  No other scripts, no special
 * casing (German sharp s stays).  Every fold keeps the length of the
 * UTF-8 sequence, so text can be folded in place.  Invalid UTF-8 octets
 * are left alone.
 */
unsigned mime_fold_char(unsigned c);
void mime_utf8_fold(char *s, size_t n);

/* needle (NUL-terminated) occurs in hay[0..n), both UTF-8, folded as
 * above; "" is found anywhere. */
bool mime_utf8_contains(const char *hay, size_t n, const char *needle);

#endif
