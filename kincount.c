/* kincount: Kinesis records in, counter keys out.  This file reads the options into a
 * struct run_opts and the compiled templates, then runs: over files (or stdin), or as an AWS
 * Lambda custom runtime, one event per invocation (lambda.c talks to the Runtime API, run.c
 * does the rest).  Usage errors are found here, before any input is read. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "decode.h"
#include "keys.h"
#include "lambda.h"
#include "match.h"
#include "redis.h"
#include "run.h"
#include "util.h"

#define KC_VERSION	"0.1.0"
/* The largest --ttl: EXPIRE refuses seconds whose milliseconds, added to the clock, pass
 * 2^63 - 1 (about 9.22e15 s now), and the batch script's numbers are doubles, exact to
 * 2^53 (about 9.007e15). */
#define TTL_MAX		9000000000000000LL

/* The defaults of the options, shown by --help as they are written here (so numbers are
 * written out, and the man page says the same). */
#define DEF_MAX_RECORD_BYTES	67108864	/* 64 MiB */
#define DEF_MAX_KEY_BYTES	1024
#define DEF_FLUSH_MS		1000
#define DEF_BATCH		10000
#define DEF_TIMEOUT_MS		5000
#define DEF_RETRIES		5
#define DEF_CHECKPOINT_KEY	"kincount:checkpoints"
#define STR(x)			STR_(x)
#define STR_(x)			#x

/* How long before an invocation's deadline kincount stops retrying Redis, to answer. */
#define DEADLINE_MARGIN_MS	500
/* The start-up connection in Lambda is tried this long (Lambda's init phase is 10 s). */
#define INIT_CONNECT_MS		2000

static const char usage_line[] = "usage: kincount [options] [file ...]\n";

/* --lambda: the Runtime API, from before the options are read, so that a usage error is
 * also posted as the runtime's init error. */
static struct lambda *api;

static void	die(int status, const char *type) __attribute__((noreturn));

/* End the process before any input was read: in Lambda, after posting the init error
 * (the last message printed is its errorMessage). */
static void
die(int status, const char *type)
{
	struct kc_err err;

	if (api != NULL) {
		if (lambda_error(api, NULL, type, run_last_warning(), &err) == -1)
			run_warnx("lambda: cannot post the init error: %s", err.msg);
		lambda_free(api);
	}
	exit(status);
}

static void	usage(void) __attribute__((noreturn));

