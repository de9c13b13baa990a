/*
 * test_dir_auth: logins in common/dir without a directory server: the
 * login filter (table), clear secrets (table), what is refused without
 * asking, servers that refuse or never answer (real loopback sockets),
 * the bound on logins in progress, cancelling and freeing from callbacks.
 * A cache seeded through dir_private.h stands in for an earlier lookup,
 * so that a login goes straight to its bind.  Answers from a real slapd
 * are tested in t/integration/test_dir_auth.py.
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
#include "xmalloc.h"

#define ALICE_DN "uid=alice,ou=People,o=example.com,dc=example,dc=com"

/* ---- tables ---- */

static const struct {
	const char *fmt, *login, *want;
} login_cases[] = {
	{ "(uid=%U)", "alice@example.com",
	  "(&(objectClass=inetMailUser)(uid=alice))" },
	{ "uid=%U", "alice@example.com",                /* wrapped */
	  "(&(objectClass=inetMailUser)(uid=alice))" },
	{ "(|(uid=%U)(mail=%s))", "alice@example.com",
	  "(&(objectClass=inetMailUser)(|(uid=alice)(mail=alice@example.com)))" },
	{ "(&(uid=%U)(o=%D))", "a@b@example.com",       /* the last '@' */
	  "(&(objectClass=inetMailUser)(&(uid=a@b)(o=example.com)))" },
	{ "(&(uid=%U)(o=%D))", "alice",                 /* no domain */
	  "(&(objectClass=inetMailUser)(&(uid=alice)(o=)))" },
	{ "(cn=100%%)", "x", "(&(objectClass=inetMailUser)(cn=100%))" },
	{ "(uid=%s)", "*", "(&(objectClass=inetMailUser)(uid=\\2a))" },
	{ "(uid=%s)", "a*)(uid=*",
	  "(&(objectClass=inetMailUser)(uid=a\\2a\\29\\28uid=\\2a))" },
	{ "(|(uid=%U)(mail=%s))", "x)(|(uid=*@e(.com",
	  "(&(objectClass=inetMailUser)(|(uid=x\\29\\28|\\28uid=\\2a)"
	  "(mail=x\\29\\28|\\28uid=\\2a@e\\28.com)))" },
	{ "(uid=%s)", "a\\2a\r\n",
	  "(&(objectClass=inetMailUser)(uid=a\\5c2a\\0d\\0a))" },
	{ DIR_LOGIN_FILTER_DEFAULT, "bob@example.com",
	  "(&(objectClass=inetMailUser)(|(uid=bob@example.com)"
	  "(mail=bob@example.com)(mailAlternateAddress=bob@example.com)"
	  "(mailEquivalentAddress=bob@example.com)))" },
};

static void
test_login_filter(void)
{
	for (size_t i = 0; i < sizeof(login_cases) / sizeof(login_cases[0]);
	    i++) {
		char *got;

		CHECK(dir_filter_login_check(login_cases[i].fmt) == NULL);
		got = dir_filter_login(login_cases[i].fmt, login_cases[i].login);
		CHECK_STR(got, login_cases[i].want);
		free(got);
	}
}

static void
test_login_filter_check(void)
{
	static const char *const bad[] = {
		"", "(uid=%u)", "(uid=%x)", "(uid=%", "%", "(uid=%U", "uid=%U)",
		"(a))((b)", "(uid=%U%)",
	};
	static const char *const good[] = {
		"(uid=%U)", "uid=%U", "(&(uid=%U)(|(mail=%s)(o=%D)))", "(cn=%%)",
	};
	char big[1100];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(dir_filter_login_check(bad[i]) != NULL);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(dir_filter_login_check(good[i]) == NULL);
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '(';
	big[sizeof(big) - 2] = ')';
	big[sizeof(big) - 1] = '\0';
	CHECK(dir_filter_login_check(big) != NULL);
}

