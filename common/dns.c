/*
 * dns: c-ares driven by libevent (see dns.h).
 *
 * c-ares tells us which sockets it wants watched (the socket-state
 * callback); each gets a persistent event, and a timer follows
 * ares_timeout().  A request's answer is kept and handed to its caller
 * from an event of its own, so that no callback ever runs inside the
 * call that started the request, and a request cancelled while c-ares
 * still holds it is freed when c-ares lets go of it.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xmalloc.h"

#define DNS_MX_MAX 32

struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
	struct dns_sock *next;
};

struct dns {
	struct event_base *base;
	ares_channel channel;
	struct dns_sock *socks;
	struct event *timer;
	struct dns_req *reqs;           /* requests whose callback may run */
};

enum dns_kind { DNS_REQ_MX, DNS_REQ_DOMAIN, DNS_REQ_ADDR };

struct dns_req {
	struct dns *dns;
	enum dns_kind kind;
	char name[DNS_NAME_MAX + 1];
	int stage;                      /* DOMAIN: 0 MX, 1 A, 2 AAAA;
	                                   ADDR: 1 A, 2 AAAA */
	bool in_ares;                   /* c-ares holds a query of ours */
	bool cancelled;
	enum dns_status status;
	struct dns_mx mx[DNS_MX_MAX];
	size_t nmx;
	struct dns_addr addr[DNS_ADDR_MAX];
	size_t naddr;
	enum dns_status a_status;       /* ADDR: the A query's */
	dns_mx_cb *mx_cb;
	dns_domain_cb *domain_cb;
	dns_addr_cb *addr_cb;
	void *arg;
	struct event *done_ev;
	struct dns_req *prev, *next;
};

static void dns_schedule(struct dns *dns);

static void
dns_on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;

	ares_process_fd(dns->channel,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_schedule(dns);
}

static void
dns_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;

	(void)fd;
	(void)what;
	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_schedule(dns);
}

/* Arm the timer for c-ares's next timeout, if it waits for anything. */
static void
dns_schedule(struct dns *dns)
{
	struct timeval tv, *t = ares_timeout(dns->channel, NULL, &tv);

	if (t != NULL)
		evtimer_add(dns->timer, t);
	else
		evtimer_del(dns->timer);
}

static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *dns = data;
	struct dns_sock **p, *s;

	for (p = &dns->socks; *p != NULL && (*p)->fd != fd; p = &(*p)->next)
		;
	s = *p;
	if (s != NULL) {
		event_free(s->ev);
		if (!readable && !writable) {
			*p = s->next;
			free(s);
			return;
		}
	} else if (readable || writable) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->next = dns->socks;
		dns->socks = s;
	} else {
		return;
	}
	s->ev = event_new(dns->base, fd, EV_PERSIST | (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0), dns_on_socket, dns);
	event_add(s->ev, NULL);
}

