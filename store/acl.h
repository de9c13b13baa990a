/*
 * acl: access control lists on mailboxes (RFC 4314), so that users share
 * folders with other users of the same store, as the seed describes.
 *
 * An owner has every right on their own mailboxes.  Others get the rights
 * the owner granted to their login (the store key) or to "anyone".
 * Negative rights are not supported.  Other users' mailboxes are named
 * "user/OWNER/NAME" (OWNER is the store key, e.g. alice@example.com).
 */
#ifndef STORE_ACL_H
#define STORE_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

enum {
	ACL_LOOKUP = 1 << 0, ACL_READ = 1 << 1, ACL_SEEN = 1 << 2,
	ACL_WRITE = 1 << 3, ACL_INSERT = 1 << 4, ACL_POST = 1 << 5,
	ACL_CREATE = 1 << 6, ACL_DELMBOX = 1 << 7, ACL_DELMSG = 1 << 8,
	ACL_EXPUNGE = 1 << 9, ACL_ADMIN = 1 << 10,
};
#define ACL_ALL 0x7ff
#define ACL_LETTERS "lrswipkxtea"
#define ACL_ID_MAX 320

/* "lrs" -> bits; the obsolete c and d map to k and xte (RFC 4314 2.1.1).
 * False on an unknown letter. */
bool acl_parse(const char *s, uint32_t *rights);
/* bits -> "lrs" (buf of at least 12 bytes). */
void acl_string(uint32_t rights, char *buf);

/* who's rights on owner's mailbox name: every right for the owner. */
int acl_rights(struct db *db, const char *owner, const char *name,
    const char *who, uint32_t *rights);
/* Every entry of a mailbox's ACL, the owner's implicit one first. */
int acl_list(struct db *db, const char *owner, const char *name,
    void (*fn)(void *arg, const char *who, uint32_t rights), void *arg);
/* Other users' mailboxes shared with who (or with anyone). */
int acl_shared_with(struct db *db, const char *who,
    void (*fn)(void *arg, const char *owner, const char *name,
    uint32_t rights), void *arg);

/* Set (rights != 0) or delete who's entry, in the commit thread. */
typedef void acl_done_cb(void *arg, bool ok);
struct commit_req *acl_submit(const char *owner, const char *name,
    const char *who, uint32_t rights, acl_done_cb *cb, void *arg);
/* The session went away before the answer. */
void acl_detach(struct commit_req *req);

#endif
