// The glue docs/adapters.md shows for an existing Boost.Beast server: a plain async
// Beast session (read a request, answer, read the next) that answers through rill.
// The lines between "rill glue" markers are all a Beast user adds; glue_test.py
// counts them and drives this server with curl. The application part (app()) is
// route code any rill server runs, not glue.
//
// usage: glue_beast [--port N]   first stdout line: listening on http://127.0.0.1:PORT/

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

// rill glue begin
#include <rill/asio.hpp>
#include <rill/beast.hpp>
// rill glue end

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The application: "Hello, " now, "World" 100 ms later, on any rill server.
void app(net::io_context& io, const http::request<http::string_body>& req, const rill::Request& framing,
         const rill::BodyPtr& body) {
    http::response<http::empty_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    if (body->respond(framing, rill::beast::to_response_head(res)) != rill::HeadStatus::ok) return body->abort();
    if (body->ended()) return;  // HEAD
    (void)body->send("Hello, ");
    auto timer = std::make_shared<net::steady_timer>(io, std::chrono::milliseconds(100));
    timer->async_wait([timer, body](beast::error_code) {
        (void)body->send("World");
        body->close();
    });
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket&& socket, net::io_context& io) : stream_(std::move(socket)), io_(io) {}
    void run() { do_read(); }

private:
    void do_read() {
        req_ = {};
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, req_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) return do_close();
        // rill glue begin
        rill::beast::RequestView framing(req_);
        rill::asio::respond(
            stream_, [&](const rill::BodyPtr& body) { app(io_, req_, framing, body); },
            [self = shared_from_this()](bool keep_alive) { keep_alive ? self->do_read() : self->do_close(); });
        // rill glue end
    }

    void do_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    net::io_context& io_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
};

class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(net::io_context& io, tcp::endpoint endpoint) : io_(io), acceptor_(io, endpoint) {}
    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    void run() {
        acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
            if (!ec) std::make_shared<Session>(std::move(socket), self->io_)->run();
            self->run();
        });
    }

private:
    net::io_context& io_;
    tcp::acceptor acceptor_;
};

int main(int argc, char** argv) {
    const unsigned short port =
        argc == 3 && std::strcmp(argv[1], "--port") == 0 ? static_cast<unsigned short>(std::atoi(argv[2])) : 8080;
    net::io_context io(1);
    // rill glue begin
    rill::asio::LoopTurn turn(io.get_executor());
    // rill glue end
    auto listener = std::make_shared<Listener>(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    listener->run();
    std::printf("listening on http://127.0.0.1:%u/\n", static_cast<unsigned>(listener->port()));
    std::fflush(stdout);
    io.run();
}
