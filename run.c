/* One run: the decoder, keys and sink wired together through the decoder's callbacks, with
 * what surrounds them: diagnostics, dead letters, Redis batches, checkpoints, progress,
 * statistics, the signal flag and the exit status.  A file run and the Lambda loop share
 * it (see run.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "decode.h"
#include "input.h"
#include "keys.h"
#include "match.h"
#include "redis.h"
#include "sink.h"
#include "run.h"
#include "sink.h"
#include "util.h"

#define MSG_LIMIT	10		/* messages per reason before they are only counted */
#define SEQ_MAX_DIGITS	129		/* Kinesis sequence numbers: "^\d{1,129}$" (the
					 * API's pattern for SequenceNumber) */

struct run {
	struct run_opts		 o;
	const char		*dl_redis;	/* --dead-letter redis:KEY */
	const char		*show_ckpt;	/* --show-checkpoint STREAM/SHARD */

	struct redis		*redis;
	int			 dl_dirty;	/* dead letters written since the last fsync */
	int			 dl_failed;	/* one was lost: no batch may be applied now */
	int			 dl_torn_seen;	/* a line cut short was found in the file */
	unsigned long long	 batch_records;	/* records in the open Redis batch */

	/* --flush-ms: output committed but not yet written or applied (or a Redis batch
	 * sent but not yet acknowledged) is due at due_ms on the monotonic clock. */
	int			 pending;
	int			 overdue;	/* due while a document was open (Redis) */
	int			 doc_open;	/* a record of the document has begun */
	int64_t			 due_ms;	/* 0: no deadline yet */

	struct matcher		*pm;
	struct tmpl_set		*tmpl;
	struct decoder		*dec;
	struct sink		*sink;
	int			 dl_fd;		/* --dead-letter FILE, or -1 */
	int			 dl_rfd;	/* the same file read-only, to see its tail, or -1 */
	int			 dl_regular;
	struct buf		 dl_line;

	const char		*name;		/* current input, as shown (escaped) */
	struct buf		 shown;
	int			 status;
	int			 stopping;	/* stop reading: --strict, --max-errors, I/O */
	int			 quiet_exit;	/* the reader of stdout went away */
	int			 sink_dead;	/* the output failed: write nothing more */

	/* the record being read */
	int			 in_record;
	int			 skip_record;	/* applied before (--checkpoint) */
	int			 skip_kinesis;	/* the same, for the parts of the record */
	/* The Kinesis record being read, all its parts: where its keys start, the document's
	 * counts before it, and whether it moves the checkpoint once read whole. */
	struct sink_mark	 kin_mark;
	unsigned long long	 kin_events, kin_keys, kin_filtered;
	int			 kin_pending;
	long long		 recno;
	struct sink_mark	 rec_mark;
	unsigned long long	 rec_events, rec_keys, rec_filtered;
	/* the document being read (rolled back when it breaks) */
	unsigned long long	 doc_events, doc_keys, doc_filtered;
	unsigned long long	 doc_records;
	unsigned long long	 doc_noseq;	/* its records without a sequence number */
	unsigned long long	 docs;		/* documents read whole or rejected */
	/* Rejections inside the open document wait for its end (see hold): held.len and
	 * nheld when the open record began, to drop what a rejected record held. */
	struct buf		 held;
	unsigned long long	 nheld;
	size_t			 rec_held;
	unsigned long long	 rec_nheld;

	/* statistics */
	unsigned long long	 records, events, keys, rejected, filtered, duplicates;
	unsigned long long	 out_of_order;
	unsigned long long	 in_ooo;	/* of them, in the current input */
	struct buf		 ooo_note;	/* the first of those, for the warning */
	unsigned long long	 per_reason[R_NREASONS];
	int			 reason_order[R_NREASONS];
	int			 nreasons;

	/* progress meter */
	uint64_t		 total_bytes, done_bytes;
	int			 sized;		/* every input a regular file: total_bytes holds */
	struct timespec		 start, last_draw;
	int			 drawn;

	struct buf		 line;		/* diagnostics are built here */
	struct buf		 field;		/* STREAM/SHARD of the record being read */

	/* Lambda: the event being read */
	int			 lambda;
	struct buf		 first_seq;	/* its first record's sequence number */
	int			 has_first;
	struct buf		 first_keys;	/* its first two keys, for the log line, */
	size_t			 first_len[2];	/* one after the other, as they are */
	int			 nfirst;
	struct buf		 invalid;	/* why it is not a Kinesis event */
	int			 is_invalid;
};

static volatile sig_atomic_t got_signal;
static char last_warning[512];

/* The Redis connection's socket, or -1: see struct redis_opts. */
static volatile sig_atomic_t redis_sock = -1;
/* Lambda: a signal ends a wait for Redis at once (the invocation is answered as failed, to
 * be sent again), rather than after --timeout-ms.  A file run waits for the answer, so that
 * a batch it sent is known to be applied or not. */
static volatile sig_atomic_t cut_on_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
	if (cut_on_signal && redis_sock >= 0)
		shutdown(redis_sock, SHUT_RDWR);
}

void
run_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: a signal ends a blocking read */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int
run_signal(void)
{
	return got_signal;
}

static void
worst(struct run *r, int status)
{
	if (status > r->status)
		r->status = status;
}

void
run_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_warning, sizeof(last_warning), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kincount: %s\n", last_warning);
}

const char *
run_last_warning(void)
{
	return last_warning;
}

/* Escape a name given by the user for a message: no raw control bytes on the terminal. */
static const char *
shown(struct buf *b, const char *name)
{
	b->len = 0;
	if (buf_add_escaped(b, name, strlen(name)) == -1 || buf_addc(b, '\0') == -1)
		return "?";
	return b->p;
}

/* ---- progress ------------------------------------------------------------------------- */

static void
progress_erase(struct run *r)
{
	if (r->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		r->drawn = 0;
	}
}

static void
progress_draw(struct run *r, uint64_t current)
{
	struct timespec now;
	double secs, pct, rate, eta;
	uint64_t done = r->done_bytes + current;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (r->drawn && (now.tv_sec - r->last_draw.tv_sec) * 1000 +
	    (now.tv_nsec - r->last_draw.tv_nsec) / 1000000 < 250)
		return;
	r->last_draw = now;
	secs = kc_secs_since(&r->start);
	rate = secs > 0 ? (double)r->records / secs : 0;
	if (!r->sized) {
		/* A pipe, say: how much is to come is not known. */
		fprintf(stderr, "\rkincount: %llu records %.1f MB %.0f records/s\033[K",
		    r->records, (double)done / 1e6, rate);
		fflush(stderr);
		r->drawn = 1;
		return;
	}
	pct = r->total_bytes ? 100.0 * (double)done / (double)r->total_bytes : 0;
	if (pct > 100)
		pct = 100;
	eta = done > 0 && r->total_bytes > done ?
	    secs * (double)(r->total_bytes - done) / (double)done : 0;
	fprintf(stderr, "\rkincount: %.0f%% %llu records %.0f records/s ETA %d:%02d\033[K",
	    pct, r->records, rate, (int)eta / 60, (int)eta % 60);
	fflush(stderr);
	r->drawn = 1;
}

