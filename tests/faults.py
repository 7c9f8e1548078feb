#!/usr/bin/env python3
"""tests/faults.py — the fault and hostile-input suite (make test-faults).

Runs under tests/with-dovecot.sh against the real daemon ($IMAPGW_BIN) and
the private Dovecot ($IMAPGW_TEST_*), through a real HTTP client, and checks
what a week of real traffic would throw at the gateway:

  crafted    500+ malformed or hostile requests, each with the status it
             must get; never a 500, every error problem+json
  proxy      a fault proxy between the gateway and Dovecot: slow, dropped,
             garbage, a 1 GiB literal announced and stalled, a 60 MB
             literal flooded into many sessions at once
  restart    Dovecot killed (SIGKILL) and started again under load

After every fault the next request must succeed (recovery), the daemon must
still run (no crash), its RSS must stay under RSS_BUDGET_MB, and no answer
may be a 5xx other than the deliberate 502, 503 and 504. At the end the
daemon must exit cleanly on SIGTERM. Prints the figures it measured.
"""
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from testlib import basic, free_port

BIN = os.environ.get("IMAPGW_BIN", "build/imapgw")
DIR = os.environ["IMAPGW_TEST_DIR"]
CA = os.environ["IMAPGW_TEST_CA"]
IMAPS = int(os.environ["IMAPGW_TEST_IMAPS_PORT"])
IMAP = int(os.environ["IMAPGW_TEST_IMAP_PORT"])
ALICE = ("alice", "alice-secret")
RSS_BUDGET_MB = 256  # the proxy run's daemon holds responses of at most 128 MB (--imap-memory-max)
DELIBERATE_5XX = {502, 503, 504}

failures = []
figures = {}


def fail(msg):
    failures.append(msg)
    print("faults: FAIL " + msg, file=sys.stderr)


class Gateway:
    """The real daemon on a free loopback port, with its own log."""

    def __init__(self, name, *args):
        self.port = free_port()
        self.log = os.path.join(DIR, f"faults-{name}.log")
        argv = [BIN, "--listen", f"127.0.0.1:{self.port}", "--log-level", "info"]
        argv += list(args)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz", auth=None)[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"faults: the daemon exited at start: {open(self.log).read()}")
            time.sleep(0.05)
        else:
            raise SystemExit("faults: the daemon did not answer /healthz within 30 s")
        self.peak_rss = 0

    def request(self, method, path, auth=ALICE, headers=None, body=None, timeout=90):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if auth and "Authorization" not in h:
            h["Authorization"] = basic(*auth)
        if h.get("Authorization") == "":
            del h["Authorization"]  # a case without credentials
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    mb = int(line.split()[1]) / 1024
                    self.peak_rss = max(self.peak_rss, mb)
                    return mb
        return 0

    def check_alive(self, what):
        if self.proc.poll() is not None:
            fail(f"{what}: the daemon is gone (exit {self.proc.returncode})")
            return False
        self.rss_mb()
        if self.peak_rss > RSS_BUDGET_MB:
            fail(f"{what}: RSS reached {self.peak_rss:.0f} MB, over the {RSS_BUDGET_MB} MB budget")
        return True

    def recovers(self, what, path="/messages?per_page=5", tries=1):
        """The next request (or, where the fault outlives it, one of the
        next `tries`) answers 200."""
        last = None
        for _ in range(tries):
            try:
                last = self.request("GET", path)
                if last[0] == 200:
                    return True
            except OSError as e:
                last = (str(e), {}, b"")
            time.sleep(0.2)
        fail(f"{what}: no recovery: {last[0]} {last[2][:200]!r}")
        return False

    def stop(self, what):
        if self.proc.poll() is not None:
            fail(f"{what}: the daemon had exited ({self.proc.returncode})")
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"{what}: the daemon did not stop within 60 s of SIGTERM")
            return
        if rc != 0:
            fail(f"{what}: the daemon exited {rc} on SIGTERM")
        with open(self.log, errors="replace") as f:
            text = f.read()
        for secret in ("alice-secret", basic(*ALICE)[6:]):
            if secret in text:
                fail(f"{what}: a credential is in the log")
        for bad in ("AddressSanitizer", "runtime error:", "Segmentation"):
            if bad in text:
                fail(f"{what}: the log reports {bad}")


