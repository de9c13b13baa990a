/*
 * imap_sort: SORT and THREAD (RFC 5256), with the DISPLAYFROM and
 * DISPLAYTO sort keys of RFC 5957.
 *
 * Both run the SEARCH program (imap_search.h) over the view, then read
 * what their keys need from the index (envelope fields, size, internal
 * date) and, for THREAD=REFERENCES, the References: field from the
 * message file's header.  Strings are compared case-insensitively beyond
 * ASCII (see sort_key_dup) after RFC 2047 encoded words are decoded to
 * UTF-8 (common/mime_decode: any charset iconv knows; words in others keep
 * their octets).
 *
 * Limits: at most SORT_CRITERIA_MAX sort criteria; string keys are cut at
 * SORT_KEY_MAX octets; THREAD reads at most THREAD_HEADER_MAX octets of a
 * header and uses the last THREAD_REFS_MAX ids of its References.  Memory
 * is linear in the number of messages; thread trees are built, pruned and
 * written without recursion, so a reply chain of any length is safe.
 * A peer's mistakes get BAD or NO; nothing here ends the session.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "imap_search.h"
#include "mailbox.h"
#include "mime.h"
#include "mime_decode.h"
#include "xmalloc.h"

#define SORT_CRITERIA_MAX 16
#define SORT_KEY_MAX 1024
/* Decoding words at most multiplies a field by 9/4 (mime_decode). */
#define SORT_TEXT_MAX (3 * IMAP_ENV_FIELD_MAX + 1)
#define THREAD_HEADER_MAX (256 * 1024)
#define THREAD_REFS_MAX 128
#define THREAD_ID_MAX 1000
#define THREAD_NONE UINT32_MAX

/* ---- what one message offers to the keys ---- */

struct sort_scratch {
	char *env;                  /* the index's envelope blob */
	char *text;                 /* a decoded field */
	char *decoded;              /* a field, its encoded words decoded */
	char *hdr;                  /* THREAD: the message file's header */
};

struct sort_msg {
	size_t i;                   /* 0-based position in the view */
	bool have_rec;
	struct midx_message rec;
	const char *env[IMAP_ENV_NFIELDS];
};

static void
sort_scratch_init(struct sort_scratch *sc, bool header)
{
	sc->env = xmalloc(10 * ENVELOPE_FIELD_MAX);
	sc->text = xmalloc(SORT_TEXT_MAX);
	sc->decoded = xmalloc(SORT_TEXT_MAX);
	sc->hdr = header ? xmalloc(THREAD_HEADER_MAX) : NULL;
}

static void
sort_scratch_free(struct sort_scratch *sc)
{
	free(sc->env);
	free(sc->text);
	free(sc->decoded);
	free(sc->hdr);
}

static void
sort_msg_load(struct imap_session *s, struct sort_scratch *sc, size_t i,
    struct sort_msg *m)
{
	struct mbox_view *v = s->view;
	size_t envlen;

	memset(m, 0, sizeof(*m));
	m->i = i;
	m->have_rec = mbox_message_get(s->srv->svc.db, v->id, v->uids[i], &m->rec,
	    sc->env, 10 * ENVELOPE_FIELD_MAX, &envlen) == 0;
	if (m->have_rec && !imap_env_split(sc->env, envlen, m->env))
		memset(m->env, 0, sizeof(m->env));
}

/* RFC 5256 2.2: the Date: field in UTC, else the INTERNALDATE. */
static int64_t
sort_sent_date(const struct sort_msg *m)
{
	time_t t;
	int tz;

	if (m->env[IMAP_ENV_DATE] != NULL &&
	    imap_message_date_parse(m->env[IMAP_ENV_DATE], &t, &tz))
		return (int64_t)t;
	return m->have_rec ? m->rec.internaldate : 0;
}

/* ---- text: encoded words, white space, case ---- */

struct sort_buf {
	char *p;
	size_t len, cap;
};

/* Append one octet: controls (tabs, line ends) become spaces, and a run
 * of spaces one space. */
static void
sort_put(struct sort_buf *b, unsigned char c)
{
	if (c < 0x20 || c == 0x7f)
		c = ' ';
	if (c == ' ' && b->len > 0 && b->p[b->len - 1] == ' ')
		return;
	if (b->len + 1 < b->cap)
		b->p[b->len++] = (char)c;
}

/*
 * RFC 5256 2.1 step 1: decode the encoded words of s (common/mime_decode;
 * white space between two of them goes), turn tabs and line ends into
 * spaces and runs of spaces into one.  Result in sc->text; its length.
 */
static size_t
sort_decode(const char *s, struct sort_scratch *sc)
{
	struct sort_buf b = { sc->text, 0, SORT_TEXT_MAX };
	size_t n = mime_decode_words(s, strlen(s), sc->decoded, SORT_TEXT_MAX);

	for (size_t i = 0; i < n; i++)
		sort_put(&b, (unsigned char)sc->decoded[i]);
	b.p[b.len] = '\0';
	return b.len;
}

