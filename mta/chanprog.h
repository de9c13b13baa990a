/*
 * chanprog: what every channel program of the mta shares (the job side of
 * common/channel_job.h): the command line "-c MSG_CONF CHANNEL", the
 * configuration, the loop over "entry PATH" lines on standard input
 * (capped; a malformed line is logged and skipped), and reading an
 * entry.  The program's handler answers through channel_job_write_*();
 * chanprog writes the done line after it.  The working directory is the
 * queue root (jobctl's doing).
 */
#ifndef MTA_CHANPROG_H
#define MTA_CHANPROG_H

#include <stdbool.h>
#include <stdio.h>

#include "channel_job.h"
#include "mta.h"

struct chanprog {
	const char *name;               /* the program, for logs */
	const char *channel;
	struct mta_config *cfg;
	FILE *out;                      /* answers (stdout) */
};

/* Called per entry; answer every pending recipient (by its index) on
 * p->out.  An entry it cannot read it leaves unanswered: the done line
 * alone makes jobctl defer it. */
typedef void chanprog_entry_fn(struct chanprog *p, void *arg,
    const char *path);

/* Parse argv, load the configuration (fatal on errors), and return. */
void chanprog_init(struct chanprog *p, const char *name, int argc,
    char **argv);
/* Open the entry at path and read its envelope, which must name channel;
 * the message starts at *body in the returned descriptor.  -1, logged,
 * when the entry cannot be used. */
int chanprog_open(const char *channel, const char *path,
    struct queue_env *env, size_t *body);
/* Read the entry at path whole (its envelope must name our channel);
 * false, logged, when it cannot be used. */
bool chanprog_read(struct chanprog *p, const char *path,
    struct queue_env *env, char **msg, size_t *len);
/* Run the loop until end of input. */
void chanprog_run(struct chanprog *p, chanprog_entry_fn *fn, void *arg);
void chanprog_done(struct chanprog *p);

#endif
