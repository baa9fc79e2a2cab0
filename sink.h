/* Where the keys go: stdout (one per line), a count table printed at the end (-c), or, in a
 * later version, Redis.  Keys are added inside an open transaction that the caller commits at
 * the end of each document, or rolls back to a mark when a record or document turns out to
 * be broken, so nothing of a rejected item is ever written or counted. */
#ifndef KC_SINK_H
#define KC_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum sink_kind { SINK_KEYS, SINK_DECODE, SINK_COUNT };

struct sink_opts {
	int	 kind;		/* enum sink_kind */
	int	 fd;		/* where output goes */
	int	 distinct;	/* count distinct keys even when printing them */
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
void		 sink_rollback(struct sink *, struct sink_mark);
/* What was added so far is final; it may be written out from now on. */
int		 sink_commit(struct sink *);
/* Write out everything committed (input is idle, or it ended). */
int		 sink_flush(struct sink *);
/* End of input: -c prints its table; everything is written.  Returns 0 or -1. */
int		 sink_finish(struct sink *);
/* Distinct keys seen (when counted). */
uint64_t	 sink_distinct(const struct sink *);
/* After -1: the errno of the failed write (EPIPE: the reader went away). */
int		 sink_errno(const struct sink *);

#endif
