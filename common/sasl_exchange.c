/* sasl_exchange: one server-side SASL exchange over libsasl2 (see .h). */
#include "sasl_exchange.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>

#include "base64.h"
#include "log.h"
#include "sasl.h"
#include "xmalloc.h"

/* libsasl2 loads no other mechanism: nothing else can be started. */
#define LIBSASL_MECHS "PLAIN LOGIN"

struct sasl_exchange {
	enum sasl_mech mech;
	sasl_conn_t *conn;          /* PLAIN, LOGIN */
	sasl_callback_t cb[4];
	bool started, finished;
	bool bad;                   /* a NUL inside the password */
	char *user, *pass;          /* from the checkpass callback */
	char *authz;
	char *challenge_b64;
	char cram_challenge[300];
	char *cram_digest;
	struct sasl_creds creds;
};

/* libsasl2 keeps callbacks as int (*)(void); void (*)(void) converts to
 * and from any function type without a warning. */
#define LIB_CALLBACK(fn) ((int (*)(void))(void (*)(void))(fn))

static int
lib_getopt(void *ctx, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	(void)ctx;
	(void)plugin;
	if (strcmp(option, "mech_list") != 0)
		return SASL_FAIL;       /* libsasl2's default */
	*result = LIBSASL_MECHS;
	if (len != NULL)
		*len = (unsigned)strlen(LIBSASL_MECHS);
	return SASL_OK;
}

static int
lib_log(void *ctx, int level, const char *message)
{
	(void)ctx;
	if (level <= SASL_LOG_ERR)
		log_warn("libsasl2: %s", message);
	else
		log_debug("libsasl2: %s", message);
	return SASL_OK;
}

