/* test_smtp_data: the DATA/BDAT decoder: unstuffing, terminators, line-end
 * policy, NUL counting, and that chunk boundaries never change the result. */
#include <stdlib.h>

#include "smtp_data.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* A byte string that may hold NULs: pointer and length. */
#define B(s) s, sizeof(s) - 1

static const struct {
	const char *in;
	size_t inlen;
	bool raw;
	const char *out;
	size_t outlen;
	size_t consumed;        /* (size_t)-1: all of it */
	bool done;
	size_t nuls;
} cases[] = {
	{ B("hello\r\n.\r\n"), false, B("hello\r\n"), -1, true, 0 },
	{ B(".\r\n"), false, B(""), -1, true, 0 },              /* empty */
	{ B("\r\n.\r\n"), false, B("\r\n"), -1, true, 0 },
	{ B("a\r\n\r\n.\r\n"), false, B("a\r\n\r\n"), -1, true, 0 },
	/* dot-unstuffing; a dot inside a line is data */
	{ B("a\r\n..b\r\n.\r\n"), false, B("a\r\n.b\r\n"), -1, true, 0 },
	{ B("..\r\n.\r\n"), false, B(".\r\n"), -1, true, 0 },
	{ B("...\r\n.\r\n"), false, B("..\r\n"), -1, true, 0 },
	{ B("a\r\n.b\r\n.\r\n"), false, B("a\r\nb\r\n"), -1, true, 0 },
	{ B("a\r\n. \r\n.\r\n"), false, B("a\r\n \r\n"), -1, true, 0 },
	{ B("x.\r\n.\r\n"), false, B("x.\r\n"), -1, true, 0 },
	{ B("x\r\nx.\r\n.\r\n"), false, B("x\r\nx.\r\n"), -1, true, 0 },
	/* terminators: CRLF.CRLF, and "." LF */
	{ B("a\n.\n"), false, B("a\r\n"), -1, true, 0 },
	{ B("a\r\n.\n"), false, B("a\r\n"), -1, true, 0 },
	{ B("a\n.\r\n"), false, B("a\r\n"), -1, true, 0 },
	{ B("\n.\n"), false, B("\r\n"), -1, true, 0 },
	{ B(".\n"), false, B(""), -1, true, 0 },
	/* stops right after the terminator */
	{ B("a\r\n.\r\nMAIL FROM:<>\r\n"), false, B("a\r\n"), 6, true, 0 },
	{ B("a\r\n.\nRSET\r\n"), false, B("a\r\n"), 5, true, 0 },
	{ B(".\r\n.\r\n"), false, B(""), 3, true, 0 },
	/* not a terminator */
	{ B("a\r\n. \r\n"), false, B("a\r\n \r\n"), -1, false, 0 },
	{ B("a\r\n.\r"), false, B("a\r\n"), -1, false, 0 },
	{ B("a\r\n."), false, B("a\r\n"), -1, false, 0 },
	{ B("a\r\nb"), false, B("a\r\nb"), -1, false, 0 },
	{ B("a\r."), false, B("a\r."), -1, false, 0 },
	{ B("a\r.\r\n.\r\n"), false, B("a\r.\r\n"), -1, true, 0 },
	{ B(".\rx\r\n.\r\n"), false, B("\rx\r\n"), -1, true, 0 },
	{ B(".\r\r\n.\r\n"), false, B("\r\r\n"), -1, true, 0 },
	/* bare LF becomes CRLF, bare CR is kept */
	{ B("a\nb\n.\r\n"), false, B("a\r\nb\r\n"), -1, true, 0 },
	{ B("a\rb\r\n.\r\n"), false, B("a\rb\r\n"), -1, true, 0 },
	{ B("a\r\r\n.\r\n"), false, B("a\r\r\n"), -1, true, 0 },
	{ B("\r\r\r\n.\r\n"), false, B("\r\r\r\n"), -1, true, 0 },
	{ B("a\n\n.\n"), false, B("a\r\n\r\n"), -1, true, 0 },
	/* NULs are counted and kept */
	{ B("a\0b\r\n.\r\n"), false, B("a\0b\r\n"), -1, true, 1 },
	{ B("\0\r\n.\0\r\n..\0\r\n.\r\n"), false, B("\0\r\n\0\r\n.\0\r\n"), -1,
	    true, 3 },
	{ B("\r\0\r\n.\r\n"), false, B("\r\0\r\n"), -1, true, 1 },
	{ B(".\r\0\r\n.\r\n"), false, B("\r\0\r\n"), -1, true, 1 },
	{ B("a\r\n.\r\n\0\0"), false, B("a\r\n"), 6, true, 0 },
	/* raw (BDAT): no unstuffing, no terminator, line ends normalised */
	{ B("a\r\n.\r\nb"), true, B("a\r\n.\r\nb"), -1, false, 0 },
	{ B("..\n"), true, B("..\r\n"), -1, false, 0 },
	{ B(".\n.\r\n"), true, B(".\r\n.\r\n"), -1, false, 0 },
	{ B("a\rb\n"), true, B("a\rb\r\n"), -1, false, 0 },
	{ B("\0.\0"), true, B("\0.\0"), -1, false, 2 },
	{ B("x\r"), true, B("x"), -1, false, 0 },       /* CR pending */
};

