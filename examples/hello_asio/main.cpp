// hello_asio: hello_deferred's routes (examples/common/routes.hpp) on Boost.Asio,
// requests parsed by Boost.Beast's parser, responses streamed by rill/asio.hpp.
// Same command line and behaviour as hello_deferred (docs/examples.md), plus
// --stall-timeout-ms.
//
// One thread runs the io_context. Per connection: read and parse a request, hand
// it to rill::asio::respond() (the routes answer now or later), and in on_done
// either parse the next (keep-alive, pipelining) or close.

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <rill/asio.hpp>
#include <rill/beast.hpp>

#include "../common/cli_args.hpp"
#include "../common/routes.hpp"
#include "asio_scheduler.hpp"

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr const char* kUsage =
    "usage: hello_asio [--host ADDR] [--port N] [--delay-ms N] [--high-water BYTES]\n"
    "                  [--idle-timeout-ms N] [--stall-timeout-ms N]\n"
    "  --host              address to listen on (default 127.0.0.1)\n"
    "  --port              TCP port, 0 picks a free one (default 8080)\n"
    "  --delay-ms          delay before \"World\" on / (default 1000)\n"
    "  --high-water        per-stream queue limit before backpressure (default 65536)\n"
    "  --idle-timeout-ms   time a client has to send a full request head (default 10000)\n"
    "  --stall-timeout-ms  a client that reads nothing for this long is cut (default 30000)\n";

struct Config {
    std::chrono::milliseconds idle_timeout{10000};
    std::chrono::milliseconds linger_timeout{2000};
    std::size_t max_head = 8 * 1024;
    std::size_t max_fields = 64;
    std::uint64_t max_request_body = 1024 * 1024;
    rill::asio::Options rill;  // body options, stall timeout, peer watch
};

class Server;

// One connection: read a request, respond through rill, then the next or close.
class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Server& server);
    void start();
    void stop();  // server shutdown

private:
    void next_request();
    void parse();
    void read();
    bool folded_line() const;
    bool well_formed_version() const;
    bool head_acceptable(int& status, std::string_view& text);
    void dispatch();
    void respond_error(int status, std::string_view text);
    void after_response(bool keep_alive);
    void linger();
    void linger_read();
    void arm_timer(std::chrono::milliseconds after);
    void close();

    tcp::socket socket_;
    Server& server_;
    net::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    rill::BodyPtr body_;       // the response in flight, for stop()
    bool close_after_ = false;  // an error response: close (lingering) once it is out
    bool closed_ = false;
    char scratch_[16 * 1024];
};

class Server {
public:
    Server(net::io_context& io, Config config, rill_example::HelloApp& app)
        : acceptor_(io), config_(std::move(config)), app_(app) {}

    std::string listen(const std::string& host, std::uint16_t port) {
        error_code ec;
        const auto address = net::ip::make_address(host, ec);
        if (ec) return "cannot parse address " + host + ": " + ec.message();
        const tcp::endpoint endpoint(address, port);
        if (acceptor_.open(endpoint.protocol(), ec) ||
            acceptor_.set_option(net::socket_base::reuse_address(true), ec) || acceptor_.bind(endpoint, ec) ||
            acceptor_.listen(net::socket_base::max_listen_connections, ec))
            return "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message();
        accept();
        return {};
    }

    std::uint16_t local_port() const {
        error_code ec;
        return acceptor_.local_endpoint(ec).port();
    }

    /// Stops accepting and ends every connection; open streams end with CloseReason::shutdown.
    void shutdown() {
        error_code ec;
        acceptor_.close(ec);
        auto sessions = std::move(sessions_);
        sessions_.clear();
        for (auto& entry : sessions)
            if (auto s = entry.second.lock()) s->stop();
    }

    void forget(Session* s) { sessions_.erase(s); }
    const Config& config() const noexcept { return config_; }
    rill_example::HelloApp& app() noexcept { return app_; }

private:
    void accept() {
        acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
            if (!ec) {
                auto session = std::make_shared<Session>(std::move(socket), *this);
                sessions_.emplace(session.get(), session);
                session->start();
            }
            accept();
        });
    }

    tcp::acceptor acceptor_;
    Config config_;
    rill_example::HelloApp& app_;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

