/*
 * dir_private.h: what the files of the dir module share, and nobody else.
 *
 *   dir.c        public API, requests, the search channels (the shared
 *                one and the secret reader), answers to callbacks
 *   dir_auth.c   logins: lookup, then a bind on the pool of auth
 *                connections; the clear secret for CRAM-MD5/APOP
 *   dir_conn.c   one LDAP connection: resolve, connect, bind, read,
 *                failover between servers; its owner reacts through ops
 *   dir_cache.c  answers by request key, with TTL, LRU and a byte budget
 *   dir_entry.c  bounded deep copies of entries, answers, accessors
 *   dir_filter.c RFC 4515 escaping, the user filter, the login filter
 *
 * The unit tests include this header to drive the cache and the entry
 * copies directly; daemons use dir.h only.
 */
#ifndef COMMON_DIR_PRIVATE_H
#define COMMON_DIR_PRIVATE_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/util.h>
#include <ldap.h>

#include "dir.h"

/* Limits: what a hostile or broken directory can make us hold. */
#define DIR_SIZELIMIT        1000              /* entries per search */
#define DIR_ENTRY_MAX_BYTES  (256 * 1024)      /* per copied entry */
#define DIR_ANSWER_MAX_BYTES (8 * 1024 * 1024) /* per search answer */
#define DIR_PDU_MAX_BYTES    (4 * 1024 * 1024) /* one LDAP message */
#define DIR_CACHE_MAX_BYTES  (64 * 1024 * 1024)
#define DIR_ADDRESS_MAX      512     /* longer addresses cannot exist */
#define DIR_MAX_INFLIGHT     128     /* searches outstanding on the wire */
#define DIR_HOLDDOWN_MS      1000    /* after every server failed */
#define DIR_READ_BATCH       256     /* messages per readiness event */

/* ---- entries and answers (dir_entry.c) ---- */

struct dir_attr {
	char *name;
	char **vals;        /* NULL-terminated */
	size_t nvals;
};

struct dir_entry {
	char *dn;
	struct dir_attr *attrs;
	size_t nattrs;
	size_t bytes;       /* charged against the entry's budget */
};

struct dir_entry *dir_entry_new(const char *dn);
/* Add one value; false (and nothing added) when it would pass max_bytes. */
bool dir_entry_add(struct dir_entry *e, const char *attr, const char *val,
    size_t len, size_t max_bytes);
/* Copy a search entry out of libldap; *truncated when values were dropped. */
struct dir_entry *dir_entry_from_ldap(LDAP *ld, LDAPMessage *msg,
    size_t max_bytes, bool *truncated);
struct dir_entry *dir_entry_dup(const struct dir_entry *e);
/* Wipe (explicit_bzero) and drop every value of attr. */
void dir_entry_remove(struct dir_entry *e, const char *attr);
void dir_entry_free(struct dir_entry **e);

/*
 * An answer: status plus the entries, owned by the answer.  Reference
 * counted so that the cache and a callback in progress can share it; it is
 * never modified once it has been handed out.
 */
struct dir_answer {
	unsigned refs;
	enum dir_status status;
	struct dir_entry **entries;
	size_t n, cap;
	size_t bytes;       /* sum of the entries' bytes */
};

struct dir_answer *dir_answer_new(void);
/* Takes ownership of e. */
void dir_answer_add(struct dir_answer *a, struct dir_entry *e);
struct dir_answer *dir_answer_ref(struct dir_answer *a);
void dir_answer_unref(struct dir_answer **a);

/* ---- cache (dir_cache.c) ---- */

struct dir_cache;

struct dir_cache *dir_cache_new(size_t max_entries, size_t max_bytes);
void dir_cache_free(struct dir_cache **c);
/* A new reference to the live answer stored under key, or NULL. */
struct dir_answer *dir_cache_get(struct dir_cache *c, const char *key,
    uint64_t now_ms);
/* Store (a reference to) a, replacing what key had; evicts LRU entries. */
void dir_cache_put(struct dir_cache *c, const char *key, struct dir_answer *a,
    uint64_t expires_ms);
void dir_cache_clear(struct dir_cache *c);
size_t dir_cache_count(const struct dir_cache *c);
size_t dir_cache_bytes(const struct dir_cache *c);

/* ---- filters (dir_filter.c) ---- */

/* The dir_find_user filter for an address (already lowercased). */
char *dir_filter_user(const char *address);
/* NULL when fmt is a usable login_filter, else why not. */
const char *dir_filter_login_check(const char *fmt);
/* fmt expanded for login (qualified already), every value escaped, ANDed
 * with (objectClass=inetMailUser). */
char *dir_filter_login(const char *fmt, const char *login);

/* ---- connection (dir_conn.c) ---- */

struct event;
struct evdns_base;
struct evdns_getaddrinfo_request;

enum dir_conn_state {
	DIR_CONN_IDLE,          /* nothing open, nothing scheduled */
	DIR_CONN_WAIT,          /* an attempt is scheduled on the timer */
	DIR_CONN_RESOLVING,
	DIR_CONN_CONNECTING,
	DIR_CONN_BINDING,
	DIR_CONN_READY,
};

