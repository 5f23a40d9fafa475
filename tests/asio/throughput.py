#!/usr/bin/env python3
"""hello_asio's /stream against hello_deferred's, in the same run (issue 9's goal: >= 0.95x).

usage: throughput.py --asio PATH --deferred PATH [--runs 5] [--parts 20000] [--size 16384]
Each run downloads /stream?parts=P&size=S&interval-ms=0 with `curl -o /dev/null` from each
server in turn (interleaved), and prints the median rate of each and their ratio, and the
server's CPU time per GiB (utime + stime from /proc), which other load on a shared machine
disturbs less than the rate.
Not a ctest: run it by hand on a quiet machine (`nice -n 10` on a shared one).
"""
import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import RillServer, check, tool  # noqa: E402


def rate(url):
    r = subprocess.run([tool("curl"), "-sS", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", url],
                       capture_output=True, timeout=300)
    check(r.returncode == 0, "curl failed: %s" % r.stderr.decode())
    speed, size = r.stdout.split()
    return float(speed), int(size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--asio", required=True)
    ap.add_argument("--deferred", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--parts", type=int, default=20000)
    ap.add_argument("--size", type=int, default=16384)
    args = ap.parse_args()
    path = "/stream?parts=%d&size=%d&interval-ms=0" % (args.parts, args.size)
    results = {"hello_asio": [], "hello_deferred": []}
    cpu = {"hello_asio": [], "hello_deferred": []}
    hz = os.sysconf("SC_CLK_TCK")
    with RillServer(args.asio) as a, RillServer(args.deferred) as d:
        for _ in range(args.runs):
            for name, srv in (("hello_deferred", d), ("hello_asio", a)):
                before = srv.cpu_ticks()
                speed, size = rate(srv.url + path)
                cpu[name].append((srv.cpu_ticks() - before) / hz / (size / 2**30))
                check(size == args.parts * args.size, "%s sent %d bytes" % (name, size))
                results[name].append(speed)
    for name, speeds in results.items():
        print("%-15s median %7.1f MiB/s  runs: %s" % (name, statistics.median(speeds) / 2**20,
                                                      " ".join("%.0f" % (s / 2**20) for s in speeds)))
    for name, secs in cpu.items():
        print("%-15s median %6.3f CPU s/GiB" % (name, statistics.median(secs)))
    print("CPU per byte, hello_deferred / hello_asio: %.3f" % (statistics.median(cpu["hello_deferred"]) /
                                                                statistics.median(cpu["hello_asio"])))
    ratio = statistics.median(results["hello_asio"]) / statistics.median(results["hello_deferred"])
    print("ratio hello_asio / hello_deferred: %.3f" % ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
