#!/usr/bin/env python3
"""End-to-end tests of examples/sse_clock with Python's http.client and raw sockets.

usage: sse_clock_test.py --server PATH --case NAME
Every case starts its own server on a free 127.0.0.1 port, ticking every 100 ms
with a heartbeat every 30 ms. The event stream is read back with an event-stream
parser written here from the WHATWG algorithm, independent of rill's C++ code.
"""
import http.client
import os
import queue
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from rill_server import Failure, RillServer, case_main, check, connect, wait_for  # noqa: E402

INTERVAL_MS = 100
HEARTBEAT_MS = 30
TIME = r"\d\d:\d\d:\d\d\.\d\d\d"


class ClockServer(RillServer):
    """Server whose stdout log lines (after the first) are collected by a thread."""

    def __init__(self, path):
        super().__init__(path, "--interval-ms", str(INTERVAL_MS), "--heartbeat-ms", str(HEARTBEAT_MS))
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode().rstrip("\n"))

    def log_line(self, pattern, timeout=3.0):
        """The next log line matching `pattern` (others are skipped), or a failure."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            check(left > 0, "no server log line matching %r within %.1f s" % (pattern, timeout))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            m = re.fullmatch(pattern, line)
            if m:
                return m


def parse_event_stream(text):
    """WHATWG HTML 9.2.6 on a complete stream: a list of (type, data, last_event_id), the
    final last event id and reconnection time. `text` is already decoded."""
    if text.startswith("\ufeff"):
        text = text[1:]
    events, data, etype, last_id_buf, last_id, retry = [], "", "", "", "", None
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # what follows the last line end is an incomplete line: discarded
    for line in lines:
        if line == "":
            last_id = last_id_buf
            if data:
                events.append((etype or "message", data[:-1] if data.endswith("\n") else data, last_id))
            data, etype = "", ""
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            etype = value
        elif field == "data":
            data += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_id_buf = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                retry = int(value)
    return events, last_id, retry


def get(port, path, headers=None, method="GET", conn=None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    return conn, resp, resp.read()


def hello_text(stream, last, next_id):
    return "sse_clock stream %d\nlast-event-id: %s\nnext id: %d\nretry-ms: %d" % (stream, last, next_id, INTERVAL_MS)


def case_events_bytes(args):
    with ClockServer(args.server) as srv:
        conn, resp, body = get(srv.port, "/events?drop-after=3")
        check(resp.status == 200, "status %d" % resp.status)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        check(headers.get("content-type") == "text/event-stream", "content-type %r" % headers.get("content-type"))
        check(headers.get("cache-control") == "no-cache", "cache-control %r" % headers.get("cache-control"))
        check(headers.get("x-accel-buffering") == "no", "x-accel-buffering %r" % headers.get("x-accel-buffering"))
        check(headers.get("transfer-encoding") == "chunked", "transfer-encoding %r" % headers.get("transfer-encoding"))
        check("content-length" not in headers, "an event stream has no Content-Length")

        # The exact bytes: the greeting (its CRLF, CR and LF all became data lines), then
        # three ticks with ids 1..3, heartbeat comments (":") only between whole events.
        text = body.decode("utf-8")
        hello = ("event: hello\nretry: %d\ndata: sse_clock stream 1\ndata: last-event-id: none\n"
                 "data: next id: 1\ndata: retry-ms: %d\n\n" % (INTERVAL_MS, INTERVAL_MS))
        check(text.startswith(hello), "greeting bytes: %r" % text[:200])
        rest = text[len(hello):]
        shape = "".join(r"(?::\n)*event: tick\nid: %d\ndata: (%s)\n\n" % (i, TIME) for i in (1, 2, 3))
        m = re.fullmatch(shape, rest)
        check(m is not None, "tick bytes: %r" % rest)
        check(rest.count(":\n") >= 2, "heartbeats every %d ms between ticks %d ms apart: %r"
              % (HEARTBEAT_MS, INTERVAL_MS, rest))

        events, last_id, retry = parse_event_stream(text)
        check([e[0] for e in events] == ["hello", "tick", "tick", "tick"], "types %r" % events)
        check(events[0][1] == hello_text(1, "none", 1), "hello data %r" % events[0][1])
        check(events[0][2] == "", "hello carries no id")
        check([e[2] for e in events[1:]] == ["1", "2", "3"], "ids %r" % events)
        check(last_id == "3" and retry == INTERVAL_MS, "last id %r, retry %r" % (last_id, retry))
        stamps = [int(t[:2]) * 3600000 + int(t[3:5]) * 60000 + int(t[6:8]) * 1000 + int(t[9:]) for t in m.groups()]
        gaps = [(b - a) % 86400000 for a, b in zip(stamps, stamps[1:])]
        check(all(INTERVAL_MS * 0.8 <= g <= INTERVAL_MS * 20 for g in gaps), "tick spacing %r ms" % gaps)

        # drop-after ended the response cleanly: the connection carries the next request.
        _, resp2, page = get(srv.port, "/", conn=conn)
        check(resp2.status == 200 and b'new EventSource("/events"' in page, "same connection, page")
        srv.log_line(r"events 1: last-event-id=- next=1")
        srv.log_line(r"events 1: ended \(completed\) after 3 ticks")
        check(srv.stop() == 0, "exit status")


def case_resume(args):
    with ClockServer(args.server) as srv:
        cases = [
            # (header value, what the server logs, the next id)
            ("41", "41", 42),
            (" \t7 ", "7", 8),                      # HTTP trims the value
            ("999999999999999999", "999999999999999999", 10**18),  # the largest id read back
            ("abc", "abc", 1),                      # not one of our ids: from the start
            (None, "-", 1),
        ]
        for stream, (value, logged, next_id) in enumerate(cases, start=1):
            headers = {"Last-Event-ID": value} if value is not None else {}
            _, resp, body = get(srv.port, "/events?drop-after=2", headers=headers)
            check(resp.status == 200, "status %d" % resp.status)
            events, last_id, _ = parse_event_stream(body.decode("utf-8"))
            resumed = logged if value is not None and logged.isdigit() else "none"
            check(events[0] == ("hello", hello_text(stream, resumed, next_id), ""), "hello %r" % (events[0],))
            check([(e[0], e[2]) for e in events[1:]] == [("tick", str(next_id)), ("tick", str(next_id + 1))],
                  "ticks after Last-Event-ID %r: %r" % (value, events))
            srv.log_line(r"events %d: last-event-id=%s next=%d" % (stream, re.escape(logged), next_id))


def case_routes(args):
    with ClockServer(args.server) as srv:
        _, resp, body = get(srv.port, "/")
        check(resp.status == 200 and resp.getheader("Content-Type") == "text/html; charset=utf-8", "page head")
        check(b'new EventSource("/events" + location.search)' in body, "page opens /events")
        _, resp, body = get(srv.port, "/events", method="HEAD")
        check(resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream" and body == b"",
              "HEAD /events: the head only")
        for method, path, status in [("POST", "/events", 405), ("GET", "/nope", 404),
                                     ("GET", "/events?drop-after=0", 400), ("GET", "/events?x=1", 400),
                                     ("GET", "/events?drop-after=1000001", 400)]:
            _, resp, _ = get(srv.port, path, method=method)
            check(resp.status == status, "%s %s: %d, expected %d" % (method, path, resp.status, status))


def case_dead_client(args):
    """A client that leaves an open stream: the stream ends as peer_closed, its timer stops."""
    with ClockServer(args.server) as srv:
        fds = srv.fd_count()
        s = connect(srv.port)
        s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        deadline = time.monotonic() + 5
        while b"id: 1\n" not in got and time.monotonic() < deadline:
            chunk = s.recv(4096)
            check(chunk, "stream ended early")
            got += chunk
        check(b"id: 1\n" in got, "first tick")
        s.close()
        srv.log_line(r"events 1: ended \(peer closed\) after \d+ ticks", timeout=2)
        check(wait_for(lambda: srv.fd_count() <= fds, 2), "descriptor released")


def case_sigterm(args):
    with ClockServer(args.server) as srv:
        s = connect(srv.port)
        s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"id: 1\n" not in got:
            chunk = s.recv(4096)
            check(chunk, "stream ended early")
            got += chunk
        srv.terminate(within=1.0)  # with a stream open
        s.settimeout(2)
        rest = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        srv.log_line(r"events 1: ended \(shutdown\) after \d+ ticks", timeout=1)


CASES = {
    "events_bytes": case_events_bytes,
    "resume": case_resume,
    "routes": case_routes,
    "dead_client": case_dead_client,
    "sigterm": case_sigterm,
}


if __name__ == "__main__":
    sys.exit(case_main(CASES, catch=(Failure, OSError)))
