#!/usr/bin/env bats
# Durability across a Redis failover (issue 9): a primary and a replica on this machine, no
# persistence; --wait-replicas; the checkpoint conflict a lost write leads to; and, through the
# driver test/unit-redis.c, redis.c's deadline and its recovery after a failed batch.
#
# Clients reach the servers through an "endpoint": a symbolic link to the Unix socket of the
# current primary, switched at failover as a managed service switches its DNS name, so that a
# kincount that keeps running meets the promoted replica at the same address.  Replication
# itself runs over TCP on free ports of 127.0.0.1.  Expected counts are worked out by python3
# (expect_counts), never by kincount.

load helper
load redis

SRC=${KC_SRC:-$BATS_TEST_DIRNAME/..}

declare -gA NODE_PID NODE_PORT

# free_port: a TCP port of 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# node_sock NAME: the Unix socket of server NAME.
node_sock() {
	echo "$BATS_TEST_TMPDIR/$1.sock"
}

# node_cli NAME ARG...: redis-cli on server NAME, bounded.
node_cli() {
	local name=$1
	shift
	timeout 10 redis-cli -s "$(node_sock "$name")" "$@"
}

# node_start NAME [PRIMARY]: a redis-server with no persistence on a free TCP port and on
# the socket node_sock NAME; a replica of server PRIMARY when given.  Fails the test when it
# does not answer PING within 10 s (three tries, in case another process took the port).
node_start() {
	local name=$1 primary=${2:-} port try i
	local repl=()
	mkdir -p "$BATS_TEST_TMPDIR/$name"
	[ -z "$primary" ] || repl=(--replicaof 127.0.0.1 "${NODE_PORT[$primary]}")
	for try in 1 2 3; do
		port=$(free_port) || fail "no free TCP port on 127.0.0.1"
		redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$(node_sock "$name")" \
			--unixsocketperm 700 --dir "$BATS_TEST_TMPDIR/$name" --save '' \
			--appendonly no "${repl[@]}" --daemonize no \
			>>"$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- 4>&- 5>&- &
		NODE_PID[$name]=$!
		disown "${NODE_PID[$name]}" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			if [ "$(node_cli "$name" ping 2>/dev/null)" = PONG ]; then
				NODE_PORT[$name]=$port
				return 0
			fi
			alive "${NODE_PID[$name]}" || break
			sleep 0.1
		done
		kill -9 "${NODE_PID[$name]}" 2>/dev/null || true
	done
	fail "redis-server $name did not start: $(cat "$BATS_TEST_TMPDIR/$name.log")"
}

# node_kill9 NAME: kills server NAME as a crash would, and waits until it is gone.
node_kill9() {
	kill -9 "${NODE_PID[$1]}"
	wait_gone "${NODE_PID[$1]}"
}

# synced PRIMARY REPLICA: true once the replica's link is up and the primary sees it online.
synced() {
	node_cli "$2" info replication | grep -q '^master_link_status:up' &&
		node_cli "$1" info replication | grep -q '^slave0:.*state=online'
}

# promote NAME: REPLICAOF NO ONE, and waits until NAME is a primary.
promote() {
	[ "$(node_cli "$1" replicaof no one)" = OK ]
	wait_for 10 eval "node_cli $1 info replication | grep -q '^role:master'"
}

# endpoint NAME: points the endpoint at server NAME (rename(2) of a new link: atomic).
endpoint() {
	ln -sfn "$(node_sock "$1")" "$BATS_TEST_TMPDIR/endpoint.tmp"
	mv -T "$BATS_TEST_TMPDIR/endpoint.tmp" "$BATS_TEST_TMPDIR/endpoint"
}
ep_url() {
	echo "unix://$BATS_TEST_TMPDIR/endpoint"
}

# on NAME FUNCTION ARG...: a redis.bash reader (redis_counters, checkpoint) on server NAME.
on() {
	local RCLI_ADDR=(-s "$(node_sock "$1")")
	shift
	"$@"
}

# drained PID FD: PID waits in read(2) on its standard input with no time limit (so nothing
# is left to apply: with a batch pending it would poll with one), and nothing written through
# FD is left unread.
drained() {
	local nr fd
	read -r nr fd _ < "/proc/$1/syscall" 2>/dev/null || return 1
	case $(uname -m) in
	x86_64) [ "$nr" = 0 ] || return 1 ;;
	aarch64) [ "$nr" = 63 ] || return 1 ;;
	*) fail "drained: no read(2) number for $(uname -m)" ;;
	esac
	[ "$fd" = 0x0 ] && [ "$(unread "$2")" = 0 ]
}

