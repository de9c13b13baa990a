/*
 * track: the seed's message tracking log, one line per event, written by
 * the mta (E: enqueued) and jobctl (D delivered, F failed, Q deferred, R
 * returned, X deleted by the operator):
 *
 *   2026-11-22T10:15:02Z E id=ID src=tcp_local dst=lmtp from=<a@b>
 *       to=<c@d>,<e@f> size=4096 client=192.0.2.1 auth=-
 *   2026-11-22T10:15:03Z D id=ID chan=lmtp from=<a@b> to=<c@d> code=250
 *       text=2.1.5+Ok
 *
 * (each one line).  Values a sender chose are xtext, so a line never holds
 * a space of their making.  The file is opened for append and shared by
 * the processes of a host; a write error is logged once and mail flow
 * carries on (the queue, not this log, is the record).
 */
#ifndef COMMON_TRACK_H
#define COMMON_TRACK_H

#include <stdbool.h>

#include "queue.h"

/* Open (or reopen after a reload) the tracking log; "" turns it off. */
bool track_open(const char *path, char **err);
void track_close(void);
/* The line of one queue entry (written once the entry is durable). */
char *track_enqueue_line(const struct queue_env *env, const char *id,
    const struct queue_dest *d);
/* The line of what happened to one recipient of an entry. */
char *track_rcpt_line(char event, const struct queue_env *env,
    const struct queue_rcpt *r, const char *channel, int code,
    const char *text);
/* Append lines to the log (nothing when it is off). */
void track_write(const char *lines);

#endif
