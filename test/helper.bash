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
