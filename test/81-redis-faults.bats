#!/usr/bin/env bats
# Faults around the Redis sink, made for real: keys the server refuses, no server, kincount
# or the server killed mid-run, a stopped or paused server, a full server, a server killed
# during a large pipeline, a restart and a lost script cache between batches, a full
# dead-letter disk and a closed stdout. After each, the counters in Redis are checked against
# counts worked out with python3 from the input: every record counted exactly once.

load helper
load redis

# --- keys the server refuses -----------------------------------------------------------------

@test "refused: a non-integer, a hash and an overflowing key are refused, the rest is exact" {
	gen_ndjson 40 > in
	[ "$(rcli set kc:cart abc)" = OK ]
	[ "$(rcli hset kc:home f 1)" = 1 ]
	[ "$(rcli set kc:search 9223372036854775807)" = OK ]
	{
		expect_counts in | grep -Ev $'^kc:(cart|home|search)\t'
		printf 'kc:cart\tabc\nkc:home\t<hash>\nkc:search\t9223372036854775807\n'
	} | sort > want
	# Two batches of 20 records, each with all three poisoned keys.
	run -1 --separate-stderr kc -r "$REDIS_URL" -f json --batch 20 --dead-letter dl \
		"${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(rcli hgetall kc:home)" $'f\n1'
	stderr_has_re "^kincount: redis: key 'kc:cart' refused \(count 5\): ERR "
	stderr_has_re "^kincount: redis: key 'kc:home' refused \(count 5\): (ERR|WRONGTYPE) "
	stderr_has_re "^kincount: redis: key 'kc:search' refused \(count 5\): ERR "
	stderr_has 'kincount: 6 rejected (refused by Redis: 6)'
	# One dead letter per key and batch, source "redis"; per key they add up to its count.
	assert_equal "$(wc -l < dl)" 6
	assert_equal "$(jq -r 'select(.source == "redis" and (.reason | startswith("refused by Redis: ")) and (.count | type) == "number") | .key' dl | sort | uniq -c | awk '{ print $2, $1 }')" \
		$'kc:cart 2\nkc:home 2\nkc:search 2'
	assert_equal "$(jq -s -c 'group_by(.key) | map([.[0].key, (map(.count) | add)])' dl)" \
		'[["kc:cart",10],["kc:home",10],["kc:search",10]]'
}

# --- no server -------------------------------------------------------------------------------

@test "no server: exit 3 within the --retries and --timeout-ms bounds, naming the address" {
	lambda_event 1 '{"page":"cart","n":1}' > in
	start=$(now)
	run -3 --separate-stderr kc -r "unix://$BATS_TEST_TMPDIR/no-such.sock" --retries 2 \
		--timeout-ms 200 "${KC_KEYS[@]}" in
	elapsed_below "$start" 3
	assert_output ''
	stderr_has "kincount: redis: cannot connect to unix://$BATS_TEST_TMPDIR/no-such.sock: No such file or directory (after 2 retries)"
	assert_equal "$(grep -c 'cannot connect' <<< "$stderr")" 1
}

# --- kincount killed -------------------------------------------------------------------------

@test "kill -9 of kincount mid-run: a rerun with --checkpoint counts every record once" {
	gen_lambda 200 50 > in
	head -n 100 in > half
	expect_counts in > want
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat half >&5
	# Half the input applied, the other half not sent yet: then the crash.
	half_seq=$(last_seq half)
	wait_for 20 eval '[ "$(checkpoint)" = "$half_seq" ]'
	kill -9 "$KPID"
	kc_wait 10
	exec 5>&-
	assert_equal "$KSTATUS" 137
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(stat_of duplicates)" 5000
	assert_equal "$(checkpoint)" "$(last_seq in)"
}

# --- server killed, stopped, paused, full ----------------------------------------------------

@test "kill -9 of the server mid-run, restarted from its AOF: the run finishes exact" {
	gen_lambda 150 40 > in
	head -n 75 in > half
	expect_counts in > want
	expect_counts half > want_half
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --retries 10 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat half >&5
	# Half applied; the server dies and comes back from its AOF; then the other half.
	wait_for 20 counters_are want_half
	redis_kill9
	# Not 5: the server must not hold the fifo open.
	redis_restart 5>&-
	tail -n +76 in >&5
	exec 5>&-
	kc_wait 60
	assert_equal "$KSTATUS" 0 "exit status; stderr: $kstderr"
	assert_equal "$(redis_counters)" "$(cat want)"
}

@test "SIGSTOP of the server for longer than --timeout-ms, then SIGCONT: no double counts" {
	RESTART_AFTER=1
	gen_lambda 3 40 > in
	expect_counts in > want
	sed -n 1p in > first
	expect_counts first > want_first
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --timeout-ms 300 --retries 10 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	sed -n 1p in >&5
	wait_for 20 counters_are want_first
	# The second event (one batch) goes to a stopped server: it waits in the socket while
	# kincount times out and connects again; only then the server goes on and finds the
	# batch twice, once on the old connection and once retried under the same token.
	kill -STOP "$(redis_pid)"
	old=$(sockets_of "$KPID")
	[ -n "${old// /}" ] || fail "kincount has no socket"
	sed -n 2p in >&5
	wait_for 20 sockets_changed "$KPID" "$old"
	kill -CONT "$(redis_pid)"
	sed -n 3p in >&5
	exec 5>&-
	kc_wait 60
	assert_equal "$KSTATUS" 0 "exit status; stderr: $kstderr"
	assert_equal "$(redis_counters)" "$(cat want)"
}

