/* test_smtp_path: MAIL FROM / RCPT TO arguments (RFC 5321 4.1.2): the
 * mailbox forms, flags, the RFC's length limits and ESMTP parameters. */
#include <stdlib.h>

#include "smtp_path.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum { NUL = SMTP_PATH_NULL_OK, PM = SMTP_PATH_POSTMASTER,
       U8 = SMTP_PATH_UTF8 };

/* err: NULL for success, else a substring of the reply (which must also
 * start with "501 ").  params: "KW=value,KW" as parsed. */
static const struct {
	const char *in;
	int flags;
	const char *err;
	const char *mailbox;
	size_t local_len;
	bool utf8;
	const char *params;
} cases[] = {
	/* plain mailboxes; the domain is lower-cased, the local part kept */
	{ "<user@example.com>", 0, NULL, "user@example.com", 4, false, "" },
	{ "<User.Name@Example.COM>", 0, NULL, "User.Name@example.com", 9, false, "" },
	{ "  <a@b>", 0, NULL, "a@b", 1, false, "" },
	{ "<a!#$%&'*+-/=?^_`{|}~@x.y>", 0, NULL, "a!#$%&'*+-/=?^_`{|}~@x.y", 20,
	    false, "" },
	{ "<a.b.c@d-e.f9>", 0, NULL, "a.b.c@d-e.f9", 5, false, "" },
	{ "<postmaster@Dom.example>", 0, NULL, "postmaster@dom.example", 10,
	    false, "" },
	/* the null path */
	{ "<>", NUL, NULL, "", 0, false, "" },
	{ "<> SIZE=100", NUL, NULL, "", 0, false, "SIZE=100" },
	{ "<>", 0, "Null address", NULL, 0, false, NULL },
	{ "<>", PM | U8, "Null address", NULL, 0, false, NULL },
	/* quoted local parts */
	{ "<\"john doe\"@example.com>", 0, NULL, "\"john doe\"@example.com", 10,
	    false, "" },
	{ "<\"a>b\"@X.org>", 0, NULL, "\"a>b\"@x.org", 5, false, "" },
	{ "<\"a\\\"b\"@x.org>", 0, NULL, "\"a\\\"b\"@x.org", 6, false, "" },
	{ "<\"a\\\\\"@x.org>", 0, NULL, "\"a\\\\\"@x.org", 5, false, "" },
	{ "<\"\"@x.org>", 0, NULL, "\"\"@x.org", 2, false, "" },
	{ "<\"a@b\"@x.org>", 0, NULL, "\"a@b\"@x.org", 5, false, "" },
	{ "<\"abc@x.org>", 0, "501 5.5.4", NULL, 0, false, NULL },
	{ "<\"a\"b@x.org>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<\"a\x01\"@x.org>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<\"a\\\x01\"@x.org>", 0, "5.1.3", NULL, 0, false, NULL },
	/* source routes are dropped */
	{ "<@relay.example:user@Dom.example>", 0, NULL, "user@dom.example", 4,
	    false, "" },
	{ "<@a.example,@b.example:u@c.example>", 0, NULL, "u@c.example", 1,
	    false, "" },
	/* postmaster alone only with the flag (RCPT TO) */
	{ "<postmaster>", PM, NULL, "postmaster", 10, false, "" },
	{ "<PostMaster>", PM, NULL, "PostMaster", 10, false, "" },
	{ "<postmaster>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<postmaster>", NUL | U8, "5.1.3", NULL, 0, false, NULL },
	{ "<postmasterx>", PM, "5.1.3", NULL, 0, false, NULL },
	{ "<postmaste>", PM, "5.1.3", NULL, 0, false, NULL },
	{ "<user>", PM, "5.1.3", NULL, 0, false, NULL },
	/* address literals */
	{ "<a@[1.2.3.4]>", 0, NULL, "a@[1.2.3.4]", 1, false, "" },
	{ "<a@[IPv6:2001:DB8::1]>", 0, NULL, "a@[ipv6:2001:db8::1]", 1, false, "" },
	{ "<a@[]>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@[1.2.3.4>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@[1.2.3.4]x>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@[1.2 .3.4]>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@[1.2[3.4]>", 0, "5.1.3", NULL, 0, false, NULL },
	/* bad mailboxes */
	{ "<a..b@c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<.a@c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a.@c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a b@c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "< a@c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@c >", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<@b>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@b@c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@-b.c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@b-.c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@b..c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@b.c.>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@.b.c>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a@b_c.d>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<a(b)@c>", 0, "5.1.3", NULL, 0, false, NULL },
	/* brackets and what follows them */
	{ "a@b", 0, "angle brackets", NULL, 0, false, NULL },
	{ "a@b>", 0, "angle brackets", NULL, 0, false, NULL },
	{ "", 0, "angle brackets", NULL, 0, false, NULL },
	{ "<a@b", 0, "missing closing", NULL, 0, false, NULL },
	{ "<", NUL, "missing closing", NULL, 0, false, NULL },
	{ "<a@b>x", 0, "junk after", NULL, 0, false, NULL },
	{ "<a@b>>", 0, "junk after", NULL, 0, false, NULL },
	{ "<a@b><c@d>", 0, "junk after", NULL, 0, false, NULL },
	{ "<>x", NUL, "junk after", NULL, 0, false, NULL },
	/* parameters: keywords upper-cased, values kept */
	{ "<a@b> SIZE=100 BODY=8BITMIME", 0, NULL, "a@b", 1, false,
	    "SIZE=100,BODY=8BITMIME" },
	{ "<a@b> size=100 body=8bitmime smtputf8", 0, NULL, "a@b", 1, false,
	    "SIZE=100,BODY=8bitmime,SMTPUTF8" },
	{ "<a@b>   x-Foo=Bar   ret=HDRS  ", 0, NULL, "a@b", 1, false,
	    "X-FOO=Bar,RET=HDRS" },
	{ "<a@b> ", 0, NULL, "a@b", 1, false, "" },
	{ "<a@b> ENVID=a+2Bb!~<", 0, NULL, "a@b", 1, false, "ENVID=a+2Bb!~<" },
	{ "<a@b> -X=1", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> =1", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> A=b=c", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> A==", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> SIZE=", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> SIZE= BODY=7BIT", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> K_X", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> K\x01", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> A=x\x7f", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b> A=x\ty", 0, "5.5.4", NULL, 0, false, NULL },
	{ "<a@b>\tSIZE=1", 0, "junk after", NULL, 0, false, NULL },
	{ "<a@b> 1=2 3-4", 0, NULL, "a@b", 1, false, "1=2,3-4" },
	{ "<a@b> A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 I=9 J=10 K=11 L=12 M=13 N=14"
	  " O=15 P=16", 0, NULL, "a@b", 1, false,
	  "A=1,B=2,C=3,D=4,E=5,F=6,G=7,H=8,I=9,J=10,K=11,L=12,M=13,N=14,O=15,"
	  "P=16" },
	{ "<a@b> A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 I=9 J=10 K=11 L=12 M=13 N=14"
	  " O=15 P=16 Q=17", 0, "Too many parameters", NULL, 0, false, NULL },
	/* UTF-8 only under SMTPUTF8 */
	{ "<j\xc3\xbcrgen@example.de>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<j\xc3\xbcrgen@example.de>", U8, NULL, "j\xc3\xbcrgen@example.de", 7,
	    true, "" },
	{ "<jurgen@\xc3\xa9xample.DE>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<jurgen@\xc3\xa9xample.DE>", U8, NULL, "jurgen@\xc3\xa9xample.de", 6,
	    true, "" },
	{ "<\"j\xc3\xbc\"@x.de>", 0, "5.1.3", NULL, 0, false, NULL },
	{ "<\"j\xc3\xbc\"@x.de>", U8, NULL, "\"j\xc3\xbc\"@x.de", 5, true, "" },
	{ "<plain@x.de>", U8, NULL, "plain@x.de", 5, false, "" },
	{ "<a@[\xc3\xa9]>", U8, "5.1.3", NULL, 0, false, NULL },
};

static void
render_params(const struct smtp_path *p, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < p->nparams; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s%s%s",
		    i ? "," : "", p->params[i].keyword,
		    p->params[i].value ? "=" : "",
		    p->params[i].value ? p->params[i].value : "");
}

