/*
 * smtp_deliver: deliver one queue entry of an SMTP channel to the remote
 * hosts (smtp_deliver.h).
 *
 * For an entry: read and parse its envelope (the file is never changed),
 * group the pending recipients by domain (all of them together when the
 * channel relays through a smarthost, `daemon HOST`), and for each group
 * find the hosts to try: the smarthost, else the domain's MX hosts by
 * preference, else (no MX records, or `nomx`) the domain itself; a domain
 * literal is its address.  Each host's addresses (A, then AAAA) are tried
 * in turn, at most SMTP_DELIVER_ATTEMPTS connections per group, until one
 * gives a usable session (greeting, EHLO or HELO, STARTTLS as the
 * channel's tls_client says); that session then holds the group's
 * transactions (at most SMTP_DELIVER_TXN_RCPTS recipients each) and ends
 * with QUIT.  Every pending recipient ends with exactly one verdict,
 * written as a channel_job rcpt line and logged; the caller writes done.
 *
 * Failure policy: whatever DNS, the network or a remote host does becomes
 * a verdict: 2xx ok, 5xx fail, anything else (4xx, no host reachable, a
 * broken or timed-out conversation, DNS trouble) defer.  The permanent
 * verdicts of our own: a domain that does not exist (NXDOMAIN, 550 5.1.2),
 * a null MX (556 5.1.10), mail that would loop back to this host (554
 * 5.4.6), an address that needs SMTPUTF8 where it is not offered (553
 * 5.6.7).  An entry that cannot be read or parsed, or that belongs to
 * another channel, gets only its done line (jobctl defers it) and a log
 * line.
 *
 * Not done here: several messages per connection (one entry, one
 * session per group), MTA-STS and DANE, loops detected by address (a
 * host that is this one under another name), BDAT (CHUNKING).
 */
#include "smtp_deliver.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "channel_job.h"
#include "chanprog.h"
#include "dns.h"
#include "log.h"
#include "mta.h"
#include "smtp_client.h"
#include "smtp_path.h"
#include "tls_blocking.h"
#include "xmalloc.h"

/* Hosts of one group (MX records kept). */
#define SMTP_DELIVER_HOSTS      32
/* Connections tried for one group before it is deferred (Postfix's
 * smtp_mx_address_limit is 5; a few more for dual-stack hosts). */
#define SMTP_DELIVER_ATTEMPTS   10
/* Recipients per transaction: the least a server must take (RFC 5321
 * 4.5.3.1.8).  A server set lower answers the rest 452: deferred. */
#define SMTP_DELIVER_TXN_RCPTS  100
/* "mx1.example.com[2001:db8::25]" */
#define SMTP_DELIVER_LABEL_MAX  (DNS_NAME_MAX + 64)

/* A session kept between entries is used again only this fresh: a
 * remote server's idle limit is at least five minutes (RFC 5321
 * 4.5.3.2.7), and a job's next entry comes at once or not soon. */
#define SMTP_DELIVER_KEEP_SECS 30

struct smtp_deliver {
	const struct mta_config *cfg;   /* borrowed */
	struct event_base *base;        /* borrowed: dns's loop */
	FILE *out;                      /* borrowed */
	struct dns *dns;
	char *channel;
	const struct imta_channel *chan;        /* in cfg->imta */
	const char *helo;               /* in cfg */
	int port, timeout_s;
	struct tls_blocking_ctx *tls;   /* NULL: the channel says notls */
	/* The last session, kept open (reset) for the next entry to the same
	 * domain: a job's entries mostly go to the same few places. */
	struct {
		struct smtp_client *c;
		char domain[DNS_NAME_MAX + 1];
		char label[SMTP_DELIVER_LABEL_MAX];
		time_t since;
	} kept;
};

/* One pending recipient of the entry. */
struct sd_rcpt {
	size_t index;                   /* among the envelope's rcpt lines */
	const char *address;            /* points into entry->env */
	const char *domain;             /* in address; NULL: none */
	bool answered;
	enum channel_job_result result;
	int code;
	char *text;
	char *host;                     /* the label of who answered; NULL */
};

struct sd_entry {
	struct smtp_deliver *sd;
	const char *path;
	struct queue_env env;
	int fd;
	size_t body_offset;
	bool body_8bit;
	struct sd_rcpt *rcpts;
	size_t nrcpts;
};

/* The recipients bound for one destination, the hosts to try, and the
 * session that took them. */
