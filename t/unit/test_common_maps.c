/*
 * Unit tests for the small tables in common/: authcache (TTL, eviction,
 * a wrong password), countmap and cidr.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "authcache.h"
#include "cidr.h"
#include "countmap.h"
#include "unit.h"

static void
test_authcache(void)
{
	struct authcache *c = authcache_new(60, 2);
	const char *a, *b;

	authcache_put(c, "alice", "pw1", "alice@x", "store1", 1000);
	CHECK(authcache_get(c, "alice", "pw1", 1059, &a, &b));
	CHECK_STR(a, "alice@x");
	CHECK_STR(b, "store1");
	/* Aged out after ttl seconds. */
	CHECK(!authcache_get(c, "alice", "pw1", 1060, &a, &b));
	/* A wrong password drops the entry: the right one must bind again. */
	authcache_put(c, "alice", "pw1", "alice@x", "store1", 2000);
	CHECK(!authcache_get(c, "alice", "wrong", 2001, &a, &b));
	CHECK(!authcache_get(c, "alice", "pw1", 2002, &a, &b));
	/* At most two entries: the oldest goes. */
	authcache_put(c, "a", "1", "", "", 3000);
	authcache_put(c, "b", "2", "", "", 3001);
	authcache_put(c, "c", "3", "", "", 3002);
	CHECK(!authcache_get(c, "a", "1", 3003, &a, &b));
	CHECK(authcache_get(c, "b", "2", 3003, &a, &b));
	CHECK(authcache_get(c, "c", "3", 3003, &a, &b));
	authcache_free(&c);
	CHECK(c == NULL);
	CHECK(!authcache_get(NULL, "b", "2", 3003, &a, &b));
}

static void
test_countmap(void)
{
	void *m = NULL;

	CHECK(countmap_get(&m, "10.0.0.1") == 0);
	countmap_add(&m, "10.0.0.1", 1);
	countmap_add(&m, "10.0.0.1", 1);
	countmap_add(&m, "10.0.0.2", 1);
	CHECK(countmap_get(&m, "10.0.0.1") == 2);
	CHECK(countmap_get(&m, "10.0.0.2") == 1);
	countmap_add(&m, "10.0.0.1", -2);
	countmap_add(&m, "10.0.0.2", -1);
	CHECK(countmap_get(&m, "10.0.0.1") == 0);
	CHECK(m == NULL);           /* names at zero are dropped */
}

static struct sockaddr_storage
addr_of(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	return ss;
}

static const struct {
	const char *net, *addr;
	bool match;
} cidr_cases[] = {
	{ "10.0.0.0/8", "10.200.1.1", true },
	{ "10.0.0.0/8", "11.0.0.1", false },
	{ "192.168.1.7", "192.168.1.7", true },
	{ "192.168.1.7", "192.168.1.8", false },
	{ "192.168.1.0/25", "192.168.1.127", true },
	{ "192.168.1.0/25", "192.168.1.128", false },
	{ "0.0.0.0/0", "203.0.113.9", true },
	{ "127.0.0.0/8", "::ffff:127.0.0.1", true },     /* v4 on a v6 socket */
	{ "2001:db8::/32", "2001:db8:1::5", true },
	{ "2001:db8::/32", "2001:db9::5", false },
	{ "2001:db8::/32", "10.0.0.1", false },
};

static void
test_cidr(void)
{
	struct cidr c;

	for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		struct sockaddr_storage ss = addr_of(cidr_cases[i].addr);
		CHECK(cidr_parse(cidr_cases[i].net, &c));
		CHECK(cidr_match(&c, (struct sockaddr *)&ss) == cidr_cases[i].match);
	}
	const char *bad[] = { "", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x",
	    "::/129", "example.com", "10.0.0.0/-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!cidr_parse(bad[i], &c));

	char *words[] = { "10.0.0.0/8", "nonsense", NULL };
	const char *why = NULL;
	int n = -1;
	CHECK(cidr_list(words, &n, &why) == NULL);
	CHECK_STR(why, "nonsense");
	words[1] = NULL;
	struct cidr *list = cidr_list(words, &n, &why);
	struct sockaddr_storage ss = addr_of("10.1.2.3");
	CHECK(list != NULL && n == 1);
	CHECK(cidr_list_match(list, n, (struct sockaddr *)&ss));
	free(list);
}

int
main(void)
{
	UNIT_RUN(test_authcache);
	UNIT_RUN(test_countmap);
	UNIT_RUN(test_cidr);
	return unit_done();
}
