// hello_uv: the shared routes (examples/common/routes.hpp) on a plain libuv server,
// through rill/uv.hpp. Same command line and behaviour as hello_deferred.
//
// What rill adds to this server is marked "rill:" below; the rest is what a libuv
// HTTP server has anyway (listen, accept, read, parse, timers, signals).
//
// Request parsing: the example server's parser (examples/server/http_request_parser.hpp),
// not Debian's libhttp-parser-dev. A libuv user who must answer exactly as hello_deferred
// does would make the same choice: http_parser 2.9.4 accepts what this server must refuse
// with 400 (bare LF line ends, obs-fold, two spaces after the method, absolute-form
// targets, whitespace before a field's colon, a missing or repeated Host), so it would
// need a second, hand-written validation pass over the same bytes; its incremental
// callbacks buy nothing for a head capped at 8 KiB; and it is no longer maintained
// upstream (its successor, llhttp, has no C library package in Debian 12). The strict
// parser is bounded, dependency-free, fuzzed with rill, and keeps the 400/431/505/501
// answers byte-identical across the example servers.

#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <rill/uv.hpp>

#include "../common/cli_args.hpp"
#include "../common/routes.hpp"
#include "../server/http_request_parser.hpp"
#include "uv_scheduler.hpp"

namespace {

constexpr const char* kUsage =
    "usage: hello_uv [--host ADDR] [--port N] [--delay-ms N] [--high-water BYTES]\n"
    "                [--idle-timeout-ms N] [--stall-timeout-ms N] [--sndbuf BYTES]\n"
    "  --host              address to listen on (default 127.0.0.1)\n"
    "  --port              TCP port, 0 picks a free one (default 8080)\n"
    "  --delay-ms          delay before \"World\" on / (default 1000)\n"
    "  --high-water        per-stream queue limit before backpressure (default 65536)\n"
    "  --idle-timeout-ms   time a client has to send a full request head (default 10000)\n"
    "  --stall-timeout-ms  a write making no progress this long ends its response (default 30000)\n"
    "  --sndbuf            SO_SNDBUF of every connection, 0 keeps the system's (default 0)\n";

using Ms = std::chrono::milliseconds;
using rill_example::UvScheduler;

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    Ms idle_timeout{10000};  ///< for a request head to arrive in full
    int sndbuf = 0;          ///< SO_SNDBUF of each connection; 0: the system's
    rill_example::ParseLimits limits{};
    std::uint64_t max_request_body = 1024 * 1024;  ///< larger request bodies get 413
    rill::UvOptions conn{};                        // rill: body options, stall timeout, linger
};

class Server;

struct Client {
    Client(Server& s, const rill::UvOptions& options)
        : server(s), rill(reinterpret_cast<uv_stream_t*>(&tcp), &Client::closed, options) {}

    static void closed(uv_handle_t* handle);

    uv_tcp_t tcp{};
    Server& server;
    rill::UvConnection rill;  // rill: the connection's responses
    std::string in;           // bytes not parsed yet
    std::uint64_t discard = 0;  // request-body bytes still to skip
    rill_example::Scheduler::TimerId idle_timer = 0;
};