struct sd_group {
	struct sd_entry *en;
	const char *domain;             /* the first recipient's */
	struct sd_rcpt **rcpts;
	size_t n;
	struct sd_rcpt **txn;           /* the current transaction's slice */
	size_t ntxn;
	char hosts[SMTP_DELIVER_HOSTS][DNS_NAME_MAX + 1];
	size_t nhosts;
	bool implicit;                  /* hosts[0] is the domain: no MX */
	struct smtp_client *c;
	char label[SMTP_DELIVER_LABEL_MAX];     /* of the session */
	char last[CHANNEL_JOB_TEXT_MAX];        /* why the last try failed */
	size_t attempts;
};

/* How a connection attempt ended. */
enum sd_session { SD_SESSION_OK, SD_SESSION_FAILED, SD_SESSION_PLAIN };

/* ---- the pure parts ---- */

int
smtp_deliver_timeout_ms(int base_s, enum smtp_deliver_step step)
{
	/* RFC 5321 4.5.3.2 in minutes: 5 for the greeting, MAIL and RCPT,
	 * 2 for DATA, 3 per data block, 10 for the final dot. */
	static const int fifths[] = {
		[SMTP_STEP_COMMAND] = 5, [SMTP_STEP_DATA] = 2,
		[SMTP_STEP_BLOCK] = 3, [SMTP_STEP_DOT] = 10,
		[SMTP_STEP_QUIT] = 1,
	};
	long long ms = (long long)base_s * 1000 * fifths[step] / 5;

	return ms < 1000 ? 1000 : ms > 86400000 ? 86400000 : (int)ms;
}

