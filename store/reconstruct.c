/*
 * reconstruct: rebuild users' index entries from the user area.
 *
 *   store -c msg.conf reconstruct [USER...]
 *
 * For each user (all users of all partitions when none is named): every
 * mailbox directory with a .mailbox file becomes a mailbox record; every
 * message file becomes a message record (size, date from the file, envelope
 * from its header); flags and modseqs of messages still present are kept,
 * records without a file are dropped; UIDNEXT never goes backwards; quota
 * usage is recounted.  One LMDB write transaction per user, so it is safe
 * while the store runs: deliveries wait for it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "msg_header.h"
#include "store.h"
#include "xmalloc.h"

struct rc_user {
	struct db *db;
	const struct store_config *cfg;
	const struct partition *part;
	const char *user;
	struct midx_user usage;
	int mailboxes;
	uint64_t messages;
};

static int
rc_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The numeric file names of a mailbox directory, sorted. */
static uint32_t *
rc_list_uids(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint32_t *uids = NULL;
	size_t cap = 0;

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long v = strtoul(de->d_name, &end, 10);
		if (!isdigit((unsigned char)de->d_name[0]) || *end != '\0' ||
		    v == 0 || v > UINT32_MAX)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			uids = xrealloc(uids, cap * sizeof(*uids));
		}
		uids[(*n)++] = (uint32_t)v;
	}
	closedir(d);
	if (*n > 0)
		qsort(uids, *n, sizeof(*uids), rc_uid_cmp);
	return uids;
}

/* Old flags and modseq of a message, if the index had it. */
static bool
rc_old_record(MDB_txn *txn, struct db *db, uint64_t mbid, uint32_t uid,
    struct midx_message *old)
{
	unsigned char key[12];
	MDB_val v;

	mindex_message_key(mbid, uid, key);
	if (db_get(txn, db_dbi(db, MIDX_MESSAGES), key, sizeof(key), &v) != 0 ||
	    v.mv_size < sizeof(*old))
		return false;
	memcpy(old, v.mv_data, sizeof(*old));
	return true;
}

