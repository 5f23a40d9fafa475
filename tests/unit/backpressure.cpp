// Watermarks, overflow policies and on_drain against a reader that stops, and
// sinks that take less than they are offered. Every loop is bounded in
// iterations and time.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <rill/rill.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_chunked_decoder.hpp"

namespace {

using rill::test::chunk_of;
using rill::test::random_bytes;

using Clock = std::chrono::steady_clock;

class SocketPairFds {
public:
    explicit SocketPairFds(int sndbuf) {
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_) == 0);
        REQUIRE(::setsockopt(fds_[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
        const int flags = ::fcntl(fds_[0], F_GETFL, 0);
        REQUIRE(::fcntl(fds_[0], F_SETFL, flags | O_NONBLOCK) == 0);
    }
    ~SocketPairFds() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    SocketPairFds(const SocketPairFds&) = delete;
    SocketPairFds& operator=(const SocketPairFds&) = delete;

    int writer() const noexcept { return fds_[0]; }
    int reader() const noexcept { return fds_[1]; }

private:
    int fds_[2] = {-1, -1};
};

const char* const chunked_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string expected_wire(const std::vector<std::string>& parts) {
    std::string out = chunked_head;
    for (const std::string& p : parts) out += chunk_of(p);
    out += "0\r\n\r\n";
    return out;
}

void check_decodes_to(const std::string& wire, const std::vector<std::string>& parts) {
    const std::string head = chunked_head;
    REQUIRE(wire.compare(0, head.size(), head) == 0);
    std::string body;
    std::string error;
    std::vector<std::pair<std::string, std::string>> trailers;
    const bool ok = rill::test::decode_chunked(std::string_view(wire).substr(head.size()), body, trailers, error);
    INFO("decoder: " << error);
    CHECK(ok);
    std::string joined;
    for (const std::string& p : parts) joined += p;
    CHECK(body == joined);
}

// Reads whatever is there without blocking; false on EOF.
bool read_available(int fd, std::string& out) {
    char buf[65536];
    for (int i = 0; i < 10'000; ++i) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
            out.append(buf, static_cast<std::size_t>(r));
            continue;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
        return true;
    }
    return true;
}

using SocketBody = rill::DeferredBody<rill::PosixSocketSink>;

struct DrainLog {
    int drains = 0;
    std::size_t queued_at_drain = 0;
    int on_close_calls = 0;
    rill::CloseReason reason = rill::CloseReason::aborted;
};

std::shared_ptr<SocketBody> make_socket_body(int fd, rill::BodyOptions options, DrainLog& log) {
    auto body = rill::make_deferred_body<rill::PosixSocketSink>(options);
    SocketBody* raw = body.get();
    body->on_drain([raw, &log] {
        ++log.drains;
        log.queued_at_drain = raw->bytes_queued();
    });
    body->on_close([&log](rill::CloseReason r) {
        ++log.on_close_calls;
        log.reason = r;
    });
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(rill::PosixSocketSink(fd));
    return body;
}

// The reader comes back: it reads everything, the server flushes on POLLOUT.
// After each flush that leaves the queue under low-water, on_drain must already
// have fired (once), so a late or repeated drain is caught where it happens.
void resume_reader_and_finish(SocketBody& body, const SocketPairFds& fds, const DrainLog& log,
                              int drains_expected, std::string& got) {
    const std::size_t low = body.options().low_water;
    bool closed = false;
    bool eof = false;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (int iter = 0; iter < 1'000'000 && !eof; ++iter) {
        REQUIRE(Clock::now() < deadline);
        pollfd p[2] = {{fds.writer(), static_cast<short>(body.bytes_queued() != 0 ? POLLOUT : 0), 0},
                       {fds.reader(), POLLIN, 0}};
        REQUIRE(::poll(p, 2, 200) >= 0);
        if (p[1].revents & (POLLIN | POLLHUP)) eof = !read_available(fds.reader(), got);
        if (p[0].revents & POLLOUT) {
            body.flush();
            if (body.bytes_queued() < low) CHECK(log.drains == drains_expected);
        }
        if (body.bytes_queued() == 0 && !closed) {
            REQUIRE(body.close() == rill::CloseStatus::ok);
            closed = true;
        }
        if (log.on_close_calls != 0 && closed) ::shutdown(fds.writer(), SHUT_WR);
    }
    REQUIRE(eof);
    CHECK(log.drains == drains_expected);
    CHECK(log.queued_at_drain < low);
    CHECK(log.on_close_calls == 1);
    CHECK(log.reason == rill::CloseReason::completed);
}

}  // namespace

TEST_CASE("under OverflowPolicy::reject a stalled reader never lets bytes_queued exceed high_water plus one framed part") {
    SocketPairFds fds(8192);
    rill::BodyOptions options;
    options.high_water = 16 * 1024;
    options.low_water = 4 * 1024;
    options.overflow = rill::OverflowPolicy::reject;
    DrainLog log;
    auto body = make_socket_body(fds.writer(), options, log);

    std::mt19937 rng(31337);
    std::uniform_int_distribution<std::size_t> size(1, 3000);
    const std::size_t largest_framed = chunk_of(std::string(3000, 'x')).size();
    std::vector<std::string> accepted;
    std::size_t max_queued = 0;
    std::size_t refused = 0;
    std::size_t refused_below_high = 0;
    std::size_t accepted_at_or_above_high = 0;
    std::size_t refused_changed_queue = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string part = random_bytes(rng, size(rng));
        const std::size_t before = body->bytes_queued();
        const rill::SendStatus st =
            (i % 2 == 0) ? body->send(std::string_view(part)) : body->send(std::string(part));
        const std::size_t after = body->bytes_queued();
        max_queued = std::max(max_queued, after);
        if (st == rill::SendStatus::would_block) {
            ++refused;
            if (before < options.high_water) ++refused_below_high;
            if (after != before) ++refused_changed_queue;
        } else {
            REQUIRE((st == rill::SendStatus::written || st == rill::SendStatus::queued ||
                     st == rill::SendStatus::backpressure));
            if (before >= options.high_water) ++accepted_at_or_above_high;
            accepted.push_back(std::move(part));
        }
        if (i % 10 == 0) body->flush();  // the server may flush; the socket takes nothing
    }
    MESSAGE("reject: max bytes_queued " << max_queued << " (high_water " << options.high_water
                                        << ", largest framed part " << largest_framed << "), "
                                        << refused << " of 5000 sends refused");
    CHECK(max_queued >= options.high_water);  // the bound was really reached...
    CHECK(max_queued < options.high_water + largest_framed);  // ...and never passed
    CHECK(refused > 4000);
    CHECK(refused_below_high == 0);
    CHECK(accepted_at_or_above_high == 0);
    CHECK(refused_changed_queue == 0);
    CHECK(log.drains == 0);  // nothing drained while the reader stalled

