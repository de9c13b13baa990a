/*
 * rewrite: the lookup order of rewrite rules, restarts, and the result
 * (see rewrite.h; one template's conditions and expansion are in
 * rewrite_template.c).
 *
 *   address  = "" / local-part [ "@" domain ]     ; split at the last "@"
 *   domain   = label *( "." label ) [ "." ] / "[" literal "]"
 *
 * The address being rewritten lives in a buffer owned by this call; the
 * substitutions point into it.  The result is filled only on success, the
 * error only on failure.  A trace line is formatted only when the caller
 * asked for a trace.
 */
#include "rewrite_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define REWRITE_TRACE_MAX 2048

/* What trying a pattern (or one rule) came to. */
enum rw_step { RW_NONE, RW_DONE, RW_FAILED, RW_RESTART };

struct rw {
	const struct imta_conf *conf;
	const struct rewrite_ctx *ctx;
	struct rewrite_result *res;
	int steps;
	char *errtext;              /* $? text of the last rule that failed */
	char *next;                 /* the address to restart with */
	const char *local;          /* the local part being rewritten */
	const char *domain;         /* its domain */
};

static void rw_trace(struct rw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
rw_trace(struct rw *w, const char *fmt, ...)
{
	char line[REWRITE_TRACE_MAX];
	va_list ap;
	if (w->ctx->trace == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(line, sizeof line, fmt, ap) >= (int)sizeof line)
		strcpy(line + sizeof line - 4, "...");
	va_end(ap);
	w->ctx->trace(w->ctx->trace_arg, line);
}

static enum rw_step rw_fail(struct rw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The rewrite fails with this error (unless a $? text overrides it, which
 * the caller decides by passing it as the format's argument). */
static enum rw_step
rw_fail(struct rw *w, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(w->res->error);
	w->res->error = xstrdup(msg);
	free(msg);
	rw_trace(w, "fail: %s", w->res->error);
	return RW_FAILED;
}

static enum rw_step
rw_done(struct rw *w, char *address, const struct imta_channel *ch,
    const char *host)
{
	struct rewrite_result *r = w->res;
	r->address = address;
	r->channel = ch;
	r->host = xstrdup(host);
	rw_trace(w, "result %s channel %s host %s",
	    *address ? address : "<>", ch->name, host);
	return RW_DONE;
}

/* "user@domain", or "user" alone when the domain is empty. */
static char *
rw_join(const char *user, const char *domain)
{
	return *domain ? xasprintf("%s@%s", user, domain) : xstrdup(user);
}

static void
rw_remember(struct rw *w, struct rewrite_expansion *x)
{
	if (x->errtext) {
		free(w->errtext);
		w->errtext = x->errtext;
		x->errtext = NULL;
	}
}

static enum rw_step
rw_matched(struct rw *w, const struct imta_rule *r, const char *where,
    struct rewrite_expansion *x)
{
	const struct imta_channel *ch = NULL;
	const char *dst = w->ctx->dst_channel;

	size_t n = strlen(x->domain);
	if (n > 0 && x->domain[n - 1] == '.')
		x->domain[n - 1] = '\0';       /* $U%$H$D after "." */
	if (x->form != REWRITE_RESTART) {
		ch = imta_conf_channel_by_host(w->conf, x->route);
		if (ch == NULL) {
			rw_trace(w, "%s: route host %s: no channel has that host "
			    "name", where, x->route);
			if (x->errtext)
				return rw_fail(w, "%s", x->errtext);
			return rw_fail(w, "route host %s: no channel has that "
			    "host name", x->route);
		}
		dst = dst ? dst : ch->name;
	}
	if (rewrite_template_dest(r->tmpl, dst, x) != REWRITE_OK) {
		rw_trace(w, "%s: %s", where, x->why);
		rw_remember(w, x);
		return RW_NONE;
	}
	if (x->form == REWRITE_RESTART) {
		w->next = rw_join(x->user, x->domain);
		rw_trace(w, "%s: matched (restart with %s)", where, w->next);
		return RW_RESTART;
	}
	char *joined = rw_join(x->user, x->domain);
	char *address = x->form == REWRITE_ROUTE ? joined :
	    xasprintf("@%s:%s", x->sroute, joined);
	if (address != joined)
		free(joined);
	rw_trace(w, "%s: matched (user %s, domain %s, route host %s)", where,
	    x->user, x->domain, x->route);
	return rw_done(w, address, ch, x->route);
}

static enum rw_step
rw_rule(struct rw *w, const struct imta_rule *r, const struct rewrite_subst *s)
{
	struct rewrite_expansion x;
	enum rw_step step = RW_NONE;
	char *where = xasprintf("try %s -> %s (%s:%d) H=%s D=%s%s%s",
	    r->pattern, r->tmpl, r->file, r->line, s->host, s->dom,
	    *s->lit ? " L=" : "", s->lit);

	switch (rewrite_template_expand(r->tmpl, s, w->ctx, &x)) {
	case REWRITE_OK:
		step = rw_matched(w, r, where, &x);
		break;
	case REWRITE_SKIP:
		rw_trace(w, "%s: %s", where, x.why);
		rw_remember(w, &x);
		break;
	case REWRITE_FATAL:
		rw_trace(w, "%s: %s", where, x.why);
		step = rw_fail(w, "%s", x.errtext ? x.errtext : x.why);
		break;
	}
	rewrite_expansion_clear(&x);
	free(where);
	return step;
}

/* Every rule whose pattern is pattern, in file order, until one applies. */
static enum rw_step
rw_pattern(struct rw *w, const char *pattern, const char *host,
    const char *dom, const char *lit)
{
	struct rewrite_subst s = { w->local, host, dom, lit };
	int n = imta_conf_nrules(w->conf);
	for (int i = 0; i < n; i++) {
		const struct imta_rule *r = imta_conf_rule(w->conf, i);
		if (strcasecmp(r->pattern, pattern) != 0)
			continue;
		if (++w->steps > REWRITE_STEPS_MAX)
			return rw_fail(w, "more than %d rewrite rules tried",
			    REWRITE_STEPS_MAX);
		enum rw_step step = rw_rule(w, r, &s);
		if (step != RW_NONE)
			return step;
	}
	return RW_NONE;
}

/* ".b.c", ".c" for a.b.c: $H the labels left of the pattern. */
static enum rw_step
rw_subdomains(struct rw *w)
{
	const char *d = w->domain;
	char host[IMTA_HOST_MAX + 1];
	for (const char *p = strchr(d, '.'); p; p = strchr(p + 1, '.')) {
		snprintf(host, sizeof host, "%.*s", (int)(p - d), d);
		enum rw_step step = rw_pattern(w, p, host, p, "");
		if (step != RW_NONE)
			return step;
	}
	return RW_NONE;
}

/* "[1.2.3.]", "[1.2.]", "[1.]", "[]" for [1.2.3.4], cutting after each
 * "." or ":" of the literal; $L what was cut off. */
static enum rw_step
rw_literals(struct rw *w)
{
	const char *in = w->domain + 1;
	size_t len = strlen(in) - 1;        /* without the "]" */
	char pattern[IMTA_HOST_MAX + 3], lit[IMTA_HOST_MAX + 1];
	for (size_t k = len; k-- > 0; ) {
		if (k > 0 && in[k - 1] != '.' && in[k - 1] != ':')
			continue;
		snprintf(pattern, sizeof pattern, "[%.*s]", (int)k, in);
		snprintf(lit, sizeof lit, "%.*s", (int)(len - k), in + k);
		enum rw_step step = rw_pattern(w, pattern, "", pattern, lit);
		if (step != RW_NONE)
			return step;
	}
	return RW_NONE;
}

/* The lookup order of rewrite.h for w->local @ w->domain. */
static enum rw_step
rw_lookup(struct rw *w)
{
	const char *d = w->domain;
	bool literal = d[0] == '[';
	enum rw_step step;

	if ((step = rw_pattern(w, "$*", d, ".", "")) != RW_NONE ||
	    (step = rw_pattern(w, d, "", d, "")) != RW_NONE)
		return step;
	const struct imta_channel *ch = imta_conf_channel_by_host(w->conf, d);
	if (ch != NULL) {
		rw_trace(w, "channel host: %s is a host name of channel %s", d,
		    ch->name);
		return rw_done(w, xasprintf("%s@%s", w->local, d), ch, d);
	}
	step = literal ? rw_literals(w) : rw_subdomains(w);
	if (step == RW_NONE)
		step = rw_pattern(w, ".", d, ".", "");
	if (step == RW_NONE)
		step = w->errtext ? rw_fail(w, "%s", w->errtext) :
		    rw_fail(w, "no rewrite rule applies to %s", d);
	return step;
}

/* Check the domain; drop one trailing ".".  NULL or why it is refused. */
static const char *
rw_domain_check(char *d)
{
	size_t n = strlen(d);
	if (n > 0 && d[n - 1] == '.' && d[0] != '[')
		d[--n] = '\0';
	if (n == 0)
		return "empty domain";
	if (n > IMTA_HOST_MAX)
		return "domain longer than 255 characters";
	if (d[0] == '[')
		return d[n - 1] == ']' && !strchr(d + 1, '[') &&
		    strchr(d, ']') == d + n - 1 ? NULL : "bad domain literal";
	if (d[0] == '.' || strstr(d, "..") || strchr(d, '[') || strchr(d, ']'))
		return "bad domain";
	return NULL;
}

/* One round: addr split, checked, looked up. */
static enum rw_step
rw_round(struct rw *w, const char *addr)
{
	char buf[REWRITE_ADDRESS_MAX + 1];
	const char *why;

	if (strlen(addr) > REWRITE_ADDRESS_MAX)
		return rw_fail(w, "address longer than %d characters",
		    REWRITE_ADDRESS_MAX);
	if (addr[0] == '@' && strchr(addr, ':') != NULL)
		return rw_fail(w, "source-routed address: strip the route first");
	strcpy(buf, addr);
	char *at = strrchr(buf, '@');
	char *domain = at ? at + 1 : NULL;
	if (at)
		*at = '\0';
	else {
		const struct imta_channel *l = imta_conf_channel_by_name(w->conf,
		    REWRITE_LOCAL_CHANNEL);
		if (l == NULL)
			return rw_fail(w, "no domain, and no channel %s",
			    REWRITE_LOCAL_CHANNEL);
		domain = l->hosts[0];
		rw_trace(w, "no domain: using %s, the official host of channel %s",
		    domain, REWRITE_LOCAL_CHANNEL);
	}
	char dom[REWRITE_ADDRESS_MAX + 1];
	snprintf(dom, sizeof dom, "%s", domain);
	if (buf[0] == '\0')
		return rw_fail(w, "empty local part");
	if ((why = rw_domain_check(dom)) != NULL)
		return rw_fail(w, "%s in \"%s\"", why, addr);
	w->local = buf;
	w->domain = dom;
	return rw_lookup(w);
}

/* "" goes to the source channel, else the local channel, unchanged. */
static bool
rw_null_path(struct rw *w)
{
	const char *src = w->ctx->src_channel;
	const struct imta_channel *ch = src ?
	    imta_conf_channel_by_name(w->conf, src) : NULL;
	if (ch == NULL)
		ch = imta_conf_channel_by_name(w->conf, REWRITE_LOCAL_CHANNEL);
	if (ch == NULL) {
		rw_fail(w, "null path: no source channel and no channel %s",
		    REWRITE_LOCAL_CHANNEL);
		return false;
	}
	rw_trace(w, "null path: not rewritten, to channel %s", ch->name);
	return rw_done(w, xstrdup(""), ch, ch->hosts[0]) == RW_DONE;
}

static bool
rw_run(struct rw *w, const char *addr)
{
	char *cur = xstrdup(addr);
	enum rw_step step;
	if (addr[0] == '\0') {
		free(cur);
		return rw_null_path(w);
	}
	while ((step = rw_round(w, cur)) == RW_RESTART) {
		free(cur);
		cur = w->next;
		w->next = NULL;
		if (++w->res->restarts > REWRITE_RESTARTS_MAX) {
			step = rw_fail(w, "rewrite loop: more than %d restarts",
			    REWRITE_RESTARTS_MAX);
			break;
		}
		rw_trace(w, "restart %d: rewrite %s", w->res->restarts, cur);
	}
	free(cur);
	return step == RW_DONE;
}

bool
rewrite_address(const struct imta_conf *conf, const char *addr,
    const struct rewrite_ctx *ctx, struct rewrite_result *res)
{
	struct rw w = { conf, ctx, res, 0, NULL, NULL, NULL, NULL };
	memset(res, 0, sizeof *res);
	rw_trace(&w, "rewrite %s (%s %s, source channel %s, destination %s)",
	    *addr ? addr : "<>", ctx->envelope ? "envelope" : "header",
	    ctx->forward ? "forward" : "reverse",
	    ctx->src_channel ? ctx->src_channel : "unknown",
	    ctx->dst_channel ? ctx->dst_channel : "unknown");
	bool ok = rw_run(&w, addr);
	free(w.errtext);
	free(w.next);
	if (!ok) {
		char *error = res->error;
		res->error = NULL;
		rewrite_result_clear(res);
		res->error = error ? error : xstrdup("rewrite failed");
	}
	return ok;
}

void
rewrite_result_clear(struct rewrite_result *res)
{
	free(res->address);
	free(res->host);
	free(res->error);
	memset(res, 0, sizeof *res);
}
