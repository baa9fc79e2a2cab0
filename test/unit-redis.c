/* A driver for test/83-durability.bats: redis.c called directly, so that its deadline and its
 * recovery after a failed batch can be tested before a loop of kincount's calls them.
 *
 *   unit-redis URL TIMEOUT_MS RETRIES [WAIT_REPLICAS]
 *
 * reads commands from stdin, one a line, and answers each with one line on stdout (flushed),
 * so that a test can fault the server between two commands:
 *
 *   connect                redis_connect
 *   deadline MS            redis_deadline(now + MS), or none for 0
 *   batch KEY COUNT...     one batch (redis_send, then redis_wait) of those counters
 *   abandon                redis_abandon
 *   busy                   redis_busy_ms
 *
 * A command's answer is "ok", or "error gave_up=G: MESSAGE"; either is followed by
 * " ms=ELAPSED" (milliseconds the call took, CLOCK_MONOTONIC) except for busy, which prints
 * the number alone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis.h"
#include "util.h"

#define MAXC	64

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "unit-redis: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void
answer(struct redis *r, int rc, const struct kc_err *err, int64_t t0)
{
	if (rc == 0)
		printf("ok");
	else
		printf("error gave_up=%d: %s", redis_gave_up(r), err->msg);
	printf(" ms=%lld\n", (long long)(now_ms() - t0));
	fflush(stdout);
}

static int
batch(struct redis *r, char **w, int nw, struct kc_err *err)
{
	const char *key[MAXC];
	size_t klen[MAXC];
	long long count[MAXC];
	struct rbatch b;
	size_t n = 0;

	for (int i = 1; i + 1 < nw && n < MAXC; i += 2, n++) {
		key[n] = w[i];
		klen[n] = strlen(w[i]);
		count[n] = num(w[i + 1]);
	}
	memset(&b, 0, sizeof(b));
	b.n = n;
	b.key = key;
	b.klen = klen;
	b.count = count;
	if (redis_send(r, &b, err) == -1)
		return -1;
	return redis_wait(r, &b, err);
}

int
main(int argc, char **argv)
{
	struct redis_opts o;
	struct redis *r;
	struct kc_err err;
	char *line = NULL, *w[2 * MAXC + 2];
	size_t cap = 0;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: unit-redis URL TIMEOUT_MS RETRIES [WAIT_REPLICAS]\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.timeout_ms = (int)num(argv[2]);
	o.retries = (int)num(argv[3]);
	o.wait_replicas = argc > 4 ? (int)num(argv[4]) : 0;
	o.ckpt_key = "kincount:checkpoints";
	if ((r = redis_new(argv[1], &o, &err)) == NULL) {
		fprintf(stderr, "unit-redis: %s\n", err.msg);
		return 2;
	}
	while (getline(&line, &cap, stdin) != -1) {
		int nw = 0;
		int64_t t0 = now_ms();

		for (char *t = strtok(line, " \t\n"); t != NULL && nw < (int)(sizeof(w) /
		    sizeof(w[0])); t = strtok(NULL, " \t\n"))
			w[nw++] = t;
		if (nw == 0)
			continue;
		if (strcmp(w[0], "connect") == 0) {
			answer(r, redis_connect(r, &err), &err, t0);
		} else if (strcmp(w[0], "deadline") == 0 && nw == 2) {
			long ms = num(w[1]);
			redis_deadline(r, ms == 0 ? 0 : now_ms() + ms);
			answer(r, 0, &err, t0);
		} else if (strcmp(w[0], "batch") == 0) {
			answer(r, batch(r, w, nw, &err), &err, t0);
		} else if (strcmp(w[0], "abandon") == 0) {
			redis_abandon(r);
			answer(r, 0, &err, t0);
		} else if (strcmp(w[0], "busy") == 0) {
			printf("%llu\n", (unsigned long long)redis_busy_ms(r));
			fflush(stdout);
		} else {
			fprintf(stderr, "unit-redis: unknown command '%s'\n", w[0]);
			return 2;
		}
	}
	free(line);
	redis_free(r);
	return 0;
}
