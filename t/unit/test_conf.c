/* test_conf: msg.conf syntax, validation against a daemon's key table
 * (owned namespaces, wildcard keys, typed values), getters and defaults,
 * conf_each and conf_load. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The table of a pretend daemon owning "store." and "service.lmtp.". */
static const struct conf_key keys[] = {
	{ "store.path", CONF_STR, "/var/store", "where mail lives" },
	{ "store.port", CONF_INT, "24", "port" },
	{ "store.fsync", CONF_BOOL, "yes", "fsync before 250" },
	{ "store.max_size", CONF_SIZE, "10m", "largest message" },
	{ "store.timeout", CONF_DURATION, "pt5m", "idle timeout" },
	{ "store.domains", CONF_LIST, "a.example b.example", "local domains" },
	{ "store.partition.*.path", CONF_STR, NULL, "partition directory" },
	{ "store.partition.*.weight", CONF_INT, "1", "partition weight" },
	{ "store.nodefault", CONF_INT, NULL, "no default" },
	{ "service.lmtp.port", CONF_INT, "24", "LMTP port" },
	{ NULL, CONF_STR, NULL, NULL },
};
static const char *const owned[] = { "store.", "service.lmtp.", NULL };

/* Syntax only (conf_parse).  err: NULL when the text parses, else every
 * substring the error text must contain. */
static const struct {
	const char *text;
	int entries;            /* conf_each("") count when ok */
	const char *err[3];
} parse_cases[] = {
	{ "", 0, { NULL } },
	{ "\n\n\n", 0, { NULL } },
	{ "# comment\n\n   \n\t# indented comment\n#a = b\n", 0, { NULL } },
	{ "a = 1\n", 1, { NULL } },
	{ "a=1", 1, { NULL } },                 /* no final newline */
	{ "a = 1\r\nb = 2\r\n", 2, { NULL } },
	{ "  a  =  1  \n", 1, { NULL } },
	{ "a =\n", 1, { NULL } },               /* empty value */
	{ "a = b = c\n", 1, { NULL } },
	{ "a.b-c_d.9 = x\n", 1, { NULL } },
	{ "a = 1\na = 2\n", 0,
	    { "t.conf:2: ", "duplicate key a", "first at line 1" } },
	{ "# x\n\nstore.path = a\nSTORE.PATH = b\n", 0,
	    { "t.conf:4: ", "duplicate", "first at line 3" } },
	{ "just words\n", 0, { "t.conf:1: ", "expected" } },
	{ "a = 1\n\nfoo\n", 0, { "t.conf:3: " } },
	{ "= value\n", 0, { "t.conf:1: ", "malformed key" } },
	{ "bad key = 1\n", 0, { "t.conf:1: ", "malformed key" } },
	{ "a/b = 1\n", 0, { "t.conf:1: ", "malformed key" } },
	{ "a* = 1\n", 0, { "t.conf:1: ", "malformed key" } },
	/* Every bad line is reported, not only the first. */
	{ "foo\nok = 1\nbar\n", 0, { "t.conf:1: ", "t.conf:3: " } },
};

static void
each_count(void *arg, const char *k, const char *v)
{
	(void)k;
	(void)v;
	(*(int *)arg)++;
}

static int
count_each(const struct conf *c)
{
	int n = 0;

	conf_each(c, "", each_count, &n);
	return n;
}

static void
test_parse(void)
{
	for (size_t i = 0; i < N(parse_cases); i++) {
		char *err = (char *)"untouched";
		struct conf *c = conf_parse("t.conf", parse_cases[i].text, &err);

		if (parse_cases[i].err[0] == NULL) {
			CHECK(c != NULL);
			CHECK(err == NULL);
			if (c != NULL)
				CHECK(count_each(c) == parse_cases[i].entries);
			if (c == NULL)
				fprintf(stderr, "  case %zu: %s", i, err);
		} else {
			CHECK(c == NULL);
			CHECK(err != NULL);
			for (int j = 0; j < 3 && parse_cases[i].err[j]; j++) {
				CHECK(err && strstr(err, parse_cases[i].err[j]));
				if (err == NULL || !strstr(err, parse_cases[i].err[j]))
					fprintf(stderr, "  case %zu: want \"%s\" in \"%s\"\n",
					    i, parse_cases[i].err[j], err ? err : "");
			}
		}
		conf_free(&c);
		CHECK(c == NULL);
		if (err != NULL && strcmp(err, "untouched") != 0)
			free(err);
	}
}

