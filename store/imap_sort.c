/*
 * imap_sort: SORT (RFC 5256), with the DISPLAYFROM and DISPLAYTO sort
 * keys of RFC 5957, and what THREAD shares with it: the per-message
 * values read from the index and the base subject (imap_sort.h).
 *
 * SORT runs the SEARCH program (imap_search.h) over the view, then reads
 * what its keys need from the index (envelope fields, size, internal
 * date).  Strings are compared case-insensitively beyond ASCII (see
 * sort_key_dup) after RFC 2047 encoded words are decoded to UTF-8
 * (common/mime_decode: any charset iconv knows; words in others keep
 * their octets).
 *
 * Limits: at most SORT_CRITERIA_MAX sort criteria; string keys are cut at
 * SORT_KEY_MAX octets.  Memory is linear in the number of messages.
 * A peer's mistakes get BAD or NO; nothing here ends the session.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "imap_search.h"
#include "imap_sort.h"
#include "mailbox.h"
#include "mime_decode.h"
#include "xmalloc.h"

#define SORT_CRITERIA_MAX 16
#define SORT_KEY_MAX 1024
/* Decoding words at most multiplies a field by 9/4 (mime_decode). */
#define SORT_TEXT_MAX (3 * IMAP_ENV_FIELD_MAX + 1)

/* ---- what one message offers to the keys ---- */

void
sort_scratch_init(struct sort_scratch *sc, bool header)
{
	sc->env = xmalloc(10 * ENVELOPE_FIELD_MAX);
	sc->text = xmalloc(SORT_TEXT_MAX);
	sc->decoded = xmalloc(SORT_TEXT_MAX);
	sc->hdr = header ? xmalloc(THREAD_HEADER_MAX) : NULL;
}

void
sort_scratch_free(struct sort_scratch *sc)
{
	free(sc->env);
	free(sc->text);
	free(sc->decoded);
	free(sc->hdr);
}

void
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
int64_t
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
char *
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
bool
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