const char *
smtp_deliver_domain(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

bool
smtp_deliver_is_self(const char *name, const char *self)
{
	size_t n = strlen(name), s = strlen(self);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (s > 0 && self[s - 1] == '.')
		s--;
	return n == s && n > 0 && strncasecmp(name, self, n) == 0;
}

size_t
smtp_deliver_mx_trim(struct dns_mx *mx, size_t n, const char *self,
    bool *self_listed)
{
	*self_listed = false;
	for (size_t i = 0; i < n; i++) {
		if (!smtp_deliver_is_self(mx[i].host, self))
			continue;
		/* Only the hosts preferred to us; equals would loop back. */
		size_t keep = 0;
		while (keep < i && mx[keep].preference < mx[i].preference)
			keep++;
		*self_listed = true;
		return keep;
	}
	return n;
}

/* ---- set-up ---- */

static void
smtp_deliver_settings(struct smtp_deliver *sd)
{
	const struct conf *c = sd->cfg->conf;
	long long port = conf_int(c, "mta.smtp.port");
	long long timeout = conf_duration(c, "mta.smtp.timeout");

	if (port < 1 || port > 65535)
		log_fatal("mta.smtp.port: %lld is out of range 1..65535", port);
	if (timeout < 1 || timeout > 86400)
		log_fatal("mta.smtp.timeout: %lld is out of range 1..86400",
		    timeout);
	sd->port = (int)port;
	sd->timeout_s = (int)timeout;
	sd->helo = conf_str(c, "mta.smtp.helo");
	if (*sd->helo == '\0')
		sd->helo = sd->cfg->local.hostname;
}

/* The TLS context the channel's tls_client needs, made once. */
static void
smtp_deliver_tls(struct smtp_deliver *sd)
{
	const char *ca = conf_str(sd->cfg->conf, "mta.smtp.tlscafile");
	char *err = NULL;

	if (sd->chan->kw.tls_client == IMTA_NO)
		return;
	sd->tls = tls_blocking_ctx_new(sd->chan->kw.tls_client == IMTA_MUST,
	    ca, &err);
	if (sd->tls == NULL)
		log_fatal("channel %s: %s", sd->channel, err);
}

struct smtp_deliver *
smtp_deliver_new(const struct mta_config *cfg, struct event_base *base,
    const char *channel, FILE *out)
{
	struct smtp_deliver *sd = xcalloc(1, sizeof(*sd));
	struct dns_config dc = { .servers = cfg->dns_servers,
	    .timeout_ms = cfg->dns_timeout_ms };
	char *err = NULL;

	sd->cfg = cfg;
	sd->base = base;
	sd->out = out;
	sd->channel = xstrdup(channel);
	sd->chan = imta_conf_channel_by_name(cfg->imta, channel);
	if (sd->chan == NULL)
		log_fatal("channel %s: not in imta.cnf", channel);
	smtp_deliver_settings(sd);
	if ((sd->dns = dns_new(base, &dc, &err)) == NULL)
		log_fatal("mta.dns.servers: %s", err);
	smtp_deliver_tls(sd);
	return sd;
}

/* QUIT the kept session, if any. */
static void
sd_kept_close(struct smtp_deliver *sd)
{
	struct smtp_reply rep;

	if (sd->kept.c == NULL)
		return;
	smtp_client_set_timeout(sd->kept.c, smtp_deliver_timeout_ms(
	    sd->timeout_s, SMTP_STEP_QUIT));
	smtp_client_cmd_reply(sd->kept.c, "QUIT", &rep);
	smtp_client_free(&sd->kept.c);
}

void
smtp_deliver_free(struct smtp_deliver **sdp)
{
	struct smtp_deliver *sd = *sdp;

	*sdp = NULL;
	if (sd == NULL)
		return;
	sd_kept_close(sd);
	dns_free(&sd->dns);
	tls_blocking_ctx_free(&sd->tls);
	free(sd->channel);
	free(sd);
}

/* ---- verdicts ---- */

/* The first verdict of a recipient stands; host (may be NULL) answered. */
static void
sd_rcpt_answer(struct sd_rcpt *r, enum channel_job_result result, int code,
    const char *text, const char *host)
{
	if (r->answered)
		return;
	r->answered = true;
	r->result = result;
	r->code = code;
	r->text = xstrdup(text);
	r->host = host != NULL ? xstrdup(host) : NULL;
	for (char *p = r->text; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
}

/* A remote reply: 5xx fail, 4xx defer, 2xx a hand-over to the next
 * hop, which took the DSN request along when it offered DSN (passed) or
 * else leaves a success report to us (relayed, RFC 3461 5.2.3); the text
 * says who. */
static void
sd_rcpt_reply(struct sd_group *g, struct sd_rcpt *r,
    const struct smtp_reply *rep)
{
	enum channel_job_result result = channel_job_result_of(rep->code);
	char *text = xasprintf("%s%s(%s)", rep->text, *rep->text ? " " : "",
	    g->label);

	if (result == CJ_OK)
		result = smtp_client_has(g->c, SMTP_EXT_DSN) ? CJ_PASSED :
		    CJ_RELAYED;
	sd_rcpt_answer(r, result, rep->code, text, g->label);
	free(text);
}

/* Every recipient of the group not answered yet. */
static void
sd_group_answer(struct sd_group *g, enum channel_job_result result, int code,
    const char *text)
{
	for (size_t i = 0; i < g->n; i++)
		sd_rcpt_answer(g->rcpts[i], result, code, text,
		    g->c != NULL ? g->label : NULL);
}

/* The session broke: every recipient not answered yet waits. */
static void
sd_group_broken(struct sd_group *g)
{
	char *text = xasprintf("4.4.2 %s", smtp_client_error(g->c));

	sd_group_answer(g, CJ_DEFER, 0, text);
	free(text);
}

/* ---- DNS ---- */

/* Run the loop until *done; false when it cannot run. */
static bool
sd_dns_wait(struct smtp_deliver *sd, const bool *done)
{
	while (!*done)
		if (event_base_loop(sd->base, EVLOOP_ONCE) != 0)
			return false;
	return true;
}

struct sd_mx_answer {
	bool done;
	enum dns_status st;
	struct dns_mx mx[SMTP_DELIVER_HOSTS];
	size_t n;
};

static void
sd_mx_done(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct sd_mx_answer *a = arg;

	a->done = true;
	a->st = st;
	a->n = n < SMTP_DELIVER_HOSTS ? n : SMTP_DELIVER_HOSTS;
	if (a->n > 0)
		memcpy(a->mx, mx, a->n * sizeof(*mx));
}

struct sd_addr_answer {
	bool done;
	enum dns_status st;
	struct dns_addr addr[DNS_ADDR_MAX];
	size_t n;
};

static void
sd_addr_done(void *arg, enum dns_status st, const struct dns_addr *addr,
    size_t n)
{
	struct sd_addr_answer *a = arg;

	a->done = true;
	a->st = st;
	a->n = n < DNS_ADDR_MAX ? n : DNS_ADDR_MAX;
	if (a->n > 0)
		memcpy(a->addr, addr, a->n * sizeof(*addr));
}

static void
sd_mx_lookup(struct smtp_deliver *sd, const char *domain,
    struct sd_mx_answer *a)
{
	struct dns_req *req = dns_mx(sd->dns, domain, sd_mx_done, a);

	if (!sd_dns_wait(sd, &a->done)) {
		dns_cancel(&req);
		a->st = DNS_TEMPFAIL;
		a->n = 0;
	}
}

/* host's addresses: a literal's own, else A and AAAA records. */
static void
sd_addr_lookup(struct smtp_deliver *sd, const char *host,
    struct sd_addr_answer *a)
{
	if (host[0] == '[') {
		a->st = dns_addr_literal(host, &a->addr[0]) ? DNS_OK :
		    DNS_NXDOMAIN;
		a->n = a->st == DNS_OK;
		return;
	}
	struct dns_req *req = dns_addr(sd->dns, host, sd_addr_done, a);
	if (!sd_dns_wait(sd, &a->done)) {
		dns_cancel(&req);
		a->st = DNS_TEMPFAIL;
		a->n = 0;
	}
}

/* ---- the hosts of a group ---- */

static void
sd_group_one_host(struct sd_group *g, const char *host, bool implicit)
{
	snprintf(g->hosts[0], sizeof(g->hosts[0]), "%s", host);
	g->nhosts = 1;
	g->implicit = implicit;
}

/* The MX hosts of g->domain, else the domain itself; false when the
 * group was answered. */
static bool
sd_group_mx(struct sd_group *g)
{
	struct smtp_deliver *sd = g->en->sd;
	struct sd_mx_answer a = { 0 };
	char *text;
	bool self;

	sd_mx_lookup(sd, g->domain, &a);
	switch (a.st) {
	case DNS_NXDOMAIN:
		text = xasprintf("5.1.2 domain %s does not exist", g->domain);
		sd_group_answer(g, CJ_FAIL, 550, text);
		free(text);
		return false;
	case DNS_TEMPFAIL:
		text = xasprintf("4.4.3 DNS: MX lookup of %s failed for now",
		    g->domain);
		sd_group_answer(g, CJ_DEFER, 0, text);
		free(text);
		return false;
	case DNS_NODATA:    /* RFC 5321 5.1: the implicit MX */
		sd_group_one_host(g, g->domain, true);
		return true;
	case DNS_OK:
		break;
	}
	/* RFC 7505: a single MX of "." says the domain takes no mail. */
	if (a.n == 1 && (a.mx[0].host[0] == '\0' ||
	    strcmp(a.mx[0].host, ".") == 0)) {
		text = xasprintf("5.1.10 domain %s accepts no mail (null MX)",
		    g->domain);
		sd_group_answer(g, CJ_FAIL, 556, text);
		free(text);
		return false;
	}
	a.n = smtp_deliver_mx_trim(a.mx, a.n, sd->cfg->local.hostname, &self);
	for (size_t i = 0; i < a.n; i++)
		memcpy(g->hosts[i], a.mx[i].host, sizeof(g->hosts[i]));
	g->nhosts = a.n;
	return true;
}

/* Where the group's mail goes; false when the group was answered. */
static bool
sd_group_hosts(struct sd_group *g)
{
	struct smtp_deliver *sd = g->en->sd;
	const struct imta_keywords *kw = &sd->chan->kw;
	char *text;

	if (kw->route == IMTA_ROUTE_DAEMON)
		sd_group_one_host(g, kw->daemon, false);
	else if (g->domain[0] == '[' || kw->route == IMTA_ROUTE_NOMX)
		sd_group_one_host(g, g->domain, false);
	else if (!sd_group_mx(g))
		return false;
	if (g->nhosts == 0 || (g->nhosts == 1 &&
	    smtp_deliver_is_self(g->hosts[0], sd->cfg->local.hostname))) {
		text = xasprintf("5.4.6 mail for %s loops back to myself",
		    kw->route == IMTA_ROUTE_DAEMON ? kw->daemon : g->domain);
		sd_group_answer(g, CJ_FAIL, 554, text);
		free(text);
		return false;
	}
	return true;
}

/* ---- opening a session ---- */

/* Record why this try failed (for the log and the final defer); the
 * session is closed. */
static enum sd_session __attribute__((format(printf, 2, 3)))
sd_session_failed(struct sd_group *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->last, sizeof(g->last), fmt, ap);
	va_end(ap);
	log_info("id=%s domain=%s host=%s: %s", g->en->env.id, g->domain,
	    g->label, g->last);
	smtp_client_free(&g->c);
	return SD_SESSION_FAILED;
}

static enum sd_session
sd_session_broken(struct sd_group *g, const char *status)
{
	return sd_session_failed(g, "%s %s", status, smtp_client_error(g->c));
}

/* A reply that ends the try ("4.4.2 mx[1.2.3.4]: greeting: 421 ..."). */
static enum sd_session
sd_session_refused(struct sd_group *g, const char *status, const char *step,
    const struct smtp_reply *rep)
{
	char text[SMTP_CLIENT_TEXT_MAX + 1];

	snprintf(text, sizeof(text), "%s", rep->text);
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return sd_session_failed(g, "%s %s: %s: %d %s", status, g->label, step,
	    rep->code, text);
}

/* EHLO, or HELO when EHLO is refused for good; false: the try failed. */
static bool
sd_session_hello(struct sd_group *g, enum sd_session *how)
{
	const char *helo = g->en->sd->helo;
	struct smtp_reply rep;

	if (!smtp_client_hello(g->c, "EHLO", helo, &rep)) {
		*how = sd_session_broken(g, "4.4.2");
		return false;
	}
	if (rep.code / 100 == 5 && !smtp_client_hello(g->c, "HELO", helo, &rep)) {
		*how = sd_session_broken(g, "4.4.2");
		return false;
	}
	if (rep.code / 100 != 2) {
		*how = sd_session_refused(g, "4.4.2", "EHLO", &rep);
		return false;
	}
	return true;
}

/* STARTTLS as the channel's tls_client says, and EHLO again; name is
 * what the certificate must show (the MX host's, or the literal's
 * address). */
static enum sd_session
sd_session_tls(struct sd_group *g, const char *name)
{
	struct smtp_deliver *sd = g->en->sd;
	bool must = sd->chan->kw.tls_client == IMTA_MUST;
	enum sd_session how = SD_SESSION_OK;
	struct smtp_reply rep;

	if (sd->tls == NULL)
		return SD_SESSION_OK;
	if (!smtp_client_has(g->c, SMTP_EXT_STARTTLS))
		return must ? sd_session_failed(g, "4.7.5 %s: TLS required but "
		    "not offered", g->label) : SD_SESSION_OK;
	if (!smtp_client_cmd_reply(g->c, "STARTTLS", &rep))
		return sd_session_broken(g, "4.4.2");
	/* Opportunistic: a refusal leaves the session in plaintext. */
	if (rep.code != 220)
		return must ? sd_session_refused(g, "4.7.5", "STARTTLS", &rep) :
		    SD_SESSION_OK;
	if (!smtp_client_starttls(g->c, sd->tls, name)) {
		sd_session_broken(g, "4.7.5");
		return must ? SD_SESSION_FAILED : SD_SESSION_PLAIN;
	}
	if (!sd_session_hello(g, &how))
		return how;
	return SD_SESSION_OK;
}

/* One connection to host at addr: greeting, EHLO, TLS (unless plain). */
static enum sd_session
sd_session_open(struct sd_group *g, const char *host,
    const struct dns_addr *addr, bool plain)
{
	struct smtp_deliver *sd = g->en->sd;
	enum sd_session how = SD_SESSION_OK;
	struct smtp_reply rep;
	char tls[128];

	snprintf(g->label, sizeof(g->label), "%s[%s]", host[0] == '[' ? "" :
	    host, addr->text);
	g->c = smtp_client_new(g->label, sd->timeout_s);
	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(sd->timeout_s,
	    SMTP_STEP_COMMAND));
	if (!smtp_client_connect_addr(g->c, addr->text, sd->port))
		return sd_session_broken(g, "4.4.1");
	if (!smtp_client_read_reply(g->c, &rep))
		return sd_session_broken(g, "4.4.2");
	/* 4xx or 5xx: this host will not talk; the next one may. */
	if (rep.code != 220)
		return sd_session_refused(g, "4.4.2", "greeting", &rep);
	if (!sd_session_hello(g, &how))
		return how;
	if (!plain && (how = sd_session_tls(g, host[0] == '[' ? addr->text :
	    host)) != SD_SESSION_OK)
		return how;
	smtp_client_tls_describe(g->c, tls, sizeof(tls));
	log_info("id=%s domain=%s host=%s port=%d tls=\"%s\"", g->en->env.id,
	    g->domain, g->label, sd->port, tls);
	return SD_SESSION_OK;
}

