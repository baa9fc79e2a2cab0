#!/usr/bin/env bats
# Behaviour that had no test: the test runner itself, the fuzz regressions, the
# --max-record-bytes boundary, broken gzip and read errors, a checkpoint moved by another
# writer, records without a shard id, Firehose with --checkpoint, a 10 MiB record,
# --local-time across local midnight and base64 with non-zero pad bits. Expected values come
# from python3, base64, date and gzip, never from kincount.

load helper
load redis

ROOT=$BATS_TEST_DIRNAME/..

# sized N: the JSON object {"n":N,"p":"xx..."} padded with x to exactly N bytes (N >= 17).
sized() {
	python3 -c '
import sys
n = int(sys.argv[1])
head = "{\"n\":%d,\"p\":\"" % n
sys.stdout.write(head + "x" * (n - len(head) - 2) + "\"}")' "$1"
}

# gr_page SEQ PAYLOAD: a get-records page with one record, on one line.
gr_page() {
	printf '{"Records":[{"SequenceNumber":"%s","ApproximateArrivalTimestamp":1450310400.5,"Data":"%s","PartitionKey":"pk-%s"}],"NextShardIterator":"AAAA","MillisBehindLatest":0}\n' \
		"$1" "$(b64 "$2")" "$1"
}

# --- the runner and the fuzz regressions -------------------------------------------------------

@test "run-tests: a bats worker that dies counts its tests as failed; a skip is not a pass" {
	mkdir t
	printf '@test "passes" { true; }\n@test "skipped" { skip "on purpose"; }\n' > t/a.bats
	# setup_file runs in the file's worker: killing it loses every test of the file.
	printf 'setup_file() { kill -9 $$; }\n@test "lost" { true; }\n@test "lost too" { true; }\n' \
		> t/b.bats
	run -1 --separate-stderr "$ROOT/tools/run-tests" t
	assert_equal "${lines[-1]}" '1 passed, 2 failed, 1 skipped'
	stderr_has 'run-tests: bats planned 4 tests but reported 2'
}

@test "run-tests: a clean folder passes and ends with the three counts" {
	mkdir t
	printf '@test "one" { true; }\n@test "two" { true; }\n' > t/a.bats
	run -0 --separate-stderr "$ROOT/tools/run-tests" t
	assert_equal "${lines[-1]}" '2 passed, 0 failed, 0 skipped'
	assert_equal "$stderr" ''
}

@test "fuzz/regress: every fuzz target replays every saved input without a fault" {
	local src name replay inputs=("$ROOT"/fuzz/regress/*) targets=0
	[ -e "${inputs[0]}" ] || fail "fuzz/regress is empty"
	for src in "$ROOT"/fuzz/fuzz_*.c; do
		name=${src##*/fuzz_}
		name=${name%.c}
		# Built with cc (as kincount is), and with clang-14's sanitizers.
		for replay in "replay-$name" "clang-replay-$name"; do
			[ -x "$ROOT/fuzz/$replay" ] ||
				fail "fuzz/$replay is not built (make check builds it)"
			run -0 --separate-stderr "$ROOT/fuzz/$replay" "${inputs[@]}"
			assert_output "replayed ${#inputs[@]} inputs"
			assert_equal "$stderr" ''
		done
		targets=$((targets + 1))
	done
	[ "$targets" -gt 0 ] || fail "no fuzz target fuzz/fuzz_*.c"
}

# --- --max-record-bytes: exactly N decoded bytes pass, N+1 do not ------------------------------

@test "max-record-bytes: base64 lines of N-1 and N decoded bytes pass, N+1 is too large" {
	# Three limits, so the base64 text of N+1 bytes ends in '==', '=' and no padding.
	for n in 30 31 32; do
		for len in $((n - 1)) $n $((n + 1)); do
			b64 "$(sized "$len")"
			echo
		done > in
		[ "$(sed -n 3p in | base64 -d | wc -c)" = $((n + 1)) ]
		run -1 --separate-stderr "$KINCOUNT" -f base64 -k 'ok:{n}' --max-record-bytes "$n" in
		assert_output "ok:$((n - 1))"$'\n'"ok:$n"
		assert_equal "$stderr" "kincount: in:3: record 3: record too large"$'\n'"kincount: 1 rejected (record too large: 1)"
	done
}

