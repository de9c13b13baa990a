/*
 * lmtp_cmd: the LMTP commands (RFC 2033, RFC 5321 for the shared ones),
 * as a table of name, handler and preconditions.
 *
 * Extensions: PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME, SMTPUTF8, SIZE,
 * CHUNKING, DSN (parameters accepted and ignored: the MTA that talks to us
 * writes the reports from our per-recipient replies).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dir.h"
#include "log.h"
#include "lmtp.h"
#include "smtp_path.h"
#include "xmalloc.h"

enum {
	NEED_LHLO = 1,      /* after LHLO */
	NEED_MAIL = 2,      /* inside a transaction */
	NO_ARGS = 4,        /* takes no argument */
};

struct lmtp_cmd {
	const char *name;
	void (*fn)(struct lmtp_session *s, char *args);
	int flags;
};

void
lmtp_reset(struct lmtp_session *s)
{
	recipient_cancel(&s->lookup);
	lmtp_message_free(&s->msg);
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i].user);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = s->caprcpts = s->rcpt_cmds = 0;
	free(s->from);
	s->from = NULL;
	s->has_mail = false;
	s->guaranteed = false;
	s->bdat_refusal = NULL;
}

static void
cmd_lhlo(struct lmtp_session *s, char *args)
{
	const struct store_config *cfg = s->srv->svc.cfg;

	if (*args == '\0') {
		lmtp_reply(s, "501 5.5.4 Syntax: LHLO hostname");
		lmtp_error(s);
		return;
	}
	lmtp_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%s", args);
	lmtp_reply(s, "250-%s", cfg->hostname);
	lmtp_reply(s, "250-PIPELINING");
	lmtp_reply(s, "250-ENHANCEDSTATUSCODES");
	lmtp_reply(s, "250-8BITMIME");
	lmtp_reply(s, "250-SMTPUTF8");
	lmtp_reply(s, "250-DSN");
	lmtp_reply(s, "250-CHUNKING");
	lmtp_reply(s, "250 SIZE %llu", (unsigned long long)cfg->max_msg_size);
}

/* Parameters of MAIL FROM: known ones checked, others refused. */
static const char *
cmd_mail_params(struct lmtp_session *s, const struct smtp_path *p)
{
	for (size_t i = 0; i < p->nparams; i++) {
		const char *kw = p->params[i].keyword, *v = p->params[i].value;
		if (strcmp(kw, "SIZE") == 0) {
			char *end;
			unsigned long long n = v ? strtoull(v, &end, 10) : 0;
			if (v == NULL || *end != '\0')
				return "501 5.5.4 Bad SIZE parameter";
			if (n > s->srv->svc.cfg->max_msg_size)
				return "552 5.3.4 Message size exceeds fixed limit";
		} else if (strcmp(kw, "BODY") == 0) {
			if (v == NULL || (strcasecmp(v, "7BIT") != 0 &&
			    strcasecmp(v, "8BITMIME") != 0))
				return "501 5.5.4 BODY must be 7BIT or 8BITMIME";
		} else if (strcmp(kw, "SMTPUTF8") != 0 && strcmp(kw, "RET") != 0 &&
		    strcmp(kw, "ENVID") != 0) {
			return "555 5.5.4 Unsupported MAIL parameter";
		}
	}
	return NULL;
}

