/* Redis, with hiredis 0.14.  Each batch is one EVALSHA of the script below: it checks the
 * batch token (a batch that already landed is not applied again), checks that the stored
 * checkpoints are where this run left them, runs one INCRBY per distinct key (a refused
 * INCRBY writes nothing and is reported back), sets the TTLs, stores the checkpoints and the
 * dead letters, and records the token for a day.  Redis runs a script atomically, and the
 * `#!lua` first line makes an out-of-memory server refuse it before it starts, so a batch is
 * applied whole or not at all.
 *
 * With --wait-replicas N, a WAIT N follows each EVALSHA on the same connection, and a batch
 * counts as applied only once N replicas hold it.  A re-run of a batch that already landed
 * refreshes its token (a write), so the WAIT after it also covers the first run's writes:
 * WAIT waits for the client's last write, and a script that writes nothing would let it
 * answer at once.
 *
 * Every retry loop respects a deadline (redis_deadline): no attempt or back-off pause
 * starts that could not end by it, and socket timeouts are cut to the time left.
 *
 * hiredis 0.14 keeps no timeout across reconnects and resends neither AUTH nor SELECT, so a
 * lost connection is dropped and a new one made from scratch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "redis.h"

#define TOKEN_TTL	"86400"		/* a batch token is kept a day */
#define BACKOFF_MS	100
#define BACKOFF_MAX_MS	2000
/* The least time left before the deadline for an attempt to start (or a back-off pause to
 * be worth it). */
#define MIN_ATTEMPT_MS	50
/* How much longer than WAIT's own timeout its reply may take to arrive. */
#define WAIT_GRACE_MS	500
/* The longest socket path: sun_path of struct sockaddr_un (108 bytes on Linux) less its NUL. */
#define SOCK_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* KEYS: token, checkpoint hash, dead-letter list, counters...
 * ARGV: token TTL, counter TTL, F, F x (field, old, new), D, D x line, counts...
 *
 * Everything that can fail is checked before the first write, so that a batch is never
 * half-applied: the types of the checkpoint hash and of the dead-letter list, and, on Redis
 * 7 (redis.acl_check_cmd), that the user may run each write on each key.  A failed check
 * answers {3, why}.  Counter keys that are kincount's own keys are refused, as the server
 * refuses a key of the wrong type: an INCRBY on them would make a later write fail or be
 * lost.  What remains can fail only per counter (WRONGTYPE, not an integer, overflow), and
 * such an INCRBY writes nothing. */
static const char script_body[] =
"local nf = tonumber(ARGV[3])\n"
"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
"  redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])\n"
"  return {0}\n"
"end\n"
"local nd = tonumber(ARGV[4 + 3 * nf])\n"
"local function holds(k, want)\n"
"  local t = redis.call('TYPE', k)['ok']\n"
"  if t ~= 'none' and t ~= want then\n"
"    return \"key '\" .. k .. \"' holds a \" .. t .. ', not a ' .. want\n"
"  end\n"
"end\n"
"local why = nf > 0 and holds(KEYS[2], 'hash') or nd > 0 and holds(KEYS[3], 'list')\n"
"if why then return {3, why} end\n"
"if nf > 0 and nd > 0 and KEYS[2] == KEYS[3] then\n"
"  return {3, \"key '\" .. KEYS[2] .. \"' is both the checkpoint hash and the dead-letter list\"}\n"
"end\n"
"local i = 4\n"
"for f = 1, nf do\n"
"  local cur = redis.call('HGET', KEYS[2], ARGV[i]) or ''\n"
"  if cur ~= ARGV[i + 1] then return {2, ARGV[i], cur} end\n"
"  i = i + 3\n"
"end\n"
"local dl = i + 1\n"
"i = dl + nd\n"
"local ttl = ARGV[2]\n"
"local expire = tonumber(ttl) > 0\n"
"local keys, argv, base = KEYS, ARGV, i - 4\n"
"local own = {[KEYS[1]] = true, [KEYS[2]] = true, [KEYS[3]] = true}\n"
"local check = redis.acl_check_cmd\n"
"if check then\n"
"  local function may(...)\n"
"    if not check(...) then\n"
"      local a = {...}\n"
"      return {3, 'this user may not run ' .. a[1] .. \" on key '\" .. a[2] .. \"'\"}\n"
"    end\n"
"  end\n"
"  local no = may('SET', KEYS[1], '1', 'EX', ARGV[1]) or\n"
"    nf > 0 and may('HSET', KEYS[2], ARGV[4], ARGV[6]) or\n"
"    nd > 0 and may('RPUSH', KEYS[3], ARGV[dl])\n"
"  if no then return no end\n"
"  for k = 4, #keys do\n"
"    if not own[keys[k]] then\n"
"      no = may('INCRBY', keys[k], argv[base + k]) or\n"
"        expire and may('EXPIRE', keys[k], ttl, 'NX')\n"
"      if no then return no end\n"
"    end\n"
"  end\n"
"end\n"
"local out = {1}\n"
"local pcall = redis.pcall\n"
"for k = 4, #keys do\n"
"  local r\n"
"  if own[keys[k]] then\n"
"    r = {err = 'ERR the key is one of kincount\\'s own (token, checkpoints, dead letters)'}\n"
"  else\n"
"    r = pcall('INCRBY', keys[k], argv[base + k])\n"
"  end\n"
"  if type(r) == 'table' and r.err then\n"
"    out[#out + 1] = k - 3\n"
"    out[#out + 1] = r.err\n"
"  elseif expire then\n"
"    redis.call('EXPIRE', keys[k], ttl, 'NX')\n"
"  end\n"
"end\n"
"for f = 0, nf - 1 do\n"
"  redis.call('HSET', KEYS[2], ARGV[4 + 3 * f], ARGV[6 + 3 * f])\n"
"end\n"
"for d = dl, dl + nd - 1 do redis.call('RPUSH', KEYS[3], ARGV[d]) end\n"
"redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])\n"
"return out\n";

