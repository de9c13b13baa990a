/*
 * imap_search: the search-key parser and evaluator behind SEARCH, and
 * behind the search criteria of SORT and THREAD (RFC 5256).  Private to
 * store/imap_*.c.
 *
 * A program is parsed from the command's arguments and keeps pointers
 * into them: free it before the command's arguments go.  Sequence and UID
 * sets are resolved against the session's view when the program is made,
 * so the view must not be synced between parse and select.
 */
#ifndef STORE_IMAP_SEARCH_H
#define STORE_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "imap.h"

struct search_prog;

/*
 * search-key *(SP search-key), up to IMAP_ARG_END, ANDed.  NULL with *err
 * set (the text of a BAD) when the keys do not parse.
 */
struct search_prog *imap_search_parse(struct imap_session *s,
    const struct imap_arg *args, const char **err);
/* Set sel[i] for each message of the view (0-based) that matches; clears
 * the others.  Returns the number of matches. */
size_t imap_search_select(struct imap_session *s, const struct search_prog *p,
    bool *sel);
void imap_search_free(struct search_prog **p);

/* A charset the keys can be given in: US-ASCII or UTF-8. */
bool imap_search_charset_ok(const char *charset);
/* The untagged replies a search-like command may send before its tagged
 * OK: no EXPUNGE while it ran by sequence numbers (RFC 3501 7.4.1). */
void imap_search_sync(struct imap_session *s);

#endif
