#!/usr/bin/env bash
# Memory of `tessera serve` holding 10,000 idle TLS connections: starts a fresh release
# server per mode, reads its RSS at rest, opens COUNT connections with the helper in this
# folder (src/main.rs), reads the RSS with all of them open, watches when the server ends
# them, and reads the RSS again after they are closed. Figures go to RELIABILITY.md.
#
#   bench/idle-connections/run.sh            # COUNT=10000, MODES="handshake request"
#
# Modes: `handshake` completes the TLS handshake and sends nothing; `request` has a
# GET /health answered on each connection (again every 7 s until all COUNT are open, so that
# none meets the 10-second idle limit before the memory is read), after which each idles as an
# HTTP/1.1 keep-alive connection. Knobs: COUNT, MODES, WAVES (1: how many times COUNT connections are opened and
# ended against the same server, to see whether memory is reused), PORT (39444), TESSERA_BIN
# (target/release/tessera, built if absent), OUT (results/idle-connections-<UTC>.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
COUNT=${COUNT:-10000}
MODES=${MODES:-"handshake request"}
WAVES=${WAVES:-1}
PORT=${PORT:-39444}
TESSERA_BIN=${TESSERA_BIN:-$repo/target/release/tessera}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$here/results/idle-connections-$stamp.txt}

# Each end (two processes) holds COUNT descriptors plus its own: raise the soft limit to the
# hard one, which must leave room.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
if [ "$(ulimit -n)" -lt $(( COUNT + 1000 )) ]; then
  echo "run.sh: the open-file limit is $(ulimit -n); $(( COUNT + 1000 )) are needed (raise the hard limit: ulimit -Hn, limits.conf)" >&2
  exit 2
fi

if [ ! -x "$TESSERA_BIN" ]; then
  (cd "$repo" && cargo build --release -p tessera-cli)
fi
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$repo/target"
helper="$repo/target/release/tessera-idle-connections"

mkdir -p "$(dirname "$OUT")"
{
  echo "# idle TLS connections, $stamp, $(nproc) cores, $(uname -r)"
  echo "# tessera: $("$TESSERA_BIN" --version 2>/dev/null || echo "$TESSERA_BIN") ($(cd "$repo" && git describe --always --dirty))"
} | tee "$OUT"

server_pid=""
stop() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=""; }
trap stop EXIT

for mode in $MODES; do
  data=$(mktemp -d)
  "$TESSERA_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$data" >"$data/serve.log" 2>&1 &
  server_pid=$!
  ca=""
  for _ in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$data/serve.log" >&2; exit 1; }
    if [ -z "$ca" ] && [ -f "$data/demo.json" ]; then
      ca=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_cert"])' "$data/demo.json" 2>/dev/null || true)
    fi
    [ -n "$ca" ] && curl -sf -o /dev/null --cacert "$ca" "https://127.0.0.1:$PORT/health" && break
    sleep 0.2
  done
  [ -n "$ca" ] || { echo "run.sh: the server wrote no demo.json" >&2; exit 1; }
  # A few requests first, so "at rest" is a server that has served, not a cold one.
  for _ in 1 2 3; do curl -sf -o /dev/null --cacert "$ca" "https://127.0.0.1:$PORT/health"; done
  sleep 2
  for wave in $(seq 1 "$WAVES"); do
    echo "wave $wave" | tee -a "$OUT"
    "$helper" "127.0.0.1:$PORT" "$ca" "$server_pid" "$COUNT" "$mode" | tee -a "$OUT"
  done
  stop
  rm -rf "$data"
done
echo "results: $OUT"
