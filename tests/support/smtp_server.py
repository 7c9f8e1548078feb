#!/usr/bin/env python3
"""A small SMTP submission server on loopback for the mailto unsubscribe tests.

    smtp_server.py CERT KEY LOG

Listens on 127.0.0.1 on a free port, prints "PORT <n>" once it accepts
connections. Offers STARTTLS (with CERT and KEY) and, after it, AUTH PLAIN;
appends one JSON line per accepted message to LOG: the TLS state, the
decoded AUTH PLAIN user and password, MAIL FROM, RCPT TO and the data (the
dot-stuffing undone). Stops on SIGTERM.
"""
import base64
import json
import signal
import socket
import ssl
import sys
import threading

CERT, KEY, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()


def serve(conn, ctx):
    f = conn.makefile("rb")
    tls = False
    auth = None
    mail_from = None
    rcpts = []

    def send(line):
        conn.sendall((line + "\r\n").encode())

    send("220 smtp.test ESMTP")
    while True:
        line = f.readline(4096)
        if not line:
            return
        cmd = line.decode("latin-1").rstrip("\r\n")
        verb = cmd.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            conn.sendall(b"250-smtp.test\r\n")
            conn.sendall(b"250-AUTH PLAIN\r\n" if tls else b"250-STARTTLS\r\n")
            send("250 8BITMIME")
        elif verb == "STARTTLS" and not tls:
            send("220 go ahead")
            conn = ctx.wrap_socket(conn, server_side=True)
            f = conn.makefile("rb")
            tls = True
        elif verb == "AUTH":
            parts = cmd.split(" ")
            if not tls or len(parts) < 2 or parts[1].upper() != "PLAIN":
                send("504 no")
                continue
            if len(parts) == 3:
                blob = parts[2]
            else:
                send("334 ")
                blob = f.readline(4096).decode().strip()
            _, user, password = base64.b64decode(blob).decode().split("\0")
            auth = [user, password]
            send("235 ok")
        elif verb == "MAIL":
            if not auth:
                send("530 authenticate first")
                continue
            mail_from = cmd[5:].strip()
            send("250 ok")
        elif verb == "RCPT":
            rcpts.append(cmd[5:].strip())
            send("250 ok")
        elif verb == "DATA":
            send("354 go")
            data = []
            while True:
                d = f.readline(65536)
                if not d or d == b".\r\n":
                    break
                if d.startswith(b".."):
                    d = d[1:]
                data.append(d.decode("utf-8", "replace"))
            with lock, open(LOG, "a", encoding="utf-8") as out:
                out.write(json.dumps({"tls": tls, "auth": auth, "mail_from": mail_from,
                                      "rcpt": rcpts, "data": "".join(data)}) + "\n")
            rcpts = []
            send("250 queued")
        elif verb == "QUIT":
            send("221 bye")
            return
        elif verb in ("RSET", "NOOP"):
            send("250 ok")
        else:
            send("502 unknown")


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("PORT %d" % srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=lambda c=conn: _safe(serve, c, ctx), daemon=True).start()


def _safe(fn, conn, ctx):
    try:
        fn(conn, ctx)
    except (OSError, ValueError, ssl.SSLError):
        pass
    finally:
        conn.close()


if __name__ == "__main__":
    main()
