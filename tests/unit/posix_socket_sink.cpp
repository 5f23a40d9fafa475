// PosixSocketSink and DeferredBody over real sockets: socketpair(AF_UNIX) and
// loopback TCP with tiny buffers, non-blocking writers driven by a poll() loop,
// peers that vanish, signals that interrupt writes, and how many writes a
// burst of parts costs. Every loop here is bounded in iterations and time.

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <rill/rill.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "test_chunked_decoder.hpp"

namespace {

using rill::test::chunk_of;
using rill::test::random_bytes;

using Clock = std::chrono::steady_clock;
using SocketBody = rill::DeferredBody<rill::PosixSocketSink>;

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

struct SocketPair {
    Fd writer;
    Fd reader;
};

void set_nonblocking(int fd, bool on) {
    const int flags = ::fcntl(fd, F_GETFL, 0);
    REQUIRE(flags >= 0);
    REQUIRE(::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)) == 0);
}

void set_int_option(int fd, int level, int name, int value) {
    REQUIRE(::setsockopt(fd, level, name, &value, sizeof value) == 0);
}

SocketPair make_unix_pair(int sndbuf) {
    int sv[2] = {-1, -1};
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    SocketPair p{Fd(sv[0]), Fd(sv[1])};
    if (sndbuf > 0) set_int_option(p.writer.get(), SOL_SOCKET, SO_SNDBUF, sndbuf);
    return p;
}

// The writer is the accepted (server) side; the reader is the client, whose
// receive buffer is set before connect() so the advertised window stays small.
SocketPair make_tcp_pair(int sndbuf, int rcvbuf) {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(listener.get() >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener.get(), 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);

    Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(client.get() >= 0);
    if (rcvbuf > 0) set_int_option(client.get(), SOL_SOCKET, SO_RCVBUF, rcvbuf);
    REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(server.get() >= 0);
    if (sndbuf > 0) set_int_option(server.get(), SOL_SOCKET, SO_SNDBUF, sndbuf);
    set_int_option(server.get(), IPPROTO_TCP, TCP_NODELAY, 1);
    return SocketPair{std::move(server), std::move(client)};
}

std::size_t count_open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    std::size_t n = 0;
    while (const dirent* e = ::readdir(dir))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
    ::closedir(dir);
    return n;
}

// Puts SIGPIPE at its default disposition (terminate) and unblocked for the
// test's lifetime, so that any write path missing MSG_NOSIGNAL kills the test
// binary instead of passing quietly; the previous state is restored after.
class DefaultSigpipe {
public:
    DefaultSigpipe() {
        struct sigaction sa {};
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        REQUIRE(::sigaction(SIGPIPE, &sa, &old_action_) == 0);
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, SIGPIPE);
        REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &unblock, &old_mask_) == 0);
    }
    ~DefaultSigpipe() {
        ::sigaction(SIGPIPE, &old_action_, nullptr);
        ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    }
    DefaultSigpipe(const DefaultSigpipe&) = delete;
    DefaultSigpipe& operator=(const DefaultSigpipe&) = delete;

private:
    struct sigaction old_action_ {};
    sigset_t old_mask_{};
};

void require_sigpipe_is_fatal() {
    struct sigaction now {};
    REQUIRE(::sigaction(SIGPIPE, nullptr, &now) == 0);
    REQUIRE((now.sa_flags & SA_SIGINFO) == 0);
    REQUIRE((now.sa_handler == SIG_DFL));
    sigset_t blocked;
    REQUIRE(::pthread_sigmask(SIG_BLOCK, nullptr, &blocked) == 0);
    REQUIRE(sigismember(&blocked, SIGPIPE) == 0);
}

std::vector<std::string> random_parts(std::uint32_t seed, std::size_t count, std::size_t min_size,
                                      std::size_t max_size) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> size(min_size, max_size);
    std::vector<std::string> parts;
    parts.reserve(count);
    for (std::size_t i = 0; i < count; ++i) parts.push_back(random_bytes(rng, size(rng)));
    return parts;
}

std::string chunked_wire(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& p : parts) out += chunk_of(p);
    out += "0\r\n\r\n";
    return out;
}

