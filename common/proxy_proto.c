/*
 * proxy_proto: PROXY protocol v1 and v2 headers (see proxy_proto.h).
 *
 * The caller hands us whatever has arrived; we answer MORE only while it is
 * a prefix of something that could still be a valid header, so a client
 * that sent no header (or a broken one) is refused as soon as its first
 * bytes show it.  Incomplete v1 fields are checked as prefixes of a valid
 * field; a field is checked in full (inet_pton, port range) once its
 * delimiter has arrived.  One approximation: the 107-byte cap applies to
 * the bytes that have arrived, not to the shortest line they could still
 * become, so a line that can no longer fit may get MORE until byte 107.
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Does s[0..n) look like the start of a valid field?  (n may be 0.) */
typedef bool proxy_prefix_fn(const unsigned char *s, size_t n);

/* Inside the v1 parser PROXY_DONE means "this piece matched, go on". */

/* Match the literal lit at buf[*pos..n), moving *pos past it. */
static enum proxy_result
proxy_lit(const unsigned char *buf, size_t n, size_t *pos, const char *lit)
{
	size_t want = strlen(lit), have = n - *pos;
	size_t k = have < want ? have : want;

	if (memcmp(buf + *pos, lit, k) != 0)
		return PROXY_BAD;
	if (k < want)
		return PROXY_MORE;
	*pos += want;
	return PROXY_DONE;
}

/* The field at buf[*pos..n) ending at delim.  The whole field, complete or
 * not, must pass ok(); once delim has arrived, *field and *flen give the
 * field and *pos moves past the delimiter. */
static enum proxy_result
proxy_field(const unsigned char *buf, size_t n, size_t *pos,
    unsigned char delim, proxy_prefix_fn *ok,
    const unsigned char **field, size_t *flen)
{
	const unsigned char *s = buf + *pos;
	const unsigned char *end = memchr(s, delim, n - *pos);
	size_t k = end != NULL ? (size_t)(end - s) : n - *pos;

	if (!ok(s, k))
		return PROXY_BAD;
	if (end == NULL)
		return PROXY_MORE;
	*field = s;
	*flen = k;
	*pos += k + 1;
	return PROXY_DONE;
}

/* The value of a port prefix, or -1 when s[0..n) is not the start of
 * "0" / [1-9] *DIGIT within 0..65535.  Strict: no sign, no leading zeros. */
static long
proxy_port_scan(const unsigned char *s, size_t n)
{
	long v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || (i > 0 && v == 0))
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > 65535)
			return -1;
	}
	return v;
}

static bool
proxy_port_prefix(const unsigned char *s, size_t n)
{
	return proxy_port_scan(s, n) >= 0;
}

/* Dotted decimal as inet_pton(AF_INET) takes it: four octets 0..255,
 * no leading zeros. */
static bool
proxy_v4_prefix(const unsigned char *s, size_t n)
{
	int dots = 0, digits = 0, v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (digits == 0 || ++dots > 3)
				return false;
			digits = v = 0;
		} else if (s[i] >= '0' && s[i] <= '9') {
			if (digits > 0 && v == 0)
				return false;
			v = v * 10 + (s[i] - '0');
			digits++;
			if (v > 255)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static bool
proxy_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* RFC 4291 section 2.2 text form, as inet_pton(AF_INET6) takes it: at most
 * eight groups of 1-4 hex digits; one "::" standing for at least one zero
 * group; optionally a dotted IPv4 tail worth two groups.  Errs towards
 * true, never false, for the prefix of a valid address. */
static bool
proxy_v6_prefix(const unsigned char *s, size_t n)
{
	size_t groups = 0, digits = 0, tok = 0;
	bool dbl = false;

	if (n >= 2 && s[0] == ':' && s[1] != ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			/* The token under way is the first octet of an IPv4 tail,
			 * which ends the address. */
			if (digits == 0 || (dbl ? groups + 2 > 7 : groups + 2 != 8))
				return false;
			return proxy_v4_prefix(s + tok, n - tok);
		}
		if (s[i] == ':') {
			if (digits > 0)
				groups++;
			else if (i > 0 && dbl)
				return false;       /* a second "::", or ":::" */
			else if (i > 0)
				dbl = true;
			digits = 0;
			tok = i + 1;
		} else if (!proxy_hex(s[i]) || ++digits > 4) {
			return false;
		}
	}
	size_t max = dbl ? 7 : 8;
	if (n >= 2 && digits == 0 && s[n - 2] != ':')
		return groups + 1 <= max;   /* "x:" needs one more group */
	return groups + (digits > 0) <= max;
}

/* v1 UNKNOWN carries anything but a line end before its CRLF. */
static bool
proxy_no_lf(const unsigned char *s, size_t n)
{
	return memchr(s, '\n', n) == NULL;
}

