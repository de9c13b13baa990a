/*
 * Unit tests of mta/mappings: the closed-relay decisions as a table, and
 * the engine's edges that golden probes cannot express (spaces, lookups
 * through the callback, caps on cost, output and nesting).
 */
#include <stdlib.h>
#include <unistd.h>

#include "mappings.h"
#include "unit.h"

static const char relay[] =
	"INTERNAL_IP\n"
	"\n"
	"  $(127.0.0.1/32)  $Y\n"
	"  $(10.0.0.0/8)  $Y\n"
	"  *  $N\n"
	"\n"
	"PORT_ACCESS\n"
	"\n"
	"  TCP|*|*|*|*  $C$|INTERNAL_IP;$2|$YINTERNAL$E\n"
	"  TCP|*|*|*|*  $YEXTERNAL\n"
	"\n"
	"ORIG_SEND_ACCESS\n"
	"\n"
	"  tcp_local|*|tcp_local|*  $N$D30|Relaying$ not$ allowed\n"
	"\n"
	"SEND_ACCESS\n"
	"\n"
	"  tcp_local|*@example.com|tcp_local|*  $NForged$ sender\n";

static const struct {
	const char *table, *probe;
	int matched;
	unsigned flags;
	const char *text;
} relay_cases[] = {
	/* Internet to Internet: refused, with the seed's delay. */
	{ "ORIG_SEND_ACCESS", "tcp_local|a@example.net|tcp_local|b@example.org", 1,
	  MAPPINGS_N | MAPPINGS_D, "Relaying not allowed" },
	/* Internet to a hosted user: no entry, allowed. */
	{ "ORIG_SEND_ACCESS", "tcp_local|a@example.net|lmtp|alice@example.com", 0, 0, NULL },
	/* Internal and authenticated clients relay. */
	{ "ORIG_SEND_ACCESS", "tcp_intranet|a@example.com|tcp_local|b@example.org", 0, 0, NULL },
	{ "ORIG_SEND_ACCESS", "tcp_auth|a@example.com|tcp_local|b@example.org", 0, 0, NULL },
	/* Case does not help a relay attempt. */
	{ "ORIG_SEND_ACCESS", "TCP_LOCAL|a@x|Tcp_Local|b@y", 1, MAPPINGS_N | MAPPINGS_D,
	  "Relaying not allowed" },
	/* The empty reverse path is still Internet to Internet. */
	{ "ORIG_SEND_ACCESS", "tcp_local||tcp_local|b@example.org", 1,
	  MAPPINGS_N | MAPPINGS_D, "Relaying not allowed" },
	{ "SEND_ACCESS", "tcp_local|x@example.com|tcp_local|b@example.org", 1, MAPPINGS_N,
	  "Forged sender" },
	/* PORT_ACCESS with the seed's INTERNAL_IP idiom. */
	{ "PORT_ACCESS", "TCP|10.0.0.1|25|127.0.0.1|1234", 1, MAPPINGS_Y, "INTERNAL" },
	{ "PORT_ACCESS", "TCP|10.0.0.1|25|10.20.30.40|1234", 1, MAPPINGS_Y, "INTERNAL" },
	{ "PORT_ACCESS", "TCP|10.0.0.1|25|127.0.0.200|1234", 1, MAPPINGS_Y, "EXTERNAL" },
	{ "PORT_ACCESS", "TCP|10.0.0.1|25|198.51.100.1|1234", 1, MAPPINGS_Y, "EXTERNAL" },
	{ "NO_SUCH_TABLE", "x", 0, 0, NULL },
};

static void
test_closed_relay(void)
{
	char *errs = NULL;
	struct mappings *m = mappings_parse("relay", relay, &errs);
	CHECK_STR(errs, NULL);
	if (m == NULL)
		return;
	for (size_t i = 0; i < sizeof relay_cases / sizeof relay_cases[0]; i++) {
		struct mappings_probe p = { relay_cases[i].probe, 0, NULL, NULL };
		struct mappings_result r;
		bool got = mappings_apply(m, relay_cases[i].table, &p, &r);
		CHECK(got == (relay_cases[i].matched != 0));
		if (got) {
			CHECK(r.flags == relay_cases[i].flags);
			CHECK_STR(r.text, relay_cases[i].text);
		}
		if (got != (relay_cases[i].matched != 0))
			fprintf(stderr, "  case %zu: %s %s\n", i, relay_cases[i].table,
			    relay_cases[i].probe);
		mappings_result_clear(&r);
	}
	CHECK(mappings_has_table(m, "port_access"));
	mappings_free(&m);
	CHECK(m == NULL);
}

static bool
lookup(void *arg, char kind, const char *query, char **result)
{
	(*(int *)arg)++;
	if (strstr(query, "fail") != NULL)
		return false;
	if (asprintf(result, "%c:%s", kind, query) < 0)
		abort();
	return true;
}

