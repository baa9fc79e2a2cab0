#!/usr/bin/env bats
# Key building that the golden loop cannot express: the TZ environment variable with
# --local-time, the clock as last time source, template usage errors (exit 2, with the
# column), and events rejected for their keys or fields. Expected outputs are written by
# hand; times are checked against date(1).

load helper

# An arrival time of 2018-12-17T22:10:50.987Z (2018-12-18T07:10:50 in Tokyo,
# 2018-12-17T17:10:50 in New York).
ARRIVAL=1545084650.987

# ---------------------------------------------------------------- time zones

@test "without --local-time, TZ does not matter: times are UTC" {
	lambda_event 1 '{"n":1}' "$ARRIVAL" >"$BATS_TEST_TMPDIR/in.json"

	run -0 --separate-stderr env TZ=Asia/Tokyo "$KINCOUNT" -k '{@date}|{@time:%H:%M:%S %z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "2018-12-17|22:10:50 +0000"
	assert_equal "$stderr" ""
}

@test "--local-time formats times in the TZ time zone" {
	lambda_event 1 '{"n":1}' "$ARRIVAL" >"$BATS_TEST_TMPDIR/in.json"
	assert_equal "$(TZ=Asia/Tokyo date -d @1545084650 '+%F|%FT%H|%T %z')" "2018-12-18|2018-12-18T07|07:10:50 +0900"

	run -0 --separate-stderr env TZ=Asia/Tokyo "$KINCOUNT" --local-time \
		-k '{@date}|{@hour}|{@time:%T %z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "2018-12-18|2018-12-18T07|07:10:50 +0900"
	assert_equal "$stderr" ""

	run -0 --separate-stderr env TZ=America/New_York "$KINCOUNT" --local-time \
		-k '{@date}|{@hour}|{@time:%T %z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "2018-12-17|2018-12-17T17|17:10:50 -0500"
	assert_equal "$stderr" ""
}

@test "--local-time reads -t times without an offset as local; times with an offset keep it" {
	printf '%s\n' \
		'{"id":1,"ts":"2018-12-18T07:10:50"}' \
		'{"id":2,"ts":"2018-12-18 07:10"}' \
		'{"id":3,"ts":"2018-12-18"}' \
		'{"id":4,"ts":"2018-12-17T22:10:50Z"}' \
		'{"id":5,"ts":"2018-12-18T00:30:00+09:00"}' \
		'{"id":6,"ts":1545084650}' >"$BATS_TEST_TMPDIR/in.json"

	run -0 --separate-stderr env TZ=Asia/Tokyo "$KINCOUNT" --local-time -t ts \
		-k '{id} {@time:%FT%T%z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "1 2018-12-18T07:10:50+0900
2 2018-12-18T07:10:00+0900
3 2018-12-18T00:00:00+0900
4 2018-12-18T07:10:50+0900
5 2018-12-18T00:30:00+0900
6 2018-12-18T07:10:50+0900"
	assert_equal "$stderr" ""

	# The same input without --local-time: no offset means UTC, output in UTC.
	run -0 --separate-stderr env TZ=Asia/Tokyo "$KINCOUNT" -t ts \
		-k '{id} {@time:%FT%T%z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "1 2018-12-18T07:10:50+0000
2 2018-12-18T07:10:00+0000
3 2018-12-18T00:00:00+0000
4 2018-12-17T22:10:50+0000
5 2018-12-17T15:30:00+0000
6 2018-12-17T22:10:50+0000"
	assert_equal "$stderr" ""
}

@test "with no time field and no arrival time, the clock at read time is used" {
	local before after
	before=$(date -u +%F)
	run -0 --separate-stderr "$KINCOUNT" -k '{@date}|{page}' <<<'{"page":"cart"}'
	after=$(date -u +%F)
	assert_equal "$stderr" ""
	if [ "$output" != "$before|cart" ]; then
		assert_output "$after|cart"
	fi
}

@test "a missing or null -t field in json input falls back to the clock" {
	local before after
	before=$(date -u +%Y)
	run -0 --separate-stderr "$KINCOUNT" -t ts -k '{@time:%Y}|{id}' <<<$'{"id":1}\n{"id":2,"ts":null}'
	after=$(date -u +%Y)
	# Found in none of the events: said once, at the end.
	assert_equal "$stderr" "kincount: --time-field 'ts' was in none of the 2 events: their arrival times were used"
	if [ "$output" != "$before|1"$'\n'"$before|2" ]; then
		assert_output "$after|1"$'\n'"$after|2"
	fi
}

