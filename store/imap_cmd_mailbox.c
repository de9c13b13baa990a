/*
 * imap_cmd_mailbox: commands on mailboxes as a whole (RFC 3501 6.3):
 * SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE,
 * LIST/LSUB (with CHILDREN and SPECIAL-USE attributes), STATUS, APPEND
 * (with UIDPLUS's APPENDUID).
 *
 * Names are kept as the client sends them (modified UTF-7, checked here),
 * with "/" as the hierarchy delimiter; INBOX in any case means INBOX.
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acl.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "msg_header.h"
#include "xmalloc.h"

/* mailbox = "INBOX" / astring; modified UTF-7 (RFC 3501 5.1.3). */
bool
imap_mailbox_name(const struct imap_arg *a, char *out, size_t len)
{
	const char *s;

	if (!imap_arg_astring(a, &s) || *s == '\0' || strlen(s) >= len)
		return false;
	if (strcasecmp(s, "INBOX") == 0) {
		snprintf(out, len, "INBOX");
		return true;
	}
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f)
			return false;
		if (c == '/' && (p == s || p[1] == '\0' || p[1] == '/'))
			return false;
		if (c == '&') {
			const char *end = strchr(p, '-');
			if (end == NULL)
				return false;
			for (const char *q = p + 1; q < end; q++)
				if (!isalnum((unsigned char)*q) && *q != '+' && *q != ',')
					return false;
			p = end;
		}
	}
	snprintf(out, len, "%s", s);
	return true;
}

/* ---- SELECT / EXAMINE ---- */

static void
imap_select_alert(struct imap_session *s)
{
	struct midx_user u;
	struct quota *q = &s->quota;
	int pct = s->srv->svc.cfg->quota_warn_pct;

	if (mbox_user_get(s->srv->svc.db, s->user, &u) != 0)
		return;
	if ((q->bytes > 0 && u.bytes * 100 >= (uint64_t)q->bytes * pct) ||
	    (q->messages > 0 && u.messages * 100 >= (uint64_t)q->messages * pct))
		imap_reply(s, "* OK [ALERT] Your mailbox is over %d%% of its quota", pct);
}

static void
imap_select_report(struct imap_session *s)
{
	struct mbox_view *v = s->view;
	size_t first_unseen = 0;

	for (size_t i = 0; i < v->n && first_unseen == 0; i++)
		if (!(v->flags[i] & MFLAG_SEEN))
			first_unseen = i + 1;
	char kw[IMAP_FLAGS_TEXT];
	imap_flags_string(0, ~(uint64_t)0, &v->names, kw, sizeof(kw));
	imap_reply(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)",
	    *kw ? " " : "", kw);
	imap_reply(s, "* OK [PERMANENTFLAGS (%s%s%s)] Flags permitted",
	    s->readonly ? "" : "\\Answered \\Flagged \\Deleted \\Seen \\Draft ",
	    kw, s->readonly ? "" : *kw ? " \\*" : "\\*");
	imap_reply(s, "* %zu EXISTS", v->n);
	imap_reply(s, "* %u RECENT", v->recent);
	if (first_unseen != 0)
		imap_reply(s, "* OK [UNSEEN %zu] First unseen", first_unseen);
	imap_reply(s, "* OK [UIDVALIDITY %u] UIDs valid", v->uidvalidity);
	imap_reply(s, "* OK [UIDNEXT %u] Predicted next UID", v->uidnext);
	imap_reply(s, "* OK [HIGHESTMODSEQ %llu] Highest",
	    (unsigned long long)v->highestmodseq);
	if (strcmp(v->name, "INBOX") == 0)
		imap_select_alert(s);
}

struct imap_recent_write {
	struct imap_server *srv;        /* lives as long as the process */
	uint64_t mailbox;
};

static void
imap_recent_done(struct mbox_op *op, void *arg)
{
	struct imap_recent_write *w = arg;

	if (op->status == MOP_OK)
		imap_recent_release(w->srv, w->mailbox, op->recent_uid);
	free(w);
	mbox_op_free(&op);
}

/* \Recent goes to the first session that selects after the arrival. */
static void
imap_claim_recent(struct imap_session *s)
{
	struct mbox_view *v = s->view;
	uint32_t floor = imap_recent_floor(s->srv, v->id, v->recent_uid);

	v->recent = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->uids[i] > floor) {
			v->flags[i] |= MFLAG_RECENT;
			v->recent++;
		}
	if (s->readonly || v->n == 0 || v->uids[v->n - 1] <= floor)
		return;
	imap_recent_claim(s->srv, v->id, v->uids[v->n - 1]);
	struct mbox_op *op = mbox_op_new(MOP_RECENT, v->user, v->part);
	snprintf(op->name, sizeof(op->name), "%s", v->name);
	op->recent_uid = v->uids[v->n - 1];
	struct imap_recent_write *w = xmalloc(sizeof(*w));
	w->srv = s->srv;
	w->mailbox = v->id;
	mbox_op_submit(op, imap_recent_done, w);
}

