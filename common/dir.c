/*
 * dir: requests to the directory and their answers (public API of dir.h).
 *
 * Owns the configuration copy, the requests, the cache and the search
 * channels: `search`, the connection every lookup goes to, and `secret`,
 * the one dir_fetch_secret reads passwords on (dir_auth.c owns the rest
 * of the logins).  A request sits on exactly one list: its channel's
 * `queue` (waiting for the connection or for a slot: at most
 * DIR_MAX_INFLIGHT searches are outstanding per channel), its channel's
 * `inflight` (sent, has a msgid), the dir's `doomed` (being failed after
 * every server failed), `early` (answered without asking, on its timer),
 * or, for logins past their lookup, `auth_queue` / `auth_binding`
 * (dir_auth.c).  Its timer runs from the moment it was made: when it
 * fires the request gets DIR_UNAVAILABLE, whatever the connection is
 * doing.
 *
 * Answers: dir_find_user gives DIR_OK for exactly one entry, DIR_NOTFOUND
 * for none and DIR_AMBIGUOUS (no entries) for more; dir_search gives
 * DIR_OK with every entry, up to DIR_SIZELIMIT entries and
 * DIR_ANSWER_MAX_BYTES (past that, the first ones, with a warning in the
 * log, and the answer is not cached).  A server error, including a base DN
 * that does not exist, is DIR_UNAVAILABLE: a misconfigured directory must
 * never make a daemon say "no such user".  Found answers are cached for
 * cache_ttl_s, not-found and ambiguous ones for negative_ttl_s.  The
 * lookups of logins are finds like dir_find_user's, by their own filter,
 * cached the same way; what follows them is dir_auth.c's.
 *
 * Callbacks and reentrancy: a callback runs after its request has been
 * unlinked and freed, so it may cancel other requests, start new ones or
 * flush the cache; it must not touch its own handle any more.  It may even
 * call dir_free(): the struct dir then dies when our outermost frame
 * returns (dir_enter/dir_leave count those frames).  Loops over requests
 * never keep a pointer across a callback.
 *
 * Stats: requests counts calls of dir_find_user/dir_search and the
 * lookups of dir_authenticate/dir_fetch_secret, cache_hits those answered from the cache,
 * errors those answered DIR_UNAVAILABLE, reconnects every attempt of the
 * search connection after its first.
 *
 * Writing to a socket the server has closed raises SIGPIPE inside libldap;
 * dir_new() ignores SIGPIPE if nobody has set a handler for it.
 */
#include "dir_private.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

#define DIR_DEFAULT_TIMEOUT_MS 5000

#define DIR_USER_ATTR_LIST \
	"mail", "mailAlternateAddress", "mailEquivalentAddress", "uid", "cn", \
	"objectClass", "mailHost", "mailDeliveryOption", \
	"mailForwardingAddress", "mailQuota", "mailMsgQuota", \
	"mailUserStatus", "inetUserStatus", "mailMessageStore", \
	"mailSieveRuleSource", "mailAutoReplyMode", "mailAutoReplyText", \
	"mailAutoReplySubject", "mgrpRFC822MailMember", "mgrpDeliverTo", \
	"uniqueMember", "memberURL", "preferredLanguage"

char *dir_user_attrs[] = { DIR_USER_ATTR_LIST, NULL };
char *dir_secret_attrs[] = { DIR_USER_ATTR_LIST, "userPassword", NULL };

static const struct dir_conn_ops dir_chan_ops;

static void dir_req_timer_cb(evutil_socket_t, short, void *);

/* ---- struct dir ---- */

void
dir_enter(struct dir *dir)
{
	dir->busy++;
}

void
dir_leave(struct dir *dir)
{
	if (--dir->busy == 0 && dir->dying)
		free(dir);
}

static void
dir_ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
	    !(sa.sa_flags & SA_SIGINFO))
		signal(SIGPIPE, SIG_IGN);
}

