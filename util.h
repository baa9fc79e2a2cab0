/* Small helpers shared by every module: growable byte buffers, a fixed-size error message,
 * checked number conversion, and the escapes used for untrusted text. */
#ifndef KC_UTIL_H
#define KC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A growable byte buffer.  p may be NULL while cap is 0.  Never NUL-terminated unless a
 * caller appends the NUL itself. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* Bytes with their length, borrowed. */
struct text {
	const char	*p;
	size_t		 n;
};

/* An error message filled by a module and printed by the run (run.c) or kincount.c. */
struct kc_err {
	char	 msg[512];	/* room for a message that names a checkpoint and its fix */
};

void	 kc_errf(struct kc_err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* Make room for n more bytes; returns 0, or -1 when memory is exhausted. */
int	 buf_reserve(struct buf *, size_t n);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addc(struct buf *, int);
void	 buf_free(struct buf *);

/* Parse a whole decimal integer in [min, max].  Returns 0, or -1 with errno-free reasons in
 * *why ("invalid number", "out of range"). */
int	 kc_strtoll(const char *, long long min, long long max, long long *,
	    const char **why);

/* Append text escaped for a diagnostic line: printable ASCII and valid UTF-8 as they are,
 * everything else as \xHH, so no raw control byte reaches a terminal or a log. */
int	 buf_add_escaped(struct buf *, const char *, size_t);

/* 1 when the bytes are valid UTF-8: no overlong forms, no surrogates (U+D800-U+DFFF), nothing
 * above U+10FFFF, no sequence cut short, no stray continuation byte. */
int	 utf8_valid(const char *, size_t);
/* The length (1 to 4) of the valid UTF-8 sequence at p, of at most n > 0 bytes, or 0 when no
 * valid sequence starts there. */
size_t	 utf8_seq(const unsigned char *p, size_t n);

/* What a key may not hold: a control byte (below 0x20, or 0x7f), or bytes that are not
 * valid UTF-8.  The first problem found is returned; ASCII text is checked eight bytes at a
 * time. */
enum text_check { TEXT_OK, TEXT_CONTROL, TEXT_BAD_UTF8 };
enum text_check text_check(const char *, size_t);

/* The clock id (CLOCK_MONOTONIC, CLOCK_REALTIME) in milliseconds. */
int64_t	 kc_clock_ms(clockid_t);
/* Seconds from t0 to now, on CLOCK_MONOTONIC. */
double	 kc_secs_since(const struct timespec *t0);

/* Standard base64 with padding, on one line. */
int	 buf_add_base64(struct buf *, const void *, size_t);

/* The secret key of hash_bytes: 128 bits from getrandom(2), new for each table. */
struct hash_key {
	uint64_t	 k0, k1;
};

void	 hash_key_random(struct hash_key *);
/* SipHash-1-3 of a byte string under key k; the bytes may be NULL when n is 0. */
uint64_t hash_bytes(const struct hash_key *k, const void *, size_t n);


/* Why an item was rejected: the category used for rate limiting and the summary. */
enum kc_reason {
	R_JSON,			/* invalid JSON */
	R_DEPTH,		/* too deeply nested */
	R_ENVELOPE,		/* not a Lambda event / get-records page / Firehose event */
	R_RECORD,		/* record is not an object, has no data, data not a string */
	R_BASE64,		/* invalid base64 */
	R_TOO_LARGE,		/* record too large */
	R_NOT_OBJECT,		/* payload is not a JSON object */
	R_FIELD,		/* field is an object or array */
	R_MISSING,		/* field is missing (--missing reject) */
	R_TIME,			/* field is not a time */
	R_KEY,			/* key has a control byte, or is too long */
	R_SEQ,			/* bad sequence number (--checkpoint) */
	R_REFUSED,		/* refused by Redis */
	R_KPL,			/* bad KPL aggregate */
	R_GZIP,			/* broken gzip data */
	R_LOGS,			/* bad CloudWatch Logs message or log event */
	R_NREASONS
};

extern const char *const kc_reason_name[R_NREASONS];

/* Read a time: a JSON number as written (epoch seconds below 1e11, milliseconds below 1e14,
 * microseconds above), or a string holding such a number or an ISO-8601 date or date-time.
 * A date that does not exist (2015-02-29, 2015-04-31, month 13, hour 24, minute 60) is not a
 * time; second 60 (a leap second) is read as second 59 of the same minute.  A date or
 * date-time without an offset is UTC, or, when local is set, local time in TZ: a local time
 * that happens twice (clocks turned back) is the first of the two, and one that is skipped
 * (clocks turned forward) is read with the offset in force before the change, as Python's
 * datetime does with fold=0.  A date-time with an offset ignores TZ.  Returns 0 with whole
 * seconds in *secs (rounded down), or -1 when the text is not a time. */
int	 kc_time_parse(const char *, size_t, int is_string, int local, int64_t *secs);
/* Read a number of epoch seconds (unit 1), milliseconds (1000) or microseconds (1000000),
 * or (unit 0) of the unit its size says, as kc_time_parse does.  Returns 0 with whole
 * seconds in *secs (rounded down), or -1. */
int	 kc_epoch_parse(const char *, size_t, int64_t unit, int64_t *secs);

#endif
