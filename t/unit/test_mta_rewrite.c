/*
 * Unit tests of mta/rewrite: one table of addresses and contexts against
 * a configuration that has a rule for every substitution, condition and
 * template form, the lookup order, and the edges golden probes cannot
 * reach (caps, the lookup callback's calls, the trace's lines).
 */
#include <stdlib.h>

#include "rewrite.h"
#include "unit.h"

static const char conf_text[] =
	"$*                 $U%$H@star-host$Mstar\n"
	/* substitutions */
	"exact.example      $U%$D@l-host\n"
	"subaddr.example    $0U%$1U.$D@l-host\n"
	".h.example         $U%$H@l-host\n"
	".nh.example        $U%$1H@l-host\n"
	".d.example         $U%x$D@l-host\n"
	".nd.example        $U%x$1D@l-host\n"
	"host.nd.example    $U%$1D@l-host\n"
	"two.example        $U%y$2D@l-host\n"
	"lit.example        $$$%$@x%$D@l-host\n"
	"case.example       $\\$U%$^$D$_x@l-host\n"
	"[192.168.]         $U%[$L]@ti-host\n"
	"[10.]              $U%x$L.$D@ti-host\n"
	"[IPv6:2001:db8::]  $U%v6-$L@ti-host\n"
	"[]                 $U%[$L]@tl-host\n"
	/* conditions */
	"env.example        $U%e.$D@l-host$E\n"
	"env.example        $U%b.$D@l-host$B\n"
	"dir.example        $F$U%f.$D@l-host\n"
	"dir.example        $R$U%r.$D@l-host\n"
	"src.example        $U%m.$D@l-host$Mtcp_intranet\n"
	"src.example        $U%n.$D@l-host$Ntcp_local\n"
	"src.example        $U%$D@tl-host\n"
	"dst.example        $U%q.$D@l-host$Qtcp_intranet\n"
	"dst.example        $U%c.$D@ti-host$Cl\n"
	"dst.example        $U%$D@tl-host\n"
	"err.example        $?go_away$U%$D@nowhere\n"
	"noroute.example    $U%$D@nowhere\n"
	/* lookups */
	"look.example       ${users,$U}%$D@l-host\n"
	"look.example       $U%fallback.$D@l-host\n"
	"ldap.example       $]ldap:///?mail?sub?(uid=$U)[\n"
	"db.example         $(db:$U)%$D@l-host\n"
	"nest.example       ${outer,${inner,$U}}%$D@l-host\n"
	/* lookup order */
	"tl-host            $U%rule.$D@l-host\n"
	".corp.example      $U%$H$D@tl-host\n"
	".a.order.example   $U%a@l-host\n"
	".order.example     $U%order@l-host\n"
	".f.example         $U%first@l-host$Mnone\n"
	".f.example         $U%second@l-host\n"
	".g.x.example       $U%g@l-host$Mnone\n"
	".x.example         $U%x@l-host\n"
	/* forms */
	"old.example        $U%exact.example\n"
	"loop.example       $U%loop.example\n"
	"sr.example         $U@$D@gw@tl-host\n"
	"sr3.example        $U@$D@tl-host\n"
	"ab.example         $U@l-host\n"
	"big.example        $U$U$U%$D@l-host\n"
	".                  $U%$H$D@tl-host\n"
	"\n"
	"l\n"
	"local.example\n"
	"l-host\n"
	"\n"
	"tcp_local smtp\n"
	"tl-host\n"
	"\n"
	"tcp_intranet smtp\n"
	"ti-host\n"
	"gw.corp.example\n"
	"\n"
	"tcp_auth smtp\n"
	"ta-host\n"
	"\n"
	"star\n"
	"star-host\n";

enum { HDR = 1, REV = 2 };

