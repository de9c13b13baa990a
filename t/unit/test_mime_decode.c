/* Unit tests for common/mime_decode: quoted-printable and base64 edge
 * cases, encoded words in several charsets, caps, case folding, and a
 * fixed-seed loop of damaged input that must never crash or overrun. */
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime_decode.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct pair { const char *in, *out; };

static const struct pair qp_cases[] = {
	{ "", "" },
	{ "plain", "plain" },
	{ "na=C3=AFve", "na\xc3\xafve" },
	{ "a=3db", "a=b" },                         /* lower-case hex */
	{ "soft=\r\nbreak", "softbreak" },
	{ "soft=  \t\r\nbreak", "softbreak" },      /* padding after "=" */
	{ "soft=\nbreak", "softbreak" },            /* bare LF */
	{ "trail   \r\nnext", "trail\r\nnext" },    /* transport padding */
	{ "tab\t", "tab" },
	{ "a = b", "a = b" },
	{ "end=", "end" },
	{ "bad=ZZ", "bad=ZZ" },
	{ "=4", "=4" },
	{ "=", "" },
	{ "x=\r", "x" },
	{ "==41", "=A" },
};

static void
test_qp(void)
{
	char out[64];

	for (size_t i = 0; i < N(qp_cases); i++) {
		size_t n = mime_decode_qp(qp_cases[i].in, strlen(qp_cases[i].in), out);
		CHECK(n <= strlen(qp_cases[i].in));
		out[n] = '\0';
		CHECK_STR(out, qp_cases[i].out);
	}
}

static const struct pair b64_cases[] = {
	{ "", "" },
	{ "Zm9vYmFy", "foobar" },
	{ "Zm9v\r\nYmFy\r\n", "foobar" },           /* wrapped */
	{ " Zm9v YmF y ", "foobar" },               /* white space anywhere */
	{ "Zm9v!!*YmFy", "foobar" },                /* garbage skipped */
	{ "Zm8=Zm8=", "fofo" },                     /* concatenated */
	{ "Zg", "f" },                              /* padding missing */
	{ "Z", "" },
	{ "====", "" },
};

static void
test_base64(void)
{
	char out[64];

	for (size_t i = 0; i < N(b64_cases); i++) {
		size_t n = mime_decode_base64(b64_cases[i].in,
		    strlen(b64_cases[i].in), out);
		out[n] = '\0';
		CHECK_STR(out, b64_cases[i].out);
	}
}

