#!/usr/bin/env bats
# Input handling that the golden loop cannot express: file names against standard input,
# several inputs in order, forced formats on the wrong input, strict base64, payloads that
# are not objects, and JSON that is broken or too deep. Inputs are built here with
# coreutils (base64, gzip, printf); expected outputs are written out by hand.

load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# user_event SEQ USER: a one-line Lambda event with one record {"user":"USER"}.
user_event() {
	lambda_event "$1" "{\"user\":\"$2\"}"
}

# lambda_records SEQ:DATA ...: one Lambda event line whose records carry DATA as is
# (already base64, or deliberately broken), each with sequence number SEQ.
lambda_records() {
	local rec recs= sep=
	for rec in "$@"; do
		recs+=$sep$(printf '{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk","sequenceNumber":"%s","data":"%s","approximateArrivalTimestamp":1450310400.5},"eventSource":"aws:kinesis","eventID":"shardId-000000000000:%s","awsRegion":"us-east-1","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}' \
			"${rec%%:*}" "${rec#*:}" "${rec%%:*}")
		sep=,
	done
	printf '{"Records":[%s]}\n' "$recs"
}

# ---------------------------------------------------------------- files and stdin

@test "a file named as argument gives the same keys as the same bytes on stdin" {
	{ user_event 1 a; user_event 2 b; } >in.json

	run -0 --separate-stderr "$KINCOUNT" -k '{user}' in.json
	assert_output $'a\nb'
	assert_equal "$stderr" ""

	run -0 --separate-stderr "$KINCOUNT" -k '{user}' <in.json
	assert_output $'a\nb'
	assert_equal "$stderr" ""
}

@test "several files are read in the order given" {
	user_event 1 first >1.json
	user_event 2 second >2.json
	b64 '{"user":"third"}' >3.b64
	echo >>3.b64

	run -0 --separate-stderr "$KINCOUNT" -k '{user}' 2.json 3.b64 1.json
	assert_output $'second\nthird\nfirst'
	assert_equal "$stderr" ""
}

@test "'-' reads standard input at its place among the files" {
	user_event 1 a >a.json
	user_event 2 b >b.json
	user_event 3 stdin >c.json

	run -0 --separate-stderr "$KINCOUNT" -k '{user}' a.json - b.json <c.json
	assert_output $'a\nstdin\nb'
	assert_equal "$stderr" ""
}

@test "each input is detected on its own: base64 lines, a Lambda event, NDJSON, each with a BOM" {
	{ printf '\357\273\277'; b64 '{"user":"b64"}'; echo; } >a.b64
	{ printf '\357\273\277'; user_event 1 lambda; } >b.json
	{ printf '\357\273\277'; echo '{"user":"json"}'; } >c.json

	run -0 --separate-stderr "$KINCOUNT" -k '{user}' a.b64 b.json c.json
	assert_output $'b64\nlambda\njson'
	assert_equal "$stderr" ""
}

@test "a gzip-compressed file among plain ones is decompressed" {
	user_event 1 plain >a.json
	user_event 2 zipped | gzip -n >b.json.gz
	{ b64 '{"user":"zipped-b64"}'; echo; } | gzip -n >c.b64.gz

	run -0 --separate-stderr "$KINCOUNT" -k '{user}' a.json b.json.gz c.b64.gz
	assert_output $'plain\nzipped\nzipped-b64'
	assert_equal "$stderr" ""
}

@test "messages name a file as given, standard input as <stdin>, and record numbers run on across inputs" {
	{ b64 '{"user":"a"}'; echo; b64 '{"user":"b"}'; echo; } >one.b64
	{ echo; b64 '{"user":"c"}'; echo; echo 'not*base64'; } >two.b64
	printf 'bad!\n' >three.b64

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' one.b64 ./two.b64 - <three.b64
	assert_output $'a\nb\nc'
	assert_equal "$stderr" "kincount: ./two.b64:3: record 4: invalid base64
kincount: <stdin>:1: record 5: invalid base64
kincount: 2 rejected (invalid base64: 2)"
}

@test "an unreadable file: the others are still read, exit 4" {
	user_event 1 a >a.json
	user_event 2 b >b.json

	run -4 --separate-stderr "$KINCOUNT" -k '{user}' a.json missing.json b.json
	assert_output $'a\nb'
	assert_regex "$stderr" "^kincount: missing\.json: "
}

# ---------------------------------------------------------------- forced formats

@test "-f lambda on a Firehose event: not a Lambda event, the next document still counts" {
	{
		printf '{"invocationId":"i","region":"us-east-1","records":[{"recordId":"r1","approximateArrivalTimestamp":1650000000000,"data":"%s"}]}\n' \
			"$(b64 '{"user":"fh"}')"
		user_event 1 lambda
	} >in.json

	run -1 --separate-stderr "$KINCOUNT" -f lambda -k '{user}' <in.json
	assert_output "lambda"
	assert_equal "$stderr" "kincount: <stdin>:1: not a Lambda event: no Records array
kincount: 1 rejected (bad envelope: 1)"
}

