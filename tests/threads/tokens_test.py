#!/usr/bin/env python3
"""End-to-end tests of sse_clock's /tokens route (examples/sse_clock/tokens.hpp):
events produced on worker threads, handed to the loop through rill::Producer.

usage: tokens_test.py --server PATH --case NAME     (cases: events, disconnect, sigterm)
The event-stream and chunked parsing here is the test's own.
"""
import argparse
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, RillServer, check, wait_for  # noqa: E402


def Server(path):
    """sse_clock on a free port; under ThreadSanitizer a race ends it at once (and fails the case)."""
    env = dict(os.environ)
    env.setdefault("TSAN_OPTIONS", "halt_on_error=1")
    return RillServer(path, env=env)


def get(port, target, method="GET", timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (method, target)).encode())
    data = bytearray()
    while True:
        c = s.recv(1 << 20)
        if not c:
            break
        data += c
    s.close()
    head, sep, rest = bytes(data).partition(b"\r\n\r\n")
    check(sep, "no head")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def dechunk(rest):
    body = bytearray()
    pos = 0
    while True:
        e = rest.index(b"\r\n", pos)
        size = int(rest[pos:e], 16)
        pos = e + 2
        if size == 0:
            check(rest[pos:] == b"\r\n", "bytes after the last chunk")
            return bytes(body)
        body += rest[pos:pos + size]
        check(rest[pos + size:pos + size + 2] == b"\r\n", "bad chunk end")
        pos += size + 2


def check_events(body, threads, each):
    events = body.split(b"\n\n")
    check(events[-1] == b"", "the stream does not end with a complete event")
    events = events[:-1]
    check(len(events) == threads * each, "%d events, expected %d" % (len(events), threads * each))
    nxt = [0] * threads
    pat = re.compile(rb"^data: (\d+) (\d+)$")
    for e in events:
        m = pat.match(e)
        check(m, "not a data line: %r" % e[:40])
        t, s = int(m.group(1)), int(m.group(2))
        check(t < threads and s == nxt[t], "event %r out of order (expected seq %s)" % (e, nxt))
        nxt[t] += 1


def case_events(path):
    with Server(path) as srv:
        for count, threads in ((200000, 4), (10, 4), (1, 1), (64, 64), (0, 3)):
            status, headers, rest = get(srv.port, "/tokens?count=%d&threads=%d" % (count, threads))
            check(status == 200 and headers.get("content-type") == "text/event-stream",
                  "status %d, headers %r" % (status, headers))
            check(headers.get("transfer-encoding") == "chunked", "not chunked")
            check_events(dechunk(rest), threads, count // threads)
        status, headers, rest = get(srv.port, "/tokens?count=100&threads=2", method="HEAD")
        check(status == 200 and rest == b"" and headers.get("content-type") == "text/event-stream", "HEAD")
        for bad in ("count=x", "threads=0", "threads=65", "count=1&count=2", "other=1"):
            status, _, _ = get(srv.port, "/tokens?" + bad)
            check(status == 400, "%s: status %d" % (bad, status))


def case_disconnect(path):
    with Server(path) as srv:
        # A first stream starts whatever threads the runtime adds (ThreadSanitizer has one).
        get(srv.port, "/tokens?count=8&threads=2")
        time.sleep(0.3)
        idle = srv.threads()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /tokens?count=100000000&threads=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        while got < 1 << 20:
            c = s.recv(1 << 16)
            check(c, "stream ended early")
            got += len(c)
        check(srv.threads() >= idle + 4, "expected 4 worker threads, have %d (idle %d)" % (srv.threads(), idle))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        check(wait_for(lambda: srv.threads() <= idle, 5),
              "worker threads still run 5 s after the client left (%d, idle %d)" % (srv.threads(), idle))
        status, _, rest = get(srv.port, "/tokens?count=8&threads=2")
        check(status == 200, "served after a disconnect")
        check_events(dechunk(rest), 2, 4)


def case_sigterm(path):
    with Server(path) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        # A stream nobody reads: its workers wait on backpressure when the signal comes.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /tokens?count=100000000&threads=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        srv.terminate(within=1.0)
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--case", required=True)
    args = ap.parse_args()
    try:
        {"events": case_events, "disconnect": case_disconnect, "sigterm": case_sigterm}[args.case](args.server)
    except (Failure, OSError, ValueError) as e:
        print("FAIL:", repr(e))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
