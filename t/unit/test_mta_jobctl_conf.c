/*
 * Unit tests of mta/jobctl_conf: the default pool, channel sections with
 * wildcards (exact name first), and typed values.
 */
#include <stdlib.h>

#include "jobctl_conf.h"
#include "unit.h"

static const char sample[] =
	"MAX_MESSAGES=5000\n"
	"[POOL=DEFAULT]\n"
	"JOB_LIMIT=10\n"
	"[POOL=SMTP_POOL]\n"
	"JOB_LIMIT=3\n"
	"[CHANNEL=tcp_*]\n"
	"MASTER_COMMAND=/bin/smtp\n"
	"[CHANNEL=tcp_local]\n"
	"MASTER_COMMAND=/bin/smtp_local\n"
	"[CHANNEL=l%]\n"
	"MASTER_COMMAND=/bin/lx\n"
	"[CHANNEL=l]\n"
	"MASTER_COMMAND=/bin/l\n";

static void
test_lookups(void)
{
	char *errs = NULL;
	struct jobctl_conf *c = jobctl_conf_parse("j", sample, &errs);
	CHECK_STR(errs, NULL);
	if (c == NULL)
		return;
	CHECK(jobctl_conf_globals(c)->max_messages == 5000);
	CHECK(jobctl_conf_globals(c)->tcp_port == 0);
	CHECK(jobctl_conf_npools(c) == 2);
	CHECK_STR(jobctl_conf_pool(c, NULL)->name, "DEFAULT");
	CHECK(jobctl_conf_pool(c, "smtp_pool")->job_limit == 3);
	CHECK(jobctl_conf_pool(c, "nope") == NULL);
	CHECK_STR(jobctl_conf_channel(c, "tcp_local")->master_command, "/bin/smtp_local");
	CHECK_STR(jobctl_conf_channel(c, "tcp_intranet")->master_command, "/bin/smtp");
	CHECK_STR(jobctl_conf_channel(c, "l")->master_command, "/bin/l");
	CHECK_STR(jobctl_conf_channel(c, "lm")->master_command, "/bin/lx");
	CHECK(jobctl_conf_channel(c, "lmtp") == NULL);
	CHECK(jobctl_conf_channel_at(c, 0)->line == 6);
	jobctl_conf_free(&c);
	CHECK(c == NULL);
}

static void
test_errors(void)
{
	char *errs = NULL;
	struct jobctl_conf *c = jobctl_conf_parse("e",
	    "[POOL=a]\nJOB_LIMIT=0\n[CHANNEL=x]\nMAX_LIFE_AGE=-1\n", &errs);
	CHECK(c == NULL);
	CHECK_STR(errs, "e:2: JOB_LIMIT: \"0\" is not a number in 1-10000\n"
	    "e:4: MAX_LIFE_AGE: \"-1\" is not a number in 1-604800\n");
	free(errs);
}

int
main(void)
{
	UNIT_RUN(test_lookups);
	UNIT_RUN(test_errors);
	return unit_done();
}
