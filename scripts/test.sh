#!/usr/bin/env bash
# Build and test rill in several compiler/standard/sanitizer configurations.
#
#   bash scripts/test.sh
#
# Each configuration is "name:compiler:standard[:sanitizers]" and is built in
# build/<name>. The default list builds g++ and clang++ as C++17 and C++20, and
# g++ with ASan+UBSan and with TSan (g++'s sanitizer runtimes come with it on
# Debian). Override the list with RILL_TEST_CONFIGS, e.g.
#   RILL_TEST_CONFIGS="gcc-cxx20:g++:20" bash scripts/test.sh
# Other knobs: RILL_BUILD_TYPE (default RelWithDebInfo), RILL_CMAKE_ARGS
# (extra arguments for every configure step).
#
# The last line of output is "N passed, M failed" over all configurations;
# the exit status is non-zero if anything failed. A configuration that does
# not configure or build counts as one failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

configs="${RILL_TEST_CONFIGS:-gcc-cxx17:g++:17 clang-cxx20:clang++:20 gcc-cxx20:g++:20 clang-cxx17:clang++:17 gcc-asan-ubsan:g++:17:address,undefined gcc-tsan:g++:20:thread}"
build_type="${RILL_BUILD_TYPE:-RelWithDebInfo}"
read -r -a extra_args <<< "${RILL_CMAKE_ARGS:-}"
jobs="$(nproc 2>/dev/null || echo 2)"

have_doctest() {
    local dir
    for dir in /usr/include /usr/local/include ${CPATH:+${CPATH//:/ }}; do
        [[ -f "$dir/doctest/doctest.h" ]] && return 0
    done
    return 1
}

# Compilers are not installed here: say which one is missing before building anything.
for config in $configs; do
    IFS=: read -r _ compiler _ <<< "$config"
    if ! command -v "$compiler" >/dev/null 2>&1; then
        echo "scripts/test.sh: $compiler is missing (Debian: apt-get install g++ clang), or pick other RILL_TEST_CONFIGS" >&2
        exit 2
    fi
done

# The wire, example and adapter tests drive real servers with independent clients
# (curl, nghttp, Node's http and http2 modules, Python's http.client, headless Chromium)
# and build the adapters against their libraries: install whatever is missing.
packages=()
have_doctest || packages+=(doctest-dev)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
[[ -f /usr/include/httplib.h ]] || packages+=(libcpp-httplib-dev)
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
# The adapters (rill/asio.hpp, beast.hpp, uv.hpp, nghttp2.hpp), their examples and wire
# tests, and the benchmark peers (Beast, libevent's evhttp, nghttpd).
[[ -f /usr/include/boost/beast.hpp ]] || packages+=(libboost-dev)
[[ -f /usr/include/asio.hpp ]] || packages+=(libasio-dev)
[[ -f /usr/include/openssl/ssl.h ]] || packages+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
[[ -f /usr/include/uv.h ]] || packages+=(libuv1-dev)
[[ -f /usr/include/nghttp2/nghttp2.h ]] || packages+=(libnghttp2-dev)
command -v nghttp >/dev/null 2>&1 || packages+=(nghttp2-client)
command -v nghttpd >/dev/null 2>&1 || [[ -x /usr/sbin/nghttpd ]] || packages+=(nghttp2-server)
[[ -f /usr/include/event2/event.h ]] || packages+=(libevent-dev)
if [[ ${#packages[@]} -gt 0 ]]; then
    echo "installing missing test dependencies: ${packages[*]}"
    sudo_cmd=()
    if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
fi

# playwright-core drives the system Chromium; it downloads no browser of its own.
node_dir="build/node"
if [[ ! -f "$node_dir/node_modules/playwright-core/package.json" ]]; then
    echo "installing playwright-core into $node_dir (npm ci, from tests/browser/package-lock.json)"
    mkdir -p "$node_dir"
    cp tests/browser/package.json tests/browser/package-lock.json "$node_dir/"
    npm ci --prefix "$node_dir" --no-audit --no-fund
fi

# The slow suites (the real browser) run, and the benchmarks build, in the first
# configuration only.
slow_args=(-DRILL_TEST_BROWSER=ON "-DRILL_PLAYWRIGHT_NODE_MODULES=$PWD/$node_dir/node_modules")

total_passed=0
total_failed=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

for config in $configs; do
    IFS=: read -r name compiler standard sanitize <<< "$config"
    build_dir="build/$name"
    # Benchmarks print figures and are only compiled here: once is enough.
    config_args=("${slow_args[@]}")
    slow_args=(-DRILL_TEST_BROWSER=OFF -DRILL_BUILD_BENCHMARKS=OFF)
    if [[ -n "${sanitize:-}" ]]; then
        # Benchmarks print figures; under a sanitizer those mean nothing.
        config_args+=(-DRILL_SANITIZE="$sanitize" -DRILL_BUILD_BENCHMARKS=OFF)
    fi
    echo "=== $name: $compiler, C++$standard, $build_type${sanitize:+, sanitize=$sanitize}, $build_dir ==="

    if ! cmake -S . -B "$build_dir" \
            -DCMAKE_BUILD_TYPE="$build_type" \
            -DCMAKE_CXX_COMPILER="$compiler" \
            -DCMAKE_CXX_STANDARD="$standard" \
            "${config_args[@]}" \
            "${extra_args[@]}" \
        || ! cmake --build "$build_dir" -j "$jobs"; then
        echo "=== $name: configure/build FAILED ==="
        total_failed=$((total_failed + 1))
        continue
    fi

    status=0
    (cd "$build_dir" && ctest --output-on-failure -j2) 2>&1 | tee "$log" || status=$?

    summary="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
    if [[ -n "$summary" ]]; then
        failed="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<< "$summary")"
        total="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<< "$summary")"
        total_passed=$((total_passed + total - failed))
        total_failed=$((total_failed + failed))
        if [[ "$status" -ne 0 && "$failed" -eq 0 ]]; then
            total_failed=$((total_failed + 1))
        fi
    else
        # ctest produced no summary (no tests, or it could not run at all).
        total_failed=$((total_failed + 1))
    fi
done

echo "$total_passed passed, $total_failed failed"
[[ "$total_failed" -eq 0 ]]
