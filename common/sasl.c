/* sasl: the digest mechanisms (see sasl.h). */
#include "sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "xmalloc.h"

/* The expected response, lower-case hex. */
static bool
sasl_digest_hex(enum sasl_digest d, const char *secret, const char *challenge,
    char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	unsigned int len = 0;

	if (d == SASL_CRAM_MD5) {
		if (EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, secret, strlen(secret),
		    (const unsigned char *)challenge, strlen(challenge), md,
		    sizeof(md), &mdlen) == NULL)
			return false;
	} else {
		char *both = xasprintf("%s%s", challenge, secret);
		int ok = EVP_Digest(both, strlen(both), md, &len, EVP_md5(), NULL);
		OPENSSL_cleanse(both, strlen(both));
		free(both);
		if (!ok)
			return false;
		mdlen = len;
	}
	for (size_t i = 0; i < mdlen && i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return mdlen == 16;
}

bool
sasl_digest_matches(enum sasl_digest d, const char *secret,
    const char *challenge, const char *response)
{
	char hex[33];
	bool good = sasl_digest_hex(d, secret, challenge, hex) &&
	    strlen(response) == 32 && CRYPTO_memcmp(hex, response, 32) == 0;

	OPENSSL_cleanse(hex, sizeof(hex));
	return good;
}

void
sasl_challenge(char *buf, size_t len, const char *host)
{
	static unsigned long seq;

	snprintf(buf, len, "<%ld.%lu.%ld@%s>", (long)getpid(), ++seq,
	    (long)time(NULL), host);
}
