/*
 * imap_cmd_select: commands of the selected state that change or watch
 * the mailbox (RFC 3501 6.4, RFC 2177 IDLE, RFC 4315 UIDPLUS, RFC 6851
 * MOVE, RFC 3691 UNSELECT), and how every session learns what others
 * changed: before each tagged reply (and during IDLE) the view is synced
 * with the index and the differences told as untagged EXPUNGE, EXISTS,
 * RECENT and FETCH FLAGS responses.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl.h"
#include "imap_cmds.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "xmalloc.h"

static const struct { const char *name; uint32_t bit; } imap_flag_names[] = {
	{ "\\Seen", MFLAG_SEEN }, { "\\Answered", MFLAG_ANSWERED },
	{ "\\Flagged", MFLAG_FLAGGED }, { "\\Deleted", MFLAG_DELETED },
	{ "\\Draft", MFLAG_DRAFT },
};

void
imap_flags_string(uint32_t flags, uint64_t kw, const struct keywords *names,
    char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(imap_flag_names) / sizeof(imap_flag_names[0]); i++)
		if (flags & imap_flag_names[i].bit)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "",
			    imap_flag_names[i].name);
	if (flags & MFLAG_RECENT)
		o += (size_t)snprintf(buf + o, len - o, "%s\\Recent", o ? " " : "");
	for (size_t i = 0; names != NULL && i < names->n && o < len; i++)
		if (kw & (uint64_t)1 << i)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "",
			    names->names[i]);
}

/* flag-keyword = atom, not starting with a backslash. */
static bool
imap_keyword_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KEYWORD_LEN || *s == '\\')
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 127 || strchr("(){%*\"\\]", *s) != NULL)
			return false;
	return true;
}

/* flag-list = "(" [flag *(SP flag)] ")"; a single flag is accepted too. */
bool
imap_parse_flags(const struct imap_arg *a, uint32_t *sys,
    char (*kw)[KEYWORD_LEN + 1], size_t *nkw)
{
	const struct imap_arg one[2] = { *a, { .type = IMAP_ARG_END } };
	const struct imap_arg *l = a->type == IMAP_ARG_LIST ? a->list : one;
	size_t n = sizeof(imap_flag_names) / sizeof(imap_flag_names[0]);

	*sys = 0;
	*nkw = 0;
	for (; l->type != IMAP_ARG_END; l++) {
		size_t i;
		if (l->type != IMAP_ARG_ATOM)
			return false;
		for (i = 0; i < n; i++)
			if (strcasecmp(l->str, imap_flag_names[i].name) == 0)
				break;
		if (i < n) {
			*sys |= imap_flag_names[i].bit;
			continue;
		}
		if (!imap_keyword_ok(l->str) || *nkw == KEYWORDS_MAX)
			return false;
		snprintf(kw[(*nkw)++], KEYWORD_LEN + 1, "%s", l->str);
	}
	return true;
}

static void
imap_sync_expunged(void *arg, size_t seq, uint32_t uid)
{
	struct imap_session *s = arg;

	if (!s->qresync) {
		imap_reply(s, "* %zu EXPUNGE", seq);
		return;
	}
	/* VANISHED lists UIDs; they come highest first: collect, then
	 * write them once (RFC 7162 3.2.10). */
	evbuffer_add_printf(s->vanished, "%s%u",
	    evbuffer_get_length(s->vanished) ? "," : "", uid);
}

/* The FETCH response items every flag change carries. */
void
imap_flags_response(struct imap_session *s, size_t seq, bool with_uid)
{
	struct mbox_view *v = s->view;
	char f[IMAP_FLAGS_TEXT];

	imap_flags_string(v->flags[seq - 1], v->kw[seq - 1], &v->names, f,
	    sizeof(f));
	evbuffer_add_printf(imap_out(s), "* %zu FETCH (", seq);
	if (with_uid || s->qresync)
		evbuffer_add_printf(imap_out(s), "UID %u ", v->uids[seq - 1]);
	evbuffer_add_printf(imap_out(s), "FLAGS (%s)", f);
	if (s->condstore)
		evbuffer_add_printf(imap_out(s), " MODSEQ (%llu)",
		    (unsigned long long)v->modseq[seq - 1]);
	evbuffer_add(imap_out(s), ")\r\n", 3);
}

static void
imap_sync_flags(void *arg, size_t seq)
{
	imap_flags_response(arg, seq, false);
}

