"""Shared helpers for the Python wire driver: start rill_wire_server, talk raw HTTP/1.x
to it over loopback, and mirror the server's part and checksum rules."""

import select
import socket
import subprocess
import time

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0
MAX_READ = 16 * 1024 * 1024


def start_server(path):
    """Starts the server on a free port; returns (process, port)."""
    proc = subprocess.Popen([path, "--port", "0", "--idle-seconds", "30", "--max-seconds", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 10.0)
    if not ready:
        proc.kill()
        raise RuntimeError("wire_server did not report its port within 10 s")
    line = proc.stdout.readline().decode("ascii", "replace").strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError("unexpected first line from wire_server: %r" % line)
    return proc, int(line.split()[-1])


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    return proc.returncode


def expected_parts(spec):
    """The parts the server sends for parts=spec (see wire_server.cpp)."""
    out = []
    for index, item in enumerate(spec.split(",")):
        if item.isdigit() and len(item) <= 9:
            out.append(chr(ord("a") + index % 26) * int(item))
        else:
            out.append(item)
    return out


def expected_body(spec):
    return "".join(expected_parts(spec)).encode()


def fnv1a(data):
    h = 2166136261
    for b in data:
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return "%08x" % h


def connect(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(IO_TIMEOUT)
    return s


def request_bytes(target, method="GET", version="1.1", headers=()):
    lines = ["%s %s HTTP/%s" % (method, target, version), "Host: %s" % HOST]
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_to_eof(sock, deadline_s=IO_TIMEOUT):
    """Every byte until the server closes; raises on timeout (the close must happen)."""
    data = b""
    deadline = time.monotonic() + deadline_s
    while len(data) < MAX_READ:
        if time.monotonic() > deadline:
            raise TimeoutError("server did not close the connection")
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise RuntimeError("response larger than %d bytes" % MAX_READ)


def raw_exchange(port, target, method="GET", version="1.1", headers=(), close=True):
    """Sends one request; with close=True asks for Connection: close on 1.1 and reads to EOF."""
    hdrs = list(headers)
    if close and version == "1.1" and not any(h[0].lower() == "connection" for h in hdrs):
        hdrs.append(("Connection", "close"))
    with connect() as s:
        s.connect((HOST, port))
        s.sendall(request_bytes(target, method, version, hdrs))
        return read_to_eof(s)


def split_response(raw):
    """(status line, [(name, value)], rest) of the first response in raw."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("no complete head in %r" % raw[:200])
    lines = raw[:end].decode("latin-1").split("\r\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.append((name, value.strip()))
    return lines[0], fields, raw[end + 4:]


def field_values(fields, name):
    return [v for n, v in fields if n.lower() == name.lower()]


def parse_chunked(data):
    """Strictly decodes a chunked body: (body, trailer fields, bytes after the message)."""
    body = b""
    pos = 0
    for _ in range(100000):
        eol = data.index(b"\r\n", pos)
        size_text = data[pos:eol].decode("ascii")
        if not size_text or any(c not in "0123456789abcdefABCDEF" for c in size_text):
            raise ValueError("bad chunk size line %r" % size_text)
        size = int(size_text, 16)
        pos = eol + 2
        if size == 0:
            trailers = []
            for _ in range(1000):
                eol = data.index(b"\r\n", pos)
                line = data[pos:eol].decode("latin-1")
                pos = eol + 2
                if line == "":
                    return body, trailers, data[pos:]
                name, _, value = line.partition(":")
                trailers.append((name, value.strip()))
            raise ValueError("too many trailer lines")
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise ValueError("chunk data not followed by CRLF")
        body += data[pos:pos + size]
        pos += size + 2
    raise ValueError("too many chunks")
