/*
 * readpath: the measurements behind two choices of kincount's read path, for the README's
 * Dependencies paragraph and bench/RESULTS.md.
 *
 *   readpath parse FILE   times three ways to read FILE, a workload of bench/gen.c with one
 *                         JSON document a line (L: Lambda events, N: NDJSON events): YAJL's
 *                         streaming parser with callbacks that keep nothing (what kincount
 *                         does), YAJL's document tree (yajl_tree_parse), and jansson's
 *                         document tree (json_loadb), each document parsed then freed.
 *                         Prints seconds (the best of three) and MB/s for each.
 *   readpath b64          feeds libb64's decoder base64 that Kinesis never writes and that
 *                         kincount rejects, and prints what libb64 makes of each: its
 *                         returned length, and whether it wrote past that length.  Then
 *                         times libb64 on 1,000,000 copies of a 228-byte record's base64.
 *
 * Built by hand (it is not part of make bench):
 *   cc -O2 bench/readpath.c $(pkg-config --cflags --libs yajl jansson) -lb64 -o readpath
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <b64/cdecode.h>
#include <jansson.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

static int	nop(void *);
static int	nop_bool(void *, int);
static int	nop_num(void *, const char *, size_t);
static int	nop_str(void *, const unsigned char *, size_t);
static double	now(void);
static char	*slurp(const char *, size_t *);
static double	time_yajl_stream(const char *, size_t);
static double	time_yajl_tree(const char *, size_t);
static double	time_jansson(const char *, size_t);
static int	parse(const char *);
static int	b64(void);

static const yajl_callbacks callbacks = {
	nop, nop_bool, NULL, NULL, nop_num, nop_str, nop, nop_str, nop, nop, nop,
};

static int
nop(void *ctx)
{
	(void)ctx;
	return 1;
}

static int
nop_bool(void *ctx, int b)
{
	(void)ctx; (void)b;
	return 1;
}

static int
nop_num(void *ctx, const char *s, size_t n)
{
	(void)ctx; (void)s; (void)n;
	return 1;
}

static int
nop_str(void *ctx, const unsigned char *s, size_t n)
{
	(void)ctx; (void)s; (void)n;
	return 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The whole file, NUL-terminated (yajl_tree_parse wants a string); caller frees. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f;
	char *p;
	long n;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (p = malloc(n + 1)) == NULL ||
	    fread(p, 1, n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
}

/* One streaming pass over every document, as kincount reads its input. */
static double
time_yajl_stream(const char *p, size_t n)
{
	yajl_handle h;
	double t;

	t = now();
	h = yajl_alloc(&callbacks, NULL, NULL);
	yajl_config(h, yajl_allow_multiple_values, 1);
	if (yajl_parse(h, (const unsigned char *)p, n) != yajl_status_ok ||
	    yajl_complete_parse(h) != yajl_status_ok) {
		fprintf(stderr, "readpath: yajl_parse failed\n");
		exit(1);
	}
	yajl_free(h);
	return now() - t;
}

/* A document tree per line, built and freed. */
static double
time_yajl_tree(const char *p, size_t n)
{
	char *line, *copy, err[128];
	const char *end = p + n, *nl;
	yajl_val v;
	double t;

	if ((copy = malloc(n + 1)) == NULL)
		exit(1);
	t = now();
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', end - p);
		if (nl == NULL)
			nl = end;
		line = copy;
		memcpy(line, p, nl - p);	/* yajl_tree_parse needs a string */
		line[nl - p] = '\0';
		if ((v = yajl_tree_parse(line, err, sizeof(err))) == NULL) {
			fprintf(stderr, "readpath: yajl_tree_parse: %s\n", err);
			exit(1);
		}
		yajl_tree_free(v);
	}
	t = now() - t;
	free(copy);
	return t;
}

/* A jansson tree per line, built and freed. */
static double
time_jansson(const char *p, size_t n)
{
	const char *end = p + n, *nl;
	json_error_t err;
	json_t *v;
	double t;

	t = now();
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', end - p);
		if (nl == NULL)
			nl = end;
		if ((v = json_loadb(p, nl - p, 0, &err)) == NULL) {
			fprintf(stderr, "readpath: json_loadb: %s\n", err.text);
			exit(1);
		}
		json_decref(v);
	}
	return now() - t;
}

static int
parse(const char *path)
{
	static const struct {
		const char *name;
		double (*fn)(const char *, size_t);
	} ways[] = {
		{ "YAJL yajl_parse, callbacks (streaming)", time_yajl_stream },
		{ "YAJL yajl_tree_parse (document tree)", time_yajl_tree },
		{ "jansson json_loadb (document tree)", time_jansson },
	};
	double best, t;
	size_t n, i;
	char *p;
	int r;

	p = slurp(path, &n);
	printf("%s: %.1f MB\n", path, n / 1e6);
	for (i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		best = 1e9;
		for (r = 0; r < 3; r++)
			if ((t = ways[i].fn(p, n)) < best)
				best = t;
		printf("  %-40s %7.3f s  %6.0f MB/s\n", ways[i].name, best, n / 1e6 / best);
	}
	free(p);
	return 0;
}

static int
b64(void)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "QUJD", "valid: ABC" },
		{ "QU!JD", "a character outside the alphabet" },
		{ "QU JD", "a blank inside" },
		{ "QUJ", "a length that is not a multiple of 4" },
		{ "QQ==QUJD", "padding in the middle" },
		{ "QR==", "non-zero pad bits" },
		{ "QUJD-_", "the URL-safe alphabet" },
	};
	char out[64], rec[229], *big;
	base64_decodestate st;
	size_t i, j, past;
	double t;
	int n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xAA, sizeof(out));
		base64_init_decodestate(&st);
		n = base64_decode_block(cases[i].in, strlen(cases[i].in), out, &st);
		for (past = 0, j = n; j < sizeof(out); j++)
			if ((unsigned char)out[j] != 0xAA)
				past++;
		printf("  %-10s %-38s returns %d bytes%s\n", cases[i].in, cases[i].why, n,
		    past ? ", and wrote past them" : "");
	}
	/* A 171-byte event is 228 characters of base64. */
	for (j = 0; j < 228; j++)
		rec[j] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[j * 7 % 64];
	rec[228] = '\0';
	if ((big = malloc(1000)) == NULL)
		return 1;
	t = now();
	for (i = 0; i < 1000000; i++) {
		base64_init_decodestate(&st);
		if (base64_decode_block(rec, 228, big, &st) != 171)
			return 1;
	}
	t = now() - t;
	printf("  1,000,000 records of 228 characters: %.3f s, %.0f MB/s of base64\n", t,
	    228.0 / t);
	free(big);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "parse") == 0)
		return parse(argv[2]);
	if (argc == 2 && strcmp(argv[1], "b64") == 0)
		return b64();
	fprintf(stderr, "usage: readpath parse FILE | readpath b64\n");
	return 2;
}
