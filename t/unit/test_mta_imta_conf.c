/*
 * Unit tests of mta/imta_conf beyond the golden files (t/mta/imta): the
 * API (lookups, effective backoff and notices), includes with absolute
 * paths, the include depth and line length caps.
 */
#include <stdlib.h>
#include <unistd.h>

#include "imta_conf.h"
#include "unit.h"

static char dir[] = "/tmp/test_mta_imta.XXXXXX";

static char *
write_file(const char *name, const char *text)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static const char sample[] =
	"example.com  $U%$D@lmtp-daemon\n"
	".  $U%$H@tcp_local-daemon\n"
	"\n"
	"l notices 2 5\n"
	"mail.example.com\n"
	"\n"
	"tcp_local smtp normalbackoff \"pt10m\" \"pt20m\"\n"
	"tcp_local-daemon\n"
	"relay.example.com\n"
	"\n"
	"lmtp lmtp urgentnotices 1\n"
	"lmtp-daemon\n";

static void
test_api(void)
{
	char *errs = NULL;
	struct imta_conf *c = imta_conf_parse("t", sample, &errs);
	CHECK(c != NULL);
	CHECK_STR(errs, NULL);
	if (c == NULL)
		return;
	CHECK(imta_conf_nrules(c) == 2);
	CHECK_STR(imta_conf_rule(c, 1)->tmpl, "$U%$H@tcp_local-daemon");
	CHECK(imta_conf_rule(c, 1)->line == 2);
	CHECK(imta_conf_rule(c, 2) == NULL);
	CHECK(imta_conf_nchannels(c) == 3);
	const struct imta_channel *tcp = imta_conf_channel_by_host(c, "RELAY.example.com");
	CHECK(tcp != NULL && tcp == imta_conf_channel_by_name(c, "tcp_local"));
	CHECK(tcp && tcp->kw.protocol == IMTA_PROTO_SMTP && tcp->line == 7);
	CHECK(imta_conf_channel_by_name(c, "nope") == NULL);

	int n;
	const long long *b = imta_channel_backoff(tcp, IMTA_NORMAL, &n);
	CHECK(n == 2 && b[0] == 600 && b[1] == 1200);
	b = imta_channel_backoff(tcp, IMTA_URGENT, &n);
	CHECK(n == 7 && b[0] == 1800 && b[6] == 4 * 3600);
	b = imta_channel_backoff(tcp, IMTA_NONURGENT, &n);
	CHECK(n == 7 && b[0] == 2 * 3600 && b[6] == 16 * 3600);

	const int *m = imta_channel_notices(c, tcp, IMTA_NORMAL, &n);   /* from l */
	CHECK(n == 2 && m[0] == 2 && m[1] == 5);
	const struct imta_channel *lmtp = imta_conf_channel_by_name(c, "lmtp");
	m = imta_channel_notices(c, lmtp, IMTA_URGENT, &n);
	CHECK(n == 1 && m[0] == 1);
	imta_conf_free(&c);
	CHECK(c == NULL);

	c = imta_conf_parse("t", "\nx\nx-daemon\n", &errs);
	m = imta_channel_notices(c, imta_conf_channel(c, 0), IMTA_NORMAL, &n);
	CHECK(n == 4 && m[0] == 3 && m[3] == 12);       /* no l: the seed's */
	imta_conf_free(&c);
}

static void
test_include(void)
{
	char *inner = write_file("channels.cnf", "tcp_x smtp\ntcp_x-daemon\n");
	char *text, *errs = NULL;
	if (asprintf(&text, "! rules\n.  $U%%$H@tcp_x-daemon\n\n<%s\n\nl\nl-daemon\n", inner) < 0)
		abort();
	struct imta_conf *c = imta_conf_parse("main", text, &errs);
	CHECK_STR(errs, NULL);
	CHECK(c && imta_conf_nchannels(c) == 2);
	const struct imta_channel *x = c ? imta_conf_channel_by_name(c, "tcp_x") : NULL;
	CHECK(x != NULL && x->line == 1);
	CHECK_STR(x ? x->file : NULL, inner);
	imta_conf_free(&c);
	free(text);

	/* An error inside an included file names that file. */
	char *bad = write_file("bad.cnf", "tcp_y frob\ntcp_y-daemon\n");
	if (asprintf(&text, ".  $U@$D\n\n<%s\n", bad) < 0)
		abort();
	c = imta_conf_parse("main", text, &errs);
	CHECK(c == NULL);
	char *want;
	if (asprintf(&want, "%s:1: unknown channel keyword \"frob\"\n", bad) < 0)
		abort();
	CHECK_STR(errs, want);
	free(errs);
	errs = NULL;
	free(want);
	free(text);
	free(bad);
	free(inner);
}

