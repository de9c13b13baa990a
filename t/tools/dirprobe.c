/*
 * dirprobe: look addresses up, check logins and fetch secrets through
 * common/dir on a real event loop, for the integration tests
 * (t/integration/test_dir.py, test_dir_auth.py) and for operators who want
 * to see what the daemons see.
 *
 *   dirprobe [-pv] [-s] [-t timeout_ms] [-n repeat] [-c cache_max]
 *            [-a LOGIN:PASSWORD]... [-k LOGIN]... [-d default_domain]
 *            [-f login_filter] [-S SECRET_DN:SECRET_PW] [-P auth_conns]
 *            [-Q auth_queue_max]
 *            URI[,URI...] BASE BINDDN BINDPW [ADDRESS...]
 *
 * Each round does every -a (dir_authenticate, split at the first ':'),
 * every -k (dir_fetch_secret) and every ADDRESS lookup at once; rounds run
 * one after another (so the second round can hit the cache), or all at
 * once with -p.  With -s the work comes from stdin instead, one line
 * each, started as soon as it is read: an address, "!auth LOGIN:PASSWORD",
 * "!secret LOGIN", or the commands "!stats", "!authstats" and "!flush"
 * (print the counters, empty the cache).  BINDDN "" or "-" means no bind.
 *
 * One line per answer, in the order the answers come (A, L and S with
 * control bytes, spaces and backslashes as \xNN):
 *   address=A status=ok mail=M mailHost=H dn=DN      (dn last: may hold spaces)
 *   address=A status=notfound|ambiguous|unavailable
 *   login=L status=ok reason=none mail=M [secret=S] dn=DN
 *   login=L status=failed|unavailable|unsupported reason=R
 * and at the end:
 *   requests=N cache_hits=N errors=N reconnects=N
 *   auths=N secrets=N ok=N failed=N unavailable=N busy=N binds=N
 *       auth_reconnects=N                    (one line; only with -a/-k)
 * Log lines (connects, failover) go to stderr.  Exit status 0, 1 when the
 * configuration is refused, 2 for a usage error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "dir.h"
#include "log.h"
#include "xmalloc.h"

#define PROBE_MAX_URIS 16

enum probe_kind { PROBE_LOOKUP, PROBE_AUTH, PROBE_SECRET };

struct item {
	enum probe_kind kind;
	char *text;                     /* address or login */
	char *password;                 /* PROBE_AUTH */
};

struct probe {
	struct event_base *base;
	struct dir *dir;
	struct item *items;
	size_t nitems;
	bool auth_used;                 /* print the auth counters */
	int rounds, round;
	bool parallel;
	size_t outstanding;
	bool reading;                   /* -s: stdin still open */
	struct event *stdin_ev;
	struct evbuffer *in;
};

struct lookup {
	struct probe *p;
	char *address;                  /* or the login */
};

static const char *const probe_status[] = {
	[DIR_OK] = "ok", [DIR_NOTFOUND] = "notfound",
	[DIR_AMBIGUOUS] = "ambiguous", [DIR_UNAVAILABLE] = "unavailable",
};

static const char *const probe_auth_status[] = {
	[DIR_AUTH_OK] = "ok", [DIR_AUTH_FAILED] = "failed",
	[DIR_AUTH_UNAVAILABLE] = "unavailable",
	[DIR_AUTH_UNSUPPORTED] = "unsupported",
};

static void probe_next(struct probe *p);

static void
probe_usage(void)
{
	fprintf(stderr, "usage: dirprobe [-pv] [-s] [-t timeout_ms] "
	    "[-n repeat] [-c cache_max]\n"
	    "                [-a LOGIN:PASSWORD]... [-k LOGIN]... "
	    "[-d default_domain]\n"
	    "                [-f login_filter] [-S SECRET_DN:SECRET_PW] "
	    "[-P auth_conns]\n"
	    "                [-Q auth_queue_max]\n"
	    "                URI[,URI...] BASE BINDDN BINDPW [ADDRESS...]\n");
	exit(2);
}

static void
probe_stats(struct probe *p)
{
	struct dir_stats st;

	dir_get_stats(p->dir, &st);
	printf("requests=%lu cache_hits=%lu errors=%lu reconnects=%lu\n",
	    st.requests, st.cache_hits, st.errors, st.reconnects);
	fflush(stdout);
}

static void
probe_auth_stats(struct probe *p)
{
	struct dir_auth_stats st;

	dir_get_auth_stats(p->dir, &st);
	printf("auths=%lu secrets=%lu ok=%lu failed=%lu unavailable=%lu "
	    "busy=%lu binds=%lu auth_reconnects=%lu\n", st.auths, st.secrets,
	    st.ok, st.failed, st.unavailable, st.busy, st.binds,
	    st.reconnects);
	fflush(stdout);
}

