/* The path matcher.  Paths are parsed once, at start-up, into a trie; while a document is
 * parsed, each open object or array holds the trie node it corresponds to (or none), and a
 * value that lands on a node with a slot is captured.  Names are compared by length and
 * bytes, so a lookup costs a few comparisons per member even for wide objects. */
#include <stdlib.h>
#include <string.h>

#include "match.h"

struct mnode {
	char		*name;		/* member name, owned; NULL for an index step */
	size_t		 nlen;
	long		 index;		/* element index; MNODE_ANY for [*] */
	struct mnode	*child;		/* first child */
	struct mnode	*next;		/* next sibling */
	int		 slot;		/* value slot of a registered path, or -1 */
	int		 lo, hi;	/* slots of this subtree: [lo, hi) */
	int		 tag;		/* caller's mark (envelope field), 0 when none */
	uint64_t	 names;		/* one bit per child name, from its length and first
					 * byte: most members match no path, and this says so
					 * without looking at the children */
};

struct matcher {
	struct mnode	 root;
	int		 nslots;
};

static inline uint64_t
mnode_name_bit(const char *k, size_t len)
{
	return (uint64_t)1 << (((len ? (unsigned char)k[0] : 0) * 7u + len) & 63);
}

/* Names are short: eight bytes at a time beats a call to memcmp. */
static inline int
name_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y;

	for (; n >= 8; a += 8, b += 8, n -= 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return 0;
	}
	if (n >= 4) {
		uint32_t u, v, w, z;
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		memcpy(&w, a + n - 4, 4);
		memcpy(&z, b + n - 4, 4);
		return u == v && w == z;
	}
	while (n-- > 0)
		if (*a++ != *b++)
			return 0;
	return 1;
}

const struct mnode *
mnode_key(const struct mnode *n, const char *k, size_t len)
{
	const struct mnode *c;

	if ((n->names & mnode_name_bit(k, len)) == 0)
		return NULL;
	for (c = n->child; c != NULL; c = c->next)
		if (c->name != NULL && c->nlen == len && name_eq(c->name, k, len))
			return c;
	return NULL;
}

const struct mnode *
mnode_index(const struct mnode *n, long i)
{
	const struct mnode *c;

	for (c = n->child; c != NULL; c = c->next)
		if (c->name == NULL && (c->index == i || c->index == MNODE_ANY))
			return c;
	return NULL;
}

int
mnode_slot(const struct mnode *n)
{
	return n->slot;
}

void
mnode_slots(const struct mnode *n, int *lo, int *hi)
{
	*lo = n->lo;
	*hi = n->hi;
}

int
mnode_tag(const struct mnode *n)
{
	return n->tag;
}

void
mnode_set_tag(struct mnode *n, int tag)
{
	n->tag = tag;
}

struct matcher *
match_new(void)
{
	struct matcher *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->root.slot = -1;
	m->root.index = 0;
	return m;
}

static void
node_free(struct mnode *n)
{
	struct mnode *c, *next;

	for (c = n->child; c != NULL; c = next) {
		next = c->next;
		node_free(c);
		free(c->name);
		free(c);
	}
}

void
match_free(struct matcher *m)
{
	if (m == NULL)
		return;
	node_free(&m->root);
	free(m);
}

/* The child of parent for a name (name != NULL) or an index; created when absent.  Children
 * keep the order in which they were added. */
static struct mnode *
node_child(struct mnode *parent, const char *name, size_t nlen, long index)
{
	struct mnode *c, **tail;

	for (tail = &parent->child; (c = *tail) != NULL; tail = &c->next) {
		if (name != NULL && c->name != NULL && c->nlen == nlen &&
		    memcmp(c->name, name, nlen) == 0)
			return c;
		if (name == NULL && c->name == NULL && c->index == index)
			return c;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->slot = -1;
	c->index = index;
	if (name != NULL) {
		/* One spare byte so an empty name still gets a non-NULL pointer. */
		if ((c->name = malloc(nlen + 1)) == NULL) {
			free(c);
			return NULL;
		}
		memcpy(c->name, name, nlen);
		c->name[nlen] = '\0';
		c->nlen = nlen;
		parent->names |= mnode_name_bit(name, nlen);
	}
	*tail = c;
	return c;
}

static int
is_name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '$' || c >= 0x80;
}