@test "SIGSTOP of the server until kincount gives up: exit 3, then a rerun is exact" {
	RESTART_AFTER=1
	gen_lambda 100 40 > in
	expect_counts in > want
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --checkpoint --timeout-ms 300 --retries 1 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	head -n 1 in >&5
	wait_for 20 has_checkpoint
	# One batch applied; the rest goes to a stopped server.
	kill -STOP "$(redis_pid)"
	tail -n +2 in >&5 &
	kc_wait 20
	exec 5>&-
	kill -CONT "$(redis_pid)"
	assert_equal "$KSTATUS" 3 "exit status; stderr: $kstderr"
	stderr=$kstderr
	stderr_has_re '^kincount: redis: batch [0-9]+ not applied after 1 retr(y|ies): .+ \([1-9][0-9]* batch(es)? applied\)$'
	assert_equal "$(grep -c 'not applied' <<< "$stderr")" 1
	# A batch that timed out may still land after SIGCONT; the rerun must not add it again.
	[ "$(rcli ping)" = PONG ]
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(checkpoint)" "$(last_seq in)"
}

@test "CLIENT PAUSE 2000 WRITE with --timeout-ms 300: the run finishes exact" {
	gen_lambda 100 40 > in
	expect_counts in > want
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --timeout-ms 300 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	head -n 1 in >&5
	wait_for 20 has_counters
	# The rest goes to a server that holds every write for 2 s.
	[ "$(rcli client pause 2000 write)" = OK ]
	tail -n +2 in >&5
	exec 5>&-
	kc_wait 60
	assert_equal "$KSTATUS" 0 "exit status; stderr: $kstderr"
	assert_equal "$(redis_counters)" "$(cat want)"
}

@test "OOM: a full server (maxmemory, noeviction) is exit 3 saying OOM, counters unchanged" {
	RESTART_AFTER=1
	gen_lambda 5 10 > in
	[ "$(rcli debug populate 200000 fill 100)" = OK ]
	[ "$(rcli config set maxmemory-policy noeviction)" = OK ]
	[ "$(rcli config set maxmemory 1mb)" = OK ]
	run -3 --separate-stderr kc -r "$REDIS_URL" --checkpoint --retries 1 --timeout-ms 300 \
		"${KC_KEYS[@]}" in
	assert_output ''
	stderr_has_re '^kincount: redis: batch 1 not applied after 1 retr(y|ies): .*OOM.* \(0 batches applied\)$'
	assert_equal "$(grep -c 'not applied' <<< "$stderr")" 1
	# Nothing was written: no counter, no checkpoint, no batch token.
	assert_equal "$(rcli dbsize)" 200000
	assert_equal "$(rcli --scan --pattern 'kc:*')" ''
}

@test "server killed during a large pipeline: exit 3, never death by SIGPIPE (141)" {
	RESTART_AFTER=1
	# 200000 distinct keys in one batch: megabytes for the socket, far more than its buffer.
	awk 'BEGIN { for (i = 0; i < 200000; i++) printf "{\"page\":\"p\",\"n\":%d}\n", i }' > big
	mkfifo fifo
	[ "$(rcli script flush)" = OK ]
	kc_bg -r "$REDIS_URL" -f json --batch 200000 --flush-ms 60000 --retries 1 \
		--timeout-ms 60000 -k 'kc:{n}' < fifo &
	KPID=$!
	exec 5> fifo
	# Connected, script loaded, waiting for input: now the server stops reading.
	wait_for 20 script_cached
	wait_for 20 in_syscall "$KPID" poll read
	kill -STOP "$(redis_pid)"
	cat big >&5
	exec 5>&-
	# The batch goes to a server that reads nothing: kincount blocks in write(2), with the
	# socket buffer full. Only then the server dies under it.
	wait_for 30 in_syscall "$KPID" write sendto
	redis_kill9
	kc_wait 30
	[ "$KSTATUS" -ne 141 ] || fail "kincount was killed by SIGPIPE"
	assert_equal "$KSTATUS" 3 "exit status; stderr: $kstderr"
	stderr=$kstderr
	stderr_has_re '^kincount: redis: batch 1 not applied after 1 retr(y|ies): .+ \(0 batches applied\)$'
}

# --- between batches -------------------------------------------------------------------------

@test "script cache flushed, then the server restarted, between batches: exact" {
	gen_ndjson 300 > a
	gen_ndjson 300 300 > b
	gen_ndjson 300 600 > c
	expect_counts a > want_a
	expect_counts a b > want_ab
	expect_counts a b c > want_abc
	mkfifo fifo
	kc_bg -r "$REDIS_URL" -f json --flush-ms 200 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat a >&5
	wait_for 10 counters_are want_a
	[ "$(rcli script flush)" = OK ]
	cat b >&5
	wait_for 10 counters_are want_ab
	# Not 5: the server must not hold the fifo open.
	redis_restart 5>&-
	cat c >&5
	exec 5>&-
	kc_wait 20
	assert_equal "$KSTATUS" 0 "exit status; stderr: $kstderr"
	assert_equal "$(redis_counters)" "$(cat want_abc)"
}

# --- local I/O -------------------------------------------------------------------------------

@test "dead letters to a full disk (/dev/full) exit 4" {
	{
		lambda_event 1 '{"page":"cart","n":1}'
		lambda_event 2 '{"page":"cart","n":2}' | sed 's/"data":"[^"]*"/"data":"!!!!"/'
	} > in
	run -4 --separate-stderr kc -r "$REDIS_URL" --dead-letter /dev/full "${KC_KEYS[@]}" in
	assert_output ''
}

@test "a closed stdout does not stop the Redis sink" {
	gen_lambda 10 10 > in
	expect_counts in > want
	run -0 --separate-stderr bash -c 'exec >&-; exec timeout 60 "$@"' - "$KINCOUNT" \
		-r "$REDIS_URL" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
}
