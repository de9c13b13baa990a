/*
 * jobctl_conf: parser of job_controller.cnf (see jobctl_conf.h).
 *
 *   file     = *( option LF ) *( section )
 *   section  = "[" ( "POOL" / "CHANNEL" ) "=" name "]" LF *( option LF )
 *   option   = key "=" value                ; keys case-insensitive
 *
 * Which keys a section takes is a table (jobctl_keys), not code.
 */
#include "jobctl_conf.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cnf_lines.h"
#include "xmalloc.h"

enum jsec { J_GLOBAL = 1, J_POOL = 2, J_CHANNEL = 4 };
enum jtype { J_INT, J_STR, J_PATH };

struct jobctl_key {
	const char *name;
	enum jsec where;
	enum jtype type;
	size_t off;
	long min, max;
};

#define G(f) offsetof(struct jobctl_globals, f)
#define P(f) offsetof(struct jobctl_pool, f)
#define C(f) offsetof(struct jobctl_channel, f)

static const struct jobctl_key jobctl_keys[] = {
	{ "TCP_PORT", J_GLOBAL, J_INT, G(tcp_port), 1, 65535 },
	{ "INTERFACE_ADDRESS", J_GLOBAL, J_STR, G(interface_address), 0, 0 },
	{ "MAX_MESSAGES", J_GLOBAL, J_INT, G(max_messages), 1, 10000000 },
	{ "DEBUG", J_GLOBAL, J_INT, G(debug), 0, 255 },
	{ "SLAVE_COMMAND", J_GLOBAL, J_PATH, G(slave_command), 0, 0 },
	{ "JOB_LIMIT", J_POOL, J_INT, P(job_limit), 1, 10000 },
	{ "MASTER_COMMAND", J_CHANNEL, J_PATH, C(master_command), 0, 0 },
	{ "SLAVE_COMMAND", J_CHANNEL, J_PATH, C(slave_command), 0, 0 },
	{ "MAX_LIFE_AGE", J_CHANNEL, J_INT, C(max_life_age), 1, 86400 * 7 },
	{ "MAX_LIFE_CONNS", J_CHANNEL, J_INT, C(max_life_conns), 1, 1000000 },
};
#define NKEYS ((int)(sizeof jobctl_keys / sizeof jobctl_keys[0]))

struct jobctl_conf {
	struct jobctl_globals g;
	struct jobctl_pool *pools;
	int npools;
	struct jobctl_channel *channels;
	int nchannels;
	struct cnf_lines lines;
};

struct jparse {
	struct jobctl_conf *c;
	char **errs;
	enum jsec sec;          /* 0: a broken section, its options skipped */
	unsigned char seen[16]; /* keys given in the current section */
};

#define ERR(p, l, ...) cnf_errf(&(p)->c->lines.nerrors, (p)->errs, (l)->file, (l)->line, __VA_ARGS__)

static char *
jtrim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static bool
jvalid_name(const char *s, bool wild)
{
	size_t n = strlen(s);
	if (n == 0 || n > JOBCTL_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' &&
		    !(wild && (*s == '*' || *s == '%')))
			return false;
	return true;
}

static void *
jsection_new(struct jparse *p, const struct cnf_line *l, bool pool,
    const char *name)
{
	struct jobctl_conf *c = p->c;
	if (pool) {
		if (jobctl_conf_pool(c, name) != NULL)
			return ERR(p, l, "pool %s is defined twice", name), NULL;
		if (c->npools == JOBCTL_POOLS_MAX)
			return ERR(p, l, "more than %d pools", JOBCTL_POOLS_MAX), NULL;
		c->pools = xrealloc(c->pools, (c->npools + 1) * sizeof *c->pools);
		c->pools[c->npools] = (struct jobctl_pool){ xstrdup(name), 0,
			l->file, l->line };
		return &c->pools[c->npools++];
	}
	for (int i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i].pattern, name) == 0)
			return ERR(p, l, "channel section %s is defined twice", name), NULL;
	if (c->nchannels == JOBCTL_CHANNELS_MAX)
		return ERR(p, l, "more than %d channel sections", JOBCTL_CHANNELS_MAX), NULL;
	c->channels = xrealloc(c->channels, (c->nchannels + 1) * sizeof *c->channels);
	c->channels[c->nchannels] = (struct jobctl_channel){ .pattern = xstrdup(name),
		.file = l->file, .line = l->line };
	return &c->channels[c->nchannels++];
}

