/* The Lambda Runtime API client: GET .../invocation/next (with no timeout: the process may
 * be frozen between invocations), POST .../invocation/ID/response, .../invocation/ID/error
 * and .../init/error, over one libcurl handle, so the connection to the API is kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "lambda.h"

#define API_PREFIX	"/2018-06-01/runtime/"
#define POST_TIMEOUT_MS	30000L		/* an answer the API does not take in this long */

struct lambda {
	CURL		*c;
	char		*base;		/* http://HOST:PORT/2018-06-01/runtime/ */
	size_t		 max_body;
	struct buf	 url;
	struct buf	 body;		/* the event */
	int		 too_large;
	struct buf	 id;		/* the request id, NUL-terminated */
	int64_t		 deadline;
	struct buf	 trace;		/* Lambda-Runtime-Trace-Id, NUL-terminated */
	int		 has_trace;
	struct curl_slist *json_hdr;
	int		(*stopped)(void);
	char		 errbuf[CURL_ERROR_SIZE];
};

/* Called by libcurl at least once a second while it waits: a signal that came stops the
 * wait (libcurl goes back to waiting when a signal interrupts it). */
static int
on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct lambda *l = arg;

	(void)a, (void)b, (void)c, (void)d;
	return l->stopped != NULL && l->stopped();
}

struct lambda *
lambda_new(const char *api, int (*stopped)(void), struct kc_err *err)
{
	struct lambda *l;
	size_t n = strlen(api);

	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
		kc_errf(err, "libcurl cannot start");
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->base = malloc(n + 40)) == NULL ||
	    (l->c = curl_easy_init()) == NULL) {
		kc_errf(err, "libcurl cannot start: %s", strerror(ENOMEM));
		lambda_free(l);
		return NULL;
	}
	snprintf(l->base, n + 40, "http://%s%s", api, API_PREFIX);
	l->stopped = stopped;
	curl_easy_setopt(l->c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(l->c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(l->c, CURLOPT_XFERINFODATA, l);
	/* Never through a proxy from the environment: the API is on this machine. */
	curl_easy_setopt(l->c, CURLOPT_PROXY, "");
	curl_easy_setopt(l->c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(l->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(l->c, CURLOPT_ERRORBUFFER, l->errbuf);
	curl_easy_setopt(l->c, CURLOPT_PROTOCOLS_STR, "http");
	l->json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	l->json_hdr = curl_slist_append(l->json_hdr, "Expect:");
	if (l->json_hdr == NULL) {
		kc_errf(err, "libcurl cannot start: %s", strerror(ENOMEM));
		lambda_free(l);
		return NULL;
	}
	return l;
}

void
lambda_free(struct lambda *l)
{
	if (l == NULL)
		return;
	if (l->c != NULL)
		curl_easy_cleanup(l->c);
	curl_slist_free_all(l->json_hdr);
	free(l->base);
	buf_free(&l->url);
	buf_free(&l->body);
	buf_free(&l->id);
	buf_free(&l->trace);
	free(l);
	curl_global_cleanup();
}

/* The URL of path (after .../runtime/), with id escaped as a path segment.  NULL when
 * memory is exhausted. */
static const char *
url(struct lambda *l, const char *before, const char *id, const char *after)
{
	char *e = NULL;

	l->url.len = 0;
	if (id != NULL && (e = curl_easy_escape(l->c, id, 0)) == NULL)
		return NULL;
	if (buf_add(&l->url, l->base, strlen(l->base)) == -1 ||
	    buf_add(&l->url, before, strlen(before)) == -1 ||
	    (e != NULL && buf_add(&l->url, e, strlen(e)) == -1) ||
	    buf_add(&l->url, after, strlen(after)) == -1 || buf_addc(&l->url, '\0') == -1) {
		curl_free(e);
		return NULL;
	}
	curl_free(e);
	return l->url.p;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct lambda *l = arg;
	size_t n = size * nmemb;

	if (l->body.len + n > l->max_body) {
		l->too_large = 1;
		return 0;	/* ends the transfer */
	}
	return buf_add(&l->body, p, n) == 0 ? n : 0;
}

static size_t
discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p, (void)arg;
	return size * nmemb;
}

/* Copy a header's value, blanks around it trimmed, NUL-terminated. */
static int
header_value(struct buf *b, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' ||
	    v[n - 1] == '\t'))
		n--;
	b->len = 0;
	return buf_add(b, v, n) == 0 && buf_addc(b, '\0') == 0 ? 0 : -1;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	static const char idh[] = "lambda-runtime-aws-request-id:";
	static const char dlh[] = "lambda-runtime-deadline-ms:";
	static const char trh[] = "lambda-runtime-trace-id:";
	struct lambda *l = arg;
	size_t n = size * nmemb;
	struct buf b = { 0 };

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue, say): forget the last one's. */
		l->id.len = 0;
		l->deadline = 0;
		l->has_trace = 0;
		return n;
	}
	if (n > sizeof(idh) - 1 && strncasecmp(p, idh, sizeof(idh) - 1) == 0) {
		if (header_value(&l->id, p + sizeof(idh) - 1, n - (sizeof(idh) - 1)) == -1)
			return 0;
	} else if (n > sizeof(dlh) - 1 && strncasecmp(p, dlh, sizeof(dlh) - 1) == 0) {
		long long v;
		const char *why;
		if (header_value(&b, p + sizeof(dlh) - 1, n - (sizeof(dlh) - 1)) == 0 &&
		    kc_strtoll(b.p, 1, INT64_MAX, &v, &why) == 0)
			l->deadline = v;
		buf_free(&b);
	} else if (n > sizeof(trh) - 1 && strncasecmp(p, trh, sizeof(trh) - 1) == 0) {
		if (header_value(&l->trace, p + sizeof(trh) - 1, n - (sizeof(trh) - 1)) == -1)
			return 0;
		l->has_trace = 1;
	}
	return n;
}

