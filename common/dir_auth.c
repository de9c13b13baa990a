/*
 * dir_auth: logins against the directory (dir_authenticate) and the clear
 * secrets CRAM-MD5 and APOP need (dir_fetch_secret).
 *
 * A login is a request of kind AUTH.  First a find on the search channel
 * with the login filter (dir.c; cached like dir_find_user's, under "a\n"
 * and the filter), then a simple bind as the entry found, on one of a
 * small pool of auth connections used for nothing else.  RFC 4511 4.2.1
 * allows nothing else on a connection while a bind is in progress, and a
 * bind changes the connection's identity, so the shared search connection
 * never binds as a user, and the pool is what lets logins proceed in
 * parallel.  A found request waits on auth_queue for a free connection
 * and sits on auth_binding while its bind is out.  The auth connections
 * start anonymous and open when first needed; each fails over through the
 * URIs on its own (dir_conn.c).  What identity a bind leaves behind does
 * not matter: they never search.
 *
 * Failure policy: the server refusing the credentials (and the few codes
 * that mean "not this user", see dir_auth_verdict) is DIR_AUTH_FAILED;
 * anything else it says, a dropped connection, a timeout or every server
 * failing is DIR_AUTH_UNAVAILABLE.  A bind that was sent is never
 * abandoned (binds cannot be): when its request is cancelled or times
 * out, the connection stays busy until the answer comes, or is dropped
 * a little after timeout_ms.  What is refused without asking (empty or
 * over-long password, over-long login, auth_queue_max reached) is
 * answered on the loop, never inside the call.  Verdicts are never cached; the copy of the
 * password is wiped when the request is freed.
 *
 * A secret fetch is a request of kind SECRET: a find with userPassword on
 * the secret channel (bound as secret_binddn), never cached.  The entry
 * handed to the callback has its userPassword values wiped and removed;
 * the clear value itself is wiped once the callback returns.  (libldap's
 * own buffers are freed without wiping: out of our reach.)
 */
#include "dir_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

#define DIR_DOMAIN_MAX    255
#define DIR_BIND_SLACK_MS 1000  /* a cancelled bind: drop the connection
                                 * after timeout_ms plus this */

static const struct dir_conn_ops dir_authconn_ops;
static void dir_auth_flush(struct dir *dir);

static const char *const dir_auth_reasons[] = {
	[DIR_AUTH_R_NONE] = "none",
	[DIR_AUTH_R_NOUSER] = "nouser",
	[DIR_AUTH_R_AMBIGUOUS] = "ambiguous",
	[DIR_AUTH_R_BADPASS] = "badpass",
	[DIR_AUTH_R_REFUSED] = "refused",
	[DIR_AUTH_R_EMPTY] = "empty",
	[DIR_AUTH_R_TOOLONG] = "toolong",
	[DIR_AUTH_R_NOTCLEAR] = "notclear",
	[DIR_AUTH_R_DIRECTORY] = "directory",
	[DIR_AUTH_R_BUSY] = "busy",
	[DIR_AUTH_R_NOTCONFIGURED] = "notconfigured",
};

const char *
dir_auth_reason_name(enum dir_auth_reason reason)
{
	size_t n = sizeof(dir_auth_reasons) / sizeof(dir_auth_reasons[0]);

	if ((size_t)reason >= n || dir_auth_reasons[reason] == NULL)
		return "unknown";
	return dir_auth_reasons[reason];
}

/* ---- set-up and tear-down ---- */

static void
dir_auth_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir *dir = arg;

	(void)fd;
	(void)what;
	dir_enter(dir);
	dir_auth_flush(dir);
	dir_leave(dir);
}

/* A bind that was sent and whose answer never came: drop the connection
 * (covers binds whose request was cancelled). */
static void
dir_authconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir_authconn *ac = arg;
	struct dir *dir = ac->conn.dir;

	(void)fd;
	(void)what;
	dir_enter(dir);
	if (ac->msgid >= 0 && ac->conn.state == DIR_CONN_READY)
		dir_conn_fail(&ac->conn, "bind: no answer within the timeout");
	dir_leave(dir);
}

