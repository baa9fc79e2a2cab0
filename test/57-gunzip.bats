#!/usr/bin/env bats
# gunzip.c, the record-level gzip inflater of issue 8 (SPEC "Record data -> events" 3), driven
# by test/unit-gunzip.c before decode.c calls it: members read one after another as zcat reads
# them, a cap on the output that stops a bomb at the cap, and every broken stream rejected.
# What is accepted is what `gzip -t` accepts with exit status 0, so gzip(1) and zcat are the
# oracle throughout; fixtures/cwl holds the CloudWatch Logs payloads (tools/cwl-fixtures.sh).

load helper

SRC=${KC_SRC:-$BATS_TEST_DIRNAME/..}
CWL=$FIXTURES/cwl

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# build OUT FLAGS...: compiles the driver with gunzip.c and util.c, once per file.
build() {
	local bin=$BATS_FILE_TMPDIR/$1
	shift
	if [ ! -x "$bin" ]; then
		cc -std=c11 -D_GNU_SOURCE -g "$@" -I"$SRC" "$BATS_TEST_DIRNAME/unit-gunzip.c" \
			"$SRC/gunzip.c" "$SRC/util.c" $(pkg-config --libs zlib) -lm -o "$bin" >&2 ||
			return 1
	fi
	printf '%s\n' "$bin"
}

# ug ARGS...: the driver under ASan and UBSan.
ug() {
	local bin
	bin=$(build unit-gunzip -fsanitize=address,undefined -fno-sanitize-recover=all) || return 2
	"$bin" "$@"
}

# ug_plain ARGS...: the driver built -O2 without sanitizers, for time and memory.
ug_plain() {
	local bin
	bin=$(build unit-gunzip-plain -O2) || return 2
	"$bin" "$@"
}

# gzip_t FILE: gzip -t's exit status (0 ok, 1 error, 2 warning such as trailing garbage).
gzip_t() {
	local st=0
	gzip -t <"$1" 2>/dev/null || st=$?
	echo "$st"
}

# ------------------------------------------------------------------ fixtures

@test "fixtures: every CloudWatch Logs fixture inflates to its NAME.json and to what zcat prints, byte for byte" {
	local f n=0
	for f in "$CWL"/*.gz; do
		case ${f##*/} in truncated.gz | garbage.gz | badcrc.gz) continue ;; esac
		assert_equal "$(gzip_t "$f")" 0
		zcat <"$f" >want
		cmp want "${f%.gz}.json"
		run -0 --separate-stderr ug 1048576 "$f"
		assert_equal "$stderr" ''
		ug 1048576 "$f" >got
		cmp got want
		n=$((n + 1))
	done
	assert_equal "$n" 12
}

@test "fixtures: the broken ones are rejected, each with its reason, and gzip -t rejects them too" {
	assert_equal "$(gzip_t "$CWL/truncated.gz")" 1
	run -1 --separate-stderr ug 1048576 "$CWL/truncated.gz"
	assert_output ''
	assert_equal "$stderr" "$CWL/truncated.gz: broken gzip data: unexpected end of data"
	assert_equal "$(gzip_t "$CWL/garbage.gz")" 2
	run -1 --separate-stderr ug 1048576 "$CWL/garbage.gz"
	assert_output ''
	assert_equal "$stderr" "$CWL/garbage.gz: broken gzip data: garbage after the last member"
	assert_equal "$(gzip_t "$CWL/badcrc.gz")" 1
	run -1 --separate-stderr ug 1048576 "$CWL/badcrc.gz"
	assert_output ''
	assert_equal "$stderr" "$CWL/badcrc.gz: broken gzip data: CRC-32 mismatch"
}

@test "fixtures: the FORMATS.md test vector inflates to the message given there" {
	run -0 --separate-stderr ug 4096 "$CWL/vector.gz"
	assert_equal "$(jq -c . <<<"$output")" '{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":["to-kinesis"],"logEvents":[{"id":"37480579458490841510417935670958911738223274529153351680","timestamp":1700000000123,"message":"{\"user\":\"a\",\"status\":200}"}]}'
}

@test "fixtures: tools/cwl-fixtures.sh makes the committed files again, byte for byte" {
	mkdir -p t/tools t/fixtures
	cp "$SRC/tools/cwl-fixtures.sh" "$SRC/tools/cwl-keys.py" t/tools/
	run -0 t/tools/cwl-fixtures.sh
	run -0 diff -r t/fixtures/cwl "$CWL"
}

@test "magic: 1f 8b at the start, and nothing else, is gzip" {
	printf '\037\213' >m2
	printf '\037' >m1
	printf '\213\037' >rev
	: >empty
	printf 'x\037\213' >late
	run -0 ug magic "$CWL/data.gz" m2 m1 rev empty late
	assert_output "$(printf '1\n1\n0\n0\n0\n0')"
}

# ------------------------------------------------------------------ members

