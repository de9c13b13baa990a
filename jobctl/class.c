/*
 * class: an entry's priority, periodic wait and Deferred-delivery: date
 * (class.h).
 */
#include "class.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "msg_header.h"
#include "queue.h"

#define CLASS_FIELD_MAX 256

/* The field's first word, lower-cased, in out (cap bytes). */
static bool
class_field_word(const char *hdr, size_t len, const char *name, char *out,
    size_t cap)
{
	char v[CLASS_FIELD_MAX];
	size_t n = 0;

	if (!msg_header_get(hdr, len, name, v, sizeof(v)))
		return false;
	for (const char *p = v; *p && !isspace((unsigned char)*p) &&
	    *p != ';' && *p != '(' && n + 1 < cap; p++)
		out[n++] = (char)tolower((unsigned char)*p);
	out[n] = '\0';
	return n > 0;
}

int
class_header_priority(const char *hdr, size_t len)
{
	static const struct {
		const char *field, *word;
		int priority;
	} map[] = {
		{ "Priority", "urgent", QUEUE_PRIORITY_URGENT },
		{ "Priority", "non-urgent", QUEUE_PRIORITY_NONURGENT },
		{ "Priority", "normal", QUEUE_PRIORITY_NORMAL },
		{ "Importance", "high", QUEUE_PRIORITY_URGENT },
		{ "Importance", "low", QUEUE_PRIORITY_NONURGENT },
		{ "Importance", "normal", QUEUE_PRIORITY_NORMAL },
	};
	char word[32];

	/* Priority: (the X.400 one, RFC 2156) wins over Importance:. */
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (class_field_word(hdr, len, map[i].field, word, sizeof(word)) &&
		    strcmp(word, map[i].word) == 0)
			return map[i].priority;
	return QUEUE_PRIORITY_NORMAL;
}

/* One step down per block limit passed, in turn. */
static int
class_lower_by_size(int priority, uint64_t size, const struct imta_keywords *kw)
{
	static const struct {
		int from, to;
		enum imta_prio limit;
	} steps[] = {
		{ QUEUE_PRIORITY_URGENT, QUEUE_PRIORITY_NORMAL, IMTA_URGENT },
		{ QUEUE_PRIORITY_NORMAL, QUEUE_PRIORITY_NONURGENT, IMTA_NORMAL },
		{ QUEUE_PRIORITY_NONURGENT, CLASS_SECOND, IMTA_NONURGENT },
	};

	for (size_t i = 0; kw != NULL && i < sizeof(steps) / sizeof(steps[0]);
	    i++) {
		long limit = kw->prioblocklimit[steps[i].limit];
		if (priority == steps[i].from && limit > 0 &&
		    size > (uint64_t)limit * CLASS_BLOCK)
			priority = steps[i].to;
	}
	return priority;
}

void
class_of(const char *hdr, size_t len, int env_priority, uint64_t size,
    const struct imta_keywords *kw, long long now, struct class_result *out)
{
	char v[CLASS_FIELD_MAX];
	long long t;
	int p = env_priority != QUEUE_PRIORITY_NORMAL ? env_priority :
	    class_header_priority(hdr, len);

	out->priority = class_lower_by_size(p, size, kw);
	out->periodic = out->priority == CLASS_SECOND ||
	    (out->priority == QUEUE_PRIORITY_NONURGENT &&
	    (kw == NULL || !kw->immnonurgent));
	out->not_before = 0;
	if (kw != NULL && kw->deferred &&
	    msg_header_get(hdr, len, "Deferred-delivery", v, sizeof(v)) &&
	    class_parse_date(v, &t) && t > now)
		out->not_before = t;
}

long long
class_periodic_at(long long t, int interval)
{
	if (interval <= 0)
		return t;
	return (t + interval - 1) / interval * interval;
}

enum imta_prio
class_imta_prio(int priority)
{
	if (priority > 0)
		return IMTA_URGENT;
	return priority == 0 ? IMTA_NORMAL : IMTA_NONURGENT;
}

size_t
class_read_header(int fd, size_t body, char *buf, size_t cap)
{
	ssize_t n;

	do
		n = pread(fd, buf, cap, (off_t)body);
	while (n < 0 && errno == EINTR);
	return n > 0 ? (size_t)n : 0;
}

/* ---- RFC 5322 3.3 date-time ---- */

/* s without comments, runs of white space as one space, commas as
 * spaces: "Sat, 22 Nov 2026 15:00:00 +0000 (UTC)" -> words. */
static void
class_date_words(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	int depth = 0;

	for (; *s && n + 1 < cap; s++) {
		if (*s == '(' || (*s == ')' && depth > 0)) {
			depth += *s == '(' ? 1 : -1;
			continue;
		}
		if (depth > 0)
			continue;
		char c = *s == ',' || isspace((unsigned char)*s) ? ' ' : *s;
		if (c != ' ' || (n > 0 && out[n - 1] != ' '))
			out[n++] = c;
	}
	out[n] = '\0';
}

/* A zone as seconds east of UTC: +hhmm/-hhmm, or an obsolete name
 * (RFC 5322 4.3; military letters mean nothing: 0). */
static bool
class_date_zone(const char *z, long *off)
{
	static const struct {
		const char *name;
		int hours;
	} names[] = {
		{ "UT", 0 }, { "GMT", 0 }, { "Z", 0 }, { "EST", -5 }, { "EDT", -4 },
		{ "CST", -6 }, { "CDT", -5 }, { "MST", -7 }, { "MDT", -6 },
		{ "PST", -8 }, { "PDT", -7 },
	};

	if ((z[0] == '+' || z[0] == '-') && strlen(z) == 5 &&
	    strspn(z + 1, "0123456789") == 4) {
		long hhmm = strtol(z + 1, NULL, 10);
		*off = (hhmm / 100 * 3600 + hhmm % 100 * 60) * (z[0] == '-' ? -1 : 1);
		return hhmm % 100 < 60;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(z, names[i].name) == 0) {
			*off = names[i].hours * 3600L;
			return true;
		}
	*off = 0;
	return strlen(z) == 1 && isalpha((unsigned char)z[0]);
}

static int
class_date_month(const char *m)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	for (int i = 0; i < 12; i++)
		if (strlen(m) == 3 && strncasecmp(m, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

bool
class_parse_date(const char *s, long long *t)
{
	char w[CLASS_FIELD_MAX], mon[8], zone[8], extra[2];
	const char *p = w;
	int day, year, hh, mm, ss = 0, used = 0;
	long off;
	struct tm tm = { 0 };

	class_date_words(s, w, sizeof(w));
	if (isalpha((unsigned char)*p))             /* day-of-week */
		p += strcspn(p, " ") + (p[strcspn(p, " ")] == ' ');
	if (sscanf(p, "%d %7s %d %d:%d%n", &day, mon, &year, &hh, &mm,
	    &used) != 5)
		return false;
	p += used;
	if (*p == ':' && sscanf(p, ":%d%n", &ss, &used) == 1)
		p += used;
	if (sscanf(p, " %7s %1s", zone, extra) != 1 ||
	    !class_date_zone(zone, &off) || (tm.tm_mon = class_date_month(mon)) < 0)
		return false;
	if (year < 100)                             /* RFC 5322 4.3 */
		year += year < 50 ? 2000 : 1900;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || hh < 0 ||
	    mm < 0 || ss < 0 || year < 1970)
		return false;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*t = (long long)timegm(&tm) - off;
	return true;
}
