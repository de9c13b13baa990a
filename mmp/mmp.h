/*
 * mmp: the Messaging Multiplexor, an IMAP and POP3 proxy.  Every user
 * connects to one name; the mmp answers the client itself until the
 * login, checks the password against the directory, finds the user's
 * store (mailHost), logs in there as a proxy administrator acting for the
 * user, and from then on relays bytes both ways.  It keeps no state
 * beyond its sessions: any number of mmps can stand behind a balancer.
 *
 *   session.c      accept, access rules, limits, lines, timeouts,
 *                  STARTTLS, closing
 *   proxy_wait.c   a balancer's PROXY header, before the session
 *   imap_front.c   the IMAP commands before login
 *   pop_front.c    the POP3 commands before login
 *   login.c        password check, account state, the user's store
 *   backend.c      the connection to the store and the proxy login there
 *   relay.c        bytes both ways with bounded buffers
 *   penalty.c      the delay before "wrong password", per client address
 *   config.c       the mmp.* keys of msg.conf
 *   main.c         start-up, signals, metrics
 */
#ifndef MMP_MMP_H
#define MMP_MMP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cidr.h"
#include "conf.h"
#include "local.h"
#include "net.h"

struct authcache;
struct bufferevent;
struct dir;
struct dir_req;
struct dns;
struct dns_req;
struct event;
struct event_base;
struct evbuffer;
struct evconnlistener;
struct sasl_exchange;
struct tls_ctx;

enum mmp_proto { MMP_IMAP, MMP_POP };

/* A mailHost's address for one protocol (mmp.imap.backends). */
struct mmp_backend_host {
	char *mailhost;
	char *host;
	int port;
};

struct mmp_config {
	struct conf *conf;
	struct conf_key *keys;
	struct local_config local;
	char **listen[2], **tls_listen[2];          /* by enum mmp_proto */
	struct mmp_backend_host *backends[2];
	int nbackends[2];
	int backend_port[2];
	int idle_timeout[2];
	const char *capability;                     /* IMAP, before login */
	bool backend_starttls;
	const char *backend_cafile;
	const char *backend_login, *backend_password;
	int backend_timeout;
	int preauth_timeout;
	int max_sessions, max_per_client;
	int max_line;
	int max_bad_logins;
	int bad_login_max_delay;
	int bad_login_window;
	int plaintext_min_cipher;
	int auth_cache_ttl;
	size_t auth_cache_size;
	char **allow, **deny, **proxy_from;
	const char *admin_listen;
	const char *dns_servers;
	int dns_timeout_ms;
};

struct mmp_config *mmp_config_load(const char *path, char **errs);
void mmp_config_free(struct mmp_config **cfg);
/* mailHost's address for proto: mmp.*.backends, else the name itself and
 * the protocol's backend port. */
void mmp_config_backend(const struct mmp_config *cfg, enum mmp_proto proto,
    const char *mailhost, const char **host, int *port);

/* ---- access rules and per-address state ---- */

struct mmp_penalty;
struct mmp_penalty *mmp_penalty_new(int max_delay, int window);
void mmp_penalty_free(struct mmp_penalty **p);
/* A failed login from addr: the seconds to wait before saying so. */
int mmp_penalty_fail(struct mmp_penalty *p, const char *addr, long now);

/* ---- the server ---- */

/* What a listener accepts for. */
struct mmp_accept {
	struct mmp_server *srv;
	enum mmp_proto proto;
	bool tls;                           /* implicit TLS */
};

/* A client as accepted, or as a PROXY header says. */
struct mmp_peer {
	int fd;
	struct sockaddr_storage sa;
	char addr[INET6_ADDRSTRLEN];
	int port;
};

struct mmp_server {
	struct event_base *base;
	struct mmp_config *cfg;
	struct tls_ctx *tls;                /* NULL: no TLS to clients */
	struct tls_ctx *backend_tls;        /* NULL: plain to the stores */
	struct dir *dir;
	struct dns *dns;
	struct mmp_penalty *penalty;
	struct authcache *authcache;
	struct cidr *allow, *deny, *proxy_from;
	int nallow, ndeny, nproxy_from;
	struct evconnlistener **listeners;
	int nlisteners;
	struct mmp_session *sessions;
	void *peer_counts;                  /* countmap: sessions per address */
	struct mmp_accept accept[4];        /* by proto, plain then TLS */
	struct mmp_pending *pending;        /* waiting for a PROXY header */
	int npending;
	unsigned long next_id;
	int nsessions;
	bool draining;
	struct {
		unsigned long accepted, refused, logins_ok, logins_failed,
		    logins_unavailable, backend_failed, relayed_in,
		    relayed_out;
	} stats;
};

/* Open the listeners of cfg; false and *err on the first failure. */
bool mmp_listen(struct mmp_server *srv, char **err);
/* A listener's callback; arg is one of srv->accept. */
void mmp_on_accept(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen);
/* Fill p->addr and p->port from p->sa. */
void mmp_peer_describe(struct mmp_peer *p);
/* The connection comes from a balancer: read its PROXY header first. */
void mmp_proxy_header_wait(struct mmp_server *srv,
    const struct mmp_accept *acc, const struct mmp_peer *p);