static bool
dir_server_parse(struct dir_server *s, const char *uri)
{
	LDAPURLDesc *lud = NULL;
	int rc = ldap_url_parse(uri, &lud);

	if (rc != LDAP_URL_SUCCESS) {
		log_err("dir_config uri=%s err=\"not an LDAP URL (%d)\"", uri, rc);
		return false;
	}
	if (strcasecmp(lud->lud_scheme, "ldap") != 0 || lud->lud_host == NULL ||
	    *lud->lud_host == '\0' || lud->lud_port < 0 ||
	    lud->lud_port > 65535) {
		log_err("dir_config uri=%s err=\"only ldap://HOST[:PORT] is "
		    "supported\"", uri);
		ldap_free_urldesc(lud);
		return false;
	}
	s->uri = xstrdup(uri);
	s->host = xstrdup(lud->lud_host);
	snprintf(s->port, sizeof(s->port), "%u",
	    (unsigned)(lud->lud_port > 0 ? lud->lud_port : LDAP_PORT) & 0xffffu);
	ldap_free_urldesc(lud);
	return true;
}

static void
dir_config_free(struct dir *dir)
{
	for (size_t i = 0; i < dir->nservers; i++) {
		free(dir->servers[i].uri);
		free(dir->servers[i].host);
	}
	free(dir->servers);
	dir->servers = NULL;
	dir->nservers = 0;
	free(dir->base);
	free(dir->binddn);
	if (dir->bindpw != NULL)
		explicit_bzero(dir->bindpw, strlen(dir->bindpw));
	free(dir->bindpw);
	dir->base = dir->binddn = dir->bindpw = NULL;
}

static bool
dir_config_copy(struct dir *dir, const struct dir_config *conf)
{
	if (conf->uris == NULL || conf->nuris == 0 || conf->base == NULL) {
		log_err("dir_config err=\"no server URI or no search base\"");
		return false;
	}
	dir->servers = xcalloc(conf->nuris, sizeof(*dir->servers));
	for (; dir->nservers < conf->nuris; dir->nservers++)
		if (!dir_server_parse(&dir->servers[dir->nservers],
		    conf->uris[dir->nservers]))
			return false;
	dir->base = xstrdup(conf->base);
	if (conf->binddn != NULL && *conf->binddn != '\0') {
		dir->binddn = xstrdup(conf->binddn);
		dir->bindpw = xstrdup(conf->bindpw != NULL ? conf->bindpw : "");
	}
	dir->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms :
	    DIR_DEFAULT_TIMEOUT_MS;
	dir->cache_ttl_s = conf->cache_ttl_s > 0 ? conf->cache_ttl_s : 0;
	dir->negative_ttl_s = conf->negative_ttl_s > 0 ?
	    conf->negative_ttl_s : 0;
	return true;
}

struct dir *
dir_new(struct event_base *base, const struct dir_config *conf)
{
	struct dir *dir = xcalloc(1, sizeof(*dir));

	dir->evbase = base;
	TAILQ_INIT(&dir->doomed);
	TAILQ_INIT(&dir->early);
	TAILQ_INIT(&dir->auth_queue);
	TAILQ_INIT(&dir->auth_binding);
	if (!dir_config_copy(dir, conf) || !dir_auth_init(dir, conf)) {
		dir_auth_free(dir);
		dir_config_free(dir);
		free(dir);
		return NULL;
	}
	if (conf->cache_max > 0)
		dir->cache = dir_cache_new(conf->cache_max, DIR_CACHE_MAX_BYTES);
	dir_chan_init(&dir->search, dir, "search", dir->binddn, dir->bindpw);
	dir_ignore_sigpipe();
	log_debug("dir_new servers=%zu first=%s timeout_ms=%d cache_max=%zu",
	    dir->nservers, dir->servers[0].uri, dir->timeout_ms, conf->cache_max);
	return dir;
}

/* ---- requests ---- */

static struct dir_chan *
dir_req_inflight_chan(const struct dir_req *req)
{
	struct dir_chan *ch = req->chan;

	return ch != NULL && req->list == &ch->inflight ? ch : NULL;
}

void
dir_req_move(struct dir_req *req, struct dir_req_list *to)
{
	struct dir_chan *ch = dir_req_inflight_chan(req);

	if (ch != NULL)
		ch->ninflight--;
	TAILQ_REMOVE(req->list, req, link);
	TAILQ_INSERT_TAIL(to, req, link);
	req->list = to;
	if ((ch = dir_req_inflight_chan(req)) != NULL)
		ch->ninflight++;
}

