#!/usr/bin/env bats
# The Redis sink on a private server: counts in Redis equal what -c prints, batches, the
# --checkpoint exactly-once mode, URL forms and databases, passwords, --ttl, a live pipe,
# SIGTERM, Redis dead letters and the usage errors of the Redis options.

load helper
load redis


teardown() {
	tcp_stop
	redis_teardown
}

# doubled: the KEY<TAB>COUNT lines of stdin with every count doubled.
doubled() {
	awk -F '\t' '{ printf "%s\t%d\n", $1, 2 * $2 }'
}

# --- Redis equals -c ---------------------------------------------------------------------

@test "redis: Lambda events with several events per record give the counts -c prints" {
	gen_lambda 200 50 > in
	run -0 --separate-stderr kc -c "${KC_KEYS[@]}" in
	printf '%s\n' "$output" > want
	[ "$(wc -l < want)" -gt 100 ]
	run -0 --separate-stderr kc -r "$REDIS_URL" --stats=json "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(redis_counters)" "$(cat want)"
	# One batch per Lambda event; nothing was a duplicate.
	assert_equal "$(stat_of records)" 10000
	assert_equal "$(stat_of batches)" 200
	assert_equal "$(stat_of duplicates)" 0
	assert_equal "$(stat_of rejected)" 0
	[ "$(stat_of redis_commands)" -gt 0 ]
}

@test "redis: JSON lines with --batch give the counts -c prints, one batch per N records" {
	gen_ndjson 1000 > in
	run -0 --separate-stderr kc -c -f json "${KC_KEYS[@]}" in
	printf '%s\n' "$output" > want
	run -0 --separate-stderr kc -r "$REDIS_URL" -f json --batch 7 --stats=json "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(redis_counters)" "$(cat want)"
	# 1000 records in batches of 7: 142 full ones and one of 6.
	assert_equal "$(stat_of batches)" 143
	assert_equal "$(stat_of records)" 1000
}

@test "redis: without --checkpoint a second run of the same input doubles every counter" {
	gen_lambda 20 10 > in
	run -0 --separate-stderr kc -c "${KC_KEYS[@]}" in
	printf '%s\n' "$output" > want
	run -0 --separate-stderr kc -r "$REDIS_URL" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	run -0 --separate-stderr kc -r "$REDIS_URL" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(doubled < want)"
}

# --- --checkpoint ----------------------------------------------------------------------------

@test "checkpoint: a second run of the same input changes nothing and counts duplicates" {
	gen_lambda 100 20 > in
	expect_counts in > want
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(stat_of duplicates)" 0
	assert_equal "$(checkpoint)" "$(last_seq in)"
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(stat_of records)" 2000
	assert_equal "$(stat_of duplicates)" 2000
	assert_equal "$(checkpoint)" "$(last_seq in)"
}

@test "checkpoint: a replay that overlaps what was applied adds only the new records" {
	gen_lambda 50 20 > a
	gen_lambda 50 20 1000 > b
	cat a b > all
	expect_counts all > want
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" a
	assert_equal "$(checkpoint)" "$(last_seq a)"
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" all
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(stat_of duplicates)" 1000
	assert_equal "$(checkpoint)" "$(last_seq all)"
}

@test "checkpoint: sequence numbers compare by length first, never as text or doubles" {
	# 9 < 10 as numbers although '9' > '1' as text; 2^53 + 1 and 2^53 are one double.
	{
		lambda_event 9 '{"page":"cart","n":1}'
		lambda_event 10 '{"page":"cart","n":2}'
		lambda_event 9007199254740992 '{"page":"cart","n":3}'
		lambda_event 9007199254740993 '{"page":"cart","n":4}'
	} > in
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" $'kc:cart\t4\nkc:cart:1\t1\nkc:cart:2\t1\nkc:cart:3\t1\nkc:cart:4\t1'
	assert_equal "$(checkpoint)" 9007199254740993
	# Replayed, only the record above the checkpoint is new.
	lambda_event 9007199254740994 '{"page":"cart","n":5}' >> in
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(stat_of duplicates)" 4
	assert_equal "$(redis_counters)" $'kc:cart\t5\nkc:cart:1\t1\nkc:cart:2\t1\nkc:cart:3\t1\nkc:cart:4\t1\nkc:cart:5\t1'
}

@test "checkpoint: --show-checkpoint prints the stored sequence number, nothing when none" {
	gen_lambda 3 4 > in
	run -0 --separate-stderr kc -r "$REDIS_URL" --show-checkpoint "$CKPT_FIELD"
	assert_output ''
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" in
	run -0 --separate-stderr kc -r "$REDIS_URL" --show-checkpoint "$CKPT_FIELD"
	assert_output "$(last_seq in)"
	assert_equal "$stderr" ''
	run -0 --separate-stderr kc -r "$REDIS_URL" --show-checkpoint clicks/shardId-000000000001
	assert_output ''
}

