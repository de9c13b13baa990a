/*
 * queue_admin: the operator's queue commands (the seed's queue manager),
 * `jobctl -c msg.conf queue list|show|counts|hold|release|retry|delete`.
 *
 * The queue files are the truth: every command scans the queue root
 * (CHANNEL/ID and CHANNEL/SS/ID, tmp/ skipped) and reads the files
 * directly; the daemon need not run.  A held entry is the same file named
 * ID.held, which the scanner does not take.  Releasing and retrying
 * announce the entry on mta.jobctl.socket the way the mta does
 * ("CHANNEL/SS/ID\n"), and jobctl treats an announced entry as due now.
 *
 * Failure policy: a file that cannot be read or does not parse is shown
 * as broken, never guessed at; a directory that cannot be read is
 * reported and the rest still listed.  Exit status 0, 1 when something
 * named matched no entry or an action failed, 2 on usage errors.  Every
 * rename and unlink is followed by an fsync of its directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "durable.h"
#include "queue_admin_private.h"
#include "xmalloc.h"

#define QUEUE_ADMIN_DELETE_RCPTS  5    /* recipients named per deleted entry */

/* ---- finding entries -------------------------------------------------- */

char *
queue_admin_entry_path(const struct queue_admin_entry *e)
{
	return xasprintf("%s/%s%s", e->dir, e->id, e->held ? ".held" : "");
}

/* "ID" or "ID.held": the ID part, else NULL. */
static bool
queue_admin_entry_name(const char *name, char id[QUEUE_ID_LEN + 1],
    bool *held)
{
	size_t n = strlen(name);

	*held = n == QUEUE_ID_LEN + 5 && strcmp(name + QUEUE_ID_LEN, ".held") == 0;
	if (n != QUEUE_ID_LEN && !*held)
		return false;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(id);
}

static bool
queue_admin_is_type(DIR *d, const struct dirent *de, mode_t type)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return (de->d_type == DT_DIR && type == S_IFDIR) ||
		    (de->d_type == DT_REG && type == S_IFREG);
	if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return false;
	return (st.st_mode & S_IFMT) == type;
}

static void
queue_admin_scan_add(struct queue_admin_scan *s, const char *dir,
    const char *channel, const char *sub, const char *id, bool held)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	struct queue_admin_entry *e = &s->v[s->n++];
	e->dir = xstrdup(dir);
	e->rel = sub ? xasprintf("%s/%s/%s", channel, sub, id) :
	    xasprintf("%s/%s", channel, id);
	snprintf(e->channel, sizeof(e->channel), "%s", channel);
	memcpy(e->id, id, sizeof(e->id));
	e->held = held;
}

/* The entries of root/CHANNEL (sub NULL) or root/CHANNEL/SS. */
static void
queue_admin_scan_dir(struct queue_admin_scan *s, const char *root,
    const char *channel, const char *sub)
{
	char *dir = sub ? xasprintf("%s/%s/%s", root, channel, sub) :
	    xasprintf("%s/%s", root, channel);
	DIR *d = opendir(dir);
	struct dirent *de;
	char id[QUEUE_ID_LEN + 1];
	bool held;

	if (d == NULL) {
		fprintf(stderr, "jobctl queue: opendir(\"%s\"): %s\n", dir,
		    strerror(errno));
		s->errors++;
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (sub == NULL && strlen(n) == 2 && n[0] >= '0' && n[0] <= '9' &&
		    n[1] >= '0' && n[1] <= '9' && queue_admin_is_type(d, de, S_IFDIR))
			queue_admin_scan_dir(s, root, channel, n);
		else if (queue_admin_entry_name(n, id, &held) &&
		    queue_admin_is_type(d, de, S_IFREG))
			queue_admin_scan_add(s, dir, channel, sub, id, held);
	}
	closedir(d);
	free(dir);
}

