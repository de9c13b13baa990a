/*
 * test_mta_smtp_deliver: the pure parts of the SMTP channel's delivery
 * (mta/smtp_deliver.h) and of the address literals it resolves itself
 * (common/dns.h): step timeouts, recipient domains, this host among the
 * MX records (RFC 5321 5.1), address literals (RFC 5321 4.1.3).
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "dns.h"
#include "smtp_deliver.h"
#include "unit.h"

static void
test_timeouts(void)
{
	static const struct {
		int base;
		enum smtp_deliver_step step;
		int want;
	} cases[] = {
		{ 300, SMTP_STEP_COMMAND, 300000 },     /* RFC: 5 minutes */
		{ 300, SMTP_STEP_DATA, 120000 },        /* 2 */
		{ 300, SMTP_STEP_BLOCK, 180000 },       /* 3 */
		{ 300, SMTP_STEP_DOT, 600000 },         /* 10 */
		{ 300, SMTP_STEP_QUIT, 60000 },
		{ 10, SMTP_STEP_DATA, 4000 },
		{ 1, SMTP_STEP_DATA, 1000 },            /* at least a second */
		{ 1, SMTP_STEP_DOT, 2000 },
		{ 86400, SMTP_STEP_DOT, 86400000 },     /* capped */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(smtp_deliver_timeout_ms(cases[i].base, cases[i].step) ==
		    cases[i].want);
}

static void
test_domain(void)
{
	CHECK_STR(smtp_deliver_domain("a@b.test"), "b.test");
	CHECK_STR(smtp_deliver_domain("\"a@x\"@b.test"), "b.test");
	CHECK_STR(smtp_deliver_domain("a@[127.0.0.1]"), "[127.0.0.1]");
	CHECK(smtp_deliver_domain("postmaster") == NULL);
	CHECK(smtp_deliver_domain("a@") == NULL);
}

static void
test_is_self(void)
{
	CHECK(smtp_deliver_is_self("MX.example.com", "mx.example.com"));
	CHECK(smtp_deliver_is_self("mx.example.com.", "mx.example.com"));
	CHECK(!smtp_deliver_is_self("mx.example.co", "mx.example.com"));
	CHECK(!smtp_deliver_is_self("", ""));
}

/* The MX list "10 a 20 b ...", trimmed: the hosts left, space separated. */
static void
trim_case(const char *const *hosts, const int *prefs, size_t n,
    const char *want, bool want_self)
{
	struct dns_mx mx[8];
	char got[256] = "";
	bool self;

	for (size_t i = 0; i < n; i++) {
		mx[i].preference = prefs[i];
		snprintf(mx[i].host, sizeof(mx[i].host), "%s", hosts[i]);
	}
	n = smtp_deliver_mx_trim(mx, n, "me.test", &self);
	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? " " : "");
		strcat(got, mx[i].host);
	}
	CHECK_STR(got, want);
	CHECK(self == want_self);
}

static void
test_mx_trim(void)
{
	trim_case((const char *[]){ "a", "b" }, (int[]){ 10, 20 }, 2, "a b", false);
	trim_case((const char *[]){ "me.test" }, (int[]){ 10 }, 1, "", true);
	trim_case((const char *[]){ "a", "me.test", "c" }, (int[]){ 10, 20, 30 },
	    3, "a", true);
	/* An equal preference is no better than ours: it could send back. */
	trim_case((const char *[]){ "a", "b", "ME.test." }, (int[]){ 10, 20, 20 },
	    3, "a", true);
	trim_case((const char *[]){ "me.test", "b" }, (int[]){ 10, 20 }, 2, "",
	    true);
}

static void
test_addr_literal(void)
{
	static const struct {
		const char *in;
		int family;             /* 0: not a literal */
		const char *text;
	} cases[] = {
		{ "[127.0.0.5]", AF_INET, "127.0.0.5" },
		{ "[IPv6:::1]", AF_INET6, "::1" },
		{ "[ipv6:2001:DB8::25]", AF_INET6, "2001:db8::25" },
		{ "[::1]", 0, NULL },           /* needs its tag */
		{ "[IPv6:127.0.0.1]", 0, NULL },
		{ "[1.2.3]", 0, NULL },
		{ "[]", 0, NULL },
		{ "127.0.0.1", 0, NULL },
		{ "[127.0.0.1", 0, NULL },
		{ "[x:y]", 0, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dns_addr a = { 0 };
		bool ok = dns_addr_literal(cases[i].in, &a);
		CHECK(ok == (cases[i].family != 0));
		if (ok && cases[i].family != 0) {
			CHECK(a.family == cases[i].family);
			CHECK_STR(a.text, cases[i].text);
		}
	}
}

int
main(void)
{
	UNIT_RUN(test_timeouts);
	UNIT_RUN(test_domain);
	UNIT_RUN(test_is_self);
	UNIT_RUN(test_mx_trim);
	UNIT_RUN(test_addr_literal);
	return unit_done();
}
