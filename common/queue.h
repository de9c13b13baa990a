/*
 * queue: the MTA's message queue on disk (DESIGN.md section 5), written by
 * the SMTP server, read by jobctl.  queue.c owns the directory, the entry
 * files and the group-commit thread; queue_env.c the envelope format.
 *
 * LAYOUT under the queue root (msg.conf mta.queue.path):
 *
 *   tmp/ID                 a message being received (queue_msg_new): the
 *                          first destination's entry file in the making
 *   tmp/ID.K               destination K's (K >= 1) entry file, made by
 *                          the commit
 *   CHANNEL/SS/ID          a queue entry: one file, one inode
 *
 * SS is queue_subdir(ID, subdirs) as two decimal digits, subdirs being the
 * channel's `subdirs` keyword (capped at QUEUE_SUBDIRS_MAX); with subdirs 0
 * or 1 there is no SS level and the entries sit directly in CHANNEL/.
 *
 * ENTRY FILE: the envelope (format below), one empty line ("\n"), then the
 * message exactly as received (CRLF lines, our Received: field first).
 * The message's size is the file's size minus the offset of its first
 * byte (queue_env_parse reports both).  Each destination channel has its
 * own file with its own copy of the message: one inode per entry, one
 * fsync per entry, and no entry shares anything with another.
 *
 * COMMIT.  queue_msg_new() writes the first destination's envelope and the
 * empty line to tmp/ID; the message follows.  The commit thread takes the
 * requests waiting (group commit) and for the whole batch:
 *   1. flushes each message; for each further destination K makes tmp/ID.K:
 *      its envelope, the empty line, a copy of the message bytes
 *      (copy_file_range from tmp/ID, read/write where that fails);
 *   2. one parallel fsync round of every file of the batch;
 *   3. link()s each file to CHANNEL/SS/ID (the directory made with
 *      durable_mkdirs when missing, each new level fsync'd into its parent);
 *   4. one parallel fsync round of every directory that got a link;
 *   5. only then reports 0 (callback on the loop thread), and afterwards
 *      unlinks the tmp names, unsynced: the entries keep their own links.
 * A file is complete and durable before its name appears, so a crash at
 * any point leaves either no entry or a complete one.  (No rename from
 * tmp/: across directories, a crash on a file system without a journal
 * could leave two names for an inode whose link count says one.)  On any
 * failure a request's links and tmp files are unlinked before its callback
 * gets the first errno met (ENOSPC, EDQUOT, EIO, ... so that the server can
 * answer 452 4.3.1); a failed fsync of a directory fails every request
 * linked there.  A crash after step 4 but before the 250 reached the
 * client may make the client send again: delivery is at least once.
 *
 * SCANNER RULES (jobctl): an entry is any regular file in CHANNEL/ or
 * CHANNEL/SS/ whose name is a valid queue ID (queue_id_valid); no other
 * files are written there.  It is complete whenever it exists: read it
 * with queue_env_parse(); a file that does not parse was damaged or edited
 * and must be set aside, never guessed at.  tmp/ is the writer's alone.
 *
 * QUEUE IDS are QUEUE_ID_LEN (16) characters of base32hex (RFC 4648 section
 * 7: 0-9 A-V, whose ASCII order is numeric order) encoding 80 bits, most
 * significant first:
 *   34 bits seconds since the epoch | 20 bits microseconds |
 *   22 bits pid | 4 bits counter
 * Within a process IDs strictly increase (a clock step backwards reuses the
 * last time and bumps the counter, carrying into the microseconds); the pid
 * separates processes running at the same time; restarts are separated by
 * time.  Sorting IDs sorts by creation time (to the microsecond).
 *
 * TMP CLEANUP: queue_open() removes every file in tmp/: messages of a
 * process that died before acknowledging them, and names a crash left
 * after step 5 (their entries hold their own links).  That assumes one mta
 * process per queue root; two processes sharing a root would delete each
 * other's messages in reception.
 *
 * THREADS: queue_open(), queue_msg_*, queue_commit(), queue_set_notify()
 * and queue_close() belong to the loop thread of the base given to
 * queue_open(); that base must have been made after evthread_use_pthreads()
 * (the commit thread activates an event on it).  queue_env_* and the
 * queue_id/subdir/channel helpers are pure and callable anywhere.
 *
 * ENVELOPE FORMAT (version 1).  Text, one "key value" line each, ended by
 * LF; exactly one space after the key; no trailing space; at most
 * QUEUE_ENV_LINE_MAX bytes per line (not counting the LF); keys in this
 * order when written, any order (version first) when read; the envelope
 * ends at the first empty line:
 *
 *   version 1                       required, first line
 *   id ID                           required, a queue ID
 *   created UNIXTIME                required, decimal seconds
 *   channel CHANNEL                 required, destination channel
 *   source CHANNEL                  required, channel it arrived on
 *   from <XTEXT>                    required, reverse-path; <> null sender
 *   ret full|hdrs                   optional (absent: RET not given)
 *   envid XTEXT                     optional (absent: ENVID not given)
 *   priority urgent|normal|nonurgent  optional (absent: normal)
 *   client XTEXT XTEXT              optional: SMTP client address and name
 *                                   (absent: submitted locally)
 *   helo XTEXT                      optional: the client's HELO/EHLO name
 *   auth XTEXT                      optional (absent: not authenticated)
 *   attempts N                      optional, delivery attempts so far
 *                                   (absent: 0; written by jobctl)
 *   retry UNIXTIME                  optional, not before (absent: now)
 *   warned N                        optional, delay warnings sent (0)
 *   rcpt <XTEXT>[ ATTR=VALUE]...    required, 1..QUEUE_ENV_RCPTS_MAX lines
 *       notify=never|LIST           LIST: success,failure,delay (a non-empty
 *                                   subset, any order); absent: not given
 *       orcpt=XTEXT                 ORCPT as "addr-type;address", decoded
 *       original=<XTEXT>            the address as the client gave it
 *       state=pending|delivered|failed   absent: pending
 *   (empty line)                    required: the message follows
 *
 * CHANNEL is [A-Za-z0-9_.-], 1..QUEUE_CHANNEL_MAX bytes, not starting with
 * '.', not "tmp".  XTEXT is RFC 3461 xtext: bytes 33..126 except '+' and
 * '=' stand for themselves, any other byte is '+' and two hex digits (upper
 * case when written, either case read; +00 is refused).  So a value never
 * holds a space, CR or LF: an address such as "a b"@example.com is written
 * <"a+20b"@example.com>, and UTF-8 is written byte by byte (é is +C3+A9).
 * Every string in struct queue_env is the decoded value; an empty optional
 * one (envid, helo, auth, orcpt, original) is written as absent.  Keys
 * appear at most once except rcpt.  An unknown key (size among them: the
 * file's length gives it) or attribute, a malformed value, a line over the
 * cap or more recipients than the cap make queue_env_parse() fail with
 * "line N: ..." in *err; a missing required key or a missing empty line
 * with a message naming it.
 */
