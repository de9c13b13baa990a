/*
 * pop3_cmd: the command table (RFC 1939, CAPA of RFC 2449, STLS of RFC
 * 2595, AUTH of RFC 5034, XCLIENT for proxies), the TRANSACTION commands
 * and the UPDATE state.
 *
 * Message numbers are positions in the session's snapshot of INBOX;
 * unique-ids are "UIDVALIDITY.UID", the same pair IMAP gives, so they stay
 * stable across sessions and across `store reconstruct`.  RETR and TOP
 * stream the message file in chunks with CRLF line ends and dot-stuffing,
 * pausing while the output buffer is full (the write callback resumes
 * them).  DELE only marks; QUIT expunges the marked messages in one
 * commit (MOP_REMOVE) and answers after it is durable.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "pop3.h"
#include "xmalloc.h"

#define RETR_CHUNK (64 * 1024)
/* Stop producing while this much output waits for the client. */
#define RETR_OUT_HIGH (256 * 1024)

struct pop3_retr {
	int fd;
	bool bol;                   /* at the start of an output line */
	bool pending_cr;            /* a CR that may start a CRLF */
	bool in_body;               /* past the header's blank line */
	long lines_left;            /* TOP: body lines still to send; -1 all */
};

/* ST_PROXY: a command for proxies, never in CAPA; outside its states it
 * is an unknown command, as it is to everyone but a proxy. */
enum { ST_AUTHZ = 1, ST_TRANS = 2, ST_PROXY = 4 };

struct pop3_cmd {
	const char *name;
	void (*fn)(struct pop3_session *s, char *arg);
	unsigned states;
};

void
pop3_retr_free(struct pop3_session *s)
{
	if (s->retr == NULL)
		return;
	close(s->retr->fd);
	free(s->retr);
	s->retr = NULL;
}

/* Convert one chunk; false when TOP has sent all it should. */
static bool
retr_convert(struct pop3_retr *r, const char *in, size_t n, char *out,
    size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (r->pending_cr) {
			r->pending_cr = false;
			if (c != '\n') {
				out[o++] = '\r';
				r->bol = false;
			}
		}
		if (c == '\r') {
			r->pending_cr = true;
			continue;
		}
		if (c != '\n') {
			if (r->bol && c == '.')
				out[o++] = '.';         /* RFC 1939 3: byte-stuffing */
			out[o++] = c;
			r->bol = false;
			continue;
		}
		out[o++] = '\r';
		out[o++] = '\n';
		bool empty = r->bol;
		r->bol = true;
		if (r->in_body && r->lines_left > 0)
			r->lines_left--;
		else if (!r->in_body && empty)
			r->in_body = true;
		if (r->in_body && r->lines_left == 0) {
			*outlen = o;
			return false;
		}
	}
	*outlen = o;
	return true;
}

static void
retr_finish(struct pop3_session *s)
{
	struct pop3_retr *r = s->retr;

	if (r->pending_cr)
		evbuffer_add(pop3_out(s), "\r", 1);
	if (!r->bol || r->pending_cr)
		evbuffer_add(pop3_out(s), "\r\n", 2);
	evbuffer_add(pop3_out(s), ".\r\n", 3);
	pop3_retr_free(s);
	pop3_done(s);
}

void
pop3_retr_continue(struct pop3_session *s)
{
	struct pop3_retr *r = s->retr;
	char *in = xmalloc(RETR_CHUNK), *out = xmalloc(2 * RETR_CHUNK + 8);

	while (evbuffer_get_length(pop3_out(s)) < RETR_OUT_HIGH) {
		ssize_t n = read(r->fd, in, RETR_CHUNK);
		size_t outlen;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			/* The +OK is out: all we can do is hang up. */
			log_err("pop session=%lu read(message): %s", s->id,
			    strerror(errno));
			pop3_retr_free(s);
			pop3_close(s);
			break;
		}
		bool more = n > 0 && retr_convert(r, in, (size_t)n, out, &outlen);
		if (n > 0)
			evbuffer_add(pop3_out(s), out, outlen);
		if (!more) {
			retr_finish(s);
			break;
		}
	}
	free(in);
	free(out);
}

/* msg: a message number of the snapshot, not marked deleted. */
static bool
pop3_msgno(struct pop3_session *s, const char *arg, size_t *idx)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; arg[i] >= '0' && arg[i] <= '9' && i < 10; i++)
		v = v * 10 + (unsigned)(arg[i] - '0');
	if (i == 0 || (arg[i] != '\0' && arg[i] != ' ')) {
		pop3_error(s, "Invalid message number");
		return false;
	}
	if (v == 0 || v > s->view->n || s->deleted[v - 1]) {
		pop3_reply(s, "-ERR No such message");
		pop3_done(s);
		return false;
	}
	*idx = (size_t)v - 1;
	return true;
}

