/*
 * mappings: parser of the mappings file (see mappings.h for the pattern
 * and template language; the engine is in mappings_match.c).
 *
 *   mappings  = *( table )
 *   table     = name LF *blank-line 1*( entry LF ) [ blank-line ]
 *   name      = 1*( ALPHA / DIGIT / "_" / "-" / "." )     ; column 1, unique
 *   entry     = 1*WSP pattern [ 1*WSP template ]           ; "$ " is a space
 *
 * A blank line ends a table; an indented line after it is an error (no
 * blank lines inside a table).  Templates are checked after every table is
 * read, so that $|TABLE;arg| can name a later table.
 */
#include "mappings_private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

struct mappings_parse {
	struct mappings *m;
	char **errs;
	int *nerrors;
};

#define ERR(p, file, line, ...) cnf_errf((p)->nerrors, (p)->errs, file, line, __VA_ARGS__)

static bool
mappings_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAPPINGS_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-.", *s))
			return false;
	return true;
}

const struct mappings_table *
mappings_table_find(const struct mappings *m, const char *name)
{
	for (int i = 0; i < m->ntables; i++)
		if (strcasecmp(m->tables[i].name, name) == 0)
			return &m->tables[i];
	return NULL;
}

bool
mappings_subnet_parse(const char *s, size_t len, bool v6,
    unsigned char addr[16], int *bits)
{
	char buf[64];
	if (len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	int max = v6 ? 128 : 32;
	*bits = max;
	if (slash) {
		char *end;
		*slash = '\0';
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max)
			return false;
		*bits = (int)b;
	}
	return inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) == 1;
}

/* One "$x" of a pattern at p (p[0] == '$'); advances *pp, counts
 * captures.  Returns NULL or an error. */
static char *
pattern_escape(const char **pp, int *ncaps, bool *capture)
{
	const char *p = *pp;
	char c = p[1];
	unsigned char addr[16];
	int bits;

	*pp = p + 2;
	if (c == '_' || (c != '\0' && strchr("$*% ", c) != NULL))
		return NULL;
	if (c == '@' || c == '^') {
		*capture = c == '^';
		return NULL;
	}
	if (c == '(' || c == '{') {
		const char *e = strchr(p, c == '(' ? ')' : '}');
		if (e == NULL || !mappings_subnet_parse(p + 2, e - p - 2, c == '{',
		    addr, &bits))
			return xasprintf("bad subnet \"%.*s\"",
			    e ? (int)(e - p + 1) : (int)strlen(p), p);
		*pp = e + 1;
		*ncaps += *capture;
		return NULL;
	}
	if (isdigit((unsigned char)c) && p[2] == '*') {
		*pp = p + 3;
		return c - '0' < *ncaps ? NULL :
		    xasprintf("\"$%c*\" refers to a wildcard not yet seen", c);
	}
	if ((c == ':' || c == ';') && p[2] && strchr("ATELatel", p[2])) {
		*pp = p + 3;
		return NULL;
	}
	return xasprintf("unknown pattern escape \"$%c\"", c ? c : ' ');
}

static char *
pattern_check(const char *p, int *ncaps)
{
	bool capture = true;
	*ncaps = 0;
	while (*p) {
		if (*p == '$') {
			char *err = pattern_escape(&p, ncaps, &capture);
			if (err)
				return err;
		} else {
			if (*p == '*' || *p == '%')
				*ncaps += capture;
			p++;
		}
	}
	return NULL;
}

static char *template_check(const struct mappings *m, const char *t,
    size_t len, int ncaps, int depth);

/* "$|TABLE;arg|" at t (t[0] == '$'): returns the end or NULL with *err. */
static const char *
template_apply_check(const struct mappings *m, const char *t, const char *end,
    int ncaps, int depth, char **err)
{
	const char *semi = memchr(t + 2, ';', end - t - 2), *close;
	for (close = semi; close && close < end && *close != '|'; close++)
		if (*close == '$' && close + 1 < end)
			close++;
	if (semi == NULL || close == NULL || close >= end) {
		*err = xstrdup("unterminated \"$|TABLE;argument|\"");
		return NULL;
	}
	char *name = xstrndup(t + 2, semi - t - 2);
	if (mappings_table_find(m, name) == NULL)
		*err = xasprintf("\"$|%s;...|\": no table %s", name, name);
	else
		*err = template_check(m, semi + 1, close - semi - 1, ncaps, depth + 1);
	free(name);
	return *err ? NULL : close + 1;
}

