/*
 * addr: RFC 5322 address lists (From, To, Cc, ...) as IMAP's ENVELOPE and
 * the MTA need them: a flat array of mailboxes with group start and end
 * markers, each mailbox split into display name, source route, local part
 * and domain.
 *
 *   address-list = (address *("," address)) / obs-addr-list
 *   address      = mailbox / group
 *   mailbox      = name-addr / addr-spec
 *   name-addr    = [display-name] angle-addr
 *   angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
 *   group        = display-name ":" [group-list] ";" [CFWS]
 *   addr-spec    = local-part "@" domain
 *
 * Parsing never fails: like Dovecot and Cyrus we return a best effort for
 * whatever a sender put in the header (missing domain, missing ">" or ";",
 * stray specials, 8-bit octets).  Comments are dropped, except that a
 * comment after a bare addr-spec ("user@host (Real Name)") becomes the
 * display name when there is none.  Encoded words stay as they are.
 *
 * Caps: at most ADDR_INPUT_MAX octets of input are read, at most
 * ADDR_LIST_MAX entries (markers included) are kept, and each string is cut
 * at ADDR_FIELD_MAX octets.  The list owns every string in it.
 */
#ifndef COMMON_ADDR_H
#define COMMON_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_INPUT_MAX 65536
#define ADDR_LIST_MAX 1000
#define ADDR_FIELD_MAX 1024

enum addr_kind {
	ADDR_MAILBOX,
	ADDR_GROUP_START,   /* mailbox holds the group's display name */
	ADDR_GROUP_END,     /* every string NULL */
};

struct addr {
	enum addr_kind kind;
	char *name;         /* display name, unquoted; NULL when none */
	char *adl;          /* obsolete source route "@a,@b"; NULL when none */
	char *mailbox;      /* local part, unquoted; NULL when missing */
	char *host;         /* domain; NULL when missing */
};

struct addr_list {
	struct addr *v;
	size_t n;
	bool truncated;     /* ADDR_LIST_MAX or ADDR_INPUT_MAX was reached */
};

/* Parse s/len (an unfolded header value) into *out, which the caller then
 * frees with addr_list_free().  Groups are always balanced in the result:
 * an unterminated group is closed at the end. */
void addr_list_parse(const char *s, size_t len, struct addr_list *out);
void addr_list_free(struct addr_list *l);

#endif