static bool
dir_auth_config(struct dir *dir, const struct dir_config *conf)
{
	const char *fmt = conf->login_filter != NULL &&
	    *conf->login_filter != '\0' ? conf->login_filter :
	    DIR_LOGIN_FILTER_DEFAULT;
	const char *dom = conf->default_domain;
	const char *why = dir_filter_login_check(fmt);

	if (why != NULL) {
		log_err("dir_config login_filter=\"%s\" err=\"%s\"", fmt, why);
		return false;
	}
	if (dom != NULL && (strlen(dom) > DIR_DOMAIN_MAX ||
	    strchr(dom, '@') != NULL)) {
		log_err("dir_config default_domain=\"%s\" err=\"not a domain "
		    "name\"", dom);
		return false;
	}
	dir->login_filter = xstrdup(fmt);
	if (dom != NULL && *dom != '\0')
		dir->default_domain = xstrdup(dom);
	dir->auth_max = conf->auth_queue_max > 0 ? conf->auth_queue_max :
	    DIR_AUTH_QUEUE_DEFAULT;
	if (conf->secret_binddn != NULL && *conf->secret_binddn != '\0') {
		dir->secret_binddn = xstrdup(conf->secret_binddn);
		dir->secret_bindpw = xstrdup(conf->secret_bindpw != NULL ?
		    conf->secret_bindpw : "");
	}
	return true;
}

bool
dir_auth_init(struct dir *dir, const struct dir_config *conf)
{
	size_t n = conf->auth_conns > 0 ? conf->auth_conns :
	    DIR_AUTH_CONNS_DEFAULT;

	if (!dir_auth_config(dir, conf))
		return false;
	if (n > DIR_AUTH_CONNS_MAX)
		n = DIR_AUTH_CONNS_MAX;
	dir->authconns = xcalloc(n, sizeof(*dir->authconns));
	dir->nauthconns = n;
	for (size_t i = 0; i < n; i++) {
		struct dir_authconn *ac = &dir->authconns[i];
		char name[16];

		snprintf(name, sizeof(name), "auth%u", (unsigned)(i + 1) % 100);
		dir_conn_init(&ac->conn, dir, &dir_authconn_ops, ac, name, NULL,
		    NULL);
		ac->msgid = -1;
		ac->timer = evtimer_new(dir->evbase, dir_authconn_timer_cb, ac);
		if (ac->timer == NULL)
			log_panic("dir: evtimer_new failed");
	}
	dir->auth_flush_ev = event_new(dir->evbase, -1, 0, dir_auth_flush_cb,
	    dir);
	if (dir->auth_flush_ev == NULL)
		log_panic("dir: event_new failed");
	if (dir->secret_binddn != NULL) {
		dir->secret = xcalloc(1, sizeof(*dir->secret));
		dir_chan_init(dir->secret, dir, "secret", dir->secret_binddn,
		    dir->secret_bindpw);
	}
	return true;
}

void
dir_auth_close(struct dir *dir)
{
	for (size_t i = 0; i < dir->nauthconns; i++) {
		dir_conn_close(&dir->authconns[i].conn);
		evtimer_del(dir->authconns[i].timer);
	}
	if (dir->secret != NULL)
		dir_chan_close(dir->secret);
	if (dir->auth_flush_ev != NULL)
		event_del(dir->auth_flush_ev);
}

void
dir_auth_free(struct dir *dir)
{
	for (size_t i = 0; i < dir->nauthconns; i++)
		event_free(dir->authconns[i].timer);
	free(dir->authconns);
	dir->authconns = NULL;
	dir->nauthconns = 0;
	free(dir->secret);
	dir->secret = NULL;
	if (dir->auth_flush_ev != NULL)
		event_free(dir->auth_flush_ev);
	dir->auth_flush_ev = NULL;
	free(dir->login_filter);
	free(dir->default_domain);
	free(dir->secret_binddn);
	if (dir->secret_bindpw != NULL)
		explicit_bzero(dir->secret_bindpw, strlen(dir->secret_bindpw));
	free(dir->secret_bindpw);
	dir->login_filter = dir->default_domain = NULL;
	dir->secret_binddn = dir->secret_bindpw = NULL;
}

