/*
 * imap_search: SEARCH and UID SEARCH (RFC 3501 6.4.4) with every search
 * key of RFC 3501: flags and keywords, sizes, sequence and UID sets,
 * internal and sent dates, address and subject fields (from the index),
 * HEADER, BODY and TEXT (from the message file), NOT, OR and
 * parenthesised lists; the RETURN options of ESEARCH (RFC 4731).  The
 * parser and evaluator are shared with SORT and THREAD (imap_search.h).
 * CHARSET US-ASCII and UTF-8 are accepted.
 *
 * Text keys match what the reader sees (common/mime_decode): address and
 * subject fields and HEADER after RFC 2047 encoded words are decoded;
 * BODY in the decoded text of every text part (transfer encoding undone,
 * charset converted to UTF-8; other parts skipped; the header and text of
 * an embedded message/rfc822 included); TEXT in the decoded header plus
 * that.  Matching is a case-insensitive substring match on UTF-8 with the
 * folding mime_decode.h describes.  The decoded text of a message is made
 * only when a BODY or TEXT key is evaluated, once per message per search,
 * and is capped at three times the message's size (enough for any
 * single-byte charset) and SEARCH_TEXT_MAX; header values are cut at
 * SEARCH_FIELD_MAX octets.  Keys nest at most SEARCH_DEPTH deep.
 * A peer's mistakes get BAD or NO; nothing here ends the session.
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imap_cmds.h"
#include "imap_format.h"
#include "imap_search.h"
#include "mailbox.h"
#include "mime.h"
#include "mime_decode.h"
#include "xmalloc.h"

#define SEARCH_DEPTH 32
#define SEARCH_FIELD_MAX (64 * 1024)
/* Decoding words at most multiplies a value by 9/4 (base64 of a
 * single-byte charset with 3-octet characters). */
#define SEARCH_DECODED_MAX (3 * SEARCH_FIELD_MAX)
#define SEARCH_TEXT_MAX ((size_t)160 * 1024 * 1024)

enum skey {
	K_ALL, K_AND, K_OR, K_NOT, K_FLAG_SET, K_FLAG_UNSET, K_NEW, K_OLD,
	K_RECENT, K_NONE, K_LARGER, K_SMALLER, K_SET, K_UIDSET, K_MODSEQ,
	K_BEFORE, K_ON, K_SINCE, K_SENTBEFORE, K_SENTON, K_SENTSINCE,
	K_ENVFIELD, K_HEADER, K_BODY, K_TEXT, K_KEYWORD, K_UNKEYWORD,
};

struct snode {
	enum skey key;
	uint32_t flag;
	uint64_t num;               /* K_KEYWORD: the keyword's bit */
	time_t date;
	int field;                  /* K_ENVFIELD: imap_env_field */
	const char *str, *hdr;
	char *fold;                 /* K_BODY, K_TEXT: str case-folded */
	const struct imap_arg *set;
	bool *sel;                  /* K_SET, K_UIDSET: evaluated once */
	struct snode *kids;         /* K_AND, K_OR, K_NOT */
	size_t nkids;
};

struct sparse {
	struct imap_session *s;
	const struct imap_arg *a;
	const char *err;
	bool needs_index, needs_file;
	bool modseq;                /* a MODSEQ key: the reply tells the highest */
};

struct search_prog {
	struct snode root;
	struct sparse p;            /* what the keys need loaded */
};

static const struct { const char *name; enum skey key; uint32_t flag; }
search_simple[] = {
	{ "ALL", K_ALL, 0 }, { "ANSWERED", K_FLAG_SET, MFLAG_ANSWERED },
	{ "DELETED", K_FLAG_SET, MFLAG_DELETED }, { "DRAFT", K_FLAG_SET, MFLAG_DRAFT },
	{ "FLAGGED", K_FLAG_SET, MFLAG_FLAGGED }, { "SEEN", K_FLAG_SET, MFLAG_SEEN },
	{ "UNANSWERED", K_FLAG_UNSET, MFLAG_ANSWERED },
	{ "UNDELETED", K_FLAG_UNSET, MFLAG_DELETED },
	{ "UNDRAFT", K_FLAG_UNSET, MFLAG_DRAFT },
	{ "UNFLAGGED", K_FLAG_UNSET, MFLAG_FLAGGED },
	{ "UNSEEN", K_FLAG_UNSET, MFLAG_SEEN }, { "NEW", K_NEW, 0 },
	{ "OLD", K_OLD, 0 }, { "RECENT", K_RECENT, 0 },
};