def status_ok(what, status, headers, body, want):
    if status == 500 or (status >= 500 and status not in DELIBERATE_5XX):
        fail(f"{what}: {status} {body[:200]!r}")
        return
    if want is not None and status not in want:
        fail(f"{what}: {status}, want {sorted(want)}: {body[:200]!r}")
        return
    if status < 400:
        return
    if headers.get("content-type") != "application/problem+json":
        fail(f"{what}: {status} with Content-Type {headers.get('content-type')}")
        return
    try:
        if json.loads(body).get("status") != status:
            fail(f"{what}: problem body's status is not {status}: {body[:200]!r}")
    except ValueError:
        fail(f"{what}: problem body is not JSON: {body[:200]!r}")


# ---- crafted requests ----

def crafted_cases():
    """(method, path, headers, body, expected statuses): at least 500."""
    cases = []
    add = cases.append
    bad_uids = ["0", "01", "abc", "-1", "4294967296", "99999999999", "1.5", "1e3", "%20", "0x10",
                "%00", "+1", "1%2F2"]
    subs_get = ["", "/raw", "/attachments", "/attachments/1", "/flags"]
    for uid in bad_uids:
        for sub in subs_get:
            add(("GET", f"/messages/{uid}{sub}", None, None, {400, 404}))
        add(("DELETE", f"/messages/{uid}", None, None, {400, 404}))
        for sub in ("/move", "/copy"):
            add(("POST", f"/messages/{uid}{sub}", {"Content-Type": "application/json"},
                 b'{"to":"Archive"}', {400, 404}))
        add(("PATCH", f"/messages/{uid}/flags", {"Content-Type": "application/json"},
             b'{"add":["\\\\Seen"]}', {400, 404}))
    bad_parts = ["0", "1..2", "a", "1.HEADER", "1.", ".1", "1.0", "99999999999", "1%00"]
    for part in bad_parts:
        add(("GET", f"/messages/1/attachments/{part}", None, None, {400}))
    for path in ["//", "/nope", "/docs/", "/docs/x.js", "/messages/1/nope", "/folders/", "/folders/a/", "//folders",
                 "/messages/", "/messages/1/raw/x", "/healthz/x", "/openapi.json/x",
                 "/%2e%2e/etc/passwd", "/messages/1/attachments/1/2", "/FOLDERS",
                 "/messages/flags/x", "/metrics/x"]:
        add(("GET", path, None, None, {404}))
    for method, path in [("POST", "/healthz"), ("DELETE", "/readyz"), ("PUT", "/folders"),
                         ("POST", "/messages/1"), ("PUT", "/messages"),
                         ("GET", "/messages/move"), ("GET", "/messages/copy"),
                         ("GET", "/messages/flags"), ("DELETE", "/messages/flags"),
                         ("POST", "/messages/1/raw"), ("PUT", "/messages/1/attachments"),
                         ("POST", "/folders/INBOX"), ("PUT", "/openapi.json"),
                         ("POST", "/metrics"), ("DELETE", "/docs"), ("TRACE", "/folders"),
                         ("PROPFIND", "/folders"), ("POST", "/messages/1/flags")]:
        add((method, path, None, None, {405}))
    # every path answers OPTIONS, without credentials and without IMAP
    for path in ["/messages", "/messages/1", "/folders/a/b", "/", "/docs", "/metrics"]:
        add(("OPTIONS", path, None, None, {204}))
    bad_query = ["page=0", "page=-1", "page=abc", "page=", "page=99999999999",
                 "per_page=0", "per_page=100000", "per_page=x", "sort=bogus", "sort=",
                 "order=up", "order=", "since=2024-13-01", "since=yesterday", "before=2024-02-30x",
                 "larger=abc", "smaller=0", "smaller=-5", "uidvalidity=0", "uidvalidity=abc",
                 "folder=%0D%0AX", "folder=", "folder=a%0Ab", "cursor=garbage", "cursor=",
                 "cursor=djEuMS4yLjMuNC41", "unseen=maybe", "flagged=2", "has_unsubscribe=yes",
                 "from=%01", "text=" + "x" * 2000, "unknown=1", "PAGE=1",
                 "folder=%FF%FE", "since=2024-02-05T00:00:00", "to=%7F", "smaller=x",
                 "larger=-1", "before=", "since=0000-00-00", "order=ASC%00"]
    for q in bad_query:
        add(("GET", "/messages?" + q, None, None, {400}))
    for q in ["headers=a%20b", "headers=a:b", "max_bytes=0", "max_bytes=x", "mark_seen=maybe",
              "bogus=1", "folder=%0D%0A", "uidvalidity=-1"]:
        add(("GET", "/messages/1?" + q, None, None, {400}))
    for q in ["counts=maybe", "tree=2", "bogus=1"]:
        add(("GET", "/folders?" + q, None, None, {400}))
    # search, threads, account
    for q in ["cursor=garbage", "cursor=", "cursor=czEuMS4yLjM", "per_page=0", "folders=",
              "folders=a%0Db", "q=x&text=y", "q=%01", "since=2024-13-01", "bogus=1",
              "folders=%FF", "page=2"]:
        add(("GET", "/search?" + q, None, None, {400}))
    add(("GET", "/search?folders=No%20Such%20Folder", None, None, {404}))
    for q in ["page=0", "per_page=0", "per_page=x", "folder=%0A", "bogus=1", "sort=date",
              "order=up", "sort="]:
        add(("GET", "/threads?" + q, None, None, {400}))
    add(("GET", "/threads?folder=No%20Such%20Folder", None, None, {404}))
    for tid in ["x", "bTxhPg%3D%3D", "dTA", "dXg", "bm9wZQ", "bTw-", "A" * 3000,
                "bTxhQGI-IDxjQGQ-", "dTQyOTQ5NjcyOTY"]:
        add(("GET", f"/threads/{tid}", None, None, {400}))
    add(("GET", "/threads/bTxuby1zdWNoQHg-", None, None, {404}))
    add(("GET", "/threads/bTxuby1zdWNoQHg-?folders=No%20Such", None, None, {404}))
    add(("GET", "/account?bogus=1", None, None, {400}))
    for method, path in [("POST", "/search"), ("DELETE", "/threads"), ("PUT", "/account"),
                         ("POST", "/threads/bTxhPg")]:
        add((method, path, None, None, {405}))
    for folder in ["No%20Such%20Folder", "INBOX%00x", "%E2%98%83%20missing"]:
        add(("GET", f"/messages?folder={folder}", None, None, {404}))
        add(("GET", f"/messages/1/raw?folder={folder}", None, None, {404}))
    # credentials
    # (wrong passwords for bob only: alice's failures would throttle the
    # rest of the run with 429s)
    auths = [None, "Basic", "Basic ", "Basic !!!", "Basic YWxpY2U=", "Basic " + "A" * 5000,
             "Digest x", "bearer", "Negotiate abc", basic("bob", "wrong-password"),
             basic("", "x"), "Basic " + base64.b64encode(b"\xff\xfe:x").decode()]
    for a in auths:
        for path in ("/folders", "/messages", "/messages/1", "/messages/1/flags"):
            headers = {"Authorization": a if a else ""}
            add(("GET", path, headers, None, {401, 400, 429}))
    for path in ("/folders", "/messages"):
        add(("GET", path, {"Authorization": "Bearer tok"}, None, {400}))
        add(("GET", path, {"Authorization": "Bearer ", "X-Imap-User": "alice"}, None, {401}))
    # JSON bodies
    js = {"Content-Type": "application/json"}
    bad_bodies = [b"", b"{", b"[]", b"null", b"1", b'"x"', b"{}x", b'{"a":1}',
                  b"[" * 20 + b"]" * 20, b'{"path":"a","path":"b"}', b'{"path":1}',
                  b'{"path":""}', b'{"path":"a\\r\\nb"}', b'{"path":"a\\u0000b"}',
                  b'{"path":"' + b"x" * 2000 + b'"}', b'{"path":"a","subscribed":"yes"}',
                  b"\xff\xfe", b'{"path":"\xff"}']
    for b in bad_bodies:
        add(("POST", "/folders", js, b, {400}))
    for b in [b'{"path":"x"}', b"x"]:
        add(("POST", "/folders", {"Content-Type": "text/plain"}, b, {415}))
        add(("PATCH", "/messages/flags", {"Content-Type": "text/html"}, b, {415}))
    flag_bodies = [b'{"uids":[],"add":["\\\\Seen"]}', b'{"uids":[0],"add":["\\\\Seen"]}',
                   b'{"uids":[-1],"add":["\\\\Seen"]}', b'{"uids":["1"],"add":["\\\\Seen"]}',
                   b'{"uids":[1.5],"add":["\\\\Seen"]}', b'{"uids":[4294967296],"add":["a"]}',
                   b'{"uids":[1]}', b'{"uids":[1],"add":[]}' + b" x",
                   b'{"uids":[1],"add":["\\\\Recent"]}', b'{"uids":[1],"add":["a b"]}',
                   b'{"uids":[1],"add":["("]}', b'{"uids":[1],"add":["x"],"remove":["x"]}',
                   b'{"uids":[1],"add":[1]}', b'{"uids":[1],"add":"x"}',
                   b'{"uids":[1],"add":[' + b",".join([b'"k%d"' % i for i in range(65)]) + b"]}",
                   b'{"uids":[' + b",".join(b"%d" % (i + 1) for i in range(1001)) + b'],"add":["a"]}',
                   b'{"uids":[1],"add":["a"],"extra":1}', b'{"uids":[1],"add":["\\\\"]}',
                   b'{"uids":[1],"add":["' + b"k" * 300 + b'"]}']
    for b in flag_bodies:
        add(("PATCH", "/messages/flags", js, b, {400}))
    for b in [b'{}', b'{"flags":"x"}', b'{"flags":["\\\\Bogus"]}', b'{"add":[]}x']:
        add(("PUT", "/messages/1/flags", js, b, {400}))
    for b in [b'{}', b'{"to":""}', b'{"to":1}', b'{"to":"INBOX"}', b'{"to":"a\\nb"}',
              b'{"to":"Archive","uids":[1]}']:
        add(("POST", "/messages/1/move", js, b, {400}))
    for b in [b'{"to":"Archive"}', b'{"uids":[1]}', b'{"uids":[],"to":"Archive"}']:
        add(("POST", "/messages/copy", js, b, {400}))
    for q in ["", "?folder=%0D", "?flags=%5CBogus", "?received=yesterday",
              "?received=2024-02-30T10:00:00Z", "?flags=a%20(", "?bogus=1"]:
        add(("POST", "/messages" + q, {"Content-Type": "message/rfc822"},
             b"" if not q else b"Subject: x\r\n\r\nbody\r\n", {400}))
    add(("POST", "/messages", {"Content-Type": "message/rfc822"}, b"Subject: x\r\n\r\n\x00\r\n",
         {400}))
    add(("POST", "/messages", {"Content-Type": "text/plain"}, b"Subject: x\r\n\r\nx\r\n", {415}))
    for path in ["/folders/INBOX", "/folders/a%0Ab", "/folders/Archive?bogus=1"]:
        add(("DELETE", path, None, None, {400, 409}))
    # /senders: every refusal before IMAP is asked anything
    for q in ["group=x", "group=", "min_count=0", "min_count=-1", "min_count=x", "page=0",
              "per_page=0", "per_page=100000", "since=2024-02-30", "since=today",
              "has_unsubscribe=maybe", "folders=", "folders=%0D%0A", "folders=a%0Ab", "bogus=1",
              "folders=" + ",".join("f%d" % i for i in range(300))]:
        add(("GET", "/senders?" + q, None, None, {400}))
    # folders=, the rule of every route that names several: repeated one each
    for route in ("/senders", "/search", "/events", "/threads/bTxhQGI-"):
        for q in ["folders=a,a", "folders=a,,b", "folders=,", "folders=a&folders=a",
                  "folders=&folders=", "folders=a%2Cb&folders=%0A", "folders=%FF&folders=x"]:
            add(("GET", route + "?" + q, None, None,
                 {400, 503} if route == "/events" else {400}))
    some = "YTp4QHkudGVzdA"  # a:x@y.test: a key that can be, of a sender alice has not
    for sid in ["!!", "%00", "a" * 800, "bm9wZQ", "eDph", "bDo", "QTpYQFkuVEVTVA", "YTp4%0A",
                "YTp4QHkudGVzdA=="]:
        for act in ("read", "archive", "delete", "unsubscribe"):
            add(("POST", f"/senders/{sid}/{act}", js, b"{}", {404}))
    for b in [b"", b"[]", b"{", b'{"dry_run":"yes"}', b'{"folders":"INBOX"}', b'{"folders":[]}',
              b'{"folders":[1]}', b'{"folders":["a\r\nb"]}', b'{"folders":[""]}',
              b'{"bogus":1}', b'{"dry_run":true,"x":1}']:
        for act in ("read", "archive", "delete", "unsubscribe"):
            add(("POST", f"/senders/{some}/{act}", js, b, {400}))
    for b in [b'{"to":1}', b'{"to":""}', b'{"to":"a\nb"}']:
        add(("POST", f"/senders/{some}/archive", js, b, {400}))
    add(("POST", f"/senders/{some}/delete", js, b'{"to":"Trash"}', {400}))
    add(("POST", f"/senders/{some}/read", js, b'{"to":"Trash"}', {400}))
    for b in [b'{"method":"pigeon"}', b'{"method":1}', b'{"force":"yes"}', b'{"dry_run":true}']:
        add(("POST", f"/senders/{some}/unsubscribe", js, b, {400}))
    for act in ("read", "archive", "delete", "unsubscribe"):
        add(("POST", f"/senders/{some}/{act}", {"Content-Type": "text/plain"}, b"{}", {415}))
        add(("GET", f"/senders/{some}/{act}", None, None, {405}))
    for method, path in [("POST", "/senders"), ("DELETE", "/senders"), ("PUT", "/senders")]:
        add((method, path, None, None, {405}))
    for path in ["/senders/", f"/senders/{some}", f"/senders/{some}/", f"/senders/{some}/x",
                 f"/senders/{some}/read/x"]:
        add(("GET", path, None, None, {404}))
    # sizes: --uri-max 8 KiB, --header-max 16 KiB, --body-max 64 KiB in this run
    add(("GET", "/messages?subject=" + "x" * 9000, None, None, {414}))
    add(("GET", "/healthz?" + "&".join(f"a{i}=1" for i in range(40)), None, None, {400}))
    add(("GET", "/healthz", {"X-Pad": "p" * 20000}, None, {431}))
    add(("POST", "/folders", js, b'{"path":"' + b"x" * 70000 + b'"}', {413}))
    add(("POST", "/messages", {"Content-Type": "message/rfc822"}, b"x" * 300000, {413}))
    return cases


