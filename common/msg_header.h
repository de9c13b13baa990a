/*
 * msg_header: the header block of an RFC 5322 message.
 *
 * A scanner is fed the decoded message as it arrives and keeps the header
 * block (up to the empty line) in a buffer whose size is fixed when the
 * scanner is made: a header longer than that, or with more fields than
 * allowed, marks the scanner as over its limit and the caller refuses the
 * message.  Field lookup unfolds continuation lines.
 */
#ifndef COMMON_MSG_HEADER_H
#define COMMON_MSG_HEADER_H

#include <stdbool.h>
#include <stddef.h>

struct msg_header_scan {
	char *buf;
	size_t len, cap;
	size_t fields, max_fields;
	bool complete;      /* the empty line was seen */
	bool over_limit;    /* size or field count exceeded */
};

void msg_header_scan_init(struct msg_header_scan *s, size_t cap,
    size_t max_fields);
void msg_header_scan_free(struct msg_header_scan *s);
/* Feed decoded bytes (CRLF line ends). */
void msg_header_scan_feed(struct msg_header_scan *s, const char *data,
    size_t n);
/* The end of the message was reached: a message without body is all
 * header. */
void msg_header_scan_finish(struct msg_header_scan *s);

/*
 * Copy the unfolded value of the first field called name (case-insensitive)
 * in the header block hdr/len into out (NUL-terminated, truncated to
 * outcap - 1).  Leading white space is skipped.  Returns false if absent.
 */
bool msg_header_get(const char *hdr, size_t len, const char *name,
    char *out, size_t outcap);

#endif