static const struct {
	const char *value, *want;       /* want NULL: hashed */
} secret_cases[] = {
	{ "alice-secret", "alice-secret" },
	{ "{CLEARTEXT}alice-secret", "alice-secret" },
	{ "{cleartext}x", "x" },
	{ "{PLAIN}p{a}ss", "p{a}ss" },
	{ "{SSHA}abcdefgh", NULL },
	{ "{ARGON2}$argon2id$v=19$...", NULL },
	{ "{CRYPT}$6$salt$hash", NULL },
	{ "{x}", NULL },
	{ "{}abc", "{}abc" },                   /* not a scheme */
	{ "{no space}x", "{no space}x" },
	{ "{unclosed", "{unclosed" },
	{ "", "" },
};

static void
test_secret_clear(void)
{
	for (size_t i = 0; i < sizeof(secret_cases) / sizeof(secret_cases[0]);
	    i++)
		CHECK_STR(dir_auth_secret_clear(secret_cases[i].value),
		    secret_cases[i].want);
}

static void
test_entry_remove(void)
{
	struct dir_entry *e = dir_entry_new("uid=x");

	dir_entry_add(e, "mail", "x@example.com", 13, SIZE_MAX);
	dir_entry_add(e, "userPassword", "a", 1, SIZE_MAX);
	dir_entry_add(e, "userPassword", "{SSHA}b", 7, SIZE_MAX);
	dir_entry_add(e, "uid", "x", 1, SIZE_MAX);
	dir_entry_remove(e, "USERPASSWORD");
	dir_entry_remove(e, "nothere");
	CHECK(dir_entry_get(e, "userPassword") == NULL);
	CHECK_STR(dir_entry_get(e, "mail"), "x@example.com");
	CHECK_STR(dir_entry_get(e, "uid"), "x");
	CHECK(e->nattrs == 2);
	dir_entry_free(&e);
}

/* ---- against sockets ---- */

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

#define NSLOTS 8

struct ctx {
	struct event_base *base;
	struct dir *dir;
	struct dir_req *reqs[NSLOTS];
	int calls[NSLOTS];
	enum dir_auth_status status[NSLOTS];
	enum dir_auth_reason reason[NSLOTS];
	bool had_entry[NSLOTS];
	int done, want;
	bool free_dir;                  /* the first callback frees the dir */
};

struct slot {
	struct ctx *ctx;
	int i;
};

static void
on_auth(void *arg, const struct dir_auth_result *res)
{
	struct slot *s = arg;
	struct ctx *c = s->ctx;

	c->calls[s->i]++;
	c->status[s->i] = res->status;
	c->reason[s->i] = res->reason;
	c->had_entry[s->i] = res->entry != NULL;
	CHECK((res->entry != NULL) == (res->status == DIR_AUTH_OK));
	CHECK(res->secret == NULL);
	c->reqs[s->i] = NULL;
	if (c->free_dir) {
		c->free_dir = false;
		dir_free(&c->dir);
	}
	if (++c->done >= c->want)
		event_base_loopexit(c->base, NULL);
}

static struct dir *
make_dir(struct event_base *base, const char *uri, int timeout_ms,
    size_t queue_max, const char *secret_dn)
{
	const char *uris[] = { uri };
	struct dir_config conf = { .uris = uris, .nuris = 1,
	    .base = "dc=example,dc=com", .timeout_ms = timeout_ms,
	    .cache_max = 10, .cache_ttl_s = 60, .negative_ttl_s = 60,
	    .auth_queue_max = queue_max, .auth_conns = 2,
	    .secret_binddn = secret_dn, .secret_bindpw = "pw" };

	return dir_new(base, &conf);
}

