/*
 * imap_cmd: the IMAP command table and the commands valid in any state
 * (CAPABILITY, NOOP, LOGOUT, ID, which also takes a proxy's word for the
 * real client before login) or that change the session's state
 * around authentication (LOGIN, AUTHENTICATE; STARTTLS with common/tls).
 *
 * Each command is a row: name, handler, states it is valid in.  A handler
 * ends its command with imap_done(), at once or from a later callback.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dir.h"
#include "imap.h"
#include "imap_cmds.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

enum { S_NOTAUTH = 1, S_AUTH = 2, S_SELECTED = 4, S_ANY = 7 };

struct imap_cmd {
	const char *name;
	void (*fn)(struct imap_session *s, struct imap_arg *args);
	int states;
};

static const struct imap_cmd imap_cmds[] = {
	{ "CAPABILITY", cmd_capability, S_ANY },
	{ "NOOP", cmd_noop, S_ANY },
	{ "LOGOUT", cmd_logout, S_ANY },
	{ "ID", cmd_id, S_ANY },
	{ "STARTTLS", cmd_starttls, S_NOTAUTH },
	{ "LOGIN", cmd_login, S_NOTAUTH },
	{ "AUTHENTICATE", cmd_authenticate, S_NOTAUTH },
	{ "ENABLE", cmd_enable, S_AUTH | S_SELECTED },
	{ "NAMESPACE", cmd_namespace, S_AUTH | S_SELECTED },
	{ "SELECT", cmd_select, S_AUTH | S_SELECTED },
	{ "EXAMINE", cmd_select, S_AUTH | S_SELECTED },
	{ "CREATE", cmd_create, S_AUTH | S_SELECTED },
	{ "DELETE", cmd_delete, S_AUTH | S_SELECTED },
	{ "RENAME", cmd_rename, S_AUTH | S_SELECTED },
	{ "SUBSCRIBE", cmd_subscribe, S_AUTH | S_SELECTED },
	{ "UNSUBSCRIBE", cmd_subscribe, S_AUTH | S_SELECTED },
	{ "LIST", cmd_list, S_AUTH | S_SELECTED },
	{ "LSUB", cmd_list, S_AUTH | S_SELECTED },
	{ "STATUS", cmd_status, S_AUTH | S_SELECTED },
	{ "APPEND", cmd_append, S_AUTH | S_SELECTED },
	{ "IDLE", cmd_idle, S_AUTH | S_SELECTED },
	{ "CHECK", cmd_check, S_SELECTED },
	{ "CLOSE", cmd_close, S_SELECTED },
	{ "UNSELECT", cmd_close, S_SELECTED },
	{ "EXPUNGE", cmd_expunge, S_SELECTED },
	{ "SEARCH", cmd_search, S_SELECTED },
	{ "FETCH", cmd_fetch, S_SELECTED },
	{ "STORE", cmd_store, S_SELECTED },
	{ "COPY", cmd_copy, S_SELECTED },
	{ "MOVE", cmd_copy, S_SELECTED },
	{ "UID", cmd_uid, S_SELECTED },
	{ "GETACL", cmd_getacl, S_AUTH | S_SELECTED },
	{ "SETACL", cmd_setacl, S_AUTH | S_SELECTED },
	{ "DELETEACL", cmd_setacl, S_AUTH | S_SELECTED },
	{ "LISTRIGHTS", cmd_listrights, S_AUTH | S_SELECTED },
	{ "MYRIGHTS", cmd_myrights, S_AUTH | S_SELECTED },
	{ "SORT", cmd_sort, S_SELECTED },
	{ "THREAD", cmd_thread, S_SELECTED },
	{ "GETQUOTA", cmd_getquota, S_AUTH | S_SELECTED },
	{ "GETQUOTAROOT", cmd_getquotaroot, S_AUTH | S_SELECTED },
	{ "SETQUOTA", cmd_setquota, S_AUTH | S_SELECTED },
	{ NULL, NULL, 0 },
};

static int
imap_state_bit(enum imap_state st)
{
	switch (st) {
	case IMAP_NOTAUTH: return S_NOTAUTH;
	case IMAP_AUTH: return S_AUTH;
	case IMAP_SELECTED: return S_SELECTED;
	default: return 0;
	}
}

void
imap_command(struct imap_session *s, const char *name, struct imap_arg *args)
{
	for (const struct imap_cmd *c = imap_cmds; c->name != NULL; c++) {
		if (strcasecmp(c->name, name) != 0)
			continue;
		if (!(c->states & imap_state_bit(s->state))) {
			imap_tagged(s, "BAD %s not allowed now", c->name);
			if (imap_error(s))
				imap_done(s);
			return;
		}
		snprintf(s->cmdname, sizeof(s->cmdname), "%s", c->name);
		c->fn(s, args);
		return;
	}
	imap_tagged(s, "BAD Unknown command");
	if (imap_error(s))
		imap_done(s);
}

/* "BAD <why>" for the running command, counted as an error. */
void
imap_bad(struct imap_session *s, const char *why)
{
	imap_tagged(s, "BAD %s", why);
	if (imap_error(s))
		imap_done(s);
}

/* Reply "tag OK/NO/BAD text" and finish the command. */
void
imap_finish(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	evbuffer_add_printf(imap_out(s), "%s ", s->tag);
	va_start(ap, fmt);
	net_vline(imap_out(s), fmt, ap);
	va_end(ap);
	imap_done(s);
}

