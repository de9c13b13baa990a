/*
 * test_dir_api: the request life cycle of common/dir without a directory
 * server: configuration checks, answers that need no server, servers that
 * refuse or never answer (real loopback sockets), and callbacks that
 * cancel, re-enter or free (a cache seeded through dir_private.h stands
 * in for earlier answers).  Answers from a real slapd are tested in
 * t/integration/test_dir.py.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "dir_private.h"
#include "log.h"
#include "unit.h"

/* A loopback port that refuses (bound, not listening) or that accepts
 * but never answers (listening, never accepted). */
static int
open_port(bool listening, char *uri, size_t urisz)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (listening && listen(fd, 16) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("open_port");
		exit(1);
	}
	snprintf(uri, urisz, "ldap://127.0.0.1:%d", ntohs(sin.sin_port));
	return fd;
}

struct ctx {
	struct event_base *base;
	struct dir *dir;
	struct dir_req *reqs[4];
	int calls[4];
	enum dir_status status[4];
	int done;
	int want;
	int action;             /* what callback 0 does */
};

enum { ACT_NONE, ACT_CANCEL_OTHER, ACT_FREE_DIR, ACT_REENTER };

struct slot {
	struct ctx *ctx;
	int i;
};

static void
on_answer(void *arg, enum dir_status st, const struct dir_entry *const *e,
    size_t n)
{
	struct slot *s = arg;
	struct ctx *c = s->ctx;

	CHECK(n == (st == DIR_OK ? 1u : 0u));
	if (n == 1)
		CHECK_STR(dir_entry_get(e[0], "mail"), "alice@example.com");
	c->calls[s->i]++;
	c->status[s->i] = st;
	c->reqs[s->i] = NULL;           /* the handle is gone now */
	if (s->i == 0 && c->action == ACT_CANCEL_OTHER)
		dir_cancel(&c->reqs[2]);
	if (s->i == 0 && c->action == ACT_FREE_DIR)
		dir_free(&c->dir);
	if (s->i == 0 && c->action == ACT_REENTER) {
		static struct slot again;

		again = (struct slot){ c, 3 };
		c->want++;
		c->reqs[3] = dir_find_user(c->dir, "again@example.com",
		    on_answer, &again);
	}
	if (++c->done >= c->want)
		event_base_loopexit(c->base, NULL);
}

static struct dir *
make_dir(struct event_base *base, const char *uri, int timeout_ms)
{
	const char *uris[] = { uri };
	struct dir_config conf = { .uris = uris, .nuris = 1,
	    .base = "dc=example,dc=com", .timeout_ms = timeout_ms,
	    .cache_max = 10, .cache_ttl_s = 60, .negative_ttl_s = 60 };

	return dir_new(base, &conf);
}

/* Run the loop, but never longer than 10 s whatever happens. */
static void
run(struct ctx *c)
{
	struct timeval guard = { 10, 0 };

	event_base_loopexit(c->base, &guard);
	event_base_dispatch(c->base);
}

static void
test_config(void)
{
	static const char *const bad[] = {
		"ldaps://127.0.0.1:636", "ldapi:///var/run/slapd.sock",
		"http://127.0.0.1/", "not a uri", "ldap://", "ldap://:389",
	};
	struct event_base *base = event_base_new();
	struct dir_config none = { .base = "dc=x" };
	struct dir *d;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = make_dir(base, bad[i], 1000);
		CHECK(d == NULL);
		dir_free(&d);
	}
	CHECK(dir_new(base, &none) == NULL);
	d = make_dir(base, "ldap://127.0.0.1", 1000);   /* port 389 */
	CHECK(d != NULL);
	dir_free(&d);
	CHECK(d == NULL);
	d = make_dir(base, "ldap://localhost:10389/dc=example,dc=com", 1000);
	CHECK(d != NULL);
	dir_free(&d);
	event_base_free(base);
}

/* An address that cannot exist is not-found, answered on the loop. */
static void
test_early_answer(void)
{
	struct ctx c = { .base = event_base_new(), .want = 2 };
	struct slot s0 = { &c, 0 }, s1 = { &c, 1 };
	char big[700];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c.dir = make_dir(c.base, "ldap://127.0.0.1:1", 1000);
	c.reqs[0] = dir_find_user(c.dir, big, on_answer, &s0);
	c.reqs[1] = dir_find_user(c.dir, "", on_answer, &s1);
	CHECK(c.reqs[0] != NULL && c.reqs[1] != NULL && c.done == 0);
	run(&c);
	CHECK(c.calls[0] == 1 && c.status[0] == DIR_NOTFOUND);
	CHECK(c.calls[1] == 1 && c.status[1] == DIR_NOTFOUND);
	dir_free(&c.dir);
	event_base_free(c.base);
}

/* Every server refuses: unavailable quickly; a callback cancels another
 * request, which then never calls back. */
static void
test_refused_cancel(void)
{
	char uri[64];
	int fd = open_port(false, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 2,
	    .action = ACT_CANCEL_OTHER };
	struct slot s[3] = { { &c, 0 }, { &c, 1 }, { &c, 2 } };
	struct dir_stats st;

	c.dir = make_dir(c.base, uri, 3000);
	for (int i = 0; i < 3; i++)
		c.reqs[i] = dir_find_user(c.dir, "alice@example.com", on_answer,
		    &s[i]);
	run(&c);
	CHECK(c.calls[0] == 1 && c.status[0] == DIR_UNAVAILABLE);
	CHECK(c.calls[1] == 1 && c.status[1] == DIR_UNAVAILABLE);
	CHECK(c.calls[2] == 0 && c.reqs[2] == NULL);
	dir_get_stats(c.dir, &st);
	CHECK(st.requests == 3 && st.errors == 2 && st.cache_hits == 0);
	dir_free(&c.dir);
	event_base_free(c.base);
	close(fd);
}

