/*
 * mta: the SMTP relay daemon (inbound, outbound, submission: its
 * configuration decides) and its operator commands.
 *
 *   mta -c msg.conf [-f] [-t]
 *   mta -c msg.conf test-rewrite ADDRESS [--from ADDR] [--channel NAME]
 *   mta -c msg.conf test-mapping TABLE PROBE [--tests ATEL]
 *
 * Start-up order (STYLE.md): configuration (msg.conf, imta.cnf, mappings,
 * aliases: all or nothing), TLS, listeners (privileged), detach, the
 * queue (its commit thread starts after the fork), drop privileges, the
 * directory, then the event loop.  SIGTERM/SIGINT drain: stop accepting,
 * let transactions finish (at most MTA_DRAIN_SECS), wait for the queue's
 * commits, exit.  SIGHUP loads a new generation of every file; a broken
 * one is refused with its errors and the running one stays.  Sessions
 * keep the generation they started with.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "dir.h"
#include "dns.h"
#include "log.h"
#include "mta.h"
#include "proc.h"
#include "sasl_exchange.h"
#include "tls.h"

#define MTA_DRAIN_SECS 30

static struct {
	const char *conf_path;
	struct mta_config *cfg;
	struct event_base *base;
	struct smtp_server *smtp;
	struct queue *queue;
	struct dir *dir;
	struct dns *dns;
	struct tls_ctx *tls;
	struct admin *admin;
	struct event *drain_timer;
	time_t drain_started;
} mta;

static void
mta_usage(void)
{
	fprintf(stderr,
	    "usage: mta -c msg.conf [-f] [-t]\n"
	    "       mta -c msg.conf test-rewrite ADDRESS [--from ADDR] "
	    "[--channel NAME]\n"
	    "       mta -c msg.conf test-mapping TABLE PROBE [--tests ATEL]\n");
	exit(2);
}

static struct mta_config *
mta_load_config(const char *path)
{
	char *errs = NULL;
	struct mta_config *cfg = mta_config_load(path, &errs);

	if (cfg == NULL) {
		fprintf(stderr, "%s", errs ? errs : "configuration error\n");
		if (errs != NULL)
			log_err("configuration refused:\n%s", errs);
		free(errs);
	}
	return cfg;
}

static void
mta_metrics(void *arg, struct evbuffer *out)
{
	struct dir_stats ds;
	unsigned long long batches = 0, reqs = 0;

	(void)arg;
	admin_metric_one(out, "mta_smtp_sessions", "gauge",
	    "Open SMTP sessions.",
	    (unsigned long long)smtp_server_sessions(mta.smtp));
	admin_metric_one(out, "mta_smtp_sessions_total", "counter",
	    "SMTP sessions accepted.", mta_stats.sessions);
	admin_metric_one(out, "mta_messages_total", "counter",
	    "Messages queued.", mta_stats.messages);
	admin_metric_one(out, "mta_recipients_total", "counter",
	    "Recipients of queued messages.", mta_stats.recipients);
	admin_metric_one(out, "mta_bytes_total", "counter",
	    "Bytes of queued messages.", mta_stats.bytes);
	admin_metric_one(out, "mta_recipients_refused_total", "counter",
	    "RCPT TO refused.", mta_stats.refused_rcpts);
	admin_metric_one(out, "mta_messages_refused_total", "counter",
	    "Messages refused after their data.", mta_stats.refused_messages);
	admin_metric_one(out, "mta_queue_failures_total", "counter",
	    "Messages the queue could not take (452).", mta_stats.tempfails);
	queue_counts(mta.queue, &batches, &reqs);
	admin_metric_one(out, "mta_queue_batches_total", "counter",
	    "Group commits of the queue.", batches);
	if (mta.dir != NULL) {
		dir_get_stats(mta.dir, &ds);
		admin_metric_one(out, "mta_ldap_requests_total", "counter",
		    "Directory requests.", ds.requests);
		admin_metric_one(out, "mta_ldap_errors_total", "counter",
		    "Directory errors.", ds.errors);
	}
}

static void
mta_on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (smtp_server_sessions(mta.smtp) == 0 ||
	    time(NULL) - mta.drain_started >= MTA_DRAIN_SECS)
		event_base_loopexit(mta.base, NULL);
}

static void
mta_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tick = { 0, 100000 };

	(void)what;
	(void)arg;
	if (mta.drain_timer != NULL)
		return;
	log_info("signal=%d draining sessions=%d", (int)sig,
	    smtp_server_sessions(mta.smtp));
	mta.drain_started = time(NULL);
	smtp_server_drain(mta.smtp);
	mta.drain_timer = event_new(mta.base, -1, EV_PERSIST, mta_on_drain_tick,
	    NULL);
	event_add(mta.drain_timer, &tick);
}

static void
mta_on_reload(evutil_socket_t sig, short what, void *arg)
{
	char *err = NULL;

	(void)sig;
	(void)what;
	(void)arg;
	struct mta_config *cfg = mta_load_config(mta.conf_path);
	if (cfg == NULL) {
		log_err("reload refused: %s or a file it names has errors; "
		    "keeping the running configuration", mta.conf_path);
		return;
	}
	if (!track_open(cfg->track_path, &err)) {
		log_err("reload: %s; the tracking log stays as it was", err);
		free(err);
	}
	if (mta.dir != NULL)
		dir_cache_flush(mta.dir);
	local_apply_log_level(&cfg->local);
	smtp_server_set_config(mta.smtp, cfg);
	mta_config_unref(&mta.cfg);
	mta.cfg = cfg;
	log_info("reloaded %s (listeners, queue, TLS and directory settings "
	    "apply at restart)", mta.conf_path);
}

static void
mta_start_listening(bool foreground)
{
	char *err = NULL;

	mta.tls = local_tls_server(&mta.cfg->local);
	mta.smtp = smtp_server_new(mta.base, mta.cfg, mta.tls);
	if (!smtp_server_listen(mta.smtp, &err))
		log_fatal("%s", err);
	if (*mta.cfg->admin_listen != '\0' &&
	    (mta.admin = admin_start(mta.base, mta.cfg->admin_listen,
	    mta_metrics, NULL, &err)) == NULL)
		log_fatal("%s", err);
	if (!foreground && daemon(0, 0) == -1)
		log_fatal("daemon: %s", strerror(errno));
	event_reinit(mta.base);
}

static void
mta_serve(bool foreground)
{
	struct mta_config *cfg = mta.cfg;
	char *err = NULL;

	evthread_use_pthreads();
	mta.base = event_base_new();
	const char *sasl_err = sasl_exchange_setup();
	if (sasl_err != NULL)
		log_fatal("AUTH: %s", sasl_err);
	mta_start_listening(foreground);
	/* The queue's thread must belong to the process that serves. */
	if ((mta.queue = queue_open(mta.base, cfg->queue_path, &err)) == NULL)
		log_fatal("queue: %s", err);
	if (*cfg->jobctl_socket != '\0')
		queue_set_notify(mta.queue, cfg->jobctl_socket);
	if (!track_open(cfg->track_path, &err))
		log_fatal("%s", err);
	const char *paths[] = { cfg->queue_path, NULL };
	if (!proc_drop_privileges(cfg->local.run_user, paths, &err))
		log_fatal("%s", err);
	mta.dir = local_dir_open(mta.base, &cfg->local);
	struct dns_config dc = { .servers = cfg->dns_servers,
	    .timeout_ms = cfg->dns_timeout_ms };
	if ((mta.dns = dns_new(mta.base, &dc, &err)) == NULL)
		log_fatal("mta.dns.servers: %s", err);
	smtp_server_attach(mta.smtp, mta.queue, mta.dir, mta.dns);

	struct event *sigs[] = {
		evsignal_new(mta.base, SIGTERM, mta_on_stop, NULL),
		evsignal_new(mta.base, SIGINT, mta_on_stop, NULL),
		evsignal_new(mta.base, SIGHUP, mta_on_reload, NULL),
	};
	for (size_t i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	log_info("mta started host=%s queue=%s", cfg->local.hostname,
	    cfg->queue_path);
	event_base_dispatch(mta.base);
	smtp_server_free(&mta.smtp);
	queue_close(&mta.queue);
	admin_stop(&mta.admin);
	dir_free(&mta.dir);
	dns_free(&mta.dns);
	tls_ctx_free(&mta.tls);
	track_close();
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	if (mta.drain_timer != NULL)
		event_free(mta.drain_timer);
	log_info("mta stopped");
}

int
main(int argc, char **argv)
{
	bool foreground = false, test_only = false;
	int ch;

	while ((ch = getopt(argc, argv, "+c:ft")) != -1) {
		switch (ch) {
		case 'c': mta.conf_path = optarg; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		default: mta_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (mta.conf_path == NULL)
		mta_usage();
	bool command = argc > 0;
	log_init("mta", foreground || test_only || command);
	proc_ignore_sigpipe();
	if ((mta.cfg = mta_load_config(mta.conf_path)) == NULL)
		return 1;
	local_apply_log_level(&mta.cfg->local);
	if (test_only) {
		printf("%s: configuration ok\n", mta.conf_path);
		return 0;
	}
	if (command && strcmp(argv[0], "test-rewrite") == 0)
		return tools_test_rewrite(mta.cfg, argc - 1, argv + 1);
	if (command && strcmp(argv[0], "test-mapping") == 0)
		return tools_test_mapping(mta.cfg, argc - 1, argv + 1);
	if (command)
		mta_usage();
	mta_serve(foreground);
	mta_config_unref(&mta.cfg);
	return 0;
}