# unit_redis ARG...: builds test/unit-redis.c (with redis.c and util.c, ASan and UBSan) once
# per file, then runs it.
unit_redis() {
	local bin=$BATS_FILE_TMPDIR/unit-redis
	if [ ! -x "$bin" ]; then
		cc -std=c11 -D_GNU_SOURCE -g -fsanitize=address,undefined \
			-fno-sanitize-recover=all -I"$SRC" "$BATS_TEST_DIRNAME/unit-redis.c" \
			"$SRC/redis.c" "$SRC/util.c" $(pkg-config --cflags --libs hiredis) -lm \
			-o "$bin" >&2 || return 1
	fi
	"$bin" "$@"
}

# driver_start ARG...: unit_redis ARG... in the background, commands through fd 6, answers
# in $BATS_TEST_TMPDIR/answers (DPID: its pid).  ask COMMAND: sends it and waits (at most 30
# s) for its answer line, which it puts in $answer.
driver_start() {
	unit_redis true 2>/dev/null || true	# built before it is timed
	mkfifo cmds
	: > answers
	unit_redis "$@" < cmds > answers 2> driver.err 3>&- &
	DPID=$!
	disown "$DPID" 2>/dev/null || true
	exec 6> cmds
	ASKED=0
}

ask() {
	ASKED=$((ASKED + 1))
	echo "$1" >&6
	wait_for 30 eval '[ "$(wc -l < answers)" -ge "$ASKED" ]'
	answer=$(sed -n "${ASKED}p" answers)
}

# ms_of: the ms=N of $answer.
ms_of() {
	sed -n 's/.* ms=\([0-9]*\)$/\1/p' <<< "$answer"
}

teardown() {
	local name
	if [ -n "${DPID:-}" ]; then
		exec 6>&- || true
		kill -9 "$DPID" 2>/dev/null || true
	fi
	for name in "${!NODE_PID[@]}"; do
		kill -CONT "${NODE_PID[$name]}" 2>/dev/null || true
		kill -9 "${NODE_PID[$name]}" 2>/dev/null || true
		wait_gone "${NODE_PID[$name]}" || true
	done
	redis_teardown
}

# primary_and_replica: servers p (the primary; the endpoint points at it) and r (its replica,
# synced).
primary_and_replica() {
	node_start p
	node_start r p
	wait_for 20 synced p r
	endpoint p
}

# --- failover -------------------------------------------------------------------------------

@test "--wait-replicas 1: the primary killed after acknowledged batches; the promoted replica holds them, a rerun is exact" {
	gen_lambda 8 5 0 > a
	gen_lambda 6 5 40 > b
	cat a b > ab
	expect_counts a > want_a
	expect_counts ab > want_ab
	primary_and_replica
	mkfifo fifo
	kc_bg -r "$(ep_url)" --wait-replicas 1 --checkpoint --flush-ms 50 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat a >&5
	# Every batch of a applied, so acknowledged by the replica: then the crash.
	wait_for 30 drained "$KPID" 5
	node_kill9 p
	# No wait for replication: it already happened, or kincount would still be waiting.
	assert_equal "$(on r redis_counters)" "$(cat want_a)"
	assert_equal "$(on r checkpoint)" "$(last_seq a)"
	exec 5>&-
	kc_wait 30
	assert_equal "$KSTATUS" 0 "exit status; stderr: $kstderr"
	assert_equal "$kstderr" ''
	# Failover: r becomes the primary, with a new replica of its own.
	promote r
	node_start r2 r
	wait_for 20 synced r r2
	endpoint r
	run -0 --separate-stderr kc -r "$(ep_url)" --wait-replicas 1 --checkpoint --stats=json \
		"${KC_KEYS[@]}" ab
	assert_output ''
	assert_equal "$(stat_of duplicates)" 40
	assert_equal "$(on r redis_counters)" "$(cat want_ab)"
	assert_equal "$(on r checkpoint)" "$(last_seq ab)"
	assert_equal "$(on r2 redis_counters)" "$(cat want_ab)"
}

@test "--wait-replicas 1 with the replica stopped: exit 3 after the retries; after the failover a rerun is exact" {
	gen_lambda 4 5 0 > a
	gen_lambda 4 5 20 > b
	cat a b > ab
	expect_counts ab > want_ab
	primary_and_replica
	kill -STOP "${NODE_PID[r]}"
	start=$(now)
	run -3 --separate-stderr kc -r "$(ep_url)" --wait-replicas 1 --checkpoint --timeout-ms 300 \
		--retries 2 "${KC_KEYS[@]}" a
	# Three WAITs of 300 ms and back-off pauses of 100 and 200 ms.
	elapsed_below "$start" 5
	assert_output ''
	assert_equal "$stderr" 'kincount: redis: batch 1 not applied after 2 retries: the batch was written on the primary but only 0 of 1 replicas acknowledged it within 300 ms (0 batches applied)'
	# Written on the primary all the same (WAIT cannot undo a write): reported, not hidden.
	assert_equal "$(on p checkpoint)" "$(jq -r '.Records[-1].kinesis.sequenceNumber' < <(head -n 1 a))"
	node_kill9 p
	kill -CONT "${NODE_PID[r]}"
	promote r
	endpoint r
	# Whether the stopped replica got batch 1 from its socket buffer or not, the checkpoint
	# it holds says where to count from.
	run -0 --separate-stderr kc -r "$(ep_url)" --checkpoint "${KC_KEYS[@]}" ab
	assert_output ''
	assert_equal "$stderr" ''
	assert_equal "$(on r redis_counters)" "$(cat want_ab)"
	assert_equal "$(on r checkpoint)" "$(last_seq ab)"
}

