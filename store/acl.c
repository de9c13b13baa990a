/*
 * acl: ACL storage and checks (see acl.h).  Two LMDB databases hold the
 * same entries from both sides: "acl" by mailbox for GETACL and checks,
 * "aclrev" by grantee for listing what is shared with a user.
 */
#include "acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "db.h"
#include "mailbox.h"
#include "xmalloc.h"

#define ACL_KEY_MAX (3 * 512 + 3)

bool
acl_parse(const char *s, uint32_t *rights)
{
	*rights = 0;
	for (; *s; s++) {
		const char *p = strchr(ACL_LETTERS, *s);
		if (p != NULL)
			*rights |= 1u << (p - ACL_LETTERS);
		else if (*s == 'c')
			*rights |= ACL_CREATE;
		else if (*s == 'd')
			*rights |= ACL_DELMBOX | ACL_DELMSG | ACL_EXPUNGE;
		else
			return false;
	}
	return true;
}

void
acl_string(uint32_t rights, char *buf)
{
	size_t o = 0;

	for (size_t i = 0; ACL_LETTERS[i] != '\0'; i++)
		if (rights & (1u << i))
			buf[o++] = ACL_LETTERS[i];
	buf[o] = '\0';
}

/* a NUL b NUL c */
static size_t
acl_key(char *key, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);

	if (la + lb + lc + 2 > ACL_KEY_MAX)
		return 0;
	memcpy(key, a, la + 1);
	memcpy(key + la + 1, b, lb + 1);
	memcpy(key + la + lb + 2, c, lc);
	return la + lb + lc + 2;
}

static int
acl_get(MDB_txn *txn, struct db *db, const char *owner, const char *name,
    const char *who, uint32_t *rights)
{
	char key[ACL_KEY_MAX];
	size_t klen = acl_key(key, owner, name, who);
	MDB_val v;

	if (klen == 0)
		return MDB_NOTFOUND;
	int rc = db_get(txn, db_dbi(db, MIDX_ACL), key, klen, &v);
	if (rc == 0)
		memcpy(rights, v.mv_data, sizeof(*rights));
	return rc;
}

int
acl_rights(struct db *db, const char *owner, const char *name,
    const char *who, uint32_t *rights)
{
	MDB_txn *txn;
	uint32_t r1 = 0, r2 = 0;

	if (strcmp(owner, who) == 0) {
		*rights = ACL_ALL;
		return 0;
	}
	int rc = db_read_begin(db, &txn);
	if (rc != 0)
		return rc;
	if ((rc = acl_get(txn, db, owner, name, who, &r1)) == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && (rc = acl_get(txn, db, owner, name, "anyone", &r2)) ==
	    MDB_NOTFOUND)
		rc = 0;
	db_read_end(db, &txn);
	*rights = r1 | r2;
	return rc;
}

