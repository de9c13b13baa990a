/*
 * copy_user: copy one user's mailboxes from this store to another store
 * over IMAP, to move the user between stores (mailHost).
 *
 *   store -c msg.conf copy-user --login ADMIN --password-file FILE
 *       [--starttls [--cafile FILE]] [--append] USER HOST:PORT
 *
 * Source: the local index, read like reconstruct does (read transactions
 * only, so it is safe while the daemon runs): every mailbox of USER in
 * name order (parents before children), every message in UID order with
 * its system flags, keywords and INTERNALDATE, and the subscriptions.
 * Destination: IMAP, logged in as a proxy administrator (store.admins)
 * acting for USER (AUTHENTICATE PLAIN with an authorization identity,
 * SASL-IR); missing mailboxes are CREATEd, messages APPENDed with
 * synchronising literals (so a message over the destination's size limit
 * is refused with NO before its bytes are sent), subscriptions mirrored.
 * The destination takes that login only once USER's mailHost names it,
 * so a move changes mailHost first and copies second (store(8)).
 *
 * Failure policy: the first error stops the copy; nothing is retried.
 * Messages name what failed and, once anything was written, say that the
 * copy is partial and how far it got (exit 3; 1 when nothing was written,
 * 2 for usage).  A destination mailbox that already holds messages is
 * refused before anything is copied unless --append: a re-run never
 * duplicates silently.
 *
 * The IMAP client is store/imap_client (blocking, bounded).
 */
#include "copy_user.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "imap_client.h"
#include "imap_format.h"
#include "mailbox.h"
#include "net.h"
#include "store.h"
#include "tls_blocking.h"
#include "xmalloc.h"

#define CU_SECRET_MAX   1024

enum cu_exit { CU_EXIT_OK = 0, CU_EXIT_FAILED = 1, CU_EXIT_USAGE = 2,
    CU_EXIT_PARTIAL = 3 };

struct cu_opts {
	const char *login, *password_file, *cafile, *user, *hostport;
	bool starttls, append;
	char host[256];
	int port;
};

/* ---- the source: this store's index ---- */

struct cu_box {
	char *name;
	char quoted[2 * MAILBOX_NAME_MAX + 3];
	bool subscribed;                /* on the source */
	bool dest_exists;
	uint32_t dest_messages;
	size_t total, copied;
};

struct cu_copy {
	const struct cu_opts *o;
	struct db *db;
	const struct partition *part;
	char user[USER_KEY_MAX];        /* the store key: lower case */
	struct cu_box *boxes;
	size_t nboxes, boxcap;
	char **subs;
	size_t nsubs, subcap;
	struct imap_client *imap;
	size_t boxes_done;
	unsigned long long messages, bytes, skipped;
	bool wrote;                     /* the destination was changed */
	struct cu_box *current;         /* being copied */
};

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE; names are modified UTF-7 in the
 * index, so anything outside printable ASCII is refused. */
static bool
cu_quote(const char *name, char *out, size_t len)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *name != '\0'; name++) {
		unsigned char ch = (unsigned char)*name;
		if (ch < 0x20 || ch > 0x7e || n + 4 > len)
			return false;
		if (ch == '"' || ch == '\\')
			out[n++] = '\\';
		out[n++] = (char)ch;
	}
	out[n++] = '"';
	out[n] = '\0';
	return true;
}

static void
cu_on_mailbox(void *arg, const char *name, const struct midx_mailbox *mb)
{
	struct cu_copy *cp = arg;

	(void)mb;
	if (cp->nboxes == cp->boxcap) {
		cp->boxcap = cp->boxcap ? cp->boxcap * 2 : 16;
		cp->boxes = xrealloc(cp->boxes, cp->boxcap * sizeof(*cp->boxes));
	}
	memset(&cp->boxes[cp->nboxes], 0, sizeof(*cp->boxes));
	cp->boxes[cp->nboxes++].name = xstrdup(name);
}

static void
cu_on_sub(void *arg, const char *name)
{
	struct cu_copy *cp = arg;

	if (cp->nsubs == cp->subcap) {
		cp->subcap = cp->subcap ? cp->subcap * 2 : 16;
		cp->subs = xrealloc(cp->subs, cp->subcap * sizeof(*cp->subs));
	}
	cp->subs[cp->nsubs++] = xstrdup(name);
	for (size_t i = 0; i < cp->nboxes; i++)
		if (strcmp(cp->boxes[i].name, name) == 0)
			cp->boxes[i].subscribed = true;
}

