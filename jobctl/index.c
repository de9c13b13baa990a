/*
 * index: what jobctl knows of the queue -- one small record per entry
 * (path, channel, times, attempts, class, size) and the channels with
 * their programs, pools and limits.  The queue files are the truth: the
 * index is rebuilt by a scan at start-up and every rescaninterval, and an
 * entry the mta announces is read at once.  An entry is a regular file
 * CHANNEL/ID or CHANNEL/SS/ID whose name is a queue ID (common/queue.h);
 * anything else there (a held entry, ID.held) is not scheduled.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "jobctl.h"
#include "log.h"
#include "queue_entry.h"
#include "xmalloc.h"

#define INDEX_BUCKETS 65536

static size_t
index_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

void
index_init(struct jc_index *ix, const struct jobctl_config *cfg)
{
	memset(ix, 0, sizeof(*ix));
	ix->cfg = cfg;
	ix->nbuckets = INDEX_BUCKETS;
	ix->buckets = xcalloc(ix->nbuckets, sizeof(*ix->buckets));
	ix->npools = (size_t)jobctl_conf_npools(cfg->jc);
	ix->pools = xcalloc(ix->npools + 1, sizeof(*ix->pools));
	for (size_t i = 0; i < ix->npools; i++) {
		const struct jobctl_pool *p = jobctl_conf_pool_at(cfg->jc, (int)i);
		snprintf(ix->pools[i].name, sizeof(ix->pools[i].name), "%s", p->name);
		ix->pools[i].limit = p->job_limit;
	}
	/* Without any [POOL=] section every channel shares one pool. */
	if (ix->npools == 0)
		snprintf(ix->pools[ix->npools++].name, JOBCTL_NAME_MAX + 1,
		    "DEFAULT");
}

void
index_clear(struct jc_index *ix)
{
	for (size_t b = 0; b < ix->nbuckets; b++)
		while (ix->buckets[b] != NULL) {
			struct jc_entry *e = ix->buckets[b];
			ix->buckets[b] = e->hnext;
			free(e->path);
			free(e);
		}
	while (ix->channels != NULL) {
		struct jc_channel *c = ix->channels;
		ix->channels = c->next;
		free(c->entries);
		free(c);
	}
	dest_clear(ix);
	free(ix->buckets);
	free(ix->pools);
	memset(ix, 0, sizeof(*ix));
}

static struct jc_pool *
index_pool(struct jc_index *ix, const char *name)
{
	for (size_t i = 0; name != NULL && i < ix->npools; i++)
		if (strcasecmp(ix->pools[i].name, name) == 0)
			return &ix->pools[i];
	return &ix->pools[0];   /* the first pool is the default */
}

