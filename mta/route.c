/*
 * route: where one RCPT TO address goes.
 *
 *   1. The rewrite rules of imta.cnf give a channel and an address.  The
 *      caller's orig_check (ORIG_SEND_ACCESS) judges that pair.
 *   2. An address on a local channel (mta.localchannels: "l lmtp") is a
 *      hosted one: the directory says what it is (mail,
 *      mailAlternateAddress, mailEquivalentAddress), else the aliases
 *      file, else it does not exist (550 5.1.1).
 *        user, mailDeliveryOption mailbox   -> lmtp, its primary mail
 *                                  forward   -> each mailForwardingAddress
 *                                  hold      -> the hold channel
 *        mailUserStatus hold                -> the hold channel
 *        inactive (or unknown status)       -> 450 4.2.1
 *        deleted / removed                  -> 550 5.2.1
 *        group: mgrpRFC822MailMember addresses, uniqueMember DNs and
 *        memberURL filters, each routed in turn
 *   3. Every address an expansion yields goes through 1 and 2 again.
 *
 * Bounds: the addresses one recipient expands to (mta.maxexpansion, then
 * 550 5.5.3; past the source channel's `expandlimit` first, the expansion
 * stops and the recipient goes unexpanded to its `expandchannel`,
 * reprocess by default, to be expanded off line), the nesting
 * (ROUTE_DEPTH_MAX, then 554 5.4.6); an address
 * met twice is routed once (loops between groups or forwards end).  The
 * directory not answering is 451 4.4.3 for the whole recipient: mail
 * waits at the client, it never bounces on a directory outage.  Members
 * of an expansion that are disabled or unknown are skipped (and logged):
 * one stale member does not refuse a whole list.
 *
 * The lmtp channel's delivery program asks the directory for mailHost
 * again at delivery time, so a mailbox that moves meanwhile is found;
 * here mailHost is only required to exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dir.h"
#include "log.h"
#include "mta.h"
#include "rewrite.h"
#include "xmalloc.h"

#define ROUTE_DEPTH_MAX 10
#define ROUTE_STORE_CHANNEL "lmtp"
#define ROUTE_HOLD_CHANNEL "hold"
#define ROUTE_EXPAND_CHANNEL "reprocess"

/* An address to route, or (channel NULL) a directory search whose
 * entries' mail addresses are routed: a group's member DN or URL. */
struct route_item {
	char *address;          /* rewritten; the filter of a search */
	char *channel;
	int depth;
	char *base;             /* a search's base DN */
	enum dir_scope scope;
};

struct route_req {
	struct route_params p;
	route_cb *cb;
	struct route_item *work;        /* a stack */
	size_t nwork, capwork;
	char **seen;
	size_t nseen, capseen;
	struct route_dest *dests;
	size_t ndests, capdests;
	const char *reply;
	char *first_channel, *first_address;
	struct route_item cur;          /* waiting for the directory */
	struct dir_req *dreq;
	int expand_limit;               /* the source channel's; 0: none */
	char expand_limit_text[16];
	const char *expand_channel;
	bool waiting, running, finished, deferred;
};

static void
route_trace(struct route_req *r, const char *fmt, const char *a,
    const char *b, const char *c)
{
	if (r->p.trace == NULL)
		return;
	char *line = xasprintf(fmt, a, b ? b : "", c ? c : "");
	r->p.trace(r->p.arg, line);
	free(line);
}

static void
route_rewrite_trace(void *arg, const char *line)
{
	struct route_req *r = arg;
	char *l = xasprintf("  rewrite: %s", line);

	r->p.trace(r->p.arg, l);
	free(l);
}

static void
route_fail(struct route_req *r, const char *reply)
{
	if (r->reply == NULL)
		r->reply = reply;
	r->finished = true;
}

/* Count an address against the caps; false when it was seen before. */
static bool
route_note(struct route_req *r, const char *address)
{
	for (size_t i = 0; i < r->nseen; i++)
		if (strcasecmp(r->seen[i], address) == 0)
			return false;
	if (r->expand_limit > 0 && r->nseen > (size_t)r->expand_limit) {
		route_trace(r, "  more than %s addresses: expansion deferred to "
		    "channel %s%s", r->expand_limit_text, r->expand_channel, NULL);
		r->deferred = r->finished = true;
		return false;
	}
	if (r->nseen >= (size_t)r->p.cfg->max_expansion) {
		route_fail(r, "550 5.5.3 Recipient expands to too many addresses");
		return false;
	}
	if (r->nseen == r->capseen) {
		r->capseen = r->capseen ? 2 * r->capseen : 8;
		r->seen = xrealloc(r->seen, r->capseen * sizeof(*r->seen));
	}
	r->seen[r->nseen++] = xstrdup(address);
	return true;
}

