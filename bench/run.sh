#!/usr/bin/env bash
# bench/run.sh [table|callgrind|gencheck]: kincount's benchmark (see bench/README).
#
#   table      (default) every workload: check kincount's output equals the peer's,
#              then time alternating runs of both; one table at the end.
#   callgrind  instructions per record of kincount and of a bare YAJL scan.
#   gencheck   check the generator's output with jq (no kincount needed).
#
# Environment: KINCOUNT (binary, default ./kincount), BENCH_RECORDS (100000),
# BENCH_BIG (1000000, for M and D), BENCH_RUNS (5), BENCH_WORK (bench/work).

# jq programs and bash -c scripts are single-quoted on purpose.
# shellcheck disable=SC2016
set -eu -o pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
KINCOUNT=${KINCOUNT:-$ROOT/kincount}
WORK=${BENCH_WORK:-$ROOT/bench/work}
RECORDS=${BENCH_RECORDS:-100000}
BIG=${BENCH_BIG:-1000000}
RUNS=${BENCH_RUNS:-5}
MODE=${1:-table}
export LC_ALL=C TZ=UTC
unset REDISCLI_AUTH

case $MODE in
table | callgrind | gencheck) ;;
*)
	echo "usage: bench/run.sh [table|callgrind|gencheck]" >&2
	exit 2
	;;
esac
for v in RECORDS BIG RUNS; do
	case ${!v} in
	'' | *[!0-9]*)
		echo "bench: BENCH_$v: not a number: '${!v}'" >&2
		exit 2
		;;
	esac
done
[ "$RUNS" -ge 1 ] || RUNS=1

mkdir -p "$WORK"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kincount-bench.XXXXXX")
REDIS_PID=
cleanup() {
	if [ -n "$REDIS_PID" ]; then
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() {
	printf 'bench: %s\n' "$*" >&2
}

# --- tools -------------------------------------------------------------------

# need CHECK PACKAGE...: see bench/need.bash.
# shellcheck source=bench/need.bash
. "$ROOT/bench/need.bash"

# --- the generator and the workloads -----------------------------------------

CC=${CC:-cc}
GEN=$WORK/gen

build() { # OUT SRC [flags...]: rebuild when the source is newer
	local out=$1 src=$2
	shift 2
	if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
		say "building $out"
		"$CC" -O2 -Wall -std=c99 -D_POSIX_C_SOURCE=200809L -o "$out.tmp" "$src" "$@"
		mv "$out.tmp" "$out"
	fi
}

# workload W N EXT: prints the file of workload W with N records, generating it
# when it is missing or older than the generator (a killed run leaves no half file).
workload() {
	local w=$1 n=$2 ext=$3 f
	f=$WORK/$w-$n.$ext
	if [ ! -s "$f" ] || [ "$GEN" -nt "$f" ]; then
		say "generating $f"
		"$GEN" "$w" "$n" >"$f.tmp"
		mv "$f.tmp" "$f"
	fi
	printf '%s\n' "$f"
}

# --- the peer ----------------------------------------------------------------

# The default key template {@date}:{page}:{section}:{element}:{action}_{id}, in jq.
JQ_L='.Records[] | .kinesis | (.data | @base64d | fromjson) as $e
  | "\(.approximateArrivalTimestamp|floor|strftime("%Y-%m-%d")):\($e.page):\($e.section):\($e.element):\($e.action)_\($e.id)"'
JQ_G='.Records[] | (.Data | @base64d | fromjson) as $e
  | "\(.ApproximateArrivalTimestamp|floor|strftime("%Y-%m-%d")):\($e.page):\($e.section):\($e.element):\($e.action)_\($e.id)"'
JQ_N='"\(.ts/1000|floor|strftime("%Y-%m-%d")):\(.page):\(.section):\(.element):\(.action)_\(.id)"'
JQ_B='@base64d | fromjson
  | "\(.ts/1000|floor|strftime("%Y-%m-%d")):\(.page):\(.section):\(.element):\(.action)_\(.id)"'

# Peer scripts, run as: bash -c SCRIPT peer JQPROGRAM FILE [SOCKET].
PEER_JQ='exec jq -r "$1" "$2"'
PEER_JQ_RAW='exec jq -R -r "$1" "$2"'
PEER_REDIS='jq -r "$1" "$2" | sed "s/^/INCR /" | redis-cli -s "$3" --pipe'

# --- running and timing ------------------------------------------------------

# run_cmd OUT CMD...: runs CMD with stdout to OUT under GNU time; sets US (wall
# microseconds), RSS (peak KB) and ST (exit status). stderr goes to $TMP/err.
US=0 RSS=0 ST=0
run_cmd() {
	local out=$1 t0 t1
	shift
	ST=0
	t0=${EPOCHREALTIME/./}
	/usr/bin/time -o "$TMP/rss" -f %M "$@" >"$out" 2>"$TMP/err" || ST=$?
	t1=${EPOCHREALTIME/./}
	US=$((t1 - t0))
	RSS=$(tail -n 1 "$TMP/rss" 2>/dev/null || true)
	case $RSS in '' | *[!0-9]*) RSS=0 ;; esac
}

