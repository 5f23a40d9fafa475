// DeferredBody under injected transport faults: thousands of seeded schedules of
// peer resets, write errors, short writes and would_block, through a StringSink
// and through a PosixSocketSink on a socketpair read by another thread. The
// oracle is the test's own: the head and chunk framing it writes out itself, and
// the record the fault-injecting wrapper keeps of the bytes it let through.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <rill/rill.hpp>

#include <chrono>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fault_injection_sink.hpp"
#include "test_chunked_decoder.hpp"

namespace {

using rill::test::chunk_of;
using rill_test::FaultInjectionSink;
using rill_test::FaultLog;
using rill_test::FaultRates;

using Clock = std::chrono::steady_clock;

// What one schedule asks of the body, and the bytes a correct body must produce.
struct Scenario {
    enum class Kind { chunked, fixed, raw } kind = Kind::chunked;
    rill::BodyOptions options;
    std::vector<std::string> parts;
    bool trailers = false;
    std::size_t each_after = 0;  // parts sent before the sink arrives

    std::uint64_t total() const {
        std::uint64_t n = 0;
        for (const std::string& p : parts) n += p.size();
        return n;
    }

    // Written out here, from RFC 9112, not asked of rill.
    std::string head() const {
        switch (kind) {
            case Kind::chunked: return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            case Kind::fixed: return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total()) + "\r\n\r\n";
            case Kind::raw: return "";
        }
        return "";
    }
    std::string frame(std::string_view part) const {
        return kind == Kind::chunked ? chunk_of(part) : std::string(part);
    }
    std::string last() const {
        if (kind != Kind::chunked) return "";
        return trailers ? "0\r\nX-Checksum: abc\r\n\r\n" : "0\r\n\r\n";
    }
};

Scenario make_scenario(std::uint64_t seed, std::size_t max_parts, std::size_t max_part) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed * 2654435761u + 17u));
    Scenario s;
    s.kind = static_cast<Scenario::Kind>(rng() % 3);
    static constexpr std::size_t highs[] = {0, 64, 4096, 65536};
    static constexpr std::size_t lows[] = {0, 16, 1024, 16384};
    s.options.high_water = highs[rng() % 4];
    s.options.low_water = lows[rng() % 4];
    s.options.overflow = rng() % 2 == 0 ? rill::OverflowPolicy::queue : rill::OverflowPolicy::reject;
    const std::size_t count = 1 + rng() % max_parts;
    for (std::size_t i = 0; i < count; ++i)
        s.parts.push_back(rill::test::random_bytes(rng, 1 + rng() % max_part));
    s.trailers = rng() % 2 == 0;
    s.each_after = rng() % (count + 1);
    return s;
}

struct Result {
    std::string expected;  // what the body owed the wire, given the parts it accepted
    std::string accepted;  // the body bytes of those parts
    int on_close_calls = 0;
    rill::CloseReason on_close_reason = rill::CloseReason::completed;
    std::uint64_t bytes_sent = 0;
    bool ended = false;
    bool keep_alive = false;
};