/* A session with one of the group's hosts; false when none would talk
 * (the group is then answered). */
static bool
sd_group_connect(struct sd_group *g)
{
	struct smtp_deliver *sd = g->en->sd;
	struct sd_addr_answer a = { 0 };

	snprintf(g->last, sizeof(g->last), "4.4.4 no host to try");
	for (size_t h = 0; h < g->nhosts; h++) {
		memset(&a, 0, sizeof(a));
		sd_addr_lookup(sd, g->hosts[h], &a);
		if (a.st != DNS_OK) {
			snprintf(g->last, sizeof(g->last), "%s %s: no address "
			    "(%s)", a.st == DNS_TEMPFAIL ? "4.4.3" : "4.4.4",
			    g->hosts[h], dns_status_name(a.st));
			log_info("id=%s domain=%s host=%s: %s", g->en->env.id,
			    g->domain, g->hosts[h], g->last);
			continue;
		}
		for (size_t i = 0; i < a.n; i++) {
			if (g->attempts++ >= SMTP_DELIVER_ATTEMPTS)
				break;
			enum sd_session how = sd_session_open(g, g->hosts[h],
			    &a.addr[i], false);
			if (how == SD_SESSION_PLAIN)
				how = sd_session_open(g, g->hosts[h], &a.addr[i],
				    true);
			if (how == SD_SESSION_OK)
				return true;
		}
	}
	/* The implicit MX of a domain that exists without any address. */
	if (g->implicit && a.st == DNS_NODATA) {
		char *text = xasprintf("5.1.2 domain %s has no MX and no "
		    "address records", g->domain);
		sd_group_answer(g, CJ_FAIL, 550, text);
		free(text);
		return false;
	}
	sd_group_answer(g, CJ_DEFER, 0, g->last);
	return false;
}

