/*
 * countmap: how many sessions (or anything) there are of each name, kept
 * as they come and go, so that a limit per client address or per user
 * costs a lookup at each new session, not a walk over all of them
 * (thousands of idle IMAP clients are the normal case).
 *
 * The map is a tsearch root: a void * set to NULL before the first use.
 * A name whose count falls to zero is dropped.
 */
#ifndef COMMON_COUNTMAP_H
#define COMMON_COUNTMAP_H

int countmap_get(void *const *map, const char *name);
void countmap_add(void **map, const char *name, int delta);

#endif
