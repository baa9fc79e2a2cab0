#!/usr/bin/env bats
# Every case in fixtures/golden (see its README): run kincount with NAME.args on NAME.in
# and compare stdout, stderr and the exit status with NAME.out, NAME.err, NAME.status.
# One loop: all mismatches are collected and printed, and the test fails once at the end.

load helper

@test "golden cases in fixtures/golden" {
	local dir=$FIXTURES/golden tmp=$BATS_TEST_TMPDIR
	local in name line want got input n=0
	local -a args failures=()
	local -A failed=()

	for in in "$dir"/*.in; do
		[ -e "$in" ] || continue
		name=${in##*/}
		name=${name%.in}
		n=$((n + 1))

		args=()
		input=$name.in
		if [ -f "$dir/$name.args" ]; then
			while IFS= read -r line || [ -n "$line" ]; do
				if [ "$line" = @FILE ]; then
					args+=("$name.in")
					input=/dev/null
				else
					args+=("$line")
				fi
			done <"$dir/$name.args"
		fi

		got=0
		(cd "$dir" && exec "$KINCOUNT" "${args[@]}" <"$input" >"$tmp/$name.out" 2>"$tmp/$name.err") || got=$?

		if ! diff -u --label "$name.out (expected)" --label "$name.out (got)" \
			"$dir/$name.out" "$tmp/$name.out" >"$tmp/$name.diff" 2>&1; then
			failures+=("$name: stdout differs"$'\n'"$(cat -v "$tmp/$name.diff")")
			failed[$name]=1
		fi

		if [ -f "$dir/$name.err" ]; then
			want=$dir/$name.err
		else
			want=/dev/null
		fi
		if ! diff -u --label "$name.err (expected)" --label "$name.err (got)" \
			"$want" "$tmp/$name.err" >"$tmp/$name.diff" 2>&1; then
			failures+=("$name: stderr differs"$'\n'"$(cat -v "$tmp/$name.diff")")
			failed[$name]=1
		fi

		want=0
		if [ -f "$dir/$name.status" ]; then
			want=$(<"$dir/$name.status")
		fi
		if [ "$got" != "$want" ]; then
			failures+=("$name: exit status $got, expected $want")
			failed[$name]=1
		fi
	done

	if [ "$n" -le 20 ]; then
		failures+=("only $n golden cases found in $dir (expected more than 20)")
	fi
	if [ "${#failures[@]}" -gt 0 ]; then
		printf '%s\n\n' "${failures[@]}"
		printf '%d of %d golden cases failed: %s\n' "${#failed[@]}" "$n" "$(printf "%s\n" "${!failed[@]}" | sort | tr "\n" " ")"
		return 1
	fi
}