std::string concat(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& p : parts) out += p;
    return out;
}

const std::string& expected_head() {
    static const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    return head;
}

// Splits the head off, checks the rest is exactly `parts` as chunks, and decodes it.
void check_chunked_stream(const std::string& received, const std::vector<std::string>& parts) {
    const std::size_t head_end = received.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    const std::string head = received.substr(0, head_end + 4);
    CHECK(head == expected_head());
    const std::string_view body_wire = std::string_view(received).substr(head_end + 4);
    const std::string expected = chunked_wire(parts);
    CHECK(body_wire.size() == expected.size());
    CHECK(body_wire == std::string_view(expected));
    std::string body;
    std::string error;
    std::vector<std::pair<std::string, std::string>> trailers;
    const bool decoded = rill::test::decode_chunked(body_wire, body, trailers, error);
    INFO("decoder: " << error);
    CHECK(decoded);
    CHECK(trailers.empty());
    CHECK(body == concat(parts));
}

// Reads up to `max` bytes if any are there; returns false on EOF.
bool read_some(int fd, std::string& out, std::size_t max) {
    char buf[65536];
    const std::size_t want = std::min(max, sizeof buf);
    for (;;) {
        const ssize_t r = ::recv(fd, buf, want, MSG_DONTWAIT);
        if (r > 0) {
            out.append(buf, static_cast<std::size_t>(r));
            return true;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
        return true;
    }
}

// Reads everything the reader has until the stream has been quiet for `quiet`.
void read_until_quiet(int fd, std::string& out, std::chrono::milliseconds quiet) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(quiet.count()));
        if (n <= 0) return;
        const std::size_t before = out.size();
        if (!read_some(fd, out, 1 << 20) || out.size() == before) return;
    }
    FAIL("reader never went quiet");
}

struct StreamOutcome {
    std::string received;
    int on_close_calls = 0;
    int finish_calls = 0;
    rill::CloseReason reason = rill::CloseReason::aborted;
    std::size_t max_queued = 0;
    std::size_t drains = 0;
    std::size_t backpressure = 0;
    std::size_t would_block = 0;
    std::uint64_t bytes_sent = 0;
    bool reader_eof = false;
};

