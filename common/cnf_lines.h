/*
 * cnf_lines: the physical layer shared by the seed's configuration files
 * (imta.cnf, mappings, aliases, job_controller.cnf): read a file whole,
 * follow "<" includes, drop "!" comment lines, join "\" continuations, and
 * hand the parsers logical lines that remember their file:line.
 *
 *   file         = *( line LF )
 *   line         = comment / include / text
 *   comment      = "!" *CHAR                    ; column 1; not a blank line
 *   include      = "<" absolute-path            ; column 1
 *   text         = *CHAR [ "\" ]                ; "\" at the end joins the next line
 *
 * Caps: CNF_FILE_MAX bytes per file and CNF_TOTAL_MAX for a file with all
 * its includes, CNF_LINE_MAX bytes per logical line,
 * CNF_INCLUDE_DEPTH nested includes, CNF_LINES_MAX lines in all.  Every
 * violation is an error "file:line: message"; nothing is truncated quietly.
 * The lines own their text; file names are interned in the set and live as
 * long as it does.
 */
#ifndef COMMON_CNF_LINES_H
#define COMMON_CNF_LINES_H

#include <stdbool.h>
#include <stddef.h>

#define CNF_FILE_MAX      (8 * 1024 * 1024)
#define CNF_TOTAL_MAX     (32 * 1024 * 1024)   /* all files of one set */
#define CNF_LINE_MAX      16384
#define CNF_INCLUDE_DEPTH 8
#define CNF_LINES_MAX     500000
#define CNF_ERRORS_MAX    100

struct cnf_line {
	const char *file;   /* interned in the set */
	int line;           /* first physical line of the logical line */
	char *text;         /* without the newline; "" for a blank line */
};

struct cnf_lines {
	struct cnf_line *v;
	int n, cap;
	char **files;
	int nfiles;
	int nerrors;        /* errors appended to *errs so far */
	size_t bytes;       /* read so far, all files */
};

/* Read path (and its includes) into lines; errors are appended to *errs as
 * "file:line: message\n".  Returns the number of errors. */
int cnf_lines_load(struct cnf_lines *ls, const char *path, char **errs);
/* The same for text held in memory; name is used in messages.  Includes
 * are still read from disk. */
int cnf_lines_parse(struct cnf_lines *ls, const char *name, const char *text,
    char **errs);
void cnf_lines_free(struct cnf_lines *ls);

/* Append "file:line: message\n" to *errs (allocated) and count it; past
 * CNF_ERRORS_MAX the message is dropped (the count still grows). */
void cnf_errf(int *count, char **errs, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Small helpers shared by the parsers. */
bool cnf_blank(const char *s);                  /* only whitespace */
char *cnf_word(char **cursor);                  /* next whitespace-separated word, NUL-terminated in place; NULL at end */

#endif
