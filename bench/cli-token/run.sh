#!/usr/bin/env bash
# `tessera token` from a warm persistent cache as a whole new process, against a Python script
# that prints the same token from MSAL Python with an msal-extensions persistent cache
# (msal_token.py), interleaved in the same run. Goal: tessera at most 15 ms wall per process.
#   bench/cli-token/run.sh          (RUNS per repetition, REPS, TESSERA_BIN, PYTHON override)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
bin="${TESSERA_BIN:-${CARGO_TARGET_DIR:-/root/tt-target}/release/tessera}"
runs="${RUNS:-50}"; reps="${REPS:-3}"
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

work="$(mktemp -d)"; out="$here/results/cli-token-$(date -u +%Y%m%dT%H%M%SZ).txt"; mkdir -p "$here/results"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/srv" >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
cleanup() {
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  [ -d "$work/home/.cache/tessera/tokens" ] && "$py" "$here/forget_key.py" "$work/home/.cache/tessera/tokens" >&2 || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 200); do [ -s "$work/srv/demo.json" ] && break; sleep 0.1; done
demo="$work/srv/demo.json"

# Both sides keep their caches under a fresh home: tessera in ~/.cache/tessera/tokens (key in
# the kernel keyring, else ~/.config/tessera/cache.key), MSAL in ~/.cache/msal-bench.
mkdir -p "$work/home"
export HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" XDG_CONFIG_HOME="$work/home/.config"
export REQUESTS_CA_BUNDLE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_cert"])' "$demo")"
export BENCH_CLIENT_SECRET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["daemon"]["client_secret"])' "$demo")"
unset RUST_LOG

{
  echo "# host: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), kernel $(uname -r), $(free -g | awk '/^Mem:/{print $2}') GiB; loadavg at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# tessera: $bin sha256 $(sha256sum "$bin" | cut -c1-16) built $(date -u -r "$bin" +%Y-%m-%dT%H:%M:%SZ), '$("$bin" --version)', built from ${TESSERA_BUILT_FROM:-the work tree at repo HEAD $(git -C "$repo" rev-parse --short HEAD)}, RUST_LOG unset"
  echo "# peer: $("$py" -c 'import msal, msal_extensions, requests, sys; print("python", sys.version.split()[0], "msal", msal.__version__, "msal-extensions", msal_extensions.__version__, "requests", requests.__version__)'), bench/cli-token/msal_token.py (FilePersistence)"
} | tee "$out"
for rep in $(seq 1 "$reps"); do
  echo "== rep $rep, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
  "$py" "$here/measure.py" "$demo" "$bin" "$py" "$runs" | tee -a "$out"
done
"$py" "$here/measure.py" --summary "$out" | tee -a "$out"
echo "# tessera status after the runs: $("$bin" status | tr '\n' ';')" | tee -a "$out"
echo "# loadavg at end $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
echo "results: $out"
