/*
 * config: the mta's keys of msg.conf (documented in msg.conf(5)) and the
 * files they name: imta.cnf, mappings, aliases.
 *
 * A generation is loaded whole or refused whole: every error of every file
 * is reported as "file:line: message", so that `mta -t` and a refused
 * SIGHUP reload tell the operator everything at once.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mta.h"
#include "xmalloc.h"

static const struct conf_key mta_keys[] = {
	{ "mta.imtacnf", CONF_STR, "/etc/mailsuite/imta.cnf", "rewrite rules and channels" },
	{ "mta.mappings", CONF_STR, "", "access and mapping tables (empty: none)" },
	{ "mta.aliases", CONF_STR, "", "aliases file (empty: none)" },
	{ "mta.queue.path", CONF_STR, "/var/spool/mailsuite/queue", "the queue" },
	{ "mta.jobctl.socket", CONF_STR, "", "jobctl's notification socket" },
	{ "mta.tracklog", CONF_STR, "", "message tracking log (empty: off)" },
	{ "mta.admin.listen", CONF_STR, "", "health and metrics (HTTP), host:port" },
	{ "mta.localchannels", CONF_LIST, "l lmtp", "channels resolved in the directory" },
	{ "mta.maxexpansion", CONF_INT, "1000", "addresses one recipient expands to" },
	{ "mta.dns.servers", CONF_STR, "", "host:port,... (empty: /etc/resolv.conf)" },
	{ "mta.lmtp.port", CONF_INT, "24", "the stores' LMTP port" },
	{ "mta.lmtp.hosts", CONF_LIST, "", "mailhost=address:port overrides" },
	{ "mta.lmtp.timeout", CONF_DURATION, "pt5m", "LMTP client: per read or write" },
	{ "mta.dns.timeout", CONF_DURATION, "pt2s", "per DNS try" },
	{ "mta.smtp.port", CONF_INT, "25", "SMTP channels: the remote hosts' port" },
	{ "mta.smtp.timeout", CONF_DURATION, "pt5m", "SMTP client: the base of its step limits" },
	{ "mta.smtp.helo", CONF_STR, "", "SMTP client: EHLO name (empty: local.hostname)" },
	{ "mta.smtp.tlscafile", CONF_STR, "", "SMTP client: roots for musttls (empty: the system's)" },
	{ "service.smtp.listen", CONF_LIST, "", "SMTP listeners (25)" },
	{ "service.smtp.tlslisten", CONF_LIST, "", "SMTP listeners with implicit TLS (465)" },
	{ "service.smtp.channel", CONF_STR, "tcp_local", "source channel of SMTP sessions" },
	{ "service.submit.listen", CONF_LIST, "", "submission listeners (587)" },
	{ "service.submit.channel", CONF_STR, "tcp_submit", "source channel of submission" },
	{ "service.smtp.plaintextauth", CONF_BOOL, "no", "AUTH offered without TLS" },
	{ "service.smtp.maxsessions", CONF_INT, "1000", "concurrent sessions" },
	{ "service.smtp.maxsessionsperclient", CONF_INT, "50", "sessions per client address" },
	{ "service.smtp.maxmessagesize", CONF_SIZE, "50m", "bytes (SIZE)" },
	{ "service.smtp.maxrecipients", CONF_INT, "1000", "per transaction" },
	{ "service.smtp.maxlinelength", CONF_INT, "1000", "command line bytes" },
	{ "service.smtp.maxheadersize", CONF_SIZE, "256k", "header block bytes" },
	{ "service.smtp.maxheaderfields", CONF_INT, "1000", "header fields" },
	{ "service.smtp.maxerrors", CONF_INT, "20", "protocol errors before hang-up" },
	{ "service.smtp.maxtransactions", CONF_INT, "100", "messages per session" },
	{ "service.smtp.maxhops", CONF_INT, "100", "Received: fields before a loop" },
	{ "service.smtp.idletimeout", CONF_DURATION, "pt5m", "idle session" },
	{ NULL, CONF_STR, NULL, NULL },
};

static const char *const mta_namespaces[] = {
	"mta.", "service.smtp.", "service.submit.", LOCAL_NAMESPACES, NULL
};

static void
config_err(char **errs, const char *fmt, const char *a, long long v,
    long long lo, long long hi)
{
	char *line = xasprintf(fmt, a, v, lo, hi);
	char *e = xasprintf("%s%s\n", *errs ? *errs : "", line);

	free(line);
	free(*errs);
	*errs = e;
}

static int
config_range(char **errs, const char *key, long long v, long long lo,
    long long hi)
{
	if (v >= lo && v <= hi)
		return 0;
	config_err(errs, "%s: %lld is out of range %lld..%lld", key, v, lo, hi);
	return 1;
}

/* The limits, each with its range. */
static int
config_fill_limits(struct mta_config *cfg, char **errs)
{
	static const struct {
		const char *key;
		size_t off;
		long long lo, hi;
		bool duration;
	} ints[] = {
		{ "service.smtp.maxsessions", offsetof(struct mta_config, max_sessions), 1, 1000000, false },
		{ "service.smtp.maxsessionsperclient", offsetof(struct mta_config, max_per_client), 1, 1000000, false },
		{ "service.smtp.maxrecipients", offsetof(struct mta_config, max_rcpts), 1, 100000, false },
		/* RFC 5321 4.5.3.1.4: at least 512; we keep text lines' 1000. */
		{ "service.smtp.maxlinelength", offsetof(struct mta_config, max_line), 1000, 65536, false },
		{ "service.smtp.maxheaderfields", offsetof(struct mta_config, max_header_fields), 10, 1000000, false },
		{ "service.smtp.maxerrors", offsetof(struct mta_config, max_errors), 1, 100000, false },
		{ "service.smtp.maxtransactions", offsetof(struct mta_config, max_transactions), 1, 1000000, false },
		{ "service.smtp.maxhops", offsetof(struct mta_config, max_hops), 1, 1000, false },
		{ "mta.maxexpansion", offsetof(struct mta_config, max_expansion), 1, 100000, false },
		{ "service.smtp.idletimeout", offsetof(struct mta_config, idle_timeout), 1, 86400, true },
	};
	int nerr = 0;

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		long long v = ints[i].duration ?
		    conf_duration(cfg->conf, ints[i].key) :
		    conf_int(cfg->conf, ints[i].key);
		nerr += config_range(errs, ints[i].key, v, ints[i].lo, ints[i].hi);
		*(int *)((char *)cfg + ints[i].off) = (int)v;
	}
	uint64_t msg = conf_size(cfg->conf, "service.smtp.maxmessagesize");
	uint64_t hdr = conf_size(cfg->conf, "service.smtp.maxheadersize");
	/* SIZE 0 would tell clients "no limit" (RFC 1870). */
	nerr += config_range(errs, "service.smtp.maxmessagesize",
	    msg > (1ULL << 40) ? -1 : (long long)msg, 1, 1LL << 40);
	nerr += config_range(errs, "service.smtp.maxheadersize",
	    hdr > (1ULL << 30) ? -1 : (long long)hdr, 1024, 64 << 20);
	cfg->max_msg_size = msg;
	cfg->max_header_size = (int)(hdr > (64 << 20) ? 0 : hdr);
	return nerr;
}

