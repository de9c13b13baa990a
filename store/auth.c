/*
 * auth: logins to the store's access protocols (IMAP now, POP3 next).
 * The password is checked by the directory (a bind as the user, see
 * common/dir); then the entry must be a mailbox user of this store.
 *
 *   wrong password, no such user      AUTH_FAILED (not told apart)
 *   directory unavailable             AUTH_UNAVAILABLE (temporary)
 *   disabled, inactive, elsewhere     AUTH_REFUSED, with a reason
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "authcache.h"
#include "dir.h"
#include "sasl.h"
#include "store.h"
#include "xmalloc.h"

struct auth_req {
	struct dir_req *req;
	struct dir *dir;
	const struct store_config *cfg;
	char *authzid;              /* proxy login: the user to act for */
	char *admin, *admin_password;   /* proxy login, for the admin cache */
	char *challenge, *response; /* CRAM-MD5 / APOP */
	enum sasl_digest digest;
	bool in_call;               /* inside auth_proxy(): don't free */
	bool finished;              /* answered while in_call */
	auth_cb *cb;
	void *arg;
};

/*
 * A proxy (the mmp) logs in as its administrator for every user: without
 * this, each login would cost the directory two binds, the proxy's check
 * of the user and ours of the administrator.  Good administrator
 * passwords are remembered store.admincachettl (a salted hash, see
 * common/authcache); the user acted for is looked up every time.
 */
static struct authcache *admin_cache;

static bool
auth_admin_cached(const struct store_config *cfg, const char *admin,
    const char *password)
{
	const char *unused1, *unused2;

	if (cfg->admin_cache_ttl <= 0)
		return false;
	if (admin_cache == NULL)
		admin_cache = authcache_new(cfg->admin_cache_ttl, 64);
	return authcache_get(admin_cache, admin, password, (long)time(NULL),
	    &unused1, &unused2);
}

