/*
 * imap_parse: the argument tokenizer (grammar in imap_parse.h).
 *
 * Input is one command's wire text without its final CRLF.  Tokens are
 * separated by single spaces (we tolerate several); a '[' inside an atom
 * opens a bracketed part that may contain spaces and parentheses
 * (BODY[HEADER.FIELDS (From)]<0.100>), as the FETCH grammar requires.
 */
#include "imap_parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

struct imap_tok {
	char *p, *end;
	const struct imap_spool *spool;
	char *base;
	struct imap_arg *pool;
	size_t used, cap;
	const char *err;
};

static struct imap_arg *
imap_tok_new(struct imap_tok *t)
{
	if (t->used == t->cap) {
		t->err = "Too many arguments";
		return NULL;
	}
	struct imap_arg *a = &t->pool[t->used++];
	memset(a, 0, sizeof(*a));
	return a;
}

/* ATOM-CHAR: any CHAR except atom-specials; ']' allowed (resp-specials)
 * for atoms such as BODY[]. */
static bool
imap_atom_char(unsigned char c)
{
	/* Wider than RFC 3501's ATOM-CHAR on purpose: flags (\\Seen), list
	 * wildcards (% *) and sequence sets (1:*) are atoms to us too. */
	return c > ' ' && c < 127 && c != '(' && c != ')' && c != '{' &&
	    c != '"';
}

static void
imap_tok_atom(struct imap_tok *t, struct imap_arg *a)
{
	char *start = t->p;
	int depth = 0;

	while (t->p < t->end) {
		unsigned char c = (unsigned char)*t->p;
		if (c == '[') {
			depth++;
			a->bracket = true;
		} else if (c == ']' && depth > 0) {
			depth--;
		} else if (depth == 0 && !imap_atom_char(c)) {
			break;
		} else if (depth > 0 && (c == '\r' || c == '\n' || c == '\0')) {
			break;
		}
		t->p++;
	}
	if (depth != 0)
		t->err = "Unbalanced brackets";
	a->type = IMAP_ARG_ATOM;
	a->str = start;
	a->len = (size_t)(t->p - start);
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE; unescaped in place. */
static void
imap_tok_quoted(struct imap_tok *t, struct imap_arg *a)
{
	char *out = ++t->p;

	a->type = IMAP_ARG_STRING;
	a->str = out;
	for (;;) {
		if (t->p >= t->end || *t->p == '\r' || *t->p == '\n') {
			t->err = "Unterminated quoted string";
			return;
		}
		char c = *t->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (t->p >= t->end || (*t->p != '"' && *t->p != '\\')) {
				t->err = "Bad escape in quoted string";
				return;
			}
			c = *t->p++;
		}
		*out++ = c;
	}
	a->len = (size_t)(out - a->str);
}

/* literal = "{" number ["+"] "}" CRLF *CHAR8 */
static void
imap_tok_literal(struct imap_tok *t, struct imap_arg *a)
{
	char *end;
	unsigned long long n = strtoull(t->p + 1, &end, 10);

	if (!isdigit((unsigned char)t->p[1]))
		goto bad;
	if (*end == '+')
		end++;
	if (end + 3 > t->end || end[0] != '}' || end[1] != '\r' || end[2] != '\n')
		goto bad;
	t->p = end + 3;
	a->literal = true;
	for (const struct imap_spool *s = t->spool; s && s->path; s++) {
		if (s->at == (size_t)(t->p - t->base)) {
			a->type = IMAP_ARG_FILE;
			a->str = s->path;
			a->len = s->len;
			return;
		}
	}
	if (n > (unsigned long long)(t->end - t->p))
		goto bad;
	a->type = IMAP_ARG_STRING;
	a->str = t->p;
	a->len = (size_t)n;
	t->p += n;
	return;
bad:
	t->err = "Bad literal";
}

static struct imap_arg *imap_tok_list(struct imap_tok *t, char close, int depth);

static void
imap_tok_one(struct imap_tok *t, struct imap_arg *a, int depth)
{
	switch (*t->p) {
	case '"':
		imap_tok_quoted(t, a);
		break;
	case '{':
		imap_tok_literal(t, a);
		break;
	case '(':
		if (depth >= IMAP_MAX_DEPTH) {
			t->err = "Lists nested too deeply";
			return;
		}
		t->p++;
		a->type = IMAP_ARG_LIST;
		a->list = imap_tok_list(t, ')', depth + 1);
		break;
	default:
		imap_tok_atom(t, a);
		if (a->len == 0 && t->err == NULL)
			t->err = "Unexpected character";
	}
}

