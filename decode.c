/* Bytes -> Kinesis records -> events.  One streaming YAJL parser reads the input documents
 * (Lambda events, get-records pages, Firehose events, or plain JSON payloads) and a second
 * one reads each record's decoded data.  Both walk the same kind of path trie (match.c): the
 * envelope trie names the fields of a Kinesis record, the payload trie the fields the key
 * templates use.  Values are copied out as they pass; no document tree is ever built, and in
 * steady state nothing is allocated per record.
 *
 * The input buffer always holds the current document from its first byte, so that a broken
 * document or record can be handed to the dead-letter output as it came; it is compacted
 * between reads, never while a parser holds pointers into it. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl_parse.h>

#include "decode.h"
#include "gunzip.h"
#include "kpl.h"

#define MAX_DEPTH	1000		/* deeper documents are rejected */
#define MIN_READ	(64 * 1024)
#define FIRST_READ	(256 * 1024)
#define DOC_CAP_MIN	((size_t)256 << 20)	/* an envelope document may hold this much, or
						 * twice --max-record-bytes if more */
#define LINE_SLACK	4096		/* blanks around a base64 line */

/* What an envelope trie node stands for. */
enum tag {
	T_NONE, T_ARRAY_RECORDS, T_ARRAY_FIREHOSE, T_RECORD, T_DATA, T_SEQ, T_SUBSEQ, T_PK,
	T_ARRIVAL, T_EVENTID, T_ARN, T_REGION, T_SHARD, T_RECID, T_DOC_ARN, T_DOC_REGION,
	T_DOC_MARK,	/* a member only an envelope has: NextShardIterator, invocationId... */
	T_NTAGS
};

/* A node's mark is its tag, the format whose path it is (enum kc_format), and what it says
 * of a record's shape (SHAPE_*): the same field means different things in different
 * envelopes (the unit of an arrival time, which fields make a record). */
#define TAG(m)		((m) & 0xff)
#define TAG_FMT(m)	(((m) >> 8) & 0xff)
#define TAG_SHAPE(m)	((unsigned)(m) >> 16)

/* What an envelope record holds, for recognising an envelope by its records' shape. */
#define SHAPE_LAMBDA	0x01		/* a kinesis object holding data */
#define SHAPE_GR_DATA	0x02		/* Data */
#define SHAPE_GR_SEQ	0x04		/* SequenceNumber */
#define SHAPE_FH_DATA	0x08		/* data */
#define SHAPE_FH_ID	0x10		/* recordId */

static int
shape_is_record(unsigned s)
{
	return (s & SHAPE_LAMBDA) || (s & (SHAPE_GR_DATA | SHAPE_GR_SEQ)) ==
	    (SHAPE_GR_DATA | SHAPE_GR_SEQ) || (s & (SHAPE_FH_DATA | SHAPE_FH_ID)) ==
	    (SHAPE_FH_DATA | SHAPE_FH_ID);
}

/* What the value about to be parsed is. */
enum role {
	ROLE_NONE,
	ROLE_TOP,		/* a document: a value at depth 0 */
	ROLE_EVENT,		/* an object that is one event */
	ROLE_EVENTS,		/* a top-level array whose elements are events */
	ROLE_ELEM,		/* an element of such an array */
	ROLE_RECORD		/* an element of an envelope's record array */
};

struct level {
	const struct mnode	*env, *pay;	/* this container's trie nodes, or NULL */
	const struct mnode	*kenv, *kpay;	/* nodes for the value after the last name */
	long			 idx;		/* next element index */
	size_t			 start;		/* offset of the opening bracket */
	unsigned char		 array;
	unsigned char		 role;
};

/* One YAJL parse: the input stream, or a record's payload. */
struct jp {
	yajl_handle		 h;
	struct decoder		*d;
	int			 stream;	/* 1: input documents; 0: a record's payload */
	const struct buf	*text;		/* what is being parsed */
	size_t			 off0;		/* offset in text of the chunk given to YAJL */
	int			 depth;
	int			 too_deep;
	int			 values;	/* payload: top-level values seen */
	int			 failed;	/* payload or json record: not an object */
	int			 doc_env;	/* stream: this document is an envelope */
	jmp_buf			*oom_jmp;	/* set while YAJL parses: see ya_malloc */
	yajl_alloc_funcs	 af;
	const yajl_callbacks	*cbs;
	struct level		 lv[MAX_DEPTH + 1];
};

/* A captured value: where it lies in the parsed text (direct), or in the arena. */
struct slotval {
	const char	*direct;
	size_t		 off, n;
	int		 type;
};

enum data_state { DATA_NONE, DATA_OK, DATA_TYPE, DATA_BASE64, DATA_LARGE };

/* The envelope record being read. */
struct rec {
	struct buf	 seq, subseq, pk, eventid, arn, region, shard, recid;
	struct buf	 rawdata;	/* the data string, kept only when it is rejected */
	int		 data;		/* enum data_state */
	int		 has_time;
	int64_t		 time;
	size_t		 start;
	unsigned	 shape;		/* SHAPE_* */
};

/* The CloudWatch Logs parser's state (see cw_value). */
struct cwl {
	int		 pass;		/* 1: the message's members; 2: its log events */
	int		 depth;		/* containers open */
	int		 key;		/* enum cw_key of the member whose value comes next */
	int		 not_cwl;	/* pass 1: the message is not an object */
	int		 events_array;	/* pass 1: logEvents is an array */
	const char	*why;		/* pass 1: a member of the wrong type */
	int		 in_events;	/* pass 2: inside logEvents */
	int		 in_event;	/* pass 2: inside a log event object */
	int		 bad_elem;	/* pass 2: inside a log event that is an array */
	int		 ev_has_msg, ev_has_time, ev_has_id;
	const char	*ev_why;	/* the log event's member of the wrong type */
	int64_t		 ev_time;
	size_t		 ev_start;
};

struct decoder {
	struct decode_opts	 o;
	struct decode_cb	 cb;
	void			*arg;
	const struct matcher	*pm;		/* payload paths */
	struct matcher		*em;		/* envelope paths */
	const char		*env_kind;	/* "Lambda event" ... for messages */
	const char		*env_array;	/* "Records" or "records" */

	const char		*name;
	struct buf		 in;		/* input; the current document from its start */
	size_t			 pos;		/* parsed up to here */
	size_t			 doc_start;	/* end of the last document: keep from here */
	size_t			 item;		/* start of the record/document being reported */
	size_t			 line_pos;	/* in[line_pos] starts line number line */
	long			 line;
	int			 lines_mode;	/* base64 lines rather than JSON documents */
	int			 sniffed;
	int			 stop;
	int			 oom;		/* memory ran out: decode_feed returns -1 */
	int64_t			 now;
	size_t			 doc_cap;	/* the most an input document may hold */
	size_t			 line_cap;	/* the most a base64 line may hold */
	int			 line_skip;	/* dropping the rest of an over-long line */

	/* After a broken document: looking for the line where the next one starts. */
	int			 resync;	/* RESYNC_* */
	size_t			 scan;		/* look for a line start from here */
	int			 broken_env;	/* the broken document was an envelope */
	enum kc_reason		 broken_why;
	struct buf		 broken_msg;

	/* -f auto: is the document an envelope?  Its records array says so by the shape of
	 * its elements. */
	int			 env_undecided;	/* a records array is open, no element decided */
	int			 env_skipped;	/* elements of it that had no record's shape */
	int			 env_seen;	/* the document has a records array */
	int			 env_mark;	/* and a member only an envelope has */
	int			 force_env;	/* the document is being read again, as an envelope */
	int			 restart;	/* read the current document again from its start */

	struct jp		*top, *pay;

	/* Unpacking a record's data (see record_events). */
	struct kpl		*kpl;
	struct gunzip		*gz;
	struct jp		*cwp;		/* the CloudWatch Logs parser */
	struct cwl		 cw;
	struct buf		 sub;		/* a user record's data */
	struct buf		 unz;		/* inflated data */
	struct buf		 cw_msg, cw_type, cw_group, cw_stream, cw_id;
	char			 subseq[24];
	int			 part;		/* the next item's part number */
	int			 rec_open;	/* stopped while reading a record's parts */
	int			 rec_has_time;	/* the record's own time, for each item */
	int64_t			 rec_time;
	struct kc_err		 uerr;
	struct decode_stats	 st;
	int			 nslots;
	struct slotval		*vals;
	struct slot		*slots;
	struct buf		 arena;		/* captured values of the current event */
	struct buf		 payload;	/* decoded record data, plus a newline */
	struct buf		 scratch;	/* messages and re-encoded data */
	struct rec		 rec;
	size_t			 rec_end;	/* end of the envelope record being reported */
	int			 cur_env;	/* the current record is an envelope record */
	int			 record_open;	/* record_begin called, record_end not yet */
	struct text		 cur_raw;	/* else its data as it came */
	struct buf		 doc_arn, doc_region;
	struct recmeta		 meta;
};

enum { RESYNC_NONE, RESYNC_KEEP, RESYNC_DROP };

static int	jp_reset(struct jp *);
static void	record_events(struct decoder *);
static yajl_status jp_parse(struct jp *, const unsigned char *, size_t);
static struct text record_data(struct decoder *, size_t);

/* Memory ran out: parsing stops, and decode_feed returns -1. */
static void
nomem(struct decoder *d)
{
	d->oom = d->stop = 1;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- base64 ---------------------------------------------------------------------------- */

/* b64val: the 6-bit value of each character, 0xff outside the alphabet.  b64q[k]: the same
 * value already shifted into place for position k of a quad, with the top byte set outside
 * the alphabet, so a quad is decoded and checked with four loads and one test. */
static unsigned char b64val[256];
static uint32_t b64q[4][256];

static void
b64_init(void)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	memset(b64val, 0xff, sizeof(b64val));
	for (int k = 0; k < 4; k++)
		for (int c = 0; c < 256; c++)
			b64q[k][c] = 0xff000000u;
	for (int i = 0; i < 64; i++) {
		unsigned char c = (unsigned char)tab[i];
		b64val[c] = (unsigned char)i;
		b64q[0][c] = (uint32_t)i << 18;
		b64q[1][c] = (uint32_t)i << 12;
		b64q[2][c] = (uint32_t)i << 6;
		b64q[3][c] = (uint32_t)i;
	}
}

