#!/usr/bin/env bats
# What a new user tripped on (issue 10): records out of order, the README's password file
# under set -e, --progress on a pipe, a --time-field found nowhere, '-w page==cart',
# --show-checkpoint with files, kincount's own option messages, and the man page's list of
# template errors against what the code says.  Expected counts come from python3.

load helper
load redis

setup() {
	redis_setup
}

teardown() {
	redis_teardown
}

# page SEQ...: one get-records page on one line, a record per sequence number, each event
# {"page":"pSEQ","n":1}.
page() {
	python3 - "$@" <<-'EOF'
	import base64, json, sys
	recs = [{"SequenceNumber": s, "PartitionKey": "k", "ApproximateArrivalTimestamp": 1.7e9,
	         "Data": base64.b64encode(json.dumps({"page": "p" + s, "n": 1}).encode()).decode()}
	        for s in sys.argv[1:]]
	print(json.dumps({"Records": recs, "NextShardIterator": "it", "MillisBehindLatest": 0}))
	EOF
}

# expect_pages FILE...: "KEY VALUE" lines, sorted, of the counters that the records of FILE...
# give, each sequence number counted once (python3, independent of kincount).
expect_pages() {
	python3 - "$@" <<-'EOF'
	import base64, json, sys
	seen = set()
	for f in sys.argv[1:]:
	    for line in open(f):
	        for r in json.loads(line)["Records"]:
	            seen.add(r["SequenceNumber"])
	for s in sorted(seen):
	    print("p%s 1" % s)
	EOF
}

counters() {
	local k
	for k in $(rcli --scan --pattern 'p*' | sort); do
		printf '%s %s\n' "$k" "$(rcli get "$k")"
	done
}

KC_PAGE=(--checkpoint --stream st --shard s0 -f get-records -k '{page}')

@test "out of order: a file that goes back below what the run read is not counted, warned once, exit 1" {
	page 100 101 102 > a.json
	page 50 51 103 > b.json
	run -1 --separate-stderr kc -r "$REDIS_URL" "${KC_PAGE[@]}" -s a.json b.json
	assert_output ''
	stderr_has "kincount: b.json: 2 records out of order, not counted: in st/s0, 50 came after 102, read earlier in this run: does the input mix shards, or overlap itself?"
	assert_equal "$(grep -c 'out of order, not counted' <<< "$stderr")" 1
	stderr_has_re 'duplicates 0, out of order 2, '
	# 50 and 51 are not counted: the counters hold the other four.
	page 100 101 102 103 > want.json
	assert_equal "$(counters)" "$(expect_pages want.json)"
	assert_equal "$(rcli hget kincount:checkpoints st/s0)" 103
	# Run again: everything is at or below the stored checkpoint, so duplicates.
	run -0 --separate-stderr kc -r "$REDIS_URL" "${KC_PAGE[@]}" -s a.json b.json
	stderr_has_re 'duplicates 6, out of order 0, '
	assert_equal "$(counters)" "$(expect_pages want.json)"
}

@test "out of order: the same file twice in one run overlaps itself; each input gets its own warning" {
	page 10 11 12 > a.json
	page 5 6 > c.json
	run -1 --separate-stderr kc -r "$REDIS_URL" "${KC_PAGE[@]}" -s a.json a.json c.json
	stderr_has "kincount: a.json: 3 records out of order, not counted: in st/s0, 10 came after 12, read earlier in this run: does the input mix shards, or overlap itself?"
	stderr_has "kincount: c.json: 2 records out of order, not counted: in st/s0, 5 came after 12, read earlier in this run: does the input mix shards, or overlap itself?"
	# The second copy's last record is the highest read: read again, it is out of order too.
	stderr_has_re 'duplicates 0, out of order 5, '
	assert_equal "$(counters)" "$(expect_pages a.json)"
	run -0 --separate-stderr kc -r "$REDIS_URL" "${KC_PAGE[@]}" --stats=json a.json
	assert_equal "$(jq -c '[.duplicates, .out_of_order]' <<< "$stderr")" '[3,0]'
}

@test "out of order: in order across shards is fine; per stream/shard, never across them" {
	page 10 11 > a.json
	page 5 6 > b.json
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stream st -f get-records \
		-k '{page}' --shard s0 a.json
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stream st -f get-records \
		-k '{page}' --shard s1 b.json
	assert_equal "$stderr" ''
	assert_equal "$(rcli hget kincount:checkpoints st/s1)" 6
}

