/*
 * mailbox: index reads and session views (see mailbox.h).
 */
#include "mailbox.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "xmalloc.h"

static int
mbox_view_load(struct db *db, MDB_txn *txn, struct mbox_view *v)
{
	MDB_cursor *cur;
	unsigned char key[12];
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key }, d;
	int rc = mdb_cursor_open(txn, db_dbi(db, MIDX_MESSAGES), &cur);

	if (rc != 0)
		return rc;
	v->n = 0;
	mindex_message_key(v->id, 0, key);
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 12 && memcmp(k.mv_data, key, 8) == 0) {
		const unsigned char *kp = k.mv_data;
		struct midx_message m;
		if (v->n == v->cap) {
			v->cap = v->cap ? v->cap * 2 : 64;
			v->uids = xrealloc(v->uids, v->cap * sizeof(*v->uids));
			v->flags = xrealloc(v->flags, v->cap * sizeof(*v->flags));
			v->kw = xrealloc(v->kw, v->cap * sizeof(*v->kw));
			v->modseq = xrealloc(v->modseq, v->cap * sizeof(*v->modseq));
		}
		memset(&m, 0, sizeof(m));
		memcpy(&m, d.mv_data, d.mv_size < sizeof(m) ? d.mv_size : sizeof(m));
		v->kw[v->n] = m.keywords;
		v->modseq[v->n] = m.modseq;
		v->uids[v->n] = (uint32_t)kp[8] << 24 | (uint32_t)kp[9] << 16 |
		    (uint32_t)kp[10] << 8 | kp[11];
		v->flags[v->n] = m.flags & ~(uint32_t)MFLAG_RECENT;
		v->n++;
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mindex_keywords_get(db, txn, v->id, &v->names);
	return rc;
}

int
mbox_view_open(struct db *db, const struct partition *part, const char *user,
    const char *name, struct mbox_view **out)
{
	MDB_txn *txn;
	int rc = db_read_begin(db, &txn);

	*out = NULL;
	if (rc != 0)
		return rc;
	rc = mbox_view_open_txn(db, txn, user, name, out);
	if (*out != NULL)
		(*out)->part = part;
	db_read_end(db, &txn);
	return rc;
}

int
mbox_view_open_txn(struct db *db, MDB_txn *txn, const char *user,
    const char *name, struct mbox_view **out)
{
	struct midx_mailbox mb;
	int rc;

	*out = NULL;
	rc = mindex_mailbox_get(db, txn, user, name, &mb);
	if (rc == 0) {
		struct mbox_view *v = xcalloc(1, sizeof(*v));
		v->user = xstrdup(user);
		snprintf(v->name, sizeof(v->name), "%s", name);
		v->id = mb.id;
		v->uidvalidity = mb.uidvalidity;
		v->uidnext = mb.uidnext;
		v->highestmodseq = mb.highestmodseq;
		v->recent_uid = mb.recent_uid;
		rc = mbox_view_load(db, txn, v);
		if (rc == 0)
			*out = v;
		else
			mbox_view_close(&v);
	}
	return rc;
}

void
mbox_view_close(struct mbox_view **vp)
{
	struct mbox_view *v = *vp;

	if (v == NULL)
		return;
	free(v->user);
	free(v->uids);
	free(v->flags);
	free(v->kw);
	free(v->modseq);
	free(v);
	*vp = NULL;
}

