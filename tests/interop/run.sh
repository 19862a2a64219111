#!/usr/bin/env bash
# Run the interop suite by hand against a freshly started `tessera serve`.
# (The Rust integration test does the same thing for CI.)
#
#   TESSERA_BIN=path/to/tessera PY=path/to/python tests/interop/run.sh [pytest args]
#
# PY must have tests/interop/requirements.txt installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${TESSERA_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/tessera}"
py="${PY:-python3}"
[ -x "$bin" ] || { echo "run.sh: no tessera binary at $bin (set TESSERA_BIN)" >&2; exit 2; }

data="$(mktemp -d)"
log="$data/server.log"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

for _ in $(seq 1 300); do
  [ -s "$data/demo.json" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "run.sh: tessera exited early:" >&2; cat "$log" >&2; exit 2; }
  sleep 0.1
done
[ -s "$data/demo.json" ] || { echo "run.sh: no demo.json after 30 s" >&2; cat "$log" >&2; exit 2; }
sleep 0.2  # let a non-atomic writer finish

ca="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_cert"])' "$data/demo.json")"
authority="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["authority"])' "$data/demo.json")"
base="$("$py" -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.scheme+"://"+p.netloc)' "$authority")"

cd "$repo"
TESSERA_DEMO_JSON="$data/demo.json" REQUESTS_CA_BUNDLE="$ca" SSL_CERT_FILE="$ca" \
TESSERA_BASE_URL="$base" PYTHONDONTWRITEBYTECODE=1 \
  "$py" -m pytest -q tests/interop "$@"
