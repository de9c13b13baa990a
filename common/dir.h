/*
 * dir: the directory (LDAP) as every daemon sees it.
 *
 * Asynchronous OpenLDAP libldap driven by the caller's libevent loop: no
 * call here blocks on the network.  Several server URIs are tried in order
 * (failover); one connection is kept to the first server that answers and
 * is re-established on error.  Answers are cached in-process with a size cap
 * and a TTL (the seed's "direct LDAP lookup with cached results"); errors
 * are never cached.  Every value put into a filter is escaped per RFC 4515.
 *
 * Failure policy: a server that does not answer within the timeout, refuses
 * the bind, or drops the connection yields DIR_UNAVAILABLE, which callers
 * must treat as a *temporary* failure (4xx, NO [UNAVAILABLE], -ERR
 * [SYS/TEMP]); never as "no such user".
 *
 * Logins (dir_authenticate, dir_fetch_secret) find the user's entry with a
 * configurable filter, then check the password by a simple bind as that
 * entry on a small pool of connections of their own, so that a bind never
 * changes the identity of the connection the searches run on and several
 * logins proceed at once.  Password verdicts are never cached.
 *
 * Threading: one struct dir belongs to one event loop thread.
 */
#ifndef COMMON_DIR_H
#define COMMON_DIR_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct dir;
struct dir_req;
struct dir_entry;

struct dir_config {
	const char *const *uris;   /* "ldap://host:port", tried in order */
	size_t nuris;
	const char *base;          /* search base DN */
	const char *binddn;        /* NULL: anonymous */
	const char *bindpw;
	int timeout_ms;            /* per request, connect+bind+search */
	size_t cache_max;          /* entries; 0 disables the cache */
	int cache_ttl_s;           /* positive answers */
	int negative_ttl_s;        /* "no such entry" answers */

	/*
	 * Logins.  All optional: zero/NULL gives the default.
	 *
	 * login_filter finds the entry of a login (the seed's SearchFormat):
	 * %s is the whole login, %U the part before its last '@' (all of it
	 * when there is none), %D the part after (the default domain for an
	 * unqualified login, else empty), %% a '%'; every value is escaped
	 * (RFC 4515).  The filter is ANDed with (objectClass=inetMailUser);
	 * one without its outer parentheses ("uid=%U") is wrapped in them.
	 * dir_new() refuses a filter with other % directives or unbalanced
	 * parentheses.  Default DIR_LOGIN_FILTER_DEFAULT; a single-domain
	 * site may prefer "(|(uid=%U)(mail=%s))", but in a directory of
	 * several domains %U alone makes alice@a and alice@b the same login.
	 *
	 * default_domain qualifies a login without '@': "alice" becomes
	 * "alice@DOMAIN" before the filter is expanded (so %s has it too).
	 *
	 * auth_conns connections bind as users (DIR_AUTH_CONNS_DEFAULT, at
	 * most DIR_AUTH_CONNS_MAX), opened when first needed, through the
	 * same URIs and failover as the search connection.  auth_queue_max
	 * bounds the logins and secret fetches in progress at once
	 * (DIR_AUTH_QUEUE_DEFAULT); past it they get DIR_AUTH_UNAVAILABLE at
	 * once.  Each is bounded by timeout_ms, lookup and bind together.
	 *
	 * secret_binddn/secret_bindpw: an identity allowed to read
	 * userPassword, for dir_fetch_secret (CRAM-MD5, APOP), on one more
	 * connection of its own.  NULL: dir_fetch_secret is not supported.
	 */
	const char *login_filter;
	const char *default_domain;
	size_t auth_conns;
	size_t auth_queue_max;
	const char *secret_binddn;
	const char *secret_bindpw;
};

#define DIR_LOGIN_FILTER_DEFAULT \
	"(|(uid=%s)(mail=%s)(mailAlternateAddress=%s)(mailEquivalentAddress=%s))"
#define DIR_AUTH_CONNS_DEFAULT  4
#define DIR_AUTH_CONNS_MAX      64
#define DIR_AUTH_QUEUE_DEFAULT  512
#define DIR_LOGIN_MAX           512     /* bytes; longer: DIR_AUTH_FAILED */
#define DIR_PASSWORD_MAX        1024    /* bytes; longer: DIR_AUTH_FAILED */

