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

#include "base64.h"
#include "dir.h"
#include "log.h"
#include "sasl.h"
#include "smtp.h"
#include "xmalloc.h"

#define AUTH_LINE_MAX 12288     /* base64 of the longest login + password */

enum { AUTH_NONE, AUTH_PLAIN, AUTH_LOGIN_USER, AUTH_LOGIN_PASS, AUTH_CRAM };

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
	explicit_bzero(s->auth_digest, sizeof(s->auth_digest));
	s->auth_step = AUTH_NONE;
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

static void
auth_check(struct smtp_session *s, const char *login, const char *pass)
{
	free(s->auth_login);
	s->auth_login = xstrdup(login);
	s->auth_step = AUTH_NONE;
	s->state = SMTP_WAIT;
	/* An answer from the cache comes inside dir_authenticate, where the
	 * command loop that called us goes on by itself; only a later one
	 * must restart it. */
	s->auth_calling = true;
	struct dir_req *req = dir_authenticate(s->srv->dir, login, pass,
	    auth_on_result, s);
	s->auth_calling = false;
	if (s->state == SMTP_WAIT)
		s->auth_req = req;
}

/* CRAM-MD5: the secret came (or not); auth_login holds the login and
 * auth_challenge the challenge and the client's digest. */
static void
auth_on_secret(void *arg, const struct dir_auth_result *res)
{
	struct smtp_session *s = arg;
	struct dir_auth_result r = *res;

	if (res->status == DIR_AUTH_OK &&
	    !sasl_digest_matches(SASL_CRAM_MD5, res->secret, s->auth_challenge,
	    s->auth_digest)) {
		r.status = DIR_AUTH_FAILED;
		r.reason = DIR_AUTH_R_BADPASS;
	}
	auth_on_result(s, &r);
}

static void
auth_cram_check(struct smtp_session *s, const char *login, const char *digest)
{
	free(s->auth_login);
	s->auth_login = xstrdup(login);
	snprintf(s->auth_digest, sizeof(s->auth_digest), "%s", digest);
	s->auth_step = AUTH_NONE;
	s->state = SMTP_WAIT;
	s->auth_calling = true;
	struct dir_req *req = dir_fetch_secret(s->srv->dir, login, auth_on_secret,
	    s);
	s->auth_calling = false;
	if (s->state == SMTP_WAIT)
		s->auth_req = req;
}

/* Decode a client response; NULL when it is not base64 (or too long). */
static char *
auth_decode(const char *b64, size_t *len)
{
	size_t n = strlen(b64);
	char *out;

	if (n > AUTH_LINE_MAX)
		return NULL;
	out = xmalloc(n + 1);
	if (!base64_decode(b64, n, out, len)) {
		free(out);
		return NULL;
	}
	out[*len] = '\0';
	return out;
}

static void
auth_fail(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	smtp_auth_cancel(s);
	smtp_error(s);
}

static void
auth_plain(struct smtp_session *s, const char *b64)
{
	size_t len;
	char *msg = auth_decode(b64, &len);
	const char *authz, *authc, *pass;

	if (msg == NULL || !sasl_plain_parse(msg, len, &authz, &authc, &pass)) {
		auth_fail(s, "501 5.5.2 Malformed PLAIN response");
	} else if (*authz != '\0' && strcmp(authz, authc) != 0) {
		auth_fail(s, "535 5.7.8 Authorization identity refused");
	} else {
		auth_check(s, authc, pass);
	}
	if (msg != NULL) {
		explicit_bzero(msg, len);
		free(msg);
	}
}

void
smtp_auth_input(struct smtp_session *s, char *line)
{
	size_t len;
	char *text;

	if (strcmp(line, "*") == 0) {
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		smtp_auth_cancel(s);
		return;
	}
	if (s->auth_step == AUTH_PLAIN) {
		auth_plain(s, line);
		return;
	}
	if ((text = auth_decode(line, &len)) == NULL || memchr(text, '\0', len)) {
		free(text);
		auth_fail(s, "501 5.5.2 Malformed response");
		return;
	}
	if (s->auth_step == AUTH_CRAM) {
		/* "login SP digest" (RFC 2195) */
		char *sp = strrchr(text, ' ');
		if (sp == NULL || sp == text)
			auth_fail(s, "501 5.5.2 Malformed CRAM-MD5 response");
		else {
			*sp = '\0';
			auth_cram_check(s, text, sp + 1);
		}
		free(text);
		return;
	}
	if (s->auth_step == AUTH_LOGIN_USER) {
		s->auth_login = text;
		s->auth_step = AUTH_LOGIN_PASS;
		smtp_reply(s, "334 UGFzc3dvcmQ6");     /* "Password:" */
		return;
	}
	char *login = s->auth_login;
	s->auth_login = NULL;
	auth_check(s, login, text);
	explicit_bzero(text, len);
	free(text);
	free(login);
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
	if (strcasecmp(args, "PLAIN") == 0) {
		s->auth_step = AUTH_PLAIN;
		if (initial != NULL) {
			/* "=" is an empty initial response (RFC 4954 4). */
			auth_plain(s, strcmp(initial, "=") == 0 ? "" : initial);
			return;
		}
		s->state = SMTP_AUTH;
		smtp_reply(s, "334 ");
	} else if (strcasecmp(args, "LOGIN") == 0) {
		s->auth_step = AUTH_LOGIN_USER;
		s->state = SMTP_AUTH;
		if (initial != NULL) {
			smtp_auth_input(s, initial);
			return;
		}
		smtp_reply(s, "334 VXNlcm5hbWU6");     /* "Username:" */
	} else if (initial != NULL) {
		smtp_reply(s, "501 5.5.4 CRAM-MD5 takes no initial response");
		smtp_error(s);
	} else {
		char b64[512];
		sasl_challenge(s->auth_challenge, sizeof(s->auth_challenge),
		    s->cfg->local.hostname);
		base64_encode(s->auth_challenge, strlen(s->auth_challenge), b64);
		s->auth_step = AUTH_CRAM;
		s->state = SMTP_AUTH;
		smtp_reply(s, "334 %s", b64);
	}
}
