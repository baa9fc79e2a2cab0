/* Where the keys go: stdout (one per line), a count table printed at the end (-c), or
 * Redis counters, applied one batch at a time.  Keys are added inside an open transaction that the caller commits at
 * the end of each document, or rolls back to a mark when a record or document turns out to
 * be broken, so nothing of a rejected item is ever written or counted. */
#ifndef KC_SINK_H
#define KC_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "redis.h"
#include "util.h"

enum sink_kind { SINK_KEYS, SINK_DECODE, SINK_COUNT, SINK_REDIS };

struct sink_opts {
	int		 kind;		/* enum sink_kind */
	int		 fd;		/* where output goes */
	int		 distinct;	/* count distinct keys even when printing them */
	struct redis	*redis;		/* SINK_REDIS; borrowed */
	const char	*ckpt_key;	/* --checkpoint-key */
	/* SINK_REDIS: a key the server refused, with its count and the server's reason. */
	void		(*refused)(void *arg, const char *key, size_t len, long long count,
			    const char *why);
	void		*arg;
};

struct sink_mark {
	size_t	 out, undo;
};

struct sink;

struct sink	*sink_new(const struct sink_opts *);
void		 sink_free(struct sink *);

/* Add one key (or, for SINK_DECODE, one payload).  Returns 0, or -1 (sink_error tells). */
int		 sink_add(struct sink *, const char *, size_t);
struct sink_mark sink_mark(const struct sink *);
/* Undo the keys added since the mark (a rejected record). */
void		 sink_rollback(struct sink *, struct sink_mark);
/* Undo everything since the last commit, checkpoints included (a broken document). */
void		 sink_abort(struct sink *);
/* Forget everything not yet applied, the batch in flight and the checkpoints as this run
 * knew them (they are read again when next needed): after a batch failed, before the next
 * Lambda event. */
void		 sink_reset(struct sink *);
/* What was added so far is final; it may be written out from now on. */
int		 sink_commit(struct sink *);
/* Write out everything committed (input is idle, or it ended); for Redis, send the batch
 * and, with wait, also wait until it is applied (else that happens by the next call).
 * Nothing happens while keys are added but not committed. */
int		 sink_flush(struct sink *, int wait);

/* SINK_REDIS: wait for the batch in flight, if any, and send nothing more.  0 or -1. */
int		 sink_drain(struct sink *);

/* --checkpoint: a record of stream/shard field with sequence number seq (a valid decimal).
 * Returns 1 when it was applied before the run (a duplicate: at or below the checkpoint
 * stored when the run first met field, or at the last sink_checkpoint_rebase), 2 when it is
 * above that but not above a record this run already read (out of order: the input mixes
 * shards or overlaps itself; sink_checkpoint_max then tells that record's number), 0 when it
 * is new (sink_checkpoint_move then moves the checkpoint with the batch), -1 when the stored
 * checkpoint could not be read. */
int		 sink_checkpoint(struct sink *, struct text field, struct text seq);
/* After 2 from sink_checkpoint: the highest sequence number read for that field, borrowed
 * until the next call. */
struct text	 sink_checkpoint_max(const struct sink *);
/* What has been read so far counts as applied before: a Lambda event that sends records
 * again is a redelivery (duplicates), not an input out of order. */
void		 sink_checkpoint_rebase(struct sink *);
/* A new record (0 from sink_checkpoint) moves the checkpoint only once it has been read
 * whole, all its parts: sink_checkpoint_move then moves it, sink_checkpoint_drop forgets
 * it.  Returns 0, or -1 when memory is exhausted. */
int		 sink_checkpoint_move(struct sink *);
void		 sink_checkpoint_drop(struct sink *);
/* --dead-letter redis:KEY: a line to push in the same step as the current batch. */
int		 sink_dead_letter(struct sink *, const char *, size_t);
/* End of input: -c prints its table; everything is written.  Returns 0 or -1. */
int		 sink_finish(struct sink *);
/* Distinct keys seen (when counted). */
uint64_t	 sink_distinct(const struct sink *);
/* After -1: the errno of the failed write (EPIPE: the reader went away), or 0 when Redis
 * failed; sink_error() then says why. */
int		 sink_errno(const struct sink *);
const char	*sink_error(const struct sink *);

#endif