/* ---- transactions ---- */

static char *
sd_txn_mail_cmd(struct sd_group *g, bool utf8)
{
	return smtp_client_mail_cmd(g->c, &g->en->env, g->en->body_8bit, utf8);
}

static char *
sd_txn_rcpt_cmd(struct sd_group *g, const struct sd_rcpt *r)
{
	return smtp_client_rcpt_cmd(g->c, r->address,
	    &g->en->env.rcpts[r->index]);
}

/* The recipients whose addresses need SMTPUTF8 the server lacks fail
 * (all of them when the sender's does); false when none is left. */
static bool
sd_group_utf8(struct sd_group *g)
{
	bool sender = smtp_path_is_8bit(g->en->env.from);
	char *text;
	size_t left = 0;

	if (smtp_client_has(g->c, SMTP_EXT_SMTPUTF8))
		return true;
	text = xasprintf("5.6.7 %s address needs SMTPUTF8, not offered by %s",
	    sender ? "the sender's" : "the recipient's", g->label);
	for (size_t i = 0; i < g->n; i++) {
		if (sender || smtp_path_is_8bit(g->rcpts[i]->address))
			sd_rcpt_answer(g->rcpts[i], CJ_FAIL, 553, text, g->label);
		left += !g->rcpts[i]->answered;
	}
	free(text);
	return left > 0;
}

