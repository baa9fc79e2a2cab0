#!/usr/bin/env bats
# Options: --help and --version, misuse, checked numbers, template errors naming their
# column, and that all of these are found before any input is read.

load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# The long options of this version, as the option table lists them.
LONG_OPTIONS=(count decode dead-letter escape-values format help key local-time max-errors
	max-key-bytes max-record-bytes missing no-progress prefix progress quiet stats shard
	stream strict time-field version where flush-ms)

USAGE='usage: kincount [options] [file ...]'

# has_usage: fails unless a line of $stderr is the usage line.
has_usage() {
	local l
	for l in "${stderr_lines[@]}"; do
		[[ $l == "$USAGE" ]] && return 0
	done
	fail "no usage line in stderr: $stderr"
}

# --- help and version ------------------------------------------------------------------------

@test "--help: synopsis and every long option on stdout, exit 0" {
	run -0 --separate-stderr "$KINCOUNT" --help
	assert_equal "$stderr" ''
	assert_output --partial 'kincount [options] [file ...]'
	local o
	for o in "${LONG_OPTIONS[@]}"; do
		assert_regex "$output" "(^|[^a-z-])--$o([^a-z-]|\$)"
	done
}

@test "-h is --help" {
	run -0 --separate-stderr "$KINCOUNT" --help
	local want=$output
	run -0 --separate-stderr "$KINCOUNT" -h
	assert_output "$want"
	assert_equal "$stderr" ''
}

@test "--help does not read input" {
	mkfifo fifo
	run -0 --separate-stderr timeout 3 "$KINCOUNT" --help 0<>fifo
	assert_output --partial 'kincount [options] [file ...]'
	assert_equal "$stderr" ''
}

@test "--version and -V print the version" {
	run -0 --separate-stderr "$KINCOUNT" --version
	assert_output 'kincount 0.1.0'
	assert_equal "$stderr" ''
	run -0 --separate-stderr "$KINCOUNT" -V
	assert_output 'kincount 0.1.0'
	assert_equal "$stderr" ''
}

# --- misuse ----------------------------------------------------------------------------------

@test "unknown long option: exit 2, usage on stderr, nothing on stdout" {
	run -2 --separate-stderr "$KINCOUNT" --frobnicate
	assert_output ''
	assert_regex "$stderr" 'frobnicate'
	has_usage
}

@test "unknown short option: exit 2, usage on stderr, nothing on stdout" {
	run -2 --separate-stderr "$KINCOUNT" -Z
	assert_output ''
	assert_regex "$stderr" 'Z'
	has_usage
}

@test "option without its argument: exit 2, usage on stderr" {
	run -2 --separate-stderr "$KINCOUNT" -k
	assert_output ''
	has_usage
	run -2 --separate-stderr "$KINCOUNT" --format
	assert_output ''
	has_usage
}

@test "bad --format, --missing and --stats values are usage errors" {
	run -2 --separate-stderr "$KINCOUNT" -f xml
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: .*xml"
	run -2 --separate-stderr "$KINCOUNT" --missing maybe
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: .*maybe"
	run -2 --separate-stderr "$KINCOUNT" --stats=xml
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: .*xml"
}

@test "every documented --format and --missing value is accepted" {
	local v
	for v in auto lambda get-records firehose json base64; do
		run -0 --separate-stderr "$KINCOUNT" -f "$v" < /dev/null
		assert_output ''
		assert_equal "$stderr" ''
	done
	for v in empty skip reject; do
		run -0 --separate-stderr "$KINCOUNT" --missing "$v" < /dev/null
		assert_output ''
		assert_equal "$stderr" ''
	done
}

@test "-c with -d is a usage error" {
	run -2 --separate-stderr "$KINCOUNT" -c -d < /dev/null
	assert_output ''
	assert_regex "${stderr_lines[0]}" '^kincount: '
}

# --- numbers ---------------------------------------------------------------------------------

@test "each number option names itself and the bad value" {
	local o v
	for o in max-errors max-key-bytes max-record-bytes flush-ms; do
		for v in abc 12x '' 1.5 0x10; do
			run -2 --separate-stderr "$KINCOUNT" "--$o" "$v" < /dev/null
			assert_output ''
			assert_equal "${stderr_lines[0]}" "kincount: --$o: invalid number '$v'"
		done
		run -2 --separate-stderr "$KINCOUNT" "--$o=abc" < /dev/null
		assert_output ''
		assert_equal "${stderr_lines[0]}" "kincount: --$o: invalid number 'abc'"
	done
}

@test "negative and too large numbers are refused, naming the option and the value" {
	local o v
	for o in max-errors max-key-bytes max-record-bytes flush-ms; do
		for v in -1 99999999999999999999999; do
			run -2 --separate-stderr "$KINCOUNT" "--$o" "$v" < /dev/null
			assert_output ''
			assert_regex "${stderr_lines[0]}" "^kincount: --$o: .+ '$v'\$"
		done
	done
}

