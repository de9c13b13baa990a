/*
 * dirprobe: look addresses up through common/dir on a real event loop, for
 * the integration tests (t/integration/test_dir.py) and for operators who
 * want to see what the daemons see.
 *
 *   dirprobe [-pv] [-s] [-t timeout_ms] [-n repeat] [-c cache_max]
 *            URI[,URI...] BASE BINDDN BINDPW [ADDRESS...]
 *
 * Each round looks every ADDRESS up at once; rounds run one after another
 * (so the second round can hit the cache), or all at once with -p.  With
 * -s the addresses come from stdin instead, one per line, each looked up
 * as soon as it is read; the lines "!stats" and "!flush" print the
 * counters and empty the cache.  BINDDN "" or "-" means no bind.
 *
 * One line per answer, in the order the answers come (A with control
 * bytes, spaces and backslashes as \xNN):
 *   address=A status=ok mail=M mailHost=H dn=DN      (dn last: may hold spaces)
 *   address=A status=notfound|ambiguous|unavailable
 * and at the end:
 *   requests=N cache_hits=N errors=N reconnects=N
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

struct probe {
	struct event_base *base;
	struct dir *dir;
	char **addrs;
	size_t naddrs;
	int rounds, round;
	bool parallel;
	size_t outstanding;
	bool reading;                   /* -s: stdin still open */
	struct event *stdin_ev;
	struct evbuffer *in;
};

struct lookup {
	struct probe *p;
	char *address;
};

static const char *const probe_status[] = {
	[DIR_OK] = "ok", [DIR_NOTFOUND] = "notfound",
	[DIR_AMBIGUOUS] = "ambiguous", [DIR_UNAVAILABLE] = "unavailable",
};

static void probe_next(struct probe *p);

static void
probe_usage(void)
{
	fprintf(stderr, "usage: dirprobe [-pv] [-s] [-t timeout_ms] "
	    "[-n repeat] [-c cache_max]\n"
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
probe_lookup(struct probe *p, const char *address)
{
	struct lookup *l = xmalloc(sizeof(*l));

	l->p = p;
	l->address = xstrdup(address);
	p->outstanding++;
	/* The handle is not kept: we never cancel. */
	(void)dir_find_user(p->dir, address, probe_answer, l);
}

/* One round; the extra count keeps a cache hit from ending it early. */
static void
probe_round(struct probe *p)
{
	p->round++;
	p->outstanding++;
	for (size_t i = 0; i < p->naddrs; i++)
		probe_lookup(p, p->addrs[i]);
	p->outstanding--;
}

static void
probe_finish(struct probe *p)
{
	probe_stats(p);
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
	if (*line == '\0')
		return;
	if (strcmp(line, "!stats") == 0) {
		probe_stats(p);
		return;
	}
	if (strcmp(line, "!flush") == 0) {
		dir_cache_flush(p->dir);
		return;
	}
	probe_lookup(p, line);
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
	int ch;

	log_init("dirprobe", true);
	while ((ch = getopt(argc, argv, "c:n:pst:v")) != -1) {
		switch (ch) {
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
	p.addrs = argv + 4;
	p.naddrs = (size_t)argc - 4;
	return probe_run(&p, &conf, from_stdin);
}