static void
route_add_dest(struct route_req *r, const char *channel, const char *address)
{
	for (size_t i = 0; i < r->ndests; i++)
		if (strcasecmp(r->dests[i].address, address) == 0 &&
		    strcmp(r->dests[i].channel, channel) == 0)
			return;
	if (r->ndests == r->capdests) {
		r->capdests = r->capdests ? 2 * r->capdests : 4;
		r->dests = xrealloc(r->dests, r->capdests * sizeof(*r->dests));
	}
	r->dests[r->ndests].channel = xstrdup(channel);
	r->dests[r->ndests].address = xstrdup(address);
	r->ndests++;
	route_trace(r, "  destination %s channel %s%s", address, channel, NULL);
}

/* Rewrite address; NULL channel when no rule takes it (error logged). */
static bool
route_rewrite(struct route_req *r, const char *address, char **out_addr,
    char **out_channel, char **why)
{
	struct rewrite_ctx ctx = {
		.src_channel = r->p.src_channel, .envelope = true, .forward = true,
		.trace = r->p.trace ? route_rewrite_trace : NULL, .trace_arg = r,
	};
	struct rewrite_result res;
	bool ok = rewrite_address(r->p.cfg->imta, address, &ctx, &res);

	if (ok) {
		*out_addr = xstrdup(res.address);
		*out_channel = xstrdup(res.channel->name);
	} else {
		*why = xstrdup(res.error ? res.error : "no rewrite rule applies");
	}
	rewrite_result_clear(&res);
	return ok;
}

static void
route_work_add(struct route_req *r, char *address, char *channel, int depth)
{
	if (r->nwork == r->capwork) {
		r->capwork = r->capwork ? 2 * r->capwork : 8;
		r->work = xrealloc(r->work, r->capwork * sizeof(*r->work));
	}
	r->work[r->nwork++] = (struct route_item){ address, channel, depth,
	    NULL, DIR_SCOPE_SUB };
}

static void
route_search_add(struct route_req *r, char *base, enum dir_scope scope,
    char *filter)
{
	route_work_add(r, filter, NULL, r->cur.depth + 1);
	r->work[r->nwork - 1].base = base;
	r->work[r->nwork - 1].scope = scope;
}

/* Rewrite address and queue it for routing. */
static void
route_push(struct route_req *r, const char *address, int depth)
{
	char *addr = NULL, *channel = NULL, *why = NULL;

	if (depth > ROUTE_DEPTH_MAX) {
		route_fail(r, "554 5.4.6 Routing loop: expansion nested too deep");
		return;
	}
	if (!route_rewrite(r, address, &addr, &channel, &why)) {
		log_info("route: member %s skipped: %s", address, why);
		route_trace(r, "  %s skipped: %s%s", address, why, NULL);
		free(why);
		return;
	}
	route_work_add(r, addr, channel, depth);
}

static void
route_item_free(struct route_item *it)
{
	free(it->address);
	free(it->channel);
	free(it->base);
	memset(it, 0, sizeof(*it));
}

/* A top-level address fails the recipient; a member is skipped. */
static void
route_refuse(struct route_req *r, const char *reply)
{
	if (r->cur.depth == 0) {
		route_fail(r, reply);
		return;
	}
	log_info("route: member %s skipped: %s", r->cur.address, reply);
	route_trace(r, "  %s skipped: %s%s", r->cur.address, reply, NULL);
}

static void
route_push_values(struct route_req *r, const struct dir_entry *e,
    const char *attr)
{
	size_t n;
	const char *const *v = dir_entry_values(e, attr, &n);

	for (size_t i = 0; i < n && !r->finished; i++)
		route_push(r, v[i], r->cur.depth + 1);
}

/* Members named by DN (uniqueMember: the entry itself) or by LDAP URL
 * (memberURL, a dynamic group) become searches. */
static void
route_group(struct route_req *r, const struct dir_entry *e)
{
	size_t n;
	const char *const *dns = dir_entry_values(e, "uniqueMember", &n);

	route_trace(r, "  group %s%s%s", dir_entry_dn(e), NULL, NULL);
	route_push_values(r, e, "mgrpRFC822MailMember");
	for (size_t i = 0; i < n; i++)
		route_search_add(r, xstrdup(dns[i]), DIR_SCOPE_BASE,
		    xstrdup("(objectClass=*)"));
	const char *const *urls = dir_entry_values(e, "memberURL", &n);
	for (size_t i = 0; i < n; i++) {
		char *base, *filter;
		enum dir_scope scope;
		if (dir_url_parse(urls[i], &base, &scope, &filter))
			route_search_add(r, base, scope, filter);
		else
			log_warn("route: memberURL \"%s\" is not an LDAP URL: "
			    "skipped", urls[i]);
	}
}