struct redis {
	struct redis_opts o;
	char		*host;		/* or NULL for a unix socket */
	int		 port;
	char		*path;
	char		*user;
	char		*pass;
	long		 db;

	redisContext	*c;
	int		 version;	/* major version of the server */
	char		 sha[48];
	char		 runid[33];
	uint64_t	 sent;		/* batches sent: the tokens number them */
	uint64_t	 counted;	/* batches applied that are not extra rounds */
	int		 pending;	/* a batch was sent, its reply not read yet */
	long		 wait_ms;	/* the timeout of the WAIT sent after it */
	int64_t		 deadline;	/* CLOCK_MONOTONIC ms; 0: none */
	long		 sock_ms;	/* the socket timeout now set; 0: not known */
	uint64_t	 busy_ns;	/* time spent in the verbs */
	char		 token[96];
	int		 retried;	/* retries before the last failure */
	int		 gave_up;	/* the last failure could pass, but the retries ran out */
	char		 addr[160];	/* the address, as shown in messages */
	int		 auth_failed;
	uint64_t	 commands;

	struct buf	 cmd;		/* the EVALSHA being sent, in RESP */
};

/* A random run id for the batch tokens. */
static void
make_runid(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	struct timespec ts;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* No getrandom(2): time and pid still make collisions unlikely. */
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
		    (uint64_t)getpid() << 32;
		for (int i = 0; i < 16; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			b[i] = (unsigned char)(x >> 56);
		}
	}
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = '\0';
}

