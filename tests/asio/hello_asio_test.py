#!/usr/bin/env python3
"""hello_asio beyond hello_deferred's cases: the stall timeout of rill/asio.hpp.

usage: hello_asio_test.py --server PATH --case stall
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import RillServer, case_main, check, connect, pattern, wait_for  # noqa: E402

def case_stall(args):
    with RillServer(args.server, "--stall-timeout-ms", "500") as srv:
        time.sleep(0.1)
        base = srv.fd_count()

        # A client that asks for an endless stream and never reads: cut after 0.5 s
        # without progress, while another client is served meanwhile.
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", srv.port))
        t0 = time.monotonic()
        stalled.sendall(b"GET /stream?parts=1000000&size=16384 HTTP/1.1\r\nHost: x\r\n\r\n")
        check(wait_for(lambda: srv.fd_count() == base + 1, 2), "server does not hold the stream")

        # A slow but steady reader (up to 64 KiB every 20 ms: 6.4 MB, more than the kernel's
        # buffers hold, in about 2 s) is not cut: it never goes 0.5 s without progress.
        slow = connect(srv.port)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        size, parts = 16384, 400
        slow.sendall(b"GET /fixed?parts=%d&size=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (parts, size))
        got = bytearray()
        result = {}

        def read_slowly():
            slow.settimeout(10)
            try:
                while True:
                    chunk = slow.recv(65536)
                    if not chunk:
                        break
                    got.extend(chunk)
                    time.sleep(0.02)
            except OSError as e:
                result["error"] = e
        reader = threading.Thread(target=read_slowly)
        t_slow = time.monotonic()
        reader.start()

        check(wait_for(lambda: srv.fd_count() <= base + 1 and time.monotonic() - t0 > 0.3, 3),
              "the stalled stream was not cut within 3 s")
        cut_after = time.monotonic() - t0
        check(cut_after >= 0.45, "stalled stream cut after %.3f s, the timeout is 0.5 s" % cut_after)
        print("stalled client cut after %.3f s (stall timeout 0.5 s)" % cut_after)

        reader.join(15)
        slow_took = time.monotonic() - t_slow
        check("error" not in result, "slow reader failed: %r" % result.get("error"))
        head, _, body = bytes(got).partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200 OK\r\n"), head[:80])
        check(body == pattern(size * parts), "slow reader's body differs (%d bytes)" % len(body))
        check(slow_took > 0.6, "the slow reader was not slow (%.3f s)" % slow_took)
        print("slow reader served in full in %.3f s" % slow_took)

        # What the stalled client got is a prefix of the stream, then the end.
        stalled.settimeout(5)
        data = b""
        try:
            while True:
                chunk = stalled.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        stalled.close()
        check(not data.endswith(b"0\r\n\r\n"), "a cut stream looks complete")
        check(wait_for(lambda: srv.fd_count() == base, 2), "descriptors not back to the baseline")
        check(srv.alive(), "server died")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


if __name__ == "__main__":
    sys.exit(case_main(CASES))
