/* The output side.  Keys are appended to one large buffer and written with write(2) in big
 * pieces, only up to the last commit; a rollback truncates the buffer.  The count table is
 * an open-addressing hash of 32-bit indices into an array of entries whose key bytes live in
 * fixed-size blocks, so growing it never copies keys; a rollback undoes the increments made
 * since the last commit, in reverse.  For Redis the same table holds one batch, handed to
 * redis.c whole, with the checkpoints the batch moves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

struct flight;
static void	flight_free(struct flight *);
static int	redis_drain(struct sink *);

#define WRITE_AT	(256 * 1024)	/* write out once this much is committed */
#define BLOCK_SIZE	(1024 * 1024)	/* key storage block */

struct entry {
	uint64_t	 hash;
	int64_t		 count;
	const char	*key;
	size_t		 len;
};

struct block {
	struct block	*next;
	size_t		 used;
	char		 data[];
};

struct table {
	struct hash_key	 key;		/* random, so the input cannot choose the slots */
	struct entry	*e;
	size_t		 n, cap;
	uint32_t	*idx;		/* entry index + 1; 0 = empty */
	size_t		 mask;
	struct block	*blocks;
	uint32_t	*undo;		/* entries incremented since the last commit */
	size_t		 nundo, capundo;
};

/* --checkpoint state of one stream/shard. */
struct ckpt {
	struct buf	 field;
	struct buf	 stored;	/* in Redis, as this run last saw or left it */
	struct buf	 base;		/* in Redis before the run (or Lambda event) began */
	int		 has_base;
	struct buf	 inflight;	/* highest in the batch sent, not yet acknowledged */
	struct buf	 batch;		/* highest sequence number in the open batch */
	struct buf	 doc;		/* highest in the open document */
	int		 has_stored, has_inflight, has_batch, has_doc;
};

struct sink {
	struct sink_opts o;
	struct ckpt	*ck;
	size_t		 nck;
	struct buf	 pend_seq;	/* the record checked last, until it is read whole */
	size_t		 pend_ck;
	int		 has_pend;
	const struct buf *ooo_max;	/* after 2 from sink_checkpoint: what it was under */
	struct buf	 dl;		/* dead-letter lines for the batch, NUL-separated */
	size_t		 dl_refused;	/* of them, the lines of keys the last batch refused */
	int		 draining;	/* waiting for a batch: dead letters are refusals */
	uint64_t	 sent;		/* counters sent to Redis (distinct keys per batch) */
	struct flight	*fl;		/* the batch Redis is working on */
	struct kc_err	 rerr;
	struct buf	 out;
	size_t		 committed;	/* out[0, committed) may be written */
	struct table	 t;
	int		 use_table;
	int		 err;
};

struct sink *
sink_new(const struct sink_opts *o)
{
	struct sink *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->o = *o;
	hash_key_random(&s->t.key);
	s->use_table = o->kind == SINK_COUNT || o->kind == SINK_REDIS ||
	    (o->distinct && o->kind == SINK_KEYS);
	if (buf_reserve(&s->out, WRITE_AT * 2) == -1) {
		free(s);
		return NULL;
	}
	return s;
}

static void
checkpoints_free(struct sink *s)
{
	for (size_t i = 0; i < s->nck; i++) {
		buf_free(&s->ck[i].field);
		buf_free(&s->ck[i].stored);
		buf_free(&s->ck[i].base);
		buf_free(&s->ck[i].inflight);
		buf_free(&s->ck[i].batch);
		buf_free(&s->ck[i].doc);
	}
	free(s->ck);
	s->ck = NULL;
	s->nck = 0;
}

