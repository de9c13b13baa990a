/*
 * recipient: is this address a mailbox on this store?  Asks the directory
 * (common/dir) at RCPT time and answers with the LMTP reply line:
 *
 *   no such entry                       550 5.1.1
 *   a group, not a user                 550 5.1.1
 *   mailUserStatus/inetUserStatus
 *     deleted or removed                550 5.2.1
 *     inactive, hold, or unknown value  450 4.2.1 (temporary)
 *   mailHost is another store           450 4.2.0 (temporary: mail never
 *                                       bounces while a mailbox moves)
 *   directory unavailable or ambiguous  451 4.4.3 / 451 4.1.4
 *   known to be over quota              452 4.2.2 / 552 5.2.2
 *
 * The quota answer here is an early refusal that costs no message data;
 * the commit thread checks again against the exact size.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "dir.h"
#include "store.h"
#include "xmalloc.h"

struct recipient_lookup {
	struct dir_req *req;
	struct db *db;
	const struct store_config *cfg;
	bool guaranteed;
	recipient_cb *cb;
	void *arg;
};


/* Over quota already, before the message is seen? */
static const char *
recipient_quota_reply(struct recipient_lookup *lk, struct commit_rcpt *r)
{
	struct midx_user u;
	MDB_txn *txn;
	const char *reply = NULL;

	if (lk->guaranteed || db_read_begin(lk->db, &txn) != 0)
		return NULL;
	/* Only a user already known to be over quota is refused here: the
	 * commit thread decides (and records when the grace period began). */
	if (mindex_user_get(lk->db, txn, r->user, &u) == 0 &&
	    u.overquota_since != 0) {
		switch (quota_check(lk->cfg, &r->quota, &u, 0, time(NULL))) {
		case QUOTA_OK: break;
		case QUOTA_OVER_GRACE: reply = "452 4.2.2 Mailbox full, try again later"; break;
		case QUOTA_OVER: reply = "552 5.2.2 Mailbox full"; break;
		}
	}
	db_read_end(lk->db, &txn);
	return reply;
}

static const char *
recipient_check_entry(struct recipient_lookup *lk, const struct dir_entry *e,
    struct commit_rcpt *r)
{
	struct store_user u;

	switch (user_from_entry(lk->cfg, e, &u)) {
	case USER_OK:
		break;
	case USER_NOT_MAILBOX:
		return "550 5.1.1 Not a mailbox (a group is expanded by the MTA)";
	case USER_DISABLED:
		return "550 5.2.1 Mailbox disabled";
	case USER_INACTIVE:
		return "450 4.2.1 Mailbox temporarily disabled";
	case USER_ELSEWHERE:
		return "450 4.2.0 Mailbox is not on this store (mailHost)";
	case USER_NO_KEY:
		return "550 5.1.1 Directory entry has no uid or mail";
	case USER_NO_PARTITION:
		return "451 4.3.0 Mailbox partition is not configured here";
	}
	r->user = xstrdup(u.key);
	r->part = u.part;
	r->quota = u.quota;
	return recipient_quota_reply(lk, r);
}

static void
recipient_on_answer(void *arg, enum dir_status status,
    const struct dir_entry *const *entries, size_t n)
{
	struct recipient_lookup *lk = arg;
	struct commit_rcpt r = { 0 };
	const char *reply;

	lk->req = NULL;
	switch (status) {
	case DIR_OK:
		reply = n == 1 ? recipient_check_entry(lk, entries[0], &r)
		               : "451 4.4.3 Directory answer unusable";
		break;
	case DIR_NOTFOUND:
		reply = "550 5.1.1 No such user here";
		break;
	case DIR_AMBIGUOUS:
		reply = "451 4.1.4 Address matches several directory entries";
		break;
	default:
		reply = "451 4.4.3 Directory unavailable, try again later";
		break;
	}
	if (reply != NULL) {
		free(r.user);
		lk->cb(lk->arg, reply, NULL);
	} else {
		lk->cb(lk->arg, "250 2.1.5 Ok", &r);
	}
	free(lk);
}

struct recipient_lookup *
recipient_resolve(struct dir *dir, struct db *db,
    const struct store_config *cfg, const char *address, bool guaranteed,
    recipient_cb *cb, void *arg)
{
	struct recipient_lookup *lk = xcalloc(1, sizeof(*lk));

	lk->db = db;
	lk->cfg = cfg;
	lk->guaranteed = guaranteed;
	lk->cb = cb;
	lk->arg = arg;
	/* On a cache hit the answer comes before dir_find_user returns and
	 * lk is already freed: return NULL then. */
	struct dir_req *req = dir_find_user(dir, address, recipient_on_answer, lk);
	if (req == NULL)
		return NULL;
	lk->req = req;
	return lk;
}

void
recipient_cancel(struct recipient_lookup **lkp)
{
	struct recipient_lookup *lk = *lkp;

	if (lk == NULL)
		return;
	dir_cancel(&lk->req);
	free(lk);
	*lkp = NULL;
}