def run_crafted(gw):
    cases = crafted_cases()
    base = len(cases)
    # the same families once more through HEAD where GET is taken
    for method, path, headers, body, want in list(cases):
        if method == "GET" and len(cases) < base + 200:
            cases.append(("HEAD", path, headers, body, want))
    if len(cases) < 500:
        fail(f"crafted: only {len(cases)} cases")
    seen = {}
    for i, (method, path, headers, body, want) in enumerate(cases):
        what = f"crafted {i} {method} {path[:80]}"
        try:
            status, h, data = gw.request(method, path, headers=headers, body=body)
        except (OSError, http.client.HTTPException) as e:
            fail(f"{what}: {e}")
            continue
        seen[status] = seen.get(status, 0) + 1
        if method == "HEAD":
            if status >= 500 and status not in DELIBERATE_5XX:
                fail(f"{what}: {status}")
            elif want is not None and status not in want:
                fail(f"{what}: {status}, want {sorted(want)}")
            continue
        status_ok(what, status, h, data, want)
    gw.check_alive("crafted")
    gw.recovers("crafted")
    figures["crafted requests"] = f"{len(cases)} ({', '.join(f'{k}: {v}' for k, v in sorted(seen.items()))})"


# ---- the fault proxy ----

def hang_up(*socks):
    for x in socks:
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Proxy:
    """Loopback TCP proxy to Dovecot's plain port, with a fault mode applied
    to what the server sends:
      pass      bytes as they are
      slow      each piece 300 ms late
      drop      every connection closed at once (new ones too)
      garbage   a line no IMAP server sends, before the next piece
      huge      the next FETCH answered with a 1 GiB literal announced,
                a kilobyte of it sent, then silence
      flood     the next FETCH answered with a 60 MB literal sent whole
    """

    def __init__(self):
        self.mode = "pass"
        self.faked = 0  # FETCHes answered with a fake literal
        self.lock = threading.Lock()
        self.conns = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            if mode == "drop":
                for c, s in self.conns:
                    hang_up(c, s)
                self.conns = []

    def accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "drop":
                c.close()
                continue
            try:
                s = socket.create_connection(("127.0.0.1", IMAP), timeout=10)
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.append((c, s))
            threading.Thread(target=self.client_to_server, args=(c, s), daemon=True).start()
            threading.Thread(target=self.server_to_client, args=(c, s), daemon=True).start()

    def client_to_server(self, c, s):
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                mode = self.mode
                if mode in ("huge", "flood") and b"FETCH" in data:
                    tag = data.split(b" ", 1)[0]
                    self.fake_literal(c, tag, mode)
                    return
                s.sendall(data)
        except OSError:
            pass
        finally:
            hang_up(c, s)

    def fake_literal(self, c, tag, mode):
        with self.lock:
            self.faked += 1
        try:
            if mode == "huge":
                c.sendall(b"* 1 FETCH (UID 1 BODY[] {1073741824}\r\n" + b"x" * 1024)
                c.settimeout(20)  # silence, until the gateway gives up by itself
                while c.recv(4096):
                    pass
            else:
                n = 60 * 1024 * 1024
                c.sendall(b"* 1 FETCH (UID 1 RFC822.SIZE 10 ENVELOPE NIL BODY[] {%d}\r\n" % n)
                chunk = b"y" * (1 << 20)
                for _ in range(60):
                    c.sendall(chunk)
                c.sendall(b")\r\n" + tag + b" OK done\r\n")
        except OSError:
            pass
        # then the server hangs up, as a real one would after such a fault

    def server_to_client(self, c, s):
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                mode = self.mode
                if mode == "slow":
                    time.sleep(0.3)
                elif mode == "garbage":
                    data = b")) \x00\xff garbage {x}\r\n" + data
                c.sendall(data)
        except OSError:
            pass
        finally:
            hang_up(c, s)

    def close(self):
        self.stopping = True
        self.sock.close()
        self.set_mode("drop")


