#!/usr/bin/env bats
# The KPL aggregate reader (kpl.c, issue 8) through its test driver test/unit-kpl.c, since
# kincount does not call it yet.  Fixtures were made by the npm package aws-kinesis-agg
# (tools/kpl-fixtures.js); their expected sub-records come from tools/kpl-expected.py, a
# python3 decoder of its own (hashlib's MD5, its own protobuf reader).  Hand-built aggregates
# are written by python3 with hashlib's MD5; the byte offsets in expected messages are counted
# by hand from the hex (the magic is bytes 0-3, so the protobuf starts at byte 4).

load helper

SRC=${KC_SRC:-$BATS_TEST_DIRNAME/..}
KPL=$FIXTURES/kpl

# unit_kpl: builds test/unit-kpl.c with ASan and UBSan once per file, then runs it.
unit_kpl() {
	local bin=$BATS_FILE_TMPDIR/unit-kpl
	if [ ! -x "$bin" ]; then
		cc -std=c11 -D_GNU_SOURCE -g -fsanitize=address,undefined \
			-fno-sanitize-recover=all -I"$SRC" "$BATS_TEST_DIRNAME/unit-kpl.c" \
			"$SRC/kpl.c" "$SRC/util.c" $(pkg-config --cflags --libs libmd) -lm \
			-o "$bin" >&2 || return 1
	fi
	"$bin" "$@"
}

# agg FILE HEX: FILE gets the magic, the protobuf bytes HEX and their MD5 (python3 hashlib).
agg() {
	python3 -c '
import hashlib, sys
pb = bytes.fromhex(sys.argv[2])
open(sys.argv[1], "wb").write(bytes.fromhex("f3899ac2") + pb + hashlib.md5(pb).digest())' "$1" "$2"
}

# rejects HEX MESSAGE: the aggregate of protobuf HEX is rejected with exactly MESSAGE.
rejects() {
	agg a.agg "$1"
	run -1 --separate-stderr unit_kpl a.agg
	assert_output "$2"
}

# same_as_python HEX: the driver and tools/kpl-expected.py agree on the aggregate of HEX,
# which both accept.
same_as_python() {
	agg a.agg "$1"
	python3 "$SRC/tools/kpl-expected.py" a.agg > want
	run -0 --separate-stderr unit_kpl a.agg
	assert_output "$(cat want)"
	assert_equal "$stderr" ''
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# A record {pk index 0, data "x"}: 1a 05 08 00 1a 01 78.  The table {"a"}: 0a 01 61.

@test "fixtures: every aggregate gives its expected sub-records (or error), as python3 works them out" {
	local f n=0
	for f in "$KPL"/*.agg; do
		n=$((n + 1))
		# The committed expectations are what the python3 decoder says now.
		python3 "$SRC/tools/kpl-expected.py" "$f" > want
		cmp want "${f%.agg}.expected" || fail "${f##*/}: stale .expected"
		if [[ $(head -c 17 want) == "bad KPL aggregate" ]]; then
			run -1 --separate-stderr unit_kpl "$f"
		else
			run -0 --separate-stderr unit_kpl "$f"
		fi
		assert_output "$(cat "${f%.agg}.expected")"
		assert_equal "$stderr" ''
	done
	[ "$n" -ge 6 ] || fail "only $n fixtures"
}

