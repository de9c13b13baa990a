/*
 * store: the message store daemon (LMTP in; IMAP and POP3 out; HTTP in a
 * later issue) and its admin commands.
 *
 *   store -c msg.conf [-f] [-t]
 *   store -c msg.conf reconstruct [USER...]
 *   store -c msg.conf copy-user [options] USER HOST:PORT   (copy_user.c)
 *
 * Start-up order (STYLE.md): configuration, partitions and index, listeners
 * (privileged), detach, drop privileges, then the commit thread and the
 * event loop.  SIGTERM/SIGINT drain: stop accepting, let open transactions
 * finish (at most STORE_DRAIN_SECS), wait for the commit thread, exit.
 * SIGHUP reloads msg.conf; a broken file is refused and the old one stays.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "admin.h"
#include "conf.h"
#include "copy_user.h"
#include "dir.h"
#include "local.h"
#include "log.h"
#include "proc.h"
#include "sasl_exchange.h"
#include "service.h"
#include "store.h"
#include "tls.h"
#include "xmalloc.h"

#define STORE_DRAIN_SECS 30
#define STORE_SERVICES 3        /* LMTP, IMAP, POP3 */

static struct {
	const char *conf_path;
	struct store_config *cfg;
	struct event_base *base;
	struct lmtp_server *lmtp;
	struct imap_server *imap;
	struct pop3_server *pop3;
	struct service *svc[STORE_SERVICES];
	struct tls_ctx *tls;
	struct event *drain_timer;
	struct admin *admin;
	struct store_metrics_src metrics_src;
	time_t drain_started;
} store;

static void
store_usage(void)
{
	fprintf(stderr,
	    "usage: store -c msg.conf [-f] [-t]\n"
	    "       store -c msg.conf reconstruct [USER...]\n"
	    "       store -c msg.conf copy-user --login ADMIN --password-file "
	    "FILE\n"
	    "           [--starttls [--cafile FILE]] [--append] USER HOST:PORT\n");
	exit(2);
}

static struct store_config *
store_load_config(const char *path)
{
	char *errs = NULL;
	struct store_config *cfg = config_load(path, &errs);

	if (cfg == NULL) {
		fprintf(stderr, "%s", errs ? errs : "configuration error\n");
		free(errs);
	}
	return cfg;
}

static void
store_prepare_partitions(const struct store_config *cfg)
{
	for (int i = 0; i < cfg->npartitions; i++) {
		if (!userarea_prepare(&cfg->partitions[i]))
			log_fatal("partition %s: mkdir(\"%s\"): %s",
			    cfg->partitions[i].name, cfg->partitions[i].path,
			    strerror(errno));
		userarea_clean_tmp(&cfg->partitions[i]);
	}
}

static int
store_sessions(void)
{
	int n = 0;

	for (size_t i = 0; i < STORE_SERVICES; i++)
		n += store.svc[i]->nsessions;
	return n;
}

static void
store_on_change(void *arg, const char *user)
{
	(void)arg;
	imap_server_changed(store.imap, user);
}

static void
store_on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (store_sessions() == 0 ||
	    time(NULL) - store.drain_started >= STORE_DRAIN_SECS)
		event_base_loopexit(store.base, NULL);
}

static void
store_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tick = { 0, 100000 };

	(void)what;
	(void)arg;
	if (store.drain_timer != NULL)
		return;
	log_info("signal=%d draining sessions=%d", (int)sig,
	    store_sessions());
	store.drain_started = time(NULL);
	lmtp_server_drain(store.lmtp);
	imap_server_drain(store.imap);
	pop3_server_drain(store.pop3);
	store.drain_timer = event_new(store.base, -1, EV_PERSIST,
	    store_on_drain_tick, NULL);
	event_add(store.drain_timer, &tick);
}

/* Old configurations stay allocated: sessions and lookups in flight may
 * still point into them (reloads are rare; the cost is a few KiB each). */
static void
store_on_reload(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	struct store_config *cfg = store_load_config(store.conf_path);
	if (cfg == NULL) {
		log_err("reload refused: %s has errors; keeping the running "
		    "configuration", store.conf_path);
		return;
	}
	local_apply_log_level(&cfg->local);
	for (size_t i = 0; i < STORE_SERVICES; i++)
		service_set_config(store.svc[i], cfg);
	commit_set_config(cfg);
	store.cfg = cfg;
	log_info("reloaded %s (listeners, partitions and directory settings "
	    "apply at restart)", store.conf_path);
}

