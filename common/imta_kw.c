/*
 * imta_kw: the channel keywords of imta.cnf as a table of data (name, type,
 * conflict group, field), their argument parsers, and their canonical dump.
 *
 *   keyword-list = *( WSP keyword [ WSP argument ... ] )
 *   keyword      = 1*( ALPHA / DIGIT / "_" )      ; case-insensitive
 *   duration     = ISO 8601, optionally in double quotes ("pt30m")
 *
 * Keywords of one conflict group (master/slave/bidirectional, mx/nomx/
 * daemon, ...) exclude each other inside one block; a block may override
 * what `defaults` said.  Errors are returned as allocated messages; the
 * caller adds file:line.
 */
#include "imta_conf_private.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "xmalloc.h"

enum kw_type {
	KW_ENUM,        /* int field(s) = value */
	KW_BOOL,        /* bool field(s) = value */
	KW_INT,         /* int field = argument in [min, max] */
	KW_LONG,        /* long field = argument in [min, max] */
	KW_NAME,        /* char * field = channel or pool name */
	KW_DAEMON,      /* route = daemon, daemon = host */
	KW_DURATION,    /* long long field = one duration */
	KW_BACKOFF,     /* value: priority, or -1 for all */
	KW_NOTICES,     /* value: priority, or -1 for all */
};

enum {
	G_DIR = 1 << 0, G_PROTO = 1 << 1, G_ROUTE = 1 << 2, G_GROUPING = 1 << 3,
	G_DEFERRED = 1 << 4, G_SWITCH = 1 << 5, G_TLSS = 1 << 6, G_TLSC = 1 << 7,
	G_SASL = 1 << 8, G_IDENT = 1 << 9, G_SERVICE = 1 << 10,
	G_CHUNKC = 1 << 11, G_CHUNKS = 1 << 12, G_COUNT = 13,
};

#define NONE ((size_t)-1)

struct imta_kwdef {
	const char *name;
	enum kw_type type;
	unsigned group;
	size_t off;
	size_t off2;        /* second field set together (maytls), or partner */
	bool both;          /* off2 is set too; else off2 is only the partner */
	int value;
	long min, max;
};

#define F(f) offsetof(struct imta_keywords, f)
#define E(n, g, f, v)         { n, KW_ENUM, g, F(f), NONE, false, v, 0, 0 }
#define E2(n, g, f, f2, v)    { n, KW_ENUM, g, F(f), F(f2), true, v, 0, 0 }
#define EP(n, g, f, f2, v)    { n, KW_ENUM, g, F(f), F(f2), false, v, 0, 0 }
#define B(n, g, f, v)         { n, KW_BOOL, g, F(f), NONE, false, v, 0, 0 }
#define B2(n, g, f, f2, v)    { n, KW_BOOL, g, F(f), F(f2), true, v, 0, 0 }
#define BP(n, g, f, f2, v)    { n, KW_BOOL, g, F(f), F(f2), false, v, 0, 0 }
#define I(n, f, lo, hi)       { n, KW_INT, 0, F(f), NONE, false, 0, lo, hi }
#define L(n, f, lo, hi)       { n, KW_LONG, 0, F(f), NONE, false, 0, lo, hi }
#define N(n, f)               { n, KW_NAME, 0, F(f), NONE, false, 0, 0, 0 }
#define BO(n, p)              { n, KW_BACKOFF, 0, NONE, NONE, false, p, 0, 0 }
#define NO(n, p)              { n, KW_NOTICES, 0, NONE, NONE, false, p, 0, 0 }

