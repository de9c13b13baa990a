/*
 * base64: RFC 4648 base64 for SASL exchanges (IMAP AUTHENTICATE, POP3
 * AUTH, SMTP AUTH) and MIME.  Strict decoding: padding required, no white
 * space, no characters outside the alphabet.
 */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Decode in[0..len) into out (room for len / 4 * 3 + 1 bytes; NUL added).
 * Returns false on malformed input; *outlen gets the decoded length. */
bool base64_decode(const char *in, size_t len, char *out, size_t *outlen);
/* Encode into out (room for (len + 2) / 3 * 4 + 1; NUL added). */
size_t base64_encode(const void *in, size_t len, char *out);

#endif
