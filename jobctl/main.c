/*
 * jobctl: the job controller (the seed's scheduler) and the operator's
 * queue commands.
 *
 *   jobctl -c msg.conf [-f] [-t]
 *   jobctl -c msg.conf status [--tsv]
 *   jobctl -c msg.conf queue list|show|counts|hold|release|retry|delete ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobctl.h"
#include "log.h"
#include "proc.h"

static void
jobctl_usage(void)
{
	fprintf(stderr,
	    "usage: jobctl -c msg.conf [-f] [-t]\n"
	    "       jobctl -c msg.conf status [--tsv]\n"
	    "       jobctl -c msg.conf queue list [--channel NAME] [--held] [--tsv]\n"
	    "       jobctl -c msg.conf queue show|hold|release|retry|delete ID...\n"
	    "       jobctl -c msg.conf queue counts [--tsv]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	bool foreground = false, test_only = false;
	char *errs = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "+c:ft")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		default: jobctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (path == NULL)
		jobctl_usage();
	log_init("jobctl", foreground || test_only || argc > 0);
	proc_ignore_sigpipe();
	struct jobctl_config *cfg = jobctl_config_load(path, &errs);
	if (cfg == NULL) {
		fprintf(stderr, "%s", errs ? errs : "configuration error\n");
		free(errs);
		return 1;
	}
	local_apply_log_level(&cfg->local);
	int rc = 0;
	if (test_only)
		printf("%s: configuration ok\n", path);
	else if (argc > 0 && strcmp(argv[0], "queue") == 0)
		rc = queue_admin_main(cfg, argc - 1, argv + 1);
	else if (argc >= 1 && strcmp(argv[0], "status") == 0 && (argc == 1 ||
	    (argc == 2 && strcmp(argv[1], "--tsv") == 0)))
		rc = status_main(cfg, argc == 2);
	else if (argc > 0)
		jobctl_usage();
	else
		rc = jobctl_serve(cfg, foreground);
	jobctl_config_free(&cfg);
	return rc;
}
