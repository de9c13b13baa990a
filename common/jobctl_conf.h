/*
 * jobctl_conf: job_controller.cnf, the seed's pools and channel jobs.
 *
 * Owns every string; jobctl_conf_free() releases them.  Failure policy:
 * accepted whole or refused with "file:line: message" lines; an unknown
 * option, an option in the wrong section, a duplicate option or section,
 * or a bad value is an error.  Read by jobctl, and checked by the mta's
 * tools.
 */
#ifndef COMMON_JOBCTL_CONF_H
#define COMMON_JOBCTL_CONF_H

#include <stdio.h>

#define JOBCTL_POOLS_MAX     256
#define JOBCTL_CHANNELS_MAX  1000
#define JOBCTL_NAME_MAX      32

struct jobctl_globals {
	int tcp_port;                   /* 0: not set */
	char *interface_address;
	int max_messages;
	int debug;
	char *slave_command;
};

struct jobctl_pool {
	char *name;
	int job_limit;                  /* 0: not set */
	const char *file;
	int line;
};

struct jobctl_channel {
	char *pattern;                  /* a channel name; "*" and "%" match */
	char *master_command;
	char *slave_command;
	int max_life_age;               /* seconds; 0: not set */
	int max_life_conns;
	const char *file;
	int line;
};

struct jobctl_conf;

struct jobctl_conf *jobctl_conf_load(const char *path, char **errs);
struct jobctl_conf *jobctl_conf_parse(const char *name, const char *text,
    char **errs);
void jobctl_conf_free(struct jobctl_conf **conf);

const struct jobctl_globals *jobctl_conf_globals(const struct jobctl_conf *c);
int jobctl_conf_npools(const struct jobctl_conf *c);
const struct jobctl_pool *jobctl_conf_pool_at(const struct jobctl_conf *c,
    int i);
/* The pool called name (case-insensitive); NULL name: the default pool
 * (the first one). */
const struct jobctl_pool *jobctl_conf_pool(const struct jobctl_conf *c,
    const char *name);
int jobctl_conf_nchannels(const struct jobctl_conf *c);
const struct jobctl_channel *jobctl_conf_channel_at(
    const struct jobctl_conf *c, int i);
/* The section for a channel: an exact name first, else the first
 * wildcard section that matches, in file order. */
const struct jobctl_channel *jobctl_conf_channel(const struct jobctl_conf *c,
    const char *channel);
void jobctl_conf_dump(const struct jobctl_conf *c, FILE *out);

#endif