/* Strict RFC 4648 decoding in one pass: standard alphabet, length a multiple of 4, one or two
 * '=' only at the end, unused bits zero (so re-encoding gives back the same text).  out has
 * room for n / 4 * 3 + 2 bytes (whole words are stored).  Returns the decoded length, or
 * -1. */
static long
b64_decode(const char *s, size_t n, unsigned char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char *o = out;
	size_t full, i;
	unsigned a, b, c;

	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	full = p[n - 1] == '=' ? n - 4 : n;
	for (i = 0; i + 8 <= full; i += 8) {
		uint32_t x = b64q[0][p[i]] | b64q[1][p[i + 1]] | b64q[2][p[i + 2]] |
		    b64q[3][p[i + 3]];
		uint32_t y = b64q[0][p[i + 4]] | b64q[1][p[i + 5]] | b64q[2][p[i + 6]] |
		    b64q[3][p[i + 7]];
		uint64_t w;
		if ((x | y) & 0xff000000u)
			return -1;
		/* Two quads, six bytes, in one 8-byte store (out has room: see decode_data). */
		w = __builtin_bswap64((uint64_t)x << 40 | (uint64_t)y << 16);
		memcpy(o, &w, 8);
		o += 6;
	}
	for (; i < full; i += 4) {
		uint32_t x = b64q[0][p[i]] | b64q[1][p[i + 1]] | b64q[2][p[i + 2]] |
		    b64q[3][p[i + 3]];
		if (x & 0xff000000u)
			return -1;
		/* One 4-byte store, the last byte overwritten next time round (out has a
		 * spare byte at the end). */
		x = __builtin_bswap32(x << 8);
		memcpy(o, &x, 4);
		o += 3;
	}
	if (full == n)
		return o - out;
	a = b64val[p[i]];
	b = b64val[p[i + 1]];
	if ((a | b) & 0xc0)
		return -1;
	*o++ = (unsigned char)(a << 2 | b >> 4);
	if (p[i + 2] == '=') {
		if ((b & 15) != 0)
			return -1;
	} else {
		c = b64val[p[i + 2]];
		if ((c & 0xc0) || (c & 3) != 0)
			return -1;
		*o++ = (unsigned char)(b << 4 | c >> 2);
	}
	return o - out;
}

/* Decode record data into d->payload, with room after it for the newline parse_events
 * puts there.  Returns enum data_state. */
static int
decode_data(struct decoder *d, const char *s, size_t n)
{
	long len;

	if (n / 4 * 3 > d->o.max_record + 2)
		return DATA_LARGE;
	d->payload.len = 0;
	/* Room for the stores of whole words past the end, and the final newline. */
	if (buf_reserve(&d->payload, n / 4 * 3 + 8) == -1) {
		nomem(d);
		return DATA_LARGE;
	}
	if ((len = b64_decode(s, n, (unsigned char *)d->payload.p)) < 0)
		return DATA_BASE64;
	if ((size_t)len > d->o.max_record)
		return DATA_LARGE;
	d->payload.len = (size_t)len;
	return DATA_OK;
}

/* ---- lines and offsets ----------------------------------------------------------------- */

static size_t
count_nl(const char *p, size_t n)
{
	const char *e = p + n;
	size_t c = 0;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

static long
line_at(struct decoder *d, size_t off)
{
	if (off > d->in.len)
		off = d->in.len;
	if (off >= d->line_pos)
		d->line += (long)count_nl(d->in.p + d->line_pos, off - d->line_pos);
	else
		d->line -= (long)count_nl(d->in.p + off, d->line_pos - off);
	d->line_pos = off;
	return d->line;
}

struct text
decode_record_data(struct decoder *d)
{
	return d->cur_env ? record_data(d, d->rec_end) : d->cur_raw;
}

long
decode_line(struct decoder *d)
{
	size_t off = d->item;

	/* A document starts at its first non-blank byte. */
	while (off < d->in.len && is_blank(d->in.p[off]))
		off++;
	return line_at(d, off);
}

/* The offset in the parsed text just past the current token.  yajl_complete_parse feeds
 * YAJL a byte of its own, hence the clamp. */
static size_t
jp_off(const struct jp *jp)
{
	size_t off = jp->off0 + yajl_get_bytes_consumed(jp->h);

	return off > jp->text->len ? jp->text->len : off;
}

static struct text
trimmed(const struct buf *b, size_t from, size_t to)
{
	struct text t;

	while (from < to && is_blank(b->p[from]))
		from++;
	while (to > from && is_blank(b->p[to - 1]))
		to--;
	t.p = b->p + from;
	t.n = to - from;
	return t;
}

/* ---- record metadata ------------------------------------------------------------------- */

static struct text
text_of(const struct buf *b)
{
	struct text t = { b->p, b->len };
	return t;
}

static struct text
text_str(const char *s)
{
	struct text t = { s, s ? strlen(s) : 0 };
	return t;
}

/* The stream name and region inside a stream ARN:
 * arn:aws:kinesis:REGION:ACCOUNT:stream/NAME. */
static void
arn_parts(const struct buf *arn, struct text *stream, struct text *region)
{
	const char *p, *e, *q;
	int field = 0;

	stream->n = region->n = 0;
	if (arn->len == 0)
		return;
	p = arn->p;
	e = arn->p + arn->len;
	for (q = p; q < e; q++) {
		if (*q != ':')
			continue;
		if (++field == 3) {
			region->p = q + 1;
			const char *r = memchr(q + 1, ':', (size_t)(e - q - 1));
			region->n = r ? (size_t)(r - q - 1) : 0;
		}
		if (field == 5 && (size_t)(e - q) > 8 && memcmp(q + 1, "stream/", 7) == 0) {
			stream->p = q + 8;
			stream->n = (size_t)(e - q - 8);
			break;
		}
	}
}

static void
meta_clear(struct decoder *d)
{
	memset(&d->meta, 0, sizeof(d->meta));
	d->meta.stream = text_str(d->o.stream);
	d->meta.shard = text_str(d->o.shard);
	d->meta.read_time = d->now;
}

static void
meta_from_rec(struct decoder *d)
{
	struct rec *r = &d->rec;
	struct recmeta *m = &d->meta;
	struct text stream, region;

	meta_clear(d);
	m->seq = text_of(&r->seq);
	m->subseq = text_of(&r->subseq);
	m->pk = text_of(&r->pk);
	m->record_id = text_of(&r->recid);
	if (r->shard.len > 0) {
		m->shard = text_of(&r->shard);
	} else if (r->eventid.len > 0) {
		const char *c = memchr(r->eventid.p, ':', r->eventid.len);
		m->shard.p = r->eventid.p;
		m->shard.n = c ? (size_t)(c - r->eventid.p) : r->eventid.len;
	}
	arn_parts(r->arn.len > 0 ? &r->arn : &d->doc_arn, &stream, &region);
	if (stream.n > 0)
		m->stream = stream;
	if (r->region.len > 0)
		m->region = text_of(&r->region);
	else if (d->doc_region.len > 0)
		m->region = text_of(&d->doc_region);
	else
		m->region = region;
	m->has_time = r->has_time;
	m->time = r->time;
}

static void
rec_clear(struct rec *r, size_t start)
{
	r->seq.len = r->subseq.len = r->pk.len = r->eventid.len = 0;
	r->arn.len = r->region.len = r->shard.len = r->recid.len = r->rawdata.len = 0;
	r->data = DATA_NONE;
	r->has_time = 0;
	r->start = start;
	r->shape = 0;
}

/* ---- reporting ------------------------------------------------------------------------- */

static void
record_begin(struct decoder *d)
{
	d->record_open = 1;
	d->cb.record_begin(d->arg, &d->meta);
}

static void
record_end(struct decoder *d, const struct reject *r)
{
	d->record_open = 0;
	d->cb.record_end(d->arg, &d->meta, r);
}

static void
reject_record(struct decoder *d, enum kc_reason why, const char *msg, struct text data)
{
	struct reject r = { why, msg, data };

	record_end(d, &r);
}

static void
doc_end(struct decoder *d, const struct reject *r, int envelope)
{
	d->cb.doc_end(d->arg, r, envelope);
}

/* ---- events ---------------------------------------------------------------------------- */

static void
event_begin(struct decoder *d)
{
	for (int i = 0; i < d->nslots; i++)
		d->vals[i].type = SLOT_MISSING;
	d->arena.len = 0;
}

/* YAJL turns a lone high surrogate escape into '?', a lone low one into the three bytes of
 * the surrogate itself, and a high one followed by any \u escape into one character of
 * four bytes, so a string it unescaped that holds any of those is looked at again as it
 * was written: the token ends just before offset end of the parsed text. */
static int
bad_escape(const struct jp *jp, const char *p, size_t n)
{
	const char *t = jp->text->p;
	size_t end = jp_off(jp), i, start;
	unsigned prev_high = 0;

	for (i = 0; i < n; i++)
		if (p[i] == '?' || (unsigned char)p[i] == 0xed || (unsigned char)p[i] >= 0xf0)
			break;
	if (i == n)
		return 0;
	if (end < 2 || t[end - 1] != '"')
		return 0;
	/* The opening quote: the first one before the closing quote that is not escaped. */
	for (i = end - 1; i-- > 0;) {
		size_t k = i;
		if (t[i] != '"')
			continue;
		while (k > 0 && t[k - 1] == '\\')
			k--;
		if ((i - k) % 2 == 0)
			break;
	}
	if (i == (size_t)-1)
		return 0;
	start = i + 1;
	for (i = start; i + 1 < end - 1; i++) {
		unsigned cp = 0;
		if (t[i] != '\\')
			continue;
		if (t[i + 1] != 'u' || i + 6 > end - 1) {
			i++;
			continue;
		}
		for (size_t j = i + 2; j < i + 6; j++) {
			unsigned c = (unsigned char)t[j];
			cp = cp << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		i += 5;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			if (!prev_high)
				return 1;
			prev_high = 0;
		} else if (prev_high) {
			return 1;
		} else if (cp >= 0xd800 && cp <= 0xdbff) {
			/* Only an escaped low surrogate right after it completes the pair. */
			if (i + 2 >= end - 1 || t[i + 1] != '\\' || t[i + 2] != 'u')
				return 1;
			prev_high = 1;
		}
	}
	return prev_high;
}

/* A value that does not lie in the parsed text is copied to the arena. */
static __attribute__((noinline)) int
capture_copy(struct jp *jp, struct slotval *v, const char *p, size_t n)
{
	struct decoder *d = jp->d;

	if (v->type == SLOT_STRING && bad_escape(jp, p, n))
		v->type = SLOT_BADUTF8;
	v->direct = NULL;
	v->off = d->arena.len;
	if (buf_add(&d->arena, p, n) == -1) {
		nomem(d);
		return -1;
	}
	return 0;
}

/* Keep a value for the event.  A string YAJL hands out in place (no escapes, not split
 * between reads) stays where it is; others live only during the callback and are copied. */
static int
capture(struct jp *jp, int slot, int type, const char *p, size_t n)
{
	struct decoder *d = jp->d;
	struct slotval *v = &d->vals[slot];
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)jp->text->p;

	v->n = n;
	v->type = type;
	if (a >= lo && a + n <= lo + jp->text->len) {
		v->direct = p;
		return 0;
	}
	return capture_copy(jp, v, p, n);
}

