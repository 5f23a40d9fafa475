#!/usr/bin/env python3
"""End-to-end tests of examples/hello_httplib (cpp-httplib fed through rill::PullStream).

usage: hello_httplib_test.py --server PATH --case NAME
Cases: routes, disconnect, concurrent, sigterm. Each starts its own server on a
free 127.0.0.1 port. The expected bytes are computed here, independently of the
server: the body pattern and the HTTP/1.1 chunked decoding.
"""
import argparse
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, RillServer, check, wait_for  # noqa: E402

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def pattern(n):
    return (ALPHABET * (n // len(ALPHABET) + 1))[:n]


def Server(path, *args):
    """hello_httplib on a free port; under ThreadSanitizer a race ends it at once (and fails the case)."""
    env = dict(os.environ)
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tsan.supp")
    env.setdefault("TSAN_OPTIONS", "halt_on_error=1 suppressions=" + supp)
    return RillServer(path, *args, env=env)


class Response:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""
        self.chunked = False
        self.trailer_block = b""


def request(port, target, method="GET", timeout=30):
    """Sends one request with Connection: close; returns the parsed response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % (method, target)).encode())
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return parse(data, method)


def parse(data, method):
    r = Response()
    head, sep, rest = data.partition(b"\r\n\r\n")
    check(sep, "no end of head in %r" % data[:200])
    lines = head.decode("latin-1").split("\r\n")
    r.status = int(lines[0].split(" ")[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        r.headers[name.strip().lower()] = value.strip()
    if method == "HEAD":
        check(rest == b"", "HEAD answer carries a body")
        return r
    if r.headers.get("transfer-encoding") == "chunked":
        r.chunked = True
        body = b""
        while True:
            size_line, sep, rest = rest.partition(b"\r\n")
            check(sep, "truncated chunked body")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                r.trailer_block, sep, tail = rest.partition(b"\r\n")
                # trailer fields end with an empty line; without any, rest is just "\r\n"
                if r.trailer_block:
                    block, sep2, tail = rest.partition(b"\r\n\r\n")
                    check(sep2, "truncated trailer block")
                    r.trailer_block = block
                check(tail == b"", "bytes after the last chunk: %r" % tail[:50])
                break
            check(len(rest) >= size + 2 and rest[size:size + 2] == b"\r\n", "bad chunk framing")
            body += rest[:size]
            rest = rest[size + 2:]
        r.body = body
    else:
        length = int(r.headers["content-length"])
        check(len(rest) == length, "body has %d bytes, Content-Length says %d" % (len(rest), length))
        r.body = rest
    return r


def case_routes(server_path):
    with Server(server_path, "--delay-ms", "300") as srv:
        t0 = time.monotonic()
        r = request(srv.port, "/")
        took = time.monotonic() - t0
        check(r.status == 200 and r.chunked and r.body == b"Hello, World", "/: %r" % vars(r))
        check(r.headers.get("content-type") == "text/plain", "/: content type")
        check(0.25 <= took < 3, "/: 'World' came after %.2f s, expected the 0.3 s delay" % took)

        for parts, size in ((10, 64), (1, 1), (100, 1000), (3, 100000)):
            q = "parts=%d&size=%d" % (parts, size)
            r = request(srv.port, "/stream?" + q)
            check(r.status == 200 and r.chunked, "/stream status/framing")
            check(r.body == pattern(parts * size), "/stream?%s body differs" % q)
            r = request(srv.port, "/fixed?" + q)
            check(r.status == 200 and not r.chunked, "/fixed framing")
            check(r.headers.get("content-length") == str(parts * size), "/fixed Content-Length")
            check(r.body == pattern(parts * size), "/fixed?%s body differs" % q)
            r = request(srv.port, "/trailers?" + q)
            check(r.status == 200 and r.chunked and r.body == pattern(parts * size), "/trailers body differs")
            # cpp-httplib 0.11 cannot send trailer fields: documented, and checked so that
            # a future httplib that can shows up here.
            check(r.trailer_block == b"" and "trailer" not in r.headers,
                  "/trailers: httplib sent a trailer (%r): update docs/threading.md" % r.trailer_block)

        r = request(srv.port, "/stream?parts=2&size=5&interval-ms=200")
        check(r.body == pattern(10), "/stream with an interval")
        r = request(srv.port, "/stream?parts=0")
        check(r.status == 200 and r.chunked and r.body == b"", "/stream?parts=0")
        r = request(srv.port, "/fixed?parts=0")
        check(r.status == 200 and r.body == b"" and r.headers.get("content-length") == "0", "/fixed?parts=0")
        r = request(srv.port, "/stream?parts=x")
        check(r.status == 400, "bad query must be 400, got %d" % r.status)
        r = request(srv.port, "/stream?parts=1&parts=2")
        check(r.status == 400, "repeated key must be 400")
        r = request(srv.port, "/?x=1")
        check(r.status == 400, "/ with a query must be 400")
        r = request(srv.port, "/nowhere")
        check(r.status == 404 and r.body == b"not found\n", "404: %r" % vars(r))
        r = request(srv.port, "/stream?parts=5&size=5", method="HEAD")
        check(r.status == 200 and r.headers.get("transfer-encoding") == "chunked", "HEAD /stream")
        before = srv.threads()
        r = request(srv.port, "/fixed?parts=5&size=5", method="HEAD")
        check(r.status == 200, "HEAD /fixed")
        check(srv.threads() <= before, "HEAD started a producer thread")


def case_disconnect(server_path):
    with Server(server_path) as srv:
        # Let httplib's pool start, then note the idle thread count.
        request(srv.port, "/stream?parts=1&size=1")
        time.sleep(0.3)
        idle = srv.threads()
        # A 1 GB stream: the client reads a little and leaves.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /stream?parts=1000000&size=1024 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        while got < 256 * 1024:
            chunk = s.recv(65536)
            check(chunk, "stream ended early")
            got += len(chunk)
        check(srv.threads() >= idle + 1, "one producer thread expected while streaming (%d, idle %d)"
              % (srv.threads(), idle))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST: the worker's next write fails
        check(wait_for(lambda: srv.threads() <= idle, 5),
              "the producer thread still runs 5 s after the client left (%d threads, idle %d)"
              % (srv.threads(), idle))
        t0 = srv.cpu_ticks()
        time.sleep(1.0)
        used = srv.cpu_ticks() - t0
        check(used <= 5, "the server used %d ticks in the second after the client left" % used)
        # And it still serves.
        r = request(srv.port, "/stream?parts=3&size=7")
        check(r.body == pattern(21), "served after a disconnect")


def case_concurrent(server_path):
    with Server(server_path) as srv:
        results = [None] * 10
        errors = []

        def one(i):
            try:
                parts, size = 40 + i, 500 + 37 * i
                r = request(srv.port, "/stream?parts=%d&size=%d&interval-ms=20" % (parts, size), timeout=30)
                results[i] = r.body == pattern(parts * size)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("%d: %s" % (i, e))

        t0 = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        peak = 0
        while any(t.is_alive() for t in threads) and time.monotonic() - t0 < 40:
            peak = max(peak, srv.threads())
            time.sleep(0.05)
        for t in threads:
            t.join(1)
        took = time.monotonic() - t0
        check(not errors, "errors: %s" % errors)
        check(all(results), "bodies differ: %r" % results)
        # 40..49 parts 20 ms apart: about 1 s each. Served one after another would take 10 s.
        check(took < 5, "10 streams took %.1f s: not concurrent" % took)
        print("10 concurrent streams in %.2f s, peak %d server threads" % (took, peak))


def case_sigterm(server_path):
    with Server(server_path) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /stream?parts=1000&size=10&interval-ms=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(1000), "no response before SIGTERM")
        # and an idle keep-alive connection
        k = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        k.sendall(b"GET /stream?parts=1&size=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        check(k.recv(1000), "no keep-alive response")
        srv.terminate(within=1.0)
        s.close()
        k.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--case", required=True)
    args = ap.parse_args()
    try:
        {"routes": case_routes, "disconnect": case_disconnect, "concurrent": case_concurrent,
         "sigterm": case_sigterm}[args.case](args.server)
    except (Failure, OSError) as e:
        print("FAIL:", repr(e))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
