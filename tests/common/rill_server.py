"""Helpers shared by the end-to-end drivers (tests/examples, tests/httplib, tests/threads,
and the adapter tests): start an example server on a free 127.0.0.1 port, wait for its
`listening on http://HOST:PORT/` line, end it with SIGTERM and check its exit status.

Every example server takes `--port 0` and prints that line first (examples/common/cli_args.hpp).

Use from a driver in tests/<dir>/:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    from rill_server import Failure, RillServer, case_main, check, connect, pattern, tool, wait_for

    def case_stall(args): ...
    CASES = {"stall": case_stall}
    if __name__ == "__main__":
        sys.exit(case_main(CASES))   # usage: driver.py --server PATH --case stall

    with RillServer(path, "--delay-ms", "100") as srv:   # runs: path --port 0 --delay-ms 100
        ... srv.port, srv.url, srv.fd_count(), srv.threads() ...
    # leaving the block: SIGTERM, and a Failure unless the server exits 0 (after a failure
    # inside the block, that one is reported and the exit status only printed)
"""
import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

STARTUP_TIMEOUT = 10.0  # sanitizer builds start slowly on a loaded 2-core machine
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Failure(Exception):
    """A failed check: the driver prints it and exits 1."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_for(pred, timeout, step=0.02):
    """Polls `pred` until it is true or `timeout` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def tool(name):
    """The path of a required program: a missing one fails the test, never skips it."""
    path = shutil.which(name)
    check(path is not None, "%s is required by this test but was not found in PATH" % name)
    return path


def connect(port, timeout=5):
    """A TCP connection to 127.0.0.1:port with Nagle off."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def pattern(n):
    """The first n bytes of the shared routes' body (examples/common/routes.hpp): the
    alphabet above, repeated."""
    return (ALPHABET * (n // len(ALPHABET) + 1))[:n]


def fnv1a64(data):
    """FNV-1a 64 of `data` as 16 hex digits: the routes' X-Checksum trailer."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def case_main(cases, add_arguments=None, catch=(Failure,)):
    """The command line of a case driver: `--server PATH --case NAME` (and what
    `add_arguments(parser)` adds). Runs cases[NAME](args); returns 1 after printing the
    failure when it raises one of `catch`, else 0."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--case", required=True, choices=sorted(cases))
    if add_arguments:
        add_arguments(ap)
    args = ap.parse_args()
    return run_case(cases, args, catch)


def run_case(cases, args, catch=(Failure,)):
    try:
        cases[args.case](args)
    except catch as e:
        print("FAIL [%s]: %s" % (args.case, e), file=sys.stderr)
        return 1
    print("ok [%s]" % args.case)
    return 0



def read_until_close(s, limit=10, strict=False):
    """The bytes a socket gets until the peer closes it, for at most `limit` seconds.
    `strict`: a reset or no close within the limit is a Failure (the response must end
    by an orderly close); otherwise the bytes received so far are returned."""
    s.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            check(not strict, "connection reset after %d bytes" % len(data))
            return data
        if not chunk:
            return data
        data += chunk
    check(not strict, "no end of response within %d s (%d bytes)" % (limit, len(data)))
    return data


class Reader:
    """HTTP/1.1 responses one after another from one socket (plain or TLS); `pause`
    seconds after each read make a slow reader."""

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

    def _fields(self):
        """Header or trailer lines up to the empty one, names lower-case."""
        fields = {}
        while True:
            line = self._line().decode("latin1")
            if not line:
                return fields
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()

    def response(self, head_request=False):
        """(status line, {header: value}, body, {trailer: value}) of the next response;
        `head_request`: the answer to a HEAD, which has no body whatever its headers say."""
        status = self._line().decode()
        headers = self._fields()
        body, trailers = b"", {}
        if head_request:
            pass
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(self._line(), 16)
                if size == 0:
                    trailers = self._fields()
                    break
                body += self._take(size)
                check(self._take(2) == b"\r\n", "chunk not followed by CRLF")
        return status, headers, body, trailers


class RillServer:
    """One server process on a free port. `proc.stdout` stays a pipe positioned just
    after the listening line, so a subclass may read the server's later log lines."""

    def __init__(self, path, *args, env=None, scheme="http"):
        self.args = [path, "--port", "0", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, env=env)
        prefix = "listening on %s://127.0.0.1:" % scheme
        try:
            line = self._first_line()
            check(line.startswith(prefix) and line.endswith("/\n"),
                  "unexpected first line %r from %s" % (line, " ".join(self.args)))
            self.port = int(line[len(prefix):-2])
        except Exception:
            self._kill()
            raise
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            try:
                self.stop()
            except Failure as also:  # the first failure is the one to report
                print("(also: %s)" % also, file=sys.stderr)
        return False

    def _first_line(self):
        # Byte by byte, so that nothing after the line is taken from the pipe.
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            check(left > 0, "%s printed no full line within %.0f s (got %r)"
                  % (" ".join(self.args), STARTUP_TIMEOUT, line))
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            b = os.read(fd, 1)
            if not b:
                code = self.proc.wait(5)
                raise Failure("%s exited with %s before its listening line (got %r)"
                              % (" ".join(self.args), code, line))
            line += b
        return line.decode("latin-1")

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.proc.pid))

    def cpu_ticks(self):
        """utime + stime of the server, in clock ticks."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def alive(self):
        return self.proc.poll() is None

    def terminate(self, within, sig=signal.SIGTERM):
        """Sends `sig`; the server must exit 0 within `within` seconds. Returns the seconds it took."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self._kill()
            raise Failure("server still running %.1f s after signal %d" % (within, sig))
        took = time.monotonic() - t0
        check(code == 0, "server exited with %d after signal %d" % (code, sig))
        return took

    def stop(self, expect=0, within=5):
        """Ends the server with SIGTERM (if it still runs) and returns its exit status; a
        status other than `expect` (a crash, a sanitizer report) raises Failure, and so
        does a server still running `within` seconds after the signal."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(within)
            except subprocess.TimeoutExpired:
                self._kill()
                raise Failure("server ignored SIGTERM for %g s" % within)
        code = self.proc.returncode
        check(expect is None or code == expect, "server exited with %d, expected %s" % (code, expect))
        return code
