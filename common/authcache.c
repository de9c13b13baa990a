/* authcache: logins that succeeded lately (see authcache.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agemap.h"
#include "authcache.h"
#include "xmalloc.h"

#define SALT_LEN 16

struct cache_rec {
	struct agemap_item item;
	unsigned char salt[SALT_LEN];
	unsigned char hash[EVP_MAX_MD_SIZE];
	char *login, *value1, *value2;
};

struct authcache {
	int ttl;
	struct agemap *map;
};

static void
rec_free(struct agemap_item *it)
{
	struct cache_rec *r = (struct cache_rec *)it;

	free(r->login);
	free(r->value1);
	free(r->value2);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

struct authcache *
authcache_new(int ttl, size_t max)
{
	struct authcache *c = xcalloc(1, sizeof(*c));

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
authcache_put(struct authcache *c, const char *login,
    const char *password, const char *value1, const char *value2, long now)
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
	r->value1 = xstrdup(value1);
	r->value2 = xstrdup(value2);
	r->item.key = r->login;
	agemap_insert(c->map, &r->item, now);
}

bool
authcache_get(struct authcache *c, const char *login,
    const char *password, long now, const char **value1, const char **value2)
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
	*value1 = r->value1;
	*value2 = r->value2;
	return true;
}

void
authcache_free(struct authcache **cp)
{
	struct authcache *c = *cp;

	if (c == NULL)
		return;
	agemap_free(&c->map);
	free(c);
	*cp = NULL;
}
