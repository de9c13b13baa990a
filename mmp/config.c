/*
 * config: the mmp's keys of msg.conf (documented in msg.conf(5)).  The
 * key table is the single list of what the mmp reads; mmp_config_load()
 * checks the file against it and fills struct mmp_config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "local.h"
#include "mmp.h"
#include "xmalloc.h"

/* What the store offers before login (STARTTLS and AUTH= or
 * LOGINDISABLED are added as the session allows), so that a client sees
 * the same list from the mmp as from a store it reached directly; the
 * list after login is the store's own. */
#define MMP_IMAP_CAPABILITY "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE"

static const struct conf_key mmp_keys[] = {
	{ "mmp.imap.listen", CONF_LIST, "", "IMAP listeners (143)" },
	{ "mmp.imap.tlslisten", CONF_LIST, "", "IMAP listeners with implicit TLS (993)" },
	{ "mmp.imap.backends", CONF_LIST, "", "mailhost=address:port of stores' IMAP" },
	{ "mmp.imap.backendport", CONF_INT, "143", "stores' IMAP port" },
	{ "mmp.imap.idletimeout", CONF_DURATION, "pt31m", "idle time after login" },
	{ "mmp.imap.capability", CONF_STR, MMP_IMAP_CAPABILITY, "CAPABILITY before login" },
	{ "mmp.pop.listen", CONF_LIST, "", "POP3 listeners (110)" },
	{ "mmp.pop.tlslisten", CONF_LIST, "", "POP3 listeners with implicit TLS (995)" },
	{ "mmp.pop.backends", CONF_LIST, "", "mailhost=address:port of stores' POP3" },
	{ "mmp.pop.backendport", CONF_INT, "110", "stores' POP3 port" },
	{ "mmp.pop.idletimeout", CONF_DURATION, "pt11m", "idle time after login" },
	{ "mmp.backend.login", CONF_STR, NULL, "proxy administrator (store.admins)" },
	{ "mmp.backend.password", CONF_STR, NULL, "its password" },
	{ "mmp.backend.starttls", CONF_BOOL, "no", "STARTTLS to the stores" },
	{ "mmp.backend.cafile", CONF_STR, "", "verify the stores' certificates" },
	{ "mmp.backend.timeout", CONF_DURATION, "pt30s", "connect and log in to a store" },
	{ "mmp.preauthtimeout", CONF_DURATION, "pt1m", "idle time before login" },
	{ "mmp.maxsessions", CONF_INT, "20000", "concurrent sessions" },
	{ "mmp.maxsessionsperclient", CONF_INT, "100", "sessions per client address" },
	{ "mmp.maxlinelength", CONF_INT, "8192", "command bytes before login" },
	{ "mmp.maxbadlogins", CONF_INT, "3", "failed logins before the session ends" },
	{ "mmp.badloginmaxdelay", CONF_DURATION, "pt5s", "longest delay of a failed login" },
	{ "mmp.badloginwindow", CONF_DURATION, "pt10m", "failures from an address forgotten after" },
	{ "mmp.plaintextmincipher", CONF_INT, "1", "0: passwords allowed without TLS" },
	{ "mmp.authcachettl", CONF_DURATION, "0", "good logins remembered (0: never)" },
	{ "mmp.authcachesize", CONF_INT, "100000", "logins remembered at most" },
	{ "mmp.allow", CONF_LIST, "", "client networks allowed (empty: all)" },
	{ "mmp.deny", CONF_LIST, "", "client networks refused" },
	{ "mmp.proxyprotocolfrom", CONF_LIST, "", "balancers that send a PROXY header" },
	{ "mmp.dns.servers", CONF_STR, "", "resolvers of mailHost names, host:port,... (empty: the system's)" },
	{ "mmp.dns.timeout", CONF_INT, "5000", "ms per DNS query" },
	{ "mmp.admin.listen", CONF_STR, "", "health and metrics (HTTP), host:port" },
	{ NULL, CONF_STR, NULL, NULL },
};

static const char *const mmp_namespaces[] = { "mmp.", LOCAL_NAMESPACES, NULL };

