/* The AWS Lambda Runtime API (a custom runtime's side of it), over HTTP with libcurl: wait
 * for the next invocation, answer it, report an invocation error or an init error.  It
 * knows nothing of what an event means: kincount.c hands each event to the run. */
#ifndef KC_LAMBDA_H
#define KC_LAMBDA_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* One invocation, as lambda_next got it.  Borrowed until the next lambda_next. */
struct lambda_inv {
	const char	*id;		/* Lambda-Runtime-Aws-Request-Id */
	int64_t		 deadline;	/* Lambda-Runtime-Deadline-Ms (epoch ms), 0 when none */
	const char	*body;		/* the event (not NUL-terminated) */
	size_t		 len;
};

/* What lambda_next returns. */
enum lambda_next {
	LAMBDA_EVENT,		/* an invocation to process */
	LAMBDA_TOO_LARGE,	/* an invocation whose event was over the limit (not read;
				 * only inv.id is set): answer it with an error */
	LAMBDA_EXIT,		/* the Runtime API said to exit (500) */
	LAMBDA_GONE,		/* the Runtime API cannot be reached */
	LAMBDA_FAILED		/* anything else: err says what */
};

struct lambda;

/* api is AWS_LAMBDA_RUNTIME_API (HOST:PORT), borrowed.  A request ends (failed) soon
 * after stopped(), when not NULL, returns 1.  NULL with err filled when libcurl cannot
 * start. */
struct lambda	*lambda_new(const char *api, int (*stopped)(void), struct kc_err *);
void		 lambda_free(struct lambda *);
/* Wait (with no timeout) for the next invocation; an event over max_body bytes is not
 * read. */
enum lambda_next lambda_next(struct lambda *, size_t max_body, struct lambda_inv *,
		    struct kc_err *);
/* Answer invocation id with body (JSON).  0, or -1 with err filled. */
int		 lambda_respond(struct lambda *, const char *id, const char *body, size_t n,
		    struct kc_err *);
/* Report an error: of invocation id, or (id NULL) of the runtime's start-up.  The body is
 * the standard {"errorMessage":..,"errorType":..,"stackTrace":[]}.  0, or -1. */
int		 lambda_error(struct lambda *, const char *id, const char *type,
		    const char *message, struct kc_err *);

#endif
