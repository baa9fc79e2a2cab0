/* Reads Kinesis Producer Library aggregates: the magic f3 89 9a c2, a protobuf
 * AggregatedRecord (proto2), and the MD5 of the protobuf bytes.  The protobuf wire format is
 * read by hand: the schema has three messages and eleven fields, so a reader that knows them
 * is smaller than the generated code of protobuf-c, and it points into the caller's bytes
 * instead of copying every key and data field into a message tree.  The whole aggregate is
 * checked in kpl_open before any sub-record is handed out, so that a bad aggregate is
 * rejected whole and none of it is counted.  The only memory is three arrays (the two key
 * tables and the records) that grow to the largest aggregate seen and are then reused. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <md5.h>

#include "kpl.h"
#include "util.h"

#define KPL_MAGIC	"\xf3\x89\x9a\xc2"
#define KPL_MAGIC_LEN	4
#define KPL_MD5_LEN	16

/* Protobuf wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* One Record of the aggregate, as read; its indexes are checked once the tables are whole
 * (protobuf allows the tables after the records). */
struct kpl_sub {
	uint64_t	 pki;
	uint64_t	 ehki;
	int		 has_ehk;
	struct text	 data;
};

struct kpl {
	struct text	*pk;
	size_t		 npk, cappk;
	struct text	*ehk;
	size_t		 nehk, capehk;
	struct kpl_sub	*rec;
	size_t		 nrec, caprec;
	size_t		 next;
};

/* A cursor over protobuf bytes; base is the start of the whole aggregate, for offsets in
 * messages; msg is room for a message that holds numbers. */
struct pb {
	const unsigned char	*p, *end, *base;
	char			*msg;
};
#define PB_MSG_SIZE	96