/* Unlink and free; tell the server when it is still working on it. */
void
dir_req_destroy(struct dir_req *req)
{
	struct dir *dir = req->dir;
	struct dir_chan *ch = dir_req_inflight_chan(req);

	if (ch != NULL) {
		ch->ninflight--;
		if (req->msgid > 0 && ch->conn.state == DIR_CONN_READY)
			ldap_abandon_ext(ch->conn.ld, req->msgid, NULL, NULL);
	}
	if (req->bindconn != NULL)
		dir_auth_detach(req);
	if (req->counted)
		dir->nauth--;
	TAILQ_REMOVE(req->list, req, link);
	event_free(req->timer);
	dir_answer_unref(&req->answer);
	if (req->own_attrs) {
		for (size_t i = 0; req->attrs[i] != NULL; i++)
			free(req->attrs[i]);
		free(req->attrs);
	}
	if (req->password != NULL) {
		explicit_bzero(req->password, strlen(req->password));
		free(req->password);
	}
	if (req->secret != NULL) {
		explicit_bzero(req->secret, strlen(req->secret));
		free(req->secret);
	}
	free(req->filter);
	free(req->base);
	free(req->key);
	free(req);
}

static void
dir_req_cache_put(struct dir *dir, struct dir_req *req, struct dir_answer *a)
{
	int ttl = a->status == DIR_OK ? dir->cache_ttl_s : dir->negative_ttl_s;

	if (dir->cache == NULL || req->key == NULL || req->truncated ||
	    a->status == DIR_UNAVAILABLE || ttl <= 0)
		return;
	dir_cache_put(dir->cache, req->key, a, dir_now_ms() + (uint64_t)ttl * 1000);
}

void
dir_deliver(struct dir *dir, dir_cb *cb, void *arg, struct dir_answer *a)
{
	dir_enter(dir);
	cb(arg, a->status, (const struct dir_entry *const *)a->entries, a->n);
	dir_answer_unref(&a);
	dir_leave(dir);
}

/* The search of the request is answered: free it, then run its callback
 * (or, for a login, go on with what follows the lookup). */
static void
dir_req_complete(struct dir_req *req, enum dir_status status)
{
	struct dir *dir = req->dir;
	struct dir_answer *a = req->answer;
	dir_cb *cb = req->cb;
	void *arg = req->arg;

	req->answer = NULL;
	if (status == DIR_UNAVAILABLE || status == DIR_AMBIGUOUS) {
		dir_answer_unref(&a);           /* no entries with these */
		a = dir_answer_new();
	}
	a->status = status;
	if (status == DIR_UNAVAILABLE)
		dir->stats.errors++;
	dir_req_cache_put(dir, req, a);
	if (req->kind == DIR_REQ_AUTH || req->kind == DIR_REQ_SECRET) {
		dir_auth_found(req, a);
		return;
	}
	dir_req_destroy(req);
	dir_deliver(dir, cb, arg, a);
}

/* Whatever the request waits for, it gets "unavailable" now. */
static void
dir_req_fail(struct dir_req *req)
{
	if (req->binding)
		dir_auth_finish(req, DIR_AUTH_UNAVAILABLE, DIR_AUTH_R_DIRECTORY);
	else
		dir_req_complete(req, DIR_UNAVAILABLE);
}

void
dir_req_fail_doomed(struct dir *dir)
{
	struct dir_req *req;

	/* Requests made by the callbacks go elsewhere, not here. */
	while ((req = TAILQ_FIRST(&dir->doomed)) != NULL)
		dir_req_fail(req);
}

void
dir_req_answer_early(struct dir_req *req)
{
	dir_req_move(req, &req->dir->early);
	event_active(req->timer, EV_TIMEOUT, 0);
}