/* The input buffer may move before the next read: copy what the open event still points
 * to. */
static int
pin_slots(struct decoder *d)
{
	for (int i = 0; i < d->nslots; i++) {
		struct slotval *v = &d->vals[i];
		if (v->direct != NULL && v->type != SLOT_MISSING) {
			v->off = d->arena.len;
			if (buf_add(&d->arena, v->direct, v->n) == -1)
				return -1;
			v->direct = NULL;
		}
	}
	return 0;
}

static void
event_emit(struct decoder *d, const struct buf *text, size_t from, size_t to)
{
	struct event ev;

	for (int i = 0; i < d->nslots; i++) {
		d->slots[i].p = d->vals[i].direct ? d->vals[i].direct :
		    d->arena.p ? d->arena.p + d->vals[i].off : "";
		d->slots[i].n = d->vals[i].n;
		d->slots[i].type = d->vals[i].type;
	}
	ev.slots = d->slots;
	ev.meta = &d->meta;
	ev.raw.p = text->p + from;
	ev.raw.n = to - from;
	d->cb.event(d->arg, &ev);
}

/* ---- payloads -------------------------------------------------------------------------- */

/* Parse b as the events of the current record (a newline is written after its bytes, where
 * it has room for one).  Returns 0 when it was read whole, else the reason to reject the
 * record (*msg set). */
static int
parse_events(struct decoder *d, struct buf *b, const char **msg)
{
	struct jp *jp = d->pay;
	yajl_status st;

	jp->values = jp->failed = jp->too_deep = 0;
	jp->text = b;
	jp->off0 = 0;
	b->p[b->len] = '\n';
	st = jp_parse(jp, (const unsigned char *)b->p, b->len + 1);
	if (d->oom) {
		/* The run stops (decode_feed returns -1); the record is kept as a dead letter. */
		jp_reset(jp);
		*msg = "record too large (out of memory)";
		return R_TOO_LARGE;
	}
	if (d->stop)
		return 0;
	if (st == yajl_status_ok && jp->depth == 0 && !jp->failed && jp->values > 0)
		return 0;
	if (st != yajl_status_ok || jp->depth != 0)
		jp_reset(jp);
	if (jp->too_deep) {
		*msg = "too deeply nested";
		return R_DEPTH;
	}
	*msg = "payload is not a JSON object";
	return R_NOT_OBJECT;
}

/* The data of an envelope record, as it came, for a rejection. */
static struct text
record_data(struct decoder *d, size_t end)
{
	struct rec *r = &d->rec;

	switch (r->data) {
	case DATA_OK:
		d->scratch.len = 0;
		if (buf_add_base64(&d->scratch, d->payload.p, d->payload.len) == 0)
			return text_of(&d->scratch);
		break;
	case DATA_BASE64:
	case DATA_LARGE:
		return text_of(&r->rawdata);
	default:
		break;
	}
	return trimmed(&d->in, r->start, end);
}

static void
record_finish(struct decoder *d, size_t end)
{
	struct rec *r = &d->rec;

	meta_from_rec(d);
	d->item = r->start;
	d->cur_env = 1;
	d->rec_end = end;
	if (r->data == DATA_OK) {
		record_events(d);
		return;
	}
	record_begin(d);
	if (d->stop)
		return;
	switch (r->data) {
	case DATA_NONE:
		reject_record(d, R_RECORD, "record has no data", record_data(d, end));
		break;
	case DATA_TYPE:
		reject_record(d, R_RECORD, "data is not a string", record_data(d, end));
		break;
	case DATA_BASE64:
		reject_record(d, R_BASE64, "invalid base64", record_data(d, end));
		break;
	default:
		reject_record(d, R_TOO_LARGE, "record too large", record_data(d, end));
		break;
	}
}

/* ---- the YAJL callbacks ------------------------------------------------------------------ */

/* The META_* bits an envelope field serves; 0: always kept. */
static const unsigned tag_meta[T_NTAGS] = {
	[T_PK] = META_PK, [T_EVENTID] = META_SHARD, [T_SHARD] = META_SHARD,
	[T_ARN] = META_STREAM | META_REGION, [T_DOC_ARN] = META_STREAM | META_REGION,
	[T_REGION] = META_REGION, [T_DOC_REGION] = META_REGION, [T_SUBSEQ] = META_SUBSEQ,
	[T_RECID] = META_RECID,
};

/* What a field of an envelope path says of a record's shape (for -f auto). */
static unsigned
path_shape(int fmt, int tag)
{
	switch (tag) {
	case T_DATA:
		return fmt == FMT_LAMBDA ? SHAPE_LAMBDA : fmt == FMT_GET_RECORDS ?
		    SHAPE_GR_DATA : SHAPE_FH_DATA;
	case T_SEQ:
		return fmt == FMT_GET_RECORDS ? SHAPE_GR_SEQ : 0;
	case T_RECID:
		return SHAPE_FH_ID;
	default:
		return 0;
	}
}

static void
env_value(struct decoder *d, int mark, int type, const char *p, size_t n)
{
	struct rec *r = &d->rec;
	struct buf *dst = NULL;
	int tag = TAG(mark);

	r->shape |= TAG_SHAPE(mark);
	if (tag == T_DOC_MARK) {
		d->env_mark = 1;
		return;
	}
	if (tag_meta[tag] != 0 && (tag_meta[tag] & d->o.meta) == 0)
		return;

	switch (tag) {
	case T_DATA:
		if (type != SLOT_STRING) {
			r->data = DATA_TYPE;
			return;
		}
		r->data = decode_data(d, p, n);
		if (r->data != DATA_OK) {
			r->rawdata.len = 0;
			if (n <= d->o.max_record * 2 && buf_add(&r->rawdata, p, n) == -1)
				nomem(d);
		}
		return;
	case T_ARRIVAL:
		if (type == SLOT_STRING)
			r->has_time = kc_time_parse(p, n, 1, d->o.local_time, &r->time) == 0;
		else if (type == SLOT_NUMBER)
			/* Each envelope's own unit, never guessed from the size. */
			r->has_time = kc_epoch_parse(p, n, TAG_FMT(mark) == FMT_FIREHOSE ? 1000 : 1,
			    &r->time) == 0;
		return;
	case T_SEQ:		dst = &r->seq; break;
	case T_SUBSEQ:		dst = &r->subseq; break;
	case T_PK:		dst = &r->pk; break;
	case T_EVENTID:		dst = &r->eventid; break;
	case T_ARN:		dst = &r->arn; break;
	case T_REGION:		dst = &r->region; break;
	case T_SHARD:		dst = &r->shard; break;
	case T_RECID:		dst = &r->recid; break;
	case T_DOC_ARN:		dst = &d->doc_arn; break;
	case T_DOC_REGION:	dst = &d->doc_region; break;
	default:
		return;
	}
	if (type != SLOT_STRING && type != SLOT_NUMBER)
		return;
	dst->len = 0;
	if (buf_add(dst, p, n) == -1)
		nomem(d);
}

/* The trie nodes and role of the value that is starting. */
static inline __attribute__((always_inline)) void
value_ctx(struct jp *jp, const struct mnode **env, const struct mnode **pay, int *role)
{
	struct decoder *d = jp->d;
	struct level *l = &jp->lv[jp->depth];

	*role = ROLE_NONE;
	if (jp->depth == 0) {
		*env = jp->stream && d->em ? match_root(d->em) : NULL;
		*pay = jp->stream && d->em && d->o.format != FMT_AUTO ? NULL : match_root(d->pm);
		*role = ROLE_TOP;
		return;
	}
	if (l->array) {
		long i = l->idx++;
		*env = l->env ? mnode_index(l->env, i) : NULL;
		if (l->role == ROLE_EVENTS) {
			*pay = match_root(d->pm);
			*role = ROLE_ELEM;
			return;
		}
		*pay = l->pay ? mnode_index(l->pay, i) : NULL;
	} else {
		*env = l->kenv;
		*pay = l->kpay;
	}
	if (*env != NULL && TAG(mnode_tag(*env)) == T_RECORD)
		*role = ROLE_RECORD;
}