static int	 grow(void **, size_t *, size_t, size_t);
static int	 bad(struct kc_err *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static const char *pb_varint(struct pb *, uint64_t *);
static const char *pb_tag(struct pb *, uint32_t *, int *);
static const char *pb_len(struct pb *, struct text *);
static const char *pb_skip(struct pb *, int);
static const char *wt_name(int);
static int	 read_tag(struct pb *, size_t, size_t, struct kc_err *);
static int	 read_record(struct pb *, size_t, struct kpl_sub *, struct kc_err *);
static int	 read_aggregate(struct kpl *, struct pb *, struct kc_err *);

struct kpl *
kpl_new(void)
{
	return calloc(1, sizeof(struct kpl));
}

void
kpl_free(struct kpl *k)
{
	if (k == NULL)
		return;
	free(k->pk);
	free(k->ehk);
	free(k->rec);
	free(k);
}

int
kpl_is_aggregate(const void *data, size_t n)
{
	return n > KPL_MAGIC_LEN + KPL_MD5_LEN && memcmp(data, KPL_MAGIC, KPL_MAGIC_LEN) == 0;
}

/* Make room for one more element of size sz in *p; returns 0, or -1 when memory ran out. */
static int
grow(void **p, size_t *cap, size_t len, size_t sz)
{
	size_t ncap;
	void *np;

	if (len < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / sz)
		return -1;
	if ((np = realloc(*p, ncap * sz)) == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* Fill err with "bad KPL aggregate: " and the message; returns -1. */
static int
bad(struct kc_err *err, const char *fmt, ...)
{
	static const char head[] = "bad KPL aggregate: ";
	va_list ap;

	memcpy(err->msg, head, sizeof(head));
	va_start(ap, fmt);
	vsnprintf(err->msg + sizeof(head) - 1, sizeof(err->msg) - sizeof(head) + 1, fmt, ap);
	va_end(ap);
	return -1;
}

/* A varint of at most 10 bytes whose value fits in 64 bits.  Returns NULL, or why not. */
static const char *
pb_varint(struct pb *b, uint64_t *v)
{
	uint64_t x = 0;
	unsigned i, c;

	for (i = 0; i < 10; i++) {
		if (b->p == b->end)
			return "truncated varint";
		c = *b->p++;
		if (i == 9 && c > 1)
			return c & 0x80 ? "varint longer than 10 bytes" :
			    "varint overflows 64 bits";
		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			*v = x;
			return NULL;
		}
	}
	return "varint longer than 10 bytes";
}

/* A field tag: a field number from 1 to 2^29 - 1 and a wire type. */
static const char *
pb_tag(struct pb *b, uint32_t *field, int *wt)
{
	const char *why;
	uint64_t v;

	if ((why = pb_varint(b, &v)) != NULL)
		return why;
	if (v > UINT32_MAX || v >> 3 == 0)
		return "bad field number";
	*field = (uint32_t)(v >> 3);
	*wt = (int)(v & 7);
	return NULL;
}

/* A length-delimited field's bytes, inside what is left. */
static const char *
pb_len(struct pb *b, struct text *t)
{
	const char *why;
	uint64_t n;

	if ((why = pb_varint(b, &n)) != NULL)
		return why;
	if (n > (uint64_t)(b->end - b->p)) {
		snprintf(b->msg, PB_MSG_SIZE, "length %" PRIu64 " past the end (%zu byte%s left)",
		    n, (size_t)(b->end - b->p), b->end - b->p == 1 ? "" : "s");
		return b->msg;
	}
	t->p = (const char *)b->p;
	t->n = (size_t)n;
	b->p += n;
	return NULL;
}

/* Skip an unknown field of wire type wt.  Groups (3, 4, deprecated, never in this schema)
 * and the wire types 6 and 7 (which do not exist) are errors. */
static const char *
pb_skip(struct pb *b, int wt)
{
	struct text t;
	uint64_t v;
	size_t n;

	switch (wt) {
	case WT_VARINT:
		return pb_varint(b, &v);
	case WT_LEN:
		return pb_len(b, &t);
	case WT_I64:
	case WT_I32:
		n = wt == WT_I64 ? 8 : 4;
		if ((size_t)(b->end - b->p) < n)
			return "truncated fixed-size field";
		b->p += n;
		return NULL;
	case WT_SGROUP:
	case WT_EGROUP:
		return "group (wire type 3 or 4)";
	default:
		return "invalid wire type";
	}
}

static const char *
wt_name(int wt)
{
	static const char *const names[] = { "varint", "64-bit", "length-delimited",
	    "start group", "end group", "32-bit", "6", "7" };

	return names[wt & 7];
}

#define OFF(b)	((size_t)((b)->p - (b)->base))

/* A Tag message (key required, value optional): checked and dropped. */
static int
read_tag(struct pb *b, size_t ri, size_t ti, struct kc_err *err)
{
	const char *why;
	struct text t;
	uint32_t f;
	int wt, has_key = 0;
	size_t at;

	while (b->p < b->end) {
		at = OFF(b);
		if ((why = pb_tag(b, &f, &wt)) != NULL)
			return bad(err, "record %zu: tag %zu: at byte %zu: %s", ri, ti, at, why);
		if ((f == 1 || f == 2) && wt != WT_LEN)
			return bad(err, "record %zu: tag %zu: at byte %zu: field %s has wire type "
			    "%s, not length-delimited", ri, ti, at, f == 1 ? "key" : "value",
			    wt_name(wt));
		why = f <= 2 ? pb_len(b, &t) : pb_skip(b, wt);
		if (why != NULL)
			return bad(err, "record %zu: tag %zu: at byte %zu: %s", ri, ti, at, why);
		if (f == 1)
			has_key = 1;
	}
	if (!has_key)
		return bad(err, "record %zu: tag %zu: no key", ri, ti);
	return 0;
}

/* A Record message: partition_key_index and data required, explicit_hash_key_index
 * optional (its presence is what has_ehk records), tags checked.  As protobuf says, the
 * last of a repeated scalar field wins. */
static int
read_record(struct pb *b, size_t ri, struct kpl_sub *s, struct kc_err *err)
{
	static const char *const names[] = { "", "partition_key_index",
	    "explicit_hash_key_index", "data", "tags" };
	static const int want[] = { 0, WT_VARINT, WT_VARINT, WT_LEN, WT_LEN };
	const char *why;
	struct text t;
	struct pb sub;
	uint32_t f;
	uint64_t v;
	int wt, has_pk = 0, has_data = 0;
	size_t at, ntags = 0;

	s->has_ehk = 0;
	s->ehki = 0;
	while (b->p < b->end) {
		at = OFF(b);
		if ((why = pb_tag(b, &f, &wt)) != NULL)
			return bad(err, "record %zu: at byte %zu: %s", ri, at, why);
		if (f > 4) {
			if ((why = pb_skip(b, wt)) != NULL)
				return bad(err, "record %zu: at byte %zu: %s", ri, at, why);
			continue;
		}
		if (wt != want[f])
			return bad(err, "record %zu: at byte %zu: field %s has wire type %s, not %s",
			    ri, at, names[f], wt_name(wt), wt_name(want[f]));
		why = wt == WT_VARINT ? pb_varint(b, &v) : pb_len(b, &t);
		if (why != NULL)
			return bad(err, "record %zu: at byte %zu: %s: %s", ri, at, names[f], why);
		switch (f) {
		case 1:
			s->pki = v;
			has_pk = 1;
			break;
		case 2:
			s->ehki = v;
			s->has_ehk = 1;
			break;
		case 3:
			s->data = t;
			has_data = 1;
			break;
		case 4:
			sub.p = (const unsigned char *)t.p;
			sub.end = sub.p + t.n;
			sub.base = b->base;
			sub.msg = b->msg;
			if (read_tag(&sub, ri, ntags++, err) == -1)
				return -1;
			break;
		}
	}
	if (!has_pk)
		return bad(err, "record %zu: no partition_key_index", ri);
	if (!has_data)
		return bad(err, "record %zu: no data", ri);
	return 0;
}

/* The AggregatedRecord: two key tables and the records, in any order. */
static int
read_aggregate(struct kpl *k, struct pb *b, struct kc_err *err)
{
	static const char *const names[] = { "", "partition_key_table",
	    "explicit_hash_key_table", "records" };
	const char *why;
	struct text t;
	struct pb sub;
	uint32_t f;
	int wt;
	size_t at;

	while (b->p < b->end) {
		at = OFF(b);
		if ((why = pb_tag(b, &f, &wt)) != NULL)
			return bad(err, "at byte %zu: %s", at, why);
		if (f > 3) {
			if ((why = pb_skip(b, wt)) != NULL)
				return bad(err, "at byte %zu: %s", at, why);
			continue;
		}
		if (wt != WT_LEN)
			return bad(err, "at byte %zu: field %s has wire type %s, not "
			    "length-delimited", at, names[f], wt_name(wt));
		if ((why = pb_len(b, &t)) != NULL)
			return bad(err, "at byte %zu: %s: %s", at, names[f], why);
		switch (f) {
		case 1:
			if (grow((void **)&k->pk, &k->cappk, k->npk, sizeof(*k->pk)) == -1)
				return -2;
			k->pk[k->npk++] = t;
			break;
		case 2:
			if (grow((void **)&k->ehk, &k->capehk, k->nehk, sizeof(*k->ehk)) == -1)
				return -2;
			k->ehk[k->nehk++] = t;
			break;
		case 3:
			if (grow((void **)&k->rec, &k->caprec, k->nrec, sizeof(*k->rec)) == -1)
				return -2;
			sub.p = (const unsigned char *)t.p;
			sub.end = sub.p + t.n;
			sub.base = b->base;
			sub.msg = b->msg;
			if (read_record(&sub, k->nrec, &k->rec[k->nrec], err) == -1)
				return -1;
			k->nrec++;
			break;
		}
	}
	return 0;
}

long
kpl_open(struct kpl *k, const void *data, size_t n, struct kc_err *err)
{
	const unsigned char *d = data;
	unsigned char sum[KPL_MD5_LEN];
	char msg[PB_MSG_SIZE];
	struct pb b;
	MD5_CTX ctx;
	size_t i;
	int r;

	k->npk = k->nehk = k->nrec = k->next = 0;
	if (n < KPL_MAGIC_LEN || memcmp(d, KPL_MAGIC, KPL_MAGIC_LEN) != 0)
		return bad(err, "no magic f3 89 9a c2");
	if (!kpl_is_aggregate(d, n))
		return bad(err, "%zu bytes, too short", n);
	b.base = d;
	b.msg = msg;
	b.p = d + KPL_MAGIC_LEN;
	b.end = d + n - KPL_MD5_LEN;
	MD5Init(&ctx);
	MD5Update(&ctx, b.p, (size_t)(b.end - b.p));
	MD5Final(sum, &ctx);
	if (memcmp(sum, b.end, KPL_MD5_LEN) != 0)
		return bad(err, "MD5 mismatch");
	if ((r = read_aggregate(k, &b, err)) != 0) {
		k->nrec = 0;
		if (r == -2)
			kc_errf(err, "out of memory");
		return r;
	}
	if (k->nrec == 0)
		return bad(err, "no records");
	for (i = 0; i < k->nrec; i++) {
		if (k->rec[i].pki >= k->npk) {
			r = bad(err, "record %zu: partition key index %" PRIu64 " out of range "
			    "(%zu key%s)", i, k->rec[i].pki, k->npk, k->npk == 1 ? "" : "s");
			break;
		}
		if (k->rec[i].has_ehk && k->rec[i].ehki >= k->nehk) {
			r = bad(err, "record %zu: explicit hash key index %" PRIu64 " out of range "
			    "(%zu key%s)", i, k->rec[i].ehki, k->nehk, k->nehk == 1 ? "" : "s");
			break;
		}
	}
	if (r != 0) {
		k->nrec = 0;
		return -1;
	}
	return (long)k->nrec;
}

int
kpl_next(struct kpl *k, struct kpl_record *r)
{
	const struct kpl_sub *s;

	if (k->next >= k->nrec)
		return 0;
	s = &k->rec[k->next];
	r->pk = k->pk[s->pki];
	if (s->has_ehk)
		r->ehk = k->ehk[s->ehki];
	else
		r->ehk.p = "", r->ehk.n = 0;
	r->has_ehk = s->has_ehk;
	r->data = s->data;
	r->index = k->next++;
	return 1;
}
