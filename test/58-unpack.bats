#!/usr/bin/env bats
# Packed records through the whole path: KPL aggregates (built by test/kplgen.py from the
# wire format, independently of kincount) and gzip / CloudWatch Logs data, in every input
# format; what is rejected whole and what alone; sub-sequence numbers, explicit hash keys and
# log metadata in keys and dead letters; --checkpoint never splitting an aggregate; -d and
# the statistics.

load helper
load redis

# redis.bash starts the server for the file and empties it before each test, in its own
# folder.

# agg SPEC: the base64 of a KPL aggregate (see test/kplgen.py).
agg() {
	python3 "$BATS_TEST_DIRNAME/kplgen.py" "$1"
}

# gz TEXT: the base64 of TEXT gzipped (gzip -n, as a log pipeline would).
gz() {
	printf '%s' "$1" | gzip -n | base64 -w0
}

# ev SEQ DATA...: one Lambda event whose records have the given base64 data, sequence
# numbers SEQ, SEQ+1, ...
ev() {
	local seq=$1 sep= d
	shift
	printf '{"Records":['
	for d in "$@"; do
		printf '%s{"kinesis":{"partitionKey":"outer","sequenceNumber":"%s","data":"%s","approximateArrivalTimestamp":1450310400.5},"eventID":"shardId-000000000000:%s","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}' \
			"$sep" "$seq" "$d" "$seq"
		sep=,
		seq=$((seq + 1))
	done
	printf ']}\n'
}

TWO='{"pks":["pk1"],"records":[{"pk":0,"data":"{\"user\":\"a\"}"},{"pk":0,"data":"{\"user\":\"b\"}"}]}'

# --- KPL -------------------------------------------------------------------------------------

@test "kpl: the FORMATS test vector gives its two user records, in every input format" {
	local a
	a=$(agg "$TWO")
	assert_equal "$a" '84mawgoDcGsxGhAIABoMeyJ1c2VyIjoiYSJ9GhAIABoMeyJ1c2VyIjoiYiJ9jTu7PRz2oK4F+KHrNHGS6g=='
	ev 100 "$a" > lambda.json
	printf '{"Records":[{"SequenceNumber":"100","Data":"%s","PartitionKey":"outer"}],"NextShardIterator":"x"}\n' "$a" > gr.json
	printf '{"invocationId":"i","records":[{"recordId":"r1","data":"%s"}]}\n' "$a" > fh.json
	printf '%s\n' "$a" > lines.b64
	for f in lambda.json gr.json fh.json lines.b64; do
		run -0 --separate-stderr "$KINCOUNT" -k '{@sub_sequence_number}|{@partition_key}|{user}' "$f"
		assert_output "$(printf '0|pk1|a\n1|pk1|b')"
		assert_equal "$stderr" ''
	done
}

@test "kpl: partition keys and explicit hash keys from the tables; an explicit hash key only when the record has an index" {
	agg '{"pks":["p0","p1","p2"],"ehks":["111","222"],"records":[
		{"pk":2,"data":"{\"n\":0}"},{"pk":0,"ehk":1,"data":"{\"n\":1}"},
		{"pk":1,"ehk":0,"data":"{\"n\":2}"},{"pk":2,"data":"{\"n\":3}"}]}' > a
	ev 7 "$(cat a)" > in
	run -0 --separate-stderr "$KINCOUNT" -k '{n}|{@partition_key}|{@explicit_hash_key}|{@sequence_number}/{@sub_sequence_number}' in
	assert_output "$(printf '%s\n' '0|p2||7/0' '1|p0|222|7/1' '2|p1|111|7/2' '3|p2||7/3')"
	# -w sees them too.
	run -0 "$KINCOUNT" -k '{n}' -w '@explicit_hash_key' in
	assert_output "$(printf '1\n2')"
}

