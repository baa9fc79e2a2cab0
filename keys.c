/* Key templates.  A template such as `{@date}:{page}:{section}_{id}` is compiled at start-up
 * into a list of parts; the paths it names are registered in the payload matcher, so the
 * decoder captures exactly those values.  Expanding an event then only copies bytes: values
 * are already text, and formatted times are cached per day (or per second).  Each finished
 * key is checked once, whatever its parts came from: no control byte, valid UTF-8. */
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

/* The first size of a time part's cache of its formatted time; it grows as needed. */
#define TIME_CACHE_START	128

struct part {
	int		 kind;
	char		*text;		/* literal, or default text; owned */
	size_t		 len;
	int		 has_default;
	const struct mnode *node;	/* P_SLOT */
	int		 slot;
	char		*path;		/* P_SLOT: the path as written, for messages */
	int		 meta;		/* P_META */
	char		*fmt;		/* P_TIME: strftime format, and one space (see add_time) */
	int		 per_day;	/* the format only shows the date */
	int		 epoch;		/* the format has %s, which add_time writes itself */
	int64_t		 cache_key;	/* P_TIME: day or second formatted in cache */
	char		*cache;		/* owned */
	size_t		 cache_cap;
	size_t		 cache_len;
};

struct tmpl {
	struct part	*parts;
	size_t		 nparts;
	unsigned char	 esc[256];	/* bytes --escape-values encodes */
};

static struct text meta_value(const struct recmeta *, int);

enum cond_op { C_PRESENT, C_EQ, C_NE };

struct cond {
	const struct mnode *node;	/* a path, or NULL for record metadata (meta) */
	int		 meta;		/* enum meta_name, for @NAME */
	int		 slot;
	int		 op;
	char		*text;
	size_t		 len;
	char		*path;		/* the path as written, for messages */
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
	uint64_t	 time_found, time_missing;	/* events with and without it */
	char		*time_path;
	int		 uses_time;
	size_t		 prefix_len;

	struct buf	 keys;		/* the keys of the last event; p is never NULL */
	struct keyref	*refs;
	size_t		 nrefs;
	struct buf	 msg;
	struct buf	 fmt;		/* a time format with %s written out */
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
			free(s->t[i].parts[j].cache);
		}
		free(s->t[i].parts);
	}
	for (size_t i = 0; i < s->nc; i++) {
		free(s->c[i].text);
		free(s->c[i].path);
	}
	free(s->t);
	free(s->c);
	free(s->time_path);
	free(s->refs);
	buf_free(&s->keys);
	buf_free(&s->msg);
	buf_free(&s->fmt);
	free(s);
}

static struct part *part_new(struct tmpl *, int);

/* A byte of a template for a message: 'c' when printable ASCII, else its value, so that no
 * control byte or half of a UTF-8 sequence reaches the terminal. */
static const char *
byte_name(char c, char buf[12])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 12, "'%c'", c);
	else
		snprintf(buf, 12, "byte 0x%02X", (unsigned char)c);
	return buf;
}

static int
is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Check a strftime format at start-up, so that no event is rejected for it later: every
 * conversion is one glibc knows (else it would be copied as it is), none makes a control
 * byte (%n and %t; a control byte written in the format is refused with the template), %s
 * (written by add_time, from the event time itself) takes no flag or width, and no width is
 * over the longest key.  Also tells whether the format shows nothing finer than the day, and
 * whether it has %s.  On a mistake, *bad is the offset of its '%' in f. */
static int
time_format(const char *f, size_t n, size_t max_key, struct part *p, size_t *bad,
    struct kc_err *err)
{
	static const char conv[] = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%";
	static const char date[] = "aAbBCdDeFgGhjmuUVwWxyY%";
	size_t i, start, width;
	int mod;
	char c;

