/*
 * sasl: the digests of the mechanisms that prove a clear secret without
 * sending it, CRAM-MD5 (IMAP, SMTP) and APOP (POP3), and their challenges.
 * The caller fetches the secret from the directory (dir_fetch_secret) and
 * hands it to sasl_digest_matches().  The exchanges themselves are in
 * sasl_exchange.
 */
#ifndef COMMON_SASL_H
#define COMMON_SASL_H

#include <stdbool.h>
#include <stddef.h>

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
