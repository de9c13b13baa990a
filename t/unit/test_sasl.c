/* Unit tests for common/sasl: the PLAIN message. */
#include <string.h>

#include "sasl.h"
#include "unit.h"

static const struct {
	const char *msg;
	size_t len;
	bool ok;
	const char *authz, *authc, *pass;
} plain_cases[] = {
	{ "\0alice\0secret", 13, true, "", "alice", "secret" },
	{ "bob\0alice\0s", 11, true, "bob", "alice", "s" },
	{ "\0alice\0", 7, true, "", "alice", "" },
	{ "\0\0secret", 8, false, NULL, NULL, NULL },       /* no authcid */
	{ "alice\0secret", 12, false, NULL, NULL, NULL },    /* one NUL */
	{ "alice", 5, false, NULL, NULL, NULL },
	{ "\0a\0b\0c", 6, false, NULL, NULL, NULL },         /* NUL in passwd */
	{ "", 0, false, NULL, NULL, NULL },
};

static void
test_plain(void)
{
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		const char *z = NULL, *c = NULL, *p = NULL;
		char buf[64];
		memcpy(buf, plain_cases[i].msg, plain_cases[i].len);
		buf[plain_cases[i].len] = '\0';
		bool ok = sasl_plain_parse(buf, plain_cases[i].len, &z, &c, &p);
		CHECK(ok == plain_cases[i].ok);
		if (!ok || !plain_cases[i].ok)
			continue;
		CHECK_STR(z, plain_cases[i].authz);
		CHECK_STR(c, plain_cases[i].authc);
		CHECK_STR(p, plain_cases[i].pass);
	}
}

int
main(void)
{
	UNIT_RUN(test_plain);
	return unit_done();
}
