/*
 * queue_admin_print: the queue commands that only read, `queue list`,
 * `queue show` and `queue counts`: tables for a person (aligned, with a
 * header, durations such as 5m) or for a script (--tsv: tab-separated, no
 * header, raw seconds and unix times).
 *
 * Everything printed that came from a file (addresses, header fields)
 * has its control bytes written as \xNN, so that an entry can neither
 * break a TSV line nor send escape sequences to a terminal.  A broken
 * entry is listed with STATE broken and what is known of it (its ID, its
 * channel, its age from the ID); `show` prints the parse error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg_header.h"
#include "queue_admin_private.h"
#include "xmalloc.h"

#define QUEUE_ADMIN_PRINT_FIELD_MAX  4096   /* header field shown, bytes */

static const char *const queue_admin_print_headers[] = {
	"From", "To", "Subject", "Date", "Message-ID", NULL
};

/* ---- small formatters ------------------------------------------------- */

/* s with control bytes as \xNN (malloc'd). */
static char *
queue_admin_print_safe(const char *s)
{
	char *out = xmalloc(strlen(s) * 4 + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += sprintf(o, "\\x%02X", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

/* "45s", "5m", "2h", "3d": the largest unit, rounded down. */
static void
queue_admin_print_dur(char *out, size_t cap, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, cap, "%llds", s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, cap, "%lldh", s / 3600);
	else
		snprintf(out, cap, "%lldd", s / 86400);
}

/* "1714563600 (2024-05-01 12:00:00 +0000, 5m ago)" or "(..., in 5m)" */
static void
queue_admin_print_when(char *out, size_t cap, long long t, time_t now)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char date[64] = "?", dur[32];

	if (localtime_r(&tt, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %z", &tm);
	queue_admin_print_dur(dur, sizeof(dur), t > now ? t - now : now - t);
	if (t > now)
		snprintf(out, cap, "%lld (%s, in %s)", t, date, dur);
	else
		snprintf(out, cap, "%lld (%s, %s ago)", t, date, dur);
}

/* The creation time an ID carries (its top 34 bits), for broken entries. */
static long long
queue_admin_print_id_time(const char *id)
{
	unsigned long long v = 0;

	for (int i = 0; i < 7; i++)
		v = v << 5 | (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	return (long long)(v >> 1);
}

static size_t
queue_admin_print_pending(const struct queue_env *env)
{
	size_t n = 0;

	for (size_t i = 0; i < env->nrcpts; i++)
		n += env->rcpts[i].state == QUEUE_RCPT_PENDING;
	return n;
}

/* ---- tables ----------------------------------------------------------- */

struct queue_admin_table {
	const char *align;      /* 'l' or 'r' per column */
	size_t ncols, ncells, cap;
	char **cells;           /* row after row, malloc'd */
	bool tsv;
};

static void
queue_admin_print_cell(struct queue_admin_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
queue_admin_print_cell(struct queue_admin_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		log_panic("vasprintf: out of memory");
	va_end(ap);
	if (t->ncells == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->ncells++] = s;
}

/* The header, unless --tsv. */
static void
queue_admin_print_header(struct queue_admin_table *t, const char *const *names)
{
	for (size_t c = 0; !t->tsv && c < t->ncols; c++)
		queue_admin_print_cell(t, "%s", names[c]);
}

static void
queue_admin_print_table(struct queue_admin_table *t)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));

	for (size_t i = 0; i < t->ncells; i++)
		if (strlen(t->cells[i]) > w[i % t->ncols])
			w[i % t->ncols] = strlen(t->cells[i]);
	for (size_t i = 0; i < t->ncells; i++) {
		size_t c = i % t->ncols;
		bool last = c + 1 == t->ncols;
		if (t->tsv)
			printf("%s%c", t->cells[i], last ? '\n' : '\t');
		else if (t->align[c] == 'r')
			printf("%*s%s", (int)w[c], t->cells[i], last ? "\n" : "  ");
		else if (last)
			printf("%s\n", t->cells[i]);
		else
			printf("%-*s  ", (int)w[c], t->cells[i]);
		free(t->cells[i]);
	}
	free(t->cells);
	free(w);
	t->cells = NULL;
	t->ncells = t->cap = 0;
}

/* Options of list and counts: --channel NAME, --held, --tsv; -1 on a bad
 * one (reported). */
static int
queue_admin_print_opts(int argc, char **argv, bool list, const char **channel,
    bool *held, bool *tsv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--tsv") == 0) {
			*tsv = true;
		} else if (list && strcmp(a, "--held") == 0) {
			*held = true;
		} else if (list && strncmp(a, "--channel=", 10) == 0) {
			*channel = a + 10;
		} else if (list && strcmp(a, "--channel") == 0 && i + 1 < argc) {
			*channel = argv[++i];
		} else {
			queue_admin_usage_msg("bad argument", a);
			return -1;
		}
	}
	if (*channel != NULL && !queue_channel_valid(*channel)) {
		queue_admin_usage_msg("not a channel name:", *channel);
		return -1;
	}
	return 0;
}