/* Decode in pieces split at the offsets cuts[0..ncuts-1] (ascending),
 * stopping as soon as the decoder is done.  Returns bytes consumed. */
static size_t
decode_split(bool raw, const char *in, size_t inlen, const size_t *cuts,
    size_t ncuts, char *out, size_t *outlen, struct smtp_data *d)
{
	size_t start = 0, total = 0;

	smtp_data_init(d, raw);
	*outlen = 0;
	for (size_t k = 0; k <= ncuts && !d->done; k++) {
		size_t end = k < ncuts ? cuts[k] : inlen;
		size_t n = end - start, o;
		/* exactly the room the interface promises, so ASan sees any
		 * overrun */
		char *piece = malloc(n ? n : 1), *buf = malloc(2 * n + 2);

		memcpy(piece, in + start, n);
		size_t used = smtp_data_decode(d, piece, n, buf, &o);
		CHECK(used <= n);
		CHECK(o <= 2 * n + 2);
		CHECK(used == n || d->done);
		memcpy(out + *outlen, buf, o);
		*outlen += o;
		total += used;
		free(piece);
		free(buf);
		start = end;
	}
	return total;
}

static bool
same_result(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static void
test_table(void)
{
	for (size_t i = 0; i < N(cases); i++) {
		char out[256];
		size_t outlen, want_used = cases[i].consumed == (size_t)-1 ?
		    cases[i].inlen : cases[i].consumed;
		struct smtp_data d;
		size_t used = decode_split(cases[i].raw, cases[i].in,
		    cases[i].inlen, NULL, 0, out, &outlen, &d);
		bool ok = same_result(out, outlen, cases[i].out, cases[i].outlen) &&
		    used == want_used && d.done == cases[i].done &&
		    d.nuls == cases[i].nuls;

		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  case %zu: outlen %zu/%zu used %zu/%zu "
			    "done %d nuls %zu\n", i, outlen, cases[i].outlen, used,
			    want_used, d.done, d.nuls);
	}
}

/* Every split into two and three pieces, and byte by byte, gives the same
 * output, consumption and counters as one piece. */
static void
check_splits(bool raw, const char *in, size_t inlen)
{
	char one[128], got[128];
	size_t onelen, gotlen, cuts[64];
	struct smtp_data d1, d2;
	size_t used1 = decode_split(raw, in, inlen, NULL, 0, one, &onelen, &d1);

	for (size_t a = 0; a <= inlen; a++)
		for (size_t b = a; b <= inlen; b++) {
			cuts[0] = a;
			cuts[1] = b;
			size_t used = decode_split(raw, in, inlen, cuts, 2, got,
			    &gotlen, &d2);
			bool ok = used == used1 && d2.done == d1.done &&
			    d2.nuls == d1.nuls && same_result(got, gotlen, one, onelen);
			CHECK(ok);
			if (!ok) {
				fprintf(stderr, "  split %zu,%zu of a %zu-byte input\n",
				    a, b, inlen);
				return;
			}
		}
	for (size_t k = 0; k < inlen && k < N(cuts); k++)
		cuts[k] = k + 1;
	size_t used = decode_split(raw, in, inlen, cuts,
	    inlen < N(cuts) ? inlen : N(cuts), got, &gotlen, &d2);
	CHECK(used == used1 && d2.done == d1.done && d2.nuls == d1.nuls &&
	    same_result(got, gotlen, one, onelen));
}

static void
test_splits_table(void)
{
	for (size_t i = 0; i < N(cases); i++)
		check_splits(cases[i].raw, cases[i].in, cases[i].inlen);
}

/* Every input of up to 6 bytes over the interesting alphabet: split
 * invariance plus the policy invariants (no bare LF out; NULs counted). */
