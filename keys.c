/* Key templates.  A template such as `{@date}:{page}:{section}_{id}` is compiled at start-up
 * into a list of parts; the paths it names are registered in the payload matcher, so the
 * decoder captures exactly those values.  Expanding an event then only copies bytes: values
 * are already text, and formatted times are cached per day (or per second). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"

enum part_kind { P_LIT, P_SLOT, P_META, P_TIME };

enum meta_name {
	M_PARTITION_KEY, M_SEQUENCE_NUMBER, M_SUB_SEQUENCE_NUMBER, M_EXPLICIT_HASH_KEY,
	M_SHARD_ID, M_STREAM, M_REGION, M_LOG_GROUP, M_LOG_STREAM, M_LOG_EVENT_ID
};

static const char *const meta_names[] = {
	"partition_key", "sequence_number", "sub_sequence_number", "explicit_hash_key",
	"shard_id", "stream", "region", "log_group", "log_stream", "log_event_id"
};

struct part {
	int		 kind;
	char		*text;		/* literal, or default text; owned */
	size_t		 len;
	int		 has_default;
	const struct mnode *node;	/* P_SLOT */
	int		 slot;
	char		*path;		/* P_SLOT: the path as written, for messages */
	int		 meta;		/* P_META */
	char		*fmt;		/* P_TIME: strftime format */
	int		 per_day;	/* the format only shows the date */
	int64_t		 cache_key;	/* P_TIME: day or second formatted in cache */
	char		 cache[128];
	size_t		 cache_len;
};

struct tmpl {
	struct part	*parts;
	size_t		 nparts;
	unsigned char	 esc[256];	/* bytes --escape-values encodes */
};

enum cond_op { C_PRESENT, C_EQ, C_NE };

struct cond {
	const struct mnode *node;
	int		 slot;
	int		 op;
	char		*text;
	size_t		 len;
};

struct keyref {
	size_t	 off, len;
};

struct tmpl_set {
	struct keys_opts o;
	struct matcher	*m;
	struct tmpl	*t;
	size_t		 nt;
	struct cond	*c;
	size_t		 nc;
	const struct mnode *time_node;
	int		 time_slot;
	char		*time_path;
	int		 uses_time;
	size_t		 prefix_len;

	struct buf	 keys;		/* the keys of the last event */
	struct keyref	*refs;
	size_t		 nrefs;
	struct buf	 msg;
};

#define DEFAULT_TEMPLATE "{@date}:{page}:{section}:{element}:{action}_{id}"

struct tmpl_set *
tmpl_new(const struct keys_opts *o, struct matcher *m)
{
	struct tmpl_set *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->o = *o;
	s->m = m;
	s->time_slot = -1;
	return s;
}

void
tmpl_free(struct tmpl_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nt; i++) {
		for (size_t j = 0; j < s->t[i].nparts; j++) {
			free(s->t[i].parts[j].text);
			free(s->t[i].parts[j].path);
			free(s->t[i].parts[j].fmt);
		}
		free(s->t[i].parts);
	}
	for (size_t i = 0; i < s->nc; i++)
		free(s->c[i].text);
	free(s->t);
	free(s->c);
	free(s->time_path);
	free(s->refs);
	buf_free(&s->keys);
	buf_free(&s->msg);
	free(s);
}

