/*
 * smtp_data: decoding the DATA phase of SMTP/LMTP (RFC 5321 4.5.2).
 *
 * Input is the raw byte stream after "354"; output is the message with the
 * dot-stuffing removed and every line ending as CRLF.  Policy, shared by all
 * servers of the suite and documented in their man pages:
 *   - the end of data is CRLF "." CRLF; "." LF (bare LF) is accepted too;
 *   - a bare LF ends a line and is stored as CRLF;
 *   - a bare CR is kept as data;
 *   - NUL octets are counted (the caller refuses the message: RFC 5321
 *     forbids them and IMAP clients cannot cope with them).
 * Nothing is buffered here beyond one pending CR: memory is the caller's.
 */
#ifndef COMMON_SMTP_DATA_H
#define COMMON_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

struct smtp_data {
	int state;
	bool raw;           /* BDAT: no dot-stuffing, no terminator */
	bool strict_end;    /* only CRLF "." CRLF ends the data */
	size_t nuls;        /* NUL octets seen */
	bool done;          /* the terminating "." line was seen */
};

/* raw: decode a BDAT chunk stream (only line ends are normalised). */
void smtp_data_init(struct smtp_data *d, bool raw);

/*
 * Decode up to inlen bytes of in into out, which must have room for
 * 2 * inlen + 2 bytes.  Stops right after the terminator.  Returns the
 * number of input bytes consumed; *outlen gets the bytes produced.
 */
size_t smtp_data_decode(struct smtp_data *d, const char *in, size_t inlen,
    char *out, size_t *outlen);

/*
 * End of a raw (BDAT) stream: emit what is pending (a final bare CR) into
 * out, which must have room for 2 bytes.  Returns the bytes produced.
 */
size_t smtp_data_finish(struct smtp_data *d, char *out);

#endif
