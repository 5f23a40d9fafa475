#!/usr/bin/env python3
"""End-to-end tests of examples/hello_h2 (HTTP/2 cleartext, prior knowledge) with curl
--http2-prior-knowledge, nghttp (nghttp2-client), Node's built-in http2 client and a raw
HTTP/2 client written here (frames built by hand, independent of nghttp2).

usage: hello_h2_test.py --server PATH --case NAME --node-script PATH
A missing curl, nghttp or node fails the test; it is never skipped.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, RillServer, case_main, check, connect, fnv1a64, pattern, tool, wait_for  # noqa: E402

class H2Server(RillServer):
    """hello_h2 with --log-streams 1: stdout carries one line per stream body that ends."""

    def __init__(self, path, *args):
        super().__init__(path, "--log-streams", "1", *args)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.log = b""

    def lines(self):
        try:
            while True:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.log += chunk
        except BlockingIOError:
            pass
        return self.log.decode().splitlines()

    def ends(self):
        """{(connection, stream): [reasons]} from the log."""
        out = {}
        for line in self.lines():
            m = re.match(r"stream (\d+)/(\d+): (.*)$", line)
            if m:
                out.setdefault((int(m.group(1)), int(m.group(2))), []).append(m.group(3))
        return out

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Failure("no VmRSS for the server")


def curl(*args):
    r = subprocess.run([tool("curl"), "-sS", "--http2-prior-knowledge", "--max-time", "15", *args],
                       capture_output=True, timeout=20)
    check(r.returncode == 0, "curl %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.decode()))
    return r.stdout


def node(script, *args, stdin=None):
    r = subprocess.run([tool("node"), script, *map(str, args)], capture_output=True, timeout=30, input=stdin)
    out = r.stdout.decode().strip().splitlines()
    check(r.returncode == 0 and out, "node %s failed (%d): %s %s" % (args, r.returncode, r.stdout, r.stderr))
    return json.loads(out[-1])


def nghttp(*args):
    r = subprocess.run([tool("nghttp"), "-v", "-n", "-t", "15", *args], capture_output=True, timeout=20)
    check(r.returncode == 0, "nghttp %s failed (%d): %s" % (args, r.returncode, r.stderr.decode()))
    return r.stdout.decode("latin-1")


def frames(verbose, kind, stream=None):
    """[(time, length, flags)] of the received frames of one type in nghttp -v output."""
    out = []
    for m in re.finditer(r"\[\s*([\d.]+)\] recv %s frame <length=(\d+), flags=0x([0-9a-f]+), stream_id=(\d+)>"
                         % kind, verbose):
        if stream is None or int(m.group(4)) == stream:
            out.append((float(m.group(1)), int(m.group(2)), int(m.group(3), 16)))
    return out


# ---- a raw HTTP/2 client: frames and HPACK literals built here ---------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    # Literal header field without indexing, new name, no Huffman (RFC 7541 section 6.2.2).
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def raw_request(sock, stream, path, window=None):
    """Sends the preface (first stream only), SETTINGS and one GET."""
    out = b""
    if stream == 1:
        settings = b""
        if window is not None:
            settings = struct.pack(">HI", 4, window)  # SETTINGS_INITIAL_WINDOW_SIZE
        out += PREFACE + frame(4, 0, 0, settings)
        if window is not None and window > 65535:
            out += frame(8, 0, 0, struct.pack(">I", window - 65535))  # the connection's window
    block = b"".join(hpack_literal(n, v) for n, v in [
        (b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"), (b":path", path)])
    out += frame(1, 0x05, stream, block)  # END_STREAM | END_HEADERS
    sock.sendall(out)


def read_frames(sock, want_bytes, timeout=5):
    """Reads frames until `want_bytes` DATA payload bytes arrived; returns the frame list."""
    buf = b""
    got = 0
    out = []
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while got < want_bytes and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            ftype, flags, sid = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            out.append((ftype, flags, sid, buf[9:9 + length]))
            if ftype == 0:
                got += length
            buf = buf[9 + length:]
    return out


# ---- cases ---------------------------------------------------------------------------------

def case_curl_routes(args):
    with H2Server(args.server, "--delay-ms", "300") as srv:
        t0 = time.monotonic()
        check(curl(srv.url + "/") == b"Hello, World", "/ body")
        took = time.monotonic() - t0
        check(0.28 <= took < 2.0, "/ took %.3f s with --delay-ms 300" % took)
        raw = curl("-i", srv.url + "/stream?parts=7&size=1000")
        head, _, body = raw.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/2 200"), "not an HTTP/2 200: %r" % head[:40])
        check(b"transfer-encoding" not in head.lower(), "HTTP/2 response with Transfer-Encoding: %r" % head)
        check(body == pattern(7000), "/stream body (%d bytes)" % len(body))
        raw = curl("-i", srv.url + "/fixed?parts=3&size=10")
        head, _, body = raw.partition(b"\r\n\r\n")
        check(b"content-length: 30" in head, "/fixed without its content-length: %r" % head)
        check(body == pattern(30), "/fixed body %r" % body)
        raw = curl("-I", srv.url + "/fixed?parts=3&size=10")
        check(raw.startswith(b"HTTP/2 200") and raw.endswith(b"\r\n\r\n"), "HEAD /fixed: %r" % raw)
        check(b"content-length: 30" in raw, "HEAD /fixed keeps the GET's content-length: %r" % raw)
        raw = curl("-i", srv.url + "/nowhere")
        check(raw.startswith(b"HTTP/2 404") and raw.endswith(b"\r\n\r\nnot found\n"), "404: %r" % raw)
        raw = curl("-i", "-X", "POST", srv.url + "/stream")
        check(raw.startswith(b"HTTP/2 405") and b"allow: GET, HEAD" in raw, "405: %r" % raw)
        raw = curl("-i", srv.url + "/stream?parts=x")
        check(raw.startswith(b"HTTP/2 400"), "400: %r" % raw[:60])
        body = curl(srv.url + "/trailers?parts=5&size=100")
        check(body == pattern(500), "/trailers body")


def case_nghttp_frames(args):
    with H2Server(args.server, "--delay-ms", "500") as srv:
        # The seed: "Hello, " at once, "World" after the delay, END_STREAM with it.
        v = nghttp(srv.url + "/")
        data = frames(v, "DATA", 13)
        check(len(data) >= 2, "/: fewer than two DATA frames:\n" + v)
        payload = [d for d in data if d[1] > 0]
        check([d[1] for d in payload] == [7, 5], "/: DATA lengths %r, expected 7 then 5" % payload)
        hello_t, world_t = payload[0][0], payload[1][0]
        check(hello_t < 0.25, "\"Hello, \" came after %.3f s" % hello_t)
        check(0.45 <= world_t - hello_t < 2.0, "\"World\" came %.3f s after \"Hello, \"" % (world_t - hello_t))
        check(data[-1][2] & 0x1, "/: the last DATA frame has no END_STREAM: %r" % data)
        # Trailers: a HEADERS frame with END_STREAM after the DATA, carrying x-checksum.
        v = nghttp(srv.url + "/trailers?parts=3&size=1000")
        m = re.search(r"recv \(stream_id=13\) x-checksum: ([0-9a-f]{16})", v)
        check(m is not None, "no x-checksum trailer:\n" + v)
        check(m.group(1) == fnv1a64(pattern(3000)), "x-checksum %s, expected %s" % (m.group(1), fnv1a64(pattern(3000))))
        data = frames(v, "DATA", 13)
        check(sum(d[1] for d in data) == 3000 and not any(d[2] & 0x1 for d in data),
              "trailers: DATA frames %r (3000 bytes, none ending the stream)" % data)
        heads = frames(v, "HEADERS", 13)
        check(len(heads) == 2 and heads[-1][2] & 0x1, "trailers: HEADERS frames %r" % heads)
        # HEAD: HEADERS with END_STREAM, no DATA at all.
        for path in ["/", "/fixed?parts=2&size=10", "/stream", "/nowhere"]:
            v = nghttp("-H", ":method: HEAD", srv.url + path)
            check(frames(v, "DATA") == [], "HEAD %s sent DATA:\n%s" % (path, v))
            heads = frames(v, "HEADERS", 13)
            check(len(heads) == 1 and heads[0][2] & 0x1, "HEAD %s: HEADERS %r" % (path, heads))
        # Many streams on one connection (nghttp -m): every body exact.
        v = nghttp("-m", "20", srv.url + "/fixed?parts=4&size=500")
        data = frames(v, "DATA")
        check(sum(d[1] for d in data) == 20 * 2000, "-m 20: %d DATA bytes" % sum(d[1] for d in data))
        ends = srv.ends()
        check(all(r == ["completed"] for r in ends.values()), "stream ends %r" % ends)


def case_node_routes(args):
    with H2Server(args.server, "--delay-ms", "200") as srv:
        r = node(args.node_script, "get", srv.port, "/trailers?parts=4&size=333")
        check(r["status"] == 200 and r["body"] == pattern(1332).decode(), "node /trailers body: %r" % r)
        check(r["trailers"] == {"x-checksum": fnv1a64(pattern(1332))}, "node trailers %r" % r["trailers"])
        r = node(args.node_script, "get", srv.port, "/")
        check(r["body"] == "Hello, World" and r["t_first"] < 150 and r["t_end"] >= 190,
              "node /: %r" % r)
        r = node(args.node_script, "get", srv.port, "/fixed?parts=2&size=8", "HEAD")
        check(r["status"] == 200 and r["body"] == "" and r["headers"].get("content-length") == "16", "HEAD %r" % r)
        r = node(args.node_script, "get", srv.port, "/x")
        check(r["status"] == 404 and r["body"] == "not found\n", "404 %r" % r)
        r = node(args.node_script, "get", srv.port, "/", "DELETE")
        check(r["status"] == 405 and r["headers"].get("allow") == "GET, HEAD", "405 %r" % r)


def case_reset(args):
    with H2Server(args.server) as srv:
        r = node(args.node_script, "reset", srv.port)
        res = r["results"]
        full = pattern(100000).decode()
        for i, s in enumerate(res):
            if i == 1:
                check(s["reset_sent"] > 0 and s["len"] < 100000, "the reset stream read to the end: %r" % s)
                check(full.startswith(s["body"]), "the reset stream's bytes are not the pattern")
            else:
                check(s["status"] == 200 and s["body"] == full, "stream %d: %d bytes, rst %r" % (i, s["len"], s["rst"]))
        check(r["after"] == {"status": 200, "body": pattern(10).decode()}, "after the reset: %r" % r["after"])
        ok = wait_for(lambda: len(srv.ends()) == 5, 3)
        ends = srv.ends()
        check(ok, "stream ends logged: %r" % ends)
        reasons = sorted(v[0] for v in ends.values())
        check(all(len(v) == 1 for v in ends.values()), "a body ended twice: %r" % ends)
        check(reasons == ["completed"] * 4 + ["peer closed"], "stream ends %r" % ends)
        check(ends[(1, 3)] == ["peer closed"], "the reset stream (3) ended as %r" % ends.get((1, 3)))


def case_concurrent(args):
    with H2Server(args.server, "--delay-ms", "1000") as srv:
        r = node(args.node_script, "concurrent", srv.port, 100)
        print("100 deferred / on one connection: %d ms (first bytes within %d ms)" % (r["elapsed_ms"], r["max_first_ms"]))
        check(r["n"] == 100 and r["bad"] == 0, "bodies: %r" % r)
        check(r["min_end_ms"] >= 990, "a stream ended before the delay: %r" % r)
        check(r["elapsed_ms"] < 1500, "100 streams took %d ms (goal < 1500)" % r["elapsed_ms"])
        check(r["max_first_ms"] < 900, "\"Hello, \" came late on some stream: %r" % r)
        conns = {k[0] for k in srv.ends()}
        check(len(conns) == 1, "the 100 streams were not on one connection: %r" % conns)


def case_peer_gone(args):
    with H2Server(args.server) as srv:
        # GOAWAY with an error from the client, then a dropped connection (Node).
        for conn, mode in [(1, "goaway"), (2, "drop")]:
            node(args.node_script, mode, srv.port)
            ok = wait_for(lambda: len([k for k in srv.ends() if k[0] == conn]) == 3, 3)
            ends = {k: v for k, v in srv.ends().items() if k[0] == conn}
            check(ok and all(v == ["peer closed"] for v in ends.values()), "%s: stream ends %r" % (mode, ends))
        # A raw client that vanishes without a GOAWAY, mid-body.
        s = connect(srv.port)
        raw_request(s, 1, b"/stream?parts=1000&size=100&interval-ms=10")
        raw_request(s, 3, b"/")
        got = read_frames(s, 1000)
        check(any(f[0] == 0 and f[2] == 1 for f in got), "the raw client got no DATA")
        s.close()
        ok = wait_for(lambda: len([k for k in srv.ends() if k[0] == 3]) == 2, 3)
        ends = {k: v for k, v in srv.ends().items() if k[0] == 3}
        check(ok and ends == {(3, 1): ["peer closed"], (3, 3): ["peer closed"]}, "drop: stream ends %r" % ends)
        # The server goes on serving.
        check(curl(srv.url + "/fixed?parts=1&size=5") == pattern(5), "served after the drops")
        check(wait_for(lambda: srv.fd_count() <= 6, 3), "descriptors left open: %d" % srv.fd_count())


def case_flow_control(args):
    total = 4096 * 16384  # 64 MiB: far more than any window or socket buffer
    path = "/stream?parts=4096&size=16384"
    # Growth allowed while a reader stalls. Live memory stays near the body's high-water
    # mark; the rest is allocator slack (a sanitizer's quarantine keeps what the first
    # megabytes churned). A server that buffered the body would grow by 64 MiB.
    limit_kib = 24 * 1024

    def stalled(what):
        """RSS growth over the 0.3 s..1.3 s of a stall must be flat; returns the growth then."""
        time.sleep(0.3)
        early = srv.rss_kib()
        time.sleep(1.0)
        late = srv.rss_kib()
        print("%s: server RSS %+d KiB over the stall, %+d KiB in its last second" % (what, late - base, late - early))
        check(late - base < limit_kib, "%s grew the server by %d KiB" % (what, late - base))
        check(late - early < 2048, "%s: the server still grew by %d KiB in the last second" % (what, late - early))

    with H2Server(args.server) as srv:
        check(curl(srv.url + "/stream?parts=4&size=16384") == pattern(65536), "warm-up")
        # 1. Node pauses the stream: HTTP/2 flow control stops the server.
        base = srv.rss_kib()
        p = subprocess.Popen([tool("node"), args.node_script, "pause", str(srv.port), path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = p.stdout.readline().decode()
        check(line.startswith("paused"), "node: %r" % line)
        stalled("a paused HTTP/2 reader")
        p.stdin.write(b"resume\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=30)
        r = json.loads(out.decode().strip().splitlines()[-1])
        check(r.get("total") == total and r.get("status") == 200, "node after resume: %r" % r)
        # 2. A raw client opens every window wide and stops reading the socket: the session's
        #    output window and the body's watermarks hold the server.
        base = srv.rss_kib()
        s = connect(srv.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        raw_request(s, 1, path.encode(), window=2 ** 31 - 1)
        stalled("a reader that stops reading the socket")
        got = read_frames(s, 1 << 20)
        check(sum(len(f[3]) for f in got if f[0] == 0 and f[2] == 1) >= 1 << 20, "the stream did not go on")
        s.close()
        check(wait_for(lambda: any(k[0] == 3 for k in srv.ends()), 3), "the raw stream's end was not logged")


def case_sigterm(args):
    srv = H2Server(args.server)
    try:
        s = connect(srv.port)
        raw_request(s, 1, b"/stream?parts=1000&size=100&interval-ms=10")
        got = read_frames(s, 200)
        check(any(f[0] == 0 for f in got), "no DATA before SIGTERM")
        took = srv.terminate(1.0)
        print("SIGTERM with an open stream: exit 0 after %.3f s" % took)
        ends = srv.ends()
        check(ends == {(1, 1): ["shutdown"]}, "stream ends at shutdown: %r" % ends)
        s.close()
    finally:
        srv._kill()


def case_cli(args):
    # hello_deferred's command line: --help, usage errors, the listening line, --port 0.
    r = subprocess.run([args.server, "--help"], capture_output=True, timeout=10)
    check(r.returncode == 0 and b"--delay-ms" in r.stdout and b"--port" in r.stdout, "--help: %r" % (r,))
    for bad in (["--port", "x"], ["--delay-ms", "-1"], ["--bogus", "1"], ["--port"], ["--log-streams", "2"]):
        try:
            r = subprocess.run([args.server, "--port", "0", *bad], capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise Failure("%s was taken: the server started instead of exiting 2" % bad)
        check(r.returncode == 2 and r.stderr, "%s: exit %d, stderr %r" % (bad, r.returncode, r.stderr))
    with H2Server(args.server) as a, H2Server(args.server) as b:
        check(a.port != b.port, "--port 0 gave two servers the same port")


CASES = {
    "cli": case_cli,
    "curl_routes": case_curl_routes,
    "nghttp_frames": case_nghttp_frames,
    "node_routes": case_node_routes,
    "reset": case_reset,
    "concurrent": case_concurrent,
    "peer_gone": case_peer_gone,
    "flow_control": case_flow_control,
    "sigterm": case_sigterm,
}


if __name__ == "__main__":
    sys.exit(case_main(CASES, lambda ap: ap.add_argument("--node-script", required=True)))
