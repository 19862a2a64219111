#!/usr/bin/env bash
# Side-by-side client_credentials token throughput on loopback:
#   peer       node-oidc-provider, RS256 JWT access tokens, plain HTTP (the canonical peer setup)
#   peer-https the same node-oidc-provider configuration over HTTPS (peer-https.mjs, ECDSA P-256 cert)
#   tessera    HTTPS (its only mode)
#   tessera-prev  another tessera build ($TESSERA_PREV_BIN), e.g. the previous commit's, so a
#              change is measured against what it replaces in the same run
# plus `openssl speed rsa2048` (one process = one core) as the RSA-2048 signing bound.
#
# Each rep runs every server in $SERVERS (the order rotates by one place per rep), each started
# fresh, warmed up, measured with `wrk -t1 -c$CONNS -d${DUR}s`, then stopped by PID; then
# openssl speed runs once.
# Raw results go to $OUT (default results/token-throughput-<UTC stamp>.txt); summarise with
#   python3 summarize.py <file>
# Setup and the meaning of each number: README.md beside this file.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
CONNS=${CONNS:-32}
DUR=${DUR:-10}                 # measured seconds per run
WARMUP=${WARMUP:-3}            # warm-up seconds per run (not recorded)
SERVERS=${SERVERS:-"peer peer-https tessera"}
SCRATCH=${SCRATCH:-/root/bench-scratch}
PEER_DIR=${PEER_DIR:-/work/shared/bench/oidc-provider}
TESSERA_BIN=${TESSERA_BIN:-/root/tt-target/release/tessera}
TESSERA_PREV_BIN=${TESSERA_PREV_BIN:-}
PEER_PORT=${PEER_PORT:-39300}
PEER_HTTPS_PORT=${PEER_HTTPS_PORT:-39301}
TESSERA_PORT=${TESSERA_PORT:-39443}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-5}
START_TIMEOUT=${START_TIMEOUT:-60}  # seconds to wait for a server to come up
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$HERE/results/token-throughput-$STAMP.txt}
LOGDIR=$SCRATCH/logs/$STAMP
LUA=$HERE/token.lua
PEER_TLS_DIR=$SCRATCH/peer-https-tls   # CA + server certificate for peer-https, made by this script

# The peer's one static client, as defined in $PEER_DIR/server.mjs (client_secret_post).
PEER_BODY='grant_type=client_credentials&client_id=bench-client&client_secret=bench-secret-bench-secret-bench-secret&scope=api.read'

die() { echo "run.sh: $*" >&2; exit 1; }
out() { printf '%s\n' "$*" | tee -a "$OUT"; }

