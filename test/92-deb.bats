#!/usr/bin/env bats
# The Debian package (issue 10): make deb builds kincount_VERSION_ARCH.deb from debian/, with
# VERSION kincount's own (KC_VERSION) and debian/changelog's; it holds what
# "make install PREFIX=/usr" installs, with Depends worked out from the libraries the binary
# links; lintian finds no error or warning in it; dpkg -i installs it on this machine, where
# the commands run and man finds their pages, and dpkg -P takes every file away again.
# Building in the source tree leaves nothing git shows, a build whose changelog disagrees
# with KC_VERSION fails and says so, and a make deb killed mid-way is simply run again.

load helper

ROOT=$(realpath "$BATS_TEST_DIRNAME/..")
ARCH=$(dpkg --print-architecture)
# kincount's version, read from its one place (kincount.c), not by running kincount.
VERSION=$(sed -n 's/^#define[[:space:]]\{1,\}KC_VERSION[[:space:]]\{1,\}"\([^"]*\)"$/\1/p' \
	"$ROOT/kincount.c")
DEB=$BATS_FILE_TMPDIR/kincount_${VERSION}_$ARCH.deb
# Set while this file's install test has kincount installed; teardown purges it then.
INSTALLED_MARK=$BATS_FILE_TMPDIR/installed-by-test

# The package is built once for the file, by make deb in a folder of this file's own (so a
# user's build/deb is left alone); the first test checks how that went.
setup_file() {
	local status=0
	make -C "$ROOT" deb DEBDIR="$BATS_FILE_TMPDIR/deb" DEBOUT="$BATS_FILE_TMPDIR" \
		> "$BATS_FILE_TMPDIR/make-deb.out" 2> "$BATS_FILE_TMPDIR/make-deb.err" || status=$?
	echo "$status" > "$BATS_FILE_TMPDIR/make-deb.status"
}

teardown() {
	if [ -e "$INSTALLED_MARK" ]; then
		dpkg_waiting -P kincount || true
		rm -f "$INSTALLED_MARK"
	fi
}

# dpkg_waiting ARG...: dpkg ARG..., tried again while another dpkg or apt-get holds the dpkg
# lock (a parallel apt-get, unattended upgrades), for at most 300 seconds; then dpkg's own
# status and messages.
dpkg_waiting() {
	local i status err=$BATS_FILE_TMPDIR/dpkg-waiting.err
	for ((i = 0; i < 1500; i++)); do
		status=0
		dpkg "$@" 2> "$err" || status=$?
		if [ "$status" -eq 0 ] || ! grep -q 'lock.*by another process' "$err"; then
			break
		fi
		sleep 0.2
	done
	cat "$err" >&2
	return "$status"
}

# files_of DEB: the regular files DEB holds, one path a line, sorted.
files_of() {
	dpkg-deb -c "$1" | awk '$1 ~ /^-/ { sub(/^\./, "", $6); print $6 }' | sort
}

# modes_of_commands DEB: the distinct modes and owners of the files under /usr/bin in DEB.
modes_of_commands() {
	dpkg-deb -c "$1" | awk '$6 ~ /^\.\/usr\/bin\/./ { print $1, $2 }' | sort -u
}

# copy_tree DIR: the source tree, cleaned, as a fresh git repository in DIR (its own
# .gitignore, every file not ignored committed), for builds that must not touch this tree.
copy_tree() {
	mkdir -p "$1"
	tar -C "$ROOT" -cf - --exclude=./.git --exclude=./build --exclude='./kincount_*' \
		--exclude='./kincount-dbgsym_*' --exclude=./fuzz/work --exclude=./bench/work . \
		| tar -C "$1" -xf -
	make -s -C "$1" clean
	git -C "$1" init -q
	git -C "$1" add -A
	git -C "$1" -c user.name=t -c user.email=t@t commit -q -m copy
}

@test "make deb builds kincount_VERSION_ARCH.deb; VERSION is KC_VERSION and debian/changelog's" {
	[ -n "$VERSION" ] || fail "no KC_VERSION found in kincount.c"
	[ "$(cat "$BATS_FILE_TMPDIR/make-deb.status")" = 0 ] ||
		fail "make deb failed: $(tail -n 20 "$BATS_FILE_TMPDIR/make-deb.err")"
	[ -f "$DEB" ] || fail "no $DEB; made: $(ls "$BATS_FILE_TMPDIR")"
	run -0 --separate-stderr dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version
	assert_output "$VERSION"
	assert_equal "$stderr" ""
	run -0 --separate-stderr dpkg-deb -f "$DEB" Package Version Architecture
	assert_output "Package: kincount
Version: $VERSION
Architecture: $ARCH"
	assert_equal "$stderr" ""
}