	p->per_day = 1;
	p->epoch = 0;
	for (i = 0; i < n; i++) {
		if (f[i] != '%')
			continue;
		*bad = start = i++;
		while (i < n && (f[i] == '_' || f[i] == '-' || f[i] == '0' || f[i] == '^' ||
		    f[i] == '#'))
			i++;
		for (width = 0; i < n && f[i] >= '0' && f[i] <= '9'; i++)
			if ((width = width * 10 + (size_t)(f[i] - '0')) > max_key) {
				kc_errf(err, "a width over --max-key-bytes (%zu) in a time format",
				    max_key);
				return -1;
			}
		mod = i < n && (f[i] == 'E' || f[i] == 'O') ? f[i++] : 0;
		if (i >= n) {
			kc_errf(err, "'%%' at the end of a time format (write '%%%%' for a "
			    "percent sign)");
			return -1;
		}
		c = f[i];
		/* The conversions glibc takes E and O on (it copies the others as written). */
		if (strchr(conv, c) == NULL ||
		    (mod == 'E' && strchr("cCnpPrRstTuxXyYzZ%", c) == NULL) ||
		    (mod == 'O' && strchr("bBCdegGhHIjklmMnpPrRsStTuUVwWyzZ%", c) == NULL)) {
			if (c > 0x20 && c < 0x7f)
				kc_errf(err, "unknown conversion '%.*s' in a time format",
				    (int)(i - start + 1), f + start);
			else
				kc_errf(err, "unknown conversion in a time format");
			return -1;
		}
		if (c == 'n' || c == 't') {
			kc_errf(err, "'%%%c' in a time format makes a control byte", c);
			return -1;
		}
		if (c == 's') {
			if (i != start + 1) {
				kc_errf(err, "'%%s' takes no flag, width or modifier");
				return -1;
			}
			p->epoch = 1;
		}
		if (strchr(date, c) == NULL)
			p->per_day = 0;
	}
	return 0;
}

/* A time part for a checked format: the format is kept with one space after it, so that
 * strftime's result is never empty and 0 can only mean "too small a buffer". */
