/*
 * gen: writes the benchmark workloads of kincount to standard output.
 * Every byte follows from the seed and the record count, so two runs with
 * the same arguments give the same file and the same keys.  The events are
 * click-stream events of about 170 bytes whose fields come from small,
 * skewed sets; their times are spread over three days whatever the record
 * count, so a small and a large run have the same shape.  The envelopes
 * look like what AWS writes: Lambda events on one line each, get-records
 * pages pretty-printed with a 4-space indent as aws CLI v1 prints them.
 * Workload K packs the same events 50 to a Kinesis Producer Library
 * aggregate (the magic, a protobuf AggregatedRecord, its MD5 from libmd),
 * 20 aggregates to a Lambda event; k is the same records unpacked, one
 * plain Lambda record per sub-record with its aggregate's arrival time, so
 * that jq (which cannot read protobuf) can give K's expected keys and the
 * two measure the cost of a sub-record against a plain record.
 * Workload W carries the same events as log messages of CloudWatch Logs
 * subscription records (gzipped DATA_MESSAGEs, as zlib at level 6 writes
 * them) in Lambda events; it is linked with zlib (-lz).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <md5.h>

#include <zlib.h>

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* 2015-12-17T00:00:00Z in epoch milliseconds, and a span of three days. */
#define TS_START	1450310400000ULL
#define TS_SPAN		(3ULL * 86400 * 1000)

/* 56-digit sequence numbers: a fixed 36-digit head and a 20-digit counter. */
#define SEQ_HEAD	"495903382714902566085596925383615710"
#define SEQ_FIRST	10000000000000000000ULL

#define SHARD		"shardId-000000000000"
#define ARN_ROLE	"arn:aws:iam::123456789012:role/lambda-role"
#define REGION		"us-east-1"
#define ARN_STREAM	"arn:aws:kinesis:us-east-1:123456789012:stream/clickstream"

struct event {
	char		 json[512];	/* the event, compact, no newline */
	size_t		 len;
	char		 pk[16];	/* partition key: the user id */
	char		 seq[64];	/* sequence number, 56 digits */
	char		 arrival[32];	/* epoch seconds, ms fraction */
};

static const char *pages[] = {
	"home", "product", "cart", "search", "category", "checkout",
	"account", "orders",
};
static const char *sections[] = {
	"", "hero", "recommendations", "ordersummary", "header", "footer",
	"sidebar",
};
static const char *elements[] = {
	"tile", "checkoutnow", "button", "link", "banner", "carousel",
	"addtocart",
};
static const char *actions[] = {
	"click", "impression", "hover", "view",
};
static const char *agents[] = {
	"Mozilla/5.0 (X11; Linux x86_64)",
	"Mozilla/5.0 (Windows NT 10.0; Win64)",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X)",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 9_2)",
	"Mozilla/5.0 (Linux; Android 6.0)",
	"Mozilla/5.0 (Windows NT 6.1; WOW64)",
};

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static uint64_t	rng_state;
static uint64_t	seq_counter = SEQ_FIRST;

static void	usage(void);
static uint64_t	rnd(void);
static unsigned	pick(unsigned);
static void	event_make(struct event *, uint64_t, uint64_t, int);
static size_t	b64_encode(char *, const char *, size_t);
static void	out(const char *, size_t);
static void	outs(const char *);
static void	write_lambda(uint64_t, unsigned);
static void	write_getrecords(uint64_t, unsigned);
static void	write_lines(uint64_t, int, int);
static void	write_kpl(uint64_t, int);
static void	write_cwl(uint64_t, unsigned, unsigned);
static void	write_record(const char *, const char *, const char *, const char *, int);

/* xorshift64*: small, fast and the same everywhere. */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/*
 * An index below n, skewed towards small indexes (the product of two
 * uniform draws), so a few pages and ids are popular, as on a real site.
 */
static unsigned
pick(unsigned n)
{
	uint64_t a = rnd() % n, b = rnd() % n;

	return (unsigned)(a * b / (n - 1 > 0 ? n - 1 : 1)) % n;
}

/*
 * Event i of n.  With unique, the id is 1000000 + i, so that every event
 * makes a different key (the distinct-keys workload).
 */