/* Nothing of one document's envelope state carries over to the next: each starts from the
 * command line's --stream and --shard. */
static void
doc_state_clear(struct decoder *d)
{
	d->top->doc_env = 0;
	d->doc_arn.len = d->doc_region.len = 0;
	d->env_undecided = d->env_skipped = d->env_seen = d->env_mark = d->force_env = 0;
}

/* The document's records array holds envelope records: its own members are not an
 * event. */
static void
env_decided(struct jp *jp)
{
	jp->doc_env = 1;
	jp->d->env_undecided = 0;
	jp->lv[1].role = ROLE_NONE;
	jp->lv[1].pay = jp->lv[2].pay = NULL;
}

/* A document of the input stream has ended. */
static void
stream_doc_end(struct jp *jp, size_t end)
{
	struct decoder *d = jp->d;

	d->item = d->doc_start;
	if (jp->doc_env || !d->em || d->o.format == FMT_AUTO) {
		doc_end(d, NULL, jp->doc_env);
	} else {
		struct reject r = { R_ENVELOPE, NULL, trimmed(&d->in, d->doc_start, end) };
		d->scratch.len = 0;
		buf_add(&d->scratch, "not a ", 6);
		buf_add(&d->scratch, d->env_kind, strlen(d->env_kind));
		buf_add(&d->scratch, ": no ", 5);
		buf_add(&d->scratch, d->env_array, strlen(d->env_array));
		buf_add(&d->scratch, " array", 6);
		buf_addc(&d->scratch, '\0');
		r.msg = d->scratch.p;
		doc_end(d, &r, 0);
	}
	d->doc_start = end;
	doc_state_clear(d);
}

/* An element of an envelope's record array that is not an object: a record, rejected. */
static void
record_not_object(struct decoder *d, size_t start, struct text raw)
{
	rec_clear(&d->rec, start);
	meta_clear(d);
	d->item = start;
	d->cur_env = 0;
	d->cur_raw = raw;
	record_begin(d);
	if (!d->stop)
		reject_record(d, R_RECORD, "record is not an object", raw);
}

/* The start of a json-format record: a whole input document that is not an envelope. */
static void
json_record_begin(struct jp *jp)
{
	struct decoder *d = jp->d;

	meta_clear(d);
	d->item = d->doc_start;
	d->cur_env = 0;
	d->cur_raw = trimmed(&d->in, d->doc_start, jp_off(jp));
	record_begin(d);
}

static inline __attribute__((always_inline)) int
on_scalar(struct jp *jp, int type, const char *p, size_t n)
{
	struct decoder *d = jp->d;
	const struct mnode *env, *pay;
	int role, slot, mark;

	/* Most values are members no path asks for: nothing to do. */
	if (jp->depth > 0 && !jp->lv[jp->depth].array && jp->lv[jp->depth].kenv == NULL &&
	    jp->lv[jp->depth].kpay == NULL)
		return !d->stop;
	value_ctx(jp, &env, &pay, &role);
	switch (role) {
	case ROLE_TOP:
		if (!jp->stream) {
			jp->values++;
			jp->failed = 1;
			break;
		}
		if (pay != NULL) {
			size_t end = jp_off(jp);
			json_record_begin(jp);
			if (!d->stop)
				reject_record(d, R_NOT_OBJECT, "payload is not a JSON object",
				    trimmed(&d->in, d->doc_start, end));
		}
		stream_doc_end(jp, jp_off(jp));
		return !d->stop;
	case ROLE_ELEM:
		jp->failed = 1;
		break;
	case ROLE_RECORD:
		if (!jp->doc_env)
			d->env_skipped++;	/* -f auto: no record's shape */
		else
			record_not_object(d, jp_off(jp), (struct text){ p, n });
		return !d->stop;
	default:
		break;
	}
	if (pay != NULL && (slot = mnode_slot(pay)) >= 0 && capture(jp, slot, type, p, n) == -1)
		return 0;
	if (env != NULL && (mark = mnode_tag(env)) != T_NONE)
		env_value(d, mark, type, p, n);
	return !d->stop;
}

static int
cb_null(void *ctx)
{
	return on_scalar(ctx, SLOT_NULL, "", 0);
}

static int
cb_boolean(void *ctx, int v)
{
	return on_scalar(ctx, SLOT_BOOL, v ? "true" : "false", v ? 4 : 5);
}

static int
cb_number(void *ctx, const char *s, size_t n)
{
	return on_scalar(ctx, SLOT_NUMBER, s, n);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t n)
{
	return on_scalar(ctx, SLOT_STRING, (const char *)s, n);
}

static inline __attribute__((always_inline)) int
on_open(struct jp *jp, int array)
{
	struct decoder *d = jp->d;
	const struct mnode *env, *pay;
	struct level *l;
	int role, slot, mark;

	value_ctx(jp, &env, &pay, &role);
	if (jp->depth == MAX_DEPTH) {
		jp->too_deep = 1;
		return 0;
	}
	l = &jp->lv[++jp->depth];
	l->env = env;
	l->pay = pay;
	l->kenv = l->kpay = NULL;
	l->idx = 0;
	l->array = (unsigned char)array;
	l->start = 0;
	l->role = ROLE_NONE;
	switch (role) {
	case ROLE_TOP:
		if (!jp->stream)
			jp->values++;
		if (pay == NULL)
			break;
		if (!array) {
			l->role = ROLE_EVENT;
			event_begin(d);
		} else {
			l->role = ROLE_EVENTS;
			if (jp->stream) {
				jp->failed = 0;
				json_record_begin(jp);
			}
		}
		break;
	case ROLE_ELEM:
		if (array) {
			jp->failed = 1;
		} else {
			l->role = ROLE_EVENT;
			event_begin(d);
		}
		break;
	case ROLE_RECORD:
		l->role = ROLE_RECORD;
		rec_clear(&d->rec, jp_off(jp) - 1);
		break;
	default:
		break;
	}
	if (l->role != ROLE_NONE)
		l->start = jp_off(jp) - 1;
	if (pay != NULL && (slot = mnode_slot(pay)) >= 0 &&
	    capture(jp, slot, array ? SLOT_ARRAY : SLOT_OBJECT, "", 0) == -1)
		return 0;
	if (env != NULL && (mark = mnode_tag(env)) != T_NONE) {
		int tag = TAG(mark);
		if (tag == T_ARRAY_RECORDS || tag == T_ARRAY_FIREHOSE) {
			/* With -f auto, a records array makes an envelope only when its
			 * elements have a record's shape (on_close decides). */
			if (array && jp->depth == 2 && !jp->doc_env) {
				if (d->o.format != FMT_AUTO || d->force_env) {
					env_decided(jp);
				} else {
					d->env_undecided = d->env_seen = 1;
					d->env_skipped = 0;
				}
			}
		} else if (tag == T_DATA) {
			d->rec.data = DATA_TYPE;
			d->rec.shape |= TAG_SHAPE(mark);
		}
	}
	return !d->stop;
}

static int
cb_start_map(void *ctx)
{
	return on_open(ctx, 0);
}

static int
cb_start_array(void *ctx)
{
	return on_open(ctx, 1);
}

static int
cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
	struct jp *jp = ctx;
	struct level *l = &jp->lv[jp->depth];

	l->kenv = l->env ? mnode_key(l->env, (const char *)k, n) : NULL;
	l->kpay = NULL;
	if (l->pay != NULL && (l->kpay = mnode_key(l->pay, (const char *)k, n)) != NULL) {
		/* A repeated member replaces what an earlier one captured (as in jq). */
		int lo, hi;
		mnode_slots(l->kpay, &lo, &hi);
		for (int i = lo; i < hi; i++)
			jp->d->vals[i].type = SLOT_MISSING;
	}
	return 1;
}

static inline __attribute__((always_inline)) int
on_close(struct jp *jp)
{
	struct decoder *d = jp->d;
	struct level *l = &jp->lv[jp->depth];
	int role = l->role;
	size_t end = role != ROLE_NONE || jp->depth == 1 ? jp_off(jp) : 0;

	jp->depth--;
	switch (role) {
	case ROLE_EVENT:
		if (jp->lv[jp->depth].role == ROLE_EVENTS || !jp->stream) {
			/* An element of a json record's array, or a payload event. */
			if (!jp->failed)
				event_emit(d, jp->text, l->start, end);
		} else {
			/* A whole input document that is one event, unless -f auto finds it
			 * is an envelope after all: a records array whose elements have no
			 * record's shape (none, or broken ones) in a document with a member
			 * only an envelope has (an empty get-records page). */
			if (d->env_seen && d->env_mark) {
				if (d->env_skipped > 0) {
					d->restart = 1;
					return 0;
				}
				jp->doc_env = 1;
				break;
			}
			json_record_begin(jp);
			if (d->stop)
				break;
			if (trimmed(&d->in, d->doc_start, end).n > d->o.max_record) {
				reject_record(d, R_TOO_LARGE, "record too large",
				    trimmed(&d->in, d->doc_start, end));
				break;
			}
			event_emit(d, jp->text, l->start, end);
			if (!d->stop)
				record_end(d, NULL);
		}
		break;
	case ROLE_EVENTS:
		if (jp->stream) {
			if (jp->failed)
				reject_record(d, R_NOT_OBJECT, "payload is not a JSON object",
				    trimmed(&d->in, d->doc_start, end));
			else if (trimmed(&d->in, d->doc_start, end).n > d->o.max_record)
				reject_record(d, R_TOO_LARGE, "record too large",
				    trimmed(&d->in, d->doc_start, end));
			else
				record_end(d, NULL);
		}
		break;
	case ROLE_RECORD:
		if (!jp->doc_env) {
			/* -f auto: the first element with a record's shape makes the document
			 * an envelope; when others came before it, they are records too, so
			 * the document is read again from its start, as an envelope. */
			if (l->array || !shape_is_record(d->rec.shape)) {
				d->env_skipped++;
				break;
			}
			if (d->env_skipped > 0) {
				d->restart = 1;
				return 0;
			}
			env_decided(jp);
		}
		if (l->array)
			record_not_object(d, l->start, trimmed(&d->in, l->start, end));
		else
			record_finish(d, end);
		break;
	default:
		/* The records array of a document that is not an envelope has closed. */
		if (jp->depth == 1 && d->env_undecided)
			d->env_undecided = 0;
		break;
	}
	if (jp->depth == 0 && jp->stream && !d->stop)
		stream_doc_end(jp, end);
	return !d->stop;
}

