#!/usr/bin/env bats
# How tools/run-tests counts the end-to-end test (make check, make e2e), on a scratch tree that
# holds a copy of tools/run-tests, one bats file under test/, and a stand-in tools/e2e whose
# 'deps' and 'tap' do what the test asks: the real one is run by make e2e (test/e2e).
# The end-to-end test that cannot get its tools is ONE line and one skipped test in make check,
# a failure in make e2e, and never a pass.

load helper

ROOT=$BATS_TEST_DIRNAME/..

# tree DEPS TAP: the scratch tree in ./tree; DEPS and TAP are the bodies of the stand-in's
# 'deps' and 'tap'.
tree() {
	mkdir -p tree/tools tree/test
	cp "$ROOT/tools/run-tests" tree/tools/
	printf '@test "one" { true; }\n@test "two" { true; }\n' > tree/test/a.bats
	cat > tree/tools/e2e <<-EOF
	#!/bin/sh
	case \$1 in
	deps) $1 ;;
	tap) $2 ;;
	*) exit 2 ;;
	esac
	EOF
	chmod +x tree/tools/e2e
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	unset KINCOUNT_E2E
}

@test "run-tests: e2e tools that cannot be had: one line, counted as skipped, exit 0" {
	tree 'echo "npm ci in test/e2e failed (is the npm registry reachable?)"; exit 1' 'exit 99'
	run -0 --separate-stderr tree/tools/run-tests
	assert_equal "${lines[-2]}" 'e2e: skipped: npm ci in test/e2e failed (is the npm registry reachable?)'
	assert_equal "${lines[-1]}" '2 passed, 0 failed, 1 skipped'
	assert_equal "$(grep -c '^e2e: ' <<< "$output")" 1
	assert_equal "$stderr" ''
}

@test "run-tests --e2e (make e2e): tools that cannot be had are a failure, exit 1" {
	tree 'echo "no AWS CLI at /usr/bin/aws"; exit 1' 'exit 99'
	run -1 --separate-stderr tree/tools/run-tests --e2e
	assert_equal "$output" $'e2e: cannot run: no AWS CLI at /usr/bin/aws\n0 passed, 1 failed, 0 skipped'
	assert_equal "$stderr" ''
}

@test "run-tests: KINCOUNT_E2E=0 leaves the e2e out: one line, skipped; deps is not even asked" {
	tree 'echo asked > asked; exit 0' 'exit 99'
	KINCOUNT_E2E=0 run -0 --separate-stderr tree/tools/run-tests
	assert_equal "${lines[-2]}" 'e2e: skipped: KINCOUNT_E2E=0'
	assert_equal "${lines[-1]}" '2 passed, 0 failed, 1 skipped'
	[ ! -e asked ]
}

@test "run-tests: the e2e's passes and failures are added to the suite's" {
	tree 'exit 0' 'printf "1..3\nok 1 a\nnot ok 2 b\nok 3 c\n"; exit 1'
	run -1 --separate-stderr tree/tools/run-tests
	assert_line 'not ok 2 b'
	assert_equal "${lines[-1]}" '4 passed, 1 failed, 0 skipped'
	assert_equal "$stderr" ''
}

@test "run-tests: an e2e that dies part way counts its missing tests as failed" {
	tree 'exit 0' 'printf "1..5\nok 1 a\nok 2 b\n"; exit 137'
	run -1 --separate-stderr tree/tools/run-tests --e2e
	assert_equal "${lines[-1]}" '2 passed, 3 failed, 0 skipped'
	assert_equal "$stderr" 'run-tests: e2e: bats planned 5 tests but reported 2'
}

@test "run-tests: an e2e that prints no plan, or fails with none failed, is a failure" {
	tree 'exit 0' 'exit 1'
	run -1 --separate-stderr tree/tools/run-tests --e2e
	assert_equal "${lines[-1]}" '0 passed, 1 failed, 0 skipped'
	assert_equal "$stderr" 'run-tests: e2e: bats printed no plan (1..N)'
	tree 'exit 0' 'printf "1..1\nok 1 a\n"; exit 3'
	run -1 --separate-stderr tree/tools/run-tests --e2e
	assert_equal "${lines[-1]}" '1 passed, 1 failed, 0 skipped'
	assert_equal "$stderr" 'run-tests: e2e: bats exited with status 3 but reported no failed test'
}

@test "run-tests FOLDER runs that folder alone, without the e2e" {
	tree 'echo asked > asked; exit 1' 'exit 99'
	run -0 --separate-stderr tree/tools/run-tests tree/test
	assert_equal "${lines[-1]}" '2 passed, 0 failed, 0 skipped'
	refute_output --partial 'e2e'
	[ ! -e asked ]
}
