// Load client for examples/hello_deferred: one thread, epoll, bounded in time.
//
//   load_client hello --port P --clients N [--expect-delay-ms D]
//       N concurrent GET / ; every response must be byte-exact "Hello, World",
//       chunked. Prints the wall time of the whole batch.
//   load_client idle --port P --clients N --server-pid PID
//       N concurrent GET / held open (run the server with a long --delay-ms);
//       once every client has the head and "Hello, ", prints the server's RSS
//       growth divided by N.
//   load_client slow --port P --server-pid PID [--seconds S] [--path P]
//       one client asks for a large stream and never reads; samples the
//       server's RSS every 100 ms.
//
// Common: --host 127.0.0.1, --sources K (spread clients over 127.0.0.1..K as
// source addresses), --timeout S (give up, exit 1).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace rill_load {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kHelloResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    "7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n";
constexpr std::string_view kHelloFirstPart =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n";

struct Options {
    std::string mode;
    std::string host = "127.0.0.1";
    int port = 0;
    int clients = 1000;
    int sources = 1;
    int server_pid = 0;
    int inflight = 2000;  // connections opened but not yet answered
    double timeout_s = 30;
    double seconds = 5;
    std::string path = "/stream?parts=100000&size=16384&interval-ms=0";
};

long rss_kib(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Conn {
    int fd = -1;
    bool sent = false;
    bool done = false;  // hello: full response checked; idle: first part seen
    std::string in;
};

class Runner {
public:
    explicit Runner(const Options& o) : o_(o), ep_(::epoll_create1(EPOLL_CLOEXEC)) {}
    ~Runner() {
        for (Conn& c : conns_)
            if (c.fd >= 0) close_conn(c);
        ::close(ep_);
    }

    int open_one(int index, const std::string& request) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (o_.sources > 1) {
            // Each source address has its own ephemeral port range towards the server.
            ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            sockaddr_in src{};
            src.sin_family = AF_INET;
            src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<unsigned>(index % o_.sources));
            if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
                const int err = errno;
                ::close(fd);
                return -err;
            }
        }
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(static_cast<std::uint16_t>(o_.port));
        ::inet_pton(AF_INET, o_.host.c_str(), &dst.sin_addr);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
            const int err = errno;
            ::close(fd);
            return -err;
        }
        conns_.push_back(Conn{fd, false, false, {}});
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ev.data.u64 = conns_.size() - 1;
        ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        request_ = request;
        return 0;
    }

    // Runs until `finished` says so or the deadline passes; false on timeout.
    template <class Finished, class OnData>
    bool loop(Clock::time_point deadline, Finished finished, OnData on_data, bool read = true) {
        epoll_event evs[512];
        while (!finished()) {
            const double left = std::chrono::duration<double, std::milli>(deadline - Clock::now()).count();
            if (left <= 0) return false;
            const int n = ::epoll_wait(ep_, evs, 512, static_cast<int>(std::min(left, 100.0)) + 1);
            for (int i = 0; i < n; ++i) {
                Conn& c = conns_[evs[i].data.u64];
                if (c.fd < 0) continue;
                if ((evs[i].events & EPOLLOUT) && !c.sent) {
                    const ssize_t w = ::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
                    if (w != static_cast<ssize_t>(request_.size())) {
                        std::fprintf(stderr, "send failed: %s\n", std::strerror(errno));
                        ++errors_;
                        close_conn(c);
                        continue;
                    }
                    c.sent = true;
                }
                if (!read || !(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
                char buf[4096];
                for (;;) {
                    const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
                    if (r > 0) {
                        c.in.append(buf, static_cast<std::size_t>(r));
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    if (!c.done) {
                        std::fprintf(stderr, "connection closed early after %zu bytes\n", c.in.size());
                        ++errors_;
                    }
                    close_conn(c);
                    break;
                }
                if (c.fd >= 0) on_data(c);
            }
        }
        return true;
    }

    void close_conn(Conn& c) {
        // An abortive close leaves no TIME_WAIT behind, so runs can follow each other.
        const linger lg{1, 0};
        ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(c.fd);
        c.fd = -1;
        ++closed_;
    }

    std::vector<Conn>& conns() { return conns_; }
    int errors() const { return errors_; }
    int closed() const { return closed_; }

private:
    const Options& o_;
    int ep_;
    std::vector<Conn> conns_;
    std::string request_;
    int errors_ = 0;
    int closed_ = 0;
};

int run_hello(const Options& o) {
    Runner r(o);
    const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
    int opened = 0, ok = 0, bad = 0, answered_first = 0;
    double first_part_max_ms = 0;
    auto on_data = [&](Conn& c) {
        if (!c.done && c.in.size() >= kHelloFirstPart.size() && c.in.compare(0, kHelloFirstPart.size(), kHelloFirstPart) == 0 &&
            c.in.size() < kHelloResponse.size() && c.sent && c.in.size() == kHelloFirstPart.size()) {
            ++answered_first;
            first_part_max_ms = std::max(first_part_max_ms, ms_since(t0));
        }
        if (c.in.size() >= kHelloResponse.size()) {
            if (c.in == kHelloResponse) {
                ++ok;
            } else {
                ++bad;
                std::fprintf(stderr, "unexpected response: %.200s\n", c.in.c_str());
            }
            c.done = true;
            r.close_conn(c);
        }
    };
    r.conns().reserve(static_cast<std::size_t>(o.clients));
    // Open all connections at once: the server sees them as one burst.
    for (int i = 0; i < o.clients; ++i) {
        const int rc = r.open_one(i, req);
        if (rc != 0) {
            std::fprintf(stderr, "connect %d: %s\n", i, std::strerror(-rc));
            return 1;
        }
        ++opened;
    }
    const bool finished = r.loop(deadline, [&] { return ok + bad + r.errors() >= o.clients; }, on_data);
    const double wall = ms_since(t0);
    std::printf("hello clients=%d ok=%d bad=%d errors=%d first_part_max_ms=%.1f wall_ms=%.1f%s\n", opened, ok, bad,
                r.errors(), first_part_max_ms, wall, finished ? "" : " TIMEOUT");
    return finished && ok == o.clients ? 0 : 1;
}

int run_idle(const Options& o) {
    if (o.server_pid <= 0) {
        std::fprintf(stderr, "idle: --server-pid is required\n");
        return 2;
    }
    Runner r(o);
    const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
    int ready = 0;
    auto on_data = [&](Conn& c) {
        if (!c.done && c.in.size() >= kHelloFirstPart.size()) {
            if (c.in.compare(0, kHelloFirstPart.size(), kHelloFirstPart) != 0) {
                std::fprintf(stderr, "unexpected response: %.200s\n", c.in.c_str());
                r.close_conn(c);
                return;
            }
            c.done = true;
            ++ready;
            std::string().swap(c.in);
        }
    };
    const long before = rss_kib(o.server_pid);
    r.conns().reserve(static_cast<std::size_t>(o.clients));
    int opened = 0;
    while (ready < o.clients && Clock::now() < deadline) {
        // Open in waves so that the listen backlog never overflows.
        while (opened < o.clients && opened - ready < o.inflight) {
            const int rc = r.open_one(opened, req);
            if (rc != 0) {
                std::fprintf(stderr, "connect %d: %s\n", opened, std::strerror(-rc));
                return 1;
            }
            ++opened;
        }
        const int target = std::min(o.clients, ready + 1);
        if (!r.loop(deadline, [&] { return ready >= target || r.errors() != 0; }, on_data)) break;
        if (r.errors() != 0) break;
    }
    if (ready < o.clients) {
        std::fprintf(stderr, "idle: only %d of %d streams opened (errors %d)\n", ready, o.clients, r.errors());
        return 1;
    }
    const double open_ms = ms_since(t0);
    // Let the server finish whatever bookkeeping follows the last write.
    ::usleep(300 * 1000);
    const long after = rss_kib(o.server_pid);
    const double per = static_cast<double>(after - before) * 1024.0 / o.clients;
    std::printf("idle streams=%d rss_before_kib=%ld rss_after_kib=%ld bytes_per_stream=%.0f open_ms=%.0f\n", ready,
                before, after, per, open_ms);
    return 0;
}

int run_slow(const Options& o) {
    if (o.server_pid <= 0) {
        std::fprintf(stderr, "slow: --server-pid is required\n");
        return 2;
    }
    Runner r(o);
    const std::string req = "GET " + o.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const long before = rss_kib(o.server_pid);
    if (const int rc = r.open_one(0, req); rc != 0) {
        std::fprintf(stderr, "connect: %s\n", std::strerror(-rc));
        return 1;
    }
    const auto t0 = Clock::now();
    long max_rss = before;
    std::printf("slow t_ms=0 rss_kib=%ld (before the request)\n", before);
    for (int tick = 1; ms_since(t0) < o.seconds * 1000; ++tick) {
        const auto until = t0 + std::chrono::milliseconds(100 * tick);
        // Never read: only the request is written.
        r.loop(until, [] { return false; }, [](Conn&) {}, false);
        const long rss = rss_kib(o.server_pid);
        if (rss < 0) {
            std::fprintf(stderr, "slow: server %d is gone\n", o.server_pid);
            return 1;
        }
        max_rss = std::max(max_rss, rss);
        if (tick % 10 == 0) std::printf("slow t_ms=%d rss_kib=%ld\n", tick * 100, rss);
    }
    std::printf("slow rss_before_kib=%ld rss_max_kib=%ld growth_kib=%ld\n", before, max_rss, max_rss - before);
    return 0;
}

bool parse_args(int argc, char** argv, Options& o) {
    if (argc < 2) return false;
    o.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string_view k(argv[i]);
        const char* v = argv[i + 1];
        if (k == "--host") o.host = v;
        else if (k == "--port") o.port = std::atoi(v);
        else if (k == "--clients") o.clients = std::atoi(v);
        else if (k == "--sources") o.sources = std::max(1, std::atoi(v));
        else if (k == "--server-pid") o.server_pid = std::atoi(v);
        else if (k == "--inflight") o.inflight = std::max(1, std::atoi(v));
        else if (k == "--timeout") o.timeout_s = std::atof(v);
        else if (k == "--seconds") o.seconds = std::atof(v);
        else if (k == "--path") o.path = v;
        else return false;
    }
    return o.port > 0 && o.clients > 0;
}

}  // namespace rill_load

int main(int argc, char** argv) {
    rill_load::Options o;
    if (!rill_load::parse_args(argc, argv, o)) {
        std::fprintf(stderr, "usage: load_client hello|idle|slow --port P [--clients N] [--server-pid PID] ...\n");
        return 2;
    }
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (o.mode == "hello") return rill_load::run_hello(o);
    if (o.mode == "idle") return rill_load::run_idle(o);
    if (o.mode == "slow") return rill_load::run_slow(o);
    std::fprintf(stderr, "unknown mode %s\n", o.mode.c_str());
    return 2;
}