static void
dir_chan_flush(struct dir_chan *ch)
{
	struct dir *dir = ch->conn.dir;
	struct dir_req *req;
	struct timeval limit = { (dir->timeout_ms + 999) / 1000, 0 };
	int msgid, rc;

	while (dir_conn_can_send(&ch->conn) && ch->ninflight < DIR_MAX_INFLIGHT &&
	    (req = TAILQ_FIRST(&ch->queue)) != NULL) {
		msgid = -1;
		rc = ldap_search_ext(ch->conn.ld, req->base ? req->base : dir->base,
		    req->scope, req->filter, req->attrs, 0, NULL, NULL, &limit,
		    DIR_SIZELIMIT, &msgid);
		switch (rc) {
		case LDAP_SUCCESS:
			req->msgid = msgid;
			req->sent_ms = dir_now_ms();
			dir_req_move(req, &ch->inflight);
			break;
		case LDAP_BUSY:
			dir_conn_want_write(&ch->conn);
			return;
		case LDAP_FILTER_ERROR:
		case LDAP_PARAM_ERROR:
		case LDAP_ENCODING_ERROR:
		case LDAP_NOT_SUPPORTED:
			log_err("dir_search_invalid filter=%s err=\"%s\"",
			    req->filter, ldap_err2string(rc));
			req->early = DIR_UNAVAILABLE;
			req->auth_early = DIR_AUTH_UNAVAILABLE;
			req->auth_reason = DIR_AUTH_R_DIRECTORY;
			dir_req_answer_early(req);
			break;
		default:
			dir_conn_fail(&ch->conn, ldap_err2string(rc));
			return;
		}
	}
}

/* ---- the search channels' side of their connection (dir_conn_ops) ---- */

static void
dir_chan_ready(struct dir_conn *c)
{
	dir_chan_flush(c->owner);
}

static void
dir_chan_dropped(struct dir_conn *c)
{
	struct dir_chan *ch = c->owner;
	struct dir_req *req;

	/* In reverse, to the head: the oldest stay first. */
	while ((req = TAILQ_LAST(&ch->inflight, dir_req_list)) != NULL) {
		TAILQ_REMOVE(&ch->inflight, req, link);
		TAILQ_INSERT_HEAD(&ch->queue, req, link);
		req->list = &ch->queue;
		req->msgid = -1;
		req->nseen = 0;
		req->truncated = false;
		dir_answer_unref(&req->answer);
		req->answer = dir_answer_new();
	}
	ch->ninflight = 0;
}

static bool
dir_chan_pending(const struct dir_conn *c)
{
	const struct dir_chan *ch = c->owner;

	return !TAILQ_EMPTY(&ch->queue) || !TAILQ_EMPTY(&ch->inflight);
}

static void
dir_chan_round_failed(struct dir_conn *c)
{
	struct dir_chan *ch = c->owner;
	struct dir *dir = c->dir;
	struct dir_req *req;

	while ((req = TAILQ_FIRST(&ch->inflight)) != NULL)
		dir_req_move(req, &dir->doomed);
	while ((req = TAILQ_FIRST(&ch->queue)) != NULL)
		dir_req_move(req, &dir->doomed);
	dir_req_fail_doomed(dir);
}

static struct dir_req *
dir_req_by_msgid(struct dir_chan *ch, int msgid)
{
	struct dir_req *req;

	TAILQ_FOREACH(req, &ch->inflight, link)
		if (req->msgid == msgid)
			return req;
	return NULL;
}

static void
dir_req_entry(struct dir_chan *ch, struct dir_req *req, LDAPMessage *msg)
{
	struct dir_entry *e;
	bool cut;

	if (++req->nseen > 1 && req->kind != DIR_REQ_SEARCH) {
		/* A second match: ambiguous, whatever else comes. */
		ldap_msgfree(msg);
		dir_conn_answered(&ch->conn);
		dir_req_complete(req, DIR_AMBIGUOUS);
		return;
	}
	if (req->nseen > DIR_SIZELIMIT ||
	    req->answer->bytes >= DIR_ANSWER_MAX_BYTES) {
		req->truncated = true;
		ldap_msgfree(msg);
		return;
	}
	e = dir_entry_from_ldap(ch->conn.ld, msg, DIR_ENTRY_MAX_BYTES, &cut);
	ldap_msgfree(msg);
	if (cut)
		log_warn("dir_entry_truncated uri=%s dn=\"%s\" max_bytes=%d",
		    dir_conn_uri(&ch->conn), e->dn, DIR_ENTRY_MAX_BYTES);
	dir_answer_add(req->answer, e);
}

