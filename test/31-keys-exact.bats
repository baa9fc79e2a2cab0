#!/usr/bin/env bats
# Exact keys under hostile input (issue 7, items 5, 7 to 13, key side): control bytes and
# invalid UTF-8 never reach a key, whatever they come from (a value, metadata, a strftime
# result); template mistakes are found at start-up with their column; %s does not depend on
# TZ; dates that do not exist are not times; local times are read the same way whatever came
# before; a key that expands to nothing works with every sink.  Expected values come from
# python3 (datetime, zoneinfo, the UTF-8 decoder, time.strftime), date(1) and by hand.

load helper
load redis

SRC=${KC_SRC:-$BATS_TEST_DIRNAME/..}

# unit_keys: builds test/unit-keys.c (module functions called directly) once per file.
unit_keys() {
	local bin=$BATS_FILE_TMPDIR/unit-keys
	if [ ! -x "$bin" ]; then
		cc -std=c11 -D_GNU_SOURCE -g -fsanitize=address,undefined \
			-fno-sanitize-recover=all -I"$SRC" "$BATS_TEST_DIRNAME/unit-keys.c" \
			"$SRC/keys.c" "$SRC/match.c" "$SRC/util.c" -lm -o "$bin" >&2 || return 1
	fi
	"$bin" "$@"
}

# usage_error TEMPLATE MESSAGE: kincount -k TEMPLATE exits 2 before reading any input,
# with MESSAGE on stderr and nothing on stdout.
usage_error() {
	run -2 --separate-stderr "$KINCOUNT" -f json -k "$1" /nonexistent/input
	assert_output ''
	assert_equal "$stderr" "$2"
}

# ------------------------------------------------------- item 7: control bytes

@test "item 7: %n and %t, with any flag, width or modifier, are usage errors naming the column" {
	usage_error '{@time:%n}' "kincount: --key '{@time:%n}': column 8: '%n' in a time format makes a control byte"
	usage_error 'a:{@time:%Y%t}' "kincount: --key 'a:{@time:%Y%t}': column 12: '%t' in a time format makes a control byte"
	local f
	for f in '%5n' '%_t' '%-n' '%0t' '%^n' '%#t' '%En' '%Ot' '%_10n'; do
		usage_error "{@time:$f}" "kincount: --key '{@time:$f}': column 8: '%${f: -1}' in a time format makes a control byte"
	done
}

@test "item 7: every strftime conversion: glibc's result is the key, or a usage error when it makes a control byte or is unknown" {
	# python3's time.strftime is the C library's: the expected keys come from it.
	python3 - "$KINCOUNT" <<-'EOF'
	import subprocess, sys, time
	kc = sys.argv[1]
	t = 1450347300
	tm = time.gmtime(t)
	bad = []
	def check(fmt):
	    want = time.strftime(fmt, tm)
	    p = subprocess.run([kc, "-f", "json", "-t", "t", "-k", "{@time:%s}" % fmt],
	                       input=b'{"t":%d}\n' % t, capture_output=True)
	    out, err = p.stdout.decode(), p.stderr.decode()
	    head = "kincount: --key '{@time:%s}': column 8: " % fmt.replace("\\", "\\\\")
	    # glibc copies what it does not know as written (after the padding of a width).
	    unknown = want.upper().endswith(fmt.upper())
	    control = any(ord(c) < 0x20 or ord(c) == 0x7f for c in want)
	    if unknown or control or (fmt[-1] == "s" and len(fmt) > 2):
	        ok = p.returncode == 2 and out == "" and err.startswith(head) and err.count("\n") == 1
	        if control:
	            ok = ok and err == head + "'%%%s' in a time format makes a control byte\n" % fmt[-1]
	        elif not unknown:
	            ok = ok and err == head + "'%s' takes no flag, width or modifier\n"
	    else:
	        ok = p.returncode == 0 and out == want + "\n" and err == ""
	    if not ok:
	        bad.append((fmt, want, p.returncode, out, err))
	for c in map(chr, range(0x21, 0x7f)):
	    if c in "{}":
	        continue
	    check("%" + c)
	    for m in "EO_-0^#":
	        if c.isalpha() or c == "%":
	            check("%" + m + c)
	for b in bad:
	    print("format %r: strftime gives %r; kincount exit %d, stdout %r, stderr %r" % b)
	sys.exit(1 if bad else 0)
	EOF
}

