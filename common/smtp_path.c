/*
 * smtp_path: parser for MAIL/RCPT arguments; grammar in smtp_path.h.
 * Pure functions over the caller's buffer: nothing allocated.
 */
#include "smtp_path.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

/* atext of RFC 5322, plus any octet >= 0x80 when UTF-8 is allowed. */
static bool
smtp_atext(unsigned char c, bool utf8)
{
	if (c >= 0x80)
		return utf8;
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Dot-string = Atom *("." Atom); returns the length or 0. */
static size_t
smtp_dot_string(const char *s, bool utf8)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;
		while (s[i] != '\0' && smtp_atext((unsigned char)s[i], utf8))
			i++;
		if (i == start)
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* Quoted-string = DQUOTE *(qtext / quoted-pair) DQUOTE */
static size_t
smtp_quoted_string(const char *s, bool utf8)
{
	size_t i = 1;

	if (s[0] != '"')
		return 0;
	for (; s[i] != '"'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return 0;
		if (c == '\\') {
			if (s[i + 1] < 32 || s[i + 1] == 127)
				return 0;
			i++;
		} else if (c < 32 || c == 127 || (c >= 0x80 && !utf8)) {
			return 0;
		}
	}
	return i + 1;
}

/* Domain (sub-domains of let-dig/ldh) or an address literal "[...]". */
static size_t
smtp_domain(const char *s, bool utf8)
{
	size_t i = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close == s + 1)
			return 0;
		for (const char *p = s + 1; p < close; p++)
			if (*p <= ' ' || *p == '[' || *p == '\\' || *p == 127)
				return 0;
		return (size_t)(close - s) + 1;
	}
	for (;;) {
		size_t start = i;
		while (isalnum((unsigned char)s[i]) || s[i] == '-' ||
		    ((unsigned char)s[i] >= 0x80 && utf8))
			i++;
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* Skip "@a,@b:" before the mailbox. */
static const char *
smtp_skip_route(const char *s)
{
	if (*s != '@')
		return s;
	const char *colon = strchr(s, ':');
	return colon ? colon + 1 : s;
}

static const char *
smtp_mailbox(const char *s, size_t len, int flags, struct smtp_path *path)
{
	bool utf8 = (flags & SMTP_PATH_UTF8) != 0;
	size_t local = s[0] == '"' ? smtp_quoted_string(s, utf8)
	                           : smtp_dot_string(s, utf8);

	if (local == len && (flags & SMTP_PATH_POSTMASTER) &&
	    strncasecmp(s, "postmaster", len) == 0 && len == 10) {
		memcpy(path->mailbox, s, len);
		path->mailbox[len] = '\0';
		path->local_len = len;
		return NULL;
	}
	if (local == 0 || local >= len || s[local] != '@')
		return "501 5.1.3 Bad address syntax";
	if (local > SMTP_LOCAL_MAX)
		return "501 5.1.3 Local part longer than 64 octets";
	size_t dom = smtp_domain(s + local + 1, utf8);
	if (dom == 0 || local + 1 + dom != len)
		return "501 5.1.3 Bad domain syntax";
	if (dom > SMTP_DOMAIN_MAX)
		return "501 5.1.3 Domain longer than 255 octets";
	memcpy(path->mailbox, s, len);
	path->mailbox[len] = '\0';
	path->local_len = local;
	for (size_t i = local + 1; i < len; i++)
		path->mailbox[i] = (char)tolower((unsigned char)path->mailbox[i]);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			path->utf8 = true;
	return NULL;
}

static const char *
smtp_params(char *s, struct smtp_path *path)
{
	while (*s == ' ')
		s++;
	while (*s != '\0') {
		if (path->nparams == SMTP_PARAMS_MAX)
			return "501 5.5.4 Too many parameters";
		struct smtp_param *p = &path->params[path->nparams++];
		p->keyword = s;
		p->value = NULL;
		while (isalnum((unsigned char)*s) || (*s == '-' && s != p->keyword)) {
			*s = (char)toupper((unsigned char)*s);
			s++;
		}
		if (s == p->keyword)
			return "501 5.5.4 Bad parameter syntax";
		if (*s == '=') {
			*s++ = '\0';
			p->value = s;
			while ((unsigned char)*s > ' ' && *s != '=' && *s != 127)
				s++;
			if (s == p->value)      /* esmtp-value = 1*(...) */
				return "501 5.5.4 Bad parameter syntax";
		}
		if (*s != ' ' && *s != '\0')
			return "501 5.5.4 Bad parameter syntax";
		while (*s == ' ')
			*s++ = '\0';
	}
	return NULL;
}

/* Find the '>' that closes the path, stepping over a quoted local part. */
static char *
smtp_path_end(char *s)
{
	bool quoted = false;

	for (; *s != '\0'; s++) {
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (*s == '>' && !quoted)
			return s;
	}
	return NULL;
}

const char *
smtp_path_parse(char *s, int flags, struct smtp_path *path)
{
	memset(path, 0, sizeof(*path));
	while (*s == ' ')
		s++;
	if (*s != '<')
		return "501 5.5.4 Syntax: address must be in angle brackets";
	char *end = smtp_path_end(s + 1);
	if (end == NULL)
		return "501 5.5.4 Syntax: missing closing angle bracket";
	*end = '\0';
	const char *box = smtp_skip_route(s + 1);
	size_t len = strlen(box);
	if (len > SMTP_PATH_MAX)
		return "501 5.1.3 Path longer than 256 octets";
	if (len == 0) {
		if (!(flags & SMTP_PATH_NULL_OK))
			return "501 5.1.3 Null address not allowed here";
	} else {
		const char *err = smtp_mailbox(box, len, flags, path);
		if (err != NULL)
			return err;
	}
	if (end[1] != '\0' && end[1] != ' ')
		return "501 5.5.4 Syntax: junk after address";
	return smtp_params(end + 1, path);
}

bool
smtp_path_is_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

const char *
smtp_path_param(const struct smtp_path *path, const char *kw)
{
	for (size_t i = 0; i < path->nparams; i++)
		if (strcmp(path->params[i].keyword, kw) == 0)
			return path->params[i].value ? path->params[i].value : "";
	return NULL;
}

static int
smtp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
smtp_xtext_decode(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int hi, lo;
		if (*p == '+') {
			if ((hi = smtp_hexval((char)p[1])) < 0 ||
			    (lo = smtp_hexval((char)p[2])) < 0 || hi + lo == 0)
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			p += 2;
		} else if (*p < 33 || *p > 126 || *p == '=') {
			goto bad;
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

bool
smtp_helo_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return false;
	if (s[0] == '[')
		return s[n - 1] == ']' && n > 2 &&
		    strspn(s + 1, "0123456789abcdefABCDEF.:IPv") == n - 2;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == n;
}