static void
event_make(struct event *ev, uint64_t i, uint64_t n, int unique)
{
	uint64_t ts, arr, id;
	unsigned user;
	int len;

	ts = TS_START + (n > 0 ? i * TS_SPAN / n : 0) + rnd() % 1000;
	arr = ts + 200 + rnd() % 1800;
	id = unique ? 1000000 + i : 1000 + pick(100) * 13;
	user = (unsigned)(rnd() % 50000);
	len = snprintf(ev->json, sizeof(ev->json),
	    "{\"ts\":%" PRIu64 ",\"page\":\"%s\",\"section\":\"%s\","
	    "\"element\":\"%s\",\"action\":\"%s\",\"id\":%" PRIu64 ","
	    "\"user\":{\"id\":\"u%06u\",\"agent\":\"%s\"}}",
	    ts, pages[pick(NELEM(pages))], sections[pick(NELEM(sections))],
	    elements[pick(NELEM(elements))], actions[pick(NELEM(actions))],
	    id, user, agents[rnd() % NELEM(agents)]);
	ev->len = (size_t)len;
	snprintf(ev->pk, sizeof(ev->pk), "u%06u", user);
	seq_counter += 1 + rnd() % 5000;
	snprintf(ev->seq, sizeof(ev->seq), "%s%020" PRIu64, SEQ_HEAD,
	    seq_counter);
	/* Epoch seconds with the ms fraction as a float prints it: 0.5, 0.12. */
	len = snprintf(ev->arrival, sizeof(ev->arrival), "%" PRIu64 ".%03u",
	    arr / 1000, (unsigned)(arr % 1000));
	while (ev->arrival[len - 1] == '0')
		ev->arrival[--len] = '\0';
	if (ev->arrival[len - 1] == '.')
		ev->arrival[--len] = '\0';
}

