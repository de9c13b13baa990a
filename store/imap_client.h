/*
 * imap_client: a small blocking IMAP client for the store's admin
 * commands (copy-user): one socket, every wait a poll() bounded by
 * IMC_TIMEOUT_MS, each response (literals included) read into a fixed
 * buffer of IMC_RESP_MAX bytes; a longer one is an error.
 *
 * Failure policy: every function returns false (or IMC_ERR) after
 * recording why in c->err and closing the connection; NO and BAD are
 * answers, with their text from imc_reply_text().
 */
#ifndef STORE_IMAP_CLIENT_H
#define STORE_IMAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#define IMC_RESP_MAX    (64 * 1024)
#define IMC_ERR_MAX     1024

struct tls_blocking;
struct tls_blocking_ctx;

enum imc_status { IMC_OK, IMC_NO, IMC_BAD, IMC_ERR };

typedef void imc_untagged_cb(void *arg, const char *resp);

struct imap_client {
	const char *label;              /* HOST:PORT, for messages */
	int fd;                         /* -1: closed (then err says why) */
	struct tls_blocking *tls;       /* NULL: plain */
	unsigned tag;
	char err[IMC_ERR_MAX];
	char bye[256];                  /* text of a BYE, for the error */
	const char *text;               /* the last tagged reply's text */
	size_t rstart, rend;            /* unread bytes of rbuf */
	char rbuf[16384];
	size_t resplen;
	char resp[IMC_RESP_MAX + 1];     /* the last response, NUL-terminated */
};

/* Record why, close the connection, return false. */
bool imc_fail(struct imap_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool imc_connect(struct imap_client *c, const char *host, int port);
/* The server's greeting: "* OK" (a BYE or anything else fails). */
bool imc_greeting(struct imap_client *c);
/* STARTTLS, the certificate checked against host (ctx's roots). */
bool imc_starttls(struct imap_client *c, struct tls_blocking_ctx *ctx,
    const char *host);
/* AUTHENTICATE PLAIN as admin acting for user (SASL-IR). */
bool imc_login(struct imap_client *c, const char *user, const char *admin,
    const char *password);
/* One tagged command; untagged responses go to cb (may be NULL). */
enum imc_status imc_command(struct imap_client *c, imc_untagged_cb *cb,
    void *arg, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* APPEND size bytes read from fd to the quoted mailbox qbox, with flags
 * ("" for none) and date (INTERNALDATE, "" for none), as a synchronising
 * literal. */
enum imc_status imc_append(struct imap_client *c, const char *qbox,
    const char *flags, const char *date, int fd, size_t size);
/* The last tagged reply's text, or why the connection failed. */
const char *imc_reply_text(struct imap_client *c, enum imc_status st);

#endif