    std::string got;
    resume_reader_and_finish(*body, fds, log, 1, got);
    CHECK(got == expected_wire(accepted));
    check_decodes_to(got, accepted);
}

TEST_CASE("under OverflowPolicy::queue a stalled reader loses nothing and on_drain fires once the queue falls below low_water") {
    SocketPairFds fds(8192);
    rill::BodyOptions options;
    options.high_water = 16 * 1024;
    options.low_water = 4 * 1024;
    options.overflow = rill::OverflowPolicy::queue;
    DrainLog log;
    auto body = make_socket_body(fds.writer(), options, log);

    std::mt19937 rng(4711);
    std::uniform_int_distribution<std::size_t> size(1, 3000);
    std::vector<std::string> parts;
    std::size_t max_queued = 0;
    std::size_t backpressure = 0;
    std::size_t wrong_status = 0;
    for (int i = 0; i < 2000; ++i) {
        parts.push_back(random_bytes(rng, size(rng)));
        const rill::SendStatus st = (i % 2 == 0) ? body->send(std::string_view(parts.back()))
                                                 : body->send(std::string(parts.back()));
        const std::size_t after = body->bytes_queued();
        max_queued = std::max(max_queued, after);
        if (st == rill::SendStatus::backpressure) ++backpressure;
        // Above high-water every send says backpressure; at or below it never does.
        const bool over = after > options.high_water;
        if (over != (st == rill::SendStatus::backpressure)) ++wrong_status;
        REQUIRE(st != rill::SendStatus::would_block);
        REQUIRE(st != rill::SendStatus::closed);
        if (i % 10 == 0) body->flush();
    }
    MESSAGE("queue: max bytes_queued " << max_queued << " after 2000 sends, " << backpressure
                                       << " answered backpressure");
    CHECK(backpressure > 1000);
    CHECK(wrong_status == 0);
    CHECK(max_queued > 1'000'000);  // nothing was refused: the queue holds almost everything
    CHECK(log.drains == 0);

    std::string got;
    resume_reader_and_finish(*body, fds, log, 1, got);
    CHECK(got == expected_wire(parts));
    check_decodes_to(got, parts);
}

