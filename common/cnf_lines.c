/*
 * cnf_lines: logical lines of the seed's configuration files (see
 * cnf_lines.h).  Configuration is read at start and on reload, never on a
 * serving path; memory is bounded by the caps in the header.
 */
#include "cnf_lines.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void
cnf_errf(int *count, char **errs, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	char *msg, *joined;

	if (++*count > CNF_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	/* No file: the message names what failed (open of the top file). */
	char *where = file ? xasprintf("%s:%d: ", file, line) : xstrdup("");
	joined = xasprintf("%s%s%s\n%s", *errs ? *errs : "", where,
	    msg ? msg : "?", *count == CNF_ERRORS_MAX ?
	    "too many errors, stopping here\n" : "");
	free(where);
	free(msg);
	free(*errs);
	*errs = joined;
}

bool
cnf_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

char *
cnf_word(char **cursor)
{
	char *p = *cursor, *w;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p == '\0') {
		*cursor = p;
		return NULL;
	}
	w = p;
	/* "$ " is an escaped space inside a word, as in the mappings file. */
	while (*p && !isspace((unsigned char)*p))
		p += (p[0] == '$' && p[1] != '\0') ? 2 : 1;
	if (*p)
		*p++ = '\0';
	*cursor = p;
	return w;
}

static const char *
cnf_intern(struct cnf_lines *ls, const char *name)
{
	for (int i = 0; i < ls->nfiles; i++)
		if (strcmp(ls->files[i], name) == 0)
			return ls->files[i];
	ls->files = xrealloc(ls->files, (ls->nfiles + 1) * sizeof *ls->files);
	ls->files[ls->nfiles] = xstrdup(name);
	return ls->files[ls->nfiles++];
}

static void
cnf_push(struct cnf_lines *ls, const char *file, int line, const char *text,
    size_t len)
{
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 64;
		ls->v = xrealloc(ls->v, ls->cap * sizeof *ls->v);
	}
	ls->v[ls->n].file = file;
	ls->v[ls->n].line = line;
	ls->v[ls->n].text = xstrndup(text, len);
	ls->n++;
}

static int cnf_read(struct cnf_lines *ls, const char *path, const char *from,
    int fromline, int depth, char **errs);

static void
cnf_include(struct cnf_lines *ls, const char *file, int line, const char *arg,
    int depth, char **errs)
{
	while (isspace((unsigned char)*arg))
		arg++;
	char *path = xstrdup(arg);
	size_t n = strlen(path);
	while (n > 0 && isspace((unsigned char)path[n - 1]))
		path[--n] = '\0';
	if (path[0] != '/')
		cnf_errf(&ls->nerrors, errs, file, line,
		    "include \"%s\": not an absolute path", path);
	else if (depth + 1 > CNF_INCLUDE_DEPTH)
		cnf_errf(&ls->nerrors, errs, file, line,
		    "include \"%s\": nested deeper than %d", path, CNF_INCLUDE_DEPTH);
	else
		cnf_read(ls, path, file, line, depth + 1, errs);
	free(path);
}

/*
 * Split text into logical lines.  A line whose last character is "\" is
 * joined with the next one (the "\" dropped); comment and include lines
 * are recognised on the joined line's first physical line only.
 */
static void
cnf_split(struct cnf_lines *ls, const char *file, const char *text,
    int depth, char **errs)
{
	char *buf = xmalloc(CNF_LINE_MAX + 1);
	size_t len = 0;
	int lineno = 0, first = 0;
	bool too_long = false;

	for (const char *p = text; *p; ) {
		const char *nl = strchr(p, '\n');
		size_t plen = nl ? (size_t)(nl - p) : strlen(p);
		lineno++;
		if (len == 0)
			first = lineno;
		if (plen > 0 && p[plen - 1] == '\r')
			plen--;
		bool cont = plen > 0 && p[plen - 1] == '\\' && !(len == 0 && p[0] == '!');
		size_t take = cont ? plen - 1 : plen;
		if (len + take > CNF_LINE_MAX)
			too_long = true;
		else {
			memcpy(buf + len, p, take);
			len += take;
		}
		p = nl ? nl + 1 : p + strlen(p);
		if (cont && *p)
			continue;
		buf[len] = '\0';
		if (too_long)
			cnf_errf(&ls->nerrors, errs, file, first,
			    "line longer than %d bytes", CNF_LINE_MAX);
		else if (ls->n >= CNF_LINES_MAX)
			cnf_errf(&ls->nerrors, errs, file, first,
			    "more than %d lines", CNF_LINES_MAX);
		else if (buf[0] == '!')
			;   /* comment line */
		else if (buf[0] == '<')
			cnf_include(ls, file, first, buf + 1, depth, errs);
		else
			cnf_push(ls, file, first, buf, len);
		len = 0;
		too_long = false;
	}
	free(buf);
}

static char *
cnf_slurp(const char *path, const char **why)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*why = strerror(errno);
		return NULL;
	}
	char *buf = xmalloc(CNF_FILE_MAX + 1);
	size_t n = fread(buf, 1, CNF_FILE_MAX + 1, f);
	bool bad = ferror(f);
	*why = bad ? strerror(errno) : NULL;
	fclose(f);
	if (bad || n > CNF_FILE_MAX || memchr(buf, '\0', n) != NULL) {
		if (!bad)
			*why = n > CNF_FILE_MAX ? "file too large" : "NUL byte in file";
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int
cnf_read(struct cnf_lines *ls, const char *path, const char *from,
    int fromline, int depth, char **errs)
{
	const char *why = NULL;
	int before = ls->nerrors;
	char *text = cnf_slurp(path, &why);

	if (text == NULL) {
		if (from)
			cnf_errf(&ls->nerrors, errs, from, fromline,
			    "include \"%s\": %s", path, why);
		else
			cnf_errf(&ls->nerrors, errs, NULL, 0, "open(\"%s\"): %s",
			    path, why);
		return ls->nerrors - before;
	}
	ls->bytes += strlen(text);
	if (ls->bytes > CNF_TOTAL_MAX)
		cnf_errf(&ls->nerrors, errs, from ? from : path, fromline,
		    "\"%s\": more than %d bytes with the files included so far",
		    path, CNF_TOTAL_MAX);
	else
		cnf_split(ls, cnf_intern(ls, path), text, depth, errs);
	free(text);
	return ls->nerrors - before;
}

int
cnf_lines_load(struct cnf_lines *ls, const char *path, char **errs)
{
	memset(ls, 0, sizeof *ls);
	return cnf_read(ls, path, NULL, 0, 0, errs);
}

int
cnf_lines_parse(struct cnf_lines *ls, const char *name, const char *text,
    char **errs)
{
	memset(ls, 0, sizeof *ls);
	ls->bytes = strlen(text);
	cnf_split(ls, cnf_intern(ls, name), text, 0, errs);
	return ls->nerrors;
}

void
cnf_lines_free(struct cnf_lines *ls)
{
	for (int i = 0; i < ls->n; i++)
		free(ls->v[i].text);
	for (int i = 0; i < ls->nfiles; i++)
		free(ls->files[i]);
	free(ls->v);
	free(ls->files);
	memset(ls, 0, sizeof *ls);
}