static void
pop3_totals(const struct pop3_session *s, size_t *count, uint64_t *bytes)
{
	*count = 0;
	*bytes = 0;
	for (size_t i = 0; i < s->view->n; i++)
		if (!s->deleted[i]) {
			(*count)++;
			*bytes += s->sizes[i];
		}
}

static void
cmd_stat(struct pop3_session *s, char *arg)
{
	size_t count;
	uint64_t bytes;

	(void)arg;
	pop3_totals(s, &count, &bytes);
	pop3_reply(s, "+OK %zu %llu", count, (unsigned long long)bytes);
	pop3_done(s);
}

/* LIST and UIDL: one message, or every message not deleted. */
static void
pop3_listing(struct pop3_session *s, char *arg, bool uidl)
{
	const struct mbox_view *v = s->view;
	size_t i;

	if (*arg != '\0') {
		if (!pop3_msgno(s, arg, &i))
			return;
		if (uidl)
			pop3_reply(s, "+OK %zu %u.%u", i + 1, v->uidvalidity, v->uids[i]);
		else
			pop3_reply(s, "+OK %zu %llu", i + 1,
			    (unsigned long long)s->sizes[i]);
		pop3_done(s);
		return;
	}
	pop3_reply(s, "+OK %s", uidl ? "Unique-ids follow" : "Scan list follows");
	for (i = 0; i < v->n; i++) {
		if (s->deleted[i])
			continue;
		if (uidl)
			evbuffer_add_printf(pop3_out(s), "%zu %u.%u\r\n", i + 1,
			    v->uidvalidity, v->uids[i]);
		else
			evbuffer_add_printf(pop3_out(s), "%zu %llu\r\n", i + 1,
			    (unsigned long long)s->sizes[i]);
	}
	pop3_reply(s, ".");
	pop3_done(s);
}

static void
cmd_list(struct pop3_session *s, char *arg)
{
	pop3_listing(s, arg, false);
}

static void
cmd_uidl(struct pop3_session *s, char *arg)
{
	pop3_listing(s, arg, true);
}

static void
pop3_send_message(struct pop3_session *s, size_t i, long lines)
{
	char path[4096];
	int fd;

	mbox_message_path(s->view, s->view->uids[i], path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			pop3_reply(s, "-ERR Message was removed by another session");
		} else {
			log_err("pop session=%lu open(\"%s\"): %s", s->id, path,
			    strerror(errno));
			pop3_reply(s, "-ERR [SYS/TEMP] Cannot read the message now");
		}
		pop3_done(s);
		return;
	}
	s->retr = xcalloc(1, sizeof(*s->retr));
	s->retr->fd = fd;
	s->retr->bol = true;
	s->retr->lines_left = lines;
	if (lines < 0)
		pop3_reply(s, "+OK %llu octets", (unsigned long long)s->sizes[i]);
	else
		pop3_reply(s, "+OK Top of message follows");
	pop3_retr_continue(s);
}

static void
cmd_retr(struct pop3_session *s, char *arg)
{
	size_t i;

	if (pop3_msgno(s, arg, &i))
		pop3_send_message(s, i, -1);
}

/* TOP msg n: the header, the blank line and n body lines. */
static void
cmd_top(struct pop3_session *s, char *arg)
{
	char *sp = strchr(arg, ' '), *end;
	size_t i;

	if (sp == NULL || sp[1] < '0' || sp[1] > '9') {
		pop3_error(s, "Syntax: TOP msg lines");
		return;
	}
	long lines = strtol(sp + 1, &end, 10);
	if (*end != '\0' || lines < 0 || lines > 1000000000L) {
		pop3_error(s, "Syntax: TOP msg lines");
		return;
	}
	if (pop3_msgno(s, arg, &i))
		pop3_send_message(s, i, lines);
}

static void
cmd_dele(struct pop3_session *s, char *arg)
{
	size_t i;

	if (!pop3_msgno(s, arg, &i))
		return;
	s->deleted[i] = true;
	s->ndeleted++;
	pop3_reply(s, "+OK Message %zu deleted", i + 1);
	pop3_done(s);
}

static void
cmd_rset(struct pop3_session *s, char *arg)
{
	size_t count;
	uint64_t bytes;

	(void)arg;
	memset(s->deleted, 0, s->view->n * sizeof(*s->deleted));
	s->ndeleted = 0;
	pop3_totals(s, &count, &bytes);
	pop3_reply(s, "+OK Maildrop has %zu messages (%llu octets)", count,
	    (unsigned long long)bytes);
	pop3_done(s);
}

static void
cmd_noop(struct pop3_session *s, char *arg)
{
	(void)arg;
	pop3_reply(s, "+OK");
	pop3_done(s);
}