TEST_CASE("on_drain fires again for each new episode of backpressure, never without one") {
    SocketPairFds fds(8192);
    rill::BodyOptions options;
    options.high_water = 16 * 1024;
    options.low_water = 4 * 1024;
    DrainLog log;
    auto body = make_socket_body(fds.writer(), options, log);
    std::string got;
    std::vector<std::string> parts;
    std::mt19937 rng(8);

    // Small sends that never pass high-water: no drain is promised, none fires.
    for (int i = 0; i < 20; ++i) {
        parts.push_back(random_bytes(rng, 100));
        REQUIRE(body->send(std::string_view(parts.back())) == rill::SendStatus::written);
        REQUIRE(read_available(fds.reader(), got));
        body->flush();
    }
    CHECK(log.drains == 0);

    for (int episode = 1; episode <= 3; ++episode) {
        CAPTURE(episode);
        rill::SendStatus st = rill::SendStatus::written;
        for (int i = 0; i < 1000 && st != rill::SendStatus::backpressure; ++i) {
            parts.push_back(random_bytes(rng, 2000));
            st = body->send(std::string_view(parts.back()));
        }
        REQUIRE(st == rill::SendStatus::backpressure);
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        for (int i = 0; i < 100'000 && body->bytes_queued() != 0; ++i) {
            REQUIRE(Clock::now() < deadline);
            REQUIRE(read_available(fds.reader(), got));
            pollfd p{fds.writer(), POLLOUT, 0};
            REQUIRE(::poll(&p, 1, 100) >= 0);
            body->flush();
            if (body->bytes_queued() >= options.low_water) CHECK(log.drains == episode - 1);
        }
        CHECK(log.drains == episode);
        CHECK(log.queued_at_drain < options.low_water);
    }
    REQUIRE(body->close() == rill::CloseStatus::ok);
    REQUIRE(log.on_close_calls == 1);
    ::shutdown(fds.writer(), SHUT_WR);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < 100'000 && read_available(fds.reader(), got); ++i) {
        REQUIRE(Clock::now() < deadline);
        pollfd p{fds.reader(), POLLIN, 0};
        ::poll(&p, 1, 100);
    }
    CHECK(got == expected_wire(parts));
}

// ---------------------------------------------------------------------------
// Sinks that take less than they are offered
// ---------------------------------------------------------------------------

namespace {

struct ScriptState {
    std::string wire;
    std::size_t calls = 0;
    // Each call pops the front decision; when the script is empty the sink takes everything.
    struct Step {
        std::size_t take;
        bool would_block;
    };
    std::vector<Step> script;
    std::size_t next = 0;
};

auto make_scripted_sink(ScriptState* state) {
    return rill::make_function_sink([state](const rill::ConstBuffer* bufs, std::size_t n) {
        ++state->calls;
        const std::size_t offered = rill::buffer_size(bufs, n);
        std::size_t take = offered;
        bool block = false;
        if (state->next < state->script.size()) {
            const ScriptState::Step step = state->script[state->next++];
            take = std::min(step.take, offered);
            block = step.would_block;
        }
        std::size_t left = take;
        for (std::size_t i = 0; i < n && left != 0; ++i) {
            const std::size_t k = std::min(left, bufs[i].size);
            state->wire.append(bufs[i].data, k);
            left -= k;
        }
        return block ? rill::WriteResult::would_block(take) : rill::WriteResult::ok(take);
    });
}

using ScriptedSink = decltype(make_scripted_sink(nullptr));

}  // namespace