static sasl_callback_t lib_callbacks[] = {
	{ SASL_CB_GETOPT, LIB_CALLBACK(lib_getopt), NULL },
	{ SASL_CB_LOG, LIB_CALLBACK(lib_log), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

static bool
lib_has_mech(const char *name)
{
	const char **mechs = sasl_global_listmech();

	for (size_t i = 0; mechs != NULL && mechs[i] != NULL; i++)
		if (strcasecmp(mechs[i], name) == 0)
			return true;
	return false;
}

const char *
sasl_exchange_setup(void)
{
	static bool ready;

	if (ready)
		return NULL;
	if (sasl_server_init(lib_callbacks, "mailsuite") != SASL_OK)
		return "libsasl2 does not start";
	if (!lib_has_mech("PLAIN") || !lib_has_mech("LOGIN"))
		return "libsasl2 has no PLAIN or LOGIN plugin "
		    "(Debian: libsasl2-modules)";
	ready = true;
	return NULL;
}

enum sasl_mech
sasl_mech_named(const char *name)
{
	if (strcasecmp(name, "PLAIN") == 0)
		return SASL_MECH_PLAIN;
	if (strcasecmp(name, "LOGIN") == 0)
		return SASL_MECH_LOGIN;
	if (strcasecmp(name, "CRAM-MD5") == 0)
		return SASL_MECH_CRAM_MD5;
	return SASL_MECH_NONE;
}

bool
sasl_mech_sends_password(enum sasl_mech mech)
{
	return mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN;
}

/*
 * The verdict is not libsasl2's: record what the client gave and say yes;
 * the caller checks it against the directory.  A NUL inside the password
 * cannot be handed to a bind, so it makes the exchange malformed.
 */
static int
conn_checkpass(sasl_conn_t *conn, void *ctx, const char *user,
    const char *pass, unsigned passlen, struct propctx *props)
{
	struct sasl_exchange *x = ctx;

	(void)conn;
	(void)props;
	free(x->user);
	x->user = xstrdup(user);
	if (x->pass != NULL) {
		explicit_bzero(x->pass, strlen(x->pass));
		free(x->pass);
	}
	x->pass = xstrndup(pass, passlen);
	x->bad = strlen(x->pass) != passlen;
	return SASL_OK;
}

/* Names pass unchanged (no realm added, no white space trimmed): the
 * directory decides what they mean.  A NUL inside one is malformed. */
static int
conn_canon_user(sasl_conn_t *conn, void *ctx, const char *in, unsigned inlen,
    unsigned flags, const char *realm, char *out, unsigned out_max,
    unsigned *out_len)
{
	(void)conn;
	(void)ctx;
	(void)flags;
	(void)realm;
	if (inlen == 0 || inlen >= out_max || memchr(in, '\0', inlen) != NULL)
		return SASL_BADPROT;
	memcpy(out, in, inlen);
	out[inlen] = '\0';
	*out_len = inlen;
	return SASL_OK;
}

/* Who may act for whom is the caller's decision (store.admins). */
static int
conn_proxy_policy(sasl_conn_t *conn, void *ctx, const char *requested,
    unsigned rlen, const char *auth, unsigned alen, const char *realm,
    unsigned urlen, struct propctx *props)
{
	(void)conn;
	(void)ctx;
	(void)requested;
	(void)rlen;
	(void)auth;
	(void)alen;
	(void)realm;
	(void)urlen;
	(void)props;
	return SASL_OK;
}

static bool
exchange_open_lib(struct sasl_exchange *x, const char *service,
    const char *host)
{
	sasl_security_properties_t props = { .max_ssf = 0 };
	sasl_callback_t cb[] = {
		{ SASL_CB_SERVER_USERDB_CHECKPASS, LIB_CALLBACK(conn_checkpass), x },
		{ SASL_CB_CANON_USER, LIB_CALLBACK(conn_canon_user), x },
		{ SASL_CB_PROXY_POLICY, LIB_CALLBACK(conn_proxy_policy), x },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	int rc;

	memcpy(x->cb, cb, sizeof(x->cb));
	rc = sasl_server_new(service, host, NULL, NULL, NULL, x->cb, 0, &x->conn);
	if (rc != SASL_OK) {
		log_err("libsasl2: no connection for %s: %s", service,
		    sasl_errstring(rc, NULL, NULL));
		return false;
	}
	/* No security layer; TLS is the caller's, and so is the rule that
	 * passwords need it. */
	sasl_setprop(x->conn, SASL_SEC_PROPS, &props);
	return true;
}

struct sasl_exchange *
sasl_exchange_new(enum sasl_mech mech, const char *service, const char *host)
{
	struct sasl_exchange *x = xcalloc(1, sizeof(*x));

	x->mech = mech;
	if (mech == SASL_MECH_CRAM_MD5) {
		sasl_challenge(x->cram_challenge, sizeof(x->cram_challenge), host);
		return x;
	}
	if (mech == SASL_MECH_NONE || !exchange_open_lib(x, service, host)) {
		free(x);
		return NULL;
	}
	return x;
}

/* Base64 to bytes; "=" (a first response only) is empty.  NULL when
 * malformed. */
static char *
exchange_decode(const char *b64, bool first, size_t *len)
{
	size_t n = strlen(b64);
	char *data;

	if (first && strcmp(b64, "=") == 0)
		n = 0;
	data = xmalloc(n / 4 * 3 + 3);
	if (!base64_decode(b64, n, data, len)) {
		free(data);
		return NULL;
	}
	return data;
}

static void
exchange_set_challenge(struct sasl_exchange *x, const char *data, size_t len)
{
	free(x->challenge_b64);
	x->challenge_b64 = xmalloc((len + 2) / 3 * 4 + 1);
	base64_encode(data, len, x->challenge_b64);
}

/* libsasl2 finished with yes: what the callbacks recorded. */
static enum sasl_outcome
exchange_lib_creds(struct sasl_exchange *x)
{
	const void *authz = NULL;

	if (x->user == NULL || x->pass == NULL || x->bad)
		return SASL_MALFORMED;
	if (sasl_getprop(x->conn, SASL_USERNAME, &authz) != SASL_OK ||
	    authz == NULL)
		authz = x->user;
	x->authz = xstrdup(strcmp(authz, x->user) == 0 ? "" : authz);
	x->creds = (struct sasl_creds){ .mech = x->mech, .authc = x->user,
	    .authz = x->authz, .pass = x->pass };
	return SASL_GOT_CREDS;
}

static enum sasl_outcome
exchange_lib_step(struct sasl_exchange *x, const char *data, size_t len,
    bool none, const char **challenge)
{
	const char *out = NULL;
	unsigned outlen = 0;
	int rc;

	if (!x->started)
		rc = sasl_server_start(x->conn, x->mech == SASL_MECH_PLAIN ?
		    "PLAIN" : "LOGIN", none ? NULL : data, (unsigned)len, &out,
		    &outlen);
	else
		rc = sasl_server_step(x->conn, data, (unsigned)len, &out, &outlen);
	x->started = true;
	if (rc == SASL_CONTINUE) {
		exchange_set_challenge(x, out, outlen);
		*challenge = x->challenge_b64;
		return SASL_NEED_MORE;
	}
	x->finished = true;
	if (rc == SASL_OK)
		return exchange_lib_creds(x);
	log_debug("libsasl2: %s", sasl_errdetail(x->conn));
	return SASL_MALFORMED;
}

/* CRAM-MD5: our challenge first, then "login SP digest". */
static enum sasl_outcome
exchange_cram_step(struct sasl_exchange *x, char *data, size_t len,
    bool none, const char **challenge)
{
	char *sp;

	if (!x->started) {
		x->started = true;
		if (!none)
			return SASL_MALFORMED;  /* no initial response possible */
		exchange_set_challenge(x, x->cram_challenge,
		    strlen(x->cram_challenge));
		*challenge = x->challenge_b64;
		return SASL_NEED_MORE;
	}
	x->finished = true;
	if (memchr(data, '\0', len) != NULL)
		return SASL_MALFORMED;
	sp = strrchr(data, ' ');
	if (sp == NULL || sp == data || sp[1] == '\0')
		return SASL_MALFORMED;
	*sp = '\0';
	x->user = xstrdup(data);
	x->cram_digest = xstrdup(sp + 1);
	x->creds = (struct sasl_creds){ .mech = x->mech, .authc = x->user,
	    .authz = "", .challenge = x->cram_challenge,
	    .digest = x->cram_digest };
	return SASL_GOT_CREDS;
}

enum sasl_outcome
sasl_exchange_step(struct sasl_exchange *x, const char *b64,
    const char **challenge)
{
	bool none = b64 == NULL;
	size_t len = 0;
	char *data = NULL;
	enum sasl_outcome out;

	*challenge = NULL;
	if (x->finished || (none && x->started))
		return SASL_MALFORMED;
	if (!none && (data = exchange_decode(b64, !x->started, &len)) == NULL) {
		x->finished = true;
		return SASL_MALFORMED;
	}
	if (x->mech == SASL_MECH_CRAM_MD5)
		out = exchange_cram_step(x, data, len, none, challenge);
	else
		out = exchange_lib_step(x, data, len, none, challenge);
	if (data != NULL) {
		explicit_bzero(data, len);
		free(data);
	}
	return out;
}

const struct sasl_creds *
sasl_exchange_creds(const struct sasl_exchange *x)
{
	return &x->creds;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
sasl_exchange_free(struct sasl_exchange **xp)
{
	struct sasl_exchange *x = *xp;

	if (x == NULL)
		return;
	if (x->conn != NULL)
		sasl_dispose(&x->conn);
	wipe_free(x->user);
	wipe_free(x->pass);
	wipe_free(x->authz);
	wipe_free(x->cram_digest);
	free(x->challenge_b64);
	free(x);
	*xp = NULL;
}