static void
cmd_mail(struct lmtp_session *s, char *args)
{
	struct smtp_path p;
	const char *err;

	if (s->has_mail) {
		lmtp_reply(s, "503 5.5.1 Sender already given");
		lmtp_error(s);
		return;
	}
	if (strncasecmp(args, "FROM:", 5) != 0) {
		lmtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		lmtp_error(s);
		return;
	}
	/* SMTPUTF8 decides what the path may contain: look for it first. */
	int flags = SMTP_PATH_NULL_OK;
	if (strcasestr(args, " SMTPUTF8") != NULL)
		flags |= SMTP_PATH_UTF8;
	if ((err = smtp_path_parse(args + 5, flags, &p)) != NULL ||
	    (err = cmd_mail_params(s, &p)) != NULL) {
		lmtp_reply(s, "%s", err);
		lmtp_error(s);
		return;
	}
	s->has_mail = true;
	s->from = xstrdup(p.mailbox);
	s->guaranteed = s->guaranteed_listener ||
	    config_is_guaranteed_sender(s->srv->svc.cfg, p.mailbox);
	lmtp_reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt_answer(void *arg, const char *reply, struct commit_rcpt *rcpt)
{
	struct lmtp_session *s = arg;

	s->lookup = NULL;
	if (rcpt != NULL) {
		if (s->nrcpts == s->caprcpts) {
			s->caprcpts = s->caprcpts ? s->caprcpts * 2 : 8;
			s->rcpts = xrealloc(s->rcpts, s->caprcpts * sizeof(*s->rcpts));
		}
		s->rcpts[s->nrcpts++] = *rcpt;
	}
	if (*reply == '2')
		store_stats.rcpt_ok++;
	else if (*reply == '4')
		store_stats.rcpt_temp++;
	else
		store_stats.rcpt_perm++;
	lmtp_reply(s, "%s", reply);
	s->state = LMTP_COMMAND;
	/* A cache hit answers inside cmd_rcpt: the command loop that called
	 * it goes on by itself.  Only a later answer must restart it. */
	if (!s->resolving)
		lmtp_resume(s);
}

static const char *
cmd_rcpt_params(const struct smtp_path *p)
{
	for (size_t i = 0; i < p->nparams; i++)
		if (strcmp(p->params[i].keyword, "NOTIFY") != 0 &&
		    strcmp(p->params[i].keyword, "ORCPT") != 0)
			return "555 5.5.4 Unsupported RCPT parameter";
	return NULL;
}

static void
cmd_rcpt(struct lmtp_session *s, char *args)
{
	struct smtp_path p;
	const char *err;

	if (strncasecmp(args, "TO:", 3) != 0) {
		lmtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		lmtp_error(s);
		return;
	}
	if (s->rcpt_cmds >= (size_t)s->srv->svc.cfg->max_rcpts) {
		lmtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if ((err = smtp_path_parse(args + 3, SMTP_PATH_UTF8, &p)) != NULL ||
	    (err = cmd_rcpt_params(&p)) != NULL) {
		lmtp_reply(s, "%s", err);
		lmtp_error(s);
		return;
	}
	s->rcpt_cmds++;
	s->state = LMTP_WAIT;
	s->resolving = true;
	s->lookup = recipient_resolve(s->srv->svc.dir, s->srv->svc.db, s->srv->svc.cfg,
	    p.mailbox, s->guaranteed, cmd_rcpt_answer, s);
	s->resolving = false;
}

static void
cmd_data(struct lmtp_session *s, char *args)
{
	(void)args;
	if (s->msg != NULL || s->bdat_refusal != NULL) {
		lmtp_reply(s, "503 5.5.1 DATA cannot follow BDAT");
		lmtp_error(s);
		return;
	}
	if (s->nrcpts == 0) {
		lmtp_reply(s, "503 5.5.1 No valid recipients");
		return;
	}
	if (!lmtp_message_start(s, false)) {
		lmtp_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	lmtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = LMTP_DATA;
}

/* BDAT <size> [LAST] (RFC 3030).  The chunk is read even when refused. */
static void
cmd_bdat(struct lmtp_session *s, char *args)
{
	char *end;
	unsigned long long size = strtoull(args, &end, 10);

	while (*end == ' ')
		end++;
	if (!isdigit((unsigned char)*args) ||
	    (*end != '\0' && strcasecmp(end, "LAST") != 0)) {
		lmtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		lmtp_error(s);
		return;
	}
	s->bdat_left = size;
	s->bdat_last = *end != '\0';
	if (s->bdat_refusal == NULL && s->msg == NULL) {
		if (!s->has_mail)
			s->bdat_refusal = "503 5.5.1 Send MAIL first";
		else if (s->nrcpts == 0)
			s->bdat_refusal = "503 5.5.1 No valid recipients";
		else if (!lmtp_message_start(s, true))
			s->bdat_refusal = "452 4.3.1 Insufficient system storage";
	}
	s->state = LMTP_BDAT;
}

static void
cmd_rset(struct lmtp_session *s, char *args)
{
	(void)args;
	lmtp_reset(s);
	lmtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct lmtp_session *s, char *args)
{
	(void)args;
	lmtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct lmtp_session *s, char *args)
{
	(void)args;
	lmtp_reply(s, "221 2.0.0 %s Bye", s->srv->svc.cfg->hostname);
	lmtp_close(s);
}

static void
cmd_vrfy(struct lmtp_session *s, char *args)
{
	(void)args;
	lmtp_reply(s, "252 2.5.2 Cannot verify, but will try delivery");
}

static void
cmd_helo(struct lmtp_session *s, char *args)
{
	(void)args;
	lmtp_reply(s, "500 5.5.1 This is LMTP: use LHLO");
	lmtp_error(s);
}

static const struct lmtp_cmd lmtp_cmds[] = {
	{ "LHLO", cmd_lhlo, 0 },
	{ "MAIL", cmd_mail, NEED_LHLO },
	{ "RCPT", cmd_rcpt, NEED_LHLO | NEED_MAIL },
	{ "DATA", cmd_data, NEED_LHLO | NEED_MAIL | NO_ARGS },
	{ "BDAT", cmd_bdat, 0 },
	{ "RSET", cmd_rset, NO_ARGS },
	{ "NOOP", cmd_noop, 0 },
	{ "QUIT", cmd_quit, NO_ARGS },
	{ "VRFY", cmd_vrfy, 0 },
	{ "HELO", cmd_helo, 0 },
	{ "EHLO", cmd_helo, 0 },
	{ NULL, NULL, 0 },
};

static const char *
lmtp_precondition(const struct lmtp_session *s, const struct lmtp_cmd *c,
    const char *args)
{
	if ((c->flags & NEED_LHLO) && s->helo[0] == '\0')
		return "503 5.5.1 Send LHLO first";
	if ((c->flags & NEED_MAIL) && !s->has_mail)
		return "503 5.5.1 Send MAIL first";
	if ((c->flags & NO_ARGS) && *args != '\0')
		return "501 5.5.4 No arguments allowed";
	return NULL;
}

void
lmtp_command(struct lmtp_session *s, char *line)
{
	size_t n = strcspn(line, " ");
	char *args = line + n;
	const char *err;

	while (*args == ' ')
		*args++ = '\0';
	for (const struct lmtp_cmd *c = lmtp_cmds; c->name != NULL; c++) {
		if (strcasecmp(c->name, line) != 0)
			continue;
		if ((err = lmtp_precondition(s, c, args)) != NULL) {
			lmtp_reply(s, "%s", err);
			lmtp_error(s);
			return;
		}
		c->fn(s, args);
		return;
	}
	lmtp_reply(s, "500 5.5.1 Unknown command");
	lmtp_error(s);
}