# ---------------------------------------------------------------- template errors

@test "unclosed '{' is a usage error at column 1, before any input is read" {
	run -2 --separate-stderr "$KINCOUNT" -k '{page' /nonexistent/input.json
	assert_output ""
	assert_equal "$stderr" "kincount: --key '{page': column 1: unclosed '{'"
}

@test "a lone '}' is a usage error at its column" {
	run -2 --separate-stderr "$KINCOUNT" -k 'a}b' </dev/null
	assert_output ""
	assert_equal "$stderr" "kincount: --key 'a}b': column 2: unmatched '}' (write '}}' for a literal brace)"
}

@test "a '{' unclosed later in the template names its own column" {
	run -2 --separate-stderr "$KINCOUNT" -k '{page}:{section' </dev/null
	assert_output ""
	assert_equal "$stderr" "kincount: --key '{page}:{section': column 8: unclosed '{'"
}

@test "an unknown metadata name is a usage error" {
	run -2 --separate-stderr "$KINCOUNT" -k '{@nope}' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --key '\{@nope\}': column [0-9]+: unknown name '@nope'\$"
}

@test "an empty field name is a usage error" {
	run -2 --separate-stderr "$KINCOUNT" -k 'x{}' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --key 'x\{\}': column [0-9]+: empty field name\$"
}

@test "a negative index or [] is a bad path" {
	run -2 --separate-stderr "$KINCOUNT" -k '{.items[-1]}' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --key '\{\.items\[-1\]\}': column [0-9]+: bad path: .+\$"

	run -2 --separate-stderr "$KINCOUNT" -k '{items[]}' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --key '\{items\[\]\}': column [0-9]+: bad path: .+\$"
}

@test "a control byte in a template is a usage error" {
	run -2 --separate-stderr "$KINCOUNT" -k $'a\tb' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --key '[^']*': column 2: control byte in template\$"
}

@test "the second -k is checked too and named in the message" {
	run -2 --separate-stderr "$KINCOUNT" -k '{page}' -k '{page' </dev/null
	assert_output ""
	assert_equal "$stderr" "kincount: --key '{page': column 1: unclosed '{'"
}

@test "bad paths in --where and --time-field name their option" {
	run -2 --separate-stderr "$KINCOUNT" -w 'items[-1]=x' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --where 'items\[-1\]=x': column [0-9]+: bad path: .+\$"

	run -2 --separate-stderr "$KINCOUNT" -t 'ts[-1]' </dev/null
	assert_output ""
	assert_regex "$stderr" "^kincount: --time-field 'ts\[-1\]': column [0-9]+: bad path: .+\$"
}

# ---------------------------------------------------------------- option values

@test "--max-key-bytes needs a number" {
	run -2 --separate-stderr "$KINCOUNT" --max-key-bytes abc </dev/null
	assert_output ""
	assert_equal "${stderr_lines[0]}" "kincount: --max-key-bytes: invalid number 'abc'"
}

@test "--missing takes empty, skip or reject only" {
	run -2 --separate-stderr "$KINCOUNT" --missing bogus </dev/null
	assert_output ""
	assert_regex "$stderr" "bogus"
}

@test "-c and -d together are a usage error" {
	run -2 --separate-stderr "$KINCOUNT" -c -d </dev/null
	assert_output ""
	refute [ -z "$stderr" ]
}

# ---------------------------------------------------------------- events rejected for their keys

@test "a control byte from a value rejects the event; --escape-values encodes it instead" {
	printf '%s\n' '{"page":"a\u0001b"}' '{"page":"ok"}' '{"page":"del\u007f"}' '{"page":"nul\u0000"}' >"$BATS_TEST_TMPDIR/in.json"

	run -1 --separate-stderr "$KINCOUNT" -k '{page}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "ok"
	assert_equal "$stderr" "kincount: $BATS_TEST_TMPDIR/in.json:1: record 1: key has a control byte
kincount: $BATS_TEST_TMPDIR/in.json:3: record 3: key has a control byte
kincount: $BATS_TEST_TMPDIR/in.json:4: record 4: key has a control byte
kincount: 3 rejected (bad key: 3)"

	run -0 --separate-stderr "$KINCOUNT" --escape-values -k '{page}' "$BATS_TEST_TMPDIR/in.json"
	assert_output $'a%01b\nok\ndel%7F\nnul%00'
	assert_equal "$stderr" ""
}

