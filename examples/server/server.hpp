#ifndef RILL_EXAMPLE_SERVER_HPP
#define RILL_EXAMPLE_SERVER_HPP

// The reference integration of rill with a socket server:
//
//   accept -> parse -> handler (responds now or later) -> each(sink)
//          -> flush() on EPOLLOUT -> abort_if_peer_closed() on EPOLLIN/EPOLLRDHUP
//          -> the sink's on_finish -> keep-alive (next buffered request) or close.
//
// One thread, edge-triggered epoll, one response in flight per connection, so
// pipelined requests are answered in order and never interleave with a stream.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rill/deferred_body.hpp>
#include <rill/posix_socket_sink.hpp>

#include "event_loop.hpp"
#include "http_request_parser.hpp"

namespace rill_example {

using Body = rill::DeferredBody<rill::PosixSocketSink>;
using BodyPtr = std::shared_ptr<Body>;

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::chrono::milliseconds idle_timeout{10000};  ///< for a request head to arrive in full
    std::chrono::milliseconds linger_timeout{2000}; ///< reading leftovers before closing after an error
    ParseLimits limits{};
    std::uint64_t max_request_body = 1024 * 1024;   ///< larger request bodies get 413
    rill::BodyOptions body{};
};

/// Called once per request. The request's views live only during the call; the
/// handler keeps the body and may respond, send and close at any later time.
using Handler = std::function<void(const HttpRequest&, const BodyPtr&)>;

class Server {
public:
    Server(EventLoop& loop, ServerOptions options, Handler handler)
        : loop_(loop), opts_(std::move(options)), handler_(std::move(handler)) {}
    ~Server() { shutdown(); }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and listens. Returns an error message, or an empty string on success.
    std::string listen() {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo* res = nullptr;
        const std::string port = std::to_string(opts_.port);
        if (const int rc = ::getaddrinfo(opts_.host.c_str(), port.c_str(), &hints, &res); rc != 0)
            return std::string("cannot resolve ") + opts_.host + ": " + ::gai_strerror(rc);
        std::string error = "no address for " + opts_.host;
        for (addrinfo* ai = res; ai != nullptr && listen_fd_ < 0; ai = ai->ai_next) {
            const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            const int one = 1;
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
                listen_fd_ = fd;
            } else {
                error = std::string("cannot listen on ") + opts_.host + ":" + port + ": " + std::strerror(errno);
                ::close(fd);
            }
        }
        ::freeaddrinfo(res);
        if (listen_fd_ < 0) return error;
        if (!loop_.watch(listen_fd_, EPOLLIN | EPOLLET, [this](std::uint32_t) { accept_all(); })) {
            error = std::string("epoll: ") + std::strerror(errno);
            ::close(listen_fd_);
            listen_fd_ = -1;
        }
        return listen_fd_ < 0 ? error : std::string();
    }

    /// The port actually bound (useful with port 0).
    std::uint16_t local_port() const {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
        if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }

    /// Stops accepting and ends every connection; open streams end with CloseReason::shutdown.
    void shutdown() {
        if (listen_fd_ >= 0) {
            loop_.unwatch(listen_fd_);
            ::close(listen_fd_);
            listen_fd_ = -1;
        }
        for (std::size_t fd = 0; fd < conns_.size(); ++fd)
            if (conns_[fd]) close_connection(*conns_[fd], rill::CloseReason::shutdown);
    }

    std::size_t open_connections() const noexcept { return open_; }