static void
test_include_loop(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/loop.cnf", dir);
	char *text;
	if (asprintf(&text, "<%s\n", path) < 0)
		abort();
	free(write_file("loop.cnf", text));
	char *errs = NULL;
	struct imta_conf *c = imta_conf_load(path, &errs);
	CHECK(c == NULL);
	char *want;
	if (asprintf(&want, "%s:1: include \"%s\": nested deeper than 8\n", path, path) < 0)
		abort();
	CHECK_STR(errs, want);
	free(want);
	free(errs);
	free(text);

	errs = NULL;
	c = imta_conf_load("/nonexistent/imta.cnf", &errs);
	CHECK(c == NULL);
	CHECK_STR(errs, "open(\"/nonexistent/imta.cnf\"): No such file or directory\n");
	free(errs);
}

static void
test_caps(void)
{
	size_t n = 20000;
	char *text = malloc(n + 64);
	memset(text, 'a', n);
	strcpy(text + n, "  $U@$D\n");
	char *errs = NULL;
	struct imta_conf *c = imta_conf_parse("big", text, &errs);
	CHECK(c == NULL);
	CHECK_STR(errs, "big:1: line longer than 16384 bytes\n");
	free(errs);
	free(text);

	/* A continued line counts as one, reported at its first line. */
	errs = NULL;
	c = imta_conf_parse("cont", "a.example \\\n  $U@$D \\\n  extra\n", &errs);
	CHECK(c == NULL);
	CHECK_STR(errs, "cont:1: a rewrite rule is \"pattern template\" (found more than two words)\n");
	free(errs);

	/* More than CNF_ERRORS_MAX errors: the list is cut, not endless. */
	char *many = malloc(200 * 4 + 1);
	many[0] = '\0';
	for (int i = 0; i < 200; i++)
		strcat(many, "bad\n");
	errs = NULL;
	c = imta_conf_parse("m", many, &errs);
	CHECK(c == NULL);
	CHECK(errs && strstr(errs, "m:100: too many errors") == NULL);
	CHECK(errs && strstr(errs, "too many errors, stopping here\n") != NULL);
	CHECK(errs && strstr(errs, "m:101:") == NULL);
	free(errs);
	free(many);
}

/* Includes cannot multiply a file past CNF_TOTAL_MAX bytes. */
static void
test_total_cap(void)
{
	size_t n = 5 * 1024 * 1024;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i += 64) {
		memset(big + i, 'x', 64);
		big[i] = '!';
		big[i + 63] = '\n';
	}
	big[n] = '\0';
	char *path = write_file("big.cnf", big);
	char *text = calloc(1, 8 * (strlen(path) + 2) + 1);
	for (int i = 0; i < 8; i++)
		sprintf(text + strlen(text), "<%s\n", path);
	char *errs = NULL;
	struct imta_conf *c = imta_conf_parse("main", text, &errs);
	CHECK(c == NULL);
	char *want;
	if (asprintf(&want, "main:7: \"%s\": more than 33554432 bytes with the "
	    "files included so far\nmain:8: \"%s\": more than 33554432 bytes "
	    "with the files included so far\n", path, path) < 0)
		abort();
	CHECK_STR(errs, want);
	free(want);
	free(errs);
	free(text);
	free(path);
	free(big);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	UNIT_RUN(test_api);
	UNIT_RUN(test_include);
	UNIT_RUN(test_include_loop);
	UNIT_RUN(test_caps);
	UNIT_RUN(test_total_cap);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return unit_done();
}