void
imap_sync_view(struct imap_session *s)
{
	struct mbox_changes cb = { .expunged = imap_sync_expunged,
	    .flags = imap_sync_flags, .arg = s };
	size_t added;

	if (s->view == NULL)
		return;
	/* FETCH/STORE/SEARCH by sequence number must not tell expunges
	 * (RFC 3501 7.4.1), and the view must not move under the client's
	 * sequence numbers: the news wait for the next command. */
	if (s->no_expunge_sync)
		return;
	s->vanished = evbuffer_new();
	int rc = mbox_view_sync(s->srv->svc.db, s->view, &cb, &added);
	if (evbuffer_get_length(s->vanished) > 0) {
		evbuffer_add_printf(imap_out(s), "* VANISHED ");
		evbuffer_add_buffer(imap_out(s), s->vanished);
		evbuffer_add(imap_out(s), "\r\n", 2);
	}
	evbuffer_free(s->vanished);
	s->vanished = NULL;
	if (rc != 0)
		return;
	if (added > 0 || s->view->n != s->told_exists) {
		struct mbox_view *v = s->view;
		uint32_t floor = imap_recent_floor(s->srv, v->id, v->recent_uid);
		for (size_t i = v->n - added; i < v->n; i++)
			if (v->uids[i] > floor && !s->readonly)
				v->flags[i] |= MFLAG_RECENT;
		v->recent = 0;
		for (size_t i = 0; i < v->n; i++)
			v->recent += (v->flags[i] & MFLAG_RECENT) != 0;
		if (added > 0 && !s->readonly)
			imap_recent_claim(s->srv, v->id, v->uids[v->n - 1]);
		imap_reply(s, "* %zu EXISTS", v->n);
		if (added > 0)
			imap_reply(s, "* %u RECENT", v->recent);
	}
	s->told_exists = s->view->n;
}

/* ---- IDLE (RFC 2177) ---- */

void
cmd_idle(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_sync_view(s);
	imap_reply(s, "+ idling");
	s->io = IMAP_IO_IDLE;
	imap_idle_watch(s, true);
}

void
imap_idle_line(struct imap_session *s, const char *line)
{
	imap_idle_watch(s, false);
	s->io = IMAP_IO_BUSY;
	if (strcasecmp(line, "DONE") != 0) {
		imap_bad(s, "Expected DONE");
		return;
	}
	imap_sync_view(s);
	imap_finish(s, "OK IDLE terminated");
}

/* ---- CHECK, CLOSE, UNSELECT ---- */

void
cmd_check(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_sync_view(s);
	imap_finish(s, "OK CHECK completed");
}

static void
imap_close_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	mbox_op_free(&op);
	mbox_view_close(&s->view);
	s->state = IMAP_AUTH;
	imap_finish(s, "OK CLOSE completed");
}

/* Every message with \Deleted (or those of uids, for UID EXPUNGE). */
static struct mbox_op *
imap_expunge_op(struct imap_session *s, const bool *only)
{
	struct mbox_view *v = s->view;
	struct mbox_op *op = mbox_op_new(MOP_EXPUNGE, v->user, v->part);

	snprintf(op->name, sizeof(op->name), "%s", v->name);
	op->uids = xmalloc((v->n + 1) * sizeof(uint32_t));
	for (size_t i = 0; i < v->n; i++)
		if ((v->flags[i] & MFLAG_DELETED) && (only == NULL || only[i]))
			op->uids[op->nuids++] = v->uids[i];
	return op;
}

/* CLOSE expunges silently; UNSELECT does not expunge (RFC 3691). */
void
cmd_close(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	if (strcasecmp(s->cmdname, "CLOSE") == 0 && !s->readonly &&
	    (s->rights & ACL_EXPUNGE)) {
		struct mbox_op *op = imap_expunge_op(s, NULL);
		if (op->nuids > 0) {
			s->op = mbox_op_submit(op, imap_close_done, s);
			return;
		}
		mbox_op_free(&op);
	}
	mbox_view_close(&s->view);
	s->state = IMAP_AUTH;
	imap_finish(s, "OK %s completed", s->cmdname);
}

/* ---- EXPUNGE, UID EXPUNGE ---- */

static void
imap_expunge_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	if (op->status != MOP_OK) {
		mbox_op_free(&op);
		imap_finish(s, "NO [SERVERBUG] Expunge failed, try again");
		return;
	}
	mbox_op_free(&op);
	imap_sync_view(s);
	imap_finish(s, "OK %sEXPUNGE completed", s->uid_cmd ? "UID " : "");
}

