/*
 * agemap: a bounded table of records keyed by a string and kept in the
 * order they were last touched, so the oldest can be expired or evicted.
 * The mmp's penalty table and the login caches (authcache) are each one.
 *
 * A record embeds struct agemap_item as its first member; the map owns
 * inserted records and frees them with the free function it was given.
 */
#ifndef COMMON_AGEMAP_H
#define COMMON_AGEMAP_H

#include <stddef.h>

struct agemap_item {
	char *key;                  /* owned by the item's record */
	long stamp;                 /* when last touched */
	struct agemap_item *older, *newer;
};

struct agemap;

struct agemap *agemap_new(size_t max, void (*free_item)(struct agemap_item *));
void agemap_free(struct agemap **map);
struct agemap_item *agemap_find(struct agemap *map, const char *key);
/* Insert a record whose key is not in the map; the oldest record goes
 * when the map is full. */
void agemap_insert(struct agemap *map, struct agemap_item *it, long now);
/* Make it the newest, stamped now. */
void agemap_touch(struct agemap *map, struct agemap_item *it, long now);
void agemap_drop(struct agemap *map, struct agemap_item *it);
/* Drop every record stamped before `before`. */
void agemap_expire(struct agemap *map, long before);

#endif
