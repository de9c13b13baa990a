/*
 * imap_search: SEARCH and UID SEARCH (RFC 3501 6.4.4) with every search
 * key of RFC 3501: flags, sizes, sequence and UID sets, internal and sent
 * dates, address and subject fields (from the index), HEADER, BODY and
 * TEXT (from the message file), NOT, OR and parenthesised lists.
 * CHARSET US-ASCII and UTF-8 are accepted; matching is a case-insensitive
 * substring match on the raw octets (encoded words and transfer encodings
 * are not decoded yet).  Keys nest at most SEARCH_DEPTH deep.
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
#include "mailbox.h"
#include "msg_header.h"
#include "xmalloc.h"

#define SEARCH_DEPTH 32

enum skey {
	K_ALL, K_AND, K_OR, K_NOT, K_FLAG_SET, K_FLAG_UNSET, K_NEW, K_OLD,
	K_RECENT, K_NONE, K_LARGER, K_SMALLER, K_SET, K_UIDSET,
	K_BEFORE, K_ON, K_SINCE, K_SENTBEFORE, K_SENTON, K_SENTSINCE,
	K_ENVFIELD, K_HEADER, K_BODY, K_TEXT,
};

struct snode {
	enum skey key;
	uint32_t flag;
	uint64_t num;
	time_t date;
	int field;                  /* K_ENVFIELD: imap_env_field */
	const char *str, *hdr;
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
	if (strcasecmp(w, "HEADER") == 0) {
		n->key = K_HEADER;
		p->needs_file = true;
		return (n->hdr = search_string(p)) != NULL &&
		    (n->str = search_string(p)) != NULL;
	}
	if (strcasecmp(w, "BODY") == 0 || strcasecmp(w, "TEXT") == 0) {
		n->key = toupper((unsigned char)*w) == 'B' ? K_BODY : K_TEXT;
		p->needs_file = true;
		return (n->str = search_string(p)) != NULL;
	}
	if (strcasecmp(w, "KEYWORD") == 0 || strcasecmp(w, "UNKEYWORD") == 0) {
		/* Keywords are not stored yet: nothing has one. */
		n->key = toupper((unsigned char)*w) == 'K' ? K_NONE : K_ALL;
		return search_string(p) != NULL;
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
}

/* Evaluate the sets once, against the view. */
static bool
search_prepare(struct imap_session *s, struct snode *n)
{
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
	bool have_rec;
	struct midx_message rec;
	const char *env[IMAP_ENV_NFIELDS];
	const char *data;           /* the message file, or NULL */
	size_t len, hdrlen;
};

static bool
search_contains(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	if (m == 0)
		return true;
	for (size_t i = 0; i + m <= n; i++)
		if (strncasecmp(hay + i, needle, m) == 0)
			return true;
	return false;
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

static bool
search_header(const struct smsg *m, const char *name, const char *str)
{
	char val[8192];

	if (m->data == NULL ||
	    !msg_header_get(m->data, m->hdrlen, name, val, sizeof(val)))
		return false;
	return search_contains(val, strlen(val), str);
}

static bool
search_match(const struct snode *n, const struct smsg *m)
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
	case K_RECENT: return (m->flags & MFLAG_RECENT) != 0;
	case K_NEW: return (m->flags & MFLAG_RECENT) && !(m->flags & MFLAG_SEEN);
	case K_OLD: return !(m->flags & MFLAG_RECENT);
	case K_SET:
	case K_UIDSET: return n->sel[m->i];
	case K_LARGER: return m->have_rec && m->rec.size > n->num;
	case K_SMALLER: return m->have_rec && m->rec.size < n->num;
	case K_BEFORE: return m->have_rec && search_day(m->rec.internaldate) < n->date;
	case K_ON: return m->have_rec && search_day(m->rec.internaldate) == n->date;
	case K_SINCE: return m->have_rec && search_day(m->rec.internaldate) >= n->date;
	case K_SENTBEFORE: return search_sent(m, &d) && d < n->date;
	case K_SENTON: return search_sent(m, &d) && d == n->date;
	case K_SENTSINCE: return search_sent(m, &d) && d >= n->date;
	case K_ENVFIELD:
		return m->env[n->field] != NULL &&
		    search_contains(m->env[n->field], strlen(m->env[n->field]), n->str);
	case K_HEADER: return search_header(m, n->hdr, n->str);
	case K_BODY:
		return m->data != NULL && search_contains(m->data + m->hdrlen,
		    m->len - m->hdrlen, n->str);
	case K_TEXT:
		return m->data != NULL && search_contains(m->data, m->len, n->str);
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
		m->have_rec = mbox_message_get(s->srv->db, v->id, v->uids[m->i],
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

static void
search_run(struct imap_session *s, struct snode *root, const struct sparse *p)
{
	struct mbox_view *v = s->view;
	char *env = xmalloc(10 * ENVELOPE_FIELD_MAX);
	struct evbuffer *out = imap_out(s);

	evbuffer_add_printf(out, "* SEARCH");
	for (size_t i = 0; i < v->n; i++) {
		struct smsg m = { .i = i, .flags = v->flags[i] };
		void *map;
		search_load(s, p, &m, env, 10 * ENVELOPE_FIELD_MAX, &map);
		if (search_match(root, &m))
			evbuffer_add_printf(out, " %u", s->uid_cmd ? v->uids[i] :
			    (uint32_t)(i + 1));
		if (map != NULL)
			munmap(map, m.len);
	}
	evbuffer_add(out, "\r\n", 2);
	free(env);
}

void
cmd_search(struct imap_session *s, struct imap_arg *args)
{
	struct sparse p = { .s = s, .a = args };
	struct snode root = { 0 };

	if (imap_arg_is_atom(&args[0], "CHARSET")) {
		const char *cs;
		if (!imap_arg_astring(&args[1], &cs)) {
			imap_bad(s, "Syntax: CHARSET name");
			return;
		}
		if (strcasecmp(cs, "US-ASCII") != 0 && strcasecmp(cs, "UTF-8") != 0) {
			imap_finish(s, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
			return;
		}
		p.a = args + 2;
	}
	if (p.a->type == IMAP_ARG_END)
		p.err = "Missing search key";
	else
		search_parse_list(&p, &root, 0);
	if (p.err == NULL && !search_prepare(s, &root))
		p.err = "Invalid sequence set";
	if (p.err != NULL) {
		search_free(&root);
		imap_bad(s, p.err);
		return;
	}
	search_run(s, &root, &p);
	search_free(&root);
	s->no_expunge_sync = !s->uid_cmd;
	imap_sync_view(s);
	s->no_expunge_sync = false;
	imap_finish(s, "OK %sSEARCH completed", s->uid_cmd ? "UID " : "");
}
