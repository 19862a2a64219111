#!/usr/bin/env bash
# Walking 100,000 users through `tessera serve`'s Graph with $top=999: `tessera graph get
# /users --all --output jsonl > FILE` against msgraph-sdk's PageIterator (walk_msgraph.py),
# whole processes, alternating, in the same run. Goal: tessera at least 5x faster.
#   bench/graph-walk/run.sh          (USERS, REPS, TESSERA_BIN, PYTHON override)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
bin="${TESSERA_BIN:-${CARGO_TARGET_DIR:-/root/tt-target}/release/tessera}"
users="${USERS:-100000}"; reps="${REPS:-3}"
[ -x "$bin" ] || { echo "no tessera binary at $bin (cargo build --release -p tessera-cli)" >&2; exit 2; }

# The peer's venv, (re)made when requirements.txt changes.
venv="$here/.venv"; req="$here/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.requirements.sha256"
fi
py="$venv/bin/python"

work="$(mktemp -d)"; out="$here/results/graph-walk-$(date -u +%Y%m%dT%H%M%SZ).txt"; mkdir -p "$here/results"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/srv" >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do [ -s "$work/srv/demo.json" ] && break; sleep 0.1; done
demo="$work/srv/demo.json"
export REQUESTS_CA_BUNDLE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_cert"])' "$demo")"
export SSL_CERT_FILE="$REQUESTS_CA_BUNDLE"
export BENCH_CLIENT_SECRET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["daemon"]["client_secret"])' "$demo")"
unset RUST_LOG

{
  echo "# host: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), kernel $(uname -r), $(free -g | awk '/^Mem:/{print $2}') GiB; loadavg at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# tessera: $bin sha256 $(sha256sum "$bin" | cut -c1-16) built $(date -u -r "$bin" +%Y-%m-%dT%H:%M:%SZ), '$("$bin" --version)', built from ${TESSERA_BUILT_FROM:-the work tree at repo HEAD $(git -C "$repo" rev-parse --short HEAD)}, RUST_LOG unset"
  echo "# peer: $("$py" -c 'import sys; from importlib.metadata import version as v; print("python", sys.version.split()[0], *[f"{p} {v(p)}" for p in ("msgraph-sdk", "msgraph-core", "microsoft-kiota-http", "microsoft-kiota-serialization-json", "azure-identity", "msal", "httpx", "h2")])'), bench/graph-walk/walk_msgraph.py"
  echo "# users=$users (+ the demo tenant's own), \$top=999, no \$select, reps=$reps; tessera writes every user as a JSON line (--output jsonl > file); msgraph-sdk keeps every User object in a list and writes id+UPN lines at the end; both processes get their own token (tessera --no-cache; azure-identity's cache lives in the process)"
  echo "# seed: $("$bin" seed users --count "$users" --data-dir "$work/srv")"
} | tee "$out"
# Expected: the seeded users and the demo tenant's one user (demo.json's "user").
"$py" "$here/measure.py" "$demo" "$pid" "$bin" "$py" "$reps" "$((users + 1))" "$work" | tee -a "$out"
echo "# server RSS kB after the walks: $(ps -o rss= -p $pid); loadavg at end $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
echo "results: $out"