@test "fixtures: what they hold (several keys, EHKs on some records only, 50 records, a bad MD5, not JSON)" {
	run -0 unit_kpl "$KPL/several-pks.agg"
	assert_equal "$(cut -f2 <<< "$output" | sort -u | tr '\n' ' ')" 'user-a user-b user-c '
	run -0 unit_kpl "$KPL/ehk-some.agg"
	# Record 0 has no explicit hash key: not the table's first one, as aws-kinesis-agg's own
	# de-aggregator would say.
	assert_equal "$(cut -f3 <<< "$output" | tr '\n' ' ')" \
		'- 340282366920938463463374607431768211455 170141183460469231731687303715884105728 - 340282366920938463463374607431768211455 170141183460469231731687303715884105728 '
	run -0 unit_kpl "$KPL/fifty.agg"
	assert_equal "${#lines[@]}" 50
	assert_equal "$(cut -f1 <<< "$output" | tr '\n' ' ')" "$(seq -s ' ' 0 49) "
	run -1 unit_kpl "$KPL/bad-md5.agg"
	assert_output 'bad KPL aggregate: MD5 mismatch'
	run -0 unit_kpl "$KPL/not-json.agg"
	# The first sub-record is gzip (1f 8b), whose content is JSON; the others are not JSON.
	assert_equal "$(head -n 1 <<< "$output" | cut -f4 | base64 -d | gzip -dc | jq -r .page)" home
	assert_equal "$(sed -n 2p <<< "$output" | cut -f4 | base64 -d)" 'not json at all'
	assert_equal "$(sed -n 4p <<< "$output")" "3	text	-	"
}

@test "fixtures: one struct kpl reused for every aggregate, good and bad in turn" {
	local f args=() want=
	for f in "$KPL"/*.agg "$KPL"/*.agg; do
		args+=("$f")
		want+=$(cat "${f%.agg}.expected")$'\n'
	done
	run -1 --separate-stderr unit_kpl "${args[@]}"
	assert_output "${want%$'\n'}"
}

@test "the FORMATS.md test vector, truncated at every byte offset: each rejected, no crash" {
	local n off
	n=$(stat -c %s "$KPL/formats-vector.agg")
	assert_equal "$n" 61
	for ((off = 0; off < n; off++)); do
		head -c "$off" "$KPL/formats-vector.agg" > cut.agg
		run -1 --separate-stderr unit_kpl cut.agg
		assert_output --regexp '^bad KPL aggregate: '
		assert_equal "$stderr" ''
	done
}

@test "every fixture truncated at every byte offset, in one process: each rejected" {
	local f n
	for f in "$KPL"/*.agg; do
		n=$(stat -c %s "$f")
		run -0 --separate-stderr unit_kpl prefixes "$f"
		assert_equal "${#lines[@]}" "$n"
		assert_equal "$(grep -c $'^[0-9]*\tbad KPL aggregate: ' <<< "$output")" "$n"
	done
}

@test "truncated protobufs with a valid MD5: rejected unless cut between fields, as python3 says" {
	# Every proper prefix of the protobuf of ehk-some, each with its own MD5, and what
	# tools/kpl-expected.py says of each (errors reduced to their first words, as the two
	# decoders word them differently); then the driver over all of them in one process.
	python3 - "$KPL/ehk-some.agg" "$SRC/tools/kpl-expected.py" <<-'EOF' > want
	import hashlib, importlib.util, sys
	spec = importlib.util.spec_from_file_location("kpl_expected", sys.argv[2])
	kpl = importlib.util.module_from_spec(spec)
	spec.loader.exec_module(kpl)
	pb = open(sys.argv[1], "rb").read()[4:-16]
	for n in range(1, len(pb)):
	    name = "cut-%04d.agg" % n
	    blob = bytes.fromhex("f3899ac2") + pb[:n] + hashlib.md5(pb[:n]).digest()
	    open(name, "wb").write(blob)
	    try:
	        sys.stdout.write(kpl.decode(blob))
	    except kpl.Bad:
	        print("bad KPL aggregate")
	EOF
	assert_equal "$(ls cut-*.agg | wc -l)" $(($(stat -c %s "$KPL/ehk-some.agg") - 21))
	run -1 --separate-stderr unit_kpl cut-*.agg
	assert_equal "$stderr" ''
	# Some cuts fall between records and are accepted.
	assert [ "$(grep -c 'bad KPL' want)" -lt "$(ls cut-*.agg | wc -l)" ]
	assert_equal "$(sed 's/^bad KPL aggregate: .*/bad KPL aggregate/' <<< "$output")" "$(cat want)"
}

