/*
 * mappings_match: apply one mapping table to a probe string (the language
 * is described in mappings.h).
 *
 * The matcher walks the pattern text directly, backtracking over
 * wildcards, with a step budget per entry (MAPPINGS_STEPS_MAX) so that a
 * pathological pattern costs bounded time.  Every output is built in a
 * fixed buffer of MAPPINGS_INPUT_MAX bytes; overflowing it makes the entry
 * fail and the result carry an error.  Nothing here allocates except the
 * result's strings and lookup answers.
 */
#include "mappings_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

struct mstate {
	const char *cap[MAPPINGS_CAPTURES];
	size_t caplen[MAPPINGS_CAPTURES];
	long steps;
	unsigned tests;
};

struct obuf {
	char s[MAPPINGS_INPUT_MAX + 1];
	size_t len;
	bool overflow;
	int casing;             /* 0 original, 'l' lower, 'u' upper */
};

enum flow { FLOW_E, FLOW_C, FLOW_L, FLOW_R };

struct outcome {
	struct obuf out;
	unsigned flags;
	long delay;
	enum flow flow;
};

struct apply {
	const struct mappings *m;
	const struct mappings_probe *probe;
	const char *error;
};

static bool pm(struct mstate *st, const char *p, const char *s, int ncap,
    bool capture, bool minimal);

/* Record s[0..len) as wildcard ncap and match the rest of the pattern. */
static bool
pm_capture(struct mstate *st, const char *s, size_t len, int ncap,
    bool capture, const char *rest)
{
	if (capture && ncap < MAPPINGS_CAPTURES) {
		st->cap[ncap] = s;
		st->caplen[ncap] = len;
	}
	return pm(st, rest, s + len, ncap + capture, capture, false);
}

static bool
pm_star(struct mstate *st, const char *p, const char *s, int ncap,
    bool capture, bool minimal)
{
	size_t n = strlen(s);
	for (size_t k = 0; k <= n; k++) {
		size_t len = minimal ? k : n - k;
		if (pm_capture(st, s, len, ncap, capture, p + 1))
			return true;
	}
	return false;
}

static bool
in_subnet(const char *s, size_t len, const unsigned char net[16], int bits,
    bool v6)
{
	unsigned char a[16];
	int b;
	if (!mappings_subnet_parse(s, len, v6, a, &b) || b != (v6 ? 128 : 32))
		return false;
	for (int i = 0; i < bits; i++) {
		unsigned char mask = (unsigned char)(0x80 >> (i % 8));
		if ((a[i / 8] & mask) != (net[i / 8] & mask))
			return false;
	}
	return true;
}

/* "$(a.b.c.d/bits)" or "${ipv6/bits}": the longest address at s inside
 * the subnet, then shorter ones. */
static bool
pm_subnet(struct mstate *st, const char *p, const char *s, int ncap,
    bool capture)
{
	bool v6 = p[1] == '{';
	const char *end = strchr(p, v6 ? '}' : ')');
	unsigned char net[16];
	int bits;
	if (end == NULL || !mappings_subnet_parse(p + 2, end - p - 2, v6, net, &bits))
		return false;
	size_t run = strspn(s, v6 ? "0123456789abcdefABCDEF:." : "0123456789.");
	for (size_t len = run; len > 0; len--)
		if (in_subnet(s, len, net, bits, v6) &&
		    pm_capture(st, s, len, ncap, capture, end + 1))
			return true;
	return false;
}

static bool
pm_test(const struct mstate *st, char set, char flag)
{
	static const char letters[] = "ATEL";
	const char *f = strchr(letters, toupper((unsigned char)flag));
	bool on = f && (st->tests >> (f - letters)) & 1;
	return set == ':' ? on : !on;
}

static bool
pm_dollar(struct mstate *st, const char *p, const char *s, int ncap,
    bool capture, bool minimal)
{
	char c = p[1];
	if (c == '_')
		return pm(st, p + 2, s, ncap, capture, true);
	if (c == '@' || c == '^')
		return pm(st, p + 2, s, ncap, c == '^', minimal);
	if (c == '(' || c == '{')
		return pm_subnet(st, p, s, ncap, capture);
	if (isdigit((unsigned char)c) && p[2] == '*') {
		int n = c - '0';
		size_t len = n < ncap && n < MAPPINGS_CAPTURES ? st->caplen[n] : 0;
		if (n >= ncap || strncasecmp(s, st->cap[n], len) != 0)
			return false;
		return pm(st, p + 3, s + len, ncap, capture, minimal);
	}
	if (c == ':' || c == ';')
		return pm_test(st, c, p[2]) && pm(st, p + 3, s, ncap, capture, minimal);
	/* $$ $* $% "$ ": the character itself */
	if (c == '\0' || tolower((unsigned char)*s) != tolower((unsigned char)c))
		return false;
	return pm(st, p + 2, s + 1, ncap, capture, minimal);
}

