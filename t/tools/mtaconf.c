/*
 * mtaconf: parse one of the MTA's configuration files and print its
 * canonical dump (exit 0) or its errors, one "file:line: message" a line
 * (exit 1), both on stdout; or apply a mapping table to a probe.  Driven by
 * t/test_mta_conf.py against the golden files in t/mta/.
 *
 *   mtaconf imta|mappings|aliases|jobctl FILE
 *   mtaconf map FILE TABLE PROBE [TESTS]      TESTS: letters of A T E L
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "imta_conf.h"
#include "jobctl_conf.h"
#include "mappings.h"

static int
report(bool ok, char *errs)
{
	if (errs)
		fputs(errs, stdout);
	free(errs);
	return ok ? 0 : 1;
}

static void
print_flags(unsigned f)
{
	static const char letters[] = "YNBHIDJK";
	for (int i = 0; letters[i]; i++)
		if (f & (1u << i))
			putchar(letters[i]);
}

static int
map(const char *file, const char *table, const char *input, const char *tests)
{
	char *errs = NULL;
	struct mappings *m = mappings_load(file, &errs);
	if (m == NULL)
		return report(false, errs);
	struct mappings_probe probe = { input, 0, NULL, NULL };
	for (const char *t = tests; t && *t; t++) {
		const char *f = strchr("ATEL", *t);
		if (f)
			probe.tests |= 1u << (f - "ATEL");
	}
	struct mappings_result res;
	if (mappings_apply(m, table, &probe, &res)) {
		printf("matched line=%d flags=", res.entry_line);
		print_flags(res.flags);
		printf(" delay=%ld text=\"%s\"", res.delay, res.text);
		if (res.from)
			printf(" from=\"%s\"", res.from);
		if (res.sender)
			printf(" sender=\"%s\"", res.sender);
		putchar('\n');
	} else
		printf("no match%s%s\n", res.error ? ": " : "",
		    res.error ? res.error : "");
	mappings_result_clear(&res);
	mappings_free(&m);
	return 0;
}

int
main(int argc, char **argv)
{
	char *errs = NULL;
	const char *kind = argc > 2 ? argv[1] : "";

	if (strcmp(kind, "map") == 0 && argc >= 5)
		return map(argv[2], argv[3], argv[4], argc > 5 ? argv[5] : NULL);
	if (argc != 3)
		goto usage;
	if (strcmp(kind, "imta") == 0) {
		struct imta_conf *c = imta_conf_load(argv[2], &errs);
		if (c)
			imta_conf_dump(c, stdout);
		imta_conf_free(&c);
		return report(errs == NULL, errs);
	}
	if (strcmp(kind, "mappings") == 0) {
		struct mappings *m = mappings_load(argv[2], &errs);
		if (m)
			mappings_dump(m, stdout);
		mappings_free(&m);
		return report(errs == NULL, errs);
	}
	if (strcmp(kind, "aliases") == 0) {
		struct aliases *a = aliases_load(argv[2], &errs);
		if (a)
			aliases_dump(a, stdout);
		aliases_free(&a);
		return report(errs == NULL, errs);
	}
	if (strcmp(kind, "jobctl") == 0) {
		struct jobctl_conf *j = jobctl_conf_load(argv[2], &errs);
		if (j)
			jobctl_conf_dump(j, stdout);
		jobctl_conf_free(&j);
		return report(errs == NULL, errs);
	}
usage:
	fprintf(stderr, "usage: mtaconf imta|mappings|aliases|jobctl FILE\n"
	    "       mtaconf map FILE TABLE PROBE [TESTS]\n");
	return 2;
}