/* Values exactly as written, comments only as whole lines. */
static void
test_values_kept(void)
{
	char *err;
	struct conf *c = conf_parse("t.conf",
	    "a = b = c\n"
	    "b = x # not a comment\n"
	    "  C.Mixed  =  Keep Case  \r\n"
	    "d =\n", &err);

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_STR(conf_str(c, "a"), "b = c");
	CHECK_STR(conf_str(c, "b"), "x # not a comment");
	CHECK_STR(conf_str(c, "c.mixed"), "Keep Case");   /* keys fold case */
	CHECK_STR(conf_str(c, "d"), "");
	CHECK(conf_str(c, "absent") == NULL);             /* no table yet */
	conf_free(&c);
}

static void
test_long_line(void)
{
	size_t n = 9000;
	char *text = malloc(n + 16), *err;

	memcpy(text, "a = ", 4);
	memset(text + 4, 'x', n);
	strcpy(text + 4 + n, "\nb = 1\n");
	struct conf *c = conf_parse("t.conf", text, &err);
	CHECK(c == NULL);
	CHECK(err && strstr(err, "t.conf:1: "));
	CHECK(err && !strstr(err, "t.conf:2: "));
	free(err);
	free(text);
}

/* Validation (conf_check) against keys/owned. */
static const struct {
	const char *text;
	int nerr;
	const char *err[2];
} check_cases[] = {
	{ "", 0, { NULL } },
	{ "store.path = /x\nimap.port = 143\nservice.imap.port = y\n"
	  "storex.a = 1\nservice.lmtpx = 1\n", 0, { NULL } },
	{ "store.nope = 1\n", 1, { "t.conf:1: unknown key store.nope" } },
	{ "\n\nservice.lmtp.nope = 1\n", 1, { "t.conf:3: unknown key" } },
	{ "store.path = 1\nstore.nope = 1\nstore.port = x\n", 2,
	    { "t.conf:2: unknown key store.nope", "t.conf:3: store.port" } },
	/* wildcard keys: '*' matches exactly one word */
	{ "store.partition.p1.path = /a\nstore.partition.p-2.weight = 3\n", 0,
	    { NULL } },
	{ "store.partition..path = /a\n", 1, { "t.conf:1: unknown key" } },
	{ "store.partition.a.b.path = /a\n", 1, { "t.conf:1: unknown key" } },
	{ "store.partition.p1 = /a\n", 1, { "t.conf:1: unknown key" } },
	{ "store.partition.p1.path.x = /a\n", 1, { "t.conf:1: unknown key" } },
	{ "store.partition.path = /a\n", 1, { "t.conf:1: unknown key" } },
	{ "store.partition.p1.weight = heavy\n", 1,
	    { "t.conf:1: store.partition.p1.weight", "not an integer" } },
	/* typed values */
	{ "store.port = -5\n", 0, { NULL } },
	{ "store.port = abc\n", 1, { "t.conf:1: store.port: \"abc\"", "integer" } },
	{ "store.port = 1.5\n", 1, { "t.conf:1: " } },
	{ "store.port =\n", 1, { "t.conf:1: " } },
	{ "store.port = 0x10\n", 1, { "t.conf:1: " } },
	{ "store.port = 9223372036854775808\n", 1, { "t.conf:1: " } },
	{ "store.fsync = maybe\n", 1, { "t.conf:1: store.fsync", "yes or no" } },
	{ "store.fsync = On\n", 0, { NULL } },
	{ "store.max_size = 10k\n", 0, { NULL } },
	{ "store.max_size = 10kb\n", 1, { "t.conf:1: store.max_size", "size" } },
	{ "store.max_size = -1\n", 1, { "t.conf:1: " } },
	{ "store.timeout = p1m\n", 1, { "t.conf:1: store.timeout", "duration" } },
	{ "store.timeout = 90\n", 0, { NULL } },
	{ "store.domains = anything, at all\n", 0, { NULL } },
	{ "service.lmtp.port = x\n", 1, { "t.conf:1: service.lmtp.port" } },
};

static void
test_check(void)
{
	for (size_t i = 0; i < N(check_cases); i++) {
		char *err, *errs = (char *)"untouched";
		struct conf *c = conf_parse("t.conf", check_cases[i].text, &err);

		CHECK(c != NULL);
		if (c == NULL) {
			free(err);
			continue;
		}
		int n = conf_check(c, keys, owned, &errs);
		CHECK(n == check_cases[i].nerr);
		if (check_cases[i].nerr == 0)
			CHECK(errs == NULL);
		for (int j = 0; j < 2 && check_cases[i].err[j]; j++)
			CHECK(errs && strstr(errs, check_cases[i].err[j]));
		if (n != check_cases[i].nerr)
			fprintf(stderr, "  case %zu: %d errors: %s\n", i, n,
			    errs ? errs : "");
		if (errs != NULL && strcmp(errs, "untouched") != 0)
			free(errs);
		conf_free(&c);
	}
}

