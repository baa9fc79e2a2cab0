#!/usr/bin/env bats
# kincount-pull (issue 10): a stream's shards paged through a fake AWS CLI (test/fake-aws.py,
# which prints what CLI v2 prints) into a real redis-server.  Expected counts are worked out
# by the fake from the records it holds, never by kincount.

load helper
load redis

PULL=$BATS_TEST_DIRNAME/../kincount-pull
FAKE=$BATS_TEST_DIRNAME/fake-aws.py
S0=shardId-000000000000
S1=shardId-000000000001
S2=shardId-000000000002
S3=shardId-000000000003
S4=shardId-000000000004
KEYS=(-k '{@date}:{page}' -k 'p:{page}:{n}')

setup() {
	redis_setup
	export KINCOUNT AWS_CLI=$FAKE FAKE_AWS_STATE=$BATS_TEST_TMPDIR/state.json
	export FAKE_AWS_LOG=$BATS_TEST_TMPDIR/aws.log XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	unset AWS_CONFIG_FILE AWS_PROFILE
	: >"$FAKE_AWS_LOG"
}

teardown() {
	if [ -n "${BGPID:-}" ]; then
		kill "$BGPID" 2>/dev/null || true
		wait "$BGPID" 2>/dev/null || true
	fi
	redis_teardown
}

fake() {
	"$FAKE" admin "$@"
}

# pull ARG...: kincount-pull on stream clicks and the private server, bounded.
pull() {
	timeout 120 "$PULL" "$@"
}

# expected [SHARD...]: the counters the records of the fake stream (or of SHARD...) give.
expected() {
	fake counts "$@"
}

# calls OP: the argv of every logged aws call of OP, one JSON array a line.
calls() {
	jq -c --arg op "$1" 'select(.argv[1] == $op) | .argv' "$FAKE_AWS_LOG"
}

# iterator_requests: 'SHARD TYPE [SEQ]' for every get-shard-iterator call, in order.
iterator_requests() {
	jq -r 'select(.argv[1] == "get-shard-iterator") | .argv as $a
		| [($a | index("--shard-id")), ($a | index("--shard-iterator-type")),
		   ($a | index("--starting-sequence-number"))] as $i
		| [$a[$i[0] + 1], $a[$i[1] + 1], (if $i[2] then $a[$i[2] + 1] else empty end)]
		| join(" ")' "$FAKE_AWS_LOG"
}

# stats_of SHARD NAME: member NAME of the --stats=json lines of SHARD in $stderr, one a line.
stats_of() {
	grep '^{' <<<"$stderr" | jq -r --arg s "$1" "select(.shard == \$s) | .$2"
}

# two_shards N0 N1: stream clicks with two shards holding N0 and N1 records.
two_shards() {
	fake create clicks 2
	[ "$1" -eq 0 ] || fake put clicks "$S0" "$1"
	[ "$2" -eq 0 ] || fake put clicks "$S1" "$2"
}

# seq_of SHARD I: the sequence number of record I (0-based) of SHARD in the fake's state.
seq_of() {
	jq -r --arg s "$1" --argjson i "$2" \
		'.streams.clicks.shards[] | select(.ShardId == $s) | .records[$i].SequenceNumber' \
		"$FAKE_AWS_STATE"
}

@test "two shards: counts exact, one --stats=json line per shard naming it" {
	two_shards 40 17
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_output ''
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(stats_of "$S0" records)" 40
	assert_equal "$(stats_of "$S1" records)" 17
	assert_equal "$(grep -c '^{"stream":"clicks","shard":"shardId-00000000000[01]",' <<<"$stderr")" 2
	assert_equal "$(grep -vc '^{' <<<"$stderr")" 0
	assert_equal "$(checkpoint "clicks/$S0")" "$(seq_of "$S0" 39)"
	assert_equal "$(checkpoint "clicks/$S1")" "$(seq_of "$S1" 16)"
	# Nothing in the shards yet: TRIM_HORIZON on both.
	assert_equal "$(iterator_requests)" "$S0 TRIM_HORIZON
$S1 TRIM_HORIZON"
}

