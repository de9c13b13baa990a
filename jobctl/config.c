/*
 * config: jobctl's keys of msg.conf (msg.conf(5)) and the files it reads:
 * job_controller.cnf (pools, channel programs) and imta.cnf (the channel
 * keywords that schedule: pool, maxjobs, backoff, notices, after).
 * jobctl shares the mta's queue, so it reads the mta's keys that name it.
 * Loaded whole or refused whole, every error as "file:line: message".
 */
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"
#include "xmalloc.h"

static const struct conf_key jobctl_keys[] = {
	{ "jobctl.conf", CONF_STR, "/etc/mailsuite/job_controller.cnf", "pools and channel programs" },
	{ "jobctl.admin.listen", CONF_STR, "", "health and metrics (HTTP), host:port" },
	{ "jobctl.postmaster", CONF_STR, NULL, "where failed reports go (default postmaster@local.hostname)" },
	{ "jobctl.rescaninterval", CONF_DURATION, "pt5m", "full rescans of the queue" },
	{ "mta.imtacnf", CONF_STR, "/etc/mailsuite/imta.cnf", "rewrite rules and channels" },
	{ "mta.queue.path", CONF_STR, "/var/spool/mailsuite/queue", "the queue" },
	{ "mta.jobctl.socket", CONF_STR, "", "where the mta announces new entries" },
	{ "mta.tracklog", CONF_STR, "", "message tracking log (empty: off)" },
	{ NULL, CONF_STR, NULL, NULL },
};

static const char *const jobctl_namespaces[] = {
	"jobctl.", LOCAL_NAMESPACES, NULL
};

static int
config_take_errors(char **errs, char *more)
{
	char *e = xasprintf("%s%s", *errs ? *errs : "", more ? more : "");

	free(*errs);
	free(more);
	*errs = e;
	return 1;
}

static void
config_fill(struct jobctl_config *cfg)
{
	struct conf *c = cfg->conf;

	local_config_fill(&cfg->local, c);
	cfg->queue_path = conf_str(c, "mta.queue.path");
	cfg->notify_socket = conf_str(c, "mta.jobctl.socket");
	cfg->track_path = conf_str(c, "mta.tracklog");
	cfg->admin_listen = conf_str(c, "jobctl.admin.listen");
	cfg->rescan_interval = (int)conf_duration(c, "jobctl.rescaninterval");
	cfg->postmaster = conf_str(c, "jobctl.postmaster");
}

struct jobctl_config *
jobctl_config_load(const char *path, char **errs)
{
	struct jobctl_config *cfg = xcalloc(1, sizeof(*cfg));
	char *more = NULL;
	int nerr;

	*errs = NULL;
	cfg->path = path;
	if ((cfg->conf = conf_load(path, errs)) == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->keys = local_keys_join(jobctl_keys);
	nerr = conf_check(cfg->conf, cfg->keys, jobctl_namespaces, errs);
	if (nerr == 0) {
		config_fill(cfg);
		if ((cfg->imta = imta_conf_load(conf_str(cfg->conf, "mta.imtacnf"),
		    &more)) == NULL)
			nerr += config_take_errors(errs, more);
		more = NULL;
		if ((cfg->jc = jobctl_conf_load(conf_str(cfg->conf, "jobctl.conf"),
		    &more)) == NULL)
			nerr += config_take_errors(errs, more);
	}
	if (nerr > 0)
		jobctl_config_free(&cfg);
	return cfg;
}

void
jobctl_config_free(struct jobctl_config **cfgp)
{
	struct jobctl_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	imta_conf_free(&cfg->imta);
	jobctl_conf_free(&cfg->jc);
	local_config_clear(&cfg->local);
	conf_free(&cfg->conf);
	free(cfg->keys);
	free(cfg);
	*cfgp = NULL;
}
