/*
 * imap_quota: QUOTA (RFC 9208).  Not written yet: answers NO and is not
 * advertised.
 */
#include "imap_cmds.h"

void
cmd_getquota(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_finish(s, "NO QUOTA is not available yet");
}

void
cmd_getquotaroot(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_finish(s, "NO QUOTA is not available yet");
}

void
cmd_setquota(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_finish(s, "NO [NOPERM] Quotas are set in the directory");
}
