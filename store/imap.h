/*
 * imap: private to the store's IMAP server files.
 *
 *   imap_session.c   listeners, I/O, reading commands and literals, limits
 *   imap_cmd_*.c     the commands, by state (any, not authenticated,
 *                    authenticated, selected)
 *   imap_parse.c     argument tokenizer
 *   mailbox.c        mailbox views and the index reads behind them
 *
 * A session processes one command at a time: while a command waits (for
 * the directory or the commit thread) pipelined input stays buffered.
 */
#ifndef STORE_IMAP_H
#define STORE_IMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "imap_parse.h"
#include "net.h"
#include "service.h"
#include "store.h"

struct bufferevent;
struct dir_req;

enum imap_state { IMAP_NOTAUTH, IMAP_AUTH, IMAP_SELECTED, IMAP_LOGOUT };

enum imap_io {
	IMAP_IO_LINE,       /* reading a command line */
	IMAP_IO_AUTH,       /* reading an AUTHENTICATE response line */
	IMAP_IO_LITERAL,    /* reading literal bytes */
	IMAP_IO_BUSY,       /* a command is running */
	IMAP_IO_IDLE,       /* IDLE: waiting for DONE */
	IMAP_IO_CLOSING,
};

struct imap_server {
	struct service svc;
	struct imap_session *sessions;
	void *peer_counts, *user_counts;    /* countmaps, for the limits */
	/* \Recent claims not yet committed to the index: mailbox id and the
	 * highest UID some session took as recent. */
	struct imap_recent { uint64_t mailbox; uint32_t uid; } *recent;
	size_t nrecent, caprecent;
};

struct mbox_view;

struct imap_session {
	struct imap_server *srv;
	struct imap_session *prev, *next;
	struct bufferevent *bev;
	unsigned long id;
	char peer[64];
	/* The real client as a proxy names it before login (ID
	 * x-originating-ip/-port): a claim any client may make, so it is
	 * only logged, beside peer, never instead of it.  "" when none. */
	struct net_origin origin;
	enum imap_state state;
	enum imap_io io;
	int errors;
	int auth_failures;
	/* command assembly */
	struct net_line line;
	char *linebuf;
	size_t line_cap;
	char *cmd;                  /* wire text of the command so far */
	size_t cmdlen, cmdcap;
	size_t literal_left;
	int literal_fd;             /* spooling an APPEND literal */
	bool spool_failed;          /* a write to the spool file failed */
	bool reading;               /* inside imap_read(): no re-entry */
	bool out_paused;            /* reading waits for the replies to drain */
	bool peer_eof;              /* the client half-closed: answer what it
	                               sent, then close */
	struct imap_spool spool[2];
	/* the running command */
	char tag[64];
	char cmdname[16];
	struct imap_args args;
	bool uid_cmd;               /* running under UID */
	/* TLS */
	bool tls;                   /* the session is encrypted */
	bool starttls;              /* STARTTLS answered: hand over when the
	                               reply is out */
	/* AUTHENTICATE in progress */
	struct sasl_exchange *sasl;     /* during AUTHENTICATE */
	/* the user */
	char *user;                 /* store key */
	char *login;
	const struct partition *part;
	struct quota quota;
	struct auth_req *auth_req;
	struct commit_req *op;      /* a mailbox change in the commit thread */
	struct commit_req *acl_op;  /* an ACL change in the commit thread */
	struct event *delay;        /* the penalty before a failed login's NO */
	/* the selected mailbox */
	struct mbox_view *view;
	bool readonly;
	uint32_t rights;            /* ACL rights on the selected mailbox */
	size_t told_exists;         /* the EXISTS the client knows */
	bool no_expunge_sync;       /* inside FETCH/STORE/SEARCH by sequence */
	bool store_silent;
	bool idle_watching;
	struct event *idle_timer;
	struct fetch_job *fetch;    /* a FETCH paused by a full output buffer */
	bool utf8_accept;
	bool condstore;             /* CONDSTORE enabled (RFC 7162) */
	bool qresync;               /* QRESYNC enabled: VANISHED, not EXPUNGE */
	struct evbuffer *vanished;  /* UIDs gone, collected during a sync */
};

/* imap_session.c */
void imap_reply(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imap_tagged(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct evbuffer *imap_out(struct imap_session *s);
/* The running command is over: read the next one. */
void imap_done(struct imap_session *s);
/* Count a protocol error; false when the session was closed for it. */
bool imap_error(struct imap_session *s);
/* The session's user (NULL: none), kept counted per user. */
void imap_set_user(struct imap_session *s, const char *user);
int imap_user_count(const struct imap_server *srv, const char *user);
void imap_close(struct imap_session *s);

void imap_set_timeout(struct imap_session *s);
/* The highest UID of a mailbox already given out as \Recent. */
uint32_t imap_recent_floor(struct imap_server *srv, uint64_t mailbox,
    uint32_t index_floor);
void imap_recent_claim(struct imap_server *srv, uint64_t mailbox,
    uint32_t uid);
/* The index now holds claims up to uid: forget the ones it covers. */
void imap_recent_release(struct imap_server *srv, uint64_t mailbox,
    uint32_t uid);

/* imap_cmd.c: dispatch of one complete command. */
void imap_command(struct imap_session *s, const char *name,
    struct imap_arg *args);
const char *imap_capabilities(const struct imap_session *s);
/* imap_cmd_select.c: a line while in IDLE. */
void imap_idle_line(struct imap_session *s, const char *line);
/* imap_session.c: start or stop telling an IDLE session about changes. */
void imap_idle_watch(struct imap_session *s, bool on);

#endif
