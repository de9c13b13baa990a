/* Unit tests for common/base64: RFC 4648 test vectors and bad input. */
#include <string.h>

#include "base64.h"
#include "unit.h"

static const struct { const char *plain, *coded; } vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void
test_vectors(void)
{
	char out[64];
	size_t n;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		CHECK(base64_encode(vectors[i].plain, strlen(vectors[i].plain), out) ==
		    strlen(vectors[i].coded));
		CHECK_STR(out, vectors[i].coded);
		CHECK(base64_decode(vectors[i].coded, strlen(vectors[i].coded), out, &n));
		CHECK(n == strlen(vectors[i].plain) && strcmp(out, vectors[i].plain) == 0);
	}
}

static void
test_binary(void)
{
	const char plain[] = "\0user\0secret";
	char coded[64], back[64];
	size_t n;

	base64_encode(plain, sizeof(plain) - 1, coded);
	CHECK_STR(coded, "AHVzZXIAc2VjcmV0");
	CHECK(base64_decode(coded, strlen(coded), back, &n));
	CHECK(n == sizeof(plain) - 1 && memcmp(back, plain, n) == 0);
}

static void
test_malformed(void)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "Zm9v Yg==", "Zm9*", "=Zg=", "Zg==Zg==",
		"Zm=v", "\xc3\xa9\xc3\xa9",
	};
	char out[64];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!base64_decode(bad[i], strlen(bad[i]), out, &n));
}

int
main(void)
{
	UNIT_RUN(test_vectors);
	UNIT_RUN(test_binary);
	UNIT_RUN(test_malformed);
	return unit_done();
}