static void
test_exhaustive(void)
{
	static const char alpha[] = { '.', '\r', '\n', 'a', '\0' };
	char in[8], out[32];
	int fails = unit_failures;

	for (size_t len = 0; len <= 6; len++) {
		size_t total = 1;
		for (size_t k = 0; k < len; k++)
			total *= N(alpha);
		for (size_t code = 0; code < total; code++) {
			size_t c = code;
			for (size_t k = 0; k < len; k++, c /= N(alpha))
				in[k] = alpha[c % N(alpha)];
			for (int raw = 0; raw <= 1; raw++) {
				struct smtp_data d;
				size_t outlen, nuls = 0;
				size_t used = decode_split(raw, in, len, NULL, 0, out,
				    &outlen, &d);
				for (size_t k = 0; k < used; k++)
					nuls += in[k] == '\0';
				CHECK(d.nuls == nuls);
				CHECK(!raw || (!d.done && used == len));
				for (size_t k = 0; k < outlen; k++)
					if (out[k] == '\n')
						CHECK(k > 0 && out[k - 1] == '\r');
				check_splits(raw, in, len);
				if (unit_failures > fails + 20)
					return;
			}
		}
	}
}

/* A message dot-stuffed by a correct client comes back byte for byte. */
static const char *const messages[] = {
	"",
	"\r\n",
	"Subject: x\r\n\r\nbody\r\n",
	".\r\n",
	"..\r\n.\r\n...\r\n",
	"a\r\n.\r\nb\r\n",
	"line.with.dots\r\n.leading\r\n",
	"\r\n\r\n.\r\n\r\n",
};

static void
test_roundtrip(void)
{
	for (size_t i = 0; i < N(messages); i++) {
		char wire[256], out[600];
		size_t w = 0, outlen;
		const char *m = messages[i];
		struct smtp_data d;

		for (size_t k = 0; m[k]; k++) {
			if (m[k] == '.' && (k == 0 || m[k - 1] == '\n'))
				wire[w++] = '.';
			wire[w++] = m[k];
		}
		memcpy(wire + w, ".\r\n", 3);
		w += 3;
		size_t used = decode_split(false, wire, w, NULL, 0, out, &outlen, &d);
		CHECK(used == w && d.done);
		CHECK(same_result(out, outlen, m, strlen(m)));
		check_splits(false, wire, w);
	}
}

/* smtp_data_finish: the bare CR a raw stream ends with is not lost. */
static void
test_finish(void)
{
	struct smtp_data d;
	char out[16];
	size_t outlen;

	smtp_data_init(&d, true);
	smtp_data_decode(&d, "ab\r", 3, out, &outlen);
	CHECK(outlen == 2 && memcmp(out, "ab", 2) == 0);
	CHECK(smtp_data_finish(&d, out) == 1 && out[0] == '\r');
	CHECK(smtp_data_finish(&d, out) == 0);
	smtp_data_init(&d, true);
	smtp_data_decode(&d, "ab\r\n", 4, out, &outlen);
	CHECK(outlen == 4 && smtp_data_finish(&d, out) == 0);
}

/* strict_end (the mta): only CRLF "." CRLF ends the data; the bare-LF
 * forms that end it above are data here, so a message cannot end where
 * the hop before us did not (SMTP smuggling). */
static const struct {
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
	bool done;
} strict_cases[] = {
	{ B("a\r\n.\r\n"), B("a\r\n"), true },
	{ B(".\r\n"), B(""), true },
	{ B("a\n.\n"), B("a\r\n.\r\n"), false },
	{ B("a\r\n.\n"), B("a\r\n.\r\n"), false },
	{ B("a\n.\r\n"), B("a\r\n.\r\n"), false },
	{ B("a\n..\r\n"), B("a\r\n..\r\n"), false },
	{ B("a\r\n.\nMAIL FROM:<x@y>\r\n"), B("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), false },
	{ B("a\n.\nb\r\n.\r\n"), B("a\r\n.\r\nb\r\n"), true },
	{ B("a\r\n..b\r\n.\r\n"), B("a\r\n.b\r\n"), true },
};

static void
test_strict_end(void)
{
	for (size_t i = 0; i < N(strict_cases); i++) {
		struct smtp_data d;
		char out[256];
		size_t outlen;

		smtp_data_init(&d, false);
		d.strict_end = true;
		smtp_data_decode(&d, strict_cases[i].in, strict_cases[i].inlen, out,
		    &outlen);
		bool ok = d.done == strict_cases[i].done &&
		    outlen == strict_cases[i].outlen &&
		    memcmp(out, strict_cases[i].out, outlen) == 0;
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  strict case %zu\n", i);
	}
}

int
main(void)
{
	UNIT_RUN(test_table);
	UNIT_RUN(test_splits_table);
	UNIT_RUN(test_exhaustive);
	UNIT_RUN(test_roundtrip);
	UNIT_RUN(test_finish);
	UNIT_RUN(test_strict_end);
	return unit_done();
}
