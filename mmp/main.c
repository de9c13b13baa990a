/*
 * mmp: the IMAP and POP3 proxy (see mmp.h and mmp(8)).
 *
 *   mmp -c msg.conf [-f] [-t]
 *
 * Start-up order (STYLE.md): configuration, libsasl2, TLS contexts,
 * listeners (privileged), detach, drop privileges, then the directory,
 * the resolver and the event loop.  SIGTERM/SIGINT: stop accepting, end
 * the sessions not yet logged in, give relayed ones MMP_DRAIN_SECS to
 * finish, exit.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "authcache.h"
#include "dir.h"
#include "dns.h"
#include "local.h"
#include "log.h"
#include "mmp.h"
#include "proc.h"
#include "sasl_exchange.h"
#include "tls.h"

#define MMP_DRAIN_SECS 10

static struct {
	const char *conf_path;
	struct mmp_server srv;
	struct admin *admin;
	struct event *drain_timer;
	long long drain_started;            /* proc_monotonic_ms() */
} mmp;

static void
mmp_usage(void)
{
	fprintf(stderr, "usage: mmp -c msg.conf [-f] [-t]\n");
	exit(2);
}

static bool
mmp_rules(struct mmp_server *srv, const struct mmp_config *cfg,
    const char **bad)
{
	srv->allow = cidr_list(cfg->allow, &srv->nallow, bad);
	srv->deny = cidr_list(cfg->deny, &srv->ndeny, bad);
	srv->proxy_from = cidr_list(cfg->proxy_from, &srv->nproxy_from, bad);
	return srv->allow != NULL && srv->deny != NULL && srv->proxy_from != NULL;
}

static struct mmp_config *
mmp_load_config(const char *path)
{
	char *errs = NULL;
	struct mmp_config *cfg = mmp_config_load(path, &errs);
	const char *bad = NULL;
	struct mmp_server probe = { 0 };

	if (cfg == NULL) {
		fprintf(stderr, "%s", errs ? errs : "configuration error\n");
		free(errs);
		return NULL;
	}
	if (!mmp_rules(&probe, cfg, &bad)) {
		fprintf(stderr, "%s: \"%s\" is not an address or network "
		    "(mmp.allow, mmp.deny, mmp.proxyprotocolfrom)\n", path, bad);
		mmp_config_free(&cfg);
	}
	free(probe.allow);
	free(probe.deny);
	free(probe.proxy_from);
	return cfg;
}

/* Thousands of idle sessions need as many descriptors as allowed: two
 * per relayed session, and some for the directory and listeners. */
static void
mmp_raise_fd_limit(const struct mmp_config *cfg)
{
	rlim_t need = 2 * (rlim_t)cfg->max_sessions + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	}
	if (rl.rlim_cur < need)
		log_warn("open files limited to %llu: mmp.maxsessions %d needs "
		    "%llu (raise the hard limit, or lower mmp.maxsessions)",
		    (unsigned long long)rl.rlim_cur, cfg->max_sessions,
		    (unsigned long long)need);
}

static struct tls_ctx *
mmp_backend_tls(const struct mmp_config *cfg)
{
	struct tls_client_config tc = {
		.verify = *cfg->backend_cafile ? TLS_VERIFY_PEER : TLS_VERIFY_NONE,
		.ca_file = *cfg->backend_cafile ? cfg->backend_cafile : NULL,
		.min_protocol = cfg->local.tls_min_protocol,
	};
	char *err = NULL;
	struct tls_ctx *ctx;

	if (!cfg->backend_starttls)
		return NULL;
	if ((ctx = tls_client_ctx_new(&tc, &err)) == NULL)
		log_fatal("mmp.backend.starttls: %s", err);
	return ctx;
}

static void
mmp_on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (mmp.srv.nsessions == 0 ||
	    proc_monotonic_ms() - mmp.drain_started >= MMP_DRAIN_SECS * 1000)
		event_base_loopexit(mmp.srv.base, NULL);
}

static void
mmp_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tick = { 0, 100000 };

	(void)what;
	(void)arg;
	if (mmp.drain_timer != NULL)
		return;
	log_info("signal=%d draining sessions=%d", (int)sig, mmp.srv.nsessions);
	mmp.drain_started = proc_monotonic_ms();
	mmp_drain(&mmp.srv);
	mmp.drain_timer = event_new(mmp.srv.base, -1, EV_PERSIST,
	    mmp_on_drain_tick, NULL);
	event_add(mmp.drain_timer, &tick);
}

