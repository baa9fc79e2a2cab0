/*
 * yajlscan: the floor for kincount's instruction count.  It feeds a file
 * (or standard input) through YAJL's streaming parser with callbacks that
 * do nothing, accepting several documents in a row as kincount does, and
 * prints nothing.  bench/run.sh callgrind counts its instructions next to
 * kincount's on the same bytes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>

static int	cb_null(void *);
static int	cb_boolean(void *, int);
static int	cb_number(void *, const char *, size_t);
static int	cb_string(void *, const unsigned char *, size_t);
static int	cb_map_key(void *, const unsigned char *, size_t);
static int	cb_start(void *);
static int	cb_end(void *);

static const yajl_callbacks callbacks = {
	cb_null,
	cb_boolean,
	NULL,		/* integer: unused when number is set */
	NULL,		/* double: unused when number is set */
	cb_number,
	cb_string,
	cb_start,
	cb_map_key,
	cb_end,
	cb_start,
	cb_end,
};

static int
cb_null(void *ctx)
{
	(void)ctx;
	return 1;
}

static int
cb_boolean(void *ctx, int b)
{
	(void)ctx; (void)b;
	return 1;
}

static int
cb_start(void *ctx)
{
	(void)ctx;
	return 1;
}

static int
cb_end(void *ctx)
{
	(void)ctx;
	return 1;
}

static int
cb_number(void *ctx, const char *s, size_t n)
{
	(void)ctx; (void)s; (void)n;
	return 1;
}

static int
cb_string(void *ctx, const unsigned char *s, size_t n)
{
	(void)ctx; (void)s; (void)n;
	return 1;
}

static int
cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
	(void)ctx; (void)s; (void)n;
	return 1;
}

int
main(int argc, char *argv[])
{
	static unsigned char buf[65536];
	yajl_handle h;
	yajl_status st;
	unsigned char *msg;
	ssize_t n;
	int fd = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: yajlscan [file]\n");
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "-") != 0 &&
	    (fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return 1;
	}
	if ((h = yajl_alloc(&callbacks, NULL, NULL)) == NULL) {
		fprintf(stderr, "yajlscan: out of memory\n");
		return 1;
	}
	yajl_config(h, yajl_allow_multiple_values, 1);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if ((st = yajl_parse(h, buf, (size_t)n)) != yajl_status_ok)
			goto fail;
	}
	if (n == -1) {
		perror("yajlscan: read");
		return 1;
	}
	if ((st = yajl_complete_parse(h)) != yajl_status_ok)
		goto fail;
	yajl_free(h);
	return 0;

fail:
	msg = yajl_get_error(h, 0, NULL, 0);
	fprintf(stderr, "yajlscan: %s", (char *)msg);
	yajl_free_error(h, msg);
	yajl_free(h);
	return 1;
}