/*
 * Keys are stored case-folded, then compared as octets: ASCII letters
 * upper-cased as in i;ascii-casemap (and as i;unicode-casemap's titlecase
 * gives them), other letters folded by mime_utf8_fold, so "\u00c9mile" and
 * "\u00e9mile" are equal.  Not i;unicode-casemap in full: there is no
 * decomposition, so "\u00e9" sorts after "z", not with "e".
 */
static char *
sort_key_dup(const char *s, size_t n)
{
	if (n > SORT_KEY_MAX)
		n = SORT_KEY_MAX;
	char *k = xmalloc(n + 1);
	memcpy(k, s, n);
	mime_utf8_fold(k, n);
	for (size_t i = 0; i < n; i++)
		k[i] = (char)toupper((unsigned char)k[i]);
	k[n] = '\0';
	return k;
}

/* ---- base subject (RFC 5256 2.1) ---- */

/*
 * subj-blob = "[" *BLOBCHAR "]" *WSP
 * BLOBCHAR  = %x01-5a / %x5c / %x5e-ff
 * The position after a blob at p, or p.
 */
static size_t
subj_blob(const char *b, size_t p, size_t end)
{
	if (p >= end || b[p] != '[')
		return p;
	size_t q = p + 1;
	while (q < end && b[q] != '[' && b[q] != ']')
		q++;
	if (q >= end || b[q] != ']')
		return p;
	for (q++; q < end && b[q] == ' '; q++)
		;
	return q;
}

/*
 * subj-leader = (*subj-blob subj-refwd) / WSP
 * subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 * The position after a leader at p, or p.
 */
static size_t
subj_leader(const char *b, size_t p, size_t end, bool *reply)
{
	size_t q = p, r;

	if (p < end && b[p] == ' ')
		return p + 1;
	while ((r = subj_blob(b, q, end)) != q)
		q = r;
	if (q + 2 <= end && strncasecmp(b + q, "re", 2) == 0)
		q += 2;
	else if (q + 2 <= end && strncasecmp(b + q, "fw", 2) == 0) {
		q += 2;
		if (q < end && tolower((unsigned char)b[q]) == 'd')
			q++;
	} else
		return p;
	while (q < end && b[q] == ' ')
		q++;
	q = subj_blob(b, q, end);
	if (q >= end || b[q] != ':')
		return p;
	*reply = true;
	return q + 1;
}

/* subj-trailer = "(fwd)" / WSP, removed from the end until none is left. */
static size_t
subj_trailers(const char *b, size_t start, size_t end, bool *reply)
{
	for (;;) {
		if (end > start && b[end - 1] == ' ')
			end--;
		else if (end - start >= 5 && strncasecmp(b + end - 5, "(fwd)", 5) == 0) {
			end -= 5;
			*reply = true;
		} else
			return end;
	}
}

/* Steps 2 to 6 on b[0..n), in place; *reply when a subj-refwd, a "(fwd)"
 * or a [fwd: ...] went.  The base subject's length. */
static size_t
subj_base(char *b, size_t n, bool *reply)
{
	size_t start = 0, end = n;

	*reply = false;
	for (;;) {
		end = subj_trailers(b, start, end, reply);
		for (bool again = true; again;) {
			size_t k = subj_leader(b, start, end, reply);
			size_t j = subj_blob(b, k, end);
			again = k != start || (j != k && j < end);
			start = j != k && j < end ? j : k;
		}
		if (end - start >= 6 && strncasecmp(b + start, "[fwd:", 5) == 0 &&
		    b[end - 1] == ']') {
			start += 5;
			end--;
			*reply = true;
			continue;
		}
		break;
	}
	memmove(b, b + start, end - start);
	b[end - start] = '\0';
	return end - start;
}

/* The base subject of a message, case-mapped: allocated. */
static char *
sort_subject_key(const struct sort_msg *m, struct sort_scratch *sc,
    bool *reply)
{
	const char *subj = m->env[IMAP_ENV_SUBJECT];
	size_t n = sort_decode(subj != NULL ? subj : "", sc);

	n = subj_base(sc->text, n, reply);
	return sort_key_dup(sc->text, n);
}

/*
 * FROM, TO, CC: the addr-mailbox of the first address (RFC 5256 3);
 * DISPLAYFROM, DISPLAYTO: its decoded display name, or addr-spec when it
 * has none (RFC 5957 3).  Allocated and case-mapped; "" when none.
 */
static char *
sort_address_key(const char *value, bool display, struct sort_scratch *sc)
{
	struct addr_list l;
	char *key = NULL;

	if (value == NULL)
		return xstrdup("");
	addr_list_parse(value, strlen(value), &l);
	for (size_t i = 0; i < l.n && key == NULL; i++) {
		const struct addr *a = &l.v[i];
		if (a->kind != ADDR_MAILBOX)
			continue;
		const char *mbx = a->mailbox != NULL ? a->mailbox : "";
		if (!display)
			key = sort_key_dup(mbx, strlen(mbx));
		else if (a->name != NULL && *a->name != '\0') {
			size_t n = sort_decode(a->name, sc), o = 0;
			while (o < n && sc->text[o] == ' ')
				o++;
			while (n > o && sc->text[n - 1] == ' ')
				n--;
			key = sort_key_dup(sc->text + o, n - o);
		} else {
			char *spec = xasprintf("%s@%s", mbx, a->host ? a->host : "");
			key = sort_key_dup(spec, strlen(spec));
			free(spec);
		}
	}
	addr_list_free(&l);
	return key != NULL ? key : xstrdup("");
}

