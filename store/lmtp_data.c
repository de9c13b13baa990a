/*
 * lmtp_data: receiving a message (DATA or BDAT) into a receive file in the
 * partition of its first recipient, then handing it to the commit thread.
 *
 * The message is streamed: decoded bytes go to the file in 64 KiB writes,
 * and only the header block (capped) is kept in memory, for the index's
 * envelope fields.  Past service.lmtp.maxmessagesize, bytes are read and
 * dropped up to the end of the message, which is then refused (552 5.3.4)
 * for every recipient; so are a header over its limits and NUL octets
 * (554 5.6.0); a write error (disk full) answers 452 4.3.1.  The receive
 * file of a refused message is removed: nothing half-written is visible.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "lmtp.h"
#include "xmalloc.h"

void
lmtp_message_free(struct lmtp_message **mp)
{
	struct lmtp_message *m = *mp;

	if (m == NULL)
		return;
	if (m->fd >= 0)
		close(m->fd);
	if (m->path != NULL) {
		unlink(m->path);
		free(m->path);
	}
	msg_intake_free(&m->in);
	free(m);
	*mp = NULL;
}

static int
lmtp_message_write(struct lmtp_message *m, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(m->fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_err("write(\"%s\"): %s", m->path, strerror(errno));
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
lmtp_message_flush(struct lmtp_message *m)
{
	int err = lmtp_message_write(m, m->buf, m->buflen);

	m->buflen = 0;
	return err;
}

/* msg_intake's sink: 64 KiB writes. */
static int
lmtp_message_sink(void *arg, const char *data, size_t n)
{
	struct lmtp_message *m = arg;
	int err;

	if (m->buflen + n > sizeof(m->buf) && (err = lmtp_message_flush(m)) != 0)
		return err;
	if (n >= sizeof(m->buf))
		return lmtp_message_write(m, data, n);
	memcpy(m->buf + m->buflen, data, n);
	m->buflen += n;
	return 0;
}

static void
lmtp_message_add(struct lmtp_session *s, const char *data, size_t n)
{
	msg_intake_add(&s->msg->in, data, n);
}

/* The trace fields every delivered message starts with. */
static void
lmtp_message_trace(struct lmtp_session *s)
{
	char date[64], *trace;
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	trace = xasprintf("Return-Path: <%s>\r\n"
	    "Received: from %s ([%s])\r\n\tby %s (store) with LMTP id %lu.%lu;\r\n"
	    "\t%s\r\n", s->from, s->helo, s->peer, s->srv->svc.cfg->hostname,
	    (unsigned long)getpid(), s->id, date);
	lmtp_message_add(s, trace, strlen(trace));
	free(trace);
}

bool
lmtp_message_start(struct lmtp_session *s, bool raw)
{
	static unsigned long seq;
	const struct store_config *cfg = s->srv->svc.cfg;
	struct lmtp_message *m = xcalloc(1, sizeof(*m));
	char dir[4096];

	m->part = s->rcpts[0].part;
	userarea_tmp_dir(m->part, dir, sizeof(dir));
	m->path = xasprintf("%s/%ld.%lu.%lu", dir, (long)getpid(), s->id, ++seq);
	m->fd = open(m->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct msg_intake_limits lim = {
		.max_size = cfg->max_msg_size,
		.max_header = (size_t)cfg->max_header_size,
		.max_fields = (size_t)cfg->max_header_fields,
	};
	msg_intake_init(&m->in, raw, &lim, lmtp_message_sink, m);
	s->msg = m;
	if (m->fd == -1) {
		log_err("open(\"%s\"): %s", m->path, strerror(errno));
		free(m->path);
		m->path = NULL;
		lmtp_message_free(&s->msg);
		return false;
	}
	lmtp_message_trace(s);
	return true;
}

/* Decode what is buffered; true when the message end was seen. */
static bool
lmtp_decode_available(struct lmtp_session *s, size_t limit)
{
	size_t used = msg_intake_read(&s->msg->in, bufferevent_get_input(s->bev),
	    limit);

	if (s->bdat_left > 0)
		s->bdat_left -= used;
	return msg_intake_done(&s->msg->in);
}

/* Count one per-recipient answer to the message. */
static void
lmtp_count(int code, uint64_t size)
{
	if (code / 100 == 2) {
		store_stats.delivered++;
		store_stats.bytes += size;
	} else if (code / 100 == 4) {
		store_stats.deferred++;
	} else {
		store_stats.refused++;
	}
}

static void
lmtp_reply_all(struct lmtp_session *s, const char *reply)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		lmtp_reply(s, "%s", reply);
		lmtp_count(*reply == '4' ? 400 : 500, 0);
	}
}

