/*
 * cidr: networks written "address" or "address/bits" (IPv4 or IPv6), for
 * access rules and trusted hosts (mmp.allow, mmp.deny,
 * mmp.proxyprotocolfrom, store.trustedproxies).  An IPv4 client that
 * reaches an IPv6 socket as ::ffff:a.b.c.d is matched as a.b.c.d.
 */
#ifndef COMMON_CIDR_H
#define COMMON_CIDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct cidr {
	struct sockaddr_storage net;
	int bits;
};

/* Parse "addr" or "addr/bits"; false when malformed. */
bool cidr_parse(const char *text, struct cidr *out);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* A list from NULL-terminated words (free() it); NULL and *bad (the word)
 * when one is not a network. */
struct cidr *cidr_list(char **words, int *n, const char **bad);
bool cidr_list_match(const struct cidr *list, int n, const struct sockaddr *sa);

#endif