@test "--max-key-bytes: a key of exactly N bytes passes, N+1 rejects the event" {
	printf '%s\n' '{"a":"abcde"}' '{"a":"abcdef"}' '{"a":"\u00e9\u00e9"}' '{"a":"\u00e9\u00e9\u00e9"}' >"$BATS_TEST_TMPDIR/in.json"

	run -1 --separate-stderr "$KINCOUNT" --max-key-bytes 5 -k '{a}' <"$BATS_TEST_TMPDIR/in.json"
	assert_output $'abcde\n\xc3\xa9\xc3\xa9'
	assert_equal "$stderr" "kincount: <stdin>:2: record 2: key is longer than 5 bytes
kincount: <stdin>:4: record 4: key is longer than 5 bytes
kincount: 2 rejected (bad key: 2)"
}

@test "--max-key-bytes: one key too long rejects the whole event, keys of other templates included" {
	run -1 --separate-stderr "$KINCOUNT" --max-key-bytes 4 -k '{a}' -k '{a}{a}' <<<$'{"a":"ab"}\n{"a":"abc"}'
	assert_output $'ab\nabab'
	assert_equal "$stderr" "kincount: <stdin>:2: record 2: key is longer than 4 bytes
kincount: 1 rejected (bad key: 1)"
}

@test "the default --max-key-bytes is 1024" {
	local k1024 k1025
	k1024=$(printf 'k%.0s' $(seq 1024))
	k1025=${k1024}k
	printf '{"a":"%s"}\n' "$k1024" "$k1025" >"$BATS_TEST_TMPDIR/in.json"

	run -1 --separate-stderr "$KINCOUNT" -k '{a}' <"$BATS_TEST_TMPDIR/in.json"
	assert_output "$k1024"
	assert_equal "$stderr" "kincount: <stdin>:2: record 2: key is longer than 1024 bytes
kincount: 1 rejected (bad key: 1)"
}

@test "an object or array at a template path rejects the event" {
	run -1 --separate-stderr "$KINCOUNT" -k '{page}:{user}' <<<$'{"page":"a","user":{"id":1}}\n{"page":"b","user":"u"}\n{"page":"c","user":[1]}'
	assert_output "b:u"
	assert_equal "$stderr" "kincount: <stdin>:1: record 1: field user is an object
kincount: <stdin>:3: record 3: field user is an array
kincount: 2 rejected (bad field: 2)"
}

@test "--missing reject names the path as written in the template; null counts as missing" {
	run -1 --separate-stderr "$KINCOUNT" --missing reject -k '{.a.b}' <<<$'{"a":{"b":"x"}}\n{"a":{}}\n{"a":{"b":null}}\n{"a":"s"}'
	assert_output "x"
	assert_equal "$stderr" "kincount: <stdin>:2: record 2: field .a.b is missing
kincount: <stdin>:3: record 3: field .a.b is missing
kincount: <stdin>:4: record 4: field .a.b is missing
kincount: 3 rejected (missing field: 3)"
}

@test "a Lambda event's rejected event is reported with the record's sequence number" {
	lambda_event 4242 '{"page":"a","user":{"id":1}}' >"$BATS_TEST_TMPDIR/in.json"

	run -1 --separate-stderr "$KINCOUNT" -k '{user}' <"$BATS_TEST_TMPDIR/in.json"
	assert_output ""
	assert_equal "$stderr" "kincount: <stdin>:1: record 1 (seq 4242): field user is an object
kincount: 1 rejected (bad field: 1)"
}

@test "events filtered by --where are not rejected: exit 0" {
	run -0 --separate-stderr "$KINCOUNT" -w 'page=cart' -k '{id}' <<<$'{"page":"home","id":1}\n{"page":"cart","id":2}'
	assert_output "2"
	assert_equal "$stderr" ""
}