@test "varints: 10 bytes is the most, the tenth may hold only one bit" {
	# A 10-byte varint of 2^64 - 1 is read: it is only out of range.
	rejects 0a01611a0e08ffffffffffffffffff011a0178 \
		'bad KPL aggregate: record 0: partition key index 18446744073709551615 out of range (1 key)'
	# 11 bytes: the record starts at byte 9 (4 + 0a 01 61 + 1a 0f).
	rejects 0a01611a0f08ffffffffffffffffff80011a0178 \
		'bad KPL aggregate: record 0: at byte 9: partition_key_index: varint longer than 10 bytes'
	# Ten bytes whose last holds more than the 64th bit.
	rejects 0a01611a0e08ffffffffffffffffff021a0178 \
		'bad KPL aggregate: record 0: at byte 9: partition_key_index: varint overflows 64 bits'
	# A field tag cut by the end of its record.
	rejects 0a01611a03081a80 'bad KPL aggregate: record 0: at byte 11: truncated varint'
	# A length of 11 bytes as a varint.
	rejects 0a8080808080808080808001 \
		'bad KPL aggregate: at byte 4: partition_key_table: varint longer than 10 bytes'
}

@test "lengths past the end, at every level" {
	rejects 0a0561 'bad KPL aggregate: at byte 4: partition_key_table: length 5 past the end (1 byte left)'
	rejects 0a01611a09080022021a0178 \
		'bad KPL aggregate: at byte 7: records: length 9 past the end (7 bytes left)'
	# Inside a record: data says 2 bytes, 1 is left in the record (more follow in the aggregate).
	rejects 0a01611a0508001a02780a0162 \
		'bad KPL aggregate: record 0: at byte 11: data: length 2 past the end (1 byte left)'
	# Inside a tag (bytes 16-18): its key says 3 bytes, 1 is left in the tag.
	rejects 0a01611a0a08001a017822030a0371 \
		'bad KPL aggregate: record 0: tag 0: at byte 16: length 3 past the end (1 byte left)'
}

@test "key indexes out of range: partition key and explicit hash key" {
	# Two keys, record 1 points at key 2.
	rejects 0a01610a01621a0508001a01781a0508021a0179 \
		'bad KPL aggregate: record 1: partition key index 2 out of range (2 keys)'
	# An explicit hash key index with an empty table.
	rejects 0a01611a07080010001a0178 \
		'bad KPL aggregate: record 0: explicit hash key index 0 out of range (0 keys)'
	# One explicit hash key "1", record 0 points at 1.
	rejects 0a01611201311a07080010011a0178 \
		'bad KPL aggregate: record 0: explicit hash key index 1 out of range (1 key)'
	# The same with index 0 is fine, and the table may come after the records.
	same_as_python 1a07080010001a01780a01611201311a0508001a0179
	run -0 unit_kpl a.agg
	assert_output $'0\ta\t1\teA==\n1\ta\t-\teQ=='
}

@test "a bad MD5: each of its 16 bytes flipped, and a changed protobuf byte" {
	local byte
	for ((byte = 1; byte <= 16; byte++)); do
		python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-int(sys.argv[2])] ^= 0x80
open("bad.agg", "wb").write(b)' "$KPL/fifty.agg" "$byte"
		run -1 --separate-stderr unit_kpl bad.agg
		assert_output 'bad KPL aggregate: MD5 mismatch'
	done
	python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[30] ^= 1
open("bad.agg", "wb").write(b)' "$KPL/fifty.agg"
	run -1 --separate-stderr unit_kpl bad.agg
	assert_output 'bad KPL aggregate: MD5 mismatch'
}

@test "zero records: only key tables, only unknown fields" {
	rejects 0a0161120131 'bad KPL aggregate: no records'
	rejects 2000 'bad KPL aggregate: no records'
	# No magic, and the magic with 16 bytes or fewer after it.
	printf 'not an aggregate at all' > a.agg
	run -1 unit_kpl a.agg
	assert_output 'bad KPL aggregate: no magic f3 89 9a c2'
	printf '\xf3\x89\x9a\xc2%016d' 0 > a.agg
	run -1 unit_kpl a.agg
	assert_output 'bad KPL aggregate: 20 bytes, too short'
}