static enum dir_status
dir_req_status(struct dir_chan *ch, struct dir_req *req, int err,
    const char *text)
{
	struct dir *dir = req->dir;
	size_t n = req->answer->n;

	if (err == LDAP_SIZELIMIT_EXCEEDED || err == LDAP_ADMINLIMIT_EXCEEDED) {
		req->truncated = true;
	} else if (err != LDAP_SUCCESS) {
		log_err("dir_search_failed uri=%s base=\"%s\" err=\"%s\" "
		    "text=\"%s\" conn=%s", dir_conn_uri(&ch->conn), dir->base,
		    ldap_err2string(err), text != NULL ? text : "",
		    ch->conn.name);
		return DIR_UNAVAILABLE;
	}
	if (req->truncated)
		log_warn("dir_search_truncated uri=%s entries=%zu kept=%zu "
		    "filter=%s", dir_conn_uri(&ch->conn), req->nseen, n,
		    req->filter);
	if (req->kind != DIR_REQ_SEARCH)
		return n == 0 ? DIR_NOTFOUND :
		    n == 1 && !req->truncated ? DIR_OK : DIR_AMBIGUOUS;
	return n > 0 ? DIR_OK : DIR_NOTFOUND;
}

static void
dir_req_result(struct dir_chan *ch, struct dir_req *req, LDAPMessage *msg)
{
	char *text = NULL;
	int err = LDAP_OTHER, rc;
	enum dir_status status;

	rc = ldap_parse_result(ch->conn.ld, msg, &err, NULL, &text, NULL,
	    NULL, 1);
	if (rc != LDAP_SUCCESS)
		err = rc;
	req->msgid = -1;                /* finished: nothing to abandon */
	dir_conn_answered(&ch->conn);
	status = dir_req_status(ch, req, err, text);
	ldap_memfree(text);
	dir_req_complete(req, status);
}

static void
dir_chan_message(struct dir_conn *c, LDAPMessage *msg)
{
	struct dir_chan *ch = c->owner;
	struct dir *dir = c->dir;
	struct dir_req *req = dir_req_by_msgid(ch, ldap_msgid(msg));

	if (req == NULL) {              /* cancelled or timed out */
		ldap_msgfree(msg);
		return;
	}
	switch (ldap_msgtype(msg)) {
	case LDAP_RES_SEARCH_ENTRY:
		dir_req_entry(ch, req, msg);
		break;
	case LDAP_RES_SEARCH_RESULT:
		dir_req_result(ch, req, msg);
		break;
	default:                        /* references: we chase none */
		ldap_msgfree(msg);
		return;
	}
	if (!dir->dying)
		dir_chan_flush(ch);
}

static const struct dir_conn_ops dir_chan_ops = {
	.ready = dir_chan_ready,
	.message = dir_chan_message,
	.dropped = dir_chan_dropped,
	.round_failed = dir_chan_round_failed,
	.pending = dir_chan_pending,
};

void
dir_chan_init(struct dir_chan *ch, struct dir *dir, const char *name,
    const char *binddn, const char *bindpw)
{
	TAILQ_INIT(&ch->queue);
	TAILQ_INIT(&ch->inflight);
	ch->ninflight = 0;
	dir_conn_init(&ch->conn, dir, &dir_chan_ops, ch, name, binddn, bindpw);
}

static void
dir_req_cancel_list(struct dir_req_list *list)
{
	struct dir_req *req;

	while ((req = TAILQ_FIRST(list)) != NULL)
		dir_req_destroy(req);
}

void
dir_chan_close(struct dir_chan *ch)
{
	dir_conn_close(&ch->conn);
}

void
dir_chan_cancel_all(struct dir_chan *ch)
{
	dir_req_cancel_list(&ch->inflight);
	dir_req_cancel_list(&ch->queue);
}

static void
dir_req_early_timer(struct dir_req *req)
{
	if (req->kind == DIR_REQ_AUTH || req->kind == DIR_REQ_SECRET)
		dir_auth_finish(req, req->auth_early, req->auth_reason);
	else
		dir_req_complete(req, req->early);
}

