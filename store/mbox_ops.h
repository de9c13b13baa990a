/*
 * mbox_ops: changes to mailboxes made by the access protocols, run in the
 * commit thread's write transaction (so they are durable, and batched
 * with deliveries) and answered on the loop thread.
 */
#ifndef STORE_MBOX_OPS_H
#define STORE_MBOX_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mailbox.h"
#include "store.h"

enum mbox_op_kind {
	MOP_CREATE, MOP_DELETE, MOP_RENAME, MOP_SUBSCRIBE, MOP_UNSUBSCRIBE,
	MOP_FLAGS, MOP_EXPUNGE, MOP_COPY, MOP_MOVE, MOP_APPEND, MOP_RECENT,
	MOP_INIT,           /* first login: INBOX and special-use folders */
	MOP_REMOVE,         /* POP3 QUIT: expunge uids whatever their flags */
};

enum mbox_op_status {
	MOP_OK, MOP_NONEXISTENT, MOP_EXISTS, MOP_OVERQUOTA, MOP_INBOX,
	MOP_LIMIT,              /* too many keywords in the mailbox */
	MOP_FAILED,             /* storage or index failure: try again */
};

enum { MOP_FLAGS_SET, MOP_FLAGS_ADD, MOP_FLAGS_REMOVE };

struct mbox_op {
	enum mbox_op_kind kind;
	char *user;
	const struct partition *part;
	struct quota quota;
	char name[MAILBOX_NAME_MAX];
	char name2[MAILBOX_NAME_MAX];   /* RENAME, COPY, MOVE: the target */
	char *src_user;                 /* COPY from another user's mailbox */
	const struct partition *src_part;
	uint32_t *uids;                 /* FLAGS, EXPUNGE, REMOVE, COPY, MOVE */
	size_t nuids;
	int flag_mode;
	uint32_t flags;
	char (*kw)[KEYWORD_LEN + 1];    /* FLAGS, APPEND: keyword names */
	size_t nkw;
	uint32_t recent_uid;            /* RECENT */
	/* APPEND: a durable-to-be file with the message */
	char *path;
	uint64_t size;
	time_t date;
	uint32_t header_size;
	char *envelope;
	size_t envlen;
	/* results */
	enum mbox_op_status status;
	uint32_t uidvalidity;           /* of the target mailbox */
	uint32_t *out_uids;             /* new UIDs (COPY, APPEND), or
	                                   expunged ones (EXPUNGE, REMOVE,
	                                   MOVE) */
	uint32_t *out_flags;            /* FLAGS: per uids[i], 0xffffffff gone */
	uint64_t *out_kw;               /* FLAGS: keywords per uids[i] */
	uint64_t *out_modseq;           /* FLAGS: modseq per uids[i] */
	uint64_t unchangedsince;        /* FLAGS: UINT64_MAX when unconditional */
	uint32_t *modified;             /* FLAGS: UIDs left alone (MODIFIED) */
	size_t nmodified;
	struct keywords names;          /* FLAGS: the mailbox's names after */
	size_t nout;
	uint32_t *moved_uids;           /* MOVE: the source UIDs removed */
	size_t nmoved;
};

typedef void mbox_op_cb(struct mbox_op *op, void *arg);

struct mbox_op *mbox_op_new(enum mbox_op_kind kind, const char *user,
    const struct partition *part);
void mbox_op_free(struct mbox_op **op);
/* Run op in the commit thread; cb on the loop thread with the result.
 * The caller must keep arg alive or call mbox_op_detach(). */
struct commit_req *mbox_op_submit(struct mbox_op *op, mbox_op_cb *cb,
    void *arg);
/* First login of a user: INBOX and the special-use folders made (once);
 * cb may run before this returns (then NULL is returned). */
struct commit_req *mbox_op_init_user(struct db *db, const char *user,
    const struct partition *part, mbox_op_cb *cb, void *arg);
/* The session went away: free op and req when they complete. */
void mbox_op_detach(struct commit_req *req);

/* Ensure the special-use folders exist (first login). */
extern const char *const mbox_special_use[][2];

#endif
