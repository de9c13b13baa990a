/*
 * tls: OpenSSL contexts and TLS bufferevents for every daemon of the suite
 * (implicit TLS on 993/995/465, STARTTLS/STLS in IMAP, POP3 and SMTP, and
 * the client side for the mta's SMTP client and mmp's store connections).
 *
 * Ownership.  A struct tls_ctx is built from configuration at start-up and
 * again on SIGHUP: the daemon builds the new one first (a bad new
 * configuration is refused and the old context stays), then swaps it in
 * and frees the old one with tls_ctx_free().  Every connection holds its
 * own reference to the OpenSSL context, so connections made before the
 * reload keep their certificate until they close.  (The session cache and
 * ticket keys belong to a context: clients resume again only with
 * sessions made after the reload.)  The wrapping functions take over what
 * they are given (the fd, or the plain bufferevent) whatever the outcome;
 * the bufferevent they return owns the socket (BEV_OPT_CLOSE_ON_FREE) and
 * is closed with tls_free() (bufferevent_free() works, minus close_notify).
 *
 * Every TLS bufferevent is an OpenSSL *socket* bufferevent, STARTTLS
 * included (the fd is handed over, not filtered): once its output buffer
 * is empty the bytes are in the kernel, so closing then loses nothing.
 * One difference from a plain socket: libevent 2.1 defers the write
 * callback of a TLS bufferevent, so it can run after more output was
 * queued.  A write callback that closes or hands over must first check
 * that the output buffer is empty (and otherwise wait for the next one).
 * The caller sets callbacks, watermarks and timeouts on the new
 * bufferevent; the handshake is bounded by the caller's read timeout, and a
 * failed handshake arrives as BEV_EVENT_ERROR with tls_error() saying why.
 * A successful one arrives as BEV_EVENT_CONNECTED.  A peer that closes
 * without close_notify is a plain EOF (mail protocols end with their own
 * LOGOUT/QUIT, so truncation cannot be mistaken for a complete reply).
 *
 * Failure policy: context errors are returned as a message naming the file
 * and OpenSSL's reason (fatal at start-up, refusal on reload); nothing a
 * peer does can fail here beyond its own connection.
 */
#ifndef COMMON_TLS_H
#define COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct tls_ctx;

#define TLS_DEFAULT_MIN_PROTOCOL "TLSv1.2"
/* TLS 1.2 suites: forward secrecy and AEAD only (Mozilla "intermediate").
 * TLS 1.3 suites are OpenSSL's defaults unless configured. */
#define TLS_DEFAULT_CIPHERS                                                 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"            \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"            \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"            \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"                  \
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS_DEFAULT_SESSION_TIMEOUT 300         /* seconds */

/* Server side.  NULL strings and zero numbers take the defaults. */
struct tls_server_config {
	const char *cert_file;      /* PEM chain: the server's, then intermediates */
	const char *key_file;       /* PEM private key matching cert_file */
	const char *ca_file;        /* optional: ask clients for a certificate
	                               and verify it against these roots (a
	                               client without one is still served) */
	const char *min_protocol;   /* "TLSv1.2" (default) or "TLSv1.3";
	                               "TLSv1" and "TLSv1.1" are accepted but
	                               OpenSSL 3 also needs "@SECLEVEL=0" in
	                               ciphers to speak them */
	const char *ciphers;        /* TLS <= 1.2 cipher list (OpenSSL syntax) */
	const char *ciphersuites;   /* TLS 1.3 suites */
	int session_timeout;        /* seconds a session may be resumed; < 0:
	                               no resumption at all */
	bool no_tickets;            /* resume from the server cache only */
};

enum tls_verify {
	TLS_VERIFY_NONE,            /* encrypt only (opportunistic SMTP) */
	TLS_VERIFY_PEER,            /* chain to ca_file (or the system roots)
	                               and, when a name is given at connect
	                               time, the name (DNS or IP) */
};

/* Client side. */
struct tls_client_config {
	enum tls_verify verify;
	const char *ca_file;        /* NULL: the system's default roots */
	const char *cert_file;      /* optional client certificate ... */
	const char *key_file;       /* ... and its key */
	const char *min_protocol;
	const char *ciphers;
	const char *ciphersuites;
};

/* Build a context; NULL and *err (to free) when a file is missing or bad,
 * the key does not match, or a setting is refused. */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_config *cfg,
    char **err);