static void
config_fill(struct mta_config *cfg)
{
	struct conf *c = cfg->conf;

	local_config_fill(&cfg->local, c);
	cfg->queue_path = conf_str(c, "mta.queue.path");
	cfg->jobctl_socket = conf_str(c, "mta.jobctl.socket");
	cfg->track_path = conf_str(c, "mta.tracklog");
	cfg->admin_listen = conf_str(c, "mta.admin.listen");
	cfg->dns_servers = conf_str(c, "mta.dns.servers");
	cfg->lmtp_port = (int)conf_int(c, "mta.lmtp.port");
	cfg->lmtp_hosts = conf_list(c, "mta.lmtp.hosts", NULL);
	cfg->lmtp_timeout = (int)conf_duration(c, "mta.lmtp.timeout");
	cfg->dns_timeout_ms = (int)conf_duration(c, "mta.dns.timeout") * 1000;
	cfg->local_channels = conf_list(c, "mta.localchannels", NULL);
	cfg->smtp_listen = conf_list(c, "service.smtp.listen", NULL);
	cfg->smtp_tls_listen = conf_list(c, "service.smtp.tlslisten", NULL);
	cfg->submit_listen = conf_list(c, "service.submit.listen", NULL);
	cfg->smtp_channel = conf_str(c, "service.smtp.channel");
	cfg->submit_channel = conf_str(c, "service.submit.channel");
	cfg->auth_plaintext = conf_bool(c, "service.smtp.plaintextauth");
}

