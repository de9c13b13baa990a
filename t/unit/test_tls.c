/* test_tls: context creation and its errors (missing and garbage files, a
 * key that does not match, bad protocol and cipher settings), the
 * accessors on plain and TLS bufferevents, and real handshakes over a
 * socketpair on one event loop: implicit TLS, name verification (DNS and
 * IP), client certificates, a garbage ClientHello, a context freed under a
 * live connection, and STARTTLS hand-over discarding pipelined plaintext.
 * Certificates are made here with OpenSSL, in a temporary directory. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "unit.h"
#include "xmalloc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[64];
static struct event_base *base;

static char *
at(const char *name)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % N(paths)];

	snprintf(p, 128, "%s/%s", tmpdir, name);
	return p;
}

/* ---- test material ---- */

static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	if (x != NULL)
		PEM_write_X509(f, x);
	if (key != NULL)
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

/* cert.pem/key.pem (self-signed, localhost and 127.0.0.1), other.key,
 * garbage.pem, and client.pem/client.key (a second self-signed pair). */
static void
make_material(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	EVP_PKEY *ckey = EVP_EC_gen("P-256");
	X509 *cert = make_cert(key, "localhost", "DNS:localhost,IP:127.0.0.1");
	X509 *ccert = make_cert(ckey, "client", "DNS:client.example.com");
	FILE *f;

	write_pem(at("cert.pem"), cert, NULL);
	write_pem(at("key.pem"), NULL, key);
	write_pem(at("other.key"), NULL, other);
	write_pem(at("client.pem"), ccert, NULL);
	write_pem(at("client.key"), NULL, ckey);
	if ((f = fopen(at("garbage.pem"), "w")) != NULL) {
		fputs("this is not PEM\n", f);
		fclose(f);
	}
	X509_free(cert);
	X509_free(ccert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ckey);
}

/* ---- contexts ---- */

static const struct {
	const char *name;
	const char *cert, *key, *ca, *min, *ciphers, *suites;
	const char *err;                /* substring of the error; NULL: ok */
} server_cases[] = {
	{ "ok", "cert.pem", "key.pem", NULL, NULL, NULL, NULL, NULL },
	{ "ok tls1.3 and client CA", "cert.pem", "key.pem", "client.pem",
	    "tlsv1.3", NULL, NULL, NULL },
	{ "own ciphers", "cert.pem", "key.pem", NULL, "TLSv1.2",
	    "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_128_GCM_SHA256", NULL },
	{ "no certificate", NULL, "key.pem", NULL, NULL, NULL, NULL,
	    "needs a certificate" },
	{ "missing certificate", "nope.pem", "key.pem", NULL, NULL, NULL, NULL,
	    "TLS certificate \"%s/nope.pem\": No such file or directory" },
	{ "missing key", "cert.pem", "nope.key", NULL, NULL, NULL, NULL,
	    "TLS private key \"%s/nope.key\": No such file or directory" },
	{ "garbage certificate", "garbage.pem", "key.pem", NULL, NULL, NULL,
	    NULL, "TLS certificate \"%s/garbage.pem\": no start line" },
	{ "garbage key", "cert.pem", "garbage.pem", NULL, NULL, NULL, NULL,
	    "TLS private key \"%s/garbage.pem\": " },
	{ "key mismatch", "cert.pem", "other.key", NULL, NULL, NULL, NULL,
	    "TLS private key \"%s/other.key\" does not match certificate "
	    "\"%s/cert.pem\": key values mismatch" },
	{ "missing CA", "cert.pem", "key.pem", "nope-ca.pem", NULL, NULL, NULL,
	    "TLS CA file \"%s/nope-ca.pem\": No such file or directory" },
	{ "garbage CA", "cert.pem", "key.pem", "garbage.pem", NULL, NULL, NULL,
	    "TLS CA file \"%s/garbage.pem\": " },
	{ "bad protocol", "cert.pem", "key.pem", NULL, "SSLv3", NULL, NULL,
	    "TLS minimum protocol \"SSLv3\"" },
	{ "bad ciphers", "cert.pem", "key.pem", NULL, NULL, "NOPE", NULL,
	    "TLS ciphers \"NOPE\": no cipher match" },
	{ "bad suites", "cert.pem", "key.pem", NULL, NULL, NULL, "TLS_NOPE",
	    "TLS 1.3 ciphersuites \"TLS_NOPE\": " },
};

