/* The Redis connection: URL parsing, connecting with AUTH and SELECT, and applying one batch
 * of counts atomically with a server-side Lua script, retrying with back-off on the failures
 * that can pass (lost connection, timeouts, LOADING, BUSY, OOM) without ever counting a batch
 * twice. */
#ifndef KC_REDIS_H
#define KC_REDIS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct redis_opts {
	int		 timeout_ms;
	int		 retries;
	long long	 ttl;		/* 0: none */
	const char	*ckpt_key;	/* checkpoint hash */
	const char	*dl_key;	/* dead-letter list, or NULL */
	/* With N > 0, a batch counts as applied only once WAIT N timeout_ms says that N
	 * replicas hold it; fewer is retried like a failure that can pass. */
	int		 wait_replicas;
	/* Set (by a signal handler) when the run is to stop: retries end at once.  Borrowed
	 * for the life of the struct redis; may be NULL. */
	volatile sig_atomic_t *stop;
};

/* One batch.  Arrays are borrowed for the call. */
struct rbatch {
	size_t		  n;		/* counters */
	const char	**key;
	const size_t	 *klen;
	const long long	 *count;
	size_t		  nck;		/* checkpoint fields */
	const struct text *ck_field, *ck_old, *ck_new;
	size_t		  ndl;		/* dead-letter lines for --dead-letter redis:KEY */
	const struct text *dl;
	/* Called for each counter the server refused, with its error. */
	void		(*refused)(void *arg, size_t i, const char *why);
	void		 *arg;
	/* Only the dead letters of keys the last batch refused: applied like a batch, but
	 * not counted in redis_batches(). */
	int		  extra;
};

struct redis;

/* Parse the URL (password from REDISCLI_AUTH when the URL has none).  NULL with err filled
 * when the URL is malformed; nothing is connected yet. */
struct redis	*redis_new(const char *url, const struct redis_opts *, struct kc_err *);
void		 redis_free(struct redis *);

/* Connect now (with the retries), so that a wrong address or password shows before any
 * input is read.  Returns 0, or -1 with err filled. */
int		 redis_connect(struct redis *, struct kc_err *);

/* Apply one batch, in two steps, so the next batch can be read while the server works: send
 * the batch, then wait for its answer (retrying it, from scratch, if none comes).  Between
 * the two, no other call may be made, and the batch's arrays must stay as they are.  Both
 * return 0, or -1 with err filled when the batch could not be applied; redis_wait returns 0
 * when the batch is applied (or had already been, by an earlier attempt of the same batch).
 * Nothing of a batch that fails is written. */
int		 redis_send(struct redis *, const struct rbatch *, struct kc_err *);
int		 redis_wait(struct redis *, const struct rbatch *, struct kc_err *);

/* After a batch failed, before the next one is sent: drop the connection and any pending
 * state.  The next batch gets a token of its own (so does every batch), so the failed one,
 * should it still run on the server, never makes a later batch look applied. */
void		 redis_abandon(struct redis *);

/* From now on, every retry loop (connect, batch, hget) ends by ms, a CLOCK_MONOTONIC time
 * in milliseconds (0: no deadline): no attempt or back-off pause starts that could not end
 * by it, and socket timeouts are cut to the time left.  A failure so ended counts as given
 * up (redis_gave_up) and its message ends "(stopped retrying: the deadline is near)". */
void		 redis_deadline(struct redis *, int64_t ms);

/* Milliseconds spent in the calls above (connecting, sending, waiting, retries and back-off
 * pauses) since redis_new. */
double		 redis_busy_ms(const struct redis *);

/* The value of field in hash key; *found = 0 when there is none. */
int		 redis_hget(struct redis *, const char *key, const char *field, size_t flen,
		    struct buf *out, int *found, struct kc_err *);

uint64_t	 redis_commands(const struct redis *);
uint64_t	 redis_batches(const struct redis *);
/* After a failure: the retries it took (0: not retried), and whether the server refused
 * the credentials. */
int		 redis_retries(const struct redis *);
int		 redis_auth_failed(const struct redis *);
/* After a failure: 1 when it was one that could pass and --retries ran out or the deadline
 * came near (0 when it cannot pass, or a signal stopped the retries). */
int		 redis_gave_up(const struct redis *);
/* The server's address as messages show it: unix:///PATH or HOST:PORT.  Borrowed. */
const char	*redis_address(const struct redis *);

#endif