static const struct { const char *name; enum skey key; } search_dates[] = {
	{ "BEFORE", K_BEFORE }, { "ON", K_ON }, { "SINCE", K_SINCE },
	{ "SENTBEFORE", K_SENTBEFORE }, { "SENTON", K_SENTON },
	{ "SENTSINCE", K_SENTSINCE },
};

static const struct { const char *name; int field; } search_fields[] = {
	{ "FROM", IMAP_ENV_FROM }, { "TO", IMAP_ENV_TO }, { "CC", IMAP_ENV_CC },
	{ "BCC", IMAP_ENV_BCC }, { "SUBJECT", IMAP_ENV_SUBJECT },
};

static bool search_parse_key(struct sparse *p, struct snode *n, int depth);

static const char *
search_string(struct sparse *p)
{
	const char *s;

	if (p->a->type == IMAP_ARG_END || !imap_arg_astring(p->a, &s)) {
		p->err = "Missing search string";
		return NULL;
	}
	p->a++;
	return s;
}

/* Keys up to the end of the current list, ANDed. */
static bool
search_parse_list(struct sparse *p, struct snode *n, int depth)
{
	n->key = K_AND;
	while (p->a->type != IMAP_ARG_END) {
		n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
		memset(&n->kids[n->nkids], 0, sizeof(n->kids[0]));
		if (!search_parse_key(p, &n->kids[n->nkids++], depth + 1))
			return false;
	}
	return true;
}

static bool
search_parse_arg(struct sparse *p, struct snode *n, const char *w, int depth)
{
	for (size_t i = 0; i < sizeof(search_dates) / sizeof(search_dates[0]); i++)
		if (strcasecmp(w, search_dates[i].name) == 0) {
			const char *d = search_string(p);
			n->key = search_dates[i].key;
			p->needs_index = true;
			if (d == NULL || !imap_date_parse(d, &n->date)) {
				p->err = "Bad date";
				return false;
			}
			return true;
		}
	for (size_t i = 0; i < sizeof(search_fields) / sizeof(search_fields[0]); i++)
		if (strcasecmp(w, search_fields[i].name) == 0) {
			n->key = K_ENVFIELD;
			n->field = search_fields[i].field;
			p->needs_index = true;
			return (n->str = search_string(p)) != NULL;
		}
	if (strcasecmp(w, "LARGER") == 0 || strcasecmp(w, "SMALLER") == 0) {
		const char *v = search_string(p);
		char *end;
		n->key = toupper((unsigned char)*w) == 'L' ? K_LARGER : K_SMALLER;
		p->needs_index = true;
		if (v == NULL || !isdigit((unsigned char)*v) ||
		    (n->num = strtoull(v, &end, 10), *end != '\0')) {
			p->err = "Bad number";
			return false;
		}
		return true;
	}
	if (strcasecmp(w, "MODSEQ") == 0) {
		/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer
		 * (RFC 7162 3.1.5); the entry, if given, is ignored. */
		const char *v = search_string(p);
		char *end;
		if (v != NULL && !isdigit((unsigned char)*v)) {
			search_string(p);           /* entry type */
			v = search_string(p);
		}
		n->key = K_MODSEQ;
		p->modseq = true;
		p->s->condstore = true;
		if (v == NULL || !isdigit((unsigned char)*v) ||
		    (n->num = strtoull(v, &end, 10), *end != '\0')) {
			p->err = "Bad MODSEQ";
			return false;
		}
		return true;
	}
	if (strcasecmp(w, "HEADER") == 0) {
		n->key = K_HEADER;
		p->needs_file = true;
		return (n->hdr = search_string(p)) != NULL &&
		    (n->str = search_string(p)) != NULL;
	}
	if (strcasecmp(w, "BODY") == 0 || strcasecmp(w, "TEXT") == 0) {
		n->key = toupper((unsigned char)*w) == 'B' ? K_BODY : K_TEXT;
		p->needs_file = true;
		if ((n->str = search_string(p)) == NULL)
			return false;
		n->fold = xstrdup(n->str);
		mime_utf8_fold(n->fold, strlen(n->fold));
		return true;
	}
	if (strcasecmp(w, "KEYWORD") == 0 || strcasecmp(w, "UNKEYWORD") == 0) {
		n->key = toupper((unsigned char)*w) == 'K' ? K_KEYWORD : K_UNKEYWORD;
		return (n->str = search_string(p)) != NULL;
	}
	if (strcasecmp(w, "UID") == 0) {
		n->key = K_UIDSET;
		n->set = p->a;
		if (p->a->type != IMAP_ARG_ATOM) {
			p->err = "Bad UID set";
			return false;
		}
		p->a++;
		return true;
	}
	if (strcasecmp(w, "NOT") == 0 || strcasecmp(w, "OR") == 0) {
		n->key = toupper((unsigned char)*w) == 'N' ? K_NOT : K_OR;
		n->nkids = n->key == K_NOT ? 1 : 2;
		n->kids = xcalloc(n->nkids, sizeof(*n->kids));
		for (size_t i = 0; i < n->nkids; i++)
			if (!search_parse_key(p, &n->kids[i], depth + 1))
				return false;
		return true;
	}
	/* A sequence set. */
	if (isdigit((unsigned char)*w) || *w == '*') {
		n->key = K_SET;
		n->set = p->a - 1;
		return true;
	}
	p->err = "Unknown search key";
	return false;
}

