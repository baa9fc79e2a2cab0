#!/usr/bin/env bats
# kincount --lambda (issue 9) against a Lambda Runtime API emulator (test/lambda-emu.py):
# many invocations counted exactly, bad and oversized records as dead letters in Redis with a
# success answer, Redis down or stopped (the answer names the batch's first record; the
# redelivered event counts once with --checkpoint), a deadline about to pass, events that are
# not Kinesis events or too large, the Runtime API going away or failing, signals, and init
# errors; and, last, the emulator itself.  Expected counts, log lines and statistics are worked
# out with python3 and jq from the event files, never by kincount.

load helper
load redis

# The exit status the man page gives when the Runtime API says "exit" (next answers 500), and
# when it cannot be reached (gone, or nothing listening).
EXIT_ON_500=0
EXIT_API_GONE=4

setup() {
	redis_setup
	EMU_PID=
	unset AWS_LAMBDA_RUNTIME_API
}

teardown() {
	redis_teardown
	emu_stop
	tcp_stop
}

# lambda_bg OPTION...: kincount --lambda on the private Redis with the two test templates, in
# the background (pid in KPID; stdout and stderr in out and err of the test folder).
lambda_bg() {
	kc_bg --lambda -r "$REDIS_URL" "${KC_KEYS[@]}" "$@" < /dev/null &
	KPID=$!
}

# two_events N: files ev (two Lambda events of N records each), e1 and e2 (one each).
two_events() {
	gen_lambda 2 "$1" > ev
	sed -n 1p ev > e1
	sed -n 2p ev > e2
}

# one_answered_then_waiting: kincount --lambda has answered one event (file ev) and waits,
# in poll, on its next request.
one_answered_then_waiting() {
	gen_lambda 1 2 > ev
	emu_start
	emu_queue a ev
	lambda_bg
	ok_answer a
	wait_for 10 in_syscall "$KPID" poll read
}

# counts_are EVENTFILE...: the counters in Redis are exactly what the events give (python3).
counts_are() {
	expect_counts "$@" > want
	assert_equal "$(redis_counters)" "$(cat want)"
}

# finish_on_500: the emulator answers "exit"; kincount ends within 10 s with its status for it.
finish_on_500() {
	finish 10
	assert_equal "$KSTATUS" "$EXIT_ON_500"
}

# finish SECONDS: tells the emulator to answer "exit" once its queue is empty and waits for
# kincount to end (kc_wait: KSTATUS, kstderr).
finish() {
	touch "$EMU/stop"
	kc_wait "$1"
}

# ok_answer NAME: the answer of event NAME is the success answer, an empty list of failures.
ok_answer() {
	wait_for 30 emu_answered "$1"
	[ -e "$EMU/out/$(emu_rid "$1").response" ] || fail "event $1 got an error: $(emu_out "$1" error)"
	assert_equal "$(emu_out "$1" response | jq -c .)" '{"batchItemFailures":[]}'
}

# failed_answer NAME SEQ: the answer of event NAME names SEQ, and only SEQ, as the failure.
failed_answer() {
	wait_for 30 emu_answered "$1"
	[ -e "$EMU/out/$(emu_rid "$1").response" ] || fail "event $1 got an error: $(emu_out "$1" error)"
	assert_equal "$(emu_out "$1" response | jq -c .)" \
		"{\"batchItemFailures\":[{\"itemIdentifier\":\"$2\"}]}"
}

# first_seq FILE: the sequence number of the first record of the (one-line) event FILE.
first_seq() {
	jq -r '.Records[0].kinesis.sequenceNumber' "$1"
}

# requests METHOD PATH-ERE STATUS-ERE: how many requests of the emulator's log match.
requests() {
	awk -v m="$1" -v p="^/2018-06-01/runtime/$2\$" -v s="^$3\$" \
		'$2 == m && $3 ~ p && $4 ~ s { n++ } END { print n + 0 }' "$EMU/log"
}

# invocation_facts EMU: for every event the emulator served, in order, one line
# "NAME RID RECORDS EVENTS REJECTED KEY1 KEY2" worked out with python3 from the event file: the
# records, the events their payloads hold (arrays or JSON lines), the records that cannot be
# decoded (bad base64, larger than MAXBYTES, or not JSON) and the first two keys of the test
# templates ("-" when there are fewer).
invocation_facts() {
	python3 - "$1" "${MAXBYTES:-67108864}" <<-'EOF'
	import base64, binascii, json, os, sys
	emu, maxbytes = sys.argv[1], int(sys.argv[2])
	for line in open(os.path.join(emu, "ids")):
	    name, rid = line.split()
	    try:
	        doc = json.load(open(os.path.join(emu, "served", name + ".json"), "rb"))
	        doc["Records"][0]["kinesis"]["sequenceNumber"]
	    except (ValueError, KeyError, IndexError, TypeError):
	        print(name, rid, "- - - - -")
	        continue
	    recs, events, rejected, keys = 0, 0, 0, []
	    for rec in doc["Records"]:
	        recs += 1
	        try:
	            data = base64.b64decode(rec["kinesis"]["data"], validate=True)
	            if len(data) > maxbytes:
	                raise ValueError("too large")
	            text = data.decode()
	            if text.startswith("["):
	                evs = json.loads(text)
	            else:
	                evs = [json.loads(l) for l in text.split("\n") if l.strip()]
	        except (binascii.Error, ValueError):
	            rejected += 1
	            continue
	        for ev in evs:
	            events += 1
	            keys += ["kc:%s:%s" % (ev["page"], ev["n"]), "kc:%s" % ev["page"]]
	    keys += ["-", "-"]
	    print(name, rid, recs, events, rejected, keys[0], keys[1])
	EOF
}

