/* test_dir_cache: the answer cache (TTL, LRU, byte budget, references) and
 * the bounded entry copies it holds. */
#include <stdlib.h>

#include "dir_private.h"
#include "unit.h"

/* An answer with one entry "uid=NAME" holding mail=NAME@example.com. */
static struct dir_answer *
answer_for(const char *name, enum dir_status status)
{
	struct dir_answer *a = dir_answer_new();
	char dn[128], mail[128];
	struct dir_entry *e;

	a->status = status;
	if (status != DIR_OK)
		return a;
	snprintf(dn, sizeof(dn), "uid=%s,dc=example,dc=com", name);
	snprintf(mail, sizeof(mail), "%s@example.com", name);
	e = dir_entry_new(dn);
	CHECK(dir_entry_add(e, "mail", mail, strlen(mail), SIZE_MAX));
	dir_answer_add(a, e);
	return a;
}

static void
put(struct dir_cache *c, const char *key, enum dir_status st, uint64_t exp)
{
	struct dir_answer *a = answer_for(key, st);

	dir_cache_put(c, key, a, exp);
	dir_answer_unref(&a);           /* the cache keeps its own reference */
}

static bool
has(struct dir_cache *c, const char *key, uint64_t now)
{
	struct dir_answer *a = dir_cache_get(c, key, now);
	bool found = a != NULL;

	dir_answer_unref(&a);
	return found;
}

static void
test_hit_miss(void)
{
	struct dir_cache *c = dir_cache_new(10, 1 << 20);
	struct dir_answer *a;

	put(c, "alice", DIR_OK, 1000);
	put(c, "nobody", DIR_NOTFOUND, 1000);
	a = dir_cache_get(c, "alice", 0);
	CHECK(a != NULL && a->status == DIR_OK && a->n == 1);
	if (a != NULL && a->n == 1)
		CHECK_STR(dir_entry_get(a->entries[0], "MAIL"), "alice@example.com");
	dir_answer_unref(&a);
	a = dir_cache_get(c, "nobody", 0);
	CHECK(a != NULL && a->status == DIR_NOTFOUND && a->n == 0);
	dir_answer_unref(&a);
	CHECK(!has(c, "bob", 0));
	CHECK(!has(c, "ALICE", 0));     /* keys are exact: dir.c lowercases */
	CHECK(dir_cache_count(c) == 2);
	dir_cache_free(&c);
	CHECK(c == NULL);
}

static const struct {
	uint64_t expires, now;
	bool hit;
} ttl_cases[] = {
	{ 1000, 0, true },
	{ 1000, 999, true },
	{ 1000, 1000, false },          /* expiry is exclusive */
	{ 1000, 5000, false },
};

static void
test_ttl(void)
{
	for (size_t i = 0; i < sizeof(ttl_cases) / sizeof(ttl_cases[0]); i++) {
		struct dir_cache *c = dir_cache_new(10, 1 << 20);

		put(c, "k", DIR_OK, ttl_cases[i].expires);
		CHECK(has(c, "k", ttl_cases[i].now) == ttl_cases[i].hit);
		/* An expired slot is dropped when it is looked at. */
		CHECK(dir_cache_count(c) == (ttl_cases[i].hit ? 1u : 0u));
		dir_cache_free(&c);
	}
}

static void
test_lru(void)
{
	struct dir_cache *c = dir_cache_new(3, 1 << 20);

	put(c, "a", DIR_OK, 100);
	put(c, "b", DIR_OK, 100);
	put(c, "c", DIR_OK, 100);
	CHECK(has(c, "a", 0));          /* a is now the most recent */
	put(c, "d", DIR_OK, 100);       /* evicts b, the least recent */
	CHECK(dir_cache_count(c) == 3);
	CHECK(has(c, "a", 0));
	CHECK(!has(c, "b", 0));
	CHECK(has(c, "c", 0));
	CHECK(has(c, "d", 0));
	put(c, "e", DIR_OK, 100);       /* evicts a (c, d were used after) */
	CHECK(!has(c, "a", 0));
	CHECK(dir_cache_count(c) == 3);
	dir_cache_free(&c);
}

static void
test_replace(void)
{
	struct dir_cache *c = dir_cache_new(3, 1 << 20);
	struct dir_answer *a;

	put(c, "k", DIR_NOTFOUND, 100);
	put(c, "k", DIR_OK, 200);
	CHECK(dir_cache_count(c) == 1);
	a = dir_cache_get(c, "k", 150);
	CHECK(a != NULL && a->status == DIR_OK);
	dir_answer_unref(&a);
	dir_cache_free(&c);
}

/* Many keys through a small table: chains and eviction stay consistent. */
static void
test_many(void)
{
	struct dir_cache *c = dir_cache_new(50, 1 << 20);
	char key[32];

	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		put(c, key, i % 3 ? DIR_OK : DIR_NOTFOUND, 100);
		CHECK(dir_cache_count(c) <= 50);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		CHECK(has(c, key, 0) == (i >= 950));
	}
	dir_cache_clear(c);
	CHECK(dir_cache_count(c) == 0 && dir_cache_bytes(c) == 0);
	dir_cache_free(&c);
}

