#!/usr/bin/env python3
"""rill/asio.hpp's completion sink over TLS (asio::ssl::stream), end to end.

usage: tls_test.py --server PATH --case streams|disconnect|stall
A self-signed certificate is made for each run with the `openssl` command; the client
is Python's ssl module (and curl -k). A missing openssl or curl fails the test.
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, Reader, RillServer, case_main, check, fnv1a64, pattern, tool, wait_for  # noqa: E402


class TlsServer(RillServer):
    """tls_server with a fresh self-signed certificate (removed when the server stops)."""

    def __init__(self, path, *args):
        self.workdir = tempfile.TemporaryDirectory()
        cert = os.path.join(self.workdir.name, "cert.pem")
        key = os.path.join(self.workdir.name, "key.pem")
        r = subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True, timeout=30)
        check(r.returncode == 0, "openssl could not make a certificate: %s" % r.stderr.decode())
        super().__init__(path, "--cert", cert, "--key", key, *args, scheme="https")

    def stop(self, expect=0, within=2):
        try:
            return super().stop(expect, within)
        finally:
            self.workdir.cleanup()


def tls_connect(port, rcvbuf=0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def get(sock, path, extra=b""):
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")


def case_streams(args):
    with TlsServer(args.server, "--delay-ms", "150") as srv:
        s = tls_connect(srv.port)
        r = Reader(s)
        # A large deferred stream, byte-exact (16 KiB parts, several TLS records each write).
        get(s, "/stream?parts=300&size=16384")
        status, h, body, _ = r.response()
        check(status == "HTTP/1.1 200 OK" and h.get("transfer-encoding") == "chunked", (status, h))
        check(body == pattern(300 * 16384), "/stream body differs over TLS (%d bytes)" % len(body))
        # The same connection goes on (keep-alive after the last completion).
        get(s, "/trailers?parts=7&size=1000")
        status, h, body, trailers = r.response()
        check(body == pattern(7000), "/trailers body differs")
        check(trailers.get("x-checksum") == fnv1a64(pattern(7000)), trailers)
        get(s, "/fixed?parts=3&size=5")
        status, h, body, _ = r.response()
        check(h.get("content-length") == "15" and body == pattern(15), (h, body))
        t0 = time.monotonic()
        get(s, "/")
        status, h, body, _ = r.response()
        check(body == b"Hello, World", body)
        check(time.monotonic() - t0 >= 0.14, "/ did not wait for World")
        s.close()

        # A slow reader with a small window: writes complete partially and late.
        s = tls_connect(srv.port, rcvbuf=4096)
        get(s, "/stream?parts=40&size=16384&interval-ms=0", b"Connection: close\r\n")
        status, h, body, _ = Reader(s, pause=0.002).response()
        check(body == pattern(40 * 16384), "slow reader's body differs over TLS")
        s.close()

        # HTTP/1.0: close-delimited, ended by close_notify and the close.
        s = tls_connect(srv.port)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                raise Failure("HTTP/1.0 response over TLS ended without close_notify")
            if not chunk:
                break
            data += chunk
        check(data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nHello, World"), data)
        s.close()

        # curl, another TLS stack.
        out = subprocess.run([tool("curl"), "-sS", "-k", "--max-time", "15",
                              "https://127.0.0.1:%d/fixed?parts=200&size=1000" % srv.port],
                             capture_output=True, timeout=20)
        check(out.returncode == 0, "curl -k failed: %s" % out.stderr.decode())
        check(out.stdout == pattern(200000), "curl's body differs (%d bytes)" % len(out.stdout))


def case_disconnect(args):
    with TlsServer(args.server, "--delay-ms", "5000") as srv:
        time.sleep(0.1)
        base = srv.fd_count()
        a = tls_connect(srv.port)
        get(a, "/stream?parts=1000000&size=16384")
        got = b""
        while len(got) < 100000:
            got += a.recv(65536)
        b = tls_connect(srv.port)
        get(b, "/")
        first = b""
        while b"Hello, " not in first:
            first += b.recv(4096)
        check(wait_for(lambda: srv.fd_count() == base + 2, 2), "server does not hold two streams")
        a.close()
        b.close()
        check(wait_for(lambda: srv.fd_count() == base, 1.0),
              "server kept %d descriptors of departed TLS clients" % (srv.fd_count() - base))
        s = tls_connect(srv.port)
        get(s, "/fixed?parts=10&size=100")
        check(Reader(s).response()[2] == pattern(1000), "server broken after departures")
        s.close()


def case_stall(args):
    with TlsServer(args.server, "--stall-timeout-ms", "400") as srv:
        time.sleep(0.1)
        base = srv.fd_count()
        s = tls_connect(srv.port, rcvbuf=4096)
        t0 = time.monotonic()
        get(s, "/stream?parts=1000000&size=16384")
        check(wait_for(lambda: srv.fd_count() == base + 1, 2), "server does not hold the stream")
        check(wait_for(lambda: srv.fd_count() == base, 3), "a TLS client that stopped reading was not cut")
        waited = time.monotonic() - t0
        check(waited >= 0.35, "cut after %.3f s, the stall timeout is 0.4 s" % waited)
        print("stalled TLS client cut after %.3f s (stall timeout 0.4 s)" % waited)
        s.close()


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


if __name__ == "__main__":
    sys.exit(case_main(CASES))
