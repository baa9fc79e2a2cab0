/* Helpers every module shares: growable buffers, error messages, the one checked number
 * converter, escaping of untrusted bytes for diagnostics, UTF-8 validation, base64 encoding
 * (for dead-letter lines) and the hash used by the count tables. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void
kc_errf(struct kc_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->cap - b->len >= n)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -1;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	if ((np = realloc(b->p, cap)) == NULL)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_addc(struct buf *b, int c)
{
	if (b->len == b->cap && buf_reserve(b, 1) == -1)
		return -1;
	b->p[b->len++] = (char)c;
	return 0;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int
kc_strtoll(const char *s, long long min, long long max, long long *out, const char **why)
{
	char *end;
	long long v;

	errno = 0;
	if (*s == '\0' || *s == ' ' || *s == '\t') {
		*why = "invalid number";
		return -1;
	}
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*why = "invalid number";
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		*why = "out of range";
		return -1;
	}
	*out = v;
	return 0;
}

/* The bytes that can start a UTF-8 sequence, by length: C2-DF two, E0-EF three, F0-F4
 * four.  C0, C1 and F5-FF start nothing (they could only make overlongs or code points above
 * U+10FFFF), and a continuation byte (80-BF) cannot start one either. */
size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;	/* overlong: below U+0800 */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;	/* a surrogate, U+D800-U+DFFF */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;	/* overlong: below U+10000 */
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;	/* above U+10FFFF */
		return 4;
	}
	return 0;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/* A word with a byte below 0x20 or equal to 0x7f, for a word of ASCII bytes only (no high
 * bit set): "has a byte less than 0x20" and "has a zero byte after xor with 0x7f". */
static inline int
word_has_control(uint64_t x)
{
	uint64_t y = x ^ (ONES * 0x7f);

	return ((((x - ONES * 0x20) & ~x) | ((y - ONES) & ~y)) & HIGHS) != 0;
}

/* The one scan behind utf8_valid and text_check: UTF-8, and control bytes when asked
 * (controls is a constant where it is inlined, so each caller gets its own loop). */
static inline __attribute__((always_inline)) enum text_check
text_scan(const char *s, size_t n, int controls)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint64_t w;

	while (i < n) {
		/* ASCII eight bytes at a time: the usual text is all ASCII. */
		if (n - i >= 8) {
			memcpy(&w, p + i, 8);
			if ((w & HIGHS) == 0) {
				if (controls && word_has_control(w))
					return TEXT_CONTROL;
				i += 8;
				continue;
			}
		}
		if (p[i] < 0x80) {
			if (controls && (p[i] < 0x20 || p[i] == 0x7f))
				return TEXT_CONTROL;
			i++;
			continue;
		}
		if ((k = utf8_seq(p + i, n - i)) == 0)
			return TEXT_BAD_UTF8;
		i += k;
	}
	return TEXT_OK;
}

int
utf8_valid(const char *s, size_t n)
{
	return text_scan(s, n, 0) == TEXT_OK;
}

enum text_check
text_check(const char *s, size_t n)
{
	return text_scan(s, n, 1);
}

int
buf_add_escaped(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			if (buf_addc(b, p[i++]) == -1)
				return -1;
			continue;
		}
		if (p[i] >= 0x80 && (k = utf8_seq(p + i, n - i)) > 0) {
			if (buf_add(b, p + i, k) == -1)
				return -1;
			i += k;
			continue;
		}
		if (p[i] == '\\') {
			if (buf_add(b, "\\\\", 2) == -1)
				return -1;
		} else {
			char e[4] = { '\\', 'x', hex[p[i] >> 4], hex[p[i] & 15] };
			if (buf_add(b, e, 4) == -1)
				return -1;
		}
		i++;
	}
	return 0;
}

int
buf_add_base64(struct buf *b, const void *data, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i;
	char *o;

	if (buf_reserve(b, (n + 2) / 3 * 4) == -1)
		return -1;
	o = b->p + b->len;
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = '=';
	}
	b->len = (size_t)(o - b->p);
	return 0;
}

/* SipHash-1-3 (Aumasson and Bernstein; the variant Redis uses for its own tables), keyed
 * with 128 random bits per run, so that nobody who picks the keys can pick their hashes:
 * the count tables take keys from the input, and an unkeyed hash let crafted keys all land
 * in one slot (hash flooding).  The rounds are SIPROUNDS_C per word and SIPROUNDS_D at the
 * end. */
