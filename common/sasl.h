/*
 * sasl: the server side of the SASL mechanisms the suite speaks itself
 * (IMAP AUTHENTICATE, POP3 AUTH, SMTP AUTH).  Password checks are the
 * caller's, asynchronous, against the directory: that is why these are not
 * libsasl2's, whose checks are synchronous.
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

#endif
