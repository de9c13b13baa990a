/*
 * dir_conn: one connection of a struct dir to the directory, and the
 * failover between its servers.  A dir has several: the search channel,
 * the secret reader's and the pool of auth connections; each fails over
 * on its own, and tells its owner what happened through its ops (see
 * dir_private.h).
 *
 * Owns the socket, the LDAP handle made on it, the resolver and three
 * events.  Nothing here blocks: the host is resolved numerically or by
 * evdns, the TCP connect is non-blocking and completes on writability,
 * and only then is libldap given the socket (ldap_init_fd), so libldap
 * never connects by itself.  The bind (simple, when a bind DN is set) and
 * every operation of the owner are asynchronous; answers are pulled with ldap_result() and
 * a zero timeout whenever the socket is readable.
 *
 * States: IDLE -> WAIT (timer) -> RESOLVING -> CONNECTING -> BINDING ->
 * READY.  One attempt at a time, and only while requests wait for it.
 *
 * Failure policy: an attempt that fails or times out (timeout_ms, or half
 * of it when there are several servers) moves to the next server, round
 * robin from the failed one.  A dropped connection gives the owner back
 * what was in flight and moves on the same way; it only counts as a
 * failed attempt if nothing was answered on it (a server that accepts and
 * then drops every search must not keep us reconnecting).  When every server has
 * failed in a row the waiting requests get DIR_UNAVAILABLE at once and no
 * new attempt starts for DIR_HOLDDOWN_MS.  A drop while idle (the server's
 * idle timeout) is not a failure: the next request reconnects.
 *
 * User callbacks never run from here directly: failing the requests after
 * a failed round happens on the timer, so every function here may be
 * called from inside dir_find_user().  Log lines name the connection
 * (conn=search, conn=auth1, ...) after the fields that were there first.
 */
#include "dir_private.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openldap.h>     /* ldap_init_fd */

#include "log.h"

static void dir_conn_timer_cb(evutil_socket_t, short, void *);
static void dir_conn_connect_cb(evutil_socket_t, short, void *);
static void dir_conn_io_cb(evutil_socket_t, short, void *);
static void dir_conn_wio_cb(evutil_socket_t, short, void *);

void
dir_conn_init(struct dir_conn *c, struct dir *dir,
    const struct dir_conn_ops *ops, void *owner, const char *name,
    const char *binddn, const char *bindpw)
{
	memset(c, 0, sizeof(*c));
	c->dir = dir;
	c->ops = ops;
	c->owner = owner;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->binddn = binddn;
	c->bindpw = bindpw;
	c->state = DIR_CONN_IDLE;
	c->fd = -1;
	c->bind_msgid = -1;
	c->timer = evtimer_new(dir->evbase, dir_conn_timer_cb, c);
	if (c->timer == NULL)
		log_panic("dir: evtimer_new failed");
}

const char *
dir_conn_uri(const struct dir_conn *c)
{
	return c->dir->servers[c->cur].uri;
}