TEST_CASE("a sink that stops at any byte of a chunk is resumed exactly from that byte") {
    // "a\r\n" + 10 data bytes + "\r\n": stop after k bytes for every k, on both send paths.
    const std::string part = "0123456789";
    const std::string framed = chunk_of(part);
    REQUIRE(framed.size() == 15);
    for (const bool moved : {false, true}) {
        for (const bool as_would_block : {false, true}) {
            for (std::size_t k = 0; k < framed.size(); ++k) {
                CAPTURE(moved);
                CAPTURE(as_would_block);
                CAPTURE(k);
                ScriptState script_state;
                ScriptState* state = &script_state;
                auto body = rill::make_deferred_body<ScriptedSink>();
                body->each(make_scripted_sink(state));
                REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
                REQUIRE(state->wire == chunked_head);
                // ok(0) and would_block(k) both mean "wait for flush()"; ok(k > 0) means "offer the rest now".
                state->script.push_back({k, as_would_block || k == 0});
                if (!as_would_block && k != 0) state->script.push_back({0, true});
                const rill::SendStatus st = moved ? body->send(std::string(part)) : body->send(std::string_view(part));
                CHECK(st == rill::SendStatus::queued);
                CHECK(body->bytes_queued() == framed.size() - k);
                CHECK(state->wire == std::string(chunked_head) + framed.substr(0, k));
                body->flush();
                CHECK(body->bytes_queued() == 0);
                REQUIRE(body->close() == rill::CloseStatus::ok);
                CHECK(state->wire == std::string(chunked_head) + framed + "0\r\n\r\n");
                CHECK(body->close_reason() == rill::CloseReason::completed);
            }
        }
    }
}