static bool
route_option(const struct dir_entry *e, const char *opt)
{
	size_t n;
	const char *const *v = dir_entry_values(e, "mailDeliveryOption", &n);

	if (n == 0)
		return strcmp(opt, "mailbox") == 0;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i], opt) == 0)
			return true;
	return false;
}

static void
route_user(struct route_req *r, const struct dir_entry *e)
{
	const char *mail = dir_entry_get(e, "mail");
	bool routed = false;

	route_trace(r, "  user %s mail=%s mailHost=%s", dir_entry_dn(e), mail,
	    dir_entry_get(e, "mailHost"));
	if (route_option(e, "hold")) {
		route_add_dest(r, ROUTE_HOLD_CHANNEL, mail ? mail : r->cur.address);
		routed = true;
	}
	if (route_option(e, "mailbox")) {
		if (mail == NULL || dir_entry_get(e, "mailHost") == NULL) {
			route_refuse(r, "451 4.3.0 Directory entry has no mail or "
			    "mailHost");
			return;
		}
		route_add_dest(r, ROUTE_STORE_CHANNEL, mail);
		routed = true;
	}
	if (route_option(e, "forward")) {
		size_t n;
		dir_entry_values(e, "mailForwardingAddress", &n);
		route_push_values(r, e, "mailForwardingAddress");
		routed = routed || n > 0;
	}
	if (!routed)
		route_refuse(r, "550 5.3.0 No delivery option this relay can "
		    "carry out");
}

static void
route_entry(struct route_req *r, const struct dir_entry *e)
{
	switch (dir_entry_user_state(e)) {
	case DIR_USER_DELETED:
		route_trace(r, "  %s is deleted (%s)%s", r->cur.address,
		    dir_entry_dn(e), NULL);
		route_refuse(r, "550 5.2.1 Mailbox disabled");
		return;
	case DIR_USER_INACTIVE:
		route_trace(r, "  %s is inactive (%s)%s", r->cur.address,
		    dir_entry_dn(e), NULL);
		route_refuse(r, "450 4.2.1 Mailbox temporarily disabled");
		return;
	case DIR_USER_HOLD:
		route_trace(r, "  %s is held (mailUserStatus)%s%s",
		    r->cur.address, NULL, NULL);
		route_add_dest(r, ROUTE_HOLD_CHANNEL, r->cur.address);
		return;
	case DIR_USER_ACTIVE:
		break;
	}
	if (dir_entry_has_class(e, "inetMailGroup"))
		route_group(r, e);
	else
		route_user(r, e);
}

/* Not in the directory: the aliases file, by address then local part. */
static void
route_alias(struct route_req *r)
{
	const struct aliases *al = r->p.cfg->aliases;
	const struct aliases_entry *a = NULL;

	if (al != NULL && (a = aliases_lookup(al, r->cur.address)) == NULL) {
		char *local = xstrdup(r->cur.address);
		char *at = strrchr(local, '@');
		if (at != NULL) {
			*at = '\0';
			a = aliases_lookup(al, local);
		}
		free(local);
	}
	if (a == NULL) {
		route_trace(r, "  %s: no such user or alias%s%s", r->cur.address,
		    NULL, NULL);
		route_refuse(r, "550 5.1.1 No such user here");
		return;
	}
	char line[16];
	snprintf(line, sizeof(line), "%d", a->line);
	route_trace(r, "  alias %s (%s:%s)", a->name, a->file, line);
	for (int i = 0; i < a->naddrs && !r->finished; i++)
		route_push(r, a->addrs[i], r->cur.depth + 1);
}

static void
route_search_answer(struct route_req *r, const struct dir_entry *const *entries,
    size_t n)
{
	for (size_t i = 0; i < n && !r->finished; i++) {
		const char *mail = dir_entry_get(entries[i], "mail");
		if (mail != NULL)
			route_push(r, mail, r->cur.depth);
	}
}

static bool route_run(struct route_req *r);

static void
route_on_dir(void *arg, enum dir_status status,
    const struct dir_entry *const *entries, size_t n)
{
	struct route_req *r = arg;
	bool search = r->cur.channel == NULL;

	r->dreq = NULL;
	r->waiting = false;
	if (status == DIR_UNAVAILABLE)
		route_fail(r, "451 4.4.3 Directory unavailable, try again later");
	else if (status == DIR_AMBIGUOUS)
		route_fail(r, "451 4.1.4 Address matches several directory "
		    "entries");
	else if (search)
		route_search_answer(r, entries, n);
	else if (status == DIR_NOTFOUND || n != 1)
		route_alias(r);
	else
		route_entry(r, entries[0]);
	route_item_free(&r->cur);
	(void)route_run(r);
}

