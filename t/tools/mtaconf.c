/*
 * mtaconf: parse one of the MTA's configuration files and print its
 * canonical dump (exit 0) or its errors, one "file:line: message" a line
 * (exit 1), both on stdout; or apply a mapping table to a probe; or run
 * rewrite probes against an imta.cnf.  Driven by t/test_mta_conf.py
 * against the golden files in t/mta/.
 *
 *   mtaconf imta|mappings|aliases|jobctl FILE
 *   mtaconf map FILE TABLE PROBE [TESTS]      TESTS: letters of A T E L
 *   mtaconf rewrite IMTA_FILE PROBES_FILE
 *
 * A probes file has one probe a line; "#" lines and blank lines are
 * skipped:
 *   [--from CHAN] [--to CHAN] [--header] [--reverse] ADDRESS
 *       rewrite ADDRESS ("<>" is the null path) as an envelope, forward
 *       address unless --header / --reverse, with CHAN as the source /
 *       destination channel;
 *   lookup KIND QUERY ANSWER
 *       from here on the lookup ${QUERY} (KIND "{"), $]QUERY[ ("]") or
 *       $(QUERY) ("(") answers ANSWER; any other lookup fails.
 * Each probe prints "> " and the line, the trace indented by two spaces,
 * then "= ADDRESS channel CHAN host HOST" or "= error: TEXT".  Exit 0, or
 * 1 when the configuration does not load or a probe line is malformed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "imta_conf.h"
#include "jobctl_conf.h"
#include "mappings.h"
#include "rewrite.h"

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

#define PROBE_LINE_MAX 4096
#define PROBE_LOOKUPS_MAX 64

struct probe_lookup {
	char kind;
	char *query, *answer;
};

struct probe_lookups {
	struct probe_lookup v[PROBE_LOOKUPS_MAX];
	int n;
};

static bool
probe_lookup(void *arg, char kind, const char *query, char **result)
{
	const struct probe_lookups *l = arg;
	for (int i = 0; i < l->n; i++)
		if (l->v[i].kind == kind && strcmp(l->v[i].query, query) == 0) {
			*result = strdup(l->v[i].answer);
			return *result != NULL;
		}
	return false;
}

static void
probe_trace(void *arg, const char *line)
{
	(void)arg;
	printf("  %s\n", line);
}

/* "lookup KIND QUERY ANSWER" */
static bool
probe_add_lookup(struct probe_lookups *l, char **w, int n)
{
	if (n != 4 || strlen(w[1]) != 1 || !strchr("{](", w[1][0]) ||
	    l->n == PROBE_LOOKUPS_MAX)
		return false;
	l->v[l->n].kind = w[1][0];
	l->v[l->n].query = strdup(w[2]);
	l->v[l->n].answer = strdup(w[3]);
	l->n++;
	return true;
}

/* "[--from CHAN] [--to CHAN] [--header] [--reverse] ADDRESS" */
static bool
probe_run(const struct imta_conf *conf, struct probe_lookups *l, char **w,
    int n)
{
	struct rewrite_ctx ctx = { NULL, NULL, true, true, probe_lookup, l,
		probe_trace, NULL };
	int i = 0;
	for (; i < n - 1; i++) {
		if (strcmp(w[i], "--from") == 0 && i + 2 < n)
			ctx.src_channel = w[++i];
		else if (strcmp(w[i], "--to") == 0 && i + 2 < n)
			ctx.dst_channel = w[++i];
		else if (strcmp(w[i], "--header") == 0)
			ctx.envelope = false;
		else if (strcmp(w[i], "--reverse") == 0)
			ctx.forward = false;
		else
			return false;
	}
	if (i != n - 1)
		return false;
	struct rewrite_result res;
	const char *addr = strcmp(w[i], "<>") == 0 ? "" : w[i];
	if (rewrite_address(conf, addr, &ctx, &res))
		printf("= %s channel %s host %s\n", *res.address ? res.address : "<>",
		    res.channel->name, res.host);
	else
		printf("= error: %s\n", res.error);
	rewrite_result_clear(&res);
	return true;
}

static int
rewrite_probes(const char *imta, const char *probes)
{
	char *errs = NULL, line[PROBE_LINE_MAX];
	struct imta_conf *conf = imta_conf_load(imta, &errs);
	if (conf == NULL)
		return report(false, errs);
	FILE *f = fopen(probes, "r");
	if (f == NULL) {
		printf("fopen(\"%s\"): %s\n", probes, strerror(errno));
		imta_conf_free(&conf);
		return 1;
	}
	struct probe_lookups l = { .n = 0 };
	int rc = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		char *w[16] = { NULL }, *save = NULL, *t;
		int n = 0;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
			continue;
		char *copy = strdup(line);
		for (t = strtok_r(copy, " \t", &save); t && n < 16;
		    t = strtok_r(NULL, " \t", &save))
			w[n++] = t;
		bool ok = t == NULL && n > 0;
		if (ok && strcmp(w[0], "lookup") == 0)
			ok = probe_add_lookup(&l, w, n);
		else if (ok) {
			printf("> %s\n", line);
			ok = probe_run(conf, &l, w, n);
		}
		if (!ok) {
			printf("bad probe line: %s\n", line);
			rc = 1;
		}
		free(copy);
	}
	fclose(f);
	for (int i = 0; i < l.n; i++) {
		free(l.v[i].query);
		free(l.v[i].answer);
	}
	imta_conf_free(&conf);
	return rc;
}

int
main(int argc, char **argv)
{
	char *errs = NULL;
	const char *kind = argc > 2 ? argv[1] : "";

	if (strcmp(kind, "rewrite") == 0 && argc == 4)
		return rewrite_probes(argv[2], argv[3]);
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
	    "       mtaconf map FILE TABLE PROBE [TESTS]\n"
	    "       mtaconf rewrite IMTA_FILE PROBES_FILE\n");
	return 2;
}