/* Seed the cache with the lookup of login: found (alice) or not. */
static void
seed(struct dir *dir, const char *login, enum dir_status st)
{
	struct dir_answer *a = dir_answer_new();
	char *filter = dir_filter_login(dir->login_filter, login);
	char *key = xasprintf("a\n%s", filter);

	if (st == DIR_OK) {
		struct dir_entry *e = dir_entry_new(ALICE_DN);

		dir_entry_add(e, "mail", "alice@example.com", 17, SIZE_MAX);
		dir_answer_add(a, e);
	}
	a->status = st;
	dir_cache_put(dir->cache, key, a, dir_now_ms() + 60000);
	dir_answer_unref(&a);
	free(filter);
	free(key);
}

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
	const char *uris[] = { "ldap://127.0.0.1:1" };
	struct event_base *base = event_base_new();
	struct dir_config conf = { .uris = uris, .nuris = 1,
	    .base = "dc=example,dc=com" };
	struct dir *d;

	conf.login_filter = "(uid=%u)";
	CHECK(dir_new(base, &conf) == NULL);
	conf.login_filter = "(uid=%U";
	CHECK(dir_new(base, &conf) == NULL);
	conf.login_filter = NULL;
	conf.default_domain = "a@b";
	CHECK(dir_new(base, &conf) == NULL);
	conf.default_domain = "example.com";
	conf.auth_conns = 1000;         /* clamped */
	d = dir_new(base, &conf);
	CHECK(d != NULL && d->nauthconns == DIR_AUTH_CONNS_MAX);
	CHECK(!dir_secret_supported(d));
	dir_free(&d);
	conf.secret_binddn = "cn=admin,dc=example,dc=com";
	d = dir_new(base, &conf);
	CHECK(d != NULL && dir_secret_supported(d));
	dir_free(&d);
	CHECK(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 0);
	event_base_free(base);
}

/* Refused without asking: answered on the loop, never inside the call,
 * never a bind; the secret without secret_binddn: inside the call. */
static void
test_refused_unasked(void)
{
	struct ctx c = { .base = event_base_new(), .want = 6 };
	struct slot s[7];
	char login[DIR_LOGIN_MAX + 2], pass[DIR_PASSWORD_MAX + 2];
	struct dir_auth_stats st;
	struct dir_req *r;

	for (int i = 0; i < 7; i++)
		s[i] = (struct slot){ &c, i };
	memset(login, 'a', sizeof(login) - 1);
	login[sizeof(login) - 1] = '\0';
	memset(pass, 'p', sizeof(pass) - 1);
	pass[sizeof(pass) - 1] = '\0';
	c.dir = make_dir(c.base, "ldap://127.0.0.1:1", 1000, 0, NULL);
	c.reqs[0] = dir_authenticate(c.dir, "alice@example.com", "", on_auth,
	    &s[0]);
	c.reqs[1] = dir_authenticate(c.dir, login, "x", on_auth, &s[1]);
	c.reqs[2] = dir_authenticate(c.dir, "alice", pass, on_auth, &s[2]);
	c.reqs[3] = dir_authenticate(c.dir, "", "x", on_auth, &s[3]);
	pass[DIR_PASSWORD_MAX] = '\0';  /* exactly the cap: asked */
	login[DIR_LOGIN_MAX] = '\0';
	c.reqs[4] = dir_authenticate(c.dir, login, pass, on_auth, &s[4]);
	CHECK(c.done == 0);
	for (int i = 0; i < 5; i++)
		CHECK(c.reqs[i] != NULL);
	/* Not supported comes first, before any check of the login. */
	r = dir_fetch_secret(c.dir, "", on_auth, &s[5]);
	CHECK(r == NULL && c.calls[5] == 1);
	r = dir_fetch_secret(c.dir, "alice", on_auth, &s[6]);
	CHECK(r == NULL && c.calls[6] == 1);
	CHECK(c.status[6] == DIR_AUTH_UNSUPPORTED &&
	    c.reason[6] == DIR_AUTH_R_NOTCONFIGURED);
	c.want = 7;
	run(&c);
	CHECK(c.status[0] == DIR_AUTH_FAILED && c.reason[0] == DIR_AUTH_R_EMPTY);
	CHECK(c.status[1] == DIR_AUTH_FAILED &&
	    c.reason[1] == DIR_AUTH_R_TOOLONG);
	CHECK(c.status[2] == DIR_AUTH_FAILED &&
	    c.reason[2] == DIR_AUTH_R_TOOLONG);
	CHECK(c.status[3] == DIR_AUTH_FAILED &&
	    c.reason[3] == DIR_AUTH_R_NOUSER);
	/* Asked: the server refuses the connection. */
	CHECK(c.status[4] == DIR_AUTH_UNAVAILABLE &&
	    c.reason[4] == DIR_AUTH_R_DIRECTORY);
	CHECK(c.status[5] == DIR_AUTH_UNSUPPORTED);
	for (int i = 0; i < 7; i++)
		CHECK(c.calls[i] == 1);
	dir_get_auth_stats(c.dir, &st);
	CHECK(st.auths == 5 && st.secrets == 2 && st.binds == 0);
	CHECK(st.failed == 4 && st.unavailable == 1 && st.ok == 0);
	dir_free(&c.dir);
	event_base_free(c.base);
}

