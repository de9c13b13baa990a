/*
 * mime: the MIME structure of a message held in memory (RFC 2045, 2046,
 * 2183, 2231), as IMAP's BODYSTRUCTURE and BODY[section] need it.
 *
 * mime_parse() reads a whole message (the store maps message files) and
 * builds a tree of parts.  Every part records where its header and body
 * lie in the message, so any section can be served by offsets, and the
 * Content-* fields already parsed: type and subtype (lower case; default
 * text/plain, or message/rfc822 inside multipart/digest), parameters
 * (names lower case, RFC 2231 continuations joined), transfer encoding
 * (lower case; default 7bit), id, description, MD5, disposition with its
 * parameters, languages and location.  A text part without a charset gets
 * charset=us-ascii.  A message/rfc822 (or message/global) part holds the
 * embedded message as its own root part.
 *
 * Ownership: the tree owns every part and string (one arena, freed by
 * mime_free); it keeps no pointer to the message, which the caller passes
 * again where it is needed.  Parts are read-only to callers.
 *
 * Failure policy: parsing never fails.  Broken input gets a best-effort
 * structure (no blank line: all header; missing or bad boundary: no
 * children; missing final boundary: the last part runs to the end).  The
 * nesting depth is capped at MIME_DEPTH_MAX and the number of parts at
 * MIME_PARTS_MAX: a multipart or message part at the cap is kept as an
 * opaque leaf, and at the part cap the last part takes the rest of its
 * parent.  Field values are cut at MIME_VALUE_MAX octets.
 */
#ifndef COMMON_MIME_H
#define COMMON_MIME_H

#include <stdbool.h>
#include <stddef.h>

#define MIME_DEPTH_MAX 32
#define MIME_PARTS_MAX 1000
#define MIME_PARAMS_MAX 32
#define MIME_LANGUAGES_MAX 16
#define MIME_VALUE_MAX 4096
#define MIME_BOUNDARY_MAX 200       /* RFC 2046 says 70; be lenient */

struct mime_param {
	const char *name;               /* lower case; "title*" when extended */
	const char *value;              /* unquoted; extended: charset'lang'%XX */
};

struct mime_part {
	struct mime_part *parent;       /* NULL for the root */
	struct mime_part *children;     /* multipart: the first child */
	struct mime_part *next;         /* the next sibling in a multipart */
	struct mime_part *message;      /* message/rfc822: the embedded root */
	size_t nchildren;
	unsigned depth;                 /* root 0; children and embedded +1 */
	bool opaque;                    /* composite type not looked into */

	/* Byte ranges in the message.  The header includes the blank line
	 * that ends it; the body of a multipart child stops before the line
	 * end that precedes the next boundary. */
	size_t hdr_off, hdr_len;
	size_t body_off, body_len;
	size_t body_lines;

	const char *type, *subtype;
	const struct mime_param *params;
	size_t nparams;
	const char *encoding;
	const char *id, *description, *md5, *location;      /* NULL: absent */
	const char *disposition;                            /* NULL: absent */
	const struct mime_param *disp_params;
	size_t ndisp_params;
	const char *const *languages;
	size_t nlanguages;
};

struct mime_tree;

struct mime_tree *mime_parse(const char *msg, size_t len);
void mime_free(struct mime_tree **t);
const struct mime_part *mime_root(const struct mime_tree *t);
size_t mime_part_count(const struct mime_tree *t);
/* A cap (depth, parts, value length) was reached somewhere. */
bool mime_truncated(const struct mime_tree *t);

/* A multipart whose children were parsed; a message part with an
 * embedded message. */
bool mime_is_multipart(const struct mime_part *p);
bool mime_is_message(const struct mime_part *p);
bool mime_is_text(const struct mime_part *p);

/* The value of parameter name (lower case), NULL when absent. */
const char *mime_param_get(const struct mime_param *v, size_t n,
    const char *name);

/*
 * The part an IMAP section part number names (RFC 3501 6.4.5): nums[0..n)
 * are the 1-based numbers of "1.2.3".  The parts of a message are the
 * children of its multipart body, or the body itself as part 1; the parts
 * of a message/rfc822 part are those of the embedded message.  n == 0
 * names the root.  NULL when there is no such part.
 */
const struct mime_part *mime_section_part(const struct mime_tree *t,
    const unsigned *nums, size_t n);

/* One header field as written: name (white space before the colon
 * trimmed; length 0 for a line without a colon), value after the colon
 * still folded, without the final line end, and the whole raw field with
 * its line end. */
struct mime_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	const char *raw;
	size_t raw_len;
};

/* Iterate the fields of the header block hdr/len from *pos (start at 0);
 * false at the blank line or the end. */
bool mime_header_next(const char *hdr, size_t len, size_t *pos,
    struct mime_field *f);
/* Unfold and trim a value into out (NUL-terminated, cut at cap - 1);
 * returns the length. */
size_t mime_unfold(const char *v, size_t n, char *out, size_t cap);

#endif