@test "the package holds what make install PREFIX=/usr installs, man pages gzipped, and its copyright" {
	local stage=$BATS_TEST_TMPDIR/stage f expected
	make -s -C "$ROOT" install PREFIX=/usr DESTDIR="$stage" > /dev/null
	expected=$(
		cd "$stage"
		find . -type f | sed 's/^\.//; s|^/usr/share/man/.*|&.gz|'
		printf '%s\n' /usr/share/doc/kincount/copyright /usr/share/doc/kincount/changelog.gz
	)
	run -0 --separate-stderr files_of "$DEB"
	assert_output "$(sort <<< "$expected")"
	assert_equal "$stderr" ""
	# What the issue names, whatever make install says.
	assert_line /usr/bin/kincount
	assert_line /usr/share/man/man1/kincount.1.gz
	if [ -e "$ROOT/kincount-pull" ]; then
		[[ $'\n'$output$'\n' == *$'\n/usr/bin/kincount-pull\n'* ]] ||
			fail "kincount-pull is in the tree but not in the package: make install must install it"
		[[ $'\n'$output$'\n' == *$'\n/usr/share/man/man1/kincount-pull.1.gz\n'* ]] ||
			fail "kincount-pull.1 is not in the package: make install must install it"
	fi
	# Commands executable by all, owned by root; man pages the tree's own, byte for byte.
	run -0 --separate-stderr modes_of_commands "$DEB"
	assert_output "-rwxr-xr-x root/root"
	dpkg-deb -x "$DEB" "$BATS_TEST_TMPDIR/x"
	for f in "$BATS_TEST_TMPDIR"/x/usr/share/man/man1/*.1.gz; do
		f=${f##*/}
		zcat "$BATS_TEST_TMPDIR/x/usr/share/man/man1/$f" | cmp - "$ROOT/man/${f%.gz}"
	done
}

# owner PATH: the package dpkg says owns the file PATH (under /lib or /usr/lib: the same
# folder on a merged /usr, each package registering one of them); fails when none does.
owner() {
	local p pkg
	for p in "$1" "/usr${1#/usr}" "${1#/usr}"; do
		pkg=$(dpkg -S "$p" 2> /dev/null | sed -n '1s/:.*//p') && [ -n "$pkg" ] &&
			echo "$pkg" && return 0
	done
	return 1
}

