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
};

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

/* RFC 4515 escaping of an assertion value: returns a new string. */
char *dir_filter_escape(const char *value);

/* Counters for /metrics and tests. */
struct dir_stats {
	unsigned long requests, cache_hits, errors, reconnects;
};
void dir_get_stats(const struct dir *dir, struct dir_stats *st);

#endif