enum dir_status {
	DIR_OK,           /* exactly one entry (find) / one or more (search) */
	DIR_NOTFOUND,     /* the directory answered: no such entry */
	DIR_AMBIGUOUS,    /* find: more than one entry matched */
	DIR_UNAVAILABLE,  /* no server answered in time: temporary */
};

/* Called once per request, on the loop thread.  The entries are valid only
 * during the call; copy what you keep.  For dir_find_user, n is 0 or 1
 * (0 with DIR_AMBIGUOUS).  The request's handle is gone once the callback
 * starts; the callback may cancel other requests, start new ones, flush
 * the cache, and even dir_free() the dir. */
typedef void dir_cb(void *arg, enum dir_status status,
    const struct dir_entry *const *entries, size_t n);

/* Config strings are copied. */
struct dir *dir_new(struct event_base *base, const struct dir_config *conf);
/* Pending requests are cancelled without their callbacks running. */
void dir_free(struct dir **dir);

/*
 * Find the mail user or group whose mail, mailAlternateAddress or
 * mailEquivalentAddress equals `address` (case-insensitively), with the
 * attributes the daemons need.  The callback may run before this returns
 * (cache hit); the returned handle is then NULL.
 */
struct dir_req *dir_find_user(struct dir *dir, const char *address,
    dir_cb *cb, void *arg);

/* A subtree search under the configured base with a caller-made filter
 * (build it with dir_filter_escape); attrs NULL-terminated, NULL for all. */
struct dir_req *dir_search(struct dir *dir, const char *filter,
    const char *const *attrs, dir_cb *cb, void *arg);

/* The same at another base (a group's member DN, a memberURL's base),
 * with a scope. */
enum dir_scope { DIR_SCOPE_BASE, DIR_SCOPE_ONE, DIR_SCOPE_SUB };
struct dir_req *dir_search_at(struct dir *dir, const char *base,
    enum dir_scope scope, const char *filter, const char *const *attrs,
    dir_cb *cb, void *arg);

/* An LDAP URL (RFC 4516, a group's memberURL): its base DN (decoded),
 * scope (base when absent) and filter ("(objectClass=*)" when absent);
 * false when malformed.  The caller frees *base and *filter. */
bool dir_url_parse(const char *url, char **base, enum dir_scope *scope,
    char **filter);

/* Cancel a pending request: its callback will not run; *req is cleared.
 * A NULL *req is allowed. */
void dir_cancel(struct dir_req **req);

/* Drop every cached answer (after SIGHUP, or in tests). */
void dir_cache_flush(struct dir *dir);

/* Entry accessors.  Attribute names are matched case-insensitively. */
const char *dir_entry_dn(const struct dir_entry *e);
/* First value of attr, or NULL. */
const char *dir_entry_get(const struct dir_entry *e, const char *attr);
/* All values of attr (NULL-terminated array owned by the entry); count in *n. */
const char *const *dir_entry_values(const struct dir_entry *e,
    const char *attr, size_t *n);

/* Whether the entry has objectClass cls (case-insensitive). */
bool dir_entry_has_class(const struct dir_entry *e, const char *cls);

/* What inetUserStatus and mailUserStatus together say of an account: the
 * worse of the two; absent or "active" is active, an unknown value is
 * inactive (temporary: mail waits rather than bounces). */
enum dir_user_state {
	DIR_USER_ACTIVE,
	DIR_USER_INACTIVE,      /* inactive, or an unknown value */
	DIR_USER_HOLD,          /* mailUserStatus=hold: mail is held */
	DIR_USER_DELETED,       /* deleted or removed: refuse for good */
};
enum dir_user_state dir_entry_user_state(const struct dir_entry *e);

/* RFC 4515 escaping of an assertion value: returns a new string. */
char *dir_filter_escape(const char *value);

/* ---- logins ---- */

/*
 * What the daemon may tell the client.  DIR_AUTH_FAILED covers every
 * "no": no such user, several entries for the login, wrong, empty or
 * over-long password; replies must not tell them apart (the reason field
 * is for the log only).  DIR_AUTH_UNAVAILABLE is temporary (NO
 * [UNAVAILABLE], -ERR [SYS/TEMP]), never "wrong password".
 */
enum dir_auth_status {
	DIR_AUTH_OK,
	DIR_AUTH_FAILED,
	DIR_AUTH_UNAVAILABLE,
	DIR_AUTH_UNSUPPORTED,   /* dir_fetch_secret without secret_binddn */
};