static bool
pm(struct mstate *st, const char *p, const char *s, int ncap, bool capture,
    bool minimal)
{
	if (++st->steps > MAPPINGS_STEPS_MAX)
		return false;
	switch (*p) {
	case '\0':
		return *s == '\0';
	case '*':
		return pm_star(st, p, s, ncap, capture, minimal);
	case '%':
		return *s != '\0' && pm_capture(st, s, 1, ncap, capture, p + 1);
	case '$':
		return pm_dollar(st, p, s, ncap, capture, minimal);
	default:
		if (tolower((unsigned char)*p) != tolower((unsigned char)*s))
			return false;
		return pm(st, p + 1, s + 1, ncap, capture, minimal);
	}
}

static void
out_put(struct obuf *o, const char *s, size_t n)
{
	if (o->len + n > MAPPINGS_INPUT_MAX) {
		o->overflow = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		o->s[o->len++] = (char)(o->casing == 'l' ? tolower(c) :
		    o->casing == 'u' ? toupper(c) : c);
	}
	o->s[o->len] = '\0';
}

static bool expand(struct apply *a, const struct mstate *st, const char *t,
    size_t len, struct outcome *oc, int depth);
static bool apply_table(struct apply *a, const char *name, const char *input,
    struct mappings_result *res, int depth);

/* "$|TABLE;arg|": the entry fails when TABLE does not match or rejects. */
static const char *
expand_apply(struct apply *a, const struct mstate *st, const char *t,
    const char *end, struct outcome *oc, int depth)
{
	const char *semi = memchr(t + 2, ';', end - t - 2), *close = semi;
	while (close && close < end && *close != '|')
		close += (*close == '$' && close + 1 < end) ? 2 : 1;
	if (semi == NULL || close == NULL || close >= end)
		return NULL;
	struct outcome arg = { .flow = FLOW_E };
	if (!expand(a, st, semi + 1, close - semi - 1, &arg, depth + 1))
		return NULL;
	char *name = xstrndup(t + 2, semi - t - 2);
	struct mappings_result sub;
	bool ok = apply_table(a, name, arg.out.s, &sub, depth + 1) &&
	    !(sub.flags & MAPPINGS_N);
	if (ok)
		out_put(&oc->out, sub.text, strlen(sub.text));
	mappings_result_clear(&sub);
	free(name);
	return ok ? close + 1 : NULL;
}

/* "${...}" / "$]...[": expand the query, ask the caller. */
static const char *
expand_lookup(struct apply *a, const struct mstate *st, const char *t,
    const char *end, struct outcome *oc, int depth)
{
	char open = t[1], close = open == '{' ? '}' : '[';
	int level = 0;
	const char *q = t + 2, *e;
	for (e = q; e < end; e++) {
		if (*e == '$' && e + 1 < end && e[1] == open) {
			level++;
			e++;
		} else if (*e == close && level-- == 0)
			break;
		else if (*e == '$' && e + 1 < end)
			e++;
	}
	if (e >= end || a->probe->lookup == NULL)
		return NULL;
	struct outcome query = { .flow = FLOW_E };
	char *answer = NULL;
	if (!expand(a, st, q, e - q, &query, depth + 1) ||
	    !a->probe->lookup(a->probe->arg, open, query.out.s, &answer))
		return NULL;
	out_put(&oc->out, answer, strlen(answer));
	free(answer);
	return e + 1;
}

static const char *
expand_flag(const char *t, const char *end, struct outcome *oc)
{
	static const struct { char c; unsigned flag; } flags[] = {
		{ 'Y', MAPPINGS_Y }, { 'N', MAPPINGS_N }, { 'F', MAPPINGS_N },
		{ 'B', MAPPINGS_B }, { 'H', MAPPINGS_H }, { 'I', MAPPINGS_I },
		{ 'J', MAPPINGS_J }, { 'K', MAPPINGS_K },
	};
	char c = (char)toupper((unsigned char)t[1]);
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (flags[i].c == c) {
			oc->flags |= flags[i].flag;
			return t + 2;
		}
	if (c == 'E' || c == 'C' || c == 'L' || c == 'R') {
		oc->flow = c == 'E' ? FLOW_E : c == 'C' ? FLOW_C : c == 'L' ? FLOW_L : FLOW_R;
		return t + 2;
	}
	if (c == 'D') {
		char *e;
		oc->delay = strtol(t + 2, &e, 10);
		oc->flags |= MAPPINGS_D;
		return e < end && *e == '|' ? e + 1 : e;
	}
	return NULL;
}