@test "run twice, then again after more records: every record counted once" {
	two_shards 25 9
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(stats_of "$S0" records)" 0
	assert_equal "$(stats_of "$S1" records)" 0
	fake put clicks "$S1" 12
	fake put clicks "$S0" 3
	: >"$FAKE_AWS_LOG"
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(stats_of "$S0" records)" 3
	assert_equal "$(stats_of "$S1" records)" 12
	assert_equal "$(stats_of "$S0" duplicates)" 0
	# From the checkpoints of the run before.
	assert_equal "$(iterator_requests)" "$S0 AFTER_SEQUENCE_NUMBER $(seq_of "$S0" 24)
$S1 AFTER_SEQUENCE_NUMBER $(seq_of "$S1" 8)"
}

@test "TZ=Asia/Kolkata: ISO times with +05:30 read, dates in UTC, counts exact" {
	two_shards 50 10
	# The fake prints local times, as CLI v2 does.
	TZ=Asia/Kolkata "$FAKE" kinesis get-shard-iterator --stream-name clicks --shard-id "$S0" \
		--shard-iterator-type TRIM_HORIZON --output json >it.json
	TZ=Asia/Kolkata "$FAKE" kinesis get-records --output json \
		--shard-iterator "$(jq -r .ShardIterator it.json)" >page.json
	assert_equal "$(jq -r '.Records[0].ApproximateArrivalTimestamp' page.json)" \
		2015-12-17T05:00:00.250000+05:30
	run -0 --separate-stderr env TZ=Asia/Kolkata timeout 120 "$PULL" clicks "$REDIS_URL" -- \
		"${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
	# Both UTC dates are there.
	assert_equal "$(rcli exists 2015-12-16:cart 2015-12-17:cart)" 2
}

@test "a profile with output = text and cli_timestamp_format = wire: --output json on every call, counts exact" {
	two_shards 12 12
	printf '[default]\noutput = text\ncli_timestamp_format = wire\n' >config
	export AWS_CONFIG_FILE=$PWD/config
	# The fake honours the profile: without --output it prints text, and wire times.
	run -0 "$FAKE" kinesis list-shards --stream-name clicks
	assert_line --partial "SHARDS	$S0"
	"$FAKE" kinesis get-shard-iterator --stream-name clicks --shard-id "$S0" \
		--shard-iterator-type TRIM_HORIZON --output json >it.json
	"$FAKE" kinesis get-records --output json \
		--shard-iterator "$(jq -r .ShardIterator it.json)" >page.json
	assert_equal "$(jq -r '.Records[0].ApproximateArrivalTimestamp' page.json)" 1450308600.25
	: >"$FAKE_AWS_LOG"
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(jq -c 'select((.argv | index("--output")) as $i | $i == null or .argv[$i + 1] != "json")' "$FAKE_AWS_LOG")" ''
	[ "$(wc -l <"$FAKE_AWS_LOG")" -ge 5 ]
}

@test "a split and a merge: parents drained before children, counts exact, drained parents add nothing later" {
	two_shards 10 6
	fake split clicks "$S0"          # children 2 and 3
	fake put clicks "$S2" 5
	fake put clicks "$S3" 4
	fake merge clicks "$S3" "$S1"    # child 4: parent 3, adjacent parent 1
	fake put clicks "$S4" 7
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	for s in "$S0" "$S1" "$S2" "$S3" "$S4"; do
		assert_equal "$(stats_of "$s" rejected)" 0
	done
	# Each shard's reading starts after its parents' ended.
	order=$(iterator_requests | cut -d ' ' -f 1 | tr '\n' ' ')
	assert_equal "$order" "$S0 $S1 $S2 $S3 $S4 "
	first_of() { grep -n "$1" <<<"$(jq -r '.argv | join(" ")' "$FAKE_AWS_LOG")" | head -n 1 | cut -d: -f1; }
	last_records_of() {
		local n=0 i=0 line
		while IFS= read -r line; do
			i=$((i + 1))
			if [[ $line == *get-records* ]]; then
				base64 -d <<<"${line##*--shard-iterator }" 2>/dev/null | tr -d '\0' | grep -q "/$1/" && n=$i
			fi
		done < <(jq -r '.argv | join(" ") | sub(" --output.*"; "") | sub(".*AAAAAAAAAAE"; "get-records --shard-iterator ")' "$FAKE_AWS_LOG")
		echo "$n"
	}
	[ "$(last_records_of "$S0")" -lt "$(first_of "shard-id $S2")" ]
	[ "$(last_records_of "$S3")" -lt "$(first_of "shard-id $S4")" ]
	[ "$(last_records_of "$S1")" -lt "$(first_of "shard-id $S4")" ]
	# Again: the closed shards are found drained (no records after their checkpoints).
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(grep '^{' <<<"$stderr" | jq -s 'map(.records) | add')" 0
	assert_equal "$(grep -c '^{' <<<"$stderr")" 5
}

