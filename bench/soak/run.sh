#!/usr/bin/env bash
# The long soak with faults (issue 14): mixed traffic at 70% of the capacity measured first in
# the same run, a server SIGKILLed at random intervals and restarted on the same data, the
# invariants checked after every restart and at the end. The soak itself is the integration
# test `soak::long_soak_from_the_environment` (crates/tessera-cli/tests/it/soak/), built in
# release and run with --ignored; the short versions of it run in the normal suite.
#
#   bench/soak/run.sh --minutes 30                                  # SQLite, one server
#   bench/soak/run.sh --minutes 30 --backend postgres               # two replicas, one database
#
# Options (or the SOAK_* variables the test reads): --minutes (30), --backend sqlite|postgres,
# --replicas (1 on SQLite, 2 on PostgreSQL), --workers (8), --load (0.7), --seed,
# --capacity-seconds (60), --tail-seconds (300, the end without kills), --kill-seconds MIN-MAX
# (30-150), --down-seconds MIN-MAX (0-3). PostgreSQL: TESSERA_TEST_POSTGRES (default
# postgres://postgres@127.0.0.1:5432/postgres, trust authentication); the soak makes its own
# database (tessera_soak_<pid>_<nanos>) and drops it after.
# Results: results/soak-<backend>-<UTC stamp>.txt (OUT overrides): the run's figures, the
# host, and how busy the machine was with other work (load average and rustc processes,
# sampled every 10 s).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
die() { echo "run.sh: $*" >&2; exit 2; }

export SOAK_MINUTES=${SOAK_MINUTES:-30}
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value"
  case $1 in
    --minutes) export SOAK_MINUTES=$2 ;;
    --backend) export SOAK_BACKEND=$2 ;;
    --replicas) export SOAK_REPLICAS=$2 ;;
    --workers) export SOAK_WORKERS=$2 ;;
    --load) export SOAK_LOAD=$2 ;;
    --seed) export SOAK_SEED=$2 ;;
    --capacity-seconds) export SOAK_CAPACITY_SECONDS=$2 ;;
    --tail-seconds) export SOAK_TAIL_SECONDS=$2 ;;
    --kill-seconds) export SOAK_KILL_SECONDS=$2 ;;
    --down-seconds) export SOAK_DOWN_SECONDS=$2 ;;
    *) die "unknown option $1 (see the top of this file)" ;;
  esac
  shift 2
done
backend=${SOAK_BACKEND:-sqlite}
case $backend in sqlite | postgres) ;; *) die "--backend sqlite or postgres" ;; esac
if [ "$backend" = postgres ]; then
  command -v psql >/dev/null || die "psql not found (the soak makes and drops its database with it)"
  export TESSERA_REQUIRE_POSTGRES=1
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
export SOAK_OUT=${OUT:-$here/results/soak-$backend-$stamp.txt}

# The test binary, in release (the tessera binary it starts is target/release/tessera).
cd "$repo"
build_log="$(mktemp)"
bin=$(cargo test --release -p tessera-cli --test integration --no-run --message-format=json 2>"$build_log" |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "integration" and m.get("executable"):
        print(m["executable"])') || true
if [ ! -x "$bin" ]; then
  tail -n 30 "$build_log" >&2
  die "the release build of the integration tests failed (cargo test --release -p tessera-cli --test integration --no-run)"
fi
rm -f "$build_log"
# Copies of both binaries: other builds in the shared target directory cannot swap the server
# (started again after every kill) or the test under a running soak.
scratch="$(mktemp -d)"
sampler=""
trap '[ -z "$sampler" ] || kill $sampler 2>/dev/null || true; rm -rf "$scratch"' EXIT
cp "$bin" "$scratch/soak-tests"
cp "$repo/target/release/tessera" "$scratch/tessera"
export SOAK_TESSERA_BIN="$scratch/tessera"
mkdir -p "$(dirname "$SOAK_OUT")"
: >"$SOAK_OUT"
out() { printf '%s\n' "$*" | tee -a "$SOAK_OUT"; }

out "# soak started $(date -u +%Y-%m-%dT%H:%M:%SZ), backend $backend, $SOAK_MINUTES minutes"
out "# host: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1), kernel $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
out "# tessera: $repo/target/release/tessera (run from a copy) sha256 $(sha256sum "$SOAK_TESSERA_BIN" | cut -c1-16), repo HEAD $(git -C "$repo" rev-parse --short HEAD) ($(git -C "$repo" status --porcelain | wc -l) paths changed in the tree)"
out "# settings: $(env | grep '^SOAK_' | grep -v '^SOAK_OUT=\|^SOAK_TESSERA_BIN=' | sort | tr '\n' ' ')"

# How busy the machine is with other work, every 10 s: load average and rustc processes.
samples="$scratch/samples"
( while :; do
    printf '%s %s\n' "$(cut -d' ' -f1 /proc/loadavg)" "$(pgrep -c -x rustc || true)" >>"$samples"
    sleep 10
  done ) &
sampler=$!

rc=0
"$scratch/soak-tests" soak::long_soak_from_the_environment --exact --ignored --nocapture --test-threads 1 || rc=$?

kill $sampler 2>/dev/null || true
out "# machine while it ran: $(awk '{ n++; l += $1; if ($2 > 0) busy++ } END { if (n) printf "loadavg mean %.2f over %d samples; rustc running in %d of them (%.0f%%)", l / n, n, busy, 100 * busy / n }' "$samples")"
out "# finished $(date -u +%Y-%m-%dT%H:%M:%SZ), exit $rc ($([ $rc -eq 0 ] && echo 'every invariant held' || echo 'FAILED: see the VIOLATION lines above'))"
echo "results: $SOAK_OUT"
exit $rc
