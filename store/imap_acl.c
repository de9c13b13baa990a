/*
 * imap_acl: ACL (RFC 4314) for the IMAP server: the SETACL, DELETEACL,
 * GETACL, LISTRIGHTS and MYRIGHTS commands, and the resolution of mailbox
 * names to an owner, a mailbox and the session's rights on it.
 *
 * Other users' mailboxes are "user/OWNER/NAME" (the "Other Users"
 * namespace "user/").  A mailbox the session may not look up (no "l")
 * is reported as nonexistent, so its existence does not leak.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "log.h"
#include "mailbox.h"
#include "xmalloc.h"

#define IMAP_SHARED_PREFIX "user/"

/* The owner's partition, from the index (the owner's record). */
static const struct partition *
imap_owner_partition(struct imap_session *s, const char *owner)
{
	struct midx_user u;

	if (mbox_user_get(s->srv->svc.db, owner, &u) != 0)
		return NULL;
	return config_partition(s->srv->svc.cfg, u.partition);
}

enum imap_mref_rc
imap_mref(struct imap_session *s, const struct imap_arg *a,
    struct imap_mref *m)
{
	char full[MAILBOX_NAME_MAX];

	memset(m, 0, sizeof(*m));
	if (!imap_mailbox_name(a, full, sizeof(full)))
		return MREF_BAD;
	snprintf(m->display, sizeof(m->display), "%s", full);
	if (strncmp(full, IMAP_SHARED_PREFIX, strlen(IMAP_SHARED_PREFIX)) != 0) {
		snprintf(m->owner, sizeof(m->owner), "%s", s->user);
		snprintf(m->name, sizeof(m->name), "%s", full);
		m->part = s->part;
		m->rights = ACL_ALL;
		return MREF_OK;
	}
	const char *o = full + strlen(IMAP_SHARED_PREFIX), *slash = strchr(o, '/');
	if (slash == NULL || slash == o || (size_t)(slash - o) >= sizeof(m->owner))
		return MREF_NONEXISTENT;
	memcpy(m->owner, o, (size_t)(slash - o));
	m->owner[slash - o] = '\0';
	snprintf(m->name, sizeof(m->name), "%s",
	    strcasecmp(slash + 1, "INBOX") == 0 ? "INBOX" : slash + 1);
	m->shared = strcmp(m->owner, s->user) != 0;
	if (acl_rights(s->srv->svc.db, m->owner, m->name, s->user, &m->rights) != 0)
		return MREF_UNAVAILABLE;
	if (!(m->rights & ACL_LOOKUP) ||
	    (m->part = imap_owner_partition(s, m->owner)) == NULL)
		return MREF_NONEXISTENT;
	return MREF_OK;
}

/* Reply for a failed resolution; finishes the command. */
void
imap_mref_fail(struct imap_session *s, enum imap_mref_rc rc)
{
	switch (rc) {
	case MREF_BAD:
		imap_bad(s, "Invalid mailbox name");
		break;
	case MREF_UNAVAILABLE:
		imap_finish(s, "NO [UNAVAILABLE] Cannot check rights now");
		break;
	default:
		imap_finish(s, "NO [NONEXISTENT] No such mailbox");
		break;
	}
}

/* Own mailbox or shared with 'a': may its ACL be read and changed? */
static bool
imap_acl_target(struct imap_session *s, const struct imap_arg *a,
    struct imap_mref *m)
{
	enum imap_mref_rc rc = imap_mref(s, a, m);

	if (rc != MREF_OK) {
		imap_mref_fail(s, rc);
		return false;
	}
	struct mbox_view *v;
	if (mbox_view_open(s->srv->svc.db, m->part, m->owner, m->name, &v) != 0) {
		imap_finish(s, "NO [NONEXISTENT] No such mailbox");
		return false;
	}
	mbox_view_close(&v);
	if (!(m->rights & ACL_ADMIN)) {
		imap_finish(s, "NO [NOPERM] Not allowed");
		return false;
	}
	return true;
}

static void
imap_acl_entry(void *arg, const char *who, uint32_t rights)
{
	struct imap_session *s = arg;
	char r[16];

	acl_string(rights, r);
	evbuffer_add(imap_out(s), " ", 1);
	imap_write_astring(imap_out(s), who);
	evbuffer_add_printf(imap_out(s), " %s", r);
}

void
cmd_getacl(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref m;

	if (args[0].type == IMAP_ARG_END || args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: GETACL mailbox");
		return;
	}
	if (!imap_acl_target(s, &args[0], &m))
		return;
	evbuffer_add_printf(imap_out(s), "* ACL ");
	imap_write_astring(imap_out(s), m.display);
	acl_list(s->srv->svc.db, m.owner, m.name, imap_acl_entry, s);
	evbuffer_add(imap_out(s), "\r\n", 2);
	imap_finish(s, "OK GETACL completed");
}