void
sink_free(struct sink *s)
{
	struct block *b, *next;

	if (s == NULL)
		return;
	for (b = s->t.blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	checkpoints_free(s);
	buf_free(&s->pend_seq);
	flight_free(s->fl);
	buf_free(&s->dl);
	free(s->t.e);
	free(s->t.idx);
	free(s->t.undo);
	buf_free(&s->out);
	free(s);
}

/* ---- the count table --------------------------------------------------------------------- */

static const char *
store_key(struct table *t, const char *k, size_t n)
{
	struct block *b = t->blocks;
	char *p;

	if (b == NULL || BLOCK_SIZE - b->used < n) {
		size_t size = n > BLOCK_SIZE ? n : BLOCK_SIZE;
		if ((b = malloc(sizeof(*b) + size)) == NULL)
			return NULL;
		b->used = 0;
		/* A key larger than a block gets a block of its own, behind the current one. */
		if (n > BLOCK_SIZE && t->blocks != NULL) {
			b->next = t->blocks->next;
			t->blocks->next = b;
		} else {
			b->next = t->blocks;
			t->blocks = b;
		}
	}
	p = b->data + b->used;
	if (n > 0)	/* k may be NULL for the empty key */
		memcpy(p, k, n);
	b->used += n;
	return p;
}

static int
table_grow(struct table *t)
{
	size_t cap = t->mask ? (t->mask + 1) * 2 : 1024;
	uint32_t *idx;

	if (cap > ((size_t)1 << 31))
		return -1;
	if ((idx = calloc(cap, sizeof(*idx))) == NULL)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = t->e[i].hash & (cap - 1);
		while (idx[j] != 0)
			j = (j + 1) & (cap - 1);
		idx[j] = (uint32_t)i + 1;
	}
	free(t->idx);
	t->idx = idx;
	t->mask = cap - 1;
	return 0;
}

