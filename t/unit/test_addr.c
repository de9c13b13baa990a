/* test_addr: RFC 5322 address lists: the examples of RFC 5322 appendix A,
 * obsolete forms, groups, and the garbage real mail carries, each rendered
 * as a compact string; then the caps and a random-input loop that checks
 * the invariants (groups balanced, sizes within the caps). */
#include <stdlib.h>

#include "addr.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Render a list: "name|adl|mailbox|host;" per mailbox, "-" for NULL,
 * "G:name;" for a group start and "G;" for its end. */
static char *
render(const struct addr_list *l)
{
	static char buf[65536];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && o < sizeof(buf) - 4096; i++) {
		const struct addr *a = &l->v[i];
		if (a->kind == ADDR_GROUP_START)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "G:%s;",
			    a->mailbox);
		else if (a->kind == ADDR_GROUP_END)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "G;");
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
			    "%s|%s|%s|%s;", a->name ? a->name : "-",
			    a->adl ? a->adl : "-", a->mailbox ? a->mailbox : "-",
			    a->host ? a->host : "-");
	}
	return buf;
}

static const struct {
	const char *in;
	const char *want;
} cases[] = {
	/* RFC 5322 A.1.2 */
	{ "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	  "Mary Smith|-|mary|x.test;-|-|jdoe|example.org;Who?|-|one|y.test;" },
	{ "\"Joe Q. Public\" <john.q.public@example.com>",
	  "Joe Q. Public|-|john.q.public|example.com;" },
	{ "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
	  "-|-|boss|nil.test;Giant; \"Big\" Box|-|sysservices|example.net;" },
	/* A.1.3 groups */
	{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
	  "G:A Group;Ed Jones|-|c|a.test;-|-|joe|where.test;"
	  "John|-|jdoe|one.test;G;" },
	{ "Undisclosed recipients:;", "G:Undisclosed recipients;G;" },
	{ "undisclosed-recipients: ;", "G:undisclosed-recipients;G;" },
	/* A.5 white space and comments */
	{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	  "Pete|-|pete|silly.test;" },
	{ "A Group(Some people):Chris Jones <c@(Chris's host.)public.example>, "
	  "joe@example.org, John <jdoe@one.test> (my dear friend); "
	  "(the end of the group)",
	  "G:A Group;Chris Jones|-|c|public.example;-|-|joe|example.org;"
	  "John|-|jdoe|one.test;G;" },
	{ "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
	  "G:Hidden recipients;G;" },
	/* A.6 obsolete forms */
	{ "Joe Q. Public <john.q.public@example.com>",
	  "Joe Q. Public|-|john.q.public|example.com;" },
	{ "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
	  "Mary Smith|@node.test|mary|example.net;-|-|jdoe|test.example;" },
	{ "John Doe <jdoe@machine(comment).  example>",
	  "John Doe|-|jdoe|machine.example;" },
	{ "<@a.test,@b.test:x@c.test>", "-|@a.test,@b.test|x|c.test;" },
	{ "<@a.test, @b.test : x@c.test>", "-|@a.test,@b.test|x|c.test;" },
	{ "john . q . public@example.com", "-|-|john.q.public|example.com;" },
	/* encoded words stay raw; 8-bit passes */
	{ "=?UTF-8?Q?J=C3=B6rg?= <j@x.de>", "=?UTF-8?Q?J=C3=B6rg?=|-|j|x.de;" },
	{ "\"=?utf-8?B?SsO2cmc=?=\" <j@x.de>", "=?utf-8?B?SsO2cmc=?=|-|j|x.de;" },
	{ "J\xc3\xb6rg M\xc3\xbcller <jm@x.de>",
	  "J\xc3\xb6rg M\xc3\xbcller|-|jm|x.de;" },
	{ "\"J\xc3\xb6rg\" <j\xc3\xb6@b\xc3\xbc.de>",
	  "J\xc3\xb6rg|-|j\xc3\xb6|b\xc3\xbc.de;" },
	/* a comment names a bare addr-spec */
	{ "user@host (Real Name)", "Real Name|-|user|host;" },
	{ "(before) user@host", "-|-|user|host;" },
	{ "a@b (A), c@d", "A|-|a|b;-|-|c|d;" },
	/* missing pieces */
	{ "joe", "-|-|joe|-;" },
	{ "joe@", "-|-|joe|-;" },
	{ "@x", "-|-|-|x;" },
	{ "<>", "-|-|-|-;" },
	{ "Joe <>", "Joe|-|-|-;" },
	{ "\"\" <a@b>", "-|-|a|b;" },
	{ "John <john@x.test", "John|-|john|x.test;" },
	{ "John <john@x.test, Ann <ann@y.test>",
	  "John|-|john|x.test;Ann|-|ann|y.test;" },
	{ "Group: a@b, c@d", "G:Group;-|-|a|b;-|-|c|d;G;" },
	{ ": a@b;", "G:;-|-|a|b;G;" },
	/* garbage */
	{ "a@b c@d", "-|-|a|b;" },
	{ ";;;,,,", "" },
	{ "", "" },
	{ "   ", "" },
	{ "> a@b", "" },
	{ "a@b, > x, c@d", "-|-|a|b;-|-|c|d;" },
	{ "\"unterminated <a@b>", "-|-|unterminated <a@b>|-;" },
	{ "(unterminated comment a@b", "" },
	{ "a@[1.2.3.4]", "-|-|a|[1.2.3.4];" },
	{ "a@[unterminated", "-|-|a|[unterminated;" },
	{ "\"a b\"@x", "-|-|a b|x;" },
	{ "john@x.com <john@x.com>", "john@x.com|-|john|x.com;" },
	{ "[EXTERNAL] Bob <bob@x>", "[EXTERNAL] Bob|-|bob|x;" },
	{ "G1: a@b; G2: ; c@d",
	  "G:G1;-|-|a|b;G;G:G2;G;-|-|c|d;" },
	{ "Nested: Inner: a@b;;", "G:Nested;-|-|Inner|-;G;" },
	{ "a@b;", "-|-|a|b;" },
	{ "<a@b>>", "-|-|a|b;" },
	{ "x\r\n <a@b>", "x|-|a|b;" },
	{ "a\0b@c", "-|-|ab|c;" },
};

static void
test_cases(void)
{
	for (size_t i = 0; i < N(cases); i++) {
		struct addr_list l;
		size_t len = strlen(cases[i].in);

		if (i == N(cases) - 1)      /* the embedded NUL */
			len = 5;
		addr_list_parse(cases[i].in, len, &l);
		CHECK_STR(render(&l), cases[i].want);
		CHECK(!l.truncated);
		addr_list_free(&l);
	}
}

/* Too many addresses: cut at ADDR_LIST_MAX, groups still balanced. */
static void
test_caps(void)
{
	size_t n = 3 * ADDR_LIST_MAX;
	char *s = malloc(n * 8 + 64), *p = s;
	struct addr_list l;

	p += sprintf(p, "G:");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "a%zu@b,", i % 1000);
	addr_list_parse(s, strlen(s), &l);
	CHECK(l.truncated);
	CHECK(l.n == ADDR_LIST_MAX);
	CHECK(l.v[0].kind == ADDR_GROUP_START);
	CHECK(l.v[l.n - 1].kind == ADDR_GROUP_END);
	CHECK(l.v[l.n - 2].kind == ADDR_MAILBOX);
	addr_list_free(&l);

	/* a long name is cut at ADDR_FIELD_MAX */
	memset(s, 'x', 3000);
	strcpy(s + 3000, " <a@b>");
	addr_list_parse(s, strlen(s), &l);
	CHECK(l.n == 1 && l.v[0].name && strlen(l.v[0].name) == ADDR_FIELD_MAX);
	CHECK_STR(l.v[0].mailbox, "a");
	addr_list_free(&l);
	free(s);

	/* input past ADDR_INPUT_MAX is not read */
	s = malloc(ADDR_INPUT_MAX + 100);
	memset(s, ' ', ADDR_INPUT_MAX + 100);
	memcpy(s + ADDR_INPUT_MAX + 10, "a@b", 3);
	addr_list_parse(s, ADDR_INPUT_MAX + 100, &l);
	CHECK(l.n == 0 && l.truncated);
	addr_list_free(&l);
	free(s);
}

/* Random inputs from a hostile alphabet: no crash (ASan), and the result
 * keeps its invariants. */
static void
test_random(void)
{
	static const char alphabet[] = "ab@.<>,;:\"\\()[] \t\r\n=?\x80\xff";
	char buf[128];

	srand(12345);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)rand() % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		struct addr_list l;
		addr_list_parse(buf, len, &l);
		int depth = 0, bad = 0;
		for (size_t i = 0; i < l.n; i++) {
			const struct addr *a = &l.v[i];
			if (a->kind == ADDR_GROUP_START)
				bad += depth++ != 0 || a->mailbox == NULL;
			else if (a->kind == ADDR_GROUP_END)
				bad += depth-- != 1;
			const char *s[] = { a->name, a->adl, a->mailbox, a->host };
			for (size_t k = 0; k < 4; k++)
				bad += s[k] != NULL && strlen(s[k]) > ADDR_FIELD_MAX;
		}
		CHECK(bad == 0 && depth == 0 && l.n <= ADDR_LIST_MAX);
		addr_list_free(&l);
	}
}

int
main(void)
{
	UNIT_RUN(test_cases);
	UNIT_RUN(test_caps);
	UNIT_RUN(test_random);
	return unit_done();
}
