/*
 * authcache: logins that succeeded lately, so that a client logging in
 * again and again (POP3 polling, a phone's many IMAP connections, the
 * mmp's administrator acting for every user) does not cost a directory
 * bind each time.  Only a salted SHA-256 of the password is kept, with a
 * salt of its own per entry, beside two strings the caller wants back
 * (the mmp: the user's address and mailHost).  An entry lives ttl seconds
 * from the bind that proved it; a password that does not match drops it,
 * so the directory decides again.
 *
 * The price, for the operator to weigh: until an entry ages out, a
 * password changed in the directory still works, and an account disabled
 * there is not seen by whoever trusts the entry.
 */
#ifndef COMMON_AUTHCACHE_H
#define COMMON_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>

struct authcache;

/* Entries live ttl seconds; at most max of them (the oldest go). */
struct authcache *authcache_new(int ttl, size_t max);
/* NULL is fine. */
void authcache_free(struct authcache **c);
/* A login that the directory just accepted, with two strings to keep. */
void authcache_put(struct authcache *c, const char *login,
    const char *password, const char *value1, const char *value2, long now);
/* The two strings of login when password matches a fresh entry (valid
 * until the next call); false otherwise.  A NULL cache has nothing. */
bool authcache_get(struct authcache *c, const char *login,
    const char *password, long now, const char **value1,
    const char **value2);

#endif
