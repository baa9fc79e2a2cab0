#!/usr/bin/env bash
# bench/collide.sh: hash flooding.  Times `kincount -c -f json -k '{u}'` on N keys that all
# share the lowest 17 bits of the count table's hash as it was before issue 7 (made by
# bench/collide.c, by brute force: about 6 s for 30,000 keys on one core) and on N random
# keys of the same shape.  With the keyed hash both take about the same CPU time; with the
# old unkeyed hash the colliding keys cost quadratically more.
#
# Environment: KINCOUNT (default ./kincount), KINCOUNT_OLD (a second binary to compare,
# e.g. one built from commit d8afe28), COLLIDE_KEYS (30000), BENCH_WORK (bench/work).
set -eu -o pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
KINCOUNT=${KINCOUNT:-$ROOT/kincount}
WORK=${BENCH_WORK:-$ROOT/bench/work}
N=${COLLIDE_KEYS:-30000}
case $N in '' | *[!0-9]*) echo "bench: COLLIDE_KEYS: not a number: '$N'" >&2; exit 2 ;; esac
mkdir -p "$WORK"
if [ ! -x "$WORK/collide" ] || [ bench/collide.c -nt "$WORK/collide" ]; then
	cc -O2 -o "$WORK/collide" bench/collide.c
fi
if [ ! -s "$WORK/collide-$N.jsonl" ]; then
	echo "bench: searching $N colliding keys (brute force)..." >&2
	"$WORK/collide" "$N" > "$WORK/collide-$N.tmp"
	mv "$WORK/collide-$N.tmp" "$WORK/collide-$N.jsonl"
fi
"$WORK/collide" -r "$N" > "$WORK/random-$N.jsonl"

# cpu BINARY FILE: user+system seconds of one run, best of three.
cpu() {
	python3 - "$@" <<-'PY'
	import resource, subprocess, sys
	best = None
	for _ in range(3):
	    before = resource.getrusage(resource.RUSAGE_CHILDREN)
	    subprocess.run([sys.argv[1], "-c", "-f", "json", "-k", "{u}", sys.argv[2]],
	                   stdout=subprocess.DEVNULL, check=True)
	    after = resource.getrusage(resource.RUSAGE_CHILDREN)
	    t = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
	    best = t if best is None else min(best, t)
	print("%.3f" % best)
	PY
}

printf '%-40s %12s %12s\n' binary "colliding" random
for bin in "$KINCOUNT" ${KINCOUNT_OLD:+"$KINCOUNT_OLD"}; do
	printf '%-40s %11ss %11ss\n' "$bin" "$(cpu "$bin" "$WORK/collide-$N.jsonl")" \
		"$(cpu "$bin" "$WORK/random-$N.jsonl")"
done