@test "checkpoint: --checkpoint-key stores the checkpoints in another hash" {
	gen_lambda 3 4 > in
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --checkpoint-key ck:mine \
		"${KC_KEYS[@]}" in
	assert_equal "$(checkpoint "$CKPT_FIELD" ck:mine)" "$(last_seq in)"
	assert_equal "$(rcli exists kincount:checkpoints)" 0
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint-key ck:mine \
		--show-checkpoint "$CKPT_FIELD"
	assert_output "$(last_seq in)"
}

@test "checkpoint: get-records input with --shard and --stream, field STREAM/SHARD" {
	printf '{"Records":[{"SequenceNumber":"%s","PartitionKey":"p","Data":"%s"},{"SequenceNumber":"%s","PartitionKey":"p","Data":"%s"}],"NextShardIterator":"x","MillisBehindLatest":0}\n' \
		4959 "$(b64 '{"page":"cart","n":1}')" 4961 "$(b64 '{"page":"home","n":2}')" > in
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f get-records \
		--shard shardId-000000000007 --stream orders "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" $'kc:cart\t1\nkc:cart:1\t1\nkc:home\t1\nkc:home:2\t1'
	assert_equal "$(rcli hgetall kincount:checkpoints)" $'orders/shardId-000000000007\n4961'
	# Without --stream the stream part of the field is empty.
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f get-records \
		--shard shardId-000000000007 "${KC_KEYS[@]}" in
	assert_equal "$(checkpoint /shardId-000000000007)" 4961
}

@test "checkpoint: a record whose sequence number is malformed is rejected" {
	long=$(printf '1%.0s' {1..130})
	{
		lambda_event 0 '{"page":"cart","n":1}'
		lambda_event 01 '{"page":"cart","n":2}'
		lambda_event abc '{"page":"cart","n":3}'
		lambda_event "$long" '{"page":"cart","n":4}'
		lambda_event 7 '{"page":"cart","n":7}'
	} > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$stderr" "kincount: in:2: record 2 (seq 01): bad sequence number
kincount: in:3: record 3 (seq abc): bad sequence number
kincount: in:4: record 4 (seq $long): bad sequence number
kincount: 3 rejected (bad sequence number: 3)"
	assert_equal "$(redis_counters)" $'kc:cart\t2\nkc:cart:1\t1\nkc:cart:7\t1'
	assert_equal "$(checkpoint)" 7
}

@test "checkpoint: a record without a sequence number is rejected as a bad sequence number" {
	{
		lambda_event 5 '{"page":"cart","n":5}' | jq -c 'del(.Records[0].kinesis.sequenceNumber)'
		lambda_event 7 '{"page":"cart","n":7}'
	} > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$stderr" $'kincount: in:1: record 1: bad sequence number\nkincount: 1 rejected (bad sequence number: 1)'
	assert_equal "$(redis_counters)" $'kc:cart\t1\nkc:cart:7\t1'
	assert_equal "$(checkpoint)" 7
}

# --- URLs, databases, passwords --------------------------------------------------------------

@test "url: unix:///PATH?db=2 counts in database 2 only" {
	gen_lambda 10 10 > in
	run -0 --separate-stderr kc -c "${KC_KEYS[@]}" in
	printf '%s\n' "$output" > want
	run -0 --separate-stderr kc -r "$REDIS_URL?db=2" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters 2)" "$(cat want)"
	assert_equal "$(redis_counters 0)" ''
	assert_equal "$(rcli -n 0 dbsize)" 0
	# The checkpoint lives in the same database as the counts.
	run -0 --separate-stderr kc -r "$REDIS_URL?db=2" --checkpoint "${KC_KEYS[@]}" in
	assert_equal "$(rcli -n 2 hget kincount:checkpoints "$CKPT_FIELD")" "$(last_seq in)"
	assert_equal "$(rcli -n 0 dbsize)" 0
}

@test "url: redis://HOST:PORT, HOST:PORT and redis://HOST:PORT/DB over TCP" {
	tcp_start
	RCLI_ADDR=(-h 127.0.0.1 -p "$TCP_PORT")
	gen_lambda 10 10 > in
	run -0 --separate-stderr kc -c "${KC_KEYS[@]}" in
	printf '%s\n' "$output" > want
	run -0 --separate-stderr kc -r "redis://127.0.0.1:$TCP_PORT" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	run -0 --separate-stderr kc -r "127.0.0.1:$TCP_PORT" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(doubled < want)"
	run -0 --separate-stderr kc -r "redis://127.0.0.1:$TCP_PORT/3" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters 3)" "$(cat want)"
	# Nothing went to the private Unix socket server.
	RCLI_ADDR=(-s "$REDIS_SOCK")
	assert_equal "$(rcli dbsize)" 0
}

