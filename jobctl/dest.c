/*
 * dest: where an entry goes, as the scheduler's threaddepth and `jobctl
 * status` count it -- the domain of its first pending recipient, lower
 * case, or the smarthost of a channel with `daemon` (every entry of such
 * a channel goes to the same host).  For the lmtp channel that is the
 * domain too: the store (mailHost) is the directory's to say, and jobctl
 * does not ask it.
 *
 * Names are interned in the index, one copy per distinct destination,
 * counted by the entries that point at it and freed with the last, so
 * that a million entries to a few domains cost a pointer each.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"
#include "xmalloc.h"

#define DEST_BUCKETS 4096

struct jc_dest {
	char *name;
	size_t refs;
	struct jc_dest *hnext;
};

static size_t
dest_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % DEST_BUCKETS;
}

const char *
dest_name(const struct jc_dest *d)
{
	return d != NULL ? d->name : "-";
}

/* The destination named name (made on first use); a reference taken. */
static struct jc_dest *
dest_get(struct jc_index *ix, const char *name)
{
	struct jc_dest **b, *d;

	if (ix->dests == NULL)
		ix->dests = xcalloc(DEST_BUCKETS, sizeof(*ix->dests));
	b = &ix->dests[dest_hash(name)];
	for (d = *b; d != NULL && strcmp(d->name, name) != 0; d = d->hnext)
		;
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->name = xstrdup(name);
		d->hnext = *b;
		*b = d;
	}
	d->refs++;
	return d;
}

void
dest_put(struct jc_index *ix, struct jc_dest **dp)
{
	struct jc_dest *d = *dp, **p;

	*dp = NULL;
	if (d == NULL || --d->refs > 0)
		return;
	for (p = &ix->dests[dest_hash(d->name)]; *p != d; p = &(*p)->hnext)
		;
	*p = d->hnext;
	free(d->name);
	free(d);
}

void
dest_clear(struct jc_index *ix)
{
	for (size_t b = 0; ix->dests != NULL && b < DEST_BUCKETS; b++)
		while (ix->dests[b] != NULL) {
			struct jc_dest *d = ix->dests[b];
			ix->dests[b] = d->hnext;
			free(d->name);
			free(d);
		}
	free(ix->dests);
	ix->dests = NULL;
}

void
dest_set(struct jc_index *ix, struct jc_entry *e, const struct queue_env *env)
{
	const struct imta_channel *ch = e->chan->ch;
	const char *name = NULL;
	char lower[IMTA_HOST_MAX + 1];
	size_t n = 0;

	if (ch != NULL && ch->kw.route == IMTA_ROUTE_DAEMON && ch->kw.daemon)
		name = ch->kw.daemon;
	for (size_t i = 0; name == NULL && i < env->nrcpts; i++)
		if (env->rcpts[i].state == QUEUE_RCPT_PENDING) {
			const char *at = strrchr(env->rcpts[i].address, '@');
			name = at != NULL ? at + 1 : "";
		}
	for (; name != NULL && name[n] != '\0' && n < IMTA_HOST_MAX; n++)
		lower[n] = (char)tolower((unsigned char)name[n]);
	lower[n] = '\0';
	struct jc_dest *old = e->dest;
	e->dest = dest_get(ix, lower);  /* before the put: it may be the same */
	dest_put(ix, &old);
}