/* A database number: decimal digits only, as redis-cli reads it. */
static int
parse_db(const char *s, long *db)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	for (const char *p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	*db = strtol(s, &end, 10);
	return *end != '\0' || errno != 0 || *db > 100000 ? -1 : 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The user or password part of a URL, percent-decoded as redis-cli does (a '@', ':' or
 * '%' in it is written %40, %3A, %25).  NULL with err filled when a '%' is not followed by
 * two hex digits or would give a NUL byte. */
static char *
pct_decode(const char *p, size_t n, struct kc_err *err)
{
	char *r = malloc(n + 1), *o = r;

	if (r == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (p[i] != '%') {
			*o++ = p[i];
			continue;
		}
		if (n - i < 3 || (hi = hexval(p[i + 1])) == -1 ||
		    (lo = hexval(p[i + 2])) == -1 || hi + lo == 0) {
			kc_errf(err, "bad percent-encoding in the user or password");
			free(r);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return r;
}

static int
parse_port(const char *s, size_t n, int *port)
{
	long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* HOST[:PORT], with [v6] brackets allowed. */
static int
parse_hostport(struct redis *r, const char *s, size_t n, struct kc_err *err)
{
	const char *colon;
	size_t hlen;

	r->port = 6379;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL)
			goto bad;
		r->host = strndup(s + 1, (size_t)(close - s) - 1);
		hlen = (size_t)(close - s) + 1;
		if (hlen < n && (s[hlen] != ':' || parse_port(s + hlen + 1, n - hlen - 1,
		    &r->port) == -1))
			goto bad;
		goto done;
	}
	colon = memchr(s, ':', n);
	hlen = colon ? (size_t)(colon - s) : n;
	if (hlen == 0)
		goto bad;
	if (colon != NULL && parse_port(colon + 1, n - hlen - 1, &r->port) == -1)
		goto bad;
	r->host = strndup(s, hlen);
done:
	if (r->host == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		return -1;
	}
	return 0;
bad:
	kc_errf(err, "bad host or port");
	return -1;
}

static int
parse_url(struct redis *r, const char *url, struct kc_err *err)
{
	const char *p, *at, *slash, *q;

	/* Schemes are case-insensitive (RFC 3986). */
	if (strncasecmp(url, "unix://", 7) == 0) {
		p = url + 7;
		q = strchr(p, '?');
		if (p[0] != '/') {
			kc_errf(err, "unix:// needs an absolute path");
			return -1;
		}
		if ((r->path = strndup(p, q ? (size_t)(q - p) : strlen(p))) == NULL) {
			kc_errf(err, "%s", strerror(ENOMEM));
			return -1;
		}
		if (strlen(r->path) > SOCK_PATH_MAX) {
			kc_errf(err, "socket path longer than %zu bytes", SOCK_PATH_MAX);
			return -1;
		}
		if (q != NULL && (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, &r->db) == -1)) {
			kc_errf(err, "expected ?db=N after the socket path");
			return -1;
		}
		return 0;
	}
	if (strncasecmp(url, "redis://", 8) != 0)
		return parse_hostport(r, url, strlen(url), err);
	p = url + 8;
	slash = strchr(p, '/');
	/* The last '@' before the path ends the user and password. */
	at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *uend = colon ? colon : at;
		if (uend > p && (r->user = pct_decode(p, (size_t)(uend - p), err)) == NULL)
			return -1;
		if (colon != NULL && at > colon + 1 &&
		    (r->pass = pct_decode(colon + 1, (size_t)(at - colon - 1), err)) == NULL)
			return -1;
		p = at + 1;
	}
	if (parse_hostport(r, p, slash ? (size_t)(slash - p) : strlen(p), err) == -1)
		return -1;
	if (slash != NULL && slash[1] != '\0' && parse_db(slash + 1, &r->db) == -1) {
		kc_errf(err, "bad database number '%s'", slash + 1);
		return -1;
	}
	return 0;
}

struct redis *
redis_new(const char *url, const struct redis_opts *o, struct kc_err *err)
{
	struct redis *r;
	const char *env;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		return NULL;
	}
	r->o = *o;
	if (parse_url(r, url, err) == -1) {
		redis_free(r);
		return NULL;
	}
	if (r->pass == NULL && (env = getenv("REDISCLI_AUTH")) != NULL && *env != '\0' &&
	    (r->pass = strdup(env)) == NULL) {
		kc_errf(err, "%s", strerror(ENOMEM));
		redis_free(r);
		return NULL;
	}
	if (r->path != NULL)
		snprintf(r->addr, sizeof(r->addr), "unix://%.140s", r->path);
	else if (strchr(r->host, ':') != NULL)
		snprintf(r->addr, sizeof(r->addr), "[%.140s]:%d", r->host, r->port);
	else
		snprintf(r->addr, sizeof(r->addr), "%.140s:%d", r->host, r->port);
	make_runid(r->runid);
	return r;
}

void
redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	if (r->c != NULL)
		redisFree(r->c);
	free(r->host);
	free(r->path);
	free(r->user);
	if (r->pass != NULL) {
		memset(r->pass, 0, strlen(r->pass));
		free(r->pass);
	}
	buf_free(&r->cmd);
	free(r);
}

/* ---- commands ------------------------------------------------------------------------------ */

enum failure { F_NONE, F_RETRY, F_FATAL, F_AUTH, F_NOSCRIPT };

static void
disconnect(struct redis *r)
{
	if (r->c != NULL)
		redisFree(r->c);
	r->c = NULL;
	r->sock_ms = 0;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds left before the deadline; INT64_MAX when there is none. */
static int64_t
left_ms(const struct redis *r)
{
	return r->deadline == 0 ? INT64_MAX : r->deadline - mono_ns() / 1000000;
}

/* ms, cut to the time left before the deadline (0 when none is left). */
static long
cut_ms(const struct redis *r, long ms)
{
	int64_t left = left_ms(r);

	return left >= ms ? ms : left > 0 ? (long)left : 0;
}

/* Whether a back-off pause of ms, and an attempt after it, can still end by the deadline. */
static int
time_for(const struct redis *r, long ms)
{
	return left_ms(r) >= (int64_t)ms + MIN_ATTEMPT_MS;
}

/* Sets the socket timeout of the next reads and writes to ms, cut to the time left.  -1 with
 * *f and err filled (and the connection dropped, as a reply may be owed on it) when no time
 * is left or the timeout cannot be set. */
static int
arm(struct redis *r, long ms, int *f, struct kc_err *err)
{
	long t = cut_ms(r, ms);
	struct timeval tv = { t / 1000, (t % 1000) * 1000 };

	if (t == r->sock_ms)
		return 0;
	if (t == 0 || redisSetTimeout(r->c, tv) != REDIS_OK) {
		kc_errf(err, "%s", t == 0 ? "timed out" : "cannot set the timeout");
		disconnect(r);
		*f = F_RETRY;
		return -1;
	}
	r->sock_ms = t;
	return 0;
}

/* Classify an error reply. */
static int
reply_failure(const redisReply *rep)
{
	static const char *const retry[] = {
		"LOADING", "BUSY", "OOM", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"
	};
	static const char *const auth[] = { "NOAUTH", "WRONGPASS", "NOPERM" };

	if (strncmp(rep->str, "NOSCRIPT", 8) == 0)
		return F_NOSCRIPT;
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		if (strncmp(rep->str, retry[i], strlen(retry[i])) == 0)
			return F_RETRY;
	for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++)
		if (strncmp(rep->str, auth[i], strlen(auth[i])) == 0)
			return F_AUTH;
	if (strstr(rep->str, "invalid password") != NULL ||
	    strstr(rep->str, "without any password configured") != NULL)
		return F_AUTH;
	return F_FATAL;
}

