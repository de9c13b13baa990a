/*
 * tls_blocking: a client SSL over a caller's non-blocking socket (see
 * tls_blocking.h).
 *
 * Each call is one OpenSSL call whose SSL_ERROR_WANT_* is handed back as
 * a want; the caller waits with poll() under its own deadline.  The
 * reason for a failure is taken from the error queue at once (then the
 * queue is cleared), so that a stale error never names another session's
 * cause.  Allocation failures inside OpenSSL are treated like xmalloc's
 * (log_panic).
 */
#include "tls_blocking.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "xmalloc.h"

struct tls_blocking_ctx {
	SSL_CTX *ssl;
	bool verify;
};

struct tls_blocking {
	SSL *ssl;
	bool established;
	char err[TLS_BLOCKING_ERROR_MAX];
};

/* The oldest queued error's reason ("no start line"), queue cleared. */
static void
tls_blocking_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *reason = ERR_reason_error_string(e);

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else if (reason != NULL)
		snprintf(buf, len, "%s", reason);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static bool
tls_blocking_roots(SSL_CTX *ssl, const char *ca_file, char **err)
{
	char reason[TLS_BLOCKING_ERROR_MAX];

	if (ca_file != NULL && *ca_file != '\0') {
		/* Say "No such file or directory" ourselves: OpenSSL's report
		 * of a missing file is less plain. */
		int fd = open(ca_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			*err = xasprintf("TLS CA file \"%s\": %s", ca_file,
			    strerror(errno));
			return false;
		}
		close(fd);
		if (SSL_CTX_load_verify_locations(ssl, ca_file, NULL) == 1)
			return true;
		tls_blocking_reason(reason, sizeof(reason));
		*err = xasprintf("TLS CA file \"%s\": %s", ca_file, reason);
		return false;
	}
	if (SSL_CTX_set_default_verify_paths(ssl) == 1)
		return true;
	tls_blocking_reason(reason, sizeof(reason));
	*err = xasprintf("TLS system CA store: %s", reason);
	return false;
}

struct tls_blocking_ctx *
tls_blocking_ctx_new(bool verify, const char *ca_file, char **err)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());

	*err = NULL;
	if (ssl == NULL)
		log_panic("SSL_CTX_new: out of memory");
	SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A close without close_notify is an EOF (tls.h says why). */
	SSL_CTX_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (verify && !tls_blocking_roots(ssl, ca_file, err)) {
		SSL_CTX_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	struct tls_blocking_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl = ssl;
	ctx->verify = verify;
	return ctx;
}

void
tls_blocking_ctx_free(struct tls_blocking_ctx **ctxp)
{
	struct tls_blocking_ctx *ctx = *ctxp;

	*ctxp = NULL;
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl);         /* live SSLs hold their own refs */
	free(ctx);
}

static bool
tls_blocking_is_ip(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, addr) == 1 ||
	    inet_pton(AF_INET6, name, addr) == 1;
}

struct tls_blocking *
tls_blocking_new(struct tls_blocking_ctx *ctx, int fd, const char *name)
{
	struct tls_blocking *t = xcalloc(1, sizeof(*t));
	bool ip = tls_blocking_is_ip(name);
	int ok = 1;

	if ((t->ssl = SSL_new(ctx->ssl)) == NULL || !SSL_set_fd(t->ssl, fd))
		log_panic("SSL_new: out of memory");
	/* SNI never names an address (RFC 6066 3). */
	if (!ip)
		ok = SSL_set_tlsext_host_name(t->ssl, name);
	if (ctx->verify && ip)
		ok &= X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name);
	else if (ctx->verify) {
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok &= SSL_set1_host(t->ssl, name);
	}
	if (!ok)
		log_panic("SSL_set1_host(\"%s\"): out of memory", name);
	SSL_set_connect_state(t->ssl);
	return t;
}

void
tls_blocking_free(struct tls_blocking **tp)
{
	struct tls_blocking *t = *tp;

	*tp = NULL;
	if (t == NULL)
		return;
	/* One non-blocking try: QUIT has been said already. */
	if (t->established)
		SSL_shutdown(t->ssl);
	SSL_free(t->ssl);
	ERR_clear_error();
	free(t);
}

/* The want for an OpenSSL result r of a call on t. */
static enum tls_blocking_want
tls_blocking_result(struct tls_blocking *t, int r)
{
	int e = SSL_get_error(t->ssl, r);
	int saved = errno;
	long verify;
	size_t n;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_BLOCKING_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_BLOCKING_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return TLS_BLOCKING_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			snprintf(t->err, sizeof(t->err), "%s", saved != 0 ?
			    strerror(saved) : "connection closed");
			return TLS_BLOCKING_ERROR;
		}
		break;
	default:
		break;
	}
	tls_blocking_reason(t->err, sizeof(t->err));
	verify = SSL_get_verify_result(t->ssl);
	n = strlen(t->err);
	if (verify != X509_V_OK && n < sizeof(t->err))
		snprintf(t->err + n, sizeof(t->err) - n, " (%s)",
		    X509_verify_cert_error_string(verify));
	return TLS_BLOCKING_ERROR;
}

enum tls_blocking_want
tls_blocking_handshake(struct tls_blocking *t)
{
	int r;

	errno = 0;
	if ((r = SSL_do_handshake(t->ssl)) == 1) {
		t->established = true;
		return TLS_BLOCKING_DONE;
	}
	enum tls_blocking_want w = tls_blocking_result(t, r);
	/* A close during the handshake is a failure, not an EOF. */
	if (w == TLS_BLOCKING_EOF) {
		snprintf(t->err, sizeof(t->err), "connection closed");
		w = TLS_BLOCKING_ERROR;
	}
	return w;
}

enum tls_blocking_want
tls_blocking_read(struct tls_blocking *t, void *buf, size_t len, size_t *n)
{
	int r;

	errno = 0;
	if ((r = SSL_read_ex(t->ssl, buf, len, n)) == 1)
		return TLS_BLOCKING_DONE;
	enum tls_blocking_want w = tls_blocking_result(t, r);
	/* A peer that closes without close_notify: a plain EOF (the mail
	 * protocol's own QUIT or final reply says what was complete). */
	if (w == TLS_BLOCKING_ERROR && strcmp(t->err, "connection closed") == 0)
		w = TLS_BLOCKING_EOF;
	return w;
}

enum tls_blocking_want
tls_blocking_write(struct tls_blocking *t, const void *buf, size_t len,
    size_t *n)
{
	int r;

	errno = 0;
	if ((r = SSL_write_ex(t->ssl, buf, len, n)) == 1)
		return TLS_BLOCKING_DONE;
	return tls_blocking_result(t, r);
}

const char *
tls_blocking_error(const struct tls_blocking *t)
{
	return t->err;
}

void
tls_blocking_describe(const struct tls_blocking *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s verified=%s", SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl),
	    SSL_get0_peer_certificate(t->ssl) != NULL &&
	    SSL_get_verify_result(t->ssl) == X509_V_OK &&
	    SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE ? "yes" : "no");
}