#ifndef COMMON_QUEUE_H
#define COMMON_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct queue;
struct queue_msg;

#define QUEUE_ID_LEN         16
#define QUEUE_CHANNEL_MAX    64
#define QUEUE_SUBDIRS_MAX    100        /* SS is two decimal digits */
#define QUEUE_ENV_LINE_MAX   4096
#define QUEUE_ENV_RCPTS_MAX  100000
#define QUEUE_NOTIFY_WAIT_MS 200   /* for room in jobctl's datagram queue */
#define QUEUE_MSG_BUFSIZE    (64 * 1024)

enum queue_notify {
	QUEUE_NOTIFY_NEVER = 1,
	QUEUE_NOTIFY_SUCCESS = 2,
	QUEUE_NOTIFY_FAILURE = 4,
	QUEUE_NOTIFY_DELAY = 8,
};                                      /* 0: NOTIFY not given */

enum queue_ret { QUEUE_RET_NONE = 0, QUEUE_RET_FULL = 1, QUEUE_RET_HDRS = 2 };

enum queue_priority {
	QUEUE_PRIORITY_NONURGENT = -1,
	QUEUE_PRIORITY_NORMAL = 0,
	QUEUE_PRIORITY_URGENT = 1,
};

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DELIVERED = 1,
	QUEUE_RCPT_FAILED = 2,
};

struct queue_rcpt {
	char *address;          /* final address, not empty */
	char *original;         /* as given by the client; NULL: absent */
	char *orcpt;            /* "rfc822;user@example.com"; NULL: absent */
	unsigned notify;        /* enum queue_notify bits, 0: absent */
	int state;              /* enum queue_rcpt_state */
};

struct queue_env {
	char *id;
	long long created;
	char *channel, *source;
	char *from;             /* "" for the null sender */
	int ret;                /* enum queue_ret */
	char *envid;            /* NULL: absent */
	int priority;           /* enum queue_priority */
	uint64_t size;          /* message bytes: set by queue_env_parse from
	                         * the file's length, never written */
	char *client_addr, *client_name;  /* both or neither (NULL) */
	char *helo, *auth;      /* NULL: absent */
	int attempts;           /* jobctl's: delivery attempts so far */
	long long retry;        /* jobctl's: not before (0: any time) */
	int warned;             /* jobctl's: delay warnings sent */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
};