/* Merge the index's current list (in `now`) into v, reporting changes. */
static size_t
mbox_view_merge(struct mbox_view *v, const struct mbox_view *now,
    const struct mbox_changes *cb)
{
	size_t i = 0, j = 0, out = 0, added = 0;

	/* Expunges first, highest sequence first, as clients expect them
	 * applied one by one. */
	for (size_t k = v->n; k > 0; k--)
		if (mbox_view_seq(now, v->uids[k - 1]) == 0 && cb->expunged)
			cb->expunged(cb->arg, k, v->uids[k - 1]);
	while (i < v->n) {
		if (j < now->n && now->uids[j] == v->uids[i]) {
			uint32_t keep = v->flags[i] & MFLAG_RECENT;
			bool changed = (v->flags[i] & ~MFLAG_RECENT) != now->flags[j] ||
			    v->kw[i] != now->kw[j];
			v->uids[out] = v->uids[i];
			v->flags[out] = now->flags[j] | keep;
			v->kw[out] = now->kw[j];
			v->modseq[out] = now->modseq[j];
			out++;
			if (changed && cb->flags)
				cb->flags(cb->arg, out);
			i++;
			j++;
		} else if (j < now->n && now->uids[j] < v->uids[i]) {
			j++;        /* cannot happen: UIDs only grow */
		} else {
			i++;        /* expunged */
		}
	}
	v->n = out;
	for (; j < now->n; j++) {
		if (now->uids[j] <= (v->n ? v->uids[v->n - 1] : 0))
			continue;
		if (v->n == v->cap) {
			v->cap = v->cap ? v->cap * 2 : 64;
			v->uids = xrealloc(v->uids, v->cap * sizeof(*v->uids));
			v->flags = xrealloc(v->flags, v->cap * sizeof(*v->flags));
			v->kw = xrealloc(v->kw, v->cap * sizeof(*v->kw));
			v->modseq = xrealloc(v->modseq, v->cap * sizeof(*v->modseq));
		}
		v->uids[v->n] = now->uids[j];
		v->flags[v->n] = now->flags[j];
		v->kw[v->n] = now->kw[j];
		v->modseq[v->n] = now->modseq[j];
		v->n++;
		added++;
	}
	return added;
}

int
mbox_view_sync(struct db *db, struct mbox_view *v,
    const struct mbox_changes *cb, size_t *added)
{
	struct mbox_view now = { .id = v->id };
	struct midx_mailbox mb;
	MDB_txn *txn;
	int rc = db_read_begin(db, &txn);

	*added = 0;
	if (rc != 0)
		return rc;
	rc = mindex_mailbox_get(db, txn, v->user, v->name, &mb);
	if (rc == 0 && mb.id != v->id)
		rc = MDB_NOTFOUND;      /* deleted and made again */
	/* \Recent given out since: the server forgets claims the index
	 * holds (imap_recent_release), so the view must know them. */
	if (rc == 0 && mb.recent_uid > v->recent_uid)
		v->recent_uid = mb.recent_uid;
	if (rc == 0 && mb.highestmodseq == v->highestmodseq &&
	    mb.uidnext == v->uidnext) {
		db_read_end(db, &txn);
		return 0;               /* nothing changed */
	}
	if (rc == 0)
		rc = mbox_view_load(db, txn, &now);
	db_read_end(db, &txn);
	if (rc == 0) {
		/* Names first: the flag reports of the merge print them. */
		v->names = now.names;
		*added = mbox_view_merge(v, &now, cb);
		v->uidnext = mb.uidnext;
		v->highestmodseq = mb.highestmodseq;
	}
	free(now.uids);
	free(now.flags);
	free(now.kw);
	free(now.modseq);
	return rc;
}

size_t
mbox_view_seq(const struct mbox_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] == uid)
			return mid + 1;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* seq-number = nz-number / "*" */