/* A failure to reach the API at all: it is gone (Lambda is shutting the sandbox down). */
static int
unreachable(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE ||
	    rc == CURLE_COULDNT_RESOLVE_HOST;
}

static const char *
curl_why(struct lambda *l, CURLcode rc)
{
	return l->errbuf[0] != '\0' ? l->errbuf : curl_easy_strerror(rc);
}

enum lambda_next
lambda_next(struct lambda *l, size_t max_body, struct lambda_inv *inv, struct kc_err *err)
{
	const char *u;
	CURLcode rc;
	long status = 0;

	memset(inv, 0, sizeof(*inv));
	l->body.len = 0;
	l->id.len = 0;
	l->deadline = 0;
	l->has_trace = 0;
	l->too_large = 0;
	l->max_body = max_body;
	l->errbuf[0] = '\0';
	if ((u = url(l, "invocation/next", NULL, "")) == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		return LAMBDA_FAILED;
	}
	curl_easy_setopt(l->c, CURLOPT_URL, u);
	curl_easy_setopt(l->c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(l->c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(l->c, CURLOPT_TIMEOUT_MS, 0L);	/* the sandbox may be frozen */
	curl_easy_setopt(l->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(l->c, CURLOPT_WRITEDATA, l);
	curl_easy_setopt(l->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(l->c, CURLOPT_HEADERDATA, l);
	rc = curl_easy_perform(l->c);
	curl_easy_getinfo(l->c, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_WRITE_ERROR && l->too_large && status == 200 && l->id.len > 0) {
		inv->id = l->id.p;
		return LAMBDA_TOO_LARGE;
	}
	if (rc != CURLE_OK) {
		kc_errf(err, "next invocation: %s", curl_why(l, rc));
		return unreachable(rc) ? LAMBDA_GONE : LAMBDA_FAILED;
	}
	if (status == 500) {
		kc_errf(err, "next invocation: the Runtime API answered 500 (exit)");
		return LAMBDA_EXIT;
	}
	if (status != 200) {
		kc_errf(err, "next invocation: the Runtime API answered %ld", status);
		return LAMBDA_FAILED;
	}
	if (l->id.len <= 1) {
		kc_errf(err, "next invocation: no Lambda-Runtime-Aws-Request-Id");
		return LAMBDA_FAILED;
	}
	/* X-Ray: the trace id of this invocation, for whatever runs under it. */
	if (l->has_trace)
		setenv("_X_AMZN_TRACE_ID", l->trace.p, 1);
	else
		unsetenv("_X_AMZN_TRACE_ID");
	inv->id = l->id.p;
	inv->deadline = l->deadline;
	inv->body = l->body.p ? l->body.p : "";
	inv->len = l->body.len;
	return LAMBDA_EVENT;
}

static int
post(struct lambda *l, const char *u, const char *body, size_t n, struct curl_slist *hdr,
    struct kc_err *err)
{
	CURLcode rc;
	long status = 0;

	if (u == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		return -1;
	}
	l->errbuf[0] = '\0';
	curl_easy_setopt(l->c, CURLOPT_URL, u);
	curl_easy_setopt(l->c, CURLOPT_POST, 1L);
	curl_easy_setopt(l->c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(l->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(l->c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(l->c, CURLOPT_TIMEOUT_MS, POST_TIMEOUT_MS);
	curl_easy_setopt(l->c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(l->c, CURLOPT_HEADERFUNCTION, discard);
	rc = curl_easy_perform(l->c);
	curl_easy_setopt(l->c, CURLOPT_HTTPHEADER, NULL);
	if (rc != CURLE_OK) {
		kc_errf(err, "%s", curl_why(l, rc));
		return -1;
	}
	curl_easy_getinfo(l->c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		kc_errf(err, "the Runtime API answered %ld%s", status,
		    status == 413 ? " (payload too large)" : "");
		return -1;
	}
	return 0;
}

int
lambda_respond(struct lambda *l, const char *id, const char *body, size_t n,
    struct kc_err *err)
{
	return post(l, url(l, "invocation/", id, "/response"), body, n, l->json_hdr, err);
}

int
lambda_error(struct lambda *l, const char *id, const char *type, const char *message,
    struct kc_err *err)
{
	struct curl_slist *hdr = NULL;
	struct buf h = { 0 };
	json_t *o;
	char *s;
	int rc = -1;

	o = json_pack("{s:s,s:s,s:[]}", "errorMessage", message, "errorType", type,
	    "stackTrace");
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL || buf_add(&h, "Lambda-Runtime-Function-Error-Type: ", 36) == -1 ||
	    buf_add(&h, type, strlen(type)) == -1 || buf_addc(&h, '\0') == -1 ||
	    (hdr = curl_slist_append(NULL, "Content-Type: application/vnd.aws.lambda.error+json"))
	    == NULL || curl_slist_append(hdr, h.p) == NULL ||
	    curl_slist_append(hdr, "Expect:") == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		goto out;
	}
	rc = post(l, id ? url(l, "invocation/", id, "/error") : url(l, "init/error", NULL, ""),
	    s, strlen(s), hdr, err);
out:
	curl_slist_free_all(hdr);
	buf_free(&h);
	free(s);
	return rc;
}
