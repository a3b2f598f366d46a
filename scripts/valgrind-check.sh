#!/usr/bin/env bash
# Leak check under valgrind memcheck: for each worker class (sync, gthread)
# run the server with one worker serving examples/hello.py, send a short run
# (SHORT requests) and then, in a fresh server, a long run (LONG requests),
# stop it gracefully and compare the "definitely lost" bytes whose stack
# holds a cunicorn frame (cn_*) between the two runs. A leak that grows with
# the number of requests shows as long > short. Builds nothing.
#
#   scripts/valgrind-check.sh                 sync and gthread, 2000 vs 4000
#   CLASSES="gthread" SHORT=500 LONG=1000 scripts/valgrind-check.sh
#   CUNICORN_BIN=/path/to/cunicorn scripts/valgrind-check.sh
#   KEEP=1 ...                                keep the valgrind logs
#
# Exit status: 0 when no class grows, 1 when one does, 2 on a setup error.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CUNICORN_BIN:-$root/build-main/cunicorn}
PY=${PYTHON:-/usr/bin/python3}
CLASSES=${CLASSES:-"sync gthread"}
SHORT=${SHORT:-2000}
LONG=${LONG:-4000}
START_TIMEOUT=${START_TIMEOUT:-240}   # Python start-up under memcheck is slow
STOP_TIMEOUT=${STOP_TIMEOUT:-240}     # the leak check of a large heap too
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-900}

command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 2; }
[[ -x $BIN ]] || { echo "no binary at $BIN (set CUNICORN_BIN)" >&2; exit 2; }
work=$(mktemp -d /tmp/cunicorn-vg.XXXXXX)
supp=()
[[ -f /usr/lib/valgrind/python3.supp ]] && supp=(--suppressions=/usr/lib/valgrind/python3.supp)
server_pid=

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    if [[ ${KEEP:-0} == 0 ]]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# client: N requests; sync gets one connection per request, gthread gets
# keep-alive connections of 50 requests each (connection set-up, keep-alive
# and teardown are all exercised). Bounded by count and time.
cat >"$work/client.py" <<'EOF'
import socket, sys, time
port, n, klass = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
per_conn = 1 if klass == "sync" else 50
deadline = time.monotonic() + 900
done = bad = 0
def one(s, close):
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
              % (b"Connection: close\r\n" if close else b""))
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise OSError("EOF in head")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    cl = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            cl = int(v)
    while len(body) < cl:
        d = s.recv(65536)
        if not d:
            raise OSError("EOF in body")
        body += d
    return head.startswith(b"HTTP/1.1 200 ")
while done < n and time.monotonic() < deadline:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        for i in range(min(per_conn, n - done)):
            last = i == min(per_conn, n - done) - 1
            if not one(s, last):
                bad += 1
            done += 1
print("client: %d requests, %d not 200" % (done, bad))
sys.exit(0 if done == n and bad == 0 else 1)
EOF

# sum_cn LOGFILE... -> "bytes blocks all_bytes errors": definitely-lost bytes and
# blocks whose stack has a cn_ frame, all definitely-lost bytes, and memcheck
# error contexts (invalid read/write, uninitialised use...) raised in cunicorn code
cat >"$work/sum_cn.py" <<'EOF'
import re, sys
tot_b = tot_n = all_b = 0
records = []
errors = {}
ERR = re.compile(r"==\d+== (Invalid (?:read|write|free)|Conditional jump|Use of uninitialised|"
                 r"Syscall param|Mismatched free|Source and destination overlap)")
for path in sys.argv[1:]:
    lines = open(path, errors="replace").read().splitlines()
    i = 0
    while i < len(lines):
        e = ERR.search(lines[i])
        if e:
            kind = lines[i].split("== ", 1)[1].strip()
            stack = []
            i += 1
            while i < len(lines) and re.search(r"==\d+==\s+(at|by) 0x", lines[i]):
                stack.append(lines[i].split("==", 2)[-1].strip())
                i += 1
            # ours only when the first frame outside libc / valgrind's preload is
            # in the cunicorn binary (Python's own noise starts in libpython)
            own = [f for f in stack if not re.search(r"\(in /\S*(?:libc\.so|ld-linux|vgpreload)", f)]
            if own and not re.search(r"\(in /", own[0]):
                key = (kind, own[0])
                errors[key] = errors.get(key, 0) + 1
            continue
        m = re.search(r"== ([\d,]+) (?:\(([\d,]+) direct, ([\d,]+) indirect\) )?bytes in ([\d,]+) "
                      r"blocks are definitely lost", lines[i])
        if not m:
            i += 1
            continue
        b = int(m.group(1).replace(",", ""))
        blocks = int(m.group(4).replace(",", ""))
        stack = []
        i += 1
        while i < len(lines) and re.search(r"==\d+==\s+(at|by) 0x", lines[i]):
            stack.append(lines[i].split("==", 2)[-1].strip())
            i += 1
        all_b += b
        cn = [f for f in stack if re.search(r"\bcn_\w+", f)
              and not re.search(r"\bcn_x(?:malloc|calloc|realloc|strdup|strndup)\b", f)]
        cn = cn or [f for f in stack if re.search(r"\bcn_\w+", f)]
        if cn:
            tot_b += b
            tot_n += blocks
            records.append((b, blocks, cn[0], stack))
