/* test_db: the LMDB wrapper hides map growth: writes far larger than a tiny
 * initial map succeed (re-running the transaction function), everything
 * written reads back, in this process, from reader threads, and after a
 * reopen. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "unit.h"

#define INITIAL_MAP (256 * 1024)
#define VALUE_LEN   2048

static char tmpdir[64];
static char envdir[128];
static const char *const names[] = { "data", "meta", NULL };

/* The value stored under key i in "data": a pattern of i and position. */
static void
make_value(int i, unsigned char *v, size_t len)
{
	for (size_t k = 0; k < len; k++)
		v[k] = (unsigned char)(i * 31 + (int)k);
}

static int
make_key(int i, char *key)
{
	return snprintf(key, 16, "k%07d", i);
}

/* A batch of records [from, to) in "data" plus the count in "meta". */
struct batch {
	struct db *db;
	int from, to;
	int calls;              /* how often db_write ran fn */
	int fail_with;          /* fn's return after the puts, 0: commit */
	int failed;             /* how often fn returned fail_with != 0 */
};

static int
put_batch(MDB_txn *txn, void *arg)
{
	struct batch *b = arg;
	unsigned char v[VALUE_LEN];
	char key[16];
	int rc;

	b->calls++;
	for (int i = b->from; i < b->to; i++) {
		make_value(i, v, sizeof(v));
		rc = db_put(txn, db_dbi(b->db, 0), key, (size_t)make_key(i, key),
		    v, sizeof(v));
		if (rc != 0)
			return rc;
	}
	rc = db_put(txn, db_dbi(b->db, 1), "count", 5, &b->to, sizeof(b->to));
	if (rc != 0)
		return rc;
	b->failed += b->fail_with != 0;
	return b->fail_with;
}

static int
write_range(struct db *db, int from, int to, int *calls)
{
	struct batch b = { .db = db, .from = from, .to = to };
	int rc = db_write(db, put_batch, &b);

	if (calls != NULL)
		*calls = b.calls;
	return rc;
}

/* Every record [0, n) is there with its value, and the count says n;
 * returns the number of bad records. */
static int
verify(struct db *db, int n)
{
	MDB_txn *txn = NULL;
	unsigned char want[VALUE_LEN];
	char key[16];
	MDB_val v;
	int bad = 0;

	if (db_read_begin(db, &txn) != 0 || txn == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		make_value(i, want, sizeof(want));
		if (db_get(txn, db_dbi(db, 0), key, (size_t)make_key(i, key),
		    &v) != 0 || v.mv_size != VALUE_LEN ||
		    memcmp(v.mv_data, want, VALUE_LEN) != 0)
			bad++;
	}
	if (db_get(txn, db_dbi(db, 0), key, (size_t)make_key(n, key), &v) !=
	    MDB_NOTFOUND)
		bad++;
	if (db_get(txn, db_dbi(db, 1), "count", 5, &v) != 0 ||
	    v.mv_size != sizeof(int) || memcmp(v.mv_data, &n, sizeof(n)) != 0)
		bad++;
	db_read_end(db, &txn);
	if (txn != NULL)
		bad++;
	return bad;
}

static struct db *
open_env(void)
{
	char *err = NULL;
	struct db *db = db_open(envdir, names, INITIAL_MAP, &err);

	if (db == NULL) {
		fprintf(stderr, "db_open: %s\n", err);
		free(err);
	}
	return db;
}

static int total;       /* records written so far */

/* One transaction of 1 MiB into a 256 KiB map: fn must be re-run from
 * the start after each growth, and the commit holds everything once. */
static void
test_big_transaction(void)
{
	struct db *db = open_env();
	int calls = 0, n = (1 << 20) / VALUE_LEN;

	CHECK(db != NULL);
	if (db == NULL)
		return;
	CHECK(verify(db, 0) == 1);              /* no count yet */
	CHECK(write_range(db, 0, n, &calls) == 0);
	CHECK(calls >= 3);                      /* 256K, 512K, 1M are short */
	total = n;
	CHECK(verify(db, total) == 0);
	db_close(&db);
	CHECK(db == NULL);
}

/* Many small transactions: 4 MiB of values through the same tiny start,
 * so the map must have doubled at least four times more. */