static void
usage(void)
{
	fputs(usage_line, stderr);
	fputs("Try 'kincount --help' for more information.\n", stderr);
	die(KC_USAGE, "Kincount.UsageError");
}

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs(
"Read Kinesis records (Lambda events, aws kinesis get-records output, Firehose events,\n"
"JSON or base64 lines) from files or stdin and print a counter key for every event.\n"
"\n"
"Input:\n"
"  -f, --format FMT          auto (default), lambda, get-records, firehose, json, base64\n"
"      --stream NAME         stream name for inputs that carry none\n"
"      --shard ID            shard id for inputs that carry none\n"
"      --max-record-bytes N  reject records whose data is larger\n"
"                            (default " STR(DEF_MAX_RECORD_BYTES) ")\n"
"Keys:\n"
"  -k, --key TEMPLATE        key template, repeatable\n"
"                            (default {@date}:{page}:{section}:{element}:{action}_{id})\n"
"  -t, --time-field PATH     event time from this field (else the arrival time)\n"
"      --local-time          times in the TZ time zone instead of UTC\n"
"      --missing POLICY      null or missing field: empty (default), skip, reject\n"
"      --prefix TEXT         put TEXT before every key\n"
"      --max-key-bytes N     reject events whose key is longer (default "
    STR(DEF_MAX_KEY_BYTES) ")\n"
"      --escape-values       percent-encode %, control bytes and separators in values\n"
"  -w, --where COND          PATH=TEXT, PATH!=TEXT or PATH (PATH may be @NAME, metadata);\n"
"                            repeatable, all must hold\n"
"Output:\n"
"  -c, --count               print KEY<TAB>COUNT per distinct key, sorted, at the end\n"
"  -d, --decode              print each event's payload instead of keys\n"
"      --flush-ms MS         on a live input, flush output (or apply the batch) once\n"
"                            the oldest of it has waited MS (default " STR(DEF_FLUSH_MS) ")\n"
"  -s, --stats[=FORM]        summary on stderr at exit: text (default) or json\n"
"      --progress            always show the progress meter\n"
"      --no-progress         never show the progress meter\n"
"Redis:\n"
"  -r, --redis URL           add the counts to Redis: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB],\n"
"                            unix:///PATH[?db=N] or HOST:PORT; password from REDISCLI_AUTH\n"
"      --batch N             records per batch of line input (default " STR(DEF_BATCH) ")\n"
"      --ttl SECONDS         set this TTL on counters that have none (Redis 7;\n"
"                            at most 9000000000000000)\n"
"      --timeout-ms MS       connect and command timeout (default " STR(DEF_TIMEOUT_MS) ")\n"
"      --retries N           retries of a failed batch (default " STR(DEF_RETRIES) ")\n"
"      --checkpoint          exactly once: skip records at or below the stored checkpoint\n"
"      --checkpoint-key KEY  hash of the checkpoints (default " DEF_CHECKPOINT_KEY ")\n"
"      --show-checkpoint STREAM/SHARD  print the stored sequence number and exit\n"
"      --wait-replicas N     a batch is applied once N replicas hold it (WAIT)\n"
"Lambda:\n"
"      --lambda              run as an AWS Lambda custom runtime: events from the\n"
"                            Runtime API (AWS_LAMBDA_RUNTIME_API), one batch each\n"
"Errors:\n"
"  -q, --quiet               no message per rejected item, only the summary\n"
"      --dead-letter FILE    append every rejected item to FILE as a JSON line\n"
"                            (redis:KEY: push it onto a Redis list with the batch)\n"
"      --strict              stop at the first rejected item\n"
"      --max-errors N        stop after N rejected items\n"
"  -h, --help                this help\n"
"  -V, --version             print the version\n"
"\n"
"Exit status: 0 ok, 1 something was rejected, 2 usage error, 3 Redis error,\n"
"4 I/O error.  See kincount(1).\n", stdout);
}

static long long
number(const char *opt, const char *arg, long long min, long long max)
{
	long long v;
	const char *why;

	if (kc_strtoll(arg, min, max, &v, &why) == -1) {
		run_warnx("%s: %s '%s'", opt, why, arg);
		die(KC_USAGE, "Kincount.UsageError");
	}
	return v;
}

/* A mistake in a template, condition or path: a usage error naming the column. */
static void
template_warning(const char *opt, const char *text, size_t col, const struct kc_err *err)
{
	struct buf b = { 0 };

	buf_add_escaped(&b, text, strlen(text));
	buf_addc(&b, '\0');
	run_warnx("%s '%s': column %zu: %s", opt, b.p, col, err->msg);
	buf_free(&b);
}

static void	template_error(const char *, const char *, size_t, const struct kc_err *)
		    __attribute__((noreturn));

static void
template_error(const char *opt, const char *text, size_t col, const struct kc_err *err)
{
	template_warning(opt, text, col, err);
	die(KC_USAGE, "Kincount.UsageError");
}

enum {
	OPT_BATCH = 256, OPT_CHECKPOINT, OPT_CHECKPOINT_KEY, OPT_DEAD_LETTER, OPT_ESCAPE_VALUES,
	OPT_FLUSH_MS, OPT_LAMBDA, OPT_LOCAL_TIME, OPT_MAX_ERRORS, OPT_MAX_KEY_BYTES, OPT_MAX_RECORD_BYTES,
	OPT_MISSING, OPT_NO_PROGRESS, OPT_PREFIX, OPT_PROGRESS, OPT_RETRIES, OPT_SHARD,
	OPT_SHOW_CHECKPOINT, OPT_STREAM, OPT_STRICT, OPT_TIMEOUT_MS, OPT_TTL, OPT_WAIT_REPLICAS
};