static bool
sd_txn_needs_utf8(const struct sd_group *g)
{
	if (!smtp_client_has(g->c, SMTP_EXT_SMTPUTF8))
		return false;
	if (smtp_path_is_8bit(g->en->env.from))
		return true;
	for (size_t i = 0; i < g->ntxn; i++)
		if (smtp_path_is_8bit(g->txn[i]->address))
			return true;
	return false;
}

/* A RCPT reply: taken (into acc), or the recipient's verdict. */
static void
sd_txn_rcpt_reply(struct sd_group *g, size_t i, const struct smtp_reply *rep,
    struct sd_rcpt **acc, size_t *nacc)
{
	if (rep->code / 100 == 2)
		acc[(*nacc)++] = g->txn[i];
	else
		sd_rcpt_reply(g, g->txn[i], rep);
}

/* MAIL and the RCPTs, the accepted ones into acc (*nacc).  Under
 * PIPELINING (RFC 2920) the commands go out first and the replies are
 * read after, in order: the commands are few and small enough for the
 * socket buffers, so neither side blocks writing. */
static bool
sd_txn_envelope(struct sd_group *g, struct sd_rcpt **acc, size_t *nacc)
{
	bool pipe = smtp_client_has(g->c, SMTP_EXT_PIPELINING);
	char *cmd = sd_txn_mail_cmd(g, sd_txn_needs_utf8(g));
	struct smtp_reply mail = { .code = 0 }, rep;
	bool ok = smtp_client_command(g->c, cmd);

	free(cmd);
	*nacc = 0;
	if (ok && !pipe)
		ok = smtp_client_read_reply(g->c, &mail);
	for (size_t i = 0; ok && (pipe || mail.code / 100 == 2) &&
	    i < g->ntxn; i++) {
		cmd = sd_txn_rcpt_cmd(g, g->txn[i]);
		ok = smtp_client_command(g->c, cmd);
		free(cmd);
		if (ok && !pipe && (ok = smtp_client_read_reply(g->c, &rep)))
			sd_txn_rcpt_reply(g, i, &rep, acc, nacc);
	}
	if (ok && pipe) {
		ok = smtp_client_read_reply(g->c, &mail);
		/* After a refused MAIL the RCPT replies are moot. */
		for (size_t i = 0; ok && i < g->ntxn; i++)
			if ((ok = smtp_client_read_reply(g->c, &rep)) &&
			    mail.code / 100 == 2)
				sd_txn_rcpt_reply(g, i, &rep, acc, nacc);
	}
	if (!ok) {
		sd_group_broken(g);
		return false;
	}
	for (size_t i = 0; mail.code / 100 != 2 && i < g->ntxn; i++)
		sd_rcpt_reply(g, g->txn[i], &mail);
	return *nacc > 0;
}