static void
auth_admin_remember(const struct auth_req *a)
{
	if (admin_cache != NULL && a->admin != NULL)
		authcache_put(admin_cache, a->admin, a->admin_password, "", "",
		    (long)time(NULL));
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
auth_req_free(struct auth_req *a)
{
	free(a->authzid);
	free(a->admin);
	wipe_free(a->admin_password);
	free(a->challenge);
	free(a->response);
	free(a);
}

/* Answer, then free unless auth_proxy() is still on the stack. */
static void
auth_answer(struct auth_req *a, const struct auth_result *r)
{
	a->cb(a->arg, r);
	if (a->in_call)
		a->finished = true;
	else
		auth_req_free(a);
}


static const char *
auth_refusal(enum user_verdict v)
{
	switch (v) {
	case USER_NOT_MAILBOX: return "not a mailbox user";
	case USER_DISABLED: return "account disabled";
	case USER_INACTIVE: return "account inactive";
	case USER_ELSEWHERE: return "mailbox is on another store";
	case USER_NO_KEY: return "directory entry has no uid or mail";
	case USER_NO_PARTITION: return "partition not configured here";
	default: return "refused";
	}
}

static const char *auth_refusal(enum user_verdict v);

/* Proxy login, second half: the entry of the user to act for. */
static void
auth_on_authz(void *arg, enum dir_status status,
    const struct dir_entry *const *entries, size_t n)
{
	struct auth_req *a = arg;
	struct auth_result r = { .status = AUTH_UNAVAILABLE, .why = "directory" };
	enum user_verdict v;

	a->req = NULL;
	if (status == DIR_OK && n == 1) {
		v = user_from_entry(a->cfg, entries[0], &r.user);
		r.status = v == USER_OK ? AUTH_OK : AUTH_REFUSED;
		r.why = v == USER_OK ? "ok (proxy)" : auth_refusal(v);
		r.temporary = v == USER_INACTIVE || v == USER_ELSEWHERE ||
		    v == USER_NO_PARTITION;
	} else if (status == DIR_NOTFOUND || status == DIR_AMBIGUOUS) {
		r.status = AUTH_FAILED;
		r.why = "no such user to act for";
	}
	auth_answer(a, &r);
}

static void
auth_act_for(struct auth_req *a)
{
	/* A cache hit answers inside dir_find_user(). */
	bool outer = a->in_call;
	a->in_call = true;
	struct dir_req *req = dir_find_user(a->dir, a->authzid, auth_on_authz, a);
	a->in_call = outer;
	if (a->finished && !outer) {
		auth_req_free(a);
		return;
	}
	a->req = req;
}

static void
auth_on_answer(void *arg, const struct dir_auth_result *res)
{
	struct auth_req *a = arg;
	struct auth_result r = { .status = AUTH_UNAVAILABLE };
	enum user_verdict v;

	a->req = NULL;
	switch (res->status) {
	case DIR_AUTH_OK:
		v = user_from_entry(a->cfg, res->entry, &r.user);
		r.status = v == USER_OK ? AUTH_OK : AUTH_REFUSED;
		r.why = v == USER_OK ? "ok" : auth_refusal(v);
		r.temporary = v == USER_INACTIVE || v == USER_ELSEWHERE ||
		    v == USER_NO_PARTITION;
		break;
	case DIR_AUTH_FAILED:
		r.status = AUTH_FAILED;
		r.why = dir_auth_reason_name(res->reason);
		break;
	default:
		r.why = dir_auth_reason_name(res->reason);
		break;
	}
	if (a->authzid != NULL && (r.status == AUTH_OK ||
	    r.status == AUTH_REFUSED)) {
		auth_admin_remember(a);
		auth_act_for(a);        /* the administrator's password is good */
		return;
	}
	auth_answer(a, &r);
}

struct auth_req *
auth_password(struct dir *dir, const struct store_config *cfg,
    const char *login, const char *password, auth_cb *cb, void *arg)
{
	struct auth_req *a = xcalloc(1, sizeof(*a));

	a->dir = dir;
	a->cfg = cfg;
	a->cb = cb;
	a->arg = arg;
	/* Answered at once (and a freed) when the cache knows the login
	 * does not exist: the handle is NULL then. */
	struct dir_req *req = dir_authenticate(dir, login, password,
	    auth_on_answer, a);
	if (req == NULL)
		return NULL;
	a->req = req;
	return a;
}

void
auth_cancel(struct auth_req **ap)
{
	struct auth_req *a = *ap;

	if (a == NULL)
		return;
	dir_cancel(&a->req);
	auth_req_free(a);
	*ap = NULL;
}

static bool
auth_is_admin(const struct store_config *cfg, const char *login)
{
	for (char **p = cfg->admins; p != NULL && *p != NULL; p++)
		if (strcasecmp(*p, login) == 0)
			return true;
	return false;
}

struct auth_req *
auth_proxy(struct dir *dir, const struct store_config *cfg, const char *admin,
    const char *password, const char *user, auth_cb *cb, void *arg)
{
	if (!auth_is_admin(cfg, admin)) {
		struct auth_result r = { .status = AUTH_FAILED,
		    .why = "not in store.admins" };
		cb(arg, &r);
		return NULL;
	}
	struct auth_req *a = xcalloc(1, sizeof(*a));
	a->dir = dir;
	a->cfg = cfg;
	a->cb = cb;
	a->arg = arg;
	a->authzid = xstrdup(user);
	/* Either half may be answered at once (cache): then the callback
	 * has run and there is no handle to return. */
	a->in_call = true;
	struct dir_req *req = NULL;
	if (auth_admin_cached(cfg, admin, password)) {
		auth_act_for(a);
	} else {
		a->admin = xstrdup(admin);
		a->admin_password = xstrdup(password);
		req = dir_authenticate(dir, admin, password, auth_on_answer, a);
	}
	a->in_call = false;
	if (a->finished) {
		auth_req_free(a);
		return NULL;
	}
	if (req != NULL)
		a->req = req;   /* else the second half's handle is there */
	return a;
}

static void
auth_on_secret(void *arg, const struct dir_auth_result *res)
{
	struct auth_req *a = arg;
	struct auth_result r = { .status = AUTH_UNAVAILABLE,
	    .why = dir_auth_reason_name(res->reason) };
	a->req = NULL;
	if (res->status == DIR_AUTH_FAILED) {
		r.status = AUTH_FAILED;
	} else if (res->status == DIR_AUTH_OK && res->entry != NULL) {
		bool good = sasl_digest_matches(a->digest, res->secret,
		    a->challenge, a->response);
		enum user_verdict v = good ? user_from_entry(a->cfg, res->entry,
		    &r.user) : USER_OK;
		r.status = !good ? AUTH_FAILED : v == USER_OK ? AUTH_OK : AUTH_REFUSED;
		r.why = !good ? "badpass" : v == USER_OK ? "ok" : auth_refusal(v);
		r.temporary = v == USER_INACTIVE || v == USER_ELSEWHERE ||
		    v == USER_NO_PARTITION;
	}
	auth_answer(a, &r);
}

bool
auth_digest_supported(struct dir *dir)
{
	return dir_secret_supported(dir);
}

struct auth_req *
auth_digest(struct dir *dir, const struct store_config *cfg, const char *login,
    enum sasl_digest digest, const char *challenge, const char *response,
    auth_cb *cb, void *arg)
{
	struct auth_req *a = xcalloc(1, sizeof(*a));

	a->dir = dir;
	a->cfg = cfg;
	a->cb = cb;
	a->arg = arg;
	a->digest = digest;
	a->challenge = xstrdup(challenge);
	a->response = xstrdup(response);
	for (char *p = a->response; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	a->in_call = true;
	struct dir_req *req = dir_fetch_secret(dir, login, auth_on_secret, a);
	a->in_call = false;
	if (a->finished) {
		auth_req_free(a);
		return NULL;
	}
	a->req = req;
	return a;
}
