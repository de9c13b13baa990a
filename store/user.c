/*
 * user: what a directory entry means to this store — is it a mailbox user
 * here, which key and partition, which quota.  Shared by LMTP delivery
 * (recipient.c) and the access protocols' logins (auth.c), which word the
 * verdicts in their own protocol.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dir.h"
#include "store.h"
#include "xmalloc.h"

bool
user_key(const char *uid, const char *mail, char *buf, size_t len)
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

/* The store has no hold queue: a held account's mail waits at the MTA. */
static enum user_verdict
user_state(const struct dir_entry *e)
{
	switch (dir_entry_user_state(e)) {
	case DIR_USER_ACTIVE: return USER_OK;
	case DIR_USER_DELETED: return USER_DISABLED;
	default: return USER_INACTIVE;
	}
}

enum user_verdict
user_from_entry(const struct store_config *cfg, const struct dir_entry *e,
    struct store_user *u)
{
	enum user_verdict v;
	const char *host, *pname;

	memset(u, 0, sizeof(*u));
	if (dir_entry_has_class(e, "inetMailGroup") &&
	    !dir_entry_has_class(e, "inetMailUser"))
		return USER_NOT_MAILBOX;
	if ((v = user_state(e)) != USER_OK)
		return v;
	host = dir_entry_get(e, "mailHost");
	if (host == NULL || !config_is_mailhost(cfg, host))
		return USER_ELSEWHERE;
	if (!user_key(dir_entry_get(e, "uid"), dir_entry_get(e, "mail"), u->key,
	    sizeof(u->key)))
		return USER_NO_KEY;
	pname = dir_entry_get(e, "mailMessageStore");
	u->part = pname ? config_partition(cfg, pname) : cfg->default_partition;
	if (u->part == NULL)
		return USER_NO_PARTITION;
	quota_from_directory(cfg, dir_entry_get(e, "mailQuota"),
	    dir_entry_get(e, "mailMsgQuota"), &u->quota);
	return USER_OK;
}
