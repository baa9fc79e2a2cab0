# Loaded after helper by the Redis test files (test/8*-redis*.bats): a private redis-server
# on a Unix socket in the file's temporary folder, started once per file and emptied before
# every test, plus input generators and an independent way to work out the expected counts.
#
# The server keeps an append-only file fsynced on every write, so a server killed with
# kill -9 and started again on the same folder comes back with every acknowledged write.
# A missing redis-server fails the run: these tests never skip because Redis is absent.

REDIS_SOCK=$BATS_FILE_TMPDIR/r.sock
REDIS_URL=unix://$REDIS_SOCK
REDIS_PIDFILE=$BATS_FILE_TMPDIR/redis.pid
REDIS_LOG=$BATS_FILE_TMPDIR/redis.log

# Two templates, so every event gives two keys; the expected counts below know them.
KC_KEYS=(-k 'kc:{page}:{n}' -k 'kc:{page}')

# The checkpoint field of the inputs that gen_lambda writes.
CKPT_FIELD=clicks/shardId-000000000000

# rcli ARG...: redis-cli on the private server (or on the server that RCLI_ADDR names);
# bounded, so a stopped server cannot hang a test.
RCLI_ADDR=(-s "$REDIS_SOCK")
rcli() {
	timeout 10 redis-cli "${RCLI_ADDR[@]}" "$@"
}

redis_pid() {
	cat "$REDIS_PIDFILE"
}

# alive PID: true while PID runs (a zombie that is not reaped yet counts as gone).
alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $state != Z* ]]
}

