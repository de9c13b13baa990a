/*
 * queue_env: the envelope at the head of a queue entry file, written by the
 * SMTP server through queue_msg_new() and read by jobctl (the grammar is in
 * queue.h).
 *
 * The writer refuses anything the parser would refuse, so every head we
 * write reads back.  The parser trusts nothing: a file may have been edited
 * by an operator or damaged.  It reads line by line with a fixed cap
 * (QUEUE_ENV_LINE_MAX) and a fixed number of recipients, stops at the empty
 * line that ends the envelope (the message after it is never looked at),
 * and at the first fault with "line N: ..." and the entry cleared.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "xmalloc.h"

/* ---- writing ---------------------------------------------------------- */

struct env_buf {
	char *p;
	size_t len, cap;
	size_t line_start;
	bool too_long;
};

static void
env_buf_put(struct env_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 1024;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
env_buf_str(struct env_buf *b, const char *s)
{
	env_buf_put(b, s, strlen(s));
}

static bool
env_xtext_plain(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* RFC 3461 xtext, hex in upper case. */
static void
env_buf_xtext(struct env_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (env_xtext_plain(*p)) {
			env_buf_put(b, (const char *)p, 1);
		} else {
			char esc[3] = { '+', hex[*p >> 4], hex[*p & 15] };
			env_buf_put(b, esc, 3);
		}
	}
}

static void
env_buf_path(struct env_buf *b, const char *addr)
{
	env_buf_put(b, "<", 1);
	env_buf_xtext(b, addr);
	env_buf_put(b, ">", 1);
}

static void
env_buf_end_line(struct env_buf *b)
{
	if (b->len - b->line_start > QUEUE_ENV_LINE_MAX)
		b->too_long = true;
	env_buf_put(b, "\n", 1);
	b->line_start = b->len;
}

/* "key value\n", value taken as it is (known to be safe). */
static void
env_buf_line(struct env_buf *b, const char *key, const char *value)
{
	env_buf_str(b, key);
	env_buf_put(b, " ", 1);
	env_buf_str(b, value);
	env_buf_end_line(b);
}

/* "key value\n" with value as xtext; skipped when value is NULL or "". */
static void
env_buf_xtext_line(struct env_buf *b, const char *key, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	env_buf_str(b, key);
	env_buf_put(b, " ", 1);
	env_buf_xtext(b, value);
	env_buf_end_line(b);
}

/* "key N\n"; skipped when N is 0 (the default). */
static void
env_buf_number_line(struct env_buf *b, const char *key, long long n)
{
	char num[24];

	if (n == 0)
		return;
	snprintf(num, sizeof(num), "%lld", n);
	env_buf_line(b, key, num);
}

static const char *const env_ret_names[] = { NULL, "full", "hdrs" };
static const char *const env_state_names[] = { "pending", "delivered", "failed" };

static const char *
env_priority_name(int priority)
{
	switch (priority) {
	case QUEUE_PRIORITY_URGENT: return "urgent";
	case QUEUE_PRIORITY_NORMAL: return "normal";
	case QUEUE_PRIORITY_NONURGENT: return "nonurgent";
	}
	return NULL;
}

static const struct {
	const char *name;
	unsigned bit;
} env_notify_names[] = {
	{ "success", QUEUE_NOTIFY_SUCCESS },
	{ "failure", QUEUE_NOTIFY_FAILURE },
	{ "delay", QUEUE_NOTIFY_DELAY },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool
env_notify_valid(unsigned notify)
{
	if (notify & QUEUE_NOTIFY_NEVER)
		return notify == QUEUE_NOTIFY_NEVER;
	return (notify & ~(unsigned)(QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE |
	    QUEUE_NOTIFY_DELAY)) == 0;
}

static bool
env_rcpt_valid(const struct queue_rcpt *r)
{
	return r->address != NULL && *r->address != '\0' &&
	    env_notify_valid(r->notify) && r->state >= QUEUE_RCPT_PENDING &&
	    r->state <= QUEUE_RCPT_FAILED;
}

/* Everything the parser requires of the fields, except line lengths. */
static bool
env_valid(const struct queue_env *env)
{
	if (env->id == NULL || !queue_id_valid(env->id) || env->created < 0 ||
	    env->channel == NULL || !queue_channel_valid(env->channel) ||
	    env->source == NULL || !queue_channel_valid(env->source) ||
	    env->from == NULL || env->ret < QUEUE_RET_NONE ||
	    env->ret > QUEUE_RET_HDRS || env_priority_name(env->priority) == NULL)
		return false;
	bool has_addr = env->client_addr != NULL && *env->client_addr != '\0';
	bool has_name = env->client_name != NULL && *env->client_name != '\0';
	if (has_addr != has_name)
		return false;
	if (env->nrcpts == 0 || env->nrcpts > QUEUE_ENV_RCPTS_MAX)
		return false;
	for (size_t i = 0; i < env->nrcpts; i++)
		if (!env_rcpt_valid(&env->rcpts[i]))
			return false;
	return true;
}

static void
env_buf_rcpt(struct env_buf *b, const struct queue_rcpt *r)
{
	env_buf_str(b, "rcpt ");
	env_buf_path(b, r->address);
	if (r->notify == QUEUE_NOTIFY_NEVER) {
		env_buf_str(b, " notify=never");
	} else if (r->notify != 0) {
		const char *sep = " notify=";
		for (size_t i = 0; i < N(env_notify_names); i++) {
			if (r->notify & env_notify_names[i].bit) {
				env_buf_str(b, sep);
				env_buf_str(b, env_notify_names[i].name);
				sep = ",";
			}
		}
	}
	if (r->orcpt != NULL && *r->orcpt != '\0') {
		env_buf_str(b, " orcpt=");
		env_buf_xtext(b, r->orcpt);
	}
	if (r->original != NULL && *r->original != '\0') {
		env_buf_str(b, " original=");
		env_buf_path(b, r->original);
	}
	env_buf_str(b, " state=");
	env_buf_str(b, env_state_names[r->state]);
	env_buf_end_line(b);
}

char *
queue_env_format(const struct queue_env *env)
{
	struct env_buf b = { 0 };
	char num[32];

	if (!env_valid(env)) {
		errno = EINVAL;
		return NULL;
	}
	env_buf_line(&b, "version", "1");
	env_buf_line(&b, "id", env->id);
	snprintf(num, sizeof(num), "%lld", env->created);
	env_buf_line(&b, "created", num);
	env_buf_line(&b, "channel", env->channel);
	env_buf_line(&b, "source", env->source);
	env_buf_str(&b, "from ");
	env_buf_path(&b, env->from);
	env_buf_end_line(&b);
	if (env->ret != QUEUE_RET_NONE)
		env_buf_line(&b, "ret", env_ret_names[env->ret]);
	env_buf_xtext_line(&b, "envid", env->envid);
	env_buf_line(&b, "priority", env_priority_name(env->priority));
	if (env->client_addr != NULL && *env->client_addr != '\0') {
		env_buf_str(&b, "client ");
		env_buf_xtext(&b, env->client_addr);
		env_buf_put(&b, " ", 1);
		env_buf_xtext(&b, env->client_name);
		env_buf_end_line(&b);
	}
	env_buf_xtext_line(&b, "helo", env->helo);
	env_buf_xtext_line(&b, "auth", env->auth);
	env_buf_number_line(&b, "attempts", env->attempts);
	env_buf_number_line(&b, "retry", env->retry);
	env_buf_number_line(&b, "warned", env->warned);
	for (size_t i = 0; i < env->nrcpts; i++)
		env_buf_rcpt(&b, &env->rcpts[i]);
	env_buf_put(&b, "\n", 1);             /* the message follows */
	if (b.too_long) {
		free(b.p);
		errno = E2BIG;
		return NULL;
	}
	return b.p;
}

/* ---- reading ---------------------------------------------------------- */

struct env_parser {
	struct queue_env *env;
	size_t rcpt_cap;
	unsigned seen;          /* bit i: env_keys[i] met */
};

static int
env_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * xtext = *( xchar / hexchar )   (RFC 3461 section 4)
 * xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *         except for "+" and "="
 * hexchar = "+" 2HEXDIG   (either case read; +00 refused: values are
 *                          C strings)
 * NULL when s is not xtext.
 */
static char *
env_xtext_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (env_xtext_plain(c)) {
			*o++ = (char)c;
			continue;
		}
		int hi, lo;
		if (c != '+' || i + 2 >= len ||
		    (hi = env_hexval(s[i + 1])) < 0 ||
		    (lo = env_hexval(s[i + 2])) < 0 || (hi | lo) == 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* A non-empty xtext value. */
static const char *
env_get_xtext(const char *val, char **out)
{
	if (*val == '\0' || (*out = env_xtext_decode(val, strlen(val))) == NULL)
		return "not xtext";
	return NULL;
}

/* path = "<" xtext ">"; empty only when allow_empty. */
static const char *
env_get_path(const char *val, size_t len, bool allow_empty, char **out)
{
	if (len < 2 || val[0] != '<' || val[len - 1] != '>')
		return "not <xtext>";
	if (len == 2 && !allow_empty)
		return "empty address";
	if ((*out = env_xtext_decode(val + 1, len - 2)) == NULL)
		return "not <xtext>";
	return NULL;
}

/* 1*DIGIT, no sign, no overflow past max. */
static const char *
env_get_number(const char *val, unsigned long long max, unsigned long long *out)
{
	unsigned long long n = 0;

	if (*val == '\0')
		return "not a number";
	for (const char *p = val; *p; p++) {
		if (*p < '0' || *p > '9')
			return "not a number";
		unsigned d = (unsigned)(*p - '0');
		if (n > (max - d) / 10)
			return "number out of range";
		n = n * 10 + d;
	}
	*out = n;
	return NULL;
}

static const char *
env_key_version(struct env_parser *p, char *val)
{
	(void)p;
	return strcmp(val, "1") == 0 ? NULL : "unsupported version";
}

static const char *
env_key_id(struct env_parser *p, char *val)
{
	if (!queue_id_valid(val))
		return "not a queue ID";
	p->env->id = xstrdup(val);
	return NULL;
}

static const char *
env_get_ll(const char *val, long long *out)
{
	unsigned long long n;
	const char *e = env_get_number(val, LLONG_MAX, &n);

	if (e == NULL)
		*out = (long long)n;
	return e;
}

static const char *
env_get_int(const char *val, int *out)
{
	unsigned long long n;
	const char *e = env_get_number(val, INT_MAX, &n);

	if (e == NULL)
		*out = (int)n;
	return e;
}

static const char *
env_key_attempts(struct env_parser *p, char *val)
{
	return env_get_int(val, &p->env->attempts);
}

static const char *
env_key_retry(struct env_parser *p, char *val)
{
	return env_get_ll(val, &p->env->retry);
}

static const char *
env_key_warned(struct env_parser *p, char *val)
{
	return env_get_int(val, &p->env->warned);
}

static const char *
env_key_created(struct env_parser *p, char *val)
{
	return env_get_ll(val, &p->env->created);
}

static const char *
env_get_channel(const char *val, char **out)
{
	if (!queue_channel_valid(val))
		return "not a channel name";
	*out = xstrdup(val);
	return NULL;
}

static const char *
env_key_channel(struct env_parser *p, char *val)
{
	return env_get_channel(val, &p->env->channel);
}

static const char *
env_key_source(struct env_parser *p, char *val)
{
	return env_get_channel(val, &p->env->source);
}

static const char *
env_key_from(struct env_parser *p, char *val)
{
	return env_get_path(val, strlen(val), true, &p->env->from);
}

static const char *
env_key_ret(struct env_parser *p, char *val)
{
	for (int i = QUEUE_RET_FULL; i <= QUEUE_RET_HDRS; i++)
		if (strcmp(val, env_ret_names[i]) == 0) {
			p->env->ret = i;
			return NULL;
		}
	return "not full or hdrs";
}

static const char *
env_key_envid(struct env_parser *p, char *val)
{
	return env_get_xtext(val, &p->env->envid);
}

static const char *
env_key_priority(struct env_parser *p, char *val)
{
	for (int i = QUEUE_PRIORITY_NONURGENT; i <= QUEUE_PRIORITY_URGENT; i++)
		if (strcmp(val, env_priority_name(i)) == 0) {
			p->env->priority = i;
			return NULL;
		}
	return "not urgent, normal or nonurgent";
}

/* client = xtext SP xtext */
static const char *
env_key_client(struct env_parser *p, char *val)
{
	char *sp = strchr(val, ' ');

	if (sp == NULL)
		return "not ADDRESS NAME";
	*sp = '\0';
	const char *e = env_get_xtext(val, &p->env->client_addr);
	if (e == NULL)
		e = env_get_xtext(sp + 1, &p->env->client_name);
	return e;
}

static const char *
env_key_helo(struct env_parser *p, char *val)
{
	return env_get_xtext(val, &p->env->helo);
}

static const char *
env_key_auth(struct env_parser *p, char *val)
{
	return env_get_xtext(val, &p->env->auth);
}

/* notify = "never" / notify-list; notify-list = word *("," word) */
static const char *
env_get_notify(char *val, unsigned *out)
{
	unsigned bits = 0;

	if (strcmp(val, "never") == 0) {
		*out = QUEUE_NOTIFY_NEVER;
		return NULL;
	}
	for (char *w = val, *next; w != NULL; w = next) {
		next = strchr(w, ',');
		if (next != NULL)
			*next++ = '\0';
		size_t i = 0;
		while (i < N(env_notify_names) && strcmp(w, env_notify_names[i].name))
			i++;
		if (i == N(env_notify_names) || (bits & env_notify_names[i].bit))
			return "bad notify";
		bits |= env_notify_names[i].bit;
	}
	*out = bits;
	return NULL;
}

static const char *
env_get_state(const char *val, int *out)
{
	for (int i = QUEUE_RCPT_PENDING; i <= QUEUE_RCPT_FAILED; i++)
		if (strcmp(val, env_state_names[i]) == 0) {
			*out = i;
			return NULL;
		}
	return "bad state";
}

/* One ATTR=VALUE of a rcpt line; each attribute at most once. */
static const char *
env_rcpt_attr(struct queue_rcpt *r, char *attr, unsigned *seen)
{
	static const char *const names[] = { "notify", "orcpt", "original", "state" };
	char *eq = strchr(attr, '=');
	size_t i = 0;

	if (eq == NULL)
		return "attribute without =";
	*eq = '\0';
	while (i < N(names) && strcmp(attr, names[i]) != 0)
		i++;
	if (i == N(names))
		return "unknown attribute";
	if (*seen & (1u << i))
		return "repeated attribute";
	*seen |= 1u << i;
	char *v = eq + 1;
	switch (i) {
	case 0: return env_get_notify(v, &r->notify);
	case 1: return env_get_xtext(v, &r->orcpt);
	case 2: return env_get_path(v, strlen(v), false, &r->original);
	default: return env_get_state(v, &r->state);
	}
}

static const char *
env_key_rcpt(struct env_parser *p, char *val)
{
	struct queue_env *env = p->env;

	if (env->nrcpts == QUEUE_ENV_RCPTS_MAX)
		return "too many recipients";
	if (env->nrcpts == p->rcpt_cap) {
		p->rcpt_cap = p->rcpt_cap ? p->rcpt_cap * 2 : 8;
		if (p->rcpt_cap > QUEUE_ENV_RCPTS_MAX)
			p->rcpt_cap = QUEUE_ENV_RCPTS_MAX;
		env->rcpts = xrealloc(env->rcpts, p->rcpt_cap * sizeof(*env->rcpts));
	}
	struct queue_rcpt *r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	char *next = strchr(val, ' ');
	if (next != NULL)
		*next++ = '\0';
	const char *e = env_get_path(val, strlen(val), false, &r->address);
	unsigned seen = 0;
	while (e == NULL && next != NULL) {
		char *attr = next;
		if ((next = strchr(attr, ' ')) != NULL)
			*next++ = '\0';
		e = env_rcpt_attr(r, attr, &seen);
	}
	return e;
}

enum { ENV_REQUIRED = 1, ENV_REPEAT = 2 };

static const struct env_key {
	const char *name;
	const char *(*parse)(struct env_parser *p, char *val);
	unsigned flags;
} env_keys[] = {
	{ "version", env_key_version, ENV_REQUIRED },
	{ "id", env_key_id, ENV_REQUIRED },
	{ "created", env_key_created, ENV_REQUIRED },
	{ "channel", env_key_channel, ENV_REQUIRED },
	{ "source", env_key_source, ENV_REQUIRED },
	{ "from", env_key_from, ENV_REQUIRED },
	{ "ret", env_key_ret, 0 },
	{ "envid", env_key_envid, 0 },
	{ "priority", env_key_priority, 0 },
	{ "client", env_key_client, 0 },
	{ "helo", env_key_helo, 0 },
	{ "auth", env_key_auth, 0 },
	{ "attempts", env_key_attempts, 0 },
	{ "retry", env_key_retry, 0 },
	{ "warned", env_key_warned, 0 },
	{ "rcpt", env_key_rcpt, ENV_REQUIRED | ENV_REPEAT },
};

/* The key for error messages: cut short, unprintable bytes as '?'. */
static void
env_copy_key(char *out, size_t max, const char *key)
{
	size_t i = 0;

	for (; key[i] != '\0' && i + 1 < max; i++)
		out[i] = key[i] > 32 && key[i] < 127 ? key[i] : '?';
	out[i] = '\0';
}

/* One line without its LF; returns an error message or NULL. */
static const char *
env_parse_line(struct env_parser *p, const char *line, size_t len,
    int lineno, char *key_out, size_t key_max)
{
	char buf[QUEUE_ENV_LINE_MAX + 1];

	*key_out = '\0';
	if (memchr(line, '\0', len) != NULL)
		return "NUL byte";
	memcpy(buf, line, len);
	buf[len] = '\0';
	char *sp = strchr(buf, ' ');
	if (sp == NULL)
		return "no value";
	*sp = '\0';
	env_copy_key(key_out, key_max, buf);
	char *val = sp + 1;
	if (*val == '\0' || *val == ' ' || val[strlen(val) - 1] == ' ')
		return "empty value or stray space";
	size_t i = 0;
	while (i < N(env_keys) && strcmp(buf, env_keys[i].name) != 0)
		i++;
	if (i == N(env_keys))
		return "unknown key";
	if (lineno == 1 && i != 0)
		return "the first line must be the version";
	if ((p->seen & (1u << i)) && !(env_keys[i].flags & ENV_REPEAT))
		return "repeated key";
	p->seen |= 1u << i;
	return env_keys[i].parse(p, val);
}

static bool
env_parse_fail(struct queue_env *env, char **err, int lineno, const char *key,
    const char *msg)
{
	queue_env_clear(env);
	if (lineno == 0)
		*err = xasprintf("%s", msg);
	else if (*key != '\0')
		*err = xasprintf("line %d: %s: %s", lineno, key, msg);
	else
		*err = xasprintf("line %d: %s", lineno, msg);
	return false;
}

/* entry = 1*(line LF) LF message; the message is not looked at. */
bool
queue_env_parse(const char *buf, size_t len, struct queue_env *env,
    size_t *body_offset, char **err)
{
	struct env_parser p = { .env = env };
	const char *s = buf, *end = buf + len;
	char key[33];
	int lineno = 0;

	memset(env, 0, sizeof(*env));
	*err = NULL;
	for (;;) {
		size_t avail = (size_t)(end - s);
		if (avail == 0)
			return env_parse_fail(env, err, 0, "",
			    "no empty line after the envelope");
		size_t look = avail < QUEUE_ENV_LINE_MAX + 1 ? avail : QUEUE_ENV_LINE_MAX + 1;
		const char *nl = memchr(s, '\n', look);

		lineno++;
		key[0] = '\0';
		if (nl == NULL)
			return env_parse_fail(env, err, lineno, key,
			    avail > QUEUE_ENV_LINE_MAX ? "line too long" :
			    "no newline at the end");
		if (nl == s)
			break;                  /* the empty line */
		const char *e = env_parse_line(&p, s, (size_t)(nl - s), lineno,
		    key, sizeof(key));
		if (e != NULL)
			return env_parse_fail(env, err, lineno, key, e);
		s = nl + 1;
	}
	for (size_t i = 0; i < N(env_keys); i++)
		if ((env_keys[i].flags & ENV_REQUIRED) && !(p.seen & (1u << i))) {
			char msg[64];
			snprintf(msg, sizeof(msg), "missing key \"%s\"", env_keys[i].name);
			return env_parse_fail(env, err, 0, "", msg);
		}
	*body_offset = (size_t)(s + 1 - buf);
	env->size = len - *body_offset;
	return true;
}

void
queue_env_clear(struct queue_env *env)
{
	free(env->id);
	free(env->channel);
	free(env->source);
	free(env->from);
	free(env->envid);
	free(env->client_addr);
	free(env->client_name);
	free(env->helo);
	free(env->auth);
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].original);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}
