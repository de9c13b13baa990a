/*
 * imta_conf: imta.cnf, the seed's rewrite rules and channel blocks, parsed
 * into data, for the mta (which evaluates the rules: mta/rewrite.c) and
 * jobctl (which schedules by the channel keywords).
 *
 * Owns: every string of the parsed configuration; one imta_conf_free()
 * releases it all.  Failure policy: a configuration is accepted whole or
 * refused whole; every problem is reported as "file:line: message" and the
 * caller (mta -t, start-up, SIGHUP) decides what to do with the list.  We
 * are strict where the seed is lax: an unknown keyword, a bad argument, a
 * conflicting keyword pair in one block, a duplicate channel or host name,
 * or a switch/expand channel that does not exist is an error.
 */
#ifndef COMMON_IMTA_CONF_H
#define COMMON_IMTA_CONF_H

#include <stdbool.h>
#include <stdio.h>

#define IMTA_RULES_MAX     100000
#define IMTA_CHANNELS_MAX  1000
#define IMTA_HOSTS_MAX     10000      /* host names of all channels together */
#define IMTA_NAME_MAX      32         /* channel and pool names (the seed's limit) */
#define IMTA_HOST_MAX      255
#define IMTA_BACKOFF_MAX   16
#define IMTA_NOTICES_MAX   5

enum imta_prio { IMTA_URGENT, IMTA_NORMAL, IMTA_NONURGENT, IMTA_NPRIO };

enum imta_direction { IMTA_BIDIRECTIONAL, IMTA_MASTER, IMTA_SLAVE };
enum imta_protocol { IMTA_PROTO_NONE, IMTA_PROTO_SMTP, IMTA_PROTO_LMTP };
enum imta_route { IMTA_ROUTE_MX, IMTA_ROUTE_NOMX, IMTA_ROUTE_DAEMON };
enum imta_grouping { IMTA_MULTIPLE, IMTA_SINGLE, IMTA_SINGLE_SYS };
enum imta_switch { IMTA_NOSWITCH, IMTA_SWITCH, IMTA_ALLOWSWITCH };
enum imta_mode { IMTA_NO, IMTA_MAY, IMTA_MUST };   /* TLS and SASL */
enum imta_ident {
	IMTA_IDENTNONE, IMTA_IDENTNONELIMITED, IMTA_IDENTNONENUMERIC,
	IMTA_IDENTNONESYMBOLIC, IMTA_IDENTTCP, IMTA_IDENTTCPLIMITED,
	IMTA_IDENTTCPNUMERIC, IMTA_IDENTTCPSYMBOLIC,
};

/* The keywords of one channel, after `defaults` were applied.  A count of
 * 0 (nbackoff, nnotices) or a limit of 0 means "not set". */
struct imta_keywords {
	enum imta_direction direction;
	enum imta_protocol protocol;
	enum imta_route route;
	char *daemon;                      /* with IMTA_ROUTE_DAEMON */
	enum imta_grouping grouping;
	char *pool;
	int maxjobs, filesperjob, threaddepth;
	long long after;                   /* seconds */
	long long backoff[IMTA_NPRIO][IMTA_BACKOFF_MAX];   /* seconds */
	int nbackoff[IMTA_NPRIO];
	int notices[IMTA_NPRIO][IMTA_NOTICES_MAX];         /* days */
	int nnotices[IMTA_NPRIO];
	bool deferred, immnonurgent;
	long blocklimit, prioblocklimit[IMTA_NPRIO];
	int holdlimit, expandlimit;
	char *expandchannel;
	int transactionlimit, recipientlimit;
	enum imta_switch switching;
	char *saslswitchchannel, *tlsswitchchannel;
	enum imta_mode tls_server, tls_client, sasl_server;
	bool mailfromdnsverify;
	enum imta_ident ident;
	bool service;
	int subdirs;
	bool defragment;
	bool chunking_client, chunking_server;   /* default true */
	bool loopcheck;
};

struct imta_rule {
	char *pattern;
	char *tmpl;
	const char *file;
	int line;
};

struct imta_channel {
	char *name;
	struct imta_keywords kw;
	char **hosts;           /* hosts[0] is the official host name */
	int nhosts;
	const char *file;
	int line;
};

struct imta_conf;

/* Read path (and its includes).  Returns NULL when there is any error;
 * *errs then holds one "file:line: message" per line (free it). */
struct imta_conf *imta_conf_load(const char *path, char **errs);
/* The same for text in memory (tests); name is used in messages. */
struct imta_conf *imta_conf_parse(const char *name, const char *text,
    char **errs);
void imta_conf_free(struct imta_conf **conf);

int imta_conf_nrules(const struct imta_conf *conf);
const struct imta_rule *imta_conf_rule(const struct imta_conf *conf, int i);
int imta_conf_nchannels(const struct imta_conf *conf);
const struct imta_channel *imta_conf_channel(const struct imta_conf *conf,
    int i);
const struct imta_channel *imta_conf_channel_by_name(
    const struct imta_conf *conf, const char *name);
/* The channel one of whose host names is host (case-insensitive). */
const struct imta_channel *imta_conf_channel_by_host(
    const struct imta_conf *conf, const char *host);

/* Effective retry schedule of a channel: its own, else the seed's default
 * (urgent 30,60,60,120,120,120,240 minutes; normal and non-urgent double
 * and quadruple).  The last interval repeats. */
const long long *imta_channel_backoff(const struct imta_channel *ch,
    enum imta_prio prio, int *n);
/* Effective notice marks in days: the channel's, else the `l` channel's,
 * else 3 6 9 12 (the seed's rule). */
const int *imta_channel_notices(const struct imta_conf *conf,
    const struct imta_channel *ch, enum imta_prio prio, int *n);

/* Print the canonical form: an imta.cnf that parses to the same
 * configuration, rules first, then one block per channel with defaults
 * applied and only the keywords that differ from the built-in defaults,
 * in a fixed order, durations in seconds as ISO 8601. */
void imta_conf_dump(const struct imta_conf *conf, FILE *out);

#endif
