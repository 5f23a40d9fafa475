// Harness for docs/backpressure.md, "poll": drives the documented poll_once() over
// a socketpair with 4 KiB buffers. Checks: a body whose parts filled the socket
// completes through flush() on POLLOUT with every chunk in order; a peer that
// leaves while the stream is idle ends the body with peer_closed, once.

// @SNIPPET_INCLUDES@

#include <cassert>
#include <chrono>
#include <cstdio>
#include <string>

#include "support.hpp"

// @SNIPPET@

namespace {

const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

void slow_reader_completes() {
    docs::SocketPair pair;
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    int calls = 0;
    rill::CloseReason reason = rill::CloseReason::aborted;
    body->on_close([&](rill::CloseReason r) {
        ++calls;
        reason = r;
    });
    body->each(rill::PosixSocketSink(pair.writer));
    assert(body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    std::string expected;
    for (int i = 0; i < 300; ++i) {
        const std::string part(200, static_cast<char>('A' + i % 26));
        expected += part;
        (void)body->send(std::string_view(part));
    }
    body->close();
    assert(body->bytes_queued() != 0);  // the socket is full: the loop has work to do

    std::string wire;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int round = 0; round < 100000 && calls == 0 && std::chrono::steady_clock::now() < deadline; ++round) {
        wire += docs::read_some(pair.reader, 1000);
        poll_once(*body, pair.writer, 10);
    }
    wire += docs::read_some(pair.reader, 1u << 20);
    assert(calls == 1 && reason == rill::CloseReason::completed);
    const docs::Chunked got = docs::parse_chunked(wire);
    assert(got.head == head && got.complete && got.chunks.size() == 300);
    std::string joined;
    for (const std::string& c : got.chunks) joined += c;
    assert(joined == expected);
    std::printf("poll: slow reader got %zu bytes, body completed\n", wire.size());
}

void idle_peer_leaves() {
    docs::SocketPair pair;
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    int calls = 0;
    rill::CloseReason reason = rill::CloseReason::completed;
    body->on_close([&](rill::CloseReason r) {
        ++calls;
        reason = r;
    });
    body->each(rill::PosixSocketSink(pair.writer));
    assert(body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    assert(body->send("first") == rill::SendStatus::written);
    poll_once(*body, pair.writer, 20);  // idle: nothing queued, nothing to read
    assert(calls == 0 && body->state() == rill::BodyState::open);

    ::shutdown(pair.reader, SHUT_RDWR);
    for (int round = 0; round < 100 && calls == 0; ++round) poll_once(*body, pair.writer, 10);
    assert(calls == 1 && reason == rill::CloseReason::peer_closed);
    std::puts("poll: idle peer's departure seen through POLLRDHUP");
}

}  // namespace

int main() {
    slow_reader_completes();
    idle_peer_leaves();
    return 0;
}
