/*
 * smtp_client: one blocking SMTP or LMTP client conversation, for the
 * channel programs (lmtp_client, the SMTP channel): connect, read replies,
 * send commands and a message body, in plaintext or after STARTTLS
 * (tls_blocking.h).  A channel program is sequential by
 * design (jobctl runs several of them for parallelism), so every call here
 * blocks, each bounded by the client's timeout through poll().
 *
 * Owns one socket and a fixed read buffer; every reply line is capped at
 * SMTP_CLIENT_LINE_MAX bytes and every reply at SMTP_CLIENT_REPLY_LINES
 * lines.  Failure policy: anything the peer or the network does (refused
 * connection, timeout, early close, a malformed or over-long reply) makes
 * the call return false with a one-line reason in smtp_client_error(),
 * "LABEL: connect(127.0.0.2:24): Connection refused"; the conversation is
 * then over (the caller closes it) and the socket is no longer used.
 */
#ifndef COMMON_SMTP_CLIENT_H
#define COMMON_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SMTP_CLIENT_LINE_MAX    4096    /* reply line bytes, without CRLF */
#define SMTP_CLIENT_REPLY_LINES 100     /* lines of one reply */
#define SMTP_CLIENT_TEXT_MAX    4096    /* kept text of one reply */
#define SMTP_CLIENT_ERROR_MAX   512

struct smtp_client;
struct tls_blocking_ctx;

/* One reply: its code and its lines' text (after "250-" / "250 ") joined
 * by LF, cut at SMTP_CLIENT_TEXT_MAX bytes (the cut is not an error). */
struct smtp_reply {
	int code;
	size_t nlines;
	char text[SMTP_CLIENT_TEXT_MAX + 1];
};

/* Service extensions seen in the EHLO/LHLO reply. */
enum smtp_client_ext {
	SMTP_EXT_PIPELINING = 1 << 0,
	SMTP_EXT_8BITMIME = 1 << 1,
	SMTP_EXT_SMTPUTF8 = 1 << 2,
	SMTP_EXT_DSN = 1 << 3,
	SMTP_EXT_SIZE = 1 << 4,
	SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 5,
	SMTP_EXT_CHUNKING = 1 << 6,
	SMTP_EXT_STARTTLS = 1 << 7,
};

/*
 * A client that has not connected yet.  label starts every error message
 * (the caller's name for the peer, "store1.example.com"); timeout_s bounds
 * the connection, each reply and each write's progress.
 */
struct smtp_client *smtp_client_new(const char *label, int timeout_s);
/* Close the socket (if any) and free; *c is cleared.  NULL is allowed. */
void smtp_client_free(struct smtp_client **c);
/* The limit of the calls from now on (RFC 5321 4.5.3.2 gives each step
 * its own), in milliseconds; at least a second. */
void smtp_client_set_timeout(struct smtp_client *c, int timeout_ms);

/* Resolve host (a name or an address, getaddrinfo: that step is not
 * bounded by the timeout) and try each address in turn, each within the
 * timeout.  The greeting is not read: see smtp_client_read_reply. */
bool smtp_client_connect(struct smtp_client *c, const char *host, int port);
/* The same for an address already resolved ("127.0.0.5", "::1"). */
bool smtp_client_connect_addr(struct smtp_client *c, const char *addr,
    int port);

/* Read one possibly multi-line reply. */
bool smtp_client_read_reply(struct smtp_client *c, struct smtp_reply *r);
/* One command line (CRLF added); refused (false) when it holds CR or LF
 * or passes the line cap.  It waits in the client's buffer with the
 * commands before it and leaves with them when a reply is read or a body
 * sent: pipelined commands go out in one write. */
bool smtp_client_command(struct smtp_client *c, const char *line);
/* A command and its reply. */
bool smtp_client_cmd_reply(struct smtp_client *c, const char *line,
    struct smtp_reply *r);
/* EHLO or LHLO (verb) with name; on a 2xx reply the extensions are
 * recorded (smtp_client_has). */
bool smtp_client_hello(struct smtp_client *c, const char *verb,
    const char *name, struct smtp_reply *r);
bool smtp_client_has(const struct smtp_client *c, enum smtp_client_ext ext);
/* The SIZE the server advertised (0: none or no limit). */
uint64_t smtp_client_max_size(const struct smtp_client *c);
/*
 * Send the bytes of fd from offset to its end as a DATA body: lines
 * ended by CRLF (a bare LF becomes CRLF), a leading "." doubled, a last
 * line without its end completed, then ".".  The reply is not read.
 */
bool smtp_client_send_body(struct smtp_client *c, int fd, off_t offset);

/*
 * Start TLS, once the server's 220 to STARTTLS was read: bytes it sent
 * after that reply are discarded (CVE-2011-0411) and the extensions
 * forgotten (say EHLO again).  name is the server's, for SNI and, when
 * ctx verifies, the certificate check.  The handshake is bounded by the
 * timeout; a failure ends the conversation ("TLS handshake: certificate
 * verify failed (...)").
 */
bool smtp_client_starttls(struct smtp_client *c, struct tls_blocking_ctx *ctx,
    const char *name);
bool smtp_client_tls_active(const struct smtp_client *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384 verified=yes", or "no". */
void smtp_client_tls_describe(const struct smtp_client *c, char *buf,
    size_t len);

/* Why the last call failed. */
const char *smtp_client_error(const struct smtp_client *c);

/* RFC 3461 xtext of s (ENVID, ORCPT values); free() the result. */
char *smtp_client_xtext(const char *s);

struct queue_env;
struct queue_rcpt;
/* MAIL FROM for env with the parameters the server offers: SIZE,
 * BODY=8BITMIME (when body_8bit), SMTPUTF8 (when utf8: the caller has
 * checked the server offers it, or decided to send without), and RET and
 * ENVID with DSN.  malloc'd. */
char *smtp_client_mail_cmd(const struct smtp_client *c,
    const struct queue_env *env, bool body_8bit, bool utf8);
/* RCPT TO for address with NOTIFY and ORCPT from q when the server
 * offers DSN.  malloc'd. */
char *smtp_client_rcpt_cmd(const struct smtp_client *c, const char *address,
    const struct queue_rcpt *q);

/* ---- the pure parts, for the unit tests ---- */

/* Dot-stuffing and line ends of a body, chunk by chunk. */
struct smtp_stuff {
	bool mid_line;      /* the last byte was not a line end */
	bool after_cr;      /* the last byte was a CR */
};

#define SMTP_STUFF_END_MAX 5    /* CR LF "." CR LF */
/* Convert in[0..len) into out, which has room for 2 * len bytes; returns
 * the bytes written.  st starts zeroed. */
size_t smtp_stuff(struct smtp_stuff *st, const char *in, size_t len,
    char *out);
/* The end: complete the last line, then ".\r\n"; out has room for
 * SMTP_STUFF_END_MAX bytes.  Returns the bytes written. */
size_t smtp_stuff_end(const struct smtp_stuff *st, char *out);

/* One reply line (without CRLF):
 *   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                Reply-code [ SP textstring ] CRLF      (RFC 5321 4.2)
 * Sets *code (200..599), *last (no "-") and *text (after the separator,
 * "" when none); false when malformed. */
bool smtp_reply_parse_line(const char *line, int *code, bool *last,
    const char **text);

#endif