static void
store_serve(bool foreground)
{
	struct store_config *cfg = store.cfg;
	char *err = NULL;

	evthread_use_pthreads();
	store.base = event_base_new();
	const char *sasl_err = sasl_exchange_setup();
	if (sasl_err != NULL)
		log_fatal("AUTHENTICATE: %s", sasl_err);
	store_prepare_partitions(cfg);
	store.lmtp = lmtp_server_new(store.base, cfg);
	store.imap = imap_server_new(store.base, cfg);
	store.pop3 = pop3_server_new(store.base, cfg);
	store.svc[0] = lmtp_server_service(store.lmtp);
	store.svc[1] = imap_server_service(store.imap);
	store.svc[2] = pop3_server_service(store.pop3);
	store.tls = local_tls_server(&cfg->local);
	if (!lmtp_server_listen(store.lmtp, &err) ||
	    !imap_server_listen(store.imap, store.tls, &err) ||
	    !pop3_server_listen(store.pop3, store.tls, &err))
		log_fatal("%s", err);
	if (*cfg->admin_listen != '\0' &&
	    (store.admin = admin_start(store.base, cfg->admin_listen,
	    store_metrics, &store.metrics_src, &err)) == NULL)
		log_fatal("%s", err);
	if (!foreground && daemon(0, 0) == -1)
		log_fatal("daemon: %s", strerror(errno));
	event_reinit(store.base);
	/* LMDB must be opened by the process that uses it: after daemon(). */
	struct db *db = mindex_open(cfg->dbdir, cfg->dbmapsize, &err);
	if (db == NULL)
		log_fatal("%s", err);

	const char **paths = xcalloc((size_t)cfg->npartitions + 2,
	    sizeof(*paths));
	paths[0] = cfg->dbdir;
	for (int i = 0; i < cfg->npartitions; i++)
		paths[i + 1] = cfg->partitions[i].path;
	if (!proc_drop_privileges(cfg->local.run_user, paths, &err))
		log_fatal("%s", err);
	free(paths);
	store.metrics_src.lmtp = store.lmtp;
	store.metrics_src.imap = store.imap;
	store.metrics_src.pop3 = store.pop3;
	store.metrics_src.dir = local_dir_open(store.base, &cfg->local);
	for (size_t i = 0; i < STORE_SERVICES; i++)
		service_attach(store.svc[i], store.metrics_src.dir, db);
	if (!commit_start(store.base, db, cfg))
		log_fatal("commit thread: %s", strerror(errno));
	commit_set_notify(store_on_change, NULL);

	struct event *sigs[] = {
		evsignal_new(store.base, SIGTERM, store_on_stop, NULL),
		evsignal_new(store.base, SIGINT, store_on_stop, NULL),
		evsignal_new(store.base, SIGHUP, store_on_reload, NULL),
	};
	for (size_t i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	log_info("store started host=%s partitions=%d", cfg->hostname,
	    cfg->npartitions);
	event_base_dispatch(store.base);
	commit_stop();
	admin_stop(&store.admin);
	tls_ctx_free(&store.tls);
	log_info("store stopped");
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	db_close(&db);
}

int
main(int argc, char **argv)
{
	bool foreground = false, test_only = false;
	int ch;

	/* "+": stop at the command, whose own options come after it. */
	while ((ch = getopt(argc, argv, "+c:ft")) != -1) {
		switch (ch) {
		case 'c': store.conf_path = optarg; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		default: store_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (store.conf_path == NULL)
		store_usage();
	bool command = argc > 0;
	log_init("store", foreground || test_only || command);
	proc_ignore_sigpipe();
	if ((store.cfg = store_load_config(store.conf_path)) == NULL)
		return 1;
	local_apply_log_level(&store.cfg->local);
	if (test_only) {
		printf("%s: configuration ok\n", store.conf_path);
		return 0;
	}
	if (command && strcmp(argv[0], "reconstruct") == 0)
		return reconstruct_main(store.cfg, argc - 1, argv + 1);
	if (command && strcmp(argv[0], "copy-user") == 0)
		return copy_user_main(store.cfg, argc, argv);
	if (command)
		store_usage();
	store_serve(foreground);
	return 0;
}