static const char *
cu_strerror(int rc)
{
	return rc > 0 ? strerror(rc) : mdb_strerror(rc);
}

/* The user's partition: the index's word (the user area's layout needs
 * it; a user the index does not know has nothing to copy). */
static bool
cu_find_user(struct cu_copy *cp, const struct store_config *cfg)
{
	struct midx_user u;
	MDB_txn *txn;
	int rc = db_read_begin(cp->db, &txn);

	if (rc == 0) {
		rc = mindex_user_get(cp->db, txn, cp->user, &u);
		db_read_end(cp->db, &txn);
	}
	if (rc == 0 && (cp->part = config_partition(cfg, u.partition)) == NULL)
		fprintf(stderr, "copy-user user=%s: partition %s is not "
		    "configured\n", cp->user, u.partition);
	else if (rc != 0)
		fprintf(stderr, "copy-user user=%s: %s\n", cp->user,
		    rc == MDB_NOTFOUND ? "no such user on this store" :
		    cu_strerror(rc));
	return cp->part != NULL;
}

static bool
cu_source_open(struct cu_copy *cp, const struct store_config *cfg)
{
	char *err = NULL;
	int rc;

	snprintf(cp->user, sizeof(cp->user), "%s", cp->o->user);
	for (char *p = cp->user; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((cp->db = mindex_open(cfg->dbdir, cfg->dbmapsize, &err)) == NULL) {
		fprintf(stderr, "copy-user: %s\n", err);
		free(err);
		return false;
	}
	if (!cu_find_user(cp, cfg))
		return false;
	if ((rc = mbox_list(cp->db, cp->user, cu_on_mailbox, cp)) != 0 ||
	    (rc = mbox_subs_list(cp->db, cp->user, cu_on_sub, cp)) != 0) {
		fprintf(stderr, "copy-user user=%s: reading the index: %s\n",
		    cp->user, cu_strerror(rc));
		return false;
	}
	for (size_t i = 0; i < cp->nboxes; i++)
		if (!cu_quote(cp->boxes[i].name, cp->boxes[i].quoted,
		    sizeof(cp->boxes[i].quoted))) {
			fprintf(stderr, "copy-user user=%s: mailbox name \"%s\" is "
			    "not 7-bit text\n", cp->user, cp->boxes[i].name);
			return false;
		}
	return true;
}

static void
cu_source_close(struct cu_copy *cp)
{
	for (size_t i = 0; i < cp->nboxes; i++)
		free(cp->boxes[i].name);
	free(cp->boxes);
	for (size_t i = 0; i < cp->nsubs; i++)
		free(cp->subs[i]);
	free(cp->subs);
	db_close(&cp->db);
}

/* ---- the copy ---- */

/* Print why the destination step failed (the client's error); false. */
static bool
cu_stop(struct cu_copy *cp)
{
	fprintf(stderr, "copy-user user=%s: %s\n", cp->user, cp->imap->err);
	return false;
}

/* A refusal (tagged NO or BAD) of what was being done: stop there. */
static bool __attribute__((format(printf, 3, 4)))
cu_refused(struct cu_copy *cp, enum imc_status st, const char *fmt, ...)
{
	char what[600];
	va_list ap;

	if (st != IMC_ERR) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		imc_fail(cp->imap, "%s: %s", what, imc_reply_text(cp->imap, st));
	}
	return cu_stop(cp);
}

static bool
cu_session(struct cu_copy *cp, const char *secret,
    struct tls_blocking_ctx **ctx)
{
	const struct cu_opts *o = cp->o;
	struct imap_client *c = cp->imap;
	char *err = NULL;

	if (o->starttls &&
	    (*ctx = tls_blocking_ctx_new(true, o->cafile, &err)) == NULL) {
		fprintf(stderr, "copy-user: %s\n", err);
		free(err);
		return false;
	}
	if (!imc_connect(c, o->host, o->port) || !imc_greeting(c) ||
	    (o->starttls && !imc_starttls(c, *ctx, o->host)) ||
	    !imc_login(c, o->user, o->login, secret))
		return cu_stop(cp);
	printf("copy-user user=%s to=%s: logged in as %s%s\n", cp->user,
	    o->hostport, o->login, o->starttls ? " (TLS)" : "");
	return true;
}

