#!/usr/bin/env bats
# Live pipes and dead letters: a steady trickle of input reaches stdout and Redis within
# --flush-ms of its first record, however often more comes; a dead letter that cannot be
# written whole stops its batch (nothing of it applied, the checkpoint not moved, no line cut
# short left behind), a file left with a line cut short is reported and appended to on a new
# line, and two runs writing long dead letters to one file at once never mix their lines.
# The full disk is real: /dev/full, or a file size limit (ulimit -f, with SIGXFSZ ignored),
# at which the kernel cuts a write short and fails the next with EFBIG.  Also: -s when the run ends before reading, and the defaults
# that --help shows are the man page's.

load helper
load redis

# limited BYTES CMD...: runs CMD with files limited to BYTES (a multiple of 1024), SIGXFSZ
# ignored, so that a write past the limit is cut short and the next one fails (EFBIG).
limited() {
	local bytes=$1
	shift
	timeout 60 bash -c 'trap "" XFSZ; ulimit -f "$1" && shift && exec "$@"' - \
		$((bytes / 1024)) "$@"
}

# pad_to FILE N: writes FILE as one JSON line (a dead letter of an earlier run, say) such
# that N more bytes end on a multiple of 1024; prints the size FILE then may grow to.
pad_to() {
	local n=$2 size pad
	size=$(( (n + 40 + 1023) / 1024 * 1024 ))
	pad=$((size - n - 11))
	printf '{"pad":"%s"}\n' "$(head -c "$pad" /dev/zero | tr '\0' x)" > "$1"
	[ $(( $(wc -c < "$1") + n )) -eq "$size" ] || { fail "pad_to: wrong size"; return 1; }
	echo "$size"
}

# trickle DELAYS...: writes JSON lines {"page":...,"n":...,"id":I} to stdout, one after each
# delay in seconds (the first at once), flushing each; then holds the pipe open for 2 s more.
trickle() {
	python3 -c '
import sys, time
pages = ["cart", "home", "search", "item"]
try:
    for i, d in enumerate(sys.argv[1:]):
        time.sleep(float(d))
        sys.stdout.write("{\"page\":\"%s\",\"n\":%d,\"id\":%d}\n" % (pages[i % 4], i % 5, i))
        sys.stdout.flush()
    time.sleep(2)
except BrokenPipeError:
    pass
' "$@" 2>/dev/null
}

# Delays of 100 to 300 ms, 25 lines, about 5 s in all: always below --flush-ms 500.
DELAYS=(0 0.2 0.1 0.3 0.2 0.1 0.3 0.2 0.1 0.3 0.2 0.1 0.3 0.2 0.1 0.3 0.2 0.1 0.3 0.2 0.1
	0.3 0.2 0.1 0.3)

# trickle_lines: what trickle "${DELAYS[@]}" writes, for the expected counts.
trickle_lines() {
	awk -v n="${#DELAYS[@]}" 'BEGIN {
		split("cart home search item", p, " ")
		for (i = 0; i < n; i++)
			printf "{\"page\":\"%s\",\"n\":%d,\"id\":%d}\n", p[i % 4 + 1], i % 5, i
	}'
}

# --- item 16: a steady trickle ----------------------------------------------------------------

@test "trickle: a line every 100-300 ms reaches stdout within a second (--flush-ms 500)" {
	mkfifo out.fifo
	start=$(now)
	trickle "${DELAYS[@]}" 3>&- |
		"$KINCOUNT" -f json -k '{id}' --flush-ms 500 > out.fifo 2> err 3>&- &
	KPID=$!
	exec 4< out.fifo
	IFS= read -r -t 5 -u 4 first || fail "no key on stdout within 5 s; stderr: $(cat err)"
	elapsed_below "$start" 1.5
	assert_equal "$first" 0
	alive "$KPID" || fail "kincount ended early: $(cat err)"
	# The rest comes too, in order, and nothing on stderr.
	rest=$(timeout 20 cat <&4)
	exec 4<&-
	kc_wait 20
	assert_equal "$KSTATUS" 0
	assert_equal "$(cat err)" ''
	assert_equal "$first"$'\n'"$rest" "$(seq 0 $((${#DELAYS[@]} - 1)))"
}

