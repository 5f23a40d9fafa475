// hello_h2: hello_deferred's routes over HTTP/2 cleartext (h2c, prior knowledge), on the
// example epoll loop and rill/nghttp2.hpp. The route code is examples/common/routes.hpp,
// the very file the HTTP/1.1 servers run. See docs/http2.md.
//
//   accept -> h2::Session per connection -> read: receive() -> request: HelloApp
//          -> the bodies' sends wake the connection -> gather() + writev + consume()

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <rill/nghttp2.hpp>

#include "../common/cli_args.hpp"
#include "../common/routes.hpp"
#include "../server/cli.hpp"
#include "../server/event_loop.hpp"
#include "../server/route_adapter.hpp"

namespace {

constexpr const char* kUsage =
    "usage: hello_h2 [--host ADDR] [--port N] [--delay-ms N] [--high-water BYTES] [--log-streams 0|1]\n"
    "  --host         address to listen on (default 127.0.0.1)\n"
    "  --port         TCP port, 0 picks a free one (default 8080)\n"
    "  --delay-ms     delay before \"World\" on / (default 1000)\n"
    "  --high-water   per-stream queue limit before backpressure (default 65536)\n"
    "  --log-streams  1: one stdout line per stream body that ends, with its reason\n"
    "HTTP/2 over cleartext TCP with prior knowledge (curl --http2-prior-knowledge).\n";

constexpr std::size_t kReadSize = 16384;
constexpr std::size_t kIovMax = 64;

class H2Server {
public:
    H2Server(rill_example::EventLoop& loop, rill_example::HelloApp& app, rill::h2::SessionOptions opts,
             bool log_streams)
        : loop_(loop), app_(app), opts_(opts), log_streams_(log_streams) {}
    ~H2Server() { shutdown(); }
    H2Server(const H2Server&) = delete;
    H2Server& operator=(const H2Server&) = delete;

    std::string listen(const std::string& host, std::uint16_t port) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo* res = nullptr;
        const std::string port_text = std::to_string(port);
        if (const int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0)
            return "cannot resolve " + host + ": " + ::gai_strerror(rc);
        std::string error = "no address for " + host;
        for (addrinfo* ai = res; ai != nullptr && listen_fd_ < 0; ai = ai->ai_next) {
            const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            const int one = 1;
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
                listen_fd_ = fd;
            } else {
                error = "cannot listen on " + host + ":" + port_text + ": " + std::strerror(errno);
                ::close(fd);
            }
        }
        ::freeaddrinfo(res);
        if (listen_fd_ < 0) return error;
        if (!loop_.watch(listen_fd_, EPOLLIN | EPOLLET, [this](std::uint32_t) { accept_all(); })) {
            ::close(listen_fd_);
            listen_fd_ = -1;
            return std::string("epoll: ") + std::strerror(errno);
        }
        return {};
    }

    std::uint16_t local_port() const {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
        if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }

    /// Stops accepting; every connection says GOAWAY (best effort) and its streams end
    /// with CloseReason::shutdown.
    void shutdown() {
        if (listen_fd_ >= 0) {
            loop_.unwatch(listen_fd_);
            ::close(listen_fd_);
            listen_fd_ = -1;
        }
        while (!conns_.empty()) {
            Connection& c = *conns_.begin()->second;
            c.session->shutdown(rill::CloseReason::shutdown);
            (void)write_some(c);
            close_connection(c.id, rill::CloseReason::shutdown);
        }
    }