static int
config_error(char **errs, const char *fmt, const char *a, const char *b)
{
	char *line = xasprintf(fmt, a, b);
	char *e = xasprintf("%s%s\n", *errs ? *errs : "", line);

	free(line);
	free(*errs);
	*errs = e;
	return 1;
}

static int
config_range(char **errs, const char *key, long long v, long long lo,
    long long hi)
{
	char range[64];

	if (v >= lo && v <= hi)
		return 0;
	snprintf(range, sizeof(range), "%lld is out of range %lld..%lld", v,
	    lo, hi);
	return config_error(errs, "%s: %s", key, range);
}

/* "mailhost=address:port" words. */
static int
config_backends(struct mmp_config *cfg, enum mmp_proto p, const char *key,
    char **errs)
{
	char **words = conf_list(cfg->conf, key, NULL);
	int nerr = 0, n = 0;

	for (char **w = words; *w != NULL; w++)
		n++;
	cfg->backends[p] = xcalloc((size_t)n + 1, sizeof(*cfg->backends[p]));
	for (char **w = words; *w != NULL; w++) {
		char *eq = strchr(*w, '='), host[256];
		int port;
		if (eq == NULL || eq == *w || !net_split_hostport(eq + 1, host,
		    sizeof(host), &port)) {
			nerr += config_error(errs, "%s: \"%s\" is not "
			    "mailhost=address:port", key, *w);
			continue;
		}
		struct mmp_backend_host *b = &cfg->backends[p][cfg->nbackends[p]++];
		b->mailhost = xstrndup(*w, (size_t)(eq - *w));
		b->host = xstrdup(host);
		b->port = port;
	}
	conf_list_free(words);
	return nerr;
}

static void
config_fill(struct mmp_config *cfg)
{
	struct conf *c = cfg->conf;

	local_config_fill(&cfg->local, c);
	cfg->listen[MMP_IMAP] = conf_list(c, "mmp.imap.listen", NULL);
	cfg->tls_listen[MMP_IMAP] = conf_list(c, "mmp.imap.tlslisten", NULL);
	cfg->listen[MMP_POP] = conf_list(c, "mmp.pop.listen", NULL);
	cfg->tls_listen[MMP_POP] = conf_list(c, "mmp.pop.tlslisten", NULL);
	cfg->backend_port[MMP_IMAP] = (int)conf_int(c, "mmp.imap.backendport");
	cfg->backend_port[MMP_POP] = (int)conf_int(c, "mmp.pop.backendport");
	cfg->idle_timeout[MMP_IMAP] = (int)conf_duration(c, "mmp.imap.idletimeout");
	cfg->idle_timeout[MMP_POP] = (int)conf_duration(c, "mmp.pop.idletimeout");
	cfg->capability = conf_str(c, "mmp.imap.capability");
	cfg->backend_login = conf_str(c, "mmp.backend.login");
	cfg->backend_password = conf_str(c, "mmp.backend.password");
	cfg->backend_starttls = conf_bool(c, "mmp.backend.starttls");
	cfg->backend_cafile = conf_str(c, "mmp.backend.cafile");
	cfg->backend_timeout = (int)conf_duration(c, "mmp.backend.timeout");
	cfg->preauth_timeout = (int)conf_duration(c, "mmp.preauthtimeout");
	cfg->max_sessions = (int)conf_int(c, "mmp.maxsessions");
	cfg->max_per_client = (int)conf_int(c, "mmp.maxsessionsperclient");
	cfg->max_line = (int)conf_int(c, "mmp.maxlinelength");
	cfg->max_bad_logins = (int)conf_int(c, "mmp.maxbadlogins");
	cfg->bad_login_max_delay = (int)conf_duration(c, "mmp.badloginmaxdelay");
	cfg->bad_login_window = (int)conf_duration(c, "mmp.badloginwindow");
	cfg->plaintext_min_cipher = (int)conf_int(c, "mmp.plaintextmincipher");
	cfg->auth_cache_ttl = (int)conf_duration(c, "mmp.authcachettl");
	cfg->auth_cache_size = (size_t)conf_int(c, "mmp.authcachesize");
	cfg->allow = conf_list(c, "mmp.allow", NULL);
	cfg->deny = conf_list(c, "mmp.deny", NULL);
	cfg->proxy_from = conf_list(c, "mmp.proxyprotocolfrom", NULL);
	cfg->dns_servers = conf_str(c, "mmp.dns.servers");
	cfg->dns_timeout_ms = (int)conf_int(c, "mmp.dns.timeout");
	cfg->admin_listen = conf_str(c, "mmp.admin.listen");
}

