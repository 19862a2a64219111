#!/usr/bin/env bash
# Walking 100,000 users through tessera's Graph with $top=999: pages per second and the
# server's CPU time per page. One server, REPS walks over the same directory.
#   bench/graph-paging/run.sh            (TESSERA_BIN, USERS, TOP, REPS override)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${TESSERA_BIN:-/root/tt-target/release/tessera}"
users="${USERS:-100000}"; top="${TOP:-999}"; reps="${REPS:-3}"
[ -x "$bin" ] || { echo "no tessera binary at $bin (cargo build --release -p tessera-cli)" >&2; exit 2; }
data="$(mktemp -d)"; out="$here/results/graph-paging-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p "$here/results"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$data/d" >"$data/serve.out" 2>"$data/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 200); do [ -s "$data/d/demo.json" ] && break; sleep 0.1; done
{
  echo "# host: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), kernel $(uname -r)"
  echo "# tessera: $bin sha256 $(sha256sum "$bin" | cut -c1-16), repo HEAD $(git -C "$here" rev-parse --short HEAD)"
  echo "# users=$users top=$top reps=$reps; client: python3 $(python3 -c 'import sys;print(sys.version.split()[0])') http.client, one keep-alive HTTPS connection, \$select=id,displayName,userPrincipalName"
  echo "# seed: $("$bin" seed users --count "$users" --data-dir "$data/d")"
} | tee "$out"
for rep in $(seq 1 "$reps"); do
  echo "== rep $rep" | tee -a "$out"
  python3 "$here/walk.py" "$data/d/demo.json" "$pid" "$top" "$((users + 1))" | tee -a "$out"
done
echo "# server RSS kB after the walks: $(ps -o rss= -p $pid)" | tee -a "$out"
echo "results: $out"
