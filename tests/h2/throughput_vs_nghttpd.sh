#!/usr/bin/env bash
# Issue 11's goal figure: one HTTP/2 stream of 16 KiB parts from hello_h2 (/stream) against
# nghttpd serving a static file of the same size, in the same run, read by h2load with wide
# windows. Runs alternate (nghttpd, hello_h2, nghttpd, ...); medians and their ratio printed.
# Not a ctest: it needs an idle machine. Both servers run at the same nice level as h2load.
#
# usage: throughput_vs_nghttpd.sh HELLO_H2 [PARTS=16384] [RUNS=7]
set -euo pipefail
server=${1:?usage: $0 path/to/hello_h2 [parts] [runs]}
parts=${2:-16384}
runs=${3:-7}
size=16384
for t in nghttpd h2load python3; do
    command -v "$t" >/dev/null || { echo "$t is required (Debian: nghttp2-server, nghttp2-client, python3)"; exit 1; }
done
dir=$(mktemp -d)
cleanup() {
    [[ -n ${npid:-} ]] && kill "$npid" 2>/dev/null || true
    [[ -n ${hpid:-} ]] && kill "$hpid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
bytes=$((parts * size))
# The same bytes hello_h2 streams (its pattern), so both transfers are alike.
python3 - "$dir/f" "$bytes" <<'EOF'
import sys
a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    f.write((a * (n // len(a) + 1))[:n])
EOF
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nghttpd --no-tls -a 127.0.0.1 -d "$dir" "$nport" >/dev/null 2>&1 &
npid=$!
"$server" --port 0 >"$dir/hello.out" &
hpid=$!
for _ in $(seq 50); do
    grep -q listening "$dir/hello.out" 2>/dev/null && break
    sleep 0.1
done
hport=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)\/$/\1/p' "$dir/hello.out")
sleep 0.3
run() {  # prints MB/s (10^6 bytes) of one h2load run, from its byte count and time
    h2load -n 1 -c 1 -m 1 -w 30 -W 30 "$1" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
m = re.search(r"finished in ([\d.]+)(ms|s),", t); d = re.search(r"\((\d+)\) data", t)
if not m or not d: sys.exit("h2load failed:\n" + t)
sec = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
print("%.1f" % (int(d.group(1)) / sec / 1e6))'
}
n_all=()
h_all=()
for _ in $(seq "$runs"); do
    n_all+=("$(run "http://127.0.0.1:$nport/f")")
    h_all+=("$(run "http://127.0.0.1:$hport/stream?parts=$parts&size=$size")")
done
python3 - "$bytes" "${n_all[*]}" "${h_all[*]}" <<'EOF'
import statistics, sys
n = [float(x) for x in sys.argv[2].split()]
h = [float(x) for x in sys.argv[3].split()]
mn, mh = statistics.median(n), statistics.median(h)
print("body %d bytes, %d runs each (MB/s = 10^6 bytes/s)" % (int(sys.argv[1]), len(n)))
print("nghttpd static file : median %7.1f MB/s  runs %s" % (mn, " ".join("%.0f" % x for x in n)))
print("hello_h2 /stream    : median %7.1f MB/s  runs %s" % (mh, " ".join("%.0f" % x for x in h)))
print("ratio hello_h2 / nghttpd = %.2f" % (mh / mn))
EOF