/* Standard base64 with padding; dst holds 4 * ((n + 2) / 3) + 1 bytes. */
static size_t
b64_encode(char *dst, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		dst[o++] = b64chars[v >> 18 & 63];
		dst[o++] = b64chars[v >> 12 & 63];
		dst[o++] = b64chars[v >> 6 & 63];
		dst[o++] = b64chars[v & 63];
	}
	if (i < n) {
		v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		dst[o++] = b64chars[v >> 18 & 63];
		dst[o++] = b64chars[v >> 12 & 63];
		dst[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return o;
}

static void
out(const char *p, size_t n)
{
	if (fwrite(p, 1, n, stdout) != n) {
		perror("gen: write");
		exit(1);
	}
}

static void
outs(const char *s)
{
	out(s, strlen(s));
}

/* Lambda events, per records each, one compact event per line. */
static void
write_lambda(uint64_t n, unsigned per)
{
	struct event ev;
	char data[1024];
	uint64_t i;

	for (i = 0; i < n; i++) {
		event_make(&ev, i, n, 0);
		b64_encode(data, ev.json, ev.len);
		write_record(ev.pk, ev.seq, data, ev.arrival, i % per == 0);
		if (i % per == per - 1 || i == n - 1)
			outs("]}\n");
	}
}

/*
 * get-records pages of per records each, as aws CLI v1 prints them:
 * json.dumps with indent=4, members in the API's order, the blob as base64
 * and the arrival time as epoch seconds.
 */
static void
write_getrecords(uint64_t n, unsigned per)
{
	struct event ev;
	char data[1024], iter[289];
	uint64_t i, it;
	size_t k;

	for (i = 0; i < n; i++) {
		event_make(&ev, i, n, 0);
		b64_encode(data, ev.json, ev.len);
		outs(i % per == 0 ? "{\n    \"Records\": [\n" : ",\n");
		outs("        {\n"
		    "            \"SequenceNumber\": \"");
		outs(ev.seq);
		outs("\",\n"
		    "            \"ApproximateArrivalTimestamp\": ");
		outs(ev.arrival);
		outs(",\n"
		    "            \"Data\": \"");
		outs(data);
		outs("\",\n"
		    "            \"PartitionKey\": \"");
		outs(ev.pk);
		outs("\"\n"
		    "        }");
		if (i % per == per - 1 || i == n - 1) {
			/* Its own generator, so G carries the same events as N. */
			it = (i / per + 1) * 0x9E3779B97F4A7C15ULL;
			for (k = 0; k < sizeof(iter) - 1; k++) {
				it ^= it >> 12;
				it ^= it << 25;
				it ^= it >> 27;
				iter[k] = b64chars[(it * 0x2545F4914F6CDD1DULL) >> 58];
			}
			memcpy(iter, "AAAAAAAAAAE", 11);
			iter[sizeof(iter) - 1] = '\0';
			outs("\n    ],\n    \"NextShardIterator\": \"");
			outs(iter);
			outs("\",\n    \"MillisBehindLatest\": 0\n}\n");
		}
	}
}

/* One event per line: as JSON (NDJSON) or as its base64. */
static void
write_lines(uint64_t n, int base64, int unique)
{
	struct event ev;
	char data[1024];
	uint64_t i;
	size_t len;

	for (i = 0; i < n; i++) {
		event_make(&ev, i, n, unique);
		if (base64) {
			len = b64_encode(data, ev.json, ev.len);
			data[len++] = '\n';
			out(data, len);
		} else {
			ev.json[ev.len] = '\n';
			out(ev.json, ev.len + 1);
		}
	}
}

/* Sub-records per aggregate, aggregates per Lambda event (K and k). */
#define KPL_PER_AGG	50
#define KPL_PER_EVENT	20

static size_t
pb_varint(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

static void
write_record(const char *pk, const char *seq, const char *data, const char *arrival,
    int first)
{
	outs(first ? "{\"Records\":[" : ",");
	outs("{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\","
	    "\"partitionKey\":\"");
	outs(pk);
	outs("\",\"sequenceNumber\":\"");
	outs(seq);
	outs("\",\"data\":\"");
	outs(data);
	outs("\",\"approximateArrivalTimestamp\":");
	outs(arrival);
	outs("},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\","
	    "\"eventID\":\"" SHARD ":");
	outs(seq);
	outs("\",\"eventName\":\"aws:kinesis:record\","
	    "\"invokeIdentityArn\":\"" ARN_ROLE "\","
	    "\"awsRegion\":\"" REGION "\","
	    "\"eventSourceARN\":\"" ARN_STREAM "\"}");
}

/*
 * K (plain == 0): n events as KPL aggregates of KPL_PER_AGG sub-records,
 * KPL_PER_EVENT aggregates to a Lambda event.  An aggregate's partition key
 * is its first sub-record's (as the KPL does), its arrival time its last
 * sub-record's, its sequence number its first sub-record's.  The partition
 * key table holds each user once; no explicit hash keys.  k (plain == 1): the
 * same, one plain record per sub-record.
 */
static void
write_kpl(uint64_t n, int plain)
{
	static struct event evs[KPL_PER_AGG];
	static unsigned char pb[KPL_PER_AGG * 600], agg[sizeof(pb) + 20];
	static char data[sizeof(agg) * 4 / 3 + 8];
	const char *pks[KPL_PER_AGG];
	unsigned char rec[600];
	uint64_t i, nagg = 0;
	size_t m, j, k, npk, len, rl;
	MD5_CTX ctx;
	int first;

	for (i = 0; i < n; i += m) {
		m = n - i < KPL_PER_AGG ? (size_t)(n - i) : KPL_PER_AGG;
		for (j = 0; j < m; j++)
			event_make(&evs[j], i + j, n, 0);
		first = nagg++ % KPL_PER_EVENT == 0;
		if (plain) {
			for (j = 0; j < m; j++) {
				b64_encode(data, evs[j].json, evs[j].len);
				write_record(evs[0].pk, evs[j].seq, data,
				    evs[m - 1].arrival, first && j == 0);
			}
		} else {
			len = npk = 0;
			for (j = 0; j < m; j++) {
				for (k = 0; k < npk; k++)
					if (strcmp(pks[k], evs[j].pk) == 0)
						break;
				if (k == npk) {
					pks[npk++] = evs[j].pk;
					pb[len++] = 0x0a;
					len += pb_varint(pb + len, strlen(evs[j].pk));
					memcpy(pb + len, evs[j].pk, strlen(evs[j].pk));
					len += strlen(evs[j].pk);
				}
			}
			for (j = 0; j < m; j++) {
				for (k = 0; strcmp(pks[k], evs[j].pk) != 0; k++)
					;
				rl = 0;
				rec[rl++] = 0x08;
				rl += pb_varint(rec + rl, k);
				rec[rl++] = 0x1a;
				rl += pb_varint(rec + rl, evs[j].len);
				memcpy(rec + rl, evs[j].json, evs[j].len);
				rl += evs[j].len;
				pb[len++] = 0x1a;
				len += pb_varint(pb + len, rl);
				memcpy(pb + len, rec, rl);
				len += rl;
			}
			memcpy(agg, "\xf3\x89\x9a\xc2", 4);
			memcpy(agg + 4, pb, len);
			MD5Init(&ctx);
			MD5Update(&ctx, pb, len);
			MD5Final(agg + 4 + len, &ctx);
			b64_encode(data, (const char *)agg, len + 20);
			write_record(evs[0].pk, evs[0].seq, data, evs[m - 1].arrival,
			    first);
		}
		if (nagg % KPL_PER_EVENT == 0 || i + m == n)
			outs("]}\n");
	}
}

/*
 * Workload W: n log events, events to a CloudWatch Logs DATA_MESSAGE (the
 * message of each is one event's JSON, its timestamp the event's ts), each
 * message gzipped at level 6 into the data of one Kinesis record, per
 * records to a Lambda event.  The events are N's, in N's order.
 */
static void
write_cwl(uint64_t n, unsigned per, unsigned events)
{
	static char msg[1 << 20], gz[1 << 20], data[(1 << 20) / 3 * 4 + 8];
	static const char head[] = "{\"messageType\":\"DATA_MESSAGE\","
	    "\"owner\":\"123456789012\",\"logGroup\":\"/aws/lambda/clickstream\","
	    "\"logStream\":\"2015/12/17/[$LATEST]0f3c5a7e9b1d4e2f\","
	    "\"subscriptionFilters\":[\"to-kinesis\"],\"logEvents\":[";
	struct event ev, rec;
	z_stream z;
	uint64_t i, r = 0, logid = 0;
	size_t len, k;
	unsigned j;
	int w;

	memset(&rec, 0, sizeof(rec));
	for (i = 0; i < n; r++) {
		len = strlen(head);
		memcpy(msg, head, len);
		for (j = 0; j < events && i < n; j++, i++) {
			event_make(&ev, i, n, 0);
			/* The ts is the first member: the timestamp is read back from it. */
			w = snprintf(msg + len, sizeof(msg) - len,
			    "%s{\"id\":\"%036" PRIu64 "%020" PRIu64 "\",\"timestamp\":%.13s,"
			    "\"message\":\"", j ? "," : "", (uint64_t)0, ++logid + 1000000,
			    ev.json + 6);
			len += (size_t)w;
			/* The event has quotes to escape and no backslash or control byte. */
			for (k = 0; k < ev.len; k++) {
				if (ev.json[k] == '"')
					msg[len++] = '\\';
				msg[len++] = ev.json[k];
			}
			memcpy(msg + len, "\"}", 2);
			len += 2;
			if (j == 0)
				rec = ev;
		}
		memcpy(msg + len, "]}", 2);
		len += 2;
		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			fprintf(stderr, "gen: deflateInit2 failed\n");
			exit(1);
		}
		z.next_in = (Bytef *)msg;
		z.avail_in = (uInt)len;
		z.next_out = (Bytef *)gz;
		z.avail_out = sizeof(gz);
		if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
			fprintf(stderr, "gen: deflate failed\n");
			exit(1);
		}
		b64_encode(data, gz, sizeof(gz) - z.avail_out);
		deflateEnd(&z);
		/* The record arrives after its last log event; its key is the stream. */
		write_record(rec.pk, ev.seq, data, ev.arrival, r % per == 0);
		if (r % per == per - 1 || i == n)
			outs("]}\n");
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: gen [-e events] [-p per] [-s seed] L|G|N|B|D|K|k|W records\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static char obuf[1 << 20];
	unsigned long long n, per = 1000, events = 50, seed = 20151217;
	char *end;
	int ch;

	while ((ch = getopt(argc, argv, "e:p:s:")) != -1) {
		switch (ch) {
		case 'e':
			errno = 0;
			events = strtoull(optarg, &end, 10);
			if (errno || *end || events == 0 || events > 1000)
				usage();
			break;
		case 'p':
			errno = 0;
			per = strtoull(optarg, &end, 10);
			if (errno || *end || per == 0 || per > 1000000)
				usage();
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (errno || *end)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2 || strlen(argv[0]) != 1)
		usage();
	errno = 0;
	n = strtoull(argv[1], &end, 10);
	if (errno || *end || argv[1][0] == '-')
		usage();
	/* xorshift must not start at zero; mix the seed so 0 and 1 differ. */
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
	if (rng_state == 0)
		rng_state = 1;
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));

	switch (argv[0][0]) {
	case 'L':
		write_lambda(n, (unsigned)per);
		break;
	case 'G':
		write_getrecords(n, (unsigned)per);
		break;
	case 'N':
		write_lines(n, 0, 0);
		break;
	case 'B':
		write_lines(n, 1, 0);
		break;
	case 'D':
		write_lines(n, 0, 1);
		break;
	case 'K':
		write_kpl(n, 0);
		break;
	case 'k':
		write_kpl(n, 1);
		break;
	case 'W':
		write_cwl(n, (unsigned)per, (unsigned)events);
		break;
	default:
		usage();
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("gen: write");
		return 1;
	}
	return 0;
}