static int
table_add(struct table *t, const char *k, size_t n, int64_t by)
{
	uint64_t h = hash_bytes(&t->key, k, n);
	size_t j;
	uint32_t i;

	if (t->n * 2 >= t->mask && table_grow(t) == -1)
		return -1;
	for (j = h & t->mask; (i = t->idx[j]) != 0; j = (j + 1) & t->mask) {
		struct entry *e = &t->e[i - 1];
		if (e->hash == h && e->len == n && (n == 0 || memcmp(e->key, k, n) == 0))
			goto found;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct entry *ne = realloc(t->e, cap * sizeof(*ne));
		if (ne == NULL)
			return -1;
		t->e = ne;
		t->cap = cap;
	}
	if ((t->e[t->n].key = store_key(t, k, n)) == NULL)
		return -1;
	t->e[t->n].hash = h;
	t->e[t->n].len = n;
	t->e[t->n].count = 0;
	i = (uint32_t)++t->n;
	t->idx[j] = i;
found:
	if (t->nundo == t->capundo) {
		size_t cap = t->capundo ? t->capundo * 2 : 1024;
		uint32_t *nu = realloc(t->undo, cap * sizeof(*nu));
		if (nu == NULL)
			return -1;
		t->undo = nu;
		t->capundo = cap;
	}
	t->undo[t->nundo++] = i - 1;
	t->e[i - 1].count += by;
	return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* ---- output ------------------------------------------------------------------------------ */

static int
write_all(struct sink *s, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(s->o.fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			s->err = errno;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write the committed part of the buffer and keep the rest. */
static int
write_committed(struct sink *s)
{
	if (s->committed == 0)
		return 0;
	if (write_all(s, s->out.p, s->committed) == -1)
		return -1;
	memmove(s->out.p, s->out.p + s->committed, s->out.len - s->committed);
	s->out.len -= s->committed;
	s->committed = 0;
	return 0;
}

int
sink_add(struct sink *s, const char *k, size_t n)
{
	if (s->use_table && table_add(&s->t, k, n, 1) == -1) {
		s->err = ENOMEM;
		return -1;
	}
	if (s->o.kind == SINK_COUNT || s->o.kind == SINK_REDIS)
		return 0;
	if (buf_reserve(&s->out, n + 1) == -1) {
		s->err = ENOMEM;
		return -1;
	}
	if (n > 0)	/* k may be NULL for the empty key */
		memcpy(s->out.p + s->out.len, k, n);
	if (s->o.kind == SINK_DECODE) {
		/* Line breaks between the tokens of a pretty-printed payload become spaces. */
		char *p = s->out.p + s->out.len;
		for (size_t i = 0; i < n; i++)
			if (p[i] == '\n' || p[i] == '\r')
				p[i] = ' ';
	}
	s->out.len += n;
	s->out.p[s->out.len++] = '\n';
	return 0;
}

struct sink_mark
sink_mark(const struct sink *s)
{
	struct sink_mark m = { s->out.len, s->t.nundo };
	return m;
}

void
sink_rollback(struct sink *s, struct sink_mark m)
{
	if (m.out >= s->committed && m.out <= s->out.len)
		s->out.len = m.out;
	while (s->t.nundo > m.undo)
		s->t.e[s->t.undo[--s->t.nundo]].count--;
}

void
sink_abort(struct sink *s)
{
	sink_rollback(s, (struct sink_mark){ s->committed, 0 });
	s->has_pend = 0;
	for (size_t i = 0; i < s->nck; i++)
		s->ck[i].has_doc = 0;
}

int
sink_commit(struct sink *s)
{
	s->committed = s->out.len;
	s->t.nundo = 0;
	for (size_t i = 0; i < s->nck; i++) {
		struct ckpt *c = &s->ck[i];
		if (c->has_doc) {
			c->batch.len = 0;
			if (buf_add(&c->batch, c->doc.p, c->doc.len) == -1) {
				s->err = ENOMEM;
				return -1;
			}
			c->has_batch = 1;
			c->has_doc = 0;
		}
	}
	if (s->committed >= WRITE_AT && s->o.kind != SINK_REDIS)
		return write_committed(s);
	return 0;
}

/* ---- Redis --------------------------------------------------------------------------------- */

/* Compare decimal sequence numbers of any length: by length, then bytewise. */
/* The highest sequence number of c this run knows of: read but not yet committed, in the
 * open batch, sent, or stored; NULL when none. */
static const struct buf *
ckpt_max(const struct ckpt *c)
{
	return c->has_doc ? &c->doc : c->has_batch ? &c->batch :
	    c->has_inflight ? &c->inflight : c->has_stored ? &c->stored : NULL;
}

static int
seqcmp(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return an < bn ? -1 : 1;
	return memcmp(a, b, an);
}

int
sink_checkpoint(struct sink *s, struct text field, struct text seq)
{
	struct ckpt *c = NULL;
	const struct buf *max;

	for (size_t i = 0; i < s->nck; i++)
		if (s->ck[i].field.len == field.n &&
		    memcmp(s->ck[i].field.p, field.p, field.n) == 0) {
			c = &s->ck[i];
			break;
		}
	if (c == NULL) {
		struct ckpt *nc = realloc(s->ck, (s->nck + 1) * sizeof(*nc));
		if (nc == NULL) {
			kc_errf(&s->rerr, "%s", strerror(ENOMEM));
			return -1;
		}
		s->ck = nc;
		c = &s->ck[s->nck++];
		memset(c, 0, sizeof(*c));
		if (buf_add(&c->field, field.p, field.n) == -1 || redis_drain(s) == -1 ||
		    redis_hget(s->o.redis, s->o.ckpt_key, field.p, field.n, &c->stored,
		    &c->has_stored, &s->rerr) == -1) {
			s->nck--;
			buf_free(&c->field);
			buf_free(&c->stored);
			return -1;
		}
		if (c->has_stored && buf_add(&c->base, c->stored.p, c->stored.len) == -1) {
			kc_errf(&s->rerr, "%s", strerror(ENOMEM));
			return -1;
		}
		c->has_base = c->has_stored;
	}
	max = ckpt_max(c);
	if (max != NULL && seqcmp(seq.p, seq.n, max->p, max->len) <= 0) {
		/* At or below the checkpoint found before the run: applied by an earlier run.
		 * Above it: below one this run has read, so the input overlaps itself or mixes
		 * shards. */
		if (c->has_base && seqcmp(seq.p, seq.n, c->base.p, c->base.len) <= 0)
			return 1;
		s->ooo_max = max;
		return 2;
	}
	s->pend_seq.len = 0;
	if (buf_add(&s->pend_seq, seq.p, seq.n) == -1) {
		kc_errf(&s->rerr, "%s", strerror(ENOMEM));
		return -1;
	}
	s->pend_ck = (size_t)(c - s->ck);
	s->has_pend = 1;
	return 0;
}

struct text
sink_checkpoint_max(const struct sink *s)
{
	return s->ooo_max ? (struct text){ s->ooo_max->p, s->ooo_max->len } :
	    (struct text){ "", 0 };
}

void
sink_checkpoint_rebase(struct sink *s)
{
	for (size_t i = 0; i < s->nck; i++) {
		struct ckpt *c = &s->ck[i];
		const struct buf *max = ckpt_max(c);
		c->base.len = 0;
		c->has_base = max != NULL && buf_add(&c->base, max->p, max->len) == 0;
	}
}

int
sink_checkpoint_move(struct sink *s)
{
	struct ckpt *c;

	if (!s->has_pend)
		return 0;
	s->has_pend = 0;
	c = &s->ck[s->pend_ck];
	c->doc.len = 0;
	if (buf_add(&c->doc, s->pend_seq.p, s->pend_seq.len) == -1) {
		s->err = ENOMEM;
		return -1;
	}
	c->has_doc = 1;
	return 0;
}

void
sink_checkpoint_drop(struct sink *s)
{
	s->has_pend = 0;
}

int
sink_dead_letter(struct sink *s, const char *line, size_t n)
{
	if (buf_add(&s->dl, line, n) == -1 || buf_addc(&s->dl, '\0') == -1) {
		s->err = ENOMEM;
		return -1;
	}
	s->dl_refused += s->draining;
	return 0;
}

/* The batch sent to Redis and not yet acknowledged: its own copy of everything, so the next
 * batch can be gathered meanwhile (and this one sent again if the answer does not come). */
struct flight {
	int		  active;
	struct rbatch	  b;
	struct buf	  keys;		/* key bytes, one after another */
	const char	**key;
	size_t		 *klen;
	long long	 *count;
	size_t		  keycap, lencap, countcap;
	struct text	 *ck;		/* fields, then old, then new */
	struct buf	  ckbuf;
	size_t		  ckcap;
	struct text	 *dl;
	struct buf	  dlbuf;
	size_t		  dlcap;
};

static void
on_refused(void *arg, size_t i, const char *why)
{
	struct sink *s = arg;
	struct flight *fl = s->fl;

	if (s->o.refused != NULL)
		s->o.refused(s->o.arg, fl->key[i], fl->klen[i], fl->count[i], why);
}

static void
flight_free(struct flight *fl)
{
	if (fl == NULL)
		return;
	buf_free(&fl->keys);
	free(fl->key);
	free(fl->klen);
	free(fl->count);
	free(fl->ck);
	buf_free(&fl->ckbuf);
	free(fl->dl);
	buf_free(&fl->dlbuf);
	free(fl);
}

/* The array p, of *cap elements of size sz, with room for want: p itself, or a larger
 * copy; NULL when memory is exhausted (p is then unchanged). */
static void *
grow(void *p, size_t *cap, size_t want, size_t sz)
{
	void *np;
	size_t c = *cap ? *cap : 64;

	if (p != NULL && want <= *cap)
		return p;
	while (c < want)
		c *= 2;
	if ((np = realloc(p, c * sz)) == NULL)
		return NULL;
	*cap = c;
	return np;
}

static void
table_clear(struct table *t)
{
	struct block *b, *next;

	t->n = 0;
	t->nundo = 0;
	if (t->idx != NULL)
		memset(t->idx, 0, (t->mask + 1) * sizeof(*t->idx));
	/* Keep one block of key storage for the next batch. */
	if ((b = t->blocks) != NULL) {
		for (b = b->next; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
		t->blocks->next = NULL;
		t->blocks->used = 0;
	}
}

/* Wait for the batch in flight; on its answer its checkpoints become the stored ones. */
static int
redis_drain(struct sink *s)
{
	struct flight *fl = s->fl;
	int rc;

	if (fl == NULL || !fl->active)
		return 0;
	fl->active = 0;
	s->draining = 1;
	rc = redis_wait(s->o.redis, &fl->b, &s->rerr);
	s->draining = 0;
	if (rc == -1)
		return -1;
	s->sent += fl->b.n;
	for (size_t i = 0; i < s->nck; i++) {
		struct ckpt *c = &s->ck[i];
		if (!c->has_inflight)
			continue;
		c->stored.len = 0;
		if (buf_add(&c->stored, c->inflight.p, c->inflight.len) == -1) {
			kc_errf(&s->rerr, "%s", strerror(ENOMEM));
			return -1;
		}
		c->has_stored = 1;
		c->has_inflight = 0;
	}
	return 0;
}

/* Copy the committed batch into the flight and send it; the table is free again at once. */
static int
redis_flush(struct sink *s)
{
	struct flight *fl;
	size_t n = 0, nck = 0, ndl = 0, nkeys, i, off;
	void *p;
	int rc;

	if (s->t.nundo > 0)
		return 0;	/* a document is open: wait for its end */
	if (redis_drain(s) == -1)
		return -1;
	for (i = 0; i < s->nck; i++)
		nck += s->ck[i].has_batch;
	for (i = 0; i < s->dl.len; i++)
		ndl += s->dl.p[i] == '\0';
	for (i = 0; i < s->t.n; i++)
		n += s->t.e[i].count != 0;
	if (n == 0 && nck == 0 && ndl == 0) {
		table_clear(&s->t);
		return 0;
	}
	if (s->fl == NULL && (s->fl = calloc(1, sizeof(*s->fl))) == NULL)
		goto oom;
	fl = s->fl;
	if ((p = grow(fl->key, &fl->keycap, n, sizeof(*fl->key))) == NULL)
		goto oom;
	fl->key = p;
	if ((p = grow(fl->klen, &fl->lencap, n, sizeof(*fl->klen))) == NULL)
		goto oom;
	fl->klen = p;
	if ((p = grow(fl->count, &fl->countcap, n, sizeof(*fl->count))) == NULL)
		goto oom;
	fl->count = p;
	if ((p = grow(fl->ck, &fl->ckcap, 3 * nck, sizeof(*fl->ck))) == NULL)
		goto oom;
	fl->ck = p;
	if ((p = grow(fl->dl, &fl->dlcap, ndl, sizeof(*fl->dl))) == NULL)
		goto oom;
	fl->dl = p;

	/* Keys, copied out of the table (whose storage the next batch reuses). */
	fl->keys.len = 0;
	for (i = 0, n = 0; i < s->t.n; i++) {
		struct entry *e = &s->t.e[i];
		if (e->count == 0)
			continue;
		if (buf_add(&fl->keys, e->key, e->len) == -1)
			goto oom;
		fl->klen[n] = e->len;
		fl->count[n] = e->count;
		n++;
	}
	nkeys = n;
	for (i = 0, off = 0; i < n; off += fl->klen[i], i++)
		fl->key[i] = fl->keys.p + off;

	/* Checkpoints: each field, the value this run last saw, the new one.  redis.c takes
	 * three arrays: all fields, then all old values, then all new values. */
	fl->ckbuf.len = 0;
	for (i = 0; i < s->nck; i++) {
		struct ckpt *c = &s->ck[i];
		if (!c->has_batch)
			continue;
		c->inflight.len = 0;
		if (buf_add(&c->inflight, c->batch.p, c->batch.len) == -1 ||
		    buf_add(&fl->ckbuf, c->field.p, c->field.len) == -1 ||
		    buf_add(&fl->ckbuf, c->stored.p, c->has_stored ? c->stored.len : 0) == -1 ||
		    buf_add(&fl->ckbuf, c->batch.p, c->batch.len) == -1)
			goto oom;
		c->has_inflight = 1;
		c->has_batch = 0;
	}
	for (i = 0, off = 0, n = 0; i < s->nck; i++) {
		struct ckpt *c = &s->ck[i];
		size_t lold = c->has_stored ? c->stored.len : 0;
		if (!c->has_inflight)
			continue;
		fl->ck[n] = (struct text){ fl->ckbuf.p + off, c->field.len };
		off += c->field.len;
		fl->ck[nck + n] = (struct text){ fl->ckbuf.p + off, lold };
		off += lold;
		fl->ck[2 * nck + n] = (struct text){ fl->ckbuf.p + off, c->inflight.len };
		off += c->inflight.len;
		n++;
	}

	/* Dead letters move with the batch. */
	fl->dlbuf.len = 0;
	if (buf_add(&fl->dlbuf, s->dl.p, s->dl.len) == -1)
		goto oom;
	s->dl.len = 0;
	for (i = 0, off = 0, ndl = 0; off < fl->dlbuf.len; ndl++) {
		size_t len = strlen(fl->dlbuf.p + off);
		fl->dl[ndl] = (struct text){ fl->dlbuf.p + off, len };
		off += len + 1;
	}
	table_clear(&s->t);

	fl->b = (struct rbatch){ .n = nkeys, .key = fl->key, .klen = fl->klen,
	    .count = fl->count, .nck = nck, .ck_field = fl->ck, .ck_old = fl->ck + nck,
	    .ck_new = fl->ck + 2 * nck, .ndl = ndl, .dl = fl->dl, .refused = on_refused,
	    .arg = s, .extra = nkeys == 0 && nck == 0 && ndl == s->dl_refused };
	s->dl_refused = 0;
	fl->active = 1;
	/* A send that has to retry reads replies: refusals may come back already. */
	s->draining = 1;
	rc = redis_send(s->o.redis, &fl->b, &s->rerr);
	s->draining = 0;
	return rc;
oom:
	kc_errf(&s->rerr, "%s", strerror(ENOMEM));
	return -1;
}

void
sink_reset(struct sink *s)
{
	table_clear(&s->t);
	s->out.len = s->committed = 0;
	if (s->fl != NULL)
		s->fl->active = 0;
	checkpoints_free(s);
	s->has_pend = 0;
	s->dl.len = 0;
	s->dl_refused = 0;
	s->draining = 0;
	s->err = 0;
	s->rerr.msg[0] = '\0';
}

int
sink_flush(struct sink *s, int wait)
{
	if (s->o.kind == SINK_REDIS)
		return redis_flush(s) == -1 || (wait && redis_drain(s) == -1) ? -1 : 0;
	return write_committed(s);
}

int
sink_drain(struct sink *s)
{
	return s->o.kind == SINK_REDIS ? redis_drain(s) : 0;
}

int
sink_finish(struct sink *s)
{
	struct entry **v;
	size_t n = 0;
	char num[32];

	if (s->o.kind == SINK_REDIS) {
		/* A second round carries the dead letters of keys the last batch refused. */
		if (redis_flush(s) == -1 || redis_drain(s) == -1)
			return -1;
		if (s->dl.len > 0 && (redis_flush(s) == -1 || redis_drain(s) == -1))
			return -1;
		return 0;
	}
	if (s->o.kind != SINK_COUNT)
		return write_committed(s);
	s->out.len = s->committed = 0;
	if ((v = malloc((s->t.n + 1) * sizeof(*v))) == NULL) {
		s->err = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < s->t.n; i++)
		if (s->t.e[i].count > 0)
			v[n++] = &s->t.e[i];
	qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(num, sizeof(num), "\t%lld\n", (long long)v[i]->count);
		if (buf_add(&s->out, v[i]->key, v[i]->len) == -1 ||
		    buf_add(&s->out, num, (size_t)len) == -1) {
			s->err = ENOMEM;
			free(v);
			return -1;
		}
		if (s->out.len >= WRITE_AT) {
			s->committed = s->out.len;
			if (write_committed(s) == -1) {
				free(v);
				return -1;
			}
		}
	}
	free(v);
	s->committed = s->out.len;
	return write_committed(s);
}

uint64_t
sink_distinct(const struct sink *s)
{
	uint64_t n = 0;

	if (s->o.kind == SINK_REDIS)
		return s->sent;
	for (size_t i = 0; i < s->t.n; i++)
		if (s->t.e[i].count > 0)
			n++;
	return n;
}

int
sink_errno(const struct sink *s)
{
	return s->err;
}

const char *
sink_error(const struct sink *s)
{
	return s->err ? strerror(s->err) : s->rerr.msg;
}
