/*
 * imap_format: IMAP4rev1 (RFC 3501, RFC 9051) output formatting and the
 * message-structure answers built on it, shared by the store's IMAP server
 * and anything else that has to speak IMAP syntax.
 *
 *   - strings: nstring, string, astring, choosing NIL, atom, quoted or
 *     literal as the grammar and the content allow;
 *   - ENVELOPE from the raw header values the store's index keeps;
 *   - BODY and BODYSTRUCTURE from a common/mime tree;
 *   - BODY[section]: a section spec mapped to a byte range of the message
 *     or, for HEADER.FIELDS, a header subset written out;
 *   - dates: INTERNALDATE date-time both ways, SEARCH dates, and RFC 5322
 *     Date: values to time_t for SENTON and SORT DATE.
 *
 * Everything here is a pure function of its arguments writing into the
 * caller's evbuffer.  Failure policy: formatting never fails (peer-supplied
 * text that cannot be quoted becomes a literal); parsers return false, or
 * IMAP_SECTION_BAD, for input they cannot read and never touch memory
 * outside what they were given.
 */
#ifndef COMMON_IMAP_FORMAT_H
#define COMMON_IMAP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct evbuffer;
struct mime_tree;

/* Longest string written quoted; longer ones become literals. */
#define IMAP_QUOTED_MAX 1024

/* ---- strings ---- */

/* string = quoted / literal.  Quoted when it is at most IMAP_QUOTED_MAX
 * octets of 7-bit text without CR or LF; a literal {n} otherwise. */
void imap_write_string(struct evbuffer *out, const char *s);
/* nstring = string / nil: NULL is NIL. */
void imap_write_nstring(struct evbuffer *out, const char *s);
/* astring = 1*ASTRING-CHAR / string: an atom when it can be one. */
void imap_write_astring(struct evbuffer *out, const char *s);

/* ---- ENVELOPE ---- */

/* The envelope fields, in the order of the store's ENVELOPE_FIELDS (and
 * of the ENVELOPE itself). */
enum imap_env_field {
	IMAP_ENV_DATE, IMAP_ENV_SUBJECT, IMAP_ENV_FROM, IMAP_ENV_SENDER,
	IMAP_ENV_REPLY_TO, IMAP_ENV_TO, IMAP_ENV_CC, IMAP_ENV_BCC,
	IMAP_ENV_IN_REPLY_TO, IMAP_ENV_MESSAGE_ID,
	IMAP_ENV_NFIELDS
};
/* Longest value kept per field, as the store's ENVELOPE_FIELD_MAX. */
#define IMAP_ENV_FIELD_MAX 8192

/* The header field name of an envelope field ("Reply-To"). */
const char *imap_env_field_name(enum imap_env_field f);

/* Split the store's blob (IMAP_ENV_NFIELDS NUL-terminated values, absent
 * fields empty) into f[]; empty values become NULL.  False when the blob
 * holds fewer fields. */
bool imap_env_split(const char *blob, size_t len,
    const char *f[IMAP_ENV_NFIELDS]);

/*
 * envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *            env-reply-to SP env-to SP env-cc SP env-bcc SP
 *            env-in-reply-to SP env-message-id ")"
 * f[] holds the raw unfolded values, NULL (or "") when absent.  Sender and
 * Reply-To default to From when absent or without addresses.  An empty
 * value is written as NIL, since the index cannot tell it from a missing
 * field.
 */
void imap_write_envelope(struct evbuffer *out,
    const char *const f[IMAP_ENV_NFIELDS]);
/* The same from a header block (an embedded message/rfc822). */
void imap_write_envelope_header(struct evbuffer *out, const char *hdr,
    size_t len);
/* "(" 1*address ")" / nil, from the raw value of an address field. */
void imap_write_address_list(struct evbuffer *out, const char *value);

/* ---- BODY, BODYSTRUCTURE ---- */

/* body of RFC 3501 7.4.2 for the message msg that t was parsed from;
 * extended: BODYSTRUCTURE (with body-ext-1part / body-ext-mpart). */
void imap_write_body(struct evbuffer *out, const struct mime_tree *t,
    const char *msg, bool extended);

/* ---- BODY[section] ---- */

#define IMAP_SECTION_PARTS_MAX 64
#define IMAP_SECTION_FIELDS_MAX 64
#define IMAP_SECTION_FIELD_LEN 80

enum imap_section_text {
	IMAP_SECTION_ALL,           /* "" or "1.2": whole message / part body */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

struct imap_section {
	unsigned part[IMAP_SECTION_PARTS_MAX];
	size_t nparts;
	enum imap_section_text text;
	char fields[IMAP_SECTION_FIELDS_MAX][IMAP_SECTION_FIELD_LEN + 1];
	size_t nfields;
};

/*
 * section-spec    = section-msgtext / (section-part ["." section-text])
 * section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 *                   "TEXT"
 * section-part    = nz-number *("." nz-number)
 * section-text    = section-msgtext / "MIME"
 * header-list     = "(" header-fld-name *(SP header-fld-name) ")"
 * The text between the brackets; keywords in any case, field names as
 * atoms or quoted strings.  False on a syntax error or past a cap.
 */
bool imap_section_parse(const char *spec, struct imap_section *sec);

enum imap_section_rc {
	IMAP_SECTION_NONE,          /* no such part: answer with "" */
	IMAP_SECTION_RANGE,         /* the bytes *off, *len of the message */
	IMAP_SECTION_SYNTH,         /* the answer was appended to synth */
};

/* Map a parsed section onto the message msg that t was parsed from. */
enum imap_section_rc imap_section_locate(const struct imap_section *sec,
    const struct mime_tree *t, const char *msg, size_t *off, size_t *len,
    struct evbuffer *synth);

/* Append the fields of header block hdr/len named (or, with exclude, not
 * named) in names[0..n), then the blank line. */
void imap_header_filter(struct evbuffer *out, const char *hdr, size_t len,
    const char (*names)[IMAP_SECTION_FIELD_LEN + 1], size_t n, bool exclude);

/* ---- dates ---- */

/* "dd-Mon-yyyy hh:mm:ss +zzzz" and its NUL */
#define IMAP_DATETIME_SIZE 27

/* date-time (without the quotes) of t in the zone tzoff minutes east of
 * UTC; the day is space-padded (date-day-fixed). */
void imap_datetime_format(time_t t, int tzoff,
    char buf[IMAP_DATETIME_SIZE]);
/* date-time (without the quotes; day "7", " 7" or "07") as APPEND gives
 * it; *tzoff in minutes east of UTC may be NULL. */
bool imap_datetime_parse(const char *s, time_t *t, int *tzoff);
/* date = date-day "-" date-month "-" date-year (SEARCH): midnight UTC of
 * that day. */
bool imap_date_parse(const char *s, time_t *day);
/* An RFC 5322 Date: value, leniently: no weekday, 2- or 3-digit years,
 * named zones (UT, GMT, EST ... PDT; military ones count as +0000), no
 * seconds, comments, "dd-Mon-yyyy", the asctime order. */
bool imap_message_date_parse(const char *s, time_t *t, int *tzoff);

#endif
