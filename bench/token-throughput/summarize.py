#!/usr/bin/env python3
"""Summarise a raw results file written by run.sh as a markdown table (stdlib only).

Usage: python3 summarize.py results/token-throughput-<stamp>.txt

Reads the `RUN ...`, `OPENSSL ...` and `RUNFAIL ...` lines (key=value fields) and prints, per
server (peer = node-oidc-provider over plain HTTP, peer-https = the same over HTTPS, tessera),
median (min-max) over the reps, then the ratios the issue sets targets for: tessera against the
peer over plain HTTP (the canonical comparison) and against peer-https (same protocol as tessera).
"""

import statistics
import sys

TARGETS = {  # name: (comparison, bound)
    "throughput": (">=", 2.0),
    "p99": ("<=", 1 / 3),
    "rsa_bound": (">=", 0.8),
}
LABELS = {
    "peer": "node-oidc-provider RS256 (HTTP)",
    "peer-https": "node-oidc-provider RS256 (HTTPS)",
    "tessera": "tessera (HTTPS)",
    "tessera-prev": "tessera, previous build (HTTPS)",
}
PEERS = [  # (server, how the ratio rows name it)
    ("peer", "peer HTTP"),
    ("peer-https", "peer HTTPS"),
]


def fields(line):
    out = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return float("nan")


def cell(values, fmt):
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return "n/a"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"


