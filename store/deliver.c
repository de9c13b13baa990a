/*
 * deliver: an LMTP delivery inside the commit thread's transaction: quota
 * against the authoritative usage, the user's partition, INBOX created on
 * first delivery, one link per recipient, the quota warning message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "durable.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"


static void
deliver_result(struct commit_rcpt *r, int code, const char *text)
{
	r->code = code;
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/* Copy a received file into another partition's tmp (rare: recipients of
 * one message on several partitions). */
static char *
deliver_copy_to(const char *src, const struct partition *part)
{
	char dir[4096], *dst;
	char buf[65536];
	ssize_t n;
	int in, out;

	userarea_tmp_dir(part, dir, sizeof(dir));
	dst = xasprintf("%s/copy.%ld.%p", dir, (long)getpid(), (void *)&n);
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		close(in);
		goto fail;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (n < 0 || durable_fsync(out) == -1) {
		close(out);
		unlink(dst);
		goto fail;
	}
	close(out);
	return dst;
fail:
	log_err("copy(\"%s\", \"%s\"): %s", src, dst, strerror(errno));
	free(dst);
	return NULL;
}



/* The quota warning, delivered in the same transaction. */
static int
deliver_quota_warning(MDB_txn *txn, struct commit_batch *b,
    const struct partition *part, const struct commit_rcpt *r,
    const char *dir, struct midx_mailbox *mb, struct midx_user *u)
{
	size_t len, envlen;
	char *text = quota_warning_text(b->cfg, r->user, &r->quota, u, &len);
	char *src = userarea_write_tmp(part, "notice", text, len, true);
	uint32_t uid;
	int rc = -1;

	if (src != NULL) {
		char *env = mindex_envelope(text, len, &envlen);
		struct commit_msg m = { .src = src, .size = len,
		    .header_size = (uint32_t)(strstr(text, "\r\n\r\n") - text + 4),
		    .internaldate = b->now, .envelope = env, .envlen = envlen };
		rc = commit_add_message(txn, b, dir, mb, u, &m, &uid);
		unlink(src);
		free(src);
		free(env);
	}
	free(text);
	if (rc == 0)
		u->warned = 1;
	return rc;
}

/* The partition that holds the user: the index knows where existing users
 * live; new users go where the directory says. */
static const struct partition *
deliver_user_partition(const struct commit_batch *b, const struct commit_rcpt *r,
    struct midx_user *u)
{
	if (u->partition[0] == '\0') {
		snprintf(u->partition, sizeof(u->partition), "%s", r->part->name);
		return r->part;
	}
	return config_partition(b->cfg, u->partition);
}

static bool
deliver_quota_refused(struct commit_batch *b, const struct commit_req *req,
    struct commit_rcpt *r, struct midx_user *u)
{
	if (req->guaranteed)
		return false;
	enum quota_verdict v = quota_check(b->cfg, &r->quota, u, req->size,
	    b->now);
	if (v == QUOTA_OK)
		return false;
	if (u->overquota_since == 0)
		u->overquota_since = b->now;
	if (v == QUOTA_OVER_GRACE)
		deliver_result(r, 452, "4.2.2 Mailbox full, try again later");
	else
		deliver_result(r, 552, "5.2.2 Mailbox full");
	return true;
}

/* Deliver into the user's INBOX; -1 means a file system failure (the
 * recipient gets 452), other non-zero values are LMDB errors (abort). */
static int
deliver_to_inbox(MDB_txn *txn, struct commit_batch *b,
    const struct commit_req *req, struct commit_rcpt *r,
    const struct partition *part, struct midx_user *u)
{
	struct midx_mailbox mb;
	char dir[4096], reply[160], *copy = NULL;
	uint32_t uid;
	struct commit_msg m = { .src = req->tmp_path, .size = req->size,
	    .header_size = req->header_size, .internaldate = req->internaldate,
	    .envelope = req->envelope, .envlen = req->envlen };
	int rc = commit_open_mailbox(txn, b, part, r->user, "INBOX", true, &mb,
	    dir, sizeof(dir));

	if (rc != 0)
		return rc;
	if (strcmp(part->path, req->part->path) != 0 && (m.src = copy = deliver_copy_to(req->tmp_path,
	    part)) == NULL)
		return -1;
	rc = commit_add_message(txn, b, dir, &mb, u, &m, &uid);
	if (copy != NULL) {
		unlink(copy);
		free(copy);
	}
	if (rc != 0)
		return rc;
	/* The grace period runs from the moment the mailbox is full. */
	u->overquota_since = quota_check(b->cfg, &r->quota, u, 0,
	    b->now) == QUOTA_OK ? 0 : b->now;
	if (!u->warned && quota_past_warning(b->cfg, &r->quota, u) &&
	    (rc = deliver_quota_warning(txn, b, part, r, dir, &mb, u)) == -1)
		rc = 0;         /* the warning is best effort */
	else if (u->warned && !quota_past_warning(b->cfg, &r->quota, u))
		u->warned = 0;
	if (rc == 0)
		rc = mindex_mailbox_put(b->db, txn, r->user, "INBOX", &mb);
	snprintf(reply, sizeof(reply), "2.0.0 Delivered uid=%u", uid);
	deliver_result(r, 250, reply);
	return rc;
}

static int
deliver_rcpt(MDB_txn *txn, struct commit_batch *b,
    struct commit_req *req, struct commit_rcpt *r)
{
	struct midx_user u;
	const struct partition *part;
	int rc = mindex_user_get(b->db, txn, r->user, &u);

	if (rc == MDB_NOTFOUND)
		memset(&u, 0, sizeof(u));
	else if (rc != 0)
		return rc;
	if ((part = deliver_user_partition(b, r, &u)) == NULL) {
		deliver_result(r, 451, "4.3.0 User's partition is not configured");
		return 0;
	}
	if (!deliver_quota_refused(b, req, r, &u)) {
		rc = deliver_to_inbox(txn, b, req, r, part, &u);
		if (rc == -1) {
			deliver_result(r, 452, "4.3.1 Insufficient system storage");
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	return mindex_user_put(b->db, txn, r->user, &u);
}

/* Same user twice in one transaction: one delivery, the same answer. */
static bool
deliver_duplicate(struct commit_req *req, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(req->rcpts[j].user, req->rcpts[i].user) == 0) {
			req->rcpts[i].code = req->rcpts[j].code;
			memcpy(req->rcpts[i].text, req->rcpts[j].text,
			    sizeof(req->rcpts[i].text));
			return true;
		}
	return false;
}

/* All recipients of one received message. */
int
deliver_req(MDB_txn *txn, struct commit_batch *b, struct commit_req *req)
{
	int rc;

	for (size_t i = 0; i < req->nrcpts; i++)
		req->rcpts[i].code = 0;
	for (size_t i = 0; i < req->nrcpts; i++) {
		if (deliver_duplicate(req, i))
			continue;
		if ((rc = deliver_rcpt(txn, b, req, &req->rcpts[i])) != 0)
			return rc;
	}
	return 0;
}
