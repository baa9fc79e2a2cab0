#!/usr/bin/env bats
# The end-to-end test (make e2e; make check runs it too, see tools/e2e): kincount-pull with
# the real AWS CLI v2 (Debian's awscli) against the Kinesis emulator kinesalite, counting into
# a real redis-server that wants a password.  Everything listens on 127.0.0.1 and, when
# tools/e2e could make one, the whole file runs in a network namespace of its own, so nothing
# reaches another host.
#
# The tests are the steps of one story and run in order on one stream: each puts records
# (plain ones with put-records, KPL aggregates made by aws-kinesis-agg with put-record), runs
# kincount-pull, and checks every counter and every checkpoint against what e2e.py works out
# from what was put, read back from the emulator by its own HTTP client.  Each event has a
# counter of its own (e2e:id:...), so a record counted twice or not at all shows.

load ../helper
load ../redis

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
KINCOUNT_PULL=${KINCOUNT_PULL:-$ROOT/kincount-pull}
E2E=$BATS_TEST_DIRNAME
STREAM=e2e
# The templates that e2e.py mirrors: by page, by shard, by arrival minute (UTC), by event.
KEYS=(-k 'e2e:{page}' -k 'e2e:{@shard_id}:{page}' -k 'e2e:{@time:%Y-%m-%dT%H:%M}:{page}'
	-k 'e2e:id:{id}')
# A password with a space and shell characters: it must reach Redis and no command line.
# shellcheck disable=SC2016 # the $ is part of the password
PASS='e2e pass;$x'

# aws ARG...: the AWS CLI on the emulator, JSON whatever the profile says.
aws() {
	timeout 60 "$AWS_CLI" --endpoint-url "$ENDPOINT" --output json "$@"
}