@test "item 7: a control byte in literal text, a default or a time format is a usage error naming its column" {
	usage_error $'ab\x01{page}' "kincount: --key 'ab\\x01{page}': column 3: control byte in template"
	usage_error $'{page:-x\x7f}' "kincount: --key '{page:-x\\x7f}': column 9: control byte in template"
	usage_error $'{@time:%Y\x1b[31m}' "kincount: --key '{@time:%Y\\x1b[31m}': column 10: control byte in template"
	usage_error $'{@partition_key:-\t}' "kincount: --key '{@partition_key:-\\x09}': column 18: control byte in template"
}

@test "item 7: a key whose formatted time holds a control byte (a TZ abbreviation) is rejected" {
	# A TZif file (version 1, one type, UTC+1) whose abbreviation is "A", 0x01, "B"; and
	# one whose abbreviation is the byte 0xff, not UTF-8.
	python3 - "$BATS_TEST_TMPDIR" <<-'EOF'
	import struct, sys
	for name, abbr in (("ctl", b"A\x01B\0"), ("ff", b"\xff\0")):
	    d = (b"TZif" + b"\0" * 16 + struct.pack(">6l", 0, 0, 0, 0, 1, len(abbr)) +
	         struct.pack(">lBB", 3600, 0, 0) + abbr)
	    open(sys.argv[1] + "/" + name, "wb").write(d)
	EOF
	printf '{"t":1450347300}\n{"t":"2015-12-17T10:15:00Z"}\n' >"$BATS_TEST_TMPDIR/in.json"

	run -1 --separate-stderr env TZ="$BATS_TEST_TMPDIR/ctl" "$KINCOUNT" --local-time -t t \
		-k '{@time:%H}' -k '{@time:%H %Z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output ''
	assert_equal "$stderr" "kincount: $BATS_TEST_TMPDIR/in.json:1: record 1: key has a control byte
kincount: $BATS_TEST_TMPDIR/in.json:2: record 2: key has a control byte
kincount: 2 rejected (bad key: 2)"

	run -1 --separate-stderr env TZ="$BATS_TEST_TMPDIR/ff" "$KINCOUNT" --local-time -t t \
		--escape-values -k '{@time:%H %Z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output ''
	assert_equal "$stderr" "kincount: $BATS_TEST_TMPDIR/in.json:1: record 1: key is not valid UTF-8
kincount: $BATS_TEST_TMPDIR/in.json:2: record 2: key is not valid UTF-8
kincount: 2 rejected (bad key: 2)"

	# The same zone without %Z: 11, one hour ahead of UTC.
	run -0 --separate-stderr env TZ="$BATS_TEST_TMPDIR/ctl" "$KINCOUNT" --local-time -t t \
		-k '{@time:%H%z}' "$BATS_TEST_TMPDIR/in.json"
	assert_output $'11+0100\n11+0100'
	assert_equal "$stderr" ''
}

@test "item 7: metadata and values with a control byte reject the event, or are encoded with --escape-values" {
	{
		printf '{"Records":[{"kinesis":{"partitionKey":"a\\u0001b","sequenceNumber":"1","data":"%s"}}]}\n' "$(b64 '{"p":"x"}')"
		printf '{"Records":[{"kinesis":{"partitionKey":"ok","sequenceNumber":"2","data":"%s"}}]}\n' "$(b64 '{"p":"x\ty"}')"
	} >"$BATS_TEST_TMPDIR/in.json"

	run -1 --separate-stderr "$KINCOUNT" -f lambda -k '{@partition_key}/{p}' "$BATS_TEST_TMPDIR/in.json"
	assert_output ''
	assert_equal "$stderr" "kincount: $BATS_TEST_TMPDIR/in.json:1: record 1 (seq 1): key has a control byte
kincount: $BATS_TEST_TMPDIR/in.json:2: record 2 (seq 2): key has a control byte
kincount: 2 rejected (bad key: 2)"

	run -0 --separate-stderr "$KINCOUNT" -f lambda --escape-values -k '{@partition_key}/{p}' "$BATS_TEST_TMPDIR/in.json"
	assert_output $'a%01b/x\nok/x%09y'
	assert_equal "$stderr" ''
}

