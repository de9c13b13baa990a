/*
 * mbox_ops: mailbox changes inside the commit thread's transaction (see
 * mbox_ops.h).  Files follow the index: links are made (and synced) before
 * the commit; files of expunged messages are removed after it.
 */
#include "mbox_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "db.h"
#include "durable.h"
#include "log.h"
#include "xmalloc.h"

const char *const mbox_special_use[][2] = {
	{ "Drafts", "\\Drafts" }, { "Sent", "\\Sent" }, { "Trash", "\\Trash" },
	{ "Junk", "\\Junk" }, { NULL, NULL },
};

struct mbox_op *
mbox_op_new(enum mbox_op_kind kind, const char *user,
    const struct partition *part)
{
	struct mbox_op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	op->unchangedsince = UINT64_MAX;
	op->user = xstrdup(user);
	op->part = part;
	return op;
}

void
mbox_op_free(struct mbox_op **opp)
{
	struct mbox_op *op = *opp;

	if (op == NULL)
		return;
	free(op->user);
	free(op->src_user);
	free(op->uids);
	free(op->path);
	free(op->envelope);
	free(op->out_uids);
	free(op->out_flags);
	free(op->out_kw);
	free(op->out_modseq);
	free(op->modified);
	free(op->kw);
	free(op->moved_uids);
	free(op);
	*opp = NULL;
}

static void
mop_out(struct mbox_op *op, uint32_t uid)
{
	op->out_uids = xrealloc(op->out_uids, (op->nout + 1) * sizeof(uint32_t));
	op->out_uids[op->nout++] = uid;
}

static int
mop_msg_get(MDB_txn *txn, struct db *db, uint64_t mbid, uint32_t uid,
    MDB_val *v)
{
	unsigned char key[12];

	mindex_message_key(mbid, uid, key);
	int rc = db_get(txn, db_dbi(db, MIDX_MESSAGES), key, sizeof(key), v);
	if (rc == 0 && v->mv_size < sizeof(struct midx_message))
		rc = MDB_CORRUPTED;
	return rc;
}

static int
mop_msg_del(MDB_txn *txn, struct db *db, uint64_t mbid, uint32_t uid)
{
	unsigned char key[12];
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key };

	mindex_message_key(mbid, uid, key);
	return mdb_del(txn, db_dbi(db, MIDX_MESSAGES), &k, NULL);
}

/* Remember an expunge for QRESYNC (RFC 7162 3.2.5). */
static int
mop_expunged_put(MDB_txn *txn, struct db *db, uint64_t mbid, uint32_t uid,
    uint64_t modseq)
{
	unsigned char key[12];

	mindex_message_key(mbid, uid, key);
	return db_put(txn, db_dbi(db, MIDX_EXPUNGED), key, sizeof(key), &modseq,
	    sizeof(modseq));
}

static int
mop_user(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op,
    struct midx_user *u)
{
	int rc = mindex_user_get(b->db, txn, op->user, u);

	if (rc == MDB_NOTFOUND) {
		memset(u, 0, sizeof(*u));
		snprintf(u->partition, sizeof(u->partition), "%s", op->part->name);
		rc = 0;
	}
	return rc;
}