class Server {
public:
    Server(uv_loop_t* loop, UvScheduler& scheduler, rill_example::HelloApp& app, ServerOptions options)
        : loop_(loop), scheduler_(scheduler), app_(app), opts_(std::move(options)) {}
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and listens. Returns an error message, or an empty string on success.
    std::string listen() {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        uv_getaddrinfo_t resolve;
        const std::string port = std::to_string(opts_.port);
        if (const int rc = uv_getaddrinfo(loop_, &resolve, nullptr, opts_.host.c_str(), port.c_str(), &hints); rc != 0)
            return "cannot resolve " + opts_.host + ": " + uv_strerror(rc);
        std::string error = "no address for " + opts_.host;
        uv_tcp_init(loop_, &listener_);
        listener_.data = this;
        bool bound = false;
        for (addrinfo* ai = resolve.addrinfo; ai != nullptr && !bound; ai = ai->ai_next) {
            int rc = uv_tcp_bind(&listener_, ai->ai_addr, 0);
            if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), SOMAXCONN, &Server::on_connection);
            if (rc == 0) {
                bound = true;
            } else {
                error = "cannot listen on " + opts_.host + ":" + port + ": " + uv_strerror(rc);
            }
        }
        uv_freeaddrinfo(resolve.addrinfo);
        listening_ = true;
        return bound ? std::string() : error;
    }

    std::uint16_t local_port() const {
        sockaddr_storage ss{};
        int len = sizeof ss;
        if (uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
        if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }

    /// Stops accepting and closes every connection; open streams end with CloseReason::shutdown.
    void shutdown() {
        if (listening_) {
            listening_ = false;
            uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
        }
        const std::vector<Client*> all(clients_.begin(), clients_.end());
        for (Client* c : all) c->rill.close(rill::CloseReason::shutdown);
    }

    void forget(Client& c) {
        scheduler_.cancel_timer(c.idle_timer);
        clients_.erase(&c);
    }

private:
    static void on_connection(uv_stream_t* listener, int status) {
        auto& self = *static_cast<Server*>(listener->data);
        if (status < 0) return;
        auto* c = new Client(self, self.opts_.conn);
        uv_tcp_init(self.loop_, &c->tcp);
        c->tcp.data = c;
        self.clients_.insert(c);
        if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return c->rill.close();
        // Parts are often small and latency matters more than packet count.
        uv_tcp_nodelay(&c->tcp, 1);
        if (self.opts_.sndbuf > 0) {
            int size = self.opts_.sndbuf;
            uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&c->tcp), &size);
        }
        self.arm_idle(*c);
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &Server::on_alloc, &Server::on_read);
    }

    // One buffer for every read: each read callback consumes it before the next read.
    static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
        auto& self = static_cast<Client*>(handle->data)->server;
        buf->base = self.read_buffer_;
        buf->len = sizeof self.read_buffer_;
    }

    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto& c = *static_cast<Client*>(stream->data);
        if (c.rill.on_read(nread, buf)) return;  // rill: a response streams, or the connection closes
        if (nread < 0) return c.rill.close(rill::CloseReason::peer_closed);
        c.in.append(buf->base, static_cast<std::size_t>(nread));
        c.server.parse(c);
    }

    void arm_idle(Client& c) {
        scheduler_.cancel_timer(c.idle_timer);
        Client* client = &c;
        c.idle_timer = scheduler_.add_timer(opts_.idle_timeout, [client] {
            client->idle_timer = 0;
            client->rill.close(rill::CloseReason::timeout);
        });
    }

    // Starts the response to the first complete request in c.in, if there is one.
    void parse(Client& c) {
        if (!c.rill.idle()) return;
        if (c.discard != 0) {
            const std::size_t skip = c.discard < c.in.size() ? static_cast<std::size_t>(c.discard) : c.in.size();
            c.in.erase(0, skip);
            c.discard -= skip;
            if (c.discard != 0) return;
        }
        if (c.in.empty()) {
            std::string().swap(c.in);  // an idle connection keeps no buffer
            return;
        }
        using rill_example::ParseStatus;
        rill_example::HttpRequest req;
        switch (rill_example::parse_request(c.in, req, opts_.limits)) {
            case ParseStatus::incomplete: return;
            case ParseStatus::bad_request: return respond_error(c, 400, "malformed request\n");
            case ParseStatus::too_large: return respond_error(c, 431, "request head too large\n");
            case ParseStatus::bad_version: return respond_error(c, 505, "only HTTP/1.0 and HTTP/1.1\n");
            case ParseStatus::not_implemented:
                return respond_error(c, 501, "chunked request bodies are not supported\n");
            case ParseStatus::complete: break;
        }
        if (req.content_length > opts_.max_request_body) return respond_error(c, 413, "request body too large\n");
        scheduler_.cancel_timer(c.idle_timer);  // the client waits for us now, not the other way round
        c.idle_timer = 0;
        c.discard = req.content_length;
        Client* client = &c;
        // rill: a body per request; its end comes back from the loop, with what was read meanwhile.
        const rill::BodyPtr body = c.rill.start_response([client](rill::UvEnd end) {
            if (!end.keep_alive) return;  // rill closes the connection (gracefully after a complete response)
            client->in.append(end.input);
            client->server.arm_idle(*client);
            client->server.parse(*client);
        });
        app_(rill_example::RouteRequest{req.method, req.path, req.query, req.framing_request()}, body);
        // The views in req point into c.in: drop the head only after the application returned.
        c.in.erase(0, req.head_size);
    }

    // The connection cannot be trusted any more: answer, then rill half-closes it and
    // drains what the client still sends before closing (no reset under the response).
    void respond_error(Client& c, int status, std::string_view text) {
        scheduler_.cancel_timer(c.idle_timer);
        c.idle_timer = 0;
        std::string().swap(c.in);
        c.discard = 0;
        rill_example::respond_error_and_close(c.rill.start_response([](rill::UvEnd) {}), status, text);
    }

    uv_loop_t* loop_;
    UvScheduler& scheduler_;
    rill_example::HelloApp& app_;
    ServerOptions opts_;
    uv_tcp_t listener_{};
    bool listening_ = false;
    std::unordered_set<Client*> clients_;
    char read_buffer_[64 * 1024];
};