#define SIPROUNDS_C	1
#define SIPROUNDS_D	3
#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

void
hash_key_random(struct hash_key *k)
{
	uint64_t b[2];
	struct timespec ts;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* No getrandom(2) (a kernel before 3.17): the clock and the addresses still
		 * differ from run to run, which is all an attacker cannot see in advance. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		b[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		b[1] = (uint64_t)(uintptr_t)k * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)ts.tv_sec;
	}
	k->k0 = b[0];
	k->k1 = b[1];
}

uint64_t
hash_bytes(const struct hash_key *k, const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL, v1 = k->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL, v3 = k->k1 ^ 0x7465646279746573ULL;
	uint64_t m, last = (uint64_t)n << 56;
	size_t i;

	/* p may be NULL when n is 0: nothing below reads it then. */
	for (; n >= 8; p += 8, n -= 8) {
		m = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
		    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
		    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
		v3 ^= m;
		for (i = 0; i < SIPROUNDS_C; i++)
			SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < n; i++)
		last |= (uint64_t)p[i] << (8 * i);
	v3 ^= last;
	for (i = 0; i < SIPROUNDS_C; i++)
		SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	for (i = 0; i < SIPROUNDS_D; i++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

const char *const kc_reason_name[R_NREASONS] = {
	[R_JSON] = "invalid JSON",
	[R_DEPTH] = "too deeply nested",
	[R_ENVELOPE] = "bad envelope",
	[R_RECORD] = "bad record",
	[R_BASE64] = "invalid base64",
	[R_TOO_LARGE] = "record too large",
	[R_NOT_OBJECT] = "not an object",
	[R_FIELD] = "bad field",
	[R_MISSING] = "missing field",
	[R_TIME] = "bad time",
	[R_KEY] = "bad key",
	[R_SEQ] = "bad sequence number",
	[R_REFUSED] = "refused by Redis",
	[R_KPL] = "bad KPL aggregate",
	[R_GZIP] = "broken gzip data",
	[R_LOGS] = "bad log message",
};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Read exactly k digits at s[*i]. */
static int
digits(const char *s, size_t n, size_t *i, int k, int *v)
{
	int r = 0;

	if (*i + (size_t)k > n)
		return -1;
	for (int j = 0; j < k; j++) {
		char c = s[*i + (size_t)j];
		if (c < '0' || c > '9')
			return -1;
		r = r * 10 + (c - '0');
	}
	*i += (size_t)k;
	*v = r;
	return 0;
}

#define TIME_MAX_SECS	253402300799LL	/* 9999-12-31T23:59:59Z */
#define SECS_PER_DAY	86400

static int
is_leap(int y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int
days_in_month(int y, int m)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The offset from UTC, in seconds, of local time (TZ) at the instant t. */
static int
local_offset(int64_t t, long *off)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

/* The instant of a local wall-clock time, given as seconds since the epoch as if the wall
 * clock were UTC.  Not mktime(3): with tm_isdst -1 it guesses for a time that happens twice
 * or not at all, and glibc's guess depends on the previous call, so the same record could
 * get different keys.  Here the offset in force just before a change wins, as with Python's
 * fold=0: the first of two equal wall times, and for a skipped one the offset it would have
 * had.  Offsets change at most once in a day, so a day before and a day after give the two
 * candidates. */
static int
local_to_utc(int64_t wall, int64_t *t)
{
	long before, after, o;

	if (local_offset(wall - SECS_PER_DAY, &before) == -1 ||
	    local_offset(wall + SECS_PER_DAY, &after) == -1 ||
	    local_offset(wall - before, &o) == -1)
		return -1;
	if (o == before) {
		*t = wall - before;
		return 0;
	}
	if (local_offset(wall - after, &o) == -1)
		return -1;
	*t = o == after ? wall - after : wall - before;
	return 0;
}

static int
parse_iso(const char *s, size_t n, int local, int64_t *secs)
{
	int y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0, sign = 0;
	size_t i = 0;
	int64_t t;

	if (digits(s, n, &i, 4, &y) == -1 || i >= n || s[i++] != '-' ||
	    digits(s, n, &i, 2, &mo) == -1 || i >= n || s[i++] != '-' ||
	    digits(s, n, &i, 2, &d) == -1)
		return -1;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
		i++;
		if (digits(s, n, &i, 2, &h) == -1 || i >= n || s[i++] != ':' ||
		    digits(s, n, &i, 2, &mi) == -1)
			return -1;
		if (i < n && s[i] == ':') {
			i++;
			if (digits(s, n, &i, 2, &se) == -1)
				return -1;
			if (i < n && (s[i] == '.' || s[i] == ',')) {
				i++;
				if (i >= n || s[i] < '0' || s[i] > '9')
					return -1;
				while (i < n && s[i] >= '0' && s[i] <= '9')
					i++;
			}
		}
		if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
			sign = 1;
		} else if (i < n && (s[i] == '+' || s[i] == '-')) {
			sign = s[i++] == '-' ? -1 : 1;
			if (digits(s, n, &i, 2, &oh) == -1)
				return -1;
			if (i < n && s[i] == ':') {
				i++;
				if (digits(s, n, &i, 2, &om) == -1)
					return -1;	/* a colon needs the minutes */
			} else if (i < n && digits(s, n, &i, 2, &om) == -1) {
				return -1;
			}
		}
	}
	/* Only dates and times that exist: nothing rolls over into the next day or month. */
	if (i != n || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || se > 60 || oh > 23 || om > 59)
		return -1;
	/* POSIX time has no leap seconds: 23:59:60 stays in its minute (and day) as :59. */
	if (se == 60)
		se = 59;
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * SECS_PER_DAY + h * 3600 +
	    mi * 60 + se;
	if (sign == 0 && local)
		return local_to_utc(t, secs);
	*secs = t - (int64_t)sign * (oh * 3600 + om * 60);
	return 0;
}

int
kc_epoch_parse(const char *s, size_t n, int64_t unit, int64_t *secs)
{
	char tmp[64], *end;
	double v, a;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	/* The common shapes, 1450478021000 and 1545084650.987, without strtod: a
	 * non-negative number's whole part decides the unit (when it is guessed) and the
	 * rounding down. */
	if (s[0] >= '0' && s[0] <= '9') {
		int64_t whole = 0;
		size_t i = 0, lim = n < 18 ? n : 18;
		unsigned d;
		while (i < lim && (d = (unsigned)(unsigned char)s[i] - '0') <= 9) {
			whole = whole * 10 + d;
			i++;
		}
		if (i < n && s[i] == '.') {
			size_t j = i + 1;
			while (j < n && (unsigned)(unsigned char)s[j] - '0' <= 9)
				j++;
			if (j > i + 1 && j == n)
				i = n;
		}
		if (i == n) {
			if (unit == 0)
				unit = whole < 100000000000LL ? 1 :
				    whole < 100000000000000LL ? 1000 : 1000000;
			*secs = unit == 1 ? whole : whole / unit;
			return *secs <= TIME_MAX_SECS ? 0 : -1;
		}
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	/* Only JSON-like numbers: strtod would also take "inf", "nan" and hex. */
	for (size_t i = 0; i < n; i++)
		if (!((tmp[i] >= '0' && tmp[i] <= '9') || tmp[i] == '.' || tmp[i] == 'e' ||
		    tmp[i] == 'E' || tmp[i] == '+' || tmp[i] == '-'))
			return -1;
	errno = 0;
	v = strtod(tmp, &end);
	if (*end != '\0' || errno == ERANGE || v != v)
		return -1;
	a = v < 0 ? -v : v;
	if (unit == 0)
		unit = a >= 1e14 ? 1000000 : a >= 1e11 ? 1000 : 1;
	v /= (double)unit;
	if (v > (double)TIME_MAX_SECS || v < -(double)TIME_MAX_SECS)
		return -1;
	*secs = (int64_t)floor(v);
	return 0;
}

int
kc_time_parse(const char *s, size_t n, int is_string, int local, int64_t *secs)
{
	if (is_string && n >= 10 && s[4] == '-')
		return parse_iso(s, n, local, secs);
	return kc_epoch_parse(s, n, 0, secs);
}

int64_t
kc_clock_ms(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

double
kc_secs_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}
