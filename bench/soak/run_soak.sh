#!/usr/bin/env bash
# Soak and churn run against examples/hello_deferred (docs/reliability.md, "Soak and churn").
#
# usage: bench/soak/run_soak.sh BUILD_DIR [soak.py options, e.g. --seconds 20 --connections 2000]
#
# RILL_SOAK_MALLOC=default keeps glibc's dynamic mmap threshold (see below); the default,
# "fixed", runs the server with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072.
#
# Builds hello_deferred in BUILD_DIR (an existing CMake build directory), starts it on a
# free 127.0.0.1 port, runs bench/soak/soak.py against it, stops it with SIGTERM and checks
# that it exited with status 0 and, for a sanitizer build (RILL_SANITIZE in the cache),
# that its stderr holds no sanitizer report (LeakSanitizer runs at exit). Opt-in: never part
# of the default test run. Exit status: 0 when everything passed.
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1/CMakeCache.txt" ]]; then
    echo "usage: $0 BUILD_DIR [soak.py options]   (BUILD_DIR: a configured CMake build directory)" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
delay_ms=100
idle_ms=10000

cmake --build "$build" --target hello_deferred -j2 >/dev/null
server="$build/examples/hello_deferred"

sanitized=0
if grep -Eq '^RILL_SANITIZE:[A-Z]*=.*(address|undefined)' "$build/CMakeCache.txt"; then
    sanitized=1
    # Reports go to stderr; a UBSan report stops the server (and so fails the soak).
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi

# glibc raises its mmap threshold to the size of each mmapped block freed (up to 32 MiB), so
# after the first 1 MiB part is freed, later ones come from the heap and RSS keeps the high
# point of the large parts queued at once: it grows in steps with the rare peaks of
# concurrent slow clients, not with the number of requests. A fixed threshold returns
# every large part to the kernel when freed, so RSS shows what the server still holds.
if [[ $sanitized -eq 0 && "${RILL_SOAK_MALLOC:-fixed}" == fixed ]]; then
    export GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/rill-soak.XXXXXX")
"$server" --port 0 --delay-ms "$delay_ms" --idle-timeout-ms "$idle_ms" \
    >"$logdir/server.out" 2>"$logdir/server.err" &
pid=$!
stop_server() {
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
}
trap stop_server EXIT

port=""
for _ in $(seq 100); do
    if line=$(grep -m1 '^listening on http://127.0.0.1:' "$logdir/server.out" 2>/dev/null); then
        port=${line##*:}
        port=${port%/}
        break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$port" ]]; then
    echo "run_soak: the server did not start; stderr:" >&2
    cat "$logdir/server.err" >&2
    exit 1
fi
echo "run_soak: $server (pid $pid, port $port, sanitized=$sanitized${GLIBC_TUNABLES:+, GLIBC_TUNABLES=$GLIBC_TUNABLES}), logs in $logdir"

status=0
extra=()
# ASan keeps freed memory in its quarantine (256 MiB by default), so RSS only says how
# full that is; LeakSanitizer at exit checks for leaks instead.
[[ $sanitized -eq 1 ]] && extra+=(--no-rss-check)
python3 "$here/soak.py" --port "$port" --server-pid "$pid" --idle-timeout-ms "$idle_ms" "${extra[@]}" "$@" || status=1

if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    code=0
    for _ in $(seq 300); do  # 30 s: a sanitizer build checks for leaks at exit
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "run_soak: FAIL: the server ignored SIGTERM for 30 s" >&2
        status=1
    else
        wait "$pid" || code=$?
        if [[ $code -ne 0 ]]; then
            echo "run_soak: FAIL: the server exited with status $code" >&2
            status=1
        else
            echo "run_soak: the server exited with status 0 after SIGTERM"
        fi
    fi
else
    wait "$pid" || true
    echo "run_soak: FAIL: the server died during the soak" >&2
    status=1
fi
trap - EXIT

if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: .*Sanitizer|SUMMARY: .*Sanitizer' \
        "$logdir/server.err"; then
    echo "run_soak: FAIL: sanitizer report in the server's stderr ($logdir/server.err):" >&2
    grep -E 'ERROR: |SUMMARY: |runtime error:' "$logdir/server.err" | head -n 20 >&2
    head -n 60 "$logdir/server.err" >&2
    status=1
elif [[ -s "$logdir/server.err" ]]; then
    echo "run_soak: the server wrote to stderr ($logdir/server.err):" >&2
    head -n 20 "$logdir/server.err" >&2
    status=1
elif [[ $sanitized -eq 1 ]]; then
    echo "run_soak: no sanitizer report"
fi
[[ $status -eq 0 ]] && echo "run_soak: PASS" || echo "run_soak: FAIL"
exit $status
