#!/usr/bin/env bats
# Exactness of the decoder under hostile input: a document cut short at any offset, in any
# layout, loses that document and nothing else (and invents nothing from inside it); -f
# auto knows an envelope by its records' shape, not by a member's name; memory stays
# bounded by the largest document, never by the input; arrival times are read in each
# envelope's own unit and time zone rule; no metadata leaks from one document to the next;
# lone surrogate escapes are not valid UTF-8; running out of memory is an error.

load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# maxrss CMD...: runs CMD (stdin and stdout as given) and prints, on fd 3, the peak resident
# memory of it and its children in KiB.
maxrss() {
	python3 -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(rc)' "$@"
}

# sanitized: true when the binary under test is built with AddressSanitizer.
sanitized() {
	nm -D "$KINCOUNT" 2>/dev/null | grep -q __asan_init
}

# --- item 1: a document cut short -----------------------------------------------------------

@test "a json document cut short loses only itself, whatever its last byte" {
	local cut
	for cut in '{"a":"3",' '{' '{"a":' '{"a"' '[1,2' '[{"a":"x"},' '{"a":"x' '{"a":[' '{"a":{"b":'; do
		printf '{"a":"1"}\n%s\n{"a":"4"}\n{"a":"5"}\n' "$cut" > in
		run -1 --separate-stderr "$KINCOUNT" -f json -k '{a}' in
		assert_output "$(printf '1\n4\n5')"
		assert_equal "$(tail -n 1 <<<"$stderr")" 'kincount: 1 rejected (invalid JSON: 1)'
		assert_equal "$(head -n 1 <<<"$stderr" | cut -d: -f1-4)" 'kincount: in:2: record 2'
	done
}

@test "cut at every offset: Lambda events, compact and indented, lose only the cut event" {
	run -0 python3 "$BATS_TEST_DIRNAME/cutcheck.py" "$KINCOUNT" lambda compact
	[ "$output" -gt 500 ]
	run -0 python3 "$BATS_TEST_DIRNAME/cutcheck.py" "$KINCOUNT" lambda indent
	[ "$output" -gt 800 ]
}

@test "cut at every offset: get-records pages, compact and indented, lose only the cut page" {
	run -0 python3 "$BATS_TEST_DIRNAME/cutcheck.py" "$KINCOUNT" get-records compact
	[ "$output" -gt 300 ]
	run -0 python3 "$BATS_TEST_DIRNAME/cutcheck.py" "$KINCOUNT" get-records indent
	[ "$output" -gt 400 ]
}

@test "cut at every offset: Firehose events and json arrays lose only the cut document" {
	local l
	for l in compact indent; do
		run -0 python3 "$BATS_TEST_DIRNAME/cutcheck.py" "$KINCOUNT" firehose "$l"
		[ "$output" -gt 200 ]
		run -0 python3 "$BATS_TEST_DIRNAME/cutcheck.py" "$KINCOUNT" json "$l"
		[ "$output" -gt 20 ]
	done
}

@test "a cut Lambda event that swallowed the next one: one rejection, one dead letter, its text" {
	lambda_event 1 '{"a":"x"}' > in
	printf '{"Records":[\n' >> in
	lambda_event 2 '{"a":"y"}' >> in
	lambda_event 3 '{"a":"z"}' >> in
	run -1 --separate-stderr "$KINCOUNT" -k '{a}' --dead-letter dl in
	assert_output "$(printf 'x\ny\nz')"
	# -f auto cannot tell what the broken document was: it is reported as a record.
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:2: record 2: invalid JSON: after array element, I expect '"','"' or '"']'"'' \
		'kincount: 1 rejected (invalid JSON: 1)')"
	run -0 jq -r '[.reason, .source, .data] | @tsv' dl
	assert_output "$(printf 'invalid JSON: after array element, I expect %s or %s\tin:2\t{"Records":[' "','" "']'")"
}

@test "a broken document's records are not counted in the stats" {
	{
		lambda_event 1 '{"a":"x"}'
		printf '{"Records":[{"kinesis":{"data":"%s"}},\n' "$(b64 '{"a":"lost"}')"
		lambda_event 3 '{"a":"z"}'
	} > in
	run -1 --separate-stderr "$KINCOUNT" -k '{a}' --stats=json in
	assert_output "$(printf 'x\nz')"
	run -0 jq -c '[.records, .events, .keys, .rejected]' <<<"$(tail -n 1 <<<"$stderr")"
	assert_output '[2,2,2,1]'
}

