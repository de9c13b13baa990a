/*
 * Unit tests for common/sasl_exchange (over the real libsasl2 and its
 * PLAIN and LOGIN plugins) and common/sasl's digests.
 */
#include <string.h>

#include "base64.h"
#include "sasl.h"
#include "sasl_exchange.h"
#include "unit.h"

static const char *
b64(const char *data, size_t len)
{
	static char out[256];

	base64_encode(data, len, out);
	return out;
}

static const struct {
	const char *msg;
	size_t len;
	bool ok;
	const char *authz, *authc, *pass;
} plain_cases[] = {
	{ "\0alice\0secret", 13, true, "", "alice", "secret" },
	{ "bob\0alice\0s", 11, true, "bob", "alice", "s" },
	{ "alice\0alice\0s", 13, true, "", "alice", "s" },  /* authz = login */
	/* libsasl2 trims white space around names, not inside them. */
	{ "\0al ice \0pass word", 18, true, "", "al ice", "pass word" },
	{ "\0\0secret", 8, false, NULL, NULL, NULL },       /* no authcid */
	{ "alice\0secret", 12, false, NULL, NULL, NULL },    /* one NUL */
	{ "alice", 5, false, NULL, NULL, NULL },
	{ "\0a\0b\0c", 6, false, NULL, NULL, NULL },         /* NUL in passwd */
	{ "", 0, false, NULL, NULL, NULL },
};

/* PLAIN as an initial response, and as the answer to an empty challenge. */
static void
test_plain(void)
{
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		for (int ir = 0; ir < 2; ir++) {
			struct sasl_exchange *x = sasl_exchange_new(SASL_MECH_PLAIN,
			    "imap", "mail.test");
			const char *chal, *resp = b64(plain_cases[i].msg,
			    plain_cases[i].len);
			enum sasl_outcome o;
			CHECK(x != NULL);
			if (x == NULL)
				return;
			if (!ir) {
				CHECK(sasl_exchange_step(x, NULL, &chal) == SASL_NEED_MORE);
				CHECK_STR(chal, "");
			}
			o = sasl_exchange_step(x, *resp == '\0' && ir ? "=" : resp,
			    &chal);
			CHECK((o == SASL_GOT_CREDS) == plain_cases[i].ok);
			if (o == SASL_GOT_CREDS && plain_cases[i].ok) {
				const struct sasl_creds *c = sasl_exchange_creds(x);
				CHECK_STR(c->authz, plain_cases[i].authz);
				CHECK_STR(c->authc, plain_cases[i].authc);
				CHECK_STR(c->pass, plain_cases[i].pass);
				CHECK(c->mech == SASL_MECH_PLAIN);
			}
			/* Nothing more after the end. */
			CHECK(sasl_exchange_step(x, "YQ==", &chal) == SASL_MALFORMED);
			sasl_exchange_free(&x);
			CHECK(x == NULL);
		}
	}
}

static void
test_login(void)
{
	struct sasl_exchange *x = sasl_exchange_new(SASL_MECH_LOGIN, "smtp",
	    "mail.test");
	const char *chal;

	CHECK(sasl_exchange_step(x, NULL, &chal) == SASL_NEED_MORE);
	CHECK_STR(chal, "VXNlcm5hbWU6");            /* Username: */
	CHECK(sasl_exchange_step(x, b64("carol", 5), &chal) == SASL_NEED_MORE);
	CHECK_STR(chal, "UGFzc3dvcmQ6");            /* Password: */
	CHECK(sasl_exchange_step(x, b64("s3 cret", 7), &chal) == SASL_GOT_CREDS);
	CHECK_STR(sasl_exchange_creds(x)->authc, "carol");
	CHECK_STR(sasl_exchange_creds(x)->pass, "s3 cret");
	CHECK_STR(sasl_exchange_creds(x)->authz, "");
	sasl_exchange_free(&x);

	/* The user name as initial response (RFC 4954 AUTH LOGIN dXNlcg==). */
	x = sasl_exchange_new(SASL_MECH_LOGIN, "smtp", "mail.test");
	CHECK(sasl_exchange_step(x, b64("dave", 4), &chal) == SASL_NEED_MORE);
	CHECK_STR(chal, "UGFzc3dvcmQ6");
	CHECK(sasl_exchange_step(x, b64("pw", 2), &chal) == SASL_GOT_CREDS);
	CHECK_STR(sasl_exchange_creds(x)->authc, "dave");
	sasl_exchange_free(&x);

	/* A NUL inside the name or the password; base64 that is not. */
	x = sasl_exchange_new(SASL_MECH_LOGIN, "smtp", "mail.test");
	CHECK(sasl_exchange_step(x, b64("da\0ve", 5), &chal) != SASL_GOT_CREDS);
	sasl_exchange_free(&x);
	x = sasl_exchange_new(SASL_MECH_LOGIN, "smtp", "mail.test");
	CHECK(sasl_exchange_step(x, b64("dave", 4), &chal) == SASL_NEED_MORE);
	CHECK(sasl_exchange_step(x, b64("p\0w", 3), &chal) == SASL_MALFORMED);
	sasl_exchange_free(&x);
	x = sasl_exchange_new(SASL_MECH_LOGIN, "smtp", "mail.test");
	CHECK(sasl_exchange_step(x, "not base64!", &chal) == SASL_MALFORMED);
	sasl_exchange_free(&x);
}

