/*
 * tls: OpenSSL contexts and TLS bufferevents (see tls.h).
 *
 * A struct tls_ctx owns one reference to an SSL_CTX; every SSL made from
 * it takes another (OpenSSL's own refcount), which is what lets a reload
 * swap contexts under live connections.  Each connection's SSL is owned by
 * its bufferevent (BEV_OPT_CLOSE_ON_FREE).  OpenSSL's error queue is
 * per-thread and libevent collects *all* of it when a connection fails, so
 * every function here leaves the queue empty: a stale error must never be
 * reported as another peer's reason.  Allocation failures inside OpenSSL
 * or libevent are treated like xmalloc's (log_panic).
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "xmalloc.h"

/* Session IDs are only resumed by a context with the same id context. */
#define TLS_SESSION_ID_CONTEXT "mailsuite"

struct tls_ctx {
	SSL_CTX *ssl;
	bool client;
	enum tls_verify verify;
};

static const struct {
	const char *name;
	int version;
} tls_versions[] = {
	{ "TLSv1", TLS1_VERSION },
	{ "TLSv1.1", TLS1_1_VERSION },
	{ "TLSv1.2", TLS1_2_VERSION },
	{ "TLSv1.3", TLS1_3_VERSION },
};

static int
tls_version_of(const char *name)
{
	for (size_t i = 0; i < sizeof(tls_versions) / sizeof(tls_versions[0]); i++)
		if (strcasecmp(name, tls_versions[i].name) == 0)
			return tls_versions[i].version;
	return 0;
}

bool
tls_protocol_valid(const char *name)
{
	return name != NULL && tls_version_of(name) != 0;
}

/* OpenSSL's reason for e, "no start line" rather than "error:0480006C:...". */
static void
tls_reason_of(unsigned long e, char *buf, size_t len)
{
	const char *reason = ERR_reason_error_string(e);

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else if (reason != NULL)
		snprintf(buf, len, "%s", reason);
	else
		ERR_error_string_n(e, buf, len);
}

/* The oldest queued error is the cause; the later ones are its callers. */
static void
tls_queue_reason(char *buf, size_t len)
{
	tls_reason_of(ERR_peek_error(), buf, len);
	ERR_clear_error();
}

/* "<what> "<path>": <reason>" from the error queue. */
static char *
tls_file_error(const char *what, const char *path)
{
	char reason[256];

	tls_queue_reason(reason, sizeof(reason));
	return xasprintf("%s \"%s\": %s", what, path, reason);
}

/* Say "No such file or directory" or "Permission denied" ourselves:
 * OpenSSL's report of a missing file is less plain. */
static bool
tls_readable(const char *what, const char *path, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*err = xasprintf("%s \"%s\": %s", what, path, strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

static bool
tls_set_ciphers(SSL_CTX *ssl, const char *ciphers, const char *suites,
    char **err)
{
	char reason[256];

	if (ciphers == NULL)
		ciphers = TLS_DEFAULT_CIPHERS;
	if (SSL_CTX_set_cipher_list(ssl, ciphers) != 1) {
		tls_queue_reason(reason, sizeof(reason));
		*err = xasprintf("TLS ciphers \"%s\": %s", ciphers, reason);
		return false;
	}
	if (suites != NULL && SSL_CTX_set_ciphersuites(ssl, suites) != 1) {
		tls_queue_reason(reason, sizeof(reason));
		*err = xasprintf("TLS 1.3 ciphersuites \"%s\": %s", suites, reason);
		return false;
	}
	return true;
}

/* What both sides share: protocol floor, ciphers, options, modes. */
static SSL_CTX *
tls_ctx_common(const SSL_METHOD *method, const char *min_protocol,
    const char *ciphers, const char *suites, char **err)
{
	SSL_CTX *ssl;
	int version;

	if (min_protocol == NULL)
		min_protocol = TLS_DEFAULT_MIN_PROTOCOL;
	if ((version = tls_version_of(min_protocol)) == 0) {
		*err = xasprintf("TLS minimum protocol \"%s\": expected TLSv1, "
		    "TLSv1.1, TLSv1.2 or TLSv1.3", min_protocol);
		return NULL;
	}
	if ((ssl = SSL_CTX_new(method)) == NULL)
		log_panic("SSL_CTX_new: out of memory");
	SSL_CTX_set_min_proto_version(ssl, version);
	/* No renegotiation (a client-driven CPU sink); a peer that closes
	 * without close_notify is an EOF, not an error. */
	SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
	    | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* libevent may retry a write from a moved buffer; idle sessions (IMAP
	 * IDLE) should not hold 34 kB of OpenSSL buffers each.  Never
	 * ENABLE_PARTIAL_WRITE: libevent 2.1 would skip the unwritten rest. */
	SSL_CTX_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
	    | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_dh_auto(ssl, 1);
	if (!tls_set_ciphers(ssl, ciphers, suites, err)) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Certificate chain and key, checked against each other. */
static bool
tls_load_keypair(SSL_CTX *ssl, const char *cert, const char *key, char **err)
{
	char reason[256];

	if (!tls_readable("TLS certificate", cert, err)
	    || !tls_readable("TLS private key", key, err))
		return false;
	if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1) {
		*err = tls_file_error("TLS certificate", cert);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) == 1
	    && SSL_CTX_check_private_key(ssl) == 1)
		return true;
	/* The key of another pair: say so in the words an operator looks
	 * for, not just OpenSSL's. */
	if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
		tls_queue_reason(reason, sizeof(reason));
		*err = xasprintf("TLS private key \"%s\" does not match certificate "
		    "\"%s\": %s", key, cert, reason);
	} else
		*err = tls_file_error("TLS private key", key);
	return false;
}