static const struct rcase {
	const char *addr, *src, *dst;
	unsigned flags;
	const char *address, *channel, *host;   /* NULL address: it fails */
	const char *error;
} cases[] = {
	/* $U $D, case kept, the pattern matched case-insensitively */
	{ "u@exact.example", NULL, NULL, 0, "u@exact.example", "l", "l-host", NULL },
	{ "U@EXACT.Example", NULL, NULL, 0, "U@EXACT.Example", "l", "l-host", NULL },
	/* $0U $1U */
	{ "a+b@subaddr.example", NULL, NULL, 0, "a@b.subaddr.example", "l", "l-host", NULL },
	/* $H $nH $D $nD */
	{ "u@a.b.h.example", NULL, NULL, 0, "u@a.b", "l", "l-host", NULL },
	{ "u@a.b.nh.example", NULL, NULL, 0, "u@b", "l", "l-host", NULL },
	{ "u@a.d.example", NULL, NULL, 0, "u@x.d.example", "l", "l-host", NULL },
	{ "u@a.nd.example", NULL, NULL, 0, "u@x.example", "l", "l-host", NULL },
	{ "u@host.nd.example", NULL, NULL, 0, "u@nd.example", "l", "l-host", NULL },
	{ "u@two.example", NULL, NULL, 0, "u@y", "l", "l-host", NULL },
	/* $$ $% $@, and the case controls */
	{ "u@lit.example", NULL, NULL, 0, "$%@x@lit.example", "l", "l-host", NULL },
	{ "Ab@Case.Example", NULL, NULL, 0, "ab@CASE.EXAMPLEx", "l", "l-host", NULL },
	/* literals: $L, $D of a literal, IPv6, the [] catch-all */
	{ "u@[192.168.1.2]", NULL, NULL, 0, "u@[1.2]", "tcp_intranet", "ti-host", NULL },
	{ "u@[10.1.2.3]", NULL, NULL, 0, "u@x1.2.3.[10.]", "tcp_intranet", "ti-host", NULL },
	{ "u@[IPv6:2001:db8::7]", NULL, NULL, 0, "u@v6-7", "tcp_intranet", "ti-host", NULL },
	{ "u@[192.0.2.1]", NULL, NULL, 0, "u@[192.0.2.1]", "tcp_local", "tl-host", NULL },
	/* $E $B $F $R */
	{ "u@env.example", NULL, NULL, 0, "u@e.env.example", "l", "l-host", NULL },
	{ "u@env.example", NULL, NULL, HDR, "u@b.env.example", "l", "l-host", NULL },
	{ "u@dir.example", NULL, NULL, 0, "u@f.dir.example", "l", "l-host", NULL },
	{ "u@dir.example", NULL, NULL, REV, "u@r.dir.example", "l", "l-host", NULL },
	/* $M $N, with and without a source channel */
	{ "u@src.example", "tcp_intranet", NULL, 0, "u@m.src.example", "l", "l-host", NULL },
	{ "u@src.example", "tcp_auth", NULL, 0, "u@n.src.example", "l", "l-host", NULL },
	{ "u@src.example", "tcp_local", NULL, 0, "u@src.example", "tcp_local", "tl-host", NULL },
	{ "u@src.example", NULL, NULL, 0, "u@n.src.example", "l", "l-host", NULL },
	/* $Q $C: the caller's destination, else the rule's own channel */
	{ "u@dst.example", NULL, "tcp_intranet", 0, "u@q.dst.example", "l", "l-host", NULL },
	{ "u@dst.example", NULL, "l", 0, "u@dst.example", "tcp_local", "tl-host", NULL },
	{ "u@dst.example", NULL, NULL, 0, "u@c.dst.example", "tcp_intranet", "ti-host", NULL },
	/* $? and an unknown route host */
	{ "u@err.example", NULL, NULL, 0, NULL, NULL, NULL, "go_away" },
	{ "u@noroute.example", NULL, NULL, 0, NULL, NULL, NULL,
	  "route host nowhere: no channel has that host name" },
	/* lookups: answered, failed (next rule), the form from the answer,
	 * $(...), nested */
	{ "alice@look.example", NULL, NULL, 0, "m-users,alice@look.example", "l", "l-host", NULL },
	{ "fail@look.example", NULL, NULL, 0, "fail@fallback.look.example", "l", "l-host", NULL },
	{ "bob@ldap.example", NULL, NULL, 0, "bob@ldap.example", "l", "l-host", NULL },
	{ "u@db.example", NULL, NULL, 0, "d-db:u@db.example", "l", "l-host", NULL },
	{ "u@nest.example", NULL, NULL, 0, "m-outer,m-inner,u@nest.example", "l", "l-host", NULL },
	/* lookup order: $* first, exact before channel hosts before
	 * subdomains, longer patterns first, file order, fall-through */
	{ "u@exact.example", "star", NULL, 0, "u@exact.example", "star", "star-host", NULL },
	{ "u@tl-host", NULL, NULL, 0, "u@rule.tl-host", "l", "l-host", NULL },
	{ "u@ti-host", NULL, NULL, 0, "u@ti-host", "tcp_intranet", "ti-host", NULL },
	{ "u@gw.corp.example", NULL, NULL, 0, "u@gw.corp.example", "tcp_intranet",
	  "gw.corp.example", NULL },
	{ "u@x.corp.example", NULL, NULL, 0, "u@x.corp.example", "tcp_local", "tl-host", NULL },
	{ "u@x.a.order.example", NULL, NULL, 0, "u@a", "l", "l-host", NULL },
	{ "u@x.b.order.example", NULL, NULL, 0, "u@order", "l", "l-host", NULL },
	{ "u@a.f.example", NULL, NULL, 0, "u@second", "l", "l-host", NULL },
	{ "u@a.g.x.example", NULL, NULL, 0, "u@x", "l", "l-host", NULL },
	{ "u@Elsewhere.NET.", NULL, NULL, 0, "u@Elsewhere.NET", "tcp_local", "tl-host", NULL },
	/* forms: restart, loop, source routes, A@B */
	{ "u@old.example", NULL, NULL, 0, "u@exact.example", "l", "l-host", NULL },
	{ "u@loop.example", NULL, NULL, 0, NULL, NULL, NULL,
	  "rewrite loop: more than 10 restarts" },
	{ "u@sr.example", NULL, NULL, 0, "@gw:u@sr.example", "tcp_local", "tl-host", NULL },
	{ "u@sr3.example", NULL, NULL, 0, "@tl-host:u@sr3.example", "tcp_local", "tl-host", NULL },
	{ "u@ab.example", NULL, NULL, 0, "u@l-host", "l", "l-host", NULL },
	/* no domain, the null path */
	{ "postmaster", NULL, NULL, 0, "postmaster@local.example", "l", "local.example", NULL },
	{ "", NULL, NULL, REV, "", "l", "local.example", NULL },
	{ "", "tcp_auth", NULL, REV, "", "tcp_auth", "ta-host", NULL },
	/* refused input */
	{ "@a:u@exact.example", NULL, NULL, 0, NULL, NULL, NULL,
	  "source-routed address: strip the route first" },
	{ "@exact.example", NULL, NULL, 0, NULL, NULL, NULL, "empty local part" },
	{ "u@", NULL, NULL, 0, NULL, NULL, NULL, "empty domain in \"u@\"" },
	{ "u@a..example", NULL, NULL, 0, NULL, NULL, NULL, "bad domain in \"u@a..example\"" },
	{ "u@[1.2", NULL, NULL, 0, NULL, NULL, NULL, "bad domain literal in \"u@[1.2\"" },
};

