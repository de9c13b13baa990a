/*
 * imap_fetch: FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2).
 *
 * Items: FLAGS, UID, INTERNALDATE, RFC822.SIZE and ENVELOPE come from the
 * index; BODY, BODYSTRUCTURE and BODY[section]<partial> (and RFC822,
 * RFC822.HEADER, RFC822.TEXT) from the message file, mapped read-only and
 * parsed with common/mime.  Fetching a body section without .PEEK sets
 * \Seen (through the commit thread) in a read-write mailbox.
 *
 * Output is produced a message at a time and paused while more than
 * FETCH_OUT_HIGH bytes wait to be sent, so FETCH 1:* of a large mailbox
 * never holds the mailbox in memory.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "imap_cmds.h"
#include "imap_format.h"
#include "log.h"
#include "mailbox.h"
#include "mbox_ops.h"
#include "mime.h"
#include "xmalloc.h"

#define FETCH_OUT_HIGH (1024 * 1024)
#define FETCH_SECTIONS_MAX 32

struct fetch_section {
	struct imap_section sec;
	char name[528];             /* as echoed: "BODY[HEADER]" */
	bool partial;
	size_t start, count;
	bool peek;
};

struct fetch_job {
	bool flags, uid, internaldate, size, envelope, body, bodystructure;
	bool modseq;
	uint64_t changedsince;      /* CHANGEDSINCE: only messages above */
	struct fetch_section sections[FETCH_SECTIONS_MAX];
	size_t nsections;
	bool sets_seen;
	bool *sel;
	size_t next;
	uint32_t *seen_uids;        /* messages to get \Seen */
	size_t nseen;
};

/* A message file mapped for reading. */
/* A mapping shared by the message's parse and the sections queued for
 * output (they reference it rather than copy it): unmapped with the last
 * reference. */
struct fetch_map {
	void *addr;
	size_t len;
	int refs;
};

struct fetch_file {
	const char *data;
	size_t len;
	struct mime_tree *tree;
	struct fetch_map *map;      /* NULL for an empty file */
};

static void
fetch_map_unref(struct fetch_map *m)
{
	if (m != NULL && --m->refs == 0) {
		munmap(m->addr, m->len);
		free(m);
	}
}

/* evbuffer_add_reference's cleanup: the bytes were sent (or dropped). */
static void
fetch_map_release(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	fetch_map_unref(arg);
}

static bool
fetch_file_open(struct imap_session *s, uint32_t uid, struct fetch_file *f)
{
	char path[4608];
	struct stat st;
	int fd;

	memset(f, 0, sizeof(*f));
	mbox_message_path(s->view, uid, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		log_err("open(\"%s\"): %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return false;
	}
	f->len = (size_t)st.st_size;
	f->data = f->len ? mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0) : "";
	close(fd);
	if (f->data == MAP_FAILED) {
		log_err("mmap(\"%s\"): %s", path, strerror(errno));
		f->data = NULL;
		return false;
	}
	if (f->len > 0) {
		f->map = xmalloc(sizeof(*f->map));
		f->map->addr = (void *)f->data;
		f->map->len = f->len;
		f->map->refs = 1;
	}
	f->tree = mime_parse(f->data, f->len);
	return true;
}

static void
fetch_file_close(struct fetch_file *f)
{
	mime_free(&f->tree);
	fetch_map_unref(f->map);
	f->map = NULL;
	f->data = NULL;
}

/* "BODY[...]<n.m>" / "BODY.PEEK[...]": parse one section item. */
static bool
fetch_parse_section(const char *item, struct fetch_section *fs)
{
	const char *open = strchr(item, '['), *close = strrchr(item, ']');
	char spec[512];

	memset(fs, 0, sizeof(*fs));
	if (open == NULL || close == NULL || close < open ||
	    (size_t)(close - open) >= sizeof(spec))
		return false;
	fs->peek = strncasecmp(item, "BODY.PEEK[", 10) == 0;
	if (!fs->peek && strncasecmp(item, "BODY[", 5) != 0)
		return false;
	memcpy(spec, open + 1, (size_t)(close - open - 1));
	spec[close - open - 1] = '\0';
	if (!imap_section_parse(spec, &fs->sec))
		return false;
	snprintf(fs->name, sizeof(fs->name), "BODY[%s]", spec);
	if (close[1] == '<') {
		unsigned long long a, b;
		char end;
		if (sscanf(close + 2, "%llu.%llu%c", &a, &b, &end) != 3 || end != '>' ||
		    b == 0)
			return false;
		fs->partial = true;
		fs->start = (size_t)a;
		fs->count = (size_t)b;
	} else if (close[1] != '\0') {
		return false;
	}
	return true;
}