/* The order of this table is the order of the canonical dump. */
static const struct imta_kwdef imta_kwdefs[] = {
	E("bidirectional", G_DIR, direction, IMTA_BIDIRECTIONAL),
	E("master", G_DIR, direction, IMTA_MASTER),
	E("slave", G_DIR, direction, IMTA_SLAVE),
	E("smtp", G_PROTO, protocol, IMTA_PROTO_SMTP),
	E("lmtp", G_PROTO, protocol, IMTA_PROTO_LMTP),
	E("mx", G_ROUTE, route, IMTA_ROUTE_MX),
	E("nomx", G_ROUTE, route, IMTA_ROUTE_NOMX),
	{ "daemon", KW_DAEMON, G_ROUTE, F(daemon), NONE, false, 0, 0, 0 },
	E("multiple", G_GROUPING, grouping, IMTA_MULTIPLE),
	E("single", G_GROUPING, grouping, IMTA_SINGLE),
	E("single_sys", G_GROUPING, grouping, IMTA_SINGLE_SYS),
	N("pool", pool),
	I("maxjobs", maxjobs, 1, 10000),
	I("filesperjob", filesperjob, 1, 100000),
	I("threaddepth", threaddepth, 1, 1000000),
	{ "after", KW_DURATION, 0, F(after), NONE, false, 0, 0, 0 },
	BO("backoff", -1),
	BO("urgentbackoff", IMTA_URGENT),
	BO("normalbackoff", IMTA_NORMAL),
	BO("nonurgentbackoff", IMTA_NONURGENT),
	NO("notices", -1),
	NO("urgentnotices", IMTA_URGENT),
	NO("normalnotices", IMTA_NORMAL),
	NO("nonurgentnotices", IMTA_NONURGENT),
	B("deferred", G_DEFERRED, deferred, true),
	B("nodeferred", G_DEFERRED, deferred, false),
	B("immnonurgent", 0, immnonurgent, true),
	L("blocklimit", blocklimit, 1, 2147483647L),
	L("urgentblocklimit", prioblocklimit[IMTA_URGENT], 1, 2147483647L),
	L("normalblocklimit", prioblocklimit[IMTA_NORMAL], 1, 2147483647L),
	L("nonurgentblocklimit", prioblocklimit[IMTA_NONURGENT], 1, 2147483647L),
	I("holdlimit", holdlimit, 1, 1000000),
	I("expandlimit", expandlimit, 1, 1000000),
	N("expandchannel", expandchannel),
	I("transactionlimit", transactionlimit, 1, 1000000),
	I("recipientlimit", recipientlimit, 1, 1000000),
	E("noswitchchannel", G_SWITCH, switching, IMTA_NOSWITCH),
	E("switchchannel", G_SWITCH, switching, IMTA_SWITCH),
	E("allowswitchchannel", G_SWITCH, switching, IMTA_ALLOWSWITCH),
	N("saslswitchchannel", saslswitchchannel),
	N("tlsswitchchannel", tlsswitchchannel),
	E2("notls", G_TLSS | G_TLSC, tls_server, tls_client, IMTA_NO),
	E2("maytls", G_TLSS | G_TLSC, tls_server, tls_client, IMTA_MAY),
	E2("musttls", G_TLSS | G_TLSC, tls_server, tls_client, IMTA_MUST),
	EP("maytlsserver", G_TLSS, tls_server, tls_client, IMTA_MAY),
	EP("musttlsserver", G_TLSS, tls_server, tls_client, IMTA_MUST),
	EP("maytlsclient", G_TLSC, tls_client, tls_server, IMTA_MAY),
	EP("musttlsclient", G_TLSC, tls_client, tls_server, IMTA_MUST),
	E("maysaslserver", G_SASL, sasl_server, IMTA_MAY),
	E("mustsaslserver", G_SASL, sasl_server, IMTA_MUST),
	B("mailfromdnsverify", 0, mailfromdnsverify, true),
	E("identnone", G_IDENT, ident, IMTA_IDENTNONE),
	E("identnonelimited", G_IDENT, ident, IMTA_IDENTNONELIMITED),
	E("identnonenumeric", G_IDENT, ident, IMTA_IDENTNONENUMERIC),
	E("identnonesymbolic", G_IDENT, ident, IMTA_IDENTNONESYMBOLIC),
	E("identtcp", G_IDENT, ident, IMTA_IDENTTCP),
	E("identtcplimited", G_IDENT, ident, IMTA_IDENTTCPLIMITED),
	E("identtcpnumeric", G_IDENT, ident, IMTA_IDENTTCPNUMERIC),
	E("identtcpsymbolic", G_IDENT, ident, IMTA_IDENTTCPSYMBOLIC),
	B("service", G_SERVICE, service, true),
	B("noservice", G_SERVICE, service, false),
	I("subdirs", subdirs, 1, 1024),
	B("defragment", 0, defragment, true),
	B2("chunking", G_CHUNKC | G_CHUNKS, chunking_client, chunking_server, true),
	B2("nochunking", G_CHUNKC | G_CHUNKS, chunking_client, chunking_server, false),
	BP("chunkingclient", G_CHUNKC, chunking_client, chunking_server, true),
	BP("nochunkingclient", G_CHUNKC, chunking_client, chunking_server, false),
	BP("chunkingserver", G_CHUNKS, chunking_server, chunking_client, true),
	BP("nochunkingserver", G_CHUNKS, chunking_server, chunking_client, false),
	B("loopcheck", 0, loopcheck, true),
};
#define NKW ((int)(sizeof imta_kwdefs / sizeof imta_kwdefs[0]))