static bool
search_parse_key(struct sparse *p, struct snode *n, int depth)
{
	const struct imap_arg *a = p->a;

	if (depth > SEARCH_DEPTH) {
		p->err = "Search keys nested too deeply";
		return false;
	}
	if (a->type == IMAP_ARG_END) {
		p->err = "Missing search key";
		return false;
	}
	p->a++;
	if (a->type == IMAP_ARG_LIST) {
		const struct imap_arg *saved = p->a;
		p->a = a->list;
		bool ok = search_parse_list(p, n, depth);
		p->a = saved;
		return ok;
	}
	if (a->type != IMAP_ARG_ATOM) {
		p->err = "Bad search key";
		return false;
	}
	for (size_t i = 0; i < sizeof(search_simple) / sizeof(search_simple[0]); i++)
		if (strcasecmp(a->str, search_simple[i].name) == 0) {
			n->key = search_simple[i].key;
			n->flag = search_simple[i].flag;
			return true;
		}
	return search_parse_arg(p, n, a->str, depth);
}

static void
search_free(struct snode *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		search_free(&n->kids[i]);
	free(n->kids);
	free(n->sel);
	free(n->fold);
}

/* Evaluate the sets once, against the view; keywords become the bit the
 * mailbox gave them (none for a name it does not know). */
static bool
search_prepare(struct imap_session *s, struct snode *n)
{
	if (n->key == K_KEYWORD || n->key == K_UNKEYWORD) {
		const struct keywords *kw = &s->view->names;
		n->num = 0;
		for (size_t i = 0; i < kw->n && i < KEYWORDS_MAX; i++)
			if (strcasecmp(kw->names[i], n->str) == 0)
				n->num = (uint64_t)1 << i;
		return true;
	}
	if (n->key == K_SET || n->key == K_UIDSET) {
		n->sel = xcalloc(s->view->n + 1, sizeof(bool));
		return mbox_select_set(s->view, n->set->str, n->key == K_UIDSET,
		    n->sel);
	}
	for (size_t i = 0; i < n->nkids; i++)
		if (!search_prepare(s, &n->kids[i]))
			return false;
	return true;
}