static bool
fetch_add_section(struct fetch_job *job, const char *item)
{
	if (job->nsections == FETCH_SECTIONS_MAX ||
	    !fetch_parse_section(item, &job->sections[job->nsections]))
		return false;
	if (!job->sections[job->nsections].peek)
		job->sets_seen = true;
	job->nsections++;
	return true;
}

/* One FETCH attribute name. */
static bool
fetch_parse_item(struct fetch_job *job, const char *item)
{
	if (strcasecmp(item, "FLAGS") == 0)
		job->flags = true;
	else if (strcasecmp(item, "UID") == 0)
		job->uid = true;
	else if (strcasecmp(item, "INTERNALDATE") == 0)
		job->internaldate = true;
	else if (strcasecmp(item, "RFC822.SIZE") == 0)
		job->size = true;
	else if (strcasecmp(item, "ENVELOPE") == 0)
		job->envelope = true;
	else if (strcasecmp(item, "BODY") == 0)
		job->body = true;
	else if (strcasecmp(item, "BODYSTRUCTURE") == 0)
		job->bodystructure = true;
	else if (strcasecmp(item, "MODSEQ") == 0)
		job->modseq = true;
	else if (strcasecmp(item, "ALL") == 0)
		job->flags = job->internaldate = job->size = job->envelope = true;
	else if (strcasecmp(item, "FAST") == 0)
		job->flags = job->internaldate = job->size = true;
	else if (strcasecmp(item, "FULL") == 0)
		job->flags = job->internaldate = job->size = job->envelope =
		    job->body = true;
	else if (strcasecmp(item, "RFC822") == 0)
		return fetch_add_section(job, "BODY[]") &&
		    snprintf(job->sections[job->nsections - 1].name, 528, "RFC822");
	else if (strcasecmp(item, "RFC822.HEADER") == 0)
		return fetch_add_section(job, "BODY.PEEK[HEADER]") &&
		    snprintf(job->sections[job->nsections - 1].name, 528,
		    "RFC822.HEADER");
	else if (strcasecmp(item, "RFC822.TEXT") == 0)
		return fetch_add_section(job, "BODY[TEXT]") &&
		    snprintf(job->sections[job->nsections - 1].name, 528,
		    "RFC822.TEXT");
	else
		return fetch_add_section(job, item);
	return true;
}

static bool
fetch_parse_items(struct fetch_job *job, const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_ATOM)
		return fetch_parse_item(job, a->str);
	if (a->type != IMAP_ARG_LIST || a->list[0].type == IMAP_ARG_END)
		return false;
	for (const struct imap_arg *l = a->list; l->type != IMAP_ARG_END; l++)
		if (l->type != IMAP_ARG_ATOM || !fetch_parse_item(job, l->str))
			return false;
	return true;
}

/* BODY[section]<partial> of one message. */
static void
fetch_write_section(struct evbuffer *out, const struct fetch_section *fs,
    const struct fetch_file *f)
{
	struct evbuffer *synth = evbuffer_new();
	size_t off = 0, len = 0;
	const char *data = NULL;
	bool mapped = false;

	switch (imap_section_locate(&fs->sec, f->tree, f->data, &off, &len, synth)) {
	case IMAP_SECTION_RANGE:
		data = f->data + off;
		mapped = f->map != NULL && len > 0;
		break;
	case IMAP_SECTION_SYNTH:
		len = evbuffer_get_length(synth);
		data = (const char *)evbuffer_pullup(synth, -1);
		break;
	default:
		len = 0;
		data = "";
		break;
	}
	if (fs->partial) {
		size_t start = fs->start < len ? fs->start : len;
		data += start;
		len -= start;
		if (len > fs->count)
			len = fs->count;
		evbuffer_add_printf(out, "%s<%zu> {%zu}\r\n", fs->name, fs->start, len);
	} else {
		evbuffer_add_printf(out, "%s {%zu}\r\n", fs->name, len);
	}
	if (mapped && len > 0) {
		/* No copy: the output references the mapped file until sent. */
		f->map->refs++;
		evbuffer_add_reference(out, data, len, fetch_map_release, f->map);
	} else {
		evbuffer_add(out, data, len);
	}
	evbuffer_free(synth);
}