median() { # numbers on stdin -> the median (lower middle for an even count)
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

rate() { # RECORDS MICROSECONDS -> records/s
	awk -v n="$1" -v us="$2" 'BEGIN { if (us > 0) printf "%.0f", n * 1e6 / us; else print "-" }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "-" }'
}

mb() { # KB -> MB with one decimal
	awk -v k="$1" 'BEGIN { if (k > 0) printf "%.1f MB", k / 1024; else print "-" }'
}

errline() { # the first line of the last command's stderr, shortened
	head -n 1 "$TMP/err" 2>/dev/null | cut -c 1-100
}

# --- Redis -------------------------------------------------------------------

SOCK=$TMP/redis.sock
redis_start() {
	redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
		--appendonly no --dir "$TMP" --logfile "$TMP/redis.log" &
	REDIS_PID=$!
	local i
	for i in $(seq 1 100); do
		[ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	say "redis-server did not start: $(tail -n 3 "$TMP/redis.log" 2>/dev/null)"
	return 1
}

redis_flush() {
	redis-cli -s "$SOCK" flushall >/dev/null
}

# redis_dump OUT: every counter key (the default template starts with a date) and
# its value, sorted, one "KEY VALUE" per line. Sets OTHER_KEYS: how many keys of
# another shape there are (kincount's own bookkeeping, such as batch tokens).
OTHER_KEYS=0
redis_dump() {
	local out=$1
	redis-cli -s "$SOCK" --scan >"$TMP/allkeys"
	grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}:' "$TMP/allkeys" | sort >"$TMP/keys" || true
	OTHER_KEYS=$(($(wc -l <"$TMP/allkeys") - $(wc -l <"$TMP/keys")))
	awk '{ k[NR] = $0 } END { for (i = 1; i <= NR; i += 500) { s = "MGET"
		for (j = i; j < i + 500 && j <= NR; j++) s = s " " k[j]; print s } }' \
		"$TMP/keys" | redis-cli -s "$SOCK" >"$TMP/values"
	paste -d ' ' "$TMP/keys" "$TMP/values" >"$out"
}

# --- table -------------------------------------------------------------------

ROWS=()
NOTES=()
row() { # WORKLOAD RECORDS KC_RATE PEER_RATE RATIO KC_RSS NOTE
	ROWS+=("$(printf '%-3s %9s %16s %12s %8s %12s  %s' "$@")")
}
note() {
	NOTES+=("$*")
	say "$*"
}

KC_OK=0
KC_WHY=
probe_kincount() {
	if [ ! -x "$KINCOUNT" ]; then
		KC_WHY="no $KINCOUNT (run make)"
		return
	fi
	if ! "$KINCOUNT" --version >/dev/null 2>"$TMP/err"; then
		KC_WHY="kincount --version failed: $(errline)"
		return
	fi
	KC_OK=1
}

# kc_accepts ARGS...: does kincount take these options (on empty input)?
# A usage error (exit 2) means no; sets KC_WHY.
kc_accepts() {
	local st=0
	"$KINCOUNT" "$@" /dev/null >/dev/null 2>"$TMP/err" </dev/null || st=$?
	if [ "$st" -eq 2 ]; then
		KC_WHY="kincount $* is a usage error: $(errline)"
		return 1
	fi
	return 0
}