/*
 * v1, from the specification; the whole line is at most 107 bytes:
 *   line    = "PROXY" SP ( tcp / unknown ) CRLF
 *   tcp     = ( "TCP4" / "TCP6" ) SP srcaddr SP dstaddr SP srcport SP dstport
 *   unknown = "UNKNOWN" [ SP *( any byte but CR and LF ) ]
 */
static const struct proxy_v1_proto {
	const char *word;           /* with the SP after it, where one must follow */
	int af;                     /* AF_UNSPEC: UNKNOWN */
	proxy_prefix_fn *addr_ok;
} proxy_v1_protos[] = {
	{ "TCP4 ", AF_INET, proxy_v4_prefix },
	{ "TCP6 ", AF_INET6, proxy_v6_prefix },
	{ "UNKNOWN", AF_UNSPEC, NULL },
};

static enum proxy_result
proxy_v1_addr(const unsigned char *buf, size_t n, size_t *pos,
    const struct proxy_v1_proto *proto, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	const unsigned char *s;
	char text[INET6_ADDRSTRLEN];
	size_t k;
	enum proxy_result r;
	void *addr;

	r = proxy_field(buf, n, pos, ' ', proto->addr_ok, &s, &k);
	if (r != PROXY_DONE)
		return r;
	if (k >= sizeof(text))
		return PROXY_BAD;
	memcpy(text, s, k);
	text[k] = '\0';
	ss->ss_family = (sa_family_t)proto->af;
	if (proto->af == AF_INET) {
		addr = &((struct sockaddr_in *)ss)->sin_addr;
		*sslen = sizeof(struct sockaddr_in);
	} else {
		addr = &((struct sockaddr_in6 *)ss)->sin6_addr;
		*sslen = sizeof(struct sockaddr_in6);
	}
	return inet_pton(proto->af, text, addr) == 1 ? PROXY_DONE : PROXY_BAD;
}

static enum proxy_result
proxy_v1_port(const unsigned char *buf, size_t n, size_t *pos,
    unsigned char delim, struct sockaddr_storage *ss)
{
	const unsigned char *s;
	size_t k;
	enum proxy_result r;

	r = proxy_field(buf, n, pos, delim, proxy_port_prefix, &s, &k);
	if (r != PROXY_DONE)
		return r;
	if (k == 0)
		return PROXY_BAD;
	in_port_t port = htons((in_port_t)proxy_port_scan(s, k));
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port;
	return PROXY_DONE;
}

static enum proxy_result
proxy_v1_unknown(const unsigned char *buf, size_t n, size_t *pos,
    struct proxy_info *out)
{
	const unsigned char *s;
	size_t k;
	enum proxy_result r;

	if (*pos == n)
		return PROXY_MORE;
	if (buf[*pos] == ' ') {
		++*pos;
		r = proxy_field(buf, n, pos, '\r', proxy_no_lf, &s, &k);
	} else {
		r = proxy_lit(buf, n, pos, "\r");
	}
	if (r == PROXY_DONE)
		r = proxy_lit(buf, n, pos, "\n");
	out->local = true;
	return r;
}

static enum proxy_result
proxy_v1_line(const unsigned char *buf, size_t n, size_t *pos,
    struct proxy_info *out)
{
	const struct proxy_v1_proto *proto = NULL;
	enum proxy_result r = proxy_lit(buf, n, pos, "PROXY ");

	if (r != PROXY_DONE)
		return r;
	for (size_t i = 0; i < sizeof(proxy_v1_protos) / sizeof(proxy_v1_protos[0]) &&
	    proto == NULL; i++) {
		r = proxy_lit(buf, n, pos, proxy_v1_protos[i].word);
		if (r == PROXY_MORE)
			return r;
		if (r == PROXY_DONE)
			proto = &proxy_v1_protos[i];
	}
	if (proto == NULL)
		return PROXY_BAD;
	if (proto->af == AF_UNSPEC)
		return proxy_v1_unknown(buf, n, pos, out);
	if ((r = proxy_v1_addr(buf, n, pos, proto, &out->src, &out->srclen)) != PROXY_DONE ||
	    (r = proxy_v1_addr(buf, n, pos, proto, &out->dst, &out->dstlen)) != PROXY_DONE ||
	    (r = proxy_v1_port(buf, n, pos, ' ', &out->src)) != PROXY_DONE ||
	    (r = proxy_v1_port(buf, n, pos, '\r', &out->dst)) != PROXY_DONE)
		return r;
	return proxy_lit(buf, n, pos, "\n");
}

static enum proxy_result
proxy_v1(const unsigned char *buf, size_t len, struct proxy_info *out,
    size_t *used)
{
	size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX, pos = 0;
	enum proxy_result r = proxy_v1_line(buf, n, &pos, out);

	/* No CRLF within the first PROXY_V1_MAX bytes: too long. */
	if (r == PROXY_MORE && len >= PROXY_V1_MAX)
		return PROXY_BAD;
	if (r == PROXY_DONE)
		*used = pos;
	return r;
}