@test "a split read part way (the parent in one run, its children after more records): exact" {
	fake create clicks 1
	fake put clicks "$S0" 8
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	fake put clicks "$S0" 4
	fake split clicks "$S0"
	fake put clicks "$S1" 3
	fake put clicks "$S2" 5
	: >"$FAKE_AWS_LOG"
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(iterator_requests)" "$S0 AFTER_SEQUENCE_NUMBER $(seq_of "$S0" 7)
$S1 TRIM_HORIZON
$S2 TRIM_HORIZON"
}

@test "an emulator without MillisBehindLatest or shard ends (kinesalite): caught up at an empty page, closed shards drained there" {
	two_shards 9 3
	fake split clicks "$S1"
	fake put clicks "$S2" 4
	fake put clicks "$S3" 2
	fake fault '{"no_millis": true, "page_records": 4}'
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
}

@test "a parent that cannot be read: exit 5, its children not started, the other shards read" {
	two_shards 6 5
	fake split clicks "$S0"
	fake put clicks "$S2" 3
	fake put clicks "$S3" 3
	fake fault '{"expire_at": {"shardId-000000000000": [1,2,3,4,5,6,7,8,9,10]}}'
	run -5 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: clicks/$S0: aws kinesis get-records: the iterator expired 6 times
kincount-pull: clicks/$S2: not started: its parent $S0 is not drained
kincount-pull: clicks/$S3: not started: its parent $S0 is not drained"
	assert_equal "$(redis_counters)" "$(expected "$S1")"
	assert_equal "$(checkpoint "clicks/$S2")" ''
}

@test "an iterator that expires mid-shard: asked again after the stored checkpoint, counts exact" {
	two_shards 30 4
	fake fault '{"page_records": 5, "expire_at": {"shardId-000000000000": [3]}}'
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	# Two pages were applied by the first kincount, the rest by a second one.
	assert_equal "$(stats_of "$S0" records | tr '\n' ' ')" "10 20 "
	assert_equal "$(stats_of "$S0" duplicates | tr '\n' ' ')" "0 0 "
	assert_equal "$(iterator_requests)" "$S0 TRIM_HORIZON
$S0 AFTER_SEQUENCE_NUMBER $(seq_of "$S0" 9)
$S1 TRIM_HORIZON"
}

@test "throttling (ProvisionedThroughputExceeded, LimitExceeded): backs off and completes" {
	two_shards 12 3
	fake fault '{"page_records": 4, "throttle": {"shardId-000000000000": 2}, "throttle_list": 1}'
	start=$(now)
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
	# 1 s after the throttled list-shards, 1 + 2 s after the two throttled get-records.
	python3 -c 'import sys; sys.exit(not float(sys.argv[2]) - float(sys.argv[1]) >= 4)' "$start" "$(now)"
	assert_equal "$(calls list-shards | wc -l)" 2
	# Shard 0: 3 pages of 4 and the 2 refused calls; shard 1: one page.
	assert_equal "$(calls get-records | wc -l)" 6
}

@test "a shard with no records, and empty pages with MillisBehindLatest > 0: read on, exit 0" {
	two_shards 0 7
	fake fault '{"empty_pages": {"shardId-000000000001": 2}}'
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(stats_of "$S0" records)" 0
	assert_equal "$(stats_of "$S1" records)" 7
	assert_equal "$(checkpoint "clicks/$S0")" ''
	# Shard 0: one empty page; shard 1: two empty pages, then its records.
	assert_equal "$(calls get-records | wc -l)" 4
}

