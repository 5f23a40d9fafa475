// The glue docs/adapters.md shows for an existing Asio server (no Beast): a session
// that reads request heads with its own parser and now answers through rill. The
// lines between "rill glue" markers are all the user adds; glue_test.py counts them
// and drives this server with curl. Built with standalone Asio (the same glue works
// with Boost.Asio: only the includes and the namespace differ).
//
// usage: glue_asio [--port N]   first stdout line: listening on http://127.0.0.1:PORT/

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>

// rill glue begin
#include <rill/asio.hpp>
// rill glue end

using asio::ip::tcp;

// What the server's own parser already produced before rill came in.
struct ParsedRequest {
    std::string_view method, target;
    int version_minor = 1;
    std::string_view connection;
};

ParsedRequest parse_head(std::string_view head) {
    ParsedRequest req;
    const std::string_view line = head.substr(0, head.find("\r\n"));
    req.method = line.substr(0, line.find(' '));
    req.target = line.substr(req.method.size() + 1, line.rfind(' ') - req.method.size() - 1);
    req.version_minor = line.substr(line.rfind(' ') + 1) == "HTTP/1.0" ? 0 : 1;
    const std::size_t c = head.find("\r\nConnection: ");
    if (c != std::string_view::npos) req.connection = head.substr(c + 14, head.find("\r\n", c + 14) - c - 14);
    return req;
}

// The application: "Hello, " now, "World" 100 ms later, on any rill server.
void app(asio::io_context& io, const rill::Request& framing, const rill::BodyPtr& body) {
    rill::ResponseHead head(200);
    head.header("Content-Type", "text/plain");
    if (body->respond(framing, head) != rill::HeadStatus::ok) return body->abort();
    if (body->ended()) return;  // HEAD
    (void)body->send("Hello, ");
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
    timer->async_wait([timer, body](const asio::error_code&) {
        (void)body->send("World");
        body->close();
    });
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, asio::io_context& io) : socket_(std::move(socket)), io_(io) {}

    void read_request() {
        asio::async_read_until(socket_, asio::dynamic_buffer(in_), "\r\n\r\n",
                               [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                                   if (ec) return self->close();
                                   self->on_request(parse_head(std::string_view(self->in_).substr(0, n)), n);
                               });
    }

private:
    void on_request(const ParsedRequest& req, std::size_t head_size) {
        // rill glue begin
        const rill::Request framing{req.method, req.version_minor, req.connection, {}};
        rill::asio::respond(
            socket_, [&](const rill::BodyPtr& body) { app(io_, framing, body); },
            [self = shared_from_this()](bool keep_alive) { keep_alive ? self->read_request() : self->close(); });
        // rill glue end
        in_.erase(0, head_size);
    }

    void close() {
        asio::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_send, ec);
    }

    tcp::socket socket_;
    asio::io_context& io_;
    std::string in_;
};

int main(int argc, char** argv) {
    const unsigned short port =
        argc == 3 && std::strcmp(argv[1], "--port") == 0 ? static_cast<unsigned short>(std::atoi(argv[2])) : 8080;
    asio::io_context io(1);
    // rill glue begin
    rill::asio::LoopTurn turn(io.get_executor());
    // rill glue end
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::function<void()> accept = [&] {
        acceptor.async_accept([&](const asio::error_code& ec, tcp::socket socket) {
            if (!ec) std::make_shared<Session>(std::move(socket), io)->read_request();
            accept();
        });
    };
    accept();
    std::printf("listening on http://127.0.0.1:%u/\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    io.run();
}