is_int() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= $2 && $1 <= $3 )); }
is_int "$REPS" 1 20 || die "REPS must be 1..20"
is_int "$CONNS" 1 1024 || die "CONNS must be 1..1024"
is_int "$DUR" 1 120 || die "DUR must be 1..120 (seconds)"
is_int "$WARMUP" 0 60 || die "WARMUP must be 0..60 (seconds)"
is_int "$OPENSSL_SECONDS" 1 30 || die "OPENSSL_SECONDS must be 1..30"
is_int "$START_TIMEOUT" 1 600 || die "START_TIMEOUT must be 1..600"
for s in $SERVERS; do [[ $s == peer || $s == peer-https || $s == tessera || $s == tessera-prev ]] || die "SERVERS may only list peer, peer-https, tessera and tessera-prev"; done
[[ -n ${SERVERS// /} ]] || die "SERVERS is empty"

for tool in wrk curl openssl python3 getconf; do
  command -v "$tool" >/dev/null || die "$tool not found (see README.md for setup)"
done
has_server() { [[ " $SERVERS " == *" $1 "* ]]; }
if has_server peer || has_server peer-https; then
  command -v node >/dev/null || die "node not found"
  [[ -f $SCRATCH/node_modules/oidc-provider/package.json ]] ||
    die "oidc-provider not installed in $SCRATCH (cd $SCRATCH && npm init -y && npm install oidc-provider@9.13.3)"
fi
if has_server peer; then
  [[ -f $PEER_DIR/server.mjs ]] || die "$PEER_DIR/server.mjs not found"
fi
if has_server peer-https; then
  [[ -f $HERE/peer-https.mjs ]] || die "$HERE/peer-https.mjs not found"
fi
if has_server tessera-prev; then
  [[ -x $TESSERA_PREV_BIN ]] || die "tessera-prev needs TESSERA_PREV_BIN, an executable tessera build"
fi
if has_server tessera; then
  [[ -x $TESSERA_BIN ]] || die "tessera binary $TESSERA_BIN not found (CARGO_TARGET_DIR=/root/tt-target cargo build --release, or set TESSERA_BIN)"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $PEER_PORT $PEER_HTTPS_PORT $TESSERA_PORT; do port_busy "$p" && die "127.0.0.1:$p is already in use"; done

CLK_TCK=$(getconf CLK_TCK)
mkdir -p "$(dirname "$OUT")" "$LOGDIR"
: >"$OUT"

SERVER_PID=""
DATA_DIR=""
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -TERM "$SERVER_PID" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
  if [[ -n $DATA_DIR ]]; then rm -rf -- "$DATA_DIR"; DATA_DIR=""; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# utime+stime of a whole process (all threads), in clock ticks. Field 2 (comm) may contain
# spaces, so cut everything up to the last ") " first; utime/stime are then fields 12/13.
cpu_ticks() {
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  set -- $s
  echo $(( ${12} + ${13} ))
}
# busy ticks of the whole machine (all CPUs): everything in the "cpu" line but idle and iowait
machine_busy_ticks() {
  local _cpu user nice system idle iowait irq softirq steal rest
  read -r _cpu user nice system idle iowait irq softirq steal rest </proc/stat
  echo $(( user + nice + system + irq + softirq + steal ))
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
fdiv() { awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN { if (b + 0 == 0) print "nan"; else printf f "\n", a / b }'; }

wait_alive() { # pid logfile what
  kill -0 "$1" 2>/dev/null && return 0
  echo "---- last lines of $2" >&2; tail -n 30 "$2" >&2 || true
  die "$3 exited during startup (log: $2)"
}

start_peer() { # log
  # server.mjs is run in place. It is an ES module, and ESM resolution ignores NODE_PATH, so a
  # symlink to it sits next to the scratch node_modules and --preserve-symlinks-main makes
  # node resolve 'oidc-provider' / 'jose' from the symlink's folder instead of $PEER_DIR.
  ln -sfn "$PEER_DIR/server.mjs" "$SCRATCH/oidc-provider-server.mjs"
  ALG=RS256 FORMAT=jwt PORT=$PEER_PORT \
    node --preserve-symlinks --preserve-symlinks-main "$SCRATCH/oidc-provider-server.mjs" >"$1" 2>&1 &
  SERVER_PID=$!
  local deadline=$(( SECONDS + START_TIMEOUT ))
  until curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PEER_PORT/jwks"; do
    wait_alive "$SERVER_PID" "$1" "node-oidc-provider"
    (( SECONDS < deadline )) || die "node-oidc-provider not answering /jwks after ${START_TIMEOUT}s (log: $1)"
    sleep 0.2
  done
  URL=http://127.0.0.1:$PEER_PORT/token
  BODY=$PEER_BODY
  CURL_TLS=()
}

# peer-https's certificate, shaped like tessera's generated one: an ECDSA P-256 CA and an
# ECDSA P-256 server certificate for IP 127.0.0.1 issued by it; the server sends both
# (chain.pem = server + CA), as tessera does. Made afresh on every run of this script.
make_peer_tls() {
  local d=$PEER_TLS_DIR
  rm -rf -- "$d"; mkdir -p "$d"
  {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca-key.pem" &&
    openssl req -x509 -new -key "$d/ca-key.pem" -sha256 -days 3650 \
      -subj "/CN=peer-https bench CA/O=tessera bench" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$d/ca.pem" &&
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/server-key.pem" &&
    openssl req -new -key "$d/server-key.pem" -subj "/CN=127.0.0.1" -out "$d/server.csr" &&
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >"$d/server.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -set_serial "0x$(openssl rand -hex 16)" \
      -sha256 -days 365 -extfile "$d/server.ext" -out "$d/server.pem" &&
    cat "$d/server.pem" "$d/ca.pem" >"$d/chain.pem" &&
    openssl verify -CAfile "$d/ca.pem" "$d/server.pem"
  } >"$LOGDIR/peer-https-tls.txt" 2>&1 || die "could not make the peer-https certificate (see $LOGDIR/peer-https-tls.txt)"
}

start_peer_https() { # log
  # Same resolution trick as start_peer: a symlink to peer-https.mjs beside the scratch node_modules.
  ln -sfn "$HERE/peer-https.mjs" "$SCRATCH/peer-https.mjs"
  PORT=$PEER_HTTPS_PORT TLS_CERT=$PEER_TLS_DIR/chain.pem TLS_KEY=$PEER_TLS_DIR/server-key.pem \
    node --preserve-symlinks --preserve-symlinks-main "$SCRATCH/peer-https.mjs" >"$1" 2>&1 &
  SERVER_PID=$!
  CURL_TLS=(--cacert "$PEER_TLS_DIR/ca.pem")
  local deadline=$(( SECONDS + START_TIMEOUT ))
  until curl -sf -o /dev/null --max-time 2 "${CURL_TLS[@]}" "https://127.0.0.1:$PEER_HTTPS_PORT/jwks"; do
    wait_alive "$SERVER_PID" "$1" "node-oidc-provider (https)"
    (( SECONDS < deadline )) || die "node-oidc-provider (https) not answering /jwks after ${START_TIMEOUT}s (log: $1)"
    sleep 0.2
  done
  URL=https://127.0.0.1:$PEER_HTTPS_PORT/token
  BODY=$PEER_BODY
}

start_tessera() { # log [binary]
  DATA_DIR=$(mktemp -d "$SCRATCH/tessera-data.XXXXXX")
  "${2:-$TESSERA_BIN}" serve --listen "127.0.0.1:$TESSERA_PORT" --data-dir "$DATA_DIR" >"$1" 2>&1 &
  SERVER_PID=$!
  local deadline=$(( SECONDS + START_TIMEOUT )) info
  # demo.json appears once tessera listens; wait until it exists and parses.
  until info=$(python3 - "$DATA_DIR/demo.json" "$TESSERA_PORT" 2>/dev/null <<'PY'
import json, sys, urllib.parse
d = json.load(open(sys.argv[1]))
auth = d["authority"].rstrip("/")
if not auth.startswith(f"https://127.0.0.1:{sys.argv[2]}/"):
    sys.exit(f"unexpected authority {auth!r}")
q = lambda s: urllib.parse.quote(s, safe="")
body = ("grant_type=client_credentials&client_id=" + q(d["daemon"]["client_id"])
        + "&client_secret=" + q(d["daemon"]["client_secret"])
        + "&scope=" + q("https://graph.microsoft.com/.default"))
print(auth); print(d["ca_cert"]); print(body)
PY
  ); do
    wait_alive "$SERVER_PID" "$1" "tessera"
    (( SECONDS < deadline )) || die "tessera wrote no usable $DATA_DIR/demo.json after ${START_TIMEOUT}s (log: $1)"
    sleep 0.2
  done
  local auth ca
  { read -r auth; read -r ca; read -r BODY; } <<<"$info"
  [[ -f $ca ]] || die "tessera CA $ca (from demo.json) does not exist"
  CURL_TLS=(--cacert "$ca")
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${CURL_TLS[@]}" \
              "https://127.0.0.1:$TESSERA_PORT/health" || true) == 200 ]]; do
    wait_alive "$SERVER_PID" "$1" "tessera"
    (( SECONDS < deadline )) || die "tessera /health did not answer 200 within ${START_TIMEOUT}s (log: $1)"
    sleep 0.2
  done
  URL=$auth/oauth2/v2.0/token
}

# One token request with curl (over HTTPS the certificate is verified against the server's CA): prints a one-line
# verdict such as "http=200 alg=RS256 typ=JWT kid=... token_bytes=1234 ...", never the token.
probe() {
  local f=$LOGDIR/probe.json code
  code=$(curl -sS -o "$f" -w '%{http_code}' --max-time 10 "${CURL_TLS[@]}" -X POST \
           -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$BODY" "$URL" 2>&1) || true
  python3 - "$code" "$f" <<'PY'
import base64, json, sys
code, path = sys.argv[1], sys.argv[2]
try:
    raw = open(path, "rb").read()
except OSError:
    raw = b""
if code != "200":
    print(f"http={code} body={raw[:600].decode('utf-8', 'replace')!r}")
    sys.exit()
try:
    d = json.loads(raw)
    tok = d["access_token"]
    h = tok.split(".")[0]
    hdr = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
    print(f"http=200 alg={hdr.get('alg')} typ={hdr.get('typ')} kid={hdr.get('kid')} "
          f"token_bytes={len(tok)} token_type={d.get('token_type')} expires_in={d.get('expires_in')}")
except Exception as e:  # a 200 that is not a JWT token response is worth seeing verbatim
    print(f"http=200 unparsable={type(e).__name__}:{e} body={raw[:600].decode('utf-8', 'replace')!r}")
PY
}

# One TLS handshake with openssl s_client (the library wrk links), certificate verified against
# the server's CA: prints what was negotiated, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519 ...".
tls_probe() { # port ca
  local o
  o=$(timeout 10 openssl s_client -brief -connect "127.0.0.1:$1" -CAfile "$2" </dev/null 2>&1) || true
  awk -F': *' '
    $1 == "Protocol version" { p = $2 } $1 == "Ciphersuite" { c = $2 }
    $1 == "Server Temp Key" { k = $2 } $1 == "Signature type" { s = $2 } $1 == "Verification" { v = $2 }
    END { gsub(/ /, "", k); printf "protocol=%s cipher=%s kex=%s server_sig=%s verification=%s\n",
          p ? p : "?", c ? c : "?", k ? k : "?", s ? s : "?", v ? v : "?" }' <<<"$o"
  # the certificate chain the server sends (subjects and key types)
  timeout 10 openssl s_client -showcerts -connect "127.0.0.1:$1" -CAfile "$2" </dev/null 2>/dev/null |
    awk '/^ *[0-9]+ s:/ { sub(/^ */, ""); printf "  chain %s\n", $0 } /^ *a:PKEY/ { sub(/^ */, ""); printf "    %s\n", $0 }' || true
}

run_one() { # rep order server
  local rep=$1 order=$2 server=$3 log=$LOGDIR/rep$1-$3.log scheme port
  case $server in
    peer)
      start_peer "$log"; scheme=http
      out "== rep $rep/$REPS #$order: peer = node-oidc-provider RS256 jwt, plain HTTP, POST $URL" ;;
    peer-https)
      start_peer_https "$log"; scheme=https; port=$PEER_HTTPS_PORT
      out "== rep $rep/$REPS #$order: peer-https = node-oidc-provider RS256 jwt, HTTPS (TLS; wrk does not verify the cert), POST $URL" ;;
    tessera)
      start_tessera "$log"; scheme=https; port=$TESSERA_PORT
      out "== rep $rep/$REPS #$order: tessera, HTTPS (TLS; wrk does not verify the cert), POST $URL" ;;
    tessera-prev)
      start_tessera "$log" "$TESSERA_PREV_BIN"; scheme=https; port=$TESSERA_PORT
      out "== rep $rep/$REPS #$order: tessera-prev, HTTPS (TLS; wrk does not verify the cert), POST $URL" ;;
  esac
  local verdict
  verdict=$(probe)
  out "probe: $verdict"
  if [[ $scheme == https ]]; then
    { tls_probe "$port" "${CURL_TLS[1]}" || true; } | while IFS= read -r l; do out "tls: $l"; done
  fi
  export TOKEN_BODY=$BODY
  timeout $(( WARMUP + 30 )) wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$LUA" "$URL" >"$LOGDIR/rep$rep-$server-warmup.txt" 2>&1 ||
    out "warm-up wrk exited non-zero (see $LOGDIR/rep$rep-$server-warmup.txt)"

  local wrkout=$LOGDIR/rep$rep-$server-wrk.txt timef=$LOGDIR/rep$rep-$server-wrktime.txt
  local load t0 m0 w0 t1 m1 w1 rc=0
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  m0=$(machine_busy_ticks); t0=$(cpu_ticks "$SERVER_PID"); w0=$(date +%s.%N)
  TIMEFORMAT='%U %S'
  { time timeout $(( DUR + 30 )) wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$LUA" "$URL" >"$wrkout" 2>&1 ; } 2>"$timef" || rc=$?
  w1=$(date +%s.%N)
  kill -0 "$SERVER_PID" 2>/dev/null || { out "RUNFAIL rep=$rep server=$server reason=server_died_during_run"; stop_server; return; }
  t1=$(cpu_ticks "$SERVER_PID"); m1=$(machine_busy_ticks)
  local rss hwm thr
  rss=$(status_kb "$SERVER_PID" VmRSS); hwm=$(status_kb "$SERVER_PID" VmHWM); thr=$(status_kb "$SERVER_PID" Threads)
  stop_server
  sed 's/^/  | /' "$wrkout" | tee -a "$OUT"

  local summ
  summ=$(grep -m1 '^WRKSUMMARY ' "$wrkout" | cut -d' ' -f2-) || true
  if [[ $rc -ne 0 || -z $summ ]]; then
    out "RUNFAIL rep=$rep server=$server reason=wrk_exit_$rc"
    return
  fi
  local ok wrk_cpu cpu_s win_s other
  ok=$(sed -n 's/.*\bok=\([0-9]*\).*/\1/p' <<<"$summ")
  wrk_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$timef")
  cpu_s=$(fdiv $(( t1 - t0 )) "$CLK_TCK" %.2f)
  win_s=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')
  other=$(awk -v m=$(( m1 - m0 )) -v t=$(( t1 - t0 )) -v hz="$CLK_TCK" -v w="$wrk_cpu" \
            'BEGIN { printf "%.2f", (m - t) / hz - w }')
  out "RUN rep=$rep order=$order server=$server scheme=$scheme $summ server_cpu_s=$cpu_s window_s=$win_s" \
      "server_cores=$(fdiv "$cpu_s" "$win_s" %.2f) tok_per_cpu_s=$(fdiv "$ok" "$cpu_s" %.1f)" \
      "rss_kb=$rss hwm_kb=$hwm threads=$thr wrk_cpu_s=$wrk_cpu other_cpu_s=$other loadavg_before=${load// /,}" \
      "probe_http=$(sed -n 's/^http=\([0-9]*\).*/\1/p' <<<"$verdict")"
}

run_openssl() { # rep
  local f=$LOGDIR/rep$1-openssl.txt
  timeout $(( OPENSSL_SECONDS * 4 + 60 )) openssl speed -seconds "$OPENSSL_SECONDS" rsa2048 >"$f" 2>&1 ||
    { out "RUNFAIL rep=$1 server=openssl reason=openssl_speed_failed (see $f)"; return; }
  # Column positions come from the header line ("sign verify sign/s verify/s" in 3.0; newer
  # releases add encrypt/decrypt columns), so look the columns up by name.
  local vals
  vals=$(awk '
    /sign\/s/ { for (i = 1; i <= NF; i++) col[$i] = i }
    $1 == "rsa" && $2 == "2048" && $3 == "bits" { print $(3 + col["sign/s"]), $(3 + col["verify/s"]) }
  ' "$f")
  [[ -n $vals ]] || { out "RUNFAIL rep=$1 server=openssl reason=unparsable_output (see $f)"; return; }
  set -- "$1" $vals
  out "OPENSSL rep=$1 rsa2048_sign_per_s=$2 rsa2048_verify_per_s=$3 seconds=$OPENSSL_SECONDS"
}

# ---------------------------------------------------------------- header
out "# token-throughput bench started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
out "# host: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
out "# wrk $(wrk -v 2>&1 | head -1 | awk '{ print $2 }'), $(openssl version), CLK_TCK=$CLK_TCK"
out "# load: wrk -t1 -c$CONNS -d${DUR}s after a ${WARMUP}s warm-up, lua $LUA (keep-alive connections); reps=$REPS, servers: $SERVERS; order rotates by one place per rep"
if has_server peer || has_server peer-https; then
  node_desc="node $(node -p process.versions.node) (its openssl $(node -p process.versions.openssl)), oidc-provider $(node -p "require('$SCRATCH/node_modules/oidc-provider/package.json').version")"
fi
if has_server peer; then
  out "# peer: $node_desc, $PEER_DIR/server.mjs run in place, ALG=RS256 FORMAT=jwt, plain HTTP, scope=api.read"
fi
if has_server peer-https; then
  make_peer_tls
  out "# peer-https: $node_desc, $HERE/peer-https.mjs (sha256 $(sha256sum "$HERE/peer-https.mjs" | cut -c1-16)), RS256 jwt, same provider configuration as peer, https.createServer with an ECDSA P-256 server cert + P-256 CA ($PEER_TLS_DIR), scope=api.read"
fi
if has_server tessera-prev; then
  out "# tessera-prev: $TESSERA_PREV_BIN sha256 $(sha256sum "$TESSERA_PREV_BIN" | cut -c1-16) built $(date -u -r "$TESSERA_PREV_BIN" +%Y-%m-%dT%H:%M:%SZ), version '$(timeout 10 "$TESSERA_PREV_BIN" --version 2>/dev/null | head -1 || true)'"
fi
if has_server tessera; then
  out "# tessera: $TESSERA_BIN sha256 $(sha256sum "$TESSERA_BIN" | cut -c1-16) built $(date -u -r "$TESSERA_BIN" +%Y-%m-%dT%H:%M:%SZ), version '$(timeout 10 "$TESSERA_BIN" --version 2>/dev/null | head -1 || true)', repo HEAD $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo none), RUST_LOG='${RUST_LOG:-}'; scope=https://graph.microsoft.com/.default"
fi
out "# NOTE: tessera is measured over HTTPS (TLS, its only mode); peer over plain HTTP; peer-https is the peer's configuration over HTTPS (same protocol as tessera). Same wrk settings for all."
out "# server_cpu_s = server utime+stime (all threads, /proc/PID/stat) over the measured run only; tok_per_cpu_s = 2xx responses / server_cpu_s;"
out "# wrk_cpu_s = load generator CPU; other_cpu_s = rest of the machine in the same window (noise from other work); logs: $LOGDIR"

# ---------------------------------------------------------------- runs
for rep in $(seq 1 "$REPS"); do
  # rotate: rep 1 runs $SERVERS in the given order, rep 2 starts with the second one, and so on
  order=0
  read -r -a all <<<"$SERVERS"
  shift_by=$(( (rep - 1) % ${#all[@]} ))
  list=("${all[@]:shift_by}" "${all[@]:0:shift_by}")
  for server in "${list[@]}"; do
    order=$(( order + 1 ))
    run_one "$rep" "$order" "$server"
    sleep 1
  done
  run_openssl "$rep"
done
out "# finished $(date -u +%Y-%m-%dT%H:%M:%SZ); summarise with: python3 $HERE/summarize.py $OUT"