// The producer sends the parts in order (alternately copied and moved) and
// resumes on on_drain after it stops: on backpressure under the queue policy,
// on would_block under reject (then retrying the refused part).
// The reader takes 1..max_read bytes per readiness event, so the writer keeps
// hitting EAGAIN. The writer is shut down once the body ends, so EOF ends the run.
StreamOutcome stream_through_slow_reader(SocketPair& pair, const std::vector<std::string>& parts,
                                         rill::BodyOptions options, std::uint32_t read_seed,
                                         std::size_t max_read) {
    StreamOutcome out;
    const int writer = pair.writer.get();
    const int reader = pair.reader.get();
    set_nonblocking(writer, true);

    auto body = rill::make_deferred_body<rill::PosixSocketSink>(options);
    bool blocked = false;
    body->on_close([&](rill::CloseReason r) {
        ++out.on_close_calls;
        out.reason = r;
    });
    body->on_drain([&] {
        ++out.drains;
        CHECK(body->bytes_queued() < options.low_water);
        blocked = false;
    });
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(rill::PosixSocketSink(writer, [&](rill::CloseReason) { ++out.finish_calls; }));

    std::mt19937 rng(read_seed);
    std::uniform_int_distribution<std::size_t> read_size(1, max_read);
    std::size_t next = 0;
    bool close_called = false;
    bool writer_shut = false;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (std::size_t iter = 0; iter < 4'000'000 && !out.reader_eof; ++iter) {
        REQUIRE(Clock::now() < deadline);
        while (!blocked && next < parts.size()) {
            const rill::SendStatus st = (next % 2 == 0) ? body->send(std::string_view(parts[next]))
                                                        : body->send(std::string(parts[next]));
            out.max_queued = std::max(out.max_queued, body->bytes_queued());
            if (st == rill::SendStatus::would_block) {
                ++out.would_block;
                blocked = true;
                break;
            }
            REQUIRE((st == rill::SendStatus::written || st == rill::SendStatus::queued ||
                     st == rill::SendStatus::backpressure));
            ++next;
            if (st == rill::SendStatus::backpressure) {
                ++out.backpressure;
                // Under reject the producer pushes on until refused, so the bound is tested.
                blocked = options.overflow == rill::OverflowPolicy::queue;
            }
        }
        if (next == parts.size() && !close_called) {
            REQUIRE(body->close() == rill::CloseStatus::ok);
            close_called = true;
        }
        if (out.on_close_calls != 0 && !writer_shut) {
            REQUIRE(::shutdown(writer, SHUT_WR) == 0);
            writer_shut = true;
        }
        pollfd fds[2] = {{writer, static_cast<short>(body->bytes_queued() != 0 ? POLLOUT : 0), 0},
                         {reader, POLLIN, 0}};
        const int ready = ::poll(fds, 2, 200);
        REQUIRE(ready >= 0);
        if (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) body->flush();
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
            out.reader_eof = !read_some(reader, out.received, read_size(rng));
    }
    out.bytes_sent = body->bytes_sent();
    CHECK(body->bytes_queued() == 0);
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// The sink on its own
// ---------------------------------------------------------------------------

TEST_CASE("PosixSocketSink gathers more buffers than one sendmsg iovec array holds, skipping empty ones") {
    SocketPair pair = make_unix_pair(0);
    std::mt19937 rng(7);
    std::vector<std::string> pieces;
    for (int i = 0; i < 3 * RILL_POSIX_IOV_MAX + 5; ++i)
        pieces.push_back(i % 7 == 3 ? std::string() : random_bytes(rng, static_cast<std::size_t>(1 + i % 13)));
    std::vector<rill::ConstBuffer> bufs;
    for (const std::string& p : pieces) bufs.emplace_back(p);

    rill::PosixSocketSink sink(pair.writer.get());
    const rill::WriteResult r = sink.write(bufs.data(), bufs.size());
    CHECK(r.status == rill::WriteStatus::ok);
    CHECK(r.bytes == concat(pieces).size());

    std::string got;
    read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(50));
    CHECK(got == concat(pieces));
}

TEST_CASE("PosixSocketSink on a full non-blocking socket reports exactly the bytes the kernel took") {
    SocketPair pair = make_unix_pair(8192);
    set_nonblocking(pair.writer.get(), true);
    std::mt19937 rng(11);
    std::vector<std::string> pieces;
    for (int i = 0; i < 40; ++i) pieces.push_back(random_bytes(rng, 3000 + static_cast<std::size_t>(i)));
    const std::string all = concat(pieces);
    std::vector<rill::ConstBuffer> bufs;
    for (const std::string& p : pieces) bufs.emplace_back(p);

    rill::PosixSocketSink sink(pair.writer.get());
    const rill::WriteResult first = sink.write(bufs.data(), bufs.size());
    REQUIRE(first.status == rill::WriteStatus::would_block);
    CHECK(first.bytes > 0);
    CHECK(first.bytes < all.size());

    // Resume from the reported offset, as a body would, until everything is taken.
    std::string got;
    std::size_t taken = first.bytes;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    for (int round = 0; round < 100'000 && taken < all.size(); ++round) {
        REQUIRE(Clock::now() < deadline);
        read_some(pair.reader.get(), got, 4096);
        const rill::ConstBuffer rest(all.data() + taken, all.size() - taken);
        const rill::WriteResult r = sink.write(&rest, 1);
        REQUIRE((r.status == rill::WriteStatus::ok || r.status == rill::WriteStatus::would_block));
        taken += r.bytes;
    }
    REQUIRE(taken == all.size());
    read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(50));
    CHECK(got == all);
}

TEST_CASE("PosixSocketSink answers closed with EPIPE when the peer has gone, and raises no SIGPIPE") {
    DefaultSigpipe sigpipe;
    require_sigpipe_is_fatal();
    SocketPair pair = make_unix_pair(0);
    pair.reader.reset();
    rill::PosixSocketSink sink(pair.writer.get());
    const rill::ConstBuffer b(std::string_view("hello"));
    const rill::WriteResult r = sink.write(&b, 1);
    CHECK(r.status == rill::WriteStatus::closed);
    CHECK(r.bytes == 0);
    CHECK(r.error == EPIPE);
}