@test "url: a password in a redis:// URL works; a wrong one exits 3 without printing it" {
	tcp_start
	RCLI_ADDR=(-h 127.0.0.1 -p "$TCP_PORT")
	[ "$(rcli config set requirepass Url-Pw-5e1b)" = OK ]
	gen_lambda 5 5 > in
	run -0 --separate-stderr kc -r "redis://:Url-Pw-5e1b@127.0.0.1:$TCP_PORT" "${KC_KEYS[@]}" in
	run -0 --separate-stderr kc -r "redis://default:Url-Pw-5e1b@127.0.0.1:$TCP_PORT/1" \
		"${KC_KEYS[@]}" in
	assert_equal "$(REDISCLI_AUTH=Url-Pw-5e1b redis_counters)" "$(expect_counts in)"
	assert_equal "$(REDISCLI_AUTH=Url-Pw-5e1b redis_counters 1)" "$(expect_counts in)"
	start=$(now)
	run -3 --separate-stderr kc -r "redis://:Bad-Url-Pw-44d0@127.0.0.1:$TCP_PORT" \
		"${KC_KEYS[@]}" in
	elapsed_below "$start" 1.5
	stderr_has_re '^kincount: redis: authentication failed'
	[[ $stderr != *Bad-Url-Pw-44d0* ]] || fail "the password is in stderr: $stderr"
	assert_equal "$(REDISCLI_AUTH=Url-Pw-5e1b redis_counters)" "$(expect_counts in)"
}

@test "auth: the right REDISCLI_AUTH works; a wrong or missing one exits 3 at once, unprinted" {
	RESTART_AFTER=1
	gen_lambda 5 5 > in
	expect_counts in > want
	[ "$(rcli config set requirepass Right-Pw-7f3a)" = OK ]
	run -0 --separate-stderr env REDISCLI_AUTH=Right-Pw-7f3a timeout 60 "$KINCOUNT" \
		-r "$REDIS_URL" "${KC_KEYS[@]}" in
	assert_equal "$(REDISCLI_AUTH=Right-Pw-7f3a redis_counters)" "$(cat want)"
	# A wrong password: no retry loop (the default 5 retries would take over 3 s).
	start=$(now)
	run -3 --separate-stderr env REDISCLI_AUTH=Wrong-Pw-91c2 timeout 60 "$KINCOUNT" \
		-r "$REDIS_URL" "${KC_KEYS[@]}" in
	elapsed_below "$start" 1.5
	assert_output ''
	stderr_has_re '^kincount: redis: authentication failed'
	[[ $stderr != *Wrong-Pw-91c2* && $stderr != *Right-Pw-7f3a* ]] ||
		fail "a password is in stderr: $stderr"
	# No password at all (NOAUTH).
	start=$(now)
	run -3 --separate-stderr env -u REDISCLI_AUTH timeout 60 "$KINCOUNT" \
		-r "$REDIS_URL" "${KC_KEYS[@]}" in
	elapsed_below "$start" 1.5
	stderr_has_re '^kincount: redis: authentication failed'
	assert_equal "$(REDISCLI_AUTH=Right-Pw-7f3a redis_counters)" "$(cat want)"
}

# --- --ttl -----------------------------------------------------------------------------------

@test "ttl: --ttl sets a TTL on keys without one and leaves an existing TTL alone" {
	gen_ndjson 8 > in
	[ "$(rcli set kc:cart 10 EX 5000)" = OK ]
	[ "$(rcli set kc:home 7)" = OK ]
	run -0 --separate-stderr kc -r "$REDIS_URL" -f json --ttl 100 "${KC_KEYS[@]}" in
	assert_equal "$(rcli get kc:cart)" 12
	assert_equal "$(rcli get kc:home)" 9
	ttl=$(rcli ttl kc:cart)
	[ "$ttl" -gt 4000 ] && [ "$ttl" -le 5000 ] || fail "kc:cart ttl $ttl, want it kept near 5000"
	# kc:home had none, the new keys had none: now all are at most 100.
	n=0
	for k in $(rcli --scan --pattern 'kc:*'); do
		[ "$k" = kc:cart ] && continue
		ttl=$(rcli ttl "$k")
		[ "$ttl" -gt 0 ] && [ "$ttl" -le 100 ] || fail "$k has ttl $ttl, want 1..100"
		n=$((n + 1))
	done
	assert_equal "$n" 11
	# A later run with another --ttl does not move them.
	run -0 --separate-stderr kc -r "$REDIS_URL" -f json --ttl 9000 "${KC_KEYS[@]}" in
	for k in $(rcli --scan --pattern 'kc:*'); do
		ttl=$(rcli ttl "$k")
		[ "$ttl" -le 5000 ] || fail "$k has ttl $ttl after a second run with --ttl 9000"
	done
	assert_equal "$(rcli get kc:cart)" 14
}

