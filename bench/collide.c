/* bench/collide.c: keys that all fall into one slot of kincount's count table as it was
 * before issue 7 (an unkeyed multiply-xorshift hash, whose lowest bits chose the slot).
 *
 *	collide N [BITS]	N keys whose old hash has the same lowest BITS bits (17)
 *	collide -r N		N random keys of the same shape, for comparison
 *
 * Each key is 12 bytes, [A-Za-z0-9_-], written as a JSON line {"u":"KEY"} for
 * `kincount -c -f json -k '{u}'`.  The search is brute force: for each 8-byte prefix the
 * hash state after the first word is computed once, then every 4-byte tail is tried, which
 * costs one final mixing step each (about 2^BITS tries per key). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/* The old hash_bytes, for a 12-byte key: one whole word, then a 4-byte tail. */
static uint64_t
old_after_prefix(const unsigned char *p)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (12 * 0xff51afd7ed558ccdULL), w;

	memcpy(&w, p, 8);
	h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 31);
}

static uint64_t
old_finish(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x94d049bb133111ebULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

int
main(int argc, char *argv[])
{
	unsigned char key[13];
	long n, found = 0, prefix = 0;
	int bits = 17, random = 0;
	uint64_t mask, x = 0x2545f4914f6cdd1dULL;

	if (argc > 1 && strcmp(argv[1], "-r") == 0) {
		random = 1;
		argv++, argc--;
	}
	if (argc < 2 || (n = strtol(argv[1], NULL, 10)) <= 0) {
		fputs("usage: collide [-r] N [BITS]\n", stderr);
		return 2;
	}
	if (argc > 2)
		bits = atoi(argv[2]);
	mask = (1ULL << bits) - 1;
	key[12] = '\0';
	if (random) {
		for (long i = 0; i < n; i++) {
			for (int j = 0; j < 12; j++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				key[j] = (unsigned char)alpha[x & 63];
			}
			printf("{\"u\":\"%s\"}\n", key);
		}
		return 0;
	}
	for (;;) {
		/* Prefix: 'c' and the prefix number in base 64. */
		long v = prefix++;
		key[0] = 'c';
		for (int j = 1; j < 8; j++, v /= 64)
			key[j] = (unsigned char)alpha[v % 64];
		uint64_t h = old_after_prefix(key);
		for (uint32_t t = 0; t < (1u << 24); t++) {
			uint64_t w = (uint64_t)(unsigned char)alpha[t & 63] |
			    (uint64_t)(unsigned char)alpha[(t >> 6) & 63] << 8 |
			    (uint64_t)(unsigned char)alpha[(t >> 12) & 63] << 16 |
			    (uint64_t)(unsigned char)alpha[(t >> 18) & 63] << 24;
			if ((old_finish(h, w) & mask) != 0)
				continue;
			memcpy(key + 8, &w, 4);
			printf("{\"u\":\"%s\"}\n", key);
			if (++found == n)
				return fflush(stdout) == 0 ? 0 : 1;
		}
	}
}