struct jc_channel *
index_channel(struct jc_index *ix, const char *name)
{
	struct jc_channel *c;

	for (c = ix->channels; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	c = xcalloc(1, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ch = imta_conf_channel_by_name(ix->cfg->imta, name);
	c->prog = jobctl_conf_channel(ix->cfg->jc, name);
	if (c->prog != NULL && (c->prog->master_command == NULL ||
	    strcmp(c->prog->master_command, "NULL") == 0))
		c->prog = NULL;
	/* The seed's `slave`: only the receiving side (the mta) works the
	 * channel; nothing starts delivery of what is queued to it. */
	c->slave = c->ch != NULL && c->ch->kw.direction == IMTA_SLAVE;
	if (c->slave && c->prog != NULL) {
		log_info("channel %s is slave: its MASTER_COMMAND is not run",
		    name);
		c->prog = NULL;
	}
	c->pool = index_pool(ix, c->ch ? c->ch->kw.pool : NULL);
	/* The seed's default for maxjobs is 100; the pool's JOB_LIMIT
	 * usually binds first. */
	c->maxjobs = c->ch && c->ch->kw.maxjobs > 0 ? c->ch->kw.maxjobs :
	    JC_MAXJOBS_DEFAULT;
	c->next = ix->channels;
	ix->channels = c;
	return c;
}

struct jc_entry *
index_find(struct jc_index *ix, const char *path)
{
	struct jc_entry *e = ix->buckets[index_hash(path) % ix->nbuckets];

	while (e != NULL && strcmp(e->path, path) != 0)
		e = e->hnext;
	return e;
}

/* The envelope of the file at path (relative to the cwd: the queue root)
 * and the start of its message's header (*hdrlen bytes into hdr, at most
 * CLASS_HEADER_MAX); false (logged) when it cannot be read or parsed. */
static bool
index_read_envelope(const char *path, struct queue_env *env, char *hdr,
    size_t *hdrlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t body;
	char *err = NULL;
	bool ok;

	if (fd == -1) {
		if (errno != ENOENT)
			log_warn("open(\"%s\"): %s", path, strerror(errno));
		return false;
	}
	ok = queue_entry_envelope(fd, env, &body, &err);
	*hdrlen = ok ? class_read_header(fd, body, hdr, CLASS_HEADER_MAX) : 0;
	close(fd);
	if (!ok)
		log_warn("queue entry %s: %s", path, err ? err : "unreadable");
	free(err);
	return ok;
}

static void
index_channel_add(struct jc_channel *c, struct jc_entry *e)
{
	if (c->nentries == c->capentries) {
		c->capentries = c->capentries ? 2 * c->capentries : 64;
		c->entries = xrealloc(c->entries, c->capentries * sizeof(*c->entries));
	}
	e->slot = c->nentries;
	c->entries[c->nentries++] = e;
}

/* The entry at path, made (unread) when it is not indexed yet; NULL
 * when path is not an entry's. */
static struct jc_entry *
index_add(struct jc_index *ix, const char *path)
{
	const char *slash = strchr(path, '/'), *base = strrchr(path, '/');
	struct jc_entry *e = index_find(ix, path);
	char chan[QUEUE_CHANNEL_MAX + 1];

	if (e != NULL)
		return e;
	if (slash == NULL || !queue_id_valid(base + 1) ||
	    strlen(path) > CHANNEL_JOB_PATH_MAX ||
	    (size_t)(slash - path) > QUEUE_CHANNEL_MAX)
		return NULL;
	snprintf(chan, sizeof(chan), "%.*s", (int)(slash - path), path);
	e = xcalloc(1, sizeof(*e));
	e->path = xstrdup(path);
	e->id = strrchr(e->path, '/') + 1;
	e->chan = index_channel(ix, chan);
	size_t b = index_hash(path) % ix->nbuckets;
	e->hnext = ix->buckets[b];
	ix->buckets[b] = e;
	ix->nentries++;
	index_channel_add(e->chan, e);
	return e;
}

struct jc_entry *
index_load(struct jc_index *ix, const char *path)
{
	struct queue_env env = { 0 };
	struct jc_entry *e = index_find(ix, path);
	struct class_result cls;
	static char hdr[CLASS_HEADER_MAX];      /* the loop's only */
	size_t hdrlen;

	if (!index_read_envelope(path, &env, hdr, &hdrlen) || (e == NULL &&
	    (e = index_add(ix, path)) == NULL)) {
		if (e != NULL && e->job == NULL)
			index_remove(ix, e);
		queue_env_clear(&env);
		return NULL;
	}
	e->created = env.created;
	e->retry = env.retry;
	e->attempts = env.attempts;
	e->size = env.size;
	class_of(hdr, hdrlen, env.priority, env.size,
	    e->chan->ch ? &e->chan->ch->kw : NULL, time(NULL), &cls);
	e->priority = cls.priority;
	e->periodic = cls.periodic;
	e->not_before = cls.not_before;
	dest_set(ix, e, &env);
	e->seen = e->loaded = true;
	queue_env_clear(&env);
	return e;
}

bool
index_load_some(struct jc_index *ix, struct jc_channel *c, size_t max)
{
	char **paths = xcalloc(max + 1, sizeof(*paths));
	size_t n = 0;
	bool more = false;

	/* Paths by value: a load may remove an entry (its file is gone). */
	for (size_t i = 0; i < c->nentries; i++) {
		struct jc_entry *e = c->entries[i];
		if (e->loaded || e->job != NULL)
			continue;
		if (n == max) {
			more = true;
			break;
		}
		paths[n++] = xstrdup(e->path);
	}
	for (size_t i = 0; i < n; i++) {
		(void)index_load(ix, paths[i]);
		free(paths[i]);
	}
	free(paths);
	return more;
}

void
index_remove(struct jc_index *ix, struct jc_entry *e)
{
	struct jc_entry **p = &ix->buckets[index_hash(e->path) % ix->nbuckets];
	struct jc_channel *c = e->chan;

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	c->entries[e->slot] = c->entries[--c->nentries];
	c->entries[e->slot]->slot = e->slot;
	ix->nentries--;
	dest_put(ix, &e->dest);
	free(e->path);
	free(e);
}

/* Index every entry file of one directory (a channel's or its SS). */
static void
index_scan_dir(struct jc_index *ix, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[CHANNEL_JOB_PATH_MAX + 1];
		if (de->d_name[0] == '.' || (size_t)snprintf(path, sizeof(path),
		    "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		if (depth == 0 && strlen(de->d_name) == 2 &&
		    de->d_type == DT_DIR)
			index_scan_dir(ix, path, 1);
		else if (queue_id_valid(de->d_name)) {
			struct jc_entry *e = index_add(ix, path);
			if (e != NULL)
				e->seen = true;
		}
	}
	closedir(d);
}

size_t
index_scan(struct jc_index *ix)
{
	DIR *d = opendir(".");
	struct dirent *de;

	for (size_t b = 0; b < ix->nbuckets; b++)
		for (struct jc_entry *e = ix->buckets[b]; e != NULL; e = e->hnext)
			e->seen = false;
	if (d == NULL) {
		log_err("opendir(queue root): %s", strerror(errno));
		return ix->nentries;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strcmp(de->d_name, "tmp") != 0 &&
		    de->d_type == DT_DIR && queue_channel_valid(de->d_name))
			index_scan_dir(ix, de->d_name, 0);
	closedir(d);
	/* What the scan did not find is gone (delivered by a job we lost,
	 * deleted or held by the operator). */
	for (size_t b = 0; b < ix->nbuckets; b++)
		for (struct jc_entry *e = ix->buckets[b], *next; e != NULL; e = next) {
			next = e->hnext;
			if (!e->seen && e->job == NULL)
				index_remove(ix, e);
		}
	return ix->nentries;
}
