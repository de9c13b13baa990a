/*
 * bitbucket: the bitbucket channel's program (chanprog.h): every pending
 * recipient is "delivered" -- the message is dropped, by the access
 * tables' $B or by an operator routing mail here.  The tracking log keeps
 * its D line.
 */
#include <stdlib.h>

#include "chanprog.h"

static void
bitbucket_entry(struct chanprog *p, void *arg, const char *path)
{
	struct queue_env env = { 0 };
	char *msg = NULL;
	size_t len;

	(void)arg;
	if (!chanprog_read(p, path, &env, &msg, &len))
		return;
	for (size_t i = 0; i < env.nrcpts; i++)
		if (env.rcpts[i].state == QUEUE_RCPT_PENDING)
			channel_job_write_rcpt(p->out, path, i, CJ_OK, 250,
			    "2.0.0 discarded (bitbucket)");
	queue_env_clear(&env);
	free(msg);
}

int
main(int argc, char **argv)
{
	struct chanprog p;

	chanprog_init(&p, "bitbucket", argc, argv);
	chanprog_run(&p, bitbucket_entry, NULL);
	chanprog_done(&p);
	return 0;
}
