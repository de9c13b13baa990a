/*
 * queue_entry: reading and writing one queue entry file outside the mta's
 * queue writer (queue.c): jobctl's index, jobs and changed entries, the
 * reprocess channel's new ones.  The format is in queue.h.
 *
 * Failure policy: every function reports what failed, naming the file;
 * nothing here exits.
 */
#ifndef COMMON_QUEUE_ENTRY_H
#define COMMON_QUEUE_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

#define QUEUE_ENTRY_ENVELOPE_MAX (8 * 1024 * 1024)

/* The envelope of the entry open on fd (read from its start up to the
 * empty line, at most QUEUE_ENTRY_ENVELOPE_MAX bytes); *body is where the
 * message starts and env->size its length.  false and *err (malloc'd). */
bool queue_entry_envelope(int fd, struct queue_env *env, size_t *body,
    char **err);

/* The message of the entry open on fd: size bytes from body (as
 * queue_entry_envelope found them) into *msg (malloc'd).  false and *err. */
bool queue_entry_message(int fd, size_t body, uint64_t size, char **msg,
    char **err);

/* The whole entry file at path: envelope parsed, *msg (malloc'd) and *len
 * the message.  false and *err. */
bool queue_entry_read(const char *path, struct queue_env *env, char **msg,
    size_t *len, char **err);

/* Write the entry at path whole: a hidden name in its directory, fsync,
 * rename over path, fsync the directory.  A crash leaves the old entry or
 * the new one.  0, or -1 with *err. */
int queue_entry_write(const char *path, const struct queue_env *env,
    const char *msg, size_t len, char **err);

#endif