def parallel(n, fn):
    out = [None] * n
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn(i))) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def run_proxy_faults():
    proxy = Proxy()
    gw = Gateway("proxy", "--imap-host", "127.0.0.1", "--imap-port", str(proxy.port),
                 "--imap-tls", "none", "--imap-stall-timeout", "2000", "--imap-memory-max", "128M",
                 "--request-timeout", "15000", "--pool-per-user", "16", "--workers", "32")
    gw.recovers("proxy pass")

    def get(what, path="/messages?per_page=5", want=None, cut_ok=False):
        try:
            status, h, data = gw.request("GET", path)
        except http.client.IncompleteRead as e:
            if cut_ok:
                return "200 cut short"  # a streamed body ends early, never a whole 200
            fail(f"{what}: {e}")
            return None
        except (OSError, http.client.HTTPException) as e:
            fail(f"{what}: {e}")
            return None
        status_ok(what, status, h, data, want)
        return status

    proxy.set_mode("slow")
    t0 = time.monotonic()
    s = get("slow", want={200, 504})
    figures["slow server (300 ms a piece)"] = f"{s} in {time.monotonic() - t0:.1f} s"
    proxy.set_mode("pass")
    gw.recovers("after slow", tries=3)

    proxy.set_mode("drop")
    statuses = [get("dropped", want={502, 503, 504}) for _ in range(3)]
    figures["dropped connections"] = ", ".join(str(x) for x in statuses)
    proxy.set_mode("pass")
    gw.recovers("after drop")

    proxy.set_mode("garbage")
    statuses = [get(f"garbage {i}", want={200, 502}) for i in range(3)]
    figures["garbage from the server"] = ", ".join(str(x) for x in statuses)
    proxy.set_mode("pass")
    gw.recovers("after garbage", tries=2)

    proxy.set_mode("huge")
    faked = proxy.faked
    t0 = time.monotonic()
    s = get("huge literal", path="/messages/1/raw", want={502, 504}, cut_ok=True)
    took = time.monotonic() - t0
    figures["1 GiB literal announced, then silence"] = f"{s} after {took:.1f} s (stall timeout 2 s)"
    if took > 12:
        fail(f"huge literal: held the client {took:.1f} s, beyond the stall timeout")
    if proxy.faked == faked:
        fail("huge literal: no FETCH reached the proxy, the fault was never played")
    gw.check_alive("huge literal")
    proxy.set_mode("pass")
    gw.recovers("after huge literal", tries=2)

    proxy.set_mode("flood")
    rss = []

    def flood(i):
        # a message's content is always fetched (a listing may come from the index);
        # the fake answers for UID 1 only, so the others are 404s
        r = get(f"flood {i}", path=f"/messages/{i + 1}", want={200, 404, 502, 503, 504})
        rss.append(gw.rss_mb())
        return r

    faked = proxy.faked
    statuses = parallel(16, flood)
    if proxy.faked - faked < 8:
        fail(f"flood: only {proxy.faked - faked} FETCHes met the flood, the fault was barely played")
    gw.check_alive("60 MB literal flood")
    figures["60 MB literal into 16 sessions"] = (
        f"{proxy.faked - faked} floods, answers {sorted(set(statuses), key=str)}, "
        f"peak RSS {max(rss + [gw.peak_rss]):.0f} MB")
    proxy.set_mode("pass")
    gw.recovers("after flood", tries=2)
    gw.check_alive("proxy")
    figures["proxy daemon peak RSS"] = f"{gw.peak_rss:.0f} MB"
    gw.stop("proxy")
    proxy.close()