# check_log_lines: every served event has exactly one log line on stderr, in the man page's
# form, with its request id, its own counts (the test templates make two keys per event) and
# its first two keys.
check_log_lines() {
	local name rid recs events rejected k1 k2 lines re
	while read -r name rid recs events rejected k1 k2; do
		[ "$recs" != - ] || continue
		lines=$(grep -F -- "kincount: $rid: " <<< "$kstderr" | grep -v "^kincount: $rid:[0-9]") ||
			fail "no log line names $rid: $kstderr"
		assert_equal "$(wc -l <<< "$lines")" 1
		re="^kincount: $rid: applied: $recs records, $events events, $((2 * events)) keys, "
		re+="$rejected rejected, 0 filtered, 0 duplicates, [0-9]+\.[0-9] ms \(redis [0-9]+\.[0-9] ms\)"
		[ "$events" = 0 ] || re+="; keys $k1, $k2"
		re+='$'
		[[ $lines =~ $re ]] || fail "log line: $lines; expected: $re"
	done < <(invocation_facts "$EMU")
}

# --- many good invocations -------------------------------------------------------------------

@test "lambda: 40 events over 40 invocations are counted exactly, each answered with no failures" {
	gen_lambda 30 4 > ev
	gen_lambda 10 25 120 >> ev
	gen_lambda 1 2000 400 >> ev
	emu_start
	emu_queue_lines e ev
	lambda_bg --checkpoint
	wait_for 60 emu_answered e-0040
	finish_on_500
	assert_equal "$(cat out)" ''
	for ((i = 0; i <= 40; i++)); do
		ok_answer "$(printf 'e-%04d' "$i")"
	done
	counts_are ev
	assert_equal "$(checkpoint)" "$(last_seq ev)"
	assert_equal "$(requests GET invocation/next 200)" 41
	assert_equal "$(requests POST 'invocation/[^/]+/response' 202)" 41
	assert_equal "$(requests GET invocation/next 500)" 1
	assert_equal "$(requests POST 'invocation/[^/]+/error' 202)" 0
	[ ! -e "$EMU/init-error" ]
	check_log_lines
}

@test "lambda: events queued one at a time while kincount waits are each counted and answered" {
	gen_lambda 5 3 > ev
	emu_start
	lambda_bg
	for ((i = 1; i <= 5; i++)); do
		sed -n "${i}p" ev > one
		emu_queue "s$i" one
		ok_answer "s$i"
		head -n "$i" ev > sofar
		counts_are sofar
	done
	finish_on_500
	check_log_lines
}

@test "lambda: an event near Lambda's 6 MB limit (10000 records) is counted exactly" {
	gen_lambda 1 10000 > big
	local size
	size=$(wc -c < big)
	[ "$size" -gt 5000000 ] && [ "$size" -lt 6000000 ] || fail "event of $size bytes"
	gen_lambda 1 3 10000 > small
	emu_start
	lambda_bg --checkpoint
	emu_queue a big
	emu_queue b small
	ok_answer a
	ok_answer b
	counts_are big small
	assert_equal "$(checkpoint)" "$(last_seq small)"
	finish_on_500
}

@test "lambda: --stats=json prints one JSON object per invocation with its own numbers" {
	gen_lambda 3 5 > ev
	gen_lambda 1 4 40 | jq -c '.Records[1].kinesis.data = "@@@@"' >> ev
	printf '{"foo":1}\n' >> ev
	emu_start
	emu_queue_lines e ev
	lambda_bg --stats=json --dead-letter redis:kincount:dl
	wait_for 30 emu_answered e-0004
	finish_on_500
	local objs
	objs=$(grep '^{' <<< "$kstderr")
	assert_equal "$(wc -l <<< "$objs")" 5
	# The documented members, numbers all; Redis time within the duration.
	jq -e -s 'all(.[]; all(.records, .events, .keys, .rejected, .filtered, .duplicates,
		.batches, .redis_ms, .duration_ms; type == "number")
		and .redis_ms >= 0 and .duration_ms >= .redis_ms)' <<< "$(head -n 4 <<< "$objs")"
	local name rid recs events rejected k1 k2 i=1 o
	while read -r name rid recs events rejected k1 k2; do
		o=$(sed -n "${i}p" <<< "$objs")
		assert_equal "$(jq -c '[.request_id, .result, .records, .events, .keys, .rejected,
			.batches, .first_keys]' <<< "$o")" \
			"[\"$rid\",\"applied\",$recs,$events,$((2 * events)),$rejected,1,[\"$k1\",\"$k2\"]]"
		i=$((i + 1))
	done < <(invocation_facts "$EMU" | head -n 4)
	o=$(sed -n 5p <<< "$objs")
	assert_equal "$(jq -c '[.request_id, .result, (.error | type)]' <<< "$o")" \
		"[\"$(emu_rid e-0004)\",\"invalid\",\"string\"]"
	assert_equal "$(rcli llen kincount:dl)" 1
	# No text log line besides: every other line is the rejected record's message, or the
	# message of the end.
	assert_equal "$(grep -v '^{' <<< "$kstderr" | grep -v "^kincount: $(emu_rid e-0003):1: record 2 " |
		grep -v -x 'kincount: lambda: next invocation: .*; exiting')" ''
	assert_equal "$(grep -c "^kincount: $(emu_rid e-0003):1: record 2 " <<< "$kstderr")" 1
}