// Plays one schedule. `wait` is what a server does while the transport is busy
// (nothing for a string; poll() for a socket) before it calls flush().
template <class Inner, class Wait>
Result play(const Scenario& sc, FaultInjectionSink<Inner> sink, Wait wait) {
    Result res;
    auto body = rill::make_deferred_body<FaultInjectionSink<Inner>>(sc.options);
    body->on_close([&res](rill::CloseReason r) {
        ++res.on_close_calls;
        res.on_close_reason = r;
    });
    bool drained = false;
    body->on_drain([&drained] { drained = true; });
    if (sc.kind != Scenario::Kind::raw) {
        rill::ResponseHead head(200);
        if (sc.kind == Scenario::Kind::fixed) head.header("Content-Length", std::to_string(sc.total()));
        REQUIRE(body->respond(rill::Request{}, head) == rill::HeadStatus::ok);
        res.expected += sc.head();
    }
    bool sink_given = false;
    auto give_sink = [&] {
        if (!sink_given) body->each(std::move(sink));
        sink_given = true;
    };
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    // Waits for the transport and flushes until `done` holds or the body ends.
    auto pump_until = [&](auto done) {
        for (int i = 0; i < 200'000 && !done() && body->state() != rill::BodyState::closed; ++i) {
            REQUIRE(Clock::now() < deadline);
            wait();
            body->flush();
        }
    };

    bool producing = true;
    for (std::size_t i = 0; i < sc.parts.size() && producing; ++i) {
        if (i == sc.each_after) give_sink();
        const std::string& part = sc.parts[i];
        for (int attempt = 0; attempt < 100'000; ++attempt) {
            if (body->state() == rill::BodyState::closed) break;
            drained = false;
            const rill::SendStatus s = body->send(std::string_view(part));
            if (s == rill::SendStatus::written || s == rill::SendStatus::queued ||
                s == rill::SendStatus::backpressure) {
                res.expected += sc.frame(part);
                res.accepted += part;
            }
            if (s == rill::SendStatus::closed) {
                // The part was taken in but the transport failed under it; or the body ended.
                if (body->close_reason() != rill::CloseReason::completed) {
                    res.expected += sc.frame(part);  // a prefix of it may have gone out
                    res.accepted += part;
                }
                producing = false;
                break;
            }
            if (s == rill::SendStatus::would_block || s == rill::SendStatus::backpressure) {
                if (!sink_given) give_sink();
                pump_until([&] { return drained; });
            }
            if (s != rill::SendStatus::would_block) break;  // rejected parts are offered again
            REQUIRE(attempt < 99'999);
        }
        if (body->state() == rill::BodyState::closed) producing = false;
    }
    give_sink();
    if (body->state() == rill::BodyState::open) {
        const rill::CloseStatus c =
            sc.trailers ? body->close(rill::Fields{{"X-Checksum", "abc"}}) : body->close();
        if (sc.kind == Scenario::Kind::chunked) REQUIRE(c == rill::CloseStatus::ok);
        if (sc.kind == Scenario::Kind::chunked) res.expected += sc.last();
    } else if (body->state() == rill::BodyState::closing && sc.kind == Scenario::Kind::chunked) {
        FAIL("the test never closed the body");
    }
    pump_until([] { return false; });
    res.ended = body->state() == rill::BodyState::closed;
    res.bytes_sent = body->bytes_sent();
    res.keep_alive = body->keep_alive();
    if (res.ended) CHECK(body->close_reason() == res.on_close_reason);
    return res;
}

bool is_prefix(std::string_view prefix, std::string_view of) {
    return prefix.size() <= of.size() && of.compare(0, prefix.size(), prefix) == 0;
}

// The checks every schedule must pass, whatever the transport.
void check_outcome(const Scenario& sc, const Result& res, const FaultLog& log, std::string_view arrived) {
    REQUIRE(res.ended);
    CHECK(res.on_close_calls == 1);
    CHECK(log.finish_calls == 1);
    REQUIRE(log.finished.has_value());
    CHECK(*log.finished == res.on_close_reason);
    CHECK(log.writes_after_fatal == 0);
    CHECK(log.empty_writes == 0);
    // What the sink took is what the body counts, and what reached the other end.
    CHECK(res.bytes_sent == log.passed.size());
    CHECK(arrived == log.passed);
    CHECK(is_prefix(log.passed, res.expected));
    if (log.fatal) {
        CHECK(res.on_close_reason ==
              (*log.fatal == rill_test::Fault::closed ? rill::CloseReason::peer_closed : rill::CloseReason::write_error));
        CHECK(!res.keep_alive);
        return;
    }
    CHECK(res.on_close_reason == rill::CloseReason::completed);
    CHECK(log.passed == res.expected);
    CHECK(res.keep_alive == (sc.kind != Scenario::Kind::raw));
    if (sc.kind == Scenario::Kind::chunked) {
        std::string decoded, error;
        std::vector<std::pair<std::string, std::string>> trailers;
        const std::string_view body_wire = std::string_view(log.passed).substr(sc.head().size());
        CHECK_MESSAGE(rill::test::decode_chunked(body_wire, decoded, trailers, error), error);
        CHECK(decoded == res.accepted);
        CHECK(trailers.size() == (sc.trailers ? 1u : 0u));
    } else if (sc.kind == Scenario::Kind::fixed) {
        CHECK(res.accepted.size() == sc.total());
    }
}

struct Tally {
    std::size_t completed = 0, peer_closed = 0, write_error = 0;
    std::size_t closed = 0, errors = 0, would_blocks = 0, short_writes = 0;
    void add(const Result& res, const FaultLog& log) {
        completed += res.on_close_reason == rill::CloseReason::completed;
        peer_closed += res.on_close_reason == rill::CloseReason::peer_closed;
        write_error += res.on_close_reason == rill::CloseReason::write_error;
        closed += log.closed;
        errors += log.errors;
        would_blocks += log.would_blocks;
        short_writes += log.short_writes;
    }
};

}  // namespace

