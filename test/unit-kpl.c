/* A driver for test/56-kpl.bats: the KPL reader (kpl.c) called directly, since kincount does
 * not call it yet.  Every input is copied into a buffer of exactly its size, so that ASan
 * sees any read past its end.
 *
 *   unit-kpl FILE...     opens each file, with one struct kpl for all, and prints each
 *                        sub-record as INDEX<TAB>PK<TAB>EHK or -<TAB>base64(DATA), or the
 *                        error; exit 0, or 1 when any file was rejected
 *   unit-kpl prefixes FILE
 *                        opens every proper prefix of FILE (lengths 0 to size - 1) and
 *                        prints "LEN<TAB>RESULT" for each: the error, or "accepted N"
 *   unit-kpl is FILE     prints kpl_is_aggregate of every prefix (lengths 0 to size) as
 *                        "LEN<TAB>0-or-1" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpl.h"
#include "util.h"

static char *
slurp(const char *path, size_t *n)
{
	FILE *fp;
	char *p;
	long len;

	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) == -1 ||
	    (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) == -1) {
		perror(path);
		exit(2);
	}
	if ((p = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(p, 1, (size_t)len, fp) != (size_t)len) {
		perror(path);
		exit(2);
	}
	fclose(fp);
	*n = (size_t)len;
	return p;
}

/* Open n bytes copied to an exact-size buffer; print the records or the error.  Returns
 * what kpl_open returned. */
static long
show(struct kpl *k, const char *src, size_t n, int quiet)
{
	struct kpl_record r;
	struct kc_err err;
	struct buf b = { 0 };
	size_t want = 0;
	char *p;
	long nrec;

	if ((p = malloc(n ? n : 1)) == NULL)
		exit(2);
	memcpy(p, src, n);
	nrec = kpl_open(k, p, n, &err);
	if (nrec < 0) {
		printf("%s\n", nrec == -2 ? "out of memory" : err.msg);
		if (strncmp(err.msg, "bad KPL aggregate: ", 19) != 0 && nrec == -1)
			abort();
		free(p);
		return nrec;
	}
	if (quiet)
		printf("accepted %ld\n", nrec);
	while (kpl_next(k, &r) == 1) {
		if (r.index != want++ || (!r.has_ehk && r.ehk.n != 0))
			abort();
		if (quiet)
			continue;
		b.len = 0;
		if (buf_add_base64(&b, r.data.p, r.data.n) == -1)
			exit(2);
		printf("%zu\t%.*s\t%.*s\t%.*s\n", r.index, (int)r.pk.n, r.pk.p,
		    r.has_ehk ? (int)r.ehk.n : 1, r.has_ehk ? r.ehk.p : "-", (int)b.len, b.p);
	}
	if (want != (size_t)nrec || kpl_next(k, &r) != 0)
		abort();
	buf_free(&b);
	free(p);
	return nrec;
}

int
main(int argc, char *argv[])
{
	struct kpl *k;
	char *d;
	size_t n, i;
	int st = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: unit-kpl FILE... | prefixes FILE | is FILE\n");
		return 2;
	}
	if ((k = kpl_new()) == NULL)
		return 2;
	if (argc == 3 && strcmp(argv[1], "prefixes") == 0) {
		d = slurp(argv[2], &n);
		for (i = 0; i < n; i++) {
			printf("%zu\t", i);
			show(k, d, i, 1);
		}
		free(d);
	} else if (argc == 3 && strcmp(argv[1], "is") == 0) {
		d = slurp(argv[2], &n);
		for (i = 0; i <= n; i++) {
			char *p = malloc(i ? i : 1);
			if (p == NULL)
				return 2;
			memcpy(p, d, i);
			printf("%zu\t%d\n", i, kpl_is_aggregate(p, i));
			free(p);
		}
		free(d);
	} else {
		for (int a = 1; a < argc; a++) {
			d = slurp(argv[a], &n);
			if (show(k, d, n, 0) < 0)
				st = 1;
			free(d);
		}
	}
	kpl_free(k);
	if (fflush(stdout) == EOF || ferror(stdout))
		return 2;
	return st;
}
