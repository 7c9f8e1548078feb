#!/usr/bin/env python3
"""corpus-content.py — message content against the third-party corpus.

Runs under tests/with-dovecot.sh (tests/run-integration.sh calls it after
the Criterion tests). Every message in $IMAPGW_CORPUS/eml (default
../shared/corpus/eml) that has an expected-result file is appended with
doveadm to frank's folder "Corpus": bare LF made CRLF as an MTA would, every
other byte kept; the n-th file gets UID n (listed in
$IMAPGW_TEST_DIR/corpus-uids.tsv). The real daemon ($IMAPGW_BIN, flags as in
tests/support/gateway.c) is started on a free loopback port, asked for
GET /messages/{uid}, /messages/{uid}/attachments and every
/messages/{uid}/attachments/{part}, and stopped again by its PID. Each
response is recorded in $IMAPGW_TEST_DIR/responses.jsonl as
tests/support/gateway.c records them, for tests/openapi-check.py.

Expected results (see the corpus README.md and SOURCES.md):

  it-X.expected.json  imap_tools' fields. Its attachments: every
                      non-multipart part, inside attached messages too, with
                      a file name, a Content-ID, type message/rfc822 or
                      disposition "attachment". Its text (html): every
                      text/plain (text/html) part without a file name, inside
                      attached messages too, joined; decoded with errors
                      ignored, so here it counts as clean only when those
                      parts decode strictly; in its html the first
                      <meta ... content-type> charset is rewritten to utf-8,
                      which is done to ours before comparing.
  sw-X.json           stalwart mail-parser's parse tree: "attachments",
                      "text_body" and "html_body" index "parts" (RFC 8621
                      section 4.1.4); attached messages are one entry, not
                      walked. A name is the Content-Disposition filename,
                      else the Content-Type name. Text (html) is compared when
                      every text_body (html_body) part is of that type and
                      none is marked as an encoding problem.
  m4j-X.msg, mt-X.msg mime4j's parse tree, X_decoded.xml, with each leaf's
   + X_decoded.xml    decoded bytes in a file. mime4j has no notion of an
                      attachment; the rule here: every leaf with a file name,
                      a disposition other than inline, or a type other than
                      text/*, and every message/rfc822 part, whose message is
                      walked. Its text (html): the one text/plain (text/html)
                      leaf outside attached messages without a file name or
                      an attachment disposition, when there is exactly one,
                      decoded strictly from its charset (us-ascii if none).

  Not used: mk-tnef-*.list (their inputs are bare TNEF streams, not
  messages), and messages whose expectations are only in their source's
  test code.

Checks, per message:

  attachments  imapgw's list against the source's: the same count and the
               same file names as a multiset (unnamed: null). Names on both
               sides are NFC and reduced as imapgw reduces them (what follows
               the last "/" or "\\", control characters removed, trimmed); an
               expected name holding U+FFFD or undecoded bytes matches any
               text in their place.
  sizes        every attachment paired by name with an expected one whose
               decoded bytes the source gives (attached messages left out):
               the downloaded length must equal it, CRLF counted as LF on
               both sides when the file had bare LF line ends.
  text, html   where the source gives it and it is clean: no U+FFFD in
               ours; "exact" when equal after CRLF/CR -> LF and trimming,
               "similar" when equal with whitespace collapsed or difflib's
               ratio is at least 0.95. Nothing on either side is not counted.

Every mismatch must be explained by a line of tests/corpus-content-explained.tsv
(file, check, class, reason); a line that explains no mismatch is an error
too. Exit status: 0 when all is explained, 1 otherwise, 2 when it cannot run.
Without a corpus it says so and exits 0.

For working on it: --verbose shows every comparison, --results FILE saves
what was fetched, --replay FILE compares a saved run (no Dovecot, no daemon).
"""
import argparse
import base64
import concurrent.futures
import ctypes
import difflib
import email
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
from email import policy
from email.header import decode_header, make_header
from email.parser import HeaderParser

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXPLAINED = os.path.join(HERE, "corpus-content-explained.tsv")
FOLDER = "Corpus"
USER, PASSWORD = "frank", "frank-secret"
CHECKS = ("attachments", "sizes", "text", "html")
CLASSES = {
    "semantics": "the source defines attachments or body text differently",
    "malformed": "broken MIME that Dovecot and the source read differently",
    "source": "the expectation does not follow from the message's bytes",
    "bug": "an imapgw bug not fixed yet",
}
WORKERS = 4          # parallel HTTP clients (imapgw pools 4 sessions per user)
SIMILAR_RATIO = 0.95


