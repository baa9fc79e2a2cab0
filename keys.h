/* Key templates: compiled once at start-up into parts (literal text, a value path, record
 * metadata, a time format); each event is then expanded into its keys.  Also the --where
 * conditions and the --time-field, which name paths the same way. */
#ifndef KC_KEYS_H
#define KC_KEYS_H

#include <stddef.h>

#include "decode.h"
#include "match.h"
#include "util.h"

enum missing_policy { MISSING_EMPTY, MISSING_SKIP, MISSING_REJECT };

struct keys_opts {
	int		 missing;	/* enum missing_policy */
	const char	*prefix;	/* or NULL */
	size_t		 max_key;
	int		 escape;	/* --escape-values */
	int		 local_time;
};

struct tmpl_set;

/* m is borrowed: the templates register their paths in it.  NULL when out of memory. */
struct tmpl_set	*tmpl_new(const struct keys_opts *, struct matcher *m);
void		 tmpl_free(struct tmpl_set *);

/* Compile a key template, a --where condition, or the --time-field path.  On a mistake,
 * return -1 with err filled and *col set to its 1-based column.  tmpl_add_where returns 1
 * (taken, with a warning in err and *col) for a condition that is likely a slip. */
int		 tmpl_add_key(struct tmpl_set *, const char *, size_t *col, struct kc_err *);
int		 tmpl_add_where(struct tmpl_set *, const char *, size_t *col, struct kc_err *);
int		 tmpl_set_time_field(struct tmpl_set *, const char *, size_t *col,
		    struct kc_err *);
/* Add the default template when none was given, check the prefix, and finish the matcher
 * (match_finish): call once, after the last add. */
int		 tmpl_finish(struct tmpl_set *, struct kc_err *);

/* The META_* bits (decode.h) of the record metadata the templates use. */
unsigned	 tmpl_meta(const struct tmpl_set *);

/* 1 when the event passes every --where condition, 0 when it does not, or -1 when it is
 * rejected (a condition's field is not valid UTF-8), with *why and *msg (borrowed until the
 * next call) set. */
int		 tmpl_match(struct tmpl_set *, const struct event *, enum kc_reason *why,
		    const char **msg);

/* Build the keys of an event.  Returns 0 (then tmpl_key gives them), or -1 when the event is
 * rejected, with *why and *msg (borrowed until the next call) set. */
int		 tmpl_expand(struct tmpl_set *, const struct event *, enum kc_reason *why,
		    const char **msg);
size_t		 tmpl_nkeys(const struct tmpl_set *);
/* --time-field: the events that had it (a time or not), and those where it was missing or
 * null and the arrival time was used instead.  Counted only when a key needs the time. */
void		 tmpl_time_stats(const struct tmpl_set *, uint64_t *found, uint64_t *missing);
/* Key i of the last expansion; borrowed until the next call. */
const char	*tmpl_key(const struct tmpl_set *, size_t i, size_t *len);

#endif