Session::Session(tcp::socket socket, Server& server)
    : socket_(std::move(socket)), server_(server), timer_(socket_.get_executor()),
      buffer_(server.config().max_head + 16 * 1024) {}

void Session::start() {
    error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // parts are small; latency matters more
    next_request();
}

void Session::stop() {
    if (closed_) return;
    // The application's stream hears it (on_close) before the socket goes.
    if (rill::BodyPtr body = std::move(body_)) body->abort(rill::CloseReason::shutdown);
    close();
}

void Session::next_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.config().max_head));
    parser_->body_limit(server_.config().max_request_body);
    arm_timer(server_.config().idle_timeout);
    parse();
}

// Feeds what is buffered to the parser; reads more when it needs more.
void Session::parse() {
    while (buffer_.size() != 0 && !parser_->is_done()) {
        const bool had_head = parser_->is_header_done();
        if (!had_head && folded_line()) return respond_error(400, "malformed request\n");
        error_code ec;
        const std::size_t used = parser_->put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec == http::error::need_more) break;
        if (ec == http::error::header_limit) return respond_error(431, "request head too large\n");
        if (ec == http::error::body_limit) return respond_error(413, "request body too large\n");
        if (ec == http::error::bad_version && well_formed_version())
            return respond_error(505, "only HTTP/1.0 and HTTP/1.1\n");
        if (ec) return respond_error(400, "malformed request\n");
        if (!had_head && parser_->is_header_done()) {
            int status = 0;
            std::string_view text;
            if (!head_acceptable(status, text)) return respond_error(status, text);
        }
        if (used == 0) break;
    }
    if (parser_->is_done()) return dispatch();
    // Beast waits for a whole head before it consumes any of it: bound what it waits on.
    if (!parser_->is_header_done() && buffer_.size() > server_.config().max_head)
        return respond_error(431, "request head too large\n");
    read();
}

void Session::read() {
    socket_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (self->closed_) return;
        if (ec) return self->close();  // EOF or error while no response is in flight
        if (n > self->buffer_.max_size() - self->buffer_.size())
            return self->respond_error(431, "request head too large\n");
        self->buffer_.commit(net::buffer_copy(self->buffer_.prepare(n), net::buffer(self->scratch_, n)));
        self->parse();
    });
}

// Beast accepts obs-fold (a field line continued on the next line); RFC 9112 5.2 lets a
// server refuse it, and this one does, like the example server. Beast consumes a head
// only once it is whole, so the buffer starts with the head being parsed.
bool Session::folded_line() const {
    const auto data = buffer_.data();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    const std::string_view head = bytes.substr(0, bytes.find("\r\n\r\n"));
    return head.find("\n ") != std::string_view::npos || head.find("\n\t") != std::string_view::npos;
}

// Beast refuses every version but 1.0 and 1.1 alike; a well-formed other one gets a 505.
bool Session::well_formed_version() const {
    const auto data = buffer_.data();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    const std::string_view line = bytes.substr(0, bytes.find("\r\n"));
    if (line.size() < 9 || line[line.size() - 9] != ' ') return false;
    const std::string_view v = line.substr(line.size() - 8);
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return v.substr(0, 5) == "HTTP/" && digit(v[5]) && v[6] == '.' && digit(v[7]);
}

// What Beast's parser leaves to the server: the version, Host, the target form, the
// number of fields, repeated lengths and both framings at once.
bool Session::head_acceptable(int& status, std::string_view& text) {
    const auto& req = parser_->get();
    status = 400;
    text = "malformed request\n";
    if (req.version() != 10 && req.version() != 11) {
        status = 505;
        text = "only HTTP/1.0 and HTTP/1.1\n";
        return false;
    }
    std::size_t fields = 0;
    for (auto it = req.begin(); it != req.end(); ++it) ++fields;
    if (fields > server_.config().max_fields) {
        status = 431;
        text = "request head too large\n";
        return false;
    }
    const std::size_t hosts = req.count(http::field::host);
    if (hosts > 1 || (req.version() == 11 && hosts == 0)) return false;
    const auto target = req.target();
    if (target.empty() || target.front() != '/') return false;
    // Repeated lengths (Beast accepts equal ones) and both framings at once are smuggling shapes.
    const std::size_t lengths = req.count(http::field::content_length);
    if (lengths > 1 || (lengths != 0 && req.count(http::field::transfer_encoding) != 0)) return false;
    return true;
}