for b, blocks, first, stack in sorted(records, reverse=True)[:5]:
    sys.stderr.write("    %d bytes in %d blocks, first cn_ frame: %s\n" % (b, blocks, first))
for (kind, first), k in sorted(errors.items()):
    sys.stderr.write("    memcheck error x%d: %s at %s\n" % (k, kind, first))
print(tot_b, tot_n, all_b, sum(errors.values()))
EOF

run_one() {  # class n -> writes "cn_bytes cn_blocks all_bytes" to $work/$class-$n/result
    local klass=$1 n=$2
    local dir=$work/$klass-$n port t0
    mkdir -p "$dir"
    port=$(free_port)
    local args=(-k "$klass" -w 1 --graceful-timeout 60 --timeout 120 -b "127.0.0.1:$port"
                --chdir "$root/examples")
    [[ $klass == gthread ]] && args+=(--threads 2)
    PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full --trace-children=yes \
        --child-silent-after-fork=no --num-callers=40 "${supp[@]}" \
        --log-file="$dir/vg.%p.log" "$BIN" "${args[@]}" hello:app \
        >"$dir/server.out" 2>"$dir/server.err" </dev/null &
    server_pid=$!
    t0=$SECONDS
    until "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1).close()" \
            2>/dev/null; do
        if ! kill -0 "$server_pid" 2>/dev/null || (( SECONDS - t0 > START_TIMEOUT )); then
            echo "server did not start ($klass); see $dir" >&2
            KEEP=1
            return 2
        fi
        sleep 1
    done
    t0=$SECONDS
    if ! timeout "$CLIENT_TIMEOUT" "$PY" "$work/client.py" "$port" "$n" "$klass" \
            >"$dir/client.out" 2>&1; then
        echo "client failed ($klass, $n):" >&2
        cat "$dir/client.out" >&2
    fi
    echo "  $klass: $(cat "$dir/client.out") in $((SECONDS - t0)) s" >&2
    kill -TERM "$server_pid"
    t0=$SECONDS
    while kill -0 "$server_pid" 2>/dev/null && (( SECONDS - t0 < STOP_TIMEOUT )); do sleep 1; done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "server did not stop within $STOP_TIMEOUT s; killing" >&2
        kill -KILL "$server_pid" 2>/dev/null
    fi
    wait "$server_pid" 2>/dev/null
    server_pid=
    # the worker's log has the leak summary of the process that served the requests
    local nlogs
    nlogs=$(grep -l "LEAK SUMMARY" "$dir"/vg.*.log 2>/dev/null | wc -l)
    echo "  $klass/$n: $nlogs process(es) with a leak summary; errors: $(grep -h 'ERROR SUMMARY' "$dir"/vg.*.log | sed 's/==[0-9]*== //' | tr '\n' ';')" >&2
    "$PY" "$work/sum_cn.py" "$dir"/vg.*.log >"$dir/result"
}

status=0
summary=()
for klass in $CLASSES; do
    echo "== $klass: $SHORT requests, then $LONG ==" >&2
    run_one "$klass" "$SHORT" || { status=2; continue; }
    read -r s_b s_n s_all s_err <"$work/$klass-$SHORT/result"
    run_one "$klass" "$LONG" || { status=2; continue; }
    read -r l_b l_n l_all l_err <"$work/$klass-$LONG/result"
    verdict=OK
    if (( l_b > s_b )); then verdict=GROWS; status=1; fi
    if (( s_err + l_err > 0 )); then verdict="$verdict, memcheck errors in cn_* code: $s_err/$l_err"; status=1; fi
    summary+=("$(printf '%-8s definitely lost with cn_* frames: %6s B / %4s blocks after %5s req; %6s B / %4s blocks after %5s req  (all definitely lost: %s B -> %s B)  %s' \
        "$klass" "$s_b" "$s_n" "$SHORT" "$l_b" "$l_n" "$LONG" "$s_all" "$l_all" "$verdict")")
done
echo
echo "== valgrind leak summary ($BIN) =="
for line in "${summary[@]}"; do echo "$line"; done
exit $status
