// Harness for docs/backpressure.md, "on_drain": the documented Source, produce() and
// start_streaming() stream 2,000 parts through a real socketpair with 4 KiB buffers
// to a reader that takes at most 700 bytes per round, under both overflow policies.
// Checks: every part arrives once, in order, as its own chunk, and the body completes;
// a part refused with would_block (reject) is kept by the producer and resent from
// on_drain, while under the queue policy the same send is kept by the body.

// @SNIPPET_INCLUDES@

#include <poll.h>

#include <cassert>
#include <chrono>
#include <cstdio>
#include <string>

#include "support.hpp"

// @SNIPPET@

namespace {

void run(rill::OverflowPolicy policy) {
    docs::SocketPair pair;
    // The socket is full before the response starts, so the head and the first parts queue.
    const std::size_t filler = docs::fill(pair.writer, 'F');
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::size_t framed = 2 + 2 + 100 + 2;  // "64\r\n", 100 bytes, CRLF

    rill::BodyOptions options;
    options.high_water = head.size() + 40 * framed;  // the 40th part lands exactly on it
    options.low_water = 1024;
    options.overflow = policy;
    auto body = rill::make_deferred_body<rill::PosixSocketSink>(options);
    bool ended = false;
    rill::CloseReason reason = rill::CloseReason::aborted;
    body->on_close([&](rill::CloseReason r) {
        ended = true;
        reason = r;
    });
    body->each(rill::PosixSocketSink(pair.writer));
    const rill::HeadStatus hs = body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200));
    assert(hs == rill::HeadStatus::ok);

    Source source;
    std::string expected;
    for (int i = 0; i < 2000; ++i) {
        std::string part = "part " + std::to_string(i) + " ";
        part.resize(100, static_cast<char>('a' + i % 26));
        expected += part;
        source.parts.push_back(part);
    }
    source.done = true;

    start_streaming(body, source);
    if (policy == rill::OverflowPolicy::reject) {
        // The 41st send was refused (would_block): not kept by the body, still the producer's.
        assert(body->bytes_queued() == options.high_water);
        assert(source.parts.size() == 2000 - 40);
    } else {
        // The 41st send was kept by the body and answered backpressure.
        assert(body->bytes_queued() == options.high_water + framed);
        assert(source.parts.size() == 2000 - 41);
    }

    std::string wire;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int round = 0; round < 1000000 && !ended && std::chrono::steady_clock::now() < deadline; ++round) {
        wire += docs::read_some(pair.reader, 700);
        pollfd p{pair.writer, POLLOUT, 0};
        if (::poll(&p, 1, 1) > 0 && (p.revents & POLLOUT) != 0) body->flush();  // the event loop's part
    }
    wire += docs::read_some(pair.reader, 1u << 24);
    assert(ended && reason == rill::CloseReason::completed);
    assert(source.parts.empty());

    assert(wire.size() > filler && wire.compare(0, filler, std::string(filler, 'F')) == 0);
    const docs::Chunked got = docs::parse_chunked(std::string_view(wire).substr(filler));
    assert(got.head == head);
    assert(got.complete);
    assert(got.chunks.size() == 2000);  // each part its own chunk: none lost, none sent twice
    std::string joined;
    for (const std::string& c : got.chunks) joined += c;
    assert(joined == expected);
    std::printf("%s: 2000 parts, %zu wire bytes after %zu filler bytes\n",
                policy == rill::OverflowPolicy::reject ? "reject" : "queue", wire.size() - filler, filler);
}

}  // namespace

int main() {
    run(rill::OverflowPolicy::queue);
    run(rill::OverflowPolicy::reject);
    return 0;
}