/* Does the uid-set text (no "*") contain uid? */
static bool
imap_uidset_has(const char *set, uint32_t uid)
{
	const char *p = set;

	while (*p != '\0') {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (*end == ':')
			hi = strtoul(end + 1, &end, 10);
		if (lo > hi) {
			unsigned long t = lo;
			lo = hi;
			hi = t;
		}
		if (uid >= lo && uid <= hi)
			return true;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return false;
}

struct imap_qresync {
	bool on;
	uint32_t uidvalidity;
	uint64_t modseq;
	const char *known;          /* known-uids, or NULL */
	struct evbuffer *out;
};

static void
imap_qresync_vanished(void *arg, uint32_t uid)
{
	struct imap_qresync *q = arg;

	if (q->known != NULL && !imap_uidset_has(q->known, uid))
		return;
	evbuffer_add_printf(q->out, "%s%u", evbuffer_get_length(q->out) ? "," : "",
	    uid);
}

/* (CONDSTORE) or (QRESYNC (uidvalidity modseq [known-uids ...])) */
static bool
imap_select_params(struct imap_session *s, const struct imap_arg *a,
    struct imap_qresync *q)
{
	char *end;

	if (a->type == IMAP_ARG_END)
		return true;
	if (a->type != IMAP_ARG_LIST || a[1].type != IMAP_ARG_END)
		return false;
	a = a->list;
	if (imap_arg_is_atom(&a[0], "CONDSTORE") && a[1].type == IMAP_ARG_END) {
		s->condstore = true;
		return true;
	}
	if (!imap_arg_is_atom(&a[0], "QRESYNC") || a[1].type != IMAP_ARG_LIST ||
	    a[2].type != IMAP_ARG_END || !s->qresync)
		return false;
	a = a[1].list;
	if (a[0].type != IMAP_ARG_ATOM || a[1].type != IMAP_ARG_ATOM)
		return false;
	q->uidvalidity = (uint32_t)strtoul(a[0].str, &end, 10);
	if (*end != '\0')
		return false;
	q->modseq = strtoull(a[1].str, &end, 10);
	if (*end != '\0')
		return false;
	if (a[2].type == IMAP_ARG_ATOM)
		q->known = a[2].str;
	q->on = true;
	return true;
}

/* QRESYNC: what changed since the client's modseq (RFC 7162 3.2.5). */
static void
imap_qresync_report(struct imap_session *s, struct imap_qresync *q)
{
	struct mbox_view *v = s->view;

	if (!q->on || q->uidvalidity != v->uidvalidity)
		return;
	q->out = evbuffer_new();
	mbox_vanished(s->srv->svc.db, v->id, q->modseq, imap_qresync_vanished, q);
	if (evbuffer_get_length(q->out) > 0) {
		evbuffer_add_printf(imap_out(s), "* VANISHED (EARLIER) ");
		evbuffer_add_buffer(imap_out(s), q->out);
		evbuffer_add(imap_out(s), "\r\n", 2);
	}
	evbuffer_free(q->out);
	for (size_t i = 0; i < v->n; i++)
		if (v->modseq[i] > q->modseq)
			imap_flags_response(s, i + 1, true);
}

void
cmd_select(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref m;
	struct imap_qresync q = { 0 };
	enum imap_mref_rc mrc;

	if (args[0].type == IMAP_ARG_END || !imap_select_params(s, &args[1], &q)) {
		imap_bad(s, "Syntax: SELECT mailbox [(CONDSTORE) / (QRESYNC (...))]");
		return;
	}
	/* Leaving the selected mailbox first (RFC 3501 6.3.1). */
	bool was_selected = s->view != NULL;
	mbox_view_close(&s->view);
	s->state = IMAP_AUTH;
	if (was_selected)
		imap_reply(s, "* OK [CLOSED] Previous mailbox closed");
	if ((mrc = imap_mref(s, &args[0], &m)) != MREF_OK) {
		imap_mref_fail(s, mrc);
		return;
	}
	if (!(m.rights & ACL_READ)) {
		imap_finish(s, "NO [NOPERM] Not allowed to read this mailbox");
		return;
	}
	int rc = mbox_view_open(s->srv->svc.db, m.part, m.owner, m.name, &s->view);
	if (rc == MDB_NOTFOUND) {
		imap_finish(s, "NO [NONEXISTENT] No such mailbox");
		return;
	}
	if (rc != 0) {
		imap_finish(s, "NO [UNAVAILABLE] Cannot open mailbox now");
		return;
	}
	/* Read-write needs a right to change something (RFC 4314 4). */
	s->readonly = strcasecmp(s->cmdname, "EXAMINE") == 0 ||
	    !(m.rights & (ACL_SEEN | ACL_WRITE | ACL_DELMSG | ACL_EXPUNGE));
	s->rights = m.rights;
	s->state = IMAP_SELECTED;
	imap_claim_recent(s);
	imap_select_report(s);
	imap_qresync_report(s, &q);
	s->told_exists = s->view->n;
	imap_finish(s, "OK [%s] %s completed", s->readonly ? "READ-ONLY" :
	    "READ-WRITE", s->cmdname);
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE: one op each ---- */

static void
imap_simple_op_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	switch (op->status) {
	case MOP_OK:
		imap_finish(s, "OK %s completed", s->cmdname);
		break;
	case MOP_EXISTS:
		imap_finish(s, "NO [ALREADYEXISTS] Mailbox exists");
		break;
	case MOP_NONEXISTENT:
		imap_finish(s, "NO [NONEXISTENT] No such mailbox");
		break;
	case MOP_INBOX:
		imap_finish(s, "NO [CANNOT] INBOX cannot be deleted");
		break;
	case MOP_OVERQUOTA:
		imap_finish(s, "NO [OVERQUOTA] Quota exceeded");
		break;
	case MOP_LIMIT:
		imap_finish(s, "NO [LIMIT] Too many keywords");
		break;
	case MOP_FAILED:
		imap_finish(s, "NO [SERVERBUG] Storage failure, try again");
		break;
	}
	mbox_op_free(&op);
}

static void
imap_submit(struct imap_session *s, struct mbox_op *op, mbox_op_cb *cb)
{
	op->quota = s->quota;
	s->op = mbox_op_submit(op, cb, s);
}

void
cmd_create(struct imap_session *s, struct imap_arg *args)
{
	char name[MAILBOX_NAME_MAX];
	const char *raw;

	if (!imap_arg_astring(&args[0], &raw) || args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: CREATE mailbox");
		return;
	}
	/* A trailing delimiter only says "will have children" (6.3.3). */
	char trimmed[MAILBOX_NAME_MAX];
	snprintf(trimmed, sizeof(trimmed), "%s", raw);
	size_t n = strlen(trimmed);
	if (n > 1 && trimmed[n - 1] == '/')
		trimmed[n - 1] = '\0';
	struct imap_arg a = { .type = IMAP_ARG_STRING, .str = trimmed,
	    .len = strlen(trimmed) };
	if (!imap_mailbox_name(&a, name, sizeof(name))) {
		imap_finish(s, "NO [CANNOT] Invalid mailbox name");
		return;
	}
	if (strcmp(name, "INBOX") == 0) {
		imap_finish(s, "NO [ALREADYEXISTS] INBOX exists");
		return;
	}
	struct mbox_op *op = mbox_op_new(MOP_CREATE, s->user, s->part);
	snprintf(op->name, sizeof(op->name), "%s", name);
	imap_submit(s, op, imap_simple_op_done);
}

void
cmd_delete(struct imap_session *s, struct imap_arg *args)
{
	char name[MAILBOX_NAME_MAX];

	if (!imap_mailbox_name(&args[0], name, sizeof(name)) ||
	    args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: DELETE mailbox");
		return;
	}
	struct mbox_op *op = mbox_op_new(MOP_DELETE, s->user, s->part);
	snprintf(op->name, sizeof(op->name), "%s", name);
	imap_submit(s, op, imap_simple_op_done);
}

void
cmd_rename(struct imap_session *s, struct imap_arg *args)
{
	char from[MAILBOX_NAME_MAX], to[MAILBOX_NAME_MAX];

	if (!imap_mailbox_name(&args[0], from, sizeof(from)) ||
	    !imap_mailbox_name(&args[1], to, sizeof(to)) ||
	    args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: RENAME from to");
		return;
	}
	if (strcmp(to, "INBOX") == 0) {
		imap_finish(s, "NO [ALREADYEXISTS] INBOX exists");
		return;
	}
	struct mbox_op *op = mbox_op_new(MOP_RENAME, s->user, s->part);
	snprintf(op->name, sizeof(op->name), "%s", from);
	snprintf(op->name2, sizeof(op->name2), "%s", to);
	imap_submit(s, op, imap_simple_op_done);
}

void
cmd_subscribe(struct imap_session *s, struct imap_arg *args)
{
	char name[MAILBOX_NAME_MAX];

	if (!imap_mailbox_name(&args[0], name, sizeof(name)) ||
	    args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: SUBSCRIBE mailbox");
		return;
	}
	bool sub = strcasecmp(s->cmdname, "SUBSCRIBE") == 0;
	struct mbox_op *op = mbox_op_new(sub ? MOP_SUBSCRIBE : MOP_UNSUBSCRIBE,
	    s->user, s->part);
	snprintf(op->name, sizeof(op->name), "%s", name);
	imap_submit(s, op, imap_simple_op_done);
}

/* ---- LIST / LSUB ---- */

struct imap_names {
	char **v;
	size_t n, cap;
};

static void
imap_names_add(void *arg, const char *name)
{
	struct imap_names *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(name);
}

static void
imap_names_add_mailbox(void *arg, const char *name,
    const struct midx_mailbox *mb)
{
	(void)mb;
	imap_names_add(arg, name);
}

static void
imap_names_free(struct imap_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/*
 * list-wildcards: '*' matches anything, '%' anything but the delimiter.
 * Dynamic programming over the name, one pattern character at a time:
 * O(pattern x name), never the exponential backtracking a recursive
 * matcher falls into with many wildcards.
 */
#define IMAP_LIST_WILDCARDS_MAX 64

static bool
imap_list_match(const char *pat, const char *name)
{
	size_t n = strlen(name);
	bool *row = xcalloc(n + 1, sizeof(bool)), *next = xcalloc(n + 1, sizeof(bool));

	row[0] = true;                  /* the empty pattern matches "" */
	for (; *pat; pat++) {
		bool wild = *pat == '*' || *pat == '%';
		next[0] = wild && row[0];
		for (size_t j = 1; j <= n; j++) {
			char c = name[j - 1];
			if (wild)
				/* consume nothing, or one more character */
				next[j] = row[j] || (next[j - 1] && (*pat == '*' || c != '/'));
			else
				next[j] = row[j - 1] && c == *pat;
		}
		bool *t = row;
		row = next;
		next = t;
	}
	bool match = row[n];
	free(row);
	free(next);
	return match;
}

static bool
imap_list_pattern_ok(const char *pat)
{
	int wild = 0;

	for (; *pat; pat++)
		wild += *pat == '*' || *pat == '%';
	return wild <= IMAP_LIST_WILDCARDS_MAX;
}

static bool
imap_names_has(const struct imap_names *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

static bool
imap_names_has_child(const struct imap_names *l, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i], name, n) == 0 && l->v[i][n] == '/')
			return true;
	return false;
}

