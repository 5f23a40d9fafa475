#!/usr/bin/env python3
"""The docs' glue for Asio and Beast servers (glue_asio.cpp, glue_beast.cpp): counts the
lines between "// rill glue begin" and "// rill glue end" (blank and comment-only lines
excluded) against the issue's budget, then serves curl through the compiled program.

usage: glue_test.py --program PATH --source FILE [--max-lines 15]
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, RillServer, check, tool  # noqa: E402


def glue_lines(source):
    count, inside, blocks = 0, False, 0
    with open(source) as f:
        for line in f:
            s = line.strip()
            if s == "// rill glue begin":
                check(not inside, "nested glue block in %s" % source)
                inside, blocks = True, blocks + 1
            elif s == "// rill glue end":
                check(inside, "glue end without begin in %s" % source)
                inside = False
            elif inside and s and not s.startswith("//"):
                count += 1
    check(not inside and blocks > 0, "no complete glue block in %s" % source)
    return count


def curl(*args):
    r = subprocess.run([tool("curl"), "-sS", "--max-time", "10", *args], capture_output=True, timeout=15)
    check(r.returncode == 0, "curl %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.decode()))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--max-lines", type=int, default=15)
    args = ap.parse_args()
    try:
        n = glue_lines(args.source)
        print("%s: %d lines of glue (budget %d)" % (os.path.basename(args.source), n, args.max_lines))
        check(n <= args.max_lines, "%d lines of glue, over the budget of %d" % (n, args.max_lines))
        srv = RillServer(args.program)
        try:
            # Two requests on one connection: the second is read in on_done (keep-alive).
            t0 = time.monotonic()
            r = curl("-v", srv.url + "/", srv.url + "/")
            check(r.stdout == b"Hello, WorldHello, World", r.stdout)
            check(b"Re-using existing connection" in r.stderr or b"Reusing existing connection" in r.stderr,
                  "curl did not reuse the connection:\n" + r.stderr.decode())
            check(time.monotonic() - t0 >= 0.2, "World came before its timer")
            check(curl("--raw", srv.url + "/").stdout == b"7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n", "chunked framing")
            check(curl("-0", srv.url + "/").stdout == b"Hello, World", "HTTP/1.0 close-delimited")
            head = curl("-I", srv.url + "/").stdout
            check(head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head)
        finally:
            srv.proc.kill()
            srv.proc.wait()
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