# wait_gone PID: waits (at most 10 s) until PID has ended.
wait_gone() {
	local i
	for ((i = 0; i < 100; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	echo "process $1 did not end" >&2
	return 1
}

# redis_start: starts the server on the file's folder (reloading its append-only file, if
# any) and waits, at most 10 s, until it answers PING.
redis_start() {
	local pid i
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		echo "redis-server and redis-cli are needed (Debian packages redis-server and" \
			"redis-tools; 'make check' installs them)" >&2
		return 1
	fi
	rm -f "$REDIS_SOCK"
	redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
		--dir "$BATS_FILE_TMPDIR" --save '' --appendonly yes --appendfsync always \
		--enable-debug-command yes --daemonize no >>"$REDIS_LOG" 2>&1 3>&- &
	pid=$!
	# Out of the job table, so that killing it later is not reported as a job event.
	disown "$pid" 2>/dev/null || true
	echo "$pid" > "$REDIS_PIDFILE"
	for ((i = 0; i < 100; i++)); do
		if [ -S "$REDIS_SOCK" ] &&
			[ "$(timeout 10 redis-cli -s "$REDIS_SOCK" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		alive "$pid" || break
		sleep 0.1
	done
	echo "redis-server did not come up on $REDIS_SOCK; its log:" >&2
	cat "$REDIS_LOG" >&2
	return 1
}

# redis_stop: ends the server (also a stopped one) and waits until it is gone.
redis_stop() {
	local pid
	[ -s "$REDIS_PIDFILE" ] || return 0
	pid=$(redis_pid)
	if alive "$pid"; then
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" || { kill -9 "$pid" 2>/dev/null; wait_gone "$pid"; }
	fi
}

# redis_kill9: kills the server with SIGKILL, as a crash would.
redis_kill9() {
	local pid
	pid=$(redis_pid)
	kill -9 "$pid"
	wait_gone "$pid"
}

# redis_restart [--fresh]: stops the server if it runs and starts it again on the same
# folder, so the append-only file is reloaded; --fresh removes that file first (and with it
# settings and data a test left behind).
redis_restart() {
	redis_stop
	if [ "${1:-}" = --fresh ]; then
		rm -rf "$BATS_FILE_TMPDIR/appendonlydir"
	fi
	redis_start
}

# redis_counters [DB]: every counter of DB (default 0) as sorted KEY<TAB>VALUE lines, the
# form of 'kincount -c'. Keys starting with 'kincount:' (checkpoints, batch tokens, dead
# letters) are left out; a key that is not a string shows its type as <TYPE>.
redis_counters() {
	rcli -n "${1:-0}" eval '
		local r = {}
		for _, k in ipairs(redis.call("KEYS", "*")) do
			if string.sub(k, 1, 9) ~= "kincount:" then
				local t = redis.call("TYPE", k)["ok"]
				if t == "string" then
					r[#r + 1] = k .. "\t" .. redis.call("GET", k)
				else
					r[#r + 1] = k .. "\t<" .. t .. ">"
				end
			end
		end
		return r' 0 | sed '/^$/d' | sort
}

# checkpoint [FIELD [KEY]]: the stored checkpoint (default: the gen_lambda shard).
checkpoint() {
	rcli hget "${2:-kincount:checkpoints}" "${1:-$CKPT_FIELD}"
}

# kc ARG...: kincount, bounded so that a hang fails the test instead of stalling the run.
kc() {
	timeout 60 "$KINCOUNT" "$@"
}

# kc_bg ARG...: kincount in the background, stdin as given by the caller, stdout to
# $BATS_TEST_TMPDIR/out, stderr to $BATS_TEST_TMPDIR/err; its pid in KPID. Call it as the
# last command of a pipeline run with '&' (it execs, so $! is kincount itself), and collect
# it with kc_wait.
kc_bg() {
	exec "$KINCOUNT" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&-
}

# kc_wait SECONDS: waits for the background kincount (KPID), at most SECONDS; its exit
# status in KSTATUS and its stderr in kstderr. One that takes longer is killed and fails
# the test.
kc_wait() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		alive "$KPID" || break
		sleep 0.1
	done
	if alive "$KPID"; then
		kill -9 "$KPID"
		fail "kincount still ran after $1 s; stderr: $(cat "$BATS_TEST_TMPDIR/err")"
	fi
	KSTATUS=0
	wait "$KPID" || KSTATUS=$?
	kstderr=$(cat "$BATS_TEST_TMPDIR/err")
}

# wait_for SECONDS COMMAND...: wait_until (helper.bash), failing the test when it times out.
wait_for() {
	local limit=$1
	shift
	wait_until "$limit" "$@" || fail "timed out after $limit s waiting for: $*"
}

# script_cached: true once the server holds a script (after SCRIPT FLUSH: kincount's).
script_cached() {
	rcli info memory | grep -q '^number_of_cached_scripts:1'
}

# has_counters: true once any counter is in Redis.
has_counters() {
	[ -n "$(rcli --scan --pattern 'kc:*' | head -n 1)" ]
}

# has_checkpoint: true once the gen_lambda shard has a checkpoint.
has_checkpoint() {
	[ -n "$(checkpoint)" ]
}

# counters_are FILE: true when the counters in Redis are exactly the lines of FILE.
counters_are() {
	[ "$(redis_counters)" = "$(cat "$1")" ]
}

# last_seq FILE: the sequence number of the last record of a file of Lambda events.
last_seq() {
	jq -r '.Records[].kinesis.sequenceNumber' "$1" | tail -n 1
}

# stat_of NAME: member NAME of the --stats=json line in $stderr.
stat_of() {
	grep '^{' <<< "$stderr" | jq -r ".$1"
}

# now: the wall clock in seconds with microseconds.
now() {
	echo "$EPOCHREALTIME"
}

# elapsed_below START LIMIT: fails unless less than LIMIT seconds passed since START.
elapsed_below() {
	local took
	took=$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' \
		"$1" "$(now)")
	python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))' "$took" "$2" ||
		fail "took $took s, limit $2 s"
}

# stderr_has TEXT / stderr_has_re ERE: fails unless a line of $stderr is TEXT / matches ERE.
stderr_has() {
	local l
	while IFS= read -r l; do
		[ "$l" = "$1" ] && return 0
	done <<< "$stderr"
	fail "no line '$1' in stderr: $stderr"
}

stderr_has_re() {
	local l
	while IFS= read -r l; do
		[[ $l =~ $1 ]] && return 0
	done <<< "$stderr"
	fail "no line matching '$1' in stderr: $stderr"
}

# gen_lambda EVENTS RECORDS [FIRST]: EVENTS Lambda events (one per line) of RECORDS records
# each, numbered from FIRST (default 0), on shard shardId-000000000000 of stream clicks.
# Record R has the 56-digit sequence number BASE + 2R (so they increase), page
# cart/home/search/item by R mod 4, and R mod 3 + 1 events {"page":...,"n":...,"id":R}, as a
# JSON array (even R) or as JSON lines (odd R).
gen_lambda() {
	python3 - "$@" <<-'EOF'
	import base64, json, sys
	events, per = int(sys.argv[1]), int(sys.argv[2])
	first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
	base = 49590338271490256608559692538361571095921575989136588898
	pages = ["cart", "home", "search", "item"]
	for e in range(events):
	    recs = []
	    for j in range(per):
	        r = first + e * per + j
	        seq = str(base + 2 * r)
	        evs = [{"page": pages[r % 4], "n": (r * 7 + k) % 25, "id": r} for k in range(r % 3 + 1)]
	        if r % 2 == 0:
	            payload = json.dumps(evs, separators=(",", ":"))
	        else:
	            payload = "\n".join(json.dumps(v, separators=(",", ":")) for v in evs)
	        recs.append({
	            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "pk-%d" % r,
	                        "sequenceNumber": seq,
	                        "data": base64.b64encode(payload.encode()).decode(),
	                        "approximateArrivalTimestamp": 1450310400.5},
	            "eventSource": "aws:kinesis", "eventVersion": "1.0",
	            "eventID": "shardId-000000000000:" + seq, "eventName": "aws:kinesis:record",
	            "awsRegion": "us-east-1",
	            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"})
	    print(json.dumps({"Records": recs}, separators=(",", ":")))
	EOF
}

# gen_ndjson LINES [FIRST]: LINES JSON documents {"page":...,"n":...,"id":R}, one per line.
gen_ndjson() {
	awk -v lines="$1" -v first="${2:-0}" 'BEGIN {
		split("cart home search item", p, " ")
		for (r = first; r < first + lines; r++)
			printf "{\"page\":\"%s\",\"n\":%d,\"id\":%d}\n", p[r % 4 + 1], (r * 7) % 25, r
	}'
}

# expect_counts FILE...: the counts that KC_KEYS give for FILE (Lambda events or JSON lines
# from the generators above), worked out with python3 alone, as sorted KEY<TAB>COUNT lines.
expect_counts() {
	python3 - "$@" <<-'EOF'
	import base64, collections, json, sys
	counts = collections.Counter()
	def count(ev):
	    counts["kc:%s:%s" % (ev["page"], ev["n"])] += 1
	    counts["kc:%s" % ev["page"]] += 1
	for name in sys.argv[1:]:
	    with open(name, "rb") as f:
	        for line in f:
	            if not line.strip():
	                continue
	            doc = json.loads(line)
	            if "Records" not in doc:
	                count(doc)
	                continue
	            for rec in doc["Records"]:
	                text = base64.b64decode(rec["kinesis"]["data"]).decode()
	                if text.startswith("["):
	                    evs = json.loads(text)
	                else:
	                    evs = [json.loads(l) for l in text.split("\n") if l.strip()]
	                for ev in evs:
	                    count(ev)
	out = sys.stdout.buffer
	for k in sorted(counts, key=lambda s: s.encode()):
	    out.write(("%s\t%d\n" % (k, counts[k])).encode())
	EOF
}

# slow_lines DELAY FILE: writes FILE line by line, DELAY seconds apart (for a live pipe).
slow_lines() {
	python3 -c '
import sys, time
d = float(sys.argv[1])
try:
    with open(sys.argv[2], "rb") as f:
        for line in f:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            time.sleep(d)
except BrokenPipeError:
    pass
' "$@" 2>/dev/null
}

setup_file() {
	redis_start
}

teardown_file() {
	redis_stop
}

setup() {
	redis_setup
}

teardown() {
	redis_teardown
}

# Every test starts on an empty server (all databases) in its own folder. A test that changes the
# server (settings, a stopped or killed server) sets RESTART_AFTER=1 and the server is
# started afresh after it.
redis_setup() {
	cd "$BATS_TEST_TMPDIR"
	RESTART_AFTER=
	KPID=
	[ "$(rcli flushall)" = OK ]
}

redis_teardown() {
	if [ -n "$KPID" ] && alive "$KPID"; then
		kill -9 "$KPID" 2>/dev/null || true
	fi
	if [ -n "$RESTART_AFTER" ] || ! alive "$(redis_pid)"; then
		redis_restart --fresh
	fi
}

# tcp_start: a second redis-server on a free TCP port of 127.0.0.1 (TCP_PORT, TCP_PID), for
# the tests of host:port URLs; tcp_stop ends it (from teardown).  A server that does not
# start fails the test.
tcp_start() {
	local try i
	for try in 1 2 3; do
		TCP_PORT=$(python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])') || { fail "no free TCP port on 127.0.0.1"; return 1; }
		redis-server --port "$TCP_PORT" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$BATS_TEST_TMPDIR" --daemonize no >"$BATS_TEST_TMPDIR/tcp.log" 2>&1 3>&- &
		TCP_PID=$!
		for ((i = 0; i < 100; i++)); do
			if [ "$(timeout 10 redis-cli -h 127.0.0.1 -p "$TCP_PORT" ping 2>/dev/null)" = PONG ]
			then
				return 0
			fi
			alive "$TCP_PID" || break
			sleep 0.1
		done
		kill -9 "$TCP_PID" 2>/dev/null || true
	done
	fail "redis-server did not start on a TCP port: $(cat "$BATS_TEST_TMPDIR/tcp.log")"
}

tcp_stop() {
	if [ -n "${TCP_PID:-}" ]; then
		kill "$TCP_PID" 2>/dev/null || true
		wait "$TCP_PID" 2>/dev/null || true
		TCP_PID=
	fi
}