static void
test_many_transactions(void)
{
	struct db *db = open_env();

	CHECK(db != NULL);
	if (db == NULL)
		return;
	CHECK(verify(db, total) == 0);          /* reopen keeps data */
	int target = total + (4 << 20) / VALUE_LEN;
	for (int from = total; from < target; from += 16) {
		int rc = write_range(db, from, from + 16, NULL);
		CHECK(rc == 0);
		if (rc != 0) {
			fprintf(stderr, "  write at %d: %s\n", from, mdb_strerror(rc));
			break;
		}
		total = from + 16;
	}
	CHECK(verify(db, total) == 0);
	db_close(&db);
}

/* fn's error aborts the transaction and comes back as is. */
static void
test_abort(void)
{
	struct db *db = open_env();

	CHECK(db != NULL);
	if (db == NULL)
		return;
	struct batch b = { .db = db, .from = total, .to = total + 8,
	    .fail_with = EINVAL };
	CHECK(db_write(db, put_batch, &b) == EINVAL);
	CHECK(b.failed == 1);                   /* not re-run: not MAP_FULL */
	CHECK(verify(db, total) == 0);          /* nothing of it visible */
	db_close(&db);
}

/* Readers in other threads while the writer grows the map. */
struct reader {
	struct db *db;
	atomic_int *stop;
	int reads, bad;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(r->stop)) {
		MDB_txn *txn;
		MDB_val v;
		unsigned char want[VALUE_LEN];
		char key[16];
		int i = r->reads % 64;

		if (db_read_begin(r->db, &txn) != 0) {
			r->bad++;
			continue;
		}
		make_value(i, want, sizeof(want));
		if (db_get(txn, db_dbi(r->db, 0), key, (size_t)make_key(i, key),
		    &v) != 0 || memcmp(v.mv_data, want, VALUE_LEN) != 0)
			r->bad++;
		db_read_end(r->db, &txn);
		r->reads++;
		usleep(50);
	}
	return NULL;
}

static void
test_readers_during_growth(void)
{
	/* a fresh environment, so that the writes below must grow it */
	char dir[192];
	char *err = NULL;

	snprintf(dir, sizeof(dir), "%s/env2", tmpdir);
	struct db *db = db_open(dir, names, INITIAL_MAP, &err);
	CHECK(db != NULL);
	if (db == NULL) {
		free(err);
		return;
	}
	CHECK(write_range(db, 0, 64, NULL) == 0);

	atomic_int stop = 0;
	struct reader r[2] = { { db, &stop, 0, 0 }, { db, &stop, 0, 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, reader_main, &r[i]) == 0);
	int n = 64;
	for (; n < 64 + (2 << 20) / VALUE_LEN; n += 32)
		CHECK(write_range(db, n, n + 32, NULL) == 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CHECK(r[i].bad == 0);
		CHECK(r[i].reads > 0);
	}
	CHECK(verify(db, n) == 0);
	db_close(&db);
}

static void
test_read_txn(void)
{
	struct db *db = open_env();
	MDB_txn *a = NULL, *b = NULL;

	CHECK(db != NULL);
	if (db == NULL)
		return;
	/* two read transactions at once in one thread (MDB_NOTLS) */
	CHECK(db_read_begin(db, &a) == 0 && a != NULL);
	CHECK(db_read_begin(db, &b) == 0 && b != NULL);
	db_read_end(db, &a);
	db_read_end(db, &b);
	CHECK(a == NULL && b == NULL);
	db_read_end(db, &a);                    /* no-op on NULL */
	CHECK(verify(db, total) == 0);
	db_close(&db);
	db_close(&db);                          /* no-op on NULL */
}

static void
test_open_errors(void)
{
	char path[192], *err = NULL;

	snprintf(path, sizeof(path), "%s/file", tmpdir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/file/env", tmpdir);
	CHECK(db_open(path, names, INITIAL_MAP, &err) == NULL);
	CHECK(err && strstr(err, "mkdir(\"") && strstr(err, path));
	free(err);
}

static void
rm_env(const char *dir)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_db.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(envdir, sizeof(envdir), "%s/env", tmpdir);
	UNIT_RUN(test_big_transaction);
	UNIT_RUN(test_many_transactions);
	UNIT_RUN(test_abort);
	UNIT_RUN(test_read_txn);
	UNIT_RUN(test_readers_during_growth);
	UNIT_RUN(test_open_errors);

	char p[192];
	rm_env(envdir);
	snprintf(p, sizeof(p), "%s/env2", tmpdir);
	rm_env(p);
	snprintf(p, sizeof(p), "%s/file", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	return unit_done();
}
