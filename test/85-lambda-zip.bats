#!/usr/bin/env bats
# make lambda-zip (issue 9): kincount-lambda.zip is a deployable AWS Lambda custom runtime
# for provided.al2023, whose glibc (2.34) is older than Debian 12's (2.36).  The zip carries
# the whole runtime closure: these tests prove from the ELF files themselves (objdump) that
# nothing in it needs a library, a symbol or a symbol version the zip does not provide, and
# by running the unpacked bootstrap with an empty environment (apart from the Lambda
# variables) against the Runtime API emulator, that every shared object the running
# kincount maps comes from the unpacked folder.

load helper
load redis

ROOT=$BATS_TEST_DIRNAME/..
ZIP=$ROOT/kincount-lambda.zip
PKG=$BATS_FILE_TMPDIR/pkg

setup_file() {
	# Up to date after 'make check'; built here when the file is run alone.
	make -s -C "$ROOT" lambda-zip >&2
	rm -rf "$PKG"
	mkdir -p "$PKG"
	unzip -q "$ZIP" -d "$PKG"
	redis_start
}

# elf_files: the ELF files of the unpacked zip, relative to it, one a line.
elf_files() {
	local f
	(
		cd "$PKG" || exit 1
		find . -type f | sed 's|^\./||' | sort | while IFS= read -r f; do
			[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && echo "$f"
		done
	)
}

# elf_check: for every ELF file of the unpacked zip, from objdump alone: each NEEDED library
# is in lib/; each symbol version it requires from a library ('Version References') is
# defined by that library in lib/; each symbol it takes with a GLIBC_ version (objdump -T,
# *UND*, not weak) is defined with that version by a file of the zip.  Prints one problem a
# line, then 'newest NEEDED-VERSION' (the newest GLIBC_x.y any file requires) and 'libc
# VERSION' (the newest GLIBC_x.y the carried libc defines).
elf_check() {
	elf_files > "$BATS_TEST_TMPDIR/elves"
	python3 - "$PKG" "$BATS_TEST_TMPDIR/elves" <<-'EOF'
	import os, re, subprocess, sys
	root, names = sys.argv[1], open(sys.argv[2]).read().split()
	def objdump(flag, name):
	    return subprocess.run(["objdump", flag, os.path.join(root, name)], check=True,
	                          capture_output=True, text=True).stdout
	def glibc(v):
	    m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", v)
	    return tuple(int(x) for x in m.group(1).split(".")) if m else None
	needed, verneed, verdef, und, defs = {}, {}, {}, {}, set()
	for n in names:
	    p = objdump("-p", n)
	    needed[n] = re.findall(r"^\s+NEEDED\s+(\S+)$", p, re.M)
	    verdef[n] = set()
	    m = re.search(r"^Version definitions:\n(.*?)(?:\n\n|\Z)", p, re.M | re.S)
	    if m:
	        for line in m.group(1).splitlines():
	            f = line.split()
	            if len(f) == 4 and f[1] == "0x00":
	                verdef[n].add(f[3])
	    verneed[n] = []
	    m = re.search(r"^Version References:\n(.*?)(?:\n\n|\Z)", p, re.M | re.S)
	    if m:
	        lib = None
	        for line in m.group(1).splitlines():
	            r = re.match(r"\s+required from (\S+):$", line)
	            if r:
	                lib = r.group(1)
	            elif line.split():
	                verneed[n].append((lib, line.split()[-1]))
	    und[n] = []
	    for line in objdump("-T", n).splitlines():
	        r = re.match(r"^[0-9a-f]+ (.{7}) (\S+)\s+[0-9a-f]+(?:\s+(\S+))?\s+(\S+)$", line)
	        if not r:
	            continue
	        flags, sect, ver, sym = r.groups()
	        ver = (ver or "").strip("()")
	        if sect == "*UND*":
	            if glibc(ver) and "w" not in flags:
	                und[n].append((sym, ver))
	        else:
	            defs.add((sym, ver))
	newest = ()
	for n in names:
	    for lib in needed[n]:
	        if "lib/" + lib not in names:
	            print("%s: NEEDED %s is not in lib/" % (n, lib))
	    for lib, ver in verneed[n]:
	        if ver not in verdef.get("lib/" + lib, ()):
	            print("%s: needs %s from %s, which the zip does not define" % (n, ver, lib))
	        if glibc(ver) and glibc(ver) > newest:
	            newest, newest_name = glibc(ver), ver
	    for sym, ver in und[n]:
	        if (sym, ver) not in defs:
	            print("%s: symbol %s@%s is defined by no file of the zip" % (n, sym, ver))
	libc = max((v for v in verdef.get("lib/libc.so.6", ()) if glibc(v)), key=glibc,
	           default="none")
	print("newest %s" % (newest_name if newest else "none"))
	print("libc %s" % libc)
	EOF
}

# --- the package -------------------------------------------------------------------------------

@test "zip: bootstrap, kincount and lib/ at the root; bootstrap and kincount mode 755" {
	run -0 --separate-stderr python3 - "$ZIP" <<-'EOF'
	import stat, sys, zipfile
	z = zipfile.ZipFile(sys.argv[1])
	for i in z.infolist():
	    mode = i.external_attr >> 16
	    kind = "d" if stat.S_ISDIR(mode) else "f" if stat.S_ISREG(mode) else "?"
	    print("%s %s %o" % (i.filename.split("/")[0], kind, stat.S_IMODE(mode)))
	EOF
	assert_equal "$stderr" ''
	# The root holds exactly these three names.
	assert_equal "$(cut -d' ' -f1 <<< "$output" | sort -u | tr '\n' ' ')" 'bootstrap kincount lib '
	assert_line 'bootstrap f 755'
	assert_line 'kincount f 755'
	# Every file is a regular file (no symbolic links, which a zip may not carry well).
	refute_line --regexp ' \? '
	# Unpacked by unzip, they are executable.
	[ -x "$PKG/bootstrap" ] && [ -x "$PKG/kincount" ] && [ -x "$PKG"/lib/ld-linux-*.so.* ]
}

@test "zip: bootstrap is a POSIX sh script that execs the carried loader with --lambda" {
	run -0 --separate-stderr head -n 1 "$PKG/bootstrap"
	assert_output '#!/bin/sh'
	run -0 --separate-stderr sh -n "$PKG/bootstrap"
	assert_output ''
	assert_equal "$stderr" ''
	# The loader's name was filled in: it names a file that is in lib/.
	loader=$(grep -o 'lib/ld-[^"]*' "$PKG/bootstrap" | head -n 1)
	[ -n "$loader" ] && [ -f "$PKG/$loader" ] || fail "bootstrap names no carried loader: $loader"
	refute grep -q @LOADER@ "$PKG/bootstrap"
	grep -q -- '--lambda' "$PKG/bootstrap"
}

@test "zip: every ELF file's NEEDED libraries, symbol versions and GLIBC symbols are in the zip" {
	run -0 --separate-stderr elf_check
	assert_equal "$stderr" ''
	# No problem lines: only the two summary lines.
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp '^newest GLIBC_[0-9.]+$'
	assert_line --index 1 --regexp '^libc GLIBC_[0-9.]+$'
	newest=${lines[0]#newest } libc=${lines[1]#libc }
	# No file needs a glibc newer than the one carried.
	python3 -c 'import sys
v = lambda s: tuple(int(x) for x in s[6:].split("."))
sys.exit(not v(sys.argv[1]) <= v(sys.argv[2]))' "$newest" "$libc" ||
		fail "a file needs $newest, the carried libc defines up to $libc"
	echo "# newest glibc version needed by the zip's files: $newest (carried libc: $libc)" >&3
}

@test "zip: the ELF check finds a missing library, symbol version and symbol" {
	# The check above must be able to fail: a copy of the package without libz.
	cp -r "$PKG" "$BATS_TEST_TMPDIR/broken"
	rm "$BATS_TEST_TMPDIR/broken/lib/libz.so.1"
	PKG=$BATS_TEST_TMPDIR/broken run -0 --separate-stderr elf_check
	assert_line 'kincount: NEEDED libz.so.1 is not in lib/'
	# A libm that defines nothing: kincount's math symbols are then undefined.
	cp "$BATS_TEST_TMPDIR/broken/lib/libmd.so.0" "$BATS_TEST_TMPDIR/broken/lib/libm.so.6"
	PKG=$BATS_TEST_TMPDIR/broken run -0 --separate-stderr elf_check
	assert_line --regexp '^kincount: needs GLIBC_[0-9.]+ from libm\.so\.6, which the zip does not define$'
	assert_line --regexp '^kincount: symbol [a-z0-9_]+@GLIBC_[0-9.]+ is defined by no file of the zip$'
}

@test "zip: the loader and the C library are one glibc build, which runs" {
	loader=$(cd "$PKG" && echo lib/ld-linux-*.so.*)
	run -0 --separate-stderr env -i "$PKG/$loader" --version
	ld=$(sed -En 's/^ld\.so \((.*)\) stable release version ([0-9.]+)\.$/\1 \2/p' <<< "$output")
	run -0 --separate-stderr env -i "$PKG/$loader" --inhibit-cache --library-path "$PKG/lib" \
		"$PKG/lib/libc.so.6"
	libc=$(sed -En '1s/^GNU C Library \((.*)\) stable release version ([0-9.]+)\.$/\1 \2/p' \
		<<< "$output")
	[ -n "$ld" ] || fail "no version from the loader"
	assert_equal "$libc" "$ld"
}

@test "zip: every ELF file is stripped (no symbol table, no debugging sections)" {
	local f bad=
	for f in $(elf_files); do
		if objdump -h "$PKG/$f" | awk '{ print $2 }' | grep -q -e '^\.debug' -e '^\.symtab$'; then
			bad="$bad $f"
		fi
	done
	assert_equal "$bad" ''
}

@test "lambda-zip: a library that cannot be found fails the build and leaves no zip" {
	cd "$BATS_TEST_TMPDIR"
	printf 'int kc_gone(void) { return 7; }\n' > gone.c
	printf 'int kc_gone(void);\nint main(void) { return kc_gone(); }\n' > prog.c
	cc -shared -fPIC -o libkcgone.so gone.c
	cc -o prog prog.c -L. -lkcgone
	echo stale > out.zip
	run -1 --separate-stderr "$ROOT/tools/lambda-zip" prog "$ROOT/lambda/bootstrap" stage out.zip
	assert_output ''
	assert_equal "$stderr" 'lambda-zip: prog needs libraries not found on this system: libkcgone.so'
	[ ! -e out.zip ] && [ ! -e out.zip.tmp ]
	# Found (through LD_LIBRARY_PATH, as ldd finds it), the library is carried.
	LD_LIBRARY_PATH=$PWD run -0 --separate-stderr "$ROOT/tools/lambda-zip" prog \
		"$ROOT/lambda/bootstrap" stage out.zip
	assert_output ''
	assert_equal "$stderr" ''
	run -0 --separate-stderr unzip -Z1 out.zip lib/libkcgone.so
	assert_output 'lib/libkcgone.so'
}

@test "lambda-zip: wrong use and a missing input fail with a message" {
	cd "$BATS_TEST_TMPDIR"
	run -2 --separate-stderr "$ROOT/tools/lambda-zip" a b c
	assert_output ''
	assert_equal "$stderr" 'usage: tools/lambda-zip KINCOUNT BOOTSTRAP STAGING ZIP'
	run -1 --separate-stderr "$ROOT/tools/lambda-zip" nothing-here "$ROOT/lambda/bootstrap" s o.zip
	assert_output ''
	assert_equal "$stderr" 'lambda-zip: nothing-here: no such file'
	[ ! -e o.zip ]
}

@test "make lambda-zip builds in a fresh tree; make clean removes the zip and its staging" {
	local t=$BATS_TEST_TMPDIR/tree
	mkdir -p "$t/lambda" "$t/tools"
	cp "$ROOT"/Makefile "$ROOT"/*.c "$ROOT"/*.h "$t/"
	cp "$ROOT/lambda/bootstrap" "$t/lambda/"
	cp "$ROOT/tools/need-debs" "$ROOT/tools/lambda-zip" "$t/tools/"
	run -0 --separate-stderr make -s -C "$t" lambda-zip
	[ -f "$t/kincount-lambda.zip" ] && [ -d "$t/lambda/stage" ] && [ -f "$t/lambda/kincount" ]
	run -0 --separate-stderr unzip -Z1 "$t/kincount-lambda.zip" bootstrap kincount
	assert_equal "$(sort <<< "$output" | tr '\n' ' ')" 'bootstrap kincount '
	run -0 --separate-stderr make -s -C "$t" clean
	[ ! -e "$t/kincount-lambda.zip" ] && [ ! -e "$t/lambda/stage" ] &&
		[ ! -e "$t/lambda/stage.ldd" ] && [ ! -e "$t/lambda/kincount" ] ||
		fail "left after make clean: $(cd "$t" && ls -d kincount-lambda.zip lambda/* 2>/dev/null)"
	# The bootstrap template is a source file: it stays.
	[ -f "$t/lambda/bootstrap" ]
}

# --- the unpacked zip, run ---------------------------------------------------------------------

# The Runtime API emulator's helpers (emu_start, emu_queue_lines, emu_answered, emu_out) are
# helper.bash's.
teardown() {
	emu_stop
	tcp_stop
	redis_teardown
}

# boot VAR=VALUE...: the unpacked zip's bootstrap with only the given environment (env -i),
# in the background from the test's folder; its pid (kincount's, after the execs) in KPID,
# its stdout and stderr in $BATS_TEST_TMPDIR/out and err.
boot() {
	env -i "$@" "$PKG/bootstrap" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	KPID=$!
}

# served NAME: waits (at most 30 s) until the queued event NAME is answered, failing at once
# when kincount ended before.
served() {
	wait_for 30 answered_or_gone "$1"
	emu_answered "$1" || fail "kincount ended before answering $1: $(cat "$BATS_TEST_TMPDIR/err")"
}

answered_or_gone() {
	emu_answered "$1" || ! alive "$KPID"
}

# waits_for_next: true once kincount asked for the next event and waits for it: the
# emulator has served every queued event and kincount's thread sits in poll or read.
waits_for_next() {
	[ -z "$(find "$EMU/queue" -name '*.json')" ] && in_syscall "$KPID" poll read
}

# maps_from_pkg PID: fails unless every file PID has mapped is under the unpacked zip, and
# unless its program is the carried loader (so no system library was loaded, even by
# dlopen).
maps_from_pkg() {
	local pkg bad
	pkg=$(realpath "$PKG")
	[ "$(readlink "/proc/$1/exe")" = "$(realpath "$PKG"/lib/ld-linux-*.so.*)" ] ||
		fail "the program of $1 is $(readlink "/proc/$1/exe"), not the carried loader"
	bad=$(awk -v pkg="$pkg/" '$6 ~ /^\// && index($6, pkg) != 1 { print $6 }' \
		"/proc/$1/maps" | sort -u)
	[ -z "$bad" ] || fail "mapped from outside the package: $bad"
	# And the package's own files are mapped: kincount, the loader and libc at least.
	grep -q " $pkg/kincount\$" "/proc/$1/maps" && grep -q " $pkg/lib/libc\.so\.6\$" "/proc/$1/maps" ||
		fail "kincount or libc.so.6 of the package not mapped: $(cat "/proc/$1/maps")"
}

# answer NAME: the body of the response to the queued event NAME, compact (jq -c); fails
# when it was answered with an invocation error.
answer() {
	[ ! -e "$EMU/out/$(emu_rid "$1").error" ] || fail "event $1 answered with an error: $(emu_out "$1" error)"
	emu_out "$1" response | jq -c .
}

@test "bootstrap: env -i, two Kinesis events: empty batchItemFailures, exact counts, only the zip's libraries mapped" {
	emu_start
	gen_lambda 2 6 > events
	emu_queue_lines ev events
	boot AWS_LAMBDA_RUNTIME_API="$AWS_LAMBDA_RUNTIME_API" KINCOUNT_REDIS_URL="$REDIS_URL" \
		KINCOUNT_OPTIONS="${KC_KEYS[*]} --checkpoint" LAMBDA_TASK_ROOT="$PKG"
	served ev-0001
	wait_for 10 waits_for_next
	maps_from_pkg "$KPID"
	# Its environment is the one given: no LD_LIBRARY_PATH, no PATH.
	refute grep -qz -e '^LD_LIBRARY_PATH=' -e '^PATH=' "/proc/$KPID/environ"
	assert_equal "$(answer ev-0000)" '{"batchItemFailures":[]}'
	assert_equal "$(answer ev-0001)" '{"batchItemFailures":[]}'
	expect_counts events > expected
	assert_equal "$(redis_counters)" "$(cat expected)"
	assert_equal "$(checkpoint)" "$(last_seq events)"
	# The Runtime API says exit: kincount ends cleanly.
	touch "$EMU/stop"
	kc_wait 10
	assert_equal "$KSTATUS" 0
}

@test "bootstrap: KINCOUNT_REDIS_URL unset or empty: kincount posts the init error and exits 2" {
	local url
	emu_start
	for url in unset ''; do
		rm -f "$EMU/init-error" "$EMU/init-error.headers"
		if [ "$url" = unset ]; then
			boot AWS_LAMBDA_RUNTIME_API="$AWS_LAMBDA_RUNTIME_API" LAMBDA_TASK_ROOT="$PKG"
		else
			boot AWS_LAMBDA_RUNTIME_API="$AWS_LAMBDA_RUNTIME_API" KINCOUNT_REDIS_URL="$url" \
				LAMBDA_TASK_ROOT="$PKG"
		fi
		kc_wait 20
		assert_equal "$KSTATUS" 2
		assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" ''
		assert_equal "$(head -n 1 <<< "$kstderr")" \
			"kincount: --lambda needs -r URL (in the zip's bootstrap: KINCOUNT_REDIS_URL)"
		[ -s "$EMU/init-error" ] || fail "no init error posted; stderr: $kstderr"
		assert_equal "$(jq -c . "$EMU/init-error")" \
			'{"errorMessage":"--lambda needs -r URL (in the zip'"'"'s bootstrap: KINCOUNT_REDIS_URL)","errorType":"Kincount.UsageError","stackTrace":[]}'
		grep -qix 'Lambda-Runtime-Function-Error-Type: Kincount.UsageError' \
			<(tr -d '\r' < "$EMU/init-error.headers")
	done
	# Nothing was asked for or answered.
	refute grep -q ' GET ' "$EMU/log"
	[ -z "$(ls "$EMU/out")" ]
}

# expect_split FILE: the counts of the templates 'kc:*{page}' and 'kc:{page}:{n}' over the
# Lambda events of FILE (from gen_lambda), with python3 alone, as sorted KEY<TAB>COUNT lines.
expect_split() {
	python3 - "$1" <<-'EOF2'
	import base64, collections, json, sys
	counts = collections.Counter()
	for line in open(sys.argv[1]):
	    for rec in json.loads(line)["Records"]:
	        text = base64.b64decode(rec["kinesis"]["data"]).decode()
	        evs = json.loads(text) if text.startswith("[") else \
	            [json.loads(l) for l in text.split("\n") if l.strip()]
	        for ev in evs:
	            counts["kc:*%s" % ev["page"]] += 1
	            counts["kc:%s:%s" % (ev["page"], ev["n"])] += 1
	for k in sorted(counts):
	    print("%s\t%d" % (k, counts[k]))
	EOF2
}

@test "bootstrap: KINCOUNT_OPTIONS is split on blanks into separate arguments, without globbing" {
	emu_start
	gen_lambda 2 5 > events
	emu_queue_lines ev events
	# A file that the first template would match as a glob pattern, in the folder kincount
	# starts in: were it expanded, the key would be 'kc:zz{page}'.
	touch 'kc:zz{page}'
	# Blanks of every kind, doubled, leading and trailing; the package found next to
	# bootstrap, not through LAMBDA_TASK_ROOT (as in a layer).
	boot AWS_LAMBDA_RUNTIME_API="$AWS_LAMBDA_RUNTIME_API" KINCOUNT_REDIS_URL="$REDIS_URL" \
		KINCOUNT_OPTIONS=$'  -k\tkc:*{page}   --key=kc:{page}:{n}\n--checkpoint\t' \
		LAMBDA_TASK_ROOT=/nonexistent
	served ev-0001
	assert_equal "$(answer ev-0000)" '{"batchItemFailures":[]}'
	assert_equal "$(answer ev-0001)" '{"batchItemFailures":[]}'
	expect_split events > expected
	assert_equal "$(redis_counters)" "$(cat expected)"
	# --checkpoint arrived as an option of its own.
	assert_equal "$(checkpoint)" "$(last_seq events)"
	touch "$EMU/stop"
	kc_wait 10
	assert_equal "$KSTATUS" 0
}

@test "bootstrap: the password from REDISCLI_AUTH, never on the command line; host names resolved" {
	tcp_start
	[ "$(redis-cli -h 127.0.0.1 -p "$TCP_PORT" config set requirepass 'pw-zip-85')" = OK ]
	emu_start
	gen_lambda 1 4 > events
	emu_queue_lines ev events
	# Both addresses by host name: libcurl and hiredis resolve 'localhost' through the
	# carried C library (/etc/hosts).
	boot AWS_LAMBDA_RUNTIME_API="localhost:${AWS_LAMBDA_RUNTIME_API##*:}" \
		KINCOUNT_REDIS_URL="redis://localhost:$TCP_PORT" REDISCLI_AUTH=pw-zip-85 \
		KINCOUNT_OPTIONS="${KC_KEYS[*]}" LAMBDA_TASK_ROOT="$PKG"
	served ev-0000
	wait_for 10 waits_for_next
	maps_from_pkg "$KPID"
	refute grep -q pw-zip-85 "/proc/$KPID/cmdline"
	assert_equal "$(answer ev-0000)" '{"batchItemFailures":[]}'
	expect_counts events > expected
	RCLI_ADDR=(-h 127.0.0.1 -p "$TCP_PORT" --no-auth-warning -a pw-zip-85)
	assert_equal "$(redis_counters)" "$(cat expected)"
	touch "$EMU/stop"
	kc_wait 10
	assert_equal "$KSTATUS" 0
}
