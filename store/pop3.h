/*
 * pop3: private to the store's POP3 server files (RFC 1939, 2449, 2595,
 * 3206, 5034).
 *
 *   pop3_session.c   listeners, I/O, limits, STLS hand-over, the lock
 *   pop3_cmd.c       the command table and the TRANSACTION commands,
 *                    RETR/TOP streaming, the UPDATE state
 *   pop3_auth.c      USER/PASS, APOP, AUTH (SASL PLAIN and LOGIN),
 *                    XCLIENT (a proxy names its client), and opening the
 *                    maildrop after a login
 *
 * A session runs one command at a time: while one waits (directory,
 * commit thread, a full output buffer) pipelined input stays buffered.
 * The maildrop (the user's INBOX) is locked for the session in the
 * server's memory: one store process owns its users, so a second POP
 * session of the same user finds the lock here.  The session works on a
 * snapshot (a view of INBOX taken at login); deletions are only marks
 * until QUIT, which expunges them in one commit (MOP_REMOVE).
 */
#ifndef STORE_POP3_H
#define STORE_POP3_H

#include <stdbool.h>
#include <stdint.h>

#include "net.h"
#include "service.h"
#include "store.h"

struct bufferevent;
struct evbuffer;

enum pop3_state { POP3_AUTHORIZATION, POP3_TRANSACTION, POP3_UPDATE };

enum pop3_io {
	POP3_IO_LINE,       /* reading a command line */
	POP3_IO_SASL,       /* reading an AUTH continuation line */
	POP3_IO_BUSY,       /* a command is running */
	POP3_IO_CLOSING,
};

struct pop3_server {
	struct service svc;
	struct pop3_session *sessions;
	void *peer_counts;          /* countmap, for maxsessionsperclient */
};

struct mbox_view;
struct pop3_retr;

struct pop3_session {
	struct pop3_server *srv;
	struct pop3_session *prev, *next;
	struct bufferevent *bev;
	unsigned long id;
	char peer[64];
	/* The real client as a proxy names it before login (XCLIENT ADDR=,
	 * PORT=): a claim any client may make, so it is only logged, beside
	 * peer, never instead of it.  "" when none. */
	struct net_origin origin;
	enum pop3_state state;
	enum pop3_io io;
	int errors;
	int auth_failures;
	struct net_line line;
	char *linebuf;
	size_t line_cap;
	bool out_paused;            /* reading waits for the replies to drain */
	bool peer_eof;              /* the client half-closed: answer what it
	                               sent, then close */
	bool reading;               /* inside pop3_read(): no re-entry */
	bool tls;
	bool starttls;              /* +OK to STLS queued: hand over when out */
	char apop_stamp[128];       /* the greeting's timestamp; "" no APOP */
	/* authorization */
	char *user_arg;             /* USER given, waiting for PASS */
	struct sasl_exchange *sasl; /* during AUTH */
	char *login;                /* for the log */
	struct auth_req *auth_req;
	struct event *delay;        /* the penalty before a failed login's -ERR */
	/* the maildrop */
	char *user;                 /* store key; set while locked */
	const struct partition *part;
	struct commit_req *op;
	struct mbox_view *view;
	uint64_t *sizes;            /* per message of the view */
	bool *deleted;
	size_t ndeleted;
	uint64_t deleted_bytes;
	struct pop3_retr *retr;     /* RETR/TOP paused by a full output buffer */
};

/* pop3_session.c */
void pop3_reply(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct evbuffer *pop3_out(struct pop3_session *s);
/* The running command is over: read the next one. */
void pop3_done(struct pop3_session *s);
/* Reply -ERR text and count a protocol error (the session may close). */
void pop3_error(struct pop3_session *s, const char *text);
/* Close once the output is written. */
void pop3_close(struct pop3_session *s);
void pop3_set_timeout(struct pop3_session *s);
bool pop3_plaintext_ok(struct pop3_session *s);
/* Take user's maildrop lock; false when another session holds it. */
bool pop3_lock(struct pop3_session *s, const char *user);

/* pop3_cmd.c */
void pop3_command(struct pop3_session *s, char *line);
void pop3_retr_continue(struct pop3_session *s);
void pop3_retr_free(struct pop3_session *s);

/* pop3_auth.c */
void pop3_auth_line(struct pop3_session *s, const char *line);
void pop3_auth_reset(struct pop3_session *s);
void cmd_user(struct pop3_session *s, char *arg);
void cmd_pass(struct pop3_session *s, char *arg);
void cmd_apop(struct pop3_session *s, char *arg);
void cmd_auth(struct pop3_session *s, char *arg);
void cmd_xclient(struct pop3_session *s, char *arg);

#endif