@test "trickle: a line every 100-300 ms reaches Redis within a second (--flush-ms 500)" {
	trickle_lines > all
	expect_counts all > want
	start=$(now)
	trickle "${DELAYS[@]}" 3>&- | kc_bg -r "$REDIS_URL" -f json --flush-ms 500 \
		"${KC_KEYS[@]}" &
	KPID=$!
	wait_for 5 has_counters
	elapsed_below "$start" 1.5
	alive "$KPID" || fail "kincount ended early: $(cat err)"
	# Half way through the input, the counts of what was written 1 s ago are there.
	sleep 2
	alive "$KPID" || fail "kincount ended early: $(cat err)"
	[ "$(rcli get kc:cart)" -ge 2 ] || fail "kc:cart is '$(rcli get kc:cart)' after 3 s"
	kc_wait 20
	assert_equal "$KSTATUS" 0
	assert_equal "$kstderr" ''
	assert_equal "$(redis_counters)" "$(cat want)"
}

@test "idle pipe: what was read is on stdout after --flush-ms, before the input ends" {
	mkfifo out.fifo
	{ printf '{"id":1}\n{"id":2}\n'; sleep 4; printf '{"id":3}\n'; } 3>&- |
		"$KINCOUNT" -f json -k '{id}' --flush-ms 300 > out.fifo 2> err 3>&- &
	KPID=$!
	start=$(now)
	exec 4< out.fifo
	IFS= read -r -t 3 -u 4 a || fail "no key within 3 s"
	IFS= read -r -t 3 -u 4 b || fail "no second key within 3 s"
	elapsed_below "$start" 2
	assert_equal "$a $b" '1 2'
	alive "$KPID" || fail "kincount ended early"
	IFS= read -r -t 8 -u 4 c || fail "no third key"
	exec 4<&-
	kc_wait 10
	assert_equal "$KSTATUS" 0
	assert_equal "$c" 3
}

@test "trickle of gzip: compressed input on a live pipe is flushed the same way" {
	mkfifo out.fifo
	# gzip --rsyncable is not needed: python flushes a full gzip member per line.
	python3 -c '
import gzip, sys, time
try:
    for i in range(20):
        sys.stdout.buffer.write(gzip.compress(b"{\"id\":%d}\n" % i))
        sys.stdout.buffer.flush()
        time.sleep(0.2)
    time.sleep(2)
except BrokenPipeError:
    pass
' 2>/dev/null 3>&- | "$KINCOUNT" -f json -k '{id}' --flush-ms 500 > out.fifo 2> err 3>&- &
	KPID=$!
	start=$(now)
	exec 4< out.fifo
	IFS= read -r -t 5 -u 4 first || fail "no key within 5 s; stderr: $(cat err)"
	elapsed_below "$start" 1.5
	assert_equal "$first" 0
	rest=$(timeout 20 cat <&4)
	exec 4<&-
	kc_wait 20
	assert_equal "$KSTATUS" 0
	assert_equal "$first"$'\n'"$rest" "$(seq 0 19)"
}

# --- item 17: a dead letter that cannot be written stops its batch ----------------------------

# make_input: three Lambda events of three records (gen_lambda) in ./in, where the second
# record of each event named in $BAD (1-based) has invalid base64; ./good holds the same
# events without those records, ./good1 the first event alone, the same way.
make_input() {
	local i
	gen_lambda 3 3 > gen
	: > in
	: > good
	for i in 1 2 3; do
		if [[ " $BAD " == *" $i "* ]]; then
			sed -n "${i}p" gen | jq -c '.Records[1].kinesis.data = "!!!!"' >> in
			sed -n "${i}p" gen | jq -c 'del(.Records[1])' >> good
		else
			sed -n "${i}p" gen >> in
			sed -n "${i}p" gen >> good
		fi
	done
	sed -n 1p good > good1
	# The dead letters a run that writes them all gives (stdout sink, same input name).
	"$KINCOUNT" -q "${KC_KEYS[@]}" --dead-letter probe in > /dev/null 2>&1 || true
}