/* Route the item on top of the stack. */
static void
route_next(struct route_req *r)
{
	r->cur = r->work[--r->nwork];
	if (r->cur.channel == NULL) {
		route_trace(r, "  search %s under %s%s", r->cur.address,
		    r->cur.base, NULL);
		r->waiting = true;
		struct dir_req *d = dir_search_at(r->p.dir, r->cur.base,
		    r->cur.scope, r->cur.address, NULL, route_on_dir, r);
		if (r->waiting)
			r->dreq = d;
		return;
	}
	if (!route_note(r, r->cur.address)) {
		route_item_free(&r->cur);
		return;
	}
	if (!mta_config_is_local_channel(r->p.cfg, r->cur.channel)) {
		route_add_dest(r, r->cur.channel, r->cur.address);
		route_item_free(&r->cur);
		return;
	}
	if (r->p.dir == NULL) {
		route_fail(r, "451 4.4.3 Directory unavailable, try again later");
		route_item_free(&r->cur);
		return;
	}
	r->waiting = true;
	struct dir_req *d = dir_find_user(r->p.dir, r->cur.address, route_on_dir,
	    r);
	if (r->waiting)
		r->dreq = d;
}

static void
route_free(struct route_req *r)
{
	for (size_t i = 0; i < r->nwork; i++)
		route_item_free(&r->work[i]);
	route_item_free(&r->cur);
	for (size_t i = 0; i < r->nseen; i++)
		free(r->seen[i]);
	for (size_t i = 0; i < r->ndests; i++) {
		free(r->dests[i].channel);
		free(r->dests[i].address);
	}
	free(r->work);
	free(r->seen);
	free(r->dests);
	free(r->first_channel);
	free(r->first_address);
	free(r);
}

static void
route_finish(struct route_req *r)
{
	struct route_answer ans = {
		.reply = r->reply, .dests = r->dests, .ndests = r->ndests,
		.first_channel = r->first_channel,
		.first_address = r->first_address,
	};
	struct route_dest later = {
		.channel = (char *)r->expand_channel, .address = r->first_address,
	};

	if (r->deferred && ans.reply == NULL) {
		ans.dests = &later;
		ans.ndests = 1;
	}
	if (ans.reply == NULL && ans.ndests == 0)
		ans.reply = "550 5.1.1 Recipient expands to no address";
	if (ans.reply != NULL)
		ans.ndests = 0;
	r->cb(r->p.arg, &ans);
	route_free(r);
}

/* Work until a lookup is pending or everything is routed; true when it
 * finished (cb has run, r is freed).  A directory answer given from the
 * cache arrives inside route_next(): the guard keeps that nested call
 * from running the loop twice. */
static bool
route_run(struct route_req *r)
{
	if (r->running)
		return false;
	r->running = true;
	while (!r->finished && !r->waiting) {
		if (r->nwork == 0)
			r->finished = true;
		else
			route_next(r);
	}
	r->running = false;
	if (!r->finished || r->waiting)
		return false;
	route_finish(r);
	return true;
}

/* Step 1: the rewrite and the caller's check of its result. */
static bool
route_first(struct route_req *r)
{
	char *why = NULL;
	const char *reply;

	if (!route_rewrite(r, r->p.address, &r->first_address,
	    &r->first_channel, &why)) {
		log_info("route: %s: %s", r->p.address, why);
		route_trace(r, "  refused: %s%s%s", why, NULL, NULL);
		free(why);
		route_fail(r, "550 5.1.2 Address not routable");
		return false;
	}
	route_trace(r, "rewritten to %s channel %s%s", r->first_address,
	    r->first_channel, NULL);
	if (r->p.orig_check != NULL &&
	    (reply = r->p.orig_check(r->p.arg, r->first_channel,
	    r->first_address)) != NULL) {
		route_fail(r, reply);
		return false;
	}
	route_work_add(r, xstrdup(r->first_address), xstrdup(r->first_channel),
	    0);
	return true;
}

/* The source channel's expandlimit and expandchannel. */
static void
route_expand_limit(struct route_req *r)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(r->p.cfg->imta,
	    r->p.src_channel);

	r->expand_channel = ROUTE_EXPAND_CHANNEL;
	if (ch == NULL || ch->kw.expandlimit <= 0)
		return;
	r->expand_limit = ch->kw.expandlimit;
	snprintf(r->expand_limit_text, sizeof(r->expand_limit_text), "%d",
	    ch->kw.expandlimit);
	if (ch->kw.expandchannel != NULL)
		r->expand_channel = ch->kw.expandchannel;
}

struct route_req *
route_resolve(const struct route_params *p, route_cb *cb)
{
	struct route_req *r = xcalloc(1, sizeof(*r));

	r->p = *p;
	r->cb = cb;
	route_expand_limit(r);
	route_first(r);
	return route_run(r) ? NULL : r;
}

void
route_cancel(struct route_req **rp)
{
	struct route_req *r = *rp;

	if (r == NULL)
		return;
	dir_cancel(&r->dreq);
	route_free(r);
	*rp = NULL;
}