@test "max-record-bytes: Lambda records of N-1 and N decoded bytes pass, N+1 is too large" {
	for n in 30 31 32; do
		for len in $((n - 1)) $n $((n + 1)); do
			lambda_event "$len" "$(sized "$len")"
		done > in
		run -1 --separate-stderr "$KINCOUNT" -k 'ok:{n}' --max-record-bytes "$n" in
		assert_output "ok:$((n - 1))"$'\n'"ok:$n"
		assert_equal "$stderr" "kincount: in:3: record 3 (seq $((n + 1))): record too large"$'\n'"kincount: 1 rejected (record too large: 1)"
	done
}

@test "max-record-bytes: get-records records of N-1 and N decoded bytes pass, N+1 is too large" {
	for n in 30 31 32; do
		for len in $((n - 1)) $n $((n + 1)); do
			gr_page "$len" "$(sized "$len")"
		done > in
		run -1 --separate-stderr "$KINCOUNT" -k 'ok:{n}' --max-record-bytes "$n" in
		assert_output "ok:$((n - 1))"$'\n'"ok:$n"
		assert_equal "$stderr" "kincount: in:3: record 3 (seq $((n + 1))): record too large"$'\n'"kincount: 1 rejected (record too large: 1)"
	done
}

@test "max-record-bytes: -f json documents of N-1 and N bytes pass, N+1 is too large" {
	for n in 30 31 32; do
		for len in $((n - 1)) $n $((n + 1)); do
			sized "$len"
			echo
		done > in
		run -1 --separate-stderr "$KINCOUNT" -f json -k 'ok:{n}' --max-record-bytes "$n" in
		assert_output "ok:$((n - 1))"$'\n'"ok:$n"
		assert_equal "$stderr" "kincount: in:3: record 3: record too large"$'\n'"kincount: 1 rejected (record too large: 1)"
	done
}

# --- broken gzip and read errors: exit 4 -------------------------------------------------------

@test "gzip: a .gz cut in the middle is exit 4; what came before is kept, the next file read" {
	awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "{\"a\":\"%d\"}\n", i }' | gzip > full.gz
	head -c $(($(stat -c %s full.gz) / 2)) full.gz > cut.gz
	printf '{"a":"next"}\n' > next
	run -4 --separate-stderr "$KINCOUNT" -f json -k '{a}' cut.gz next
	assert_equal "$stderr" 'kincount: cut.gz: broken gzip data'
	[ "${lines[-1]}" = next ] || fail "the next file was not read: ${lines[-1]}"
	# Every key printed from the cut file is the next line of the original, in order.
	printf '%s\n' "${lines[@]:0:${#lines[@]}-1}" > got
	[ "$(wc -l < got)" -gt 1000 ] || fail "only $(wc -l < got) keys before the cut"
	assert_equal "$(cat got)" "$(seq 1 "$(wc -l < got)")"
}

@test "gzip: only the gzip header (10 bytes) is exit 4" {
	printf '{"a":"1"}\n' | gzip | head -c 10 > hdr.gz
	run -4 --separate-stderr "$KINCOUNT" -f json -k '{a}' hdr.gz
	assert_output ''
	assert_equal "$stderr" 'kincount: hdr.gz: broken gzip data'
}

@test "gzip: garbage after a gzip member is exit 4, the member's keys are printed" {
	{ printf '{"a":"1"}\n' | gzip; echo 'garbage'; } > g.gz
	run -4 --separate-stderr "$KINCOUNT" -f json -k '{a}' g.gz
	assert_output '1'
	assert_equal "$stderr" 'kincount: g.gz: broken gzip data'
}

