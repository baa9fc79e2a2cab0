/* The path matcher: a trie of jq-style paths (`user.id`, `.items[0].sku`, `."odd.name"`)
 * walked by the streaming JSON parser one member or element at a time, so values are picked
 * out of a document without building a tree.  One matcher serves the Kinesis envelopes
 * (fixed paths with [*] steps) and the event payloads (the paths the templates name). */
#ifndef KC_MATCH_H
#define KC_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct matcher;

/* A trie node.  Read it only through the mnode_* functions below. */
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

static inline uint64_t
mnode_name_bit(const char *k, size_t len)
{
	return (uint64_t)1 << (((len ? (unsigned char)k[0] : 0) * 7u + len) & 63);
}

#define MNODE_ANY	(-1L)

struct matcher	*match_new(void);
void		 match_free(struct matcher *);

/* Parse the path at the start of s (at most n bytes) and register it.  *used gets the number
 * of bytes the path took; parsing stops at the first byte that cannot continue a path.
 * Returns the path's node (the same node for the same path), or NULL with err filled and
 * *used set to the offset of the mistake. */
struct mnode	*match_add_path(struct matcher *, const char *s, size_t n, size_t *used,
		    struct kc_err *);

/* Register a path given as steps: member names, or "[*]" for any element.  NULL ends the
 * list.  Returns the leaf, or NULL when memory is exhausted. */
struct mnode	*match_add_steps(struct matcher *, const char *const *steps);

/* Number the slots of registered paths in depth-first order, so that each subtree's slots
 * are one range.  Call once, after the last path is added. */
void		 match_finish(struct matcher *);
int		 match_nslots(const struct matcher *);
const struct mnode *match_root(const struct matcher *);

/* Names are short: eight bytes at a time beats a call to memcmp. */
static inline int
mnode_name_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y;

	for (; n >= 8; a += 8, b += 8, n -= 8) {
		__builtin_memcpy(&x, a, 8);
		__builtin_memcpy(&y, b, 8);
		if (x != y)
			return 0;
	}
	if (n >= 4) {
		uint32_t u, v, w, z;
		__builtin_memcpy(&u, a, 4);
		__builtin_memcpy(&v, b, 4);
		__builtin_memcpy(&w, a + n - 4, 4);
		__builtin_memcpy(&z, b + n - 4, 4);
		return u == v && w == z;
	}
	while (n-- > 0)
		if (*a++ != *b++)
			return 0;
	return 1;
}

/* The child for member name k, or for element i; NULL when no registered path goes there. */
static inline const struct mnode *
mnode_key(const struct mnode *n, const char *k, size_t len)
{
	const struct mnode *c;

	if ((n->names & mnode_name_bit(k, len)) == 0)
		return NULL;
	for (c = n->child; c != NULL; c = c->next)
		if (c->name != NULL && c->nlen == len && mnode_name_eq(c->name, k, len))
			return c;
	return NULL;
}

static inline const struct mnode *
mnode_index(const struct mnode *n, long i)
{
	const struct mnode *c;

	for (c = n->child; c != NULL; c = c->next)
		if (c->name == NULL && (c->index == i || c->index == MNODE_ANY))
			return c;
	return NULL;
}

#endif