static int
mop_create(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	char dir[4096];
	int rc = mindex_mailbox_get(b->db, txn, op->user, op->name, &mb);

	if (rc == 0) {
		op->status = MOP_EXISTS;
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	rc = commit_open_mailbox(txn, b, op->part, op->user, op->name, true, &mb,
	    dir, sizeof(dir));
	if (rc == -1) {
		op->status = MOP_FAILED;
		return 0;
	}
	commit_batch_add_dir(b, dir);
	op->uidvalidity = mb.uidvalidity;
	return rc;
}

/* Remove every message of a mailbox from the index (files after commit);
 * returns the bytes and count removed through *u. */
static int
mop_empty(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op,
    const struct midx_mailbox *mb, struct midx_user *u)
{
	MDB_cursor *cur;
	unsigned char key[12];
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key }, v;
	char dir[4096], path[COMMIT_PATH];
	int rc = mdb_cursor_open(txn, db_dbi(b->db, MIDX_MESSAGES), &cur);

	if (rc != 0)
		return rc;
	userarea_mailbox_dir(op->part, op->user, mb->id, dir, sizeof(dir));
	mindex_message_key(mb->id, 0, key);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 12 && memcmp(k.mv_data, key, 8) == 0) {
		const unsigned char *kp = k.mv_data;
		struct midx_message m;
		memcpy(&m, v.mv_data, sizeof(m));
		snprintf(path, sizeof(path), "%s/%u", dir, (uint32_t)kp[8] << 24 |
		    (uint32_t)kp[9] << 16 | (uint32_t)kp[10] << 8 | kp[11]);
		commit_batch_add_unlink(b, path);
		u->bytes -= m.size < u->bytes ? m.size : u->bytes;
		u->messages -= u->messages > 0;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
mop_delete(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	struct midx_user u;
	char dir[4096], meta[4200];
	char key[MAILBOX_NAME_MAX + USER_KEY_MAX + 1];
	int rc;

	if (strcmp(op->name, "INBOX") == 0) {
		op->status = MOP_INBOX;
		return 0;
	}
	if ((rc = mindex_mailbox_get(b->db, txn, op->user, op->name, &mb)) ==
	    MDB_NOTFOUND) {
		op->status = MOP_NONEXISTENT;
		return 0;
	}
	if (rc != 0 || (rc = mop_user(txn, b, op, &u)) != 0 ||
	    (rc = mop_empty(txn, b, op, &mb, &u)) != 0)
		return rc;
	size_t ul = strlen(op->user), nl = strlen(op->name);
	memcpy(key, op->user, ul + 1);
	memcpy(key + ul + 1, op->name, nl);
	MDB_val k = { .mv_size = ul + 1 + nl, .mv_data = key };
	if ((rc = mdb_del(txn, db_dbi(b->db, MIDX_MAILBOXES), &k, NULL)) != 0)
		return rc;
	userarea_mailbox_dir(op->part, op->user, mb.id, dir, sizeof(dir));
	snprintf(meta, sizeof(meta), "%s/.mailbox", dir);
	commit_batch_add_unlink(b, meta);
	return mindex_user_put(b->db, txn, op->user, &u);
}

static int
mop_subscribe(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	char key[MAILBOX_NAME_MAX + USER_KEY_MAX + 1];
	size_t ul = strlen(op->user), nl = strlen(op->name);
	MDB_val k = { .mv_size = ul + 1 + nl, .mv_data = key }, v = { 0 };

	memcpy(key, op->user, ul + 1);
	memcpy(key + ul + 1, op->name, nl);
	if (op->kind == MOP_SUBSCRIBE)
		return mdb_put(txn, db_dbi(b->db, MIDX_SUBS), &k, &v, 0);
	int rc = mdb_del(txn, db_dbi(b->db, MIDX_SUBS), &k, NULL);
	if (rc == MDB_NOTFOUND)
		op->status = MOP_NONEXISTENT;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint32_t
mop_new_flags(const struct mbox_op *op, uint32_t old)
{
	switch (op->flag_mode) {
	case MOP_FLAGS_ADD: return old | op->flags;
	case MOP_FLAGS_REMOVE: return old & ~op->flags;
	default: return op->flags;
	}
}

static uint64_t
mop_new_keywords(const struct mbox_op *op, uint64_t old, uint64_t bits)
{
	switch (op->flag_mode) {
	case MOP_FLAGS_ADD: return old | bits;
	case MOP_FLAGS_REMOVE: return old & ~bits;
	default: return bits;
	}
}

static int
mop_flags(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	MDB_val v;
	int rc = mindex_mailbox_get(b->db, txn, op->user, op->name, &mb);

	if (rc == MDB_NOTFOUND) {
		op->status = MOP_NONEXISTENT;
		return 0;
	}
	if (rc != 0)
		return rc;
	uint64_t bits;
	rc = mindex_keywords_bits(b->db, txn, mb.id,
	    (const char (*)[KEYWORD_LEN + 1])op->kw, op->nkw,
	    op->flag_mode != MOP_FLAGS_REMOVE, &bits);
	if (rc == MDB_KEYEXIST) {
		op->status = MOP_LIMIT;
		return 0;
	}
	if (rc != 0 || (rc = mindex_keywords_get(b->db, txn, mb.id,
	    &op->names)) != 0)
		return rc;
	op->out_flags = xrealloc(op->out_flags, (op->nuids + 1) * sizeof(uint32_t));
	op->out_kw = xrealloc(op->out_kw, (op->nuids + 1) * sizeof(uint64_t));
	op->out_modseq = xrealloc(op->out_modseq, (op->nuids + 1) * sizeof(uint64_t));
	op->modified = xrealloc(op->modified, (op->nuids + 1) * sizeof(uint32_t));
	op->nmodified = 0;
	for (size_t i = 0; i < op->nuids; i++) {
		op->out_flags[i] = 0xffffffffu;
		if ((rc = mop_msg_get(txn, b->db, mb.id, op->uids[i], &v)) ==
		    MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return rc;
		struct midx_message m;
		memcpy(&m, v.mv_data, sizeof(m));
		uint32_t nf = mop_new_flags(op, m.flags);
		uint64_t nk = mop_new_keywords(op, m.keywords, bits);
		op->out_flags[i] = m.flags;
		op->out_kw[i] = m.keywords;
		op->out_modseq[i] = m.modseq;
		if (m.modseq > op->unchangedsince) {
			op->modified[op->nmodified++] = op->uids[i];
			continue;
		}
		if (nf == m.flags && nk == m.keywords)
			continue;
		op->out_flags[i] = nf;
		op->out_kw[i] = nk;
		op->out_modseq[i] = mb.highestmodseq + 1;
		/* Copy the record, change flags and modseq, put it back. */
		char *copy = xmalloc(v.mv_size);
		memcpy(copy, v.mv_data, v.mv_size);
		m.flags = nf;
		m.keywords = nk;
		m.modseq = ++mb.highestmodseq;
		memcpy(copy, &m, sizeof(m));
		rc = mindex_message_put(b->db, txn, mb.id, op->uids[i],
		    (struct midx_message *)(void *)copy, copy + sizeof(m),
		    v.mv_size - sizeof(m));
		free(copy);
		if (rc != 0)
			return rc;
	}
	return mindex_mailbox_put(b->db, txn, op->user, op->name, &mb);
}

/* Remove uids (all of op->uids) from a mailbox; record them in out. */
static int
mop_remove(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op,
    const char *name, struct midx_mailbox *mb, struct midx_user *u,
    bool only_deleted)
{
	char dir[4096], path[COMMIT_PATH];
	uint64_t modseq = mb->highestmodseq + 1;
	MDB_val v;
	int rc;

	userarea_mailbox_dir(op->part, op->user, mb->id, dir, sizeof(dir));
	for (size_t i = 0; i < op->nuids; i++) {
		if ((rc = mop_msg_get(txn, b->db, mb->id, op->uids[i], &v)) ==
		    MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return rc;
		struct midx_message m;
		memcpy(&m, v.mv_data, sizeof(m));
		if (only_deleted && !(m.flags & MFLAG_DELETED))
			continue;
		if ((rc = mop_msg_del(txn, b->db, mb->id, op->uids[i])) != 0 ||
		    (rc = mop_expunged_put(txn, b->db, mb->id, op->uids[i], modseq)) != 0)
			return rc;
		snprintf(path, sizeof(path), "%s/%u", dir, op->uids[i]);
		commit_batch_add_unlink(b, path);
		u->bytes -= m.size < u->bytes ? m.size : u->bytes;
		u->messages -= u->messages > 0;
		mb->exists -= mb->exists > 0;
		if (op->kind == MOP_MOVE) {
			op->moved_uids = xrealloc(op->moved_uids,
			    (op->nmoved + 1) * sizeof(uint32_t));
			op->moved_uids[op->nmoved++] = op->uids[i];
		} else {
			mop_out(op, op->uids[i]);
		}
	}
	mb->highestmodseq = modseq;
	return mindex_mailbox_put(b->db, txn, op->user, name, mb);
}

static int
mop_expunge(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	struct midx_user u;
	int rc = mindex_mailbox_get(b->db, txn, op->user, op->name, &mb);

	if (rc == MDB_NOTFOUND) {
		op->status = MOP_NONEXISTENT;
		return 0;
	}
	if (rc != 0 || (rc = mop_user(txn, b, op, &u)) != 0 ||
	    (rc = mop_remove(txn, b, op, op->name, &mb, &u,
	    op->kind == MOP_EXPUNGE)) != 0)
		return rc;
	return mindex_user_put(b->db, txn, op->user, &u);
}

static bool
mop_over_quota(const struct mbox_op *op, const struct midx_user *u,
    uint64_t bytes, uint64_t count)
{
	return (op->quota.bytes >= 0 && u->bytes + bytes > (uint64_t)op->quota.bytes) ||
	    (op->quota.messages >= 0 &&
	    u->messages + count > (uint64_t)op->quota.messages);
}

/* Keyword bits of one mailbox's table as bits of another's; names the
 * target does not have are added (dropped when its table is full). */
static int
mop_map_keywords(MDB_txn *txn, struct commit_batch *b,
    const struct keywords *from, uint64_t bits, uint64_t to, uint64_t *out)
{
	char (*names)[KEYWORD_LEN + 1];
	size_t n = 0;
	int rc;

	*out = 0;
	if (bits == 0)
		return 0;
	names = xcalloc(KEYWORDS_MAX, sizeof(*names));
	for (size_t k = 0; k < from->n; k++)
		if (bits & (uint64_t)1 << k)
			memcpy(names[n++], from->names[k], KEYWORD_LEN + 1);
	rc = mindex_keywords_bits(b->db, txn, to, (const char (*)[KEYWORD_LEN + 1])names,
	    n, true, out);
	free(names);
	return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Link each of op->uids from mailbox src into dst. */
static int
mop_copy_messages(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op,
    const struct midx_mailbox *src, struct midx_mailbox *dst,
    struct midx_user *u)
{
	char sdir[4096], ddir[4096], spath[COMMIT_PATH];
	MDB_val v;
	uint32_t uid;
	int rc;

	struct keywords skw;
	userarea_mailbox_dir(op->src_part ? op->src_part : op->part,
	    op->src_user ? op->src_user : op->user, src->id, sdir, sizeof(sdir));
	userarea_mailbox_dir(op->part, op->user, dst->id, ddir, sizeof(ddir));
	if ((rc = mindex_keywords_get(b->db, txn, src->id, &skw)) != 0)
		return rc;
	for (size_t i = 0; i < op->nuids; i++) {
		if ((rc = mop_msg_get(txn, b->db, src->id, op->uids[i], &v)) ==
		    MDB_NOTFOUND) {
			mop_out(op, 0);
			continue;
		}
		if (rc != 0)
			return rc;
		struct midx_message m;
		memcpy(&m, v.mv_data, sizeof(m));
		snprintf(spath, sizeof(spath), "%s/%u", sdir, op->uids[i]);
		/* The envelope must be copied out: the put below may move
		 * the page it lives on. */
		size_t envlen = v.mv_size - sizeof(m);
		char *env = xmalloc(envlen + 1);
		memcpy(env, (const char *)v.mv_data + sizeof(m), envlen);
		struct commit_msg cm = { .src = spath, .size = m.size,
		    .header_size = m.header_size, .flags = m.flags,
		    .internaldate = m.internaldate, .envelope = env,
		    .envlen = envlen };
		rc = mop_map_keywords(txn, b, &skw, m.keywords, dst->id, &cm.keywords);
		if (rc == 0)
			rc = commit_add_message(txn, b, ddir, dst, u, &cm, &uid);
		free(env);
		if (rc == -1)
			return EIO;
		if (rc != 0)
			return rc;
		mop_out(op, uid);
	}
	return 0;
}

static int
mop_copy(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox src, dst;
	struct midx_user u;
	MDB_val v;
	uint64_t bytes = 0;
	/* The source may be another user's (shared) mailbox: COPY only. */
	int rc = mindex_mailbox_get(b->db, txn, op->src_user ? op->src_user :
	    op->user, op->name, &src);

	if (rc == 0)
		rc = mindex_mailbox_get(b->db, txn, op->user, op->name2, &dst);
	if (rc == MDB_NOTFOUND) {
		op->status = MOP_NONEXISTENT;
		return 0;
	}
	if (rc != 0 || (rc = mop_user(txn, b, op, &u)) != 0)
		return rc;
	for (size_t i = 0; op->kind == MOP_COPY && i < op->nuids; i++) {
		struct midx_message m;
		/* LMDB values are only 2-byte aligned: copy, never cast. */
		if (mop_msg_get(txn, b->db, src.id, op->uids[i], &v) == 0) {
			memcpy(&m, v.mv_data, sizeof(m));
			bytes += m.size;
		}
	}
	if (op->kind == MOP_COPY && b->cfg->quota_enforce &&
	    mop_over_quota(op, &u, bytes, op->nuids)) {
		op->status = MOP_OVERQUOTA;
		return 0;
	}
	op->uidvalidity = dst.uidvalidity;
	if ((rc = mop_copy_messages(txn, b, op, &src, &dst, &u)) != 0 ||
	    (rc = mindex_mailbox_put(b->db, txn, op->user, op->name2, &dst)) != 0)
		return rc;
	if (op->kind == MOP_MOVE &&
	    (rc = mop_remove(txn, b, op, op->name, &src, &u, false)) != 0)
		return rc;
	return mindex_user_put(b->db, txn, op->user, &u);
}

static int
mop_append(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	struct midx_user u;
	char dir[4096];
	uint32_t uid;
	int rc = commit_open_mailbox(txn, b, op->part, op->user, op->name, false,
	    &mb, dir, sizeof(dir));

	if (rc == MDB_NOTFOUND) {
		op->status = MOP_NONEXISTENT;
		return 0;
	}
	if (rc != 0 || (rc = mop_user(txn, b, op, &u)) != 0)
		return rc == -1 ? EIO : rc;
	if (b->cfg->quota_enforce && mop_over_quota(op, &u, op->size, 1)) {
		op->status = MOP_OVERQUOTA;
		return 0;
	}
	struct commit_msg m = { .src = op->path, .size = op->size,
	    .header_size = op->header_size, .flags = op->flags,
	    .internaldate = op->date, .envelope = op->envelope,
	    .envlen = op->envlen };
	rc = mindex_keywords_bits(b->db, txn, mb.id,
	    (const char (*)[KEYWORD_LEN + 1])op->kw, op->nkw, true, &m.keywords);
	if (rc == MDB_KEYEXIST) {
		op->status = MOP_LIMIT;
		return 0;
	}
	if (rc != 0)
		return rc;
	if ((rc = commit_add_message(txn, b, dir, &mb, &u, &m, &uid)) != 0)
		return rc == -1 ? EIO : rc;
	op->uidvalidity = mb.uidvalidity;
	mop_out(op, uid);
	if ((rc = mindex_mailbox_put(b->db, txn, op->user, op->name, &mb)) != 0)
		return rc;
	return mindex_user_put(b->db, txn, op->user, &u);
}

static int
mop_recent(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	int rc = mindex_mailbox_get(b->db, txn, op->user, op->name, &mb);

	if (rc != 0 || mb.recent_uid >= op->recent_uid)
		return rc == MDB_NOTFOUND ? 0 : rc;
	mb.recent_uid = op->recent_uid;
	return mindex_mailbox_put(b->db, txn, op->user, op->name, &mb);
}

/* Re-key one mailbox record and rewrite its meta file. */
static int
mop_rename_one(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op,
    const char *from, const char *to)
{
	struct midx_mailbox mb;
	char key[MAILBOX_NAME_MAX + USER_KEY_MAX + 1], dir[4096];
	uint32_t v;
	int rc = mindex_mailbox_get(b->db, txn, op->user, from, &mb);

	if (rc != 0)
		return rc;
	size_t ul = strlen(op->user), nl = strlen(from);
	memcpy(key, op->user, ul + 1);
	memcpy(key + ul + 1, from, nl);
	MDB_val k = { .mv_size = ul + 1 + nl, .mv_data = key };
	if ((rc = mdb_del(txn, db_dbi(b->db, MIDX_MAILBOXES), &k, NULL)) != 0 ||
	    (rc = mindex_mailbox_put(b->db, txn, op->user, to, &mb)) != 0)
		return rc;
	userarea_mailbox_dir(op->part, op->user, mb.id, dir, sizeof(dir));
	if (!userarea_mailbox_rename(dir, to, mb.uidvalidity, &v))
		return EIO;
	return 0;
}

/* RENAME of INBOX (RFC 3501 6.3.5): its messages move to a new mailbox
 * and INBOX stays, empty. */
static int
mop_rename_inbox(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox in, dst;
	struct midx_user u;
	char dir[4096];
	int rc;

	if ((rc = mindex_mailbox_get(b->db, txn, op->user, "INBOX", &in)) != 0 ||
	    (rc = commit_open_mailbox(txn, b, op->part, op->user, op->name2, true,
	    &dst, dir, sizeof(dir))) != 0 || (rc = mop_user(txn, b, op, &u)) != 0)
		return rc == -1 ? EIO : rc;
	/* Every UID of INBOX. */
	struct mbox_view *view;
	if ((rc = mbox_view_open_txn(b->db, txn, op->user, "INBOX", &view)) != 0)
		return rc;
	op->uids = xmalloc((view->n + 1) * sizeof(uint32_t));
	memcpy(op->uids, view->uids, view->n * sizeof(uint32_t));
	op->nuids = view->n;
	mbox_view_close(&view);
	op->kind = MOP_MOVE;
	memcpy(op->name, "INBOX", 6);
	rc = mop_copy(txn, b, op);
	op->kind = MOP_RENAME;
	return rc;
}

/* Children move with their parent: "a/b" when "a" is renamed. */
static int
mop_rename(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_mailbox mb;
	int rc = mindex_mailbox_get(b->db, txn, op->user, op->name2, &mb);

	if (rc == 0) {
		op->status = MOP_EXISTS;
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	if (mindex_mailbox_get(b->db, txn, op->user, op->name, &mb) != 0) {
		op->status = MOP_NONEXISTENT;
		return 0;
	}
	if (strcmp(op->name, "INBOX") == 0)
		return mop_rename_inbox(txn, b, op);
	char **names = NULL;
	size_t n = mbox_children_txn(b->db, txn, op->user, op->name, &names);
	rc = mop_rename_one(txn, b, op, op->name, op->name2);
	size_t plen = strlen(op->name);
	for (size_t i = 0; i < n; i++) {
		char to[MAILBOX_NAME_MAX];
		if (rc == 0 && snprintf(to, sizeof(to), "%s%s", op->name2,
		    names[i] + plen) < (int)sizeof(to))
			rc = mop_rename_one(txn, b, op, names[i], to);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* INBOX and the special-use folders, once per user; subscribed. */
static int
mop_init(MDB_txn *txn, struct commit_batch *b, struct mbox_op *op)
{
	struct midx_user u;
	struct midx_mailbox mb;
	char dir[4096];
	int rc = mop_user(txn, b, op, &u);

	if (rc != 0 || u.initialized)
		return rc;
	for (int i = -1; i < 0 || mbox_special_use[i][0] != NULL; i++) {
		const char *name = i < 0 ? "INBOX" : mbox_special_use[i][0];
		rc = commit_open_mailbox(txn, b, op->part, op->user, name, true, &mb,
		    dir, sizeof(dir));
		if (rc == -1)
			return EIO;
		if (rc != 0)
			return rc;
		snprintf(op->name, sizeof(op->name), "%s", name);
		op->kind = MOP_SUBSCRIBE;
		rc = mop_subscribe(txn, b, op);
		op->kind = MOP_INIT;
		if (rc != 0)
			return rc;
	}
	u.initialized = 1;
	return mindex_user_put(b->db, txn, op->user, &u);
}

static int
mbox_op_run(MDB_txn *txn, struct commit_batch *b, struct commit_req *req)
{
	struct mbox_op *op = req->op_data;

	op->status = MOP_OK;
	op->nout = 0;
	op->nmoved = 0;
	switch (op->kind) {
	case MOP_CREATE: return mop_create(txn, b, op);
	case MOP_DELETE: return mop_delete(txn, b, op);
	case MOP_RENAME: return mop_rename(txn, b, op);
	case MOP_SUBSCRIBE:
	case MOP_UNSUBSCRIBE: return mop_subscribe(txn, b, op);
	case MOP_FLAGS: return mop_flags(txn, b, op);
	case MOP_EXPUNGE:
	case MOP_REMOVE: return mop_expunge(txn, b, op);
	case MOP_COPY:
	case MOP_MOVE: return mop_copy(txn, b, op);
	case MOP_APPEND: return mop_append(txn, b, op);
	case MOP_RECENT: return mop_recent(txn, b, op);
	case MOP_INIT: return mop_init(txn, b, op);
	}
	return 0;
}

struct mbox_op_ctx {
	mbox_op_cb *cb;
	void *arg;
};

static void
mbox_op_done(struct commit_req *req, void *arg)
{
	struct mbox_op *op = req->op_data;
	struct mbox_op_ctx *ctx = arg;

	if (req->failed)
		op->status = MOP_FAILED;
	ctx->cb(op, ctx->arg);
	free(ctx);
	commit_req_free(&req);
}

struct commit_req *
mbox_op_submit(struct mbox_op *op, mbox_op_cb *cb, void *arg)
{
	struct commit_req *req = xcalloc(1, sizeof(*req));
	struct mbox_op_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->cb = cb;
	ctx->arg = arg;
	req->fd = -1;
	if (op->kind == MOP_APPEND) {
		req->fd = open(op->path, O_RDONLY | O_CLOEXEC);
		if (req->fd == -1)
			log_err("open(\"%s\"): %s", op->path, strerror(errno));
	}
	req->op = mbox_op_run;
	req->op_data = op;
	req->notify_user = op->user;
	req->done = mbox_op_done;
	req->arg = ctx;
	commit_submit(req);
	return req;
}

struct commit_req *
mbox_op_init_user(struct db *db, const char *user,
    const struct partition *part, mbox_op_cb *cb, void *arg)
{
	struct mbox_op *op = mbox_op_new(MOP_INIT, user, part);
	struct midx_user u;

	/* Known to be done already: answer at once, no write transaction. */
	if (mbox_user_get(db, user, &u) == 0 && u.initialized) {
		cb(op, arg);
		return NULL;
	}
	return mbox_op_submit(op, cb, arg);
}

static void
mbox_op_orphan(struct mbox_op *op, void *arg)
{
	(void)arg;
	mbox_op_free(&op);
}

void
mbox_op_detach(struct commit_req *req)
{
	struct mbox_op_ctx *ctx = req->arg;

	ctx->cb = mbox_op_orphan;
	ctx->arg = NULL;
}