/* getopt_long found arg wrong: an unknown option, or one without its argument. */
static void
bad_option(const char *arg, const char *shorts)
{
	struct buf b = { 0 };
	const char *p;

	buf_add_escaped(&b, arg, strlen(arg));
	buf_addc(&b, '\0');
	if (optopt == 0)
		run_warnx("unrecognized option '%s'", b.p);
	else if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=') != NULL)
		run_warnx("option '%s' allows no argument", b.p);
	else if (optopt >= 256 || ((p = strchr(shorts, optopt)) != NULL && p[1] == ':'))
		run_warnx("option '%s' requires an argument", b.p);
	else
		run_warnx("invalid option -- '%c'", optopt);
	buf_free(&b);
	usage();
}

static const struct option longopts[] = {
	{ "batch",		required_argument,	NULL, OPT_BATCH },
	{ "checkpoint",		no_argument,		NULL, OPT_CHECKPOINT },
	{ "checkpoint-key",	required_argument,	NULL, OPT_CHECKPOINT_KEY },
	{ "count",		no_argument,		NULL, 'c' },
	{ "dead-letter",	required_argument,	NULL, OPT_DEAD_LETTER },
	{ "decode",		no_argument,		NULL, 'd' },
	{ "escape-values",	no_argument,		NULL, OPT_ESCAPE_VALUES },
	{ "flush-ms",		required_argument,	NULL, OPT_FLUSH_MS },
	{ "format",		required_argument,	NULL, 'f' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "key",		required_argument,	NULL, 'k' },
	{ "lambda",		no_argument,		NULL, OPT_LAMBDA },
	{ "local-time",		no_argument,		NULL, OPT_LOCAL_TIME },
	{ "max-errors",		required_argument,	NULL, OPT_MAX_ERRORS },
	{ "max-key-bytes",	required_argument,	NULL, OPT_MAX_KEY_BYTES },
	{ "max-record-bytes",	required_argument,	NULL, OPT_MAX_RECORD_BYTES },
	{ "missing",		required_argument,	NULL, OPT_MISSING },
	{ "no-progress",	no_argument,		NULL, OPT_NO_PROGRESS },
	{ "prefix",		required_argument,	NULL, OPT_PREFIX },
	{ "progress",		no_argument,		NULL, OPT_PROGRESS },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "redis",		required_argument,	NULL, 'r' },
	{ "retries",		required_argument,	NULL, OPT_RETRIES },
	{ "shard",		required_argument,	NULL, OPT_SHARD },
	{ "show-checkpoint",	required_argument,	NULL, OPT_SHOW_CHECKPOINT },
	{ "stats",		optional_argument,	NULL, 's' },
	{ "stream",		required_argument,	NULL, OPT_STREAM },
	{ "strict",		no_argument,		NULL, OPT_STRICT },
	{ "time-field",		required_argument,	NULL, 't' },
	{ "timeout-ms",		required_argument,	NULL, OPT_TIMEOUT_MS },
	{ "ttl",		required_argument,	NULL, OPT_TTL },
	{ "version",		no_argument,		NULL, 'V' },
	{ "wait-replicas",	required_argument,	NULL, OPT_WAIT_REPLICAS },
	{ "where",		required_argument,	NULL, 'w' },
	{ NULL,			0,			NULL, 0 }
};

struct texts {
	const char	**v;
	size_t		  n;
};

static void
push(struct texts *t, const char *s)
{
	const char **nv = realloc(t->v, (t->n + 1) * sizeof(*nv));

	if (nv == NULL) {
		run_warnx("%s", strerror(ENOMEM));
		die(KC_IO, "Kincount.InitError");
	}
	t->v = nv;
	t->v[t->n++] = s;
}

/* What the options ask for: the run's options, and what kincount.c itself uses.  Every
 * string kept from the command line (here and in the modules' option structs) points into argv,
 * which lives as long as the process: none is copied, and none is freed. */