static const char *
template_lookup_end(const char *t, const char *end, char open, char close)
{
	int level = 0;
	for (t += 2; t < end; t++) {
		if (*t == '$' && t + 1 < end && t[1] == open) {
			level++;
			t++;
		} else if (*t == close && level-- == 0)
			return t + 1;
		else if (*t == '$' && t + 1 < end)
			t++;
	}
	return NULL;
}

static char *
template_check(const struct mappings *m, const char *t, size_t len, int ncaps,
    int depth)
{
	const char *end = t + len;
	char *err = NULL;

	if (depth > MAPPINGS_NESTING_MAX)
		return xstrdup("\"$|...|\" nested too deep");
	while (t < end) {
		if (*t != '$') {
			t++;
			continue;
		}
		char c = t + 1 < end ? (char)toupper((unsigned char)t[1]) : '\0';
		if (isdigit((unsigned char)c)) {
			if (c - '0' >= ncaps)
				return xasprintf("\"$%c\" but the pattern has %d wildcard%s",
				    c, ncaps, ncaps == 1 ? "" : "s");
			t += 2;
		} else if (c && strchr("$*% \\^_YNFBHIJKECLR", c)) {
			t += 2;
		} else if (c == 'D') {
			t += 2;
			if (t < end && *t == '-')
				t++;
			if (t >= end || !isdigit((unsigned char)*t))
				return xstrdup("\"$D\" needs a number (hundredths of a second)");
			while (t < end && isdigit((unsigned char)*t))
				t++;
		} else if (c == '|') {
			if ((t = template_apply_check(m, t, end, ncaps, depth, &err)) == NULL)
				return err;
		} else if (c == '{' || c == ']') {
			if ((t = template_lookup_end(t, end, c, c == '{' ? '}' : '[')) == NULL)
				return xasprintf("unterminated lookup \"$%c\"", c);
		} else
			return xasprintf("unknown template flag \"$%c\"", c ? t[1] : ' ');
	}
	return NULL;
}

static void
entry_add(struct mappings_parse *p, struct mappings_table *t,
    const struct cnf_line *l)
{
	char *text = xstrdup(l->text), *cur = text, *err;
	char *pat = cnf_word(&cur), *tmpl = cnf_word(&cur);
	int ncaps;

	t->nlines++;
	if (cnf_word(&cur) != NULL)
		ERR(p, l->file, l->line, "%s: an entry is \"pattern template\" "
		    "(write a space in either as \"$ \")", t->name);
	else if ((err = pattern_check(pat, &ncaps)) != NULL) {
		ERR(p, l->file, l->line, "%s: pattern \"%s\": %s", t->name, pat, err);
		free(err);
	} else if (t->n == MAPPINGS_ENTRIES_MAX)
		ERR(p, l->file, l->line, "%s: more than %d entries", t->name,
		    MAPPINGS_ENTRIES_MAX);
	else {
		t->v = xrealloc(t->v, (t->n + 1) * sizeof *t->v);
		t->v[t->n++] = (struct mappings_entry){ xstrdup(pat),
			xstrdup(tmpl ? tmpl : ""), ncaps, l->file, l->line };
	}
	free(text);
}

static struct mappings_table *
table_add(struct mappings_parse *p, const struct cnf_line *l)
{
	struct mappings *m = p->m;
	char *text = xstrdup(l->text), *cur = text;
	char *name = cnf_word(&cur);
	struct mappings_table *t = NULL;

	if (cnf_word(&cur) != NULL || !mappings_valid_name(name))
		ERR(p, l->file, l->line, "\"%s\" is not a table name (entries are "
		    "indented)", l->text);
	else if (mappings_table_find(m, name) != NULL)
		ERR(p, l->file, l->line, "table %s is defined twice", name);
	else if (m->ntables == MAPPINGS_TABLES_MAX)
		ERR(p, l->file, l->line, "more than %d tables", MAPPINGS_TABLES_MAX);
	else {
		m->tables = xrealloc(m->tables, (m->ntables + 1) * sizeof *m->tables);
		t = &m->tables[m->ntables++];
		*t = (struct mappings_table){ xstrdup(name), NULL, 0, 0, l->file,
			l->line };
	}
	free(text);
	return t;
}