/* What one message offers to the keys. */
struct smsg {
	size_t i;
	uint32_t flags;
	uint64_t kw;                /* keyword bits */
	uint64_t modseq;
	bool have_rec;
	struct midx_message rec;
	const char *env[IMAP_ENV_NFIELDS];
	const char *data;           /* the message file, or NULL */
	size_t len, hdrlen;
	char *raw, *dec;            /* scratch: SEARCH_FIELD_MAX, _DECODED_MAX */
	/* BODY and TEXT: the decoded header, then the decoded bodies, case
	 * folded; made on first use (text_done). */
	bool text_done;
	struct mime_text text;
	size_t body_off;
};

/* A header value (folded, raw) unfolded and its encoded words decoded,
 * in m->dec; its length. */
static size_t
search_field_value(struct smsg *m, const char *v, size_t n)
{
	size_t u = mime_unfold(v, n, m->raw, SEARCH_FIELD_MAX);

	return mime_decode_words(m->raw, u, m->dec, SEARCH_DECODED_MAX);
}

/* "name: decoded value" for each field of the header block. */
static void
search_text_header(struct smsg *m, const char *hdr, size_t len)
{
	struct mime_field f;
	size_t pos = 0;

	while (mime_header_next(hdr, len, &pos, &f)) {
		size_t n = search_field_value(m, f.value, f.value_len);
		mime_text_add(&m->text, f.name, f.name_len);
		mime_text_add(&m->text, ": ", 2);
		mime_text_add(&m->text, m->dec, n);
		mime_text_add(&m->text, "\n", 1);
	}
}

/* The text a part shows: text leaves decoded, multiparts' children,
 * embedded messages' header and parts; nothing of other types. */
static void
search_text_part(struct smsg *m, const struct mime_part *p)
{
	if (mime_is_multipart(p)) {
		for (const struct mime_part *c = p->children; c != NULL; c = c->next)
			search_text_part(m, c);
	} else if (mime_is_message(p)) {
		const struct mime_part *e = p->message;
		search_text_header(m, m->data + e->hdr_off, e->hdr_len);
		search_text_part(m, e);
	} else if (mime_is_text(p) && !p->opaque) {
		mime_decode_body(m->data + p->body_off, p->body_len, p->encoding,
		    mime_param_get(p->params, p->nparams, "charset"), &m->text);
		mime_text_add(&m->text, "\n", 1);
	}
}

static void
search_text_load(struct smsg *m)
{
	size_t max = m->len < SEARCH_TEXT_MAX / 3 ? 3 * m->len + 4096 :
	    SEARCH_TEXT_MAX;

	m->text_done = true;
	mime_text_init(&m->text, max);
	if (m->data == NULL)
		return;
	struct mime_tree *t = mime_parse(m->data, m->len);
	const struct mime_part *root = mime_root(t);
	search_text_header(m, m->data + root->hdr_off, root->hdr_len);
	m->body_off = m->text.len;
	search_text_part(m, root);
	mime_free(&t);
	if (m->text.p != NULL)
		mime_utf8_fold(m->text.p, m->text.len);
}

/* BODY (body_only) or TEXT: the folded needle in the folded text. */
static bool
search_text(struct smsg *m, const char *fold, bool body_only)
{
	if (m->data == NULL)
		return false;
	if (!m->text_done)
		search_text_load(m);
	size_t off = body_only ? m->body_off : 0, n = strlen(fold);
	if (n == 0)
		return true;
	return m->text.p != NULL &&
	    memmem(m->text.p + off, m->text.len - off, fold, n) != NULL;
}

static bool
search_envfield(struct smsg *m, const char *v, const char *str)
{
	if (v == NULL)
		return false;
	size_t n = mime_decode_words(v, strlen(v), m->dec, SEARCH_DECODED_MAX);
	return mime_utf8_contains(m->dec, n, str);
}

