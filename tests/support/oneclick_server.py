#!/usr/bin/env python3
"""A small HTTPS server on loopback for the one-click unsubscribe tests.

    oneclick_server.py CERT KEY LOG

Listens on 127.0.0.1 on a free port, prints "PORT <n>" once it accepts
connections, and appends one JSON line per request to LOG: method, path,
headers (name -> value, names in lower case) and body. Paths:

    /ok        200 "unsubscribed" (and a Set-Cookie, which must never come back)
    /redirect  302 to /landing on this server (which must never be asked for)
    /landing   200
    /slow      waits 30 s before answering
    /huge      200 with 8 MiB of body
    other      404

Stops on SIGTERM.
"""
import json
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body):
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("latin-1"),
        }
        with lock, open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def answer(self, status, body, extra=()):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 65536)) if n else b""
        self.record(body)
        port = self.server.server_address[1]
        if self.path == "/ok":
            self.answer(200, b"unsubscribed", [("Set-Cookie", "session=secret; Path=/")])
        elif self.path == "/redirect":
            self.answer(302, b"", [("Location", "https://127.0.0.1:%d/landing" % port)])
        elif self.path == "/landing":
            self.answer(200, b"landed")
        elif self.path == "/slow":
            time.sleep(30)
            self.answer(200, b"late")
        elif self.path == "/huge":
            size = 8 << 20
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
        else:
            self.answer(404, b"no such page")

    do_POST = handle_any
    do_GET = handle_any


def main():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("PORT %d" % httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