static const char *
expand_dollar(struct apply *a, const struct mstate *st, const char *t,
    const char *end, struct outcome *oc, int depth)
{
	char c = t + 1 < end ? t[1] : '\0';
	if (isdigit((unsigned char)c)) {
		int n = c - '0';
		out_put(&oc->out, st->cap[n] ? st->cap[n] : "", st->cap[n] ? st->caplen[n] : 0);
		return t + 2;
	}
	if (c && strchr("$*% ", c)) {
		out_put(&oc->out, &t[1], 1);
		return t + 2;
	}
	if (c == '\\' || c == '^' || c == '_') {
		oc->out.casing = c == '\\' ? 'l' : c == '^' ? 'u' : 0;
		return t + 2;
	}
	if (c == '|')
		return expand_apply(a, st, t, end, oc, depth);
	if (c == '{' || c == ']')
		return expand_lookup(a, st, t, end, oc, depth);
	return expand_flag(t, end, oc);
}

static bool
expand(struct apply *a, const struct mstate *st, const char *t, size_t len,
    struct outcome *oc, int depth)
{
	const char *end = t + len;
	if (depth > MAPPINGS_NESTING_MAX) {
		a->error = "mapping nested too deep";
		return false;
	}
	while (t < end) {
		if (*t != '$') {
			out_put(&oc->out, t++, 1);
			continue;
		}
		if ((t = expand_dollar(a, st, t, end, oc, depth)) == NULL)
			return false;
	}
	if (oc->out.overflow)
		a->error = "mapping output too long";
	return !oc->out.overflow;
}

/* Split "$J"/"$K" arguments off the front of the text. */
static void
result_set(struct mappings_result *res, const struct outcome *oc, int line)
{
	char *text = xstrdup(oc->out.s), *rest = text;
	mappings_result_clear(res);
	res->matched = true;
	res->flags = oc->flags;
	res->delay = oc->delay;
	res->entry_line = line;
	char **args[2] = { &res->from, &res->sender };
	unsigned which[2] = { MAPPINGS_J, MAPPINGS_K };
	for (int i = 0; i < 2; i++) {
		if (!(oc->flags & which[i]))
			continue;
		char *bar = strchr(rest, '|');
		*args[i] = bar ? xstrndup(rest, bar - rest) : xstrdup(rest);
		rest = bar ? bar + 1 : rest + strlen(rest);
	}
	res->text = xstrdup(rest);
	free(text);
}

static bool
try_entry(struct apply *a, const struct mappings_entry *e, const char *input,
    struct outcome *oc, int depth)
{
	struct mstate st;
	memset(&st, 0, sizeof st);
	st.tests = a->probe->tests;
	memset(oc, 0, sizeof *oc);
	oc->flow = FLOW_E;
	if (!pm(&st, e->pattern, input, 0, true, false)) {
		if (st.steps > MAPPINGS_STEPS_MAX)
			a->error = "pattern too costly";
		return false;
	}
	return expand(a, &st, e->tmpl, strlen(e->tmpl), oc, depth);
}

static bool
apply_table(struct apply *a, const char *name, const char *input,
    struct mappings_result *res, int depth)
{
	const struct mappings_table *t = mappings_table_find(a->m, name);
	char cur[MAPPINGS_INPUT_MAX + 1];
	struct outcome oc;
	int iterations = 0;
	bool wrap = false;

	memset(res, 0, sizeof *res);
	if (t == NULL || strlen(input) > MAPPINGS_INPUT_MAX) {
		res->error = t ? "probe too long" : NULL;
		return false;
	}
	strcpy(cur, input);
	for (int i = 0; i < t->n; ) {
		if (!try_entry(a, &t->v[i], cur, &oc, depth)) {
			if (++i == t->n && wrap) {
				wrap = false;
				i = 0;
			}
			continue;
		}
		result_set(res, &oc, t->v[i].line);
		if (oc.flow == FLOW_E)
			break;
		if (++iterations >= MAPPINGS_ITERATIONS_MAX) {
			a->error = "more than 10 mapping iterations";
			break;
		}
		strcpy(cur, oc.out.s);
		wrap = wrap || oc.flow == FLOW_L;
		i = oc.flow == FLOW_R ? 0 : i + 1;
		if (i == t->n && wrap) {
			wrap = false;
			i = 0;
		}
	}
	res->error = a->error;
	return res->matched && a->error == NULL;
}

bool
mappings_apply(const struct mappings *m, const char *table,
    const struct mappings_probe *probe, struct mappings_result *res)
{
	struct apply a = { m, probe, NULL };
	bool ok = apply_table(&a, table, probe->input, res, 0);
	if (!ok)
		res->matched = false;
	return ok;
}

void
mappings_result_clear(struct mappings_result *res)
{
	free(res->text);
	free(res->from);
	free(res->sender);
	memset(res, 0, sizeof *res);
}