/* ---- SORT ---- */

enum sort_key {
	SK_ARRIVAL, SK_CC, SK_DATE, SK_FROM, SK_SIZE, SK_SUBJECT, SK_TO,
	SK_DISPLAYFROM, SK_DISPLAYTO,
};

static const struct { const char *name; enum sort_key key; bool str; }
sort_keys[] = {
	{ "ARRIVAL", SK_ARRIVAL, false }, { "CC", SK_CC, true },
	{ "DATE", SK_DATE, false }, { "FROM", SK_FROM, true },
	{ "SIZE", SK_SIZE, false }, { "SUBJECT", SK_SUBJECT, true },
	{ "TO", SK_TO, true }, { "DISPLAYFROM", SK_DISPLAYFROM, true },
	{ "DISPLAYTO", SK_DISPLAYTO, true },
};

struct sort_spec {
	struct { enum sort_key key; bool reverse, str; } c[SORT_CRITERIA_MAX];
	size_t n;
};

union sort_val {
	int64_t num;
	char *str;
};

struct sort_item {
	const struct sort_spec *spec;
	uint32_t seq, num;
	union sort_val v[];         /* one per criterion */
};

/*
 * sort-criteria  = "(" sort-criterion *(SP sort-criterion) ")"
 * sort-criterion = ["REVERSE" SP] sort-key
 */
static const char *
sort_parse_criteria(const struct imap_arg *l, struct sort_spec *sp)
{
	size_t nk = sizeof(sort_keys) / sizeof(sort_keys[0]);

	sp->n = 0;
	while (l->type != IMAP_ARG_END) {
		bool reverse = imap_arg_is_atom(l, "REVERSE");
		size_t k;
		if (reverse)
			l++;
		for (k = 0; k < nk; k++)
			if (imap_arg_is_atom(l, sort_keys[k].name))
				break;
		if (k == nk)
			return "Unknown sort key";
		if (sp->n == SORT_CRITERIA_MAX)
			return "Too many sort criteria";
		sp->c[sp->n].key = sort_keys[k].key;
		sp->c[sp->n].str = sort_keys[k].str;
		sp->c[sp->n++].reverse = reverse;
		l++;
	}
	return sp->n == 0 ? "Empty sort criteria" : NULL;
}

static union sort_val
sort_value(enum sort_key key, const struct sort_msg *m, struct sort_scratch *sc)
{
	union sort_val v = { .num = 0 };
	bool reply;

	switch (key) {
	case SK_ARRIVAL: v.num = m->have_rec ? m->rec.internaldate : 0; break;
	case SK_DATE: v.num = sort_sent_date(m); break;
	case SK_SIZE: v.num = m->have_rec ? (int64_t)m->rec.size : 0; break;
	case SK_SUBJECT: v.str = sort_subject_key(m, sc, &reply); break;
	case SK_CC: v.str = sort_address_key(m->env[IMAP_ENV_CC], false, sc); break;
	case SK_FROM: v.str = sort_address_key(m->env[IMAP_ENV_FROM], false, sc); break;
	case SK_TO: v.str = sort_address_key(m->env[IMAP_ENV_TO], false, sc); break;
	case SK_DISPLAYFROM:
		v.str = sort_address_key(m->env[IMAP_ENV_FROM], true, sc);
		break;
	case SK_DISPLAYTO:
		v.str = sort_address_key(m->env[IMAP_ENV_TO], true, sc);
		break;
	}
	return v;
}

static struct sort_item *
sort_item_make(struct imap_session *s, const struct sort_spec *sp,
    struct sort_scratch *sc, size_t i)
{
	struct sort_item *it = xmalloc(sizeof(*it) + sp->n * sizeof(it->v[0]));
	struct sort_msg m;

	sort_msg_load(s, sc, i, &m);
	it->spec = sp;
	it->seq = (uint32_t)(i + 1);
	it->num = s->uid_cmd ? s->view->uids[i] : it->seq;
	for (size_t k = 0; k < sp->n; k++)
		it->v[k] = sort_value(sp->c[k].key, &m, sc);
	return it;
}

static void
sort_item_free(struct sort_item **itp)
{
	struct sort_item *it = *itp;

	for (size_t k = 0; k < it->spec->n; k++)
		if (it->spec->c[k].str)
			free(it->v[k].str);
	free(it);
	*itp = NULL;
}