static int
cb_end(void *ctx)
{
	return on_close(ctx);
}

static const yajl_callbacks callbacks = {
	cb_null, cb_boolean, NULL, NULL, cb_number, cb_string,
	cb_start_map, cb_map_key, cb_end, cb_start_array, cb_end
};

/* YAJL does not check what its allocator returns: after a failed allocation it would write
 * through a null pointer.  So its allocations come here, and one that fails while a parse
 * runs jumps back to jp_parse, which gives up that parse (the handle is then thrown away:
 * a failed realloc leaves YAJL's old block in place, so it can still be freed).  The jump
 * crosses only YAJL's frames: YAJL allocates in its own code, never while a callback of
 * ours runs (the payload parse that a callback starts has its own jp_parse). */
static void *
ya_malloc(void *ctx, size_t n)
{
	struct jp *jp = ctx;
	void *p = malloc(n);

	if (p == NULL && jp->oom_jmp != NULL)
		longjmp(*jp->oom_jmp, 1);
	return p;
}

static void *
ya_realloc(void *ctx, void *old, size_t n)
{
	struct jp *jp = ctx;
	void *p = realloc(old, n);

	if (p == NULL && jp->oom_jmp != NULL)
		longjmp(*jp->oom_jmp, 1);
	return p;
}

static void
ya_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

/* yajl_parse, or yajl_complete_parse when p is NULL; memory running out is d->oom. */
static yajl_status
jp_parse(struct jp *jp, const unsigned char *p, size_t n)
{
	jmp_buf env;
	yajl_status st;

	if (setjmp(env) != 0) {
		jp->oom_jmp = NULL;
		nomem(jp->d);
		return yajl_status_error;
	}
	jp->oom_jmp = &env;
	st = p != NULL ? yajl_parse(jp->h, p, n) : yajl_complete_parse(jp->h);
	jp->oom_jmp = NULL;
	return st;
}

static int
jp_reset(struct jp *jp)
{
	if (jp->h != NULL)
		yajl_free(jp->h);
	jp->depth = 0;
	jp->doc_env = 0;
	if ((jp->h = yajl_alloc(jp->cbs, &jp->af, jp)) == NULL)
		return -1;
	yajl_config(jp->h, yajl_allow_multiple_values, 1);
	return 0;
}

static struct jp *
jp_new(struct decoder *d, int stream, const yajl_callbacks *cbs)
{
	struct jp *jp;

	if ((jp = calloc(1, sizeof(*jp))) == NULL)
		return NULL;
	jp->d = d;
	jp->stream = stream;
	jp->cbs = cbs;
	jp->af = (yajl_alloc_funcs){ ya_malloc, ya_realloc, ya_free, jp };
	if (jp_reset(jp) == -1) {
		free(jp);
		return NULL;
	}
	return jp;
}

static void
jp_free(struct jp *jp)
{
	if (jp == NULL)
		return;
	if (jp->h != NULL)
		yajl_free(jp->h);
	free(jp);
}

/* ---- unpacking: KPL aggregates, gzip, CloudWatch Logs -------------------------------------- */

/* One item of the current record begins: to the run, a record (part > 0: of the same
 * Kinesis record).  Returns 0 when the run asked to stop. */
static int
item_begin(struct decoder *d)
{
	d->meta.part = d->part++;
	record_begin(d);
	return !d->stop;
}

/* What a rejection of an item reports: its own bytes, or (raw NULL) the whole record's
 * data as it came. */
static struct text
item_data(struct decoder *d, const struct text *raw)
{
	return raw != NULL ? *raw : decode_record_data(d);
}

static void
item_reject(struct decoder *d, enum kc_reason why, const char *msg, const struct text *raw)
{
	if (item_begin(d))
		reject_record(d, why, msg, item_data(d, raw));
}

/* An item whose bytes are JSON events: b has room for a newline after them. */
static void
item_events(struct decoder *d, struct buf *b, const struct text *raw)
{
	const char *msg;
	int why;

	if (!item_begin(d))
		return;
	if ((why = parse_events(d, b, &msg)) != 0)
		reject_record(d, why, msg, item_data(d, raw));
	else if (!d->stop)
		record_end(d, NULL);
}

/* An item's metadata starts from its record's: a log event of an earlier user record
 * leaves nothing behind. */
static void
item_meta_reset(struct decoder *d)
{
	d->meta.has_time = d->rec_has_time;
	d->meta.time = d->rec_time;
	d->meta.log_group.n = d->meta.log_stream.n = d->meta.log_event_id.n = 0;
}

/* ---- CloudWatch Logs: a gzipped JSON message whose log events are the payloads ---- */

enum cw_key { CW_NONE, CW_TYPE, CW_GROUP, CW_STREAM, CW_EVENTS, CW_ID, CW_TS, CW_MSG };

static int
cw_key_of(int depth, const char *k, size_t n)
{
	static const struct { int depth; const char *name; int key; } keys[] = {
		{ 1, "messageType", CW_TYPE }, { 1, "logGroup", CW_GROUP },
		{ 1, "logStream", CW_STREAM }, { 1, "logEvents", CW_EVENTS },
		{ 3, "id", CW_ID }, { 3, "timestamp", CW_TS }, { 3, "message", CW_MSG },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].depth == depth && strlen(keys[i].name) == n &&
		    memcmp(keys[i].name, k, n) == 0)
			return keys[i].key;
	return CW_NONE;
}