# --- the Redis connection ----------------------------------------------------------------------

@test "lambda: one Redis connection for all invocations, made again after the server was killed" {
	gen_lambda 4 3 > ev
	emu_start
	lambda_bg --checkpoint
	sed -n 1p ev > e1
	emu_queue a e1
	ok_answer a
	local first
	first=$(unix_sockets_of "$KPID")
	[ -n "${first// /}" ] || fail "kincount has no Unix socket open after a counted event"
	sed -n 2p ev > e2
	emu_queue b e2
	ok_answer b
	assert_equal "$(unix_sockets_of "$KPID")" "$first"
	# Killed between two events (the append-only file keeps what was acknowledged).
	redis_kill9
	redis_start
	sed -n 3p ev > e3
	emu_queue c e3
	ok_answer c
	local second
	second=$(unix_sockets_of "$KPID")
	[ -n "${second// /}" ] && [ "$second" != "$first" ] ||
		fail "the Redis socket did not change: '$first' then '$second'"
	sed -n 4p ev > e4
	emu_queue d e4
	ok_answer d
	assert_equal "$(unix_sockets_of "$KPID")" "$second"
	counts_are ev
	assert_equal "$(checkpoint)" "$(last_seq ev)"
	finish_on_500
}

@test "lambda: a Redis URL on TCP (as ElastiCache is): counted exactly, one connection kept" {
	tcp_start
	RCLI_ADDR=(-h 127.0.0.1 -p "$TCP_PORT")
	gen_lambda 3 4 > ev
	emu_start
	kc_bg --lambda -r "redis://127.0.0.1:$TCP_PORT" "${KC_KEYS[@]}" --checkpoint < /dev/null &
	KPID=$!
	sed -n 1p ev > e1
	emu_queue a e1
	ok_answer a
	# kincount's connection: the one client that is not this redis-cli.
	local conn
	conn=$(rcli client list | grep -v 'cmd=client|list' | cut -d' ' -f1)
	[[ $conn =~ ^id=[0-9]+$ ]] || fail "clients: $(rcli client list)"
	sed -n 2,3p ev > rest
	emu_queue_lines b rest
	wait_for 30 emu_answered b-0001
	ok_answer b-0000
	ok_answer b-0001
	counts_are ev
	assert_equal "$(checkpoint)" "$(last_seq ev)"
	# The same connection, still the only one.
	assert_equal "$(rcli client list | grep -v 'cmd=client|list' | cut -d' ' -f1)" "$conn"
	finish_on_500
}

@test "lambda: Redis down: the answer names the event's first record; redelivered, it counts once" {
	two_events 5
	emu_start
	lambda_bg --checkpoint --retries 2 --timeout-ms 300
	emu_queue a e1
	ok_answer a
	redis_stop
	emu_queue b e2
	failed_answer b "$(first_seq e2)"
	expect_counts e1 > want
	redis_start
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(checkpoint)" "$(last_seq e1)"
	# Lambda sends the same records again; and once more, as it may.
	emu_queue c e2
	ok_answer c
	emu_queue d e2
	ok_answer d
	counts_are e1 e2
	assert_equal "$(checkpoint)" "$(last_seq e2)"
	finish_on_500
	grep -q "^kincount: $(emu_rid b): not applied, to be retried from $(first_seq e2): 5 records, " \
		<<< "$kstderr" || fail "no log line of the failed invocation: $kstderr"
}

@test "lambda: Redis unreachable at start: a failure answer, then counted once Redis is back" {
	two_events 3
	RESTART_AFTER=1
	redis_stop
	emu_start
	lambda_bg --checkpoint --retries 1 --timeout-ms 300
	emu_queue a e1
	failed_answer a "$(first_seq e1)"
	redis_start
	emu_queue b e1
	ok_answer b
	emu_queue c e2
	ok_answer c
	counts_are e1 e2
	finish_on_500
}

@test "lambda: a stopped Redis and a deadline 3 s away: a failure answer before the deadline" {
	two_events 5
	emu_start
	lambda_bg --checkpoint --timeout-ms 5000 --retries 5
	emu_queue a e1
	ok_answer a
	RESTART_AFTER=1
	kill -STOP "$(redis_pid)"
	emu_queue b e2 3000
	failed_answer b "$(first_seq e2)"
	local ms
	ms=$(emu_out b ms_before_deadline)
	# In time, and not at once: it tried until about 0.5 s before the deadline.
	[ "$ms" -gt 0 ] && [ "$ms" -lt 2000 ] || fail "answered $ms ms before the deadline"
	# The stopped server may still run the script it was sent; the checkpoint makes the
	# redelivered event count once either way.
	kill -CONT "$(redis_pid)"
	emu_queue c e2
	ok_answer c
	counts_are e1 e2
	assert_equal "$(checkpoint)" "$(last_seq e2)"
	finish_on_500
}

