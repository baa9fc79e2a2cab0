#!/usr/bin/env bats
# The documentation is tested like the code: the man page is lint-clean, every example in its
# EXAMPLES section prints what the page says it prints, the option lists of the page and of
# --help agree, and the README opens with the two set-up commands.

load helper

ROOT=$BATS_TEST_DIRNAME/..
PAGE=$ROOT/man/kincount.1

# The fewest runnable examples the page may have, so that a broken extraction cannot pass.
MIN_EXAMPLES=30

# extract_examples DIR: writes each runnable example of the page's EXAMPLES section as
# DIR/N.cmd (the command, continuation lines included) and DIR/N.out (the lines the page shows
# after it), and prints the number of examples.  An example is a line of a .Bd -literal
# display that starts with '$ '; a line that ends in a backslash continues the command; the
# output runs to the next '$ ' line or the end of the display.  The only roff escapes allowed
# in a display are \e (a backslash) and \& (nothing); any other one is an error, since it
# would make the page show something other than what is run.
extract_examples() {
	awk -v dir="$1" '
	function unescape(s,    t) {
		t = s
		gsub(/\\[e&]/, "", t)
		if (index(t, "\\") > 0) {
			printf "line %d: unsupported roff escape: %s\n", NR, s > "/dev/stderr"
			bad = 1
		}
		gsub(/\\&/, "", s)
		gsub(/\\e/, "\\", s)
		return s
	}
	/^\.Sh / { inex = ($0 == ".Sh EXAMPLES"); inbd = 0; next }
	!inex { next }
	/^\.Bd / { inbd = 1; state = ""; next }
	/^\.Ed/ { inbd = 0; state = ""; next }
	!inbd { next }
	{
		line = unescape($0)
		if (state == "cont") {
			print line > (dir "/" n ".cmd")
			iscmd = 1
		} else if (substr(line, 1, 2) == "$ ") {
			n++
			printf "" > (dir "/" n ".out")
			print substr(line, 3) > (dir "/" n ".cmd")
			iscmd = 1
		} else if (state == "out") {
			print line > (dir "/" n ".out")
			iscmd = 0
		} else {
			next
		}
		state = (iscmd && line ~ /\\$/) ? "cont" : "out"
	}
	END { print n + 0; exit bad }
	' "$PAGE"
}

@test "man page: mandoc -Tlint -Wwarning is clean" {
	run -0 --separate-stderr mandoc -Tlint -Wwarning "$PAGE"
	assert_output ''
	assert_equal "$stderr" ''
}

@test "man page: every example prints what the page shows" {
	local dir=$BATS_TEST_TMPDIR/examples bin=$BATS_TEST_TMPDIR/bin n ex failed=0
	mkdir -p "$dir" "$bin"
	# 'kincount' in the examples is the binary under test.
	printf '#!/bin/sh\nexec "%s" "$@"\n' "$(realpath "$KINCOUNT")" > "$bin/kincount"
	chmod +x "$bin/kincount"

	run -0 --separate-stderr extract_examples "$dir"
	assert_equal "$stderr" ''
	n=$output
	if [ "$n" -lt "$MIN_EXAMPLES" ]; then
		fail "only $n examples found in the EXAMPLES section, expected at least $MIN_EXAMPLES"
	fi

	cd "$ROOT"
	# Not 'i': bats's run assigns a global i, which would restart the loop.
	for ((ex = 1; ex <= n; ex++)); do
		run --separate-stderr env PATH="$bin:$PATH" bash -c "$(<"$dir/$ex.cmd")" </dev/null
		if [ "$output" != "$(<"$dir/$ex.out")" ] || [ -n "$stderr" ]; then
			failed=$((failed + 1))
			{
				echo "-- example $ex: \$ $(<"$dir/$ex.cmd")"
				echo "-- expected:"
				cat "$dir/$ex.out"
				echo "-- got (status $status):"
				printf '%s\n' "$output"
				[ -z "$stderr" ] || printf -- '-- stderr:\n%s\n' "$stderr"
			} >&2
		fi
	done
	[ "$failed" -eq 0 ] || fail "$failed of $n examples differ from the page"
}

@test "man page: the options of --help and of DESCRIPTION are the same" {
	local help_opts page_opts
	run -0 --separate-stderr "$KINCOUNT" --help
	help_opts=$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$output" | sort -u)
	[ -n "$help_opts" ] || fail "--help prints no long options"
	page_opts=$(awk '/^\.Sh /{ d = ($0 == ".Sh DESCRIPTION") } d && /^\.It /' "$PAGE" |
		grep -oE 'Fl -[a-z][a-z0-9-]*' | sed 's/^Fl /-/' | sort -u)
	[ -n "$page_opts" ] || fail "the DESCRIPTION list has no long options"
	run comm -3 <(echo "$help_opts") <(echo "$page_opts")
	if [ -n "$output" ]; then
		fail "$(printf 'options in only one of --help (left) and the man page (right):\n%s' "$output")"
	fi
}

@test "README: the first commands are 'make run' and 'make check'" {
	local cmds
	# Commands are the indented lines; a '#' starts a comment.
	cmds=$(grep -E '^( {4}|	)[^ 	]' "$ROOT/README" | head -n 2 |
		sed -E 's/#.*//; s/^[ 	]+//; s/[ 	]+$//')
	assert_equal "$cmds" $'make run\nmake check'
}
