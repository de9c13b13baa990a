/*
 * imta_conf: parser of imta.cnf (see imta_conf.h).
 *
 *   imta.cnf      = rules blank-line *( channel-block 1*blank-line ) [channel-block]
 *   rules         = *( rule LF )                 ; the first blank line ends them
 *   rule          = pattern 1*WSP template [ 1*WSP "!" comment ]
 *                                                ; "!" after a word ends any line;
 *                                                ; 1*WSP "!" ... is a comment line
 *   channel-block = channel-line LF official-host LF *( host LF )
 *                 / ( "defaults" / "nodefaults" ) keyword-list LF
 *   channel-line  = channel-name keyword-list    ; see imta_kw.c
 *
 * Comment lines, includes and continuations are gone before we see the
 * lines (cnf_lines).  Nothing is evaluated here; patterns and templates are
 * only checked for syntax.  Owns every string; on any error the whole
 * configuration is freed and NULL returned.
 */
#include "imta_conf_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cnf_lines.h"
#include "xmalloc.h"

#define IMTA_WORDS_MAX 256          /* words on one channel line */
#define IMTA_LOOKUP_DEPTH 8         /* nested ${...} $(...) in a template */

struct imta_conf {
	struct imta_rule *rules;
	int nrules;
	struct imta_channel *channels;
	int nchannels;
	int nhosts;                     /* of all channels, for the cap */
	struct cnf_lines lines;         /* keeps the file names alive */
};

struct imta_parse {
	struct imta_conf *conf;
	struct imta_keywords defaults;
	char **errs;
	int *nerrors;
};

#define ERR(p, l, ...) cnf_errf((p)->nerrors, (p)->errs, (l)->file, (l)->line, __VA_ARGS__)

/* Split a line into words, dropping a trailing "!" comment (a word that
 * starts with "!").  Returns the count, or -1 past max. */
