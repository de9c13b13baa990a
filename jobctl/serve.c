/* serve: placeholder until the daemon lands. */
#include <stdio.h>

#include "jobctl.h"

int
jobctl_serve(struct jobctl_config *cfg, bool foreground)
{
	(void)cfg;
	(void)foreground;
	fprintf(stderr, "jobctl: not yet\n");
	return 2;
}
