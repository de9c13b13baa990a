/* test_proxy_proto: PROXY protocol v1 and v2 headers: valid ones with their
 * addresses and ports, every prefix of them (MORE, and nothing written),
 * malformed and over-long ones (BAD as early as possible), and the bytes
 * after a header left alone.  Every parse runs on an exactly sized heap
 * copy, so valgrind sees any read beyond len. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "proxy_proto.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL ((size_t)0xdeadbeef)

static const char after[] = "a001 LOGIN user secret\r\n";

/* Parse a copy of data[0..len) sized exactly; on anything but DONE, check
 * that neither *info nor *used was written. */
static enum proxy_result
parse(const void *data, size_t len, struct proxy_info *info, size_t *used)
{
	unsigned char *copy = malloc(len ? len : 1);
	struct proxy_info before;
	enum proxy_result r;

	memcpy(copy, data, len);
	memset(info, 0xa5, sizeof(*info));
	before = *info;
	*used = SENTINEL;
	r = proxy_parse(copy, len, info, used);
	free(copy);
	if (r != PROXY_DONE)
		CHECK(*used == SENTINEL && memcmp(info, &before, sizeof(before)) == 0);
	return r;
}

/* Is ss the address text (of family af) with port? */
static int
addr_is(const struct sockaddr_storage *ss, socklen_t sslen, int af,
    const char *text, unsigned port)
{
	unsigned char want[16];

	if (ss->ss_family != af || inet_pton(af, text, want) != 1)
		return 0;
	if (af == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		return sslen == sizeof(*sin) && ntohs(sin->sin_port) == port &&
		    memcmp(&sin->sin_addr, want, 4) == 0;
	}
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	return sslen == sizeof(*sin6) && ntohs(sin6->sin6_port) == port &&
	    memcmp(&sin6->sin6_addr, want, 16) == 0 && sin6->sin6_scope_id == 0;
}

static int
is_local(const struct proxy_info *info)
{
	static const struct sockaddr_storage zero;

	return info->local && info->srclen == 0 && info->dstlen == 0 &&
	    memcmp(&info->src, &zero, sizeof(zero)) == 0 &&
	    memcmp(&info->dst, &zero, sizeof(zero)) == 0;
}

#define FF "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static const struct v1_good {
	const char *line;
	int af;                 /* AF_UNSPEC: local */
	const char *src, *dst;
	unsigned sport, dport;
} v1_good[] = {
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r\n", AF_INET,
	    "192.0.2.1", "198.51.100.2", 56324, 143 },
	{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", AF_INET,
	    "255.255.255.255", "255.255.255.255", 65535, 65535 },
	{ "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", AF_INET,
	    "0.0.0.0", "10.0.0.1", 0, 0 },
	{ "PROXY TCP6 2001:db8::1 2001:db8::2 40000 993\r\n", AF_INET6,
	    "2001:db8::1", "2001:db8::2", 40000, 993 },
	{ "PROXY TCP6 " FF " " FF " 65535 65535\r\n", AF_INET6, FF, FF,
	    65535, 65535 },
	{ "PROXY TCP6 ::ffff:192.0.2.7 ::1 1 110\r\n", AF_INET6,
	    "::ffff:192.0.2.7", "::1", 1, 110 },
	{ "PROXY TCP6 1:2:3:4:5:6:7:: ::2:3:4:5:6:7:8 9 10\r\n", AF_INET6,
	    "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", 9, 10 },
	{ "PROXY TCP6 1:2:3:4:5:6:1.2.3.4 FE80::ABCD:0001 995 110\r\n", AF_INET6,
	    "1:2:3:4:5:6:1.2.3.4", "fe80::abcd:1", 995, 110 },
	{ "PROXY UNKNOWN\r\n", AF_UNSPEC, NULL, NULL, 0, 0 },
	{ "PROXY UNKNOWN whatever \x01\xff follows\r\n", AF_UNSPEC, NULL, NULL,
	    0, 0 },
	/* the longest line the specification allows: 107 bytes */
	{ "PROXY UNKNOWN " FF " " FF " 65535 65535\r\n", AF_UNSPEC, NULL, NULL,
	    0, 0 },
};