/* A login the cache knows does not exist: failed inside the call. */
static void
test_cached_nouser(void)
{
	struct ctx c = { .base = event_base_new(), .want = 1 };
	struct slot s0 = { &c, 0 };
	struct dir_stats st;
	struct dir_req *r;

	c.dir = make_dir(c.base, "ldap://127.0.0.1:1", 1000, 0, NULL);
	seed(c.dir, "nobody@example.com", DIR_NOTFOUND);
	r = dir_authenticate(c.dir, "nobody@example.com", "pw", on_auth, &s0);
	CHECK(r == NULL && c.calls[0] == 1);
	CHECK(c.status[0] == DIR_AUTH_FAILED && c.reason[0] == DIR_AUTH_R_NOUSER);
	dir_get_stats(c.dir, &st);
	CHECK(st.cache_hits == 1);
	dir_free(&c.dir);
	event_base_free(c.base);
}

/* The lookup is cached, every server refuses: the bind cannot be sent,
 * unavailable without waiting for the timeout. */
static void
test_cached_user_refused(void)
{
	char uri[64];
	int fd = open_port(false, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 2 };
	struct slot s[2] = { { &c, 0 }, { &c, 1 } };
	struct dir_auth_stats st;
	uint64_t t0 = dir_now_ms();

	c.dir = make_dir(c.base, uri, 5000, 0, NULL);
	c.dir->default_domain = xstrdup("example.com");
	seed(c.dir, "alice@example.com", DIR_OK);
	c.reqs[0] = dir_authenticate(c.dir, "alice", "pw", on_auth, &s[0]);
	c.reqs[1] = dir_authenticate(c.dir, "alice@example.com", "pw",
	    on_auth, &s[1]);
	CHECK(c.reqs[0] != NULL && c.reqs[1] != NULL && c.done == 0);
	run(&c);
	CHECK(dir_now_ms() - t0 < 4000);
	for (int i = 0; i < 2; i++)
		CHECK(c.calls[i] == 1 && c.status[i] == DIR_AUTH_UNAVAILABLE &&
		    c.reason[i] == DIR_AUTH_R_DIRECTORY);
	dir_get_auth_stats(c.dir, &st);
	CHECK(st.binds == 0 && st.unavailable == 2);
	dir_free(&c.dir);
	event_base_free(c.base);
	close(fd);
}

/* The server accepts and never answers the bind: unavailable within the
 * timeout; beyond auth_queue_max, unavailable at once; a cancelled
 * login never calls back. */
static void
test_silent_bind(void)
{
	char uri[64];
	int fd = open_port(true, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 3 };
	struct slot s[4] = { { &c, 0 }, { &c, 1 }, { &c, 2 }, { &c, 3 } };
	struct dir_auth_stats st;
	uint64_t t0 = dir_now_ms();

	c.dir = make_dir(c.base, uri, 400, 3, NULL);
	seed(c.dir, "alice@example.com", DIR_OK);
	for (int i = 0; i < 4; i++)
		c.reqs[i] = dir_authenticate(c.dir, "alice@example.com", "pw",
		    on_auth, &s[i]);
	dir_cancel(&c.reqs[1]);
	CHECK(c.reqs[1] == NULL);
	run(&c);
	CHECK(dir_now_ms() - t0 < 3000);
	CHECK(c.calls[0] == 1 && c.status[0] == DIR_AUTH_UNAVAILABLE &&
	    c.reason[0] == DIR_AUTH_R_DIRECTORY);
	CHECK(c.calls[1] == 0);
	CHECK(c.calls[2] == 1 && c.status[2] == DIR_AUTH_UNAVAILABLE &&
	    c.reason[2] == DIR_AUTH_R_DIRECTORY);
	CHECK(c.calls[3] == 1 && c.status[3] == DIR_AUTH_UNAVAILABLE &&
	    c.reason[3] == DIR_AUTH_R_BUSY);
	dir_get_auth_stats(c.dir, &st);
	CHECK(st.busy == 1 && st.unavailable == 3);
	CHECK(c.dir->nauth == 0);
	dir_free(&c.dir);
	event_base_free(c.base);
	close(fd);
}

