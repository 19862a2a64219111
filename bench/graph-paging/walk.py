#!/usr/bin/env python3
"""Walks /v1.0/users with $top=N through tessera's Graph, following @odata.nextLink over one
keep-alive HTTPS connection, and reports pages, users, wall time and the server's CPU time
(utime+stime from /proc/PID/stat) spent during the walk. Standard library only."""
import http.client, json, os, ssl, sys, time, urllib.parse

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def main():
    demo_path, pid, top, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    demo = json.load(open(demo_path))
    ctx = ssl.create_default_context(cafile=demo["ca_cert"])
    authority = urllib.parse.urlsplit(demo["authority"])
    conn = http.client.HTTPSConnection(authority.hostname, authority.port, context=ctx)
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": demo["daemon"]["client_id"],
        "client_secret": demo["daemon"]["client_secret"], "scope": "https://graph.microsoft.com/.default"})
    conn.request("POST", authority.path + "/oauth2/v2.0/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(conn.getresponse().read())["access_token"]
    headers = {"Authorization": "Bearer " + token}
    url = f"/v1.0/users?$top={top}&$select=id,displayName,userPrincipalName"
    seen, pages = set(), 0
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    while url:
        conn.request("GET", url, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"page {pages}: HTTP {resp.status}: {body[:300]!r}")
        page = json.loads(body)
        pages += 1
        for u in page["value"]:
            if u["id"] in seen:
                sys.exit(f"user {u['id']} returned twice")
            seen.add(u["id"])
        nxt = page.get("@odata.nextLink")
        url = urllib.parse.urlsplit(nxt)._replace(scheme="", netloc="").geturl() if nxt else None
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    if len(seen) != expected:
        sys.exit(f"walked {len(seen)} users, expected {expected}")
    print(f"WALK pages={pages} users={len(seen)} wall_s={wall:.3f} pages_per_s={pages / wall:.1f} "
          f"users_per_s={len(seen) / wall:.0f} server_cpu_s={cpu:.2f} server_cpu_ms_per_page={1000 * cpu / pages:.2f}")

main()
