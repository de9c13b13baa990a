/*
 * msg_intake: taking in the message of an SMTP or LMTP transaction (DATA
 * or BDAT chunks), shared by the mta's SMTP server and the store's LMTP
 * server.
 *
 * Bytes come out of the session's input buffer, are decoded (smtp_data:
 * dot-stuffing, line ends), counted against the size cap, scanned for the
 * header block (msg_header, capped), and handed to the caller's sink in
 * order.  Past the size cap the rest of the message is read and dropped;
 * a sink error is remembered and later bytes dropped too.  When the end
 * is reached msg_intake_refusal() says whether the message may be taken,
 * with the reply every server of the suite gives:
 *
 *   over the size cap                552 5.3.4
 *   the sink failed (disk full)      452 4.3.1
 *   header over its size or fields   552 5.3.4
 *   NUL octets                       554 5.6.0
 */
#ifndef COMMON_MSG_INTAKE_H
#define COMMON_MSG_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg_header.h"
#include "smtp_data.h"

struct evbuffer;

/* Store n decoded bytes; return 0 or an errno value. */
typedef int msg_intake_sink(void *arg, const char *data, size_t n);

struct msg_intake_limits {
	uint64_t max_size;          /* decoded bytes */
	size_t max_header;          /* header block bytes */
	size_t max_fields;          /* header fields */
	bool strict_end;            /* DATA ends only at CRLF "." CRLF */
};

struct msg_intake {
	struct smtp_data dec;
	struct msg_header_scan hdr;
	uint64_t size;              /* decoded bytes seen, kept or not */
	uint64_t max_size;
	bool too_big;
	int sink_errno;             /* the sink's first failure */
	msg_intake_sink *sink;
	void *sink_arg;
};

/* raw: BDAT chunks (no dot-stuffing, no terminator). */
void msg_intake_init(struct msg_intake *in, bool raw,
    const struct msg_intake_limits *lim, msg_intake_sink *sink, void *arg);
void msg_intake_free(struct msg_intake *in);

/* Add bytes of the caller's own (trace fields) as if received. */
void msg_intake_add(struct msg_intake *in, const char *data, size_t n);
/* Decode at most limit bytes of buf (draining them); returns the bytes
 * consumed.  DATA ends when msg_intake_done(); a BDAT chunk when the
 * caller's count of its octets is used up. */
size_t msg_intake_read(struct msg_intake *in, struct evbuffer *buf,
    size_t limit);
bool msg_intake_done(const struct msg_intake *in);
/* The end of the message: flush what decoding holds back. */
void msg_intake_finish(struct msg_intake *in);
/* The refusal reply (see above), or NULL when the message may be taken. */
const char *msg_intake_refusal(const struct msg_intake *in);

#endif
