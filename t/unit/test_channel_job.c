/* Unit tests of common/channel_job: the lines jobctl and delivery jobs
 * exchange, good and malformed, and that what is written parses back. */
#include <stdlib.h>
#include <string.h>

#include "channel_job.h"
#include "unit.h"

static const struct {
	const char *line;
	bool ok;
	enum channel_job_kind kind;
	const char *path;
	size_t index;
	enum channel_job_result result;
	int code;
	const char *text;
} cases[] = {
	{ "entry lmtp/07/3B0B2VDDNOS01HM0", true, CJ_ENTRY, "lmtp/07/3B0B2VDDNOS01HM0", 0, CJ_OK, 0, "" },
	{ "done lmtp/ID", true, CJ_DONE, "lmtp/ID", 0, CJ_OK, 0, "" },
	{ "rcpt lmtp/ID 3 ok 250 2.1.5 Ok", true, CJ_RCPT, "lmtp/ID", 3, CJ_OK, 250, "2.1.5 Ok" },
	{ "rcpt lmtp/ID 0 defer 0 4.4.1 connection refused", true, CJ_RCPT, "lmtp/ID", 0, CJ_DEFER, 0, "4.4.1 connection refused" },
	{ "rcpt lmtp/ID 1 fail 550 ", true, CJ_RCPT, "lmtp/ID", 1, CJ_FAIL, 550, "" },
	{ "rcpt lmtp/ID 1 fail 550", true, CJ_RCPT, "lmtp/ID", 1, CJ_FAIL, 550, "" },
	{ "rcpt tcp_local/ID 2 relayed 250 2.0.0 Ok (mx)", true, CJ_RCPT, "tcp_local/ID", 2, CJ_RELAYED, 250, "2.0.0 Ok (mx)" },
	{ "rcpt tcp_local/ID 2 passed 250 2.0.0 Ok", true, CJ_RCPT, "tcp_local/ID", 2, CJ_PASSED, 250, "2.0.0 Ok" },
	{ "rcpt tcp_local/ID 2 relayedx 250 x", false, 0, NULL, 0, 0, 0, NULL },
	{ "rcpt lmtp/ID -1 ok 250 x", false, 0, NULL, 0, 0, 0, NULL },
	{ "rcpt lmtp/ID 1 maybe 250 x", false, 0, NULL, 0, 0, 0, NULL },
	{ "rcpt lmtp/ID 1 ok 600 x", false, 0, NULL, 0, 0, 0, NULL },
	{ "rcpt lmtp/ID x ok 250 x", false, 0, NULL, 0, 0, 0, NULL },
	{ "entry /etc/passwd", false, 0, NULL, 0, 0, 0, NULL },
	{ "entry lmtp/../../etc/passwd", false, 0, NULL, 0, 0, 0, NULL },
	{ "entry", false, 0, NULL, 0, 0, 0, NULL },
	{ "entry ", false, 0, NULL, 0, 0, 0, NULL },
	{ "done lmtp/ID extra", false, 0, NULL, 0, 0, 0, NULL },
	{ "done lmtp/ID ", false, 0, NULL, 0, 0, 0, NULL },
	{ "hello lmtp/ID", false, 0, NULL, 0, 0, 0, NULL },
	{ "", false, 0, NULL, 0, 0, 0, NULL },
};

static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct channel_job_line l;
		bool ok = channel_job_parse(cases[i].line, &l);
		CHECK(ok == cases[i].ok);
		if (ok != cases[i].ok) {
			fprintf(stderr, "  case %zu: \"%s\"\n", i, cases[i].line);
			continue;
		}
		if (!ok)
			continue;
		CHECK(l.kind == cases[i].kind);
		CHECK_STR(l.path, cases[i].path);
		if (l.kind == CJ_RCPT) {
			CHECK(l.index == cases[i].index);
			CHECK(l.result == cases[i].result);
			CHECK(l.code == cases[i].code);
			CHECK_STR(l.text, cases[i].text);
		}
	}
}

static void
test_write_parses_back(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char longtext[2000];

	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	longtext[5] = '\r';
	longtext[6] = '\n';
	channel_job_write_entry(f, "tcp_local/3/ID");
	channel_job_write_rcpt(f, "tcp_local/3/ID", 7, CJ_DEFER, 451, longtext);
	channel_job_write_done(f, "tcp_local/3/ID");
	fclose(f);
	char *save = NULL, *line = strtok_r(buf, "\n", &save);
	struct channel_job_line l;
	CHECK(line != NULL && channel_job_parse(line, &l) && l.kind == CJ_ENTRY);
	line = strtok_r(NULL, "\n", &save);
	CHECK(line != NULL && channel_job_parse(line, &l) && l.kind == CJ_RCPT &&
	    l.index == 7 && l.code == 451 && strlen(l.text) == CHANNEL_JOB_TEXT_MAX &&
	    strchr(l.text, '\r') == NULL);
	line = strtok_r(NULL, "\n", &save);
	CHECK(line != NULL && channel_job_parse(line, &l) && l.kind == CJ_DONE);
	CHECK(strtok_r(NULL, "\n", &save) == NULL);
	free(buf);
}

int
main(void)
{
	UNIT_RUN(test_parse);
	UNIT_RUN(test_write_parses_back);
	return unit_done();
}