TEST_CASE("random short writes and would_block from a FunctionSink still give the exact byte stream") {
    for (const std::uint32_t seed : {1u, 2u, 3u, 4u}) {
        CAPTURE(seed);
        std::mt19937 rng(seed);
        ScriptState script_state;
        ScriptState* state = &script_state;
        std::uniform_int_distribution<int> kind(0, 9);
        std::uniform_int_distribution<std::size_t> amount(0, 6000);
        for (int i = 0; i < 20'000; ++i) {
            const int k = kind(rng);
            if (k < 5)
                state->script.push_back({amount(rng), false});   // short write, go on (0: stop)
            else if (k < 8)
                state->script.push_back({amount(rng), true});    // short write, then would_block
            else
                state->script.push_back({SIZE_MAX, false});      // takes everything offered
        }
        rill::BodyOptions options;
        options.high_water = 1 << 30;
        auto body = rill::make_deferred_body<ScriptedSink>(options);
        REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        body->each(make_scripted_sink(state));

        std::uniform_int_distribution<std::size_t> size(1, 5000);
        std::vector<std::string> parts;
        for (int i = 0; i < 500; ++i) {
            parts.push_back(random_bytes(rng, size(rng)));
            const rill::SendStatus st = (i % 3 == 0) ? body->send(std::string(parts.back()))
                                                     : body->send(std::string_view(parts.back()));
            REQUIRE((st == rill::SendStatus::written || st == rill::SendStatus::queued));
            if (i % 4 == 0) body->flush();
        }
        REQUIRE(body->close() == rill::CloseStatus::ok);
        for (int i = 0; i < 100'000 && body->state() != rill::BodyState::closed; ++i) body->flush();
        REQUIRE(body->state() == rill::BodyState::closed);
        CHECK(body->close_reason() == rill::CloseReason::completed);
        CHECK(state->next > 100);  // the script was really exercised
        CHECK(body->bytes_sent() == state->wire.size());
        CHECK(state->wire == expected_wire(parts));
        check_decodes_to(state->wire, parts);
    }
}

TEST_CASE("a sink that takes one byte per call gets every byte, in order, one call per byte") {
    std::string wire_bytes;
    std::size_t call_count = 0;
    std::string* wire = &wire_bytes;
    std::size_t* calls = &call_count;
    auto sink = rill::make_function_sink([wire, calls](const rill::ConstBuffer* bufs, std::size_t n) {
        ++*calls;
        for (std::size_t i = 0; i < n; ++i) {
            if (bufs[i].size != 0) {
                wire->push_back(bufs[i].data[0]);
                return rill::WriteResult::ok(1);
            }
        }
        return rill::WriteResult::ok(0);
    });
    auto body = rill::make_deferred_body<decltype(sink)>();
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(std::move(sink));

    std::mt19937 rng(77);
    std::vector<std::string> parts;
    for (int i = 0; i < 50; ++i) {
        parts.push_back(random_bytes(rng, static_cast<std::size_t>(1 + i * 37)));
        // The body keeps offering the rest while the sink makes progress: nothing queues.
        CHECK(((i % 2 == 0) ? body->send(std::string_view(parts.back())) : body->send(std::string(parts.back()))) ==
              rill::SendStatus::written);
    }
    REQUIRE(body->close() == rill::CloseStatus::ok);
    CHECK(body->close_reason() == rill::CloseReason::completed);
    CHECK(*wire == expected_wire(parts));
    CHECK(*calls == wire->size());
    CHECK(body->bytes_sent() == wire->size());
}

// ---------------------------------------------------------------------------
// The test decoder itself: it must refuse what a real client would refuse
// ---------------------------------------------------------------------------

TEST_CASE("the test chunked decoder accepts valid bodies and refuses malformed ones") {
    std::string body;
    std::string error;
    std::vector<std::pair<std::string, std::string>> trailers;
    using rill::test::decode_chunked;

    CHECK(decode_chunked("5\r\nhello\r\n1;a=b;c=\"q\\\"x\"\r\n!\r\n0\r\n\r\n", body, trailers, error));
    CHECK(body == "hello!");
    CHECK(trailers.empty());
    CHECK(decode_chunked("A\r\n0123456789\r\n0\r\nX-Sum: 1 \r\nY:\t2\r\n\r\n", body, trailers, error));
    CHECK(body == "0123456789");
    REQUIRE(trailers.size() == 2);
    CHECK(trailers[0] == std::make_pair(std::string("X-Sum"), std::string("1")));
    CHECK(trailers[1] == std::make_pair(std::string("Y"), std::string("2")));
    CHECK(decode_chunked("0\r\n\r\n", body, trailers, error));
    CHECK(body.empty());

    const char* const bad[] = {
        "",                                  // nothing at all
        "5\r\nhello\r\n",                    // no last chunk
        "5\r\nhello\r\n0\r\n",               // no final CRLF
        "5\nhello\r\n0\r\n\r\n",             // bare LF after the size
        "5\r\nhelloX\r\n0\r\n\r\n",          // data longer than declared
        "5\r\nhell\r\n0\r\n\r\n",            // data shorter than declared
        "g\r\nhello\r\n0\r\n\r\n",           // not hex
        " 5\r\nhello\r\n0\r\n\r\n",          // leading space
        "5 \r\nhello\r\n0\r\n\r\n",          // trailing space, no extension
        "5;\r\nhello\r\n0\r\n\r\n",          // empty extension name
        "5;a=\"x\r\nhello\r\n0\r\n\r\n",     // unterminated quoted string
        "10000000000000000\r\n",             // 17 hex digits: overflow
        "0\r\n\r\nX",                        // bytes after the end
        "0\r\nX-A 1\r\n\r\n",                // trailer without a colon
        "0\r\nX A: 1\r\n\r\n",               // trailer name not a token
        "0\r\n: 1\r\n\r\n",                  // empty trailer name
        "0\r\nX: a\rb\r\n\r\n",              // CR inside a trailer value
    };
    for (const char* wire : bad) {
        CAPTURE(wire);
        CHECK_FALSE(decode_chunked(wire, body, trailers, error));
        CHECK_FALSE(error.empty());
    }
}