TEST_CASE("with the disposition these tests run under, a plain write to a closed peer is fatal while the sink's is not") {
    // Proves the SIGPIPE checks in this file can fail: the child survives the
    // sink's write and is killed by the raw write() that lacks MSG_NOSIGNAL.
    DefaultSigpipe sigpipe;
    require_sigpipe_is_fatal();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) ::_exit(2);
        ::close(sv[1]);
        rill::PosixSocketSink sink(sv[0]);
        const rill::ConstBuffer b(std::string_view("x"));
        if (sink.write(&b, 1).status != rill::WriteStatus::closed) ::_exit(3);
        (void)!::write(sv[0], "x", 1);
        ::_exit(4);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("child status " << status);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGPIPE);
}

// ---------------------------------------------------------------------------
// Streams through a slow reader
// ---------------------------------------------------------------------------

TEST_CASE("2,000 random parts through a slow reader arrive byte for byte as valid chunked encoding") {
    const std::vector<std::string> parts = random_parts(20240601, 2000, 1, 8000);
    SocketPair (*make_pair)() = nullptr;
    std::size_t max_read = 0;
    SUBCASE("over socketpair(AF_UNIX) with an 8 KiB send buffer") {
        make_pair = [] { return make_unix_pair(8192); };
        max_read = 1500;
    }
    SUBCASE("over loopback TCP with 4 KiB send and receive buffers") {
        make_pair = [] { return make_tcp_pair(4096, 4096); };
        max_read = 2000;
    }
    REQUIRE((make_pair != nullptr));

    for (const rill::OverflowPolicy policy : {rill::OverflowPolicy::queue, rill::OverflowPolicy::reject}) {
        const std::string policy_name = policy == rill::OverflowPolicy::queue ? "queue" : "reject";
        CAPTURE(policy_name);
        rill::BodyOptions options;
        options.high_water = 32 * 1024;
        options.low_water = 8 * 1024;
        options.overflow = policy;
        SocketPair pair = make_pair();

        const StreamOutcome out = stream_through_slow_reader(pair, parts, options, 99, max_read);
        MESSAGE(policy_name << ": " << out.received.size() << " bytes, " << out.drains << " drains, "
                            << out.backpressure << " backpressure, " << out.would_block
                            << " would_block, max queued " << out.max_queued);
        REQUIRE(out.reader_eof);
        CHECK(out.on_close_calls == 1);
        CHECK(out.finish_calls == 1);
        CHECK(out.reason == rill::CloseReason::completed);
        CHECK(out.bytes_sent == out.received.size());
        // The reader was slow enough that the producer had to wait for on_drain.
        CHECK(out.drains > 0);
        check_chunked_stream(out.received, parts);
        if (policy == rill::OverflowPolicy::reject) {
            // Refused parts were retried, so nothing is missing, and the queue stayed bounded.
            CHECK(out.would_block > 0);
            CHECK(out.max_queued < options.high_water + chunk_of(std::string(8000, 'x')).size());
        } else {
            CHECK(out.backpressure > 0);
        }
    }
}

// ---------------------------------------------------------------------------
// Peers that go away
// ---------------------------------------------------------------------------

namespace {

struct EndCounters {
    int on_close_calls = 0;
    int finish_calls = 0;
    rill::CloseReason on_close_reason = rill::CloseReason::completed;
    rill::CloseReason finish_reason = rill::CloseReason::completed;
};

std::shared_ptr<SocketBody> make_counted_body(int writer, EndCounters& counters) {
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    body->on_close([&counters](rill::CloseReason r) {
        ++counters.on_close_calls;
        counters.on_close_reason = r;
    });
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(rill::PosixSocketSink(writer, [&counters](rill::CloseReason r) {
        ++counters.finish_calls;
        counters.finish_reason = r;
    }));
    return body;
}

// Sends until the socket is full (a send answers queued or backpressure).
void fill_until_busy(SocketBody& body, const std::string& part) {
    for (int i = 0; i < 100'000; ++i) {
        const rill::SendStatus st = body.send(std::string_view(part));
        REQUIRE(st != rill::SendStatus::closed);
        if (st != rill::SendStatus::written) return;
    }
    FAIL("the socket never filled up");
}

// Keeps sending and flushing on writability until the body notices the peer is gone.
void stream_until_body_ends(SocketBody& body, int writer, const EndCounters& counters) {
    const std::string part(1000, 'p');
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    for (int iter = 0; iter < 100'000 && counters.on_close_calls == 0; ++iter) {
        REQUIRE(Clock::now() < deadline);
        // Like a producer that respects backpressure: only send into an empty queue;
        // a non-empty one is retried by flush() when poll says the fd can take it.
        if (body.bytes_queued() == 0 && body.send(std::string_view(part)) == rill::SendStatus::closed) break;
        pollfd p{writer, POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 100) >= 0);
        if (p.revents & (POLLOUT | POLLERR | POLLHUP)) body.flush();
    }
}

