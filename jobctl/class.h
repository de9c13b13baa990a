/*
 * class: an entry's place in the schedule, from what it says of itself
 * and its channel's keywords (imta.cnf):
 *
 *   priority     the envelope's when it names one (not normal), else the
 *                message's Priority: (urgent, normal, non-urgent; RFC
 *                2156) or Importance: (high, normal, low) field; then
 *                lowered by size, in the seed's 1024-byte blocks, one
 *                step per limit passed in turn: urgent past
 *                urgentblocklimit becomes normal, normal past
 *                normalblocklimit non-urgent, non-urgent past
 *                nonurgentblocklimit CLASS_SECOND (below non-urgent);
 *   periodic     it waits for the next periodic run: non-urgent without
 *                the channel's immnonurgent, or CLASS_SECOND always;
 *   not_before   with the channel's `deferred`, the date of its
 *                Deferred-delivery: field (RFC 1327, an RFC 5322
 *                date-time) when that is to come.
 *
 * The mta writes an entry's envelope before the message arrives, so the
 * header fields are read here, once per load of the entry into the index,
 * from at most CLASS_HEADER_MAX bytes of the message (a field further in
 * is not seen).  Everything but class_read_header is pure; nothing fails:
 * a field that does not parse is ignored.
 */
#ifndef JOBCTL_CLASS_H
#define JOBCTL_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imta_conf.h"

#define CLASS_SECOND     (-2)   /* below QUEUE_PRIORITY_NONURGENT */
#define CLASS_BLOCK      1024   /* the seed's BLOCK_SIZE */
#define CLASS_HEADER_MAX 16384

struct class_result {
	int priority;           /* QUEUE_PRIORITY_* or CLASS_SECOND */
	bool periodic;
	long long not_before;   /* 0: none */
};

/* The class of a message whose header block starts hdr (len bytes, may
 * be cut short), of env_priority and size, in a channel with keywords kw
 * (NULL: none), at now. */
void class_of(const char *hdr, size_t len, int env_priority, uint64_t size,
    const struct imta_keywords *kw, long long now, struct class_result *out);

/* The priority Priority: or Importance: gives (QUEUE_PRIORITY_NORMAL
 * when neither does). */
int class_header_priority(const char *hdr, size_t len);

/* An RFC 5322 date-time (obsolete forms too: two-digit years, named
 * zones, comments) as a Unix time; false when it is not one. */
bool class_parse_date(const char *s, long long *t);

/* The first periodic run at or after t: runs are every interval seconds,
 * aligned to the epoch (so to the hour, for intervals that divide it). */
long long class_periodic_at(long long t, int interval);

/* The imta.cnf priority whose backoff and notices apply. */
enum imta_prio class_imta_prio(int priority);

/* Up to cap bytes of the message of the entry open on fd, from body
 * (where the message starts); the count read (0 on error). */
size_t class_read_header(int fd, size_t body, char *buf, size_t cap);

#endif