static void
pop3_update_done(struct mbox_op *op, void *arg)
{
	struct pop3_session *s = arg;

	s->op = NULL;
	if (op->status == MOP_OK) {
		log_info("pop session=%lu user=%s deleted=%zu", s->id, s->user,
		    op->nout);
		pop3_reply(s, "+OK %s POP3 store signing off (%zu message%s "
		    "deleted)", s->srv->svc.cfg->hostname, op->nout,
		    op->nout == 1 ? "" : "s");
	} else {
		log_warn("pop session=%lu user=%s deletions failed", s->id, s->user);
		pop3_reply(s, "-ERR [SYS/TEMP] Deleted messages not removed, try "
		    "again");
	}
	mbox_op_free(&op);
	pop3_close(s);
}

/* QUIT: in TRANSACTION, enter UPDATE and make the deletions durable. */
static void
cmd_quit(struct pop3_session *s, char *arg)
{
	(void)arg;
	if (s->state != POP3_TRANSACTION || s->ndeleted == 0) {
		pop3_reply(s, "+OK %s POP3 store signing off",
		    s->srv->svc.cfg->hostname);
		pop3_close(s);
		return;
	}
	s->state = POP3_UPDATE;
	struct mbox_op *op = mbox_op_new(MOP_REMOVE, s->user, s->part);
	snprintf(op->name, sizeof(op->name), "INBOX");
	op->uids = xcalloc(s->ndeleted, sizeof(uint32_t));
	for (size_t i = 0; i < s->view->n; i++)
		if (s->deleted[i])
			op->uids[op->nuids++] = s->view->uids[i];
	s->op = mbox_op_submit(op, pop3_update_done, s);
}

static void
cmd_capa(struct pop3_session *s, char *arg)
{
	struct evbuffer *out = pop3_out(s);
	bool authz = s->state == POP3_AUTHORIZATION;

	(void)arg;
	pop3_reply(s, "+OK Capability list follows");
	evbuffer_add_printf(out, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
	    "PIPELINING\r\n");
	if (authz && pop3_plaintext_ok(s))
		evbuffer_add_printf(out, "USER\r\nSASL PLAIN LOGIN\r\n");
	if (authz && s->srv->svc.tls != NULL && !s->tls)
		evbuffer_add_printf(out, "STLS\r\n");
	evbuffer_add_printf(out, "IMPLEMENTATION mailsuite-store\r\n.\r\n");
	pop3_done(s);
}

/* STLS (RFC 2595 4): the hand-over happens once the +OK is out. */
static void
cmd_stls(struct pop3_session *s, char *arg)
{
	(void)arg;
	if (s->srv->svc.tls == NULL || s->tls) {
		pop3_error(s, s->tls ? "Already using TLS" : "STLS not available");
		return;
	}
	free(s->user_arg);
	s->user_arg = NULL;
	pop3_reply(s, "+OK Begin TLS negotiation");
	bufferevent_disable(s->bev, EV_READ);
	s->starttls = true;
}

static const struct pop3_cmd pop3_cmds[] = {
	{ "CAPA", cmd_capa, ST_AUTHZ | ST_TRANS },
	{ "QUIT", cmd_quit, ST_AUTHZ | ST_TRANS },
	{ "USER", cmd_user, ST_AUTHZ },
	{ "PASS", cmd_pass, ST_AUTHZ },
	{ "APOP", cmd_apop, ST_AUTHZ },
	{ "AUTH", cmd_auth, ST_AUTHZ },
	{ "STLS", cmd_stls, ST_AUTHZ },
	{ "XCLIENT", cmd_xclient, ST_AUTHZ | ST_PROXY },
	{ "STAT", cmd_stat, ST_TRANS },
	{ "LIST", cmd_list, ST_TRANS },
	{ "RETR", cmd_retr, ST_TRANS },
	{ "DELE", cmd_dele, ST_TRANS },
	{ "NOOP", cmd_noop, ST_TRANS },
	{ "RSET", cmd_rset, ST_TRANS },
	{ "TOP", cmd_top, ST_TRANS },
	{ "UIDL", cmd_uidl, ST_TRANS },
	{ NULL, NULL, 0 },
};

/* command = keyword [SP argument] (keywords are 3 or 4 letters, and
 * XCLIENT) */
void
pop3_command(struct pop3_session *s, char *line)
{
	char *arg = strchr(line, ' ');
	unsigned state = s->state == POP3_AUTHORIZATION ? ST_AUTHZ : ST_TRANS;

	if (arg != NULL)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	for (const struct pop3_cmd *c = pop3_cmds; c->name != NULL; c++) {
		if (strcasecmp(c->name, line) != 0)
			continue;
		if (!(c->states & state)) {
			pop3_error(s, c->states & ST_PROXY ? "Unknown command" :
			    "Command not valid in this state");
			return;
		}
		c->fn(s, arg);
		return;
	}
	pop3_error(s, "Unknown command");
}
