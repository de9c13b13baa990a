/*
 * imap_parse: IMAP command arguments (RFC 3501 section 9), tokenized from
 * the complete wire text of one command (literal bytes included); shared
 * by the store and the mmp, which reads the commands before login.
 *
 *   astring  = 1*ASTRING-CHAR / string
 *   string   = quoted / literal
 *   literal  = "{" number ["+"] "}" CRLF *CHAR8
 *   list     = "(" [arg *(SP arg)] ")"
 *
 * The tokenizer never allocates per token beyond one array of args per
 * command: it NUL-terminates tokens in place.  Lists nest at most
 * IMAP_MAX_DEPTH deep; a command has at most IMAP_MAX_ARGS tokens.
 */
#ifndef COMMON_IMAP_PARSE_H
#define COMMON_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define IMAP_MAX_DEPTH 32
#define IMAP_MAX_ARGS 4096

enum imap_arg_type {
	IMAP_ARG_ATOM,      /* including NIL, numbers, sequence sets, flags */
	IMAP_ARG_STRING,    /* quoted or literal */
	IMAP_ARG_LIST,      /* parenthesized */
	IMAP_ARG_FILE,      /* a large APPEND literal, spooled to a file */
	IMAP_ARG_END,       /* terminates every list */
};

struct imap_arg {
	enum imap_arg_type type;
	char *str;          /* NUL-terminated; for FILE, the path */
	size_t len;         /* bytes of str, or of the file */
	struct imap_arg *list;  /* LIST: elements, ending with IMAP_ARG_END */
	bool literal;       /* came as a literal */
	bool bracket;       /* ATOM that holds [...], as in BODY[HEADER] */
};

/* A spooled literal: at offset `at` of the command text, the literal's
 * bytes are in path instead. */
struct imap_spool {
	size_t at;
	char *path;
	size_t len;
};

struct imap_args {
	struct imap_arg *pool;  /* owns every arg */
	struct imap_arg *top;   /* the top-level tokens, ending with END */
};

/*
 * Tokenize text[0..len) (modified in place; text[len] must be writable)
 * into out.  spool lists spooled literals (ends with a NULL path).
 * Returns NULL on success or a message for "BAD".
 */
const char *imap_parse_args(char *text, size_t len,
    const struct imap_spool *spool, struct imap_args *out);
void imap_args_free(struct imap_args *args);

/* Helpers for command handlers. */
bool imap_arg_is_atom(const struct imap_arg *a, const char *word);
/* astring: an atom or a string; false for lists/NIL-as-list. */
bool imap_arg_astring(const struct imap_arg *a, const char **s);
/* Number of elements before IMAP_ARG_END. */
size_t imap_arg_count(const struct imap_arg *a);

/* Whether line[0..len) ends with a literal announcement, {n} or {n+}
 * (LITERAL+): then *n is its size and *sync whether the client waits for
 * a continuation. */
bool imap_line_literal(const char *line, size_t len, unsigned long long *n,
    bool *sync);

#endif
