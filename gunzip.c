/* Record data compressed with gzip (CloudWatch Logs subscriptions deliver it so): the members
 * are inflated one after another, as zcat reads them, into one buffer whose size is capped, so
 * that a gzip bomb stops at the cap instead of being followed to its end.  One zlib state is
 * kept and reset for each record and member; the window and the output buffer grow once and
 * are reused.  What is accepted is what `gzip -t` accepts with status 0: every member whole,
 * its CRC-32 and length right, and after the last member nothing, or zero bytes only (the
 * padding gzip ignores silently).  Anything else after a member that does not start a new
 * one is garbage and rejects the record, where gzip only warns. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "gunzip.h"

/* 15 bits of window, and 16 for the gzip wrapper only (no zlib or raw deflate streams). */
#define GZ_WBITS	(15 + 16)
#define OUT_FIRST	8192

struct gunzip {
	z_stream	 z;
};

static int	out_grow(struct buf *, size_t limit);
static int	all_zero(const unsigned char *, size_t);
static const char *reason(const z_stream *);

struct gunzip *
gunzip_new(void)
{
	struct gunzip *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if (inflateInit2(&g->z, GZ_WBITS) != Z_OK) {
		free(g);
		return NULL;
	}
	return g;
}

void
gunzip_free(struct gunzip *g)
{
	if (g == NULL)
		return;
	inflateEnd(&g->z);
	free(g);
}

int
gunzip_is_gzip(const void *data, size_t n)
{
	const unsigned char *p = data;

	return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Room for more output: double the buffer (at least OUT_FIRST bytes), never past limit. */
static int
out_grow(struct buf *b, size_t limit)
{
	size_t nc;
	char *np;

	nc = b->cap < OUT_FIRST ? OUT_FIRST : b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
	if (nc > limit)
		nc = limit;
	if (nc <= b->cap)
		return 0;
	if ((np = realloc(b->p, nc)) == NULL)
		return -1;
	b->p = np;
	b->cap = nc;
	return 0;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	while (n > 0 && *p == 0)
		p++, n--;
	return n == 0;
}

/* zlib's words for a broken stream, with its two checks named plainly. */
static const char *
reason(const z_stream *z)
{
	if (z->msg == NULL)
		return "invalid data";
	if (strcmp(z->msg, "incorrect data check") == 0)
		return "CRC-32 mismatch";
	if (strcmp(z->msg, "incorrect length check") == 0)
		return "length mismatch";
	return z->msg;
}

int
gunzip_inflate(struct gunzip *g, const void *data, size_t n, size_t cap, struct buf *out,
    struct kc_err *err)
{
	const unsigned char *in = data;
	z_stream *z = &g->z;
	size_t limit, pos = 0, room, off;
	uInt give;
	int r;

	/* cap bytes and one more: the byte that proves the data is larger than cap, and on
	 * success the spare byte promised to the caller. */
	limit = cap < SIZE_MAX ? cap + 1 : SIZE_MAX;
	out->len = 0;
	if (inflateReset(z) != Z_OK) {
		kc_errf(err, "broken gzip data: %s", "zlib state lost");
		return -1;
	}
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = 0;
	for (;;) {
		/* Input is handed over in pieces that fit zlib's unsigned int counts. */
		if (z->avail_in == 0 && pos < n) {
			give = n - pos > UINT_MAX ? UINT_MAX : (uInt)(n - pos);
			z->next_in = (Bytef *)(uintptr_t)(in + pos);
			z->avail_in = give;
			pos += give;
		}
		room = (out->cap < limit ? out->cap : limit) - out->len;
		if (room == 0) {
			if (out_grow(out, limit) == -1)
				return -2;
			room = (out->cap < limit ? out->cap : limit) - out->len;
		}
		if (room > UINT_MAX)
			room = UINT_MAX;
		z->next_out = (Bytef *)out->p + out->len;
		z->avail_out = (uInt)room;
		r = inflate(z, Z_NO_FLUSH);
		out->len += room - z->avail_out;
		if (out->len > cap) {
			out->len = cap;
			kc_errf(err, "gzip data larger than %zu bytes", cap);
			return -1;
		}
		switch (r) {
		case Z_OK:
			continue;
		case Z_STREAM_END:
			break;
		case Z_BUF_ERROR:
			/* No progress: either the output is full (grown above) or the input
			 * ended inside a member. */
			if (z->avail_out == 0)
				continue;
			if (z->avail_in == 0 && pos == n) {
				kc_errf(err, "broken gzip data: %s", "unexpected end of data");
				return -1;
			}
			kc_errf(err, "broken gzip data: %s", reason(z));
			return -1;
		case Z_MEM_ERROR:
			return -2;
		default:
			kc_errf(err, "broken gzip data: %s", reason(z));
			return -1;
		}
		/* A member ended: what follows is nothing, zero padding, or another member. */
		off = (size_t)((const unsigned char *)z->next_in - in);
		if (all_zero(in + off, n - off))
			break;
		if (in[off] != 0x1f || (n - off >= 2 && in[off + 1] != 0x8b)) {
			kc_errf(err, "broken gzip data: %s", "garbage after the last member");
			return -1;
		}
		/* A lone 1f at the end goes to inflate, which finds the header cut short. */
		if (inflateReset(z) != Z_OK) {
			kc_errf(err, "broken gzip data: %s", "zlib state lost");
			return -1;
		}
	}
	if (out->len == out->cap && out_grow(out, limit) == -1)
		return -2;
	return 0;
}
