#!/usr/bin/env python3
"""Times whole processes that print a Graph token from a warm persistent cache, interleaved
(the order rotates every round), with floors and a breakdown of tessera's process beside
them (see `variants`), and checks that every measured process printed the token
the warm-up put in its cache and that the server issued no token meanwhile.

  measure.py DEMO_JSON TESSERA_BIN PYTHON RUNS     one repetition: RUNS rounds
  measure.py --summary RESULTS_FILE               medians over the repetitions' RAW lines

The environment (HOME, XDG_*, REQUESTS_CA_BUNDLE, BENCH_CLIENT_SECRET) comes from run.sh.
Wall time is time.perf_counter() around subprocess.run (fork/exec, the whole process, its
exit and the wait); CPU is the child's user+system time from getrusage(RUSAGE_CHILDREN)."""
import base64
import json
import math
import os
import resource
import ssl
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def metrics(demo):
    """Counters from the server's /metrics: token requests, and HTTP requests by route."""
    root = urllib.parse.urlsplit(demo["authority"])._replace(path="", query="").geturl()
    ctx = ssl.create_default_context(cafile=demo["ca_cert"])
    text = urllib.request.urlopen(root + "/metrics", context=ctx, timeout=10).read().decode()
    tokens, routes = 0, {}
    for line in text.splitlines():
        if line.startswith("tessera_token_requests_total{"):
            tokens += int(line.rsplit(" ", 1)[1])
        elif line.startswith("tessera_http_requests_total{"):
            labels, n = line.rsplit(" ", 1)
            route = labels.split('route="', 1)[1].split('"', 1)[0]
            routes[route] = routes.get(route, 0) + int(n)
    return tokens, routes


def claims(token):
    header, payload = token.split(".")[:2]
    dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    return dec(header), dec(payload)