@test "unknown fields of every wire type are skipped, tags are checked and ignored" {
	# Top level: fields 4 (varint), 5 (64-bit), 6 (length-delimited), 7 (32-bit), 536870911
	# (the largest field number, varint).  In the record: 5 (varint), 6 (32-bit), 7
	# (length-delimited), a tag k=v, a tag with a key and an unknown field 3.
	same_as_python "20ff01 290102030405060708 32027878 3d01020304 f8ffffff0f00 0a0161
		1a21 0800 2805 3501020304 3a02797a 22060a016b120176 22050a016b1801 1a037a7a7a"
	run -0 unit_kpl a.agg
	assert_output $'0\ta\t-\tenp6'
	# The last of a repeated scalar field wins, as protobuf says: index 1, then data "b".
	same_as_python 0a01610a01621a0c08001a0161080110001a01621201301a0508011a0163
	run -0 unit_kpl a.agg
	assert_output $'0\tb\t0\tYg==\n1\tb\t-\tYw=='
}

@test "wrong wire types, groups and missing required fields are rejected" {
	rejects 1800 'bad KPL aggregate: at byte 4: field records has wire type varint, not length-delimited'
	rejects 0d00000000 \
		'bad KPL aggregate: at byte 4: field partition_key_table has wire type 32-bit, not length-delimited'
	rejects 0a01611a060a01611a0178 \
		'bad KPL aggregate: record 0: at byte 9: field partition_key_index has wire type length-delimited, not varint'
	rejects 0a01611a0408001878 \
		'bad KPL aggregate: record 0: at byte 11: field data has wire type varint, not length-delimited'
	rejects 0a01611a0708001a01782000 \
		'bad KPL aggregate: record 0: at byte 14: field tags has wire type varint, not length-delimited'
	rejects 0a01611a0908001a017822020801 \
		'bad KPL aggregate: record 0: tag 0: at byte 16: field key has wire type varint, not length-delimited'
	# Groups (wire types 3 and 4) in a known or an unknown field, and wire types 6 and 7.
	rejects 23 'bad KPL aggregate: at byte 4: group (wire type 3 or 4)'
	rejects 0a01611a0308002c 'bad KPL aggregate: record 0: at byte 11: group (wire type 3 or 4)'
	rejects 0a01611a0308001b \
		'bad KPL aggregate: record 0: at byte 11: field data has wire type start group, not length-delimited'
	rejects 2600 'bad KPL aggregate: at byte 4: invalid wire type'
	rejects 2700 'bad KPL aggregate: at byte 4: invalid wire type'
	rejects 0000 'bad KPL aggregate: at byte 4: bad field number'
	# Required fields: partition_key_index, data, and a tag's key.
	rejects 0a01611a031a0178 'bad KPL aggregate: record 0: no partition_key_index'
	rejects 0a01611a020800 'bad KPL aggregate: record 0: no data'
	rejects 0a01611a0908001a017822021200 'bad KPL aggregate: record 0: tag 0: no key'
}

@test "kpl_is_aggregate at every length from 0 to 22: the magic and more than 16 bytes after it" {
	printf '\xf3\x89\x9a\xc2%018d' 0 > a.agg
	run -0 unit_kpl is a.agg
	assert_equal "${#lines[@]}" 23
	local len
	for ((len = 0; len <= 22; len++)); do
		assert_equal "${lines[len]}" "$len	$((len > 20 ? 1 : 0))"
	done
	# The wrong magic, whatever the length.
	printf '\xf3\x89\x9a\xc3%018d' 0 > b.agg
	run -0 unit_kpl is b.agg
	assert_equal "$(cut -f2 <<< "$output" | sort -u)" 0
}