/* What a failed read or write of the connection means. */
static const char *
io_error(const struct redis *r)
{
	if (r->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
		return "timed out";
	return r->c->errstr;
}

/* Run one command.  On failure returns NULL, fills err and sets *f; a dead connection is
 * dropped. */
static redisReply *
command(struct redis *r, int argc, const char **argv, const size_t *argl, int *f,
    struct kc_err *err)
{
	redisReply *rep;

	if (arm(r, r->o.timeout_ms, f, err) == -1)
		return NULL;
	r->commands++;
	rep = redisCommandArgv(r->c, argc, argv, argl);
	if (rep == NULL) {
		kc_errf(err, "%s", io_error(r));
		disconnect(r);
		*f = F_RETRY;
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		kc_errf(err, "%s", rep->str);
		*f = reply_failure(rep);
		freeReplyObject(rep);
		return NULL;
	}
	*f = F_NONE;
	return rep;
}

static redisReply *
command2(struct redis *r, const char *a, const char *b, int *f, struct kc_err *err)
{
	const char *argv[2] = { a, b };
	size_t argl[2] = { strlen(a), b ? strlen(b) : 0 };

	return command(r, b ? 2 : 1, argv, argl, f, err);
}

static int
load_script(struct redis *r, int *f, struct kc_err *err)
{
	struct buf s = { 0 };
	redisReply *rep;
	const char *argv[3] = { "SCRIPT", "LOAD", NULL };
	size_t argl[3] = { 6, 4, 0 };

	/* Servers before 7.0 know no shebang; they run the script without the OOM check. */
	if (r->version >= 7)
		buf_add(&s, "#!lua\n", 6);
	buf_add(&s, script_body, sizeof(script_body) - 1);
	argv[2] = s.p;
	argl[2] = s.len;
	rep = command(r, 3, argv, argl, f, err);
	buf_free(&s);
	if (rep == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_STRING || rep->len >= sizeof(r->sha)) {
		kc_errf(err, "unexpected reply to SCRIPT LOAD");
		*f = F_FATAL;
		freeReplyObject(rep);
		return -1;
	}
	memcpy(r->sha, rep->str, rep->len);
	r->sha[rep->len] = '\0';
	freeReplyObject(rep);
	return 0;
}

/* One connection attempt: connect, timeout, AUTH, SELECT, version, script. */
static int
connect_once(struct redis *r, int *f, struct kc_err *err)
{
	long t = cut_ms(r, r->o.timeout_ms);
	struct timeval tv = { t / 1000, (t % 1000) * 1000 };
	redisReply *rep;
	char num[32];
	const char *v;

	disconnect(r);
	if (t == 0) {
		kc_errf(err, "cannot connect to %s: timed out", r->addr);
		*f = F_RETRY;
		return -1;
	}
	r->c = r->path ? redisConnectUnixWithTimeout(r->path, tv) :
	    redisConnectWithTimeout(r->host, r->port, tv);
	if (r->c == NULL || r->c->err) {
		kc_errf(err, "cannot connect to %s: %s", r->addr,
		    r->c ? r->c->errstr : strerror(ENOMEM));
		disconnect(r);
		*f = F_RETRY;
		return -1;
	}
	if (arm(r, r->o.timeout_ms, f, err) == -1)
		return -1;
	if (r->pass != NULL) {
		const char *argv[3] = { "AUTH", r->user ? r->user : r->pass, r->pass };
		size_t argl[3] = { 4, strlen(argv[1]), strlen(r->pass) };
		if ((rep = command(r, r->user ? 3 : 2, argv, argl, f, err)) == NULL) {
			if (*f == F_FATAL)
				*f = F_AUTH;
			return -1;
		}
		freeReplyObject(rep);
	}
	if (r->db != 0) {
		snprintf(num, sizeof(num), "%ld", r->db);
		if ((rep = command2(r, "SELECT", num, f, err)) == NULL)
			return -1;
		freeReplyObject(rep);
	}
	if ((rep = command2(r, "INFO", "server", f, err)) == NULL)
		return -1;
	v = rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS ?
	    strstr(rep->str, "redis_version:") : NULL;
	r->version = v ? (int)strtol(v + 14, NULL, 10) : 0;
	if (r->o.ttl > 0 && r->version < 7) {
		kc_errf(err, "--ttl needs Redis 7.0 or later (EXPIRE ... NX); the server is %.20s",
		    v ? v + 14 : "older");
		if (strchr(err->msg, '\r'))
			*strchr(err->msg, '\r') = '\0';
		freeReplyObject(rep);
		*f = F_FATAL;
		return -1;
	}
	freeReplyObject(rep);
	return load_script(r, f, err);
}

static int
stopped(const struct redis *r)
{
	return r->o.stop != NULL && *r->o.stop != 0;
}

/* Sleep ms, unless a signal asks to stop: then at once. */
static void
pause_ms(const struct redis *r, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stopped(r))
		;
}

