/*
 * mta: private to the mta daemon's files.
 *
 *   config.c          msg.conf keys and the MTA's own files, loaded as one
 *                     generation (a reload swaps generations whole)
 *   access.c          the access mapping tables at their SMTP steps
 *   route.c           a recipient's destinations: rewrite rules, the
 *                     directory, aliases, groups
 *   smtp_session.c    listeners, sessions, input and replies
 *   smtp_cmd.c        the SMTP commands
 *   smtp_auth.c       AUTH PLAIN and LOGIN against the directory
 *   smtp_message.c    DATA/BDAT into the queue
 *   tools.c           test-rewrite and test-mapping
 *   main.c            start-up, signals, reload
 */
#ifndef MTA_MTA_H
#define MTA_MTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aliases.h"
#include "imta_conf.h"
#include "local.h"
#include "mappings.h"
#include "msg_intake.h"
#include "net.h"
#include "queue.h"
#include "smtp_path.h"
#include "track.h"

struct bufferevent;
struct dir;
struct event_base;
struct tls_ctx;

/* ---- configuration (config.c) ---- */

/* One generation of configuration: msg.conf and the files it names.
 * Sessions hold the generation they started with (refcounted), so a
 * reload never changes the rules under a transaction. */
struct mta_config {
	int refs;
	struct conf *conf;
	struct conf_key *keys;
	struct local_config local;
	struct imta_conf *imta;
	struct mappings *mappings;      /* NULL: no tables */
	struct aliases *aliases;        /* NULL: no file */
	const char *queue_path;
	const char *jobctl_socket;      /* "" off */
	const char *track_path;         /* "" off */
	const char *admin_listen;       /* "" off */
	const char *dns_servers;        /* "" the system's */
	int dns_timeout_ms;
	int lmtp_port;                  /* the lmtp channel's client */
	char **lmtp_hosts;              /* "mailhost=address:port" */
	int lmtp_timeout;               /* seconds */
	char **local_channels;          /* resolved in the directory */
	char **smtp_listen, **smtp_tls_listen, **submit_listen;
	const char *smtp_channel, *submit_channel;
	bool auth_plaintext;            /* AUTH without TLS */
	int max_sessions, max_per_client;
	uint64_t max_msg_size;
	int max_rcpts, max_line, max_errors, max_transactions, max_hops;
	int max_header_size, max_header_fields;
	int max_expansion;
	int idle_timeout;
};

/* NULL and "file:line: message" lines in *errs on any error. */
struct mta_config *mta_config_load(const char *path, char **errs);
struct mta_config *mta_config_ref(struct mta_config *cfg);
void mta_config_unref(struct mta_config **cfg);
bool mta_config_is_local_channel(const struct mta_config *cfg,
    const char *channel);

/* ---- access tables (access.c) ---- */

/* What a session knows when a table is asked. */
struct access_ctx {
	const struct mta_config *cfg;
	const char *port_probe;     /* TCP|server-addr|port|client-addr|port */
	const char *helo;
	const char *src_channel;
	const char *from;
	const char *auth_user;      /* NULL: not authenticated */
	bool tls, esmtp;
};

struct access_verdict {
	bool refused;
	char *text;                 /* refusal text (NULL: the default) */
	long delay;                 /* $D, hundredths of a second */
	bool discard, hold;         /* $B, $H */
	char *new_from;             /* $J */
	bool tempfail;              /* the table could not be applied */
};

void access_verdict_clear(struct access_verdict *v);
/* The reply to a refused MAIL or RCPT: 550 5.7.1 with the entry's text
 * (else what), or 451 4.3.0 when the table could not be applied. */
char *access_reply(const struct access_verdict *v, const char *what);
/* INTERNAL_IP: is the client internal? */
bool access_internal(const struct mta_config *cfg, const char *client_addr);
/* Each fills v; false when the step is refused (or tempfail). */
bool access_port(const struct mta_config *cfg, const char *port_probe,
    struct access_verdict *v);
bool access_from(const struct access_ctx *ax, struct access_verdict *v);
/* ORIG_SEND_ACCESS + ORIG_MAIL_ACCESS (orig true), or SEND_ACCESS +
 * MAIL_ACCESS, for one recipient routed to dst_channel. */
bool access_send(const struct access_ctx *ax, bool orig,
    const char *dst_channel, const char *to, struct access_verdict *v);

/* ---- routing (route.c) ---- */

struct route_dest {
	char *channel;
	char *address;
};

struct route_answer {
	const char *reply;          /* NULL: routed; else the RCPT reply */
	struct route_dest *dests;   /* for SEND_ACCESS and the queue */
	size_t ndests;
	const char *first_channel;  /* channel of the rewrite, before the
	                               directory (ORIG_SEND_ACCESS) */
	const char *first_address;
};

/* One line of trace for test-rewrite (NULL: none). */
typedef void route_trace_fn(void *arg, const char *line);
typedef void route_cb(void *arg, const struct route_answer *ans);

struct route_req;
struct route_params {
	const struct mta_config *cfg;
	struct dir *dir;
	const char *src_channel;
	const char *address;
	/* Called between the rewrite and the directory; a refusal (a reply)
	 * ends the route there.  NULL: no check. */
	const char *(*orig_check)(void *arg, const char *channel,
	    const char *address);
	route_trace_fn *trace;
	void *arg;
};

/* Resolve; cb may run before this returns (the handle is then NULL). */
struct route_req *route_resolve(const struct route_params *p, route_cb *cb);
void route_cancel(struct route_req **req);

/* ---- the SMTP server (smtp_*.c) ---- */

struct smtp_server;

struct smtp_server *smtp_server_new(struct event_base *base,
    struct mta_config *cfg, struct tls_ctx *tls);
bool smtp_server_listen(struct smtp_server *srv, char **err);
/* The queue, the directory and the resolver, opened after the listeners
 * (and the fork). */
struct dns;
void smtp_server_attach(struct smtp_server *srv, struct queue *queue,
    struct dir *dir, struct dns *dns);
void smtp_server_set_config(struct smtp_server *srv, struct mta_config *cfg);
void smtp_server_drain(struct smtp_server *srv);
int smtp_server_sessions(const struct smtp_server *srv);
void smtp_server_free(struct smtp_server **srv);

struct mta_stats {
	unsigned long long sessions, messages, recipients, bytes;
	unsigned long long refused_rcpts, refused_messages, tempfails;
};
extern struct mta_stats mta_stats;

/* ---- operator tools (tools.c) ---- */

int tools_test_rewrite(struct mta_config *cfg, int argc, char **argv);
int tools_test_mapping(struct mta_config *cfg, int argc, char **argv);

#endif
