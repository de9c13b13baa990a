/*
 * mailbox: reading mailboxes out of the index for the access protocols
 * (IMAP now, POP3 and HTTP later), and the view a session keeps of a
 * selected mailbox: its UIDs in order (message sequence numbers are
 * positions in that array) with their flags.
 *
 * All reads are LMDB read transactions on the loop thread (no blocking
 * I/O beyond the page cache); all writes go through the commit thread.
 */
#ifndef STORE_MAILBOX_H
#define STORE_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define MAILBOX_NAME_MAX 512

struct mbox_view {
	char *user;
	char name[MAILBOX_NAME_MAX];
	const struct partition *part;
	uint64_t id;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint32_t *uids;             /* ascending */
	uint32_t *flags;            /* MFLAG_* per message, as this view sees */
	uint64_t *kw;               /* keyword bits per message */
	uint64_t *modseq;           /* per message (CONDSTORE) */
	size_t n, cap;
	struct keywords names;      /* the mailbox's keyword names */
	uint32_t recent_uid;        /* the index's \Recent mark at open */
	uint32_t recent;            /* messages with \Recent for this view */
};

/* Open a view of user's mailbox name: 0, MDB_NOTFOUND, or an LMDB error. */
int mbox_view_open(struct db *db, const struct partition *part,
    const char *user, const char *name, struct mbox_view **out);
void mbox_view_close(struct mbox_view **view);
/* The same inside a transaction the caller holds (commit thread). */
int mbox_view_open_txn(struct db *db, MDB_txn *txn, const char *user,
    const char *name, struct mbox_view **out);
/* Names of the mailboxes below parent ("parent/..."): allocated array of
 * allocated strings; returns the count. */
size_t mbox_children_txn(struct db *db, MDB_txn *txn, const char *user,
    const char *parent, char ***names);

/* What changed since the view was made; the view is brought up to date.
 * For each message gone, expunged(arg, seq) with the sequence number it
 * had at that moment (so in descending order); for each flag change,
 * flags(arg, seq); returns the number of messages added. */
struct mbox_changes {
	void (*expunged)(void *arg, size_t seq, uint32_t uid);
	void (*flags)(void *arg, size_t seq);
	void *arg;
};
int mbox_view_sync(struct db *db, struct mbox_view *view,
    const struct mbox_changes *cb, size_t *added);

/* UIDs expunged from mailbox after modseq since, ascending (QRESYNC). */
int mbox_vanished(struct db *db, uint64_t mailbox, uint64_t since,
    void (*fn)(void *arg, uint32_t uid), void *arg);

/* Sequence of uid in the view (1-based), 0 if absent. */
size_t mbox_view_seq(const struct mbox_view *view, uint32_t uid);

/*
 * sequence-set = (seq-number / seq-range) ["," sequence-set]
 * Mark in sel[0..view->n) the messages a set names, by sequence number or
 * by UID.  Returns false on syntax error (or a number out of range for
 * sequence numbers, which RFC 3501 makes an error).
 */
bool mbox_select_set(const struct mbox_view *view, const char *set, bool uid,
    bool *sel);

/* The message record of uid: fixed part and envelope fields (NUL-separated,
 * ENVELOPE_FIELDS order, copied into env; *envlen bytes). */
int mbox_message_get(struct db *db, uint64_t mailbox, uint32_t uid,
    struct midx_message *m, char *env, size_t envcap, size_t *envlen);

/* Path of a message file. */
void mbox_message_path(const struct mbox_view *view, uint32_t uid,
    char *buf, size_t len);

/* A user's mailboxes, sorted by name: calls fn for each. */
int mbox_list(struct db *db, const char *user,
    void (*fn)(void *arg, const char *name, const struct midx_mailbox *mb),
    void *arg);

/* A user's subscriptions, sorted by name. */
int mbox_subs_list(struct db *db, const char *user,
    void (*fn)(void *arg, const char *name), void *arg);
/* The user's record (quota usage). */
int mbox_user_get(struct db *db, const char *user, struct midx_user *u);

/* Counts for STATUS: messages, recent, unseen. */
int mbox_counts(struct db *db, const char *user, const char *name,
    struct midx_mailbox *mb, uint32_t *unseen, uint32_t *recent);

#endif
