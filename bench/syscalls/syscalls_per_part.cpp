// How many write system calls a stream of small parts costs on a loopback TCP
// socket, and how large the queue grows behind a reader that stopped.
//
//   rill_bench_syscalls_per_part [mode] [parts] [part_size]
//
// modes:
//   busy   the socket is full before the first part (its buffers filled with
//          plain send(), which strace lists as sendto, not sendmsg); the parts
//          queue, then a reader starts and the server flushes on POLLOUT
//   moved  as busy, but every part is sent by move (std::string&&)
//   idle   a reader drains the socket all along: each part goes out at once
//   batch  as idle, with the parts sent in rill::Batch groups of 100
//   stall  no reader ever: the largest bytes_queued() under both policies
//
// Run it under `strace -f -c -e trace=sendmsg,writev,write` (run.sh does) to
// count the calls from outside; the program prints its own count of sink
// write() calls, which is the number of sendmsg calls unless a write needed
// more than one (more than RILL_POSIX_IOV_MAX buffers, or a short write).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rill/rill.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "syscalls_per_part: %s: %s\n", what, std::strerror(errno));
    std::exit(2);
}

struct Connection {
    int server = -1;  // the writer
    int client = -1;  // the reader
};

// small_buffers: 4 KiB SO_SNDBUF on the writer and SO_RCVBUF on the reader
// (set before connect, so the window is small from the start); the kernel then
// holds only a few KiB and the body's queue shows what a stalled reader costs.
Connection connect_loopback(bool small_buffers) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (::listen(listener, 1) != 0) die("listen");
    socklen_t len = sizeof addr;
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");
    Connection c;
    c.client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.client < 0) die("socket");
    const int small = 4096;
    if (small_buffers && ::setsockopt(c.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) != 0)
        die("SO_RCVBUF");
    if (::connect(c.client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    c.server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c.server < 0) die("accept");
    ::close(listener);
    const int one = 1;
    ::setsockopt(c.server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (small_buffers && ::setsockopt(c.server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) != 0)
        die("SO_SNDBUF");
    return c;
}

// Fills the socket with plain send() until the kernel refuses more, so that
// the body starts out busy. Returns the bytes the kernel took.
std::size_t fill_socket(int fd) {
    static const std::string block(64 * 1024, 'f');
    std::size_t total = 0;
    for (int i = 0; i < 100'000; ++i) {
        const ssize_t n = ::send(fd, block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            total += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return total;
        die("send (filling the socket)");
    }
    std::fprintf(stderr, "syscalls_per_part: the socket never filled\n");
    std::exit(2);
}

struct Reader {
    std::thread thread;
    std::atomic<std::size_t> bytes{0};
    std::string tail;  // the last bytes read, to check the stream ended with the last chunk

    void start(int fd) {
        thread = std::thread([this, fd] {
            std::vector<char> buf(256 * 1024);
            for (;;) {
                const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
                if (n > 0) {
                    const auto k = static_cast<std::size_t>(n);
                    bytes.fetch_add(k, std::memory_order_relaxed);
                    tail.append(buf.data(), k);
                    if (tail.size() > 64) tail.erase(0, tail.size() - 64);
                    continue;
                }
                if (n < 0 && errno == EINTR) continue;
                return;
            }
        });
    }
    void join() {
        if (thread.joinable()) thread.join();
    }
};

struct Counts {
    std::size_t writes = 0;
    std::size_t buffers = 0;
};

auto make_counting_sink(int fd, Counts* counts) {
    return rill::make_function_sink(
        [inner = rill::PosixSocketSink(fd), counts](const rill::ConstBuffer* bufs, std::size_t n) mutable {
            ++counts->writes;
            counts->buffers += n;
            return inner.write(bufs, n);
        });
}

using CountingSink = decltype(make_counting_sink(-1, nullptr));
using Body = rill::DeferredBody<CountingSink>;

// Flushes on POLLOUT until the body has ended. Bounded: 60 s.
void drive_to_end(Body& body, int fd) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (body.state() != rill::BodyState::closed) {
        if (Clock::now() > deadline) {
            std::fprintf(stderr, "syscalls_per_part: the body did not finish in 60 s\n");
            std::exit(2);
        }
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 100) < 0 && errno != EINTR) die("poll");
        if (p.revents & (POLLOUT | POLLERR | POLLHUP)) body.flush();
    }
}