/* A signal ends the retries; the message keeps the failure that was being retried. */
static int
stop_retrying(struct kc_err *err)
{
	struct kc_err why = *err;

	kc_errf(err, "stopped by a signal while retrying: %s", why.msg);
	return -1;
}

/* The deadline ends the retries; the failure could pass, so it counts as given up. */
static int
deadline_near(struct redis *r, struct kc_err *err)
{
	struct kc_err why = *err;

	kc_errf(err, "%s (stopped retrying: the deadline is near)", why.msg);
	r->gave_up = 1;
	return -1;
}

/* Run step until it succeeds, retrying what can pass with exponential back-off.  f is
 * F_NONE to start with an attempt, or the failure of an attempt already made. */
static int
retry_from(struct redis *r, int (*step)(struct redis *, const void *, int *,
    struct kc_err *), const void *arg, int f, struct kc_err *err)
{
	long backoff = BACKOFF_MS;
	int tries = 0, noscript = 0;

	r->retried = r->auth_failed = r->gave_up = 0;
	for (;;) {
		if (f != F_NONE && stopped(r))
			return stop_retrying(err);
		if (f == F_NONE && !time_for(r, 0)) {
			if (tries == 0) {
				kc_errf(err, "not attempted: the deadline is near");
				r->gave_up = 1;
				return -1;
			}
			return deadline_near(r, err);
		}
		if (f == F_NONE && (r->c != NULL || connect_once(r, &f, err) == 0) &&
		    step(r, arg, &f, err) == 0)
			return 0;
		if (f == F_AUTH) {
			r->auth_failed = 1;
			return -1;
		}
		if (f == F_NOSCRIPT && !noscript++) {
			/* Dropped with a WAIT reply owed: a new connection loads the script. */
			if (r->c == NULL) {
				f = F_NONE;
				continue;
			}
			if (load_script(r, &f, err) == 0) {
				f = F_NONE;
				continue;
			}
		}
		if (f == F_FATAL)
			return -1;
		if (tries >= r->o.retries) {
			r->gave_up = 1;
			return -1;
		}
		if (!time_for(r, backoff))
			return deadline_near(r, err);
		r->retried = ++tries;
		disconnect(r);
		pause_ms(r, backoff);
		if (stopped(r))
			return stop_retrying(err);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		f = F_NONE;
	}
}

static int
with_retries(struct redis *r, int (*step)(struct redis *, const void *, int *,
    struct kc_err *), const void *arg, struct kc_err *err)
{
	return retry_from(r, step, arg, F_NONE, err);
}

static int
nothing(struct redis *r, const void *arg, int *f, struct kc_err *err)
{
	(void)r, (void)arg, (void)err;
	*f = F_NONE;
	return 0;
}

int
redis_connect(struct redis *r, struct kc_err *err)
{
	int64_t t0 = mono_ns();
	int rc;

	rc = with_retries(r, nothing, NULL, err);
	r->busy_ns += (uint64_t)(mono_ns() - t0);
	return rc;
}

/* ---- batches --------------------------------------------------------------------------------- */

/* Decimal digits of v into out (room for 20); returns the length.  snprintf costs more than
 * the rest of a counter's bytes together. */