@test "good numbers are accepted" {
	run -0 --separate-stderr "$KINCOUNT" --max-errors 0 --max-key-bytes 10 --max-record-bytes 100 --flush-ms 1 < /dev/null
	assert_output ''
	assert_equal "$stderr" ''
}

# --- templates -------------------------------------------------------------------------------

@test "template: unclosed '{' names the column" {
	run -2 --separate-stderr "$KINCOUNT" --key '{page'
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key '{page': column 1: unclosed '{'"
	run -2 --separate-stderr "$KINCOUNT" -k 'ab:{page'
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key 'ab:{page': column 4: unclosed '{'"
}

@test "template: unmatched '}' names the column" {
	run -2 --separate-stderr "$KINCOUNT" -k 'a}b'
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key 'a}b': column 2: unmatched '}' (write '}}' for a literal brace)"
	run -2 --separate-stderr "$KINCOUNT" -k '{a}}'
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key '{a}}': column 4: unmatched '}' (write '}}' for a literal brace)"
}

@test "template: doubled braces are literal" {
	run -0 --separate-stderr "$KINCOUNT" -f json -k '{{x}}:{id}' <<<'{"id":1}'
	assert_output '{x}:1'
	assert_equal "$stderr" ''
}

@test "template: the error names the template it is in" {
	run -2 --separate-stderr "$KINCOUNT" -k '{id}' -k 'x{y'
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key 'x{y': column 2: unclosed '{'"
}

@test "template: empty field name" {
	# The column is the '{' or the place of the missing name.
	run -2 --separate-stderr "$KINCOUNT" -k 'a:{}'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --key 'a:\{\}': column (3|4): empty field name$"
}

@test "template: unknown name" {
	# The column is the '{' or the start of the name.
	run -2 --separate-stderr "$KINCOUNT" -k 'a:{@foo}'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --key 'a:\{@foo\}': column (3|4): unknown name '@foo'$"
}

@test "template: bad paths" {
	local t
	for t in '{a[-1]}' '{a[]}' '{a..b}' '{a[x]}'; do
		run -2 --separate-stderr "$KINCOUNT" -k "$t"
		assert_output ''
		assert_regex "${stderr_lines[0]}" "^kincount: --key '$(sed 's/[][{}.]/\\&/g' <<<"$t")': column [0-9]+: bad path: .+$"
	done
}

@test "template: a control byte is a mistake, and is not echoed raw" {
	run -2 --separate-stderr "$KINCOUNT" -k $'a\tb'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --key '.+': column 2: control byte in template$"
	"$KINCOUNT" -k $'a\tb' 2> err || true
	run -0 bash -c "LC_ALL=C tr -cd '\\000-\\011\\013-\\037\\177' < err | wc -c"
	assert_output '0'
}

@test "bad --where" {
	run -2 --separate-stderr "$KINCOUNT" -w '=x'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --where '=x': column [0-9]+: .+$"
	run -2 --separate-stderr "$KINCOUNT" --where 'a[-1]=x'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --where 'a\[-1\]=x': column [0-9]+: bad path: .+$"
}

@test "bad --time-field" {
	run -2 --separate-stderr "$KINCOUNT" -t 'ts[-1]'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --time-field 'ts\[-1\]': column [0-9]+: bad path: .+$"
	run -2 --separate-stderr "$KINCOUNT" --time-field 'a..b'
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --time-field 'a\.\.b': column [0-9]+: bad path: .+$"
}

# --- usage errors come before input ------------------------------------------------------------

@test "a usage error wins over a missing input file: exit 2, not 4" {
	run -2 --separate-stderr "$KINCOUNT" -k '{page' nonexistent
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key '{page': column 1: unclosed '{'"
	refute_regex "$stderr" 'nonexistent'
	run -2 --separate-stderr "$KINCOUNT" --max-errors x nonexistent
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --max-errors: invalid number 'x'"
	refute_regex "$stderr" 'nonexistent'
}

@test "usage errors are reported without reading standard input" {
	# The fifo is held open for writing by kincount's own stdin and nobody writes to it:
	# a read would block until timeout ends the run with 124.
	mkfifo fifo
	run -2 --separate-stderr timeout 3 "$KINCOUNT" -k '{page' 0<>fifo
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --key '{page': column 1: unclosed '{'"
	run -2 --separate-stderr timeout 3 "$KINCOUNT" --flush-ms abc 0<>fifo
	assert_output ''
	assert_equal "${stderr_lines[0]}" "kincount: --flush-ms: invalid number 'abc'"
	run -2 --separate-stderr timeout 3 "$KINCOUNT" -w 'a[-1]' 0<>fifo
	assert_output ''
	assert_regex "${stderr_lines[0]}" "^kincount: --where "
	run -2 --separate-stderr timeout 3 "$KINCOUNT" -c -d 0<>fifo
	assert_output ''
	assert_regex "${stderr_lines[0]}" '^kincount: '
}
