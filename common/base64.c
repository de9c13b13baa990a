/* base64: RFC 4648 section 4, strict (see base64.h). */
#include "base64.h"

#include <string.h>

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
base64_value(char c)
{
	const char *p = c ? strchr(base64_alphabet, c) : NULL;
	return p ? (int)(p - base64_alphabet) : -1;
}

bool
base64_decode(const char *in, size_t len, char *out, size_t *outlen)
{
	size_t o = 0;

	if (len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = base64_value(in[i + k])) < 0)
				return false;
		}
		unsigned int n = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
		    (unsigned)v[2] << 6 | (unsigned)v[3];
		out[o++] = (char)(n >> 16);
		if (pad < 2)
			out[o++] = (char)(n >> 8 & 0xff);
		if (pad < 1)
			out[o++] = (char)(n & 0xff);
	}
	out[o] = '\0';
	*outlen = o;
	return true;
}

size_t
base64_encode(const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned int n = (unsigned)p[i] << 16;
		if (i + 1 < len)
			n |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			n |= p[i + 2];
		out[o++] = base64_alphabet[n >> 18];
		out[o++] = base64_alphabet[n >> 12 & 63];
		out[o++] = i + 1 < len ? base64_alphabet[n >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? base64_alphabet[n & 63] : '=';
	}
	out[o] = '\0';
	return o;
}
