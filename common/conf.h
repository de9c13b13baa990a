/*
 * conf: msg.conf, the one configuration file of a host.
 *
 * Syntax: one "key = value" per line, '#' starts a comment line, blank lines
 * ignored, keys in the seed's configutil dotted style (service.lmtp.port).
 * One file can serve every daemon of a host: each daemon passes the table of
 * keys it knows and the namespaces it owns; an unknown key inside an owned
 * namespace, a malformed value or a duplicate key is an error reported as
 * "file:line: ..."; keys of other namespaces are ignored.
 *
 * After conf_check() succeeds the typed getters cannot fail: values were
 * validated and absent keys take the table's default.
 */
#ifndef COMMON_CONF_H
#define COMMON_CONF_H

#include <stdbool.h>
#include <stdint.h>

enum conf_type {
	CONF_STR,       /* any text */
	CONF_INT,       /* decimal integer, may be negative */
	CONF_BOOL,      /* yes/no, on/off, true/false, 1/0 */
	CONF_SIZE,      /* bytes, with optional k/m/g suffix (1024-based) */
	CONF_DURATION,  /* ISO 8601 duration (pt30m, p7d) or plain seconds */
	CONF_LIST,      /* words separated by commas and/or spaces */
};

/* A key the daemon knows.  A '*' segment matches one word
 * (store.partition.*.path). */
struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def;        /* default as text; NULL: none */
	const char *help;       /* one line, used by -t errors */
};

struct conf;

/* Read and parse path; on error returns NULL and a message in *err. */
struct conf *conf_load(const char *path, char **err);
/* Parse text held in memory (tests); name is used in messages. */
struct conf *conf_parse(const char *name, const char *text, char **err);
void conf_free(struct conf **conf);

/*
 * Validate against the daemon's keys; namespaces is a NULL-terminated list
 * of prefixes ("store.", "service.lmtp.") this daemon owns.  Returns the
 * number of errors; each is a line "file:line: message\n" appended to *errs
 * (allocated; free it).
 */
int conf_check(struct conf *conf, const struct conf_key *keys,
    const char *const *namespaces, char **errs);

/* Typed getters: the value in the file, else the table's default. */
const char *conf_str(const struct conf *conf, const char *key);
long long conf_int(const struct conf *conf, const char *key);
bool conf_bool(const struct conf *conf, const char *key);
uint64_t conf_size(const struct conf *conf, const char *key);
/* Seconds. */
long long conf_duration(const struct conf *conf, const char *key);
/* Split a CONF_LIST value; returns a NULL-terminated array to free with
 * conf_list_free(); *n gets the count. */
char **conf_list(const struct conf *conf, const char *key, int *n);
void conf_list_free(char **list);

/* Call fn for each key in the file that starts with prefix, in file order. */
void conf_each(const struct conf *conf, const char *prefix,
    void (*fn)(void *arg, const char *key, const char *value), void *arg);

/* Value parsers, shared with other configuration readers. */
bool conf_parse_bool(const char *s, bool *out);
bool conf_parse_size(const char *s, uint64_t *out);
bool conf_parse_int(const char *s, long long *out);

#endif
