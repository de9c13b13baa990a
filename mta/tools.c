/*
 * tools: the operator's debugging commands, the seed's `imsimta test
 * -rewrite` and `imsimta test -mapping`:
 *
 *   mta -c msg.conf test-rewrite ADDRESS [--from ADDR] [--channel NAME]
 *   mta -c msg.conf test-mapping TABLE PROBE [--tests ATEL]
 *
 * test-rewrite routes ADDRESS exactly as a RCPT TO from a client on
 * channel NAME (default: service.smtp.channel) with sender ADDR would be:
 * every rewrite rule tried, the ORIG_SEND_ACCESS/ORIG_MAIL_ACCESS verdict,
 * the directory's answers, aliases and expansions, then SEND_ACCESS for
 * each destination.  It asks the real directory (local.ldap.*).  Exit
 * status: 0 routed, 1 refused, 2 usage.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "mta.h"
#include "xmalloc.h"

struct tools_route {
	struct mta_config *cfg;
	const char *from, *channel;
	struct event_base *base;
	int status;
	char *refusal;
};

static void
tools_trace(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

static void
tools_access_ctx(struct tools_route *t, struct access_ctx *ax)
{
	*ax = (struct access_ctx){
		.cfg = t->cfg, .port_probe = "TCP|127.0.0.1|25|127.0.0.1|0",
		.helo = "test-rewrite", .src_channel = t->channel,
		.from = t->from, .esmtp = true,
	};
}

/* Print a table's verdict; a refusal is kept as the reply a client would
 * get, and returned. */
static const char *
tools_verdict(struct tools_route *t, const char *tables, bool ok,
    struct access_verdict *v)
{
	if (ok) {
		printf("  %s: allowed%s%s\n", tables, v->discard ? " (discard)" :
		    "", v->hold ? " (hold)" : "");
		return NULL;
	}
	free(t->refusal);
	t->refusal = access_reply(v, "Recipient refused");
	printf("  %s: %s\n", tables, v->tempfail ? "could not be applied" :
	    "refused");
	return t->refusal;
}

static const char *
tools_orig_check(void *arg, const char *channel, const char *address)
{
	struct tools_route *t = arg;
	struct access_ctx ax;
	struct access_verdict v = { 0 };

	tools_access_ctx(t, &ax);
	const char *r = tools_verdict(t, "ORIG_SEND_ACCESS/ORIG_MAIL_ACCESS",
	    access_send(&ax, true, channel, address, &v), &v);
	access_verdict_clear(&v);
	return r;
}

static void
tools_on_route(void *arg, const struct route_answer *ans)
{
	struct tools_route *t = arg;
	struct access_ctx ax;

	tools_access_ctx(t, &ax);
	for (size_t i = 0; ans->reply == NULL && i < ans->ndests; i++) {
		struct access_verdict v = { 0 };
		printf("  check %s channel %s\n", ans->dests[i].address,
		    ans->dests[i].channel);
		if (tools_verdict(t, "SEND_ACCESS/MAIL_ACCESS", access_send(&ax,
		    false, ans->dests[i].channel, ans->dests[i].address, &v),
		    &v) != NULL)
			t->status = 1;
		access_verdict_clear(&v);
	}
	if (ans->reply != NULL) {
		printf("result:  refused: %s\n", ans->reply);
		t->status = 1;
	} else if (t->status != 0) {
		printf("result:  refused: %s\n", t->refusal);
	} else {
		printf("result:  accepted\n");
		for (size_t i = 0; i < ans->ndests; i++)
			printf("  %-16s %s\n", ans->dests[i].channel,
			    ans->dests[i].address);
	}
	event_base_loopexit(t->base, NULL);
}

int
tools_test_rewrite(struct mta_config *cfg, int argc, char **argv)
{
	struct tools_route t = { .cfg = cfg, .from = "", .channel =
	    cfg->smtp_channel };
	const char *address = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			t.from = argv[++i];
		else if (strcmp(argv[i], "--channel") == 0 && i + 1 < argc)
			t.channel = argv[++i];
		else if (address == NULL && argv[i][0] != '-')
			address = argv[i];
		else
			address = NULL, argc = -1;
	}
	if (address == NULL || argc < 0) {
		fprintf(stderr, "usage: mta -c msg.conf test-rewrite ADDRESS "
		    "[--from ADDR] [--channel NAME]\n");
		return 2;
	}
	if (imta_conf_channel_by_name(cfg->imta, t.channel) == NULL) {
		fprintf(stderr, "test-rewrite: no channel \"%s\"\n", t.channel);
		return 2;
	}
	printf("address: %s\nfrom:    <%s>\nchannel: %s\n", address, t.from,
	    t.channel);
	t.base = event_base_new();
	struct dir *dir = local_dir_open(t.base, &cfg->local);
	struct route_params p = {
		.cfg = cfg, .dir = dir, .src_channel = t.channel,
		.address = address, .orig_check = tools_orig_check,
		.trace = tools_trace, .arg = &t,
	};
	if (route_resolve(&p, tools_on_route) != NULL)
		event_base_dispatch(t.base);
	dir_free(&dir);
	event_base_free(t.base);
	free(t.refusal);
	return t.status;
}

static void
tools_print_flags(unsigned f)
{
	static const char letters[] = "YNBHIDJK";

	for (int i = 0; letters[i]; i++)
		if (f & (1u << i))
			printf(" $%c", letters[i]);
	printf("\n");
}

int
tools_test_mapping(struct mta_config *cfg, int argc, char **argv)
{
	struct mappings_probe probe = { 0 };
	struct mappings_result r;

	if (argc == 4 && strcmp(argv[2], "--tests") == 0) {
		for (const char *c = argv[3]; *c; c++) {
			const char *f = strchr("ATEL", *c);
			if (f == NULL)
				argc = -1;
			else
				probe.tests |= 1u << (f - "ATEL");
		}
	} else if (argc != 2) {
		argc = -1;
	}
	if (argc < 0) {
		fprintf(stderr, "usage: mta -c msg.conf test-mapping TABLE PROBE "
		    "[--tests ATEL]\n");
		return 2;
	}
	if (cfg->mappings == NULL || !mappings_has_table(cfg->mappings, argv[0])) {
		printf("table:   %s\nresult:  no such table (everything is "
		    "allowed)\n", argv[0]);
		return 1;
	}
	probe.input = argv[1];
	bool matched = mappings_apply(cfg->mappings, argv[0], &probe, &r);
	printf("table:   %s\nprobe:   %s\n", argv[0], argv[1]);
	if (r.error != NULL)
		printf("error:   %s\n", r.error);
	if (!matched) {
		printf("result:  no entry matches\n");
	} else {
		printf("matched: line %d\nflags:  ", r.entry_line);
		tools_print_flags(r.flags);
		printf("output:  %s\n", r.text ? r.text : "");
		if (r.flags & MAPPINGS_D)
			printf("delay:   %ld hundredths of a second\n", r.delay);
		if (r.from != NULL)
			printf("from:    %s\n", r.from);
	}
	mappings_result_clear(&r);
	return matched ? 0 : 1;
}
