/*
 * duration: ISO 8601 durations as the seed writes them (pt30m, p1d, pt1h30m,
 * p1dt12h), case-insensitive.  Years and months are not accepted: their
 * length in seconds is not fixed, and no setting needs them.  Weeks (p2w)
 * are.  A bare number of seconds ("90") is accepted too.
 */
#ifndef COMMON_DURATION_H
#define COMMON_DURATION_H

#include <stdbool.h>

/* Parse s into seconds; false (and *secs untouched) on malformed input. */
bool duration_parse(const char *s, long long *secs);

#endif
