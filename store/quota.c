/*
 * quota: the seed's quota rules for deliveries.
 *
 * mailQuota (bytes) and mailMsgQuota (messages): -1 unlimited, -2 or absent
 * the store default.  A delivery that would take usage past either limit is
 * refused: 452 4.2.2 while the user has been over quota for less than
 * store.quotagraceperiod, 552 5.2.2 after.  A warning message goes to the
 * user once usage passes store.quotawarn percent of either limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "store.h"
#include "xmalloc.h"

static long long
quota_value(const char *v, long long def)
{
	long long n;

	if (v == NULL || !conf_parse_int(v, &n) || n == -2)
		return def;
	return n < 0 ? -1 : n;
}

void
quota_from_directory(const struct store_config *cfg, const char *bytes,
    const char *messages, struct quota *q)
{
	q->bytes = quota_value(bytes, cfg->default_quota);
	q->messages = quota_value(messages, cfg->default_msgquota);
}

enum quota_verdict
quota_check(const struct store_config *cfg, const struct quota *q,
    const struct midx_user *u, uint64_t size, time_t now)
{
	bool over = (q->bytes >= 0 && u->bytes + size > (uint64_t)q->bytes) ||
	    (q->messages >= 0 && u->messages + 1 > (uint64_t)q->messages);

	if (!over || !cfg->quota_enforce)
		return QUOTA_OK;
	/* The grace period starts with the first refusal. */
	time_t since = u->overquota_since ? u->overquota_since : now;
	return now - since < cfg->quota_grace ? QUOTA_OVER_GRACE : QUOTA_OVER;
}

bool
quota_past_warning(const struct store_config *cfg, const struct quota *q,
    const struct midx_user *u)
{
	int pct = cfg->quota_warn_pct;

	return (q->bytes > 0 && u->bytes * 100 >= (uint64_t)q->bytes * pct) ||
	    (q->messages > 0 && u->messages * 100 >= (uint64_t)q->messages * pct);
}

char *
quota_warning_text(const struct store_config *cfg, const char *user,
    const struct quota *q, const struct midx_user *u, size_t *len)
{
	char date[64], bytes[64] = "unlimited", msgs[64] = "unlimited";
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (q->bytes >= 0)
		snprintf(bytes, sizeof(bytes), "%lld", q->bytes);
	if (q->messages >= 0)
		snprintf(msgs, sizeof(msgs), "%lld", q->messages);
	char *text = xasprintf(
	    "From: Mail Store <postmaster@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Your mailbox is nearly full\r\n"
	    "Date: %s\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "Your mailbox has passed %d%% of its quota.\r\n"
	    "\r\n"
	    "  in use: %llu bytes in %llu messages\r\n"
	    "  quota:  %s bytes, %s messages\r\n"
	    "\r\n"
	    "When it is full, new mail will wait and then be returned to its\r\n"
	    "senders.  Please delete messages you no longer need.\r\n",
	    cfg->hostname, user, date, cfg->quota_warn_pct,
	    (unsigned long long)u->bytes, (unsigned long long)u->messages,
	    bytes, msgs);
	*len = strlen(text);
	return text;
}