static const char *
probe_attr(const struct dir_entry *e, const char *attr)
{
	const char *v = dir_entry_get(e, attr);

	return v != NULL ? v : "-";
}

/* Addresses are echoed with control bytes, space and '\\' as \xNN, so
 * that one answer stays one line of space-separated fields. */
static void
probe_print_address(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '\\')
			printf("\\x%02x", *p);
		else
			putchar(*p);
}

static void
probe_answer(void *arg, enum dir_status status,
    const struct dir_entry *const *entries, size_t n)
{
	struct lookup *l = arg;
	struct probe *p = l->p;

	printf("address=");
	probe_print_address(l->address);
	printf(" status=%s", probe_status[status]);
	if (status == DIR_OK && n > 0)
		printf(" mail=%s mailHost=%s dn=%s", probe_attr(entries[0], "mail"),
		    probe_attr(entries[0], "mailHost"), dir_entry_dn(entries[0]));
	printf("\n");
	fflush(stdout);
	free(l->address);
	free(l);
	p->outstanding--;
	probe_next(p);
}

static void
probe_auth_answer(void *arg, const struct dir_auth_result *res)
{
	struct lookup *l = arg;
	struct probe *p = l->p;

	printf("login=");
	probe_print_address(l->address);
	printf(" status=%s reason=%s", probe_auth_status[res->status],
	    dir_auth_reason_name(res->reason));
	if (res->entry != NULL) {
		printf(" mail=%s", probe_attr(res->entry, "mail"));
		if (res->secret != NULL) {
			printf(" secret=");
			probe_print_address(res->secret);
		}
		printf(" dn=%s", dir_entry_dn(res->entry));
	}
	printf("\n");
	fflush(stdout);
	free(l->address);
	free(l);
	p->outstanding--;
	probe_next(p);
}

static void
probe_start_item(struct probe *p, const struct item *it)
{
	struct lookup *l = xmalloc(sizeof(*l));

	l->p = p;
	l->address = xstrdup(it->text);
	p->outstanding++;
	/* The handles are not kept: we never cancel. */
	switch (it->kind) {
	case PROBE_LOOKUP:
		(void)dir_find_user(p->dir, it->text, probe_answer, l);
		break;
	case PROBE_AUTH:
		p->auth_used = true;
		(void)dir_authenticate(p->dir, it->text, it->password,
		    probe_auth_answer, l);
		break;
	case PROBE_SECRET:
		p->auth_used = true;
		(void)dir_fetch_secret(p->dir, it->text, probe_auth_answer, l);
		break;
	}
}

/* "LOGIN:PASSWORD" (split at the first ':') or a login. */
static void
probe_item_parse(struct item *it, enum probe_kind kind, const char *arg)
{
	const char *colon = strchr(arg, ':');

	it->kind = kind;
	it->password = NULL;
	if (kind != PROBE_AUTH) {
		it->text = xstrdup(arg);
		return;
	}
	if (colon == NULL)
		probe_usage();
	it->text = xstrndup(arg, (size_t)(colon - arg));
	it->password = xstrdup(colon + 1);
}

static void
probe_add_item(struct probe *p, enum probe_kind kind, const char *arg)
{
	p->items = xrealloc(p->items, (p->nitems + 1) * sizeof(*p->items));
	probe_item_parse(&p->items[p->nitems++], kind, arg);
}

/* One round; the extra count keeps a cache hit from ending it early. */
static void
probe_round(struct probe *p)
{
	p->round++;
	p->outstanding++;
	for (size_t i = 0; i < p->nitems; i++)
		probe_start_item(p, &p->items[i]);
	p->outstanding--;
}

static void
probe_finish(struct probe *p)
{
	probe_stats(p);
	if (p->auth_used)
		probe_auth_stats(p);
	event_base_loopexit(p->base, NULL);
}

/* Called whenever an answer came: start what is due, or stop. */
static void
probe_next(struct probe *p)
{
	if (p->outstanding > 0 || p->reading)
		return;
	if (p->stdin_ev == NULL && p->round < p->rounds) {
		probe_round(p);
		probe_next(p);
		return;
	}
	probe_finish(p);
}