static const char *
opt_path(const char *name)
{
	return name != NULL ? xstrdup(at(name)) : NULL;
}

static void
test_server_ctx(void)
{
	for (size_t i = 0; i < N(server_cases); i++) {
		struct tls_server_config cfg = {
			.cert_file = opt_path(server_cases[i].cert),
			.key_file = opt_path(server_cases[i].key),
			.ca_file = opt_path(server_cases[i].ca),
			.min_protocol = server_cases[i].min,
			.ciphers = server_cases[i].ciphers,
			.ciphersuites = server_cases[i].suites,
		};
		char *err = NULL, want[512];
		struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &err);

		if (server_cases[i].err == NULL) {
			CHECK(ctx != NULL);
			CHECK(err == NULL);
			if (err != NULL)
				fprintf(stderr, "  %s: %s\n", server_cases[i].name, err);
		} else {
			snprintf(want, sizeof(want), server_cases[i].err, tmpdir, tmpdir);
			CHECK(ctx == NULL);
			CHECK(err != NULL && strstr(err, want) != NULL);
			if (err == NULL || strstr(err, want) == NULL)
				fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n",
				    server_cases[i].name, err ? err : "(null)", want);
		}
		tls_ctx_free(&ctx);
		CHECK(ctx == NULL);
		free(err);
		free((char *)cfg.cert_file);
		free((char *)cfg.key_file);
		free((char *)cfg.ca_file);
	}
}

static void
test_client_ctx(void)
{
	struct tls_client_config ok = { .verify = TLS_VERIFY_PEER,
	    .ca_file = at("cert.pem") };
	struct tls_client_config sys = { .verify = TLS_VERIFY_PEER };
	struct tls_client_config none = { .verify = TLS_VERIFY_NONE,
	    .cert_file = at("client.pem"), .key_file = at("client.key") };
	struct tls_client_config missing = { .verify = TLS_VERIFY_PEER,
	    .ca_file = at("nope.pem") };
	struct tls_client_config half = { .cert_file = at("client.pem") };
	struct tls_client_config mismatch = { .cert_file = at("client.pem"),
	    .key_file = at("key.pem") };
	char *err;
	struct tls_ctx *ctx;

	CHECK((ctx = tls_client_ctx_new(&ok, &err)) != NULL && err == NULL);
	tls_ctx_free(&ctx);
	CHECK((ctx = tls_client_ctx_new(&sys, &err)) != NULL && err == NULL);
	tls_ctx_free(&ctx);
	CHECK((ctx = tls_client_ctx_new(&none, &err)) != NULL && err == NULL);
	tls_ctx_free(&ctx);
	CHECK(tls_client_ctx_new(&missing, &err) == NULL);
	CHECK(err != NULL && strstr(err, "No such file or directory") != NULL);
	free(err);
	CHECK(tls_client_ctx_new(&half, &err) == NULL);
	CHECK(err != NULL && strstr(err, "go together") != NULL);
	free(err);
	CHECK(tls_client_ctx_new(&mismatch, &err) == NULL);
	CHECK(err != NULL && strstr(err, "does not match") != NULL);
	free(err);
	tls_ctx_free(&ctx);     /* NULL is fine */
}

static void
test_protocol_valid(void)
{
	static const struct { const char *name; bool ok; } cases[] = {
		{ "TLSv1.2", true }, { "tlsv1.3", true }, { "TLSv1", true },
		{ "TLSv1.1", true }, { "SSLv3", false }, { "1.2", false },
		{ "", false }, { NULL, false },
	};
	for (size_t i = 0; i < N(cases); i++)
		CHECK(tls_protocol_valid(cases[i].name) == cases[i].ok);
}

/* ---- connections on the loop ---- */

struct end {
	struct bufferevent *bev;
	bool connected, failed, eof;
	char reason[256];
	char got[256];
	size_t ngot;
};

static void
end_on_read(struct bufferevent *bev, void *arg)
{
	struct end *e = arg;
	size_t n = bufferevent_read(bev, e->got + e->ngot,
	    sizeof(e->got) - 1 - e->ngot);

	e->ngot += n;
	e->got[e->ngot] = '\0';
}