static bool
tls_load_ca(SSL_CTX *ssl, const char *ca, char **err)
{
	if (!tls_readable("TLS CA file", ca, err))
		return false;
	if (SSL_CTX_load_verify_locations(ssl, ca, NULL) != 1) {
		*err = tls_file_error("TLS CA file", ca);
		return false;
	}
	return true;
}

/* The server asks for a client certificate but serves clients without
 * one, or with one that fails: tls_peer_verified() tells them apart. */
static int
tls_verify_optional(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1;
}

static bool
tls_server_client_ca(SSL_CTX *ssl, const char *ca, char **err)
{
	STACK_OF(X509_NAME) *names;

	if (!tls_load_ca(ssl, ca, err))
		return false;
	if ((names = SSL_load_client_CA_file(ca)) == NULL) {
		*err = tls_file_error("TLS CA file", ca);
		return false;
	}
	SSL_CTX_set_client_CA_list(ssl, names);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_optional);
	return true;
}

static void
tls_server_sessions(SSL_CTX *ssl, const struct tls_server_config *cfg)
{
	SSL_CTX_set_session_id_context(ssl,
	    (const unsigned char *)TLS_SESSION_ID_CONTEXT,
	    sizeof(TLS_SESSION_ID_CONTEXT) - 1);
	if (cfg->session_timeout < 0) {
		SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ssl, 0);
		return;
	}
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_timeout(ssl, cfg->session_timeout > 0
	    ? cfg->session_timeout : TLS_DEFAULT_SESSION_TIMEOUT);
	/* Without tickets TLS 1.3 still resumes, from the server's cache. */
	if (cfg->no_tickets)
		SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
}

static struct tls_ctx *
tls_ctx_wrap(SSL_CTX *ssl, bool client, enum tls_verify verify)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->ssl = ssl;
	ctx->client = client;
	ctx->verify = verify;
	return ctx;
}

struct tls_ctx *
tls_server_ctx_new(const struct tls_server_config *cfg, char **err)
{
	SSL_CTX *ssl;

	*err = NULL;
	if (cfg->cert_file == NULL || cfg->key_file == NULL) {
		*err = xstrdup("TLS needs a certificate file and a private key file");
		return NULL;
	}
	ssl = tls_ctx_common(TLS_server_method(), cfg->min_protocol,
	    cfg->ciphers, cfg->ciphersuites, err);
	if (ssl == NULL)
		return NULL;
	if (!tls_load_keypair(ssl, cfg->cert_file, cfg->key_file, err)
	    || (cfg->ca_file != NULL
	        && !tls_server_client_ca(ssl, cfg->ca_file, err))) {
		SSL_CTX_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	tls_server_sessions(ssl, cfg);
	return tls_ctx_wrap(ssl, false, TLS_VERIFY_NONE);
}

static bool
tls_client_verify(SSL_CTX *ssl, const struct tls_client_config *cfg,
    char **err)
{
	if (cfg->verify == TLS_VERIFY_NONE) {
		SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		return true;
	}
	if (cfg->ca_file != NULL) {
		if (!tls_load_ca(ssl, cfg->ca_file, err))
			return false;
	} else if (SSL_CTX_set_default_verify_paths(ssl) != 1) {
		char reason[256];
		tls_queue_reason(reason, sizeof(reason));
		*err = xasprintf("TLS system CA store: %s", reason);
		return false;
	}
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return true;
}

struct tls_ctx *
tls_client_ctx_new(const struct tls_client_config *cfg, char **err)
{
	SSL_CTX *ssl;

	*err = NULL;
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
		*err = xstrdup("TLS client certificate and key go together");
		return NULL;
	}
	ssl = tls_ctx_common(TLS_client_method(), cfg->min_protocol,
	    cfg->ciphers, cfg->ciphersuites, err);
	if (ssl == NULL)
		return NULL;
	if (!tls_client_verify(ssl, cfg, err)
	    || (cfg->cert_file != NULL
	        && !tls_load_keypair(ssl, cfg->cert_file, cfg->key_file, err))) {
		SSL_CTX_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return tls_ctx_wrap(ssl, true, cfg->verify);
}

void
tls_ctx_free(struct tls_ctx **ctx)
{
	if (*ctx == NULL)
		return;
	SSL_CTX_free((*ctx)->ssl);      /* live SSLs hold their own refs */
	free(*ctx);
	*ctx = NULL;
}

static bool
tls_is_ip(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, addr) == 1
	    || inet_pton(AF_INET6, name, addr) == 1;
}