static void
test_table(void)
{
	for (size_t i = 0; i < N(cases); i++) {
		char line[512], params[512];
		struct smtp_path path;

		snprintf(line, sizeof(line), "%s", cases[i].in);
		const char *err = smtp_path_parse(line, cases[i].flags, &path);
		if (cases[i].err == NULL) {
			CHECK(err == NULL);
			if (err != NULL) {
				fprintf(stderr, "  case %zu \"%s\": %s\n", i,
				    cases[i].in, err);
				continue;
			}
			CHECK_STR(path.mailbox, cases[i].mailbox);
			CHECK(path.local_len == cases[i].local_len);
			CHECK(path.utf8 == cases[i].utf8);
			render_params(&path, params, sizeof(params));
			CHECK_STR(params, cases[i].params);
		} else {
			bool ok = err != NULL && strncmp(err, "501 ", 4) == 0 &&
			    strstr(err, cases[i].err) != NULL;
			CHECK(ok);
			if (!ok)
				fprintf(stderr, "  case %zu \"%s\": got %s, want %s\n",
				    i, cases[i].in, err ? err : "success",
				    cases[i].err);
		}
	}
}

/* Limits: local part 64, path 256 (the mailbox between the brackets). */
static const struct {
	size_t local, domain;   /* lengths to build */
	const char *err;
} limit_cases[] = {
	{ 64, 10, NULL },
	{ 65, 10, "Local part longer than 64" },
	{ 1, 254, NULL },                       /* mailbox of 256 */
	{ 64, 191, NULL },                      /* mailbox of 256 */
	{ 64, 192, "Path longer than 256" },
	{ 1, 255, "5.1.3" },                    /* domain of 255: path 257 */
	{ 1, 256, "5.1.3" },
	{ 200, 200, "5.1.3" },
};

