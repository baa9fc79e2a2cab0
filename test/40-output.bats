#!/usr/bin/env bats
# Output: keys in input order, -c counts, -d payloads, -s statistics, the progress meter,
# the idle flush of a live pipe, and a closed stdout. Expected outputs are worked out by hand.

load helper

# A long literal in the key makes the big input give megabytes of output, more than any
# output buffer and pipe can hold, so a slow reader really holds kincount up.
LONGKEY='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-{id}'

setup_file() {
	# 100000 NDJSON documents {"id":1} ... {"id":100000}.
	awk 'BEGIN { for (i = 1; i <= 100000; i++) printf "{\"id\":%d}\n", i }' > "$BATS_FILE_TMPDIR/big"
}

setup() {
	BIG=$BATS_FILE_TMPDIR/big
	cd "$BATS_TEST_TMPDIR"
}

# rec SEQ PAYLOAD: one Lambda record (compact JSON) carrying PAYLOAD base64-encoded.
rec() {
	printf '{"kinesis":{"partitionKey":"pk-%s","sequenceNumber":"%s","data":"%s","approximateArrivalTimestamp":1450310400.5},"eventID":"shardId-000000000000:%s","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/clicks","awsRegion":"us-east-1"}' \
		"$1" "$1" "$(b64 "$2")" "$1"
}

# event REC...: one Lambda event on one line holding the given records.
event() {
	local IFS=,
	printf '{"Records":[%s]}\n' "$*"
}

# click ID: a click-stream payload with the given id.
click() {
	printf '{"page":"cart","section":"","element":"checkoutnow","action":"impression","id":%s}' "$1"
}

# --- keys ------------------------------------------------------------------------------------

@test "default: one key per event in input order, default template" {
	{
		event "$(rec 1 "$(click 30)")" "$(rec 2 "[$(click 10),$(click 20)]")"
		lambda_event 3 "$(click 5)"
	} > in
	run -0 --separate-stderr "$KINCOUNT" in
	assert_output - <<-'EOF'
	2015-12-17:cart::checkoutnow:impression_30
	2015-12-17:cart::checkoutnow:impression_10
	2015-12-17:cart::checkoutnow:impression_20
	2015-12-17:cart::checkoutnow:impression_5
	EOF
	assert_equal "$stderr" ''
}

@test "default: several templates give their keys in template order for each event" {
	printf '%s\n' '{"id":3}' '{"id":1}' '{"id":2}' > in
	run -0 --separate-stderr "$KINCOUNT" -f json -k '{id}' -k 'x{id}' in
	assert_output $'3\nx3\n1\nx1\n2\nx2'
	assert_equal "$stderr" ''
}

# --- -c --------------------------------------------------------------------------------------

@test "-c: KEY<TAB>COUNT sorted bytewise" {
	printf '{"k":"%s"}\n' b a b B 'a:x' 'é' a b > in
	printf '{"k":%s}\n' 10 9 >> in
	# Bytewise: "10" < "9" < "B" < "a" < "a:x" < "b" < "\xc3\xa9".
	run -0 --separate-stderr "$KINCOUNT" -c -f json -k '{k}' in
	assert_output "$(printf '%s\t%s\n' 10 1 9 1 B 1 a 2 'a:x' 1 b 3 'é' 1)"
	assert_equal "$stderr" ''
	run -0 --separate-stderr "$KINCOUNT" --count -f json -k '{k}' in
	assert_output "$(printf '%s\t%s\n' 10 1 9 1 B 1 a 2 'a:x' 1 b 3 'é' 1)"
	assert_equal "$stderr" ''
}

@test "-c: counts add up over records and files" {
	lambda_event 1 "$(click 1)" > a
	{
		event "$(rec 2 "[$(click 1),$(click 2)]")"
		lambda_event 3 "$(click 1)"
	} > b
	run -0 --separate-stderr "$KINCOUNT" -c a b
	assert_output $'2015-12-17:cart::checkoutnow:impression_1\t3\n2015-12-17:cart::checkoutnow:impression_2\t1'
	assert_equal "$stderr" ''
}

# --- -d --------------------------------------------------------------------------------------

@test "-d: payloads as they were; an array gives one line per element" {
	{
		event "$(rec 1 '{"n":1.50,"s":"\u00e9"}')" "$(rec 2 '[{"a":1},{"b":2}]')"
		lambda_event 3 $'{"x":1}\n{"y":2}'
	} > in
	run -0 --separate-stderr "$KINCOUNT" -d in
	assert_output - <<-'EOF'
	{"n":1.50,"s":"\u00e9"}
	{"a":1}
	{"b":2}
	{"x":1}
	{"y":2}
	EOF
	assert_equal "$stderr" ''
}

