/*
 * access: the seed's access mapping tables, each asked at the SMTP step
 * the seed names, so that a refusal costs no message data:
 *
 *   INTERNAL_IP        at connect   client-addr
 *   PORT_ACCESS        at connect   TCP|server-addr|server-port|client-addr|client-port
 *   FROM_ACCESS        MAIL FROM    port-probe|SMTP/helo|MAIL|src-channel|from|auth-user
 *   ORIG_SEND_ACCESS   RCPT, after the rewrite, before expansion:
 *                                   src-channel|from|dst-channel|to
 *   ORIG_MAIL_ACCESS   with it      port-probe|SMTP/helo|MAIL|src|from|dst|to
 *   SEND_ACCESS        RCPT, for each address the expansion gives
 *   MAIL_ACCESS        with it
 *
 * Fields a client chose (addresses, the login) have every "|" written as
 * "%7C", so that no field can pass for two: the probe's field positions
 * stay the server's.  HELO names cannot hold one (smtp_helo_valid).
 *
 * A table that is absent, or has no entry for the probe, allows.  $Y
 * allows, $N/$F refuse with the entry's text, $B discards, $H holds, $D
 * delays the reply, $J replaces the envelope sender (FROM_ACCESS).  A
 * table that could not be applied (a probe past the engine's caps) is a
 * temporary failure, never a silent "allow".
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mta.h"
#include "xmalloc.h"

void
access_verdict_clear(struct access_verdict *v)
{
	free(v->text);
	free(v->new_from);
	memset(v, 0, sizeof(*v));
}

char *
access_reply(const struct access_verdict *v, const char *what)
{
	if (v->tempfail)
		return xstrdup("451 4.3.0 Access check failed, try again later");
	return xasprintf("550 5.7.1 %s", v->text ? v->text : what);
}

static unsigned
access_tests(const struct access_ctx *ax)
{
	unsigned t = 0;

	if (ax->auth_user != NULL)
		t |= MAPPINGS_TEST_A;
	if (ax->tls)
		t |= MAPPINGS_TEST_T;
	if (ax->esmtp)
		t |= MAPPINGS_TEST_E;
	return t;
}

/* Apply one table; false when it refuses (v says how). */
static bool
access_apply(const struct mta_config *cfg, const char *table,
    const char *probe, unsigned tests, struct access_verdict *v)
{
	struct mappings_probe p = { probe, tests, NULL, NULL };
	struct mappings_result r;

	if (cfg->mappings == NULL || !mappings_has_table(cfg->mappings, table))
		return true;
	bool matched = mappings_apply(cfg->mappings, table, &p, &r);
	if (r.error != NULL) {
		log_warn("access %s: %s (probe \"%.200s\")", table, r.error, probe);
		v->tempfail = v->refused = true;
		mappings_result_clear(&r);
		return false;
	}
	if (matched) {
		log_debug("access %s probe=\"%.200s\" line=%d", table, probe,
		    r.entry_line);
		if (r.flags & MAPPINGS_D)
			v->delay = r.delay;
		if (r.flags & MAPPINGS_B)
			v->discard = true;
		if (r.flags & (MAPPINGS_H | MAPPINGS_I))
			v->hold = true;
		if ((r.flags & MAPPINGS_J) && r.from != NULL) {
			free(v->new_from);
			v->new_from = xstrdup(r.from);
		}
		if (r.flags & (MAPPINGS_N)) {
			v->refused = true;
			free(v->text);
			v->text = r.text != NULL && *r.text != '\0' ?
			    xstrdup(r.text) : NULL;
		}
	}
	mappings_result_clear(&r);
	return !v->refused;
}

bool
access_internal(const struct mta_config *cfg, const char *client_addr)
{
	struct mappings_probe p = { client_addr, 0, NULL, NULL };
	struct mappings_result r;
	bool internal;

	if (cfg->mappings == NULL)
		return false;
	internal = mappings_apply(cfg->mappings, "INTERNAL_IP", &p, &r) &&
	    r.error == NULL && (r.flags & MAPPINGS_Y) &&
	    !(r.flags & MAPPINGS_N);
	mappings_result_clear(&r);
	return internal;
}

bool
access_port(const struct mta_config *cfg, const char *port_probe,
    struct access_verdict *v)
{
	return access_apply(cfg, "PORT_ACCESS", port_probe, 0, v);
}

/* A client's text for a probe: "|" becomes "%7C". */
static char *
access_field(const char *s)
{
	size_t bars = 0;

	for (const char *p = s; *p; p++)
		bars += *p == '|';
	char *out = xmalloc(strlen(s) + 2 * bars + 1), *o = out;
	for (const char *p = s; *p; p++) {
		if (*p == '|')
			o = stpcpy(o, "%7C");
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

bool
access_from(const struct access_ctx *ax, struct access_verdict *v)
{
	char *from = access_field(ax->from);
	char *auth = access_field(ax->auth_user ? ax->auth_user : "");
	char *probe = xasprintf("%s|SMTP/%s|MAIL|%s|%s|%s", ax->port_probe,
	    ax->helo, ax->src_channel, from, auth);
	bool ok = access_apply(ax->cfg, "FROM_ACCESS", probe, access_tests(ax), v);

	free(probe);
	free(from);
	free(auth);
	return ok;
}

bool
access_send(const struct access_ctx *ax, bool orig, const char *dst_channel,
    const char *to, struct access_verdict *v)
{
	unsigned tests = access_tests(ax);
	char *from = access_field(ax->from), *rcpt = access_field(to);
	char *send = xasprintf("%s|%s|%s|%s", ax->src_channel, from,
	    dst_channel, rcpt);
	char *mail = xasprintf("%s|SMTP/%s|MAIL|%s", ax->port_probe, ax->helo,
	    send);
	bool ok = access_apply(ax->cfg, orig ? "ORIG_SEND_ACCESS" : "SEND_ACCESS",
	    send, tests, v) &&
	    access_apply(ax->cfg, orig ? "ORIG_MAIL_ACCESS" : "MAIL_ACCESS",
	    mail, tests, v);

	free(send);
	free(mail);
	free(from);
	free(rcpt);
	return ok;
}