static void
imap_expunge(struct imap_session *s, const bool *only)
{
	if (s->readonly || !(s->rights & ACL_EXPUNGE)) {
		imap_finish(s, "NO [%s] Not allowed to expunge",
		    s->readonly ? "READ-ONLY" : "NOPERM");
		return;
	}
	struct mbox_op *op = imap_expunge_op(s, only);
	s->op = mbox_op_submit(op, imap_expunge_done, s);
}

void
cmd_expunge(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_expunge(s, NULL);
}

/* ---- STORE ---- */

static void
imap_store_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;
	struct mbox_view *v = s->view;

	s->op = NULL;
	if (op->status != MOP_OK) {
		imap_finish(s, "NO %s", op->status == MOP_LIMIT ?
		    "[LIMIT] Too many keywords in this mailbox" :
		    "[SERVERBUG] Store failed, try again");
		mbox_op_free(&op);
		return;
	}
	/* New keyword names first: the answers print them. */
	v->names = op->names;
	/* Answer with the new flags unless .SILENT; then tell the rest. */
	for (size_t i = 0; i < op->nuids; i++) {
		size_t seq = mbox_view_seq(v, op->uids[i]);
		if (seq == 0 || op->out_flags[i] == 0xffffffffu)
			continue;
		uint32_t recent = v->flags[seq - 1] & MFLAG_RECENT;
		bool changed = op->out_modseq[i] != v->modseq[seq - 1];
		v->flags[seq - 1] = op->out_flags[i] | recent;
		v->kw[seq - 1] = op->out_kw[i];
		v->modseq[seq - 1] = op->out_modseq[i];
		/* .SILENT still tells a CONDSTORE client the new MODSEQ. */
		if (!s->store_silent || (s->condstore && changed))
			imap_flags_response(s, seq, s->uid_cmd);
	}
	struct evbuffer *mod = evbuffer_new();
	for (size_t i = 0; i < op->nmodified; i++) {
		size_t seq = mbox_view_seq(v, op->modified[i]);
		if (seq != 0)
			evbuffer_add_printf(mod, "%s%u", evbuffer_get_length(mod) ?
			    "," : "", s->uid_cmd ? op->modified[i] : (uint32_t)seq);
	}
	mbox_op_free(&op);
	s->no_expunge_sync = !s->uid_cmd;
	imap_sync_view(s);
	s->no_expunge_sync = false;
	if (evbuffer_get_length(mod) > 0) {
		evbuffer_add(mod, "", 1);
		imap_finish(s, "OK [MODIFIED %s] Conditional STORE failed for some",
		    (const char *)evbuffer_pullup(mod, -1));
	} else {
		imap_finish(s, "OK %sSTORE completed", s->uid_cmd ? "UID " : "");
	}
	evbuffer_free(mod);
}

/* Messages of the set as an array of UIDs; NULL (and BAD sent) on error. */
static uint32_t *
imap_set_uids(struct imap_session *s, const struct imap_arg *set, size_t *n)
{
	struct mbox_view *v = s->view;
	bool *sel = xcalloc(v->n + 1, sizeof(bool));
	uint32_t *uids;

	if (set->type != IMAP_ARG_ATOM ||
	    !mbox_select_set(v, set->str, s->uid_cmd, sel)) {
		free(sel);
		imap_bad(s, "Invalid sequence set");
		return NULL;
	}
	uids = xmalloc((v->n + 1) * sizeof(uint32_t));
	*n = 0;
	for (size_t i = 0; i < v->n; i++)
		if (sel[i])
			uids[(*n)++] = v->uids[i];
	free(sel);
	return uids;
}