/* Why, for the log (dir_auth_reason_name); never for the client. */
enum dir_auth_reason {
	DIR_AUTH_R_NONE,        /* DIR_AUTH_OK */
	DIR_AUTH_R_NOUSER,      /* no entry matched the login */
	DIR_AUTH_R_AMBIGUOUS,   /* several entries matched */
	DIR_AUTH_R_BADPASS,     /* the server refused the bind: credentials */
	DIR_AUTH_R_REFUSED,     /* refused otherwise (no password set, ...) */
	DIR_AUTH_R_EMPTY,       /* empty password: refused without asking */
	DIR_AUTH_R_TOOLONG,     /* login or password past the caps: unasked */
	DIR_AUTH_R_NOTCLEAR,    /* secret: userPassword absent or hashed */
	DIR_AUTH_R_DIRECTORY,   /* no server answered in time, or it failed */
	DIR_AUTH_R_BUSY,        /* auth_queue_max logins already in progress */
	DIR_AUTH_R_NOTCONFIGURED, /* secret: no secret_binddn */
};

struct dir_auth_result {
	enum dir_auth_status status;
	enum dir_auth_reason reason;
	/* DIR_AUTH_OK: the user's entry, with dir_find_user's attributes
	 * (never userPassword); NULL otherwise. */
	const struct dir_entry *entry;
	/* dir_fetch_secret with DIR_AUTH_OK: the clear password; wiped
	 * when the callback returns.  NULL otherwise. */
	const char *secret;
};

/* Called once, on the loop thread; the result and everything it points
 * to are valid only during the call.  The same rules as for dir_cb: the
 * handle is gone when it runs; it may cancel, start requests, free. */
typedef void dir_auth_cb(void *arg, const struct dir_auth_result *res);

/*
 * Check login's password: find its entry (login_filter; exactly one must
 * match; the lookup may be answered from the cache), then bind as that
 * entry with password on an auth connection.  An empty password, or a
 * login or password past DIR_LOGIN_MAX/DIR_PASSWORD_MAX, fails without
 * asking the server (an empty simple bind would be an anonymous bind and
 * "succeed").  Answered on the loop, or before this returns when the
 * cache tells the login does not exist (the handle is then NULL).  The
 * password is copied and the copy wiped once used.  dir_cancel() works
 * as for searches (a bind already sent finishes on its connection and
 * its verdict is dropped).  Whether the account
 * may log in (mailUserStatus, inetUserStatus) is the caller's business.
 */
struct dir_req *dir_authenticate(struct dir *dir, const char *login,
    const char *password, dir_auth_cb *cb, void *arg);

/*
 * The clear password of login, for mechanisms that need it (CRAM-MD5,
 * APOP): its entry read as secret_binddn, never from or into the cache.
 * DIR_AUTH_OK with res->secret when a userPassword value is clear text
 * (no "{SCHEME}" prefix, or {CLEARTEXT} / {PLAIN}); DIR_AUTH_FAILED when
 * there is no such user or no clear value (reason NOTCLEAR);
 * DIR_AUTH_UNSUPPORTED, before this returns (NULL handle), when no
 * secret_binddn is configured.
 */
struct dir_req *dir_fetch_secret(struct dir *dir, const char *login,
    dir_auth_cb *cb, void *arg);

/* Whether dir_fetch_secret can work: offer CRAM-MD5/APOP only then. */
bool dir_secret_supported(const struct dir *dir);

/* "nouser", "badpass", ...: a stable word for log lines. */
const char *dir_auth_reason_name(enum dir_auth_reason reason);

struct dir_auth_stats {
	unsigned long auths;            /* dir_authenticate calls */
	unsigned long secrets;          /* dir_fetch_secret calls */
	unsigned long ok, failed, unavailable;  /* their answers */
	unsigned long busy;             /* of those: auth_queue_max reached */
	unsigned long binds;            /* simple binds sent as users */
	unsigned long reconnects;       /* of the auth and secret connections */
};
void dir_get_auth_stats(const struct dir *dir, struct dir_auth_stats *st);

/* Counters for /metrics and tests. */
struct dir_stats {
	unsigned long requests, cache_hits, errors, reconnects;
};
void dir_get_stats(const struct dir *dir, struct dir_stats *st);

#endif
