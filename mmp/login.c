/*
 * login: from the client's login and password to a session relayed to
 * the user's store.
 *
 *   1. the login cache (mmp.authcachettl), else a bind as the user's
 *      entry (common/dir: the login filter is local.ldap.loginfilter,
 *      the seed's SearchFormat; unqualified logins get
 *      local.ldap.defaultdomain)
 *   2. the account: deleted, refused; inactive, temporary; active or
 *      held, on
 *   3. the user's mailHost, mapped by mmp.{imap,pop}.backends or resolved
 *   4. backend.c logs in there for the user's mail address
 *
 *   wrong password, no such user   the front end's "failed", after the
 *                                  address's penalty delay (penalty.c)
 *   directory or store down        temporary ([UNAVAILABLE], [SYS/TEMP])
 *   a cached route fails           the directory is asked once more (the
 *                                  user may have moved)
 */
#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authcache.h"
#include "dir.h"
#include "dns.h"
#include "log.h"
#include "mmp.h"
#include "sasl_exchange.h"
#include "xmalloc.h"

static void
wipe_free(char **p)
{
	if (*p != NULL) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static void
login_log(const struct mmp_session *s, const char *result)
{
	log_info("%s session=%lu peer=%s login=%s user=%s mailhost=%s "
	    "result=%s", mmp_proto_name(s->proto), s->id, s->peer, s->login,
	    s->user ? s->user : "-", s->mailhost ? s->mailhost : "-", result);
}

/* Tell the front end; a session not relaying reads commands again. */
static void
login_finish(struct mmp_session *s, enum mmp_login_result r,
    const char *text)
{
	struct mmp_server *srv = s->srv;

	wipe_free(&s->pass);
	if (r == MMP_LOGIN_OK)
		srv->stats.logins_ok++;
	else if (r == MMP_LOGIN_FAILED)
		srv->stats.logins_failed++;
	else
		srv->stats.logins_unavailable++;
	if (r != MMP_LOGIN_OK) {
		s->state = MMP_PREAUTH;
		bufferevent_enable(s->bev, EV_READ);
	}
	if (s->proto == MMP_IMAP)
		mmp_imap_login_done(s, r, text);
	else
		mmp_pop_login_done(s, r, text);
}

static void
login_penalty_over(evutil_socket_t fd, short what, void *arg)
{
	struct mmp_session *s = arg;

	(void)fd;
	(void)what;
	event_free(s->timer);
	s->timer = NULL;
	login_finish(s, MMP_LOGIN_FAILED, "");
}

/* Wrong password or no such user: answered after the penalty. */
static void
login_failed(struct mmp_session *s, const char *why)
{
	struct timeval tv = { .tv_sec = mmp_penalty_fail(s->srv->penalty,
	    s->peer, (long)time(NULL)) };

	login_log(s, why);
	s->timer = evtimer_new(s->srv->base, login_penalty_over, s);
	evtimer_add(s->timer, &tv);
}

static void login_on_auth(void *arg, const struct dir_auth_result *res);

/* A route from the login cache failed: the mailHost may have changed
 * since (a user moved to another store, whose old store now says "not
 * here, try later").  Ask the directory again rather than keep the user
 * out until the entry ages; its answer replaces the entry.  Only the
 * cached route keeps s->pass this far, so this happens once. */
static bool
login_retry_uncached(struct mmp_session *s, enum mmp_login_result r)
{
	if (r != MMP_LOGIN_UNAVAILABLE || s->pass == NULL)
		return false;
	log_info("%s session=%lu login=%s mailhost=%s from the login cache "
	    "failed: asking the directory", mmp_proto_name(s->proto), s->id,
	    s->login, s->mailhost);
	free(s->user);
	free(s->mailhost);
	s->user = s->mailhost = NULL;
	s->dir_req = dir_authenticate(s->srv->dir, s->login, s->pass,
	    login_on_auth, s);
	return true;
}

void
mmp_login_backend_done(struct mmp_session *s, enum mmp_login_result r,
    const char *text)
{
	login_log(s, r == MMP_LOGIN_OK ? "ok" : "store refused or unreachable");
	if (r != MMP_LOGIN_OK)
		s->srv->stats.backend_failed++;
	if (login_retry_uncached(s, r))
		return;
	login_finish(s, r, text);
}

static void
login_on_addr(void *arg, enum dns_status st, const struct dns_addr *addr,
    size_t n)
{
	struct mmp_session *s = arg;
	const char *host;
	int port;

	s->dns_req = NULL;
	if (st != DNS_OK || n == 0) {
		log_warn("%s session=%lu mailhost=%s: %s", mmp_proto_name(s->proto),
		    s->id, s->mailhost, dns_status_name(st));
		login_finish(s, MMP_LOGIN_UNAVAILABLE, "Mailbox server unknown, "
		    "try later");
		return;
	}
	mmp_config_backend(s->srv->cfg, s->proto, s->mailhost, &host, &port);
	mmp_backend_start(s, addr[0].text, port);
}

/* The user's store: an address, or a name to resolve.  s->pass is
 * wiped by the caller, or kept for login_retry_uncached. */
static void
login_route(struct mmp_session *s)
{
	const char *host;
	int port;
	struct in6_addr a6;
	struct in_addr a4;

	mmp_config_backend(s->srv->cfg, s->proto, s->mailhost, &host, &port);
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1) {
		mmp_backend_start(s, host, port);
		return;
	}
	s->dns_req = dns_addr(s->srv->dns, host, login_on_addr, s);
}