static int
imta_split(char *text, char **words, int max)
{
	int n = 0;
	char *w, *cur = text;
	while ((w = cnf_word(&cur)) != NULL && w[0] != '!') {
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return n;
}

/*
 *   pattern  = "$*" / "." / [ "." ] domain
 *            / "[" [ "IPv6:" ] *( HEXDIG / "." / ":" ) "]"
 */
static bool
imta_pattern_ok(const char *p)
{
	size_t n = strlen(p);
	if (strcmp(p, "$*") == 0 || strcmp(p, ".") == 0)
		return true;
	if (p[0] == '[') {
		size_t i = strncasecmp(p + 1, "IPv6:", 5) == 0 ? 6 : 1;
		if (p[n - 1] != ']' || i + 1 > n)
			return false;
		for (; i + 1 < n; i++)
			if (!isxdigit((unsigned char)p[i]) && p[i] != '.' && p[i] != ':')
				return false;
		return true;
	}
	return imta_valid_host(p[0] == '.' ? p + 1 : p);
}

/* Skip a lookup ${...} $(...) $]...[ starting at the opener; nested lookups
 * count.  Returns the position after the closer, or NULL. */
static const char *
imta_skip_lookup(const char *t, char open, char close, int depth)
{
	if (depth > IMTA_LOOKUP_DEPTH)
		return NULL;
	for (t++; *t; t++) {
		if (*t == close)
			return t + 1;
		if (*t == '$' && t[1] == open) {
			if ((t = imta_skip_lookup(t + 1, open, close, depth + 1)) == NULL)
				return NULL;
			t--;
		} else if (*t == '$' && t[1] != '\0')
			t++;
	}
	return NULL;
}

/*
 *   template  = 1*( CHAR / subst )
 *   subst     = "$" ( "U" / "0U" / "1U" / "D" / "H" / DIGIT ("D" / "H") / "L"
 *             / "$" / "%" / "@" / "\" / "^" / "_" / "E" / "B" / "F" / "R"
 *             / ( "M" / "N" / "Q" / "C" ) channel-name / "?" text
 *             / "{" ... "}" / "(" ... ")" / "]" ... "[" )
 * A template holds a literal "@" or "%" (escaped "$@" "$%" do not count)
 * or a lookup that can supply one.  Returns NULL or the first problem.
 */
static char *
imta_template_check(const char *t)
{
	bool routed = false;    /* an "@" or "%", or a lookup that may hold one */
	while (*t) {
		if (*t == '@' || *t == '%')
			routed = true;
		if (*t++ != '$')
			continue;
		char c = (char)toupper((unsigned char)*t);
		if (c == '\0')
			return xstrdup("ends in \"$\"");
		if (isdigit((unsigned char)c)) {
			char k = (char)toupper((unsigned char)t[1]);
			bool sub = (c == '0' || c == '1') && k == 'U';
			if (!sub && k != 'D' && k != 'H')
				return xasprintf("unknown substitution \"$%c%c\"", *t, t[1]);
			t += 2;
		} else if (strchr("UDHL$%@\\^_EBFR", c)) {
			t++;
		} else if (strchr("MNQC", c)) {
			const char *s = ++t;
			while (isalnum((unsigned char)*t) || *t == '_' || *t == '-')
				t++;
			if (t == s)
				return xasprintf("\"$%c\" needs a channel name", c);
		} else if (c == '?') {
			while (*t && *t != '$')
				t++;
		} else if (c == '{' || c == '(' || c == ']') {
			char close = c == '{' ? '}' : c == '(' ? ')' : '[';
			const char *e = imta_skip_lookup(t, c, close, 0);
			if (e == NULL)
				return xasprintf("unterminated lookup \"$%c\"", c);
			t = e;
			routed = true;
		} else
			return xasprintf("unknown substitution \"$%c\"", *t);
	}
	return routed ? NULL : xstrdup("no \"@\" or \"%\" (the forms are A%B@C, "
	    "A@B, A%B, A@B@C)");
}

static void
imta_rule_add(struct imta_parse *p, const struct cnf_line *l)
{
	char *words[3], *why;
	char *text = xstrdup(l->text);
	int n = imta_split(text, words, 3);

	if (n != 2)
		ERR(p, l, "a rewrite rule is \"pattern template\" (found %s)",
		    n == 1 ? "one word" : "more than two words");
	else if (!imta_pattern_ok(words[0]))
		ERR(p, l, "rewrite pattern \"%s\": not a domain, .domain, \".\", "
		    "\"$*\" or [literal]", words[0]);
	else if ((why = imta_template_check(words[1])) != NULL) {
		ERR(p, l, "rewrite template \"%s\": %s", words[1], why);
		free(why);
	} else if (p->conf->nrules == IMTA_RULES_MAX)
		ERR(p, l, "more than %d rewrite rules", IMTA_RULES_MAX);
	else {
		struct imta_conf *c = p->conf;
		c->rules = xrealloc(c->rules, (c->nrules + 1) * sizeof *c->rules);
		c->rules[c->nrules++] = (struct imta_rule){
			xstrdup(words[0]), xstrdup(words[1]), l->file, l->line };
	}
	free(text);
}

/* Apply the keywords words[1..] to kw; errors name the line. */
static void
imta_keywords(struct imta_parse *p, const struct cnf_line *l,
    struct imta_keywords *kw, char **words, int n)
{
	struct imta_kwstate st;
	memset(&st, 0, sizeof st);
	for (int i = 1; i < n; i++) {
		char *err = imta_kw_apply(kw, &st, words, n, &i);
		if (err) {
			ERR(p, l, "%s", err);
			free(err);
		}
	}
}

static bool
imta_host_add(struct imta_parse *p, struct imta_channel *ch,
    const struct cnf_line *l)
{
	char *words[2];
	char *text = xstrdup(l->text);
	int n = imta_split(text, words, 2);
	bool ok = false;

	if (n != 1)
		ERR(p, l, "channel %s: one host name per line", ch->name);
	else if (!imta_valid_host(words[0]))
		ERR(p, l, "channel %s: \"%s\" is not a host name", ch->name, words[0]);
	else if (imta_conf_channel_by_host(p->conf, words[0]) != NULL)
		ERR(p, l, "channel %s: host name %s already names channel %s",
		    ch->name, words[0],
		    imta_conf_channel_by_host(p->conf, words[0])->name);
	else if (p->conf->nhosts == IMTA_HOSTS_MAX)
		ERR(p, l, "more than %d host names", IMTA_HOSTS_MAX);
	else {
		p->conf->nhosts++;
		ch->hosts = xrealloc(ch->hosts, (ch->nhosts + 1) * sizeof *ch->hosts);
		ch->hosts[ch->nhosts++] = xstrdup(words[0]);
		ok = true;
	}
	free(text);
	return ok;
}

/* "defaults keyword ..." replaces the defaults; "nodefaults" clears them. */
static void
imta_defaults(struct imta_parse *p, const struct cnf_line *v, int nlines,
    char **words, int n)
{
	bool reset = tolower((unsigned char)words[0][0]) == 'n';
	imta_kw_clear(&p->defaults);
	if (reset && n > 1)
		ERR(p, &v[0], "nodefaults takes no keywords");
	imta_keywords(p, &v[0], &p->defaults, words, n);
	if (nlines > 1)
		ERR(p, &v[1], "a %s block has no host names", words[0]);
}

static void
imta_channel_add(struct imta_parse *p, const struct cnf_line *v, int nlines,
    char **words, int n)
{
	struct imta_conf *c = p->conf;
	c->channels = xrealloc(c->channels, (c->nchannels + 1) * sizeof *c->channels);
	struct imta_channel *ch = &c->channels[c->nchannels++];
	memset(ch, 0, sizeof *ch);
	ch->name = xstrdup(words[0]);
	ch->file = v[0].file;
	ch->line = v[0].line;
	imta_kw_copy(&ch->kw, &p->defaults);
	imta_keywords(p, &v[0], &ch->kw, words, n);
	if (nlines < 2)
		ERR(p, &v[0], "channel %s has no official host name", ch->name);
	for (int i = 1; i < nlines; i++)
		imta_host_add(p, ch, &v[i]);
}

/* A block: nlines lines without blank lines between them. */
static void
imta_block(struct imta_parse *p, const struct cnf_line *v, int nlines)
{
	char **words = xcalloc(IMTA_WORDS_MAX, sizeof *words);
	char *text = xstrdup(v[0].text);
	int n = imta_split(text, words, IMTA_WORDS_MAX);
	struct imta_conf *c = p->conf;

	if (n < 0)
		ERR(p, &v[0], "more than %d words on a channel line", IMTA_WORDS_MAX);
	else if (isspace((unsigned char)v[0].text[0]))
		ERR(p, &v[0], "a channel block starts in column 1");
	else if (strcasecmp(words[0], "defaults") == 0 ||
	    strcasecmp(words[0], "nodefaults") == 0)
		imta_defaults(p, v, nlines, words, n);
	else if (!imta_valid_name(words[0]))
		ERR(p, &v[0], "\"%s\" is not a channel name (letters, digits, "
		    "\"_\", \"-\"; at most %d)", words[0], IMTA_NAME_MAX);
	else if (imta_conf_channel_by_name(c, words[0]) != NULL)
		ERR(p, &v[0], "channel %s is defined twice", words[0]);
	else if (c->nchannels == IMTA_CHANNELS_MAX)
		ERR(p, &v[0], "more than %d channels", IMTA_CHANNELS_MAX);
	else
		imta_channel_add(p, v, nlines, words, n);
	free(text);
	free(words);
}

static void
imta_check_refs(struct imta_parse *p)
{
	struct imta_conf *c = p->conf;
	for (int i = 0; i < c->nchannels; i++) {
		struct imta_channel *ch = &c->channels[i];
		struct cnf_line at = { ch->file, ch->line, NULL };
		const char *refs[] = { ch->kw.expandchannel, ch->kw.saslswitchchannel,
			ch->kw.tlsswitchchannel };
		const char *what[] = { "expandchannel", "saslswitchchannel",
			"tlsswitchchannel" };
		for (int k = 0; k < 3; k++)
			if (refs[k] && imta_conf_channel_by_name(c, refs[k]) == NULL)
				ERR(p, &at, "channel %s: %s %s: no such channel", ch->name,
				    what[k], refs[k]);
	}
}

static void
imta_parse_lines(struct imta_parse *p)
{
	const struct cnf_lines *ls = &p->conf->lines;
	int i = 0;

	for (; i < ls->n && !cnf_blank(ls->v[i].text); i++)
		imta_rule_add(p, &ls->v[i]);
	while (i < ls->n) {
		while (i < ls->n && cnf_blank(ls->v[i].text))
			i++;
		int start = i;
		while (i < ls->n && !cnf_blank(ls->v[i].text))
			i++;
		if (i > start)
			imta_block(p, &ls->v[start], i - start);
	}
	imta_check_refs(p);
}

/* A line of only whitespace and a trailing "!" comment is a comment line:
 * neither a rule nor a blank line that would end a part or a block. */
static void
imta_drop_comment_lines(struct cnf_lines *ls)
{
	int k = 0;
	for (int i = 0; i < ls->n; i++) {
		const char *s = ls->v[i].text;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '!' && s != ls->v[i].text)
			free(ls->v[i].text);
		else
			ls->v[k++] = ls->v[i];
	}
	ls->n = k;
}