/* A callback starts a new lookup; unavailable is never cached, so it
 * goes to the (refusing) server again and fails too. */
static void
test_refused_reenter(void)
{
	char uri[64];
	int fd = open_port(false, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 1,
	    .action = ACT_REENTER };
	struct slot s0 = { &c, 0 };

	c.dir = make_dir(c.base, uri, 3000);
	c.reqs[0] = dir_find_user(c.dir, "alice@example.com", on_answer, &s0);
	run(&c);
	CHECK(c.calls[0] == 1 && c.status[0] == DIR_UNAVAILABLE);
	CHECK(c.calls[3] == 1 && c.status[3] == DIR_UNAVAILABLE);
	dir_free(&c.dir);
	event_base_free(c.base);
	close(fd);
}

/* The first callback frees the dir: nothing else may run or crash. */
static void
test_free_in_callback(void)
{
	char uri[64];
	int fd = open_port(false, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 1,
	    .action = ACT_FREE_DIR };
	struct slot s[3] = { { &c, 0 }, { &c, 1 }, { &c, 2 } };

	c.dir = make_dir(c.base, uri, 3000);
	for (int i = 0; i < 3; i++)
		c.reqs[i] = dir_find_user(c.dir, "bob@example.com", on_answer,
		    &s[i]);
	run(&c);
	CHECK(c.dir == NULL);
	CHECK(c.calls[0] == 1 && c.calls[1] == 0 && c.calls[2] == 0);
	event_base_free(c.base);
	close(fd);
}

/* A server that accepts and never answers: the request times out. */
static void
test_silent_server_timeout(void)
{
	char uri[64];
	int fd = open_port(true, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 1 };
	struct slot s0 = { &c, 0 };

	c.dir = make_dir(c.base, uri, 300);
	c.reqs[0] = dir_find_user(c.dir, "carol@example.org", on_answer, &s0);
	run(&c);
	CHECK(c.calls[0] == 1 && c.status[0] == DIR_UNAVAILABLE);
	dir_free(&c.dir);
	event_base_free(c.base);
	close(fd);
}

/* Cancelled and freed-with-the-dir requests never call back. */
static void
test_cancel_and_free_pending(void)
{
	char uri[64];
	int fd = open_port(true, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new() };
	struct slot s[3] = { { &c, 0 }, { &c, 1 }, { &c, 2 } };
	struct timeval shortly = { 0, 100000 };
	const char *attrs[] = { "mail", NULL };

	c.dir = make_dir(c.base, uri, 5000);
	c.reqs[0] = dir_find_user(c.dir, "dave@example.org", on_answer, &s[0]);
	c.reqs[1] = dir_search(c.dir, "(mail=*)", attrs, on_answer, &s[1]);
	c.reqs[2] = dir_search(c.dir, "(uid=x)", NULL, on_answer, &s[2]);
	dir_cancel(&c.reqs[0]);
	CHECK(c.reqs[0] == NULL);
	dir_cancel(&c.reqs[0]);         /* NULL is fine */
	event_base_loopexit(c.base, &shortly);
	event_base_dispatch(c.base);
	dir_free(&c.dir);
	/* Nothing of the dir may be left on the loop. */
	CHECK(event_base_get_num_events(c.base, EVENT_BASE_COUNT_ADDED |
	    EVENT_BASE_COUNT_ACTIVE) == 0);
	event_base_loop(c.base, EVLOOP_NONBLOCK);
	CHECK(c.calls[0] == 0 && c.calls[1] == 0 && c.calls[2] == 0);
	event_base_free(c.base);
	close(fd);
}

/* A cache hit answers inside dir_find_user; that callback may free the
 * dir, and dir_find_user then returns NULL without touching it. */
static void
test_cache_hit_frees_dir(void)
{
	struct ctx c = { .base = event_base_new(), .want = 1,
	    .action = ACT_FREE_DIR };
	struct slot s0 = { &c, 0 };
	struct dir_answer *a = dir_answer_new();
	struct dir_entry *e = dir_entry_new("uid=alice,dc=example,dc=com");
	struct dir_stats st;
	struct dir_req *r;

	dir_entry_add(e, "mail", "alice@example.com", 17, SIZE_MAX);
	dir_answer_add(a, e);
	a->status = DIR_OK;
	c.dir = make_dir(c.base, "ldap://127.0.0.1:1", 1000);
	dir_cache_put(c.dir->cache, "f\nalice@example.com", a,
	    dir_now_ms() + 60000);
	dir_answer_unref(&a);
	c.action = ACT_NONE;
	r = dir_find_user(c.dir, "Alice@Example.COM", on_answer, &s0);
	CHECK(r == NULL && c.calls[0] == 1 && c.status[0] == DIR_OK);
	dir_get_stats(c.dir, &st);
	CHECK(st.requests == 1 && st.cache_hits == 1);
	c.action = ACT_FREE_DIR;
	r = dir_find_user(c.dir, "alice@example.com", on_answer, &s0);
	CHECK(r == NULL && c.calls[0] == 2 && c.dir == NULL);
	event_base_free(c.base);
}

int
main(void)
{
	log_init("test_dir_api", true);
	log_set_level(LOG_LEVEL_ERR);
	UNIT_RUN(test_config);
	UNIT_RUN(test_early_answer);
	UNIT_RUN(test_refused_cancel);
	UNIT_RUN(test_refused_reenter);
	UNIT_RUN(test_free_in_callback);
	UNIT_RUN(test_silent_server_timeout);
	UNIT_RUN(test_cancel_and_free_pending);
	UNIT_RUN(test_cache_hit_frees_dir);
	return unit_done();
}