int run_stream(const std::string& mode, std::size_t parts, std::size_t part_size) {
    Connection c = connect_loopback(false);
    Reader reader;
    std::size_t filler = 0;
    const bool busy = mode == "busy" || mode == "moved";
    if (busy)
        filler = fill_socket(c.server);
    else
        reader.start(c.client);

    Counts counts;
    rill::BodyOptions options;
    options.high_water = std::size_t{1} << 30;  // never push back: this measures the write path only
    auto body = rill::make_deferred_body<CountingSink>(options);
    if (body->respond(rill::Request{}, rill::ResponseHead(200)) != rill::HeadStatus::ok) return 2;
    body->each(make_counting_sink(c.server, &counts));
    const Counts after_head = counts;

    const std::string payload(part_size, 'x');
    std::size_t written_at_once = 0;
    std::size_t status_closed = 0;
    auto send_one = [&] {
        const rill::SendStatus st = mode == "moved" ? body->send(std::string(payload))
                                                    : body->send(std::string_view(payload));
        if (st == rill::SendStatus::written) ++written_at_once;
        if (st == rill::SendStatus::closed) ++status_closed;
    };
    if (mode == "batch") {
        for (std::size_t i = 0; i < parts; i += 100) {
            rill::Batch<Body> batch(*body);
            for (std::size_t j = i; j < std::min(parts, i + 100); ++j) send_one();
        }
    } else {
        for (std::size_t i = 0; i < parts; ++i) send_one();
    }
    const Counts after_sends = counts;
    const std::size_t queued_after_sends = body->bytes_queued();
    body->close();

    if (busy) reader.start(c.client);
    drive_to_end(*body, c.server);
    const Counts after_drain = counts;
    ::shutdown(c.server, SHUT_WR);
    reader.join();

    const std::size_t expected = filler + static_cast<std::size_t>(body->bytes_sent());
    const bool exact = reader.bytes.load() == expected && reader.tail.size() >= 5 &&
                       reader.tail.compare(reader.tail.size() - 5, 5, "0\r\n\r\n") == 0 &&
                       body->close_reason() == rill::CloseReason::completed && status_closed == 0;

    std::printf("mode=%s parts=%zu part_size=%zu\n", mode.c_str(), parts, part_size);
    std::printf("  sink write() calls: head %zu, during the sends %zu, draining %zu, total %zu\n",
                after_head.writes, after_sends.writes - after_head.writes,
                after_drain.writes - after_sends.writes, after_drain.writes);
    std::printf("  buffers offered per write (mean): %.1f\n",
                after_drain.writes != 0 ? static_cast<double>(after_drain.buffers) / static_cast<double>(after_drain.writes) : 0.0);
    std::printf("  parts written at once: %zu, bytes queued after the sends: %zu\n", written_at_once,
                queued_after_sends);
    std::printf("  sink writes per part: %.4f\n",
                static_cast<double>(after_drain.writes) / static_cast<double>(parts));
    std::printf("  bytes: filler %zu + body %llu, reader got %zu: %s\n", filler,
                static_cast<unsigned long long>(body->bytes_sent()), reader.bytes.load(),
                exact ? "exact" : "MISMATCH");
    ::close(c.server);
    ::close(c.client);
    return exact ? 0 : 1;
}

// A reader that never reads: how far bytes_queued() grows under each policy.
int run_stall(std::size_t parts, std::size_t part_size) {
    std::printf("mode=stall parts=%zu part_size=%zu (4 KiB socket buffers; defaults: high_water 64 KiB, "
                "low_water 16 KiB)\n",
                parts, part_size);
    for (const rill::OverflowPolicy policy : {rill::OverflowPolicy::queue, rill::OverflowPolicy::reject}) {
        Connection c = connect_loopback(true);
        rill::BodyOptions options;
        options.overflow = policy;
        Counts counts;
        auto body = rill::make_deferred_body<CountingSink>(options);
        if (body->respond(rill::Request{}, rill::ResponseHead(200)) != rill::HeadStatus::ok) return 2;
        body->each(make_counting_sink(c.server, &counts));
        const std::string payload(part_size, 's');
        char size_line[rill::detail::chunk_header_max];
        const std::size_t framed_size = rill::detail::format_chunk_header(size_line, part_size) + part_size + 2;
        std::size_t max_queued = 0;
        std::size_t refused = 0;
        std::size_t pushed_back = 0;
        for (std::size_t i = 0; i < parts; ++i) {
            const rill::SendStatus st = body->send(std::string_view(payload));
            if (st == rill::SendStatus::would_block) ++refused;
            if (st == rill::SendStatus::backpressure) ++pushed_back;
            max_queued = std::max(max_queued, body->bytes_queued());
            if (i % 16 == 0) body->flush();  // the server keeps trying; the socket takes nothing
        }
        std::printf("  policy=%-6s max bytes_queued %zu (high_water + largest framed part = %zu), "
                    "refused (would_block) %zu, backpressure %zu, socket took %llu bytes\n",
                    policy == rill::OverflowPolicy::queue ? "queue" : "reject", max_queued,
                    options.high_water + framed_size, refused, pushed_back,
                    static_cast<unsigned long long>(body->bytes_sent()));
        body->abort(rill::CloseReason::shutdown);
        ::close(c.server);
        ::close(c.client);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "busy";
    const std::size_t parts = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 10'000;
    const std::size_t part_size = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 32;
    if (parts == 0 || part_size == 0) {
        std::fprintf(stderr, "usage: %s [busy|moved|idle|batch|stall] [parts] [part_size]\n", argv[0]);
        return 2;
    }
    if (mode == "stall") return run_stall(parts, part_size);
    if (mode == "busy" || mode == "moved" || mode == "idle" || mode == "batch")
        return run_stream(mode, parts, part_size);
    std::fprintf(stderr, "usage: %s [busy|moved|idle|batch|stall] [parts] [part_size]\n", argv[0]);
    return 2;
}