static struct imta_conf *
imta_finish(struct imta_conf *c, char **errs)
{
	struct imta_parse p = { c, { 0 }, errs, &c->lines.nerrors };
	imta_drop_comment_lines(&c->lines);
	imta_kw_init(&p.defaults);
	if (c->lines.nerrors == 0)
		imta_parse_lines(&p);
	imta_kw_clear(&p.defaults);
	if (c->lines.nerrors > 0)
		imta_conf_free(&c);
	return c;
}

struct imta_conf *
imta_conf_load(const char *path, char **errs)
{
	struct imta_conf *c = xcalloc(1, sizeof *c);
	cnf_lines_load(&c->lines, path, errs);
	return imta_finish(c, errs);
}

struct imta_conf *
imta_conf_parse(const char *name, const char *text, char **errs)
{
	struct imta_conf *c = xcalloc(1, sizeof *c);
	cnf_lines_parse(&c->lines, name, text, errs);
	return imta_finish(c, errs);
}

void
imta_conf_free(struct imta_conf **cp)
{
	struct imta_conf *c = *cp;
	if (c == NULL)
		return;
	for (int i = 0; i < c->nrules; i++) {
		free(c->rules[i].pattern);
		free(c->rules[i].tmpl);
	}
	for (int i = 0; i < c->nchannels; i++) {
		struct imta_channel *ch = &c->channels[i];
		free(ch->name);
		imta_kw_clear(&ch->kw);
		for (int h = 0; h < ch->nhosts; h++)
			free(ch->hosts[h]);
		free(ch->hosts);
	}
	free(c->rules);
	free(c->channels);
	cnf_lines_free(&c->lines);
	free(c);
	*cp = NULL;
}