/* Delete index records of mailbox mbid whose file is gone. */
static int
rc_drop_missing(MDB_txn *txn, struct db *db, uint64_t mbid,
    const uint32_t *uids, size_t n)
{
	MDB_cursor *cur;
	unsigned char key[12];
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key }, v;
	int rc = mdb_cursor_open(txn, db_dbi(db, MIDX_MESSAGES), &cur);

	if (rc != 0)
		return rc;
	mindex_message_key(mbid, 0, key);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 12 && memcmp(k.mv_data, key, 8) == 0) {
		const unsigned char *kp = k.mv_data;
		uint32_t uid = (uint32_t)kp[8] << 24 | (uint32_t)kp[9] << 16 |
		    (uint32_t)kp[10] << 8 | kp[11];
		if (bsearch(&uid, uids, n, sizeof(*uids), rc_uid_cmp) == NULL &&
		    (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
rc_mailbox(MDB_txn *txn, struct rc_user *ru, const char *dir, uint64_t mbid)
{
	char name[1024], path[4608];
	struct midx_mailbox mb;
	size_t n, envlen;
	int rc = 0;

	if (!userarea_mailbox_read_meta(dir, name, sizeof(name), &mb.uidvalidity))
		return 0;
	struct midx_mailbox old;
	bool had = mindex_mailbox_get(ru->db, txn, ru->user, name, &old) == 0;
	uint32_t *uids = rc_list_uids(dir, &n);
	mb.id = mbid;
	mb.uidnext = had && old.uidnext > 1 ? old.uidnext : 1;
	mb.highestmodseq = had ? old.highestmodseq : 0;
	mb.exists = 0;
	mb.recent_uid = had ? old.recent_uid : 0;
	if ((rc = rc_drop_missing(txn, ru->db, mbid, uids, n)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct midx_message m = { 0 }, prev;
		snprintf(path, sizeof(path), "%s/%u", dir, uids[i]);
		char *env = mindex_scan_file(ru->cfg, path, &m, &envlen);
		if (env == NULL)
			continue;
		if (rc_old_record(txn, ru->db, mbid, uids[i], &prev)) {
			m.flags = prev.flags;
			m.keywords = prev.keywords;
			m.modseq = prev.modseq;
		} else {
			m.modseq = ++mb.highestmodseq;
		}
		rc = mindex_message_put(ru->db, txn, mbid, uids[i], &m, env, envlen);
		free(env);
		if (rc != 0)
			goto out;
		mb.exists++;
		if (uids[i] >= mb.uidnext)
			mb.uidnext = uids[i] + 1;
		ru->usage.bytes += m.size;
		ru->usage.messages++;
	}
	rc = mindex_mailbox_put(ru->db, txn, ru->user, name, &mb);
	ru->mailboxes++;
	ru->messages += mb.exists;
out:
	free(uids);
	return rc;
}

static int
rc_user_txn(MDB_txn *txn, void *arg)
{
	struct rc_user *ru = arg;
	char udir[4096], mdir[4352];
	struct dirent *de;
	int rc = 0;

	if (mindex_user_get(ru->db, txn, ru->user, &ru->usage) != 0)
		memset(&ru->usage, 0, sizeof(ru->usage));
	snprintf(ru->usage.partition, sizeof(ru->usage.partition), "%s",
	    ru->part->name);
	ru->usage.bytes = ru->usage.messages = 0;
	ru->mailboxes = 0;
	ru->messages = 0;
	userarea_user_dir(ru->part, ru->user, udir, sizeof(udir));
	DIR *d = opendir(udir);
	if (d == NULL)
		return errno == ENOENT ? MDB_NOTFOUND : errno;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char *end;
		unsigned long long id = strtoull(de->d_name, &end, 10);
		if (!isdigit((unsigned char)de->d_name[0]) || *end != '\0')
			continue;
		snprintf(mdir, sizeof(mdir), "%s/%s", udir, de->d_name);
		rc = rc_mailbox(txn, ru, mdir, id);
	}
	closedir(d);
	if (rc == 0)
		rc = mindex_user_put(ru->db, txn, ru->user, &ru->usage);
	return rc;
}

static int
rc_user(struct db *db, const struct store_config *cfg,
    const struct partition *part, const char *user)
{
	struct rc_user ru = { .db = db, .cfg = cfg, .part = part, .user = user };
	int rc = db_write(db, rc_user_txn, &ru);

	if (rc != 0) {
		fprintf(stderr, "reconstruct user=%s: %s\n", user,
		    rc == MDB_NOTFOUND ? "no such user on this store" :
		    rc > 0 ? strerror(rc) : mdb_strerror(rc));
		return 1;
	}
	printf("reconstructed user=%s partition=%s mailboxes=%d messages=%llu "
	    "bytes=%llu\n", user, part->name, ru.mailboxes,
	    (unsigned long long)ru.messages, (unsigned long long)ru.usage.bytes);
	return 0;
}

/* The partition that holds user: the index's word, else look on disk. */
static const struct partition *
rc_find_partition(struct db *db, const struct store_config *cfg,
    const char *user)
{
	struct midx_user u;
	MDB_txn *txn;
	char dir[4096];
	struct stat st;

	if (db_read_begin(db, &txn) == 0) {
		int rc = mindex_user_get(db, txn, user, &u);
		db_read_end(db, &txn);
		if (rc == 0 && config_partition(cfg, u.partition) != NULL)
			return config_partition(cfg, u.partition);
	}
	for (int i = 0; i < cfg->npartitions; i++) {
		userarea_user_dir(&cfg->partitions[i], user, dir, sizeof(dir));
		if (stat(dir, &st) == 0)
			return &cfg->partitions[i];
	}
	return NULL;
}

/* Undo the user area's %XX escaping of a directory name. */
static void
rc_unescape(const char *in, char *out, size_t len)
{
	size_t o = 0;
	unsigned int c;

	for (; *in && o + 1 < len; in++) {
		if (*in == '%' && sscanf(in + 1, "%2x", &c) == 1) {
			out[o++] = (char)c;
			in += 2;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static int
rc_partition(struct db *db, const struct store_config *cfg,
    const struct partition *part)
{
	char l1[4352], l2[4608], user[USER_KEY_MAX];
	struct dirent *a, *b, *c;
	int failures = 0;
	DIR *d1 = opendir(part->path);

	while (d1 != NULL && (a = readdir(d1)) != NULL) {
		if (strlen(a->d_name) != 2 || !isxdigit((unsigned char)a->d_name[0]))
			continue;
		snprintf(l1, sizeof(l1), "%s/%s", part->path, a->d_name);
		DIR *d2 = opendir(l1);
		while (d2 != NULL && (b = readdir(d2)) != NULL) {
			if (b->d_name[0] == '.')
				continue;
			snprintf(l2, sizeof(l2), "%s/%s", l1, b->d_name);
			DIR *d3 = opendir(l2);
			while (d3 != NULL && (c = readdir(d3)) != NULL) {
				if (c->d_name[0] == '.')
					continue;
				rc_unescape(c->d_name, user, sizeof(user));
				failures += rc_user(db, cfg, part, user);
			}
			if (d3 != NULL)
				closedir(d3);
		}
		if (d2 != NULL)
			closedir(d2);
	}
	if (d1 != NULL)
		closedir(d1);
	return failures;
}

int
reconstruct_main(const struct store_config *cfg, int argc, char **argv)
{
	char *err = NULL;
	int failures = 0;
	struct db *db = mindex_open(cfg->dbdir, cfg->dbmapsize, &err);

	if (db == NULL) {
		fprintf(stderr, "reconstruct: %s\n", err);
		free(err);
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		char user[USER_KEY_MAX];
		snprintf(user, sizeof(user), "%s", argv[i]);
		for (char *p = user; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		const struct partition *part = rc_find_partition(db, cfg, user);
		if (part == NULL) {
			fprintf(stderr, "reconstruct user=%s: no such user on this "
			    "store\n", user);
			failures++;
			continue;
		}
		failures += rc_user(db, cfg, part, user);
	}
	for (int i = 0; argc == 0 && i < cfg->npartitions; i++)
		failures += rc_partition(db, cfg, &cfg->partitions[i]);
	db_close(&db);
	return failures ? 1 : 0;
}
