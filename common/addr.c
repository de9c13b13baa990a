/*
 * addr: a lenient RFC 5322 address-list parser (see addr.h for the grammar
 * and the failure policy).
 *
 * A lexer cuts the value into atoms, quoted strings, domain literals,
 * comments and single specials; the parser reads one address at a time
 * from that stream with one token of lookahead and, when it meets
 * something it cannot place, skips to the next "," (or ";" ending a group).
 * Strings are built in fixed buffers of ADDR_FIELD_MAX octets and copied
 * into the list when an entry is emitted.
 */
#include "addr.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

enum addr_tok {
	ADDR_T_END,
	ADDR_T_ATOM,        /* p/len: the atom */
	ADDR_T_QSTRING,     /* p/len: between the quotes, still escaped */
	ADDR_T_DLIT,        /* p/len: "[...]" as written */
	ADDR_T_COMMENT,     /* p/len: inside the outer parentheses */
	ADDR_T_SPECIAL,     /* c: one of < > @ , ; : . */
};

struct addr_token {
	enum addr_tok type;
	const char *p;
	size_t len;
	char c;
	const char *raw;    /* where the token starts in the input */
	bool ws_before;     /* white space or a comment came before it */
};

struct addr_parser {
	const char *s, *end;
	struct addr_token tok;      /* lookahead, never a comment */
	struct addr_token comment;  /* the last comment skipped */
	struct addr_list *out;
	size_t cap;                 /* allocated entries in out->v */
	bool in_group;
};

/* A string under construction, cut at ADDR_FIELD_MAX. */
struct addr_sb {
	size_t len;
	char buf[ADDR_FIELD_MAX + 1];
};

/* ---- lexer ---- */

static bool
addr_is_space(unsigned char c)
{
	/* Control characters (NUL included) separate like white space. */
	return c <= ' ' || c == 127;
}

static bool
addr_is_special(char c)
{
	return strchr("<>@,;:.", c) != NULL && c != '\0';
}

/* Skip a delimited run starting after its opening character: quoted
 * strings and domain literals (depth 0) and nested comments.  Returns the
 * position of the closing character, or end when unterminated. */
static const char *
addr_lex_delimited(const char *p, const char *end, char open, char close)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == open && open != close)
			depth++;
		else if (*p == close && depth-- == 0)
			return p;
	}
	return end;
}

static void
addr_lex_run(struct addr_parser *ps, struct addr_token *t, enum addr_tok type,
    char open, char close)
{
	const char *start = ps->s + 1;
	const char *stop = addr_lex_delimited(start, ps->end, open, close);

	t->type = type;
	if (type == ADDR_T_DLIT) {
		t->p = ps->s;
		t->len = (size_t)(stop - ps->s) + (stop < ps->end);
	} else {
		t->p = start;
		t->len = (size_t)(stop - start);
	}
	ps->s = stop < ps->end ? stop + 1 : stop;
}

static void
addr_lex(struct addr_parser *ps, struct addr_token *t)
{
	memset(t, 0, sizeof(*t));
	while (ps->s < ps->end && addr_is_space((unsigned char)*ps->s)) {
		ps->s++;
		t->ws_before = true;
	}
	t->raw = ps->s;
	if (ps->s == ps->end) {
		t->type = ADDR_T_END;
		return;
	}
	char c = *ps->s;
	if (c == '"')
		addr_lex_run(ps, t, ADDR_T_QSTRING, '"', '"');
	else if (c == '(')
		addr_lex_run(ps, t, ADDR_T_COMMENT, '(', ')');
	else if (c == '[')
		addr_lex_run(ps, t, ADDR_T_DLIT, '[', ']');
	else if (addr_is_special(c)) {
		t->type = ADDR_T_SPECIAL;
		t->c = c;
		t->p = ps->s++;
		t->len = 1;
	} else {
		t->type = ADDR_T_ATOM;
		t->p = ps->s;
		while (ps->s < ps->end && !addr_is_space((unsigned char)*ps->s) &&
		    !addr_is_special(*ps->s) && strchr("\"([", *ps->s) == NULL)
			ps->s++;
		t->len = (size_t)(ps->s - t->p);
	}
}

/* Move the lookahead on, remembering the last comment passed. */
static void
addr_advance(struct addr_parser *ps)
{
	bool ws = false;

	for (;;) {
		addr_lex(ps, &ps->tok);
		if (ps->tok.type != ADDR_T_COMMENT)
			break;
		ps->comment = ps->tok;
		ws = true;
	}
	ps->tok.ws_before |= ws;
}

static bool
addr_at(const struct addr_parser *ps, char c)
{
	return ps->tok.type == ADDR_T_SPECIAL && ps->tok.c == c;
}

/* A token that can be part of a phrase or a local part.  Domain literals
 * count: "[EXTERNAL] John <j@example.com>" is common. */
