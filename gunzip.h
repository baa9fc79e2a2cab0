/* Record data compressed with gzip: one or more members inflated into a buffer, with a cap on
 * the output so that a gzip bomb is stopped at the cap, never followed to its end. */
#ifndef KC_GUNZIP_H
#define KC_GUNZIP_H

#include <stddef.h>

#include "util.h"

struct gunzip;

/* A new inflater; caller frees with gunzip_free.  NULL when out of memory. */
struct gunzip	*gunzip_new(void);
/* Accepts NULL. */
void		 gunzip_free(struct gunzip *);
/* 1 when data starts with the gzip magic 1f 8b, else 0. */
int		 gunzip_is_gzip(const void *data, size_t n);
/* Inflate data (one or more gzip members, read one after another as zcat does) into out,
 * replacing what out held, at most cap bytes.  Zero bytes after the last member are padding
 * and ignored, as gzip -t does; anything else after it is garbage.  Returns 0; -1 with err
 * filled ("gzip data larger than N bytes" when it would exceed cap; "broken gzip data:
 * REASON" otherwise: a bad header, a CRC or length mismatch, a truncated member, garbage
 * after the last member); -2 when memory ran out.  No allocation once out and the zlib state
 * have grown.  out gets one spare byte past out->len that the caller may overwrite; data is
 * borrowed for the call. */
int		 gunzip_inflate(struct gunzip *, const void *data, size_t n, size_t cap,
		    struct buf *out, struct kc_err *err);

#endif
