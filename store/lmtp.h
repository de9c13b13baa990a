/*
 * lmtp: private to the store's LMTP server files (lmtp_session.c: accept,
 * I/O and dispatch; lmtp_cmd.c: the commands; lmtp_data.c: receiving the
 * message of DATA and BDAT into a receive file).
 */
#ifndef STORE_LMTP_H
#define STORE_LMTP_H

#include <stdbool.h>
#include <stdint.h>

#include "msg_intake.h"
#include "net.h"
#include "service.h"
#include "store.h"

struct bufferevent;

enum lmtp_state {
	LMTP_COMMAND,       /* reading command lines */
	LMTP_WAIT,          /* a directory lookup is pending */
	LMTP_DATA,          /* reading DATA up to the final dot */
	LMTP_BDAT,          /* reading a BDAT chunk */
	LMTP_COMMIT,        /* the message is being made durable */
	LMTP_CLOSING,       /* flushing the last reply */
};

struct lmtp_server {
	struct service svc;
	struct lmtp_session *sessions;  /* all open sessions */
};

/* The message being received. */
struct lmtp_message {
	int fd;
	char *path;
	const struct partition *part;
	struct msg_intake in;           /* size, header, refusal */
	char buf[65536];
	size_t buflen;
};

struct lmtp_session {
	struct lmtp_server *srv;
	struct lmtp_session *prev, *next;
	struct bufferevent *bev;
	unsigned long id;
	char peer[64];
	char helo[256];
	bool guaranteed_listener;
	enum lmtp_state state;
	int errors;
	struct net_line line;
	char *linebuf;
	int line_cap;                   /* linebuf holds line_cap + 2 */
	/* transaction */
	bool has_mail;
	char *from;
	bool guaranteed;
	struct commit_rcpt *rcpts;      /* accepted recipients */
	size_t nrcpts, caprcpts;
	size_t rcpt_cmds;               /* RCPT commands in this transaction */
	struct recipient_lookup *lookup;
	bool resolving;                 /* inside recipient_resolve() */
	bool out_paused;                /* reading waits for replies to drain */
	bool peer_eof;                  /* the client half-closed: answer what
	                                   it sent, then close */
	struct lmtp_message *msg;
	uint64_t bdat_left;
	bool bdat_last;
	const char *bdat_refusal;       /* chunks are read and dropped */
	struct commit_req *commit;
};

/* lmtp_session.c */
void lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Count a protocol error; false when the session was closed for it. */
bool lmtp_error(struct lmtp_session *s);
void lmtp_close(struct lmtp_session *s);
/* Resume reading after an asynchronous step finished (or close the
 * session if the server is draining and no transaction is open). */
void lmtp_resume(struct lmtp_session *s);

/* lmtp_cmd.c */
void lmtp_command(struct lmtp_session *s, char *line);
void lmtp_reset(struct lmtp_session *s);

/* lmtp_data.c */
bool lmtp_message_start(struct lmtp_session *s, bool raw);
/* Consume input; true while the message continues. */
void lmtp_data_input(struct lmtp_session *s);
void lmtp_bdat_input(struct lmtp_session *s);
void lmtp_message_free(struct lmtp_message **msg);

#endif