static int lookup_calls;

/* ']' answers a whole address; others "m-query" ('{') or "d-query" ('('). */
static bool
lookup(void *arg, char kind, const char *query, char **result)
{
	(void)arg;
	lookup_calls++;
	if (strstr(query, "fail") != NULL)
		return false;
	if (kind == ']')
		*result = strdup("bob%ldap.example@l-host");
	else if (asprintf(result, "%c-%s", kind == '{' ? 'm' : 'd', query) < 0)
		abort();
	return *result != NULL;
}

static struct imta_conf *
load(const char *text)
{
	char *errs = NULL;
	struct imta_conf *c = imta_conf_parse("rw", text, &errs);
	CHECK_STR(errs, NULL);
	free(errs);
	return c;
}

static void
check_case(const struct imta_conf *c, const struct rcase *k, size_t i)
{
	struct rewrite_ctx ctx = { k->src, k->dst, !(k->flags & HDR),
		!(k->flags & REV), lookup, NULL, NULL, NULL };
	struct rewrite_result r;
	bool ok = rewrite_address(c, k->addr, &ctx, &r);
	int before = unit_failures;
	CHECK(ok == (k->address != NULL));
	if (ok && k->address) {
		CHECK_STR(r.address, k->address);
		CHECK_STR(r.channel->name, k->channel);
		CHECK_STR(r.host, k->host);
		CHECK(r.error == NULL);
	} else if (!ok) {
		CHECK_STR(r.error, k->error);
		CHECK(r.address == NULL && r.channel == NULL && r.host == NULL);
	}
	if (unit_failures != before)
		fprintf(stderr, "  case %zu: \"%s\" -> %s / %s\n", i, k->addr,
		    ok ? r.address : "(failed)", ok ? r.channel->name : r.error);
	rewrite_result_clear(&r);
}

