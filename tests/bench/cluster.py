#!/usr/bin/env python3
"""tests/bench/cluster.py — throughput of 1 and of 3 imapgw replicas behind
HAProxy (make bench-cluster). Not a test: it measures and reports.

Runs under tests/with-dovecot.sh. HAProxy runs deploy/haproxy.cfg in both
cases, so the proxy's own work is the same: for "1 replica" its three server
lines name the same process. wrk sends GET /messages (a page of 20 of INBOX)
for every user of tests/dovecot-lib.sh at random (so that the users spread
over the replicas), after a warm-up that loads each INBOX into the replica's
index; every page is then served from the index after its revalidation
(NOOP and STATUS to Dovecot). Reports requests/s, p50/p99 and the CPU seconds
each party used per 1,000 requests, and the ratio. The CPU figures say what
limits the ratio: wrk, HAProxy, the replicas and Dovecot share the machine's
cores (os.cpu_count()).

IMAPGW_BENCH_DURATION (10 s), IMAPGW_BENCH_CONNECTIONS (32).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import USERS, basic, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("IMAPGW_BIN", "build/imapgw")
DIR = os.environ["IMAPGW_TEST_DIR"]
CA = os.environ["IMAPGW_TEST_CA"]
IMAPS = os.environ["IMAPGW_TEST_IMAPS_PORT"]
DURATION = int(os.environ.get("IMAPGW_BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("IMAPGW_BENCH_CONNECTIONS", "32"))
OUT = os.path.join(ROOT, "build", "bench", "cluster.txt")
PATH = "/messages?folder=INBOX&per_page=20"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids):
    """User + system CPU seconds of these processes (and their threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def dovecot_pids():
    """This run's Dovecot: its master (DIR/run/master.pid) and the master's children."""
    with open(os.path.join(DIR, "run", "master.pid")) as f:
        master = int(f.read().split()[0])
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    pids = [master]
    for line in out.splitlines():
        pid, ppid = map(int, line.split())
        if ppid == master:
            pids.append(pid)
    return pids


def wait_http(port, path="/healthz"):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                if b" 200 " in s.recv(100):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"bench-cluster: nothing answers {path} on port {port}")


def start_replica(i):
    port = free_port()
    log = open(os.path.join(DIR, f"bench-gw{i}.log"), "wb")
    p = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{port}", "--imap-host", "127.0.0.1",
                          "--imap-port", IMAPS, "--imap-ca", CA, "--log-level", "warn"],
                         stdout=log, stderr=log)
    wait_http(port)
    return p, port


def start_haproxy(ports):
    port = free_port()
    env = dict(os.environ, IMAPGW_LB_BIND=f"127.0.0.1:{port}",
               IMAPGW_LB_STATS=os.path.join(DIR, "bench-haproxy.sock"))
    for i, p in enumerate(ports, 1):
        env[f"IMAPGW_REPLICA_{i}"] = f"127.0.0.1:{p}"
    log = open(os.path.join(DIR, "bench-haproxy.log"), "wb")
    # its per-request log would measure the log, not the proxy
    cfg = open(os.path.join(ROOT, "deploy", "haproxy.cfg")).read().replace(
        "\tlog stdout format raw local0 info\n", "")
    path = os.path.join(DIR, "bench-haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    p = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=log, stderr=log, env=env)
    wait_http(port, "/healthz")
    return p, port


def lua_script():
    path = os.path.join(DIR, "bench-users.lua")
    auths = ", ".join(f'"{basic(u, p)}"' for u, p in USERS)
    with open(path, "w") as f:
        f.write(f"local auths = {{{auths}}}\n"
                "request = function()\n"
                "  return wrk.format(\"GET\", \"" + PATH + "\", "
                "{[\"Authorization\"] = auths[math.random(#auths)]})\n"
                "end\n"
                "done = function(summary, latency, requests)\n"
                "  io.write(string.format(\"non2xx %d\\n\", summary.errors.status))\n"
                "  io.write(string.format(\"p50 %.3f\\np99 %.3f\\n\", latency:percentile(50) / 1000,"
                " latency:percentile(99) / 1000))\n"
                "end\n")
    return path


def wrk(port, seconds, script):
    r = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", script,
                        f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True)
    text = r.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = int(re.search(r"non2xx (\d+)", text).group(1))
    p50 = float(re.search(r"p50 ([\d.]+)", text).group(1))
    p99 = float(re.search(r"p99 ([\d.]+)", text).group(1))
    return rps, total, non2xx, p50, p99


def run(n):
    script = lua_script()
    replicas = [start_replica(i) for i in range(1, n + 1)]
    ports = [p for _, p in replicas]
    lb, lb_port = start_haproxy(ports * 3 if n == 1 else ports)
    try:
        # warm: sessions opened, every INBOX loaded into its replica's index
        for _ in range(3):
            wrk(lb_port, 2, script)
        procs = {"imapgw": [p.pid for p, _ in replicas], "haproxy": [lb.pid],
                 "dovecot": dovecot_pids()}
        before = {k: cpu_s(v) for k, v in procs.items()}
        t0 = time.monotonic()
        wrk_cpu0 = os.times()
        rps, total, non2xx, p50, p99 = wrk(lb_port, DURATION, script)
        wrk_cpu1 = os.times()
        wall = time.monotonic() - t0
        used = {k: cpu_s(v) - before[k] for k, v in procs.items()}
        used["wrk"] = (wrk_cpu1.children_user - wrk_cpu0.children_user +
                       wrk_cpu1.children_system - wrk_cpu0.children_system)
        return {"rps": rps, "total": total, "non2xx": non2xx, "p50": p50, "p99": p99,
                "cpu": used, "wall": wall}
    finally:
        lb.send_signal(signal.SIGTERM)
        lb.wait()
        for p, _ in replicas:
            p.send_signal(signal.SIGTERM)
            p.wait()


def main():
    load = os.getloadavg()
    res = {n: run(n) for n in (1, 3)}
    lines = [f"bench-cluster: GET {PATH}, {len(USERS)} users at random, index warm, "
             f"wrk -t2 -c{CONNECTIONS} {DURATION} s through HAProxy; {os.cpu_count()} cores, "
             f"load before {load[0]:.2f}",
             f"{'replicas':>8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7}  "
             f"CPU s per 1000 requests: imapgw haproxy dovecot wrk  (cores busy)"]
    for n, r in res.items():
        c = r["cpu"]
        per = {k: v * 1000 / max(r["total"], 1) for k, v in c.items()}
        busy = sum(c.values()) / r["wall"]
        lines.append(f"{n:>8} {r['rps']:>8.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['non2xx']:>7}  "
                     f"{per['imapgw']:.3f} {per['haproxy']:.3f} {per['dovecot']:.3f} "
                     f"{per['wrk']:.3f}  ({busy:.2f} of {os.cpu_count()})")
    lines.append(f"ratio 3 replicas / 1 replica: {res[3]['rps'] / res[1]['rps']:.2f}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