bool
imap_plaintext_ok(const struct imap_session *s)
{
	int min = s->srv->svc.cfg->imap_plaintext_min;

	return min <= 0 || (s->tls && tls_cipher_at_least(s->bev, min));
}

/* STARTTLS (RFC 3501 6.2.1): the hand-over happens once the OK is out. */
void
cmd_starttls(struct imap_session *s, struct imap_arg *args)
{
	if (args[0].type != IMAP_ARG_END) {
		imap_bad(s, "STARTTLS takes no arguments");
		return;
	}
	if (s->srv->svc.tls == NULL || s->tls) {
		imap_bad(s, s->tls ? "TLS already active" : "STARTTLS not available");
		return;
	}
	imap_tagged(s, "OK Begin TLS negotiation now");
	s->starttls = true;
	bufferevent_disable(s->bev, EV_READ);
}

const char *
imap_capabilities(const struct imap_session *s)
{
	static char buf[512];

	bool tls_possible = s->srv->svc.tls != NULL;

	if (s->state == IMAP_NOTAUTH) {
		snprintf(buf, sizeof(buf), "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE "
		    "IDLE%s%s%s", tls_possible && !s->tls ? " STARTTLS" : "",
		    imap_plaintext_ok(s) ? " AUTH=PLAIN AUTH=LOGIN" :
		    " LOGINDISABLED",
		    auth_digest_supported(s->srv->svc.dir) ? " AUTH=CRAM-MD5" : "");
		return buf;
	}
	return "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS "
	    "UNSELECT CHILDREN MOVE SPECIAL-USE CONDSTORE QRESYNC ACL "
	    "RIGHTS=kxte SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT "
	    "THREAD=REFERENCES ESEARCH QUOTA QUOTA=RES-STORAGE "
	    "QUOTA=RES-MESSAGE";
}

void
cmd_capability(struct imap_session *s, struct imap_arg *args)
{
	if (args[0].type != IMAP_ARG_END) {
		imap_bad(s, "CAPABILITY takes no arguments");
		return;
	}
	imap_reply(s, "* CAPABILITY %s", imap_capabilities(s));
	imap_finish(s, "OK CAPABILITY completed");
}

void
cmd_noop(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_sync_view(s);
	imap_finish(s, "OK NOOP completed");
}

void
cmd_logout(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_reply(s, "* BYE Logging out");
	imap_tagged(s, "OK LOGOUT completed");
	imap_close(s);
}

/* Before login, x-originating-ip and x-originating-port (Dovecot's and
 * the mmp's names) say which client a proxy speaks for.  A pair that does
 * not parse is ignored (it is logged like any other); a valid address
 * replaces an earlier origin, port included. */
static void
imap_id_origin(struct imap_session *s, const struct imap_arg *l)
{
	struct net_origin o = { "", "" };

	for (size_t i = 0; l[i].type != IMAP_ARG_END &&
	    l[i + 1].type != IMAP_ARG_END; i += 2) {
		if (l[i].type == IMAP_ARG_LIST || l[i + 1].type == IMAP_ARG_LIST)
			continue;
		if (strcasecmp(l[i].str, "x-originating-ip") == 0)
			(void)net_addr_canonical(l[i + 1].str, o.addr);
		else if (strcasecmp(l[i].str, "x-originating-port") == 0)
			(void)net_port_canonical(l[i + 1].str, o.port);
	}
	if (*o.addr == '\0')
		return;
	s->origin = o;
}

/* ID (RFC 2971): log what the client says, answer with our name. */
void
cmd_id(struct imap_session *s, struct imap_arg *args)
{
	if (args[0].type == IMAP_ARG_LIST) {
		struct imap_arg *l = args[0].list;
		for (size_t i = 0; l[i].type != IMAP_ARG_END &&
		    l[i + 1].type != IMAP_ARG_END; i += 2)
			if (l[i].type != IMAP_ARG_LIST && l[i + 1].type != IMAP_ARG_LIST)
				log_info("imap session=%lu id %s=\"%.100s\"", s->id,
				    l[i].str, l[i + 1].str);
		/* After login the session's client is settled. */
		if (s->state == IMAP_NOTAUTH)
			imap_id_origin(s, l);
	} else if (!imap_arg_is_atom(&args[0], "NIL")) {
		imap_bad(s, "ID takes a list or NIL");
		return;
	}
	imap_reply(s, "* ID (\"name\" \"mailsuite store\" \"version\" \"0.1\")");
	imap_finish(s, "OK ID completed");
}

/* ENABLE (RFC 5161): CONDSTORE and QRESYNC (RFC 7162). */
void
cmd_enable(struct imap_session *s, struct imap_arg *args)
{
	char enabled[128] = "";

	for (size_t i = 0; args[i].type != IMAP_ARG_END; i++) {
		if (args[i].type != IMAP_ARG_ATOM) {
			imap_bad(s, "ENABLE takes capability names");
			return;
		}
		if (strcasecmp(args[i].str, "CONDSTORE") == 0 && !s->condstore) {
			s->condstore = true;
			strcat(enabled, " CONDSTORE");
		} else if (strcasecmp(args[i].str, "QRESYNC") == 0 && !s->qresync) {
			s->qresync = s->condstore = true;
			strcat(enabled, " QRESYNC");
		}
	}
	imap_reply(s, "* ENABLED%s", enabled);
	imap_finish(s, "OK ENABLE completed");
}

void
cmd_namespace(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_reply(s, "* NAMESPACE ((\"\" \"/\")) ((\"user/\" \"/\")) NIL");
	imap_finish(s, "OK NAMESPACE completed");
}
