/*
 * imap_sort.h: what SORT and THREAD (imap_sort.c, imap_thread.c) share:
 * the values of one message read from the index, the scratch buffers to
 * read them with, and the selection by search criteria.
 */
#ifndef IMAP_SORT_H
#define IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_format.h"
#include "imap_parse.h"
#include "store.h"

struct imap_session;

/* THREAD reads at most this much of a message file's header. */
#define THREAD_HEADER_MAX (256 * 1024)

/* ---- what one message offers to the keys ---- */

struct sort_scratch {
	char *env;                  /* the index's envelope blob */
	char *text;                 /* a decoded field */
	char *decoded;              /* a field, its encoded words decoded */
	char *hdr;                  /* THREAD: the message file's header */
};

struct sort_msg {
	size_t i;                   /* 0-based position in the view */
	bool have_rec;
	struct midx_message rec;
	const char *env[IMAP_ENV_NFIELDS];
};

/* Buffers for one message at a time; header: room for THREAD's read. */
void sort_scratch_init(struct sort_scratch *sc, bool header);
void sort_scratch_free(struct sort_scratch *sc);
/* The index's record and envelope of the view's i-th message. */
void sort_msg_load(struct imap_session *s, struct sort_scratch *sc, size_t i,
    struct sort_msg *m);
/* RFC 5256 2.2: the Date: field in UTC, else the INTERNALDATE. */
int64_t sort_sent_date(const struct sort_msg *m);
/* The base subject (RFC 5256 2.1), case-mapped: allocated.  *reply: it
 * said reply or forward. */
char *sort_subject_key(const struct sort_msg *m, struct sort_scratch *sc,
    bool *reply);
/* search-criteria = charset 1*(SP search-key): sel[] gets the matches,
 * *count their number; false once the command has been answered. */
bool sort_select(struct imap_session *s, const struct imap_arg *a, bool *sel,
    size_t *count);

#endif