/* SNI (never for an address, RFC 6066) and the name to verify. */
static void
tls_client_name(struct tls_ctx *ctx, SSL *ssl, const char *name)
{
	bool ip = tls_is_ip(name);
	int ok = 1;

	if (!ip)
		ok = SSL_set_tlsext_host_name(ssl, name);
	if (ctx->verify == TLS_VERIFY_PEER) {
		if (ip)
			ok &= X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
		else {
			SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok &= SSL_set1_host(ssl, name);
		}
	}
	if (!ok)
		log_panic("SSL_set1_host(\"%s\"): out of memory", name);
}

/* A bufferevent that owns fd and a new SSL of ctx. */
static struct bufferevent *
tls_wrap(struct tls_ctx *ctx, struct event_base *base, int fd,
    const char *name, enum bufferevent_ssl_state state)
{
	struct bufferevent *bev;
	SSL *ssl;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx->ssl)) == NULL)
		log_panic("SSL_new: out of memory");
	if (ctx->client && name != NULL)
		tls_client_name(ctx, ssl, name);
	evutil_make_socket_nonblocking(fd);
	bev = bufferevent_openssl_socket_new(base, fd, ssl, state,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		log_panic("bufferevent_openssl_socket_new: out of memory");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *
tls_server_accept(struct tls_ctx *ctx, struct event_base *base, int fd)
{
	return tls_wrap(ctx, base, fd, NULL, BUFFEREVENT_SSL_ACCEPTING);
}

struct bufferevent *
tls_client_connect(struct tls_ctx *ctx, struct event_base *base, int fd,
    const char *name)
{
	return tls_wrap(ctx, base, fd, name, BUFFEREVENT_SSL_CONNECTING);
}

/* Send what is left of the plaintext go-ahead, without blocking.  A
 * socket bufferevent keeps the front of its output frozen outside its own
 * writes; the bufferevent is about to be freed, so take it over. */
static bool
tls_flush_plain(struct evbuffer *out, int fd)
{
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0)
		if (evbuffer_write(out, fd) <= 0)
			return false;
	return true;
}

/* Give old's socket to a TLS bufferevent.  Its unread input (whatever the
 * peer pipelined in plaintext) dies with it. */
static struct bufferevent *
tls_handover(struct tls_ctx *ctx, struct bufferevent **bevp, const char *name,
    enum bufferevent_ssl_state state, size_t *discarded, char **err)
{
	struct bufferevent *old = *bevp;
	struct event_base *base = bufferevent_get_base(old);
	int fd = bufferevent_getfd(old);

	*bevp = NULL;
	*err = NULL;
	*discarded = evbuffer_get_length(bufferevent_get_input(old));
	if (fd < 0 || bufferevent_openssl_get_ssl(old) != NULL
	    || bufferevent_get_underlying(old) != NULL)
		*err = xstrdup("STARTTLS: not a plain socket connection");
	else if (!tls_flush_plain(bufferevent_get_output(old), fd))
		*err = xasprintf("STARTTLS: %zu bytes of the plaintext reply "
		    "could not be sent", evbuffer_get_length(
		    bufferevent_get_output(old)));
	if (*err != NULL) {
		bufferevent_free(old);
		return NULL;
	}
	bufferevent_disable(old, EV_READ | EV_WRITE);
	bufferevent_setfd(old, -1);     /* hand the fd over, do not close it */
	bufferevent_free(old);
	return tls_wrap(ctx, base, fd, name, state);
}