@test "full disk: /dev/full stops the batch of the lost dead letter; a rerun counts it once" {
	BAD=2 make_input
	expect_counts good1 > want1
	expect_counts good > want
	assert_equal "$(wc -l < probe)" 1
	run -4 --separate-stderr kc -q -r "$REDIS_URL" --checkpoint --dead-letter /dev/full \
		"${KC_KEYS[@]}" in
	assert_output ''
	# The first event is applied, nothing of the second: no count, no checkpoint move.
	assert_equal "$(redis_counters)" "$(cat want1)"
	assert_equal "$(checkpoint)" "$(last_seq good1)"
	assert_equal "$stderr" "kincount: /dev/full: No space left on device
kincount: redis: batch 2 not applied: its dead letters were not written (1 batch applied)
kincount: 1 rejected (invalid base64: 1)"
	# With a disk that works, the rest is counted once and its dead letter written.
	run -1 --separate-stderr kc -q -r "$REDIS_URL" --checkpoint --dead-letter dl \
		"${KC_KEYS[@]}" in
	assert_output ''
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(checkpoint)" "$(last_seq in)"
	assert_equal "$(cat dl)" "$(cat probe)"
}

@test "full disk mid-line: the cut line is removed, its batch not applied; a rerun completes the file" {
	BAD='1 2' make_input
	expect_counts good1 > want1
	expect_counts good > want
	assert_equal "$(wc -l < probe)" 2
	# The file takes the first dead letter and 20 bytes of the second.
	limit=$(pad_to dl $(( $(head -n 1 probe | wc -c) + 20 )))
	cp dl pad
	run -4 --separate-stderr limited "$limit" "$KINCOUNT" -q -r "$REDIS_URL" --checkpoint \
		--dead-letter dl "${KC_KEYS[@]}" in
	assert_output ''
	# The first event is applied, nothing of the second: no count, no checkpoint move.
	assert_equal "$(redis_counters)" "$(cat want1)"
	assert_equal "$(checkpoint)" "$(last_seq good1)"
	# No part of the second line is left: the file ends with the first line, whole.
	assert_equal "$(cat dl)" "$(cat pad; head -n 1 probe)"
	assert_equal "$(tail -c 1 dl | od -An -c | tr -d ' ')" '\n'
	assert_equal "$stderr" "kincount: dl: File too large
kincount: redis: batch 2 not applied: its dead letters were not written (1 batch applied)
kincount: 2 rejected (invalid base64: 2)"
	run -1 --separate-stderr kc -q -r "$REDIS_URL" --checkpoint --dead-letter dl \
		"${KC_KEYS[@]}" in
	assert_equal "$stderr" 'kincount: 1 rejected (invalid base64: 1)'
	assert_equal "$(redis_counters)" "$(cat want)"
	assert_equal "$(checkpoint)" "$(last_seq in)"
	assert_equal "$(cat dl)" "$(cat pad probe)"
}

@test "full disk, stdout sink: exit 4, the cut dead letter is not left in the file" {
	printf '%s\n' '{"id":1}' '{"x":2}' '{"id":3}' '{"x":4}' '{"id":5}' > in
	"$KINCOUNT" -q -f json -k '{id}' --missing reject --dead-letter probe in > /dev/null 2>&1 ||
		true
	assert_equal "$(wc -l < probe)" 2
	limit=$(pad_to dl $(( $(head -n 1 probe | wc -c) + 5 )))
	cp dl pad
	run -4 --separate-stderr limited "$limit" "$KINCOUNT" -q -f json -k '{id}' \
		--missing reject --dead-letter dl in
	# Reading stopped at the lost dead letter; what was read before it is written.
	assert_output $'1\n3'
	assert_equal "$(cat dl)" "$(cat pad; head -n 1 probe)"
	assert_equal "$stderr" "kincount: dl: File too large
kincount: 2 rejected (missing field: 2)"
}

@test "torn tail: a file not ending in a newline is reported and appended to on a new line" {
	printf '%s\n' '{"id":1}' '{"id":2,' > in
	"$KINCOUNT" -q -f json -k '{id}' --dead-letter probe in > /dev/null 2>&1 || true
	printf '{"reason":"invalid JSON: cut sh' > dl
	run -1 --separate-stderr "$KINCOUNT" -q -f json -k '{id}' --dead-letter dl in
	assert_output 1
	assert_equal "$(sed -n 1p dl)" '{"reason":"invalid JSON: cut sh'
	assert_equal "$(sed -n '2,$p' dl)" "$(cat probe)"
	assert_equal "$stderr" "kincount: dl: the last line was cut short (no newline at the end); new lines start after it
kincount: 1 rejected (invalid JSON: 1)"
	# A file that ends properly is appended to without a word.
	run -1 --separate-stderr "$KINCOUNT" -q -f json -k '{id}' --dead-letter dl in
	assert_equal "$stderr" 'kincount: 1 rejected (invalid JSON: 1)'
	assert_equal "$(wc -l < dl)" 3
	assert_equal "$(sed -n 3p dl)" "$(cat probe)"
}

