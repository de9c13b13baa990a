/*
 * local: the local.* keys of msg.conf, which every daemon of a host reads
 * the same way (its name, the user to run as, the log level, the
 * directory servers, the TLS certificate), and the objects built from
 * them.  Each daemon joins local_keys to its own key table, so one file
 * serves them all and each checks what it reads.
 *
 * Failure policy: the values were validated by conf_check(); building the
 * TLS context or the directory client can still fail on a broken
 * environment (unreadable key file, unusable URI), which the caller treats
 * as fatal at start-up.
 */
#ifndef COMMON_LOCAL_H
#define COMMON_LOCAL_H

#include "conf.h"

struct dir;
struct event_base;
struct tls_ctx;

/* The namespaces of local_keys a daemon owns (unknown keys there are
 * errors); append them to the daemon's own list. */
#define LOCAL_NAMESPACES "local.ldap.", "local.tls."

/* The daemon's keys followed by local_keys, NULL-terminated; free(). */
struct conf_key *local_keys_join(const struct conf_key *own);

struct local_config {
	const char *hostname;
	const char *run_user;       /* NULL: stay who we are */
	const char *log_level;
	char **ldap_uris;
	int nldap_uris;
	const char *ldap_base, *ldap_binddn, *ldap_bindpw;
	const char *ldap_login_filter, *ldap_default_domain;
	const char *ldap_secret_binddn, *ldap_secret_bindpw;
	int ldap_timeout_ms, ldap_cache_ttl, ldap_negative_ttl;
	int ldap_cache_size;
	const char *tls_cert, *tls_key, *tls_min_protocol, *tls_ciphers;
};

/* Fill lc from a checked conf (its strings point into conf). */
void local_config_fill(struct local_config *lc, const struct conf *conf);
void local_config_clear(struct local_config *lc);

/* Set the log level from local.log.level (a bad name is logged). */
void local_apply_log_level(const struct local_config *lc);
/* The server TLS context; NULL when no certificate is configured, fatal
 * (log_fatal) when the configured one cannot be used. */
struct tls_ctx *local_tls_server(const struct local_config *lc);
/* The directory client (fatal when no URI is usable). */
struct dir *local_dir_open(struct event_base *base,
    const struct local_config *lc);

#endif