@test "gzip: two members one after the other are read as one stream (zcat does too)" {
	{ printf '{"a":"1"}\n' | gzip; printf '{"a":"2"}\n' | gzip; } > two.gz
	assert_equal "$(zcat two.gz | jq -r .a)" $'1\n2'
	run -0 --separate-stderr "$KINCOUNT" -f json -k '{a}' two.gz
	assert_output $'1\n2'
	assert_equal "$stderr" ''
}

@test "read error: a directory among the inputs is exit 4; the other files are read" {
	mkdir dir
	printf '{"a":"1"}\n' > one
	run -4 --separate-stderr "$KINCOUNT" -f json -k '{a}' dir one
	assert_output '1'
	assert_equal "$stderr" 'kincount: dir: Is a directory'
}

# --- a checkpoint moved by another writer ------------------------------------------------------

@test "checkpoint: another writer moving the checkpoint mid-run stops the run with exit 3" {
	gen_lambda 2 1 > in
	seq1=$(sed -n 1p in | jq -r '.Records[0].kinesis.sequenceNumber')
	other=$(python3 -c 'import sys; print(int(sys.argv[1]) + 1)' "$seq1")
	sed -n 1p in > first
	expect_counts first > want
	mkfifo fifo
	kc_bg -r "$REDIS_URL" --checkpoint "${KC_KEYS[@]}" < fifo &
	KPID=$!
	exec 5> fifo
	sed -n 1p in >&5
	# The first event is one batch: wait until it is applied, then move the checkpoint as
	# another run on the same shard would, then send the second event.
	wait_for 20 has_checkpoint
	assert_equal "$(checkpoint)" "$seq1"
	assert_equal "$(rcli hset kincount:checkpoints "$CKPT_FIELD" "$other")" 0
	sed -n 2p in >&5
	exec 5>&-
	kc_wait 20
	assert_equal "$KSTATUS" 3 "exit status; stderr: $kstderr"
	stderr=$kstderr
	stderr_has_re "^kincount: redis: .*the checkpoint of $CKPT_FIELD is at $other, not where this run left it: is another writer on this shard, or did the server lose acknowledged writes \(a restart without persistence, a promoted replica that lagged\)\? Run again: kincount counts from the stored checkpoint; see DURABILITY in kincount\(1\) and --wait-replicas \(1 batch applied\)$"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" ''
	# The second batch changed nothing: the first event's counts, the other writer's value.
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(checkpoint)" "$other"
}

# --- record has no shard id ---------------------------------------------------------------------

@test "checkpoint: a get-records page read by -f auto with no --shard: record has no shard id" {
	gr_page 7 '{"page":"cart","n":1}' > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stream clicks "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "${stderr_lines[0]}" 'kincount: in:1: record 1 (seq 7): record has no shard id (use --shard)'
	assert_regex "${stderr_lines[1]}" '^kincount: 1 rejected \(.+: 1\)$'
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "$(redis_counters)" ''
	assert_equal "$(rcli exists kincount:checkpoints)" 0
}

@test "checkpoint: a Lambda record without eventID: record has no shard id" {
	lambda_event 8 '{"page":"cart","n":1}' | sed 's/"eventID":"[^"]*",//' > in
	lambda_event 9 '{"page":"home","n":2}' >> in
	[ "$(sed -n 1p in | jq '.Records[0] | has("eventID")')" = false ]
	expect_counts <(sed -n 2p in) > want
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint --dead-letter dl "${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "${stderr_lines[0]}" 'kincount: in:1: record 1 (seq 8): record has no shard id (use --shard)'
	assert_regex "${stderr_lines[1]}" '^kincount: 1 rejected \(.+: 1\)$'
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(checkpoint)" 9
	assert_equal "$(jq -r '[.reason, .sequence_number] | join("|")' dl)" \
		'record has no shard id (use --shard)|8'
}

# --- Firehose with --checkpoint -----------------------------------------------------------------

