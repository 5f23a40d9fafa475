#!/usr/bin/env python3
"""hello_uv's /stream throughput against hello_deferred's, in the same run (not a ctest test).

usage: throughput_vs_deferred.py --uv PATH --deferred PATH [--parts N] [--rounds N]

Each round starts each server and has curl fetch /stream?parts=N&size=16384 to /dev/null
(N = 16384: 256 MiB), alternating servers; prints every rate, the medians and their ratio.
Build both Release: cmake -DCMAKE_BUILD_TYPE=Release, targets hello_uv hello_deferred.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import RillServer, check, tool  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uv", required=True)
    ap.add_argument("--deferred", required=True)
    ap.add_argument("--parts", type=int, default=16384)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    servers = {"hello_deferred": args.deferred, "hello_uv": args.uv}
    rates = {name: [] for name in servers}
    size = args.parts * 16384
    for _ in range(args.rounds):
        for name, path in servers.items():
            with RillServer(path) as srv:
                t0 = time.monotonic()
                r = subprocess.run([tool("curl"), "-sS", "-o", "/dev/null", "-w", "%{size_download}",
                                    "%s/stream?parts=%d&size=16384" % (srv.url, args.parts)], capture_output=True)
                elapsed = time.monotonic() - t0
                check(r.returncode == 0 and int(r.stdout) == size, "curl: %r" % r)
                rates[name].append(size / elapsed / 1e6)
    medians = {}
    for name, v in rates.items():
        medians[name] = sorted(v)[len(v) // 2]
        print("%-15s median %6.0f MB/s  runs %s" % (name, medians[name], " ".join("%.0f" % x for x in v)))
    print("hello_uv / hello_deferred: %.2f" % (medians["hello_uv"] / medians["hello_deferred"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