/* mailbox-data =/ "STATUS" SP mailbox SP "(" [status-att-list] ")" */
static void
cu_on_status(void *arg, const char *resp)
{
	struct cu_box *b = arg;
	const char *p = strrchr(resp, '(');
	unsigned v;

	if (strncasecmp(resp, "* STATUS ", 9) == 0 && p != NULL &&
	    sscanf(p, "(MESSAGES %u", &v) == 1)
		b->dest_messages = v;
}

/* Which mailboxes the destination has, and whether they hold messages:
 * all of them are looked at before anything is written, so a refusal
 * leaves the destination as it was. */
static bool
cu_preflight(struct cu_copy *cp)
{
	size_t busy = 0;

	for (size_t i = 0; i < cp->nboxes; i++) {
		struct cu_box *b = &cp->boxes[i];
		enum imc_status st = imc_command(cp->imap, cu_on_status, b,
		    "STATUS %s (MESSAGES)", b->quoted);
		if (st == IMC_ERR || st == IMC_BAD)
			return cu_refused(cp, st, "STATUS %s", b->quoted);
		b->dest_exists = st == IMC_OK;
		if (b->dest_exists && b->dest_messages > 0 && !cp->o->append) {
			fprintf(stderr, "copy-user user=%s: destination mailbox %s "
			    "already holds %u message%s\n", cp->user, b->quoted,
			    b->dest_messages, b->dest_messages == 1 ? "" : "s");
			busy++;
		}
	}
	if (busy > 0)
		fprintf(stderr, "copy-user user=%s: refused: %zu destination "
		    "mailbox(es) not empty; nothing copied (--append adds to "
		    "them, duplicating messages copied before)\n", cp->user, busy);
	return busy == 0;
}

static const struct {
	uint32_t bit;
	const char *name;
} cu_sysflags[] = {
	{ MFLAG_SEEN, "\\Seen" }, { MFLAG_ANSWERED, "\\Answered" },
	{ MFLAG_FLAGGED, "\\Flagged" }, { MFLAG_DELETED, "\\Deleted" },
	{ MFLAG_DRAFT, "\\Draft" },
};

/* One flag into out[0..len) after *n bytes, space-separated; a flag
 * that does not fit is left out (the buffer is sized so that all fit). */
static void
cu_flag_add(char *out, size_t len, size_t *n, const char *flag)
{
	size_t fl = strlen(flag) + (*n > 0);

	if (*n + fl + 1 > len)
		return;
	snprintf(out + *n, len - *n, "%s%s", *n > 0 ? " " : "", flag);
	*n += fl;
}

/* flag-list contents: system flags, then the mailbox's keyword names. */
static void
cu_flags(const struct mbox_view *v, size_t i, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t f = 0; f < sizeof(cu_sysflags) / sizeof(cu_sysflags[0]); f++)
		if (v->flags[i] & cu_sysflags[f].bit)
			cu_flag_add(out, len, &n, cu_sysflags[f].name);
	for (size_t k = 0; k < v->names.n && k < KEYWORDS_MAX; k++)
		if (v->kw[i] & (1ULL << k))
			cu_flag_add(out, len, &n, v->names.names[k]);
}

/* A message gone since the view was read was expunged meanwhile: the
 * user's own doing, so it is counted and skipped, not an error. */
static bool
cu_skip(struct cu_copy *cp, const struct mbox_view *v, size_t i,
    const char *why)
{
	fprintf(stderr, "copy-user user=%s: warning: mailbox %s uid %u "
	    "skipped: %s\n", cp->user, cp->current->quoted, v->uids[i], why);
	cp->skipped++;
	return true;
}

