/* test_dir_filter: RFC 4515 escaping of assertion values, and the filter
 * dir_find_user builds from them. */
#include <stdlib.h>

#include "dir_private.h"
#include "unit.h"

static const struct {
	const char *in, *want;
} escape_cases[] = {
	{ "", "" },
	{ "alice@example.com", "alice@example.com" },
	{ "*", "\\2a" },
	{ "(", "\\28" },
	{ ")", "\\29" },
	{ "\\", "\\5c" },
	{ "x*)(mail=*", "x\\2a\\29\\28mail=\\2a" },
	{ "*)(|(objectClass=*", "\\2a\\29\\28|\\28objectClass=\\2a" },
	{ "a\\2a", "a\\5c2a" },                 /* no double unescaping */
	{ "line\r\nbreak", "line\\0d\\0abreak" },
	{ "tab\there", "tab\\09here" },
	{ "\x01\x1f\x7f", "\\01\\1f\\7f" },
	{ " ~=<>&|!", " ~=<>&|!" },             /* operators are fine inside */
	{ "j\xc3\xbcrgen@example.de", "j\xc3\xbcrgen@example.de" },   /* UTF-8 */
	{ "\xff\x80", "\xff\x80" },
};

static void
test_escape_table(void)
{
	for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]);
	    i++) {
		char *got = dir_filter_escape(escape_cases[i].in);

		CHECK_STR(got, escape_cases[i].want);
		free(got);
	}
}

/* Every output byte is outside the set the grammar forbids unescaped. */
static void
test_escape_all_bytes(void)
{
	char in[256], *got;
	size_t n = 0;

	for (int c = 1; c < 256; c++)
		in[n++] = (char)c;
	in[n] = '\0';
	got = dir_filter_escape(in);
	for (const unsigned char *p = (const unsigned char *)got; *p; p++) {
		CHECK(*p != '*' && *p != '(' && *p != ')');
		CHECK(*p >= 0x20 && *p != 0x7f);
		if (*p == '\\')
			CHECK(strlen((const char *)p) >= 3 && p[1] != '\0');
	}
	/* 31 controls + DEL + 4 specials escaped, 3 bytes each. */
	CHECK(strlen(got) == 255 + 36 * 2);
	free(got);
}

static void
test_user_filter(void)
{
	char *f = dir_filter_user("a*b@example.com");

	CHECK_STR(f, "(&(|(objectClass=inetMailUser)(objectClass=inetMailGroup)"
	    "(objectClass=inetLocalMailRecipient))"
	    "(|(mail=a\\2ab@example.com)(mailAlternateAddress=a\\2ab@example.com)"
	    "(mailEquivalentAddress=a\\2ab@example.com)))");
	free(f);
}

/* The hostile classic: the value must stay one assertion value. */
static void
test_user_filter_injection(void)
{
	char *f = dir_filter_user("*)(objectClass=*))(|(mail=*");
	int depth = 0, min = 0;

	for (const char *p = f; *p; p++) {
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		if (depth < min)
			min = depth;
	}
	CHECK(depth == 0 && min == 0);
	CHECK(strstr(f, "(objectClass=*)") == NULL);
	free(f);
}

/* memberURL values as groups carry them. */
static void
test_url_parse(void)
{
	static const struct {
		const char *url;
		bool ok;
		const char *base, *filter;
		enum dir_scope scope;
	} cases[] = {
		{ "ldap:///ou=People,o=example.org,dc=example,dc=com??one?(objectClass=inetMailUser)",
		  true, "ou=People,o=example.org,dc=example,dc=com",
		  "(objectClass=inetMailUser)", DIR_SCOPE_ONE },
		{ "ldap:///o=x??sub?(mail=*)", true, "o=x", "(mail=*)", DIR_SCOPE_SUB },
		{ "ldap:///cn=a%20b,o=x", true, "cn=a b,o=x", "(objectClass=*)",
		  DIR_SCOPE_BASE },
		{ "ldap://host:389/o=x??base", true, "o=x", "(objectClass=*)",
		  DIR_SCOPE_BASE },
		{ "mailto:alice@example.com", false, NULL, NULL, DIR_SCOPE_BASE },
		{ "ldap:///o=x??nonsense?(a=b)", false, NULL, NULL, DIR_SCOPE_BASE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *base = NULL, *filter = NULL;
		enum dir_scope scope = DIR_SCOPE_SUB;
		bool ok = dir_url_parse(cases[i].url, &base, &scope, &filter);
		CHECK(ok == cases[i].ok);
		if (ok && cases[i].ok) {
			CHECK_STR(base, cases[i].base);
			CHECK_STR(filter, cases[i].filter);
			CHECK(scope == cases[i].scope);
		}
		free(base);
		free(filter);
	}
}

int
main(void)
{
	UNIT_RUN(test_escape_table);
	UNIT_RUN(test_escape_all_bytes);
	UNIT_RUN(test_user_filter);
	UNIT_RUN(test_user_filter_injection);
	UNIT_RUN(test_url_parse);
	return unit_done();
}