@test "Redis down: exit 3, every shard named, nothing asked of AWS but the shard list" {
	two_shards 5 5
	RESTART_AFTER=1
	redis_stop
	run -3 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}" --timeout-ms 500 --retries 0
	assert_output ''
	stderr_has_re "^kincount-pull: clicks/$S0: kincount: .*$REDIS_SOCK"
	stderr_has "kincount-pull: clicks/$S0: cannot read the checkpoint"
	stderr_has "kincount-pull: clicks/$S0: kincount: Redis failed (exit 3)"
	stderr_has "kincount-pull: clicks/$S1: kincount: Redis failed (exit 3)"
	assert_equal "$(calls get-records)" ''
}

@test "Redis fails for one shard mid-run: exit 3 naming it, the other shard still counted" {
	two_shards 8 6
	# At shard 0's second get-records, once its first page is applied, another writer moves
	# its checkpoint ahead: kincount refuses the second page (exit 3).
	cat >moveckpt <<-EOF
	i=0
	while [ "\$(redis-cli -s $REDIS_SOCK hget kincount:checkpoints clicks/$S0)" != $(seq_of "$S0" 3) ] && [ \$i -lt 500 ]; do
		sleep 0.02
		i=\$((i + 1))
	done
	redis-cli -s $REDIS_SOCK hset kincount:checkpoints clicks/$S0 $(seq_of "$S0" 5) >/dev/null
	EOF
	fake fault "{\"page_records\": 4, \"hook\": {\"$S0\": [2, \"sh $PWD/moveckpt\"]}}"
	run -3 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_output ''
	stderr_has_re "^kincount-pull: clicks/$S0: kincount: redis: batch 2 not applied: the checkpoint of clicks/$S0 is at $(seq_of "$S0" 5), not where this run left it"
	stderr_has "kincount-pull: clicks/$S0: kincount: Redis failed (exit 3)"
	assert_equal "$(grep -c "$S1" <<<"$stderr")" 0
	assert_equal "$(checkpoint "clicks/$S1")" "$(seq_of "$S1" 5)"
	assert_equal "$(checkpoint "clicks/$S0")" "$(seq_of "$S0" 5)"
}

@test "kincount killed between pages: exit 4 naming the signal; the next run counts exactly" {
	two_shards 20 5
	# At shard 0's third get-records, its kincount (a child of kincount-pull, as the fake
	# aws is) is killed with SIGKILL.
	cat >killkc <<-'EOF'
	p=$PPID
	for level in 1 2 3 4 5; do
		p=$(ps -o ppid= -p "$p" | tr -d ' ')
		for c in $(ps -o pid= --ppid "$p"); do
			case $(tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null) in
			*--checkpoint*) kill -9 "$c"; exit 0 ;;
			esac
		done
	done
	exit 1
	EOF
	fake fault "{\"page_records\": 4, \"hook\": {\"$S0\": [3, \"sh $PWD/killkc\"]}}"
	run -4 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_output ''
	stderr_has "kincount-pull: clicks/$S0: kincount was ended by signal 9"
	# Shard 1 is still read.
	[ -n "$(checkpoint "clicks/$S1")" ]
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
}