/* "[POOL=name]" or "[CHANNEL=name]".  The arrays grow, so the struct an
 * option lands in is found again for each option (jtarget). */
static void
jsection(struct jparse *p, const struct cnf_line *l, char *text)
{
	size_t n = strlen(text);
	char *eq = strchr(text, '=');
	memset(p->seen, 0, sizeof p->seen);
	p->sec = 0;
	if (text[n - 1] != ']' || eq == NULL) {
		ERR(p, l, "a section is [POOL=name] or [CHANNEL=name]");
		return;
	}
	text[n - 1] = '\0';
	*eq = '\0';
	char *kind = jtrim(text + 1), *name = jtrim(eq + 1);
	bool pool = strcasecmp(kind, "POOL") == 0;
	if (!pool && strcasecmp(kind, "CHANNEL") != 0)
		ERR(p, l, "unknown section [%s=...] (POOL or CHANNEL)", kind);
	else if (!jvalid_name(name, !pool))
		ERR(p, l, "\"%s\" is not a %s name", name, pool ? "pool" : "channel");
	else if (jsection_new(p, l, pool, name) != NULL)
		p->sec = pool ? J_POOL : J_CHANNEL;
}

static void *
jtarget(struct jparse *p)
{
	if (p->sec == J_GLOBAL)
		return &p->c->g;
	if (p->sec == J_POOL)
		return &p->c->pools[p->c->npools - 1];
	return &p->c->channels[p->c->nchannels - 1];
}

static void
jvalue(struct jparse *p, const struct cnf_line *l, const struct jobctl_key *k,
    const char *v)
{
	char *end;
	char *base = jtarget(p);
	if (k->type == J_INT) {
		long n = strtol(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || n < k->min || n > k->max)
			ERR(p, l, "%s: \"%s\" is not a number in %ld-%ld", k->name, v,
			    k->min, k->max);
		else
			*(int *)(base + k->off) = (int)n;
		return;
	}
	if (*v == '\0' || (k->type == J_PATH && *v != '/' && strcmp(v, "NULL") != 0)) {
		ERR(p, l, "%s: \"%s\" is not %s", k->name, v,
		    k->type == J_PATH ? "an absolute path (or NULL)" : "a value");
		return;
	}
	*(char **)(base + k->off) = xstrdup(v);
}

static void
joption(struct jparse *p, const struct cnf_line *l, char *text)
{
	char *eq = strchr(text, '=');
	static const char *secnames[] = { "", "global", "[POOL]", "", "[CHANNEL]" };
	if (p->sec == 0)
		return;
	if (eq == NULL) {
		ERR(p, l, "an option is KEY=value");
		return;
	}
	*eq = '\0';
	char *key = jtrim(text), *value = jtrim(eq + 1);
	for (int i = 0; i < NKEYS; i++) {
		const struct jobctl_key *k = &jobctl_keys[i];
		if (strcasecmp(k->name, key) != 0 || !(k->where & p->sec))
			continue;
		if (p->seen[i]++)
			ERR(p, l, "%s given twice in this section", k->name);
		else
			jvalue(p, l, k, value);
		return;
	}
	for (int i = 0; i < NKEYS; i++)
		if (strcasecmp(jobctl_keys[i].name, key) == 0) {
			ERR(p, l, "%s is not a %s option", jobctl_keys[i].name,
			    secnames[p->sec]);
			return;
		}
	ERR(p, l, "unknown option %s", key);
}

static struct jobctl_conf *
jfinish(struct jobctl_conf *c, char **errs)
{
	struct jparse p = { c, errs, J_GLOBAL, { 0 } };
	int n = c->lines.nerrors == 0 ? c->lines.n : 0;
	for (int i = 0; i < n; i++) {
		const struct cnf_line *l = &c->lines.v[i];
		char *text = xstrdup(l->text), *t = jtrim(text);
		if (*t == '[')
			jsection(&p, l, t);
		else if (*t != '\0')
			joption(&p, l, t);
		free(text);
	}
	if (c->lines.nerrors > 0)
		jobctl_conf_free(&c);
	return c;
}

struct jobctl_conf *
jobctl_conf_load(const char *path, char **errs)
{
	struct jobctl_conf *c = xcalloc(1, sizeof *c);
	cnf_lines_load(&c->lines, path, errs);
	return jfinish(c, errs);
}