@test "kpl: a bad aggregate is rejected whole, as it came, and none of it counts" {
	local bad good spec
	good=$(agg "$TWO")
	for spec in \
		'{"pks":["pk1"],"records":[{"pk":0,"data":"{\"user\":\"a\"}"}],"md5":"flip"}' \
		'{"pks":["pk1"],"records":[{"pk":1,"data":"{\"user\":\"a\"}"}]}' \
		'{"pks":["pk1"],"ehks":[],"records":[{"pk":0,"ehk":0,"data":"{\"user\":\"a\"}"}]}' \
		'{"pks":["pk1"],"records":[]}'; do
		bad=$(agg "$spec")
		ev 1 "$good" "$bad" "$good" > in
		rm -f dl
		run -1 --separate-stderr "$KINCOUNT" -k '{@sequence_number}/{@sub_sequence_number}:{user}' --dead-letter dl in
		assert_output "$(printf '%s\n' 1/0:a 1/1:b 3/0:a 3/1:b)"
		assert_regex "$(head -n 1 <<<"$stderr")" '^kincount: in:1: record 2 \(seq 2\): bad KPL aggregate: '
		assert_equal "$(tail -n 1 <<<"$stderr")" 'kincount: 1 rejected (bad KPL aggregate: 1)'
		run -0 jq -r '[.sequence_number, .data, has("sub_sequence_number")] | @tsv' dl
		assert_output "$(printf '2\t%s\tfalse' "$bad")"
	done
}

@test "kpl: an aggregate cut at every byte offset is rejected (or not an aggregate), never a crash" {
	local full cut n i out
	full=$(agg '{"pks":["pk1","pk2"],"ehks":["9"],"records":[{"pk":0,"data":"{\"user\":\"a\"}"},{"pk":1,"ehk":0,"data":"{\"user\":\"b\"}"}]}')
	n=$(base64 -d <<<"$full" | wc -c)
	for ((i = 1; i < n; i++)); do
		cut=$(base64 -d <<<"$full" | head -c "$i" | base64 -w0)
		printf '%s\n' "$cut"
	done > in
	run -1 --separate-stderr "$KINCOUNT" -f base64 -q -k 'x{user}' in
	# No user record of a cut aggregate counts; a prefix too short to be an aggregate is
	# a payload that is not JSON.
	assert_output ''
	# Prefixes of 1 to 20 bytes are too short to be an aggregate (more than 16 bytes must
	# follow the magic): not JSON either.  The rest are aggregates cut short.
	out=$(tail -n 1 <<<"$stderr")
	assert_regex "$out" "^kincount: $((n - 1)) rejected \\(not an object: 20, bad KPL aggregate: $((n - 21))\\)$"
}

@test "kpl: a user record that is not JSON is rejected alone, its dead letter names it" {
	agg '{"pks":["pk1"],"records":[{"pk":0,"data":"{\"user\":\"a\"}"},{"pk":0,"data":"not json"},{"pk":0,"data":"{\"user\":\"c\"}","gzip":true}]}' > a
	ev 5 "$(cat a)" > in
	run -1 --separate-stderr "$KINCOUNT" -k '{@sub_sequence_number}:{user}' --dead-letter dl in
	assert_output "$(printf '0:a\n2:c')"
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:1: record 1 (seq 5): payload is not a JSON object' \
		'kincount: 1 rejected (not an object: 1)')"
	run -0 jq -c '[.sequence_number, .sub_sequence_number, .partition_key, .data]' dl
	assert_output '["5","1","pk1","not json"]'
}

@test "kpl: -d prints each user record's events as they were" {
	agg '{"pks":["pk1"],"records":[{"pk":0,"data":"{\"user\":\"a\"}"},{"pk":0,"data":"[{\"user\":\"b\"},{\"user\":\"c\"}]"}]}' > a
	ev 5 "$(cat a)" > in
	run -0 "$KINCOUNT" -d in
	assert_output "$(printf '%s\n' '{"user":"a"}' '{"user":"b"}' '{"user":"c"}')"
}

@test "kpl: --checkpoint applies an aggregate whole, once; its checkpoint is its sequence number" {
	local a
	a=$(agg "$TWO")
	ev 100 "$a" "$a" > in
	run -0 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --checkpoint -k 'c:{user}' --stats=json in
	assert_equal "$(rcli get c:a)" 2
	assert_equal "$(rcli get c:b)" 2
	assert_equal "$(rcli hget kincount:checkpoints clicks/shardId-000000000000)" 101
	run -0 jq -c '[.records, .events, .aggregates, .sub_records, .duplicates]' <<<"$stderr"
	assert_output '[2,4,2,4,0]'
	# Again: every user record of both aggregates is a duplicate.
	run -0 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --checkpoint -k 'c:{user}' --stats=json in
	assert_equal "$(rcli get c:a)" 2
	run -0 jq -c '[.records, .events, .duplicates]' <<<"$stderr"
	assert_output '[2,0,2]'
	# A new aggregate after them.
	ev 102 "$a" >> in
	run -0 "$KINCOUNT" -r "$REDIS_URL" --checkpoint -k 'c:{user}' in
	assert_equal "$(rcli get c:a)" 3
	assert_equal "$(rcli hget kincount:checkpoints clicks/shardId-000000000000)" 102
}