TEST_CASE("the fault-injecting sink lets through exactly what it reports, and injects what it is told") {
    rill::StringSink inner;
    FaultRates rates;
    rates.short_write = 1000;
    FaultInjectionSink<rill::StringSink> sink(inner, 7, rates);
    const std::string a = "hello ", b = "world";
    const rill::ConstBuffer bufs[] = {rill::ConstBuffer(a), rill::ConstBuffer(b)};
    std::size_t total = 0;
    for (int i = 0; i < 50; ++i) {
        const rill::WriteResult r = sink.write(bufs, 2);
        CHECK(r.status == rill::WriteStatus::ok);
        CHECK(r.bytes < a.size() + b.size());  // a short write is short
        total += r.bytes;
    }
    CHECK(sink.log()->short_writes == 50);
    CHECK(sink.log()->passed.size() == total);
    CHECK(inner.str() == sink.log()->passed);

    FaultRates fatal;
    fatal.closed = 1000;
    FaultInjectionSink<rill::StringSink> dead(rill::StringSink{}, 7, fatal);
    CHECK(dead.write(bufs, 2).status == rill::WriteStatus::closed);
    CHECK(dead.write(bufs, 2).status == rill::WriteStatus::closed);
    CHECK(dead.log()->writes_after_fatal == 1);
}

TEST_CASE("1,800 seeded fault schedules through a StringSink: a prefix of the expected wire, on_close once with the fault's reason") {
    struct Profile {
        const char* name;
        FaultRates rates;
    };
    const Profile profiles[] = {
        {"would_block and short writes only", {0, 0, 250, 250}},
        {"rare fatal faults", {3, 3, 150, 150}},
        {"frequent fatal faults", {40, 40, 100, 100}},
    };
    Tally tally;
    std::uint64_t seed = 1;
    for (const Profile& profile : profiles) {
        for (int i = 0; i < 600; ++i, ++seed) {
            CAPTURE(profile.name);
            CAPTURE(seed);
            const Scenario sc = make_scenario(seed, 24, 3000);
            rill::StringSink inner;
            FaultInjectionSink<rill::StringSink> sink(inner, seed, profile.rates);
            const auto log = sink.log();
            const Result res = play(sc, std::move(sink), [] {});
            check_outcome(sc, res, *log, inner.str());
            tally.add(res, *log);
            if (profile.rates.closed == 0 && profile.rates.error == 0) REQUIRE(!log->fatal);
        }
    }
    // The schedules really exercised every fault and every ending.
    CHECK(tally.closed > 50);
    CHECK(tally.errors > 50);
    CHECK(tally.would_blocks > 1000);
    CHECK(tally.short_writes > 1000);
    CHECK(tally.completed > 600);
    CHECK(tally.peer_closed > 50);
    CHECK(tally.write_error > 50);
}

TEST_CASE("200 seeded fault schedules through a PosixSocketSink on a socketpair: every byte let through arrives once, in order") {
    Tally tally;
    for (std::uint64_t seed = 10'001; seed <= 10'200; ++seed) {
        CAPTURE(seed);
        int sv[2] = {-1, -1};
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        const int writer = sv[0], reader = sv[1];
        const int sndbuf = 4096;
        REQUIRE(::setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
        REQUIRE(::fcntl(writer, F_SETFL, ::fcntl(writer, F_GETFL, 0) | O_NONBLOCK) == 0);
        const timeval recv_timeout{10, 0};
        REQUIRE(::setsockopt(reader, SOL_SOCKET, SO_RCVTIMEO, &recv_timeout, sizeof recv_timeout) == 0);

        std::string arrived;
        bool reader_failed = false;
        std::thread client([reader, &arrived, &reader_failed] {
            char buf[2048];
            for (int i = 0; i < 1'000'000; ++i) {
                const ssize_t r = ::recv(reader, buf, sizeof buf, 0);
                if (r == 0) return;
                if (r < 0) {
                    if (errno == EINTR) continue;
                    reader_failed = true;
                    return;
                }
                arrived.append(buf, static_cast<std::size_t>(r));
            }
            reader_failed = true;
        });

        const Scenario sc = make_scenario(seed, 16, 20000);
        const FaultRates rates{seed % 4 == 0 ? 60u : 0u, seed % 4 == 1 ? 60u : 0u, 150, 150};
        FaultInjectionSink<rill::PosixSocketSink> sink(rill::PosixSocketSink(writer), seed, rates);
        const auto log = sink.log();
        const Result res = play(sc, std::move(sink), [writer] {
            pollfd p{writer, POLLOUT, 0};
            (void)::poll(&p, 1, 100);
        });
        // The server closes the connection once the body ended; the client reads to EOF.
        ::shutdown(writer, SHUT_WR);
        client.join();
        ::close(writer);
        ::close(reader);
        REQUIRE(!reader_failed);
        check_outcome(sc, res, *log, arrived);
        tally.add(res, *log);
    }
    CHECK(tally.completed > 50);
    CHECK(tally.peer_closed > 5);
    CHECK(tally.write_error > 5);
    CHECK(tally.would_blocks > 100);
    CHECK(tally.short_writes > 100);
}
