#!/usr/bin/env bash
# Signed SAML responses per server CPU-second, against the RSA-2048 signing bound
# (`openssl speed rsa2048`, one process = one core), as bench/token-throughput does for tokens.
#
# Each rep starts `tessera serve` (release build) fresh with one SAML app and one user, signs
# the user in once through the pages (signin.py), then `wrk -t1 -c$CONNS -d${DUR}s` repeats an
# SP-initiated Redirect-binding AuthnRequest with the SSO session's cookie: every request is
# inflated, parsed, matched to the app, and answered with a newly built, exclusive-c14n'd,
# RSA-SHA256-signed assertion in an auto-posting form. The server's CPU time comes from
# /proc/PID/stat. Results: $OUT (default results/saml-throughput-<UTC stamp>.txt).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
CONNS=${CONNS:-32}
DUR=${DUR:-10}
WARMUP=${WARMUP:-3}
PORT=${PORT:-39543}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-5}
TESSERA_BIN=${TESSERA_BIN:-$HERE/../../target/release/tessera}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$HERE/results/saml-throughput-$STAMP.txt}
TENANT=51515151-3434-5656-7878-909090909090
APP=b2b2b2b2-3434-5656-7878-909090909090
ENTITY=urn:bench:sp
USER=bench@saml.example
PASSWORD=Bench-Pass-12345

die() { echo "run.sh: $*" >&2; exit 1; }
out() { printf '%s\n' "$*" | tee -a "$OUT"; }
for tool in wrk openssl python3 getconf; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $TESSERA_BIN ]] || die "no tessera binary at $TESSERA_BIN (cargo build --release -p tessera-cli, or set TESSERA_BIN)"
CLK_TCK=$(getconf CLK_TCK)
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

cpu_ticks() { local s; s=$(<"/proc/$1/stat"); s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
fdiv() { awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN { if (b + 0 == 0) print "nan"; else printf f "\n", a / b }'; }

SERVER_PID=""; DATA_DIR=""
stop_server() {
  [[ -n $SERVER_PID ]] && { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
  [[ -n $DATA_DIR ]] && { rm -rf -- "$DATA_DIR"; DATA_DIR=""; }
}
trap stop_server EXIT

out "# saml-throughput $STAMP  $(uname -m)  $(nproc) cpus  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
out "# tessera $($TESSERA_BIN --version 2>/dev/null || echo '?')  reps=$REPS conns=$CONNS dur=${DUR}s warmup=${WARMUP}s"
for rep in $(seq 1 "$REPS"); do
  DATA_DIR=$(mktemp -d)
  cat >"$DATA_DIR/bench.toml" <<TOML
[[tenants]]
id = "$TENANT"
domain = "saml.example"
display_name = "SAML bench"

[[tenants.applications]]
client_id = "$APP"
display_name = "bench SP"
identifier_uris = ["$ENTITY"]
redirect_uris = ["https://sp.example/acs"]

[[tenants.users]]
user_principal_name = "$USER"
display_name = "Bench User"
password = "$PASSWORD"
TOML
  "$TESSERA_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA_DIR/data" --config "$DATA_DIR/bench.toml" --no-demo >"$DATA_DIR/log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do [[ -s $DATA_DIR/data/tls/ca.pem ]] && grep -q listening "$DATA_DIR/log" && break; sleep 0.1; done
  grep -q listening "$DATA_DIR/log" || die "tessera did not start: $(tail -5 "$DATA_DIR/log")"
  mapfile -t S < <(python3 "$HERE/signin.py" "https://127.0.0.1:$PORT" "$TENANT" "$APP" "$ENTITY" "$USER" "$PASSWORD" "$DATA_DIR/data/tls/ca.pem")
  COOKIE=${S[0]}; URL=${S[1]}
  curl -sf --cacert "$DATA_DIR/data/tls/ca.pem" -H "$COOKIE" "$URL" | grep -q 'name="SAMLResponse"' || die "the bench URL does not answer a SAML response"
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" -H "$COOKIE" "$URL" >/dev/null
  t0=$(cpu_ticks "$SERVER_PID")
  res=$(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -H "$COOKIE" "$URL")
  t1=$(cpu_ticks "$SERVER_PID")
  n=$(awk '/requests in/ { print $1 }' <<<"$res")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$res"); non2xx=${non2xx:-0}
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$res"); p99=$(awk '$1 == "99%" { print $2 }' <<<"$res")
  cpu=$(fdiv $(( t1 - t0 )) "$CLK_TCK")
  out "rep=$rep responses=$n non2xx=$non2xx per_s=$(fdiv "$n" "$DUR" %.0f) server_cpu_s=$cpu per_cpu_s=$(fdiv "$n" "$cpu" %.0f) p50=$p50 p99=$p99"
  stop_server
done
# Column positions from the header line ("sign verify sign/s verify/s"), as token-throughput reads them.
signs=$(openssl speed -seconds "$OPENSSL_SECONDS" rsa2048 2>/dev/null | awk '
  /sign\/s/ { for (i = 1; i <= NF; i++) col[$i] = i }
  $1 == "rsa" && $2 == "2048" && $3 == "bits" { printf "%.0f\n", $(3 + col["sign/s"]) }')
[[ -n $signs ]] || die "could not read openssl speed's rsa2048 sign/s"
out "openssl_rsa2048_sign_per_s_one_core=$signs"
python3 - "$OUT" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
per = [int(x) for x in re.findall(r"per_cpu_s=(\d+)", text)]
bound = int(re.search(r"one_core=(\d+)", text).group(1))
m = statistics.median(per)
line = f"median signed responses per server CPU-second {m:.0f} (reps {per}); RSA-2048 bound {bound}/s; ratio {m / bound:.2f}"
print(line)
open(sys.argv[1], "a").write(line + "\n")
PY
