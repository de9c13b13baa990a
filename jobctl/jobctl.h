/*
 * jobctl: private to the job controller's files.
 *
 *   config.c        msg.conf keys, job_controller.cnf and imta.cnf
 *   index.c         the in-memory index of the queue, rebuilt by a scan
 *   sched.c         which entries go to which jobs, when (pools, maxjobs,
 *                   backoff, notices)
 *   job.c           delivery jobs: processes, their pipes, their answers
 *   entry.c         applying a job's answers to an entry file
 *   dsn.c           delivery status notifications (RFC 3464)
 *   queue_admin.c   the operator's `jobctl queue ...` commands
 *   main.c          start-up, signals, the notification socket
 */
#ifndef JOBCTL_JOBCTL_H
#define JOBCTL_JOBCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "channel_job.h"
#include "imta_conf.h"
#include "jobctl_conf.h"
#include "local.h"
#include "queue.h"

/* ---- configuration (config.c) ---- */

struct jobctl_config {
	const char *path;               /* msg.conf, handed to jobs (-c) */
	struct conf *conf;
	struct conf_key *keys;
	struct local_config local;
	struct imta_conf *imta;
	struct jobctl_conf *jc;
	const char *queue_path;         /* mta.queue.path */
	const char *notify_socket;      /* mta.jobctl.socket ("" none) */
	const char *track_path;         /* mta.tracklog ("" none) */
	const char *admin_listen;       /* jobctl.admin.listen ("" none) */
	const char *postmaster;         /* jobctl.postmaster */
	int rescan_interval;            /* jobctl.rescaninterval, seconds */
};

/* NULL and "file:line: message" lines in *errs on any error. */
struct jobctl_config *jobctl_config_load(const char *path, char **errs);
void jobctl_config_free(struct jobctl_config **cfg);

/* ---- the daemon (serve.c) ---- */

/* Run until SIGTERM; the exit status. */
int jobctl_serve(struct jobctl_config *cfg, bool foreground);

/* ---- the operator's commands (queue_admin.c) ---- */

/* jobctl -c msg.conf queue list|show|counts|hold|release|retry|delete ...;
 * returns the exit status. */
int queue_admin_main(const struct jobctl_config *cfg, int argc, char **argv);

#endif
