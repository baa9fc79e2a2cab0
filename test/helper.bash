# Loaded by every test file: bats-support, bats-assert, the binary under test, a fixed locale
# and time zone, and small helpers shared by the topic files.
bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

KINCOUNT=${KINCOUNT:-$BATS_TEST_DIRNAME/../kincount}
FIXTURES=${FIXTURES:-$BATS_TEST_DIRNAME/../fixtures}
export LC_ALL=C TZ=UTC
unset REDISCLI_AUTH

# b64 TEXT: the standard base64 of TEXT, on one line (coreutils, independent of kincount).
b64() {
	printf '%s' "$1" | base64 -w0
}

# lambda_event SEQ PAYLOAD [ARRIVAL]: one Lambda event with one record, on one line.
lambda_event() {
	local seq=$1 data arrival=${3:-1450310400.5}
	data=$(b64 "$2")
	printf '{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk-%s","sequenceNumber":"%s","data":"%s","approximateArrivalTimestamp":%s},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:%s","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/r","awsRegion":"us-east-1","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}]}\n' \
		"$seq" "$seq" "$data" "$arrival" "$seq"
}

# in_syscall PID NAME...: true while PID sits in one of the system calls NAME (read, write,
# sendto, poll), from /proc/PID/syscall; so a test can wait until kincount is blocked instead
# of sleeping and hoping.
in_syscall() {
	local pid=$1 nr name
	shift
	read -r nr _ < "/proc/$pid/syscall" 2>/dev/null || return 1
	for name; do
		case $(uname -m):$name in
		x86_64:read) [ "$nr" = 0 ] && return 0 ;;
		x86_64:write) [ "$nr" = 1 ] && return 0 ;;
		x86_64:sendto) [ "$nr" = 44 ] && return 0 ;;
		x86_64:poll) [ "$nr" = 7 ] || [ "$nr" = 271 ] && return 0 ;;
		aarch64:read) [ "$nr" = 63 ] && return 0 ;;
		aarch64:write) [ "$nr" = 64 ] && return 0 ;;
		aarch64:sendto) [ "$nr" = 206 ] && return 0 ;;
		aarch64:poll) [ "$nr" = 73 ] && return 0 ;;
		*:read | *:write | *:sendto | *:poll) ;;
		*) fail "in_syscall: no number for $name on $(uname -m)" ;;
		esac
	done
	return 1
}

# sockets_of PID: the inodes of the sockets PID has open, sorted, on one line.
sockets_of() {
	local f l out=()
	for f in /proc/"$1"/fd/*; do
		l=$(readlink "$f" 2>/dev/null) || continue
		[[ $l == socket:* ]] && out+=("$l")
	done
	printf '%s\n' "${out[@]}" | sort | tr '\n' ' '
}

# sockets_changed PID OLD: true once PID has a socket and its sockets are not OLD (it has
# connected again).
sockets_changed() {
	local now
	now=$(sockets_of "$1")
	[ -n "${now// /}" ] && [ "$now" != "$2" ]
}

# unread FD: how many bytes wait in the pipe or fifo open on FD (FIONREAD), unread.
unread() {
	python3 -c 'import fcntl, struct, sys, termios
print(struct.unpack("i", fcntl.ioctl(int(sys.argv[1]), termios.FIONREAD, b"\0" * 4))[0])' "$1"
}

# idle_on PID FD: true when PID waits for input (in poll or read) and nothing is left unread
# in the pipe written through FD: it has read and handled everything sent so far.
idle_on() {
	in_syscall "$1" poll read && [ "$(unread "$2")" = 0 ] && in_syscall "$1" poll read
}

# wait_until SECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds; false after
# SECONDS.
wait_until() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 50; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}

# --- the Lambda Runtime API emulator (test/lambda-emu.py) ------------------------------------

# emu_start [OPTION...]: the emulator on the folder $BATS_TEST_TMPDIR/emu (EMU), its pid in
# EMU_PID, AWS_LAMBDA_RUNTIME_API exported; waits (at most 10 s) until it listens.  Stop it
# with emu_stop (from teardown).
emu_start() {
	EMU=$BATS_TEST_TMPDIR/emu
	mkdir -p "$EMU"
	rm -f "$EMU/addr"
	python3 "$BATS_TEST_DIRNAME/lambda-emu.py" "$@" "$EMU" >>"$EMU/stderr" 2>&1 3>&- &
	EMU_PID=$!
	if ! wait_until 10 test -s "$EMU/addr"; then
		fail "the emulator did not start: $(cat "$EMU/stderr")"
		return 1
	fi
	AWS_LAMBDA_RUNTIME_API=$(cat "$EMU/addr")
	export AWS_LAMBDA_RUNTIME_API
}

# emu_stop: ends the emulator, if it runs, and reaps it.
emu_stop() {
	if [ -n "${EMU_PID:-}" ]; then
		kill -TERM "$EMU_PID" 2>/dev/null || true
		wait "$EMU_PID" 2>/dev/null || true
		EMU_PID=
	fi
}

# emu_queue NAME FILE [DEADLINE_MS [ID]]: queues the event FILE as NAME (served in name order),
# sidecars first and the event last, by a rename, so the emulator never sees half of it.
emu_queue() {
	[ -z "${3:-}" ] || printf '%s\n' "$3" > "$EMU/queue/$1.deadline"
	[ -z "${4:-}" ] || printf '%s\n' "$4" > "$EMU/queue/$1.id"
	cp "$2" "$EMU/queue/.$1.tmp"
	mv "$EMU/queue/.$1.tmp" "$EMU/queue/$1.json"
}

# emu_queue_lines PREFIX FILE: queues every line of FILE as its own event PREFIX-NNNN.
emu_queue_lines() {
	local i=0 line
	while IFS= read -r line; do
		printf '%s\n' "$line" > "$BATS_TEST_TMPDIR/.line"
		emu_queue "$(printf '%s-%04d' "$1" "$i")" "$BATS_TEST_TMPDIR/.line"
		i=$((i + 1))
	done < "$2"
}

# emu_rid NAME: the request id the served event NAME was given.
emu_rid() {
	cat "$EMU/served/$1.rid"
}

# emu_answered NAME: true once the served event NAME has an answer (response or error).
emu_answered() {
	local rid
	rid=$(cat "$EMU/served/$1.rid" 2>/dev/null) || return 1
	[ -e "$EMU/out/$rid.response" ] || [ -e "$EMU/out/$rid.error" ]
}

# emu_out NAME KIND: the stored answer of event NAME; KIND is response, error, headers or
# ms_before_deadline.
emu_out() {
	cat "$EMU/out/$(emu_rid "$1").$2"
}

# unix_sockets_of PID: the inodes of the Unix-domain sockets PID has open, sorted, on one line
# (so a Redis connection on a Unix socket is told from HTTP on TCP).
unix_sockets_of() {
	local s
	for s in $(sockets_of "$1"); do
		s=${s#socket:[}
		s=${s%]}
		awk -v i="$s" 'NR > 1 && $7 == i { print i }' /proc/net/unix
	done | sort | tr '\n' ' '
}