/* Append a file's error lines to *errs. */
static int
config_take_errors(char **errs, char *more)
{
	if (more == NULL)
		return 1;
	char *e = xasprintf("%s%s", *errs ? *errs : "", more);
	free(*errs);
	free(more);
	*errs = e;
	return 1;
}

static int
config_check_channel(struct mta_config *cfg, const char *key,
    const char *name, char **errs)
{
	if (imta_conf_channel_by_name(cfg->imta, name) != NULL)
		return 0;
	char *e = xasprintf("%s%s: no channel \"%s\" in %s\n", *errs ? *errs : "",
	    key, name, conf_str(cfg->conf, "mta.imtacnf"));
	free(*errs);
	*errs = e;
	return 1;
}

static int
config_load_files(struct mta_config *cfg, char **errs)
{
	const char *imta = conf_str(cfg->conf, "mta.imtacnf");
	const char *maps = conf_str(cfg->conf, "mta.mappings");
	const char *aliases = conf_str(cfg->conf, "mta.aliases");
	char *more = NULL;
	int nerr = 0;

	if ((cfg->imta = imta_conf_load(imta, &more)) == NULL)
		nerr += config_take_errors(errs, more);
	more = NULL;
	if (*maps != '\0' && (cfg->mappings = mappings_load(maps, &more)) == NULL)
		nerr += config_take_errors(errs, more);
	more = NULL;
	if (*aliases != '\0' &&
	    (cfg->aliases = aliases_load(aliases, &more)) == NULL)
		nerr += config_take_errors(errs, more);
	if (cfg->imta != NULL) {
		nerr += config_check_channel(cfg, "service.smtp.channel",
		    cfg->smtp_channel, errs);
		if (cfg->submit_listen != NULL && *cfg->submit_listen != NULL)
			nerr += config_check_channel(cfg, "service.submit.channel",
			    cfg->submit_channel, errs);
	}
	return nerr;
}

struct mta_config *
mta_config_load(const char *path, char **errs)
{
	struct mta_config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->refs = 1;
	*errs = NULL;
	if ((cfg->conf = conf_load(path, errs)) == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->keys = local_keys_join(mta_keys);
	int nerr = conf_check(cfg->conf, cfg->keys, mta_namespaces, errs);
	if (nerr == 0) {
		config_fill(cfg);
		nerr += config_fill_limits(cfg, errs);
		nerr += config_load_files(cfg, errs);
	}
	if (nerr > 0)
		mta_config_unref(&cfg);
	return cfg;
}

struct mta_config *
mta_config_ref(struct mta_config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
mta_config_unref(struct mta_config **cfgp)
{
	struct mta_config *cfg = *cfgp;

	*cfgp = NULL;
	if (cfg == NULL || --cfg->refs > 0)
		return;
	imta_conf_free(&cfg->imta);
	mappings_free(&cfg->mappings);
	aliases_free(&cfg->aliases);
	local_config_clear(&cfg->local);
	conf_list_free(cfg->local_channels);
	conf_list_free(cfg->smtp_listen);
	conf_list_free(cfg->smtp_tls_listen);
	conf_list_free(cfg->submit_listen);
	conf_list_free(cfg->lmtp_hosts);
	conf_free(&cfg->conf);
	free(cfg->keys);
	free(cfg);
}

bool
mta_config_is_local_channel(const struct mta_config *cfg, const char *channel)
{
	for (char **c = cfg->local_channels; c != NULL && *c != NULL; c++)
		if (strcasecmp(*c, channel) == 0)
			return true;
	return false;
}