@test "-d: a pretty-printed payload comes out on one line" {
	lambda_event 1 $'{\n  "a": 1,\n  "b": [\n    2,\n    3\n  ]\n}' > in
	run -0 --separate-stderr "$KINCOUNT" --decode in
	assert_output '{   "a": 1,   "b": [     2,     3   ] }'
	assert_equal "$stderr" ''
}

@test "-d: json documents, pretty-printed or not, one line each" {
	printf '{\n  "a": 1\n}\n{"b":2}\n' > in
	run -0 --separate-stderr "$KINCOUNT" -d -f json in
	assert_output $'{   "a": 1 }\n{"b":2}'
	assert_equal "$stderr" ''
}

@test "-c with -d is a usage error" {
	lambda_event 1 "$(click 1)" > in
	run -2 --separate-stderr "$KINCOUNT" -c -d in
	assert_output ''
	assert_regex "${stderr_lines[0]}" '^kincount: '
}

# --- -s --------------------------------------------------------------------------------------

# stats_input: 4 records (the third has bad base64) holding 4 events, one of which -w p!=b
# filters out; with -k '{p}' -k all the other 3 give 6 keys, 3 of them distinct.
stats_input() {
	{
		event "$(rec 1 '[{"p":"a","k":1},{"p":"b","k":2}]')" "$(rec 2 '{"p":"a","k":3}')"
		event '{"kinesis":{"partitionKey":"pk-3","sequenceNumber":"3","data":"!!!!"}}'
		event "$(rec 4 '{"p":"c","k":4}')"
	} > in
}

@test "-s: one text line on stderr with every number" {
	stats_input
	run -1 --separate-stderr "$KINCOUNT" -s -k '{p}' -k all -w 'p!=b' in
	assert_output $'a\nall\na\nall\nc\nall'
	assert_equal "${#stderr_lines[@]}" 3
	local l stat='' n=0
	for l in "${stderr_lines[@]}"; do
		case $l in
		'kincount: records '*) stat=$l ;;
		'kincount: in:2: record 3 (seq 3): invalid base64') n=$((n + 1)) ;;
		'kincount: 1 rejected (invalid base64: 1)') n=$((n + 1)) ;;
		esac
	done
	assert_equal "$n" 2
	assert_regex "$stat" '^kincount: records 4, events 4, keys 6, distinct keys 3, rejected 1, filtered 1, duplicates 0, out of order 0, time field missing 0, aggregates 0, sub-records 0, log events 0, control messages 0, batches 0, redis commands 0, seconds [0-9]+\.[0-9]{3}, records/s [0-9]+$'
}

@test "--stats=text is the same as -s" {
	stats_input
	run -1 --separate-stderr "$KINCOUNT" -q --stats=text -k '{p}' -k all -w 'p!=b' in
	assert_output $'a\nall\na\nall\nc\nall'
	assert_equal "${#stderr_lines[@]}" 2
	assert_regex "$stderr" 'kincount: records 4, events 4, keys 6, distinct keys 3, rejected 1, filtered 1, duplicates 0, out of order 0, time field missing 0, aggregates 0, sub-records 0, log events 0, control messages 0, batches 0, redis commands 0, seconds [0-9]+\.[0-9]{3}, records/s [0-9]+'
}

@test "--stats=json: one JSON line with every number" {
	stats_input
	run -1 --separate-stderr "$KINCOUNT" --stats=json -k '{p}' -k all -w 'p!=b' in
	assert_output $'a\nall\na\nall\nc\nall'
	assert_equal "${#stderr_lines[@]}" 3
	local l json=''
	for l in "${stderr_lines[@]}"; do
		[[ $l == '{'* ]] && json=$l
	done
	run -0 jq -c 'keys_unsorted' <<<"$json"
	assert_output '["records","events","keys","distinct_keys","rejected","filtered","duplicates","out_of_order","time_field_missing","aggregates","sub_records","log_events","control_messages","batches","redis_commands","seconds","records_per_second"]'
	run -0 jq -r '.records, .events, .keys, .distinct_keys, .rejected, .filtered, .duplicates, .batches, .redis_commands' <<<"$json"
	assert_output $'4\n4\n6\n3\n1\n1\n0\n0\n0'
	run -0 jq -r '(.seconds | type), (.records_per_second | type), (.seconds >= 0), (.records_per_second >= 0)' <<<"$json"
	assert_output $'number\nnumber\ntrue\ntrue'
}

@test "-sjson works as the short form" {
	printf '%s\n' '{"id":1}' '{"id":1}' > in
	run -0 --separate-stderr "$KINCOUNT" -sjson -f json -k '{id}' in
	assert_output $'1\n1'
	run -0 jq -c '[.records, .events, .keys, .distinct_keys, .rejected, .filtered]' <<<"$stderr"
	assert_output '[2,2,2,1,0,0]'
}