static int
whole_number(const char *p, size_t n)
{
	size_t i = n > 0 && p[0] == '-';

	if (i == n)
		return 0;
	for (; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static void
cw_copy(struct decoder *d, struct buf *b, const char *p, size_t n)
{
	b->len = 0;
	if (buf_add(b, p, n) == -1)
		nomem(d);
}

/* A value at depth 1 (a member of the message) or 3 (a member of a log event); type is a
 * SLOT_* type.  Pass 1 reads the message's members, pass 2 its log events. */
static void
cw_value(struct decoder *d, int type, const char *p, size_t n)
{
	struct cwl *c = &d->cw;
	int depth = c->depth, key = c->key;

	c->key = CW_NONE;
	if (depth == 2 && c->in_events && c->pass == 2) {
		/* An element of logEvents that is not an object: a log event rejected. */
		d->st.log_events++;
		item_meta_reset(d);
		/* Not d->scratch, which a rejection by the run may use. */
		cw_copy(d, &d->cw_msg, p, n);
		struct text raw = text_of(&d->cw_msg);
		item_reject(d, R_LOGS, "log event is not an object", &raw);
		return;
	}
	if (depth == 1 && c->pass == 1) {
		switch (key) {
		case CW_TYPE:
			if (type == SLOT_STRING)
				cw_copy(d, &d->cw_type, p, n);
			break;
		case CW_GROUP:
		case CW_STREAM:
			if (type == SLOT_STRING)
				cw_copy(d, key == CW_GROUP ? &d->cw_group : &d->cw_stream, p, n);
			else if (c->why == NULL)
				c->why = key == CW_GROUP ? "logGroup is not a string" :
				    "logStream is not a string";
			break;
		case CW_EVENTS:
			if (c->why == NULL)
				c->why = "logEvents is not an array";
			break;
		default:
			break;
		}
		return;
	}
	if (depth == 3 && c->in_event && c->pass == 2) {
		switch (key) {
		case CW_ID:
			if (type == SLOT_STRING)
				cw_copy(d, &d->cw_id, p, n);
			else if (c->ev_why == NULL)
				c->ev_why = "log event id is not a string";
			break;
		case CW_TS:
			/* Epoch milliseconds, a whole number as CloudWatch Logs writes it. */
			if (type != SLOT_NUMBER || !whole_number(p, n) ||
			    kc_epoch_parse(p, n, 1000, &c->ev_time) == -1) {
				if (c->ev_why == NULL)
					c->ev_why = "log event timestamp is not a time";
			} else {
				c->ev_has_time = 1;
			}
			break;
		case CW_MSG:
			if (type == SLOT_STRING) {
				cw_copy(d, &d->cw_msg, p, n);
				c->ev_has_msg = 1;
			} else if (c->ev_why == NULL) {
				c->ev_why = "log event message is not a string";
			}
			break;
		default:
			break;
		}
	}
}

/* The log event that just closed: its message is one item's payload. */
static void
cw_event(struct decoder *d, size_t start, size_t end)
{
	struct cwl *c = &d->cw;
	struct text raw;

	d->st.log_events++;
	item_meta_reset(d);
	d->meta.log_group = text_of(&d->cw_group);
	d->meta.log_stream = text_of(&d->cw_stream);
	if (c->ev_has_id)
		d->meta.log_event_id = text_of(&d->cw_id);
	if (c->ev_has_time) {
		d->meta.has_time = 1;
		d->meta.time = c->ev_time;
	}
	if (c->ev_why != NULL || !c->ev_has_msg || !c->ev_has_time) {
		raw = trimmed(&d->unz, start, end);
		item_reject(d, R_LOGS, c->ev_why ? c->ev_why : !c->ev_has_msg ?
		    "log event has no message" : "log event has no timestamp", &raw);
		return;
	}
	raw = text_of(&d->cw_msg);
	if (buf_reserve(&d->cw_msg, 1) == -1) {
		nomem(d);
		return;
	}
	item_events(d, &d->cw_msg, &raw);
}

static int
cw_scalar(struct jp *jp, int type, const char *p, size_t n)
{
	cw_value(jp->d, type, p, n);
	return !jp->d->stop;
}

static int
cw_null(void *ctx)
{
	return cw_scalar(ctx, SLOT_NULL, "", 0);
}

static int
cw_boolean(void *ctx, int v)
{
	return cw_scalar(ctx, SLOT_BOOL, v ? "true" : "false", v ? 4 : 5);
}

static int
cw_number(void *ctx, const char *s, size_t n)
{
	return cw_scalar(ctx, SLOT_NUMBER, s, n);
}

static int
cw_string(void *ctx, const unsigned char *s, size_t n)
{
	return cw_scalar(ctx, SLOT_STRING, (const char *)s, n);
}

static int
cw_open(void *ctx, int array)
{
	struct jp *jp = ctx;
	struct decoder *d = jp->d;
	struct cwl *c = &d->cw;
	int key = c->key;

	if (c->depth == 0 && array)
		c->not_cwl = 1;		/* not an object: not a CloudWatch Logs message */
	if (c->depth == 1 && key == CW_EVENTS && array) {
		c->events_array = 1;
		c->in_events = c->pass == 2;
	} else if (c->depth == 2 && c->in_events) {
		if (array) {
			/* A log event that is not an object: its rejection, at its end. */
			c->ev_start = jp_off(jp) - 1;
			c->bad_elem = 1;
		} else {
			c->in_event = 1;
			c->ev_has_msg = c->ev_has_time = c->ev_has_id = 0;
			c->ev_why = NULL;
			c->ev_start = jp_off(jp) - 1;
		}
	} else if (key != CW_NONE) {
		/* A member that should be a scalar holds an object or array. */
		cw_value(d, array ? SLOT_ARRAY : SLOT_OBJECT, "", 0);
	}
	c->key = CW_NONE;
	if (++c->depth > MAX_DEPTH) {
		jp->too_deep = 1;
		return 0;
	}
	return 1;
}

static int
cw_start_map(void *ctx)
{
	return cw_open(ctx, 0);
}

static int
cw_start_array(void *ctx)
{
	return cw_open(ctx, 1);
}

static int
cw_map_key(void *ctx, const unsigned char *k, size_t n)
{
	struct jp *jp = ctx;
	struct cwl *c = &jp->d->cw;

	c->key = c->depth == 1 || (c->depth == 3 && c->in_event) ?
	    cw_key_of(c->depth, (const char *)k, n) : CW_NONE;
	if (c->key == CW_ID)
		c->ev_has_id = 1;
	return 1;
}

static int
cw_end(void *ctx)
{
	struct jp *jp = ctx;
	struct decoder *d = jp->d;
	struct cwl *c = &d->cw;

	c->depth--;
	c->key = CW_NONE;
	if (c->depth == 2 && c->in_events && (c->in_event || c->bad_elem)) {
		size_t end = jp_off(jp);
		if (c->bad_elem) {
			struct text raw = trimmed(&d->unz, c->ev_start, end);
			d->st.log_events++;
			item_meta_reset(d);
			item_reject(d, R_LOGS, "log event is not an object", &raw);
		} else {
			cw_event(d, c->ev_start, end);
		}
		c->in_event = c->bad_elem = 0;
	} else if (c->depth == 1 && c->in_events) {
		c->in_events = 0;
	}
	return !d->stop;
}

static const yajl_callbacks cw_callbacks = {
	cw_null, cw_boolean, NULL, NULL, cw_number, cw_string,
	cw_start_map, cw_map_key, cw_end, cw_start_array, cw_end
};

/* One pass of the CloudWatch Logs parser over d->unz (followed by a newline).  Returns 0
 * when it was read whole. */
static int
cw_pass(struct decoder *d, int pass)
{
	struct jp *jp = d->cwp;
	struct cwl *c = &d->cw;
	yajl_status st;

	memset(c, 0, sizeof(*c));
	c->pass = pass;
	if (jp_reset(jp) == -1) {
		nomem(d);
		return -1;
	}
	jp->text = &d->unz;
	jp->off0 = 0;
	d->unz.p[d->unz.len] = '\n';	/* gunzip_inflate leaves room for it */
	st = jp_parse(jp, (const unsigned char *)d->unz.p, d->unz.len + 1);
	return st == yajl_status_ok && c->depth == 0 ? 0 : -1;
}

/* Inflated data that is a CloudWatch Logs subscription message: a data message gives one
 * item per log event, a control message none (it is counted).  Returns 1 when it was one,
 * 0 when the data is something else (to be read as a payload). */
static int
cwl_events(struct decoder *d, const struct text *raw)
{
	int before;

	d->cw_type.len = d->cw_group.len = d->cw_stream.len = 0;
	/* Pass 1: is it an object with a messageType, and are its members of the right
	 * types?  Whatever fails here is not a CloudWatch Logs message. */
	if (cw_pass(d, 1) == -1 || d->cw.not_cwl || d->cw_type.len == 0)
		return d->oom;
	if (d->cw_type.len == 15 && memcmp(d->cw_type.p, "CONTROL_MESSAGE", 15) == 0) {
		d->st.control++;
		/* The record is read (a checkpoint moves past it), with no events. */
		if (item_begin(d))
			record_end(d, NULL);
		return 1;
	}
	if (d->cw_type.len != 12 || memcmp(d->cw_type.p, "DATA_MESSAGE", 12) != 0)
		return 0;
	if (d->cw.why != NULL || !d->cw.events_array) {
		/* Not d->scratch: the record's data as it came may be made there. */
		kc_errf(&d->uerr, "bad CloudWatch Logs message: %s",
		    d->cw.why ? d->cw.why : "no logEvents array");
		item_reject(d, R_LOGS, d->uerr.msg, raw);
		return 1;
	}
	/* Pass 2: the log events, in order. */
	before = d->part;
	if (cw_pass(d, 2) == -1 && !d->stop) {
		/* Pass 1 read it whole: only memory can fail now. */
		nomem(d);
	}
	/* A data message with no log events is still a record read. */
	if (d->part == before && !d->stop && item_begin(d))
		record_end(d, NULL);
	return 1;
}

/* Bytes after KPL: gunzipped when they are gzip (then a CloudWatch Logs message gives its
 * log events), else JSON events.  raw: what a rejection reports (NULL: the whole record). */
static void
unpacked_events(struct decoder *d, struct buf *b, const struct text *raw)
{
	int rc;

	if (!gunzip_is_gzip(b->p, b->len)) {
		item_events(d, b, raw);
		return;
	}
	rc = gunzip_inflate(d->gz, b->p, b->len, d->o.max_record, &d->unz, &d->uerr);
	if (rc == -2) {
		item_reject(d, R_TOO_LARGE, "record too large (out of memory)", raw);
		nomem(d);
		return;
	}
	if (rc == -1) {
		item_reject(d, strncmp(d->uerr.msg, "gzip data larger", 16) == 0 ? R_TOO_LARGE :
		    R_GZIP, d->uerr.msg, raw);
		return;
	}
	if (cwl_events(d, raw) || d->stop)
		return;
	item_events(d, &d->unz, raw);
}

/* The events of a record whose base64-decoded data is in d->payload: a KPL aggregate is
 * checked whole, then each of its user records is an item; anything else is one. */
static void record_parts(struct decoder *);

static void
record_events(struct decoder *d)
{
	d->part = 0;
	d->rec_has_time = d->meta.has_time;
	d->rec_time = d->meta.time;
	d->rec_open = 1;
	record_parts(d);
	if (!d->stop)
		d->rec_open = 0;
}

int
decode_record_open(const struct decoder *d)
{
	return d->rec_open;
}

static void
record_parts(struct decoder *d)
{
	struct kpl_record sr;
	long n;

	if (!kpl_is_aggregate(d->payload.p, d->payload.len)) {
		unpacked_events(d, &d->payload, NULL);
		return;
	}
	if ((n = kpl_open(d->kpl, d->payload.p, d->payload.len, &d->uerr)) < 0) {
		if (n == -2) {
			item_reject(d, R_TOO_LARGE, "record too large (out of memory)", NULL);
			nomem(d);
		} else {
			item_reject(d, R_KPL, d->uerr.msg, NULL);
		}
		return;
	}
	d->st.aggregates++;
	while (!d->stop && kpl_next(d->kpl, &sr) == 1) {
		struct text raw = sr.data;
		d->st.subrecords++;
		item_meta_reset(d);
		snprintf(d->subseq, sizeof(d->subseq), "%zu", sr.index);
		d->meta.subseq = (struct text){ d->subseq, strlen(d->subseq) };
		d->meta.pk = sr.pk;
		d->meta.ehk = sr.has_ehk ? sr.ehk : (struct text){ "", 0 };
		d->sub.len = 0;
		if (buf_reserve(&d->sub, sr.data.n + 1) == -1) {
			nomem(d);
			return;
		}
		if (sr.data.n > 0)
			memcpy(d->sub.p, sr.data.p, sr.data.n);
		d->sub.len = sr.data.n;
		unpacked_events(d, &d->sub, &raw);
	}
}

void
decode_stats(const struct decoder *d, struct decode_stats *st)
{
	*st = d->st;
}

/* ---- the envelope trie ------------------------------------------------------------------- */

struct envpath {
	int		 fmt;
	int		 tag;
	const char	*steps[5];
};

static const struct envpath envpaths[] = {
	{ FMT_LAMBDA, T_ARRAY_RECORDS, { "Records" } },
	{ FMT_LAMBDA, T_RECORD, { "Records", "[*]" } },
	{ FMT_LAMBDA, T_DATA, { "Records", "[*]", "kinesis", "data" } },
	{ FMT_LAMBDA, T_PK, { "Records", "[*]", "kinesis", "partitionKey" } },
	{ FMT_LAMBDA, T_SEQ, { "Records", "[*]", "kinesis", "sequenceNumber" } },
	{ FMT_LAMBDA, T_ARRIVAL, { "Records", "[*]", "kinesis", "approximateArrivalTimestamp" } },
	{ FMT_LAMBDA, T_EVENTID, { "Records", "[*]", "eventID" } },
	{ FMT_LAMBDA, T_ARN, { "Records", "[*]", "eventSourceARN" } },
	{ FMT_LAMBDA, T_REGION, { "Records", "[*]", "awsRegion" } },
	{ FMT_GET_RECORDS, T_ARRAY_RECORDS, { "Records" } },
	{ FMT_GET_RECORDS, T_RECORD, { "Records", "[*]" } },
	{ FMT_GET_RECORDS, T_DATA, { "Records", "[*]", "Data" } },
	{ FMT_GET_RECORDS, T_PK, { "Records", "[*]", "PartitionKey" } },
	{ FMT_GET_RECORDS, T_SEQ, { "Records", "[*]", "SequenceNumber" } },
	{ FMT_GET_RECORDS, T_ARRIVAL, { "Records", "[*]", "ApproximateArrivalTimestamp" } },
	{ FMT_FIREHOSE, T_ARRAY_FIREHOSE, { "records" } },
	{ FMT_FIREHOSE, T_RECORD, { "records", "[*]" } },
	{ FMT_FIREHOSE, T_DATA, { "records", "[*]", "data" } },
	{ FMT_FIREHOSE, T_RECID, { "records", "[*]", "recordId" } },
	{ FMT_FIREHOSE, T_ARRIVAL, { "records", "[*]", "approximateArrivalTimestamp" } },
	{ FMT_FIREHOSE, T_SHARD, { "records", "[*]", "kinesisRecordMetadata", "shardId" } },
	{ FMT_FIREHOSE, T_PK, { "records", "[*]", "kinesisRecordMetadata", "partitionKey" } },
	{ FMT_FIREHOSE, T_SEQ, { "records", "[*]", "kinesisRecordMetadata", "sequenceNumber" } },
	{ FMT_FIREHOSE, T_SUBSEQ,
	    { "records", "[*]", "kinesisRecordMetadata", "subsequenceNumber" } },
	{ FMT_FIREHOSE, T_DOC_ARN, { "sourceKinesisStreamArn" } },
	{ FMT_FIREHOSE, T_DOC_REGION, { "region" } },
	/* -f auto: members that make a document an envelope even when its records array is
	 * empty. */
	{ FMT_GET_RECORDS, T_DOC_MARK, { "NextShardIterator" } },
	{ FMT_GET_RECORDS, T_DOC_MARK, { "MillisBehindLatest" } },
	{ FMT_FIREHOSE, T_DOC_MARK, { "invocationId" } },
	{ FMT_FIREHOSE, T_DOC_MARK, { "deliveryStreamArn" } },
};

static struct matcher *
envelope_matcher(enum kc_format fmt, unsigned meta)
{
	struct matcher *m;
	struct mnode *n;

	if ((m = match_new()) == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(envpaths) / sizeof(envpaths[0]); i++) {
		if (fmt != FMT_AUTO && ((int)fmt != envpaths[i].fmt || envpaths[i].tag == T_DOC_MARK))
			continue;
		/* A field nobody uses is not looked for, unless -f auto needs it to know a
		 * record by its shape. */
		if (tag_meta[envpaths[i].tag] != 0 && (tag_meta[envpaths[i].tag] & meta) == 0 &&
		    !(fmt == FMT_AUTO && envpaths[i].tag == T_RECID))
			continue;
		if ((n = match_add_steps(m, envpaths[i].steps)) == NULL) {
			match_free(m);
			return NULL;
		}
		mnode_set_tag(n, envpaths[i].tag | envpaths[i].fmt << 8 |
		    (int)path_shape(envpaths[i].fmt, envpaths[i].tag) << 16);
	}
	return m;
}

/* ---- the decoder ------------------------------------------------------------------------- */

struct decoder *
decode_new(const struct decode_opts *o, const struct matcher *payload,
    const struct decode_cb *cb, void *arg)
{
	struct decoder *d;

	b64_init();
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->o = *o;
	d->cb = *cb;
	d->arg = arg;
	d->pm = payload;
	d->nslots = match_nslots(payload);
	switch (o->format) {
	case FMT_LAMBDA:
		d->env_kind = "Lambda event";
		d->env_array = "Records";
		break;
	case FMT_GET_RECORDS:
		d->env_kind = "get-records page";
		d->env_array = "Records";
		break;
	case FMT_FIREHOSE:
		d->env_kind = "Firehose event";
		d->env_array = "records";
		break;
	default:
		break;
	}
	/* A json document is one record (checked exactly when it ends; blanks before it may
	 * be kept with it while it streams in); an envelope holds many. */
	d->doc_cap = o->format == FMT_JSON ? o->max_record + LINE_SLACK :
	    o->max_record * 2 > DOC_CAP_MIN ? o->max_record * 2 : DOC_CAP_MIN;
	/* A base64 line: the largest record's base64, and a few blanks around it. */
	d->line_cap = o->max_record / 3 * 4 + 4 + LINE_SLACK;
	if (o->format != FMT_JSON && o->format != FMT_BASE64 &&
	    (d->em = envelope_matcher(o->format, o->meta)) == NULL)
		goto fail;
	if ((d->vals = calloc((size_t)d->nslots + 1, sizeof(*d->vals))) == NULL ||
	    (d->slots = calloc((size_t)d->nslots + 1, sizeof(*d->slots))) == NULL ||
	    (d->top = jp_new(d, 1, &callbacks)) == NULL ||
	    (d->pay = jp_new(d, 0, &callbacks)) == NULL ||
	    (d->cwp = jp_new(d, 0, &cw_callbacks)) == NULL ||
	    (d->kpl = kpl_new()) == NULL || (d->gz = gunzip_new()) == NULL ||
	    buf_reserve(&d->in, FIRST_READ) == -1)
		goto fail;
	return d;
fail:
	decode_free(d);
	return NULL;
}

void
decode_free(struct decoder *d)
{
	struct rec *r;

	if (d == NULL)
		return;
	r = &d->rec;
	jp_free(d->top);
	jp_free(d->pay);
	jp_free(d->cwp);
	kpl_free(d->kpl);
	gunzip_free(d->gz);
	buf_free(&d->sub);
	buf_free(&d->unz);
	buf_free(&d->cw_msg);
	buf_free(&d->cw_type);
	buf_free(&d->cw_group);
	buf_free(&d->cw_stream);
	buf_free(&d->cw_id);
	match_free(d->em);
	free(d->vals);
	free(d->slots);
	buf_free(&d->in);
	buf_free(&d->arena);
	buf_free(&d->payload);
	buf_free(&d->scratch);
	buf_free(&d->broken_msg);
	buf_free(&d->doc_arn);
	buf_free(&d->doc_region);
	buf_free(&r->seq);
	buf_free(&r->subseq);
	buf_free(&r->pk);
	buf_free(&r->eventid);
	buf_free(&r->arn);
	buf_free(&r->region);
	buf_free(&r->shard);
	buf_free(&r->recid);
	buf_free(&r->rawdata);
	free(d);
}

void
decode_begin(struct decoder *d, const char *name)
{
	d->name = name;
	d->in.len = d->pos = d->doc_start = d->item = d->line_pos = 0;
	d->line = 1;
	d->sniffed = d->lines_mode = d->record_open = d->line_skip = d->restart = 0;
	d->rec_open = 0;
	/* A stop (or running out of memory) ended the last input, not this one. */
	d->stop = d->oom = 0;
	d->resync = RESYNC_NONE;
	doc_state_clear(d);
	/* An input that ended in an error may have left a document or a token half read. */
	if (jp_reset(d->top) == -1)
		nomem(d);
}

void
decode_stop(struct decoder *d)
{
	d->stop = 1;
}

char *
decode_space(struct decoder *d, size_t *avail)
{
	size_t keep = d->doc_start < d->pos ? d->doc_start : d->pos;

	if (d->in.cap - d->in.len < MIN_READ && keep > 0) {
		struct jp *jp = d->top;

		line_at(d, keep);
		memmove(d->in.p, d->in.p + keep, d->in.len - keep);
		d->in.len -= keep;
		d->pos -= keep;
		d->doc_start -= keep;
		d->line_pos -= keep;
		d->scan = d->scan >= keep ? d->scan - keep : 0;
		d->item = d->item >= keep ? d->item - keep : 0;
		d->rec.start = d->rec.start >= keep ? d->rec.start - keep : 0;
		for (int i = 1; i <= jp->depth; i++)
			jp->lv[i].start -= keep;
	}
	if (buf_reserve(&d->in, MIN_READ) == -1)
		return NULL;
	*avail = d->in.cap - d->in.len;
	return d->in.p + d->in.len;
}

/* A line of base64 input: one record.  data is what is reported when it is rejected (the
 * line, or what was kept of an over-long one). */
static void
line_record(struct decoder *d, struct text line, int too_long)
{
	int st;

	meta_clear(d);
	d->item = (size_t)(line.p - d->in.p);
	d->cur_env = 0;
	d->cur_raw = line;
	st = too_long ? DATA_LARGE : decode_data(d, line.p, line.n);
	if (st == DATA_OK) {
		record_events(d);
	} else {
		record_begin(d);
		if (d->stop)
			return;
		if (st == DATA_BASE64)
			reject_record(d, R_BASE64, "invalid base64", line);
		else
			reject_record(d, R_TOO_LARGE, "record too large", line);
	}
	if (!d->stop)
		doc_end(d, NULL, 0);
}

static void
base64_line(struct decoder *d, size_t from, size_t to)
{
	struct text line = trimmed(&d->in, from, to);

	if (line.n > 0)
		line_record(d, line, 0);
}

/* Complete lines are records.  The line still coming in is kept only while it can be one:
 * blanks are dropped, and a line longer than the base64 of the largest record is rejected
 * as soon as it is, then skipped to its end. */
static void
feed_lines(struct decoder *d)
{
	const char *nl;
	struct text tail;

	if (d->line_skip) {
		nl = memchr(d->in.p + d->pos, '\n', d->in.len - d->pos);
		d->pos = d->doc_start = nl ? (size_t)(nl - d->in.p) + 1 : d->in.len;
		if (nl == NULL)
			return;
		d->line_skip = 0;
	}
	while (!d->stop && d->pos < d->in.len &&
	    (nl = memchr(d->in.p + d->pos, '\n', d->in.len - d->pos)) != NULL) {
		size_t end = (size_t)(nl - d->in.p);
		base64_line(d, d->pos, end);
		d->pos = d->doc_start = end + 1;
	}
	if (d->stop)
		return;
	tail = trimmed(&d->in, d->pos, d->in.len);
	if (tail.n == 0) {
		d->pos = d->doc_start = d->in.len;
	} else if (d->in.len - d->pos > d->line_cap) {
		line_record(d, tail, 1);
		d->pos = d->doc_start = d->in.len;
		d->line_skip = 1;
	}
}

/* ---- broken documents -------------------------------------------------------------------- */

/* Report the broken document: the input from its start to end. */
static void
broken_report(struct decoder *d, size_t end)
{
	struct reject r;

	r.reason = d->broken_why;
	r.msg = d->broken_msg.len > 0 ? d->broken_msg.p : "invalid JSON";
	r.data = trimmed(&d->in, d->doc_start, end);
	d->item = d->doc_start;
	if (d->broken_env || (d->em && d->o.format != FMT_AUTO)) {
		doc_end(d, &r, 0);
		return;
	}
	/* A json-format document is a record (begun already if it is an array). */
	if (!d->record_open) {
		meta_clear(d);
		d->cur_env = 0;
		d->cur_raw = r.data;
		record_begin(d);
	}
	if (!d->stop) {
		record_end(d, &r);
		if (!d->stop)
			doc_end(d, NULL, 0);
	}
}

/* Look for the line that starts the next document, from d->scan on.  Found: report the
 * broken document and go on reading there.  Not yet: keep the broken document while it may
 * still be a document's size, then report what was kept and drop the rest as it comes. */
static void
resync_scan(struct decoder *d)
{
	const char *nl;

	while ((nl = memchr(d->in.p + d->scan, '\n', d->in.len - d->scan)) != NULL) {
		size_t q = (size_t)(nl - d->in.p) + 1;
		if (q == d->in.len) {
			d->scan = q - 1;	/* the next line is not here yet */
			break;
		}
		if (d->in.p[q] == '{' || d->in.p[q] == '[') {
			if (d->resync == RESYNC_KEEP)
				broken_report(d, q - 1);
			d->resync = RESYNC_NONE;
			d->pos = d->doc_start = q;
			return;
		}
		d->scan = q;
	}
	if (nl == NULL)
		d->scan = d->in.len;
	if (d->resync == RESYNC_KEEP && d->in.len - d->doc_start > d->doc_cap) {
		broken_report(d, d->in.len);
		d->resync = RESYNC_DROP;
	}
	if (d->resync == RESYNC_DROP)
		d->doc_start = d->scan;
	d->pos = d->in.len;
}

/* The current document is broken (a syntax error, too deep, too large).  The layouts JSON
 * writers produce -- one document per line, or indented with only the outermost brackets at
 * the start of a line -- never start a line with a nested value's bracket, so the next
 * document starts on the first line after the broken one's first line that begins with '{'
 * or '['.  That line may come before the place where the parser noticed the break (a
 * document cut short swallows what follows it until it cannot go on): reading goes back to
 * it.  Nothing read from the broken document counts; the caller rolls it back. */
static void
doc_broken(struct decoder *d, enum kc_reason why, const char *msg, size_t len)
{
	struct jp *jp = d->top;
	size_t f = d->doc_start;
	const char *nl;

	d->broken_why = why;
	d->broken_env = jp->doc_env;
	d->broken_msg.len = 0;
	if (buf_add(&d->broken_msg, msg, len) == -1 || buf_addc(&d->broken_msg, '\0') == -1)
		d->broken_msg.len = 0;
	jp->too_deep = 0;
	if (jp_reset(jp) == -1)
		nomem(d);
	doc_state_clear(d);
	while (f < d->in.len && is_blank(d->in.p[f]))
		f++;
	nl = memchr(d->in.p + f, '\n', d->in.len - f);
	d->scan = nl ? (size_t)(nl - d->in.p) : d->in.len;
	d->resync = RESYNC_KEEP;
	resync_scan(d);
}

/* A syntax error or too deep a document in the input stream. */
static void
stream_error(struct decoder *d)
{
	struct jp *jp = d->top;
	unsigned char *msg;

	if (jp->too_deep) {
		doc_broken(d, R_DEPTH, "too deeply nested", 17);
		return;
	}
	d->scratch.len = 0;
	buf_add(&d->scratch, "invalid JSON: ", 14);
	if ((msg = yajl_get_error(jp->h, 0, NULL, 0)) != NULL) {
		/* "parse error: REASON\n" -> "REASON" */
		const char *m = (const char *)msg;
		size_t n = strlen(m);
		if (strncmp(m, "parse error: ", 13) == 0) {
			m += 13;
			n -= 13;
		}
		while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
			n--;
		buf_add(&d->scratch, m, n);
		yajl_free_error(jp->h, msg);
	}
	doc_broken(d, R_JSON, d->scratch.p, d->scratch.len);
}

/* Between documents nothing need be kept: blanks are dropped as they come, so that a long
 * run of them costs no memory. */
static void
drop_blanks(struct decoder *d)
{
	size_t i = d->doc_start;

	while (i < d->in.len && is_blank(d->in.p[i]))
		i++;
	d->doc_start = i;
}

static void
feed_json(struct decoder *d)
{
	struct jp *jp = d->top;
	yajl_status st;

	while (!d->stop && !d->oom && d->resync == RESYNC_NONE && d->pos < d->in.len) {
		jp->text = &d->in;
		jp->off0 = d->pos;
		st = jp_parse(jp, (const unsigned char *)d->in.p + d->pos,
		    d->in.len - d->pos);
		if (d->stop || d->oom)
			return;
		if (d->restart) {
			/* The document is an envelope after all: read it again as one. */
			d->restart = 0;
			if (jp_reset(jp) == -1) {
				nomem(d);
				return;
			}
			d->pos = d->doc_start;
			doc_state_clear(d);
			d->force_env = 1;
			continue;
		}
		if (st != yajl_status_ok) {
			stream_error(d);
			continue;
		}
		d->pos = d->in.len;
		if (jp->depth == 0)
			drop_blanks(d);
		else if (d->in.len - d->doc_start > d->doc_cap)
			doc_broken(d, R_TOO_LARGE, jp->doc_env ? "document too large" :
			    "record too large", jp->doc_env ? 18 : 16);
		else if (pin_slots(d) == -1)
			nomem(d);
		return;
	}
}

/* Decide, at the first non-blank byte of an input, how to read it.  Blanks before it are
 * not kept. */
static int
sniff(struct decoder *d, int at_eof)
{
	static const char bom[] = "\xef\xbb\xbf";
	size_t i = d->pos;

	if (d->pos == 0 && d->in.len < 3 && !at_eof &&
	    memcmp(d->in.p, bom, d->in.len) == 0)
		return 0;
	if (d->pos == 0 && d->in.len >= 3 && memcmp(d->in.p, bom, 3) == 0)
		i = d->pos = d->doc_start = 3;
	while (i < d->in.len && is_blank(d->in.p[i]))
		i++;
	if (i == d->in.len) {
		d->pos = d->doc_start = i;
		return 0;
	}
	d->sniffed = 1;
	if (d->o.format == FMT_BASE64)
		d->lines_mode = 1;
	else if (d->o.format == FMT_AUTO)
		d->lines_mode = d->in.p[i] != '{' && d->in.p[i] != '[';
	return 1;
}

static int
feed(struct decoder *d)
{
	if (d->lines_mode) {
		feed_lines(d);
	} else {
		if (d->resync != RESYNC_NONE)
			resync_scan(d);
		feed_json(d);
	}
	return d->oom ? -1 : 0;
}

int
decode_feed(struct decoder *d, size_t n)
{
	d->in.len += n;
	d->now = (int64_t)time(NULL);
	if (d->stop)
		return d->oom ? -1 : 0;
	if (!d->sniffed && !sniff(d, 0))
		return 0;
	return feed(d);
}

int
decode_end(struct decoder *d)
{
	struct jp *jp = d->top;

	if (!d->sniffed && !d->stop && !sniff(d, 1))
		return 0;
	if (d->lines_mode) {
		if (!d->stop && !d->line_skip && d->pos < d->in.len) {
			base64_line(d, d->pos, d->in.len);
			d->pos = d->doc_start = d->in.len;
		}
		return d->oom ? -1 : 0;
	}
	while (!d->stop && !d->oom) {
		if (d->resync != RESYNC_NONE) {
			/* No line starts another document: the rest is the broken one. */
			if (d->resync == RESYNC_KEEP)
				broken_report(d, d->in.len);
			d->resync = RESYNC_NONE;
			d->pos = d->doc_start = d->in.len;
			break;
		}
		/* Only a document in progress needs finishing: YAJL calls an empty input an
		 * error. */
		if (trimmed(&d->in, d->doc_start, d->in.len).n == 0)
			break;
		jp->text = &d->in;
		jp->off0 = d->in.len;
		if (jp_parse(jp, NULL, 0) == yajl_status_ok || d->stop || d->oom)
			break;
		stream_error(d);
		feed_json(d);
	}
	if (jp_reset(jp) == -1)
		nomem(d);
	return d->oom ? -1 : 0;
}