@test "checkpoint: Firehose events take sequence numbers from kinesisRecordMetadata; twice counts once" {
	python3 - > in <<-'EOF'
	import base64, json
	base = 49546986683135544286507457936321625675700192471156785154
	pages = ["cart", "home", "search"]
	for e in range(4):
	    recs = []
	    for j in range(5):
	        r = e * 5 + j
	        seq = str(base + 10 * r)
	        payload = json.dumps({"page": pages[r % 3], "n": r % 4})
	        recs.append({"recordId": seq + "000000", "approximateArrivalTimestamp": 1507217624302,
	                     "data": base64.b64encode(payload.encode()).decode(),
	                     "kinesisRecordMetadata": {"shardId": "shardId-00000000000%d" % (r % 2),
	                                               "partitionKey": "pk%d" % r,
	                                               "approximateArrivalTimestamp": 1507217624302,
	                                               "sequenceNumber": seq, "subsequenceNumber": 0}})
	    print(json.dumps({"invocationId": "inv-%d" % e,
	        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/d",
	        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
	        "region": "us-east-1", "records": recs}))
	EOF
	python3 - in > want <<-'EOF'
	import base64, collections, json, sys
	c = collections.Counter()
	for line in open(sys.argv[1]):
	    for r in json.loads(line)["records"]:
	        ev = json.loads(base64.b64decode(r["data"]))
	        c["kc:%s:%s" % (ev["page"], ev["n"])] += 1
	        c["kc:%s" % ev["page"]] += 1
	for k in sorted(c):
	    print("%s\t%d" % (k, c[k]))
	EOF
	last_of() {
		jq -r --arg s "$1" '.records[].kinesisRecordMetadata | select(.shardId == $s) | .sequenceNumber' in | tail -n 1
	}
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(stat_of duplicates)" 0
	assert_equal "$(checkpoint clicks/shardId-000000000000)" "$(last_of shardId-000000000000)"
	assert_equal "$(checkpoint clicks/shardId-000000000001)" "$(last_of shardId-000000000001)"
	run -0 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json "${KC_KEYS[@]}" in
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(stat_of records)" 20
	assert_equal "$(stat_of duplicates)" 20
}

# --- a 10 MiB record ----------------------------------------------------------------------------