bool
dir_secret_supported(const struct dir *dir)
{
	return dir->secret != NULL;
}

void
dir_get_auth_stats(const struct dir *dir, struct dir_auth_stats *st)
{
	*st = dir->auth_stats;
	st->reconnects = 0;
	for (size_t i = 0; i < dir->nauthconns; i++)
		st->reconnects += dir->authconns[i].conn.reconnects;
	if (dir->secret != NULL)
		st->reconnects += dir->secret->conn.reconnects;
}

/* ---- answers ---- */

static void
dir_auth_count(struct dir *dir, enum dir_auth_status status)
{
	switch (status) {
	case DIR_AUTH_OK:
		dir->auth_stats.ok++;
		break;
	case DIR_AUTH_FAILED:
		dir->auth_stats.failed++;
		break;
	case DIR_AUTH_UNAVAILABLE:
		dir->auth_stats.unavailable++;
		break;
	case DIR_AUTH_UNSUPPORTED:
		break;
	}
}

static void
dir_auth_deliver(struct dir *dir, dir_auth_cb *cb, void *arg,
    const struct dir_auth_result *res)
{
	dir_auth_count(dir, res->status);
	dir_enter(dir);
	cb(arg, res);
	dir_leave(dir);
}

void
dir_auth_finish(struct dir_req *req, enum dir_auth_status status,
    enum dir_auth_reason reason)
{
	struct dir *dir = req->dir;
	struct dir_answer *a = req->answer;
	struct dir_auth_result res = { status, reason, NULL, NULL };
	dir_auth_cb *cb = req->auth_cb;
	void *arg = req->arg;
	char *secret = req->secret;

	req->answer = NULL;
	req->secret = NULL;
	if (status == DIR_AUTH_OK && a != NULL && a->n == 1)
		res.entry = a->entries[0];
	res.secret = status == DIR_AUTH_OK ? secret : NULL;
	if (status == DIR_AUTH_OK && res.entry == NULL)
		log_panic("dir_auth_finish: ok without an entry");
	log_debug("dir_auth kind=%s status=%d reason=%s",
	    req->kind == DIR_REQ_AUTH ? "auth" : "secret", (int)status,
	    dir_auth_reason_name(reason));
	dir_req_destroy(req);
	dir_auth_deliver(dir, cb, arg, &res);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	dir_answer_unref(&a);
}

/* Refuse without asking, on the loop. */
static struct dir_req *
dir_auth_reject(struct dir *dir, enum dir_req_kind kind, dir_auth_cb *cb,
    void *arg, enum dir_auth_status status, enum dir_auth_reason reason)
{
	struct dir_req *req = dir_req_new(dir, kind, &dir->search, NULL, NULL,
	    false);

	req->auth_cb = cb;
	req->arg = arg;
	req->auth_early = status;
	req->auth_reason = reason;
	dir_req_answer_early(req);
	return req;
}

/* What the strings tell without asking: DIR_AUTH_R_NONE when the
 * directory must be asked.  password NULL: a secret fetch. */
static enum dir_auth_reason
dir_auth_precheck(const char *login, const char *password)
{
	size_t len = strnlen(login, DIR_LOGIN_MAX + 1);

	if (len == 0)
		return DIR_AUTH_R_NOUSER;
	if (len > DIR_LOGIN_MAX)
		return DIR_AUTH_R_TOOLONG;
	if (password == NULL)
		return DIR_AUTH_R_NONE;
	len = strnlen(password, DIR_PASSWORD_MAX + 1);
	if (len == 0)
		return DIR_AUTH_R_EMPTY;
	return len > DIR_PASSWORD_MAX ? DIR_AUTH_R_TOOLONG : DIR_AUTH_R_NONE;
}

/* ---- the clear secret ---- */