static int
queue_admin_entry_cmp(const void *a, const void *b)
{
	const struct queue_admin_entry *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : strcmp(x->channel, y->channel);
}

static void
queue_admin_scan_root(struct queue_admin_scan *s, const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;

	if (d == NULL) {
		fprintf(stderr, "jobctl queue: opendir(\"%s\"): %s\n", root,
		    strerror(errno));
		s->errors++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (queue_channel_valid(de->d_name) &&
		    queue_admin_is_type(d, de, S_IFDIR))
			queue_admin_scan_dir(s, root, de->d_name, NULL);
	}
	closedir(d);
	if (s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), queue_admin_entry_cmp);
}

void
queue_admin_scan(struct queue_admin_ctx *ctx)
{
	queue_admin_scan_root(&ctx->scan, ctx->cfg->queue_path);
	if (ctx->scan.errors > 0)
		ctx->rc = 1;
}

static void
queue_admin_scan_free(struct queue_admin_scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].dir);
		free(s->v[i].rel);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- reading one entry ------------------------------------------------ */

/* The offset just past the envelope's empty line in buf, searching from
 * *from (updated); 0 when not there yet. */
static size_t
queue_admin_env_end(const char *buf, size_t len, size_t *from)
{
	if (len > 0 && buf[0] == '\n')
		return 1;
	for (size_t i = *from ? *from - 1 : 0; i + 1 < len; i++)
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return i + 2;
	*from = len;
	return 0;
}

/* Read the head of fd into r: the envelope and hdr_bytes more. */
static bool
queue_admin_read_head(int fd, size_t hdr_bytes, struct queue_admin_read *r)
{
	size_t cap = QUEUE_ADMIN_ENV_MAX + hdr_bytes, alloc = 16384;
	size_t end = 0, from = 0;

	r->buf = xmalloc(alloc);
	for (;;) {
		if (r->len == alloc) {
			if (alloc == cap)
				break;
			alloc = alloc * 2 < cap ? alloc * 2 : cap;
			r->buf = xrealloc(r->buf, alloc);
		}
		ssize_t n = read(fd, r->buf + r->len, alloc - r->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return false;
		if (n == 0)
			break;
		r->len += (size_t)n;
		if (end == 0)
			end = queue_admin_env_end(r->buf, r->len, &from);
		if (end != 0 && r->len >= end + hdr_bytes)
			break;
	}
	if (end == 0 && r->len == cap)
		r->error = xasprintf("envelope longer than %zu bytes: not read",
		    QUEUE_ADMIN_ENV_MAX);
	return true;
}

/* The envelope must name the entry it is in. */
static void
queue_admin_read_check(const struct queue_admin_entry *e,
    struct queue_admin_read *r)
{
	if (strcmp(r->env.id, e->id) != 0)
		r->error = xasprintf("the envelope's id %s is not the file's", r->env.id);
	else if (strcmp(r->env.channel, e->channel) != 0)
		r->error = xasprintf("the envelope's channel %s is not the "
		    "directory's", r->env.channel);
	if (r->error != NULL)
		queue_env_clear(&r->env);
}

bool
queue_admin_read(const struct queue_admin_entry *e, size_t hdr_bytes,
    struct queue_admin_read *r)
{
	char *path = queue_admin_entry_path(e);
	struct stat st;
	int fd;

	memset(r, 0, sizeof(*r));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		r->error = xasprintf("open(\"%s\"): %s", path, strerror(errno));
	} else if (fstat(fd, &st) == -1) {
		r->error = xasprintf("fstat(\"%s\"): %s", path, strerror(errno));
	} else if ((r->file_size = (uint64_t)st.st_size),
	    !queue_admin_read_head(fd, hdr_bytes, r)) {
		r->error = xasprintf("read(\"%s\"): %s", path, strerror(errno));
	} else if (r->error == NULL) {
		if (queue_env_parse(r->buf, r->len, &r->env, &r->body_offset,
		    &r->error)) {
			r->env.size = r->file_size > r->body_offset ?
			    r->file_size - r->body_offset : 0;
			queue_admin_read_check(e, r);
		}
	}
	if (fd != -1)
		close(fd);
	free(path);
	return r->error == NULL;
}