@test "--wait-replicas 1 with no replica at all: exit 3, nothing counted as applied" {
	lambda_event 7 '{"page":"cart","n":1}' > in
	run -3 --separate-stderr kc -r "$REDIS_URL" --wait-replicas 1 --timeout-ms 100 --retries 0 \
		"${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$stderr" 'kincount: redis: batch 1 not applied after 0 retries: the batch was written on the primary but only 0 of 1 replicas acknowledged it within 100 ms (0 batches applied)'
}

@test "--wait-replicas needs -r; its value is checked" {
	run -2 --separate-stderr "$KINCOUNT" --wait-replicas 1 -k x /dev/null
	assert_output ''
	stderr_has 'kincount: --wait-replicas needs -r'
	run -2 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --wait-replicas -1 -k x /dev/null
	assert_output ''
	stderr_has_re "^kincount: --wait-replicas: .*'-1'"
}

@test "no --wait-replicas: writes the lagging replica lost are reported as a conflict by the same run; a fresh run repairs" {
	gen_lambda 6 5 0 > a1
	gen_lambda 6 5 30 > a2
	gen_lambda 6 5 60 > a3
	cat a1 a2 a3 > all
	expect_counts all > want
	primary_and_replica
	mkfifo fifo
	kc_bg -r "$(ep_url)" --checkpoint --flush-ms 50 --timeout-ms 500 --retries 3 \
		"${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat a1 >&5
	wait_for 30 drained "$KPID" 5
	wait_for 20 eval '[ "$(on r checkpoint)" = "$(last_seq a1)" ]'
	# The replica falls behind: stopped, and its link cut, so that nothing written from
	# now on waits for it in a socket buffer (it would get it on SIGCONT, and lose nothing).
	kill -STOP "${NODE_PID[r]}"
	[ "$(node_cli p client kill type replica)" = 1 ]
	cat a2 >&5
	wait_for 30 drained "$KPID" 5
	# a2 applied and acknowledged by the primary alone: kincount has exited no batch.
	assert_equal "$(on p checkpoint)" "$(last_seq a2)"
	alive "$KPID"
	node_kill9 p
	kill -CONT "${NODE_PID[r]}"
	promote r
	endpoint r
	assert_equal "$(on r checkpoint)" "$(last_seq a1)"
	# The same run goes on with new records of the shard: it finds the checkpoint behind.
	cat a3 >&5
	exec 5>&-
	kc_wait 30
	assert_equal "$KSTATUS" 3 "exit status; stderr: $kstderr"
	stderr=$kstderr
	stderr_has_re "^kincount: redis: batch 13 not applied( after 1 retry)?: the checkpoint of $CKPT_FIELD is at $(last_seq a1), not where this run left it: is another writer on this shard, or did the server lose acknowledged writes \(a restart without persistence, a promoted replica that lagged\)\? Run again: kincount counts from the stored checkpoint; see DURABILITY in kincount\(1\) and --wait-replicas \(12 batches applied\)$"
	# What the message says to do: a fresh run from the stored checkpoint.
	run -0 --separate-stderr kc -r "$(ep_url)" --checkpoint --stats=json "${KC_KEYS[@]}" all
	assert_output ''
	assert_equal "$(stat_of duplicates)" 30
	assert_equal "$(on r redis_counters)" "$(cat want)"
	assert_equal "$(on r checkpoint)" "$(last_seq all)"
}

