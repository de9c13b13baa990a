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

bool
recipient_user_key(const char *uid, const char *mail, char *buf, size_t len)
{
	const char *at = mail ? strrchr(mail, '@') : NULL;
	int n;

	if (uid != NULL && strchr(uid, '@') == NULL && at != NULL)
		n = snprintf(buf, len, "%s%s", uid, at);
	else if (uid != NULL)
		n = snprintf(buf, len, "%s", uid);
	else if (mail != NULL)
		n = snprintf(buf, len, "%s", mail);
	else
		return false;
	if (n < 0 || (size_t)n >= len)
		return false;
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return true;
}

static bool
recipient_has_class(const struct dir_entry *e, const char *cls)
{
	size_t n;
	const char *const *v = dir_entry_values(e, "objectClass", &n);

	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i], cls) == 0)
			return true;
	return false;
}

/* The reply for a status value, NULL when deliverable. */
static const char *
recipient_status_reply(const char *status)
{
	if (status == NULL || *status == '\0' || strcasecmp(status, "active") == 0)
		return NULL;
	if (strcasecmp(status, "deleted") == 0 || strcasecmp(status, "removed") == 0)
		return "550 5.2.1 Mailbox disabled";
	return "450 4.2.1 Mailbox temporarily disabled";
}

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
	char key[USER_KEY_MAX];
	const char *reply, *host;

	if (recipient_has_class(e, "inetMailGroup") &&
	    !recipient_has_class(e, "inetMailUser"))
		return "550 5.1.1 Not a mailbox (a group is expanded by the MTA)";
	if ((reply = recipient_status_reply(dir_entry_get(e, "inetUserStatus"))) ||
	    (reply = recipient_status_reply(dir_entry_get(e, "mailUserStatus"))))
		return reply;
	host = dir_entry_get(e, "mailHost");
	if (host == NULL || !config_is_mailhost(lk->cfg, host))
		return "450 4.2.0 Mailbox is not on this store (mailHost)";
	if (!recipient_user_key(dir_entry_get(e, "uid"), dir_entry_get(e, "mail"),
	    key, sizeof(key)))
		return "550 5.1.1 Directory entry has no uid or mail";
	const char *pname = dir_entry_get(e, "mailMessageStore");
	r->part = pname ? config_partition(lk->cfg, pname) : lk->cfg->default_partition;
	if (r->part == NULL)
		return "451 4.3.0 Mailbox partition is not configured here";
	r->user = xstrdup(key);
	quota_from_directory(lk->cfg, dir_entry_get(e, "mailQuota"),
	    dir_entry_get(e, "mailMsgQuota"), &r->quota);
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
