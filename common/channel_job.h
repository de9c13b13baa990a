/*
 * channel_job: how jobctl and a channel's delivery program (a job) talk.
 *
 * jobctl starts the channel's MASTER_COMMAND (job_controller.cnf) as
 *
 *     MASTER_COMMAND -c MSG_CONF CHANNEL
 *
 * with the queue root as its working directory, and writes to the job's
 * standard input one line per queue entry to deliver:
 *
 *     entry PATH            PATH relative to the queue root: lmtp/07/ID
 *
 * When it has no more work for the job it closes the job's input; the job
 * finishes the entries it has and exits 0.  On its standard output the
 * job answers every entry it was given, in any order: one line per
 * recipient still pending in the entry's envelope, then a final line:
 *
 *     rcpt PATH INDEX ok|defer|fail|relayed|passed CODE TEXT
 *     done PATH
 *
 * ok is final delivery (a success report when NOTIFY asks); relayed is a
 * hand-over to a next hop that does not speak DSN, which jobctl reports
 * as "relayed" when NOTIFY asks for success (RFC 3461 5.2.3); passed is a
 * hand-over to a next hop that took the DSN request along, which reports
 * for itself (RFC 3461 5.2.2): no report here.  All three are done.
 * INDEX is the recipient's position among the envelope's rcpt lines
 * (counting from 0); CODE the three-digit reply (or 0 when there was
 * none: connection failed, directory down) and TEXT the reply's text or
 * why (enhanced status code first when there is one), at most
 * CHANNEL_JOB_TEXT_MAX bytes, no control characters.  Recipients of an
 * entry left without a rcpt line by its done line are deferred.  The job
 * never changes queue files: jobctl, which owns the queue, does.  An entry
 * the job died before finishing (no done line) is deferred whole.  Lines
 * are at most CHANNEL_JOB_LINE_MAX bytes; standard error is the job's log.
 */
#ifndef COMMON_CHANNEL_JOB_H
#define COMMON_CHANNEL_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CHANNEL_JOB_LINE_MAX 2048
#define CHANNEL_JOB_TEXT_MAX 512
#define CHANNEL_JOB_PATH_MAX 256

enum channel_job_result { CJ_OK, CJ_DEFER, CJ_FAIL, CJ_RELAYED, CJ_PASSED };
#define CJ_RESULT_LAST CJ_PASSED

enum channel_job_kind { CJ_ENTRY, CJ_RCPT, CJ_DONE };

struct channel_job_line {
	enum channel_job_kind kind;
	char path[CHANNEL_JOB_PATH_MAX + 1];
	size_t index;                       /* CJ_RCPT */
	enum channel_job_result result;     /* CJ_RCPT */
	int code;                           /* CJ_RCPT */
	char text[CHANNEL_JOB_TEXT_MAX + 1];/* CJ_RCPT */
};

/* Parse one line (without its LF); false when malformed. */
bool channel_job_parse(const char *line, struct channel_job_line *out);

/* Write the lines (an LF each, flushed) to f; text is cleaned of control
 * characters and cut at CHANNEL_JOB_TEXT_MAX. */
void channel_job_write_entry(FILE *f, const char *path);
void channel_job_write_rcpt(FILE *f, const char *path, size_t index,
    enum channel_job_result r, int code, const char *text);
void channel_job_write_done(FILE *f, const char *path);

const char *channel_job_result_name(enum channel_job_result r);

/* The verdict a server's reply code gives: 2xx ok, 5xx fail, else defer. */
enum channel_job_result channel_job_result_of(int code);

#endif
