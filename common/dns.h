/*
 * dns: asynchronous DNS lookups on the event loop (c-ares), for the mta's
 * sender checks and the SMTP channel's MX and address lookups.
 *
 * Owns: the c-ares channel and one libevent event per socket c-ares uses.
 * Failure policy: an answer is OK, NXDOMAIN (the name does not exist),
 * NODATA (it exists, without records of the type) or TEMPFAIL (no server
 * answered, SERVFAIL, a malformed answer): callers must treat TEMPFAIL as
 * "try again later", never as "does not exist".
 */
#ifndef COMMON_DNS_H
#define COMMON_DNS_H

#include <stdbool.h>
#include <stddef.h>

struct dns;
struct dns_req;
struct event_base;

#define DNS_NAME_MAX 255

struct dns_config {
	const char *servers;    /* "host:port,host:port"; NULL or "": the
	                           system's (/etc/resolv.conf) */
	int timeout_ms;         /* per try; 0: 2000 */
	int tries;              /* 0: 2 */
};

enum dns_status { DNS_OK, DNS_NXDOMAIN, DNS_NODATA, DNS_TEMPFAIL };

struct dns_mx {
	int preference;
	char host[DNS_NAME_MAX + 1];
};

/* NULL and *err when the configuration is unusable. */
struct dns *dns_new(struct event_base *base, const struct dns_config *cfg,
    char **err);
/* Pending requests are answered with nothing: their callbacks do not run. */
void dns_free(struct dns **dns);

/* The MX records of domain, by preference; n is 0 unless DNS_OK. */
typedef void dns_mx_cb(void *arg, enum dns_status st,
    const struct dns_mx *mx, size_t n);
struct dns_req *dns_mx(struct dns *dns, const char *domain, dns_mx_cb *cb,
    void *arg);

/* The addresses of host: its A records, then its AAAA records, at most
 * DNS_ADDR_MAX in all.  DNS_OK when there is at least one (a failure of
 * the other type is then forgotten); else NXDOMAIN when the A query said
 * so, TEMPFAIL when either query failed, NODATA otherwise.  An address
 * literal is not looked up: see dns_addr_literal. */
#define DNS_ADDR_MAX 16
struct dns_addr {
	int family;                     /* AF_INET or AF_INET6 */
	char text[46];                  /* "127.0.0.5", "2001:db8::25" */
};
typedef void dns_addr_cb(void *arg, enum dns_status st,
    const struct dns_addr *addr, size_t n);
struct dns_req *dns_addr(struct dns *dns, const char *host, dns_addr_cb *cb,
    void *arg);
/* An RFC 5321 address literal, "[192.0.2.1]" or "[IPv6:2001:db8::1]",
 * into *out; false when s is not one. */
bool dns_addr_literal(const char *s, struct dns_addr *out);

/* Whether mail can be sent back to domain: it has MX records, or else an
 * address (A, then AAAA) -- RFC 5321 5.1's view of a mail domain. */
typedef void dns_domain_cb(void *arg, enum dns_status st);
struct dns_req *dns_mail_domain(struct dns *dns, const char *domain,
    dns_domain_cb *cb, void *arg);

/* The callback will not run; *req is cleared (NULL allowed).  Callbacks
 * always run from the loop, never inside the call that started them. */
void dns_cancel(struct dns_req **req);

const char *dns_status_name(enum dns_status st);

#endif