static void
check_v1_good(const struct v1_good *g, const struct proxy_info *info)
{
	if (g->af == AF_UNSPEC) {
		CHECK(is_local(info));
		return;
	}
	CHECK(!info->local);
	CHECK(addr_is(&info->src, info->srclen, g->af, g->src, g->sport));
	CHECK(addr_is(&info->dst, info->dstlen, g->af, g->dst, g->dport));
}

static void
test_v1_good(void)
{
	struct proxy_info info;
	char buf[256];
	size_t used;

	CHECK(strlen(v1_good[N(v1_good) - 1].line) == PROXY_V1_MAX);
	for (size_t i = 0; i < N(v1_good); i++) {
		const struct v1_good *g = &v1_good[i];
		size_t n = strlen(g->line);

		CHECK(parse(g->line, n, &info, &used) == PROXY_DONE);
		CHECK(used == n);
		check_v1_good(g, &info);
		/* what the client sends next stays in the buffer */
		snprintf(buf, sizeof(buf), "%s%s", g->line, after);
		CHECK(parse(buf, strlen(buf), &info, &used) == PROXY_DONE);
		CHECK(used == n);
		check_v1_good(g, &info);
	}
}

/* Every proper prefix of a valid line can still become it. */
static void
test_v1_split(void)
{
	struct proxy_info info;
	size_t used;

	for (size_t i = 0; i < N(v1_good); i++) {
		size_t n = strlen(v1_good[i].line);
		for (size_t k = 0; k < n; k++)
			CHECK(parse(v1_good[i].line, k, &info, &used) == PROXY_MORE);
	}
}

static const char *const v1_more[] = {
	"P", "PRO", "PROXY", "PROXY ", "PROXY T", "PROXY TCP", "PROXY U",
	"PROXY TCP4 1.2.3.4", "PROXY TCP4 1.2.3.", "PROXY TCP4 1.2.3.4 5",
	"PROXY TCP4 1.2.3.4 5.6.7.8 65535 6553", "PROXY TCP4 1.2.3.4 5.6.7.8 1 0",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "PROXY UNKNOWN", "PROXY UNKNOWN ",
	"PROXY UNKNOWN x\r", "PROXY TCP6 :", "PROXY TCP6 ::", "PROXY TCP6 2001:db8:",
	"PROXY TCP6 ::ffff:1.2", "PROXY TCP6 ::ffff:1.2.3.", "PROXY TCP6 1:2:3:4:5:6:7:",
	"PROXY TCP6 1::2:3:4:5:6:7", "PROXY TCP6 1:2:3:4:5:6:1",
	"PROXY TCP6 1:2:3:4:5:6:7:8",
};

static void
test_v1_more(void)
{
	struct proxy_info info;
	size_t used;

	for (size_t i = 0; i < N(v1_more); i++) {
		int ok = parse(v1_more[i], strlen(v1_more[i]), &info, &used) ==
		    PROXY_MORE;
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  more: \"%s\"\n", v1_more[i]);
	}
}