static void
dir_conn_timer_add(struct dir_conn *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

/* Per attempt: with several servers leave room to try the next one
 * within the time of one request. */
static uint64_t
dir_conn_attempt_ms(const struct dir *dir)
{
	int ms = dir->nservers > 1 ? dir->timeout_ms / 2 : dir->timeout_ms;

	return ms < 100 ? 100 : (uint64_t)ms;
}

static void
dir_conn_teardown(struct dir_conn *c)
{
	struct evdns_getaddrinfo_request *r = c->dns_req;

	c->dns_req = NULL;
	if (r != NULL)
		evdns_getaddrinfo_cancel(r);
	if (c->ai != NULL)
		evutil_freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
	if (c->io != NULL)
		event_free(c->io);
	if (c->wio != NULL)
		event_free(c->wio);
	c->io = c->wio = NULL;
	if (c->ld != NULL)
		ldap_unbind_ext(c->ld, NULL, NULL);     /* closes fd */
	else if (c->fd >= 0)
		close(c->fd);
	c->ld = NULL;
	c->fd = -1;
	evtimer_del(c->timer);
	c->bind_msgid = -1;
	c->answered = false;
	c->resolved = false;
	c->round_failed = false;
	c->gen++;
	c->state = DIR_CONN_IDLE;
}

void
dir_conn_close(struct dir_conn *c)
{
	dir_conn_teardown(c);
	if (c->timer != NULL)
		event_free(c->timer);
	c->timer = NULL;
	if (c->dns != NULL)
		evdns_base_free(c->dns, 0);
	c->dns = NULL;
}

/* uri failed; `cur` is the server tried next (the same one if alone). */
static void
dir_conn_log_next(const struct dir_conn *c, const char *uri, const char *why)
{
	if (c->dir->nservers == 1)
		log_warn("dir_reconnect uri=%s err=\"%s\" conn=%s", uri, why,
		    c->name);
	else
		log_warn("dir_failover uri=%s err=\"%s\" next=%s conn=%s", uri,
		    why, dir_conn_uri(c), c->name);
}

/*
 * The attempt on server `cur` failed: go on with the next one, or, when
 * all have failed in a row, fail the waiting requests (on the timer).
 */
static void
dir_conn_attempt_failed(struct dir_conn *c, const char *why)
{
	struct dir *dir = c->dir;
	const char *uri = dir_conn_uri(c);

	dir_conn_teardown(c);
	c->failed++;
	c->cur = (c->cur + 1) % dir->nservers;
	c->state = DIR_CONN_WAIT;
	dir_conn_timer_add(c, 0);
	if (c->failed < dir->nservers) {
		dir_conn_log_next(c, uri, why);
		return;
	}
	log_err("dir_unavailable uri=%s err=\"%s\" servers=%zu retry_ms=%d "
	    "conn=%s", uri, why, dir->nservers, DIR_HOLDDOWN_MS, c->name);
	c->failed = 0;
	c->round_failed = true;
	c->holddown_until = dir_now_ms() + DIR_HOLDDOWN_MS;
}

void
dir_conn_fail(struct dir_conn *c, const char *why)
{
	const char *uri = dir_conn_uri(c);
	bool answered = c->answered;

	if (c->state != DIR_CONN_READY) {
		dir_conn_attempt_failed(c, why);
		return;
	}
	dir_conn_teardown(c);
	c->ops->dropped(c);
	if (!c->ops->pending(c)) {
		log_info("dir_closed uri=%s err=\"%s\" conn=%s", uri, why,
		    c->name);
		return;
	}
	if (!answered) {
		dir_conn_attempt_failed(c, why);
		return;
	}
	c->failed = 0;
	c->cur = (c->cur + 1) % c->dir->nservers;
	dir_conn_log_next(c, uri, why);
	c->state = DIR_CONN_WAIT;
	dir_conn_timer_add(c, 0);
}

void
dir_conn_answered(struct dir_conn *c)
{
	c->answered = true;
	c->failed = 0;
}

void
dir_conn_kick(struct dir_conn *c)
{
	uint64_t now;

	if (c->state != DIR_CONN_IDLE)
		return;
	now = dir_now_ms();
	c->state = DIR_CONN_WAIT;
	dir_conn_timer_add(c, c->holddown_until > now ?
	    c->holddown_until - now : 0);
}

bool
dir_conn_can_send(const struct dir_conn *c)
{
	return c->state == DIR_CONN_READY &&
	    (c->wio == NULL || !event_pending(c->wio, EV_WRITE, NULL));
}

void
dir_conn_want_write(struct dir_conn *c)
{
	if (c->wio == NULL)
		c->wio = event_new(c->dir->evbase, c->fd, EV_WRITE,
		    dir_conn_wio_cb, c);
	if (c->wio == NULL)
		log_panic("dir: event_new failed");
	event_add(c->wio, NULL);
}

static void
dir_conn_ready(struct dir_conn *c)
{
	c->state = DIR_CONN_READY;
	evtimer_del(c->timer);
	c->holddown_until = 0;
	log_info("dir_connected uri=%s conn=%s", dir_conn_uri(c), c->name);
	c->ops->ready(c);
}

static void
dir_conn_bind(struct dir_conn *c)
{
	struct berval cred;
	int rc;

	cred.bv_val = (char *)(c->bindpw != NULL ? c->bindpw : "");
	cred.bv_len = strlen(cred.bv_val);
	rc = ldap_sasl_bind(c->ld, c->binddn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, &c->bind_msgid);
	if (rc != LDAP_SUCCESS) {
		dir_conn_attempt_failed(c, ldap_err2string(rc));
		return;
	}
	c->state = DIR_CONN_BINDING;
}

static void
dir_conn_bound(struct dir_conn *c, LDAPMessage *msg)
{
	char *text = NULL, why[256];
	int err = LDAP_OTHER, rc;

	rc = ldap_parse_result(c->ld, msg, &err, NULL, &text, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS)
		err = rc;
	if (err == LDAP_SUCCESS) {
		ldap_memfree(text);
		dir_conn_ready(c);
		return;
	}
	snprintf(why, sizeof(why), "bind as %s: %s%s%s", c->binddn,
	    ldap_err2string(err), text != NULL && *text ? ": " : "",
	    text != NULL ? text : "");
	ldap_memfree(text);
	dir_conn_attempt_failed(c, why);
}

static void
dir_conn_sockopts(int fd)
{
	int on = 1;

	/* Failures only cost latency or dead-peer detection: ignored. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/* The TCP connection is up: give it to libldap, then bind. */
static void
dir_conn_open_ldap(struct dir_conn *c)
{
	int v3 = LDAP_VERSION3, rc;
	ber_len_t maxpdu = DIR_PDU_MAX_BYTES;
	Sockbuf *sb = NULL;

	dir_conn_sockopts(c->fd);
	rc = ldap_init_fd(c->fd, LDAP_PROTO_TCP, dir_conn_uri(c), &c->ld);
	if (rc != LDAP_SUCCESS) {
		c->ld = NULL;
		dir_conn_attempt_failed(c, ldap_err2string(rc));
		return;
	}
	ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	/* Chasing a referral would make libldap connect on its own. */
	ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS &&
	    sb != NULL)
		ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_MAX_INCOMING, &maxpdu);
	c->io = event_new(c->dir->evbase, c->fd, EV_READ | EV_PERSIST,
	    dir_conn_io_cb, c);
	if (c->io == NULL)
		log_panic("dir: event_new failed");
	event_add(c->io, NULL);
	c->last_read_ms = dir_now_ms();
	if (c->binddn == NULL)
		dir_conn_ready(c);
	else
		dir_conn_bind(c);
}