void check_ended_by_peer_once(SocketBody& body, const EndCounters& counters) {
    CHECK(counters.on_close_calls == 1);
    CHECK(counters.on_close_reason == rill::CloseReason::peer_closed);
    CHECK(counters.finish_calls == 1);
    CHECK(counters.finish_reason == rill::CloseReason::peer_closed);
    CHECK(body.state() == rill::BodyState::closed);
    CHECK(body.close_reason() == rill::CloseReason::peer_closed);
    CHECK(body.bytes_queued() == 0);
    // Nothing afterwards reaches the socket or reports a second end.
    CHECK(body.send("late") == rill::SendStatus::closed);
    CHECK(body.send(std::string(100, 'x')) == rill::SendStatus::closed);
    CHECK(body.close() == rill::CloseStatus::already_closed);
    body.abort();
    body.flush();
    CHECK(counters.on_close_calls == 1);
    CHECK(counters.finish_calls == 1);
    CHECK(body.close_reason() == rill::CloseReason::peer_closed);
}

}  // namespace

TEST_CASE("a peer that closes or resets mid-stream ends the body once with peer_closed, without SIGPIPE or fd leaks") {
    DefaultSigpipe sigpipe;
    require_sigpipe_is_fatal();
    const std::size_t fds_before = count_open_fds();
    {
        SocketPair pair;
        int mode = 0;
        SUBCASE("socketpair peer closes with unread data") {
            pair = make_unix_pair(8192);
            mode = 0;
        }
        SUBCASE("TCP peer closes after reading everything (FIN)") {
            pair = make_tcp_pair(4096, 4096);
            mode = 1;
        }
        SUBCASE("TCP peer closes with unread data") {
            pair = make_tcp_pair(4096, 4096);
            mode = 2;
        }
        SUBCASE("TCP peer resets (SO_LINGER 0, then close)") {
            pair = make_tcp_pair(4096, 4096);
            mode = 3;
        }
        REQUIRE(pair.writer.get() >= 0);
        set_nonblocking(pair.writer.get(), true);

        EndCounters counters;
        auto body = make_counted_body(pair.writer.get(), counters);
        fill_until_busy(*body, std::string(4000, 'a'));
        CHECK(body->bytes_queued() > 0);

        std::string got;
        if (mode == 1) {
            // Let the queue and the kernel's buffers run dry so the close is a clean FIN.
            const auto deadline = Clock::now() + std::chrono::seconds(10);
            for (int i = 0; i < 100'000; ++i) {
                REQUIRE(Clock::now() < deadline);
                body->flush();
                read_some(pair.reader.get(), got, 1 << 20);
                int unsent = -1;
                REQUIRE(::ioctl(pair.writer.get(), TIOCOUTQ, &unsent) == 0);
                if (body->bytes_queued() == 0 && unsent == 0) break;
            }
            read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(20));
            REQUIRE(body->bytes_queued() == 0);
        } else {
            read_some(pair.reader.get(), got, 3000);  // mid-stream: part of the head and body
        }
        CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        if (mode == 3) {
            const linger lg{1, 0};
            REQUIRE(::setsockopt(pair.reader.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        }
        pair.reader.reset();

        stream_until_body_ends(*body, pair.writer.get(), counters);
        check_ended_by_peer_once(*body, counters);
        body.reset();
    }
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE("a peer that closes or resets while the stream is idle is noticed by abort_if_peer_closed") {
    DefaultSigpipe sigpipe;
    require_sigpipe_is_fatal();
    const std::size_t fds_before = count_open_fds();
    {
        SocketPair pair;
        bool reset = false;
        SUBCASE("socketpair peer closes") { pair = make_unix_pair(0); }
        SUBCASE("TCP peer closes (FIN)") { pair = make_tcp_pair(0, 0); }
        SUBCASE("TCP peer resets (SO_LINGER 0, then close)") {
            pair = make_tcp_pair(0, 0);
            reset = true;
        }
        REQUIRE(pair.writer.get() >= 0);
        set_nonblocking(pair.writer.get(), true);

        EndCounters counters;
        auto body = make_counted_body(pair.writer.get(), counters);
        REQUIRE(body->send("first part") == rill::SendStatus::written);
        std::string got;
        read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(20));
        CHECK(got == expected_head() + chunk_of("first part"));

        // Idle and the peer still there: nothing to read, nothing to do.
        CHECK_FALSE(rill::abort_if_peer_closed(*body, pair.writer.get()));
        CHECK(counters.on_close_calls == 0);
        CHECK(body->state() == rill::BodyState::open);

        if (reset) {
            const linger lg{1, 0};
            REQUIRE(::setsockopt(pair.reader.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        }
        pair.reader.reset();

        // The loop watches the idle stream's read side, as a server would.
        pollfd p{pair.writer.get(), static_cast<short>(POLLIN | POLLRDHUP), 0};
        REQUIRE(::poll(&p, 1, 5000) == 1);
        CHECK((p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0);
        CHECK(rill::abort_if_peer_closed(*body, pair.writer.get()));
        check_ended_by_peer_once(*body, counters);
        // A second readiness event for the same fd is harmless.
        rill::abort_if_peer_closed(*body, pair.writer.get());
        CHECK(counters.on_close_calls == 1);
        body.reset();
    }
    CHECK(count_open_fds() == fds_before);
}

// ---------------------------------------------------------------------------
// Signals interrupting a blocking write
// ---------------------------------------------------------------------------

namespace {

std::atomic<int> g_alarms{0};
static_assert(std::atomic<int>::is_always_lock_free, "the SIGALRM handler needs a lock-free counter");

void count_alarm(int) { g_alarms.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

TEST_CASE("a blocking PosixSocketSink resumes exactly after EINTR and short writes caused by SIGALRM without SA_RESTART") {
    SocketPair pair;
    SUBCASE("over socketpair(AF_UNIX)") { pair = make_unix_pair(8192); }
    SUBCASE("over loopback TCP") { pair = make_tcp_pair(4096, 4096); }
    REQUIRE(pair.writer.get() >= 0);
    // A stuck reader must not hang the test forever.
    const timeval recv_timeout{10, 0};
    REQUIRE(::setsockopt(pair.reader.get(), SOL_SOCKET, SO_RCVTIMEO, &recv_timeout, sizeof recv_timeout) == 0);

    std::vector<std::string> parts = random_parts(4242, 8, 1 << 20, 1 << 20);  // 8 MiB

    struct sigaction sa {};
    sa.sa_handler = count_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocking sendmsg returns EINTR or a short count
    struct sigaction old_sa {};
    REQUIRE(::sigaction(SIGALRM, &sa, &old_sa) == 0);

    // Only this thread may take the alarm: the reader starts with it blocked.
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigset_t old_mask;
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &alrm, &old_mask) == 0);
    std::string got;
    bool reader_timed_out = false;
    const int reader_fd = pair.reader.get();
    std::thread reader([&got, &reader_timed_out, reader_fd] {
        char buf[4096];
        for (int i = 0; i < 1'000'000; ++i) {
            const ssize_t r = ::recv(reader_fd, buf, sizeof buf, 0);
            if (r == 0) return;
            if (r < 0) {
                if (errno == EINTR) continue;
                reader_timed_out = true;
                return;
            }
            got.append(buf, static_cast<std::size_t>(r));
            // Slow enough that the writer blocks again and again.
            if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    });
    REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &alrm, nullptr) == 0);

    const itimerval every_200us{{0, 200}, {0, 200}};
    const itimerval off{{0, 0}, {0, 0}};
    const int alarms_before = g_alarms.load();
    REQUIRE(::setitimer(ITIMER_REAL, &every_200us, nullptr) == 0);

    EndCounters counters;
    auto body = make_counted_body(pair.writer.get(), counters);
    std::vector<rill::SendStatus> statuses;
    for (const std::string& p : parts) statuses.push_back(body->send(std::string_view(p)));
    const rill::CloseStatus closed = body->close();

    REQUIRE(::setitimer(ITIMER_REAL, &off, nullptr) == 0);
    const int alarms = g_alarms.load() - alarms_before;
    // Swallow an alarm that may still be pending before the old handler returns.
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &alrm, nullptr) == 0);
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGALRM)) {
        const timespec zero{0, 0};
        sigtimedwait(&alrm, nullptr, &zero);
    }
    ::sigaction(SIGALRM, &old_sa, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

    ::shutdown(pair.writer.get(), SHUT_WR);
    reader.join();

    CHECK_FALSE(reader_timed_out);
    INFO("alarms during the write: " << alarms);
    CHECK(alarms > 0);
    for (rill::SendStatus st : statuses) CHECK(st == rill::SendStatus::written);
    CHECK(closed == rill::CloseStatus::ok);
    CHECK(counters.on_close_calls == 1);
    CHECK(counters.on_close_reason == rill::CloseReason::completed);
    CHECK(body->bytes_sent() == got.size());
    check_chunked_stream(got, parts);
}