static const char *
imap_special_use(const char *name)
{
	for (size_t i = 0; mbox_special_use[i][0] != NULL; i++)
		if (strcmp(mbox_special_use[i][0], name) == 0)
			return mbox_special_use[i][1];
	return NULL;
}

static void
imap_list_line(struct imap_session *s, const char *cmd, const char *name,
    const char *attrs)
{
	evbuffer_add_printf(imap_out(s), "* %s (%s) \"/\" ", cmd, attrs);
	imap_write_astring(imap_out(s), name);
	evbuffer_add(imap_out(s), "\r\n", 2);
}

/* One name that matched: existing, or an implied parent (\Noselect). */
static void
imap_list_one(struct imap_session *s, const struct imap_names *all,
    const char *name, bool lsub)
{
	char attrs[128];
	const char *use = lsub ? NULL : imap_special_use(name);

	snprintf(attrs, sizeof(attrs), "%s%s%s%s",
	    imap_names_has(all, name) ? "" : "\\Noselect ",
	    imap_names_has_child(all, name) ? "\\HasChildren" : "\\HasNoChildren",
	    use ? " " : "", use ? use : "");
	imap_list_line(s, lsub ? "LSUB" : "LIST", name, attrs);
}

static void
imap_list_names(struct imap_session *s, const struct imap_names *all,
    const struct imap_names *shown, const char *pattern, bool lsub)
{
	struct imap_names done = { 0 };

	for (size_t i = 0; i < shown->n; i++) {
		char cand[MAILBOX_NAME_MAX];
		snprintf(cand, sizeof(cand), "%s", shown->v[i]);
		/* The name itself, then its ancestors (for '%' patterns). */
		for (;;) {
			if (!imap_names_has(&done, cand) && imap_list_match(pattern, cand)) {
				imap_list_one(s, all, cand, lsub);
				imap_names_add(&done, cand);
			}
			char *slash = strrchr(cand, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
	}
	imap_names_free(&done);
}

void
cmd_list(struct imap_session *s, struct imap_arg *args)
{
	const char *ref, *pat;
	bool lsub = strcasecmp(s->cmdname, "LSUB") == 0;
	struct imap_names all = { 0 }, subs = { 0 };

	if (!imap_arg_astring(&args[0], &ref) || !imap_arg_astring(&args[1], &pat) ||
	    args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: LIST reference pattern");
		return;
	}
	if (*pat == '\0' && !lsub) {
		imap_reply(s, "* LIST (\\Noselect) \"/\" \"\"");
		imap_finish(s, "OK LIST completed");
		return;
	}
	char full[2 * MAILBOX_NAME_MAX];
	snprintf(full, sizeof(full), "%s%s", ref, pat);
	if (!imap_list_pattern_ok(full)) {
		imap_bad(s, "Pattern has too many wildcards");
		return;
	}
	if (strcasecmp(full, "INBOX") == 0)
		snprintf(full, sizeof(full), "INBOX");
	if (mbox_list(s->srv->svc.db, s->user, imap_names_add_mailbox, &all) != 0 ||
	    imap_shared_list(s, imap_names_add, &all) != 0 ||
	    (lsub && mbox_subs_list(s->srv->svc.db, s->user, imap_names_add, &subs) != 0)) {
		imap_names_free(&all);
		imap_names_free(&subs);
		imap_finish(s, "NO [UNAVAILABLE] Cannot list now");
		return;
	}
	imap_list_names(s, &all, lsub ? &subs : &all, full, lsub);
	imap_names_free(&all);
	imap_names_free(&subs);
	imap_finish(s, "OK %s completed", s->cmdname);
}

/* ---- STATUS ---- */

void
cmd_status(struct imap_session *s, struct imap_arg *args)
{
	char out[256] = "";
	struct midx_mailbox mb;
	struct imap_mref m;
	uint32_t unseen, recent;
	enum imap_mref_rc mrc;

	if (args[0].type == IMAP_ARG_END || args[1].type != IMAP_ARG_LIST ||
	    args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: STATUS mailbox (items)");
		return;
	}
	if ((mrc = imap_mref(s, &args[0], &m)) != MREF_OK) {
		imap_mref_fail(s, mrc);
		return;
	}
	if (!(m.rights & ACL_READ)) {
		imap_finish(s, "NO [NOPERM] Not allowed to read this mailbox");
		return;
	}
	int rc = mbox_counts(s->srv->svc.db, m.owner, m.name, &mb, &unseen, &recent);
	if (rc == MDB_NOTFOUND) {
		imap_finish(s, "NO [NONEXISTENT] No such mailbox");
		return;
	}
	if (rc != 0) {
		imap_finish(s, "NO [UNAVAILABLE] Cannot read mailbox now");
		return;
	}
	for (struct imap_arg *a = args[1].list; a->type != IMAP_ARG_END; a++) {
		size_t o = strlen(out);
		const char *sep = o ? " " : "";
		if (imap_arg_is_atom(a, "MESSAGES"))
			snprintf(out + o, sizeof(out) - o, "%sMESSAGES %u", sep, mb.exists);
		else if (imap_arg_is_atom(a, "RECENT"))
			snprintf(out + o, sizeof(out) - o, "%sRECENT %u", sep, recent);
		else if (imap_arg_is_atom(a, "UIDNEXT"))
			snprintf(out + o, sizeof(out) - o, "%sUIDNEXT %u", sep, mb.uidnext);
		else if (imap_arg_is_atom(a, "UIDVALIDITY"))
			snprintf(out + o, sizeof(out) - o, "%sUIDVALIDITY %u", sep,
			    mb.uidvalidity);
		else if (imap_arg_is_atom(a, "UNSEEN"))
			snprintf(out + o, sizeof(out) - o, "%sUNSEEN %u", sep, unseen);
		else if (imap_arg_is_atom(a, "HIGHESTMODSEQ"))
			snprintf(out + o, sizeof(out) - o, "%sHIGHESTMODSEQ %llu", sep,
			    (unsigned long long)mb.highestmodseq);
		else {
			imap_bad(s, "Unknown STATUS item");
			return;
		}
	}
	evbuffer_add_printf(imap_out(s), "* STATUS ");
	imap_write_astring(imap_out(s), m.display);
	evbuffer_add_printf(imap_out(s), " (%s)\r\n", out);
	imap_finish(s, "OK STATUS completed");
}
