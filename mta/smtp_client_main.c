/*
 * smtp_client: the SMTP channels' (tcp_*) delivery program, run by jobctl
 * as the channel's master command (channel_job.h):
 *
 *     smtp_client -c MSG_CONF CHANNEL
 *
 * The working directory is the queue root (jobctl guarantees it; the
 * entry paths on standard input are relative to it).  It reads "entry
 * PATH" lines until end of input, delivers each entry to the remote hosts
 * of its recipients' domains, or to the channel's smarthost
 * (smtp_deliver.c), and answers on standard output; standard error is its
 * log.  One entry at a time, blocking: parallelism comes from jobctl
 * running several jobs of the channel.
 *
 * Failure policy: a configuration that does not load, a channel missing
 * from imta.cnf, unusable DNS servers or TLS roots are fatal at start-up
 * (exit 1, nothing answered: jobctl defers the entries).  A malformed
 * input line is logged and skipped.  End of input: exit 0.
 */
#include <event2/event.h>

#include "chanprog.h"
#include "log.h"
#include "smtp_deliver.h"

static void
smtp_client_one(struct chanprog *p, void *arg, const char *path)
{
	(void)p;
	smtp_deliver_entry(arg, path);
}

int
main(int argc, char **argv)
{
	struct chanprog p;

	chanprog_init(&p, "smtp_client", argc, argv);
	struct event_base *base = event_base_new();
	if (base == NULL)
		log_fatal("event_base_new failed");
	struct smtp_deliver *sd = smtp_deliver_new(p.cfg, base, p.channel,
	    p.out);

	chanprog_run(&p, smtp_client_one, sd);
	smtp_deliver_free(&sd);
	event_base_free(base);
	chanprog_done(&p);
	return 0;
}