struct jobctl_conf *
jobctl_conf_parse(const char *name, const char *text, char **errs)
{
	struct jobctl_conf *c = xcalloc(1, sizeof *c);
	cnf_lines_parse(&c->lines, name, text, errs);
	return jfinish(c, errs);
}

void
jobctl_conf_free(struct jobctl_conf **cp)
{
	struct jobctl_conf *c = *cp;
	if (c == NULL)
		return;
	free(c->g.interface_address);
	free(c->g.slave_command);
	for (int i = 0; i < c->npools; i++)
		free(c->pools[i].name);
	for (int i = 0; i < c->nchannels; i++) {
		free(c->channels[i].pattern);
		free(c->channels[i].master_command);
		free(c->channels[i].slave_command);
	}
	free(c->pools);
	free(c->channels);
	cnf_lines_free(&c->lines);
	free(c);
	*cp = NULL;
}

const struct jobctl_globals *
jobctl_conf_globals(const struct jobctl_conf *c)
{
	return &c->g;
}

int
jobctl_conf_npools(const struct jobctl_conf *c)
{
	return c->npools;
}

const struct jobctl_pool *
jobctl_conf_pool_at(const struct jobctl_conf *c, int i)
{
	return i >= 0 && i < c->npools ? &c->pools[i] : NULL;
}

const struct jobctl_pool *
jobctl_conf_pool(const struct jobctl_conf *c, const char *name)
{
	if (name == NULL)
		return c->npools ? &c->pools[0] : NULL;
	for (int i = 0; i < c->npools; i++)
		if (strcasecmp(c->pools[i].name, name) == 0)
			return &c->pools[i];
	return NULL;
}

int
jobctl_conf_nchannels(const struct jobctl_conf *c)
{
	return c->nchannels;
}

const struct jobctl_channel *
jobctl_conf_channel_at(const struct jobctl_conf *c, int i)
{
	return i >= 0 && i < c->nchannels ? &c->channels[i] : NULL;
}

/* "%" is the seed's one-character wildcard; fnmatch spells it "?". */
static bool
jmatch(const char *pattern, const char *name)
{
	char buf[JOBCTL_NAME_MAX + 1];
	size_t i;
	for (i = 0; pattern[i] && i < JOBCTL_NAME_MAX; i++)
		buf[i] = pattern[i] == '%' ? '?' : pattern[i];
	buf[i] = '\0';
	return fnmatch(buf, name, 0) == 0;
}

const struct jobctl_channel *
jobctl_conf_channel(const struct jobctl_conf *c, const char *channel)
{
	for (int i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i].pattern, channel) == 0)
			return &c->channels[i];
	for (int i = 0; i < c->nchannels; i++)
		if (jmatch(c->channels[i].pattern, channel))
			return &c->channels[i];
	return NULL;
}

void
jobctl_conf_dump(const struct jobctl_conf *c, FILE *out)
{
	const struct jobctl_globals *g = &c->g;
	if (g->tcp_port)
		fprintf(out, "TCP_PORT=%d\n", g->tcp_port);
	if (g->interface_address)
		fprintf(out, "INTERFACE_ADDRESS=%s\n", g->interface_address);
	if (g->max_messages)
		fprintf(out, "MAX_MESSAGES=%d\n", g->max_messages);
	if (g->debug)
		fprintf(out, "DEBUG=%d\n", g->debug);
	if (g->slave_command)
		fprintf(out, "SLAVE_COMMAND=%s\n", g->slave_command);
	for (int i = 0; i < c->npools; i++) {
		fprintf(out, "[POOL=%s]\n", c->pools[i].name);
		if (c->pools[i].job_limit)
			fprintf(out, "JOB_LIMIT=%d\n", c->pools[i].job_limit);
	}
	for (int i = 0; i < c->nchannels; i++) {
		const struct jobctl_channel *ch = &c->channels[i];
		fprintf(out, "[CHANNEL=%s]\n", ch->pattern);
		if (ch->master_command)
			fprintf(out, "MASTER_COMMAND=%s\n", ch->master_command);
		if (ch->slave_command)
			fprintf(out, "SLAVE_COMMAND=%s\n", ch->slave_command);
		if (ch->max_life_age)
			fprintf(out, "MAX_LIFE_AGE=%d\n", ch->max_life_age);
		if (ch->max_life_conns)
			fprintf(out, "MAX_LIFE_CONNS=%d\n", ch->max_life_conns);
	}
}
