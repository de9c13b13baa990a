/*
 * log: formats event lines and sends them to stderr or syslog.
 * Never fails: a line that cannot be written is dropped.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_daemon = "?";
static bool log_foreground = true;
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const log_names[] = { "debug", "info", "warn", "err" };
static const int log_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

void
log_init(const char *daemon, bool foreground)
{
	log_daemon = daemon;
	log_foreground = foreground;
	if (!foreground)
		openlog(daemon, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

bool
log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(name, log_names[i]) == 0) {
			*level = (enum log_level)i;
			return true;
		}
	return false;
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char msg[2048];

	if (level < log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_foreground) {
		syslog(log_prio[level], "%s", msg);
		return;
	}
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s[%ld]: %s\n", stamp, ts.tv_nsec / 1000000,
	    log_names[level], log_daemon, (long)getpid(), msg);
}

#define LOG_DEFINE(name, level)                        \
	void name(const char *fmt, ...)                    \
	{                                                  \
		va_list ap;                                    \
		va_start(ap, fmt);                             \
		log_vwrite(level, fmt, ap);                    \
		va_end(ap);                                    \
	}

LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN)
LOG_DEFINE(log_err, LOG_LEVEL_ERR)

void
log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	abort();
}
