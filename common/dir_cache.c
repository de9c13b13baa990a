/*
 * dir_cache: answers of the directory by request key (the seed's "direct
 * LDAP lookup with cached results").
 *
 * A chained hash table of slots, each holding a reference to an immutable
 * answer (dir_entry.c: a deep copy of what the server sent) and its expiry
 * time, on an LRU list.  Bounded twice: by the number of slots and by the
 * bytes of the answers held; a put evicts from the cold end until both
 * hold, and an answer larger than an eighth of the byte budget is not
 * cached at all.  Expired slots are dropped when they are looked up or
 * reach the cold end.
 *
 * Time is passed in by the caller (monotonic milliseconds) so that the
 * unit test can drive it.  The cache never decides what to cache: dir.c
 * never puts DIR_UNAVAILABLE here.
 */
#include "dir_private.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define DIR_CACHE_MAX_BUCKETS 65536

struct dir_cache_slot {
	char *key;
	uint32_t hash;
	struct dir_answer *answer;      /* one reference, ours */
	uint64_t expires_ms;
	size_t bytes;
	struct dir_cache_slot *next;    /* bucket chain */
	TAILQ_ENTRY(dir_cache_slot) lru;
};

TAILQ_HEAD(dir_cache_lru, dir_cache_slot);

struct dir_cache {
	struct dir_cache_slot **buckets;
	size_t nbuckets;                /* a power of two */
	struct dir_cache_lru lru;       /* most recently used first */
	size_t count, max_entries;
	size_t bytes, max_bytes;
};

static uint32_t
dir_cache_hash(const char *key)
{
	uint32_t h = 2166136261u;       /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

struct dir_cache *
dir_cache_new(size_t max_entries, size_t max_bytes)
{
	struct dir_cache *c = xcalloc(1, sizeof(*c));

	c->nbuckets = 16;
	while (c->nbuckets < max_entries && c->nbuckets < DIR_CACHE_MAX_BUCKETS)
		c->nbuckets *= 2;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	TAILQ_INIT(&c->lru);
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

static struct dir_cache_slot **
dir_cache_lookup(struct dir_cache *c, const char *key, uint32_t hash)
{
	struct dir_cache_slot **sp = &c->buckets[hash & (c->nbuckets - 1)];

	for (; *sp != NULL; sp = &(*sp)->next)
		if ((*sp)->hash == hash && strcmp((*sp)->key, key) == 0)
			break;
	return sp;
}

/* Unlink the slot *sp points at (in its bucket chain) and free it. */
static void
dir_cache_remove(struct dir_cache *c, struct dir_cache_slot **sp)
{
	struct dir_cache_slot *s = *sp;

	*sp = s->next;
	TAILQ_REMOVE(&c->lru, s, lru);
	c->count--;
	c->bytes -= s->bytes;
	dir_answer_unref(&s->answer);
	free(s->key);
	free(s);
}

static void
dir_cache_evict_one(struct dir_cache *c)
{
	struct dir_cache_slot *s = TAILQ_LAST(&c->lru, dir_cache_lru);

	dir_cache_remove(c, dir_cache_lookup(c, s->key, s->hash));
}

struct dir_answer *
dir_cache_get(struct dir_cache *c, const char *key, uint64_t now_ms)
{
	struct dir_cache_slot **sp = dir_cache_lookup(c, key,
	    dir_cache_hash(key));
	struct dir_cache_slot *s = *sp;

	if (s == NULL)
		return NULL;
	if (now_ms >= s->expires_ms) {
		dir_cache_remove(c, sp);
		return NULL;
	}
	TAILQ_REMOVE(&c->lru, s, lru);
	TAILQ_INSERT_HEAD(&c->lru, s, lru);
	return dir_answer_ref(s->answer);
}

void
dir_cache_put(struct dir_cache *c, const char *key, struct dir_answer *a,
    uint64_t expires_ms)
{
	uint32_t hash = dir_cache_hash(key);
	struct dir_cache_slot **sp = dir_cache_lookup(c, key, hash);
	struct dir_cache_slot *s;
	size_t bytes = sizeof(*s) + strlen(key) + 1 + a->bytes;

	if (*sp != NULL)
		dir_cache_remove(c, sp);
	if (c->max_entries == 0 || bytes > c->max_bytes / 8)
		return;
	while (c->count > 0 && (c->count + 1 > c->max_entries ||
	    c->bytes + bytes > c->max_bytes))
		dir_cache_evict_one(c);
	s = xcalloc(1, sizeof(*s));
	s->key = xstrdup(key);
	s->hash = hash;
	s->answer = dir_answer_ref(a);
	s->expires_ms = expires_ms;
	s->bytes = bytes;
	/* Insert at the head of the chain: eviction may have moved *sp. */
	sp = &c->buckets[hash & (c->nbuckets - 1)];
	s->next = *sp;
	*sp = s;
	TAILQ_INSERT_HEAD(&c->lru, s, lru);
	c->count++;
	c->bytes += bytes;
}

void
dir_cache_clear(struct dir_cache *c)
{
	while (c->count > 0)
		dir_cache_evict_one(c);
}

size_t
dir_cache_count(const struct dir_cache *c)
{
	return c->count;
}

size_t
dir_cache_bytes(const struct dir_cache *c)
{
	return c->bytes;
}

void
dir_cache_free(struct dir_cache **cp)
{
	struct dir_cache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	dir_cache_clear(c);
	free(c->buckets);
	free(c);
}