static void
test_byte_budget(void)
{
	struct dir_cache *c = dir_cache_new(1000, 8192);
	struct dir_answer *big = dir_answer_new();
	struct dir_entry *e = dir_entry_new("cn=big");
	char val[2000];
	char key[32];

	memset(val, 'x', sizeof(val));
	CHECK(dir_entry_add(e, "description", val, sizeof(val), SIZE_MAX));
	dir_answer_add(big, e);
	big->status = DIR_OK;
	dir_cache_put(c, "big", big, 100);      /* > budget / 8: not kept */
	CHECK(!has(c, "big", 0));
	dir_answer_unref(&big);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(c, key, DIR_OK, 100);
		CHECK(dir_cache_bytes(c) <= 8192);
	}
	CHECK(dir_cache_count(c) < 200 && dir_cache_count(c) > 0);
	dir_cache_free(&c);
}

/* A reference taken from the cache outlives a flush and an eviction. */
static void
test_reference_outlives_flush(void)
{
	struct dir_cache *c = dir_cache_new(1, 1 << 20);
	struct dir_answer *a;

	put(c, "alice", DIR_OK, 100);
	a = dir_cache_get(c, "alice", 0);
	dir_cache_clear(c);
	put(c, "bob", DIR_OK, 100);
	CHECK(a != NULL && a->n == 1);
	if (a != NULL && a->n == 1)
		CHECK_STR(dir_entry_dn(a->entries[0]), "uid=alice,dc=example,dc=com");
	dir_answer_unref(&a);
	CHECK(a == NULL);
	dir_cache_free(&c);
}

static void
test_disabled(void)
{
	struct dir_cache *c = dir_cache_new(0, 1 << 20);

	put(c, "k", DIR_OK, 100);
	CHECK(!has(c, "k", 0));
	dir_cache_free(&c);
}

/* ---- entries ---- */

static void
test_entry_values(void)
{
	struct dir_entry *e = dir_entry_new("uid=a,dc=example,dc=com");
	const char *const *v;
	size_t n = 99;

	CHECK(dir_entry_add(e, "mail", "a@example.com", 13, SIZE_MAX));
	CHECK(dir_entry_add(e, "mailAlternateAddress", "a1@example.com", 14,
	    SIZE_MAX));
	CHECK(dir_entry_add(e, "MAILALTERNATEADDRESS", "a2@example.com", 14,
	    SIZE_MAX));
	CHECK(dir_entry_add(e, "bin", "x\0y", 3, SIZE_MAX));
	CHECK(e->nattrs == 3);
	v = dir_entry_values(e, "mailalternateaddress", &n);
	CHECK(n == 2);
	CHECK_STR(v[0], "a1@example.com");
	CHECK_STR(v[1], "a2@example.com");
	CHECK(v[2] == NULL);
	v = dir_entry_values(e, "absent", &n);
	CHECK(n == 0 && v != NULL && v[0] == NULL);
	CHECK(dir_entry_get(e, "absent") == NULL);
	CHECK_STR(dir_entry_get(e, "bin"), "x");        /* prefix before NUL */
	CHECK_STR(dir_entry_dn(e), "uid=a,dc=example,dc=com");
	dir_entry_free(&e);
	CHECK(e == NULL);
}

static void
test_entry_budget(void)
{
	struct dir_entry *e = dir_entry_new("cn=x");
	char val[1000];
	size_t before;

	memset(val, 'v', sizeof(val));
	CHECK(!dir_entry_add(e, "big", val, sizeof(val), 512));
	CHECK(dir_entry_get(e, "big") == NULL && e->nattrs == 0);
	CHECK(dir_entry_add(e, "small", val, 100, 512));
	before = e->bytes;
	CHECK(!dir_entry_add(e, "small", val, 400, 512));
	CHECK(e->bytes == before);
	CHECK(dir_entry_add(e, "mailHost", "s1", 2, 512));   /* smaller fits */
	CHECK(e->bytes <= 512);
	dir_entry_free(&e);
}

static void
test_entry_dup(void)
{
	struct dir_entry *e = dir_entry_new("cn=orig"), *d;
	size_t n;

	dir_entry_add(e, "cn", "orig", 4, SIZE_MAX);
	dir_entry_add(e, "member", "m1", 2, SIZE_MAX);
	dir_entry_add(e, "member", "m2", 2, SIZE_MAX);
	d = dir_entry_dup(e);
	dir_entry_free(&e);             /* the copy owns all of its memory */
	CHECK_STR(dir_entry_dn(d), "cn=orig");
	CHECK_STR(dir_entry_get(d, "cn"), "orig");
	CHECK(dir_entry_values(d, "member", &n) != NULL && n == 2);
	dir_entry_free(&d);
}

int
main(void)
{
	UNIT_RUN(test_hit_miss);
	UNIT_RUN(test_ttl);
	UNIT_RUN(test_lru);
	UNIT_RUN(test_replace);
	UNIT_RUN(test_many);
	UNIT_RUN(test_byte_budget);
	UNIT_RUN(test_reference_outlives_flush);
	UNIT_RUN(test_disabled);
	UNIT_RUN(test_entry_values);
	UNIT_RUN(test_entry_budget);
	UNIT_RUN(test_entry_dup);
	return unit_done();
}
