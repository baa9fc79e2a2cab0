/* libFuzzer entry point for the KPL reader alone (kpl.c): the input is opened as it is (so
 * most inputs stop at the magic or the MD5), then once more with the magic put in front and
 * a valid MD5 after it, so that every mutation reaches the protobuf reader.  Each accepted
 * aggregate is walked to the end, checking that the records come in order, as many as
 * kpl_open said, and that every text lies inside the input.  Built and run by `make fuzz`;
 * replayed over fuzz/regress by `make check`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <md5.h>

#include "kpl.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
inside(const struct text *t, const uint8_t *d, size_t n)
{
	if (t->n == 0)
		return;
	if (t->p == NULL || (const uint8_t *)t->p < d || t->n > n ||
	    (const uint8_t *)t->p - d > (ptrdiff_t)(n - t->n))
		abort();
}

static void
walk(struct kpl *k, const uint8_t *d, size_t n)
{
	struct kpl_record r;
	struct kc_err err;
	size_t i = 0;
	long nrec;

	err.msg[0] = '\0';
	nrec = kpl_open(k, d, n, &err);
	if (nrec == -1) {
		if (strncmp(err.msg, "bad KPL aggregate: ", 19) != 0)
			abort();
		if (kpl_next(k, &r) != 0)
			abort();
		return;
	}
	if (nrec == -2)
		return;
	if (nrec < 1 || !kpl_is_aggregate(d, n))
		abort();
	while (kpl_next(k, &r) == 1) {
		if (r.index != i++)
			abort();
		inside(&r.pk, d, n);
		inside(&r.data, d, n);
		if (r.has_ehk)
			inside(&r.ehk, d, n);
		else if (r.ehk.n != 0)
			abort();
	}
	if (i != (size_t)nrec || kpl_next(k, &r) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static struct kpl *k;
	MD5_CTX ctx;
	uint8_t *b;
	const uint8_t *pb = data;
	size_t npb = n;

	if (k == NULL && (k = kpl_new()) == NULL)
		abort();
	walk(k, data, n);
	/* The protobuf: the input less its magic and MD5 when it has them, else all of it. */
	if (kpl_is_aggregate(data, n)) {
		pb = data + 4;
		npb = n - 20;
	}
	if ((b = malloc(npb + 20)) == NULL)
		return 0;
	memcpy(b, "\xf3\x89\x9a\xc2", 4);
	if (npb > 0)
		memcpy(b + 4, pb, npb);
	MD5Init(&ctx);
	MD5Update(&ctx, b + 4, npb);
	MD5Final(b + 4 + npb, &ctx);
	walk(k, b, npb + 20);
	free(b);
	return 0;
}