static size_t
u64_text(uint64_t v, char *out)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* Append one RESP bulk string: $LEN CRLF BYTES CRLF.  The caller reserved the room. */
static void
resp_bulk(struct buf *b, const char *p, size_t n)
{
	char *o = b->p + b->len;

	*o++ = '$';
	o += u64_text(n, o);
	*o++ = '\r';
	*o++ = '\n';
	if (n > 0)
		memcpy(o, p, n);
	o += n;
	*o++ = '\r';
	*o++ = '\n';
	b->len = (size_t)(o - b->p);
}

static void
resp_num(struct buf *b, long long v)
{
	char num[24];
	size_t n;

	if (v < 0) {
		num[0] = '-';
		n = 1 + u64_text(-(uint64_t)v, num + 1);
	} else {
		n = u64_text((uint64_t)v, num);
	}
	resp_bulk(b, num, n);
}

/* The batch's EVALSHA as one RESP command in r->cmd, built in one pass (hiredis would
 * format every argument with sprintf). */
static int
build(struct redis *r, const struct rbatch *b, const char *token, size_t tlen)
{
	const char *dl_key = r->o.dl_key ? r->o.dl_key : "kincount:dead-letters";
	size_t argc = 10 + 2 * b->n + 3 * b->nck + b->ndl, need = 64 + 48 * argc;
	struct buf *c = &r->cmd;

	/* Room for every argument's header and bytes. */
	for (size_t i = 0; i < b->n; i++)
		need += b->klen[i];
	for (size_t i = 0; i < b->nck; i++)
		need += b->ck_field[i].n + b->ck_old[i].n + b->ck_new[i].n;
	for (size_t i = 0; i < b->ndl; i++)
		need += b->dl[i].n;
	need += tlen + strlen(r->o.ckpt_key) + strlen(dl_key) + strlen(r->sha);
	c->len = 0;
	if (buf_reserve(c, need) == -1)
		return -1;
	c->p[c->len++] = '*';
	c->len += u64_text(argc, c->p + c->len);
	c->p[c->len++] = '\r';
	c->p[c->len++] = '\n';
	resp_bulk(c, "EVALSHA", 7);
	resp_bulk(c, r->sha, strlen(r->sha));
	resp_num(c, (long long)(b->n + 3));
	resp_bulk(c, token, tlen);
	resp_bulk(c, r->o.ckpt_key, strlen(r->o.ckpt_key));
	resp_bulk(c, dl_key, strlen(dl_key));
	for (size_t i = 0; i < b->n; i++)
		resp_bulk(c, b->key[i], b->klen[i]);
	resp_bulk(c, TOKEN_TTL, strlen(TOKEN_TTL));
	resp_num(c, r->o.ttl);
	resp_num(c, (long long)b->nck);
	for (size_t i = 0; i < b->nck; i++) {
		resp_bulk(c, b->ck_field[i].p, b->ck_field[i].n);
		resp_bulk(c, b->ck_old[i].p, b->ck_old[i].n);
		resp_bulk(c, b->ck_new[i].p, b->ck_new[i].n);
	}
	resp_num(c, (long long)b->ndl);
	for (size_t i = 0; i < b->ndl; i++)
		resp_bulk(c, b->dl[i].p, b->dl[i].n);
	for (size_t i = 0; i < b->n; i++)
		resp_num(c, b->count[i]);
	return 0;
}

/* The EVALSHA of batch number n (its token). */
static int
build_batch(struct redis *r, const struct rbatch *b, uint64_t n, int *f, struct kc_err *err)
{
	int tlen;

	tlen = snprintf(r->token, sizeof(r->token), "kincount:batch:%s:%llu", r->runid,
	    (unsigned long long)n);
	if (build(r, b, r->token, (size_t)tlen) == -1) {
		kc_errf(err, "%s", strerror(ENOMEM));
		*f = F_FATAL;
		return -1;
	}
	return 0;
}

/* The script's answer: applied (refused keys reported), already applied, or a checkpoint
 * that moved.  Frees rep. */
