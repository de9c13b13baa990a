/*
 * proxy_proto: the HAProxy PROXY protocol, version 1 (a text line) and
 * version 2 (binary), as sent by a load balancer in front of mmp (and later
 * the HTTP proxy) to tell us the client's real addresses.
 *
 * A pure parser over the caller's buffer: it owns nothing, never allocates
 * and never reads beyond len.  The caller reads until the result is not
 * PROXY_MORE (at most PROXY_V2_MAX bytes), drains *used bytes on PROXY_DONE
 * and closes the connection on PROXY_BAD; a peer can cause PROXY_BAD, never
 * anything worse.  Whether to expect a header at all (only from configured
 * balancer addresses) is the caller's decision.
 *
 * Choices where the specification leaves room (details in proxy_proto.c):
 *  - v1 ports are strict: decimal digits only, 0..65535, no leading zeros
 *    ("0" itself is fine, "080" is not).
 *  - v2 with the PROXY command accepts only the families UNSPEC (local),
 *    TCP over IPv4 and TCP over IPv6; UDP, AF_UNIX and unknown families are
 *    PROXY_BAD.  With the LOCAL command the family byte is ignored.
 */
#ifndef COMMON_PROXY_PROTO_H
#define COMMON_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107        /* the longest v1 line, CRLF included */
#define PROXY_V2_MAX 1024       /* we refuse v2 headers longer than this (address block + TLVs) */

enum proxy_result {
	PROXY_MORE,     /* a valid prefix so far: read more bytes and call again */
	PROXY_DONE,     /* a complete header: *used bytes to drain, *info filled */
	PROXY_BAD,      /* not a PROXY header, or a malformed one, or too long */
};

struct proxy_info {
	bool local;     /* v2 LOCAL, or v1 UNKNOWN, or v2 family UNSPEC: keep the socket's own addresses */
	struct sockaddr_storage src, dst;   /* when !local: AF_INET or AF_INET6 with ports */
	socklen_t srclen, dstlen;
};

/* Parse the PROXY header at the start of buf[0..len).  *info and *used are
 * written only when the result is PROXY_DONE; when local is true, src and
 * dst are zeroed and srclen and dstlen are 0. */
enum proxy_result proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *info, size_t *used);

#endif