# --- gzip and CloudWatch Logs ------------------------------------------------------------------

CWL='{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":["f"],"logEvents":[{"id":"1001","timestamp":1700000000123,"message":"{\"user\":\"a\"}"},{"id":"1002","timestamp":1700000060999,"message":"not json"},{"id":"1003","timestamp":1700003600000,"message":"{\"user\":\"c\"}"}]}'

@test "gzip: a gzipped JSON payload is read as the payload" {
	ev 1 "$(gz '{"user":"z"}')" > in
	run -0 "$KINCOUNT" -k '{user}' in
	assert_output 'z'
}

@test "cloudwatch logs: one event per log event; a message that is not JSON rejects that event alone" {
	ev 1 "$(gz "$CWL")" > in
	run -1 --separate-stderr "$KINCOUNT" -k '{@log_group}|{@log_stream}|{@log_event_id}|{@time:%s}|{user}' --dead-letter dl in
	assert_output "$(printf '%s\n' '/app/web|i-0abc|1001|1700000000|a' '/app/web|i-0abc|1003|1700003600|c')"
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:1: record 1 (seq 1): payload is not a JSON object' \
		'kincount: 1 rejected (not an object: 1)')"
	run -0 jq -c '[.log_event_id, .data]' dl
	assert_output '["1002","not json"]'
	# The FORMATS.md vector, as given there.
	ev 2 'H4sIAAAAAAACAzWPS2/DIBCE/8ueHYVnAN8s1c2pJ+dWogqnKEKJDQLcqLL837t97fEbzezMCpMvxV396TN5aOGpO3VvL/0wdMceGoiP2WfElHEhD0obQhnie7wec1wSKnuX0v7hx1861OzdhDjsiBsvCMsylksOqYY4P4d79blA+wo17m5h9iUUOP84+w8/129phfCOAVwJTaQyQmphiBZUUiKoMhxrECO1oVRxzRhnSkhmqORc0oMm+LIG3FTdhPWoIn+HC5r/rRi/WliKzxZaC85CYwEddSkIGCEbbOftC5jpe94bAQAA' > in
	run -0 "$KINCOUNT" -k '{@log_group}|{@log_event_id}|{@time:%s}|{user}|{status}' in
	assert_output '/app/web|37480579458490841510417935670958911738223274529153351680|1700000000|a|200'
}

@test "cloudwatch logs: a control message gives nothing and is counted; wrong fields are rejected" {
	local ctl='{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1700000000000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}'
	ev 1 "$(gz "$ctl")" "$(gz '{"messageType":"DATA_MESSAGE","logGroup":5,"logEvents":[]}')" \
		"$(gz '{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":{}}')" \
		"$(gz '{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"message":5},7,{"timestamp":"x","message":"{}"},{"id":"9","message":"{\"user\":\"no\"}"},{"id":"10","timestamp":1700000000000,"message":"{\"user\":\"ok\"}"}]}')" > in
	run -1 --separate-stderr "$KINCOUNT" -k '{@log_group}:{user}' --stats=json in
	assert_output 'g:ok'
	assert_equal "$(head -n -2 <<<"$stderr")" "$(printf '%s\n' \
		'kincount: in:1: record 2 (seq 2): bad CloudWatch Logs message: logGroup is not a string' \
		'kincount: in:1: record 3 (seq 3): bad CloudWatch Logs message: logEvents is not an array' \
		'kincount: in:1: record 4 (seq 4): log event message is not a string' \
		'kincount: in:1: record 4 (seq 4): log event is not an object' \
		'kincount: in:1: record 4 (seq 4): log event timestamp is not a time' \
		'kincount: in:1: record 4 (seq 4): log event has no timestamp')"
	assert_equal "$(tail -n 2 <<<"$stderr" | head -n 1)" 'kincount: 6 rejected (bad log message: 6)'
	run -0 jq -c '[.records, .events, .log_events, .control_messages]' <<<"$(tail -n 1 <<<"$stderr")"
	assert_output '[4,1,5,1]'
}