static bool
addr_at_word(const struct addr_parser *ps)
{
	return ps->tok.type == ADDR_T_ATOM || ps->tok.type == ADDR_T_QSTRING ||
	    ps->tok.type == ADDR_T_DLIT || addr_at(ps, '.');
}

/* ---- string building ---- */

static void
addr_sb_putc(struct addr_sb *b, char c)
{
	if (b->len < ADDR_FIELD_MAX)
		b->buf[b->len++] = c;
}

/* Append a token; quoted strings lose their quoting.  With space, white
 * space before the token becomes one space (display names). */
static void
addr_sb_token(struct addr_sb *b, const struct addr_token *t, bool space)
{
	if (space && t->ws_before && b->len > 0)
		addr_sb_putc(b, ' ');
	for (size_t i = 0; i < t->len; i++) {
		char c = t->p[i];
		if (t->type == ADDR_T_QSTRING && c == '\\' && i + 1 < t->len)
			c = t->p[++i];
		if (c == '\r' || c == '\n')
			continue;
		addr_sb_putc(b, c);
	}
}

/* An allocated copy, NULL when empty. */
static char *
addr_sb_dup(const struct addr_sb *b)
{
	return b->len > 0 ? xstrndup(b->buf, b->len) : NULL;
}

/* ---- emitting entries ---- */

/* Room for one entry, keeping a slot for the end of an open group. */
static bool
addr_room(struct addr_parser *ps, size_t want)
{
	struct addr_list *l = ps->out;

	if (l->n + want + (ps->in_group ? 1 : 0) > ADDR_LIST_MAX) {
		l->truncated = true;
		return false;
	}
	if (l->n + want > ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 8;
		if (ps->cap > ADDR_LIST_MAX)
			ps->cap = ADDR_LIST_MAX;
		l->v = xrealloc(l->v, ps->cap * sizeof(*l->v));
	}
	return true;
}

