/*
 * store: the message store back end.  This header is shared by the store's
 * own files only; nothing outside store/ includes it.
 *
 * Threads: one libevent loop thread runs every session and the directory
 * client; one commit thread (commit.c) makes deliveries durable in batches.
 * They meet only through commit_submit() and the completion callback.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <lmdb.h>

#include "cidr.h"
#include "local.h"
#include "sasl.h"

struct conf;
struct db;
struct dir;
struct event_base;
struct evbuffer;
struct lmtp_server;
struct commit_batch;

/* ---- configuration (config.c) ---- */

struct partition {
	char *name;
	char *path;
};

struct store_config {
	struct conf *conf;          /* the parsed msg.conf; owns the strings */
	struct conf_key *keys;      /* the store's keys and local_keys */
	struct local_config local;  /* local.*: name, user, directory, TLS */
	const char *hostname;       /* local.hostname */
	char **mailhosts;           /* names this store answers to as mailHost */
	char **lmtp_listen;         /* host:port */
	char **lmtp_guaranteed_listen;
	char **guaranteed_senders;
	int max_sessions;
	uint64_t max_msg_size;
	int max_rcpts;
	int max_line;
	int max_header_size;
	int max_header_fields;
	int max_errors;
	int idle_timeout;
	const char *dbdir;
	uint64_t dbmapsize;
	struct partition *partitions;
	int npartitions;
	const struct partition *default_partition;
	bool quota_enforce;
	int quota_warn_pct;
	long long quota_grace;
	long long default_quota;    /* bytes; -1 unlimited */
	long long default_msgquota; /* messages; -1 unlimited */
	int fsync_threads;
	/* IMAP */
	char **imap_listen;
	int imap_max_sessions, imap_max_per_client, imap_max_per_user;
	int imap_max_line, imap_max_command, imap_max_errors;
	int imap_max_bad_logins;
	int imap_plaintext_min;     /* cipher bits passwords need; 0: no TLS */
	char **imap_tls_listen;
	int imap_preauth_timeout, imap_idle_timeout;
	/* POP3 */
	char **pop_listen, **pop_tls_listen;
	int pop_max_sessions, pop_max_per_client;
	int pop_max_line, pop_max_errors, pop_max_bad_logins;
	int pop_plaintext_min;      /* cipher bits passwords need; 0: no TLS */
	int pop_preauth_timeout, pop_idle_timeout;
	char **admins;              /* store.admins: may log in for others */
	struct cidr *trusted_proxies;   /* store.trustedproxies */
	int ntrusted_proxies;
	int admin_cache_ttl;        /* store.admincachettl, seconds */
	const char *admin_listen;   /* "" when off */
};

/* Load and validate; on failure returns NULL and the errors in *errs. */
/* Whether sa is one of store.trustedproxies (the mmps): their sessions
 * are not counted per client address, since every user comes from them. */
bool config_trusted_proxy(const struct store_config *cfg,
    const struct sockaddr *sa);
struct store_config *config_load(const char *path, char **errs);
void config_free(struct store_config **cfg);
const struct partition *config_partition(const struct store_config *cfg,
    const char *name);
bool config_is_mailhost(const struct store_config *cfg, const char *host);
bool config_is_guaranteed_sender(const struct store_config *cfg,
    const char *sender);

/* ---- the user area on disk (userarea.c) ---- */

#define USER_KEY_MAX 320

/* Directory of a user inside a partition: part/h1/h2/escaped-key. */
void userarea_user_dir(const struct partition *part, const char *user,
    char *buf, size_t len);
void userarea_mailbox_dir(const struct partition *part, const char *user,
    uint64_t mailbox_id, char *buf, size_t len);
/* Where messages are received before they are linked into mailboxes. */
void userarea_tmp_dir(const struct partition *part, char *buf, size_t len);
/* A new receive file holding data (fsync'd with sync); its allocated
 * path, or NULL (logged). */
char *userarea_write_tmp(const struct partition *part, const char *tag,
    const char *data, size_t len, bool sync);
/* Create the partition's fixed directories; false and errno on failure. */
bool userarea_prepare(const struct partition *part);
/* Remove receive files left by a crash. */
void userarea_clean_tmp(const struct partition *part);
/* Create (or adopt after a crash) a mailbox directory with its meta file. */
bool userarea_mailbox_create(const char *dir, const char *name,
    uint32_t uidvalidity, uint32_t *uidvalidity_out);
