/*
 * imap_thread: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256).
 *
 * The SEARCH program selects the messages (sort_select); their dates and
 * base subjects come from the index as for SORT (imap_sort.h), and for
 * REFERENCES the References: and In-Reply-To: fields from the message
 * file's header.
 *
 * Limits: at most THREAD_HEADER_MAX octets of a header are read, and the
 * last THREAD_REFS_MAX ids of its References used.  Memory is linear in
 * the number of messages; trees are built, pruned and written without
 * recursion, so a reply chain of any length is safe.
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

#include "imap_cmds.h"
#include "imap_search.h"
#include "imap_sort.h"
#include "mailbox.h"
#include "mime.h"
#include "xmalloc.h"

#define THREAD_REFS_MAX 128
#define THREAD_ID_MAX 1000
#define THREAD_NONE UINT32_MAX

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