/* BAD, whether or not the line's end has arrived. */
static const char *const v1_bad[] = {
	/* not a PROXY header at all */
	"G", "GET / HTTP/1.0\r\n", "a001 LOGIN user secret\r\n", "proxy ",
	"PROXY\r\n", "PROXYTCP4", "PROXY\t", "PROXY tcp4 ", "PROXY TCP5 ",
	"PROXY UNKNOWNX\r\n", "PROXY UNKNOWN\n", "PROXY UNKNOWN\rX",
	"PROXY UNKNOWN x\ny\r\n", "PROXY UNKNOWN x\n",
	/* spacing */
	"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
	"PROXY TCP4\r\n",
	/* addresses */
	"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
	"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
	"PROXY TCP4 ::1 ::1 1 2\r\n",
	"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
	"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
	"PROXY TCP6 1::2::3 ::1 1 2\r\n",
	"PROXY TCP6 ::1%eth0 ::1 1 2\r\n",
	"PROXY TCP6 [::1] ::1 1 2\r\n",
	"PROXY TCP6 12345::1 ::1 1 2\r\n",
	"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
	"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
	"PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n",
	"PROXY TCP6 :1::2 ::1 1 2\r\n",
	"PROXY TCP6 1::2: ::1 1 2\r\n",
	"PROXY TCP6 ::1.2.3.256 ::1 1 2\r\n",
	"PROXY TCP6 ::01.2.3.4 ::1 1 2\r\n",
	"PROXY TCP6 1:2:3:4:5:1.2.3.4 ::1 1 2\r\n",
	"PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n",
	"PROXY TCP6 ::1.2.3.4:5 ::1 1 2\r\n",
	"PROXY TCP6 g::1 ::1 1 2\r\n",
	/* ports */
	"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 -1\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
	/* line ends */
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
	"PROXY TCP4 1.2.3.4\n",
	"PROXY\n",
	/* refused before the field ends: no completion can be valid */
	"PROXY TCP4 256", "PROXY TCP4 1.2.3.4.", "PROXY TCP4 1.2.3.04",
	"PROXY TCP4 1.2.3.4 5.6.7.8 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 01",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 -", "PROXY TCP6 :1", "PROXY TCP6 :::",
	"PROXY TCP6 1::2::", "PROXY TCP6 12345", "PROXY TCP6 1:2:3:4:5:6:7:8:",
	"PROXY TCP6 1:2:3:4:5:6:7:8:9", "PROXY TCP6 1.2", "PROXY TCP6 ::1.256",
	"PROXY TCP6 1::2:3:4:5:6:7:", "PROXY TCP6 1::2:3:4:5:6:7:8",
	"PROXY TCP6 ::a.1", "PROXY TCP6 ::1.2.3.4:", "PROXY TCP6 ::1.2.3.4.",
	"PROXY UNKNOWN x\n",
};

static void
test_v1_bad(void)
{
	static const char nul[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
	struct proxy_info info;
	size_t used;

	for (size_t i = 0; i < N(v1_bad); i++) {
		int ok = parse(v1_bad[i], strlen(v1_bad[i]), &info, &used) ==
		    PROXY_BAD;
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  bad: \"%s\"\n", v1_bad[i]);
	}
	CHECK(parse(nul, sizeof(nul) - 1, &info, &used) == PROXY_BAD);
}

/* No CRLF within PROXY_V1_MAX bytes: BAD, however the bytes arrive. */
static void
test_v1_long(void)
{
	char line[300];
	struct proxy_info info;
	size_t used;

	/* "PROXY UNKNOWN " and m bytes, then CRLF: 16 + m bytes */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 14 + 91, "\r\n", 2);
	CHECK(parse(line, 107, &info, &used) == PROXY_DONE && used == 107);

	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 14 + 92, "\r\n", 2);
	CHECK(parse(line, 106, &info, &used) == PROXY_MORE);
	CHECK(parse(line, 107, &info, &used) == PROXY_BAD);
	CHECK(parse(line, 108, &info, &used) == PROXY_BAD);
	CHECK(parse(line, sizeof(line), &info, &used) == PROXY_BAD);

	/* the CR is byte 107: its LF would be byte 108 */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 106, "\r\n", 2);
	CHECK(parse(line, 107, &info, &used) == PROXY_BAD);
	CHECK(parse(line, 108, &info, &used) == PROXY_BAD);
}

/* --- v2 --- */

static const unsigned char sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

/* Build a v2 header of (ver_cmd, fam) declaring length len, followed by
 * body[0..blen); returns its size. */