@test "gzip: broken, truncated, trailing garbage and a bomb under --max-record-bytes are rejected" {
	local good
	good=$(gz '{"user":"ok"}')
	# 1 GB of zeros: about 1 MB of gzip, more than --max-record-bytes allows only once
	# inflated.
	head -c 1000000000 /dev/zero | gzip -9 | base64 -w0 > bomb
	[ "$(base64 -d bomb | wc -c)" -lt 2000000 ]
	{
		ev 1 "$good"
		ev 2 "$(base64 -d <<<"$good" | head -c 20 | base64 -w0)"
		ev 3 "$( (base64 -d <<<"$good"; printf 'junk') | base64 -w0)"
		ev 4 "$(cat bomb)"
		ev 5 "$good"
	} > in
	run -1 --separate-stderr timeout 20 "$KINCOUNT" --max-record-bytes 2000000 -k '{user}' in
	assert_output "$(printf 'ok\nok')"
	assert_regex "$(sed -n 1p <<<"$stderr")" '^kincount: in:2: record 2 \(seq 2\): broken gzip data: '
	assert_regex "$(sed -n 2p <<<"$stderr")" '^kincount: in:3: record 3 \(seq 3\): broken gzip data: '
	assert_equal "$(sed -n 3p <<<"$stderr")" 'kincount: in:4: record 4 (seq 4): gzip data larger than 2000000 bytes'
	assert_equal "$(sed -n 4p <<<"$stderr")" 'kincount: 3 rejected (broken gzip data: 2, record too large: 1)'
}

@test "gzip: concatenated members are one payload, as zcat reads them" {
	local two
	two=$( (printf '{"user":"a"}\n' | gzip -n; printf '{"user":"b"}\n' | gzip -n) | base64 -w0)
	ev 1 "$two" > in
	run -0 "$KINCOUNT" -k '{user}' in
	assert_output "$(printf 'a\nb')"
}

