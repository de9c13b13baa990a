/*
 * config: the store's keys of msg.conf (documented in msg.conf(5)).
 *
 * The key table is the single list of what the store reads; config_load()
 * validates the file against it and fills struct store_config.  A broken
 * file yields every error with file:line, and nothing else.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "local.h"
#include "store.h"
#include "xmalloc.h"

static const struct conf_key store_keys[] = {
	{ "service.lmtp.listen", CONF_LIST, "127.0.0.1:24", "LMTP listeners" },
	{ "service.lmtp.guaranteedlisten", CONF_LIST, "", "LMTP listeners that ignore quota" },
	{ "service.lmtp.maxsessions", CONF_INT, "1000", "concurrent sessions" },
	{ "service.lmtp.maxmessagesize", CONF_SIZE, "50m", "bytes" },
	{ "service.lmtp.maxrecipients", CONF_INT, "1000", "per transaction" },
	{ "service.lmtp.maxlinelength", CONF_INT, "2048", "command line bytes" },
	{ "service.lmtp.maxheadersize", CONF_SIZE, "256k", "header block bytes" },
	{ "service.lmtp.maxheaderfields", CONF_INT, "1000", "header fields" },
	{ "service.lmtp.maxerrors", CONF_INT, "20", "protocol errors before hang-up" },
	{ "service.lmtp.idletimeout", CONF_DURATION, "pt5m", "idle session" },
	{ "service.imap.listen", CONF_LIST, "", "IMAP listeners (143)" },
	{ "service.imap.tlslisten", CONF_LIST, "", "IMAP listeners with implicit TLS (993)" },
	{ "service.imap.maxsessions", CONF_INT, "10000", "concurrent sessions" },
	{ "service.imap.maxsessionsperclient", CONF_INT, "100", "sessions per client address" },
	{ "service.imap.maxsessionsperuser", CONF_INT, "50", "sessions per user" },
	{ "service.imap.maxlinelength", CONF_INT, "8192", "command line bytes" },
	{ "service.imap.maxcommandsize", CONF_SIZE, "64k", "command bytes, literals included (not APPEND)" },
	{ "service.imap.maxerrors", CONF_INT, "20", "protocol errors before BYE" },
	{ "service.imap.maxbadlogins", CONF_INT, "3", "failed logins before BYE" },
	{ "service.imap.plaintextmincipher", CONF_INT, "1", "0: passwords allowed without TLS" },
	{ "service.imap.preauthtimeout", CONF_DURATION, "pt1m", "idle time before login" },
	{ "service.imap.idletimeout", CONF_DURATION, "pt30m", "idle time after login" },
	{ "service.pop.listen", CONF_LIST, "", "POP3 listeners (110)" },
	{ "service.pop.tlslisten", CONF_LIST, "", "POP3 listeners with implicit TLS (995)" },
	{ "service.pop.maxsessions", CONF_INT, "10000", "concurrent sessions" },
	{ "service.pop.maxsessionsperclient", CONF_INT, "100", "sessions per client address" },
	{ "service.pop.maxlinelength", CONF_INT, "4096", "command line bytes" },
	{ "service.pop.maxerrors", CONF_INT, "10", "protocol errors before hang-up" },
	{ "service.pop.maxbadlogins", CONF_INT, "3", "failed logins before hang-up" },
	{ "service.pop.plaintextmincipher", CONF_INT, "1", "0: passwords allowed without TLS" },
	{ "service.pop.preauthtimeout", CONF_DURATION, "pt1m", "idle time before login" },
	{ "service.pop.idletimeout", CONF_DURATION, "pt10m", "idle time after login (RFC 1939)" },
	{ "store.mailhosts", CONF_LIST, NULL, "mailHost values that mean this store" },
	{ "store.dbdir", CONF_STR, "/var/lib/mailsuite/db", "system area (LMDB)" },
	{ "store.dbmapsize", CONF_SIZE, "64m", "initial LMDB map size" },
	{ "store.partition.*.path", CONF_STR, NULL, "a partition's directory" },
	{ "store.defaultpartition", CONF_STR, "primary", "partition of new users" },
	{ "store.quotaenforcement", CONF_BOOL, "yes", "refuse mail over quota" },
	{ "store.quotawarn", CONF_INT, "90", "warning threshold, percent" },
	{ "store.quotagraceperiod", CONF_DURATION, "p7d", "452 before 552" },
	{ "store.defaultmailboxquota", CONF_INT, "-1", "bytes, -1 unlimited" },
	{ "store.defaultmessagequota", CONF_INT, "-1", "messages, -1 unlimited" },
	{ "store.admins", CONF_LIST, "", "logins allowed to act for any user (proxies)" },
	{ "store.trustedproxies", CONF_LIST, "", "proxies (the mmps) exempt from maxsessionsperclient" },
	{ "store.admincachettl", CONF_DURATION, "pt5m", "an admin's good password remembered (0: never)" },
	{ "store.guaranteedsenders", CONF_LIST, "", "senders whose mail ignores quota" },
	{ "store.fsyncthreads", CONF_INT, "8", "parallel fsyncs in group commit" },
	{ "store.admin.listen", CONF_STR, "", "health and metrics (HTTP), host:port" },
	{ NULL, CONF_STR, NULL, NULL },
};

static const char *const store_namespaces[] = {
	"store.", "service.lmtp.", "service.imap.", "service.pop.",
	LOCAL_NAMESPACES,
	NULL
};


static void
config_add_partition(void *arg, const char *key, const char *value)
{
	struct store_config *cfg = arg;
	const char *name = key + strlen("store.partition.");
	const char *dot = strchr(name, '.');

	if (dot == NULL || strcmp(dot, ".path") != 0)
		return;
	cfg->partitions = xrealloc(cfg->partitions,
	    (size_t)(cfg->npartitions + 1) * sizeof(*cfg->partitions));
	cfg->partitions[cfg->npartitions].name =
	    xstrndup(name, (size_t)(dot - name));
	cfg->partitions[cfg->npartitions].path = xstrdup(value);
	cfg->npartitions++;
}

static int
config_range(char **errs, const char *key, long long v, long long lo,
    long long hi)
{
	if (v >= lo && v <= hi)
		return 0;
	char *e = xasprintf("%s%s: %lld is out of range %lld..%lld\n",
	    *errs ? *errs : "", key, v, lo, hi);
	free(*errs);
	*errs = e;
	return 1;
}

static int
config_fill_limits(struct store_config *cfg, char **errs)
{
	struct conf *c = cfg->conf;
	int nerr = 0;

	cfg->max_sessions = (int)conf_int(c, "service.lmtp.maxsessions");
	cfg->max_msg_size = conf_size(c, "service.lmtp.maxmessagesize");
	cfg->max_rcpts = (int)conf_int(c, "service.lmtp.maxrecipients");
	cfg->max_line = (int)conf_int(c, "service.lmtp.maxlinelength");
	cfg->max_header_size = (int)conf_size(c, "service.lmtp.maxheadersize");
	cfg->max_header_fields = (int)conf_int(c, "service.lmtp.maxheaderfields");
	cfg->max_errors = (int)conf_int(c, "service.lmtp.maxerrors");
	cfg->idle_timeout = (int)conf_duration(c, "service.lmtp.idletimeout");
	cfg->fsync_threads = (int)conf_int(c, "store.fsyncthreads");
	cfg->quota_warn_pct = (int)conf_int(c, "store.quotawarn");
	cfg->imap_max_sessions = (int)conf_int(c, "service.imap.maxsessions");
	cfg->imap_max_per_client = (int)conf_int(c, "service.imap.maxsessionsperclient");
	cfg->imap_max_per_user = (int)conf_int(c, "service.imap.maxsessionsperuser");
	cfg->imap_max_line = (int)conf_int(c, "service.imap.maxlinelength");
	cfg->imap_max_command = (int)conf_size(c, "service.imap.maxcommandsize");
	cfg->imap_max_errors = (int)conf_int(c, "service.imap.maxerrors");
	cfg->imap_max_bad_logins = (int)conf_int(c, "service.imap.maxbadlogins");
	cfg->imap_plaintext_min = (int)conf_int(c, "service.imap.plaintextmincipher");
	cfg->imap_preauth_timeout = (int)conf_duration(c, "service.imap.preauthtimeout");
	cfg->imap_idle_timeout = (int)conf_duration(c, "service.imap.idletimeout");
	nerr += config_range(errs, "service.imap.maxsessions", cfg->imap_max_sessions, 1, 1000000);
	nerr += config_range(errs, "service.imap.maxsessionsperclient", cfg->imap_max_per_client, 1, 1000000);
	nerr += config_range(errs, "service.imap.maxsessionsperuser", cfg->imap_max_per_user, 1, 1000000);
	nerr += config_range(errs, "service.imap.maxlinelength", cfg->imap_max_line, 1024, 1 << 20);
	nerr += config_range(errs, "service.imap.maxcommandsize", cfg->imap_max_command, 4096, 64 << 20);
	nerr += config_range(errs, "service.imap.maxerrors", cfg->imap_max_errors, 1, 100000);
	nerr += config_range(errs, "service.imap.maxbadlogins", cfg->imap_max_bad_logins, 1, 1000);
	nerr += config_range(errs, "service.imap.preauthtimeout", cfg->imap_preauth_timeout, 1, 86400);
	nerr += config_range(errs, "service.imap.idletimeout", cfg->imap_idle_timeout, 1, 86400);
	cfg->pop_max_sessions = (int)conf_int(c, "service.pop.maxsessions");
	cfg->pop_max_per_client = (int)conf_int(c, "service.pop.maxsessionsperclient");
	cfg->pop_max_line = (int)conf_int(c, "service.pop.maxlinelength");
	cfg->pop_max_errors = (int)conf_int(c, "service.pop.maxerrors");
	cfg->pop_max_bad_logins = (int)conf_int(c, "service.pop.maxbadlogins");
	cfg->pop_plaintext_min = (int)conf_int(c, "service.pop.plaintextmincipher");
	cfg->pop_preauth_timeout = (int)conf_duration(c, "service.pop.preauthtimeout");
	cfg->pop_idle_timeout = (int)conf_duration(c, "service.pop.idletimeout");
	nerr += config_range(errs, "service.pop.maxsessions", cfg->pop_max_sessions, 1, 1000000);
	nerr += config_range(errs, "service.pop.maxsessionsperclient", cfg->pop_max_per_client, 1, 1000000);
	nerr += config_range(errs, "service.pop.maxlinelength", cfg->pop_max_line, 512, 1 << 20);
	nerr += config_range(errs, "service.pop.maxerrors", cfg->pop_max_errors, 1, 100000);
	nerr += config_range(errs, "service.pop.maxbadlogins", cfg->pop_max_bad_logins, 1, 1000);
	nerr += config_range(errs, "service.pop.preauthtimeout", cfg->pop_preauth_timeout, 1, 86400);
	nerr += config_range(errs, "service.pop.idletimeout", cfg->pop_idle_timeout, 1, 86400);
	nerr += config_range(errs, "service.lmtp.maxsessions", cfg->max_sessions, 1, 1000000);
	nerr += config_range(errs, "service.lmtp.maxrecipients", cfg->max_rcpts, 1, 100000);
	nerr += config_range(errs, "service.lmtp.maxlinelength", cfg->max_line, 512, 65536);
	nerr += config_range(errs, "service.lmtp.maxheadersize", cfg->max_header_size, 1024, 64 << 20);
	nerr += config_range(errs, "service.lmtp.maxheaderfields", cfg->max_header_fields, 10, 1000000);
	nerr += config_range(errs, "service.lmtp.maxerrors", cfg->max_errors, 1, 100000);
	nerr += config_range(errs, "service.lmtp.idletimeout", cfg->idle_timeout, 1, 86400);
	nerr += config_range(errs, "store.fsyncthreads", cfg->fsync_threads, 1, 64);
	nerr += config_range(errs, "store.quotawarn", cfg->quota_warn_pct, 1, 100);
	return nerr;
}

static void
config_fill(struct store_config *cfg)
{
	struct conf *c = cfg->conf;

	local_config_fill(&cfg->local, c);
	cfg->hostname = cfg->local.hostname;
	cfg->admin_listen = conf_str(c, "store.admin.listen");
	cfg->mailhosts = conf_list(c, conf_str(c, "store.mailhosts") ?
	    "store.mailhosts" : "local.hostname", NULL);
	cfg->lmtp_listen = conf_list(c, "service.lmtp.listen", NULL);
	cfg->imap_listen = conf_list(c, "service.imap.listen", NULL);
	cfg->imap_tls_listen = conf_list(c, "service.imap.tlslisten", NULL);
	cfg->pop_listen = conf_list(c, "service.pop.listen", NULL);
	cfg->pop_tls_listen = conf_list(c, "service.pop.tlslisten", NULL);
	cfg->lmtp_guaranteed_listen = conf_list(c,
	    "service.lmtp.guaranteedlisten", NULL);
	cfg->guaranteed_senders = conf_list(c, "store.guaranteedsenders", NULL);
	cfg->admins = conf_list(c, "store.admins", NULL);
	cfg->admin_cache_ttl = (int)conf_duration(c, "store.admincachettl");
	cfg->dbdir = conf_str(c, "store.dbdir");
	cfg->dbmapsize = conf_size(c, "store.dbmapsize");
	cfg->quota_enforce = conf_bool(c, "store.quotaenforcement");
	cfg->quota_grace = conf_duration(c, "store.quotagraceperiod");
	cfg->default_quota = conf_int(c, "store.defaultmailboxquota");
	cfg->default_msgquota = conf_int(c, "store.defaultmessagequota");
	conf_each(c, "store.partition.", config_add_partition, cfg);
}

static int
config_fill_proxies(struct store_config *cfg, char **errs)
{
	char **words = conf_list(cfg->conf, "store.trustedproxies", NULL);
	const char *bad = NULL;
	char *e;

	cfg->trusted_proxies = cidr_list(words, &cfg->ntrusted_proxies, &bad);
	if (cfg->trusted_proxies == NULL) {
		e = xasprintf("%sstore.trustedproxies: \"%s\" is not an address "
		    "or network\n", *errs ? *errs : "", bad);
		free(*errs);
		*errs = e;
	}
	conf_list_free(words);
	return cfg->trusted_proxies == NULL;
}

bool
config_trusted_proxy(const struct store_config *cfg, const struct sockaddr *sa)
{
	return cidr_list_match(cfg->trusted_proxies, cfg->ntrusted_proxies, sa);
}

static int
config_check_partitions(struct store_config *cfg, char **errs)
{
	const char *def = conf_str(cfg->conf, "store.defaultpartition");
	char *e = NULL;

	if (cfg->npartitions == 0)
		e = xasprintf("%sno partition: set store.partition.NAME.path\n",
		    *errs ? *errs : "");
	else if ((cfg->default_partition = config_partition(cfg, def)) == NULL)
		e = xasprintf("%sstore.defaultpartition: no partition \"%s\"\n",
		    *errs ? *errs : "", def);
	if (e == NULL)
		return 0;
	free(*errs);
	*errs = e;
	return 1;
}

struct store_config *
config_load(const char *path, char **errs)
{
	struct store_config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->conf = conf_load(path, errs);
	if (cfg->conf == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->keys = local_keys_join(store_keys);
	int nerr = conf_check(cfg->conf, cfg->keys, store_namespaces, errs);
	if (nerr == 0) {
		config_fill(cfg);
		nerr += config_fill_limits(cfg, errs);
		nerr += config_check_partitions(cfg, errs);
		nerr += config_fill_proxies(cfg, errs);
	}
	if (nerr > 0)
		config_free(&cfg);
	return cfg;
}

void
config_free(struct store_config **cfgp)
{
	struct store_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	conf_list_free(cfg->mailhosts);
	conf_list_free(cfg->lmtp_listen);
	conf_list_free(cfg->lmtp_guaranteed_listen);
	conf_list_free(cfg->imap_listen);
	conf_list_free(cfg->imap_tls_listen);
	conf_list_free(cfg->pop_listen);
	conf_list_free(cfg->pop_tls_listen);
	conf_list_free(cfg->guaranteed_senders);
	conf_list_free(cfg->admins);
	free(cfg->trusted_proxies);
	local_config_clear(&cfg->local);
	for (int i = 0; i < cfg->npartitions; i++) {
		free(cfg->partitions[i].name);
		free(cfg->partitions[i].path);
	}
	free(cfg->partitions);
	conf_free(&cfg->conf);
	free(cfg->keys);
	free(cfg);
	*cfgp = NULL;
}

const struct partition *
config_partition(const struct store_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->npartitions; i++)
		if (strcmp(cfg->partitions[i].name, name) == 0)
			return &cfg->partitions[i];
	return NULL;
}

static bool
config_in_list(char **list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcasecmp(*list, s) == 0)
			return true;
	return false;
}

bool
config_is_mailhost(const struct store_config *cfg, const char *host)
{
	return config_in_list(cfg->mailhosts, host);
}

bool
config_is_guaranteed_sender(const struct store_config *cfg, const char *sender)
{
	return config_in_list(cfg->guaranteed_senders, sender);
}