struct tls_ctx *tls_client_ctx_new(const struct tls_client_config *cfg,
    char **err);
/* Drop the daemon's reference; connections keep theirs.  Clears *ctx. */
void tls_ctx_free(struct tls_ctx **ctx);
/* Check a min_protocol value without building anything (for -t). */
bool tls_protocol_valid(const char *name);

/* Implicit TLS on an accepted fd (993, 995, 465); the fd is taken.  The
 * handshake starts when the caller enables EV_READ; a greeting may be
 * written at once (it goes out after the handshake).  Cannot fail (short
 * of memory, which panics). */
struct bufferevent *tls_server_accept(struct tls_ctx *ctx,
    struct event_base *base, int fd);

/* Implicit TLS as a client on a connected fd; the fd is taken.  name (may
 * be NULL) is sent as SNI (unless it is an address) and, with
 * TLS_VERIFY_PEER, checked against the certificate (DNS name or IP); with
 * a NULL name only the chain is verified. */
struct bufferevent *tls_client_connect(struct tls_ctx *ctx,
    struct event_base *base, int fd, const char *name);

/*
 * STARTTLS, server side.  *bevp is the session's plain socket bufferevent
 * (made with BEV_OPT_CLOSE_ON_FREE); it is taken and cleared whatever the
 * outcome, and a TLS bufferevent on the same socket is returned, with no
 * callbacks yet (NULL and *err on failure: the socket is then closed).
 *
 * Call it once the reply that starts TLS ("OK Begin TLS", "220 2.0.0
 * Ready to start TLS", "+OK") has been written: disable EV_READ when the
 * command is seen, and call this from the write callback when the output
 * buffer is empty.  A reply still buffered is written out first if the
 * socket takes it at once; otherwise this fails rather than lose it.
 *
 * Command injection (CVE-2011-0411): whatever the client sent after the
 * STARTTLS line in plaintext is still in the old input buffer.  It is
 * discarded here, never handed to the TLS session, and its size is put in
 * *discarded (for the log).  Bytes the client sends later, before its
 * ClientHello, are read as TLS records and fail the handshake.
 */
struct bufferevent *tls_server_starttls(struct tls_ctx *ctx,
    struct bufferevent **bevp, size_t *discarded, char **err);

/* STARTTLS, client side, after the server's go-ahead was read.  Anything
 * the server sent after its go-ahead is discarded the same way. */
struct bufferevent *tls_client_starttls(struct tls_ctx *ctx,
    struct bufferevent **bevp, const char *name, size_t *discarded,
    char **err);

/* Close a session's bufferevent, plain or TLS, and clear *bev.  A TLS
 * session whose output has drained says close_notify first (one
 * non-blocking try), which strict clients (OpenSSL 3's, curl) expect
 * before EOF.  NULL is allowed. */
void tls_free(struct bufferevent **bev);

/* Accessors, for logs, trace headers and policy.  On a bufferevent that is
 * not TLS, or before its handshake is done: false, NULL, 0. */
bool tls_active(struct bufferevent *bev);
const char *tls_protocol(struct bufferevent *bev);     /* "TLSv1.3" */
const char *tls_cipher(struct bufferevent *bev);       /* "TLS_AES_..." */
int tls_cipher_bits(struct bufferevent *bev);          /* secret bits */
/* The seed's plaintextmincipher: is the session's cipher strength at least
 * bits?  A plain session has strength 0, so bits <= 0 is always met. */
bool tls_cipher_at_least(struct bufferevent *bev, int bits);
/* Did the peer present a certificate that verified (and matched the name,
 * on the client side)? */
bool tls_peer_verified(struct bufferevent *bev);
/* "tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256", or "tls=no". */
void tls_log_fields(struct bufferevent *bev, char *buf, size_t len);
/* Postfix-style Received: clause, "(using TLSv1.3 with cipher
 * TLS_AES_256_GCM_SHA384 (256/256 bits))", or "" when not TLS. */
void tls_received_clause(struct bufferevent *bev, char *buf, size_t len);

/* Why a TLS bufferevent failed: OpenSSL's reason for the first error
 * ("wrong version number", "unsupported protocol", "http request",
 * "certificate verify failed (hostname mismatch)"), else the socket
 * error (errno), else "connection closed".  Call it first thing in the
 * BEV_EVENT_ERROR callback; it consumes the stored errors. */
void tls_error(struct bufferevent *bev, char *buf, size_t len);

#endif
