#!/usr/bin/env bash
# bench/lambda.sh: kincount --lambda against the Lambda Runtime API emulator
# (test/lambda-emu.py), run by `make bench` after bench/run.sh's table (see bench/README).
#
#   cold start      exec of kincount --lambda to its first `next` request, Redis reachable
#                   (and to its first answer), median of LAMBDA_COLD runs
#   invocations/s   LAMBDA_INVOCATIONS events of LAMBDA_PER records each into a private
#                   redis-server on a unix socket, without and with --checkpoint; every
#                   answer and every counter is checked (counts worked out by jq)
#   emulator alone  curl doing the same next + response pairs, no kincount: what the
#                   emulator (python) costs per invocation, so the reader knows what limits
#                   the rate; also once with the emulator as the tests run it (Nagle's
#                   algorithm on: see bench/README)
#
# The emulator runs with TCP_NODELAY on its sockets (its Handler's disable_nagle_algorithm,
# set from outside: test/lambda-emu.py itself is not changed).
#
# Every kincount and curl run is bounded by timeout(1) (60 s for a cold start, else 600 s).
#
# Environment: KINCOUNT (./kincount), BENCH_RUNS (5), BENCH_WORK (bench/work),
# LAMBDA_INVOCATIONS (2000), LAMBDA_PER (100), LAMBDA_COLD (11), LAMBDA_NAGLE (50: the
# invocations of the run with Nagle's algorithm on; 0 leaves it out).

# jq and python programs are single-quoted on purpose.
# shellcheck disable=SC2016
set -eu -o pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
KINCOUNT=${KINCOUNT:-$ROOT/kincount}
WORK=${BENCH_WORK:-$ROOT/bench/work}
RUNS=${BENCH_RUNS:-5}
INV=${LAMBDA_INVOCATIONS:-2000}
PER=${LAMBDA_PER:-100}
COLD=${LAMBDA_COLD:-11}
NAGLE=${LAMBDA_NAGLE:-50}
EMU=$ROOT/test/lambda-emu.py
export LC_ALL=C TZ=UTC
unset REDISCLI_AUTH AWS_LAMBDA_RUNTIME_API

for p in RUNS:BENCH_RUNS INV:LAMBDA_INVOCATIONS PER:LAMBDA_PER COLD:LAMBDA_COLD \
	NAGLE:LAMBDA_NAGLE; do
	v=${p%%:*}
	case ${!v} in
	'' | *[!0-9]*)
		echo "bench/lambda.sh: ${p#*:}: not a number: '${!v}'" >&2
		exit 2
		;;
	esac
done
[ "$RUNS" -ge 1 ] || RUNS=1
[ "$COLD" -ge 1 ] || COLD=1
if [ "$INV" -lt 1 ] || [ "$PER" -lt 1 ] || [ "$PER" -gt 10000 ]; then
	echo "bench/lambda.sh: LAMBDA_INVOCATIONS >= 1 and LAMBDA_PER 1..10000, please" >&2
	exit 2
fi

say() {
	printf 'bench lambda: %s\n' "$*" >&2
}

