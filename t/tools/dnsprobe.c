/*
 * dnsprobe: one lookup through common/dns, printed, for t/test_dns.py.
 *
 *   dnsprobe SERVERS mx NAME       "ok 10 mx1.good.test ..." or the status
 *   dnsprobe SERVERS domain NAME   the status of dns_mail_domain
 *   dnsprobe SERVERS cancel NAME   start a lookup, cancel it, run the loop
 *                                  briefly: prints "cancelled"
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

static struct event_base *base;

static void
on_mx(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	(void)arg;
	printf("%s", dns_status_name(st));
	for (size_t i = 0; i < n; i++)
		printf(" %d %s", mx[i].preference, mx[i].host);
	printf("\n");
	event_base_loopexit(base, NULL);
}

static void
on_domain(void *arg, enum dns_status st)
{
	(void)arg;
	printf("%s\n", dns_status_name(st));
	event_base_loopexit(base, NULL);
}

int
main(int argc, char **argv)
{
	struct dns_config cfg = { .timeout_ms = 500, .tries = 2 };
	char *err = NULL;

	if (argc != 4) {
		fprintf(stderr, "usage: dnsprobe SERVERS mx|domain|cancel NAME\n");
		return 2;
	}
	cfg.servers = argv[1];
	base = event_base_new();
	struct dns *dns = dns_new(base, &cfg, &err);
	if (dns == NULL) {
		printf("error %s\n", err);
		free(err);
		event_base_free(base);
		return 1;
	}
	if (strcmp(argv[2], "mx") == 0) {
		dns_mx(dns, argv[3], on_mx, NULL);
	} else if (strcmp(argv[2], "domain") == 0) {
		dns_mail_domain(dns, argv[3], on_domain, NULL);
	} else {
		struct dns_req *r = dns_mail_domain(dns, argv[3], on_domain, NULL);
		struct timeval tv = { 1, 0 };
		dns_cancel(&r);
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		printf("cancelled\n");
		dns_free(&dns);
		event_base_free(base);
		return 0;
	}
	event_base_dispatch(base);
	/* A second lookup left pending when the channel goes: no callback. */
	dns_mail_domain(dns, argv[3], on_domain, NULL);
	dns_free(&dns);
	event_base_free(base);
	return 0;
}
