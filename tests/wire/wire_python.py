#!/usr/bin/env python3
"""Wire tests with Python: http.client (HTTP/1.0 and HTTP/1.1) and raw sockets for the
exact bytes. Usage: wire_python.py PATH/TO/rill_wire_server [--repro]
Prints one line per case and exits non-zero if any case fails. --repro runs the
reproductions of known library defects instead of the regular cases."""

import http.client
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire_common import (HOST, IO_TIMEOUT, connect, expected_body, field_values, fnv1a,  # noqa: E402
                         parse_chunked, raw_exchange, read_to_eof, request_bytes,
                         split_response, start_server, stop_server)

PORT = 0


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def eq(actual, expected, what):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def conn(version=11):
    c = http.client.HTTPConnection(HOST, PORT, timeout=IO_TIMEOUT)
    if version == 10:
        c._http_vsn = 10
        c._http_vsn_str = "HTTP/1.0"
    return c


def get(c, target, method="GET", headers=None):
    c.request(method, target, headers=headers or {})
    r = c.getresponse()
    return r, r.read()


def log_line(tag):
    """The server's outcome record for the response tagged `tag` (exactly one)."""
    c = conn()
    try:
        r, body = get(c, "/__log?tag=" + tag)
    finally:
        c.close()
    eq(r.status, 200, "log status")
    lines = body.decode().splitlines()
    eq(len(lines), 1, "log lines for tag %s (%r)" % (tag, lines))
    return lines[0]


def log_has(tag, *needles):
    line = log_line(tag)
    for n in needles:
        check(n in line, "log for %s lacks %r: %s" % (tag, n, line))
    return line


# --- HTTP/1.1 through http.client -------------------------------------------------------------

def py11_chunked_keepalive():
    c = conn()
    r, body = get(c, "/?parts=hello,,world&delay-ms=5&tag=p1")
    sock = c.sock
    eq(r.status, 200, "status")
    eq(r.version, 11, "version")
    eq(r.getheader("Transfer-Encoding"), "chunked", "Transfer-Encoding")
    eq(r.getheader("Content-Length"), None, "Content-Length")
    eq(r.getheader("Connection"), None, "Connection")
    eq(r.will_close, False, "will_close")
    eq(body, b"helloworld", "body")
    r2, body2 = get(c, "/?parts=3,4")
    check(c.sock is sock, "second request did not reuse the connection")
    eq(body2, b"aaabbbb", "second body")
    c.close()
    log_has("p1", "framing=chunked", "sends=written,written,written,", "reason=completed", "keep_alive=1")


def py11_fixed():
    c = conn()
    r, body = get(c, "/?cl=7&parts=3,4&delay-ms=2&tag=p2")
    eq(r.getheader("Content-Length"), "7", "Content-Length")
    eq(r.getheader("Transfer-Encoding"), None, "Transfer-Encoding")
    eq(r.will_close, False, "will_close")
    eq(body, b"aaabbbb", "body")
    sock = c.sock
    _, body2 = get(c, "/?cl=2&parts=xy")
    check(c.sock is sock, "connection not reused after a fixed-length body")
    eq(body2, b"xy", "second body")
    c.close()
    log_has("p2", "framing=fixed", "keep_alive=1")


def py11_empty_sends():
    c = conn()
    _, body = get(c, "/?parts=,,ab,,,cd,&delay-ms=1&tag=p3")
    eq(body, b"abcd", "chunked body with empty sends")
    _, body = get(c, "/?cl=4&parts=,ab,,cd,&tag=p3f")
    eq(body, b"abcd", "fixed body with empty sends")
    # A fixed-length body ends by itself with its last byte, so the trailing empty part
    # is never sent; a client that hangs up then still sees reason=completed.
    log_has("p3", "sends=written,written,written,written,written,written,written,", "reason=completed")
    log_has("p3f", "sends=written,written,written,written, ", "reason=completed", "keep_alive=1")
    c.close()


