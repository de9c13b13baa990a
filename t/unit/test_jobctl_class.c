/* test_jobctl_class: an entry's class -- RFC 5322 dates (Deferred-delivery:),
 * the priority Priority: and Importance: give, the block limits' steps
 * down, which entries wait for the periodic run, and the periodic run's
 * alignment. */
#include <stdlib.h>
#include <string.h>

#include "class.h"
#include "queue.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NOW 1700000000LL        /* Tue, 14 Nov 2023 22:13:20 +0000 */

static void
test_dates(void)
{
	static const struct {
		const char *s;
		bool ok;
		long long t;
	} cases[] = {
		{ "Tue, 14 Nov 2023 22:13:20 +0000", true, NOW },
		{ "14 Nov 2023 22:13:20 +0000", true, NOW },
		{ "Tue, 14 Nov 2023 23:13:20 +0100", true, NOW },
		{ "Tue, 14 Nov 2023 17:13:20 -0500 (EST)", true, NOW },
		{ "Tue, 14 Nov 2023 17:13:20 EST", true, NOW },
		{ "Tue,14 nov 23 22:13:20 GMT", true, NOW },
		{ "Tue, 14 Nov 2023 22:13 UT", true, NOW - 20 },
		{ "  Tue ,  14  Nov  2023  22:13:20  Z", true, NOW },
		{ "Tue, 14 Nov 2023 22:13:20", false, 0 },          /* no zone */
		{ "Tue, 14 Foo 2023 22:13:20 +0000", false, 0 },
		{ "Tue, 32 Nov 2023 22:13:20 +0000", false, 0 },
		{ "Tue, 14 Nov 2023 24:13:20 +0000", false, 0 },
		{ "Tue, 14 Nov 2023 22:13:20 +0000 trailing", false, 0 },
		{ "Tue, 14 Nov 2023 22:13:20 +00", false, 0 },
		{ "tomorrow", false, 0 },
		{ "", false, 0 },
	};

	for (size_t i = 0; i < N(cases); i++) {
		long long t = 0;
		bool ok = class_parse_date(cases[i].s, &t);
		CHECK(ok == cases[i].ok);
		if (ok && cases[i].ok)
			CHECK(t == cases[i].t);
		if (ok != cases[i].ok || (ok && t != cases[i].t))
			fprintf(stderr, "  case \"%s\": %d %lld\n", cases[i].s, ok, t);
	}
}

static void
test_header_priority(void)
{
	static const struct {
		const char *hdr;
		int want;
	} cases[] = {
		{ "Subject: x\r\n\r\n", QUEUE_PRIORITY_NORMAL },
		{ "Priority: urgent\r\n\r\n", QUEUE_PRIORITY_URGENT },
		{ "priority:  Non-Urgent (bulk)\r\n\r\n", QUEUE_PRIORITY_NONURGENT },
		{ "Importance: high\r\n\r\n", QUEUE_PRIORITY_URGENT },
		{ "Importance: LOW\r\n\r\n", QUEUE_PRIORITY_NONURGENT },
		{ "Importance: low\r\nPriority: urgent\r\n\r\n", QUEUE_PRIORITY_URGENT },
		{ "Priority: normal\r\nImportance: high\r\n\r\n", QUEUE_PRIORITY_NORMAL },
		{ "Priority: whenever\r\n\r\n", QUEUE_PRIORITY_NORMAL },
		{ "Subject: x\r\n\r\nPriority: urgent\r\n", QUEUE_PRIORITY_NORMAL },
	};

	for (size_t i = 0; i < N(cases); i++)
		CHECK(class_header_priority(cases[i].hdr, strlen(cases[i].hdr)) ==
		    cases[i].want);
}

