/*
 * aliases: the seed's aliases file, "name: address, address" lines.
 *
 * Owns every string; aliases_free() releases them.  Failure policy: the
 * file is accepted whole or refused with "file:line: message" lines.
 * Entries from the directory override this file; that decision belongs to
 * the router, not here.  Lookups are case-insensitive (binary search).
 */
#ifndef MTA_ALIASES_H
#define MTA_ALIASES_H

#include <stdio.h>

#define ALIASES_MAX         100000
#define ALIASES_ADDRS_MAX   1000        /* addresses of one alias */
#define ALIASES_ADDR_MAX    512         /* bytes of one address or name */

struct aliases_entry {
	char *name;             /* local-part[@domain], as written */
	char **addrs;
	int naddrs;
	const char *file;
	int line;
};

struct aliases;

struct aliases *aliases_load(const char *path, char **errs);
struct aliases *aliases_parse(const char *name, const char *text, char **errs);
void aliases_free(struct aliases **a);

int aliases_count(const struct aliases *a);
const struct aliases_entry *aliases_at(const struct aliases *a, int i);
const struct aliases_entry *aliases_lookup(const struct aliases *a,
    const char *name);
/* One "name: address, address" line per alias, in file order. */
void aliases_dump(const struct aliases *a, FILE *out);

#endif
