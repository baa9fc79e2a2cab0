# Sourced by bench/run.sh and bench/lambda.sh (which define say).
# need CHECK PACKAGE...: pairs of "command (or test) / Debian package"; installs the
# missing ones with apt-get when root, else prints what to install and fails.
APT_UPDATED=
need() {
	local missing=() check pkg
	while [ $# -ge 2 ]; do
		check=$1 pkg=$2
		shift 2
		case $check in
		/*) [ -x "$check" ] || missing+=("$pkg") ;;
		pc:*) pkg-config --exists "${check#pc:}" 2>/dev/null || missing+=("$pkg") ;;
		*) command -v "$check" >/dev/null 2>&1 || missing+=("$pkg") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "missing tools; install them with: apt-get install ${missing[*]}"
		return 1
	fi
	say "installing ${missing[*]}"
	if [ -z "$APT_UPDATED" ]; then
		apt-get update -qq >&2 || return 1
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
}