static bool
mbox_set_number(const char **p, uint32_t star, uint32_t *n)
{
	if (**p == '*') {
		(*p)++;
		*n = star;
		return true;
	}
	if (!isdigit((unsigned char)**p) || **p == '0')
		return false;
	unsigned long long v = 0;
	while (isdigit((unsigned char)**p)) {
		v = v * 10 + (unsigned)(*(*p)++ - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*n = (uint32_t)v;
	return true;
}

/* Mark the UIDs in [lo, hi] (by UID) or the positions (by sequence). */
static void
mbox_set_mark(const struct mbox_view *v, uint32_t lo, uint32_t hi, bool uid,
    bool *sel)
{
	if (!uid) {
		for (uint32_t s = lo; s <= hi && s <= v->n; s++)
			sel[s - 1] = true;
		return;
	}
	for (size_t i = 0; i < v->n; i++)
		if (v->uids[i] >= lo && v->uids[i] <= hi)
			sel[i] = true;
}

bool
mbox_select_set(const struct mbox_view *v, const char *set, bool uid,
    bool *sel)
{
	uint32_t star = uid ? (v->n ? v->uids[v->n - 1] : 0) : (uint32_t)v->n;
	const char *p = set;

	memset(sel, 0, v->n * sizeof(*sel));
	for (;;) {
		uint32_t lo, hi;
		if (!mbox_set_number(&p, star, &lo))
			return false;
		hi = lo;
		if (*p == ':') {
			p++;
			if (!mbox_set_number(&p, star, &hi))
				return false;
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		/* A sequence number beyond the mailbox is an error (RFC 3501
		 * 6.4.8 allows UIDs that do not exist). */
		if (!uid && (hi > v->n || lo == 0))
			return false;
		mbox_set_mark(v, lo, hi, uid, sel);
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			return false;
	}
}

int
mbox_message_get(struct db *db, uint64_t mailbox, uint32_t uid,
    struct midx_message *m, char *env, size_t envcap, size_t *envlen)
{
	unsigned char key[12];
	MDB_txn *txn;
	MDB_val v;
	int rc = db_read_begin(db, &txn);

	if (rc != 0)
		return rc;
	mindex_message_key(mailbox, uid, key);
	rc = db_get(txn, db_dbi(db, MIDX_MESSAGES), key, sizeof(key), &v);
	if (rc == 0 && v.mv_size < sizeof(*m))
		rc = MDB_CORRUPTED;
	if (rc == 0) {
		memcpy(m, v.mv_data, sizeof(*m));
		size_t n = v.mv_size - sizeof(*m);
		if (n > envcap)
			n = envcap;
		if (env != NULL)
			memcpy(env, (const char *)v.mv_data + sizeof(*m), n);
		if (envlen != NULL)
			*envlen = n;
	}
	db_read_end(db, &txn);
	return rc;
}

void
mbox_message_path(const struct mbox_view *v, uint32_t uid, char *buf,
    size_t len)
{
	char dir[4096];

	userarea_mailbox_dir(v->part, v->user, v->id, dir, sizeof(dir));
	snprintf(buf, len, "%s/%u", dir, uid);
}

/* Call fn for every key USER NUL NAME of database dbi, in name order. */
static int
mbox_scan_user(struct db *db, int dbi, const char *user,
    void (*fn)(void *arg, const char *name, const void *val, size_t len),
    void *arg)
{
	size_t ul = strlen(user);
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { .mv_size = ul + 1, .mv_data = (void *)user }, d;
	char name[MAILBOX_NAME_MAX];
	int rc = db_read_begin(db, &txn);

	if (rc != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db_dbi(db, dbi), &cur)) == 0) {
		/* The user's run of keys starts at USER NUL. */
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size > ul && memcmp(k.mv_data, user, ul) == 0 &&
		    ((const char *)k.mv_data)[ul] == '\0') {
			size_t nl = k.mv_size - ul - 1;
			if (nl < sizeof(name)) {
				memcpy(name, (const char *)k.mv_data + ul + 1, nl);
				name[nl] = '\0';
				fn(arg, name, d.mv_data, d.mv_size);
			}
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	db_read_end(db, &txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

struct mbox_list_ctx {
	void (*fn)(void *arg, const char *name, const struct midx_mailbox *mb);
	void (*subs_fn)(void *arg, const char *name);
	void *arg;
};

static void
mbox_list_one(void *arg, const char *name, const void *val, size_t len)
{
	struct mbox_list_ctx *ctx = arg;
	struct midx_mailbox mb = { 0 };

	memcpy(&mb, val, len < sizeof(mb) ? len : sizeof(mb));
	ctx->fn(ctx->arg, name, &mb);
}

int
mbox_list(struct db *db, const char *user,
    void (*fn)(void *arg, const char *name, const struct midx_mailbox *mb),
    void *arg)
{
	struct mbox_list_ctx ctx = { .fn = fn, .arg = arg };

	return mbox_scan_user(db, MIDX_MAILBOXES, user, mbox_list_one, &ctx);
}

int
mbox_counts(struct db *db, const char *user, const char *name,
    struct midx_mailbox *mb, uint32_t *unseen, uint32_t *recent)
{
	struct mbox_view *v;
	int rc = mbox_view_open(db, NULL, user, name, &v);

	if (rc != 0)
		return rc;
	memset(mb, 0, sizeof(*mb));
	mb->id = v->id;
	mb->uidvalidity = v->uidvalidity;
	mb->uidnext = v->uidnext;
	mb->highestmodseq = v->highestmodseq;
	mb->exists = (uint32_t)v->n;
	mb->recent_uid = v->recent_uid;
	*unseen = 0;
	*recent = 0;
	for (size_t i = 0; i < v->n; i++) {
		*unseen += !(v->flags[i] & MFLAG_SEEN);
		*recent += v->uids[i] > mb->recent_uid;
	}
	mbox_view_close(&v);
	return 0;
}

size_t
mbox_children_txn(struct db *db, MDB_txn *txn, const char *user,
    const char *parent, char ***names)
{
	char prefix[USER_KEY_MAX + MAILBOX_NAME_MAX + 2];
	size_t ul = strlen(user), n = 0;
	int plen = snprintf(prefix, sizeof(prefix), "%s%c%s/", user, '\0', parent);
	MDB_cursor *cur;
	MDB_val k = { .mv_size = (size_t)plen, .mv_data = prefix }, d;

	*names = NULL;
	if (plen <= 0 || (size_t)plen >= sizeof(prefix) ||
	    mdb_cursor_open(txn, db_dbi(db, MIDX_MAILBOXES), &cur) != 0)
		return 0;
	int rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= (size_t)plen &&
	    memcmp(k.mv_data, prefix, (size_t)plen) == 0) {
		*names = xrealloc(*names, (n + 1) * sizeof(**names));
		(*names)[n++] = xstrndup((const char *)k.mv_data + ul + 1,
		    k.mv_size - ul - 1);
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return n;
}

static void
mbox_subs_one(void *arg, const char *name, const void *val, size_t len)
{
	struct mbox_list_ctx *ctx = arg;

	(void)val;
	(void)len;
	ctx->subs_fn(ctx->arg, name);
}

int
mbox_subs_list(struct db *db, const char *user,
    void (*fn)(void *arg, const char *name), void *arg)
{
	struct mbox_list_ctx ctx = { .subs_fn = fn, .arg = arg };

	return mbox_scan_user(db, MIDX_SUBS, user, mbox_subs_one, &ctx);
}

int
mbox_user_get(struct db *db, const char *user, struct midx_user *u)
{
	MDB_txn *txn;
	int rc = db_read_begin(db, &txn);

	if (rc != 0)
		return rc;
	rc = mindex_user_get(db, txn, user, u);
	db_read_end(db, &txn);
	return rc;
}

int
mbox_vanished(struct db *db, uint64_t mailbox, uint64_t since,
    void (*fn)(void *arg, uint32_t uid), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	unsigned char key[12];
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key }, d;
	int rc = db_read_begin(db, &txn);

	if (rc != 0)
		return rc;
	mindex_message_key(mailbox, 0, key);
	if ((rc = mdb_cursor_open(txn, db_dbi(db, MIDX_EXPUNGED), &cur)) == 0) {
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size == 12 && memcmp(k.mv_data, key, 8) == 0) {
			const unsigned char *kp = k.mv_data;
			uint64_t modseq;
			memcpy(&modseq, d.mv_data, sizeof(modseq));
			if (modseq > since)
				fn(arg, (uint32_t)kp[8] << 24 | (uint32_t)kp[9] << 16 |
				    (uint32_t)kp[10] << 8 | kp[11]);
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	db_read_end(db, &txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}