static void
end_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct end *e = arg;

	if (what & BEV_EVENT_CONNECTED)
		e->connected = true;
	else if (what & BEV_EVENT_ERROR) {
		e->failed = true;
		tls_error(bev, e->reason, sizeof(e->reason));
	} else if (what & BEV_EVENT_EOF)
		e->eof = true;
}

static void
end_attach(struct end *e, struct bufferevent *bev)
{
	e->bev = bev;
	bufferevent_setcb(bev, end_on_read, NULL, end_on_event, e);
	bufferevent_enable(bev, EV_READ);
}

/* Both ends of one connection. */
struct conn {
	struct end srv, cli;
};

/* Run the loop until done(arg) or 5 seconds. */
static void
run_until(bool (*done)(void *), void *arg)
{
	struct timeval tick = { 0, 10000 };

	for (int i = 0; i < 500 && !done(arg); i++) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

static bool
both_connected(void *arg)
{
	struct conn *c = arg;

	return (c->srv.connected || c->srv.failed)
	    && (c->cli.connected || c->cli.failed);
}

static bool
closed(void *arg)
{
	struct end *e = arg;

	return e->failed || e->eof;
}

static bool
got_line(void *arg)
{
	struct end *e = arg;

	return strchr(e->got, '\n') != NULL || e->failed || e->eof;
}

static struct tls_ctx *
server_ctx(const char *ca)
{
	struct tls_server_config cfg = { .cert_file = at("cert.pem"),
	    .key_file = at("key.pem"), .ca_file = ca };
	char *err;
	struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &err);

	if (ctx == NULL) {
		fprintf(stderr, "server_ctx: %s\n", err);
		exit(1);
	}
	return ctx;
}

static struct tls_ctx *
client_ctx(enum tls_verify verify, bool with_cert)
{
	struct tls_client_config cfg = { .verify = verify,
	    .ca_file = at("cert.pem") };
	char *err;
	struct tls_ctx *ctx;

	if (with_cert) {
		cfg.cert_file = at("client.pem");
		cfg.key_file = at("client.key");
	}
	if ((ctx = tls_client_ctx_new(&cfg, &err)) == NULL) {
		fprintf(stderr, "client_ctx: %s\n", err);
		exit(1);
	}
	return ctx;
}

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
}

static void
test_accessors_plain(void)
{
	int sv[2];
	struct bufferevent *bev;
	char buf[128];

	pair(sv);
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	CHECK(!tls_active(bev));
	CHECK(tls_protocol(bev) == NULL);
	CHECK(tls_cipher(bev) == NULL);
	CHECK(tls_cipher_bits(bev) == 0);
	CHECK(tls_cipher_at_least(bev, 0));
	CHECK(tls_cipher_at_least(bev, -1));
	CHECK(!tls_cipher_at_least(bev, 1));
	CHECK(!tls_peer_verified(bev));
	tls_log_fields(bev, buf, sizeof(buf));
	CHECK_STR(buf, "tls=no");
	tls_received_clause(bev, buf, sizeof(buf));
	CHECK_STR(buf, "");
	tls_free(&bev);
	CHECK(bev == NULL);
	tls_free(&bev);
	close(sv[1]);
}

/* An implicit-TLS connection between server ctx s and client ctx c. */
static void
connect_pair(struct tls_ctx *s, struct tls_ctx *c, const char *name,
    struct conn *k)
{
	int sv[2];

	memset(k, 0, sizeof(*k));
	pair(sv);
	end_attach(&k->srv, tls_server_accept(s, base, sv[0]));
	end_attach(&k->cli, tls_client_connect(c, base, sv[1], name));
	run_until(both_connected, k);
}

static void
disconnect(struct conn *k)
{
	tls_free(&k->srv.bev);
	tls_free(&k->cli.bev);
}

