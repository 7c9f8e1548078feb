#!/usr/bin/env python3
"""openapi-check.py [--partial] RESPONSES.jsonl OPENAPI.yaml

Checks every response the integration tests recorded (tests/support/gateway.c
writes one JSON line per response: method, path, query, status, content_type,
headers, body, body_json) against the OpenAPI 3.1 document:

  - the path matches a path template (concrete paths first, then deeper
    templates before shallower ones; a parameter in the last segment is the
    greedy tail and may hold "/", as /folders/{path} does, so
    /messages/{uid}/flags must be tried before /messages/{uid}) and the
    method an operation of it;
  - the status is documented for the operation (exact, then 4XX, then
    default);
  - the Content-Type is one the response documents (the media type alone,
    or the whole value when the documented key carries parameters);
  - the body validates against the documented schema (JSON Schema 2020-12,
    $ref resolved within the document); HEAD answers have no body;
  - every required documented header is present, and every documented
    header present validates against its schema.

Answers the document cannot list under an operation follow its stated
conventions: a path no template matches must be a 404 as
components/responses/NotFound, a method a path does not document a 405 as
components/responses/MethodNotAllowed whose Allow header names exactly the
documented methods and OPTIONS, and OPTIONS (which every path answers, and
the document describes once) a 204 as components/responses/Preflight.

Also: GET /openapi.json must serve this very document (compared as JSON
values), and the document's own schemas must be valid 2020-12 schemas.

Ends with "openapi-check: N passed, M failed" and exits non-zero when
anything failed or fewer than 20 responses were checked. --partial (a run
of a subset of the tests) drops the minimum and the need to have seen
GET /openapi.json.
"""
import argparse
import json
import os
import re
import sys
import urllib.parse

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "openapi"))
from embed import StrictLoader  # noqa: E402  (the loader the build embeds with)

MIN_RESPONSES = 20
METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
SHOW_ERRORS = 3  # schema errors shown per response

Validator = getattr(jsonschema, "Draft202012Validator", None)
VALIDATOR_NOTE = None
if Validator is None:  # jsonschema < 4.0
    Validator = jsonschema.Draft7Validator
    VALIDATOR_NOTE = ("note: this jsonschema has no Draft202012Validator; using Draft 7 "
                      "(unevaluatedProperties, dependentRequired are not checked)")
FORMAT_CHECKER = getattr(Validator, "FORMAT_CHECKER", None)


def escape(token):
    return token.replace("~", "~0").replace("/", "~1")


class Spec:
    def __init__(self, doc):
        self.doc = doc
        self.validators = {}
        self.templates = []  # (regex, template, path item); concrete paths first
        for tpl, item in doc.get("paths", {}).items():
            parts = []
            segs = tpl.split("/")
            for i, seg in enumerate(segs):
                pieces = re.split(r"(\{[^}]+\})", seg)
                out = ""
                for p in pieces:
                    if p.startswith("{") and p.endswith("}"):
                        out += "(.+)" if i == len(segs) - 1 else "([^/]+)"
                    else:
                        out += re.escape(p)
                parts.append(out)
            self.templates.append((re.compile("^" + "/".join(parts) + "$"), tpl, item))
        self.templates.sort(key=lambda t: ("{" in t[1], -t[1].count("/"), t[1]))

    def resolve(self, obj, pointer):
        """Follow OpenAPI $refs (local only): (object, its JSON pointer)."""
        seen = set()
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError(f"unresolvable $ref {ref!r} at {pointer}")
            seen.add(ref)
            pointer = urllib.parse.unquote(ref[1:])
            obj = self.doc
            for tok in pointer.split("/")[1:]:
                obj = obj[tok.replace("~1", "/").replace("~0", "~")]
        return obj, pointer

    def errors(self, instance, schema_pointer):
        """Schema errors of instance against the schema at schema_pointer."""
        v = self.validators.get(schema_pointer)
        if v is None:
            # The document itself is the root resource, so every $ref in it
            # resolves; none of the OpenAPI top-level keys is a JSON Schema
            # keyword, so only the $ref applies to the instance.
            root = dict(self.doc)
            root["$ref"] = "#" + urllib.parse.quote(schema_pointer, safe="/~")
            kw = {"format_checker": FORMAT_CHECKER} if FORMAT_CHECKER else {}
            v = self.validators[schema_pointer] = Validator(root, **kw)
        return sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))

    def match(self, path):
        for rx, tpl, item in self.templates:
            if rx.match(path):
                return tpl, item
        return None, None

    def schema_problems(self):
        """Document schemas that are not valid 2020-12 schemas."""
        out = []
        comps = self.doc.get("components", {})
        places = [(f"/components/schemas/{escape(k)}", s) for k, s in comps.get("schemas", {}).items()]
        for kind in ("parameters", "headers"):
            for k, p in comps.get(kind, {}).items():
                if "schema" in p:
                    places.append((f"/components/{kind}/{escape(k)}/schema", p["schema"]))
        for where, s in places:
            try:
                Validator.check_schema(s)
            except jsonschema.SchemaError as e:
                out.append(f"{where}: {e.message}")
        return out