@test "Depends names the packages of the libraries kincount links; Recommends awscli, redis-tools" {
	local x=$BATS_TEST_TMPDIR/x so path pkg expected=()
	dpkg-deb -x "$DEB" "$x"
	# Worked out apart from dpkg-shlibdeps: each library the binary names (DT_NEEDED), found
	# where the loader finds it, and the package dpkg says owns that file (under /lib or
	# /usr/lib: the same folder on a merged /usr, each package registering one of them).
	for so in $(readelf -d "$x/usr/bin/kincount" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
		path=$(ldd "$x/usr/bin/kincount" | awk -v so="$so" '$1 == so { print $3 }')
		[ -n "$path" ] || fail "ldd does not find $so"
		pkg=$(owner "$path") || fail "no package owns $path ($so)"
		expected+=("$pkg")
	done
	[ "${#expected[@]}" -ge 6 ] || fail "only ${#expected[@]} libraries: ${expected[*]}"
	# libcurl is loaded with dlopen (kincount --lambda): the soname the binary names, found
	# by the loader's cache, and its package; with the version that has CURLOPT_PROTOCOLS_STR.
	so=$(strings "$x/usr/bin/kincount" | grep -m1 -x 'libcurl\.so\.[0-9]*')
	[ -n "$so" ] || fail "the binary names no libcurl soname"
	path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|64bit/ { print $NF; exit }')
	pkg=$(owner "$path") || fail "no package owns $path ($so)"
	expected+=("$pkg")
	# Built with Debian's flags, never the sanitizers of a make check SANITIZE=1 around it.
	[[ " ${expected[*]} " != *' libasan'* && " ${expected[*]} " != *' libubsan'* ]] ||
		fail "the packaged kincount is a sanitizer build: ${expected[*]}"
	run -0 --separate-stderr bash -c "dpkg-deb -f '$DEB' Depends | tr ',' '\n' | sed 's/([^)]*)//; s/ //g' | sort -u"
	assert_output "$(printf '%s\n' "${expected[@]}" | sort -u)"
	assert_equal "$stderr" ""
	run -0 --separate-stderr dpkg-deb -f "$DEB" Recommends Suggests
	assert_output "Recommends: awscli, redis-tools
Suggests: redis-server"
	assert_equal "$stderr" ""
}

@test "lintian finds no error or warning in the package, and does find one in a broken copy" {
	# Without LINTIAN_PROFILE, root or not: lintian's only complaint as root goes to stderr.
	run --separate-stderr lintian --fail-on error,warning "$DEB"
	[ "$status" = 0 ] || fail "lintian exited with $status: $output"
	assert_output ""
	# As root lintian says so on stderr, and nothing else.
	[ -z "$stderr" ] || assert_equal "$stderr" "running with root privileges is not recommended!"
	# The same check must be able to fail: the package without its copyright file.
	local x=$BATS_TEST_TMPDIR/broken
	dpkg-deb -R "$DEB" "$x"
	rm "$x/usr/share/doc/kincount/copyright"
	sed -i '/copyright$/d' "$x/DEBIAN/md5sums"
	dpkg-deb -b "$x" "$BATS_TEST_TMPDIR/broken.deb" > /dev/null
	run -2 --separate-stderr lintian --fail-on error,warning "$BATS_TEST_TMPDIR/broken.deb"
	assert_output "E: kincount: no-copyright-file"
}

@test "dpkg -i installs it: kincount --version, man -w finds the pages; dpkg -P leaves nothing" {
	local state f files
	[ "$(id -u)" = 0 ] || fail "this test installs the package with dpkg -i: run it as root"
	# Never over a kincount from elsewhere: it would be overwritten, then purged.
	state=$(dpkg-query -W -f='${db:Status-Abbrev}' kincount 2> /dev/null) || true
	case $state in
	'' | 'un '* | 'pn '*) ;;
	*) fail "the kincount package is already on this machine (dpkg status '$state'); this test would replace and purge it: remove it first (dpkg -P kincount)" ;;
	esac
	for f in /usr/bin/kincount /usr/bin/kincount-pull /usr/share/man/man1/kincount.1.gz \
		/usr/share/man/man1/kincount-pull.1.gz /usr/share/doc/kincount; do
		[ ! -e "$f" ] || fail "$f is on this machine and belongs to no package; this test would replace and delete it: move it away first"
	done

	# What man finds before: the same after dpkg -P (nothing, or pages from elsewhere).
	local man_status=0 man_before
	man_before=$(man -w -a kincount 2>&1) || man_status=$?

	touch "$INSTALLED_MARK"
	run -0 --separate-stderr dpkg_waiting -i "$DEB"
	assert_line --partial "Setting up kincount ($VERSION)"
	run -0 --separate-stderr dpkg-query -W -f='${db:Status-Abbrev} ${Version}' kincount
	assert_output "ii  $VERSION"

	run -0 --separate-stderr /usr/bin/kincount --version
	assert_output "kincount $VERSION"
	assert_equal "$stderr" ""
	run -0 --separate-stderr man -w -a kincount
	assert_line /usr/share/man/man1/kincount.1.gz
	if dpkg-deb -c "$DEB" | grep -q '/usr/bin/kincount-pull$'; then
		[ -x /usr/bin/kincount-pull ]
		run -0 --separate-stderr man -w -a kincount-pull
		assert_line /usr/share/man/man1/kincount-pull.1.gz
	fi
	# The page as installed reads cleanly.
	run -0 --separate-stderr man -P cat kincount
	assert_line --partial 'turn Kinesis records into counter keys'

	files=$(dpkg -L kincount)
	run -0 --separate-stderr dpkg_waiting -P kincount
	rm -f "$INSTALLED_MARK"
	run -1 --separate-stderr dpkg-query -W kincount
	assert_output ""
	assert_equal "$stderr" "dpkg-query: no packages found matching kincount"
	# Every file and every folder of its own is gone; the shared folders stay.
	while read -r f; do
		case $f in
		/. | /usr | /usr/bin | /usr/share | /usr/share/doc | /usr/share/man | /usr/share/man/man1) [ -d "$f" ] ;;
		*) [ ! -e "$f" ] || fail "$f is left after dpkg -P" ;;
		esac
	done <<< "$files"
	[ -z "$(ls /var/lib/dpkg/info/kincount.* 2> /dev/null)" ] || fail "dpkg keeps $(ls /var/lib/dpkg/info/kincount.*)"
	run -"$man_status" man -w -a kincount
	assert_output "$man_before"
}