/* Rewrite the meta file with a new name (RENAME). */
bool userarea_mailbox_rename(const char *dir, const char *name,
    uint32_t uidvalidity, uint32_t *uidvalidity_out);
bool userarea_mailbox_read_meta(const char *dir, char *name, size_t namelen,
    uint32_t *uidvalidity);

/* ---- the system area: LMDB index (mindex.c) ---- */

enum { MIDX_USERS, MIDX_MAILBOXES, MIDX_MESSAGES, MIDX_META, MIDX_SUBS,
    MIDX_KEYWORDS, MIDX_EXPUNGED, MIDX_ACL, MIDX_ACLREV, MIDX_COUNT };

struct midx_user {
	uint64_t bytes;             /* quota usage, all mailboxes */
	uint64_t messages;
	int64_t overquota_since;    /* 0: not over quota */
	uint32_t warned;            /* quota warning sent */
	uint32_t initialized;       /* special-use folders were made */
	char partition[24];         /* partition the user lives on */
};

struct midx_mailbox {
	uint64_t id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t exists;
	uint32_t recent_uid;        /* UIDs above it are \Recent to the next
	                               session that selects the mailbox */
};

/* System flags, as IMAP will use them. */
enum {
	MFLAG_SEEN = 1, MFLAG_ANSWERED = 2, MFLAG_FLAGGED = 4,
	MFLAG_DELETED = 8, MFLAG_DRAFT = 16, MFLAG_RECENT = 32,
};

/* A message record: this fixed part, then the envelope fields. */
struct midx_message {
	uint32_t flags;
	uint32_t header_size;
	int64_t internaldate;
	uint64_t size;
	uint64_t modseq;
	uint64_t keywords;          /* bit i: the mailbox's keyword i */
};

/* Keywords (IMAP flags without a backslash) are named per mailbox: at
 * most KEYWORDS_MAX names, bit i of a message's keywords is name i. */
#define KEYWORDS_MAX 64
#define KEYWORD_LEN 64
struct keywords {
	char names[KEYWORDS_MAX][KEYWORD_LEN + 1];
	size_t n;
};

/* The header fields IMAP's ENVELOPE needs, stored NUL-separated in this
 * order after struct midx_message. */
#define ENVELOPE_FIELDS \
	X(DATE, "Date") X(SUBJECT, "Subject") X(FROM, "From") \
	X(SENDER, "Sender") X(REPLY_TO, "Reply-To") X(TO, "To") X(CC, "Cc") \
	X(BCC, "Bcc") X(IN_REPLY_TO, "In-Reply-To") X(MESSAGE_ID, "Message-ID")
#define ENVELOPE_FIELD_MAX 8192

struct db *mindex_open(const char *dir, uint64_t mapsize, char **err);
int mindex_user_get(struct db *db, MDB_txn *txn, const char *user,
    struct midx_user *u);
int mindex_user_put(struct db *db, MDB_txn *txn, const char *user,
    const struct midx_user *u);
int mindex_mailbox_get(struct db *db, MDB_txn *txn, const char *user,
    const char *name, struct midx_mailbox *mb);
int mindex_mailbox_put(struct db *db, MDB_txn *txn, const char *user,
    const char *name, const struct midx_mailbox *mb);
int mindex_message_put(struct db *db, MDB_txn *txn, uint64_t mailbox,
    uint32_t uid, const struct midx_message *m, const char *env,
    size_t envlen);
/* The messages key: mailbox id and UID, big-endian. */
void mindex_message_key(uint64_t mailbox, uint32_t uid, unsigned char key[12]);
/* A mailbox's keyword names (none: n = 0). */
int mindex_keywords_get(struct db *db, MDB_txn *txn, uint64_t mailbox,
    struct keywords *kw);
/* Bits of names[0..n) in the mailbox's table; with create, unknown names
 * are added (MDB_MAP_FULL-like failure is MDB_KEYEXIST when the table is
 * full).  Unknown names without create map to no bit. */
int mindex_keywords_bits(struct db *db, MDB_txn *txn, uint64_t mailbox,
    const char (*names)[KEYWORD_LEN + 1], size_t n, bool create,
    uint64_t *bits);
int mindex_next_mailbox_id(struct db *db, MDB_txn *txn, uint64_t *id);
/* Size, header size, file date and envelope of a message file (the
 * envelope allocated, NULL if the file cannot be read). */