def raw_empty_sends_never_end_chunked():
    raw = raw_exchange(PORT, "/?parts=,ab,,cd,&delay-ms=1")
    _, fields, rest = split_response(raw)
    eq(field_values(fields, "Transfer-Encoding"), ["chunked"], "Transfer-Encoding")
    eq(rest, b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n", "exact chunked framing (no empty chunk)")


def py11_request_close():
    c = conn()
    r, body = get(c, "/?parts=abc&tag=p4", headers={"Connection": "close"})
    eq(r.getheader("Connection"), "close", "Connection")
    eq(r.will_close, True, "will_close")
    eq(body, b"abc", "body")
    c.close()
    log_has("p4", "framing=chunked", "keep_alive=0")
    raw = raw_exchange(PORT, "/?parts=abc")  # read_to_eof raises unless the server closes
    _, fields, rest = split_response(raw)
    eq(field_values(fields, "Connection"), ["close"], "raw Connection")
    eq(rest, b"3\r\nabc\r\n0\r\n\r\n", "raw body then EOF")


def py11_app_close():
    c = conn()
    r, body = get(c, "/?parts=abc&close=1&tag=p5")
    eq(r.msg.get_all("Connection"), ["close"], "exactly one Connection: close")
    eq(r.will_close, True, "will_close")
    eq(body, b"abc", "body")
    c.close()
    log_has("p5", "keep_alive=0")


def repro_app_keepalive_vs_request_close():
    # The request's close must win over an application's Connection: keep-alive, and
    # the response must say so unambiguously: http.client reads only the first
    # Connection line, so "Connection: keep-alive" followed by rill's "Connection: close"
    # makes it keep a connection the server closes.
    c = conn()
    r, body = get(c, "/?parts=abc&rconn=keep-alive&tag=p5k", headers={"Connection": "close"})
    check("close" in [v.strip().lower() for v in ",".join(r.msg.get_all("Connection")).split(",")],
          "no close token: %r" % r.msg.get_all("Connection"))
    eq((r.will_close, body), (True, b"abc"), "will_close and body")
    c.close()
    log_has("p5k", "keep_alive=0")


def py11_head():
    c = conn()
    r, body = get(c, "/?cl=7&parts=3,4&tag=p6", method="HEAD")
    eq(r.getheader("Content-Length"), "7", "HEAD keeps Content-Length")
    eq(body, b"", "HEAD body")
    r, body = get(c, "/?parts=3,4&tag=p6c", method="HEAD")
    eq(r.getheader("Transfer-Encoding"), "chunked", "HEAD unknown length announces GET's framing")
    eq(r.getheader("Content-Length"), None, "HEAD unknown length: Content-Length")
    eq(body, b"", "HEAD body")
    r, body = get(c, "/?parts=xyz")  # a stray body byte would break this response
    eq((r.status, body), (200, b"xyz"), "request after HEAD")
    c.close()
    # The body ended with the head: the server had nothing to send it.
    log_has("p6", "framing=none", "sends= reason=completed", "keep_alive=1")
    log_has("p6c", "framing=none", "keep_alive=1")
    for target in ("/?cl=7&parts=3,4", "/?parts=3,4"):
        raw = raw_exchange(PORT, target, method="HEAD")
        eq(split_response(raw)[2], b"", "raw HEAD %s: nothing after the head" % target)


def py_no_body_status(status):
    def case():
        c = conn()
        r, body = get(c, "/?status=%d&parts=abc&tag=p%d" % (status, status))
        eq(r.status, status, "status")
        eq(body, b"", "body")
        eq(r.getheader("Transfer-Encoding"), None, "Transfer-Encoding")
        eq(r.getheader("Content-Length"), None, "Content-Length")
        r, body = get(c, "/?parts=next")
        eq(body, b"next", "request after %d" % status)
        c.close()
        log_has("p%d" % status, "framing=none", "keep_alive=1")
        raw = raw_exchange(PORT, "/?status=%d&parts=abc" % status)
        eq(split_response(raw)[2], b"", "raw %d: nothing after the head" % status)
    return case


def py11_status_404_500():
    c = conn()
    for status in (404, 500, 201):
        r, body = get(c, "/?status=%d&parts=err" % status)
        eq((r.status, body, r.getheader("Transfer-Encoding")), (status, b"err", "chunked"), "status %d" % status)
    c.close()


def py11_large_backpressure():
    # A small receive window and a late reader make the server's socket block, so the
    # body's queue and flush() carry the rest.
    spec = "1000000,1000000,1000000"
    with connect(rcvbuf=4096) as s:
        s.connect((HOST, PORT))
        s.sendall(request_bytes("/?parts=%s&tag=p7" % spec, headers=[("Connection", "close")]))
        time.sleep(0.3)
        raw = read_to_eof(s, deadline_s=20)
    _, _, rest = split_response(raw)
    body, trailers, after = parse_chunked(rest)
    eq(len(body), 3000000, "body size")
    check(body == expected_body(spec), "body content differs")
    eq((trailers, after), ([], b""), "trailers and trailing bytes")
    line = log_has("p7", "reason=completed")
    check("queued" in line or "backpressure" in line, "the socket never blocked: %s" % line)


def raw_pipelined():
    reqs = (request_bytes("/?parts=ab,cd&delay-ms=3") + request_bytes("/?cl=3&parts=xyz")
            + request_bytes("/?status=204") + request_bytes("/?parts=end", headers=[("Connection", "close")]))
    with connect() as s:
        s.connect((HOST, PORT))
        s.sendall(reqs)
        raw = read_to_eof(s)
    status, fields, rest = split_response(raw)
    eq(status, "HTTP/1.1 200 OK", "first status")
    body, _, rest = parse_chunked(rest)
    eq(body, b"abcd", "first body")
    status, fields, rest = split_response(rest)
    eq(field_values(fields, "Content-Length"), ["3"], "second Content-Length")
    eq(rest[:3], b"xyz", "second body")
    status, fields, rest = split_response(rest[3:])
    eq(status, "HTTP/1.1 204 No Content", "third status")
    status, fields, rest = split_response(rest)
    eq(field_values(fields, "Connection"), ["close"], "fourth Connection")
    body, _, rest = parse_chunked(rest)
    eq((body, rest), (b"end", b""), "fourth body then EOF")


def py11_pre_each():
    c = conn()
    _, body = get(c, "/?parts=ab,cd,ef&pre=2&delay-ms=2&tag=p8")
    eq(body, b"abcdef", "parts sent before each()")
    c.close()
    log_has("p8", "sends=queued,queued,written,", "reason=completed")


# --- trailers -----------------------------------------------------------------------------------

def raw_trailers_chunked():
    spec = "3,4,,hello"
    raw = raw_exchange(PORT, "/?parts=%s&trailers=1&delay-ms=2&tag=t1" % spec)
    _, fields, rest = split_response(raw)
    eq(field_values(fields, "Trailer"), ["X-Checksum, X-Count"], "Trailer declaration")
    body, trailers, after = parse_chunked(rest)
    eq(body, expected_body(spec), "body")
    eq(trailers, [("X-Checksum", fnv1a(expected_body(spec))), ("X-Count", "3")], "trailers")
    eq(after, b"", "bytes after the message")
    log_has("t1", "close=ok", "reason=completed")
    # http.client discards trailers; it must still decode the body and reuse the connection.
    c = conn()
    _, body = get(c, "/?parts=%s&trailers=1" % spec)
    eq(body, expected_body(spec), "http.client body with trailers")
    sock = c.sock
    _, body = get(c, "/?parts=z")
    check(c.sock is sock and body == b"z", "connection not reusable after trailers")
    c.close()


def raw_trailers_dropped_http10():
    raw = raw_exchange(PORT, "/?parts=abc&trailers=1&tag=t2", version="1.0")
    _, fields, rest = split_response(raw)
    eq(field_values(fields, "Transfer-Encoding"), [], "no chunking on HTTP/1.0")
    eq(rest, b"abc", "close-delimited body, no trailer bytes")
    check(b"X-Checksum:" not in raw and b"X-Count:" not in raw, "a trailer reached the client")
    log_has("t2", "framing=close-delimited", "close=trailers_dropped", "reason=completed")


def raw_trailers_dropped_fixed():
    raw = raw_exchange(PORT, "/?cl=3&parts=abc&trailers=1&tag=t3")
    _, fields, rest = split_response(raw)
    eq(rest, b"abc", "fixed body, no trailer bytes")
    check(b"X-Checksum:" not in raw, "a trailer reached the client")
    log_has("t3", "framing=fixed", "close=trailers_dropped", "reason=completed")


def raw_trailers_forbidden():
    raw = raw_exchange(PORT, "/?parts=abc&trailers=bad&tag=t4")
    _, _, rest = split_response(raw)
    eq(rest, b"3\r\nabc\r\n0\r\n\r\n", "refused trailer not sent, body still ends")
    log_has("t4", "close=invalid_trailer,ok", "reason=completed")


# --- Content-Length enforcement -----------------------------------------------------------------

def raw_over():
    raw = raw_exchange(PORT, "/?cl=5&parts=abc,defgh,de&over=1&tag=o1")
    _, fields, rest = split_response(raw)
    eq(field_values(fields, "Content-Length"), ["5"], "Content-Length")
    eq(rest, b"abcde", "exactly Content-Length bytes, nothing after")
    log_has("o1", "sends=written,length_exceeded,written,length_exceeded,", "reason=completed")
    c = conn()
    _, body = get(c, "/?cl=5&parts=abc,defgh,de&over=1")
    eq(body, b"abcde", "http.client body")
    r, body = get(c, "/?parts=next")  # stray bytes would corrupt this response
    eq((r.status, body), (200, b"next"), "response after an over-long attempt")
    c.close()


def py_short(version):
    def case():
        tag = "s%d" % version
        c = conn(version)
        c.request("GET", "/?cl=10&parts=abc&short=1&tag=" + tag)
        r = c.getresponse()
        eq(r.getheader("Content-Length"), "10", "Content-Length")
        try:
            data = r.read()
        except http.client.IncompleteRead as e:
            eq(e.partial, b"abc", "partial body")
        else:
            raise AssertionError("truncated body read as complete: %r" % data)
        c.close()
        log_has(tag, "reason=truncated", "keep_alive=0")
    return case


def py_abort_chunked():
    c = conn()
    c.request("GET", "/?parts=abc,def&delay-ms=2&abort=1&tag=a1")
    r = c.getresponse()
    try:
        data = r.read()
    except (http.client.IncompleteRead, http.client.HTTPException, ConnectionError):
        pass
    else:
        raise AssertionError("aborted chunked body read as complete: %r" % data)
    c.close()
    log_has("a1", "reason=aborted", "keep_alive=0")


# --- HTTP/1.0 -----------------------------------------------------------------------------------

def py10_close_delimited():
    c = conn(10)
    r, body = get(c, "/?parts=3,,4&delay-ms=3&tag=h1")
    eq(r.version, 11, "status line version (rill always answers HTTP/1.1)")
    eq(r.getheader("Connection"), "close", "Connection")
    eq(r.getheader("Transfer-Encoding"), None, "Transfer-Encoding")
    eq(r.getheader("Content-Length"), None, "Content-Length")
    eq(r.will_close, True, "will_close")
    eq(body, expected_body("3,,4"), "body")
    c.close()
    log_has("h1", "version=1.0", "framing=close-delimited", "keep_alive=0")


def py10_keepalive_unknown_length():
    c = conn(10)
    r, body = get(c, "/?parts=abc&tag=h2", headers={"Connection": "keep-alive"})
    eq(r.getheader("Connection"), "close", "unknown length cannot stay alive on HTTP/1.0")
    eq(r.will_close, True, "will_close")
    eq(body, b"abc", "body")
    c.close()
    log_has("h2", "framing=close-delimited", "keep_alive=0")


def py10_keepalive_fixed():
    c = conn(10)
    r, body = get(c, "/?cl=3&parts=abc&tag=h3", headers={"Connection": "keep-alive"})
    eq(r.getheader("Connection"), "keep-alive", "Connection")
    eq(r.will_close, False, "will_close")
    eq(body, b"abc", "body")
    sock = c.sock
    r, body = get(c, "/?status=204", headers={"Connection": "keep-alive"})
    eq((r.status, r.getheader("Connection"), body), (204, "keep-alive", b""), "204 on HTTP/1.0 keep-alive")
    r, body = get(c, "/?cl=2&parts=ok", headers={"Connection": "keep-alive"})
    check(c.sock is sock, "HTTP/1.0 keep-alive connection was not reused")
    eq(body, b"ok", "third body")
    c.close()
    log_has("h3", "version=1.0", "framing=fixed", "keep_alive=1")


def py10_fixed_no_keepalive():
    c = conn(10)
    r, body = get(c, "/?cl=3&parts=abc&tag=h4")
    eq((r.getheader("Connection"), r.will_close, body), ("close", True, b"abc"), "HTTP/1.0 fixed")
    c.close()
    log_has("h4", "framing=fixed", "keep_alive=0")


def py10_head_and_304():
    c = conn(10)
    r, body = get(c, "/?parts=abc", method="HEAD")
    eq((r.getheader("Connection"), r.getheader("Transfer-Encoding"), body), ("close", None, b""),
       "HEAD on 1.0: never chunked")
    c.close()
    c = conn(10)
    r, body = get(c, "/?status=304&parts=abc")
    eq((r.status, r.getheader("Connection"), body), (304, "close", b""), "304 on 1.0")
    c.close()


# --- refused heads ------------------------------------------------------------------------------

def raw_inject():
    raw = raw_exchange(PORT, "/?inject=1&tag=i1")
    check(b"X-Injected" not in raw and b"x-injected" not in raw.lower(), "injected header reached the client")
    status, fields, rest = split_response(raw)
    eq(status, "HTTP/1.1 500 Internal Server Error", "status")
    eq(rest, b"refused: invalid_field_value\n", "body")
    line = log_has("i1", "head=invalid_field_value,invalid_field_name,ok,")
    check("LEAKED" not in line, "a refused head left bytes behind: " + line)
    c = conn()
    r, body = get(c, "/?inject=1")
    eq(r.status, 500, "http.client status")
    eq(r.getheader("X-Injected"), None, "X-Injected header")
    c.close()


def raw_bad(kind, expected):
    def case():
        tag = "b-" + kind
        raw = raw_exchange(PORT, "/?bad=%s&tag=%s" % (kind, tag))
        check(b"X-Injected" not in raw, "injected header reached the client")
        status, _, rest = split_response(raw)
        eq(status, "HTTP/1.1 500 Internal Server Error", "status")
        eq(rest, ("refused: %s\n" % expected).encode(), "body")
        line = log_has(tag, "head=%s,ok," % expected)
        check("LEAKED" not in line, "a refused head left bytes behind: " + line)
    return case


def raw_cl_on_204():
    raw = raw_exchange(PORT, "/?status=204&cl=0&tag=b-204")
    eq(split_response(raw)[0], "HTTP/1.1 500 Internal Server Error", "status")
    log_has("b-204", "head=content_length_forbidden,ok,")


CASES = [
    ("py11_chunked_keepalive", py11_chunked_keepalive),
    ("py11_fixed", py11_fixed),
    ("py11_empty_sends", py11_empty_sends),
    ("raw_empty_sends_never_end_chunked", raw_empty_sends_never_end_chunked),
    ("py11_request_close", py11_request_close),
    ("py11_app_close", py11_app_close),
    ("py11_head", py11_head),
    ("py11_204", py_no_body_status(204)),
    ("py11_304", py_no_body_status(304)),
    ("py11_status_404_500_201", py11_status_404_500),
    ("py11_large_backpressure", py11_large_backpressure),
    ("raw_pipelined", raw_pipelined),
    ("py11_pre_each", py11_pre_each),
    ("raw_trailers_chunked", raw_trailers_chunked),
    ("raw_trailers_dropped_http10", raw_trailers_dropped_http10),
    ("raw_trailers_dropped_fixed", raw_trailers_dropped_fixed),
    ("raw_trailers_forbidden", raw_trailers_forbidden),
    ("raw_over", raw_over),
    ("py11_short", py_short(11)),
    ("py10_short", py_short(10)),
    ("py_abort_chunked", py_abort_chunked),
    ("py10_close_delimited", py10_close_delimited),
    ("py10_keepalive_unknown_length", py10_keepalive_unknown_length),
    ("py10_keepalive_fixed", py10_keepalive_fixed),
    ("py10_fixed_no_keepalive", py10_fixed_no_keepalive),
    ("py10_head_and_304", py10_head_and_304),
    ("raw_inject", raw_inject),
    ("raw_bad_te", raw_bad("te", "transfer_encoding_set")),
    ("raw_bad_cl_dup", raw_bad("cl-dup", "invalid_content_length")),
    ("raw_bad_cl_sign", raw_bad("cl-bad", "invalid_content_length")),
    ("raw_bad_cl_204", raw_bad("cl-204", "content_length_forbidden")),
    ("raw_bad_status", raw_bad("status", "invalid_status")),
    ("raw_bad_reason", raw_bad("reason", "invalid_reason")),
    ("raw_bad_leading_ws", raw_bad("lead-ws", "invalid_field_value")),
    ("raw_bad_nul", raw_bad("nul", "invalid_field_value")),
    ("raw_cl_on_204", raw_cl_on_204),
]

# Reproductions of library defects, run with --repro (not by ctest): each fails while the
# defect is there.
REPRO_CASES = [
    ("repro_app_keepalive_vs_request_close", repro_app_keepalive_vs_request_close),
]


def main():
    global PORT
    args = sys.argv[1:]
    cases = CASES
    if args and args[-1] == "--repro":
        cases = REPRO_CASES
        args = args[:-1]
    if len(args) != 1:
        print("usage: wire_python.py PATH/TO/rill_wire_server [--repro]", file=sys.stderr)
        return 2
    proc, PORT = start_server(args[0])
    failures = 0
    started = time.monotonic()
    try:
        for name, fn in cases:
            try:
                fn()
                print("ok   %s" % name)
            except Exception as e:  # one failing case must not hide the others
                failures += 1
                print("FAIL %s: %s" % (name, e))
                traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
    finally:
        rc = stop_server(proc)
    if rc != 0:
        failures += 1
        print("FAIL server exit status %r" % rc)
    print("%d cases, %d failed, %.1f s" % (len(cases), failures, time.monotonic() - started))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
