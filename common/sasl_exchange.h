/*
 * sasl_exchange: the server side of one SASL exchange (IMAP AUTHENTICATE,
 * POP3 AUTH, SMTP AUTH), shared by every daemon that takes logins.
 *
 * PLAIN (RFC 4616) and LOGIN are run by libsasl2: it owns their wire
 * format.  The verdict is ours.  libsasl2 asks for it synchronously (its
 * checkpass callback); our passwords are checked by an LDAP bind on the
 * event loop, so the callback only records the login and the password and
 * says yes, and the exchange then hands them to the caller as credentials
 * to check (SASL_GOT_CREDS).  Authorization identities are the caller's
 * too (store.admins, or the mta's refusal).
 *
 * CRAM-MD5 (RFC 2195) is ours: libsasl2's plugin wants the clear secret
 * synchronously from an auxprop plugin, where ours comes from the
 * directory later (dir_fetch_secret) and is compared by
 * sasl_digest_matches().
 */
#ifndef COMMON_SASL_EXCHANGE_H
#define COMMON_SASL_EXCHANGE_H

#include <stdbool.h>

enum sasl_mech {
	SASL_MECH_NONE,
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_CRAM_MD5,
};

enum sasl_outcome {
	SASL_NEED_MORE,     /* send the challenge, step again with the answer */
	SASL_GOT_CREDS,     /* sasl_exchange_creds() holds what to check */
	SASL_MALFORMED,     /* not base64, or not what the mechanism expects */
};

struct sasl_creds {
	enum sasl_mech mech;
	const char *authc;          /* the login */
	const char *authz;          /* "" when absent or the login itself */
	const char *pass;           /* PLAIN, LOGIN */
	const char *challenge;      /* CRAM-MD5: the challenge we sent */
	const char *digest;         /* CRAM-MD5: the client's answer, hex */
};

/*
 * Once per process, before the first exchange: load libsasl2 with PLAIN
 * and LOGIN only.  NULL on success, else why not (the plugins are in
 * Debian's libsasl2-modules).
 */
const char *sasl_exchange_setup(void);

/* The mechanism called name (any case), SASL_MECH_NONE if not ours. */
enum sasl_mech sasl_mech_named(const char *name);
/* Whether the mechanism sends the password itself (so wants TLS). */
bool sasl_mech_sends_password(enum sasl_mech mech);

/*
 * A new exchange for service ("imap", "pop", "smtp") on host, whose
 * CRAM-MD5 challenge names host.  NULL if libsasl2 refuses (logged).
 */
struct sasl_exchange *sasl_exchange_new(enum sasl_mech mech,
    const char *service, const char *host);

/*
 * One step.  The first takes the client's initial response (base64, "="
 * for an empty one) or NULL when none came; each later one takes a
 * response line, base64.  "*" (cancel) is the caller's to handle.  On
 * SASL_NEED_MORE, *challenge is the base64 challenge to send ("" for an
 * empty one), valid until the next step.
 */
enum sasl_outcome sasl_exchange_step(struct sasl_exchange *x,
    const char *b64, const char **challenge);

/* After SASL_GOT_CREDS: valid until sasl_exchange_free. */
const struct sasl_creds *sasl_exchange_creds(const struct sasl_exchange *x);

/* Wipe what the client sent and free; *xp becomes NULL.  NULL is fine. */
void sasl_exchange_free(struct sasl_exchange **xp);

#endif
