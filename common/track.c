/*
 * track: the message tracking log (see track.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "track.h"
#include "xmalloc.h"

static FILE *track_file;
static bool track_failed;

bool
track_open(const char *path, char **err)
{
	FILE *f = NULL;

	if (path != NULL && *path != '\0' && (f = fopen(path, "ae")) == NULL) {
		*err = xasprintf("fopen(\"%s\"): %s", path, strerror(errno));
		return false;
	}
	track_close();
	track_file = f;
	track_failed = false;
	return true;
}

void
track_close(void)
{
	if (track_file != NULL)
		fclose(track_file);
	track_file = NULL;
}

/* A value as xtext (RFC 3461): no spaces, no control characters. */
static void
track_xtext(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p > 32 && *p < 127 && *p != '+' && *p != '=')
			fputc(*p, f);
		else
			fprintf(f, "+%02X", *p);
	}
}

char *
track_enqueue_line(const struct queue_env *env, const char *id,
    const struct queue_dest *d)
{
	char stamp[32], *line = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f = open_memstream(&line, &len);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "%s E id=%s src=%s dst=%s from=<", stamp, id, env->source,
	    d->channel);
	track_xtext(f, env->from);
	fputs("> to=", f);
	for (size_t i = 0; i < d->nrcpts; i++) {
		fputs(i ? ",<" : "<", f);
		track_xtext(f, d->rcpts[i].address);
		fputc('>', f);
	}
	fprintf(f, " size=%llu client=%s auth=", (unsigned long long)env->size,
	    env->client_addr ? env->client_addr : "-");
	track_xtext(f, env->auth ? env->auth : "-");
	fputc('\n', f);
	fclose(f);
	return line;
}

char *
track_rcpt_line(char event, const struct queue_env *env,
    const struct queue_rcpt *r, const char *channel, int code,
    const char *text)
{
	char stamp[32], *line = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f = open_memstream(&line, &len);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "%s %c id=%s chan=%s from=<", stamp, event, env->id, channel);
	track_xtext(f, env->from);
	fputs("> to=<", f);
	track_xtext(f, r->address);
	fprintf(f, "> code=%d text=", code);
	track_xtext(f, text && *text ? text : "-");
	fputc('\n', f);
	fclose(f);
	return line;
}

void
track_write(const char *lines)
{
	if (track_file == NULL || lines == NULL)
		return;
	fputs(lines, track_file);
	if (fflush(track_file) != 0 && !track_failed) {
		track_failed = true;
		log_err("tracking log: write: %s", strerror(errno));
	}
}
