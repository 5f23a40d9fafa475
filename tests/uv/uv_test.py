#!/usr/bin/env python3
"""libuv adapter tests against a running server (tests/uv/CMakeLists.txt).

usage: uv_test.py --server PATH --case NAME

  sndbuf_curl    hello_uv --sndbuf 4096: curl (slowed by --limit-rate) gets large /stream,
                 /fixed, /trailers (X-Checksum) and an HTTP/1.0 close-delimited body whole
                 (issue 9: a finish before the last byte cut responses, curl exit 18)
  sndbuf_python  the same send buffer, a Python client that reads late: keep-alive
                 responses then one with Connection: close, and HTTP/1.0; all byte-exact
  stall          hello_uv --stall-timeout-ms 300: a client that stops reading is cut
                 (its descriptor goes) after 0.3-2.5 s; one reading slowly is not
  glue           tests/uv/glue_server.cpp, the docs' glue: /, /big, keep-alive,
                 pipelining, HTTP/1.0
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, RillServer, case_main, check, connect, fnv1a64, pattern, read_until_close, tool, wait_for  # noqa: E402

def curl(*args):
    r = subprocess.run([tool("curl"), "-sS", "--max-time", "30", *args], capture_output=True, timeout=40)
    check(r.returncode == 0, "curl %s exited %d (18: response cut short): %s"
          % (" ".join(args), r.returncode, r.stderr.decode().strip()))
    return r.stdout


def parse_responses(data):
    """Splits a byte string into (status line, headers, body) per HTTP/1.1 response."""
    out = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        check(sep, "response head cut: %r" % head[:80])
        lines = head.decode("latin1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            check(len(data) >= n, "body cut: %d of %d bytes" % (len(data), n))
            body, data = data[:n], data[n:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, sep, data = data.partition(b"\r\n")
                check(sep, "chunk size line cut")
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise Failure("bad chunk size line %r" % size_line[:40])
                if size == 0:
                    trailers, sep, data = data.partition(b"\r\n\r\n") if not data.startswith(b"\r\n") else (b"", b"\r\n", data[2:])
                    check(sep, "last chunk cut")
                    headers["trailers"] = trailers.decode("latin1")
                    break
                check(len(data) >= size + 2 and data[size:size + 2] == b"\r\n", "chunk cut")
                body += data[:size]
                data = data[size + 2:]
        else:
            body, data = data, b""
        out.append((lines[0], headers, body))
    return out


def case_sndbuf_curl(args):
    with RillServer(args.server, "--sndbuf", "4096", "--delay-ms", "20") as srv:
        for route, n in (("/stream", 200), ("/fixed", 100), ("/trailers", 64)):
            url = "%s%s?parts=%d&size=16384" % (srv.url, route, n)
            raw = curl("--raw", "--limit-rate", "4M", url)
            check(not raw.startswith(b"HTTP"), "curl printed a head")
            if route == "/fixed":
                body = raw
            else:
                ((_, h, body),) = parse_responses(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + raw)
                if route == "/trailers":
                    check(h["trailers"] == "X-Checksum: " + fnv1a64(pattern(n * 16384)),
                          "trailer %r" % h["trailers"])
            check(body == pattern(n * 16384), "%s: %d of %d bytes, or different" % (route, len(body), n * 16384))
        # HTTP/1.0: the close ends the body, so a close before the last byte goes unnoticed
        # by the framing: only the byte count tells.
        body = curl("-0", "--limit-rate", "4M", srv.url + "/stream?parts=100&size=16384")
        check(body == pattern(100 * 16384), "HTTP/1.0 body: %d of %d bytes" % (len(body), 100 * 16384))
        for _ in range(3):  # small responses, closing right after their last write
            body = curl("-0", srv.url + "/fixed?parts=3&size=1000")
            check(body == pattern(3000), "small HTTP/1.0 body: %d bytes" % len(body))


def case_sndbuf_python(args):
    with RillServer(args.server, "--sndbuf", "4096", "--delay-ms", "20") as srv:
        rcv = 4096
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcv)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"GET /fixed?parts=40&size=16384 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /stream?parts=40&size=10000 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /trailers?parts=30&size=20000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)  # the server's writes wait for this client: the end of each is pending
        responses = parse_responses(read_until_close(s, limit=20, strict=True))
        s.close()
        check(len(responses) == 4, "%d responses" % len(responses))
        check(responses[0][2] == pattern(40 * 16384), "keep-alive /fixed differs")
        check(responses[1][2] == pattern(400000), "keep-alive /stream differs")
        check(responses[2][2] == b"Hello, World", "keep-alive / differs")
        check(responses[3][2] == pattern(600000), "last /trailers differs")
        check(responses[3][1]["trailers"] == "X-Checksum: " + fnv1a64(pattern(600000)), "checksum")
        check(responses[3][1].get("connection") == "close", responses[3][1])

        for _ in range(2):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcv)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(b"GET /stream?parts=50&size=16384 HTTP/1.0\r\n\r\n")
            time.sleep(0.3)
            ((status, h, body),) = parse_responses(read_until_close(s, limit=20, strict=True))
            s.close()
            check(status == "HTTP/1.1 200 OK" and h.get("connection") == "close", (status, h))
            check(body == pattern(50 * 16384), "HTTP/1.0 body: %d of %d bytes" % (len(body), 50 * 16384))


def case_stall(args):
    with RillServer(args.server, "--sndbuf", "4096", "--stall-timeout-ms", "300") as srv:
        time.sleep(0.1)
        base = srv.fd_count()
        # Slow but steady: 4 KiB every 100 ms, each server write lasting far longer than
        # 300 ms; it is not cut.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", srv.port))
        slow.sendall(b"GET /stream?parts=100000&size=16384 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            time.sleep(0.1)
            chunk = slow.recv(4096)
            check(chunk, "slow reader cut after %.2f s (%d bytes)" % (time.monotonic() - t0, got))
            got += len(chunk)
        check(srv.fd_count() == base + 1, "slow reader's connection gone")
        slow.close()
        check(wait_for(lambda: srv.fd_count() == base, 2), "slow reader's connection not released")

        # Stalled: never reads.
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", srv.port))
        stalled.sendall(b"GET /stream?parts=100000&size=16384 HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        check(wait_for(lambda: srv.fd_count() == base + 1, 1), "stalled client not accepted")
        check(wait_for(lambda: srv.fd_count() == base, 3), "stalled client still held after 3 s")
        waited = time.monotonic() - t0
        check(0.3 <= waited < 2.5, "stalled client cut after %.2f s, timeout 0.3 s" % waited)
        stalled.close()
        print("stalled client cut after %.2f s" % waited)
        body = curl(srv.url + "/fixed?parts=10&size=1000")
        check(body == pattern(10000), "server broken after a stall")


def case_glue(args):
    with RillServer(args.server) as srv:
        body = curl(srv.url + "/")
        check(body == b"Hello, World", body)
        body = curl(srv.url + "/big")
        check(body == b"x" * (1 << 20), "/big: %d bytes" % len(body))
        s = connect(srv.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        responses = parse_responses(read_until_close(s, limit=20, strict=True))
        check([r[0] for r in responses] == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"],
              [r[0] for r in responses])
        check([r[2] for r in responses] == [b"Hello, World", b"x" * (1 << 20), b"not found\n"], "pipelined bodies")
        s = connect(srv.port)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        ((status, h, body),) = parse_responses(read_until_close(s, limit=20, strict=True))
        check(body == b"Hello, World" and h.get("connection") == "close", (h, body))


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


if __name__ == "__main__":
    sys.exit(case_main(CASES))
