/*
 * conf: parser and validator for msg.conf (see conf.h).
 *
 * The file is read whole (capped at CONF_MAX_BYTES) into a list of entries
 * that remember their line number; validation runs against the daemon's key
 * table and keeps a pointer to it for the defaults.  Nothing here is on a
 * serving path: configuration is read at start and on SIGHUP.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "xmalloc.h"

#define CONF_MAX_BYTES (4 * 1024 * 1024)
#define CONF_MAX_LINE  8192

struct conf_entry {
	char *key;
	char *value;
	int line;
};

struct conf {
	char *name;
	struct conf_entry *entries;
	int n, cap;
	const struct conf_key *keys;
};

static void
conf_errf(char **errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
conf_errf(char **errs, const char *fmt, ...)
{
	va_list ap;
	char *line, *joined;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	joined = xasprintf("%s%s\n", *errs ? *errs : "", line ? line : "?");
	free(line);
	free(*errs);
	*errs = joined;
}

static char *
conf_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool
conf_valid_key(const char *k)
{
	if (*k == '\0')
		return false;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && strchr("._-", *k) == NULL)
			return false;
	return true;
}

static void
conf_add(struct conf *c, const char *key, const char *value, int line)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->entries = xrealloc(c->entries, (size_t)c->cap * sizeof(*c->entries));
	}
	c->entries[c->n].key = xstrdup(key);
	c->entries[c->n].value = xstrdup(value);
	c->entries[c->n].line = line;
	for (char *p = c->entries[c->n].key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	c->n++;
}

static struct conf_entry *
conf_find(const struct conf *c, const char *key)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].key, key) == 0)
			return &c->entries[i];
	return NULL;
}

static bool
conf_parse_line(struct conf *c, char *line, int lineno, char **err)
{
	char *s = conf_trim(line);

	if (*s == '\0' || *s == '#')
		return true;
	char *eq = strchr(s, '=');
	if (eq == NULL) {
		conf_errf(err, "%s:%d: expected \"key = value\"", c->name, lineno);
		return false;
	}
	*eq = '\0';
	char *key = conf_trim(s), *value = conf_trim(eq + 1);
	/* Keys are stored folded: a duplicate may differ only in case. */
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!conf_valid_key(key)) {
		conf_errf(err, "%s:%d: malformed key \"%s\"", c->name, lineno, key);
		return false;
	}
	struct conf_entry *dup = conf_find(c, key);
	if (dup != NULL) {
		conf_errf(err, "%s:%d: duplicate key %s (first at line %d)",
		    c->name, lineno, key, dup->line);
		return false;
	}
	conf_add(c, key, value, lineno);
	return true;
}

struct conf *
conf_parse(const char *name, const char *text, char **err)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	char line[CONF_MAX_LINE];
	int lineno = 0;
	bool ok = true;

	c->name = xstrdup(name);
	*err = NULL;
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		lineno++;
		if (len >= sizeof(line)) {
			conf_errf(err, "%s:%d: line longer than %d bytes", name,
			    lineno, CONF_MAX_LINE - 1);
			ok = false;
		} else {
			memcpy(line, text, len);
			line[len] = '\0';
			ok = conf_parse_line(c, line, lineno, err) && ok;
		}
		text += len + (nl != NULL);
	}
	if (!ok)
		conf_free(&c);
	return c;
}

