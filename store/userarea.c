/*
 * userarea: where messages live on disk (the seed's "user area").
 *
 *   PARTITION/tmp/                       receive files, not yet delivered
 *   PARTITION/H1/H2/USER/                a user; H1/H2 from a hash of USER
 *   PARTITION/H1/H2/USER/MAILBOXID/      a mailbox
 *   PARTITION/H1/H2/USER/MAILBOXID/.mailbox   its name and UIDVALIDITY
 *   PARTITION/H1/H2/USER/MAILBOXID/UID   a message, as received
 *
 * A message for several users of one partition is one file with several
 * links.  Everything the system area (LMDB) holds about a mailbox can be
 * rebuilt from this tree (store reconstruct), flags excepted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

#define MAILBOX_META ".mailbox"

/* FNV-1a: stable across versions and platforms, which the layout needs. */
static uint32_t
userarea_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* Keep [a-z0-9@._+-] as is, %XX anything else (and a leading dot). */
static void
userarea_escape(const char *user, char *buf, size_t len)
{
	size_t o = 0;

	for (const char *p = user; *p && o + 4 < len; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c != '.' && strchr("@._+-", c)) || (c == '.' && p != user))
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "%%%02X", c);
	}
	buf[o] = '\0';
}

void
userarea_user_dir(const struct partition *part, const char *user, char *buf,
    size_t len)
{
	char esc[USER_KEY_MAX * 3 + 1];
	uint32_t h = userarea_hash(user);

	userarea_escape(user, esc, sizeof(esc));
	snprintf(buf, len, "%s/%02x/%02x/%s", part->path, h & 0xff,
	    (h >> 8) & 0xff, esc);
}

void
userarea_mailbox_dir(const struct partition *part, const char *user,
    uint64_t mailbox_id, char *buf, size_t len)
{
	char udir[4096];

	userarea_user_dir(part, user, udir, sizeof(udir));
	snprintf(buf, len, "%s/%llu", udir, (unsigned long long)mailbox_id);
}

void
userarea_tmp_dir(const struct partition *part, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tmp", part->path);
}

bool
userarea_prepare(const struct partition *part)
{
	char tmp[4096];

	userarea_tmp_dir(part, tmp, sizeof(tmp));
	return durable_mkdirs(tmp, 0700) == 0;
}

void
userarea_clean_tmp(const struct partition *part)
{
	char tmp[4096], path[4352];
	DIR *d;
	struct dirent *de;
	int n = 0;

	userarea_tmp_dir(part, tmp, sizeof(tmp));
	if ((d = opendir(tmp)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, de->d_name);
		if (unlink(path) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("partition=%s tmp_files_removed=%d", part->name, n);
}

char *
userarea_write_tmp(const struct partition *part, const char *tag,
    const char *data, size_t len, bool sync)
{
	static unsigned long seq;
	char dir[4096];

	userarea_tmp_dir(part, dir, sizeof(dir));
	char *path = xasprintf("%s/%s.%ld.%lu", dir, tag, (long)getpid(), ++seq);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, data, len) != (ssize_t)len ||
	    (sync && durable_fsync(fd) == -1)) {
		log_err("write(\"%s\"): %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		unlink(path);
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

bool
userarea_mailbox_read_meta(const char *dir, char *name, size_t namelen,
    uint32_t *uidvalidity)
{
	char path[4352], buf[2048];
	unsigned long v;

	snprintf(path, sizeof(path), "%s/%s", dir, MAILBOX_META);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool ok = fgets(buf, sizeof(buf), f) != NULL &&
	    sscanf(buf, "uidvalidity %lu", &v) == 1 &&
	    fgets(buf, sizeof(buf), f) != NULL && strncmp(buf, "name ", 5) == 0;
	fclose(f);
	if (!ok)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(name, namelen, "%s", buf + 5);
	*uidvalidity = (uint32_t)v;
	return true;
}

bool
userarea_mailbox_rename(const char *dir, const char *name,
    uint32_t uidvalidity, uint32_t *uidvalidity_out)
{
	/* create() rewrites the meta file atomically when the name differs. */
	return userarea_mailbox_create(dir, name, uidvalidity, uidvalidity_out);
}

bool
userarea_mailbox_create(const char *dir, const char *name,
    uint32_t uidvalidity, uint32_t *uidvalidity_out)
{
	char path[4352], old[1024];
	uint32_t v;

	/* A crash after mkdir, or a write re-run after map growth, leaves the
	 * directory: adopt what it says. */
	if (userarea_mailbox_read_meta(dir, old, sizeof(old), &v) &&
	    strcmp(old, name) == 0) {
		*uidvalidity_out = v;
		return true;
	}
	if (durable_mkdirs(dir, 0700) == -1) {
		log_err("mkdir(\"%s\"): %s", dir, strerror(errno));
		return false;
	}
	char *text;
	int len = asprintf(&text, "uidvalidity %lu\nname %s\n",
	    (unsigned long)uidvalidity, name);
	if (len < 0)
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir, MAILBOX_META);
	int rc = durable_write_file(path, text, (size_t)len, 0600);
	free(text);
	if (rc == -1) {
		log_err("write(\"%s\"): %s", path, strerror(errno));
		return false;
	}
	*uidvalidity_out = uidvalidity;
	return true;
}
