/*
 * Unit tests of mta/queue and mta/queue_env: queue IDs, the envelope format
 * (round trips of odd addresses, the exact text, where the message starts,
 * every parse error), and commits against real files in a mkdtemp
 * directory with a real event_base: the layout, one file per entry with
 * its exact contents, the copy without copy_file_range, failures undone (a
 * file in the way, fsync failing with ENOSPC at each step, a write error),
 * refused envelopes, 200 commits in few batches, notify datagrams, and the
 * tmp/ cleanup at open.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "queue.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * fsync is interposed (as in test_durable): after fsync_skip more calls,
 * the next fsync_fail_count calls fail with fsync_fail_errno; while
 * fsync_gate_closed every call waits.
 */
static pthread_mutex_t fsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fsync_cond = PTHREAD_COND_INITIALIZER;
static int fsync_skip, fsync_fail_count, fsync_fail_errno;
static bool fsync_gate_closed;

int
fsync(int fd)
{
	int err = 0;

	pthread_mutex_lock(&fsync_lock);
	while (fsync_gate_closed)
		pthread_cond_wait(&fsync_cond, &fsync_lock);
	if (fsync_skip > 0)
		fsync_skip--;
	else if (fsync_fail_count > 0) {
		fsync_fail_count--;
		err = fsync_fail_errno;
	}
	pthread_mutex_unlock(&fsync_lock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

/*
 * copy_file_range is interposed too: with copy_errno set it fails with that
 * (the queue must fall back to read/write); with copy_max set it copies at
 * most that many bytes a call (the queue must loop).
 */
static int copy_errno;
static size_t copy_max;

ssize_t
copy_file_range(int in, off_t *off_in, int out, off_t *off_out, size_t len,
    unsigned flags)
{
	if (copy_errno != 0) {
		errno = copy_errno;
		return -1;
	}
	if (copy_max != 0 && len > copy_max)
		len = copy_max;
	return (ssize_t)syscall(SYS_copy_file_range, in, off_in, out, off_out,
	    len, flags);
}

static void
fsync_fail(int skip, int err, int count)
{
	pthread_mutex_lock(&fsync_lock);
	fsync_skip = skip;
	fsync_fail_errno = err;
	fsync_fail_count = count;
	pthread_mutex_unlock(&fsync_lock);
}

static void
fsync_gate(bool closed)
{
	pthread_mutex_lock(&fsync_lock);
	fsync_gate_closed = closed;
	pthread_cond_broadcast(&fsync_cond);
	pthread_mutex_unlock(&fsync_lock);
}

static char tmpdir[64];
static struct event_base *base;

static const char *
at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
at(const char *fmt, ...)
{
	static char buf[8][PATH_MAX];
	static int next;
	char *p = buf[next++ % 8];
	va_list ap;

	int n = snprintf(p, PATH_MAX, "%s/", tmpdir);
	va_start(ap, fmt);
	vsnprintf(p + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return p;
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Regular files anywhere under dir, tmp/ directories left out (the tmp
 * names of a commit go after its callback). */
static int
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char sub[PATH_MAX];
	struct stat st;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
			n++;
		else if (strcmp(e->d_name, "tmp") != 0)
			n += count_files(sub);
	}
	closedir(d);
	return n;
}

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[PATH_MAX];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

/* The whole file, NUL-terminated (malloc'd), or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- callbacks and the loop ------------------------------------------- */

struct result {
	int calls;
	int err;
};

static int callbacks;                   /* every callback so far */

static void
on_commit(void *arg, int err)
{
	struct result *r = arg;

	r->calls++;
	r->err = err;
	callbacks++;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until callbacks reaches want, at most 10 s. */
static void
run_until(int want)
{
	struct timeval tv = { 0, 10000 };
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);

	event_add(tick, &tv);
	for (int i = 0; i < 1000 && callbacks < want; i++)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
}

/* ---- fixtures --------------------------------------------------------- */

static struct queue_rcpt rcpts_a[] = {
	{ .address = "alice@example.com", .notify = QUEUE_NOTIFY_FAILURE },
	{ .address = "\"bob smith\"@example.com",
	  .original = "\"Bob Smith\"@EXAMPLE.com" },
};
static struct queue_rcpt rcpts_b[] = {
	{ .address = "carol@store.example", .orcpt = "rfc822;carol@example.org" },
};
static struct queue_rcpt rcpts_c[] = {
	{ .address = "d\xc3\xa9@example.org" },
};

static const struct queue_env shared_env = {
	.created = 1700000000, .source = "tcp_local", .from = "sender@example.net",
	.ret = QUEUE_RET_HDRS, .envid = "env 1", .priority = QUEUE_PRIORITY_NORMAL,
	.client_addr = "192.0.2.7", .client_name = "client.example",
	.helo = "client.example", .auth = "sender",
};

static const struct queue_dest dest_one = { "c", 0, rcpts_b, 1 };

/* ---- IDs and names ---------------------------------------------------- */

static void
test_ids(void)
{
	char prev[QUEUE_ID_LEN + 1] = "";
	char err_text[64];
	struct queue *q;
	char *err = NULL;
	int increasing = 0, valid = 0;

	q = queue_open(base, at("ids"), &err);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	for (int i = 0; i < 1000; i++) {
		struct queue_msg *m = queue_msg_new(q, &shared_env, &dest_one, 1,
		    &err);
		if (m == NULL)
			break;
		const char *id = queue_msg_id(m);
		valid += queue_id_valid(id) && strlen(id) == QUEUE_ID_LEN;
		increasing += strcmp(prev, id) < 0;
		snprintf(prev, sizeof(prev), "%s", id);
		queue_msg_abort(&m);
		CHECK(m == NULL);
	}
	CHECK(valid == 1000);
	CHECK(increasing == 1000);
	CHECK(count_entries(at("ids/tmp")) == 0);       /* abort unlinks */
	queue_close(&q);
	CHECK(q == NULL);
	snprintf(err_text, sizeof(err_text), "%s", err ? err : "");
	CHECK_STR(err_text, "");
}

static const struct {
	const char *id;
	bool ok;
} id_cases[] = {
	{ "0123456789ABCDEF", true },
	{ "VVVVVVVVVVVVVVVV", true },
	{ "0123456789abcdef", false },          /* lower case */
	{ "0123456789ABCDEW", false },          /* W is not base32hex */
	{ "0123456789ABCDE", false },           /* short */
	{ "0123456789ABCDEF0", false },         /* long */
	{ "", false },
	{ "../../etc/passwd", false },
};

static const struct {
	const char *name;
	bool ok;
} channel_cases[] = {
	{ "tcp_local", true },
	{ "l", true },
	{ "ims-ms.1", true },
	{ "", false },
	{ "tmp", false },                       /* the queue's own dir */
	{ ".hidden", false },
	{ "a/b", false },
	{ "..", false },
	{ "sp ace", false },
	{ "0123456789012345678901234567890123456789012345678901234567890123",
	    true },                             /* 64 */
	{ "01234567890123456789012345678901234567890123456789012345678901234",
	    false },                            /* 65 */
};

static void
test_names(void)
{
	for (size_t i = 0; i < N(id_cases); i++) {
		CHECK(queue_id_valid(id_cases[i].id) == id_cases[i].ok);
		if (queue_id_valid(id_cases[i].id) != id_cases[i].ok)
			fprintf(stderr, "  id \"%s\"\n", id_cases[i].id);
	}
	for (size_t i = 0; i < N(channel_cases); i++) {
		CHECK(queue_channel_valid(channel_cases[i].name) == channel_cases[i].ok);
		if (queue_channel_valid(channel_cases[i].name) != channel_cases[i].ok)
			fprintf(stderr, "  channel \"%s\"\n", channel_cases[i].name);
	}
	/* subdirs: none for 0 and 1, in range, stable, capped at 100 */
	static const int subdirs[] = { -1, 0, 1, 2, 20, 100, 1000 };
	int seen[100] = { 0 };
	for (size_t i = 0; i < N(subdirs); i++) {
		int s = subdirs[i];
		int want_max = s <= 1 ? -1 : s > 100 ? 99 : s - 1;
		int bad = 0;
		for (int k = 0; k < 500; k++) {
			char id[32];
			snprintf(id, sizeof(id), "0123456789A%05d", k % 100000);
			int ss = queue_subdir(id, s);
			bad += want_max < 0 ? ss != -1 : ss < 0 || ss > want_max;
			bad += ss != queue_subdir(id, s);
			if (s == 100 && ss >= 0)
				seen[ss]++;
		}
		CHECK(bad == 0);
	}
	int empty = 0;
	for (int i = 0; i < 100; i++)
		empty += seen[i] == 0;
	CHECK(empty < 10);                      /* spread over the levels */
}

/* ---- envelopes -------------------------------------------------------- */

static bool
str_eq(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool
env_equal(const struct queue_env *a, const struct queue_env *b)
{
	if (!str_eq(a->id, b->id) || a->created != b->created ||
	    !str_eq(a->channel, b->channel) || !str_eq(a->source, b->source) ||
	    !str_eq(a->from, b->from) || a->ret != b->ret ||
	    !str_eq(a->envid, b->envid) || a->priority != b->priority ||
	    a->size != b->size || !str_eq(a->client_addr, b->client_addr) ||
	    !str_eq(a->client_name, b->client_name) || !str_eq(a->helo, b->helo) ||
	    !str_eq(a->auth, b->auth) || a->nrcpts != b->nrcpts)
		return false;
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct queue_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		if (!str_eq(x->address, y->address) ||
		    !str_eq(x->original, y->original) ||
		    !str_eq(x->orcpt, y->orcpt) || x->notify != y->notify ||
		    x->state != y->state)
			return false;
	}
	return true;
}

static struct queue_rcpt rcpts_odd[] = {
	{ .address = "\"john smith\"@example.com",
	  .original = "\"John Smith\"@Example.COM",
	  .orcpt = "rfc822;\"john smith\"@example.com",
	  .notify = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY },
	{ .address = "j\xc3\xb6s\xc3\xa9@ex\xc3\xa4mple.org",
	  .notify = QUEUE_NOTIFY_NEVER, .state = QUEUE_RCPT_DELIVERED },
	{ .address = "\"a<b> c=d+e\\\"\"@x.org", .notify = QUEUE_NOTIFY_DELAY,
	  .original = "\"a<b> c=d+e\\\"\"@X.org", .state = QUEUE_RCPT_FAILED },
};

static struct queue_rcpt rcpts_plain[] = {
	{ .address = "a@example.com" },
};

static const struct {
	const char *name;
	struct queue_env env;
	const char *text;       /* the exact file, NULL: not checked */
} env_cases[] = {
	{ "minimal", {
		.id = "0123456789ABCDEF", .created = 0, .channel = "l",
		.source = "tcp_local", .from = "",
		.rcpts = rcpts_plain, .nrcpts = 1 },
	  "version 1\n"
	  "id 0123456789ABCDEF\n"
	  "created 0\n"
	  "channel l\n"
	  "source tcp_local\n"
	  "from <>\n"
	  "priority normal\n"
	  "rcpt <a@example.com> state=pending\n"
	  "\n" },
	{ "everything", {
		.id = "VVVVVVVVVVVVVVVV", .created = 1700000000,
		.channel = "tcp_local", .source = "tcp_intranet",
		.from = "\"x y\"@example.net", .ret = QUEUE_RET_FULL,
		.envid = "QQ+2B1 =x", .priority = QUEUE_PRIORITY_URGENT,
		.client_addr = "192.0.2.1",
		.client_name = "mx.example.net", .helo = "helo with space",
		.auth = "j\xc3\xb6rg", .rcpts = rcpts_odd, .nrcpts = 3 },
	  "version 1\n"
	  "id VVVVVVVVVVVVVVVV\n"
	  "created 1700000000\n"
	  "channel tcp_local\n"
	  "source tcp_intranet\n"
	  "from <\"x+20y\"@example.net>\n"
	  "ret full\n"
	  "envid QQ+2B2B1+20+3Dx\n"
	  "priority urgent\n"
	  "client 192.0.2.1 mx.example.net\n"
	  "helo helo+20with+20space\n"
	  "auth j+C3+B6rg\n"
	  "rcpt <\"john+20smith\"@example.com> notify=success,failure,delay "
	  "orcpt=rfc822;\"john+20smith\"@example.com "
	  "original=<\"John+20Smith\"@Example.COM> state=pending\n"
	  "rcpt <j+C3+B6s+C3+A9@ex+C3+A4mple.org> notify=never state=delivered\n"
	  "rcpt <\"a<b>+20c+3Dd+2Be\\\"\"@x.org> notify=delay "
	  "original=<\"a<b>+20c+3Dd+2Be\\\"\"@X.org> state=failed\n"
	  "\n" },
	{ "ipv6 client, hdrs, nonurgent", {
		.id = "0000000000000000", .created = 9223372036854775807LL,
		.channel = "ims-ms", .source = "SMTP.in", .from = "bounce@x",
		.ret = QUEUE_RET_HDRS, .priority = QUEUE_PRIORITY_NONURGENT,
		.client_addr = "IPv6:2001:db8::1",
		.client_name = "[unknown]", .rcpts = rcpts_odd + 1, .nrcpts = 2 },
	  NULL },
};

/* Bytes that must never be taken for envelope lines: an empty line, a
 * key, a NUL, a lone LF. */
static const char body[] = "\nversion 2\r\nsize 5\r\n\0\n\nx\r\n";

/* jobctl's keys: absent when zero, kept when set, refused when bad. */
static void
test_env_jobctl_keys(void)
{
	struct queue_env env = {
		.id = "0123456789ABCDEF", .channel = "lmtp", .source = "tcp_local",
		.from = "", .rcpts = rcpts_plain, .nrcpts = 1,
	};
	char *text = queue_env_format(&env), *err = NULL;
	struct queue_env got;
	size_t off;

	CHECK(text != NULL && strstr(text, "attempts") == NULL &&
	    strstr(text, "retry") == NULL && strstr(text, "warned") == NULL);
	free(text);
	env.attempts = 3;
	env.retry = 1800000000;
	env.warned = 1;
	text = queue_env_format(&env);
	CHECK(text != NULL && strstr(text, "attempts 3\nretry 1800000000\n"
	    "warned 1\n") != NULL);
	CHECK(text != NULL && queue_env_parse(text, strlen(text), &got, &off,
	    &err));
	CHECK(got.attempts == 3 && got.retry == 1800000000 && got.warned == 1);
	queue_env_clear(&got);
	free(text);
	static const char bad[] = "version 1\nid 0123456789ABCDEF\ncreated 0\n"
	    "channel lmtp\nsource l\nfrom <>\nattempts -1\nrcpt <a@b>\n\n";
	CHECK(!queue_env_parse(bad, sizeof(bad) - 1, &got, &off, &err));
	free(err);
}

static void
test_env_roundtrip(void)
{
	for (size_t i = 0; i < N(env_cases); i++) {
		char *text = queue_env_format(&env_cases[i].env);
		struct queue_env got, want = env_cases[i].env;
		size_t off = 0;
		char *err = NULL;

		CHECK(text != NULL);
		if (text == NULL) {
			fprintf(stderr, "  %s: %s\n", env_cases[i].name, strerror(errno));
			continue;
		}
		if (env_cases[i].text != NULL)
			CHECK_STR(text, env_cases[i].text);
		size_t len = strlen(text);
		CHECK(queue_env_parse(text, len, &got, &off, &err));
		CHECK_STR(err, NULL);
		CHECK(off == len && got.size == 0);
		CHECK(env_equal(&got, &want));
		char *again = queue_env_format(&got);
		CHECK_STR(again, text);
		free(again);
		queue_env_clear(&got);
		CHECK(got.id == NULL && got.rcpts == NULL && got.nrcpts == 0);

		/* a whole entry: the message starts after the empty line */
		char *entry = malloc(len + sizeof(body));
		memcpy(entry, text, len);
		memcpy(entry + len, body, sizeof(body));
		want.size = sizeof(body);
		off = 0;
		CHECK(queue_env_parse(entry, len + sizeof(body), &got, &off, &err));
		CHECK(off == len && got.size == sizeof(body));
		CHECK(env_equal(&got, &want));
		queue_env_clear(&got);
		free(entry);
		free(text);
		free(err);
	}
}

/* Accepted variations of a hand-edited file. */
static void
test_env_parse_lenient(void)
{
	const char *text =
	    "version 1\n"
	    "rcpt <b@x> state=delivered notify=delay,success\n"
	    "from <a+2ab@x>\n"                      /* lower-case hex */
	    "source s\n"
	    "channel c\n"
	    "created 5\n"
	    "id 0123456789ABCDEF\n"
	    "\n"
	    "message";
	struct queue_env env;
	size_t off;
	char *err = NULL;

	CHECK(queue_env_parse(text, strlen(text), &env, &off, &err));
	CHECK_STR(err, NULL);
	CHECK(off == strlen(text) - 7 && env.size == 7);
	CHECK_STR(env.from, "a*b@x");
	CHECK(env.priority == QUEUE_PRIORITY_NORMAL && env.ret == QUEUE_RET_NONE);
	CHECK(env.nrcpts == 1 && env.rcpts[0].state == QUEUE_RCPT_DELIVERED);
	CHECK(env.nrcpts == 1 && env.rcpts[0].notify ==
	    (QUEUE_NOTIFY_DELAY | QUEUE_NOTIFY_SUCCESS));
	queue_env_clear(&env);
}

#define HDR "version 1\nid 0123456789ABCDEF\ncreated 1700000000\n" \
	"channel tcp_local\nsource tcp_intranet\nfrom <a@b>\n"
#define RCPT "rcpt <c@d>\n"

static const struct {
	const char *text;
	size_t len;             /* 0: strlen */
	const char *err;
} parse_errors[] = {
	{ "", 0, "no empty line after the envelope" },
	{ HDR RCPT, 0, "no empty line after the envelope" },
	{ HDR RCPT "\r\n", 0, "line 8: no value" },  /* LF lines only */
	{ "\n", 0, "missing key \"version\"" },
	{ HDR "\n", 0, "missing key \"rcpt\"" },
	{ "version 1\nid 0123456789ABCDEF\ncreated 1\nchannel c\n"
	  "from <>\n" RCPT "\nsource s\n", 0, "missing key \"source\"" },
	{ "id 0123456789ABCDEF\n" HDR RCPT "\n", 0,
	  "line 1: id: the first line must be the version" },
	{ "version 2\n", 0, "line 1: version: unsupported version" },
	{ HDR "bogus x\n" RCPT "\n", 0, "line 7: bogus: unknown key" },
	{ HDR "b\x01gus x\n" RCPT "\n", 0, "line 7: b?gus: unknown key" },
	{ HDR "size 10\n" RCPT "\n", 0, "line 7: size: unknown key" },
	{ HDR "novalue\n", 0, "line 7: no value" },
	{ HDR "helo \n", 0, "line 7: helo: empty value or stray space" },
	{ HDR "helo  x\n", 0, "line 7: helo: empty value or stray space" },
	{ HDR "helo x \n", 0, "line 7: helo: empty value or stray space" },
	{ HDR "from <a@b>\n", 0, "line 7: from: repeated key" },
	{ "version 1\nid 0123456789ABCDEF\ncreated 1x\n", 0,
	  "line 3: created: not a number" },
	{ "version 1\ncreated 9223372036854775808\n", 0,
	  "line 2: created: number out of range" },
	{ "version 1\nid 0123456789abcdef\n", 0, "line 2: id: not a queue ID" },
	{ "version 1\nchannel tmp\n", 0, "line 2: channel: not a channel name" },
	{ "version 1\nsource a/b\n", 0, "line 2: source: not a channel name" },
	{ "version 1\nfrom a@b\n", 0, "line 2: from: not <xtext>" },
	{ "version 1\nfrom <a@b\n", 0, "line 2: from: not <xtext>" },
	{ "version 1\nret none\n", 0, "line 2: ret: not full or hdrs" },
	{ "version 1\npriority high\n", 0,
	  "line 2: priority: not urgent, normal or nonurgent" },
	{ "version 1\nclient 192.0.2.1\n", 0, "line 2: client: not ADDRESS NAME" },
	{ "version 1\nauth a=b\n", 0, "line 2: auth: not xtext" },
	{ "version 1\nenvid a+4\n", 0, "line 2: envid: not xtext" },
	{ "version 1\nenvid a+4G\n", 0, "line 2: envid: not xtext" },
	{ "version 1\nenvid a+00\n", 0, "line 2: envid: not xtext" },
	{ "version 1\nrcpt <>\n", 0, "line 2: rcpt: empty address" },
	{ "version 1\nrcpt <c d@x>\n", 0, "line 2: rcpt: not <xtext>" },
	{ "version 1\nrcpt <c@d> color=red\n", 0, "line 2: rcpt: unknown attribute" },
	{ "version 1\nrcpt <c@d> state\n", 0, "line 2: rcpt: attribute without =" },
	{ "version 1\nrcpt <c@d> state=gone\n", 0, "line 2: rcpt: bad state" },
	{ "version 1\nrcpt <c@d> state=pending state=pending\n", 0,
	  "line 2: rcpt: repeated attribute" },
	{ "version 1\nrcpt <c@d> notify=never,success\n", 0,
	  "line 2: rcpt: bad notify" },
	{ "version 1\nrcpt <c@d> notify=success,success\n", 0,
	  "line 2: rcpt: bad notify" },
	{ "version 1\nrcpt <c@d> notify=\n", 0, "line 2: rcpt: bad notify" },
	{ "version 1\nrcpt <c@d> original=<>\n", 0, "line 2: rcpt: empty address" },
	{ "version 1\nrcpt <c@d> orcpt=rfc822;a\xc3\xa9\n", 0,
	  "line 2: rcpt: not xtext" },
	{ HDR RCPT "auth x", 0, "line 8: no newline at the end" },
	{ "version 1\nhelo a\0b\n", 20, "line 2: NUL byte" },
};

static void
test_env_parse_errors(void)
{
	for (size_t i = 0; i < N(parse_errors); i++) {
		struct queue_env env;
		char *err = NULL;
		size_t off = 7;
		size_t len = parse_errors[i].len ? parse_errors[i].len
		                                 : strlen(parse_errors[i].text);

		memset(&env, 0x5a, sizeof(env));
		CHECK(!queue_env_parse(parse_errors[i].text, len, &env, &off, &err));
		CHECK_STR(err, parse_errors[i].err);
		CHECK(env.id == NULL && env.rcpts == NULL && env.nrcpts == 0);
		CHECK(off == 7);                /* untouched */
		free(err);
	}
}

/* The caps: lines of QUEUE_ENV_LINE_MAX bytes and QUEUE_ENV_RCPTS_MAX
 * recipients are accepted, one more refused. */
static void
test_env_caps(void)
{
	size_t cap = strlen(HDR) + (size_t)(QUEUE_ENV_RCPTS_MAX + 1) * 32 + 8192;
	char *text = malloc(cap), *p = text;
	struct queue_env env;
	size_t off;
	char *err = NULL;

	p += sprintf(p, "%s", HDR);
	for (int i = 0; i < QUEUE_ENV_RCPTS_MAX; i++)
		p += sprintf(p, "rcpt <u%d@example.com>\n", i);
	char *rcpts_end = p;
	p += sprintf(p, "\n");
	CHECK(queue_env_parse(text, (size_t)(p - text), &env, &off, &err));
	CHECK(env.nrcpts == QUEUE_ENV_RCPTS_MAX);
	CHECK_STR(env.nrcpts ? env.rcpts[QUEUE_ENV_RCPTS_MAX - 1].address : NULL,
	    "u99999@example.com");
	queue_env_clear(&env);
	free(err);
	err = NULL;
	p = rcpts_end + sprintf(rcpts_end, "rcpt <one@more>\n\n");
	CHECK(!queue_env_parse(text, (size_t)(p - text), &env, &off, &err));
	CHECK_STR(err, "line 100007: rcpt: too many recipients");
	free(err);

	/* "helo " + value + LF: exactly the cap, then one more */
	p = text + sprintf(text, "%shelo ", HDR);
	memset(p, 'h', QUEUE_ENV_LINE_MAX - 5);
	p += QUEUE_ENV_LINE_MAX - 5;
	p += sprintf(p, "\n%s\n", RCPT);
	err = NULL;
	CHECK(queue_env_parse(text, (size_t)(p - text), &env, &off, &err));
	CHECK(env.helo != NULL && strlen(env.helo) == QUEUE_ENV_LINE_MAX - 5);
	queue_env_clear(&env);
	free(err);
	p = text + sprintf(text, "%shelo ", HDR);
	memset(p, 'h', QUEUE_ENV_LINE_MAX - 4);
	p += QUEUE_ENV_LINE_MAX - 4;
	p += sprintf(p, "\n%s\n", RCPT);
	err = NULL;
	CHECK(!queue_env_parse(text, (size_t)(p - text), &env, &off, &err));
	CHECK_STR(err, "line 7: line too long");
	free(err);
	free(text);
}

/* What the parser would refuse is never written. */
static void
test_env_format_refuses(void)
{
	static char big[2000];
	struct queue_rcpt empty = { .address = "" };
	struct queue_rcpt both = { .address = "a@b",
	    .notify = QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_DELAY };
	struct queue_rcpt state = { .address = "a@b", .state = 7 };
	struct queue_rcpt spaces = { .address = big };
	const struct queue_env good = { .id = "0123456789ABCDEF",
	    .channel = "c", .source = "s", .from = "", .rcpts = rcpts_plain,
	    .nrcpts = 1 };
	static const struct {
		const char *name;
		int err;
	} cases[] = {
		{ "bad id", EINVAL }, { "bad channel", EINVAL },
		{ "no source", EINVAL }, { "no from", EINVAL },
		{ "bad ret", EINVAL }, { "bad priority", EINVAL },
		{ "no rcpts", EINVAL }, { "empty rcpt", EINVAL },
		{ "never and delay", EINVAL }, { "bad state", EINVAL },
		{ "client without name", EINVAL }, { "negative created", EINVAL },
		{ "line too long", E2BIG },
	};

	memset(big, ' ', sizeof(big) - 1);      /* 3 bytes each as xtext */
	for (size_t i = 0; i < N(cases); i++) {
		struct queue_env e = good;
		switch (i) {
		case 0: e.id = "0123"; break;
		case 1: e.channel = "tmp"; break;
		case 2: e.source = NULL; break;
		case 3: e.from = NULL; break;
		case 4: e.ret = 3; break;
		case 5: e.priority = 2; break;
		case 6: e.nrcpts = 0; break;
		case 7: e.rcpts = &empty; break;
		case 8: e.rcpts = &both; break;
		case 9: e.rcpts = &state; break;
		case 10: e.client_addr = "192.0.2.1"; break;
		case 11: e.created = -1; break;
		case 12: e.rcpts = &spaces; break;
		}
		errno = 0;
		char *text = queue_env_format(&e);
		CHECK(text == NULL && errno == cases[i].err);
		if (text != NULL || errno != cases[i].err)
			fprintf(stderr, "  %s\n", cases[i].name);
		free(text);
	}
	char *text = queue_env_format(&good);
	CHECK(text != NULL);
	free(text);
}

/* ---- commits ---------------------------------------------------------- */

/* A message with content: 10 bytes, then more than the buffer in one
 * write, then a buffered tail (crossing the buffer's end). */
static struct queue_msg *
make_msg(struct queue *q, const struct queue_dest *dests, size_t ndests,
    char **content, size_t *len)
{
	char *err = NULL;
	struct queue_msg *m = queue_msg_new(q, &shared_env, dests, ndests, &err);
	size_t parts[] = { 10, QUEUE_MSG_BUFSIZE + 100, 70000 }, total = 0;

	CHECK(m != NULL);
	if (m == NULL) {
		fprintf(stderr, "  %s\n", err);
		free(err);
		return NULL;
	}
	for (size_t i = 0; i < N(parts); i++)
		total += parts[i];
	*content = malloc(total);
	for (size_t i = 0; i < total; i++)
		(*content)[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	size_t off = 0;
	for (size_t i = 0; i < N(parts); i++) {
		CHECK(queue_msg_write(m, *content + off, parts[i]) == 0);
		off += parts[i];
		CHECK(queue_msg_size(m) == off);
	}
	*len = total;
	return m;
}

/* The directory of an entry; root is a full path. */
static const char *
entry_dir(const char *root, const char *channel, int subdirs, const char *id)
{
	static char buf[PATH_MAX];
	int ss = queue_subdir(id, subdirs);

	if (ss < 0)
		snprintf(buf, sizeof(buf), "%s/%s", root, channel);
	else
		snprintf(buf, sizeof(buf), "%s/%s/%02d", root, channel, ss);
	return buf;
}

/* The file of an entry: its envelope for d, the empty line, the message. */
static void
check_entry(const char *root, const struct queue_dest *d, const char *id,
    const char *content, size_t len)
{
	const char *dir = entry_dir(root, d->channel, d->subdirs, id);
	char path[PATH_MAX + 64];
	struct stat st;
	size_t got_len = 0, off = 0;

	struct queue_env want = shared_env;
	want.id = (char *)id;
	want.channel = (char *)d->channel;
	want.rcpts = (struct queue_rcpt *)d->rcpts;
	want.nrcpts = d->nrcpts;
	char *head = queue_env_format(&want);
	size_t head_len = head ? strlen(head) : 0;
	want.size = len;

	snprintf(path, sizeof(path), "%s/%s", dir, id);
	CHECK(stat(path, &st) == 0 && st.st_nlink == 1 &&
	    (size_t)st.st_size == head_len + len && (st.st_mode & 0777) == 0600);
	CHECK(count_entries(dir) == 1);         /* nothing else beside it */
	char *data = slurp(path, &got_len);
	CHECK(data != NULL && got_len == head_len + len);
	if (data == NULL || head == NULL || got_len != head_len + len) {
		free(data);
		free(head);
		return;
	}
	CHECK(memcmp(data, head, head_len) == 0);
	CHECK(memcmp(data + head_len, content, len) == 0);
	struct queue_env parsed;
	char *err = NULL;
	CHECK(queue_env_parse(data, got_len, &parsed, &off, &err));
	CHECK(off == head_len && parsed.size == len);
	CHECK(env_equal(&parsed, &want));
	queue_env_clear(&parsed);
	free(err);
	free(data);
	free(head);
}

static const struct {
	const char *root;
	int subdirs[3];
	int copy_errno;         /* copy_file_range fails with it */
	size_t copy_max;        /* copy_file_range copies at most that */
} commit_cases[] = {
	{ "c0", { 0, 0, 0 }, 0, 0 },
	{ "c20", { 20, 20, 20 }, 0, 0 },
	{ "cmix", { 0, 20, 1 }, 0, 0 },
	{ "cshort", { 0, 20, 1 }, 0, 1000 },
	{ "cexdev", { 20, 0, 1 }, EXDEV, 0 },
	{ "cnosys", { 20, 0, 1 }, ENOSYS, 0 },
};

static void
test_commit(void)
{
	for (size_t i = 0; i < N(commit_cases); i++) {
		const char *root = commit_cases[i].root;
		char *err = NULL, *content = NULL;
		size_t len = 0;
		struct queue *q = queue_open(base, at("%s", root), &err);
		struct queue_dest dests[3] = {
			{ "tcp_local", commit_cases[i].subdirs[0], rcpts_a, 2 },
			{ "lmtp", commit_cases[i].subdirs[1], rcpts_b, 1 },
			{ "reprocess", commit_cases[i].subdirs[2], rcpts_c, 1 },
		};

		CHECK(q != NULL);
		if (q == NULL)
			continue;
		struct queue_msg *m = make_msg(q, dests, 3, &content, &len);
		if (m == NULL) {
			queue_close(&q);
			continue;
		}
		char id[QUEUE_ID_LEN + 1];
		snprintf(id, sizeof(id), "%s", queue_msg_id(m));
		CHECK(exists(at("%s/tmp/%s", root, id)));
		struct result r = { 0, -1 };
		int before = callbacks;

		copy_errno = commit_cases[i].copy_errno;
		copy_max = commit_cases[i].copy_max;
		queue_commit(&m, on_commit, &r);
		CHECK(m == NULL);
		CHECK(r.calls == 0);            /* never inside queue_commit */
		run_until(before + 1);
		CHECK(r.calls == 1 && r.err == 0);
		copy_errno = 0;
		copy_max = 0;
		queue_close(&q);                /* the tmp names are gone */
		CHECK(r.calls == 1);
		for (size_t k = 0; k < 3; k++)
			check_entry(at("%s", root), &dests[k], id, content, len);
		CHECK(count_entries(at("%s/tmp", root)) == 0);
		CHECK(count_files(at("%s", root)) == 3);
		free(content);
	}
}

/* A commit that fails leaves no entry and no tmp file. */
static void
check_nothing_left(const char *root, const struct queue_dest *dests,
    size_t ndests, const char *id)
{
	char path[PATH_MAX + 64];

	for (size_t k = 0; k < ndests; k++) {
		const char *dir = entry_dir(root, dests[k].channel, dests[k].subdirs,
		    id);
		snprintf(path, sizeof(path), "%s/%s", dir, id);
		CHECK(!exists(path));
		if (k == 0)
			snprintf(path, sizeof(path), "%s/tmp/%s", root, id);
		else
			snprintf(path, sizeof(path), "%s/tmp/%s.%zu", root, id, k);
		CHECK(!exists(path));
	}
}

static int
commit_one(struct queue *q, const struct queue_dest *dests, size_t ndests,
    char id[QUEUE_ID_LEN + 1])
{
	char *err = NULL;
	struct queue_msg *m = queue_msg_new(q, &shared_env, dests, ndests, &err);
	struct result r = { 0, -1 };
	int before = callbacks;

	CHECK(m != NULL);
	if (m == NULL) {
		free(err);
		return -1;
	}
	snprintf(id, QUEUE_ID_LEN + 1, "%s", queue_msg_id(m));
	CHECK(queue_msg_write(m, "Subject: x\r\n\r\nbody\r\n", 21) == 0);
	queue_commit(&m, on_commit, &r);
	CHECK(r.calls == 0);
	run_until(before + 1);
	CHECK(r.calls == 1);
	return r.err;
}

/* Make the next write() to the file of m fail with EBADF: a read-only
 * descriptor in its place; 0, the saved one to put back, or -1. */
static int
break_msg_fd(const char *id, int *fd)
{
	*fd = -1;
	for (int f = 3; f < 1024 && *fd < 0; f++) {
		char link[64], target[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", f);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strstr(target, id) != NULL)
				*fd = f;
		}
	}
	if (*fd < 0)
		return -1;
	int saved = dup(*fd);
	int ro = open("/dev/null", O_RDONLY);
	dup2(ro, *fd);
	close(ro);
	return saved;
}

static void
test_commit_failures(void)
{
	char *err = NULL, id[QUEUE_ID_LEN + 1];
	struct queue *q = queue_open(base, at("fail"), &err);

	CHECK(q != NULL);
	if (q == NULL)
		return;
	/* a regular file where the third channel's directory should be: the
	 * first two are linked in step 3, then unlinked */
	int fd = open(at("fail/blocked"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	static const int subdirs[] = { 0, 20 };
	for (size_t i = 0; i < N(subdirs); i++) {
		struct queue_dest dests[3] = {
			{ "a", subdirs[i], rcpts_a, 2 }, { "b", 0, rcpts_b, 1 },
			{ "blocked", subdirs[i], rcpts_c, 1 },
		};
		int rc = commit_one(q, dests, 3, id);
		CHECK(rc == ENOTDIR);
		check_nothing_left(at("fail"), dests, 3, id);
	}
	CHECK(count_files(at("fail/a")) == 0 && count_files(at("fail/b")) == 0);

	/* fsync fails with ENOSPC at each point: with 3 existing directories
	 * the first round makes 3 fsyncs (the files), the second 3 (the
	 * directories); failing the 7th is too late to matter. */
	struct queue_dest dests[3] = {
		{ "x", 0, rcpts_a, 2 }, { "y", 20, rcpts_b, 1 }, { "z", 0, rcpts_c, 1 },
	};
	CHECK(commit_one(q, dests, 3, id) == 0);        /* makes the dirs */
	int files = count_files(at("fail"));
	for (int skip = 0; skip <= 7; skip++) {
		/* y's SS directory may be new for this ID: making it adds an
		 * fsync, and a failure there is an ENOSPC too */
		fsync_fail(skip, ENOSPC, 1);
		int rc = commit_one(q, dests, 3, id);
		int left;
		pthread_mutex_lock(&fsync_lock);
		left = fsync_fail_count;
		pthread_mutex_unlock(&fsync_lock);
		fsync_fail(0, 0, 0);
		if (left == 0) {
			CHECK(rc == ENOSPC);
			if (rc != ENOSPC)
				fprintf(stderr, "  skip %d: %d\n", skip, rc);
			check_nothing_left(at("fail"), dests, 3, id);
			CHECK(count_files(at("fail")) == files);
		} else {
			CHECK(rc == 0);         /* the failure never came */
			files += 3;
		}
	}

	/* step 1 fails for a further destination: tmp/ID.2 is in the way */
	struct queue_msg *m = queue_msg_new(q, &shared_env, dests, 3, &err);
	CHECK(m != NULL);
	if (m != NULL) {
		struct result r = { 0, -1 };
		int before = callbacks;
		snprintf(id, sizeof(id), "%s", queue_msg_id(m));
		close(open(at("fail/tmp/%s.2", id), O_WRONLY | O_CREAT, 0600));
		CHECK(queue_msg_write(m, "x\r\n", 3) == 0);
		queue_commit(&m, on_commit, &r);
		run_until(before + 1);
		CHECK(r.calls == 1 && r.err == EEXIST);
		CHECK(exists(at("fail/tmp/%s.2", id)));     /* not ours: kept */
		unlink(at("fail/tmp/%s.2", id));
		check_nothing_left(at("fail"), dests, 3, id);
		CHECK(count_files(at("fail")) == files);
	}

	/* a write error sticks and fails the commit */
	m = queue_msg_new(q, &shared_env, dests, 3, &err);
	CHECK(m != NULL);
	if (m != NULL) {
		struct result r = { 0, -1 };
		int before = callbacks, mfd;
		snprintf(id, sizeof(id), "%s", queue_msg_id(m));
		int saved = break_msg_fd(id, &mfd);
		CHECK(saved >= 0);
		errno = 0;
		static char big[QUEUE_MSG_BUFSIZE];
		CHECK(queue_msg_write(m, big, sizeof(big)) == -1);
		CHECK(errno == EBADF);
		CHECK(queue_msg_write(m, "x", 1) == -1 && errno == EBADF);
		if (saved >= 0) {
			dup2(saved, mfd);
			close(saved);
		}
		queue_commit(&m, on_commit, &r);
		run_until(before + 1);
		CHECK(r.calls == 1 && r.err == EBADF);
		check_nothing_left(at("fail"), dests, 3, id);
	}
	queue_close(&q);
	CHECK(count_entries(at("fail/tmp")) == 0);
}

/* What would not parse back is refused by queue_msg_new, nothing made. */
static void
test_msg_refused(void)
{
	char *err = NULL;
	struct queue *q = queue_open(base, at("refused"), &err);
	static char big[2000];
	struct queue_rcpt bad_rcpt = { .address = "" };
	struct queue_rcpt long_rcpt = { .address = big };
	static const struct {
		struct queue_dest dests[2];
		size_t n;
	} cases[] = {
		{ { { "ok", 0, rcpts_b, 1 } }, 0 },
		{ { { "../up", 0, rcpts_b, 1 } }, 1 },
		{ { { "tmp", 0, rcpts_b, 1 } }, 1 },
		{ { { NULL, 0, rcpts_b, 1 } }, 1 },
		{ { { "ok", 0, rcpts_b, 1 }, { "ok", 20, rcpts_c, 1 } }, 2 },
		{ { { "ok", 0, rcpts_b, 0 } }, 1 },
	};

	CHECK(q != NULL);
	if (q == NULL)
		return;
	memset(big, ' ', sizeof(big) - 1);      /* 3 bytes each as xtext */
	for (size_t i = 0; i <= N(cases) + 1; i++) {
		struct queue_dest bad[2] = {
			{ "ok", 0, rcpts_b, 1 }, { "ok2", 0, &bad_rcpt, 1 },
		};
		const struct queue_dest *d = i < N(cases) ? cases[i].dests : bad;
		size_t n = i < N(cases) ? cases[i].n : 2;
		int want = EINVAL;
		if (i == N(cases) + 1) {
			bad[1].rcpts = &long_rcpt;
			want = E2BIG;
		}
		errno = 0;
		err = NULL;
		struct queue_msg *m = queue_msg_new(q, &shared_env, d, n, &err);
		CHECK(m == NULL && errno == want && err != NULL);
		if (m != NULL || errno != want)
			fprintf(stderr, "  case %zu: %s\n", i, err ? err : "");
		queue_msg_abort(&m);
		free(err);
		CHECK(count_entries(at("refused/tmp")) == 0);
		CHECK(count_files(at("refused")) == 0);
	}
	queue_close(&q);
}

/* 200 requests queued while the commit thread is held in its first
 * fsync: they are done in at most two batches, every callback runs once. */
static void
test_commit_batch(void)
{
	enum { NMSG = 200 };
	char *err = NULL;
	struct queue *q = queue_open(base, at("batch"), &err);
	static struct result r[NMSG];
	struct queue_dest d = { "bulk", 20, rcpts_a, 2 };
	unsigned long long b0, n0, b1, n1;
	int before = callbacks;

	CHECK(q != NULL);
	if (q == NULL)
		return;
	queue_counts(q, &b0, &n0);
	fsync_gate(true);
	for (int i = 0; i < NMSG; i++) {
		struct queue_msg *m = queue_msg_new(q, &shared_env, &d, 1, &err);
		if (m == NULL)
			break;
		char line[64];
		int n = snprintf(line, sizeof(line), "Subject: %d\r\n\r\n", i);
		CHECK(queue_msg_write(m, line, (size_t)n) == 0);
		r[i].err = -1;
		queue_commit(&m, on_commit, &r[i]);
	}
	CHECK(callbacks == before);
	fsync_gate(false);
	run_until(before + NMSG);
	CHECK(callbacks == before + NMSG);
	int ok = 0;
	for (int i = 0; i < NMSG; i++)
		ok += r[i].calls == 1 && r[i].err == 0;
	CHECK(ok == NMSG);
	queue_counts(q, &b1, &n1);
	CHECK(n1 - n0 == NMSG);
	CHECK(b1 - b0 >= 1 && b1 - b0 <= 2);
	fprintf(stderr, "  %d commits in %llu batches\n", NMSG, b1 - b0);
	queue_close(&q);
	CHECK(count_files(at("batch/bulk")) == NMSG);
	CHECK(count_entries(at("batch/tmp")) == 0);
}

/* queue_close waits for the commits in flight and runs their callbacks. */
static void
test_close_inflight(void)
{
	char *err = NULL;
	struct queue *q = queue_open(base, at("closing"), &err);
	struct queue_dest d = { "c", 20, rcpts_b, 1 };
	struct result r[5] = { { 0, -1 }, { 0, -1 }, { 0, -1 }, { 0, -1 },
	    { 0, -1 } };

	CHECK(q != NULL);
	if (q == NULL)
		return;
	for (size_t i = 0; i < N(r); i++) {
		struct queue_msg *m = queue_msg_new(q, &shared_env, &d, 1, &err);
		CHECK(m != NULL && queue_msg_write(m, "x\r\n", 3) == 0);
		if (m != NULL)
			queue_commit(&m, on_commit, &r[i]);
	}
	CHECK(r[0].calls == 0);
	queue_close(&q);
	for (size_t i = 0; i < N(r); i++)
		CHECK(r[i].calls == 1 && r[i].err == 0);
	CHECK(count_files(at("closing/c")) == (int)N(r));
	CHECK(count_entries(at("closing/tmp")) == 0);
}

/* One datagram per entry after a commit; no listener is no error. */
static void
test_notify(void)
{
	char *err = NULL, id[QUEUE_ID_LEN + 1];
	struct queue *q = queue_open(base, at("notify"), &err);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct queue_dest dests[2] = {
		{ "lmtp", 0, rcpts_b, 1 }, { "tcp_local", 20, rcpts_a, 2 },
	};

	CHECK(q != NULL);
	if (q == NULL)
		return;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", at("notify.sock"));
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CHECK(bind(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	queue_set_notify(q, sun.sun_path);
	CHECK(commit_one(q, dests, 2, id) == 0);

	char want[2][128], got[2][128] = { "", "" };
	snprintf(want[0], sizeof(want[0]), "lmtp/%s\n", id);
	snprintf(want[1], sizeof(want[1]), "tcp_local/%02d/%s\n",
	    queue_subdir(id, 20), id);
	for (int i = 0; i < 2; i++) {
		ssize_t n = recv(s, got[i], sizeof(got[i]) - 1, 0);
		got[i][n > 0 ? n : 0] = '\0';
	}
	CHECK_STR(got[0], want[0]);
	CHECK_STR(got[1], want[1]);
	char extra[16];
	CHECK(recv(s, extra, sizeof(extra), 0) == -1 && errno == EAGAIN);

	/* nobody listening: the commit still succeeds */
	close(s);
	unlink(sun.sun_path);
	CHECK(commit_one(q, dests, 2, id) == 0);
	/* a regular file at the path (ECONNREFUSED) */
	close(open(sun.sun_path, O_WRONLY | O_CREAT, 0600));
	CHECK(commit_one(q, dests, 2, id) == 0);
	queue_set_notify(q, NULL);
	CHECK(commit_one(q, dests, 2, id) == 0);
	queue_close(&q);
}

/* queue_open makes the directories and removes leftover tmp files. */
static void
test_open(void)
{
	char *err = NULL;
	struct queue *q = queue_open(base, at("open/deep/root"), &err);

	CHECK(q != NULL && err == NULL);
	CHECK(count_entries(at("open/deep/root/tmp")) == 0);
	struct queue_msg *m = queue_msg_new(q, &shared_env, &dest_one, 1, &err);
	CHECK(m != NULL && queue_msg_write(m, "x", 1) == 0);
	queue_close(&q);
	/* the process "died" with m unacknowledged; and another leftover */
	close(open(at("open/deep/root/tmp/0123456789ABCDEF"), O_WRONLY | O_CREAT,
	    0600));
	CHECK(count_entries(at("open/deep/root/tmp")) == 2);
	q = queue_open(base, at("open/deep/root"), &err);
	CHECK(q != NULL);
	CHECK(count_entries(at("open/deep/root/tmp")) == 0);
	queue_msg_abort(&m);                    /* its file is gone: fine */
	CHECK(m == NULL);
	queue_close(&q);

	/* a file in the way of the root */
	close(open(at("open/file"), O_WRONLY | O_CREAT, 0600));
	q = queue_open(base, at("open/file/q"), &err);
	CHECK(q == NULL);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "mkdir(\"%s\"): Not a directory",
	    at("open/file/q/tmp"));
	CHECK_STR(err, want);
	free(err);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_mta_queue.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	umask(022);
	evthread_use_pthreads();
	base = event_base_new();
	UNIT_RUN(test_names);
	UNIT_RUN(test_ids);
	UNIT_RUN(test_env_roundtrip);
	UNIT_RUN(test_env_jobctl_keys);
	UNIT_RUN(test_env_parse_lenient);
	UNIT_RUN(test_env_parse_errors);
	UNIT_RUN(test_env_caps);
	UNIT_RUN(test_env_format_refuses);
	UNIT_RUN(test_commit);
	UNIT_RUN(test_commit_failures);
	UNIT_RUN(test_msg_refused);
	UNIT_RUN(test_commit_batch);
	UNIT_RUN(test_close_inflight);
	UNIT_RUN(test_notify);
	UNIT_RUN(test_open);
	event_base_free(base);
	rm_rf(tmpdir);
	return unit_done();
}