/* ---- list ------------------------------------------------------------- */

static void
queue_admin_print_list_row(struct queue_admin_ctx *ctx,
    struct queue_admin_table *t, const struct queue_admin_entry *e,
    const struct queue_admin_read *r)
{
	char dur[32];
	const struct queue_env *env = &r->env;
	long long created = r->error ? queue_admin_print_id_time(e->id) : env->created;

	queue_admin_print_cell(t, "%s", e->id);
	queue_admin_print_cell(t, "%s", e->channel);
	queue_admin_print_dur(dur, sizeof(dur), (long long)ctx->now - created);
	if (t->tsv)
		queue_admin_print_cell(t, "%lld", (long long)ctx->now - created);
	else
		queue_admin_print_cell(t, "%s", dur);
	if (r->error != NULL) {
		for (int c = 0; c < 5; c++)
			queue_admin_print_cell(t, "-");
		queue_admin_print_cell(t, "broken");
		return;
	}
	char *from = queue_admin_print_safe(env->from);
	queue_admin_print_cell(t, "%llu", (unsigned long long)env->size);
	queue_admin_print_cell(t, "<%s>", from);
	queue_admin_print_cell(t, "%zu/%zu", queue_admin_print_pending(env),
	    env->nrcpts);
	queue_admin_print_cell(t, "%d", env->attempts);
	queue_admin_print_dur(dur, sizeof(dur), env->retry - (long long)ctx->now);
	if (t->tsv)
		queue_admin_print_cell(t, "%lld", env->retry);
	else
		queue_admin_print_cell(t, "%s", env->retry > ctx->now ? dur : "now");
	queue_admin_print_cell(t, "%s", e->held ? "held" : "queued");
	free(from);
}

int
queue_admin_list(struct queue_admin_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = { "ID", "CHANNEL", "AGE", "SIZE",
	    "FROM", "RCPTS", "ATTEMPTS", "NEXT", "STATE" };
	struct queue_admin_table t = { .align = "llrrlrrll", .ncols = 9 };
	const char *channel = NULL;
	bool held = false;

	if (queue_admin_print_opts(argc, argv, true, &channel, &held, &t.tsv) == -1)
		return 2;
	queue_admin_scan(ctx);
	queue_admin_print_header(&t, names);
	for (size_t k = 0; k < ctx->scan.n; k++) {
		const struct queue_admin_entry *e = &ctx->scan.v[k];
		struct queue_admin_read r;
		if ((channel && strcmp(e->channel, channel) != 0) || (held && !e->held))
			continue;
		queue_admin_read(e, 0, &r);
		queue_admin_print_list_row(ctx, &t, e, &r);
		queue_admin_read_clear(&r);
	}
	queue_admin_print_table(&t);
	return ctx->rc;
}

/* ---- show ------------------------------------------------------------- */