static int
time_part(struct tmpl *t, const char *f, size_t n, struct part **pp)
{
	struct part *p;

	if ((p = part_new(t, P_TIME)) == NULL || (p->fmt = malloc(n + 2)) == NULL)
		return -1;
	memcpy(p->fmt, f, n);
	p->fmt[n] = ' ';
	p->fmt[n + 1] = '\0';
	*pp = p;
	return 0;
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
	if ((p = part_new(t, P_LIT)) == NULL || (p->text = strndup(lit->p, lit->len)) == NULL)
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
	char bn[12];

	if (j < n && str[j] == '@') {
		size_t name = ++j;
		/* The whole name, up to what may follow it, so a message shows all of it. */
		while (j < n && str[j] != '}' && str[j] != ':' && str[j] != '{')
			j++;
		if (j - name == 4 && memcmp(str + name, "time", 4) == 0) {
			const char *close;
			size_t bad;
			if (j >= n || str[j] != ':') {
				*col = name;
				kc_errf(err, "'@time' needs a format, as in '{@time:%%Y-%%m-%%d}'");
				return -1;
			}
			if ((close = memchr(str + j, '}', n - j)) == NULL) {
				*col = open + 1;
				kc_errf(err, "unclosed '{'");
				return -1;
			}
			if ((size_t)(close - str) == j + 1) {
				*col = j + 2;
				kc_errf(err, "empty time format");
				return -1;
			}
			if (time_part(t, str + j + 1, (size_t)(close - str) - j - 1, &p) == -1)
				goto oom;
			if (time_format(str + j + 1, (size_t)(close - str) - j - 1, s->o.max_key,
			    p, &bad, err) == -1) {
				*col = j + 2 + bad;
				return -1;
			}
			s->uses_time = 1;
			*i = (size_t)(close - str) + 1;
			return 0;
		}
		if ((j - name == 4 && memcmp(str + name, "date", 4) == 0) ||
		    (j - name == 4 && memcmp(str + name, "hour", 4) == 0)) {
			int day = str[name] == 'd';
			if (time_part(t, day ? "%Y-%m-%d" : "%Y-%m-%dT%H", day ? 8 : 11,
			    &p) == -1)
				goto oom;
			p->per_day = day;
			s->uses_time = 1;
		} else {
			for (k = 0; k < sizeof(meta_names) / sizeof(meta_names[0]); k++)
				if (strlen(meta_names[k]) == j - name &&
				    memcmp(meta_names[k], str + name, j - name) == 0)
					break;
			if (k == sizeof(meta_names) / sizeof(meta_names[0])) {
				/* name - 1 is the '@', as a 1-based column: name. */
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
		    (p->path = strndup(str + j, used)) == NULL)
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
		if ((p->text = strndup(str + j, p->len)) == NULL)
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
		kc_errf(err, "unexpected %s in a field", byte_name(str[j], bn));
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

	/* Control bytes and bytes that are not UTF-8 are refused anywhere in a template (literal
	 * text, a default, a time format): a key holding them would be rejected anyway. */
	while (i < n) {
		size_t k = utf8_seq((const unsigned char *)str + i, n - i);
		if (is_control((unsigned char)str[i]) || k == 0) {
			*col = i + 1;
			kc_errf(err, k == 0 ? "template is not valid UTF-8" :
			    "control byte in template");
			return -1;
		}
		i += k;
	}
	i = 0;
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
	size_t n = strlen(str), used, k = 0;
	const struct mnode *node = NULL;

	if (str[0] == '@') {
		/* Record metadata, by the names templates use: @partition_key... */
		used = 1;
		while (used < n && (str[used] == '_' || (str[used] >= 'a' && str[used] <= 'z') ||
		    (str[used] >= 'A' && str[used] <= 'Z')))
			used++;
		for (k = 0; k < sizeof(meta_names) / sizeof(meta_names[0]); k++)
			if (strlen(meta_names[k]) == used - 1 &&
			    memcmp(meta_names[k], str + 1, used - 1) == 0)
				break;
		if (k == sizeof(meta_names) / sizeof(meta_names[0])) {
			*col = 2;
			kc_errf(err, "unknown name '%.*s'", (int)used, str);
			return -1;
		}
	} else if ((node = match_add_path(s->m, str, n, &used, err)) == NULL) {
		*col = used + 1;
		return -1;
	}
	if ((nc = realloc(s->c, (s->nc + 1) * sizeof(*nc))) == NULL) {
		*col = 1;
		kc_errf(err, "out of memory");
		return -1;
	}
	s->c = nc;
	c = &s->c[s->nc++];
	memset(c, 0, sizeof(*c));
	c->node = node;
	c->meta = (int)k;
	if ((c->path = strndup(str, used)) == NULL) {
		*col = 1;
		kc_errf(err, "out of memory");
		return -1;
	}
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
		if ((c->text = strndup(str + used, c->len)) == NULL) {
			*col = 1;
			kc_errf(err, "out of memory");
			return -1;
		}
		/* 'page==cart' compares with '=cart': allowed, but likely a slip. */
		if (c->len > 0 && c->text[0] == '=') {
			*col = used + 1;
			kc_errf(err, "the text to compare with starts with '=': did you mean "
			    "'%.*s%.*s'?", (int)used, str, (int)(n - used - 1), str + used + 1);
			return 1;
		}
	}
	return 0;
}

int
tmpl_set_time_field(struct tmpl_set *s, const char *str, size_t *col, struct kc_err *err)
{
	size_t n = strlen(str), used;
	char bn[12];

	if ((s->time_node = match_add_path(s->m, str, n, &used, err)) == NULL) {
		*col = used + 1;
		return -1;
	}
	if (used != n) {
		*col = used + 1;
		kc_errf(err, "unexpected %s after the path", byte_name(str[used], bn));
		return -1;
	}
	free(s->time_path);
	if ((s->time_path = strndup(str, n)) == NULL) {
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
		s->c[i].slot = s->c[i].node ? mnode_slot(s->c[i].node) : -1;
}

int
tmpl_finish(struct tmpl_set *s, struct kc_err *err)
{
	size_t col;

	if (s->nt == 0 && tmpl_add_key(s, DEFAULT_TEMPLATE, &col, err) == -1)
		return -1;
	if (s->o.prefix != NULL) {
		const unsigned char *p = (const unsigned char *)s->o.prefix;
		size_t k;
		s->prefix_len = strlen(s->o.prefix);
		for (size_t i = 0; i < s->prefix_len; i += k) {
			k = utf8_seq(p + i, s->prefix_len - i);
			if (is_control(p[i]) || k == 0) {
				kc_errf(err, "--prefix: %s at column %zu", k == 0 ?
				    "not valid UTF-8" : "control byte", i + 1);
				return -1;
			}
		}
	}
	/* Room for the keys from the start: a key that is empty is then never a null pointer. */
	if ((s->refs = calloc(s->nt, sizeof(*s->refs))) == NULL ||
	    buf_reserve(&s->keys, 256) == -1) {
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
	for (size_t i = 0; i < s->nc; i++)
		if (s->c[i].node == NULL && (size_t)s->c[i].meta < sizeof(bits) / sizeof(bits[0]))
			m |= bits[s->c[i].meta];
	return m;
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

static int
reject_long(struct tmpl_set *s, enum kc_reason *why, const char **msg)
{
	char n[32];

	snprintf(n, sizeof(n), "%zu", s->o.max_key);
	return reject(s, R_KEY, why, msg, "key is longer than %s bytes", n);
}

int
tmpl_match(struct tmpl_set *s, const struct event *ev, enum kc_reason *why, const char **msg)
{
	/* No answer from text that is not text: the event is rejected, not filtered,
	 * whichever condition comes first. */
	for (size_t i = 0; i < s->nc; i++)
		if (s->c[i].slot >= 0 && ev->slots[s->c[i].slot].type == SLOT_BADUTF8)
			return reject(s, R_FIELD, why, msg, "field %s is not valid UTF-8",
			    s->c[i].path);
	for (size_t i = 0; i < s->nc; i++) {
		const struct cond *c = &s->c[i];
		const struct slot *v;
		struct slot mv;
		int eq;

		if (c->slot >= 0) {
			v = &ev->slots[c->slot];
		} else {
			/* Metadata: text, empty when unknown. */
			struct text t = meta_value(ev->meta, c->meta);
			mv = (struct slot){ t.p, t.n, t.n > 0 ? SLOT_STRING : SLOT_MISSING };
			v = &mv;
		}

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
	if (n == 0)
		return 0;	/* p may be NULL then */
	if (b->cap - b->len < n && buf_reserve(b, n) == -1)
		return -1;
	copy_small(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Append a value: as it is, or with --escape-values percent-encoded: '%', control bytes,
 * the bytes of the template's literal text, and every byte that is not part of a valid UTF-8
 * sequence.  Distinct values then still give distinct keys, and the key is valid UTF-8.
 * Without the option, the finished key is checked (tmpl_expand). */
static inline int
add_value(struct tmpl_set *s, const struct tmpl *t, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)p;
	size_t i, k;

	if (!s->o.escape)
		return put(&s->keys, p, n);
	if (n == 0)
		return 0;
	if (buf_reserve(&s->keys, 3 * n) == -1)
		return -1;
	for (i = 0; i < n; i += k) {
		k = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i);
		/* A byte that starts no valid sequence is encoded on its own. */
		for (size_t j = 0; j < (k ? k : 1); j++) {
			unsigned char c = u[i + j];
			char *o = s->keys.p + s->keys.len;
			if (k == 0 || t->esc[c]) {
				o[0] = '%';
				o[1] = hex[c >> 4];
				o[2] = hex[c & 15];
				s->keys.len += 3;
			} else {
				o[0] = (char)c;
				s->keys.len++;
			}
		}
		if (k == 0)
			k = 1;
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

/* The event's time: --time-field, else the record's arrival, else the clock.  Returns 0, or
 * -1 (not a time) or -2 (not valid UTF-8) for a time field that cannot be read. */
static int
event_time(struct tmpl_set *s, const struct event *ev, int64_t *t)
{
	if (s->time_slot >= 0) {
		const struct slot *v = &ev->slots[s->time_slot];
		switch (v->type) {
		case SLOT_MISSING:
		case SLOT_NULL:
			s->time_missing++;
			break;
		case SLOT_NUMBER:
		case SLOT_STRING:
			s->time_found++;
			return kc_time_parse(v->p, v->n, v->type == SLOT_STRING,
			    s->o.local_time, t);
		case SLOT_BADUTF8:
			s->time_found++;
			return -2;
		default:
			s->time_found++;
			return -1;
		}
	}
	*t = ev->meta->has_time ? ev->meta->time : ev->meta->read_time;
	return 0;
}

/* p->fmt with every %s replaced by t in decimal, in s->fmt.  strftime's own %s reads the
 * broken-down time back through mktime(3), that is in local time, whatever gave it.  The
 * format was checked by time_format: every '%' starts a whole conversion, and %s has no
 * flag, width or modifier. */
static const char *
epoch_format(struct tmpl_set *s, const char *f, int64_t t)
{
	char num[24];
	int nn = snprintf(num, sizeof(num), "%lld", (long long)t);
	size_t k;

	s->fmt.len = 0;
	while (*f != '\0') {
		if (f[0] == '%' && f[1] == 's') {
			if (buf_add(&s->fmt, num, (size_t)nn) == -1)
				return NULL;
			f += 2;
			continue;
		}
		/* Any other conversion is copied whole ("%_%s" is a '%' and an 's'). */
		k = 1;
		if (f[0] == '%') {
			k += strspn(f + 1, "_-0^#0123456789EO");
			k++;
		}
		if (buf_add(&s->fmt, f, k) == -1)
			return NULL;
		f += k;
	}
	return buf_addc(&s->fmt, '\0') == -1 ? NULL : s->fmt.p;
}

/* Append the formatted time.  Returns 0, -1 when memory is exhausted, or 2 when the result
 * is longer than any key may be (the cache grows up to that). */
static int
add_time(struct tmpl_set *s, struct part *p, int64_t t)
{
	int64_t key = t;
	struct tm tm;
	time_t tt = (time_t)t;
	const char *f = p->fmt;
	size_t n, cap;
	char *nc;

	if (p->per_day && !s->o.local_time)
		key = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	if (key != p->cache_key) {
		if ((s->o.local_time ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)) == NULL)
			return -1;
		if (p->epoch && (f = epoch_format(s, p->fmt, t)) == NULL)
			return -1;
		/* The format ends in a space, so 0 means only that the result did not fit:
		 * grow until it does, or until it could not fit in a key with its NUL. */
		while ((n = p->cache_cap > 0 ? strftime(p->cache, p->cache_cap, f, &tm) : 0)
		    == 0) {
			if (p->cache_cap >= s->o.max_key + 2)
				return 2;
			cap = p->cache_cap ? 2 * p->cache_cap : TIME_CACHE_START;
			if (cap > s->o.max_key + 2)
				cap = s->o.max_key + 2;
			if ((nc = realloc(p->cache, cap)) == NULL)
				return -1;
			p->cache = nc;
			p->cache_cap = cap;
		}
		p->cache_len = n - 1;	/* without the space */
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

		if (put(&s->keys, s->o.prefix, s->prefix_len) == -1)
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
				if (v->type == SLOT_BADUTF8)
					return reject(s, R_FIELD, why, msg,
					    "field %s is not valid UTF-8", p->path);
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
					int e = event_time(s, ev, &t);
					if (e == -2)
						return reject(s, R_FIELD, why, msg,
						    "field %s is not valid UTF-8",
						    s->time_path);
					if (e == -1)
						return reject(s, R_TIME, why, msg,
						    "field %s is not a time", s->time_path);
					have_time = 1;
				}
				r = add_time(s, p, t);
				break;
			}
			if (r == 2)
				return reject_long(s, why, msg);
			if (r == -1)
				return reject(s, R_KEY, why, msg, "%s", "out of memory");
		}
		if (skip) {
			s->keys.len = start;
			continue;
		}
		if (s->keys.len - start > s->o.max_key)
			return reject_long(s, why, msg);
		/* One check of the finished key, whatever its bytes came from: a value, a
		 * default, metadata, or a formatted time (%Z is whatever TZ names). */
		switch (text_check(s->keys.p + start, s->keys.len - start)) {
		case TEXT_CONTROL:
			return reject(s, R_KEY, why, msg, "%s", "key has a control byte");
		case TEXT_BAD_UTF8:
			return reject(s, R_KEY, why, msg, "%s", "key is not valid UTF-8");
		case TEXT_OK:
			break;
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

void
tmpl_time_stats(const struct tmpl_set *s, uint64_t *found, uint64_t *missing)
{
	*found = s->time_found;
	*missing = s->time_missing;
}
