/*
 * aliases: parser of the aliases file (see aliases.h).
 *
 *   aliases  = *( alias LF )              ; "!" comments, "\" continuation
 *   alias    = name ":" address *( "," address )
 *   name     = local-part [ "@" domain ]
 *   address  = local-part [ "@" domain ]  ; local-part may be a quoted string
 *
 * An indented line is an error: the seed continues lines with "\" only.
 */
#include "aliases.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cnf_lines.h"
#include "xmalloc.h"

struct aliases {
	struct aliases_entry *v;
	int n;
	int *sorted;            /* indexes of v by name */
	struct cnf_lines lines;
};

#define ERR(a, l, ...) cnf_errf(&(a)->lines.nerrors, errs, (l)->file, (l)->line, __VA_ARGS__)

static char *
aliases_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* local-part [ "@" domain ]: dot-atom or quoted local part, a domain of
 * letters, digits, "-" and "." (or a [literal]). */
static bool
aliases_valid_address(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ALIASES_ADDR_MAX)
		return false;
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++)
			if (*s == '\\' && s[1])
				s++;
		if (*s++ != '"')
			return false;
	} else {
		const char *start = s;
		for (; *s && *s != '@'; s++)
			if (isspace((unsigned char)*s) || strchr("<>()[]\\,;:\"", *s))
				return false;
		if (s == start)
			return false;
	}
	if (*s == '\0')
		return true;
	if (*s++ != '@' || *s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-.[]:", *s))
			return false;
	return true;
}

/* Split on commas outside quoted strings. */
static int
aliases_split(char *s, char **out, int max)
{
	int n = 0;
	bool quoted = false;
	char *start = s;
	for (;; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == '\\' && quoted && s[1])
			s++;
		else if ((*s == ',' && !quoted) || *s == '\0') {
			bool last = *s == '\0';
			*s = '\0';
			if (n == max)
				return -1;
			out[n++] = aliases_trim(start);
			if (last)
				return n;
			start = s + 1;
		}
	}
}

static void
aliases_line(struct aliases *a, const struct cnf_line *l, char **errs)
{
	char *text = xstrdup(l->text), *colon = strchr(text, ':');
	char **addrs = xcalloc(ALIASES_ADDRS_MAX + 1, sizeof *addrs);
	int n;

	if (isspace((unsigned char)text[0]))
		ERR(a, l, "indented line (continue the previous line with \"\\\")");
	else if (colon == NULL)
		ERR(a, l, "an alias is \"name: address, address\"");
	else if (*colon = '\0', !aliases_valid_address(aliases_trim(text)))
		ERR(a, l, "\"%s\" is not an alias name", aliases_trim(text));
	else if ((n = aliases_split(colon + 1, addrs, ALIASES_ADDRS_MAX)) < 0)
		ERR(a, l, "%s: more than %d addresses", text, ALIASES_ADDRS_MAX);
	else if (a->n == ALIASES_MAX)
		ERR(a, l, "more than %d aliases", ALIASES_MAX);
	else {
		for (int i = 0; i < n; i++)
			if (!aliases_valid_address(addrs[i])) {
				ERR(a, l, "%s: \"%s\" is not an address", text, addrs[i]);
				goto out;
			}
		a->v = xrealloc(a->v, (a->n + 1) * sizeof *a->v);
		struct aliases_entry *e = &a->v[a->n++];
		*e = (struct aliases_entry){ xstrdup(aliases_trim(text)),
			xcalloc(n, sizeof(char *)), n, l->file, l->line };
		for (int i = 0; i < n; i++)
			e->addrs[i] = xstrdup(addrs[i]);
	}
out:
	free(addrs);
	free(text);
}

static int
aliases_cmp(const void *x, const void *y, void *arg)
{
	const struct aliases_entry *v = arg;
	int a = *(const int *)x, b = *(const int *)y;
	int c = strcasecmp(v[a].name, v[b].name);
	return c ? c : a - b;
}

static void
aliases_index(struct aliases *a, char **errs)
{
	a->sorted = xcalloc(a->n + 1, sizeof *a->sorted);
	for (int i = 0; i < a->n; i++)
		a->sorted[i] = i;
	qsort_r(a->sorted, a->n, sizeof *a->sorted, aliases_cmp, a->v);
	for (int i = 1; i < a->n; i++) {
		const struct aliases_entry *p = &a->v[a->sorted[i - 1]],
		    *e = &a->v[a->sorted[i]];
		if (strcasecmp(p->name, e->name) == 0) {
			struct cnf_line at = { e->file, e->line, NULL };
			ERR(a, &at, "alias %s is defined twice (first at %s:%d)",
			    e->name, p->file, p->line);
		}
	}
}

static struct aliases *
aliases_finish(struct aliases *a, char **errs)
{
	if (a->lines.nerrors == 0) {
		for (int i = 0; i < a->lines.n; i++)
			if (!cnf_blank(a->lines.v[i].text))
				aliases_line(a, &a->lines.v[i], errs);
		aliases_index(a, errs);
	}
	if (a->lines.nerrors > 0)
		aliases_free(&a);
	return a;
}

struct aliases *
aliases_load(const char *path, char **errs)
{
	struct aliases *a = xcalloc(1, sizeof *a);
	cnf_lines_load(&a->lines, path, errs);
	return aliases_finish(a, errs);
}

struct aliases *
aliases_parse(const char *name, const char *text, char **errs)
{
	struct aliases *a = xcalloc(1, sizeof *a);
	cnf_lines_parse(&a->lines, name, text, errs);
	return aliases_finish(a, errs);
}

void
aliases_free(struct aliases **ap)
{
	struct aliases *a = *ap;
	if (a == NULL)
		return;
	for (int i = 0; i < a->n; i++) {
		for (int k = 0; k < a->v[i].naddrs; k++)
			free(a->v[i].addrs[k]);
		free(a->v[i].addrs);
		free(a->v[i].name);
	}
	free(a->v);
	free(a->sorted);
	cnf_lines_free(&a->lines);
	free(a);
	*ap = NULL;
}

int
aliases_count(const struct aliases *a)
{
	return a->n;
}

const struct aliases_entry *
aliases_at(const struct aliases *a, int i)
{
	return i >= 0 && i < a->n ? &a->v[i] : NULL;
}

const struct aliases_entry *
aliases_lookup(const struct aliases *a, const char *name)
{
	int lo = 0, hi = a->n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const struct aliases_entry *e = &a->v[a->sorted[mid]];
		int c = strcasecmp(name, e->name);
		if (c == 0)
			return e;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

void
aliases_dump(const struct aliases *a, FILE *out)
{
	for (int i = 0; i < a->n; i++) {
		fprintf(out, "%s:", a->v[i].name);
		for (int k = 0; k < a->v[i].naddrs; k++)
			fprintf(out, "%s %s", k ? "," : "", a->v[i].addrs[k]);
		fputc('\n', out);
	}
}
