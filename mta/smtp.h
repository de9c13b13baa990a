/*
 * smtp: private to the mta's SMTP server files (smtp_session.c: accept,
 * I/O and dispatch; smtp_cmd.c: the commands; smtp_rcpt.c: RCPT TO and
 * its routing; smtp_auth.c: AUTH; smtp_message.c: DATA and BDAT into the
 * queue).
 */
#ifndef MTA_SMTP_H
#define MTA_SMTP_H

#include <stdbool.h>
#include <stdint.h>

#include "mta.h"

struct bufferevent;
struct dir_req;
struct event;
struct evconnlistener;
struct message_groups;

enum smtp_state {
	SMTP_COMMAND,       /* reading command lines */
	SMTP_WAIT,          /* the directory, a delay or AUTH is pending */
	SMTP_AUTH,          /* reading a SASL response line */
	SMTP_DATA,          /* reading DATA up to the final dot */
	SMTP_BDAT,          /* reading a BDAT chunk */
	SMTP_COMMIT,        /* the message is being made durable */
	SMTP_CLOSING,       /* flushing the last reply */
};

struct smtp_server {
	struct event_base *base;
	struct mta_config *cfg;         /* for new sessions */
	struct tls_ctx *tls;
	struct queue *queue;
	struct dir *dir;
	struct dns *dns;
	struct evconnlistener **listeners;
	int nlisteners;
	struct smtp_session *sessions;
	int nsessions;
	unsigned long next_id;
	bool draining;
};

/* An accepted recipient: as given, its DSN parameters, and where the
 * routing sends it. */
struct smtp_rcpt {
	char *original;
	char *orcpt;
	unsigned notify;                /* QUEUE_NOTIFY_* */
	const char *divert;             /* ORIG_SEND_ACCESS $B/$H: every
	                                   destination goes to this channel */
	struct route_dest *dests;
	size_t ndests;
};

/* Handed to the queue; outlives a session that closes while committing. */
struct smtp_commit {
	struct smtp_session *s;         /* NULL: the session is gone */
	char *track;                    /* tracking log lines, once durable */
};

struct smtp_session {
	struct smtp_server *srv;
	struct smtp_session *prev, *next;
	struct mta_config *cfg;         /* the generation it started with */
	struct bufferevent *bev;
	unsigned long id;
	char peer[64], local[64];
	int peer_port, local_port;
	char *port_probe;               /* PORT_ACCESS probe, kept for the rest */
	const char *service;            /* "smtp", "submit" */
	const char *listener_channel;   /* where the session started */
	char src_channel[IMTA_NAME_MAX + 1];
	bool tls, esmtp;
	char helo[256];
	char *auth_user;
	enum smtp_state state;
	int errors, transactions;
	struct net_line line;
	char *linebuf;
	int line_cap;
	bool out_paused, peer_eof, starttls;
	struct event *close_ev;         /* frees a closed session later */
	/* transaction */
	bool has_mail, smtputf8;
	const char *divert;             /* FROM_ACCESS $B/$H: the whole
	                                   message goes to this channel */
	size_t ndests;                  /* of all accepted recipients */
	char *from;
	int ret;                        /* QUEUE_RET_* */
	char *envid;
	int priority;
	struct smtp_rcpt *rcpts;
	size_t nrcpts, caprcpts, rcpt_cmds;
	struct smtp_rcpt pending;       /* the RCPT being routed */
	struct route_req *route;
	struct dns_req *dns_req;        /* mailfromdnsverify */
	const char *route_refusal;      /* ORIG_SEND_ACCESS said no */
	char *refusal_text;
	long delay;                     /* $D of the pending reply */
	struct event *delay_ev;
	char *delayed_reply;
	/* message */
	struct queue_msg *qmsg;
	struct message_groups *groups;  /* its queue entries (smtp_message.c) */
	struct msg_intake in;
	bool in_active;
	uint64_t bdat_left;
	bool bdat_last;
	const char *bdat_refusal;
	struct smtp_commit *commit;
	char queued_id[QUEUE_ID_LEN + 1];   /* of the message committing */
	/* AUTH */
	struct sasl_exchange *sasl;     /* from AUTH until the verdict */
	char *auth_login;
	struct dir_req *auth_req;
	bool auth_calling;              /* inside dir_authenticate() */
};

#define SMTP_AUTH_LINE_MAX 12288   /* RFC 4954 4 */

/* smtp_session.c */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Count a protocol error; false when the session was closed for it. */
bool smtp_error(struct smtp_session *s);
/* Close after the replies written so far; the session is never freed
 * inside this call, so callers may look at s->state afterwards. */
void smtp_close(struct smtp_session *s);
/* Resume reading after an asynchronous step finished. */
void smtp_resume(struct smtp_session *s);
/* Send reply after delay hundredths of a second (access tables' $D),
 * then resume. */
void smtp_reply_later(struct smtp_session *s, long delay, const char *reply);
/* The access tables' view of the session. */
void smtp_access_ctx(struct smtp_session *s, struct access_ctx *ax);

/* smtp_cmd.c */
void smtp_command(struct smtp_session *s, char *line);
void smtp_reset(struct smtp_session *s);
void smtp_rcpt_clear(struct smtp_rcpt *r);

#define SMTP_BITBUCKET_CHANNEL "bitbucket"
#define SMTP_HOLD_CHANNEL "hold"

/* smtp_rcpt.c */
void smtp_cmd_rcpt(struct smtp_session *s, char *args);

/* smtp_auth.c */
void smtp_cmd_auth(struct smtp_session *s, char *args);
void smtp_auth_input(struct smtp_session *s, char *line);
void smtp_auth_cancel(struct smtp_session *s);
/* "PLAIN LOGIN CRAM-MD5", a part of it, or "" (no AUTH now). */
const char *smtp_auth_mechanisms(const struct smtp_session *s);

/* smtp_message.c */
void smtp_cmd_data(struct smtp_session *s, char *args);
void smtp_cmd_bdat(struct smtp_session *s, char *args);
void smtp_data_input(struct smtp_session *s);
void smtp_bdat_input(struct smtp_session *s);
void smtp_message_abort(struct smtp_session *s);

#endif
