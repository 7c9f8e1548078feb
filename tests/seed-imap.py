#!/usr/bin/env python3
"""seed-imap.py: load the seed set (tests/seed/seedgen.c) into a user of any IMAP server.

    seed-imap.py --port PORT --user U --password P SEED_DIR

The same set that tests/dovecot-lib.sh loads into Dovecot's alice, for the
servers of tests/servers-lib.sh: SEED_DIR/manifest.tsv lists every message
(id, folder, flags, file) in order. Folders are made under the server's own
personal namespace (prefix and delimiter from NAMESPACE), names in modified
UTF-7; each message is APPENDed in manifest order with its flags and, as
INTERNALDATE, the date of its first Received header. So a folder's UIDs are
1, 2, ... in manifest order, as on Dovecot, and the tests that find a seed
message by its place in the manifest work on every server. Fails when an
APPEND is refused or reports another UID. A folder whose name the server
refuses (Cyrus: a '"' in it) is left out, with its messages, and said so.

Plain IMAP on a loopback port (the servers' test set-up allows LOGIN there).
"""
import argparse
import base64
import email.utils
import imaplib
import os
import re
import sys


def mutf7(name):
    """Modified UTF-7 (RFC 3501 5.1.3) of a UTF-8 folder name."""
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode().rstrip("=").replace("/", ",")
            out.append("&" + b64 + "-")
            pending.clear()

    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def quoted(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def received_date(data):
    """The date of the first Received header (after its last ';'), or None."""
    head = re.sub(rb"\r?\n[ \t]+", b" ", re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0])
    for line in re.split(rb"\r?\n", head):
        if line[:9].lower() == b"received:":
            if b";" not in line:
                return None
            return email.utils.parsedate_to_datetime(line.rsplit(b";", 1)[1].strip().decode())
    return None


def namespace(m):
    typ, data = m.namespace()
    if typ == "OK" and data and data[0]:
        mo = re.match(rb'\(\("((?:\\.|[^"])*)" (?:"((?:\\.|[^"])*)"|NIL)', data[0])
        if mo:
            return mo.group(1).decode(), (mo.group(2) or b"/").decode()
    return "", "/"


def folder_exists(m, name):
    typ, data = m.list('""', quoted(name))
    return typ == "OK" and any(d for d in data if d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("seed_dir")
    a = ap.parse_args()

    rows = []
    with open(os.path.join(a.seed_dir, "manifest.tsv"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if not parts[0] or parts[0].startswith("#"):
                continue
            rows.append(parts)

    m = imaplib.IMAP4(a.host, a.port)
    m.login(a.user, a.password)
    prefix, delim = namespace(m)

    def server_name(logical):
        if logical == "INBOX":
            return "INBOX"
        return mutf7(prefix + logical.replace("/", delim))

    made, refused = set(), set()
    for parts in rows:
        folder = parts[1]
        if folder == "INBOX" or folder in made:
            continue
        segs = folder.split("/")
        for k in range(1, len(segs) + 1):
            logical = "/".join(segs[:k])
            if logical in made:
                continue
            typ, resp = m.create(quoted(server_name(logical)))
            if typ != "OK" and not folder_exists(m, server_name(logical)):
                refused.add(logical)  # a name this server cannot hold
                continue
            m.subscribe(quoted(server_name(logical)))
            made.add(logical)

    next_uid, n, skipped = {}, 0, []
    for parts in rows:
        msg_id, folder = parts[0], parts[1]
        if msg_id == "-":
            continue
        if folder in refused:
            skipped.append(msg_id)
            continue
        flags = parts[2] if len(parts) > 2 else ""
        with open(os.path.join(a.seed_dir, parts[3]), "rb") as f:
            data = f.read()
        when = received_date(data)
        typ, resp = m.append(quoted(server_name(folder)), "(" + flags + ")" if flags else None,
                             imaplib.Time2Internaldate(when) if when else None, data)
        if typ != "OK":
            sys.exit("seed-imap: APPEND of %s to %s: %s %r" % (msg_id, folder, typ, resp))
        want = next_uid.get(folder, 0) + 1
        next_uid[folder] = want
        mo = re.search(rb"APPENDUID \d+ (\d+)", resp[0] or b"")
        if mo and int(mo.group(1)) != want:
            sys.exit("seed-imap: %s got UID %s in %s, expected %d" % (msg_id, mo.group(1).decode(),
                                                                    folder, want))
        n += 1
    m.logout()
    print("seed-imap: %d messages, %d folders for %s" % (n, len(made), a.user))
    if refused:
        print("seed-imap: the server refuses the folder names %s: left out %s"
              % (", ".join(sorted(refused)), ", ".join(skipped)))


if __name__ == "__main__":
    main()