/* The timer of a request on a channel's list fired. */
static void
dir_req_chan_timeout(struct dir_req *req)
{
	struct dir *dir = req->dir;
	struct dir_chan *ch = req->chan;
	bool sent = req->list == &ch->inflight, stuck;

	/* Nothing at all came back since we sent it: the server hangs. */
	stuck = sent && ch->conn.state == DIR_CONN_READY &&
	    ch->conn.last_read_ms < req->sent_ms;
	log_warn("dir_timeout uri=%s timeout_ms=%d state=%s conn=%s",
	    dir_conn_uri(&ch->conn), dir->timeout_ms,
	    sent ? "sent" : "waiting", ch->conn.name);
	dir_req_fail(req);
	if (stuck && !dir->dying)
		dir_conn_fail(&ch->conn, "no answer within the timeout");
	else if (!dir->dying)
		dir_chan_flush(ch);
}

static void
dir_req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir_req *req = arg;
	struct dir *dir = req->dir;

	(void)fd;
	(void)what;
	dir_enter(dir);
	if (req->list == &dir->early)
		dir_req_early_timer(req);
	else if (req->binding)
		dir_auth_timeout(req);
	else
		dir_req_chan_timeout(req);
	dir_leave(dir);
}

struct dir_req *
dir_req_new(struct dir *dir, enum dir_req_kind kind, struct dir_chan *chan,
    char *filter, char **attrs, bool own_attrs)
{
	struct dir_req *req = xcalloc(1, sizeof(*req));

	req->dir = dir;
	req->kind = kind;
	req->chan = chan;
	req->filter = filter;
	req->scope = LDAP_SCOPE_SUBTREE;
	req->attrs = attrs;
	req->own_attrs = own_attrs;
	req->msgid = -1;
	req->answer = dir_answer_new();
	req->timer = evtimer_new(dir->evbase, dir_req_timer_cb, req);
	if (req->timer == NULL)
		log_panic("dir: evtimer_new failed");
	TAILQ_INSERT_TAIL(&chan->queue, req, link);
	req->list = &chan->queue;
	return req;
}

/* Answer from the cache if we can: true when the callback has run. */
static bool
dir_req_from_cache(struct dir *dir, const char *key, dir_cb *cb, void *arg)
{
	struct dir_answer *a;

	if (dir->cache == NULL || key == NULL)
		return false;
	a = dir_cache_get(dir->cache, key, dir_now_ms());
	if (a == NULL)
		return false;
	dir->stats.cache_hits++;
	dir_deliver(dir, cb, arg, a);
	return true;
}

void
dir_req_arm(struct dir_req *req)
{
	struct dir *dir = req->dir;
	struct timeval tv = { dir->timeout_ms / 1000,
	    (suseconds_t)(dir->timeout_ms % 1000) * 1000 };

	evtimer_add(req->timer, &tv);
}

struct dir_req *
dir_req_start(struct dir_req *req, char *key)
{
	struct dir_chan *ch = req->chan;

	req->key = key;
	dir_req_arm(req);
	if (dir_conn_can_send(&ch->conn))
		dir_chan_flush(ch);
	else
		dir_conn_kick(&ch->conn);
	return req;
}

