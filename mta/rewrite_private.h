/*
 * rewrite_private: what rewrite.c (the lookup order, restarts, results)
 * and rewrite_template.c (conditions and expansion of one template)
 * share.  Not for other modules.
 */
#ifndef MTA_REWRITE_PRIVATE_H
#define MTA_REWRITE_PRIVATE_H

#include "rewrite.h"

/* The values of the substitutions for one pattern match (see rewrite.h's
 * table).  All point into the caller's buffers. */
struct rewrite_subst {
	const char *user;       /* $U */
	const char *host;       /* $H */
	const char *dom;        /* $D */
	const char *lit;        /* $L */
};

enum rewrite_form {
	REWRITE_ROUTE,          /* A%B@C, A@B */
	REWRITE_RESTART,        /* A%B */
	REWRITE_SOURCE_ROUTE,   /* A@B@C@D, A@B@C */
};

enum rewrite_verdict {
	REWRITE_OK,
	REWRITE_SKIP,           /* this rule does not apply: search on */
	REWRITE_FATAL,          /* a cap was hit: the rewrite fails */
};

/* One expanded template.  Every string is malloc'd or NULL. */
struct rewrite_expansion {
	enum rewrite_form form;
	char *user, *domain;    /* A, B */
	char *sroute;           /* C of A@B@C@D */
	char *route;            /* the routing host (C of A%B@C, D of A@B@C@D) */
	char *errtext;          /* $?text, whatever the verdict */
	char *why;              /* for SKIP and FATAL: what happened */
};

/* Check the conditions $E $B $F $R $M $N, then expand tmpl into x. */
enum rewrite_verdict rewrite_template_expand(const char *tmpl,
    const struct rewrite_subst *s, const struct rewrite_ctx *ctx,
    struct rewrite_expansion *x);
/* Check $Q / $C against dst (a channel name, or NULL: unknown, where $Q
 * fails and $C holds).  Returns REWRITE_OK or REWRITE_SKIP with x->why. */
enum rewrite_verdict rewrite_template_dest(const char *tmpl, const char *dst,
    struct rewrite_expansion *x);
void rewrite_expansion_clear(struct rewrite_expansion *x);

#endif
