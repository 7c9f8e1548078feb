#!/usr/bin/env python3
"""tests/cluster.py — several replicas behind HAProxy (make test-cluster).

Runs under tests/with-dovecot.sh: three imapgw replicas ($IMAPGW_BIN) on free
loopback ports in front of the private Dovecot, and HAProxy (Debian's) with
deploy/haproxy.cfg itself, its addresses given through the environment.
Checks what running several must hold:

  sticky   every user (Basic, and Bearer with X-Imap-User) is always served
           by the same replica (the X-Imapgw-Replica header HAProxy adds),
           and each replica's /metrics shows sessions for its own users only
  kill     a replica killed (SIGKILL, by its PID) while every user reads and
           liam writes: only its users move, to one surviving replica each,
           and stay there; no read fails (HAProxy retries it on another
           replica); a write in flight when it dies may fail, every write sent
           after it is gone succeeds; liam's mailbox then holds every write that succeeded
           exactly once, a failed one at most once, nothing else
  drain    a replica stopped with SIGTERM (--drain-time): /readyz says 503,
           HAProxy takes it out, its users move and not one request fails;
           it exits 0

Prints what it measured and exits non-zero on any failure.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from testlib import USERS, basic, free_port  # liam writes, the others read

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("IMAPGW_BIN", "build/imapgw")
HAPROXY = os.environ.get("HAPROXY", "haproxy")
DIR = os.environ["IMAPGW_TEST_DIR"]
CA = os.environ["IMAPGW_TEST_CA"]
IMAPS = int(os.environ["IMAPGW_TEST_IMAPS_PORT"])
TOKEN = os.environ["IMAPGW_TEST_TOKEN_ALICE"]
DRAIN_S = 4
LIAM = ("liam", "liam-secret")
RUN = f"{os.getpid()}-{int(time.time())}"

failures = []
figures = {}


def fail(msg):
    failures.append(msg)
    print("cluster: FAIL " + msg, file=sys.stderr)


def request(port, method, path, auth=None, headers=None, body=None, timeout=60):
    """(status, headers, body); status is the exception's text when the
    connection failed."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if auth:
        h["Authorization"] = basic(*auth)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except OSError as e:
        return f"{type(e).__name__}: {e}", {}, b""
    finally:
        c.close()