static void
login_on_auth(void *arg, const struct dir_auth_result *res)
{
	struct mmp_session *s = arg;
	const char *mail, *mailhost;

	s->dir_req = NULL;
	if (res->status == DIR_AUTH_FAILED) {
		login_failed(s, dir_auth_reason_name(res->reason));
		return;
	}
	if (res->status != DIR_AUTH_OK) {
		login_log(s, dir_auth_reason_name(res->reason));
		login_finish(s, MMP_LOGIN_UNAVAILABLE, "Directory unavailable, "
		    "try later");
		return;
	}
	switch (dir_entry_user_state(res->entry)) {
	case DIR_USER_DELETED:
		login_log(s, "account deleted or disabled");
		login_finish(s, MMP_LOGIN_REFUSED, "");
		return;
	case DIR_USER_INACTIVE:
		login_log(s, "account inactive");
		login_finish(s, MMP_LOGIN_UNAVAILABLE, "Account inactive, try "
		    "later");
		return;
	case DIR_USER_ACTIVE:
	case DIR_USER_HOLD:
		break;
	}
	mail = dir_entry_get(res->entry, "mail");
	mailhost = dir_entry_get(res->entry, "mailHost");
	if (mail == NULL || mailhost == NULL) {
		login_log(s, "the entry has no mail or no mailHost");
		login_finish(s, MMP_LOGIN_UNAVAILABLE, "No mailbox server for "
		    "this account");
		return;
	}
	s->user = xstrdup(mail);
	s->mailhost = xstrdup(mailhost);
	authcache_put(s->srv->authcache, s->login, s->pass, mail, mailhost,
	    (long)time(NULL));
	wipe_free(&s->pass);
	login_route(s);
}

enum mmp_sasl_result
mmp_sasl_step(struct mmp_session *s, const char *b64, const char **challenge)
{
	struct sasl_exchange *x;
	const struct sasl_creds *c;

	switch (sasl_exchange_step(s->sasl, b64, challenge)) {
	case SASL_NEED_MORE:
		return MMP_SASL_CHALLENGE;
	case SASL_MALFORMED:
		sasl_exchange_free(&s->sasl);
		return MMP_SASL_MALFORMED;
	case SASL_GOT_CREDS:
		break;
	}
	/* Off the session first: the login may end at once and the session
	 * go on to its next command. */
	x = s->sasl;
	s->sasl = NULL;
	c = sasl_exchange_creds(x);
	bool other = *c->authz != '\0';
	if (!other)
		mmp_login_start(s, c->authc, c->pass);
	sasl_exchange_free(&x);
	return other ? MMP_SASL_AUTHZ : MMP_SASL_LOGIN;
}

void
mmp_login_start(struct mmp_session *s, const char *login,
    const char *password)
{
	const char *user, *mailhost;

	s->state = MMP_LOGIN;
	bufferevent_disable(s->bev, EV_READ);
	free(s->login);
	s->login = xstrdup(login);
	free(s->user);
	free(s->mailhost);
	s->user = s->mailhost = NULL;
	if (authcache_get(s->srv->authcache, login, password,
	    (long)time(NULL), &user, &mailhost)) {
		s->user = xstrdup(user);
		s->mailhost = xstrdup(mailhost);
		log_debug("%s session=%lu login=%s from the login cache",
		    mmp_proto_name(s->proto), s->id, login);
		s->pass = xstrdup(password);
		login_route(s);
		return;
	}
	s->pass = xstrdup(password);
	/* The answer may come at once (the cache knows the login does not
	 * exist); the handle is then NULL. */
	s->dir_req = dir_authenticate(s->srv->dir, login, password,
	    login_on_auth, s);
}

void
mmp_login_cancel(struct mmp_session *s)
{
	dir_cancel(&s->dir_req);
	dns_cancel(&s->dns_req);
	if (s->timer != NULL) {
		event_free(s->timer);
		s->timer = NULL;
	}
	mmp_backend_cancel(s);
	sasl_exchange_free(&s->sasl);
	wipe_free(&s->pass);
	free(s->login);
	free(s->user);
	free(s->mailhost);
	s->login = s->user = s->mailhost = NULL;
}