static time_t
search_day(time_t t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

static bool
search_sent(const struct smsg *m, time_t *day)
{
	time_t t;
	int tz;

	if (m->env[IMAP_ENV_DATE] == NULL ||
	    !imap_message_date_parse(m->env[IMAP_ENV_DATE], &t, &tz))
		return false;
	*day = search_day(t + tz * 60);
	return true;
}

/* Any field called name (case-insensitive) holds str once decoded; ""
 * matches a message that has the field. */
static bool
search_header(struct smsg *m, const char *name, const char *str)
{
	struct mime_field f;
	size_t pos = 0, nlen = strlen(name);

	if (m->data == NULL)
		return false;
	while (mime_header_next(m->data, m->hdrlen, &pos, &f)) {
		if (f.name_len != nlen || strncasecmp(f.name, name, nlen) != 0)
			continue;
		size_t n = search_field_value(m, f.value, f.value_len);
		if (mime_utf8_contains(m->dec, n, str))
			return true;
	}
	return false;
}

static bool
search_match(const struct snode *n, struct smsg *m)
{
	time_t d;

	switch (n->key) {
	case K_ALL: return true;
	case K_NONE: return false;
	case K_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (!search_match(&n->kids[i], m))
				return false;
		return true;
	case K_OR: return search_match(&n->kids[0], m) || search_match(&n->kids[1], m);
	case K_NOT: return !search_match(&n->kids[0], m);
	case K_FLAG_SET: return (m->flags & n->flag) != 0;
	case K_FLAG_UNSET: return (m->flags & n->flag) == 0;
	case K_KEYWORD: return (m->kw & n->num) != 0;
	case K_UNKEYWORD: return (m->kw & n->num) == 0;
	case K_RECENT: return (m->flags & MFLAG_RECENT) != 0;
	case K_NEW: return (m->flags & MFLAG_RECENT) && !(m->flags & MFLAG_SEEN);
	case K_OLD: return !(m->flags & MFLAG_RECENT);
	case K_SET:
	case K_UIDSET: return n->sel[m->i];
	case K_LARGER: return m->have_rec && m->rec.size > n->num;
	case K_MODSEQ: return m->modseq >= n->num;
	case K_SMALLER: return m->have_rec && m->rec.size < n->num;
	case K_BEFORE: return m->have_rec && search_day(m->rec.internaldate) < n->date;
	case K_ON: return m->have_rec && search_day(m->rec.internaldate) == n->date;
	case K_SINCE: return m->have_rec && search_day(m->rec.internaldate) >= n->date;
	case K_SENTBEFORE: return search_sent(m, &d) && d < n->date;
	case K_SENTON: return search_sent(m, &d) && d == n->date;
	case K_SENTSINCE: return search_sent(m, &d) && d >= n->date;
	case K_ENVFIELD: return search_envfield(m, m->env[n->field], n->str);
	case K_HEADER: return search_header(m, n->hdr, n->str);
	case K_BODY: return search_text(m, n->fold, true);
	case K_TEXT: return search_text(m, n->fold, false);
	}
	return false;
}

static void
search_load(struct imap_session *s, const struct sparse *p, struct smsg *m,
    char *env, size_t envcap, void **map)
{
	size_t envlen;
	struct mbox_view *v = s->view;

	*map = NULL;
	if (p->needs_index || p->needs_file)
		m->have_rec = mbox_message_get(s->srv->svc.db, v->id, v->uids[m->i],
		    &m->rec, env, envcap, &envlen) == 0;
	if (m->have_rec && !imap_env_split(env, envlen, m->env))
		memset(m->env, 0, sizeof(m->env));
	if (!p->needs_file || !m->have_rec)
		return;
	char path[4608];
	struct stat st;
	mbox_message_path(v, v->uids[m->i], path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		*map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (*map == MAP_FAILED)
			*map = NULL;
		else {
			m->data = *map;
			m->len = (size_t)st.st_size;
			m->hdrlen = m->rec.header_size <= m->len ? m->rec.header_size :
			    m->len;
		}
	}
	close(fd);
}

/* ---- the program, for SEARCH, SORT and THREAD (imap_search.h) ---- */

struct search_prog *
imap_search_parse(struct imap_session *s, const struct imap_arg *args,
    const char **err)
{
	struct search_prog *prog = xcalloc(1, sizeof(*prog));

	prog->p.s = s;
	prog->p.a = args;
	if (args->type == IMAP_ARG_END)
		prog->p.err = "Missing search key";
	else
		search_parse_list(&prog->p, &prog->root, 0);
	if (prog->p.err == NULL && !search_prepare(s, &prog->root))
		prog->p.err = "Invalid sequence set";
	if (prog->p.err != NULL) {
		*err = prog->p.err;
		imap_search_free(&prog);
		return NULL;
	}
	return prog;
}

void
imap_search_free(struct search_prog **pp)
{
	if (*pp == NULL)
		return;
	search_free(&(*pp)->root);
	free(*pp);
	*pp = NULL;
}

size_t
imap_search_select(struct imap_session *s, const struct search_prog *prog,
    bool *sel)
{
	struct mbox_view *v = s->view;
	char *env = xmalloc(10 * ENVELOPE_FIELD_MAX);
	char *raw = NULL, *dec = NULL;
	size_t count = 0;

	if (prog->p.needs_index || prog->p.needs_file) {
		raw = xmalloc(SEARCH_FIELD_MAX);
		dec = xmalloc(SEARCH_DECODED_MAX);
	}
	for (size_t i = 0; i < v->n; i++) {
		struct smsg m = { .i = i, .flags = v->flags[i],
		    .kw = v->kw != NULL ? v->kw[i] : 0,
		    .modseq = v->modseq != NULL ? v->modseq[i] : 0,
		    .raw = raw, .dec = dec };
		void *map;
		search_load(s, &prog->p, &m, env, 10 * ENVELOPE_FIELD_MAX, &map);
		sel[i] = search_match(&prog->root, &m);
		count += sel[i];
		mime_text_free(&m.text);
		if (map != NULL)
			munmap(map, m.len);
	}
	free(raw);
	free(dec);
	free(env);
	return count;
}

bool
imap_search_charset_ok(const char *charset)
{
	return strcasecmp(charset, "US-ASCII") == 0 ||
	    strcasecmp(charset, "UTF-8") == 0;
}

void
imap_search_sync(struct imap_session *s)
{
	s->no_expunge_sync = !s->uid_cmd;
	imap_sync_view(s);
	s->no_expunge_sync = false;
}

/* ---- SEARCH and ESEARCH ---- */

enum {
	SEARCH_RET_MIN = 1, SEARCH_RET_MAX = 2, SEARCH_RET_ALL = 4,
	SEARCH_RET_COUNT = 8,
};

/*
 * search-return-opts = SP "RETURN" SP "(" [search-return-opt
 *                      *(SP search-return-opt)] ")"
 * search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT"
 * RETURN () means ALL (RFC 4731 3.1).
 */
static bool
search_return_opts(const struct imap_arg *l, unsigned *ret)
{
	static const struct { const char *name; unsigned bit; } opts[] = {
		{ "MIN", SEARCH_RET_MIN }, { "MAX", SEARCH_RET_MAX },
		{ "ALL", SEARCH_RET_ALL }, { "COUNT", SEARCH_RET_COUNT },
	};

	*ret = 0;
	for (; l->type != IMAP_ARG_END; l++) {
		size_t i, n = sizeof(opts) / sizeof(opts[0]);
		for (i = 0; i < n; i++)
			if (imap_arg_is_atom(l, opts[i].name))
				break;
		if (i == n)
			return false;
		*ret |= opts[i].bit;
	}
	if (*ret == 0)
		*ret = SEARCH_RET_ALL;
	return true;
}

static uint32_t
search_number(const struct imap_session *s, size_t i)
{
	return s->uid_cmd ? s->view->uids[i] : (uint32_t)(i + 1);
}

/* sequence-set of the matches, ascending, runs of consecutive numbers
 * written as ranges. */
static void
search_write_set(struct evbuffer *out, const struct imap_session *s,
    const bool *sel)
{
	size_t n = s->view->n;
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		if (!sel[i])
			continue;
		uint32_t lo = search_number(s, i), hi = lo;
		while (i + 1 < n && sel[i + 1] && search_number(s, i + 1) == hi + 1)
			hi = search_number(s, ++i);
		evbuffer_add_printf(out, first ? "%u" : ",%u", lo);
		if (hi != lo)
			evbuffer_add_printf(out, ":%u", hi);
		first = false;
	}
}