@test "kpl + cloudwatch logs: a user record may itself be a gzipped log message" {
	local spec
	spec=$(python3 -c '
import json, sys
cwl = sys.argv[1]
print(json.dumps({"pks": ["k"], "records": [{"pk": 0, "data": "{\"user\":\"x\"}"},
    {"pk": 0, "data": cwl, "gzip": True}]}))' "$CWL")
	ev 9 "$(agg "$spec")" > in
	run -1 --separate-stderr "$KINCOUNT" -k '{@sub_sequence_number}|{@log_event_id}|{user}' in
	assert_output "$(printf '%s\n' '0||x' '1|1001|a' '1|1003|c')"
	assert_equal "$(tail -n 1 <<<"$stderr")" 'kincount: 1 rejected (not an object: 1)'
	# The other way round: a user record after a log message has no log metadata, and the
	# time of its record, not of the last log event.
	spec=$(python3 -c '
import json, sys
cwl = sys.argv[1]
print(json.dumps({"pks": ["k"], "records": [{"pk": 0, "data": cwl, "gzip": True},
    {"pk": 0, "data": "{\"user\":\"x\"}"}]}))' "$CWL")
	ev 9 "$(agg "$spec")" > in
	run -1 --separate-stderr "$KINCOUNT" -k '{@sub_sequence_number}|{@log_group}|{@log_stream}|{@log_event_id}|{@time:%s}|{user}' in
	assert_output "$(printf '%s\n' '0|/app/web|i-0abc|1001|1700000000|a' '0|/app/web|i-0abc|1003|1700003600|c' \
		'1||||1450310400|x')"
}

@test "--strict stopping inside an aggregate: none of it counts and its checkpoint stays, so a rerun counts it once" {
	local bad
	bad=$(agg '{"pks":["pk1"],"records":[{"pk":0,"data":"{\"user\":\"a\"}"},{"pk":0,"data":"{\"user\":{}}"},{"pk":0,"data":"{\"user\":\"c\"}"}]}')
	ev 100 "$(agg "$TWO")" "$bad" > in
	run -1 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --checkpoint --strict -k 'c:{user}' in
	assert_equal "$(rcli get c:a)" 1
	assert_equal "$(rcli get c:c)" ''
	assert_equal "$(rcli hget kincount:checkpoints clicks/shardId-000000000000)" 100
	# Without --strict the stopped aggregate is read whole: a and c, the bad one rejected.
	run -1 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --checkpoint -k 'c:{user}' in
	assert_equal "$(rcli get c:a)" 2
	assert_equal "$(rcli get c:b)" 1
	assert_equal "$(rcli get c:c)" 1
	assert_equal "$(rcli hget kincount:checkpoints clicks/shardId-000000000000)" 101
}

@test "--strict stopping at an event of a record: the record's other events and its checkpoint wait for a rerun" {
	# Record 2's payload has two events; the second cannot make a key.
	ev 1 "$(b64 '{"user":"a"}')" "$(b64 '{"user":"b"} {"user":{}}')" > in
	run -1 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --checkpoint --strict -k 'c:{user}' in
	assert_equal "$(rcli get c:a)" 1
	assert_equal "$(rcli get c:b)" ''
	assert_equal "$(rcli hget kincount:checkpoints clicks/shardId-000000000000)" 1
	run -1 --separate-stderr "$KINCOUNT" -r "$REDIS_URL" --checkpoint -k 'c:{user}' in
	assert_equal "$(rcli get c:a)" 1
	assert_equal "$(rcli get c:b)" 1
	assert_equal "$(rcli hget kincount:checkpoints clicks/shardId-000000000000)" 2
}

@test "cloudwatch logs: every fixture in fixtures/cwl gives the keys and rejections python3 worked out" {
	local f name n
	for f in "$FIXTURES"/cwl/*.gz; do
		name=${f##*/}
		name=${name%.gz}
		ev 1 "$(base64 -w0 "$f")" > in
		n=$(wc -l < "${f%.gz}.expected-rejects")
		run -"$((n > 0))" --separate-stderr "$KINCOUNT" -q \
			-k '{@log_group}|{@log_stream}|{@log_event_id}|{@time:%s}|{user}' in
		assert_equal "$output" "$(cat "${f%.gz}.expected-keys")" || fail "$name: keys"
		if [ "$n" -gt 0 ]; then
			assert_regex "$stderr" "^kincount: $n rejected \\(" || fail "$name: rejections"
		else
			assert_equal "$stderr" '' || fail "$name: stderr"
		fi
	done
}

@test "cloudwatch logs: an unknown messageType is not a log message: the payload itself" {
	ev 1 "$(gz '{"messageType":"OTHER","user":"u","logEvents":[{"message":"{\"user\":\"no\"}"}]}')" > in
	run -0 "$KINCOUNT" -k '{@log_group}|{user}' in
	assert_output '|u'
}

@test "kpl: every aggregate in fixtures/kpl (made by aws-kinesis-agg) gives the user records python3 found" {
	local f name
	for f in "$FIXTURES"/kpl/*.agg; do
		name=${f##*/}
		name=${name%.agg}
		ev 1 "$(base64 -w0 "$f")" > in
		# Expected keys from NAME.expected (INDEX, PK, EHK or -, base64 DATA per line, or
		# the rejection of the whole aggregate), the data gunzipped and parsed by python3.
		python3 - "${f%.agg}.expected" > want <<-'PY'
		import base64, gzip, json, sys
		keys, rejects = [], 0
		for line in open(sys.argv[1]):
		    parts = line.rstrip("\n").split("\t")
		    if len(parts) != 4:
		        rejects += 1
		        continue
		    i, pk, ehk, data = parts
		    data = base64.b64decode(data)
		    try:
		        if data[:2] == b"\x1f\x8b":
		            data = gzip.decompress(data)
		        ev = json.loads(data)
		        if not isinstance(ev, dict):
		            raise ValueError
		        keys.append("%s|%s|%s|%s" % (i, pk, "" if ehk == "-" else ehk, ev.get("id", "")))
		    except (ValueError, OSError):
		        rejects += 1
		print(rejects)
		print("\n".join(keys))
		PY
		run --separate-stderr "$KINCOUNT" -q -k '{@sub_sequence_number}|{@partition_key}|{@explicit_hash_key}|{id}' in
		assert_equal "$output" "$(tail -n +2 want)" || fail "$name: keys"
		if [ "$(head -n 1 want)" -gt 0 ]; then
			assert_equal "$status" 1
			assert_regex "$stderr" "^kincount: $(head -n 1 want) rejected \\(" || fail "$name"
		else
			assert_equal "$status" 0
			assert_equal "$stderr" ''
		fi
	done
}
