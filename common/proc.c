/*
 * proc: privilege dropping and process-wide signal set-up (see proc.h).
 */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

/* chown path, and the entries directly inside it when it is a directory
 * (the LMDB files; deeper levels are made after the drop). */
static bool
proc_chown_tree(const char *path, uid_t uid, gid_t gid, char **err)
{
	if (chown(path, uid, gid) == -1) {
		*err = xasprintf("chown(\"%s\"): %s", path, strerror(errno));
		return false;
	}
	DIR *d = opendir(path);
	if (d == NULL)
		return true;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", path, de->d_name);
		int rc = chown(p, uid, gid);
		free(p);
		if (rc == -1) {
			*err = xasprintf("chown(\"%s/%s\"): %s", path, de->d_name,
			    strerror(errno));
			closedir(d);
			return false;
		}
	}
	closedir(d);
	return true;
}

bool
proc_drop_privileges(const char *user, const char *const *paths, char **err)
{
	*err = NULL;
	if (geteuid() != 0)
		return true;
	if (user == NULL || *user == '\0') {
		log_warn("running as root: set local.user to drop privileges");
		return true;
	}
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		*err = xasprintf("local.user: no such user \"%s\"", user);
		return false;
	}
	for (; paths != NULL && *paths != NULL; paths++)
		if (!proc_chown_tree(*paths, pw->pw_uid, pw->pw_gid, err))
			return false;
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		*err = xasprintf("setuid(\"%s\"): %s", user, strerror(errno));
		return false;
	}
	if (setuid(0) != -1) {
		*err = xasprintf("setuid(\"%s\"): root could be regained", user);
		return false;
	}
	log_info("running as user=%s uid=%ld", user, (long)pw->pw_uid);
	return true;
}

void
proc_ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

long long
proc_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}