void
queue_admin_read_clear(struct queue_admin_read *r)
{
	queue_env_clear(&r->env);
	free(r->error);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* ---- naming entries on the command line ------------------------------- */

void
queue_admin_usage_msg(const char *why, const char *arg)
{
	if (arg != NULL)
		fprintf(stderr, "jobctl queue: %s \"%s\"\n", why, arg);
	else
		fprintf(stderr, "jobctl queue: %s\n", why);
	fprintf(stderr,
	    "usage: jobctl -c msg.conf queue list [--channel NAME] [--held] [--tsv]\n"
	    "       jobctl -c msg.conf queue counts [--tsv]\n"
	    "       jobctl -c msg.conf queue show|hold|release|retry|delete ID...\n"
	    "(ID: a queue ID, CHANNEL/ID or CHANNEL/SS/ID)\n");
}

/* ID, CHANNEL/ID or CHANNEL/SS/ID; channel "" for any. */
static bool
queue_admin_parse_name(const char *arg, char channel[QUEUE_CHANNEL_MAX + 1],
    char id[QUEUE_ID_LEN + 1])
{
	const char *slash = strchr(arg, '/'), *last = strrchr(arg, '/');
	const char *ss = slash && last != slash ? slash + 1 : NULL;

	channel[0] = '\0';
	if (slash != NULL) {
		size_t n = (size_t)(slash - arg);
		if (n > QUEUE_CHANNEL_MAX)
			return false;
		memcpy(channel, arg, n);
		channel[n] = '\0';
		if (!queue_channel_valid(channel))
			return false;
		if (ss != NULL && (last - ss != 2 || ss[0] < '0' || ss[0] > '9' ||
		    ss[1] < '0' || ss[1] > '9'))
			return false;
	}
	const char *idp = last ? last + 1 : arg;
	if (strlen(idp) != QUEUE_ID_LEN)
		return false;
	memcpy(id, idp, QUEUE_ID_LEN + 1);
	return queue_id_valid(id);
}

int
queue_admin_select(struct queue_admin_ctx *ctx, int argc, char **argv)
{
	char channel[QUEUE_CHANNEL_MAX + 1], id[QUEUE_ID_LEN + 1];

	if (argc == 0) {
		queue_admin_usage_msg("no queue ID given", NULL);
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		if (!queue_admin_parse_name(argv[i], channel, id)) {
			queue_admin_usage_msg("not a queue ID:", argv[i]);
			return -1;
		}
	}
	queue_admin_scan(ctx);
	ctx->selected = xcalloc(ctx->scan.n + 1, sizeof(bool));
	for (int i = 0; i < argc; i++) {
		bool found = false;
		queue_admin_parse_name(argv[i], channel, id);
		for (size_t k = 0; k < ctx->scan.n; k++) {
			const struct queue_admin_entry *e = &ctx->scan.v[k];
			if (strcmp(e->id, id) == 0 &&
			    (channel[0] == '\0' || strcmp(e->channel, channel) == 0))
				found = ctx->selected[k] = true;
		}
		if (!found) {
			fprintf(stderr, "jobctl queue: %s: no such entry\n", argv[i]);
			ctx->rc = 1;
		}
	}
	return 0;
}

/* ---- announcing to jobctl --------------------------------------------- */

static void
queue_admin_told_nobody(struct queue_admin_ctx *ctx, const char *why)
{
	if (!ctx->said_down)
		fprintf(stderr, "(%s: it will find it on its next scan)\n", why);
	ctx->said_down = true;
}

/* One datagram "CHANNEL/[SS/]ID\n", as the mta sends (queue_set_notify);
 * nobody listening is not an error: jobctl rescans. */
static void
queue_admin_announce(struct queue_admin_ctx *ctx,
    const struct queue_admin_entry *e)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = ctx->cfg->notify_socket;
	char line[QUEUE_CHANNEL_MAX + QUEUE_ID_LEN + 8];

	if (path == NULL || path[0] == '\0') {
		queue_admin_told_nobody(ctx, "mta.jobctl.socket is not set");
		return;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "jobctl queue: mta.jobctl.socket \"%s\": path too "
		    "long\n", path);
		ctx->rc = 1;
		return;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (ctx->notify_fd < 0 && (ctx->notify_fd = socket(AF_UNIX,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "jobctl queue: socket(AF_UNIX): %s\n", strerror(errno));
		ctx->rc = 1;
		return;
	}
	int n = snprintf(line, sizeof(line), "%s\n", e->rel);
	if (sendto(ctx->notify_fd, line, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, sizeof(sun)) != -1)
		return;
	if (errno == ENOENT || errno == ECONNREFUSED)
		queue_admin_told_nobody(ctx, "jobctl not running");
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		queue_admin_told_nobody(ctx, "jobctl is busy");
	else
		fprintf(stderr, "jobctl queue: sendto(\"%s\"): %s\n", path,
		    strerror(errno));
}

/* ---- the actions ------------------------------------------------------ */

/* rename() that never replaces: the other name holding an entry too
 * (left by a crash or a hand) must not be lost. */
static int
queue_admin_rename(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) == -1)               /* no RENAME_NOREPLACE here */
		return -1;
	return unlink(from);
}