/* esearch-response = "ESEARCH" [search-correlator] [SP "UID"]
 *                    *(SP search-return-data) */
static void
search_write_esearch(struct imap_session *s, const bool *sel, size_t count,
    unsigned ret)
{
	struct evbuffer *out = imap_out(s);
	size_t n = s->view->n, lo = n, hi = n;

	for (size_t i = 0; i < n; i++)
		if (sel[i]) {
			if (lo == n)
				lo = i;
			hi = i;
		}
	evbuffer_add_printf(out, "* ESEARCH (TAG ");
	imap_write_string(out, s->tag);
	evbuffer_add_printf(out, ")%s", s->uid_cmd ? " UID" : "");
	if ((ret & SEARCH_RET_MIN) && count > 0)
		evbuffer_add_printf(out, " MIN %u", search_number(s, lo));
	if ((ret & SEARCH_RET_MAX) && count > 0)
		evbuffer_add_printf(out, " MAX %u", search_number(s, hi));
	if (ret & SEARCH_RET_COUNT)
		evbuffer_add_printf(out, " COUNT %zu", count);
	if ((ret & SEARCH_RET_ALL) && count > 0) {
		evbuffer_add(out, " ALL ", 5);
		search_write_set(out, s, sel);
	}
	evbuffer_add(out, "\r\n", 2);
}