static void
probe_line(struct probe *p, const char *line)
{
	struct item it;

	if (*line == '\0')
		return;
	if (strcmp(line, "!stats") == 0) {
		probe_stats(p);
		return;
	}
	if (strcmp(line, "!authstats") == 0) {
		probe_auth_stats(p);
		return;
	}
	if (strcmp(line, "!flush") == 0) {
		dir_cache_flush(p->dir);
		return;
	}
	if (strncmp(line, "!auth ", 6) == 0)
		probe_item_parse(&it, PROBE_AUTH, line + 6);
	else if (strncmp(line, "!secret ", 8) == 0)
		probe_item_parse(&it, PROBE_SECRET, line + 8);
	else
		probe_item_parse(&it, PROBE_LOOKUP, line);
	probe_start_item(p, &it);
	free(it.text);
	free(it.password);
}

static void
probe_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	char *line;
	int n;

	(void)what;
	n = evbuffer_read(p->in, fd, 4096);
	while ((line = evbuffer_readln(p->in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
		p->outstanding++;
		probe_line(p, line);
		p->outstanding--;
		free(line);
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		p->reading = false;
		event_del(p->stdin_ev);
		probe_next(p);
	}
}

static size_t
probe_split_uris(char *list, const char **uris)
{
	size_t n = 0;

	for (char *u = strtok(list, ","); u != NULL; u = strtok(NULL, ","))
		if (n < PROBE_MAX_URIS)
			uris[n++] = u;
	return n;
}

static void
probe_start(struct probe *p, bool from_stdin)
{
	if (!from_stdin) {
		if (p->parallel) {
			p->outstanding++;
			while (p->round < p->rounds)
				probe_round(p);
			p->outstanding--;
		}
		probe_next(p);
		return;
	}
	p->reading = true;
	p->in = evbuffer_new();
	p->stdin_ev = event_new(p->base, STDIN_FILENO, EV_READ | EV_PERSIST,
	    probe_stdin_cb, p);
	event_add(p->stdin_ev, NULL);
}

static int
probe_run(struct probe *p, const struct dir_config *conf, bool from_stdin)
{
	p->base = event_base_new();
	if (p->base == NULL)
		log_fatal("event_base_new failed");
	if ((p->dir = dir_new(p->base, conf)) == NULL)
		return 1;
	probe_start(p, from_stdin);
	event_base_dispatch(p->base);
	dir_free(&p->dir);
	for (size_t i = 0; i < p->nitems; i++) {
		free(p->items[i].text);
		free(p->items[i].password);
	}
	free(p->items);
	if (p->stdin_ev != NULL)
		event_free(p->stdin_ev);
	if (p->in != NULL)
		evbuffer_free(p->in);
	event_base_free(p->base);
	return 0;
}

int
main(int argc, char **argv)
{
	struct probe p = { .rounds = 1 };
	struct dir_config conf = { .timeout_ms = 5000, .cache_max = 1000,
	    .cache_ttl_s = 300, .negative_ttl_s = 60 };
	const char *uris[PROBE_MAX_URIS];
	bool from_stdin = false;
	char *secret = NULL, *colon;
	int ch;

	log_init("dirprobe", true);
	while ((ch = getopt(argc, argv, "a:c:d:f:k:n:P:pQ:S:st:v")) != -1) {
		switch (ch) {
		case 'a': probe_add_item(&p, PROBE_AUTH, optarg); break;
		case 'k': probe_add_item(&p, PROBE_SECRET, optarg); break;
		case 'd': conf.default_domain = optarg; break;
		case 'f': conf.login_filter = optarg; break;
		case 'S': secret = optarg; break;
		case 'P': conf.auth_conns = strtoul(optarg, NULL, 10); break;
		case 'Q': conf.auth_queue_max = strtoul(optarg, NULL, 10); break;
		case 'c': conf.cache_max = strtoul(optarg, NULL, 10); break;
		case 'n': p.rounds = atoi(optarg); break;
		case 'p': p.parallel = true; break;
		case 's': from_stdin = true; break;
		case 't': conf.timeout_ms = atoi(optarg); break;
		case 'v': log_set_level(LOG_LEVEL_DEBUG); break;
		default: probe_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 4 || p.rounds < 1)
		probe_usage();
	conf.uris = uris;
	conf.nuris = probe_split_uris(argv[0], uris);
	conf.base = argv[1];
	conf.binddn = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
	conf.bindpw = argv[3];
	if (secret != NULL) {
		if ((colon = strchr(secret, ':')) == NULL)
			probe_usage();
		*colon = '\0';
		conf.secret_binddn = secret;
		conf.secret_bindpw = colon + 1;
	}
	for (int i = 4; i < argc; i++)
		probe_add_item(&p, PROBE_LOOKUP, argv[i]);
	return probe_run(&p, &conf, from_stdin);
}
