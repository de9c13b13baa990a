/*
 * rewrite_template: conditions and expansion of one rewrite-rule template
 * (the language is described in rewrite.h).
 *
 *   template  = 1*( CHAR / sep / subst )
 *   sep       = "@" / "%"                     ; outside lookups: the form
 *   subst     = "$" ( [ DIGIT ] ( "U" / "D" / "H" ) / "L" / "$" / "%" / "@"
 *             / "\" / "^" / "_" / "E" / "B" / "F" / "R"
 *             / ( "M" / "N" / "Q" / "C" ) 1*( ALNUM / "_" / "-" )
 *             / "?" *( not "$" )
 *             / "{" query "}" / "(" query ")" / "]" query "[" )
 *   query     = like template, lookups nest; an unknown "$x" stands for x
 *
 * A template is walked token by token, twice: once for its conditions,
 * its $? text and its top-level separators, then part by part to expand
 * it.  Every part is built in a fixed buffer of REWRITE_EXPANSION_MAX
 * bytes; overflowing it, or nesting lookups deeper than
 * REWRITE_LOOKUP_DEPTH, is fatal for the whole rewrite.  Nothing here
 * allocates except the expansion's strings and the lookup answers.
 */
#include "rewrite_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

enum tok_kind {
	TOK_CHAR,       /* a character, escapes $$ $% $@ included */
	TOK_SEP,        /* "@" or "%" outside a lookup */
	TOK_SUBST,      /* $U $nU $D $nD $H $nH $L */
	TOK_CASE,       /* $\ $^ $_ */
	TOK_COND,       /* $E $B $F $R, $M $N $Q $C with a channel name */
	TOK_ERRTEXT,    /* $?text */
	TOK_LOOKUP,     /* ${...} $(...) $]...[ */
	TOK_BAD,        /* an unknown "$x" */
};

struct tok {
	enum tok_kind kind;
	char c;             /* the character, substitution, case or condition
	                     * letter (upper case), or the lookup's opener */
	int n;              /* $nU $nD $nH: n; else -1 */
	const char *arg;    /* channel name, $? text, lookup query */
	size_t arglen;
};

struct out {
	char s[REWRITE_EXPANSION_MAX + 1];
	size_t len;
	bool overflow;
	char casing;        /* '\\' lower, '^' upper, '_' original */
};

/* The end of a lookup whose opener is at t (after the "$"), nested
 * lookups counted, or NULL when it is not closed. */
static const char *
lookup_end(const char *t, const char *end, int depth)
{
	char open = *t, close = open == '{' ? '}' : open == '(' ? ')' : '[';
	if (depth > REWRITE_LOOKUP_DEPTH)
		return NULL;
	for (t++; t < end; t++) {
		if (*t == close)
			return t;
		if (*t == '$' && t + 1 < end && t[1] == open) {
			if ((t = lookup_end(t + 1, end, depth + 1)) == NULL)
				return NULL;
		} else if (*t == '$' && t + 1 < end)
			t++;
	}
	return NULL;
}

/* The "$x" at t (t[0] == '$'). */
static const char *
tok_dollar(const char *t, const char *end, struct tok *k)
{
	char c = t + 1 < end ? (char)toupper((unsigned char)t[1]) : '\0';
	char next = t + 2 < end ? (char)toupper((unsigned char)t[2]) : '\0';

	k->kind = TOK_SUBST;
	k->c = c;
	if (isdigit((unsigned char)c) && next && strchr("UDH", next)) {
		k->n = c - '0';
		k->c = next;
		return t + 3;
	}
	if (c && strchr("UDHL", c))
		return t + 2;
	k->kind = c && strchr("$%@", c) ? TOK_CHAR : c && strchr("\\^_", c) ?
	    TOK_CASE : c && strchr("EBFR", c) ? TOK_COND : TOK_BAD;
	if (k->kind != TOK_BAD)
		return t + 2;
	k->c = c ? t[1] : '$';
	if (c == 'M' || c == 'N' || c == 'Q' || c == 'C' || c == '?') {
		const char *s = t + 2, *e = s;
		while (e < end && (c == '?' ? *e != '$' :
		    isalnum((unsigned char)*e) || *e == '_' || *e == '-'))
			e++;
		k->kind = c == '?' ? TOK_ERRTEXT : TOK_COND;
		k->c = c;
		k->arg = s;
		k->arglen = e - s;
		return e;
	}
	if (c == '{' || c == '(' || c == ']') {
		const char *e = lookup_end(t + 1, end, 0);
		if (e == NULL)
			return c ? t + 2 : t + 1;   /* TOK_BAD */
		k->kind = TOK_LOOKUP;
		k->arg = t + 2;
		k->arglen = e - (t + 2);
		return e + 1;
	}
	return c ? t + 2 : t + 1;
}

