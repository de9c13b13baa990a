/*
 * commit: private to the files whose work runs inside the commit thread's
 * write transaction (commit.c: the thread, batches and durability;
 * deliver.c: LMTP deliveries; mbox_ops.c: mailbox changes for IMAP and
 * POP3).  Nothing here may be called from the loop thread.
 */
#ifndef STORE_COMMIT_H
#define STORE_COMMIT_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

#define COMMIT_PATH 4352

struct commit_link {
	char path[COMMIT_PATH];
};

/* State of one batch, rebuilt by every run of the write transaction. */
struct commit_batch {
	struct commit_req *reqs;
	struct db *db;
	const struct store_config *cfg;
	struct commit_link *links;      /* made in this run: undone on failure */
	size_t nlinks, caplinks;
	char **dirs;                    /* to fsync before the commit */
	size_t ndirs, capdirs;
	struct commit_link *unlinks;    /* to remove once committed */
	size_t nunlinks, capunlinks;
	time_t now;
};

/* A message to link into a mailbox. */
struct commit_msg {
	const char *src;
	uint64_t size;
	uint32_t header_size;
	uint32_t flags;
	uint64_t keywords;          /* bits in the target mailbox's table */
	time_t internaldate;
	const char *envelope;
	size_t envlen;
};

void commit_batch_add_dir(struct commit_batch *b, const char *dir);
void commit_batch_add_link(struct commit_batch *b, const char *path);
/* Remove path after the transaction commits (expunged messages). */
void commit_batch_add_unlink(struct commit_batch *b, const char *path);
/* link(2), replacing an unacknowledged leftover. */
int commit_link(const char *src, const char *dst);
/* Link m into the mailbox at dir as UID mb->uidnext and record it;
 * updates *mb and the usage in *u.  -1: file system failure. */
int commit_add_message(MDB_txn *txn, struct commit_batch *b, const char *dir,
    struct midx_mailbox *mb, struct midx_user *u, const struct commit_msg *m,
    uint32_t *uid_out);
/* Find or create user's mailbox name (with its directory); -1: file
 * system failure, MDB_NOTFOUND when !create and absent. */
int commit_open_mailbox(MDB_txn *txn, struct commit_batch *b,
    const struct partition *part, const char *user, const char *name,
    bool create, struct midx_mailbox *mb, char *dir, size_t dirlen);

/* deliver.c: one LMTP delivery request. */
int deliver_req(MDB_txn *txn, struct commit_batch *b, struct commit_req *req);

#endif
