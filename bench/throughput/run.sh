#!/usr/bin/env bash
# Builds rill_bench_throughput (Release), runs its timed mode, then counts the
# instructions each variant spends per part under callgrind and prints both.
#
# usage: bench/throughput/run.sh [BUILD_DIR]      (default build/bench-throughput)
#   ROUNDS=7 TARGET_MS=300   timed mode: rounds and the calibrated time of one raw run
#   CG_PARTS=1000            callgrind mode: runs with N and 2N parts; the difference
#                            divided by N is the cost of one part, free of setup
#   CG_SIZES="16 256 4096 65536"  SKIP_TIMED=1  SKIP_CALLGRIND=1
#
# The timed figures depend on the machine and its load; only the ratios between
# variants of one run are comparable. The instruction counts are deterministic
# (user space only: what the kernel does inside writev/sendmsg is not counted).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build/bench-throughput}"
rounds="${ROUNDS:-7}"
target_ms="${TARGET_MS:-300}"
cg_parts="${CG_PARTS:-1000}"
cg_sizes="${CG_SIZES:-16 256 4096 65536}"

echo "== building rill_bench_throughput in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DRILL_BUILD_TESTS=OFF -DRILL_BUILD_EXAMPLES=OFF -DRILL_BUILD_BENCHMARKS=ON |
    grep 'rill_bench_throughput' || true
cmake --build "$build" --target rill_bench_throughput -j2 >/dev/null
bin="$build/bench/throughput/rill_bench_throughput"
out="$build/bench-results"
mkdir -p "$out"

echo "== machine: $(nproc) cores, $(uname -sr), $(${CXX:-c++} --version 2>/dev/null | head -n1 || true)"

if [ -z "${SKIP_TIMED:-}" ]; then
    echo "== timed mode ($rounds rounds, ~${target_ms} ms per raw run)"
    "$bin" --rounds "$rounds" --target-ms "$target_ms" 2>/dev/null | tee "$out/timed.txt"
fi

if [ -n "${SKIP_CALLGRIND:-}" ]; then exit 0; fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "== callgrind mode skipped: valgrind is not installed (Debian: apt-get install valgrind)"
    exit 0
fi

# Instructions collected while run_measured (or the httplib content provider) is on the stack.
count() {  # variant size parts -> instruction count
    local file="$out/callgrind.$1.$2.$3"
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_measured*' \
        --callgrind-out-file="$file" "$bin" --callgrind --variant "$1" --size "$2" --parts "$3" \
        >/dev/null 2>&1 || { echo "callgrind run failed: $1 $2 $3" >&2; exit 1; }
    awk '/^summary:/ { print $2 }' "$file"
}

variants="$("$bin" --list)"
echo
echo "== callgrind: instructions per part (user space; (I(2N) - I(N)) / N, N = $cg_parts)"
printf '%-8s' "part"
for v in $variants; do printf ' %11s' "$v"; done
printf ' %10s\n' "rill/raw"
for size in $cg_sizes; do
    printf '%-8s' "$size"
    raw="" rill=""
    for v in $variants; do
        i1="$(count "$v" "$size" "$cg_parts")"
        i2="$(count "$v" "$size" $((2 * cg_parts)))"
        per="$(awk -v a="$i1" -v b="$i2" -v n="$cg_parts" 'BEGIN { printf "%.1f", (b - a) / n }')"
        printf ' %11s' "$per"
        [ "$v" = raw ] && raw="$per"
        [ "$v" = rill ] && rill="$per"
    done
    awk -v a="$rill" -v b="$raw" 'BEGIN { printf " %10.2f\n", a / b }'
done | tee "$out/callgrind.txt"
echo
echo "(callgrind output files: $out/callgrind.*; inspect one with callgrind_annotate --inclusive=yes)"
