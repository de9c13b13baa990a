/*
 * lmtp_client: the lmtp channel's delivery program, run by jobctl as the
 * channel's master command (channel_job.h):
 *
 *     lmtp_client -c MSG_CONF CHANNEL
 *
 * The working directory is the queue root (jobctl guarantees it; the
 * entry paths on standard input are relative to it, and mta.queue.path is
 * not consulted).  It reads "entry PATH" lines until end of input, delivers
 * each entry to the stores named by its recipients' mailHost
 * (lmtp_client.c) and answers on standard output; standard error is its
 * log.  One entry at a time, blocking: parallelism comes from jobctl
 * running several jobs of the channel.
 *
 * Failure policy: a configuration that does not load, or a directory
 * client that cannot be built, is fatal at start-up (exit 1, nothing
 * answered: jobctl defers the entries).  A malformed input line is logged
 * and skipped.  End of input: exit 0; standard output gone: exit 1.
 */
#include <event2/event.h>

#include "chanprog.h"
#include "dir.h"
#include "lmtp_client.h"
#include "log.h"

static void
lmtp_client_one(struct chanprog *p, void *arg, const char *path)
{
	(void)p;
	lmtp_client_entry(arg, path);
}

int
main(int argc, char **argv)
{
	struct chanprog p;

	chanprog_init(&p, "lmtp_client", argc, argv);
	struct event_base *base = event_base_new();
	if (base == NULL)
		log_fatal("event_base_new failed");
	struct dir *dir = local_dir_open(base, &p.cfg->local);
	struct lmtp_client *lc = lmtp_client_new(p.cfg, base, dir, p.channel,
	    p.out);

	chanprog_run(&p, lmtp_client_one, lc);
	lmtp_client_free(&lc);
	dir_free(&dir);
	event_base_free(base);
	chanprog_done(&p);
	return 0;
}