/* Read the token at t (t < end); returns the position after it. */
static const char *
tok_next(const char *t, const char *end, struct tok *k)
{
	memset(k, 0, sizeof *k);
	k->n = -1;
	if (*t != '$') {
		k->kind = *t == '@' || *t == '%' ? TOK_SEP : TOK_CHAR;
		k->c = *t;
		return t + 1;
	}
	const char *next = tok_dollar(t, end, k);
	if (k->kind == TOK_CHAR)
		k->c = t[1];
	return next;
}

static void
out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > REWRITE_EXPANSION_MAX) {
		o->overflow = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		o->s[o->len++] = (char)(o->casing == '\\' ? tolower(c) :
		    o->casing == '^' ? toupper(c) : c);
	}
	o->s[o->len] = '\0';
}

/* v without its n leftmost labels; a leading "." stays ($1D of ".b.c" is
 * ".c"); "" when no label is left. */
static const char *
labels_drop(const char *v, int n)
{
	bool dot = v[0] == '.';
	const char *p = v + dot;
	if (n <= 0)
		return v;
	for (int i = 0; i < n; i++) {
		const char *q = strchr(p, '.');
		if (q == NULL)
			return "";
		p = q + 1;
	}
	return dot ? p - 1 : p;
}

static void
subst_put(const struct rewrite_subst *s, const struct tok *k, struct out *o)
{
	const char *v = "", *plus;
	size_t len;
	switch (k->c) {
	case 'U':
		v = s->user;
		len = strlen(v);
		plus = strchr(v, '+');
		if (k->n == 0 && plus)
			len = plus - v;
		else if (k->n == 1) {
			v = plus ? plus + 1 : "";
			len = strlen(v);
		}
		out_put(o, v, len);
		return;
	case 'H':
		v = labels_drop(s->host, k->n);
		break;
	case 'D':
		v = labels_drop(s->dom, k->n);
		break;
	case 'L':
		v = s->lit;
		break;
	}
	out_put(o, v, strlen(v));
}

struct expand {
	const struct rewrite_subst *s;
	const struct rewrite_ctx *ctx;
	struct rewrite_expansion *x;
};

static enum rewrite_verdict expand_span(struct expand *e, const char *t,
    const char *end, struct out *o, int depth);

static enum rewrite_verdict
expand_why(struct expand *e, enum rewrite_verdict v, char *why)
{
	free(e->x->why);
	e->x->why = why;
	return v;
}

/* ${...} $(...) $]...[: expand the query, ask the caller. */
static enum rewrite_verdict
expand_lookup(struct expand *e, const struct tok *k, struct out *o, int depth)
{
	char open = k->c, close = open == '{' ? '}' : open == '(' ? ')' : '[';
	struct out q = { .casing = '_' };
	char *answer = NULL;
	enum rewrite_verdict v;

	if (depth >= REWRITE_LOOKUP_DEPTH)
		return expand_why(e, REWRITE_FATAL, xasprintf(
		    "lookups nested deeper than %d", REWRITE_LOOKUP_DEPTH));
	if ((v = expand_span(e, k->arg, k->arg + k->arglen, &q, depth + 1)) != REWRITE_OK)
		return v;
	if (e->ctx->lookup == NULL)
		return expand_why(e, REWRITE_SKIP, xasprintf(
		    "lookup $%c%s%c: no lookups here", open, q.s, close));
	if (!e->ctx->lookup(e->ctx->lookup_arg, open, q.s, &answer))
		return expand_why(e, REWRITE_SKIP, xasprintf(
		    "lookup $%c%s%c failed", open, q.s, close));
	out_put(o, answer, strlen(answer));
	free(answer);
	return REWRITE_OK;
}