static void
mmp_on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_warn("SIGHUP: the mmp does not reload; restart it (it keeps no "
	    "state: behind a balancer, restart one at a time)");
}

/* Listeners and the admin port while privileged, then detach. */
static void
mmp_start_listening(bool foreground)
{
	struct mmp_server *srv = &mmp.srv;
	const char *bad = NULL;
	char *err = NULL;

	if (!mmp_rules(srv, srv->cfg, &bad))
		log_fatal("bad network \"%s\"", bad);
	if (!mmp_listen(srv, &err))
		log_fatal("%s", err);
	if (*srv->cfg->admin_listen != '\0' &&
	    (mmp.admin = admin_start(srv->base, srv->cfg->admin_listen,
	    mmp_metrics, srv, &err)) == NULL)
		log_fatal("%s", err);
	if (!foreground && daemon(0, 0) == -1)
		log_fatal("daemon: %s", strerror(errno));
	event_reinit(srv->base);
}

static void
mmp_open_services(struct mmp_server *srv)
{
	const struct mmp_config *cfg = srv->cfg;
	struct dns_config dc = { .servers = cfg->dns_servers,
	    .timeout_ms = cfg->dns_timeout_ms };
	char *err = NULL;

	srv->dir = local_dir_open(srv->base, &cfg->local);
	if ((srv->dns = dns_new(srv->base, &dc, &err)) == NULL)
		log_fatal("mmp.dns.servers: %s", err);
	srv->penalty = mmp_penalty_new(cfg->bad_login_max_delay,
	    cfg->bad_login_window);
	if (cfg->auth_cache_ttl > 0)
		srv->authcache = authcache_new(cfg->auth_cache_ttl,
		    cfg->auth_cache_size);
}

static void
mmp_serve(bool foreground)
{
	struct mmp_server *srv = &mmp.srv;
	char *err = NULL;

	const char *sasl_err = sasl_exchange_setup();
	if (sasl_err != NULL)
		log_fatal("AUTHENTICATE: %s", sasl_err);
	evthread_use_pthreads();
	srv->base = event_base_new();
	srv->tls = local_tls_server(&srv->cfg->local);
	srv->backend_tls = mmp_backend_tls(srv->cfg);
	mmp_raise_fd_limit(srv->cfg);
	mmp_start_listening(foreground);
	if (!proc_drop_privileges(srv->cfg->local.run_user, NULL, &err))
		log_fatal("%s", err);
	mmp_open_services(srv);

	struct event *sigs[] = {
		evsignal_new(srv->base, SIGTERM, mmp_on_stop, NULL),
		evsignal_new(srv->base, SIGINT, mmp_on_stop, NULL),
		evsignal_new(srv->base, SIGHUP, mmp_on_hup, NULL),
	};
	for (size_t i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	log_info("mmp started host=%s", srv->cfg->local.hostname);
	event_base_dispatch(srv->base);
	mmp_server_close(srv);
	admin_stop(&mmp.admin);
	dir_free(&srv->dir);
	dns_free(&srv->dns);
	mmp_penalty_free(&srv->penalty);
	authcache_free(&srv->authcache);
	tls_ctx_free(&srv->tls);
	tls_ctx_free(&srv->backend_tls);
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	if (mmp.drain_timer != NULL)
		event_free(mmp.drain_timer);
	free(srv->allow);
	free(srv->deny);
	free(srv->proxy_from);
	event_base_free(srv->base);
	log_info("mmp stopped");
}

int
main(int argc, char **argv)
{
	bool foreground = false, test_only = false;
	int ch;

	while ((ch = getopt(argc, argv, "c:ft")) != -1) {
		switch (ch) {
		case 'c': mmp.conf_path = optarg; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		default: mmp_usage();
		}
	}
	if (mmp.conf_path == NULL || optind != argc)
		mmp_usage();
	log_init("mmp", foreground || test_only);
	proc_ignore_sigpipe();
	if ((mmp.srv.cfg = mmp_load_config(mmp.conf_path)) == NULL)
		return 1;
	local_apply_log_level(&mmp.srv.cfg->local);
	if (test_only) {
		printf("%s: configuration ok\n", mmp.conf_path);
		mmp_config_free(&mmp.srv.cfg);
		return 0;
	}
	mmp_serve(foreground);
	mmp_config_free(&mmp.srv.cfg);
	return 0;
}