static void
test_engine_edges(void)
{
	char *errs = NULL;
	struct mappings *m = mappings_parse("edge",
	    "SPACE\n"
	    "  a$ b*  got$ $0\n"
	    "LOOK\n"
	    "  *  ${q,$0}$]ldap:///?x?(uid=$0)[\n"
	    "  *  none\n"
	    "COSTLY\n"
	    "  *a*a*a*a*a*a*a*a*b  $Y\n"
	    "BIG\n"
	    "  *  $0$0$0$0$0$0$0$0$0$0\n"
	    "SELF\n"
	    "  *  $|SELF;$0|\n", &errs);
	CHECK_STR(errs, NULL);
	if (m == NULL)
		return;
	struct mappings_result r;
	int calls = 0;
	struct mappings_probe p = { "A Bcd", 0, lookup, &calls };
	CHECK(mappings_apply(m, "SPACE", &p, &r));
	CHECK_STR(r.text, "got cd");
	mappings_result_clear(&r);

	p.input = "bob";
	CHECK(mappings_apply(m, "LOOK", &p, &r));
	CHECK_STR(r.text, "{:q,bob]:ldap:///?x?(uid=bob)");
	CHECK(calls == 2);
	mappings_result_clear(&r);
	p.input = "fail";      /* the lookup fails: the next entry */
	CHECK(mappings_apply(m, "LOOK", &p, &r));
	CHECK_STR(r.text, "none");
	mappings_result_clear(&r);

	/* A pathological pattern stops at the step budget, with an error. */
	char input[201];
	memset(input, 'a', 200);
	input[200] = '\0';
	p.input = input;
	CHECK(!mappings_apply(m, "COSTLY", &p, &r));
	CHECK_STR(r.error, "pattern too costly");
	mappings_result_clear(&r);

	/* Output past MAPPINGS_INPUT_MAX: no match and an error. */
	char *long_in = malloc(1001);
	memset(long_in, 'x', 1000);
	long_in[1000] = '\0';
	p.input = long_in;
	CHECK(!mappings_apply(m, "BIG", &p, &r));
	CHECK_STR(r.error, "mapping output too long");
	mappings_result_clear(&r);
	free(long_in);

	/* A table that applies itself stops at the nesting cap. */
	p.input = "x";
	CHECK(!mappings_apply(m, "SELF", &p, &r));
	CHECK(r.error != NULL);
	mappings_result_clear(&r);

	/* A probe longer than the cap is refused, not cut. */
	char *huge = malloc(MAPPINGS_INPUT_MAX + 2);
	memset(huge, 'y', MAPPINGS_INPUT_MAX + 1);
	huge[MAPPINGS_INPUT_MAX + 1] = '\0';
	p.input = huge;
	CHECK(!mappings_apply(m, "SPACE", &p, &r));
	CHECK_STR(r.error, "probe too long");
	mappings_result_clear(&r);
	free(huge);
	mappings_free(&m);
}

static void
test_errors(void)
{
	static const struct { const char *text, *errs; } cases[] = {
		{ "T\n  a  $Y\n\n  b  $Y\n",
		  "e:4: T: blank line inside the table, or an indented line after it\n" },
		{ "T\n  a  $W\n", "e:2: T: template \"$W\": unknown template flag \"$W\"\n" },
		{ "T\n  *  $1\n", "e:2: T: template \"$1\": \"$1\" but the pattern has 1 wildcard\n" },
		{ "T\n  $@*  $0\n", "e:2: T: template \"$0\": \"$0\" but the pattern has 0 wildcards\n" },
		{ "T\n  ${1::/200}  $Y\n", "e:2: T: pattern \"${1::/200}\": bad subnet \"${1::/200}\"\n" },
		{ "T\n  a  $|T;x\n", "e:2: T: template \"$|T;x\": unterminated \"$|TABLE;argument|\"\n" },
		{ "T\n", "e:1: table T has no entries\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *errs = NULL;
		struct mappings *m = mappings_parse("e", cases[i].text, &errs);
		CHECK(m == NULL);
		CHECK_STR(errs, cases[i].errs);
		free(errs);
	}
}

/* CRLF line ends, "\" continuation, and "<" includes of a table. */
static void
test_lines(void)
{
	char path[] = "/tmp/test_mta_mappings.XXXXXX";
	static const char inc[] = "INC\r\n  a*  $Yinc$0\r\n";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, inc, strlen(inc)) != (ssize_t)strlen(inc))
		abort();
	close(fd);
	char *text, *errs = NULL;
	if (asprintf(&text, "T\r\n\r\n  x*  \\\r\n  $Y$0\r\n\r\n<%s\r\n", path) < 0)
		abort();
	struct mappings *m = mappings_parse("crlf", text, &errs);
	CHECK_STR(errs, NULL);
	struct mappings_result r;
	struct mappings_probe p = { "xyz", 0, NULL, NULL };
	CHECK(m && mappings_apply(m, "T", &p, &r));
	CHECK_STR(r.text, "yz");
	CHECK(r.entry_line == 3);
	mappings_result_clear(&r);
	p.input = "abc";
	CHECK(m && mappings_apply(m, "INC", &p, &r));
	CHECK_STR(r.text, "incbc");
	mappings_result_clear(&r);
	mappings_free(&m);
	free(text);
	unlink(path);
}

int
main(void)
{
	UNIT_RUN(test_closed_relay);
	UNIT_RUN(test_lines);
	UNIT_RUN(test_engine_edges);
	UNIT_RUN(test_errors);
	return unit_done();
}