static bool
cu_copy_message(struct cu_copy *cp, const struct mbox_view *v, size_t i)
{
	char path[4608], flags[KEYWORDS_MAX * (KEYWORD_LEN + 1) + 64];
	char date[IMAP_DATETIME_SIZE];
	struct midx_message m;
	struct stat st;
	int rc = mbox_message_get(cp->db, v->id, v->uids[i], &m, NULL, 0, NULL);

	if (rc == MDB_NOTFOUND)
		return cu_skip(cp, v, i, "expunged during the copy");
	mbox_message_path(v, v->uids[i], path, sizeof(path));
	int fd = rc == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 && rc == 0 && errno == ENOENT)
		return cu_skip(cp, v, i, "expunged during the copy");
	if (fd < 0 || fstat(fd, &st) != 0) {
		imc_fail(cp->imap, "%s(\"%s\"): %s", rc ? "index" : "open", path,
		    rc ? cu_strerror(rc) : strerror(errno));
		if (fd >= 0)
			close(fd);
		return cu_stop(cp);
	}
	if (st.st_size == 0) {
		close(fd);
		return cu_skip(cp, v, i, "empty message file");
	}
	cu_flags(v, i, flags, sizeof(flags));
	imap_datetime_format((time_t)m.internaldate, 0, date);
	enum imc_status s = imc_append(cp->imap, cp->current->quoted, flags, date,
	    fd, (size_t)st.st_size);
	close(fd);
	if (s != IMC_OK)
		return cu_refused(cp, s, "APPEND to %s of uid %u (%lld bytes)",
		    cp->current->quoted, v->uids[i], (long long)st.st_size);
	cp->wrote = true;
	cp->messages++;
	cp->bytes += (unsigned long long)st.st_size;
	cp->current->copied++;
	return true;
}

static bool
cu_copy_box(struct cu_copy *cp, struct cu_box *b)
{
	struct mbox_view *v;
	enum imc_status st;

	cp->current = b;
	if (!b->dest_exists) {
		st = imc_command(cp->imap, NULL, NULL, "CREATE %s", b->quoted);
		if (st != IMC_OK)
			return cu_refused(cp, st, "cannot create mailbox %s",
			    b->quoted);
		cp->wrote = true;
	}
	int rc = mbox_view_open(cp->db, cp->part, cp->user, b->name, &v);
	if (rc == MDB_NOTFOUND) {
		fprintf(stderr, "copy-user user=%s: warning: mailbox %s deleted "
		    "during the copy\n", cp->user, b->quoted);
		return true;
	}
	if (rc != 0) {
		imc_fail(cp->imap, "reading mailbox %s: %s", b->quoted,
		    cu_strerror(rc));
		return cu_stop(cp);
	}
	b->total = v->n;
	bool ok = true;
	for (size_t i = 0; ok && i < v->n; i++)
		ok = cu_copy_message(cp, v, i);
	mbox_view_close(&v);
	if (ok)
		printf("copy-user user=%s: mailbox %s messages=%zu\n", cp->user,
		    b->quoted, b->copied);
	return ok;
}

/* Subscriptions as on the source: the source's are made; a copied
 * mailbox the source does not subscribe is unsubscribed (the destination
 * subscribes its special-use folders at the first login). */
static bool
cu_subscriptions(struct cu_copy *cp)
{
	char q[2 * MAILBOX_NAME_MAX + 3];
	enum imc_status st;

	for (size_t i = 0; i < cp->nsubs; i++) {
		if (!cu_quote(cp->subs[i], q, sizeof(q))) {
			fprintf(stderr, "copy-user user=%s: warning: subscription "
			    "\"%s\" skipped: not 7-bit text\n", cp->user, cp->subs[i]);
			continue;
		}
		if ((st = imc_command(cp->imap, NULL, NULL, "SUBSCRIBE %s", q))
		    != IMC_OK)
			return cu_refused(cp, st, "SUBSCRIBE %s", q);
	}
	for (size_t i = 0; i < cp->nboxes; i++) {
		if (cp->boxes[i].subscribed)
			continue;
		/* NO: it was not subscribed there either. */
		st = imc_command(cp->imap, NULL, NULL, "UNSUBSCRIBE %s",
		    cp->boxes[i].quoted);
		if (st == IMC_ERR || st == IMC_BAD)
			return cu_refused(cp, st, "UNSUBSCRIBE %s",
			    cp->boxes[i].quoted);
	}
	return true;
}

static bool
cu_copy_all(struct cu_copy *cp)
{
	for (size_t i = 0; i < cp->nboxes; i++) {
		if (!cu_copy_box(cp, &cp->boxes[i]))
			return false;
		cp->boxes_done++;
	}
	return cu_subscriptions(cp);
}

