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

/* A trie node: opaque, read through the mnode_* functions below. */
struct mnode;

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

/* The child for member name k, or for element i; NULL when no registered path goes there.
 * Most members of a document match no path: a bit per child name (its length and first
 * byte) says so without looking at the children. */
const struct mnode *mnode_key(const struct mnode *, const char *k, size_t len);
const struct mnode *mnode_index(const struct mnode *, long i);

/* The value slot of a registered path, or -1; the slots of the node's subtree, [lo, hi). */
int		 mnode_slot(const struct mnode *);
void		 mnode_slots(const struct mnode *, int *lo, int *hi);
/* The caller's mark on a node (0 when none). */
int		 mnode_tag(const struct mnode *);
void		 mnode_set_tag(struct mnode *, int);

#endif