/* A login whose bind is out is cancelled, then the dir is freed while
 * the bind is still out: no callback, nothing left behind. */
static void
test_cancel_during_bind(void)
{
	char uri[64];
	int fd = open_port(true, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 1 };
	struct slot s[2] = { { &c, 0 }, { &c, 1 } };
	struct timeval shortly = { 0, 200000 };
	struct dir_auth_stats st;

	c.dir = make_dir(c.base, uri, 5000, 0, NULL);
	seed(c.dir, "alice@example.com", DIR_OK);
	c.reqs[0] = dir_authenticate(c.dir, "alice@example.com", "pw",
	    on_auth, &s[0]);
	c.reqs[1] = dir_authenticate(c.dir, "alice@example.com", "pw2",
	    on_auth, &s[1]);
	event_base_loopexit(c.base, &shortly);
	event_base_dispatch(c.base);
	dir_get_auth_stats(c.dir, &st);
	CHECK(st.binds == 2);           /* both out, on two connections */
	CHECK(c.reqs[0]->bindconn != NULL);
	dir_cancel(&c.reqs[0]);
	CHECK(c.dir->nauth == 1);
	dir_free(&c.dir);
	CHECK(event_base_get_num_events(c.base, EVENT_BASE_COUNT_ADDED |
	    EVENT_BASE_COUNT_ACTIVE) == 0);
	event_base_loop(c.base, EVLOOP_NONBLOCK);
	CHECK(c.calls[0] == 0 && c.calls[1] == 0);
	event_base_free(c.base);
	close(fd);
}

/* The first callback frees the dir: the others never run. */
static void
test_free_in_callback(void)
{
	char uri[64];
	int fd = open_port(false, uri, sizeof(uri));
	struct ctx c = { .base = event_base_new(), .want = 1,
	    .free_dir = true };
	struct slot s[3] = { { &c, 0 }, { &c, 1 }, { &c, 2 } };

	c.dir = make_dir(c.base, uri, 3000, 0, "cn=admin,dc=example,dc=com");
	seed(c.dir, "alice@example.com", DIR_OK);
	c.reqs[0] = dir_authenticate(c.dir, "alice@example.com", "pw",
	    on_auth, &s[0]);
	c.reqs[1] = dir_authenticate(c.dir, "bob@example.com", "pw", on_auth,
	    &s[1]);
	c.reqs[2] = dir_fetch_secret(c.dir, "carol", on_auth, &s[2]);
	run(&c);
	CHECK(c.dir == NULL && c.done == 1);
	CHECK(c.calls[0] + c.calls[1] + c.calls[2] == 1);
	event_base_free(c.base);
	close(fd);
}

int
main(void)
{
	log_init("test_dir_auth", true);
	log_set_level(LOG_LEVEL_ERR);
	UNIT_RUN(test_login_filter);
	UNIT_RUN(test_login_filter_check);
	UNIT_RUN(test_secret_clear);
	UNIT_RUN(test_entry_remove);
	UNIT_RUN(test_config);
	UNIT_RUN(test_refused_unasked);
	UNIT_RUN(test_cached_nouser);
	UNIT_RUN(test_cached_user_refused);
	UNIT_RUN(test_silent_bind);
	UNIT_RUN(test_cancel_during_bind);
	UNIT_RUN(test_free_in_callback);
	return unit_done();
}