# ---------------------------------------------------------------- expectations

class Expected:
    """What one source says about one message."""

    def __init__(self, source):
        self.source = source
        self.attachments = []   # [{"name", "type", "payload": bytes or None}]
        self.text = None        # None: not given
        self.html = None
        self.unclean = {}       # "text"/"html" -> why the source's is not clean
        self.meta_utf8 = False  # the source rewrites the html's meta charset


def undecodable(s):
    """True when s holds U+FFFD or a lone surrogate (an undecoded byte)."""
    return any(c == "\ufffd" or 0xD800 <= ord(c) <= 0xDFFF for c in s or "")


def strict_decode(raw, charset):
    """(text, None) or (None, why not)."""
    try:
        return raw.decode(charset), None
    except LookupError:
        return None, f"charset {charset} unknown to Python"
    except UnicodeDecodeError:
        return None, f"not clean {charset}"


def imap_tools_expected(path, msg_path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    e = Expected("imap_tools")
    for a in d.get("attachments") or []:
        p = a.get("payload")
        payload = bytes.fromhex(p["bytes_hex"]) if isinstance(p, dict) and "bytes_hex" in p \
            else None
        e.attachments.append({"name": a.get("filename") or None,
                              "type": (a.get("content_type") or "").lower(), "payload": payload})
    with open(msg_path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=policy.compat32)
    for key, subtype in (("text", "plain"), ("html", "html")):
        if isinstance(d.get(key), str):
            setattr(e, key, d[key])
            why = imap_tools_unclean(msg, subtype)
            if why:
                e.unclean[key] = why
    e.meta_utf8 = True
    return e


def imap_tools_unclean(msg, subtype):
    """Why the parts imap_tools joins for text/<subtype> do not decode
    strictly (imap_tools ignores errors, so its result cannot tell), or None."""
    for part in msg.walk():
        if part.get_content_maintype() == "multipart" or part.get_filename():
            continue
        if part.get_content_type() == f"text/{subtype}":
            raw = part.get_payload(decode=True) or b""
            _, why = strict_decode(raw, part.get_content_charset() or "utf-8")
            if why:
                return why
    return None


def meta_charset_utf8(html):
    """The charset in the first <meta ... content-type ...> tag made utf-8,
    as imap_tools does to each HTML part it decodes."""
    m = re.search(r"<\s*meta\s[^>]*?content-type[^>]*>", html, re.I)
    if not m:
        return html
    tag = re.sub(r"charset\s*=\s*[A-Za-z0-9_:.+-]+", "charset=utf-8", m.group(0), count=1,
                 flags=re.I)
    return html[:m.start()] + tag + html[m.end():]


def sw_header(part, name):
    for h in part.get("headers", []):
        if h.get("name") == name:
            return h.get("value")
    return None


def sw_param(value, name):
    """A parameter of a stalwart ContentType header value, or None."""
    ct = value.get("ContentType") if isinstance(value, dict) else None
    for a in (ct or {}).get("attributes") or []:
        if a.get("name", "").lower() == name:
            return a.get("value")
    return None


def sw_kind(part):
    body = part.get("body")
    return next(iter(body), None) if isinstance(body, dict) else body


def stalwart_expected(path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    parts = d.get("parts", [])
    e = Expected("stalwart")
    for i in d.get("attachments", []):
        p = parts[i]
        ct = sw_header(p, "content_type")
        name = sw_param(sw_header(p, "content_disposition"), "filename") or sw_param(ct, "name")
        c = ct.get("ContentType") if isinstance(ct, dict) else None
        ctype = f"{c.get('c_type')}/{c.get('c_subtype')}".lower() if c else ""
        kind = sw_kind(p)
        payload = bytes(p["body"][kind]) if kind in ("Binary", "InlineBinary") else None
        e.attachments.append({"name": name or None, "type": ctype, "payload": payload})
    for key, kind in (("text", "Text"), ("html", "Html")):
        idx = d.get(f"{key}_body", [])
        if not idx or any(sw_kind(parts[i]) != kind for i in idx):
            continue  # stalwart converts the other type into this one: not comparable
        setattr(e, key, "".join(parts[i]["body"][kind] for i in idx))
        if any(parts[i].get("is_encoding_problem") for i in idx):
            e.unclean[key] = "stalwart marks an encoding problem"
    return e


def header_message(header_el):
    """A mime4j <header> element as an email.message.Message."""
    fields = [(f.text or "").strip("\r\n") for f in header_el.findall("field")]
    return HeaderParser(policy=policy.compat32).parsestr("\n".join(fields) + "\n\n")


def decoded_filename(m):
    """A part's file name: RFC 2231 (the email package), then RFC 2047 words."""
    name = m.get_filename(None)
    if name is None:
        return None
    try:
        return str(make_header(decode_header(name)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return name


def m4j_parts(el, parent_type, in_message, file_prefix, out):
    """Append the leaves and message/rfc822 parts under el (a <message> or
    <body-part> of a mime4j tree) to out, in document order."""
    header = el.find("header")
    m = header_message(header) if header is not None else None
    default = "message/rfc822" if parent_type == "multipart/digest" else "text/plain"
    raw_type = m.get("content-type") if m is not None else None
    ctype = m.get_content_type().lower() if raw_type and "/" in raw_type else default
    part = {"type": ctype, "in_message": in_message, "file": None,
            "dsp": m.get_content_disposition() if m is not None else None,
            "name": decoded_filename(m) if m is not None else None,
            "charset": m.get_content_charset() if m is not None else None}
    multipart, inner = el.find("multipart"), el.find("message")
    if multipart is not None:
        for child in multipart.findall("body-part"):
            m4j_parts(child, ctype, in_message, file_prefix, out)
    elif inner is not None:
        out.append(part)
        m4j_parts(inner, None, True, file_prefix, out)
    else:
        body = el.find("text-body")
        if body is None:
            body = el.find("binary-body")
        if body is not None and body.get("name"):
            part["file"] = file_prefix + body.get("name")
        out.append(part)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def mime4j_expected(path, eml_dir):
    prefix = os.path.join(eml_dir, os.path.basename(path).split("-", 1)[0] + "-")
    parts = []
    m4j_parts(ET.parse(path).getroot(), None, False, prefix, parts)
    e = Expected("mime4j")
    for p in parts:
        attached = p["dsp"] is not None and p["dsp"] != "inline"
        if p["name"] or attached or not p["type"].startswith("text/"):
            has = p["file"] and os.path.exists(p["file"]) and not p["type"].startswith("message/")
            e.attachments.append({"name": p["name"], "type": p["type"],
                                  "payload": read_bytes(p["file"]) if has else None})
    for key, ctype in (("text", "text/plain"), ("html", "text/html")):
        body = [p for p in parts if p["type"] == ctype and not p["in_message"] and
                not p["name"] and (p["dsp"] is None or p["dsp"] == "inline")]
        if len(body) != 1 or not body[0]["file"] or not os.path.exists(body[0]["file"]):
            continue
        text, why = strict_decode(read_bytes(body[0]["file"]), body[0]["charset"] or "us-ascii")
        setattr(e, key, text if text is not None else "")
        if why:
            e.unclean[key] = why
    return e


def collect(eml_dir):
    """[(message file, expectation file, source)], sorted by expectation file."""
    names = set(os.listdir(eml_dir))
    cases = []
    for n in sorted(names):
        msg = source = None
        if n.startswith("it-") and n.endswith(".expected.json"):
            msg, source = n[:-len(".expected.json")] + ".eml", "imap_tools"
        elif n.startswith("sw-") and n.endswith(".json"):
            msg, source = n[:-len(".json")] + ".eml", "stalwart"
        elif n.endswith("_decoded.xml"):
            base = n[:-len("_decoded.xml")]
            msg = next((base + x for x in (".msg", ".eml") if base + x in names), None)
            source = "mime4j"
        if msg in names:
            cases.append((msg, n, source))
    return cases


def load_expected(eml_dir, case):
    msg, exp, source = case
    path = os.path.join(eml_dir, exp)
    if source == "imap_tools":
        return imap_tools_expected(path, os.path.join(eml_dir, msg))
    if source == "stalwart":
        return stalwart_expected(path)
    return mime4j_expected(path, eml_dir)


# ---------------------------------------------------------------- the daemon

def die_with_parent():
    """In the child: SIGKILL when this script goes (as tests/support/gateway.c)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Gateway:
    def __init__(self, binary, out_dir):
        self.binary = binary
        self.out_dir = out_dir
        self.proc = None
        self.log = None
        self.local = threading.local()
        self.lock = threading.Lock()
        self.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def start(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.log = os.path.join(self.out_dir, f"imapgw-corpus-{self.port}.log")
        argv = [self.binary, "--listen", f"127.0.0.1:{self.port}", "--imap-host", "127.0.0.1",
                "--imap-port", os.environ["IMAPGW_TEST_IMAPS_PORT"], "--imap-ca",
                os.environ["IMAPGW_TEST_CA"], "--imap-trace", "--log-level", "debug"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log,
                                         preexec_fn=die_with_parent)
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError(f"imapgw exited at start (see {self.log})")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"imapgw did not answer /healthz (see {self.log})")

    def stop(self):
        """SIGTERM to the daemon started here, by its PID; its exit status."""
        if not self.proc:
            return 0
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "still running 10 s after SIGTERM"
        self.proc = None
        return rc

    def get(self, path):
        """(status, body bytes) of GET path; the response is recorded. One
        keep-alive connection per thread."""
        for attempt in (0, 1):
            c = getattr(self.local, "conn", None)
            if c is None:
                c = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                 timeout=60)
            try:
                c.request("GET", path, headers={"Authorization": self.auth})
                r = c.getresponse()
                body = r.read()
                break
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt:
                    raise
        self.record(path, r.status, r.getheaders(), body)
        return r.status, body

    def record(self, path, status, headers, body):
        """One line of responses.jsonl, as tests/support/gateway.c writes it."""
        p, _, q = path.partition("?")
        h = {}
        for k, v in headers:
            k = k.lower()
            h[k] = f"{h[k]}, {v}" if k in h else v
        ct = h.get("content-type")
        rec = {"method": "GET", "path": p, "query": q, "status": status, "content_type": ct,
               "headers": h}
        media = (ct or "").split(";")[0].strip().lower()
        is_json = media == "application/json" or media.endswith("+json")
        value = None
        if is_json and body:
            try:
                value = json.loads(body, object_pairs_hook=no_duplicates)
            except ValueError as e:
                rec["body_error"] = str(e)
        rec["body_json"] = value is not None
        if value is None:
            if not is_json:
                value = f"({len(body)} bytes)" if body else ""  # downloads: the size only
            else:
                try:
                    value = body.decode("utf-8")
                except UnicodeDecodeError:
                    rec["body_error"] = "the body is not UTF-8 text"
        rec["body"] = value
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self.lock, open(os.path.join(self.out_dir, "responses.jsonl"), "a",
                             encoding="utf-8") as f:
            f.write(line)


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate member {k!r}")
        d[k] = v
    return d


def to_crlf(raw):
    """Bare LF made CRLF; every other byte kept."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def append_all(eml_dir, cases, out_dir):
    """Message i (from 0) of cases becomes UID i + 1 of frank's Corpus."""
    doveadm = shlex.split(os.environ["IMAPGW_TEST_DOVEADM"])
    subprocess.run(doveadm + ["mailbox", "create", "-u", USER, FOLDER], check=True)
    with open(os.path.join(out_dir, "corpus-uids.tsv"), "w", encoding="utf-8") as tsv:
        for uid, (msg, _, _) in enumerate(cases, 1):
            data = to_crlf(read_bytes(os.path.join(eml_dir, msg)))
            subprocess.run(doveadm + ["save", "-u", USER, "-m", FOLDER], input=data, check=True)
            tsv.write(f"{uid}\t{msg}\n")
    r = subprocess.run(doveadm + ["mailbox", "status", "-u", USER, "messages uidnext", FOLDER],
                       check=True, capture_output=True, text=True)
    want = f"messages={len(cases)} uidnext={len(cases) + 1}"
    if want not in r.stdout:
        raise RuntimeError(f"after appending: {r.stdout.strip()}, wanted {want}")


def fetch_one(gw, uid):
    """What imapgw says about message uid (downloads base64-encoded)."""
    q = "folder=" + urllib.parse.quote(FOLDER, safe="")
    got = {"uid": uid, "errors": [], "downloads": {}}
    status, body = gw.get(f"/messages/{uid}?{q}")
    if status != 200:
        got["errors"].append(f"GET /messages/{uid}: {status} {body[:200]!r}")
        return got
    m = json.loads(body)
    for k in ("text", "html", "attachment_list", "attachments"):
        got["message_" + k] = m.get(k)
    status, body = gw.get(f"/messages/{uid}/attachments?{q}")
    if status != 200:
        got["errors"].append(f"GET /messages/{uid}/attachments: {status} {body[:200]!r}")
        return got
    got["attachments"] = json.loads(body).get("attachments")
    for a in got["attachments"]:
        status, body = gw.get(f"/messages/{uid}/attachments/{a['part']}?{q}")
        if status != 200:
            got["errors"].append(f"GET /messages/{uid}/attachments/{a['part']}: {status}")
        else:
            got["downloads"][a["part"]] = base64.b64encode(body).decode()
    return got


def run_daemon(eml_dir, cases):
    out_dir = os.environ["IMAPGW_TEST_DIR"]
    binary = os.environ.get("IMAPGW_BIN") or os.path.join(ROOT, "build", "imapgw")
    append_all(eml_dir, cases, out_dir)
    gw = Gateway(binary, out_dir)
    try:
        gw.start()
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            results = list(pool.map(lambda uid: fetch_one(gw, uid), range(1, len(cases) + 1)))
    finally:
        rc = gw.stop()
    if rc != 0:
        raise RuntimeError(f"imapgw exit status {rc} (see {gw.log})")
    return results


# ---------------------------------------------------------------- comparing

def safe_name(s):
    """A file name reduced as imapgw reduces it (imap/bodystructure.h)."""
    if s is None:
        return None
    s = unicodedata.normalize("NFC", s)
    s = re.split(r"[/\\]", s)[-1]
    s = "".join(c for c in s if not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)).strip(" \t")
    return s if s not in ("", ".", "..") else None


def name_matches(want, got):
    if want is None or got is None:
        return want is None and got is None
    if not undecodable(want):
        return want == got
    pieces = re.split(r"[\ufffd\ud800-\udfff]+", want)
    return re.fullmatch(".+?".join(re.escape(p) for p in pieces), got, re.S) is not None


def pair_names(want, have):
    """([(want index, have index)], unmatched want indexes, unmatched have indexes)."""
    free = list(range(len(have)))
    pairs, lost = [], []
    for i, w in enumerate(want):
        j = next((j for j in free if name_matches(w, have[j])), None)
        if j is None:
            lost.append(i)
        else:
            free.remove(j)
            pairs.append((i, j))
    return pairs, lost, free


def norm_text(s):
    return (s or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def text_verdict(want, got):
    """"exact", "similar" or "different"."""
    w, g = norm_text(want), norm_text(got)
    if w == g:
        return "exact"
    cw = " ".join(unicodedata.normalize("NFC", w).split())
    cg = " ".join(unicodedata.normalize("NFC", g).split())
    if cw == cg:
        return "similar"
    sm = difflib.SequenceMatcher(None, cw, cg, autojunk=False)
    if sm.real_quick_ratio() >= SIMILAR_RATIO and sm.quick_ratio() >= SIMILAR_RATIO and \
            sm.ratio() >= SIMILAR_RATIO:
        return "similar"
    return "different"


def show(names):
    return "[" + ", ".join("null" if n is None else json.dumps(n, ensure_ascii=False)
                           for n in names) + "]"


def compare(exp, got, had_lf):
    """{check: (status, detail)}; status: match, mismatch, unclean or none."""
    if got["errors"]:
        return {"attachments": ("mismatch", "; ".join(got["errors"]))}
    ours = got["attachments"]
    if ours != got["message_attachment_list"] or got["message_attachments"] != len(ours):
        return {"attachments": ("mismatch", "/attachments and /messages/{uid} disagree")}
    out = {}
    want = [safe_name(a["name"]) for a in exp.attachments]
    have = [safe_name(a["filename"]) for a in ours]
    pairs, lost, extra = pair_names(want, have)
    if lost or extra:
        out["attachments"] = ("mismatch", f"{exp.source} lists {len(want)} {show(want)}, "
                                          f"imapgw {len(have)} {show(have)}")
    else:
        out["attachments"] = ("match", f"{len(have)} {show(have)}")

    sized, wrong = 0, []
    for i, j in pairs:
        payload, a = exp.attachments[i]["payload"], ours[j]
        types = (a["content_type"], exp.attachments[i]["type"])
        if payload is None or any(t.startswith("message/") for t in types):
            continue
        body = base64.b64decode(got["downloads"][a["part"]])
        if had_lf:
            payload, body = payload.replace(b"\r\n", b"\n"), body.replace(b"\r\n", b"\n")
        sized += 1
        if len(payload) != len(body):
            wrong.append(f"part {a['part']} {have[j]!r}: {len(body)} bytes, "
                         f"{exp.source} {len(payload)}")
    if wrong:
        out["sizes"] = ("mismatch", "; ".join(wrong))
    elif sized:
        out["sizes"] = ("match", f"{sized} downloads")

    for key in ("text", "html"):
        want_t, ours_t = getattr(exp, key), got["message_" + key]
        if want_t is None:
            continue
        if key == "html" and exp.meta_utf8 and ours_t:
            ours_t = meta_charset_utf8(ours_t)
        if key in exp.unclean or undecodable(want_t):
            out[key] = ("unclean", exp.unclean.get(key, f"U+FFFD in {exp.source}'s"))
        elif not norm_text(want_t) and not norm_text(ours_t):
            out[key] = ("none", "none on either side")
        elif "\ufffd" in (ours_t or ""):
            out[key] = ("mismatch", f"U+FFFD in imapgw's, none in {exp.source}'s")
        else:
            verdict = text_verdict(want_t, ours_t)
            if verdict != "different":
                out[key] = ("match", verdict)
                continue
            w, g = norm_text(want_t), norm_text(ours_t)
            at = next((k for k in range(min(len(w), len(g))) if w[k] != g[k]), min(len(w), len(g)))
            out[key] = ("mismatch", f"from offset {at}: {exp.source} {w[at:at + 40]!r} "
                                    f"({len(w)} chars), imapgw {g[at:at + 40]!r} ({len(g)} chars"
                                    f"{', null' if ours_t is None else ''})")
    return out


def load_explained(path):
    """({(file, check): (class, reason)}, [errors])."""
    table, errors = {}, []
    if not os.path.exists(path):
        return table, errors
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            where = f"{os.path.basename(path)}:{n}"
            if len(cols) != 4 or cols[1] not in CHECKS or cols[2] not in CLASSES or not cols[3]:
                errors.append(f"{where}: want file TAB check TAB class TAB reason "
                              f"(check: {', '.join(CHECKS)}; class: {', '.join(CLASSES)})")
            elif (cols[0], cols[1]) in table:
                errors.append(f"{where}: {cols[0]} {cols[1]} is listed twice")
            else:
                table[(cols[0], cols[1])] = (cols[2], cols[3])
    return table, errors


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--verbose", action="store_true", help="show every comparison")
    ap.add_argument("--results", metavar="FILE", help="save what was fetched")
    ap.add_argument("--replay", metavar="FILE", help="compare a saved run instead")
    args = ap.parse_args()

    corpus = os.environ.get("IMAPGW_CORPUS") or os.path.join(ROOT, "..", "shared", "corpus")
    eml_dir = os.path.join(corpus, "eml")
    if not os.path.isdir(eml_dir):
        print(f"corpus-content: skipped: no corpus at {eml_dir} (IMAPGW_CORPUS=DIR sets it)")
        return 0
    cases = collect(eml_dir)
    if not cases:
        print(f"corpus-content: skipped: no message in {eml_dir} has expected results")
        return 0

    started = time.monotonic()
    try:
        if args.replay:
            with open(args.replay, encoding="utf-8") as f:
                saved = json.load(f)
            if saved["files"] != [c[0] for c in cases]:
                raise RuntimeError(f"{args.replay} was made from other files")
            results = saved["results"]
        elif not os.environ.get("IMAPGW_TEST_DIR") or not os.environ.get("IMAPGW_TEST_DOVEADM"):
            raise RuntimeError("run it under tests/with-dovecot.sh")
        else:
            results = run_daemon(eml_dir, cases)
    except (RuntimeError, OSError, subprocess.CalledProcessError, http.client.HTTPException) as e:
        print(f"corpus-content: cannot run: {e}", file=sys.stderr)
        return 2
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump({"files": [c[0] for c in cases], "results": results}, f)
    elapsed = time.monotonic() - started

    table, errors = load_explained(EXPLAINED)
    used = set()
    tally = {k: {"match": 0, "exact": 0, "mismatch": 0, "unclean": 0, "none": 0} for k in CHECKS}
    explained = {}  # class -> [(file, check)]
    unexplained = []
    for uid, (case, got) in enumerate(zip(cases, results), 1):
        msg = case[0]
        had_lf = re.search(rb"(?<!\r)\n", read_bytes(os.path.join(eml_dir, msg))) is not None
        for check, (status, detail) in compare(load_expected(eml_dir, case), got, had_lf).items():
            tally[check][status] += 1
            tally[check]["exact"] += status == "match" and detail == "exact"
            key = (msg, check)
            line = f"{msg} (uid {uid}) {check}: {detail}"
            if status == "mismatch" and key in table:
                used.add(key)
                explained.setdefault(table[key][0], []).append(key)
                if args.verbose:
                    print(f"  explained ({table[key][0]}: {table[key][1]}) {line}")
            elif status == "mismatch":
                unexplained.append(line)
            elif key in table:
                used.add(key)
                errors.append(f"{msg} {check} is in the table but is not a mismatch now "
                              f"({status}: {detail})")
            elif args.verbose:
                print(f"  {status} {line}")
    errors += [f"{f} {c} is in the table but was not checked" for f, c in sorted(set(table) - used)]

    sources = {}
    for _, _, s in cases:
        sources[s] = sources.get(s, 0) + 1

    def rate(t):
        n = t["match"] + t["mismatch"]
        return f"{t['match']}/{n} ({100.0 * t['match'] / n:.1f}%)" if n else "0/0"

    print(f"corpus-content: {len(cases)} messages ("
          + ", ".join(f"{n} {s}" for s, n in sorted(sources.items()))
          + f"), appended, fetched and downloaded in {elapsed:.1f} s")
    print(f"  attachment names and count match: {rate(tally['attachments'])}")
    print(f"  attachment download sizes match:   {rate(tally['sizes'])}")
    for key in ("text", "html"):
        t = tally[key]
        n = t["match"] + t["mismatch"]
        extra = "".join([f", {t['unclean']} not compared (the source's is not clean)"
                         if t["unclean"] else "",
                         f", {t['none']} with none on either side" if t["none"] else ""])
        print(f"  {key}: exact {t['exact']}/{n}, exact or similar {rate(t)}{extra}")
    for cls, what in CLASSES.items():
        keys = explained.get(cls, [])
        if keys:
            per = {}
            for _, check in keys:
                per[check] = per.get(check, 0) + 1
            print(f"  explained as {cls} ({what}): {len(keys)} ("
                  + ", ".join(f"{n} {c}" for c, n in sorted(per.items())) + ")")
    for line in unexplained:
        print(f"corpus-content: UNEXPLAINED {line}")
    for e in errors:
        print(f"corpus-content: TABLE {e}")
    print(f"corpus-content: {len(unexplained)} unexplained mismatches, {len(errors)} table errors"
          f" (tests/{os.path.basename(EXPLAINED)})")
    return 1 if unexplained or errors else 0


if __name__ == "__main__":
    sys.exit(main())