def wait_for(what, cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    fail(f"{what}: not within {timeout} s")
    return False


class Replica:
    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.log = os.path.join(DIR, f"cluster-{name}.log")
        argv = [BIN, "--listen", f"127.0.0.1:{self.port}", "--imap-host", "127.0.0.1",
                "--imap-port", str(IMAPS), "--imap-ca", CA, "--drain-time", str(DRAIN_S),
                "--workers", "8", "--log-level", "warn"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        if not wait_for(f"{name} answers /healthz",
                        lambda: request(self.port, "GET", "/healthz")[0] == 200):
            raise SystemExit(f"cluster: {name} did not start: {open(self.log).read()}")

    def metric(self, series):
        st, _, body = request(self.port, "GET", "/metrics")
        if st != 200:
            return None
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return int(float(line.split()[1]))
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HAProxy:
    def __init__(self, replicas):
        self.port = free_port()
        self.sock = os.path.join(DIR, "haproxy.sock")
        self.log = os.path.join(DIR, "cluster-haproxy.log")
        env = dict(os.environ, IMAPGW_LB_BIND=f"127.0.0.1:{self.port}", IMAPGW_LB_STATS=self.sock)
        for i, r in enumerate(replicas, 1):
            env[f"IMAPGW_REPLICA_{i}"] = f"127.0.0.1:{r.port}"
        cfg = os.path.join(ROOT, "deploy", "haproxy.cfg")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=log, stderr=log, env=env)
        if not wait_for("HAProxy sees every replica up",
                        lambda: self.proc.poll() is not None or
                        self.states() == {f"gw{i}": "UP" for i in (1, 2, 3)}) or \
                self.proc.poll() is not None:
            raise SystemExit(f"cluster: HAProxy did not start: {open(self.log).read()}")

    def states(self):
        """{server name: status} from the admin socket, {} when unreachable."""
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
        except OSError:
            return {}
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        head = lines[0][2:].split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("pxname") == "replicas" and row.get("svname", "").startswith("gw"):
                out[row["svname"]] = row["status"].split()[0]
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def served_by(lb, user, headers=None, auth=True, path="/folders"):
    st, h, body = lb_request(lb, "GET", path, user if auth else None, headers)
    return st, h.get("x-imapgw-replica"), body


def lb_request(lb, method, path, auth, headers=None, body=None):
    return request(lb.port, method, path, auth, headers, body)


def check_sticky(lb, replicas):
    """Each user, three times, Basic; alice also with Bearer: one replica each."""
    where = {}
    for user in USERS:
        seen = set()
        for _ in range(3):
            st, rep, body = served_by(lb, user)
            if st != 200:
                fail(f"sticky: {user[0]}: {st} {body[:200]!r}")
            seen.add(rep)
        if len(seen) != 1:
            fail(f"sticky: {user[0]} was served by {sorted(map(str, seen))}")
        where[user[0]] = seen.pop()
    st, h, body = lb_request(lb, "GET", "/folders", None,
                             {"Authorization": "Bearer " + TOKEN, "X-Imap-User": "alice"})
    if st != 200 or h.get("x-imapgw-replica") != where["alice"]:
        fail(f"sticky: alice with a Bearer token: {st} on {h.get('x-imapgw-replica')}, "
             f"with Basic on {where['alice']}")
    used = set(where.values())
    if len(used) < 2:
        fail(f"sticky: {len(USERS)} users all on {used}: no spread")
    # Each replica opened sessions for its own users only (one each, plus
    # alice's Bearer session).
    for r in replicas:
        mine = [u for u, rep in where.items() if rep == r.name]
        want = len(mine) + (1 if "alice" in mine else 0)
        got = r.metric('imapgw_pool_events_total{server="default",event="created"}')
        if got != want:
            fail(f"sticky: {r.name} opened {got} sessions, its users {mine} need {want}")
    figures["users per replica"] = ", ".join(
        f"{r.name} {sum(1 for v in where.values() if v == r.name)}" for r in replicas)
    return where


class Readers:
    """Every user but liam reads in a loop until stopped; every answer is
    recorded with the replica that gave it and when."""

    def __init__(self, lb, users):
        self.lb = lb
        self.stop_flag = threading.Event()
        self.log = {u[0]: [] for u in users}
        self.threads = [threading.Thread(target=self.run, args=(u,)) for u in users]
        for t in self.threads:
            t.start()

    def run(self, user):
        while not self.stop_flag.is_set():
            t = time.monotonic()  # when it was sent
            st, rep, body = served_by(self.lb, user, path="/messages?folder=INBOX&per_page=5")
            self.log[user[0]].append((t, st, rep, body[:200]))

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


class Writer:
    """liam: appends and flag changes, one at a time, until stopped."""

    def __init__(self, lb, phase):
        self.lb = lb
        self.phase = phase
        self.stop_flag = threading.Event()
        self.appends = []   # (subject, status, uid)
        self.flags = []     # (subject, status)
        self.results = []   # (time sent, status) of every write, in order
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            t = time.monotonic()
            subject = f"cluster-{RUN}-{self.phase}-{n}"
            msg = (f"From: t@example.org\r\nTo: liam@example.org\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{subject}@test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
                   f"write {n}\r\n").encode()
            st, _, body = lb_request(self.lb, "POST", "/messages?folder=INBOX", LIAM,
                                     {"Content-Type": "message/rfc822"}, msg)
            uid = json.loads(body).get("uid") if st == 201 else None
            self.appends.append((subject, st, uid))
            self.results.append((t, st))
            if st != 201:
                print(f"cluster: {self.phase}: append {subject}: {st} {body[:300]!r}", file=sys.stderr)
            if uid:
                t = time.monotonic()
                st, _, body = lb_request(self.lb, "PATCH", f"/messages/{uid}/flags?folder=INBOX", LIAM,
                                      {"Content-Type": "application/json"},
                                      json.dumps({"add": ["\\Flagged"]}).encode())
                self.flags.append((subject, st))
                self.results.append((t, st))
                if st != 200:
                    print(f"cluster: {self.phase}: flags of {subject}: {st} {body[:300]!r}",
                          file=sys.stderr)
            n += 1

    def stop(self):
        self.stop_flag.set()
        self.thread.join()


def liam_mailbox(port, phase):
    """{subject: [flags, ...]} of this run's and phase's messages in liam's INBOX."""
    out = {}
    page = 1
    while True:
        st, _, body = request(port, "GET", f"/messages?folder=INBOX&per_page=500&page={page}",
                              LIAM)
        if st != 200:
            fail(f"liam's mailbox: {st} {body[:200]!r}")
            return out
        j = json.loads(body)
        for m in j["messages"]:
            if m["subject"].startswith(f"cluster-{RUN}-{phase}-"):
                out.setdefault(m["subject"], []).append(m["flags"])
        if page >= j["pages"]:
            return out
        page += 1


def check_writes(w, port, what, t_gone):
    """Every write that succeeded is there once, a failed one at most once,
    nothing else; every write sent after t_gone (the replica was gone, or
    out of HAProxy) succeeded: only writes in flight may fail."""
    box = liam_mailbox(port, w.phase)
    ok = failed = 0
    for subject, st, _ in w.appends:
        n = len(box.get(subject, []))
        if st == 201:
            ok += 1
            if n != 1:
                fail(f"{what}: append {subject} answered 201 but is there {n} times")
        else:
            failed += 1
            if n > 1:
                fail(f"{what}: append {subject} answered {st} and is there {n} times")
    tried = {s for s, _, _ in w.appends}
    for subject in box:
        if subject not in tried:
            fail(f"{what}: {subject} is in the mailbox but was never sent")
    for subject, st in w.flags:
        if st == 200 and not all("\\Flagged" in f for f in box.get(subject, [])):
            fail(f"{what}: the flag change of {subject} answered 200 but is not there")
    for t, st in w.results:
        if t > t_gone and st not in (200, 201):
            fail(f"{what}: a write sent {t - t_gone:.2f} s after the replica was gone failed: {st}")
    return ok, failed


def run_kill(lb, replicas, where):
    victim = next(r for r in replicas if r.name == where["liam"])
    readers = Readers(lb, [u for u in USERS if u[0] != "liam"])
    writer = Writer(lb, "kill")
    wait_for("kill: liam wrote 10 times", lambda: len(writer.results) >= 10)
    t_kill = time.monotonic()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    t_gone = time.monotonic()
    wait_for(f"kill: HAProxy takes {victim.name} out", lambda: lb.states().get(victim.name) == "DOWN")
    t_down = time.monotonic()
    n0 = len(writer.results)
    wait_for("kill: liam wrote 10 times more", lambda: len(writer.results) >= n0 + 10)
    readers.stop()
    writer.stop()
    figures["kill: HAProxy marked the killed replica down after"] = f"{t_down - t_kill:.1f} s"
    reads = 0
    moved = {}
    for user, log in readers.log.items():
        reads += len(log)
        for t, st, rep, body in log:
            if st != 200:
                fail(f"kill: a read of {user} failed: {st} {body!r}")
        after = [rep for t, st, rep, _ in log if t > t_down and st == 200]
        if where[user] != victim.name:
            if any(rep != where[user] for rep in after):
                fail(f"kill: {user} (on {where[user]}) moved to {set(after)}")
        else:
            if not after or len(set(after)) != 1 or after[0] == victim.name:
                fail(f"kill: {user} of the killed replica was served by {set(after)} after")
            else:
                moved[user] = after[0]
    figures["kill: reads during the run"] = str(reads)
    figures["kill: users moved"] = ", ".join(f"{u} -> {r}" for u, r in moved.items()) or "none"
    ok, failed = check_writes(writer, lb.port, "kill", t_gone)
    figures["kill: writes"] = f"{len(writer.results)} ({ok} appends ok, {failed} failed)"
    for u, r in moved.items():
        where[u] = r
    where["liam"] = served_by(lb, LIAM)[1]
    return victim


def run_drain(lb, replicas, where, victim):
    alive = [r for r in replicas if r is not victim]
    # the replica of the most users goes; the other must take them
    target = max(alive, key=lambda r: sum(1 for v in where.values() if v == r.name))
    other = next(r for r in alive if r is not target)
    readers = Readers(lb, [u for u in USERS if u[0] != "liam"])
    writer = Writer(lb, "drain")
    wait_for("drain: liam wrote 5 times", lambda: len(writer.results) >= 5)
    t0 = time.monotonic()
    target.proc.send_signal(signal.SIGTERM)
    wait_for(f"drain: {target.name}'s /readyz says 503",
             lambda: request(target.port, "GET", "/readyz")[0] == 503, timeout=DRAIN_S)
    wait_for(f"drain: HAProxy takes {target.name} out",
             lambda: lb.states().get(target.name) == "DOWN", timeout=DRAIN_S + 5)
    t_down = time.monotonic()
    try:
        rc = target.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    t_exit = time.monotonic()
    if rc != 0:
        fail(f"drain: {target.name} exited {rc} after SIGTERM")
    n0 = len(writer.results)
    wait_for("drain: liam wrote 5 times more", lambda: len(writer.results) >= n0 + 5)
    readers.stop()
    writer.stop()
    figures["drain: out of HAProxy after, exited after"] = f"{t_down - t0:.1f} s, {t_exit - t0:.1f} s"
    reads = 0
    for user, log in readers.log.items():
        reads += len(log)
        for t, st, rep, body in log:
            if st != 200:
                fail(f"drain: a read of {user} failed: {st} {body!r}")
        after = {rep for t, st, rep, _ in log if t > t_exit}
        if after != {other.name}:
            fail(f"drain: {user} served by {after} once {target.name} was gone")
    check_writes(writer, other.port, "drain", 0)
    figures["drain: reads, writes during the drain"] = f"{reads}, {len(writer.results)}"


def main():
    t0 = time.monotonic()
    replicas = []
    lb = None
    try:
        for i in (1, 2, 3):
            replicas.append(Replica(f"gw{i}"))
        lb = HAProxy(replicas)
        where = check_sticky(lb, replicas)
        victim = run_kill(lb, replicas, where)
        run_drain(lb, replicas, where, victim)
    finally:
        if lb:
            lb.stop()
        for r in replicas:
            r.stop()
    for r in replicas:
        with open(r.log, errors="replace") as f:
            text = f.read()
        for secret in [u[1] for u in USERS] + [basic(*u)[6:] for u in USERS]:
            if secret in text:
                fail(f"{r.name}: a credential is in the log")
    for k, v in figures.items():
        print(f"cluster: {k}: {v}")
    print(f"cluster: {len(failures)} failures in {time.monotonic() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