static const struct {
	const char *in;
	bool ok, want;
} bool_cases[] = {
	{ "yes", true, true }, { "on", true, true }, { "true", true, true },
	{ "1", true, true }, { "YES", true, true }, { "True", true, true },
	{ "no", true, false }, { "off", true, false }, { "false", true, false },
	{ "0", true, false }, { "OFF", true, false },
	{ "", false, false }, { "y", false, false }, { "2", false, false },
	{ "yes ", false, false }, { "enabled", false, false },
};

static const struct {
	const char *in;
	bool ok;
	uint64_t want;
} size_cases[] = {
	{ "0", true, 0 },
	{ "512", true, 512 },
	{ "10k", true, 10240 },
	{ "10K", true, 10240 },
	{ "5m", true, 5 * 1048576ULL },
	{ "1g", true, 1073741824ULL },
	{ "1G", true, 1073741824ULL },
	{ "18446744073709551615", true, UINT64_MAX },
	{ "17179869183g", true, 17179869183ULL << 30 },
	{ "17179869184g", false, 0 },           /* 2^64 */
	{ "18446744073709551616", false, 0 },
	{ "", false, 0 },
	{ "k", false, 0 },
	{ "-1", false, 0 },
	{ "+1", false, 0 },
	{ " 1", false, 0 },
	{ "1 k", false, 0 },
	{ "1kb", false, 0 },
	{ "1t", false, 0 },
	{ "1.5m", false, 0 },
};

static const struct {
	const char *in;
	bool ok;
	long long want;
} int_cases[] = {
	{ "0", true, 0 }, { "42", true, 42 }, { "-42", true, -42 },
	{ "9223372036854775807", true, 9223372036854775807LL },
	{ "-9223372036854775808", true, -9223372036854775807LL - 1 },
	{ "9223372036854775808", false, 0 },
	{ "", false, 0 }, { "x", false, 0 }, { "1x", false, 0 },
	{ "1.0", false, 0 }, { "0x1f", false, 0 }, { "1 ", false, 0 },
};

static void
test_value_parsers(void)
{
	for (size_t i = 0; i < N(bool_cases); i++) {
		bool b = !bool_cases[i].want;

		CHECK(conf_parse_bool(bool_cases[i].in, &b) == bool_cases[i].ok);
		if (bool_cases[i].ok)
			CHECK(b == bool_cases[i].want);
	}
	for (size_t i = 0; i < N(size_cases); i++) {
		uint64_t u = 7;
		bool ok = conf_parse_size(size_cases[i].in, &u);

		CHECK(ok == size_cases[i].ok);
		CHECK(u == (size_cases[i].ok ? size_cases[i].want : 7));
		if (ok != size_cases[i].ok)
			fprintf(stderr, "  size \"%s\"\n", size_cases[i].in);
	}
	for (size_t i = 0; i < N(int_cases); i++) {
		long long v = 7;
		bool ok = conf_parse_int(int_cases[i].in, &v);

		CHECK(ok == int_cases[i].ok);
		CHECK(v == (int_cases[i].ok ? int_cases[i].want : 7));
	}
}

static struct conf *
checked(const char *text)
{
	char *err, *errs;
	struct conf *c = conf_parse("t.conf", text, &err);

	if (c == NULL) {
		fprintf(stderr, "%s", err);
		free(err);
		return NULL;
	}
	if (conf_check(c, keys, owned, &errs) != 0) {
		fprintf(stderr, "%s", errs);
		free(errs);
		conf_free(&c);
	}
	return c;
}

