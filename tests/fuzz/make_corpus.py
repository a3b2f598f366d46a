#!/usr/bin/env python3
"""Regenerate the seed corpora in tests/fuzz/corpus/{request,chunked}/.

Seeds come from the valid and invalid request tables of
tests/unit/test_http_parser.c (C string literals, decoded here) and, when
the directory exists, from Gunicorn's request files under
/work/shared/conformance/gunicorn-requests/ (real newlines deleted, then
\\r\\n, \\0, \\n, \\t and \\xHH escapes turned into bytes). Every seed
starts with the fuzzers' 4 control bytes; the read-size mode cycles so the
corpus starts out split in every way. Chunked seeds are the bodies of the
chunked requests (the first MAX_CHUNKED distinct ones). Usage: tests/fuzz/make_corpus.py [gunicorn-requests-dir]
"""
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.path.join(HERE, "..", "unit", "test_http_parser.c")
GUNICORN = "/work/shared/conformance/gunicorn-requests"
MAX_SEED = 4096  # larger seeds slow down byte-by-byte feeding
MAX_CHUNKED = 40  # keeps both corpora under 300 files together

TOKEN = re.compile(r'"((?:[^"\\\n]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*)|(\S)', re.S)
ESC = {"n": 10, "r": 13, "t": 9, "0": 0, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8,
       "f": 12, "v": 11, "e": 27}


def c_string(body):
    """Bytes of one C string literal body (without the quotes)."""
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = body[i + 1]
        if e == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        else:
            out.append(ESC[e])
            i += 2
    return bytes(out)


def tokens(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    for m in TOKEN.finditer(src):
        if m.group(1) is not None:
            yield ("str", c_string(m.group(1)))
        elif m.group(2) is not None:
            yield ("id", m.group(2))
        else:
            yield ("p", m.group(3))


def macros(src):
    """String-valued #defines (POSTC, CHUNKED_BODY)."""
    out = {}
    for m in re.finditer(r'^#define\s+(\w+)\s+((?:"(?:[^"\\]|\\.)*"\s*)+)$', src, re.M):
        out[m.group(1)] = b"".join(v for k, v in tokens(m.group(2)) if k == "str")
    return out


def literal_run(toks, i, defs):
    """Concatenated string literals and string macros from toks[i]."""
    raw = b""
    while i < len(toks) and (toks[i][0] == "str" or (toks[i][0] == "id" and toks[i][1] in defs)):
        raw += toks[i][1] if toks[i][0] == "str" else defs[toks[i][1]]
        i += 1
    return raw, i


def unit_requests():
    src = open(UNIT, encoding="utf-8").read()
    defs = macros(src)
    toks = list(tokens(src))
    found = []
    for i, (kind, val) in enumerate(toks):
        # valid[] entries: {"name", raw, ...}; invalid[]: BAD("name", raw, status)
        if kind == "p" and val == "{" and i + 2 < len(toks) and toks[i + 1][0] == "str" \
                and toks[i + 2] == ("p", ","):
            raw, _ = literal_run(toks, i + 3, defs)
            if raw.count(b" HTTP/") and len(raw) > 8:
                found.append(raw)
        if kind == "id" and val == "BAD" and toks[i + 1] == ("p", "("):
            raw, _ = literal_run(toks, i + 4, defs)
            found.append(raw)
    return found


def gunicorn_requests(root):
    out = []
    for sub in ("valid", "invalid"):
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".http"):
                continue
            data = open(os.path.join(d, name), "rb").read()
            data = data.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n").replace(b"\\0", b"\0")
            data = data.replace(b"\\n", b"\n").replace(b"\\t", b"\t")
            data = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), data)
            if len(data) <= MAX_SEED:
                out.append(data)
    return out


def chunked_body(req):
    head, sep, body = req.partition(b"\r\n\r\n")
    if sep and re.search(rb"transfer-encoding:[^\r\n]*chunked", head, re.I):
        return body
    return None


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for f in os.listdir(dirname):
        os.unlink(os.path.join(dirname, f))
    seen = set()
    for n, seed in enumerate(seeds):
        data = bytes([n % 4, 0, n & 0xFF, 0]) + seed
        digest = hashlib.sha1(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            with open(os.path.join(dirname, digest), "wb") as f:
                f.write(data)
    return len(seen)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else GUNICORN
    reqs = list(dict.fromkeys(unit_requests() + gunicorn_requests(root)))
    bodies = list(dict.fromkeys(b for b in map(chunked_body, reqs) if b is not None))
    bodies = bodies[:MAX_CHUNKED]  # the unit tests' come first
    nr = write(os.path.join(HERE, "corpus", "request"), reqs)
    nc = write(os.path.join(HERE, "corpus", "chunked"), bodies)
    print(f"request: {nr} seeds, chunked: {nc} seeds")


if __name__ == "__main__":
    main()