@test "-f lambda on a plain JSON payload: not a Lambda event" {
	run -1 --separate-stderr "$KINCOUNT" -f lambda -k '{user}' <<<'{"user":"a"}'
	assert_output ""
	assert_equal "$stderr" "kincount: <stdin>:1: not a Lambda event: no Records array
kincount: 1 rejected (bad envelope: 1)"
}

@test "-f get-records on a Firehose event: not a get-records page" {
	printf '{"records":[{"recordId":"r1","data":"%s"}]}\n' "$(b64 '{"user":"a"}')" >in.json

	run -1 --separate-stderr "$KINCOUNT" -f get-records -k '{user}' <in.json
	assert_output ""
	assert_equal "$stderr" "kincount: <stdin>:1: not a get-records page: no Records array
kincount: 1 rejected (bad envelope: 1)"
}

@test "-f firehose on a Lambda event: not a Firehose event" {
	user_event 1 a >in.json

	run -1 --separate-stderr "$KINCOUNT" -f firehose -k '{user}' <in.json
	assert_output ""
	assert_equal "$stderr" "kincount: <stdin>:1: not a Firehose event: no records array
kincount: 1 rejected (bad envelope: 1)"
}

@test "-f base64 on JSON lines: each line is invalid base64" {
	printf '%s\n' '{"user":"a"}' "$(b64 '{"user":"b"}')" >in.txt

	run -1 --separate-stderr "$KINCOUNT" -f base64 -k '{user}' <in.txt
	assert_output "b"
	assert_equal "$stderr" "kincount: <stdin>:1: record 1: invalid base64
kincount: 1 rejected (invalid base64: 1)"
}

# ---------------------------------------------------------------- strict base64

@test "base64 lines: bad characters, URL-safe alphabet, inner '=', bad length and non-zero pad bits are rejected" {
	# eyJhIjoxfR== and eyJhIjoxMn1= decode to {"a":1} and {"a":12} in a lenient decoder,
	# but their unused pad bits are not zero (the canonical forms end in Q== and 0=).
	# eyJxIjoiPj4-Pz8_In0= is the URL-safe form of eyJxIjoiPj4+Pz8/In0= ({"q":">>>???"}).
	cat >in.b64 <<-EOF
	$(b64 '{"user":"a"}')
	eyJ1c2VyIjoi!SJ9
	eyJxIjoiPj4-Pz8_In0=
	$(b64 '{"user":"b"}')
	eyJhIjoxfQ==eyJhIjoxfQ==
	eyJhIjoxfQ
	eyJhIjoxfR==
	eyJhIjoxMn1=
	QR==
	eyJhIjoxfQ===
	$(b64 '{"user":"c"}')
	EOF

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' <in.b64
	assert_output $'a\nb\nc'
	assert_equal "$stderr" "kincount: <stdin>:2: record 2: invalid base64
kincount: <stdin>:3: record 3: invalid base64
kincount: <stdin>:5: record 5: invalid base64
kincount: <stdin>:6: record 6: invalid base64
kincount: <stdin>:7: record 7: invalid base64
kincount: <stdin>:8: record 8: invalid base64
kincount: <stdin>:9: record 9: invalid base64
kincount: <stdin>:10: record 10: invalid base64
kincount: 8 rejected (invalid base64: 8)"
}

@test "canonical padding is accepted: one '=', two '=', none" {
	# {"a":1} is 7 bytes (two '='), {"a":12} 8 bytes (one '='), {"a":123} 9 bytes (none).
	printf '%s\n' eyJhIjoxfQ== eyJhIjoxMn0= eyJhIjoxMjN9 >in.b64

	run -0 --separate-stderr "$KINCOUNT" -k '{a}' <in.b64
	assert_output $'1\n12\n123'
	assert_equal "$stderr" ""
}

@test "strict base64 in Lambda records: the bad records are rejected with their sequence numbers, the others count" {
	lambda_records "1:$(b64 '{"user":"a"}')" "2:eyJxIjoiPj4-Pz8_In0=" "3:eyJhIjoxfR==" \
		"4:$(b64 '{"user":"b"}')" "5:eyJ1c2VyIjoiYyJ9 " "6:QR==" >in.json

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' <in.json
	assert_output $'a\nb'
	assert_equal "$stderr" "kincount: <stdin>:1: record 2 (seq 2): invalid base64
kincount: <stdin>:1: record 3 (seq 3): invalid base64
kincount: <stdin>:1: record 5 (seq 5): invalid base64
kincount: <stdin>:1: record 6 (seq 6): invalid base64
kincount: 4 rejected (invalid base64: 4)"
}

@test "at most 10 messages per category; -q keeps only the summary" {
	for i in $(seq 12); do echo 'bad!'; done >in.b64
	b64 '{"user":"ok"}' >>in.b64
	echo >>in.b64

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' <in.b64
	assert_output "ok"
	assert_equal "$(grep -c ': invalid base64$' <<<"$stderr")" 10
	assert_equal "${stderr_lines[0]}" "kincount: <stdin>:1: record 1: invalid base64"
	assert_equal "${stderr_lines[9]}" "kincount: <stdin>:10: record 10: invalid base64"
	assert_equal "${stderr_lines[${#stderr_lines[@]} - 1]}" "kincount: 12 rejected (invalid base64: 12)"

	run -1 --separate-stderr "$KINCOUNT" -q -k '{user}' <in.b64
	assert_output "ok"
	assert_equal "$stderr" "kincount: 12 rejected (invalid base64: 12)"
}

