/*
 * mindex: the store's system area in LMDB (through common/db).
 *
 *   users      USER                         -> struct midx_user
 *   mailboxes  USER NUL NAME                -> struct midx_mailbox
 *   messages   MAILBOXID(be64) UID(be32)    -> struct midx_message + envelope
 *   meta       "mailbox_seq"                -> last mailbox id (u64)
 *   subscriptions  USER NUL NAME            -> (empty)
 *   keywords   MAILBOXID(be64)              -> keyword names, NUL-separated
 *   expunged   MAILBOXID(be64) UID(be32)    -> modseq of the expunge (u64),
 *                                              for QRESYNC's VANISHED
 *   acl        OWNER NUL NAME NUL WHO        -> rights (u32), RFC 4314
 *   aclrev     WHO NUL OWNER NUL NAME        -> rights (u32): what is
 *                                              shared with WHO
 *
 * Records are fixed-layout host-endian structs: the index is a cache of the
 * user area on this host, never shipped elsewhere, and reconstruct rebuilds
 * it.  Keys are big-endian so a mailbox's messages sort by UID.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "msg_header.h"
#include "store.h"
#include "xmalloc.h"

static const char *const mindex_names[] = {
	"users", "mailboxes", "messages", "meta", "subscriptions", "keywords",
	"expunged", "acl", "aclrev", NULL
};

struct db *
mindex_open(const char *dir, uint64_t mapsize, char **err)
{
	return db_open(dir, mindex_names, (size_t)mapsize, err);
}

static int
mindex_get_fixed(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    void *out, size_t outlen)
{
	MDB_val v;
	int rc = db_get(txn, dbi, key, klen, &v);

	if (rc != 0)
		return rc;
	memset(out, 0, outlen);
	memcpy(out, v.mv_data, v.mv_size < outlen ? v.mv_size : outlen);
	return 0;
}

int
mindex_user_get(struct db *db, MDB_txn *txn, const char *user,
    struct midx_user *u)
{
	return mindex_get_fixed(txn, db_dbi(db, MIDX_USERS), user, strlen(user),
	    u, sizeof(*u));
}

int
mindex_user_put(struct db *db, MDB_txn *txn, const char *user,
    const struct midx_user *u)
{
	return db_put(txn, db_dbi(db, MIDX_USERS), user, strlen(user), u,
	    sizeof(*u));
}

static size_t
mindex_mailbox_key(const char *user, const char *name, char *key, size_t len)
{
	size_t ul = strlen(user), nl = strlen(name);

	if (ul + 1 + nl > len)
		return 0;
	memcpy(key, user, ul);
	key[ul] = '\0';
	memcpy(key + ul + 1, name, nl);
	return ul + 1 + nl;
}

int
mindex_mailbox_get(struct db *db, MDB_txn *txn, const char *user,
    const char *name, struct midx_mailbox *mb)
{
	char key[511];
	size_t klen = mindex_mailbox_key(user, name, key, sizeof(key));

	if (klen == 0)
		return MDB_BAD_VALSIZE;
	return mindex_get_fixed(txn, db_dbi(db, MIDX_MAILBOXES), key, klen, mb,
	    sizeof(*mb));
}

int
mindex_mailbox_put(struct db *db, MDB_txn *txn, const char *user,
    const char *name, const struct midx_mailbox *mb)
{
	char key[511];
	size_t klen = mindex_mailbox_key(user, name, key, sizeof(key));

	if (klen == 0)
		return MDB_BAD_VALSIZE;
	return db_put(txn, db_dbi(db, MIDX_MAILBOXES), key, klen, mb,
	    sizeof(*mb));
}

void
mindex_message_key(uint64_t mailbox, uint32_t uid, unsigned char key[12])
{
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(mailbox >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		key[8 + i] = (unsigned char)(uid >> (24 - 8 * i));
}

int
mindex_message_put(struct db *db, MDB_txn *txn, uint64_t mailbox,
    uint32_t uid, const struct midx_message *m, const char *env, size_t envlen)
{
	unsigned char key[12];
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key };
	MDB_val v = { .mv_size = sizeof(*m) + envlen };
	int rc;

	mindex_message_key(mailbox, uid, key);
	/* Reserve the value in place: one copy instead of two. */
	rc = mdb_put(txn, db_dbi(db, MIDX_MESSAGES), &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	memcpy(v.mv_data, m, sizeof(*m));
	memcpy((char *)v.mv_data + sizeof(*m), env, envlen);
	return 0;
}

