/*
 * dir_entry: our own copies of directory entries, and answers made of them.
 *
 * An entry is copied out of libldap's message as soon as it arrives, so that
 * nothing of libldap outlives the message and the cache holds plain memory.
 * Every copy has a byte budget (values plus bookkeeping); values past the
 * budget are dropped and the caller is told, so a hostile directory cannot
 * make us hold more than DIR_ENTRY_MAX_BYTES per entry.  Values are stored
 * NUL-terminated; a binary value with an embedded NUL reads as its prefix.
 *
 * An answer owns its entries and is reference counted; once handed to a
 * callback or the cache it is never changed again.
 */
#include "dir_private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

/* Bookkeeping charged per value and per attribute, beyond the bytes. */
#define DIR_VALUE_OVERHEAD (sizeof(char *) + 1)
#define DIR_ATTR_OVERHEAD  (sizeof(struct dir_attr) + sizeof(char *))

static const char *const dir_entry_none[] = { NULL };

struct dir_entry *
dir_entry_new(const char *dn)
{
	struct dir_entry *e = xcalloc(1, sizeof(*e));

	e->dn = xstrdup(dn);
	e->bytes = sizeof(*e) + strlen(dn) + 1;
	return e;
}

static struct dir_attr *
dir_entry_find(const struct dir_entry *e, const char *attr)
{
	for (size_t i = 0; i < e->nattrs; i++)
		if (strcasecmp(e->attrs[i].name, attr) == 0)
			return &e->attrs[i];
	return NULL;
}

static struct dir_attr *
dir_entry_new_attr(struct dir_entry *e, const char *attr)
{
	struct dir_attr *a;

	e->attrs = xrealloc(e->attrs, (e->nattrs + 1) * sizeof(*e->attrs));
	a = &e->attrs[e->nattrs++];
	a->name = xstrdup(attr);
	a->vals = xcalloc(1, sizeof(char *));
	a->nvals = 0;
	return a;
}

bool
dir_entry_add(struct dir_entry *e, const char *attr, const char *val,
    size_t len, size_t max_bytes)
{
	struct dir_attr *a = dir_entry_find(e, attr);
	size_t cost = len + DIR_VALUE_OVERHEAD;

	if (a == NULL)
		cost += strlen(attr) + 1 + DIR_ATTR_OVERHEAD;
	if (len > max_bytes || e->bytes + cost > max_bytes)
		return false;
	if (a == NULL)
		a = dir_entry_new_attr(e, attr);
	a->vals = xrealloc(a->vals, (a->nvals + 2) * sizeof(char *));
	a->vals[a->nvals++] = xstrndup(val, len);
	a->vals[a->nvals] = NULL;
	e->bytes += cost;
	return true;
}

/* Copy every value of one attribute; false when some did not fit. */
static bool
dir_entry_copy_attr(struct dir_entry *e, LDAP *ld, LDAPMessage *msg,
    const char *attr, size_t max_bytes)
{
	struct berval **vals = ldap_get_values_len(ld, msg, attr);
	bool ok = true;

	if (vals == NULL)
		return true;
	for (size_t i = 0; vals[i] != NULL; i++)
		if (!dir_entry_add(e, attr, vals[i]->bv_val, vals[i]->bv_len,
		    max_bytes))
			ok = false;
	ldap_value_free_len(vals);
	return ok;
}

struct dir_entry *
dir_entry_from_ldap(LDAP *ld, LDAPMessage *msg, size_t max_bytes,
    bool *truncated)
{
	struct dir_entry *e;
	BerElement *ber = NULL;
	char *dn, *attr;

	*truncated = false;
	dn = ldap_get_dn(ld, msg);
	e = dir_entry_new(dn != NULL ? dn : "");
	ldap_memfree(dn);
	for (attr = ldap_first_attribute(ld, msg, &ber); attr != NULL;
	    attr = ldap_next_attribute(ld, msg, ber)) {
		if (!dir_entry_copy_attr(e, ld, msg, attr, max_bytes))
			*truncated = true;
		ldap_memfree(attr);
	}
	if (ber != NULL)
		ber_free(ber, 0);
	return e;
}