@test "members: concatenated members are one stream of bytes, as zcat reads them" {
	local i
	: >many.gz
	for i in $(seq 1 100); do printf '%s,' "$i" | gzip -n >>many.gz; done
	run -0 --separate-stderr ug 1000 many.gz
	assert_output "$(seq 1 100 | tr '\n' ',')"
	assert_equal "$output" "$(zcat many.gz)"
}

@test "members: an empty member inflates to nothing, alone, several, or between others" {
	: | gzip -n >e.gz
	run -0 --separate-stderr ug 0 e.gz
	assert_output ''
	cat e.gz e.gz e.gz >eee.gz
	run -0 --separate-stderr ug 0 eee.gz
	assert_output ''
	{ cat e.gz; printf 'ab' | gzip -n; cat e.gz; printf 'c' | gzip -n; cat e.gz; } >mix.gz
	assert_equal "$(gzip_t mix.gz)" 0
	run -0 --separate-stderr ug 3 mix.gz
	assert_output abc
}

@test "members: every prefix of two concatenated members is accepted exactly when gzip -t accepts it, with zcat's bytes" {
	local f=$CWL/concat.gz size k ok=0 bad=0 st
	size=$(wc -c <"$f")
	for ((k = 0; k < size; k++)); do
		head -c "$k" "$f" >"p$k"
	done
	for ((k = 0; k < size; k++)); do
		st=$(gzip_t "p$k")
		if [ "$st" = 0 ]; then
			run -0 --separate-stderr ug 100000 "p$k"
			assert_equal "$output" "$(zcat "p$k")"
			ok=$((ok + 1))
		else
			run -1 --separate-stderr ug 100000 "p$k"
			assert_output ''
			assert_equal "$stderr" "p$k: broken gzip data: unexpected end of data"
			bad=$((bad + 1))
		fi
	done
	# The first member alone is whole; every other cut is inside a member.
	assert_equal "$ok" 1
	assert_equal "$bad" $((size - 1))
}

@test "truncated: a gzip file cut at every byte offset is rejected each time, by one reused inflater, never a crash" {
	local f=$CWL/data.gz size k files=()
	size=$(wc -c <"$f")
	for ((k = 0; k < size; k++)); do
		head -c "$k" "$f" >"p$k"
		assert_equal "$(gzip_t "p$k")" 1
		files+=("p$k" "$f")
	done
	# Each cut is followed by the whole file: a rejected record leaves no state behind.
	run -1 --separate-stderr ug 100000 "${files[@]}"
	assert_equal "$(grep -c . <<<"$stderr")" "$size"
	assert_equal "$(grep -vc ': broken gzip data: unexpected end of data$' <<<"$stderr")" 0
	assert_equal "$output" "$(for ((k = 0; k < size; k++)); do cat "$CWL/data.json"; done)"
}

# ------------------------------------------------------------------ trailers and headers

@test "trailer: garbage after the last member is rejected, where gzip -t only warns" {
	local g
	printf 'hello\n' | gzip -n >a.gz
	for g in 'x' 'garbage' '\037' '\037\000' '\213' '\000\000x' '\037\213\010'; do
		{ cat a.gz; printf "$g"; } >t.gz
		assert [ "$(gzip_t t.gz)" != 0 ]
		run -1 --separate-stderr ug 100 t.gz
		assert_output ''
		case $g in
		'\037' | '\037\213\010') assert_equal "$stderr" 't.gz: broken gzip data: unexpected end of data' ;;
		*) assert_equal "$stderr" 't.gz: broken gzip data: garbage after the last member' ;;
		esac
	done
}

@test "trailer: zero bytes after the last member are padding, accepted as gzip -t accepts them; zeros then a member are not" {
	local n
	printf 'hello\n' | gzip -n >a.gz
	for n in 1 2 8 4096; do
		{ cat a.gz; head -c "$n" /dev/zero; } >z.gz
		assert_equal "$(gzip_t z.gz)" 0
		run -0 --separate-stderr ug 100 z.gz
		assert_output hello
		assert_equal "$stderr" ''
	done
	{ cat a.gz; head -c 3 /dev/zero; cat a.gz; } >zm.gz
	assert_equal "$(gzip_t zm.gz)" 2
	run -1 --separate-stderr ug 100 zm.gz
	assert_equal "$stderr" 'zm.gz: broken gzip data: garbage after the last member'
}

@test "trailer: a bad CRC-32 or a bad length is rejected, as gzip -t rejects it" {
	local off
	printf 'some text that is long enough\n' | gzip -n >a.gz
	for off in 1 2 3 4 5 6 7 8; do
		# Byte -8..-5 is the CRC-32, -4..-1 the length (ISIZE), little-endian.
		python3 -c 'import sys; b = bytearray(open("a.gz", "rb").read()); b[-int(sys.argv[1])] ^= 1; open("bad.gz", "wb").write(b)' "$off"
		assert_equal "$(gzip_t bad.gz)" 1
		run -1 --separate-stderr ug 100 bad.gz
		assert_output ''
		if [ "$off" -le 4 ]; then
			assert_equal "$stderr" 'bad.gz: broken gzip data: length mismatch'
		else
			assert_equal "$stderr" 'bad.gz: broken gzip data: CRC-32 mismatch'
		fi
	done
}

