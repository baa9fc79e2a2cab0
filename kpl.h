/* Kinesis Producer Library aggregates, read without copying: the sub-records point into the
 * caller's bytes. */
#ifndef KC_KPL_H
#define KC_KPL_H

#include <stddef.h>

#include "util.h"

/* KPL aggregates: f3 89 9a c2, a protobuf AggregatedRecord, the MD5 of the protobuf. */
struct kpl;
struct kpl_record {
	struct text	 pk;		/* partition key, from the table */
	struct text	 ehk;		/* explicit hash key, from the table; n == 0 unless has_ehk */
	int		 has_ehk;	/* the record carries an explicit_hash_key_index (field presence) */
	struct text	 data;		/* the user record's data */
	size_t		 index;		/* 0-based position in the aggregate: the sub-sequence number */
};
struct kpl	*kpl_new(void);		/* NULL when out of memory */
void		 kpl_free(struct kpl *);	/* accepts NULL */
/* 1 when data is an aggregate as every deaggregator tells one: the magic, and more than 16
 * bytes after it. */
int		 kpl_is_aggregate(const void *data, size_t n);
/* Check the whole aggregate before anything of it is used: the MD5, every field of the
 * protobuf (truncation, varints over 10 bytes, lengths past the end, wrong wire types,
 * missing required fields), every key index in range, at least one record.  Returns the
 * number of records, or -1 with err filled ("bad KPL aggregate: MD5 mismatch", "...: record
 * 3: partition key index 7 out of range (2 keys)", ...; always starting "bad KPL
 * aggregate"), or -2 when memory ran out.  data is borrowed until the next kpl_open.
 * Record numbers in messages are 0-based, as sub-sequence numbers are.  Partition keys and
 * explicit hash keys are passed on as they are (proto2 does not check strings; whoever puts
 * them in a key checks them as any other value). */
long		 kpl_open(struct kpl *, const void *data, size_t n, struct kc_err *);
/* The records of the aggregate last opened, in order: 1 with *r filled (borrowed until the
 * next kpl_open), 0 after the last. */
int		 kpl_next(struct kpl *, struct kpl_record *r);

#endif
