/* agemap: a bounded, age-ordered table (see agemap.h). */
#include "agemap.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct agemap {
	size_t max, n;
	void *tree;                     /* tsearch, by key */
	struct agemap_item *oldest, *newest;
	void (*free_item)(struct agemap_item *);
};

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct agemap_item *)a)->key,
	    ((const struct agemap_item *)b)->key);
}

struct agemap *
agemap_new(size_t max, void (*free_item)(struct agemap_item *))
{
	struct agemap *map = xcalloc(1, sizeof(*map));

	map->max = max > 0 ? max : 1;
	map->free_item = free_item;
	return map;
}

static void
age_unlink(struct agemap *map, struct agemap_item *it)
{
	if (it->older)
		it->older->newer = it->newer;
	else
		map->oldest = it->newer;
	if (it->newer)
		it->newer->older = it->older;
	else
		map->newest = it->older;
	it->older = it->newer = NULL;
}

static void
age_push(struct agemap *map, struct agemap_item *it, long now)
{
	it->stamp = now;
	it->older = map->newest;
	it->newer = NULL;
	if (map->newest)
		map->newest->newer = it;
	else
		map->oldest = it;
	map->newest = it;
}

struct agemap_item *
agemap_find(struct agemap *map, const char *key)
{
	struct agemap_item probe = { .key = (char *)key };
	struct agemap_item **found = tfind(&probe, &map->tree, item_cmp);

	return found ? *found : NULL;
}

void
agemap_drop(struct agemap *map, struct agemap_item *it)
{
	age_unlink(map, it);
	tdelete(it, &map->tree, item_cmp);
	map->n--;
	map->free_item(it);
}

void
agemap_insert(struct agemap *map, struct agemap_item *it, long now)
{
	while (map->n >= map->max && map->oldest != NULL)
		agemap_drop(map, map->oldest);
	tsearch(it, &map->tree, item_cmp);
	map->n++;
	age_push(map, it, now);
}

void
agemap_touch(struct agemap *map, struct agemap_item *it, long now)
{
	age_unlink(map, it);
	age_push(map, it, now);
}

void
agemap_expire(struct agemap *map, long before)
{
	while (map->oldest != NULL && map->oldest->stamp < before)
		agemap_drop(map, map->oldest);
}

void
agemap_free(struct agemap **mapp)
{
	struct agemap *map = *mapp;

	if (map == NULL)
		return;
	while (map->oldest != NULL)
		agemap_drop(map, map->oldest);
	free(map);
	*mapp = NULL;
}