struct queue_dest {
	const char *channel;
	int subdirs;
	const struct queue_rcpt *rcpts;
	size_t nrcpts;
};

/* 0: the entries are durable; else an errno. */
typedef void queue_commit_cb(void *arg, int err);

/*
 * Make root/tmp (and root) if needed, remove leftover tmp files, start the
 * commit thread (and the durable pool, default size).  NULL with *err set
 * ("mkdir(\"/q/tmp\"): Permission denied") on failure.
 */
struct queue *queue_open(struct event_base *base, const char *root, char **err);
/* Wait for the commits in flight; their callbacks run inside this call.
 * Every queue_msg must have been committed or aborted before. */
void queue_close(struct queue **q);
/* After each successful commit send one datagram "CHANNEL/SS/ID\n" (or
 * "CHANNEL/ID\n") per entry to the AF_UNIX SOCK_DGRAM socket at
 * socket_path (jobctl); nobody listening is not an error.  A datagram
 * waits up to QUEUE_NOTIFY_WAIT_MS for room in a full receiver; one that
 * still could not go makes the next one that goes be preceded by
 * "rescan\n".  NULL: stop. */
void queue_set_notify(struct queue *q, const char *socket_path);
/* Batches run and requests committed so far (for tests and metrics). */
void queue_counts(struct queue *q, unsigned long long *batches,
    unsigned long long *reqs);

/*
 * A new message bound for one entry per dest: its ID made, the envelopes
 * formatted, tmp/ID created and dests[0]'s envelope and the empty line
 * written (buffered).  env gives the shared fields: its id is the new ID,
 * created 0 means now, its channel and rcpts come from each dest, its size
 * is ignored.  Nothing of env or dests is referenced after the call.
 * NULL with *err set (and errno) on failure: EINVAL for no dest, a bad or
 * repeated channel, or an envelope that would not parse back (E2BIG for a
 * line over the cap; see queue_env_format); else the open or write error.
 */
struct queue_msg *queue_msg_new(struct queue *q, const struct queue_env *env,
    const struct queue_dest *dests, size_t ndests, char **err);
const char *queue_msg_id(const struct queue_msg *m);
/* Append message bytes, buffered (QUEUE_MSG_BUFSIZE); 0, or -1 with errno.
 * An error sticks: later writes and the commit fail with it. */
int queue_msg_write(struct queue_msg *m, const void *buf, size_t len);
/* Message bytes written so far (the envelope not counted). */
uint64_t queue_msg_size(const struct queue_msg *m);
/* Unlink tmp/ID and free. */
void queue_msg_abort(struct queue_msg **m);

/*
 * Commit *m as one entry per dest given to queue_msg_new(), durably (steps
 * above), and call cb(arg, err) exactly once, later, on the loop thread
 * (never inside queue_commit).  Takes *m (sets it NULL).
 */
void queue_commit(struct queue_msg **m, queue_commit_cb *cb, void *arg);

/* The SS level of id for a channel with subdirs: -1 for none, else
 * 0..min(subdirs, QUEUE_SUBDIRS_MAX)-1: the 32-bit FNV-1a hash of the
 * ID's characters modulo that. */
int queue_subdir(const char *id, int subdirs);
bool queue_id_valid(const char *id);
/* A new queue ID (the format above), unique across processes. */
void queue_id_new(char out[QUEUE_ID_LEN + 1]);
bool queue_channel_valid(const char *name);

/* queue_env.c */
/* The head of an entry file (malloc'd): env's envelope and the empty line;
 * env->size is not written.  NULL with errno EINVAL when env would not
 * parse back (a missing required field, a bad channel or ID, no recipient
 * or too many) or E2BIG when a line would pass the cap. */
char *queue_env_format(const struct queue_env *env);
/* Parse an entry file held whole in buf: the envelope up to and including
 * the empty line, *body_offset set to the offset of the message's first
 * byte and env->size to len - *body_offset (a caller holding only the
 * file's head sets size from the file's length itself).  Nothing after the
 * empty line is read.  On failure env is left cleared and *err says why. */
bool queue_env_parse(const char *buf, size_t len, struct queue_env *env,
    size_t *body_offset, char **err);
void queue_env_clear(struct queue_env *env);

#endif