@test "the password: only from REDISCLI_AUTH, never in an argv; a URL holding one is refused" {
	two_shards 6 6
	RESTART_AFTER=1
	[ "$(rcli config set requirepass 's3cr3t-PW')" = OK ]
	# At shard 0's first get-records, the argv of every process of the run is saved.
	cat >argv.sh <<-EOF
	for f in /proc/[0-9]*/cmdline; do
		tr '\\0' ' ' <"\$f" 2>/dev/null
		echo
	done >$PWD/argv.txt
	EOF
	fake fault "{\"hook\": {\"$S0\": \"sh $PWD/argv.sh\"}}"
	REDISCLI_AUTH=s3cr3t-PW run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	grep -q -- "--checkpoint --stream clicks --shard $S0" argv.txt
	run -1 grep -c s3cr3t argv.txt "$FAKE_AWS_LOG"
	# The aws calls do not even get it in their environment.
	assert_equal "$(jq -c 'select(.auth_env)' "$FAKE_AWS_LOG")" ''
	assert_equal "$(REDISCLI_AUTH=s3cr3t-PW redis_counters)" "$(expected)"
	: >"$FAKE_AWS_LOG"
	run -2 --separate-stderr pull clicks "redis://:s3cr3t-PW@localhost:6379/0"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: the Redis URL holds a password: leave it out and put it in REDISCLI_AUTH
usage: kincount-pull [-e endpoint_url] [-s shard]... [-l limit] stream redis_url [-- kincount_option...]"
	run -2 --separate-stderr pull clicks "REDIS://user:pw@localhost"
	run -2 --separate-stderr pull clicks "redis://u:p@x@localhost/2"
	assert_equal "$(wc -c <"$FAKE_AWS_LOG")" 0
}

@test "the lock: a second run at once skips the shard the first holds (exit 6), counts exact" {
	two_shards 6 4
	# The first run waits inside shard 0 until the file 'go' exists (at most 30 s).
	fake fault "{\"hook\": {\"$S0\": \"touch $PWD/inside; i=0; while [ ! -e $PWD/go ] && [ \$i -lt 1500 ]; do sleep 0.02; i=\$((i+1)); done\"}}"
	"$PULL" clicks "$REDIS_URL" -- "${KEYS[@]}" >first.out 2>first.err &
	BGPID=$!
	wait_for 30 test -e inside
	run -6 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: clicks/$S0: skipped: another kincount-pull holds its lock"
	touch go
	st=0
	wait "$BGPID" || st=$?
	BGPID=
	assert_equal "$st" 0
	assert_equal "$(cat first.err)" ''
	assert_equal "$(redis_counters)" "$(expected)"
	[ -f "$XDG_RUNTIME_DIR/kincount-pull/clicks@$S0.lock" ]
}

@test "-e: --endpoint-url on every aws call; without it the endpoint cannot be reached (exit 5)" {
	two_shards 5 3
	fake fault '{"endpoint": "http://127.0.0.1:4567"}'
	run -5 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_output ''
	assert_equal "$stderr" 'kincount-pull: clicks: aws kinesis list-shards failed (exit 255): Could not connect to the endpoint URL: "https://kinesis.us-east-1.amazonaws.com/"'
	: >"$FAKE_AWS_LOG"
	run -0 --separate-stderr pull -e http://127.0.0.1:4567 clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
	# list-shards, and a get-shard-iterator and a get-records for each shard.
	assert_equal "$(wc -l <"$FAKE_AWS_LOG")" 5
	assert_equal "$(jq -c 'select((.argv | index("--endpoint-url")) as $i | $i == null or .argv[$i + 1] != "http://127.0.0.1:4567")' "$FAKE_AWS_LOG")" ''
}

@test "-s: only the named shards (and their listed ancestors); an unknown shard is exit 2" {
	fake create clicks 3
	fake put clicks "$S0" 5
	fake put clicks "$S1" 6
	fake put clicks "$S2" 7
	run -0 --separate-stderr pull -s "$S1" clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$(redis_counters)" "$(expected "$S1")"
	assert_equal "$(checkpoint "clicks/$S0")$(checkpoint "clicks/$S2")" ''
	fake split clicks "$S2"   # children 3 and 4
	fake put clicks "$S4" 2
	: >"$FAKE_AWS_LOG"
	run -0 --separate-stderr pull -s "$S4" -s "$S1" clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$(redis_counters)" "$(expected "$S1" "$S2" "$S4")"
	assert_equal "$(iterator_requests | cut -d ' ' -f 1 | tr '\n' ' ')" "$S1 $S2 $S4 "
	run -2 --separate-stderr pull -s shardId-000000000009 clicks "$REDIS_URL"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: -s shardId-000000000009: no such shard in stream clicks"
}