@test "README: the password file snippet works under set -e, with and without a final newline" {
	local snippet
	snippet=$(grep -m1 '^    REDISCLI_AUTH=' "$BATS_TEST_DIRNAME/../README")
	[ -n "$snippet" ] || fail "no REDISCLI_AUTH line in README"
	printf 's3cret' > nonl
	printf 's3cret\n' > nl
	for f in nonl nl; do
		run -0 sh -ec "${snippet//\/etc\/kincount\/redis.pass/$f}; export REDISCLI_AUTH; printf '[%s]' \"\$REDISCLI_AUTH\""
		assert_output '[s3cret]'
	done
}

@test "progress: on a pipe of unknown size, records, bytes and rate, no percentage or ETA" {
	python3 -c '
import base64, json
for i in range(3000):
    d = base64.b64encode(json.dumps({"page": "p%d" % (i % 7)}).encode()).decode()
    print(json.dumps({"Records": [{"kinesis": {"sequenceNumber": str(10**20 + i), "data": d}}]}))' > ev
	run -0 --separate-stderr bash -c "{ head -n 1500 ev; sleep 0.6; tail -n 1500 ev; } | '$KINCOUNT' --progress -k '{page}' > /dev/null"
	assert_regex "$stderr" 'kincount: [0-9]+ records [0-9]+\.[0-9] MB [0-9]+ records/s'
	[[ $stderr != *%* && $stderr != *ETA* ]] || fail "percentage or ETA on a pipe: $(cat -v <<< "$stderr")"
	# Erased at exit: the last thing written is the erase sequence.
	[[ $stderr == *$'\r\033[K' ]] || fail "not erased: $(cat -v <<< "$stderr")"
}

@test "--time-field: found in no event: one warning at the end and a count; found in some: only the count" {
	printf '{"id":1}\n{"id":2,"ts":null}\n{"id":3}\n' > none
	run -0 --separate-stderr "$KINCOUNT" -t ts -k '{@date}' -s none
	assert_equal "${stderr_lines[0]}" "kincount: --time-field 'ts' was in none of the 3 events: their arrival times were used"
	assert_regex "${stderr_lines[1]}" ', time field missing 3, '
	printf '{"id":1}\n{"id":2,"ts":"2024-02-03T04:05:06Z"}\n' > some
	run -0 --separate-stderr "$KINCOUNT" -t ts -k '{@time:%Y}' --stats=json some
	assert_equal "$(jq .time_field_missing <<< "$stderr")" 1
	assert_equal "${lines[1]}" 2024
	# Without a template that shows the time the field is never read: nothing is said.
	run -0 --separate-stderr "$KINCOUNT" -t ts -k '{id}' none
	assert_equal "$stderr" ''
}

@test "--where 'page==cart': a warning at start-up, and it compares with '=cart' as written" {
	printf '{"page":"cart"}\n{"page":"=cart"}\n' > in
	run -0 --separate-stderr "$KINCOUNT" -w 'page==cart' -k '{page}' in
	assert_output '=cart'
	assert_equal "$stderr" "kincount: --where 'page==cart': column 6: the text to compare with starts with '=': did you mean 'page=cart'?"
	run -0 --separate-stderr "$KINCOUNT" -w 'page!==cart' -k '{page}' in
	assert_output 'cart'
	assert_equal "$stderr" "kincount: --where 'page!==cart': column 7: the text to compare with starts with '=': did you mean 'page!=cart'?"
	run -0 --separate-stderr "$KINCOUNT" -w 'page=cart' -k '{page}' in
	assert_equal "$stderr" ''
}

@test "--show-checkpoint with input files is a usage error, read before anything" {
	run -2 --separate-stderr kc -r "$REDIS_URL" --show-checkpoint st/s0 in.json
	assert_output ''
	assert_equal "${stderr_lines[0]}" 'kincount: --show-checkpoint reads no input: no file may be given'
}