# --- item 18: two writers at once ---------------------------------------------------------------

@test "two runs writing 2,000 dead letters of 20 KB each to one file never mix their lines" {
	# Invalid base64 lines of 20,000 bytes, distinct: the dead letter keeps each whole.
	for w in a b; do
		python3 -c '
import sys
w = sys.argv[1]
for i in range(2000):
    head = "!%s%d!" % (w, i)
    sys.stdout.write(head + "x" * (20000 - len(head)) + "\n")
' "$w" > "in.$w"
	done
	"$KINCOUNT" -q -f base64 --dead-letter dl in.a > /dev/null 2> err.a &
	pa=$!
	"$KINCOUNT" -q -f base64 --dead-letter dl in.b > /dev/null 2> err.b &
	pb=$!
	sa=0
	wait "$pa" || sa=$?
	sb=0
	wait "$pb" || sb=$?
	assert_equal "$sa $sb" '1 1'
	assert_equal "$(cat err.a)" 'kincount: 2000 rejected (invalid base64: 2000)'
	assert_equal "$(cat err.b)" 'kincount: 2000 rejected (invalid base64: 2000)'
	run -0 python3 -c '
import json, sys
bad, seen = 0, []
with open("dl", "rb") as f:
    for line in f:
        try:
            seen.append(json.loads(line)["data"])
        except ValueError:
            bad += 1
want = sorted(l.rstrip("\n") for w in "ab" for l in open("in." + w))
print("lines %d, not JSON %d, same data %s" % (len(seen) + bad, bad, sorted(seen) == want))
'
	assert_output 'lines 4000, not JSON 0, same data True'
}

# --- item 19: -s when the run ends before reading ---------------------------------------------

@test "stats: -s prints its summary also when Redis cannot be reached at start-up" {
	run -3 --separate-stderr kc -s --retries 0 -r "unix://$BATS_TEST_TMPDIR/none.sock" \
		-f json < /dev/null
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 2
	assert_regex "${stderr_lines[0]}" '^kincount: redis: '
	assert_regex "${stderr_lines[1]}" '^kincount: records 0, events 0, keys 0, distinct keys 0, rejected 0, filtered 0, duplicates 0, out of order 0, time field missing 0, aggregates 0, sub-records 0, log events 0, control messages 0, batches 0, redis commands 0, seconds [0-9]+\.[0-9]{3}, records/s 0$'
	run -3 --separate-stderr kc --stats=json --retries 0 \
		-r "unix://$BATS_TEST_TMPDIR/none.sock" -f json < /dev/null
	assert_equal "$(stat_of records) $(stat_of batches)" '0 0'
}

@test "stats: -s prints its summary also when the dead-letter file cannot be opened" {
	run -4 --separate-stderr "$KINCOUNT" -s -f json --dead-letter nodir/dl < /dev/null
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'kincount: nodir/dl: No such file or directory'
	assert_regex "${stderr_lines[1]}" '^kincount: records 0, events 0, '
}

# --- defaults -------------------------------------------------------------------------------

@test "defaults: every default that --help shows is the man page's" {
	run -0 --separate-stderr python3 - "$KINCOUNT" "$BATS_TEST_DIRNAME/../man/kincount.1" <<-'EOF'
	import re, subprocess, sys
	help = subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True).stdout
	page = open(sys.argv[2]).read()
	# "--opt ARG ... (default X)", the default possibly on the next line.
	found = {}
	opt = None
	for line in help.splitlines():
	    m = re.match(r"\s+(?:-\w, )?--([\w-]+)", line)
	    if m:
	        opt = m.group(1)
	    d = re.search(r"\(default ([^)]+)\)", line)
	    if d and opt and re.fullmatch(r"[0-9]+|[\w:]+", d.group(1)):
	        found[opt] = d.group(1)
	# The man page entry of each: from ".It Fl -opt" to the next ".It".
	for opt, val in sorted(found.items()):
	    m = re.search(r"^\.It (?:Fl \w , )?Fl -" + re.escape(opt) + r"\b.*?(?=^\.It |\Z)",
	                  page, re.S | re.M)
	    if not m:
	        print("%s: no man page entry" % opt)
	    elif val not in m.group(0):
	        print("%s: --help says %s, the man page does not" % (opt, val))
	print("%d defaults" % len(found))
	EOF
	assert_output '7 defaults'
}
