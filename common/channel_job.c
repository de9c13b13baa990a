/*
 * channel_job: the line protocol between jobctl and delivery jobs (see
 * channel_job.h).
 */
#include "channel_job.h"

#include <stdlib.h>
#include <string.h>

static const char *const result_names[] = {
	"ok", "defer", "fail", "relayed", "passed"
};

const char *
channel_job_result_name(enum channel_job_result r)
{
	return result_names[r];
}

enum channel_job_result
channel_job_result_of(int code)
{
	if (code / 100 == 2)
		return CJ_OK;
	return code / 100 == 5 ? CJ_FAIL : CJ_DEFER;
}

/* A path is relative, without "..", spaces or control characters. */
static bool
channel_job_path_ok(const char *p, size_t len)
{
	if (len == 0 || len > CHANNEL_JOB_PATH_MAX || p[0] == '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			return false;
	return memmem(p, len, "..", 2) == NULL;
}

/* Copy the next space-separated word of *s into out (cap bytes + NUL). */
static bool
channel_job_word(const char **s, char *out, size_t cap)
{
	const char *sp = strchr(*s, ' ');
	size_t len = sp ? (size_t)(sp - *s) : strlen(*s);

	if (len == 0 || len > cap)
		return false;
	memcpy(out, *s, len);
	out[len] = '\0';
	*s += len + (sp != NULL);
	return true;
}

static bool
channel_job_parse_rcpt(const char *s, struct channel_job_line *out)
{
	char idx[24], res[8], code[8];
	char *end;

	if (!channel_job_word(&s, idx, sizeof(idx) - 1) ||
	    !channel_job_word(&s, res, sizeof(res) - 1) ||
	    !channel_job_word(&s, code, sizeof(code) - 1))
		return false;
	out->index = strtoul(idx, &end, 10);
	if (*end != '\0' || idx[0] == '-')
		return false;
	out->code = (int)strtol(code, &end, 10);
	if (*end != '\0' || out->code < 0 || out->code > 599)
		return false;
	for (out->result = CJ_OK; out->result <= CJ_RESULT_LAST; out->result++)
		if (strcmp(res, result_names[out->result]) == 0)
			break;
	if (out->result > CJ_RESULT_LAST || strlen(s) > CHANNEL_JOB_TEXT_MAX)
		return false;
	strcpy(out->text, s);
	return true;
}

bool
channel_job_parse(const char *line, struct channel_job_line *out)
{
	static const char *const kinds[] = { "entry", "rcpt", "done" };
	char kind[8];
	const char *s = line;

	memset(out, 0, sizeof(*out));
	if (strlen(line) > CHANNEL_JOB_LINE_MAX ||
	    !channel_job_word(&s, kind, sizeof(kind) - 1))
		return false;
	for (out->kind = CJ_ENTRY; out->kind <= CJ_DONE; out->kind++)
		if (strcmp(kind, kinds[out->kind]) == 0)
			break;
	if (out->kind > CJ_DONE ||
	    !channel_job_word(&s, out->path, CHANNEL_JOB_PATH_MAX) ||
	    !channel_job_path_ok(out->path, strlen(out->path)))
		return false;
	if (out->kind == CJ_RCPT)
		return channel_job_parse_rcpt(s, out);
	return *s == '\0' && s[-1] != ' ';
}

void
channel_job_write_entry(FILE *f, const char *path)
{
	fprintf(f, "entry %s\n", path);
	fflush(f);
}

void
channel_job_write_rcpt(FILE *f, const char *path, size_t index,
    enum channel_job_result r, int code, const char *text)
{
	char clean[CHANNEL_JOB_TEXT_MAX + 1];
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)(text ? text : "");
	    *p && n < CHANNEL_JOB_TEXT_MAX; p++)
		clean[n++] = *p < ' ' || *p == 0x7f ? ' ' : (char)*p;
	clean[n] = '\0';
	fprintf(f, "rcpt %s %zu %s %d %s\n", path, index, result_names[r],
	    code, clean);
	fflush(f);
}

void
channel_job_write_done(FILE *f, const char *path)
{
	fprintf(f, "done %s\n", path);
	fflush(f);
}
