#!/usr/bin/env bash
# The managed identity endpoint (`tessera agent`, the same code as `tessera exec`'s), measured
# two ways in one run:
#  1. a new Python process getting a Graph token with azure-identity's
#     ManagedIdentityCredential through the endpoint, against the same process with
#     ClientSecretCredential, which asks `tessera serve` every time (farm-bench, pairs A/B);
#  2. the endpoint's own latency for a cache hit: wrk -t1 -c1 (one request at a time) on
#     loopback for $DUR s, its percentiles (goal: p99 <= 1 ms).
# Results: $OUT (default results/identity-endpoint-<UTC stamp>.txt).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TESSERA_BIN=${TESSERA_BIN:-$REPO/target/release/tessera}
PY=${PY:-$REPO/.venv/bin/python}
RUNS=${RUNS:-15}
DUR=${DUR:-10}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$HERE/results/identity-endpoint-$STAMP.txt}
die() { echo "run.sh: $*" >&2; exit 1; }
for tool in wrk farm-bench jq; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $TESSERA_BIN ]] || die "no tessera at $TESSERA_BIN (cargo build --release -p tessera-cli)"
[[ -x $PY ]] || die "no Python venv at $PY (scripts/test makes .venv)"
W=$(mktemp -d); mkdir -p "$W/home" "$W/run"
SERVER=""; AGENT=""
cleanup() { [[ -n $AGENT ]] && kill "$AGENT" 2>/dev/null; [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$(dirname "$OUT")"; : >"$OUT"
out() { printf '%s\n' "$*" | tee -a "$OUT"; }

"$TESSERA_BIN" serve --listen 127.0.0.1:0 --data-dir "$W/data" >"$W/server.log" 2>&1 & SERVER=$!
for _ in $(seq 1 300); do [[ -s $W/data/demo.json ]] && break; sleep 0.1; done
D=$W/data/demo.json
export BENCH_SECRET; BENCH_SECRET=$(jq -r .daemon.client_secret "$D")
export REQUESTS_CA_BUNDLE; REQUESTS_CA_BUNDLE=$(jq -r .ca_cert "$D")
HOME=$W/home XDG_RUNTIME_DIR=$W/run "$TESSERA_BIN" agent --listen 127.0.0.1:0 \
  --authority "$(jq -r .authority "$D")" --client-id "$(jq -r .daemon.client_id "$D")" \
  --client-secret-env BENCH_SECRET --ca-cert "$REQUESTS_CA_BUNDLE" >"$W/agent.log" 2>&1 & AGENT=$!
for _ in $(seq 1 300); do [[ -s $W/run/tessera/agent.json ]] && break; sleep 0.1; done
eval "$(HOME=$W/home XDG_RUNTIME_DIR=$W/run "$TESSERA_BIN" agent env)"
export IDENTITY_ENDPOINT IDENTITY_HEADER MSI_ENDPOINT MSI_SECRET AZURE_POD_IDENTITY_AUTHORITY_HOST
"$PY" "$HERE/mi_token.py" mi   # warms the agent's cache: the rest are cache hits

out "# identity-endpoint $STAMP  $(nproc) cpus  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
out "# azure-identity $("$PY" -c 'import azure.identity as a; print(a.__version__)'), runs=$RUNS, wrk ${DUR}s"
out "## a new Python process, one Graph token: A = ManagedIdentityCredential via tessera agent, B = ClientSecretCredential"
farm-bench -n "$RUNS" --warmup 2 --timeout 600 \
  --vs "$PY $HERE/mi_token.py secret $(jq -r .authority "$D") $(jq -r .daemon.client_id "$D") BENCH_SECRET" \
  -- "$PY" "$HERE/mi_token.py" mi 2>&1 | tee -a "$OUT"
out "## the endpoint alone, cache hits, one request at a time (wrk -t1 -c1 -d${DUR}s)"
wrk -t1 -c1 -d"${DUR}s" --latency -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" \
  "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://graph.microsoft.com" 2>&1 | tee -a "$OUT"
upstream=$(grep -c 'source="upstream"' "$W/agent.log" || true)
out "# upstream token requests by the agent over the whole run: $upstream"
