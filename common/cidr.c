/* cidr: networks as "address" or "address/bits" (see cidr.h). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "xmalloc.h"

bool
cidr_parse(const char *text, struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	int max;

	if (len == 0 || len >= sizeof(addr))
		return false;
	memcpy(addr, text, len);
	addr[len] = '\0';
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->net;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->net;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	out->bits = max;
	if (slash != NULL) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits > max)
			return false;
		out->bits = (int)bits;
	}
	return true;
}

/* The first n bits of a and b agree. */
static bool
prefix_equal(const unsigned char *a, const unsigned char *b, int n)
{
	int bytes = n / 8, rest = n % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const unsigned char *addr;
	int family = sa->sa_family;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		addr = in6->sin6_addr.s6_addr + 12;
		family = AF_INET;
	} else if (family == AF_INET6) {
		addr = in6->sin6_addr.s6_addr;
	} else if (family == AF_INET) {
		addr = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		return false;
	}
	if (family != c->net.ss_family)
		return false;
	const unsigned char *net = family == AF_INET ?
	    (const unsigned char *)&((const struct sockaddr_in *)&c->net)->sin_addr :
	    ((const struct sockaddr_in6 *)&c->net)->sin6_addr.s6_addr;
	return prefix_equal(addr, net, c->bits);
}

struct cidr *
cidr_list(char **words, int *n, const char **bad)
{
	int count = 0;

	for (char **w = words; w != NULL && *w != NULL; w++)
		count++;
	struct cidr *list = xcalloc((size_t)count + 1, sizeof(*list));
	for (int i = 0; i < count; i++) {
		if (!cidr_parse(words[i], &list[i])) {
			*bad = words[i];
			free(list);
			return NULL;
		}
	}
	*n = count;
	return list;
}

bool
cidr_list_match(const struct cidr *list, int n,
    const struct sockaddr *sa)
{
	for (int i = 0; i < n; i++)
		if (cidr_match(&list[i], sa))
			return true;
	return false;
}