static void
check_accessors(struct conn *k)
{
	char buf[256];

	CHECK(tls_active(k->srv.bev) && tls_active(k->cli.bev));
	CHECK_STR(tls_protocol(k->srv.bev), "TLSv1.3");
	CHECK(tls_cipher(k->srv.bev) != NULL
	    && strcmp(tls_cipher(k->srv.bev), tls_cipher(k->cli.bev)) == 0);
	CHECK(tls_cipher_bits(k->srv.bev) >= 128);
	CHECK(tls_cipher_at_least(k->srv.bev, 128));
	CHECK(!tls_cipher_at_least(k->srv.bev, 100000));
	CHECK(tls_peer_verified(k->cli.bev));
	CHECK(!tls_peer_verified(k->srv.bev));  /* no client certificate */
	tls_log_fields(k->srv.bev, buf, sizeof(buf));
	CHECK(strncmp(buf, "tls=TLSv1.3 cipher=TLS_", 23) == 0
	    && strstr(buf, " bits=") != NULL);
	tls_received_clause(k->srv.bev, buf, sizeof(buf));
	CHECK(strncmp(buf, "(using TLSv1.3 with cipher TLS_", 31) == 0
	    && strstr(buf, " bits))") != NULL);
}

static void
test_handshake(void)
{
	struct tls_ctx *s = server_ctx(NULL);
	struct tls_ctx *c = client_ctx(TLS_VERIFY_PEER, false);
	struct conn k;

	connect_pair(s, c, "localhost", &k);
	CHECK(k.srv.connected && k.cli.connected);
	check_accessors(&k);
	bufferevent_write(k.cli.bev, "hello\r\n", 7);
	run_until(got_line, &k.srv);
	CHECK_STR(k.srv.got, "hello\r\n");
	/* A closing server says close_notify: the client sees a clean EOF. */
	tls_free(&k.srv.bev);
	run_until(closed, &k.cli);
	CHECK(k.cli.eof && !k.cli.failed);
	disconnect(&k);
	tls_ctx_free(&s);
	tls_ctx_free(&c);
}

static const struct {
	const char *name;
	bool ok;
} name_cases[] = {
	{ "localhost", true },
	{ "LOCALHOST", true },
	{ "127.0.0.1", true },          /* IP SAN */
	{ "other.example.com", false },
	{ "127.0.0.2", false },
};

static void
test_verify_names(void)
{
	struct tls_ctx *s = server_ctx(NULL);
	struct tls_ctx *c = client_ctx(TLS_VERIFY_PEER, false);
	struct tls_ctx *lax = client_ctx(TLS_VERIFY_NONE, false);
	struct tls_client_config other_ca = { .verify = TLS_VERIFY_PEER,
	    .ca_file = at("client.pem") };
	char *err;
	struct tls_ctx *stranger = tls_client_ctx_new(&other_ca, &err);
	struct conn k;

	for (size_t i = 0; i < N(name_cases); i++) {
		connect_pair(s, c, name_cases[i].name, &k);
		CHECK(k.cli.connected == name_cases[i].ok);
		if (k.cli.connected != name_cases[i].ok)
			fprintf(stderr, "  name %s: %s\n", name_cases[i].name,
			    k.cli.reason);
		if (!name_cases[i].ok) {
			CHECK(k.cli.failed);
			CHECK(strstr(k.cli.reason, "certificate verify failed") != NULL);
			CHECK(strstr(k.cli.reason, "mismatch") != NULL);
			run_until(closed, &k.srv);
			CHECK(k.srv.failed || k.srv.eof);
		}
		disconnect(&k);
	}
	/* A chain that does not lead to the configured CA. */
	connect_pair(s, stranger, "localhost", &k);
	CHECK(k.cli.failed && !k.cli.connected);
	CHECK(strstr(k.cli.reason, "certificate verify failed (") != NULL);
	disconnect(&k);
	/* Verification off: any name goes, and nothing is "verified". */
	connect_pair(s, lax, "other.example.com", &k);
	CHECK(k.cli.connected && !tls_peer_verified(k.cli.bev));
	disconnect(&k);
	tls_ctx_free(&s);
	tls_ctx_free(&c);
	tls_ctx_free(&lax);
	tls_ctx_free(&stranger);
}

static void
test_client_certificate(void)
{
	struct tls_ctx *s = server_ctx(at("client.pem"));
	struct tls_ctx *with = client_ctx(TLS_VERIFY_PEER, true);
	struct tls_ctx *without = client_ctx(TLS_VERIFY_PEER, false);
	struct conn k;

	connect_pair(s, with, "localhost", &k);
	CHECK(k.srv.connected && k.cli.connected);
	CHECK(tls_peer_verified(k.srv.bev));
	disconnect(&k);
	connect_pair(s, without, "localhost", &k);
	CHECK(k.srv.connected && k.cli.connected);  /* optional: still served */
	CHECK(!tls_peer_verified(k.srv.bev));
	disconnect(&k);
	tls_ctx_free(&s);
	tls_ctx_free(&with);
	tls_ctx_free(&without);
}