static enum rewrite_verdict
expand_span(struct expand *e, const char *t, const char *end, struct out *o,
    int depth)
{
	struct tok k;
	enum rewrite_verdict v;
	while (t < end) {
		t = tok_next(t, end, &k);
		switch (k.kind) {
		case TOK_CHAR:
		case TOK_SEP:
			out_put(o, &k.c, 1);
			break;
		case TOK_SUBST:
			subst_put(e->s, &k, o);
			break;
		case TOK_CASE:
			o->casing = k.c;
			break;
		case TOK_COND:
		case TOK_ERRTEXT:
			break;
		case TOK_LOOKUP:
			if ((v = expand_lookup(e, &k, o, depth)) != REWRITE_OK)
				return v;
			break;
		case TOK_BAD:
			if (depth == 0)
				return expand_why(e, REWRITE_SKIP, xasprintf(
				    "unknown substitution \"$%c\"", k.c));
			out_put(o, &k.c, 1);
			break;
		}
	}
	if (o->overflow)
		return expand_why(e, REWRITE_FATAL, xasprintf(
		    "expansion longer than %d characters", REWRITE_EXPANSION_MAX));
	return REWRITE_OK;
}

/* A condition $E $B $F $R $M $N; NULL when it holds, else why not. */
static char *
cond_check(const struct tok *k, const struct rewrite_ctx *ctx)
{
	const char *src = ctx->src_channel;
	bool is;
	switch (k->c) {
	case 'E':
	case 'B':
		if (ctx->envelope == (k->c == 'E'))
			return NULL;
		return xasprintf("condition $%c failed: %s address", k->c,
		    ctx->envelope ? "envelope" : "header");
	case 'F':
	case 'R':
		if (ctx->forward == (k->c == 'F'))
			return NULL;
		return xasprintf("condition $%c failed: %s address", k->c,
		    ctx->forward ? "forward" : "reverse");
	case 'M':
	case 'N':
		is = src && strlen(src) == k->arglen &&
		    strncmp(src, k->arg, k->arglen) == 0;
		if (is == (k->c == 'M'))
			return NULL;
		return xasprintf("condition $%c%.*s failed: source channel %s",
		    k->c, (int)k->arglen, k->arg, src ? src : "unknown");
	}
	return NULL;    /* $Q $C: later, in rewrite_template_dest() */
}

struct scan {
	const char *sep[4];     /* the top-level separators, in order */
	int nsep;
};

/* First pass: $? text, conditions, separators. */
static enum rewrite_verdict
scan_template(const char *tmpl, const struct rewrite_ctx *ctx,
    struct rewrite_expansion *x, struct scan *sc)
{
	const char *t = tmpl, *end = tmpl + strlen(tmpl);
	char *why = NULL;
	struct tok k;
	memset(sc, 0, sizeof *sc);
	while (t < end) {
		const char *at = t;
		t = tok_next(t, end, &k);
		if (k.kind == TOK_ERRTEXT) {
			free(x->errtext);
			x->errtext = xstrndup(k.arg, k.arglen);
		} else if (k.kind == TOK_COND && why == NULL)
			why = cond_check(&k, ctx);
		else if (k.kind == TOK_SEP && sc->nsep < 4)
			sc->sep[sc->nsep++] = at;
		else if (k.kind == TOK_SEP)
			sc->nsep++;
	}
	x->why = why;
	return why ? REWRITE_SKIP : REWRITE_OK;
}

static enum rewrite_verdict
expand_part(struct expand *e, const char *t, const char *end, char *casing,
    char **dst)
{
	struct out o = { .casing = *casing };
	enum rewrite_verdict v = expand_span(e, t, end, &o, 0);
	*casing = o.casing;
	if (v == REWRITE_OK)
		*dst = xstrdup(o.s);
	return v;
}