/* The items that come from the index. */
static bool
fetch_write_index_items(struct imap_session *s, struct fetch_job *job,
    size_t i, struct evbuffer *out, bool *sp)
{
	struct mbox_view *v = s->view;
	struct midx_message m;
	char env[10 * ENVELOPE_FIELD_MAX], buf[IMAP_DATETIME_SIZE];
	size_t envlen;

	if (!(job->internaldate || job->size || job->envelope))
		return true;
	if (mbox_message_get(s->srv->svc.db, v->id, v->uids[i], &m, env,
	    sizeof(env), &envlen) != 0)
		return false;
	if (job->internaldate) {
		imap_datetime_format(m.internaldate, 0, buf);
		evbuffer_add_printf(out, "%sINTERNALDATE \"%s\"", *sp ? " " : "", buf);
		*sp = true;
	}
	if (job->size) {
		evbuffer_add_printf(out, "%sRFC822.SIZE %llu", *sp ? " " : "",
		    (unsigned long long)m.size);
		*sp = true;
	}
	if (job->envelope) {
		const char *f[IMAP_ENV_NFIELDS];
		evbuffer_add_printf(out, "%sENVELOPE ", *sp ? " " : "");
		if (!imap_env_split(env, envlen, f))
			memset(f, 0, sizeof(f));
		imap_write_envelope(out, f);
		*sp = true;
	}
	return true;
}

/* The items that need the message file. */
static bool
fetch_write_file_items(struct imap_session *s, struct fetch_job *job,
    size_t i, struct evbuffer *out, bool *sp)
{
	struct fetch_file f;

	if (!(job->body || job->bodystructure || job->nsections > 0))
		return true;
	if (!fetch_file_open(s, s->view->uids[i], &f))
		return false;
	if (job->body || job->bodystructure) {
		evbuffer_add_printf(out, "%s%s ", *sp ? " " : "",
		    job->bodystructure ? "BODYSTRUCTURE" : "BODY");
		imap_write_body(out, f.tree, f.data, job->bodystructure);
		*sp = true;
		if (job->body && job->bodystructure) {
			evbuffer_add_printf(out, " BODY ");
			imap_write_body(out, f.tree, f.data, false);
		}
	}
	for (size_t k = 0; k < job->nsections; k++) {
		if (*sp)
			evbuffer_add(out, " ", 1);
		fetch_write_section(out, &job->sections[k], &f);
		*sp = true;
	}
	fetch_file_close(&f);
	return true;
}

static void
fetch_one(struct imap_session *s, struct fetch_job *job, size_t i)
{
	struct mbox_view *v = s->view;
	struct evbuffer *out = evbuffer_new();
	bool sp = false;

	if (job->sets_seen && !s->readonly && (s->rights & ACL_SEEN) &&
	    !(v->flags[i] & MFLAG_SEEN)) {
		v->flags[i] |= MFLAG_SEEN;
		job->seen_uids[job->nseen++] = v->uids[i];
		job->flags = true;      /* the change is told with the data */
	}
	evbuffer_add_printf(out, "* %zu FETCH (", i + 1);
	if (job->uid || s->uid_cmd) {
		evbuffer_add_printf(out, "UID %u", v->uids[i]);
		sp = true;
	}
	if (job->flags) {
		char f[IMAP_FLAGS_TEXT];
		imap_flags_string(v->flags[i], v->kw[i], &v->names, f, sizeof(f));
		evbuffer_add_printf(out, "%sFLAGS (%s)", sp ? " " : "", f);
		sp = true;
	}
	if (job->modseq || (job->flags && s->condstore)) {
		evbuffer_add_printf(out, "%sMODSEQ (%llu)", sp ? " " : "",
		    (unsigned long long)v->modseq[i]);
		sp = true;
	}
	if (!fetch_write_index_items(s, job, i, out, &sp) ||
	    !fetch_write_file_items(s, job, i, out, &sp)) {
		/* Expunged under us, or unreadable: say nothing of it. */
		evbuffer_free(out);
		return;
	}
	evbuffer_add(out, ")\r\n", 3);
	evbuffer_add_buffer(imap_out(s), out);
	evbuffer_free(out);
}

static void
fetch_job_free(struct fetch_job **jp)
{
	struct fetch_job *job = *jp;

	if (job == NULL)
		return;
	free(job->sel);
	free(job->seen_uids);
	free(job);
	*jp = NULL;
}

static void
fetch_seen_done(struct mbox_op *op, void *arg)
{
	struct imap_session *s = arg;

	s->op = NULL;
	mbox_op_free(&op);
	imap_finish(s, "OK %sFETCH completed", s->uid_cmd ? "UID " : "");
}