static struct addr *
addr_push(struct addr_parser *ps, enum addr_kind kind)
{
	struct addr *a = &ps->out->v[ps->out->n++];

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static void
addr_emit_mailbox(struct addr_parser *ps, const struct addr_sb *name,
    const struct addr_sb *adl, const struct addr_sb *local,
    const struct addr_sb *host)
{
	if (!addr_room(ps, 1))
		return;
	struct addr *a = addr_push(ps, ADDR_MAILBOX);
	a->name = name ? addr_sb_dup(name) : NULL;
	a->adl = adl ? addr_sb_dup(adl) : NULL;
	a->mailbox = addr_sb_dup(local);
	a->host = host ? addr_sb_dup(host) : NULL;
}

static void
addr_group_start(struct addr_parser *ps, const struct addr_sb *name)
{
	/* A group needs its end marker too: two slots or none. */
	ps->in_group = true;
	if (!addr_room(ps, 1)) {
		ps->in_group = false;
		return;
	}
	struct addr *a = addr_push(ps, ADDR_GROUP_START);
	a->mailbox = xstrndup(name->buf, name->len);
}

static void
addr_group_end(struct addr_parser *ps)
{
	if (!ps->in_group)
		return;
	/* addr_room() always kept this slot, but the array may be short. */
	ps->in_group = false;
	if (!addr_room(ps, 1))
		return;
	addr_push(ps, ADDR_GROUP_END);
}

/* ---- the grammar ---- */

/*
 * domain     = dot-atom / domain-literal / obs-domain
 * obs-domain = atom *("." atom)
 * CFWS between the pieces is dropped; two atoms without a dot between
 * them are two things ("a@b c@d"), and the second is not ours.
 */
static void
addr_parse_domain(struct addr_parser *ps, struct addr_sb *host)
{
	bool after_dot = true;

	while (addr_at(ps, '.') || (after_dot &&
	    (ps->tok.type == ADDR_T_ATOM || ps->tok.type == ADDR_T_DLIT))) {
		after_dot = addr_at(ps, '.');
		addr_sb_token(host, &ps->tok, false);
		addr_advance(ps);
	}
}

/*
 * obs-route       = obs-domain-list ":"
 * obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
 * Kept as written without white space: "@a,@b".  Without the ":" it was
 * not a route ("<@host>"): dropped.
 */
static void
addr_parse_route(struct addr_parser *ps, struct addr_sb *adl)
{
	while (ps->tok.type != ADDR_T_END && !addr_at(ps, ':') &&
	    !addr_at(ps, '>')) {
		addr_sb_token(adl, &ps->tok, false);
		addr_advance(ps);
	}
	if (addr_at(ps, ':'))
		addr_advance(ps);
	else
		adl->len = 0;
}

/* angle-addr = "<" [obs-route] addr-spec ">"; the lookahead is "<". */
static void
addr_parse_angle(struct addr_parser *ps, const struct addr_sb *name)
{
	struct addr_sb adl, local, host;
	bool have_host = false;

	adl.len = local.len = host.len = 0;
	addr_advance(ps);
	if (addr_at(ps, '@'))
		addr_parse_route(ps, &adl);
	while (addr_at_word(ps)) {
		addr_sb_token(&local, &ps->tok, false);
		addr_advance(ps);
	}
	if (addr_at(ps, '@')) {
		addr_advance(ps);
		addr_parse_domain(ps, &host);
		have_host = host.len > 0;
	}
	/* Garbage inside the brackets; a missing ">" ends at the next
	 * address rather than swallowing the rest of the list. */
	while (ps->tok.type != ADDR_T_END && !addr_at(ps, '>') &&
	    !addr_at(ps, ',') && !addr_at(ps, ';'))
		addr_advance(ps);
	if (addr_at(ps, '>'))
		addr_advance(ps);
	addr_emit_mailbox(ps, name->len ? name : NULL, adl.len ? &adl : NULL,
	    &local, have_host ? &host : NULL);
}

/* The input from start to the lookahead as a display name: what an
 * unquoted "john@example.com <john@example.com>" means. */
static void
addr_sb_raw(struct addr_sb *b, const char *start, const char *stop)
{
	while (start < stop && addr_is_space((unsigned char)*start))
		start++;
	while (stop > start && addr_is_space((unsigned char)stop[-1]))
		stop--;
	for (; start < stop; start++)
		if (*start != '\r' && *start != '\n')
			addr_sb_putc(b, *start);
}

/* addr-spec after its local part; the lookahead is "@" or what ended a
 * local part without domain.  A comment after it may name the mailbox. */
static void
addr_parse_spec(struct addr_parser *ps, const struct addr_sb *local,
    const char *local_start)
{
	struct addr_sb host, name;

	host.len = name.len = 0;
	if (addr_at(ps, '@')) {
		addr_advance(ps);
		addr_parse_domain(ps, &host);
	}
	if (addr_at(ps, '<')) {
		addr_sb_raw(&name, local_start, ps->tok.raw);
		addr_parse_angle(ps, &name);
		return;
	}
	if (ps->comment.type == ADDR_T_COMMENT && ps->comment.p > local_start) {
		struct addr_token t = ps->comment;
		t.type = ADDR_T_QSTRING;        /* unescape quoted pairs */
		t.ws_before = false;
		addr_sb_token(&name, &t, true);
	}
	addr_emit_mailbox(ps, name.len ? &name : NULL, NULL, local,
	    host.len ? &host : NULL);
}

/*
 * One address.  The words before the first "<", ":" or "@" are a display
 * name (phrase, obs-phrase) or a local part, depending on what follows, so
 * both readings are collected.  Returns true when the lookahead should be
 * moved on to the next separator.
 */
static bool
addr_parse_address(struct addr_parser *ps)
{
	struct addr_sb phrase, local;
	const char *start = ps->tok.raw;

	phrase.len = local.len = 0;
	while (addr_at_word(ps)) {
		addr_sb_token(&phrase, &ps->tok, true);
		addr_sb_token(&local, &ps->tok, false);
		addr_advance(ps);
	}
	if (addr_at(ps, '<')) {
		addr_parse_angle(ps, &phrase);
	} else if (addr_at(ps, ':') && !ps->in_group) {
		addr_advance(ps);
		addr_group_start(ps, &phrase);
		return false;
	} else if (addr_at(ps, '@') || local.len > 0) {
		addr_parse_spec(ps, &local, start);
	}
	return true;
}

/* Skip what could not be placed, up to the next separator. */
static void
addr_skip_garbage(struct addr_parser *ps)
{
	while (ps->tok.type != ADDR_T_END && !addr_at(ps, ',') &&
	    !addr_at(ps, ';'))
		addr_advance(ps);
}

void
addr_list_parse(const char *s, size_t len, struct addr_list *out)
{
	struct addr_parser ps;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	if (len > ADDR_INPUT_MAX) {
		len = ADDR_INPUT_MAX;
		out->truncated = true;
	}
	ps.s = s;
	ps.end = s + len;
	ps.out = out;
	addr_advance(&ps);
	while (ps.tok.type != ADDR_T_END) {
		if (addr_at(&ps, ',')) {
			addr_advance(&ps);
		} else if (addr_at(&ps, ';')) {
			addr_group_end(&ps);
			addr_advance(&ps);
		} else {
			const char *before = ps.s;
			if (addr_parse_address(&ps) || ps.s == before) {
				if (ps.s == before)     /* no progress: a stray special */
					addr_advance(&ps);
				addr_skip_garbage(&ps);
			}
		}
	}
	addr_group_end(&ps);
}

void
addr_list_free(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].adl);
		free(l->v[i].mailbox);
		free(l->v[i].host);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