# --- live pipes and signals ------------------------------------------------------------------

@test "pipe: what a live pipe delivered is in Redis while kincount still runs (--flush-ms)" {
	gen_ndjson 300 > a
	gen_ndjson 200 300 > b
	expect_counts a > want_a
	expect_counts a b > want_ab
	mkfifo fifo
	kc_bg -r "$REDIS_URL" -f json --flush-ms 200 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat a >&5
	# The writer stays open: only the idle flush can bring a to Redis.
	wait_for 10 counters_are want_a
	alive "$KPID" || fail "kincount ended early: $(cat err)"
	cat b >&5
	exec 5>&-
	kc_wait 20
	assert_equal "$KSTATUS" 0
	assert_equal "$kstderr" ''
	assert_equal "$(redis_counters)" "$(cat want_ab)"
}

@test "signal: SIGTERM mid-input applies the records read so far and exits 143" {
	gen_ndjson 300 > a
	gen_ndjson 200 300 > b
	expect_counts a > want_a
	mkfifo fifo
	kc_bg -r "$REDIS_URL" -f json --flush-ms 30000 "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	cat a >&5
	# a is read and kincount waits for more; neither --batch nor --flush-ms has applied
	# anything yet.
	wait_for 20 idle_on "$KPID" 5
	assert_equal "$(redis_counters)" ''
	kill -TERM "$KPID"
	kc_wait 10
	exec 5>&-
	assert_equal "$KSTATUS" 143
	assert_equal "$(redis_counters)" "$(cat want_a)"
}

# --- dead letters ----------------------------------------------------------------------------

@test "dead letters: --dead-letter redis:KEY pushes rejected records onto a list" {
	{
		lambda_event 1 '{"page":"cart","n":1}'
		lambda_event 2 '{"page":"cart","n":2}' | sed 's/"data":"[^"]*"/"data":"!!!!"/'
		lambda_event 3 '{"page":"home","n":3}'
	} > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --dead-letter redis:kincount:dead \
		"${KC_KEYS[@]}" in
	assert_equal "$stderr" $'kincount: in:2: record 2 (seq 2): invalid base64\nkincount: 1 rejected (invalid base64: 1)'
	assert_equal "$(redis_counters)" $'kc:cart\t1\nkc:cart:1\t1\nkc:home\t1\nkc:home:3\t1'
	assert_equal "$(rcli llen kincount:dead)" 1
	assert_equal "$(rcli lindex kincount:dead 0 | jq -c '[.reason, .source, .record, .sequence_number, .partition_key, .data]')" \
		'["invalid base64","in:2",2,"2","pk-2","!!!!"]'
	[ ! -e redis:kincount:dead ]
}

@test "dead letters: a key refused in the last batch reaches the redis:KEY list" {
	{
		lambda_event 1 '{"page":"cart","n":1}'
		lambda_event 2 '{"page":"home","n":2}'
	} > in
	rcli set kc:home notanumber > /dev/null
	run -1 --separate-stderr kc -r "$REDIS_URL" --dead-letter redis:kincount:dead \
		"${KC_KEYS[@]}" in
	assert_equal "$(rcli get kc:home)" notanumber
	assert_equal "$(rcli llen kincount:dead)" 1
	assert_equal "$(rcli lindex kincount:dead 0 | jq -c '[.reason, .source, .key, .count]')" \
		'["refused by Redis: ERR value is not an integer or out of range","redis","kc:home",1]'
}

# --- usage errors ----------------------------------------------------------------------------

@test "usage: Redis options that do not fit together exit 2 before anything is written" {
	gen_lambda 1 1 > in
	run -2 --separate-stderr kc -r "$REDIS_URL" -c in
	run -2 --separate-stderr kc -r "$REDIS_URL" -d in
	run -2 --separate-stderr kc --checkpoint in
	stderr_has 'kincount: --checkpoint needs -r'
	run -2 --separate-stderr kc --ttl 60 in
	stderr_has 'kincount: --ttl needs -r'
	run -2 --separate-stderr kc --batch 10 -f json in
	stderr_has 'kincount: --batch needs -r'
	# The message may go on with a hint after ': '.
	run -2 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f json in
	stderr_has_re '^kincount: --checkpoint needs sequence numbers($|: )'
	run -2 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f base64 in
	stderr_has_re '^kincount: --checkpoint needs sequence numbers($|: )'
	run -2 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f get-records in
	stderr_has 'kincount: --checkpoint with get-records input needs --shard'
	run -2 --separate-stderr kc -r "$REDIS_URL" --batch abc in
	stderr_has "kincount: --batch: invalid number 'abc'"
	assert_equal "$(rcli dbsize)" 0
}