static void
test_cram(void)
{
	struct sasl_exchange *x = sasl_exchange_new(SASL_MECH_CRAM_MD5, "imap",
	    "mail.test");
	const char *chal;
	char decoded[256];
	size_t n;

	CHECK(sasl_exchange_step(x, NULL, &chal) == SASL_NEED_MORE);
	CHECK(base64_decode(chal, strlen(chal), decoded, &n));
	CHECK(decoded[0] == '<' && strstr(decoded, "@mail.test>") != NULL);
	CHECK(sasl_exchange_step(x, b64("erin 0123456789abcdef0123456789abcdef",
	    37), &chal) == SASL_GOT_CREDS);
	CHECK_STR(sasl_exchange_creds(x)->authc, "erin");
	CHECK_STR(sasl_exchange_creds(x)->digest,
	    "0123456789abcdef0123456789abcdef");
	CHECK_STR(sasl_exchange_creds(x)->challenge, decoded);
	sasl_exchange_free(&x);

	/* No initial response; "login SP digest" or nothing. */
	x = sasl_exchange_new(SASL_MECH_CRAM_MD5, "imap", "mail.test");
	CHECK(sasl_exchange_step(x, "=", &chal) == SASL_MALFORMED);
	sasl_exchange_free(&x);
	x = sasl_exchange_new(SASL_MECH_CRAM_MD5, "imap", "mail.test");
	CHECK(sasl_exchange_step(x, NULL, &chal) == SASL_NEED_MORE);
	CHECK(sasl_exchange_step(x, b64("erin", 4), &chal) == SASL_MALFORMED);
	sasl_exchange_free(&x);
}

static void
test_mech_names(void)
{
	CHECK(sasl_mech_named("plain") == SASL_MECH_PLAIN);
	CHECK(sasl_mech_named("LOGIN") == SASL_MECH_LOGIN);
	CHECK(sasl_mech_named("Cram-MD5") == SASL_MECH_CRAM_MD5);
	CHECK(sasl_mech_named("GSSAPI") == SASL_MECH_NONE);
	CHECK(sasl_exchange_new(SASL_MECH_NONE, "imap", "h") == NULL);
	CHECK(sasl_mech_sends_password(SASL_MECH_LOGIN));
	CHECK(!sasl_mech_sends_password(SASL_MECH_CRAM_MD5));
}

/* The examples of RFC 2195 and RFC 1939. */
static void
test_digests(void)
{
	CHECK(sasl_digest_matches(SASL_CRAM_MD5, "tanstaaftanstaaf",
	    "<1896.697170952@postoffice.reston.mci.net>",
	    "b913a602c7eda7a495b4e6e7334d3890"));
	CHECK(!sasl_digest_matches(SASL_CRAM_MD5, "tanstaaftanstaaX",
	    "<1896.697170952@postoffice.reston.mci.net>",
	    "b913a602c7eda7a495b4e6e7334d3890"));
	CHECK(sasl_digest_matches(SASL_APOP, "tanstaaf",
	    "<1896.697170952@dbc.mtview.ca.us>",
	    "c4c9334bac560ecc979e58001b3e22fb"));
	CHECK(!sasl_digest_matches(SASL_APOP, "tanstaaf",
	    "<1896.697170952@dbc.mtview.ca.us>", "c4c9334bac560ecc"));
}

int
main(void)
{
	CHECK(sasl_exchange_setup() == NULL);
	CHECK(sasl_exchange_setup() == NULL);       /* once is enough */
	UNIT_RUN(test_plain);
	UNIT_RUN(test_login);
	UNIT_RUN(test_cram);
	UNIT_RUN(test_mech_names);
	UNIT_RUN(test_digests);
	return unit_done();
}
