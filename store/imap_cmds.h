/*
 * imap_cmds: the command handlers of the IMAP server and the helpers they
 * share.  Private to store/imap_*.c.
 */
#ifndef STORE_IMAP_CMDS_H
#define STORE_IMAP_CMDS_H

#include "imap.h"
#include "mailbox.h"

/* imap_cmd.c */
void imap_bad(struct imap_session *s, const char *why);
void imap_finish(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool imap_plaintext_ok(const struct imap_session *s);
void cmd_capability(struct imap_session *s, struct imap_arg *args);
void cmd_noop(struct imap_session *s, struct imap_arg *args);
void cmd_logout(struct imap_session *s, struct imap_arg *args);
void cmd_id(struct imap_session *s, struct imap_arg *args);
void cmd_enable(struct imap_session *s, struct imap_arg *args);
void cmd_namespace(struct imap_session *s, struct imap_arg *args);
void cmd_starttls(struct imap_session *s, struct imap_arg *args);

/* imap_auth.c */
void cmd_login(struct imap_session *s, struct imap_arg *args);
void cmd_authenticate(struct imap_session *s, struct imap_arg *args);
/* A line answering an AUTHENTICATE challenge. */
void imap_auth_line(struct imap_session *s, const char *line);
/* End the AUTHENTICATE exchange with reply (tagged). */
void imap_auth_abort(struct imap_session *s, const char *reply);

/* imap_cmd_mailbox.c */
void cmd_select(struct imap_session *s, struct imap_arg *args);
void cmd_create(struct imap_session *s, struct imap_arg *args);
void cmd_delete(struct imap_session *s, struct imap_arg *args);
void cmd_rename(struct imap_session *s, struct imap_arg *args);
void cmd_subscribe(struct imap_session *s, struct imap_arg *args);
void cmd_list(struct imap_session *s, struct imap_arg *args);
void cmd_status(struct imap_session *s, struct imap_arg *args);
void cmd_append(struct imap_session *s, struct imap_arg *args);
/* Mailbox names: "INBOX" in any case is INBOX; modified UTF-7 checked. */
bool imap_mailbox_name(const struct imap_arg *a, char *out, size_t len);

/* imap_acl.c: ACL (RFC 4314) and mailbox references */
enum imap_mref_rc { MREF_OK, MREF_BAD, MREF_NONEXISTENT, MREF_UNAVAILABLE };
struct imap_mref {
	char display[MAILBOX_NAME_MAX];     /* as the client named it */
	char owner[USER_KEY_MAX];
	char name[MAILBOX_NAME_MAX];        /* in the owner's mailboxes */
	const struct partition *part;       /* the owner's */
	uint32_t rights;                    /* the session's, ACL_* */
	bool shared;                        /* another user's mailbox */
};
/* Resolve a mailbox argument ("user/OWNER/NAME" for another user's). */
enum imap_mref_rc imap_mref(struct imap_session *s, const struct imap_arg *a,
    struct imap_mref *m);
void imap_mref_fail(struct imap_session *s, enum imap_mref_rc rc);
/* Names ("user/OWNER/NAME") of others' mailboxes this user may see. */
int imap_shared_list(struct imap_session *s,
    void (*fn)(void *arg, const char *name), void *arg);
void cmd_getacl(struct imap_session *s, struct imap_arg *args);
void cmd_setacl(struct imap_session *s, struct imap_arg *args);
void cmd_listrights(struct imap_session *s, struct imap_arg *args);
void cmd_myrights(struct imap_session *s, struct imap_arg *args);

/* imap_cmd_select.c */
void cmd_idle(struct imap_session *s, struct imap_arg *args);
void cmd_check(struct imap_session *s, struct imap_arg *args);
void cmd_close(struct imap_session *s, struct imap_arg *args);
void cmd_expunge(struct imap_session *s, struct imap_arg *args);
void cmd_store(struct imap_session *s, struct imap_arg *args);
void cmd_copy(struct imap_session *s, struct imap_arg *args);
void cmd_uid(struct imap_session *s, struct imap_arg *args);
/* Tell the client what changed in its selected mailbox (EXISTS,
 * EXPUNGE, FETCH FLAGS); safe in any state. */
void imap_sync_view(struct imap_session *s);
/* Room for every flag a message can have, as text. */
#define IMAP_FLAGS_TEXT (KEYWORDS_MAX * (KEYWORD_LEN + 1) + 128)
/* System flags, \Recent and keywords (named by names) as IMAP text. */
/* "* n FETCH (UID FLAGS MODSEQ)" for message seq, as the session's
 * enabled extensions want it. */
void imap_flags_response(struct imap_session *s, size_t seq, bool with_uid);
void imap_flags_string(uint32_t flags, uint64_t kw, const struct keywords *names,
    char *buf, size_t len);
/* The flags of a STORE or APPEND: system ones into *sys, keywords into
 * kw (KEYWORDS_MAX entries) and *nkw.  False for \Recent, an unknown
 * system flag, or a malformed or too long keyword. */
bool imap_parse_flags(const struct imap_arg *a, uint32_t *sys,
    char (*kw)[KEYWORD_LEN + 1], size_t *nkw);

/* imap_fetch.c */
void cmd_fetch(struct imap_session *s, struct imap_arg *args);
void imap_fetch_continue(struct imap_session *s);
void imap_fetch_free(struct imap_session *s);

/* imap_search.c */
void cmd_search(struct imap_session *s, struct imap_arg *args);

/* imap_sort.c and imap_thread.c: SORT and THREAD (RFC 5256) */
void cmd_sort(struct imap_session *s, struct imap_arg *args);
void cmd_thread(struct imap_session *s, struct imap_arg *args);

/* imap_quota.c: QUOTA (RFC 9208) */
void cmd_getquota(struct imap_session *s, struct imap_arg *args);
void cmd_getquotaroot(struct imap_session *s, struct imap_arg *args);
void cmd_setquota(struct imap_session *s, struct imap_arg *args);


#endif