static void
test_table(void)
{
	struct imta_conf *c = load(conf_text);
	if (c == NULL)
		return;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(c, &cases[i], i);
	imta_conf_free(&c);
}

/* A lookup runs only when the rule's conditions hold; without a callback
 * a lookup rule fails and the search goes on. */
static void
test_lookup_calls(void)
{
	struct imta_conf *c = load(
	    "cond.example  ${count,$U}%$D@l-host$B\n"
	    "cond.example  $U%plain.$D@l-host\n"
	    "\n"
	    "l\n"
	    "l-host\n");
	if (c == NULL)
		return;
	struct rewrite_ctx ctx = { NULL, NULL, true, true, lookup, NULL, NULL, NULL };
	struct rewrite_result r;
	lookup_calls = 0;
	CHECK(rewrite_address(c, "u@cond.example", &ctx, &r));
	CHECK_STR(r.address, "u@plain.cond.example");
	CHECK(lookup_calls == 0);
	rewrite_result_clear(&r);
	ctx.envelope = false;
	CHECK(rewrite_address(c, "u@cond.example", &ctx, &r));
	CHECK_STR(r.address, "m-count,u@cond.example");
	CHECK(lookup_calls == 1);
	rewrite_result_clear(&r);
	ctx.lookup = NULL;
	CHECK(rewrite_address(c, "u@cond.example", &ctx, &r));
	CHECK_STR(r.address, "u@plain.cond.example");
	rewrite_result_clear(&r);
	imta_conf_free(&c);
}

/* No rule: the last $? text, else "no rewrite rule"; no "l": a bare
 * local part and the null path without a source channel fail. */
static void
test_no_rule(void)
{
	struct imta_conf *c = load(
	    "only.example  $?not_from_there$U%$D@t-host$Mnone\n"
	    "\n"
	    "t\n"
	    "t-host\n");
	if (c == NULL)
		return;
	struct rewrite_ctx ctx = { NULL, NULL, true, true, NULL, NULL, NULL, NULL };
	struct rewrite_result r;
	CHECK(!rewrite_address(c, "u@only.example", &ctx, &r));
	CHECK_STR(r.error, "not_from_there");
	rewrite_result_clear(&r);
	CHECK(!rewrite_address(c, "u@nowhere.example", &ctx, &r));
	CHECK_STR(r.error, "no rewrite rule applies to nowhere.example");
	rewrite_result_clear(&r);
	CHECK(!rewrite_address(c, "postmaster", &ctx, &r));
	CHECK_STR(r.error, "no domain, and no channel l");
	rewrite_result_clear(&r);
	CHECK(!rewrite_address(c, "", &ctx, &r));
	CHECK_STR(r.error, "null path: no source channel and no channel l");
	rewrite_result_clear(&r);
	ctx.src_channel = "t";
	CHECK(rewrite_address(c, "", &ctx, &r));
	CHECK_STR(r.channel->name, "t");
	rewrite_result_clear(&r);
	imta_conf_free(&c);
}