struct config {
	struct run_opts		 o;
	struct keys_opts	 kopt;
	struct texts		 keys, wheres;
	const char		*time_field;
	const char		*show_ckpt;
	const char		*redis_only;	/* a Redis option given, for the usage check */
	const char		*line_only;	/* an option --lambda does not take */
	int			 format_given;
	int			 lambda;
};

/* The index of arg in names (NULL-terminated), or a usage error naming the option. */
static int
choice(const char *opt, const char *arg, const char *const *names)
{
	struct buf b = { 0 }, list = { 0 };

	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	for (int i = 0; names[i] != NULL; i++) {
		buf_add(&list, i ? ", " : "", i ? 2 : 0);
		buf_add(&list, names[i], strlen(names[i]));
	}
	buf_addc(&list, '\0');
	buf_add_escaped(&b, arg, strlen(arg));
	buf_addc(&b, '\0');
	run_warnx("%s: unknown value '%s' (%s)", opt, b.p, list.p);
	buf_free(&b);
	buf_free(&list);
	usage();
}

static void
parse_options(int argc, char *argv[], struct config *c)
{
	static const char *const formats[] = {	/* in enum kc_format order */
		"auto", "lambda", "get-records", "firehose", "json", "base64", NULL
	};
	static const char *const missing[] = { "empty", "skip", "reject", NULL };
	static const char *const forms[] = { "text", "json", NULL };
	static const char shorts[] = "cdf:hk:qr:s::t:Vw:";
	int ch;

	opterr = 0;	/* its messages are ours, so that Lambda gets them too */
	while ((ch = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c->o.count = 1;
			c->line_only = "-c";
			break;
		case 'd':
			c->o.decode_only = 1;
			c->line_only = "-d";
			break;
		case 'f':
			c->o.dopt.format = choice("--format", optarg, formats);
			c->format_given = 1;
			break;
		case 'h':
			help();
			exit(fflush(stdout) == 0 ? KC_OK : KC_IO);
		case 'k':
			push(&c->keys, optarg);
			break;
		case 'q':
			c->o.quiet = 1;
			break;
		case 'r':
			c->o.redis_url = optarg;
			break;
		case 's':
			c->o.stats = optarg == NULL ? STATS_TEXT :
			    STATS_TEXT + choice("--stats", optarg, forms);
			break;
		case 't':
			c->time_field = c->o.time_field = optarg;
			break;
		case 'V':
			puts("kincount " KC_VERSION);
			exit(fflush(stdout) == 0 ? KC_OK : KC_IO);
		case 'w':
			push(&c->wheres, optarg);
			break;
		case OPT_BATCH:
			c->o.batch = number("--batch", optarg, 1, 100000000);
			c->redis_only = "--batch";
			break;
		case OPT_CHECKPOINT:
			c->o.checkpoint = 1;
			c->redis_only = "--checkpoint";
			break;
		case OPT_CHECKPOINT_KEY:
			c->o.ropt.ckpt_key = optarg;
			c->redis_only = "--checkpoint-key";
			break;
		case OPT_DEAD_LETTER:
			c->o.dead_letter = optarg;
			break;
		case OPT_ESCAPE_VALUES:
			c->kopt.escape = 1;
			break;
		case OPT_FLUSH_MS:
			c->o.flush_ms = (int)number("--flush-ms", optarg, 1, 3600000);
			break;
		case OPT_LAMBDA:
			c->lambda = 1;
			break;
		case OPT_LOCAL_TIME:
			c->kopt.local_time = c->o.dopt.local_time = 1;
			break;
		case OPT_MAX_ERRORS:
			c->o.max_errors = number("--max-errors", optarg, 0, LLONG_MAX);
			c->line_only = "--max-errors";
			break;
		case OPT_MAX_KEY_BYTES:
			c->kopt.max_key = (size_t)number("--max-key-bytes", optarg, 1, 1 << 30);
			break;
		case OPT_MAX_RECORD_BYTES:
			c->o.dopt.max_record = (size_t)number("--max-record-bytes", optarg, 1,
			    (long long)1 << 40);
			break;
		case OPT_MISSING:
			c->kopt.missing = choice("--missing", optarg, missing);
			break;
		case OPT_NO_PROGRESS:
			c->o.progress = 0;
			break;
		case OPT_PREFIX:
			c->kopt.prefix = optarg;
			break;
		case OPT_PROGRESS:
			c->o.progress = 1;
			c->line_only = "--progress";
			break;
		case OPT_RETRIES:
			c->o.ropt.retries = (int)number("--retries", optarg, 0, 1000);
			c->redis_only = "--retries";
			break;
		case OPT_SHARD:
			c->o.dopt.shard = optarg;
			break;
		case OPT_SHOW_CHECKPOINT:
			c->show_ckpt = optarg;
			c->redis_only = "--show-checkpoint";
			break;
		case OPT_STREAM:
			c->o.dopt.stream = optarg;
			break;
		case OPT_STRICT:
			c->o.max_errors = 1;
			c->line_only = "--strict";
			break;
		case OPT_TIMEOUT_MS:
			c->o.ropt.timeout_ms = (int)number("--timeout-ms", optarg, 1, 3600000);
			c->redis_only = "--timeout-ms";
			break;
		case OPT_WAIT_REPLICAS:
			c->o.ropt.wait_replicas = (int)number("--wait-replicas", optarg, 0, 1000);
			c->redis_only = "--wait-replicas";
			break;
		case OPT_TTL:
			c->o.ropt.ttl = number("--ttl", optarg, 1, TTL_MAX);
			c->redis_only = "--ttl";
			break;
		default:
			bad_option(argv[optind - 1], shorts);
		}
	}
}