@test "lambda: Redis gone and many retries: the back-off ends before a deadline 3 s away" {
	two_events 5
	emu_start
	lambda_bg --checkpoint --timeout-ms 5000 --retries 100
	emu_queue a e1
	ok_answer a
	redis_stop
	emu_queue b e2 3000
	failed_answer b "$(first_seq e2)"
	local ms
	ms=$(emu_out b ms_before_deadline)
	[ "$ms" -gt 0 ] && [ "$ms" -lt 2000 ] || fail "answered $ms ms before the deadline"
	redis_start
	emu_queue c e2
	ok_answer c
	counts_are e1 e2
	finish_on_500
}

@test "lambda: a deadline already past still gets an answer, and the next event is counted" {
	two_events 3
	emu_start
	lambda_bg --checkpoint
	emu_queue a e1 -1000
	wait_for 30 emu_answered a
	[ -e "$EMU/out/$(emu_rid a).response" ]
	local body
	body=$(emu_out a response | jq -c .)
	# Either applied in the little time there was, or reported failed from the first record.
	if [ "$body" = '{"batchItemFailures":[]}' ]; then
		expect_counts e1 > want
	else
		assert_equal "$body" "{\"batchItemFailures\":[{\"itemIdentifier\":\"$(first_seq e1)\"}]}"
		emu_queue b0 e1
		ok_answer b0
		expect_counts e1 > want
	fi
	assert_equal "$(redis_counters)" "$(cat want)"
	emu_queue c e2
	ok_answer c
	counts_are e1 e2
	finish_on_500
}

# --- rejected records --------------------------------------------------------------------------

@test "lambda: bad records go to the Redis dead letters, the rest is counted, the answer is success" {
	gen_lambda 1 6 > good
	jq -c '.Records[1].kinesis.data = "@@@@"
		| .Records[4].kinesis.data = ("not json {" | @base64)' good > bad
	gen_lambda 1 3 6 > after
	emu_start
	lambda_bg --checkpoint --dead-letter redis:kincount:dl
	emu_queue a bad
	ok_answer a
	emu_queue b after
	ok_answer b
	jq -c 'del(.Records[4]) | del(.Records[1])' bad > counted
	counts_are counted after
	assert_equal "$(rcli llen kincount:dl)" 2
	assert_equal "$(rcli lrange kincount:dl 0 -1 | jq -r .sequence_number)" \
		"$(jq -r '.Records[1, 4].kinesis.sequenceNumber' bad)"
	assert_equal "$(rcli lindex kincount:dl 0 | jq -r .reason)" 'invalid base64'
	assert_equal "$(checkpoint)" "$(last_seq after)"
	# Redelivered, the bad event neither counts nor dead-letters again.
	emu_queue c bad
	ok_answer c
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(rcli llen kincount:dl)" 2
	finish_on_500
}

@test "lambda: a record over --max-record-bytes is a dead letter, the others count, success" {
	gen_lambda 1 4 > good
	local big
	big=$(python3 -c 'import json; print(json.dumps({"page": "x" * 7000, "n": 1}))')
	jq -c --arg d "$(b64 "$big")" '.Records[2].kinesis.data = $d' good > oversized
	# The record is over the limit, the event not over twice it (that is another case, below).
	[ "$(wc -c < oversized)" -lt 12000 ]
	emu_start
	lambda_bg --dead-letter redis:kincount:dl --max-record-bytes 6000
	emu_queue a oversized
	ok_answer a
	jq -c 'del(.Records[2])' oversized > counted
	counts_are counted
	assert_equal "$(rcli llen kincount:dl)" 1
	assert_equal "$(rcli lindex kincount:dl 0 | jq -r '[.reason, .sequence_number] | join(" ")')" \
		"record too large $(jq -r '.Records[2].kinesis.sequenceNumber' oversized)"
	finish_on_500
}

@test "lambda: an event over twice --max-record-bytes: Kincount.EventTooLarge, the loop goes on" {
	gen_lambda 1 3 > small
	gen_lambda 1 40 3 > large
	# An even size n, so that n is exactly twice n/2 (JSON allows the blank added).
	[ $(($(wc -c < large) % 2)) = 0 ] || sed -i 's/^/ /' large
	local n
	n=$(wc -c < large)
	emu_start
	# Twice the limit is n - 2: the event is not read.
	lambda_bg --checkpoint --dead-letter redis:kincount:dl --max-record-bytes $((n / 2 - 1))
	emu_queue a large
	emu_queue b small
	ok_answer b
	[ ! -e "$EMU/out/$(emu_rid a).response" ]
	jq -e '.errorType == "Kincount.EventTooLarge" and (.errorMessage | length) > 0' \
		"$EMU/out/$(emu_rid a).error"
	grep -qx 'Lambda-Runtime-Function-Error-Type: Kincount.EventTooLarge' \
		"$EMU/out/$(emu_rid a).headers"
	counts_are small
	assert_equal "$(rcli llen kincount:dl)" 0
	finish_on_500
	# Twice the limit is n: the same event is read and counted.
	rm "$EMU/stop"
	lambda_bg --checkpoint --dead-letter redis:kincount:dl --max-record-bytes $((n / 2))
	emu_queue c large
	ok_answer c
	counts_are small large
	finish_on_500
}

