/*
 * msg_intake: DATA and BDAT intake shared by SMTP and LMTP (see
 * msg_intake.h).
 */
#include "msg_intake.h"

#include <event2/buffer.h>

#define MSG_INTAKE_CHUNK 16384

void
msg_intake_init(struct msg_intake *in, bool raw,
    const struct msg_intake_limits *lim, msg_intake_sink *sink, void *arg)
{
	smtp_data_init(&in->dec, raw);
	in->dec.strict_end = lim->strict_end;
	msg_header_scan_init(&in->hdr, lim->max_header, lim->max_fields);
	in->size = 0;
	in->max_size = lim->max_size;
	in->too_big = false;
	in->sink_errno = 0;
	in->sink = sink;
	in->sink_arg = arg;
}

void
msg_intake_free(struct msg_intake *in)
{
	msg_header_scan_free(&in->hdr);
}

void
msg_intake_add(struct msg_intake *in, const char *data, size_t n)
{
	in->size += n;
	if (in->size > in->max_size)
		in->too_big = true;
	if (in->too_big || in->sink_errno != 0 || n == 0)
		return;
	msg_header_scan_feed(&in->hdr, data, n);
	in->sink_errno = in->sink(in->sink_arg, data, n);
}

size_t
msg_intake_read(struct msg_intake *in, struct evbuffer *buf, size_t limit)
{
	char out[2 * MSG_INTAKE_CHUNK + 2];
	size_t total = 0;

	while (limit > 0 && evbuffer_get_length(buf) > 0 && !in->dec.done) {
		size_t have = evbuffer_get_length(buf);
		size_t want = limit < MSG_INTAKE_CHUNK ? limit : MSG_INTAKE_CHUNK;
		if (want > have)
			want = have;
		unsigned char *p = evbuffer_pullup(buf, (ev_ssize_t)want);
		size_t outlen;
		size_t used = smtp_data_decode(&in->dec, (const char *)p, want,
		    out, &outlen);
		evbuffer_drain(buf, used);
		limit -= used;
		total += used;
		msg_intake_add(in, out, outlen);
	}
	return total;
}

bool
msg_intake_done(const struct msg_intake *in)
{
	return in->dec.done;
}

void
msg_intake_finish(struct msg_intake *in)
{
	char tail[2];
	size_t n = smtp_data_finish(&in->dec, tail);

	if (n > 0)
		msg_intake_add(in, tail, n);
	msg_header_scan_finish(&in->hdr);
}

const char *
msg_intake_refusal(const struct msg_intake *in)
{
	if (in->too_big)
		return "552 5.3.4 Message size exceeds fixed limit";
	if (in->sink_errno != 0)
		return "452 4.3.1 Insufficient system storage";
	if (in->hdr.over_limit)
		return "552 5.3.4 Message header exceeds limits";
	if (in->dec.nuls > 0)
		return "554 5.6.0 Message contains NUL octets";
	return NULL;
}
