/*
 * lmtp_client: the lmtp channel's delivery of one queue entry to the
 * stores (DESIGN.md section 5, step 7), for the lmtp_client program
 * (lmtp_client_main.c), which speaks the channel_job protocol to jobctl.
 */
#ifndef MTA_LMTP_CLIENT_H
#define MTA_LMTP_CLIENT_H

#include <stdio.h>

struct dir;
struct event_base;
struct mta_config;
struct lmtp_client;

/*
 * A delivery agent for entries of channel (their envelopes must name it),
 * answering on out.  cfg, dir (whose loop is base) and out are borrowed
 * and must outlive it.  A malformed mta.lmtp.hosts is fatal (log_fatal).
 */
struct lmtp_client *lmtp_client_new(const struct mta_config *cfg,
    struct event_base *base, struct dir *dir, const char *channel, FILE *out);
void lmtp_client_free(struct lmtp_client **lc);

/*
 * Deliver the entry at path (relative to the working directory, the
 * queue root) and write its channel_job answer lines: a rcpt line per
 * pending recipient (the caller writes done).  Blocks until finished;
 * never changes the file.
 */
void lmtp_client_entry(struct lmtp_client *lc, const char *path);

#endif
