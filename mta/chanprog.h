/*
 * chanprog: what every channel program of the mta shares (the job side of
 * common/channel_job.h): the command line "-c MSG_CONF CHANNEL", the
 * configuration, the loop over "entry PATH" lines on standard input
 * (capped; a malformed line is logged and skipped), and reading each
 * entry.  The program's handler answers through channel_job_write_*();
 * chanprog writes the done line after it.  The working directory is the
 * queue root (jobctl's doing).
 */
#ifndef MTA_CHANPROG_H
#define MTA_CHANPROG_H

#include <stdio.h>

#include "channel_job.h"
#include "mta.h"

struct chanprog {
	const char *name;               /* the program, for logs */
	const char *channel;
	struct mta_config *cfg;
	FILE *out;                      /* answers (stdout) */
};

/* Called per entry with its envelope and message; answer every pending
 * recipient (by its index) on p->out.  An entry that cannot be read is
 * answered with its done line alone (jobctl defers it). */
typedef void chanprog_entry_fn(struct chanprog *p, void *arg,
    const char *path, struct queue_env *env, const char *msg, size_t len);

/* Parse argv, load the configuration (fatal on errors), and return. */
void chanprog_init(struct chanprog *p, const char *name, int argc,
    char **argv);
/* Run the loop until end of input. */
void chanprog_run(struct chanprog *p, chanprog_entry_fn *fn, void *arg);
void chanprog_done(struct chanprog *p);

#endif