def media_matches(documented, got):
    def norm(v):
        return ";".join(p.strip().lower() for p in v.split(";") if p.strip())
    if got is None:
        return False
    if documented == "*/*":
        return True
    if documented.endswith("/*"):
        return norm(got).split("/")[0] == documented.split("/")[0].lower()
    if ";" in documented:
        return norm(documented) == norm(got)
    return norm(got).split(";")[0] == documented.strip().lower()


def header_value(schema, raw):
    """A header's text as the type its schema wants (integers for integer)."""
    types = schema.get("type") if isinstance(schema, dict) else None
    types = types if isinstance(types, list) else [types]
    if "integer" in types and re.fullmatch(r"-?[0-9]+", raw):
        return int(raw)
    return raw


def check_response(spec, rec, response, resp_ptr, method):
    """Failures of one recorded answer against one Response object."""
    fails = []
    headers = rec.get("headers") or {}
    ct = rec.get("content_type")
    content = response.get("content") or {}
    media = next((m for m in content if media_matches(m, ct)), None)
    if content and media is None:
        fails.append(f"Content-Type {ct!r} is not one of {sorted(content)}")
    body = rec.get("body")
    if method == "HEAD":
        if body not in ("", None):
            fails.append("HEAD answer has a body")
    elif not content:
        if body not in ("", None):
            fails.append("a body where the document describes none")
    elif media is not None:
        is_json = media.split(";")[0].strip().endswith("json")
        if is_json and not rec.get("body_json"):
            fails.append(f"body is not JSON ({rec.get('body_error', 'empty')})")
        elif "schema" in content[media]:
            sp = f"{resp_ptr}/content/{escape(media)}/schema"
            errs = spec.errors(body, sp)
            for e in errs[:SHOW_ERRORS]:
                at = "/".join(str(p) for p in e.absolute_path) or "(root)"
                fails.append(f"body {at}: {e.message[:300]}")
            if len(errs) > SHOW_ERRORS:
                fails.append(f"... and {len(errs) - SHOW_ERRORS} more schema errors")
    for name, h in (response.get("headers") or {}).items():
        h, hptr = spec.resolve(h, f"{resp_ptr}/headers/{escape(name)}")
        if name.lower() == "content-type":
            continue  # OpenAPI: ignored
        raw = headers.get(name.lower())
        if raw is None:
            if h.get("required"):
                fails.append(f"required header {name} is missing")
            continue
        if "schema" in h:
            for e in spec.errors(header_value(h["schema"], raw), f"{hptr}/schema")[:SHOW_ERRORS]:
                fails.append(f"header {name}: {e.message[:300]}")
    return fails