/* Options that do not fit together: usage errors, before anything is opened. */
static void
check_options(const struct config *c, int nfiles)
{
	const char *why = NULL, *dl_redis = NULL;

	if (c->o.dead_letter != NULL && strncmp(c->o.dead_letter, "redis:", 6) == 0)
		dl_redis = c->o.dead_letter + 6;
	if (c->lambda && getenv("AWS_LAMBDA_RUNTIME_API") == NULL)
		why = "--lambda: AWS_LAMBDA_RUNTIME_API is not set (Lambda sets it)";
	else if (c->lambda && c->o.redis_url == NULL)
		why = "--lambda needs -r URL (in the zip's bootstrap: KINCOUNT_REDIS_URL)";
	else if (c->lambda && c->line_only != NULL)
		run_warnx("--lambda cannot be used with %s", c->line_only), usage();
	else if (c->lambda && c->format_given && c->o.dopt.format != FMT_LAMBDA)
		why = "--lambda reads Lambda events: -f can only be lambda";
	else if (c->lambda && (nfiles > 0 || c->show_ckpt != NULL))
		why = "--lambda reads its events from the Runtime API, not from files";
	else if (c->o.count + c->o.decode_only + (c->o.redis_url != NULL) > 1)
		why = "-c, -d and -r cannot be used together";
	else if (c->o.redis_url == NULL && c->redis_only != NULL)
		run_warnx("%s needs -r", c->redis_only), usage();
	else if (c->o.redis_url == NULL && dl_redis != NULL)
		why = "--dead-letter redis:KEY needs -r";
	else if (dl_redis != NULL && *dl_redis == '\0')
		why = "--dead-letter redis: needs a key name";
	else if (c->o.checkpoint &&
	    (c->o.dopt.format == FMT_JSON || c->o.dopt.format == FMT_BASE64))
		why = "--checkpoint needs sequence numbers: use -f auto, lambda, get-records "
		    "or firehose";
	else if (c->o.checkpoint && c->o.dopt.format == FMT_GET_RECORDS &&
	    c->o.dopt.shard == NULL)
		why = "--checkpoint with get-records input needs --shard";
	else if (c->o.checkpoint && c->o.dopt.stream != NULL && strchr(c->o.dopt.stream, '/'))
		why = "--stream: a name with '/' cannot be checkpointed (the field is STREAM/SHARD)";
	else if (c->o.checkpoint && c->o.dopt.shard != NULL && strchr(c->o.dopt.shard, '/'))
		why = "--shard: an id with '/' cannot be checkpointed (the field is STREAM/SHARD)";
	else if (c->show_ckpt != NULL && strchr(c->show_ckpt, '/') == NULL)
		why = "--show-checkpoint: expected STREAM/SHARD";
	else if (c->show_ckpt != NULL && nfiles > 0)
		why = "--show-checkpoint reads no input: no file may be given";
	if (why != NULL) {
		run_warnx("%s", why);
		usage();
	}
}