struct dir_server {
	char *uri;
	char *host;
	char port[8];
};

struct dir_conn;

/*
 * What the owner of a connection does for it: dir.c for the search
 * channels, dir_auth.c for the auth connections.  dir_conn.c calls these
 * and nothing else of theirs; none of them may run a user callback
 * except round_failed (it runs on the connection's timer).
 */
struct dir_conn_ops {
	/* Connected and bound, or a partial write finished: send. */
	void (*ready)(struct dir_conn *c);
	/* An answer to one of the owner's operations (never msgid 0). */
	void (*message)(struct dir_conn *c, LDAPMessage *msg);
	/* The connection was torn down: what was sent on it waits again. */
	void (*dropped)(struct dir_conn *c);
	/* Every server failed in a row: fail what waits. */
	void (*round_failed)(struct dir_conn *c);
	/* Does anything wait for this connection or sit on it? */
	bool (*pending)(const struct dir_conn *c);
};

struct dir_conn {
	struct dir *dir;
	const struct dir_conn_ops *ops;
	void *owner;            /* the struct dir_chan or dir_authconn */
	char name[16];          /* "search", "secret", "auth2": log lines */
	const char *binddn;     /* the dir's copies; NULL: no bind */
	const char *bindpw;
	enum dir_conn_state state;
	size_t cur;             /* server of the current/last attempt */
	size_t failed;          /* consecutive failed attempts */
	unsigned long attempts;
	unsigned long reconnects;       /* attempts after the first */
	unsigned gen;           /* bumped at every teardown */
	bool answered;          /* an operation was answered on this connection */
	bool round_failed;      /* every server failed: fail requests (timer) */
	bool resolved;          /* the resolver answered (timer continues) */
	int gai_result;
	int fd;
	LDAP *ld;
	int bind_msgid;
	struct event *io;       /* read, persistent, while fd is connected */
	struct event *wio;      /* one-shot write: libldap has a partial write */
	struct event *timer;    /* attempt scheduling and attempt timeout */
	struct evdns_base *dns; /* made on first use: numeric hosts need none */
	struct evdns_getaddrinfo_request *dns_req;
	struct evutil_addrinfo *ai, *ai_next;
	int last_errno;
	uint64_t deadline_ms;   /* of the current attempt */
	uint64_t holddown_until;
	uint64_t last_read_ms;
};

struct dir_req;
TAILQ_HEAD(dir_req_list, dir_req);

/* A connection that runs searches, and the requests that wait for it. */
struct dir_chan {
	struct dir_conn conn;
	struct dir_req_list queue;      /* waiting for the connection or a slot */
	struct dir_req_list inflight;   /* sent, msgid valid */
	size_t ninflight;
};

/* A connection that binds as users, one bind at a time (RFC 4511 4.2.1:
 * nothing else may be sent while a bind is in progress). */
struct dir_authconn {
	struct dir_conn conn;
	struct dir_req *req;    /* whose bind is out; NULL: none, or cancelled */
	int msgid;              /* of the bind out; -1: the connection is free */
	uint64_t sent_ms;
	struct event *timer;    /* a bind out that is never answered */
};

enum dir_req_kind {
	DIR_REQ_FIND,           /* dir_find_user */
	DIR_REQ_SEARCH,         /* dir_search */
	DIR_REQ_AUTH,           /* dir_authenticate: a find, then a bind */
	DIR_REQ_SECRET,         /* dir_fetch_secret: a find on the secret chan */
};

/*
 * A request sits on exactly one list of the struct dir (see dir.c); its
 * timer runs from the moment it was made.
 */
struct dir_req {
	struct dir *dir;
	enum dir_req_kind kind;
	struct dir_chan *chan;          /* where its search goes */
	struct dir_req_list *list;      /* the list of dir that holds us */
	TAILQ_ENTRY(dir_req) link;
	char *filter;
	char *base;                     /* NULL: the configured base */
	int scope;                      /* LDAP_SCOPE_*; subtree by default */
	char **attrs;                   /* NULL: all */
	bool own_attrs;
	char *key;                      /* cache key; NULL: not cached */
	dir_cb *cb;                     /* FIND, SEARCH */
	dir_auth_cb *auth_cb;           /* AUTH, SECRET */
	void *arg;
	int msgid;                      /* -1: nothing outstanding */
	uint64_t sent_ms;
	enum dir_status early;          /* the answer, on the early list */
	enum dir_auth_status auth_early;
	enum dir_auth_reason auth_reason;
	struct event *timer;
	struct dir_answer *answer;      /* what has arrived so far */
	size_t nseen;                   /* entries seen, copied or not */
	bool truncated;                 /* some entries were not kept */
	/* AUTH and SECRET */
	bool counted;                   /* in dir->nauth */
	bool binding;                   /* found: past the search */
	char *password;                 /* wiped when freed */
	char *secret;                   /* SECRET: the clear value, wiped */
	struct dir_authconn *bindconn;  /* the bind is out on it */
};

