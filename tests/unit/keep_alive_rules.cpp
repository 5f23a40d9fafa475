// Every framing row and keep-alive rule of docs/http.md (RFC 9112 sections 6.1, 6.3
// and 9.3; RFC 9110 sections 6.4.1, 9.3.6, 15.3.6), one table row per case. The
// expected head bytes, framing and persistence are written out here from the RFC
// and the docs' tables: nothing in this file asks rill what the answer should be.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Row {
    const char* what;
    rill::Request request;
    int status;
    std::vector<std::pair<const char*, const char*>> fields;
    const char* head;  // the exact bytes on the wire
    rill::Framing framing;
    std::uint64_t length;  // with Framing::fixed
    bool persistent;
};

using F = rill::Framing;

const Row rows[] = {
    // Row 5: HTTP/1.1, no Content-Length: chunked, persistent, nothing else said.
    {"1.1 GET, unknown length", {"GET", 1, "", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", F::chunked, 0, true},
    {"1.1 POST is no tunnel", {"POST", 1, "", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", F::chunked, 0, true},
    {"1.1 keep-alive asked: still nothing said", {"GET", 1, "keep-alive", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", F::chunked, 0, true},
    // Row 4: Content-Length: exactly N bytes.
    {"1.1 GET, Content-Length", {"GET", 1, "", ""}, 200, {{"Content-Length", "7"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", F::fixed, 7, true},
    // RFC 9112 9.3: the request's close token ends persistence, wherever it is in the list.
    {"1.1 Connection: close", {"GET", 1, "close", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", F::chunked, 0, false},
    {"1.1 close after another token", {"GET", 1, "upgrade, close", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", F::chunked, 0, false},
    {"1.1 close after a tab", {"GET", 1, "keep-alive,\tClose", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", F::chunked, 0, false},
    // HTTP/1.0: persistent only with keep-alive and without close, and only when self-delimited.
    {"1.0 with a length, no keep-alive", {"GET", 0, "", ""}, 200, {{"Content-Length", "5"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", F::fixed, 5, false},
    {"1.0 keep-alive with a length", {"GET", 0, "keep-alive", ""}, 200, {{"Content-Length", "5"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n", F::fixed, 5, true},
    {"1.0 Keep-Alive in another case", {"GET", 0, "Keep-Alive", ""}, 200, {{"Content-Length", "5"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n", F::fixed, 5, true},
    {"1.0 keep-alive, close: close wins", {"GET", 0, "keep-alive, close", ""}, 200, {{"Content-Length", "5"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", F::fixed, 5, false},
    {"1.0 close, keep-alive: close wins", {"GET", 0, "close, keep-alive", ""}, 200, {{"Content-Length", "5"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", F::fixed, 5, false},
    // Row 6: HTTP/1.0 without a length: close-delimited, never persistent.
    {"1.0 unknown length", {"GET", 0, "", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", F::close_delimited, 0, false},
    {"1.0 keep-alive, unknown length", {"GET", 0, "keep-alive", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", F::close_delimited, 0, false},
    // The application's Connection header: rill owns close and keep-alive, other tokens stay.
    {"app says close", {"GET", 1, "", ""}, 200, {{"Connection", "close"}},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", F::chunked, 0, false},
    {"app says close, then another Connection header", {"GET", 1, "", ""}, 200,
     {{"Connection", "close"}, {"Connection", "x-private"}},
     "HTTP/1.1 200 OK\r\nConnection: x-private\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
     F::chunked, 0, false},
    {"app keep-alive is not repeated on 1.1", {"GET", 1, "", ""}, 200, {{"Connection", "keep-alive"}},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", F::chunked, 0, true},
    {"app keep-alive cannot undo the request's close", {"GET", 1, "close", ""}, 200,
     {{"Connection", "keep-alive"}},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", F::chunked, 0, false},
    {"1.0 keep-alive said once", {"GET", 0, "keep-alive", ""}, 200,
     {{"Connection", "keep-alive"}, {"Content-Length", "0"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", F::fixed, 0, true},
    // Row 1: HEAD. The framing header a GET would carry, no body (RFC 9110 9.3.2).
    {"1.1 HEAD, unknown length", {"HEAD", 1, "", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", F::none, 0, true},
    {"1.1 HEAD with a length", {"HEAD", 1, "", ""}, 200, {{"Content-Length", "10"}},
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", F::none, 0, true},
    {"1.0 HEAD, unknown length", {"HEAD", 0, "", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", F::none, 0, false},
    {"1.0 keep-alive HEAD: no body, so persistent", {"HEAD", 0, "keep-alive", ""}, 200, {},
     "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", F::none, 0, true},
    // RFC 9112 6.1: no Transfer-Encoding in a 1xx, 204 or 304, HEAD or not.
    {"HEAD answered 204", {"HEAD", 1, "", ""}, 204, {},
     "HTTP/1.1 204 No Content\r\n\r\n", F::none, 0, true},
    {"HEAD answered 304", {"HEAD", 1, "", ""}, 304, {},
     "HTTP/1.1 304 Not Modified\r\n\r\n", F::none, 0, true},
    // Row 2: 204 and 304 have no body.
    {"204", {"GET", 1, "", ""}, 204, {}, "HTTP/1.1 204 No Content\r\n\r\n", F::none, 0, true},
    {"304", {"GET", 1, "", ""}, 304, {}, "HTTP/1.1 304 Not Modified\r\n\r\n", F::none, 0, true},
    {"304 keeps its Content-Length", {"GET", 1, "", ""}, 304, {{"Content-Length", "42"}},
     "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n", F::none, 0, true},
    {"1.0 client, 204", {"GET", 0, "", ""}, 204, {},
     "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", F::none, 0, false},
    // Row 3c: 205 says it has no content (RFC 9110 15.3.6).
    {"205", {"GET", 1, "", ""}, 205, {},
     "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", F::fixed, 0, true},
    {"205 with its own Content-Length: 0", {"GET", 1, "", ""}, 205, {{"Content-Length", "0"}},
     "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", F::fixed, 0, true},
    // Row 3b: a 2xx to CONNECT is a tunnel; anything else to CONNECT is an ordinary response.
    {"CONNECT 200", {"CONNECT", 1, "", ""}, 200, {}, "HTTP/1.1 200 OK\r\n\r\n", F::none, 0, false},
    {"CONNECT 205 is a tunnel too", {"CONNECT", 1, "", ""}, 205, {},
     "HTTP/1.1 205 Reset Content\r\n\r\n", F::none, 0, false},
    {"CONNECT 299", {"CONNECT", 1, "", ""}, 299, {}, "HTTP/1.1 299 \r\n\r\n", F::none, 0, false},
    {"CONNECT refused with 300", {"CONNECT", 1, "", ""}, 300, {},
     "HTTP/1.1 300 Multiple Choices\r\nTransfer-Encoding: chunked\r\n\r\n", F::chunked, 0, true},
    {"CONNECT refused with 407", {"CONNECT", 1, "", ""}, 407, {{"Content-Length", "0"}},
     "HTTP/1.1 407 \r\nContent-Length: 0\r\n\r\n", F::fixed, 0, true},
    // Row 3: 101 hands the connection over; no Connection: close next to its upgrade.
    {"101", {"GET", 1, "Upgrade", "websocket"}, 101, {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}},
     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", F::none, 0, false},
    // The status line: three digits, the reason RFC 9110 gives, or the application's.
    {"413 is Content Too Large (RFC 9110)", {"GET", 1, "", ""}, 413, {{"Content-Length", "0"}},
     "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n", F::fixed, 0, true},
    {"422 is Unprocessable Content (RFC 9110)", {"GET", 1, "", ""}, 422, {{"Content-Length", "0"}},
     "HTTP/1.1 422 Unprocessable Content\r\nContent-Length: 0\r\n\r\n", F::fixed, 0, true},
    {"599", {"GET", 1, "", ""}, 599, {{"Content-Length", "0"}},
     "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n", F::fixed, 0, true},
};

rill::ResponseHead make_head(const Row& row) {
    rill::ResponseHead head(row.status);
    for (const auto& f : row.fields) head.header(f.first, f.second);
    return head;
}

}  // namespace

TEST_CASE("every framing row and keep-alive rule gives the head bytes and plan the RFC tables say") {
    for (const Row& row : rows) {
        CAPTURE(row.what);
        const rill::PreparedHead p = rill::prepare_head(row.request, make_head(row));
        REQUIRE(p.status == rill::HeadStatus::ok);
        CHECK(p.bytes == row.head);
        CHECK(p.plan.framing == row.framing);
        if (row.framing == F::fixed) CHECK(p.plan.content_length == row.length);
        CHECK(p.plan.persistent == row.persistent);
    }
}

TEST_CASE("a reason phrase given by the application is the one sent") {
    const rill::PreparedHead p = rill::prepare_head(
        rill::Request{"GET", 1, "", ""}, rill::ResponseHead(200, "Fine Thanks").header("Content-Length", "0"));
    REQUIRE(p.status == rill::HeadStatus::ok);
    CHECK(p.bytes == "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n");
    CHECK(rill::ResponseHead(404, "Nope").reason() == "Nope");
    CHECK(rill::ResponseHead(404).reason() == "Not Found");
}

TEST_CASE("a body follows its plan to the end: keep_alive() only after a completed persistent body") {
    for (const Row& row : rows) {
        CAPTURE(row.what);
        rill::StringSink wire;
        auto body = rill::make_deferred_body<rill::StringSink>();
        body->each(wire);
        REQUIRE(body->respond(row.request, make_head(row)) == rill::HeadStatus::ok);
        CHECK(body->framing() == row.framing);
        if (row.framing == F::fixed && row.length != 0) {
            CHECK(body->state() == rill::BodyState::open);
            CHECK(body->send(std::string(row.length, 'x')) == rill::SendStatus::written);
        }
        // A response that cannot carry a body, and a zero length, end with the head.
        if (row.framing == F::none || (row.framing == F::fixed && row.length == 0)) {
            CHECK(body->state() == rill::BodyState::closed);
            CHECK(body->send("x") != rill::SendStatus::written);
        }
        (void)body->close();
        REQUIRE(body->state() == rill::BodyState::closed);
        CHECK(body->close_reason() == rill::CloseReason::completed);
        // A tunnel or 101 hands the connection over: never reused for HTTP.
        CHECK(body->keep_alive() == row.persistent);
        CHECK(wire.str().compare(0, std::string(row.head).size(), row.head) == 0);
    }
}