/* The input, expansion and steps caps. */
static void
test_caps(void)
{
	struct imta_conf *c = load(conf_text);
	struct rewrite_ctx ctx = { NULL, NULL, true, true, lookup, NULL, NULL, NULL };
	struct rewrite_result r;
	char addr[REWRITE_ADDRESS_MAX + 2];
	if (c == NULL)
		return;
	memset(addr, 'a', sizeof addr - 1);
	addr[sizeof addr - 1] = '\0';
	memcpy(addr + sizeof addr - 1 - strlen("@exact.example"), "@exact.example", 14);
	CHECK(!rewrite_address(c, addr, &ctx, &r));
	CHECK_STR(r.error, "address longer than 512 characters");
	rewrite_result_clear(&r);
	/* 400 * 3 > REWRITE_EXPANSION_MAX */
	memset(addr, 'b', 400);
	strcpy(addr + 400, "@big.example");
	CHECK(!rewrite_address(c, addr, &ctx, &r));
	CHECK_STR(r.error, "expansion longer than 1024 characters");
	rewrite_result_clear(&r);
	imta_conf_free(&c);

	/* More same-pattern rules than the step budget, all failing. */
	size_t n = REWRITE_STEPS_MAX + 1, len = 0;
	static const char rule[] = "steps.example  $U%x@l-host$Mnone\n";
	char *text = malloc(n * (sizeof rule - 1) + 32);
	for (size_t i = 0; i < n; i++, len += sizeof rule - 1)
		memcpy(text + len, rule, sizeof rule - 1);
	strcpy(text + len, "\nl\nl-host\n");
	c = load(text);
	CHECK(c && !rewrite_address(c, "u@steps.example", &ctx, &r));
	CHECK_STR(r.error, "more than 1000 rewrite rules tried");
	rewrite_result_clear(&r);
	imta_conf_free(&c);
	free(text);
}

struct lines {
	char buf[4096];
	int n;
};

static void
collect(void *arg, const char *line)
{
	struct lines *l = arg;
	size_t len = strlen(l->buf);
	snprintf(l->buf + len, sizeof l->buf - len, "%s\n", line);
	l->n++;
}

/* One line per rule tried, the restart, the result. */
static void
test_trace(void)
{
	struct imta_conf *c = load(conf_text);
	struct lines l = { "", 0 };
	struct rewrite_ctx ctx = { "tcp_local", NULL, true, true, lookup, NULL,
		collect, &l };
	struct rewrite_result r;
	if (c == NULL)
		return;
	CHECK(rewrite_address(c, "u@old.example", &ctx, &r));
	rewrite_result_clear(&r);
	CHECK_STR(l.buf,
	    "rewrite u@old.example (envelope forward, source channel tcp_local, "
	    "destination unknown)\n"
	    "try $* -> $U%$H@star-host$Mstar (rw:1) H=old.example D=.: "
	    "condition $Mstar failed: source channel tcp_local\n"
	    "try old.example -> $U%exact.example (rw:41) H= D=old.example: "
	    "matched (restart with u@exact.example)\n"
	    "restart 1: rewrite u@exact.example\n"
	    "try $* -> $U%$H@star-host$Mstar (rw:1) H=exact.example D=.: "
	    "condition $Mstar failed: source channel tcp_local\n"
	    "try exact.example -> $U%$D@l-host (rw:2) H= D=exact.example: "
	    "matched (user u, domain exact.example, route host l-host)\n"
	    "result u@exact.example channel l host l-host\n");
	l.buf[0] = '\0';
	CHECK(rewrite_address(c, "u@src.example", &ctx, &r));
	rewrite_result_clear(&r);
	CHECK(strstr(l.buf, "condition $Mtcp_intranet failed: source channel "
	    "tcp_local\n") != NULL);
	CHECK(strstr(l.buf, "condition $Ntcp_local failed: source channel "
	    "tcp_local\n") != NULL);
	imta_conf_free(&c);
}

int
main(void)
{
	UNIT_RUN(test_table);
	UNIT_RUN(test_lookup_calls);
	UNIT_RUN(test_no_rule);
	UNIT_RUN(test_caps);
	UNIT_RUN(test_trace);
	return unit_done();
}