@test "-l: --limit on every get-records, one batch a page" {
	two_shards 20 0
	run -0 --separate-stderr pull -l 7 clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(stats_of "$S0" batches)" 3
	assert_equal "$(calls get-records | jq -r '.[index("--limit") + 1]' | sort -u)" 7
	assert_equal "$(calls get-records | wc -l)" 4
}

@test "-l: a full page that says MillisBehindLatest 0 is not the end; a page under the limit is" {
	two_shards 20 0
	fake fault '{"zero_millis": true}'
	run -0 --separate-stderr pull -l 7 clicks "$REDIS_URL" -- "${KEYS[@]}" --stats=json
	assert_equal "$(redis_counters)" "$(expected)"
	# 7, 7 and 6 records: the third page is under the limit, so the shard is caught up.
	assert_equal "$(stats_of "$S0" records)" 20
	assert_equal "$(calls get-records | wc -l)" 4
}

@test "list-shards pages (NextToken) are all read" {
	fake create clicks 3
	fake put clicks "$S2" 4
	fake fault '{"list_page": 1}'
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$(redis_counters)" "$(expected)"
	assert_equal "$(calls list-shards | wc -l)" 3
	assert_equal "$(calls list-shards | sed -n 2p | jq 'index("--stream-name")')" null
	assert_equal "$(calls list-shards | sed -n 2p | jq 'index("--next-token")')" 2
}

@test "aws failures: exit 5 naming the call and the CLI's message" {
	two_shards 3 3
	run -5 --separate-stderr pull nosuch "$REDIS_URL"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: nosuch: aws kinesis list-shards failed (exit 254): An error occurred (ResourceNotFoundException) when calling the ListShards operation: Stream nosuch under account 123456789012 not found."
	fake fault '{"throttle": {"shardId-000000000001": 9}}'
	run -5 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" "kincount-pull: clicks/$S1: aws kinesis get-records failed (exit 254): An error occurred (ProvisionedThroughputExceededException) when calling the GetRecords operation (reached max retries: 2): Rate exceeded for shard $S1 in stream clicks under account 123456789012."
	assert_equal "$(redis_counters)" "$(expected "$S0")"
}

@test "usage errors: exit 2 before any aws call, the message and the usage line" {
	u='usage: kincount-pull [-e endpoint_url] [-s shard]... [-l limit] stream redis_url [-- kincount_option...]'
	run -2 --separate-stderr "$PULL"
	assert_output ''
	assert_equal "$stderr" "$u"
	run -2 --separate-stderr "$PULL" clicks
	assert_equal "$stderr" "$u"
	run -2 --separate-stderr "$PULL" -l 0 clicks "$REDIS_URL"
	assert_equal "$stderr" "kincount-pull: -l: '0' is not a number from 1 to 10000
$u"
	run -2 --separate-stderr "$PULL" -l 10001 clicks "$REDIS_URL"
	assert_equal "$stderr" "kincount-pull: -l: '10001' is not a number from 1 to 10000
$u"
	run -2 --separate-stderr "$PULL" -s 'a b' clicks "$REDIS_URL"
	assert_equal "$stderr" "kincount-pull: -s: 'a b' is not a shard id
$u"
	run -2 --separate-stderr "$PULL" 'click/s' "$REDIS_URL"
	assert_equal "$stderr" "kincount-pull: 'click/s' is not a stream name
$u"
	run -2 --separate-stderr "$PULL" clicks "$REDIS_URL" -q
	assert_equal "$stderr" "kincount-pull: unexpected '-q' (kincount options go after --)
$u"
	run -2 --separate-stderr "$PULL" clicks "$REDIS_URL" -- -r unix:///elsewhere
	assert_equal "$stderr" "kincount-pull: kincount option '-r' is kincount-pull's own or cannot be used here
$u"
	run -2 --separate-stderr "$PULL" -x clicks "$REDIS_URL"
	assert_equal "$stderr" "kincount-pull: unknown option -x
$u"
	run -2 --separate-stderr "$PULL" clicks "$REDIS_URL" -e
	assert_equal "$stderr" "kincount-pull: unexpected '-e' (kincount options go after --)
$u"
	run -2 --separate-stderr "$PULL" -l
	assert_equal "$stderr" "kincount-pull: -l needs an argument
$u"
	run -0 --separate-stderr "$PULL" -h
	assert_output "$u"
	assert_equal "$stderr" ''
	assert_equal "$(wc -c <"$FAKE_AWS_LOG")" 0
}