static char *
dup_n(const char *p, size_t n)
{
	char *r;

	if ((r = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(r, p, n);
	r[n] = '\0';
	return r;
}

static int
is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Does a strftime format show nothing finer than the day? */
static int
date_only(const char *f)
{
	for (; *f; f++) {
		if (*f != '%')
			continue;
		f++;
		while (*f == 'E' || *f == 'O' || *f == '-' || *f == '_' || *f == '0' ||
		    *f == '^' || *f == '#')
			f++;
		if (*f == '\0' || strchr("YmdFjaAbBhyCeuwUWVGgDx%nt", *f) == NULL)
			return 0;
	}
	return 1;
}

static struct part *
part_new(struct tmpl *t, int kind)
{
	struct part *np, *p;

	np = realloc(t->parts, (t->nparts + 1) * sizeof(*np));
	if (np == NULL)
		return NULL;
	t->parts = np;
	p = &t->parts[t->nparts++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->slot = -1;
	p->cache_key = INT64_MIN;
	return p;
}

static int
flush_literal(struct tmpl *t, struct buf *lit)
{
	struct part *p;

	if (lit->len == 0)
		return 0;
	if ((p = part_new(t, P_LIT)) == NULL || (p->text = dup_n(lit->p, lit->len)) == NULL)
		return -1;
	p->len = lit->len;
	for (size_t i = 0; i < lit->len; i++)
		t->esc[(unsigned char)lit->p[i]] = 1;
	lit->len = 0;
	return 0;
}

/* Parse the placeholder that starts at s[*i] == '{'. */
static int
placeholder(struct tmpl_set *s, struct tmpl *t, const char *str, size_t n, size_t *i,
    struct kc_err *err, size_t *col)
{
	size_t open = *i, j = *i + 1, used, k;
	struct part *p;

	if (j < n && str[j] == '@') {
		size_t name = ++j;
		while (j < n && ((str[j] >= 'a' && str[j] <= 'z') || str[j] == '_'))
			j++;
		if (j - name == 4 && memcmp(str + name, "time", 4) == 0 && j < n &&
		    str[j] == ':') {
			const char *close = memchr(str + j, '}', n - j);
			if (close == NULL) {
				*col = open + 1;
				kc_errf(err, "unclosed '{'");
				return -1;
			}
			if ((size_t)(close - str) == j + 1) {
				*col = j + 2;
				kc_errf(err, "empty time format");
				return -1;
			}
			if ((p = part_new(t, P_TIME)) == NULL ||
			    (p->fmt = dup_n(str + j + 1, (size_t)(close - str) - j - 1)) == NULL)
				goto oom;
			p->per_day = date_only(p->fmt);
			s->uses_time = 1;
			*i = (size_t)(close - str) + 1;
			return 0;
		}
		if ((j - name == 4 && memcmp(str + name, "date", 4) == 0) ||
		    (j - name == 4 && memcmp(str + name, "hour", 4) == 0)) {
			int day = str[name] == 'd';
			if ((p = part_new(t, P_TIME)) == NULL ||
			    (p->fmt = dup_n(day ? "%Y-%m-%d" : "%Y-%m-%dT%H", day ? 8 : 11)) == NULL)
				goto oom;
			p->per_day = day;
			s->uses_time = 1;
		} else {
			for (k = 0; k < sizeof(meta_names) / sizeof(meta_names[0]); k++)
				if (strlen(meta_names[k]) == j - name &&
				    memcmp(meta_names[k], str + name, j - name) == 0)
					break;
			if (k == sizeof(meta_names) / sizeof(meta_names[0])) {
				*col = name;
				kc_errf(err, "unknown name '@%.*s'", (int)(j - name), str + name);
				return -1;
			}
			if ((p = part_new(t, P_META)) == NULL)
				goto oom;
			p->meta = (int)k;
		}
	} else {
		const struct mnode *node = match_add_path(s->m, str + j, n - j, &used, err);
		if (node == NULL) {
			*col = j + used + 1;
			return -1;
		}
		if ((p = part_new(t, P_SLOT)) == NULL ||
		    (p->path = dup_n(str + j, used)) == NULL)
			goto oom;
		p->node = node;
		j += used;
	}
	if (j + 1 < n && str[j] == ':' && str[j + 1] == '-') {
		const char *close;
		if (p->kind == P_TIME) {
			*col = j + 1;
			kc_errf(err, "a time has no default");
			return -1;
		}
		j += 2;
		if ((close = memchr(str + j, '}', n - j)) == NULL) {
			*col = open + 1;
			kc_errf(err, "unclosed '{'");
			return -1;
		}
		for (k = j; k < (size_t)(close - str); k++)
			if (str[k] == '{') {
				*col = k + 1;
				kc_errf(err, "'{' in a default text");
				return -1;
			}
		p->has_default = 1;
		p->len = (size_t)(close - str) - j;
		if ((p->text = dup_n(str + j, p->len)) == NULL)
			goto oom;
		j = (size_t)(close - str);
	}
	if (j >= n) {
		*col = open + 1;
		kc_errf(err, "unclosed '{'");
		return -1;
	}
	if (str[j] != '}') {
		*col = j + 1;
		kc_errf(err, "unexpected '%c' in a field", str[j]);
		return -1;
	}
	*i = j + 1;
	return 0;
oom:
	*col = open + 1;
	kc_errf(err, "out of memory");
	return -1;
}

int
tmpl_add_key(struct tmpl_set *s, const char *str, size_t *col, struct kc_err *err)
{
	struct tmpl *nt, *t;
	struct buf lit = { 0 };
	size_t n = strlen(str), i = 0;

	if ((nt = realloc(s->t, (s->nt + 1) * sizeof(*nt))) == NULL) {
		kc_errf(err, "out of memory");
		*col = 1;
		return -1;
	}
	s->t = nt;
	t = &s->t[s->nt++];
	memset(t, 0, sizeof(*t));
	t->esc['%'] = 1;
	for (int c = 0; c < 0x20; c++)
		t->esc[c] = 1;
	t->esc[0x7f] = 1;
	while (i < n) {
		char c = str[i];
		if (c == '{' && i + 1 < n && str[i + 1] == '{') {
			buf_addc(&lit, '{');
			i += 2;
		} else if (c == '}' && i + 1 < n && str[i + 1] == '}') {
			buf_addc(&lit, '}');
			i += 2;
		} else if (c == '}') {
			*col = i + 1;
			kc_errf(err, "unmatched '}' (write '}}' for a literal brace)");
			goto fail;
		} else if (c == '{') {
			if (flush_literal(t, &lit) == -1 ||
			    placeholder(s, t, str, n, &i, err, col) == -1)
				goto fail;
		} else if (is_control((unsigned char)c)) {
			*col = i + 1;
			kc_errf(err, "control byte in template");
			goto fail;
		} else {
			buf_addc(&lit, c);
			i++;
		}
	}
	if (flush_literal(t, &lit) == -1) {
		*col = 1;
		kc_errf(err, "out of memory");
		goto fail;
	}
	buf_free(&lit);
	return 0;
fail:
	buf_free(&lit);
	return -1;
}

int
tmpl_add_where(struct tmpl_set *s, const char *str, size_t *col, struct kc_err *err)
{
	struct cond *nc, *c;
	size_t n = strlen(str), used;
	const struct mnode *node;

	if ((node = match_add_path(s->m, str, n, &used, err)) == NULL) {
		*col = used + 1;
		return -1;
	}
	if ((nc = realloc(s->c, (s->nc + 1) * sizeof(*nc))) == NULL) {
		*col = 1;
		kc_errf(err, "out of memory");
		return -1;
	}
	s->c = nc;
	c = &s->c[s->nc];
	memset(c, 0, sizeof(*c));
	c->node = node;
	if (used == n) {
		c->op = C_PRESENT;
	} else if (str[used] == '=') {
		c->op = C_EQ;
		used += 1;
	} else if (str[used] == '!' && used + 1 < n && str[used + 1] == '=') {
		c->op = C_NE;
		used += 2;
	} else {
		*col = used + 1;
		kc_errf(err, "expected '=', '!=' or the end after the path");
		return -1;
	}
	if (c->op != C_PRESENT) {
		c->len = n - used;
		if ((c->text = dup_n(str + used, c->len)) == NULL) {
			*col = 1;
			kc_errf(err, "out of memory");
			return -1;
		}
	}
	s->nc++;
	return 0;
}

int
tmpl_set_time_field(struct tmpl_set *s, const char *str, size_t *col, struct kc_err *err)
{
	size_t n = strlen(str), used;

	if ((s->time_node = match_add_path(s->m, str, n, &used, err)) == NULL) {
		*col = used + 1;
		return -1;
	}
	if (used != n) {
		*col = used + 1;
		kc_errf(err, "unexpected '%c' after the path", str[used]);
		return -1;
	}
	free(s->time_path);
	if ((s->time_path = dup_n(str, n)) == NULL) {
		*col = 1;
		kc_errf(err, "out of memory");
		return -1;
	}
	return 0;
}

/* Resolve trie nodes to slots; match_finish() numbers slots only once all paths are in. */
static void
resolve(struct tmpl_set *s)
{
	if (s->time_node != NULL)
		s->time_slot = mnode_slot(s->time_node);
	for (size_t i = 0; i < s->nt; i++)
		for (size_t j = 0; j < s->t[i].nparts; j++)
			if (s->t[i].parts[j].kind == P_SLOT)
				s->t[i].parts[j].slot = mnode_slot(s->t[i].parts[j].node);
	for (size_t i = 0; i < s->nc; i++)
		s->c[i].slot = mnode_slot(s->c[i].node);
}

int
tmpl_finish(struct tmpl_set *s, struct kc_err *err)
{
	size_t col;

	if (s->nt == 0 && tmpl_add_key(s, DEFAULT_TEMPLATE, &col, err) == -1)
		return -1;
	if (s->o.prefix != NULL) {
		s->prefix_len = strlen(s->o.prefix);
		for (size_t i = 0; i < s->prefix_len; i++)
			if (is_control((unsigned char)s->o.prefix[i])) {
				kc_errf(err, "--prefix: control byte at column %zu", i + 1);
				return -1;
			}
	}
	if ((s->refs = calloc(s->nt, sizeof(*s->refs))) == NULL) {
		kc_errf(err, "out of memory");
		return -1;
	}
	match_finish(s->m);
	resolve(s);
	return 0;
}

unsigned
tmpl_meta(const struct tmpl_set *s)
{
	static const unsigned bits[] = {
		[M_PARTITION_KEY] = META_PK, [M_SUB_SEQUENCE_NUMBER] = META_SUBSEQ,
		[M_SHARD_ID] = META_SHARD, [M_STREAM] = META_STREAM, [M_REGION] = META_REGION,
	};
	unsigned m = 0;

	for (size_t i = 0; i < s->nt; i++)
		for (size_t j = 0; j < s->t[i].nparts; j++)
			if (s->t[i].parts[j].kind == P_META &&
			    (size_t)s->t[i].parts[j].meta < sizeof(bits) / sizeof(bits[0]))
				m |= bits[s->t[i].parts[j].meta];
	return m;
}

int
tmpl_match(const struct tmpl_set *s, const struct event *ev)
{
	for (size_t i = 0; i < s->nc; i++) {
		const struct cond *c = &s->c[i];
		const struct slot *v = &ev->slots[c->slot];
		int eq;

		switch (c->op) {
		case C_PRESENT:
			if (v->type == SLOT_MISSING || v->type == SLOT_NULL ||
			    (v->type == SLOT_STRING && v->n == 0))
				return 0;
			break;
		default:
			eq = (v->type == SLOT_STRING || v->type == SLOT_NUMBER ||
			    v->type == SLOT_BOOL) && v->n == c->len &&
			    memcmp(v->p, c->text, c->len) == 0;
			if (eq != (c->op == C_EQ))
				return 0;
			break;
		}
	}
	return 1;
}

static int
reject(struct tmpl_set *s, enum kc_reason r, enum kc_reason *why, const char **msg,
    const char *fmt, const char *arg)
{
	s->msg.len = 0;
	if (buf_reserve(&s->msg, strlen(fmt) + strlen(arg) + 32) == 0) {
		int n = snprintf(s->msg.p, s->msg.cap, fmt, arg);
		s->msg.len = n > 0 ? (size_t)n : 0;
	}
	*why = r;
	*msg = s->msg.p ? s->msg.p : "out of memory";
	return -1;
}

/* Copy a short run of bytes without a call: keys are made of many small pieces. */
static inline void
copy_small(char *d, const char *p, size_t n)
{
	if (n >= 8 && n <= 16) {
		uint64_t a, b;
		memcpy(&a, p, 8);
		memcpy(&b, p + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n > 16) {
		memcpy(d, p, n);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = p[i];
	}
}

static inline int
put(struct buf *b, const char *p, size_t n)
{
	if (b->cap - b->len < n && buf_reserve(b, n) == -1)
		return -1;
	copy_small(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Does a value hold a byte below 0x20 or 0x7f?  Eight bytes at a time: the usual
 * "has a byte less than" and "has a zero byte" word tricks, exact about whether one is
 * there. */
static inline int
has_control(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, p + i, 8);
		y = x ^ (ones * 0x7f);
		if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & highs)
			return 1;
	}
	if (n - i >= 4) {
		/* The last four to seven bytes as two words that may overlap. */
		uint32_t w[2], o1 = 0x01010101u, h1 = 0x80808080u;
		memcpy(&w[0], p + i, 4);
		memcpy(&w[1], p + n - 4, 4);
		for (int j = 0; j < 2; j++) {
			uint32_t x = w[j], y = x ^ (o1 * 0x7f);
			if ((((x - o1 * 0x20) & ~x) | ((y - o1) & ~y)) & h1)
				return 1;
		}
		return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 1;
	return 0;
}

/* Append a value: escaped with --escape-values, else refused (1) when it holds a control
 * byte. */
static inline int
add_value(struct tmpl_set *s, const struct tmpl *t, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	if (!s->o.escape) {
		if (has_control(p, n))
			return 1;
		return put(&s->keys, p, n);
	}
	if (buf_reserve(&s->keys, 3 * n) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char *o = s->keys.p + s->keys.len;
		if (t->esc[c]) {
			o[0] = '%';
			o[1] = hex[c >> 4];
			o[2] = hex[c & 15];
			s->keys.len += 3;
		} else {
			o[0] = (char)c;
			s->keys.len++;
		}
	}
	return 0;
}

static struct text
meta_value(const struct recmeta *m, int name)
{
	switch (name) {
	case M_PARTITION_KEY:		return m->pk;
	case M_SEQUENCE_NUMBER:		return m->seq;
	case M_SUB_SEQUENCE_NUMBER:	return m->subseq;
	case M_EXPLICIT_HASH_KEY:	return m->ehk;
	case M_SHARD_ID:		return m->shard;
	case M_STREAM:			return m->stream;
	case M_REGION:			return m->region;
	case M_LOG_GROUP:		return m->log_group;
	case M_LOG_STREAM:		return m->log_stream;
	default:			return m->log_event_id;
	}
}

/* The event's time: --time-field, else the record's arrival, else the clock. */
static int
event_time(struct tmpl_set *s, const struct event *ev, int64_t *t)
{
	if (s->time_slot >= 0) {
		const struct slot *v = &ev->slots[s->time_slot];
		switch (v->type) {
		case SLOT_MISSING:
		case SLOT_NULL:
			break;
		case SLOT_NUMBER:
		case SLOT_STRING:
			return kc_time_parse(v->p, v->n, v->type == SLOT_STRING,
			    s->o.local_time, t);
		default:
			return -1;
		}
	}
	*t = ev->meta->has_time ? ev->meta->time : ev->meta->read_time;
	return 0;
}

static int
add_time(struct tmpl_set *s, struct part *p, int64_t t)
{
	int64_t key = t;
	struct tm tm;
	time_t tt = (time_t)t;

	if (p->per_day && !s->o.local_time)
		key = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	if (key != p->cache_key) {
		if ((s->o.local_time ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)) == NULL)
			return -1;
		p->cache_len = strftime(p->cache, sizeof(p->cache), p->fmt, &tm);
		p->cache_key = key;
	}
	return put(&s->keys, p->cache, p->cache_len);
}

int
tmpl_expand(struct tmpl_set *s, const struct event *ev, enum kc_reason *why,
    const char **msg)
{
	int64_t t = 0;
	int have_time = 0;

	s->keys.len = 0;
	s->nrefs = 0;
	for (size_t i = 0; i < s->nt; i++) {
		struct tmpl *tp = &s->t[i];
		size_t start = s->keys.len;
		int skip = 0, r = 0;

		if (s->prefix_len > 0 && put(&s->keys, s->o.prefix, s->prefix_len) == -1)
			return reject(s, R_KEY, why, msg, "%s", "out of memory");
		for (size_t j = 0; j < tp->nparts; j++) {
			struct part *p = &tp->parts[j];
			const struct slot *v;
			struct text m;

			switch (p->kind) {
			case P_LIT:
				r = put(&s->keys, p->text, p->len);
				break;
			case P_SLOT:
				v = &ev->slots[p->slot];
				if (v->type == SLOT_OBJECT)
					return reject(s, R_FIELD, why, msg,
					    "field %s is an object", p->path);
				if (v->type == SLOT_ARRAY)
					return reject(s, R_FIELD, why, msg,
					    "field %s is an array", p->path);
				if (p->has_default && (v->type == SLOT_MISSING ||
				    v->type == SLOT_NULL || v->n == 0)) {
					r = add_value(s, tp, p->text, p->len);
				} else if (v->type == SLOT_MISSING || v->type == SLOT_NULL) {
					if (s->o.missing == MISSING_REJECT)
						return reject(s, R_MISSING, why, msg,
						    "field %s is missing", p->path);
					if (s->o.missing == MISSING_SKIP)
						skip = 1;
				} else {
					r = add_value(s, tp, v->p, v->n);
				}
				break;
			case P_META:
				m = meta_value(ev->meta, p->meta);
				if (m.n == 0 && p->has_default)
					r = add_value(s, tp, p->text, p->len);
				else
					r = add_value(s, tp, m.p, m.n);
				break;
			case P_TIME:
				if (!have_time) {
					if (event_time(s, ev, &t) == -1)
						return reject(s, R_TIME, why, msg,
						    "field %s is not a time", s->time_path);
					have_time = 1;
				}
				r = add_time(s, p, t);
				break;
			}
			if (r == 1)
				return reject(s, R_KEY, why, msg, "%s", "key has a control byte");
			if (r == -1)
				return reject(s, R_KEY, why, msg, "%s", "out of memory");
		}
		if (skip) {
			s->keys.len = start;
			continue;
		}
		if (s->keys.len - start > s->o.max_key) {
			char n[32];
			snprintf(n, sizeof(n), "%zu", s->o.max_key);
			return reject(s, R_KEY, why, msg, "key is longer than %s bytes", n);
		}
		s->refs[s->nrefs].off = start;
		s->refs[s->nrefs].len = s->keys.len - start;
		s->nrefs++;
	}
	return 0;
}

size_t
tmpl_nkeys(const struct tmpl_set *s)
{
	return s->nrefs;
}

const char *
tmpl_key(const struct tmpl_set *s, size_t i, size_t *len)
{
	*len = s->refs[i].len;
	return s->keys.p + s->refs[i].off;
}