/* Rename e to held (or back) and fsync its directory; 0 or -1. */
static int
queue_admin_move(struct queue_admin_ctx *ctx, struct queue_admin_entry *e,
    bool held)
{
	char *from = queue_admin_entry_path(e);
	char *to = xasprintf("%s/%s%s", e->dir, e->id, held ? ".held" : "");
	int rc = 0;

	if (queue_admin_rename(from, to) == -1) {
		fprintf(stderr, "jobctl queue: rename(\"%s\", \"%s\"): %s\n", from,
		    to, strerror(errno));
		rc = -1;
	} else {
		e->held = held;
		if (durable_fsync_dir(e->dir) == -1)
			fprintf(stderr, "jobctl queue: fsync(\"%s\"): %s\n", e->dir,
			    strerror(errno));
	}
	free(from);
	free(to);
	if (rc == -1)
		ctx->rc = 1;
	return rc;
}

static void
queue_admin_hold(struct queue_admin_ctx *ctx, struct queue_admin_entry *e)
{
	if (e->held)
		printf("already held %s\n", e->rel);
	else if (queue_admin_move(ctx, e, true) == 0)
		printf("held %s\n", e->rel);
}

static void
queue_admin_release(struct queue_admin_ctx *ctx, struct queue_admin_entry *e)
{
	if (!e->held) {
		printf("not held %s\n", e->rel);
	} else if (queue_admin_move(ctx, e, false) == 0) {
		printf("released %s\n", e->rel);
		fflush(stdout);
		queue_admin_announce(ctx, e);
	}
}

static void
queue_admin_retry(struct queue_admin_ctx *ctx, struct queue_admin_entry *e)
{
	if (e->held) {
		printf("not retried %s: held (release it)\n", e->rel);
		return;
	}
	printf("retry %s\n", e->rel);
	fflush(stdout);
	queue_admin_announce(ctx, e);
}

