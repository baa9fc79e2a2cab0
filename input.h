/* Input files: a path or standard input, gzip decompressed transparently (like zcat -f),
 * and reads that can wait for at most a given time so that idle pipes can be noticed. */
#ifndef KC_INPUT_H
#define KC_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define INPUT_IDLE	(-2)

struct input;

/* "-" is standard input.  NULL with err filled (the system's reason) when it cannot be
 * opened. */
struct input	*input_open(const char *path, struct kc_err *);
void		 input_close(struct input *);

/* Read up to n bytes.  With timeout_ms >= 0 on a pipe or terminal, wait at most that long
 * for data.  Returns the count, 0 at the end, INPUT_IDLE (nothing to return in time; also,
 * early, when compressed bytes came that gave no output yet), or -1 (errno set; EINTR when
 * a signal came; EILSEQ for broken gzip data). */
ssize_t		 input_read(struct input *, char *, size_t n, int timeout_ms);

/* 1 for a regular file, which never waits: read timeouts and idle pipes do not apply. */
int		 input_regular(const struct input *);
uint64_t	 input_consumed(const struct input *);	/* raw bytes read so far */

#endif