/* The last word: what the destination holds now. */
static int
cu_report(const struct cu_copy *cp, bool ok)
{
	const char *to = cp->o->hostport;

	if (ok) {
		printf("copy-user user=%s to=%s mailboxes=%zu messages=%llu "
		    "bytes=%llu skipped=%llu subscriptions=%zu: complete\n",
		    cp->user, to, cp->nboxes, cp->messages, cp->bytes, cp->skipped,
		    cp->nsubs);
		return CU_EXIT_OK;
	}
	if (!cp->wrote) {
		fprintf(stderr, "copy-user user=%s to=%s: failed; nothing was "
		    "copied\n", cp->user, to);
		return CU_EXIT_FAILED;
	}
	fprintf(stderr, "copy-user user=%s to=%s: PARTIAL copy: %zu of %zu "
	    "mailboxes complete, %llu messages (%llu bytes) copied",
	    cp->user, to, cp->boxes_done, cp->nboxes, cp->messages, cp->bytes);
	if (cp->current != NULL && cp->boxes_done < cp->nboxes)
		fprintf(stderr, "; mailbox %s stopped after %zu of %zu messages",
		    cp->current->quoted, cp->current->copied, cp->current->total);
	fprintf(stderr, "; subscriptions %s\n", cp->boxes_done < cp->nboxes ?
	    "not copied" : "incomplete");
	return CU_EXIT_PARTIAL;
}

static int
cu_run(struct cu_copy *cp, const char *secret)
{
	struct tls_blocking_ctx *ctx = NULL;
	struct imap_client *c = xcalloc(1, sizeof(*c));

	c->fd = -1;
	c->label = cp->o->hostport;
	cp->imap = c;
	bool ok = cu_session(cp, secret, &ctx) && cu_preflight(cp) &&
	    cu_copy_all(cp);
	if (ok)
		(void)imc_command(c, NULL, NULL, "LOGOUT");
	int rc = cu_report(cp, ok);
	tls_blocking_free(&c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	cp->imap = NULL;
	tls_blocking_ctx_free(&ctx);
	return rc;
}

/* ---- the command line ---- */

static void
cu_usage(void)
{
	fprintf(stderr, "usage: store -c msg.conf copy-user --login ADMIN "
	    "--password-file FILE\n"
	    "           [--starttls [--cafile FILE]] [--append] USER HOST:PORT\n");
}

static bool
cu_parse(int argc, char **argv, struct cu_opts *o)
{
	static const struct option longopts[] = {
		{ "login", required_argument, NULL, 'l' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "starttls", no_argument, NULL, 's' },
		{ "cafile", required_argument, NULL, 'C' },
		{ "append", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;             /* glibc: start over on the command's argv */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': o->login = optarg; break;
		case 'p': o->password_file = optarg; break;
		case 's': o->starttls = true; break;
		case 'C': o->cafile = optarg; break;
		case 'a': o->append = true; break;
		default: return false;
		}
	}
	if (argc - optind != 2 || o->login == NULL || o->password_file == NULL ||
	    (o->cafile != NULL && !o->starttls))
		return false;
	o->user = argv[optind];
	o->hostport = argv[optind + 1];
	if (!net_split_hostport(o->hostport, o->host, sizeof(o->host), &o->port)) {
		fprintf(stderr, "copy-user: \"%s\" is not HOST:PORT\n", o->hostport);
		return false;
	}
	return *o->user != '\0';
}

/* The administrator's password: the file's first line.  A file, not an
 * argument, so that it never shows in ps. */
static bool
cu_read_secret(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	if (n < 0) {
		fprintf(stderr, "copy-user: %s(\"%s\"): %s\n", fd < 0 ? "open" :
		    "read", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (*buf == '\0') {
		fprintf(stderr, "copy-user: %s: no password in it\n", path);
		return false;
	}
	return true;
}

int
copy_user_main(const struct store_config *cfg, int argc, char **argv)
{
	struct cu_opts o = { 0 };
	char secret[CU_SECRET_MAX];
	struct cu_copy cp = { .o = &o };

	if (!cu_parse(argc, argv, &o)) {
		cu_usage();
		return CU_EXIT_USAGE;
	}
	if (!cu_read_secret(o.password_file, secret, sizeof(secret)))
		return CU_EXIT_FAILED;
	int rc = cu_source_open(&cp, cfg) ? cu_run(&cp, secret) : CU_EXIT_FAILED;
	explicit_bzero(secret, sizeof(secret));
	cu_source_close(&cp);
	return rc;
}
