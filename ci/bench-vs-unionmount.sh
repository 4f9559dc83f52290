#!/usr/bin/env bash
# ovlcheck's bench and the kernel's unionmount-testsuite side by side, in one run: ROUNDS
# rounds of `npm run bench` with one worker, with --jobs 2, and one default pass of
# unionmount-testsuite (`./run --ov`, every test), in turn, so that the machine's drift hits
# all three alike. Prints each round and the min / median / max of each figure.
#
#   ci/bench-vs-unionmount.sh UNIONMOUNT_TESTSUITE_DIR [ROUNDS]   (as root, from the repo root, after npm run build)
#
# unionmount-testsuite checks errno and existence per operation (README, "Benchmark"); its
# operations are counted from its own trace: every one is echoed as a " ./run --OP ..." line.
# Its layers go on tmpfs mounts in a private mount namespace, so nothing outlives a pass.
set -euo pipefail
umts=$(cd "${1:?usage: $0 UNIONMOUNT_TESTSUITE_DIR [ROUNDS]}" && pwd)
rounds=${2:-5}
[ -x "$umts/run" ] || { echo "$0: $umts/run: not unionmount-testsuite's run script" >&2; exit 2; }
scratch=$(mktemp -d /tmp/ovlcheck-vs-umts.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch" # its tests open files as uid 1, which must pass through here

# One pass of unionmount-testsuite; prints "SECONDS OPS".
umts_pass() {
  local dir log t0 t1
  dir=$(mktemp -d "$scratch/pass.XXXXXX")
  chmod 755 "$dir"
  mkdir "$dir/lower" "$dir/base" "$dir/mnt"
  log="$dir/log"
  t0=$(date +%s.%N)
  # Its own cleanup unmounts tmpfs mounts named lower_layer/upper_layer: ours are named otherwise.
  UNIONMOUNT_LOWERDIR="$dir/lower" UNIONMOUNT_BASEDIR="$dir/base" UNIONMOUNT_MNTPOINT="$dir/mnt" \
    unshare --mount --propagation private bash -c \
    'mount -t tmpfs vs-lower "$UNIONMOUNT_LOWERDIR" && mount -t tmpfs vs-base "$UNIONMOUNT_BASEDIR" && cd "$0" && exec ./run --ov' \
    "$umts" >"$log" 2>&1 || { echo "$0: a unionmount-testsuite pass failed:" >&2; tail -5 "$log" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l) $(grep -ac '^ ./run --' "$log")"
  rm -rf "$dir"
}

bench_rate() { # checked steps/s of one `npm run bench` (args: its flags)
  node dist/properties/bench.js "$@" | awk '/checked steps\/s/ { print $3 }'
}

stats() { sort -g | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "min %.0f  median %.0f  max %.0f\n", a[1], m, a[NR] }'; }

echo "kernel $(uname -r), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
one=() two=() um=()
for i in $(seq 1 "$rounds"); do
  one+=("$(bench_rate)")
  two+=("$(bench_rate --jobs 2)")
  read -r secs ops < <(umts_pass)
  um+=("$(echo "$ops / $secs" | bc -l)")
  printf 'round %d: ovlcheck 1 worker %s, 2 workers %s checked steps/s; unionmount-testsuite %.0f ops/s (%d ops in %.2f s)\n' \
    "$i" "${one[-1]}" "${two[-1]}" "${um[-1]}" "$ops" "$secs"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'ovlcheck, 1 worker (checked steps/s):      '; printf '%s\n' "${one[@]}" | stats
printf 'ovlcheck, --jobs 2 (checked steps/s):      '; printf '%s\n' "${two[@]}" | stats
printf 'unionmount-testsuite --ov (operations/s):  '; printf '%s\n' "${um[@]}" | stats
