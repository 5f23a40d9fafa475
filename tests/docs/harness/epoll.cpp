// Harness for docs/backpressure.md, "epoll": drives the documented rearm() and
// on_event() with a real epoll instance over a socketpair with 4 KiB buffers.
// Checks: a body whose parts filled the socket completes once the loop calls
// flush() on EPOLLOUT (every chunk arrives, in order); an idle socket with nothing
// queued is not armed for EPOLLOUT (no wake-ups); a peer that leaves while the
// stream is idle is noticed through EPOLLRDHUP (on_close(peer_closed), once).

// @SNIPPET_INCLUDES@

#include <cassert>
#include <chrono>
#include <cstdio>
#include <string>

#include "support.hpp"

// @SNIPPET@

namespace {

const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

struct Ended {
    int calls = 0;
    rill::CloseReason reason = rill::CloseReason::completed;
};

void add(int ep, int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    const int rc = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    assert(rc == 0);
    (void)rc;
}

// One turn of the loop: wait up to `timeout_ms`, hand every event to on_event(). Returns the count.
int turn(int ep, Body& body, int timeout_ms) {
    epoll_event evs[4];
    const int n = ::epoll_wait(ep, evs, 4, timeout_ms);
    for (int i = 0; i < n; ++i) on_event(ep, evs[i].data.fd, evs[i].events, body);
    return n < 0 ? 0 : n;
}

void slow_reader_completes() {
    docs::SocketPair pair;
    const int ep = ::epoll_create1(0);
    assert(ep >= 0);
    add(ep, pair.writer);
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    Ended ended;
    body->on_close([&ended](rill::CloseReason r) {
        ++ended.calls;
        ended.reason = r;
    });
    body->each(rill::PosixSocketSink(pair.writer));
    assert(body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200)) == rill::HeadStatus::ok);

    std::string expected;
    bool full = false;
    for (int i = 0; i < 300; ++i) {
        std::string part(200, static_cast<char>('a' + i % 26));
        expected += part;
        const rill::SendStatus st = body->send(std::move(part));
        full = full || st != rill::SendStatus::written;
    }
    assert(full);  // the socket filled: the rest waits in the queue
    body->close();
    rearm(ep, pair.writer, *body);  // "after a send() ... answers anything but written, re-arm"
    assert(body->bytes_queued() != 0 && body->state() == rill::BodyState::closing);

    std::string wire;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int round = 0; round < 100000 && ended.calls == 0 && std::chrono::steady_clock::now() < deadline;
         ++round) {
        wire += docs::read_some(pair.reader, 1000);  // the client reads slowly
        (void)turn(ep, *body, 10);
    }
    wire += docs::read_some(pair.reader, 1u << 20);
    assert(ended.calls == 1 && ended.reason == rill::CloseReason::completed);
    const docs::Chunked got = docs::parse_chunked(wire);
    assert(got.head == head && got.complete && got.chunks.size() == 300);
    std::string joined;
    for (const std::string& c : got.chunks) joined += c;
    assert(joined == expected);
    ::close(ep);
    std::printf("epoll: slow reader got %zu bytes, body completed\n", wire.size());
}

void idle_peer_leaves() {
    docs::SocketPair pair;
    const int ep = ::epoll_create1(0);
    assert(ep >= 0);
    add(ep, pair.writer);
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    Ended ended;
    body->on_close([&ended](rill::CloseReason r) {
        ++ended.calls;
        ended.reason = r;
    });
    body->each(rill::PosixSocketSink(pair.writer));
    assert(body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    assert(body->send("first") == rill::SendStatus::written);
    rearm(ep, pair.writer, *body);
    // Nothing queued: EPOLLOUT is not armed, so an idle, writable socket does not wake the loop.
    assert(turn(ep, *body, 50) == 0);
    const std::string got = docs::read_some(pair.reader, 4096);
    assert(got == head + "5\r\nfirst\r\n");

    ::shutdown(pair.reader, SHUT_RDWR);  // the client goes away while the stream is idle
    for (int round = 0; round < 100 && ended.calls == 0; ++round) (void)turn(ep, *body, 10);
    assert(ended.calls == 1 && ended.reason == rill::CloseReason::peer_closed);
    assert(body->send("late") == rill::SendStatus::closed);
    ::close(ep);
    std::puts("epoll: idle peer's departure seen through EPOLLRDHUP");
}

}  // namespace

int main() {
    slow_reader_completes();
    idle_peer_leaves();
    return 0;
}
