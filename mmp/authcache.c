/*
 * authcache: logins that succeeded lately, so that a client logging in
 * again and again (POP3 polling, a phone's many IMAP connections) does not
 * cost a directory bind each time.  Only a salted SHA-256 of the password
 * is kept, with a salt of its own per entry; an entry lives
 * mmp.authcachettl from the bind that proved it, and a password that does
 * not match drops it (the directory decides again).  The price, for the
 * operator to weigh: until the entry ages out, a password changed in the
 * directory still opens sessions, and an account disabled there is not
 * seen (the store, which looks the user up at every proxy login, still
 * refuses a deleted one).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agemap.h"
#include "mmp.h"
#include "xmalloc.h"

#define SALT_LEN 16

struct cache_rec {
	struct agemap_item item;
	unsigned char salt[SALT_LEN];
	unsigned char hash[EVP_MAX_MD_SIZE];
	char *login, *user, *mailhost;
};

struct mmp_authcache {
	int ttl;
	struct agemap *map;
};

static void
rec_free(struct agemap_item *it)
{
	struct cache_rec *r = (struct cache_rec *)it;

	free(r->login);
	free(r->user);
	free(r->mailhost);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

struct mmp_authcache *
mmp_authcache_new(int ttl, size_t max)
{
	struct mmp_authcache *c = xcalloc(1, sizeof(*c));

	c->ttl = ttl;
	c->map = agemap_new(max, rec_free);
	return c;
}

static bool
salted_hash(const unsigned char salt[SALT_LEN], const char *password,
    unsigned char out[EVP_MAX_MD_SIZE])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL &&
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, salt, SALT_LEN) &&
	    EVP_DigestUpdate(ctx, password, strlen(password)) &&
	    EVP_DigestFinal_ex(ctx, out, NULL);

	EVP_MD_CTX_free(ctx);
	return ok;
}

void
mmp_authcache_put(struct mmp_authcache *c, const char *login,
    const char *password, const char *user, const char *mailhost, long now)
{
	struct agemap_item *old;
	struct cache_rec *r;

	if (c == NULL)
		return;
	if ((old = agemap_find(c->map, login)) != NULL)
		agemap_drop(c->map, old);
	r = xcalloc(1, sizeof(*r));
	if (RAND_bytes(r->salt, SALT_LEN) != 1 ||
	    !salted_hash(r->salt, password, r->hash)) {
		free(r);
		return;
	}
	r->login = xstrdup(login);
	r->user = xstrdup(user);
	r->mailhost = xstrdup(mailhost);
	r->item.key = r->login;
	agemap_insert(c->map, &r->item, now);
}

bool
mmp_authcache_get(struct mmp_authcache *c, const char *login,
    const char *password, long now, const char **user, const char **mailhost)
{
	unsigned char hash[EVP_MAX_MD_SIZE];
	struct cache_rec *r;

	if (c == NULL)
		return false;
	agemap_expire(c->map, now - c->ttl + 1);
	if ((r = (struct cache_rec *)agemap_find(c->map, login)) == NULL)
		return false;
	bool same = salted_hash(r->salt, password, hash) &&
	    CRYPTO_memcmp(hash, r->hash, 32) == 0;
	OPENSSL_cleanse(hash, sizeof(hash));
	if (!same) {
		agemap_drop(c->map, &r->item);
		return false;
	}
	*user = r->user;
	*mailhost = r->mailhost;
	return true;
}

void
mmp_authcache_free(struct mmp_authcache **cp)
{
	struct mmp_authcache *c = *cp;

	if (c == NULL)
		return;
	agemap_free(&c->map);
	free(c);
	*cp = NULL;
}
