/*
 * local: the local.* keys shared by every daemon (see local.h).
 */
#include "local.h"

#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

static const struct conf_key local_keys[] = {
	{ "local.hostname", CONF_STR, "localhost", "this host's name" },
	{ "local.user", CONF_STR, NULL, "user to run as when started as root" },
	{ "local.log.level", CONF_STR, "info", "debug, info, warn or err" },
	{ "local.ldap.uri", CONF_LIST, "ldap://127.0.0.1:389", "directory servers, in order" },
	{ "local.ldap.basedn", CONF_STR, "", "search base" },
	{ "local.ldap.binddn", CONF_STR, NULL, "bind DN (empty: anonymous)" },
	{ "local.ldap.bindpw", CONF_STR, NULL, "bind password" },
	{ "local.ldap.loginfilter", CONF_STR, NULL, "finds a login's entry (%s %U %D)" },
	{ "local.ldap.defaultdomain", CONF_STR, NULL, "domain of logins without @" },
	{ "local.ldap.secretbinddn", CONF_STR, NULL, "may read userPassword (CRAM-MD5, APOP)" },
	{ "local.ldap.secretbindpw", CONF_STR, NULL, "its password" },
	{ "local.ldap.timeout", CONF_DURATION, "pt5s", "per request" },
	{ "local.ldap.cache.size", CONF_INT, "10000", "cached answers" },
	{ "local.ldap.cache.ttl", CONF_DURATION, "pt60s", "positive answers" },
	{ "local.ldap.cache.negativettl", CONF_DURATION, "pt10s", "negative answers" },
	{ "local.tls.certfile", CONF_STR, "", "PEM certificate chain" },
	{ "local.tls.keyfile", CONF_STR, "", "PEM private key" },
	{ "local.tls.minprotocol", CONF_STR, "TLSv1.2", "TLSv1.2 or TLSv1.3" },
	{ "local.tls.ciphers", CONF_STR, NULL, "TLS <= 1.2 cipher list" },
	{ NULL, CONF_STR, NULL, NULL },
};

static size_t
local_keys_count(const struct conf_key *keys)
{
	size_t n = 0;

	while (keys[n].name != NULL)
		n++;
	return n;
}

struct conf_key *
local_keys_join(const struct conf_key *own)
{
	size_t nown = local_keys_count(own);
	size_t nlocal = local_keys_count(local_keys);
	struct conf_key *all = xcalloc(nown + nlocal + 1, sizeof(*all));

	memcpy(all, own, nown * sizeof(*all));
	memcpy(all + nown, local_keys, (nlocal + 1) * sizeof(*all));
	return all;
}

void
local_config_fill(struct local_config *lc, const struct conf *c)
{
	memset(lc, 0, sizeof(*lc));
	lc->hostname = conf_str(c, "local.hostname");
	lc->run_user = conf_str(c, "local.user");
	lc->log_level = conf_str(c, "local.log.level");
	lc->ldap_uris = conf_list(c, "local.ldap.uri", &lc->nldap_uris);
	lc->ldap_base = conf_str(c, "local.ldap.basedn");
	lc->ldap_binddn = conf_str(c, "local.ldap.binddn");
	lc->ldap_bindpw = conf_str(c, "local.ldap.bindpw");
	lc->ldap_login_filter = conf_str(c, "local.ldap.loginfilter");
	lc->ldap_secret_binddn = conf_str(c, "local.ldap.secretbinddn");
	lc->ldap_secret_bindpw = conf_str(c, "local.ldap.secretbindpw");
	lc->ldap_default_domain = conf_str(c, "local.ldap.defaultdomain");
	lc->ldap_timeout_ms = (int)conf_duration(c, "local.ldap.timeout") * 1000;
	lc->ldap_cache_size = (int)conf_int(c, "local.ldap.cache.size");
	lc->ldap_cache_ttl = (int)conf_duration(c, "local.ldap.cache.ttl");
	lc->ldap_negative_ttl = (int)conf_duration(c,
	    "local.ldap.cache.negativettl");
	lc->tls_cert = conf_str(c, "local.tls.certfile");
	lc->tls_key = conf_str(c, "local.tls.keyfile");
	lc->tls_min_protocol = conf_str(c, "local.tls.minprotocol");
	lc->tls_ciphers = conf_str(c, "local.tls.ciphers");
}

void
local_config_clear(struct local_config *lc)
{
	conf_list_free(lc->ldap_uris);
	memset(lc, 0, sizeof(*lc));
}

void
local_apply_log_level(const struct local_config *lc)
{
	enum log_level level;

	if (lc->log_level != NULL && log_level_parse(lc->log_level, &level))
		log_set_level(level);
	else
		log_warn("local.log.level: unknown level \"%s\"",
		    lc->log_level ? lc->log_level : "");
}

struct tls_ctx *
local_tls_server(const struct local_config *lc)
{
	struct tls_server_config tc = {
		.cert_file = lc->tls_cert, .key_file = lc->tls_key,
		.min_protocol = lc->tls_min_protocol, .ciphers = lc->tls_ciphers,
	};
	char *err = NULL;

	if (*lc->tls_cert == '\0' && *lc->tls_key == '\0')
		return NULL;
	struct tls_ctx *ctx = tls_server_ctx_new(&tc, &err);
	if (ctx == NULL)
		log_fatal("%s", err);
	return ctx;
}

struct dir *
local_dir_open(struct event_base *base, const struct local_config *lc)
{
	struct dir_config dc = {
		.uris = (const char *const *)lc->ldap_uris,
		.nuris = (size_t)lc->nldap_uris,
		.base = lc->ldap_base,
		.binddn = lc->ldap_binddn,
		.bindpw = lc->ldap_bindpw,
		.timeout_ms = lc->ldap_timeout_ms,
		.cache_max = (size_t)lc->ldap_cache_size,
		.cache_ttl_s = lc->ldap_cache_ttl,
		.negative_ttl_s = lc->ldap_negative_ttl,
		.login_filter = lc->ldap_login_filter,
		.default_domain = lc->ldap_default_domain,
		.secret_binddn = lc->ldap_secret_binddn,
		.secret_bindpw = lc->ldap_secret_bindpw,
	};
	struct dir *dir = dir_new(base, &dc);

	if (dir == NULL)
		log_fatal("local.ldap.uri: no usable directory server");
	return dir;
}
