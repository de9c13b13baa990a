/*
 * dir_filter: every value that goes into an LDAP filter passes through here.
 *
 * RFC 4515, section 3:
 *     valueencoding  = 0*(normal / escaped)
 *     normal         = UTF1SUBSET / UTFMB
 *     escaped        = ESC HEX HEX
 *     UTF1SUBSET     = %x01-27 / %x2B-5B / %x5D-7F
 *                         ; excludes NUL, LPAREN, RPAREN, ASTERISK, ESC
 * We escape the five bytes the grammar excludes and, beyond what it
 * requires, every control byte (< 0x20 and 0x7f) so that a filter never
 * carries a line break or terminal control into a log line.  Bytes >= 0x80
 * are passed through: the server checks the UTF-8.  (A NUL cannot reach
 * us inside a C string; it would be \00.)
 */
#include "dir_private.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static bool
dir_filter_must_escape(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '*' || c == '(' || c == ')' ||
	    c == '\\';
}

char *
dir_filter_escape(const char *value)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(value);
	char *out = xmalloc(len * 3 + 1), *p = out;

	for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
		if (!dir_filter_must_escape(*s)) {
			*p++ = (char)*s;
			continue;
		}
		*p++ = '\\';
		*p++ = hex[*s >> 4];
		*p++ = hex[*s & 0xf];
	}
	*p = '\0';
	return out;
}

char *
dir_filter_user(const char *address)
{
	char *v = dir_filter_escape(address);
	char *f = xasprintf("(&(|(objectClass=inetMailUser)"
	    "(objectClass=inetMailGroup)(objectClass=inetLocalMailRecipient))"
	    "(|(mail=%s)(mailAlternateAddress=%s)(mailEquivalentAddress=%s)))",
	    v, v, v);

	free(v);
	return f;
}
