/* libFuzzer entry point: bytes -> decoder -> templates, as kincount runs them, with the input
 * cut into reads of varying sizes so that tokens, records and documents fall across read
 * boundaries and the buffer compaction runs.  Built and run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "keys.h"
#include "match.h"

struct fuzz {
	struct tmpl_set	*t;
	size_t		 keys;
};

static void
on_record_begin(void *arg, const struct recmeta *m)
{
	(void)arg, (void)m;
}

static void
on_event(void *arg, const struct event *ev)
{
	struct fuzz *f = arg;
	enum kc_reason why;
	const char *msg;
	size_t len;

	if (tmpl_match(f->t, ev, &why, &msg) != 1 || tmpl_expand(f->t, ev, &why, &msg) == -1)
		return;
	for (size_t i = 0; i < tmpl_nkeys(f->t); i++) {
		const char *k = tmpl_key(f->t, i, &len);
		/* A key never holds a control byte, and is valid UTF-8. */
		for (size_t j = 0; j < len; j++)
			if ((unsigned char)k[j] < 0x20 || k[j] == 0x7f)
				abort();
		if (k == NULL || !utf8_valid(k, len))
			abort();
		f->keys++;
	}
	/* The event's text lies inside what was parsed. */
	if (ev->raw.n > 0 && ev->raw.p == NULL)
		abort();
}

static void
on_record_end(void *arg, const struct recmeta *m, const struct reject *r)
{
	(void)arg, (void)m;
	if (r != NULL && (r->msg == NULL || (r->data.n > 0 && r->data.p == NULL)))
		abort();
}

static void
on_doc_end(void *arg, const struct reject *r, int envelope)
{
	(void)arg, (void)envelope;
	if (r != NULL && r->msg == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static const struct decode_cb cb = {
		on_record_begin, on_event, on_record_end, on_doc_end
	};
	static const char *const templates[] = {
		"{@date}:{page}:{section}:{element}:{action}_{id}",
		"{user.id:-anon}/{.items[0].sku}/{@partition_key}/{@shard_id}/{@stream}",
		"{@time:%H}|{@sequence_number}|{\"odd.name\"}",
	};
	struct keys_opts ko = { .missing = MISSING_EMPTY, .max_key = 256 };
	struct decode_opts dopt = { .format = FMT_AUTO, .max_record = 1 << 20 };
	struct matcher *m = match_new();
	struct fuzz f = { tmpl_new(&ko, m), 0 };
	struct decoder *d;
	struct kc_err err;
	size_t col, pos = 1, step;

	if (n == 0)
		goto out;
	/* The first byte picks the format and the size of the reads. */
	dopt.format = (enum kc_format)(data[0] % 6);
	step = (size_t)(data[0] >> 3) * 7 + 1;
	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
		if (tmpl_add_key(f.t, templates[i], &col, &err) == -1)
			abort();
	if (tmpl_add_where(f.t, "action!=skip", &col, &err) == -1 ||
	    tmpl_set_time_field(f.t, "ts", &col, &err) == -1 || tmpl_finish(f.t, &err) == -1)
		abort();
	/* Every piece of metadata the templates use, as kincount asks for it. */
	dopt.meta = tmpl_meta(f.t) | META_PK | META_SHARD | META_STREAM;
	if ((d = decode_new(&dopt, m, &cb, &f)) == NULL)
		abort();
	decode_begin(d, "fuzz");
	while (pos < n) {
		size_t avail, k = n - pos < step ? n - pos : step;
		char *space = decode_space(d, &avail);
		if (space == NULL)
			abort();
		if (k > avail)
			k = avail;
		memcpy(space, data + pos, k);
		decode_feed(d, k);
		pos += k;
	}
	decode_end(d);
	decode_free(d);
out:
	tmpl_free(f.t);
	match_free(m);
	return 0;
}
