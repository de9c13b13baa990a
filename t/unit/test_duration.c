/* test_duration: the ISO 8601 subset of duration.h, accepted and refused
 * spellings, designator order and overflow. */
#include <limits.h>

#include "duration.h"
#include "unit.h"

static const struct {
	const char *in;
	long long want;
} good[] = {
	{ "pt30m", 1800 },
	{ "PT30M", 1800 },
	{ "P1D", 86400 },
	{ "p7d", 604800 },
	{ "p1dt12h", 129600 },
	{ "P1DT12H", 129600 },
	{ "pT1h", 3600 },
	{ "pt1h30m", 5400 },
	{ "pt1h30m15s", 5415 },
	{ "p2w", 1209600 },
	{ "p1w1d", 691200 },
	{ "p1w1dt1h1m1s", 604800 + 86400 + 3600 + 60 + 1 },
	{ "pt0s", 0 },
	{ "pt90s", 90 },
	{ "pt120m", 7200 },             /* no carry rules: 120 minutes is fine */
	{ "90", 90 },
	{ "0", 0 },
	{ "007", 7 },
	{ "9223372036854775807", LLONG_MAX },
	{ "pt9223372036854775807s", LLONG_MAX },
	{ "p15250284452471w", 15250284452471LL * 604800 },
	{ "p15250284452471w3d", 15250284452471LL * 604800 + 3 * 86400 },
};

static const char *const bad[] = {
	"",
	"p",
	"P",
	"pt",
	"PT",
	"p1dt",                 /* T without a time part */
	"p1m",                  /* months: no fixed length */
	"p1y",                  /* years likewise */
	"p1y2d",
	"pt1x",
	"p1",                   /* number without designator */
	"pt1",
	"p1d1",
	"pt1m1h",               /* order violations */
	"p1d1w",
	"pt1s1m",
	"pt1h1h",               /* repeats */
	"p1d1d",
	"ptt1h",
	"p1dt1ht1m",
	"p1h",                  /* H outside the time part */
	"pt1d",                 /* D inside the time part */
	"pt1w",
	"p-1d",
	"pt+1m",
	"-90",
	"+90",
	" 90",
	"90 ",
	"90s",
	"1.5",
	"pt1.5h",
	"x",
	"t1h",
	"p 1d",
	"pt1h ",
	"9223372036854775808",          /* overflow of the number */
	"99999999999999999999999",
	"pt9223372036854775808s",
	"p15250284452472w",             /* overflow of the product */
	"p15250284452471w4d",           /* overflow of the sum */
	"pt2562047788015216h",
	"pt2562047788015215h1000000m",
};

static void
test_good(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		long long secs = -1;
		bool ok = duration_parse(good[i].in, &secs);

		CHECK(ok);
		CHECK(secs == good[i].want);
		if (!ok || secs != good[i].want)
			fprintf(stderr, "  case \"%s\": ok=%d secs=%lld\n",
			    good[i].in, ok, secs);
	}
}

static void
test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long long secs = 4242;
		bool ok = duration_parse(bad[i], &secs);

		CHECK(!ok);
		CHECK(secs == 4242);            /* untouched on failure */
		if (ok || secs != 4242)
			fprintf(stderr, "  case \"%s\" accepted (%lld)\n", bad[i],
			    secs);
	}
}

int
main(void)
{
	UNIT_RUN(test_good);
	UNIT_RUN(test_bad);
	return unit_done();
}