struct dns *
dns_new(struct event_base *base, const struct dns_config *cfg, char **err)
{
	static bool inited;
	struct ares_options opts = {
		.sock_state_cb = dns_sock_state,
		.timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000,
		.tries = cfg->tries > 0 ? cfg->tries : 2,
	};
	struct dns *dns = xcalloc(1, sizeof(*dns));
	int rc;

	if (!inited && (rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		*err = xasprintf("ares_library_init: %s", ares_strerror(rc));
		free(dns);
		return NULL;
	}
	inited = true;
	dns->base = base;
	opts.sock_state_cb_data = dns;
	rc = ares_init_options(&dns->channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		*err = xasprintf("ares_init_options: %s", ares_strerror(rc));
		free(dns);
		return NULL;
	}
	if (cfg->servers != NULL && *cfg->servers != '\0' &&
	    (rc = ares_set_servers_ports_csv(dns->channel, cfg->servers)) !=
	    ARES_SUCCESS) {
		*err = xasprintf("DNS servers \"%s\": %s", cfg->servers,
		    ares_strerror(rc));
		ares_destroy(dns->channel);
		free(dns);
		return NULL;
	}
	dns->timer = evtimer_new(base, dns_on_timer, dns);
	return dns;
}

static void
dns_req_unlink(struct dns_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (r->dns != NULL && r->dns->reqs == r)
		r->dns->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void
dns_req_free(struct dns_req *r)
{
	if (r->done_ev != NULL)
		event_free(r->done_ev);
	free(r);
}

void
dns_free(struct dns **dnsp)
{
	struct dns *dns = *dnsp;

	if (dns == NULL)
		return;
	/* Requests c-ares holds are answered ARES_EDESTRUCTION inside
	 * ares_destroy, and freed there as cancelled ones. */
	while (dns->reqs != NULL) {
		struct dns_req *r = dns->reqs;
		dns_req_unlink(r);
		if (r->in_ares)
			r->cancelled = true;
		else
			dns_req_free(r);
	}
	ares_destroy(dns->channel);
	while (dns->socks != NULL) {
		struct dns_sock *s = dns->socks;
		dns->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	event_free(dns->timer);
	free(dns);
	*dnsp = NULL;
}

static void
dns_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *r = arg;

	(void)fd;
	(void)what;
	dns_req_unlink(r);
	switch (r->kind) {
	case DNS_REQ_MX:
		r->mx_cb(r->arg, r->status, r->mx, r->nmx);
		break;
	case DNS_REQ_DOMAIN:
		r->domain_cb(r->arg, r->status);
		break;
	case DNS_REQ_ADDR:
		r->addr_cb(r->arg, r->status, r->naddr ? r->addr : NULL,
		    r->naddr);
		break;
	}
	dns_req_free(r);
}

static enum dns_status
dns_status_of(int rc)
{
	switch (rc) {
	case ARES_SUCCESS: return DNS_OK;
	case ARES_ENOTFOUND: return DNS_NXDOMAIN;
	case ARES_ENODATA: return DNS_NODATA;
	default: return DNS_TEMPFAIL;
	}
}

static int
dns_mx_compare(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->preference - y->preference;
}

static enum dns_status
dns_parse_mx(struct dns_req *r, unsigned char *abuf, int alen)
{
	struct ares_mx_reply *mx = NULL;
	int rc = ares_parse_mx_reply(abuf, alen, &mx);

	if (rc != ARES_SUCCESS)
		return rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL;
	for (struct ares_mx_reply *m = mx; m != NULL && r->nmx < DNS_MX_MAX;
	    m = m->next) {
		if (strlen(m->host) > DNS_NAME_MAX)
			continue;
		r->mx[r->nmx].preference = m->priority;
		strcpy(r->mx[r->nmx].host, m->host);
		r->nmx++;
	}
	ares_free_data(mx);
	qsort(r->mx, r->nmx, sizeof(r->mx[0]), dns_mx_compare);
	return r->nmx > 0 ? DNS_OK : DNS_NODATA;
}

/* The A or AAAA records of an answer, added to r->addr. */
static enum dns_status
dns_parse_addr(struct dns_req *r, unsigned char *abuf, int alen)
{
	struct ares_addrttl a[DNS_ADDR_MAX];
	struct ares_addr6ttl a6[DNS_ADDR_MAX];
	int n = DNS_ADDR_MAX, rc;

	if (r->stage == 1)
		rc = ares_parse_a_reply(abuf, alen, NULL, a, &n);
	else
		rc = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	if (rc != ARES_SUCCESS)
		return rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL;
	for (int i = 0; i < n && r->naddr < DNS_ADDR_MAX; i++) {
		struct dns_addr *x = &r->addr[r->naddr++];
		x->family = r->stage == 1 ? AF_INET : AF_INET6;
		inet_ntop(x->family, r->stage == 1 ? (void *)&a[i].ipaddr :
		    (void *)&a6[i].ip6addr, x->text, sizeof(x->text));
	}
	return n > 0 ? DNS_OK : DNS_NODATA;
}

/* Both queries done: what the caller is told (dns.h). */
static enum dns_status
dns_addr_status(const struct dns_req *r, enum dns_status aaaa)
{
	if (r->naddr > 0)
		return DNS_OK;
	if (r->a_status == DNS_NXDOMAIN)
		return DNS_NXDOMAIN;
	if (r->a_status == DNS_TEMPFAIL || aaaa == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	return DNS_NODATA;
}

static void dns_query(struct dns_req *r, int type);

static void
dns_on_answer(void *arg, int rc, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *r = arg;
	enum dns_status st = dns_status_of(rc);

	(void)timeouts;
	r->in_ares = false;
	if (r->cancelled) {
		dns_req_free(r);
		return;
	}
	if (st == DNS_OK && r->kind == DNS_REQ_MX)
		st = dns_parse_mx(r, abuf, alen);
	if (r->kind == DNS_REQ_ADDR) {
		if (st == DNS_OK)
			st = dns_parse_addr(r, abuf, alen);
		/* NXDOMAIN for A is the answer: no name, no AAAA either. */
		if (r->stage == 1 && st != DNS_NXDOMAIN) {
			r->a_status = st;
			r->stage = 2;
			dns_query(r, T_AAAA);
			return;
		}
		st = r->stage == 1 ? st : dns_addr_status(r, st);
	}
	/* A domain without MX records may still take mail at its address. */
	if (r->kind == DNS_REQ_DOMAIN && st == DNS_NODATA && r->stage < 2) {
		r->stage++;
		dns_query(r, r->stage == 1 ? T_A : T_AAAA);
		return;
	}
	r->status = st;
	event_active(r->done_ev, EV_TIMEOUT, 0);
}

static void
dns_query(struct dns_req *r, int type)
{
	r->in_ares = true;
	ares_query(r->dns->channel, r->name, C_IN, type, dns_on_answer, r);
	dns_schedule(r->dns);
}

/* A request, started; an impossible name is answered NXDOMAIN (from the
 * loop, like every answer). */
static struct dns_req *
dns_start(struct dns *dns, enum dns_kind kind, const char *name, void *arg)
{
	struct dns_req *r = xcalloc(1, sizeof(*r));

	r->dns = dns;
	r->kind = kind;
	r->arg = arg;
	r->done_ev = event_new(dns->base, -1, 0, dns_on_done, r);
	r->next = dns->reqs;
	if (r->next != NULL)
		r->next->prev = r;
	dns->reqs = r;
	if (strlen(name) > DNS_NAME_MAX || *name == '\0' || name[0] == '[') {
		r->status = DNS_NXDOMAIN;
		event_active(r->done_ev, EV_TIMEOUT, 0);
		return r;
	}
	strcpy(r->name, name);
	if (kind == DNS_REQ_ADDR) {
		r->stage = 1;
		dns_query(r, T_A);
	} else {
		dns_query(r, T_MX);
	}
	return r;
}

struct dns_req *
dns_mx(struct dns *dns, const char *domain, dns_mx_cb *cb, void *arg)
{
	struct dns_req *r = dns_start(dns, DNS_REQ_MX, domain, arg);

	r->mx_cb = cb;
	return r;
}

struct dns_req *
dns_mail_domain(struct dns *dns, const char *domain, dns_domain_cb *cb,
    void *arg)
{
	struct dns_req *r = dns_start(dns, DNS_REQ_DOMAIN, domain, arg);

	r->domain_cb = cb;
	return r;
}

struct dns_req *
dns_addr(struct dns *dns, const char *host, dns_addr_cb *cb, void *arg)
{
	struct dns_req *r = dns_start(dns, DNS_REQ_ADDR, host, arg);

	r->addr_cb = cb;
	return r;
}

/*
 * address-literal  = "[" ( IPv4-address-literal /
 *                    IPv6-address-literal / General-address-literal ) "]"
 * IPv6-address-literal = "IPv6:" IPv6-addr          (RFC 5321 4.1.3)
 */
bool
dns_addr_literal(const char *s, struct dns_addr *out)
{
	char buf[64];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t len = strlen(s);

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof(buf))
		return false;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		out->family = AF_INET6;
		if (inet_pton(AF_INET6, buf + 5, bin) != 1)
			return false;
	} else {
		out->family = AF_INET;
		if (inet_pton(AF_INET, buf, bin) != 1)
			return false;
	}
	inet_ntop(out->family, bin, out->text, sizeof(out->text));
	return true;
}

void
dns_cancel(struct dns_req **reqp)
{
	struct dns_req *r = *reqp;

	if (r == NULL)
		return;
	*reqp = NULL;
	dns_req_unlink(r);
	if (r->in_ares) {
		r->cancelled = true;    /* dns_on_answer frees it */
		return;
	}
	dns_req_free(r);
}

const char *
dns_status_name(enum dns_status st)
{
	static const char *const names[] = { "ok", "nxdomain", "nodata",
		"tempfail" };

	return names[st];
}