/* ---- rejections ------------------------------------------------------------------------- */

/* A dead letter could not be written (or synced): say so and stop.  No Redis batch is
 * applied from now on, so no checkpoint moves past a record whose dead letter was lost. */
static void
dead_letter_lost(struct run *r, int e)
{
	progress_erase(r);
	run_warnx("%s: %s", shown(&r->line, r->o.dead_letter), strerror(e));
	worst(r, KC_IO);
	r->dl_failed = 1;
	r->stopping = 1;
	decode_stop(r->dec);
}

/* Write n bytes to the dead-letter file, all of them or none: on a regular file, under an
 * exclusive flock(2), so that the lines of runs writing at the same time never mix even when
 * the kernel takes a line in several writes, and what a full disk took of a line is cut off
 * again.  A file whose last byte is not a newline (a line cut short by a crash or by another
 * program) is left as it is and reported, and the line starts on a new line: p[-1] must be
 * a newline that can be written first.  Returns 0, or -1 with errno set. */
static int
dead_letter_write(struct run *r, const char *p, size_t n)
{
	struct stat st;
	off_t start = 0;
	size_t done = 0;
	ssize_t w;
	char last;
	int e, torn = 0;

	if (r->dl_regular) {
		while (flock(r->dl_fd, LOCK_EX) == -1)
			if (errno != EINTR)
				return -1;
		if (fstat(r->dl_fd, &st) == -1)
			goto fail;
		start = st.st_size;
		if (start > 0 && r->dl_rfd >= 0 && pread(r->dl_rfd, &last, 1, start - 1) == 1 &&
		    last != '\n') {
			torn = 1;
			p--;
			n++;
		}
	}
	while (done < n) {
		if ((w = write(r->dl_fd, p + done, n - done)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (w == 0) {
			errno = ENOSPC;
			goto fail;
		}
		done += (size_t)w;
	}
	if (r->dl_regular)
		flock(r->dl_fd, LOCK_UN);
	if (torn && !r->dl_torn_seen) {
		r->dl_torn_seen = 1;
		progress_erase(r);
		run_warnx("%s: the last line was cut short (no newline at the end); "
		    "new lines start after it", shown(&r->line, r->o.dead_letter));
	}
	return 0;
fail:
	e = errno;
	if (r->dl_regular) {
		/* Under the lock the end of the file is where this write began. */
		if (done > 0 && ftruncate(r->dl_fd, start) == -1)
			run_warnx("%s: a line cut short is left at the end: %s",
			    shown(&r->line, r->o.dead_letter), strerror(errno));
		flock(r->dl_fd, LOCK_UN);
	}
	errno = e;
	return -1;
}

/* Write one dead-letter line (o is stolen): to the file at once, or into the Redis
 * batch. */
static void
dead_letter_put(struct run *r, json_t *o)
{
	struct buf *b = &r->dl_line;
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int ok, e = ENOMEM;

	if (r->dl_failed) {
		/* The run stops: what comes is not applied, and a rerun writes it. */
		free(s);
		json_decref(o);
		return;
	}
	if (s == NULL)
		ok = 0;
	else if (r->dl_redis != NULL)
		ok = sink_dead_letter(r->sink, s, strlen(s)) == 0;
	else {
		b->len = 0;
		ok = buf_addc(b, '\n') == 0 && buf_add(b, s, strlen(s)) == 0 &&
		    buf_addc(b, '\n') == 0;
		if (ok && dead_letter_write(r, b->p + 1, b->len - 1) == -1) {
			e = errno;
			ok = 0;
		}
	}
	free(s);
	json_decref(o);
	r->dl_dirty = 1;
	r->pending = 1;
	if (!ok)
		dead_letter_lost(r, e);
}

static void
dead_letter(struct run *r, const char *msg, long line, long long recno,
    const struct recmeta *m, struct text data)
{
	json_t *o;
	char src[64];
	struct buf b = { 0 };

	if (r->dl_fd == -1 && r->dl_redis == NULL)
		return;
	o = json_object();
	json_object_set_new(o, "reason", json_stringn_nocheck(msg, strlen(msg)));
	buf_add(&b, r->name, strlen(r->name));
	snprintf(src, sizeof(src), ":%ld", line);
	buf_add(&b, src, strlen(src));
	json_object_set_new(o, "source", json_stringn_nocheck(b.p, b.len));
	json_object_set_new(o, "record", recno > 0 ? json_integer(recno) : json_null());
	json_object_set_new(o, "sequence_number", m != NULL && m->seq.n > 0 ?
	    json_stringn(m->seq.p, m->seq.n) : json_null());
	json_object_set_new(o, "partition_key", m != NULL && m->pk.n > 0 ?
	    json_stringn(m->pk.p, m->pk.n) : json_null());
	/* A user record of a KPL aggregate, a log event of a CloudWatch Logs message. */
	if (m != NULL && m->subseq.n > 0)
		json_object_set_new(o, "sub_sequence_number", json_stringn(m->subseq.p,
		    m->subseq.n));
	if (m != NULL && m->log_event_id.n > 0)
		json_object_set_new(o, "log_event_id", json_stringn(m->log_event_id.p,
		    m->log_event_id.n));
	if (utf8_valid(data.p, data.n)) {
		json_object_set_new(o, "data", json_stringn(data.p, data.n));
	} else {
		b.len = 0;
		buf_add_base64(&b, data.p, data.n);
		json_object_set_new(o, "data_base64", json_stringn(b.p, b.len));
	}
	dead_letter_put(r, o);
	buf_free(&b);
}

/* Count a rejected item; 1 when its message is to be printed. */
static int
count_rejected(struct run *r, enum kc_reason why)
{
	r->rejected++;
	if (r->per_reason[why]++ == 0)
		r->reason_order[r->nreasons++] = why;
	worst(r, KC_REJECTED); /* at least exit 1 */
	return !r->o.quiet && r->per_reason[why] <= MSG_LIMIT;
}

static void
stop_after_errors(struct run *r)
{
	if (r->o.max_errors > 0 && (long long)(r->rejected + r->nheld) >= r->o.max_errors) {
		r->stopping = 1;
		decode_stop(r->dec);
	}
}

/* Report one rejected item: stderr and the dead letters.  recno is 0 for a whole
 * document. */
static void
report(struct run *r, enum kc_reason why, const char *msg, long line, long long recno,
    const struct recmeta *m, struct text data)
{
	char num[64];

	if (count_rejected(r, why)) {
		r->line.len = 0;
		buf_add(&r->line, "kincount: ", 10);
		buf_add(&r->line, r->name, strlen(r->name));
		snprintf(num, sizeof(num), ":%ld: ", line);
		buf_add(&r->line, num, strlen(num));
		if (recno > 0) {
			snprintf(num, sizeof(num), "record %lld", recno);
			buf_add(&r->line, num, strlen(num));
			if (m != NULL && m->seq.n > 0) {
				buf_add(&r->line, " (seq ", 6);
				buf_add_escaped(&r->line, m->seq.p, m->seq.n);
				buf_addc(&r->line, ')');
			}
			buf_add(&r->line, ": ", 2);
		}
		buf_add_escaped(&r->line, msg, strlen(msg));
		buf_addc(&r->line, '\n');
		progress_erase(r);
		fwrite(r->line.p, 1, r->line.len, stderr);
	}
	dead_letter(r, msg, line, recno, m, data);
}

/* A rejection (reject) is held until its document ends.  A document that turns out broken is one
 * rejection, and nothing read from inside it is reported: when a document cut short has
 * swallowed the start of the next one, what that looked like (a record with no data, say)
 * is no rejection, and the next document is read again (decode.c).  A record rejected
 * whole drops what its events held, so one item is one dead letter.  Held: the reason,
 * line, record number, then the message, sequence number, partition key and data, each
 * with its length. */
enum { H_MSG, H_SEQ, H_SUBSEQ, H_PK, H_LOGID, H_DATA, H_N };

struct held {
	enum kc_reason	 why;
	long		 line;
	long long	 recno;
	size_t		 n[H_N];		/* the lengths of the texts that follow */
};

static void
reject(struct run *r, enum kc_reason why, const char *msg, long long recno,
    const struct recmeta *m, struct text data)
{
	static const struct recmeta none;
	const struct recmeta *mm = m ? m : &none;
	struct text t[H_N] = { { msg, strlen(msg) }, mm->seq, mm->subseq, mm->pk,
	    mm->log_event_id, data };
	struct held h = { why, decode_line(r->dec), recno, { 0 } };
	size_t len = r->held.len;
	int i;

	for (i = 0; i < H_N; i++)
		h.n[i] = t[i].n;
	if (buf_add(&r->held, &h, sizeof(h)) == -1)
		i = 0;
	else
		for (i = 0; i < H_N; i++)
			if (buf_add(&r->held, t[i].p, t[i].n) == -1)
				break;
	if (i < H_N) {
		/* No room to wait: report it now. */
		r->held.len = len;
		report(r, why, msg, h.line, recno, m, data);
		stop_after_errors(r);
		return;
	}
	r->nheld++;
	stop_after_errors(r);
}

/* Report what the document held, in order. */
static void
held_report(struct run *r)
{
	size_t off = 0;
	struct buf msg = { 0 };

	while (off < r->held.len) {
		struct held h;
		struct recmeta m;
		const char *p;

		struct text t[H_N];

		memcpy(&h, r->held.p + off, sizeof(h));
		p = r->held.p + off + sizeof(h);
		for (int i = 0; i < H_N; i++) {
			t[i] = (struct text){ p, h.n[i] };
			p += h.n[i];
		}
		memset(&m, 0, sizeof(m));
		m.seq = t[H_SEQ];
		m.subseq = t[H_SUBSEQ];
		m.pk = t[H_PK];
		m.log_event_id = t[H_LOGID];
		msg.len = 0;
		buf_add(&msg, t[H_MSG].p, t[H_MSG].n);
		buf_addc(&msg, '\0');
		report(r, h.why, msg.p ? msg.p : "", h.line, h.recno, &m, t[H_DATA]);
		off = (size_t)(p - r->held.p);
	}
	buf_free(&msg);
	r->held.len = 0;
	r->nheld = 0;
}

/* A key Redis refused: its count goes to the dead letters. */
static void
on_refused(void *arg, const char *key, size_t len, long long count, const char *why)
{
	struct run *r = arg;
	struct buf b = { 0 };
	json_t *o;

	if (count_rejected(r, R_REFUSED)) {
		buf_add_escaped(&b, key, len);
		buf_addc(&b, '\0');
		progress_erase(r);
		run_warnx("redis: key '%s' refused (count %lld): %s", b.p, count, why);
		buf_free(&b);
	}
	if (r->dl_fd != -1 || r->dl_redis != NULL) {
		b.len = 0;
		buf_add(&b, "refused by Redis: ", 18);
		buf_add(&b, why, strlen(why));
		o = json_object();
		json_object_set_new(o, "reason", json_stringn(b.p, b.len));
		json_object_set_new(o, "source", json_string("redis"));
		json_object_set_new(o, "key", utf8_valid(key, len) ?
		    json_stringn(key, len) : json_null());
		json_object_set_new(o, "count", json_integer(count));
		dead_letter_put(r, o);
	}
	buf_free(&b);
}

/* ---- decoder callbacks -------------------------------------------------------------------- */

/* Redis could not take a batch (or the connection before the first one). */
static void
redis_failed(struct run *r, const char *why)
{
	unsigned long long n = redis_batches(r->redis);
	int retries = redis_retries(r->redis);

	if (redis_auth_failed(r->redis))
		run_warnx("redis: authentication failed: %s", why);
	else if (r->show_ckpt != NULL)
		run_warnx("redis: cannot read the checkpoint of %s%s%s: %s",
		    shown(&r->line, r->show_ckpt), strstr(why, redis_address(r->redis)) ? "" :
		    " from ", strstr(why, redis_address(r->redis)) ? "" :
		    redis_address(r->redis), why);
	else if (retries > 0 || redis_gave_up(r->redis))
		run_warnx("redis: batch %llu not applied after %d %s: %s (%llu %s applied)", n + 1,
		    retries, retries == 1 ? "retry" : "retries", why, n,
		    n == 1 ? "batch" : "batches");
	else
		run_warnx("redis: batch %llu not applied: %s (%llu %s applied)", n + 1, why, n,
		    n == 1 ? "batch" : "batches");
	worst(r, KC_SINK); /* exit 3 */
}

static void
sink_failed(struct run *r)
{
	int e = sink_errno(r->sink);

	r->stopping = 1;
	decode_stop(r->dec);
	if (e == EPIPE) {
		r->quiet_exit = 1;
		return;
	}
	progress_erase(r);
	r->sink_dead = 1;
	if (r->redis != NULL && e == 0) {
		redis_failed(r, sink_error(r->sink));
		return;
	}
	run_warnx("stdout: %s", strerror(e));
	worst(r, KC_IO);
}

/* A dead letter of the open batch was lost: the batch is never applied.  The batch sent
 * before it (whose dead letters are safe) is waited for, then nothing more is sent. */
static void
refuse_batch(struct run *r)
{
	unsigned long long n;

	if (r->sink_dead)
		return;
	r->sink_dead = 1;
	if (sink_drain(r->sink) == -1) {
		sink_failed(r);
		return;
	}
	n = redis_batches(r->redis);
	progress_erase(r);
	run_warnx("redis: batch %llu not applied: its dead letters were not written "
	    "(%llu %s applied)", n + 1, n, n == 1 ? "batch" : "batches");
	worst(r, KC_IO);
}

/* Apply the Redis batch, after making this batch's dead letters durable.  With wait, until
 * it is applied; else it is sent, and the next batch is read while Redis works (and is
 * waited for when --flush-ms comes, so a failure is retried without more input). */
static void
apply_batch(struct run *r, int wait)
{
	if (r->dl_fd != -1 && r->dl_dirty && !r->dl_failed && r->dl_regular &&
	    fsync(r->dl_fd) == -1)
		dead_letter_lost(r, errno);
	if (r->dl_failed) {
		refuse_batch(r);
		return;
	}
	r->dl_dirty = 0;
	r->pending = !wait;
	r->overdue = 0;
	r->due_ms = 0;
	if (sink_flush(r->sink, wait) == -1)
		sink_failed(r);
	r->batch_records = 0;
}

/* Write out (or apply) everything committed, now. */
static void
flush_now(struct run *r)
{
	r->pending = r->overdue = 0;
	r->due_ms = 0;
	if (r->sink_dead)
		return;
	if (r->redis != NULL)
		apply_batch(r, 1);
	else if (sink_flush(r->sink, 1) == -1)
		sink_failed(r);
}

/* --flush-ms on a live input: the oldest output not yet written or applied waits at most
 * that long, however often input comes.  Flushes when the time has come; returns how long
 * a read may wait (-1: as long as it takes).  A Redis batch never splits a document, so a
 * batch that is due while a document is open is applied at the document's end. */
static int
flush_due(struct run *r)
{
	int64_t now;

	if (!r->pending || r->overdue || r->sink_dead)
		return -1;
	now = kc_clock_ms(CLOCK_MONOTONIC);
	if (r->due_ms == 0)
		r->due_ms = now + r->o.flush_ms;
	if (now < r->due_ms)
		return (int)(r->due_ms - now);
	if (r->redis != NULL && r->doc_open) {
		r->overdue = 1;
		return -1;
	}
	flush_now(r);
	/* Dead letters of keys the server refused wait for the next batch. */
	return r->pending ? flush_due(r) : -1;
}

static int
valid_seq(struct text s)
{
	if (s.n == 0 || s.n > SEQ_MAX_DIGITS || (s.p[0] == '0' && s.n > 1))
		return 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return 0;
	return 1;
}

/* --checkpoint: is this record new?  Rejects it (and returns 0) when it cannot be told. */
static int
checkpoint_new(struct run *r, const struct recmeta *m)
{
	struct buf *field = &r->field;
	int rc;

	/* The field is STREAM/SHARD: a '/' in either would make two shards share it. */
	if ((m->stream.n > 0 && memchr(m->stream.p, '/', m->stream.n) != NULL) ||
	    (m->shard.n > 0 && memchr(m->shard.p, '/', m->shard.n) != NULL)) {
		r->skip_record = 1;
		reject(r, R_SEQ, m->stream.n > 0 && memchr(m->stream.p, '/', m->stream.n) ?
		    "stream name has a '/' (--checkpoint)" : "shard id has a '/' (--checkpoint)",
		    r->recno, m, decode_record_data(r->dec));
		return 0;
	}
	if (!valid_seq(m->seq) || m->shard.n == 0) {
		r->skip_record = 1;
		reject(r, R_SEQ, m->shard.n == 0 && m->seq.n > 0 ?
		    "record has no shard id (use --shard)" : "bad sequence number", r->recno, m,
		    decode_record_data(r->dec));
		return 0;
	}
	field->len = 0;
	if (buf_add(field, m->stream.p, m->stream.n) == -1 || buf_addc(field, '/') == -1 ||
	    buf_add(field, m->shard.p, m->shard.n) == -1)
		rc = -1;
	else
		rc = sink_checkpoint(r->sink, (struct text){ field->p, field->len }, m->seq);
	if (rc == -1) {
		sink_failed(r);
		r->skip_record = 1;
		return 0;
	}
	if (rc == 1) {
		r->duplicates++;
		r->skip_record = 1;
		return 0;
	}
	if (rc == 2) {
		/* Not counted, and said once per input (out_of_order_report). */
		if (r->in_ooo++ == 0) {
			struct text max = sink_checkpoint_max(r->sink);
			r->ooo_note.len = 0;
			buf_add(&r->ooo_note, "in ", 3);
			buf_add_escaped(&r->ooo_note, field->p, field->len);
			buf_add(&r->ooo_note, ", ", 2);
			buf_add_escaped(&r->ooo_note, m->seq.p, m->seq.n);
			buf_add(&r->ooo_note, " came after ", 12);
			buf_add_escaped(&r->ooo_note, max.p, max.n);
			buf_add(&r->ooo_note, ", read earlier in this run", 26);
			buf_addc(&r->ooo_note, '\0');
		}
		r->out_of_order++;
		worst(r, KC_REJECTED);
		r->skip_record = 1;
		return 0;
	}
	return 1;
}

/* The Kinesis record before is read whole: it moves its checkpoint (with the batch). */
static void
kin_finish(struct run *r)
{
	if (!r->kin_pending)
		return;
	r->kin_pending = 0;
	if (sink_checkpoint_move(r->sink) == -1)
		sink_failed(r);
}

static void
on_record_begin(void *arg, const struct recmeta *m)
{
	struct run *r = arg;

	r->rec_held = r->held.len;
	r->rec_nheld = r->nheld;
	r->in_record = 1;
	r->doc_open = 1;
	r->rec_mark = sink_mark(r->sink);
	r->rec_events = r->rec_keys = r->rec_filtered = 0;
	/* The user records of a KPL aggregate and the log events of a CloudWatch Logs
	 * message are parts of one Kinesis record: one record number, one checkpoint
	 * decision for them all, so an aggregate is never split. */
	if (m->part > 0) {
		r->skip_record = r->skip_kinesis;
		return;
	}
	kin_finish(r);
	r->kin_mark = r->rec_mark;
	r->kin_events = r->doc_events;
	r->kin_keys = r->doc_keys;
	r->kin_filtered = r->doc_filtered;
	r->records++;
	r->doc_records++;
	r->batch_records++;
	r->recno = (long long)r->records;
	if (m->seq.n == 0)
		r->doc_noseq++;
	if (r->lambda && !r->has_first) {
		r->first_seq.len = 0;
		r->has_first = buf_add(&r->first_seq, m->seq.p, m->seq.n) == 0;
	}
	r->skip_record = 0;
	if (r->o.checkpoint)
		r->kin_pending = checkpoint_new(r, m);
	r->skip_kinesis = r->skip_record;
}

static void
on_event(void *arg, const struct event *ev)
{
	struct run *r = arg;
	enum kc_reason why;
	const char *msg, *k;
	size_t i, n, len;

	if (r->stopping || r->skip_record)
		return;
	r->rec_events++;
	switch (tmpl_match(r->tmpl, ev, &why, &msg)) {
	case -1:
		reject(r, why, msg, r->recno, ev->meta, ev->raw);
		return;
	case 0:
		r->rec_filtered++;
		return;
	}
	if (r->o.decode_only) {
		if (sink_add(r->sink, ev->raw.p, ev->raw.n) == -1)
			sink_failed(r);
		return;
	}
	if (tmpl_expand(r->tmpl, ev, &why, &msg) == -1) {
		reject(r, why, msg, r->recno, ev->meta, ev->raw);
		return;
	}
	n = tmpl_nkeys(r->tmpl);
	for (i = 0; i < n; i++) {
		k = tmpl_key(r->tmpl, i, &len);
		if (sink_add(r->sink, k, len) == -1) {
			sink_failed(r);
			return;
		}
		if (r->lambda && r->nfirst < 2 && buf_add(&r->first_keys, k, len) == 0)
			r->first_len[r->nfirst++] = len;
	}
	r->rec_keys += n;
}

static void
on_record_end(void *arg, const struct recmeta *m, const struct reject *rj)
{
	struct run *r = arg;

	r->in_record = 0;
	if (r->skip_record)
		return;
	if (rj != NULL) {
		sink_rollback(r->sink, r->rec_mark);
		r->held.len = r->rec_held;
		r->nheld = r->rec_nheld;
		reject(r, rj->reason, rj->msg, r->recno, m, rj->data);
		return;
	}
	r->doc_events += r->rec_events;
	r->doc_keys += r->rec_keys;
	r->doc_filtered += r->rec_filtered;
}

static void
on_doc_end(void *arg, const struct reject *rj, int envelope)
{
	static const struct reject not_kinesis = {
		R_ENVELOPE, "no record has a kinesis.sequenceNumber", { NULL, 0 }
	};
	static const struct reject no_records = {
		R_ENVELOPE, "the Records array is empty", { NULL, 0 }
	};
	struct run *r = arg;

	r->doc_open = 0;
	r->docs++;
	/* A Kinesis trigger never sends an event without records. */
	if (r->lambda && rj == NULL && r->doc_noseq == r->doc_records)
		rj = r->doc_records == 0 ? &no_records : &not_kinesis;
	if (rj != NULL) {
		/* Nothing of a broken document counts, nor is anything inside it reported:
		 * its records were never read whole. */
		r->kin_pending = 0;
		sink_abort(r->sink);
		r->records -= r->doc_records;
		r->doc_events = r->doc_keys = r->doc_filtered = r->doc_records = 0;
		r->doc_noseq = 0;
		r->held.len = 0;
		r->nheld = 0;
		if (r->lambda) {
			/* Not a Kinesis event: answered with an invocation error, which is
			 * its report (Lambda would retry a dead letter's event forever). */
			r->invalid.len = 0;
			if (buf_add_escaped(&r->invalid, rj->msg, strlen(rj->msg)) == -1 ||
			    buf_addc(&r->invalid, '\0') == -1)
				r->invalid.len = 0;
			r->is_invalid = 1;
			return;
		}
		report(r, rj->reason, rj->msg, decode_line(r->dec), 0, NULL, rj->data);
		stop_after_errors(r);
		return;
	}
	kin_finish(r);
	held_report(r);
	r->doc_records = r->doc_noseq = 0;
	r->events += r->doc_events;
	r->keys += r->doc_keys;
	r->filtered += r->doc_filtered;
	r->doc_events = r->doc_keys = r->doc_filtered = 0;
	if (sink_commit(r->sink) == -1) {
		sink_failed(r);
		return;
	}
	r->pending = 1;
	if (r->redis != NULL && (envelope || (long long)r->batch_records >= r->o.batch))
		apply_batch(r, 0);
	else if (r->overdue)
		flush_now(r);
}

/* The end of an input (a file, a Lambda event).  A document cut short by the end of the
 * input, a signal or a stop is not applied, except for its records that were read whole
 * when the run stops: a record stopped in (one of the user records of an aggregate, say)
 * is rolled back whole, and does not move its checkpoint, so that reading it again later
 * counts all of it. */
static void
input_ended(struct run *r)
{
	if (r->in_record || decode_record_open(r->dec)) {
		sink_rollback(r->sink, r->kin_mark);
		r->doc_events = r->kin_events;
		r->doc_keys = r->kin_keys;
		r->doc_filtered = r->kin_filtered;
		r->kin_pending = 0;
		sink_checkpoint_drop(r->sink);
		r->in_record = 0;
	} else {
		kin_finish(r);
	}
	r->doc_open = r->overdue = 0;
	/* The rejection that stopped the run, and those before it. */
	held_report(r);
	r->doc_records = 0;
	if (got_signal || r->stopping) {
		r->events += r->doc_events;
		r->keys += r->doc_keys;
		r->filtered += r->doc_filtered;
		if (sink_commit(r->sink) == -1)
			sink_failed(r);
	} else {
		sink_abort(r->sink);
	}
	r->doc_events = r->doc_keys = r->doc_filtered = 0;
	if (r->in_ooo > 0) {
		progress_erase(r);
		run_warnx("%s: %llu %s out of order, not counted: %s: does the input mix "
		    "shards, or overlap itself?", r->name, r->in_ooo,
		    r->in_ooo == 1 ? "record" : "records", r->ooo_note.p ? r->ooo_note.p : "?");
		r->in_ooo = 0;
	}
}

/* ---- the read loop ------------------------------------------------------------------------ */

/* The decoder ran out of memory: the run stops (what was read whole is still output). */
static void
out_of_memory(struct run *r)
{
	progress_erase(r);
	run_warnx("%s: %s", r->name, strerror(ENOMEM));
	worst(r, KC_IO);
	r->stopping = 1;
}

void
run_file(struct run *r, const char *path)
{
	struct input *in;
	struct kc_err err;
	char *space;
	size_t avail;
	ssize_t n;
	int live, timeout;

	r->name = strcmp(path, "-") == 0 ? "<stdin>" : shown(&r->shown, path);
	if ((in = input_open(path, &err)) == NULL) {
		progress_erase(r);
		run_warnx("%s: %s", r->name, err.msg);
		worst(r, KC_IO);
		return;
	}
	/* A regular file never waits for more input, so it is read whole at once. */
	live = !input_regular(in);
	decode_begin(r->dec, r->name);
	for (;;) {
		timeout = live ? flush_due(r) : -1;
		if (got_signal || r->stopping)
			break;
		if ((space = decode_space(r->dec, &avail)) == NULL) {
			out_of_memory(r);
			break;
		}
		n = input_read(in, space, avail, timeout);
		if (n == INPUT_IDLE)
			continue;	/* flush_due flushes what is due */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			progress_erase(r);
			run_warnx("%s: %s", r->name, errno == EILSEQ ? "broken gzip data" :
			    strerror(errno));
			worst(r, KC_IO);
			break;
		}
		if (n == 0) {
			if (decode_end(r->dec) == -1)
				out_of_memory(r);
			break;
		}
		if (decode_feed(r->dec, (size_t)n) == -1) {
			out_of_memory(r);
			break;
		}
		if (r->o.progress == 1)
			progress_draw(r, input_consumed(in));
	}
	r->done_bytes += input_consumed(in);
	input_close(in);
	input_ended(r);
}

/* ---- summary ----------------------------------------------------------------------------- */

static void
summary(struct run *r)
{
	if (r->rejected == 0)
		return;
	r->line.len = 0;
	fprintf(stderr, "kincount: %llu rejected (", r->rejected);
	for (int i = 0; i < r->nreasons; i++)
		fprintf(stderr, "%s%s: %llu", i ? ", " : "", kc_reason_name[r->reason_order[i]],
		    r->per_reason[r->reason_order[i]]);
	fputs(")\n", stderr);
}

static void
print_stats(struct run *r)
{
	double secs = kc_secs_since(&r->start);
	unsigned long long distinct = r->o.decode_only || r->sink == NULL ? 0 :
	    sink_distinct(r->sink);
	unsigned long long rate = secs > 0 ? (unsigned long long)((double)r->records / secs) : 0;

	unsigned long long batches = r->redis ? redis_batches(r->redis) : 0;
	unsigned long long cmds = r->redis ? redis_commands(r->redis) : 0;
	struct decode_stats u = { 0 };
	uint64_t tfound = 0, tmissing = 0;

	if (r->dec != NULL)
		decode_stats(r->dec, &u);
	if (r->tmpl != NULL)
		tmpl_time_stats(r->tmpl, &tfound, &tmissing);
	if (r->o.stats == STATS_TEXT) {
		fprintf(stderr, "kincount: records %llu, events %llu, keys %llu, "
		    "distinct keys %llu, rejected %llu, filtered %llu, duplicates %llu, "
		    "out of order %llu, time field missing %llu, "
		    "aggregates %llu, sub-records %llu, log events %llu, control messages %llu, "
		    "batches %llu, redis commands %llu, seconds %.3f, records/s %llu\n",
		    r->records, r->events, r->keys, distinct, r->rejected, r->filtered,
		    r->duplicates, r->out_of_order, (unsigned long long)tmissing,
		    (unsigned long long)u.aggregates,
		    (unsigned long long)u.subrecords, (unsigned long long)u.log_events,
		    (unsigned long long)u.control, batches, cmds, secs, rate);
	} else if (r->o.stats == STATS_JSON) {
		json_t *o = json_pack("{sIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsfsI}",
		    "records", (json_int_t)r->records, "events", (json_int_t)r->events,
		    "keys", (json_int_t)r->keys, "distinct_keys", (json_int_t)distinct,
		    "rejected", (json_int_t)r->rejected, "filtered", (json_int_t)r->filtered,
		    "duplicates", (json_int_t)r->duplicates,
		    "out_of_order", (json_int_t)r->out_of_order,
		    "time_field_missing", (json_int_t)tmissing,
		    "aggregates", (json_int_t)u.aggregates, "sub_records", (json_int_t)u.subrecords,
		    "log_events", (json_int_t)u.log_events,
		    "control_messages", (json_int_t)u.control, "batches", (json_int_t)batches,
		    "redis_commands", (json_int_t)cmds, "seconds", secs,
		    "records_per_second", (json_int_t)rate);
		char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		if (s != NULL)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
	}
}

/* ---- options ----------------------------------------------------------------------------- */

/* ---- a Lambda event ---------------------------------------------------------------------- */

/* A fresh start for each event: the statistics, the message limits and the status are the
 * event's own. */
static void
event_begin(struct run *r, const char *name)
{
	r->lambda = 1;
	cut_on_signal = 1;
	r->status = KC_OK;
	r->stopping = 0;
	r->dl_failed = 0;
	r->records = r->events = r->keys = r->rejected = r->filtered = r->duplicates = 0;
	r->out_of_order = 0;
	/* What earlier events applied is a redelivery's duplicate, not out of order. */
	sink_checkpoint_rebase(r->sink);
	memset(r->per_reason, 0, sizeof(r->per_reason));
	r->nreasons = 0;
	r->docs = 0;
	r->has_first = r->nfirst = r->is_invalid = 0;
	r->first_seq.len = r->first_keys.len = 0;
	r->name = shown(&r->shown, name);
}

/* The event's batch failed: forget it whole (its counts, dead letters and the checkpoints
 * this run believed in, which the server may or may not hold now), so the next event starts
 * from what the server says. */
static void
event_failed(struct run *r)
{
	sink_reset(r->sink);
	if (r->redis != NULL)
		redis_abandon(r->redis);
	r->sink_dead = 0;
	r->pending = r->overdue = 0;
	r->due_ms = 0;
	r->batch_records = 0;
	r->kin_pending = 0;
}

/* One line per event on stderr (CloudWatch Logs), or one JSON object with --stats=json. */
static void
event_log(struct run *r, const struct run_answer *a, double ms, uint64_t batches,
    double redis_ms)
{
	static const char *const result[] = { "applied", "failed", "invalid" };
	size_t status_len;

	if (r->o.stats == STATS_JSON) {
		json_t *o = json_pack("{sssssIsIsIsIsIsIsIsIsfsf}",
		    "request_id", r->name, "result", result[a->kind],
		    "records", (json_int_t)r->records, "events", (json_int_t)r->events,
		    "keys", (json_int_t)r->keys, "rejected", (json_int_t)r->rejected,
		    "filtered", (json_int_t)r->filtered, "duplicates", (json_int_t)r->duplicates,
		    "out_of_order", (json_int_t)r->out_of_order,
		    "batches", (json_int_t)batches, "redis_ms", redis_ms,
		    "duration_ms", ms);
		json_t *keys = json_array();

		/* Keys are valid UTF-8 with no control byte (keys.c checks). */
		for (int i = 0, off = 0; i < r->nfirst; off += (int)r->first_len[i++])
			json_array_append_new(keys, json_stringn(r->first_keys.p + off,
			    r->first_len[i]));
		json_object_set_new(o, "first_keys", keys);
		if (a->kind == RUN_FAILED)
			json_object_set_new(o, "retry_from", json_stringn(a->first_seq.p,
			    a->first_seq.n));
		if (a->kind != RUN_APPLIED)
			json_object_set_new(o, "error", json_string(a->why));
		char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		if (s != NULL)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	if (a->kind == RUN_INVALID) {
		fprintf(stderr, "kincount: %s: not a Kinesis event: %s\n", r->name, a->why);
		return;
	}
	r->line.len = 0;
	if (a->kind == RUN_FAILED) {
		buf_add(&r->line, "not applied, to be retried from ", 32);
		buf_add_escaped(&r->line, a->first_seq.p, a->first_seq.n);
	} else {
		buf_add(&r->line, "applied", 7);
	}
	status_len = r->line.len;
	for (int i = 0, off = 0; i < r->nfirst; off += (int)r->first_len[i++]) {
		buf_add(&r->line, i ? ", " : "; keys ", i ? 2 : 7);
		buf_add_escaped(&r->line, r->first_keys.p + off, r->first_len[i]);
	}
	buf_addc(&r->line, '\0');
	fprintf(stderr, "kincount: %s: %.*s: %llu records, %llu events, %llu keys, %llu rejected, "
	    "%llu filtered, %llu duplicates, %.1f ms (redis %.1f ms)%s\n", r->name,
	    (int)status_len, r->line.p, r->records, r->events, r->keys, r->rejected, r->filtered,
	    r->duplicates, ms, redis_ms, r->line.p + status_len);
}

void
run_event(struct run *r, const char *name, const char *body, size_t len, int64_t deadline,
    struct run_answer *a)
{
	struct timespec t0;
	uint64_t batches = r->redis ? redis_batches(r->redis) : 0;
	double busy = r->redis ? redis_busy_ms(r->redis) : 0;
	size_t off = 0, avail, n;
	char *space;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	event_begin(r, name);
	if (r->redis != NULL)
		redis_deadline(r->redis, deadline);
	decode_begin(r->dec, r->name);
	while (off < len && !got_signal && !r->stopping) {
		if ((space = decode_space(r->dec, &avail)) == NULL) {
			out_of_memory(r);
			break;
		}
		n = len - off < avail ? len - off : avail;
		memcpy(space, body + off, n);
		off += n;
		if (decode_feed(r->dec, n) == -1) {
			out_of_memory(r);
			break;
		}
	}
	if (!got_signal && !r->stopping && decode_end(r->dec) == -1)
		out_of_memory(r);
	if (got_signal && !r->sink_dead) {
		/* Stopped inside the event: none of it is applied, all of it is retried. */
		sink_abort(r->sink);
		r->sink_dead = 1;
	}
	input_ended(r);
	if (!r->sink_dead) {
		apply_batch(r, 1);
		/* The dead letters of keys the server refused: in a round of their own now,
		 * since the next event may never come. */
		if (!r->sink_dead && sink_finish(r->sink) == -1)
			sink_failed(r);
		if (r->dl_fd != -1 && r->dl_dirty && !r->dl_failed && r->dl_regular &&
		    fsync(r->dl_fd) == -1)
			dead_letter_lost(r, errno);
		r->dl_dirty = 0;
	}
	a->first_seq = (struct text){ r->first_seq.p ? r->first_seq.p : "", r->first_seq.len };
	a->why = NULL;
	if (r->sink_dead || r->dl_failed || r->status >= KC_SINK) {
		/* Redis failed (or a dead letter was lost) before the event was read whole,
		 * or after: all of it is to be retried. */
		a->kind = RUN_FAILED;
		a->why = got_signal ? "stopped by a signal" : run_last_warning();
		event_failed(r);
	} else if (r->is_invalid || r->docs == 0) {
		a->kind = RUN_INVALID;
		a->why = r->is_invalid && r->invalid.len > 0 ? r->invalid.p : "the event is empty";
		event_failed(r);
	} else {
		a->kind = RUN_APPLIED;
	}
	if (r->redis != NULL)
		redis_deadline(r->redis, 0);
	event_log(r, a, 1e3 * kc_secs_since(&t0), r->redis ? redis_batches(r->redis) - batches : 0,
	    r->redis ? redis_busy_ms(r->redis) - busy : 0);
}

/* --time-field that no event had: every key's time was the arrival time instead, which is
 * silent per event (the field may be missing in some), so it is said once, at the end. */
static void
time_field_note(struct run *r)
{
	uint64_t found, missing;

	if (r->o.time_field == NULL || r->tmpl == NULL)
		return;
	tmpl_time_stats(r->tmpl, &found, &missing);
	if (found == 0 && missing > 0) {
		struct buf b = { 0 };
		buf_add_escaped(&b, r->o.time_field, strlen(r->o.time_field));
		buf_addc(&b, '\0');
		run_warnx("--time-field '%s' was in none of the %llu events: their arrival times "
		    "were used", b.p ? b.p : "", (unsigned long long)missing);
		buf_free(&b);
	}
}

/* ---- set-up and the end of a file run -------------------------------------------------- */

/* --show-checkpoint: print the stored sequence number, if any. */
int
run_show_checkpoint(struct run *r, const char *field)
{
	struct buf v = { 0 };
	struct kc_err err;
	int found;

	r->show_ckpt = field;
	if (redis_hget(r->redis, r->o.ropt.ckpt_key, field, strlen(field), &v, &found,
	    &err) == -1) {
		redis_failed(r, err.msg);
	} else if (found) {
		fwrite(v.p, 1, v.len, stdout);
		putchar('\n');
	}
	buf_free(&v);
	if (fflush(stdout) == EOF) {
		run_warnx("stdout: %s", strerror(errno));
		worst(r, KC_IO);
	}
	return r->status;
}

/* --dead-letter FILE: appended to with write(2) on an O_APPEND descriptor, one line at a
 * time.  A regular file is also opened for reading, to see whether it ends with a newline
 * (a file that can only be written is not looked at). */
static int
open_dead_letter(struct run *r)
{
	struct stat st;

	if ((r->dl_fd = open(r->o.dead_letter, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0666)) == -1 || fstat(r->dl_fd, &st) == -1)
		return -1;
	if (S_ISREG(st.st_mode)) {
		r->dl_regular = 1;
		r->dl_rfd = open(r->o.dead_letter, O_RDONLY | O_CLOEXEC);
	}
	return 0;
}

struct run *
run_new(const struct run_opts *o, struct matcher *pm, struct tmpl_set *tmpl, int *status)
{
	static const struct decode_cb cb = {
		on_record_begin, on_event, on_record_end, on_doc_end
	};
	struct sink_opts sopt = { .kind = SINK_KEYS, .fd = STDOUT_FILENO };
	struct kc_err err;
	struct run *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		tmpl_free(tmpl);
		match_free(pm);
		run_warnx("%s", strerror(ENOMEM));
		*status = KC_IO;
		return NULL;
	}
	r->o = *o;
	r->pm = pm;
	r->tmpl = tmpl;
	r->dl_fd = r->dl_rfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	if (o->dead_letter != NULL && strncmp(o->dead_letter, "redis:", 6) == 0)
		r->dl_redis = r->o.ropt.dl_key = o->dead_letter + 6;
	if (o->redis_url != NULL) {
		r->o.ropt.stop = &got_signal;
		r->o.ropt.sock = &redis_sock;
		if ((r->redis = redis_new(o->redis_url, &r->o.ropt, &err)) == NULL) {
			run_warnx("-r: %s", err.msg);
			run_free(r);
			*status = KC_USAGE;
			return NULL;
		}
		/* hiredis writes with plain write(2): a dead server must be an error, not a
		 * silent death by SIGPIPE. */
		signal(SIGPIPE, SIG_IGN);
	}
	/* Keep only the record metadata something uses. */
	r->o.dopt.meta = tmpl_meta(r->tmpl);
	if (o->dead_letter != NULL)
		r->o.dopt.meta |= META_PK;
	if (o->checkpoint)
		r->o.dopt.meta |= META_SHARD | META_STREAM;
	sopt.kind = o->count ? SINK_COUNT : o->decode_only ? SINK_DECODE :
	    r->redis ? SINK_REDIS : SINK_KEYS;
	sopt.distinct = o->stats != STATS_NONE;
	sopt.redis = r->redis;
	sopt.ckpt_key = o->ropt.ckpt_key;
	sopt.refused = on_refused;
	sopt.arg = r;
	if ((r->sink = sink_new(&sopt)) == NULL ||
	    (r->dec = decode_new(&r->o.dopt, r->pm, &cb, r)) == NULL) {
		run_warnx("%s", strerror(ENOMEM));
		run_free(r);
		*status = KC_IO;
		return NULL;
	}
	/* A dead-letter file that cannot be opened ends the run before any input; it
	 * still gives its (empty) summary. */
	if (o->dead_letter != NULL && r->dl_redis == NULL && open_dead_letter(r) == -1) {
		run_warnx("%s: %s", shown(&r->line, o->dead_letter), strerror(errno));
		worst(r, KC_IO);
		r->sink_dead = 1;
	}
	*status = r->status;
	return r;
}

void
run_free(struct run *r)
{
	if (r == NULL)
		return;
	if (r->dl_fd != -1)
		close(r->dl_fd);
	if (r->dl_rfd != -1)
		close(r->dl_rfd);
	buf_free(&r->dl_line);
	sink_free(r->sink);
	redis_free(r->redis);
	decode_free(r->dec);
	tmpl_free(r->tmpl);
	match_free(r->pm);
	buf_free(&r->line);
	buf_free(&r->shown);
	buf_free(&r->field);
	buf_free(&r->held);
	buf_free(&r->first_seq);
	buf_free(&r->first_keys);
	buf_free(&r->invalid);
	buf_free(&r->ooo_note);
	free(r);
}

int
run_connect(struct run *r, int64_t deadline, int *fatal)
{
	struct kc_err err;

	*fatal = 0;
	if (r->redis == NULL)
		return KC_OK;
	redis_deadline(r->redis, deadline);
	if (redis_connect(r->redis, &err) == -1) {
		int retries = redis_retries(r->redis);
		char after[48] = "";

		*fatal = !redis_gave_up(r->redis);
		if (retries > 0)
			snprintf(after, sizeof(after), " (after %d %s)", retries,
			    retries == 1 ? "retry" : "retries");
		/* No batch was tried yet: the message is about the connection alone. */
		if (redis_auth_failed(r->redis))
			run_warnx("redis: authentication failed: %s", err.msg);
		else if (strstr(err.msg, redis_address(r->redis)) != NULL)
			run_warnx("redis: %s%s", err.msg, after);
		else
			run_warnx("redis: %s: %s%s", redis_address(r->redis), err.msg, after);
		worst(r, KC_SINK);
		r->sink_dead = 1;
	}
	redis_deadline(r->redis, 0);
	return r->status;
}

/* The progress meter: on when asked, or when stderr is a terminal and every input a
 * regular file, whose sizes then make the 100%. */
void
run_progress(struct run *r, int nfiles, char *const files[])
{
	struct stat st;
	int regular = 1;

	for (int i = 0; i < nfiles; i++) {
		if (strcmp(files[i], "-") == 0 ? fstat(STDIN_FILENO, &st) == -1 :
		    stat(files[i], &st) == -1 || !S_ISREG(st.st_mode)) {
			regular = 0;
			continue;
		}
		if (S_ISREG(st.st_mode))
			r->total_bytes += (uint64_t)st.st_size;
		else
			regular = 0;
	}
	if (nfiles == 0) {
		if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
			r->total_bytes = (uint64_t)st.st_size;
		else
			regular = 0;
	}
	r->sized = regular;
	if (r->o.progress == -1)
		r->o.progress = isatty(STDERR_FILENO) && regular;
}

int
run_stopped(const struct run *r)
{
	return got_signal || r->stopping;
}

int
run_finish(struct run *r)
{
	progress_erase(r);
	if (r->redis != NULL && !r->sink_dead)
		apply_batch(r, 1);	/* the last batch, its dead letters synced first */
	if (!r->quiet_exit && !r->sink_dead && sink_finish(r->sink) == -1)
		sink_failed(r);
	if (r->dl_fd != -1) {
		/* With Redis, the dead letters of keys the last batch refused. */
		int bad = r->redis != NULL && r->dl_dirty && !r->dl_failed && r->dl_regular &&
		    fsync(r->dl_fd) == -1;
		bad |= close(r->dl_fd) == -1;
		r->dl_fd = -1;
		if (bad && !r->dl_failed)
			dead_letter_lost(r, errno);
	}
	time_field_note(r);
	summary(r);
	print_stats(r);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		run_warnx("stdout: %s", strerror(errno));
		worst(r, KC_IO);
	}
	return got_signal ? 128 + got_signal : r->status;
}
