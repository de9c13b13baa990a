/*
 * smtp_auth: AUTH (RFC 4954) with SASL PLAIN (RFC 4616) and LOGIN, the
 * password checked by a bind as the user in the directory (common/dir),
 * and CRAM-MD5 (RFC 2195) where the directory gives clear passwords
 * (local.ldap.secretbinddn).
 *
 *   offered            PLAIN and LOGIN only over TLS, unless
 *                      service.smtp.plaintextauth; CRAM-MD5 (no password
 *                      on the wire) with or without TLS
 *   wrong password,
 *   no such user       535 5.7.8 (not told apart)
 *   disabled account   535 5.7.8 (the log says why)
 *   directory down     454 4.7.0 (temporary)
 *   "*" from client    501 5.0.0 (RFC 4954 4: cancelled)
 *
 * An authorization identity other than the login itself is refused: the
 * mta does not let one user submit as another.  Success moves the
 * session to its channel's `saslswitchchannel`.
 */
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dir.h"
#include "log.h"
#include "sasl.h"
#include "sasl_exchange.h"
#include "smtp.h"
#include "xmalloc.h"

/* The mechanisms offered now, "" for none. */
const char *
smtp_auth_mechanisms(const struct smtp_session *s)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(s->cfg->imta,
	    s->src_channel);
	bool cram = dir_secret_supported(s->srv->dir);

	if (s->auth_user != NULL || s->srv->dir == NULL)
		return "";
	if (ch != NULL && ch->kw.sasl_server == IMTA_NO &&
	    ch->kw.saslswitchchannel == NULL)
		return "";
	if (s->tls || s->cfg->auth_plaintext)
		return cram ? "PLAIN LOGIN CRAM-MD5" : "PLAIN LOGIN";
	return cram ? "CRAM-MD5" : "";
}

static bool
auth_mechanism_offered(const struct smtp_session *s, const char *mech)
{
	char list[64];

	snprintf(list, sizeof(list), " %s ", smtp_auth_mechanisms(s));
	for (char *p = list; (p = strcasestr(p, mech)) != NULL; p++)
		if (p[-1] == ' ' && p[strlen(mech)] == ' ')
			return true;
	return false;
}

void
smtp_auth_cancel(struct smtp_session *s)
{
	dir_cancel(&s->auth_req);
	if (s->auth_login != NULL) {
		explicit_bzero(s->auth_login, strlen(s->auth_login));
		free(s->auth_login);
		s->auth_login = NULL;
	}
	sasl_exchange_free(&s->sasl);
	if (s->state == SMTP_AUTH)
		s->state = SMTP_COMMAND;
}

static void
auth_switch_channel(struct smtp_session *s)
{
	const struct imta_channel *ch = imta_conf_channel_by_name(s->cfg->imta,
	    s->src_channel);

	if (ch != NULL && ch->kw.saslswitchchannel != NULL)
		snprintf(s->src_channel, sizeof(s->src_channel), "%s",
		    ch->kw.saslswitchchannel);
}

static void
auth_on_result(void *arg, const struct dir_auth_result *res)
{
	struct smtp_session *s = arg;
	const char *login = s->auth_login;
	enum dir_user_state st = res->entry ? dir_entry_user_state(res->entry) :
	    DIR_USER_ACTIVE;

	s->auth_req = NULL;
	if (res->status == DIR_AUTH_OK && (st == DIR_USER_ACTIVE ||
	    st == DIR_USER_HOLD)) {
		s->auth_user = xstrdup(login);
		auth_switch_channel(s);
		log_info("smtp session=%lu peer=%s auth user=%s channel=%s",
		    s->id, s->peer, login, s->src_channel);
		smtp_reply(s, "235 2.7.0 Authentication successful");
	} else if (res->status == DIR_AUTH_UNAVAILABLE) {
		log_warn("smtp session=%lu peer=%s auth user=%s: directory "
		    "unavailable", s->id, s->peer, login);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
	} else {
		log_info("smtp session=%lu peer=%s auth user=%s failed: %s",
		    s->id, s->peer, login, res->status == DIR_AUTH_OK ?
		    "account disabled" : dir_auth_reason_name(res->reason));
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	}
	bool async = !s->auth_calling;
	bool failed = s->auth_user == NULL;
	smtp_auth_cancel(s);
	s->state = SMTP_COMMAND;
	/* A failed login counts as a protocol error: guessing passwords
	 * ends with the session. */
	if (failed && !smtp_error(s))
		return;
	if (async)
		smtp_resume(s);
}