void Client::closed(uv_handle_t* handle) {
    auto* c = static_cast<Client*>(handle->data);
    c->server.forget(*c);
    delete c;
}

}  // namespace

int main(int argc, char** argv) {
    rill_example::CommonArgs args;
    ServerOptions opts;
    const int status = rill_example::parse_args(
        argc, argv, "hello_uv", kUsage, args, [&](std::string_view flag, const char* value) {
            using rill_example::FlagResult;
            std::uint64_t n = 0;
            if (flag == "--high-water") return rill_example::parse_high_water(value, opts.conn.body);
            if (flag == "--idle-timeout-ms") return rill_example::parse_timeout_ms(value, opts.idle_timeout);
            if (flag == "--stall-timeout-ms") return rill_example::parse_timeout_ms(value, opts.conn.stall_timeout);
            if (flag != "--sndbuf") return FlagResult::unknown;
            if (!rill_example::parse_number(value, 1ULL << 30, n)) return FlagResult::bad;
            opts.sndbuf = static_cast<int>(n);
            return FlagResult::ok;
        });
    if (status >= 0) return status;
    opts.host = args.host;
    opts.port = args.port;

    rill_example::raise_fd_limit();
    // libuv writes with writev(): a peer that left must be an error value, not a signal.
    ::signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    if (const int rc = uv_loop_init(&loop); rc != 0) {
        std::fprintf(stderr, "hello_uv: uv_loop_init: %s\n", uv_strerror(rc));
        return 1;
    }
    int exit_status = 0;
    {
        rill::UvTurn turn(&loop);  // rill: sends of one loop iteration leave together
        UvScheduler scheduler(&loop);
        rill_example::HelloApp app(scheduler, args.delay);
        Server server(&loop, scheduler, app, opts);
        // SIGINT and SIGTERM: stop accepting, end every stream, let the loop run dry.
        struct Stop {
            uv_signal_t term{}, intr{};
            std::function<void()> fn;
        } stop;
        stop.fn = [&] {
            server.shutdown();
            scheduler.shutdown();
            uv_close(reinterpret_cast<uv_handle_t*>(&stop.term), nullptr);
            uv_close(reinterpret_cast<uv_handle_t*>(&stop.intr), nullptr);
        };
        for (uv_signal_t* s : {&stop.term, &stop.intr}) {
            uv_signal_init(&loop, s);
            s->data = &stop;
            uv_signal_start(s, [](uv_signal_t* h, int) { static_cast<Stop*>(h->data)->fn(); },
                            s == &stop.term ? SIGTERM : SIGINT);
        }
        // Only now: a test may signal as soon as it has read this line.
        if (const std::string err = server.listen(); !err.empty()) {
            std::fprintf(stderr, "hello_uv: %s\n", err.c_str());
            exit_status = 1;
            stop.fn();
        } else {
            rill_example::announce_listening(opts.host, server.local_port());
        }
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // the close callbacks of what the scope above let go
    if (const int rc = uv_loop_close(&loop); rc != 0) {
        std::fprintf(stderr, "hello_uv: handles left open at exit: %s\n", uv_strerror(rc));
        return 1;
    }
    return exit_status;
}