// ---------------------------------------------------------------------------
// How many writes a burst costs
// ---------------------------------------------------------------------------

namespace {

struct WriteCounts {
    std::size_t calls = 0;
    std::size_t bytes = 0;
    std::size_t max_buffers = 0;
};

// A FunctionSink around PosixSocketSink that counts the write() calls reaching the socket.
auto make_counting_sink(int fd, WriteCounts* counts) {
    return rill::make_function_sink(
        [inner = rill::PosixSocketSink(fd), counts](const rill::ConstBuffer* bufs, std::size_t n) mutable {
            ++counts->calls;
            counts->max_buffers = std::max(counts->max_buffers, n);
            const rill::WriteResult r = inner.write(bufs, n);
            counts->bytes += r.bytes;
            return r;
        });
}

using CountingSink = decltype(make_counting_sink(-1, nullptr));

}  // namespace

TEST_CASE("1,000 small parts sent while the socket is busy leave in a handful of gather writes") {
    SocketPair pair = make_unix_pair(0);
    set_nonblocking(pair.writer.get(), true);
    WriteCounts write_counts;
    WriteCounts* counts = &write_counts;
    rill::BodyOptions options;
    options.high_water = 8 << 20;  // this test is about coalescing, not backpressure
    auto body = rill::make_deferred_body<CountingSink>(options);
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(make_counting_sink(pair.writer.get(), counts));

    std::vector<std::string> parts;
    const std::string filler(64 * 1024, 'f');
    for (int i = 0; i < 1000; ++i) {
        const rill::SendStatus st = body->send(std::string_view(filler));
        parts.push_back(filler);
        if (st != rill::SendStatus::written) break;
    }
    REQUIRE(body->bytes_queued() > 0);

    std::mt19937 rng(5);
    const std::size_t calls_before_burst = counts->calls;
    for (int i = 0; i < 1000; ++i) {
        parts.push_back(random_bytes(rng, 32));
        const rill::SendStatus st = body->send(std::string_view(parts.back()));
        CHECK((st == rill::SendStatus::queued || st == rill::SendStatus::backpressure));
    }
    // While the socket is busy a send only queues: no write is even attempted.
    CHECK(counts->calls == calls_before_burst);
    REQUIRE(body->close() == rill::CloseStatus::ok);

    // Drain the reader completely before every flush, so each write may take
    // everything the socket buffer holds; the count is then the queue's doing.
    std::string got;
    const std::size_t calls_before_drain = counts->calls;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    for (int i = 0; i < 10'000 && body->state() != rill::BodyState::closed; ++i) {
        REQUIRE(Clock::now() < deadline);
        read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(1));
        pollfd p{pair.writer.get(), POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 1000) == 1);
        body->flush();
    }
    REQUIRE(body->state() == rill::BodyState::closed);
    read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(20));
    const std::size_t drain_calls = counts->calls - calls_before_drain;
    MESSAGE("writes to drain 1,000 queued parts (+ the filler's tail): " << drain_calls
            << ", widest gather: " << counts->max_buffers << " buffers");
    CHECK(drain_calls >= 1);
    CHECK(drain_calls <= 4);
    CHECK(counts->bytes == got.size());
    check_chunked_stream(got, parts);
}

