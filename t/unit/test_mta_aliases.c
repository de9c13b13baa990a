/*
 * Unit tests of mta/aliases: lookups (case-insensitive, binary search over
 * many entries), continuation, and the exact error lines.
 */
#include <stdlib.h>

#include "aliases.h"
#include "unit.h"

static void
test_lookup(void)
{
	char *errs = NULL;
	struct aliases *a = aliases_parse("a",
	    "! comment\n"
	    "Postmaster@Example.com: admin@example.com\n"
	    "staff@example.com: alice@example.com, \\\n"
	    "   bob@example.com,\"x, y\"@example.com\n"
	    "root: postmaster@example.com\n", &errs);
	CHECK_STR(errs, NULL);
	if (a == NULL)
		return;
	CHECK(aliases_count(a) == 3);
	const struct aliases_entry *e = aliases_lookup(a, "postmaster@example.COM");
	CHECK(e != NULL && e->naddrs == 1 && e->line == 2);
	e = aliases_lookup(a, "staff@example.com");
	CHECK(e != NULL && e->naddrs == 3 && e->line == 3);
	CHECK_STR(e ? e->addrs[2] : NULL, "\"x, y\"@example.com");
	CHECK(aliases_lookup(a, "nobody") == NULL);
	CHECK_STR(aliases_at(a, 2)->name, "root");
	aliases_free(&a);
	CHECK(a == NULL);
}

static void
test_many(void)
{
	size_t cap = 2000 * 40;
	char *text = malloc(cap), *p = text;
	for (int i = 0; i < 2000; i++)
		p += sprintf(p, "u%d@example.com: t%d@example.org\n", 1999 - i, i);
	char *errs = NULL;
	struct aliases *a = aliases_parse("many", text, &errs);
	CHECK_STR(errs, NULL);
	int found = 0;
	for (int i = 0; a && i < 2000; i++) {
		char name[64];
		snprintf(name, sizeof name, "U%d@EXAMPLE.COM", i);
		const struct aliases_entry *e = aliases_lookup(a, name);
		found += e != NULL && e->line == 2000 - i;
	}
	CHECK(found == 2000);
	aliases_free(&a);
	free(text);
}

static void
test_errors(void)
{
	char *errs = NULL;
	struct aliases *a = aliases_parse("e", "x: a@b\n\nX: c@d\n", &errs);
	CHECK(a == NULL);
	CHECK_STR(errs, "e:3: alias X is defined twice (first at e:1)\n");
	free(errs);
	errs = NULL;
	a = aliases_parse("e", "x: a@b, <c@d>\n", &errs);
	CHECK_STR(errs, "e:1: x: \"<c@d>\" is not an address\n");
	free(errs);
}

int
main(void)
{
	UNIT_RUN(test_lookup);
	UNIT_RUN(test_many);
	UNIT_RUN(test_errors);
	return unit_done();
}
