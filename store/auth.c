/*
 * auth: logins to the store's access protocols (IMAP now, POP3 next).
 * The password is checked by the directory (a bind as the user, see
 * common/dir); then the entry must be a mailbox user of this store.
 *
 *   wrong password, no such user      AUTH_FAILED (not told apart)
 *   directory unavailable             AUTH_UNAVAILABLE (temporary)
 *   disabled, inactive, elsewhere     AUTH_REFUSED, with a reason
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "store.h"
#include "xmalloc.h"

struct auth_req {
	struct dir_req *req;
	const struct store_config *cfg;
	auth_cb *cb;
	void *arg;
};

static const char *
auth_refusal(enum user_verdict v)
{
	switch (v) {
	case USER_NOT_MAILBOX: return "not a mailbox user";
	case USER_DISABLED: return "account disabled";
	case USER_INACTIVE: return "account inactive";
	case USER_ELSEWHERE: return "mailbox is on another store";
	case USER_NO_KEY: return "directory entry has no uid or mail";
	case USER_NO_PARTITION: return "partition not configured here";
	default: return "refused";
	}
}

static void
auth_on_answer(void *arg, const struct dir_auth_result *res)
{
	struct auth_req *a = arg;
	struct auth_result r = { .status = AUTH_UNAVAILABLE };
	enum user_verdict v;

	a->req = NULL;
	switch (res->status) {
	case DIR_AUTH_OK:
		v = user_from_entry(a->cfg, res->entry, &r.user);
		r.status = v == USER_OK ? AUTH_OK : AUTH_REFUSED;
		r.why = v == USER_OK ? "ok" : auth_refusal(v);
		r.temporary = v == USER_INACTIVE || v == USER_ELSEWHERE ||
		    v == USER_NO_PARTITION;
		break;
	case DIR_AUTH_FAILED:
		r.status = AUTH_FAILED;
		r.why = dir_auth_reason_name(res->reason);
		break;
	default:
		r.why = dir_auth_reason_name(res->reason);
		break;
	}
	a->cb(a->arg, &r);
	free(a);
}

struct auth_req *
auth_password(struct dir *dir, const struct store_config *cfg,
    const char *login, const char *password, auth_cb *cb, void *arg)
{
	struct auth_req *a = xcalloc(1, sizeof(*a));

	a->cfg = cfg;
	a->cb = cb;
	a->arg = arg;
	/* Answered at once (and a freed) when the cache knows the login
	 * does not exist: the handle is NULL then. */
	struct dir_req *req = dir_authenticate(dir, login, password,
	    auth_on_answer, a);
	if (req == NULL)
		return NULL;
	a->req = req;
	return a;
}

void
auth_cancel(struct auth_req **ap)
{
	struct auth_req *a = *ap;

	if (a == NULL)
		return;
	dir_cancel(&a->req);
	free(a);
	*ap = NULL;
}