static size_t
v2_build(unsigned char *out, unsigned ver_cmd, unsigned fam, size_t len,
    const unsigned char *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(len >> 8);
	out[15] = (unsigned char)len;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* 192.0.2.1:56324 -> 198.51.100.2:143 */
static const unsigned char block4[12] = {
	192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x00, 0x8f,
};
/* [2001:db8::1]:40000 -> [2001:db8::2]:993 */
static const unsigned char block6[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	0x9c, 0x40, 0x03, 0xe1,
};
/* An ALPN TLV and a NOOP TLV; skipped, not read. */
static const unsigned char tlvs[] = {
	0x01, 0x00, 0x04, 'i', 'm', 'a', 'p', 0x04, 0x00, 0x02, 0x00, 0x00,
};

static const struct v2_good {
	const char *name;
	unsigned ver_cmd, fam;
	int af;                 /* AF_UNSPEC: local */
	bool with_tlvs;
	size_t pad;             /* extra zero bytes, for LOCAL and UNSPEC */
} v2_good[] = {
	{ "proxy ipv4", 0x21, 0x11, AF_INET, false, 0 },
	{ "proxy ipv4 tlvs", 0x21, 0x11, AF_INET, true, 0 },
	{ "proxy ipv6", 0x21, 0x21, AF_INET6, false, 0 },
	{ "proxy ipv6 tlvs", 0x21, 0x21, AF_INET6, true, 0 },
	{ "proxy unspec", 0x21, 0x00, AF_UNSPEC, false, 0 },
	{ "proxy unspec with bytes", 0x21, 0x00, AF_UNSPEC, false, 20 },
	{ "local", 0x20, 0x00, AF_UNSPEC, false, 0 },
	{ "local ipv4", 0x20, 0x11, AF_UNSPEC, false, 12 },
	{ "local ipv6 tlvs", 0x20, 0x21, AF_UNSPEC, true, 36 },
	{ "local unix", 0x20, 0x31, AF_UNSPEC, false, 216 },
	{ "local udp", 0x20, 0x12, AF_UNSPEC, false, 12 },
	{ "local unknown family", 0x20, 0xff, AF_UNSPEC, false, 0 },
};

/* The header for g in out; *hlen is its size. */
static void
v2_good_header(const struct v2_good *g, unsigned char *out, size_t *hlen)
{
	unsigned char body[600];
	size_t blen = 0;

	memset(body, 0, sizeof(body));
	if (g->af == AF_INET) {
		memcpy(body, block4, sizeof(block4));
		blen = sizeof(block4);
	} else if (g->af == AF_INET6) {
		memcpy(body, block6, sizeof(block6));
		blen = sizeof(block6);
	}
	blen += g->pad;
	if (g->with_tlvs) {
		memcpy(body + blen, tlvs, sizeof(tlvs));
		blen += sizeof(tlvs);
	}
	*hlen = v2_build(out, g->ver_cmd, g->fam, blen, body, blen);
}

static void
check_v2_good(const struct v2_good *g, const struct proxy_info *info)
{
	if (g->af == AF_UNSPEC) {
		CHECK(is_local(info));
	} else if (g->af == AF_INET) {
		CHECK(!info->local);
		CHECK(addr_is(&info->src, info->srclen, AF_INET, "192.0.2.1", 56324));
		CHECK(addr_is(&info->dst, info->dstlen, AF_INET, "198.51.100.2", 143));
	} else {
		CHECK(!info->local);
		CHECK(addr_is(&info->src, info->srclen, AF_INET6, "2001:db8::1", 40000));
		CHECK(addr_is(&info->dst, info->dstlen, AF_INET6, "2001:db8::2", 993));
	}
}

static void
test_v2_good(void)
{
	unsigned char buf[1200];
	struct proxy_info info;
	size_t hlen, used;

	for (size_t i = 0; i < N(v2_good); i++) {
		const struct v2_good *g = &v2_good[i];
		int before = unit_failures;

		v2_good_header(g, buf, &hlen);
		CHECK(parse(buf, hlen, &info, &used) == PROXY_DONE);
		CHECK(used == hlen);
		check_v2_good(g, &info);
		memcpy(buf + hlen, after, strlen(after));
		CHECK(parse(buf, hlen + strlen(after), &info, &used) == PROXY_DONE);
		CHECK(used == hlen);
		check_v2_good(g, &info);
		if (unit_failures != before)
			fprintf(stderr, "  v2 good: %s\n", g->name);
	}
}

static void
test_v2_split(void)
{
	unsigned char buf[1200];
	struct proxy_info info;
	size_t hlen, used;

	for (size_t i = 0; i < N(v2_good); i++) {
		v2_good_header(&v2_good[i], buf, &hlen);
		for (size_t k = 0; k < hlen; k++)
			CHECK(parse(buf, k, &info, &used) == PROXY_MORE);
	}
}

/* The longest header we take, and one byte more. */
static void
test_v2_long(void)
{
	static unsigned char buf[PROXY_V2_MAX + 64];
	struct proxy_info info;
	size_t hlen, used;

	memset(buf, 0, sizeof(buf));
	memcpy(buf + 16, block4, sizeof(block4));
	hlen = v2_build(buf, 0x21, 0x11, PROXY_V2_MAX - 16, NULL, 0) +
	    (PROXY_V2_MAX - 16);
	CHECK(hlen == PROXY_V2_MAX);
	CHECK(parse(buf, hlen - 1, &info, &used) == PROXY_MORE);
	CHECK(parse(buf, hlen, &info, &used) == PROXY_DONE && used == hlen);
	CHECK(addr_is(&info.src, info.srclen, AF_INET, "192.0.2.1", 56324));

	/* refused as soon as the length is known */
	v2_build(buf, 0x21, 0x11, PROXY_V2_MAX - 15, NULL, 0);
	CHECK(parse(buf, 16, &info, &used) == PROXY_BAD);
	CHECK(parse(buf, sizeof(buf), &info, &used) == PROXY_BAD);
	v2_build(buf, 0x20, 0x00, 0xffff, NULL, 0);
	CHECK(parse(buf, 16, &info, &used) == PROXY_BAD);
}

static const struct v2_bad {
	const char *name;
	unsigned ver_cmd, fam;
	size_t len;             /* declared */
	size_t have;            /* bytes after the fixed part that arrive */
} v2_bad[] = {
	{ "version 1", 0x11, 0x11, 12, 12 },
	{ "version 0", 0x01, 0x11, 12, 12 },
	{ "version 3", 0x31, 0x11, 12, 12 },
	{ "version f", 0xf1, 0x11, 12, 12 },
	{ "command 2", 0x22, 0x11, 12, 12 },
	{ "command f", 0x2f, 0x11, 12, 12 },
	{ "udp4", 0x21, 0x12, 12, 12 },
	{ "udp6", 0x21, 0x22, 36, 36 },
	{ "unix stream", 0x21, 0x31, 216, 216 },
	{ "unix dgram", 0x21, 0x32, 216, 216 },
	{ "inet unspec transport", 0x21, 0x10, 12, 12 },
	{ "unspec stream", 0x21, 0x01, 0, 0 },
	{ "family 4", 0x21, 0x41, 12, 12 },
	{ "short ipv4 block", 0x21, 0x11, 11, 11 },
	{ "short ipv4 block, early", 0x21, 0x11, 11, 0 },
	{ "empty ipv4 block", 0x21, 0x11, 0, 0 },
	{ "short ipv6 block", 0x21, 0x21, 35, 35 },
	{ "ipv4-sized ipv6 block", 0x21, 0x21, 12, 12 },
	{ "short ipv6 block, early", 0x21, 0x21, 35, 0 },
};

static void
test_v2_bad(void)
{
	unsigned char body[300], buf[400];
	struct proxy_info info;
	size_t used;

	memset(body, 0, sizeof(body));
	for (size_t i = 0; i < N(v2_bad); i++) {
		const struct v2_bad *b = &v2_bad[i];
		size_t n = v2_build(buf, b->ver_cmd, b->fam, b->len, body, b->have);
		int ok = parse(buf, n, &info, &used) == PROXY_BAD;

		CHECK(ok);
		/* known bad from the byte that makes it so */
		if (b->ver_cmd >> 4 != 2 || (b->ver_cmd & 0xf) > 1)
			ok &= parse(buf, 13, &info, &used) == PROXY_BAD;
		else if (b->fam != 0x11 && b->fam != 0x21)
			ok &= parse(buf, 14, &info, &used) == PROXY_BAD;
		else
			ok &= parse(buf, 16, &info, &used) == PROXY_BAD;
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  v2 bad: %s\n", b->name);
	}
}

/* Signature prefixes wait; a wrong byte anywhere in it is refused. */
static void
test_v2_signature(void)
{
	unsigned char buf[16];
	struct proxy_info info;
	size_t used;

	for (size_t k = 1; k <= 12; k++)
		CHECK(parse(sig, k, &info, &used) == PROXY_MORE);
	for (size_t k = 0; k < 12; k++) {
		memcpy(buf, sig, 12);
		buf[k] ^= 0x20;
		CHECK(parse(buf, k + 1, &info, &used) == PROXY_BAD);
		CHECK(parse(buf, 12, &info, &used) == PROXY_BAD);
	}
	CHECK(parse("\r\nGET", 5, &info, &used) == PROXY_BAD);
	CHECK(parse("\r\n\r\n", 4, &info, &used) == PROXY_MORE);
	CHECK(parse("\r\n\r\n\r\n", 6, &info, &used) == PROXY_BAD);
	CHECK(parse("", 0, &info, &used) == PROXY_MORE);
	CHECK(parse("\0", 1, &info, &used) == PROXY_BAD);
}

/* Structured random IPv6 texts: whatever inet_pton takes must parse in a
 * v1 line however it is split, and whatever it refuses must be refused. */
static void
test_v6_random(void)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	char addr[128], line[256];
	struct proxy_info info;
	size_t used, valid = 0;
	unsigned char bin[16];

	srand(4242);
	for (int iter = 0; iter < 20000; iter++) {
		int groups = rand() % 10, dbl = rand() % 3 == 0 ? rand() % (groups + 1) : -1;
		int tail = rand() % 4 == 0;
		char *p = addr;

		for (int g = 0; g < groups; g++) {
			if (g == dbl)
				p += sprintf(p, g == 0 ? "::" : ":");
			else if (g > 0)
				*p++ = ':';
			for (int d = rand() % 5 + (rand() % 8 == 0); d > 0; d--)
				*p++ = hex[rand() % (int)(sizeof(hex) - 1)];
		}
		if (dbl == groups)
			p += sprintf(p, "::");
		if (tail)
			p += sprintf(p, "%s%d.%d.%d.%d", groups > 0 && dbl != groups ? ":" : "",
			    rand() % 300, rand() % 256, rand() % 256, rand() % 256);
		*p = '\0';

		int n = snprintf(line, sizeof(line), "PROXY TCP6 %s ::1 1 2\r\n", addr);
		int ok = inet_pton(AF_INET6, addr, bin) == 1;
		enum proxy_result want = ok ? PROXY_DONE : PROXY_BAD;
		int good = parse(line, (size_t)n, &info, &used) == want;

		for (size_t k = 11; ok && good && k < 11 + strlen(addr); k++)
			good = parse(line, k, &info, &used) == PROXY_MORE;
		CHECK(good);
		if (!good)
			fprintf(stderr, "  v6: \"%s\" (inet_pton %d)\n", addr, ok);
		valid += ok;
	}
	CHECK(valid > 1000);
}

int
main(void)
{
	UNIT_RUN(test_v1_good);
	UNIT_RUN(test_v1_split);
	UNIT_RUN(test_v1_more);
	UNIT_RUN(test_v1_bad);
	UNIT_RUN(test_v1_long);
	UNIT_RUN(test_v2_good);
	UNIT_RUN(test_v2_split);
	UNIT_RUN(test_v2_long);
	UNIT_RUN(test_v2_bad);
	UNIT_RUN(test_v2_signature);
	UNIT_RUN(test_v6_random);
	return unit_done();
}
