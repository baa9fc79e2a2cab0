/* A driver for test/57-gunzip.bats: gunzip.c called directly, before decode.c uses it.
 *
 *   unit-gunzip [-q] [-m] CAP FILE...
 *   unit-gunzip magic FILE...
 *
 * Each FILE is read whole and inflated, with at most CAP bytes of output, by one inflater and
 * one output buffer reused from file to file (as kincount reuses them from record to record).
 * The bytes inflated go to stdout, unless -q; a rejected file prints "FILE: MESSAGE" on stderr
 * and the next file is tried.  The spare byte past the output is written to, so that ASan
 * catches a buffer without it.  Exit 0 when every file inflated, 1 when one was rejected,
 * 2 on a usage or read error, 3 when memory ran out.  With -m, the peak resident set size
 * (VmHWM) goes to stderr at the end as "peak N kB".  magic prints gunzip_is_gzip of each
 * file, one line each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gunzip.h"
#include "util.h"

static int
slurp(const char *path, struct buf *b)
{
	FILE *fp;
	size_t r;

	b->len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	for (;;) {
		if (buf_reserve(b, 65536) == -1) {
			fclose(fp);
			return -1;
		}
		r = fread(b->p + b->len, 1, b->cap - b->len, fp);
		b->len += r;
		if (r == 0)
			break;
	}
	if (ferror(fp)) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

static void
peak(void)
{
	char line[256];
	FILE *fp;

	if ((fp = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			fprintf(stderr, "peak %lld kB\n", strtoll(line + 6, NULL, 10));
	fclose(fp);
}

static int
magic(int argc, char *argv[])
{
	struct buf in = { 0 };

	for (int i = 2; i < argc; i++) {
		if (slurp(argv[i], &in) == -1) {
			fprintf(stderr, "unit-gunzip: %s: %s\n", argv[i], strerror(errno));
			return 2;
		}
		printf("%d\n", gunzip_is_gzip(in.len ? in.p : NULL, in.len));
	}
	buf_free(&in);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct buf in = { 0 }, out = { 0 };
	struct gunzip *g;
	struct kc_err err;
	long long cap;
	const char *why;
	int i = 1, quiet = 0, mem = 0, status = 0, r;

	if (argc > 1 && strcmp(argv[1], "magic") == 0)
		return magic(argc, argv);
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0)
			quiet = 1;
		else if (strcmp(argv[i], "-m") == 0)
			mem = 1;
		else
			break;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: unit-gunzip [-q] [-m] CAP FILE... | magic FILE...\n");
		return 2;
	}
	if (kc_strtoll(argv[i], 0, 1LL << 40, &cap, &why) == -1) {
		fprintf(stderr, "unit-gunzip: CAP: %s: '%s'\n", why, argv[i]);
		return 2;
	}
	if ((g = gunzip_new()) == NULL) {
		fprintf(stderr, "unit-gunzip: out of memory\n");
		return 3;
	}
	for (i++; i < argc; i++) {
		if (slurp(argv[i], &in) == -1) {
			fprintf(stderr, "unit-gunzip: %s: %s\n", argv[i], strerror(errno));
			status = 2;
			break;
		}
		r = gunzip_inflate(g, in.p, in.len, (size_t)cap, &out, &err);
		if (r == -2) {
			fprintf(stderr, "unit-gunzip: out of memory\n");
			status = 3;
			break;
		}
		if (r == -1) {
			if (out.len > (size_t)cap)
				abort();
			fprintf(stderr, "%s: %s\n", argv[i], err.msg);
			status = 1;
			continue;
		}
		if (out.len > (size_t)cap || out.cap <= out.len)
			abort();
		out.p[out.len] = '\0';
		if (!quiet && fwrite(out.p, 1, out.len, stdout) != out.len) {
			fprintf(stderr, "unit-gunzip: write error\n");
			status = 2;
			break;
		}
	}
	if (mem)
		peak();
	gunzip_free(g);
	buf_free(&in);
	buf_free(&out);
	if (fflush(stdout) == EOF && status == 0)
		status = 2;
	return status;
}