static void
queue_admin_print_field(int indent, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
queue_admin_print_field(int indent, const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("%*s%-*s ", indent, "", 13 - indent, label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A decoded string, made safe, or "-" when absent. */
static void
queue_admin_print_str(int indent, const char *label, const char *pre,
    const char *s, const char *post)
{
	if (s == NULL) {
		queue_admin_print_field(indent, label, "-");
		return;
	}
	char *safe = queue_admin_print_safe(s);
	queue_admin_print_field(indent, label, "%s%s%s", pre, safe, post);
	free(safe);
}

/* "never", "success,delay", ... or "-" when NOTIFY was not given. */
static const char *
queue_admin_print_notify(unsigned n, char *out, size_t cap)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ QUEUE_NOTIFY_SUCCESS, "success" },
		{ QUEUE_NOTIFY_FAILURE, "failure" },
		{ QUEUE_NOTIFY_DELAY, "delay" },
	};
	size_t o = 0;

	if (n == 0)
		return "-";
	if (n & QUEUE_NOTIFY_NEVER)
		return "never";
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n & names[i].bit)
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "",
			    names[i].name);
	return out;
}

static void
queue_admin_print_rcpts(const struct queue_env *env)
{
	static const char *const states[] = { "pending", "delivered", "failed" };
	char buf[64];

	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *rc = &env->rcpts[i];
		queue_admin_print_str(2, "rcpt", "<", rc->address, ">");
		queue_admin_print_field(4, "state", "%s",
		    rc->state >= 0 && rc->state <= 2 ? states[rc->state] : "?");
		queue_admin_print_str(4, "original", "<", rc->original, ">");
		queue_admin_print_field(4, "notify", "%s",
		    queue_admin_print_notify(rc->notify, buf, sizeof(buf)));
		queue_admin_print_str(4, "orcpt", "", rc->orcpt, "");
	}
}

static void
queue_admin_print_env(struct queue_admin_ctx *ctx, const struct queue_env *env)
{
	static const char *const rets[] = { "-", "full", "hdrs" };
	char when[128];

	queue_admin_print_field(2, "id", "%s", env->id);
	queue_admin_print_when(when, sizeof(when), env->created, ctx->now);
	queue_admin_print_field(2, "created", "%s", when);
	queue_admin_print_field(2, "channel", "%s", env->channel);
	queue_admin_print_field(2, "source", "%s", env->source);
	queue_admin_print_str(2, "from", "<", env->from, ">");
	queue_admin_print_field(2, "ret", "%s",
	    env->ret >= 0 && env->ret <= 2 ? rets[env->ret] : "?");
	queue_admin_print_str(2, "envid", "", env->envid, "");
	queue_admin_print_field(2, "priority", "%s",
	    env->priority > 0 ? "urgent" : env->priority < 0 ? "nonurgent" : "normal");
	if (env->client_addr == NULL)
		queue_admin_print_field(2, "client", "- (submitted locally)");
	else
		queue_admin_print_str(2, "client", "", env->client_addr, "");
	queue_admin_print_str(2, "client-name", "", env->client_name, "");
	queue_admin_print_str(2, "helo", "", env->helo, "");
	queue_admin_print_str(2, "auth", "", env->auth, "");
	queue_admin_print_field(2, "attempts", "%d", env->attempts);
	if (env->retry > 0)
		queue_admin_print_when(when, sizeof(when), env->retry, ctx->now);
	queue_admin_print_field(2, "retry", "%s", env->retry > 0 ? when : "now");
	queue_admin_print_field(2, "warned", "%d", env->warned);
	queue_admin_print_field(2, "size", "%llu", (unsigned long long)env->size);
	queue_admin_print_rcpts(env);
}

/* The message's header fields, unfolded, from what was read of it. */
static void
queue_admin_print_msg_header(const struct queue_admin_read *r)
{
	const char *hdr = r->buf + r->body_offset;
	size_t len = r->len - r->body_offset;
	char *value = xmalloc(QUEUE_ADMIN_PRINT_FIELD_MAX), label[32];

	for (int i = 0; queue_admin_print_headers[i] != NULL; i++) {
		const char *name = queue_admin_print_headers[i];
		bool found = msg_header_get(hdr, len, name, value,
		    QUEUE_ADMIN_PRINT_FIELD_MAX);
		snprintf(label, sizeof(label), "%s:", name);
		queue_admin_print_str(2, label, "", found ? value : NULL, "");
	}
	free(value);
}

