/*
 * kplbench: the cost of the KPL reader (kpl.c) per sub-record, on one
 * aggregate read from a file (fixtures/kpl/fifty.agg: 50 sub-records of
 * about 110 bytes), opened and walked again and again; and the cost of its
 * MD5 alone, to show how the time splits between the checksum and the
 * protobuf reader.  Build and run from the top folder:
 *
 *   cc -O2 -D_GNU_SOURCE -I. -o kplbench bench/kplbench.c kpl.c util.c -lmd -lm
 *   ./kplbench fixtures/kpl/fifty.agg
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <md5.h>

#include "kpl.h"
#include "util.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	static unsigned char d[1 << 20];
	unsigned char sum[16];
	struct kpl_record r;
	struct kc_err err;
	struct kpl *k;
	MD5_CTX ctx;
	FILE *fp;
	size_t n, bytes = 0;
	long nrec = 0, i, iters = 200000, subs = 0;
	double t0, t1, t2;

	if (argc != 2 || (fp = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: kplbench FILE.agg\n");
		return 2;
	}
	n = fread(d, 1, sizeof(d), fp);
	fclose(fp);
	if ((k = kpl_new()) == NULL || (nrec = kpl_open(k, d, n, &err)) < 0) {
		fprintf(stderr, "kplbench: %s\n", nrec == -1 ? err.msg : "out of memory");
		return 1;
	}
	t0 = now();
	for (i = 0; i < iters; i++) {
		if (kpl_open(k, d, n, &err) != nrec)
			abort();
		while (kpl_next(k, &r) == 1)
			bytes += r.data.n, subs++;
	}
	t1 = now();
	for (i = 0; i < iters; i++) {
		MD5Init(&ctx);
		MD5Update(&ctx, d + 4 + (i & 1), n - 20 - (i & 1));
		MD5Final(sum, &ctx);
		bytes += sum[0];
	}
	t2 = now();
	printf("%zu bytes, %ld sub-records, %ld rounds (%zu)\n", n, nrec, iters, bytes & 1);
	printf("kpl_open + kpl_next: %.1f ns per sub-record, %.0f sub-records/s\n",
	    (t1 - t0) * 1e9 / subs, subs / (t1 - t0));
	printf("of which MD5:        %.1f ns per sub-record\n", (t2 - t1) * 1e9 / subs);
	printf("protobuf reader:     %.1f ns per sub-record\n",
	    ((t1 - t0) - (t2 - t1)) * 1e9 / subs);
	kpl_free(k);
	return 0;
}
