"""close() recorder: appends a line to the marker file (?marker=PATH) when the
response iterable's close() is called.

?mode=ok       normal 3-element body
?mode=slow     many chunks with sleeps (client disconnects mid-stream)
?mode=raise    second item raises
"""
import time
import urllib.parse


class Body:
    def __init__(self, marker, mode):
        self.marker, self.mode = marker, mode
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.i += 1
        if self.mode == "ok":
            if self.i > 3:
                raise StopIteration
            return b"part%d;" % self.i
        if self.mode == "slow":
            if self.i > 200:
                raise StopIteration
            time.sleep(0.02)
            return b"x" * 65536
        if self.mode == "raise":
            if self.i == 1:
                return b"first;"
            raise RuntimeError("iterable-raised")
        raise StopIteration

    def close(self):
        with open(self.marker, "a") as f:
            f.write("closed %s\n" % self.mode)


def app(environ, start_response):
    q = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(q["marker"], q.get("mode", "ok"))
