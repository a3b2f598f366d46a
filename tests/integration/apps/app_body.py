"""Request body echo through the various wsgi.input methods.

?mode=read|readn|readline|readline_n|readlines|iter|none   &n=N (piece size)
&sleep=S sleeps S seconds before touching the input (for Expect: 100-continue).
Returns JSON {mode, len, sha256, pieces (only when the body is < 64 KiB)}.
"""
import hashlib
import json
import time
import urllib.parse


def app(environ, start_response):
    qs = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    mode = qs.get("mode", ["read"])[0]
    n = int(qs.get("n", ["65536"])[0])
    if "sleep" in qs:
        time.sleep(float(qs["sleep"][0]))
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    pieces = []
    total = 0
    if mode == "read":
        pieces = [inp.read()]
    elif mode == "read_none":
        pieces = [inp.read(None)]
    elif mode == "read_neg":
        pieces = [inp.read(-1)]
    elif mode == "readn":
        for _ in range(10_000_000):
            p = inp.read(n)
            if not p:
                break
            h.update(p)
            total += len(p)
            if total <= 65536:
                pieces.append(p)
        else:
            raise RuntimeError("too many pieces")
        res = {"mode": mode, "len": total, "sha256": h.hexdigest()}
        if total <= 65536:
            res["pieces"] = [p.decode("latin-1") for p in pieces]
        body = json.dumps(res).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    elif mode == "readline":
        for _ in range(100000):
            p = inp.readline()
            if not p:
                break
            pieces.append(p)
    elif mode == "readline_n":
        for _ in range(100000):
            p = inp.readline(n)
            if not p:
                break
            pieces.append(p)
    elif mode == "readlines":
        pieces = inp.readlines()
    elif mode == "iter":
        pieces = [p for p in inp]
    elif mode == "none":
        pieces = []
    else:
        raise ValueError(mode)
    for p in pieces:
        h.update(p)
        total += len(p)
    res = {"mode": mode, "len": total, "sha256": h.hexdigest(),
           "pieces": [p.decode("latin-1") for p in pieces] if total <= 65536 else None}
    body = json.dumps(res).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