/* Walk the keys of dbi that start with prefix (NUL included). */
static int
acl_scan(struct db *db, int dbi, const char *prefix, size_t plen,
    void (*fn)(void *arg, const char *rest, size_t len, uint32_t rights),
    void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { .mv_size = plen, .mv_data = (void *)prefix }, v;
	int rc = db_read_begin(db, &txn);

	if (rc != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db_dbi(db, dbi), &cur)) == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size > plen &&
		    memcmp(k.mv_data, prefix, plen) == 0) {
			uint32_t r;
			memcpy(&r, v.mv_data, sizeof(r));
			fn(arg, (const char *)k.mv_data + plen, k.mv_size - plen, r);
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	db_read_end(db, &txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

struct acl_walk {
	void (*list)(void *arg, const char *who, uint32_t rights);
	void (*shared)(void *arg, const char *owner, const char *name,
	    uint32_t rights);
	void *arg;
};

static void
acl_list_one(void *arg, const char *rest, size_t len, uint32_t rights)
{
	struct acl_walk *w = arg;
	char who[ACL_ID_MAX + 1];

	snprintf(who, sizeof(who), "%.*s", (int)len, rest);
	w->list(w->arg, who, rights);
}

int
acl_list(struct db *db, const char *owner, const char *name,
    void (*fn)(void *arg, const char *who, uint32_t rights), void *arg)
{
	char prefix[ACL_KEY_MAX];
	struct acl_walk w = { .list = fn, .arg = arg };
	size_t plen = acl_key(prefix, owner, name, "");

	fn(arg, owner, ACL_ALL);
	return plen == 0 ? 0 : acl_scan(db, MIDX_ACL, prefix, plen, acl_list_one, &w);
}

static void
acl_shared_one(void *arg, const char *rest, size_t len, uint32_t rights)
{
	struct acl_walk *w = arg;
	char owner[ACL_ID_MAX + 1], name[MAILBOX_NAME_MAX];
	size_t ol = strnlen(rest, len);

	if (ol >= len || ol >= sizeof(owner) || len - ol - 1 >= sizeof(name))
		return;
	memcpy(owner, rest, ol);
	owner[ol] = '\0';
	memcpy(name, rest + ol + 1, len - ol - 1);
	name[len - ol - 1] = '\0';
	w->shared(w->arg, owner, name, rights);
}

int
acl_shared_with(struct db *db, const char *who,
    void (*fn)(void *arg, const char *owner, const char *name,
    uint32_t rights), void *arg)
{
	struct acl_walk w = { .shared = fn, .arg = arg };
	const char *ids[] = { who, "anyone" };
	int rc = 0;

	for (size_t i = 0; i < 2 && rc == 0; i++)
		rc = acl_scan(db, MIDX_ACLREV, ids[i], strlen(ids[i]) + 1,
		    acl_shared_one, &w);
	return rc;
}

/* ---- changes, in the commit thread ---- */

struct acl_change {
	char owner[ACL_ID_MAX + 1];
	char name[MAILBOX_NAME_MAX];
	char who[ACL_ID_MAX + 1];
	uint32_t rights;
	acl_done_cb *cb;
	void *arg;
};

static int
acl_run(MDB_txn *txn, struct commit_batch *b, struct commit_req *req)
{
	struct acl_change *c = req->op_data;
	char key[ACL_KEY_MAX], rev[ACL_KEY_MAX];
	size_t klen = acl_key(key, c->owner, c->name, c->who);
	size_t rlen = acl_key(rev, c->who, c->owner, c->name);
	MDB_val k = { .mv_size = klen, .mv_data = key };
	MDB_val r = { .mv_size = rlen, .mv_data = rev };
	int rc;

	if (klen == 0 || rlen == 0)
		return 0;
	if (c->rights != 0) {
		if ((rc = db_put(txn, db_dbi(b->db, MIDX_ACL), key, klen, &c->rights,
		    sizeof(c->rights))) != 0)
			return rc;
		return db_put(txn, db_dbi(b->db, MIDX_ACLREV), rev, rlen, &c->rights,
		    sizeof(c->rights));
	}
	if ((rc = mdb_del(txn, db_dbi(b->db, MIDX_ACL), &k, NULL)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	rc = mdb_del(txn, db_dbi(b->db, MIDX_ACLREV), &r, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void
acl_done(struct commit_req *req, void *arg)
{
	struct acl_change *c = arg;

	if (c->cb != NULL)
		c->cb(c->arg, !req->failed);
	free(c);
	req->op_data = NULL;
	commit_req_free(&req);
}

struct commit_req *
acl_submit(const char *owner, const char *name, const char *who,
    uint32_t rights, acl_done_cb *cb, void *arg)
{
	struct commit_req *req = xcalloc(1, sizeof(*req));
	struct acl_change *c = xcalloc(1, sizeof(*c));

	snprintf(c->owner, sizeof(c->owner), "%s", owner);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->who, sizeof(c->who), "%s", who);
	c->rights = rights;
	c->cb = cb;
	c->arg = arg;
	req->fd = -1;
	req->op = acl_run;
	req->op_data = c;
	req->done = acl_done;
	req->arg = c;
	commit_submit(req);
	return req;
}

void
acl_detach(struct commit_req *req)
{
	struct acl_change *c = req->op_data;

	c->cb = NULL;
}
