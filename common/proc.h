/*
 * proc: how every daemon process starts (STYLE.md): read configuration and
 * bind listeners while privileged, then drop to the configured user, then
 * run the event loop.
 */
#ifndef COMMON_PROC_H
#define COMMON_PROC_H

#include <stdbool.h>

/*
 * If running as root: with user set, chown each of paths (NULL-terminated,
 * may be NULL) to that user and switch to it for good; without user, warn
 * that protocol code runs as root.  Not root: nothing to do.  Returns false
 * with a message in *err on failure (the daemon must not start).
 */
bool proc_drop_privileges(const char *user, const char *const *paths,
    char **err);

/* Ignore SIGPIPE: write errors are handled where they happen. */
void proc_ignore_sigpipe(void);

/* Milliseconds on the monotonic clock, for deadlines that a change of
 * the wall clock must not move. */
long long proc_monotonic_ms(void);

#endif