def check(spec, rec, coverage):
    """Failures of one record (an empty list when it conforms)."""
    method = str(rec.get("method", "")).upper()
    path, status = rec.get("path", ""), rec.get("status")
    tpl, item = spec.match(path)
    comps = spec.doc.get("components", {}).get("responses", {})
    if tpl is None:
        if status != 404:
            return [f"no path template matches and the status is {status}, not 404"]
        coverage.add(("(no route)", method, "404"))
        return check_response(spec, rec, *spec.resolve(comps["NotFound"], "/components/responses/NotFound"), method)
    op = item.get(method.lower())
    if op is None and method == "OPTIONS":
        # every path answers OPTIONS the same way: documented once
        coverage.add((tpl, method, str(status)))
        if status != 204:
            return [f"OPTIONS {tpl} answered {status}, not 204"]
        return check_response(spec, rec, *spec.resolve(comps["Preflight"],
                                                        "/components/responses/Preflight"), method)
    if op is None:
        documented = [m.upper() for m in METHODS if m in item] + ["OPTIONS"]
        if status != 405:
            return [f"{method} is not documented for {tpl} and the status is {status}, not 405"]
        coverage.add((tpl, method, "405"))
        fails = check_response(spec, rec, *spec.resolve(comps["MethodNotAllowed"],
                                                        "/components/responses/MethodNotAllowed"), method)
        allow = (rec.get("headers") or {}).get("allow")
        if allow is not None:
            got = sorted(a.strip().upper() for a in allow.split(",") if a.strip())
            if got != sorted(documented):
                fails.append(f"Allow {allow!r} is not the documented methods {documented}")
        return fails
    responses = op.get("responses", {})
    key = str(status)
    if key not in responses:
        key = f"{str(status)[0]}XX" if f"{str(status)[0]}XX" in responses else "default"
    if key not in responses:
        return [f"status {status} is not documented for {method} {tpl}"]
    coverage.add((tpl, method, key))
    op_ptr = f"/paths/{escape(tpl)}/{method.lower()}/responses/{escape(key)}"
    response, resp_ptr = spec.resolve(responses[key], op_ptr)
    return check_response(spec, rec, response, resp_ptr, method)


def main(argv):
    ap = argparse.ArgumentParser(description="check recorded responses against an OpenAPI document")
    ap.add_argument("--partial", action="store_true",
                    help="a subset of the tests ran: no minimum, GET /openapi.json optional")
    ap.add_argument("responses")
    ap.add_argument("openapi")
    args = ap.parse_args(argv[1:])

    with open(args.openapi, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    doc = json.loads(json.dumps(doc))  # exactly what embed.py serves
    spec = Spec(doc)
    if VALIDATOR_NOTE:
        print(f"openapi-check: {VALIDATOR_NOTE}")

    passed = failed = 0
    for problem in spec.schema_problems():
        print(f"FAIL document: {problem}")
        failed += 1

    records = []
    try:
        with open(args.responses, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    records.append((n, json.loads(line)))
                except ValueError as e:
                    print(f"FAIL {args.responses}:{n}: not a JSON line: {e}")
                    failed += 1
    except FileNotFoundError:
        print(f"openapi-check: {args.responses}: no responses were recorded")

    coverage = set()
    served_doc_seen = False
    for n, rec in records:
        try:
            fails = check(spec, rec, coverage)
        except (KeyError, ValueError, TypeError) as e:
            fails = [f"cannot check: {type(e).__name__}: {e}"]
        if (rec.get("method") == "GET" and rec.get("path") == "/openapi.json"
                and rec.get("status") == 200):
            served_doc_seen = True
            if rec.get("body") != doc:
                fails.append("the served document is not openapi.yaml (rebuild? edited by hand?)")
        if fails:
            failed += 1
            q = f"?{rec['query']}" if rec.get("query") else ""
            print(f"FAIL line {n}: {rec.get('method')} {rec.get('path')}{q} -> {rec.get('status')}")
            for msg in fails:
                print(f"    {msg}")
        else:
            passed += 1

    documented = {(tpl, m.upper(), st) for tpl, item in doc.get("paths", {}).items()
                  for m in METHODS if m in item for st in item[m].get("responses", {})}
    unseen = {}
    for tpl, m, st in sorted(documented - coverage):
        unseen.setdefault(f"{m} {tpl}", []).append(st)
    print(f"openapi-check: {len(documented & coverage)} of {len(documented)} documented "
          f"(operation, status) pairs seen; not seen: "
          + ("; ".join(f"{op} {' '.join(sts)}" for op, sts in unseen.items()) or "none"))

    if not args.partial:
        if not served_doc_seen:
            print("FAIL no GET /openapi.json answered 200: the served document was not compared")
            failed += 1
        if len(records) < MIN_RESPONSES:
            print(f"FAIL only {len(records)} responses recorded (at least {MIN_RESPONSES} expected)")
            failed += 1
    print(f"openapi-check: {passed} passed, {failed} failed")
    return 1 if failed or (not args.partial and passed + failed < MIN_RESPONSES) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