/* The clear text of a userPassword value, or NULL when it is hashed:
 * "{SCHEME}..." is hashed unless SCHEME is CLEARTEXT or PLAIN; a value
 * that does not start with a well-formed {SCHEME} is the password. */
const char *
dir_auth_secret_clear(const char *v)
{
	static const char scheme_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_.";
	size_t len;

	if (*v != '{')
		return v;
	len = strspn(v + 1, scheme_chars);
	if (len == 0 || v[1 + len] != '}')
		return v;
	if ((len == 9 && strncasecmp(v + 1, "CLEARTEXT", 9) == 0) ||
	    (len == 5 && strncasecmp(v + 1, "PLAIN", 5) == 0))
		return v + 1 + len + 1;
	return NULL;
}

static void
dir_secret_found(struct dir_req *req)
{
	struct dir_entry *e = req->answer->entries[0];
	const char *const *vals;
	const char *clear = NULL;
	size_t n;

	vals = dir_entry_values(e, "userPassword", &n);
	for (size_t i = 0; i < n && clear == NULL; i++)
		clear = dir_auth_secret_clear(vals[i]);
	if (clear != NULL && *clear != '\0' &&
	    strlen(clear) <= DIR_PASSWORD_MAX)
		req->secret = xstrdup(clear);
	dir_entry_remove(e, "userPassword");
	if (req->secret == NULL)
		dir_auth_finish(req, DIR_AUTH_FAILED, DIR_AUTH_R_NOTCLEAR);
	else
		dir_auth_finish(req, DIR_AUTH_OK, DIR_AUTH_R_NONE);
}

/* ---- the lookup ---- */

void
dir_auth_found(struct dir_req *req, struct dir_answer *a)
{
	struct dir *dir = req->dir;
	enum dir_status st = a->status;

	if (st != DIR_OK) {
		dir_answer_unref(&a);
		dir_auth_finish(req, st == DIR_UNAVAILABLE ?
		    DIR_AUTH_UNAVAILABLE : DIR_AUTH_FAILED,
		    st == DIR_NOTFOUND ? DIR_AUTH_R_NOUSER :
		    st == DIR_AMBIGUOUS ? DIR_AUTH_R_AMBIGUOUS :
		    DIR_AUTH_R_DIRECTORY);
		return;
	}
	dir_answer_unref(&req->answer);
	req->answer = a;
	req->msgid = -1;
	if (req->kind == DIR_REQ_SECRET) {
		dir_secret_found(req);
		return;
	}
	if (*dir_entry_dn(a->entries[0]) == '\0') {
		/* A bind with an empty name is anonymous whatever the
		 * password (RFC 4513 5.1.1): never send one. */
		log_err("dir_auth_empty_dn filter=%s", req->filter);
		req->auth_early = DIR_AUTH_UNAVAILABLE;
		req->auth_reason = DIR_AUTH_R_DIRECTORY;
		dir_req_answer_early(req);      /* maybe inside the call */
		return;
	}
	req->binding = true;
	dir_req_move(req, &dir->auth_queue);
	dir_auth_flush(dir);
}

/* The filter for login, qualified with the default domain if need be. */
static char *
dir_auth_filter(const struct dir *dir, const char *login)
{
	char *qualified, *filter;

	if (dir->default_domain == NULL || strchr(login, '@') != NULL)
		return dir_filter_login(dir->login_filter, login);
	qualified = xasprintf("%s@%s", login, dir->default_domain);
	filter = dir_filter_login(dir->login_filter, qualified);
	free(qualified);
	return filter;
}

/* An earlier lookup of the filter from the cache, or NULL (then *keyp
 * is the key to cache the lookup under, or NULL without a cache). */
static struct dir_answer *
dir_auth_cached(struct dir *dir, const char *filter, char **keyp)
{
	struct dir_answer *a;
	char *key;

	*keyp = NULL;
	if (dir->cache == NULL)
		return NULL;
	key = xasprintf("a\n%s", filter);
	if ((a = dir_cache_get(dir->cache, key, dir_now_ms())) == NULL) {
		*keyp = key;
		return NULL;
	}
	dir->stats.cache_hits++;
	free(key);
	return a;
}