/* Parse a quoted name at s[*i] (which is '"'), unescaping \" and \\ into out. */
static int
parse_quoted(const char *s, size_t n, size_t *i, struct buf *out, struct kc_err *err)
{
	size_t j = *i + 1;

	out->len = 0;
	for (;;) {
		if (j >= n) {
			kc_errf(err, "unclosed '\"'");
			return -1;
		}
		if (s[j] == '"')
			break;
		if (s[j] == '\\') {
			if (j + 1 >= n || (s[j + 1] != '"' && s[j + 1] != '\\')) {
				*i = j;
				kc_errf(err, "bad path: only \\\" and \\\\ escapes in quoted names");
				return -1;
			}
			j++;
		}
		if (buf_addc(out, s[j]) == -1) {
			kc_errf(err, "out of memory");
			return -1;
		}
		j++;
	}
	*i = j + 1;
	return 0;
}

struct mnode *
match_add_path(struct matcher *m, const char *s, size_t n, size_t *used, struct kc_err *err)
{
	struct mnode *node = &m->root, *next;
	struct buf name = { 0 };
	size_t i = 0, start;
	int steps = 0;

	if (i < n && s[i] == '.')
		i++;
	for (;;) {
		next = NULL;
		start = i;
		if (i < n && s[i] == '"') {
			if (parse_quoted(s, n, &i, &name, err) == -1)
				goto fail;
			next = node_child(node, name.p ? name.p : "", name.len, 0);
		} else if (i < n && s[i] == '[') {
			i++;
			if (i < n && s[i] == '"') {
				if (parse_quoted(s, n, &i, &name, err) == -1)
					goto fail;
				next = node_child(node, name.p ? name.p : "", name.len, 0);
			} else if (i < n && s[i] >= '0' && s[i] <= '9') {
				long idx = 0;
				while (i < n && s[i] >= '0' && s[i] <= '9') {
					if (idx > 100000000) {
						kc_errf(err, "bad path: index too large");
						goto fail;
					}
					idx = idx * 10 + (s[i++] - '0');
				}
				next = node_child(node, NULL, 0, idx);
			} else if (i < n && s[i] == '-') {
				kc_errf(err, "bad path: negative indexes are not supported");
				goto fail;
			} else if (i < n && s[i] == ']') {
				kc_errf(err, "bad path: '[]' is not supported");
				goto fail;
			} else {
				kc_errf(err, "bad path: expected a number or a quoted name after '['");
				goto fail;
			}
			if (i >= n || s[i] != ']') {
				kc_errf(err, "bad path: expected ']'");
				goto fail;
			}
			i++;
		} else if (i < n && is_name_byte((unsigned char)s[i])) {
			while (i < n && is_name_byte((unsigned char)s[i]))
				i++;
			next = node_child(node, s + start, i - start, 0);
		} else {
			kc_errf(err, steps == 0 ? "empty field name" :
			    "bad path: expected a name after '.'");
			goto fail;
		}
		if (next == NULL) {
			kc_errf(err, "out of memory");
			goto fail;
		}
		node = next;
		steps++;
		/* A step may be followed by '.name', '."name"' or '[...]'. */
		if (i < n && s[i] == '[')
			continue;
		if (i < n && s[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	buf_free(&name);
	if (node->slot == -1)
		node->slot = m->nslots++;	/* provisional; match_finish renumbers */
	*used = i;
	return node;
fail:
	*used = i;
	buf_free(&name);
	return NULL;
}

struct mnode *
match_add_steps(struct matcher *m, const char *const *steps)
{
	struct mnode *node = &m->root;

	for (; *steps != NULL && node != NULL; steps++) {
		if (strcmp(*steps, "[*]") == 0)
			node = node_child(node, NULL, 0, MNODE_ANY);
		else
			node = node_child(node, *steps, strlen(*steps), 0);
	}
	return node;
}

static void
number(struct mnode *n, int *next)
{
	struct mnode *c;

	n->lo = *next;
	if (n->slot != -1)
		n->slot = (*next)++;
	for (c = n->child; c != NULL; c = c->next)
		number(c, next);
	n->hi = *next;
}

void
match_finish(struct matcher *m)
{
	int next = 0;

	number(&m->root, &next);
	m->nslots = next;
}

int
match_nslots(const struct matcher *m)
{
	return m->nslots;
}

const struct mnode *
match_root(const struct matcher *m)
{
	return &m->root;
}
