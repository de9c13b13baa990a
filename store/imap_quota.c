/*
 * imap_quota: QUOTA (RFC 9208), read-only.
 *
 * Every user has one quota root, "", over all of their mailboxes, with
 * the two resources the store enforces: STORAGE (in units of 1024
 * octets) and MESSAGE.  Limits come from the directory (mailQuota,
 * mailMsgQuota, or the store's defaults) as the session saw them at
 * login; usage is the user's record in the index.  An unlimited resource
 * is not listed.  Another user's mailbox (shared by ACL) is listed with
 * no quota root: its owner's quota is not this session's to read.  SETQUOTA is refused: quotas are managed in the
 * directory, not over IMAP.
 *
 * Failure policy: a root or mailbox that does not exist is a NO, an
 * index read error a NO [UNAVAILABLE]; nothing here ends the session.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "mailbox.h"

/* The name of the user's only quota root. */
#define QUOTA_ROOT ""

/* KiB, rounded up: rounding limit and usage the same way keeps "used <=
 * limit" true in KiB whenever it is true in octets. */
static unsigned long long
quota_kib(unsigned long long bytes)
{
	return bytes / 1024 + (bytes % 1024 != 0);
}

/*
 * quota-response = "QUOTA" SP astring SP quota-list
 * quota-list     = "(" [quota-resource *(SP quota-resource)] ")"
 * quota-resource = resource-name SP resource-usage SP resource-limit
 * False when the usage cannot be read.
 */
static bool
quota_write(struct imap_session *s)
{
	struct midx_user u;
	struct evbuffer *out = imap_out(s);
	int rc = mbox_user_get(s->srv->svc.db, s->user, &u);

	if (rc == MDB_NOTFOUND)
		memset(&u, 0, sizeof(u));
	else if (rc != 0)
		return false;
	evbuffer_add_printf(out, "* QUOTA ");
	imap_write_astring(out, QUOTA_ROOT);
	evbuffer_add(out, " (", 2);
	if (s->quota.bytes >= 0)
		evbuffer_add_printf(out, "STORAGE %llu %llu",
		    quota_kib((unsigned long long)u.bytes),
		    quota_kib((unsigned long long)s->quota.bytes));
	if (s->quota.messages >= 0)
		evbuffer_add_printf(out, "%sMESSAGE %llu %lld",
		    s->quota.bytes >= 0 ? " " : "",
		    (unsigned long long)u.messages, s->quota.messages);
	evbuffer_add(out, ")\r\n", 3);
	return true;
}

/* getquota = "GETQUOTA" SP quota-root-name */
void
cmd_getquota(struct imap_session *s, struct imap_arg *args)
{
	const char *root;

	if (!imap_arg_astring(&args[0], &root) || args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: GETQUOTA root");
		return;
	}
	if (strcmp(root, QUOTA_ROOT) != 0) {
		imap_finish(s, "NO [NONEXISTENT] No such quota root");
		return;
	}
	if (!quota_write(s)) {
		imap_finish(s, "NO [UNAVAILABLE] Cannot read quota usage now");
		return;
	}
	imap_finish(s, "OK GETQUOTA completed");
}

/* 0, MDB_NOTFOUND or an LMDB error. */
static int
quota_mailbox_exists(struct imap_session *s, const struct imap_mref *m)
{
	struct midx_mailbox mb;
	MDB_txn *txn;
	int rc = db_read_begin(s->srv->svc.db, &txn);

	if (rc != 0)
		return rc;
	rc = mindex_mailbox_get(s->srv->svc.db, txn, m->owner, m->name, &mb);
	db_read_end(s->srv->svc.db, &txn);
	return rc;
}

/*
 * getquotaroot       = "GETQUOTAROOT" SP mailbox
 * quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
 * Another user's mailbox counts against that user's quota, which this
 * session can neither name nor read: it is listed without a root.
 */
void
cmd_getquotaroot(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref m;
	enum imap_mref_rc mrc;

	if (args[0].type == IMAP_ARG_END || args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: GETQUOTAROOT mailbox");
		return;
	}
	if ((mrc = imap_mref(s, &args[0], &m)) != MREF_OK) {
		imap_mref_fail(s, mrc);
		return;
	}
	int rc = quota_mailbox_exists(s, &m);
	if (rc == MDB_NOTFOUND) {
		imap_finish(s, "NO [NONEXISTENT] No such mailbox");
		return;
	}
	if (rc != 0) {
		imap_finish(s, "NO [UNAVAILABLE] Cannot read mailbox now");
		return;
	}
	struct evbuffer *out = imap_out(s);
	evbuffer_add_printf(out, "* QUOTAROOT ");
	imap_write_astring(out, m.display);
	if (!m.shared) {
		evbuffer_add(out, " ", 1);
		imap_write_astring(out, QUOTA_ROOT);
	}
	evbuffer_add(out, "\r\n", 2);
	if (!m.shared && !quota_write(s)) {
		imap_finish(s, "NO [UNAVAILABLE] Cannot read quota usage now");
		return;
	}
	imap_finish(s, "OK GETQUOTAROOT completed");
}

/* setquota = "SETQUOTA" SP quota-root-name SP setquota-list */
void
cmd_setquota(struct imap_session *s, struct imap_arg *args)
{
	const char *root;

	if (!imap_arg_astring(&args[0], &root) || args[1].type != IMAP_ARG_LIST ||
	    args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: SETQUOTA root (resource limit ...)");
		return;
	}
	imap_finish(s, "NO [NOPERM] Quotas are set in the directory");
}