/* Criteria in turn, REVERSE flipping one; ties go by sequence number. */
static int
sort_compare(const void *pa, const void *pb)
{
	const struct sort_item *a = *(struct sort_item *const *)pa;
	const struct sort_item *b = *(struct sort_item *const *)pb;
	const struct sort_spec *sp = a->spec;

	for (size_t k = 0; k < sp->n; k++) {
		int c;
		if (sp->c[k].str)
			c = strcmp(a->v[k].str, b->v[k].str);
		else
			c = (a->v[k].num > b->v[k].num) - (a->v[k].num < b->v[k].num);
		if (c != 0)
			return sp->c[k].reverse ? -c : c;
	}
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/*
 * search-criteria = charset 1*(SP search-key)
 * sel[] gets the matches and *count their number; false once the command
 * has been answered (BAD, or NO for the charset).
 */
static bool
sort_select(struct imap_session *s, const struct imap_arg *a, bool *sel,
    size_t *count)
{
	const char *cs, *err;

	if (!imap_arg_astring(a, &cs)) {
		imap_bad(s, "Missing charset");
		return false;
	}
	if (!imap_search_charset_ok(cs)) {
		imap_finish(s, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
		return false;
	}
	struct search_prog *prog = imap_search_parse(s, a + 1, &err);
	if (prog == NULL) {
		imap_bad(s, err);
		return false;
	}
	*count = imap_search_select(s, prog, sel);
	imap_search_free(&prog);
	return true;
}

/* sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria */
void
cmd_sort(struct imap_session *s, struct imap_arg *args)
{
	struct sort_spec spec;
	struct sort_scratch sc;
	size_t count, k = 0;
	const char *err;

	if (args[0].type != IMAP_ARG_LIST) {
		imap_bad(s, "Syntax: SORT (criteria) charset search-keys");
		return;
	}
	if ((err = sort_parse_criteria(args[0].list, &spec)) != NULL) {
		imap_bad(s, err);
		return;
	}
	bool *sel = xcalloc(s->view->n + 1, sizeof(bool));
	if (!sort_select(s, &args[1], sel, &count)) {
		free(sel);
		return;
	}
	struct sort_item **items = xcalloc(count + 1, sizeof(*items));
	sort_scratch_init(&sc, false);
	for (size_t i = 0; i < s->view->n && k < count; i++)
		if (sel[i])
			items[k++] = sort_item_make(s, &spec, &sc, i);
	sort_scratch_free(&sc);
	free(sel);
	qsort(items, k, sizeof(*items), sort_compare);
	struct evbuffer *out = imap_out(s);
	evbuffer_add_printf(out, "* SORT");
	for (size_t i = 0; i < k; i++) {
		evbuffer_add_printf(out, " %u", items[i]->num);
		sort_item_free(&items[i]);
	}
	evbuffer_add(out, "\r\n", 2);
	free(items);
	imap_search_sync(s);
	imap_finish(s, "OK %sSORT completed", s->uid_cmd ? "UID " : "");
}

/* ---- THREAD: the tree ---- */

struct thread_msg {
	uint32_t seq, num;
	int64_t date;               /* sent date */
	char *subject;              /* base subject, case-mapped */
	bool reply;                 /* the subject said reply or forward */
};

/* A container: a message, or a dummy (msg == THREAD_NONE) standing for
 * a message that is referred to but not among those threaded. */
struct thread_node {
	uint32_t msg;
	uint32_t parent, first, next, prev;
};

/* Open addressing from a string to a node. */
struct thread_tab {
	struct thread_slot { char *key; uint32_t node; } *v;
	size_t n, cap;              /* cap: a power of two */
	bool owns;                  /* the keys are copies to free */
};

struct thread {
	struct thread_msg *msgs;
	size_t nmsgs;
	struct thread_node *nodes;
	size_t nnodes, capnodes;
	struct thread_tab ids;      /* Message-ID to container */
};

static uint32_t
thread_node_new(struct thread *t, uint32_t msg)
{
	if (t->nnodes == t->capnodes) {
		t->capnodes = t->capnodes ? 2 * t->capnodes : 64;
		t->nodes = xrealloc(t->nodes, t->capnodes * sizeof(*t->nodes));
	}
	struct thread_node *n = &t->nodes[t->nnodes];
	n->msg = msg;
	n->parent = n->first = n->next = n->prev = THREAD_NONE;
	return (uint32_t)t->nnodes++;
}

static bool
thread_dummy(const struct thread *t, uint32_t n)
{
	return t->nodes[n].msg == THREAD_NONE;
}

static void
thread_unlink(struct thread *t, uint32_t c)
{
	struct thread_node *n = &t->nodes[c];

	if (n->parent == THREAD_NONE)
		return;
	if (n->prev != THREAD_NONE)
		t->nodes[n->prev].next = n->next;
	else
		t->nodes[n->parent].first = n->next;
	if (n->next != THREAD_NONE)
		t->nodes[n->next].prev = n->prev;
	n->parent = n->next = n->prev = THREAD_NONE;
}

/* Make c (which has no parent) the first child of p. */
static void
thread_link(struct thread *t, uint32_t p, uint32_t c)
{
	struct thread_node *n = &t->nodes[c];

	n->parent = p;
	n->prev = THREAD_NONE;
	n->next = t->nodes[p].first;
	if (n->next != THREAD_NONE)
		t->nodes[n->next].prev = c;
	t->nodes[p].first = c;
}

/* Would making p the parent of c close a loop (p is c or below it)? */
static bool
thread_would_loop(const struct thread *t, uint32_t p, uint32_t c)
{
	if (p == c)
		return true;
	if (t->nodes[c].first == THREAD_NONE)
		return false;
	for (uint32_t x = p; x != THREAD_NONE; x = t->nodes[x].parent)
		if (x == c)
			return true;
	return false;
}

static size_t
thread_hash(const char *s)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
	return h;
}

/* The slot of key: holding it, or the empty one where it goes. */
static struct thread_slot *
thread_tab_find(struct thread_tab *tab, const char *key)
{
	if (2 * (tab->n + 1) > tab->cap) {
		struct thread_tab old = *tab;
		tab->cap = old.cap ? 2 * old.cap : 256;
		tab->v = xcalloc(tab->cap, sizeof(*tab->v));
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].key != NULL)
				*thread_tab_find(tab, old.v[i].key) = old.v[i];
		free(old.v);
	}
	size_t i = thread_hash(key) & (tab->cap - 1);
	while (tab->v[i].key != NULL && strcmp(tab->v[i].key, key) != 0)
		i = (i + 1) & (tab->cap - 1);
	return &tab->v[i];
}