static void
queue_admin_print_show_one(struct queue_admin_ctx *ctx,
    const struct queue_admin_entry *e)
{
	struct queue_admin_read r;
	char *path = queue_admin_entry_path(e);
	bool ok = queue_admin_read(e, QUEUE_ADMIN_HDR_MAX, &r);

	printf("%s\n", e->rel);
	queue_admin_print_field(2, "path", "%s", path);
	queue_admin_print_field(2, "state", "%s%s", ok ? "" : "broken, ",
	    e->held ? "held" : "queued");
	if (!ok) {
		queue_admin_print_str(2, "error", "", r.error, "");
		if (r.file_size > 0)
			queue_admin_print_field(2, "file size", "%llu",
			    (unsigned long long)r.file_size);
	} else {
		queue_admin_print_env(ctx, &r.env);
		queue_admin_print_msg_header(&r);
	}
	queue_admin_read_clear(&r);
	free(path);
}

int
queue_admin_show(struct queue_admin_ctx *ctx, int argc, char **argv)
{
	bool first = true;

	if (queue_admin_select(ctx, argc, argv) == -1)
		return 2;
	for (size_t k = 0; k < ctx->scan.n; k++) {
		if (!ctx->selected[k])
			continue;
		if (!first)
			putchar('\n');
		first = false;
		queue_admin_print_show_one(ctx, &ctx->scan.v[k]);
	}
	return ctx->rc;
}

/* ---- counts ----------------------------------------------------------- */

struct queue_admin_count {
	const char *channel;    /* the scan's */
	unsigned long long entries, pending, bytes, held, broken;
};

static int
queue_admin_print_count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct queue_admin_count *)a)->channel,
	    ((const struct queue_admin_count *)b)->channel);
}

static void
queue_admin_print_count_add(struct queue_admin_count *c,
    const struct queue_admin_entry *e, const struct queue_admin_read *r)
{
	c->entries++;
	c->held += e->held;
	if (r->error != NULL) {
		c->broken++;
		c->bytes += r->file_size;
	} else {
		c->pending += queue_admin_print_pending(&r->env);
		c->bytes += r->env.size;
	}
}

static void
queue_admin_print_count_row(struct queue_admin_table *t,
    const struct queue_admin_count *c)
{
	queue_admin_print_cell(t, "%s", c->channel);
	queue_admin_print_cell(t, "%llu", c->entries);
	queue_admin_print_cell(t, "%llu", c->pending);
	queue_admin_print_cell(t, "%llu", c->bytes);
	queue_admin_print_cell(t, "%llu", c->held);
	queue_admin_print_cell(t, "%llu", c->broken);
}

int
queue_admin_counts(struct queue_admin_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = { "CHANNEL", "ENTRIES", "PENDING",
	    "BYTES", "HELD", "BROKEN" };
	struct queue_admin_table t = { .align = "lrrrrr", .ncols = 6 };
	struct queue_admin_count *v = NULL, total = { .channel = "total" };
	size_t n = 0, cur = 0;
	const char *channel = NULL;
	bool held = false;

	if (queue_admin_print_opts(argc, argv, false, &channel, &held, &t.tsv) == -1)
		return 2;
	queue_admin_scan(ctx);
	for (size_t k = 0; k < ctx->scan.n; k++) {
		const struct queue_admin_entry *e = &ctx->scan.v[k];
		struct queue_admin_read r;
		if (cur >= n || strcmp(v[cur].channel, e->channel) != 0) {
			for (cur = 0; cur < n && strcmp(v[cur].channel, e->channel); cur++)
				;
			if (cur == n) {
				v = xrealloc(v, ++n * sizeof(*v));
				v[cur] = (struct queue_admin_count){ .channel = e->channel };
			}
		}
		queue_admin_read(e, 0, &r);
		queue_admin_print_count_add(&v[cur], e, &r);
		queue_admin_print_count_add(&total, e, &r);
		queue_admin_read_clear(&r);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), queue_admin_print_count_cmp);
	queue_admin_print_header(&t, names);
	for (size_t i = 0; i < n; i++)
		queue_admin_print_count_row(&t, &v[i]);
	queue_admin_print_count_row(&t, &total);
	queue_admin_print_table(&t);
	free(v);
	return ctx->rc;
}
