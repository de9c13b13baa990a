/* queue_admin: placeholder until the operator's commands land. */
#include <stdio.h>

#include "jobctl.h"

int
queue_admin_main(const struct jobctl_config *cfg, int argc, char **argv)
{
	(void)cfg;
	(void)argc;
	(void)argv;
	fprintf(stderr, "jobctl queue: not yet\n");
	return 2;
}