/* Start a non-blocking connect to the next address of the server. */
static void
dir_conn_connect_next(struct dir_conn *c)
{
	while (c->ai_next != NULL) {
		struct evutil_addrinfo *ai = c->ai_next;
		int fd;

		c->ai_next = ai->ai_next;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			c->fd = fd;
			c->state = DIR_CONN_CONNECTING;
			c->io = event_new(c->dir->evbase, fd, EV_WRITE,
			    dir_conn_connect_cb, c);
			if (c->io == NULL)
				log_panic("dir: event_new failed");
			event_add(c->io, NULL);
			return;
		}
		c->last_errno = errno;
		close(fd);
	}
	dir_conn_attempt_failed(c, strerror(c->last_errno));
}

static void
dir_conn_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir_conn *c = arg;
	struct dir *dir = c->dir;
	socklen_t len = sizeof(int);
	int err = 0;

	(void)what;
	dir_enter(dir);
	event_free(c->io);
	c->io = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		dir_conn_open_ldap(c);
	} else {
		c->last_errno = err;
		close(c->fd);
		c->fd = -1;
		dir_conn_connect_next(c);
	}
	dir_leave(dir);
}

/* evdns may call this from inside evdns_getaddrinfo() or its own event;
 * we only record the answer and continue on our timer. */
static void
dir_conn_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dir_conn *c = arg;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	c->dns_req = NULL;
	c->gai_result = result;
	c->ai = c->ai_next = result == 0 ? res : NULL;
	c->resolved = true;
	dir_conn_timer_add(c, 0);
}