/* DATA, the message, one reply for every accepted recipient (SMTP,
 * unlike LMTP). */
static void
sd_txn_data(struct sd_group *g, struct sd_rcpt **acc, size_t nacc)
{
	int base = g->en->sd->timeout_s;
	struct smtp_reply rep;

	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(base,
	    SMTP_STEP_DATA));
	if (!smtp_client_cmd_reply(g->c, "DATA", &rep)) {
		sd_group_broken(g);
		return;
	}
	if (rep.code != 354) {
		if (rep.code / 100 == 2 || rep.code / 100 == 3)
			snprintf(rep.text, sizeof(rep.text),
			    "4.5.0 unexpected reply %d to DATA", rep.code);
		if (rep.code / 100 == 2 || rep.code / 100 == 3)
			rep.code = 451;
		for (size_t i = 0; i < nacc; i++)
			sd_rcpt_reply(g, acc[i], &rep);
		return;
	}
	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(base,
	    SMTP_STEP_BLOCK));
	bool ok = smtp_client_send_body(g->c, g->en->fd,
	    (off_t)g->en->body_offset);
	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(base,
	    SMTP_STEP_DOT));
	if (ok)
		ok = smtp_client_read_reply(g->c, &rep);
	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(base,
	    SMTP_STEP_COMMAND));
	if (!ok) {
		sd_group_broken(g);
		return;
	}
	for (size_t i = 0; i < nacc; i++)
		sd_rcpt_reply(g, acc[i], &rep);
}

/* The session is done with the group: a RSET that succeeds leaves it
 * clean for the next entry to the same domain (kept for
 * SMTP_DELIVER_KEEP_SECS); otherwise, or past the kept session's limit,
 * QUIT.  The verdicts are in: neither is worth a long wait. */
static void
sd_group_keep(struct sd_group *g)
{
	struct smtp_deliver *sd = g->en->sd;
	struct smtp_reply rep;

	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(sd->timeout_s,
	    SMTP_STEP_QUIT));
	if (!smtp_client_cmd_reply(g->c, "RSET", &rep) || rep.code != 250) {
		smtp_client_cmd_reply(g->c, "QUIT", &rep);
		return;
	}
	smtp_client_set_timeout(g->c, smtp_deliver_timeout_ms(sd->timeout_s,
	    SMTP_STEP_COMMAND));
	sd_kept_close(sd);
	sd->kept.c = g->c;
	g->c = NULL;
	snprintf(sd->kept.domain, sizeof(sd->kept.domain), "%s", g->domain);
	snprintf(sd->kept.label, sizeof(sd->kept.label), "%s", g->label);
	sd->kept.since = time(NULL);
}

/* The kept session, when it is for this group's domain, fresh, and
 * still answers (a NOOP: a server that closed it meanwhile costs a new
 * connection, never a deferral). */
static bool
sd_group_take_kept(struct sd_group *g)
{
	struct smtp_deliver *sd = g->en->sd;
	struct smtp_reply rep;

	if (sd->kept.c == NULL)
		return false;
	if (strcasecmp(sd->kept.domain, g->domain) != 0 ||
	    time(NULL) - sd->kept.since > SMTP_DELIVER_KEEP_SECS ||
	    !smtp_client_cmd_reply(sd->kept.c, "NOOP", &rep) || rep.code != 250) {
		sd_kept_close(sd);
		return false;
	}
	g->c = sd->kept.c;
	sd->kept.c = NULL;
	snprintf(g->label, sizeof(g->label), "%s", sd->kept.label);
	return true;
}

/* The group's transactions on the open session, then keep it or QUIT. */
static void
sd_group_transactions(struct sd_group *g)
{
	struct sd_rcpt **acc = xcalloc(SMTP_DELIVER_TXN_RCPTS, sizeof(*acc));
	struct sd_rcpt **left = xcalloc(g->n, sizeof(*left));
	struct smtp_reply rep;
	size_t nleft = 0, nacc = 0;

	if (sd_group_utf8(g))
		for (size_t i = 0; i < g->n; i++)
			if (!g->rcpts[i]->answered)
				left[nleft++] = g->rcpts[i];
	for (size_t i = 0; i < nleft; i += g->ntxn) {
		g->txn = left + i;
		g->ntxn = nleft - i < SMTP_DELIVER_TXN_RCPTS ? nleft - i :
		    SMTP_DELIVER_TXN_RCPTS;
		/* A transaction left open (no recipient taken) ends. */
		if (i > 0 && !smtp_client_cmd_reply(g->c, "RSET", &rep)) {
			sd_group_broken(g);
			break;
		}
		if (sd_txn_envelope(g, acc, &nacc))
			sd_txn_data(g, acc, nacc);
	}
	free(left);
	free(acc);
	sd_group_keep(g);
}

