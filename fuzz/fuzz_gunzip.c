/* libFuzzer entry point for gunzip.c alone: gzip data inflated under a small cap, by one
 * inflater and one buffer reused across inputs (as kincount reuses them across records).  An
 * input that starts with 1f is gzip data whole, under a cap of 4096 bytes, so the fixtures
 * seed it as they are; any other first byte chooses the cap (0 to 24,765 bytes) for the rest.
 * Checked: the result is 0, -1 or -2; the output never exceeds the cap; a success has its
 * spare byte and is the same under a larger cap; a rejection says why in one of the two
 * forms of the API, and when it is for size, a larger cap gives more bytes (or a rejection)
 * whose first cap bytes are the ones already inflated.  Built and run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gunzip.h"
#include "util.h"

#define TOO_LARGE	"gzip data larger than "
#define BROKEN		"broken gzip data: "

static struct gunzip	*g, *g2;
static struct buf	 out, out2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct kc_err err, err2;
	size_t cap = 4096, cap2;
	int r, r2;

	if (g == NULL && (g = gunzip_new()) == NULL)
		abort();
	if (g2 == NULL && (g2 = gunzip_new()) == NULL)
		abort();
	if (n > 0 && data[0] != 0x1f) {
		cap = (size_t)data[0] * 97;
		data++, n--;
	}
	if (gunzip_is_gzip(data, n) != (n >= 2 && data[0] == 0x1f && data[1] == 0x8b))
		abort();
	memset(&err, 0, sizeof(err));
	r = gunzip_inflate(g, n ? data : NULL, n, cap, &out, &err);
	if (r == -2)
		return 0;
	if (r != 0 && r != -1)
		abort();
	if (out.len > cap)
		abort();
	cap2 = cap * 4 + 65536;
	memset(&err2, 0, sizeof(err2));
	r2 = gunzip_inflate(g2, n ? data : NULL, n, cap2, &out2, &err2);
	if (r2 == -2)
		return 0;
	if (r == 0) {
		/* The spare byte is there to be written. */
		if (out.cap <= out.len)
			abort();
		out.p[out.len] = '\n';
		if (r2 != 0 || out2.len != out.len ||
		    (out.len > 0 && memcmp(out.p, out2.p, out.len) != 0))
			abort();
		return 0;
	}
	if (strncmp(err.msg, BROKEN, strlen(BROKEN)) == 0) {
		/* Broken under a small cap: broken or too large under a larger one. */
		if (r2 != -1)
			abort();
		return 0;
	}
	if (strncmp(err.msg, TOO_LARGE, strlen(TOO_LARGE)) != 0)
		abort();
	if (r2 == 0 && out2.len <= cap)
		abort();
	if (r2 == 0 && memcmp(out.p, out2.p, cap) != 0)
		abort();
	return 0;
}
