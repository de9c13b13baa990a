/*
 * queue_admin: private to the operator's `jobctl queue ...` commands.
 *
 *   queue_admin.c        the command table, finding entries (the scan),
 *                        reading one, and the actions that change the
 *                        queue (hold, release, retry, delete)
 *   queue_admin_print.c  the commands that only read: list, show, counts
 *
 * The queue files are the truth: nothing here asks the daemon anything.
 */
#ifndef JOBCTL_QUEUE_ADMIN_PRIVATE_H
#define JOBCTL_QUEUE_ADMIN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "jobctl.h"
#include "queue_entry.h"

/* An envelope longer than this is reported broken rather than read: the
 * buffer never grows past it.  jobctl's own cap, so that what we call
 * broken is what the daemon sets aside. */
#define QUEUE_ADMIN_ENV_MAX  ((size_t)QUEUE_ENTRY_ENVELOPE_MAX)
/* Message header bytes read for `show`; fields past it are not shown. */
#define QUEUE_ADMIN_HDR_MAX  (64u << 10)

/* One entry file found by the scan. */
struct queue_admin_entry {
	char *dir;          /* root/CHANNEL or root/CHANNEL/SS */
	char *rel;          /* CHANNEL/[SS/]ID, as announced: never ".held" */
	char channel[QUEUE_CHANNEL_MAX + 1];
	char id[QUEUE_ID_LEN + 1];
	bool held;          /* the file is ID.held */
};

/* Every entry under the root, sorted by ID then channel. */
struct queue_admin_scan {
	struct queue_admin_entry *v;
	size_t n, cap;
	int errors;         /* directories that could not be read (reported) */
};

/* One entry file read: its envelope parsed, or why not. */
struct queue_admin_read {
	struct queue_env env;   /* cleared when broken */
	char *error;            /* NULL: parsed; else why it is broken */
	char *buf;              /* the head of the file */
	size_t len;             /* bytes in buf */
	size_t body_offset;     /* the message's first byte */
	uint64_t file_size;
};

/* The state of one command. */
struct queue_admin_ctx {
	const struct jobctl_config *cfg;
	struct queue_admin_scan scan;
	bool *selected;         /* per scan entry, by queue_admin_select */
	time_t now;
	int rc;                 /* exit status so far */
	int notify_fd;          /* -1 until the first announcement */
	bool said_down;         /* "jobctl not running" said once */
};

/* Find every entry (into ctx->scan); directories that cannot be read are
 * reported and make the exit status 1. */
void queue_admin_scan(struct queue_admin_ctx *ctx);
/* The file's path as it is now (".held" when held); malloc'd. */
char *queue_admin_entry_path(const struct queue_admin_entry *e);
/* Read e's envelope and, after it, up to hdr_bytes of the message.
 * false (r->error set, r->env cleared) when it is unreadable or does not
 * parse; the buffer is bounded by QUEUE_ADMIN_ENV_MAX + hdr_bytes. */
bool queue_admin_read(const struct queue_admin_entry *e, size_t hdr_bytes,
    struct queue_admin_read *r);
void queue_admin_read_clear(struct queue_admin_read *r);
/* Check args (ID, CHANNEL/ID or CHANNEL/SS/ID), scan, and mark the
 * entries they name in ctx->selected; each argument that matches nothing is reported and
 * sets ctx->rc to 1.  -1 (after a message) on an argument that is not a
 * queue ID: a usage error. */
int queue_admin_select(struct queue_admin_ctx *ctx, int argc, char **argv);
void queue_admin_usage_msg(const char *why, const char *arg);

/* queue_admin_print.c: each returns the exit status. */
int queue_admin_list(struct queue_admin_ctx *ctx, int argc, char **argv);
int queue_admin_show(struct queue_admin_ctx *ctx, int argc, char **argv);
int queue_admin_counts(struct queue_admin_ctx *ctx, int argc, char **argv);

#endif