def met(name, value):
    op, bound = TARGETS[name]
    if value != value:
        return "n/a"
    ok = value >= bound if op == ">=" else value <= bound
    return "yes" if ok else "**no**"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    runs, ssl, fails, header = {}, {}, [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("RUN "):
                d = fields(line)
                runs.setdefault(d.get("server", "?"), []).append(d)
            elif line.startswith("OPENSSL "):
                d = fields(line)
                ssl[d.get("rep")] = num(d, "rsa2048_sign_per_s")
            elif line.startswith("RUNFAIL "):
                fails.append(line)
            elif line.startswith(("# host:", "# load:", "# tessera:", "# peer:", "# peer-https:", "# wrk ")):
                header.append(line[2:])

    print(f"Source: `{path}`\n")
    for h in header:
        print(f"- {h}")
    print("- tessera is measured over HTTPS (TLS, its only mode); peer = node-oidc-provider over plain HTTP "
          "(the canonical peer setup); peer-https = the same node-oidc-provider configuration over HTTPS.\n")

    cols = [
        ("2xx req/s", "ok_rps", "{:.0f}", 1),
        ("p50 ms", "p50_ms", "{:.1f}", 1),
        ("p99 ms", "p99_ms", "{:.1f}", 1),
        ("RSS MB", "rss_kb", "{:.0f}", 1 / 1024),
        ("peak RSS MB", "hwm_kb", "{:.0f}", 1 / 1024),
        ("server cores used", "server_cores", "{:.2f}", 1),
        ("tokens / server CPU-s", "tok_per_cpu_s", "{:.0f}", 1),
        ("wrk CPU-s", "wrk_cpu_s", "{:.1f}", 1),
        ("other CPU-s (approx.)", "other_cpu_s", "{:.1f}", 1),
    ]
    print("| server | runs | " + " | ".join(c[0] for c in cols) + " | non-2xx |")
    print("|---|---|" + "---|" * len(cols) + "---|")
    for server in ("tessera", "tessera-prev", "peer-https", "peer"):
        rs = runs.get(server)
        if not rs:
            continue
        cells = [cell([num(r, key) * scale for r in rs], fmt) for _, key, fmt, scale in cols]
        non2xx = sum(int(num(r, "non2xx")) for r in rs if num(r, "non2xx") == num(r, "non2xx"))
        sockerr = sum(
            int(num(r, k)) for r in rs for k in ("sock_connect", "sock_read", "sock_write", "sock_timeout")
            if num(r, k) == num(r, k)
        )
        extra = f"{non2xx}" + (f" (+{sockerr} socket errors)" if sockerr else "")
        print(f"| {LABELS.get(server, server)} | {len(rs)} | " + " | ".join(cells) + f" | {extra} |")
    if ssl:
        print(f"| `openssl speed rsa2048`, 1 core | {len(ssl)} | RSA-2048 sign/s: "
              f"{cell(list(ssl.values()), '{:.0f}')} |" + " |" * (len(cols) - 1) + " |")

    t = runs.get("tessera", [])
    print()
    print("| ratio | from medians | per rep (min–max) | target | met |")
    print("|---|---|---|---|---|")

    def med(rs, key):
        vals = [num(r, key) for r in rs if num(r, key) == num(r, key)]
        return statistics.median(vals) if vals else float("nan")

    def per_rep(a_rs, b_by_rep, key_a, fn):
        vals = []
        for r in a_rs:
            b = b_by_rep.get(r.get("rep"))
            if b is not None:
                v = fn(num(r, key_a), b)
                if v == v:
                    vals.append(v)
        return f"{min(vals):.2f}–{max(vals):.2f}" if vals else "n/a"

    def div(a, b):
        return a / b if b and b == b and a == a else float("nan")

    def by_rep(rs, key):
        return {r.get("rep"): num(r, key) for r in rs}

    for peer, name in PEERS:
        p = runs.get(peer, [])
        if not (t and p):
            continue
        v = div(med(t, "ok_rps"), med(p, "ok_rps"))
        rng = per_rep(t, by_rep(p, "ok_rps"), "ok_rps", div)
        print(f"| tessera / {name} throughput (2xx req/s) | {v:.2f}x | {rng} | ≥ 2x | {met('throughput', v)} |")
        v = div(med(t, "p99_ms"), med(p, "p99_ms"))
        rng = per_rep(t, by_rep(p, "p99_ms"), "p99_ms", div)
        print(f"| tessera p99 / {name} p99 | {v:.2f} | {rng} | ≤ 0.33 | {met('p99', v)} |")
    if t and ssl:
        v = div(med(t, "tok_per_cpu_s"), statistics.median(ssl.values()))
        rng = per_rep(t, ssl, "tok_per_cpu_s", div)
        print(f"| tessera tokens per CPU-s / openssl RSA-2048 signs per s | {v:.2f} | {rng} | ≥ 0.80 | "
              f"{met('rsa_bound', v)} |")
    if not t:
        print("| (no tessera runs in this file) | | | | |")
    # A change against the build it replaces, measured in the same run (no target: it must not
    # regress, which the per-rep range shows).
    tp = runs.get("tessera-prev", [])
    if t and tp:
        for label, key in (("throughput (2xx req/s)", "ok_rps"), ("p99", "p99_ms"),
                           ("tokens per server CPU-s", "tok_per_cpu_s")):
            v = div(med(t, key), med(tp, key))
            rng = per_rep(t, by_rep(tp, key), key, div)
            print(f"| tessera / previous build {label} | {v:.2f} | {rng} | — | — |")
    # What TLS costs the peer (no target; explains the gap between the two peer comparisons).
    ph, p = runs.get("peer-https", []), runs.get("peer", [])
    if ph and p:
        for label, key in (("throughput (2xx req/s)", "ok_rps"), ("tokens per server CPU-s", "tok_per_cpu_s")):
            v = div(med(ph, key), med(p, key))
            rng = per_rep(ph, by_rep(p, key), key, div)
            print(f"| (info) peer HTTPS / peer HTTP {label} | {v:.2f} | {rng} | — | — |")

    bad = [f"{s} rep {r.get('rep')}: {r.get('non2xx')} non-2xx, probe HTTP {r.get('probe_http')}"
           for s, rs in runs.items() for r in rs
           if r.get("non2xx") not in (None, "0") or r.get("probe_http") != "200"]
    if bad or fails:
        print("\n**Problems recorded in the raw file:**\n")
        for b in bad:
            print(f"- {b}")
        for f_ in fails:
            print(f"- `{f_}`")


if __name__ == "__main__":
    main()