free_port() {
	python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# profile LINE...: the AWS CLI's config file holds [default] and LINE...; always output =
# text, which kincount-pull must override.
profile() {
	printf '[default]\noutput = text\n' > "$AWS_CONFIG_FILE"
	printf '%s\n' "$@" >> "$AWS_CONFIG_FILE"
}

kinesalite_start() {
	local i
	rm -f "$W/port"
	node "$E2E/kinesalite.js" "$W/port" >"$W/kinesalite.log" 2>&1 3>&- &
	echo $! > "$W/kinesalite.pid"
	disown $! 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		[ -s "$W/port" ] && break
		alive "$(cat "$W/kinesalite.pid")" || break
		sleep 0.05
	done
	[ -s "$W/port" ] || { echo "kinesalite did not start: $(cat "$W/kinesalite.log")" >&2; return 1; }
	KPORT=$(cat "$W/port")
}

# The server is on TCP (127.0.0.1, a free port), wants a password (from its config file, so not
# on its command line) and keeps an append-only file, so a stopped server comes back whole.
redis_tcp_start() {
	local i
	if [ ! -s "$W/redis.port" ]; then
		free_port > "$W/redis.port"
		{
			printf 'port %s\nbind 127.0.0.1\ndir %s\nsave ""\n' "$(cat "$W/redis.port")" "$W"
			printf 'appendonly yes\nappendfsync always\nrequirepass "%s"\n' "$PASS"
		} > "$W/redis.conf"
	fi
	RCLI_ADDR=(-h 127.0.0.1 -p "$(cat "$W/redis.port")")
	redis-server "$W/redis.conf" --daemonize no >>"$W/redis.log" 2>&1 3>&- &
	echo $! > "$REDIS_PIDFILE"
	disown $! 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		[ "$(rcli ping 2>/dev/null)" = PONG ] && return 0
		alive "$(redis_pid)" || break
		sleep 0.05
	done
	echo "redis-server did not start: $(cat "$W/redis.log")" >&2
	return 1
}

setup_file() {
	export W=$BATS_FILE_TMPDIR
	export AWS_CLI=${AWS_CLI:-/usr/bin/aws}
	[ -x "$AWS_CLI" ] || { echo "no AWS CLI at $AWS_CLI (tools/e2e installs awscli)" >&2; return 1; }
	[ -x "$KINCOUNT_PULL" ] || { echo "no kincount-pull at $KINCOUNT_PULL" >&2; return 1; }
	[ -d "$E2E/node_modules/kinesalite" ] || { echo "run tools/e2e deps first" >&2; return 1; }
	# Nothing of the user's AWS setup, fake credentials, no instance metadata, no proxy.
	unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_CA_BUNDLE AWS_DEFAULT_OUTPUT \
		AWS_ENDPOINT_URL AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CLI_AUTO_PROMPT \
		HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
	export AWS_ACCESS_KEY_ID=e2e-key AWS_SECRET_ACCESS_KEY=e2e-secret AWS_REGION=us-east-1 \
		AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER='' \
		AWS_CONFIG_FILE=$W/aws-config AWS_SHARED_CREDENTIALS_FILE=$W/aws-credentials \
		NO_PROXY=127.0.0.1 XDG_RUNTIME_DIR=$W HOME=$W
	: > "$AWS_SHARED_CREDENTIALS_FILE"
	profile
	# kincount-pull runs the kincount of this tree.
	export PATH=$ROOT:$PATH
	export REDISCLI_AUTH=$PASS
	export REDIS_PIDFILE=$W/redis.pid
	redis_tcp_start
	RPORT=$(cat "$W/redis.port")
	export RPORT
	export E2E_REDIS=redis://127.0.0.1:$RPORT
	kinesalite_start
	export KPORT ENDPOINT=http://127.0.0.1:$KPORT
	aws kinesis create-stream --stream-name "$STREAM" --shard-count 2
	python3 "$E2E/e2e.py" wait-active "$KPORT" "$STREAM"
	: > "$W/manifest.jsonl"
	echo '{"records":0,"events":0,"aggregates":0,"sub_records":0}' > "$W/counted.totals"
}

teardown_file() {
	local pid
	if [ -s "$W/kinesalite.pid" ]; then
		pid=$(cat "$W/kinesalite.pid")
		kill "$pid" 2>/dev/null && wait_gone "$pid"
	fi
	redis_stop
}

setup() {
	# helper.bash unsets it as every test file is loaded again for each test.
	export REDISCLI_AUTH=$PASS
	RCLI_ADDR=(-h 127.0.0.1 -p "$RPORT")
	cd "$BATS_TEST_TMPDIR" || return 1
	PPID_BG=
}

teardown() {
	if [ -n "$PPID_BG" ] && alive "$PPID_BG"; then
		kill -9 -- "-$PPID_BG" 2>/dev/null || true
	fi
	if ! alive "$(redis_pid)"; then
		redis_tcp_start
	fi
}

# put ROUND PLAIN GROUPS: puts round ROUND: PLAIN plain records in one put-records call and
# GROUPS KPL aggregates (of 2, 3, ... user records), each with put-record; all recorded in
# the manifest.
put() {
	local line pk data
	python3 "$E2E/e2e.py" gen "$1" "$2" "$3" "$W"
	aws kinesis put-records --cli-input-json "file://$W/put-$1.json" > "$W/put-$1.out"
	assert_equal "$(jq .FailedRecordCount "$W/put-$1.out")" 0
	node "$E2E/agg.js" < "$W/groups-$1.jsonl" > "$W/aggs-$1.jsonl"
	while IFS= read -r line; do
		pk=$(jq -r .partitionKey <<< "$line")
		data=$(jq -r .data <<< "$line")
		aws kinesis put-record --stream-name "$STREAM" --partition-key "$pk" --data "$data" \
			> /dev/null
	done < "$W/aggs-$1.jsonl"
	python3 "$E2E/e2e.py" aggs "$W/groups-$1.jsonl" "$W/aggs-$1.jsonl" "$W/manifest.jsonl"
}

# pull [OPTION...]: runs kincount-pull on the stream, with the test's templates, in its own
# process group (PPID_BG), at most 300 s; stdout in $output, stderr in $stderr, exit status
# in $status.  While it runs, every command line on the machine is read again and again: the
# Redis password must never be on one (it goes by REDISCLI_AUTH only).
pull() {
	local i seen=
	printf '%s' "$PASS" > "$BATS_TEST_TMPDIR/pass"
	setsid "$KINCOUNT_PULL" -e "$ENDPOINT" "$@" "$STREAM" "$E2E_REDIS" -- -q --stats=json \
		"${KEYS[@]}" >"$BATS_TEST_TMPDIR/pull.out" 2>"$BATS_TEST_TMPDIR/pull.err" 3>&- &
	PPID_BG=$!
	for ((i = 0; i < 6000; i++)); do
		alive "$PPID_BG" || break
		if grep -lsF -f "$BATS_TEST_TMPDIR/pass" /proc/[0-9]*/cmdline > "$BATS_TEST_TMPDIR/seen"; then
			seen=$(xargs -r -n1 dirname < "$BATS_TEST_TMPDIR/seen" | xargs -r -I{} cat {}/cmdline | tr '\0' ' ')
		fi
		sleep 0.05
	done
	if alive "$PPID_BG"; then
		kill -9 -- "-$PPID_BG"
		fail "kincount-pull still ran after 300 s: $(cat "$BATS_TEST_TMPDIR/pull.err")"
	fi
	status=0
	wait "$PPID_BG" || status=$?
	PPID_BG=
	output=$(cat "$BATS_TEST_TMPDIR/pull.out")
	stderr=$(cat "$BATS_TEST_TMPDIR/pull.err")
	# Shown when the test fails.
	printf 'kincount-pull %s: exit %s, stderr:\n%s\n' "$*" "$status" "$stderr" >&2
	[ -z "$seen" ] || fail "the Redis password was on a command line: $seen"
}

# expected: the counters and checkpoints the stream must give, worked out by e2e.py from
# what was put (expected, expected.ckpt, expected.ckpt.totals in the test's folder).
expected() {
	python3 "$E2E/e2e.py" expect "$KPORT" "$STREAM" "$W/manifest.jsonl" \
		"$BATS_TEST_TMPDIR/expected.ckpt" > "$BATS_TEST_TMPDIR/expected"
}

# checkpoints: the stored checkpoints as sorted FIELD<TAB>SEQ lines.
checkpoints() {
	rcli hgetall kincount:checkpoints | paste - - | LC_ALL=C sort
}

# counts_exact: every counter and every checkpoint in Redis is what e2e.py says.
counts_exact() {
	expected
	redis_counters > "$BATS_TEST_TMPDIR/got"
	diff -u "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got" ||
		fail "the counters differ from what was put (- expected, + in Redis)"
	checkpoints > "$BATS_TEST_TMPDIR/got.ckpt"
	diff -u "$BATS_TEST_TMPDIR/expected.ckpt" "$BATS_TEST_TMPDIR/got.ckpt" ||
		fail "the checkpoints differ from the last record of each shard"
	cp "$BATS_TEST_TMPDIR/expected" "$W/expected.last"
	cp "$BATS_TEST_TMPDIR/expected.ckpt" "$W/expected.ckpt.last"
}

# shard_lines SHARD FILE: the lines of FILE (counters or checkpoints) of shard SHARD.
shard_lines() {
	grep -F "$1" "$2" || true
}

# stats_sum NAME: the sum of NAME over the --stats=json lines of the last pull.
stats_sum() {
	grep '^{' <<< "$stderr" | jq -s "map(.$1) | add // 0"
}

# none_rejected_counted: the last pull rejected nothing and met no duplicate; what is
# expected so far is what has been counted.
none_rejected_counted() {
	assert_equal "rejected $(stats_sum rejected)" "rejected 0"
	assert_equal "duplicates $(stats_sum duplicates)" "duplicates 0"
	cp "$BATS_TEST_TMPDIR/expected.ckpt.totals" "$W/counted.totals"
}

# run_counted_new: the --stats=json lines of the last pull add up to what was put since the
# previous such check: each new Kinesis record, event, aggregate and user record read once,
# none rejected, none a duplicate.
run_counted_new() {
	local name want
	for name in records events aggregates sub_records; do
		want=$(jq -n --slurpfile now "$BATS_TEST_TMPDIR/expected.ckpt.totals" \
			--slurpfile before "$W/counted.totals" "\$now[0].$name - \$before[0].$name")
		assert_equal "$name $(stats_sum "$name")" "$name $want"
	done
	none_rejected_counted
}

# only_stats SHARDS: stderr of the last pull is one --stats=json line for each of the
# stream's SHARDS shards, in shard order, and nothing else.
only_stats() {
	local want got
	want=$(for ((i = 0; i < $1; i++)); do printf 'e2e shardId-%012d\n' "$i"; done)
	got=$(jq -r '"\(.stream) \(.shard)"' <<< "$stderr") || fail "stderr is not JSON lines: $stderr"
	assert_equal "$got" "$want"
}

# monitor_start / monitor_stop: Redis's MONITOR into ./monitor while a pull runs, to see the
# order in which the shards' batches reach Redis.
monitor_start() {
	timeout 300 redis-cli -h 127.0.0.1 -p "$RPORT" monitor > "$BATS_TEST_TMPDIR/monitor" 2>&1 3>&- &
	MON_PID=$!
	wait_for 10 grep -q '^OK' "$BATS_TEST_TMPDIR/monitor"
}

monitor_stop() {
	kill "$MON_PID"
	wait "$MON_PID" || true
}

# parents_first PARENT_ERE CHILD_ERE: in ./monitor, the last batch script run for a shard
# matching PARENT_ERE comes before the first for one matching CHILD_ERE (and both ran).
parents_first() {
	python3 - "$BATS_TEST_TMPDIR/monitor" "$1" "$2" <<-'EOF'
	import re, sys
	last_parent = first_child = None
	for n, line in enumerate(open(sys.argv[1], encoding="utf-8", errors="replace")):
	    if not re.search(r'"(EVAL|EVALSHA|evalsha|eval)"', line):
	        continue
	    if re.search(sys.argv[2] + '"', line):
	        last_parent = n
	    if first_child is None and re.search(sys.argv[3] + '"', line):
	        first_child = n
	if last_parent is None or first_child is None:
	    sys.exit("MONITOR saw no batch of a parent (%s) or of a child (%s)" % (last_parent, first_child))
	if last_parent > first_child:
	    sys.exit("a child's batch (line %d) came before a parent's last (line %d)" % (first_child, last_parent))
	EOF
}

@test "e2e: two shards, plain records and KPL aggregates, a profile saying output = text" {
	put 1 40 2
	pull
	assert_equal "$status" 0
	assert_output ''
	only_stats 2
	counts_exact
	run_counted_new
	[ "$(wc -l < "$BATS_TEST_TMPDIR/expected.ckpt")" -eq 2 ]
}

@test "e2e: run again with nothing new: nothing is counted again" {
	pull
	assert_equal "$status" 0
	assert_output ''
	only_stats 2
	counts_exact
	run_counted_new
	assert_equal "$(stats_sum records)" 0
}

@test "e2e: more records, TZ=Asia/Kolkata: ISO times with +05:30 give UTC keys" {
	put 2 30 2
	TZ=Asia/Kolkata pull
	assert_equal "$status" 0
	assert_output ''
	only_stats 2
	counts_exact
	run_counted_new
}

@test "e2e: a run killed mid-way (SIGKILL of the whole group) and run again counts each record once" {
	local before i
	put 3 150 1
	before=$(checkpoints)
	setsid "$KINCOUNT_PULL" -e "$ENDPOINT" -l 7 "$STREAM" "$E2E_REDIS" -- -q "${KEYS[@]}" \
		>"$BATS_TEST_TMPDIR/pull.out" 2>"$BATS_TEST_TMPDIR/pull.err" 3>&- &
	PPID_BG=$!
	# Killed once the first page of new records is applied (a checkpoint has moved).
	for ((i = 0; i < 1200; i++)); do
		[ "$(checkpoints)" != "$before" ] && break
		alive "$PPID_BG" || break
		sleep 0.05
	done
	kill -9 -- "-$PPID_BG" 2>/dev/null || true
	wait "$PPID_BG" || true
	PPID_BG=
	[ "$(checkpoints)" != "$before" ] || fail "no page was applied: $(cat "$BATS_TEST_TMPDIR/pull.err")"
	expected
	redis_counters > "$BATS_TEST_TMPDIR/got"
	! cmp -s "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got" ||
		fail "everything was counted before the kill: not a test of a kill mid-way"
	# The rest, without -l.
	pull
	assert_equal "$status" 0
	assert_output ''
	only_stats 2
	counts_exact
	none_rejected_counted
}

@test "e2e: a shard split with records on both sides; cli_timestamp_format = wire" {
	put 4a 20 1
	aws kinesis split-shard --stream-name "$STREAM" --shard-to-split shardId-000000000000 \
		--new-starting-hash-key 85070591730234615865843651857942052864
	python3 "$E2E/e2e.py" wait-active "$KPORT" "$STREAM"
	put 4b 30 2
	profile 'cli_timestamp_format = wire'
	monitor_start
	TZ=Asia/Kolkata pull
	monitor_stop
	profile
	assert_equal "$status" 0
	assert_output ''
	only_stats 4
	counts_exact
	run_counted_new
	[ "$(wc -l < "$BATS_TEST_TMPDIR/expected.ckpt")" -eq 4 ]
	# The parent's new records were applied before any of its children's.
	parents_first 'e2e/shardId-000000000000' 'e2e/shardId-00000000000[23]'
}

@test "e2e: Redis stopped: exit 3 naming each shard; started again, each record is counted once" {
	put 5 10 1
	redis_stop
	pull
	assert_equal "$status" 3
	assert_output ''
	# Shards 0 (closed) and 1 fail, naming the address; 2 and 3 wait for their parent 0.
	for i in 0 1; do
		stderr_has_re "^kincount-pull: e2e/shardId-00000000000$i: .*127\.0\.0\.1:$RPORT"
		stderr_has "kincount-pull: e2e/shardId-00000000000$i: kincount: Redis failed (exit 3)"
	done
	for i in 2 3; do
		stderr_has "kincount-pull: e2e/shardId-00000000000$i: not started: its parent shardId-000000000000 is not drained"
	done
	refute_regex "$stderr" '"records"'
	redis_tcp_start
	pull
	assert_equal "$status" 0
	assert_output ''
	only_stats 4
	counts_exact
	run_counted_new
}

@test "e2e: -s reads only the shards named; the next run reads the others" {
	local i
	put 6 24 1
	pull -s shardId-000000000001
	assert_equal "$status" 0
	assert_output ''
	assert_equal "$(jq -r .shard <<< "$stderr")" shardId-000000000001
	expected
	redis_counters > "$BATS_TEST_TMPDIR/got"
	checkpoints > "$BATS_TEST_TMPDIR/got.ckpt"
	# Shard 1 is up to date; shards 2 and 3 are as the last run left them.
	assert_equal "$(shard_lines shardId-000000000001 "$BATS_TEST_TMPDIR/got")" \
		"$(shard_lines shardId-000000000001 "$BATS_TEST_TMPDIR/expected")"
	assert_equal "$(shard_lines shardId-000000000001 "$BATS_TEST_TMPDIR/got.ckpt")" \
		"$(shard_lines shardId-000000000001 "$BATS_TEST_TMPDIR/expected.ckpt")"
	for i in 2 3; do
		assert_equal "$(shard_lines "shardId-00000000000$i" "$BATS_TEST_TMPDIR/got")" \
			"$(shard_lines "shardId-00000000000$i" "$W/expected.last")"
		assert_equal "$(shard_lines "shardId-00000000000$i" "$BATS_TEST_TMPDIR/got.ckpt")" \
			"$(shard_lines "shardId-00000000000$i" "$W/expected.ckpt.last")"
	done
	# Round 6 put records on shards 2 and 3 too, so this test checks something.
	[ "$(shard_lines shardId-000000000002 "$BATS_TEST_TMPDIR/expected.ckpt")" != \
		"$(shard_lines shardId-000000000002 "$W/expected.ckpt.last")" ]
	local first=$stderr
	pull
	assert_equal "$status" 0
	assert_output ''
	only_stats 4
	counts_exact
	# The two runs together read each new record once.
	stderr=$first$'\n'$stderr
	run_counted_new
}

@test "e2e: a merge of the split's children, with records on both sides: both parents first" {
	cp "$W/expected.ckpt.last" "$BATS_TEST_TMPDIR/before.ckpt"
	put 7a 24 1
	aws kinesis merge-shards --stream-name "$STREAM" --shard-to-merge shardId-000000000002 \
		--adjacent-shard-to-merge shardId-000000000003
	python3 "$E2E/e2e.py" wait-active "$KPORT" "$STREAM"
	put 7b 24 1
	monitor_start
	pull
	monitor_stop
	assert_equal "$status" 0
	assert_output ''
	only_stats 5
	counts_exact
	run_counted_new
	[ "$(wc -l < "$BATS_TEST_TMPDIR/expected.ckpt")" -eq 5 ]
	# Round 7a put records on both parents, and 7b on the child, so the order is tested.
	for i in 2 3 4; do
		[ "$(shard_lines "shardId-00000000000$i" "$BATS_TEST_TMPDIR/expected.ckpt")" != \
			"$(shard_lines "shardId-00000000000$i" "$BATS_TEST_TMPDIR/before.ckpt")" ]
	done
	parents_first 'e2e/shardId-00000000000[23]' 'e2e/shardId-000000000004'
}

@test "e2e: an endpoint where nothing listens: exit 5, the failed aws call named, nothing counted" {
	local before port
	before=$(redis_counters)
	port=$(free_port)
	run -5 --separate-stderr timeout 120 "$KINCOUNT_PULL" -e "http://127.0.0.1:$port" "$STREAM" \
		"$E2E_REDIS" -- -q "${KEYS[@]}"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: e2e: aws kinesis list-shards failed (exit 255): Could not connect to the endpoint URL: \"http://127.0.0.1:$port/\""
	assert_equal "$(redis_counters)" "$before"
}