@test "--stats=json with -d: distinct keys are 0" {
	printf '%s\n' '{"id":1}' '[{"id":2},{"id":3}]' > in
	run -0 --separate-stderr "$KINCOUNT" --stats=json -d -f json in
	assert_output $'{"id":1}\n{"id":2}\n{"id":3}'
	run -0 jq -c '[.records, .events, .distinct_keys, .rejected]' <<<"$stderr"
	assert_output '[2,3,0,0]'
}

# --- progress meter --------------------------------------------------------------------------

# under_tty OPTION...: run kincount OPTION... on the big input under script(1), so that stderr
# is a terminal, with stdout going to a reader that waits 1 s first: kincount is held up on
# a full pipe, and then has most of its input still to read. The terminal's bytes are left
# in ./transcript.
under_tty() {
	printf '%q ' "$KINCOUNT" "$@" -f json -k "$LONGKEY" "$BIG" > cmd
	printf '| { sleep 1; cat > /dev/null; }\nexit "${PIPESTATUS[0]}"\n' >> cmd
	SHELL=/bin/bash script -qfec 'bash ./cmd' /dev/null < /dev/null > transcript
}

# assert_meter FILE: FILE shows a percent line and ends with the erase sequence.
assert_meter() {
	local t
	t=$(cat "$1")
	assert_regex "$t" 'kincount: [0-9]{1,3}% [0-9]+ records [0-9]+ records/s ETA [0-9]+:[0-9]{2}'
	printf '\r\033[K' > erase
	run -0 bash -c 'tail -c 4 "$0" | cmp - erase' "$1"
}

@test "progress: --progress on a terminal redraws the meter and erases it at exit" {
	run -0 under_tty --progress
	assert_meter transcript
	# The meter is redrawn in place: no line ends.
	run -0 bash -c "tr -cd '\\n' < transcript | wc -c"
	assert_output '0'
}

@test "progress: on by itself when stderr is a terminal and the input a regular file" {
	run -0 under_tty
	assert_meter transcript
}

@test "progress: --no-progress shows nothing on a terminal" {
	run -0 under_tty --no-progress
	run -0 wc -c < transcript
	assert_output '0'
}

@test "progress: off when stderr is not a terminal" {
	run -0 --separate-stderr bash -c '"$0" -f json -k "$1" "$2" | { sleep 1; cat > /dev/null; }; exit "${PIPESTATUS[0]}"' "$KINCOUNT" "$LONGKEY" "$BIG"
	assert_output ''
	assert_equal "$stderr" ''
}

@test "progress: --progress forces it when stderr is not a terminal" {
	run -0 --separate-stderr bash -c '"$0" --progress -f json -k "$1" "$2" 2> err | { sleep 1; cat > /dev/null; }; exit "${PIPESTATUS[0]}"' "$KINCOUNT" "$LONGKEY" "$BIG"
	assert_output ''
	assert_equal "$stderr" ''
	assert_meter err
}

# --- idle flush ------------------------------------------------------------------------------

@test "idle flush: the first line's key is out before the writer closes" {
	local pid
	mkfifo fifo
	# fd 3 is closed for the background job so that bats does not wait for it.
	"$KINCOUNT" -f json -k '{id}' --flush-ms 200 < fifo > out 2> err 3>&- &
	pid=$!
	exec 5> fifo
	echo '{"id":1}' >&5
	# The writer stays open: the key must come out by the idle flush alone.
	wait_until 10 grep -q . out || fail "no key after 10 s of idle input"
	run -0 cat out
	assert_output '1'
	# kincount is still waiting for the second line.
	run -0 kill -0 "$pid"
	echo '{"id":2}' >&5
	exec 5>&-
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	run -0 cat out
	assert_output $'1\n2'
	run -0 cat err
	assert_output ''
}

# --- closed stdout ---------------------------------------------------------------------------

@test "closed stdout: | head -n1 prints one line and nothing on stderr" {
	run -0 --separate-stderr bash -c '"$0" -f json -k "{id}" "$1" | head -n1; echo "${PIPESTATUS[0]}" > status' "$KINCOUNT" "$BIG"
	assert_output '1'
	assert_equal "$stderr" ''
	# Killed by SIGPIPE: 128 + 13.
	run -0 cat status
	assert_output '141'
}

@test "closed stdout with SIGPIPE ignored: still no message" {
	run -0 --separate-stderr bash -c 'trap "" PIPE; "$0" -f json -k "{id}" "$1" | head -n1' "$KINCOUNT" "$BIG"
	assert_output '1'
	assert_equal "$stderr" ''
}