# compare NAME EXPECTED GOT: byte for byte; on a difference prints the first one.
compare() {
	local line
	if cmp -s "$2" "$3"; then
		return 0
	fi
	note "$1: kincount's output ($(wc -l <"$3") lines) differs from the peer's ($(wc -l <"$2") lines); first difference (< peer, > kincount):"
	while IFS= read -r line; do
		note "    $line"
	done < <(diff "$2" "$3" | head -n 6 | cut -c 1-150)
	cp "$2" "$WORK/$1.expected"
	cp "$3" "$WORK/$1.got"
	note "    (both kept: bench/work/$1.expected and bench/work/$1.got)"
	return 1
}

# bench_pair NAME N KCARGS PEERSCRIPT PEERARGS...: checks, then alternates RUNS
# runs of each side; KCARGS is the name of an array. For Redis rows set REDIS_ROW=1.
REDIS_ROW=0
KC_RATE_OF_L=
bench_pair() {
	local name=$1 n=$2 kcvar=$3 script=$4
	shift 4
	local -n kcargs=$kcvar
	local peer=(bash -c "$script" peer "$@")
	local kc_ok=$KC_OK why=$KC_WHY i kc_us=() peer_us=() kc_rss=0
	local kcout=$TMP/kc.out peerout=$TMP/peer.out

	say "$name: checking"
	if [ "$REDIS_ROW" -eq 1 ]; then redis_flush; fi
	run_cmd "$peerout" "${peer[@]}"
	if [ "$ST" -ne 0 ]; then
		note "$name: the peer failed (exit $ST): $(errline)"
		row "$name" "$n" - - - - "peer failed"
		return
	fi
	if [ "$REDIS_ROW" -eq 1 ]; then
		if ! grep -q 'errors: 0,' "$peerout"; then
			note "$name: redis-cli --pipe reported errors: $(tail -n 1 "$peerout")"
			row "$name" "$n" - - - - "peer failed"
			return
		fi
		redis_dump "$TMP/peer.dump"
		cp "$TMP/peer.dump" "$peerout"
	fi
	if [ "$kc_ok" -eq 1 ]; then
		if [ "$REDIS_ROW" -eq 1 ]; then redis_flush; fi
		run_cmd "$kcout" "$KINCOUNT" "${kcargs[@]}"
		if [ "$ST" -eq 2 ]; then
			why="skipped: kincount rejects its options (exit 2): $(errline)"
			kc_ok=0
		elif [ "$ST" -ne 0 ]; then
			why="kincount exited $ST: $(errline)"
			kc_ok=0
		else
			if [ "$REDIS_ROW" -eq 1 ]; then
				redis_dump "$kcout"
				if [ "$OTHER_KEYS" -ne 0 ]; then
					note "$name: kincount also left $OTHER_KEYS keys of its own in Redis (not compared)"
				fi
			fi
			if ! compare "$name" "$peerout" "$kcout"; then
				why="output differs from the peer's: not timed"
				kc_ok=0
			fi
		fi
		if [ "$kc_ok" -ne 1 ] && [ "$ST" -ne 0 ]; then note "$name: $why"; fi
	fi

	say "$name: timing $RUNS alternating runs"
	for ((i = 0; i < RUNS; i++)); do
		if [ "$kc_ok" -eq 1 ]; then
			if [ "$REDIS_ROW" -eq 1 ]; then redis_flush; fi
			run_cmd "$kcout" "$KINCOUNT" "${kcargs[@]}"
			if [ "$ST" -ne 0 ]; then
				why="kincount exited $ST in a timed run: $(errline)"
				note "$name: $why"
				kc_ok=0
			fi
			kc_us+=("$US")
			if [ "$RSS" -gt "$kc_rss" ]; then kc_rss=$RSS; fi
		fi
		if [ "$REDIS_ROW" -eq 1 ]; then redis_flush; fi
		run_cmd "$peerout" "${peer[@]}"
		peer_us+=("$US")
	done

	local pr kr=- rr=- rs=-
	pr=$(rate "$n" "$(printf '%s\n' "${peer_us[@]}" | median)")
	if [ "$kc_ok" -eq 1 ]; then
		kr=$(rate "$n" "$(printf '%s\n' "${kc_us[@]}" | median)")
		rr=$(ratio "$kr" "$pr")
		rs=$(mb "$kc_rss")
		why=
	fi
	case $name in
	L) KC_RATE_OF_L=$kr ;;
	R) KC_RATE_OF_R=$kr ;;
	K) KC_RATE_OF_K=$kr ;;
	k) KC_RATE_OF_k=$kr ;;
	N) KC_RATE_OF_N=$kr ;;
	W) KC_RATE_OF_W=$kr ;;
	esac
	row "$name" "$n" "$kr" "$pr" "$rr" "$rs" "$why"
}