/*
 * v2, from the specification: a 16-byte fixed part, then len bytes
 *   sig[12]  0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
 *   ver_cmd  version (2) << 4 | command (0 LOCAL, 1 PROXY)
 *   fam      family << 4 | transport (1 STREAM, 2 DGRAM)
 *   len      16 bits, big-endian: the address block, then TLVs (skipped)
 * address block: source address, destination address, source port,
 * destination port, all in network byte order.
 */
#define PROXY_V2_FIXED 16
#define PROXY_V2_LOCAL 0x0
#define PROXY_V2_PROXY 0x1

static const unsigned char proxy_v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

/* The families we take with the PROXY command.  UDP and AF_UNIX are left
 * out on purpose: our listeners are TCP, and a balancer that claims
 * otherwise is misconfigured; keeping its own address instead would pin
 * every client's limits and logs on the balancer. */
static const struct proxy_v2_family {
	unsigned char fam;
	int af;                     /* AF_UNSPEC: keep the socket's addresses */
	size_t addrlen;             /* one address */
	size_t block;               /* the least address block */
} proxy_v2_families[] = {
	{ 0x00, AF_UNSPEC, 0, 0 },
	{ 0x11, AF_INET, 4, 12 },
	{ 0x21, AF_INET6, 16, 36 },
};

static const struct proxy_v2_family *
proxy_v2_family(unsigned char fam)
{
	for (size_t i = 0; i < sizeof(proxy_v2_families) / sizeof(proxy_v2_families[0]); i++)
		if (proxy_v2_families[i].fam == fam)
			return &proxy_v2_families[i];
	return NULL;
}

/* Fill ss from an address and a port, both in network byte order. */
static void
proxy_v2_addr(const struct proxy_v2_family *f, const unsigned char *addr,
    const unsigned char *port, struct sockaddr_storage *ss, socklen_t *sslen)
{
	ss->ss_family = (sa_family_t)f->af;
	if (f->af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		memcpy(&sin->sin_addr, addr, f->addrlen);
		memcpy(&sin->sin_port, port, 2);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		memcpy(&sin6->sin6_addr, addr, f->addrlen);
		memcpy(&sin6->sin6_port, port, 2);
		*sslen = sizeof(*sin6);
	}
}

static enum proxy_result
proxy_v2(const unsigned char *buf, size_t len, struct proxy_info *out,
    size_t *used)
{
	const struct proxy_v2_family *f = NULL;
	size_t k = len < sizeof(proxy_v2_sig) ? len : sizeof(proxy_v2_sig);

	if (memcmp(buf, proxy_v2_sig, k) != 0)
		return PROXY_BAD;
	if (len < 13)
		return PROXY_MORE;
	unsigned cmd = buf[12] & 0x0f;
	if (buf[12] >> 4 != 2 || (cmd != PROXY_V2_LOCAL && cmd != PROXY_V2_PROXY))
		return PROXY_BAD;
	if (len < 14)
		return PROXY_MORE;
	/* LOCAL (a balancer's health check) ignores the family byte. */
	if (cmd == PROXY_V2_PROXY && (f = proxy_v2_family(buf[13])) == NULL)
		return PROXY_BAD;
	if (len < PROXY_V2_FIXED)
		return PROXY_MORE;
	size_t blen = (size_t)buf[14] << 8 | buf[15];
	if (PROXY_V2_FIXED + blen > PROXY_V2_MAX || (f != NULL && blen < f->block))
		return PROXY_BAD;
	if (len < PROXY_V2_FIXED + blen)
		return PROXY_MORE;
	if (f == NULL || f->af == AF_UNSPEC) {
		out->local = true;
	} else {
		const unsigned char *a = buf + PROXY_V2_FIXED;
		proxy_v2_addr(f, a, a + 2 * f->addrlen, &out->src, &out->srclen);
		proxy_v2_addr(f, a + f->addrlen, a + 2 * f->addrlen + 2, &out->dst,
		    &out->dstlen);
	}
	*used = PROXY_V2_FIXED + blen;
	return PROXY_DONE;
}

enum proxy_result
proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *info,
    size_t *used)
{
	struct proxy_info out;
	enum proxy_result r;

	if (len == 0)
		return PROXY_MORE;
	memset(&out, 0, sizeof(out));
	if (buf[0] == 'P')
		r = proxy_v1(buf, len, &out, used);
	else if (buf[0] == proxy_v2_sig[0])
		r = proxy_v2(buf, len, &out, used);
	else
		r = PROXY_BAD;
	if (r == PROXY_DONE)
		*info = out;
	return r;
}