static void
thread_tab_put(struct thread_tab *tab, struct thread_slot *slot,
    const char *key, uint32_t node)
{
	slot->key = tab->owns ? xstrdup(key) : (char *)key;
	slot->node = node;
	tab->n++;
}

static void
thread_tab_free(struct thread_tab *tab)
{
	if (tab->owns)
		for (size_t i = 0; i < tab->cap; i++)
			free(tab->v[i].key);
	free(tab->v);
	memset(tab, 0, sizeof(*tab));
}

static void
thread_free(struct thread *t)
{
	for (size_t i = 0; i < t->nmsgs; i++)
		free(t->msgs[i].subject);
	free(t->msgs);
	free(t->nodes);
	thread_tab_free(&t->ids);
}

/* ---- THREAD: reading the messages ---- */

/*
 * msg-id = [CFWS] "<" id-left "@" id-right ">" [CFWS]
 * The next id in s[*pos..len) with its white space removed, into out
 * (cap THREAD_ID_MAX + 1); false when there is none.
 */
static bool
thread_next_id(const char *s, size_t len, size_t *pos, char *out)
{
	while (*pos < len) {
		const char *lt = memchr(s + *pos, '<', len - *pos);
		if (lt == NULL)
			break;
		size_t i = (size_t)(lt - s) + 1, o = 0;
		bool at = false;
		out[o++] = '<';
		for (; i < len && s[i] != '>' && s[i] != '<'; i++) {
			if (isspace((unsigned char)s[i]))
				continue;
			at |= s[i] == '@';
			if (o < THREAD_ID_MAX - 1)
				out[o] = s[i];
			o++;
		}
		*pos = i < len && s[i] == '>' ? i + 1 : i;
		if (i < len && s[i] == '>' && at && o < THREAD_ID_MAX - 1) {
			out[o++] = '>';
			out[o] = '\0';
			return true;
		}
	}
	*pos = len;
	return false;
}

/* The container of a referenced id, a new dummy the first time. */
static uint32_t
thread_ref_node(struct thread *t, const char *id)
{
	struct thread_slot *slot = thread_tab_find(&t->ids, id);

	if (slot->key != NULL)
		return slot->node;
	uint32_t n = thread_node_new(t, THREAD_NONE);
	thread_tab_put(&t->ids, slot, id, n);
	return n;
}

/* The container of message k with this Message-ID: the dummy made for
 * it, or a new one; a second message with an id already taken is
 * treated as having an id of its own (RFC 5256 REFERENCES 1.A). */
static uint32_t
thread_msg_node(struct thread *t, uint32_t k, const char *msgid)
{
	char id[THREAD_ID_MAX + 1];
	size_t pos = 0;

	if (msgid == NULL || !thread_next_id(msgid, strlen(msgid), &pos, id))
		return thread_node_new(t, k);
	struct thread_slot *slot = thread_tab_find(&t->ids, id);
	if (slot->key == NULL) {
		uint32_t n = thread_node_new(t, k);
		thread_tab_put(&t->ids, slot, id, n);
		return n;
	}
	if (!thread_dummy(t, slot->node))
		return thread_node_new(t, k);
	t->nodes[slot->node].msg = k;
	return slot->node;
}

/* The References: field of the message file's header; NULL if none. */
static const char *
thread_references(struct imap_session *s, const struct sort_msg *m,
    struct sort_scratch *sc, size_t *len)
{
	char path[4608];
	struct mime_field f;
	size_t pos = 0, n = m->rec.header_size;

