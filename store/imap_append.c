/*
 * imap_append: APPEND (RFC 3501 6.3.11) with LITERAL+ and UIDPLUS's
 * APPENDUID.  The message arrives as a literal: small ones in the command
 * buffer (written here to a receive file), large ones already spooled to a
 * receive file of the user's partition by imap_session.c.  The commit
 * thread then links it into the mailbox like a delivery.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "xmalloc.h"

static void
imap_append_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	switch (op->status) {
	case MOP_OK:
		if (s->view != NULL && s->view->id != 0 &&
		    strcmp(s->view->user, op->user) == 0 &&
		    strcmp(s->view->name, op->name) == 0)
			imap_sync_view(s);
		imap_finish(s, "OK [APPENDUID %u %u] APPEND completed",
		    op->uidvalidity, op->out_uids[0]);
		break;
	case MOP_NONEXISTENT:
		imap_finish(s, "NO [TRYCREATE] No such mailbox");
		break;
	case MOP_OVERQUOTA:
		imap_finish(s, "NO [OVERQUOTA] Quota exceeded");
		break;
	case MOP_LIMIT:
		imap_finish(s, "NO [LIMIT] Too many keywords in this mailbox");
		break;
	default:
		imap_finish(s, "NO [SERVERBUG] Could not store the message");
		break;
	}
	mbox_op_free(&op);
}

/* A small literal into a receive file, registered as a spool so that
 * the command's end removes it. */
static const char *
imap_append_write(struct imap_session *s, const char *data, size_t len)
{
	size_t i = s->spool[0].path == NULL ? 0 : 1;

	if (s->spool[i].path != NULL ||
	    (s->spool[i].path = userarea_write_tmp(s->part, "append", data, len,
	    false)) == NULL)
		return NULL;
	s->spool[i].len = len;
	return s->spool[i].path;
}

void
cmd_append(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref mr;
	enum imap_mref_rc mrc;
	uint32_t flags = 0;
	time_t date = time(NULL);
	struct imap_arg *a = args + 1;
	const char *path;

	if ((mrc = imap_mref(s, &args[0], &mr)) != MREF_OK) {
		if (mrc == MREF_NONEXISTENT)
			imap_finish(s, "NO [TRYCREATE] No such mailbox");
		else
			imap_mref_fail(s, mrc);
		return;
	}
	if (!(mr.rights & ACL_INSERT)) {
		imap_finish(s, "NO [NOPERM] Not allowed to append here");
		return;
	}
	/* From here on every exit frees kw (or hands it to the op). */
	char (*kw)[KEYWORD_LEN + 1] = xcalloc(KEYWORDS_MAX, sizeof(*kw));
	size_t nkw = 0;
	if (a->type == IMAP_ARG_LIST && !imap_parse_flags(a++, &flags, kw, &nkw)) {
		free(kw);
		imap_bad(s, "Invalid flag");
		return;
	}
	if (a->type == IMAP_ARG_STRING && !a->literal) {
		if (!imap_datetime_parse(a->str, &date, NULL)) {
			free(kw);
			imap_bad(s, "Bad date-time");
			return;
		}
		a++;
	}
	if ((a->type != IMAP_ARG_FILE && !(a->type == IMAP_ARG_STRING &&
	    a->literal)) || a[1].type != IMAP_ARG_END) {
		free(kw);
		imap_bad(s, "Syntax: APPEND mailbox [flags] [date] literal");
		return;
	}
	if (a->len == 0) {
		free(kw);
		imap_finish(s, "NO Empty message");
		return;
	}
	path = a->type == IMAP_ARG_FILE ? a->str : imap_append_write(s, a->str, a->len);
	if (path == NULL || s->spool_failed) {
		free(kw);
		imap_finish(s, "NO [SERVERBUG] Cannot store the message now");
		return;
	}
	struct mbox_op *op = mbox_op_new(MOP_APPEND, mr.owner, mr.part);
	struct midx_message m;
	snprintf(op->name, sizeof(op->name), "%s", mr.name);
	op->path = xstrdup(path);
	op->envelope = mindex_scan_file(s->srv->svc.cfg, path, &m, &op->envlen);
	op->size = m.size;
	op->header_size = m.header_size;
	op->date = date;
	op->flags = flags;
	op->kw = kw;
	op->nkw = nkw;
	/* The owner's quota is in the directory; a shared target is not
	 * checked against it (see BUGS in store(8)). */
	op->quota = s->quota;
	if (mr.shared)
		op->quota.bytes = op->quota.messages = -1;
	s->op = mbox_op_submit(op, imap_append_done, s);
}