void
cmd_store(struct imap_session *s, struct imap_arg *args)
{
	const char *item;
	uint32_t flags;
	size_t n;
	int mode;

	uint64_t unchangedsince = UINT64_MAX;
	/* STORE set [(UNCHANGEDSINCE n)] item flags (RFC 7162 3.1.3) */
	if (args[0].type != IMAP_ARG_END && args[1].type == IMAP_ARG_LIST) {
		struct imap_arg *m = args[1].list;
		char *end;
		if (!imap_arg_is_atom(&m[0], "UNCHANGEDSINCE") ||
		    m[1].type != IMAP_ARG_ATOM || m[2].type != IMAP_ARG_END ||
		    (unchangedsince = strtoull(m[1].str, &end, 10), *end != '\0')) {
			imap_bad(s, "Syntax: STORE set (UNCHANGEDSINCE n) item flags");
			return;
		}
		s->condstore = true;
		args[1] = args[0];
		args++;
	}
	if (args[0].type == IMAP_ARG_END || args[1].type != IMAP_ARG_ATOM ||
	    args[2].type == IMAP_ARG_END || args[3].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: STORE set item flags");
		return;
	}
	item = args[1].str;
	mode = *item == '+' ? MOP_FLAGS_ADD : *item == '-' ? MOP_FLAGS_REMOVE :
	    MOP_FLAGS_SET;
	if (*item == '+' || *item == '-')
		item++;
	if (strncasecmp(item, "FLAGS", 5) != 0 || (item[5] != '\0' &&
	    strcasecmp(item + 5, ".SILENT") != 0)) {
		imap_bad(s, "Unknown STORE item");
		return;
	}
	char (*kw)[KEYWORD_LEN + 1] = xcalloc(KEYWORDS_MAX, sizeof(*kw));
	size_t nkw;
	if (!imap_parse_flags(&args[2], &flags, kw, &nkw)) {
		free(kw);
		imap_bad(s, "Invalid flag (\\Recent, unknown system flag, or bad keyword)");
		return;
	}
	/* RFC 4314 4: \Seen needs s, \Deleted t, anything else w. */
	uint32_t need = (flags & MFLAG_SEEN ? ACL_SEEN : 0) |
	    (flags & MFLAG_DELETED ? ACL_DELMSG : 0) |
	    ((flags & ~(uint32_t)(MFLAG_SEEN | MFLAG_DELETED)) || nkw ? ACL_WRITE : 0);
	if (s->readonly || (s->rights & need) != need) {
		free(kw);
		imap_finish(s, "NO [%s] Not allowed to change these flags",
		    s->readonly ? "READ-ONLY" : "NOPERM");
		return;
	}
	uint32_t *uids = imap_set_uids(s, &args[0], &n);
	if (uids == NULL) {
		free(kw);
		return;
	}
	s->store_silent = item[5] != '\0';
	struct mbox_op *op = mbox_op_new(MOP_FLAGS, s->view->user, s->view->part);
	snprintf(op->name, sizeof(op->name), "%s", s->view->name);
	op->uids = uids;
	op->nuids = n;
	op->flag_mode = mode;
	op->flags = flags;
	op->kw = kw;
	op->nkw = nkw;
	op->unchangedsince = unchangedsince;
	s->op = mbox_op_submit(op, imap_store_done, s);
}

/* ---- COPY, MOVE ---- */

/* uid-set text of uids[0..n) into buf ("1:3,7"). */
static void
imap_uid_set(struct evbuffer *out, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n; ) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		evbuffer_add_printf(out, "%s%u", i ? "," : "", uids[i]);
		if (j > i)
			evbuffer_add_printf(out, ":%u", uids[j]);
		i = j + 1;
	}
}

static void
imap_copy_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;
	bool move = op->kind == MOP_MOVE;

	s->op = NULL;
	if (op->status == MOP_NONEXISTENT || op->status == MOP_OVERQUOTA ||
	    op->status == MOP_FAILED) {
		imap_finish(s, "NO %s", op->status == MOP_NONEXISTENT ?
		    "[TRYCREATE] No such mailbox" : op->status == MOP_OVERQUOTA ?
		    "[OVERQUOTA] Quota exceeded" : "[SERVERBUG] Copy failed");
		mbox_op_free(&op);
		return;
	}
	/* COPYUID uidvalidity source-set dest-set (RFC 4315). */
	struct evbuffer *code = evbuffer_new();
	size_t k = 0;
	uint32_t *src = xmalloc((op->nuids + 1) * sizeof(uint32_t));
	uint32_t *dst = xmalloc((op->nuids + 1) * sizeof(uint32_t));
	for (size_t i = 0; i < op->nuids && i < op->nout; i++)
		if (op->out_uids[i] != 0) {
			src[k] = op->uids[i];
			dst[k++] = op->out_uids[i];
		}
	if (k > 0) {
		evbuffer_add_printf(code, "[COPYUID %u ", op->uidvalidity);
		imap_uid_set(code, src, k);
		evbuffer_add(code, " ", 1);
		imap_uid_set(code, dst, k);
		evbuffer_add(code, "] ", 2);
	}
	evbuffer_add(code, "", 1);
	if (move && k > 0) {
		/* MOVE: COPYUID goes untagged, before the EXPUNGEs. */
		/* "[COPYUID ...] " and its NUL: keep the bracket. */
		imap_reply(s, "* OK %.*s Moved", (int)evbuffer_get_length(code) - 2,
		    (const char *)evbuffer_pullup(code, -1));
		imap_sync_view(s);
		imap_finish(s, "OK %sMOVE completed", s->uid_cmd ? "UID " : "");
	} else {
		imap_sync_view(s);
		imap_finish(s, "OK %s%s%s completed",
		    (const char *)evbuffer_pullup(code, -1), s->uid_cmd ? "UID " : "",
		    move ? "MOVE" : "COPY");
	}
	evbuffer_free(code);
	free(src);
	free(dst);
	mbox_op_free(&op);
}