int
imta_conf_nrules(const struct imta_conf *c)
{
	return c->nrules;
}

const struct imta_rule *
imta_conf_rule(const struct imta_conf *c, int i)
{
	return i >= 0 && i < c->nrules ? &c->rules[i] : NULL;
}

int
imta_conf_nchannels(const struct imta_conf *c)
{
	return c->nchannels;
}

const struct imta_channel *
imta_conf_channel(const struct imta_conf *c, int i)
{
	return i >= 0 && i < c->nchannels ? &c->channels[i] : NULL;
}

const struct imta_channel *
imta_conf_channel_by_name(const struct imta_conf *c, const char *name)
{
	for (int i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i].name, name) == 0)
			return &c->channels[i];
	return NULL;
}

const struct imta_channel *
imta_conf_channel_by_host(const struct imta_conf *c, const char *host)
{
	for (int i = 0; i < c->nchannels; i++)
		for (int h = 0; h < c->channels[i].nhosts; h++)
			if (strcasecmp(c->channels[i].hosts[h], host) == 0)
				return &c->channels[i];
	return NULL;
}

static const int imta_default_notices[] = { 3, 6, 9, 12 };

const long long *
imta_channel_backoff(const struct imta_channel *ch, enum imta_prio prio,
    int *n)
{
	if (ch->kw.nbackoff[prio] > 0) {
		*n = ch->kw.nbackoff[prio];
		return ch->kw.backoff[prio];
	}
	*n = IMTA_DEFAULT_BACKOFF_N;
	return imta_default_backoff[prio];
}

const int *
imta_channel_notices(const struct imta_conf *c, const struct imta_channel *ch,
    enum imta_prio prio, int *n)
{
	const struct imta_channel *l = imta_conf_channel_by_name(c, "l");
	if (ch->kw.nnotices[prio] > 0) {
		*n = ch->kw.nnotices[prio];
		return ch->kw.notices[prio];
	}
	if (l != NULL && l->kw.nnotices[prio] > 0) {
		*n = l->kw.nnotices[prio];
		return l->kw.notices[prio];
	}
	*n = 4;
	return imta_default_notices;
}

void
imta_conf_dump(const struct imta_conf *c, FILE *out)
{
	for (int i = 0; i < c->nrules; i++)
		fprintf(out, "%s\t%s\n", c->rules[i].pattern, c->rules[i].tmpl);
	for (int i = 0; i < c->nchannels; i++) {
		const struct imta_channel *ch = &c->channels[i];
		fprintf(out, "\n%s", ch->name);
		imta_kw_dump(&ch->kw, out);
		fputc('\n', out);
		for (int h = 0; h < ch->nhosts; h++)
			fprintf(out, "%s\n", ch->hosts[h]);
	}
}