/* Elements up to `close` (or the end for the top level), then END. */
static struct imap_arg *
imap_tok_list(struct imap_tok *t, char close, int depth)
{
	struct imap_arg *items[IMAP_MAX_ARGS / 16], *first = NULL;
	size_t n = 0;

	/* Collect pointers first: nested lists take pool slots in between,
	 * so the elements are copied into one contiguous run at the end. */
	while (t->err == NULL) {
		while (t->p < t->end && *t->p == ' ')
			t->p++;
		if (t->p >= t->end) {
			if (close != '\0')
				t->err = "Missing )";
			break;
		}
		if (*t->p == close && close != '\0') {
			t->p++;
			break;
		}
		if (n == sizeof(items) / sizeof(items[0])) {
			t->err = "Too many elements in a list";
			break;
		}
		struct imap_arg *a = imap_tok_new(t);
		if (a == NULL)
			break;
		items[n++] = a;
		imap_tok_one(t, a, depth);
	}
	if (t->err != NULL)
		return NULL;
	if (t->used + n + 1 > t->cap) {
		t->err = "Too many arguments";
		return NULL;
	}
	first = &t->pool[t->used];
	for (size_t i = 0; i < n; i++)
		first[i] = *items[i];
	first[n].type = IMAP_ARG_END;
	t->used += n + 1;
	return first;
}

/* NUL-terminate every token once the whole tree is built (terminating
 * earlier would clobber the separator the tokenizer still needs). */
static void
imap_terminate(struct imap_arg *a)
{
	for (; a->type != IMAP_ARG_END; a++) {
		if (a->type == IMAP_ARG_LIST)
			imap_terminate(a->list);
		else if (a->type != IMAP_ARG_FILE)
			a->str[a->len] = '\0';
	}
}

const char *
imap_parse_args(char *text, size_t len, const struct imap_spool *spool,
    struct imap_args *out)
{
	/* Each token needs at least one byte of input, and two slots (its
	 * place while collected, its place in the final run). */
	size_t cap = 2 * len + 4;
	struct imap_tok t = { .p = text, .end = text + len, .spool = spool,
	    .base = text, .cap = cap < 2 * IMAP_MAX_ARGS ? cap : 2 * IMAP_MAX_ARGS };

	t.pool = xcalloc(t.cap, sizeof(*t.pool));
	struct imap_arg *top = imap_tok_list(&t, '\0', 0);
	if (t.err != NULL) {
		free(t.pool);
		out->pool = out->top = NULL;
		return t.err;
	}
	/* The caller's buffer has one byte beyond len for the last NUL. */
	imap_terminate(top);
	out->pool = t.pool;
	out->top = top;
	return NULL;
}

void
imap_args_free(struct imap_args *args)
{
	free(args->pool);
	args->pool = args->top = NULL;
}

bool
imap_arg_is_atom(const struct imap_arg *a, const char *word)
{
	return a->type == IMAP_ARG_ATOM && strcasecmp(a->str, word) == 0;
}

bool
imap_arg_astring(const struct imap_arg *a, const char **s)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING)
		return false;
	if (a->type == IMAP_ARG_ATOM && a->bracket)
		return false;
	*s = a->str;
	return true;
}

size_t
imap_arg_count(const struct imap_arg *a)
{
	size_t n = 0;

	while (a[n].type != IMAP_ARG_END)
		n++;
	return n;
}

bool
imap_line_literal(const char *line, size_t len, unsigned long long *n,
    bool *sync)
{
	if (len < 3 || line[len - 1] != '}')
		return false;
	size_t i = len - 1;
	*sync = true;
	if (line[i - 1] == '+') {
		*sync = false;
		i--;
	}
	size_t end = i;
	while (i > 0 && isdigit((unsigned char)line[i - 1]))
		i--;
	if (i == end || i == 0 || line[i - 1] != '{' || end - i > 18)
		return false;
	*n = strtoull(line + i, NULL, 10);
	return true;
}