/* The COPY/MOVE target, checked; false (and the reply done) if refused. */
static bool
imap_copy_target(struct imap_session *s, const struct imap_arg *a, bool move,
    struct imap_mref *m)
{
	struct mbox_view *v = s->view;
	enum imap_mref_rc rc = imap_mref(s, a, m);

	if (rc != MREF_OK) {
		if (rc == MREF_NONEXISTENT)
			imap_finish(s, "NO [TRYCREATE] No such mailbox");
		else
			imap_mref_fail(s, rc);
		return false;
	}
	if (!(m->rights & ACL_INSERT)) {
		imap_finish(s, "NO [NOPERM] Not allowed to copy there");
		return false;
	}
	if (move && (s->readonly || (s->rights & (ACL_DELMSG | ACL_EXPUNGE)) !=
	    (ACL_DELMSG | ACL_EXPUNGE))) {
		imap_finish(s, "NO [%s] Not allowed to move from here",
		    s->readonly ? "READ-ONLY" : "NOPERM");
		return false;
	}
	/* Between users: a copy by hard link, so on one partition only. */
	if (strcmp(m->owner, v->user) != 0 && (move ||
	    strcmp(m->part->path, v->part->path) != 0)) {
		imap_finish(s, "NO [CANNOT] %s between these users is not supported",
		    move ? "MOVE" : "COPY");
		return false;
	}
	return true;
}

void
cmd_copy(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref m;
	size_t n;
	bool move = strcasecmp(s->cmdname, "MOVE") == 0;

	if (args[0].type == IMAP_ARG_END || args[1].type == IMAP_ARG_END ||
	    args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: COPY set mailbox");
		return;
	}
	if (!imap_copy_target(s, &args[1], move, &m))
		return;
	uint32_t *uids = imap_set_uids(s, &args[0], &n);
	if (uids == NULL)
		return;
	struct mbox_op *op = mbox_op_new(move ? MOP_MOVE : MOP_COPY, m.owner,
	    m.part);
	if (strcmp(m.owner, s->view->user) != 0) {
		op->src_user = xstrdup(s->view->user);
		op->src_part = s->view->part;
	}
	snprintf(op->name, sizeof(op->name), "%s", s->view->name);
	snprintf(op->name2, sizeof(op->name2), "%s", m.name);
	op->uids = uids;
	op->nuids = n;
	op->quota = s->quota;
	if (strcmp(m.owner, s->user) != 0)
		op->quota.bytes = op->quota.messages = -1;
	s->op = mbox_op_submit(op, imap_copy_done, s);
}

/* ---- UID ---- */

/* UID EXPUNGE set (RFC 4315) */
static void
imap_uid_expunge(struct imap_session *s, struct imap_arg *args)
{
	if (args[0].type != IMAP_ARG_ATOM || args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: UID EXPUNGE set");
		return;
	}
	bool *sel = xcalloc(s->view->n + 1, sizeof(bool));
	if (!mbox_select_set(s->view, args[0].str, true, sel)) {
		free(sel);
		imap_bad(s, "Invalid UID set");
		return;
	}
	imap_expunge(s, sel);
	free(sel);
}

void
cmd_uid(struct imap_session *s, struct imap_arg *args)
{
	static const struct {
		const char *name;
		void (*fn)(struct imap_session *, struct imap_arg *);
	} subs[] = {
		{ "FETCH", cmd_fetch }, { "SEARCH", cmd_search },
		{ "SORT", cmd_sort }, { "THREAD", cmd_thread },
		{ "STORE", cmd_store }, { "COPY", cmd_copy }, { "MOVE", cmd_copy },
		{ "EXPUNGE", NULL },
	};

	if (args[0].type != IMAP_ARG_ATOM) {
		imap_bad(s, "Syntax: UID command arguments");
		return;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcasecmp(args[0].str, subs[i].name) != 0)
			continue;
		s->uid_cmd = true;
		snprintf(s->cmdname, sizeof(s->cmdname), "%s", subs[i].name);
		if (subs[i].fn != NULL)
			subs[i].fn(s, args + 1);
		else
			imap_uid_expunge(s, args + 1);
		return;
	}
	imap_bad(s, "Unknown UID command");
}
