/*
 * duration: the ISO 8601 subset in duration.h.
 *
 *   duration = "P" [n "W"] [n "D"] ["T" [n "H"] [n "M"] [n "S"]]
 *
 * Each designator at most once and in that order; at least one number.
 */
#include "duration.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

static bool
duration_number(const char **p, long long *n)
{
	const char *s = *p;
	long long v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (LLONG_MAX - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*p = s;
	*n = v;
	return true;
}

static bool
duration_plain(const char *s, long long *secs)
{
	long long v;

	if (!duration_number(&s, &v) || *s != '\0')
		return false;
	*secs = v;
	return true;
}

bool
duration_parse(const char *s, long long *secs)
{
	static const struct { char unit; long long mult; bool time; } parts[] = {
		{ 'W', 604800, false }, { 'D', 86400, false },
		{ 'H', 3600, true }, { 'M', 60, true }, { 'S', 1, true },
	};
	long long total = 0, n;
	size_t next = 0;
	bool in_time = false, any = false;

	if (isdigit((unsigned char)*s))
		return duration_plain(s, secs);
	if (toupper((unsigned char)*s++) != 'P')
		return false;
	while (*s != '\0') {
		if (toupper((unsigned char)*s) == 'T' && !in_time) {
			in_time = true;
			s++;
			if (*s == '\0')
				return false;
			continue;
		}
		if (!duration_number(&s, &n))
			return false;
		char unit = (char)toupper((unsigned char)*s++);
		while (next < sizeof(parts) / sizeof(parts[0]) &&
		    (parts[next].unit != unit || parts[next].time != in_time))
			next++;
		if (next == sizeof(parts) / sizeof(parts[0]))
			return false;
		if (n > (LLONG_MAX - total) / parts[next].mult)
			return false;
		total += n * parts[next].mult;
		next++;
		any = true;
	}
	if (!any)
		return false;
	*secs = total;
	return true;
}
