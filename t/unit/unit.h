/*
 * unit: the smallest table-driven test harness.  A test file defines its
 * cases as functions, lists them in main() with UNIT_RUN, and returns
 * unit_done().  Each failed CHECK prints file:line and the expression.
 */
#ifndef T_UNIT_H
#define T_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(expr)                                                     \
	do {                                                                \
		unit_checks++;                                                  \
		if (!(expr)) {                                                  \
			unit_failures++;                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,      \
			    __LINE__, #expr);                                       \
		}                                                               \
	} while (0)

#define CHECK_STR(got, want)                                            \
	do {                                                                \
		const char *unit_g = (got), *unit_w = (want);                   \
		unit_checks++;                                                  \
		if (unit_g == NULL || unit_w == NULL ? unit_g != unit_w         \
		                                     : strcmp(unit_g, unit_w)) { \
			unit_failures++;                                            \
			fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n",     \
			    __FILE__, __LINE__, #got, unit_g ? unit_g : "(null)",   \
			    unit_w ? unit_w : "(null)");                            \
		}                                                               \
	} while (0)

#define UNIT_RUN(fn)                                                    \
	do {                                                                \
		int unit_before = unit_failures;                                \
		fn();                                                           \
		fprintf(stderr, "%s %s\n",                                      \
		    unit_failures == unit_before ? "ok  " : "FAIL", #fn);       \
	} while (0)

static inline int
unit_done(void)
{
	fprintf(stderr, "%d checks, %d failed\n", unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