/* "from=<...> size=N rcpts=<a>,<b>": what is about to go (malloc'd). */
static char *
queue_admin_describe(const struct queue_admin_entry *e)
{
	struct queue_admin_read r;

	if (!queue_admin_read(e, 0, &r)) {
		char *s = xasprintf("(broken: %s)", r.error);
		queue_admin_read_clear(&r);
		return s;
	}
	char *s = xasprintf("from=<%s> size=%llu rcpts=", r.env.from,
	    (unsigned long long)r.env.size);
	for (size_t i = 0; i < r.env.nrcpts && i < QUEUE_ADMIN_DELETE_RCPTS; i++) {
		char *t = xasprintf("%s%s<%s>", s, i ? "," : "", r.env.rcpts[i].address);
		free(s);
		s = t;
	}
	if (r.env.nrcpts > QUEUE_ADMIN_DELETE_RCPTS) {
		char *t = xasprintf("%s,+%zu more", s,
		    r.env.nrcpts - QUEUE_ADMIN_DELETE_RCPTS);
		free(s);
		s = t;
	}
	queue_admin_read_clear(&r);
	return s;
}

/* Printed before the unlink: the operator keeps a record of it. */
static void
queue_admin_delete(struct queue_admin_ctx *ctx, struct queue_admin_entry *e)
{
	char *what = queue_admin_describe(e), *path = queue_admin_entry_path(e);

	printf("deleted %s%s %s\n", e->rel, e->held ? " (held)" : "", what);
	fflush(stdout);
	if (unlink(path) == -1) {
		fprintf(stderr, "jobctl queue: unlink(\"%s\"): %s: not deleted\n",
		    path, strerror(errno));
		ctx->rc = 1;
	} else if (durable_fsync_dir(e->dir) == -1) {
		fprintf(stderr, "jobctl queue: fsync(\"%s\"): %s\n", e->dir,
		    strerror(errno));
	}
	free(what);
	free(path);
}

/* ---- the command table ------------------------------------------------ */

typedef void queue_admin_action(struct queue_admin_ctx *,
    struct queue_admin_entry *);
typedef int queue_admin_reader(struct queue_admin_ctx *, int, char **);

struct queue_admin_cmd {
	const char *name;
	queue_admin_reader *read;       /* or */
	queue_admin_action *act;        /* on every entry named */
};

static const struct queue_admin_cmd queue_admin_cmds[] = {
	{ "list", queue_admin_list, NULL },
	{ "show", queue_admin_show, NULL },
	{ "counts", queue_admin_counts, NULL },
	{ "hold", NULL, queue_admin_hold },
	{ "release", NULL, queue_admin_release },
	{ "retry", NULL, queue_admin_retry },
	{ "delete", NULL, queue_admin_delete },
	{ NULL, NULL, NULL },
};

static int
queue_admin_act(struct queue_admin_ctx *ctx, const struct queue_admin_cmd *c,
    int argc, char **argv)
{
	if (queue_admin_select(ctx, argc, argv) == -1)
		return 2;
	for (size_t k = 0; k < ctx->scan.n; k++)
		if (ctx->selected[k])
			c->act(ctx, &ctx->scan.v[k]);
	return ctx->rc;
}

int
queue_admin_main(const struct jobctl_config *cfg, int argc, char **argv)
{
	struct queue_admin_ctx ctx = {
		.cfg = cfg, .now = time(NULL), .notify_fd = -1,
	};
	const struct queue_admin_cmd *c = queue_admin_cmds;

	if (argc < 1) {
		queue_admin_usage_msg("no command given", NULL);
		return 2;
	}
	while (c->name != NULL && strcmp(c->name, argv[0]) != 0)
		c++;
	if (c->name == NULL) {
		queue_admin_usage_msg("unknown command", argv[0]);
		return 2;
	}
	int rc = c->read ? c->read(&ctx, argc - 1, argv + 1) :
	    queue_admin_act(&ctx, c, argc - 1, argv + 1);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "jobctl queue: write(stdout): %s\n", strerror(errno));
		rc = rc == 2 ? 2 : 1;
	}
	if (ctx.notify_fd >= 0)
		close(ctx.notify_fd);
	free(ctx.selected);
	queue_admin_scan_free(&ctx.scan);
	return rc;
}
