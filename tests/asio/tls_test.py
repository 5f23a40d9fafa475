#!/usr/bin/env python3
"""rill/asio.hpp's completion sink over TLS (asio::ssl::stream), end to end.

usage: tls_test.py --server PATH --case streams|disconnect|stall
A self-signed certificate is made for each run with the `openssl` command; the client
is Python's ssl module (and curl -k). A missing openssl or curl fails the test.
"""
import argparse
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, check, tool, wait_for  # noqa: E402

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def pattern(n):
    return (ALPHABET * (n // len(ALPHABET) + 1))[:n]


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


class TlsServer:
    def __init__(self, path, workdir, *args):
        cert = os.path.join(workdir, "cert.pem")
        key = os.path.join(workdir, "key.pem")
        r = subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True, timeout=30)
        check(r.returncode == 0, "openssl could not make a certificate: %s" % r.stderr.decode())
        self.proc = subprocess.Popen([path, "--port", "0", "--cert", cert, "--key", key, *args],
                                     stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        check(ready, "tls_server printed nothing within 10 s")
        line = self.proc.stdout.readline().decode()
        check(line.startswith("listening on https://127.0.0.1:"), "unexpected first line %r" % line)
        self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("tls_server ignored SIGTERM for 2 s")
        check(self.proc.returncode == 0, "tls_server exit code %d" % self.proc.returncode)


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


class Reader:
    """HTTP/1.1 responses one after another from one (TLS) socket; `pause` slows it down."""

    def __init__(self, sock, pause=0.0):
        self.s = sock
        self.buf = b""
        self.pause = pause

    def _fill(self):
        chunk = self.s.recv(4096 if self.pause else 65536)
        check(chunk, "connection closed in the middle of a response")
        self.buf += chunk
        if self.pause:
            time.sleep(self.pause)

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        status = self._line().decode()
        headers = {}
        while True:
            line = self._line().decode("latin1")
            if not line:
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        body, trailers = b"", {}
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(self._line(), 16)
                if size == 0:
                    while True:
                        line = self._line().decode("latin1")
                        if not line:
                            break
                        k, _, v = line.partition(":")
                        trailers[k.strip().lower()] = v.strip()
                    break
                body += self._take(size)
                check(self._take(2) == b"\r\n", "chunk not followed by CRLF")
        return status, headers, body, trailers


def get(sock, path, extra=b""):
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")


def case_streams(args, workdir):
    srv = TlsServer(args.server, workdir, "--delay-ms", "150")
    try:
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
    finally:
        srv.stop()


def case_disconnect(args, workdir):
    srv = TlsServer(args.server, workdir, "--delay-ms", "5000")
    try:
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
    finally:
        srv.stop()


def case_stall(args, workdir):
    srv = TlsServer(args.server, workdir, "--stall-timeout-ms", "400")
    try:
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
    finally:
        srv.stop()


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    args = ap.parse_args()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            CASES[args.case](args, workdir)
    except Failure as e:
        print("FAIL [%s]: %s" % (args.case, e), file=sys.stderr)
        return 1
    print("ok [%s]" % args.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