/* The lines into tables: a column-1 name opens a table, indented lines
 * are its entries, a blank line after entries closes it. */
static void
mappings_tables(struct mappings_parse *p)
{
	const struct cnf_lines *ls = &p->m->lines;
	struct mappings_table *t = NULL;
	bool open = false, failed = false;   /* open: entries may follow */

	for (int i = 0; i < ls->n; i++) {
		const struct cnf_line *l = &ls->v[i];
		if (cnf_blank(l->text)) {
			if (t && t->n > 0)
				open = false;
		} else if (!isspace((unsigned char)l->text[0])) {
			t = table_add(p, l);
			failed = t == NULL;
			open = true;
		} else if (t && open)
			entry_add(p, t, l);
		else if (t)
			ERR(p, l->file, l->line, "%s: blank line inside the table, or "
			    "an indented line after it", t->name);
		else if (!failed)
			ERR(p, l->file, l->line, "entry before any table name");
	}
	for (int i = 0; i < p->m->ntables; i++)
		if (p->m->tables[i].nlines == 0)
			ERR(p, p->m->tables[i].file, p->m->tables[i].line,
			    "table %s has no entries", p->m->tables[i].name);
}

static void
mappings_check_templates(struct mappings_parse *p)
{
	for (int i = 0; i < p->m->ntables; i++) {
		const struct mappings_table *t = &p->m->tables[i];
		for (int k = 0; k < t->n; k++) {
			const struct mappings_entry *e = &t->v[k];
			char *err = template_check(p->m, e->tmpl, strlen(e->tmpl),
			    e->ncaps, 0);
			if (err) {
				ERR(p, e->file, e->line, "%s: template \"%s\": %s", t->name,
				    e->tmpl, err);
				free(err);
			}
		}
	}
}

static struct mappings *
mappings_finish(struct mappings *m, char **errs)
{
	struct mappings_parse p = { m, errs, &m->lines.nerrors };
	if (m->lines.nerrors == 0) {
		mappings_tables(&p);
		mappings_check_templates(&p);
	}
	if (m->lines.nerrors > 0)
		mappings_free(&m);
	return m;
}

struct mappings *
mappings_load(const char *path, char **errs)
{
	struct mappings *m = xcalloc(1, sizeof *m);
	cnf_lines_load(&m->lines, path, errs);
	return mappings_finish(m, errs);
}

struct mappings *
mappings_parse(const char *name, const char *text, char **errs)
{
	struct mappings *m = xcalloc(1, sizeof *m);
	cnf_lines_parse(&m->lines, name, text, errs);
	return mappings_finish(m, errs);
}

void
mappings_free(struct mappings **mp)
{
	struct mappings *m = *mp;
	if (m == NULL)
		return;
	for (int i = 0; i < m->ntables; i++) {
		for (int k = 0; k < m->tables[i].n; k++) {
			free(m->tables[i].v[k].pattern);
			free(m->tables[i].v[k].tmpl);
		}
		free(m->tables[i].v);
		free(m->tables[i].name);
	}
	free(m->tables);
	cnf_lines_free(&m->lines);
	free(m);
	*mp = NULL;
}

bool
mappings_has_table(const struct mappings *m, const char *table)
{
	return mappings_table_find(m, table) != NULL;
}

void
mappings_dump(const struct mappings *m, FILE *out)
{
	for (int i = 0; i < m->ntables; i++) {
		const struct mappings_table *t = &m->tables[i];
		fprintf(out, "%s%s\n\n", i ? "\n" : "", t->name);
		for (int k = 0; k < t->n; k++)
			fprintf(out, "  %s%s%s\n", t->v[k].pattern,
			    t->v[k].tmpl[0] ? "  " : "", t->v[k].tmpl);
	}
}