/* A connection outlives the context it was made from (SIGHUP reload). */
static void
test_ctx_freed_under_connection(void)
{
	struct tls_ctx *s = server_ctx(NULL);
	struct tls_ctx *c = client_ctx(TLS_VERIFY_PEER, false);
	struct conn k;
	int sv[2];

	memset(&k, 0, sizeof(k));
	pair(sv);
	end_attach(&k.srv, tls_server_accept(s, base, sv[0]));
	tls_ctx_free(&s);               /* before the handshake even starts */
	CHECK(s == NULL);
	end_attach(&k.cli, tls_client_connect(c, base, sv[1], "localhost"));
	run_until(both_connected, &k);
	CHECK(k.srv.connected && k.cli.connected);
	disconnect(&k);
	tls_ctx_free(&c);
}

/* Not TLS at all: the server fails the handshake with a reason. */
static void
test_garbage_client_hello(void)
{
	static const struct { const char *data; size_t len; } garbage[] = {
		{ "GET / HTTP/1.0\r\n\r\n", 18 },
		{ "a001 LOGIN user pass\r\n", 22 },
		{ "\x17\x03\x03\x00\x05hello", 10 },  /* data before a handshake */
		{ "\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9 }, /* empty hello */
	};
	struct tls_ctx *s = server_ctx(NULL);
	struct end srv;
	int sv[2];

	for (size_t i = 0; i < N(garbage); i++) {
		memset(&srv, 0, sizeof(srv));
		pair(sv);
		end_attach(&srv, tls_server_accept(s, base, sv[0]));
		CHECK(write(sv[1], garbage[i].data, garbage[i].len)
		    == (ssize_t)garbage[i].len);
		run_until(closed, &srv);
		CHECK(srv.failed);
		CHECK(srv.reason[0] != '\0'
		    && strstr(srv.reason, "unknown") == NULL
		    && strstr(srv.reason, "error:") == NULL);
		fprintf(stderr, "  garbage %zu: %s\n", i, srv.reason);
		tls_free(&srv.bev);
		close(sv[1]);
	}
	tls_ctx_free(&s);
}

/* ---- STARTTLS ---- */

struct starttls {
	struct tls_ctx *s, *c;
	struct conn k;
	size_t discarded;
	bool upgraded;
};

/* The server's go-ahead has gone: hand its socket to TLS. */
static void
starttls_on_write(struct bufferevent *bev, void *arg)
{
	struct starttls *t = arg;
	char *err;

	if (t->upgraded || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	t->upgraded = true;
	bev = tls_server_starttls(t->s, &t->k.srv.bev, &t->discarded, &err);
	CHECK(bev != NULL && t->k.srv.bev == NULL && err == NULL);
	end_attach(&t->k.srv, bev);
}

static bool
upgraded(void *arg)
{
	return ((struct starttls *)arg)->upgraded;
}

/* The server side up to the hand-over: the client's pipelined plaintext
 * is all in the input buffer, and only "STARTTLS\r\n" was consumed. */
static void
starttls_server(struct starttls *t, int fd, const char *pipelined)
{
	struct bufferevent *plain;
	char line[16];

	plain = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	t->k.srv.bev = plain;
	bufferevent_enable(plain, EV_READ);
	while (evbuffer_get_length(bufferevent_get_input(plain))
	    < strlen(pipelined))
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(bufferevent_read(plain, line, 10) == 10); /* "STARTTLS\r\n" */
	bufferevent_disable(plain, EV_READ);
	bufferevent_setcb(plain, NULL, starttls_on_write, NULL, t);
	bufferevent_write(plain, "OK begin TLS\r\n", 14);
	run_until(upgraded, t);
}

static void
test_starttls_discards_pipelined(void)
{
	static const char pipelined[] = "STARTTLS\r\nINFO\r\nQUIT\r\n";
	struct starttls t = { .s = server_ctx(NULL),
	    .c = client_ctx(TLS_VERIFY_PEER, false) };
	struct bufferevent *bev;
	size_t discarded;
	char *err;
	int sv[2];

	pair(sv);
	/* The client pipelines commands after STARTTLS in one write. */
	CHECK(write(sv[1], pipelined, strlen(pipelined)) > 0);
	starttls_server(&t, sv[0], pipelined);
	CHECK(t.upgraded);
	CHECK(t.discarded == strlen(pipelined) - 10);
	/* The client reads the go-ahead in plaintext, then starts TLS. */
	end_attach(&t.k.cli, bufferevent_socket_new(base, sv[1],
	    BEV_OPT_CLOSE_ON_FREE));
	run_until(got_line, &t.k.cli);
	CHECK_STR(t.k.cli.got, "OK begin TLS\r\n");
	t.k.cli.ngot = 0;
	t.k.cli.got[0] = '\0';
	bev = tls_client_starttls(t.c, &t.k.cli.bev, "localhost", &discarded,
	    &err);
	CHECK(bev != NULL && t.k.cli.bev == NULL && discarded == 0);
	end_attach(&t.k.cli, bev);
	run_until(both_connected, &t.k);
	CHECK(t.k.srv.connected && t.k.cli.connected);
	/* Nothing of the plaintext reached the TLS session. */
	bufferevent_write(t.k.cli.bev, "after\r\n", 7);
	run_until(got_line, &t.k.srv);
	CHECK_STR(t.k.srv.got, "after\r\n");
	disconnect(&t.k);
	tls_ctx_free(&t.s);
	tls_ctx_free(&t.c);
}

/* The go-ahead still buffered is written out by the hand-over itself;
 * a bufferevent that is TLS already is refused. */
static void
test_starttls_edges(void)
{
	struct tls_ctx *s = server_ctx(NULL);
	struct tls_ctx *c = client_ctx(TLS_VERIFY_PEER, false);
	struct bufferevent *bev;
	struct conn k;
	size_t discarded;
	char *err, buf[32] = "";
	int sv[2];

	memset(&k, 0, sizeof(k));
	pair(sv);
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_write(bev, "OK go\r\n", 7);
	k.srv.bev = tls_server_starttls(s, &bev, &discarded, &err);
	CHECK(k.srv.bev != NULL && bev == NULL && discarded == 0);
	if (k.srv.bev == NULL) {
		fprintf(stderr, "  starttls: %s\n", err);
		exit(1);
	}
	end_attach(&k.srv, k.srv.bev);
	CHECK(read(sv[1], buf, sizeof(buf)) == 7 && strcmp(buf, "OK go\r\n") == 0);
	end_attach(&k.cli, tls_client_connect(c, base, sv[1], "localhost"));
	run_until(both_connected, &k);
	CHECK(k.srv.connected && k.cli.connected);
	CHECK(tls_server_starttls(s, &k.srv.bev, &discarded, &err) == NULL);
	CHECK(k.srv.bev == NULL && err != NULL
	    && strstr(err, "not a plain") != NULL);
	free(err);
	disconnect(&k);
	tls_ctx_free(&s);
	tls_ctx_free(&c);
}

static void
rm_material(void)
{
	static const char *const names[] = { "cert.pem", "key.pem",
	    "other.key", "client.pem", "client.key", "garbage.pem" };

	for (size_t i = 0; i < N(names); i++)
		unlink(at(names[i]));
	rmdir(tmpdir);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tls.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	make_material();
	signal(SIGPIPE, SIG_IGN);       /* as every daemon does (proc.h) */
	base = event_base_new();
	UNIT_RUN(test_protocol_valid);
	UNIT_RUN(test_server_ctx);
	UNIT_RUN(test_client_ctx);
	UNIT_RUN(test_accessors_plain);
	UNIT_RUN(test_handshake);
	UNIT_RUN(test_verify_names);
	UNIT_RUN(test_client_certificate);
	UNIT_RUN(test_ctx_freed_under_connection);
	UNIT_RUN(test_garbage_client_hello);
	UNIT_RUN(test_starttls_discards_pipelined);
	UNIT_RUN(test_starttls_edges);
	event_base_free(base);
	rm_material();
	return unit_done();
}