/* Find the entry (the cache may know it already), then on. */
static struct dir_req *
dir_auth_lookup(struct dir *dir, enum dir_req_kind kind, const char *login,
    const char *password, dir_auth_cb *cb, void *arg)
{
	struct dir_answer *a = NULL;
	struct dir_req *req;
	char *filter, *key = NULL;

	if (dir->nauth >= dir->auth_max) {
		dir->auth_stats.busy++;
		log_warn("dir_auth_busy in_progress=%zu max=%zu", dir->nauth,
		    dir->auth_max);
		return dir_auth_reject(dir, kind, cb, arg, DIR_AUTH_UNAVAILABLE,
		    DIR_AUTH_R_BUSY);
	}
	filter = dir_auth_filter(dir, login);
	dir->stats.requests++;
	if (kind == DIR_REQ_AUTH)       /* secrets: never from the cache */
		a = dir_auth_cached(dir, filter, &key);
	if (a != NULL && a->status != DIR_OK) {
		struct dir_auth_result res = { DIR_AUTH_FAILED,
		    a->status == DIR_AMBIGUOUS ? DIR_AUTH_R_AMBIGUOUS :
		    DIR_AUTH_R_NOUSER, NULL, NULL };

		dir_answer_unref(&a);
		free(filter);
		dir_auth_deliver(dir, cb, arg, &res);
		return NULL;
	}
	req = dir_req_new(dir, kind, kind == DIR_REQ_AUTH ? &dir->search :
	    dir->secret, filter, kind == DIR_REQ_AUTH ? dir_user_attrs :
	    dir_secret_attrs, false);
	req->auth_cb = cb;
	req->arg = arg;
	req->counted = true;
	dir->nauth++;
	if (password != NULL)
		req->password = xstrdup(password);
	if (a == NULL)
		return dir_req_start(req, key);
	dir_req_arm(req);
	dir_auth_found(req, a);         /* DIR_OK: on to the bind */
	return req;
}

struct dir_req *
dir_authenticate(struct dir *dir, const char *login, const char *password,
    dir_auth_cb *cb, void *arg)
{
	enum dir_auth_reason why = dir_auth_precheck(login, password);

	dir->auth_stats.auths++;
	if (why != DIR_AUTH_R_NONE)
		return dir_auth_reject(dir, DIR_REQ_AUTH, cb, arg,
		    DIR_AUTH_FAILED, why);
	return dir_auth_lookup(dir, DIR_REQ_AUTH, login, password, cb, arg);
}

struct dir_req *
dir_fetch_secret(struct dir *dir, const char *login, dir_auth_cb *cb,
    void *arg)
{
	enum dir_auth_reason why;

	dir->auth_stats.secrets++;
	if (dir->secret == NULL) {
		struct dir_auth_result res = { DIR_AUTH_UNSUPPORTED,
		    DIR_AUTH_R_NOTCONFIGURED, NULL, NULL };

		dir_auth_deliver(dir, cb, arg, &res);
		return NULL;
	}
	why = dir_auth_precheck(login, NULL);
	if (why != DIR_AUTH_R_NONE)
		return dir_auth_reject(dir, DIR_REQ_SECRET, cb, arg,
		    DIR_AUTH_FAILED, why);
	return dir_auth_lookup(dir, DIR_REQ_SECRET, login, NULL, cb, arg);
}

/* ---- the binds ---- */