	if (!m->have_rec)
		return NULL;
	mbox_message_path(s->view, s->view->uids[m->i], path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	ssize_t got = pread(fd, sc->hdr, n < THREAD_HEADER_MAX ? n :
	    THREAD_HEADER_MAX, 0);
	close(fd);
	if (got <= 0)
		return NULL;
	while (mime_header_next(sc->hdr, (size_t)got, &pos, &f))
		if (f.name_len == 10 && strncasecmp(f.name, "References", 10) == 0) {
			*len = f.value_len;
			return f.value;
		}
	return NULL;
}

/*
 * REFERENCES steps 1.A and 1.B for message k: link its references
 * parent to child, first to last, then make the last its parent.  Only
 * the last THREAD_REFS_MAX references are used; with none, the first id
 * of In-Reply-To.
 */
static void
thread_add_refs(struct thread *t, uint32_t node, const char *refs,
    size_t rlen, const char *irt)
{
	size_t ring[THREAD_REFS_MAX], nref = 0, pos = 0, before = 0;
	char id[THREAD_ID_MAX + 1];
	uint32_t prev = THREAD_NONE;

	while (refs != NULL && (before = pos, thread_next_id(refs, rlen, &pos, id)))
		ring[nref++ % THREAD_REFS_MAX] = before;
	size_t first = nref > THREAD_REFS_MAX ? nref - THREAD_REFS_MAX : 0;
	for (size_t r = first; r < nref; r++) {
		pos = ring[r % THREAD_REFS_MAX];
		thread_next_id(refs, rlen, &pos, id);
		uint32_t c = thread_ref_node(t, id);
		if (prev != THREAD_NONE && t->nodes[c].parent == THREAD_NONE &&
		    !thread_would_loop(t, prev, c))
			thread_link(t, prev, c);
		prev = c;
	}
	pos = 0;
	if (nref == 0 && irt != NULL && thread_next_id(irt, strlen(irt), &pos, id))
		prev = thread_ref_node(t, id);
	thread_unlink(t, node);
	if (prev != THREAD_NONE && !thread_would_loop(t, prev, node))
		thread_link(t, prev, node);
}

/* Load the matching messages in sequence order; for REFERENCES, link
 * each as it comes. */
static void
thread_load(struct imap_session *s, struct thread *t, const bool *sel,
    size_t count, bool refs)
{
	struct sort_scratch sc;
	struct sort_msg m;

	t->msgs = xcalloc(count + 1, sizeof(*t->msgs));
	t->ids.owns = true;
	sort_scratch_init(&sc, refs);
	for (size_t i = 0; i < s->view->n && t->nmsgs < count; i++) {
		if (!sel[i])
			continue;
		uint32_t k = (uint32_t)t->nmsgs++;
		struct thread_msg *tm = &t->msgs[k];
		sort_msg_load(s, &sc, i, &m);
		tm->seq = (uint32_t)(i + 1);
		tm->num = s->uid_cmd ? s->view->uids[i] : tm->seq;
		tm->date = sort_sent_date(&m);
		tm->subject = sort_subject_key(&m, &sc, &tm->reply);
		if (!refs)
			continue;
		size_t rlen = 0;
		const char *r = thread_references(s, &m, &sc, &rlen);
		uint32_t node = thread_msg_node(t, k, m.env[IMAP_ENV_MESSAGE_ID]);
		thread_add_refs(t, node, r, rlen, m.env[IMAP_ENV_IN_REPLY_TO]);
	}
	sort_scratch_free(&sc);
}

/* ---- THREAD: shaping the tree ---- */

/*
 * Step 4: dummies go.  Below the top their children take their place;
 * at the top a dummy stays only with two or more children.  Parents come
 * before children in the walk, so every child moves at most once.
 */
static void
thread_prune(struct thread *t)
{
	uint32_t *order = xcalloc(t->nnodes + 1, sizeof(*order));
	size_t n = 0;

	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].parent == THREAD_NONE)
			order[n++] = (uint32_t)i;
	for (size_t h = 0; h < n; h++)
		for (uint32_t c = t->nodes[order[h]].first; c != THREAD_NONE;
		    c = t->nodes[c].next)
			order[n++] = c;
	for (size_t h = 0; h < n; h++) {
		uint32_t x = order[h], p = t->nodes[x].parent, c;
		if (!thread_dummy(t, x) || p == THREAD_NONE)
			continue;
		thread_unlink(t, x);
		while ((c = t->nodes[x].first) != THREAD_NONE) {
			thread_unlink(t, c);
			thread_link(t, p, c);
		}
	}
	for (size_t i = 0; i < t->nnodes; i++) {
		uint32_t c = t->nodes[i].first;
		if (t->nodes[i].parent == THREAD_NONE && thread_dummy(t, (uint32_t)i) &&
		    c != THREAD_NONE && t->nodes[c].next == THREAD_NONE)
			thread_unlink(t, c);
	}
	free(order);
}

/* The message a node sorts and is named by: itself, or for a dummy its
 * earliest child. */