char *mindex_scan_file(const struct store_config *cfg, const char *path,
    struct midx_message *m, size_t *envlen);
/* Envelope blob from a header block: allocated, length in *len. */
char *mindex_envelope(const char *hdr, size_t hdrlen, size_t *len);

/* ---- quota (quota.c) ---- */

struct quota {
	long long bytes;            /* -1 unlimited */
	long long messages;         /* -1 unlimited */
};

enum quota_verdict { QUOTA_OK, QUOTA_OVER_GRACE, QUOTA_OVER };

/* From mailQuota / mailMsgQuota values (NULL: absent → default). */
void quota_from_directory(const struct store_config *cfg, const char *bytes,
    const char *messages, struct quota *q);
/* Would adding one message of size push the user over quota? */
enum quota_verdict quota_check(const struct store_config *cfg,
    const struct quota *q, const struct midx_user *u, uint64_t size,
    time_t now);
/* Has usage passed the warning threshold? */
bool quota_past_warning(const struct store_config *cfg, const struct quota *q,
    const struct midx_user *u);
/* The text of the warning message: allocated, CRLF line ends. */
char *quota_warning_text(const struct store_config *cfg, const char *user,
    const struct quota *q, const struct midx_user *u, size_t *len);

/* ---- delivery and group commit (commit.c) ---- */

/* One recipient of a delivery, resolved in the directory at RCPT time. */
struct commit_rcpt {
	char *user;                 /* store key */
	const struct partition *part;
	struct quota quota;
	/* result, filled by the commit thread */
	int code;                   /* 250, 452, 552 ... */
	char text[160];             /* "2.0.0 Ok ..." */
};

struct commit_req;
typedef void commit_done_cb(struct commit_req *req, void *arg);

struct commit_req {
	/* input */
	int fd;                     /* the received message, not yet synced */
	char *tmp_path;
	const struct partition *part;
	uint64_t size;
	time_t internaldate;
	char *envelope;
	size_t envlen;
	uint32_t header_size;
	bool guaranteed;            /* ignore quota */
	struct commit_rcpt *rcpts;
	size_t nrcpts;
	/* a mailbox operation instead of a delivery (mbox_ops.c) */
	int (*op)(MDB_txn *txn, struct commit_batch *b, struct commit_req *req);
	void *op_data;
	bool failed;                /* the transaction failed: nothing happened */
	const char *notify_user;    /* op: whose mailboxes it changed */
	/* completion, on the loop thread; arg NULL: the session went away */
	commit_done_cb *done;
	void *arg;
	struct commit_req *next;
};

bool commit_start(struct event_base *base, struct db *db,
    const struct store_config *cfg);
void commit_submit(struct commit_req *req);
/* A reloaded configuration; the old one must stay valid (never freed). */
void commit_set_config(const struct store_config *cfg);
/* Told on the loop thread, for each committed request, whose mailboxes
 * changed (the IMAP server wakes its IDLE sessions with it). */
typedef void commit_notify_cb(void *arg, const char *user);
void commit_set_notify(commit_notify_cb *cb, void *arg);
/* Wait for every submitted request to finish (shutdown). */
void commit_stop(void);
void commit_req_free(struct commit_req **req);

/* ---- the protocol servers (lmtp_session.c, imap_session.c,
 * pop3_session.c); main.c manages what they share through their
 * struct service (service.h): directory and index, configuration,
 * session count ---- */

struct service;
struct tls_ctx;
struct lmtp_server;
struct imap_server;
struct pop3_server;

struct lmtp_server *lmtp_server_new(struct event_base *base,
    const struct store_config *cfg);
struct imap_server *imap_server_new(struct event_base *base,
    const struct store_config *cfg);
struct pop3_server *pop3_server_new(struct event_base *base,
    const struct store_config *cfg);
/* Bind the configured listeners; false and *err on failure.  tls may be
 * NULL (then no STARTTLS, and no implicit-TLS listener is allowed). */
bool lmtp_server_listen(struct lmtp_server *srv, char **err);
bool imap_server_listen(struct imap_server *srv, struct tls_ctx *tls,
    char **err);
bool pop3_server_listen(struct pop3_server *srv, struct tls_ctx *tls,
    char **err);
