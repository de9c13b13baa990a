/*
 * db: LMDB wrapped once (STYLE.md), so that no daemon meets its recoverable
 * errors: the map is grown when a write transaction hits MDB_MAP_FULL (the
 * write is re-run), stale reader slots left by a killed process are cleared
 * at open and when MDB_READERS_FULL is seen, and a map grown by another
 * process (MDB_MAP_RESIZED) is adopted.
 *
 * Threads: read transactions may be used from any thread; write
 * transactions serialise on LMDB's own writer lock.  The map can only be
 * resized while no transaction of this process is open, so every
 * transaction holds a shared lock and a resize takes it exclusively.
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <lmdb.h>
#include <stddef.h>

struct db;

/* Open (creating) the environment in directory dir with the named
 * databases (NULL-terminated).  On error returns NULL and *err. */
struct db *db_open(const char *dir, const char *const *names,
    size_t initial_mapsize, char **err);
void db_close(struct db **db);

/* The handle of the i-th name given to db_open. */
MDB_dbi db_dbi(const struct db *db, int i);

/* Begin/end a read-only transaction.  db_read_begin returns an LMDB error
 * code (0 on success). */
int db_read_begin(struct db *db, MDB_txn **txn);
void db_read_end(struct db *db, MDB_txn **txn);

/*
 * Run fn inside a write transaction and commit it.  fn returns 0 to commit
 * or an error to abort (returned as is).  If LMDB reports MDB_MAP_FULL,
 * during fn or at commit, the transaction is aborted, the map doubled and fn
 * run again from the start: fn must not keep effects outside the
 * transaction that a second run would duplicate, or must tolerate them.
 */
int db_write(struct db *db, int (*fn)(MDB_txn *txn, void *arg), void *arg);

/* Helpers for fixed-layout records. */
int db_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    MDB_val *val);
int db_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const void *val, size_t vlen);

#endif