# --- events that are not Kinesis events ------------------------------------------------------

@test "lambda: an event that is not a Kinesis event gets an invocation error; the loop goes on" {
	two_events 3
	printf 'this is not JSON\n' > notjson
	printf '{"foo":1}\n' > norecords
	printf '{"Records":[{"eventSource":"aws:sqs","body":"x"}]}\n' > sqs
	printf '{"Records":[{"SequenceNumber":"1","Data":"e30=","PartitionKey":"p"}]}\n' > getrecords
	head -c 100 e1 > cut
	printf '{"Records":"none"}\n' > notarray
	printf '{"Records":[]}\n' > empty
	: > nothing
	local bad="notjson norecords sqs getrecords cut notarray nothing"
	emu_start
	lambda_bg --checkpoint --dead-letter redis:kincount:dl
	emu_queue a e1
	local n
	for n in $bad; do
		emu_queue "b-$n" "$n"
	done
	emu_queue c e2
	ok_answer a
	for n in $bad; do
		wait_for 30 emu_answered "b-$n"
		[ ! -e "$EMU/out/$(emu_rid "b-$n").response" ] || fail "$n got a response"
		emu_out "b-$n" error | jq -e '(.errorMessage | type) == "string"
			and (.errorMessage | length) > 0 and .errorType == "Kincount.InvalidEvent"' ||
			fail "$n: error body $(emu_out "b-$n" error)"
		grep -qx 'Content-Type: application/vnd.aws.lambda.error+json' \
			"$EMU/out/$(emu_rid "b-$n").headers" || fail "$n: $(emu_out "b-$n" headers)"
		grep -qx 'Lambda-Runtime-Function-Error-Type: Kincount.InvalidEvent' \
			"$EMU/out/$(emu_rid "b-$n").headers" ||
			fail "$n: no error type header: $(emu_out "b-$n" headers)"
	done
	ok_answer c
	counts_are e1 e2
	assert_equal "$(rcli llen kincount:dl)" 0
	finish_on_500
	assert_equal "$(requests POST 'invocation/[^/]+/error' 202)" 7
}

@test "lambda: an event whose Records array is empty is not a Kinesis event (man page: 'or empty')" {
	gen_lambda 1 3 > e1
	printf '{"Records":[]}\n' > empty
	emu_start
	lambda_bg --checkpoint
	emu_queue a empty
	emu_queue b e1
	ok_answer b
	[ ! -e "$EMU/out/$(emu_rid a).response" ] || fail "got a response: $(emu_out a response)"
	jq -e '.errorType == "Kincount.InvalidEvent"' "$EMU/out/$(emu_rid a).error" > /dev/null
	counts_are e1
	finish_on_500
}

# --- the Runtime API says exit, or goes away ---------------------------------------------------

@test "lambda: next answering 500 ends kincount with the documented status, nothing left pending" {
	gen_lambda 2 2 > ev
	emu_start
	emu_queue_lines e ev
	touch "$EMU/stop"
	lambda_bg
	kc_wait 10
	assert_equal "$KSTATUS" "$EXIT_ON_500"
	ok_answer e-0000
	ok_answer e-0001
	assert_equal "$(tail -n 1 "$EMU/log" | cut -d' ' -f2-)" 'GET /2018-06-01/runtime/invocation/next 500'
	assert_equal "$(cat out)" ''
}

@test "lambda: the Runtime API killed while kincount waits for an event: a clean exit" {
	one_answered_then_waiting
	kill -9 "$EMU_PID"
	wait "$EMU_PID" 2>/dev/null || true
	EMU_PID=
	kc_wait 10
	assert_equal "$KSTATUS" "$EXIT_API_GONE"
	[[ $kstderr == *kincount:* ]] || fail "no message: $kstderr"
	[[ $kstderr != *AddressSanitizer* && $kstderr != *runtime\ error* ]] || fail "$kstderr"
	counts_are ev
}

@test "lambda: the Runtime API goes away after an answer (--quit-after 2): a clean exit" {
	gen_lambda 3 2 > ev
	emu_start --quit-after 2
	emu_queue_lines e ev
	lambda_bg --checkpoint
	kc_wait 20
	assert_equal "$KSTATUS" "$EXIT_API_GONE"
	ok_answer e-0000
	ok_answer e-0001
	[ -e "$EMU/queue/e-0002.json" ]
	head -n 2 ev > sofar
	counts_are sofar
	assert_equal "$(checkpoint)" "$(last_seq sofar)"
	[[ $kstderr != *AddressSanitizer* && $kstderr != *runtime\ error* ]] || fail "$kstderr"
}

