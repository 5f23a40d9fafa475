#!/usr/bin/env bash
# Load figures for examples/hello_deferred (see docs/examples.md).
#
#   (a) hello: 1,000 concurrent GET / with --delay-ms 1000, all byte-exact;
#       wall time of the batch.
#   (b) idle:  10,000 concurrent deferred responses held open; server RSS
#       growth / 10,000.
#   (c) slow:  one client that never reads /stream?parts=100000&size=16384;
#       server RSS sampled every 100 ms.
#
# usage: bench/load/run_load.sh [RUNS]   (default 5; medians are reported)
# Every step is bounded: the client has a timeout and the server is stopped
# with SIGTERM (SIGKILL after 5 s) whatever happens.
set -euo pipefail

runs="${1:-5}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${RILL_LOAD_BUILD_DIR:-$root/build/load}"

# 10,000 streams need 10,000 descriptors on each side, plus a few.
hard="$(ulimit -Hn)"
want=65536
if [ "$hard" != "unlimited" ] && [ "$hard" -lt "$want" ]; then want="$hard"; fi
ulimit -n "$want"
if [ "$(ulimit -n)" -lt 10100 ]; then
    echo "run_load: need ulimit -n >= 10100 (hard limit is $hard)" >&2
    exit 1
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DRILL_BUILD_TESTS=OFF -DRILL_BUILD_EXAMPLES=ON -DRILL_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target hello_deferred -j2 >/dev/null
server_bin="$build/examples/hello_deferred"
client_bin="$build/load_client"
"${CXX:-g++}" -std=c++17 -O2 -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror \
    "$root/bench/load/load_client.cpp" -o "$client_bin"

server_pid=""
port=""
out="$(mktemp)"
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap 'stop_server; rm -f "$out"' EXIT

start_server() {
    "$server_bin" --port 0 "$@" >"$out" &
    server_pid=$!
    port=""
    for _ in $(seq 1 50); do
        port="$(sed -n '1s#^listening on http://[^:]*:\([0-9]*\)/$#\1#p' "$out")"
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "run_load: server did not start" >&2
    exit 1
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

echo "machine: $(nproc) cores, $(uname -sr), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "ulimit -n $(ulimit -n), somaxconn $(cat /proc/sys/net/core/somaxconn), ports $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)"

echo "== (a) 1,000 concurrent GET / with --delay-ms 1000"
walls=()
for i in $(seq 1 "$runs"); do
    start_server --delay-ms 1000
    line="$("$client_bin" hello --port "$port" --clients 1000 --timeout 20)"
    echo "  run $i: $line"
    walls+=("$(echo "$line" | field wall_ms)")
    stop_server
done
echo "  median wall_ms: $(printf '%s\n' "${walls[@]}" | median)"

echo "== (b) 10,000 idle deferred responses (--delay-ms 600000)"
per=()
for i in $(seq 1 "$runs"); do
    start_server --delay-ms 600000
    # Warm-up: the first connections pay for one-time allocations (fd tables, pools).
    "$client_bin" idle --port "$port" --clients 200 --server-pid "$server_pid" --timeout 20 >/dev/null
    sleep 0.2
    line="$("$client_bin" idle --port "$port" --clients 10000 --sources 4 --inflight 2000 \
        --server-pid "$server_pid" --timeout 60)"
    echo "  run $i: $line"
    per+=("$(echo "$line" | field bytes_per_stream)")
    stop_server
done
echo "  median bytes_per_stream: $(printf '%s\n' "${per[@]}" | median)"

echo "== (c) a client that reads nothing from /stream?parts=100000&size=16384&interval-ms=0 (--high-water 65536)"
growth=()
for i in $(seq 1 "$runs"); do
    start_server --high-water 65536
    line="$("$client_bin" slow --port "$port" --server-pid "$server_pid" --seconds 5 | tail -1)"
    echo "  run $i: $line"
    growth+=("$(echo "$line" | field growth_kib)")
    stop_server
done
echo "  median rss growth_kib: $(printf '%s\n' "${growth[@]}" | median)"