@test "a Lambda record just under 10 MiB decoded is counted, in memory of a few times its size" {
	python3 - > big <<-'EOF'
	import base64, json
	n = 10 * 1024 * 1024 - 1
	head, tail = '{"page":"big","pad":"', '"}'
	payload = head + "x" * (n - len(head) - len(tail)) + tail
	assert len(payload) == n
	print(json.dumps({"Records": [{"kinesis": {"partitionKey": "p", "sequenceNumber": "1",
	    "data": base64.b64encode(payload.encode()).decode(),
	    "approximateArrivalTimestamp": 1450310400.5},
	    "eventID": "shardId-000000000000:1",
	    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}]}))
	EOF
	lambda_event 1 '{"page":"small"}' > small
	# Peak RSS (KiB) of one run, from getrusage of the child.
	rss() {
		python3 -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=open(sys.argv[1], "wb"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
	}
	read -r st_big kb_big < <(rss out_big "$KINCOUNT" -k '{page}' big)
	read -r st_small kb_small < <(rss out_small "$KINCOUNT" -k '{page}' small)
	assert_equal "$st_big" 0
	assert_equal "$(cat out_big)" big
	assert_equal "$st_small" 0
	# The input is 14 MB of base64 and 10 MiB decoded: allow 8 times the record above the
	# baseline of a small run (sanitizers included), never memory that grows without bound.
	[ $((kb_big - kb_small)) -lt $((8 * 10 * 1024)) ] ||
		fail "peak RSS $kb_big KiB against $kb_small KiB for a small record"
}

# --- --local-time across local midnight ---------------------------------------------------------

@test "--local-time: {@date} follows TZ across local midnight (Asia/Kolkata, +05:30)" {
	# 2015-12-17T18:30:00Z is local midnight in Kolkata.
	mid=$(date -u -d '2015-12-17T18:30:00Z' +%s)
	# Around it, and around UTC midnight 5 h 30 later.
	arrivals=("$((mid - 1)).999" "$mid" "$((mid + 1)).5" "$((mid + 19799))" "$((mid + 19800))")
	for a in "${arrivals[@]}"; do
		lambda_event 1 '{"page":"p"}' "$a"
	done > in
	for a in "${arrivals[@]}"; do
		TZ=Asia/Kolkata date -d "@${a%.*}" +%F
	done > want_local
	for a in "${arrivals[@]}"; do
		date -u -d "@${a%.*}" +%F
	done > want_utc
	# The arrivals fall on both sides of midnight, in local time and in UTC.
	assert_equal "$(sort -u want_local | wc -l)" 2
	assert_equal "$(sort -u want_utc | wc -l)" 2
	TZ=Asia/Kolkata run -0 --separate-stderr "$KINCOUNT" --local-time -k '{@date}' in
	assert_output "$(cat want_local)"
	assert_equal "$stderr" ''
	TZ=Asia/Kolkata run -0 --separate-stderr "$KINCOUNT" -k '{@date}' in
	assert_output "$(cat want_utc)"
	assert_equal "$stderr" ''
}

# --- base64 pad bits ----------------------------------------------------------------------------

@test "base64: eyJhIjoxfY== is rejected: the pad bits of its last character are not zero" {
	# Python's lenient decoder reads it as {"a":1}, but encoding that gives eyJhIjoxfQ==:
	# 'Y' is 24 = 0b011000, and with '==' only its top two bits are data.
	assert_equal "$(python3 -c 'import base64; print(base64.b64decode("eyJhIjoxfY==").decode())')" '{"a":1}'
	assert_equal "$(printf '{"a":1}' | base64)" 'eyJhIjoxfQ=='
	printf 'eyJhIjoxfY==\neyJhIjoxfQ==\n' > in
	run -1 --separate-stderr "$KINCOUNT" -f base64 -k '{a}' in
	assert_output '1'
	assert_equal "$stderr" $'kincount: in:1: record 1: invalid base64\nkincount: 1 rejected (invalid base64: 1)'
}

@test "base64: of the 64 last characters before '=' and '==', exactly the canonical ones pass" {
	# {"a":12} ends in one '=' (two pad bits), {"a":1} in two (four pad bits). Every last
	# character is tried; python3 says which re-encode to the same text.
	python3 - <<-'EOF'
	import base64
	alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	lines, good = [], []
	for payload in (b'{"a":12}', b'{"a":1}'):
	    text = base64.b64encode(payload).decode()
	    pad = len(text) - len(text.rstrip("="))
	    for c in alpha:
	        t = text[:-pad - 1] + c + "=" * pad
	        lines.append(t)
	        if base64.b64encode(base64.b64decode(t)).decode() == t:
	            good.append(len(lines))
	open("in", "w").write("\n".join(lines) + "\n")
	open("good", "w").write("".join("%d\n" % g for g in good))
	EOF
	assert_equal "$(wc -l < in)" 128
	# 16 of 64 characters have the two low bits zero, 4 of 64 the four low bits. Of these,
	# all but the two original texts change a data bit, so their payload is not JSON.
	assert_equal "$(wc -l < good)" 20
	run -1 --separate-stderr "$KINCOUNT" -f base64 -q --dead-letter dl -k 'ok' in
	assert_regex "$stderr" '^kincount: 126 rejected \(.*invalid base64: 108.*\)$'
	assert_output $'ok\nok'
	# The lines rejected as invalid base64 are exactly those python3 calls non-canonical.
	jq -r 'select(.reason == "invalid base64") | .source' dl | sed 's/^in://' > bad
	assert_equal "$(sort -n bad good | uniq -d)" ''
	assert_equal "$(sort -n bad good)" "$(seq 1 128)"
}

# --- holes found by make mutants ----------------------------------------------------------------

# nested D: a JSON object nested D levels deep, {"a":{"a":...{"b":1}...}}.
nested() {
	python3 -c 'import sys; d = int(sys.argv[1]); print("{\"a\":" * (d - 1) + "{\"b\":1}" + "}" * (d - 1))' "$1"
}

@test "nesting: a document of exactly 1000 levels is read, 1001 is too deeply nested" {
	{ nested 999; nested 1000; nested 1001; nested 2; } > in
	run -1 --separate-stderr "$KINCOUNT" -f json -k 'x' in
	assert_output $'x\nx\nx'
	assert_equal "$stderr" $'kincount: in:3: record 3: too deeply nested\nkincount: 1 rejected (too deeply nested: 1)'
}

# deep_event SEQ...: a Lambda event with one record per SEQ (payload {"page":"pSEQ"}) whose
# document then nests too deep, so the whole document is rejected after its records were read.
deep_event() {
	local recs=() s
	for s; do
		recs+=("$(lambda_event "$s" "{\"page\":\"p$s\"}" | jq -c '.Records[0]')")
	done
	printf '{"Records":[%s],"x":%s}\n' "$(IFS=,; echo "${recs[*]}")" \
		"$(python3 -c 'print("[" * 1001 + "]" * 1001)')"
}

@test "a document rejected after its records: -c counts none of them, the next document all" {
	{ deep_event 5 6; lambda_event 7 '{"page":"p5"}'; } > in
	run -1 --separate-stderr "$KINCOUNT" -c -k 'k:{page}' in
	assert_output $'k:p5\t1'
	assert_equal "$stderr" $'kincount: in:1: too deeply nested\nkincount: 1 rejected (too deeply nested: 1)'
}

@test "checkpoint: records of a rejected document do not move the checkpoint; their replay counts" {
	{ deep_event 5 6; lambda_event 5 '{"page":"p5"}'; lambda_event 6 '{"page":"p6"}'; } > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --checkpoint --stats=json -k 'k:{page}' in
	assert_equal "$(redis_counters)" $'k:p5\t1\nk:p6\t1'
	assert_equal "$(stat_of duplicates)" 0
	assert_equal "$(checkpoint)" 6
}

@test "--escape-values: every byte below 0x20, 0x7f and % are percent-encoded, nothing else" {
	python3 - > in <<-'EOF'
	import json
	s = "".join(chr(c) for c in range(1, 128))
	print(json.dumps({"a": s}))
	EOF
	want=$(python3 -c '
s = "".join(chr(c) for c in range(1, 128))
print("".join("%%%02X" % ord(c) if ord(c) < 0x20 or c in "%\x7f" else c for c in s))')
	run -0 --separate-stderr "$KINCOUNT" -f json --escape-values -k '{a}' in
	assert_output "$want"
	assert_equal "$stderr" ''
}

@test "a control byte or DEL anywhere in a value of 1 to 20 bytes rejects the event" {
	# Every length and position, so the word-at-a-time and the byte-wise checks both run;
	# the same values with 0x7e and a space instead pass.
	python3 - <<-'EOF'
	import json
	bad, good = [], []
	for n in range(1, 21):
	    for i in range(n):
	        for c, ok in (("\x7f", 0), ("\x1f", 0), ("\x01", 0), ("~", 1), (" ", 1)):
	            v = "x" * i + c + "x" * (n - i - 1)
	            (good if ok else bad).append(json.dumps({"a": v}))
	open("bad", "w").write("\n".join(bad) + "\n")
	open("good", "w").write("\n".join(good) + "\n")
	EOF
	n=$(wc -l < bad)
	run -1 --separate-stderr "$KINCOUNT" -q -f json -k '{a}' bad
	assert_output ''
	assert_equal "$stderr" "kincount: $n rejected (bad key: $n)"
	run -0 --separate-stderr "$KINCOUNT" -f json -k '{a}' good
	assert_equal "${#lines[@]}" "$(wc -l < good)"
	assert_equal "$stderr" ''
}

@test "stderr: DEL and 0x1f in a file name are escaped as \\x7f and \\x1f" {
	name=$'in\x1f\x7f'
	lambda_event 1 '"just a string"' > "$name"
	run -1 --separate-stderr "$KINCOUNT" -k '{a}' "$name"
	assert_output ''
	assert_equal "${stderr_lines[0]}" 'kincount: in\x1f\x7f:1: record 1 (seq 1): payload is not a JSON object'
}

@test "dead letters: data that is not UTF-8 is kept as base64 of every length mod 3" {
	# Invalid UTF-8 in a JSON line: the document is rejected and kept as data_base64.
	for n in 0 1 2; do
		printf '{"a":"\xff%s"}\n' "$(printf 'x%.0s' $(seq 0 "$n"))"
	done > in
	run -1 --separate-stderr "$KINCOUNT" -q -f json --dead-letter dl -k '{a}' in
	assert_output ''
	assert_equal "$(jq -r .data_base64 dl)" "$(while IFS= read -r l; do printf '%s' "$l" | base64 -w0; echo; done < in)"
}

@test "dates from ISO strings in January, February and March, leap year or not" {
	ts=(2015-01-31T23:59:59Z 2015-02-01T00:00:00Z 2015-02-28T12:00:00Z 2015-03-01T00:00:00Z
		2016-02-29T12:00:00Z 2016-03-01T00:00:01Z 2000-02-29T00:00:00Z 2100-03-01T00:00:00Z
		1999-12-31T23:59:59Z)
	for t in "${ts[@]}"; do
		printf '{"ts":"%s"}\n' "$t"
	done > in
	for t in "${ts[@]}"; do
		date -u -d "$t" +%Y-%m-%dT%H:%M:%S/%s
	done > want
	run -0 --separate-stderr "$KINCOUNT" -f json -t ts -k '{@time:%Y-%m-%dT%H:%M:%S/%s}' in
	assert_output "$(cat want)"
	assert_equal "$stderr" ''
}

@test "redis: a batch whose only key is refused reports it and keeps its dead letter" {
	[ "$(rcli set kc:cart abc)" = OK ]
	lambda_event 1 '{"page":"cart"}' > in
	run -1 --separate-stderr kc -r "$REDIS_URL" --dead-letter dl -k 'kc:{page}' in
	assert_output ''
	stderr_has_re "^kincount: redis: key 'kc:cart' refused \(count 1\): ERR "
	assert_equal "$(rcli get kc:cart)" abc
	assert_equal "$(jq -r '[.key, .count] | join("|")' dl)" 'kc:cart|1'
}

@test "base64: a character outside the alphabet anywhere in a padded last quad is invalid base64" {
	# {"a":1} and {"a":12}: two and one '=' of padding; each position of the text in turn
	# becomes '!', '-', '_' or '.', never part of the standard alphabet.
	python3 - <<-'PY'
	lines = []
	for text in ("eyJhIjoxfQ==", "eyJhIjoxMn0="):
	    for i in range(len(text.rstrip("="))):
	        for c in "!-_.":
	            lines.append(text[:i] + c + text[i + 1:])
	open("in", "w").write("\n".join(lines) + "\n")
	PY
	n=$(wc -l < in)
	run -1 --separate-stderr "$KINCOUNT" -f base64 -q -k '{a}' in
	assert_output ''
	assert_equal "$stderr" "kincount: $n rejected (invalid base64: $n)"
}

@test "exit status: the worst wins whatever the order (4 then 1, 1 then 4 then 1)" {
	echo '!!!!' > bad
	run -4 --separate-stderr "$KINCOUNT" -f base64 nope bad
	assert_output ''
	assert_regex "${stderr_lines[0]}" '^kincount: nope: .+$'
	assert_equal "${stderr_lines[1]}" 'kincount: bad:1: record 1: invalid base64'
	run -4 --separate-stderr "$KINCOUNT" -f base64 bad nope bad
	assert_output ''
	assert_equal "${stderr_lines[-1]}" 'kincount: 2 rejected (invalid base64: 2)'
}