/* Compile the templates, conditions and time field: their mistakes are usage errors,
 * found before any input is read. */
static void
compile(struct config *c, struct matcher **pm, struct tmpl_set **tmpl)
{
	struct kc_err err;
	size_t col;

	if ((*pm = match_new()) == NULL || (*tmpl = tmpl_new(&c->kopt, *pm)) == NULL) {
		run_warnx("%s", strerror(ENOMEM));
		die(KC_IO, "Kincount.InitError");
	}
	for (size_t i = 0; i < c->keys.n; i++)
		if (tmpl_add_key(*tmpl, c->keys.v[i], &col, &err) == -1)
			template_error("--key", c->keys.v[i], col, &err);
	for (size_t i = 0; i < c->wheres.n; i++)
		switch (tmpl_add_where(*tmpl, c->wheres.v[i], &col, &err)) {
		case -1:
			template_error("--where", c->wheres.v[i], col, &err);
		case 1:
			template_warning("--where", c->wheres.v[i], col, &err);
			break;
		}
	if (c->time_field != NULL &&
	    tmpl_set_time_field(*tmpl, c->time_field, &col, &err) == -1)
		template_error("--time-field", c->time_field, col, &err);
	if (tmpl_finish(*tmpl, &err) == -1) {
		run_warnx("%s", err.msg);
		die(KC_USAGE, "Kincount.UsageError");
	}
}

/* --lambda given among the options (any abbreviation getopt_long would take), before
 * anything else is looked at. */
static int
lambda_asked(int argc, char *argv[])
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		size_t n = strlen(argv[i]);
		if (n >= 4 && strncmp(argv[i], "--lambda", n) == 0)
			return 1;
	}
	return 0;
}

/* The Lambda loop: each invocation's event through the run, answered with a partial batch
 * response, until the Runtime API says to exit or goes away. */
static int
lambda_loop(struct run *r, size_t max_event)
{
	struct lambda_inv inv;
	struct run_answer a;
	struct kc_err err;
	json_t *o;
	char *s;
	int failures = 0;

	for (;;) {
		enum lambda_next got = lambda_next(api, max_event, &inv, &err);

		if (run_signal())
			break;
		switch (got) {
		case LAMBDA_EVENT:
			break;
		case LAMBDA_TOO_LARGE:
			run_warnx("%s: the event is over %zu bytes (twice --max-record-bytes): "
			    "not read", inv.id, max_event);
			if (lambda_error(api, inv.id, "Kincount.EventTooLarge",
			    run_last_warning(), &err) == -1)
				run_warnx("lambda: %s: cannot post the error: %s", inv.id, err.msg);
			continue;
		case LAMBDA_EXIT:
			run_warnx("lambda: %s; exiting", err.msg);
			return KC_OK;
		case LAMBDA_GONE:
			run_warnx("lambda: %s; exiting", err.msg);
			return KC_IO;
		case LAMBDA_FAILED:
			run_warnx("lambda: %s", err.msg);
			if (++failures >= 5)
				return KC_IO;
			continue;
		}
		failures = 0;
		run_event(r, inv.id, inv.body, inv.len, inv.deadline == 0 ? 0 :
		    kc_clock_ms(CLOCK_MONOTONIC) + (inv.deadline - kc_clock_ms(CLOCK_REALTIME)) -
		    DEADLINE_MARGIN_MS, &a);
		if (a.kind == RUN_INVALID) {
			if (lambda_error(api, inv.id, "Kincount.InvalidEvent", a.why, &err) == -1)
				run_warnx("lambda: %s: cannot post the error: %s", inv.id, err.msg);
			continue;
		}
		/* The partial batch response: nothing failed, or retry from the first record
		 * of the batch that was not applied. */
		o = a.kind == RUN_APPLIED ? json_pack("{s:[]}", "batchItemFailures") :
		    json_pack("{s:[{s:s%}]}", "batchItemFailures", "itemIdentifier",
		    a.first_seq.p, a.first_seq.n);
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (s == NULL || lambda_respond(api, inv.id, s, strlen(s), &err) == -1)
			run_warnx("lambda: %s: cannot post the answer: %s", inv.id,
			    s ? err.msg : strerror(ENOMEM));
		free(s);
	}
	return 128 + run_signal();
}

