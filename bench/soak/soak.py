#!/usr/bin/env python3
"""Soak and churn client for examples/hello_deferred (issue 8; figures in docs/reliability.md).

usage: soak.py --port N --server-pid PID [--seconds 600] [--connections 60000] [--seed 8]
               [--concurrency 48] [--warmup-seconds S] [--delay-ms 100] [--idle-timeout-ms 2000]

Opens --connections connections over --seconds (paced; bounded in count and time),
loopback only, each one a client of one kind, chosen with a seeded generator:

  normal      keep-alive requests on /, /stream, /fixed, /trailers (and 404/405/400),
              every byte of every body checked against the pattern, every X-Checksum trailer
              checked against an FNV-1a computed here, heads checked field by field
  pipeline    2-8 requests in one write, responses checked in order
  leaver      asks for a long stream, reads part of it (checked) and closes
  half_close  sends its requests, shuts down its write side, reads to EOF: what arrives
              must be a correct prefix (the server may stop a stream when it sees the FIN)
  reset       SO_LINGER 0 resets: before the head is complete, right after it, mid-stream,
              after the first of several pipelined responses
  slow_reader 4 KiB receive buffer, reads 1 byte a second for a few seconds (or nothing),
              then reads the rest (checked) or leaves; at most 4 at a time
  late_reader asks for 2-8 MiB with a small receive buffer and starts reading up to 0.5 s
              later (the last parts go out from on_drain); at most 8 at a time
  garbage     random bytes that cannot start a request line (400 and a close)
  oversized   heads over 8 KiB or over 64 fields (431), bodies over 1 MiB still uploading
              when the 413 comes (413 intact, no reset)
  smuggle     duplicate/conflicting Content-Length, TE+CL, bare LF/CR, obs-fold, ... each with
              a second request behind it: one refusal (400, or the status the docs give), a
              close, and nothing else
  slowloris   a head a byte at a time: never finished (closed at the idle timeout, no
              response), or finished in time (full response); at most 6 at a time

The expected responses come from docs/examples.md, not from the server's code.
Before the run, after a warm-up (connections drained) and at the end (drained) it reads
the server's open descriptors (/proc/PID/fd) and VmRSS. It fails (exit 1) on any
verification failure, on a server that stops answering, on descriptors not back to the
baseline or on RSS more than 10% above its post-warm-up level.
"""
import argparse
import array
import asyncio
import os
import random
import socket
import struct
import sys
import time

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
CHECK_WINDOW = 1 << 20
PATTERN = ALPHABET * ((CHECK_WINDOW + 2 * len(ALPHABET)) // len(ALPHABET))
TRAILER_MAX = 1 << 20  # largest /trailers body asked for (the checksum table grows to it)
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

ERROR_TEXT = {  # docs/examples.md: protocol errors are answered with Connection: close
    400: (b"Bad Request", b"malformed request\n"),
    413: (b"Content Too Large", b"request body too large\n"),
    431: (b"Request Header Fields Too Large", b"request head too large\n"),
    501: (b"Not Implemented", b"chunked request bodies are not supported\n"),
    505: (b"HTTP Version Not Supported", b"only HTTP/1.0 and HTTP/1.1\n"),
}
QUERY_ERROR = b"query: parts<=1000000, size<=1048576, interval-ms<=60000, decimal, each once\n"


class Failure(Exception):
    """The server did something the docs do not allow."""


class Cut(Exception):
    """The response ended early (EOF or reset): a failure unless the client provoked it."""


def fnv1a64(data, h=FNV_OFFSET):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


class PrefixHashes:
    """FNV-1a of the first n pattern bytes for every n <= TRAILER_MAX, computed once at the
    start (a few seconds): a body checked byte for byte against the pattern has exactly
    that hash."""

    def __init__(self):
        self.table = None

    def build(self):
        t = array.array("Q", bytes(8 * (TRAILER_MAX + 1)))
        h = t[0] = FNV_OFFSET
        a, m = ALPHABET, len(ALPHABET)
        for k in range(TRAILER_MAX):
            h = ((h ^ a[k % m]) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            t[k + 1] = h
        self.table = t

    def of(self, n):
        if n > TRAILER_MAX:
            raise RuntimeError("a /trailers body of %d bytes: the soak asks for at most %d" % (n, TRAILER_MAX))
        return self.table[n]


HASHES = PrefixHashes()


class PatternCheck:
    """Checks a body, fed piecewise, against body byte k = ALPHABET[k % 62]."""

    __slots__ = ("offset",)

    def __init__(self):
        self.offset = 0

    def feed(self, data):
        i, n = 0, len(data)
        while i < n:
            k = min(n - i, CHECK_WINDOW)
            start = (self.offset + i) % len(ALPHABET)
            if data[i:i + k] != PATTERN[start:start + k]:
                for j in range(k):
                    if data[i + j] != PATTERN[start + j]:
                        raise Failure("body byte %d is %r, expected %r"
                                      % (self.offset + i + j, bytes(data[i + j:i + j + 1]),
                                         bytes(PATTERN[start + j:start + j + 1])))
            i += k
        self.offset += n


class BytesCheck:
    __slots__ = ("expected", "offset")

    def __init__(self, expected):
        self.expected = expected
        self.offset = 0

    def feed(self, data):
        end = self.offset + len(data)
        if end > len(self.expected) or bytes(data) != self.expected[self.offset:end]:
            raise Failure("body %r... differs from %r" % (bytes(data[:60]), self.expected[:60]))
        self.offset = end


class Stats:
    FIELDS = ("connections", "requests", "verified", "faults", "cut", "bytes", "trailers", "failures")

    def __init__(self):
        for f in self.FIELDS:
            setattr(self, f, 0)


class Run:
    def __init__(self, args):
        self.args = args
        self.stats = {}
        self.failures = []  # (kind, detail)
        self.addr = ("127.0.0.1", args.port)

    def st(self, kind):
        if kind not in self.stats:
            self.stats[kind] = Stats()
        return self.stats[kind]

    def fail(self, kind, detail):
        self.st(kind).failures += 1
        if len(self.failures) < 50:
            self.failures.append((kind, detail))
        print("FAILURE [%s] %s" % (kind, detail), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- connections


class Conn:
    """A non-blocking client socket with a read buffer, driven by the asyncio loop."""

    def __init__(self, sock, stats):
        self.s = sock
        self.buf = bytearray()
        self.eof = False
        self.stats = stats
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, addr, stats, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.get_running_loop().sock_connect(s, addr)
        except BaseException:
            s.close()
            raise
        return cls(s, stats)

    async def send(self, data):
        await self.loop.sock_sendall(self.s, data)

    async def fill(self, size=262144):
        if self.eof:
            return False
        try:
            data = await self.loop.sock_recv(self.s, size)
        except ConnectionResetError:
            raise Cut("connection reset by the server")
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def line(self, what):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                if b"\n" in line or b"\r" in line:
                    raise Failure("bare CR or LF in %s %r" % (what, line[:80]))
                return line
            if len(self.buf) > 16384:
                raise Failure("%s longer than 16 KiB" % what)
            if not await self.fill():
                raise Cut("EOF inside %s (%d bytes: %r)" % (what, len(self.buf), bytes(self.buf[:60])))

    async def body(self, n, check):
        while n > 0:
            if not self.buf and not await self.fill():
                raise Cut("EOF with %d body bytes missing" % n)
            k = min(n, len(self.buf))
            if k == len(self.buf):
                check.feed(self.buf)
                self.buf = bytearray()
            else:
                # bytearray against bytes compares with memcmp; a memoryview would go byte by byte
                check.feed(self.buf[:k])
                del self.buf[:k]
            n -= k
            self.stats.bytes += k

    async def until_eof(self, check):
        while True:
            if self.buf:
                check.feed(self.buf)
                self.stats.bytes += len(self.buf)
                self.buf = bytearray()
            if not await self.fill():
                return

    async def expect_eof(self, what):
        """Nothing more may arrive: the server closes after this point."""
        if self.buf or await self.fill():
            raise Failure("bytes after %s: %r" % (what, bytes(self.buf[:80])))
        if not self.eof:
            raise Failure("no EOF after %s" % what)

    def close(self):
        self.s.close()

    def reset(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()


# --------------------------------------------------------------------------- expectations


class Expect:
    """One request and the response docs/examples.md promises for it."""

    __slots__ = ("raw", "method", "status", "reason", "headers", "optional", "body", "framing",
                 "trailer", "keep", "label")

    def __init__(self):
        self.headers = {}
        self.optional = {}
        self.trailer = False
        self.body = None  # ("pattern", n) or ("bytes", b"...")


def pick(rng, table):
    r = rng.random() * sum(w for w, _ in table)
    for w, v in table:
        r -= w
        if r < 0:
            return v
    return table[-1][1]


SIZES = [(6, 1), (6, 3), (4, 0), (8, 61), (8, 62), (8, 63), (10, 100), (10, 1000), (6, 4096),
         (5, 16384), (3, 65536), (2, 262144), (1, 1048576)]
PARTS = [(3, 0), (10, 1), (8, 2), (8, 3), (6, 5), (6, 10), (4, 50), (3, 200), (2, 1000), (1, 8)]


def query_for(rng, max_body, max_ms=100):
    size = pick(rng, SIZES)
    parts = pick(rng, PARTS)
    if size * parts > max_body:
        parts = max(1, max_body // max(size, 1))
    interval = 0
    if parts and rng.random() < 0.15:
        interval = rng.choice([1, 2, 5, 10])
        parts = min(parts, max(1, max_ms // interval))
    q = []
    keys = [("parts", parts), ("size", size), ("interval-ms", interval)]
    rng.shuffle(keys)
    for k, v in keys:  # absent keys take the defaults (parts 10, size 64, interval 0)
        if v != {"parts": 10, "size": 64, "interval-ms": 0}[k] or rng.random() < 0.7:
            q.append("%s=%d" % (k, v))
    return parts, size, interval, "&".join(q)


def make_request(rng, version=1, close=False, keepalive10=False, max_body=2 << 20, head_ok=True,
                 hello_ok=True):
    """A request of the normal mix and its expected response."""
    e = Expect()
    method = "HEAD" if head_ok and rng.random() < 0.06 else "GET"
    r = rng.random()
    extra = ""
    req_body = b""
    if r < (0.10 if hello_ok else 0):
        target, kind = "/", "hello"
    elif r < 0.35:
        kind = "stream"
    elif r < 0.62:
        kind = "fixed"
    elif r < 0.86:
        kind = "trailers"
    elif r < 0.91:
        kind = "404"
        target = rng.choice(["/nope", "/stream/x", "/fixedd", "/a?b=c", "/%2e%2e/etc", "/" + "x" * rng.randint(1, 3000)])
    elif r < 0.96:
        kind = "405"
        method = rng.choice(["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
        target = rng.choice(["/", "/stream", "/fixed?parts=1", "/trailers"])
        if rng.random() < 0.6:  # a small body, read and dropped; it may look like a request
            req_body = rng.choice([b"x" * rng.randint(0, 5000),
                                   b"GET /fixed?parts=1&size=1 HTTP/1.1\r\nHost: x\r\n\r\n"])
            extra += "Content-Length: %d\r\n" % len(req_body)
    else:
        kind = "400q"
        target = rng.choice(["/stream?parts=1000001", "/fixed?size=1048577", "/trailers?interval-ms=60001",
                             "/fixed?parts=-1", "/stream?parts=1&parts=2", "/fixed?bogus=1", "/fixed?parts=",
                             "/stream?parts=1e3", "/?a=1", "/fixed?size=00000001"])
    if kind in ("stream", "fixed", "trailers"):
        limit = TRAILER_MAX if kind == "trailers" else max_body
        parts, size, interval, q = query_for(rng, limit)
        target = "/" + kind + ("?" + q if q or rng.random() < 0.5 else "")
        if not q and target.endswith("?"):
            pass
        n = parts * size
    host = "" if version == 0 else "Host: %s\r\n" % rng.choice(["x", "127.0.0.1", "localhost:8080", "soak"])
    conn_hdr = ""
    if close:
        conn_hdr = "Connection: close\r\n"
    elif version == 0 and keepalive10:
        conn_hdr = "Connection: keep-alive\r\n"
    noise = ""
    if rng.random() < 0.2:
        noise = rng.choice(["User-Agent: soak/1\r\n", "Accept: */*\r\nX-Pad: " + "p" * rng.randint(0, 4000) + "\r\n",
                            "X-Empty:\r\n", "x-tab:\tv\t\r\n", "Connection: x-foo\r\n"])
    e.raw = ("%s %s HTTP/1.%d\r\n%s%s%s%s\r\n" % (method, target, version, host, noise, conn_hdr, extra)).encode() + req_body
    e.method = method
    e.label = "%s %s HTTP/1.%d%s" % (method, target[:80], version, " close" if close else "")
    ct = {"content-type": "text/plain"}

    if kind == "404":
        e.status, text = 404, b"not found\n"
    elif kind == "405":
        e.status, text = 405, b"method not allowed\n"
    elif kind == "400q":
        e.status, text = 400, b"/ takes no query\n" if target.startswith("/?") else QUERY_ERROR
    else:
        e.status, text = 200, None
    e.reason = {200: b"OK", 404: b"Not Found", 405: b"Method Not Allowed", 400: b"Bad Request"}[e.status]
    e.headers = dict(ct)
    if kind == "405":
        e.headers["allow"] = "GET, HEAD"
    if text is not None or kind == "fixed":
        length = len(text) if text is not None else n
        e.headers["content-length"] = str(length)
        e.framing = "length"
        e.body = ("bytes", text) if text is not None else ("pattern", n)
    else:
        e.framing = "chunked" if version == 1 else "close"
        if version == 1:
            e.headers["transfer-encoding"] = "chunked"
        e.body = ("bytes", b"Hello, World") if kind == "hello" else ("pattern", n)
        if kind == "trailers":
            e.headers["trailer"] = "X-Checksum"
            e.trailer = version == 1
    # No body follows a HEAD response, so its framing cannot force a close.
    delimited = e.framing == "length" or method == "HEAD"
    persistent = (version == 1 and not close) or (version == 0 and keepalive10 and delimited)
    if version == 0:
        e.headers["connection"] = "keep-alive" if persistent else "close"
    elif close or e.framing == "close":
        e.headers["connection"] = "close"
    e.keep = persistent
    if method == "HEAD":
        e.framing = "none"
        e.body = None
        e.trailer = False
        if "transfer-encoding" in e.headers:  # a HEAD may announce the GET framing, or leave it out
            e.optional["transfer-encoding"] = e.headers.pop("transfer-encoding")
    return e


def route_expect(route, parts, size, interval=0):
    """GET /route?parts&size&interval-ms over HTTP/1.1, keep-alive."""
    e = Expect()
    e.raw = b"GET /%s?parts=%d&size=%d&interval-ms=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (
        route.encode(), parts, size, interval)
    e.method, e.status, e.reason, e.keep = "GET", 200, b"OK", True
    e.label = e.raw.split(b"\r\n")[0].decode()
    e.headers = {"content-type": "text/plain"}
    e.body = ("pattern", parts * size)
    e.trailer = route == "trailers"
    if route == "fixed":
        e.framing = "length"
        e.headers["content-length"] = str(parts * size)
    else:
        e.framing = "chunked"
        e.headers["transfer-encoding"] = "chunked"
        if e.trailer:
            e.headers["trailer"] = "X-Checksum"
    return e


def error_expect(status, label, raw=b""):
    e = Expect()
    e.raw = raw
    e.method = "GET"
    e.label = label
    e.status = status
    e.reason, text = ERROR_TEXT[status]
    e.headers = {"content-type": "text/plain", "content-length": str(len(text)), "connection": "close"}
    e.framing = "length"
    e.body = ("bytes", text)
    e.keep = False
    return e


async def read_response(c, e, st):
    """Reads one response and checks it against `e`; raises Failure or Cut."""
    try:
        await read_response_(c, e, st)
    except Failure as exc:
        raise Failure("%s: %s" % (e.label, exc)) from None
    except Cut as exc:
        raise Cut("%s: %s" % (e.label, exc)) from None


async def read_response_(c, e, st):
    status = await c.line("status line")
    want = b"HTTP/1.1 %d %s" % (e.status, e.reason)
    if status != want:
        raise Failure("status line %r, expected %r" % (status[:100], want))
    headers = {}
    while True:
        line = await c.line("field line")
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep or not name or any(ch not in TCHAR for ch in name):
            raise Failure("bad field line %r" % line[:100])
        key = name.decode().lower()
        if key in headers:
            raise Failure("field %s twice" % key)
        headers[key] = value.strip(b" \t").decode("latin1")
    for k, v in e.optional.items():
        if headers.get(k) == v:
            del headers[k]
    if headers != e.headers:
        raise Failure("fields %r, expected %r" % (headers, e.headers))
    if e.framing == "none":
        return
    if e.body[0] == "pattern":
        check, n = PatternCheck(), e.body[1]
    else:
        check, n = BytesCheck(e.body[1]), len(e.body[1])
    if e.framing == "length":
        await c.body(n, check)
    elif e.framing == "close":
        await c.until_eof(check)
    else:
        while True:
            size_line = await c.line("chunk size")
            if not size_line or any(ch not in b"0123456789abcdefABCDEF" for ch in size_line) or len(size_line) > 16:
                raise Failure("chunk size line %r" % size_line[:40])
            size = int(size_line, 16)
            if size == 0:
                break
            await c.body(size, check)
            if await c.line("chunk end") != b"":
                raise Failure("chunk data not followed by CRLF")
        trailers = {}
        while True:
            line = await c.line("trailer line")
            if not line:
                break
            name, _, value = line.partition(b":")
            trailers[name.decode("latin1").lower()] = value.strip(b" \t").decode("latin1")
        if e.trailer:
            want = "%016x" % HASHES.of(n)
            if trailers != {"x-checksum": want}:
                raise Failure("trailers %r, expected X-Checksum %s (FNV-1a of the %d body bytes)" % (trailers, want, n))
            st.trailers += 1
        elif trailers:
            raise Failure("unexpected trailers %r" % trailers)
    if check.offset != n:
        raise Failure("body of %d bytes, expected %d" % (check.offset, n))


# --------------------------------------------------------------------------- client kinds


async def kind_normal(run, rng, st):
    c = await Conn.open(run.addr, st)
    try:
        if rng.random() < 0.08:  # HTTP/1.0, one request, or a few with keep-alive
            ka = rng.random() < 0.5
            count = rng.randint(1, 4) if ka else 1
            for i in range(count):
                e = make_request(rng, version=0, keepalive10=ka)
                await c.send(e.raw)
                st.requests += 1
                await read_response(c, e, st)
                st.verified += 1
                if not e.keep:
                    await c.expect_eof(e.label)
                    return
            return
        count = rng.randint(1, 6)
        for i in range(count):
            last = i == count - 1
            close = last and rng.random() < 0.4
            e = make_request(rng, close=close)
            if rng.random() < 0.1 and len(e.raw) > 2:  # the head in two writes
                cut = rng.randint(1, len(e.raw) - 1)
                await c.send(e.raw[:cut])
                await asyncio.sleep(0.001)
                await c.send(e.raw[cut:])
            else:
                await c.send(e.raw)
            st.requests += 1
            await read_response(c, e, st)
            st.verified += 1
            if not e.keep:
                await c.expect_eof(e.label)
                return
    finally:
        c.close()


async def kind_pipeline(run, rng, st):
    c = await Conn.open(run.addr, st)
    try:
        count = rng.randint(2, 8)
        close = rng.random() < 0.5
        exps = [make_request(rng, close=close and i == count - 1, max_body=256 << 10) for i in range(count)]
        await c.send(b"".join(e.raw for e in exps))
        st.requests += count
        for e in exps:
            await read_response(c, e, st)
            st.verified += 1
        if close:
            await c.expect_eof(exps[-1].label)
    finally:
        c.close()


async def kind_leaver(run, rng, st):
    c = await Conn.open(run.addr, st)
    st.faults += 1
    try:
        v = rng.random()
        if v < 0.2:  # leaves while "World" is pending
            await c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            st.requests += 1
            want = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n"
            check = BytesCheck(want)
            await c.body(len(want), check)
            return
        route = rng.choice(["stream", "fixed", "trailers"])
        interval = rng.choice([0, 0, 0, 1, 5])
        size = rng.choice([1, 100, 1000, 16384, 65536])
        parts = 100000 if interval == 0 else 2000
        await c.send(b"GET /%s?parts=%d&size=%d&interval-ms=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                     % (route.encode(), parts, size, interval))
        st.requests += 1
        status = await c.line("status line")
        if status != b"HTTP/1.1 200 OK":
            raise Failure("status %r" % status)
        while await c.line("field line"):
            pass
        total = parts * size
        want = rng.randint(0, min(total - 1, 300000, 20 * size if interval else 200 * size + 4096))
        check = PatternCheck()
        got = 0
        while got < want:
            if route == "fixed":
                k = min(want - got, 65536)
                await c.body(k, check)
                got += k
            else:
                size_line = await c.line("chunk size")
                k = int(size_line, 16)
                if k == 0:
                    raise Failure("stream ended early")
                await c.body(k, check)
                if await c.line("chunk end") != b"":
                    raise Failure("chunk not followed by CRLF")
                got += k
        st.cut += 1
    finally:
        if rng.random() < 0.3:
            try:
                c.s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        c.close()


async def kind_half_close(run, rng, st):
    c = await Conn.open(run.addr, st)
    st.faults += 1
    try:
        count = rng.randint(1, 3)
        exps = [make_request(rng, max_body=256 << 10, close=i == count - 1 and rng.random() < 0.3)
                for i in range(count)]
        await c.send(b"".join(e.raw for e in exps))
        st.requests += count
        c.s.shutdown(socket.SHUT_WR)
        for e in exps:
            try:
                await read_response(c, e, st)
            except Cut:
                # The server may stop at the FIN (abort_if_peer_closed); what came was checked.
                st.cut += 1
                return
            st.verified += 1
            if not e.keep:
                break
        await c.expect_eof("the last response to a half-closed client")
    finally:
        c.close()


async def kind_reset(run, rng, st):
    c = await Conn.open(run.addr, st)
    st.faults += 1
    v = rng.random()
    try:
        if v < 0.15:  # half a head, then a reset
            await c.send(b"GET /stream?parts=10 HTTP/1.1\r\nHo")
            await asyncio.sleep(rng.random() * 0.005)
        elif v < 0.35:  # a reset right after the head
            e = make_request(rng)
            await c.send(e.raw)
            st.requests += 1
            if rng.random() < 0.5:
                await asyncio.sleep(0.001)
        elif v < 0.7:  # a reset mid-stream
            await c.send(b"GET /%s?parts=100000&size=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                         % (rng.choice([b"stream", b"fixed", b"trailers"]), rng.choice([100, 1000, 65536])))
            st.requests += 1
            want = rng.randint(1, 200000)
            while len(c.buf) < want and await c.fill():
                pass
            st.cut += 1
        else:  # pipelined requests, a reset after the first response
            exps = [make_request(rng, max_body=64 << 10, hello_ok=False) for _ in range(rng.randint(2, 5))]
            await c.send(b"".join(e.raw for e in exps))
            st.requests += len(exps)
            await read_response(c, exps[0], st)
            st.verified += 1
            st.cut += 1
    finally:
        c.reset()


async def kind_slow_reader(run, rng, st):
    c = await Conn.open(run.addr, st, rcvbuf=4096)
    st.faults += 1
    try:
        route = rng.choice(["stream", "fixed", "trailers"])
        if route == "fixed" and rng.random() < 0.5:
            parts, size = 8, rng.choice([65536, 262144, 1048576])  # the last part goes out from on_drain
        else:
            parts, size = rng.choice([(64, 4096), (16, 65536), (2000, 100), (4, 262144)])
        e = route_expect(route, parts, size)
        await c.send(e.raw)
        st.requests += 1
        never = rng.random() < 0.3
        seconds = rng.randint(3, 8)
        for _ in range(seconds):  # one byte a second, or nothing at all
            await asyncio.sleep(1.0)
            if not never and not await c.fill(1):
                raise Cut("EOF while reading slowly")
        if rng.random() < 0.3:
            st.cut += 1
            return  # leaves
        await read_response(c, e, st)  # the slowly read bytes are checked here too
        st.verified += 1
    finally:
        c.close()


async def kind_late_reader(run, rng, st):
    """Asks for a large body and starts reading only a little later, with a small receive
    buffer: the stream meets backpressure and its last parts go out from on_drain."""
    c = await Conn.open(run.addr, st, rcvbuf=rng.choice([4096, 16384, None]))
    try:
        route = rng.choice(["fixed", "fixed", "stream", "trailers"])
        parts, size = rng.choice([(8, 1048576), (8, 262144), (4, 1048576), (64, 16384), (2, 1048576)]
                                 if route != "trailers" else [(4, 262144), (1, 1048576), (64, 16384)])
        e = route_expect(route, parts, size)
        await c.send(e.raw)
        st.requests += 1
        await asyncio.sleep(rng.uniform(0.02, 0.5))
        await read_response(c, e, st)
        st.verified += 1
    finally:
        c.close()


def garbage_bytes(rng):
    v = rng.random()
    if v < 0.15:
        return b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(rng.getrandbits(8) for _ in range(64)) + b"\r\n\r\n"
    if v < 0.3:  # a request line whose method is not a token
        return b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n"
    first = rng.choice([b for b in range(256) if b not in TCHAR and b not in (13, 10)])
    n = rng.randint(0, 2000)
    return bytes([first]) + bytes(rng.getrandbits(8) for _ in range(n)) + b"\r\n\r\n"


async def kind_garbage(run, rng, st):
    c = await Conn.open(run.addr, st)
    st.faults += 1
    try:
        if rng.random() < 0.3:  # a good request first: the connection turns bad after it
            e = make_request(rng, max_body=64 << 10, head_ok=False, hello_ok=False)
            while not e.keep:
                e = make_request(rng, max_body=64 << 10, head_ok=False, hello_ok=False)
            await c.send(e.raw)
            st.requests += 1
            await read_response(c, e, st)
            st.verified += 1
        junk = garbage_bytes(rng)
        await c.send(junk)
        st.requests += 1
        e = error_expect(400, "garbage %r" % junk[:40])
        await read_response(c, e, st)
        st.verified += 1
        await c.expect_eof(e.label)
    finally:
        c.close()


async def kind_oversized(run, rng, st):
    c = await Conn.open(run.addr, st)
    st.faults += 1
    try:
        v = rng.random()
        if v < 0.6:
            if v < 0.2:
                raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * rng.randint(8200, 20000) + b"\r\n\r\n"
            elif v < 0.35:  # never finished
                raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * rng.randint(8200, 40000)
            elif v < 0.45:
                raw = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * rng.randint(64, 200) + b"\r\n"
            else:  # leading blank lines count too
                raw = b"\r\n" * 4200 + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            e = error_expect(431, "oversized head of %d bytes" % len(raw))
            await c.send(raw)
            st.requests += 1
            await read_response(c, e, st)
            st.verified += 1
            await c.expect_eof(e.label)
            return
        # A request body over 1 MiB, still uploading when the 413 comes: the server must
        # drain it (docs: until the client's EOF or 2 s) and never reset the connection.
        e = error_expect(413, "oversized body")
        length = rng.choice([1048577, 5 << 20, 10 ** 9])
        await c.send(b"POST /fixed HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length)
        st.requests += 1
        block = b"u" * rng.choice([4096, 65536, 262144])
        sent = 0
        t0 = time.monotonic()
        deadline = t0 + rng.uniform(0.05, 0.6)
        try:
            while time.monotonic() < deadline:
                await c.send(block)
                sent += len(block)
                await asyncio.sleep(0.01)
        except (ConnectionResetError, BrokenPipeError) as exc:
            if time.monotonic() - t0 < 1.9:  # later, the 2 s linger is over: a reset is allowed
                raise Failure("reset %.3f s after the head while uploading after a 413 (%d bytes sent): %r"
                              % (time.monotonic() - t0, sent, exc))
            st.cut += 1
            return
        c.s.shutdown(socket.SHUT_WR)
        await read_response(c, e, st)
        st.verified += 1
        await c.expect_eof(e.label)
    finally:
        c.close()


SMUGGLE = [  # (expected status per docs/examples.md, head); a request follows each one
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\ncontent-length: 44\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\n Content-Length: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n"),
    (400, b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\x0b: chunked\r\n\r\n"),
    (400, b"GET / HTTP/1.1\nHost: x\n\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\n"),
    (400, b"GET / HTTP/1.1\rHost: x\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\rContent-Length: 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n 5\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\tchunked\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nX-Del: a\x7fb\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x01: 1\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
    (400, b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n"),
    (400, b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"GET /\t HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"),
    (400, b"GET / http/1.1\r\nHost: x\r\n\r\n"),
    (400, b"GET / HTTP/1.10\r\nHost: x\r\n\r\n"),
    (400, b"GET / HTTP/1\r\nHost: x\r\n\r\n"),
    (400, b"GET /\r\nHost: x\r\n\r\n"),
    (400, b"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n"),
    (400, b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
    (400, b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"),
    (501, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
    (501, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    (501, b"GET / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: identity\r\n\r\n"),
    (505, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
    (505, b"GET / HTTP/0.9\r\nHost: x\r\n\r\n"),
    (505, b"PRI / HTTP/2.0\r\n\r\n"),
]
SMUGGLED = [  # what follows the refused head: none of it may ever be answered
    b"",
    b"GET /fixed?parts=1&size=7 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"0\r\n\r\nGET /fixed?parts=1&size=7 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"12345GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
]


async def kind_smuggle(run, rng, st):
    c = await Conn.open(run.addr, st)
    st.faults += 1
    try:
        index = rng.randrange(len(SMUGGLE))
        status, head = SMUGGLE[index]
        raw = head + rng.choice(SMUGGLED)
        e = error_expect(status, "smuggle #%d %r" % (index, head[:60]))
        if rng.random() < 0.25:  # byte by byte (a parser that decides too early shows here)
            for i in range(0, len(raw), 7):
                await c.send(raw[i:i + 7])
                await asyncio.sleep(0)
        else:
            await c.send(raw)
        st.requests += 1
        await read_response(c, e, st)
        st.verified += 1
        await c.expect_eof(e.label)  # nothing else: the smuggled request is never answered
    finally:
        c.close()


async def kind_slowloris(run, rng, st):
    t0 = time.monotonic()  # before the connect: the server's idle timer starts after it
    c = await Conn.open(run.addr, st)
    st.faults += 1
    idle = run.args.idle_timeout_ms / 1000.0
    try:
        if rng.random() < 0.3:  # a short head trickled in well within the idle timeout
            e = route_expect(rng.choice(["fixed", "stream", "trailers"]), 3, 5)
            gap = (idle * 0.3) / len(e.raw)
            for i in range(len(e.raw)):
                await c.send(e.raw[i:i + 1])
                await asyncio.sleep(gap)
            st.requests += 1
            await read_response(c, e, st)
            st.verified += 1
            return
        head = b"GET /stream HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 10000
        for i in range(len(head)):
            try:
                await c.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break  # closed after the FIN we have not read yet
            try:
                got = await asyncio.wait_for(c.fill(1), rng.uniform(0.2, 0.6))
            except asyncio.TimeoutError:
                continue
            except Cut:
                break
            if got:
                raise Failure("a response to an unfinished head: %r" % bytes(c.buf[:60]))
            break
        else:
            raise Failure("slowloris head never refused")
        waited = time.monotonic() - t0
        if not idle <= waited <= idle + 10.0:  # late: a loaded machine; early: a wrong timer
            raise Failure("slowloris dropped after %.2f s, idle timeout %.2f s" % (waited, idle))
    finally:
        c.close()


KINDS = {  # weight, concurrency cap (None: only the global one), timeout (s)
    "normal": (40, None, 60),
    "pipeline": (14, None, 60),
    "leaver": (10, None, 60),
    "half_close": (7, None, 60),
    "reset": (9, None, 60),
    "slow_reader": (2, 4, 90),
    "late_reader": (3, 8, 60),
    "garbage": (5, None, 30),
    "oversized": (4, None, 30),
    "smuggle": (8, None, 30),
    "slowloris": (1.5, 6, 60),
}
KIND_FN = {name: globals()["kind_" + name] for name in KINDS}


# --------------------------------------------------------------------------- the server process


def server_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def server_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().split(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"
    except OSError:
        return False


async def probe(run):
    """The server still answers: one request of each route, checked in full."""
    st = run.st("probe")
    st.connections += 1
    c = await Conn.open(run.addr, st)
    try:
        hello = route_expect("stream", 0, 0)
        hello.raw, hello.body = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", ("bytes", b"Hello, World")
        for e in (hello, route_expect("stream", 3, 1000), route_expect("fixed", 7, 65536),
                  route_expect("trailers", 5, 62)):
            await c.send(e.raw)
            st.requests += 1
            await asyncio.wait_for(read_response(c, e, st), 10)
            st.verified += 1
    finally:
        c.close()


async def wait_quiet(run, pid, baseline, limit):
    """Waits until the server holds only its baseline descriptors (lingers end within 2 s)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server_fds(pid) <= baseline:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    return server_fds(pid), server_rss_kib(pid)


async def client(run, index, kind, slots):
    rng = random.Random("%d:%d" % (run.args.seed, index))
    st = run.st(kind)
    st.connections += 1
    try:
        await asyncio.wait_for(KIND_FN[kind](run, rng, st), KINDS[kind][2])
    except Failure as exc:
        run.fail(kind, "connection %d: %s" % (index, exc))
    except Cut as exc:
        run.fail(kind, "connection %d: response cut short: %s" % (index, exc))
    except asyncio.TimeoutError:
        run.fail(kind, "connection %d: no progress for %d s" % (index, KINDS[kind][2]))
    except (ConnectionError, OSError) as exc:
        run.fail(kind, "connection %d: %r" % (index, exc))
    except Exception as exc:  # a bug in this program: report it, never hide it
        import traceback
        traceback.print_exc()
        run.fail(kind, "connection %d: client error %r" % (index, exc))
    finally:
        slots[kind] -= 1


async def churn(run, seconds, first_index, connections, sample):
    """Starts `connections` clients evenly over `seconds` (never more than --concurrency at
    once); returns the number started."""
    args = run.args
    mix = random.Random("mix:%d:%d" % (args.seed, first_index))
    weights = [(w, k) for k, (w, _, _) in KINDS.items() if not args.kinds or k in args.kinds]
    slots = {k: 0 for k in KINDS}
    tasks = set()
    t0 = time.monotonic()
    started = 0
    next_sample = t0
    while started < connections:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if now >= next_sample:
            sample()
            next_sample = now + 5
        due = t0 + started * seconds / connections
        if now < due:
            await asyncio.sleep(min(due - now, 0.05))
            continue
        if len(tasks) >= args.concurrency:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED, timeout=0.05)
            continue
        kind = pick(mix, weights)
        cap = KINDS[kind][1]
        if cap is not None and slots[kind] >= cap:  # its slots are full: draw among the others
            open_kinds = [(w, k) for w, k in weights if KINDS[k][1] is None or slots[k] < KINDS[k][1]]
            if not open_kinds:
                await asyncio.sleep(0.01)
                continue
            kind = pick(mix, open_kinds)
        slots[kind] += 1
        t = asyncio.ensure_future(client(run, first_index + started, kind, slots))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        started += 1
    if tasks:
        await asyncio.wait(tasks, timeout=120)
    for t in list(tasks):
        run.fail("churn", "a client still running 120 s after the last start")
        t.cancel()
    return started


async def main_async(args):
    run = Run(args)
    pid = args.server_pid
    if fnv1a64(b"ABCDEFGHIJ") != 0x22E6C67846DC5F52:  # docs/examples.md's reference value
        raise SystemExit("FNV-1a self-check failed")
    HASHES.build()
    peak = {"fds": 0, "rss": 0}

    last_print = [time.monotonic()]

    def sample():
        fds, rss = server_fds(pid), server_rss_kib(pid)
        peak["fds"] = max(peak["fds"], fds)
        peak["rss"] = max(peak["rss"], rss)
        now = time.monotonic()
        if now - last_print[0] >= args.progress:
            last_print[0] = now
            done = sum(s.connections for s in run.stats.values())
            fails = sum(s.failures for s in run.stats.values())
            print("  %5.0f s: %d connections, %d failures; server %d fds, VmRSS %d KiB"
                  % (now - t_begin, done, fails, fds, rss), flush=True)
        if not server_alive(pid):
            run.fail("server", "the server process is gone")

    await asyncio.sleep(0.3)
    t_begin = time.monotonic()
    fds0, rss0 = server_fds(pid), server_rss_kib(pid)
    await probe(run)
    fds0b, _ = await wait_quiet(run, pid, fds0, 5)
    print("before: %d fds, VmRSS %d KiB" % (fds0, rss0), flush=True)

    total = args.connections
    warm_s = args.warmup_seconds if args.warmup_seconds is not None else max(5.0, args.seconds * 0.1)
    warm_n = int(total * warm_s / args.seconds)
    t_start = time.monotonic()
    cpu_server0, cpu_client0 = cpu_seconds(pid), time.process_time()
    started = await churn(run, warm_s, 0, warm_n, sample)
    fds1, rss1 = await wait_quiet(run, pid, fds0, 15)
    print("after warm-up (%d connections, %.0f s): %d fds, VmRSS %d KiB" % (started, warm_s, fds1, rss1), flush=True)

    # --seconds counts the churn only, not the pause to drain after the warm-up.
    t_main = time.monotonic()
    started += await churn(run, max(1.0, args.seconds - warm_s), started, total - warm_n, sample)
    elapsed = warm_s + time.monotonic() - t_main
    cpu_server, cpu_client = cpu_seconds(pid) - cpu_server0, time.process_time() - cpu_client0
    fds2, rss2 = await wait_quiet(run, pid, fds0, 15)
    alive = server_alive(pid)
    if alive:
        try:
            await probe(run)
        except (Failure, Cut, OSError, asyncio.TimeoutError) as exc:
            run.fail("probe", "the server does not answer after the soak: %r" % exc)
    else:
        run.fail("server", "the server process is gone")
    fds3, rss3 = await wait_quiet(run, pid, fds0, 5) if alive else (0, 0)

    # ------------------------------------------------------------------ report
    print()
    print("soak: %d connections in %.1f s of churn, %.1f s in all (seed %d, concurrency %d, target %d)"
          % (started, elapsed, time.monotonic() - t_begin, args.seed, args.concurrency, total))
    print("%-12s %11s %9s %9s %7s %7s %14s %9s %8s" % ("kind", "connections", "requests", "verified",
                                                      "faults", "cut", "bytes verified", "trailers", "failures"))
    tot = Stats()
    for kind in list(KINDS) + [k for k in run.stats if k not in KINDS]:
        s = run.st(kind)
        print("%-12s %11d %9d %9d %7d %7d %14d %9d %8d" % (kind, s.connections, s.requests, s.verified,
                                                          s.faults, s.cut, s.bytes, s.trailers, s.failures))
        for f in Stats.FIELDS:
            setattr(tot, f, getattr(tot, f) + getattr(s, f))
    print("%-12s %11d %9d %9d %7d %7d %14d %9d %8d" % ("total", tot.connections, tot.requests, tot.verified,
                                                      tot.faults, tot.cut, tot.bytes, tot.trailers, tot.failures))
    print()
    print("CPU: server %.1f s, this client %.1f s; load average at the end %.2f"
          % (cpu_server, cpu_client, os.getloadavg()[0]))
    print("server fds:  before %d, after warm-up %d, after %d (peak %d)" % (fds0, fds1, fds2, peak["fds"]))
    print("server RSS:  before %d KiB, after warm-up %d KiB, after %d KiB (%+.1f%%; peak %d KiB)"
          % (rss0, rss1, rss2, (rss2 - rss1) * 100.0 / rss1, peak["rss"]))
    ok = True
    if tot.failures:
        print("FAIL: %d verification failures; the first ones:" % tot.failures)
        for kind, detail in run.failures[:20]:
            print("  [%s] %s" % (kind, detail))
        ok = False
    if not alive:
        print("FAIL: the server died")
        ok = False
    if fds2 != fds0 or fds3 != fds0 or fds0b != fds0:
        print("FAIL: descriptors not back to the baseline (%d, after %d, after the probe %d)" % (fds0, fds2, fds3))
        ok = False
    if rss2 > rss1 * 1.10 and not args.no_rss_check:
        print("FAIL: RSS grew by more than 10%% after the warm-up (%d -> %d KiB)" % (rss1, rss2))
        ok = False
    if args.require_connections and started < args.require_connections:
        print("FAIL: %d connections, fewer than the %d required" % (started, args.require_connections))
        ok = False
    print("soak: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--connections", type=int, default=60000, help="connections to start, paced over --seconds")
    ap.add_argument("--require-connections", type=int, default=0, help="fail with fewer started")
    ap.add_argument("--warmup-seconds", type=float, default=None, help="default: 10%% of --seconds, >= 5")
    ap.add_argument("--concurrency", type=int, default=48)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--no-rss-check", action="store_true",
                    help="report RSS but do not judge it (ASan's quarantine holds freed memory)")
    ap.add_argument("--kinds", type=lambda s: s.split(","), default=None,
                    help="comma-separated client kinds to run (default: all): " + ",".join(KINDS))
    ap.add_argument("--progress", type=float, default=30, help="seconds between progress lines")
    ap.add_argument("--idle-timeout-ms", type=int, default=10000, help="the server's --idle-timeout-ms")
    args = ap.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