static bool
have_charset(const char *cs)
{
	iconv_t cd = iconv_open("UTF-8", cs);

	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

static const struct { const char *charset, *in, *out; } word_cases[] = {
	{ NULL, "plain text", "plain text" },
	{ NULL, "", "" },
	{ NULL, "=?UTF-8?Q?caf=C3=A9?=", "caf\xc3\xa9" },
	{ NULL, "=?utf-8?q?a_b?=", "a b" },
	{ NULL, "=?UTF-8?B?Y2Fmw6k=?=", "caf\xc3\xa9" },
	{ NULL, "=?UTF-8*en?Q?hi?=", "hi" },               /* RFC 2231 language */
	{ NULL, "=?US-ASCII?Q?x?=", "x" },
	{ "ISO-8859-1", "=?ISO-8859-1?Q?caf=E9?=", "caf\xc3\xa9" },
	{ "ISO-8859-15", "=?iso-8859-15?q?=A4uro?=", "\xe2\x82\xac" "uro" },
	{ "KOI8-R", "=?KOI8-R?B?8NLJ18XU?=",
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
	{ "SHIFT_JIS", "=?Shift_JIS?B?k/qWe4zq?=",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	/* a character split across two words in the same charset */
	{ "SHIFT_JIS", "=?Shift_JIS?B?k/qW?= =?Shift_JIS?B?e4zq?=",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ NULL, "=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xc3\xa9" },
	/* white space between adjacent words goes, elsewhere it stays */
	{ NULL, "=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab" },
	{ NULL, "=?UTF-8?Q?a?=\r\n\t=?UTF-8?Q?b?=", "ab" },
	{ NULL, "x =?UTF-8?Q?a?= y", "x a y" },
	{ NULL, "=?UTF-8?Q?a?=  plain  =?UTF-8?Q?b?=", "a  plain  b" },
	{ "ISO-8859-1", "Fwd: =?ISO-8859-1?Q?caf=E9?= =?UTF-8?B?Y3LDqG1l?=",
	    "Fwd: caf\xc3\xa9" "cr\xc3\xa8me" },
	/* malformed: as written */
	{ NULL, "=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=" },
	{ NULL, "=?UTF-8?Q?abc", "=?UTF-8?Q?abc" },
	{ NULL, "=?UTF-8?B?a b?=", "=?UTF-8?B?a b?=" },
	{ NULL, "=?UTF-8?B?a!b?=", "=?UTF-8?B?a!b?=" },
	{ NULL, "=??Q?abc?=", "=??Q?abc?=" },
	{ NULL, "=?UTF-8?Q", "=?UTF-8?Q" },
	{ NULL, "=?", "=?" },
	{ NULL, "a=b=?c", "a=b=?c" },
	/* unknown or unsafe charset names: the decoded octets, raw */
	{ NULL, "=?x-unknown?Q?caf=E9?=", "caf\xe9" },
	{ NULL, "=?UTF-8//TRANSLIT?Q?a=E9?=", "a\xe9" },
	/* invalid in its charset */
	{ "SHIFT_JIS", "=?Shift_JIS?B?gQ==?=", "\xef\xbf\xbd" },
	{ "UTF-16BE", "=?UTF-16BE?B?AGH/?=", "a\xef\xbf\xbd" },
};

static void
test_words(void)
{
	char out[256];

	for (size_t i = 0; i < N(word_cases); i++) {
		if (word_cases[i].charset != NULL &&
		    !have_charset(word_cases[i].charset)) {
			fprintf(stderr, "skip: no %s in iconv\n", word_cases[i].charset);
			continue;
		}
		size_t n = mime_decode_words(word_cases[i].in,
		    strlen(word_cases[i].in), out, sizeof(out));
		CHECK(n == strlen(out));
		CHECK_STR(out, word_cases[i].out);
	}
}

static void
test_word_caps(void)
{
	static const char in[] = "=?UTF-8?Q?caf=C3=A9?=";
	static const struct { size_t cap; const char *out; } caps[] = {
		{ 1, "" }, { 2, "c" }, { 4, "caf" }, { 5, "caf" }, { 6, "caf\xc3\xa9" },
		{ 100, "caf\xc3\xa9" },
	};
	char out[128];

	for (size_t i = 0; i < N(caps); i++) {
		memset(out, 'X', sizeof(out));
		size_t n = mime_decode_words(in, strlen(in), out, caps[i].cap);
		CHECK(n < caps[i].cap);
		CHECK_STR(out, caps[i].out);
		CHECK(out[caps[i].cap] == 'X');     /* nothing past the cap */
	}
	out[0] = 'X';
	CHECK(mime_decode_words(in, strlen(in), out, 0) == 0 && out[0] == 'X');
	/* plain text cut anywhere; invalid UTF-8 cut at the cap */
	CHECK(mime_decode_words("abcdef", 6, out, 4) == 3);
	CHECK_STR(out, "abc");
	CHECK(mime_decode_words("ab\x80\x80\x80\x80", 6, out, 5) == 4);
}

static const struct { const char *cte, *charset, *in, *out; } body_cases[] = {
	{ NULL, NULL, "hello\r\n", "hello\r\n" },
	{ "7bit", "us-ascii", "hello", "hello" },
	{ "8BIT", "utf-8", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "binary", NULL, "a\0b", "a" },
	{ "x-unknown", NULL, "=41", "=41" },
	{ "Quoted-Printable", "UTF-8", "na=C3=AFve=\r\n wins", "na\xc3\xafve wins" },
	{ "quoted-printable", "ISO-8859-1", "caf=E9", "caf\xc3\xa9" },
	{ "8bit", "iso-8859-1", "na\xefve", "na\xc3\xafve" },
	{ "base64", "utf-8", "Y2Fm\r\nw6k=\r\n", "caf\xc3\xa9" },
	{ "base64", "koi8-r", "8NLJ18XU", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
	{ "8bit", "x-no-such-charset", "caf\xe9", "caf\xe9" },
	{ "8bit", "utf-8\" //x", "caf\xe9", "caf\xe9" },
	{ "8bit", "shift_jis", "\x93\xfa\x81", "\xe6\x97\xa5\xef\xbf\xbd" },
};

static void
test_body(void)
{
	for (size_t i = 0; i < N(body_cases); i++) {
		struct mime_text t;
		mime_text_init(&t, 1024);
		mime_decode_body(body_cases[i].in, strlen(body_cases[i].in),
		    body_cases[i].cte, body_cases[i].charset, &t);
		CHECK_STR(t.p != NULL ? t.p : "", body_cases[i].out);
		CHECK(!t.truncated);
		mime_text_free(&t);
	}
}

static void
test_body_caps(void)
{
	struct mime_text t;

	mime_text_init(&t, 5);
	mime_decode_body("hello world", 11, "7bit", NULL, &t);
	CHECK_STR(t.p, "hello");
	CHECK(t.len == 5 && t.truncated);
	mime_text_add(&t, "more", 4);
	CHECK(t.len == 5);
	mime_text_free(&t);

	/* iconv output at the cap: whole characters only */
	mime_text_init(&t, 5);
	mime_decode_body("\xe9\xe9\xe9", 3, "8bit", "iso-8859-1", &t);
	CHECK_STR(t.p, "\xc3\xa9\xc3\xa9");
	CHECK(t.truncated);
	mime_text_free(&t);

	mime_text_init(&t, 0);
	mime_decode_body("abc", 3, NULL, NULL, &t);
	CHECK(t.len == 0 && t.truncated);
	mime_text_free(&t);

	/* a long body grows the text past its first allocation */
	size_t n = 100000;
	char *big = malloc(n);
	memset(big, 0xe9, n);
	mime_text_init(&t, 3 * n);
	mime_decode_body(big, n, NULL, "latin1", &t);
	CHECK(t.len == 2 * n && !t.truncated);
	mime_text_free(&t);
	free(big);
}

static const struct { const char *hay, *needle; bool found; } match_cases[] = {
	{ "caf\xc3\xa9", "CAF\xc3\x89", true },             /* café, CAFÉ */
	{ "CAF\xc3\x89", "caf\xc3\xa9", true },
	{ "na\xc3\xafve", "NA\xc3\x8fVE", true },           /* naïve */
	{ "x \xd0\x9f\xd0\xa0\xd0\x98", "\xd0\xbf\xd1\x80\xd0\xb8", true }, /* ПРИ при */
	{ "\xd0\x81", "\xd1\x91", true },                   /* Ё ё */
	{ "\xce\xa9\xce\x9c\xce\x88", "\xcf\x89\xce\xbc\xce\xad", true }, /* ΩΜΈ ωμέ */
	{ "\xcf\x82", "\xce\xa3", true },                   /* ς Σ */
	{ "\xc5\x81\xc3\xb3\xc5\xba", "\xc5\x82\xc3\x93\xc5\xb9", true }, /* Łóź */
	{ "\xc3\xbf", "\xc5\xb8", true },                   /* ÿ Ÿ */
	{ "\xc3\x97", "\xc3\xb7", false },                  /* × is not ÷ */
	{ "stra\xc3\x9f" "e", "STRASSE", false },           /* no special casing */
	{ "abc", "", true },
	{ "", "", true },
	{ "", "a", false },
	{ "abc", "abcd", false },
	{ "xxABCxx", "bc", true },
	{ "a\xff" "B", "\xff" "b", true },                    /* invalid octets as such */
	{ "caf\xc3", "caf\xc3\xa9", false },                /* cut sequence */
};

static void
test_match(void)
{
	for (size_t i = 0; i < N(match_cases); i++) {
		bool got = mime_utf8_contains(match_cases[i].hay,
		    strlen(match_cases[i].hay), match_cases[i].needle);
		if (got != match_cases[i].found)
			fprintf(stderr, "match case %zu\n", i);
		CHECK(got == match_cases[i].found);
	}
}

static void
test_fold(void)
{
	char s[] = "CAF\xc3\x89 \xd0\x9f\xce\x86\xc5\xb8\xc4\xb0\xc3\x97 \xff\xc3";
	size_t n = strlen(s);

	mime_utf8_fold(s, n);
	CHECK(strlen(s) == n);
	CHECK_STR(s, "caf\xc3\xa9 \xd0\xbf\xce\xac\xc3\xbf\xc4\xb0\xc3\x97 \xff\xc3");
	for (unsigned c = 0; c < 0x800; c++) {
		unsigned f = mime_fold_char(c);
		CHECK((c < 0x80) == (f < 0x80));            /* length kept */
		CHECK(mime_fold_char(f) == f);              /* idempotent */
	}
}

/* A fixed-seed generator, so a failure repeats. */
static uint32_t seed = 20240611;

static uint32_t
rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

static const char *damage_src[] = {
	"=?UTF-8?Q?caf=C3=A9?= =?ISO-8859-1?B?6Q==?= text =?Shift_JIS?B?k/qWe4zq?=",
	"na=C3=AFve=\r\n soft =4 =\r\n",
	"Y2Fm\r\nw6k=\r\n====ZZ",
	"=?KOI8-R?B?8NLJ18XU?==?UTF-16?B?AGH/?=",
	"\xd0\x9f\xce\x86\xc5\xb8\xff\xfe\xc3",
};

static void
test_damage(void)
{
	static const char *charsets[] = { NULL, "utf-8", "iso-8859-1",
	    "shift_jis", "koi8-r", "utf-16", "iso-2022-jp", "x-bad" };
	static const char *ctes[] = { NULL, "base64", "quoted-printable", "8bit" };
	static const char alphabet[] = "=?QBqb_ \r\n\t\x80\xc3\xff\0AZ09+/";

	for (int round = 0; round < 20000; round++) {
		const char *src = damage_src[rnd() % N(damage_src)];
		size_t n = strlen(src);
		char *in = malloc(n + 1);           /* exact size: ASan sees overruns */
		memcpy(in, src, n);
		for (uint32_t k = rnd() % 6; k > 0 && n > 0; k--)
			in[rnd() % n] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		if (rnd() % 3 == 0 && n > 0)
			n = rnd() % n;
		size_t cap = rnd() % 40;
		char *out = malloc(cap + 1);
		out[cap] = 'X';
		size_t len = mime_decode_words(in, n, out, cap);
		CHECK(out[cap] == 'X');
		CHECK(cap == 0 ? len == 0 : len < cap && out[len] == '\0');
		free(out);

		struct mime_text t;
		mime_text_init(&t, rnd() % 64);
		mime_decode_body(in, n, ctes[rnd() % N(ctes)],
		    charsets[rnd() % N(charsets)], &t);
		CHECK(t.len <= t.max);
		mime_utf8_contains(t.p != NULL ? t.p : "", t.len, "\xc3\xa9" "a");
		mime_utf8_fold(t.p != NULL ? t.p : in, t.p != NULL ? t.len : n);
		mime_text_free(&t);
		char needle[8];
		size_t m = n < 7 ? n : 7;
		memcpy(needle, in, m);
		needle[m] = '\0';
		mime_utf8_contains(in, n, needle);
		free(in);
	}
}

int
main(void)
{
	UNIT_RUN(test_qp);
	UNIT_RUN(test_base64);
	UNIT_RUN(test_words);
	UNIT_RUN(test_word_caps);
	UNIT_RUN(test_body);
	UNIT_RUN(test_body_caps);
	UNIT_RUN(test_match);
	UNIT_RUN(test_fold);
	UNIT_RUN(test_damage);
	return unit_done();
}
