/* countmap: how many of each name (see countmap.h). */
#include "countmap.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct count {
	char *name;
	int n;
};

static int
count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct count *)a)->name,
	    ((const struct count *)b)->name);
}

int
countmap_get(void *const *map, const char *name)
{
	struct count key = { .name = (char *)name };
	struct count **found = tfind(&key, map, count_cmp);

	return found ? (*found)->n : 0;
}

void
countmap_add(void **map, const char *name, int delta)
{
	struct count key = { .name = (char *)name }, *c, **found;

	if ((found = tfind(&key, map, count_cmp)) != NULL) {
		c = *found;
	} else {
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(name);
		tsearch(c, map, count_cmp);
	}
	if ((c->n += delta) <= 0) {
		tdelete(c, map, count_cmp);
		free(c->name);
		free(c);
	}
}
