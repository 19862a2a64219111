#!/usr/bin/env bash
# Token cache benchmarks, tessera-client against MSAL Python 1.39 and msal-extensions 1.3.1 in
# the same run: exact in-memory hits at 0, 1k, 10k and 100k entries; storing one token into a
# persistent cache of 10k entries; a second process's cold load of that cache.
#   bench/cache/run.sh            (REPS, PY, TESSERA_BIN, CARGO_TARGET_DIR override)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${TESSERA_BIN:-$target/release/tessera}"
rbench="$target/release/examples/cache_bench"
py="${PY:-$repo/.venv/bin/python}"
reps="${REPS:-3}"
[ -x "$bin" ] && [ -x "$rbench" ] || { echo "build first: cargo build --release -p tessera-cli && cargo build --release -p tessera-client --example cache_bench" >&2; exit 2; }
work="$(mktemp -d)"; out="$here/results/cache-$(date -u +%Y%m%dT%H%M%SZ).txt"; mkdir -p "$here/results"
# MSAL needs a reachable authority to build an app; only its cache is timed.
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/srv" >/dev/null 2>&1 &
pid=$!; trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/srv/demo.json" ] && break; sleep 0.1; done
export REQUESTS_CA_BUNDLE="$work/srv/tls/ca.pem"
{
  echo "# host: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), kernel $(uname -r); repo HEAD $(git -C "$repo" rev-parse --short HEAD)"
  echo "# $("$py" -c 'import msal, msal_extensions, sys; print("python", sys.version.split()[0], "msal", msal.__version__, "msal-extensions", msal_extensions.__version__)')"
  echo "# tokens of about 1.5 KB; tessera persistent entries are AES-256-GCM files with fsync; msal-extensions FilePersistence is one plaintext JSON file"
} | tee "$out"
for rep in $(seq 1 "$reps"); do
  echo "== rep $rep" | tee -a "$out"
  for n in 0 1000 10000 100000; do
    "$rbench" hit "$n" | tee -a "$out"
    "$py" "$here/msal_bench.py" hit "$n" "$work/srv/demo.json" | tee -a "$out"
  done
  rm -rf "$work/t" "$work/m"
  "$rbench" store 10000 "$work/t" | tee -a "$out"
  "$py" "$here/msal_bench.py" store 10000 "$work/m" "$work/srv/demo.json" | tee -a "$out"
  "$rbench" cold "$work/t" 10000 | tee -a "$out"
  "$py" "$here/msal_bench.py" cold 10000 "$work/m" "$work/srv/demo.json" | tee -a "$out"
done
echo "results: $out"