struct bufferevent *
tls_server_starttls(struct tls_ctx *ctx, struct bufferevent **bevp,
    size_t *discarded, char **err)
{
	return tls_handover(ctx, bevp, NULL, BUFFEREVENT_SSL_ACCEPTING,
	    discarded, err);
}

struct bufferevent *
tls_client_starttls(struct tls_ctx *ctx, struct bufferevent **bevp,
    const char *name, size_t *discarded, char **err)
{
	return tls_handover(ctx, bevp, name, BUFFEREVENT_SSL_CONNECTING,
	    discarded, err);
}

/* The SSL of bev once its handshake is done, else NULL. */
static SSL *
tls_ssl(struct bufferevent *bev)
{
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	return ssl != NULL && SSL_is_init_finished(ssl) ? ssl : NULL;
}

bool
tls_active(struct bufferevent *bev)
{
	return tls_ssl(bev) != NULL;
}

const char *
tls_protocol(struct bufferevent *bev)
{
	SSL *ssl = tls_ssl(bev);

	return ssl != NULL ? SSL_get_version(ssl) : NULL;
}

const char *
tls_cipher(struct bufferevent *bev)
{
	SSL *ssl = tls_ssl(bev);

	return ssl != NULL ? SSL_get_cipher_name(ssl) : NULL;
}

int
tls_cipher_bits(struct bufferevent *bev)
{
	SSL *ssl = tls_ssl(bev);

	return ssl != NULL ? SSL_get_cipher_bits(ssl, NULL) : 0;
}

bool
tls_cipher_at_least(struct bufferevent *bev, int bits)
{
	return tls_cipher_bits(bev) >= bits;
}

bool
tls_peer_verified(struct bufferevent *bev)
{
	SSL *ssl = tls_ssl(bev);

	return ssl != NULL && SSL_get0_peer_certificate(ssl) != NULL
	    && SSL_get_verify_result(ssl) == X509_V_OK;
}

void
tls_log_fields(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = tls_ssl(bev);

	if (ssl == NULL)
		snprintf(buf, len, "tls=no");
	else
		snprintf(buf, len, "tls=%s cipher=%s bits=%d", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl), SSL_get_cipher_bits(ssl, NULL));
}

void
tls_received_clause(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = tls_ssl(bev);
	int alg_bits = 0, bits;

	if (ssl == NULL) {
		snprintf(buf, len, "%s", "");
		return;
	}
	bits = SSL_get_cipher_bits(ssl, &alg_bits);
	snprintf(buf, len, "(using %s with cipher %s (%d/%d bits))",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl), bits, alg_bits);
}

void
tls_free(struct bufferevent **bev)
{
	SSL *ssl;

	if (*bev == NULL)
		return;
	ssl = bufferevent_openssl_get_ssl(*bev);
	/* One try, straight onto the socket: libevent has nothing queued
	 * (the caller waited for the output to drain), and a peer that does
	 * not read it loses nothing but the courtesy. */
	if (ssl != NULL && SSL_is_init_finished(ssl)
	    && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)
	    && evbuffer_get_length(bufferevent_get_output(*bev)) == 0)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	bufferevent_free(*bev);
	*bev = NULL;
}

/* libevent 2.1 stores SSL_get_error()'s code (SSL_ERROR_SSL,
 * SSL_ERROR_SYSCALL) ahead of the queued errors: not a reason. */
static bool
tls_is_reason(unsigned long e)
{
	return ERR_SYSTEM_ERROR(e) || ERR_GET_LIB(e) != 0;
}

void
tls_error(struct bufferevent *bev, char *buf, size_t len)
{
	int saved = EVUTIL_SOCKET_ERROR();
	unsigned long e, oldest = 0;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long verify;
	size_t n;

	/* libevent hands its stored errors back newest first. */
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (tls_is_reason(e))
			oldest = e;
	ERR_clear_error();
	if (oldest == 0) {
		snprintf(buf, len, "%s", saved != 0 && saved != EAGAIN
		    ? strerror(saved) : "connection closed");
		return;
	}
	tls_reason_of(oldest, buf, len);
	if (ERR_GET_LIB(oldest) != ERR_LIB_SSL
	    || ERR_GET_REASON(oldest) != SSL_R_CERTIFICATE_VERIFY_FAILED
	    || ssl == NULL)
		return;
	verify = SSL_get_verify_result(ssl);
	n = strlen(buf);
	if (verify != X509_V_OK && n < len)
		snprintf(buf + n, len - n, " (%s)",
		    X509_verify_cert_error_string(verify));
}
