/* Reading input files.  A file whose first two bytes are the gzip magic is inflated on the
 * fly, member after member (`cat a.gz b.gz` is valid gzip); anything else is read as it is.
 * Pipes may be polled with a time limit, so the caller can flush while input is idle. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "input.h"

#define RAW_SIZE	(128 * 1024)

struct input {
	int		 fd;
	int		 regular;
	uint64_t	 consumed;
	int		 sniffed;	/* the first bytes were looked at */
	int		 gzip;
	int		 eof;
	z_stream	 z;
	unsigned char	*raw;		/* compressed bytes, or the first bytes of a plain file */
	size_t		 rawlen, rawpos;
};

struct input *
input_open(const char *path, struct kc_err *err)
{
	struct input *in;
	struct stat st;

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		return NULL;
	}
	if (strcmp(path, "-") == 0) {
		in->fd = STDIN_FILENO;
	} else if ((in->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		kc_errf(err, "%s", strerror(errno));
		free(in);
		return NULL;
	}
	if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		in->regular = 1;
	} else if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		kc_errf(err, "%s", strerror(EISDIR));
		input_close(in);
		return NULL;
	}
	if ((in->raw = malloc(RAW_SIZE)) == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		input_close(in);
		return NULL;
	}
	return in;
}

void
input_close(struct input *in)
{
	if (in == NULL)
		return;
	if (in->gzip)
		inflateEnd(&in->z);
	if (in->fd != STDIN_FILENO && in->fd >= 0)
		close(in->fd);
	free(in->raw);
	free(in);
}

/* Read raw bytes, waiting at most timeout_ms on a pipe when it is >= 0. */
static ssize_t
raw_read(struct input *in, void *p, size_t n, int timeout_ms)
{
	ssize_t r;

	if (timeout_ms >= 0 && !in->regular) {
		struct pollfd pfd = { in->fd, POLLIN, 0 };
		int k = poll(&pfd, 1, timeout_ms);
		if (k == 0)
			return INPUT_IDLE;
		if (k < 0)
			return -1;
	}
	r = read(in->fd, p, n);
	if (r > 0)
		in->consumed += (uint64_t)r;
	return r;
}

/* The first call: look for the gzip magic, reading until two bytes are there. */
static ssize_t
first_read(struct input *in, int timeout_ms)
{
	ssize_t r;

	while (in->rawlen < 2) {
		r = raw_read(in, in->raw + in->rawlen, RAW_SIZE - in->rawlen, timeout_ms);
		if (r <= 0) {
			if (r == 0)
				in->eof = 1;
			return r;
		}
		in->rawlen += (size_t)r;
	}
	if (in->raw[0] == 0x1f && in->raw[1] == 0x8b) {
		if (inflateInit2(&in->z, 16 + MAX_WBITS) != Z_OK) {
			errno = ENOMEM;
			return -1;
		}
		in->gzip = 1;
		in->z.next_in = in->raw;
		in->z.avail_in = (uInt)in->rawlen;
	}
	return 1;
}

static ssize_t
gz_read(struct input *in, char *p, size_t n, int timeout_ms)
{
	ssize_t r;
	int zr, waited = 0;

	for (;;) {
		if (in->z.avail_in == 0 && !in->eof) {
			/* Compressed bytes came but gave no output yet: the caller's time limit
			 * is for the whole call, so it decides whether to wait again. */
			if (waited && timeout_ms >= 0 && !in->regular)
				return INPUT_IDLE;
			waited = 1;
			r = raw_read(in, in->raw, RAW_SIZE, timeout_ms);
			if (r < 0)
				return r;
			if (r == 0)
				in->eof = 1;
			in->z.next_in = in->raw;
			in->z.avail_in = (uInt)r;
		}
		if (in->z.avail_in == 0 && in->eof) {
			/* The end, unless it came in the middle of a member. */
			if (in->z.total_in != 0 || in->z.total_out != 0) {
				errno = EILSEQ;
				return -1;
			}
			return 0;
		}
		in->z.next_out = (unsigned char *)p;
		in->z.avail_out = (uInt)(n > 1u << 30 ? 1u << 30 : n);
		zr = inflate(&in->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			size_t got = (size_t)(in->z.next_out - (unsigned char *)p);
			/* Another member may follow. */
			inflateReset(&in->z);
			if (got > 0)
				return (ssize_t)got;
			continue;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			errno = EILSEQ;
			return -1;
		}
		if (in->z.next_out != (unsigned char *)p)
			return (ssize_t)(in->z.next_out - (unsigned char *)p);
	}
}

ssize_t
input_read(struct input *in, char *p, size_t n, int timeout_ms)
{
	ssize_t r;

	if (!in->sniffed) {
		if ((r = first_read(in, timeout_ms)) < 0)
			return r;
		in->sniffed = 1;
	}
	if (in->gzip)
		return gz_read(in, p, n, timeout_ms);
	if (in->rawpos < in->rawlen) {
		size_t k = in->rawlen - in->rawpos;
		if (k > n)
			k = n;
		memcpy(p, in->raw + in->rawpos, k);
		in->rawpos += k;
		return (ssize_t)k;
	}
	if (in->eof)
		return 0;
	return raw_read(in, p, n, timeout_ms);
}

int
input_regular(const struct input *in)
{
	return in->regular;
}

uint64_t
input_consumed(const struct input *in)
{
	return in->consumed;
}