static void
search_write_plain(struct imap_session *s, const bool *sel, bool with_modseq)
{
	struct evbuffer *out = imap_out(s);

	uint64_t high = 0;

	evbuffer_add_printf(out, "* SEARCH");
	for (size_t i = 0; i < s->view->n; i++)
		if (sel[i]) {
			evbuffer_add_printf(out, " %u", search_number(s, i));
			if (s->view->modseq[i] > high)
				high = s->view->modseq[i];
		}
	/* A search with MODSEQ tells the highest of the matches (7162 3.1.5). */
	if (with_modseq && high > 0)
		evbuffer_add_printf(out, " (MODSEQ %llu)", (unsigned long long)high);
	evbuffer_add(out, "\r\n", 2);
}

/*
 * search = "SEARCH" [search-return-opts] [SP "CHARSET" SP astring]
 *          1*(SP search-key)
 */
void
cmd_search(struct imap_session *s, struct imap_arg *args)
{
	const struct imap_arg *a = args;
	unsigned ret = 0;
	const char *err;

	if (imap_arg_is_atom(a, "RETURN")) {
		if (a[1].type != IMAP_ARG_LIST || !search_return_opts(a[1].list, &ret)) {
			imap_bad(s, "Syntax: RETURN ([MIN] [MAX] [ALL] [COUNT])");
			return;
		}
		a += 2;
	}
	if (imap_arg_is_atom(a, "CHARSET")) {
		const char *cs;
		if (!imap_arg_astring(&a[1], &cs)) {
			imap_bad(s, "Syntax: CHARSET name");
			return;
		}
		if (!imap_search_charset_ok(cs)) {
			imap_finish(s, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
			return;
		}
		a += 2;
	}
	struct search_prog *prog = imap_search_parse(s, a, &err);
	if (prog == NULL) {
		imap_bad(s, err);
		return;
	}
	bool *sel = xcalloc(s->view->n + 1, sizeof(bool));
	size_t count = imap_search_select(s, prog, sel);
	if (ret != 0)
		search_write_esearch(s, sel, count, ret);
	else
		search_write_plain(s, sel, prog->p.modseq);
	free(sel);
	imap_search_free(&prog);
	imap_search_sync(s);
	imap_finish(s, "OK %sSEARCH completed", s->uid_cmd ? "UID " : "");
}