void Session::dispatch() {
    timer_.cancel();  // the client waits for us now, not the other way round
    auto& req = parser_->get();
    const auto target = req.target();
    const std::string_view whole(target.data(), target.size());
    const std::size_t q = whole.find('?');
    const rill::beast::RequestView framing(req);
    const rill_example::RouteRequest route{framing.get().method, whole.substr(0, q),
                                           q == std::string_view::npos ? std::string_view() : whole.substr(q + 1),
                                           framing};
    close_after_ = false;
    auto self = shared_from_this();
    body_ = rill::asio::respond(
        socket_, [&](const rill::BodyPtr& body) { server_.app()(route, body); },
        [self](bool keep_alive) { self->after_response(keep_alive); }, server_.config().rill);
}

void Session::respond_error(int status, std::string_view text) {
    timer_.cancel();
    close_after_ = true;
    buffer_.consume(buffer_.size());
    auto self = shared_from_this();
    body_ = rill::asio::respond(
        socket_,
        [&](const rill::BodyPtr& body) { rill_example::respond_error_and_close(body, status, text); },
        [self](bool keep_alive) { self->after_response(keep_alive); }, server_.config().rill);
}

void Session::after_response(bool keep_alive) {
    const bool completed = body_ && body_->close_reason() == rill::CloseReason::completed;
    body_.reset();
    if (closed_) return;
    if (keep_alive && !close_after_) return next_request();
    if (!completed) return close();
    linger();
}

// Closing with unread bytes would reset the connection and could destroy the response
// before the client reads it: half-close, drain briefly, then close.
void Session::linger() {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    buffer_.consume(buffer_.size());
    arm_timer(server_.config().linger_timeout);
    linger_read();
}

void Session::linger_read() {
    socket_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (self->closed_) return;
        if (ec) return self->close();  // the client's EOF (or an error) ends the linger
        self->linger_read();
    });
}

void Session::arm_timer(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->closed_) return;
        self->close();
    });
}

void Session::close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    if (rill::BodyPtr body = std::move(body_)) body->abort(rill::CloseReason::shutdown);
    error_code ec;
    socket_.close(ec);
    server_.forget(this);
}

}  // namespace

int main(int argc, char** argv) {
    rill_example::CommonArgs args;
    Config config;
    const int status = rill_example::parse_args(
        argc, argv, "hello_asio", kUsage, args, [&](std::string_view flag, const char* value) {
            if (flag == "--high-water") return rill_example::parse_high_water(value, config.rill.body);
            if (flag == "--idle-timeout-ms") return rill_example::parse_timeout_ms(value, config.idle_timeout);
            // 0 turns the stall timeout off (rill::asio::Options).
            if (flag == "--stall-timeout-ms") return rill_example::parse_timeout_ms(value, config.rill.stall_timeout, true);
            return rill_example::FlagResult::unknown;
        });
    if (status >= 0) return status;

    net::io_context io(1);
    rill_example::AsioScheduler scheduler(io);
    rill_example::HelloApp app(scheduler, args.delay);
    Server server(io, config, app);
    if (const std::string err = server.listen(args.host, args.port); !err.empty()) {
        std::fprintf(stderr, "hello_asio: %s\n", err.c_str());
        return 1;
    }

    // Parts a handler sends to one body leave together once it returns (rill::Turn).
    rill::asio::LoopTurn turn(io.get_executor());

    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const error_code& ec, int) {
        if (ec) return;
        server.shutdown();
        scheduler.cancel_all();
        io.stop();
    });

    rill_example::announce_listening(args.host, server.local_port());
    io.run();
    return 0;
}
