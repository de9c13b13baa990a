/*
 * peer_count: sessions open per client address, for
 * mmp.maxsessionsperclient, kept as sessions start and end: a new
 * connection costs a lookup, not a walk over every session (thousands of
 * idle IMAP clients are the normal case).
 */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmp.h"
#include "xmalloc.h"

struct peer_count {
	char addr[INET6_ADDRSTRLEN];
	int n;
};

static int
count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct peer_count *)a)->addr,
	    ((const struct peer_count *)b)->addr);
}

int
mmp_peer_count(const struct mmp_server *srv, const char *addr)
{
	struct peer_count key, **found;

	snprintf(key.addr, sizeof(key.addr), "%s", addr);
	found = tfind(&key, &srv->peer_counts, count_cmp);
	return found ? (*found)->n : 0;
}

void
mmp_peer_count_add(struct mmp_server *srv, const char *addr, int delta)
{
	struct peer_count key, *c, **found;

	snprintf(key.addr, sizeof(key.addr), "%s", addr);
	if ((found = tfind(&key, &srv->peer_counts, count_cmp)) != NULL) {
		c = *found;
	} else {
		c = xcalloc(1, sizeof(*c));
		memcpy(c->addr, key.addr, sizeof(c->addr));
		tsearch(c, &srv->peer_counts, count_cmp);
	}
	if ((c->n += delta) <= 0) {
		tdelete(c, &srv->peer_counts, count_cmp);
		free(c);
	}
}