private:
    enum class Phase : std::uint8_t {
        reading,     // waiting for (the rest of) a request head
        responding,  // a body is streaming; reading pauses so requests never overlap
        lingering,   // an error response went out: drain what the client still sends, then close
    };

    struct Connection {
        int fd = -1;
        std::uint64_t id = 0;
        Phase phase = Phase::reading;
        bool close_after = false;  // answer this request, then close (error or unread request body)
        std::string in;            // unparsed bytes; empty and unallocated while the connection idles
        BodyPtr body;
        EventLoop::TimerId timer;
        std::uint64_t discard = 0;  // request-body bytes still to skip
    };

    // Timers and posted calls name a connection by (fd, id): the fd may be reused
    // by a new connection before they run, the id never is.
    Connection* find(int fd, std::uint64_t id) const noexcept {
        const auto index = static_cast<std::size_t>(fd);
        if (fd < 0 || index >= conns_.size() || !conns_[index] || conns_[index]->id != id) return nullptr;
        return conns_[index].get();
    }

    void accept_all() {
        // Edge-triggered: accept until EAGAIN, but yield to the loop now and then.
        for (int i = 0; i < 1024; ++i) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    // Out of descriptors: the pending clients stay queued; look again shortly.
                    if (!retry_accept_)
                        retry_accept_ = loop_.add_timer(std::chrono::milliseconds(100), [this] {
                            retry_accept_ = EventLoop::TimerId{};
                            if (listen_fd_ >= 0) accept_all();
                        });
                }
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
        // Parts are often small and latency matters more than packet count.
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const auto index = static_cast<std::size_t>(fd);
        if (index >= conns_.size()) conns_.resize(index + 1);
        auto conn = std::make_unique<Connection>();
        conn->fd = fd;
        conn->id = ++next_id_;
        const std::uint64_t id = conn->id;
        if (!loop_.watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                         [this, fd, id](std::uint32_t events) { on_io(fd, id, events); })) {
            ::close(fd);
            return;
        }
        conns_[index] = std::move(conn);
        ++open_;
        arm_timer(*conns_[index], opts_.idle_timeout);
        // No read here: registering an edge-triggered fd reports data that is already waiting.
    }

    void arm_timer(Connection& c, std::chrono::milliseconds after) {
        loop_.cancel_timer(c.timer);
        const int fd = c.fd;
        const std::uint64_t id = c.id;
        c.timer = loop_.add_timer(after, [this, fd, id] {
            if (Connection* conn = find(fd, id)) {
                conn->timer = EventLoop::TimerId{};
                close_connection(*conn, rill::CloseReason::timeout);
            }
        });
    }

    void on_io(int fd, std::uint64_t id, std::uint32_t events) {
        Connection* c = find(fd, id);
        if (c == nullptr) return;
        switch (c->phase) {
            case Phase::reading:
                if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_requests(*c);
                return;
            case Phase::lingering:
                if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) linger_read(*c);
                return;
            case Phase::responding: {
                // Hold the body: its end posts after_body(), which may drop the connection's reference.
                BodyPtr body = c->body;
                if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) body->flush();
                // A request pipelined behind this one waits in the socket; a client that
                // left while its stream has nothing to send is caught here, not at the next write.
                if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0 &&
                    body->state() != rill::BodyState::closed)
                    rill::abort_if_peer_closed(*body, fd);
                return;
            }
        }
    }

    // Reads and parses until a response starts, the socket is empty, or the connection ends.
    void read_requests(Connection& c) {
        for (int rounds = 0; rounds < 64; ++rounds) {
            if (!parse_buffered(c)) return;          // the connection was closed
            if (c.phase != Phase::reading) return;   // a response is in flight: stop reading
            char scratch[16 * 1024];
            const ssize_t n = ::recv(c.fd, scratch, sizeof scratch, 0);
            if (n > 0) {
                c.in.append(scratch, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (c.in.empty()) std::string().swap(c.in);  // an idle connection keeps no buffer
                return;
            }
            // EOF or error while no response is in flight: nothing is owed to this client.
            close_connection(c, rill::CloseReason::peer_closed);
            return;
        }
        // Many rounds without EAGAIN: let other connections run, then continue.
        const int fd = c.fd;
        const std::uint64_t id = c.id;
        loop_.post([this, fd, id] {
            if (Connection* conn = find(fd, id); conn != nullptr && conn->phase == Phase::reading)
                read_requests(*conn);
        });
    }

    // Starts the response to the first complete request in c.in. Returns false if
    // the connection was closed.
    bool parse_buffered(Connection& c) {
        if (c.discard != 0) {
            const std::size_t skip = c.discard < c.in.size() ? static_cast<std::size_t>(c.discard) : c.in.size();
            c.in.erase(0, skip);
            c.discard -= skip;
            if (c.discard != 0) return true;
        }
        if (c.in.empty()) return true;
        HttpRequest req;
        switch (parse_request(c.in, req, opts_.limits)) {
            case ParseStatus::incomplete: return true;
            case ParseStatus::bad_request: return respond_error(c, 400, "malformed request\n");
            case ParseStatus::too_large: return respond_error(c, 431, "request head too large\n");
            case ParseStatus::bad_version: return respond_error(c, 505, "only HTTP/1.0 and HTTP/1.1\n");
            case ParseStatus::not_implemented:
                return respond_error(c, 501, "chunked request bodies are not supported\n");
            case ParseStatus::complete: break;
        }
        if (req.content_length > opts_.max_request_body)
            return respond_error(c, 413, "request body too large\n");
        loop_.cancel_timer(c.timer);  // the client waits for us now, not the other way round
        c.discard = req.content_length;
        start_body(c);
        handler_(req, c.body);
        // The views in req point into c.in: drop the head only after the handler returned.
        c.in.erase(0, req.head_size);
        if (c.in.empty()) std::string().swap(c.in);
        return true;
    }

    void start_body(Connection& c) {
        c.phase = Phase::responding;
        c.body = rill::make_deferred_body<rill::PosixSocketSink>(opts_.body);
        const int fd = c.fd;
        const std::uint64_t id = c.id;
        // The sink reports the end from inside a body call; the connection is
        // handled on the next turn, when no body function is on the stack.
        c.body->each(rill::PosixSocketSink(fd, [this, fd, id](rill::CloseReason) {
            loop_.post([this, fd, id] {
                if (Connection* conn = find(fd, id)) after_body(*conn);
            });
        }));
    }

    bool respond_error(Connection& c, int status, std::string_view text) {
        loop_.cancel_timer(c.timer);
        c.close_after = true;
        c.in.clear();
        start_body(c);
        rill::ResponseHead head(status);
        head.header("Content-Type", "text/plain")
            .header("Content-Length", std::to_string(text.size()))
            .header("Connection", "close");
        const rill::Request request{"GET", 1, "close", {}};
        if (c.body->respond(request, head) == rill::HeadStatus::ok) (void)c.body->send(text);
        c.body->close();
        return true;
    }

    void after_body(Connection& c) {
        const bool completed = c.body && c.body->close_reason() == rill::CloseReason::completed;
        const bool keep = c.body && c.body->keep_alive() && !c.close_after;
        c.body.reset();
        if (keep) {
            c.phase = Phase::reading;
            arm_timer(c, opts_.idle_timeout);
            // The next request may already sit in c.in, or in the socket (edge-triggered:
            // its readiness was reported while we were not reading).
            read_requests(c);
            return;
        }
        if (!completed) {
            close_connection(c, rill::CloseReason::completed);
            return;
        }
        // Closing with unread bytes would reset the connection and could destroy the
        // response before the client reads it: half-close, drain briefly, then close.
        c.phase = Phase::lingering;
        std::string().swap(c.in);
        ::shutdown(c.fd, SHUT_WR);
        arm_timer(c, opts_.linger_timeout);
        linger_read(c);
    }

    // Drops what the client sends until its EOF, an error, or the linger timer. Only
    // those end the linger: closing while bytes still arrive would reset the connection.
    void linger_read(Connection& c) {
        char scratch[16 * 1024];
        for (int rounds = 0; rounds < 64; ++rounds) {
            const ssize_t n = ::recv(c.fd, scratch, sizeof scratch, 0);
            if (n > 0) continue;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // the next event resumes
            close_connection(c, rill::CloseReason::completed);
            return;
        }
        // A fast uploader: let other connections run, then go on. Edge-triggered, so
        // the bytes already waiting would bring no new event.
        const int fd = c.fd;
        const std::uint64_t id = c.id;
        loop_.post([this, fd, id] {
            if (Connection* conn = find(fd, id); conn != nullptr && conn->phase == Phase::lingering)
                linger_read(*conn);
        });
    }

    void close_connection(Connection& c, rill::CloseReason why) {
        const int fd = c.fd;
        loop_.cancel_timer(c.timer);
        // Dropping the connection's reference alone would leave the application's
        // stream running: abort tells it (on_close) and the sink that it is over.
        if (BodyPtr body = std::move(c.body)) body->abort(why);
        loop_.unwatch(fd);
        ::close(fd);
        conns_[static_cast<std::size_t>(fd)].reset();
        --open_;
    }

    EventLoop& loop_;
    ServerOptions opts_;
    Handler handler_;
    int listen_fd_ = -1;
    std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
    std::uint64_t next_id_ = 0;
    std::size_t open_ = 0;
    EventLoop::TimerId retry_accept_;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_SERVER_HPP