static int
batch_reply(struct redis *r, const struct rbatch *b, redisReply *rep, int *f,
    struct kc_err *err)
{
	(void)r;
	if (rep->type == REDIS_REPLY_ERROR) {
		kc_errf(err, "%s", rep->str);
		*f = reply_failure(rep);
		freeReplyObject(rep);
		return -1;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		kc_errf(err, "unexpected reply to the batch script");
		*f = F_FATAL;
		freeReplyObject(rep);
		return -1;
	}
	if (rep->element[0]->integer == 3) {
		/* A check before the first write failed: nothing was written. */
		struct buf m = { 0 };
		if (rep->elements > 1 && rep->element[1]->type == REDIS_REPLY_STRING &&
		    buf_add_escaped(&m, rep->element[1]->str, rep->element[1]->len) == 0 &&
		    buf_addc(&m, '\0') == 0)
			kc_errf(err, "%.240s", m.p);
		else
			kc_errf(err, "unexpected reply to the batch script");
		buf_free(&m);
		*f = F_FATAL;
		freeReplyObject(rep);
		return -1;
	}
	if (rep->element[0]->integer == 2) {
		kc_errf(err, "the checkpoint of %.80s is at %.140s, not where this run left it: "
		    "is another writer on this shard, or did the server lose acknowledged writes "
		    "(a restart without persistence, a promoted replica that lagged)? Run again: "
		    "kincount counts from the stored checkpoint; see DURABILITY in kincount(1) "
		    "and --wait-replicas",
		    rep->elements > 1 ? rep->element[1]->str : "?",
		    rep->elements > 2 && rep->element[2]->len ? rep->element[2]->str : "nothing");
		*f = F_FATAL;
		freeReplyObject(rep);
		return -1;
	}
	if (rep->element[0]->integer == 1 && b->refused != NULL) {
		for (size_t i = 1; i + 1 < rep->elements; i += 2) {
			const redisReply *k = rep->element[i], *e = rep->element[i + 1];
			if (k->type == REDIS_REPLY_INTEGER && k->integer >= 1 &&
			    (size_t)k->integer <= b->n)
				b->refused(b->arg, (size_t)k->integer - 1,
				    e->type == REDIS_REPLY_STRING ? e->str : "refused");
		}
	}
	*f = F_NONE;
	freeReplyObject(rep);
	return 0;
}

/* The EVALSHA of the batch (under the token of the batch last sent), and with
 * --wait-replicas the WAIT after it, appended to the connection's output. */
static int
append_batch(struct redis *r, const struct rbatch *b, int *f, struct kc_err *err)
{
	int64_t left;

	if (build_batch(r, b, r->sent, f, err) == -1)
		return -1;
	r->commands++;
	if (redisAppendFormattedCommand(r->c, r->cmd.p, r->cmd.len) != REDIS_OK)
		goto nomem;
	if (r->o.wait_replicas == 0)
		return 0;
	/* WAIT answers after its timeout at the latest: with a deadline, early enough that
	 * the answer can still be read. */
	r->wait_ms = r->o.timeout_ms;
	left = left_ms(r) - WAIT_GRACE_MS;
	if (left < r->wait_ms)
		r->wait_ms = left > 1 ? (long)left : 1;
	r->commands++;
	if (redisAppendCommand(r->c, "WAIT %d %ld", r->o.wait_replicas, r->wait_ms) != REDIS_OK)
		goto nomem;
	return 0;
nomem:
	kc_errf(err, "%s", strerror(ENOMEM));
	disconnect(r);
	*f = F_FATAL;
	return -1;
}

/* The answer to WAIT: 0 when enough replicas hold the batch. */
static int
replicas_reply(struct redis *r, int *f, struct kc_err *err)
{
	int n = r->o.wait_replicas;
	redisReply *rep;
	void *v;

	if (arm(r, r->wait_ms + WAIT_GRACE_MS, f, err) == -1)
		return -1;
	if (redisGetReply(r->c, &v) != REDIS_OK) {
		kc_errf(err, "the batch was written on the primary, but waiting for %d %s "
		    "failed: %s", n, n == 1 ? "replica" : "replicas", io_error(r));
		disconnect(r);
		*f = F_RETRY;
		return -1;
	}
	rep = v;
	if (rep->type == REDIS_REPLY_ERROR) {
		kc_errf(err, "WAIT: %s", rep->str);
		*f = reply_failure(rep);
	} else if (rep->type != REDIS_REPLY_INTEGER) {
		kc_errf(err, "unexpected reply to WAIT");
		*f = F_FATAL;
	} else if (rep->integer < n) {
		kc_errf(err, "the batch was written on the primary but only %lld of %d replicas "
		    "acknowledged it within %ld ms", rep->integer, n, r->wait_ms);
		*f = F_RETRY;
	} else {
		*f = F_NONE;
	}
	freeReplyObject(rep);
	return *f == F_NONE ? 0 : -1;
}

/* Read the answers to what append_batch sent. */
static int
read_batch(struct redis *r, const struct rbatch *b, int *f, struct kc_err *err)
{
	void *rep;

	if (arm(r, r->o.timeout_ms, f, err) == -1)
		return -1;
	if (redisGetReply(r->c, &rep) != REDIS_OK) {
		kc_errf(err, "%s", io_error(r));
		disconnect(r);
		*f = F_RETRY;
		return -1;
	}
	if (batch_reply(r, b, rep, f, err) == -1) {
		/* The WAIT's answer is owed: drop the connection rather than wait for it. */
		if (r->o.wait_replicas > 0)
			disconnect(r);
		return -1;
	}
	return r->o.wait_replicas > 0 ? replicas_reply(r, f, err) : 0;
}