static uint32_t
thread_node_msg(const struct thread *t, uint32_t n)
{
	uint32_t best = THREAD_NONE;

	if (!thread_dummy(t, n))
		return t->nodes[n].msg;
	for (uint32_t c = t->nodes[n].first; c != THREAD_NONE; c = t->nodes[c].next) {
		uint32_t m = t->nodes[c].msg;
		if (m == THREAD_NONE)
			continue;
		if (best == THREAD_NONE || t->msgs[m].date < t->msgs[best].date ||
		    (t->msgs[m].date == t->msgs[best].date &&
		    t->msgs[m].seq < t->msgs[best].seq))
			best = m;
	}
	return best;
}

static bool
thread_live_root(const struct thread *t, uint32_t n)
{
	return t->nodes[n].parent == THREAD_NONE &&
	    (!thread_dummy(t, n) || t->nodes[n].first != THREAD_NONE);
}

static const char *
thread_subject(const struct thread *t, uint32_t n)
{
	uint32_t m = thread_node_msg(t, n);

	return m == THREAD_NONE ? "" : t->msgs[m].subject;
}

static bool
thread_reply(const struct thread *t, uint32_t n)
{
	return !thread_dummy(t, n) && t->msgs[t->nodes[n].msg].reply;
}

/* Step 5.C for root r whose subject is held by m in the table. */
static void
thread_merge(struct thread *t, struct thread_slot *slot, uint32_t r)
{
	uint32_t m = slot->node, c;

	if (thread_dummy(t, m) && thread_dummy(t, r)) {
		while ((c = t->nodes[r].first) != THREAD_NONE) {
			thread_unlink(t, c);
			thread_link(t, m, c);
		}
	} else if (thread_dummy(t, m) ||
	    (thread_reply(t, r) && !thread_reply(t, m)))
		thread_link(t, m, r);
	else if (thread_dummy(t, r)) {
		thread_link(t, r, m);
		slot->node = r;
	} else {
		uint32_t d = thread_node_new(t, THREAD_NONE);
		thread_link(t, d, m);
		thread_link(t, d, r);
		slot->node = d;
	}
}

/*
 * Step 5: threads whose subjects match are gathered together.  A thread's
 * subject is taken once, before any merge, so that what a dummy gains
 * cannot change it.
 */
static void
thread_gather(struct thread *t)
{
	struct thread_tab subj = { .owns = false };
	size_t nroots = 0;
	uint32_t *roots = xcalloc(t->nnodes + 1, sizeof(*roots));
	const char **rsubj = xcalloc(t->nnodes + 1, sizeof(*rsubj));

	for (size_t i = 0; i < t->nnodes; i++)
		if (thread_live_root(t, (uint32_t)i)) {
			rsubj[nroots] = thread_subject(t, (uint32_t)i);
			roots[nroots++] = (uint32_t)i;
		}
	for (size_t i = 0; i < nroots; i++) {
		uint32_t r = roots[i];
		if (*rsubj[i] == '\0')
			continue;
		struct thread_slot *slot = thread_tab_find(&subj, rsubj[i]);
		if (slot->key == NULL)
			thread_tab_put(&subj, slot, rsubj[i], r);
		else if (!thread_dummy(t, slot->node) && (thread_dummy(t, r) ||
		    (thread_reply(t, slot->node) && !thread_reply(t, r))))
			slot->node = r;
	}
	for (size_t i = 0; i < nroots; i++) {
		if (*rsubj[i] == '\0')
			continue;
		struct thread_slot *slot = thread_tab_find(&subj, rsubj[i]);
		if (slot->node != roots[i])
			thread_merge(t, slot, roots[i]);
	}
	thread_tab_free(&subj);
	free(rsubj);
	free(roots);
}

struct thread_key {
	int64_t date;
	uint32_t seq, node;
};

static int
thread_key_compare(const void *pa, const void *pb)
{
	const struct thread_key *a = pa, *b = pb;

	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static struct thread_key
thread_key_of(const struct thread *t, uint32_t n)
{
	uint32_t m = thread_node_msg(t, n);
	struct thread_key k = { .node = n };

	if (m != THREAD_NONE) {
		k.date = t->msgs[m].date;
		k.seq = t->msgs[m].seq;
	}
	return k;
}

/* Step 6: every list of siblings in sent-date order. */
static void
thread_sort_children(struct thread *t, struct thread_key *tmp)
{
	for (size_t p = 0; p < t->nnodes; p++) {
		size_t n = 0;
		for (uint32_t c = t->nodes[p].first; c != THREAD_NONE; c = t->nodes[c].next)
			tmp[n++] = thread_key_of(t, c);
		if (n < 2)
			continue;
		qsort(tmp, n, sizeof(*tmp), thread_key_compare);
		t->nodes[p].first = THREAD_NONE;
		for (size_t i = n; i-- > 0;) {
			t->nodes[tmp[i].node].parent = THREAD_NONE;
			thread_link(t, (uint32_t)p, tmp[i].node);
		}
	}
}

/* The roots in sent-date order; their count. */
static size_t
thread_roots(const struct thread *t, struct thread_key *tmp)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nnodes; i++)
		if (thread_live_root(t, (uint32_t)i))
			tmp[n++] = thread_key_of(t, (uint32_t)i);
	qsort(tmp, n, sizeof(*tmp), thread_key_compare);
	return n;
}