TEST_CASE("500 small parts sent inside a rill::Batch leave in one write when the Batch ends") {
    SocketPair pair = make_unix_pair(0);
    set_nonblocking(pair.writer.get(), true);
    WriteCounts write_counts;
    WriteCounts* counts = &write_counts;
    auto body = rill::make_deferred_body<CountingSink>();
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(make_counting_sink(pair.writer.get(), counts));
    const std::size_t calls_after_head = counts->calls;
    CHECK(calls_after_head == 1);

    std::mt19937 rng(6);
    std::vector<std::string> parts;
    {
        rill::Batch<rill::DeferredBody<CountingSink>> batch(*body);
        // 500 chunks of 22 framed bytes stay under RILL_COALESCE_LIMIT (tests/unit/turn.cpp
        // covers what happens past it).
        for (int i = 0; i < 500; ++i) {
            parts.push_back(random_bytes(rng, 16));
            const rill::SendStatus st = body->send(std::string_view(parts.back()));
            CHECK((st == rill::SendStatus::queued || st == rill::SendStatus::backpressure));
        }
        CHECK(counts->calls == calls_after_head);
    }
    CHECK(counts->calls == calls_after_head + 1);
    CHECK(body->bytes_queued() == 0);
    REQUIRE(body->close() == rill::CloseStatus::ok);

    std::string got;
    read_until_quiet(pair.reader.get(), got, std::chrono::milliseconds(20));
    check_chunked_stream(got, parts);
}

