#!/usr/bin/env python3
"""End-to-end tests of the example servers that run the shared routes
(examples/common/routes.hpp) with real clients: curl, Node's http module, raw sockets.

usage: hello_deferred_test.py --server PATH --case NAME [--node-script PATH]
                              [--server-arg ARG]...
       hello_deferred_test.py --list

The server must have hello_deferred's command line (examples/common/cli_args.hpp):
`--port 0` picks a free port, `--delay-ms N`, first stdout line
`listening on http://127.0.0.1:PORT/`, SIGTERM and SIGINT end it with status 0 within
1 s. Every case starts its own server (`PATH --port 0 [--delay-ms N] [ARG...]`) and
requires exit status 0 at the end. A missing curl or node is a failure, never a skip.

Portable cases: any HTTP/1.1 server running the shared routes, which answers the
errors found before routing itself (400 malformed head, 431 head over 8 KiB, 413
request body over 1 MiB) and sends its heads through rill (byte-exact checks):
  cli             --help (exit 0, usage on stdout); a bad value, an unknown flag, a flag
                  without value: exit 2 and examples/common/cli_args.hpp's message
  curl_routes     /, /stream, /fixed, /trailers (X-Checksum) and HEAD, through curl
  node_keepalive  node_client.js: keep-alive reuse, trailers, HEAD, 404 on one socket
  errors          404, 405 + Allow, 400 on bad queries; 400 + Connection: close for
                  malformed heads; 431 for a head over 8 KiB (a head just under is fine);
                  HTTP/1.0: close-delimited body with Connection: close
  body_limit      a request body over 1 MiB (by Content-Length) gets 413 + Connection: close
  pipelining      five pipelined requests answered in order, byte-exact; a trickled pair
  disconnect      clients leaving mid-stream / while idle: descriptors back to baseline
                  within 1 s, server still serving; a reset during backpressure
  sigterm         SIGTERM with open streams: exit 0 within 1 s, streams not completed;
                  SIGINT: exit 0
Example-server cases (examples/server: its strict parser, its flags, its linger):
  strict_parser   the parser's RFC 9112 strictness (no Host, two Hosts, bare LF, obs-fold,
                  absolute-form, CL+TE, ...): 400; 505 for HTTP/2.0; 431 for 70 fields
  idle_timeout    --idle-timeout-ms: a client with no or half a head is dropped
  linger          after a 413 the server drains an uploading client for up to 2 s
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, Reader, RillServer, check, connect, fnv1a64, pattern, read_until_close, run_case, tool, wait_for  # noqa: E402

PORTABLE = ["cli", "curl_routes", "node_keepalive", "errors", "body_limit", "pipelining", "disconnect", "sigterm"]
EXAMPLE_SERVER = ["strict_parser", "idle_timeout", "linger"]


def chunked(parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)


def server(args, *extra):
    """The server under test on a free port, with the case's flags and --server-arg's."""
    return RillServer(args.server, *extra, *args.server_arg)


def curl(*args, timeout=20):
    r = subprocess.run([tool("curl"), "-sS", "--max-time", "15", *args], capture_output=True, timeout=timeout)
    check(r.returncode == 0, "curl %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.decode()))
    return r.stdout


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], headers, body


# ---------------------------------------------------------------------------


def case_cli(args):
    def run(*argv):
        r = subprocess.run([args.server, *argv], capture_output=True, timeout=10)
        return r.returncode, r.stdout.decode("latin-1"), r.stderr.decode("latin-1")

    code, out, err = run("--help")
    check(code == 0 and out.startswith("usage: ") and "--delay-ms" in out and "--port" in out,
          "--help: exit %d, stdout %r" % (code, out[:200]))
    for argv, message in ((("--port", "65536"), "bad value for --port: 65536"),
                          (("--port", "80x"), "bad value for --port: 80x"),
                          (("--delay-ms", "-1"), "bad value for --delay-ms: -1"),
                          (("--delay-ms", "86400001"), "bad value for --delay-ms: 86400001"),
                          (("--bogus", "1"), "unknown option --bogus"),
                          (("--port", "0", "--delay-ms"), "--delay-ms needs a value")):
        code, out, err = run(*argv)
        first = err.split("\n", 1)[0]
        check(code == 2 and out == "" and first.split(": ", 1)[-1] == message,
              "%s: exit %d, stdout %r, stderr %r (expected exit 2 and %r)" % (" ".join(argv), code, out, err, message))
    # The flags the cases rely on, in any order, with --host spelled out.
    with RillServer(args.server, "--delay-ms", "0", "--host", "127.0.0.1", *args.server_arg) as srv:
        check(curl(srv.url + "/") == b"Hello, World", "/ with --delay-ms 0")


def case_curl_routes(args):
    with server(args, "--delay-ms", "400") as srv:
        t0 = time.monotonic()
        status, h, body = split_response(curl("-i", srv.url + "/"))
        elapsed = time.monotonic() - t0
        check(status == "HTTP/1.1 200 OK", status)
        check(h["content-type"] == ["text/plain"], h)
        check(h["transfer-encoding"] == ["chunked"], h)
        check(body == b"Hello, World", body)
        check(0.35 <= elapsed < 3, "/ took %.3f s with --delay-ms 400" % elapsed)

        raw = curl("--raw", srv.url + "/")
        check(raw == b"7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n", raw)

        raw = curl("--raw", srv.url + "/stream?parts=3&size=5&interval-ms=30")
        p = pattern(15)
        check(raw == chunked([p[0:5], p[5:10], p[10:15]]) + b"0\r\n\r\n", raw)

        body = curl(srv.url + "/stream?parts=200&size=1000&interval-ms=0")
        check(body == pattern(200000), "large /stream body differs (%d bytes)" % len(body))

        status, h, body = split_response(curl("-i", srv.url + "/fixed?parts=4&size=7"))
        check(h["content-length"] == ["28"], h)
        check("transfer-encoding" not in h, h)
        check(body == pattern(28), body)

        raw = curl("--raw", "-i", srv.url + "/trailers?parts=2&size=40")
        status, h, body = split_response(raw)
        p = pattern(80)
        check(h["trailer"] == ["X-Checksum"], h)
        expected = chunked([p[:40], p[40:]]) + b"0\r\nX-Checksum: " + fnv1a64(p).encode() + b"\r\n\r\n"
        check(body == expected, body)
        check(fnv1a64(b"ABCDEFGHIJ") == "22e6c67846dc5f52", "checksum reference changed")

        for path, extra in (("/", {}), ("/stream?parts=3&size=5", {}), ("/fixed?parts=3&size=5", {"content-length": ["15"]}),
                            ("/trailers", {"trailer": ["X-Checksum"]})):
            t0 = time.monotonic()
            raw = curl("-I", srv.url + path)
            status, h, body = split_response(raw)
            check(status == "HTTP/1.1 200 OK", (path, status))
            check(body == b"", (path, body))
            check(h["content-type"] == ["text/plain"], (path, h))
            for k, v in extra.items():
                check(h.get(k) == v, (path, k, h))
            check(time.monotonic() - t0 < 0.3, "HEAD %s waited for the body" % path)


def case_node_keepalive(args):
    node = tool("node")
    with server(args, "--delay-ms", "150") as srv:
        r = subprocess.run([node, args.node_script, str(srv.port), "150"], capture_output=True, timeout=60)
        sys.stdout.write(r.stdout.decode())
        check(r.returncode == 0, "node client failed:\n" + r.stderr.decode())


def expect_error_and_close(port, request, status_line):
    """Sends `request` on a new connection; the server must answer `status_line` with
    Connection: close and then close."""
    s = connect(port)
    s.sendall(request)
    data = read_until_close(s)
    s.close()
    check(data.startswith(status_line + b"\r\n"), (request[:80], data[:80]))
    check(b"\r\nConnection: close\r\n" in data.partition(b"\r\n\r\n")[0] + b"\r\n", (request[:80], data[:200]))
    return data


def case_errors(args):
    with server(args, "--delay-ms", "50") as srv:
        s = connect(srv.port)
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        r = Reader(s)
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 404 Not Found" and body == b"not found\n", (status, body))
        s.sendall(b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")  # same socket: 404 keeps the connection
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 405 Method Not Allowed", status)
        check(h.get("allow") == "GET, HEAD", h)
        s.sendall(b"GET /stream?parts=1000001 HTTP/1.1\r\nHost: x\r\n\r\n")
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 400 Bad Request", status)
        for q in ("size=1048577", "interval-ms=60001", "parts=-1", "parts=1&parts=2", "bogus=1", "parts=", "parts=1e3"):
            s.sendall(b"GET /fixed?" + q.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            status, h, body, _ = r.response()
            check(status == "HTTP/1.1 400 Bad Request", (q, status))
        s.sendall(b"GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 400 Bad Request" and body == b"/ takes no query\n", (status, body))
        s.sendall(b"GET /fixed?parts=1&size=1048576 HTTP/1.1\r\nHost: x\r\n\r\n")
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 200 OK" and len(body) == 1048576, (status, len(body)))
        check(body == pattern(1048576), "1 MiB part differs")
        s.close()

        # Heads no HTTP/1.1 parser accepts: 400, Connection: close, then the server closes.
        for req in (b"GET / HTTP/1.1\r\nHost x\r\n\r\n",                         # field without a colon
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"):    # a TLS hello
            expect_error_and_close(srv.port, req, b"HTTP/1.1 400 Bad Request")

        # 431: a head past 8 KiB, even if it is never finished; the response must
        # survive the unread bytes behind it.
        expect_error_and_close(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000,
                               b"HTTP/1.1 431 Request Header Fields Too Large")
        # Just under the limit is fine.
        s = connect(srv.port)
        filler = b"X-Fill: " + b"b" * (8192 - 200) + b"\r\n"
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + filler + b"Connection: close\r\n\r\n")
        data = read_until_close(s)
        check(data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"5\r\nWorld\r\n0\r\n\r\n"), data[:80])

        # HTTP/1.0 gets a close-delimited body and Connection: close.
        s = connect(srv.port)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = read_until_close(s)
        check(data.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close\r\n" in data, data)
        check(b"Transfer-Encoding" not in data and data.endswith(b"\r\n\r\nHello, World"), data)
        check(srv.alive(), "server died")


def case_body_limit(args):
    with server(args) as srv:
        # Refused by its Content-Length alone: the body is never sent.
        data = expect_error_and_close(srv.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n",
                                      b"HTTP/1.1 413 Content Too Large")
        check(data.endswith(b"\r\n\r\nrequest body too large\n"), data)
        # A small request body is skipped, and the connection goes on.
        s = connect(srv.port)
        s.sendall(b"POST /fixed?parts=1&size=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                  b"GET /fixed?parts=1&size=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = Reader(s)
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 405 Method Not Allowed", status)
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 200 OK" and body == b"ABCD", (status, body))
        s.close()


def case_strict_parser(args):
    with server(args, "--delay-ms", "50") as srv:
        for req in (
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",            # space before colon
            b"GET / HTTP/1.1\r\n\r\n",                        # HTTP/1.1 without Host
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # two Hosts
            b"GET / HTTP/1.1\nHost: x\n\n",                   # bare LF
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",            # double space
            b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",     # absolute-form
            b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",  # obs-fold
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        ):
            expect_error_and_close(srv.port, req, b"HTTP/1.1 400 Bad Request")
        expect_error_and_close(srv.port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 HTTP Version Not Supported")
        expect_error_and_close(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 70 + b"\r\n",
                               b"HTTP/1.1 431 Request Header Fields Too Large")


def case_idle_timeout(args):
    with server(args, "--idle-timeout-ms", "400") as srv:
        # A client that sends nothing (or half a head) is dropped after --idle-timeout-ms.
        for first in (b"", b"GET / HT"):
            s = connect(srv.port)
            t0 = time.monotonic()
            if first:
                s.sendall(first)
            data = read_until_close(s, limit=5)
            waited = time.monotonic() - t0
            check(data == b"", data)
            check(0.3 <= waited < 2.0, "idle client dropped after %.3f s, timeout 0.4 s" % waited)


def case_pipelining(args):
    with server(args, "--delay-ms", "300") as srv:
        s = connect(srv.port)
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /fixed?parts=2&size=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /stream?parts=3&size=4&interval-ms=20 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_until_close(s)
        elapsed = time.monotonic() - t0
        p = pattern(12)
        expected = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nABCDEF"
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + chunked([p[0:4], p[4:8], p[8:12]]) + b"0\r\n\r\n"
                    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
                    b"Connection: close\r\n\r\nnot found\n")
        check(data == expected, "pipelined responses differ:\n%r\n%r" % (data, expected))
        check(elapsed >= 0.3, "pipelined batch finished in %.3f s: / did not wait" % elapsed)

        # Pipelined requests trickling in one byte at a time are parsed the same way.
        s = connect(srv.port)
        for b in b"GET /fixed?parts=1&size=2 HTTP/1.1\r\nHost: x\r\n\r\nGET /fixed?parts=1&size=3 HTTP/1.1\r\nHost: x\r\n\r\n":
            s.send(bytes([b]))
        r = Reader(s)
        check(r.response()[2] == b"AB", "first trickled response")
        check(r.response()[2] == b"ABC", "second trickled response")
        s.close()


def case_linger(args):
    """After an error response the example server drains the client for up to 2 s
    (docs/examples.md): an upload that goes on after a 413 must neither be reset nor cut
    the drain short."""
    with server(args) as srv:
        time.sleep(0.1)
        base = srv.fd_count()
        s = connect(srv.port)
        # Content-Length over the 1 MiB limit, and far more body bytes than one read round
        # takes, already in flight when the 413 goes out.
        s.sendall(b"POST /fixed HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"u" * 256 * 1024)
        block = b"v" * 128 * 1024
        sent = 256 * 1024
        got = b""
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 1.0:  # keeps uploading for a second, 50 ms apart
                s.sendall(block)
                sent += len(block)
                s.setblocking(False)
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
                time.sleep(0.05)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Failure("server reset an uploading client %.3f s after its 413 (%d bytes sent): %r"
                          % (time.monotonic() - t0, sent, e))
        check(srv.fd_count() == base + 1, "server closed the connection before the client's EOF")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        got += read_until_close(s, limit=5)
        expected = (b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n"
                    b"Connection: close\r\n\r\nrequest body too large\n")
        check(got == expected, "413 response damaged: %r" % got[:200])
        check(wait_for(lambda: srv.fd_count() == base, 1.0), "server did not close after the client's EOF")
        s.close()

        # A client that never ends its upload is closed when the linger time (2 s) is up.
        s = connect(srv.port)
        t0 = time.monotonic()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"w" * 100000)
        check(Reader(s).response()[0] == "HTTP/1.1 413 Content Too Large", "no 413")
        check(wait_for(lambda: srv.fd_count() == base + 1, 1.0), "connection gone before the linger time")
        check(not wait_for(lambda: srv.fd_count() == base, 1.2), "linger ended before 1.2 s of 2 s")
        check(wait_for(lambda: srv.fd_count() == base, 4.0), "linger not ended 5.2 s after the 413")
        waited = time.monotonic() - t0
        check(1.9 <= waited < 5.5, "linger lasted %.3f s, expected 2 s" % waited)
        s.close()
        check(srv.alive(), "server died")


def case_disconnect(args):
    with server(args, "--delay-ms", "5000") as srv:
        time.sleep(0.1)
        base = srv.fd_count()
        # A streaming client that reads a little and leaves.
        a = connect(srv.port)
        a.sendall(b"GET /stream?parts=100000&size=1000&interval-ms=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < 3000:
            chunk = a.recv(4096)
            check(chunk, "stream ended after %d bytes" % len(got))
            got += chunk
        # An idle deferred stream ("World" 5 s away) whose client leaves after the head.
        b = connect(srv.port)
        b.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"Hello, " not in first:
            chunk = b.recv(4096)
            check(chunk, "closed before 'Hello, ': %r" % first)
            first += chunk
        check(wait_for(lambda: srv.fd_count() == base + 2, 2), "server does not hold two streams")
        a.close()
        b.close()
        t0 = time.monotonic()
        check(wait_for(lambda: srv.fd_count() == base, 1.0),
              "server kept %d descriptors of departed clients" % (srv.fd_count() - base))
        check(time.monotonic() - t0 < 1.0, "departures noticed too late")
        # Others are served meanwhile and afterwards.
        body = curl(srv.url + "/fixed?parts=50&size=1000")
        check(body == pattern(50000), "server broken after a departure")
        c = connect(srv.port)
        c.sendall(b"GET /stream?parts=20000&size=1000&interval-ms=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.recv(1000)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # reset while the server is blocked on a full socket
        body = curl(srv.url + "/stream?parts=30&size=100&interval-ms=1")
        check(body == pattern(3000), "server broken after a reset")
        check(wait_for(lambda: srv.fd_count() == base, 1.0), "reset stream not released")
        check(srv.alive(), "server died")


def case_sigterm(args):
    srv = server(args, "--delay-ms", "30000")
    with srv:
        idle = connect(srv.port)
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        busy = connect(srv.port)
        busy.sendall(b"GET /stream?parts=1000000&size=1000&interval-ms=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"Hello, " not in got:
            chunk = idle.recv(4096)
            check(chunk, "closed before 'Hello, ': %r" % got)
            got += chunk
        check(busy.recv(1000), "no bytes of the busy stream")
        elapsed = srv.terminate(within=1.0)
        print("SIGTERM -> exit 0 in %.1f ms" % (elapsed * 1000))
        rest = read_until_close(idle, limit=2)
        check(b"World" not in rest and not rest.endswith(b"0\r\n\r\n"), "aborted stream looks complete: %r" % rest)
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
            raise Failure("server still accepts after SIGTERM")
        except ConnectionRefusedError:
            pass
    with server(args) as srv2:
        srv2.terminate(within=1.0, sig=signal.SIGINT)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}
assert sorted(CASES) == sorted(PORTABLE + EXAMPLE_SERVER)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", help="the server binary")
    ap.add_argument("--case", choices=sorted(CASES))
    ap.add_argument("--node-script", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_client.js"))
    ap.add_argument("--server-arg", action="append", default=[],
                    help="an extra argument for the server's command line (repeatable)")
    ap.add_argument("--list", action="store_true", help="print the cases with their group and exit")
    args = ap.parse_args()
    if args.list:
        for name in PORTABLE:
            print(name, "portable")
        for name in EXAMPLE_SERVER:
            print(name, "example-server")
        return 0
    if not args.server or not args.case:
        ap.error("--server and --case are required")
    return run_case(CASES, args, catch=(Failure, OSError, subprocess.TimeoutExpired))


if __name__ == "__main__":
    sys.exit(main())
