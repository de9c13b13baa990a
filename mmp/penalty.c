/*
 * penalty: the seed's badness penalty.  Each failed login from a client
 * address waits before it is answered: one second, and one more for each
 * failure already seen from that address, up to mmp.badloginmaxdelay.  An
 * address without a failure for mmp.badloginwindow starts afresh.  So
 * guessing passwords from one address slows down across sessions, while a
 * typing mistake costs a second.  A success changes nothing: it must not
 * wipe the record of an address that also guesses.
 *
 * Memory is bounded: at most PENALTY_MAX addresses are remembered, the
 * oldest giving way.
 */
#include <stdio.h>
#include <stdlib.h>

#include "agemap.h"
#include "mmp.h"
#include "xmalloc.h"

#define PENALTY_MAX 65536

struct penalty_rec {
	struct agemap_item item;
	char addr[INET6_ADDRSTRLEN];
	int failures;
};

struct mmp_penalty {
	int max_delay, window;
	struct agemap *map;
};

static void
rec_free(struct agemap_item *it)
{
	free(it);
}

struct mmp_penalty *
mmp_penalty_new(int max_delay, int window)
{
	struct mmp_penalty *p = xcalloc(1, sizeof(*p));

	p->max_delay = max_delay;
	p->window = window;
	p->map = agemap_new(PENALTY_MAX, rec_free);
	return p;
}

int
mmp_penalty_fail(struct mmp_penalty *p, const char *addr, long now)
{
	struct penalty_rec *r;

	agemap_expire(p->map, now - p->window);
	r = (struct penalty_rec *)agemap_find(p->map, addr);
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		snprintf(r->addr, sizeof(r->addr), "%s", addr);
		r->item.key = r->addr;
		agemap_insert(p->map, &r->item, now);
	} else {
		agemap_touch(p->map, &r->item, now);
	}
	r->failures++;
	return r->failures < p->max_delay ? r->failures : p->max_delay;
}

void
mmp_penalty_free(struct mmp_penalty **pp)
{
	struct mmp_penalty *p = *pp;

	if (p == NULL)
		return;
	agemap_free(&p->map);
	free(p);
	*pp = NULL;
}
