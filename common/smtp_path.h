/*
 * smtp_path: the argument of MAIL FROM: and RCPT TO: (RFC 5321 4.1.2),
 * shared by every SMTP and LMTP server of the suite.
 *
 *   Path          = "<" [ A-d-l ":" ] Mailbox ">"
 *   Mailbox       = Local-part "@" ( Domain / address-literal )
 *   Local-part    = Dot-string / Quoted-string
 *   Mail-parameters = esmtp-param *(SP esmtp-param)
 *   esmtp-param   = esmtp-keyword ["=" esmtp-value]
 *
 * Source routes are accepted and dropped (RFC 5321 appendix C).  Limits are
 * the RFC's: local part 64 octets, domain 255, path 256; at most
 * SMTP_PARAMS_MAX parameters.  UTF-8 is accepted in the mailbox only when the
 * caller allows it (SMTPUTF8, RFC 6531).
 */
#ifndef COMMON_SMTP_PATH_H
#define COMMON_SMTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_PATH_MAX 256
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PARAMS_MAX 16

struct smtp_param {
	char *keyword;      /* points into the parsed line, upper-cased */
	char *value;        /* NULL when absent */
};

struct smtp_path {
	char mailbox[SMTP_PATH_MAX + 1];   /* "" for the null path <> */
	size_t local_len;                  /* length of the local part */
	bool utf8;                         /* non-ASCII octets present */
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams;
};

enum smtp_path_flags {
	SMTP_PATH_NULL_OK = 1,      /* <> accepted (MAIL FROM) */
	SMTP_PATH_POSTMASTER = 2,   /* bare <postmaster> accepted (RCPT TO) */
	SMTP_PATH_UTF8 = 4,         /* SMTPUTF8 in effect */
};

/*
 * Parse s (the text after "FROM:" or "TO:"), modifying it in place.
 * Returns NULL on success, else a reply ("501 5.1.7 ...") for the client.
 * The domain of the mailbox is lower-cased; the local part is kept as sent.
 */
const char *smtp_path_parse(char *s, int flags, struct smtp_path *path);

/* The value of parameter kw (upper case), "" if present without value,
 * NULL if absent. */
const char *smtp_path_param(const struct smtp_path *path, const char *kw);

/* Does s hold an octet above 127 (an address that needs SMTPUTF8)? */
bool smtp_path_is_8bit(const char *s);

/* Decode an xtext value (RFC 3461 4: ENVID, ORCPT, AUTH=): characters
 * 33..126 but "+" and "=" stand for themselves, "+" and two upper-case
 * hex digits for any octet.  NULL when malformed (or it decodes a NUL);
 * free() the result. */
char *smtp_xtext_decode(const char *s);
/* A HELO/EHLO argument: a domain (letters, digits, "-", "_", "."), or an
 * address literal in brackets (RFC 5321 4.1.3), at most 255 octets. */
bool smtp_helo_valid(const char *s);

#endif