@test "options: kincount's own messages for an unknown option, a missing or an unwanted argument" {
	run -2 --separate-stderr "$KINCOUNT" --no-such-option
	assert_equal "${stderr_lines[0]}" "kincount: unrecognized option '--no-such-option'"
	run -2 --separate-stderr "$KINCOUNT" -k
	assert_equal "${stderr_lines[0]}" "kincount: option '-k' requires an argument"
	run -2 --separate-stderr "$KINCOUNT" --ttl
	assert_equal "${stderr_lines[0]}" "kincount: option '--ttl' requires an argument"
	run -2 --separate-stderr "$KINCOUNT" --count=3
	assert_equal "${stderr_lines[0]}" "kincount: option '--count=3' allows no argument"
	run -2 --separate-stderr "$KINCOUNT" -Z
	assert_equal "${stderr_lines[0]}" "kincount: invalid option -- 'Z'"
	assert_equal "${stderr_lines[1]}" 'usage: kincount [options] [file ...]'
}

# The man page's "Template errors" list, each problem produced by a template that has it:
# every listed problem is produced, and every problem produced is listed.
@test "man page: the list of template errors is what the code says, both ways" {
	local man=$BATS_TEST_DIRNAME/../man/kincount.1
	# The problems as the page shows them, one per line.
	# (col -b would escape the quotes in the C locale: the overstrikes are removed by sed.)
	mandoc -Tutf8 -Owidth=1000 "$man" | sed $'s/.\b//g' |
		awk '/^ *Template errors/ {on = 1} on && /^[A-Z]/ && !/Template errors/ {exit} on' |
		tr '\n' ' ' | grep -o "‘[^’]*’" | tr -d '‘’' | sort -u > listed
	[ -s listed ] || fail "no list found in the man page"
	# option, text -> the problem (after "column N: ")
	while IFS='|' read -r opt text; do
		run -2 --separate-stderr "$KINCOUNT" "$opt" "$text" /dev/null
		sed -E 's/^kincount: [^ ]+ .*: column [0-9]+: //' <<< "${stderr_lines[0]}"
	done > produced <<-'EOF'
	-k|{page
	-k|page}
	-k|{}
	-k|{a:b}
	-k|{a:-{b}}
	-k|{@foo}
	-k|{@date:-x}
	-k|{@time}
	-k|{@time:}
	-k|{@time:%Q}
	-k|{@time:%}
	-k|{@time:%n}
	-k|{@time:%-s}
	-k|{@time:%9999Y}
	-k|{."a}
	-k|{a[-1]}
	-w|a:b
	-t|a:b
	EOF
	printf 'a\001b' > ctl
	"$KINCOUNT" -k "$(cat ctl)" /dev/null 2>&1 | head -1 | sed -E 's/^.*column [0-9]+: //' >> produced
	"$KINCOUNT" -k $'\xff' /dev/null 2>&1 | head -1 | sed -E 's/^.*column [0-9]+: //' >> produced
	# Every problem produced is listed (the listed ones may stand for a family: 'bad path:
	# ...', an example conversion or name, "or another character").
	local p l found
	while read -r p; do
		found=
		while read -r l; do
			case $p in
			"$l") found=1 ;;
			"bad path: "*) [[ $l == "bad path: "* ]] && found=1 ;;
			"unknown conversion '"*) [[ $l == "unknown conversion '"* ]] && found=1 ;;
			"unknown name '@"*) [[ $l == "unknown name '@"* ]] && found=1 ;;
			"unexpected '"*"' in a field") [[ $l == "unexpected ':' in a field" ]] && found=1 ;;
			"unexpected '"*"' after the path") [[ $l == "unexpected ':' after the path" ]] && found=1 ;;
			"a width over --max-key-bytes ("*) [[ $l == "a width over --max-key-bytes ("* ]] && found=1 ;;
			"'%"?"' in a time format makes a control byte") [[ $l == "'%n' in a time format makes a control byte" ]] && found=1 ;;
			esac
		done < listed
		[ -n "$found" ] || fail "produced but not in the man page's list: $p"
	done < produced
	# Every listed problem is produced by one of the templates above.
	while read -r l; do
		found=
		while read -r p; do
			case $l in
			"$p") found=1 ;;
			"bad path: "*) [[ $p == "bad path: "* ]] && found=1 ;;
			"unknown conversion '"*) [[ $p == "unknown conversion '"* ]] && found=1 ;;
			"a width over --max-key-bytes ("*) [[ $p == "a width over --max-key-bytes ("* ]] && found=1 ;;
			esac
		done < produced
		[ -n "$found" ] || fail "listed in the man page but not produced: $l"
	done < listed
}