# ------------------------------------------------------- item 8: %s and TZ

@test "item 8: {@time:%s} is the event's epoch second whatever TZ; with --local-time, times without an offset follow TZ" {
	printf '%s\n' '{"t":1450347300}' '{"t":"2015-12-17T10:15:00Z"}' '{"t":"2015-12-17T10:15:00"}' \
		'{"t":"2016-07-01"}' >"$BATS_TEST_TMPDIR/in.json"
	local tz utc want
	utc="1450347300 10
1450347300 10
1450347300 10
1467331200 00"
	for tz in UTC Asia/Kolkata America/New_York; do
		run -0 --separate-stderr env TZ=$tz "$KINCOUNT" -t t -k '{@time:%s %H}' "$BATS_TEST_TMPDIR/in.json"
		assert_output "$utc"
		assert_equal "$stderr" ''

		# With --local-time: the same instant for the first two; the offset-less ones are
		# read in TZ (date -d reads them the same way); %H is the local hour.
		want="1450347300 $(TZ=$tz date -d @1450347300 +%H)
1450347300 $(TZ=$tz date -d @1450347300 +%H)
$(TZ=$tz date -d 2015-12-17T10:15:00 +%s) 10
$(TZ=$tz date -d 2016-07-01T00:00:00 +%s) 00"
		run -0 --separate-stderr env TZ=$tz "$KINCOUNT" --local-time -t t -k '{@time:%s %H}' \
			"$BATS_TEST_TMPDIR/in.json"
		assert_output "$want"
		assert_equal "$stderr" ''
	done
	# The values date(1) gives, written out once, so the loop above is not circular.
	assert_equal "$(TZ=Asia/Kolkata date -d 2015-12-17T10:15:00 +%s)" 1450327500
	assert_equal "$(TZ=America/New_York date -d 2015-12-17T10:15:00 +%s)" 1450365300
	# '%%s' and '%_%s' are a percent sign and an s (as strftime makes them).
	assert_equal "$(python3 -c 'import time; print(time.strftime("%%s %_%s", time.gmtime(0)))')" '%s %s'
	run -0 --separate-stderr env TZ=Asia/Kolkata "$KINCOUNT" -t t -k '{@time:%%s %_%s=%s}' "$BATS_TEST_TMPDIR/in.json"
	assert_line -n 0 '%s %s=1450347300'
}

@test "item 8: %s with a flag or a width is a usage error" {
	usage_error '{@time:%10s}' "kincount: --key '{@time:%10s}': column 8: '%s' takes no flag, width or modifier"
	usage_error '{@time:%Y/%-s}' "kincount: --key '{@time:%Y/%-s}': column 11: '%s' takes no flag, width or modifier"
}

# ------------------------------------------------------- item 9: impossible dates

@test "item 9: dates and times that do not exist are not times; leap years are right; :60 is :59" {
	printf '%s\n' 2015-02-29 2015-04-31 2016-02-30 2016-13-01 2016-00-10 2016-01-00 \
		2016-01-01T24:00:00Z 2016-01-01T23:60:00Z 2016-12-31T23:59:61Z 1900-02-29 \
		2100-02-29T00:00Z 2016-06-31T12:00:00+02:00 2016-01-01T00:00+24:00 \
		2016-01-01T00:00+05:60 2016-01-01T00:00+05: \
		2016-02-29 2000-02-29 2400-02-29T12:00Z 2016-12-31T23:59:60Z 2015-06-30T23:59:60Z \
		2016-12-31T23:59:60.5-01:00 |
		jq -c -R '{t: .}' >"$BATS_TEST_TMPDIR/in.json"
	run -1 --separate-stderr "$KINCOUNT" -q --dead-letter "$BATS_TEST_TMPDIR/dl" -t t \
		-k '{t} {@time:%Y-%m-%dT%H:%M:%S}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "2016-02-29 2016-02-29T00:00:00
2000-02-29 2000-02-29T00:00:00
2400-02-29T12:00Z 2400-02-29T12:00:00
2016-12-31T23:59:60Z 2016-12-31T23:59:59
2015-06-30T23:59:60Z 2015-06-30T23:59:59
2016-12-31T23:59:60.5-01:00 2017-01-01T00:59:59"
	assert_equal "$stderr" "kincount: 15 rejected (bad time: 15)"
	# The dead letters: the first 15 records, each not a time.
	run -0 jq -r '"\(.record) \(.reason)"' "$BATS_TEST_TMPDIR/dl"
	assert_output "$(seq 1 15 | sed 's/$/ field t is not a time/')"
}