struct conf *
conf_load(const char *path, char **err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t len;

	*err = NULL;
	if (f == NULL) {
		conf_errf(err, "open(\"%s\"): %s", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(CONF_MAX_BYTES + 1);
	len = fread(buf, 1, CONF_MAX_BYTES + 1, f);
	fclose(f);
	if (len > CONF_MAX_BYTES) {
		conf_errf(err, "%s: larger than %d bytes", path, CONF_MAX_BYTES);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	struct conf *c = conf_parse(path, buf, err);
	free(buf);
	return c;
}

void
conf_free(struct conf **cp)
{
	struct conf *c = *cp;

	if (c == NULL)
		return;
	for (int i = 0; i < c->n; i++) {
		free(c->entries[i].key);
		free(c->entries[i].value);
	}
	free(c->entries);
	free(c->name);
	free(c);
	*cp = NULL;
}

/* Does key match pattern, where a '*' pattern segment matches one segment? */
static bool
conf_key_match(const char *pattern, const char *key)
{
	while (*pattern && *key) {
		if (*pattern == '*') {
			/* One word: at least one character, no dot. */
			if (*key == '.')
				return false;
			pattern++;
			while (*key && *key != '.')
				key++;
			continue;
		}
		if (*pattern++ != *key++)
			return false;
	}
	return *pattern == '\0' && *key == '\0';
}

static const struct conf_key *
conf_key_lookup(const struct conf_key *keys, const char *key)
{
	for (; keys != NULL && keys->name != NULL; keys++)
		if (conf_key_match(keys->name, key))
			return keys;
	return NULL;
}

bool
conf_parse_int(const char *s, long long *out)
{
	char *end;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*out = v;
	return true;
}

bool
conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "on", "true", "1" };
	static const char *const no[] = { "no", "off", "false", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

bool
conf_parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': mult = 1ULL << 10; end++; break;
	case 'm': mult = 1ULL << 20; end++; break;
	case 'g': mult = 1ULL << 30; end++; break;
	default: return false;
	}
	if (*end != '\0' || v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static bool
conf_value_ok(enum conf_type type, const char *v)
{
	long long ll;
	bool b;
	uint64_t u;

	switch (type) {
	case CONF_STR:
	case CONF_LIST:
		return true;
	case CONF_INT:
		return conf_parse_int(v, &ll);
	case CONF_BOOL:
		return conf_parse_bool(v, &b);
	case CONF_SIZE:
		return conf_parse_size(v, &u);
	case CONF_DURATION:
		return duration_parse(v, &ll);
	}
	return false;
}

static bool
conf_owned(const char *key, const char *const *namespaces)
{
	for (; *namespaces != NULL; namespaces++)
		if (strncmp(key, *namespaces, strlen(*namespaces)) == 0)
			return true;
	return false;
}

int
conf_check(struct conf *c, const struct conf_key *keys,
    const char *const *namespaces, char **errs)
{
	static const char *const type_names[] = { "text", "an integer",
		"yes or no", "a size (bytes, k, m, g)", "an ISO 8601 duration",
		"a list" };
	int nerr = 0;

	*errs = NULL;
	c->keys = keys;
	for (int i = 0; i < c->n; i++) {
		const struct conf_entry *e = &c->entries[i];
		const struct conf_key *k = conf_key_lookup(keys, e->key);
		if (k == NULL) {
			if (conf_owned(e->key, namespaces)) {
				conf_errf(errs, "%s:%d: unknown key %s", c->name,
				    e->line, e->key);
				nerr++;
			}
			continue;
		}
		if (!conf_value_ok(k->type, e->value)) {
			conf_errf(errs, "%s:%d: %s: \"%s\" is not %s", c->name,
			    e->line, e->key, e->value, type_names[k->type]);
			nerr++;
		}
	}
	return nerr;
}

static const char *
conf_raw(const struct conf *c, const char *key)
{
	const struct conf_entry *e = conf_find(c, key);
	if (e != NULL)
		return e->value;
	const struct conf_key *k = conf_key_lookup(c->keys, key);
	return k != NULL ? k->def : NULL;
}

const char *
conf_str(const struct conf *c, const char *key)
{
	return conf_raw(c, key);
}

long long
conf_int(const struct conf *c, const char *key)
{
	const char *v = conf_raw(c, key);
	long long n = 0;

	if (v != NULL)
		(void)conf_parse_int(v, &n);
	return n;
}

bool
conf_bool(const struct conf *c, const char *key)
{
	const char *v = conf_raw(c, key);
	bool b = false;

	if (v != NULL)
		(void)conf_parse_bool(v, &b);
	return b;
}

uint64_t
conf_size(const struct conf *c, const char *key)
{
	const char *v = conf_raw(c, key);
	uint64_t n = 0;

	if (v != NULL)
		(void)conf_parse_size(v, &n);
	return n;
}

long long
conf_duration(const struct conf *c, const char *key)
{
	const char *v = conf_raw(c, key);
	long long n = 0;

	if (v != NULL)
		(void)duration_parse(v, &n);
	return n;
}

char **
conf_list(const struct conf *c, const char *key, int *n)
{
	const char *v = conf_raw(c, key);
	char *copy = xstrdup(v ? v : ""), *save = NULL;
	char **out = xcalloc(strlen(copy) / 2 + 2, sizeof(*out));
	int count = 0;

	for (char *w = strtok_r(copy, ", \t", &save); w != NULL;
	    w = strtok_r(NULL, ", \t", &save))
		out[count++] = xstrdup(w);
	free(copy);
	if (n != NULL)
		*n = count;
	return out;
}

void
conf_list_free(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

void
conf_each(const struct conf *c, const char *prefix,
    void (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	size_t plen = strlen(prefix);

	for (int i = 0; i < c->n; i++)
		if (strncmp(c->entries[i].key, prefix, plen) == 0)
			fn(arg, c->entries[i].key, c->entries[i].value);
}