static int
eval_step(struct redis *r, const void *arg, int *f, struct kc_err *err)
{
	const struct rbatch *b = arg;

	if (append_batch(r, b, f, err) == -1)
		return -1;
	return read_batch(r, b, f, err);
}

static void
applied(struct redis *r, const struct rbatch *b)
{
	if (!b->extra)
		r->counted++;
}

static int
send_batch(struct redis *r, const struct rbatch *b, struct kc_err *err)
{
	int f, done = 0;

	/* Each batch gets a token number of its own, also after a failed batch: one that
	 * failed may still run on the server later. */
	r->sent++;
	if (r->c == NULL && with_retries(r, nothing, NULL, err) == -1)
		return -1;
	if (append_batch(r, b, &f, err) == -1)
		return -1;
	if (arm(r, r->o.timeout_ms, &f, err) == -1)
		goto retry;
	while (!done) {
		if (redisBufferWrite(r->c, &done) != REDIS_OK) {
			kc_errf(err, "%s", io_error(r));
			disconnect(r);
			goto retry;
		}
	}
	r->pending = 1;
	return 0;
retry:
	/* Sent in part or not at all: the reply will not come; retry now. */
	if (retry_from(r, eval_step, b, F_RETRY, err) == -1)
		return -1;
	applied(r, b);
	return 0;
}

int
redis_send(struct redis *r, const struct rbatch *b, struct kc_err *err)
{
	int64_t t0 = mono_ns();
	int rc;

	r->pending = 0;
	rc = send_batch(r, b, err);
	r->busy_ns += (uint64_t)(mono_ns() - t0);
	return rc;
}

static int
wait_batch(struct redis *r, const struct rbatch *b, struct kc_err *err)
{
	int f;

	if (read_batch(r, b, &f, err) == 0) {
		applied(r, b);
		return 0;
	}
	if (f == F_FATAL)
		return -1;
	/* The same batch again, under the same token: never counted twice. */
	if (retry_from(r, eval_step, b, f, err) == -1)
		return -1;
	applied(r, b);
	return 0;
}

int
redis_wait(struct redis *r, const struct rbatch *b, struct kc_err *err)
{
	int64_t t0;
	int rc;

	if (!r->pending)
		return 0;
	r->pending = 0;
	t0 = mono_ns();
	rc = wait_batch(r, b, err);
	r->busy_ns += (uint64_t)(mono_ns() - t0);
	return rc;
}

void
redis_abandon(struct redis *r)
{
	/* A reply may be owed on the connection; the next batch starts on a new one, and
	 * under a token number of its own (send_batch). */
	disconnect(r);
	r->pending = 0;
	r->cmd.len = 0;
}

void
redis_deadline(struct redis *r, int64_t ms)
{
	r->deadline = ms;
}

double
redis_busy_ms(const struct redis *r)
{
	return (double)r->busy_ns / 1e6;
}

struct hget {
	const char	*key, *field;
	size_t		 flen;
	struct buf	*out;
	int		*found;
};

static int
hget_step(struct redis *r, const void *arg, int *f, struct kc_err *err)
{
	const struct hget *h = arg;
	const char *argv[3] = { "HGET", h->key, h->field };
	size_t argl[3] = { 4, strlen(h->key), h->flen };
	redisReply *rep;

	if ((rep = command(r, 3, argv, argl, f, err)) == NULL)
		return -1;
	h->out->len = 0;
	*h->found = rep->type == REDIS_REPLY_STRING;
	if (*h->found && buf_add(h->out, rep->str, rep->len) == -1) {
		kc_errf(err, "%s", strerror(ENOMEM));
		*f = F_FATAL;
		freeReplyObject(rep);
		return -1;
	}
	freeReplyObject(rep);
	return 0;
}

int
redis_hget(struct redis *r, const char *key, const char *field, size_t flen, struct buf *out,
    int *found, struct kc_err *err)
{
	struct hget h = { key, field, flen, out, found };
	int64_t t0 = mono_ns();
	int rc;

	rc = with_retries(r, hget_step, &h, err);
	r->busy_ns += (uint64_t)(mono_ns() - t0);
	return rc;
}

uint64_t
redis_commands(const struct redis *r)
{
	return r->commands;
}

uint64_t
redis_batches(const struct redis *r)
{
	return r->counted;
}

int
redis_gave_up(const struct redis *r)
{
	return r->gave_up;
}

const char *
redis_address(const struct redis *r)
{
	return r->addr;
}

int
redis_retries(const struct redis *r)
{
	return r->retried;
}

int
redis_auth_failed(const struct redis *r)
{
	return r->auth_failed;
}