@test "item 9: date-times against python3's datetime, on edge and random inputs" {
	python3 - "$BATS_TEST_TMPDIR" 2015 <<-'EOF'
	import json, random, sys
	from datetime import datetime, timedelta, timezone
	d, seed = sys.argv[1], int(sys.argv[2])
	rnd = random.Random(seed)
	cases = []
	for y in (1, 4, 100, 400, 1600, 1900, 1969, 1970, 2000, 2015, 2016, 2100, 2400, 9999):
	    for mo in (0, 1, 2, 3, 4, 6, 9, 11, 12, 13):
	        for day in (0, 1, 28, 29, 30, 31, 32):
	            cases.append((y, mo, day, None))
	for h in (0, 23, 24, 99):
	    for mi in (0, 59, 60):
	        for s in (0, 59, 60, 61):
	            cases.append((2016, 12, 31, (h, mi, s, None, "Z")))
	for _ in range(4000):
	    y = rnd.randint(1, 9999)
	    mo = rnd.choice([rnd.randint(1, 12)] * 5 + [0, 13])
	    day = rnd.choice([rnd.randint(1, 28)] * 3 + [29, 30, 31, 32, 0])
	    if rnd.random() < 0.2:
	        cases.append((y, mo, day, None))
	        continue
	    h = rnd.choice([rnd.randint(0, 23)] * 8 + [24])
	    mi = rnd.choice([rnd.randint(0, 59)] * 8 + [60])
	    s = rnd.choice([rnd.randint(0, 59)] * 8 + [60, 61, None])
	    frac = rnd.choice([None, None, "5", "999999999", "0"])
	    off = rnd.choice(["Z", "z", ""] + ["%s%02d%s%02d" % (rnd.choice("+-"),
	          rnd.choice([rnd.randint(0, 23)] * 6 + [24]), rnd.choice([":", ""]),
	          rnd.choice([rnd.randint(0, 59)] * 6 + [60]))] * 4 + ["%s%02d" % (rnd.choice("+-"),
	          rnd.randint(0, 23))])
	    cases.append((y, mo, day, (h, mi, s, frac, off)))
	ins, outs = [], []
	for i, (y, mo, day, tm) in enumerate(cases):
	    text = "%04d-%02d-%02d" % (y, mo, day)
	    secs = None
	    try:
	        if tm is None:
	            dt = datetime(y, mo, day, tzinfo=timezone.utc)
	        else:
	            h, mi, s, frac, off = tm
	            sep = rnd.choice("T t")
	            text += "%s%02d:%02d" % (sep, h, mi)
	            if s is not None:
	                text += ":%02d" % s
	                if frac is not None:
	                    text += rnd.choice(".,") + frac
	            text += off
	            if off in ("Z", "z", ""):
	                tz = timezone.utc
	            else:
	                oh, om = int(off[1:3]), int(off[-2:]) if len(off) > 3 else 0
	                # RFC 3339: offset hours 00-23 and minutes 00-59.
	                if oh > 23 or om > 59:
	                    raise ValueError("offset")
	                tz = timezone((-1 if off[0] == "-" else 1) * timedelta(hours=oh, minutes=om))
	            # Second 60 (a leap second) is read as 59 (the man page's choice); 61 is not
	            # a second; python checks the rest.
	            if s is not None and s > 60:
	                raise ValueError("second")
	            dt = datetime(y, mo, day, h, mi, min(s or 0, 59), tzinfo=tz)
	        secs = (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(seconds=1)
	    except ValueError:
	        pass
	    ins.append(json.dumps({"id": i, "t": text}))
	    if secs is not None:
	        outs.append("%d %d" % (i, secs))
	    else:
	        outs.append("%d rejected" % i)
	open(d + "/in.json", "w").write("\n".join(ins) + "\n")
	open(d + "/want", "w").write("\n".join(outs) + "\n")
	EOF
	# The keys and the rejected records (from their dead letters), in id order.
	run -1 --separate-stderr "$KINCOUNT" -q --dead-letter "$BATS_TEST_TMPDIR/dl" -t t \
		-k '{id} {@time:%s}' "$BATS_TEST_TMPDIR/in.json"
	{
		printf '%s\n' "$output"
		jq -r 'select(.reason == "field t is not a time") | .data | fromjson | "\(.id) rejected"' \
			"$BATS_TEST_TMPDIR/dl"
	} | sort -n -k1,1 >"$BATS_TEST_TMPDIR/got"
	run diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	assert_success
	assert_output ''
	# Both outcomes were exercised.
	[ "$(grep -c rejected "$BATS_TEST_TMPDIR/want")" -gt 1500 ]
	[ "$(grep -vc rejected "$BATS_TEST_TMPDIR/want")" -gt 1500 ]
}

# ------------------------------------------------------- item 11: local times

@test "item 11: --local-time against python3's zoneinfo (fold=0), around clock changes; offsets ignore TZ" {
	local tz
	for tz in America/New_York Europe/London Australia/Lord_Howe Asia/Kolkata; do
		python3 - "$BATS_TEST_TMPDIR" "$tz" <<-'EOF'
		import json, random, sys
		from datetime import datetime, timedelta, timezone
		from zoneinfo import ZoneInfo
		d, name = sys.argv[1], sys.argv[2]
		z = ZoneInfo(name)
		rnd = random.Random(name)
		local = []
		# Every 10 minutes through the nights of the months with clock changes.
		for y in (1995, 2016, 2021, 2030):
		    for mo in (3, 4, 9, 10, 11):
		        for day in range(1, 32, 1 if y == 2016 else 5):
		            for m in range(0, 24 * 60, 10):
		                try:
		                    local.append(datetime(y, mo, day, m // 60, m % 60))
		                except ValueError:
		                    pass
		for _ in range(3000):
		    local.append(datetime(1900, 1, 1) + timedelta(seconds=rnd.randrange(200 * 365 * 86400)))
		ins, outs = [], []
		for i, dt in enumerate(local):
		    r = rnd.random()
		    if r < 0.1:
		        text = dt.strftime("%Y-%m-%d")
		        dt = dt.replace(hour=0, minute=0, second=0)
		        want = dt.replace(tzinfo=z).timestamp()
		    elif r < 0.2:
		        off = timedelta(minutes=rnd.randrange(-23 * 60, 23 * 60))
		        sign = "-" if off < timedelta(0) else "+"
		        text = dt.strftime("%Y-%m-%dT%H:%M:%S") + "%s%02d:%02d" % (sign, abs(off) // timedelta(hours=1), abs(off) // timedelta(minutes=1) % 60)
		        want = dt.replace(tzinfo=timezone(off)).timestamp()
		    else:
		        text = dt.strftime("%Y-%m-%dT%H:%M:%S")
		        want = dt.replace(tzinfo=z).timestamp()
		    ins.append(json.dumps({"id": i, "t": text}))
		    outs.append("%d %d" % (i, want))
		open(d + "/in.json", "w").write("\n".join(ins) + "\n")
		open(d + "/want", "w").write("\n".join(outs) + "\n")
		EOF
		run -0 --separate-stderr env TZ=$tz "$KINCOUNT" --local-time -t t -k '{id} {@time:%s}' "$BATS_TEST_TMPDIR/in.json"
		assert_equal "$stderr" ''
		printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/got"
		run diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
		assert_success
	done
}

@test "item 11: a local time that happens twice gives the same key whatever record came before" {
	# 2016-11-06T01:30 happens twice in New York; python3's zoneinfo (fold=0) takes the
	# first, 05:30Z.  Before it: a summer record, then a winter one.
	local first
	first=$(python3 -c 'from datetime import datetime; from zoneinfo import ZoneInfo
print(int(datetime(2016, 11, 6, 1, 30, tzinfo=ZoneInfo("America/New_York")).timestamp()))')
	assert_equal "$first" 1478410200
	printf '%s\n' '{"t":"2016-07-01T00:00:00"}' '{"t":"2016-11-06T01:30:00"}' \
		'{"t":"2016-01-01T00:00:00"}' '{"t":"2016-11-06T01:30:00"}' \
		'{"t":"2016-03-13T02:30:00"}' >"$BATS_TEST_TMPDIR/in.json"
	run -0 --separate-stderr env TZ=America/New_York "$KINCOUNT" --local-time -t t \
		-k '{t} {@time:%s}' "$BATS_TEST_TMPDIR/in.json"
	# 02:30 on 2016-03-13 is skipped: read with the offset before the change (-05:00).
	assert_output "2016-07-01T00:00:00 $(date -u -d 2016-07-01T04:00:00Z +%s)
2016-11-06T01:30:00 $first
2016-01-01T00:00:00 $(date -u -d 2016-01-01T05:00:00Z +%s)
2016-11-06T01:30:00 $first
2016-03-13T02:30:00 $(date -u -d 2016-03-13T07:30:00Z +%s)"
	assert_equal "$stderr" ''
}

# ------------------------------------------------------- item 10: UTF-8

@test "item 10: utf8_valid and the key check agree with python3's UTF-8 decoder on random bytes" {
	python3 - "$BATS_TEST_TMPDIR" <<-'EOF'
	import random, sys
	d = sys.argv[1]
	rnd = random.Random(10)
	# Bytes near every boundary of UTF-8, and any byte.
	edge = [0x00, 0x01, 0x1f, 0x20, 0x41, 0x7e, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
	        0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3,
	        0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff]
	good = ["a", "é", "€", "\U0001f600", "\U0010ffff", "\ud7ff", "\ue000", "\u0800", "\x80"]
	lines, want = [], []
	for i in range(30000):
	    n = rnd.randrange(0, 40)
	    b = bytearray()
	    while len(b) < n:
	        r = rnd.random()
	        if r < 0.4:
	            b += rnd.choice(good).encode()
	        elif r < 0.5:
	            b += b"abcdefgh"
	        elif r < 0.8:
	            b.append(rnd.choice(edge))
	        else:
	            b.append(rnd.randrange(256))
	    # Mostly ASCII text with few problems too, for the eight-byte path.
	    if i % 3 == 0:
	        b = bytearray(b"x" * rnd.randrange(30)) + b[:rnd.randrange(3)] + b"y" * rnd.randrange(12)
	    b = bytes(b)
	    try:
	        b.decode("utf-8")
	        bad = len(b)
	    except UnicodeDecodeError as e:
	        bad = e.start
	    ctl = next((j for j, c in enumerate(b) if c < 0x20 or c == 0x7f), len(b))
	    valid = bad == len(b)
	    check = 1 if ctl < bad else 0 if valid else 2
	    lines.append(b.hex())
	    want.append("%d %d" % (valid, check))
	open(d + "/in", "w").write("\n".join(lines) + "\n")
	open(d + "/want", "w").write("\n".join(want) + "\n")
	EOF
	unit_keys utf8 <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/got"
	run diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	assert_success
	assert_output ''
	# Each answer was seen many times.
	local a
	for a in '1 0' '1 1' '0 1' '0 2'; do
		[ "$(grep -c "^$a\$" "$BATS_TEST_TMPDIR/want")" -gt 500 ]
	done
}

@test "item 10: a key that is not valid UTF-8 rejects the event: overlongs, encoded surrogates, above U+10FFFF" {
	{
		printf '{"a":"ok-\xc3\xa9"}\n'		# 1: é, valid
		printf '{"a":"\xc0\xaf"}\n'		# 2: overlong '/'
		printf '{"a":"\xe0\x80\xaf"}\n'		# 3: overlong, three bytes
		printf '{"a":"\xf0\x80\x80\xaf"}\n'	# 4: overlong, four bytes
		printf '{"a":"\xed\xa0\x80"}\n'		# 5: U+D800 encoded
		printf '{"a":"\xed\xb0\x80"}\n'		# 6: U+DC00 encoded
		printf '{"a":"\xf4\x90\x80\x80"}\n'	# 7: U+110000
		printf '{"a":"x\xf5\x80\x80\x80"}\n'	# 8: F5 starts nothing
		printf '{"a":"\\ud83d\\ude00"}\n'	# 9: a pair: U+1F600, valid
		# (A lone "\udc00" escape is the decoder's to mark: see the SLOT_BADUTF8 test.)
	} >"$BATS_TEST_TMPDIR/in.json"
	run -1 --separate-stderr "$KINCOUNT" -f json -k 'k:{a}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "$(printf 'k:ok-\xc3\xa9\nk:\xf0\x9f\x98\x80')"
	local i want=
	for i in 2 3 4 5 6 7 8; do
		want+="kincount: $BATS_TEST_TMPDIR/in.json:$i: record $i: key is not valid UTF-8"$'\n'
	done
	assert_equal "$stderr" "${want}kincount: 7 rejected (bad key: 7)"
}

@test "item 10: with --escape-values, bytes that are not UTF-8 are percent-encoded, valid UTF-8 kept" {
	{
		printf '{"a":"\xc0\xaf"}\n'
		printf '{"a":"%%C0%%AF"}\n'
		printf '{"a":"\xed\xa0\x80\xc3\xa9"}\n'
		printf '{"a":"x\xf5\x80\x80\x80\xe2\x82\xac"}\n'
	} >"$BATS_TEST_TMPDIR/in.json"
	run -0 --separate-stderr "$KINCOUNT" -f json --escape-values -k 'k:{a}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "$(printf 'k:%%C0%%AF\nk:%%25C0%%25AF\nk:%%ED%%A0%%80\xc3\xa9\nk:x%%F5%%80%%80%%80\xe2\x82\xac')"
	assert_equal "$stderr" ''
}

@test "item 10: a template or --prefix that is not valid UTF-8 is a usage error" {
	# Columns count bytes: the two of the é too.
	usage_error $'ok\xc3\xa9:{a}:\xc0\xaf' $'kincount: --key \'ok\xc3\xa9:{a}:\\xc0\\xaf\': column 10: template is not valid UTF-8'
	usage_error $'{a:-\xed\xb0\x80}' "kincount: --key '{a:-\\xed\\xb0\\x80}': column 5: template is not valid UTF-8"
	run -2 --separate-stderr "$KINCOUNT" -f json --prefix $'p\xe2\x82' -k '{a}' /nonexistent/input
	assert_output ''
	assert_equal "$stderr" "kincount: --prefix: not valid UTF-8 at column 2"
}

@test "item 10: a field the decoder marks not valid UTF-8 (SLOT_BADUTF8) rejects the event from --where, a key or --time-field" {
	run -0 --separate-stderr unit_keys badutf8
	assert_output "match: rejected (bad field): field b is not valid UTF-8
match: rejected (bad field): field b is not valid UTF-8
match: rejected (bad field): field b is not valid UTF-8
expand: rejected (bad field): field a is not valid UTF-8
expand: rejected (bad field): field a is not valid UTF-8
expand: rejected (bad field): field t is not valid UTF-8
key set len 1 'x'"
}

# ------------------------------------------------------- item 12: empty keys

@test "item 12: a key that expands to nothing is never a null pointer" {
	run -0 --separate-stderr unit_keys emptykey
	assert_output "key set len 0 ''
key set len 0 ''
key set len 0 ''"
}

@test "item 12: missing fields with every sink: stdout, -c, -d and -r" {
	printf '{}\n{"a":null}\n{"a":""}\n{"b":1}\n' >"$BATS_TEST_TMPDIR/in.json"

	# Four empty keys: four empty lines (od shows them; $output would drop them).
	run -0 --separate-stderr bash -c 'set -o pipefail; "$0" -f json -k "{a}" "$1" | od -An -c' \
		"$KINCOUNT" "$BATS_TEST_TMPDIR/in.json"
	assert_output '  \n  \n  \n  \n'
	assert_equal "$stderr" ''

	run -0 --separate-stderr kc -f json -k '{a}' -k '{a}{b}' -c "$BATS_TEST_TMPDIR/in.json"
	assert_output $'\t7\n1\t1'
	assert_equal "$stderr" ''

	run -0 --separate-stderr kc -f json -k '{a}' -d "$BATS_TEST_TMPDIR/in.json"
	assert_output "$(cat "$BATS_TEST_TMPDIR/in.json")"
	assert_equal "$stderr" ''

	run -0 --separate-stderr kc -f json -k '{a}' --missing skip -c "$BATS_TEST_TMPDIR/in.json"
	assert_output $'\t1'
	assert_equal "$stderr" ''

	# Redis refuses an empty key name for nothing: it is a key like any other.
	run -0 --separate-stderr kc -f json -k 'kc:{a}' -k '{a}' -r "$REDIS_URL" "$BATS_TEST_TMPDIR/in.json"
	assert_output ''
	assert_equal "$stderr" ''
	assert_equal "$(rcli get kc:)" 4
	assert_equal "$(rcli get '')" 4
}

# ------------------------------------------------------- item 13: names

@test "item 13: an unknown metadata name is named whole, at the column of its '@'" {
	usage_error '{@DATE}' "kincount: --key '{@DATE}': column 2: unknown name '@DATE'"
	usage_error 'x:{@Date}' "kincount: --key 'x:{@Date}': column 4: unknown name '@Date'"
	usage_error '{@date}{@log-group:-x}' "kincount: --key '{@date}{@log-group:-x}': column 9: unknown name '@log-group'"
	usage_error '{@}' "kincount: --key '{@}': column 2: unknown name '@'"
}

@test "item 13: {@time} without a format is a usage error that shows the form" {
	usage_error 'a{@time}' "kincount: --key 'a{@time}': column 3: '@time' needs a format, as in '{@time:%Y-%m-%d}'"
	usage_error '{@time:}' "kincount: --key '{@time:}': column 8: empty time format"
}

@test "time formats: an unknown conversion or a '%' at the end is a usage error" {
	usage_error '{@time:%Y%q}' "kincount: --key '{@time:%Y%q}': column 10: unknown conversion '%q' in a time format"
	usage_error '{@time:%Ea}' "kincount: --key '{@time:%Ea}': column 8: unknown conversion '%Ea' in a time format"
	usage_error '{@time:%Y%}' "kincount: --key '{@time:%Y%}': column 10: '%' at the end of a time format (write '%%' for a percent sign)"
}

# ------------------------------------------------------- item 5: long times

@test "item 5: a formatted time over 127 bytes is whole; one over --max-key-bytes rejects the event" {
	local fmt='%c|%c|%c|%c|%c|%c' want
	want=$(python3 -c 'import time; print(time.strftime(r"%c|%c|%c|%c|%c|%c", time.gmtime(1450347300)))')
	assert_equal "${#want}" 149
	echo '{"t":1450347300}' >"$BATS_TEST_TMPDIR/in.json"

	run -0 --separate-stderr "$KINCOUNT" -t t -k "{@time:$fmt}" "$BATS_TEST_TMPDIR/in.json"
	assert_output "$want"
	assert_equal "$stderr" ''

	# A width makes a long result too.
	run -0 --separate-stderr "$KINCOUNT" -t t -k '{@time:%0300Y}' "$BATS_TEST_TMPDIR/in.json"
	assert_output "$(printf '%0300d' 2015)"
	assert_equal "$stderr" ''

	run -1 --separate-stderr "$KINCOUNT" -t t --max-key-bytes 100 -k "{@time:$fmt}" "$BATS_TEST_TMPDIR/in.json"
	assert_output ''
	assert_equal "$stderr" "kincount: $BATS_TEST_TMPDIR/in.json:1: record 1: key is longer than 100 bytes
kincount: 1 rejected (bad key: 1)"

	# A width that could never fit is refused at start-up.
	run -2 --separate-stderr "$KINCOUNT" -t t --max-key-bytes 100 -k '{@time:%101Y}' "$BATS_TEST_TMPDIR/in.json"
	assert_output ''
	assert_equal "$stderr" "kincount: --key '{@time:%101Y}': column 8: a width over --max-key-bytes (100) in a time format"
}

@test "template messages never hold a raw control byte or half of a UTF-8 sequence" {
	run -2 --separate-stderr "$KINCOUNT" -f json -t $'a\x01' -k '{@date}' /nonexistent/input
	assert_output ''
	assert_equal "$stderr" "kincount: --time-field 'a\\x01': column 2: unexpected byte 0x01 after the path"
	usage_error $'{"a"\xc3\xa9}' $'kincount: --key \'{"a"\xc3\xa9}\': column 5: unexpected byte 0xC3 in a field'
	usage_error '{a b}' "kincount: --key '{a b}': column 3: unexpected ' ' in a field"
}
