#!/usr/bin/env bash
# Builds rill_bench_syscalls_per_part, runs each mode under strace and prints
# sendmsg calls per part. Needs strace.
#
#   bash bench/syscalls/run.sh [parts] [part_size]
#
# BUILD_DIR (default build/bench-syscalls) and CXX choose where and with what it is built.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_dir="${BUILD_DIR:-$root/build/bench-syscalls}"
parts="${1:-10000}"
part_size="${2:-32}"

command -v strace >/dev/null || { echo "run.sh: strace not found (Debian: apt-get install strace)" >&2; exit 2; }

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"} \
    -DRILL_BUILD_BENCHMARKS=ON -DRILL_BUILD_TESTS=OFF -DRILL_BUILD_EXAMPLES=OFF -DRILL_INSTALL=OFF >/dev/null
cmake --build "$build_dir" --target rill_bench_syscalls_per_part -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
bin="$build_dir/bench/syscalls/rill_bench_syscalls_per_part"

summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT

for mode in busy moved batch idle; do
    echo "=== $mode: strace -f -c -e trace=sendmsg,writev,write $bin $mode $parts $part_size"
    strace -f -c -e trace=sendmsg,writev,write -o "$summary" "$bin" "$mode" "$parts" "$part_size"
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
    calls="$(awk '$NF == "sendmsg" { print $4 }' "$summary")"
    calls="${calls:-0}"
    awk -v c="$calls" -v p="$parts" -v m="$mode" \
        'BEGIN { printf "%s: %d sendmsg calls / %d parts = %.4f per part\n", m, c, p, c / p }'
done

echo "=== stall: $bin stall $parts $part_size"
"$bin" stall "$parts" "$part_size"
echo "=== stall: $bin stall 2000 8000"
"$bin" stall 2000 8000