/* A domain of n octets: labels of up to 63 letters separated by dots. */
static void
make_domain(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (i % 64 == 63) ? '.' : 'D';
	if (n > 0 && p[n - 1] == '.')
		p[n - 1] = 'D';
	p[n] = '\0';
}

static void
test_limits(void)
{
	for (size_t i = 0; i < N(limit_cases); i++) {
		char line[1024];
		struct smtp_path path;
		size_t l = limit_cases[i].local, d = limit_cases[i].domain;

		line[0] = '<';
		memset(line + 1, 'x', l);
		line[1 + l] = '@';
		make_domain(line + 2 + l, d);
		strcat(line, "> SIZE=1");
		const char *err = smtp_path_parse(line, 0, &path);
		if (limit_cases[i].err == NULL) {
			CHECK(err == NULL);
			CHECK(strlen(path.mailbox) == l + 1 + d);
			CHECK(path.local_len == l);
			CHECK(path.mailbox[l + 1] == 'd');      /* lower-cased */
			CHECK_STR(smtp_path_param(&path, "SIZE"), "1");
		} else {
			CHECK(err != NULL && strstr(err, limit_cases[i].err));
		}
		if ((err == NULL) != (limit_cases[i].err == NULL))
			fprintf(stderr, "  limit case %zu: %s\n", i,
			    err ? err : "success");
	}
}

static void
test_param_lookup(void)
{
	char line[] = "<a@b> size=100 SMTPUTF8 Body=8BITMIME";
	struct smtp_path path;

	CHECK(smtp_path_parse(line, 0, &path) == NULL);
	CHECK_STR(smtp_path_param(&path, "SIZE"), "100");
	CHECK_STR(smtp_path_param(&path, "SMTPUTF8"), "");
	CHECK_STR(smtp_path_param(&path, "BODY"), "8BITMIME");
	CHECK(smtp_path_param(&path, "RET") == NULL);
	CHECK(smtp_path_param(&path, "size") == NULL);  /* callers pass upper */

	/* A second parse into the same struct starts from scratch. */
	char line2[] = "<j\xc3\xbc@b>";
	CHECK(smtp_path_parse(line2, U8, &path) == NULL);
	CHECK(path.utf8);
	char line3[] = "<>";
	CHECK(smtp_path_parse(line3, NUL, &path) == NULL);
	CHECK(path.nparams == 0 && !path.utf8 && path.mailbox[0] == '\0');
	CHECK(smtp_path_param(&path, "SIZE") == NULL);
}

static void
test_xtext(void)
{
	static const struct { const char *in, *out; } xcases[] = {
		{ "abc", "abc" },
		{ "QQ+2Bx", "QQ+x" },
		{ "rfc822;a+40b.example", "rfc822;a@b.example" },
		{ "+20+7E", " ~" },
		{ "", "" },
		{ "a+2b", NULL },       /* lower-case hex */
		{ "a+2", NULL },
		{ "a+", NULL },
		{ "a+00b", NULL },      /* a NUL */
		{ "a=b", NULL },
		{ "a b", NULL },
		{ "caf\xc3\xa9", NULL },
	};
	for (size_t i = 0; i < sizeof(xcases) / sizeof(xcases[0]); i++) {
		char *got = smtp_xtext_decode(xcases[i].in);
		CHECK_STR(got, xcases[i].out);
		free(got);
	}
}

static void
test_helo(void)
{
	static const struct { const char *in; bool ok; } hcases[] = {
		{ "mx.example.com", true }, { "PC_01", true }, { "[192.0.2.1]", true },
		{ "[IPv6:2001:db8::1]", true }, { "", false }, { "a b", false },
		{ "a|b", false }, { "a\rb", false }, { "[1.2.3.4", false },
		{ "[]", false }, { "[1.2.3.4]x", false },
	};
	for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++)
		CHECK(smtp_helo_valid(hcases[i].in) == hcases[i].ok);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!smtp_helo_valid(longname));
}

int
main(void)
{
	UNIT_RUN(test_table);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_param_lookup);
	UNIT_RUN(test_xtext);
	UNIT_RUN(test_helo);
	return unit_done();
}