@test "header: a bad method, reserved flags, a bad header CRC, or a zlib stream are rejected" {
	printf 'hello\n' | gzip -n >a.gz
	python3 - <<-'EOF'
	import struct, zlib
	a = open("a.gz", "rb").read()
	open("method.gz", "wb").write(a[:2] + b"\x07" + a[3:])
	open("flags.gz", "wb").write(a[:3] + b"\x20" + a[4:])
	# FHCRC set, with the low 16 bits of the header's CRC-32 wrong by one.
	h = a[:3] + b"\x02" + a[4:10]
	crc = (zlib.crc32(h) & 0xffff) ^ 1
	open("hcrc.gz", "wb").write(h + struct.pack("<H", crc) + a[10:])
	open("hcrc-ok.gz", "wb").write(h + struct.pack("<H", zlib.crc32(h) & 0xffff) + a[10:])
	open("zlib.gz", "wb").write(zlib.compress(b"hello\n"))
	EOF
	assert_equal "$(gzip_t hcrc-ok.gz)" 0
	run -0 --separate-stderr ug 100 hcrc-ok.gz
	assert_output hello
	run -1 --separate-stderr ug 100 method.gz flags.gz hcrc.gz zlib.gz
	assert_output ''
	assert_equal "$stderr" "$(printf '%s\n' \
		'method.gz: broken gzip data: unknown compression method' \
		'flags.gz: broken gzip data: unknown header flags set' \
		'hcrc.gz: broken gzip data: header crc mismatch' \
		'zlib.gz: broken gzip data: incorrect header check')"
	local f
	for f in method.gz flags.gz hcrc.gz zlib.gz; do
		assert [ "$(gzip_t "$f")" != 0 ]
	done
}

# ------------------------------------------------------------------ the cap

@test "cap: N bytes inflate under a cap of N, and are rejected under N - 1, also across members" {
	local n
	for n in 1 2 100 8191 8192 8193 65536 100000; do
		head -c "$n" /dev/urandom >raw
		gzip -n <raw >r.gz
		ug "$n" r.gz >got
		cmp got raw
		run -1 --separate-stderr ug $((n - 1)) r.gz
		assert_output ''
		assert_equal "$stderr" "r.gz: gzip data larger than $((n - 1)) bytes"
	done
	printf 'abc' | gzip -n >m.gz
	printf 'defg' | gzip -n >>m.gz
	run -0 --separate-stderr ug 7 m.gz
	assert_output abcdefg
	run -1 --separate-stderr ug 6 m.gz
	assert_equal "$stderr" 'm.gz: gzip data larger than 6 bytes'
	# A full cap followed by an empty member is still within the cap.
	: | gzip -n >>m.gz
	run -0 --separate-stderr ug 7 m.gz
	assert_output abcdefg
}

@test "cap: a 1 GiB bomb under a cap of 1 MiB is rejected in well under a second, with memory near the cap" {
	python3 -c '
import sys, zlib
c = zlib.compressobj(9, zlib.DEFLATED, 31)
z = bytes(1 << 20)
sys.stdout.buffer.write(b"".join([c.compress(z) for _ in range(1024)] + [c.flush()]))' >bomb.gz
	# It is a bomb: about 1 MiB that says it holds 1 GiB.
	assert [ "$(wc -c <bomb.gz)" -lt 1100000 ]
	assert_equal "$(gzip -l bomb.gz | awk 'NR == 2 { print $2 }')" 1073741824
	local t0 t1 small big
	ug_plain -q 1 bomb.gz 2>/dev/null || true
	t0=${EPOCHREALTIME/./}
	run -1 --separate-stderr ug_plain -q -m 1048576 bomb.gz
	t1=${EPOCHREALTIME/./}
	assert_equal "$(head -n 1 <<<"$stderr")" 'bomb.gz: gzip data larger than 1048576 bytes'
	assert [ $((t1 - t0)) -lt 250000 ]
	big=$(sed -n 's/^peak \([0-9]*\) kB$/\1/p' <<<"$stderr")
	# Against the same run under a cap of 64 KiB: the difference is the cap, not the bomb.
	run -1 --separate-stderr ug_plain -q -m 65536 bomb.gz
	small=$(sed -n 's/^peak \([0-9]*\) kB$/\1/p' <<<"$stderr")
	assert [ $((big - small)) -lt 2048 ]
	# And the sanitized build stops it just the same.
	run -1 --separate-stderr ug -q 1048576 bomb.gz
	assert_equal "$stderr" 'bomb.gz: gzip data larger than 1048576 bytes'
}