static void
lmtp_on_committed(struct commit_req *req, void *arg)
{
	struct lmtp_session *s = arg;

	s->commit = NULL;
	for (size_t i = 0; i < req->nrcpts; i++) {
		struct commit_rcpt *r = &req->rcpts[i];
		lmtp_reply(s, "%d %s", r->code, r->text);
		lmtp_count(r->code, req->size);
		log_info("lmtp session=%lu from=<%s> user=%s size=%llu status=%d "
		    "reply=\"%s\"", s->id, s->from, r->user,
		    (unsigned long long)req->size, r->code, r->text);
	}
	commit_req_free(&req);
	lmtp_reset(s);
	s->state = LMTP_COMMAND;
	lmtp_resume(s);
}

/* The whole message is in: refuse it, or hand it to the commit thread. */
static void
lmtp_message_end(struct lmtp_session *s)
{
	struct lmtp_message *m = s->msg;
	const char *refusal;

	msg_intake_finish(&m->in);
	if (m->in.sink_errno == 0)
		m->in.sink_errno = lmtp_message_flush(m);
	if ((refusal = msg_intake_refusal(&m->in)) != NULL) {
		lmtp_reply_all(s, refusal);
		log_info("lmtp session=%lu from=<%s> refused: %s", s->id, s->from,
		    refusal);
		lmtp_reset(s);
		s->state = LMTP_COMMAND;
		return;
	}
	struct commit_req *req = xcalloc(1, sizeof(*req));
	req->fd = m->fd;
	req->tmp_path = m->path;
	req->part = m->part;
	req->size = m->in.size;
	req->internaldate = time(NULL);
	req->header_size = (uint32_t)m->in.hdr.len;
	req->envelope = mindex_envelope(m->in.hdr.buf, m->in.hdr.len,
	    &req->envlen);
	req->guaranteed = s->guaranteed;
	req->rcpts = s->rcpts;
	req->nrcpts = s->nrcpts;
	req->done = lmtp_on_committed;
	req->arg = s;
	m->fd = -1;
	m->path = NULL;
	s->rcpts = NULL;
	s->nrcpts = s->caprcpts = 0;
	s->commit = req;
	s->state = LMTP_COMMIT;
	commit_submit(req);
}

void
lmtp_data_input(struct lmtp_session *s)
{
	if (lmtp_decode_available(s, SIZE_MAX))
		lmtp_message_end(s);
}

/* Skip the bytes of a refused chunk. */
static void
lmtp_bdat_skip(struct lmtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);

	if (n > s->bdat_left)
		n = (size_t)s->bdat_left;
	evbuffer_drain(in, n);
	s->bdat_left -= n;
}

void
lmtp_bdat_input(struct lmtp_session *s)
{
	if (s->bdat_refusal != NULL)
		lmtp_bdat_skip(s);
	else
		lmtp_decode_available(s, (size_t)s->bdat_left);
	if (s->bdat_left > 0)
		return;
	s->state = LMTP_COMMAND;
	if (s->bdat_refusal != NULL) {
		/* LAST closes the transaction: one reply per accepted
		 * recipient, as the client counts them (RFC 2033 4.2). */
		if (s->bdat_last && s->nrcpts > 0)
			lmtp_reply_all(s, s->bdat_refusal);
		else
			lmtp_reply(s, "%s", s->bdat_refusal);
		if (s->bdat_last)
			lmtp_reset(s);
	} else if (s->bdat_last) {
		lmtp_message_end(s);
	} else if (s->msg->in.too_big) {
		/* RFC 3030: the client must not send more chunks; any that
		 * come are dropped until LAST or RSET. */
		lmtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		lmtp_message_free(&s->msg);
		s->bdat_refusal = "552 5.3.4 Message size exceeds fixed limit";
	} else {
		lmtp_reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)s->msg->in.size);
	}
}
