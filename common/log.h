/*
 * log: one line per event, "time level daemon[pid]: event key=value ...".
 *
 * Lines go to stderr in the foreground and to syslog otherwise.  Three tiers
 * of failure (STYLE.md): log_panic() for a bug (aborts), log_fatal() for a
 * broken environment at start-up (exits 1), and plain log_err()/log_warn()
 * for anything a peer or the environment can cause at run time.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERR };

void log_init(const char *daemon, bool foreground);
void log_set_level(enum log_level level);
/* Parse "debug", "info", "warn", "err"; false when unknown. */
bool log_level_parse(const char *name, enum log_level *level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