static void
fetch_finish(struct imap_session *s)
{
	struct fetch_job *job = s->fetch;

	s->fetch = NULL;
	s->no_expunge_sync = !s->uid_cmd;
	imap_sync_view(s);
	s->no_expunge_sync = false;
	if (job->nseen == 0) {
		fetch_job_free(&job);
		imap_finish(s, "OK %sFETCH completed", s->uid_cmd ? "UID " : "");
		return;
	}
	struct mbox_op *op = mbox_op_new(MOP_FLAGS, s->view->user, s->view->part);
	snprintf(op->name, sizeof(op->name), "%s", s->view->name);
	op->uids = job->seen_uids;
	op->nuids = job->nseen;
	op->flag_mode = MOP_FLAGS_ADD;
	op->flags = MFLAG_SEEN;
	job->seen_uids = NULL;
	fetch_job_free(&job);
	s->op = mbox_op_submit(op, fetch_seen_done, s);
}

/* Produce output until the buffer is full or the job done. */
void
imap_fetch_continue(struct imap_session *s)
{
	struct fetch_job *job = s->fetch;

	while (job->next < s->view->n) {
		if (evbuffer_get_length(imap_out(s)) > FETCH_OUT_HIGH)
			return;     /* imap_on_write resumes us */
		size_t i = job->next++;
		if (job->sel[i] && s->view->modseq[i] > job->changedsince)
			fetch_one(s, job, i);
	}
	fetch_finish(s);
}

void
imap_fetch_free(struct imap_session *s)
{
	fetch_job_free(&s->fetch);
}

struct fetch_vanished {
	const struct mbox_view *v;
	const char *set;
	struct evbuffer *out;
};

static void
fetch_vanished_one(void *arg, uint32_t uid)
{
	struct fetch_vanished *fv = arg;
	struct mbox_view one = { .uids = &uid, .n = 1 };
	bool hit = false;

	/* Only UIDs of the command's set (RFC 7162 3.2.6). */
	if (!mbox_select_set(&one, fv->set, true, &hit) || !hit)
		return;
	evbuffer_add_printf(fv->out, "%s%u", evbuffer_get_length(fv->out) ?
	    "," : "", uid);
}

/* (CHANGEDSINCE n [VANISHED]); false on a syntax error. */
static bool
fetch_modifiers(struct imap_session *s, struct fetch_job *job,
    const struct imap_arg *a, bool *vanished)
{
	char *end;

	*vanished = false;
	if (a->type == IMAP_ARG_END)
		return true;
	if (a->type != IMAP_ARG_LIST || a[1].type != IMAP_ARG_END)
		return false;
	for (a = a->list; a->type != IMAP_ARG_END; a++) {
		if (imap_arg_is_atom(a, "CHANGEDSINCE") && a[1].type == IMAP_ARG_ATOM) {
			job->changedsince = strtoull(a[1].str, &end, 10);
			if (*end != '\0')
				return false;
			job->modseq = true;
			s->condstore = true;
			a++;
		} else if (imap_arg_is_atom(a, "VANISHED") && s->qresync &&
		    s->uid_cmd) {
			*vanished = true;
		} else {
			return false;
		}
	}
	return !*vanished || job->changedsince > 0;
}

void
cmd_fetch(struct imap_session *s, struct imap_arg *args)
{
	struct mbox_view *v = s->view;
	struct fetch_job *job = xcalloc(1, sizeof(*job));
	bool vanished;

	if (args[0].type != IMAP_ARG_ATOM || args[1].type == IMAP_ARG_END ||
	    !fetch_parse_items(job, &args[1]) ||
	    !fetch_modifiers(s, job, &args[2], &vanished)) {
		free(job);
		imap_bad(s, "Syntax: FETCH set items [(CHANGEDSINCE n [VANISHED])]");
		return;
	}
	if (job->modseq)
		s->condstore = true;
	if (vanished) {
		struct fetch_vanished fv = { .v = v, .set = args[0].str,
		    .out = evbuffer_new() };
		mbox_vanished(s->srv->svc.db, v->id, job->changedsince,
		    fetch_vanished_one, &fv);
		if (evbuffer_get_length(fv.out) > 0) {
			evbuffer_add_printf(imap_out(s), "* VANISHED (EARLIER) ");
			evbuffer_add_buffer(imap_out(s), fv.out);
			evbuffer_add(imap_out(s), "\r\n", 2);
		}
		evbuffer_free(fv.out);
	}
	job->sel = xcalloc(v->n + 1, sizeof(bool));
	job->seen_uids = xcalloc(v->n + 1, sizeof(uint32_t));
	if (!mbox_select_set(v, args[0].str, s->uid_cmd, job->sel)) {
		fetch_job_free(&job);
		imap_bad(s, "Invalid sequence set");
		return;
	}
	s->fetch = job;
	imap_fetch_continue(s);
}
