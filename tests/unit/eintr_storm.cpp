// PosixSocketSink under an EINTR storm: a thread sends the writing thread a
// signal as fast as it can, with a handler installed without SA_RESTART, so a
// blocking sendmsg() keeps returning EINTR or a short count. Every byte must
// still arrive exactly once and in order, and the body must end completed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <rill/rill.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "test_chunked_decoder.hpp"

namespace {

std::atomic<long> g_storm_signals{0};
std::atomic<long> g_signals_inside_write{0};
std::atomic<bool> g_writing{false};

extern "C" void storm_handler(int) {
    g_storm_signals.fetch_add(1, std::memory_order_relaxed);
    if (g_writing.load(std::memory_order_relaxed)) g_signals_inside_write.fetch_add(1, std::memory_order_relaxed);
}

// PosixSocketSink, marking the time spent inside write() so the test can tell
// that the signals really landed there.
class MarkedSink {
public:
    explicit MarkedSink(rill::PosixSocketSink inner) : inner_(std::move(inner)) {}
    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t count) {
        g_writing.store(true);
        const rill::WriteResult r = inner_.write(bufs, count);
        g_writing.store(false);
        return r;
    }
    void finish(rill::CloseReason reason) { inner_.finish(reason); }

private:
    rill::PosixSocketSink inner_;
};

struct StormCase {
    const char* name;
    int domain;  // AF_UNIX socketpair, or loopback TCP
};

void make_pair(int domain, int& writer, int& reader) {
    if (domain == AF_UNIX) {
        int sv[2] = {-1, -1};
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        writer = sv[0];
        reader = sv[1];
    } else {
        const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listener >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listener, 1) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        reader = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(reader >= 0);
        const int small = 4096;
        REQUIRE(::setsockopt(reader, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
        REQUIRE(::connect(reader, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        writer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        ::close(listener);
        REQUIRE(writer >= 0);
    }
    const int small = 4096;
    REQUIRE(::setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
}

}  // namespace

TEST_CASE("an EINTR storm from another thread (SIGUSR2 without SA_RESTART) loses, repeats and reorders no byte") {
    StormCase sc{"", AF_UNIX};
    SUBCASE("socketpair(AF_UNIX)") { sc = {"unix", AF_UNIX}; }
    SUBCASE("loopback TCP") { sc = {"tcp", AF_INET}; }
    CAPTURE(sc.name);

    int writer = -1, reader = -1;
    make_pair(sc.domain, writer, reader);
    const timeval recv_timeout{10, 0};
    REQUIRE(::setsockopt(reader, SOL_SOCKET, SO_RCVTIMEO, &recv_timeout, sizeof recv_timeout) == 0);

    // 600 parts, 1 byte to 16 KiB: about 5 MiB, each part a blocking write the signals cut.
    std::mt19937 rng(8080);
    std::vector<std::string> parts;
    std::string want;
    for (int i = 0; i < 600; ++i) {
        parts.push_back(rill::test::random_bytes(rng, 1 + rng() % 16384));
        want += rill::test::chunk_of(parts.back());
    }
    want += "0\r\n\r\n";

    struct sigaction sa {};
    sa.sa_handler = storm_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: an interrupted sendmsg returns EINTR (or a short count)
    struct sigaction old_sa {};
    REQUIRE(::sigaction(SIGUSR2, &sa, &old_sa) == 0);

    // Only the writer (this thread) takes the signal: the helper threads start with it blocked.
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigset_t old_mask;
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr2, &old_mask) == 0);

    std::string got;
    bool reader_failed = false;
    std::thread client([reader, &got, &reader_failed] {
        char buf[4096];
        for (int i = 0; i < 4'000'000; ++i) {
            const ssize_t r = ::recv(reader, buf, sizeof buf, 0);
            if (r == 0) return;
            if (r < 0) {
                if (errno == EINTR) continue;
                reader_failed = true;
                return;
            }
            got.append(buf, static_cast<std::size_t>(r));
            // A little slower than the writer, so that it blocks in sendmsg again and again.
            if (i % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        reader_failed = true;
    });

    std::atomic<bool> stop{false};
    const pthread_t target = ::pthread_self();
    std::thread storm([&stop, target] {
        // Bounded in count and time; a short pause now and then lets the writer make progress.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (long i = 0; i < 20'000'000 && !stop.load(); ++i) {
            if (::pthread_kill(target, SIGUSR2) != 0) return;
            if (i % 64 == 0) {
                std::this_thread::sleep_for(std::chrono::microseconds(20));
                if (std::chrono::steady_clock::now() > until) return;
            }
        }
    });
    const long before = g_storm_signals.load();
    const long inside_before = g_signals_inside_write.load();
    REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr) == 0);

    int on_close_calls = 0;
    rill::CloseReason reason = rill::CloseReason::aborted;
    auto body = rill::make_deferred_body<MarkedSink>();
    body->on_close([&](rill::CloseReason r) {
        ++on_close_calls;
        reason = r;
    });
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(MarkedSink(rill::PosixSocketSink(writer)));
    std::vector<rill::SendStatus> statuses;
    for (const std::string& p : parts) statuses.push_back(body->send(std::string_view(p)));
    const rill::CloseStatus closed = body->close();

    // Stop the storm, then take any signal still pending before the handler goes away.
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr2, nullptr) == 0);
    stop.store(true);
    storm.join();
    const timespec zero{0, 0};
    while (::sigtimedwait(&usr2, nullptr, &zero) == SIGUSR2) {
    }
    ::sigaction(SIGUSR2, &old_sa, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    const long signals = g_storm_signals.load() - before;
    const long inside = g_signals_inside_write.load() - inside_before;

    ::shutdown(writer, SHUT_WR);
    client.join();
    ::close(writer);
    ::close(reader);

    MESSAGE(std::string(sc.name) << ": " << signals << " signals, " << inside << " of them inside write()");
    REQUIRE(!reader_failed);
    // The storm really hit the writes (a blocking sendmsg with a handler and no SA_RESTART
    // returns EINTR or a short count on each of these).
    CHECK(inside >= 100);
    for (const rill::SendStatus s : statuses) CHECK(s == rill::SendStatus::written);
    CHECK(closed == rill::CloseStatus::ok);
    CHECK(on_close_calls == 1);
    CHECK(reason == rill::CloseReason::completed);
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    REQUIRE(got.size() == head.size() + want.size());
    CHECK(got.compare(0, head.size(), head) == 0);
    CHECK(got.compare(head.size(), want.size(), want) == 0);  // every byte once, in order
    CHECK(body->bytes_sent() == got.size());
}
