/* One run: decoder -> keys -> sink, and everything around it that a file loop and the Lambda
 * loop share: diagnostics and their rate limit, dead letters, Redis batches and checkpoints,
 * the progress meter, statistics, the signal flag and the exit status.  kincount.c fills
 * the options and compiles the templates; the run does the rest and never exits. */
#ifndef KC_RUN_H
#define KC_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "keys.h"
#include "match.h"
#include "redis.h"
#include "util.h"

enum kc_status { KC_OK, KC_REJECTED, KC_USAGE, KC_SINK, KC_IO };

enum stats_form { STATS_NONE, STATS_TEXT, STATS_JSON };

/* What the options ask of a run.  Strings are borrowed for the run's life. */
struct run_opts {
	int			 quiet;
	int			 stats;		/* enum stats_form */
	int			 progress;	/* -1 auto, 0 off, 1 on */
	long long		 max_errors;	/* 0: no limit */
	int			 flush_ms;
	int			 count;		/* -c */
	int			 decode_only;	/* -d */
	const char		*dead_letter;	/* FILE, or redis:KEY */
	const char		*redis_url;	/* -r, or NULL */
	long long		 batch;		/* --batch */
	int			 checkpoint;
	const char		*time_field;	/* -t, for messages */
	struct decode_opts	 dopt;
	struct redis_opts	 ropt;
};

/* The outcome of one Lambda invocation's event. */
enum run_answer_kind {
	RUN_APPLIED,	/* every record applied, skipped as a duplicate, or dead-lettered */
	RUN_FAILED,	/* its batch was not applied: Lambda is to retry from first_seq */
	RUN_INVALID	/* not a Kinesis event: an invocation error */
};

struct run_answer {
	enum run_answer_kind	 kind;
	struct text		 first_seq;	/* RUN_FAILED: the event's first sequence number
						 * as it came ("" when it had none); borrowed
						 * until the next call */
	const char		*why;		/* RUN_FAILED, RUN_INVALID: the reason;
						 * borrowed likewise */
};

struct run;

/* A run over the compiled templates (tmpl and pm are stolen: run_free frees them).  Opens
 * the dead-letter file and parses the Redis URL; nothing is connected yet.  Returns NULL
 * with *status set (and the reason printed) when that fails. */
struct run	*run_new(const struct run_opts *, struct matcher *pm, struct tmpl_set *tmpl,
		    int *status);
void		 run_free(struct run *);
/* SIGINT and SIGTERM stop the run: reading ends, what was read whole is applied. */
void		 run_catch_signals(void);
/* The signal that stopped the run, or 0. */
int		 run_signal(void);
/* Connect to Redis now, so a wrong address or password shows before any input is read;
 * deadline (CLOCK_MONOTONIC ms, 0: none) ends the retries.  Returns the status (KC_OK,
 * or KC_SINK with the failure printed); *fatal is 1 when the failure cannot pass by
 * itself (a refused password, a server too old). */
int		 run_connect(struct run *, int64_t deadline, int *fatal);
/* --show-checkpoint FIELD: print the stored sequence number, if any.  Returns the status. */
int		 run_show_checkpoint(struct run *, const char *field);
/* The progress meter for these input files (none: stdin). */
void		 run_progress(struct run *, int nfiles, char *const files[]);
/* Read one input file ("-": stdin) to its end, or until the run stops. */
void		 run_file(struct run *, const char *path);
/* 1 once the run is to read no more input (an error, --strict, a signal). */
int		 run_stopped(const struct run *);
/* The end of a file run: the last batch, -c's table, the summary.  Returns the status. */
int		 run_finish(struct run *);
/* Lambda: one event, held whole in memory, named name in messages, to be answered by
 * deadline (CLOCK_MONOTONIC ms, 0: none): decoded as --format lambda, applied as one
 * batch, and logged in one line (or one JSON object with --stats=json).  The run goes on
 * to the next event whatever happened to this one. */
void		 run_event(struct run *, const char *name, const char *body, size_t len,
		    int64_t deadline, struct run_answer *);
/* A message on stderr, "kincount: ..." (the last is kept for a Lambda init error). */
void		 run_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
const char	*run_last_warning(void);

#endif