void mmp_proxy_pending_free_all(struct mmp_server *srv);
/* The real client is known: the access rules, then a session. */
void mmp_session_admit(struct mmp_server *srv, const struct mmp_accept *acc,
    struct mmp_peer *p);
const char *mmp_proto_name(enum mmp_proto p);
/* Stop accepting, end sessions not yet logged in (relayed ones finish). */
void mmp_drain(struct mmp_server *srv);
void mmp_server_close(struct mmp_server *srv);
/* /metrics (admin_metrics_cb); arg is the server. */
void mmp_metrics(void *arg, struct evbuffer *out);

/* ---- sessions ---- */

enum mmp_state {
	MMP_PREAUTH,        /* reading commands */
	MMP_LOGIN,          /* a login in progress: nothing read meanwhile */
	MMP_RELAY,          /* bytes both ways */
	MMP_CLOSING,        /* the last reply goes out, then close */
};

struct mmp_session {
	struct mmp_server *srv;
	struct mmp_session *prev, *next;
	unsigned long id;
	enum mmp_proto proto;
	enum mmp_state state;
	struct bufferevent *bev;            /* the client */
	struct bufferevent *back;           /* the store, once connecting */
	bool tls, starttls;
	bool peer_eof;                      /* the client shut down its side */
	char peer[INET6_ADDRSTRLEN];
	int peer_port;
	struct sockaddr_storage peer_sa;
	struct net_line line;
	char *linebuf;                      /* POP3, before login */
	bool reading;                       /* inside mmp_session_resume() */
	/* IMAP, before login: one command being read (lines, literals) */
	char *cmd;
	size_t cmdlen, literal_left;
	char tag[64];
	/* POP3: USER given, waiting for PASS */
	char *pop_user;
	/* the login */
	struct sasl_exchange *sasl;
	char *login;                        /* as the client gave it */
	char *pass;                         /* until the directory said yes */
	char *user;                         /* the user's mail address */
	char *mailhost;
	struct dir_req *dir_req;
	struct dns_req *dns_req;
	struct event *timer;                /* penalty delay, backend timeout */
	int bad_logins;
	int errors;                         /* protocol errors */
	/* the store */
	int back_step;
	char *back_reply;                   /* the store's answer to the login */
};

/* Write a line (CRLF added) to the client. */
void mmp_reply(struct mmp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Say the last words and close once they are out. */
void mmp_close_after_reply(struct mmp_session *s);
/* Free the session now. */
void mmp_session_free(struct mmp_session *s);
/* Read what the client sent (after an asynchronous step ends). */
void mmp_session_resume(struct mmp_session *s);
/* Whether a password may cross this connection now. */
bool mmp_plaintext_ok(const struct mmp_session *s);
/* STARTTLS/STLS: the go-ahead was queued; switch once it is out. */
void mmp_session_starttls(struct mmp_session *s);

/* Front ends: one line (or assembled IMAP command) before login; a POP3
 * line is NULL when it was over mmp.maxlinelength. */
void mmp_imap_greet(struct mmp_session *s);
/* Assemble one IMAP command (lines and literals) in s->cmd; false when
 * more input is needed or the session ended. */
bool mmp_imap_read_command(struct mmp_session *s);
void mmp_imap_input(struct mmp_session *s);
void mmp_pop_greet(struct mmp_session *s);
void mmp_pop_line(struct mmp_session *s, char *line);

/* How a login ended, for the front end to say. */
enum mmp_login_result {
	MMP_LOGIN_OK,               /* relaying; reply holds the store's text */
	MMP_LOGIN_FAILED,           /* wrong password or no such user */
	MMP_LOGIN_REFUSED,          /* the account may not log in */
	MMP_LOGIN_UNAVAILABLE,      /* directory or store down: try later */
	MMP_LOGIN_STORE_NO,         /* the store said no; reply holds why */
};
/* One step of AUTHENTICATE / AUTH (s->sasl): b64 is the initial response
 * (or NULL), then each response line.  On MMP_SASL_LOGIN the login has
 * started (mmp_login_start); on the others the exchange is over but for
 * MMP_SASL_CHALLENGE, whose *challenge goes to the client. */
enum mmp_sasl_result {
	MMP_SASL_CHALLENGE,
	MMP_SASL_LOGIN,
	MMP_SASL_MALFORMED,
	MMP_SASL_AUTHZ,             /* acting for another user: refused */
};
enum mmp_sasl_result mmp_sasl_step(struct mmp_session *s, const char *b64,
    const char **challenge);
/* Check login/password and connect the user to the store; the front
 * end's mmp_*_login_done is called with the result (maybe at once). */
void mmp_login_start(struct mmp_session *s, const char *login,
    const char *password);
void mmp_login_cancel(struct mmp_session *s);
void mmp_imap_login_done(struct mmp_session *s, enum mmp_login_result r,
    const char *text);
void mmp_pop_login_done(struct mmp_session *s, enum mmp_login_result r,
    const char *text);

/* The store: connect to addr (numeric) and port, log in for s->user;
 * calls mmp_login_backend_done with the outcome. */
void mmp_backend_start(struct mmp_session *s, const char *addr, int port);
void mmp_backend_cancel(struct mmp_session *s);
void mmp_login_backend_done(struct mmp_session *s, enum mmp_login_result r,
    const char *text);

/* Relay bytes between the client and the store until either ends. */
void mmp_relay_start(struct mmp_session *s);

#endif