/*
 * ORDEREDSUBJECT: messages grouped by base subject; in each group the
 * earliest is the parent of the others, in sent-date order.
 */
static void
thread_by_subject(struct thread *t, struct thread_key *tmp)
{
	struct thread_tab subj = { .owns = false };

	for (size_t k = 0; k < t->nmsgs; k++)
		thread_node_new(t, (uint32_t)k);
	for (uint32_t k = 0; k < t->nmsgs; k++) {
		struct thread_slot *slot = thread_tab_find(&subj, t->msgs[k].subject);
		if (slot->key == NULL) {
			thread_tab_put(&subj, slot, t->msgs[k].subject, k);
			continue;
		}
		struct thread_key a = thread_key_of(t, k);
		struct thread_key b = thread_key_of(t, slot->node);
		if (thread_key_compare(&a, &b) < 0)
			slot->node = k;
	}
	for (uint32_t k = 0; k < t->nmsgs; k++) {
		uint32_t first = thread_tab_find(&subj, t->msgs[k].subject)->node;
		if (first != k)
			thread_link(t, first, k);
	}
	thread_tab_free(&subj);
	thread_sort_children(t, tmp);
}

/* ---- THREAD: the answer ---- */

/*
 * thread-list    = "(" (thread-members / thread-nested) ")"
 * thread-members = nz-number *(SP nz-number) [SP thread-nested]
 * thread-nested  = 2*thread-list
 * A chain of only children stays in one list; two or more children each
 * get a list of their own.  Written with an explicit stack.
 */
static void
thread_write(struct evbuffer *out, const struct thread *t,
    const struct thread_key *roots, size_t nroots)
{
	uint32_t *stack = xcalloc(2 * t->nnodes + 2, sizeof(*stack));
	const uint32_t close_mark = THREAD_NONE;

	for (size_t r = 0; r < nroots; r++) {
		size_t sp = 0;
		stack[sp++] = roots[r].node;
		while (sp > 0) {
			uint32_t x = stack[--sp];
			if (x == close_mark) {
				evbuffer_add(out, ")", 1);
				continue;
			}
			evbuffer_add(out, "(", 1);
			bool any = false;
			for (;;) {
				if (!thread_dummy(t, x)) {
					evbuffer_add_printf(out, any ? " %u" : "%u",
					    t->msgs[t->nodes[x].msg].num);
					any = true;
				}
				uint32_t c = t->nodes[x].first;
				if (c == THREAD_NONE || t->nodes[c].next != THREAD_NONE)
					break;
				x = c;
			}
			if (t->nodes[x].first == THREAD_NONE) {
				evbuffer_add(out, ")", 1);
				continue;
			}
			if (any)
				evbuffer_add(out, " ", 1);
			stack[sp++] = close_mark;
			uint32_t last = t->nodes[x].first;
			while (t->nodes[last].next != THREAD_NONE)
				last = t->nodes[last].next;
			for (uint32_t c = last; c != THREAD_NONE; c = t->nodes[c].prev)
				stack[sp++] = c;
		}
	}
	free(stack);
}

enum thread_alg { THREAD_ORDEREDSUBJECT, THREAD_REFERENCES };

/* thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria */
void
cmd_thread(struct imap_session *s, struct imap_arg *args)
{
	enum thread_alg alg;
	struct thread t = { 0 };
	size_t count;

	if (imap_arg_is_atom(&args[0], "ORDEREDSUBJECT"))
		alg = THREAD_ORDEREDSUBJECT;
	else if (imap_arg_is_atom(&args[0], "REFERENCES"))
		alg = THREAD_REFERENCES;
	else {
		imap_bad(s, "Unknown threading algorithm");
		return;
	}
	bool *sel = xcalloc(s->view->n + 1, sizeof(bool));
	if (!sort_select(s, &args[1], sel, &count)) {
		free(sel);
		return;
	}
	thread_load(s, &t, sel, count, alg == THREAD_REFERENCES);
	free(sel);
	struct thread_key *tmp;
	if (alg == THREAD_REFERENCES) {
		thread_prune(&t);
		thread_gather(&t);
		tmp = xcalloc(t.nnodes + 1, sizeof(*tmp));
		thread_sort_children(&t, tmp);
	} else {
		tmp = xcalloc(t.nmsgs + 1, sizeof(*tmp));
		thread_by_subject(&t, tmp);
	}
	size_t nroots = thread_roots(&t, tmp);
	struct evbuffer *out = imap_out(s);
	evbuffer_add_printf(out, "* THREAD%s", nroots ? " " : "");
	thread_write(out, &t, tmp, nroots);
	evbuffer_add(out, "\r\n", 2);
	free(tmp);
	thread_free(&t);
	imap_search_sync(s);
	imap_finish(s, "OK %sTHREAD completed", s->uid_cmd ? "UID " : "");
}
