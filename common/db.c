/*
 * db: the LMDB wrapper (see db.h for what it hides and why).
 */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "xmalloc.h"

#define DB_MAX_DBS 16
#define DB_MAX_READERS 1022

struct db {
	MDB_env *env;
	MDB_dbi dbis[DB_MAX_DBS];
	int ndbs;
	size_t mapsize;
	pthread_rwlock_t resize;
};

static char *
db_error(const char *call, const char *arg, int rc)
{
	return xasprintf("%s(\"%s\"): %s", call, arg, mdb_strerror(rc));
}

static int
db_open_dbis(struct db *db, const char *const *names)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, 0, &txn);

	if (rc != 0)
		return rc;
	for (db->ndbs = 0; names[db->ndbs] != NULL; db->ndbs++) {
		if (db->ndbs == DB_MAX_DBS)
			log_panic("db_open: more than %d databases", DB_MAX_DBS);
		rc = mdb_dbi_open(txn, names[db->ndbs], MDB_CREATE,
		    &db->dbis[db->ndbs]);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
	}
	return mdb_txn_commit(txn);
}

struct db *
db_open(const char *dir, const char *const *names, size_t initial_mapsize,
    char **err)
{
	struct db *db = xcalloc(1, sizeof(*db));
	MDB_envinfo info;
	int rc, dead;

	*err = NULL;
	pthread_rwlock_init(&db->resize, NULL);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*err = xasprintf("mkdir(\"%s\"): %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_create(&db->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(db->env, DB_MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_maxreaders(db->env, DB_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(db->env, initial_mapsize)) != 0 ||
	    (rc = mdb_env_open(db->env, dir, MDB_NOTLS, 0600)) != 0) {
		*err = db_error("mdb_env_open", dir, rc);
		goto fail;
	}
	/* A process killed with a read transaction open leaves its slot. */
	mdb_reader_check(db->env, &dead);
	if (dead > 0)
		log_info("db_open dir=%s stale_readers_cleared=%d", dir, dead);
	mdb_env_info(db->env, &info);
	db->mapsize = info.me_mapsize;
	if ((rc = db_open_dbis(db, names)) != 0) {
		*err = db_error("mdb_dbi_open", dir, rc);
		goto fail;
	}
	return db;
fail:
	db_close(&db);
	return NULL;
}

void
db_close(struct db **dbp)
{
	struct db *db = *dbp;

	if (db == NULL)
		return;
	if (db->env != NULL)
		mdb_env_close(db->env);
	pthread_rwlock_destroy(&db->resize);
	free(db);
	*dbp = NULL;
}

MDB_dbi
db_dbi(const struct db *db, int i)
{
	if (i < 0 || i >= db->ndbs)
		log_panic("db_dbi: no database %d", i);
	return db->dbis[i];
}

/* Called with the resize lock held exclusively. */
static int
db_grow(struct db *db, size_t want)
{
	MDB_envinfo info;

	mdb_env_info(db->env, &info);
	if (info.me_mapsize >= want) {
		/* Another process grew it: adopt its size. */
		db->mapsize = info.me_mapsize;
		return mdb_env_set_mapsize(db->env, 0);
	}
	int rc = mdb_env_set_mapsize(db->env, want);
	if (rc == 0) {
		log_info("db_grow mapsize=%zu", want);
		db->mapsize = want;
	}
	return rc;
}

static int
db_adopt_size(struct db *db)
{
	pthread_rwlock_wrlock(&db->resize);
	int rc = mdb_env_set_mapsize(db->env, 0);
	pthread_rwlock_unlock(&db->resize);
	return rc;
}

int
db_read_begin(struct db *db, MDB_txn **txn)
{
	int rc, dead;

	for (int tries = 0; tries < 3; tries++) {
		pthread_rwlock_rdlock(&db->resize);
		rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, txn);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&db->resize);
		if (rc == MDB_READERS_FULL)
			mdb_reader_check(db->env, &dead);
		else if (rc == MDB_MAP_RESIZED)
			db_adopt_size(db);
		else
			break;
	}
	*txn = NULL;
	return rc;
}

void
db_read_end(struct db *db, MDB_txn **txn)
{
	if (*txn == NULL)
		return;
	mdb_txn_abort(*txn);
	*txn = NULL;
	pthread_rwlock_unlock(&db->resize);
}

int
db_write(struct db *db, int (*fn)(MDB_txn *txn, void *arg), void *arg)
{
	MDB_txn *txn;
	int rc;

	for (;;) {
		pthread_rwlock_rdlock(&db->resize);
		rc = mdb_txn_begin(db->env, NULL, 0, &txn);
		if (rc == 0) {
			rc = fn(txn, arg);
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		pthread_rwlock_unlock(&db->resize);
		if (rc != MDB_MAP_FULL && rc != MDB_MAP_RESIZED)
			return rc;
		pthread_rwlock_wrlock(&db->resize);
		int grc = db_grow(db, rc == MDB_MAP_FULL ? db->mapsize * 2 : 0);
		pthread_rwlock_unlock(&db->resize);
		if (grc != 0)
			return grc;
	}
}

int
db_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, MDB_val *val)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	return mdb_get(txn, dbi, &k, val);
}

int
db_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	return mdb_put(txn, dbi, &k, &v, 0);
}