private:
    struct Connection {
        std::uint64_t id = 0;
        int fd = -1;
        std::unique_ptr<rill::h2::Session> session;
        bool flush_posted = false;
    };

    void accept_all() {
        for (int i = 0; i < 1024; ++i) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            add_connection(fd);
        }
        loop_.post([this] {
            if (listen_fd_ >= 0) accept_all();
        });
    }

    void add_connection(int fd) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto conn = std::make_unique<Connection>();
        const std::uint64_t id = ++next_id_;
        conn->id = id;
        conn->fd = fd;
        // Bodies wake the connection from anywhere on the loop (a timer, another
        // connection's callback): one flush per loop turn gathers everything they sent.
        conn->session = std::make_unique<rill::h2::Session>(
            [this](const rill::h2::RequestHead& req, const rill::BodyPtr& body) { route(req, body); },
            [this, id] { schedule_flush(id); }, opts_);
        if (!conn->session->ok() || !loop_.watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                                  [this, id](std::uint32_t ev) { on_io(id, ev); })) {
            ::close(fd);
            return;
        }
        if (log_streams_)
            conn->session->on_stream_end([id](std::int32_t stream, rill::CloseReason reason) {
                std::printf("stream %llu/%d: %s\n", static_cast<unsigned long long>(id), stream,
                            rill::to_string(reason));
                std::fflush(stdout);
            });
        conns_.emplace(id, std::move(conn));
        schedule_flush(id);  // the server's SETTINGS
    }

    void route(const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        const std::size_t q = req.path.find('?');
        const std::string_view path = req.path.substr(0, q);
        const std::string_view query = q == std::string_view::npos ? std::string_view() : req.path.substr(q + 1);
        app_(rill_example::RouteRequest{req.method, path, query, req.framing()}, body);
    }

    Connection* find(std::uint64_t id) {
        const auto it = conns_.find(id);
        return it == conns_.end() ? nullptr : it->second.get();
    }

    void schedule_flush(std::uint64_t id) {
        Connection* c = find(id);
        if (c == nullptr || c->flush_posted) return;
        c->flush_posted = true;
        loop_.post([this, id] {
            if (Connection* conn = find(id)) {
                conn->flush_posted = false;
                flush(*conn);
            }
        });
    }

    void on_io(std::uint64_t id, std::uint32_t events) {
        Connection* c = find(id);
        if (c == nullptr) return;
        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
            if (!read_all(*c)) return;
        }
        flush(*c);
    }

    // False when the connection was closed.
    bool read_all(Connection& c) {
        char buf[kReadSize];
        for (int i = 0; i < 64; ++i) {  // a fair share per turn; edge-triggered, so come back
            const ssize_t n = ::read(c.fd, buf, sizeof buf);
            if (n > 0) {
                if (!c.session->receive(buf, static_cast<std::size_t>(n))) {
                    (void)write_some(c);  // the GOAWAY nghttp2 prepared
                    close_connection(c.id, rill::CloseReason::peer_closed);
                    return false;
                }
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            close_connection(c.id, rill::CloseReason::peer_closed);  // EOF or reset
            return false;
        }
        const std::uint64_t id = c.id;
        loop_.post([this, id] {
            if (find(id) != nullptr) on_io(id, EPOLLIN);
        });
        return true;
    }

    // Writes what the session has until the socket is full. False on a dead socket.
    bool write_some(Connection& c) {
        for (;;) {
            rill::ConstBuffer bufs[kIovMax];
            const std::size_t n = c.session->gather(bufs, kIovMax);
            if (n == 0) return true;
            iovec iov[kIovMax];
            for (std::size_t i = 0; i < n; ++i) {
                iov[i].iov_base = const_cast<char*>(bufs[i].data);
                iov[i].iov_len = bufs[i].size;
            }
            const ssize_t w = ::writev(c.fd, iov, static_cast<int>(n));
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;  // EPOLLOUT brings us back
            }
            c.session->consume(static_cast<std::size_t>(w));
        }
    }

    void flush(Connection& c) {
        const std::uint64_t id = c.id;
        if (!write_some(c)) {
            close_connection(id, rill::CloseReason::peer_closed);
            return;
        }
        Connection* again = find(id);  // a body's callback may have closed it
        if (again != nullptr && again->session->done()) close_connection(id, rill::CloseReason::peer_closed);
    }

    void close_connection(std::uint64_t id, rill::CloseReason reason) {
        const auto it = conns_.find(id);
        if (it == conns_.end()) return;
        std::unique_ptr<Connection> c = std::move(it->second);
        conns_.erase(it);
        loop_.unwatch(c->fd);
        ::close(c->fd);
        c->session->terminate(reason);
    }

    rill_example::EventLoop& loop_;
    rill_example::HelloApp& app_;
    rill::h2::SessionOptions opts_;
    bool log_streams_;
    int listen_fd_ = -1;
    std::uint64_t next_id_ = 0;
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns_;
};

}  // namespace

int main(int argc, char** argv) {
    rill_example::CommonArgs args;
    rill::h2::SessionOptions opts;
    bool log_streams = false;
    const int rc = rill_example::parse_args(
        argc, argv, "hello_h2", kUsage, args, [&](std::string_view flag, const char* value) {
            std::uint64_t n = 0;
            if (flag == "--high-water") return rill_example::parse_high_water(value, opts.body);
            if (flag == "--log-streams") {
                if (!rill_example::parse_number(value, 1, n)) return rill_example::FlagResult::bad;
                log_streams = n == 1;
                return rill_example::FlagResult::ok;
            }
            return rill_example::FlagResult::unknown;
        });
    if (rc >= 0) return rc;

    rill_example::raise_fd_limit();
    rill_example::StopSignals signals("hello_h2");
    if (!signals.ok()) return 1;
    rill_example::EventLoop loop;
    if (!loop.ok()) {
        std::perror("hello_h2: epoll");
        return 1;
    }
    rill_example::LoopScheduler scheduler(loop);
    rill_example::HelloApp app(scheduler, args.delay);
    H2Server server(loop, app, opts, log_streams);
    if (const std::string err = server.listen(args.host, args.port); !err.empty()) {
        std::fprintf(stderr, "hello_h2: %s\n", err.c_str());
        return 1;
    }
    rill_example::announce_listening(args.host, server.local_port());
    return signals.run(loop, [&] { server.shutdown(); });
}