@test "resync needs a line starting at column 0: an indented inner record is not a document" {
	# A pretty-printed page cut inside its second record: the inner record object on the
	# next indented line must not be read as a payload.
	cat > in <<-'EOF'
	{
	    "Records": [
	        {
	            "SequenceNumber": "1",
	            "Data": "eyJhIjoiMSJ9"
	        },
	        {
	            "SequenceNumber": "2",
	{
	    "Records": [
	        {
	            "SequenceNumber": "3",
	            "Data": "eyJhIjoiMyJ9"
	        }
	    ],
	    "NextShardIterator": null
	}
	EOF
	run -1 --separate-stderr "$KINCOUNT" -k '{a}/{@sequence_number}' in
	assert_output '3/3'
	assert_equal "$(tail -n 1 <<<"$stderr")" 'kincount: 1 rejected (invalid JSON: 1)'
}

# --- item 3: an envelope is known by its records' shape --------------------------------------

@test "-f auto: a payload with a records or Records member is a payload" {
	printf '%s\n' '{"page":"home","records":[]}' '{"page":"cart","Records":[{"x":1}]}' \
		'{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"}}}],"page":"s3"}' \
		'{"page":"fh","records":[{"data":"eyJhIjoxfQ=="}]}' '{"page":"e","Records":[]}' > in
	run -0 --separate-stderr "$KINCOUNT" -k '{page}' in
	assert_output "$(printf 'home\ncart\ns3\nfh\ne')"
	assert_equal "$stderr" ''
}

@test "-f auto: each envelope is known by its records' shape" {
	printf '%s\n' \
		'{"Records":[{"kinesis":{"data":"eyJwYWdlIjoibGEifQ=="}}]}' \
		'{"Records":[{"Data":"eyJwYWdlIjoiZ3IifQ==","SequenceNumber":"7"}]}' \
		'{"records":[{"recordId":"r1","data":"eyJwYWdlIjoiZmgifQ=="}]}' > in
	run -0 --separate-stderr "$KINCOUNT" -k '{page}' in
	assert_output "$(printf 'la\ngr\nfh')"
	assert_equal "$stderr" ''
}

@test "-f auto: Data without SequenceNumber, or data without recordId, is no record" {
	printf '%s\n' '{"p":"1","Records":[{"Data":"eyJwYWdlIjoiZ3IifQ=="}]}' \
		'{"p":"2","records":[{"data":"eyJwYWdlIjoiZmgifQ=="}]}' > in
	run -0 --separate-stderr "$KINCOUNT" -k '{p}' in
	assert_output "$(printf '1\n2')"
}

@test "-f auto: a broken record before the first good one is still a record of the envelope" {
	printf '{"Records":[{"kinesis":{"sequenceNumber":"1"}},5,{"kinesis":{"data":"%s","sequenceNumber":"3"}}]}\n' \
		"$(b64 '{"page":"ok"}')" > in
	run -1 --separate-stderr "$KINCOUNT" -k '{page}' in
	assert_output 'ok'
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:1: record 1 (seq 1): record has no data' \
		'kincount: in:1: record 2: record is not an object' \
		'kincount: 2 rejected (bad record: 2)')"
}

@test "-f auto: an empty get-records page or Firehose event is an envelope, not an event" {
	printf '%s\n' '{"Records":[],"NextShardIterator":"AAA","MillisBehindLatest":0}' \
		'{"MillisBehindLatest":0,"Records":[]}' \
		'{"invocationId":"i","deliveryStreamArn":"arn:x","records":[]}' > in
	run -0 --separate-stderr "$KINCOUNT" -k 'k{page}' in
	assert_output ''
	assert_equal "$stderr" ''
	# A page whose only record is broken: a rejected record, not an event.
	echo '{"Records":[{"SequenceNumber":"5"}],"NextShardIterator":null}' > in
	run -1 --separate-stderr "$KINCOUNT" -k 'k{page}' in
	assert_output ''
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:1: record 1 (seq 5): record has no data' \
		'kincount: 1 rejected (bad record: 1)')"
}

# --- item 4: memory bounded by the largest document -----------------------------------------

@test "100 MB of blanks between two documents: both read, memory stays small" {
	{
		echo '{"a":"1"}'
		head -c 100000000 /dev/zero | tr '\0' ' '
		echo '{"a":"2"}'
	} > in
	run -0 --separate-stderr maxrss "$KINCOUNT" -k '{a}' in
	assert_output "$(printf '1\n2')"
	[ "$stderr" -lt 40000 ] || fail "peak RSS $stderr KiB"
	# The same as a gzip file, and as base64 lines.
	gzip -1 < in > in.gz
	run -0 --separate-stderr maxrss "$KINCOUNT" -k '{a}' in.gz
	assert_output "$(printf '1\n2')"
	[ "$stderr" -lt 40000 ] || fail "peak RSS $stderr KiB"
	{
		b64 '{"a":"1"}'; echo
		head -c 100000000 /dev/zero | tr '\0' ' '
		echo; b64 '{"a":"2"}'; echo
	} > in
	run -0 --separate-stderr maxrss "$KINCOUNT" -k '{a}' in
	assert_output "$(printf '1\n2')"
	[ "$stderr" -lt 40000 ] || fail "peak RSS $stderr KiB"
}

@test "/dev/zero read in auto mode: one over-long line rejected as it streams, memory bounded" {
	{ head -c 60000000 /dev/zero; echo; b64 '{"a":"after"}'; echo; } > in
	run -1 --separate-stderr maxrss "$KINCOUNT" --max-record-bytes 1000 -k '{a}' in
	assert_output 'after'
	assert_equal "$(sed -n 1p <<<"$stderr" | cut -c1-50)" 'kincount: in:1: record 1: record too large'
	assert_equal "$(sed -n 2p <<<"$stderr")" 'kincount: 1 rejected (record too large: 1)'
	[ "$(sed -n 3p <<<"$stderr")" -lt 40000 ] || fail "peak RSS $(sed -n 3p <<<"$stderr") KiB"
}

@test "--max-record-bytes applies to -f json documents: N bytes read, N+1 rejected" {
	# {"a":"xxx..."} of exactly 100 bytes, then of 101.
	python3 -c 'import sys; [print("{\"a\":\"%s\"}" % ("x" * (n - 8))) for n in (100, 101)]' > in
	[ "$(head -n 1 in | tr -d '\n' | wc -c)" -eq 100 ]
	run -1 --separate-stderr "$KINCOUNT" -f json --max-record-bytes 100 -k 'n' in
	assert_output 'n'
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:2: record 2: record too large' \
		'kincount: 1 rejected (record too large: 1)')"
	# The same with -f auto.
	run -1 --separate-stderr "$KINCOUNT" --max-record-bytes 100 -k 'n' in
	assert_output 'n'
}

@test "a 50 MB json document over --max-record-bytes is dropped as it streams" {
	python3 -c '
import sys
sys.stdout.write("{\"a\":\"1\"}\n{\"big\":[")
sys.stdout.write(",".join(["\"%07d\"" % i for i in range(5000000)]))
sys.stdout.write("]}\n{\"a\":\"3\"}\n")' > in
	run -1 --separate-stderr maxrss "$KINCOUNT" -f json --max-record-bytes 1000000 -k '{a}' in
	assert_output "$(printf '1\n3')"
	assert_equal "$(sed -n 1p <<<"$stderr")" 'kincount: in:2: record 2: record too large'
	[ "$(sed -n 3p <<<"$stderr")" -lt 40000 ] || fail "peak RSS $(sed -n 3p <<<"$stderr") KiB"
}

# --- item 5: running out of memory is an error ----------------------------------------------

@test "out of memory while capturing a value: exit 4 with a message, not invalid JSON" {
	# A 60 MB string with an escape in it is copied out of the input: memory runs out.
	python3 -c '
import sys
sys.stdout.write("{\"a\":\"\\\\n" + "x" * 60000000 + "\"}\n")' > in
	if sanitized; then
		ASAN_OPTIONS=max_allocation_size_mb=40:allocator_may_return_null=1 \
			run -4 --separate-stderr "$KINCOUNT" -f json --escape-values -k '{a}' in
		# AddressSanitizer's own warning about the allocation it refused.
		stderr=$(grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate' <<<"$stderr")
	else
		run -4 --separate-stderr bash -c 'ulimit -v 150000; exec "$@"' - \
			"$KINCOUNT" -f json --escape-values -k '{a}' in
	fi
	assert_output ''
	assert_equal "$stderr" 'kincount: in: Cannot allocate memory'
}

# --- item 11: arrival times ---------------------------------------------------------------

@test "--local-time applies to a get-records arrival time written without an offset" {
	printf '{"Records":[{"SequenceNumber":"1","Data":"%s","ApproximateArrivalTimestamp":"2018-12-17T22:10:50.987000"}]}\n' \
		"$(b64 '{}')" > in
	run -0 env TZ=Asia/Kolkata "$KINCOUNT" --local-time -k '{@hour}' in
	assert_output '2018-12-17T22'
	run -0 env TZ=Asia/Kolkata "$KINCOUNT" -k '{@hour}' in
	assert_output '2018-12-17T22'
	# With an offset the offset decides: 22:10 UTC is 03:40 the next day in Kolkata.
	sed -i 's/50.987000/50.987000+00:00/' in
	run -0 env TZ=Asia/Kolkata "$KINCOUNT" --local-time -k '{@hour}' in
	assert_output "$(TZ=Asia/Kolkata date -d @1545084650 +%Y-%m-%dT%H)"
}

@test "a Firehose arrival time is milliseconds, whatever its size" {
	# 86400000 ms is 1970-01-02; read as seconds it would be 1972-09-27.
	printf '{"records":[{"recordId":"r","approximateArrivalTimestamp":%s,"data":"%s"}]}\n' \
		86400000 "$(b64 '{}')" 1507217624302 "$(b64 '{}')" > in
	run -0 "$KINCOUNT" -f firehose -k '{@date}' in
	assert_output "$(printf '%s\n' "$(date -u -d @86400 +%F)" "$(date -u -d @1507217624 +%F)")"
}

@test "a Lambda or get-records arrival time is seconds, whatever its size" {
	# 1e11 seconds is in the year 5138; read as milliseconds it would be 1973.
	lambda_event 1 '{}' 100000000000.5 > in
	lambda_event 2 '{}' 1545084650.987 >> in
	run -0 "$KINCOUNT" -f lambda -k '{@date}' in
	assert_output "$(printf '%s\n' "$(date -u -d @100000000000 +%F)" 2018-12-17)"
}

# --- item 14: no metadata leaks between documents -------------------------------------------

@test "a get-records page after a Firehose event does not inherit its region or stream" {
	{
		printf '{"sourceKinesisStreamArn":"arn:aws:kinesis:us-east-1:1:stream/fhs","region":"us-east-1","invocationId":"i","records":[{"recordId":"r","data":"%s"}]}\n' "$(b64 '{}')"
		printf '{"Records":[{"SequenceNumber":"1","Data":"%s"}],"NextShardIterator":"x"}\n' "$(b64 '{}')"
	} > in
	run -0 "$KINCOUNT" -k '{@region}|{@stream}' in
	assert_output "$(printf 'us-east-1|fhs\n|')"
	run -0 "$KINCOUNT" --stream cli -k '{@region}|{@stream}' in
	assert_output "$(printf 'us-east-1|fhs\n|cli')"
}

# --- item 10: lone surrogates ---------------------------------------------------------------

@test "a lone surrogate escape rejects the event; a pair is one character" {
	printf '%s\n' '{"a":"x\ud800y"}' '{"a":"\udc00"}' '{"a":"\ud83d\u0041"}' \
		'{"a":"\ud83d\ude00"}' '{"a":"\\ud800"}' > in
	run -1 --separate-stderr "$KINCOUNT" -f json -k '{a}' in
	assert_output "$(printf '\xf0\x9f\x98\x80\n\\ud800')"
	assert_equal "$stderr" "$(printf 'kincount: in:%d: record %d: field a is not valid UTF-8\n' 1 1 2 2 3 3
		echo 'kincount: 3 rejected (bad field: 3)')"
}

# --- all of it at once ----------------------------------------------------------------------

@test "random mixed streams (all formats, both layouts, gzip, cuts) agree with python3" {
	# Every piece of record metadata in the key: a value leaking from one document or
	# record into the next, a lost or invented record, all show as a difference.
	run -0 python3 "$BATS_TEST_DIRNAME/mixcheck.py" "$KINCOUNT" 7 1000
	assert_output 1000
}

@test "a record rejected whole is one rejection, whatever its events were found to lack first" {
	# The first event has an object where the key wants a value; then the payload turns
	# out not to be JSON events at all: one rejected record, one dead letter.
	printf '%s\n' "$(b64 '{"a":{}}
"str"')" "$(b64 '{"a":"ok"}')" > in
	run -1 --separate-stderr "$KINCOUNT" -f base64 -k '{a}' --dead-letter dl in
	assert_output 'ok'
	assert_equal "$stderr" "$(printf '%s\n' 'kincount: in:1: record 1: payload is not a JSON object' \
		'kincount: 1 rejected (not an object: 1)')"
	run -0 jq -r .reason dl
	assert_output 'payload is not a JSON object'
}
