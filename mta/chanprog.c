/*
 * chanprog: the shared skeleton of the mta's channel programs (see
 * chanprog.h).
 */
#include "chanprog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue_entry.h"

static void __attribute__((noreturn))
chanprog_usage(const struct chanprog *p)
{
	fprintf(stderr, "usage: %s -c msg.conf channel\n", p->name);
	exit(2);
}

void
chanprog_init(struct chanprog *p, const char *name, int argc, char **argv)
{
	const char *conf = NULL;
	char *errs = NULL;
	int ch;

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->out = stdout;
	log_init(name, true);
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			chanprog_usage(p);
		conf = optarg;
	}
	if (conf == NULL || optind != argc - 1)
		chanprog_usage(p);
	p->channel = argv[optind];
	if (!queue_channel_valid(p->channel))
		log_fatal("\"%s\" is not a channel name", p->channel);
	signal(SIGPIPE, SIG_IGN);
	if ((p->cfg = mta_config_load(conf, &errs)) == NULL) {
		fputs(errs ? errs : "", stderr);
		log_fatal("%s: configuration not loaded", conf);
	}
	free(errs);
	local_apply_log_level(&p->cfg->local);
}

int
chanprog_open(const char *channel, const char *path, struct queue_env *env,
    size_t *body)
{
	char *err = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		log_err("entry=%s: open: %s", path, strerror(errno));
		return -1;
	}
	if (!queue_entry_envelope(fd, env, body, &err)) {
		log_err("entry=%s: unparsable envelope: %s", path, err);
		free(err);
	} else if (strcmp(env->channel, channel) != 0) {
		log_err("entry=%s id=%s: envelope names channel %s, not %s", path,
		    env->id, env->channel, channel);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

bool
chanprog_read(struct chanprog *p, const char *path, struct queue_env *env,
    char **msg, size_t *len)
{
	size_t body = 0;
	char *err = NULL;
	int fd = chanprog_open(p->channel, path, env, &body);

	if (fd < 0)
		return false;
	bool ok = queue_entry_message(fd, body, env->size, msg, &err);
	close(fd);
	if (ok) {
		*len = env->size;
		return true;
	}
	log_err("entry=%s: %s", path, err);
	free(err);
	queue_env_clear(env);
	return false;
}

void
chanprog_run(struct chanprog *p, chanprog_entry_fn *fn, void *arg)
{
	char line[CHANNEL_JOB_LINE_MAX + 2];
	struct channel_job_line cj;
	unsigned long lineno = 0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		size_t len = strlen(line);
		lineno++;
		if (len > 0 && line[len - 1] == '\n') {
			line[--len] = '\0';
		} else if (!feof(stdin)) {
			int ch;
			while ((ch = getchar()) != EOF && ch != '\n')
				;
			log_err("stdin line %lu: longer than %d bytes: skipped",
			    lineno, CHANNEL_JOB_LINE_MAX);
			continue;
		}
		if (!channel_job_parse(line, &cj) || cj.kind != CJ_ENTRY) {
			log_err("stdin line %lu: not \"entry PATH\": skipped",
			    lineno);
			continue;
		}
		fn(p, arg, cj.path);
		channel_job_write_done(p->out, cj.path);
	}
}

void
chanprog_done(struct chanprog *p)
{
	mta_config_unref(&p->cfg);
}