def run(cmd, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (cmd[0], p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return wall, cpu, p.stdout.decode().strip()


def pct(values, q):
    s = sorted(values)  # nearest rank
    return s[max(0, math.ceil(q * len(s)) - 1)]


def summary(path):
    reps = [json.loads(line[4:]) for line in open(path) if line.startswith("RAW ")]
    names = list(reps[0])
    print(f"# summary of {len(reps)} repetitions: median of the repetitions' medians (min-max of them); "
          f"then all {sum(len(r['tessera']) for r in reps)} runs pooled: median, p90, min-max; ms")
    med = {n: [statistics.median(r[n]) for r in reps] for n in names}
    for n in names:
        pooled = [x for r in reps for x in r[n]]
        print(f"SUMMARY {n:24s} {statistics.median(med[n]):8.2f} ({min(med[n]):.2f}-{max(med[n]):.2f}) | pooled "
              f"median {statistics.median(pooled):.2f} p90 {pct(pooled, 0.9):.2f} min {min(pooled):.2f} max {max(pooled):.2f}")
    for peer in ("msal", "msal+http_cache"):
        per = [p / t for p, t in zip(med[peer], med["tessera"])]
        print(f"SUMMARY RATIO {peer} / tessera {statistics.median(med[peer]) / statistics.median(med['tessera']):.1f}x "
              f"(per repetition {min(per):.1f}-{max(per):.1f})")
    tm = statistics.median(med["tessera"])
    print(f"SUMMARY GOAL tessera {tm:.2f} ms <= 15 ms: {'met' if tm <= 15 else 'not met'}")


def main():
    if sys.argv[1] == "--summary":
        return summary(sys.argv[2])
    demo_path, tessera, python, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    demo = json.load(open(demo_path))
    a, c = demo["authority"], demo["daemon"]["client_id"]
    token_cmd = [tessera, "token", "--authority", a, "--client-id", c,
                 "--client-secret-env", "BENCH_CLIENT_SECRET", "--ca-cert", demo["ca_cert"], "--output", "raw"]
    variants = {
        "tessera": token_cmd,
        "msal": [python, os.path.join(HERE, "msal_token.py"), a, c, "BENCH_CLIENT_SECRET"],
        "msal+http_cache": [python, os.path.join(HERE, "msal_token.py"), a, c, "BENCH_CLIENT_SECRET",
                            "--http-cache"],
        # Floors, for reading the figures: starting any process, starting the interpreter
        # with nothing to do, and with the peer's imports only.
        "/bin/true": ["/bin/true"],
        "python -c pass": [python, "-c", "pass"],
        "python: import msal": [python, "-c", "import msal, msal_extensions"],
        # Where tessera's time goes: the same command with rustls-native-certs pointed at the
        # server's CA and an empty directory, so that the system's roots are not read; the
        # cache opened without any HTTP client (`status`: keyring + cache.json); and clap
        # answering --version before any runtime is built.
        "tessera, no system roots": token_cmd,
        "tessera status": [tessera, "status"],
        "tessera --version": [tessera, "--version"],
    }
    empty = os.path.join(os.environ["HOME"], "empty-cert-dir")
    os.makedirs(empty, exist_ok=True)
    envs = {"tessera, no system roots": dict(os.environ, SSL_CERT_FILE=demo["ca_cert"], SSL_CERT_DIR=empty)}
    # Warm-up: the first run of each fetches a token and stores it; the second must hit it.
    warm = {}
    for name, cmd in variants.items():
        first = run(cmd, envs.get(name))[2]
        second = run(cmd, envs.get(name))[2]
        if name in ("tessera", "msal", "msal+http_cache", "tessera, no system roots"):
            if not first or first != second:
                sys.exit(f"{name}: the second run did not print the first run's token")
        warm[name] = second
    tokens0, routes0 = metrics(demo)
    walls = {n: [] for n in variants}
    cpus = {n: [] for n in variants}
    names = list(variants)
    for i in range(runs):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            wall, cpu, out = run(variants[name], envs.get(name))
            # `status` shows times left ("in 1h 09m"), which change between runs.
            if name != "tessera status" and out != warm[name]:
                sys.exit(f"{name}: run {i} printed another token than the warm-up's")
            walls[name].append(wall * 1e3)
            cpus[name].append(cpu * 1e3)
    tokens1, routes1 = metrics(demo)
    moved = {r: routes1.get(r, 0) - routes0.get(r, 0) for r in routes1 if routes1.get(r, 0) != routes0.get(r, 0)}
    # The metrics request itself is counted once.
    print(f"# server during the measured runs: token requests {tokens1 - tokens0}, "
          f"HTTP requests by route {json.dumps(moved, sort_keys=True)} (includes this script's one /metrics read)")
    if tokens1 != tokens0:
        sys.exit("the server issued tokens during the measured runs: not all came from the cache")
    # Same kind of token: same header fields and claims (values that differ per token aside).
    (ht, ct), (hm, cm) = claims(warm["tessera"]), claims(warm["msal"])
    same = {k: (ct.get(k), cm.get(k)) for k in ("aud", "iss", "appid", "azp", "tid", "ver", "roles", "idtyp")}
    print(f"# tokens: tessera {len(warm['tessera'])} chars, msal {len(warm['msal'])} chars; "
          f"header alg/typ tessera {ht.get('alg')}/{ht.get('typ')} msal {hm.get('alg')}/{hm.get('typ')}; "
          f"claim names equal: {sorted(ct) == sorted(cm)}; lifetime s tessera {ct['exp'] - ct['iat']} msal {cm['exp'] - cm['iat']}")
    for k, (t, m) in same.items():
        print(f"#   {k}: tessera {t!r} msal {m!r}{'' if t == m else '  <-- differs'}")
    if sorted(ct) != sorted(cm) or any(t != m for t, m in same.values()):
        sys.exit("the two tokens are not of the same kind")
    print(f"# runs={runs} per variant, interleaved, order rotating each round; times in ms")
    for name in names:
        w, cp = walls[name], cpus[name]
        print(f"RESULT {name:24s} wall median {statistics.median(w):8.2f} p90 {pct(w, 0.9):8.2f} "
              f"min {min(w):8.2f} max {max(w):8.2f} mean {statistics.mean(w):8.2f} | "
              f"cpu median {statistics.median(cp):8.2f}")
    print("RAW " + json.dumps({n: [round(x, 3) for x in walls[n]] for n in names}))
    tm = statistics.median(walls["tessera"])
    for peer in ("msal", "msal+http_cache"):
        print(f"RATIO {peer} / tessera (wall medians) {statistics.median(walls[peer]) / tm:.1f}x")
    print(f"GOAL tessera wall median {tm:.2f} ms <= 15 ms: {'met' if tm <= 15 else 'not met'}")


main()
