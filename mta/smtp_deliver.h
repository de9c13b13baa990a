/*
 * smtp_deliver: the SMTP channels' (tcp_*) delivery of one queue entry to
 * the remote hosts that take its recipients' mail, for the smtp_client
 * program (smtp_client_main.c), which speaks the channel_job protocol to
 * jobctl.
 */
#ifndef MTA_SMTP_DELIVER_H
#define MTA_SMTP_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct dns_mx;
struct event_base;
struct mta_config;
struct smtp_deliver;

/*
 * A delivery agent for entries of channel (their envelopes must name it),
 * answering on out; its DNS lookups run on base.  cfg, base and out are
 * borrowed and must outlive it.  A channel missing from imta.cnf, a
 * setting out of range, unusable DNS servers or TLS roots are fatal
 * (log_fatal).
 */
struct smtp_deliver *smtp_deliver_new(const struct mta_config *cfg,
    struct event_base *base, const char *channel, FILE *out);
void smtp_deliver_free(struct smtp_deliver **sd);

/*
 * Deliver the entry at path (relative to the working directory, the queue
 * root) and write its channel_job answer lines: a rcpt line per pending
 * recipient (the caller writes done).  Blocks until finished; never
 * changes the file.
 */
void smtp_deliver_entry(struct smtp_deliver *sd, const char *path);

/* ---- the pure parts, for the unit tests ---- */

/* The steps of RFC 5321 4.5.3.2, each with its own limit. */
enum smtp_deliver_step {
	SMTP_STEP_COMMAND,      /* greeting, EHLO, STARTTLS, MAIL, RCPT, RSET */
	SMTP_STEP_DATA,         /* the 354 to DATA */
	SMTP_STEP_BLOCK,        /* each write of the message */
	SMTP_STEP_DOT,          /* the reply to the final "." */
	SMTP_STEP_QUIT,
};
/* The step's limit in milliseconds for mta.smtp.timeout = base_s: the
 * RFC's minutes scaled so that base_s is the RFC's 5 minutes. */
int smtp_deliver_timeout_ms(int base_s, enum smtp_deliver_step step);

/* The domain of address (after its last '@'); NULL when it has none. */
const char *smtp_deliver_domain(const char *address);

/* Drop from mx (sorted by preference) this host (self) and every host
 * not preferred to it (RFC 5321 5.1); the count left.  *self_listed says
 * whether self was there: 0 left then means a loop. */
size_t smtp_deliver_mx_trim(struct dns_mx *mx, size_t n, const char *self,
    bool *self_listed);

/* Is name this host's (case-insensitive, a final dot ignored)? */
bool smtp_deliver_is_self(const char *name, const char *self);

#endif
