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
 *
 * The login filter (dir_config.login_filter, the seed's SearchFormat) is
 * a filter with %s (the login), %U (its local part), %D (its domain) and
 * %%; values go in escaped, so a login can never add a clause.
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

#define DIR_FILTER_FMT_MAX 1024

/* A checked format is short, has only our directives and balanced
 * parentheses; whether the server likes it shows at the first login. */
const char *
dir_filter_login_check(const char *fmt)
{
	int depth = 0;

	if (*fmt == '\0')
		return "empty";
	if (strlen(fmt) > DIR_FILTER_FMT_MAX)
		return "too long";
	for (const char *p = fmt; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			return "unbalanced parentheses";
		else if (*p == '%' && (p[1] == '\0' ||
		    strchr("sUD%", *++p) == NULL))
			return "unknown % directive (only %s %U %D %%)";
	}
	return depth == 0 ? NULL : "unbalanced parentheses";
}

/* Write fmt expanded into out (when not NULL); the length either way. */
static size_t
dir_filter_expand(char *out, const char *fmt, const char *vals[3])
{
	size_t n = 0, len;

	for (const char *p = fmt; *p; p++) {
		const char *v = NULL;

		if (*p == '%') {
			p++;
			v = *p == 's' ? vals[0] : *p == 'U' ? vals[1] :
			    *p == 'D' ? vals[2] : "%";
		}
		if (v == NULL) {
			if (out != NULL)
				out[n] = *p;
			n++;
			continue;
		}
		len = strlen(v);
		if (out != NULL)
			memcpy(out + n, v, len);
		n += len;
	}
	return n;
}

char *
dir_filter_login(const char *fmt, const char *login)
{
	static const char head[] = "(&(objectClass=inetMailUser)";
	const char *at = strrchr(login, '@');
	char *local = at != NULL ? xstrndup(login, (size_t)(at - login)) :
	    xstrdup(login);
	const char *vals[3];
	bool wrap = *fmt != '(';
	size_t n;
	char *f, *p;

	vals[0] = dir_filter_escape(login);
	vals[1] = dir_filter_escape(local);
	vals[2] = dir_filter_escape(at != NULL ? at + 1 : "");
	free(local);
	n = dir_filter_expand(NULL, fmt, vals);
	f = p = xmalloc(sizeof(head) - 1 + n + 2 * wrap + 2);
	p = stpcpy(p, head);
	if (wrap)
		*p++ = '(';
	p += dir_filter_expand(p, fmt, vals);
	if (wrap)
		*p++ = ')';
	strcpy(p, ")");
	for (int i = 0; i < 3; i++)
		free((char *)vals[i]);
	return f;
}

bool
dir_url_parse(const char *url, char **base, enum dir_scope *scope,
    char **filter)
{
	LDAPURLDesc *lud = NULL;

	if (ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS)
		return false;
	*base = xstrdup(lud->lud_dn ? lud->lud_dn : "");
	*filter = xstrdup(lud->lud_filter ? lud->lud_filter : "(objectClass=*)");
	switch (lud->lud_scope) {
	case LDAP_SCOPE_BASE: *scope = DIR_SCOPE_BASE; break;
	case LDAP_SCOPE_ONELEVEL: *scope = DIR_SCOPE_ONE; break;
	default: *scope = DIR_SCOPE_SUB; break;
	}
	ldap_free_urldesc(lud);
	return true;
}