static void
sd_group_deliver(struct sd_group *g)
{
	g->nhosts = 0;
	g->implicit = false;
	g->attempts = 0;
	g->label[0] = '\0';
	if (sd_group_take_kept(g) || (sd_group_hosts(g) && sd_group_connect(g)))
		sd_group_transactions(g);
	smtp_client_free(&g->c);
}

/* One group per domain (case-insensitively) in envelope order, or one
 * for them all through a smarthost. */
static void
sd_entry_deliver(struct sd_entry *en)
{
	bool smarthost = en->sd->chan->kw.route == IMTA_ROUTE_DAEMON;
	struct sd_group g = { .en = en };

	g.rcpts = xcalloc(en->nrcpts, sizeof(*g.rcpts));
	for (size_t i = 0; i < en->nrcpts; i++) {
		struct sd_rcpt *first = &en->rcpts[i];
		if (first->answered)
			continue;
		g.domain = smarthost ? "*" : first->domain;
		g.n = 0;
		for (size_t j = i; j < en->nrcpts; j++) {
			struct sd_rcpt *r = &en->rcpts[j];
			if (!r->answered && (smarthost ||
			    strcasecmp(r->domain, g.domain) == 0))
				g.rcpts[g.n++] = r;
		}
		sd_group_deliver(&g);
	}
	free(g.rcpts);
}

/* ---- the entry ---- */

/* Open and parse; the envelope must name our channel. */
static bool
sd_entry_open(struct sd_entry *en)
{
	en->fd = chanprog_open(en->sd->channel, en->path, &en->env,
	    &en->body_offset);
	return en->fd >= 0;
}

/* Does the message hold octets above 127 (BODY=8BITMIME)?  A read error
 * says yes: the declaration is harmless, and sending will fail anyway. */
static bool
sd_entry_8bit(const struct sd_entry *en)
{
	char buf[16384];
	off_t off = (off_t)en->body_offset;
	ssize_t n;

	while ((n = pread(en->fd, buf, sizeof(buf), off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return true;
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] >= 0x80)
				return true;
		off += n;
	}
	return false;
}

static void
sd_entry_report(struct sd_entry *en)
{
	for (size_t i = 0; i < en->nrcpts; i++) {
		struct sd_rcpt *r = &en->rcpts[i];
		if (!r->answered)   /* a bug: never leave one unanswered */
			sd_rcpt_answer(r, CJ_DEFER, 0, "4.3.0 internal error", NULL);
		channel_job_write_rcpt(en->sd->out, en->path, r->index, r->result,
		    r->code, r->text);
		log_info("id=%s rcpt=<%s> index=%zu host=%s result=%s code=%d "
		    "text=\"%s\"", en->env.id, r->address, r->index,
		    r->host ? r->host : "-", channel_job_result_name(r->result),
		    r->code, r->text);
	}
}

/* The pending recipients; those without a domain fail at once. */
static void
sd_entry_rcpts(struct sd_entry *en)
{
	en->rcpts = xcalloc(en->env.nrcpts, sizeof(*en->rcpts));
	for (size_t i = 0; i < en->env.nrcpts; i++) {
		if (en->env.rcpts[i].state != QUEUE_RCPT_PENDING)
			continue;
		struct sd_rcpt *r = &en->rcpts[en->nrcpts++];
		r->index = i;
		r->address = en->env.rcpts[i].address;
		r->domain = smtp_deliver_domain(r->address);
		if (r->domain == NULL)
			sd_rcpt_answer(r, CJ_FAIL, 553,
			    "5.1.3 the address has no domain", NULL);
	}
}

void
smtp_deliver_entry(struct smtp_deliver *sd, const char *path)
{
	struct sd_entry en = { .sd = sd, .path = path, .fd = -1 };

	if (sd_entry_open(&en)) {
		en.body_8bit = sd_entry_8bit(&en);
		sd_entry_rcpts(&en);
		sd_entry_deliver(&en);
		sd_entry_report(&en);
	}
	for (size_t i = 0; i < en.nrcpts; i++) {
		free(en.rcpts[i].text);
		free(en.rcpts[i].host);
	}
	free(en.rcpts);
	queue_env_clear(&en.env);
	if (en.fd >= 0)
		close(en.fd);
}