/* Stop accepting; idle sessions are closed, busy ones finish first. */
void lmtp_server_drain(struct lmtp_server *srv);
void imap_server_drain(struct imap_server *srv);
void pop3_server_drain(struct pop3_server *srv);
/* A user's mailboxes changed: IMAP sessions in IDLE on them look now. */
void imap_server_changed(struct imap_server *srv, const char *user);
struct service *lmtp_server_service(struct lmtp_server *srv);
struct service *imap_server_service(struct imap_server *srv);
struct service *pop3_server_service(struct pop3_server *srv);

/* ---- users: directory entries as this store sees them (user.c) ---- */

struct dir_entry;

enum user_verdict {
	USER_OK,
	USER_NOT_MAILBOX,       /* a group */
	USER_DISABLED,          /* status deleted or removed */
	USER_INACTIVE,          /* inactive, hold, or an unknown status */
	USER_ELSEWHERE,         /* mailHost is another store */
	USER_NO_KEY,            /* no uid and no mail */
	USER_NO_PARTITION,      /* mailMessageStore not configured here */
};

struct store_user {
	char key[USER_KEY_MAX];     /* uid@domain of mail, lower case */
	const struct partition *part;
	struct quota quota;
};

enum user_verdict user_from_entry(const struct store_config *cfg,
    const struct dir_entry *e, struct store_user *u);
/* The store key of a directory entry: uid qualified with the mail domain. */
bool user_key(const char *uid, const char *mail, char *buf, size_t len);

/* ---- logins (auth.c) ---- */

enum auth_status { AUTH_OK, AUTH_FAILED, AUTH_UNAVAILABLE, AUTH_REFUSED };

struct auth_result {
	enum auth_status status;
	bool temporary;             /* AUTH_REFUSED that may pass later */
	const char *why;            /* for the log */
	struct store_user user;     /* AUTH_OK */
};

struct auth_req;
typedef void auth_cb(void *arg, const struct auth_result *r);

/* Check a password; cb may run before this returns (NULL handle). */
struct auth_req *auth_password(struct dir *dir, const struct store_config *cfg,
    const char *login, const char *password, auth_cb *cb, void *arg);
void auth_cancel(struct auth_req **a);
/* Whether the directory can give clear secrets (local.ldap.secretbinddn). */
bool auth_digest_supported(struct dir *dir);
/* Check a CRAM-MD5 (RFC 2195) or APOP (RFC 1939) response, given in hex. */
struct auth_req *auth_digest(struct dir *dir, const struct store_config *cfg,
    const char *login, enum sasl_digest digest, const char *challenge,
    const char *response, auth_cb *cb, void *arg);
/* Proxy login (SASL PLAIN with an authorization identity): admin, one of
 * store.admins, proves its password, then acts as user (a mail address). */
struct auth_req *auth_proxy(struct dir *dir, const struct store_config *cfg,
    const char *admin, const char *password, const char *user, auth_cb *cb,
    void *arg);

/* ---- recipients (recipient.c) ---- */

struct recipient_lookup;
/* Resolve address for delivery here: cb gets a reply line for RCPT and,
 * on success, a filled commit_rcpt. */
typedef void recipient_cb(void *arg, const char *reply,
    struct commit_rcpt *rcpt);
struct recipient_lookup *recipient_resolve(struct dir *dir, struct db *db,
    const struct store_config *cfg, const char *address, bool guaranteed,
    recipient_cb *cb, void *arg);
void recipient_cancel(struct recipient_lookup **lk);

/* ---- counters for /metrics (metrics.c); loop thread only ---- */

struct store_stats {
	unsigned long long sessions;            /* accepted */
	unsigned long long sessions_refused;    /* over maxsessions */
	unsigned long long delivered;           /* 250 after DATA/BDAT */
	unsigned long long deferred;            /* 4xx after DATA/BDAT */
	unsigned long long refused;             /* 5xx after DATA/BDAT */
	unsigned long long bytes;               /* delivered message bytes */
	unsigned long long rcpt_ok, rcpt_temp, rcpt_perm;
};
extern struct store_stats store_stats;

/* Batches and messages committed so far (the commit thread counts). */
void commit_counts(unsigned long long *batches, unsigned long long *reqs);
struct store_metrics_src {
	struct lmtp_server *lmtp;
	struct imap_server *imap;
	struct pop3_server *pop3;
	struct dir *dir;
};
/* admin_metrics_cb; arg is a struct store_metrics_src. */
void store_metrics(void *arg, struct evbuffer *out);

/* ---- reconstruct (reconstruct.c) ---- */
int reconstruct_main(const struct store_config *cfg, int argc, char **argv);

#endif
