#!/usr/bin/env python3
"""Walks every user of a `tessera serve` with `tessera graph get /users --all --top 999
--output jsonl > FILE` and with msgraph-sdk's PageIterator (walk_msgraph.py), REPS times
each, alternating (the order swaps every rep), timing each whole process, and checks that
both got every user exactly once and the same users.

  measure.py DEMO_JSON SERVER_PID TESSERA_BIN PYTHON REPS EXPECTED_USERS WORKDIR

The environment (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, BENCH_CLIENT_SECRET) comes from run.sh.
Wall time is time.perf_counter() around subprocess.run; client CPU is the child's
user+system time (getrusage), server CPU the server's from /proc/PID/stat."""
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def server_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(cmd, stdout, pid):
    r0, c0 = resource.getrusage(resource.RUSAGE_CHILDREN), server_cpu(pid)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    r1, c1 = resource.getrusage(resource.RUSAGE_CHILDREN), server_cpu(pid)
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (cmd[0], p.returncode, p.stderr.decode(errors="replace")[-3000:]))
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, c1 - c0, re.sub(r"\x1b\[[0-9;]*m", "", p.stderr.decode(errors="replace")).strip()


def ids_tessera(path):
    ids, n = set(), 0
    with open(path) as f:
        for line in f:
            ids.add(json.loads(line)["id"])
            n += 1
    return ids, n


def ids_msgraph(path):
    ids, n = set(), 0
    with open(path) as f:
        for line in f:
            ids.add(line.split("\t", 1)[0])
            n += 1
    return ids, n


def main():
    demo_path, pid, tessera, python, reps, expected, work = sys.argv[1:8]
    pid, reps, expected = int(pid), int(reps), int(expected)
    demo = json.load(open(demo_path))
    a, c, g = demo["authority"], demo["daemon"]["client_id"], demo["graph_url"]
    cmds = {
        "tessera": [tessera, "graph", "get", "/users", "--all", "--top", "999", "--output", "jsonl",
                    "--graph-url", g, "--authority", a, "--client-id", c,
                    "--client-secret-env", "BENCH_CLIENT_SECRET", "--ca-cert", demo["ca_cert"],
                    "--no-cache"],
        "msgraph": [python, os.path.join(HERE, "walk_msgraph.py"), a, c, "BENCH_CLIENT_SECRET", g,
                    os.path.join(work, "msgraph.tsv")],
    }
    readers = {"tessera": ids_tessera, "msgraph": ids_msgraph}
    outputs = {"tessera": os.path.join(work, "tessera.jsonl"), "msgraph": os.path.join(work, "msgraph.tsv")}
    walls = {n: [] for n in cmds}
    seen = {}
    names = list(cmds)
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            load = open("/proc/loadavg").read().split()[0]
            if os.path.exists(outputs[name]):
                os.remove(outputs[name])
            if name == "tessera":
                with open(outputs[name], "wb") as f:
                    wall, cpu, scpu, err = timed(cmds[name], f, pid)
            else:
                wall, cpu, scpu, err = timed(cmds[name], subprocess.DEVNULL, pid)
            ids, n = readers[name](outputs[name])
            if n != expected or len(ids) != expected:
                sys.exit(f"{name}: {n} users written, {len(ids)} distinct, expected {expected}")
            if name in seen and seen[name] != ids:
                sys.exit(f"{name}: another set of users than its previous walk")
            seen[name] = ids
            walls[name].append(wall)
            size = os.path.getsize(outputs[name])
            note = (" | " + err.replace("\n", " | ")) if err else ""
            print(f"WALK rep={rep + 1} {name:8s} users={n} distinct={len(ids)} wall_s={wall:.3f} "
                  f"client_cpu_s={cpu:.2f} server_cpu_s={scpu:.2f} output_bytes={size} loadavg_before={load}{note}", flush=True)
    if seen["tessera"] != seen["msgraph"]:
        sys.exit("the two walks returned different users")
    print(f"# both walks returned the same {expected} distinct users every time")
    for name in names:
        w = walls[name]
        print(f"RESULT {name:8s} wall_s median {statistics.median(w):.3f} min {min(w):.3f} max {max(w):.3f} "
              f"runs {' '.join(f'{x:.3f}' for x in w)}")
    ratio = statistics.median(walls["msgraph"]) / statistics.median(walls["tessera"])
    print(f"RATIO msgraph / tessera (wall medians) {ratio:.1f}x; goal >= 5x: {'met' if ratio >= 5 else 'not met'}")


main()