/* The forms by their separators: "%" "%@" "@" "@@" "@@@". */
static enum rewrite_verdict
expand_parts(struct expand *e, const char *tmpl, const struct scan *sc)
{
	struct rewrite_expansion *x = e->x;
	const char *end = tmpl + strlen(tmpl);
	char form[5] = "", casing = '_';
	char **dst[4] = { &x->user, &x->domain, NULL, NULL };
	enum rewrite_verdict v = REWRITE_OK;

	for (int i = 0; i < sc->nsep && i < 4; i++)
		form[i] = *sc->sep[i];
	if (sc->nsep > 3)
		form[0] = '\0';
	if (strcmp(form, "%") == 0)
		x->form = REWRITE_RESTART;
	else if (strcmp(form, "%@") == 0 || strcmp(form, "@") == 0)
		dst[sc->nsep] = &x->route;
	else if (strcmp(form, "@@") == 0 || strcmp(form, "@@@") == 0) {
		x->form = REWRITE_SOURCE_ROUTE;
		dst[2] = &x->sroute;
		dst[3] = &x->route;
	} else
		return expand_why(e, REWRITE_SKIP, xasprintf("template is none of "
		    "A%%B@C, A@B, A%%B, A@B@C, A@B@C@D"));
	for (int i = 0; i <= sc->nsep && v == REWRITE_OK; i++)
		v = expand_part(e, i ? sc->sep[i - 1] + 1 : tmpl,
		    i < sc->nsep ? sc->sep[i] : end, &casing, dst[i]);
	if (v == REWRITE_OK && x->domain == NULL)       /* A@B */
		x->domain = xstrdup(x->route);
	if (v == REWRITE_OK && x->form == REWRITE_SOURCE_ROUTE && x->route == NULL)
		x->route = xstrdup(x->sroute);              /* A@B@C */
	return v;
}

/* A template without separators of its own: its expansion (a lookup's
 * answer) gives the form. */
static enum rewrite_verdict
expand_whole(struct expand *e, const char *tmpl)
{
	struct rewrite_expansion *x = e->x;
	char casing = '_', *text = NULL, *f[4];
	int n = 0;
	enum rewrite_verdict v = expand_part(e, tmpl, tmpl + strlen(tmpl),
	    &casing, &text);
	if (v != REWRITE_OK)
		return v;
	for (char *p = text, *at; n < 4; p = at + 1) {
		f[n++] = p;
		if ((at = strchr(p, '@')) == NULL)
			break;
		*at = '\0';
	}
	char *pct = n <= 2 ? strrchr(f[0], '%') : NULL;
	if (strchr(f[n - 1], '@') != NULL || (n == 1 && pct == NULL)) {
		free(text);
		return expand_why(e, REWRITE_SKIP, xasprintf("the template's "
		    "expansion is none of A%%B@C, A@B, A%%B, A@B@C, A@B@C@D"));
	}
	if (pct)
		*pct = '\0';
	x->form = n == 1 ? REWRITE_RESTART : n == 2 ? REWRITE_ROUTE :
	    REWRITE_SOURCE_ROUTE;
	x->user = xstrdup(f[0]);
	x->domain = xstrdup(pct ? pct + 1 : f[1]);
	x->sroute = n >= 3 ? xstrdup(f[2]) : NULL;
	x->route = n >= 2 ? xstrdup(f[n - 1]) : NULL;
	free(text);
	return REWRITE_OK;
}

enum rewrite_verdict
rewrite_template_expand(const char *tmpl, const struct rewrite_subst *s,
    const struct rewrite_ctx *ctx, struct rewrite_expansion *x)
{
	struct expand e = { s, ctx, x };
	struct scan sc;
	enum rewrite_verdict v;

	memset(x, 0, sizeof *x);
	if ((v = scan_template(tmpl, ctx, x, &sc)) != REWRITE_OK)
		return v;
	v = sc.nsep ? expand_parts(&e, tmpl, &sc) : expand_whole(&e, tmpl);
	if (v == REWRITE_OK && x->user[0] == '\0')
		v = expand_why(&e, REWRITE_SKIP, xstrdup("the template gave an "
		    "empty user"));
	return v;
}

enum rewrite_verdict
rewrite_template_dest(const char *tmpl, const char *dst,
    struct rewrite_expansion *x)
{
	const char *t = tmpl, *end = tmpl + strlen(tmpl);
	struct tok k;
	while (t < end) {
		t = tok_next(t, end, &k);
		if (k.kind != TOK_COND || (k.c != 'Q' && k.c != 'C'))
			continue;
		bool is = dst && strlen(dst) == k.arglen &&
		    strncmp(dst, k.arg, k.arglen) == 0;
		if (is != (k.c == 'Q')) {
			free(x->why);
			x->why = xasprintf("condition $%c%.*s failed: destination "
			    "channel %s", k.c, (int)k.arglen, k.arg,
			    dst ? dst : "unknown");
			return REWRITE_SKIP;
		}
	}
	return REWRITE_OK;
}

void
rewrite_expansion_clear(struct rewrite_expansion *x)
{
	free(x->user);
	free(x->domain);
	free(x->sroute);
	free(x->route);
	free(x->errtext);
	free(x->why);
	memset(x, 0, sizeof *x);
}