/* Limits of 10, 20 and 30 blocks: each passed in turn lowers a step. */
static void
test_block_limits(void)
{
	static const struct {
		const char *hdr;
		uint64_t size;
		bool immnonurgent;
		int priority;
		bool periodic;
	} cases[] = {
		{ "Priority: urgent\r\n", 10 * 1024, false, QUEUE_PRIORITY_URGENT, false },
		{ "Priority: urgent\r\n", 10 * 1024 + 1, false, QUEUE_PRIORITY_NORMAL, false },
		{ "Priority: urgent\r\n", 20 * 1024 + 1, false, QUEUE_PRIORITY_NONURGENT, true },
		{ "Priority: urgent\r\n", 20 * 1024 + 1, true, QUEUE_PRIORITY_NONURGENT, false },
		{ "", 20 * 1024, true, QUEUE_PRIORITY_NORMAL, false },
		{ "", 30 * 1024 + 1, true, CLASS_SECOND, true },
		{ "Importance: low\r\n", 100, false, QUEUE_PRIORITY_NONURGENT, true },
		{ "Importance: low\r\n", 100, true, QUEUE_PRIORITY_NONURGENT, false },
		{ "Importance: low\r\n", 30 * 1024 + 1, true, CLASS_SECOND, true },
	};
	struct imta_keywords kw = { .prioblocklimit = { 10, 20, 30 } };

	for (size_t i = 0; i < N(cases); i++) {
		struct class_result r;
		char hdr[128];
		snprintf(hdr, sizeof(hdr), "%s\r\n", cases[i].hdr);
		kw.immnonurgent = cases[i].immnonurgent;
		class_of(hdr, strlen(hdr), QUEUE_PRIORITY_NORMAL, cases[i].size,
		    &kw, NOW, &r);
		CHECK(r.priority == cases[i].priority);
		CHECK(r.periodic == cases[i].periodic);
		CHECK(r.not_before == 0);
	}
	/* No channel keywords: nothing lowered; an envelope's priority wins. */
	struct class_result r;
	class_of("Priority: urgent\r\n\r\n", 20, QUEUE_PRIORITY_NONURGENT,
	    1 << 30, NULL, NOW, &r);
	CHECK(r.priority == QUEUE_PRIORITY_NONURGENT && r.periodic);
}

static void
test_deferred(void)
{
	static const char later[] =
	    "Deferred-Delivery: Tue, 14 Nov 2023 23:13:20 +0000\r\n\r\n";
	static const char past[] =
	    "Deferred-delivery: Tue, 14 Nov 2023 21:13:20 +0000\r\n\r\n";
	static const char bad[] = "Deferred-delivery: soon\r\n\r\n";
	struct imta_keywords kw = { .deferred = true };
	struct class_result r;

	class_of(later, strlen(later), 0, 100, &kw, NOW, &r);
	CHECK(r.not_before == NOW + 3600);
	class_of(past, strlen(past), 0, 100, &kw, NOW, &r);
	CHECK(r.not_before == 0);
	class_of(bad, strlen(bad), 0, 100, &kw, NOW, &r);
	CHECK(r.not_before == 0);
	kw.deferred = false;            /* nodeferred: the field is ignored */
	class_of(later, strlen(later), 0, 100, &kw, NOW, &r);
	CHECK(r.not_before == 0);
}

static void
test_periodic_and_prio(void)
{
	CHECK(class_periodic_at(NOW, 300) == NOW + 100);   /* 22:15:00 */
	CHECK(class_periodic_at(NOW + 100, 300) == NOW + 100);
	CHECK(class_periodic_at(NOW, 0) == NOW);
	CHECK(class_imta_prio(QUEUE_PRIORITY_URGENT) == IMTA_URGENT);
	CHECK(class_imta_prio(QUEUE_PRIORITY_NORMAL) == IMTA_NORMAL);
	CHECK(class_imta_prio(QUEUE_PRIORITY_NONURGENT) == IMTA_NONURGENT);
	CHECK(class_imta_prio(CLASS_SECOND) == IMTA_NONURGENT);
}

int
main(void)
{
	UNIT_RUN(test_dates);
	UNIT_RUN(test_header_priority);
	UNIT_RUN(test_block_limits);
	UNIT_RUN(test_deferred);
	UNIT_RUN(test_periodic_and_prio);
	return unit_done();
}