struct dir {
	struct event_base *evbase;
	struct dir_server *servers;
	size_t nservers;
	char *base;
	char *binddn;           /* NULL: no bind (anonymous) */
	char *bindpw;
	int timeout_ms;
	int cache_ttl_s;
	int negative_ttl_s;
	struct dir_cache *cache;        /* NULL when disabled */
	struct dir_chan search;         /* lookups, as binddn */
	struct dir_req_list doomed;     /* being failed one by one */
	struct dir_req_list early;      /* answered without asking (timer) */
	struct dir_stats stats;
	/* Logins (dir_auth.c). */
	char *login_filter;
	char *default_domain;   /* NULL: none */
	size_t auth_max;        /* AUTH + SECRET requests at once */
	size_t nauth;           /* of those, alive (not early) */
	struct dir_authconn *authconns;
	size_t nauthconns;
	struct dir_req_list auth_queue;   /* found, waiting for a free auth conn */
	struct dir_req_list auth_binding; /* bind out */
	struct event *auth_flush_ev;      /* flush auth_queue on the loop */
	char *secret_binddn;    /* NULL: no dir_fetch_secret */
	char *secret_bindpw;
	struct dir_chan *secret;        /* NULL without secret_binddn */
	struct dir_auth_stats auth_stats;
	unsigned busy;          /* callbacks of ours on the stack */
	bool dying;             /* dir_free() ran while busy */
};

/* The user attributes every found entry carries (dir.c), and those plus
 * userPassword for the secret reader. */
extern char *dir_user_attrs[];
extern char *dir_secret_attrs[];

void dir_conn_init(struct dir_conn *c, struct dir *dir,
    const struct dir_conn_ops *ops, void *owner, const char *name,
    const char *binddn, const char *bindpw);
/* Tear down and free the events; the struct may then be freed. */
void dir_conn_close(struct dir_conn *c);
/* Make sure a connection is up or on its way (never connects inline). */
void dir_conn_kick(struct dir_conn *c);
/* The connection is broken: drop it (ops->dropped), fail over. */
void dir_conn_fail(struct dir_conn *c, const char *why);
/* An operation was answered: the server works, reset the failure count. */
void dir_conn_answered(struct dir_conn *c);
/* libldap could not write all of a request: wait for writability. */
void dir_conn_want_write(struct dir_conn *c);
/* Connected, bound, and no partial write pending. */
bool dir_conn_can_send(const struct dir_conn *c);
const char *dir_conn_uri(const struct dir_conn *c);

/* dir.c: requests and search channels, used by dir_auth.c. */
void dir_chan_init(struct dir_chan *ch, struct dir *dir, const char *name,
    const char *binddn, const char *bindpw);
void dir_chan_close(struct dir_chan *ch);
/* Cancel (no callbacks) every request of the chan. */
void dir_chan_cancel_all(struct dir_chan *ch);
struct dir_req *dir_req_new(struct dir *dir, enum dir_req_kind kind,
    struct dir_chan *chan, char *filter, char **attrs, bool own_attrs);
/* Start the request's timer (timeout_ms from now). */
void dir_req_arm(struct dir_req *req);
/* Arm the timer and send (or queue) the search; key: cache key or NULL. */
struct dir_req *dir_req_start(struct dir_req *req, char *key);
void dir_req_move(struct dir_req *req, struct dir_req_list *to);
/* Unlink and free (no callback). */
void dir_req_destroy(struct dir_req *req);
/* Answer on the loop, with req->early / req->auth_early already set. */
void dir_req_answer_early(struct dir_req *req);
/* Move to dir->doomed and fail every request there, one by one. */
void dir_req_fail_doomed(struct dir *dir);
/* Deliver a to cb on the loop's behalf (enter/leave); drops a. */
void dir_deliver(struct dir *dir, dir_cb *cb, void *arg, struct dir_answer *a);

/* dir_auth.c, called by dir.c. */
bool dir_auth_init(struct dir *dir, const struct dir_config *conf);
void dir_auth_close(struct dir *dir);   /* connections first */
void dir_auth_free(struct dir *dir);    /* after the requests */
/* The search of an AUTH or SECRET request ended: takes a. */
void dir_auth_found(struct dir_req *req, struct dir_answer *a);
/* End an AUTH or SECRET request: free it, then run its callback. */
void dir_auth_finish(struct dir_req *req, enum dir_auth_status status,
    enum dir_auth_reason reason);
/* The timer of a request waiting for or on an auth connection fired. */
void dir_auth_timeout(struct dir_req *req);
/* A request that is being destroyed leaves its auth connection. */
void dir_auth_detach(struct dir_req *req);
/* The clear text in a userPassword value, or NULL when it is hashed. */
const char *dir_auth_secret_clear(const char *value);

/* Entering and leaving our code from the event loop or a callback: a
 * dir_free() from inside a callback is finished by the outermost leave. */
void dir_enter(struct dir *dir);
void dir_leave(struct dir *dir);

static inline uint64_t
dir_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