static void
mindex_id_key(uint64_t id, unsigned char key[8])
{
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(id >> (56 - 8 * i));
}

int
mindex_keywords_get(struct db *db, MDB_txn *txn, uint64_t mailbox,
    struct keywords *kw)
{
	unsigned char key[8];
	MDB_val v;

	kw->n = 0;
	mindex_id_key(mailbox, key);
	int rc = db_get(txn, db_dbi(db, MIDX_KEYWORDS), key, sizeof(key), &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	const char *p = v.mv_data, *end = p + v.mv_size;
	while (p < end && kw->n < KEYWORDS_MAX) {
		size_t len = strnlen(p, (size_t)(end - p));
		snprintf(kw->names[kw->n++], KEYWORD_LEN + 1, "%.*s", (int)len, p);
		p += len + 1;
	}
	return 0;
}

static int
mindex_keywords_put(struct db *db, MDB_txn *txn, uint64_t mailbox,
    const struct keywords *kw)
{
	char buf[KEYWORDS_MAX * (KEYWORD_LEN + 1)];
	unsigned char key[8];
	size_t o = 0;

	for (size_t i = 0; i < kw->n; i++) {
		size_t len = strlen(kw->names[i]) + 1;
		memcpy(buf + o, kw->names[i], len);
		o += len;
	}
	mindex_id_key(mailbox, key);
	return db_put(txn, db_dbi(db, MIDX_KEYWORDS), key, sizeof(key), buf, o);
}

int
mindex_keywords_bits(struct db *db, MDB_txn *txn, uint64_t mailbox,
    const char (*names)[KEYWORD_LEN + 1], size_t n, bool create,
    uint64_t *bits)
{
	struct keywords kw;
	bool added = false;
	int rc = mindex_keywords_get(db, txn, mailbox, &kw);

	*bits = 0;
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		size_t k;
		for (k = 0; k < kw.n; k++)
			if (strcasecmp(kw.names[k], names[i]) == 0)
				break;
		if (k == kw.n) {
			if (!create)
				continue;
			if (kw.n == KEYWORDS_MAX)
				return MDB_KEYEXIST;
			snprintf(kw.names[kw.n++], KEYWORD_LEN + 1, "%s", names[i]);
			added = true;
		}
		*bits |= (uint64_t)1 << k;
	}
	return added ? mindex_keywords_put(db, txn, mailbox, &kw) : 0;
}

int
mindex_next_mailbox_id(struct db *db, MDB_txn *txn, uint64_t *id)
{
	static const char key[] = "mailbox_seq";
	uint64_t seq = 0;
	int rc = mindex_get_fixed(txn, db_dbi(db, MIDX_META), key,
	    sizeof(key) - 1, &seq, sizeof(seq));

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	seq++;
	*id = seq;
	return db_put(txn, db_dbi(db, MIDX_META), key, sizeof(key) - 1, &seq,
	    sizeof(seq));
}

char *
mindex_scan_file(const struct store_config *cfg, const char *path,
    struct midx_message *m, size_t *envlen)
{
	struct msg_header_scan hs;
	struct stat st;
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	msg_header_scan_init(&hs, (size_t)cfg->max_header_size,
	    (size_t)cfg->max_header_fields);
	while (!hs.complete && !hs.over_limit &&
	    (n = read(fd, buf, sizeof(buf))) > 0)
		msg_header_scan_feed(&hs, buf, (size_t)n);
	close(fd);
	msg_header_scan_finish(&hs);
	m->size = (uint64_t)st.st_size;
	m->internaldate = st.st_mtime;
	m->header_size = (uint32_t)hs.len;
	char *env = mindex_envelope(hs.buf, hs.len, envlen);
	msg_header_scan_free(&hs);
	return env;
}

char *
mindex_envelope(const char *hdr, size_t hdrlen, size_t *len)
{
	static const char *const names[] = {
#define X(id, name) name,
		ENVELOPE_FIELDS
#undef X
	};
	size_t n = sizeof(names) / sizeof(names[0]);
	char *out = xmalloc(n * ENVELOPE_FIELD_MAX), *p = out;

	for (size_t i = 0; i < n; i++) {
		if (!msg_header_get(hdr, hdrlen, names[i], p, ENVELOPE_FIELD_MAX))
			*p = '\0';
		p += strlen(p) + 1;
	}
	*len = (size_t)(p - out);
	return xrealloc(out, *len);
}
