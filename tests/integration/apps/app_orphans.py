"""Orphans for the PID 1 test: /spawn leaves a grandchild whose parent has
exited (so it is reparented to PID 1) and returns its pid; /state?pid=N is
N's /proc state letter, or "gone"; /sleep?seconds=S&mark=PATH creates PATH
when it starts and answers after S; /subprocess waits for children of its
own."""
import os
import subprocess
import time
import urllib.parse

from app_misc import sleep


def _reply(start_response, body):
    body = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def spawn(start_response):
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        grandchild = os.fork()
        if grandchild == 0:
            os.close(r)
            os.close(w)
            time.sleep(0.3)
            os._exit(0)
        os.write(w, str(grandchild).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(child, 0)
    pid = os.read(r, 32).decode()
    os.close(r)
    return _reply(start_response, pid)


def state(environ, start_response):
    pid = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))["pid"][0]
    try:
        with open("/proc/%s/stat" % pid) as f:
            letter = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        letter = "gone"
    return _reply(start_response, letter)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/spawn":
        return spawn(start_response)
    if path == "/subprocess":  # the app's own children are its to wait for
        rc = subprocess.run(["/bin/sh", "-c", "exit 7"]).returncode
        child = os.fork()
        if child == 0:
            os._exit(3)
        _, status = os.waitpid(child, 0)
        return _reply(start_response, "%d %d" % (rc, os.waitstatus_to_exitcode(status)))
    if path == "/state":
        return state(environ, start_response)
    if path == "/sleep":
        mark = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("mark")
        if mark:
            open(mark[0], "w").close()
        return sleep(environ, start_response)
    return _reply(start_response, "pid %d" % os.getpid())
