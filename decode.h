/* Input bytes -> Kinesis records -> events.  The decoder owns the input buffer: the caller
 * reads into decode_space() and hands the count to decode_feed(), which runs the streaming
 * parsers and calls back, in order, record_begin, event (zero or more), record_end for each
 * record, and doc_end for each input document (a JSON document, or a line of base64). */
#ifndef KC_DECODE_H
#define KC_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "match.h"
#include "util.h"

enum kc_format { FMT_AUTO, FMT_LAMBDA, FMT_GET_RECORDS, FMT_FIREHOSE, FMT_JSON, FMT_BASE64 };

enum slot_type {
	SLOT_MISSING = 0, SLOT_NULL, SLOT_STRING, SLOT_NUMBER, SLOT_BOOL, SLOT_OBJECT, SLOT_ARRAY,
	SLOT_BADUTF8	/* a string whose escapes are not valid UTF-8 (a lone surrogate) */
};

/* A value picked out of an event: text as it should be inserted (strings unescaped, numbers
 * as written).  Borrowed for the duration of the event callback. */
struct slot {
	const char	*p;
	size_t		 n;
	int		 type;
};

/* What is known about the record an event came from.  Borrowed during callbacks; a field
 * that is unknown has n == 0. */
struct recmeta {
	struct text	 seq, subseq, pk, ehk, shard, stream, region;
	struct text	 log_group, log_stream, log_event_id, record_id;
	int		 has_time;	/* arrival (or log event) time known */
	int64_t		 time;		/* epoch seconds */
	int64_t		 read_time;	/* clock when the record was read */
	/* 0 for a Kinesis record's first (or only) item; 1, 2, ... for the next user records
	 * of a KPL aggregate or log events of a CloudWatch Logs message, which share its
	 * sequence number: what holds for part 0 (a duplicate, say) holds for them all. */
	int		 part;
};

struct event {
	const struct slot	*slots;		/* match_nslots() of the payload matcher */
	const struct recmeta	*meta;
	struct text		 raw;		/* the event's JSON text as it came */
};

/* A record or document the decoder could not read. */
struct reject {
	enum kc_reason	 reason;
	const char	*msg;		/* the whole message */
	struct text	 data;		/* the item as it came */
};

struct decode_cb {
	void	(*record_begin)(void *, const struct recmeta *);
	void	(*event)(void *, const struct event *);
	/* r is NULL when the record was read whole. */
	void	(*record_end)(void *, const struct recmeta *, const struct reject *r);
	/* r is NULL unless the document itself was broken (syntax, depth, envelope);
	 * envelope is 1 for a Lambda event, get-records page or Firehose event. */
	void	(*doc_end)(void *, const struct reject *r, int envelope);
};

/* Record metadata to keep, beyond the sequence number (always kept, for messages). */
#define META_PK		0x01
#define META_SHARD	0x02
#define META_STREAM	0x04
#define META_REGION	0x08
#define META_SUBSEQ	0x10
#define META_RECID	0x20

struct decode_opts {
	enum kc_format	 format;
	unsigned	 meta;		/* META_* bits */
	size_t		 max_record;	/* --max-record-bytes */
	int		 local_time;
	const char	*stream;	/* --stream, or NULL */
	const char	*shard;		/* --shard, or NULL */
};

struct decoder;

/* What unpacking found, for the statistics. */
struct decode_stats {
	uint64_t	 aggregates;	/* KPL aggregates read whole */
	uint64_t	 subrecords;	/* user records in them */
	uint64_t	 log_events;	/* log events of CloudWatch Logs data messages */
	uint64_t	 control;	/* CloudWatch Logs control messages (skipped) */
};

/* payload is the matcher of the paths the templates use (finished); borrowed for the
 * decoder's life.  Returns NULL when memory is exhausted. */
struct decoder	*decode_new(const struct decode_opts *, const struct matcher *payload,
		    const struct decode_cb *, void *arg);
void		 decode_free(struct decoder *);

/* Start a new input (a stop or shortage of memory in the last one is forgotten); name is
 * borrowed until decode_end. */
void		 decode_begin(struct decoder *, const char *name);
/* Room for the next read: at least 64 KiB.  NULL when memory is exhausted. */
char		*decode_space(struct decoder *, size_t *avail);
/* n bytes were read into the space: parse them.  Returns 0, or -1 when memory ran out. */
int		 decode_feed(struct decoder *, size_t n);
/* End of the current input: finish a last line or report a truncated document. */
int		 decode_end(struct decoder *);
/* From a callback: stop parsing; decode_feed returns as soon as it can. */
void		 decode_stop(struct decoder *);
/* During a callback: the 1-based line where the current record (or document) starts. */
long		 decode_line(struct decoder *);
/* During a record's callbacks: the Kinesis record's data as it came (base64 text, or the
 * raw line or JSON document), whichever part is being read.  Borrowed until the next call. */
struct text	 decode_record_data(struct decoder *);
void		 decode_stats(const struct decoder *, struct decode_stats *);
/* 1 when decode_stop came while the parts of a record were being read: some of them may
 * never have been. */
int		 decode_record_open(const struct decoder *);

#endif