mkdir -p "$WORK"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kincount-lambda-bench.XXXXXX")
REDIS_PID='' EMU_PID=''
stop_pid() { # PID: ends a process this script started, and reaps it
	if [ -n "$1" ]; then
		kill "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}
cleanup() {
	stop_pid "$EMU_PID"
	stop_pid "$REDIS_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -------------------------------------------------------------------

# need CHECK PACKAGE...: see bench/need.bash.
# shellcheck source=bench/need.bash
. "$ROOT/bench/need.bash"

need jq jq python3 python3 curl curl redis-server redis-server redis-cli redis-tools \
	"${CC:-cc}" gcc pc:libmd libmd-dev || exit 1
if [ ! -f "$EMU" ]; then
	say "no $EMU: the Lambda rows need the Runtime API emulator"
	exit 1
fi
if [ ! -x "$KINCOUNT" ]; then
	say "no $KINCOUNT (run make)"
	exit 1
fi

# --- the workload: gen L with LAMBDA_PER records to an event, one event per line ------

GEN=$WORK/gen
if [ ! -x "$GEN" ] || [ "$ROOT/bench/gen.c" -nt "$GEN" ]; then
	say "building $GEN"
	"${CC:-cc}" -O2 -Wall -std=c99 -D_POSIX_C_SOURCE=200809L -o "$GEN.tmp" \
		"$ROOT/bench/gen.c" -lmd -lz
	mv "$GEN.tmp" "$GEN"
fi
RECORDS=$((INV * PER))
EVENTS=$WORK/lambda-$RECORDS-$PER.json
if [ ! -s "$EVENTS" ] || [ "$GEN" -nt "$EVENTS" ]; then
	say "generating $EVENTS"
	"$GEN" -p "$PER" L "$RECORDS" >"$EVENTS.tmp"
	mv "$EVENTS.tmp" "$EVENTS"
fi
mkdir "$TMP/events"
split -l 1 -a 6 -d --additional-suffix=.json "$EVENTS" "$TMP/events/ev"
[ "$(find "$TMP/events" -name 'ev*.json' | wc -l)" -eq "$INV" ] || {
	say "$EVENTS does not hold $INV events"
	exit 1
}

# What Redis must hold afterwards, from jq: the default template's key of every record
# (as bench/run.sh's row L), counted; and the checkpoint, the last record's sequence number
# under the field STREAM/SHARD of its eventSourceARN and eventID.
say "working out the expected counters with jq"
jq -r '.Records[] | .kinesis | (.data | @base64d | fromjson) as $e
  | "\(.approximateArrivalTimestamp|floor|strftime("%Y-%m-%d")):\($e.page):\($e.section):\($e.element):\($e.action)_\($e.id)"' \
	"$EVENTS" | sort | uniq -c | awk '{ print $2, $1 }' >"$TMP/expected"
jq -r -s '.[-1].Records[-1] | "\(.eventSourceARN | sub(".*:stream/"; ""))/\(.eventID | sub(":.*"; ""))\n\(.kinesis.sequenceNumber)"' \
	"$EVENTS" >"$TMP/expected.ckpt"

# --- Redis and the emulator ----------------------------------------------------

SOCK=$TMP/redis.sock
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
	--appendonly no --dir "$TMP" --logfile "$TMP/redis.log" &
REDIS_PID=$!
for _ in $(seq 1 200); do
	[ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
[ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] || {
	say "redis-server did not start: $(tail -n 3 "$TMP/redis.log")"
	exit 1
}

# emu_start DIR [nagle]: starts the emulator on DIR (with TCP_NODELAY unless "nagle") and
# waits for DIR/addr; sets EMU_PID and ADDR.
emu_start() {
	local dir=$1 nodelay=1
	[ "${2:-}" = nagle ] && nodelay=0
	mkdir -p "$dir"
	python3 -c 'import importlib.util, sys
spec = importlib.util.spec_from_file_location("lambda_emu", sys.argv[1])
emu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(emu)
emu.Handler.disable_nagle_algorithm = sys.argv[2] == "1"
sys.argv = sys.argv[:1] + sys.argv[3:]
sys.exit(emu.main())' "$EMU" "$nodelay" "$dir" &
	EMU_PID=$!
	for _ in $(seq 1 200); do
		[ -s "$dir/addr" ] && break
		sleep 0.05
	done
	[ -s "$dir/addr" ] || {
		say "the emulator did not start"
		exit 1
	}
	ADDR=$(cat "$dir/addr")
}

# queue DIR N [ids]: queues the first N events (with request ids inv-NNNNNN when "ids"),
# then DIR/stop, so that the emulator answers 500 (exit) once they are served.
queue() {
	local dir=$1 n=$2 i=0 f b
	for f in "$TMP"/events/ev*.json; do
		[ "$i" -lt "$n" ] || break
		i=$((i + 1))
		if [ "${3:-}" = ids ]; then
			b=${f##*/}
			printf 'inv-%06d\n' "$i" >"$dir/queue/${b%.json}.id"
		fi
		ln "$f" "$dir/queue/${f##*/}"
	done
	: >"$dir/stop"
}

# span DIR -> "NS N": from the first next's request to the last answer's request, in
# monotonic ns, and the number of answers (DIR/log; see test/lambda-emu.py).
span() {
	awk '$2 == "GET" && $4 == 200 { if (g == "" || $1 < g) g = $1 }
	     $2 == "POST" && $4 == 202 { n++; if ($1 > p) p = $1 }
	     END { if (g != "" && n > 0) print p - g, n; else print 0, 0 }' "$1/log"
}

# check_answers DIR N: N answers, each the empty partial batch response.
check_answers() {
	local dir=$1 n=$2 got=0 bad=0 f
	for f in "$dir"/out/*.response; do
		[ -e "$f" ] || continue
		got=$((got + 1))
		[ "$(<"$f")" = '{"batchItemFailures":[]}' ] || bad=$((bad + 1))
	done
	if [ "$got" -ne "$n" ] || [ "$bad" -ne 0 ] ||
		[ -n "$(find "$dir/out" -name '*.error' -print -quit)" ]; then
		say "$got answers of $n, $bad not empty, errors: $(find "$dir/out" -name '*.error' | wc -l)"
		return 1
	fi
}

# check_redis [checkpoint]: the counters are jq's counts; with checkpoint, the checkpoint
# too.
check_redis() {
	redis-cli -s "$SOCK" --scan | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}:' | sort >"$TMP/keys" || true
	awk '{ k[NR] = $0 } END { for (i = 1; i <= NR; i += 500) { s = "MGET"
		for (j = i; j < i + 500 && j <= NR; j++) s = s " " k[j]; print s } }' \
		"$TMP/keys" | redis-cli -s "$SOCK" >"$TMP/values"
	paste -d ' ' "$TMP/keys" "$TMP/values" >"$TMP/got"
	if ! cmp -s "$TMP/expected" "$TMP/got"; then
		say "the counters in Redis are not jq's counts (kept: $WORK/lambda.expected, $WORK/lambda.got)"
		cp "$TMP/expected" "$WORK/lambda.expected"
		cp "$TMP/got" "$WORK/lambda.got"
		return 1
	fi
	if [ "${1:-}" = checkpoint ]; then
		redis-cli -s "$SOCK" hgetall kincount:checkpoints >"$TMP/got.ckpt"
		if ! cmp -s "$TMP/expected.ckpt" "$TMP/got.ckpt"; then
			say "the checkpoint is not the last record's: $(tr '\n' ' ' <"$TMP/got.ckpt")"
			return 1
		fi
	fi
}

# --- cold start ----------------------------------------------------------------

# The exec time is time.monotonic_ns() in python3, taken just before it execs kincount
# (the clock of the emulator's log); the first next and the first answer come from the log.
cold_start() {
	local dir=$TMP/cold i st
	say "cold start: $COLD runs"
	emu_start "$dir"
	: >"$TMP/cold.next"
	: >"$TMP/cold.answer"
	for ((i = 0; i < COLD; i++)); do
		redis-cli -s "$SOCK" flushall >/dev/null
		queue "$dir" 1
		st=0
		AWS_LAMBDA_RUNTIME_API=$ADDR timeout 60 python3 -c 'import os, sys, time
t = time.monotonic_ns()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"%d\n" % t)
os.close(fd)
os.execv(sys.argv[2], sys.argv[2:])' "$TMP/t0" "$KINCOUNT" --lambda -r "unix://$SOCK" \
			2>"$TMP/cold.err" || st=$?
		if [ "$st" -ne 0 ]; then
			say "cold start: kincount --lambda exited $st: $(head -n 1 "$TMP/cold.err")"
			exit 1
		fi
		awk -v t0="$(cat "$TMP/t0")" -v nf="$TMP/cold.next" -v af="$TMP/cold.answer" '
			$1 > t0 && $2 == "GET" && $4 == 200 && !g { g = 1; printf "%.3f\n", ($1 - t0) / 1e6 >> nf }
			$1 > t0 && $2 == "POST" && !p { p = 1; printf "%.3f\n", ($1 - t0) / 1e6 >> af }' "$dir/log"
		# The emulator moves a served event to served/ by rename(2), which does nothing
		# when served/ holds a hard link of the same file: clear it for the next run.
		rm -f "$dir/stop" "$dir"/served/*.json
	done
	stop_pid "$EMU_PID"
	EMU_PID=
	check_answers "$dir" "$COLD" || exit 1
	COLD_NEXT=$(sort -n "$TMP/cold.next" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	COLD_ANSWER=$(sort -n "$TMP/cold.answer" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	COLD_MIN=$(sort -n "$TMP/cold.next" | head -n 1)
	COLD_MAX=$(sort -n "$TMP/cold.next" | tail -n 1)
	# For scale: exec to exit of kincount --version, which loads the same shared
	# libraries (libcurl and what it needs) and does nothing else.
	COLD_VERSION=$(python3 -c 'import statistics, subprocess, sys, time
ts = []
for _ in range(int(sys.argv[1])):
    t = time.monotonic_ns()
    subprocess.run([sys.argv[2], "--version"], stdout=subprocess.DEVNULL, check=True)
    ts.append((time.monotonic_ns() - t) / 1e6)
print("%.1f" % statistics.median_low(ts))' "$COLD" "$KINCOUNT")
	COLD_LIBS=$(ldd "$KINCOUNT" 2>/dev/null | grep -c '=>' || true)
}

# --- invocations per second ----------------------------------------------------

# kc_run NAME [options...]: INV invocations through kincount --lambda; appends
# "ms_per_invocation" to TMP/NAME.span and kincount's own ms per event (its log lines,
# the mean) to TMP/NAME.own.
kc_run() {
	local name=$1 dir=$TMP/run-$1 st=0 ns n
	shift
	rm -rf "$dir"
	redis-cli -s "$SOCK" flushall >/dev/null
	emu_start "$dir"
	queue "$dir" "$INV"
	AWS_LAMBDA_RUNTIME_API=$ADDR timeout 600 "$KINCOUNT" --lambda -r "unix://$SOCK" "$@" \
		2>"$TMP/$name.err" || st=$?
	stop_pid "$EMU_PID"
	EMU_PID=
	if [ "$st" -ne 0 ]; then
		say "$name: kincount --lambda exited $st: $(head -n 1 "$TMP/$name.err")"
		exit 1
	fi
	check_answers "$dir" "$INV" || exit 1
	if [ "$#" -gt 0 ]; then check_redis checkpoint || exit 1; else check_redis || exit 1; fi
	read -r ns n < <(span "$dir")
	awk -v ns="$ns" -v n="$n" 'BEGIN { printf "%.4f\n", ns / 1e6 / n }' >>"$TMP/$name.span"
	grep ': applied: ' "$TMP/$name.err" |
		sed -n 's/.* \([0-9.]*\) ms (redis \([0-9.]*\) ms).*/\1 \2/p' |
		awk '{ s += $1; r += $2; n++ } END { if (n) printf "%.4f %.4f\n", s / n, r / n }' \
			>>"$TMP/$name.own"
}

# emu_run NAME N [nagle]: N next + response pairs by one curl process (one connection).
emu_run() {
	local name=$1 n=$2 dir=$TMP/run-$1 i st=0 ns got
	rm -rf "$dir"
	emu_start "$dir" "${3:-}"
	queue "$dir" "$n" ids
	for ((i = 1; i <= n; i++)); do
		printf 'url = "http://%s/2018-06-01/runtime/invocation/next"\noutput = "/dev/null"\nnext\n' "$ADDR"
		printf 'url = "http://%s/2018-06-01/runtime/invocation/inv-%06d/response"\n' "$ADDR" "$i"
		printf 'data = "{\\"batchItemFailures\\":[]}"\noutput = "/dev/null"\n'
		[ "$i" -eq "$n" ] || printf 'next\n'
	done >"$TMP/curl.conf"
	timeout 600 curl -sS -K "$TMP/curl.conf" 2>"$TMP/curl.err" || st=$?
	stop_pid "$EMU_PID"
	EMU_PID=
	if [ "$st" -ne 0 ]; then
		say "$name: curl exited $st: $(head -n 1 "$TMP/curl.err")"
		exit 1
	fi
	check_answers "$dir" "$n" || exit 1
	read -r ns got < <(span "$dir")
	awk -v ns="$ns" -v n="$got" 'BEGIN { printf "%.4f\n", ns / 1e6 / n }' >>"$TMP/$name.span"
}

median_of() { # FILE [COLUMN] -> median (lower middle)
	awk -v c="${2:-1}" '{ print $c }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

cold_start
say "invocations: $RUNS alternating runs of $INV events of $PER records (kincount, kincount --checkpoint, curl alone)"
for ((r = 0; r < RUNS; r++)); do
	kc_run plain
	kc_run ckpt --checkpoint
	emu_run emu "$INV"
done
if [ "$NAGLE" -gt 0 ]; then
	say "the emulator with Nagle's algorithm on: $NAGLE invocations, once"
	emu_run nagle "$NAGLE" nagle
fi

# --- the table -------------------------------------------------------------------

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
[ -z "$(git -C "$ROOT" status --porcelain -- '*.c' '*.h' Makefile test/lambda-emu.py 2>/dev/null)" ] ||
	commit="$commit+uncommitted changes"
row() { # NAME SPANFILE [OWNFILE]: no OWNFILE: no records/s either (nothing counted)
	local ms own=- redis=-
	ms=$(median_of "$2")
	if [ -n "${3:-}" ]; then
		own=$(median_of "$3" 1)
		redis=$(median_of "$3" 2)
	fi
	awk -v name="$1" -v ms="$ms" -v per="$PER" -v own="$own" -v redis="$redis" \
		-v counted="${3:+1}" 'BEGIN {
		printf "%-36s %7.0f %11s %8.3f %8s %8s\n", name, 1000 / ms,
		    counted ? sprintf("%.0f", 1000 / ms * per) : "-", ms, own, redis }'
}
echo
echo "kincount --lambda against test/lambda-emu.py: commit $commit; $(nproc) cores;" \
	"$INV invocations of $PER records; median of $RUNS alternating runs"
printf '    cold start, exec to the first next (Redis reachable): %.1f ms (min %.1f, max %.1f; %d runs);\n' \
	"$COLD_NEXT" "$COLD_MIN" "$COLD_MAX" "$COLD"
printf '    to the first answer (one event of %d records applied): %.1f ms\n' "$PER" "$COLD_ANSWER"
printf '    for scale: kincount --version, exec to exit (%s shared libraries loaded): %s ms\n' \
	"$COLD_LIBS" "$COLD_VERSION"
printf '%-36s %7s %11s %8s %8s %8s\n' "" "inv/s" "records/s" "ms/inv" "kc ms" "redis ms"
row "kincount --lambda" "$TMP/plain.span" "$TMP/plain.own"
row "kincount --lambda --checkpoint" "$TMP/ckpt.span" "$TMP/ckpt.own"
row "emulator alone (curl, no kincount)" "$TMP/emu.span"
if [ "$NAGLE" -gt 0 ]; then
	row "  the same, Nagle on ($NAGLE inv, 1 run)" "$TMP/nagle.span"
fi
echo "(ms/inv: first next to last answer, per invocation; kc ms and redis ms: kincount's own"
echo " time per event and the Redis part of it, from its log lines, mean of a run)"