KC_RATE_OF_R= KC_RATE_OF_K= KC_RATE_OF_k= KC_RATE_OF_N= KC_RATE_OF_W=

# note_ratio TEXT A B: a note "TEXT: A/B" when both rates were measured.
note_ratio() {
	if [ -n "$2" ] && [ "$2" != - ] && [ -n "$3" ] && [ "$3" != - ]; then
		NOTES+=("$1: $(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')")
	fi
}

mode_table() {
	need jq jq /usr/bin/time time "$CC" gcc pc:libmd libmd-dev || exit 1
	build "$GEN" "$ROOT/bench/gen.c" -lmd -lz
	probe_kincount
	rm -f "$WORK"/*.expected "$WORK"/*.got

	local L G N B M D
	L=$(workload L "$RECORDS" json)
	G=$(workload G "$RECORDS" json)
	N=$(workload N "$RECORDS" ndjson)
	B=$(workload B "$RECORDS" txt)

	# shellcheck disable=SC2034 # used by bench_pair through a name reference
	local kc_L=("$L") kc_G=("$G") kc_N=(-t ts "$N") kc_B=(-t ts "$B")
	bench_pair L "$RECORDS" kc_L "$PEER_JQ" "$JQ_L" "$L"
	bench_pair G "$RECORDS" kc_G "$PEER_JQ" "$JQ_G" "$G"

	# K: Lambda events of KPL aggregates (50 user records each); k: the same user records
	# as plain Lambda records.  jq cannot read protobuf, so both are checked against jq on
	# k, and K/k is the cost of a user record against a plain record.  W: CloudWatch Logs
	# records (gzipped data messages of 50 log events) holding N's events: checked against
	# jq on N (which cannot gunzip).  Records are user records and log events.
	local K k W
	K=$(workload K "$RECORDS" json)
	k=$(workload k "$RECORDS" json)
	W=$(workload W "$RECORDS" json)
	# shellcheck disable=SC2034 # used by bench_pair through a name reference
	local kc_K=("$K") kc_k=("$k") kc_W=("$W")
	bench_pair K "$RECORDS" kc_K "$PEER_JQ" "$JQ_L" "$k"
	bench_pair k "$RECORDS" kc_k "$PEER_JQ" "$JQ_L" "$k"
	bench_pair W "$RECORDS" kc_W "$PEER_JQ" "$JQ_N" "$N"
	bench_pair N "$RECORDS" kc_N "$PEER_JQ" "$JQ_N" "$N"
	bench_pair B "$RECORDS" kc_B "$PEER_JQ_RAW" "$JQ_B" "$B"

	# R: workload L into a private redis-server.
	if ! need redis-server redis-server redis-cli redis-tools; then
		row R "$RECORDS" - - - - "skipped: no redis-server/redis-cli"
	elif ! redis_start; then
		row R "$RECORDS" - - - - "skipped: redis-server did not start"
	else
		# shellcheck disable=SC2034 # used by bench_pair through a name reference
		local saved_ok=$KC_OK saved_why=$KC_WHY kc_R=(-r "unix://$SOCK" "$L")
		if [ "$KC_OK" -eq 1 ] && ! kc_accepts -r "unix://$SOCK"; then
			KC_OK=0
			note "R: kincount side skipped: $KC_WHY"
		fi
		REDIS_ROW=1
		bench_pair R "$RECORDS" kc_R "$PEER_REDIS" "$JQ_L" "$L" "$SOCK"
		REDIS_ROW=0
		KC_OK=$saved_ok KC_WHY=$saved_why
		redis-cli -s "$SOCK" shutdown nosave >/dev/null 2>&1 || true
		wait "$REDIS_PID" 2>/dev/null || true
		REDIS_PID=
	fi

	# M: peak RSS on workload L at BIG records, next to one run on RECORDS.
	M=$(workload L "$BIG" json)
	if [ "$KC_OK" -eq 1 ]; then
		say "M: one run on $BIG records, one on $RECORDS"
		local lines small_rss
		run_cmd "$TMP/kc.out" "$KINCOUNT" "$L"
		small_rss=$RSS
		run_cmd "$TMP/kc.out" "$KINCOUNT" "$M"
		lines=$(wc -l <"$TMP/kc.out")
		if [ "$ST" -ne 0 ]; then
			row M "$BIG" - - - - "kincount exited $ST: $(errline)"
		elif [ "$lines" -ne "$BIG" ]; then
			row M "$BIG" - - - - "kincount printed $lines keys, not $BIG"
		else
			row M "$BIG" "$(rate "$BIG" "$US")" - - "$(mb "$RSS")" \
				"L at $BIG records, RSS only (1 run); at $RECORDS records: $(mb "$small_rss")"
		fi
	else
		row M "$BIG" - - - - "skipped: $KC_WHY"
	fi

	# D: -c with BIG distinct keys; checked against jq | sort | uniq -c.
	D=$(workload D "$BIG" ndjson)
	if [ "$KC_OK" -eq 1 ] && kc_accepts -c; then
		say "D: checking -c on $BIG distinct keys"
		jq -r "$JQ_N" "$D" | sort | uniq -c | awk '{ print $2 "\t" $1 }' >"$TMP/peer.out"
		run_cmd "$TMP/kc.out" "$KINCOUNT" -c -t ts "$D"
		if [ "$ST" -ne 0 ]; then
			row D "$BIG" - - - - "kincount -c exited $ST: $(errline)"
		elif ! compare D "$TMP/peer.out" "$TMP/kc.out"; then
			row D "$BIG" - - - - "kincount -c output differs from jq | sort | uniq -c"
		else
			row D "$BIG" "$(rate "$BIG" "$US")" - - "$(mb "$RSS")" \
				"-c RSS with $(wc -l <"$TMP/kc.out") distinct keys (1 run)"
		fi
	else
		row D "$BIG" - - - - "skipped: ${KC_WHY:-kincount -c not accepted}"
	fi

	note_ratio "K/k (a KPL user record against a plain Lambda record)" "$KC_RATE_OF_K" "$KC_RATE_OF_k"
	note_ratio "W/N (a CloudWatch Logs log event against a plain NDJSON event)" "$KC_RATE_OF_W" "$KC_RATE_OF_N"
	note_ratio "W/L (a CloudWatch Logs log event against a plain Lambda record)" "$KC_RATE_OF_W" "$KC_RATE_OF_L"
	if [ -n "$KC_RATE_OF_R" ] && [ "$KC_RATE_OF_R" != - ] &&
		[ -n "$KC_RATE_OF_L" ] && [ "$KC_RATE_OF_L" != - ]; then
		NOTES+=("R/L (cost of the Redis sink): $(awk -v r="$KC_RATE_OF_R" -v l="$KC_RATE_OF_L" 'BEGIN { printf "%.2f", r / l }')")
	fi

	local commit
	commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
	[ -z "$(git -C "$ROOT" status --porcelain -- '*.c' '*.h' Makefile 2>/dev/null)" ] ||
		commit="$commit+uncommitted changes"
	echo
	echo "kincount benchmark: commit $commit; $(nproc) cores; $(jq --version);" \
		"median of $RUNS alternating runs"
	printf '%-3s %9s %16s %12s %8s %12s  %s\n' \
		"" records "kincount rec/s" "peer rec/s" ratio "kincount RSS" note
	printf '%s\n' "${ROWS[@]}"
	if [ ${#NOTES[@]} -gt 0 ]; then
		echo
		printf '%s\n' "${NOTES[@]}"
	fi
}

# --- callgrind ---------------------------------------------------------------

callgrind_ir() { # OUTFILE -> total instructions (Ir) recorded by callgrind
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

mode_callgrind() {
	need jq jq "$CC" gcc valgrind valgrind pkg-config pkg-config pc:yajl libyajl-dev pc:libmd libmd-dev || exit 1
	build "$GEN" "$ROOT/bench/gen.c" -lmd -lz
	# shellcheck disable=SC2046
	build "$WORK/yajlscan" "$ROOT/bench/yajlscan.c" $(pkg-config --cflags --libs yajl)
	probe_kincount
	local n=10000 f yi ki st=0
	f=$(workload L "$n" json)

	say "callgrind: bare YAJL scan of $f"
	valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.yajl" \
		"$WORK/yajlscan" "$f" >/dev/null 2>"$TMP/err"
	yi=$(callgrind_ir "$TMP/cg.yajl")

	echo
	printf '%-24s %14s %12s\n' "on L, $n records" instructions "per record"
	printf '%-24s %14s %12s\n' "bare YAJL scan" "$yi" "$((yi / n))"
	if [ "$KC_OK" -ne 1 ]; then
		echo "kincount: skipped: $KC_WHY"
		return
	fi
	jq -r "$JQ_L" "$f" >"$TMP/peer.out"
	"$KINCOUNT" "$f" >"$TMP/kc.out" 2>"$TMP/err" || st=$?
	if [ "$st" -ne 0 ]; then
		echo "kincount: skipped: exited $st: $(errline)"
		return
	fi
	if ! compare callgrind "$TMP/peer.out" "$TMP/kc.out"; then
		echo "kincount: skipped: its output differs from jq's"
		return
	fi
	say "callgrind: kincount $f"
	valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.kc" \
		"$KINCOUNT" "$f" >/dev/null 2>"$TMP/err"
	ki=$(callgrind_ir "$TMP/cg.kc")
	printf '%-24s %14s %12s\n' kincount "$ki" "$((ki / n))"
	printf '%-24s %27s\n' "ratio kincount / YAJL" "$(ratio "$ki" "$yi")"
	cp "$TMP/cg.kc" "$WORK/callgrind.out.kincount"
	echo "(profile kept: callgrind_annotate bench/work/callgrind.out.kincount)"
}

# --- gencheck ----------------------------------------------------------------

mode_gencheck() {
	need jq jq "$CC" gcc pc:libmd libmd-dev python3 python3 || exit 1
	build "$GEN" "$ROOT/bench/gen.c" -lmd -lz
	# 2500: the last envelope is a partial one.
	local n=2500 fail=0 L G N B D
	L=$(workload L "$n" json)
	G=$(workload G "$n" json)
	N=$(workload N "$n" ndjson)
	B=$(workload B "$n" txt)
	D=$(workload D "$n" ndjson)

	check() { # DESCRIPTION COMMAND...: the command must succeed
		if "${@:2}" >"$TMP/out" 2>&1; then
			printf 'ok    %s\n' "$1"
		else
			printf 'FAIL  %s\n' "$1"
			head -n 5 "$TMP/out" | sed 's/^/      /'
			fail=1
		fi
	}
	same() { # DESCRIPTION FILE1 FILE2
		check "$1" cmp "$2" "$3"
	}

	check "L: $n records in 3 events, each on one line" bash -c \
		'[ "$(jq -c "[.Records|length]" "$1" | tr -d "[]" | tr "\n" " ")" = "1000 1000 500 " ] &&
		 [ "$(wc -l <"$1")" -eq 3 ]' _ "$L"
	check "L: every record has the Lambda fields, 56-digit increasing sequence numbers" \
		jq -e -s '[.[].Records[]] as $r
		| ($r | all(.eventSource == "aws:kinesis" and .eventVersion == "1.0"
			and .eventName == "aws:kinesis:record" and .awsRegion == "us-east-1"
			and (.eventSourceARN | test(":stream/"))
			and (.invokeIdentityArn | startswith("arn:aws:iam::"))
			and .kinesis.kinesisSchemaVersion == "1.0"
			and (.kinesis.sequenceNumber | test("^[0-9]{56}$"))
			and .eventID == "shardId-000000000000:" + .kinesis.sequenceNumber
			and (.kinesis.partitionKey | type) == "string"
			and (.kinesis.approximateArrivalTimestamp | type) == "number"))
		and ([$r[].kinesis.sequenceNumber] | . == (sort | unique))' "$L"
	check "L: every data decodes to an event arriving 0.2-2 s after its ts" \
		jq -e -s '[.[].Records[].kinesis | (.data | @base64d | fromjson) as $e
		| ($e | keys) == ["action","element","id","page","section","ts","user"]
		and ($e.user | keys) == ["agent","id"]
		and (.approximateArrivalTimestamp * 1000 - $e.ts) as $d | $d >= 199 and $d <= 2001]
		| all' "$L"
	jq -r '.Records[].kinesis.data | @base64d' "$L" >"$TMP/L.events"
	same "L: the events are N's events" "$N" "$TMP/L.events"
	jq -r '.Records[].Data | @base64d' "$G" >"$TMP/G.events"
	same "G: the events are N's events" "$N" "$TMP/G.events"
	jq --indent 4 . "$G" >"$TMP/G.pretty"
	same "G: laid out as jq --indent 4 (aws CLI v1) lays it out" "$G" "$TMP/G.pretty"
	check "G: pages of 1000 with NextShardIterator and MillisBehindLatest" \
		jq -e -s 'map(.Records|length) == [1000,1000,500]
		and all(.[]; (.NextShardIterator|type) == "string" and .MillisBehindLatest == 0)
		and all(.[].Records[]; (.ApproximateArrivalTimestamp|type) == "number"
			and (.SequenceNumber|test("^[0-9]{56}$")) and (.PartitionKey|type) == "string")' "$G"
	jq -R -r '@base64d' "$B" >"$TMP/B.events"
	same "B: every line is the base64 of N's line" "$N" "$TMP/B.events"
	check "B: strict base64 (padded, standard alphabet)" bash -c \
		'! grep -qvE "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\$" "$1"' _ "$B"
	check "N: one compact event per line, ts spread over 3 days" \
		jq -e -s 'length == '"$n"' and (map(.ts) | (max - min) > 2.9 * 86400000 and (max - min) < 3 * 86400000)
		and all(.[]; (.id|type) == "number" and (.page|type) == "string")' "$N"
	# K (KPL aggregates) and k (the same records unpacked) are generated and checked here;
	# the table does not run them yet.  jq cannot read protobuf, so K's peer is jq on k.
	local K k
	K=$(workload K "$n" json)
	k=$(workload k "$n" json)
	check "K: 50 sub-records per aggregate, 20 aggregates per event, read by tools/kpl-expected.py" \
		python3 -c '
import base64, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("kpl", sys.argv[1])
kpl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kpl)
events = [json.loads(l)["Records"] for l in open(sys.argv[2])]
assert [len(e) for e in events] == [20, 20, 10], [len(e) for e in events]
subs = []
for r in (r for e in events for r in e):
    lines = kpl.decode(base64.b64decode(r["kinesis"]["data"])).splitlines()
    assert len(lines) == 50
    subs += [base64.b64decode(l.split("\t")[3]).decode() for l in lines]
assert subs == open(sys.argv[3]).read().splitlines()' "$ROOT/tools/kpl-expected.py" "$K" "$N"
	jq -r '.Records[].kinesis.data | @base64d' "$k" >"$TMP/k.events"
	same "k: the events are N's events" "$N" "$TMP/k.events"
	check "D: every id is distinct" \
		jq -e -s 'map(.id) | length == (unique | length)' "$D"
	check "deterministic: the same arguments give the same bytes" bash -c \
		'"$1" N "$2" | cmp - "$3"' _ "$GEN" "$n" "$N"

	echo
	echo "sizes at $RECORDS records (bytes, bytes per record):"
	local w ext size
	for w in L G N B D K k; do
		case $w in L | G | K | k) ext=json ;; N | D) ext=ndjson ;; B) ext=txt ;; esac
		size=$("$GEN" "$w" "$RECORDS" | wc -c)
		printf '  %s %12s %6s\n' "$w" "$size" "$((size / RECORDS))"
	done
	rm -f "$L" "$G" "$N" "$B" "$D" "$K" "$k"
	return "$fail"
}

"mode_$MODE"