static void
dir_auth_send(struct dir_authconn *ac, struct dir_req *req)
{
	struct dir *dir = ac->conn.dir;
	const char *dn = dir_entry_dn(req->answer->entries[0]);
	struct berval cred = { strlen(req->password), req->password };
	/* Later than the request's own timer, which normally decides. */
	int ms = dir->timeout_ms + DIR_BIND_SLACK_MS;
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	int msgid = -1, rc;

	rc = ldap_sasl_bind(ac->conn.ld, dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, &msgid);
	switch (rc) {
	case LDAP_SUCCESS:
		ac->msgid = msgid;
		ac->req = req;
		ac->sent_ms = req->sent_ms = dir_now_ms();
		req->bindconn = ac;
		dir_req_move(req, &dir->auth_binding);
		evtimer_add(ac->timer, &tv);
		dir->auth_stats.binds++;
		break;
	case LDAP_BUSY:
		dir_conn_want_write(&ac->conn);
		break;
	case LDAP_PARAM_ERROR:
	case LDAP_ENCODING_ERROR:
		log_err("dir_auth_bind_invalid dn=\"%s\" err=\"%s\"", dn,
		    ldap_err2string(rc));
		req->auth_early = DIR_AUTH_UNAVAILABLE;
		req->auth_reason = DIR_AUTH_R_DIRECTORY;
		dir_req_answer_early(req);
		break;
	default:
		dir_conn_fail(&ac->conn, ldap_err2string(rc));
		break;
	}
}

/* Give waiting binds to free connections, and open as many more as
 * there are binds waiting (up to the pool). */
static void
dir_auth_flush(struct dir *dir)
{
	struct dir_req *req;
	size_t want = 0, coming = 0;

	for (size_t i = 0; i < dir->nauthconns; i++) {
		struct dir_authconn *ac = &dir->authconns[i];

		if ((req = TAILQ_FIRST(&dir->auth_queue)) == NULL)
			return;
		if (ac->msgid < 0 && dir_conn_can_send(&ac->conn))
			dir_auth_send(ac, req);
	}
	TAILQ_FOREACH(req, &dir->auth_queue, link)
		if (++want == dir->nauthconns)
			break;
	for (size_t i = 0; i < dir->nauthconns; i++) {
		enum dir_conn_state st = dir->authconns[i].conn.state;

		if (st != DIR_CONN_IDLE && st != DIR_CONN_READY)
			coming++;
	}
	for (size_t i = 0; i < dir->nauthconns && coming < want; i++) {
		struct dir_conn *c = &dir->authconns[i].conn;

		if (c->state == DIR_CONN_IDLE) {
			dir_conn_kick(c);
			coming++;
		}
	}
}

/* The server's answer to a bind: which results mean "not this user". */
static void
dir_auth_verdict(struct dir_authconn *ac, struct dir_req *req, int err,
    const char *text)
{
	switch (err) {
	case LDAP_SUCCESS:
		dir_auth_finish(req, DIR_AUTH_OK, DIR_AUTH_R_NONE);
		return;
	case LDAP_INVALID_CREDENTIALS:
		dir_auth_finish(req, DIR_AUTH_FAILED, DIR_AUTH_R_BADPASS);
		return;
	case LDAP_INAPPROPRIATE_AUTH:   /* no password to check against */
	case LDAP_UNWILLING_TO_PERFORM: /* e.g. account disabled */
	case LDAP_CONSTRAINT_VIOLATION: /* e.g. retry limit (389-ds) */
	case LDAP_NO_SUCH_OBJECT:       /* deleted since the lookup */
	case LDAP_INVALID_DN_SYNTAX:
		log_info("dir_auth_refused uri=%s dn=\"%s\" err=\"%s\" "
		    "text=\"%s\"", dir_conn_uri(&ac->conn),
		    dir_entry_dn(req->answer->entries[0]), ldap_err2string(err),
		    text != NULL ? text : "");
		dir_auth_finish(req, DIR_AUTH_FAILED, DIR_AUTH_R_REFUSED);
		return;
	default:
		log_err("dir_auth_bind_failed uri=%s dn=\"%s\" err=\"%s\" "
		    "text=\"%s\" conn=%s", dir_conn_uri(&ac->conn),
		    dir_entry_dn(req->answer->entries[0]), ldap_err2string(err),
		    text != NULL ? text : "", ac->conn.name);
		dir_auth_finish(req, DIR_AUTH_UNAVAILABLE, DIR_AUTH_R_DIRECTORY);
		return;
	}
}

