/*
 * dir_private.h: what the files of the dir module share, and nobody else.
 *
 *   dir.c        public API, requests, dispatch of answers to callbacks
 *   dir_conn.c   the one LDAP connection: resolve, connect, bind, read,
 *                failover between servers
 *   dir_cache.c  answers by request key, with TTL, LRU and a byte budget
 *   dir_entry.c  bounded deep copies of entries, answers, accessors
 *   dir_filter.c RFC 4515 escaping and the user filter
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

struct dir_conn {
	enum dir_conn_state state;
	size_t cur;             /* server of the current/last attempt */
	size_t failed;          /* consecutive failed attempts */
	unsigned long attempts;
	unsigned gen;           /* bumped at every teardown */
	bool answered;          /* a search was answered on this connection */
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
	struct dir_conn conn;
	struct dir_req_list queue;      /* waiting for a connection */
	struct dir_req_list inflight;   /* sent, msgid valid */
	struct dir_req_list doomed;     /* being failed one by one */
	struct dir_req_list early;      /* answered without asking (timer) */
	size_t ninflight;
	struct dir_stats stats;
	unsigned busy;          /* callbacks of ours on the stack */
	bool dying;             /* dir_free() ran while busy */
};

void dir_conn_init(struct dir *dir);
void dir_conn_close(struct dir *dir);
/* Make sure a connection is up or on its way (never connects inline). */
void dir_conn_kick(struct dir *dir);
/* The connection is broken: drop it, requeue, fail over. */
void dir_conn_fail(struct dir *dir, const char *why);
/* A search was answered: the server works, reset the failure count. */
void dir_conn_answered(struct dir *dir);
/* libldap could not write all of a request: wait for writability. */
void dir_conn_want_write(struct dir *dir);
/* Connected, bound, and no partial write pending. */
bool dir_conn_can_send(const struct dir *dir);
const char *dir_conn_uri(const struct dir *dir);

/* Called by dir_conn.c into dir.c. */
void dir_req_flush(struct dir *dir);
void dir_req_requeue_all(struct dir *dir);
void dir_req_fail_all(struct dir *dir);
void dir_req_dispatch(struct dir *dir, LDAPMessage *msg);
bool dir_req_pending(const struct dir *dir);

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