@test "lambda: nothing listening at AWS_LAMBDA_RUNTIME_API: a clean exit, no hang" {
	AWS_LAMBDA_RUNTIME_API=$(python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print("127.0.0.1:%d" % s.getsockname()[1])')
	export AWS_LAMBDA_RUNTIME_API
	EMU=$BATS_TEST_TMPDIR
	lambda_bg
	kc_wait 10
	assert_equal "$KSTATUS" "$EXIT_API_GONE"
	assert_equal "$(cat out)" ''
	[[ $kstderr == *kincount:* ]] || fail "no message: $kstderr"
}

@test "lambda: SIGTERM while kincount waits for an event ends it at once (128 + 15)" {
	one_answered_then_waiting
	kill -TERM "$KPID"
	kc_wait 5
	assert_equal "$KSTATUS" 143
	# No event was taken and left unanswered.
	emu_queue b ev
	assert_equal "$(cat "$EMU/ids" | wc -l)" 1
}

@test "lambda: next answering 403 again and again: five tries in a row, then exit 4" {
	emu_start --status-next 403
	gen_lambda 1 1 > ev
	emu_queue a ev
	lambda_bg
	kc_wait 10
	assert_equal "$KSTATUS" 4
	assert_equal "$(requests GET invocation/next 403)" 5
	assert_equal "$(wc -l < "$EMU/log")" 5
	[ -e "$EMU/queue/a.json" ]
	[[ $kstderr == *403* ]] || fail "stderr: $kstderr"
}

# sigterm_in_invocation TIMEOUT_MS: kincount counts event e1, then gets e2 with the server
# stopped, and SIGTERM while it waits on the server; its pid in KPID (not yet collected).
sigterm_in_invocation() {
	two_events 3
	emu_start
	lambda_bg --checkpoint --timeout-ms "$1" --retries 5
	emu_queue a e1
	ok_answer a
	RESTART_AFTER=1
	kill -STOP "$(redis_pid)"
	emu_queue b e2
	# Served, and kincount is waiting on the stopped server.
	wait_for 10 test -e "$EMU/served/b.rid"
	wait_for 10 in_syscall "$KPID" poll read
	kill -TERM "$KPID"
}

@test "lambda: SIGTERM during an invocation ends kincount at once (not after --timeout-ms)" {
	sigterm_in_invocation 10000
	kc_wait 2
	assert_equal "$KSTATUS" 143
}

@test "lambda: SIGTERM during an invocation: answered as failed; a new runtime counts it once" {
	sigterm_in_invocation 1000
	kc_wait 10
	assert_equal "$KSTATUS" 143
	failed_answer b "$(first_seq e2)"
	kill -CONT "$(redis_pid)"
	# Whether or not the server ran the batch it had been sent, a new runtime counts the
	# redelivered event once.
	lambda_bg --checkpoint
	emu_queue c e2
	ok_answer c
	counts_are e1 e2
	finish_on_500
}

# --- start-up errors ---------------------------------------------------------------------------

# init_error_case ARG...: kincount --lambda ARG... exits 2 (or INIT_STATUS) before asking for an event, having
# posted the standard error body to /runtime/init/error with the error type header (type
# Kincount.UsageError, or INIT_TYPE).
init_error_case() {
	rm -f "$EMU/init-error" "$EMU/init-error.headers"
	run "-${INIT_STATUS:-2}" --separate-stderr kc --lambda "$@"
	assert_output ''
	[[ $stderr == *kincount:* ]] || fail "$*: stderr: $stderr"
	[ -e "$EMU/init-error" ] || fail "$*: nothing posted to init/error"
	jq -e --arg t "${INIT_TYPE:-Kincount.UsageError}" '(.errorMessage | type) == "string"
		and (.errorMessage | length) > 0 and .errorType == $t and .stackTrace == []' \
		"$EMU/init-error" ||
		fail "$*: init error body: $(cat "$EMU/init-error")"
	grep -qx 'Content-Type: application/vnd.aws.lambda.error+json' "$EMU/init-error.headers" ||
		fail "$*: $(cat "$EMU/init-error.headers")"
	grep -qx "Lambda-Runtime-Function-Error-Type: ${INIT_TYPE:-Kincount.UsageError}" \
		"$EMU/init-error.headers" ||
		fail "$*: no error type header: $(cat "$EMU/init-error.headers")"
}

@test "lambda: usage errors post an init error and exit 2 without asking for an event" {
	gen_lambda 1 1 > ev
	emu_start
	emu_queue a ev
	init_error_case "${KC_KEYS[@]}"
	init_error_case -r "$REDIS_URL" -c "${KC_KEYS[@]}"
	init_error_case -r "$REDIS_URL" -d
	init_error_case -r "$REDIS_URL" "${KC_KEYS[@]}" ev
	init_error_case -r "$REDIS_URL" -k 'kc:{page'
	init_error_case -r 'redis://127.0.0.1:notaport' "${KC_KEYS[@]}"
	init_error_case -r "$REDIS_URL" --strict "${KC_KEYS[@]}"
	init_error_case -r "$REDIS_URL" --max-errors 3 "${KC_KEYS[@]}"
	init_error_case -r "$REDIS_URL" -f json "${KC_KEYS[@]}"
	init_error_case -r "$REDIS_URL" --show-checkpoint clicks/shardId-000000000000
	assert_equal "$(requests POST init/error 202)" 10
	assert_equal "$(requests GET invocation/next '[0-9]+')" 0
	[ -e "$EMU/queue/a.json" ]
	assert_equal "$(redis_counters)" ''
}

@test "lambda: an unknown option or a missing argument posts an init error that says so, exit 2" {
	emu_start
	init_error_case -r "$REDIS_URL" --no-such-option
	jq -e '.errorMessage | test("no-such-option")' "$EMU/init-error"
	init_error_case -r "$REDIS_URL" -k
	jq -e '.errorMessage | test("requires an argument|missing|-k")' "$EMU/init-error"
	assert_equal "$(requests GET invocation/next '[0-9]+')" 0
}

@test "lambda: a password Redis refuses is an init error of type Kincount.RedisError, exit 3" {
	RESTART_AFTER=1
	[ "$(rcli config set requirepass sesame)" = OK ]
	emu_start
	INIT_STATUS=3 INIT_TYPE=Kincount.RedisError init_error_case -r "$REDIS_URL" "${KC_KEYS[@]}"
	assert_equal "$(requests GET invocation/next '[0-9]+')" 0
}

@test "lambda: --lambda without AWS_LAMBDA_RUNTIME_API is a usage error (exit 2)" {
	run -2 --separate-stderr env -u AWS_LAMBDA_RUNTIME_API "$KINCOUNT" --lambda -r "$REDIS_URL"
	assert_output ''
	[[ $stderr == *AWS_LAMBDA_RUNTIME_API* ]] || fail "stderr: $stderr"
}

# --- the emulator itself -----------------------------------------------------------------------

# emu_http METHOD PATH [BODY [HEADER:VALUE...]]: one request to the emulator with python3's
# http.client; prints the status, then the response headers in lowercase "name: value" lines,
# a blank line and the body.  A body "@chunked:TEXT" is sent chunked.
emu_http() {
	timeout 10 python3 - "$AWS_LAMBDA_RUNTIME_API" "$@" <<-'EOF2'
	import http.client, sys
	addr, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
	body = sys.argv[4] if len(sys.argv) > 4 else None
	host, port = addr.rsplit(":", 1)
	c = http.client.HTTPConnection(host, int(port))
	hdrs = dict(h.split(":", 1) for h in sys.argv[5:])
	path = "/2018-06-01/runtime/" + path
	if body is not None and body.startswith("@chunked:"):
	    text = body[len("@chunked:"):].encode()
	    c.request(method, path, body=iter([text[:3], text[3:]]), headers=hdrs,
	              encode_chunked=True)
	else:
	    c.request(method, path, body=body, headers=hdrs)
	r = c.getresponse()
	print(r.status)
	for k, v in r.getheaders():
	    print("%s: %s" % (k.lower(), v))
	print()
	sys.stdout.write(r.read().decode())
	EOF2
}

@test "emulator: serves in name order with the Lambda headers; stores answers; 400, 500" {
	emu_start
	printf '{"n":2}\n' > two
	printf '{"n":1}\n' > one
	emu_queue b two 1500
	emu_queue a one '' req-a
	local t0 r rid
	t0=$(date +%s%3N)
	r=$(emu_http GET invocation/next)
	assert_equal "$(head -n 1 <<< "$r")" 200
	assert_equal "$(tail -n 1 <<< "$r")" '{"n":1}'
	grep -qx 'lambda-runtime-aws-request-id: req-a' <<< "$r"
	grep -qx 'lambda-runtime-invoked-function-arn: arn:aws:lambda:.*' <<< "$r"
	grep -qx 'lambda-runtime-trace-id: Root=1-.*' <<< "$r"
	local dl
	dl=$(sed -n 's/^lambda-runtime-deadline-ms: //p' <<< "$r")
	[ "$dl" -ge $((t0 + 60000)) ] && [ "$dl" -le $((t0 + 70000)) ] || fail "deadline $dl, t0 $t0"
	r=$(emu_http GET invocation/next)
	assert_equal "$(tail -n 1 <<< "$r")" '{"n":2}'
	rid=$(sed -n 's/^lambda-runtime-aws-request-id: //p' <<< "$r")
	assert_equal "$rid" "$(emu_rid b)"
	[[ $rid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]
	assert_equal "$(cat "$EMU/ids")" "a req-a
b $rid"
	[ -e "$EMU/served/a.json" ] && [ -e "$EMU/served/a.id" ] && [ -e "$EMU/served/b.deadline" ]
	assert_equal "$(ls -A "$EMU/queue")" ''
	r=$(emu_http POST invocation/req-a/response '{"ok":1}' 'X-Test: yes')
	assert_equal "$(head -n 1 <<< "$r")" 202
	assert_equal "$(cat "$EMU/out/req-a.response")" '{"ok":1}'
	grep -qx 'X-Test: yes' "$EMU/out/req-a.headers"
	local ms
	ms=$(cat "$EMU/out/req-a.ms_before_deadline")
	[ "$ms" -gt 50000 ] && [ "$ms" -le 60000 ] || fail "ms before deadline: $ms"
	# Answered already, or never served: 400, nothing stored.
	assert_equal "$(emu_http POST invocation/req-a/response again | head -n 1)" 400
	assert_equal "$(emu_http POST invocation/nosuch/error '{}' | head -n 1)" 400
	assert_equal "$(cat "$EMU/out/req-a.response")" '{"ok":1}'
	[ ! -e "$EMU/out/nosuch.error" ]
	r=$(emu_http POST "invocation/$rid/error" '@chunked:{"errorMessage":"m"}' \
		'Lambda-Runtime-Function-Error-Type: T.x')
	assert_equal "$(head -n 1 <<< "$r")" 202
	assert_equal "$(cat "$EMU/out/$rid.error")" '{"errorMessage":"m"}'
	grep -qx 'Lambda-Runtime-Function-Error-Type: T.x' "$EMU/out/$rid.headers"
	assert_equal "$(emu_http POST init/error '{"e":1}' | head -n 1)" 202
	assert_equal "$(cat "$EMU/init-error")" '{"e":1}'
	touch "$EMU/stop"
	assert_equal "$(emu_http GET invocation/next | head -n 1)" 500
	assert_equal "$(emu_http GET invocation/nope | head -n 1)" 404
	assert_equal "$(cut -d' ' -f2- "$EMU/log")" \
"GET /2018-06-01/runtime/invocation/next 200
GET /2018-06-01/runtime/invocation/next 200
POST /2018-06-01/runtime/invocation/req-a/response 202
POST /2018-06-01/runtime/invocation/req-a/response 400
POST /2018-06-01/runtime/invocation/nosuch/error 400
POST /2018-06-01/runtime/invocation/$rid/error 202
POST /2018-06-01/runtime/init/error 202
GET /2018-06-01/runtime/invocation/next 500
GET /2018-06-01/runtime/invocation/nope 404"
	# The first column is time.monotonic_ns(), in order.
	cut -d' ' -f1 "$EMU/log" | sort -n -c
}

@test "emulator: next blocks until an event comes; a client that hangs up leaves it queued" {
	emu_start
	emu_http GET invocation/next > first &
	local cpid=$!
	printf '{"late":1}\n' > late
	# Not answered while the queue is empty.
	! wait_until 1 test -s first
	emu_queue z late
	wait "$cpid"
	assert_equal "$(tail -n 1 first)" '{"late":1}'
	# A client that gives up: the event queued after it is still there for the next one.
	run -124 timeout 0.5 python3 -c '
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)))
s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(1)' "$AWS_LAMBDA_RUNTIME_API"
	wait_for 10 grep -q ' 499$' "$EMU/log"
	emu_queue y late
	assert_equal "$(emu_http GET invocation/next | tail -n 1)" '{"late":1}'
	assert_equal "$(cut -d' ' -f1 "$EMU/ids")" "z
