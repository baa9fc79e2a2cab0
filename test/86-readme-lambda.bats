#!/usr/bin/env bats
# The README's "Running in AWS Lambda" walk-through, where it can run here: its env.json, its
# KINCOUNT_OPTIONS given to kincount --lambda (as the zip's bootstrap gives them: split at
# blanks) against the Runtime API emulator (test/lambda-emu.py) and the private Redis, where
# the counters, the checkpoint and the dead letters go, the dead-letter commands, and the
# fields of the --stats=json object.  The aws commands themselves cannot run here.  Expected
# values are worked out with python3 from the fixtures, never by kincount.

load helper
load redis

README=$BATS_TEST_DIRNAME/../README
EMU=$BATS_TEST_DIRNAME/lambda-emu.py

# readme_file NAME: the text of the README's "cat > NAME <<'END'" block, unindented.
readme_file() {
	awk -v start="cat > $1 <<'END'" '
		index($0, start) { on = 1; next }
		on && $1 == "END" { exit }
		on { sub(/^    /, ""); print }' "$README"
}

# readme_options: the words of KINCOUNT_OPTIONS in the README's env.json, one per line.
readme_options() {
	readme_file env.json | jq -r '.Variables.KINCOUNT_OPTIONS' | tr ' ' '\n' | grep -v '^$'
}

setup() {
	redis_setup
	EMU_DIR=$BATS_TEST_TMPDIR/emu
	mkdir -p "$EMU_DIR"
	python3 "$EMU" "$EMU_DIR" 3>&- &
	EMU_PID=$!
	wait_until 10 test -s "$EMU_DIR/addr"
	export AWS_LAMBDA_RUNTIME_API
	AWS_LAMBDA_RUNTIME_API=$(cat "$EMU_DIR/addr")
}

teardown() {
	if [ -n "${EMU_PID:-}" ]; then
		kill "$EMU_PID" 2>/dev/null || true
		wait "$EMU_PID" 2>/dev/null || true
	fi
	redis_teardown
}

# serve FILE...: queue the files as events in order, then the emulator's stop (a 500 on the
# next "next" once they are served, so kincount exits 0).
serve() {
	local i=0 f
	for f; do
		i=$((i + 1))
		cp "$f" "$EMU_DIR/queue/.ev$i"
		mv "$EMU_DIR/queue/.ev$i" "$EMU_DIR/queue/ev$i.json"
	done
	: >"$EMU_DIR/stop"
}

# answers: every answer body, in the order the events were served.
answers() {
	local name rid
	while read -r name rid; do
		cat "$EMU_DIR/out/$rid.response" "$EMU_DIR/out/$rid.error" 2>/dev/null
		echo
	done <"$EMU_DIR/ids"
}

# keys_of FILE TEMPLATE-IN-PYTHON: the counts of the keys python makes from each record of a
# Lambda event file; fields e (the event), d (the arrival date), "KEY COUNT" sorted.
keys_of() {
	python3 -c '
import base64, collections, datetime, json, sys
c = collections.Counter()
for r in json.load(open(sys.argv[1]))["Records"]:
    k = r["kinesis"]
    try:
        e = json.loads(base64.b64decode(k["data"], validate=True))
    except Exception:
        continue
    d = datetime.datetime.fromtimestamp(int(k["approximateArrivalTimestamp"]),
                                        datetime.timezone.utc).strftime("%Y-%m-%d")
    c[eval(sys.argv[2])] += 1
for k in sorted(c):
    print(k, c[k])' "$@"
}

@test "README: env.json is JSON with the bootstrap's variables, and its options hold no blank or quote" {
	run -0 --separate-stderr bash -c "$(declare -f readme_file); README=$README; readme_file env.json | jq -r '.Variables | keys_unsorted | join(\" \")'"
	assert_output 'KINCOUNT_REDIS_URL KINCOUNT_OPTIONS'
	[ -z "$stderr" ]
	readme_options >opts
	run -0 grep -cx -e --checkpoint -e --dead-letter opts
	assert_output 2
	run -1 grep -e '"' -e "'" -e '\\' opts
}