@test "dpkg-buildpackage -us -uc -b in the tree, then make deb: git status shows nothing new" {
	local tree=$BATS_TEST_TMPDIR/src/kincount
	copy_tree "$tree"
	run -0 --separate-stderr git -C "$tree" status --porcelain
	assert_output ""
	(cd "$tree" && dpkg-buildpackage -us -uc -b) > "$BATS_TEST_TMPDIR/build.out" 2>&1 ||
		fail "dpkg-buildpackage failed: $(tail -n 20 "$BATS_TEST_TMPDIR/build.out")"
	[ -f "$BATS_TEST_TMPDIR/src/kincount_${VERSION}_$ARCH.deb" ]
	run -0 --separate-stderr git -C "$tree" status --porcelain
	assert_output ""
	make -C "$tree" deb > "$BATS_TEST_TMPDIR/make.out" 2>&1 ||
		fail "make deb failed: $(tail -n 20 "$BATS_TEST_TMPDIR/make.out")"
	[ -f "$tree/kincount_${VERSION}_$ARCH.deb" ]
	run -0 --separate-stderr git -C "$tree" status --porcelain
	assert_output ""
	# The tree still builds and tests as make check does it.
	make -s -C "$tree" kincount > /dev/null
	run -0 --separate-stderr "$tree/kincount" --version
	assert_output "kincount $VERSION"
	# make clean takes make deb's work folder away.
	make -s -C "$tree" clean
	[ ! -e "$tree/build/deb" ]
}

@test "a debian/changelog that disagrees with KC_VERSION fails the build and says both" {
	local tree=$BATS_TEST_TMPDIR/src/kincount
	copy_tree "$tree"
	sed -i "1s/^kincount ($VERSION)/kincount (9.9.9)/" "$tree/debian/changelog"
	[ "$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version)" = 9.9.9 ]
	run -2 --separate-stderr make -C "$tree" deb DEBDIR="$BATS_TEST_TMPDIR/deb" DEBOUT="$BATS_TEST_TMPDIR"
	grep -qxF "debian/rules: kincount --version says 'kincount $VERSION', debian/changelog says 9.9.9" <<< "$stderr" ||
		fail "no message naming both versions in: $stderr"
	[ -z "$(ls "$BATS_TEST_TMPDIR"/kincount_*.deb 2> /dev/null)" ] || fail "a .deb was made"
}

@test "make deb killed mid-way: the next make deb starts afresh and builds the same files" {
	local tree=$BATS_TEST_TMPDIR/src/kincount deb=$BATS_TEST_TMPDIR/deb pid
	copy_tree "$tree"
	# A stale package of another version in the work folder must not survive either.
	mkdir -p "$deb"
	cp "$DEB" "$deb/kincount_0.0.1_$ARCH.deb"
	setsid make -C "$tree" deb DEBDIR="$deb" DEBOUT="$BATS_TEST_TMPDIR" \
		> "$BATS_TEST_TMPDIR/killed.out" 2>&1 &
	pid=$!
	# Killed while it compiles in its copy of the tree.
	wait_until 120 test -e "$deb/kincount/kincount.o" || fail "make deb never compiled"
	kill -KILL -- -"$pid"
	wait "$pid" || true
	[ ! -e "$BATS_TEST_TMPDIR/kincount_${VERSION}_$ARCH.deb" ]
	run -0 --separate-stderr make -C "$tree" deb DEBDIR="$deb" DEBOUT="$BATS_TEST_TMPDIR"
	run -0 --separate-stderr ls "$deb"
	assert_output "kincount-dbgsym_${VERSION}_$ARCH.deb
kincount_${VERSION}_$ARCH.buildinfo
kincount_${VERSION}_$ARCH.changes
kincount_${VERSION}_$ARCH.deb"
	run -0 --separate-stderr files_of "$BATS_TEST_TMPDIR/kincount_${VERSION}_$ARCH.deb"
	assert_output "$(files_of "$DEB")"
}
