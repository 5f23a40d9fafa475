#!/usr/bin/env bash
# The README demo: builds hello_deferred, starts it on a free port and shows,
# with timestamps relative to the request, that the head and "Hello, " arrive
# at once and "World" one delay later, over a single chunked response.
#
# usage: scripts/demo.sh [DELAY_MS]     (default 1000)
# Needs g++ (or clang++), cmake and curl; on Debian, curl is installed if missing.
set -euo pipefail

delay_ms="${1:-1000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/demo"

if ! command -v curl >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "demo: curl is missing; installing it with apt-get" >&2
        sudo_cmd=""
        if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
        $sudo_cmd apt-get update -qq
        $sudo_cmd apt-get install -y -qq curl >/dev/null
    else
        echo "demo: curl is required" >&2
        exit 1
    fi
fi

echo "== building hello_deferred in build/demo"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DRILL_BUILD_TESTS=OFF -DRILL_BUILD_EXAMPLES=ON -DRILL_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target hello_deferred -j2 >/dev/null

out="$(mktemp)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -f "$out"
}
trap cleanup EXIT

"$build/examples/hello_deferred" --port 0 --delay-ms "$delay_ms" >"$out" &
server_pid=$!

# The first stdout line names the port; wait for it (at most 5 s).
url=""
for _ in $(seq 1 50); do
    url="$(sed -n '1s#^listening on \(http://[^ ]*\)$#\1#p' "$out")"
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { echo "demo: server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "demo: server did not report its port" >&2; exit 1; }
echo "== server: $url (pid $server_pid, --delay-ms $delay_ms)"
echo "== curl --no-buffer $url   (time since the request was sent; body bytes as on the wire)"

# curl's trace stamps every read from the socket; awk turns the stamps into
# milliseconds since the request went out and prints each piece once.
curl -sS --no-buffer --max-time 30 --trace-ascii - --trace-time -o /dev/null "$url" |
awk '
    function secs(t,   p) { split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    function flush_piece() {
        if (kind != "") printf("[%8.1f ms] %-5s %s\n", (secs(stamp) - t0) * 1000, kind, text)
        kind = ""; text = ""
    }
    / => Send header/ { flush_piece(); if (t0 == "") t0 = secs($1); next }
    / <= Recv header/ { flush_piece(); stamp = $1; kind = "head"; next }
    / <= Recv data/   { flush_piece(); stamp = $1; kind = "body"; next }
    / == Info/        { flush_piece(); next }
    kind != "" && /^[0-9a-f]+: / {
        line = $0; sub(/^[0-9a-f]+: /, "", line)
        text = text (kind == "head" ? line : line "\\r\\n")
        next
    }
    END { flush_piece() }
'
echo "== stopping the server"
kill -TERM "$server_pid"
wait "$server_pid" && status=0 || status=$?
server_pid=""
echo "== server exited with status $status"
exit "$status"
