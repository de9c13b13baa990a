/*
 * sasl: the server side of the SASL mechanisms the suite speaks itself
 * (IMAP AUTHENTICATE, POP3 AUTH, SMTP AUTH).  Password checks are the
 * caller's, asynchronous, against the directory: that is why these are not
 * libsasl2's, whose checks are synchronous.  CRAM-MD5 and APOP need the
 * clear secret, which the caller fetches (dir_fetch_secret) and hands to
 * sasl_digest_matches().
 */
#ifndef COMMON_SASL_H
#define COMMON_SASL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd.
 * Splits data[0..len) (which must be NUL-terminated at len, as base64_decode
 * leaves it); false when malformed.  *authz is "" when absent.
 */
bool sasl_plain_parse(const char *data, size_t len, const char **authz,
    const char **authc, const char **pass);

/* Mechanisms that prove the clear secret without sending it. */
enum sasl_digest {
	SASL_CRAM_MD5,      /* RFC 2195: HMAC-MD5 keyed by the secret */
	SASL_APOP,          /* RFC 1939 7: MD5 of the timestamp and secret */
};
/*
 * Whether response (32 hex digits, lower case) is the digest of
 * challenge under secret.  The comparison takes constant time.
 */
bool sasl_digest_matches(enum sasl_digest d, const char *secret,
    const char *challenge, const char *response);
/* A fresh challenge or APOP timestamp, "<pid.seq.time@host>", unique to
 * this process; written into buf (at most len bytes). */
void sasl_challenge(char *buf, size_t len, const char *host);

#endif