/* CRAM-MD5: the secret came (or not); the exchange holds the challenge
 * and the client's digest. */
static void
auth_on_secret(void *arg, const struct dir_auth_result *res)
{
	struct smtp_session *s = arg;
	const struct sasl_creds *c = sasl_exchange_creds(s->sasl);
	struct dir_auth_result r = *res;

	if (res->status == DIR_AUTH_OK &&
	    !sasl_digest_matches(SASL_CRAM_MD5, res->secret, c->challenge,
	    c->digest)) {
		r.status = DIR_AUTH_FAILED;
		r.reason = DIR_AUTH_R_BADPASS;
	}
	auth_on_result(s, &r);
}

static void
auth_fail(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	smtp_auth_cancel(s);
	smtp_error(s);
}

/* Ask the directory: a bind as the user, or the secret for CRAM-MD5. */
static void
auth_check(struct smtp_session *s, const struct sasl_creds *c)
{
	struct dir_req *req;

	if (*c->authz != '\0') {
		auth_fail(s, "535 5.7.8 Authorization identity refused");
		return;
	}
	free(s->auth_login);
	s->auth_login = xstrdup(c->authc);
	s->state = SMTP_WAIT;
	/* An answer from the cache comes inside the call, where the command
	 * loop that called us goes on by itself; only a later one must
	 * restart it. */
	s->auth_calling = true;
	if (c->mech == SASL_MECH_CRAM_MD5)
		req = dir_fetch_secret(s->srv->dir, c->authc, auth_on_secret, s);
	else
		req = dir_authenticate(s->srv->dir, c->authc, c->pass,
		    auth_on_result, s);
	s->auth_calling = false;
	if (s->state == SMTP_WAIT)
		s->auth_req = req;
}

/* One step of the exchange: the initial response (or NULL), then each
 * response line. */
static void
auth_advance(struct smtp_session *s, const char *b64)
{
	const char *challenge;

	switch (sasl_exchange_step(s->sasl, b64, &challenge)) {
	case SASL_NEED_MORE:
		s->state = SMTP_AUTH;
		smtp_reply(s, "334 %s", challenge);
		break;
	case SASL_GOT_CREDS:
		auth_check(s, sasl_exchange_creds(s->sasl));
		break;
	case SASL_MALFORMED:
		auth_fail(s, "501 5.5.2 Malformed authentication response");
		break;
	}
}

void
smtp_auth_input(struct smtp_session *s, char *line)
{
	if (strcmp(line, "*") == 0) {
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		smtp_auth_cancel(s);
		return;
	}
	auth_advance(s, line);
}

static const char *
auth_refusal(const struct smtp_session *s, const char *mech)
{
	if (s->auth_user != NULL)
		return "503 5.5.1 Already authenticated";
	if (s->has_mail)
		return "503 5.5.1 AUTH not allowed during a transaction";
	if (auth_mechanism_offered(s, mech))
		return NULL;
	if (!s->tls && (strcasecmp(mech, "PLAIN") == 0 ||
	    strcasecmp(mech, "LOGIN") == 0) && s->srv->dir != NULL)
		return "538 5.7.11 Encryption required for requested "
		    "authentication mechanism";
	if (*smtp_auth_mechanisms(s) == '\0')
		return "503 5.5.1 AUTH not available";
	return "504 5.5.4 Unrecognized authentication type";
}

void
smtp_cmd_auth(struct smtp_session *s, char *args)
{
	char *initial = strchr(args, ' ');

	if (initial != NULL)
		*initial++ = '\0';
	const char *refusal = auth_refusal(s, args);
	if (refusal != NULL) {
		smtp_reply(s, "%s", refusal);
		smtp_error(s);
		return;
	}
	s->sasl = sasl_exchange_new(sasl_mech_named(args), "smtp",
	    s->cfg->local.hostname);
	if (s->sasl == NULL) {
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	auth_advance(s, initial);
}