struct dir_entry *
dir_entry_dup(const struct dir_entry *e)
{
	struct dir_entry *c = dir_entry_new(e->dn);

	for (size_t i = 0; i < e->nattrs; i++)
		for (size_t j = 0; j < e->attrs[i].nvals; j++)
			dir_entry_add(c, e->attrs[i].name, e->attrs[i].vals[j],
			    strlen(e->attrs[i].vals[j]), SIZE_MAX);
	return c;
}

void
dir_entry_remove(struct dir_entry *e, const char *attr)
{
	struct dir_attr *a = dir_entry_find(e, attr);
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nvals; i++) {
		explicit_bzero(a->vals[i], strlen(a->vals[i]));
		free(a->vals[i]);
	}
	free(a->vals);
	free(a->name);
	i = (size_t)(a - e->attrs);
	memmove(a, a + 1, (e->nattrs - i - 1) * sizeof(*a));
	e->nattrs--;
}

void
dir_entry_free(struct dir_entry **ep)
{
	struct dir_entry *e = *ep;

	if (e == NULL)
		return;
	*ep = NULL;
	for (size_t i = 0; i < e->nattrs; i++) {
		for (size_t j = 0; j < e->attrs[i].nvals; j++)
			free(e->attrs[i].vals[j]);
		free(e->attrs[i].vals);
		free(e->attrs[i].name);
	}
	free(e->attrs);
	free(e->dn);
	free(e);
}

const char *
dir_entry_dn(const struct dir_entry *e)
{
	return e->dn;
}

const char *
dir_entry_get(const struct dir_entry *e, const char *attr)
{
	const struct dir_attr *a = dir_entry_find(e, attr);

	return a != NULL ? a->vals[0] : NULL;
}

/* An absent attribute reads as an empty list (never NULL), *n = 0. */
const char *const *
dir_entry_values(const struct dir_entry *e, const char *attr, size_t *n)
{
	const struct dir_attr *a = dir_entry_find(e, attr);

	if (n != NULL)
		*n = a != NULL ? a->nvals : 0;
	return a != NULL ? (const char *const *)a->vals : dir_entry_none;
}

struct dir_answer *
dir_answer_new(void)
{
	struct dir_answer *a = xcalloc(1, sizeof(*a));

	a->refs = 1;
	a->status = DIR_NOTFOUND;
	a->bytes = sizeof(*a);
	return a;
}

void
dir_answer_add(struct dir_answer *a, struct dir_entry *e)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4;
		a->entries = xrealloc(a->entries, a->cap * sizeof(*a->entries));
	}
	a->entries[a->n++] = e;
	a->bytes += e->bytes + sizeof(e);
}

struct dir_answer *
dir_answer_ref(struct dir_answer *a)
{
	a->refs++;
	return a;
}

void
dir_answer_unref(struct dir_answer **ap)
{
	struct dir_answer *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	if (--a->refs > 0)
		return;
	for (size_t i = 0; i < a->n; i++)
		dir_entry_free(&a->entries[i]);
	free(a->entries);
	free(a);
}

bool
dir_entry_has_class(const struct dir_entry *e, const char *cls)
{
	size_t n;
	const char *const *v = dir_entry_values(e, "objectClass", &n);

	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i], cls) == 0)
			return true;
	return false;
}

static enum dir_user_state
dir_entry_state_of(const char *status)
{
	if (status == NULL || *status == '\0' || strcasecmp(status, "active") == 0)
		return DIR_USER_ACTIVE;
	if (strcasecmp(status, "deleted") == 0 || strcasecmp(status, "removed") == 0)
		return DIR_USER_DELETED;
	if (strcasecmp(status, "hold") == 0)
		return DIR_USER_HOLD;
	return DIR_USER_INACTIVE;
}

enum dir_user_state
dir_entry_user_state(const struct dir_entry *e)
{
	enum dir_user_state a = dir_entry_state_of(dir_entry_get(e, "inetUserStatus"));
	enum dir_user_state b = dir_entry_state_of(dir_entry_get(e, "mailUserStatus"));

	return a > b ? a : b;
}
