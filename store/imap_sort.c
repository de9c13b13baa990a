/*
 * imap_sort: SORT and THREAD (RFC 5256).  Not written yet: both answer NO
 * and are not advertised.
 */
#include "imap_cmds.h"

void
cmd_sort(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_finish(s, "NO SORT is not available yet");
}

void
cmd_thread(struct imap_session *s, struct imap_arg *args)
{
	(void)args;
	imap_finish(s, "NO THREAD is not available yet");
}