static void
test_getters(void)
{
	struct conf *c = checked(
	    "store.path = /srv/mail\n"
	    "Store.Port = -12\n"
	    "store.fsync = off\n"
	    "store.max_size = 5m\n"
	    "store.timeout = pt1h30m\n"
	    "store.domains = a.example, b.example  c.example,,\td\n"
	    "store.partition.p1.path = /p1\n"
	    "store.partition.p2.path = /p2\n"
	    "store.partition.p2.weight = 3\n"
	    "imap.port = 143\n");
	char **list;
	int n = -1;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_STR(conf_str(c, "store.path"), "/srv/mail");
	CHECK(conf_int(c, "store.port") == -12);
	CHECK(conf_bool(c, "store.fsync") == false);
	CHECK(conf_size(c, "store.max_size") == 5 * 1048576ULL);
	CHECK(conf_duration(c, "store.timeout") == 5400);
	list = conf_list(c, "store.domains", &n);
	CHECK(n == 4);
	if (n == 4) {
		CHECK_STR(list[0], "a.example");
		CHECK_STR(list[1], "b.example");
		CHECK_STR(list[2], "c.example");
		CHECK_STR(list[3], "d");
		CHECK(list[4] == NULL);
	}
	conf_list_free(list);
	/* wildcard keys: per-instance values and the pattern's default */
	CHECK_STR(conf_str(c, "store.partition.p1.path"), "/p1");
	CHECK(conf_int(c, "store.partition.p1.weight") == 1);
	CHECK(conf_int(c, "store.partition.p2.weight") == 3);
	CHECK(conf_str(c, "store.partition.p3.path") == NULL);
	CHECK(conf_int(c, "store.partition.p3.weight") == 1);
	/* other namespaces are still readable as text */
	CHECK_STR(conf_str(c, "imap.port"), "143");
	CHECK(conf_str(c, "nowhere") == NULL);
	CHECK(conf_int(c, "store.nodefault") == 0);
	conf_free(&c);
}

static void
test_defaults(void)
{
	struct conf *c = checked("# nothing set\n");
	char **list;
	int n = -1;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_STR(conf_str(c, "store.path"), "/var/store");
	CHECK(conf_int(c, "store.port") == 24);
	CHECK(conf_bool(c, "store.fsync") == true);
	CHECK(conf_size(c, "store.max_size") == 10 * 1048576ULL);
	CHECK(conf_duration(c, "store.timeout") == 300);
	CHECK(conf_int(c, "service.lmtp.port") == 24);
	list = conf_list(c, "store.domains", &n);
	CHECK(n == 2);
	CHECK(n == 2 && strcmp(list[0], "a.example") == 0 &&
	    strcmp(list[1], "b.example") == 0 && list[2] == NULL);
	conf_list_free(list);
	/* a list without value or default is empty, not NULL */
	list = conf_list(c, "store.nodefault", &n);
	CHECK(list != NULL && list[0] == NULL && n == 0);
	conf_list_free(list);
	conf_free(&c);
}

static void
each_join(void *arg, const char *k, const char *v)
{
	char *buf = arg;

	snprintf(buf + strlen(buf), 512 - strlen(buf), "%s=%s;", k, v);
}

static const struct {
	const char *prefix, *want;
} each_cases[] = {
	{ "store.partition.", "store.partition.p2.path=/b;"
	    "store.partition.p1.path=/a;store.partition.p2.weight=2;" },
	{ "store.partition.p1.", "store.partition.p1.path=/a;" },
	{ "imap.", "imap.port=143;" },
	{ "nothing.", "" },
	{ "", "store.partition.p2.path=/b;store.path=/x;imap.port=143;"
	    "store.partition.p1.path=/a;store.partition.p2.weight=2;" },
};

static void
test_each(void)
{
	struct conf *c = checked(
	    "store.partition.p2.path = /b\n"
	    "store.path = /x\n"
	    "# a comment\n"
	    "imap.port = 143\n"
	    "Store.Partition.P1.Path = /a\n"
	    "store.partition.p2.weight = 2\n");

	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (size_t i = 0; i < N(each_cases); i++) {
		char buf[512] = "";

		conf_each(c, each_cases[i].prefix, each_join, buf);
		CHECK_STR(buf, each_cases[i].want);
	}
	conf_free(&c);
}

static void
test_load(void)
{
	char path[] = "/tmp/test_conf.XXXXXX", *err;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	const char text[] = "store.path = /from/file\n\nstore.path = again\n";
	CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
	close(fd);

	struct conf *c = conf_load(path, &err);
	CHECK(c == NULL);
	/* the file's own name is in the message */
	char want[64];
	snprintf(want, sizeof(want), "%s:3: ", path);
	CHECK(err && strstr(err, want));
	free(err);

	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, text, 24) == 24);
	close(fd);
	c = conf_load(path, &err);
	CHECK(c != NULL && err == NULL);
	if (c != NULL)
		CHECK_STR(conf_str(c, "store.path"), "/from/file");
	conf_free(&c);

	unlink(path);
	c = conf_load(path, &err);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "open(\"%s\"): ", path);
	CHECK(err && strstr(err, want) && strstr(err, "No such file"));
	free(err);
}

int
main(void)
{
	UNIT_RUN(test_parse);
	UNIT_RUN(test_values_kept);
	UNIT_RUN(test_long_line);
	UNIT_RUN(test_check);
	UNIT_RUN(test_value_parsers);
	UNIT_RUN(test_getters);
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_each);
	UNIT_RUN(test_load);
	return unit_done();
}