static void
dir_conn_resolve(struct dir_conn *c, const struct dir_server *s)
{
	struct evutil_addrinfo hints, *res = NULL;
	struct evdns_getaddrinfo_request *r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
	if (evutil_getaddrinfo(s->host, s->port, &hints, &res) == 0) {
		c->ai = c->ai_next = res;
		dir_conn_connect_next(c);
		return;
	}
	hints.ai_flags = EVUTIL_AI_NUMERICSERV | EVUTIL_AI_ADDRCONFIG;
	if (c->dns == NULL)
		c->dns = evdns_base_new(c->dir->evbase,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (c->dns == NULL) {
		dir_conn_attempt_failed(c, "cannot start the resolver");
		return;
	}
	r = evdns_getaddrinfo(c->dns, s->host, s->port, &hints,
	    dir_conn_resolved_cb, c);
	if (r != NULL)
		c->dns_req = r;
}

static void
dir_conn_attempt(struct dir_conn *c)
{
	struct dir *dir = c->dir;

	if (c->attempts++ > 0)
		c->reconnects++;
	log_debug("dir_connect uri=%s conn=%s", dir_conn_uri(c), c->name);
	c->state = DIR_CONN_RESOLVING;
	c->resolved = false;
	c->deadline_ms = dir_now_ms() + dir_conn_attempt_ms(dir);
	dir_conn_timer_add(c, dir_conn_attempt_ms(dir));
	dir_conn_resolve(c, &dir->servers[c->cur]);
}

static void
dir_conn_resolving_timer(struct dir_conn *c)
{
	uint64_t now;

	if (!c->resolved) {
		dir_conn_attempt_failed(c, "timeout");
		return;
	}
	c->resolved = false;
	if (c->gai_result != 0) {
		dir_conn_attempt_failed(c, evutil_gai_strerror(c->gai_result));
		return;
	}
	now = dir_now_ms();
	dir_conn_timer_add(c, c->deadline_ms > now ? c->deadline_ms - now : 0);
	dir_conn_connect_next(c);
}

static void
dir_conn_wait_timer(struct dir_conn *c)
{
	if (c->round_failed) {
		c->round_failed = false;
		c->state = DIR_CONN_IDLE;
		c->ops->round_failed(c);
		return;
	}
	if (!c->ops->pending(c)) {
		/* Nobody waits any more: the next request starts afresh. */
		c->state = DIR_CONN_IDLE;
		c->failed = 0;
		return;
	}
	dir_conn_attempt(c);
}

static void
dir_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir_conn *c = arg;
	struct dir *dir = c->dir;

	(void)fd;
	(void)what;
	dir_enter(dir);
	switch (c->state) {
	case DIR_CONN_WAIT:
		dir_conn_wait_timer(c);
		break;
	case DIR_CONN_RESOLVING:
		dir_conn_resolving_timer(c);
		break;
	case DIR_CONN_CONNECTING:
	case DIR_CONN_BINDING:
		dir_conn_attempt_failed(c, "timeout");
		break;
	case DIR_CONN_IDLE:
	case DIR_CONN_READY:
		break;
	}
	dir_leave(dir);
}

static const char *
dir_conn_ldap_err(LDAP *ld)
{
	int err = LDAP_SERVER_DOWN;

	ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
	return ldap_err2string(err);
}

static void
dir_conn_handle(struct dir_conn *c, LDAPMessage *msg)
{
	int msgid = ldap_msgid(msg);

	if (msgid == 0) {
		/* Unsolicited: RFC 4511 4.4.1 Notice of Disconnection. */
		ldap_msgfree(msg);
		dir_conn_fail(c, "notice of disconnection");
		return;
	}
	if (c->state == DIR_CONN_BINDING) {
		if (msgid == c->bind_msgid)
			dir_conn_bound(c, msg);
		else
			ldap_msgfree(msg);
		return;
	}
	c->ops->message(c, msg);
}

/* Take every message libldap has for us, a batch at a time. */
static void
dir_conn_drain(struct dir_conn *c)
{
	struct dir *dir = c->dir;
	unsigned gen = c->gen;

	for (int i = 0; i < DIR_READ_BATCH; i++) {
		struct timeval zero = { 0, 0 };
		LDAPMessage *msg = NULL;
		int rc;

		rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
		if (rc == 0)
			return;
		if (rc < 0 || msg == NULL) {
			dir_conn_fail(c, dir_conn_ldap_err(c->ld));
			return;
		}
		c->last_read_ms = dir_now_ms();
		dir_conn_handle(c, msg);
		if (dir->dying || c->gen != gen)
			return;
	}
	/* More may sit in libldap's buffer, where poll cannot see it. */
	event_active(c->io, EV_READ, 0);
}

static void
dir_conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir_conn *c = arg;
	struct dir *dir = c->dir;

	(void)fd;
	(void)what;
	dir_enter(dir);
	dir_conn_drain(c);
	dir_leave(dir);
}

/* Writable again: ldap_result() finishes libldap's partial write. */
static void
dir_conn_wio_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir_conn *c = arg;
	struct dir *dir = c->dir;
	unsigned gen = c->gen;

	(void)fd;
	(void)what;
	dir_enter(dir);
	dir_conn_drain(c);
	if (!dir->dying && c->gen == gen && c->state == DIR_CONN_READY)
		c->ops->ready(c);
	dir_leave(dir);
}
