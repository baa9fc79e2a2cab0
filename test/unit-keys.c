/* A driver for test/31-keys-exact.bats: module functions called directly, where the program
 * cannot reach them (yet) from its input.
 *
 *   unit-keys utf8       each stdin line is bytes in hex; prints "V C" per line: V is
 *                        utf8_valid (0 or 1), C is text_check (0 ok, 1 control, 2 not UTF-8)
 *   unit-keys badutf8    hand-built events whose slots are all SLOT_BADUTF8 (a string whose
 *                        escapes are not valid UTF-8), through --where, a key template and
 *                        --time-field; prints what tmpl_match and tmpl_expand return
 *   unit-keys emptykey   a key that expands to nothing: its pointer must not be NULL */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "match.h"
#include "util.h"

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int
utf8_lines(void)
{
	char line[4096];
	unsigned char b[2048];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		size_t n = 0;
		for (size_t i = 0; hexval(line[i]) >= 0 && hexval(line[i + 1]) >= 0; i += 2)
			b[n++] = (unsigned char)(hexval(line[i]) << 4 | hexval(line[i + 1]));
		printf("%d %d\n", utf8_valid((char *)b, n), (int)text_check((char *)b, n));
	}
	return 0;
}

/* Compile one set (key template, optional --where, optional --time-field), run one event
 * whose every slot has the given type and text, and print the outcome. */
static int
one(const char *key, const char *where, const char *tfield, int escape, int type,
    const char *text)
{
	struct keys_opts ko = { .missing = MISSING_EMPTY, .max_key = 1024, .escape = escape };
	struct matcher *m = match_new();
	struct tmpl_set *s = tmpl_new(&ko, m);
	struct recmeta meta = { .has_time = 1, .time = 1450347300 };
	struct slot *slots;
	struct event ev;
	struct kc_err err;
	enum kc_reason why;
	const char *msg, *k;
	size_t col, len;
	int r, n;

	if (m == NULL || s == NULL || tmpl_add_key(s, key, &col, &err) == -1 ||
	    (where != NULL && tmpl_add_where(s, where, &col, &err) == -1) ||
	    (tfield != NULL && tmpl_set_time_field(s, tfield, &col, &err) == -1) ||
	    tmpl_finish(s, &err) == -1) {
		printf("setup failed\n");
		return 1;
	}
	n = match_nslots(m);
	if ((slots = calloc((size_t)n, sizeof(*slots))) == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		slots[i].type = type;
		slots[i].p = text;
		slots[i].n = text != NULL ? strlen(text) : 0;
	}
	ev.slots = slots;
	ev.meta = &meta;
	ev.raw.p = "{}";
	ev.raw.n = 2;
	r = tmpl_match(s, &ev, &why, &msg);
	if (r == 1)
		r = tmpl_expand(s, &ev, &why, &msg) == -1 ? -2 : 1;
	if (r < 0)
		printf("%s: rejected (%s): %s\n", r == -1 ? "match" : "expand",
		    kc_reason_name[why], msg);
	else if (r == 0)
		printf("filtered\n");
	else
		for (size_t i = 0; i < tmpl_nkeys(s); i++) {
			k = tmpl_key(s, i, &len);
			printf("key %s len %zu '%.*s'\n", k == NULL ? "NULL" : "set", len,
			    (int)len, k == NULL ? "" : k);
		}
	free(slots);
	tmpl_free(s);
	match_free(m);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "utf8") == 0)
		return utf8_lines();
	if (strcmp(mode, "badutf8") == 0) {
		/* The bytes a decoder could keep for "\udc00": ED B0 80. */
		const char *sur = "\xed\xb0\x80";
		return one("x", "b", NULL, 0, SLOT_BADUTF8, sur) |
		    one("x", "b=1", NULL, 0, SLOT_BADUTF8, sur) |
		    one("x", "b!=1", NULL, 0, SLOT_BADUTF8, sur) |
		    one("{a}", NULL, NULL, 0, SLOT_BADUTF8, sur) |
		    one("{a:-d}", NULL, NULL, 1, SLOT_BADUTF8, sur) |
		    one("{@time:%Y}", NULL, "t", 0, SLOT_BADUTF8, sur) |
		    one("x", NULL, "t", 0, SLOT_BADUTF8, sur);
	}
	if (strcmp(mode, "emptykey") == 0)
		return one("{a}", NULL, NULL, 0, SLOT_MISSING, NULL) |
		    one("{a}", NULL, NULL, 0, SLOT_STRING, "") |
		    one("{a}", NULL, NULL, 1, SLOT_STRING, "");
	fprintf(stderr, "usage: unit-keys utf8 | badutf8 | emptykey\n");
	return 2;
}