@test "no persistence: a restart loses the counts; the run that goes on reports it, never silently" {
	gen_lambda 4 5 0 > a1
	gen_lambda 4 5 20 > a2
	expect_counts a2 > want_a2
	node_start p
	endpoint p
	mkfifo fifo
	kc_bg -r "$(ep_url)" --checkpoint --flush-ms 50 --timeout-ms 500 --retries 5 \
		"${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat a1 >&5
	wait_for 30 drained "$KPID" 5
	assert_equal "$(on p checkpoint)" "$(last_seq a1)"
	node_kill9 p
	node_start p 5>&-
	cat a2 >&5
	exec 5>&-
	kc_wait 30
	assert_equal "$KSTATUS" 3 "exit status; stderr: $kstderr"
	stderr=$kstderr
	stderr_has_re "^kincount: redis: batch 5 not applied( after 1 retry)?: the checkpoint of $CKPT_FIELD is at nothing, not where this run left it: is another writer on this shard, or did the server lose acknowledged writes .* \\(4 batches applied\\)$"
	assert_equal "$(on p redis_counters)" ''
	# A new run starts from nothing: what it reads is counted once.
	run -0 --separate-stderr kc -r "$(ep_url)" --checkpoint "${KC_KEYS[@]}" a2
	assert_equal "$(on p redis_counters)" "$(cat want_a2)"
}

# --- redis.c through its driver --------------------------------------------------------------

@test "redis_deadline: a batch to a stopped server ends by the deadline, not after --timeout-ms x --retries" {
	RESTART_AFTER=1
	driver_start "$REDIS_URL" 5000 5
	ask connect
	[[ $answer == "ok ms="* ]] || fail "connect: $answer"
	kill -STOP "$(redis_pid)"
	ask 'deadline 1500'
	ask 'batch kc:a 1'
	[[ $answer =~ ^error\ gave_up=1:\ timed\ out\ \(stopped\ retrying:\ the\ deadline\ is\ near\)\ ms=([0-9]+)$ ]] ||
		fail "batch: $answer"
	ms=${BASH_REMATCH[1]}
	[ "$ms" -ge 1400 ] && [ "$ms" -le 1700 ] || fail "took $ms ms"
	ask busy
	[ "$answer" -ge 1400 ] || fail "busy $answer ms"
	# The start-up connect: a new connection to the stopped server, 800 ms left.
	ask abandon
	ask 'deadline 800'
	ask connect
	[[ $answer =~ ^error\ gave_up=1:\ timed\ out\ \(stopped\ retrying:\ the\ deadline\ is\ near\)\ ms=([0-9]+)$ ]] ||
		fail "connect: $answer"
	ms=${BASH_REMATCH[1]}
	[ "$ms" -ge 700 ] && [ "$ms" -le 1000 ] || fail "took $ms ms"
	# A deadline already at hand: nothing is tried.
	ask 'deadline 10'
	ask 'batch kc:a 1'
	[[ $answer =~ ^error\ gave_up=1:\ not\ attempted:\ the\ deadline\ is\ near\ ms=[0-9]+$ ]] ||
		fail "batch: $answer"
	kill -CONT "$(redis_pid)"
	# No deadline: the same driver applies a batch again.
	ask 'deadline 0'
	ask 'batch kc:b 2'
	[[ $answer == "ok ms="* ]] || fail "batch: $answer"
	assert_equal "$(rcli get kc:b)" 2
	# The first kc:a batch ran when the server went on; the second was never sent.
	wait_for 10 eval '[ "$(rcli get kc:a)" = 1 ]'
	assert_equal "$(cat driver.err)" ''
}

@test "redis_deadline: a server that refuses connections is retried only while time is left" {
	driver_start "unix://$BATS_TEST_TMPDIR/no-such.sock" 5000 100
	ask 'deadline 1200'
	ask connect
	[[ $answer =~ ^error\ gave_up=1:\ cannot\ connect\ to\ unix://.*/no-such.sock:\ .*\ \(stopped\ retrying:\ the\ deadline\ is\ near\)\ ms=([0-9]+)$ ]] ||
		fail "connect: $answer"
	ms=${BASH_REMATCH[1]}
	# Back-off pauses of 100, 200, 400 ms fit; the next (800 ms) would end past the deadline.
	[ "$ms" -ge 600 ] && [ "$ms" -le 1200 ] || fail "took $ms ms"
}

@test "redis_abandon: a batch that timed out runs late; the next batch is applied, not skipped" {
	RESTART_AFTER=1
	driver_start "$REDIS_URL" 300 0
	ask 'batch kc:first 1'
	[[ $answer == "ok ms="* ]] || fail "batch 1: $answer"
	kill -STOP "$(redis_pid)"
	ask 'batch kc:late 5'
	[[ $answer == "error gave_up=1: timed out ms="* ]] || fail "batch 2: $answer"
	ask abandon
	kill -CONT "$(redis_pid)"
	# The server goes on and runs the batch that was sent before it stopped.
	wait_for 10 eval '[ "$(rcli get kc:late)" = 5 ]'
	ask 'batch kc:next 7'
	[[ $answer == "ok ms="* ]] || fail "batch 3: $answer"
	assert_equal "$(rcli get kc:next)" 7
	assert_equal "$(rcli get kc:first)" 1
	assert_equal "$(cat driver.err)" ''
}