_Static_assert(sizeof imta_kwdefs / sizeof imta_kwdefs[0] <= 128,
    "imta_kwstate.seen is too small");

/* The seed's retry intervals in minutes; normal and non-urgent are the
 * urgent ones doubled and quadrupled. */
const long long imta_default_backoff[IMTA_NPRIO][IMTA_DEFAULT_BACKOFF_N] = {
	{ 30 * 60, 60 * 60, 60 * 60, 120 * 60, 120 * 60, 120 * 60, 240 * 60 },
	{ 60 * 60, 120 * 60, 120 * 60, 240 * 60, 240 * 60, 240 * 60, 480 * 60 },
	{ 120 * 60, 240 * 60, 240 * 60, 480 * 60, 480 * 60, 480 * 60, 960 * 60 },
};

#define AT(kw, off, T) (*(T *)((char *)(kw) + (off)))
#define CAT(kw, off, T) (*(const T *)((const char *)(kw) + (off)))

bool
imta_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > IMTA_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

/* Letters, digits, '-', '_' (the seed's tcp_local-daemon style), labels
 * of 1..63 separated by single dots. */
bool
imta_valid_host(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > IMTA_HOST_MAX)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0;
}

void
imta_kw_init(struct imta_keywords *kw)
{
	memset(kw, 0, sizeof *kw);
	kw->chunking_client = kw->chunking_server = true;
}

