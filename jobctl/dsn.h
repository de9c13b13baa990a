/*
 * dsn: the job controller's delivery status notifications (RFC 3464
 * message/delivery-status inside an RFC 6522 multipart/report), and the
 * RFC 3461 rules for whom to send them to.
 *
 * dsn_build() is pure: it reads the report described by the caller (who
 * owns every string) and returns the whole message in one malloc'd buffer;
 * it never fails (xmalloc) and does no I/O.  Everything a peer supplied
 * (addresses, remote replies, ENVID, ORCPT) is cleaned before it reaches a
 * header field: control characters become spaces, invalid UTF-8 becomes
 * '?', valid UTF-8 is kept raw.  Caps: a diagnostic is cut at
 * DSN_DIAG_MAX octets, the human text lists DSN_TEXT_RCPTS_MAX recipients
 * ("and N more"; the delivery-status part lists all), header lines are
 * folded at white space past 78 columns and never reach 998 octets (a
 * token with no white space that would is split with CRLF SP), text lines
 * stay under 78 columns.
 */
#ifndef JOBCTL_DSN_H
#define JOBCTL_DSN_H

#include <stdbool.h>
#include <stddef.h>

#define DSN_DIAG_MAX        900     /* octets of a remote reply kept */
#define DSN_TEXT_RCPTS_MAX  100     /* recipients named in the human text */

enum dsn_action {
	DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED
};

struct dsn_rcpt {
	const char *final;          /* address delivery was tried to */
	const char *original;       /* as the client gave it, or NULL */
	const char *orcpt;          /* "rfc822;a@b" (ORCPT), or NULL */
	enum dsn_action action;
	const char *status;         /* "5.1.1"; NULL (or malformed): derived
	                             * from the reply text's leading x.y.z when
	                             * its class agrees with code, else from
	                             * code (5xx 5.0.0, 4xx 4.0.0, 2xx 2.0.0),
	                             * else from action */
	int code;                   /* remote reply code, 0 when none */
	const char *diagnostic;     /* "550 5.1.1 No such user", or NULL; with
	                             * code 0 it is our own reason and is typed
	                             * x-mailsuite rather than smtp */
	const char *remote_mta;     /* "store1.example.com", or NULL */
	long long last_attempt;     /* unix time, 0: unknown */
	long long retry_until;      /* DSN_DELAYED: Will-Retry-Until, 0: omit */
};

struct dsn_report {
	const char *reporting_mta;  /* local.hostname */
	const char *envid;          /* Original-Envelope-Id, or NULL */
	int ret;                    /* QUEUE_RET_NONE / _FULL / _HDRS */
	const char *postmaster;     /* the From: address */
	const char *to;             /* the envelope sender reported to */
	const char *queue_id;       /* X-Mailsuite-Queue-Id, or NULL */
	long long arrival;          /* Arrival-Date, 0: omit */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;              /* >= 1; mixed actions allowed */
	const char *message;        /* the original message (CRLF), or NULL */
	size_t message_len;
	size_t max_returned;        /* RET=FULL (or RET absent with a failure
	                             * among the recipients): the whole message
	                             * as message/rfc822 when at most this long;
	                             * else, and with RET=HDRS or for reports
	                             * without failures, its header alone as
	                             * text/rfc822-headers */
	long long now;              /* Date: */
	const char *boundary_seed;  /* with now, the actions and the final
	                             * addresses, makes the boundary and the
	                             * Message-ID (the queue ID will do); NULL:
	                             * pid, now and a counter */
};

/*
 * The complete report, an RFC 5322 message with CRLF line ends (malloc'd,
 * NUL-terminated; its length in *len).  The Subject follows the gravest
 * action among the recipients: failed, delayed, relayed, then delivered
 * or expanded.  Dates are RFC 5322 in UTC.
 */
char *dsn_build(const struct dsn_report *r, size_t *len);

/* RFC 3461: does a recipient with NOTIFY bits (QUEUE_NOTIFY_*, 0: not
 * given) want a report of this action?  Not given: failures and delays.
 * Given: the action's own bit (FAILURE; DELAY; SUCCESS for delivered,
 * relayed and expanded), so NEVER wants nothing. */
bool dsn_wanted(unsigned notify, enum dsn_action action);

/* Whether a report may go to this envelope sender at all: never to the
 * null sender ("" or "<>", or NULL), RFC 5321 section 4.5.5. */
bool dsn_sendable(const char *envelope_from);

#endif