y"
}

@test "emulator: --status-next and --quit-after" {
	emu_start --status-next 403
	printf '{}\n' > e
	emu_queue a e
	assert_equal "$(emu_http GET invocation/next | head -n 1)" 403
	[ -e "$EMU/queue/a.json" ]
	emu_stop
	# Event a, left queued above, is served first.
	emu_start --quit-after 1
	local pid=$EMU_PID
	emu_queue b e
	assert_equal "$(emu_http GET invocation/next | head -n 1)" 200
	assert_equal "$(emu_http POST "invocation/$(emu_rid a)/response" '{}' | head -n 1)" 202
	wait "$pid"
	EMU_PID=
	[ ! -e "$EMU/addr" ]
	run -1 --separate-stderr emu_http GET invocation/next
	assert_equal "$(cat "$EMU/out/$(emu_rid a).response")" '{}'
}

@test "lambda: --stats=json first_keys are the keys whole, even with ', ' in them" {
	gen_lambda 1 2 | sed 's/"cart"/"a, b"/' > ev
	# The first record's payload is base64: rewrite its page in the decoded JSON instead.
	python3 - ev > ev2 <<-'EOF'
	import base64, json, sys
	doc = json.loads(open(sys.argv[1]).read())
	for r in doc["Records"]:
	    p = base64.b64decode(r["kinesis"]["data"]).decode().replace('"cart"', '"a, b"')
	    r["kinesis"]["data"] = base64.b64encode(p.encode()).decode()
	print(json.dumps(doc))
	EOF
	emu_start
	emu_queue a ev2
	lambda_bg --stats=json
	ok_answer a
	finish_on_500
	local first
	first=$(python3 -c '
import base64, json, sys
doc = json.load(open(sys.argv[1]))
p = base64.b64decode(doc["Records"][0]["kinesis"]["data"]).decode()
v = json.loads(p.splitlines()[0])
v = v[0] if isinstance(v, list) else v
print(json.dumps(["kc:%s:%d" % (v["page"], v["n"]), "kc:%s" % v["page"]], separators=(",", ":")))' ev2)
	[[ $first == *'a, b'* ]] || fail "the generator gave no 'a, b' page: $first"
	assert_equal "$(grep '^{' <<< "$kstderr" | jq -c .first_keys)" "$first"
}

@test "lambda: an event sent again after it was applied is all duplicates, not out of order" {
	two_events 3
	emu_start
	emu_queue a e1
	emu_queue b e1
	emu_queue c e2
	lambda_bg --checkpoint --stats=json
	ok_answer a
	ok_answer b
	ok_answer c
	finish_on_500
	counts_are e1 e2
	# The second invocation's object: three records, all of them duplicates (Lambda's
	# redelivery of what an earlier invocation applied), none out of order.
	assert_equal "$(grep '^{' <<< "$kstderr" | sed -n 2p | jq -c '[.result, .records, .duplicates, .out_of_order, .events]')" '["applied",3,3,0,0]'
	assert_equal "$(grep '^{' <<< "$kstderr" | sed -n 3p | jq -c '[.records, .duplicates, .out_of_order]')" '[3,0,0]'
}
