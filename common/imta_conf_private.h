/*
 * imta_conf_private: what imta_conf.c and imta_kw.c (the channel keyword
 * table) share.  Not for other modules.
 */
#ifndef COMMON_IMTA_CONF_PRIVATE_H
#define COMMON_IMTA_CONF_PRIVATE_H

#include "imta_conf.h"

/* What one block has said so far: conflicts and duplicates are errors
 * inside a block, while a block may override its defaults freely. */
struct imta_kwstate {
	unsigned groups;            /* IMTA_G_* bits taken */
	unsigned backoff_prios;     /* priorities given explicitly */
	unsigned notices_prios;
	unsigned char seen[128];    /* by keyword index */
};

void imta_kw_init(struct imta_keywords *kw);
void imta_kw_copy(struct imta_keywords *dst, const struct imta_keywords *src);
void imta_kw_clear(struct imta_keywords *kw);

/* Apply the keyword words[*i] (and its arguments, advancing *i).  Returns
 * NULL or an allocated error message. */
char *imta_kw_apply(struct imta_keywords *kw, struct imta_kwstate *st,
    char **words, int nwords, int *i);

/* Print the keywords that differ from imta_kw_init()'s, in table order. */
void imta_kw_dump(const struct imta_keywords *kw, FILE *out);

/* The seed's retry intervals when a channel names none (imta_kw.c). */
#define IMTA_DEFAULT_BACKOFF_N 7
extern const long long imta_default_backoff[IMTA_NPRIO][IMTA_DEFAULT_BACKOFF_N];

bool imta_valid_name(const char *s);
bool imta_valid_host(const char *s);

#endif
