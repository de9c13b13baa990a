/*
 * metrics: the store's counters in Prometheus text format, for the admin
 * endpoint (common/admin).  Counters are plain integers updated on the
 * loop thread; the commit thread's are read under its lock.
 */
#include <event2/buffer.h>

#include "admin.h"
#include "dir.h"
#include "service.h"
#include "store.h"

struct store_stats store_stats;

void
store_metrics(void *arg, struct evbuffer *out)
{
	const struct store_metrics_src *src = arg;
	struct dir_stats ds;
	unsigned long long batches, reqs;

	admin_metric_one(out, "store_lmtp_sessions", "gauge", "Open LMTP sessions.",
	    (unsigned long long)lmtp_server_service(src->lmtp)->nsessions);
	admin_metric_one(out, "store_imap_sessions", "gauge", "Open IMAP sessions.",
	    (unsigned long long)imap_server_service(src->imap)->nsessions);
	admin_metric_one(out, "store_pop3_sessions", "gauge", "Open POP3 sessions.",
	    (unsigned long long)pop3_server_service(src->pop3)->nsessions);
	admin_metric_one(out, "store_lmtp_sessions_total", "counter",
	    "LMTP sessions accepted.", store_stats.sessions);
	admin_metric_one(out, "store_lmtp_sessions_refused_total", "counter",
	    "LMTP sessions refused at connect (maxsessions).",
	    store_stats.sessions_refused);
	admin_metric_help(out, "store_lmtp_rcpt_total", "counter",
	    "RCPT answers by class.");
	admin_metric(out, "store_lmtp_rcpt_total", "result=\"ok\"", store_stats.rcpt_ok);
	admin_metric(out, "store_lmtp_rcpt_total", "result=\"temporary\"", store_stats.rcpt_temp);
	admin_metric(out, "store_lmtp_rcpt_total", "result=\"permanent\"", store_stats.rcpt_perm);
	admin_metric_help(out, "store_deliveries_total", "counter",
	    "Per-recipient answers after the message data.");
	admin_metric(out, "store_deliveries_total", "result=\"delivered\"", store_stats.delivered);
	admin_metric(out, "store_deliveries_total", "result=\"deferred\"", store_stats.deferred);
	admin_metric(out, "store_deliveries_total", "result=\"refused\"", store_stats.refused);
	admin_metric_one(out, "store_delivered_bytes_total", "counter",
	    "Bytes of delivered messages, once per recipient.", store_stats.bytes);
	commit_counts(&batches, &reqs);
	admin_metric_one(out, "store_commit_batches_total", "counter",
	    "Group commits (one LMDB transaction each).", batches);
	admin_metric_one(out, "store_commit_messages_total", "counter",
	    "Messages made durable by group commits.", reqs);
	if (src->dir != NULL) {
		dir_get_stats(src->dir, &ds);
		admin_metric_one(out, "store_ldap_requests_total", "counter",
		    "Directory lookups.", ds.requests);
		admin_metric_one(out, "store_ldap_cache_hits_total", "counter",
		    "Directory lookups answered from the cache.", ds.cache_hits);
		admin_metric_one(out, "store_ldap_errors_total", "counter",
		    "Directory lookups that found no server.", ds.errors);
		struct dir_auth_stats as;
		dir_get_auth_stats(src->dir, &as);
		admin_metric_help(out, "store_logins_total", "counter",
		    "Password checks (IMAP and POP3) by answer.");
		admin_metric(out, "store_logins_total", "result=\"ok\"", as.ok);
		admin_metric(out, "store_logins_total", "result=\"failed\"", as.failed);
		admin_metric(out, "store_logins_total", "result=\"unavailable\"",
		    as.unavailable);
	}
}