# ---- Dovecot killed and restarted under load ----

def dovecot_pids():
    with open(os.path.join(DIR, "run", "master.pid")) as f:
        master = int(f.read().strip())
    kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                          text=True).stdout.split()
    return master, [int(k) for k in kids]


def run_restart():
    gw = Gateway("restart", "--imap-host", "127.0.0.1", "--imap-port", str(IMAPS),
                 "--imap-ca", CA, "--request-timeout", "10000")
    gw.recovers("restart: before")
    stop = threading.Event()
    counts = {}
    lock = threading.Lock()

    def load(i):
        while not stop.is_set():
            path = ["/messages?per_page=10", "/folders?counts=true", "/messages/1"][i % 3]
            try:
                status, h, data = gw.request("GET", path, timeout=60)
            except (OSError, http.client.HTTPException) as e:
                fail(f"restart load: {e}")
                return
            with lock:
                counts[status] = counts.get(status, 0) + 1
            if status >= 500 and status not in DELIBERATE_5XX:
                fail(f"restart load: {status} {data[:200]!r}")

    threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    master, kids = dovecot_pids()
    conf = os.path.join(DIR, "dovecot.conf")
    with open(f"/proc/{master}/cmdline", "rb") as f:
        if conf.encode() not in f.read():
            raise SystemExit("faults: the master pid is not our Dovecot")
    for pid in [master] + kids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(1.5)  # under load, with the server gone
    for _ in range(100):  # the old processes must be gone before a new master binds
        try:
            os.kill(master, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            break
    os.remove(os.path.join(DIR, "run", "master.pid"))
    for attempt in range(50):
        # (output to a file: the daemon keeps its stdout open, a pipe never closes)
        with open(os.path.join(DIR, "dovecot-restart.out"), "wb") as out:
            r = subprocess.run(["dovecot", "-c", conf], stdout=out, stderr=out)
        if r.returncode == 0:
            break
        time.sleep(0.2)
    else:
        stop.set()  # the load threads would keep the process alive
        for t in threads:
            t.join()
        raise SystemExit("faults: Dovecot did not start again: " +
                         open(os.path.join(DIR, "dovecot-restart.out")).read())
    time.sleep(1.5)  # under load, with the server back
    stop.set()
    for t in threads:
        t.join()
    figures["Dovecot killed and restarted under load"] = ", ".join(
        f"{k}: {v}" for k, v in sorted(counts.items()))
    gw.recovers("restart: after", tries=5)
    # a write after the restart, on a pool of sessions that all died
    status, h, data = gw.request("POST", "/folders", headers={"Content-Type": "application/json"},
                                 body=json.dumps({"path": f"Faults-{os.getpid()}"}).encode())
    figures["first write after the restart"] = str(status)
    status_ok("write after restart", status, h, data, None)
    if status == 201:
        gw.request("DELETE", f"/folders/Faults-{os.getpid()}")
    gw.check_alive("restart")
    gw.stop("restart")


def main():
    t0 = time.monotonic()
    gw = Gateway("crafted", "--imap-host", "127.0.0.1", "--imap-port", str(IMAPS),
                 "--imap-ca", CA, "--body-max", "64K", "--append-max", "256K")
    run_crafted(gw)
    figures["crafted daemon peak RSS"] = f"{gw.peak_rss:.0f} MB"
    gw.stop("crafted")
    run_proxy_faults()
    run_restart()
    for k, v in figures.items():
        print(f"faults: {k}: {v}")
    print(f"faults: {len(failures)} failures in {time.monotonic() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