static int
config_check_values(struct mmp_config *cfg, char **errs)
{
	int nerr = 0;

	nerr += config_range(errs, "mmp.imap.backendport", cfg->backend_port[MMP_IMAP], 1, 65535);
	nerr += config_range(errs, "mmp.pop.backendport", cfg->backend_port[MMP_POP], 1, 65535);
	nerr += config_range(errs, "mmp.maxsessions", cfg->max_sessions, 1, 1000000);
	nerr += config_range(errs, "mmp.maxsessionsperclient", cfg->max_per_client, 1, 1000000);
	nerr += config_range(errs, "mmp.maxlinelength", cfg->max_line, 512, 65536);
	nerr += config_range(errs, "mmp.maxbadlogins", cfg->max_bad_logins, 1, 1000);
	nerr += config_range(errs, "mmp.badloginmaxdelay", cfg->bad_login_max_delay, 0, 60);
	nerr += config_range(errs, "mmp.preauthtimeout", cfg->preauth_timeout, 1, 86400);
	nerr += config_range(errs, "mmp.imap.idletimeout", cfg->idle_timeout[MMP_IMAP], 1800, 86400);
	nerr += config_range(errs, "mmp.pop.idletimeout", cfg->idle_timeout[MMP_POP], 600, 86400);
	nerr += config_range(errs, "mmp.backend.timeout", cfg->backend_timeout, 1, 600);
	nerr += config_range(errs, "mmp.authcachettl", cfg->auth_cache_ttl, 0, 86400);
	nerr += config_range(errs, "mmp.dns.timeout", cfg->dns_timeout_ms, 100, 60000);
	if (cfg->backend_login == NULL || cfg->backend_password == NULL)
		nerr += config_error(errs, "%s%s", "mmp.backend.login and "
		    "mmp.backend.password: required (an administrator listed ",
		    "in the stores' store.admins)");
	nerr += config_backends(cfg, MMP_IMAP, "mmp.imap.backends", errs);
	nerr += config_backends(cfg, MMP_POP, "mmp.pop.backends", errs);
	return nerr;
}

struct mmp_config *
mmp_config_load(const char *path, char **errs)
{
	struct mmp_config *cfg = xcalloc(1, sizeof(*cfg));

	if ((cfg->conf = conf_load(path, errs)) == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->keys = local_keys_join(mmp_keys);
	int nerr = conf_check(cfg->conf, cfg->keys, mmp_namespaces, errs);
	if (nerr == 0) {
		config_fill(cfg);
		nerr = config_check_values(cfg, errs);
	}
	if (nerr > 0)
		mmp_config_free(&cfg);
	return cfg;
}

void
mmp_config_backend(const struct mmp_config *cfg, enum mmp_proto proto,
    const char *mailhost, const char **host, int *port)
{
	for (int i = 0; i < cfg->nbackends[proto]; i++) {
		const struct mmp_backend_host *b = &cfg->backends[proto][i];
		if (strcasecmp(b->mailhost, mailhost) == 0) {
			*host = b->host;
			*port = b->port;
			return;
		}
	}
	*host = mailhost;
	*port = cfg->backend_port[proto];
}

void
mmp_config_free(struct mmp_config **cfgp)
{
	struct mmp_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (int p = 0; p < 2; p++) {
		conf_list_free(cfg->listen[p]);
		conf_list_free(cfg->tls_listen[p]);
		for (int i = 0; i < cfg->nbackends[p]; i++) {
			free(cfg->backends[p][i].mailhost);
			free(cfg->backends[p][i].host);
		}
		free(cfg->backends[p]);
	}
	conf_list_free(cfg->allow);
	conf_list_free(cfg->deny);
	conf_list_free(cfg->proxy_from);
	local_config_clear(&cfg->local);
	conf_free(&cfg->conf);
	free(cfg->keys);
	free(cfg);
	*cfgp = NULL;
}