static char *
dir_lowercase(const char *s)
{
	char *l = xstrdup(s);

	for (char *p = l; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

struct dir_req *
dir_find_user(struct dir *dir, const char *address, dir_cb *cb, void *arg)
{
	struct dir_req *req;
	char *lower, *key = NULL;
	size_t len = strlen(address);

	dir->stats.requests++;
	if (len == 0 || len > DIR_ADDRESS_MAX) {
		/* Cannot be in the directory; answered on the loop. */
		req = dir_req_new(dir, DIR_REQ_FIND, &dir->search, NULL, NULL,
		    false);
		req->cb = cb;
		req->arg = arg;
		req->early = DIR_NOTFOUND;
		dir_req_answer_early(req);
		return req;
	}
	lower = dir_lowercase(address);
	if (dir->cache != NULL)
		key = xasprintf("f\n%s", lower);
	if (dir_req_from_cache(dir, key, cb, arg)) {
		free(lower);
		free(key);
		return NULL;
	}
	req = dir_req_new(dir, DIR_REQ_FIND, &dir->search,
	    dir_filter_user(lower), dir_user_attrs, false);
	req->cb = cb;
	req->arg = arg;
	free(lower);
	return dir_req_start(req, key);
}

static char **
dir_attrs_copy(const char *const *attrs)
{
	size_t n = 0;
	char **copy;

	if (attrs == NULL)
		return NULL;
	while (attrs[n] != NULL)
		n++;
	copy = xcalloc(n + 1, sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(attrs[i]);
	return copy;
}

/* "s\n" attr,attr,... "\n" filter; attribute names hold no ',' or '\n'. */
static char *
dir_search_key(const char *filter, const char *const *attrs)
{
	size_t len = 2;                 /* "*" (or nothing) and the NUL */
	char *list, *p, *key;

	for (size_t i = 0; attrs != NULL && attrs[i] != NULL; i++)
		len += strlen(attrs[i]) + 1;
	list = p = xmalloc(len);
	p = stpcpy(p, attrs == NULL ? "*" : "");
	for (size_t i = 0; attrs != NULL && attrs[i] != NULL; i++)
		p = stpcpy(stpcpy(p, attrs[i]), ",");
	key = xasprintf("s\n%s\n%s", list, filter);
	free(list);
	return key;
}

struct dir_req *
dir_search(struct dir *dir, const char *filter, const char *const *attrs,
    dir_cb *cb, void *arg)
{
	return dir_search_at(dir, NULL, DIR_SCOPE_SUB, filter, attrs, cb, arg);
}

struct dir_req *
dir_search_at(struct dir *dir, const char *base, enum dir_scope scope,
    const char *filter, const char *const *attrs, dir_cb *cb, void *arg)
{
	static const int scopes[] = { LDAP_SCOPE_BASE, LDAP_SCOPE_ONELEVEL,
		LDAP_SCOPE_SUBTREE };
	struct dir_req *req;
	char *key = NULL;
	char **copy;

	dir->stats.requests++;
	if (dir->cache != NULL) {
		char *k = dir_search_key(filter, attrs);
		key = base == NULL ? k :
		    xasprintf("%s\n%d\n%s", k, (int)scope, base);
		if (key != k)
			free(k);
	}
	if (dir_req_from_cache(dir, key, cb, arg)) {
		free(key);
		return NULL;
	}
	copy = dir_attrs_copy(attrs);
	req = dir_req_new(dir, DIR_REQ_SEARCH, &dir->search, xstrdup(filter),
	    copy, copy != NULL);
	req->base = base ? xstrdup(base) : NULL;
	req->scope = scopes[scope];
	req->cb = cb;
	req->arg = arg;
	return dir_req_start(req, key);
}

void
dir_cancel(struct dir_req **reqp)
{
	struct dir_req *req = *reqp;
	struct dir_chan *ch;
	struct dir *dir;

	if (req == NULL)
		return;
	*reqp = NULL;
	dir = req->dir;
	ch = req->chan;
	dir_req_destroy(req);
	if (!dir->dying && dir_conn_can_send(&ch->conn))
		dir_chan_flush(ch);
}

void
dir_free(struct dir **dirp)
{
	struct dir *dir = *dirp;

	if (dir == NULL)
		return;
	*dirp = NULL;
	if (dir->dying)
		return;
	dir->dying = true;
	/* The connections first: abandoning requests one by one is moot. */
	dir_chan_close(&dir->search);
	dir_auth_close(dir);
	dir_chan_cancel_all(&dir->search);
	if (dir->secret != NULL)
		dir_chan_cancel_all(dir->secret);
	dir_req_cancel_list(&dir->auth_queue);
	dir_req_cancel_list(&dir->auth_binding);
	dir_req_cancel_list(&dir->doomed);
	dir_req_cancel_list(&dir->early);
	dir_auth_free(dir);
	dir_cache_free(&dir->cache);
	dir_config_free(dir);
	if (dir->busy == 0)
		free(dir);
}

void
dir_cache_flush(struct dir *dir)
{
	if (dir->cache != NULL)
		dir_cache_clear(dir->cache);
}

void
dir_get_stats(const struct dir *dir, struct dir_stats *st)
{
	*st = dir->stats;
	st->reconnects = dir->search.conn.reconnects;
}