void
dir_auth_detach(struct dir_req *req)
{
	/* The bind stays out (binds cannot be abandoned): the connection
	 * stays busy until its answer, or its timer drops it. */
	req->bindconn->req = NULL;
	req->bindconn = NULL;
}

void
dir_auth_timeout(struct dir_req *req)
{
	struct dir *dir = req->dir;
	struct dir_authconn *ac = req->bindconn;
	struct dir_conn *c = ac != NULL ? &ac->conn : &dir->authconns[0].conn;
	bool stuck;

	/* Nothing at all came back since the bind went: the server hangs. */
	stuck = ac != NULL && c->state == DIR_CONN_READY &&
	    c->last_read_ms < req->sent_ms;
	log_warn("dir_timeout uri=%s timeout_ms=%d state=%s conn=%s",
	    dir_conn_uri(c), dir->timeout_ms, ac != NULL ? "bind" : "waiting",
	    ac != NULL ? c->name : "auth");
	dir_auth_finish(req, DIR_AUTH_UNAVAILABLE, DIR_AUTH_R_DIRECTORY);
	if (stuck && !dir->dying)
		dir_conn_fail(c, "no answer within the timeout");
}

/* ---- the auth connections' side of their connection (dir_conn_ops) ---- */

static void
dir_authconn_ready(struct dir_conn *c)
{
	dir_auth_flush(c->dir);
}

static void
dir_authconn_message(struct dir_conn *c, LDAPMessage *msg)
{
	struct dir_authconn *ac = c->owner;
	struct dir *dir = c->dir;
	struct dir_req *req = ac->req;
	char *text = NULL;
	int err = LDAP_OTHER, rc;

	if (ldap_msgid(msg) != ac->msgid || ldap_msgtype(msg) != LDAP_RES_BIND) {
		ldap_msgfree(msg);
		return;
	}
	rc = ldap_parse_result(c->ld, msg, &err, NULL, &text, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS)
		err = rc;
	ac->msgid = -1;
	ac->req = NULL;
	evtimer_del(ac->timer);
	dir_conn_answered(c);
	if (req != NULL) {
		req->bindconn = NULL;
		dir_auth_verdict(ac, req, err, text);
	}
	ldap_memfree(text);
	if (!dir->dying)
		dir_auth_flush(dir);
}

static void
dir_authconn_dropped(struct dir_conn *c)
{
	struct dir_authconn *ac = c->owner;
	struct dir *dir = c->dir;
	struct dir_req *req = ac->req;

	evtimer_del(ac->timer);
	ac->msgid = -1;
	ac->req = NULL;
	if (req != NULL) {
		/* Back to the head of the queue: another connection may
		 * take it before this one is back. */
		req->bindconn = NULL;
		TAILQ_REMOVE(req->list, req, link);
		TAILQ_INSERT_HEAD(&dir->auth_queue, req, link);
		req->list = &dir->auth_queue;
	}
	event_active(dir->auth_flush_ev, EV_TIMEOUT, 0);
}

static bool
dir_authconn_pending(const struct dir_conn *c)
{
	const struct dir_authconn *ac = c->owner;

	return ac->msgid >= 0 || !TAILQ_EMPTY(&c->dir->auth_queue);
}

static void
dir_authconn_round_failed(struct dir_conn *c)
{
	struct dir *dir = c->dir;
	struct dir_req *req;

	/* Another connection that works will take them. */
	for (size_t i = 0; i < dir->nauthconns; i++)
		if (dir->authconns[i].conn.state == DIR_CONN_READY) {
			dir_auth_flush(dir);
			return;
		}
	while ((req = TAILQ_FIRST(&dir->auth_queue)) != NULL)
		dir_req_move(req, &dir->doomed);
	dir_req_fail_doomed(dir);
}

static const struct dir_conn_ops dir_authconn_ops = {
	.ready = dir_authconn_ready,
	.message = dir_authconn_message,
	.dropped = dir_authconn_dropped,
	.round_failed = dir_authconn_round_failed,
	.pending = dir_authconn_pending,
};