int
main(int argc, char *argv[])
{
	struct config c = {
		.o = {
			.progress = -1, .flush_ms = DEF_FLUSH_MS, .batch = DEF_BATCH,
			.dopt = { .format = FMT_AUTO, .max_record = DEF_MAX_RECORD_BYTES },
			.ropt = {
				.timeout_ms = DEF_TIMEOUT_MS, .retries = DEF_RETRIES,
				.ckpt_key = DEF_CHECKPOINT_KEY
			},
		},
		.kopt = { .missing = MISSING_EMPTY, .max_key = DEF_MAX_KEY_BYTES },
	};
	struct matcher *pm;
	struct tmpl_set *tmpl;
	struct run *r;
	struct kc_err err;
	const char *rt = getenv("AWS_LAMBDA_RUNTIME_API");
	int status, fatal;

	if (rt != NULL && lambda_asked(argc, argv)) {
		if ((api = lambda_new(rt, run_signal, &err)) == NULL) {
			run_warnx("lambda: %s", err.msg);
			return KC_IO;
		}
	}
	parse_options(argc, argv, &c);
	argc -= optind;
	argv += optind;
	check_options(&c, argc);
	if (c.lambda) {
		c.o.dopt.format = FMT_LAMBDA;
		c.o.progress = 0;
	}
	compile(&c, &pm, &tmpl);
	free(c.keys.v);
	free(c.wheres.v);
	if ((r = run_new(&c.o, pm, tmpl, &status)) == NULL) {
		if (status == KC_USAGE)
			usage();
		die(status, "Kincount.InitError");
	}
	if (status != KC_OK) {
		if (c.lambda)
			die(status, "Kincount.InitError");
		status = run_finish(r);
		run_free(r);
		return status;
	}
	if (c.lambda) {
		/* A server that is down may come back by the first event; a refused password
		 * or a server too old will not. */
		if (run_connect(r, kc_clock_ms(CLOCK_MONOTONIC) + INIT_CONNECT_MS, &fatal) != KC_OK) {
			if (fatal) {
				run_free(r);
				die(KC_SINK, "Kincount.RedisError");
			}
			run_warnx("redis: not reached in %d ms at start-up; tried again at each "
			    "invocation", INIT_CONNECT_MS);
		}
		run_catch_signals();
		/* Lambda's own limit is 6 MB; an event may hold a record of the largest
		 * size, in base64, and its envelope. */
		status = lambda_loop(r, c.o.dopt.max_record > SIZE_MAX / 2 ? SIZE_MAX :
		    2 * c.o.dopt.max_record);
		run_free(r);
		lambda_free(api);
		return status;
	}
	if (c.show_ckpt != NULL) {
		status = run_show_checkpoint(r, c.show_ckpt);
		run_free(r);
		return status;
	}
	if (run_connect(r, 0, &fatal) != KC_OK) {
		status = run_finish(r);
		run_free(r);
		return status;
	}
	run_catch_signals();
	run_progress(r, argc, argv);
	if (argc == 0)
		run_file(r, "-");
	for (int i = 0; i < argc && !run_stopped(r); i++)
		run_file(r, argv[i]);
	status = run_finish(r);
	run_free(r);
	return status;
}