void
imta_kw_clear(struct imta_keywords *kw)
{
	free(kw->daemon);
	free(kw->pool);
	free(kw->expandchannel);
	free(kw->saslswitchchannel);
	free(kw->tlsswitchchannel);
	imta_kw_init(kw);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void
imta_kw_copy(struct imta_keywords *dst, const struct imta_keywords *src)
{
	*dst = *src;
	dst->daemon = dup_or_null(src->daemon);
	dst->pool = dup_or_null(src->pool);
	dst->expandchannel = dup_or_null(src->expandchannel);
	dst->saslswitchchannel = dup_or_null(src->saslswitchchannel);
	dst->tlsswitchchannel = dup_or_null(src->tlsswitchchannel);
}

static const struct imta_kwdef *
kw_find(const char *name, int *index)
{
	for (int i = 0; i < NKW; i++)
		if (strcasecmp(imta_kwdefs[i].name, name) == 0) {
			*index = i;
			return &imta_kwdefs[i];
		}
	return NULL;
}

/* Strip one pair of double quotes ("pt30m"); NULL if unbalanced. */
static const char *
kw_unquote(const char *w, char *buf, size_t cap)
{
	size_t n = strlen(w);
	if (w[0] != '"')
		return w;
	if (n < 2 || w[n - 1] != '"' || n - 2 >= cap)
		return NULL;
	memcpy(buf, w + 1, n - 2);
	buf[n - 2] = '\0';
	return buf;
}

static bool
kw_number(const char *s, long min, long max, long *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return false;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
kw_looks_like_duration(const char *w)
{
	return w[0] == '"' || w[0] == 'p' || w[0] == 'P' ||
	    isdigit((unsigned char)w[0]);
}

static char *
kw_backoff(struct imta_keywords *kw, struct imta_kwstate *st,
    const struct imta_kwdef *d, char **words, int nwords, int *i)
{
	long long v[IMTA_BACKOFF_MAX];
	int n = 0;
	char buf[64];

	while (*i + 1 < nwords && kw_looks_like_duration(words[*i + 1])) {
		const char *w = kw_unquote(words[*i + 1], buf, sizeof buf);
		long long secs;
		/* An unquoted word that is no duration is the next keyword. */
		if (w == NULL || !duration_parse(w, &secs) || secs <= 0) {
			if (words[*i + 1][0] != '"' && n > 0)
				break;
			return xasprintf("%s: \"%s\" is not an ISO 8601 duration",
			    d->name, words[*i + 1]);
		}
		if (n == IMTA_BACKOFF_MAX)
			return xasprintf("%s: more than %d intervals", d->name,
			    IMTA_BACKOFF_MAX);
		v[n++] = secs;
		(*i)++;
	}
	if (n == 0)
		return xasprintf("%s needs at least one ISO 8601 duration", d->name);
	for (int p = 0; p < IMTA_NPRIO; p++) {
		if (d->value >= 0 ? p != d->value : (st->backoff_prios >> p) & 1)
			continue;
		memcpy(kw->backoff[p], v, n * sizeof v[0]);
		kw->nbackoff[p] = n;
	}
	if (d->value >= 0)
		st->backoff_prios |= 1u << d->value;
	return NULL;
}

static char *
kw_notices(struct imta_keywords *kw, struct imta_kwstate *st,
    const struct imta_kwdef *d, char **words, int nwords, int *i)
{
	int v[IMTA_NOTICES_MAX];
	int n = 0;

	while (*i + 1 < nwords && isdigit((unsigned char)words[*i + 1][0])) {
		long days;
		if (!kw_number(words[*i + 1], 1, 365, &days))
			return xasprintf("%s: \"%s\" is not a number of days (1-365)",
			    d->name, words[*i + 1]);
		if (n == IMTA_NOTICES_MAX)
			return xasprintf("%s: more than %d marks", d->name,
			    IMTA_NOTICES_MAX);
		if (n > 0 && days <= v[n - 1])
			return xasprintf("%s: marks must increase (%ld after %d)",
			    d->name, days, v[n - 1]);
		v[n++] = (int)days;
		(*i)++;
	}
	if (n == 0)
		return xasprintf("%s needs at least one number of days", d->name);
	for (int p = 0; p < IMTA_NPRIO; p++) {
		if (d->value >= 0 ? p != d->value : (st->notices_prios >> p) & 1)
			continue;
		memcpy(kw->notices[p], v, n * sizeof v[0]);
		kw->nnotices[p] = n;
	}
	if (d->value >= 0)
		st->notices_prios |= 1u << d->value;
	return NULL;
}

static char *
kw_argument(struct imta_keywords *kw, const struct imta_kwdef *d,
    const char *arg)
{
	long v;
	long long secs;
	char buf[64];
	const char *w;

	switch (d->type) {
	case KW_INT:
	case KW_LONG:
		if (!kw_number(arg, d->min, d->max, &v))
			return xasprintf("%s: \"%s\" is not a number in %ld-%ld",
			    d->name, arg, d->min, d->max);
		if (d->type == KW_INT)
			AT(kw, d->off, int) = (int)v;
		else
			AT(kw, d->off, long) = v;
		return NULL;
	case KW_NAME:
		if (!imta_valid_name(arg))
			return xasprintf("%s: \"%s\" is not a valid name", d->name, arg);
		free(AT(kw, d->off, char *));
		AT(kw, d->off, char *) = xstrdup(arg);
		return NULL;
	case KW_DAEMON:
		if (!imta_valid_host(arg))
			return xasprintf("daemon: \"%s\" is not a host name", arg);
		free(kw->daemon);
		kw->daemon = xstrdup(arg);
		kw->route = IMTA_ROUTE_DAEMON;
		return NULL;
	case KW_DURATION:
		w = kw_unquote(arg, buf, sizeof buf);
		if (w == NULL || !duration_parse(w, &secs) || secs < 0)
			return xasprintf("%s: \"%s\" is not an ISO 8601 duration",
			    d->name, arg);
		AT(kw, d->off, long long) = secs;
		return NULL;
	default:
		return xasprintf("%s: internal error", d->name);
	}
}

static void
kw_set(struct imta_keywords *kw, const struct imta_kwdef *d)
{
	if (d->type == KW_ENUM) {
		if (d->off == F(route)) {     /* mx/nomx forget a default's daemon */
			free(kw->daemon);
			kw->daemon = NULL;
		}
		AT(kw, d->off, int) = d->value;
		if (d->both)
			AT(kw, d->off2, int) = d->value;
	} else {
		AT(kw, d->off, bool) = d->value;
		if (d->both)
			AT(kw, d->off2, bool) = d->value;
	}
}

/* Duplicates and conflicting pairs inside one block. */
static char *
kw_check_block(struct imta_kwstate *st, const struct imta_kwdef *d, int index)
{
	if (st->seen[index])
		return xasprintf("duplicate keyword \"%s\"", d->name);
	if (st->groups & d->group) {
		for (int j = 0; j < NKW; j++)
			if (st->seen[j] && (imta_kwdefs[j].group & d->group))
				return xasprintf("keyword \"%s\" conflicts with \"%s\"",
				    d->name, imta_kwdefs[j].name);
	}
	st->seen[index] = 1;
	st->groups |= d->group;
	return NULL;
}

static char *kw_apply_args(struct imta_keywords *kw, struct imta_kwstate *st,
    const struct imta_kwdef *d, char **words, int nwords, int *i);

/* After an error, step over the keyword's arguments so that they are not
 * reported again as unknown keywords. */
static void
kw_skip(const struct imta_kwdef *d, char **words, int nwords, int *i)
{
	switch (d->type) {
	case KW_ENUM:
	case KW_BOOL:
		return;
	case KW_BACKOFF:
		while (*i + 1 < nwords && kw_looks_like_duration(words[*i + 1]))
			(*i)++;
		return;
	case KW_NOTICES:
		while (*i + 1 < nwords && isdigit((unsigned char)words[*i + 1][0]))
			(*i)++;
		return;
	default:
		if (*i + 1 < nwords)
			(*i)++;
	}
}

char *
imta_kw_apply(struct imta_keywords *kw, struct imta_kwstate *st,
    char **words, int nwords, int *i)
{
	int index, start = *i;
	const struct imta_kwdef *d = kw_find(words[*i], &index);
	char *err;

	if (d == NULL)
		return xasprintf("unknown channel keyword \"%s\"", words[*i]);
	if ((err = kw_check_block(st, d, index)) == NULL)
		err = kw_apply_args(kw, st, d, words, nwords, i);
	if (err) {
		*i = start;
		kw_skip(d, words, nwords, i);
	}
	return err;
}

static char *
kw_apply_args(struct imta_keywords *kw, struct imta_kwstate *st,
    const struct imta_kwdef *d, char **words, int nwords, int *i)
{
	switch (d->type) {
	case KW_ENUM:
	case KW_BOOL:
		kw_set(kw, d);
		return NULL;
	case KW_BACKOFF:
		return kw_backoff(kw, st, d, words, nwords, i);
	case KW_NOTICES:
		return kw_notices(kw, st, d, words, nwords, i);
	default:
		if (*i + 1 >= nwords)
			return xasprintf("%s needs an argument", d->name);
		(*i)++;
		return kw_argument(kw, d, words[*i]);
	}
}

/* ISO 8601 form of a number of seconds: p1d, pt1h30m, pt0s. */
static void
dump_duration(long long s, FILE *out)
{
	long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
	fputs("\"p", out);
	if (d)
		fprintf(out, "%lldd", d);
	if (h || m || sec || !d)
		fputc('t', out);
	if (h)
		fprintf(out, "%lldh", h);
	if (m)
		fprintf(out, "%lldm", m);
	if (sec || (!d && !h && !m))
		fprintf(out, "%llds", sec);
	fputc('"', out);
}

/* backoff/notices: the general keyword when all priorities agree. */
static bool
dump_schedule(const struct imta_keywords *kw, const struct imta_kwdef *d,
    FILE *out)
{
	bool backoff = d->type == KW_BACKOFF;
	int n[IMTA_NPRIO];
	/* A schedule equal to the built-in default is the same as none. */
	for (int p = 0; p < IMTA_NPRIO; p++)
		n[p] = !backoff ? kw->nnotices[p] :
		    kw->nbackoff[p] == IMTA_DEFAULT_BACKOFF_N &&
		    memcmp(kw->backoff[p], imta_default_backoff[p],
		    sizeof imta_default_backoff[p]) == 0 ? 0 : kw->nbackoff[p];
	bool same = true;
	for (int p = 1; p < IMTA_NPRIO; p++)
		same = same && n[p] == n[0] && (backoff ?
		    memcmp(kw->backoff[p], kw->backoff[0], n[0] * sizeof(long long)) :
		    memcmp(kw->notices[p], kw->notices[0], n[0] * sizeof(int))) == 0;
	if (d->value < 0 ? !same || n[0] == 0 : same || n[d->value] == 0)
		return false;
	int p = d->value < 0 ? 0 : d->value;
	fprintf(out, " %s", d->name);
	for (int k = 0; k < n[p]; k++) {
		fputc(' ', out);
		if (backoff)
			dump_duration(kw->backoff[p][k], out);
		else
			fprintf(out, "%d", kw->notices[p][k]);
	}
	return true;
}

static bool
dump_one(const struct imta_keywords *kw, const struct imta_keywords *def,
    const struct imta_kwdef *d, FILE *out)
{
	switch (d->type) {
	case KW_ENUM:
		if (CAT(kw, d->off, int) != d->value ||
		    CAT(kw, d->off, int) == CAT(def, d->off, int))
			return false;
		if (d->off2 != NONE && d->both != (CAT(kw, d->off2, int) == d->value))
			return false;
		break;
	case KW_BOOL:
		if (CAT(kw, d->off, bool) != d->value ||
		    CAT(kw, d->off, bool) == CAT(def, d->off, bool))
			return false;
		if (d->off2 != NONE && d->both != (CAT(kw, d->off2, bool) == d->value))
			return false;
		break;
	case KW_INT:
		if (CAT(kw, d->off, int) == 0)
			return false;
		fprintf(out, " %s %d", d->name, CAT(kw, d->off, int));
		return true;
	case KW_LONG:
		if (CAT(kw, d->off, long) == 0)
			return false;
		fprintf(out, " %s %ld", d->name, CAT(kw, d->off, long));
		return true;
	case KW_NAME:
	case KW_DAEMON:
		if (CAT(kw, d->off, char *) == NULL)
			return false;
		fprintf(out, " %s %s", d->name, CAT(kw, d->off, char *));
		return true;
	case KW_DURATION:
		if (CAT(kw, d->off, long long) == 0)
			return false;
		fprintf(out, " %s ", d->name);
		dump_duration(CAT(kw, d->off, long long), out);
		return true;
	case KW_BACKOFF:
	case KW_NOTICES:
		return dump_schedule(kw, d, out);
	}
	fprintf(out, " %s", d->name);
	return true;
}

void
imta_kw_dump(const struct imta_keywords *kw, FILE *out)
{
	struct imta_keywords def;
	imta_kw_init(&def);
	for (int i = 0; i < NKW; i++)
		dump_one(kw, &def, &imta_kwdefs[i], out);
}