static void
imap_setacl_done(void *arg, bool ok)
{
	struct imap_session *s = arg;

	s->acl_op = NULL;
	if (ok)
		imap_finish(s, "OK %s completed", s->cmdname);
	else
		imap_finish(s, "NO [SERVERBUG] Could not store the ACL");
}

/* SETACL mailbox identifier [+-]rights; DELETEACL mailbox identifier. */
void
cmd_setacl(struct imap_session *s, struct imap_arg *args)
{
	bool del = strcasecmp(s->cmdname, "DELETEACL") == 0;
	const char *who, *rights = "";
	struct imap_mref m;
	uint32_t r = 0, old;

	if (args[0].type == IMAP_ARG_END || !imap_arg_astring(&args[1], &who) ||
	    (!del && !imap_arg_astring(&args[2], &rights)) ||
	    args[del ? 2 : 3].type != IMAP_ARG_END || *who == '\0' ||
	    strlen(who) > ACL_ID_MAX) {
		imap_bad(s, del ? "Syntax: DELETEACL mailbox identifier" :
		    "Syntax: SETACL mailbox identifier rights");
		return;
	}
	if (!imap_acl_target(s, &args[0], &m))
		return;
	if (strcmp(who, m.owner) == 0) {
		imap_finish(s, "NO [CANNOT] The owner's rights cannot be changed");
		return;
	}
	bool add = *rights == '+', sub = *rights == '-';
	if (!acl_parse(rights + (add || sub), &r)) {
		imap_bad(s, "Invalid rights");
		return;
	}
	if ((add || sub) && acl_rights(s->srv->svc.db, m.owner, m.name, who, &old) == 0)
		r = add ? old | r : old & ~r;
	s->acl_op = acl_submit(m.owner, m.name, who, del ? 0 : r,
	    imap_setacl_done, s);
}

void
cmd_listrights(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref m;
	const char *who;

	if (args[0].type == IMAP_ARG_END || !imap_arg_astring(&args[1], &who) ||
	    args[2].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: LISTRIGHTS mailbox identifier");
		return;
	}
	if (!imap_acl_target(s, &args[0], &m))
		return;
	evbuffer_add_printf(imap_out(s), "* LISTRIGHTS ");
	imap_write_astring(imap_out(s), m.display);
	evbuffer_add(imap_out(s), " ", 1);
	imap_write_astring(imap_out(s), who);
	if (strcmp(who, m.owner) == 0)
		evbuffer_add_printf(imap_out(s), " %s\r\n", ACL_LETTERS);
	else
		evbuffer_add_printf(imap_out(s), " \"\" l r s w i p k x t e a\r\n");
	imap_finish(s, "OK LISTRIGHTS completed");
}

void
cmd_myrights(struct imap_session *s, struct imap_arg *args)
{
	struct imap_mref m;
	char r[16];

	if (args[0].type == IMAP_ARG_END || args[1].type != IMAP_ARG_END) {
		imap_bad(s, "Syntax: MYRIGHTS mailbox");
		return;
	}
	enum imap_mref_rc rc = imap_mref(s, &args[0], &m);
	if (rc != MREF_OK) {
		imap_mref_fail(s, rc);
		return;
	}
	acl_string(m.rights, r);
	evbuffer_add_printf(imap_out(s), "* MYRIGHTS ");
	imap_write_astring(imap_out(s), m.display);
	evbuffer_add_printf(imap_out(s), " %s\r\n", r);
	imap_finish(s, "OK MYRIGHTS completed");
}

struct imap_shared_ctx {
	void (*fn)(void *arg, const char *name);
	void *arg;
};

static void
imap_shared_one(void *arg, const char *owner, const char *name,
    uint32_t rights)
{
	struct imap_shared_ctx *c = arg;
	char full[MAILBOX_NAME_MAX];

	if (!(rights & ACL_LOOKUP))
		return;
	if (snprintf(full, sizeof(full), IMAP_SHARED_PREFIX "%s/%s", owner,
	    name) < (int)sizeof(full))
		c->fn(c->arg, full);
}

int
imap_shared_list(struct imap_session *s,
    void (*fn)(void *arg, const char *name), void *arg)
{
	struct imap_shared_ctx c = { .fn = fn, .arg = arg };

	return acl_shared_with(s->srv->svc.db, s->user, imap_shared_one, &c);
}
