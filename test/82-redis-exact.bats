#!/usr/bin/env bats
# Exactness of the Redis sink under hostile conditions (issue 7): a batch script that fails
# writes nothing (every way it can fail, checked against a full dump of the server), a
# signal ends the retries at once, URLs read as redis-cli reads them, checkpoint fields that
# cannot collide, messages that say what failed and where, empty keys, and a count table of
# many keys that stays exact.

load helper
load redis

# dump: every key of database 0 with its type, its value and whether it has a TTL, sorted;
# for comparing the whole server before and after a run.
dump() {
	rcli eval '
		local r = {}
		for _, k in ipairs(redis.call("KEYS", "*")) do
			local t = redis.call("TYPE", k)["ok"]
			local v
			if t == "string" then
				v = redis.call("GET", k)
			elseif t == "hash" then
				local h = redis.call("HGETALL", k)
				local f = {}
				for i = 1, #h, 2 do f[#f + 1] = h[i] .. "=" .. h[i + 1] end
				table.sort(f)
				v = table.concat(f, ",")
			elseif t == "list" then
				v = table.concat(redis.call("LRANGE", k, 0, -1), ",")
			else
				v = "?"
			end
			local ttl = redis.call("PTTL", k) >= 0 and "ttl" or "persistent"
			r[#r + 1] = k .. " " .. t .. " " .. ttl .. " " .. v
		end
		return r' 0 | sort
}

# seed: a server that already holds counters, a checkpoint below the records of gen_lambda,
# an old dead letter and a counter with a TTL.
seed() {
	[ "$(rcli set kc:cart 100)" = OK ]
	[ "$(rcli set kc:home 7)" = OK ]
	[ "$(rcli set kc:ttl 3 EX 1000)" = OK ]
	[ "$(rcli hset kincount:checkpoints "$CKPT_FIELD" 1)" = 1 ]
	[ "$(rcli rpush dl old-letter)" = 1 ]
}

# bad_input: one Lambda event of 4 records; record 2 has invalid base64, so it is rejected
# and makes a dead letter; the batch uses INCRBY, HSET (--checkpoint), RPUSH (--dead-letter
# redis:dl), SET (the token) and EXPIRE (--ttl).
bad_input() {
	gen_lambda 1 4 | jq -c '.Records[2].kinesis.data = "@@@@"'
}


teardown() {
	tcp_stop
	redis_teardown
}

# no_write_when_denied CMD: with the default user denied CMD, a run that needs it exits 3,
# says so, and the server is exactly as before.
no_write_when_denied() {
	local cmd=$1 before
	bad_input > in
	seed
	before=$(dump)
	[ "$(rcli acl setuser default "-$cmd")" = OK ]
	run -3 --separate-stderr kc -r "$REDIS_URL" --checkpoint --dead-letter redis:dl --ttl 60 \
		"${KC_KEYS[@]}" in
	[ "$(rcli acl setuser default +@all)" = OK ]
	assert_output ''
	assert_equal "$(dump)" "$before"
	LC_ALL=C stderr_has_re "^kincount: redis: batch 1 not applied: this user may not run $cmd on key '[^']+' \(0 batches applied\)$"
}

# --- item 2: a batch is applied whole or not at all -----------------------------------------

@test "script: a dead-letter key that holds a string: exit 3, nothing written" {
	bad_input > in
	seed
	[ "$(rcli set dl not-a-list)" = OK ]
	before=$(dump)
	run -3 --separate-stderr kc -r "$REDIS_URL" --checkpoint --dead-letter redis:dl \
		"${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(dump)" "$before"
	stderr_has "kincount: redis: batch 1 not applied: key 'dl' holds a string, not a list (0 batches applied)"
}

@test "script: a checkpoint key that holds a list: exit 3, nothing written" {
	bad_input > in
	seed
	[ "$(rcli rpush ck x)" = 1 ]
	before=$(dump)
	run -3 --separate-stderr kc -r "$REDIS_URL" --checkpoint --checkpoint-key ck \
		--dead-letter redis:dl "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(dump)" "$before"
	stderr_has_re '^kincount: redis: .*WRONGTYPE'
}

@test "script: counter keys that are kincount's own keys are refused, the rest is exact" {
	# Keys made from the input: the checkpoint hash, the dead-letter list and a batch
	# token's prefix. An INCRBY on the first two would make the HSET or RPUSH fail after
	# the counters were written.
	{
		lambda_event 1 '{"k":"kincount:checkpoints"}'
		lambda_event 3 '{"k":"dl"}'
		lambda_event 5 '{"k":"kc:a"}'
		lambda_event 7 'not json'
	} > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint --dead-letter redis:dl -k '{k}' in
	assert_output ''
	assert_equal "$(rcli get kc:a)" 1
	assert_equal "$(rcli type kincount:checkpoints)" hash
	assert_equal "$(rcli type dl)" list
	assert_equal "$(rcli hget kincount:checkpoints "clicks/shardId-000000000000")" 7
	stderr_has_re "^kincount: redis: key 'kincount:checkpoints' refused \(count 1\): ERR the key is one of kincount's own"
	stderr_has_re "^kincount: redis: key 'dl' refused \(count 1\): ERR the key is one of kincount's own"
	# The rejected record and the two refused keys are in the list.
	assert_equal "$(rcli lrange dl 0 -1 | jq -r '.key // .reason' | sort | tr '\n' ' ')" \
		'dl kincount:checkpoints payload is not a JSON object '
}

@test "script: --ttl beyond what EXPIRE and the script hold is a usage error; the largest works" {
	bad_input > in
	seed
	before=$(dump)
	# The real limit of EXPIRE: milliseconds from now must fit in a signed 64-bit number.
	assert_equal "$(rcli expire kc:home 9223372036854775)" \
		"ERR invalid expire time in 'expire' command"
	for ttl in 9000000000000001 9223372036854775 4611686018427387903; do
		run -2 --separate-stderr kc -r "$REDIS_URL" --ttl "$ttl" "${KC_KEYS[@]}" in
		assert_output ''
		assert_equal "$(head -n 1 <<< "$stderr")" "kincount: --ttl: out of range '$ttl'"
	done
	assert_equal "$(dump)" "$before"
	run -1 --separate-stderr kc -r "$REDIS_URL" --ttl 9000000000000000 "${KC_KEYS[@]}" in
	# Counters without a TTL get it (less the seconds passed); one with a TTL keeps its own.
	for k in kc:item kc:cart; do
		ttl=$(rcli ttl "$k")
		[ "$ttl" -le 9000000000000000 ] && [ "$ttl" -gt 8999999999999990 ] ||
			fail "TTL of $k: $ttl"
	done
	[ "$(rcli ttl kc:ttl)" -le 1000 ]
}

@test "script: a user denied INCRBY: exit 3, nothing written" {
	RESTART_AFTER=1
	no_write_when_denied INCRBY
}

@test "script: a user denied EXPIRE: exit 3, nothing written" {
	RESTART_AFTER=1
	no_write_when_denied EXPIRE
}

@test "script: a user denied HSET: exit 3, nothing written" {
	RESTART_AFTER=1
	no_write_when_denied HSET
}

@test "script: a user denied RPUSH: exit 3, nothing written" {
	RESTART_AFTER=1
	no_write_when_denied RPUSH
}

@test "script: a user denied SET: exit 3, nothing written" {
	RESTART_AFTER=1
	no_write_when_denied SET
}

@test "script: a user denied a read the script makes (EXISTS, TYPE): exit 3, nothing written" {
	RESTART_AFTER=1
	bad_input > in
	seed
	before=$(dump)
	for cmd in EXISTS TYPE; do
		[ "$(rcli acl setuser default "-$cmd")" = OK ]
		run -3 --separate-stderr kc -r "$REDIS_URL" --checkpoint --dead-letter redis:dl \
			"${KC_KEYS[@]}" in
		[ "$(rcli acl setuser default +@all)" = OK ]
		assert_output ''
		assert_equal "$(dump)" "$before"
		stderr_has_re "^kincount: redis: batch 1 not applied: ERR The user executing the script can't run this command or subcommand .*\\(0 batches applied\\)$"
	done
}

@test "script: a full server (OOM) with --retries 0: exit 3, nothing written" {
	RESTART_AFTER=1
	bad_input > in
	seed
	before=$(dump)
	[ "$(rcli config set maxmemory-policy noeviction)" = OK ]
	[ "$(rcli config set maxmemory 1)" = OK ]
	run -3 --separate-stderr kc -r "$REDIS_URL" --retries 0 --checkpoint --dead-letter redis:dl \
		"${KC_KEYS[@]}" in
	[ "$(rcli config set maxmemory 0)" = OK ]
	assert_output ''
	assert_equal "$(dump)" "$before"
	stderr_has_re '^kincount: redis: batch 1 not applied after 0 retries: OOM .* \(0 batches applied\)$'
}

# --- item 6: a signal ends the retries ------------------------------------------------------

# signal_in_backoff SIG STATUS: the server dies mid-run, kincount retries with --retries 100;
# once it sleeps in its back-off, SIG ends it within a fraction of a second.
signal_in_backoff() {
	local sig=$1 status=$2 start
	RESTART_AFTER=1
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --retries 100 "${KC_KEYS[@]}" fifo &
	KPID=$!
	exec 5>fifo
	redis_kill9
	lambda_event 1 '{"page":"cart","n":1}' >&5
	# In the back-off: asleep in nanosleep, not in a read or a connect.
	wait_for 10 grep -q nanosleep "/proc/$KPID/wchan"
	start=$(now)
	kill "-$sig" "$KPID"
	kc_wait 5
	elapsed_below "$start" 0.5
	exec 5>&-
	assert_equal "$KSTATUS" "$status"
	stderr=$kstderr
	stderr_has_re '^kincount: redis: batch 1 not applied( after [0-9]+ retr(y|ies))?: stopped by a signal while retrying: .+ \(0 batches applied\)$'
}

@test "signal: SIGTERM during the retry back-off ends the run at once, exit 143" {
	signal_in_backoff TERM 143
}

@test "signal: SIGINT during the retry back-off ends the run at once, exit 130" {
	signal_in_backoff INT 130
}

# --- item 13: URLs, --show-checkpoint, statistics -------------------------------------------

@test "url: a percent-encoded user and password are decoded, as redis-cli does" {
	tcp_start
	RCLI_ADDR=(-h 127.0.0.1 -p "$TCP_PORT")
	[ "$(rcli acl setuser 'u@s:r' on '>p@ss:w%rd/x' '~*' '&*' '+@all')" = OK ]
	url="redis://u%40s%3Ar:p%40ss%3aw%25rd%2Fx@127.0.0.1:$TCP_PORT"
	# redis-cli reads the URL the same way (an independent check of the encoding).
	assert_equal "$(redis-cli -u "$url" --no-auth-warning acl whoami)" 'u@s:r'
	gen_lambda 3 3 > in
	run -0 --separate-stderr kc -r "$url" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(expect_counts in)"
	# The scheme is case-insensitive.
	run -0 --separate-stderr kc -r "REDIS://u%40s%3Ar:p%40ss%3aw%25rd%2Fx@127.0.0.1:$TCP_PORT/2" \
		"${KC_KEYS[@]}" in
	assert_equal "$(redis_counters 2)" "$(expect_counts in)"
	# A '%' that is not followed by two hex digits is a usage error.
	run -2 --separate-stderr kc -r "redis://u:p%4@127.0.0.1:$TCP_PORT" "${KC_KEYS[@]}" in
	assert_output ''
	stderr_has 'kincount: -r: bad percent-encoding in the user or password'
}

@test "url: UNIX:// is accepted; a database number is digits only" {
	gen_lambda 2 2 > in
	run -0 --separate-stderr kc -r "UNIX://$REDIS_SOCK?db=4" "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters 4)" "$(expect_counts in)"
	for db in ' 1' '+1' '1 ' '-0' '0x1' ''; do
		run -2 --separate-stderr kc -r "unix://$REDIS_SOCK?db=$db" "${KC_KEYS[@]}" in
		assert_output ''
		stderr_has 'kincount: -r: expected ?db=N after the socket path'
	done
	for db in ' 1' '+1' '1 ' '-0'; do
		run -2 --separate-stderr kc -r "redis://127.0.0.1:1/$db" "${KC_KEYS[@]}" in
		assert_output ''
		stderr_has "kincount: -r: bad database number '$db'"
	done
	assert_equal "$(rcli -n 1 dbsize)" 0
}

@test "show-checkpoint: failures say what failed and where, not 'batch 1'" {
	sock=$BATS_TEST_TMPDIR/no-such.sock
	run -3 --separate-stderr kc -r "unix://$sock" --retries 0 --show-checkpoint a/b
	assert_output ''
	assert_equal "$stderr" "kincount: redis: cannot read the checkpoint of a/b: cannot connect to unix://$sock: No such file or directory"
	[ "$(rcli set kincount:checkpoints x)" = OK ]
	run -3 --separate-stderr kc -r "$REDIS_URL" --show-checkpoint a/b
	assert_output ''
	assert_equal "$stderr" "kincount: redis: cannot read the checkpoint of a/b from unix://$REDIS_SOCK: WRONGTYPE Operation against a key holding the wrong kind of value"
}

@test "show-checkpoint: an argument without '/' is a usage error" {
	for arg in shardId-000000000000 ''; do
		run -2 --separate-stderr kc -r "$REDIS_URL" --show-checkpoint "$arg"
		assert_output ''
		stderr_has 'kincount: --show-checkpoint: expected STREAM/SHARD'
		stderr_has 'usage: kincount [options] [file ...]'
	done
}

@test "stats: the dead letters of refused keys are not counted as an extra batch" {
	{
		lambda_event 1 '{"page":"cart","n":1}'
		lambda_event 2 '{"page":"home","n":2}'
	} > in
	[ "$(rcli set kc:home notanumber)" = OK ]
	run -1 --separate-stderr kc -r "$REDIS_URL" --dead-letter redis:dl --stats=json \
		"${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(stat_of batches)" 2
	assert_equal "$(rcli llen dl)" 1
	assert_equal "$(rcli get kc:cart)" 1
}

@test "no server: the message names the address tried" {
	sock=$BATS_TEST_TMPDIR/no-such.sock
	lambda_event 1 '{"page":"cart","n":1}' > in
	run -3 --separate-stderr kc -r "unix://$sock" --retries 1 --timeout-ms 200 "${KC_KEYS[@]}" in
	assert_output ''
	stderr_has "kincount: redis: cannot connect to unix://$sock: No such file or directory (after 1 retry)"
}

# --- item 19: checkpoint fields that cannot collide, -s, --retries 0 ------------------------

@test "checkpoint: '/' in --stream or --shard is a usage error with --checkpoint" {
	printf '{"Records":[{"SequenceNumber":"%s","PartitionKey":"p","Data":"%s"}],"NextShardIterator":"x"}\n' \
		4959 "$(b64 '{"page":"cart","n":1}')" > in
	# a/b + c and a + b/c would share the field a/b/c.
	run -2 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f get-records --stream a/b \
		--shard c "${KC_KEYS[@]}" in
	assert_output ''
	stderr_has "kincount: --stream: a name with '/' cannot be checkpointed (the field is STREAM/SHARD)"
	run -2 --separate-stderr kc -r "$REDIS_URL" --checkpoint -f get-records --stream a \
		--shard b/c "${KC_KEYS[@]}" in
	assert_output ''
	stderr_has "kincount: --shard: an id with '/' cannot be checkpointed (the field is STREAM/SHARD)"
	assert_equal "$(rcli dbsize)" 0
	# Without --checkpoint the names are only metadata.
	run -0 --separate-stderr kc -r "$REDIS_URL" -f get-records --stream a/b --shard c \
		-k '{@stream}|{@shard_id}' in
	assert_equal "$(rcli get 'a/b|c')" 1
}

@test "checkpoint: a record whose stream name or shard id has a '/' is rejected" {
	data=$(b64 '{"page":"cart","n":1}')
	{
		# Stream a/b from the ARN, shard c: field a/b/c.
		printf '{"Records":[{"kinesis":{"partitionKey":"p","sequenceNumber":"11","data":"%s"},"eventID":"c:11","eventSource":"aws:kinesis","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/a/b"}]}\n' "$data"
		# Stream a, shard b/c from the event id: the same field.
		printf '{"Records":[{"kinesis":{"partitionKey":"p","sequenceNumber":"12","data":"%s"},"eventID":"b/c:12","eventSource":"aws:kinesis","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/a"}]}\n' "$data"
		# A good record.
		printf '{"Records":[{"kinesis":{"partitionKey":"p","sequenceNumber":"13","data":"%s"},"eventID":"s:13","eventSource":"aws:kinesis","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/a"}]}\n' "$data"
	} > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" in
	assert_output ''
	stderr_has "kincount: in:1: record 1 (seq 11): stream name has a '/' (--checkpoint)"
	stderr_has "kincount: in:2: record 2 (seq 12): shard id has a '/' (--checkpoint)"
	assert_equal "$(rcli hgetall kincount:checkpoints)" $'a/s\n13'
	assert_equal "$(redis_counters)" $'kc:cart\t1\nkc:cart:1\t1'
}

@test "stats: -s prints the summary when Redis is unreachable at start-up" {
	lambda_event 1 '{"page":"cart","n":1}' > in
	run -3 --separate-stderr kc -r "unix://$BATS_TEST_TMPDIR/no-such.sock" --retries 0 \
		--stats=json "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(stat_of records)" 0
	assert_equal "$(stat_of batches)" 0
	run -3 --separate-stderr kc -r "unix://$BATS_TEST_TMPDIR/no-such.sock" --retries 0 -s \
		"${KC_KEYS[@]}" in
	stderr_has_re '^kincount: records 0, events 0, keys 0, distinct keys 0, .*batches 0, redis commands 0, '
}

@test "retries: --retries 0 at start-up: the address and the reason, no batch, no retry count" {
	sock=$BATS_TEST_TMPDIR/no-such.sock
	lambda_event 1 '{"page":"cart","n":1}' > in
	run -3 --separate-stderr kc -r "unix://$sock" --retries 0 "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$stderr" "kincount: redis: cannot connect to unix://$sock: No such file or directory"
}

# --- item 12 and 15: empty keys, many keys --------------------------------------------------

@test "empty key: a missing field with -c and -r counts the empty key (sanitized build too)" {
	printf '{}\n{}\n{"a":"x"}\n' > in
	run -0 --separate-stderr kc -f json -k '{a}' -c in
	assert_output $'\t2\nx\t1'
	assert_equal "$stderr" ''
	run -0 --separate-stderr kc -f json -k '{a}' -r "$REDIS_URL" in
	assert_equal "$stderr" ''
	assert_equal "$(rcli get '')" 2
	assert_equal "$(rcli get x)" 1
}

@test "count table: 300,000 distinct keys and their repeats are exact (python3)" {
	python3 -c '
import random
r = random.Random(7)
for i in range(400000):
    k = r.randrange(300000) if i % 4 else i % 300000
    print("{\"u\":\"k%d-%s\"}" % (k, "x" * (k % 23)))' > in
	python3 -c '
import collections, json, sys
c = collections.Counter(json.loads(l)["u"] for l in open(sys.argv[1]))
for k in sorted(c, key=lambda s: s.encode()):
    print("%s\t%d" % (k, c[k]))' in > want
	run -0 --separate-stderr kc -c -f json -k '{u}' in
	assert_equal "$stderr" ''
	printf '%s\n' "$output" > got
	cmp got want
}
