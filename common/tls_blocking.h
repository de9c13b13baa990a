/*
 * tls_blocking: TLS on a plain non-blocking socket, for the blocking
 * clients of the channel programs (smtp_client's STARTTLS).  The event-
 * driven daemons use tls.h instead; this layer never waits itself: every
 * call says what the socket must become (readable, writable) before it is
 * called again, and the caller polls with its own deadline.
 *
 * Owns: a client SSL_CTX (struct tls_blocking_ctx, made once per program:
 * loading the roots is the costly part) and one SSL per connection
 * (struct tls_blocking), which borrows the socket: tls_blocking_free does
 * not close it.  Every function leaves OpenSSL's error queue empty.
 *
 * Failure policy: a context that cannot be built (a bad CA file) is
 * reported with the file and OpenSSL's reason; anything the peer does
 * ends the connection with TLS_BLOCKING_ERROR and a one-line reason
 * ("certificate verify failed (hostname mismatch)", "connection closed").
 */
#ifndef COMMON_TLS_BLOCKING_H
#define COMMON_TLS_BLOCKING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_blocking_ctx;
struct tls_blocking;

#define TLS_BLOCKING_ERROR_MAX 256

/* What a call needs before it can go on, or its end. */
enum tls_blocking_want {
	TLS_BLOCKING_DONE,              /* finished (bytes moved, handshake done) */
	TLS_BLOCKING_READ,              /* call again once readable */
	TLS_BLOCKING_WRITE,             /* call again once writable */
	TLS_BLOCKING_EOF,               /* the peer closed (reads only) */
	TLS_BLOCKING_ERROR,             /* see tls_blocking_error */
};

/*
 * A client context.  verify: the peer's chain must lead to ca_file's roots
 * (NULL or "": the system's default roots) and its certificate must name
 * the host given to tls_blocking_new.  Without verify any certificate is
 * taken (opportunistic TLS: encryption without authentication).  TLS 1.2
 * at least.  NULL and *err (to free) on failure.
 */
struct tls_blocking_ctx *tls_blocking_ctx_new(bool verify, const char *ca_file,
    char **err);
void tls_blocking_ctx_free(struct tls_blocking_ctx **ctx);

/* A client session on fd (borrowed); name is sent as SNI (unless it is an
 * address) and checked when the context verifies. */
struct tls_blocking *tls_blocking_new(struct tls_blocking_ctx *ctx, int fd,
    const char *name);
/* Free the session (after a close_notify try when it was established). */
void tls_blocking_free(struct tls_blocking **t);

enum tls_blocking_want tls_blocking_handshake(struct tls_blocking *t);
/* Read up to len bytes: DONE with *n > 0, or another want. */
enum tls_blocking_want tls_blocking_read(struct tls_blocking *t, void *buf,
    size_t len, size_t *n);
/* Write up to len bytes: DONE with *n > 0, or another want. */
enum tls_blocking_want tls_blocking_write(struct tls_blocking *t,
    const void *buf, size_t len, size_t *n);

/* Why the last call gave TLS_BLOCKING_ERROR. */
const char *tls_blocking_error(const struct tls_blocking *t);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384 verified=no", for the logs. */
void tls_blocking_describe(const struct tls_blocking *t, char *buf,
    size_t len);

#endif
