/*
 * mappings_private: the data of a parsed mappings file, shared by the
 * parser (mappings.c) and the engine (mappings_match.c).
 */
#ifndef MTA_MAPPINGS_PRIVATE_H
#define MTA_MAPPINGS_PRIVATE_H

#include "cnf_lines.h"
#include "mappings.h"

struct mappings_entry {
	char *pattern;          /* as written, "$ " escapes kept */
	char *tmpl;             /* "" when the entry has no template */
	int ncaps;              /* capturing wildcards of the pattern */
	const char *file;
	int line;
};

struct mappings_table {
	char *name;
	struct mappings_entry *v;
	int n;
	int nlines;             /* entry lines seen, good or bad */
	const char *file;
	int line;
};

struct mappings {
	struct mappings_table *tables;
	int ntables;
	struct cnf_lines lines;         /* keeps the file names alive */
};

const struct mappings_table *mappings_table_find(const struct mappings *m,
    const char *name);
/* "a.b.c.d/bits" or "ipv6/bits" (len bytes) into address and prefix. */
bool mappings_subnet_parse(const char *s, size_t len, bool v6,
    unsigned char addr[16], int *bits);

#endif