@test "README: its KINCOUNT_OPTIONS count the seed event into the templates' keys, the checkpoint hash and an empty answer" {
	# No replica here: --wait-replicas 1 is left out (the next test shows what it does).
	mapfile -t opts < <(readme_options | awk '$0 == "--wait-replicas" { skip = 1; next } skip { skip = 0; next } { print }')
	serve "$FIXTURES/seed-event.json"
	run -0 --separate-stderr "$KINCOUNT" --lambda -r "$REDIS_URL" "${opts[@]}"
	assert_output ''
	# One line for the invocation, one for the exit the emulator asked for.
	[ "$(wc -l <<<"$stderr")" = 2 ]
	[[ $(head -n 1 <<<"$stderr") == *': applied: 2 records, 2 events, 2 keys, 0 rejected, 0 filtered, 0 duplicates, '* ]]
	run -0 answers
	assert_output '{"batchItemFailures":[]}'
	keys_of "$FIXTURES/seed-event.json" '"clicks:%s:%s:%s" % (e["page"], e["action"], d)' >expected
	[ -s expected ]
	while read -r k n; do
		[ "$(rcli get "$k")" = "$n" ]
	done <expected
	last=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Records"][-1]["kinesis"]["sequenceNumber"])' "$FIXTURES/seed-event.json")
	run -0 rcli hgetall kincount:checkpoints
	assert_output "$(printf '%s\n%s' "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["Records"][0]; print(r["eventSourceARN"].split(":stream/")[1] + "/" + r["eventID"].split(":")[0])' "$FIXTURES/seed-event.json")" "$last")"
}

@test "README: with --wait-replicas 1 and no replica, Lambda is told to retry the batch from its first record" {
	mapfile -t opts < <(readme_options)
	serve "$FIXTURES/seed-event.json"
	run -0 --separate-stderr "$KINCOUNT" --lambda -r "$REDIS_URL" "${opts[@]}" --retries 0 --timeout-ms 200
	assert_output ''
	first=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Records"][0]["kinesis"]["sequenceNumber"])' "$FIXTURES/seed-event.json")
	run -0 answers
	assert_output "{\"batchItemFailures\":[{\"itemIdentifier\":\"$first\"}]}"
	grep -qF ": not applied, to be retried from $first: " <<<"$stderr"
}

@test "README: a rejected record is a dead letter on kincount:dead, and the README's commands take, show and recount it" {
	mapfile -t opts < <(readme_options | awk '$0 == "--wait-replicas" { skip = 1; next } skip { skip = 0; next } { print }')
	serve "$FIXTURES/examples/bad-lambda.json"
	run -0 --separate-stderr "$KINCOUNT" --lambda -r "$REDIS_URL" "${opts[@]}"
	run -0 answers
	assert_output '{"batchItemFailures":[]}'
	[ "$(rcli llen kincount:dead)" = 1 ]
	# The README's commands, with -s SOCKET for -h HOST.
	[ "$(rcli rename kincount:dead kincount:dead:taken)" = OK ]
	run -0 bash -c 'redis-cli -s "$1" LRANGE kincount:dead:taken 0 -1 | jq -c "{reason, source}"' _ "$REDIS_SOCK"
	assert_output --regexp '^\{"reason":"invalid base64","source":"[^"]+:[0-9]+"\}$'
	run -0 --separate-stderr bash -c 'redis-cli -s "$1" LRANGE kincount:dead:taken 0 -1 \
		| jq -r '\''select(.reason == "invalid base64") | .data'\'' | tr -- -_ +/ \
		| "$2" -f base64 -r "$3" -k '\''clicks:{page}:{action}'\''' _ "$REDIS_SOCK" "$KINCOUNT" "$REDIS_URL"
	# The repaired record, decoded by python from the fixture.
	python3 -c '
import base64, json, sys
for r in json.load(open(sys.argv[1]))["Records"]:
    d = r["kinesis"]["data"]
    try:
        base64.b64decode(d, validate=True)
    except Exception:
        e = json.loads(base64.b64decode(d.translate(str.maketrans("-_", "+/"))))
        print("clicks:%s:%s" % (e["page"], e["action"]))' "$FIXTURES/examples/bad-lambda.json" >expected
	[ "$(wc -l <expected)" = 1 ]
	[ "$(rcli get "$(cat expected)")" = 1 ]
}

@test "README: --stats=json gives one object per invocation with the fields the README lists" {
	serve "$FIXTURES/seed-event.json"
	run -0 --separate-stderr "$KINCOUNT" --lambda -r "$REDIS_URL" --checkpoint --stats=json
	first=$(head -n 1 <<<"$stderr")
	# The README's list, as written there, against the object's members, in order.
	run -0 bash -c "tr '\n' ' ' <'$README' | grep -o 'it is one JSON object instead ([^)]*)' | tr -s ' '"
	[[ $output == *'; retry_from and error when not applied)' ]] || fail "README: $output"
	local listed
	listed=$(sed -E 's/^it is one JSON object instead \(//; s/;.*//; s/, / /g' <<<"$output")
	run -0 jq -r 'keys_unsorted | join(" ")' <<<"$first"
	assert_output "$listed"
	[[ $listed == 'request_id result records '* && $listed == *' first_keys' ]] || fail "$listed"
}