# ---------------------------------------------------------------- payloads

@test "payloads that are not one JSON object or an array of objects reject the whole record" {
	lambda_records "1:$(b64 '{"user":"a"}')" "2:$(b64 '42')" "3:$(b64 '"x"')" \
		"4:$(b64 '[{"user":"lost"},2]')" "5:" "6:$(b64 'not json')" \
		"7:$(b64 '{"user":"lost2"} x')" "8:$(b64 '{"user":"b"}')" >in.json

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' <in.json
	assert_output $'a\nb'
	assert_equal "$stderr" "kincount: <stdin>:1: record 2 (seq 2): payload is not a JSON object
kincount: <stdin>:1: record 3 (seq 3): payload is not a JSON object
kincount: <stdin>:1: record 4 (seq 4): payload is not a JSON object
kincount: <stdin>:1: record 5 (seq 5): payload is not a JSON object
kincount: <stdin>:1: record 6 (seq 6): payload is not a JSON object
kincount: <stdin>:1: record 7 (seq 7): payload is not a JSON object
kincount: 6 rejected (not an object: 6)"
}

@test "in json format a bare number, string or array with a number is a record that is not an object" {
	printf '%s\n' '42' '"x"' '[{"user":"lost"},2]' '{"user":"a"}' >in.json

	run -1 --separate-stderr "$KINCOUNT" -f json -k '{user}' <in.json
	assert_output "a"
	assert_equal "$stderr" "kincount: <stdin>:1: record 1: payload is not a JSON object
kincount: <stdin>:2: record 2: payload is not a JSON object
kincount: <stdin>:3: record 3: payload is not a JSON object
kincount: 3 rejected (not an object: 3)"
}

@test "a payload of several NDJSON objects gives one event each" {
	{ b64 $'{"user":"a"}\n{"user":"b"}\n{"user":"c"}'; echo; } >in.b64

	run -0 --separate-stderr "$KINCOUNT" -c -k '{user}' <in.b64
	assert_output $'a\t1\nb\t1\nc\t1'
	assert_equal "$stderr" ""
}

# ---------------------------------------------------------------- broken JSON

@test "a JSON syntax error rejects that NDJSON document only; reading resumes on the next line" {
	printf '%s\n' '{"user":"a"}' '{"user":}' '{"user":"c"}' >in.json

	run -1 --separate-stderr "$KINCOUNT" -f json -k '{user}' <in.json
	assert_output $'a\nc'
	assert_equal "${#stderr_lines[@]}" 2
	assert_regex "${stderr_lines[0]}" '^kincount: <stdin>:2: record 2: invalid JSON: .'
	assert_equal "${stderr_lines[1]}" "kincount: 1 rejected (invalid JSON: 1)"
}

@test "a Lambda event broken at its end outputs none of its records; the next event counts" {
	{ user_event 1 lost | sed 's/}$/,}/'; user_event 2 kept; } >in.json

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' <in.json
	assert_output "kept"
	assert_equal "${#stderr_lines[@]}" 2
	assert_regex "${stderr_lines[0]}" '^kincount: <stdin>:1: invalid JSON: .'
	assert_equal "${stderr_lines[1]}" "kincount: 1 rejected (invalid JSON: 1)"
}

@test "a document nested more than 1000 levels is too deeply nested; 1000 levels are fine" {
	local open1000 close1000
	open1000=$(printf '{"a":%.0s' $(seq 999))
	close1000=$(printf '}%.0s' $(seq 999))
	{
		# 1000 objects deep: the outer one plus 999 nested.
		printf '{"user":"deep1000","x":%s{}%s}\n' "${open1000%\{\"a\":}" "${close1000%\}}"
		# 1001 objects deep.
		printf '{"user":"deep1001","x":%s{}%s}\n' "$open1000" "$close1000"
		echo '{"user":"after"}'
	} >in.json
	# Check the depths independently (no string here holds a brace).
	assert_equal "$(sed -n 1p in.json | tr -cd '{}' | awk '{ for (i = 1; i <= length($0); i++) { d += substr($0, i, 1) == "{" ? 1 : -1; if (d > m) m = d } } END { print m }')" 1000
	assert_equal "$(sed -n 2p in.json | tr -cd '{}' | awk '{ for (i = 1; i <= length($0); i++) { d += substr($0, i, 1) == "{" ? 1 : -1; if (d > m) m = d } } END { print m }')" 1001

	run -1 --separate-stderr "$KINCOUNT" -f json -k '{user}' <in.json
	assert_output $'deep1000\nafter'
	assert_equal "$stderr" "kincount: <stdin>:2: record 2: too deeply nested
kincount: 1 rejected (too deeply nested: 1)"
}