TEST_CASE("a part sent while the socket is idle goes out at once, before send() returns") {
    SUBCASE("over socketpair(AF_UNIX): the bytes are readable the moment send() returns") {
        SocketPair pair = make_unix_pair(0);
        set_nonblocking(pair.writer.get(), true);
        WriteCounts write_counts;
        WriteCounts* counts = &write_counts;
        auto body = rill::make_deferred_body<CountingSink>();
        REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        body->each(make_counting_sink(pair.writer.get(), counts));
        std::string got;
        REQUIRE(read_some(pair.reader.get(), got, 1 << 16));
        CHECK(got == expected_head());

        for (int i = 0; i < 3; ++i) {
            const std::string part = "part #" + std::to_string(i);
            const std::size_t calls = counts->calls;
            CHECK(body->send(std::string_view(part)) == rill::SendStatus::written);
            CHECK(counts->calls == calls + 1);
            CHECK(body->bytes_queued() == 0);
            std::string now;
            REQUIRE(read_some(pair.reader.get(), now, 1 << 16));
            CHECK(now == chunk_of(part));
        }
    }
    SUBCASE("over loopback TCP: the bytes arrive with no flush() ever called") {
        SocketPair pair = make_tcp_pair(0, 0);
        set_nonblocking(pair.writer.get(), true);
        auto body = rill::make_deferred_body<rill::PosixSocketSink>();
        REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        body->each(rill::PosixSocketSink(pair.writer.get()));
        CHECK(body->send("hello, idle socket") == rill::SendStatus::written);
        CHECK(body->bytes_queued() == 0);
        std::string got;
        const std::string want = expected_head() + chunk_of("hello, idle socket");
        const auto deadline = Clock::now() + std::chrono::seconds(5);
        while (got.size() < want.size() && Clock::now() < deadline) {
            pollfd p{pair.reader.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) == 1) REQUIRE(read_some(pair.reader.get(), got, 1 << 16));
        }
        CHECK(got == want);
    }
}