@test "a kincount usage error (a bad template after --): exit 2 at the first shard, no shard read" {
	two_shards 3 3
	run -2 --separate-stderr pull clicks "$REDIS_URL" -- -k '{page'
	assert_output ''
	stderr_has_re "^kincount-pull: clicks/$S0: kincount: --key '\{page': "
	stderr_has "kincount-pull: clicks/$S0: kincount: usage error (exit 2)"
	assert_equal "$(grep -c "$S1" <<<"$stderr")" 0
	assert_equal "$(calls get-records)" ''
}

@test "./kincount-pull runs the kincount next to it; KINCOUNT overrides" {
	two_shards 2 0
	run -2 --separate-stderr env KINCOUNT=/nonexistent/kincount "$PULL" clicks "$REDIS_URL"
	assert_equal "$stderr" "kincount-pull: kincount not found (/nonexistent/kincount)"
	run -0 --separate-stderr env -u KINCOUNT PATH=/usr/bin:/bin "$PULL" clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$(redis_counters)" "$(expected)"
}

@test "SIGTERM: stops after the aws call in progress, the pages sent are applied, exit 143; the next run exact" {
	two_shards 12 5
	# At shard 0's second get-records, kincount-pull (the fake aws's parent) gets SIGTERM.
	fake fault "{\"page_records\": 4, \"hook\": {\"$S0\": [2, \"kill -TERM \$(ps -o ppid= -p \$PPID)\"]}}"
	run -143 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_output ''
	assert_equal "$stderr" "kincount-pull: stopped by a signal"
	# The page of that call was still sent and applied; shard 1 was not started.
	assert_equal "$(checkpoint "clicks/$S0")" "$(seq_of "$S0" 7)"
	assert_equal "$(checkpoint "clicks/$S1")" ''
	assert_equal "$(ls "$BATS_TEST_TMPDIR" | grep -c kincount-pull)" 0
	run -0 --separate-stderr pull clicks "$REDIS_URL" -- "${KEYS[@]}"
	assert_equal "$stderr" ''
	assert_equal "$(redis_counters)" "$(expected)"
}

@test "the README's crontab line (also the man page's) works, with a password file without a final newline" {
	local line
	line=$(grep -E '^    \*/5 \* \* \* \* .*kincount-pull ' "$BATS_TEST_DIRNAME/../README")
	[ -n "$line" ]
	# The man page shows the same line.
	grep -qxF "${line#    }" "$BATS_TEST_DIRNAME/../man/kincount-pull.1"
	two_shards 9 4
	RESTART_AFTER=1
	[ "$(rcli config set requirepass 'pw with spaces')" = OK ]
	printf 'pw with spaces' >redis.pass
	mkdir -p log lib
	cmd=${line#    \*/5 \* \* \* \* }
	cmd=${cmd//\/etc\/kincount\/redis.pass/$PWD/redis.pass}
	cmd=${cmd//redis:\/\/redis.internal:6379\/2/$REDIS_URL}
	cmd=${cmd//\/var\/lib\/kincount/$PWD/lib}
	cmd=${cmd//\/var\/log/$PWD/log}
	cmd=${cmd//kincount-pull clicks/$PULL clicks}
	run -0 --separate-stderr env -u REDISCLI_AUTH sh -c "$cmd"
	assert_output ''
	assert_equal "$stderr" ''
	assert_equal "$(grep -c '^{"stream":"clicks"' log/kincount-pull.log)" 2
	assert_equal "$(REDISCLI_AUTH='pw with spaces' redis_counters)" "$(fake counts --default)"
}

@test "kincount-pull is executable and parses as POSIX sh (dash -n)" {
	[ -x "$PULL" ]
	run -0 --separate-stderr dash -n "$PULL"
	assert_output ''
	assert_equal "$stderr" ''
}
